/* train: the trainer's buffers and the llama forward + hand-written backward pass over B
 * sequences of T tokens in f32 — OpenBLAS sgemm for every product (attention's on strided
 * per-head views, causal row blocks, single-threaded per head on the thread pool; a QLoRA
 * base's matrices dequantised in row chunks first), the thread pool for attention, the
 * cross-entropy rows and dequantisation, vector exp kernels (vmath.c) for the softmaxes
 * and SiLU, LoRA adapters with dropout. Shapes:
 * N = B·T rows; D model width, KV = n_head_kv·hd, F FFN width, V vocab; matrices are
 * row-major [out][in]. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "llmops/tensor.h"
#include "train/train_internal.h"

/* ---- creation ---------------------------------------------------------------------------- */

static float *carve(lo_arena *a, int64_t n_floats) {
    float *p = lo_arena_alloc(a, (size_t)n_floats * sizeof(float), 64);
    LO_ASSERT(p); /* the arena was sized from the same list */
    return p;
}

/* Floats of the QLoRA dequantisation scratch: the largest row chunk of any stored matrix. */
static int64_t qbuf_floats(const lo_train_model *m, int64_t budget) {
    if (!m->qbase) return 0;
    int64_t mx = lo_train__qchunk_rows(&m->Q.output, budget) * m->Q.output.ne0;
    for (int64_t l = 0; l < m->c.n_layer; l++)
        for (int k = 0; k < LO_LORA_N_TARGETS; k++) {
            const lo_train_qmat *q = lo_train__qmat(m, l, k);
            const int64_t f = lo_train__qchunk_rows(q, budget) * q->ne0;
            if (f > mx) mx = f;
        }
    return mx;
}

/* The widest adapter input (D, or F with an adapter on ffn_down): dropout's scratch rows. */
static int64_t drop_width(const lo_train_model *m) {
    const lo_train_lora *a = m->lora;
    if (!a || !(a->c.dropout > 0)) return 0;
    return (a->c.targets & LO_LORA_DOWN) && m->c.n_ff > m->c.n_embd ? m->c.n_ff : m->c.n_embd;
}

/* Bytes of the arena: every buffer lo_trainer_create carves, with alignment slack. */
static size_t trainer_bytes(const lo_trainer *t) {
    const lo_train_config *c = &t->m->c;
    const size_t N = (size_t)t->N, D = (size_t)c->n_embd, KV = (size_t)t->KV, F = (size_t)c->n_ff;
    const size_t V = (size_t)c->n_vocab, L = (size_t)c->n_layer, H = (size_t)c->n_head, T = (size_t)t->T;
    const size_t B = (size_t)t->B;
    size_t per_layer = 5 * N * D + 2 * N * KV + 3 * N * F + B * H * T * T + 2 * N;
    size_t floats = (L + 1) * N * D + L * per_layer + N * D + N + N * V + T * (size_t)t->hd;
    floats += 4 * N * D + 2 * N * KV + 3 * N * F + (size_t)t->att_workers * T * T;
    const lo_train_lora *lr = t->m->lora;
    if (lr) { /* x·Aᵀ of every adapter, and its gradient's scratch */
        for (int32_t i = 0; i < lr->n_t; i += 2) floats += N * (size_t)lr->c.rank;
        floats += N * (size_t)lr->c.rank;
    }
    const size_t dw = (size_t)drop_width(t->m);
    floats += 2 * N * dw + (size_t)t->qbuf_floats;
    /* 64-byte alignment slack per buffer, the row losses in double, dropout's mask bytes */
    return floats * sizeof(float) + (N + (size_t)t->adam_parts + 1) * sizeof(double) + N * dw +
           (size_t)(16 * L + 45 + (lr ? lr->n_t : 0)) * 64;
}

