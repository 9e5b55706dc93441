/* model: the inference context (F16 KV cache per layer/sequence/KV head, activations for
 * n_batch tokens carved once from an arena, a thread pool) and the batched forward pass of
 * the llama family, with llama.cpp's numerics (F16 flash-attention accumulation). */
#include "model/model_internal.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
#endif

typedef uint16_t lo_half; /* IEEE binary16 bits */

/* Exact F16 → F32 and round-to-nearest-even F32 → F16 (F16C when the build has it). */
static inline float lo_h2f(lo_half h) {
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    return lo_f16_to_f32(h);
#endif
}
static inline lo_half lo_f2h(float f) {
#if defined(__F16C__)
    return (lo_half)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
#else
    return lo_f32_to_f16(f);
#endif
}

struct lo_context {
    const lo_model *m;
    int32_t n_ctx, n_seq, n_batch, n_threads;
    lo_pool *pool;
    /* K and V: [n_layer][n_seq][n_head_kv][n_ctx][head_dim] F16, so one KV head of one
     * sequence is a contiguous run of positions for the attention loop. */
    lo_half *k_cache, *v_cache;
    uint8_t *used; /* [n_seq][n_ctx]: position holds K/V */
    lo_arena arena;
    /* activations, n_batch rows each */
    float *x, *xn, *q, *k, *v, *qkv, *attn, *tmp, *ffa, *ffb, *rope;
    /* MoE */
    float *router, *sel_w, *slot_out, *gath, *gout;
    int32_t *sel, *gidx;
    /* attention scratch: per thread, q and the V accumulator in F16 */
    lo_half *att_scratch;
    float *att_f; /* per thread: 13 × n_ctx floats (positions; per head of a unit of up to 4:
                   * scores, rescale factors, weights) */
    void *mm_scratch;
    /* batch invariance: rows per sequence in one product ([n_seq], zero between uses), and
     * this forward's leading tokens that are the only token of their sequence */
    int32_t *seq_n;
    int64_t n_single;
    /* LoRA: per pool thread u (rank) and the B·u row, lora_stride floats each thread */
    float *lora_scratch;
    int64_t lora_stride;
    /* outputs */
    float *out_in;  /* normalised rows of the requested tokens */
    float *logits;  /* n_out × n_vocab */
    int32_t *out_idx; /* batch index → logits row or -1 */
    int32_t last_n_tokens;
    bool embeddings; /* out_in rows are kept for lo_context_embeddings */
    bool *want_all;  /* n_batch × true: lo_model_encode's default output mask */
    bool has_logits; /* the last forward computed logits (decode, not encode) */
};

/* ---- context ---------------------------------------------------------------------- */

static size_t mm_need(const lo_matrix *w, int64_t nb) { return w->data ? lo_matmul_scratch_bytes(w, nb) : 0; }

static void *carve(lo_context *c, size_t elems, size_t elem_size, lo_status *st) {
    size_t bytes = 0;
    if (*st) return NULL;
    if (lo_mul_overflow(elems, elem_size, &bytes)) {
        *st = lo_error(LO_ERR_NOMEM, NULL, "context too large");
        return NULL;
    }
    void *p = lo_arena_alloc(&c->arena, bytes ? bytes : 1, 64);
    if (!p) *st = LO_ERR_NOMEM;
    return p;
}

