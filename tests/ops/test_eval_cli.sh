#!/bin/sh
# `llmops eval` and `llmops models promote` end to end on stories260K (F32 as tiny@1, its
# Q4_0 as tiny@2): an EVAL.jsonl whose references are `llmops generate`'s greedy answers for
# half the lines (exact = 0.5), eval with --json, eval with --baseline (the recorded eval
# reused), promote refused naming the failing gate, promote accepted, usage errors and bad
# lines. On SQLite, and on PostgreSQL too when LLMOPS_TEST_PG is set.
# Usage: sh test_eval_cli.sh LLMOPS SOURCE_DIR SHARED_DIR
LLMOPS=$1
SHARED=$3
M1="$SHARED/models/stories260K.gguf"
M2="$SHARED/models/quant/stories260K-Q4_0.gguf"
[ -f "$M1" ] && [ -f "$M2" ] || { echo "SKIP: stories260K fixtures missing"; exit 77; }
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
# The greedy answer to a prompt as a JSON string (the TEXT line of generate --ids).
answer() { "$LLMOPS" generate -m "$M1" -p "$1" -n 16 --temp 0 --ids 2>/dev/null | sed -n 's/^TEXT //p'; }

cd "$T" || exit 1
{
    echo "{\"prompt\": \"Once upon a time\", \"reference\": $(answer 'Once upon a time')}"
    echo '{"prompt": "The dog", "reference": "ran to the park and played."}'
    echo "{\"prompt\": \"Tom had a red ball\", \"completion\": $(answer 'Tom had a red ball')}"
    echo '{"messages": [{"role": "user", "content": "Tell me a story"}], "references": ["Lily was happy.", "Tom was sad."]}'
} >qa.jsonl
V=$(sha256sum qa.jsonl | cut -d' ' -f1)
V12=$(echo "$V" | cut -c1-12)

