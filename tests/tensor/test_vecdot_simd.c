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
    double tol = is_float_type(t) ? LO_TOL_VECDOT_FLOAT_REL : LO_TOL_VECDOT_QUANT_REL;
    if (rel > st->max_rel) st->max_rel = rel;
    st->n_cases++;
    CHECK_MSG(rel <= tol && isfinite(got), "%s %s n=%lld isa=%s: simd %.9g ref %.9g (rel %.3g > %.3g)",
              lo_dtype_get(t)->name, what, (long long)n, lo_isa_name(lo_isa_current()), got, ref, rel, tol);
}

int main(void) {
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
