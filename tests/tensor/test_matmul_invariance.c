/* Batch invariance of lo_matmul / lo_matmul_split for every weight type, ISA and thread
 * count: a token's output row is memcmp-identical whatever else is in the product — the
 * multi-token path for 1..17 tokens at any position (tile tails, partial 8-token panels),
 * and the single tokens of a split product equal lo_matmul on that token alone. */
#include "check.h"
#include "llmops/tensor.h"
#include "tensor/tensor_internal.h"

#include <math.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static const uint32_t k_types[] = {
    LO_DTYPE_F32,  LO_DTYPE_F16,  LO_DTYPE_BF16, LO_DTYPE_Q4_0, LO_DTYPE_Q4_1,
    LO_DTYPE_Q5_0, LO_DTYPE_Q5_1, LO_DTYPE_Q8_0, LO_DTYPE_Q2_K, LO_DTYPE_Q3_K,
    LO_DTYPE_Q4_K, LO_DTYPE_Q5_K, LO_DTYPE_Q6_K,
};

enum { MAX_TOK = 17 };

/* One weight shape on the current ISA and pool: returns the number of mismatching rows. */
static int check_shape(lo_pool *pool, const lo_matrix *w, const float *xf, const char *what) {
    const int64_t m = w->ne1, k = w->ne0;
    size_t sb = lo_matmul_scratch_bytes(w, MAX_TOK);
    void *scratch = sb ? malloc(sb) : NULL;
    float *full = malloc(sizeof(float) * (size_t)(m * MAX_TOK));  /* batch path, all 17 */
    float *solo = malloc(sizeof(float) * (size_t)(m * MAX_TOK));  /* each token alone */
    float *out = malloc(sizeof(float) * (size_t)(m * MAX_TOK));
    CHECK(full && solo && out && (!sb || scratch));
    int bad = 0;
    lo_matmul(pool, w, xf, MAX_TOK, full, scratch);
    for (int64_t t = 0; t < MAX_TOK; t++) lo_matmul(pool, w, xf + t * k, 1, solo + t * m, scratch);

    /* the batch path: n tokens starting at token `off`, and one token forced through it */
    static const int64_t ns[] = {1, 2, 3, 7, 9, 17};
    static const int64_t offs[] = {0, 1, 5, 8};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof offs / sizeof offs[0]; b++) {
            int64_t n = ns[a], off = offs[b];
            if (off + n > MAX_TOK) continue;
            memset(out, 0xFF, sizeof(float) * (size_t)(m * n));
            lo_matmul_split(pool, w, xf + off * k, n, 0, out, scratch);
            for (int64_t t = 0; t < n; t++)
                if (memcmp(out + t * m, full + (off + t) * m, sizeof(float) * (size_t)m) != 0) {
                    if (bad++ < 3)
                        fprintf(stderr, "%s: batch path, token %lld of %lld at offset %lld differs from a 17-token product\n",
                                what, (long long)t, (long long)n, (long long)off);
                }
            /* lo_matmul with n ≥ 2 is the same path */
            if (n >= 2) {
                lo_matmul(pool, w, xf + off * k, n, out, scratch);
                for (int64_t t = 0; t < n; t++)
                    if (memcmp(out + t * m, full + (off + t) * m, sizeof(float) * (size_t)m) != 0 && bad++ < 3)
                        fprintf(stderr, "%s: lo_matmul n=%lld token %lld differs\n", what, (long long)n, (long long)t);
            }
        }

    /* split products: single tokens = each alone, the rest = the batch path */
    static const int64_t splits[][2] = {{1, 1}, {2, 2}, {3, 1}, {4, 3}, {9, 8}, {9, 1}, {17, 5}, {17, 17}, {6, 0}};
    for (size_t a = 0; a < sizeof splits / sizeof splits[0]; a++) {
        int64_t n = splits[a][0], n1 = splits[a][1];
        for (int64_t off = 0; off + n <= MAX_TOK; off += 7) {
            memset(out, 0xFF, sizeof(float) * (size_t)(m * n));
            lo_matmul_split(pool, w, xf + off * k, n, n1, out, scratch);
            for (int64_t t = 0; t < n; t++) {
                const float *want = t < n1 ? solo + (off + t) * m : full + (off + t) * m;
                if (memcmp(out + t * m, want, sizeof(float) * (size_t)m) != 0 && bad++ < 3)
                    fprintf(stderr, "%s: split n=%lld single=%lld offset %lld: token %lld differs from %s\n", what,
                            (long long)n, (long long)n1, (long long)off, (long long)t, t < n1 ? "alone" : "the batch path");
            }
        }
    }
    free(scratch), free(full), free(solo), free(out);
    return bad;
}

int main(void) {
    const int64_t k_max = 2085, max_rows = 40;
    const size_t pad = 64;
    lo_pool *pool1 = NULL, *pool2 = NULL;
    CHECK_OK(lo_pool_create(1, &pool1));
    CHECK_OK(lo_pool_create(2, &pool2));
    lo_pool *pools[3] = {NULL, pool1, pool2};
    float *wf = malloc(sizeof(float) * (size_t)(k_max * max_rows));
    float *xf = malloc(sizeof(float) * (size_t)(k_max * MAX_TOK));
    uint8_t *wq = malloc((size_t)max_rows * ((size_t)k_max * 4 + pad));
    CHECK(wf && xf && wq);
    for (int64_t i = 0; i < k_max * max_rows; i++) wf[i] = frand();
    for (int64_t i = 0; i < k_max * MAX_TOK; i++) xf[i] = 3.0f * frand();

    const lo_isa best = lo_isa_best();
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        const uint32_t t = k_types[ti];
        const int64_t be = lo_dtype_get(t)->block_elems;
        /* k: K-quants two super-blocks, legacy 21 blocks, floats two 1024 chunks + a tail
         * (BF16 a multiple of 32 so the tinyBLAS sum applies); rows: 37 (two 16-row panels,
         * 5 leftovers) and 40 (m % 4 == 0 for BF16's tiles) */
        const int64_t k = be == 256 ? 512 : be == 32 ? 672 : t == LO_DTYPE_BF16 ? 2080 : k_max;
        static const int64_t ms[] = {37, 40};
        size_t rb = 0;
        CHECK(lo_dtype_row_bytes(t, k, &rb));
        const size_t stride = rb + pad;
        for (int64_t r = 0; r < max_rows; r++) lo_quantize_row(t, wf + r * k, wq + (size_t)r * stride, k);
        int bad = 0;
        for (size_t mi = 0; mi < 2; mi++) {
            lo_matrix w = {.type = t, .ne0 = k, .ne1 = ms[mi], .row_bytes = stride, .data = wq};
            for (int isa = LO_ISA_SCALAR; isa <= (int)best; isa++) {
                CHECK(lo_isa_set((lo_isa)isa));
                for (int pi = 0; pi < 3; pi++) {
                    char what[96];
                    snprintf(what, sizeof what, "%s m=%lld isa=%s pool=%d", lo_dtype_get(t)->name, (long long)ms[mi],
                             lo_isa_name((lo_isa)isa), pi);
                    bad += check_shape(pools[pi], &w, xf, what);
                }
            }
        }
        lo_isa_set(best);
        fprintf(stderr, "%-5s: %d rows differ\n", lo_dtype_get(t)->name, bad);
        CHECK_INT_EQ(bad, 0);
    }
    free(wf), free(xf), free(wq);
    lo_pool_free(pool1);
    lo_pool_free(pool2);
    return check_done();
}
