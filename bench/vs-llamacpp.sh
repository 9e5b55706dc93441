#!/bin/sh
# llmops vs llama.cpp on the same files: TinyLlama-1.1B-shaped random-weight models in
# Q4_0, Q8_0 and Q4_K_M (made by `llmops gen-model`), benchmarked with `llmops bench` and
# llama.cpp's llama-bench (../shared/peers/llamacpp/bench.sh), alternating, same threads.
# Prints pp/tg tokens/s, peak RSS and tg as a fraction of the memory-bandwidth ceiling.
# Also checks that llama.cpp loads the generated files and a `llmops quantize` output, and
# that `llmops quantize` / `gen-model` give the same bytes as llama-quantize.
#
# usage: bench/vs-llamacpp.sh          env: LLMOPS=path/to/llmops  THREADS=2  PP=128  TG=64
#        REPS=5  TYPES="Q4_0 Q8_0 Q4_K_M"  BW_GBS=40 (bandwidth for the ceiling)  CACHE=dir
#        SKIP_QUANT_CHECK=1  ROUNDS=1 (alternations per type; the best mean of each side counts,
#        which discounts rounds slowed by other load on the machine)
#        LLAMA_ENV="OMP_WAIT_POLICY=passive" (extra environment for llama-bench: its OpenMP threads
#        spin while waiting, which collapses its speed when other processes load the CPUs)
#        LLAMACPP_PEER=dir (the llama.cpp peer; default ~/.cache/llmops-peers/llamacpp)
#
# On CPUs with AMX (Sapphire Rapids and later) the peer as ../shared/peers/llamacpp/setup.sh
# builds it (GGML_NATIVE=ON, which compiles ggml's AMX backend) segfaults in
# ggml_backend_amx_mul_mat on every prompt batch of a Q4_0/Q8_0 model (seen with build
# de3ff81; tg alone works). Measure against a build of the same source without AMX, which
# keeps everything else (AVX-512, VNNI, CPU_REPACK):
#   cd ~/.cache/llmops-peers/llamacpp/src && flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
#   cmake -S . -B build-noamx -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
#     -DGGML_NATIVE=ON -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" -DLLAMA_OPENSSL=OFF \
#     -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_BUILD_TESTS=OFF
#   ninja -C build-noamx llama-bench llama-server llama-quantize
#   p=~/.cache/llmops-peers/llamacpp-noamx; mkdir -p $p/src/build
#   ln -sfn ~/.cache/llmops-peers/llamacpp/src/build-noamx/bin $p/src/build/bin
#   LLAMACPP_PEER=$p sh bench/vs-llamacpp.sh
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${LO_SHARED_DIR:-$ROOT/../shared}
LLMOPS=${LLMOPS:-$ROOT/build/llmops}
THREADS=${THREADS:-2}
PP=${PP:-128}
TG=${TG:-64}
REPS=${REPS:-5}
ROUNDS=${ROUNDS:-1}
LLAMA_ENV=${LLAMA_ENV:-}
TYPES=${TYPES:-"Q4_0 Q8_0 Q4_K_M"}
BW_GBS=${BW_GBS:-40}
export PP TG REPS   # read by bench.sh
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmops-bench}
VOCAB=$SHARED/models/vocab/ggml-vocab-llama-spm.gguf
PEER=$SHARED/peers/llamacpp
LLAMA_BIN=${LLAMACPP_PEER:-$HOME/.cache/llmops-peers/llamacpp}/src/build/bin
SEED=1234

die() { echo "vs-llamacpp: $*" >&2; exit 1; }
[ -x "$LLMOPS" ] || die "no llmops binary at $LLMOPS (build first, or set LLMOPS=)"
[ -f "$VOCAB" ] || die "no tokenizer at $VOCAB"
[ -x "$LLAMA_BIN/llama-bench" ] || die "llama.cpp peer not built: run $PEER/setup.sh"
mkdir -p "$CACHE"
TIME=/usr/bin/time
[ -x "$TIME" ] || TIME=

