#!/bin/sh
# Data-parallel `llmops train` under mpirun: two ranks with --grad-accum 2 give every step's
# loss (and the validation losses) of the single process within 1e-5 relative, from scratch
# and with LoRA; only rank 0 prints, logs, records (--store) and writes; the MPI output
# loads and generates; checkpoints resume across 1 and 2 processes; a grad-accum not
# divisible by the ranks, a failure on one rank and SIGINT on one rank end every rank (no
# hang). Skips without mpirun.
# usage: test_mpi.sh LLMOPS_BINARY SOURCE_DIR SHARED_DIR
set -u
bin=$1
src=$2
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: mpirun not installed (scripts/deps.sh installs openmpi-bin)"; exit 77; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# no sanitizer report from any rank, also in the jobs that are meant to fail
clean() { ! grep -q "Sanitizer" "$1" || { cat "$1"; fail "sanitizer report in $1"; }; }
# CI runs as root, which OpenMPI refuses without these.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# ASan build: OpenMPI's own allocations from MPI_Init on are still held at exit and
# LeakSanitizer reports them. For the mpirun'd processes only they are suppressed by library
# (openmpi-lsan.supp), so a leak in llmops itself is still reported; the slow unwinder gives
# the full stacks that the suppressions match (OpenMPI's plugins lack frame pointers, and
# are unloaded before the leak check, so the fast unwinder's two-frame stacks name nothing).
lsan="suppressions=$src/tests/train/openmpi-lsan.supp:print_suppressions=0"
asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
# A failing rank must not leave the job waiting: every mpirun is bounded (exit 124).
to=""; command -v timeout >/dev/null 2>&1 && to="timeout 120"
mpi() { $to mpirun -np 2 --oversubscribe -x LSAN_OPTIONS="$lsan" -x ASAN_OPTIONS="$asan" -x LO_MPI_TEST="$t" "$@"; }

"$bin" gen-model --arch llama --shape custom --dim 8 --layers 1 --heads 1 --ff 8 --vocab 259 --type F32 "$t/tok.gguf" >/dev/null ||
  fail "gen-model for the tokenizer"
i=0
while [ $i -lt 40 ]; do
  printf 'one two three four five six seven eight\n\nred orange yellow green blue indigo violet\n\n'
  i=$((i + 1))
done > "$t/c.txt"
shape="--tokenizer $t/tok.gguf --dim 32 --layers 2 --heads 4 --kv-heads 2 --ff 64 --ctx 32 --batch 2 --seq 32 --lr 3e-3 --threads 1"
run="$shape --grad-accum 2 --steps 12 --eval-every 4 --checkpoint-every 6"

# loss_of FILE KEY: "step value" per line of a --log JSONL that has KEY
loss_of() { sed -n "s/^{\"step\":\([0-9]*\),.*\"$2\":\([-0-9.eE+]*\).*/\1 \2/p" "$1"; }
# same_losses A B KEY N: both logs have N values of KEY at the same steps, within 1e-5 relative
same_losses() {
  loss_of "$1" "$3" > "$t/a.txt"; loss_of "$2" "$3" > "$t/b.txt"
  [ "$(wc -l < "$t/a.txt")" -eq "$4" ] || fail "$1: $(wc -l < "$t/a.txt") $3 values, expected $4"
  paste "$t/a.txt" "$t/b.txt" | awk -v k="$3" '
    { d = $2 - $4; if (d < 0) d = -d; m = $2 < 0 ? -$2 : $2
      if ($1 != $3 || d > 1e-5 * m) { printf "step %s/%s %s %s vs %s\n", $1, $3, k, $2, $4; bad = 1 }
      if (d / m > worst) worst = d / m }
    END { printf "%s: worst relative difference %.2g\n", k, worst; exit bad }' || fail "$3 differs: $1 vs $2"
}

# single process, then two ranks with the same global batch (rank r: micro-batches r, r+2, ...)
"$bin" train --data "$t/c.txt" --out "$t/s.gguf" $run --log "$t/s.jsonl" --checkpoint "$t/s.ckpt" \
  >"$t/s.out" 2>"$t/s.err" || { cat "$t/s.err"; fail "single-process run"; }
mpi "$bin" train --data "$t/c.txt" --out "$t/m.gguf" $run --log "$t/m.jsonl" --checkpoint "$t/m.ckpt" \
  >"$t/m.out" 2>"$t/m.err" || { cat "$t/m.err"; fail "mpirun -np 2 run"; }
