#!/bin/sh
# Tokenizer throughput beside llama.cpp's llama-tokenize, same text, same vocabularies,
# same run. Builds a ≥ 1 MB text from the Debian license texts (real English prose,
# present on every Debian machine) plus llama.cpp's multilingual tokenizer test cases,
# then for each vocabulary: checks both tokenizers give the same ids on the whole text,
# and times both command lines (median of REPS runs, minus the median of the same command
# on a one-word file, so model loading and process start are not counted).
# usage: bench/tokenize-vs-llamacpp.sh [BUILD_DIR]   env: REPS=5 VOCABS="llama-spm gpt-2"
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
llmops=$build/llmops
peer=${LLAMACPP_PEER:-$HOME/.cache/llmops-peers/llamacpp}/src/build/bin/llama-tokenize
vocabdir=$here/../shared/models/vocab
reps=${REPS:-5}
[ -x "$llmops" ] || { echo "no $llmops: run make build first" >&2; exit 1; }
[ -x "$peer" ] || { echo "no llama-tokenize at $peer: run ../shared/peers/llamacpp/setup.sh" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
text=$tmp/text.txt
: > "$text"
while [ "$(wc -c < "$text")" -lt 1048576 ]; do
  for f in /usr/share/common-licenses/*; do [ -L "$f" ] || cat "$f" >> "$text"; done
  cat "$vocabdir/ggml-vocab-gpt-2.gguf.inp" >> "$text"
done
echo "word" > "$tmp/small.txt"
echo "text: $(wc -c < "$text") bytes; $(nproc) cores; median of $reps runs"

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.9f\\n\", $* }"; }
# median wall seconds of a command (output discarded)
med() {
  i=0; : > "$tmp/times"
  while [ $i -lt "$reps" ]; do
    t0=$(now); "$@" > /dev/null 2>&1; t1=$(now)
    calc "$t1 - $t0" >> "$tmp/times"; i=$((i + 1))
  done
  sort -g "$tmp/times" | sed -n "$(( (reps + 1) / 2 ))p"
}

printf '%-12s %10s %14s %14s %8s\n' vocab tokens "llmops tok/s" "llama.cpp tok/s" ratio
for v in ${VOCABS:-llama-spm gpt-2}; do
  m=$vocabdir/ggml-vocab-$v.gguf
  "$llmops" tokenize -m "$m" --no-bos -f "$text" | tr ' ' '\n' | sed '/^$/d' > "$tmp/ours"
  "$peer" -m "$m" -f "$text" --ids --log-disable --no-bos --no-parse-special 2>/dev/null \
    | tr -d '[],' | tr ' ' '\n' | sed '/^$/d' > "$tmp/theirs"
  n=$(wc -l < "$tmp/ours")
  if ! cmp -s "$tmp/ours" "$tmp/theirs"; then
    echo "$v: ids DIFFER from llama.cpp ($n vs $(wc -l < "$tmp/theirs") tokens)"
  fi
  ours=$(calc "$(med "$llmops" tokenize -m "$m" --no-bos -f "$text") - $(med "$llmops" tokenize -m "$m" --no-bos -f "$tmp/small.txt")")
  theirs=$(calc "$(med "$peer" -m "$m" -f "$text" --ids --log-disable --no-bos --no-parse-special) - $(med "$peer" -m "$m" -f "$tmp/small.txt" --ids --log-disable --no-bos --no-parse-special)")
  printf '%-12s %10d %14.0f %14.0f %7.2fx\n' "$v" "$n" "$(calc "$n / $ours")" "$(calc "$n / $theirs")" \
    "$(calc "$theirs / $ours")"
  [ -x "$build/bench_tokenize" ] && "$build/bench_tokenize" "$m" "$text" "$reps"
done
echo "ratio = llmops tokens/s ÷ llama.cpp tokens/s (> 1: llmops is faster); single thread, CPU-bound."
