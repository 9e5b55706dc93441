#!/bin/sh
# QLoRA memory: a few `llmops train --method qlora` steps on a TinyLlama-shaped Q4_0 base
# (random weights, written by `llmops gen-model --shape tinyllama-1.1b --type Q4_0 --seed 1234`)
# under /usr/bin/time -v. Prints the base's file size, the peak RSS, their ratio and the
# training tokens/s. The base's bytes stay mapped (they count in RSS once touched); the f32
# extras are the activations for --batch × --seq tokens, the dequantisation scratch, the
# adapters and their AdamW state. Skips (exit 0) with a message when the base is absent.
#
# usage: bench/train-qlora-rss.sh   env: LLMOPS=path/to/llmops BASE=file.gguf THREADS=2
#        STEPS=3 BATCH=1 SEQ=128 RANK=8 TARGETS=q,v
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LLMOPS=${LLMOPS:-$ROOT/build/llmops}
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmops-bench}
BASE=${BASE:-$CACHE/tinyllama-1.1b-random-s1234.Q4_0.gguf}
THREADS=${THREADS:-2}
STEPS=${STEPS:-3}
BATCH=${BATCH:-1}
SEQ=${SEQ:-128}
RANK=${RANK:-8}
TARGETS=${TARGETS:-q,v}

if [ ! -f "$BASE" ]; then
  echo "train-qlora-rss: skipped: no base at $BASE (make one with: llmops gen-model --shape tinyllama-1.1b" \
    "--type Q4_0 --seed 1234 $BASE)"
  exit 0
fi
[ -x "$LLMOPS" ] || { echo "train-qlora-rss: no llmops binary at $LLMOPS (build first, or set LLMOPS=)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "train-qlora-rss: needs /usr/bin/time (Debian package: time)" >&2; exit 1; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
# Enough text for (STEPS × BATCH + a validation window) sequences of SEQ + 1 tokens.
i=0
while [ $i -lt 200 ]; do
  printf 'Once upon a time there was a little robot named Bolt who lived in a quiet town by the sea.\n'
  printf 'Every morning Bolt walked to the harbour, counted the boats and sang to the seagulls.\n\n'
  i=$((i + 1))
done >"$t/data.txt"
/usr/bin/time -v "$LLMOPS" train --base "$BASE" --method qlora --lora-rank "$RANK" --lora-targets "$TARGETS" \
  --data "$t/data.txt" --out "$t/out.gguf" --adapter-out "$t/adapter.gguf" --steps "$STEPS" --batch "$BATCH" \
  --seq "$SEQ" --eval-batches 1 --eval-every 0 --val-split 5 --threads "$THREADS" >"$t/out.txt" 2>"$t/err.txt" ||
  { cat "$t/err.txt" "$t/out.txt" >&2; echo "train-qlora-rss: the run failed" >&2; exit 1; }
file_bytes=$(stat -c %s "$BASE")
rss_kb=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$t/err.txt")
tps=$(sed -n 's/.*, \([0-9.]*\) tokens\/s,.*/\1/p' "$t/out.txt" | tail -n 1)
[ -n "$rss_kb" ] && [ -n "$tps" ] || { cat "$t/err.txt" "$t/out.txt" >&2; echo "train-qlora-rss: no figures" >&2; exit 1; }
awk -v f="$file_bytes" -v r="$rss_kb" -v tps="$tps" -v base="$(basename "$BASE")" -v steps="$STEPS" \
  -v b="$BATCH" -v s="$SEQ" -v rank="$RANK" -v tg="$TARGETS" 'BEGIN {
  printf "base        %s (%.1f MiB file)\n", base, f / 1048576
  printf "run         --method qlora, %d steps, --batch %d --seq %d, rank %d on %s\n", steps, b, s, rank, tg
  printf "peak RSS    %.1f MiB\n", r / 1024
  printf "ratio       %.2f x the file size\n", r * 1024 / f
  printf "throughput  %s training tokens/s\n", tps
}'