lo_status lo_trainer_create(lo_train_model *m, const lo_train_params *p, lo_trainer **out) {
    *out = NULL;
    if (!m || !p)
        return lo_error(LO_ERR_INVALID, "create the model first (lo_train_model_init)",
                        "train: no model or parameters");
    const lo_train_config *c = &m->c;
    if (p->batch < 1 || p->batch > 65536 || p->seq < 1 || p->seq > c->n_ctx)
        return lo_error(LO_ERR_RANGE, "give --batch ≥ 1 and 1 ≤ --seq ≤ --ctx", "train: batch %d, seq %d (context %d)",
                        p->batch, p->seq, c->n_ctx);
    if (p->grad_accum < 1 || p->grad_accum > 65536)
        return lo_error(LO_ERR_RANGE, "give 1 ≤ --grad-accum ≤ 65536", "train: grad accumulation %d", p->grad_accum);
    if (!(p->lr > 0 && p->lr < 10) || !(p->min_lr >= 0 && p->min_lr <= p->lr) || p->warmup < 0 || p->total_steps < 1)
        return lo_error(LO_ERR_RANGE, "give 0 < --lr < 10, 0 ≤ --min-lr ≤ --lr, --warmup ≥ 0, --steps ≥ 1",
                        "train: lr %g, min lr %g, warmup %d, steps %lld", p->lr, p->min_lr, p->warmup,
                        (long long)p->total_steps);
    if ((int)p->schedule < 0 || (int)p->schedule > LO_SCHED_COSINE)
        return lo_error(LO_ERR_INVALID, "use constant, linear or cosine", "train: unknown schedule %d",
                        (int)p->schedule);
    if (!(p->weight_decay >= 0 && p->weight_decay < 10) || !(p->beta1 >= 0 && p->beta1 < 1) ||
        !(p->beta2 >= 0 && p->beta2 < 1) || !(p->adam_eps >= 0 && p->adam_eps < 1) || !(p->grad_clip < 1e30f))
        return lo_error(LO_ERR_RANGE, "give 0 ≤ --weight-decay < 10, betas and eps in [0, 1), a finite --grad-clip",
                        "train: weight decay %g, betas %g/%g, eps %g or clip %g out of range", p->weight_decay,
                        p->beta1, p->beta2, p->adam_eps, p->grad_clip);
    if (p->qchunk_floats < 0 || p->qchunk_floats > ((int64_t)1 << 32))
        return lo_error(LO_ERR_RANGE, "give 0 ≤ qchunk_floats ≤ 2^32 (0 = the default)",
                        "train: QLoRA scratch of %lld floats", (long long)p->qchunk_floats);
    if (m->qbase && !m->lora)
        return lo_error(LO_ERR_INVALID, "add adapters (lo_train_model_add_lora): a QLoRA base is frozen",
                        "train: a quantised base without adapters has nothing to train");
    size_t n_tok;
    if (lo_mul_overflow((size_t)p->batch, (size_t)p->seq, &n_tok) || n_tok > (1u << 24))
        return lo_error(LO_ERR_RANGE, "give a smaller --batch × --seq", "train: %d × %d tokens per micro-batch",
                        p->batch, p->seq);
    lo_trainer *t = lo_calloc(1, sizeof *t);
    if (!t) return LO_ERR_NOMEM;
    t->m = m;
    t->p = *p;
    if (t->p.beta1 == 0) t->p.beta1 = 0.9f;
    if (t->p.beta2 == 0) t->p.beta2 = 0.95f;
    if (t->p.adam_eps == 0) t->p.adam_eps = 1e-8f;
    t->B = p->batch, t->T = p->seq, t->N = (int32_t)n_tok;
    t->hd = c->n_embd / c->n_head;
    t->KV = t->hd * c->n_head_kv;
    t->n_threads = p->n_threads > 0 ? p->n_threads : lo_cpu_count();
    if (t->n_threads > 256) t->n_threads = 256;
    t->att_blk = LO_TRAIN_ATT_BLK;
    t->adam_parts = (lo_train__trainable(m).n + LO_TRAIN_ADAM_CHUNK - 1) / LO_TRAIN_ADAM_CHUNK;
    /* attention's workers: one backward scratch each */
    t->att_workers = t->n_threads < p->batch * c->n_head_kv ? t->n_threads : p->batch * c->n_head_kv;
    t->qbuf_floats = qbuf_floats(m, p->qchunk_floats > 0 ? p->qchunk_floats : LO_TRAIN_QCHUNK_FLOATS);
    const int L = c->n_layer;
    /* The arena's size in double first: absurd shapes are refused before any size_t
     * arithmetic could wrap. */
    const double est = ((double)c->n_layer + 2) * (double)n_tok *
                           (8.0 * c->n_embd + 3.0 * c->n_ff + (double)c->n_head * p->seq) * 4.0 +
                       (double)n_tok * c->n_vocab * 4.0;
    if (est > 1e14) {
        lo_free(t);
        return lo_error(LO_ERR_RANGE, "give a smaller --batch, --seq or model",
                        "train: the activations would need about %.3g bytes", est);
    }
    lo_status s = lo_pool_create(t->n_threads, &t->pool);
    if (!s) {
        t->resid = lo_calloc((size_t)L + 1, sizeof *t->resid);
        t->a = lo_calloc((size_t)L, sizeof *t->a);
        t->lora_xa = m->lora ? lo_calloc((size_t)L * LO_LORA_N_TARGETS, sizeof *t->lora_xa) : NULL;
        if (!t->resid || !t->a || (m->lora && !t->lora_xa)) s = LO_ERR_NOMEM;
    }
    if (!s) {
        s = lo_arena_init(&t->arena, trainer_bytes(t));
        if (s)
            s = lo_error(s, "give a smaller --batch, --seq or model",
                         "train: no memory for the activations (%zu bytes)", trainer_bytes(t));
    }
    if (s) {
        lo_trainer_free(t);
        return s;
    }
    const int64_t N = t->N, D = c->n_embd, KV = t->KV, F = c->n_ff, V = c->n_vocab, T = t->T;
    lo_arena *a = &t->arena;
    for (int l = 0; l <= L; l++) t->resid[l] = carve(a, N * D);
    for (int l = 0; l < L; l++) {
        lo_train_acts *y = &t->a[l];
        y->xn1 = carve(a, N * D), y->q = carve(a, N * D), y->k = carve(a, N * KV), y->v = carve(a, N * KV);
        y->att_p = carve(a, (int64_t)t->B * c->n_head * T * T);
        y->att_out = carve(a, N * D), y->x_mid = carve(a, N * D), y->xn2 = carve(a, N * D);
        y->gate = carve(a, N * F), y->up = carve(a, N * F), y->h = carve(a, N * F);
        y->rstd1 = carve(a, N), y->rstd2 = carve(a, N);
    }
    t->xf = carve(a, N * D), t->rstd_f = carve(a, N), t->logits = carve(a, N * V);
    t->rope = carve(a, T * t->hd);
    t->dx = carve(a, N * D), t->dxn = carve(a, N * D), t->dq = carve(a, N * D), t->datt = carve(a, N * D);
    t->dk = carve(a, N * KV), t->dv = carve(a, N * KV);
    t->dh = carve(a, N * F), t->dgate = carve(a, N * F), t->dup = carve(a, N * F);
    t->dp = carve(a, (int64_t)t->att_workers * T * T);
    if (m->lora) {
        const int64_t r = m->lora->c.rank;
        for (size_t i = 0; i < (size_t)L * LO_LORA_N_TARGETS; i++)
            if (m->lora->a[i]) t->lora_xa[i] = carve(a, N * r);
        t->lora_dxa = carve(a, N * r);
    }
    if (drop_width(m)) {
        t->lora_xd = carve(a, N * drop_width(m)), t->lora_dxd = carve(a, N * drop_width(m));
        t->drop_mask = lo_arena_alloc(a, (size_t)(N * drop_width(m)), 64);
        LO_ASSERT(t->drop_mask);
    }
    if (t->qbuf_floats) t->qbuf = carve(a, t->qbuf_floats);
    t->row_loss = lo_arena_alloc(a, (size_t)N * sizeof(double), 64);
    t->adam_part = lo_arena_alloc(a, (size_t)(t->adam_parts > 0 ? t->adam_parts : 1) * sizeof(double), 64);
    LO_ASSERT(t->row_loss && t->adam_part);
    for (int64_t i = 0; i < T; i++) lo_rope_cache(t->rope + i * t->hd, t->hd, (int32_t)i, c->rope_freq_base, 1.0f);
    /* OpenBLAS's own threads do the products; its partitioning is fixed for a thread count,
     * so results are reproducible for the same --threads. */
    openblas_set_num_threads(t->n_threads);
    *out = t;
    return LO_OK;
}

