#!/bin/sh
# `--lora FILE[:SCALE]` end to end on stories260K (../shared; skipped without it), with an
# adapter trained by `llmops train --method lora --adapter-out` (rank 8, alpha 16, q,v,gate,
# down) and the same adapter merged by `llmops lora merge`:
#  - F32 base: generate --lora gives the merged model's greedy ids (not the base's), and
#    logits --lora the merged model's logits within max |d| 1e-2 and RMS 1e-3 (measured
#    1.8e-3 and 3.6e-4: f32 rounding differences that the F16 KV cache can round to a
#    different F16 ulp; the adapter moves logits by ~11); two adapters at :0.5 each give
#    one at 1 within the same bounds;
#    :0 gives the base's logits byte for byte; perplexity --lora on the adapter's own text
#    is lower than the base's; serve --lora answers a greedy completion with the text that
#    generate gives for the merged model (when curl is there).
#  - Q8_0 and Q4_0 bases (llmops quantize): the adapter's effect on the logits,
#    (Q+adapter) - Q, matches its effect on F32, merged - base, with a relative RMS residual
#    ≤ 0.1 (Q8_0, measured 0.03-0.04) and ≤ 0.5 (Q4_0, 0.29-0.32: Q4_0's own error on
#    the logits is of that order) — an adapter not applied, or applied twice, gives 1.
#  - refused with exit 1 and a message naming the problem: a model given as the adapter,
#    an adapter for another shape, a truncated adapter, a missing file, and (crafted with
#    python3 when it is there) adapter.type "ia3" and an unknown tensor name; usage errors
#    exit 2. (tests/model/test_lora.c refuses every other kind of hostile file.)
# usage: test_lora_cli.sh LLMOPS_BINARY SOURCE_DIR SHARED_DIR
set -u
bin=$1
base=${3}/models/stories260K.gguf
[ -r "$base" ] || { echo "skip: no $base"; exit 77; }
t=$(mktemp -d)
spid=
trap '[ -n "$spid" ] && kill $spid 2>/dev/null; rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
printf 'Max the dog ran to the park with his red ball and played all day long.\n\n' > "$t/ft.txt"
printf 'Max the dog ran to the park with his red ball and played all day long.\n' >> "$t/ft.txt"
"$bin" train --base "$base" --method lora --lora-rank 8 --lora-alpha 16 --lora-targets q,v,gate,down \
  --data "$t/ft.txt" --out "$t/lo.gguf" --adapter-out "$t/ad.gguf" --steps 10 --batch 1 --seq 16 --lr 3e-3 \
  --val-split 50 --threads 2 >/dev/null 2>"$t/e.txt" || { cat "$t/e.txt"; fail "LoRA training"; }
"$bin" lora merge "$base" "$t/ad.gguf" "$t/merged.gguf" >/dev/null 2>"$t/e.txt" || { cat "$t/e.txt"; fail "lora merge"; }

ids() { "$bin" generate "$@" -p "Max the dog" -n 16 --temp 0 --ids --threads 2 2>/dev/null | grep '^GEN_IDS'; }
with=$(ids -m "$base" --lora "$t/ad.gguf"); merged=$(ids -m "$t/merged.gguf"); plain=$(ids -m "$base")
[ -n "$with" ] && [ "$with" = "$merged" ] || fail "generate --lora '$with' differs from the merged model '$merged'"
[ "$with" != "$plain" ] || fail "the adapter changes nothing (the test would prove nothing)"
"$bin" generate -m "$base" --lora "$t/ad.gguf" -p "Max" -n 1 --temp 0 2>&1 >/dev/null |
  grep -q "lora: $t/ad.gguf: 20 matrices, rank 8, alpha 16, scale 1" || fail "no adapter line on stderr"

