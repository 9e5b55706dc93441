/* tensor: run-time dispatch of the dot-product kernels (per ISA and weight type, falling
 * back to the scalar reference) and the row-parallel matrix product lo_matmul:
 * activations are quantised to the weight's vec_dot_type once (as llama.cpp does on x86),
 * then output rows are split across the pool's threads; several tokens share each
 * decoded weight row where a tile kernel exists, and Q4_0/Q8_0/Q4_K/Q6_K go through
 * 16-row × 8-token panels (one token: Q4_0 16 rows per pass, leftover rows through a kernel
 * on re-arranged activations; Q8_0/Q4_1/Q5_0/Q5_1 16 rows per pass with the one-token
 * tile's arithmetic, leftover rows through the tile; Q4_K and Q6_K 4 rows per pass).
 * lo_matmul_split runs some tokens through the one-token kernels and the rest through the
 * multi-token path, so each token's result depends only on its own role, never on the
 * other tokens (batch invariance, docs/tensor.md). */
#include "tensor/tensor_internal.h"

#include <pthread.h>
#include <string.h>

typedef float (*lo_vec_dot_fn)(int64_t n, const void *x, const void *y);

/* Defined in vecdot_avx2.c / vecdot_avx512.c: the kernel for a weight type, or NULL when
 * that ISA has none (the reference is used instead). */
lo_vec_dot_fn lo_vec_dot_avx2_get(uint32_t type);
lo_vec_dot_fn lo_vec_dot_avx512_get(uint32_t type);
typedef void (*lo_quant_fn)(const float *src, void *dst, int64_t n);
lo_quant_fn lo_quant_act_avx512_get(uint32_t type);
/* One weight row × up to max_nc tokens: out[c·ldo] = x · y_c, activation rows by bytes
 * apart, aux = the Q8_0/Q8_1 activations' block d (then s) as f32, aux_stride floats per
 * token (vecdot_avx512.c); NULL where there is none. */
typedef void (*lo_mm_fn)(int64_t n, const void *x, const void *y, size_t by, const float *aux, size_t aux_stride,
                         int nc, float *out, size_t ldo);
lo_mm_fn lo_mm_avx512_get(uint32_t type, int *max_nc);
/* 16 weight rows (rs bytes apart) × up to 8 tokens: out[t·ldo + r], r < 16; aux as for
 * lo_mm_fn but the second half holds int32 -off·Σq_y per activation block; the rows'
 * gathered scale words go to / come from cache (64-byte aligned, cache_per_block bytes
 * per weight block) with mode 1 / 2, mode 0 = none (vecdot_avx512.c). */
typedef void (*lo_p16_fn)(int64_t n, const void *x, size_t rs, const void *y, size_t by, const float *aux,
                          size_t aux_stride, int nt, float *out, size_t ldo, void *cache, int mode);
lo_p16_fn lo_p16_avx512_get(uint32_t type, int *off, size_t *cache_per_block);
/* One weight row · one token whose activations are arranged by arrange_q4_0 (after d[nb]
 * and corr[nb] in aux) (vecdot_avx512.c). */
typedef float (*lo_mv_fn)(int64_t n, const void *x, const float *aux);
lo_mv_fn lo_mv_avx512_get(uint32_t type);
/* Four weight rows (rs bytes apart) · nt ≤ 4 activation rows (by bytes apart) →
 * out[t·ldo + 0..3], each token's arithmetic that of nt = 1 (vecdot_avx512.c). */
typedef void (*lo_mv4_fn)(int64_t n, const void *x, size_t rs, const void *y, size_t by, int nt, float *out,
                          size_t ldo);
lo_mv4_fn lo_mv4_avx512_get(uint32_t type);
/* Sixteen weight rows (rs bytes apart) · nt ≤ 8 Q8_0 / Q8_1 activation rows (by bytes
 * apart) with their aux (aux_stride floats apart; Q4_0: d_y[nb], corr[nb]; Q8_0, Q4_1,
 * Q5_0, Q5_1: d_y[nb], s_y[nb], 8 corr per block) → out[t·ldo + 0..15], each token's
 * arithmetic that of nt = 1 (vecdot_avx512.c). */
typedef void (*lo_mv16_fn)(int64_t n, const void *x, size_t rs, const void *y, size_t by, const float *aux,
                           size_t aux_stride, int nt, float *out, size_t ldo);
lo_mv16_fn lo_mv16_avx512_get(uint32_t type);