lo_status lo_context_create(const lo_model *m, const lo_context_params *p, lo_context **out) {
    LO_ASSERT(m && out);
    *out = NULL;
    const lo_hparams *hp = &m->hp;
    lo_context_params d = {0};
    if (p) d = *p;
    if (d.n_ctx < 0 || d.n_seq < 0 || d.n_batch < 0 || d.n_threads < 0)
        return lo_error(LO_ERR_INVALID, NULL, "context parameters must not be negative");
    if (d.n_ctx == 0) d.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (d.n_seq == 0) d.n_seq = 1;
    if (d.n_batch == 0) d.n_batch = 512;
    if (d.n_threads == 0) d.n_threads = lo_cpu_count();
    if (d.n_ctx > (1 << 24) || d.n_seq > 4096 || d.n_batch > (1 << 20) || d.n_threads > 1024)
        return lo_error(LO_ERR_RANGE, NULL, "context parameters too large (n_ctx %d, n_seq %d, n_batch %d)", d.n_ctx,
                        d.n_seq, d.n_batch);
    const bool encoder = m->arch->encoder;
    if (encoder && !d.embeddings)
        return lo_error(LO_ERR_INVALID, "create the context with embeddings = true",
                        "'%s' is an encoder (embedding) model: it has no logits", hp->arch);
    if (encoder && d.n_ctx > hp->n_ctx_train)
        return lo_error(LO_ERR_RANGE, "use n_ctx <= the model's context_length", "n_ctx %d exceeds the %d learned positions of this %s model",
                        d.n_ctx, hp->n_ctx_train, hp->arch);
    lo_context *c = lo_calloc(1, sizeof *c);
    if (!c) return LO_ERR_NOMEM;
    c->m = m;
    c->embeddings = d.embeddings;
    c->n_ctx = d.n_ctx, c->n_seq = d.n_seq, c->n_batch = d.n_batch, c->n_threads = d.n_threads;
    lo_status st = LO_OK;
    size_t kv_elems = 0;
    if (lo_mul_overflow((size_t)hp->n_layer * (size_t)d.n_seq * (size_t)hp->n_head_kv, (size_t)d.n_ctx * (size_t)hp->head_dim,
                        &kv_elems) ||
        kv_elems > SIZE_MAX / 4) {
        st = lo_error(LO_ERR_NOMEM, "use a smaller n_ctx or n_seq", "KV cache too large");
        goto fail;
    }
    c->k_cache = lo_calloc(kv_elems, sizeof(lo_half));
    c->v_cache = lo_calloc(kv_elems, sizeof(lo_half));
    c->used = lo_calloc((size_t)d.n_seq, (size_t)d.n_ctx);
    if (!c->k_cache || !c->v_cache || !c->used) {
        st = lo_error(LO_ERR_NOMEM, "use a smaller n_ctx or n_seq", "cannot allocate the KV cache");
        goto fail;
    }
    if ((st = lo_pool_create(d.n_threads, &c->pool))) goto fail;

    const int64_t nb = d.n_batch, n_embd = hp->n_embd, n_q = (int64_t)hp->n_head * hp->head_dim,
                  n_kv = (int64_t)hp->n_head_kv * hp->head_dim, n_ff = hp->n_ff, n_vocab = hp->n_vocab;
    const int64_t n_exp = hp->n_expert, n_used = hp->n_expert_used;
    /* LoRA scratch: r ≤ n_in and n_out of any adaptable projection are at most lora_dim,
     * so adapters can be attached after the context is made */
    int64_t lora_dim = n_embd;
    const int64_t dims[] = {n_q, n_kv, n_q + 2 * n_kv, n_ff};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) lora_dim = dims[i] > lora_dim ? dims[i] : lora_dim;
    c->lora_stride = 2 * lora_dim;
    const int n_pool = lo_pool_n_threads(c->pool);
    size_t mm = mm_need(&m->w.output, nb);
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const lo_layer *l = &m->layers[il];
        const lo_matrix *ms[] = {&l->wq, &l->wk, &l->wv, &l->wqkv, &l->wo, &l->ffn_gate, &l->ffn_up, &l->ffn_down,
                                 &l->ffn_gate_inp, &l->gate_exps, &l->up_exps, &l->down_exps};
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
            size_t b = mm_need(ms[i], nb);
            if (b == SIZE_MAX) {
                st = lo_error(LO_ERR_NOMEM, NULL, "matmul scratch too large");
                goto fail;
            }
            if (b > mm) mm = b;
        }
    }
    /* arena size: sum of the buffers below plus alignment slack */
    double total = 4.0 * (double)nb * (double)(4 * n_embd + 3 * n_q + 4 * n_kv + 2 * n_ff + hp->n_rot + n_vocab) +
                   4.0 * (double)nb * (double)(n_exp + 2 * n_used + n_used * n_embd + 2 * n_embd) +
                   2.0 * (double)d.n_threads * 2 * (double)hp->head_dim +
                   4.0 * 13 * (double)d.n_threads * (double)d.n_ctx + (double)mm + 4.0 * 3 * (double)nb +
                   4.0 * (double)d.n_seq + 4.0 * (double)n_pool * (double)c->lora_stride + 64.0 * 44;
    if (total > (double)SIZE_MAX / 2) {
        st = lo_error(LO_ERR_NOMEM, "use a smaller n_batch", "activation buffers too large");
        goto fail;
    }
    if ((st = lo_arena_init(&c->arena, (size_t)total))) goto fail;
    c->x = carve(c, (size_t)(nb * n_embd), 4, &st);
    c->xn = carve(c, (size_t)(nb * n_embd), 4, &st);
    c->tmp = carve(c, (size_t)(nb * n_embd), 4, &st);
    c->out_in = carve(c, (size_t)(nb * n_embd), 4, &st);
    c->q = carve(c, (size_t)(nb * n_q), 4, &st);
    c->attn = carve(c, (size_t)(nb * n_q), 4, &st);
    c->k = carve(c, (size_t)(nb * n_kv), 4, &st);
    c->v = carve(c, (size_t)(nb * n_kv), 4, &st);
    c->ffa = carve(c, (size_t)(nb * n_ff), 4, &st);
    if (m->arch->parallel_ffn) c->qkv = carve(c, (size_t)(nb * (n_q + 2 * n_kv)), 4, &st);
    c->ffb = carve(c, (size_t)(nb * n_ff), 4, &st);
    c->rope = carve(c, (size_t)(nb * hp->n_rot), 4, &st);
    if (!encoder) c->logits = carve(c, (size_t)(nb * n_vocab), 4, &st);
    if (n_exp > 0) {
        c->router = carve(c, (size_t)(nb * n_exp), 4, &st);
        c->sel_w = carve(c, (size_t)(nb * n_used), 4, &st);
        c->sel = carve(c, (size_t)(nb * n_used), 4, &st);
        c->slot_out = carve(c, (size_t)(nb * n_used * n_embd), 4, &st);
        c->gath = carve(c, (size_t)(nb * n_embd), 4, &st);
        c->gout = carve(c, (size_t)(nb * n_embd), 4, &st);
        c->gidx = carve(c, (size_t)nb, 4, &st);
    }
    c->att_scratch = carve(c, (size_t)d.n_threads * 2 * (size_t)hp->head_dim, sizeof(lo_half), &st);
    c->att_f = carve(c, (size_t)d.n_threads * 13 * (size_t)d.n_ctx, 4, &st);
    c->out_idx = carve(c, (size_t)nb, 4, &st);
    c->want_all = carve(c, (size_t)nb, sizeof(bool), &st);
    c->seq_n = carve(c, (size_t)d.n_seq, 4, &st);
    c->lora_scratch = carve(c, (size_t)n_pool * (size_t)c->lora_stride, 4, &st);
    if (mm) c->mm_scratch = carve(c, mm, 1, &st);
    if (st) goto fail;
    for (int64_t i = 0; i < nb; i++) c->want_all[i] = true;
    *out = c;
    return LO_OK;
fail:
    lo_context_free(c);
    return st;
}

void lo_context_free(lo_context *c) {
    if (!c) return;
    lo_pool_free(c->pool);
    lo_arena_free(&c->arena);
    lo_free(c->k_cache);
    lo_free(c->v_cache);
    lo_free(c->used);
    lo_free(c);
}

int32_t lo_context_n_ctx(const lo_context *c) { return c->n_ctx; }
int32_t lo_context_n_seq(const lo_context *c) { return c->n_seq; }
int32_t lo_context_n_batch(const lo_context *c) { return c->n_batch; }

void lo_context_seq_clear(lo_context *c, int32_t seq, int32_t p0, int32_t p1) {
    if (!c || seq < 0 || seq >= c->n_seq) return;
    if (p0 < 0) p0 = 0;
    if (p1 < 0 || p1 > c->n_ctx) p1 = c->n_ctx;
    if (p0 >= p1) return;
    memset(c->used + (size_t)seq * (size_t)c->n_ctx + p0, 0, (size_t)(p1 - p0));
}

const float *lo_context_logits(const lo_context *c, int32_t i) {
    if (!c || !c->has_logits || i < 0 || i >= c->last_n_tokens || c->out_idx[i] < 0) return NULL;
    return c->logits + (size_t)c->out_idx[i] * (size_t)c->m->hp.n_vocab;
}

const float *lo_context_embeddings(const lo_context *c, int32_t i) {
    if (!c || !c->embeddings || i < 0 || i >= c->last_n_tokens || c->out_idx[i] < 0) return NULL;
    return c->out_in + (size_t)c->out_idx[i] * (size_t)c->m->hp.n_embd;
}

/* ---- attention -------------------------------------------------------------------- */

typedef struct att_job {
    lo_context *c;
    const lo_batch *b;
    int32_t il;
    atomic_llong next; /* next unclaimed work unit: threads that get more CPU take more */
} att_job;

/* Σ x·y over F16 rows as ggml_vec_dot_f16 does it with AVX-512: blocks of 64 into four
 * 16-lane F32 accumulators (products are exact), reduced (0+2, 1+3, then 0+1, then across
 * lanes); the tail in double. The summation order matters for BF16/quantised models,
 * whose next matmul rounds its input coarsely. */
