/* train: QLoRA. On bases written by gen-model in Q8_0, Q4_0 and Q4_K_M (a K-quant mix) the
 * QLoRA trainer (stored matrices dequantised on the fly) gives the loss and adapter
 * gradients of the f32 LoRA trainer on the dequantised weights, also with LoRA dropout and
 * with a scratch of a few rows (many chunks); lo_train_run with --method qlora lowers the
 * loss, stopping and resuming it (dropout on) gives the uninterrupted run's losses and
 * output bytes, and the output is the base with only the adapted tensors rewritten; a
 * base with an IQ4_NL tensor is refused naming the type. With ../shared: on stories260K
 * Q8_0 and Q4_0 the QLoRA forward with B = 0 gives the engine's per-token losses on the
 * same file (bound 3e-2: the engine multiplies Q8-quantised activations), and the merged,
 * re-quantised output of a short QLoRA run gives through the engine the trainer's losses
 * with adapters (loose bound: re-quantising is lossy). */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "llmops/gguf.h"
#include "llmops/model.h"
#include "llmops/tensor.h"
#include "llmops/train.h"

enum { MAX_T = 48 };

static char g_dir[128];

static void path_in(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", g_dir, name);
}

static void gen_base(const char *path, int32_t dim, int32_t ff, lo_ftype ft) {
    lo_gen_model_params gp = {.arch = "llama",
                              .n_embd = dim,
                              .n_layer = 2,
                              .n_head = 4,
                              .n_head_kv = 2,
                              .n_ff = ff,
                              .n_vocab = 259,
                              .n_ctx = 64,
                              .ftype = ft,
                              .seed = 11};
    CHECK_OK(lo_model_gen_random(&gp, path));
}

static float draw(uint64_t *st) {
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*st >> 40) & 0xffffff) / 16777216.0f - 0.5f;
}

/* An f32 model holding the dequantised weights of the GGUF at path. */
static lo_train_model *dequantised(const char *path, const lo_train_config *c) {
    lo_train_model *m = NULL;
    CHECK_OK(lo_train_model_init(c, 1, &m));
    lo_gguf *g = NULL;
    CHECK_OK(lo_gguf_open(path, &g));
    if (!m || !g) {
        lo_gguf_close(g);
        lo_train_model_free(m);
        return NULL;
    }
    for (int32_t i = 0; i < lo_train_model_n_tensors(m); i++) {
        const lo_train_tensor tt = lo_train_model_tensor(m, i);
        const int64_t k = lo_gguf_find_tensor(g, tt.name);
        CHECK(k >= 0);
        if (k >= 0) lo_dequantize_row(lo_gguf_tensor_at(g, k)->type, lo_gguf_tensor_at(g, k)->data, tt.w, tt.n);
    }
    lo_gguf_close(g);
    return m;
}

/* Loss and adapter gradients of one micro-batch (dropout on with a fixed key when asked). */
static double grads(lo_train_model *m, int64_t qchunk, bool dropout, const int32_t *tok, const int32_t *tgt,
                    const uint8_t *mask, float *g_out) {
    lo_train_params p = {.batch = 2, .seq = 16, .grad_accum = 1, .n_threads = 2, .total_steps = 1, .lr = 1e-3f};
    p.qchunk_floats = qchunk;
    lo_trainer *tr = NULL;
    CHECK_OK(lo_trainer_create(m, &p, &tr));
    if (!tr) return NAN;
    lo_trainer_set_dropout(tr, dropout, 77, 4, 1);
    double sum = 0;
    int64_t n = 0;
    lo_trainer_zero_grad(tr);
    CHECK_OK(lo_trainer_forward(tr, tok, tgt, mask, true, 1.0f / 32, &sum, &n));
    int64_t off = 0;
    for (int32_t i = 0; i < lo_train_model_n_trainable(m); i++) {
        const lo_train_tensor tt = lo_train_model_trainable(m, i);
        memcpy(g_out + off, tt.g, (size_t)tt.n * sizeof(float));
        off += tt.n;
    }
    lo_trainer_free(tr);
    return sum;
}