clean "$t/m.err"
same_losses "$t/s.jsonl" "$t/m.jsonl" loss 12
same_losses "$t/s.jsonl" "$t/m.jsonl" val_loss 4
[ -s "$t/s.gguf" ] && [ -s "$t/m.gguf" ] || fail "an output GGUF is missing"
# rank 0 alone prints: one summary, one initial validation line
[ "$(grep -c "m.gguf: llama" "$t/m.out")" = 1 ] || { cat "$t/m.out"; fail "not exactly one summary line"; }
[ "$(grep -c "step 0: val loss" "$t/m.err")" = 1 ] || { cat "$t/m.err"; fail "not exactly one initial validation line"; }
g1=$("$bin" generate -m "$t/s.gguf" -p "one two three" -n 12 --temp 0 2>/dev/null) || fail "generate on the single-process GGUF"
g2=$("$bin" generate -m "$t/m.gguf" -p "one two three" -n 12 --temp 0 2>"$t/e.txt") || { cat "$t/e.txt"; fail "generate on the MPI GGUF"; }
[ -n "$g2" ] && [ "$g1" = "$g2" ] || fail "greedy output of the MPI model '$g2' differs from the single process's '$g1'"

# the step-6 checkpoints: resumed under mpirun the run ends in the same bytes; a rank-0
# checkpoint resumed by one process continues the single process's losses
mpi "$bin" train --data "$t/c.txt" --out "$t/m2.gguf" $run --resume "$t/m.ckpt" --checkpoint "$t/m2.ckpt" \
  >/dev/null 2>"$t/e.txt" || { cat "$t/e.txt"; fail "mpirun resume"; }
cmp -s "$t/m.gguf" "$t/m2.gguf" || fail "the MPI run resumed under mpirun does not give the uninterrupted run's GGUF"
"$bin" train --data "$t/c.txt" --out "$t/s2.gguf" $run --resume "$t/m.ckpt" --checkpoint "$t/s2.ckpt" \
  --log "$t/s2.jsonl" >/dev/null 2>"$t/e.txt" || { cat "$t/e.txt"; fail "single-process resume of the MPI checkpoint"; }
grep -v '"step":[0-6],' "$t/s.jsonl" > "$t/s7.jsonl"
grep -v '"step":[0-6],' "$t/s2.jsonl" > "$t/s27.jsonl"
same_losses "$t/s7.jsonl" "$t/s27.jsonl" loss 6

# LoRA on the model just trained (the base): adapters only, same losses, merged output loads
lora="--base $t/s.gguf --method lora --lora-rank 4 --lora-targets q,v,down --lora-dropout 0.2 --batch 2 --seq 32 --lr 1e-2 --threads 1 --grad-accum 4 --steps 6 --eval-every 3"
"$bin" train --data "$t/c.txt" --out "$t/ls.gguf" $lora --log "$t/ls.jsonl" >/dev/null 2>"$t/e.txt" ||
  { cat "$t/e.txt"; fail "single-process LoRA"; }
mpi "$bin" train --data "$t/c.txt" --out "$t/lm.gguf" $lora --log "$t/lm.jsonl" --adapter-out "$t/lma.gguf" \
  --store "sqlite:$t/st.db" >"$t/lm.out" 2>"$t/e.txt" || { cat "$t/e.txt"; fail "mpirun LoRA"; }
grep -q "LoRA rank 4" "$t/lm.out" || fail "no LoRA summary from rank 0"
# rank 0 alone records the run: one run, succeeded, the world size among the params
"$bin" runs show 1 --store "sqlite:$t/st.db" > "$t/run.txt" 2>&1 || { cat "$t/run.txt"; fail "no run recorded"; }
grep -q "status: succeeded" "$t/run.txt" && grep -q '"processes":2' "$t/run.txt" &&
  grep -q "train_loss  *step 6" "$t/run.txt" || { cat "$t/run.txt"; fail "the MPI run's record"; }
"$bin" runs show 2 --store "sqlite:$t/st.db" >/dev/null 2>&1 && fail "a second rank recorded a run"
same_losses "$t/ls.jsonl" "$t/lm.jsonl" loss 6
same_losses "$t/ls.jsonl" "$t/lm.jsonl" val_loss 3
[ -s "$t/lma.gguf" ] || fail "no adapter from the MPI LoRA run"
"$bin" generate -m "$t/lm.gguf" -p "red orange" -n 4 --temp 0 >/dev/null 2>&1 || fail "the MPI LoRA output does not load"