static inline float dot_f16(const lo_half *x, const lo_half *y, int64_t n) {
    const int64_t np = n & ~(int64_t)63;
    double s = 0.0;
#if defined(__AVX512F__)
    if (np) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
#define LO_LD(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
        for (int64_t i = 0; i < np; i += 64) {
            a0 = _mm512_fmadd_ps(LO_LD(x + i), LO_LD(y + i), a0);
            a1 = _mm512_fmadd_ps(LO_LD(x + i + 16), LO_LD(y + i + 16), a1);
            a2 = _mm512_fmadd_ps(LO_LD(x + i + 32), LO_LD(y + i + 32), a2);
            a3 = _mm512_fmadd_ps(LO_LD(x + i + 48), LO_LD(y + i + 48), a3);
        }
#undef LO_LD
        a0 = _mm512_add_ps(a0, a2);
        a1 = _mm512_add_ps(a1, a3);
        a0 = _mm512_add_ps(a0, a1);
        s = _mm512_reduce_add_ps(a0);
    }
#else
    if (np) {
        float acc[4][16] = {{0}};
        for (int64_t i = 0; i < np; i += 64)
            for (int k = 0; k < 4; k++)
                for (int j = 0; j < 16; j++)
                    acc[k][j] = fmaf(lo_h2f(x[i + 16 * k + j]), lo_h2f(y[i + 16 * k + j]), acc[k][j]);
        float r = 0.0f;
        for (int j = 0; j < 16; j++) r += (acc[0][j] + acc[2][j]) + (acc[1][j] + acc[3][j]);
        s = r;
    }
#endif
    for (int64_t i = np; i < n; i++) s += (double)(lo_h2f(x[i]) * lo_h2f(y[i]));
    return (float)s;
}

/* acc = f16(f32(acc) · ms) (ggml_vec_scale_f16) */
static inline void scale_f16(lo_half *acc, float ms, int64_t n) {
    int64_t i = 0;
#if defined(__AVX512F__)
    const __m512 vm = _mm512_set1_ps(ms);
    for (; i + 16 <= n; i += 16) {
        __m512 a = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(acc + i))), vm);
        _mm256_storeu_si256((__m256i *)(acc + i), _mm512_cvtps_ph(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
#endif
    for (; i < n; i++) acc[i] = lo_f2h(lo_h2f(acc[i]) * ms);
}

/* acc = f16(fma(f32(v), vs, f32(acc))) (ggml_vec_mad_f16) */
static inline void mad_f16(lo_half *acc, const lo_half *v, float vs, int64_t n) {
    int64_t i = 0;
#if defined(__AVX512F__)
    const __m512 vm = _mm512_set1_ps(vs);
    for (; i + 16 <= n; i += 16) {
        __m512 a = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(v + i))), vm,
                                   _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(acc + i))));
        _mm256_storeu_si256((__m256i *)(acc + i), _mm512_cvtps_ph(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
#endif
    for (; i < n; i++) acc[i] = lo_f2h(fmaf(lo_h2f(v[i]), vs, lo_h2f(acc[i])));
}

#if defined(__AVX512F__)
/* attend_one for G query heads of one KV group at once (head_dim = 16·NV, a multiple of
 * 64), Q and the accumulators held in zmm registers. The same operations in the same
 * order as attend_one — each accumulator update is rounded through F16 in-register
 * (cvtps_ph + cvtph_ps), which is what storing it as F16 does — so the results are
 * bit-identical. In three passes, so no step waits on the previous position's long
 * dependency chain and each K/V row is converted once for the G heads: (1) every score
 * s_p = K_p·q·scale (summed as dot_f16 does); (2) per head the running max and one expf
 * per position: when s_p raises the max, ms = e^(Mold - s_p) rescales the accumulator and
 * the weight is 1, else ms = 1 and the weight is e^(s_p - M) — both are e^-|s_p - M| (the
 * same expf argument up to an exact sign flip); (3) acc = f16(f16(acc·ms) + V_p·w), the
 * scaling skipped when ms is 1 (exact). Scratch fs: positions (as float, exact below
 * 2^24 = the n_ctx limit), then per head scores, ms, w: (1 + 3G) · n_ctx floats. */
#define LO_RND(x) _mm512_cvtph_ps(_mm512_cvtps_ph((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))
#define LO_LDH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define LO_ATT_REG(NV, G)                                                                                              \
    static void attend_reg##NV##_##G(const lo_half *K, const lo_half *V, const uint8_t *used, int32_t p0, int32_t p1, \
                                     const float *qf, float scale, float *o, float *fs, size_t n_ctx) {              \
        __m512 q[G][NV], a[G][NV];                                                                                   \
        float *pp = fs, *sc[G], *fm[G], *fw[G];                                                                      \
        for (int g = 0; g < G; g++) {                                                                                \
            sc[g] = fs + (1 + 3 * (size_t)g) * n_ctx, fm[g] = sc[g] + n_ctx, fw[g] = fm[g] + n_ctx;                  \
            for (int j = 0; j < NV; j++) q[g][j] = LO_RND(_mm512_loadu_ps(qf + 16 * (NV * g + j))), a[g][j] = _mm512_setzero_ps(); \
        }                                                                                                            \
        int32_t np = 0;                                                                                              \
        for (int32_t p = p0; p <= p1; p++) {                                                                         \
            if (!used[p]) continue;                                                                                  \
            const lo_half *kr = K + (size_t)p * (16 * NV);                                                           \
            __m512 k[NV];                                                                                            \
            for (int j = 0; j < NV; j++) k[j] = LO_LDH(kr + 16 * j);                                                 \
            for (int g = 0; g < G; g++) {                                                                            \
                __m512 d[4];                                                                                         \
                for (int j = 0; j < 4; j++) d[j] = _mm512_mul_ps(k[j], q[g][j]);                                     \
                for (int j = 4; j < NV; j++) d[j & 3] = _mm512_fmadd_ps(k[j], q[g][j], d[j & 3]);                   \
                sc[g][np] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(d[0], d[2]), _mm512_add_ps(d[1], d[3]))) * scale; \
            }                                                                                                        \
            pp[np++] = (float)p;                                                                                     \
        }                                                                                                            \
        float S[G];                                                                                                  \
        for (int g = 0; g < G; g++) {                                                                                \
            float Sg = 0.0f, M = -INFINITY;                                                                          \
            for (int32_t i = 0; i < np; i++) {                                                                       \
                const float s = sc[g][i], e = expf(-fabsf(s - M));                                                   \
                const bool up = s > M;                                                                               \
                const float ms = up ? e : 1.0f, vs = up ? 1.0f : e;                                                  \
                M = up ? s : M;                                                                                      \
                Sg = Sg * ms + vs;                                                                                   \
                fm[g][i] = ms, fw[g][i] = vs;                                                                        \
            }                                                                                                        \
            S[g] = Sg;                                                                                               \
        }                                                                                                            \
        for (int32_t i = 0; i < np; i++) {                                                                           \
            const lo_half *vr = V + (size_t)pp[i] * (16 * NV);                                                       \
            __m512 v[NV];                                                                                            \
            for (int j = 0; j < NV; j++) v[j] = LO_LDH(vr + 16 * j);                                                 \
            for (int g = 0; g < G; g++) {                                                                            \
                if (fm[g][i] != 1.0f) { /* rare once the max settles; scaling by exactly 1 changes nothing */        \
                    const __m512 vm = _mm512_set1_ps(fm[g][i]);                                                      \
                    for (int j = 0; j < NV; j++) a[g][j] = LO_RND(_mm512_mul_ps(a[g][j], vm));                        \
                }                                                                                                    \
                const __m512 vv = _mm512_set1_ps(fw[g][i]);                                                          \
                for (int j = 0; j < NV; j++) a[g][j] = LO_RND(_mm512_fmadd_ps(v[j], vv, a[g][j]));                    \
            }                                                                                                        \
        }                                                                                                            \
        for (int g = 0; g < G; g++) {                                                                                \
            const __m512 inv = _mm512_set1_ps(S[g] == 0.0f ? 0.0f : 1.0f / S[g]);                                    \
            for (int j = 0; j < NV; j++) _mm512_storeu_ps(o + 16 * (NV * g + j), _mm512_mul_ps(a[g][j], inv));       \
        }                                                                                                            \
    }
