#!/bin/sh
# `llmops train` end to end: a tiny run on a generated corpus writes a GGUF that
# `llmops generate` continues greedily with the memorised sentence; --epochs, --val and
# --resume work; --base fine-tunes stories260K (../shared, skipped without it) into a GGUF
# that keeps the base's metadata; bad options are refused (exit 2) with a message; bad data
# is reported with its line number. QLoRA has its own test_qlora_cli.sh.
# usage: test_train_cli.sh LLMOPS_BINARY SOURCE_DIR SHARED_DIR
set -u
bin=$1
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$bin" gen-model --arch llama --shape custom --dim 8 --layers 1 --heads 1 --ff 8 --vocab 259 --type F32 "$t/tok.gguf" >/dev/null ||
  fail "gen-model for the tokenizer"
i=0
while [ $i -lt 60 ]; do
  printf 'one two three four five six seven eight\n\nred orange yellow green blue indigo violet\n\n'
  i=$((i + 1))
done > "$t/c.txt"
printf 'one two three four five six seven eight\n\nred orange yellow green blue indigo violet\n' > "$t/v.txt"
shape="--tokenizer $t/tok.gguf --dim 48 --layers 2 --heads 4 --kv-heads 2 --ff 128 --ctx 64 --batch 4 --seq 64 --lr 3e-3 --threads 2"
"$bin" train --data "$t/c.txt" --val "$t/v.txt" --out "$t/m.gguf" $shape --steps 250 --eval-every 50 \
  >"$t/out.txt" 2>"$t/err.txt" || { cat "$t/err.txt"; fail "train exited $?"; }
grep -q "step 0: val loss" "$t/err.txt" || fail "no initial validation line"
grep -q "step 50: val loss" "$t/err.txt" || fail "no validation line at step 50"
grep -q "tok/s" "$t/err.txt" || fail "no progress line"
grep -q "m.gguf: llama" "$t/out.txt" || fail "no summary line"
gen=$("$bin" generate -m "$t/m.gguf" -p "one two three" -n 45 --temp 0 2>/dev/null)
case "$gen" in
  *four*five*six*seven*eight*) ;;
  *) fail "greedy continuation '$gen' is not the memorised sentence" ;;
esac
# --epochs derives the steps from the data; --tied drops output.weight
"$bin" train --data "$t/c.txt" --out "$t/e.gguf" $shape --epochs 1 --tied >"$t/out2.txt" 2>/dev/null || fail "--epochs run"
"$bin" inspect "$t/m.gguf" | grep -qE "[[:space:]]output\.weight" || fail "untied model lacks output.weight"
"$bin" inspect "$t/e.gguf" | grep -qE "[[:space:]]output\.weight" && fail "--tied model has output.weight"
# checkpoints: one every 20 steps; resuming the step-20 one finishes the run
"$bin" train --data "$t/c.txt" --out "$t/r.gguf" $shape --steps 30 --checkpoint-every 20 --checkpoint "$t/r.ckpt" \
  >/dev/null 2>&1 || fail "run with checkpoints"
[ -s "$t/r.ckpt" ] || fail "no checkpoint written"
"$bin" train --data "$t/c.txt" --out "$t/r2.gguf" $shape --steps 30 --resume "$t/r.ckpt" >/dev/null 2>"$t/e.txt" ||
  { cat "$t/e.txt"; fail "resume"; }
cmp -s "$t/r.gguf" "$t/r2.gguf" || fail "resumed run's GGUF differs from the uninterrupted one"
"$bin" train --data "$t/c.txt" --out "$t/r3.gguf" $shape --steps 30 --seed 7 --resume "$t/r.ckpt" >/dev/null 2>"$t/e.txt"
rc=$?; [ $rc = 1 ] && grep -q "seed" "$t/e.txt" || { cat "$t/e.txt"; fail "resume with another seed not refused (exit $rc)"; }
# refused options
"$bin" train --data "$t/c.txt" --out "$t/x.gguf" $shape --steps 1 --method dpo >/dev/null 2>"$t/e.txt"
[ $? = 2 ] && grep -q "full, lora or qlora" "$t/e.txt" || fail "--method dpo not refused"
"$bin" train --data "$t/c.txt" --out "$t/x.gguf" $shape --steps 1 --method qlora >/dev/null 2>"$t/e.txt"
[ $? = 2 ] && grep -q "needs --base" "$t/e.txt" || fail "--method qlora without --base not refused"
for opt in "--lora-rank 8" "--adapter-out a.gguf"; do
  # shellcheck disable=SC2086
  "$bin" train --data "$t/c.txt" --out "$t/x.gguf" $shape --steps 1 $opt >/dev/null 2>"$t/e.txt"
  [ $? = 2 ] && grep -q "needs --method lora" "$t/e.txt" || fail "$opt without --method lora not refused"
