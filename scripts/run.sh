#!/bin/sh
# The README's main job, as far as the project has grown: reads a real model file with
# the GGUF reader, shows it, round-trips a sentence through its tokenizer, continues a
# prompt with the model and measures its perplexity. It becomes `llmops quickstart` once
# training, evaluation and serving exist.
# usage: run.sh LLMOPS_BINARY [MODEL.gguf]
set -eu
bin=$1
here=$(cd "$(dirname "$0")/.." && pwd)
model=${2:-$here/../shared/models/stories260K.gguf}
if [ ! -f "$model" ]; then
  echo "run.sh: no model at $model; pass one: make run MODEL=path/to/model.gguf" >&2
  exit 1
fi
text="Once upon a time, there was a little girl named Lily."
echo "== llmops inspect $(basename "$model")"
"$bin" inspect "$model" | head -n 40
echo "..."
echo
echo "== llmops tokenize \"$text\""
ids=$("$bin" tokenize -m "$model" "$text")
echo "$ids"
echo
echo "== llmops detokenize $ids"
"$bin" detokenize -m "$model" $ids
echo
echo
echo "== llmops generate -p \"Once upon a time\" -n 64 --temp 0"
"$bin" generate -m "$model" -p "Once upon a time" -n 64 --temp 0
echo
echo
doc=$(dirname "$model")/llama2c/stories260K.md
if [ -f "$doc" ]; then
  echo "== llmops perplexity -f $(basename "$doc") --ctx 128"
  "$bin" perplexity -m "$model" -f "$doc" --ctx 128 | tail -n 1
fi