LO_ATT_REG(4, 1)
LO_ATT_REG(4, 4)
LO_ATT_REG(8, 1)
LO_ATT_REG(8, 2)
#undef LO_ATT_REG
#undef LO_LDH
#undef LO_RND
#endif

/* The positions [*p0, *p1] of its sequence a token at pos may attend to (those holding K/V):
 * causal: up to pos, and with a sliding window W only the last W of them (llama.cpp's
 * LLAMA_SWA_TYPE_STANDARD masks p when pos - p >= W); an encoder sees the whole sequence. */
static inline void att_window(const lo_context *c, int32_t pos, int32_t *p0, int32_t *p1) {
    const lo_hparams *hp = &c->m->hp;
    if (!hp->causal) {
        *p0 = 0, *p1 = c->n_ctx - 1;
        return;
    }
    *p1 = pos;
    *p0 = hp->sliding_window > 0 && pos >= hp->sliding_window ? pos - hp->sliding_window + 1 : 0;
}

/* One query row (token t, head h) against its sequence's cache: ggml-cpu's flash-attention
 * kernel for F16 K/V — Q rounded to F16, online softmax in F32, V·softmax accumulated in F16. */
static void attend_one(lo_context *c, const lo_batch *b, int32_t il, int32_t t, int32_t h, lo_half *qh, lo_half *acc) {
    const lo_hparams *hp = &c->m->hp;
    const int64_t hd = hp->head_dim;
    const int32_t seq = b->seq[t];
    int32_t p0, p1;
    att_window(c, b->pos[t], &p0, &p1);
    const int32_t g = h / (hp->n_head / hp->n_head_kv);
    const size_t head_off = ((((size_t)il * (size_t)c->n_seq + (size_t)seq) * (size_t)hp->n_head_kv + (size_t)g) *
                             (size_t)c->n_ctx) * (size_t)hd;
    const lo_half *K = c->k_cache + head_off, *V = c->v_cache + head_off;
    const uint8_t *used = c->used + (size_t)seq * (size_t)c->n_ctx;
    const float *qf = c->q + ((size_t)t * (size_t)hp->n_head + (size_t)h) * (size_t)hd;
    const float scale = 1.0f / sqrtf((float)hd);
    float *o = c->attn + ((size_t)t * (size_t)hp->n_head + (size_t)h) * (size_t)hd;
    for (int64_t i = 0; i < hd; i++) qh[i] = lo_f2h(qf[i]), acc[i] = 0;
    float S = 0.0f, M = -INFINITY;
    for (int32_t p = p0; p <= p1; p++) {
        if (!used[p]) continue;
        const lo_half *kr = K + (size_t)p * (size_t)hd, *vr = V + (size_t)p * (size_t)hd;
        float s = dot_f16(kr, qh, hd) * scale;
        float ms = 1.0f, vs = 1.0f;
        if (s > M) {
            const float Mold = M;
            M = s;
            ms = expf(Mold - M);
            scale_f16(acc, ms, hd);
        } else {
            vs = expf(s - M);
        }
        mad_f16(acc, vr, vs, hd);
        S = S * ms + vs;
    }
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int64_t i = 0; i < hd; i++) o[i] = lo_h2f(acc[i]) * inv;
}

/* Heads per work unit: several query heads of one KV group share each K/V row load and
 * keep independent accumulator chains in flight (register kernels, AVX-512). */
static int att_heads_per_unit(const lo_hparams *hp) {
#if defined(__AVX512F__)
    const int32_t gs = hp->n_head / hp->n_head_kv;
    if (hp->head_dim == 64) return gs % 4 == 0 ? 4 : 1;
    if (hp->head_dim == 128) return gs % 2 == 0 ? 2 : 1;
#else
    (void)hp;
#endif
    return 0; /* no register kernel: attend_one per head */
}