/* Quantises an activation row to a vec_dot_type as llama.cpp's ggml-cpu does on x86
 * (lo_quant_q8_0_x86/_q8_1_x86: id = 127/amax, round half to even — not the file-format
 * reference), with the AVX-512 version when that is the current ISA (bit-exact with the
 * scalar one). Other types go through lo_quantize_row. Internal; the tests use it. */
void lo_quantize_act(uint32_t type, const float *src, void *dst, int64_t n);

static lo_vec_dot_fn g_table[3][LO_DTYPE_COUNT];
static lo_quant_fn g_quant512[LO_DTYPE_COUNT];
static lo_mm_fn g_mm512[LO_DTYPE_COUNT];
static int g_mm512_nc[LO_DTYPE_COUNT];
static lo_p16_fn g_p16[LO_DTYPE_COUNT];
static int g_p16_off[LO_DTYPE_COUNT];
static size_t g_p16_cache[LO_DTYPE_COUNT];
static lo_mv_fn g_mv512[LO_DTYPE_COUNT];
static lo_mv4_fn g_mv4[LO_DTYPE_COUNT];
static lo_mv16_fn g_mv16[LO_DTYPE_COUNT];
/* BF16 per ISA: ggml_vec_dot_bf16's sum (in g_table), tinyBLAS's tile sum, and the
 * AVX-512 multi-token tile kernel (native vdpbf16ps when the CPU has AVX512_BF16). */
static lo_vec_dot_fn g_bf16_tile[3];
static lo_mm_fn g_bf16_mm;
static int g_bf16_mm_nc;
static pthread_once_t g_table_once = PTHREAD_ONCE_INIT;

static lo_vec_dot_fn ref_of(uint32_t type) {
    switch (type) {
    case LO_DTYPE_F32: return lo_vec_dot_f32_ref;
    case LO_DTYPE_F16: return lo_vec_dot_f16_ref;
    case LO_DTYPE_BF16: return lo_vec_dot_bf16_ref;
    case LO_DTYPE_Q4_0: return lo_vec_dot_q4_0_ref;
    case LO_DTYPE_Q4_1: return lo_vec_dot_q4_1_ref;
    case LO_DTYPE_Q5_0: return lo_vec_dot_q5_0_ref;
    case LO_DTYPE_Q5_1: return lo_vec_dot_q5_1_ref;
    case LO_DTYPE_Q8_0: return lo_vec_dot_q8_0_ref;
    case LO_DTYPE_Q2_K: return lo_vec_dot_q2_K_ref;
    case LO_DTYPE_Q3_K: return lo_vec_dot_q3_K_ref;
    case LO_DTYPE_Q4_K: return lo_vec_dot_q4_K_ref;
    case LO_DTYPE_Q5_K: return lo_vec_dot_q5_K_ref;
    case LO_DTYPE_Q6_K: return lo_vec_dot_q6_K_ref;
    default: return NULL;
    }
}

static void table_init(void) {
    for (uint32_t t = 0; t < LO_DTYPE_COUNT; t++) {
        lo_vec_dot_fn r = ref_of(t);
        lo_vec_dot_fn a2 = lo_vec_dot_avx2_get(t);
        lo_vec_dot_fn a5 = lo_vec_dot_avx512_get(t);
        g_table[LO_ISA_SCALAR][t] = r;
        g_table[LO_ISA_AVX2][t] = a2 ? a2 : r;
        /* An AVX-512 build without its own kernel for a type still beats scalar with AVX2. */
        g_table[LO_ISA_AVX512][t] = a5 ? a5 : (a2 ? a2 : r);
        g_quant512[t] = lo_quant_act_avx512_get(t);
        g_mm512[t] = lo_mm_avx512_get(t, &g_mm512_nc[t]);
        g_p16[t] = lo_p16_avx512_get(t, &g_p16_off[t], &g_p16_cache[t]);
        g_mv512[t] = lo_mv_avx512_get(t);
        g_mv4[t] = lo_mv4_avx512_get(t);
        g_mv16[t] = lo_mv16_avx512_get(t);
    }
    /* BF16 reproduces llama.cpp's AVX512_BF16 sums on every ISA (vecdot_ref.c) */
    lo_bf16_dot_fn d2 = lo_bf16_dot_get(LO_BF16_AVX2, false), t2 = lo_bf16_dot_get(LO_BF16_AVX2, true);
    lo_bf16_dot_fn d5 = lo_bf16_dot_get(LO_BF16_AVX512BF16, false), t5 = lo_bf16_dot_get(LO_BF16_AVX512BF16, true);
    if (!d5) d5 = lo_bf16_dot_get(LO_BF16_AVX512, false), t5 = lo_bf16_dot_get(LO_BF16_AVX512, true);
    g_bf16_tile[LO_ISA_SCALAR] = lo_vec_dot_bf16_tile_ref;
    g_table[LO_ISA_AVX2][LO_DTYPE_BF16] = d2 ? d2 : lo_vec_dot_bf16_ref;
    g_bf16_tile[LO_ISA_AVX2] = t2 ? t2 : lo_vec_dot_bf16_tile_ref;
    g_table[LO_ISA_AVX512][LO_DTYPE_BF16] = d5 ? d5 : g_table[LO_ISA_AVX2][LO_DTYPE_BF16];
    g_bf16_tile[LO_ISA_AVX512] = t5 ? t5 : g_bf16_tile[LO_ISA_AVX2];
    g_bf16_mm = lo_bf16_mm_get(LO_BF16_AVX512BF16, &g_bf16_mm_nc);
    if (!g_bf16_mm) g_bf16_mm = lo_bf16_mm_get(LO_BF16_AVX512, &g_bf16_mm_nc);
}

