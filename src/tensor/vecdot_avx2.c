/* tensor: AVX2 (+FMA, F16C) dot-product kernels, compiled with a target pragma so the
 * library runs on any x86-64 and dispatches at run time. Integer block sums use
 * vpmaddubsw (u8 × s8 → s16 pairs, which cannot saturate for these value ranges) and are
 * exact; results differ from vecdot_ref.c only in float summation order. */
#include "tensor/tensor_internal.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* gcc takes a target pragma; clang applies the same target as a function attribute. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

static inline float h2f(lo_half h) { return _cvtsh_ss(h); }

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256i ld256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* ---- float types ----------------------------------------------------------------- */

static float dot_f32(int64_t n, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

static inline __m256 ld_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static float dot_f16(int64_t n, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(ld_f16(x + i), ld_f16(y + i), a0);
        a1 = _mm256_fmadd_ps(ld_f16(x + i + 8), ld_f16(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(ld_f16(x + i + 16), ld_f16(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(ld_f16(x + i + 24), ld_f16(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(ld_f16(x + i), ld_f16(y + i), a0);
    float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += h2f(x[i]) * h2f(y[i]);
    return s;
}

/* ---- integer helpers ------------------------------------------------------------- */

/* Σ pairs of u8·s8 → 8 int32 */
static inline __m256i dot_us8(__m256i ux, __m256i sy) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ux, sy), _mm256_set1_epi16(1));
}
/* s8·s8 via |x| and y with x's sign (|-128| reads as 128 unsigned; y is never -128) */
static inline __m256i dot_s8(__m256i x, __m256i y) {
    return dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* 16 nibbles → 32 bytes: low nibbles (elements 0..15) then high (16..31) */
static inline __m256i nibbles(const uint8_t *q) {
    __m128i v = _mm_loadu_si128((const __m128i *)q);
    __m256i z = _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
    return _mm256_and_si256(z, _mm256_set1_epi8(0x0F));
}

/* 32 bits → 32 bytes, 0xFF where bit k of `bits` is set (byte k) */
static inline __m256i bits_to_bytes(const uint8_t *p) {
    uint32_t bits;
    memcpy(&bits, p, 4);
    __m256i v = _mm256_set1_epi32((int)bits);
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bm = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(v, shuf), bm), bm);
}

/* ---- legacy 32-element blocks ---------------------------------------------------- */

static inline short ld_i16(const void *p) {
    short v;
    memcpy(&v, p, 2);
    return v;
}
/* The f16 fields of 8 consecutive blocks (`stride` bytes apart) as 8 floats. */
static inline __m256 h2f8(const void *p, size_t stride) {
    const uint8_t *b = p;
    __m128i h = _mm_setr_epi16(ld_i16(b), ld_i16(b + stride), ld_i16(b + 2 * stride), ld_i16(b + 3 * stride),
                               ld_i16(b + 4 * stride), ld_i16(b + 5 * stride), ld_i16(b + 6 * stride),
                               ld_i16(b + 7 * stride));
    return _mm256_cvtph_ps(h);
}

/* Σ x·y of one block as 8 int32 lanes */
static inline __m256i blk_q8_0(const block_q8_0 *x, const block_q8_0 *y) { return dot_s8(ld256(x->qs), ld256(y->qs)); }
static inline __m256i blk_q4_0(const block_q4_0 *x, const block_q8_0 *y) {
    return dot_s8(_mm256_sub_epi8(nibbles(x->qs), _mm256_set1_epi8(8)), ld256(y->qs));
}
static inline __m256i blk_q4_1(const block_q4_1 *x, const block_q8_1 *y) { return dot_us8(nibbles(x->qs), ld256(y->qs)); }
static inline __m256i blk_q5_0(const block_q5_0 *x, const block_q8_0 *y) {
    /* q - 16 as a signed byte: the nibble, with 0xF0 set where the fifth bit is clear */
    __m256i q = _mm256_or_si256(nibbles(x->qs), _mm256_andnot_si256(bits_to_bytes(x->qh), _mm256_set1_epi8((char)0xF0)));
    return dot_s8(q, ld256(y->qs));
}
static inline __m256i blk_q5_1(const block_q5_1 *x, const block_q8_1 *y) {
    __m256i q = _mm256_or_si256(nibbles(x->qs), _mm256_and_si256(bits_to_bytes(x->qh), _mm256_set1_epi8(16)));
    return dot_us8(q, ld256(y->qs));
}

/* 8 blocks per iteration: scales converted 8 at a time and spread with vpermps; four
 * accumulators hide the FMA latency; Q4_1/Q5_1 add Σ m_x·s_y. */
#define LO_LEGACY256(name, XT, YT, BLK, HAS_MIN)                                                          \
    static float name(int64_t n, const void *vx, const void *vy) {                                       \
        const XT *x = vx;                                                                                \
        const YT *y = vy;                                                                                \
        const int64_t nb = n / 32;                                                                       \
        __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}; \
        __m256 am = _mm256_setzero_ps();                                                                 \
        int64_t i = 0;                                                                                   \
        for (; i + 8 <= nb; i += 8) {                                                                    \
            __m256 sc = _mm256_mul_ps(h2f8(&x[i].d, sizeof(XT)), h2f8(&y[i].d, sizeof(YT)));             \
            for (int k = 0; k < 8; k++)                                                                  \
                a[k & 3] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(BLK(x + i + k, y + i + k)),                 \
                                           _mm256_permutevar8x32_ps(sc, _mm256_set1_epi32(k)), a[k & 3]); \
            if (HAS_MIN) am = _mm256_fmadd_ps(h2f8(&x[i].d + 1, sizeof(XT)), h2f8(&y[i].d + 1, sizeof(YT)), am); \
        }                                                                                                \
        float summs = 0.0f;                                                                              \
        for (; i < nb; i++) {                                                                            \
            a[0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(BLK(x + i, y + i)), _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), a[0]); \
            if (HAS_MIN) summs += h2f((&x[i].d)[1]) * h2f((&y[i].d)[1]);                                  \
        }                                                                                                \
        float s = hsum(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])));            \
        return s + (HAS_MIN ? hsum(am) + summs : 0.0f);                                                  \
    }

