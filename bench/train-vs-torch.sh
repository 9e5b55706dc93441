#!/usr/bin/env bash
# Training throughput, llmops (bench_train) against PyTorch (bench/train_torch.py, Debian's
# python3-torch on OpenMP OpenBLAS) in the same run: full and LoRA, alternating rounds, medians,
# MFU and the ratio llmops / the faster torch setting. Builds nothing: give the build directory.
#
#   bench/train-vs-torch.sh build
#   ROUNDS=3 STEPS=5 WARMUP=2 THREADS=2 TORCH_SETTINGS="plain skx" bench/train-vs-torch.sh build
#
# A torch setting is '+'-joined words: plain (the environment as it comes, OPENBLAS_CORETYPE unset),
# skx (OPENBLAS_CORETYPE=SkylakeX), passive (OMP_WAIT_POLICY=passive), pthread (the pthread OpenBLAS
# instead of the OpenMP one). torch always gets the OpenMP OpenBLAS through LD_LIBRARY_PATH for its
# own process only (unless pthread), so the system's libblas alternatives do not decide it.
set -euo pipefail

BUILD=${1:-}
if [[ -z $BUILD || ! -x $BUILD/bench_train ]]; then
    echo "usage: $0 BUILD_DIR   (BUILD_DIR/bench_train must exist: cmake --build BUILD_DIR --target bench_train)" >&2
    exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-5}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-2}
PEAK=${PEAK_GFLOPS:-500}
LORA_RANK=${LORA_RANK:-8}
LORA_ALPHA=${LORA_ALPHA:-16}
LORA_TARGETS=${LORA_TARGETS:-q,v}
TORCH_SETTINGS=${TORCH_SETTINGS:-plain skx}
PY=${PYTHON:-/usr/bin/python3} # Debian's python, where python3-torch installs (a pyenv python3 may shadow it on PATH)
for v in ROUNDS STEPS WARMUP THREADS PEAK LORA_RANK LORA_ALPHA; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || { echo "$0: $v must be a positive integer" >&2; exit 2; }
done
[[ $LORA_TARGETS =~ ^[a-z,]+$ ]] || { echo "$0: LORA_TARGETS is a list like q,v" >&2; exit 2; }

ARCH=$($PY -c 'import sysconfig; print(sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu")' 2>/dev/null ||
    echo x86_64-linux-gnu)
OMP_DIR=/usr/lib/$ARCH/openblas-openmp
PTH_DIR=/usr/lib/$ARCH/openblas-pthread

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Runs one configuration; appends "tokens_per_s mfu_pct" to $TMP/<name>, keeps the first log.
run_one() {
    local name=$1
    shift
    local out
    if ! out=$("$@" 2>&1); then
        echo "$0: $name failed:" >&2
        echo "$out" >&2
        exit 1
    fi
    [[ -f $TMP/$name.log ]] || echo "$out" >"$TMP/$name.log"
    local line
    line=$(grep '^result:' <<<"$out" | tail -1)
    [[ -n $line ]] || { echo "$0: $name printed no result line:" >&2; echo "$out" >&2; exit 1; }
    sed -E 's/.*tokens_per_s=([0-9.]+) mfu_pct=([0-9.]+).*/\1 \2/' <<<"$line" >>"$TMP/$name"
}

# "min-max" of column $2 of file $1.
range() {
    sort -g -k"$2","$2" "$1" | awk -v c="$2" 'NR == 1 {lo = $c} {hi = $c} END {printf "%.0f-%.0f", lo, hi}'
}