static lo_vec_dot_fn kernel_for(uint32_t type) {
    pthread_once(&g_table_once, table_init);
    if (type >= LO_DTYPE_COUNT) return NULL;
    return g_table[lo_isa_current()][type];
}

float lo_vec_dot(uint32_t weight_type, int64_t n, const void *x, const void *y) {
    lo_vec_dot_fn f = kernel_for(weight_type);
    LO_ASSERT(f != NULL);
    return f(n, x, y);
}

void lo_quantize_act(uint32_t type, const float *src, void *dst, int64_t n) {
    pthread_once(&g_table_once, table_init);
    if (type == LO_DTYPE_BF16 && lo_isa_current() == LO_ISA_AVX512) {
        lo_bf16_from_f32(src, dst, n);
        return;
    }
    if (type < LO_DTYPE_COUNT && g_quant512[type] && lo_isa_current() == LO_ISA_AVX512) {
        g_quant512[type](src, dst, n);
        return;
    }
    switch (type) {
    case LO_DTYPE_Q8_0: lo_quant_q8_0_x86(src, dst, n); break;
    case LO_DTYPE_Q8_1: lo_quant_q8_1_x86(src, dst, n); break;
    default: lo_quantize_row(type, src, dst, n); break;
    }
}

/* ---- matrix product -------------------------------------------------------------- */

/* Bytes of one activation row (ne0 elements) in the weight's vec_dot_type; 0 when F32
 * weights use x directly. */
static size_t act_row_bytes(const lo_matrix *w) {
    uint32_t vt = lo_vec_dot_type(w->type);
    if (vt == LO_DTYPE_F32) return 0;
    size_t rb = 0;
    if (!lo_dtype_row_bytes(vt, w->ne0, &rb)) return 0;
    return rb;
}

/* Scratch bytes per activation row: F16 activations may be held as f32 (rounded through
 * f16) for the float tile kernels, so reserve 4 bytes per element. */
static size_t scratch_row_bytes(const lo_matrix *w) {
    uint32_t vt = lo_vec_dot_type(w->type);
    if (vt == LO_DTYPE_F16) return (size_t)w->ne0 * sizeof(float);
    return act_row_bytes(w);
}

/* Floats per token of pre-converted activation block scales (d[nb], s[nb]) that the
 * Q8_0/Q8_1 tile kernels read, plus room for the one-token kernels' extras: for Q4_0 the
 * arranged copy of the activation bytes (32 per block), for Q8_0 / Q5_0 the 16-row
 * kernel's offset corrections (8 int32 per block); 0 for other activation types. */
static size_t aux_floats(const lo_matrix *w) {
    uint32_t vt = lo_vec_dot_type(w->type);
    if (vt != LO_DTYPE_Q8_0 && vt != LO_DTYPE_Q8_1) return 0;
    const bool extra = w->type == LO_DTYPE_Q4_0 || w->type == LO_DTYPE_Q8_0 || w->type == LO_DTYPE_Q5_0;
    return (extra ? 10 : 2) * (size_t)(w->ne0 / 32);
}