/* QLoRA against f32 LoRA on the dequantised weights: same loss and adapter gradients. */
static void equivalence(const char *path, const char *what) {
    lo_train_model *mq = NULL;
    CHECK_OK(lo_train_model_load_qlora(path, &mq));
    if (!mq) return;
    lo_train_model *mf = dequantised(path, lo_train_model_config(mq));
    if (!mf) {
        lo_train_model_free(mq);
        return;
    }
    const lo_lora_config lc = {.rank = 4, .alpha = 8, .targets = LO_LORA_ALL, .dropout = 0.2f};
    CHECK_OK(lo_train_model_add_lora(mq, &lc, 3));
    CHECK_OK(lo_train_model_add_lora(mf, &lc, 3));
    const int64_t n = lo_train_model_n_trainable_params(mq);
    CHECK_INT_EQ(n, lo_train_model_n_trainable_params(mf));
    uint64_t st = 99;
    for (int32_t i = 0; i < lo_train_model_n_trainable(mq); i++) { /* same A (seeded), same non-zero B */
        lo_train_tensor a = lo_train_model_trainable(mq, i), b = lo_train_model_trainable(mf, i);
        CHECK(!memcmp(a.w, b.w, (size_t)a.n * sizeof(float)));
        if (strstr(a.name, ".lora_b"))
            for (int64_t j = 0; j < a.n; j++) a.w[j] = b.w[j] = 0.2f * draw(&st);
    }
    int32_t tok[32], tgt[32];
    uint8_t mask[32];
    for (int i = 0; i < 32; i++) tok[i] = (i * 37 + 5) % 259, tgt[i] = (i * 53 + 1) % 259, mask[i] = 1;
    float *gq = lo_malloc((size_t)n * sizeof(float)), *gf = lo_malloc((size_t)n * sizeof(float)),
          *gc = lo_malloc((size_t)n * sizeof(float));
    for (int d = 0; d < 2; d++) {
        const double lq = grads(mq, 0, d, tok, tgt, mask, gq);
        const double lf = grads(mf, 0, d, tok, tgt, mask, gf);
        const double lc2 = grads(mq, 700, d, tok, tgt, mask, gc); /* a few rows per chunk */
        double dmax = 0, gmax = 0, cmax = 0;
        for (int64_t j = 0; j < n; j++) {
            dmax = fmax(dmax, fabs((double)gq[j] - gf[j]));
            cmax = fmax(cmax, fabs((double)gq[j] - gc[j]));
            gmax = fmax(gmax, fabs((double)gf[j]));
        }
        fprintf(stderr, "%s%s: loss %.6f (f32 on dequantised %.6f, chunked %.6f), max |Δg| %.2e / max |g| %.2e\n", what,
                d ? " dropout" : "", lq / 32, lf / 32, lc2 / 32, dmax, gmax);
        CHECK_MSG(fabs(lq - lf) < 1e-5 * fabs(lf), "%s: loss %.8g vs %.8g", what, lq, lf);
        CHECK_MSG(fabs(lc2 - lf) < 1e-5 * fabs(lf), "%s chunked: loss %.8g vs %.8g", what, lc2, lf);
        CHECK_MSG(gmax > 1e-4 && dmax < 1e-4 * gmax && cmax < 1e-4 * gmax,
                  "%s: gradients differ by %.3g (chunked %.3g)", what, dmax, cmax);
    }
    lo_free(gq), lo_free(gf), lo_free(gc);
    lo_train_model_free(mq);
    lo_train_model_free(mf);
}

/* ---- whole runs --------------------------------------------------------------------------- */

enum { STEPS = 20, STOP_AT = 9 };
typedef struct rec {
    double loss[STEPS + 1];
    volatile sig_atomic_t *stop;
} rec;
static void on_report(void *ud, const lo_train_report *r) {
    rec *c = ud;
    if (r->step > 0 && r->step <= STEPS) c->loss[r->step] = r->loss;
    if (c->stop && r->step == STOP_AT) *c->stop = 1;
}