# a global batch the ranks cannot share: refused naming both numbers, nothing written
mpi "$bin" train --data "$t/c.txt" --out "$t/x.gguf" $shape --grad-accum 3 --steps 2 >/dev/null 2>"$t/e.txt"
rc=$?
[ $rc != 0 ] || fail "grad-accum 3 on 2 ranks accepted"
grep -q "grad-accum 3 is not divisible by the 2 processes" "$t/e.txt" || { cat "$t/e.txt"; fail "no divisibility message"; }
[ -e "$t/x.gguf" ] && fail "a refused run wrote its output"
clean "$t/e.txt"

# a failure on rank 1 alone (its data file is missing): every rank stops, rank 0 names it
# (an MPMD launch: -x belongs to each app context)
$to mpirun --oversubscribe \
  -np 1 -x LSAN_OPTIONS="$lsan" -x ASAN_OPTIONS="$asan" \
  "$bin" train --data "$t/c.txt" --out "$t/x.gguf" $shape --grad-accum 2 --steps 2 : \
  -np 1 -x LSAN_OPTIONS="$lsan" -x ASAN_OPTIONS="$asan" \
  "$bin" train --data "$t/nope.txt" --out "$t/x.gguf" $shape --grad-accum 2 --steps 2 >/dev/null 2>"$t/e.txt"
rc=$?
[ $rc != 0 ] && [ $rc != 124 ] || { cat "$t/e.txt"; fail "a failure on rank 1: exit $rc (124: the job hung)"; }
grep -q "rank 1 of 2: .*nope.txt" "$t/e.txt" || { cat "$t/e.txt"; fail "rank 0 does not report rank 1's failure"; }
[ -e "$t/x.gguf" ] && fail "a failed run wrote its output"
clean "$t/e.txt"

# SIGINT on rank 1 only: every rank stops after the same step, rank 0 writes the checkpoint,
# which resumes under mpirun
mpirun -np 2 --oversubscribe -x LSAN_OPTIONS="$lsan" -x ASAN_OPTIONS="$asan" -x LO_MPI_TEST="$t" \
  "$bin" train --data "$t/c.txt" --out "$t/i.gguf" $shape --grad-accum 2 --steps 1000000 --eval-every 0 \
  --schedule constant --checkpoint "$t/i.ckpt" --log "$t/i.jsonl" >/dev/null 2>"$t/i.err" &
mp=$!
n=0
steps_logged() { [ -f "$t/i.jsonl" ] && grep -c '"loss"' "$t/i.jsonl" || echo 0; }
while [ "$(steps_logged)" -lt 3 ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
r1=""
for e in /proc/[0-9]*/environ; do
  if tr '\0' '\n' 2>/dev/null < "$e" | grep -qx "LO_MPI_TEST=$t" &&
    tr '\0' '\n' 2>/dev/null < "$e" | grep -qx "OMPI_COMM_WORLD_RANK=1"; then
    r1=${e#/proc/}; r1=${r1%/environ}
  fi
done
[ -n "$r1" ] || { kill $mp; fail "rank 1's process not found"; }
kill -INT "$r1"
n=0
while kill -0 $mp 2>/dev/null && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
kill -0 $mp 2>/dev/null && { kill $mp; fail "the job did not stop after SIGINT on rank 1"; }
wait $mp
rc=$?
[ $rc = 1 ] || { cat "$t/i.err"; fail "interrupted job exited $rc, expected 1"; }
grep -q "interrupted after step" "$t/i.err" || { cat "$t/i.err"; fail "rank 0 did not report the interruption"; }
[ "$(grep -c "interrupted after step" "$t/i.err")" = 1 ] || fail "more than one rank reported the interruption"
[ -s "$t/i.ckpt" ] || fail "no checkpoint after SIGINT"
clean "$t/i.err"
stopped=$(sed -n 's/.*interrupted after step \([0-9]*\);.*/\1/p' "$t/i.err")
[ "$(tail -n 1 "$t/i.jsonl" | sed -n 's/^{"step":\([0-9]*\),.*/\1/p')" = "$stopped" ] ||
  fail "the last logged step is not the step the job stopped at ($stopped)"
mpi "$bin" train --data "$t/c.txt" --out "$t/i.gguf" $shape --grad-accum 2 --steps $((stopped + 2)) --eval-every 0 \
  --schedule constant --checkpoint "$t/i.ckpt" --resume "$t/i.ckpt" >"$t/i.out" 2>"$t/e.txt" ||
  { cat "$t/e.txt"; fail "resuming the SIGINT checkpoint under mpirun"; }
grep -q "$((stopped + 2)) steps" "$t/i.out" || { cat "$t/i.out"; fail "resumed run did not finish"; }
echo "ok"