void lo_trainer_free(lo_trainer *t) {
    if (!t) return;
    lo_pool_free(t->pool);
    lo_arena_free(&t->arena);
    lo_free(t->resid);
    lo_free(t->a);
    lo_free(t->lora_xa);
    lo_free(t);
}

const char *lo_train_blas_info(void) {
    static _Thread_local char buf[160];
    snprintf(buf, sizeof buf, "OpenBLAS (%s) core %s", openblas_get_config(), openblas_get_corename());
    return buf;
}

void lo_trainer_zero_grad(lo_trainer *t) {
    const lo_train_block b = lo_train__trainable(t->m);
    memset(b.g, 0, (size_t)b.n * sizeof(float));
}

void lo_trainer_set_dropout(lo_trainer *t, bool on, uint64_t seed, int64_t step, int32_t micro) {
    t->drop_on = on && t->lora_xd;
    t->drop_key = lo_train__mix(lo_train__mix(lo_train__mix(seed ^ 0x6c6f72612d64726full) ^ (uint64_t)step) ^
                                (uint64_t)(uint32_t)micro);
}

/* ---- products ------------------------------------------------------------------------------ */

/* Y[N][O] = X[N][K] · W[O][K]ᵀ (+ Y when acc) */
static void mm_fwd(float *Y, const float *X, const float *W, int64_t N, int64_t O, int64_t K, bool acc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)O, (int)K, 1.0f, X, (int)K, W, (int)K,
                acc ? 1.0f : 0.0f, Y, (int)O);
}
/* dX[N][K] (+)= dY[N][O] · W[O][K] */
static void mm_dx(float *dX, const float *dY, const float *W, int64_t N, int64_t O, int64_t K, bool acc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)K, (int)O, 1.0f, dY, (int)O, W, (int)K,
                acc ? 1.0f : 0.0f, dX, (int)K);
}
/* dW[O][K] += dY[N][O]ᵀ · X[N][K] */
static void mm_dw(float *dW, const float *dY, const float *X, int64_t N, int64_t O, int64_t K) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)O, (int)K, (int)N, 1.0f, dY, (int)O, X, (int)K, 1.0f, dW,
                (int)K);
}

/* ---- a QLoRA base: stored matrices dequantised in row chunks ------------------------------------- */

typedef struct dq_job {
    const lo_train_qmat *q;
    int64_t r0, nr;
    float *dst;
} dq_job;

/* Rows [r0, r0+nr) of q into dst [nr][ne0], split across the pool by rows. */
static void dq_job_fn(void *arg, int ith, int nth) {
    const dq_job *j = arg;
    const int64_t a = j->nr * ith / nth, b = j->nr * (ith + 1) / nth;
    if (b > a)
        lo_dequantize_row(j->q->type, j->q->data + (size_t)(j->r0 + a) * j->q->row_bytes, j->dst + a * j->q->ne0,
                          (b - a) * j->q->ne0);
}