static bool same_file(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool eq = lo_read_file(a, &x, &nx) == LO_OK && lo_read_file(b, &y, &ny) == LO_OK && nx == ny && !memcmp(x, y, nx);
    lo_free(x), lo_free(y);
    return eq;
}

static void runs(const char *base, const char *data) {
    static const lo_lora_config lc = {
        .rank = 4, .alpha = 8, .targets = LO_LORA_Q | LO_LORA_V | LO_LORA_DOWN, .dropout = 0.1f};
    char out[192], out2[192], ad[192], ckpt[192];
    path_in(out, sizeof out, "run.gguf");
    path_in(out2, sizeof out2, "resumed.gguf");
    path_in(ad, sizeof ad, "adapter.gguf");
    path_in(ckpt, sizeof ckpt, "run.ckpt");
    static rec a, b, c;
    lo_train_run_params p = {.data_path = data,
                             .val_fraction = 0.1,
                             .base_path = base,
                             .out_path = out,
                             .lora = &lc,
                             .qlora = true,
                             .adapter_path = ad,
                             .train = {.batch = 2,
                                       .seq = 32,
                                       .grad_accum = 2,
                                       .n_threads = 2,
                                       .total_steps = STEPS,
                                       .lr = 1e-2f,
                                       .min_lr = 1e-3f,
                                       .warmup = 2,
                                       .schedule = LO_SCHED_COSINE,
                                       .grad_clip = 1.0f},
                             .seed = 5,
                             .eval_every = 10,
                             .report = on_report,
                             .report_ud = &a};
    lo_train_result res;
    CHECK_OK(lo_train_run(&p, &res));
    fprintf(stderr, "qlora run: val loss %.4f -> %.4f, %lld trainable of %lld\n", res.first_val_loss, res.last_val_loss,
            (long long)res.n_trainable, (long long)res.n_params);
    CHECK(res.last_val_loss < res.first_val_loss - 0.3);              /* random weights: ~log 259, falling */
    CHECK(res.n_trainable == 2 * 4 * (64 + 64 + 64 + 32 + 128 + 64)); /* A + B of q, v, down on 2 layers */
    /* The output is the base: same KVs, same tensors and types; only the adapted ones differ. */
    lo_gguf *gb = NULL, *go = NULL, *ga = NULL;
    CHECK_OK(lo_gguf_open(base, &gb));
    CHECK_OK(lo_gguf_open(out, &go));
    CHECK_OK(lo_gguf_open(ad, &ga));
    if (gb && go && ga) {
        CHECK_INT_EQ(lo_gguf_n_kv(go), lo_gguf_n_kv(gb));
        CHECK_INT_EQ(lo_gguf_n_tensors(go), lo_gguf_n_tensors(gb));
        int changed = 0;
        for (int64_t i = 0; i < lo_gguf_n_tensors(gb) && i < lo_gguf_n_tensors(go); i++) {
            const lo_gguf_tensor *x = lo_gguf_tensor_at(gb, i), *y = lo_gguf_tensor_at(go, i);
            CHECK(x->type == y->type && x->bytes == y->bytes && x->name.len == y->name.len &&
                  !memcmp(x->name.data, y->name.data, x->name.len));
            const bool adapted = x->name.len > 6 && (strstr(x->name.data, "attn_q.weight") == x->name.data + 6 ||
                                                     strstr(x->name.data, "attn_v.weight") == x->name.data + 6 ||
                                                     strstr(x->name.data, "ffn_down.weight") == x->name.data + 6);
            const bool same = x->bytes == y->bytes && !memcmp(x->data, y->data, x->bytes);
            CHECK_MSG(adapted != same, "%.*s: adapted %d, unchanged %d", (int)x->name.len, x->name.data, adapted, same);
            changed += !same;
        }
        CHECK_INT_EQ(changed, 6);
        CHECK_INT_EQ(lo_gguf_n_tensors(ga), 12);
    }
    lo_gguf_close(gb), lo_gguf_close(go), lo_gguf_close(ga);
    lo_model *lm = NULL;
    CHECK_OK(lo_model_load(out, &lm)); /* the merged output loads in the engine */
    lo_model_free(lm);

    /* Stop at step 9 (a checkpoint), resume: the same losses step for step, the same bytes. */
    static volatile sig_atomic_t stop;
    b.stop = &stop;
    p.out_path = out2, p.adapter_path = NULL, p.report_ud = &b, p.checkpoint_path = ckpt, p.stop = &stop;
    CHECK_OK(lo_train_run(&p, &res));
    CHECK(res.interrupted && res.steps == STOP_AT);
    struct stat sb;
    CHECK(stat(ckpt, &sb) == 0 && stat(out2, &sb) != 0);
    p.stop = NULL, p.resume_path = ckpt, p.report_ud = &c;
    CHECK_OK(lo_train_run(&p, &res));
    CHECK_INT_EQ(res.start_step, STOP_AT);
    for (int s = 1; s <= STEPS; s++) {
        const double want = a.loss[s], got = s <= STOP_AT ? b.loss[s] : c.loss[s];
        CHECK_MSG(got == want, "step %d: loss %.9g, uninterrupted %.9g", s, got, want);
    }
    CHECK_MSG(same_file(out, out2), "resumed QLoRA output differs from the uninterrupted run's");
    /* a LoRA checkpoint is not a QLoRA one, nor one with another dropout */
    lo_lora_config lc2 = lc;
    lc2.dropout = 0.2f;
    p.lora = &lc2;
    CHECK(lo_train_run(&p, &res) == LO_ERR_INVALID && strstr(lo_error_message(), "dropout"));
    p.lora = &lc, p.qlora = false;
    char f32p[192];
    path_in(f32p, sizeof f32p, "base-f32.gguf");
    p.base_path = f32p;
    CHECK(lo_train_run(&p, &res) == LO_ERR_INVALID && strstr(lo_error_message(), "method"));
}

