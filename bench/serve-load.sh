#!/bin/sh
# Serving under concurrent load: `llmops serve` vs llama.cpp's llama-server on the same
# TinyLlama-1.1B-shaped Q4_0 random-weight model, 1/4/8/16 streaming clients each (the
# build/serve_load client), one server at a time. Prints generated tokens/s, TTFT and
# inter-token latency per level, and the batching gain "8 clients vs 1". Builds nothing.
#
# usage: bench/serve-load.sh     env: LLMOPS=path/to/llmops  SERVE_LOAD=path/to/serve_load
#        LEVELS="1 4 8 16"  REQUESTS=3 (per client, back-to-back)  MAX_TOKENS=64  ROUNDS=3
#        (ours, then llama.cpp, ROUNDS times; each figure is the median over rounds)
#        THREADS=2  PARALLEL=16 (slots of both servers)  SEQ_CTX (context per slot; default
#        fits prompt + MAX_TOKENS)  CACHE_PROMPT=0 (1 lets llama-server reuse the cached prompt)
#        PEER_ARGS (extra llama-server args)  PEER_ENV (environment of llama-server; default
#        OMP_WAIT_POLICY=passive, empty for none)  CACHE=dir (generated models)
#        PEER_BIN_DIR (a directory holding another llama-server build, e.g. one made without
#        AMX; still started through ../shared/peers/llamacpp/serve.sh)
set -eu
ME=serve-load
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${LO_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}
LLMOPS=${LLMOPS:-$ROOT/build/llmops}
SERVE_LOAD=${SERVE_LOAD:-$ROOT/build/serve_load}
LEVELS=${LEVELS:-"1 4 8 16"}
REQUESTS=${REQUESTS:-3}
MAX_TOKENS=${MAX_TOKENS:-64}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
PARALLEL=${PARALLEL:-16}
CACHE_PROMPT=${CACHE_PROMPT:-0}
PEER_ARGS=${PEER_ARGS:-}
# llama.cpp's OpenMP threads spin while waiting (active policy): with other processes on
# the 2 cores that collapses its speed (measured 1.4 s/token instead of 0.09 under load 6),
# so the peer runs with the passive policy unless PEER_ENV says otherwise (PEER_ENV= for none).
PEER_ENV=${PEER_ENV-OMP_WAIT_POLICY=passive}
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmops-bench}
VOCAB=$SHARED/models/vocab/ggml-vocab-llama-spm.gguf
PEER=$SHARED/peers/llamacpp
LLAMA_BIN=${LLAMACPP_PEER:-$HOME/.cache/llmops-peers/llamacpp}/src/build/bin
SEED=1234
TYPE=Q4_0
MODEL=$CACHE/tinyllama-1.1b-random-s$SEED.$TYPE.gguf # the name bench/vs-llamacpp.sh uses

die() { echo "$ME: $*" >&2; exit 1; }
usage() { echo "$ME: usage: bench/serve-load.sh (no arguments; configure with env, see the top of the script)" >&2; exit 2; }
case ${1:-} in -h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 0 ;; esac
[ $# -eq 0 ] || usage
is_uint() { case $1 in '' | *[!0-9]*) return 1 ;; *) [ "$1" -ge "$2" ] && [ "$1" -le "$3" ] ;; esac; }
check_int() { is_uint "$2" "$3" "$4" || { echo "$ME: $1 must be an integer in [$3, $4], got '$2'" >&2; usage; }; }
check_int REQUESTS "$REQUESTS" 1 10000
check_int MAX_TOKENS "$MAX_TOKENS" 1 4096
check_int ROUNDS "$ROUNDS" 1 99
check_int THREADS "$THREADS" 1 256
check_int PARALLEL "$PARALLEL" 1 256
for l in $LEVELS; do check_int LEVELS "$l" 1 256; done
[ -n "$LEVELS" ] || usage
# Context per slot: the ~35-token prompt plus MAX_TOKENS, with room to spare, rounded to 128.
SEQ_CTX=${SEQ_CTX:-$(((MAX_TOKENS + 96 + 127) / 128 * 128))}
check_int SEQ_CTX "$SEQ_CTX" 16 131072