/* An F32 matrix is used in place when the mapping keeps it float-aligned. */
static const float *q_f32(const lo_train_qmat *q) {
    return q->type == LO_DTYPE_F32 && (uintptr_t)q->data % sizeof(float) == 0 ? (const float *)q->data : NULL;
}

/* Y[N][O] (+)= X[N][K] · Wᵀ for a base matrix: f32 W, or the stored q (data non-NULL) chunk
 * by chunk: Y[:, r0:r0+nr] = X · Q[r0:r0+nr]ᵀ. */
static void base_fwd(lo_trainer *t, float *Y, const float *X, const float *W, const lo_train_qmat *q, int64_t N,
                     int64_t O, int64_t K, bool acc) {
    if (!q || !q->data) {
        mm_fwd(Y, X, W, N, O, K, acc);
        return;
    }
    LO_ASSERT(q->ne0 == K && q->ne1 == O);
    if (q_f32(q)) {
        mm_fwd(Y, X, q_f32(q), N, O, K, acc);
        return;
    }
    const int64_t rows = lo_train__qchunk_rows(q, t->qbuf_floats);
    for (int64_t r0 = 0; r0 < O; r0 += rows) {
        dq_job j = {q, r0, O - r0 < rows ? O - r0 : rows, t->qbuf};
        lo_pool_run(t->pool, dq_job_fn, &j);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)j.nr, (int)K, 1.0f, X, (int)K, t->qbuf,
                    (int)K, acc ? 1.0f : 0.0f, Y + r0, (int)O);
    }
}

/* dX[N][K] (+)= dY[N][O] · W for a base matrix: Σ over chunks dY[:, r0:r0+nr] · Q[r0:r0+nr]. */
static void base_dx(lo_trainer *t, float *dX, const float *dY, const float *W, const lo_train_qmat *q, int64_t N,
                    int64_t O, int64_t K, bool acc) {
    if (!q || !q->data) {
        mm_dx(dX, dY, W, N, O, K, acc);
        return;
    }
    LO_ASSERT(q->ne0 == K && q->ne1 == O);
    if (q_f32(q)) {
        mm_dx(dX, dY, q_f32(q), N, O, K, acc);
        return;
    }
    const int64_t rows = lo_train__qchunk_rows(q, t->qbuf_floats);
    for (int64_t r0 = 0; r0 < O; r0 += rows) {
        dq_job j = {q, r0, O - r0 < rows ? O - r0 : rows, t->qbuf};
        lo_pool_run(t->pool, dq_job_fn, &j);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)K, (int)j.nr, 1.0f, dY + r0, (int)O,
                    t->qbuf, (int)K, acc || r0 > 0 ? 1.0f : 0.0f, dX, (int)K);
    }
}

/* ---- LoRA dropout ------------------------------------------------------------------------------ */

/* The keep-mask of adapter slot s for this micro-batch, [N][in] (1 = kept): each row from
 * its own xorshift stream seeded by (drop_key, slot, row), so the forward and backward
 * regenerate the same mask; kept with probability 1 − p (24-bit uniforms). */
static void drop_mask(const lo_trainer *t, size_t s, int64_t in, float p) {
    const uint64_t thr = (uint64_t)((double)p * 16777216.0 + 0.5);
    const uint64_t ks = lo_train__mix(t->drop_key ^ lo_train__mix(0x5107ull + s));
    for (int64_t n = 0; n < t->N; n++) {
        uint64_t st = lo_train__mix(ks ^ (uint64_t)n) | 1;
        uint8_t *mr = t->drop_mask + n * in;
        for (int64_t i = 0; i < in; i++) mr[i] = (lo_train__next(&st) >> 40) >= thr;
    }
}

/* drop(X) = X·mask/(1 − p) into lora_xd, the mask regenerated; the adapter's input. */
static const float *drop_input(lo_trainer *t, size_t s, const float *X, int64_t in) {
    const float p = t->m->lora->c.dropout, k = 1.0f / (1.0f - p);
    drop_mask(t, s, in, p);
    for (int64_t j = 0; j < t->N * in; j++) t->lora_xd[j] = t->drop_mask[j] ? X[j] * k : 0.0f;
    return t->lora_xd;
}

/* ---- projections with LoRA adapters ------------------------------------------------------------ */

/* After Y = X·Wᵀ for target k of layer l: Y += scale·(X'·Aᵀ)·Bᵀ when it has an adapter,
 * X' = drop(X) while dropout is on, else X; keeping X'·Aᵀ for the backward. */
static void lora_fwd(lo_trainer *t, int64_t l, int k, float *Y, const float *X) {
    const lo_train_lora *a = t->m->lora;
    const size_t s = (size_t)(l * LO_LORA_N_TARGETS + k);
    if (!a || !a->a[s]) return;
    int64_t o, i;
    lo_train__lora_dims(&t->m->c, k, &o, &i);
    const int r = a->c.rank, N = t->N;
    float *xa = t->lora_xa[s];
    mm_fwd(xa, t->drop_on ? drop_input(t, s, X, i) : X, a->a[s], N, r, i, false);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, (int)o, r, a->scale, xa, r, a->b[s], r, 1.0f, Y, (int)o);
}