# The median of column $2 of file $1.
median() {
    sort -g -k"$2","$2" "$1" | awk -v c="$2" '{v[NR] = $c} END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

LLM_ARGS=(--threads "$THREADS" --steps "$STEPS" --peak-gflops "$PEAK")
TORCH_ARGS=(--threads "$THREADS" --steps "$STEPS" --warmup "$WARMUP" --peak-gflops "$PEAK")
LORA_ARGS=(--lora-rank "$LORA_RANK" --lora-alpha "$LORA_ALPHA" --lora-targets "$LORA_TARGETS")

HAVE_TORCH=1
if ! $PY -c 'import torch' 2>/dev/null; then
    HAVE_TORCH=0
    echo "$PY cannot import torch: install Debian's PyTorch and the OpenMP OpenBLAS it should use:"
    echo "    apt-get install python3-torch libopenblas0-openmp"
    echo "(then check that update-alternatives --display libblas.so.3-$ARCH still points where the project"
    echo " expects; this script gives torch the OpenMP OpenBLAS through LD_LIBRARY_PATH). Running llmops only."
    TORCH_SETTINGS=""
elif [[ ! -e $OMP_DIR/libblas.so.3 ]]; then
    echo "note: $OMP_DIR is missing (apt-get install libopenblas0-openmp); torch uses whatever libblas.so.3 resolves to"
fi

# The environment of one torch setting, as env(1) arguments.
torch_env() {
    local setting=$1 lib=$OMP_DIR wait="" core=""
    local IFS=+
    for w in $setting; do
        case $w in
        plain) ;;
        skx) core=SkylakeX ;;
        passive) wait=passive ;;
        pthread) lib=$PTH_DIR ;;
        *) echo "$0: unknown torch setting word '$w' (plain, skx, passive, pthread)" >&2; exit 2 ;;
        esac
    done
    local e=(env -u OPENBLAS_CORETYPE -u OMP_WAIT_POLICY OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS")
    [[ -e $lib/libblas.so.3 ]] && e+=(LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    [[ -n $core ]] && e+=(OPENBLAS_CORETYPE="$core")
    [[ -n $wait ]] && e+=(OMP_WAIT_POLICY="$wait")
    printf '%s\n' "${e[@]}"
}

echo "train-vs-torch: $(nproc) cores, $THREADS threads, $ROUNDS rounds of $STEPS timed steps; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
CONFIGS=(llmops)
for s in $TORCH_SETTINGS; do
    torch_env "$s" >/dev/null
    CONFIGS+=("torch:$s")
done
for ((r = 1; r <= ROUNDS; r++)); do
    order=("${CONFIGS[@]}")
    if ((r % 2 == 0)); then # reverse every other round so slow drift hits every configuration alike
        order=()
        for ((i = ${#CONFIGS[@]} - 1; i >= 0; i--)); do order+=("${CONFIGS[i]}"); done
    fi
    for cfg in "${order[@]}"; do
        key=${cfg//[:+]/_}
        if [[ $cfg == llmops ]]; then
            run_one "${key}_full" "$BUILD/bench_train" "${LLM_ARGS[@]}"
            run_one "${key}_lora" "$BUILD/bench_train" "${LLM_ARGS[@]}" "${LORA_ARGS[@]}"
        else
            mapfile -t E < <(torch_env "${cfg#torch:}")
            run_one "${key}_full" "${E[@]}" "$PY" "$HERE/train_torch.py" "${TORCH_ARGS[@]}"
            run_one "${key}_lora" "${E[@]}" "$PY" "$HERE/train_torch.py" "${TORCH_ARGS[@]}" "${LORA_ARGS[@]}"
        fi
    done
    echo "round $r/$ROUNDS done; load average $(cut -d' ' -f1-3 /proc/loadavg)"
done

echo
echo "llmops: $(grep -m1 '^bench_train:' "$TMP/llmops_full.log" | sed 's/^bench_train: //')"
if ((HAVE_TORCH)); then
    echo "torch:  $($PY -c 'import torch; print(torch.__version__)') ($PY)"
    for cfg in "${CONFIGS[@]:1}"; do
        key=${cfg//[:+]/_}
        echo "  $cfg: $(grep -m1 '^train_torch:' "$TMP/${key}_full.log" | sed 's/^train_torch: //')"
    done
fi
echo "model: $(grep -m1 '^shape' "$TMP/llmops_full.log"); LoRA rank $LORA_RANK alpha $LORA_ALPHA targets $LORA_TARGETS"
echo "MFU: 6·params·tokens/s (full), (4·base + 6·adapter params)·tokens/s (LoRA), of $PEAK GFLOP/s; medians of $ROUNDS rounds"
echo
printf '%-22s %10s %12s %6s %10s %12s %6s\n' configuration "full tok/s" "(range)" "MFU %" "LoRA tok/s" "(range)" "MFU %"
declare -A MED
for cfg in "${CONFIGS[@]}"; do
    key=${cfg//[:+]/_}
    for mode in full lora; do
        MED[$cfg.$mode]=$(median "$TMP/${key}_$mode" 1)
        MED[$cfg.$mode.mfu]=$(median "$TMP/${key}_$mode" 2)
    done
    printf '%-22s %10.0f %12s %6.1f %10.0f %12s %6.1f\n' "$cfg" "${MED[$cfg.full]}" "$(range "$TMP/${key}_full" 1)" \
        "${MED[$cfg.full.mfu]}" "${MED[$cfg.lora]}" "$(range "$TMP/${key}_lora" 1)" "${MED[$cfg.lora.mfu]}"
done
if ((HAVE_TORCH)); then
    echo
    for mode in full lora; do
        best="" bv=0
        for cfg in "${CONFIGS[@]:1}"; do
            if awk -v a="${MED[$cfg.$mode]}" -v b="$bv" 'BEGIN { exit !(a > b) }'; then best=$cfg bv=${MED[$cfg.$mode]}; fi
        done
        awk -v m="$mode" -v a="${MED[llmops.$mode]}" -v b="$bv" -v n="$best" \
            'BEGIN { printf "%s: llmops / fastest torch (%s) = %.2fx (target >= 1.5x)\n", m, n, a / b }'
    done
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