done
"$bin" train --data "$t/c.txt" --out "$t/x.gguf" $shape --steps 1 --method lora >/dev/null 2>"$t/e.txt"
[ $? = 2 ] && grep -q "needs --base" "$t/e.txt" || fail "--method lora without --base not refused"
"$bin" train --data "$t/c.txt" --out "$t/x.gguf" $shape --steps 1 --schedule cyclic >/dev/null 2>&1
[ $? = 2 ] || fail "unknown schedule accepted"
# JSONL (detected from the first line): prompt/completion pairs and chat messages (chatml:
# the tokenizer has no template) with the loss on the completion / assistant tokens only;
# a bad line is named with its number and skipped, or with --strict fails the run
i=0
while [ $i -lt 30 ]; do
  printf '{"prompt":"one two three","completion":" four five six"}\n'
  printf '{"messages":[{"role":"user","content":"red"},{"role":"assistant","content":"blue"}]}\n'
  i=$((i + 1))
done > "$t/d.jsonl"
{ printf '{"prompt":"one two three","completion":" four five six"}\n\n{"prompt":"x"}\n'
  head -n 6 "$t/d.jsonl"; } > "$t/vbad.jsonl"
jshape="--tokenizer $t/tok.gguf --dim 48 --layers 2 --heads 4 --kv-heads 2 --ff 128 --ctx 128 --batch 4 --seq 128 --lr 3e-3 --threads 2"
"$bin" train --data "$t/d.jsonl" --val "$t/vbad.jsonl" --out "$t/j.gguf" $jshape --steps 120 --eval-every 0 \
  >"$t/out.txt" 2>"$t/e.txt" || { cat "$t/e.txt"; fail "JSONL run"; }
grep -q "vbad.jsonl:3: .*skipped" "$t/e.txt" || { cat "$t/e.txt"; fail "JSONL: bad line 3 not reported"; }
grep -q "1 bad JSONL line" "$t/e.txt" || fail "JSONL: no skipped count"
gen=$("$bin" generate -m "$t/j.gguf" -p "one two three" -n 24 --temp 0 2>/dev/null)
case "$gen" in
  *four*five*six*) ;;
  *) fail "JSONL: greedy continuation '$gen' is not the completion" ;;
esac
"$bin" train --data "$t/d.jsonl" --val "$t/vbad.jsonl" --out "$t/j2.gguf" $jshape --steps 1 --strict >/dev/null 2>"$t/e.txt"
rc=$?; [ $rc = 1 ] && grep -q "vbad.jsonl:3:" "$t/e.txt" || { cat "$t/e.txt"; fail "--strict did not reject line 3 (exit $rc)"; }
[ -e "$t/j2.gguf" ] && fail "--strict: a rejected run wrote output"
"$bin" train --data "$t/d.jsonl" --out "$t/j3.gguf" $jshape --steps 1 --format text --docs line >/dev/null 2>&1 ||
  fail "--format text on a JSONL file"
"$bin" train --data "$t/d.jsonl" --out "$t/j3.gguf" $jshape --steps 1 --format csv >/dev/null 2>&1
[ $? = 2 ] || fail "--format csv accepted"
"$bin" train --data "$t/d.jsonl" --out "$t/j3.gguf" $jshape --steps 1 --chat-template nonesuch >/dev/null 2>&1
[ $? = 1 ] || fail "unknown --chat-template accepted"
# the run record: --store records a run of kind train with its params, the data file as a
# dataset version, train/val loss per evaluation, the output as an artifact, and
# --register makes it a model version with the run's lineage; without a store, nothing
db="sqlite:$t/ops.db"
LLMOPS_STORE= "$bin" train --data "$t/d.jsonl" --out "$t/rec.gguf" $jshape --steps 4 --eval-every 2 --store "$db" \
  --register tiny-chat >"$t/out.txt" 2>"$t/e.txt" || { cat "$t/e.txt"; fail "run with --store"; }