/* Backward of Y = X·Wᵀ (+ the adapter) for target k of layer l: dW += dYᵀ·X unless the
 * base is frozen (dW NULL), dX (+)= dY·W (W f32, or QLoRA's stored q), and through the
 * adapter with X' its input (drop(X) under dropout) and u = X'·Aᵀ: dB += scale·dYᵀ·u,
 * du = scale·dY·B, dA += duᵀ·X', dX += du·A (under dropout: mask/(1 − p) ⊙ du·A). */
static void proj_bwd(lo_trainer *t, int64_t l, int k, float *dW, float *dX, const float *dY, const float *X,
                     const float *W, bool acc) {
    int64_t o, i;
    lo_train__lora_dims(&t->m->c, k, &o, &i);
    const int64_t N = t->N;
    if (dW) mm_dw(dW, dY, X, N, o, i);
    base_dx(t, dX, dY, W, t->m->qbase ? lo_train__qmat(t->m, l, k) : NULL, N, o, i, acc);
    const lo_train_lora *a = t->m->lora;
    const size_t s = (size_t)(l * LO_LORA_N_TARGETS + k);
    if (!a || !a->a[s]) return;
    const int r = a->c.rank;
    float *du = t->lora_dxa;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)o, r, (int)N, a->scale, dY, (int)o, t->lora_xa[s], r,
                1.0f, a->gb[s], r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, r, (int)o, a->scale, dY, (int)o, a->b[s], r, 0.0f,
                du, r);
    if (!t->drop_on) {
        mm_dw(a->ga[s], du, X, N, r, i);
        mm_dx(dX, du, a->a[s], N, r, i, true);
        return;
    }
    const float kp = 1.0f / (1.0f - a->c.dropout);
    mm_dw(a->ga[s], du, drop_input(t, s, X, i), N, r, i); /* leaves this slot's mask in drop_mask */
    mm_dx(t->lora_dxd, du, a->a[s], N, r, i, false);
    for (int64_t j = 0; j < N * i; j++)
        if (t->drop_mask[j]) dX[j] += t->lora_dxd[j] * kp;
}

/* ---- RMSNorm ---------------------------------------------------------------------------------- */

/* y = x · r · g, r = 1/√(mean(x²) + eps) per row (sum of squares in double, as ggml). */
static void rms_fwd(float *y, float *rstd, const float *x, const float *g, int64_t N, int64_t D, float eps) {
    for (int64_t n = 0; n < N; n++) {
        const float *xr = x + n * D;
        float *yr = y + n * D;
        double ss = 0;
        for (int64_t i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        const float r = (float)(1.0 / sqrt(ss / (double)D + (double)eps));
        rstd[n] = r;
        for (int64_t i = 0; i < D; i++) yr[i] = xr[i] * r * g[i];
    }
}

/* dx (+)= ∂/∂x, dg += ∂/∂g for y = x·r·g: dx_i = r·g_i·dy_i − x_i·r³/D · Σ_j dy_j g_j x_j. */
static void rms_bwd(float *dx, float *dg, const float *dy, const float *x, const float *rstd, const float *g, int64_t N,
                    int64_t D, bool acc) {
    for (int64_t n = 0; n < N; n++) {
        const float *xr = x + n * D, *dyr = dy + n * D;
        float *dxr = dx + n * D;
        const float r = rstd[n];
        double dot = 0;
        for (int64_t i = 0; i < D; i++) dot += (double)dyr[i] * g[i] * xr[i];
        const float k = (float)(dot * (double)r * r * r / (double)D);
        for (int64_t i = 0; i < D; i++) {
            const float d = r * g[i] * dyr[i] - xr[i] * k;
            dxr[i] = acc ? dxr[i] + d : d;
        }
        if (dg) /* NULL: the gain is frozen */
            for (int64_t i = 0; i < D; i++) dg[i] += dyr[i] * xr[i] * r;
    }
}

/* ---- RoPE (llama: adjacent pairs) -------------------------------------------------------------- */

/* Inverse rotation of each (2i, 2i+1) pair: the gradient through y = R(θ)x is R(−θ)dy. */
static void rope_bwd(float *x, int64_t n_heads, int64_t hd, const float *cache) {
    for (int64_t h = 0; h < n_heads; h++) {
        float *r = x + h * hd;
        for (int64_t i = 0; i < hd; i += 2) {
            const float c = cache[i], s = cache[i + 1];
            const float d0 = r[i], d1 = r[i + 1];
            r[i] = d0 * c + d1 * s;
            r[i + 1] = -d0 * s + d1 * c;
        }
    }
}

/* ---- attention -------------------------------------------------------------------------------- */

/* Causal attention per (sequence b, kv head) unit, the units split evenly over the pool's
 * first att_workers threads (fixed by the shapes and thread count), OpenBLAS single-threaded
 * inside (the trainer switches it around the section). Each head's products are sgemm on
 * strided views (a head's rows of q are D apart, of k/v KV apart), taken in row blocks of
 * att_blk queries (ATT_BLK; tests set smaller ones) so a block only touches keys ≤ its last row: the causal upper
 * triangle beyond the block is never computed or read. P = softmax(Q·Kᵀ/√hd) with positions > i zeroed inside the
 * block, kept in att_p[b][h] (T×T, rows of block r valid up to its end); out = P·V. */

typedef struct att_job {
    lo_trainer *t;
    const lo_train_acts *y;
} att_job;

static void att_fwd_head(lo_trainer *t, const lo_train_acts *y, int64_t b, int64_t h) {
    const int64_t T = t->T, hd = t->hd, H = t->m->c.n_head, D = t->m->c.n_embd, KV = t->KV;
    const int64_t kvh = h / (H / t->m->c.n_head_kv);
    const float scale = 1.0f / sqrtf((float)hd);
    const float *Q = y->q + b * T * D + h * hd, *K = y->k + b * T * KV + kvh * hd, *V = y->v + b * T * KV + kvh * hd;
    float *P = y->att_p + (b * H + h) * T * T, *O = y->att_out + b * T * D + h * hd;
    for (int64_t i0 = 0; i0 < T; i0 += t->att_blk) {
        const int64_t i1 = i0 + t->att_blk < T ? i0 + t->att_blk : T, nr = i1 - i0;
        float *Pb = P + i0 * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)i1, (int)hd, scale, Q + i0 * D, (int)D, K,
                    (int)KV, 0.0f, Pb, (int)T);
        for (int64_t i = i0; i < i1; i++) {
            float *p = P + i * T;
            const float inv = (float)(1.0 / lo_train__vexp_sum(p, i + 1, lo_train__vmax(p, i + 1)));
            for (int64_t s = 0; s <= i; s++) p[s] *= inv;
            for (int64_t s = i + 1; s < i1; s++) p[s] = 0;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, (int)hd, (int)i1, 1.0f, Pb, (int)T, V, (int)KV,
                    0.0f, O + i0 * D, (int)D);
    }
}