static void att_worker(void *p, int ith, int nth) {
    att_job *j = p;
    lo_context *c = j->c;
    const lo_hparams *hp = &c->m->hp;
    const int32_t nh = hp->n_head;
    const int G = att_heads_per_unit(hp);
    const int32_t nu = G ? nh / G : nh; /* units per token */
    const int64_t n = (int64_t)j->b->n_tokens * nu;
    lo_half *qh = c->att_scratch + (size_t)ith * 2 * (size_t)hp->head_dim;
    lo_half *acc = qh + hp->head_dim;
    float *fs = c->att_f + (size_t)ith * 13 * (size_t)c->n_ctx;
    (void)nth;
    for (int64_t i; (i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < n;) {
        const int32_t t = (int32_t)(i / nu), h = (int32_t)(i % nu) * (G ? G : 1);
        if (!G) {
            attend_one(c, j->b, j->il, t, h, qh, acc);
            continue;
        }
#if defined(__AVX512F__)
        const int32_t seq = j->b->seq[t], g = h / (nh / hp->n_head_kv);
        int32_t p0, p1;
        att_window(c, j->b->pos[t], &p0, &p1);
        const int64_t hd = hp->head_dim;
        const size_t head_off = ((((size_t)j->il * (size_t)c->n_seq + (size_t)seq) * (size_t)hp->n_head_kv + (size_t)g) *
                                 (size_t)c->n_ctx) * (size_t)hd;
        const lo_half *K = c->k_cache + head_off, *V = c->v_cache + head_off;
        const uint8_t *used = c->used + (size_t)seq * (size_t)c->n_ctx;
        const size_t qo = ((size_t)t * (size_t)nh + (size_t)h) * (size_t)hd;
        const float scale = 1.0f / sqrtf((float)hd);
        const float *qf = c->q + qo;
        float *o = c->attn + qo;
        const size_t nc = (size_t)c->n_ctx;
        if (hd == 64 && G == 4) attend_reg4_4(K, V, used, p0, p1, qf, scale, o, fs, nc);
        else if (hd == 64) attend_reg4_1(K, V, used, p0, p1, qf, scale, o, fs, nc);
        else if (G == 2) attend_reg8_2(K, V, used, p0, p1, qf, scale, o, fs, nc);
        else attend_reg8_1(K, V, used, p0, p1, qf, scale, o, fs, nc);
#endif
    }
}

/* ---- forward ---------------------------------------------------------------------- */

/* Every product of the forward: rows [0, n_single) are each the only row of their
 * sequence in this product and take the one-token kernels (exactly as if the token were
 * decoded alone), the rest the multi-token path — so a token's numbers never depend on
 * what else is in the batch (docs/model.md, "Batch invariance"). */
static void matmul(lo_context *c, const lo_matrix *w, const float *x, int64_t n, int64_t n_single, float *out) {
    lo_matmul_split(c->pool, w, x, n, n_single, out, c->mm_scratch);
}

/* ---- LoRA: y += s·B·(A·x) beside a projection ------------------------------------- */

typedef struct lora_job {
    lo_context *c;
    int32_t il;
    int slot;
    const float *x; /* n rows of the projection's n_in */
    float *y;       /* n rows of its n_out */
    int64_t n;
} lora_job;

/* Rows [t0, t1): for each attached adapter in order, with s = scale·alpha/r (scale when
 * alpha is 0, as llama.cpp): u = A·x_t (r F32 dot products), d = Σ_j u_j·Bt_j accumulated
 * j = 0..r-1 over the n_out row, y_t += d·s. Each token's arithmetic is its own, whatever
 * the batch and the thread: batch invariant. */
static void lora_rows(const lora_job *j, int ith, int64_t t0, int64_t t1) {
    const lo_model *m = j->c->m;
    float *u = j->c->lora_scratch + (size_t)ith * (size_t)j->c->lora_stride, *d = u + j->c->lora_stride / 2;
    for (int32_t k = 0; k < m->n_lora; k++) {
        const lo_lora_adapter *ad = m->lora[k];
        const lo_lora_pair *p = &ad->pairs[(size_t)j->il * LO_LS_COUNT + (size_t)j->slot];
        if (!p->r || m->lora_scale[k] == 0.0f) continue;
        const float sc = ad->alpha != 0.0f ? m->lora_scale[k] * ad->alpha / (float)p->r : m->lora_scale[k];
        const int64_t n_in = p->n_in, n_out = p->n_out;
        for (int64_t t = t0; t < t1; t++) {
            const float *x = j->x + t * n_in;
            float *y = j->y + t * n_out;
            for (int32_t r = 0; r < p->r; r++)
                u[r] = lo_vec_dot(LO_DTYPE_F32, n_in, p->a + (size_t)r * (size_t)n_in, x);
            const float *b = p->bt;
            for (int64_t o = 0; o < n_out; o++) d[o] = u[0] * b[o];
            for (int32_t r = 1; r < p->r; r++) {
                b += n_out;
                const float ur = u[r];
                for (int64_t o = 0; o < n_out; o++) d[o] += ur * b[o];
            }
            for (int64_t o = 0; o < n_out; o++) y[o] += d[o] * sc;
        }
    }
}

static void lora_worker(void *p, int ith, int nth) {
    const lora_job *j = p;
    lora_rows(j, ith, j->n * ith / nth, j->n * (ith + 1) / nth);
}

/* A projection of layer il: out = W·x, plus the adapters on it (slot). */
static void proj(lo_context *c, int32_t il, lo_lora_slot slot, const lo_matrix *w, const float *x, int64_t n,
                 float *out) {
    matmul(c, w, x, n, c->n_single, out);
    const lo_model *m = c->m;
    bool any = false;
    for (int32_t k = 0; k < m->n_lora && !any; k++)
        any = m->lora[k]->pairs[(size_t)il * LO_LS_COUNT + slot].r && m->lora_scale[k] != 0.0f;
    if (!any) return;
    lora_job j = {c, il, (int)slot, x, out, n};
    if (n > 1 && lo_pool_n_threads(c->pool) > 1)
        lo_pool_run(c->pool, lora_worker, &j);
    else
        lora_rows(&j, 0, 0, n);
}

/* How many leading rows of a product are the only row of their sequence in it; seq[i] is
 * row i's sequence (validated < n_seq). c->seq_n is left zeroed. */
static int64_t leading_single(lo_context *c, const int32_t *seq, int64_t n) {
    for (int64_t i = 0; i < n; i++) c->seq_n[seq[i]]++;
    int64_t n1 = 0;
    while (n1 < n && c->seq_n[seq[n1]] == 1) n1++;
    for (int64_t i = 0; i < n; i++) c->seq_n[seq[i]] = 0;
    return n1;
}

static void add_bias(float *y, const float *b, int64_t rows, int64_t n) {
    if (!b) return;
    for (int64_t r = 0; r < rows; r++) lo_add(y + r * n, y + r * n, b, n);
}

/* Mixtral-style MoE FFN over xn (n rows of sequences seq[]) into c->tmp: softmax router,
 * top-k, weights renormalised, Σ_k w_k · down_k(silu(gate_k(x)) · up_k(x)) summed in
 * selection order. */
static void moe_ffn(lo_context *c, const lo_layer *l, const int32_t *seq, int64_t n) {
    const lo_hparams *hp = &c->m->hp;
    const int64_t ne = hp->n_expert, nu = hp->n_expert_used, n_embd = hp->n_embd, n_ff = hp->n_ff;
    matmul(c, &l->ffn_gate_inp, c->xn, n, c->n_single, c->router);
    for (int64_t t = 0; t < n; t++) {
        float *pr = c->router + t * ne;
        lo_softmax(pr, ne);
        int32_t *sel = c->sel + t * nu;
        float *w = c->sel_w + t * nu;
        float sum = 0.0f;
        for (int64_t k = 0; k < nu; k++) {
            int32_t best = -1;
            for (int32_t e = 0; e < ne; e++) {
                bool taken = false;
                for (int64_t j = 0; j < k; j++) taken |= sel[j] == e;
                if (!taken && (best < 0 || pr[e] > pr[best])) best = e;
            }
            sel[k] = best;
            w[k] = pr[best];
            sum += w[k];
        }
        for (int64_t k = 0; k < nu; k++) w[k] = w[k] / sum;
    }
    for (int32_t e = 0; e < ne; e++) {
        /* the expert's rows (a token picks an expert at most once): tokens that are the
         * only one of their sequence routed here first (the one-token kernels, as when
         * decoded alone), then the others */
        for (int64_t t = 0; t < n; t++)
            for (int64_t k = 0; k < nu; k++) c->seq_n[seq[t]] += c->sel[t * nu + k] == e;
        int64_t cnt = 0, n1 = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (int64_t t = 0; t < n; t++)
                for (int64_t k = 0; k < nu; k++)
                    if (c->sel[t * nu + k] == e && (c->seq_n[seq[t]] == 1) == (pass == 0)) {
                        c->gidx[cnt] = (int32_t)(t * nu + k);
                        memcpy(c->gath + cnt * n_embd, c->xn + t * n_embd, (size_t)n_embd * sizeof(float));
                        cnt++;
                    }
            if (pass == 0) n1 = cnt;
        }
        for (int64_t t = 0; t < n; t++) c->seq_n[seq[t]] = 0;
        if (!cnt) continue;
        lo_matrix g = l->gate_exps, u = l->up_exps, dn = l->down_exps;
        g.data = (const uint8_t *)g.data + (size_t)e * l->gate_exps_stride;
        u.data = (const uint8_t *)u.data + (size_t)e * l->up_exps_stride;
        dn.data = (const uint8_t *)dn.data + (size_t)e * l->down_exps_stride;
        matmul(c, &g, c->gath, cnt, n1, c->ffa);
        matmul(c, &u, c->gath, cnt, n1, c->ffb);
        for (int64_t r = 0; r < cnt; r++) lo_swiglu(c->ffa + r * n_ff, c->ffa + r * n_ff, c->ffb + r * n_ff, n_ff);
        matmul(c, &dn, c->ffa, cnt, n1, c->gout);
        for (int64_t r = 0; r < cnt; r++) {
            float *dst = c->slot_out + (size_t)c->gidx[r] * (size_t)n_embd;
            const float wk = c->sel_w[c->gidx[r]];
            const float *src = c->gout + r * n_embd;
            for (int64_t i = 0; i < n_embd; i++) dst[i] = src[i] * wk;
        }
    }
    for (int64_t t = 0; t < n; t++) {
        float *o = c->tmp + t * n_embd;
        const float *s0 = c->slot_out + (size_t)(t * nu) * (size_t)n_embd;
        memcpy(o, s0, (size_t)n_embd * sizeof(float));
        for (int64_t k = 1; k < nu; k++) lo_add(o, o, s0 + k * n_embd, n_embd);
    }
}