LO_LEGACY256(dot_q8_0, block_q8_0, block_q8_0, blk_q8_0, 0)
LO_LEGACY256(dot_q4_0, block_q4_0, block_q8_0, blk_q4_0, 0)
LO_LEGACY256(dot_q4_1, block_q4_1, block_q8_1, blk_q4_1, 1)
LO_LEGACY256(dot_q5_0, block_q5_0, block_q8_0, blk_q5_0, 0)
LO_LEGACY256(dot_q5_1, block_q5_1, block_q8_1, blk_q5_1, 1)

/* ---- K-quants -------------------------------------------------------------------- */

/* int16 lanes 0..7 = a, 8..15 = b */
static inline __m256i pair16(int a, int b) {
    return _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a));
}

/* 8 six-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K/Q5_K super-block. */
static inline void k4_scales_mins(const uint8_t *s, uint8_t out[16]) {
    uint32_t u[4];
    memcpy(u, s, 12);
    const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
    u[3] = ((u[2] >> 4) & m2) | (((u[1] >> 6) & m3) << 4);
    uint32_t mins_lo = u[1] & m1;
    u[1] = (u[2] & m2) | (((u[0] >> 6) & m3) << 4);
    u[2] = mins_lo;
    u[0] &= m1;
    memcpy(out, u, 16);
}

