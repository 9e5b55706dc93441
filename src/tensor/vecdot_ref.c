/* Scalar reference dot products, weight type × its vec_dot type, computed the way ggml's
 * generic (non-SIMD) kernels do: integer sums per block, then scaled and accumulated in
 * f32 (the float paths accumulate in double, as ggml_float). SIMD variants test
 * against these. Shapes: n elements (a multiple of the block size), x and y row-sized. */
#include "tensor/tensor_internal.h"

#include <math.h>
#include <string.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* ---- float formats ---------------------------------------------------------------- */

float lo_vec_dot_f32_ref(int64_t n, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    return (float)sum;
}

float lo_vec_dot_f16_ref(int64_t n, const void *vx, const void *vy) {
    const lo_half *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(lo_h2f(x[i]) * lo_h2f(y[i]));
    return (float)sum;
}

/* BF16 follows llama.cpp's x86 build with AVX512_BF16 (what the goldens were made with),
 * whose BF16 dot products are built from vdpbf16ps. One lane of vdpbf16ps on the pair
 * (x[2j], x[2j+1]) · (y[2j], y[2j+1]): acc += x[2j+1]·y[2j+1], then acc += x[2j]·y[2j]
 * (odd element first), each sum of the exact product rounded once to f32 (an FMA);
 * denormal inputs (bf16 and acc) read as zero and denormal sums are
 * flushed to signed zero. Measured on the AVX512_BF16 CPU this was written on: identical
 * bits to the instruction for 3.2M random lanes and the denormal cases of
 * tests/tensor/test_vecdot_simd.c. */
static inline float bf16_daz(uint16_t h) {
    return (h & 0x7F80u) ? lo_bf2f(h) : lo_bits_f32((uint32_t)(h & 0x8000u) << 16);
}
static inline float f32_ftz(float f) {
    uint32_t u = lo_f32_bits(f);
    return (u & 0x7F800000u) ? f : lo_bits_f32(u & 0x80000000u);
}
float lo_bf16_dp_lane(float acc, const uint16_t *x, const uint16_t *y) {
    acc = f32_ftz(fmaf(bf16_daz(x[1]), bf16_daz(y[1]), f32_ftz(acc)));
    return f32_ftz(fmaf(bf16_daz(x[0]), bf16_daz(y[0]), acc));
}

/* _mm512_reduce_add_ps as GCC expands it (ggml is built with GCC): lanes j + j+8, then
 * j + j+4, then (0+2) + (1+3). */
float lo_hsum16_ggml(const float v[16]) {
    float r[8], s[4];
    for (int j = 0; j < 8; j++) r[j] = v[j + 8] + v[j];
    for (int j = 0; j < 4; j++) s[j] = r[j + 4] + r[j];
    return (s[0] + s[2]) + (s[1] + s[3]);
}

/* ggml_vec_dot_bf16 (AVX512_BF16): two 16-lane accumulators, c1 over elements
 * [i, i+32) and c2 over [i+32, i+64) of every 64-element block, each reduced to f32
 * and added in double; the n % 64 tail as f32 products added in double. llama.cpp
 * takes this path for one-token matmuls (and whenever its sgemm declines). */
float lo_vec_dot_bf16_ref(int64_t n, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    float c1[16] = {0}, c2[16] = {0};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        for (int j = 0; j < 16; j++) {
            c1[j] = lo_bf16_dp_lane(c1[j], x + i + 2 * j, y + i + 2 * j);
            c2[j] = lo_bf16_dp_lane(c2[j], x + i + 32 + 2 * j, y + i + 32 + 2 * j);
        }
    }
    double sum = 0.0;
    sum += (double)lo_hsum16_ggml(c1);
    sum += (double)lo_hsum16_ggml(c2);
    for (; i < n; i++) sum += (double)(lo_bf2f(x[i]) * lo_bf2f(y[i]));
    return (float)sum;
}

/* One output of llama.cpp's tinyBLAS BF16 gemm (AVX512_BF16; n a multiple of 32):
 * a single 16-lane accumulator over every 32 elements, reduced to f32 at the end.
 * llama.cpp takes it for matmuls of ≥ 2 tokens whose weight has a multiple of 4 rows. */
float lo_vec_dot_bf16_tile_ref(int64_t n, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    float c[16] = {0};
    LO_ASSERT(n % 32 == 0);
    for (int64_t l = 0; l < n; l += 32)
        for (int j = 0; j < 16; j++) c[j] = lo_bf16_dp_lane(c[j], x + l + 2 * j, y + l + 2 * j);
    return lo_hsum16_ggml(c);
}

/* ---- blocks of 32 ----------------------------------------------------------------- */

float lo_vec_dot_q4_0_ref(int64_t n, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    for (int64_t ib = 0; ib < n / QK8_0; ib++) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < QK8_0 / 2; j++) {
            sumi0 += ((x[ib].qs[j] & 0x0F) - 8) * y[ib].qs[j];
            sumi1 += ((x[ib].qs[j] >> 4) - 8) * y[ib].qs[j + QK8_0 / 2];
        }
        int sumi = sumi0 + sumi1;
        sumf += sumi * lo_h2f(x[ib].d) * lo_h2f(y[ib].d);
    }
    return sumf;
}

