#!/bin/sh
# Peer check: llmops `--lora` on F32, Q8_0 and Q4_0 bases (stories260K and its `llmops
# quantize` outputs) continues greedily with the same token ids as llama.cpp given the same
# base and adapter (-m BASE --lora ADAPTER, through the peer's node addon as
# tests/train/test_llamacpp.sh does), at scale 1 and at scale 0.5 (where the continuation
# differs from both the base's and the full adapter's). The adapter is trained by `llmops
# train --method lora --adapter-out`. Skips when the peer or ../shared is absent.
# usage: test_lora_llamacpp.sh LLMOPS_BINARY SOURCE_DIR SHARED_DIR
set -u
bin=$1
shared=$3
peer=${LLAMACPP_PEER:-$HOME/.cache/llmops-peers/llamacpp}
[ -f "$peer/greedy.mjs" ] && [ -d "$peer/node_modules" ] && command -v node >/dev/null 2>&1 ||
  { echo "SKIP: llama.cpp peer not installed ($peer)"; exit 77; }
base=$shared/models/stories260K.gguf
[ -r "$base" ] || { echo "SKIP: no $base"; exit 77; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
printf 'Max the dog ran to the park with his red ball and played all day long.\n\n' > "$t/ft.txt"
printf 'Max the dog ran to the park with his red ball and played all day long.\n' >> "$t/ft.txt"
"$bin" train --base "$base" --method lora --lora-rank 8 --lora-alpha 16 --lora-targets q,k,v,o,gate,up,down \
  --data "$t/ft.txt" --out "$t/lo.gguf" --adapter-out "$t/ad.gguf" --steps 10 --batch 1 --seq 16 --lr 3e-3 \
  --val-split 50 --threads 2 >/dev/null 2>"$t/e.txt" || { cat "$t/e.txt"; fail "LoRA training"; }
ln -s "$peer/node_modules" "$t/node_modules"
cat > "$t/lora.mjs" <<'EOF_JS'
// usage: node lora.mjs ADAPTER PROMPT N MODEL... -> per model, "MODEL SCALE GEN_IDS ..." lines
// for the greedy continuation without the adapter (SCALE -) and with it at 0.5 and 1
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
const [adapter, prompt, n, ...models] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
for (const modelPath of models) {
    const model = await llama.loadModel({modelPath, gpuLayers: 0});
    let ids = model.tokenize(prompt, true);
    if (model.tokens.shouldPrependBosToken) ids = [model.tokens.bos, ...ids];
    for (const scale of [null, 0.5, 1]) {
        const opts = {contextSize: 256, threads: 1}; // one thread: fast on a busy machine, same sums
        if (scale !== null) opts.lora = {adapters: [{filePath: adapter, scale}]};
        const context = await model.createContext(opts);
        const gen = [];
        for await (const tok of context.getSequence().evaluate(ids, {temperature: 0})) {
            if (model.isEogToken(tok)) break;
            gen.push(tok);
            if (gen.length >= Number(n)) break;
        }
        console.log(modelPath, scale === null ? "-" : scale, "GEN_IDS", gen.join(" "));
        await context.dispose();
    }
    await model.dispose();
}
await llama.dispose();
EOF_JS
P="Max the dog"
"$bin" quantize "$base" "$t/Q8_0.gguf" Q8_0 >/dev/null 2>"$t/e.txt" || { cat "$t/e.txt"; fail "quantize Q8_0"; }
"$bin" quantize "$base" "$t/Q4_0.gguf" Q4_0 >/dev/null 2>"$t/e.txt" || { cat "$t/e.txt"; fail "quantize Q4_0"; }
node "$t/lora.mjs" "$t/ad.gguf" "$P" 24 "$base" "$t/Q8_0.gguf" "$t/Q4_0.gguf" > "$t/peer.txt" 2>"$t/e.txt" ||
  { tail -5 "$t/e.txt"; fail "llama.cpp did not run the models with the adapter"; }
for q in F32 Q8_0 Q4_0; do
  m=$t/$q.gguf
  [ $q = F32 ] && m=$base
  prev=$(grep "^$m - " "$t/peer.txt" | sed 's/^[^ ]* [^ ]* //')
  [ -n "$prev" ] || fail "llama.cpp gave nothing for $q"
  for s in 0.5 1; do
    theirs=$(grep "^$m $s " "$t/peer.txt" | sed 's/^[^ ]* [^ ]* //')
    ours=$("$bin" generate -m "$m" --lora "$t/ad.gguf:$s" -p "$P" -n 24 --temp 0 --ids --threads 2 2>/dev/null | grep '^GEN_IDS')
    [ -n "$theirs" ] && [ "$ours" = "$theirs" ] || fail "$q, scale $s: llmops '$ours', llama.cpp '$theirs'"
    [ "$theirs" != "$prev" ] || fail "$q, scale $s: the continuation does not change ('$prev')"
    prev=$theirs
    echo "$q + adapter at $s: llmops and llama.cpp agree: $theirs"
  done
done