# Runs a command, saving its stdout in $1 and its peak RSS (KiB; the largest process of
# the run) in $1.rss.
measure() {
    out=$1; shift
    if [ -n "$TIME" ]; then
        "$TIME" -f "%M" -o "$out.rss" "$@" >"$out" 2>"$out.err" || { cat "$out.err" >&2; return 1; }
    else
        "$@" >"$out" 2>"$out.err" || { cat "$out.err" >&2; return 1; }
        echo 0 >"$out.rss"
    fi
}

# "ppN threads=T: X +- S tokens/s" → X and S
field() { awk -v t="$2" '$1 == t { print $3; exit }' "$1"; }
field_sd() { awk -v t="$2" '$1 == t { print $5; exit }' "$1"; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 > a + 0) print b; else print a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "") printf "%.2f", a / b; else printf "-" }'; }

echo "# llmops vs llama.cpp — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, threads=$THREADS, pp$PP, tg$TG, $REPS reps"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "# load average at start: $(cut -d" " -f1-3 /proc/loadavg) (other processes compete for the CPUs if it exceeds the thread count)"
echo "# llama.cpp: $LLAMA_BIN/llama-bench (via $PEER/bench.sh)${LLAMA_ENV:+, env $LLAMA_ENV}"
echo

# ---- 1. models --------------------------------------------------------------------------
for T in $TYPES; do
    f=$CACHE/tinyllama-1.1b-random-s$SEED.$T.gguf
    if [ ! -s "$f" ]; then
        echo "generating $f"
        "$LLMOPS" gen-model --arch llama --shape tinyllama-1.1b --type "$T" --tokenizer "$VOCAB" --seed $SEED "$f" >/dev/null
    fi
done

# ---- 2. quantize check: byte identity with llama-quantize, and llama.cpp loads the output --
if [ "${SKIP_QUANT_CHECK:-0}" != 1 ] && [ -x "$LLAMA_BIN/llama-quantize" ]; then
    q=$CACHE/qcheck; mkdir -p "$q"
    "$LLMOPS" gen-model --arch llama --shape stories15m --type F32 --tokenizer "$VOCAB" --seed $SEED "$q/s15m.f32.gguf" >/dev/null
    echo "quantize check (stories15m shape, random F32 → Q4_K_M / Q4_0):"
    for T in Q4_K_M Q4_0; do
        "$LLMOPS" quantize "$q/s15m.f32.gguf" "$q/ours.$T.gguf" "$T" >/dev/null
        "$LLAMA_BIN/llama-quantize" "$q/s15m.f32.gguf" "$q/llama.$T.gguf" "$T" "$THREADS" >/dev/null 2>&1 \
            || die "llama-quantize failed on $q/s15m.f32.gguf"
        "$LLMOPS" gen-model --arch llama --shape stories15m --type "$T" --tokenizer "$VOCAB" --seed $SEED "$q/gen.$T.gguf" >/dev/null
        a=$(cmp -s "$q/ours.$T.gguf" "$q/llama.$T.gguf" && echo byte-identical || echo DIFFERENT)
        b=$(cmp -s "$q/gen.$T.gguf" "$q/llama.$T.gguf" && echo byte-identical || echo DIFFERENT)
        # llama.cpp must load (and run) the llmops quantize output.
        if PP=8 TG=4 REPS=1 "$PEER/bench.sh" "$q/ours.$T.gguf" "$THREADS" | grep -q '^tg4'; then l=loads; else l="FAILS TO LOAD"; fi
        echo "  $T: llmops quantize vs llama-quantize: $a; gen-model $T vs llama-quantize(gen-model F32): $b; llama.cpp $l it"
    done
    rm -rf "$q"
    echo
fi

# ---- 3. benchmarks, alternating llmops / llama.cpp per type ---------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '| %-6s | %10s | %10s | %5s | %9s | %9s | %5s | %9s | %9s | %5s | %10s | %10s |\n' \
    type "pp$PP llmops" "pp$PP llama" ratio "tg$TG llmops" "tg$TG llama" ratio "RSS llmops" "RSS llama" ratio \
    "tg/BW llmops" "tg/BW llama" >"$tmp/table"