run_suite() {
rm -rf "$T/evals"
L models register tiny "$M1" >/dev/null
L models register tiny "$M2" >/dev/null

out=$(L eval -m tiny@1 --data qa.jsonl --max-tokens 16 --out-dir "$T/evals"); rc=$?
check "eval exit" 0 $rc
check "eval first line" "eval run 1: tiny@1 on qa@$V12 (4 samples)" "$(echo "$out" | head -n 1)"
check "eval exact" "exact                0.5000" "$(echo "$out" | grep '^exact ')"
has "eval predictions" "predictions: $T/evals/eval-run-1.jsonl" "$out"
check "predictions lines" 4 "$(wc -l <"$T/evals/eval-run-1.jsonl" | tr -d ' ')"
check "eval metrics rows" 9 "$(echo "$out" | sed -n '/^METRIC/,$p' | tail -n +2 | wc -l | tr -d ' ')"
check "run recorded" "eval" "$(L runs ls --kind eval | tail -n +2 | wc -l | tr -d ' ' | sed 's/^1$/eval/')"
has "model summary" "\"$V\":{\"dataset\":\"qa\",\"run\":1" "$(L models show tiny@1)"

out=$(L eval -m tiny@2 --data qa.jsonl --max-tokens 16 --out-dir "$T/evals" --metrics exact,perplexity --json); rc=$?
check "eval json exit" 0 $rc
has "eval json" "\"run\":2,\"model\":\"tiny@2\",\"dataset\":\"qa@$V\",\"n_samples\":4" "$out"
has "eval json scores" "\"scores\":{\"exact\":" "$out"

out=$(L eval -m tiny@2 --data qa.jsonl --max-tokens 16 --out-dir "$T/evals" --baseline tiny@1); rc=$?
check "eval baseline exit" 0 $rc
has "baseline reused" "baseline tiny@1: run 1 (recorded)" "$out"
check "baseline header" "METRIC                MODEL       BASELINE        DELTA  BETTER" "$(echo "$out" | grep '^METRIC')"
has "baseline perplexity row" "lower (" "$(echo "$out" | grep '^perplexity')"
has "baseline exact row" "higher (" "$(echo "$out" | grep '^exact ')"
out=$(L eval -m tiny@2 --data qa.jsonl --max-tokens 8 --out-dir "$T/evals" --baseline tiny@1 --metrics bleu); rc=$?
has "baseline evaluated" "baseline tiny@1: run 5 (evaluated now)" "$out"

# promotion gates
L models alias tiny@1 production >/dev/null
out=$(L models promote tiny@2 production --require "rougeL>=2*baseline" --require "perplexity<=1.5*baseline" 2>"$T/err"); rc=$?
check "promote refused exit" 1 $rc
has "promote refused names gate" "tiny@2 not promoted to production: rougeL>=2*baseline failed (" "$(cat "$T/err")"
has "promote table fail" "FAIL" "$(echo "$out" | grep '^rougeL>=2\*baseline')"
has "promote table pass" "pass" "$(echo "$out" | grep '^perplexity<=1.5\*baseline')"
has "promote compared on" "compared on qa@$V12: tiny@2 run 3, baseline tiny@1 (production) run 1" "$out"
has "alias not moved" "version: 1" "$(L models show tiny@production)"
out=$(L models promote tiny@2 production --require "perplexity<=1.5*baseline" --require "chrf>=0.5*baseline"); rc=$?
check "promote accepted exit" 0 $rc
check "promote accepted line" "tiny@production is now tiny@2" "$(echo "$out" | tail -n 1)"
has "alias moved" "version: 2" "$(L models show tiny@production)"
out=$(L models promote tiny@1 production --require "rougeL>=" 2>&1); rc=$?
check "promote bad gate" 2 $rc
has "promote bad gate message" "nothing after the operator" "$out"
out=$(L models promote tiny@1 canary --require "rougeL>=baseline" 2>&1); rc=$?
check "promote no alias holder" "1" "$rc"
has "promote no alias holder message" "no version of tiny is canary yet" "$out"
out=$(L models alias tiny@1 x --require "bleu>=1" 2>&1); rc=$?
check "require only with promote" 2 $rc

# the deployment's primary arm
L deploy web tiny@2 --canary tiny@1:10% >/dev/null
out=$(L eval --deployment web --data qa.jsonl --max-tokens 16 --metrics exact --out-dir "$T/evals"); rc=$?
check "eval deployment" "0 eval run 6: tiny@2 on qa@$V12 (4 samples)" "$rc $(echo "$out" | head -n 1)"

# errors
out=$(L eval -m tiny@1 2>&1); rc=$?
check "eval no data" 2 $rc
out=$(L eval --data qa.jsonl 2>&1); rc=$?
check "eval no model" 2 $rc
out=$(L eval -m tiny@1 --data qa.jsonl --metrics bleu,meteor 2>&1); rc=$?
check "eval bad metric" "2 llmops eval: --metrics: unknown metric 'meteor'" "$rc $(echo "$out" | head -n 1)"
printf '{"prompt": "a", "reference": "b"}\n{"prompt": "a"}\n' >bad.jsonl
out=$(L eval -m tiny@1 --data bad.jsonl --out-dir "$T/evals" 2>&1); rc=$?
check "eval bad line" "1 llmops eval: bad.jsonl line 2: no reference (\"reference\", \"references\" or \"completion\")" "$rc $(echo "$out" | head -n 1)"
out=$(L eval -m nosuch --data qa.jsonl 2>&1); rc=$?
check "eval unknown model" "1 llmops eval: no model nosuch" "$rc $(echo "$out" | head -n 1)"
has "help eval" "--deployment NAME  evaluate the deployment's primary arm" "$("$LLMOPS" help eval)"
}

STORE="sqlite:$T/store/llmops.db"
run_suite
# default predictions directory: evals/ beside the SQLite file
out=$(L eval -m tiny@1 --data qa.jsonl --max-tokens 4 --metrics exact); rc=$?
has "default out dir" "predictions: $T/store/evals/eval-run-" "$out"

if [ -n "${LLMOPS_TEST_PG:-}" ] && command -v psql >/dev/null 2>&1; then
    schema="lo_eval_cli_$$"
    psql -q "$LLMOPS_TEST_PG" -c "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema" >/dev/null 2>&1
    case $LLMOPS_TEST_PG in *\?*) sep='&' ;; *) sep='?' ;; esac
    STORE="$LLMOPS_TEST_PG${sep}options=-csearch_path%3D$schema"
    echo "--- postgres"
    run_suite
    psql -q "$LLMOPS_TEST_PG" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
else
    echo "(LLMOPS_TEST_PG unset: the eval CLI suite ran on SQLite only)"
fi
exit $fail