/* The architecture's norm of x into y: RMSNorm·w, or LayerNorm·w + b. */
static void norm_row(const lo_model *m, float *y, const float *x, const float *w, const float *b) {
    if (m->arch->norm == LO_NORM_LAYER) lo_layernorm(y, x, w, b, m->hp.n_embd, m->hp.norm_eps);
    else lo_rmsnorm(y, x, w, m->hp.n_embd, m->hp.norm_eps);
}

static lo_status check_batch(const lo_context *c, const lo_batch *b) {
    const lo_hparams *hp = &c->m->hp;
    if (!b || b->n_tokens < 1 || !b->token || !b->pos || !b->seq)
        return lo_error(LO_ERR_INVALID, NULL, "empty batch or missing token/pos/seq arrays");
    if (b->n_tokens > c->n_batch)
        return lo_error(LO_ERR_RANGE, "split the batch or create the context with a larger n_batch",
                        "batch of %d tokens exceeds n_batch %d", b->n_tokens, c->n_batch);
    for (int32_t i = 0; i < b->n_tokens; i++) {
        if (b->token[i] < 0 || b->token[i] >= hp->n_vocab)
            return lo_error(LO_ERR_RANGE, NULL, "batch token %d: id %d is outside the vocabulary (0..%d)", i,
                            b->token[i], hp->n_vocab - 1);
        if (b->seq[i] < 0 || b->seq[i] >= c->n_seq)
            return lo_error(LO_ERR_RANGE, NULL, "batch token %d: sequence %d is outside 0..%d", i, b->seq[i],
                            c->n_seq - 1);
        if (b->pos[i] < 0 || b->pos[i] >= c->n_ctx)
            return lo_error(LO_ERR_RANGE, "the context is full; clear the sequence or use a larger n_ctx",
                            "batch token %d: position %d is outside the context (n_ctx %d)", i, b->pos[i], c->n_ctx);
    }
    /* Two tokens for the same cache slot would race in the parallel K/V store; the pairwise
     * scan costs far less than the forward it guards (n_tokens ≤ n_batch). */
    for (int32_t i = 1; i < b->n_tokens; i++)
        for (int32_t j = 0; j < i; j++)
            if (b->pos[i] == b->pos[j] && b->seq[i] == b->seq[j])
                return lo_error(LO_ERR_INVALID, "give each token of a sequence its own position",
                                "batch tokens %d and %d both go to position %d of sequence %d", j, i, b->pos[i],
                                b->seq[i]);
    return LO_OK;
}

/* Element-wise steps over the batch's token rows, run as one pool job per step when the
 * batch has several tokens (a single token's rows are cheaper done by the caller than a
 * pool round trip). */
typedef enum ew_op {
    EW_NORM,     /* xn = norm(x) */
    EW_RES,      /* x += tmp (+ bias into tmp first) */
    EW_RES_NORM, /* x += tmp (+ bias), then xn = norm(x) */
    EW_QKV,      /* biases, RoPE of q and k, k and v stored in the cache as F16 */
    EW_SWIGLU,   /* ffa = silu(ffa) · ffb */
    EW_POSTNORM, /* bert: tmp (+ bias) += x, then x = norm(tmp) */
    EW_GELU,     /* ffa = gelu(ffa + bias) */
} ew_op;

typedef struct ew_job {
    lo_context *c;
    const lo_batch *b;
    const lo_layer *l;
    int32_t il;
    ew_op op;
    const float *nw, *nb; /* norm weight and bias */
    const float *rb;      /* residual: bias added to tmp first, or NULL */
} ew_job;