/* Backward of one head, dS the worker's T×T scratch: per row block, dP = dO·Vᵀ,
 * dV += Pᵀ·dO, dS = P ⊙ (dP − rowsum(P ⊙ dP))/√hd, dQ = dS·K, dK += dSᵀ·Q (heads of a
 * group add into their shared kv head, in head order). */
static void att_bwd_head(lo_trainer *t, const lo_train_acts *y, int64_t b, int64_t h, float *dS) {
    const int64_t T = t->T, hd = t->hd, H = t->m->c.n_head, D = t->m->c.n_embd, KV = t->KV;
    const int64_t kvh = h / (H / t->m->c.n_head_kv);
    const float scale = 1.0f / sqrtf((float)hd);
    const float *Q = y->q + b * T * D + h * hd, *K = y->k + b * T * KV + kvh * hd, *V = y->v + b * T * KV + kvh * hd;
    const float *P = y->att_p + (b * H + h) * T * T, *dO = t->datt + b * T * D + h * hd;
    float *dQ = t->dq + b * T * D + h * hd, *dK = t->dk + b * T * KV + kvh * hd, *dV = t->dv + b * T * KV + kvh * hd;
    for (int64_t i0 = 0; i0 < T; i0 += t->att_blk) {
        const int64_t i1 = i0 + t->att_blk < T ? i0 + t->att_blk : T, nr = i1 - i0;
        float *dSb = dS + i0 * T;
        const float *Pb = P + i0 * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)i1, (int)hd, 1.0f, dO + i0 * D, (int)D, V,
                    (int)KV, 0.0f, dSb, (int)T);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)i1, (int)hd, (int)nr, 1.0f, Pb, (int)T, dO + i0 * D,
                    (int)D, 1.0f, dV, (int)KV);
        for (int64_t i = i0; i < i1; i++) {
            const float *p = P + i * T;
            float *d = dS + i * T, dot = 0;
            for (int64_t s = 0; s <= i; s++) dot += p[s] * d[s];
            for (int64_t s = 0; s <= i; s++) d[s] = p[s] * (d[s] - dot) * scale;
            for (int64_t s = i + 1; s < i1; s++) d[s] = 0;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, (int)hd, (int)i1, 1.0f, dSb, (int)T, K, (int)KV,
                    0.0f, dQ + i0 * D, (int)D);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)i1, (int)hd, (int)nr, 1.0f, dSb, (int)T, Q + i0 * D,
                    (int)D, 1.0f, dK, (int)KV);
    }
}

/* The (sequence, kv head) units of worker ith: a contiguous range, the heads of a unit in
 * order, so every dK/dV sum has one fixed order whatever the thread count. */
static void att_range(const lo_trainer *t, int ith, int64_t *u0, int64_t *u1) {
    const int64_t U = (int64_t)t->B * t->m->c.n_head_kv, nw = t->att_workers;
    *u0 = ith < nw ? U * ith / nw : 0;
    *u1 = ith < nw ? U * (ith + 1) / nw : 0;
}

static void att_fwd_fn(void *arg, int ith, int nth) {
    (void)nth;
    const att_job *j = arg;
    lo_trainer *t = j->t;
    const int64_t Hkv = t->m->c.n_head_kv, group = t->m->c.n_head / Hkv;
    int64_t u0, u1;
    att_range(t, ith, &u0, &u1);
    for (int64_t u = u0; u < u1; u++)
        for (int64_t g = 0; g < group; g++) att_fwd_head(t, j->y, u / Hkv, (u % Hkv) * group + g);
}

