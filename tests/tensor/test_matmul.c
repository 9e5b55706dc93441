/* lo_matmul against a naive loop over lo_vec_dot_ref for every weight type: odd row
 * counts, padded row strides, n_tokens 1/3/17, no pool and pools of 1 and 2 threads,
 * every ISA this CPU has; the activation quantiser bit-exact on every ISA; the
 * scratch-size contract and empty products. */
#include "check.h"
#include "llmops/tensor.h"
#include "tensor/tensor_internal.h"

#include <math.h>
#include <stddef.h>

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static float frand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* matmul.c (internal): the activation quantiser lo_matmul uses */
void lo_quantize_act(uint32_t type, const float *src, void *dst, int64_t n);

/* What lo_matmul must produce for activations: llama.cpp's x86 quantisers for Q8_0/Q8_1,
 * the reference for the rest (scalar code, independent of the SIMD paths). */
static void quant_expected(uint32_t vt, const float *x, void *y, int64_t n) {
    if (vt == LO_DTYPE_Q8_0) lo_quant_q8_0_x86(x, y, n);
    else if (vt == LO_DTYPE_Q8_1) lo_quant_q8_1_x86(x, y, n);
    else lo_quantize_row(vt, x, y, n);
}

/* lo_quantize_act is bit-exact with the scalar quantisers on every ISA, including
 * round-half-to-even ties (a block with amax 127 makes id exactly 1) and zero blocks. */
static void test_quantize_act(void) {
    const int64_t n = 4096 + 32 * 3;
    float *x = malloc(sizeof(float) * (size_t)n);
    uint8_t *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
    const uint32_t vts[] = {LO_DTYPE_Q8_0, LO_DTYPE_Q8_1, LO_DTYPE_Q8_K, LO_DTYPE_F16, LO_DTYPE_BF16, LO_DTYPE_F32};
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 7 + 1) * 0.37f * frand();
    for (int j = 0; j < 32; j++) x[j] = (j == 0) ? 127.0f : (float)(j % 9) - 4.5f; /* ties */
    for (int j = 32; j < 64; j++) x[j] = 0.0f;                                  /* amax 0 */
    for (int j = 64; j < 96; j++) x[j] = 1e-30f * (float)(j - 80);               /* tiny */
    for (size_t v = 0; v < sizeof vts / sizeof vts[0]; v++) {
        size_t rb = 0;
        int64_t nn = vts[v] == LO_DTYPE_Q8_K ? 4096 : n; /* Q8_K: whole super-blocks */
        CHECK(lo_dtype_row_bytes(vts[v], nn, &rb));
        quant_expected(vts[v], x, a, nn);
        for (int isa = LO_ISA_SCALAR; isa <= (int)lo_isa_best(); isa++) {
            CHECK(lo_isa_set((lo_isa)isa));
            memset(b, 0xAB, rb);
            lo_quantize_act(vts[v], x, b, nn);
            CHECK_MSG(memcmp(a, b, rb) == 0, "activation quantiser %s differs on isa %s",
                      lo_dtype_get(vts[v])->name, lo_isa_name((lo_isa)isa));
        }
    }
    lo_isa_set(lo_isa_best());
    free(x), free(a), free(b);
}

/* Same bound as test_vecdot_simd.c: SIMD vs reference differ only in float summation
 * order, relative to Σ|w·x| of the dequantised operands. */
#define LO_TOL_MATMUL_REL 2e-6


static const uint32_t k_types[] = {
    LO_DTYPE_F32,  LO_DTYPE_F16,  LO_DTYPE_BF16, LO_DTYPE_Q4_0, LO_DTYPE_Q4_1,
    LO_DTYPE_Q5_0, LO_DTYPE_Q5_1, LO_DTYPE_Q8_0, LO_DTYPE_Q2_K, LO_DTYPE_Q3_K,
    LO_DTYPE_Q4_K, LO_DTYPE_Q5_K, LO_DTYPE_Q6_K,
};

/* Raw weight blocks (every bit pattern: q8_0 -128, all scale/min codes, high bits) with
 * finite large f16 scales, against the reference on every ISA: overflow in the tiles.
 * 37 rows: two 16-row panels (one token: mv16_q4_0) plus 5 rows for the single-row and
 * 4-row one-token kernels (mv4_q4_K/_q6_K: one group of 4 per thread and leftovers);
 * 1 token and 11 (the panels/tiles). */
