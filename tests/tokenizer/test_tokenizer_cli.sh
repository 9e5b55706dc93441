# `llmops tokenize` / `llmops detokenize` end to end: llama.cpp's prompt ids for
# stories260K.gguf, the text coming back, --special, -f, and errors (exit 1 / 2).
# Usage: sh test_tokenizer_cli.sh LLMOPS SOURCE_DIR SHARED_DIR
LLMOPS=$1
SHARED=$3
if [ ! -d "$SHARED/models" ]; then
    echo "SKIP: $SHARED/models (test fixtures) is not there" >&2
    exit 77
fi
M="$SHARED/models/stories260K.gguf"
fails=0
check() { # check NAME EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then
        echo "ok: $1"
    else
        echo "FAIL: $1: expected [$2], got [$3]" >&2
        fails=$((fails + 1))
    fi
}

# llama.cpp's PROMPT_IDS for this prompt (golden-llamacpp.jsonl).
check "tokenize" "1 403 407 261 378" "$("$LLMOPS" tokenize -m "$M" "Once upon a time")"
check "tokenize unquoted words" "1 403 407 261 378" "$("$LLMOPS" tokenize -m "$M" Once upon a time)"
check "tokenize --no-bos" "403 407 261 378" "$("$LLMOPS" tokenize -m "$M" --no-bos "Once upon a time")"
check "tokenize lily" "1 317 269 274 287 263 377 267 265 282 295 433" \
    "$("$LLMOPS" tokenize -m "$M" "Lily and Tom went to the park")"

# Detokenizing: separate arguments or one string; without BOS the text comes back as is,
# with a kept BOS llama.cpp's detokenizer keeps the leading space of the first word.
check "detokenize" "Once upon a time" "$("$LLMOPS" detokenize -m "$M" 403 407 261 378)"
check "detokenize one arg" "Once upon a time" "$("$LLMOPS" detokenize -m "$M" "403 407 261 378")"
check "detokenize with bos" " Once upon a time" "$("$LLMOPS" detokenize -m "$M" 1 403 407 261 378)"
check "detokenize --special" "<s> Once upon a time" "$("$LLMOPS" detokenize -m "$M" --special 1 403 407 261 378)"
ids=$("$LLMOPS" tokenize -m "$M" --no-bos "Lily and Tom went to the park")
check "roundtrip" "Lily and Tom went to the park" "$("$LLMOPS" detokenize -m "$M" $ids)"

# Special tokens: <s> is BOS only with --special.
check "--special" "1" "$("$LLMOPS" tokenize -m "$M" --no-bos --special "<s>")"
plain=$("$LLMOPS" tokenize -m "$M" --no-bos "<s>")
case " $plain " in
*" 1 "*) echo "FAIL: <s> without --special became BOS: $plain" >&2; fails=$((fails + 1)) ;;
*) echo "ok: <s> without --special is text ($plain)" ;;
esac

# -f reads the file as bytes (the trailing newline is text too).
tmp=${TMPDIR:-/tmp}/lo_tok_cli_$$
printf 'Once upon a time' >"$tmp.txt"
check "-f" "1 403 407 261 378" "$("$LLMOPS" tokenize -m "$M" -f "$tmp.txt")"

# Errors: a missing or bad file and bad ids fail with exit 1; bad usage with exit 2.
printf 'not a gguf file' >"$tmp.gguf"
"$LLMOPS" tokenize -m "$tmp.gguf" "hi" >/dev/null 2>&1
check "bad file exit" 1 $?
"$LLMOPS" tokenize -m "$tmp.missing.gguf" "hi" >/dev/null 2>&1
check "missing file exit" 1 $?
"$LLMOPS" detokenize -m "$M" 403 99999 >/dev/null 2>"$tmp.err"
check "bad id exit" 1 $?
grep -q "99999" "$tmp.err" || { echo "FAIL: bad id message does not name the id" >&2; fails=$((fails + 1)); }
"$LLMOPS" detokenize -m "$M" 403 abc >/dev/null 2>&1
check "non-numeric id exit" 1 $?
"$LLMOPS" tokenize "hi" >/dev/null 2>&1
check "no -m exit" 2 $?
"$LLMOPS" tokenize -m "$M" --bogus "hi" >/dev/null 2>&1
check "unknown option exit" 2 $?
rm -f "$tmp.txt" "$tmp.gguf" "$tmp.err"

if [ "$fails" -ne 0 ]; then
    echo "$fails checks failed" >&2
    exit 1
fi
echo "all tokenizer CLI checks passed"