/* base with one tensor's type id rewritten to IQ4_NL (same block geometry as Q4_0). */
static void unsupported(const char *q4, const char *out) {
    lo_gguf *g = NULL;
    CHECK_OK(lo_gguf_open(q4, &g));
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(3, &w));
    if (!g || !w) return;
    CHECK_OK(lo_gguf_writer_copy_kvs(w, g));
    for (int64_t i = 0; i < lo_gguf_n_tensors(g); i++) {
        const lo_gguf_tensor *gt = lo_gguf_tensor_at(g, i);
        char name[96];
        snprintf(name, sizeof name, "%.*s", (int)gt->name.len, gt->name.data);
        const uint32_t ty = !strcmp(name, "blk.1.ffn_up.weight") ? LO_DTYPE_IQ4_NL : gt->type;
        if (ty == LO_DTYPE_IQ4_NL) CHECK(gt->type == LO_DTYPE_Q4_0);
        CHECK_OK(lo_gguf_writer_add_tensor(w, name, ty, gt->n_dims, gt->ne, gt->data, gt->bytes));
    }
    CHECK_OK(lo_gguf_writer_write(w, out));
    lo_gguf_writer_free(w);
    lo_gguf_close(g);
    lo_train_model *m = NULL;
    CHECK(lo_train_model_load_qlora(out, &m) == LO_ERR_UNSUPPORTED && !m);
    CHECK(strstr(lo_error_message(), "blk.1.ffn_up.weight is iq4_nl") != NULL);
    CHECK(strstr(lo_error_hint(), "llmops quantize") != NULL);
}

/* ---- against the engine (../shared) ------------------------------------------------------- */

static const char *k_text = "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
                            "park with her friends and her big red ball.";