static void test_raw_blocks(lo_pool *pool) {
    static const struct { uint32_t t; size_t h0, h1; } k_raw[] = {
        {LO_DTYPE_Q4_0, offsetof(block_q4_0, d), SIZE_MAX}, {LO_DTYPE_Q4_1, offsetof(block_q4_1, d), offsetof(block_q4_1, m)},
        {LO_DTYPE_Q5_0, offsetof(block_q5_0, d), SIZE_MAX}, {LO_DTYPE_Q5_1, offsetof(block_q5_1, d), offsetof(block_q5_1, m)},
        {LO_DTYPE_Q8_0, offsetof(block_q8_0, d), SIZE_MAX}, {LO_DTYPE_Q2_K, offsetof(block_q2_K, d), offsetof(block_q2_K, dmin)},
        {LO_DTYPE_Q3_K, offsetof(block_q3_K, d), SIZE_MAX}, {LO_DTYPE_Q4_K, offsetof(block_q4_K, d), offsetof(block_q4_K, dmin)},
        {LO_DTYPE_Q5_K, offsetof(block_q5_K, d), offsetof(block_q5_K, dmin)}, {LO_DTYPE_Q6_K, offsetof(block_q6_K, d), SIZE_MAX},
    };
    const int64_t k = 512, m = 37, nt = 11;
    float *x = malloc(sizeof(float) * (size_t)(k * nt)), *out = malloc(sizeof(float) * (size_t)(m * nt));
    float *wd = malloc(sizeof(float) * (size_t)k), *yd = malloc(sizeof(float) * (size_t)k);
    uint8_t *w = malloc((size_t)(m * k * 2)), *yq = malloc((size_t)(nt * k * 2)), *scratch = NULL;
    for (int64_t i = 0; i < k * nt; i++) x[i] = (i % 5 == 0) ? 100.0f : 50.0f * frand(); /* many ±127 */
    for (size_t ti = 0; ti < sizeof k_raw / sizeof k_raw[0]; ti++) {
        uint32_t t = k_raw[ti].t, vt = lo_vec_dot_type(t);
        size_t rb = 0, yrb = 0, bb = lo_dtype_get(t)->block_bytes;
        CHECK(lo_dtype_row_bytes(t, k, &rb) && lo_dtype_row_bytes(vt, k, &yrb));
        for (size_t b = 0; b < rb * (size_t)m; b++) w[b] = (uint8_t)(frand() * 1000.0f);
        memset(w, t == LO_DTYPE_Q8_0 ? 0x80 : 0xFF, rb); /* row 0 at the limits */
        for (size_t b = 0; b < rb * (size_t)m; b += bb) {
            size_t hs[2] = {k_raw[ti].h0, k_raw[ti].h1};
            for (int j = 0; j < 2; j++) {
                if (hs[j] == SIZE_MAX) continue;
                uint16_t h = lo_f32_to_f16((frand() < 0 ? -1.0f : 1.0f) * (256.0f + 1024.0f * fabsf(frand())));
                memcpy(w + b + hs[j], &h, 2);
            }
        }
        lo_matrix mat = {.type = t, .ne0 = k, .ne1 = m, .row_bytes = rb, .data = w};
        scratch = realloc(scratch, lo_matmul_scratch_bytes(&mat, nt));
        for (int64_t tk = 0; tk < nt; tk++) quant_expected(vt, x + tk * k, yq + (size_t)tk * yrb, k);
        for (int isa = LO_ISA_SCALAR; isa <= (int)lo_isa_best(); isa++) {
            for (int64_t ntok = 1; ntok <= nt; ntok += nt - 1) { /* one token, then a tile/panel batch */
                CHECK(lo_isa_set((lo_isa)isa));
                for (int64_t i = 0; i < m * ntok; i++) out[i] = NAN;
                lo_matmul(pool, &mat, x, ntok, out, scratch);
                for (int64_t tk = 0; tk < ntok; tk++) {
                    lo_dequantize_row(vt, yq + (size_t)tk * yrb, yd, k);
                    for (int64_t r = 0; r < m; r++) {
                        const void *wr = w + (size_t)r * rb;
                        float ref = lo_vec_dot_ref(t, k, wr, yq + (size_t)tk * yrb);
                        lo_dequantize_row(t, wr, wd, k);
                        double mag = 0;
                        for (int64_t i = 0; i < k; i++) mag += fabs((double)wd[i] * yd[i]);
                        double rel = fabs((double)out[tk * m + r] - ref) / (mag + 1e-30);
                        CHECK_MSG(rel <= LO_TOL_MATMUL_REL, "raw %s isa=%s tokens %lld row %lld token %lld: %.9g vs %.9g",
                                  lo_dtype_get(t)->name, lo_isa_name((lo_isa)isa), (long long)ntok, (long long)r,
                                  (long long)tk, out[tk * m + r], ref);
                    }
                }
            }
        }
    }
    lo_isa_set(lo_isa_best());
    free(x), free(out), free(wd), free(yd), free(w), free(yq), free(scratch);
}

