/* tensor: AVX-512 (F, BW, VL, VNNI) dot-product kernels, compiled with a target pragma so
 * the library also builds without -march=native and picks them at run time from CPUID.
 * Integer block sums are exact; results differ from vecdot_ref.c only in float
 * summation order. Types without a kernel here fall back to the AVX2 one. */
#include "tensor/tensor_internal.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")

static inline float h2f(lo_half h) { return _cvtsh_ss(h); }

/* [a (32 B), b (32 B)] */
static inline __m512i load2x32(const void *a, const void *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* [s0 ×8, s1 ×8] */
static inline __m512 scale2(float s0, float s1) {
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(s0)),
                                               _mm256_castps_pd(_mm256_set1_ps(s1)), 1));
}

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- float types ----------------------------------------------------------------- */

static float dot_f32(int64_t n, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

static inline __m512 ld_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

static float dot_f16(int64_t n, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(ld_f16(x + i), ld_f16(y + i), a0);
        a1 = _mm512_fmadd_ps(ld_f16(x + i + 16), ld_f16(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(ld_f16(x + i + 32), ld_f16(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(ld_f16(x + i + 48), ld_f16(y + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(ld_f16(x + i), ld_f16(y + i), a0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 xv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i));
        __m512 yv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, y + i));
        a1 = _mm512_fmadd_ps(xv, yv, a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

static inline __m512 bf16_to_ps(__m256i v) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}
static inline __m512 ld_bf16(const uint16_t *p) { return bf16_to_ps(_mm256_loadu_si256((const __m256i *)p)); }

static float dot_bf16(int64_t n, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(ld_bf16(x + i), ld_bf16(y + i), a0);
        a1 = _mm512_fmadd_ps(ld_bf16(x + i + 16), ld_bf16(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(ld_bf16(x + i + 32), ld_bf16(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(ld_bf16(x + i + 48), ld_bf16(y + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(ld_bf16(x + i), ld_bf16(y + i), a0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 xv = bf16_to_ps(_mm256_maskz_loadu_epi16(m, x + i));
        __m512 yv = bf16_to_ps(_mm256_maskz_loadu_epi16(m, y + i));
        a1 = _mm512_fmadd_ps(xv, yv, a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* ---- legacy 32-element blocks: two blocks per 512-bit vector ----------------------- */

/* 16 bytes of nibbles of two blocks → [b0 lo, b0 hi, b1 lo, b1 hi] = elements 0..31 of
 * each block in order. */
static inline __m512i nibbles2(const uint8_t *q0, const uint8_t *q1) {
    __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)q0)),
                                        _mm_loadu_si128((const __m128i *)q1), 1);
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
    z = _mm512_and_si512(z, _mm512_set1_epi8(0x0F));
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}
static inline __m256i nibbles1(const uint8_t *q0) {
    __m128i q = _mm_loadu_si128((const __m128i *)q0);
    __m256i z = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
    return _mm256_and_si256(z, _mm256_set1_epi8(0x0F));
}

static inline uint32_t ld_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static float dot_q8_0(int64_t n, const void *vx, const void *vy) {
    const block_q8_0 *x = vx, *y = vy;
    const int64_t nb = n / QK8_0;
    __m512 acc = _mm512_setzero_ps();
    const __m512i z = _mm512_setzero_si512();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i X = load2x32(x[i].qs, x[i + 1].qs), Y = load2x32(y[i].qs, y[i + 1].qs);
        /* |x| · (y with x's sign): u8 × s8 as vpdpbusd wants (x = -128 gives |x| = 128) */
        __m512i sy = _mm512_mask_sub_epi8(Y, _mm512_movepi8_mask(X), z, Y);
        __m512i s = _mm512_dpbusd_epi32(z, _mm512_abs_epi8(X), sy);
        __m512 d = scale2(h2f(x[i].d) * h2f(y[i].d), h2f(x[i + 1].d) * h2f(y[i + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d, acc);
    }
    __m256 acc1 = _mm256_setzero_ps();
    for (; i < nb; i++) {
        __m256i X = _mm256_loadu_si256((const __m256i *)x[i].qs), Y = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i sy = _mm256_sign_epi8(Y, X);
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(X), sy);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), acc1);
    }
    return _mm512_reduce_add_ps(acc) + hsum256(acc1);
}

static float dot_q4_0(int64_t n, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK4_0;
    __m512 acc = _mm512_setzero_ps();
    const __m512i z = _mm512_setzero_si512(), eight = _mm512_set1_epi8(8);
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i Q = nibbles2(x[i].qs, x[i + 1].qs), Y = load2x32(y[i].qs, y[i + 1].qs);
        /* Σ (q - 8)·y = Σ q·y - Σ 8·y */
        __m512i s = _mm512_sub_epi32(_mm512_dpbusd_epi32(z, Q, Y), _mm512_dpbusd_epi32(z, eight, Y));
        __m512 d = scale2(h2f(x[i].d) * h2f(y[i].d), h2f(x[i + 1].d) * h2f(y[i + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d, acc);
    }
    __m256 acc1 = _mm256_setzero_ps();
    for (; i < nb; i++) {
        __m256i Q = nibbles1(x[i].qs), Y = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i zz = _mm256_setzero_si256();
        __m256i s = _mm256_sub_epi32(_mm256_dpbusd_epi32(zz, Q, Y), _mm256_dpbusd_epi32(zz, _mm256_set1_epi8(8), Y));
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), acc1);
    }
    return _mm512_reduce_add_ps(acc) + hsum256(acc1);
}

static float dot_q4_1(int64_t n, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    const int64_t nb = n / QK4_1;
    __m512 acc = _mm512_setzero_ps();
    const __m512i z = _mm512_setzero_si512();
    float summs = 0.0f;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i Q = nibbles2(x[i].qs, x[i + 1].qs), Y = load2x32(y[i].qs, y[i + 1].qs);
        __m512i s = _mm512_dpbusd_epi32(z, Q, Y);
        __m512 d = scale2(h2f(x[i].d) * h2f(y[i].d), h2f(x[i + 1].d) * h2f(y[i + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d, acc);
        summs += h2f(x[i].m) * h2f(y[i].s) + h2f(x[i + 1].m) * h2f(y[i + 1].s);
    }
    __m256 acc1 = _mm256_setzero_ps();
    for (; i < nb; i++) {
        __m256i Q = nibbles1(x[i].qs), Y = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), Q, Y);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), acc1);
        summs += h2f(x[i].m) * h2f(y[i].s);
    }
    return _mm512_reduce_add_ps(acc) + hsum256(acc1) + summs;
}

/* The fifth bits of two Q5 blocks, as a byte mask in element order. */
static inline __mmask64 qh2(const uint8_t *h0, const uint8_t *h1) {
    return (__mmask64)((uint64_t)ld_u32(h0) | ((uint64_t)ld_u32(h1) << 32));
}

static float dot_q5_0(int64_t n, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK5_0;
    __m512 acc = _mm512_setzero_ps();
    const __m512i z = _mm512_setzero_si512(), b16 = _mm512_set1_epi8(16);
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i Q = nibbles2(x[i].qs, x[i + 1].qs), Y = load2x32(y[i].qs, y[i + 1].qs);
        Q = _mm512_or_si512(Q, _mm512_maskz_mov_epi8(qh2(x[i].qh, x[i + 1].qh), b16));
        __m512i s = _mm512_sub_epi32(_mm512_dpbusd_epi32(z, Q, Y), _mm512_dpbusd_epi32(z, b16, Y));
        __m512 d = scale2(h2f(x[i].d) * h2f(y[i].d), h2f(x[i + 1].d) * h2f(y[i + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d, acc);
    }
    __m256 acc1 = _mm256_setzero_ps();
    for (; i < nb; i++) {
        __m256i Q = nibbles1(x[i].qs), Y = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i h = _mm256_maskz_mov_epi8((__mmask32)ld_u32(x[i].qh), _mm256_set1_epi8(16));
        Q = _mm256_or_si256(Q, h);
        __m256i zz = _mm256_setzero_si256();
        __m256i s = _mm256_sub_epi32(_mm256_dpbusd_epi32(zz, Q, Y), _mm256_dpbusd_epi32(zz, _mm256_set1_epi8(16), Y));
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), acc1);
    }
    return _mm512_reduce_add_ps(acc) + hsum256(acc1);
}

static float dot_q5_1(int64_t n, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    const int64_t nb = n / QK5_1;
    __m512 acc = _mm512_setzero_ps();
    const __m512i z = _mm512_setzero_si512(), b16 = _mm512_set1_epi8(16);
    float summs = 0.0f;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i Q = nibbles2(x[i].qs, x[i + 1].qs), Y = load2x32(y[i].qs, y[i + 1].qs);
        Q = _mm512_or_si512(Q, _mm512_maskz_mov_epi8(qh2(x[i].qh, x[i + 1].qh), b16));
        __m512i s = _mm512_dpbusd_epi32(z, Q, Y);
        __m512 d = scale2(h2f(x[i].d) * h2f(y[i].d), h2f(x[i + 1].d) * h2f(y[i + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d, acc);
        summs += h2f(x[i].m) * h2f(y[i].s) + h2f(x[i + 1].m) * h2f(y[i + 1].s);
    }
    __m256 acc1 = _mm256_setzero_ps();
    for (; i < nb; i++) {
        __m256i Q = nibbles1(x[i].qs), Y = _mm256_loadu_si256((const __m256i *)y[i].qs);
        Q = _mm256_or_si256(Q, _mm256_maskz_mov_epi8((__mmask32)ld_u32(x[i].qh), _mm256_set1_epi8(16)));
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), Q, Y);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), acc1);
        summs += h2f(x[i].m) * h2f(y[i].s);
    }
    return _mm512_reduce_add_ps(acc) + hsum256(acc1) + summs;
}

