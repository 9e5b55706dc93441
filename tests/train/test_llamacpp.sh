#!/bin/sh
# Peer check: a model trained by `llmops train` loads in llama.cpp (the peer installed by
# shared/peers/llamacpp/setup.sh) and llama.cpp's greedy continuation of a memorised
# sentence has the same token ids as `llmops generate`. Skips when the peer is absent.
# usage: test_llamacpp.sh LLMOPS_BINARY SOURCE_DIR SHARED_DIR
set -u
bin=$1
shared=$3
peer=${LLAMACPP_PEER:-$HOME/.cache/llmops-peers/llamacpp}
[ -f "$peer/greedy.mjs" ] && command -v node >/dev/null 2>&1 || { echo "SKIP: llama.cpp peer not installed ($peer)"; exit 77; }
[ -f "$shared/peers/llamacpp/greedy.sh" ] || { echo "SKIP: $shared/peers is absent"; exit 77; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$bin" gen-model --arch llama --shape custom --dim 8 --layers 1 --heads 1 --ff 8 --vocab 259 --type F32 "$t/tok.gguf" >/dev/null ||
  fail "gen-model for the tokenizer"
i=0
while [ $i -lt 60 ]; do
  printf 'one two three four five six seven eight\n\nred orange yellow green blue indigo violet\n\n'
  i=$((i + 1))
done > "$t/c.txt"
"$bin" train --data "$t/c.txt" --out "$t/m.gguf" --tokenizer "$t/tok.gguf" --dim 48 --layers 2 --heads 4 --kv-heads 2 \
  --ff 128 --ctx 64 --batch 4 --seq 64 --lr 3e-3 --threads 2 --steps 250 >/dev/null 2>&1 || fail "llmops train"
ours=$("$bin" generate -m "$t/m.gguf" -p "one two three" -n 24 --temp 0 --ids 2>/dev/null | grep '^GEN_IDS')
theirs=$(THREADS=2 sh "$shared/peers/llamacpp/greedy.sh" "$t/m.gguf" "one two three" 24 2>/dev/null | grep '^GEN_IDS')
[ -n "$theirs" ] || fail "llama.cpp did not load or run the trained model"
[ "$ours" = "$theirs" ] || fail "greedy ids differ: llmops '$ours' llama.cpp '$theirs'"
echo "llama.cpp agrees: $theirs"