/* The Q8_0 activation bytes of block pairs (2p, 2p+1) as [2p: 0..15, 2p+1: 0..15,
 * 2p: 16..31, 2p+1: 16..31] (an odd last block unchanged), for mv_q4_0. */
static void arrange_q4_0(const block_q8_0 *b, int8_t *dst, int64_t nb) {
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2, dst += 64) {
        memcpy(dst, b[i].qs, 16);
        memcpy(dst + 16, b[i + 1].qs, 16);
        memcpy(dst + 32, b[i].qs + 16, 16);
        memcpy(dst + 48, b[i + 1].qs + 16, 16);
    }
    if (i < nb) memcpy(dst, b[i].qs, 32);
}

size_t lo_matmul_scratch_bytes(const lo_matrix *w, int64_t n_tokens) {
    LO_ASSERT(w && n_tokens >= 0);
    size_t rb = scratch_row_bytes(w), total = 0, aux = 0;
    if (lo_mul_overflow(rb, (size_t)n_tokens, &total)) return SIZE_MAX;
    if (lo_mul_overflow(aux_floats(w) * sizeof(float), (size_t)n_tokens, &aux)) return SIZE_MAX;
    if (lo_add_overflow(total, aux, &total)) return SIZE_MAX;
    /* slack so the rows and the f32 scales of both token groups of lo_matmul_split can
     * start 64-byte aligned */
    return total ? total + 256 : 0;
}

typedef struct mm_ctx {
    const lo_matrix *w;
    const float *x;
    int64_t n_tokens;
    float *out;
    const uint8_t *act;   /* quantised activations, act_rb bytes apart */
    size_t act_rb;
    uint8_t *act_w;       /* writable view for the quantise job */
    uint32_t act_type;
    lo_vec_dot_fn dot;
    lo_mm_fn mm; /* multi-token tile kernel, or NULL */
    int mm_nc;
    float *aux; /* per token: activation block d[nb] then s[nb] as f32 (Q8_0/Q8_1) */
    size_t aux_stride;
    uint32_t round_type; /* F16: activations kept as f32 rounded through f16; else 0 */
    int64_t k_chunk;     /* float tiles: elements of k per pass (0 = all) */
    size_t w_elem_bytes; /* float tiles: bytes per weight element */
    lo_p16_fn p16;       /* 16-row panel kernel, or NULL */
    int p16_off;         /* its weights' unsigned offset (aux corrections -off·Σq_y) */
    size_t p16_cache;    /* its scale-cache bytes per weight block */
    lo_mv_fn mv;         /* one-token kernel on arranged activations, or NULL */
    lo_mv4_fn mv4;       /* one-token kernel for 4 rows at a time, or NULL */
    lo_mv16_fn mv16;     /* one-token kernel for 16 rows at a time (the rest through mv or mm), or NULL */
} mm_ctx;

void lo_round_f16_avx512(const float *x, float *y, int64_t n);

/* Token t of c into its activation row (and block scales / arranged copy in aux). */
static void quant_token(mm_ctx *c, int64_t t) {
    uint8_t *row = c->act_w + (size_t)t * c->act_rb;
    if (c->round_type == LO_DTYPE_F16) {
        lo_round_f16_avx512(c->x + t * c->w->ne0, (float *)row, c->w->ne0);
        return;
    }
    lo_quantize_act(c->act_type, c->x + t * c->w->ne0, row, c->w->ne0);
    if (!c->aux) return;
    float *a = c->aux + (size_t)t * c->aux_stride;
    int64_t nb = c->w->ne0 / 32;
    if (c->act_type == LO_DTYPE_Q8_0) {
        const block_q8_0 *b = (const block_q8_0 *)row;
        for (int64_t i = 0; i < nb; i++) {
            int32_t sum = 0;
            for (int j = 0; j < QK8_0; j++) sum += b[i].qs[j];
            sum *= -c->p16_off;
            a[i] = lo_f16_to_f32(b[i].d);
            memcpy(a + nb + i, &sum, sizeof sum); /* int32 bits, read as such by the panels */
        }
        if (c->mv) arrange_q4_0(b, (int8_t *)(void *)(a + 2 * nb), nb);
        if (c->mv16 && (c->w->type == LO_DTYPE_Q8_0 || c->w->type == LO_DTYPE_Q5_0)) {
            /* mv16_q8_0 / mv16_q5_0: -off · Σ of each 4 activation bytes (they multiply
             * unsigned quants: Q8_0 q + 128, Q5_0 the stored 0..31 of q - 16) */
            const int32_t off = c->w->type == LO_DTYPE_Q8_0 ? 128 : 16;
            int32_t *corr = (int32_t *)(void *)(a + 2 * nb);
            for (int64_t i = 0; i < nb; i++)
                for (int d = 0; d < 8; d++) {
                    const int8_t *q = b[i].qs + 4 * d;
                    corr[8 * i + d] = -off * (q[0] + q[1] + q[2] + q[3]);
                }
        }
    } else {
        const block_q8_1 *b = (const block_q8_1 *)row;
        for (int64_t i = 0; i < nb; i++) a[i] = lo_f16_to_f32(b[i].d), a[nb + i] = lo_f16_to_f32(b[i].s);
    }
}

