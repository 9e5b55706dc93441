#!/usr/bin/python3
"""The PyTorch peer of bench_train: the same llama (RMSNorm, adjacent-pair RoPE, causal
attention as plain matmul + softmax, SwiGLU, tied head), init, AdamW and batch on random
tokens, full from-scratch or LoRA (hand-written adapters, base frozen); prints tokens/s and MFU."""
import argparse
import ctypes
import math
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("train_torch: this python cannot import torch; install Debian's: apt-get install python3-torch "
          "libopenblas0-openmp (and run it with /usr/bin/python3)", file=sys.stderr)
    sys.exit(3)

TARGETS = ("q", "k", "v", "o", "gate", "up", "down")


def rope_tables(T, hd, base):
    # as lo_rope_cache: pair i of position p turns by p · base^(−2i/hd)
    inv = base ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()  # [T, hd/2]


def rope(x, cos, sin):
    # x [B, H, T, hd]; llama's NORM layout: rotate adjacent pairs (2i, 2i+1)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


def rmsnorm(x, g, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g


class Llama(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        D, Fw, V, L = a.dim, a.ff, a.vocab, a.layers
        self.a = a
        std, rstd = 0.02, 0.02 / math.sqrt(2 * L)  # GPT-2's scaled residual init, as lo_train_model_init

        def mat(o, i, s):
            return torch.nn.Parameter(torch.randn(o, i) * s)

        def gain():
            return torch.nn.Parameter(torch.ones(D))

        self.tok_embd = mat(V, D, std)  # tied: also the output head
        self.layers = torch.nn.ModuleList()
        for _ in range(L):
            y = torch.nn.Module()
            y.attn_norm, y.ffn_norm = gain(), gain()
            y.q, y.k, y.v, y.o = mat(D, D, std), mat(D, D, std), mat(D, D, std), mat(D, D, rstd)
            y.gate, y.up, y.down = mat(Fw, D, std), mat(Fw, D, std), mat(D, Fw, rstd)
            self.layers.append(y)
        self.output_norm = gain()
        cos, sin = rope_tables(a.seq, D // a.heads, 10000.0)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)
        self.register_buffer("causal", torch.ones(a.seq, a.seq, dtype=torch.bool).triu(1))
        self.lora = None

    def add_lora(self, rank, alpha, targets):
        """Adapters A [r][in] ~ U(−1/√in, 1/√in) (PEFT's Kaiming-uniform), B [out][r] = 0 on the
        chosen projections of every layer; everything else frozen."""
        for p in self.parameters():
            p.requires_grad_(False)
        self.lora = torch.nn.ModuleList()
        self.lora_scale = alpha / rank
        for y in self.layers:
            d = torch.nn.ParameterDict()
            for t in targets:
                W = getattr(y, t)
                bound = 1.0 / math.sqrt(W.shape[1])
                d[t + "_a"] = torch.nn.Parameter(torch.empty(rank, W.shape[1]).uniform_(-bound, bound))
                d[t + "_b"] = torch.nn.Parameter(torch.zeros(W.shape[0], rank))
            self.lora.append(d)

    def proj(self, l, name, x):
        y = F.linear(x, getattr(self.layers[l], name))
        if self.lora is not None and name + "_a" in self.lora[l]:
            d = self.lora[l]
            y = y + self.lora_scale * F.linear(F.linear(x, d[name + "_a"]), d[name + "_b"])
        return y

    def forward(self, tok, tgt):
        a = self.a
        B, T = tok.shape
        H, hd, eps = a.heads, a.dim // a.heads, 1e-5
        x = F.embedding(tok, self.tok_embd)
        for l, y in enumerate(self.layers):
            h = rmsnorm(x, y.attn_norm, eps)
            q = self.proj(l, "q", h).view(B, T, H, hd).transpose(1, 2)
            k = self.proj(l, "k", h).view(B, T, H, hd).transpose(1, 2)
            v = self.proj(l, "v", h).view(B, T, H, hd).transpose(1, 2)
            q, k = rope(q, self.cos[:T], self.sin[:T]), rope(k, self.cos[:T], self.sin[:T])
            s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
            p = torch.softmax(s.masked_fill(self.causal[:T, :T], float("-inf")), dim=-1)
            att = (p @ v).transpose(1, 2).reshape(B, T, a.dim)
            x = x + self.proj(l, "o", att)
            h = rmsnorm(x, y.ffn_norm, eps)
            x = x + self.proj(l, "down", F.silu(self.proj(l, "gate", h)) * self.proj(l, "up", h))
        logits = F.linear(rmsnorm(x, self.output_norm, eps), self.tok_embd)
        return F.cross_entropy(logits.view(-1, a.vocab), tgt.view(-1))


def blas_in_use():
    """The BLAS library mapped into this process and, for OpenBLAS, its build and core."""
    libs = []
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if ("blas" in path or "lapack" in path) and path not in libs:
                libs.append(path)
    core = ""
    for path in libs:
        if "openblas" in path:
            try:
                lib = ctypes.CDLL(path)
                lib.openblas_get_corename.restype = ctypes.c_char_p
                lib.openblas_get_config.restype = ctypes.c_char_p
                core = "%s core %s" % (lib.openblas_get_config().decode(), lib.openblas_get_corename().decode())
                break
            except (OSError, AttributeError):
                pass
    blas = [p for p in libs if "libopenblas" in p or "libblas" in p]
    return ", ".join(blas) or "none mapped", core


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    for name, dflt in (("vocab", 32000), ("dim", 288), ("layers", 6), ("heads", 6), ("ff", 768), ("batch", 8),
                       ("seq", 256), ("threads", 2), ("steps", 5), ("warmup", 2), ("peak-gflops", 500),
                       ("lora-rank", 0), ("seed", 1)):
        ap.add_argument("--" + name, type=int, default=dflt)
    ap.add_argument("--lora-alpha", type=float, default=16.0)
    ap.add_argument("--lora-targets", default="q,v")
    a = ap.parse_args()
    targets = a.lora_targets.split(",")
    if a.steps < 1 or a.warmup < 0 or a.dim % a.heads or (a.dim // a.heads) % 2 or any(t not in TARGETS for t in targets):
        ap.error("give --steps ≥ 1, --warmup ≥ 0, --dim a multiple of --heads with an even head size, "
                 "--lora-targets from " + ",".join(TARGETS))
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = Llama(a)
    n_params = sum(p.numel() for p in model.parameters())  # tied: the embedding counted once, as bench_train
    if a.lora_rank:
        model.add_lora(a.lora_rank, a.lora_alpha, targets)
    train = [p for p in model.parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in train)
    # weight decay on matrices and embeddings (and LoRA's A, B), not on the norm gains, as llmops
    groups = [{"params": [p for p in train if p.dim() == 2], "weight_decay": 0.1},
              {"params": [p for p in train if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(a.seed)
    tok = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g)
    tgt = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g)
    times, loss = [], float("nan")
    for st in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        out = model(tok, tgt)
        out.backward()
        torch.nn.utils.clip_grad_norm_(train, 1.0)
        opt.step()
        loss = out.item()
        if st >= a.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    tps = a.batch * a.seq / med
    # model FLOPs per token, bench_train's formulas: 6·params full; (4·base + 6·adapter) LoRA
    flop_tok = 4 * n_params + 6 * n_train if a.lora_rank else 6 * n_params
    mfu = 100 * flop_tok * tps / (a.peak_gflops * 1e9)
    blas, core = blas_in_use()
    mode = "lora" if a.lora_rank else "full"
    print("train_torch: torch %s, %d threads (%s), BLAS %s%s" % (torch.__version__, torch.get_num_threads(),
          torch.__config__.parallel_info().splitlines()[-1].strip(), blas, ", " + core if core else ""))
    print("shape dim %d layers %d heads %d ff %d vocab %d tied, %.2fM params, batch %d x seq %d"
          % (a.dim, a.layers, a.heads, a.ff, a.vocab, n_params / 1e6, a.batch, a.seq))
    if a.lora_rank:
        print("lora: rank %d alpha %g targets %s, %d adapter params, base frozen"
              % (a.lora_rank, a.lora_alpha, a.lora_targets, n_train))
    print("%s: %.0f tokens/s median (%d steps after %d warm-up, median %.3f s/step, last loss %.3f); MFU %.1f%% of %d "
          "GFLOP/s" % (mode, tps, a.steps, a.warmup, med, loss, mfu, a.peak_gflops))
    print("result: mode=%s tokens_per_s=%.1f mfu_pct=%.2f" % (mode, tps, mfu))


if __name__ == "__main__":
    main()
