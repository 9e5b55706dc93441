#!/bin/sh
# `llmops lora merge`: a LoRA trained on stories260K (../shared; skipped without it) with
# --adapter-out, merged into the base by `lora merge`, gives the trainer's merged --out:
# the same greedy ids (`generate --ids`) and the same logits within f32 rounding; --scale 0
# gives the base. Refused with a message and exit 1, writing nothing: an adapter for another
# shape, a file that is not an adapter, a truncated adapter, a quantised base, and (crafted
# with python3 when it is there) adapters with a missing .lora_b, a stray tensor, two ranks,
# a layer the base lacks, an untargetable tensor, no alpha; an F16 adapter is accepted.
# Usage errors exit 2.
# usage: test_lora_merge.sh LLMOPS_BINARY SOURCE_DIR SHARED_DIR
set -u
bin=$1
base=${3}/models/stories260K.gguf
[ -r "$base" ] || { echo "skip: no $base"; exit 77; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
printf 'Max the dog ran to the park with his red ball and played all day long.\n\n' > "$t/ft.txt"
printf 'Max the dog ran to the park with his red ball and played all day long.\n' >> "$t/ft.txt"
"$bin" train --base "$base" --method lora --lora-rank 4 --lora-alpha 8 --lora-targets q,v,gate,down \
  --data "$t/ft.txt" --out "$t/lo.gguf" --adapter-out "$t/ad.gguf" --steps 10 --batch 1 --seq 16 --lr 3e-3 \
  --val-split 50 --threads 2 >/dev/null 2>"$t/e.txt" || { cat "$t/e.txt"; fail "LoRA training"; }
"$bin" lora merge "$base" "$t/ad.gguf" "$t/m2.gguf" >"$t/out.txt" 2>"$t/e.txt" || { cat "$t/e.txt"; fail "lora merge"; }
grep -q "m2.gguf: .*ad.gguf merged into" "$t/out.txt" || fail "no summary line"
ids() { "$bin" generate -m "$1" -p "Max the dog" -n 16 --temp 0 --ids --threads 2 2>/dev/null | grep '^GEN_IDS'; }
a=$(ids "$t/lo.gguf"); b=$(ids "$t/m2.gguf"); c=$(ids "$base")
[ -n "$a" ] && [ "$a" = "$b" ] || fail "merged greedy ids '$b' differ from the trainer's '$a'"
[ "$a" != "$c" ] || fail "the adapter changes nothing (the test would prove nothing)"
"$bin" logits -m "$t/lo.gguf" --ids "1 392 412 444 265 400 428" --full --threads 2 > "$t/l1.txt" 2>/dev/null &&
  "$bin" logits -m "$t/m2.gguf" --ids "1 392 412 444 265 400 428" --full --threads 2 > "$t/l2.txt" 2>/dev/null ||
  fail "logits"
[ -s "$t/l1.txt" ] || fail "no logits"
if command -v python3 >/dev/null 2>&1; then
  python3 - "$t/l1.txt" "$t/l2.txt" <<'PY' || fail "logits of the merged GGUF differ beyond f32 rounding"
import json, sys, re
def nums(p):
    return [float(x) for x in re.findall(r'-?\d+\.?\d*(?:[eE][-+]?\d+)?', open(p).read())]
a, b = nums(sys.argv[1]), nums(sys.argv[2])
assert len(a) == len(b) and len(a) > 100, (len(a), len(b))
worst = max(abs(x - y) / max(1.0, abs(x)) for x, y in zip(a, b))
assert worst <= 1e-5, worst
PY
else
  cmp -s "$t/l1.txt" "$t/l2.txt" || fail "logits of the merged GGUF differ"
fi
# --scale 0: the base's behaviour
"$bin" lora merge "$base" "$t/ad.gguf" "$t/m0.gguf" --scale 0 >/dev/null 2>&1 || fail "--scale 0"
[ "$(ids "$t/m0.gguf")" = "$c" ] || fail "--scale 0 does not give the base's ids"
# refused inputs: exit 1, a message, no output file
refused() { # WHAT PATTERN BASE ADAPTER
  "$bin" lora merge "$3" "$4" "$t/x.gguf" >/dev/null 2>"$t/e.txt"
  rc=$?
  [ $rc = 1 ] && grep -q "$2" "$t/e.txt" && ! grep -q "Sanitizer" "$t/e.txt" || { cat "$t/e.txt"; fail "$1: exit $rc"; }
  [ ! -e "$t/x.gguf" ] || fail "$1: an output was written"
}
"$bin" gen-model --arch llama --shape custom --dim 32 --layers 2 --heads 4 --ff 64 --vocab 512 --type F32 \
  "$t/other.gguf" >/dev/null || fail "gen-model"
"$bin" train --base "$t/other.gguf" --method lora --lora-rank 2 --data "$t/ft.txt" --out "$t/olo.gguf" --steps 1 \
  --batch 1 --seq 16 --val-split 50 --threads 2 --adapter-out "$t/oad.gguf" >/dev/null 2>"$t/e.txt" ||
  { cat "$t/e.txt"; fail "LoRA on another shape"; }
refused "adapter for another shape" "attn_q.weight.lora_a is {32, 2}, the base's blk.0.attn_q.weight needs {64" \
  "$base" "$t/oad.gguf"
refused "not an adapter" "is not an adapter" "$base" "$base"
head -c 3000 "$t/ad.gguf" > "$t/tr.gguf"
refused "truncated adapter" "exceeds the file" "$base" "$t/tr.gguf"
refused "missing adapter" "cannot open" "$base" "$t/none.gguf"
q4=${3}/models/quant/stories260K-Q4_0.gguf
[ -r "$q4" ] && refused "quantised base" "is quantised" "$q4" "$t/ad.gguf"
# usage errors
for args in "merge $base $t/ad.gguf" "merge $base $t/ad.gguf $t/x.gguf --scale inf" "merge $base $t/ad.gguf $base" \
  "frob" ""; do
  "$bin" lora $args >/dev/null 2>&1
  [ $? = 2 ] || fail "lora $args: not a usage error"
done
"$bin" help lora | grep -q "merge BASE.gguf ADAPTER.gguf OUT.gguf" || fail "help lora"
# crafted adapters (GGUF v3 written by hand)
command -v python3 >/dev/null 2>&1 || { echo "ok (crafted adapters skipped: no python3)"; exit 0; }
python3 - "$t" <<'PY' || fail "crafting adapters"
import struct, sys
d = sys.argv[1]
def s(x): b = x.encode(); return struct.pack('<Q', len(b)) + b
def write(name, tensors, alpha=8.0, typ="lora"):  # tensors: [(name, ne0, ne1, dtype 0=f32 1=f16)]
    kv = [s("general.architecture") + struct.pack('<I', 8) + s("llama"),
          s("general.type") + struct.pack('<I', 8) + s("adapter"),
          s("adapter.type") + struct.pack('<I', 8) + s(typ)]
    if alpha is not None: kv.append(s("adapter.lora.alpha") + struct.pack('<If', 6, alpha))
    info, data = b"", b""
    for n, a, b_, ty in tensors:
        info += s(n) + struct.pack('<IQQIQ', 2, a, b_, ty, len(data))
        data += b"\0" * (a * b_ * (4 if ty == 0 else 2))
        data += b"\0" * (-len(data) % 32)
    h = b"GGUF" + struct.pack('<IQQ', 3, len(tensors), len(kv)) + b"".join(kv) + info
    h += b"\0" * (-len(h) % 32)
    open(f"{d}/{name}.gguf", "wb").write(h + data)
q = "blk.0.attn_q.weight"
write("c_nob", [(q + ".lora_a", 64, 4, 0)])
write("c_stray", [(q + ".lora_a", 64, 4, 0), (q + ".lora_b", 4, 64, 0), ("foo", 4, 4, 0)])
write("c_rank", [(q + ".lora_a", 64, 4, 0), (q + ".lora_b", 4, 64, 0),
                 ("blk.1.attn_q.weight.lora_a", 64, 2, 0), ("blk.1.attn_q.weight.lora_b", 2, 64, 0)])
write("c_layer", [("blk.99.attn_q.weight.lora_a", 64, 4, 0), ("blk.99.attn_q.weight.lora_b", 4, 64, 0)])
write("c_huge", [("blk.99999999999999999999999.attn_q.weight.lora_a", 64, 4, 0)])
write("c_embd", [("token_embd.weight.lora_a", 64, 4, 0), ("token_embd.weight.lora_b", 4, 512, 0)])
write("c_alpha", [(q + ".lora_a", 64, 4, 0), (q + ".lora_b", 4, 64, 0)], alpha=None)
write("c_ia3", [(q + ".lora_a", 64, 4, 0), (q + ".lora_b", 4, 64, 0)], typ="ia3")
write("c_rank0", [(q + ".lora_a", 64, 0, 0), (q + ".lora_b", 0, 64, 0)])
write("c_f16", [(q + ".lora_a", 64, 4, 1), (q + ".lora_b", 4, 64, 1)])
write("c_empty", [])
PY
refused "no .lora_b" "has no .lora_b" "$base" "$t/c_nob.gguf"
refused "stray tensor" "tensor foo is not a .lora_a or .lora_b" "$base" "$t/c_stray.gguf"
refused "two ranks" "has rank 2, earlier tensors 4" "$base" "$t/c_rank.gguf"
refused "layer the base lacks" "names no tensor of the base" "$base" "$t/c_layer.gguf"
refused "huge layer number" "names no tensor of the base" "$base" "$t/c_huge.gguf"
refused "adapter on token_embd" "adapters on token_embd.weight are not supported" "$base" "$t/c_embd.gguf"
refused "no alpha" "adapter.lora.alpha" "$base" "$t/c_alpha.gguf"
refused "not LoRA" "adapter.type is not" "$base" "$t/c_ia3.gguf"
refused "rank 0" "needs" "$base" "$t/c_rank0.gguf"
refused "no tensors" "holds no adapter tensors" "$base" "$t/c_empty.gguf"
"$bin" lora merge "$base" "$t/c_f16.gguf" "$t/f16.gguf" >/dev/null 2>"$t/e.txt" || { cat "$t/e.txt"; fail "F16 adapter"; }
[ "$(ids "$t/f16.gguf")" = "$c" ] || fail "a zero F16 adapter changes the base"
echo ok