static void att_bwd_fn(void *arg, int ith, int nth) {
    (void)nth;
    const att_job *j = arg;
    lo_trainer *t = j->t;
    const int64_t Hkv = t->m->c.n_head_kv, group = t->m->c.n_head / Hkv, T = t->T;
    int64_t u0, u1;
    att_range(t, ith, &u0, &u1);
    for (int64_t u = u0; u < u1; u++)
        for (int64_t g = 0; g < group; g++)
            att_bwd_head(t, j->y, u / Hkv, (u % Hkv) * group + g, t->dp + (int64_t)ith * T * T);
}

/* Runs one attention pass on the pool with OpenBLAS on one thread per call. */
static void att_run(lo_trainer *t, const lo_train_acts *y, lo_pool_fn fn) {
    att_job j = {t, y};
    openblas_set_num_threads(1);
    lo_pool_run(t->pool, fn, &j);
    openblas_set_num_threads(t->n_threads);
}

static void att_fwd(lo_trainer *t, lo_train_acts *y) {
    att_run(t, y, att_fwd_fn);
}

static void att_bwd(lo_trainer *t, const lo_train_acts *y) {
    memset(t->dk, 0, (size_t)(t->N * t->KV) * sizeof(float));
    memset(t->dv, 0, (size_t)(t->N * t->KV) * sizeof(float));
    att_run(t, y, att_bwd_fn);
}

/* ---- cross-entropy ---------------------------------------------------------------------------- */

typedef struct ce_job {
    lo_trainer *t;
    const int32_t *targets;
    const uint8_t *mask;
    bool backward;
    float scale;
} ce_job;

/* Row loss −log softmax(logits)[target] in double; with backward the row becomes
 * scale·(softmax − onehot) (zero for masked-out rows). */
static void ce_job_fn(void *arg, int ith, int nth) {
    ce_job *j = arg;
    lo_trainer *t = j->t;
    const int64_t V = t->m->c.n_vocab;
    for (int64_t n = ith; n < t->N; n += nth) {
        float *z = t->logits + n * V;
        if (!j->mask[n]) {
            t->row_loss[n] = 0;
            if (j->backward) memset(z, 0, (size_t)V * sizeof *z);
            continue;
        }
        const float mx = lo_train__vmax(z, V);
        const int32_t y = j->targets[n];
        const float zy = z[y];
        const double sum = lo_train__vexp_sum(z, V, mx); /* z now holds e^(z − max) */
        t->row_loss[n] = log(sum) + (double)mx - (double)zy;
        if (!j->backward) continue;
        const float k = (float)(1.0 / sum) * j->scale;
        for (int64_t i = 0; i < V; i++) z[i] *= k;
        z[y] -= j->scale;
    }
}

/* ---- forward and backward ---------------------------------------------------------------------- */

