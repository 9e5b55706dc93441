#!/bin/sh
# Mixture of experts vs a dense model of the same active size: `llmops gen-model` writes a
# Mixtral-style MoE (8 experts, 2 used per token) and a dense llama whose FFN is exactly the
# 2 used experts' size (n_ff = 2 × expert n_ff; same attention, embeddings and vocab), so both
# read the same weight bytes per token. Both are benchmarked with `llmops bench`, and with
# llama.cpp's llama-bench on the same files, alternating. Prints tg (and pp) tokens/s, the
# weight bytes read per token, and the ratios: dense/MoE tg (the issue asks ≤ 1.3) and
# llmops/llama.cpp on the MoE.
#
# usage: bench/moe-vs-dense.sh   env: LLMOPS=path/to/llmops THREADS=2 PP=64 TG=32 REPS=3
#        TYPE=Q4_0 DIM=768 LAYERS=6 HEADS=12 KV_HEADS=4 FF=2048 (per expert) EXPERTS=8 USED=2
#        CACHE=dir  LLAMA_ENV="OMP_WAIT_POLICY=passive"  ROUNDS=1
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${LO_SHARED_DIR:-$ROOT/../shared}
LLMOPS=${LLMOPS:-$ROOT/build/llmops}
THREADS=${THREADS:-2}
PP=${PP:-64}
TG=${TG:-32}
REPS=${REPS:-3}
ROUNDS=${ROUNDS:-1}
TYPE=${TYPE:-Q4_0}
DIM=${DIM:-768}
LAYERS=${LAYERS:-6}
HEADS=${HEADS:-12}
KV_HEADS=${KV_HEADS:-4}
FF=${FF:-2048}
EXPERTS=${EXPERTS:-8}
USED=${USED:-2}
LLAMA_ENV=${LLAMA_ENV:-}
export PP TG REPS # read by bench.sh
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmops-bench}
VOCAB=$SHARED/models/vocab/ggml-vocab-llama-spm.gguf
PEER=$SHARED/peers/llamacpp
LLAMA_BIN=${LLAMACPP_PEER:-$HOME/.cache/llmops-peers/llamacpp}/src/build/bin
SEED=1234

die() { echo "moe-vs-dense: $*" >&2; exit 1; }
[ -x "$LLMOPS" ] || die "no llmops binary at $LLMOPS (build first, or set LLMOPS=)"
[ -f "$VOCAB" ] || die "no tokenizer at $VOCAB"
HAVE_LLAMA=1
[ -x "$LLAMA_BIN/llama-bench" ] || { HAVE_LLAMA=0; echo "# llama.cpp peer not built ($LLAMA_BIN): llmops only"; }
mkdir -p "$CACHE"

DENSE_FF=$((FF * USED))
base=$CACHE/moe-d$DIM-l$LAYERS-h$HEADS-$KV_HEADS-s$SEED
MOE=$base-e${EXPERTS}x${USED}-ff$FF.$TYPE.gguf
DENSE=$base-dense-ff$DENSE_FF.$TYPE.gguf
common="--arch llama --shape custom --dim $DIM --layers $LAYERS --heads $HEADS --kv-heads $KV_HEADS --type $TYPE --tokenizer $VOCAB --seed $SEED"
# shellcheck disable=SC2086
[ -s "$MOE" ] || "$LLMOPS" gen-model $common --ff "$FF" --experts "$EXPERTS" --experts-used "$USED" "$MOE" >/dev/null ||
    die "gen-model (MoE) failed"
# shellcheck disable=SC2086
[ -s "$DENSE" ] || "$LLMOPS" gen-model $common --ff "$DENSE_FF" "$DENSE" >/dev/null || die "gen-model (dense) failed"

