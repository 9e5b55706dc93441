#!/bin/sh
# `llmops inspect` end to end: text and --json output for stories260K.gguf, and the exit
# codes for a missing file (1, path in the message) and bad usage (2).
# usage: sh test_inspect.sh LLMOPS_BINARY SOURCE_DIR SHARED_DIR
BIN=$1
SHARED=$3
[ -d "$SHARED/models" ] || { echo "SKIP: $SHARED/models is absent"; exit 77; }
M=$SHARED/models/stories260K.gguf
fail=0
check() { # check LABEL FILE PATTERN
    if grep -q -- "$3" "$2"; then :; else echo "FAIL: $1: no '$3' in output"; fail=1; fi
}
OUT=$(mktemp) || exit 1
ERR=$(mktemp) || exit 1
trap 'rm -f "$OUT" "$ERR"' EXIT

"$BIN" inspect "$M" >"$OUT" 2>"$ERR" || { echo "FAIL: inspect exited $?"; cat "$ERR"; exit 1; }
check text "$OUT" '^version: *3$'
check text "$OUT" '^architecture: llama$'
check text "$OUT" '^tensors: *48$'
check text "$OUT" '^kv pairs: *19$'
check text "$OUT" '^data offset: *14176$'
check text "$OUT" 'block_count  *5$'
check text "$OUT" 'bos  *1 "<s>"'
check text "$OUT" 'vocab size  *512'
check text "$OUT" 'tokenizer.ggml.tokens  *arr\[str,512\]  *= \["<unk>", "<s>"'
check text "$OUT" '(512 items)'
check text "$OUT" 'token_embd.weight  *f32  *\[64, 512\]  *131072 bytes  *@ 0$'
check text "$OUT" 'blk.4.ffn_norm.weight  *f32  *\[64\]  *256 bytes  *@ 1170944$'
check text "$OUT" '^total: 292800 parameters, 1171200 bytes'

"$BIN" inspect --json "$M" >"$OUT" 2>"$ERR" || { echo "FAIL: inspect --json exited $?"; cat "$ERR"; exit 1; }
check json "$OUT" '"architecture": "llama"'
check json "$OUT" '"n_tensors": 48'
check json "$OUT" '"n_params": 292800'
check json "$OUT" '"name": "token_embd.weight", "type": "f32", "type_id": 0, "shape": \[64, 512\]'
check json "$OUT" '"key": "llama.block_count", "type": "u32", "value": 5'
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["tensors"])==48 and len(d["metadata"])==19 and len(d["metadata"][0]["value"])==512' "$OUT" \
        || { echo "FAIL: --json output does not parse as expected"; fail=1; }
fi

"$BIN" inspect "$SHARED/models/no-such-file.gguf" >"$OUT" 2>"$ERR"
rc=$?
[ $rc -eq 1 ] || { echo "FAIL: missing file exit code $rc, expected 1"; fail=1; }
check missing "$ERR" 'no-such-file.gguf'

"$BIN" inspect >"$OUT" 2>"$ERR"
rc=$?
[ $rc -eq 2 ] || { echo "FAIL: no argument exit code $rc, expected 2"; fail=1; }
"$BIN" inspect --bogus "$M" >"$OUT" 2>"$ERR"
rc=$?
[ $rc -eq 2 ] || { echo "FAIL: unknown option exit code $rc, expected 2"; fail=1; }

# A corrupt file: exit 1 and a message naming the problem.
head -c 1000 "$M" >"$OUT.trunc"
"$BIN" inspect "$OUT.trunc" >/dev/null 2>"$ERR"
rc=$?
rm -f "$OUT.trunc"
[ $rc -eq 1 ] || { echo "FAIL: truncated file exit code $rc, expected 1"; fail=1; }
check truncated "$ERR" 'at byte [0-9]'

[ $fail -eq 0 ] && echo "test_inspect: ok"
exit $fail
