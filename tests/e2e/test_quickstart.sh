#!/bin/sh
# `llmops quickstart --minutes 1 --no-serve` in a temporary directory: every record of the
# loop exists with its lineage, the fine-tune beats its base on held-out ROUGE-L, a re-run
# reuses the models and re-gates the fine-tune against its base, the printed commands run
# as printed (the directory has a space in its name), and the deployment it made answers
# the official `openai` client.
# usage: sh test_quickstart.sh LLMOPS SOURCE_DIR SHARED_DIR
LLMOPS=$1
SHARED=$3
T=${TMPDIR:-/tmp}/llmops_quickstart.$$
mkdir -p "$T" || exit 1
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
D="$T/quick start"
S=sqlite:$D/llmops.db

"$LLMOPS" quickstart --minutes 1 --no-serve --dir "$D" --port 0 --threads 2 >"$T/out" 2>"$T/err"
rc=$?
grep -v '^\[' "$T/out"
[ $rc -eq 0 ] || { cat "$T/err"; echo "FAIL: quickstart exit $rc"; exit 1; }

# datasets: the two generated files and the held-out questions
"$LLMOPS" datasets ls --store "$S" >"$T/ds" || fail "datasets ls"
for n in quickstart-pretrain quickstart-product-qa quickstart-product-qa-heldout; do
    grep -q "^$n " "$T/ds" || fail "dataset $n missing"
done
# models: version 1 from run 1 (no base), version 2 from run 2 on base version 1
"$LLMOPS" models show lumen-assistant@1 --store "$S" >"$T/m1" || fail "models show @1"
"$LLMOPS" models show lumen-assistant@2 --store "$S" >"$T/m2" || fail "models show @2"
grep -q "^run: 1$" "$T/m1" || fail "version 1 is not from run 1"
grep -q "^base: -$" "$T/m1" || fail "version 1 has a base"
grep -q "^run: 2$" "$T/m2" || fail "version 2 is not from run 2"
grep -q "^base: lumen-assistant@1$" "$T/m2" || fail "version 2's base is not version 1"
grep -q "^aliases: production$" "$T/m2" || fail "version 2 was not promoted to production"
# runs: pretraining on the stories, the LoRA run on the Q&A with its base, two evaluations
"$LLMOPS" runs show 1 --store "$S" >"$T/r1" || fail "runs show 1"
"$LLMOPS" runs show 2 --store "$S" >"$T/r2" || fail "runs show 2"
grep -q "^dataset: quickstart-pretrain@" "$T/r1" || fail "run 1 has no pretraining dataset"
grep -q '"method":"full"' "$T/r1" || fail "run 1 is not full training"
grep -q "^dataset: quickstart-product-qa@" "$T/r2" || fail "run 2 has no Q&A dataset"
grep -q "^base model: lumen-assistant@1$" "$T/r2" || fail "run 2 has no base"
grep -q '"method":"lora"' "$T/r2" || fail "run 2 is not LoRA"
grep -q "val_loss" "$T/r1" || fail "run 1 has no validation loss series"
grep -q "lora.gguf" "$T/r2" || fail "run 2 has no adapter artifact"
[ "$("$LLMOPS" runs ls --kind eval --store "$S" | grep -c succeeded)" -eq 2 ] || fail "not two eval runs"
# the fine-tune beats its base on held-out ROUGE-L (the scores recorded on each version)
r1=$(sed -n 's/.*"rougeL":\([0-9.e-]*\).*/\1/p' "$T/m1")
r2=$(sed -n 's/.*"rougeL":\([0-9.e-]*\).*/\1/p' "$T/m2")
echo "held-out ROUGE-L: base $r1, fine-tuned $r2"
awk -v a="$r1" -v b="$r2" 'BEGIN { exit !(a != "" && b != "" && b > a) }' || fail "fine-tuned ROUGE-L $r2 is not above base $r1"
# deployment 90/10, requests logged per arm, feedback on every request
"$LLMOPS" deploy show lumen-assistant --store "$S" >"$T/dep" || fail "deploy show"
grep -q "lumen-assistant@2 90% lumen-assistant@1 10%" "$T/dep" || fail "deployment is not 90/10: $(cat "$T/dep")"
"$LLMOPS" deployments stats lumen-assistant --store "$S" >"$T/stats" || fail "deployments stats"
n_req=$(awk '$1 ~ /^lumen-assistant@/ { n += $3 } END { print n + 0 }' "$T/stats")
[ "$n_req" -eq 16 ] || fail "16 requests should be logged, found $n_req"
"$LLMOPS" feedback export --format sft "$T/sft.jsonl" --store "$S" >/dev/null || fail "feedback export"
[ "$(wc -l <"$T/sft.jsonl")" -eq 16 ] || fail "every request should have feedback turned into a training line"
grep -q '"assistant","content":"The Lumen 7' "$T/sft.jsonl" || fail "exported answers are not the product's"

