/* tensor: run-time dispatch of the dot-product kernels (per ISA and weight type, falling
 * back to the scalar reference) and the row-parallel matrix product lo_matmul:
 * activations are quantised to the weight's vec_dot_type once, then output rows are split
 * across the pool's threads. */
#include "tensor/tensor_internal.h"

#include <pthread.h>
#include <string.h>

typedef float (*lo_vec_dot_fn)(int64_t n, const void *x, const void *y);

/* Defined in vecdot_avx2.c / vecdot_avx512.c: the kernel for a weight type, or NULL when
 * that ISA has none (the reference is used instead). */
lo_vec_dot_fn lo_vec_dot_avx2_get(uint32_t type);
lo_vec_dot_fn lo_vec_dot_avx512_get(uint32_t type);

static lo_vec_dot_fn g_table[3][LO_DTYPE_COUNT];
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
    }
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

size_t lo_matmul_scratch_bytes(const lo_matrix *w, int64_t n_tokens) {
    LO_ASSERT(w && n_tokens >= 0);
    size_t rb = act_row_bytes(w), total = 0;
    if (lo_mul_overflow(rb, (size_t)n_tokens, &total)) return SIZE_MAX;
    /* slack so each row can start 64-byte aligned */
    return total ? total + 64 : 0;
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
} mm_ctx;

static void quant_job(void *p, int ith, int nth) {
    mm_ctx *c = p;
    int64_t t0 = c->n_tokens * ith / nth, t1 = c->n_tokens * (ith + 1) / nth;
    for (int64_t t = t0; t < t1; t++)
        lo_quantize_row(c->act_type, c->x + t * c->w->ne0, c->act_w + (size_t)t * c->act_rb, c->w->ne0);
}

/* Rows [r0, r1) for all tokens; blocks of rows small enough to stay in L1/L2 while every
 * token passes over them. */
static void rows_job(void *p, int ith, int nth) {
    mm_ctx *c = p;
    const lo_matrix *w = c->w;
    int64_t m = w->ne1, k = w->ne0;
    int64_t r0 = m * ith / nth, r1 = m * (ith + 1) / nth;
    const uint8_t *wd = w->data;
    if (c->n_tokens == 1) {
        for (int64_t r = r0; r < r1; r++)
            c->out[r] = c->dot(k, wd + (size_t)r * w->row_bytes, c->act);
        return;
    }
    int64_t rb = w->row_bytes ? (int64_t)(32768 / w->row_bytes) : 64;
    if (rb < 1) rb = 1;
    if (rb > 64) rb = 64;
    for (int64_t rs = r0; rs < r1; rs += rb) {
        int64_t re = rs + rb < r1 ? rs + rb : r1;
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

void lo_matmul(lo_pool *pool, const lo_matrix *w, const float *x, int64_t n_tokens, float *out, void *scratch) {
    LO_ASSERT(w && x && out && n_tokens >= 0);
    if (n_tokens == 0 || w->ne1 == 0) return;
    mm_ctx c = {.w = w, .x = x, .n_tokens = n_tokens, .out = out};
    c.dot = kernel_for(w->type);
    LO_ASSERT(c.dot != NULL);
    c.act_type = lo_vec_dot_type(w->type);
    c.act_rb = act_row_bytes(w);
    if (c.act_rb == 0) {
        /* F32 weights multiply the f32 activations directly */
        c.act = (const uint8_t *)x;
        c.act_rb = (size_t)w->ne0 * sizeof(float);
    } else {
        LO_ASSERT(scratch != NULL);
        uint8_t *s = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
        c.act_w = s;
        c.act = s;
        if (n_tokens > 1) run(pool, quant_job, &c);
        else quant_job(&c, 0, 1);
    }
    run(pool, rows_job, &c);
}