static void engine_losses(const char *path, const int32_t *ids, int32_t T, double *loss) {
    lo_model *lm = NULL;
    CHECK_OK(lo_model_load(path, &lm));
    lo_context_params cp = {.n_ctx = 64, .n_seq = 1, .n_batch = 64, .n_threads = 2};
    lo_context *ctx = NULL;
    if (lm) CHECK_OK(lo_context_create(lm, &cp, &ctx));
    if (!ctx) {
        lo_model_free(lm);
        return;
    }
    const int32_t nv = lo_model_hparams(lm)->n_vocab;
    int32_t pos[MAX_T], seq[MAX_T] = {0};
    bool want[MAX_T];
    for (int32_t t = 0; t < T; t++) pos[t] = t, want[t] = true;
    lo_batch b = {.n_tokens = T, .token = (int32_t *)ids, .pos = pos, .seq = seq, .logits = want};
    CHECK_OK(lo_model_decode(ctx, &b));
    for (int32_t t = 0; t < T; t++) {
        const float *lg = lo_context_logits(ctx, t);
        double mx = lg[0], s = 0;
        for (int32_t v = 1; v < nv; v++) mx = lg[v] > mx ? lg[v] : mx;
        for (int32_t v = 0; v < nv; v++) s += exp((double)lg[v] - mx);
        loss[t] = log(s) + mx - (double)lg[ids[t + 1]];
    }
    lo_context_free(ctx);
    lo_model_free(lm);
}

static void trainer_losses(lo_trainer *tr, const int32_t *ids, int32_t T, double *loss) {
    uint8_t mask[MAX_T];
    for (int32_t t = 0; t < T; t++) {
        memset(mask, 0, sizeof mask);
        mask[t] = 1;
        double sum = 0;
        int64_t n = 0;
        CHECK_OK(lo_trainer_forward(tr, ids, ids + 1, mask, false, 0, &sum, &n));
        loss[t] = sum;
    }
}

