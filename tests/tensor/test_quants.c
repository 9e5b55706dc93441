/* Tests of the number formats: f16/bf16 conversions on edge values (and against F16C
 * when the build has it), quantise→dequantise error per type on Gaussian data, degenerate
 * rows, dequantisation of hand-built blocks, and the reference dot products against a
 * double-precision dot of the dequantised operands. */
#include "check.h"
#include "llmops/tensor.h"
#include "tensor/tensor_internal.h"

#include <math.h>
#ifdef __F16C__
#include <immintrin.h>
#endif

/* ---- deterministic random numbers -------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_u64(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static double rng_unit(void) { return ((rng_u64() >> 11) + 0.5) * 0x1p-53; } /* (0, 1) */
static float rng_gauss(void) { return (float)(sqrt(-2.0 * log(rng_unit())) * cos(6.283185307179586 * rng_unit())); }

static float bits_f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* ---- half precision ---------------------------------------------------------------- */

static void test_f16(void) {
    static const struct { float f; uint16_t h; } cases[] = {
        {0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3C00}, {-2.0f, 0xC000}, {0.5f, 0x3800},
        {65504.0f, 0x7BFF}, {65519.99f, 0x7BFF}, {65520.0f, 0x7C00}, {-65520.0f, 0xFC00}, {1e10f, 0x7C00},
        {INFINITY, 0x7C00}, {-INFINITY, 0xFC00}, {0x1p-14f, 0x0400}, /* smallest normal */
        {0x1p-24f, 0x0001}, {-0x1p-24f, 0x8001},                     /* smallest subnormal */
        {0x1p-25f, 0x0000},                                          /* tie with 0: to even */
        {0x1.000002p-25f, 0x0001},                                   /* just above the tie */
        {0x3p-25f, 0x0002},                                          /* 1.5 ulp: tie to even 2 */
        {0x5p-25f, 0x0002},                                          /* 2.5 ulp: tie to even 2 */
        {0x3FFp-24f, 0x03FF},                                        /* largest subnormal */
        {0x7FFp-25f, 0x0400},                                        /* rounds up into normals */
        {1.0f + 0x1p-11f, 0x3C00},                                   /* tie between 1 and 1+ulp: even */
        {1.0f + 0x3p-11f, 0x3C02},                                   /* tie: up to even */
        {1.0f + 0x1p-11f + 0x1p-23f, 0x3C01},                      /* just above the tie */
        {0.1f, 0x2E66}, {-3.140625f, 0xC248}, {1e-9f, 0x0000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint16_t h = lo_f32_to_f16(cases[i].f);
        CHECK_MSG(h == cases[i].h, "f32_to_f16(%a) = %04x, want %04x", cases[i].f, h, cases[i].h);
    }
    CHECK(lo_f16_to_f32(0x3C00) == 1.0f);
    CHECK(lo_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(lo_f16_to_f32(0x03FF) == 0x3FFp-24f);
    CHECK(lo_f16_to_f32(0x7BFF) == 65504.0f);
    CHECK(lo_f16_to_f32(0xFC00) == -INFINITY);
    CHECK(f_bits(lo_f16_to_f32(0x8000)) == 0x80000000u);
    CHECK(isnan(lo_f16_to_f32(0x7E00)) && isnan(lo_f16_to_f32(0xFC01)));
    uint16_t hn = lo_f32_to_f16(NAN);
    CHECK((hn & 0x7C00) == 0x7C00 && (hn & 0x03FF) != 0);
    hn = lo_f32_to_f16(bits_f(0x7F800001)); /* signalling NaN with a payload below f16's */
    CHECK((hn & 0x7C00) == 0x7C00 && (hn & 0x03FF) != 0);

    /* Every non-NaN half survives the round trip. */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue;
        if (lo_f32_to_f16(lo_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK_INT_EQ(bad, 0);

#ifdef __F16C__
    /* Against the hardware (round to nearest even) on random bit patterns of every
     * exponent, and on every f16 midpoint ± 1 ulp of f32. */
    bad = 0;
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)rng_u64();
        float f = bits_f(u);
        if (isnan(f)) continue;
        uint16_t hw = (uint16_t)_cvtss_sh(f, 0);
        if (hw != lo_f32_to_f16(f)) bad++;
        if (lo_f16_to_f32(hw) != _cvtsh_ss(hw)) bad++;
    }
    for (uint32_t h = 0; h < 0x7C00; h++) {
        float mid = (lo_f16_to_f32((uint16_t)h) + lo_f16_to_f32((uint16_t)(h + 1))) * 0.5f;
        for (int d = -1; d <= 1; d++) {
            float f = bits_f(f_bits(mid) + (uint32_t)d);
            if ((uint16_t)_cvtss_sh(f, 0) != lo_f32_to_f16(f)) bad++;
        }
    }
    CHECK_INT_EQ(bad, 0);
#endif
}

static void test_bf16(void) {
    static const struct { uint32_t f; uint16_t h; } cases[] = {
        {0x00000000, 0x0000}, {0x80000000, 0x8000}, {0x3F800000, 0x3F80}, /* 1.0 */
        {0x3F808000, 0x3F80},                                             /* tie: stays even */
        {0x3F818000, 0x3F82},                                             /* tie: up to even */
        {0x3F808001, 0x3F81},                                             /* above the tie */
        {0x3F807FFF, 0x3F80},
        {0x7F800000, 0x7F80}, {0xFF800000, 0xFF80},                       /* ±inf */
        {0x7F7FFFFF, 0x7F80},                                             /* max float rounds to inf */
        {0x00000001, 0x0000}, {0x00018000, 0x0002}, {0x00008000, 0x0000}, /* subnormals round, not flushed */
        {0x7FC00000, 0x7FC0}, {0x7F800001, 0x7FC0}, {0xFF812345, 0xFFC1}, /* NaN: kept, made quiet */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint16_t h = lo_f32_to_bf16(bits_f(cases[i].f));
        CHECK_MSG(h == cases[i].h, "f32_to_bf16(%08x) = %04x, want %04x", cases[i].f, h, cases[i].h);
    }
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if (f_bits(lo_bf16_to_f32((uint16_t)h)) != h << 16) bad++;
        if (!isnan(lo_bf16_to_f32((uint16_t)h)) && lo_f32_to_bf16(lo_bf16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK_INT_EQ(bad, 0);
}

/* ---- quantisation error ------------------------------------------------------------ */

static const uint32_t quant_types[] = {LO_DTYPE_Q8_0, LO_DTYPE_Q8_1, LO_DTYPE_Q8_K, LO_DTYPE_Q6_K,
                                       LO_DTYPE_Q5_0, LO_DTYPE_Q5_1, LO_DTYPE_Q5_K, LO_DTYPE_Q4_0,
                                       LO_DTYPE_Q4_1, LO_DTYPE_Q4_K, LO_DTYPE_Q3_K, LO_DTYPE_Q2_K,
                                       LO_DTYPE_F16,  LO_DTYPE_BF16, LO_DTYPE_F32};

/* Relative RMSE bounds on N(0,1) data, about 1.3× what the formats give. */
static double rmse_bound(uint32_t t) {
    switch (t) {
    case LO_DTYPE_F32: return 1e-9;
    case LO_DTYPE_F16: return 3.5e-4;
    case LO_DTYPE_BF16: return 2.8e-3;
    case LO_DTYPE_Q8_0: case LO_DTYPE_Q8_1: return 0.01;
    case LO_DTYPE_Q8_K: return 0.009; /* one scale per 256 */
    case LO_DTYPE_Q6_K: return 0.02;
    case LO_DTYPE_Q5_0: case LO_DTYPE_Q5_1: case LO_DTYPE_Q5_K: return 0.045;
    case LO_DTYPE_Q4_0: case LO_DTYPE_Q4_1: case LO_DTYPE_Q4_K: return 0.12;
    case LO_DTYPE_Q3_K: return 0.2;
    case LO_DTYPE_Q2_K: return 0.35;
    default: return 0;
    }
}

static size_t row_bytes(uint32_t t, int64_t n) {
    size_t b = 0;
    LO_ASSERT(lo_dtype_row_bytes(t, n, &b));
    return b;
}

static double rel_rmse(uint32_t t, const float *x, int64_t n, void *q, float *out) {
    lo_quantize_row(t, x, q, n);
    lo_dequantize_row(t, q, out, n);
    double e2 = 0, r2 = 0;
    for (int64_t i = 0; i < n; i++) {
        e2 += ((double)out[i] - x[i]) * ((double)out[i] - x[i]);
        r2 += (double)x[i] * x[i];
    }
    return sqrt(e2 / r2);
}

static void test_rmse(void) {
    enum { N = 256 * 64 };
    float *x = malloc(N * sizeof(float)), *out = malloc(N * sizeof(float));
    void *q = malloc(N * 4);
    for (int i = 0; i < N; i++) x[i] = rng_gauss();
    double r[LO_DTYPE_COUNT] = {0};
    for (size_t k = 0; k < sizeof quant_types / sizeof *quant_types; k++) {
        uint32_t t = quant_types[k];
        CHECK(lo_dtype_has_kernels(t));
        r[t] = rel_rmse(t, x, N, q, out);
        fprintf(stderr, "  %-5s relative RMSE %.5f (bound %.5f)\n", lo_dtype_get(t)->name, r[t], rmse_bound(t));
        CHECK_MSG(r[t] < rmse_bound(t), "%s: %g", lo_dtype_get(t)->name, r[t]);
    }
    /* More bits, less error. */
    CHECK(r[LO_DTYPE_Q8_0] < r[LO_DTYPE_Q6_K]);
    CHECK(r[LO_DTYPE_Q6_K] < r[LO_DTYPE_Q5_K] && r[LO_DTYPE_Q6_K] < r[LO_DTYPE_Q5_0]);
    CHECK(r[LO_DTYPE_Q5_K] < r[LO_DTYPE_Q4_K] && r[LO_DTYPE_Q5_0] < r[LO_DTYPE_Q4_0] && r[LO_DTYPE_Q5_1] < r[LO_DTYPE_Q4_1]);
    CHECK(r[LO_DTYPE_Q4_K] < r[LO_DTYPE_Q3_K] && r[LO_DTYPE_Q4_0] < r[LO_DTYPE_Q3_K]);
    CHECK(r[LO_DTYPE_Q3_K] < r[LO_DTYPE_Q2_K]);
    CHECK(!lo_dtype_has_kernels(LO_DTYPE_IQ2_XXS) && !lo_dtype_has_kernels(LO_DTYPE_COUNT) && !lo_dtype_has_kernels(4));

    /* Degenerate rows: all zero gives exact zeros; one huge value among small ones and a
     * constant row give finite output, the huge value kept to within its type's step. */
    for (size_t k = 0; k < sizeof quant_types / sizeof *quant_types; k++) {
        uint32_t t = quant_types[k];
        int64_t n = 512;
        memset(x, 0, n * sizeof(float));
        lo_quantize_row(t, x, q, n);
        lo_dequantize_row(t, q, out, n);
        int nonzero = 0;
        for (int64_t i = 0; i < n; i++) nonzero += out[i] != 0.0f;
        CHECK_MSG(nonzero == 0, "%s: zero row gives %d non-zeros", lo_dtype_get(t)->name, nonzero);

        for (int64_t i = 0; i < n; i++) x[i] = 0.01f * rng_gauss();
        x[37] = 1e4f;
        x[300] = -3e4f;
        lo_quantize_row(t, x, q, n);
        lo_dequantize_row(t, q, out, n);
        int nonfinite = 0;
        for (int64_t i = 0; i < n; i++) nonfinite += !isfinite(out[i]);
        CHECK_MSG(nonfinite == 0, "%s: huge values give %d non-finite outputs", lo_dtype_get(t)->name, nonfinite);
        CHECK_MSG(fabsf(out[37] - 1e4f) < 0.1f * 1e4f, "%s: 1e4 -> %g", lo_dtype_get(t)->name, out[37]);
        CHECK_MSG(fabsf(out[300] + 3e4f) < 0.1f * 3e4f, "%s: -3e4 -> %g", lo_dtype_get(t)->name, out[300]);

        for (int64_t i = 0; i < n; i++) x[i] = -2.5f;
        lo_quantize_row(t, x, q, n);
        lo_dequantize_row(t, q, out, n);
        int off = 0;
        for (int64_t i = 0; i < n; i++) off += !(fabsf(out[i] + 2.5f) < 0.1f);
        CHECK_MSG(off == 0, "%s: constant row off at %d places (out[0] = %g)", lo_dtype_get(t)->name, off, out[0]);
    }
    free(x);
    free(out);
    free(q);
}

/* ---- hand-built blocks ------------------------------------------------------------- */

static void test_hand_blocks(void) {
    float out[QK_K];

    block_q4_0 b40;
    b40.d = 0x3800; /* 0.5 */
    for (int j = 0; j < 16; j++) b40.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    lo_dequantize_row(LO_DTYPE_Q4_0, &b40, out, 32);
    int bad = 0;
    for (int j = 0; j < 16; j++) {
        bad += out[j] != (j - 8) * 0.5f;
        bad += out[j + 16] != (7 - j) * 0.5f;
    }
    CHECK_INT_EQ(bad, 0);

    block_q8_0 b80;
    b80.d = 0x3400; /* 0.25 */
    for (int j = 0; j < 32; j++) b80.qs[j] = (int8_t)(j * 8 - 128);
    lo_dequantize_row(LO_DTYPE_Q8_0, &b80, out, 32);
    bad = 0;
    for (int j = 0; j < 32; j++) bad += out[j] != (j * 8 - 128) * 0.25f;
    CHECK_INT_EQ(bad, 0);

    /* Q4_K: 8 six-bit scales and mins, packed as documented in ggml-common.h: j < 4 in
     * the low 6 bits of bytes j / j+4; j ≥ 4 as nibbles of byte j+4 plus the top 2 bits
     * of bytes j-4 / j. */
    static const uint8_t sc[8] = {1, 2, 3, 4, 17, 33, 50, 63}, mn[8] = {0, 5, 10, 63, 20, 31, 47, 62};
    block_q4_K b4k;
    memset(&b4k, 0, sizeof b4k);
    b4k.d = 0x3C00;    /* 1.0 */
    b4k.dmin = 0x3800; /* 0.5 */
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            b4k.scales[j] |= sc[j];
            b4k.scales[j + 4] |= mn[j];
        } else {
            b4k.scales[j + 4] = (uint8_t)((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
            b4k.scales[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            b4k.scales[j] |= (uint8_t)((mn[j] >> 4) << 6);
        }
    }
    for (int k = 0; k < 4; k++)
        for (int l = 0; l < 32; l++) b4k.qs[32 * k + l] = (uint8_t)((l & 0xF) | (((l + 3) & 0xF) << 4));
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        get_scale_min_k4(j, b4k.scales, &s, &m);
        CHECK(s == sc[j] && m == mn[j]);
    }
    lo_dequantize_row(LO_DTYPE_Q4_K, &b4k, out, QK_K);
    bad = 0;
    for (int k = 0; k < 4; k++)
        for (int l = 0; l < 32; l++) {
            bad += out[64 * k + l] != sc[2 * k] * (float)(l & 15) - 0.5f * mn[2 * k];
            bad += out[64 * k + 32 + l] != sc[2 * k + 1] * (float)((l + 3) & 15) - 0.5f * mn[2 * k + 1];
        }
    CHECK_INT_EQ(bad, 0);

    /* Q6_K: level v(e) = 7e mod 64 at element e; elements 128h + 32c + l keep their low
     * nibble in ql[64h + 32(c&1) + l] (high nibble when c ≥ 2) and their top 2 bits in
     * qh[32h + l] at bit 2c. */
    block_q6_K b6k;
    memset(&b6k, 0, sizeof b6k);
    b6k.d = 0x3000; /* 0.125 */
    for (int i = 0; i < 16; i++) b6k.scales[i] = (int8_t)(i - 8);
    for (int e = 0; e < QK_K; e++) {
        int v = (7 * e) % 64, h = e / 128, c = (e % 128) / 32, l = e % 32;
        b6k.ql[64 * h + 32 * (c & 1) + l] |= (uint8_t)((v & 0xF) << (c >= 2 ? 4 : 0));
        b6k.qh[32 * h + l] |= (uint8_t)((v >> 4) << (2 * c));
    }
    lo_dequantize_row(LO_DTYPE_Q6_K, &b6k, out, QK_K);
    bad = 0;
    for (int e = 0; e < QK_K; e++) bad += out[e] != 0.125f * (e / 16 - 8) * ((7 * e) % 64 - 32);
    CHECK_INT_EQ(bad, 0);
}

/* ---- dot products ------------------------------------------------------------------ */

static void test_vec_dot(void) {
    static const uint32_t weight_types[] = {LO_DTYPE_F32,  LO_DTYPE_F16,  LO_DTYPE_BF16, LO_DTYPE_Q4_0, LO_DTYPE_Q4_1,
                                            LO_DTYPE_Q5_0, LO_DTYPE_Q5_1, LO_DTYPE_Q8_0, LO_DTYPE_Q2_K, LO_DTYPE_Q3_K,
                                            LO_DTYPE_Q4_K, LO_DTYPE_Q5_K, LO_DTYPE_Q6_K};
    enum { N = 1024 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    float *xd = malloc(N * sizeof(float)), *yd = malloc(N * sizeof(float));
    void *xq = malloc(N * 4), *yq = malloc(N * 4);
    for (size_t k = 0; k < sizeof weight_types / sizeof *weight_types; k++) {
        uint32_t wt = weight_types[k], yt = lo_vec_dot_type(wt);
        for (int trial = 0; trial < 8; trial++) {
            for (int i = 0; i < N; i++) {
                x[i] = rng_gauss() + (trial & 1 ? 0.5f : 0.0f); /* odd trials: offset, exercises mins */
                y[i] = rng_gauss() * (1.0f + trial);
            }
            lo_quantize_row(wt, x, xq, N);
            lo_quantize_row(yt, y, yq, N);
            lo_dequantize_row(wt, xq, xd, N);
            lo_dequantize_row(yt, yq, yd, N);
            double exact = 0, deq = 0, mag = 0, nx = 0, ny = 0;
            for (int i = 0; i < N; i++) {
                exact += (double)xd[i] * y[i];
                deq += (double)xd[i] * yd[i];
                mag += fabs((double)xd[i] * yd[i]);
                nx += (double)xd[i] * xd[i];
                ny += (double)y[i] * y[i];
            }
            float got = lo_vec_dot_ref(wt, N, xq, yq);
            /* Against the dequantised operands: only float rounding (and the f16 rounding
             * of Q8_1's s) separates them. */
            double tol_deq = 2e-3 * mag + 1e-6;
            CHECK_MSG(fabs(got - deq) <= tol_deq, "%s: vec_dot %g vs dequantised %g", lo_dtype_get(wt)->name, got, deq);
            /* Against the unquantised activations: the activation format's error. */
            double eps = yt == LO_DTYPE_F32 ? 1e-6 : yt == LO_DTYPE_F16 ? 1e-3 : yt == LO_DTYPE_BF16 ? 8e-3 : 0.012;
            double tol = eps * sqrt(nx * ny);
            CHECK_MSG(fabs(got - exact) <= tol, "%s: vec_dot %g vs exact %g (tol %g)", lo_dtype_get(wt)->name, got, exact,
                      tol);
        }
    }
    CHECK_INT_EQ(lo_vec_dot_type(LO_DTYPE_Q4_0), LO_DTYPE_Q8_0);
    CHECK_INT_EQ(lo_vec_dot_type(LO_DTYPE_Q5_1), LO_DTYPE_Q8_1);
    CHECK_INT_EQ(lo_vec_dot_type(LO_DTYPE_Q3_K), LO_DTYPE_Q8_K);
    CHECK_INT_EQ(lo_vec_dot_type(LO_DTYPE_BF16), LO_DTYPE_BF16);
    free(x);
    free(y);
    free(xd);
    free(yd);
    free(xq);
    free(yq);
    (void)row_bytes;
}

/* Q8_1's s and Q8_K's bsums are what the dot products rely on. */
static void test_activation_sums(void) {
    float x[QK_K];
    for (int i = 0; i < QK_K; i++) x[i] = rng_gauss();
    block_q8_1 b1[QK_K / 32];
    lo_quantize_row(LO_DTYPE_Q8_1, x, b1, QK_K);
    int bad = 0;
    for (int b = 0; b < QK_K / 32; b++) {
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += b1[b].qs[j];
        /* s = d·Σq with the f32 d (before d itself is rounded to f16) */
        float want = sum * lo_f16_to_f32(b1[b].d);
        bad += !(fabsf(lo_f16_to_f32(b1[b].s) - want) <= 2e-3f * fabsf(want) + 1e-6f);
    }
    CHECK_INT_EQ(bad, 0);
    block_q8_K bk;
    lo_quantize_row(LO_DTYPE_Q8_K, x, &bk, QK_K);
    bad = 0;
    for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += bk.qs[16 * g + j];
        bad += bk.bsums[g] != sum;
    }
    CHECK_INT_EQ(bad, 0);
    int amax_q = 0;
    for (int i = 0; i < QK_K; i++) amax_q = abs(bk.qs[i]) > amax_q ? abs(bk.qs[i]) : amax_q;
    CHECK_INT_EQ(amax_q, 127);
}

/* The x86 activation variants differ from the references by at most one level. */
static void test_x86_activation_variants(void) {
    enum { N = 4096 };
    static float x[N];
    static block_q8_0 a0[N / 32], r0[N / 32];
    static block_q8_1 a1[N / 32], r1[N / 32];
    for (int i = 0; i < N; i++) x[i] = rng_gauss();
    x[5] = 0.5f * (x[0] > 0 ? 1 : -1); /* some exact ties */
    lo_quant_q8_0_x86(x, a0, N);
    lo_quantize_row(LO_DTYPE_Q8_0, x, r0, N);
    lo_quant_q8_1_x86(x, a1, N);
    lo_quantize_row(LO_DTYPE_Q8_1, x, r1, N);
    int far = 0, differ = 0;
    for (int b = 0; b < N / 32; b++) {
        far += a0[b].d != r0[b].d || a1[b].d != r1[b].d;
        for (int j = 0; j < 32; j++) {
            far += abs(a0[b].qs[j] - r0[b].qs[j]) > 1 || abs(a1[b].qs[j] - r1[b].qs[j]) > 1;
            differ += a0[b].qs[j] != r0[b].qs[j];
        }
    }
    CHECK_INT_EQ(far, 0);
    fprintf(stderr, "  q8_0 x86 vs ref: %d of %d levels differ\n", differ, N);
}

int main(void) {
    test_f16();
    test_bf16();
    test_rmse();
    test_hand_blocks();
    test_vec_dot();
    test_activation_sums();
    test_x86_activation_variants();
    return check_done();
}