[ -x "$LLMOPS" ] || die "no llmops binary at $LLMOPS (build with 'cmake --build build -j2', or set LLMOPS=)"
[ -x "$SERVE_LOAD" ] || die "no serve_load client at $SERVE_LOAD (build with 'cmake --build build -j2', or set SERVE_LOAD=)"
[ -f "$VOCAB" ] || die "no tokenizer at $VOCAB (is ../shared present?)"
command -v curl >/dev/null || die "curl is needed to poll llama-server's /health"
tmp=$(mktemp -d)
SERVER_PID=
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        i=0
        while kill -0 "$SERVER_PID" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
cleanup() { stop_server; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -n "${PEER_BIN_DIR:-}" ]; then
    # serve.sh runs $LLAMACPP_PEER/src/build/bin/llama-server: point it at PEER_BIN_DIR.
    [ -x "$PEER_BIN_DIR/llama-server" ] || die "PEER_BIN_DIR=$PEER_BIN_DIR holds no llama-server"
    mkdir -p "$tmp/peer/src/build"
    ln -s "$(cd "$PEER_BIN_DIR" && pwd)" "$tmp/peer/src/build/bin"
    LLAMACPP_PEER=$tmp/peer; export LLAMACPP_PEER
    LLAMA_BIN=$PEER_BIN_DIR
fi
HAVE_PEER=1
if [ ! -x "$LLAMA_BIN/llama-server" ]; then
    echo "$ME: llama.cpp peer not built ($LLAMA_BIN/llama-server): run $PEER/setup.sh; continuing with llmops only" >&2
    HAVE_PEER=0
fi

# ---- model ---------------------------------------------------------------------------------
mkdir -p "$CACHE"
if [ ! -s "$MODEL" ]; then
    echo "generating $MODEL"
    "$LLMOPS" gen-model --arch llama --shape tinyllama-1.1b --type $TYPE --tokenizer "$VOCAB" --seed $SEED \
        "$MODEL.tmp.$$" >/dev/null || { rm -f "$MODEL.tmp.$$"; die "gen-model failed"; }
    mv "$MODEL.tmp.$$" "$MODEL"
fi

# ---- servers -------------------------------------------------------------------------------
# Starts `llmops serve` and sets URL once it prints 'listening on http://HOST:PORT'.
start_ours() {
    : >"$tmp/ours.log" # exists before the background child opens it, for the loop below
    "$LLMOPS" serve -m "$MODEL:tinyllama" --port 0 --parallel "$PARALLEL" --threads "$THREADS" --ctx "$SEQ_CTX" \
        >"$tmp/ours.log" 2>&1 &
    SERVER_PID=$!
    i=0
    while :; do
        URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$tmp/ours.log" | head -n 1)
        [ -n "$URL" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 5 "$tmp/ours.log" >&2; SERVER_PID=; die "llmops serve exited before it was ready"; }
        [ $i -lt 1200 ] || die "llmops serve not ready after 120 s"
        sleep 0.1; i=$((i + 1))
    done
}

free_port() {
    p=$((20000 + $$ % 20000))
    while curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/" 2>/dev/null; do p=$((p + 1)); done
    echo $p
}

# Starts llama-server with its 16 slots sharing -c = PARALLEL × SEQ_CTX and waits for
# GET /health = 200. Returns 1 when it dies first (exit status in PEER_RC).
try_peer() {
    port=$(free_port)
    # shellcheck disable=SC2086 # PEER_ENV and the extra args are word lists
    env CTX=$((PARALLEL * SEQ_CTX)) THREADS="$THREADS" $PEER_ENV sh "$PEER/serve.sh" "$MODEL" "$port" -np "$PARALLEL" \
        "$@" >"$tmp/peer.log" 2>&1 &
    SERVER_PID=$!
    URL=http://127.0.0.1:$port
    i=0
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/health" 2>/dev/null || true)
        [ "$code" = 200 ] && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            PEER_RC=0; wait "$SERVER_PID" || PEER_RC=$?
            SERVER_PID=
            return 1
        fi
        [ $i -lt 1800 ] || die "llama-server not ready after 180 s (log: $(tail -n 1 "$tmp/peer.log"))"
        sleep 0.1; i=$((i + 1))
    done
}