/* Rows [r0, r1) for all tokens with 16-row panels (r1 - r0 a multiple of 16): each panel
 * (≤ 16 · row_bytes, L1/L2) meets every group of 8 tokens in turn; the first group stores
 * the panel's gathered scale words in a stack cache that the others reuse. */
static void panels_range(const mm_ctx *c, int64_t r0, int64_t r1) {
    const lo_matrix *w = c->w;
    int64_t m = w->ne1, k = w->ne0;
    const uint8_t *wd = w->data;
    _Alignas(64) uint8_t cache[32768];
    int64_t nblk = k / lo_dtype_get(w->type)->block_elems;
    int use_cache = c->p16_cache && (size_t)nblk * c->p16_cache <= sizeof cache;
    for (int64_t r = r0; r < r1; r += 16) {
        for (int64_t t = 0; t < c->n_tokens; t += 8) {
            int nc = (int)(c->n_tokens - t < 8 ? c->n_tokens - t : 8);
            const void *y = c->act + (size_t)t * c->act_rb;
            const float *aux = c->aux + (size_t)t * c->aux_stride;
            c->p16(k, wd + (size_t)r * w->row_bytes, w->row_bytes, y, c->act_rb, aux, c->aux_stride, nc,
                   c->out + t * m + r, (size_t)m, cache, use_cache ? (t == 0 ? 1 : 2) : 0);
        }
    }
}

static void rows_range(const mm_ctx *c, int64_t r0, int64_t r1);

/* Rows per block: with tiles, ~256 KiB of weights stay in L2 while each group of mm_nc
 * tokens (up to 8 × 16 KiB of f32 activations) passes over them, so activations are
 * re-read from L3 only once per block; without, ~32 KiB (L1). */
static int64_t row_block(const mm_ctx *c) {
    size_t budget = c->mm ? 262144 : 32768;
    int64_t rb = c->w->row_bytes ? (int64_t)(budget / c->w->row_bytes) : 64;
    if (rb < 1) rb = 1;
    if (rb > (c->mm ? 256 : 64)) rb = c->mm ? 256 : 64;
    return rb;
}

/* The batch path's output rows split across the threads: in whole 16-row panels where
 * there is a panel kernel (the leftover rows to the last thread), else evenly. */
static void rows_job(void *p, int ith, int nth) {
    const mm_ctx *c = p;
    int64_t m = c->w->ne1;
    if (c->p16) {
        int64_t np = m / 16;
        int64_t p0 = np * ith / nth, p1 = np * (ith + 1) / nth;
        panels_range(c, p0 * 16, p1 * 16);
        if (ith == nth - 1 && np * 16 < m) rows_range(c, np * 16, m);
        return;
    }
    rows_range(c, m * ith / nth, m * (ith + 1) / nth);
}

/* Rows [r0, r1) for all tokens of the batch path (each token's result independent of
 * the others: the tiles compute every column alone); blocks of rows small enough to stay
 * in L1/L2 while every token passes over them. */
