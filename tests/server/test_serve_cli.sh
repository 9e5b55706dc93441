#!/bin/sh
# `llmops serve`: usage errors (exit 2), a bad model or template, an empty store or an
# unknown deployment (exit 1), the "listening on" line with --port 0, 429 + Retry-After
# when the queue is full, and graceful shutdown: SIGTERM during a long request lets it
# finish (200, whole answer), then exit 0.
# usage: sh test_serve_cli.sh LLMOPS SOURCE_DIR SHARED_DIR
LLMOPS=$1
SHARED=$3
[ -d "$SHARED" ] || { echo "SKIP: $SHARED (test fixtures) is absent"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed"; exit 77; }
M=$SHARED/models/stories260K.gguf
T=${TMPDIR:-/tmp}/llmops_serve_cli.$$
mkdir -p "$T" || exit 1
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$LLMOPS" serve >/dev/null 2>&1; [ $? -eq 2 ] || fail "no -m: want exit 2"
"$LLMOPS" serve -m "$M" --port 99999 >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad port: want exit 2"
"$LLMOPS" serve -m "$M" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option: want exit 2"
"$LLMOPS" serve -m "$T/missing.gguf" --port 0 >/dev/null 2>"$T/e1"; [ $? -eq 1 ] || fail "missing model: want exit 1"
"$LLMOPS" serve -m "$M" --port 0 --chat-template nonsense >/dev/null 2>"$T/e2"; [ $? -eq 1 ] || fail "bad template: want exit 1"
grep -q "llama3" "$T/e2" || fail "bad template message does not list the names: $(cat "$T/e2")"
"$LLMOPS" help serve | grep -q -- "--api-key-file" || fail "help serve lacks --api-key-file"
# store flags need a store; a store without deployments and no -m has nothing to serve
env -u LLMOPS_STORE "$LLMOPS" serve -m "$M" --deployment chat >/dev/null 2>&1; [ $? -eq 2 ] || fail "--deployment without a store: want exit 2"
"$LLMOPS" serve --store "sqlite:$T/empty.db" --port 0 >/dev/null 2>"$T/e3"; [ $? -eq 1 ] || fail "empty store: want exit 1"
grep -q "llmops deploy" "$T/e3" || fail "empty store message does not say how to deploy: $(cat "$T/e3")"
"$LLMOPS" serve --store "sqlite:$T/empty.db" --deployment nope --port 0 >/dev/null 2>&1; [ $? -eq 1 ] || fail "unknown deployment: want exit 1"

. "$2/tests/server/serve_start.sh"
start() { serve_start "$T/err" "$@" --threads 1; }

# queue full: 1 slot, queue of 1; three long requests at once → one gets 429 with Retry-After
start -m "$M:st" --parallel 1 --max-queue 1 --ctx 512 || fail "server did not start"
REQ='{"prompt":"Once upon a time","max_tokens":400,"temperature":0,"ignore_eos":true}'
for i in 1 2 3; do
    curl -s -D "$T/h$i" -o "$T/b$i" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/completions" -d "$REQ" >"$T/c$i" &
done
wait_curl() { for _ in $(seq 1 600); do [ -s "$T/c1" ] && [ -s "$T/c2" ] && [ -s "$T/c3" ] && return; sleep 0.1; done; }
wait_curl
codes=$(cat "$T/c1" "$T/c2" "$T/c3" | tr '\n' ' ')
echo "queue codes: $codes"
n429=$(cat "$T/c1" "$T/c2" "$T/c3" | grep -c 429)
n200=$(cat "$T/c1" "$T/c2" "$T/c3" | grep -c 200)
[ "$n429" -ge 1 ] || fail "no 429 when the queue was full ($codes)"
[ "$n200" -ge 1 ] || fail "no 200 among $codes"
grep -qi "^Retry-After: 1" "$T"/h1 "$T"/h2 "$T"/h3 || fail "429 without Retry-After"
grep -q '"code":"rate_limit_exceeded"' "$T"/b1 "$T"/b2 "$T"/b3 || fail "429 body is not OpenAI's error"

# graceful shutdown: a request in flight when SIGTERM arrives still completes
curl -s -o "$T/long" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/completions" -d "$REQ" >"$T/lcode" &
CURL=$!
sleep 0.3
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
wait "$CURL"
[ "$rc" -eq 0 ] || fail "serve exited $rc after SIGTERM"
[ "$(cat "$T/lcode")" = "200" ] || fail "in-flight request got $(cat "$T/lcode") during shutdown"
grep -q '"completion_tokens":400' "$T/long" || fail "in-flight request was cut short: $(head -c 300 "$T/long")"
grep -q "stopped" "$T/err" || fail "no 'stopped' line"

# clients that give up on non-streamed and queued requests: their sequences are cancelled
start -m "$M:st" --parallel 2 --ctx 2048 || fail "server did not start (3)"
CURLS=
for i in 1 2 3 4 5 6; do
    curl -s --max-time 0.3 "http://127.0.0.1:$PORT/v1/completions" -d '{"prompt":"hi","max_tokens":2000,"ignore_eos":true}' >/dev/null &
    CURLS="$CURLS $!"
done
for c in $CURLS; do wait "$c"; done
sleep 0.5
curl -s "http://127.0.0.1:$PORT/health" >"$T/h"
grep -q '"slots_processing":0,"slots_idle":2,"queued":0' "$T/h" || fail "slots not freed after clients left: $(cat "$T/h")"
aborts=$(curl -s "http://127.0.0.1:$PORT/metrics" | sed -n 's/^llmops_sequences_finished_total{model="st",reason="abort"} //p')
[ "${aborts:-0}" -ge 5 ] || fail "only ${aborts:-0} of 6 abandoned requests were cancelled"
kill -TERM "$PID"; wait "$PID"; PID=

# several models at once (a decoder and an encoder); SIGINT with nothing in flight: exit 0
B=$SHARED/models/synthetic/bert.f32.gguf
start -m "$M" -m "$B:enc" || fail "server did not start (2)"
curl -s "http://127.0.0.1:$PORT/v1/models" >"$T/models"
grep -q '"id":"stories260K"' "$T/models" && grep -q '"id":"enc"' "$T/models" || fail "models: $(cat "$T/models")"
curl -s "http://127.0.0.1:$PORT/v1/embeddings" -d '{"model":"enc","input":"hello world"}' >"$T/emb"
[ "$(grep -o ',' "$T/emb" | wc -l)" -gt 127 ] && grep -q '"object":"embedding"' "$T/emb" || fail "encoder embeddings: $(head -c 200 "$T/emb")"
code=$(curl -s -o "$T/encgen" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/completions" -d '{"model":"enc","prompt":"hi"}')
[ "$code" = "400" ] && grep -q '"error"' "$T/encgen" || fail "generation on an encoder: $code $(cat "$T/encgen")"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/completions" -d '{"model":"stories260K","prompt":"Once","max_tokens":2}')
[ "$code" = "200" ] || fail "second model's completions: $code"
kill -INT "$PID"
wait "$PID"
rc=$?
PID=
[ "$rc" -eq 0 ] || fail "serve exited $rc after SIGINT"

[ "$fails" -eq 0 ] && echo "ok" && exit 0
exit 1