# logits: one number a line (the values of {"pos": p, "logits": [...]} lines)
IDS="1 392 412 444 265 400 428 352 303 267"
lg() { # OUT ARGS...
  o=$1; shift
  "$bin" logits --ids "$IDS" --full --threads 2 "$@" 2>/dev/null | sed 's/.*\[//; s/\].*//' | tr ',' '\n' > "$t/$o" ||
    fail "logits $*"
  [ "$(wc -l < "$t/$o")" -eq 5120 ] || fail "logits $*: $(wc -l < "$t/$o") values"
}
# "MAX RMS" of the element-wise difference of two such files
diff2() { paste "$t/$1" "$t/$2" | awk '{d = $1 - $2; s += d * d; if (d < 0) d = -d; if (d > m) m = d} END {printf "%.4g %.4g\n", m, sqrt(s / NR)}'; }
lg la -m "$base" --lora "$t/ad.gguf"
lg lm -m "$t/merged.gguf"
lg lb -m "$base"
lg l0 -m "$base" --lora "$t/ad.gguf:0"
lg l2 -m "$base" --lora "$t/ad.gguf:0.5" --lora "$t/ad.gguf:0.5"
d=$(diff2 la lm); e=$(diff2 la lb); d2=$(diff2 la l2)
echo "F32: logits(--lora) - logits(merged): max, RMS $d; two halves - one: $d2; the adapter's effect: $e"
echo "$d $d2 $e" | awk '{exit !($1 <= 1e-2 && $2 <= 1e-3 && $3 <= 1e-2 && $4 <= 1e-3 && $5 >= 1)}' ||
  fail "--lora logits: max, RMS |d| $d vs merged, $d2 for two halves, effect $e"
cmp -s "$t/l0" "$t/lb" || fail "--lora FILE:0 does not give the base's logits exactly"

# quantised bases: the adapter's effect against its effect on F32
for q in Q8_0 Q4_0; do
  "$bin" quantize "$base" "$t/$q.gguf" $q >/dev/null 2>"$t/e.txt" || { cat "$t/e.txt"; fail "quantize $q"; }
  lg "q_$q" -m "$t/$q.gguf"
  lg "qa_$q" -m "$t/$q.gguf" --lora "$t/ad.gguf"
  rel=$(paste "$t/qa_$q" "$t/q_$q" "$t/lm" "$t/lb" |
    awk '{e = $3 - $4; r = ($1 - $2) - e; se += e * e; sr += r * r} END {printf "%.4f\n", sqrt(sr / se)}')
  lim=0.1
  [ $q = Q4_0 ] && lim=0.5
  echo "$q: relative RMS of ((Q+adapter) - Q) - (merged - F32) = $rel (limit $lim)"
  awk -v r="$rel" -v l=$lim 'BEGIN {exit !(r <= l)}' || fail "$q: the adapter's effect differs from F32's by $rel"
done

# perplexity on the adapter's own text: lower with it
i=0
while [ $i -lt 8 ]; do cat "$t/ft.txt"; i=$((i + 1)); done > "$t/pp.txt"
ppl() { "$bin" perplexity -f "$t/pp.txt" --ctx 32 --threads 2 "$@" 2>/dev/null | sed -n 's/^Final estimate: PPL = \([0-9.]*\).*/\1/p'; }
pb=$(ppl -m "$base"); pa=$(ppl -m "$base" --lora "$t/ad.gguf")
[ -n "$pb" ] && [ -n "$pa" ] && awk -v a="$pa" -v b="$pb" 'BEGIN {exit !(a < b)}' ||
  fail "perplexity with the adapter '$pa' is not below the base's '$pb'"
echo "perplexity on the adapter's text: base $pb, --lora $pa"

# serve --lora: a greedy completion as generate gives for the merged model
if command -v curl >/dev/null 2>&1; then
  "$bin" serve -m "$base" --lora "$t/ad.gguf" --port 0 --threads 2 --parallel 2 2>"$t/serve.err" &
  spid=$!
  port=
  i=0
  while [ -z "$port" ] && [ $i -lt 100 ]; do
    sleep 0.1
    port=$(sed -n 's/^listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$t/serve.err")
    i=$((i + 1))
  done
  [ -n "$port" ] || { cat "$t/serve.err"; fail "serve --lora did not start"; }
  got=$(curl -s --max-time 20 "http://127.0.0.1:$port/v1/completions" \
    -d '{"model":"stories260K","prompt":"Max the dog","max_tokens":16,"temperature":0}')
  kill $spid
  wait $spid 2>/dev/null
  spid=
  want=$("$bin" generate -m "$t/merged.gguf" -p "Max the dog" -n 16 --temp 0 --threads 2 2>/dev/null)
  case $got in
    *"\"text\":\"$want\""*) echo "serve --lora: \"$want\"" ;;
    *) fail "serve --lora answered '$got', generate with the merged model '$want'" ;;
  esac