# llama.cpp built with GGML_NATIVE on a CPU with AMX uses its AMX buffer type for Q4_0,
# which crashes (SIGSEGV) where the OS does not grant the AMX tile state; --no-repack turns
# the extra buffer types (AMX and CPU_REPACK) off. Fall back to it once and say so.
PEER_NOTE=
start_peer() {
    # shellcheck disable=SC2086
    if try_peer $PEER_ARGS; then return 0; fi
    case " $PEER_ARGS " in *" --no-repack "* | *" -nr "*) crashed=1 ;; *) crashed=0 ;; esac
    if [ $crashed = 0 ] && [ "$PEER_RC" -ge 128 ]; then
        echo "$ME: llama-server died at start-up (exit $PEER_RC, signal $((PEER_RC - 128))); retrying with --no-repack" >&2
        PEER_ARGS="$PEER_ARGS --no-repack"
        PEER_NOTE="llama-server crashed at start-up with its default extra buffer types (exit $PEER_RC); run with --no-repack (no AMX / CPU_REPACK weight layouts)"
        # shellcheck disable=SC2086
        try_peer $PEER_ARGS && return 0
    fi
    tail -n 5 "$tmp/peer.log" >&2
    die "llama-server exited before it was ready (exit $PEER_RC)"
}

# ---- runs ----------------------------------------------------------------------------------
EXTRA='{"cache_prompt":false}' # llama-server's prompt cache would skip the prefill; ours ignores the field
[ "$CACHE_PROMPT" = 1 ] && EXTRA='{}'
field() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) { print substr($i, n + 1); exit } } }' "$1"; }

# run_side SIDE ROUND: every level against the running server; results in $tmp/res/SIDE.LEVEL.ROUND
mkdir "$tmp/res" "$tmp/err"
run_side() {
    side=$1; round=$2; warm=1
    for l in $LEVELS; do
        out=$tmp/res/$side.$l.$round err=$tmp/err/$side.$l.$round
        "$SERVE_LOAD" --url "$URL" --model tinyllama --clients "$l" --requests "$REQUESTS" --max-tokens "$MAX_TOKENS" \
            --warmup $warm --extra "$EXTRA" >"$out" 2>"$err" || { cat "$err" >&2; die "$side: the client failed at $l clients"; }
        warm=0
        if [ -s "$err" ]; then sed "s/^/  [$side] /" "$err" >&2; fi
        printf '  %-9s round %d, %2d clients: %7.2f tok/s  TTFT p50 %7.1f ms  ITL p50 %6.1f ms  (%s tokens from %s, %s errors)\n' \
            "$side" "$round" "$l" "$(field "$out" tok_s)" "$(field "$out" ttft_p50_ms)" "$(field "$out" itl_p50_ms)" \
            "$(field "$out" tokens)" "$(field "$out" tokens_from)" "$(field "$out" errors)"
    done
}

echo "# llmops serve vs llama-server — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, threads=$THREADS, $PARALLEL slots, ctx $SEQ_CTX per slot"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# model: $MODEL ($(du -m "$MODEL" | cut -f1) MiB)"
echo "# load: levels $LEVELS; $REQUESTS streamed /v1/completions per client back-to-back, greedy, ignore_eos, max_tokens $MAX_TOKENS, extra $EXTRA; $ROUNDS round(s)"
if [ $HAVE_PEER = 1 ]; then echo "# llama.cpp: $LLAMA_BIN/llama-server, $("$LLAMA_BIN/llama-server" --version 2>&1 | grep -m1 version || echo unknown version)${PEER_ENV:+, env $PEER_ENV}${PEER_ARGS:+, args $PEER_ARGS}"; fi
r=1
while [ $r -le "$ROUNDS" ]; do
    start_ours; run_side llmops $r; stop_server
    if [ $HAVE_PEER = 1 ]; then start_peer; run_side llama.cpp $r; stop_server; fi
    r=$((r + 1))
