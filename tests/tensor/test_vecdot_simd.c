/* Every SIMD dot-product kernel (each ISA this CPU has) against the scalar reference:
 * random data through the reference quantisers, several lengths, and raw blocks with
 * every bit pattern and large scales to catch int16 overflow in the maddubs paths. */
#include "check.h"
#include "llmops/tensor.h"
#include "tensor/tensor_internal.h"

#include <math.h>
#include <stddef.h>

/* Tolerances, relative to Σ|x_i·y_i| of the dequantised operands (+ a tiny absolute
 * floor). Quantised families: every block's integer sum is exact, so the SIMD and
 * reference results differ only in the order of n/32 (or n/16) float block terms and in
 * how d_x·d_y·sumi is associated — a few ulps per term, observed ≤ 1.1e-7, bound 2e-6.
 * Float families (F32/F16/BF16): n float products summed in a different order (the
 * reference may even sum in double): bounded by ~n·eps, typically √n·eps (observed ≤ 3e-8); 2e-6 covers
 * n = 11008 with margin for random-sign data. */
#define LO_TOL_VECDOT_QUANT_REL 2e-6
#define LO_TOL_VECDOT_FLOAT_REL 2e-6
/* BF16: every variant computes the same lane sums in the same order as the reference
 * (llama.cpp's AVX512_BF16 numerics, vecdot_ref.c), so it must match bit for bit. */
