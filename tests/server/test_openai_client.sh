#!/bin/sh
# The official `openai` npm client (smoke.mjs: models, chat, chat stream, completions,
# embeddings — 5/5) and LangChain's ChatOpenAI (invoke, stream — 2/2) against `llmops serve`
# on stories260K over loopback.
# usage: sh test_openai_client.sh LLMOPS SOURCE_DIR SHARED_DIR
LLMOPS=$1
SHARED=$3
command -v node >/dev/null 2>&1 || { echo "SKIP: node is not installed"; exit 77; }
[ -d "$SHARED" ] || { echo "SKIP: $SHARED (test fixtures) is absent"; exit 77; }
PEER=$HOME/.cache/llmops-peers/openai-client
if [ ! -f "$PEER/smoke.mjs" ] || [ ! -d "$PEER/node_modules" ]; then
    sh "$SHARED/peers/openai-client/setup.sh" || { echo "FAIL: openai-client setup.sh"; exit 1; }
fi
M=$SHARED/models/stories260K.gguf
T=${TMPDIR:-/tmp}/llmops_openai_client.$$
mkdir -p "$T" || exit 1
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

. "$2/tests/server/serve_start.sh"
serve_start "$T/err" -m "$M:stories" --threads 1 --parallel 2 --api-key sk-test-key ||
    { echo "FAIL: server did not print 'listening on'"; exit 1; }

cd "$PEER" || exit 1
OPENAI_API_KEY=sk-test-key timeout 120 node smoke.mjs "http://127.0.0.1:$PORT/v1" stories >"$T/smoke" 2>&1 || fail "smoke.mjs exit $?"
cat "$T/smoke"
grep -q "^5 passed, 0 failed" "$T/smoke" || fail "smoke.mjs is not 5/5"
OPENAI_API_KEY=sk-test-key timeout 120 node langchain_smoke.mjs "http://127.0.0.1:$PORT/v1" stories >"$T/lc" 2>&1 || fail "langchain_smoke.mjs exit $?"
cat "$T/lc"
grep -q "^2 passed, 0 failed" "$T/lc" || fail "langchain_smoke.mjs is not 2/2"
# a wrong key is refused by the same client (401)
OPENAI_API_KEY=wrong timeout 60 node smoke.mjs "http://127.0.0.1:$PORT/v1" stories >"$T/bad" 2>&1
grep -q "HTTP 401" "$T/bad" || fail "a wrong key was not answered 401"

kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
[ "$rc" -eq 0 ] || fail "serve exited $rc on SIGTERM"
[ "$fails" -eq 0 ] && echo "ok" && exit 0
exit 1