grep -q "registered tiny-chat@1 (run 1)" "$t/out.txt" || { cat "$t/out.txt"; fail "no registration line"; }
grep -q "recorded as run 1" "$t/e.txt" || fail "no 'recorded as run' line"
"$bin" runs show 1 --store "$db" >"$t/run.txt" 2>&1 || { cat "$t/run.txt"; fail "runs show"; }
grep -q "^kind: train" "$t/run.txt" || fail "run kind"
grep -q "^status: succeeded" "$t/run.txt" || fail "run status"
grep -q '"method":"full"' "$t/run.txt" || fail "run params"
grep -q "^dataset: d@" "$t/run.txt" || fail "run dataset"
for m in "train_loss *step 2 " "train_loss *step 4 " "val_loss *step 0 " "val_loss *step 2 " "val_loss *step 4 "; do
  grep -q "$m" "$t/run.txt" || { cat "$t/run.txt"; fail "run metric '$m' missing"; }
done
grep -q "rec.gguf .*bytes *sha256" "$t/run.txt" || { cat "$t/run.txt"; fail "run artifact missing"; }
"$bin" models show tiny-chat --store "$db" >"$t/model.txt" 2>&1 || { cat "$t/model.txt"; fail "models show"; }
grep -q "^run: 1$" "$t/model.txt" || { cat "$t/model.txt"; fail "model's run lineage"; }
LLMOPS_STORE= "$bin" train --data "$t/d.jsonl" --out "$t/rec2.gguf" $jshape --steps 1 --register x >/dev/null 2>"$t/e.txt"
[ $? = 2 ] && grep -q "needs a store" "$t/e.txt" || fail "--register without a store not refused"
LLMOPS_STORE= "$bin" train --data "$t/d.jsonl" --out "$t/rec2.gguf" $jshape --steps 1 >/dev/null 2>"$t/e.txt" ||
  fail "run without a store"
