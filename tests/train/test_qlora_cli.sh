#!/bin/sh
# `llmops train --method qlora` end to end: a Q4_0 base made by gen-model + quantize, a run
# with --lora-dropout writes the adapter and the merged output, which keeps the base's
# tensors and types (only adapted tensors rewritten), loads in `llmops generate`, and is
# recorded with method qlora and the dropout; --resume gives the same bytes; bad input is
# refused: a base with an IQ4_NL tensor (exit 1, naming the tensor and type, hint
# `llmops quantize`), --lora-dropout outside [0, 1) or without lora/qlora, qlora without
# --base (exit 2).
# usage: test_qlora_cli.sh LLMOPS_BINARY SOURCE_DIR SHARED_DIR
set -u
bin=$1
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$bin" gen-model --arch llama --shape custom --dim 64 --layers 2 --heads 4 --kv-heads 2 --ff 128 --vocab 259 \
  --type F32 "$t/f32.gguf" >/dev/null 2>&1 || fail "gen-model"
"$bin" quantize "$t/f32.gguf" "$t/q4.gguf" Q4_0 >/dev/null 2>&1 || fail "quantize"
i=0
while [ $i -lt 40 ]; do
  printf 'the cat sat on the mat and looked at the moon.\n\n'
  i=$((i + 1))
done > "$t/d.txt"
q="--base $t/q4.gguf --method qlora --lora-rank 4 --lora-alpha 8 --lora-targets q,v,down --lora-dropout 0.1
   --data $t/d.txt --steps 12 --batch 2 --seq 32 --lr 1e-2 --threads 2 --eval-every 6"
# shellcheck disable=SC2086
LLMOPS_STORE= "$bin" train $q --out "$t/o.gguf" --adapter-out "$t/a.gguf" --store "sqlite:$t/ops.db" \
  >"$t/out.txt" 2>"$t/err.txt" || { cat "$t/err.txt"; fail "qlora run exited $?"; }
grep -q "QLoRA rank 4 alpha 8, 3328 trainable params, dropout 0.1" "$t/out.txt" || { cat "$t/out.txt"; fail "summary"; }
grep -q "step 12: val loss" "$t/err.txt" || fail "no final validation line"
"$bin" inspect "$t/q4.gguf" | grep -E "^ +[0-9]+ " | awk '{print $2, $3, $4, $5}' > "$t/ib.txt"
"$bin" inspect "$t/o.gguf" | grep -E "^ +[0-9]+ " | awk '{print $2, $3, $4, $5}' > "$t/io.txt"
[ -s "$t/ib.txt" ] && cmp -s "$t/ib.txt" "$t/io.txt" || fail "the output's tensors or types differ from the base's"
grep -q "blk.0.attn_q.weight q4_0" "$t/io.txt" || fail "the output is not Q4_0"
"$bin" inspect "$t/a.gguf" | grep -q "blk.1.ffn_down.weight.lora_b" || fail "the adapter lacks its tensors"
"$bin" generate -m "$t/o.gguf" -p "the cat" -n 4 --temp 0 >/dev/null 2>&1 || fail "the merged output does not load"
"$bin" runs show 1 --store "sqlite:$t/ops.db" >"$t/run.txt" 2>&1 || fail "runs show"
grep -q '"method":"qlora"' "$t/run.txt" && grep -q '"dropout":0.1' "$t/run.txt" ||
  { cat "$t/run.txt"; fail "run params lack method qlora or the dropout"; }
# a checkpoint at step 6, resumed: the same output bytes (dropout masks follow the step)
# shellcheck disable=SC2086
"$bin" train $q --out "$t/c1.gguf" --checkpoint-every 6 --checkpoint "$t/c.ckpt" >/dev/null 2>&1 || fail "ckpt run"
# shellcheck disable=SC2086
"$bin" train $q --out "$t/c2.gguf" --resume "$t/c.ckpt" >/dev/null 2>"$t/e.txt" || { cat "$t/e.txt"; fail "resume"; }
cmp -s "$t/c1.gguf" "$t/c2.gguf" || fail "resumed qlora output differs"
cmp -s "$t/c1.gguf" "$t/o.gguf" || fail "the same qlora run twice gives other bytes"
# an IQ4_NL tensor (the type id of blk.1.ffn_up.weight patched from Q4_0, same block size)
cp "$t/q4.gguf" "$t/bad.gguf"
off=$(grep -obUa "blk.1.ffn_up.weight" "$t/bad.gguf" | head -n 1 | cut -d: -f1)
[ -n "$off" ] || fail "no tensor name in the base"
[ "$(od -An -tu4 -j $((off + 39)) -N4 "$t/bad.gguf" | tr -d ' ')" = 2 ] || fail "unexpected tensor info layout"
printf '\024\000\000\000' | dd of="$t/bad.gguf" bs=1 seek=$((off + 39)) conv=notrunc 2>/dev/null
"$bin" train --base "$t/bad.gguf" --method qlora --data "$t/d.txt" --out "$t/x.gguf" --steps 1 --seq 32 \
  >/dev/null 2>"$t/e.txt"
rc=$?
[ $rc = 1 ] && grep -q "blk.1.ffn_up.weight is iq4_nl" "$t/e.txt" && grep -q "llmops quantize" "$t/e.txt" ||
  { cat "$t/e.txt"; fail "IQ4_NL base not refused with its type and a hint (exit $rc)"; }
[ -e "$t/x.gguf" ] && fail "a refused run wrote output"
# bad options
for opt in "--lora-dropout 1" "--lora-dropout -0.1" "--lora-dropout x"; do
  # shellcheck disable=SC2086
  "$bin" train --base "$t/q4.gguf" --method qlora $opt --data "$t/d.txt" --out "$t/x.gguf" --steps 1 \
    >/dev/null 2>"$t/e.txt"
  [ $? = 2 ] && grep -q "\[0, 1)" "$t/e.txt" || fail "$opt not refused"
done
"$bin" train --base "$t/q4.gguf" --lora-dropout 0.1 --data "$t/d.txt" --out "$t/x.gguf" --steps 1 >/dev/null 2>"$t/e.txt"
[ $? = 2 ] && grep -q "needs --method lora or qlora" "$t/e.txt" || fail "--lora-dropout with full training not refused"
"$bin" train --tokenizer "$t/f32.gguf" --dim 8 --layers 1 --heads 1 --method qlora --data "$t/d.txt" \
  --out "$t/x.gguf" --steps 1 >/dev/null 2>"$t/e.txt"
[ $? = 2 ] && grep -q "needs --base" "$t/e.txt" || fail "--method qlora without --base not refused"
"$bin" help train 2>&1 | grep -q "method qlora LoRA on a quantised" || fail "--help does not describe qlora"
echo "qlora cli: ok"