/* ---- K-quants: one 256-element super-block per iteration --------------------------- */

/* 8 six-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K/Q5_K super-block. */
static inline __m128i k4_scales_mins(const uint8_t *s) {
    uint32_t u[4];
    memcpy(u, s, 12);
    const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
    u[3] = ((u[2] >> 4) & m2) | (((u[1] >> 6) & m3) << 4);
    uint32_t mins_lo = u[1] & m1;
    u[1] = (u[2] & m2) | (((u[0] >> 6) & m3) << 4);
    u[2] = mins_lo;
    u[0] &= m1;
    return _mm_loadu_si128((const __m128i *)u);
}

/* int16 index vectors for vpermw: [a ×16, b ×16] */
static inline __m512i idx_pair16(int a, int b) {
    return _mm512_inserti64x4(_mm512_set1_epi16((short)a), _mm256_set1_epi16((short)b), 1);
}

static float dot_q4_K(int64_t n, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i ip0 = idx_pair16(0, 1), ip1 = idx_pair16(2, 3), ip2 = idx_pair16(4, 5), ip3 = idx_pair16(6, 7);
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = y[i].d * h2f(x[i].d), dmin = y[i].d * h2f(x[i].dmin);
        __m128i sm = k4_scales_mins(x[i].scales);
        /* mins · (bsums[2j] + bsums[2j+1]) */
        __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
        __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        __m256i mprod = _mm256_madd_epi16(mins16, bs);
        accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mprod), _mm256_set1_ps(dmin), accm);

        __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm)); /* 8 int16 scales */
        const uint8_t *q4 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m512i sumi = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i Q = _mm512_loadu_si512((const void *)(q4 + 64 * h));
            __m512i lo = _mm512_and_si512(Q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(Q, 4), m4);
            __m512i qa = _mm512_inserti64x4(lo, _mm512_castsi512_si256(hi), 1); /* sub 4h+0, 4h+1 */
            __m512i qb = _mm512_shuffle_i64x2(lo, hi, _MM_SHUFFLE(3, 2, 3, 2));  /* sub 4h+2, 4h+3 */
            __m512i pa = _mm512_maddubs_epi16(qa, _mm512_loadu_si512((const void *)(q8 + 128 * h)));
            __m512i pb = _mm512_maddubs_epi16(qb, _mm512_loadu_si512((const void *)(q8 + 128 * h + 64)));
            __m512i sa = _mm512_permutexvar_epi16(h ? ip2 : ip0, sc16);
            __m512i sb = _mm512_permutexvar_epi16(h ? ip3 : ip1, sc16);
            sumi = _mm512_dpwssd_epi32(sumi, pa, sa);
            sumi = _mm512_dpwssd_epi32(sumi, pb, sb);
        }
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d), acc);
    }
    return _mm512_reduce_add_ps(acc) - hsum256(accm);
}