grep -q "recorded" "$t/e.txt" && fail "recorded without a store"
# --base: full fine-tuning of a GGUF; the shape and tokenizer options are refused with it
base=${3:-}/models/stories260K.gguf
if [ -r "$base" ]; then
  printf 'Max the dog ran to the park with his red ball and played all day long.\n\n' > "$t/ft.txt"
  printf 'Max the dog ran to the park with his red ball and played all day long.\n' >> "$t/ft.txt"
  "$bin" train --base "$base" --data "$t/ft.txt" --out "$t/ft.gguf" --steps 10 --batch 1 --seq 16 --lr 1e-3 \
    --val-split 50 --threads 2 >"$t/out.txt" 2>"$t/e.txt" || { cat "$t/e.txt"; fail "--base run"; }
  grep -q "ft.gguf: llama" "$t/out.txt" || fail "--base: no summary line"
  "$bin" inspect "$base" | grep -E "^(name:| +(model|vocab size|bos|eos|unk) )" > "$t/k1.txt"
  "$bin" inspect "$t/ft.gguf" | grep -E "^(name:| +(model|vocab size|bos|eos|unk) )" > "$t/k2.txt"
  [ -s "$t/k1.txt" ] && cmp -s "$t/k1.txt" "$t/k2.txt" || fail "--base: the output lost the base's metadata"
  "$bin" generate -m "$t/ft.gguf" -p "Max the dog" -n 4 --temp 0 >/dev/null 2>&1 || fail "--base output does not load"
  # --base lineage: a registered base is the run's and the new version's base
  "$bin" models register stories "$base" --store "$db" >/dev/null 2>&1 || fail "register the base"
  LLMOPS_STORE="$db" "$bin" train --base "$base" --data "$t/ft.txt" --out "$t/ft2.gguf" --steps 2 --batch 1 --seq 16 \
    --val-split 50 --threads 2 --register ft-stories >"$t/out.txt" 2>"$t/e.txt" || { cat "$t/e.txt"; fail "--base --register"; }
  "$bin" models show ft-stories --store "$db" | grep -q "^base: stories@1$" || fail "--base lineage missing"
  "$bin" runs show 2 --store "$db" | grep -q "^base model: stories@1$" || fail "run's base model missing"
  "$bin" train --base "$base" --data "$t/ft.txt" --out "$t/x.gguf" --steps 1 --dim 64 >/dev/null 2>"$t/e.txt"
  [ $? = 2 ] && grep -q "cannot be combined with --base" "$t/e.txt" || fail "--base with --dim not refused"
  "$bin" train --base "${3}/models/quant/stories260K-Q4_0.gguf" --data "$t/ft.txt" --out "$t/x.gguf" --steps 1 \
    >/dev/null 2>"$t/e.txt"
  [ $? = 1 ] && grep -q "QLoRA" "$t/e.txt" || { cat "$t/e.txt"; fail "quantised base not refused"; }
  # --method lora: adapters on the base, the merged model at --out
  "$bin" train --base "$base" --method lora --lora-rank 4 --lora-alpha 8 --lora-targets q,v,gate \
    --data "$t/ft.txt" --out "$t/lo.gguf" --steps 10 --batch 1 --seq 16 --lr 3e-3 --val-split 50 --threads 2 \
    --adapter-out "$t/ad.gguf" >"$t/out.txt" 2>"$t/e.txt" || { cat "$t/e.txt"; fail "--method lora run"; }
  "$bin" inspect "$t/ad.gguf" > "$t/ad.txt" 2>&1 || fail "the adapter is not a readable GGUF"
  grep -q "blk.0.attn_q.weight.lora_a" "$t/ad.txt" && grep -q "blk.4.ffn_gate.weight.lora_b" "$t/ad.txt" ||
    fail "the adapter lacks its tensors"
  grep -q "attn_k.weight.lora_a" "$t/ad.txt" && fail "the adapter has a tensor of a target not chosen"
  grep -q "LoRA rank 4 alpha 8, [0-9]* trainable params" "$t/out.txt" || { cat "$t/out.txt"; fail "LoRA summary"; }
  "$bin" generate -m "$t/lo.gguf" -p "Max the dog" -n 4 --temp 0 >/dev/null 2>&1 || fail "LoRA output does not load"
  # LoRA checkpoints hold the adapters; resuming gives the same merged bytes
  lo="--base $base --method lora --lora-rank 4 --data $t/ft.txt --steps 10 --batch 1 --seq 16 --val-split 50 --threads 2"
  # shellcheck disable=SC2086
  "$bin" train $lo --out "$t/l1.gguf" --checkpoint-every 5 --checkpoint "$t/l1.ckpt" >/dev/null 2>&1 || fail "LoRA ckpt run"
  # shellcheck disable=SC2086
  "$bin" train $lo --out "$t/l2.gguf" --resume "$t/l1.ckpt" >/dev/null 2>&1 || fail "LoRA resume"
  cmp -s "$t/l1.gguf" "$t/l2.gguf" || fail "resumed LoRA run's GGUF differs"
  # shellcheck disable=SC2086
  "$bin" train $lo --lora-alpha 4 --out "$t/l3.gguf" --resume "$t/l1.ckpt" >/dev/null 2>"$t/e.txt"
  [ $? = 1 ] && grep -q "lora-alpha" "$t/e.txt" || fail "LoRA resume with another alpha not refused"
  for opt in "--lora-dropout 1" "--lora-dropout -0.1" "--lora-targets q,x" "--lora-rank 0"; do
    # shellcheck disable=SC2086
    "$bin" train --base "$base" --method lora $opt --data "$t/ft.txt" --out "$t/x.gguf" --steps 1 >/dev/null 2>&1
    [ $? = 2 ] || fail "--method lora $opt not refused"
  done
fi
# bad data names its line
printf 'good line\nbad \377 byte\n' > "$t/bad.txt"
"$bin" train --data "$t/bad.txt" --out "$t/x.gguf" $shape --steps 1 >/dev/null 2>"$t/e.txt"
[ $? = 1 ] || fail "bad data: wrong exit code"
grep -q "bad.txt:2:" "$t/e.txt" || { cat "$t/e.txt"; fail "bad data: no line number"; }
[ -e "$t/x.gguf" ] && fail "a failed run wrote its output"
echo "train cli: ok"