# a printed "what next" command runs as printed
line=$(grep '^  llmops runs ls --store ' "$T/out")
[ -n "$line" ] || fail "no 'llmops runs ls' among the next steps"
eval "\"\$LLMOPS\" ${line#  llmops }" >"$T/runs" 2>&1 || fail "the printed '$line' failed: $(cat "$T/runs")"
grep -q "^2 *train *succeeded" "$T/runs" || fail "the printed runs ls does not show the LoRA run"

# a re-run reuses both versions and the evaluations; production moved back to the base
# meanwhile: the fine-tune is gated against its base again and promoted
"$LLMOPS" models alias lumen-assistant@1 production --store "$S" >/dev/null || fail "models alias"
"$LLMOPS" quickstart --minutes 1 --no-serve --dir "$D" --port 0 --threads 2 >"$T/out2" 2>"$T/err2" ||
    { cat "$T/err2"; fail "second quickstart failed"; }
grep -q "^reusing lumen-assistant@1" "$T/out2" || fail "the re-run did not reuse the base"
grep -q "^reusing lumen-assistant@2" "$T/out2" || fail "the re-run did not reuse the fine-tune"
[ "$("$LLMOPS" models ls lumen-assistant --store "$S" | grep -c '^lumen-assistant ')" -eq 2 ] ||
    fail "the re-run registered new versions"
grep -q "already routes 90%" "$T/out2" || fail "the re-run made a new deployment revision"
grep -q "baseline lumen-assistant@1 (production)" "$T/out2" || fail "the re-run did not gate against the base"
grep -q "^aliases: production$" "$T/m2" && "$LLMOPS" models show lumen-assistant@2 --store "$S" | grep -q "^aliases: production$" ||
    fail "the re-run did not promote the fine-tune again"

# the deployment answers through the official openai client
if command -v node >/dev/null 2>&1 && [ -d "$SHARED" ]; then
    PEER=$HOME/.cache/llmops-peers/openai-client
    if [ ! -f "$PEER/smoke.mjs" ] || [ ! -d "$PEER/node_modules" ]; then
        sh "$SHARED/peers/openai-client/setup.sh" || fail "openai-client setup.sh"
    fi
    . "$2/tests/server/serve_start.sh"
    if serve_start "$T/serr" --store "$S" --deployment lumen-assistant --threads 2; then
        (cd "$PEER" && timeout 120 node smoke.mjs "http://127.0.0.1:$PORT/v1" lumen-assistant) >"$T/smoke" 2>&1 ||
            fail "smoke.mjs exit $?"
        cat "$T/smoke"
        grep -q "^5 passed, 0 failed" "$T/smoke" || fail "the openai client is not 5/5 against the deployment"
        kill -TERM "$PID"
        wait "$PID" || fail "serve did not stop cleanly"
        PID=
    else
        fail "serve --deployment did not start"
    fi
else
    echo "note: node or $SHARED absent; the openai client part did not run"
fi
[ $fails -eq 0 ] && echo "PASS" && exit 0
exit 1
