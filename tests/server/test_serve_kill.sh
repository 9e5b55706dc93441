#!/bin/sh
# `llmops serve --store` killed with SIGKILL under load: every feedback answered 200 is in
# the store (feedback is written before its answer), and every answered request is in
# the request log except at most those the log could still hold — the ones answered in
# the last flush window (--log-flush-ms 200; counted here as the answers of the last
# second before the kill, which also covers a batch being committed).
# usage: sh test_serve_kill.sh LLMOPS SOURCE_DIR SHARED_DIR
LLMOPS=$1
SHARED=$3
[ -d "$SHARED" ] || { echo "SKIP: $SHARED (test fixtures) is absent"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed"; exit 77; }
command -v sqlite3 >/dev/null 2>&1 || { echo "SKIP: sqlite3 is not installed"; exit 77; }
M=$SHARED/models/stories260K.gguf
T=${TMPDIR:-/tmp}/llmops_serve_kill.$$
mkdir -p "$T" || exit 1
DB=$T/llmops.db
STORE=sqlite:$DB
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$LLMOPS" models register tiny "$M" --store "$STORE" >/dev/null || { echo "FAIL: register"; exit 1; }
"$LLMOPS" deploy chat tiny@1 --store "$STORE" >/dev/null || { echo "FAIL: deploy"; exit 1; }
KEY=$("$LLMOPS" keys create app --store "$STORE" 2>/dev/null) || { echo "FAIL: keys create"; exit 1; }

. "$2/tests/server/serve_start.sh"
serve_start "$T/err" --store "$STORE" --threads 1 --parallel 4 --log-flush-ms 200 || { echo "FAIL: server did not start"; exit 1; }
URL=http://127.0.0.1:$PORT

# one client: completions by deployment name; feedback on every third answer
client() {
    w=$1
    n=0
    while [ ! -e "$T/stop" ]; do
        body=$(curl -s --max-time 10 -H "Authorization: Bearer $KEY" "$URL/v1/completions" \
            -d '{"model":"chat","prompt":"Once upon a time","max_tokens":4,"temperature":0}') || continue
        id=$(printf '%s' "$body" | sed -n 's/^{"id":"\(cmpl-[0-9a-f]*\)".*/\1/p')
        [ -n "$id" ] || continue
        echo "$(date +%s.%N) $id" >>"$T/ok.$w"
        n=$((n + 1))
        if [ $((n % 3)) -eq 0 ]; then
            code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" "$URL/v1/feedback" \
                -d "{\"request_id\":\"$id\",\"thumbs\":\"up\"}")
            [ "$code" = 200 ] && echo "$id" >>"$T/fb.$w"
        fi
    done
}
for w in 1 2 3 4; do client $w & done
sleep 3
kill -9 "$PID"
KILLED=$(date +%s.%N)
PID=
touch "$T/stop"
wait

cat "$T"/ok.* 2>/dev/null | sort >"$T/ok"
cat "$T"/fb.* 2>/dev/null | sort >"$T/fb"
answered=$(wc -l <"$T/ok")
feedback=$(wc -l <"$T/fb")
[ "$answered" -ge 20 ] || fail "only $answered requests answered under load"
[ "$feedback" -ge 5 ] || fail "only $feedback feedback answers"

# every feedback answered 200 is stored
awk '{print "SELECT COUNT(*) FROM feedback f JOIN requests r ON r.id = f.request_id WHERE r.external_id = '\''" $1 "'\'';"}' \
    "$T/fb" | sqlite3 "$DB" >"$T/fbcount"
lost_fb=$(grep -c '^0$' "$T/fbcount")
[ "$lost_fb" -eq 0 ] || fail "$lost_fb of $feedback feedback answered 200 are not in the store"

# every answered request is logged, but for the last flush window's
awk '{print "SELECT COUNT(*) FROM requests WHERE external_id = '\''" $2 "'\'';"}' "$T/ok" | sqlite3 "$DB" >"$T/logged"
missing=$(grep -c '^0$' "$T/logged")
window=$(awk -v k="$KILLED" '$1 > k - 1.0 { n++ } END { print n + 0 }' "$T/ok")
echo "answered $answered, feedback $feedback, not logged $missing, answered in the last second $window"
[ "$missing" -le "$window" ] || fail "$missing answered requests are not logged (bound: $window answered in the last second)"
# the store is intact and still serves the CLI
"$LLMOPS" feedback export --format sft "$T/sft.jsonl" --store "$STORE" >/dev/null 2>&1 || fail "feedback export after the kill"

[ "$fails" -eq 0 ] || exit 1
echo "ok"