static void engine_parity(const char *path, const char *what, const char *merged_out) {
    lo_model *lm = NULL;
    CHECK_OK(lo_model_load(path, &lm));
    if (!lm) return;
    lo_tokens ids = {0};
    CHECK_OK(lo_tokenize(lo_model_tokenizer(lm), k_text, strlen(k_text), true, false, &ids));
    lo_model_free(lm);
    const int32_t T = (int32_t)(ids.n - 1 < MAX_T ? ids.n - 1 : MAX_T);
    lo_train_model *m = NULL;
    CHECK_OK(lo_train_model_load_qlora(path, &m));
    const lo_lora_config lc = {.rank = 4, .alpha = 8, .targets = LO_LORA_ALL};
    if (m) CHECK_OK(lo_train_model_add_lora(m, &lc, 1)); /* B = 0: the base */
    lo_train_params p = {.batch = 1,
                         .seq = T,
                         .grad_accum = 1,
                         .n_threads = 2,
                         .total_steps = 15,
                         .lr = 3e-3f,
                         .min_lr = 3e-3f,
                         .schedule = LO_SCHED_CONSTANT};
    lo_trainer *tr = NULL;
    if (m) CHECK_OK(lo_trainer_create(m, &p, &tr));
    if (!tr) {
        lo_train_model_free(m);
        lo_tokens_free(&ids);
        return;
    }
    double lt[MAX_T], le[MAX_T], after[MAX_T], merged[MAX_T];
    trainer_losses(tr, ids.ids, T, lt);
    engine_losses(path, ids.ids, T, le);
    double d = 0, mean = 0, dmean = 0;
    for (int32_t t = 0; t < T; t++)
        d = fmax(d, fabs(lt[t] - le[t])), mean += lt[t] / T, dmean += fabs(lt[t] - le[t]) / T;
    /* 15 steps on the text, then the merged, re-quantised output through the engine */
    uint8_t mask[MAX_T];
    memset(mask, 1, sizeof mask);
    for (int64_t k = 0; k < p.total_steps; k++) {
        double sum;
        int64_t n;
        lo_trainer_zero_grad(tr);
        CHECK_OK(lo_trainer_forward(tr, ids.ids, ids.ids + 1, mask, true, 1.0f / (float)T, &sum, &n));
        lo_trainer_step(tr, k, NULL);
    }
    trainer_losses(tr, ids.ids, T, after);
    CHECK_OK(lo_train_model_save_gguf(m, NULL, NULL, merged_out));
    engine_losses(merged_out, ids.ids, T, merged);
    double dm = 0, mean_after = 0, mean_merged = 0;
    for (int32_t t = 0; t < T; t++) {
        dm = fmax(dm, fabs(after[t] - merged[t]));
        mean_after += after[t] / T, mean_merged += merged[t] / T;
    }
    fprintf(stderr,
            "%s: QLoRA forward (B = 0) vs engine: mean loss %.4f, per-token diff max %.2e mean %.2e; after 15 steps "
            "%.4f, merged re-quantised in the engine %.4f (max per-token diff %.2e)\n",
            what, mean, d, dmean, mean_after, mean_merged, dm);
    CHECK_MSG(d < 0.15 && dmean < 3e-2, "%s: QLoRA forward and engine differ by %.3g (mean %.3g)", what, d, dmean);
    CHECK(mean_after < 0.5 * mean);
    CHECK_MSG(fabs(mean_merged - mean_after) < 0.1 * mean_after + 0.05, "%s: merged %.4f vs trained %.4f", what,
              mean_merged, mean_after);
    lo_trainer_free(tr);
    lo_train_model_free(m);
    lo_tokens_free(&ids);
    unlink(merged_out);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/lo_test_qlora.%d", (int)getpid());
    CHECK(mkdir(g_dir, 0700) == 0);
    char f32p[192], q8[192], q4[192], qk[192], bad[192], data[192];
    path_in(f32p, sizeof f32p, "base-f32.gguf");
    path_in(q8, sizeof q8, "base-q8_0.gguf");
    path_in(q4, sizeof q4, "base-q4_0.gguf");
    path_in(qk, sizeof qk, "base-q4_k_m.gguf");
    path_in(bad, sizeof bad, "base-iq4_nl.gguf");
    path_in(data, sizeof data, "data.txt");
    gen_base(f32p, 64, 128, LO_FTYPE_ALL_F32);
    CHECK_OK(lo_model_quantize(f32p, q8, LO_FTYPE_Q8_0, 2));
    CHECK_OK(lo_model_quantize(f32p, q4, LO_FTYPE_Q4_0, 2));
    gen_base(qk, 256, 512, LO_FTYPE_Q4_K_M);
    equivalence(q8, "Q8_0");
    equivalence(q4, "Q4_0");
    equivalence(qk, "Q4_K_M");
    FILE *f = fopen(data, "w");
    CHECK(f != NULL);
    if (f) {
        for (int i = 0; i < 30; i++) fprintf(f, "the cat sat on the mat %d times.\n\n", i % 3);
        fclose(f);
    }
    runs(q4, data);
    unsupported(q4, bad);
    const char *dir = getenv("LO_SHARED_DIR");
#ifdef LO_SHARED_DIR
    if (!dir) dir = LO_SHARED_DIR;
#endif
    char sp[512], merged[192];
    path_in(merged, sizeof merged, "merged.gguf");
    snprintf(sp, sizeof sp, "%s/models/quant/stories260K-Q8_0.gguf", dir ? dir : ".");
    if (dir && access(sp, R_OK) == 0) {
        engine_parity(sp, "stories260K Q8_0", merged);
        snprintf(sp, sizeof sp, "%s/models/quant/stories260K-Q4_0.gguf", dir);
        engine_parity(sp, "stories260K Q4_0", merged);
    } else {
        fprintf(stderr, "engine parity skipped: no ../shared\n");
    }
    const char *files[] = {f32p, q8, q4, qk, bad, data};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) unlink(files[i]);
    const char *rest[] = {"run.gguf", "resumed.gguf", "adapter.gguf", "run.ckpt"};
    for (size_t i = 0; i < sizeof rest / sizeof *rest; i++) {
        char p[192];
        path_in(p, sizeof p, rest[i]);
        unlink(p);
    }
    rmdir(g_dir);
    return check_done();
}