#define LO_TOL_VECDOT_BF16_REL 0.0
#define LO_TOL_VECDOT_ABS 1e-30

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float frand(void) { return (float)((rng() >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f; }

static const uint32_t k_types[] = {
    LO_DTYPE_F32,  LO_DTYPE_F16,  LO_DTYPE_BF16, LO_DTYPE_Q4_0, LO_DTYPE_Q4_1,
    LO_DTYPE_Q5_0, LO_DTYPE_Q5_1, LO_DTYPE_Q8_0, LO_DTYPE_Q2_K, LO_DTYPE_Q3_K,
    LO_DTYPE_Q4_K, LO_DTYPE_Q5_K, LO_DTYPE_Q6_K,
};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

static bool is_float_type(uint32_t t) { return t == LO_DTYPE_F32 || t == LO_DTYPE_F16 || t == LO_DTYPE_BF16; }

static size_t row_bytes(uint32_t t, int64_t n) {
    size_t b = 0;
    CHECK(lo_dtype_row_bytes(t, n, &b));
    return b;
}

/* Offsets of the f16 scale fields of each block type (they must stay finite when the
 * rest of a block is random bytes). */
static void fix_halves(uint32_t t, uint8_t *blk) {
    size_t offs[2] = {SIZE_MAX, SIZE_MAX};
    switch (t) {
    case LO_DTYPE_Q4_0: offs[0] = offsetof(block_q4_0, d); break;
    case LO_DTYPE_Q4_1: offs[0] = offsetof(block_q4_1, d); offs[1] = offsetof(block_q4_1, m); break;
    case LO_DTYPE_Q5_0: offs[0] = offsetof(block_q5_0, d); break;
    case LO_DTYPE_Q5_1: offs[0] = offsetof(block_q5_1, d); offs[1] = offsetof(block_q5_1, m); break;
    case LO_DTYPE_Q8_0: offs[0] = offsetof(block_q8_0, d); break;
    case LO_DTYPE_Q2_K: offs[0] = offsetof(block_q2_K, d); offs[1] = offsetof(block_q2_K, dmin); break;
    case LO_DTYPE_Q3_K: offs[0] = offsetof(block_q3_K, d); break;
    case LO_DTYPE_Q4_K: offs[0] = offsetof(block_q4_K, d); offs[1] = offsetof(block_q4_K, dmin); break;
    case LO_DTYPE_Q5_K: offs[0] = offsetof(block_q5_K, d); offs[1] = offsetof(block_q5_K, dmin); break;
    case LO_DTYPE_Q6_K: offs[0] = offsetof(block_q6_K, d); break;
    default: return;
    }
    for (int k = 0; k < 2; k++) {
        if (offs[k] == SIZE_MAX) continue;
        /* large scales: |d| in [256, 2048) with random sign */
        uint16_t h = lo_f32_to_f16((frand() < 0 ? -1.0f : 1.0f) * (256.0f + 1792.0f * (frand() * 0.5f + 0.5f)));
        memcpy(blk + offs[k], &h, 2);
    }
}

typedef struct {
    double max_rel;
    int n_cases;
} stats;

/* Compares lo_vec_dot (current ISA) with lo_vec_dot_ref for one (x, y) pair. */
static void compare(uint32_t t, int64_t n, const void *x, const void *y, float *xd, float *yd, stats *st,
                    const char *what) {
    uint32_t vt = lo_vec_dot_type(t);
    lo_dequantize_row(t, x, xd, n);
    lo_dequantize_row(vt, y, yd, n);
    double mag = 0;
    for (int64_t i = 0; i < n; i++) mag += fabs((double)xd[i] * (double)yd[i]);
    float ref = lo_vec_dot_ref(t, n, x, y);
    float got = lo_vec_dot(t, n, x, y);
    double rel = fabs((double)got - (double)ref) / (mag + LO_TOL_VECDOT_ABS);
    double tol = t == LO_DTYPE_BF16 ? LO_TOL_VECDOT_BF16_REL
                 : is_float_type(t)   ? LO_TOL_VECDOT_FLOAT_REL
                                      : LO_TOL_VECDOT_QUANT_REL;
    if (rel > st->max_rel) st->max_rel = rel;
    st->n_cases++;
    CHECK_MSG(rel <= tol && isfinite(got), "%s %s n=%lld isa=%s: simd %.9g ref %.9g (rel %.3g > %.3g)",
              lo_dtype_get(t)->name, what, (long long)n, lo_isa_name(lo_isa_current()), got, ref, rel, tol);
}

/* ---- BF16: llama.cpp's vdpbf16ps sums ------------------------------------------------ */

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Known answers for one vdpbf16ps lane (checked against the instruction on an
 * AVX512_BF16 CPU, and again below through the native variant when this CPU has it). */
static void test_bf16_lane(void) {
    /* odd element first: 1 + 2^-24 ties to 1, + 1.5·2^-24 → 1 + 2^-23; even first
     * would give 1 + 2^-22 */
    uint16_t x[2] = {0x33C0 /* 1.5·2^-24 */, 0x3380 /* 2^-24 */}, y[2] = {0x3F80, 0x3F80};
    CHECK_INT_EQ(f32_bits(lo_bf16_dp_lane(1.0f, x, y)), f32_bits(1.0f + 0x1p-23f));
    /* denormal sums are flushed: 0.75·2^-126 → 0, then + 2^-126 */
    uint16_t a[2] = {0x0080, 0x0080}, b[2] = {0x3F80, 0x3F40};
    CHECK_INT_EQ(f32_bits(lo_bf16_dp_lane(0.0f, a, b)), 0x00800000u);
    /* denormal bf16 inputs and accumulators read as zero */
    uint16_t d[2] = {0x0040, 0x0000}, one[2] = {0x3F80, 0x3F80};
    CHECK_INT_EQ(f32_bits(lo_bf16_dp_lane(0.0f, d, one)), 0u);
    CHECK_INT_EQ(f32_bits(lo_bf16_dp_lane(bits_f32(0x00400000u), d, one)), 0u);
    /* the reduction order: (v[j] + v[j+8]), then + v[j+4], then (0+2) + (1+3) */
    float v[16] = {0};
    v[0] = 1.0f, v[2] = 0x1p-24f, v[6] = 0x1p-24f; /* v[2] + v[6] first: exact 2^-23 */
    CHECK_INT_EQ(f32_bits(lo_hsum16_ggml(v)), f32_bits(1.0f + 0x1p-23f)); /* in lane order: 1 */
}

/* A bf16 with random sign and mantissa and a biased exponent in [lo, lo + span):
 * 112 + 24 = ordinary values, 0 + 12 = denormals and sums the lane must flush, 70 + 16 =
 * around 2^-50, where the emulations switch between plain FMAs and explicit flushing. */
static uint16_t rand_bf16(uint32_t lo, uint32_t span) {
    uint32_t e = lo + (uint32_t)(rng() % span);
    return (uint16_t)(((rng() & 1) << 15) | (e << 7) | (rng() & 0x7F));
}

static void test_bf16_variants(void) {
    static const char *names[] = {"avx2", "avx512", "avx512bf16"};
    const int64_t ns[] = {32, 37, 64, 96, 100, 256, 768, 4096};
    enum { MAXN = 4096, NT = 8 };
    uint16_t *x = malloc(MAXN * 2), *y = malloc((size_t)NT * MAXN * 2);
    CHECK(x && y);
    int tested = 0;
    for (int v = LO_BF16_AVX2; v <= LO_BF16_AVX512BF16; v++) {
        lo_bf16_dot_fn dot = lo_bf16_dot_get((lo_bf16_variant)v, false), tile = lo_bf16_dot_get((lo_bf16_variant)v, true);
        int max_nc = 0;
        lo_bf16_mm_fn mm = lo_bf16_mm_get((lo_bf16_variant)v, &max_nc);
        if (!dot) {
            fprintf(stderr, "bf16 %-10s: not on this CPU\n", names[v]);
            continue;
        }
        CHECK(tile != NULL);
        CHECK(v == LO_BF16_AVX2 ? mm == NULL : (mm != NULL && max_nc == NT));
        int cases = 0;
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            int64_t n = ns[ni];
            for (int rep = 0; rep < 8; rep++) {
                /* reps 4–5: denormals, flushing, exact zeros; 6–7: near 2^-50 */
                uint32_t lo = rep >= 6 ? 70 : rep >= 4 ? 0 : 112, span = rep >= 6 ? 16 : rep >= 4 ? 12 : 24;
                for (int64_t i = 0; i < n; i++) x[i] = rand_bf16(lo, span);
                for (int64_t i = 0; i < NT * n; i++) y[i] = (rep < 4 || (i & 1)) ? rand_bf16(lo, span) : rand_bf16(112, 24);
                if (rep == 3) for (int64_t i = 0; i < n; i += 2) x[i] = (uint16_t)(x[i + 1] ^ 0x8000); /* cancellation */
                float r = lo_vec_dot_bf16_ref(n, x, y), g = dot(n, x, y);
                CHECK_MSG(f32_bits(r) == f32_bits(g), "bf16 %s dot n=%lld rep %d: %a vs ref %a", names[v], (long long)n, rep,
                          (double)g, (double)r);
                cases++;
                if (n % 32) continue;
                float rt = lo_vec_dot_bf16_tile_ref(n, x, y), gt = tile(n, x, y);
                CHECK_MSG(f32_bits(rt) == f32_bits(gt), "bf16 %s tile n=%lld rep %d: %a vs ref %a", names[v], (long long)n,
                          rep, (double)gt, (double)rt);
                if (!mm) continue;
                for (int nc = 1; nc <= NT; nc++) {
                    float out[2 * NT];
                    for (int c = 0; c < 2 * NT; c++) out[c] = -1.0f;
                    mm(n, x, y, (size_t)n * 2, NULL, 0, nc, out, 2); /* ldo 2: odd slots untouched */
                    for (int c = 0; c < nc; c++) {
                        float e = lo_vec_dot_bf16_tile_ref(n, x, y + (size_t)c * (size_t)n);
                        CHECK_MSG(f32_bits(out[2 * c]) == f32_bits(e), "bf16 %s mm n=%lld nc=%d token %d: %a vs %a",
                                  names[v], (long long)n, nc, c, (double)out[2 * c], (double)e);
                        CHECK(out[2 * c + 1] == -1.0f);
                    }
                }
            }
        }
        tested++;
        fprintf(stderr, "bf16 %-10s: %d dot cases bit-exact with the reference (dot, tile%s)\n", names[v], cases,
                mm ? ", mm" : "");
    }
    if (lo_isa_best() == LO_ISA_AVX512) CHECK(tested >= 2);
    /* the f32 → bf16 conversion lo_matmul uses equals lo_f32_to_bf16 (ties, NaN, inf, denormals) */
    float f[40];
    for (int i = 0; i < 40; i++) f[i] = frand() * 1000.0f;
    f[0] = bits_f32(0x3F808000u), f[1] = bits_f32(0x3F818000u), f[2] = bits_f32(0x7F800001u), f[3] = bits_f32(0xFFC12345u);
    f[4] = bits_f32(0x7F7FFFFFu), f[5] = bits_f32(0x00012345u), f[6] = -0.0f, f[17] = bits_f32(0x80008000u);
    f[18] = bits_f32(0x7F800000u), f[19] = bits_f32(0x3F80FFFFu);
    uint16_t h[40];
    lo_bf16_from_f32(f, h, 40);
    for (int i = 0; i < 40; i++) CHECK_MSG(h[i] == lo_f32_to_bf16(f[i]), "bf16 conversion of %08x: %04x vs %04x", f32_bits(f[i]), h[i], lo_f32_to_bf16(f[i]));
    free(x), free(y);
}

int main(void) {
    test_bf16_lane();
    test_bf16_variants();
    const int64_t max_n = 11008;
    float *xf = malloc(sizeof(float) * max_n), *yf = malloc(sizeof(float) * max_n);
    float *xd = malloc(sizeof(float) * max_n), *yd = malloc(sizeof(float) * max_n);
    uint8_t *xq = malloc((size_t)max_n * 4 + 64), *yq = malloc((size_t)max_n * 4 + 64);
    CHECK(xf && yf && xd && yd && xq && yq);

    lo_isa best = lo_isa_best();
    fprintf(stderr, "best ISA: %s\n", lo_isa_name(best));
    CHECK(!lo_isa_set((lo_isa)(best + 1))); /* an ISA above the best is refused */

    for (int isa = LO_ISA_SCALAR; isa <= (int)best; isa++) {
        CHECK(lo_isa_set((lo_isa)isa));
        CHECK_INT_EQ(lo_isa_current(), isa);
        for (size_t ti = 0; ti < N_TYPES; ti++) {
            uint32_t t = k_types[ti], vt = lo_vec_dot_type(t);
            int64_t bs = lo_dtype_get(t)->block_elems;
            int64_t qb = bs < 32 ? 32 : bs; /* one "block" for the float types: 32 */
            int64_t ns[] = {qb, 3 * qb, 8 * qb, 4096, 11008, is_float_type(t) ? 37 : 5 * qb};
            stats st = {0, 0};
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                int64_t n = ns[ni];
                if (n % bs != 0 || n % lo_dtype_get(vt)->block_elems != 0) continue;
                for (int rep = 0; rep < 3; rep++) {
                    /* random data, scale varying by row */
                    float sx = 0.01f + 10.0f * (float)rep, sy = 1.0f + (float)rep;
                    for (int64_t i = 0; i < n; i++) xf[i] = sx * frand(), yf[i] = sy * frand();
                    lo_quantize_row(t, xf, xq, n);
                    lo_quantize_row(vt, yf, yq, n);
                    compare(t, n, xq, yq, xd, yd, &st, "random");
                }
                /* extremes: activations all at ±max, weights at their limits */
                for (int rep = 0; rep < 4; rep++) {
                    for (int64_t i = 0; i < n; i++) yf[i] = (rep & 1) ? ((i & 1) ? -100.0f : 100.0f) : 100.0f;
                    if (rep >= 2) for (int64_t i = 0; i < n; i++) yf[i] = -yf[i];
                    lo_quantize_row(vt, yf, yq, n);
                    if (is_float_type(t)) {
                        for (int64_t i = 0; i < n; i++) xf[i] = (rep & 2 ? -1 : 1) * 60000.0f * (i % 3 ? 1.0f : -1.0f);
                        lo_quantize_row(t, xf, xq, n);
                    } else {
                        /* raw blocks: every bit pattern of qs/scales/high bits, large d */
                        size_t rb = row_bytes(t, n), bb = lo_dtype_get(t)->block_bytes;
                        for (size_t b = 0; b < rb; b++) xq[b] = (uint8_t)rng();
                        if (rep == 1) memset(xq, 0xFF, rb);      /* all qs at their maximum */
                        if (rep == 2) memset(xq, 0x80, rb);      /* q8_0: all -128 */
                        for (size_t b = 0; b < rb; b += bb) fix_halves(t, xq + b);
                    }
                    compare(t, n, xq, yq, xd, yd, &st, "extreme");
                }
            }
            fprintf(stderr, "%-6s %-5s: %3d cases, max rel err %.3g\n", lo_isa_name((lo_isa)isa),
                    lo_dtype_get(t)->name, st.n_cases, st.max_rel);
        }
    }
    lo_isa_set(best);
    free(xf), free(yf), free(xd), free(yd), free(xq), free(yq);
    return check_done();
}