static float dot_q5_K(int64_t n, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F), b16 = _mm512_set1_epi8(16);
    const __m512i ip0 = idx_pair16(0, 1), ip1 = idx_pair16(2, 3), ip2 = idx_pair16(4, 5), ip3 = idx_pair16(6, 7);
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = y[i].d * h2f(x[i].d), dmin = y[i].d * h2f(x[i].dmin);
        __m128i sm = k4_scales_mins(x[i].scales);
        __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
        __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(mins16, bs)), _mm256_set1_ps(dmin), accm);

        __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));
        const uint8_t *q4 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        /* qh broadcast to both halves; sub-block 2j takes bit 2j, sub 2j+1 bit 2j+1 */
        __m512i H = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x[i].qh));
        __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8(1), _mm256_set1_epi8(2), 1);
        __m512i sumi = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i Q = _mm512_loadu_si512((const void *)(q4 + 64 * h));
            __m512i lo = _mm512_and_si512(Q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(Q, 4), m4);
            __m512i qa = _mm512_inserti64x4(lo, _mm512_castsi512_si256(hi), 1);
            __m512i qb = _mm512_shuffle_i64x2(lo, hi, _MM_SHUFFLE(3, 2, 3, 2));
            qa = _mm512_mask_add_epi8(qa, _mm512_test_epi8_mask(H, bit), qa, b16);
            bit = _mm512_slli_epi16(bit, 2);
            qb = _mm512_mask_add_epi8(qb, _mm512_test_epi8_mask(H, bit), qb, b16);
            bit = _mm512_slli_epi16(bit, 2);
            __m512i pa = _mm512_maddubs_epi16(qa, _mm512_loadu_si512((const void *)(q8 + 128 * h)));
            __m512i pb = _mm512_maddubs_epi16(qb, _mm512_loadu_si512((const void *)(q8 + 128 * h + 64)));
            sumi = _mm512_dpwssd_epi32(sumi, pa, _mm512_permutexvar_epi16(h ? ip2 : ip0, sc16));
            sumi = _mm512_dpwssd_epi32(sumi, pb, _mm512_permutexvar_epi16(h ? ip3 : ip1, sc16));
        }
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d), acc);
    }
    return _mm512_reduce_add_ps(acc) - hsum256(accm);
}

