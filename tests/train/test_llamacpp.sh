#!/bin/sh
# Peer check: a model trained by `llmops train` loads in llama.cpp (the peer installed by
# shared/peers/llamacpp/setup.sh) and llama.cpp's greedy continuation of a memorised
# sentence has the same token ids as `llmops generate`. LoRA: stories260K with adapters
# trained by `llmops train --method lora --adapter-out`: llama.cpp loads the adapter
# (-m BASE --lora ADAPTER) and continues greedily with the text it gives for the merged
# GGUF (and not the base's), whose ids equal `llmops generate`'s. Skips when the peer is absent.
# usage: test_llamacpp.sh LLMOPS_BINARY SOURCE_DIR SHARED_DIR
set -u
bin=$1
shared=$3
peer=${LLAMACPP_PEER:-$HOME/.cache/llmops-peers/llamacpp}
[ -f "$peer/greedy.mjs" ] && command -v node >/dev/null 2>&1 || { echo "SKIP: llama.cpp peer not installed ($peer)"; exit 77; }
[ -f "$shared/peers/llamacpp/greedy.sh" ] || { echo "SKIP: $shared/peers is absent"; exit 77; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$bin" gen-model --arch llama --shape custom --dim 8 --layers 1 --heads 1 --ff 8 --vocab 259 --type F32 "$t/tok.gguf" >/dev/null ||
  fail "gen-model for the tokenizer"
i=0
while [ $i -lt 60 ]; do
  printf 'one two three four five six seven eight\n\nred orange yellow green blue indigo violet\n\n'
  i=$((i + 1))
done > "$t/c.txt"
"$bin" train --data "$t/c.txt" --out "$t/m.gguf" --tokenizer "$t/tok.gguf" --dim 48 --layers 2 --heads 4 --kv-heads 2 \
  --ff 128 --ctx 64 --batch 4 --seq 64 --lr 3e-3 --threads 2 --steps 250 >/dev/null 2>&1 || fail "llmops train"
ours=$("$bin" generate -m "$t/m.gguf" -p "one two three" -n 24 --temp 0 --ids 2>/dev/null | grep '^GEN_IDS')
theirs=$(THREADS=2 sh "$shared/peers/llamacpp/greedy.sh" "$t/m.gguf" "one two three" 24 2>/dev/null | grep '^GEN_IDS')
[ -n "$theirs" ] || fail "llama.cpp did not load or run the trained model"
[ "$ours" = "$theirs" ] || fail "greedy ids differ: llmops '$ours' llama.cpp '$theirs'"
echo "llama.cpp agrees: $theirs"
# LoRA adapter in llama.cpp's format: llama-completion loads it (exit 0; a bad adapter
# exits 1), and through llama.cpp's node addon (the peer's, which has no CLI --lora: a
# script beside a link to its node_modules) base + adapter continues greedily with the
# ids of the merged GGUF, which differ from the base's. llama-completion's own text is not
# compared: its log thread can drop the end of stdout under load.
base=$shared/models/stories260K.gguf
cli=$peer/src/build/bin/llama-completion
if [ -r "$base" ] && [ -x "$cli" ] && [ -d "$peer/node_modules" ]; then
  printf 'One day, Max found a big stick. He was very happy and ran home to show his friend Tom.\n\n' > "$t/ft.txt"
  printf 'Tom and Max played all day. When the sun went down, they sat under a tree and ate apples.\n' >> "$t/ft.txt"
  "$bin" train --base "$base" --method lora --lora-rank 4 --lora-alpha 8 --lora-targets q,k,v,o,gate,up,down \
    --data "$t/ft.txt" --out "$t/merged.gguf" --adapter-out "$t/adapter.gguf" --steps 30 --batch 1 --seq 24 \
    --lr 3e-3 --val-split 50 --threads 2 >/dev/null 2>&1 || fail "llmops train --method lora"
  "$cli" -m "$base" --lora "$t/adapter.gguf" -p "One day" -n 2 --temp 0 -no-cnv -t 2 </dev/null >/dev/null 2>"$t/cli.err" ||
    { tail -5 "$t/cli.err"; fail "llama-completion refused the adapter"; }
  ln -s "$peer/node_modules" "$t/node_modules"
  cat > "$t/lora.mjs" <<'EOF_JS'
// usage: node lora.mjs MODEL.gguf ADAPTER.gguf|"" PROMPT N -> GEN_IDS of the greedy continuation
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
const [modelPath, adapter, prompt, n] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
let ids = model.tokenize(prompt, true);
if (model.tokens.shouldPrependBosToken) ids = [model.tokens.bos, ...ids];
const opts = {contextSize: 256, threads: 2};
if (adapter) opts.lora = {adapters: [{filePath: adapter, scale: 1}]};
const context = await model.createContext(opts);
const gen = [];
for await (const t of context.getSequence().evaluate(ids, {temperature: 0})) {
    if (model.isEogToken(t)) break;
    gen.push(t);
    if (gen.length >= Number(n)) break;
}
console.log("GEN_IDS", gen.join(" "));
await context.dispose();
await model.dispose();
await llama.dispose();
EOF_JS
  with=$(node "$t/lora.mjs" "$base" "$t/adapter.gguf" "One day, Max" 16 2>/dev/null | grep '^GEN_IDS')
  merged=$(node "$t/lora.mjs" "$t/merged.gguf" "" "One day, Max" 16 2>/dev/null | grep '^GEN_IDS')
  plain=$(node "$t/lora.mjs" "$base" "" "One day, Max" 16 2>/dev/null | grep '^GEN_IDS')
  [ -n "$with" ] && [ "$with" = "$merged" ] || fail "base + adapter '$with' differs from the merged model '$merged'"
  [ "$with" != "$plain" ] || fail "the adapter changes nothing ('$plain')"
  ours=$("$bin" generate -m "$t/merged.gguf" -p "One day, Max" -n 16 --temp 0 --ids 2>/dev/null | grep '^GEN_IDS')
  [ "$ours" = "$with" ] || fail "LoRA: llmops (merged) '$ours', llama.cpp (base + adapter) '$with'"
  echo "llama.cpp base + adapter agrees with the merged model and llmops: $with"
fi
