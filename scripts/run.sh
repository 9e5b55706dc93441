#!/bin/sh
# The README's main job, as far as the project has grown: reads a real model file with
# the GGUF reader, shows it, and round-trips a sentence through its tokenizer. It becomes
# `llmops quickstart` once training, evaluation and serving exist.
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
