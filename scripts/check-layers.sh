#!/bin/sh
# Checks every #include of the project against the layer table of DESIGN.md: a module
# may include its own headers and the public headers of strictly lower layers; cli/ and
# bench/ include public headers (and cli's own) only. Prints each violation; exit 1 if any.
set -eu
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
layer_of() {
  case "$1" in
    base) echo 0 ;;
    tensor|gguf|store|net) echo 1 ;;
    tokenizer|model|vindex|metrics) echo 2 ;;
    infer|train) echo 3 ;;
    ops) echo 4 ;;
    server) echo 5 ;;
    llmops) echo 9 ;;   # llmops.h, the umbrella header: for cli/bench only
    *) echo "" ;;
  esac
}
bad=0
tmp_bad=$(mktemp)
trap 'rm -f "$tmp_bad"' EXIT
report() { echo "$1"; bad=1; }
for f in $(find src cli bench -name '*.[ch]' 2>/dev/null | sort); do
  dir=${f%%/*}
  if [ "$dir" = src ]; then
    mod=$(echo "$f" | cut -d/ -f2)
    mine=$(layer_of "$mod")
    [ -n "$mine" ] || { report "$f: module '$mod' is not in the layer table (DESIGN.md)"; continue; }
  else
    mod=$dir; mine=""
  fi
  grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r line; do
    n=${line%%:*}
    inc=$(echo "$line" | sed 's/.*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/')
    case "$inc" in
      llmops/*.h)
        other=$(basename "$inc" .h)
        theirs=$(layer_of "$other")
        [ -n "$theirs" ] || { echo "$f:$n: includes unknown public header $inc"; echo x >> "$tmp_bad"; continue; }
        if [ -n "$mine" ] && [ "$other" != "$mod" ] && [ "$theirs" -ge "$mine" ]; then
          echo "$f:$n: module $mod (L$mine) includes $inc (L$theirs): only lower layers are allowed"
          echo x >> "$tmp_bad"
        fi ;;
      "$mod"/*) ;;  # its own private header, spelled from src/
      */*)
        echo "$f:$n: includes another module's private header $inc"; echo x >> "$tmp_bad" ;;
      *)
        # A private header of the same folder.
        if [ ! -f "$(dirname "$f")/$inc" ] && [ ! -f "tests/$inc" ]; then
          echo "$f:$n: includes $inc, which is not in its own folder"; echo x >> "$tmp_bad"
        fi ;;
    esac
  done
done
[ -s "$tmp_bad" ] && bad=1
exit $bad