static float dot_q4_K(int64_t n, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = y[i].d * h2f(x[i].d), dmin = y[i].d * h2f(x[i].dmin);
        uint8_t sm[16];
        k4_scales_mins(x[i].scales, sm);
        __m128i mins8 = _mm_loadl_epi64((const __m128i *)(sm + 8));
        __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins8, mins8));
        __m256i mp = _mm256_madd_epi16(mins16, ld256(y[i].bsums));
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mp), accm);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i q = ld256(x[i].qs + 32 * j);
            __m256i plo = _mm256_maddubs_epi16(_mm256_and_si256(q, m4), ld256(y[i].qs + 64 * j));
            __m256i phi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), ld256(y[i].qs + 64 * j + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_set1_epi16(sm[2 * j])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_set1_epi16(sm[2 * j + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - hsum(accm);
}

static float dot_q5_K(int64_t n, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F), b16 = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = y[i].d * h2f(x[i].d), dmin = y[i].d * h2f(x[i].dmin);
        uint8_t sm[16];
        k4_scales_mins(x[i].scales, sm);
        __m128i mins8 = _mm_loadl_epi64((const __m128i *)(sm + 8));
        __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins8, mins8));
        __m256i mp = _mm256_madd_epi16(mins16, ld256(y[i].bsums));
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mp), accm);
        const __m256i H = ld256(x[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i q = ld256(x[i].qs + 32 * j);
            const __m256i blo = _mm256_set1_epi8((char)(1 << (2 * j))), bhi = _mm256_set1_epi8((char)(2 << (2 * j)));
            __m256i hlo = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(H, blo), blo), b16);
            __m256i hhi = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(H, bhi), bhi), b16);
            __m256i qlo = _mm256_or_si256(_mm256_and_si256(q, m4), hlo);
            __m256i qhi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), hhi);
            __m256i plo = _mm256_maddubs_epi16(qlo, ld256(y[i].qs + 64 * j));
            __m256i phi = _mm256_maddubs_epi16(qhi, ld256(y[i].qs + 64 * j + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_set1_epi16(sm[2 * j])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_set1_epi16(sm[2 * j + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - hsum(accm);
}

static float dot_q6_K(int64_t n, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = y[i].d * h2f(x[i].d);
        const int8_t *sc = x[i].scales;
        /* the -32 offset: 32 · Σ scale_g · bsums_g */
        __m256i corr = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc)), ld256(y[i].bsums));
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(corr, 5));
        for (int c = 0; c < 2; c++) {
            const uint8_t *ql = x[i].ql + 64 * c;
            const __m256i L0 = ld256(ql), L1 = ld256(ql + 32), H = ld256(x[i].qh + 32 * c);
            const int8_t *q8 = y[i].qs + 128 * c;
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(L0, m4), _mm256_and_si256(_mm256_slli_epi16(H, 4), m30));
            q[1] = _mm256_or_si256(_mm256_and_si256(L1, m4), _mm256_and_si256(_mm256_slli_epi16(H, 2), m30));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L0, 4), m4), _mm256_and_si256(H, m30));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(H, 2), m30));
            for (int g = 0; g < 4; g++) {
                __m256i p = _mm256_maddubs_epi16(q[g], ld256(q8 + 32 * g));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pair16(sc[8 * c + 2 * g], sc[8 * c + 2 * g + 1])));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc);
}

/* 16 signed six-bit scales of a Q3_K super-block (already minus 32). */
static inline void q3k_scales(const uint8_t *s, int8_t out[16]) {
    uint32_t a[4];
    memcpy(a, s, 12);
    const uint32_t k1 = 0x03030303, k2 = 0x0f0f0f0f;
    uint32_t tmp = a[2];
    a[2] = ((a[0] >> 4) & k2) | (((tmp >> 4) & k1) << 4);
    a[3] = ((a[1] >> 4) & k2) | (((tmp >> 6) & k1) << 4);
    a[0] = (a[0] & k2) | (((tmp >> 0) & k1) << 4);
    a[1] = (a[1] & k2) | (((tmp >> 2) & k1) << 4);
    memcpy(out, a, 16);
    for (int k = 0; k < 16; k++) out[k] = (int8_t)(out[k] - 32);
}