static void ew_rows(const ew_job *j, int64_t t0, int64_t t1) {
    lo_context *c = j->c;
    const lo_model *m = c->m;
    const lo_hparams *hp = &m->hp;
    const int64_t n_embd = hp->n_embd, hd = hp->head_dim, n_rot = hp->n_rot, n_ff = hp->n_ff;
    const int64_t n_q = (int64_t)hp->n_head * hd, n_kv = (int64_t)hp->n_head_kv * hd;
    for (int64_t t = t0; t < t1; t++) {
        float *x = c->x + t * n_embd;
        switch (j->op) {
        case EW_RES:
        case EW_RES_NORM: {
            float *tmp = c->tmp + t * n_embd;
            if (j->rb) lo_add(tmp, tmp, j->rb, n_embd);
            lo_add(x, tmp, x, n_embd);
            if (j->op == EW_RES) break;
        } /* fall through */
        case EW_NORM: norm_row(m, c->xn + t * n_embd, x, j->nw, j->nb); break;
        case EW_SWIGLU: lo_swiglu(c->ffa + t * n_ff, c->ffa + t * n_ff, c->ffb + t * n_ff, n_ff); break;
        case EW_POSTNORM: {
            float *tmp = c->tmp + t * n_embd;
            if (j->rb) lo_add(tmp, tmp, j->rb, n_embd);
            lo_add(tmp, tmp, x, n_embd);
            norm_row(m, x, tmp, j->nw, j->nb);
            break;
        }
        case EW_GELU: {
            float *a = c->ffa + t * n_ff;
            if (j->rb) lo_add(a, a, j->rb, n_ff);
            lo_gelu(a, a, n_ff);
            break;
        }
        case EW_QKV: {
            const lo_layer *l = j->l;
            float *q = c->q + t * n_q, *k = c->k + t * n_kv, *v = c->v + t * n_kv;
            if (l->bq) lo_add(q, q, l->bq, n_q);
            if (l->bk) lo_add(k, k, l->bk, n_kv);
            if (l->bv) lo_add(v, v, l->bv, n_kv);
            if (!m->arch->encoder) { /* bert: learned absolute positions, no RoPE */
                const bool neox = hp->rope_type == LO_ROPE_NEOX;
                lo_rope_apply(q, hp->n_head, hd, n_rot, c->rope + t * n_rot, neox);
                lo_rope_apply(k, hp->n_head_kv, hd, n_rot, c->rope + t * n_rot, neox);
            }
            /* store K, V as F16 at (layer, seq, kv head, pos) */
            for (int32_t g = 0; g < hp->n_head_kv; g++) {
                size_t off = (((((size_t)j->il * (size_t)c->n_seq + (size_t)j->b->seq[t]) * (size_t)hp->n_head_kv +
                                (size_t)g) *
                               (size_t)c->n_ctx) +
                              (size_t)j->b->pos[t]) *
                             (size_t)hd;
                const float *ks = k + g * hd, *vs = v + g * hd;
                lo_half *kd = c->k_cache + off, *vd = c->v_cache + off;
                int64_t i = 0;
#if defined(__AVX512F__)
                for (; i + 16 <= hd; i += 16) {
                    _mm256_storeu_si256((__m256i *)(kd + i),
                                        _mm512_cvtps_ph(_mm512_loadu_ps(ks + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
                    _mm256_storeu_si256((__m256i *)(vd + i),
                                        _mm512_cvtps_ph(_mm512_loadu_ps(vs + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
                }
#endif
                for (; i < hd; i++) kd[i] = lo_f2h(ks[i]), vd[i] = lo_f2h(vs[i]);
            }
            break;
        }
        }
    }
}

static void ew_worker(void *p, int ith, int nth) {
    const ew_job *j = p;
    const int64_t n = j->b->n_tokens;
    ew_rows(j, n * ith / nth, n * (ith + 1) / nth);
}

static void ew(lo_context *c, const lo_batch *b, const lo_layer *l, int32_t il, ew_op op, const float *nw, const float *nb,
               const float *rb) {
    ew_job j = {c, b, l, il, op, nw, nb, rb};
    if (b->n_tokens > 1 && lo_pool_n_threads(c->pool) > 1) lo_pool_run(c->pool, ew_worker, &j);
    else ew_rows(&j, 0, b->n_tokens);
}

/* bert's layers over x (post-norm): x = LN(x + Wo·attn(x) + bo); x = LN(x + down(gelu(up x))). */
static void encoder_layers(lo_context *c, const lo_batch *b) {
    const lo_model *m = c->m;
    const lo_hparams *hp = &m->hp;
    const int64_t n = b->n_tokens;
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const lo_layer *l = &m->layers[il];
        proj(c, il, LO_LS_Q, &l->wq, c->x, n, c->q);
        proj(c, il, LO_LS_K, &l->wk, c->x, n, c->k);
        proj(c, il, LO_LS_V, &l->wv, c->x, n, c->v);
        ew(c, b, l, il, EW_QKV, NULL, NULL, NULL);
        att_job aj = {c, b, il, 0};
        if (lo_pool_n_threads(c->pool) > 1 && n * hp->n_head > 1) lo_pool_run(c->pool, att_worker, &aj);
        else att_worker(&aj, 0, 1);
        proj(c, il, LO_LS_O, &l->wo, c->attn, n, c->tmp);
        ew(c, b, l, il, EW_POSTNORM, l->attn_out_norm, l->attn_out_norm_b, l->bo);
        proj(c, il, LO_LS_UP, &l->ffn_up, c->x, n, c->ffa);
        ew(c, b, l, il, EW_GELU, NULL, NULL, l->ffn_up_b);
        proj(c, il, LO_LS_DOWN, &l->ffn_down, c->ffa, n, c->tmp);
        ew(c, b, l, il, EW_POSTNORM, l->layer_out_norm, l->layer_out_norm_b, l->ffn_down_b);
    }
}

/* The forward shared by decode and encode; want_logits: run the output head. */
static lo_status forward(lo_context *c, const lo_batch *b, bool want_logits) {
    LO_ASSERT(c);
    lo_status st = check_batch(c, b);
    if (st) return st;
    const lo_model *m = c->m;
    const lo_hparams *hp = &m->hp;
    const int64_t n = b->n_tokens, n_embd = hp->n_embd, hd = hp->head_dim, n_rot = hp->n_rot;
    const int64_t n_q = (int64_t)hp->n_head * hd, n_kv = (int64_t)hp->n_head_kv * hd, n_ff = hp->n_ff;

    /* embeddings: dequantised rows of token_embd */
    const lo_matrix *te = &m->w.token_embd;
    for (int64_t t = 0; t < n; t++)
        lo_dequantize_row(te->type, (const uint8_t *)te->data + (size_t)b->token[t] * te->row_bytes, c->x + t * n_embd,
                          n_embd);
    for (int64_t t = 0; t < n; t++) {
        lo_rope_cache(c->rope + t * n_rot, n_rot, b->pos[t], hp->rope_freq_base, hp->rope_freq_scale);
        c->used[(size_t)b->seq[t] * (size_t)c->n_ctx + (size_t)b->pos[t]] = 1;
    }
    c->has_logits = false;
    c->n_single = leading_single(c, b->seq, n);

    if (m->arch->encoder) {
        /* x = LN((token + type row 0) + position) as llama.cpp's bert graph adds them */
        const lo_matrix *ty = &m->w.type_embd, *pe = &m->w.pos_embd;
        float *type0 = c->xn;
        if (ty->data) lo_dequantize_row(ty->type, ty->data, type0, n_embd);
        for (int64_t t = 0; t < n; t++) {
            float *x = c->x + t * n_embd, *pr = c->tmp + t * n_embd;
            if (ty->data) lo_add(x, x, type0, n_embd);
            lo_dequantize_row(pe->type, (const uint8_t *)pe->data + (size_t)b->pos[t] * pe->row_bytes, pr, n_embd);
            lo_add(x, pr, x, n_embd);
            lo_layernorm(x, x, m->w.tok_norm, m->w.tok_norm_b, n_embd, hp->norm_eps);
        }
        encoder_layers(c, b);
    }

    bool normed = false; /* xn already holds this layer's attention norm */
    for (int32_t il = 0; il < (m->arch->encoder ? 0 : hp->n_layer); il++) {
        const lo_layer *l = &m->layers[il];
        if (!normed) ew(c, b, l, il, EW_NORM, l->attn_norm, l->attn_norm_b, NULL);
        normed = false;
        if (l->wqkv.data) {
            /* fused {n_embd, n_q + 2 n_kv}: rows 0..n_q = Q, then K, then V */
            const int64_t nqkv = n_q + 2 * n_kv;
            proj(c, il, LO_LS_QKV, &l->wqkv, c->xn, n, c->qkv);
            add_bias(c->qkv, l->bqkv, n, nqkv);
            for (int64_t t = 0; t < n; t++) {
                memcpy(c->q + t * n_q, c->qkv + t * nqkv, (size_t)n_q * sizeof(float));
                memcpy(c->k + t * n_kv, c->qkv + t * nqkv + n_q, (size_t)n_kv * sizeof(float));
                memcpy(c->v + t * n_kv, c->qkv + t * nqkv + n_q + n_kv, (size_t)n_kv * sizeof(float));
            }
        } else {
            proj(c, il, LO_LS_Q, &l->wq, c->xn, n, c->q);
            proj(c, il, LO_LS_K, &l->wk, c->xn, n, c->k);
            proj(c, il, LO_LS_V, &l->wv, c->xn, n, c->v);
        }
        ew(c, b, l, il, EW_QKV, NULL, NULL, NULL);
        att_job aj = {c, b, il, 0};
        if (lo_pool_n_threads(c->pool) > 1 && n * hp->n_head > 1) lo_pool_run(c->pool, att_worker, &aj);
        else att_worker(&aj, 0, 1);
        proj(c, il, LO_LS_O, &l->wo, c->attn, n, c->tmp);
        if (m->arch->parallel_ffn) {
            /* falcon: x += (gelu MLP of the same norm) + attention output */
            add_bias(c->tmp, l->bo, n, n_embd);
            float *att = c->out_in; /* free until the output stage: n_batch rows of n_embd */
            memcpy(att, c->tmp, (size_t)(n * n_embd) * sizeof(float));
            proj(c, il, LO_LS_UP, &l->ffn_up, c->xn, n, c->ffa);
            add_bias(c->ffa, l->ffn_up_b, n, n_ff);
            for (int64_t t = 0; t < n; t++) lo_gelu(c->ffa + t * n_ff, c->ffa + t * n_ff, n_ff);
            proj(c, il, LO_LS_DOWN, &l->ffn_down, c->ffa, n, c->tmp);
            add_bias(c->tmp, l->ffn_down_b, n, n_embd);
            for (int64_t t = 0; t < n; t++) {
                lo_add(c->tmp + t * n_embd, c->tmp + t * n_embd, att + t * n_embd, n_embd);
                lo_add(c->x + t * n_embd, c->tmp + t * n_embd, c->x + t * n_embd, n_embd);
            }
            continue;
        }
        /* residual, then the FFN norm */
        ew(c, b, l, il, EW_RES_NORM, l->ffn_norm, l->ffn_norm_b, l->bo);
        if (hp->n_expert > 0) {
            moe_ffn(c, l, b->seq, n);
        } else {
            proj(c, il, LO_LS_GATE, &l->ffn_gate, c->xn, n, c->ffa);
            proj(c, il, LO_LS_UP, &l->ffn_up, c->xn, n, c->ffb);
            ew(c, b, l, il, EW_SWIGLU, NULL, NULL, NULL);
            proj(c, il, LO_LS_DOWN, &l->ffn_down, c->ffa, n, c->tmp);
        }
        /* residual, then the next layer's attention norm */
        if (il + 1 < hp->n_layer) {
            const lo_layer *ln = &m->layers[il + 1];
            ew(c, b, l, il, EW_RES_NORM, ln->attn_norm, ln->attn_norm_b, NULL);
            normed = true;
        } else {
            ew(c, b, l, il, EW_RES, NULL, NULL, NULL);
        }
    }

    /* outputs: final norm and the output matrix for the requested rows only; rows that
     * are the only requested row of their sequence first (the one-token kernels, as for a
     * sequence decoded alone), then the rest; out_idx maps batch tokens to rows */
    for (int64_t t = 0; t < n; t++) c->seq_n[b->seq[t]] += b->logits ? b->logits[t] : t == n - 1;
    int32_t n_out = 0, n_out1 = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t t = 0; t < n; t++) {
            bool want = b->logits ? b->logits[t] : t == n - 1;
            if (pass == 0) c->out_idx[t] = -1;
            if (!want || (c->seq_n[b->seq[t]] == 1) != (pass == 0)) continue;
            c->out_idx[t] = n_out;
            float *dst = c->out_in + (size_t)n_out * (size_t)n_embd;
            if (m->arch->encoder) memcpy(dst, c->x + t * n_embd, (size_t)n_embd * sizeof(float));
            else norm_row(m, dst, c->x + t * n_embd, m->w.output_norm, m->w.output_norm_b);
            n_out++;
        }
        if (pass == 0) n_out1 = n_out;
    }
    for (int64_t t = 0; t < n; t++) c->seq_n[b->seq[t]] = 0;
    c->last_n_tokens = (int32_t)n;
    if (n_out && want_logits && !m->arch->encoder) {
        matmul(c, &m->w.output, c->out_in, n_out, n_out1, c->logits);
        c->has_logits = true;
    }
    return LO_OK;
}

lo_status lo_model_decode(lo_context *c, const lo_batch *b) { return forward(c, b, true); }

lo_status lo_model_encode(lo_context *c, const lo_batch *b) {
    LO_ASSERT(c);
    if (!c->embeddings)
        return lo_error(LO_ERR_INVALID, "create the context with embeddings = true",
                        "lo_model_encode needs a context that keeps embeddings");
    /* the output rows: the requested tokens, every token by default */
    if (!b || b->logits) return forward(c, b, false);
    if (b->n_tokens < 1 || b->n_tokens > c->n_batch) return forward(c, b, false); /* check_batch reports it */
    lo_batch bb = *b;
    bb.logits = c->want_all;
    return forward(c, &bb, false);
}