fi

# refused: exit 1 and a message naming the problem
refused() { # WHAT PATTERN ARGS...
  w=$1 pat=$2
  shift 2
  "$bin" generate "$@" -p "Max" -n 1 >/dev/null 2>"$t/e.txt"
  rc=$?
  [ $rc = 1 ] && grep -q -- "$pat" "$t/e.txt" && ! grep -q "Sanitizer" "$t/e.txt" || { cat "$t/e.txt"; fail "$w: exit $rc"; }
}
refused "a model as the adapter" "is not an adapter" -m "$base" --lora "$base"
"$bin" gen-model --arch llama --shape custom --dim 32 --layers 2 --heads 4 --ff 64 --vocab 512 --type F32 \
  "$t/other.gguf" >/dev/null || fail "gen-model"
refused "an adapter for another shape" "blk.0.attn_q.weight.lora_a is {64, 8}; the model's blk.0.attn_q.weight {32, 32} needs {32, r}" \
  -m "$t/other.gguf" --lora "$t/ad.gguf"
head -c 3000 "$t/ad.gguf" > "$t/tr.gguf"
refused "a truncated adapter" "exceeds the file" -m "$base" --lora "$t/tr.gguf"
refused "a missing adapter" "cannot open" -m "$base" --lora "$t/none.gguf"
for a in "--lora" "--lora $t/ad.gguf:inf" "--lora :2"; do
  "$bin" generate -m "$base" -p "Max" -n 1 $a >/dev/null 2>&1
  [ $? = 2 ] || fail "generate $a: not a usage error"
done
"$bin" serve --lora "$t/ad.gguf" -m "$base" >/dev/null 2>"$t/e.txt"
[ $? = 2 ] && grep -q "applies to the -m model before it" "$t/e.txt" || fail "serve --lora before -m"
for c in generate perplexity logits bench serve; do
  "$bin" help $c | grep -q -- "--lora FILE\[:SCALE\]" || fail "help $c does not document --lora"
done
command -v python3 >/dev/null 2>&1 || { echo "ok (crafted adapters skipped: no python3)"; exit 0; }
python3 - "$t" <<'PY' || fail "crafting adapters"
import struct, sys
d = sys.argv[1]
def s(x): b = x.encode(); return struct.pack('<Q', len(b)) + b
def write(name, tensors, typ="lora"):  # tensors: [(name, ne0, ne1)], F32 zeros
    kv = [s("general.architecture") + struct.pack('<I', 8) + s("llama"),
          s("general.type") + struct.pack('<I', 8) + s("adapter"),
          s("adapter.type") + struct.pack('<I', 8) + s(typ),
          s("adapter.lora.alpha") + struct.pack('<If', 6, 8.0)]
    info, data = b"", b""
    for n, a, b_ in tensors:
        info += s(n) + struct.pack('<IQQIQ', 2, a, b_, 0, len(data))
        data += b"\0" * (a * b_ * 4)
        data += b"\0" * (-len(data) % 32)
    h = b"GGUF" + struct.pack('<IQQ', 3, len(tensors), len(kv)) + b"".join(kv) + info
    h += b"\0" * (-len(h) % 32)
    open(f"{d}/{name}.gguf", "wb").write(h + data)
q = "blk.0.attn_q.weight"
write("c_ia3", [(q + ".lora_a", 64, 4), (q + ".lora_b", 4, 64)], typ="ia3")
write("c_name", [("blk.0.attn_qq.weight.lora_a", 64, 4), ("blk.0.attn_qq.weight.lora_b", 4, 64)])
PY
refused "adapter.type ia3" 'adapter.type is not "lora"' -m "$base" --lora "$t/c_ia3.gguf"
refused "an unknown tensor" "blk.0.attn_qq.weight names no tensor of the model's layers" -m "$base" --lora "$t/c_name.gguf"
echo ok