/* BF16 takes llama.cpp's path per shape, bit for bit, on every ISA and thread count:
 * ≥ 2 tokens with k % 32 == 0 and m % 4 == 0 → the tinyBLAS sum, else (one token, or a
 * shape tinyBLAS declines) → the ggml_vec_dot_bf16 sum; activations rounded to bf16. */
static void test_bf16_paths(lo_pool *pool) {
    const int64_t ks[] = {768, 96, 80}, ms[] = {36, 37}, nts[] = {1, 2, 3, 9, 17};
    const int64_t kmax = 768, mmax = 37, ntmax = 17;
    uint16_t *w = malloc((size_t)(kmax * mmax) * 2), *xb = malloc((size_t)(kmax * ntmax) * 2);
    float *x = malloc(sizeof(float) * (size_t)(kmax * ntmax)), *out = malloc(sizeof(float) * (size_t)(mmax * ntmax));
    CHECK(w && xb && x && out);
    for (int64_t i = 0; i < kmax * mmax; i++) w[i] = lo_f32_to_bf16(frand());
    for (int64_t i = 0; i < kmax * ntmax; i++) x[i] = 2.0f * frand();
    int tile_seen = 0, vec_seen = 0, differ = 0;
    for (size_t ki = 0; ki < 3; ki++) {
        int64_t k = ks[ki];
        for (size_t mi = 0; mi < 2; mi++) {
            int64_t m = ms[mi];
            lo_matrix mat = {.type = LO_DTYPE_BF16, .ne0 = k, .ne1 = m, .row_bytes = (size_t)k * 2, .data = w};
            void *scratch = malloc(lo_matmul_scratch_bytes(&mat, ntmax));
            for (int64_t i = 0; i < k * ntmax; i++) xb[i] = lo_f32_to_bf16(x[i]);
            for (size_t ti = 0; ti < 5; ti++) {
                int64_t nt = nts[ti];
                bool tile = nt >= 2 && k % 32 == 0 && m % 4 == 0;
                tile ? tile_seen++ : vec_seen++;
                for (int isa = LO_ISA_SCALAR; isa <= (int)lo_isa_best(); isa++) {
                    CHECK(lo_isa_set((lo_isa)isa));
                    for (int64_t i = 0; i < m * nt; i++) out[i] = NAN;
                    lo_matmul(pool, &mat, x, nt, out, scratch);
                    int bad = 0;
                    for (int64_t t = 0; t < nt; t++) {
                        for (int64_t r = 0; r < m; r++) {
                            const uint16_t *wr = w + r * k, *xr = xb + t * k;
                            float vec = lo_vec_dot_bf16_ref(k, wr, xr);
                            float e = tile ? lo_vec_dot_bf16_tile_ref(k, wr, xr) : vec;
                            differ += e != vec;
                            if (memcmp(&out[t * m + r], &e, 4) != 0 && bad++ < 3)
                                fprintf(stderr, "bf16 k=%lld m=%lld tokens=%lld isa=%s out[%lld,%lld]=%a expect %a\n", (long long)k,
                                        (long long)m, (long long)nt, lo_isa_name((lo_isa)isa), (long long)t, (long long)r,
                                        (double)out[t * m + r], (double)e);
                        }
                    }
                    CHECK_INT_EQ(bad, 0);
                }
            }
            free(scratch);
        }
    }
    /* both paths exercised, and they really are different sums for these data */
    CHECK(tile_seen > 0 && vec_seen > 0 && differ > 0);
    lo_isa_set(lo_isa_best());
    free(w), free(xb), free(x), free(out);
}