echo "# MoE vs dense — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, threads=$THREADS, pp$PP, tg$TG, $REPS reps, $TYPE"
echo "# load average at start: $(cut -d" " -f1-3 /proc/loadavg)"
echo "# MoE:   $MOE ($(du -m "$MOE" | cut -f1) MiB): $EXPERTS experts of n_ff $FF, $USED used"
echo "# dense: $DENSE ($(du -m "$DENSE" | cut -f1) MiB): n_ff $DENSE_FF (= the used experts)"
echo

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
field() { awk -v t="$2" '$1 == t { print $3; exit }' "$1"; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 > a + 0) print b; else print a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "") printf "%.2f", a / b; else printf "-" }'; }
wbytes() { awk '/weights read per token/ { for (i = 1; i <= NF; i++) if ($i == "token") print $(i + 1) }' "$1"; }

for name in moe dense; do
    f=$MOE; [ $name = dense ] && f=$DENSE
    eval "tg_o_$name=; pp_o_$name=; tg_l_$name=; pp_l_$name="
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        "$LLMOPS" bench -m "$f" -p "$PP" -n "$TG" -t "$THREADS" -r "$REPS" >"$tmp/ours" 2>&1 || die "llmops bench failed on $f"
        sed "s/^/llmops $name: /" "$tmp/ours"
        eval "tg_o_$name=\$(best \"\$tg_o_$name\" \"$(field "$tmp/ours" "tg$TG")\")"
        eval "pp_o_$name=\$(best \"\$pp_o_$name\" \"$(field "$tmp/ours" "pp$PP")\")"
        eval "w_$name=$(wbytes "$tmp/ours")"
        if [ $HAVE_LLAMA = 1 ]; then
            env $LLAMA_ENV "$PEER/bench.sh" "$f" "$THREADS" >"$tmp/llama" 2>&1 || die "llama-bench failed on $f"
            grep -q "^pp$PP" "$tmp/llama" || [ "$PP" = 0 ] ||
                die "llama-bench gave no pp$PP figure on $f (crashed in prompt processing?): on a CPU with AMX use a llama.cpp built without AMX (bench/vs-llamacpp.sh's header says how) via LLAMACPP_PEER"
            grep -q "^tg$TG" "$tmp/llama" || die "llama.cpp did not load $f: $(cat "$tmp/llama")"
            sed "s/^/llama.cpp $name: /" "$tmp/llama"
            eval "tg_l_$name=\$(best \"\$tg_l_$name\" \"$(field "$tmp/llama" "tg$TG")\")"
            eval "pp_l_$name=\$(best \"\$pp_l_$name\" \"$(field "$tmp/llama" "pp$PP")\")"
        fi
        r=$((r + 1))
    done
done

echo
printf '| %-5s | %11s | %10s | %10s | %5s | %10s | %10s | %5s |\n' model "MiB/token" "tg$TG llmops" "tg$TG llama" ratio \
    "pp$PP llmops" "pp$PP llama" ratio
printf '|-------|------------:|-----------:|-----------:|------:|-----------:|-----------:|------:|\n'
for name in moe dense; do
    eval "w=\$w_$name tgo=\$tg_o_$name tgl=\$tg_l_$name ppo=\$pp_o_$name ppl=\$pp_l_$name"
    printf '| %-5s | %11s | %10s | %10s | %5s | %10s | %10s | %5s |\n' "$name" "$w" "$tgo" "${tgl:--}" \
        "$(ratio "$tgo" "$tgl")" "$ppo" "${ppl:--}" "$(ratio "$ppo" "$ppl")"
done
echo
echo "weights read per token (llmops's count: every matrix once, for the MoE the router + $USED of $EXPERTS experts):"
echo "  MoE $w_moe MiB vs dense $w_dense MiB; the MoE file is $(ratio "$(du -k "$MOE" | cut -f1)" "$(du -k "$DENSE" | cut -f1)")× the dense one"
echo "tg dense / tg MoE: llmops $(ratio "$tg_o_dense" "$tg_o_moe") (the issue asks ≤ 1.3)${tg_l_moe:+, llama.cpp $(ratio "$tg_l_dense" "$tg_l_moe")}"
[ -n "$tg_l_moe" ] && echo "MoE tg llmops / llama.cpp: $(ratio "$tg_o_moe" "$tg_l_moe")"
echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg)"
