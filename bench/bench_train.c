/* Training throughput: tokens/s (median over the timed steps) of training steps (forward,
 * backward, AdamW) for a llama shape — stories15M by default (dim 288, 6 layers, 6 heads,
 * ff 768, vocab 32000, tied head, T 256) — on random tokens: from scratch, or LoRA on the
 * frozen random base (--lora-rank R [--lora-alpha A] [--lora-targets q,v]). The model FLOPs
 * utilisation against --peak-gflops (500: DESIGN.md's f32 figure for the two cores) counts
 * 6·params·tokens for full training and (4·base params + 6·adapter params)·tokens for LoRA
 * (no weight gradients for the frozen base); bench/train_torch.py uses the same formulas.
 * Also prints the BLAS core and one plain sgemm of the FFN's shape timed in the same run. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmops/llmops.h"

static long arg(int argc, char **argv, const char *name, long dflt) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return atol(argv[i + 1]);
    return dflt;
}
static const char *sarg(int argc, char **argv, const char *name, const char *dflt) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return dflt;
}
static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    lo_train_config c = {.n_vocab = (int32_t)arg(argc, argv, "--vocab", 32000),
                         .n_embd = (int32_t)arg(argc, argv, "--dim", 288),
                         .n_layer = (int32_t)arg(argc, argv, "--layers", 6),
                         .n_head = (int32_t)arg(argc, argv, "--heads", 6),
                         .n_ff = (int32_t)arg(argc, argv, "--ff", 768),
                         .n_ctx = (int32_t)arg(argc, argv, "--ctx", 256),
                         .tied = arg(argc, argv, "--untied", 0) == 0};
    c.n_head_kv = (int32_t)arg(argc, argv, "--kv-heads", c.n_head);
    const int32_t B = (int32_t)arg(argc, argv, "--batch", 8), T = (int32_t)arg(argc, argv, "--seq", c.n_ctx);
    const int threads = (int)arg(argc, argv, "--threads", 2), steps = (int)arg(argc, argv, "--steps", 5);
    const double peak = (double)arg(argc, argv, "--peak-gflops", 500);
    const int32_t lora_rank = (int32_t)arg(argc, argv, "--lora-rank", 0);
    const char *lora_targets = sarg(argc, argv, "--lora-targets", "q,v");
    lo_lora_config lc = {.rank = lora_rank, .alpha = (float)arg(argc, argv, "--lora-alpha", 16)};
    if (steps < 1 || steps > 100000 || lora_rank < 0 ||
        (lora_rank && !lo_lora_targets_parse(lora_targets, &lc.targets))) {
        fprintf(stderr, "bench_train: give 1 ≤ --steps ≤ 100000, --lora-rank ≥ 0 and --lora-targets from "
                        "q,k,v,o,gate,up,down\n");
        return 2;
    }
    lo_train_model *m = NULL;
    lo_trainer *tr = NULL;
    lo_status s = lo_train_model_init(&c, 1, &m);
    if (!s && lora_rank) s = lo_train_model_add_lora(m, &lc, 2);
    lo_train_params p = {.batch = B,
                         .seq = T,
                         .grad_accum = 1,
                         .n_threads = threads,
                         .total_steps = steps + 1,
                         .lr = 1e-3f,
                         .schedule = LO_SCHED_CONSTANT,
                         .weight_decay = 0.1f,
                         .grad_clip = 1.0f};
    if (!s) s = lo_trainer_create(m, &p, &tr);
    int32_t *tok = malloc((size_t)B * T * sizeof *tok), *tgt = malloc((size_t)B * T * sizeof *tgt);
    uint8_t *mask = malloc((size_t)B * T);
    double *step_sec = malloc((size_t)steps * sizeof *step_sec);
    if (s || !tok || !tgt || !mask || !step_sec) {
        fprintf(stderr, "bench_train: %s\n", s ? lo_error_message() : "out of memory");
        return 1;
    }
    uint64_t x = 88172645463325252ull;
    for (int64_t i = 0; i < (int64_t)B * T; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        tok[i] = (int32_t)(x % (uint64_t)c.n_vocab);
        tgt[i] = (int32_t)((x >> 32) % (uint64_t)c.n_vocab);
        mask[i] = 1;
    }
    double t0 = 0, loss = 0;
    for (int st = 0; st <= steps && !s; st++) { /* step 0 warms up caches and BLAS threads */
        const double ts = lo_time_sec();
        if (st == 1) t0 = ts;
        double sum;
        int64_t n;
        lo_trainer_zero_grad(tr);
        s = lo_trainer_forward(tr, tok, tgt, mask, true, 1.0f / (float)(B * T), &sum, &n);
        lo_trainer_step(tr, st, NULL);
        loss = sum / (double)n;
        if (st > 0) step_sec[st - 1] = lo_time_sec() - ts;
    }
    if (s) {
        fprintf(stderr, "bench_train: %s\n", lo_error_message());
        return 1;
    }
    const double sec = lo_time_sec() - t0;
    qsort(step_sec, (size_t)steps, sizeof *step_sec, cmp_double);
    const double med = steps % 2 ? step_sec[steps / 2] : (step_sec[steps / 2 - 1] + step_sec[steps / 2]) / 2;
    /* The peer: sgemm [N × D] · [F × D]ᵀ, the FFN up-projection's shape, on the same threads. */
    const int gn = B * T, gm = c.n_ff, gk = c.n_embd;
    float *ga = calloc((size_t)gn * gk, 4), *gb = calloc((size_t)gm * gk, 4), *gc = calloc((size_t)gn * gm, 4);
    double g_gflops = 0;
    if (ga && gb && gc) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, gn, gm, gk, 1, ga, gk, gb, gk, 0, gc, gm);
        int reps = 0;
        const double g0 = lo_time_sec();
        while (lo_time_sec() - g0 < 1.0 || reps < 3) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, gn, gm, gk, 1, ga, gk, gb, gk, 0, gc, gm);
            reps++;
        }
        g_gflops = 2.0 * gn * gm * gk * reps / (lo_time_sec() - g0) / 1e9;
    }
    free(ga), free(gb), free(gc);
    const double tps = (double)B * T / med, tps_mean = (double)steps * B * T / sec;
    const double params = (double)lo_train_model_n_params(m);
    const double lora_params = lora_rank ? (double)lo_train_model_n_trainable_params(m) : 0;
    /* model FLOPs per token: forward 2·P, backward 2·P for dx and 2·P for dW of what trains */
    const double flop_tok = lora_rank ? 4 * params + 6 * lora_params : 6 * params;
    printf("bench_train: %s\n", lo_train_blas_info());
    printf("shape dim %d layers %d heads %d/%d ff %d vocab %d %s, %.2fM params, batch %d x seq %d, %d threads\n",
           c.n_embd, c.n_layer, c.n_head, c.n_head_kv, c.n_ff, c.n_vocab, c.tied ? "tied" : "untied", params / 1e6, B,
           T, threads);
    if (lora_rank)
        printf("lora: rank %d alpha %g targets %s, %.0f adapter params, base frozen\n", lc.rank, (double)lc.alpha,
               lora_targets, lora_params);
    printf("%s: %.0f tokens/s median (mean %.0f; %d steps, median %.3f s/step, last loss %.3f); %s = %.1f GFLOP/s, "
           "MFU %.1f%% of %.0f GFLOP/s\n",
           lora_rank ? "lora" : "train", tps, tps_mean, steps, med, loss,
           lora_rank ? "(4*base+6*adapter params)*tokens/s" : "6*params*tokens/s", flop_tok * tps / 1e9,
           100 * flop_tok * tps / (peak * 1e9), peak);
    printf("peer: plain sgemm %dx%dx%d in the same run: %.1f GFLOP/s; the training step reaches %.0f%% of it\n", gn, gm,
           gk, g_gflops, g_gflops > 0 ? 100 * flop_tok * tps / 1e9 / g_gflops : 0);
    printf("result: mode=%s tokens_per_s=%.1f mfu_pct=%.2f\n", lora_rank ? "lora" : "full", tps,
           100 * flop_tok * tps / (peak * 1e9));
    lo_trainer_free(tr);
    lo_train_model_free(m);
    free(tok), free(tgt), free(mask), free(step_sec);
    return 0;
}