static float dot_q3_K(int64_t n, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = y[i].d * h2f(x[i].d);
        int8_t sc[16];
        q3k_scales(x[i].scales, sc);
        /* values are (q2 | hbit << 2) - 4: the -4 is 4 · Σ scale_g · bsums_g */
        __m256i corr = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc)), ld256(y[i].bsums));
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(corr, 2));
        const __m256i H = ld256(x[i].hmask);
        for (int c = 0; c < 2; c++) {
            const __m256i Q = ld256(x[i].qs + 32 * c);
            for (int j = 0; j < 4; j++) {
                __m128i sh = _mm_cvtsi32_si128(2 * j), shh = _mm_cvtsi32_si128(4 * c + j);
                __m256i q2 = _mm256_and_si256(_mm256_srl_epi16(Q, sh), m3);
                __m256i hb = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(H, shh), one), 2);
                __m256i p = _mm256_maddubs_epi16(_mm256_or_si256(q2, hb), ld256(y[i].qs + 128 * c + 32 * j));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pair16(sc[8 * c + 2 * j], sc[8 * c + 2 * j + 1])));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc);
}

static float dot_q2_K(int64_t n, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = y[i].d * h2f(x[i].d), dmin = y[i].d * h2f(x[i].dmin);
        const uint8_t *sc = x[i].scales;
        __m128i s8 = _mm_loadu_si128((const __m128i *)sc);
        __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0x0F)));
        __m256i mp = _mm256_madd_epi16(mins16, ld256(y[i].bsums));
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mp), accm);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 2; c++) {
            const __m256i Q = ld256(x[i].qs + 32 * c);
            for (int j = 0; j < 4; j++) {
                __m256i q2 = _mm256_and_si256(_mm256_srl_epi16(Q, _mm_cvtsi32_si128(2 * j)), m3);
                __m256i p = _mm256_maddubs_epi16(q2, ld256(y[i].qs + 128 * c + 32 * j));
                int a = sc[8 * c + 2 * j] & 0xF, b = sc[8 * c + 2 * j + 1] & 0xF;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pair16(a, b)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - hsum(accm);
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

typedef float (*lo_vec_dot_fn)(int64_t n, const void *x, const void *y);
lo_vec_dot_fn lo_vec_dot_avx2_get(uint32_t type);

lo_vec_dot_fn lo_vec_dot_avx2_get(uint32_t type) {
    const lo_cpu_features *f = lo_cpu_get_features();
    if (!(f->avx2 && f->fma && f->f16c)) return NULL;
    switch (type) {
    case LO_DTYPE_F32: return dot_f32;
    case LO_DTYPE_F16: return dot_f16;
    case LO_DTYPE_Q8_0: return dot_q8_0;
    case LO_DTYPE_Q4_0: return dot_q4_0;
    case LO_DTYPE_Q4_1: return dot_q4_1;
    case LO_DTYPE_Q5_0: return dot_q5_0;
    case LO_DTYPE_Q5_1: return dot_q5_1;
    case LO_DTYPE_Q2_K: return dot_q2_K;
    case LO_DTYPE_Q3_K: return dot_q3_K;
    case LO_DTYPE_Q4_K: return dot_q4_K;
    case LO_DTYPE_Q5_K: return dot_q5_K;
    case LO_DTYPE_Q6_K: return dot_q6_K;
    default: return NULL;
    }
}

#else /* not x86-64 GCC/Clang */
typedef float (*lo_vec_dot_fn)(int64_t n, const void *x, const void *y);
lo_vec_dot_fn lo_vec_dot_avx2_get(uint32_t type);
lo_vec_dot_fn lo_vec_dot_avx2_get(uint32_t type) {
    (void)type;
    return NULL;
}
#endif