static void rows_range(const mm_ctx *c, int64_t r0, int64_t r1) {
    const lo_matrix *w = c->w;
    int64_t m = w->ne1, k = w->ne0;
    const uint8_t *wd = w->data;
    const int64_t rb = row_block(c);
    for (int64_t rs = r0; rs < r1; rs += rb) {
        int64_t re = rs + rb < r1 ? rs + rb : r1;
        if (c->mm && c->k_chunk) {
            /* float weights: k in chunks so a group of tokens' f32 activations stays in L1
             * while every row of the block passes; partial sums are added up in out */
            for (int64_t k0 = 0; k0 < k; k0 += c->k_chunk) {
                int64_t kn = k - k0 < c->k_chunk ? k - k0 : c->k_chunk;
                size_t xoff = (size_t)k0 * c->w_elem_bytes, yoff = (size_t)k0 * sizeof(float);
                for (int64_t t = 0; t < c->n_tokens; t += c->mm_nc) {
                    int nc = (int)(c->n_tokens - t < c->mm_nc ? c->n_tokens - t : c->mm_nc);
                    const uint8_t *y = c->act + (size_t)t * c->act_rb + yoff;
                    for (int64_t r = rs; r < re; r++) {
                        float part[16];
                        c->mm(kn, wd + (size_t)r * w->row_bytes + xoff, y, c->act_rb, NULL, 0, nc, part, 1);
                        float *o = c->out + t * m + r;
                        for (int j = 0; j < nc; j++) o[(size_t)j * m] = k0 ? o[(size_t)j * m] + part[j] : part[j];
                    }
                }
            }
            continue;
        }
        if (c->mm) {
            /* each weight row decoded once per group of mm_nc tokens */
            for (int64_t t = 0; t < c->n_tokens; t += c->mm_nc) {
                int nc = (int)(c->n_tokens - t < c->mm_nc ? c->n_tokens - t : c->mm_nc);
                const void *y = c->act + (size_t)t * c->act_rb;
                for (int64_t r = rs; r < re; r++)
                    c->mm(k, wd + (size_t)r * w->row_bytes, y, c->act_rb, c->aux ? c->aux + (size_t)t * c->aux_stride : NULL,
                          c->aux_stride, nc, c->out + t * m + r, (size_t)m);
            }
            continue;
        }
        for (int64_t t = 0; t < c->n_tokens; t++) {
            const void *y = c->act + (size_t)t * c->act_rb;
            float *o = c->out + t * m;
            for (int64_t r = rs; r < re; r++) o[r] = c->dot(k, wd + (size_t)r * w->row_bytes, y);
        }
    }
}

static void run(lo_pool *pool, lo_pool_fn fn, void *ctx) {
    if (pool && lo_pool_n_threads(pool) > 1) lo_pool_run(pool, fn, ctx);
    else fn(ctx, 0, 1);
}

/* The kernels of one path for w: `batch` = the multi-token path (tiles, 16-row panels,
 * BF16 tinyBLAS sums) whatever the token count, else the one-token path (mv16 / mv4 /
 * one-token tiles / the dot product). Sets everything but the token range and buffers. */
static void setup_path(mm_ctx *c, const lo_matrix *w, bool batch) {
    c->w = w;
    c->dot = kernel_for(w->type);
    LO_ASSERT(c->dot != NULL);
    const bool avx512 = lo_isa_current() == LO_ISA_AVX512;
    if (w->type == LO_DTYPE_BF16) {
        /* As llama.cpp: several tokens with k % 32 == 0 and m % 4 == 0 go through tinyBLAS
         * (one accumulator per output), everything else through ggml_vec_dot_bf16; the
         * activations are bf16 rows (scalar rounding, as ggml's from_float). */
        if (batch && w->ne0 % 32 == 0 && w->ne1 % 4 == 0) {
            lo_isa isa = lo_isa_current();
            c->dot = g_bf16_tile[isa];
            if (isa == LO_ISA_AVX512 && g_bf16_mm) c->mm = g_bf16_mm, c->mm_nc = g_bf16_mm_nc;
        }
    } else if ((batch || aux_floats(w)) && w->type < LO_DTYPE_COUNT && avx512 && g_mm512[w->type]) {
        /* tiles for several tokens; for one token only where they beat the dot kernel (the
         * legacy types, thanks to the pre-converted activation scales) */
        c->mm = g_mm512[w->type];
        c->mm_nc = g_mm512_nc[w->type];
        /* panels need 16 rows, 16·row_bytes within int32 (the scale gather's offsets) */
        if (batch && g_p16[w->type] && w->ne1 >= 16 && w->row_bytes <= (size_t)INT32_MAX / 16) {
            c->p16 = g_p16[w->type];
            c->p16_off = g_p16_off[w->type];
            c->p16_cache = g_p16_cache[w->type];
        }
        if (!batch && g_mv512[w->type]) {
            c->mv = g_mv512[w->type];
            c->p16_off = 8; /* the offset corrections for mv_q4_0 / mv16_q4_0 */
            /* 16 rows per pass (16·row_bytes within int32: the scale gather's offsets) */
            if (g_mv16[w->type] && w->ne1 >= 16 && w->row_bytes <= (size_t)INT32_MAX / 16) c->mv16 = g_mv16[w->type];
        } else if (!batch && g_mv16[w->type] && w->ne1 >= 16 && w->row_bytes <= (size_t)INT32_MAX / 16) {
            /* Q8_0 / Q4_1 / Q5_0 / Q5_1: 16 rows per pass with the one-token tile's
             * arithmetic (the leftover rows through the tile) */
            c->mv16 = g_mv16[w->type];
        }
    }
    if (!batch && !c->mm && w->type < LO_DTYPE_COUNT && avx512) c->mv4 = g_mv4[w->type];
    c->act_type = lo_vec_dot_type(w->type);
    c->act_rb = act_row_bytes(w);
    if (c->mm && c->act_type == LO_DTYPE_F16) {
        c->round_type = c->act_type;
        c->act_rb = (size_t)w->ne0 * sizeof(float);
    }
    if (c->mm && (c->act_type == LO_DTYPE_F32 || c->round_type)) {
        c->k_chunk = 1024; /* 8 tokens × 4 KiB of f32 = 32 KiB: L1 */
        c->w_elem_bytes = c->act_type == LO_DTYPE_F32 ? 4 : 2;
    }
}

