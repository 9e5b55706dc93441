#!/bin/sh
# The records commands end to end on a fresh SQLite store (and PostgreSQL too when
# LLMOPS_TEST_PG is set): datasets, runs, models, deploy, deployments, costs, feedback, keys — their
# output, exit codes and error messages, --store and LLMOPS_STORE.
# Usage: sh test_ops_cli.sh LLMOPS SOURCE_DIR SHARED_DIR
LLMOPS=$1
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail=0
check() { # name expected actual
    if [ "$2" != "$3" ]; then
        printf 'FAIL %s\n  expected: %s\n  got:      %s\n' "$1" "$2" "$3"
        fail=1
    else
        printf 'ok   %s\n' "$1"
    fi
}
has() { # name needle haystack
    case $3 in *"$2"*) printf 'ok   %s\n' "$1" ;; *) printf 'FAIL %s\n  wanted: %s\n  in:     %s\n' "$1" "$2" "$3"; fail=1 ;; esac
}
L() { "$LLMOPS" "$@" --store "$STORE"; }

run_suite() {
cd "$T" || exit 1
rm -rf data && mkdir data
printf '{"q":"a"}\n{"q":"b"}\n{"q":"c"}\n' >data/v1.jsonl
printf '{"q":"a"}\n{"q":"c"}\n{"q":"d"}\n{"q":"e"}\n' >data/v2.jsonl
printf 'q,a\nx,1\n"y,z",2\n' >data/t.csv
: >data/empty.txt
"$LLMOPS" gen-model --arch llama --shape custom --dim 32 --layers 1 --heads 2 --kv-heads 2 --ff 64 --vocab 300 --type F32 --seed 1 data/m1.gguf >/dev/null 2>&1
"$LLMOPS" gen-model --arch llama --shape custom --dim 32 --layers 1 --heads 2 --kv-heads 2 --ff 64 --vocab 300 --type F32 --seed 2 data/m2.gguf >/dev/null 2>&1
V1=$(sha256sum data/v1.jsonl | cut -d' ' -f1)
V2=$(sha256sum data/v2.jsonl | cut -d' ' -f1)

# datasets
check "datasets add" "added dataset qa@$V1: jsonl, 3 rows, 30 bytes" "$(L datasets add qa data/v1.jsonl)"
check "datasets add again" "unchanged dataset qa@$V1: jsonl, 3 rows, 30 bytes" "$(L datasets add qa data/v1.jsonl)"
L datasets add qa data/v2.jsonl >/dev/null
check "datasets add csv" "added dataset tab@$(sha256sum data/t.csv | cut -d' ' -f1): csv, 2 rows, 16 bytes" "$(L datasets add tab data/t.csv)"
check "datasets ls rows" "3" "$(L datasets ls | tail -n +2 | wc -l | tr -d ' ')"
check "datasets ls NAME newest first" "$(echo "$V2" | cut -c1-12)" "$(L datasets ls qa | sed -n 2p | awk '{print $2}')"
check "datasets show prefix" "rows: 3" "$(L datasets show "qa@$(echo "$V1" | cut -c1-6)" | grep '^rows')"
check "datasets diff" '+{"q":"d"}
+{"q":"e"}
-{"q":"b"}
2 added, 1 removed' "$(L datasets diff qa "$V1" "$V2")"
check "datasets diff --stat" "2 added, 1 removed" "$(L datasets diff qa "$V1" "$V2" --stat)"
out=$(L datasets add "bad name" data/v1.jsonl 2>&1); rc=$?
check "datasets bad name exit" 1 $rc
has "datasets bad name message" "dataset name 'bad name' has a bad character" "$out"
out=$(L datasets add e data/empty.txt 2>&1); rc=$?
check "datasets empty exit" 1 $rc
has "datasets empty message" "is empty" "$out"
out=$(L datasets show qa@zz 2>&1); rc=$?
has "datasets bad version" "not a sha256" "$out"
out=$(L datasets show nope 2>&1)
has "datasets unknown hint" "hint: \`llmops datasets ls\`" "$out"
out=$(L datasets frob 2>&1); rc=$?
check "datasets usage exit" 2 $rc

# runs and models
RUN=$(L runs create --kind finetune --params '{"lr":0.001}' --dataset "qa@$(echo "$V1" | cut -c1-8)")
check "runs create id" 1 "$RUN"
L runs log "$RUN" loss 2.5 --step 1 && L runs log "$RUN" loss 1.25 --step 2 && L runs log "$RUN" acc 0.5 --step 2
L runs artifact "$RUN" data/m2.gguf && L runs end "$RUN"
out=$(L runs show "$RUN")
has "runs show status" "status: succeeded" "$out"
has "runs show dataset" "dataset: qa@$V1" "$out"
has "runs show metric" "loss                 step 2        1.25" "$out"
has "runs show artifact" "m2.gguf  $(wc -c <data/m2.gguf | tr -d ' ') bytes  sha256 $(sha256sum data/m2.gguf | cut -d' ' -f1)" "$out"
out=$(L runs log "$RUN" loss abc 2>&1); rc=$?
check "runs log bad value" "2 llmops runs: metric value 'abc' is not a number" "$rc $(echo "$out" | head -n 1)"
out=$(L runs end "$RUN" --status done 2>&1)
has "runs end bad status" "run status 'done' is not known" "$out"
out=$(L runs create --kind eval --params '[1]' 2>&1)
has "runs params object" "run params are not a JSON object" "$out"
out=$(L runs show 99 2>&1); rc=$?
check "runs show unknown" "1 llmops runs: no run 99" "$rc $(echo "$out" | head -n 1)"

check "models register" "registered model tiny@1 sha256 $(sha256sum data/m1.gguf | cut -d' ' -f1)" "$(L models register tiny data/m1.gguf)"
check "models register again" "unchanged model tiny@1 sha256 $(sha256sum data/m1.gguf | cut -d' ' -f1)" "$(L models register tiny data/m1.gguf)"
check "models register v2" "registered model tiny@2 sha256 $(sha256sum data/m2.gguf | cut -d' ' -f1)" "$(L models register tiny data/m2.gguf --run "$RUN" --base tiny@1)"
out=$(L models register tiny data/v1.jsonl 2>&1); rc=$?
check "models register not gguf exit" 1 $rc
out=$(L models register tiny data/m2.gguf --base ghost@1 2>&1)
has "models bad base" "no model ghost@1" "$out"
check "models alias" "tiny@production is now tiny@1" "$(L models alias tiny@1 production)"
L models tag tiny@2 quant=f32 && L models tag tiny@2 reviewed
check "models tags" "quant=f32
reviewed" "$(L models tags tiny@2)"
out=$(L models show tiny@2)
has "models show base" "base: tiny@1" "$out"
has "models show run" "run: $RUN" "$out"
has "models show metadata" '"arch":"llama"' "$out"
check "models show alias" "version: 1" "$(L models show tiny@production | grep '^version')"
check "models ls" "2" "$(L models ls tiny | tail -n +2 | wc -l | tr -d ' ')"
out=$(L models alias tiny@1 42 2>&1)
has "models numeric alias" "would read as a version number" "$out"

# deployments
check "deploy" "web revision 1: tiny@1 100%" "$(L deploy web tiny@1)"
check "deploy canary" "web revision 2 sticky: tiny@1 90% tiny@2 10%" "$(L deploy web tiny@1 --canary tiny@2:10% --sticky)"
check "deploy promote" "web revision 3 sticky: tiny@2 100%" "$(L deploy promote web)"
check "deploy rollback" "web revision 2 sticky: tiny@1 90% tiny@2 10%" "$(L deploy rollback web)"
check "deploy rollback again" "web revision 1: tiny@1 100%" "$(L deploy rollback web)"
out=$(L deploy rollback web 2>&1); rc=$?
check "deploy rollback none" "1 llmops deploy: deployment web has no earlier revision to roll back to" "$rc $(echo "$out" | head -n 1)"
out=$(L deploy web tiny@1 --canary tiny@2:150% 2>&1)
has "deploy canary range" "canary share 150% is out of range" "$out"
out=$(L deploy web tiny@1 --canary tiny@2 2>&1); rc=$?
check "deploy canary syntax" 2 $rc
check "deploy ls" "web revision 1: tiny@1 100%" "$(L deploy ls)"

# keys
SECRET=$(L keys create ci --budget 0.01 --rate-limit 60 2>/dev/null)
has "keys create secret" "lo_" "$SECRET"
KID=$(echo "$SECRET" | cut -d. -f1)
out=$(L keys ls)
has "keys ls" "$KID  ci" "$out"
has "keys ls limits" "inference       0.01     0.0000       60" "$out"
out=$(L keys create ci 2>&1); rc=$?
check "keys duplicate" "1 llmops keys: a key named ci exists" "$rc $(echo "$out" | head -n 1)"
out=$(L keys create root --role boss 2>&1); rc=$?
check "keys bad role" 2 $rc
if [ -n "$(command -v sqlite3)" ] && [ "${STORE#sqlite:}" != "$STORE" ]; then
    check "keys secret not stored" 0 "$(sqlite3 "${STORE#sqlite:}" "SELECT COUNT(*) FROM api_keys WHERE hash = '$SECRET' OR salt = '$SECRET'")"
fi

# prices and costs: hand-computed
#   r1 tiny@1 1000 in 200 out at $1/M in, $10/M out (1.80 $/h at 500 and 50 tok/s) = 0.003
#   r2 tiny@1 250000 in 40000 out = 0.25 + 0.40 = 0.65       (deployment web, key $KID)
#   r3 gpt-x 1000000 in 1000000 out at 0.15/0.60 = 0.75
check "costs price derived" "tiny: \$1.000000 per M input tokens, \$10.000000 per M output tokens" "$(L costs price tiny --usd-per-hour 1.8 --input-tps 500 --output-tps 50)"
L costs price gpt-x --input 0.15 --output 0.60 >/dev/null
out=$(L costs price gpt-x --input -1 --output 2 2>&1)
has "costs bad price" "input price -1 is not between 0 and 1000000" "$out"
out=$(L costs price gpt-x --input 1 2>&1); rc=$?
check "costs price half" 2 $rc
L costs record tiny@1 --prompt-tokens 1000 --completion-tokens 200 --id r1 >/dev/null
L costs record tiny@1 --prompt-tokens 250000 --completion-tokens 40000 --deployment web --key "$KID" --id r2 >/dev/null
L costs record gpt-x --prompt-tokens 1000000 --completion-tokens 1000000 --id r3 >/dev/null
out=$(L costs record tiny@1 --prompt-tokens 1 --completion-tokens 1 --deployment ghost 2>&1)
has "costs record unknown deployment" "no deployment ghost" "$out"
check "costs by model" "MODEL                              REQUESTS     PROMPT_TOK      COMPL_TOK       COST_USD
gpt-x                                     1        1000000        1000000       0.750000
tiny@1                                    2         251000          40200       0.653000
TOTAL                                     3        1251000        1040200       1.403000" "$(L costs)"
check "costs by deployment" "web 0.650000" "$(L costs --by deployment | awk '$1=="web"{print $1, $5}')"
check "costs by key" "$KID 0.650000" "$(L costs --by key | awk -v k="$KID" '$1==k{print $1, $5}')"
check "costs since future" "TOTAL 0" "$(L costs --since 2999-01-01 | awk '$1=="TOTAL"{print $1, $2}')"
out=$(L costs --since yesterday 2>&1); rc=$?
check "costs bad since" "1 llmops costs: 'yesterday' is not a date" "$rc $(echo "$out" | head -n 1)"
out=$(L costs --by user 2>&1); rc=$?
check "costs bad by" 2 $rc
check "keys ls spent" "0.6500" "$(L keys ls | awk -v k="$KID" '$1==k{print $5}')"
check "keys revoke" "revoked ci" "$(L keys revoke ci)"
has "keys ls revoked" "revoked" "$(L keys ls | grep "$KID")"

# deployment stats: per arm, hand-computed ($1/M in, $10/M out for tiny)
#   tiny@1 on web: r2 (250000 in, 40000 out, $0.65, no timings), s1 (10 in, 100 out,
#     TTFT 20, latency 500), s2 (10 in, 300 out, TTFT 40, latency 1500, error)
#     → 3 requests, 1 error, 250020 in, 40400 out, 0.65 + 0.00101 + 0.00301 = $0.65402,
#       TTFT p50/p99 20/40, latency 500/1500, 400 tokens / 2.0 s = 200 tok/s
#   tiny@2 (canary 20%): s3 (5 in, 50 out, TTFT 10, latency 250) → $0.000505, 200 tok/s
check "deployments show" "web revision 4: tiny@1 80% tiny@2 20%" "$(L deploy web tiny@1 --canary tiny@2:20% >/dev/null && L deployments show web)"
check "deployments ls" "web revision 4: tiny@1 80% tiny@2 20%" "$(L deployments ls)"
L costs record tiny@1 --prompt-tokens 10 --completion-tokens 100 --deployment web --ttft-ms 20 --latency-ms 500 --id s1 >/dev/null
L costs record tiny@1 --prompt-tokens 10 --completion-tokens 300 --deployment web --ttft-ms 40 --latency-ms 1500 --status error --id s2 >/dev/null
L costs record tiny@2 --prompt-tokens 5 --completion-tokens 50 --deployment web --ttft-ms 10 --latency-ms 250 --id s3 >/dev/null
check "deployments stats" "ARM                       WEIGHT  REQUESTS  ERRORS  PROMPT_TOK   COMPL_TOK     COST_USD  TTFT_P50  TTFT_P99   LAT_P50   LAT_P99     TOK/S
tiny@1                     80.0%         3       1      250020       40400     0.654020      20.0      40.0     500.0    1500.0     200.0
tiny@2                     20.0%         1       0           5          50     0.000505      10.0      10.0     250.0     250.0     200.0" "$(L deployments stats web)"
out=$(L deployments stats web --json)
has "deployments stats json" '"model":"tiny@2","model_id":2,"weight":20.0,"requests":1,"errors":0,"prompt_tokens":5,"completion_tokens":50,"cost_usd":0.000505,"ttft_p50_ms":10.0,"ttft_p99_ms":10.0,"latency_p50_ms":250.0,"latency_p99_ms":250.0,"tokens_per_s":200.0}' "$out"
has "deployments stats json head" '{"deployment":"web","since_ms":0,"arms":[{"model":"tiny@1"' "$out"
check "deployments stats since" "tiny@1 0 - -" "$(L deployments stats web --since 2999-01-01 | awk 'NR==2{print $1, $3, $8, $12}')"
check "deployments stats since json" '"ttft_p50_ms":null' "$(L deployments stats web --since 2999-01-01 --json | grep -o '"ttft_p50_ms":null' | head -n 1)"
out=$(L deployments stats ghost 2>&1); rc=$?
check "deployments stats unknown" "1 llmops deployments: no deployment ghost" "$rc $(echo "$out" | head -n 1)"
out=$(L deployments stats 2>&1); rc=$?
check "deployments stats no name" 2 $rc
out=$(L deployments show web --json 2>&1); rc=$?
check "deployments json only for stats" 2 $rc
out=$(L costs record tiny@1 --prompt-tokens 1 --completion-tokens 1 --latency-ms -3 2>&1); rc=$?
check "costs record bad latency" "2 llmops costs: --latency-ms takes milliseconds (a number >= 0), not '-3'" "$rc $(echo "$out" | head -n 1)"

# feedback
check "feedback add" "feedback 1 recorded on request r2" "$(L feedback add r2 --thumbs down --corrected 'better answer' --author ann)"
out=$(L feedback add nope --rating 5 2>&1); rc=$?
check "feedback unknown request" "1 llmops feedback: no request nope" "$rc $(echo "$out" | head -n 1)"
out=$(L feedback add r2 --rating 9 2>&1); rc=$?
check "feedback bad rating" 2 $rc
out=$(L feedback add r2 2>&1); rc=$?
check "feedback no score" 2 $rc
check "feedback export sft" "wrote 0 sft examples to $T/sft.jsonl" "$(L feedback export --format sft "$T/sft.jsonl")"
check "feedback export file" "0" "$(wc -c <"$T/sft.jsonl" | tr -d ' ')"
out=$(L feedback export --format dpo x.jsonl 2>&1); rc=$?
check "feedback bad format" 2 $rc
}

# SQLite through --store, then LLMOPS_STORE and the default path.
STORE="sqlite:$T/store/llmops.db"
run_suite
check "LLMOPS_STORE" "2" "$(cd "$T" && LLMOPS_STORE="$STORE" "$LLMOPS" models ls tiny | tail -n +2 | wc -l | tr -d ' ')"
mkdir -p "$T/cwd"
check "default store" "NAME                     VERSION      FMT         ROWS        BYTES  CREATED" "$(cd "$T/cwd" && env -u LLMOPS_STORE "$LLMOPS" datasets ls)"
[ -f "$T/cwd/llmops-data/llmops.db" ] && check "default store file" yes yes || check "default store file" yes no
out=$("$LLMOPS" keys ls --store "postgres://nobody@127.0.0.1:1/x" 2>&1); rc=$?
check "unreachable store exit" 1 $rc

if [ -n "${LLMOPS_TEST_PG:-}" ] && command -v psql >/dev/null 2>&1; then
    schema="lo_ops_cli_$$"
    psql -q "$LLMOPS_TEST_PG" -c "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema" >/dev/null 2>&1
    case $LLMOPS_TEST_PG in *\?*) sep='&' ;; *) sep='?' ;; esac
    STORE="$LLMOPS_TEST_PG${sep}options=-csearch_path%3D$schema"
    echo "--- postgres"
    run_suite
    psql -q "$LLMOPS_TEST_PG" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
else
    echo "(LLMOPS_TEST_PG unset: the CLI suite ran on SQLite only)"
fi
exit $fail