int main(void) {
    /* legacy types: 672 = 21 blocks of 32, two groups of 8 plus a 5-block tail in the SIMD
     * loops; K-quants: 512 (two super-blocks); float types: 2085 = two 1024-element k
     * chunks of the float tiles plus a 37-element masked tail */
    const int64_t k_max = 2085, m = 37, max_tok = 17;
    int64_t k = k_max;
    const size_t pad = 64; /* rows are row_bytes apart, more than their size */
    lo_pool *pool1 = NULL, *pool2 = NULL;
    CHECK_OK(lo_pool_create(1, &pool1));
    CHECK_OK(lo_pool_create(2, &pool2));
    lo_pool *pools[3] = {NULL, pool1, pool2};

    float *wf = malloc(sizeof(float) * (size_t)(k_max * m));
    float *xf = malloc(sizeof(float) * (size_t)(k_max * max_tok));
    float *wd = malloc(sizeof(float) * (size_t)k_max), *xd = malloc(sizeof(float) * (size_t)k_max);
    float *out = malloc(sizeof(float) * (size_t)(m * max_tok));
    float *expect = malloc(sizeof(float) * (size_t)(m * max_tok));
    double *mag = malloc(sizeof(double) * (size_t)(m * max_tok));
    uint8_t *wq = malloc((size_t)m * ((size_t)k_max * 4 + pad));
    uint8_t *xq = malloc((size_t)max_tok * (size_t)k_max * 4);
    CHECK(wf && xf && wd && xd && out && expect && mag && wq && xq);
    for (int64_t i = 0; i < k_max * m; i++) wf[i] = frand();
    for (int64_t i = 0; i < k_max * max_tok; i++) xf[i] = 3.0f * frand();

    test_quantize_act();
    test_raw_blocks(pool2);
    test_bf16_paths(NULL);
    test_bf16_paths(pool2);

    lo_isa best = lo_isa_best();
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        uint32_t t = k_types[ti], vt = lo_vec_dot_type(t);
        k = lo_dtype_get(t)->block_elems == 256 ? 512 : lo_dtype_get(t)->block_elems == 32 ? 672 : k_max;
        size_t rb = 0, xrb = 0;
        CHECK(lo_dtype_row_bytes(t, k, &rb));
        CHECK(lo_dtype_row_bytes(vt, k, &xrb));
        size_t stride = rb + pad;
        for (int64_t r = 0; r < m; r++) lo_quantize_row(t, wf + r * k, wq + (size_t)r * stride, k);
        lo_matrix w = {.type = t, .ne0 = k, .ne1 = m, .row_bytes = stride, .data = wq};

        /* expected: activations through the reference quantiser, then the reference dot */
        for (int64_t tk = 0; tk < max_tok; tk++) quant_expected(vt, xf + tk * k, xq + (size_t)tk * xrb, k);
        for (int64_t tk = 0; tk < max_tok; tk++) {
            lo_dequantize_row(vt, xq + (size_t)tk * xrb, xd, k);
            for (int64_t r = 0; r < m; r++) {
                const void *wr = wq + (size_t)r * stride;
                expect[tk * m + r] = lo_vec_dot_ref(t, k, wr, xq + (size_t)tk * xrb);
                lo_dequantize_row(t, wr, wd, k);
                double s = 0;
                for (int64_t i = 0; i < k; i++) s += fabs((double)wd[i] * xd[i]);
                mag[tk * m + r] = s;
            }
        }

        int64_t toks[] = {1, 3, 17};
        double max_rel = 0;
        for (int isa = LO_ISA_SCALAR; isa <= (int)best; isa++) {
            CHECK(lo_isa_set((lo_isa)isa));
            for (size_t ni = 0; ni < 3; ni++) {
                int64_t nt = toks[ni];
                size_t sb = lo_matmul_scratch_bytes(&w, nt);
                CHECK(t == LO_DTYPE_F32 ? sb == 0 : sb >= (size_t)nt * xrb);
                void *scratch = sb ? malloc(sb) : NULL;
                for (int pi = 0; pi < 3; pi++) {
                    for (int64_t i = 0; i < m * nt; i++) out[i] = NAN;
                    lo_matmul(pools[pi], &w, xf, nt, out, scratch);
                    int bad = 0;
                    for (int64_t i = 0; i < m * nt; i++) {
                        double rel = fabs((double)out[i] - expect[i]) / (mag[i] + 1e-30);
                        if (rel > max_rel) max_rel = rel;
                        if (!(rel <= LO_TOL_MATMUL_REL)) {
                            if (bad++ < 3)
                                fprintf(stderr, "%s isa=%s tokens=%lld pool=%d out[%lld]=%.9g expect %.9g\n",
                                        lo_dtype_get(t)->name, lo_isa_name((lo_isa)isa), (long long)nt, pi,
                                        (long long)i, out[i], expect[i]);
                        }
                    }
                    CHECK_INT_EQ(bad, 0);
                }
                free(scratch);
            }
        }
        fprintf(stderr, "%-5s: max rel err %.3g\n", lo_dtype_get(t)->name, max_rel);
    }
    lo_isa_set(best);

    /* zero tokens / zero rows: nothing written, nothing read */
    {
        lo_matrix w = {.type = LO_DTYPE_Q8_0, .ne0 = k, .ne1 = 0, .row_bytes = 34 * (size_t)k / 32, .data = wq};
        lo_matmul(pool2, &w, xf, 3, out, xq);
        w.ne1 = m;
        lo_matmul(pool2, &w, xf, 0, out, xq);
        CHECK_INT_EQ(lo_matmul_scratch_bytes(&w, 0), 0);
    }

    free(wf), free(xf), free(wd), free(xd), free(out), free(expect), free(mag), free(wq), free(xq);
    lo_pool_free(pool1);
    lo_pool_free(pool2);
    return check_done();
}