float lo_vec_dot_q4_1_ref(int64_t n, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0;
    for (int64_t ib = 0; ib < n / QK8_1; ib++) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < QK8_1 / 2; j++) {
            sumi0 += (x[ib].qs[j] & 0x0F) * y[ib].qs[j];
            sumi1 += (x[ib].qs[j] >> 4) * y[ib].qs[j + QK8_1 / 2];
        }
        int sumi = sumi0 + sumi1;
        sumf += (lo_h2f(x[ib].d) * lo_h2f(y[ib].d)) * sumi + lo_h2f(x[ib].m) * lo_h2f(y[ib].s);
    }
    return sumf;
}

float lo_vec_dot_q5_0_ref(int64_t n, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    for (int64_t ib = 0; ib < n / QK8_0; ib++) {
        uint32_t qh;
        memcpy(&qh, x[ib].qh, sizeof qh);
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < QK8_0 / 2; j++) {
            int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            sumi0 += (((x[ib].qs[j] & 0x0F) | h0) - 16) * y[ib].qs[j];
            sumi1 += (((x[ib].qs[j] >> 4) | h1) - 16) * y[ib].qs[j + QK8_0 / 2];
        }
        int sumi = sumi0 + sumi1;
        sumf += (lo_h2f(x[ib].d) * lo_h2f(y[ib].d)) * sumi;
    }
    return sumf;
}

float lo_vec_dot_q5_1_ref(int64_t n, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0;
    for (int64_t ib = 0; ib < n / QK8_1; ib++) {
        uint32_t qh;
        memcpy(&qh, x[ib].qh, sizeof qh);
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < QK8_1 / 2; j++) {
            int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            sumi0 += ((x[ib].qs[j] & 0x0F) | h0) * y[ib].qs[j];
            sumi1 += ((x[ib].qs[j] >> 4) | h1) * y[ib].qs[j + QK8_1 / 2];
        }
        int sumi = sumi0 + sumi1;
        sumf += (lo_h2f(x[ib].d) * lo_h2f(y[ib].d)) * sumi + lo_h2f(x[ib].m) * lo_h2f(y[ib].s);
    }
    return sumf;
}

float lo_vec_dot_q8_0_ref(int64_t n, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    for (int64_t ib = 0; ib < n / QK8_0; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += x[ib].qs[j] * y[ib].qs[j];
        sumf += sumi * (lo_h2f(x[ib].d) * lo_h2f(y[ib].d));
    }
    return sumf;
}

/* ---- K-quants × Q8_K ----------------------------------------------------------------
 * Q3_K..Q6_K follow ggml's generic layout: expand the levels to int8 (aux8), multiply by
 * the activations in lanes of 8 (aux32[l] += scale · q8·a), scale per super-block into 8
 * float lanes, and add the lanes at the end. */

float lo_vec_dot_q2_K_ref(int64_t n, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q2 = x[i].qs, *sc = x[i].scales;
        const int8_t *q8 = y[i].qs;
        int summs = 0;
        for (int j = 0; j < 16; j++) summs += y[i].bsums[j] * (sc[j] >> 4);
        const float dall = y[i].d * lo_h2f(x[i].d);
        const float dmin = y[i].d * lo_h2f(x[i].dmin);
        int isum = 0, is = 0;
        for (int k = 0; k < QK_K / 128; k++, q2 += 32)
            for (int shift = 0; shift < 8; shift += 2, q8 += 32) {
                int d = sc[is++] & 0xF, isuml = 0;
                for (int l = 0; l < 16; l++) isuml += q8[l] * ((q2[l] >> shift) & 3);
                isum += d * isuml;
                d = sc[is++] & 0xF;
                isuml = 0;
                for (int l = 16; l < 32; l++) isuml += q8[l] * ((q2[l] >> shift) & 3);
                isum += d * isuml;
            }
        sumf += dall * isum - dmin * summs;
    }
    return sumf;
}

/* aux32[l] += scale · Σ over `groups` groups of 8 of q8·a, lane by lane. */
static inline void lanes_accumulate(int32_t aux32[8], int scale, const int8_t *q8, const int8_t *a, int groups) {
    for (int g = 0; g < groups; g++, q8 += 8, a += 8)
        for (int l = 0; l < 8; l++) aux32[l] += scale * (int16_t)(q8[l] * a[l]);
}