lo_status lo_trainer_forward(lo_trainer *t, const int32_t *tokens, const int32_t *targets, const uint8_t *mask,
                             bool backward, float grad_scale, double *loss_sum, int64_t *n_counted) {
    lo_train_model *m = t->m;
    const lo_train_config *c = &m->c;
    const int64_t N = t->N, T = t->T, D = c->n_embd, KV = t->KV, F = c->n_ff, V = c->n_vocab, L = c->n_layer;
    const int64_t H = c->n_head, Hkv = c->n_head_kv, hd = t->hd;
    for (int64_t n = 0; n < N; n++) {
        if (tokens[n] < 0 || tokens[n] >= V || (mask[n] && (targets[n] < 0 || targets[n] >= V)))
            return lo_error(LO_ERR_RANGE, "the data and the model must use the same tokenizer",
                            "train: token %d or target %d at batch position %lld is outside the vocab of %lld",
                            tokens[n], targets[n], (long long)n, (long long)V);
    }
    const lo_train_weights *W = &m->W;
    const lo_train_qweights *Q = m->qbase ? &m->Q : NULL; /* QLoRA: the stored matrices */
    /* embeddings (QLoRA: only the rows looked up are dequantised) */
    for (int64_t n = 0; n < N; n++) {
        if (Q)
            lo_dequantize_row(Q->tok_embd.type, Q->tok_embd.data + (size_t)tokens[n] * Q->tok_embd.row_bytes,
                              t->resid[0] + n * D, D);
        else
            memcpy(t->resid[0] + n * D, W->tok_embd + (int64_t)tokens[n] * D, (size_t)D * sizeof(float));
    }
    static const lo_train_qlayer no_q; /* f32 bases: every matrix's data is NULL */
    for (int64_t l = 0; l < L; l++) {
        const lo_train_layer *w = &W->layers[l];
        const lo_train_qlayer *ql = Q ? &Q->layers[l] : &no_q;
        lo_train_acts *y = &t->a[l];
        rms_fwd(y->xn1, y->rstd1, t->resid[l], w->attn_norm, N, D, c->norm_eps);
        base_fwd(t, y->q, y->xn1, w->wq, &ql->wq, N, D, D, false);
        base_fwd(t, y->k, y->xn1, w->wk, &ql->wk, N, KV, D, false);
        base_fwd(t, y->v, y->xn1, w->wv, &ql->wv, N, KV, D, false);
        lora_fwd(t, l, 0, y->q, y->xn1);
        lora_fwd(t, l, 1, y->k, y->xn1);
        lora_fwd(t, l, 2, y->v, y->xn1);
        for (int64_t n = 0; n < N; n++) {
            const float *cache = t->rope + (n % T) * hd;
            lo_rope_apply(y->q + n * D, H, hd, hd, cache, false);
            lo_rope_apply(y->k + n * KV, Hkv, hd, hd, cache, false);
        }
        att_fwd(t, y);
        memcpy(y->x_mid, t->resid[l], (size_t)(N * D) * sizeof(float));
        base_fwd(t, y->x_mid, y->att_out, w->wo, &ql->wo, N, D, D, true);
        lora_fwd(t, l, 3, y->x_mid, y->att_out);
        rms_fwd(y->xn2, y->rstd2, y->x_mid, w->ffn_norm, N, D, c->norm_eps);
        base_fwd(t, y->gate, y->xn2, w->w_gate, &ql->w_gate, N, F, D, false);
        base_fwd(t, y->up, y->xn2, w->w_up, &ql->w_up, N, F, D, false);
        lora_fwd(t, l, 4, y->gate, y->xn2);
        lora_fwd(t, l, 5, y->up, y->xn2);
        lo_train__silu_fwd(y->h, y->gate, y->up, N * F);
        memcpy(t->resid[l + 1], y->x_mid, (size_t)(N * D) * sizeof(float));
        base_fwd(t, t->resid[l + 1], y->h, w->w_down, &ql->w_down, N, D, F, true);
        lora_fwd(t, l, 6, t->resid[l + 1], y->h);
    }
    rms_fwd(t->xf, t->rstd_f, t->resid[L], W->output_norm, N, D, c->norm_eps);
    base_fwd(t, t->logits, t->xf, W->output, Q ? &Q->output : NULL, N, V, D, false);
    ce_job cj = {t, targets, mask, backward, grad_scale};
    lo_pool_run(t->pool, ce_job_fn, &cj);
    double sum = 0;
    int64_t cnt = 0;
    for (int64_t n = 0; n < N; n++) {
        if (!mask[n]) continue;
        sum += t->row_loss[n];
        cnt++;
    }
    if (loss_sum) *loss_sum = sum;
    if (n_counted) *n_counted = cnt;
    if (!backward) return LO_OK;

    const lo_train_weights *G = &m->G;
    /* head: logits = xf·Woutᵀ (G's views are NULL when the base is frozen) */
    if (G->output) mm_dw(G->output, t->logits, t->xf, N, V, D);
    base_dx(t, t->dxn, t->logits, W->output, Q ? &Q->output : NULL, N, V, D, false);
    rms_bwd(t->dx, G->output_norm, t->dxn, t->resid[L], t->rstd_f, W->output_norm, N, D, false);
    for (int64_t l = L - 1; l >= 0; l--) {
        const lo_train_layer *w = &W->layers[l];
        const lo_train_layer *g = &G->layers[l];
        lo_train_acts *y = &t->a[l];
        /* FFN: resid[l+1] = x_mid + h·Wdownᵀ, h = silu(gate)·up */
        proj_bwd(t, l, 6, g->w_down, t->dh, t->dx, y->h, w->w_down, false);
        lo_train__silu_bwd(t->dgate, t->dup, t->dh, y->gate, y->up, N * F);
        proj_bwd(t, l, 4, g->w_gate, t->dxn, t->dgate, y->xn2, w->w_gate, false);
        proj_bwd(t, l, 5, g->w_up, t->dxn, t->dup, y->xn2, w->w_up, true);
        rms_bwd(t->dx, g->ffn_norm, t->dxn, y->x_mid, y->rstd2, w->ffn_norm, N, D, true);
        /* attention: x_mid = resid[l] + att_out·Woᵀ */
        proj_bwd(t, l, 3, g->wo, t->datt, t->dx, y->att_out, w->wo, false);
        att_bwd(t, y);
        for (int64_t n = 0; n < N; n++) {
            const float *cache = t->rope + (n % T) * hd;
            rope_bwd(t->dq + n * D, H, hd, cache);
            rope_bwd(t->dk + n * KV, Hkv, hd, cache);
        }
        proj_bwd(t, l, 0, g->wq, t->dxn, t->dq, y->xn1, w->wq, false);
        proj_bwd(t, l, 1, g->wk, t->dxn, t->dk, y->xn1, w->wk, true);
        proj_bwd(t, l, 2, g->wv, t->dxn, t->dv, y->xn1, w->wv, true);
        rms_bwd(t->dx, g->attn_norm, t->dxn, t->resid[l], y->rstd1, w->attn_norm, N, D, true);
    }
    /* embeddings: rows scatter-add in token order (serial: deterministic) */
    for (int64_t n = 0; G->tok_embd && n < N; n++)
        lo_axpy(G->tok_embd + (int64_t)tokens[n] * D, 1.0f, t->dx + n * D, D);
    return LO_OK;
}