/* Gives c its n tokens of x (rows x0.., outputs out0..) and carves its activation rows and
 * block scales from the scratch cursor *s (advanced; 64-byte aligned starts). F32 weights
 * read x directly. */
static void bind_tokens(mm_ctx *c, const float *x0, int64_t n, float *out0, uintptr_t *s) {
    c->x = x0;
    c->n_tokens = n;
    c->out = out0;
    if (c->act_rb == 0) {
        c->act = (const uint8_t *)x0;
        c->act_rb = (size_t)c->w->ne0 * sizeof(float);
        return;
    }
    if (n == 0) return;
    uintptr_t a = (*s + 63) & ~(uintptr_t)63;
    c->act_w = (uint8_t *)a;
    c->act = c->act_w;
    a += (size_t)n * c->act_rb;
    if (c->mm && aux_floats(c->w)) {
        a = (a + 63) & ~(uintptr_t)63;
        c->aux = (float *)a;
        c->aux_stride = aux_floats(c->w);
        a += (size_t)n * c->aux_stride * sizeof(float);
    }
    *s = a;
}

/* The one-token kernels for rows [r0, r1) and every token of c (the single tokens of a
 * split product): rows outer, tokens inner, so a row group is read from memory once for
 * all of them and each token's output is the same arithmetic as a product with only
 * that token (same kernels, same grouping of rows starting at r0). */
static void single_range(const mm_ctx *c, int64_t r0, int64_t r1) {
    const lo_matrix *w = c->w;
    const int64_t m = w->ne1, k = w->ne0, nt = c->n_tokens;
    const uint8_t *wd = w->data;
    LO_ASSERT(!c->p16 && !c->k_chunk);
    if (c->mv) {
        for (int64_t r = r0; r < r1; r++)
            for (int64_t t = 0; t < nt; t++) c->out[t * m + r] = c->mv(k, wd + (size_t)r * w->row_bytes, c->aux + (size_t)t * c->aux_stride);
        return;
    }
    if (c->mv4) {
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4)
            for (int64_t t = 0; t < nt; t += 4) {
                const int n4 = (int)(nt - t < 4 ? nt - t : 4);
                c->mv4(k, wd + (size_t)r * w->row_bytes, w->row_bytes, c->act + (size_t)t * c->act_rb, c->act_rb, n4,
                       c->out + t * m + r, (size_t)m);
            }
        for (; r < r1; r++)
            for (int64_t t = 0; t < nt; t++) c->out[t * m + r] = c->dot(k, wd + (size_t)r * w->row_bytes, c->act + (size_t)t * c->act_rb);
        return;
    }
    const int64_t rb = row_block(c);
    for (int64_t rs = r0; rs < r1; rs += rb) {
        int64_t re = rs + rb < r1 ? rs + rb : r1;
        if (c->mm) {
            /* the tiles compute each token's column alone (as with one token), so the
             * single tokens share each decoded row in groups of mm_nc */
            for (int64_t t = 0; t < nt; t += c->mm_nc) {
                const int nc = (int)(nt - t < c->mm_nc ? nt - t : c->mm_nc);
                const uint8_t *y = c->act + (size_t)t * c->act_rb;
                const float *aux = c->aux ? c->aux + (size_t)t * c->aux_stride : NULL;
                for (int64_t r = rs; r < re; r++)
                    c->mm(k, wd + (size_t)r * w->row_bytes, y, c->act_rb, aux, c->aux_stride, nc, c->out + t * m + r, (size_t)m);
            }
            continue;
        }
        for (int64_t t = 0; t < nt; t++) {
            const uint8_t *y = c->act + (size_t)t * c->act_rb;
            float *o = c->out + t * m;
            for (int64_t r = rs; r < re; r++) o[r] = c->dot(k, wd + (size_t)r * w->row_bytes, y);
        }
    }
}

