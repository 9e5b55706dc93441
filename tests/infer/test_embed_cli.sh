#!/bin/sh
# `llmops embed`: bert.f32 vectors against llama.cpp's golden ones (cosine >= 0.9999, the
# normalised and the raw mean), TEXT arguments and -f FILE agree, decoder pooling options,
# and usage errors (exit 2) / load errors (exit 1).
# usage: sh test_embed_cli.sh LLMOPS SOURCE_DIR SHARED_DIR
LLMOPS=$1
SHARED=$3
[ -d "$SHARED" ] || { echo "SKIP: $SHARED (test fixtures) is absent"; exit 77; }
S=$SHARED/models/synthetic
G=$S/golden.jsonl
T=${TMPDIR:-/tmp}/llmops_embed_cli.$$
mkdir -p "$T" || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# golden field FIELD of the embedding case for PROMPT, as comma-separated numbers
golden() {
    grep '"kind": "embedding"' "$G" | grep -F "\"prompt\": \"$1\"" |
        sed "s/.*\"$2\": \\[\\([^]]*\\)\\].*/\\1/"
}
# cosine of two comma-separated vectors (the second may be a JSON array line), and |a|
cosine() {
    printf '%s\n%s\n' "$1" "$2" | tr -d '[] ' | awk -F, '
        NR == 1 { n = NF; for (i = 1; i <= NF; i++) a[i] = $i }
        NR == 2 { if (NF != n) { print "len", n, NF; exit }
                  for (i = 1; i <= NF; i++) { ab += a[i] * $i; aa += a[i] * a[i]; bb += $i * $i }
                  printf "%.7f %.7f\n", ab / sqrt(aa * bb), sqrt(bb) }'
}

P1="Once upon a time there was a little girl."
P2="A man is playing a guitar."
P3="The quick brown fox jumps over the lazy dog."
"$LLMOPS" embed -m "$S/bert.f32.gguf" --threads 2 "$P1" "$P2" "$P3" >"$T/out" 2>"$T/err" || fail "embed exit $?: $(cat "$T/err")"
[ "$(wc -l <"$T/out")" -eq 3 ] || fail "3 inputs printed $(wc -l <"$T/out") lines"
i=1
for p in "$P1" "$P2" "$P3"; do
    want=$(golden "$p" embedding)
    [ -n "$want" ] || fail "no golden vector for '$p'"
    r=$(cosine "$want" "$(sed -n ${i}p "$T/out")")
    echo "bert '$p': cosine, |e| = $r"
    echo "$r" | awk '{ exit !($1 >= 0.9999 && $2 > 0.99999 && $2 < 1.00001) }' || fail "'$p': cosine/|e| $r"
    i=$((i + 1))
done

# -f FILE: one input per line (CRLF tolerated), same vectors
printf '%s\r\n%s\n%s\n' "$P1" "$P2" "$P3" >"$T/in.txt"
"$LLMOPS" embed -m "$S/bert.f32.gguf" --threads 2 -f "$T/in.txt" >"$T/out2" 2>/dev/null || fail "-f exit $?"
cmp -s "$T/out" "$T/out2" || fail "-f FILE output differs from TEXT arguments"

# --no-normalize: llama.cpp's raw mean (same direction, its length)
"$LLMOPS" embed -m "$S/bert.f32.gguf" --no-normalize "$P2" >"$T/raw" 2>/dev/null || fail "--no-normalize exit $?"
want=$(golden "$P2" embedding_raw)
r=$(cosine "$want" "$(cat "$T/raw")")
wn=$(cosine "$want" "$want" | awk '{ print $2 }')
echo "$r $wn" | awk '{ d = $2 - $3; if (d < 0) d = -d; exit !($1 >= 0.9999 && d < 1e-3 * $3) }' ||
    fail "--no-normalize: cosine/|e| $r, llama.cpp's |e| $wn"

# a decoder: last (its default) vs cls vs mean, 256 numbers per line
M=$S/llama-k.f32.gguf
"$LLMOPS" embed -m "$M" "Once upon a time" >"$T/d_def" 2>/dev/null || fail "decoder default exit $?"
"$LLMOPS" embed -m "$M" --pooling last "Once upon a time" >"$T/d_last" 2>/dev/null || fail "decoder last exit $?"
"$LLMOPS" embed -m "$M" --pooling cls "Once upon a time" >"$T/d_cls" 2>/dev/null || fail "decoder cls exit $?"
"$LLMOPS" embed -m "$M" --pooling MEAN "Once upon a time" >"$T/d_mean" 2>/dev/null || fail "decoder mean exit $?"
cmp -s "$T/d_def" "$T/d_last" || fail "a decoder's default pooling is not last"
[ "$(tr -d '[]' <"$T/d_last" | awk -F, '{ print NF }')" = 256 ] || fail "decoder vector is not 256 numbers"
cmp -s "$T/d_last" "$T/d_cls" && fail "cls equals last"
cmp -s "$T/d_last" "$T/d_mean" && fail "mean equals last"

# errors: usage → 2, library → 1
"$LLMOPS" embed -m "$M" --pooling max x >/dev/null 2>"$T/err"; [ $? -eq 2 ] || fail "bad --pooling: not exit 2"
grep -q "mean, cls or last" "$T/err" || fail "bad --pooling message: $(cat "$T/err")"
"$LLMOPS" embed "text" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no -m: not exit 2"
"$LLMOPS" embed -m "$M" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no input: not exit 2"
"$LLMOPS" embed -m "$M" -f "$T/in.txt" extra >/dev/null 2>&1; [ $? -eq 2 ] || fail "-f and TEXT: not exit 2"
"$LLMOPS" embed -m "$T/missing.gguf" x >/dev/null 2>&1; [ $? -eq 1 ] || fail "missing model: not exit 1"
"$LLMOPS" embed -m "$M" --ctx 2 "Once upon a time" >/dev/null 2>"$T/err"; [ $? -eq 1 ] || fail "--ctx too small: not exit 1"
grep -q "ctx" "$T/err" || fail "--ctx message: $(cat "$T/err")"
: >"$T/empty.txt"
"$LLMOPS" embed -m "$M" -f "$T/empty.txt" >/dev/null 2>&1; [ $? -eq 1 ] || fail "empty -f file: not exit 1"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ok"
