/* Kernel benchmark: for each weight type and ISA, a matvec (n_tokens = 1) over 4096×4096,
 * 4096→11008 and 11008→4096 weights — reported as GB/s of weight bytes read, against the
 * machine's DRAM bandwidth — and a 128-token matmul (GFLOP/s), with 1 and 2 threads;
 * median of several runs. Weights rotate through copies larger than L3 so matvec reads
 * come from DRAM. Usage: bench_kernels [--matvec] [--no-scalar] [type ...] (default: all
 * types, matvec and matmul, every ISA). */
#include "llmops/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROT_BYTES ((size_t)256 << 20) /* ≫ L3 (32 MiB here) */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

static const uint32_t k_types[] = {
    LO_DTYPE_Q8_0, LO_DTYPE_Q4_0, LO_DTYPE_Q4_K, LO_DTYPE_Q6_K, LO_DTYPE_F16,  LO_DTYPE_F32, LO_DTYPE_Q5_K,
    LO_DTYPE_Q5_0, LO_DTYPE_Q4_1, LO_DTYPE_Q5_1, LO_DTYPE_Q2_K, LO_DTYPE_Q3_K, LO_DTYPE_BF16,
};

int main(int argc, char **argv) {
    lo_pool *pools[2] = {NULL, NULL};
    if (lo_pool_create(1, &pools[0]) != LO_OK || lo_pool_create(2, &pools[1]) != LO_OK) {
        fprintf(stderr, "pool: %s\n", lo_error_message());
        return 1;
    }
    const int64_t shapes[3][2] = {{4096, 4096}, {4096, 11008}, {11008, 4096}}; /* k, m */
    const int64_t n_tok = 128;
    float *x = malloc(sizeof(float) * 11008 * (size_t)n_tok);
    float *out = malloc(sizeof(float) * 11008 * (size_t)n_tok);
    float *wf = malloc(sizeof(float) * 11008 * 64);
    for (size_t i = 0; i < 11008 * (size_t)n_tok; i++) x[i] = frand();
    for (size_t i = 0; i < 11008 * 64; i++) wf[i] = frand();
    bool only_matvec = false, no_scalar = false;
    int n_names = 0;
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--matvec")) only_matvec = true;
        else if (!strcmp(argv[a], "--no-scalar")) no_scalar = true;
        else n_names++;
    }
    lo_isa best = lo_isa_best();
    printf("best ISA %s; matvec: GB/s of weights read (DRAM ceiling ~40 GB/s); matmul: %lld tokens\n",
           lo_isa_name(best), (long long)n_tok);
    printf("%-5s %-11s %-6s %3s  %9s %7s  %9s %8s\n", "type", "k x m", "isa", "thr", "matvec_us", "GB/s",
           "matmul_ms", "GFLOP/s");

    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        uint32_t t = k_types[ti];
        if (n_names > 0) {
            bool want = false;
            for (int a = 1; a < argc; a++) want |= lo_dtype_from_name(argv[a]) == (int)t;
            if (!want) continue;
        }
        for (int si = 0; si < 3; si++) {
            int64_t k = shapes[si][0], m = shapes[si][1];
            size_t rb = 0;
            if (!lo_dtype_row_bytes(t, k, &rb)) continue;
            size_t wbytes = rb * (size_t)m;
            int n_copies = (int)((ROT_BYTES + wbytes - 1) / wbytes);
            if (n_copies < 2) n_copies = 2;
            uint8_t *w = malloc(wbytes * (size_t)n_copies);
            if (!w) return 1;
            /* 64 distinct quantised rows, tiled (speed does not depend on the values) */
            for (int64_t r = 0; r < 64; r++) lo_quantize_row(t, wf + r * k, w + (size_t)r * rb, k);
            for (int64_t r = 64; r < m; r++) memcpy(w + (size_t)r * rb, w + (size_t)(r % 64) * rb, rb);
            for (int c = 1; c < n_copies; c++) memcpy(w + (size_t)c * wbytes, w, wbytes);
            lo_matrix mat = {.type = t, .ne0 = k, .ne1 = m, .row_bytes = rb, .data = w};
            void *scratch = malloc(lo_matmul_scratch_bytes(&mat, n_tok) + 1);

            for (int isa = no_scalar ? LO_ISA_AVX2 : LO_ISA_SCALAR; isa <= (int)best; isa++) {
                lo_isa_set((lo_isa)isa);
                for (int pi = 0; pi < 2; pi++) {
                    double tv[25], tm[5];
                    int nv = isa == LO_ISA_SCALAR ? 5 : 25;
                    for (int rep = 0; rep < nv + 2; rep++) {
                        mat.data = w + (size_t)(rep % n_copies) * wbytes;
                        double t0 = lo_time_sec();
                        lo_matmul(pools[pi], &mat, x, 1, out, scratch);
                        double dt = lo_time_sec() - t0;
                        if (rep >= 2) tv[rep - 2] = dt; /* first two warm up */
                    }
                    double mv = median(tv, nv);
                    double mm = 0;
                    int nm = 0;
                    /* the 128-token matmul: only on the first shape for scalar (slow) */
                    if (!only_matvec && (isa != LO_ISA_SCALAR || si == 0)) {
                        nm = isa == LO_ISA_SCALAR ? 1 : 5;
                        for (int rep = 0; rep < nm + 1; rep++) {
                            mat.data = w + (size_t)(rep % n_copies) * wbytes;
                            double t0 = lo_time_sec();
                            lo_matmul(pools[pi], &mat, x, n_tok, out, scratch);
                            double dt = lo_time_sec() - t0;
                            if (rep >= 1) tm[rep - 1] = dt;
                        }
                        mm = median(tm, nm);
                    }
                    char shape[32];
                    snprintf(shape, sizeof shape, "%lldx%lld", (long long)k, (long long)m);
                    printf("%-5s %-11s %-6s %3d  %9.1f %7.2f", lo_dtype_get(t)->name, shape, lo_isa_name((lo_isa)isa),
                           pi + 1, mv * 1e6, (double)wbytes / mv / 1e9);
                    if (nm)
                        printf("  %9.2f %8.1f\n", mm * 1e3, 2.0 * (double)k * (double)m * (double)n_tok / mm / 1e9);
                    else
                        printf("  %9s %8s\n", "-", "-");
                    fflush(stdout);
                }
            }
            lo_isa_set(best);
            free(scratch);
            free(w);
        }
    }
    free(x), free(out), free(wf);
    lo_pool_free(pools[0]);
    lo_pool_free(pools[1]);
    return 0;
}