float lo_vec_dot_q3_K_ref(int64_t n, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    int8_t aux8[QK_K];
    int32_t aux32[8];
    float sums[8] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q3 = x[i].qs, *hm = x[i].hmask;
        int8_t *a = aux8;
        uint8_t m = 1;
        for (int j = 0; j < QK_K; j += 128, q3 += 32)
            for (int shift = 0; shift < 8; shift += 2, a += 32, m <<= 1)
                for (int l = 0; l < 32; l++) a[l] = (int8_t)(((q3[l] >> shift) & 3) - (hm[l] & m ? 0 : 4));
        const uint8_t *s = x[i].scales;
        memset(aux32, 0, sizeof aux32);
        for (int j = 0; j < QK_K / 16; j++) {
            int lo = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
            int sc = (lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
            lanes_accumulate(aux32, sc, y[i].qs + 16 * j, aux8 + 16 * j, 2);
        }
        const float d = lo_h2f(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * aux32[l];
    }
    float sumf = 0;
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

/* Shared tail of Q4_K/Q5_K: a = levels (0..31), mins via bsums. */
static void k4_block(const block_q8_K *y, const uint8_t *scales12, float xd, float xdmin, const int8_t *aux8,
                     float sums[8], float *sumf) {
    int32_t aux32[8] = {0};
    int sumi = 0;
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; j++) get_scale_min_k4(j, scales12, &sc[j], &mn[j]);
    for (int j = 0; j < QK_K / 16; j++) sumi += y->bsums[j] * mn[j / 2];
    for (int j = 0; j < QK_K / 32; j++) lanes_accumulate(aux32, sc[j], y->qs + 32 * j, aux8 + 32 * j, 4);
    const float d = xd * y->d;
    for (int l = 0; l < 8; l++) sums[l] += d * aux32[l];
    const float dmin = xdmin * y->d;
    *sumf -= dmin * sumi;
}

float lo_vec_dot_q4_K_ref(int64_t n, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    int8_t aux8[QK_K];
    float sums[8] = {0}, sumf = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q4 = x[i].qs;
        int8_t *a = aux8;
        for (int j = 0; j < QK_K / 64; j++, q4 += 32, a += 64)
            for (int l = 0; l < 32; l++) {
                a[l] = (int8_t)(q4[l] & 0xF);
                a[l + 32] = (int8_t)(q4[l] >> 4);
            }
        k4_block(&y[i], x[i].scales, lo_h2f(x[i].d), lo_h2f(x[i].dmin), aux8, sums, &sumf);
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

float lo_vec_dot_q5_K_ref(int64_t n, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    int8_t aux8[QK_K];
    float sums[8] = {0}, sumf = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q4 = x[i].qs, *hm = x[i].qh;
        int8_t *a = aux8;
        uint8_t m = 1;
        for (int j = 0; j < QK_K / 64; j++, q4 += 32, a += 64, m <<= 2)
            for (int l = 0; l < 32; l++) {
                a[l] = (int8_t)((q4[l] & 0xF) + (hm[l] & m ? 16 : 0));
                a[l + 32] = (int8_t)((q4[l] >> 4) + (hm[l] & (m << 1) ? 16 : 0));
            }
        k4_block(&y[i], x[i].scales, lo_h2f(x[i].d), lo_h2f(x[i].dmin), aux8, sums, &sumf);
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

float lo_vec_dot_q6_K_ref(int64_t n, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    int8_t aux8[QK_K];
    int32_t aux32[8];
    float sums[8] = {0};
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q4 = x[i].ql, *qh = x[i].qh;
        int8_t *a = aux8;
        for (int j = 0; j < QK_K; j += 128, a += 128, q4 += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                a[l] = (int8_t)(((q4[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                a[l + 32] = (int8_t)(((q4[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                a[l + 64] = (int8_t)(((q4[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                a[l + 96] = (int8_t)(((q4[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        memset(aux32, 0, sizeof aux32);
        for (int j = 0; j < QK_K / 16; j++) lanes_accumulate(aux32, x[i].scales[j], y[i].qs + 16 * j, aux8 + 16 * j, 2);
        const float d = lo_h2f(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * aux32[l];
    }
    float sumf = 0;
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

/* ---- dispatch --------------------------------------------------------------------- */

float lo_vec_dot_ref(uint32_t weight_type, int64_t n, const void *x, const void *y) {
    switch (weight_type) {
    case LO_DTYPE_F32: return lo_vec_dot_f32_ref(n, x, y);
    case LO_DTYPE_F16: return lo_vec_dot_f16_ref(n, x, y);
    case LO_DTYPE_BF16: return lo_vec_dot_bf16_ref(n, x, y);
    case LO_DTYPE_Q4_0: return lo_vec_dot_q4_0_ref(n, x, y);
    case LO_DTYPE_Q4_1: return lo_vec_dot_q4_1_ref(n, x, y);
    case LO_DTYPE_Q5_0: return lo_vec_dot_q5_0_ref(n, x, y);
    case LO_DTYPE_Q5_1: return lo_vec_dot_q5_1_ref(n, x, y);
    case LO_DTYPE_Q8_0: return lo_vec_dot_q8_0_ref(n, x, y);
    case LO_DTYPE_Q2_K: return lo_vec_dot_q2_K_ref(n, x, y);
    case LO_DTYPE_Q3_K: return lo_vec_dot_q3_K_ref(n, x, y);
    case LO_DTYPE_Q4_K: return lo_vec_dot_q4_K_ref(n, x, y);
    case LO_DTYPE_Q5_K: return lo_vec_dot_q5_K_ref(n, x, y);
    case LO_DTYPE_Q6_K: return lo_vec_dot_q6_K_ref(n, x, y);
    default: LO_ASSERT(!"lo_vec_dot_ref: type without a dot product"); return 0.0f;
    }
}
