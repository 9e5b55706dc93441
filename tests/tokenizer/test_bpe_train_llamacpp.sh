# `llmops tokenizer train` against llama.cpp: a vocabulary trained on the project's docs
# must tokenize a few lines to the same ids in llama-tokenize (the peer build in
# ~/.cache/llmops-peers/llamacpp) and in `llmops tokenize`. Skipped (77) without the peer.
# Usage: sh test_bpe_train_llamacpp.sh LLMOPS SOURCE_DIR SHARED_DIR
LLMOPS=$1
SRC=$2
PEER=${LLAMA_TOKENIZE:-$HOME/.cache/llmops-peers/llamacpp/src/build/bin/llama-tokenize}
if [ ! -x "$PEER" ]; then
    echo "SKIP: $PEER (llama.cpp peer) is not there" >&2
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat "$SRC"/docs/*.md "$SRC"/README.md > "$tmp/corpus.txt"
"$LLMOPS" tokenizer train --vocab 2000 "$tmp/corpus.txt" "$tmp/tok.gguf" --special '<|pad|>' >/dev/null || {
    echo "FAIL: training" >&2
    exit 1
}
fails=0
while IFS= read -r line; do
    ours=$("$LLMOPS" tokenize -m "$tmp/tok.gguf" --no-bos -- "$line")
    theirs=$("$PEER" -m "$tmp/tok.gguf" -p "$line" --ids --log-disable 2>/dev/null | tail -n 1 | tr -d '[],')
    if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then
        echo "ok: $line"
    else
        echo "FAIL: [$line]: llmops [$ours], llama.cpp [$theirs]" >&2
        fails=$((fails + 1))
    fi
done <<'LINES'
The tokenizer builds the vocabulary from a GGUF file's metadata.
llama.cpp's ids    and   spaces,  tabs	and 12345 digits!
naïve café — Größe 日本語 🙂 emoji
if (x->n == 0) return lo_error(LO_ERR_FORMAT, "bad");
  leading spaces and trailing   
LINES
[ "$fails" -eq 0 ] || exit 1
echo "all lines match"
