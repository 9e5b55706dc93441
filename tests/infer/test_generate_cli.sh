#!/bin/sh
# `llmops generate` and `llmops perplexity` on stories260K: the --ids lines in the llama.cpp
# peer's format (shared/peers/llamacpp/greedy.mjs) with llama.cpp's greedy ids, streaming,
# seeded sampling, the perplexity output, and usage errors (exit 2).
# usage: sh test_generate_cli.sh LLMOPS SOURCE_DIR SHARED_DIR
LLMOPS=$1
SHARED=$3
[ -d "$SHARED" ] || { echo "SKIP: $SHARED (test fixtures) is absent"; exit 77; }
M=$SHARED/models/stories260K.gguf
T=${TMPDIR:-/tmp}/llmops_gen_cli.$$
mkdir -p "$T" || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# --ids: exactly three lines; values from llama.cpp (golden-llamacpp.jsonl, first case,
# whose smallest top-2 margin is 0.13, and greedy.sh's TEXT)
"$LLMOPS" generate -m "$M" -p "Once upon a time" -n 48 --temp 0 --ids --threads 2 >"$T/out" 2>"$T/err" || fail "generate --ids exit $?"
[ "$(wc -l <"$T/out")" -eq 3 ] || fail "--ids printed $(wc -l <"$T/out") lines"
[ "$(sed -n 1p "$T/out")" = "PROMPT_IDS 1 403 407 261 378" ] || fail "PROMPT_IDS: $(sed -n 1p "$T/out")"
[ "$(sed -n 2p "$T/out")" = "GEN_IDS 432 383 286 261 376 298 315 421 395 317 426 338 401 396 267 337 410 408 419 292 411 322 265 282 295 433 426 385 328 432 358 394 261 370 432 352 266 268 388 426 338 391 266 267 337 335 312 432" ] ||
    fail "GEN_IDS: $(sed -n 2p "$T/out")"
[ "$(sed -n 3p "$T/out")" = 'TEXT ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it,"' ] ||
    fail "TEXT: $(sed -n 3p "$T/out")"
grep -q "tokens/s" "$T/err" || fail "no timings on stderr"

# SPM's leading space is dropped from TEXT as the peer's detokenize does (greedy.sh
# "The sky" 8 printed exactly these lines)
"$LLMOPS" generate -m "$M" -p "The sky" -n 8 --temp 0 --ids >"$T/out" 2>/dev/null || fail "The sky: exit $?"
printf 'PROMPT_IDS 1 291 262 433 422\nGEN_IDS 286 399 262 415 271 422 269 262\nTEXT "was very shiny and s"\n' >"$T/want"
cmp -s "$T/out" "$T/want" || fail "The sky: $(cat "$T/out")"

# -n 0 and JSON escaping of quotes/newlines in TEXT
"$LLMOPS" generate -m "$M" -p "Once" -n 0 --temp 0 --ids >"$T/out" 2>/dev/null || fail "-n 0 exit $?"
[ "$(sed -n 2p "$T/out")" = "GEN_IDS" ] || fail "-n 0 GEN_IDS: $(sed -n 2p "$T/out")"
[ "$(sed -n 3p "$T/out")" = 'TEXT ""' ] || fail "-n 0 TEXT: $(sed -n 3p "$T/out")"
"$LLMOPS" generate -m "$M" -p 'Lily said, "I' -n 40 --temp 0 --ids >"$T/out" 2>/dev/null || fail "quotes exit $?"
[ "$(wc -l <"$T/out")" -eq 3 ] || fail "TEXT with a newline or quote broke the line format"

# streaming: the continuation, then a newline
"$LLMOPS" generate -m "$M" -p "Once upon a time" -n 48 --temp 0 >"$T/out" 2>/dev/null || fail "stream exit $?"
[ "$(cat "$T/out")" = ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it," ] ||
    fail "streamed: $(cat "$T/out")"
# a stop string ends it and is not printed
"$LLMOPS" generate -m "$M" -p "Once upon a time" -n 48 --temp 0 --stop "Lily." >"$T/out" 2>/dev/null || fail "stop exit $?"
[ "$(cat "$T/out")" = ", there was a little girl named " ] || fail "--stop: $(cat "$T/out")"

# seeded sampling: same seed, same text; the default chain otherwise
"$LLMOPS" generate -m "$M" -p "Once upon a time" -n 40 --seed 5 --ids >"$T/a" 2>/dev/null || fail "seed exit $?"
"$LLMOPS" generate -m "$M" -p "Once upon a time" -n 40 --seed 5 --ids >"$T/b" 2>/dev/null || fail "seed exit $?"
"$LLMOPS" generate -m "$M" -p "Once upon a time" -n 40 --seed 5 --temp 1.5 --top-k 0 --top-p 1 --min-p 0 \
    --repeat-penalty 1.1 --repeat-last-n 16 --frequency-penalty 0.1 --presence-penalty 0.1 --ignore-eos --ids >"$T/c" 2>/dev/null ||
    fail "all flags exit $?"
cmp -s "$T/a" "$T/b" || fail "same seed, different output"
cmp -s "$T/a" "$T/c" && fail "different sampling settings, same output"
[ "$(sed -n 2p "$T/c" | wc -w)" -eq 41 ] || fail "--ignore-eos did not give 40 tokens"

# perplexity: the running chunks and the final line (llama.cpp: 157.6687 +/- 27.67183)
"$LLMOPS" perplexity -m "$M" -f "$SHARED/models/llama2c/stories260K.md" --ctx 128 --threads 2 >"$T/out" 2>/dev/null || fail "perplexity exit $?"
grep -q '^\[1\]117\.3[0-9]*,\[2\]' "$T/out" || fail "perplexity chunks: $(head -c 200 "$T/out")"
grep -q '^Final estimate: PPL = 157\.6[0-9]* +/- 27\.6[0-9]*$' "$T/out" || fail "perplexity final: $(tail -1 "$T/out")"

# usage errors exit 2; a missing model exits 1
expect() { # CODE ARGS...
    want=$1
    shift
    "$LLMOPS" "$@" >/dev/null 2>&1
    rc=$?
    [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want"
}
expect 2 generate -p hi
expect 2 generate -m "$M"
expect 2 generate -m "$M" -p hi --bogus
expect 2 generate -m "$M" -p hi -n
expect 2 generate -m "$M" -p hi -n abc
expect 2 generate -m "$M" -p hi -n -3
expect 2 generate -m "$M" -p hi --temp x
expect 2 generate -m "$M" -p hi --min-p 2
expect 2 generate -m "$M" -p hi --top-p -1
expect 2 generate -m "$M" -p hi --seed -5
expect 2 generate -m "$M" -p hi --stop ""
expect 2 generate -m "$M" -p hi --ctx 0
expect 1 generate -m "$T/missing.gguf" -p hi
expect 2 perplexity -m "$M"
expect 2 perplexity -f "$SHARED/models/llama2c/stories260K.md"
expect 2 perplexity -m "$M" -f x --ctx abc
expect 2 perplexity -m "$M" -f x extra
expect 1 perplexity -m "$M" -f "$T/missing.txt"
# a text shorter than two windows is a clear failure (exit 1)
printf 'Once upon a time' >"$T/short.txt"
expect 1 perplexity -m "$M" -f "$T/short.txt" --ctx 128

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "ok"