/* Thread ith's rows of the one-token path, split as rows_job splits them (16-row panels
 * with mv16, the leftover rows to the last thread; else evenly). */
static void single_rows(const mm_ctx *c, int ith, int nth) {
    const lo_matrix *w = c->w;
    const int64_t m = w->ne1;
    if (c->mv16) {
        const int64_t np = m / 16, p0 = np * ith / nth, p1 = np * (ith + 1) / nth;
        for (int64_t p = p0; p < p1; p++)
            for (int64_t t = 0; t < c->n_tokens; t += 8) {
                const int nt = (int)(c->n_tokens - t < 8 ? c->n_tokens - t : 8);
                c->mv16(w->ne0, (const uint8_t *)w->data + (size_t)p * 16 * w->row_bytes, w->row_bytes, c->act + (size_t)t * c->act_rb,
                        c->act_rb, c->aux + (size_t)t * c->aux_stride, c->aux_stride, nt, c->out + t * m + p * 16, (size_t)m);
            }
        if (ith == nth - 1 && np * 16 < m) single_range(c, np * 16, m);
        return;
    }
    single_range(c, m * ith / nth, m * (ith + 1) / nth);
}

/* A split product: the single tokens' path and the batch tokens' path. */
typedef struct split_ctx {
    mm_ctx *s, *b;
} split_ctx;

static void split_quant_job(void *p, int ith, int nth) {
    const split_ctx *sc = p;
    const int64_t ns = sc->s->n_tokens, n = ns + sc->b->n_tokens;
    for (int64_t t = n * ith / nth; t < n * (ith + 1) / nth; t++) {
        if (t < ns) quant_token(sc->s, t);
        else quant_token(sc->b, t - ns);
    }
}

static void split_rows_job(void *p, int ith, int nth) {
    const split_ctx *sc = p;
    if (sc->s->n_tokens) single_rows(sc->s, ith, nth);
    if (sc->b->n_tokens) rows_job(sc->b, ith, nth);
}

void lo_matmul_split(lo_pool *pool, const lo_matrix *w, const float *x, int64_t n_tokens, int64_t n_single, float *out,
                     void *scratch) {
    LO_ASSERT(w && x && out && n_tokens >= 0 && n_single >= 0 && n_single <= n_tokens);
    if (n_tokens == 0 || w->ne1 == 0) return;
    mm_ctx cs = {0}, cb = {0};
    setup_path(&cs, w, false);
    setup_path(&cb, w, true);
    uintptr_t cur = (uintptr_t)scratch;
    if (act_row_bytes(w)) LO_ASSERT(scratch != NULL);
    bind_tokens(&cs, x, n_single, out, &cur);
    bind_tokens(&cb, x + n_single * w->ne0, n_tokens - n_single, out + n_single * w->ne1, &cur);
    /* the two regions fit what lo_matmul_scratch_bytes promised for n_tokens */
    LO_ASSERT(!act_row_bytes(w) || cur - (uintptr_t)scratch <= lo_matmul_scratch_bytes(w, n_tokens));
    split_ctx sc = {&cs, &cb};
    if (act_row_bytes(w)) {
        if (n_tokens > 1) run(pool, split_quant_job, &sc);
        else split_quant_job(&sc, 0, 1);
    }
    run(pool, split_rows_job, &sc);
}

void lo_matmul(lo_pool *pool, const lo_matrix *w, const float *x, int64_t n_tokens, float *out, void *scratch) {
    lo_matmul_split(pool, w, x, n_tokens, n_tokens == 1 ? 1 : 0, out, scratch);
}