/* int16 index vector for vpermw: 128-bit lane k takes scale base+k */
static inline __m512i idx_quad16(int base) {
    return _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16((short)(base + 1)), _mm_set1_epi16((short)base))),
        _mm256_set_m128i(_mm_set1_epi16((short)(base + 3)), _mm_set1_epi16((short)(base + 2))), 1);
}

static float dot_q6_K(int64_t n, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i iq0 = idx_quad16(0), iq1 = idx_quad16(4), iq2 = idx_quad16(8), iq3 = idx_quad16(12);
    /* per-half shifts of qh: bits (0,1)→(4,5) for the first 32 bytes, (2,3)→(4,5) after */
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = y[i].d * h2f(x[i].d);
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        __m512i sc = _mm512_castsi256_si512(sc16);
        /* the -32 offset: 32 · Σ scale_g · bsums_g */
        __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y[i].bsums));
        __m512i sumi = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));
        for (int c = 0; c < 2; c++) {
            const uint8_t *ql = x[i].ql + 64 * c, *qh = x[i].qh + 32 * c;
            const int8_t *q8 = y[i].qs + 128 * c;
            __m512i L = _mm512_loadu_si512((const void *)ql);
            __m512i H = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qh));
            __m512i qa = _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_sllv_epi16(H, shl), m30));
            __m512i qb = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                         _mm512_and_si512(_mm512_srlv_epi16(H, shr), m30));
            __m512i pa = _mm512_maddubs_epi16(qa, _mm512_loadu_si512((const void *)q8));
            __m512i pb = _mm512_maddubs_epi16(qb, _mm512_loadu_si512((const void *)(q8 + 64)));
            sumi = _mm512_dpwssd_epi32(sumi, pa, _mm512_permutexvar_epi16(c ? iq2 : iq0, sc));
            sumi = _mm512_dpwssd_epi32(sumi, pb, _mm512_permutexvar_epi16(c ? iq3 : iq1, sc));
        }
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

#pragma GCC pop_options

typedef float (*lo_vec_dot_fn)(int64_t n, const void *x, const void *y);
lo_vec_dot_fn lo_vec_dot_avx512_get(uint32_t type);

lo_vec_dot_fn lo_vec_dot_avx512_get(uint32_t type) {
    const lo_cpu_features *f = lo_cpu_get_features();
    if (!(f->avx512f && f->avx512bw && f->avx512vl)) return NULL;
    switch (type) {
    case LO_DTYPE_F32: return dot_f32;
    case LO_DTYPE_F16: return dot_f16;
    case LO_DTYPE_BF16: return dot_bf16;
    default: break;
    }
    if (!f->avx512vnni) return NULL; /* the integer kernels use vpdpbusd/vpdpwssd */
    switch (type) {
    case LO_DTYPE_Q8_0: return dot_q8_0;
    case LO_DTYPE_Q4_0: return dot_q4_0;
    case LO_DTYPE_Q4_1: return dot_q4_1;
    case LO_DTYPE_Q5_0: return dot_q5_0;
    case LO_DTYPE_Q5_1: return dot_q5_1;
    case LO_DTYPE_Q4_K: return dot_q4_K;
    case LO_DTYPE_Q5_K: return dot_q5_K;
    case LO_DTYPE_Q6_K: return dot_q6_K;
    default: return NULL;
    }
}

#else /* not x86-64 GCC/Clang */
typedef float (*lo_vec_dot_fn)(int64_t n, const void *x, const void *y);
lo_vec_dot_fn lo_vec_dot_avx512_get(uint32_t type);
lo_vec_dot_fn lo_vec_dot_avx512_get(uint32_t type) {
    (void)type;
    return NULL;
}
#endif