done
if [ -n "$PEER_NOTE" ]; then echo "# note: $PEER_NOTE"; fi

# ---- table ---------------------------------------------------------------------------------
# median SIDE LEVEL KEY: the median over rounds of one figure ("-" when absent)
median() {
    for f in "$tmp/res/$1.$2".*; do if [ -f "$f" ]; then field "$f" "$3"; fi; done |
        sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'; }
total() { cat "$tmp"/res/* | awk -v k="$1" '{ for (i = 1; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) s += substr($i, n + 1) } } END { print s + 0 }'; }

echo
echo "figures: medians over $ROUNDS round(s) on a noisy 2-core machine (the client shares the cores); tok/s = generated tokens"
echo "(usage.completion_tokens) of all clients / wall time of the level; TTFT = request sent -> first non-empty text chunk;"
echo "ITL = gap between successive text chunks; p50/p99 over all requests (gaps) of the level; times in ms; ratio = llmops / llama.cpp"
printf '| %7s | %12s | %11s | %5s | %17s | %17s | %15s | %15s |\n' clients "llmops tok/s" "llama tok/s" ratio \
    "TTFT p50 (o / l)" "TTFT p99 (o / l)" "ITL p50 (o / l)" "ITL p99 (o / l)"
printf '|--------:|-------------:|------------:|------:|------------------:|------------------:|----------------:|----------------:|\n'
for l in $LEVELS; do
    o=$(median llmops "$l" tok_s); p=$(median llama.cpp "$l" tok_s)
    printf '| %7s | %12s | %11s | %5s | %17s | %17s | %15s | %15s |\n' "$l" "$o" "$p" "$(ratio "$o" "$p")" \
        "$(median llmops "$l" ttft_p50_ms) / $(median llama.cpp "$l" ttft_p50_ms)" \
        "$(median llmops "$l" ttft_p99_ms) / $(median llama.cpp "$l" ttft_p99_ms)" \
        "$(median llmops "$l" itl_p50_ms) / $(median llama.cpp "$l" itl_p50_ms)" \
        "$(median llmops "$l" itl_p99_ms) / $(median llama.cpp "$l" itl_p99_ms)"
done
echo
# per_round SIDE: "8 clients vs 1" of each round, for judging the noise behind the median
per_round() {
    r=1; out=
    while [ $r -le "$ROUNDS" ]; do
        if [ -f "$tmp/res/$1.8.$r" ]; then out="$out $(ratio "$(field "$tmp/res/$1.8.$r" tok_s)" "$(field "$tmp/res/$1.1.$r" tok_s)")"; fi
        r=$((r + 1))
    done
    echo "${out# }"
}
if echo " $LEVELS " | grep -q ' 1 ' && echo " $LEVELS " | grep -q ' 8 '; then
    echo "8 clients vs 1: $(ratio "$(median llmops 8 tok_s)" "$(median llmops 1 tok_s)")x (target >= 3x; ratio of the medians; per round: $(per_round llmops))"
    if [ $HAVE_PEER = 1 ]; then echo "llama.cpp 8 clients vs 1: $(ratio "$(median llama.cpp 8 tok_s)" "$(median llama.cpp 1 tok_s)")x (per round: $(per_round llama.cpp))"; fi
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
errors=$(total errors)
chunks=$(total chunks); tokens=$(total tokens); cached=$(total cached_prompt_tokens)
echo "tokens counted (usage.completion_tokens, else chunks): $tokens; non-empty text chunks: $chunks; prompt tokens served from a cache: $cached"
if [ "$errors" -gt 0 ]; then
    echo "$ME: $errors request(s) failed (see the messages above); their figures are left out" >&2
    exit 1
fi