printf '|--------|-----------:|-----------:|------:|----------:|----------:|------:|----------:|----------:|------:|-----------:|-----------:|\n' >>"$tmp/table"
for T in $TYPES; do
    f=$CACHE/tinyllama-1.1b-random-s$SEED.$T.gguf
    echo "== $T ($(du -m "$f" | cut -f1) MiB)"
    pp_o=; pp_l=; tg_o=; tg_l=; rss_o=0; rss_l=0
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        # alternating: llmops, then llama.cpp, ROUNDS times; the best round of each counts
        measure "$tmp/ours" "$LLMOPS" bench -m "$f" -p "$PP" -n "$TG" -t "$THREADS" -r "$REPS" || die "llmops bench failed on $f"
        cat "$tmp/ours"
        measure "$tmp/llama" env $LLAMA_ENV "$PEER/bench.sh" "$f" "$THREADS" || die "llama-bench failed on $f"
        grep -q "^pp$PP" "$tmp/llama" || [ "$PP" = 0 ] ||
            die "llama-bench gave no pp$PP figure on $f (it crashed in prompt processing?): on a CPU with AMX, build llama.cpp without AMX as this script's header says and set LLAMACPP_PEER"
        grep -q "^tg$TG" "$tmp/llama" || die "llama.cpp did not load $f: $(cat "$tmp/llama.err")"
        sed 's/^/llama.cpp /' "$tmp/llama"
        pp_o=$(best "$pp_o" "$(field "$tmp/ours" "pp$PP")"); pp_l=$(best "$pp_l" "$(field "$tmp/llama" "pp$PP")")
        tg_o=$(best "$tg_o" "$(field "$tmp/ours" "tg$TG")"); tg_l=$(best "$tg_l" "$(field "$tmp/llama" "tg$TG")")
        rss_o=$(best "$rss_o" "$(cat "$tmp/ours.rss")"); rss_l=$(best "$rss_l" "$(cat "$tmp/llama.rss")")
        r=$((r + 1))
    done
    wmib=$(awk '/weights read per token/ { for (i = 1; i <= NF; i++) if ($i == "token") print $(i + 1) }' "$tmp/ours")
    bw_o=$(awk -v t="$tg_o" -v w="$wmib" -v b="$BW_GBS" 'BEGIN { printf "%.0f%%", 100 * t * w * 1048576 / (b * 1e9) }')
    bw_l=$(awk -v t="$tg_l" -v w="$wmib" -v b="$BW_GBS" 'BEGIN { printf "%.0f%%", 100 * t * w * 1048576 / (b * 1e9) }')
    printf '| %-6s | %10s | %10s | %5s | %9s | %9s | %5s | %7.0f M | %7.0f M | %5s | %10s | %10s |\n' "$T" \
        "$pp_o" "$pp_l" "$(ratio "$pp_o" "$pp_l")" "$tg_o" "$tg_l" "$(ratio "$tg_o" "$tg_l")" \
        "$(awk -v k="$rss_o" 'BEGIN { print k / 1024 }')" "$(awk -v k="$rss_l" 'BEGIN { print k / 1024 }')" \
        "$(ratio "$rss_o" "$rss_l")" "$bw_o" "$bw_l" >>"$tmp/table"
done
echo
echo "tokens/s: mean of $REPS repetitions (llama-bench's method), best of $ROUNDS alternating round(s); ratio = llmops / llama.cpp."
echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg)"
echo "RSS: peak resident set of the whole run (/usr/bin/time %M; both mmap the model; llama.cpp's CPU_REPACK"
echo "     also copies Q4_0/Q4_K weights into interleaved buffers, hence ~2x for those). Max over rounds."
echo "tg/BW: weight bytes read per token × tg tokens/s ÷ $BW_GBS GB/s (the memory-bandwidth ceiling)."
cat "$tmp/table"
