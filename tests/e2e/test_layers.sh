#!/bin/sh
# The layering of DESIGN.md holds for the whole tree, and the checker really catches a
# module including a sibling's or a higher layer's header.
# usage: test_layers.sh LLMOPS_BINARY SOURCE_DIR SHARED_DIR
set -u
src=$2
sh "$src/scripts/check-layers.sh" "$src" || { echo "FAIL: layer violations in the tree"; exit 1; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
mkdir -p "$t/src/gguf" "$t/src/base" "$t/cli"
printf '#include "llmops/base.h"\n' > "$t/src/gguf/ok.c"
printf '#include "llmops/tokenizer.h"\n' > "$t/src/gguf/up.c"
printf '#include "llmops/tensor.h"\n' > "$t/src/gguf/sibling.c"
printf '#include "../tokenizer/tokenizer_internal.h"\n' > "$t/src/base/private.c"
out=$(sh "$src/scripts/check-layers.sh" "$t") && { echo "FAIL: checker accepted violations"; exit 1; }
for want in "src/gguf/up.c:1" "src/gguf/sibling.c:1" "src/base/private.c:1"; do
  echo "$out" | grep -q "$want" || { echo "FAIL: checker missed $want"; echo "$out"; exit 1; }
done
echo "$out" | grep -q "ok.c" && { echo "FAIL: checker flagged an allowed include"; exit 1; }
echo "layers: ok"
