/* tensor: AVX-512 (F, BW, VL, VNNI) kernels — dot products, matmul tiles (one weight row
 * × up to 8 tokens; 16-row panels with rows in lanes), the one-token Q4_0 (1 and 16 rows), 16-row
 * Q8_0/Q4_1/Q5_0/Q5_1 (the tile's one-token arithmetic), 4-row Q4_K and Q6_K kernels and
 * activation quantisers — compiled with a target pragma so the
 * library also builds without -march=native and picks them at run time from CPUID.
 * Integer block sums are exact; results differ from vecdot_ref.c only in float
 * summation order. Types without a kernel here fall back to the AVX2 one. */
#include "tensor/tensor_internal.h"

#include <stddef.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* gcc takes a target pragma; clang applies the same target as a function attribute. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")
#endif

static inline float h2f(lo_half h) { return _cvtsh_ss(h); }

/* [a (32 B), b (32 B)] */
static inline __m512i load2x32(const void *a, const void *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
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
static inline short ld_i16(const void *p) {
    short v;
    memcpy(&v, p, 2);
    return v;
}
/* The f16 fields of 8 consecutive blocks (`stride` bytes apart) as 8 floats: one
 * conversion for 8 blocks instead of one per block. */
static inline __m256 h2f8(const void *p, size_t stride) {
    const uint8_t *b = p;
    __m128i h = _mm_setr_epi16(ld_i16(b), ld_i16(b + stride), ld_i16(b + 2 * stride), ld_i16(b + 3 * stride),
                               ld_i16(b + 4 * stride), ld_i16(b + 5 * stride), ld_i16(b + 6 * stride),
                               ld_i16(b + 7 * stride));
    return _mm256_cvtph_ps(h);
}

/* int32 index vector for vpermps: [a ×8, b ×8] */
static inline __m512i idx_pair32(int a, int b) {
    return _mm512_inserti64x4(_mm512_set1_epi32(a), _mm256_set1_epi32(b), 1);
}

/* Σ x·y of blocks (i, i+1) as 16 int32 lanes (8 per block), and of block i as 8 lanes.
 * Activations are Q8_0/Q8_1 (never -128, so negating y cannot overflow). */
static inline __m512i pair_q8_0(const block_q8_0 *x, const block_q8_0 *y) {
    const __m512i z = _mm512_setzero_si512();
    __m512i X = load2x32(x[0].qs, x[1].qs), Y = load2x32(y[0].qs, y[1].qs);
    /* |x| · (y with x's sign): u8 × s8 as vpdpbusd wants (x = -128 gives |x| = 128) */
    __m512i sy = _mm512_mask_sub_epi8(Y, _mm512_movepi8_mask(X), z, Y);
    return _mm512_dpbusd_epi32(z, _mm512_abs_epi8(X), sy);
}
static inline __m256i one_q8_0(const block_q8_0 *x, const block_q8_0 *y) {
    __m256i X = _mm256_loadu_si256((const __m256i *)x->qs), Y = _mm256_loadu_si256((const __m256i *)y->qs);
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(X), _mm256_sign_epi8(Y, X));
}

/* Σ (q - off)·y = Σ q·y - Σ off·y for unsigned q */
static inline __m512i dot_off512(__m512i Q, __m512i Y, char off) {
    const __m512i z = _mm512_setzero_si512();
    if (!off) return _mm512_dpbusd_epi32(z, Q, Y);
    return _mm512_sub_epi32(_mm512_dpbusd_epi32(z, Q, Y), _mm512_dpbusd_epi32(z, _mm512_set1_epi8(off), Y));
}
static inline __m256i dot_off256(__m256i Q, __m256i Y, char off) {
    const __m256i z = _mm256_setzero_si256();
    if (!off) return _mm256_dpbusd_epi32(z, Q, Y);
    return _mm256_sub_epi32(_mm256_dpbusd_epi32(z, Q, Y), _mm256_dpbusd_epi32(z, _mm256_set1_epi8(off), Y));
}

static inline __m512i pair_q4_0(const block_q4_0 *x, const block_q8_0 *y) {
    return dot_off512(nibbles2(x[0].qs, x[1].qs), load2x32(y[0].qs, y[1].qs), 8);
}
static inline __m256i one_q4_0(const block_q4_0 *x, const block_q8_0 *y) {
    return dot_off256(nibbles1(x->qs), _mm256_loadu_si256((const __m256i *)y->qs), 8);
}
static inline __m512i pair_q4_1(const block_q4_1 *x, const block_q8_1 *y) {
    return dot_off512(nibbles2(x[0].qs, x[1].qs), load2x32(y[0].qs, y[1].qs), 0);
}
static inline __m256i one_q4_1(const block_q4_1 *x, const block_q8_1 *y) {
    return dot_off256(nibbles1(x->qs), _mm256_loadu_si256((const __m256i *)y->qs), 0);
}
/* The fifth bits of Q5 blocks as a byte mask in element order. */
static inline __m512i q5_pair(const uint8_t *qs0, const uint8_t *qs1, const uint8_t *h0, const uint8_t *h1) {
    __mmask64 m = (__mmask64)((uint64_t)ld_u32(h0) | ((uint64_t)ld_u32(h1) << 32));
    return _mm512_or_si512(nibbles2(qs0, qs1), _mm512_maskz_mov_epi8(m, _mm512_set1_epi8(16)));
}
static inline __m256i q5_one(const uint8_t *qs, const uint8_t *h) {
    return _mm256_or_si256(nibbles1(qs), _mm256_maskz_mov_epi8((__mmask32)ld_u32(h), _mm256_set1_epi8(16)));
}
static inline __m512i pair_q5_0(const block_q5_0 *x, const block_q8_0 *y) {
    return dot_off512(q5_pair(x[0].qs, x[1].qs, x[0].qh, x[1].qh), load2x32(y[0].qs, y[1].qs), 16);
}
static inline __m256i one_q5_0(const block_q5_0 *x, const block_q8_0 *y) {
    return dot_off256(q5_one(x->qs, x->qh), _mm256_loadu_si256((const __m256i *)y->qs), 16);
}
static inline __m512i pair_q5_1(const block_q5_1 *x, const block_q8_1 *y) {
    return dot_off512(q5_pair(x[0].qs, x[1].qs, x[0].qh, x[1].qh), load2x32(y[0].qs, y[1].qs), 0);
}
static inline __m256i one_q5_1(const block_q5_1 *x, const block_q8_1 *y) {
    return dot_off256(q5_one(x->qs, x->qh), _mm256_loadu_si256((const __m256i *)y->qs), 0);
}

/* The loop shared by the legacy types: 8 blocks per iteration (scales converted 8 at a
 * time, spread over lanes with vpermps), four accumulators to hide FMA latency; Q4_1/Q5_1
 * add Σ m_x·s_y. */
#define LO_LEGACY512(name, XT, YT, PAIR, ONE, HAS_MIN)                                                   \
    static float name(int64_t n, const void *vx, const void *vy) {                                       \
        const XT *x = vx;                                                                                \
        const YT *y = vy;                                                                                \
        const int64_t nb = n / 32;                                                                       \
        const __m512i ix0 = idx_pair32(0, 1), ix1 = idx_pair32(2, 3), ix2 = idx_pair32(4, 5),           \
                      ix3 = idx_pair32(6, 7);                                                            \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                      \
        __m256 am = _mm256_setzero_ps(), a8 = am;                                                        \
        int64_t i = 0;                                                                                   \
        for (; i + 8 <= nb; i += 8) {                                                                    \
            __m512 sc = _mm512_castps256_ps512(                                                          \
                _mm256_mul_ps(h2f8(&x[i].d, sizeof(XT)), h2f8(&y[i].d, sizeof(YT))));                    \
            a0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(PAIR(x + i, y + i)), _mm512_permutexvar_ps(ix0, sc), a0); \
            a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(PAIR(x + i + 2, y + i + 2)), _mm512_permutexvar_ps(ix1, sc), a1); \
            a2 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(PAIR(x + i + 4, y + i + 4)), _mm512_permutexvar_ps(ix2, sc), a2); \
            a3 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(PAIR(x + i + 6, y + i + 6)), _mm512_permutexvar_ps(ix3, sc), a3); \
            if (HAS_MIN) am = _mm256_fmadd_ps(h2f8(&x[i].d + 1, sizeof(XT)), h2f8(&y[i].d + 1, sizeof(YT)), am); \
        }                                                                                                \
        float summs = 0.0f;                                                                              \
        for (; i < nb; i++) {                                                                            \
            a8 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ONE(x + i, y + i)), _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), a8); \
            if (HAS_MIN) summs += h2f((&x[i].d)[1]) * h2f((&y[i].d)[1]);                                  \
        }                                                                                                \
        __m512 s = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));                          \
        return _mm512_reduce_add_ps(s) + hsum256(a8) + (HAS_MIN ? hsum256(am) + summs : 0.0f);           \
    }

LO_LEGACY512(dot_q8_0, block_q8_0, block_q8_0, pair_q8_0, one_q8_0, 0)
LO_LEGACY512(dot_q4_0, block_q4_0, block_q8_0, pair_q4_0, one_q4_0, 0)
LO_LEGACY512(dot_q4_1, block_q4_1, block_q8_1, pair_q4_1, one_q4_1, 1)
LO_LEGACY512(dot_q5_0, block_q5_0, block_q8_0, pair_q5_0, one_q5_0, 0)
LO_LEGACY512(dot_q5_1, block_q5_1, block_q8_1, pair_q5_1, one_q5_1, 1)

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

/* ---- matmul tiles: one weight row × up to LO_MM_NC tokens ------------------------------
 * The weight blocks are decoded once and multiplied against every token's activations;
 * out[c·ldo] = Σ x·y_c for token c (activation rows `by` bytes apart). The legacy types
 * also take the activations' block scales pre-converted to f32 (aux: d[nb], then for
 * Q8_1 s[nb]; aux_stride floats per token), so f16 conversions are not repeated per row. */
#define LO_MM_NC 8

/* The exported tile entry: the body specialised for each token count so that the
 * per-token accumulators live in registers. */
#define LO_MM_DISPATCH(name)                                                                            \
    static void name(int64_t n, const void *vx, const void *vy, size_t by, const float *aux, size_t aux_stride, \
                     int nc, float *out, size_t ldo) {                                                  \
        switch (nc) {                                                                                    \
        case 1: name##_b(1, n, vx, vy, by, aux, aux_stride, out, ldo); break;                            \
        case 2: name##_b(2, n, vx, vy, by, aux, aux_stride, out, ldo); break;                            \
        case 3: name##_b(3, n, vx, vy, by, aux, aux_stride, out, ldo); break;                            \
        case 4: name##_b(4, n, vx, vy, by, aux, aux_stride, out, ldo); break;                            \
        case 5: name##_b(5, n, vx, vy, by, aux, aux_stride, out, ldo); break;                            \
        case 6: name##_b(6, n, vx, vy, by, aux, aux_stride, out, ldo); break;                            \
        case 7: name##_b(7, n, vx, vy, by, aux, aux_stride, out, ldo); break;                            \
        default: name##_b(8, n, vx, vy, by, aux, aux_stride, out, ldo); break;                           \
        }                                                                                                \
    }

/* Legacy types: Q as unsigned bytes (and, for Q8_0, the sign mask applied to y). */
#define LO_LEGACY512_MM(name, XT, YT, DECODE, OFF, HAS_NEG, HAS_MIN)                                    \
    static inline __attribute__((always_inline)) void name##_b(const int NC, int64_t n, const void *vx, const void *vy, \
                                                               size_t by, const float *aux, size_t aux_stride,  \
                                                               float *out, size_t ldo) {                        \
        const XT *x = vx;                                                                                \
        const int64_t nb = n / 32;                                                                       \
        const __m512i z = _mm512_setzero_si512(), offv = _mm512_set1_epi8(OFF);                          \
        const __m512i ix[4] = {idx_pair32(0, 1), idx_pair32(2, 3), idx_pair32(4, 5), idx_pair32(6, 7)}; \
        const YT *y[LO_MM_NC];                                                                           \
        __m512 acc[LO_MM_NC];                                                                            \
        __m256 am[LO_MM_NC];                                                                             \
        float tail[LO_MM_NC];                                                                            \
        _Pragma("GCC unroll 8") for (int c = 0; c < LO_MM_NC; c++) {                                                             \
            y[c] = (const YT *)((const uint8_t *)vy + (size_t)(c < NC ? c : 0) * by);                    \
            acc[c] = _mm512_setzero_ps();                                                                \
            am[c] = _mm256_setzero_ps();                                                                 \
            tail[c] = 0.0f;                                                                              \
        }                                                                                                \
        int64_t i = 0;                                                                                   \
        for (; i + 8 <= nb; i += 8) {                                                                    \
            const __m256 sx = h2f8(&x[i].d, sizeof(XT));                                                 \
            __m512i Q[4];                                                                                \
            __mmask64 neg[4] = {0, 0, 0, 0};                                                             \
            for (int k = 0; k < 4; k++) Q[k] = DECODE(x + i + 2 * k, &neg[k]);                           \
            _Pragma("GCC unroll 8") for (int c = 0; c < NC; c++) {                                       \
                const float *ya = aux + (size_t)c * aux_stride;                                          \
                const __m512 sc = _mm512_castps256_ps512(_mm256_mul_ps(sx, _mm256_loadu_ps(ya + i)));     \
                _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {                                    \
                    __m512i Y = load2x32(y[c][i + 2 * k].qs, y[c][i + 2 * k + 1].qs);                    \
                    if (HAS_NEG) Y = _mm512_mask_sub_epi8(Y, neg[k], z, Y);                              \
                    __m512i s = _mm512_dpbusd_epi32(z, Q[k], Y);                                         \
                    if (OFF) s = _mm512_sub_epi32(s, _mm512_dpbusd_epi32(z, offv, Y));                   \
                    acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_permutexvar_ps(ix[k], sc), acc[c]); \
                }                                                                                        \
                if (HAS_MIN)                                                                             \
                    am[c] = _mm256_fmadd_ps(h2f8(&x[i].d + 1, sizeof(XT)), _mm256_loadu_ps(ya + nb + i), am[c]); \
            }                                                                                            \
        }                                                                                                \
        _Pragma("GCC unroll 8") for (int c = 0; c < NC; c++) {                                                                   \
            float s = _mm512_reduce_add_ps(acc[c]) + (HAS_MIN ? hsum256(am[c]) : 0.0f);                  \
            if (i < nb) tail[c] = LEGACY_TAIL_##name(n - 32 * i, x + i, y[c] + i);                       \
            out[(size_t)c * ldo] = s + tail[c];                                                          \
        }                                                                                                \
    }                                                                                                    \
    LO_MM_DISPATCH(name)

static inline __m512i dec_q8_0(const block_q8_0 *x, __mmask64 *neg) {
    __m512i X = load2x32(x[0].qs, x[1].qs);
    *neg = _mm512_movepi8_mask(X);
    return _mm512_abs_epi8(X);
}
static inline __m512i dec_q4_0(const block_q4_0 *x, __mmask64 *neg) {
    (void)neg;
    return nibbles2(x[0].qs, x[1].qs);
}
static inline __m512i dec_q4_1(const block_q4_1 *x, __mmask64 *neg) {
    (void)neg;
    return nibbles2(x[0].qs, x[1].qs);
}
static inline __m512i dec_q5_0(const block_q5_0 *x, __mmask64 *neg) {
    (void)neg;
    return q5_pair(x[0].qs, x[1].qs, x[0].qh, x[1].qh);
}
static inline __m512i dec_q5_1(const block_q5_1 *x, __mmask64 *neg) {
    (void)neg;
    return q5_pair(x[0].qs, x[1].qs, x[0].qh, x[1].qh);
}
/* the < 8 trailing blocks go through the single-row kernel */
#define LEGACY_TAIL_mm_q8_0 dot_q8_0
#define LEGACY_TAIL_mm_q4_0 dot_q4_0
#define LEGACY_TAIL_mm_q4_1 dot_q4_1
#define LEGACY_TAIL_mm_q5_0 dot_q5_0
#define LEGACY_TAIL_mm_q5_1 dot_q5_1

LO_LEGACY512_MM(mm_q8_0, block_q8_0, block_q8_0, dec_q8_0, 0, 1, 0)
LO_LEGACY512_MM(mm_q4_0, block_q4_0, block_q8_0, dec_q4_0, 8, 0, 0)
LO_LEGACY512_MM(mm_q4_1, block_q4_1, block_q8_1, dec_q4_1, 0, 0, 1)
LO_LEGACY512_MM(mm_q5_0, block_q5_0, block_q8_0, dec_q5_0, 16, 0, 0)
LO_LEGACY512_MM(mm_q5_1, block_q5_1, block_q8_1, dec_q5_1, 0, 0, 1)

/* ---- 16-row panels: 16 weight rows × up to 8 tokens (Q4_0, Q8_0) -----------------------
 * The blocks of 16 rows are transposed in registers so that each 32-bit lane holds 4
 * quants of one row; 4 activation bytes of a token are broadcast to every lane, so one
 * vpdpbusd does 4 MACs for each of the 16 rows, and the block scales multiply as a vector
 * (no horizontal sums or scale permutes per block). The cheap unpack transpose leaves
 * row (p/4) + 4·(p%4) in lane p (a 4×4 transpose, its own inverse). Weights are made
 * unsigned (Q4_0: q as stored; Q8_0: q + 128), the offset comes back through
 * aux: per token d[nb] (f32), then corr[nb] (int32 bits: -off · Σ q_y of the block).
 * x: the first row's data, rows rs bytes apart (16·rs < 2^31). */

static inline __attribute__((always_inline)) __m512i ld4rows(const uint8_t *p, size_t rs) {
    __m512i a = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
    a = _mm512_inserti32x4(a, _mm_loadu_si128((const __m128i *)(p + rs)), 1);
    a = _mm512_inserti32x4(a, _mm_loadu_si128((const __m128i *)(p + 2 * rs)), 2);
    return _mm512_inserti32x4(a, _mm_loadu_si128((const __m128i *)(p + 3 * rs)), 3);
}

/* 16 bytes at p of each of 16 rows → G[d] = dword d of every row (lane order above). */
static inline __attribute__((always_inline)) void tr16x4(const uint8_t *p, size_t rs, __m512i G[4]) {
    __m512i A0 = ld4rows(p, rs), A1 = ld4rows(p + 4 * rs, rs), A2 = ld4rows(p + 8 * rs, rs),
            A3 = ld4rows(p + 12 * rs, rs);
    __m512i T0 = _mm512_unpacklo_epi32(A0, A1), T1 = _mm512_unpackhi_epi32(A0, A1);
    __m512i T2 = _mm512_unpacklo_epi32(A2, A3), T3 = _mm512_unpackhi_epi32(A2, A3);
    G[0] = _mm512_unpacklo_epi64(T0, T2);
    G[1] = _mm512_unpackhi_epi64(T0, T2);
    G[2] = _mm512_unpacklo_epi64(T1, T3);
    G[3] = _mm512_unpackhi_epi64(T1, T3);
}

/* lane p ↔ row p/4 + 4·(p%4) */
static inline __m512i p16_perm(void) {
    return _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
}

/* The 16 rows' f16 block scales at byte offset off (rows rs apart) as f32, lane order. */
/* A dword of each of the 16 rows at x (lane order). The gathers are slow, so the first
 * token group of a panel stores them in `cache` (mode 1) and the later ones reload them
 * (mode 2); mode 0: no cache. *cache advances by one vector either way. */
static inline __attribute__((always_inline)) __m512i p16_gather(const uint8_t *x, __m512i goff, __m512i **cache,
                                                                int mode) {
    __m512i v;
    if (mode == 2) v = _mm512_load_si512((const void *)*cache);
    else v = _mm512_i32gather_epi32(goff, x, 1);
    if (mode == 1) _mm512_store_si512((void *)*cache, v);
    if (mode) (*cache)++;
    return v;
}

static inline __attribute__((always_inline)) __m512 p16_scales(const uint8_t *x, __m512i goff, __m512i **cache, int mode) {
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(p16_gather(x, goff, cache, mode)));
}

static inline __m512i bcast32(const void *p) { return _mm512_set1_epi32((int)ld_u32(p)); }

static inline void p16_store(const int NT, const __m512 *acc, float *out, size_t ldo) {
    const __m512i perm = p16_perm();
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) _mm512_storeu_ps(out + (size_t)t * ldo, _mm512_permutexvar_ps(perm, acc[t]));
}

static inline __attribute__((always_inline)) void p16_q4_0_b(const int NT, int64_t n, const uint8_t *x, size_t rs,
                                                             const uint8_t *vy, size_t by, const float *aux,
                                                             size_t aux_stride, float *out, size_t ldo,
                                                             __m512i *cache, int mode) {
    const int64_t nb = n / QK4_0;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i goff = _mm512_mullo_epi32(p16_perm(), _mm512_set1_epi32((int)rs));
    __m512 acc[LO_MM_NC];
#pragma GCC unroll 8
    for (int t = 0; t < LO_MM_NC; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *xb = x + (size_t)b * sizeof(block_q4_0);
        __m512i G[4], L[4], H[4];
        tr16x4(xb + 2, rs, G);
        for (int d = 0; d < 4; d++) {
            L[d] = _mm512_and_si512(G[d], m4);
            H[d] = _mm512_and_si512(_mm512_srli_epi16(G[d], 4), m4);
        }
        const __m512 dx = p16_scales(xb, goff, &cache, mode);
        /* token chains side by side (one vpdpbusd chain per token would stall on latency) */
        const uint8_t *yq = vy + (size_t)b * sizeof(block_q8_0) + 2;
        __m512i s[LO_MM_NC];
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) s[t] = bcast32(aux + (size_t)t * aux_stride + nb + b);
#pragma GCC unroll 4
        for (int d = 0; d < 4; d++) {
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) s[t] = _mm512_dpbusd_epi32(s[t], L[d], bcast32(yq + (size_t)t * by + 4 * d));
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) s[t] = _mm512_dpbusd_epi32(s[t], H[d], bcast32(yq + (size_t)t * by + 16 + 4 * d));
        }
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), _mm512_mul_ps(dx, _mm512_set1_ps(aux[(size_t)t * aux_stride + b])), acc[t]);
    }
    p16_store(NT, acc, out, ldo);
}

static inline __attribute__((always_inline)) void p16_q8_0_b(const int NT, int64_t n, const uint8_t *x, size_t rs,
                                                             const uint8_t *vy, size_t by, const float *aux,
                                                             size_t aux_stride, float *out, size_t ldo,
                                                             __m512i *cache, int mode) {
    const int64_t nb = n / QK8_0;
    const __m512i sgn = _mm512_set1_epi8((char)0x80);
    const __m512i goff = _mm512_mullo_epi32(p16_perm(), _mm512_set1_epi32((int)rs));
    __m512 acc[LO_MM_NC];
#pragma GCC unroll 8
    for (int t = 0; t < LO_MM_NC; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *xb = x + (size_t)b * sizeof(block_q8_0);
        __m512i G[8];
        tr16x4(xb + 2, rs, G);
        tr16x4(xb + 18, rs, G + 4);
        for (int d = 0; d < 8; d++) G[d] = _mm512_xor_si512(G[d], sgn);
        const __m512 dx = p16_scales(xb, goff, &cache, mode);
        const uint8_t *yq = vy + (size_t)b * sizeof(block_q8_0) + 2;
        __m512i s[LO_MM_NC];
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) s[t] = bcast32(aux + (size_t)t * aux_stride + nb + b);
#pragma GCC unroll 8
        for (int d = 0; d < 8; d++) {
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) s[t] = _mm512_dpbusd_epi32(s[t], G[d], bcast32(yq + (size_t)t * by + 4 * d));
        }
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), _mm512_mul_ps(dx, _mm512_set1_ps(aux[(size_t)t * aux_stride + b])), acc[t]);
    }
    p16_store(NT, acc, out, ldo);
}

#define LO_P16_DISPATCH(name)                                                                           \
    static void name(int64_t n, const void *x, size_t rs, const void *vy, size_t by, const float *aux,   \
                     size_t aux_stride, int nt, float *out, size_t ldo, void *cache, int mode) {        \
        __m512i *cv = cache;                                                                             \
        switch (nt) {                                                                                    \
        case 1: name##_b(1, n, x, rs, vy, by, aux, aux_stride, out, ldo, cv, mode); break;               \
        case 2: name##_b(2, n, x, rs, vy, by, aux, aux_stride, out, ldo, cv, mode); break;               \
        case 3: name##_b(3, n, x, rs, vy, by, aux, aux_stride, out, ldo, cv, mode); break;               \
        case 4: name##_b(4, n, x, rs, vy, by, aux, aux_stride, out, ldo, cv, mode); break;               \
        case 5: name##_b(5, n, x, rs, vy, by, aux, aux_stride, out, ldo, cv, mode); break;               \
        case 6: name##_b(6, n, x, rs, vy, by, aux, aux_stride, out, ldo, cv, mode); break;               \
        case 7: name##_b(7, n, x, rs, vy, by, aux, aux_stride, out, ldo, cv, mode); break;               \
        default: name##_b(8, n, x, rs, vy, by, aux, aux_stride, out, ldo, cv, mode); break;              \
        }                                                                                                \
    }
LO_P16_DISPATCH(p16_q4_0)
LO_P16_DISPATCH(p16_q8_0)

/* Q4_K panels: per super-block the 16 rows' d/dmin and six-bit scales/mins are gathered
 * and unpacked lane-wise; each sub-block's Σ q·y is 8 vpdpbusd per nibble half;
 * the min term Σ m_j · (bsums[2j] + bsums[2j+1]) goes through vpdpwssd with m_j in both
 * int16 halves; each sub-block's integer sum is scaled by d_x·sc_j in f32. */
static inline __attribute__((always_inline)) void p16_q4_K_b(const int NT, int64_t n, const uint8_t *x, size_t rs,
                                                             const uint8_t *vy, size_t by, const float *aux,
                                                             size_t aux_stride, float *out, size_t ldo,
                                                             __m512i *cache, int mode) {
    (void)aux, (void)aux_stride;
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m6 = _mm512_set1_epi8(0x3F), m2 = _mm512_set1_epi8(0x03);
    const __m512i bmask = _mm512_set1_epi32(0xFF), lo16 = _mm512_set1_epi32(0xFFFF);
    const __m512i goff = _mm512_mullo_epi32(p16_perm(), _mm512_set1_epi32((int)rs));
    __m512 acc[LO_MM_NC];
#pragma GCC unroll 8
    for (int t = 0; t < LO_MM_NC; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *xb = x + (size_t)b * sizeof(block_q4_K);
        const __m512i dd = p16_gather(xb, goff, &cache, mode);
        const __m512 dx = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd));
        const __m512 dmx = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16)));
        const __m512i u0 = p16_gather(xb + 4, goff, &cache, mode), u1 = p16_gather(xb + 8, goff, &cache, mode),
                      u2 = p16_gather(xb + 12, goff, &cache, mode);
        /* bytes: scales 0..3, 4..7; mins 0..3, 4..7 */
        const __m512i s03 = _mm512_and_si512(u0, m6), m03 = _mm512_and_si512(u1, m6);
        const __m512i s47 = _mm512_or_si512(_mm512_and_si512(u2, m4),
                                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), m2), 4));
        const __m512i m47 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), m4),
                                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), m2), 4));
        __m512 fsum[LO_MM_NC]; /* Σ_j d_x·sc_j·Σ q·y of this super-block */
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) fsum[t] = _mm512_setzero_ps();
        for (int g = 0; g < 4; g++) {
            const __m512i sv = g < 2 ? s03 : s47;
            const int sh = 16 * (g & 1);
            /* the sub-block scales times d_x, as f32 */
            const __m512 SL = _mm512_mul_ps(dx, _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(sv, sh), bmask)));
            const __m512 SH = _mm512_mul_ps(dx, _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(sv, sh + 8), bmask)));
            __m512i G[8], L[8], H[8];
            tr16x4(xb + 16 + 32 * g, rs, G);
            tr16x4(xb + 32 + 32 * g, rs, G + 4);
            for (int e = 0; e < 8; e++) {
                L[e] = _mm512_and_si512(G[e], m4);
                H[e] = _mm512_and_si512(_mm512_srli_epi16(G[e], 4), m4);
            }
            /* low then high nibbles, token chains side by side */
            const uint8_t *yq = vy + (size_t)b * sizeof(block_q8_K) + 4 + 64 * g;
            __m512i s[LO_MM_NC];
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) s[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int e = 0; e < 8; e++) {
#pragma GCC unroll 8
                for (int t = 0; t < NT; t++) s[t] = _mm512_dpbusd_epi32(s[t], L[e], bcast32(yq + (size_t)t * by + 4 * e));
            }
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) fsum[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), SL, fsum[t]), s[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int e = 0; e < 8; e++) {
#pragma GCC unroll 8
                for (int t = 0; t < NT; t++) s[t] = _mm512_dpbusd_epi32(s[t], H[e], bcast32(yq + (size_t)t * by + 32 + 4 * e));
            }
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) fsum[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), SH, fsum[t]);
        }
        /* mins: (m_j, m_j) int16 pairs against the bsums pair (2j, 2j+1) */
        __m512i M[8];
        for (int j = 0; j < 8; j++) {
            __m512i mb = _mm512_and_si512(_mm512_srli_epi32(j < 4 ? m03 : m47, 8 * (j & 3)), bmask);
            M[j] = _mm512_or_si512(mb, _mm512_slli_epi32(mb, 16));
        }
        (void)lo16;
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            const uint8_t *yb = vy + (size_t)t * by + (size_t)b * sizeof(block_q8_K);
            const float yd = *(const float *)yb;
            __m512i mi = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) mi = _mm512_dpwssd_epi32(mi, M[j], bcast32(yb + 260 + 4 * j));
            acc[t] = _mm512_fmadd_ps(fsum[t], _mm512_set1_ps(yd), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mi), _mm512_mul_ps(dmx, _mm512_set1_ps(yd)), acc[t]);
        }
    }
    p16_store(NT, acc, out, ldo);
}
LO_P16_DISPATCH(p16_q4_K)

/* Q6_K panels: each super-block of the 16 rows is decoded once into 64 vectors of
 * unsigned 6-bit quants (element order, 4 per lane; L1-resident stack), then for every
 * token 4 vpdpbusd per 16-element sub-block, vpmulld by its int8 scale; the -32 offset
 * is -32 · Σ_j sc_j · bsums_j through vpdpwssd on (sc_2i, sc_2i+1) int16 pairs. Integer
 * sums stay below 2^31 (16 · 128 · 16 · 63 · 128 + 32 · 16 · 128 · 2048). */
static inline __m512i q6_scale_pairs(__m512i u, __m512i *p1) {
    const __m512i lo = _mm512_set1_epi32(0xFFFF);
    __m512i e = _mm512_srai_epi16(_mm512_slli_epi16(u, 8), 8); /* [sc0, sc2] as int16 */
    __m512i o = _mm512_srai_epi16(u, 8);                       /* [sc1, sc3] */
    *p1 = _mm512_or_si512(_mm512_srli_epi32(e, 16), _mm512_andnot_si512(lo, o));
    return _mm512_or_si512(_mm512_and_si512(e, lo), _mm512_slli_epi32(o, 16));
}

static inline __attribute__((always_inline)) void p16_q6_K_b(const int NT, int64_t n, const uint8_t *x, size_t rs,
                                                             const uint8_t *vy, size_t by, const float *aux,
                                                             size_t aux_stride, float *out, size_t ldo,
                                                             __m512i *cache, int mode) {
    (void)aux, (void)aux_stride;
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i goff = _mm512_mullo_epi32(p16_perm(), _mm512_set1_epi32((int)rs));
    __m512i q[64], SC[16], SP[8];
    __m512 acc[LO_MM_NC];
#pragma GCC unroll 8
    for (int t = 0; t < LO_MM_NC; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *xb = x + (size_t)b * sizeof(block_q6_K);
        const __m512 dx = p16_scales(xb + 208, goff, &cache, mode);
        for (int i = 0; i < 4; i++) {
            __m512i u = p16_gather(xb + 192 + 4 * i, goff, &cache, mode);
            for (int j = 0; j < 4; j++) SC[4 * i + j] = _mm512_srai_epi32(_mm512_slli_epi32(u, 24 - 8 * j), 24);
            SP[2 * i] = q6_scale_pairs(u, &SP[2 * i + 1]);
        }
        for (int h = 0; h < 2; h++) {
            __m512i QA[8], QB[8], QH[8];
            tr16x4(xb + 64 * h, rs, QA);
            tr16x4(xb + 64 * h + 16, rs, QA + 4);
            tr16x4(xb + 64 * h + 32, rs, QB);
            tr16x4(xb + 64 * h + 48, rs, QB + 4);
            tr16x4(xb + 128 + 32 * h, rs, QH);
            tr16x4(xb + 128 + 32 * h + 16, rs, QH + 4);
            __m512i *qq = q + 32 * h;
            for (int e = 0; e < 8; e++) {
                qq[e] = _mm512_or_si512(_mm512_and_si512(QA[e], m4), _mm512_and_si512(_mm512_slli_epi16(QH[e], 4), m30));
                qq[8 + e] = _mm512_or_si512(_mm512_and_si512(QB[e], m4), _mm512_and_si512(_mm512_slli_epi16(QH[e], 2), m30));
                qq[16 + e] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(QA[e], 4), m4), _mm512_and_si512(QH[e], m30));
                qq[24 + e] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(QB[e], 4), m4),
                                             _mm512_and_si512(_mm512_srli_epi16(QH[e], 2), m30));
            }
        }
        /* sub-block outer, tokens inner: each decoded vector is loaded once per super-block */
        __m512i isum[LO_MM_NC];
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            const uint8_t *yb = vy + (size_t)t * by + (size_t)b * sizeof(block_q8_K);
            __m512i corr = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) corr = _mm512_dpwssd_epi32(corr, SP[i], bcast32(yb + 260 + 4 * i));
            isum[t] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(corr, 5));
        }
        for (int j = 0; j < 16; j++) {
            const __m512i w0 = q[4 * j], w1 = q[4 * j + 1], w2 = q[4 * j + 2], w3 = q[4 * j + 3], sc = SC[j];
            const uint8_t *yq = vy + (size_t)b * sizeof(block_q8_K) + 4 + 16 * j;
            __m512i s[LO_MM_NC];
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) s[t] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w0, bcast32(yq + (size_t)t * by));
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) s[t] = _mm512_dpbusd_epi32(s[t], w1, bcast32(yq + (size_t)t * by + 4));
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) s[t] = _mm512_dpbusd_epi32(s[t], w2, bcast32(yq + (size_t)t * by + 8));
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) s[t] = _mm512_dpbusd_epi32(s[t], w3, bcast32(yq + (size_t)t * by + 12));
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s[t], sc));
        }
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            const float yd = *(const float *)(vy + (size_t)t * by + (size_t)b * sizeof(block_q8_K));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dx, _mm512_set1_ps(yd)), acc[t]);
        }
    }
    p16_store(NT, acc, out, ldo);
}
LO_P16_DISPATCH(p16_q6_K)

/* ---- Q4_0 matvec (one token): activations pre-arranged per block pair (2p, 2p+1) as
 * [2p: 0..15, 2p+1: 0..15, 2p: 16..31, 2p+1: 16..31] (an odd last block as is), so the
 * two blocks' nibbles need no lane shuffle: [qs(2p) | qs(2p+1)] low nibbles, then high.
 * aux: d_y[nb] (f32), corr[nb] (int32 bits: -8·Σq_y), then the arranged bytes. The
 * offset term Σ d_x·d_y·corr is one FMA per 8 blocks. */
static float mv_q4_0(int64_t n, const void *vx, const float *aux) {
    const block_q4_0 *x = vx;
    const int64_t nb = n / QK4_0;
    const float *dy = aux;
    const int32_t *corr = (const int32_t *)(const void *)(aux + nb);
    const int8_t *yr = (const int8_t *)(const void *)(aux + 2 * nb);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m512i ix[4] = {
        _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1),
        _mm512_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3, 2, 2, 2, 2, 3, 3, 3, 3),
        _mm512_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5, 4, 4, 4, 4, 5, 5, 5, 5),
        _mm512_setr_epi32(6, 6, 6, 6, 7, 7, 7, 7, 6, 6, 6, 6, 7, 7, 7, 7)};
    __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    __m256 am = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= nb; i += 8) {
        const __m256 sc = _mm256_mul_ps(h2f8(&x[i].d, sizeof(block_q4_0)), _mm256_loadu_ps(dy + i));
        am = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(corr + i))), am);
        const __m512 sc5 = _mm512_castps256_ps512(sc);
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const block_q4_0 *xp = x + i + 2 * k;
            __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)xp[0].qs)),
                                                _mm_loadu_si128((const __m128i *)xp[1].qs), 1);
            __m512i Q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, m4)),
                                           _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), 1);
            __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), Q, _mm512_loadu_si512((const void *)(yr + 32 * (i + 2 * k))));
            a[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_permutexvar_ps(ix[k], sc5), a[k]);
        }
    }
    float tail = 0.0f;
    for (; i < nb; i++) {
        const float s = h2f(x[i].d) * dy[i];
        const int8_t *y = yr + 32 * i;
        int32_t sum = corr[i];
        if (i + 1 < nb || (nb & 1) == 0) { /* member of a pair: this block's bytes at 0..15 and 32..47 of the pair */
            const int8_t *yp = yr + 32 * (i & ~(int64_t)1) + 16 * (i & 1);
            for (int j = 0; j < 16; j++) sum += (x[i].qs[j] & 0x0F) * yp[j] + (x[i].qs[j] >> 4) * yp[32 + j];
        } else {
            for (int j = 0; j < 16; j++) sum += (x[i].qs[j] & 0x0F) * y[j] + (x[i].qs[j] >> 4) * y[16 + j];
        }
        tail += s * (float)sum;
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3]))) + hsum256(am) + tail;
}

/* ---- Q4_0 matvec (one token), 16 weight rows per pass ---------------------------------
 * The p16 panel scheme with one token: the 16 rows' nibbles of a block are transposed in
 * registers so each 32-bit lane holds 4 quants of one row, the activation dwords are
 * broadcast, and the block's 16 scales multiply as one vector — no horizontal sums and
 * no scale permutes per block. Four independent vpdpbusd chains (one per dword position)
 * keep the latency hidden. Short rows (a panel ≤ MV16_PF_MAX_PANEL bytes: k ≤ ~7000)
 * interleave 16 streams within a few pages, which the hardware prefetcher follows badly,
 * so the next panel is prefetched as one linear stream spread over this panel's blocks
 * (tg of a TinyLlama Q4_0, k = 2048/5632: 21 → 27 tokens/s); longer rows are left to the
 * hardware (k = 11008: 8.5 → 10.3 GB/s without). y: the Q8_0 activation row; aux as for
 * p16_q4_0 with one token: d_y[nb] (f32), then corr[nb] (int32 bits: -8·Σq_y).
 * out[r] = row r (lane order undone); 16·rs < 2^31. */
#ifndef MV16_PF_MAX_PANEL
#define MV16_PF_MAX_PANEL 65536
#endif
/* nt ≤ 8 tokens at once (activation rows by bytes apart, aux rows aux_stride floats,
 * outputs ldo floats): the panel's transpose, scales and prefetch are done once per block
 * for all of them, and each token's integer sums and f32 accumulation are exactly those
 * of the one-token pass (the single tokens of lo_matmul_split read the weights once). */
static inline __attribute__((always_inline)) void mv16_q4_0_b(const int NT, int64_t n, const uint8_t *x, size_t rs,
                                                               const uint8_t *vy, size_t by, const float *aux,
                                                               size_t aux_stride, float *out, size_t ldo) {
    const uint8_t *yq = vy + offsetof(block_q8_0, qs);
    const int64_t nb = n / QK4_0;
    const __m512i m4 = _mm512_set1_epi8(0x0F), zero = _mm512_setzero_si512();
    const __m512i goff = _mm512_mullo_epi32(p16_perm(), _mm512_set1_epi32((int)rs));
    const size_t step = nb ? (16 * rs + (size_t)nb - 1) / (size_t)nb : 0; /* panel bytes per block */
    const size_t pf_step = 16 * rs <= MV16_PF_MAX_PANEL ? step : 0;
    const char *pf = (const char *)x + 16 * rs;
    __m512 acc[8];
    for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++, pf += step) {
        const uint8_t *xb = x + (size_t)b * sizeof(block_q4_0);
        for (size_t l = 0; l < pf_step; l += 64) _mm_prefetch(pf + l, _MM_HINT_T0); /* never faults */
        __m512i G[4], lo[4], hi[4];
        tr16x4(xb + offsetof(block_q4_0, qs), rs, G);
        for (int d = 0; d < 4; d++) lo[d] = _mm512_and_si512(G[d], m4), hi[d] = _mm512_and_si512(_mm512_srli_epi16(G[d], 4), m4);
        /* d of the 16 rows: the low halves of a dword gathered at each row's block start */
        const __m512 dx = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(goff, xb, 1)));
        for (int t = 0; t < NT; t++) {
            const float *a = aux + (size_t)t * aux_stride;
            const int32_t *corr = (const int32_t *)(const void *)(a + nb);
            const uint8_t *y = yq + (size_t)t * by + (size_t)b * sizeof(block_q8_0);
            __m512i s[4];
#pragma GCC unroll 4
            for (int d = 0; d < 4; d++) s[d] = _mm512_dpbusd_epi32(d ? zero : bcast32(corr + b), lo[d], bcast32(y + 4 * d));
#pragma GCC unroll 4
            for (int d = 0; d < 4; d++) s[d] = _mm512_dpbusd_epi32(s[d], hi[d], bcast32(y + 16 + 4 * d));
            const __m512i si = _mm512_add_epi32(_mm512_add_epi32(s[0], s[1]), _mm512_add_epi32(s[2], s[3]));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(si), _mm512_mul_ps(dx, _mm512_set1_ps(a[b])), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) _mm512_storeu_ps(out + (size_t)t * ldo, _mm512_permutexvar_ps(p16_perm(), acc[t]));
}

static void mv16_q4_0(int64_t n, const void *vx, size_t rs, const void *vy, size_t by, const float *aux, size_t aux_stride,
                      int nt, float *out, size_t ldo) {
    const uint8_t *x = vx, *y = vy;
    LO_ASSERT(nt >= 1 && nt <= 8);
    switch (nt) {
    case 1: mv16_q4_0_b(1, n, x, rs, y, by, aux, aux_stride, out, ldo); break;
    case 2: mv16_q4_0_b(2, n, x, rs, y, by, aux, aux_stride, out, ldo); break;
    case 3: mv16_q4_0_b(3, n, x, rs, y, by, aux, aux_stride, out, ldo); break;
    case 4: mv16_q4_0_b(4, n, x, rs, y, by, aux, aux_stride, out, ldo); break;
    case 5: mv16_q4_0_b(5, n, x, rs, y, by, aux, aux_stride, out, ldo); break;
    case 6: mv16_q4_0_b(6, n, x, rs, y, by, aux, aux_stride, out, ldo); break;
    case 7: mv16_q4_0_b(7, n, x, rs, y, by, aux, aux_stride, out, ldo); break;
    default: mv16_q4_0_b(8, n, x, rs, y, by, aux, aux_stride, out, ldo); break;
    }
}

/* ---- Q8_0 / Q4_1 / Q5_0 / Q5_1 matvec (one token), 16 weight rows per pass -------------
 * The same arithmetic as the one-row tile (LO_LEGACY512_MM) with one token, rows in lanes
 * instead of elements in lanes. That tile sums each dword (4 quants) of a block pair in its
 * own lane (vpdpbusd, exact int32), converts it to f32 and accumulates it × d_x·d_y into
 * lane L + 8·(b odd) for dword L of block b, blocks in order (Q4_1/Q5_1: m_x·s_y of block
 * b into lane b % 8 of an 8-lane vector); then _mm512_reduce_add_ps (+ 0.0f, or + the
 * 8-lane hsum256 of the mins) and the < 8 trailing blocks through the dot product. Here a
 * block of 16 rows is transposed (tr16x4, the panels' lane order) into 8 dword vectors of
 * unsigned quants (Q8_0: q + 128; Q5: the fifth bits through a 16-entry vpermd table);
 * per token, dword L's activation bytes are broadcast and one vpdpbusd started from the
 * token's corr = -off·Σ of those 4 bytes (Q8_0 off = 128, Q5_0 16: aux + 2·nb, 8 int32 per
 * block; Q4_1/Q5_1 none) gives the same int32 for 16 rows; cvt and the fma with
 * d_x·d_y go to accumulator vector L + 8·(b odd) of the token (the mins to vector b % 8 of
 * another 8). The vectors are then added in the pairings of gcc's _mm512_reduce_add_ps
 * (lane i + lane i+8, then +4, +2, +1) and of hsum256 (f32 addition is commutative), so
 * every (row, token) result is bit-identical to the tile with one token, while the
 * transpose, scale gathers and prefetch are done once per block for up to 8 tokens. The
 * accumulators live in a stack array. aux per token: d_y[nb] (f32), then Q8_1 s_y[nb]
 * (f32; Q8_0: unused), then corr. 16·rs < 2^31. */
enum { MV16_Q8_0, MV16_Q4_1, MV16_Q5_0, MV16_Q5_1 };

static inline __attribute__((always_inline)) void mv16_leg_b(const int KIND, const int NT, int64_t n, const uint8_t *x,
                                                              size_t rs, const uint8_t *vy, size_t by, const float *aux,
                                                              size_t aux_stride, float *out, size_t ldo) {
    const size_t bs = KIND == MV16_Q8_0 ? sizeof(block_q8_0)
                      : KIND == MV16_Q4_1 ? sizeof(block_q4_1)
                      : KIND == MV16_Q5_0 ? sizeof(block_q5_0)
                                          : sizeof(block_q5_1);
    const size_t qs_off = KIND == MV16_Q8_0 ? offsetof(block_q8_0, qs)
                          : KIND == MV16_Q4_1 ? offsetof(block_q4_1, qs)
                          : KIND == MV16_Q5_0 ? offsetof(block_q5_0, qs)
                                              : offsetof(block_q5_1, qs);
    const size_t qh_off = KIND == MV16_Q5_0 ? offsetof(block_q5_0, qh) : offsetof(block_q5_1, qh);
    const int has_min = KIND == MV16_Q4_1 || KIND == MV16_Q5_1, has_corr = KIND == MV16_Q8_0 || KIND == MV16_Q5_0;
    const int q5 = KIND == MV16_Q5_0 || KIND == MV16_Q5_1;
    const size_t ybs = has_min ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const uint8_t *yq = vy + (has_min ? offsetof(block_q8_1, qs) : offsetof(block_q8_0, qs));
    const int64_t nb = n / 32, nb8 = nb & ~(int64_t)7;
    const __m512i sgn = _mm512_set1_epi8((char)0x80), m4 = _mm512_set1_epi8(0x0F), zero = _mm512_setzero_si512();
    /* entry v: byte i = 16 where bit i of v is set (the fifth bits of 4 quants) */
    const __m512i t5 = _mm512_setr_epi32(0, 0x10, 0x1000, 0x1010, 0x100000, 0x100010, 0x101000, 0x101010, 0x10000000,
                                         0x10000010, 0x10001000, 0x10001010, 0x10100000, 0x10100010, 0x10101000, 0x10101010);
    const __m512i goff = _mm512_mullo_epi32(p16_perm(), _mm512_set1_epi32((int)rs));
    const size_t step = nb8 ? (16 * rs + (size_t)nb8 - 1) / (size_t)nb8 : 0; /* panel bytes per block */
    const size_t pf_step = 16 * rs <= MV16_PF_MAX_PANEL ? step : 0;
    const char *pf = (const char *)x + 16 * rs;
    _Alignas(64) __m512 acc[8][16];
    _Alignas(64) __m512 accm[8][8];
    for (int t = 0; t < NT; t++) {
        for (int l = 0; l < 16; l++) acc[t][l] = _mm512_setzero_ps();
        if (has_min)
            for (int l = 0; l < 8; l++) accm[t][l] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb8; b++, pf += step) {
        const uint8_t *xb = x + (size_t)b * bs;
        for (size_t l = 0; l < pf_step; l += 64) _mm_prefetch(pf + l, _MM_HINT_T0); /* never faults */
        __m512i U[8];
        if (KIND == MV16_Q8_0) {
            tr16x4(xb + qs_off, rs, U);
            tr16x4(xb + qs_off + 16, rs, U + 4);
            for (int d = 0; d < 8; d++) U[d] = _mm512_xor_si512(U[d], sgn);
        } else {
            __m512i G[4];
            tr16x4(xb + qs_off, rs, G);
            for (int d = 0; d < 4; d++)
                U[d] = _mm512_and_si512(G[d], m4), U[d + 4] = _mm512_and_si512(_mm512_srli_epi16(G[d], 4), m4);
            if (q5) {
                const __m512i qh = _mm512_i32gather_epi32(goff, xb + qh_off, 1);
                for (int d = 0; d < 8; d++) U[d] = _mm512_or_si512(U[d], _mm512_permutexvar_epi32(_mm512_srli_epi32(qh, 4 * d), t5));
            }
        }
        /* d (and m) of the 16 rows: the dword gathered at each row's block start */
        const __m512i dm = _mm512_i32gather_epi32(goff, xb, 1);
        const __m512 dx = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dm));
        const __m512 mx = has_min ? _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dm, 16))) : dx;
        for (int t = 0; t < NT; t++) {
            const float *a = aux + (size_t)t * aux_stride;
            const int32_t *corr = (const int32_t *)(const void *)(a + 2 * nb) + 8 * b;
            const uint8_t *y = yq + (size_t)t * by + (size_t)b * ybs;
            const __m512 sc = _mm512_mul_ps(dx, _mm512_set1_ps(a[b]));
            __m512 *A = acc[t] + 8 * (b & 1);
#pragma GCC unroll 8
            for (int d = 0; d < 8; d++) {
                const __m512i s = _mm512_dpbusd_epi32(has_corr ? _mm512_set1_epi32(corr[d]) : zero, U[d], bcast32(y + 4 * d));
                A[d] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, A[d]);
            }
            if (has_min) accm[t][b & 7] = _mm512_fmadd_ps(mx, _mm512_set1_ps(a[nb + b]), accm[t][b & 7]);
        }
    }
    const __m512i perm = p16_perm();
    for (int t = 0; t < NT; t++) {
        const __m512 *A = acc[t];
        __m512 u[8];
        for (int i = 0; i < 8; i++) u[i] = _mm512_add_ps(A[i + 8], A[i]);
        for (int i = 0; i < 4; i++) u[i] = _mm512_add_ps(u[i + 4], u[i]);
        __m512 r = _mm512_add_ps(_mm512_add_ps(u[0], u[2]), _mm512_add_ps(u[1], u[3]));
        if (has_min) {
            const __m512 *M = accm[t];
            __m512 v[4];
            for (int i = 0; i < 4; i++) v[i] = _mm512_add_ps(M[i], M[i + 4]);
            r = _mm512_add_ps(r, _mm512_add_ps(_mm512_add_ps(v[0], v[2]), _mm512_add_ps(v[1], v[3])));
        } else {
            r = _mm512_add_ps(r, _mm512_setzero_ps());
        }
        r = _mm512_permutexvar_ps(perm, r);
        if (nb8 < nb) {
            _Alignas(64) float tail[16];
            const uint8_t *yt = vy + (size_t)t * by + (size_t)nb8 * ybs;
            for (int p = 0; p < 16; p++) {
                const uint8_t *xt = x + (size_t)p * rs + (size_t)nb8 * bs;
                const int64_t nt = n - 32 * nb8;
                tail[p] = KIND == MV16_Q8_0 ? dot_q8_0(nt, xt, yt)
                          : KIND == MV16_Q4_1 ? dot_q4_1(nt, xt, yt)
                          : KIND == MV16_Q5_0 ? dot_q5_0(nt, xt, yt)
                                              : dot_q5_1(nt, xt, yt);
            }
            r = _mm512_add_ps(r, _mm512_load_ps(tail));
        } else {
            r = _mm512_add_ps(r, _mm512_setzero_ps());
        }
        _mm512_storeu_ps(out + (size_t)t * ldo, r);
    }
}

#define LO_MV16_LEG(name, KIND)                                                                                   \
    static void name(int64_t n, const void *vx, size_t rs, const void *vy, size_t by, const float *aux,            \
                     size_t aux_stride, int nt, float *out, size_t ldo) {                                         \
        const uint8_t *x = vx, *y = vy;                                                                           \
        LO_ASSERT(nt >= 1 && nt <= 8);                                                                            \
        switch (nt) {                                                                                             \
        case 1: mv16_leg_b(KIND, 1, n, x, rs, y, by, aux, aux_stride, out, ldo); break;                           \
        case 2: mv16_leg_b(KIND, 2, n, x, rs, y, by, aux, aux_stride, out, ldo); break;                           \
        case 3: mv16_leg_b(KIND, 3, n, x, rs, y, by, aux, aux_stride, out, ldo); break;                           \
        case 4: mv16_leg_b(KIND, 4, n, x, rs, y, by, aux, aux_stride, out, ldo); break;                           \
        case 5: mv16_leg_b(KIND, 5, n, x, rs, y, by, aux, aux_stride, out, ldo); break;                           \
        case 6: mv16_leg_b(KIND, 6, n, x, rs, y, by, aux, aux_stride, out, ldo); break;                           \
        case 7: mv16_leg_b(KIND, 7, n, x, rs, y, by, aux, aux_stride, out, ldo); break;                           \
        default: mv16_leg_b(KIND, 8, n, x, rs, y, by, aux, aux_stride, out, ldo); break;                          \
        }                                                                                                         \
    }
LO_MV16_LEG(mv16_q8_0, MV16_Q8_0)
LO_MV16_LEG(mv16_q4_1, MV16_Q4_1)
LO_MV16_LEG(mv16_q5_0, MV16_Q5_0)
LO_MV16_LEG(mv16_q5_1, MV16_Q5_1)

/* ---- Q4_K matvec (one token), 4 weight rows per pass ------------------------------------
 * The activation vectors of a super-block are loaded once for the 4 rows. A 64-byte run
 * of nibbles holds sub-blocks (2c, 2c+1) of chunk c twice over: its low nibbles are
 * sub-block 2c (bytes 0..31) and 2c+2 (32..63), so vpdpbusd of the unsigned nibbles against
 * [y(2c) | y(2c+2)] gives per-lane sums (|lane| ≤ 4·15·127, int16-safe) of two
 * sub-blocks; two such vectors packed to int16 meet the 6-bit scales in one vpdpwssd.
 * The 4 rows' scales and mins are unpacked together (one row per 128-bit lane) and the
 * min term Σ m_j·(bsums_2j + bsums_2j+1) of the 4 rows is one vpmaddwd. */
static inline __m512i idx_k4_scale(int r, int base) {
    short v[32];
    for (int i = 0; i < 32; i++) v[i] = (short)(8 * r + base + (i / 16) * 2 + ((i % 8) >= 4));
    return _mm512_loadu_si512((const void *)v);
}

#ifndef MV4_PF_BYTES
#define MV4_PF_BYTES 0
#endif
/* nt ≤ 4 tokens (Q8_K rows by bytes apart, outputs ldo floats apart): the 4 rows' heads,
 * scales and nibbles are decoded once per super-block for all of them; each token's sums
 * and f32 accumulation are exactly those of the one-token pass. */
static inline __attribute__((always_inline)) void mv4_q4_K_b(const int NT, int64_t n, const uint8_t *x, size_t rs,
                                                              const uint8_t *vy, size_t by, float *out, size_t ldo) {
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F), zero = _mm512_setzero_si512();
    /* scale/min unpack of a 16-byte block head [d, dmin, scales[12]] (q[k] at byte 4+k):
     * A gathers q[j] (sc j<4), q[j+4] (sc j≥4, min all j); B gathers the top-2-bit bytes */
    const __m512i shA = _mm512_broadcast_i32x4(_mm_setr_epi8(4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15));
    const __m512i shB = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 4, 5, 6, 7, 0, 0, 0, 0, 8, 9, 10, 11));
    const __m512i mkT = _mm512_broadcast_i32x4(_mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0));
    const __m512i mkU = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15));
    const __m512i mkV = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 48, 48, 48, 48, 0, 0, 0, 0, 48, 48, 48, 48));
    __m512i iA[4], iB[4];
    for (int r = 0; r < 4; r++) iA[r] = idx_k4_scale(r, 0), iB[r] = idx_k4_scale(r, 4);
    const __m512i dmidx = _mm512_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 5, 5, 7, 7, 7, 7);
    __m512 acc[4][4], accm[4];
    for (int t = 0; t < NT; t++) {
        accm[t] = _mm512_setzero_ps();
        for (int r = 0; r < 4; r++) acc[r][t] = _mm512_setzero_ps();
    }
    const size_t step = nb ? (4 * rs + (size_t)nb - 1) / (size_t)nb : 0; /* group bytes per super-block */
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = x + (size_t)i * sizeof(block_q4_K);
        /* the 4 interleaved row streams defeat the hardware prefetcher: the group's 4·rs
         * bytes are fetched as one linear stream, MV4_PF_BYTES ahead (prefetches never
         * fault, so running past the matrix is harmless) */
        {
            const char *pf = (const char *)x + 4 * rs + MV4_PF_BYTES + (size_t)i * step;
            for (size_t l = 0; l < step; l += 64) _mm_prefetch(pf + l, _MM_HINT_T0);
        }
        /* heads of the 4 rows, one per 128-bit lane */
        __m512i Hd = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)xb));
        Hd = _mm512_inserti32x4(Hd, _mm_loadu_si128((const __m128i *)(xb + rs)), 1);
        Hd = _mm512_inserti32x4(Hd, _mm_loadu_si128((const __m128i *)(xb + 2 * rs)), 2);
        Hd = _mm512_inserti32x4(Hd, _mm_loadu_si128((const __m128i *)(xb + 3 * rs)), 3);
        const __m512i A = _mm512_shuffle_epi8(Hd, shA), B = _mm512_shuffle_epi8(Hd, shB);
        const __m512i SM = _mm512_or_si512(
            _mm512_or_si512(_mm512_and_si512(A, mkT), _mm512_and_si512(_mm512_srli_epi16(A, 4), mkU)),
            _mm512_and_si512(_mm512_srli_epi16(B, 2), mkV));
        const __m512i Zs = _mm512_unpacklo_epi8(SM, zero), Zm = _mm512_unpackhi_epi8(SM, zero);
        const __m512i dw = _mm512_maskz_compress_epi32(0x1111, Hd);
        const __m512 dxm = _mm512_castps256_ps512(_mm256_cvtph_ps(_mm512_castsi512_si128(dw)));
        __m512 D[4];
        for (int t = 0; t < NT; t++) {
            const block_q8_K *y = (const block_q8_K *)(const void *)(vy + (size_t)t * by) + i;
            /* bsum pairs as 8 int16, in every 128-bit lane */
            __m256i bp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), _mm256_set1_epi16(1));
            __m128i bp16 = _mm_packs_epi32(_mm256_castsi256_si128(bp), _mm256_extracti128_si256(bp, 1));
            const __m512i YB = _mm512_broadcast_i32x4(bp16);
            /* [d_r, dmin_r] · d_y as f32 in lanes 2r, 2r+1 */
            D[t] = _mm512_mul_ps(dxm, _mm512_set1_ps(y->d));
            accm[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_madd_epi16(Zm, YB)), _mm512_permutexvar_ps(dmidx, D[t]), accm[t]);
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const uint8_t *q4 = xb + (size_t)r * rs + 16;
            const __m512i X0 = _mm512_loadu_si512((const void *)q4), X1 = _mm512_loadu_si512((const void *)(q4 + 64));
            const __m512i n0 = _mm512_and_si512(X0, m4), n1 = _mm512_and_si512(_mm512_srli_epi16(X0, 4), m4);
            const __m512i n2 = _mm512_and_si512(X1, m4), n3 = _mm512_and_si512(_mm512_srli_epi16(X1, 4), m4);
            const __m512i SA = _mm512_permutexvar_epi16(iA[r], Zs), SB = _mm512_permutexvar_epi16(iB[r], Zs);
            for (int t = 0; t < NT; t++) {
                const int8_t *q8 = ((const block_q8_K *)(const void *)(vy + (size_t)t * by) + i)->qs;
                const __m512i s0 = _mm512_dpbusd_epi32(zero, n0, load2x32(q8, q8 + 64));
                const __m512i s1 = _mm512_dpbusd_epi32(zero, n1, load2x32(q8 + 32, q8 + 96));
                const __m512i s2 = _mm512_dpbusd_epi32(zero, n2, load2x32(q8 + 128, q8 + 192));
                const __m512i s3 = _mm512_dpbusd_epi32(zero, n3, load2x32(q8 + 160, q8 + 224));
                __m512i p = _mm512_dpwssd_epi32(zero, _mm512_packs_epi32(s0, s1), SA);
                p = _mm512_dpwssd_epi32(p, _mm512_packs_epi32(s2, s3), SB);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(_mm512_set1_epi32(2 * r), D[t]), acc[r][t]);
            }
        }
    }
    /* the min term: row r in lanes 4r..4r+3 */
    for (int t = 0; t < NT; t++) {
        float m[16];
        _mm512_storeu_ps(m, accm[t]);
        for (int r = 0; r < 4; r++)
            out[(size_t)t * ldo + r] = _mm512_reduce_add_ps(acc[r][t]) - (m[4 * r] + m[4 * r + 1] + m[4 * r + 2] + m[4 * r + 3]);
    }
}

/* The exported 4-row entry: the body specialised per token count (1..4). */
#define LO_MV4_DISPATCH(name)                                                                                   \
    static void name(int64_t n, const void *vx, size_t rs, const void *vy, size_t by, int nt, float *out, size_t ldo) { \
        LO_ASSERT(nt >= 1 && nt <= 4);                                                                          \
        switch (nt) {                                                                                           \
        case 1: name##_b(1, n, vx, rs, vy, by, out, ldo); break;                                                \
        case 2: name##_b(2, n, vx, rs, vy, by, out, ldo); break;                                                \
        case 3: name##_b(3, n, vx, rs, vy, by, out, ldo); break;                                                \
        default: name##_b(4, n, vx, rs, vy, by, out, ldo); break;                                               \
        }                                                                                                       \
    }
LO_MV4_DISPATCH(mv4_q4_K)

/* ---- Q6_K matvec (one token), 4 weight rows per pass ------------------------------------
 * The activation vectors of a super-block are loaded once for the 4 rows. Per 128-element
 * half c, [ql low nibbles | qh bits] give elements 128c+0..63 in order and [ql high
 * nibbles | qh bits] 128c+64..127 (as in dot_q6_K), as unsigned 6-bit q. vpdpbusd of q
 * against y gives lanes of 4 products (|lane| ≤ 4·63·128 < 2^15, int16-safe); packing two
 * such vectors to int16 puts in each 128-bit lane k the 4 lanes of sub-block k of both
 * (16 elements each), which meet their int8 scales (as int16) in one vpdpwssd. The -32
 * offset is 32·Σ_g sc_g·bsums_g, subtracted from the integer sum per super-block. No
 * software prefetch: 4 streams are followed well by the hardware (with mv4_q4_K's
 * one-group-ahead prefetch it measured 7.3-9.0 GB/s, without 9.0-10.7, one thread). */
static inline __attribute__((always_inline)) void mv4_q6_K_b(const int NT, int64_t n, const uint8_t *x, size_t rs,
                                                              const uint8_t *vy, size_t by, float *out, size_t ldo) {
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30), zero = _mm512_setzero_si512();
    /* qh shifts: bits (0,1)→(4,5) in bytes 0..31, (2,3)→(4,5) in 32..63; high nibbles take bits (4,5), (6,7) */
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
    /* int16 scale index per word: lane k, words 0..3 → sub-block 8c+k, words 4..7 → 8c+4+k */
    __m512i isc[2];
    for (int c = 0; c < 2; c++) {
        short v[32];
        for (int i = 0; i < 32; i++) v[i] = (short)(8 * c + (i / 8) + ((i % 8) >= 4 ? 4 : 0));
        isc[c] = _mm512_loadu_si512((const void *)v);
    }
    __m512 acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = x + (size_t)i * sizeof(block_q6_K);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const block_q6_K *b = (const block_q6_K *)(const void *)(xb + (size_t)r * rs);
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
            const __m512i sc = _mm512_castsi256_si512(sc16);
            /* the row's 6-bit quants of both halves and their scale vectors, for every token */
            __m512i qa[2], qb[2], ps[2];
            for (int c = 0; c < 2; c++) {
                const __m512i L = _mm512_loadu_si512((const void *)(b->ql + 64 * c));
                const __m512i H = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * c)));
                qa[c] = _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_sllv_epi16(H, shl), m30));
                qb[c] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                        _mm512_and_si512(_mm512_srlv_epi16(H, shr), m30));
                ps[c] = _mm512_permutexvar_epi16(isc[c], sc);
            }
            const float dx = h2f(b->d);
            for (int t = 0; t < NT; t++) {
                const block_q8_K *y = (const block_q8_K *)(const void *)(vy + (size_t)t * by) + i;
                /* -32·Σ sc_g·bsums_g in the low 8 lanes */
                const __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y->bsums));
                __m512i sumi = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(corr, 5)));
#pragma GCC unroll 2
                for (int c = 0; c < 2; c++) {
                    const __m512i sa = _mm512_dpbusd_epi32(zero, qa[c], _mm512_loadu_si512((const void *)(y->qs + 128 * c)));
                    const __m512i sb = _mm512_dpbusd_epi32(zero, qb[c], _mm512_loadu_si512((const void *)(y->qs + 128 * c + 64)));
                    sumi = _mm512_dpwssd_epi32(sumi, _mm512_packs_epi32(sa, sb), ps[c]);
                }
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(y->d * dx), acc[r][t]);
            }
        }
    }
    for (int t = 0; t < NT; t++)
        for (int r = 0; r < 4; r++) out[(size_t)t * ldo + r] = _mm512_reduce_add_ps(acc[r][t]);
}

LO_MV4_DISPATCH(mv4_q6_K)

/* Q4_K / Q5_K (q5 = 1 adds the fifth bits): scales, mins and nibbles decoded once per
 * super-block, then for each token maddubs + vpdpwssd against the scale vectors. */
static inline __attribute__((always_inline)) void mm_k45(const int NC, int q5, int64_t n, const void *vx,
                                                         const void *vy, size_t by, float *out, size_t ldo) {
    const int64_t nb = n / QK_K;
    const size_t bx = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const __m512i m4 = _mm512_set1_epi8(0x0F), b16 = _mm512_set1_epi8(16);
    const __m512i ip[4] = {idx_pair16(0, 1), idx_pair16(2, 3), idx_pair16(4, 5), idx_pair16(6, 7)};
    __m512 acc[LO_MM_NC];
    __m256 accm[LO_MM_NC];
#pragma GCC unroll 8
    for (int c = 0; c < LO_MM_NC; c++) acc[c] = _mm512_setzero_ps(), accm[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = (const uint8_t *)vx + (size_t)i * bx;
        /* both layouts start with d, dmin, scales[12]; then (Q5_K) qh[32]; then qs[128] */
        const lo_half *dd = (const lo_half *)xb;
        const uint8_t *scales = xb + 4, *qh = xb + 16, *q4 = xb + (q5 ? 48 : 16);
        const float xd = h2f(dd[0]), xdmin = h2f(dd[1]);
        __m128i sm = k4_scales_mins(scales);
        __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
        __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));
        __m512i S[4], Q[4];
        for (int k = 0; k < 4; k++) S[k] = _mm512_permutexvar_epi16(ip[k], sc16);
        __m512i H = _mm512_setzero_si512(), bit = _mm512_inserti64x4(_mm512_set1_epi8(1), _mm256_set1_epi8(2), 1);
        if (q5) H = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qh));
        for (int h = 0; h < 2; h++) {
            __m512i X = _mm512_loadu_si512((const void *)(q4 + 64 * h));
            __m512i lo = _mm512_and_si512(X, m4), hi = _mm512_and_si512(_mm512_srli_epi16(X, 4), m4);
            Q[2 * h] = _mm512_inserti64x4(lo, _mm512_castsi512_si256(hi), 1);
            Q[2 * h + 1] = _mm512_shuffle_i64x2(lo, hi, _MM_SHUFFLE(3, 2, 3, 2));
            if (q5) {
                Q[2 * h] = _mm512_mask_add_epi8(Q[2 * h], _mm512_test_epi8_mask(H, bit), Q[2 * h], b16);
                bit = _mm512_slli_epi16(bit, 2);
                Q[2 * h + 1] = _mm512_mask_add_epi8(Q[2 * h + 1], _mm512_test_epi8_mask(H, bit), Q[2 * h + 1], b16);
                bit = _mm512_slli_epi16(bit, 2);
            }
        }
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            const block_q8_K *y = (const block_q8_K *)((const uint8_t *)vy + (size_t)c * by) + i;
            __m256i mp = _mm256_madd_epi16(mins16, _mm256_loadu_si256((const __m256i *)y->bsums));
            accm[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mp), _mm256_set1_ps(y->d * xdmin), accm[c]);
            __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                __m512i p = _mm512_maddubs_epi16(Q[k], _mm512_loadu_si512((const void *)(y->qs + 64 * k)));
                sumi = _mm512_dpwssd_epi32(sumi, p, S[k]);
            }
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(y->d * xd), acc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) out[(size_t)c * ldo] = _mm512_reduce_add_ps(acc[c]) - hsum256(accm[c]);
}
static inline __attribute__((always_inline)) void mm_q4_K_b(const int NC, int64_t n, const void *vx, const void *vy, size_t by, const float *aux, size_t aux_stride, float *out, size_t ldo) {
    (void)aux, (void)aux_stride;
    mm_k45(NC, 0, n, vx, vy, by, out, ldo);
}
static inline __attribute__((always_inline)) void mm_q5_K_b(const int NC, int64_t n, const void *vx, const void *vy, size_t by, const float *aux, size_t aux_stride, float *out, size_t ldo) {
    (void)aux, (void)aux_stride;
    mm_k45(NC, 1, n, vx, vy, by, out, ldo);
}
LO_MM_DISPATCH(mm_q4_K)
LO_MM_DISPATCH(mm_q5_K)

static inline __attribute__((always_inline)) void mm_q6_K_b(const int NC, int64_t n, const void *vx, const void *vy, size_t by, const float *aux, size_t aux_stride, float *out, size_t ldo) {
    (void)aux, (void)aux_stride;
    const block_q6_K *x = vx;
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i iq[4] = {idx_quad16(0), idx_quad16(4), idx_quad16(8), idx_quad16(12)};
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
    __m512 acc[LO_MM_NC];
#pragma GCC unroll 8
    for (int c = 0; c < LO_MM_NC; c++) acc[c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float xd = h2f(x[i].d);
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        __m512i sc = _mm512_castsi256_si512(sc16), S[4], Q[4];
        for (int k = 0; k < 4; k++) S[k] = _mm512_permutexvar_epi16(iq[k], sc);
        for (int h = 0; h < 2; h++) {
            __m512i L = _mm512_loadu_si512((const void *)(x[i].ql + 64 * h));
            __m512i H = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h)));
            Q[2 * h] = _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_sllv_epi16(H, shl), m30));
            Q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                           _mm512_and_si512(_mm512_srlv_epi16(H, shr), m30));
        }
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            const block_q8_K *y = (const block_q8_K *)((const uint8_t *)vy + (size_t)c * by) + i;
            __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y->bsums));
            __m512i sumi = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                __m512i p = _mm512_maddubs_epi16(Q[k], _mm512_loadu_si512((const void *)(y->qs + 64 * k)));
                sumi = _mm512_dpwssd_epi32(sumi, p, S[k]);
            }
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(y->d * xd), acc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) out[(size_t)c * ldo] = _mm512_reduce_add_ps(acc[c]);
}
LO_MM_DISPATCH(mm_q6_K)

/* Float weights: x converted to f32 once per 16 elements, multiplied with up to LO_MM_NC
 * tokens' f32 activations (for F16 weights these are the activations rounded through
 * f16, so every product equals the F16×F16 one). */
#define LO_FLOAT512_MM(name, LOADX)                                                                     \
    static inline __attribute__((always_inline)) void name##_b(const int NC, int64_t n, const void *vx, const void *vy, \
                                                               size_t by, const float *aux, size_t aux_stride,  \
                                                               float *out, size_t ldo) {                        \
        (void)aux, (void)aux_stride;                                                                     \
        const float *y[LO_MM_NC];                                                                        \
        __m512 acc[LO_MM_NC];                                                                            \
        _Pragma("GCC unroll 8") for (int c = 0; c < LO_MM_NC; c++) {                                                             \
            y[c] = (const float *)((const uint8_t *)vy + (size_t)(c < NC ? c : 0) * by);                 \
            acc[c] = _mm512_setzero_ps();                                                                \
        }                                                                                                \
        int64_t i = 0;                                                                                   \
        for (; i < n; i += 16) {                                                                         \
            __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);            \
            const __m512 xv = LOADX(vx, i, m);                                                           \
            _Pragma("GCC unroll 8") for (int c = 0; c < NC; c++) {                                       \
                acc[c] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, y[c] + i), acc[c]);               \
            }                                                                                            \
        }                                                                                                \
        _Pragma("GCC unroll 8") for (int c = 0; c < NC; c++) out[(size_t)c * ldo] = _mm512_reduce_add_ps(acc[c]);                \
    }                                                                                                    \
    LO_MM_DISPATCH(name)
static inline __m512 ldx_f32(const void *x, int64_t i, __mmask16 m) { return _mm512_maskz_loadu_ps(m, (const float *)x + i); }
static inline __m512 ldx_f16(const void *x, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)x + i));
}
LO_FLOAT512_MM(mm_f32, ldx_f32)
LO_FLOAT512_MM(mm_f16, ldx_f16)

/* x rounded through f16 and back: exactly the values the F16 activation row holds,
 * kept as f32 for the float tiles. Same rounding as lo_f32_to_f16 (F16C, nearest even).
 * (BF16 has its own kernels in vecdot_bf16.c.) */
void lo_round_f16_avx512(const float *x, float *y, int64_t n);
void lo_round_f16_avx512(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    for (; i < n; i++) y[i] = lo_f16_to_f32(lo_f32_to_f16(x[i]));
}
/* ---- activation quantisers (bit-exact with lo_quant_q8_0_x86 / _q8_1_x86 / f16) ------- */

/* As ggml-cpu's x86 quantize_row_q8_0: d = amax/127, q = round-half-even(x · 127/amax). */
static void quant_q8_0(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        y[i].d = _cvtss_sh(amax / 127.f, _MM_FROUND_TO_NEAREST_INT);
        const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
        __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)y[i].qs, _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(y[i].qs + 16), _mm512_cvtsepi32_epi8(q1));
    }
}

/* As ggml-cpu's x86 quantize_row_q8_1: Q8_0 plus s = d · Σq. */
static void quant_q8_1(const float *x, void *dst, int64_t n) {
    block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float d = amax / 127.f;
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
        __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)y[i].qs, _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(y[i].qs + 16), _mm512_cvtsepi32_epi8(q1));
        const int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        y[i].s = _cvtss_sh(d * (float)sum, _MM_FROUND_TO_NEAREST_INT);
    }
}

/* As lo_quant_q8_K (bit-exact): max = the first element of largest |x|, iscale =
 * -127/max, q = min(127, round-half-even(iscale·x)) (what its nearest_int does in range),
 * bsums of each 16, d = 1/iscale. A block with NaNs goes through the scalar code. */
static void quant_q8_K(const float *x, void *dst, int64_t n) {
    block_q8_K *y = dst;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        __m512 mx = _mm512_setzero_ps();
        for (int j = 0; j < QK_K; j += 16) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
        const float amax = _mm512_reduce_max_ps(mx);
        int first = -1;
        for (int j = 0; j < QK_K && first < 0; j += 16) {
            __mmask16 eq = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + j)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (eq) first = j + __builtin_ctz(eq);
        }
        int nan = 0;
        for (int j = 0; j < QK_K; j += 16) nan |= _mm512_cmp_ps_mask(_mm512_loadu_ps(x + j), _mm512_loadu_ps(x + j), _CMP_UNORD_Q) != 0;
        if (nan || first < 0 || amax == 0.0f) {
            lo_quant_q8_K(x, y + i, QK_K);
            continue;
        }
        const float iscale = -127.f / x[first];
        const __m512 is = _mm512_set1_ps(iscale);
        const __m512i hi = _mm512_set1_epi32(127);
        for (int j = 0; j < QK_K; j += 16) {
            __m512i q = _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + j), is), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q = _mm512_min_epi32(q, hi);
            _mm_storeu_si128((__m128i *)(y[i].qs + j), _mm512_cvtsepi32_epi8(q));
            y[i].bsums[j / 16] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y[i].d = 1 / iscale;
    }
}

/* f32 → f16, round to nearest even (as F16C and lo_f32_to_f16). */
static void quant_f16(const float *x, void *dst, int64_t n) {
    uint16_t *h = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(h + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) h[i] = lo_f32_to_f16(x[i]);
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

typedef float (*lo_vec_dot_fn)(int64_t n, const void *x, const void *y);
lo_vec_dot_fn lo_vec_dot_avx512_get(uint32_t type);

lo_vec_dot_fn lo_vec_dot_avx512_get(uint32_t type) {
    const lo_cpu_features *f = lo_cpu_get_features();
    if (!(f->avx512f && f->avx512bw && f->avx512vl)) return NULL;
    switch (type) {
    case LO_DTYPE_F32: return dot_f32;
    case LO_DTYPE_F16: return dot_f16;
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

typedef void (*lo_quant_fn)(const float *src, void *dst, int64_t n);
lo_quant_fn lo_quant_act_avx512_get(uint32_t type);

/* The activation quantiser for a vec_dot_type, or NULL (use the scalar one). */
lo_quant_fn lo_quant_act_avx512_get(uint32_t type) {
    const lo_cpu_features *f = lo_cpu_get_features();
    if (!(f->avx512f && f->avx512bw && f->avx512vl && f->f16c)) return NULL;
    switch (type) {
    case LO_DTYPE_Q8_0: return quant_q8_0;
    case LO_DTYPE_Q8_1: return quant_q8_1;
    case LO_DTYPE_F16: return quant_f16;
    case LO_DTYPE_Q8_K: return quant_q8_K;
    default: return NULL;
    }
}

typedef void (*lo_mm_fn)(int64_t n, const void *x, const void *y, size_t by, const float *aux, size_t aux_stride,
                         int nc, float *out, size_t ldo);
lo_mm_fn lo_mm_avx512_get(uint32_t type, int *max_nc);

/* The one-row × up-to-max_nc-tokens tile kernel for a weight type, or NULL. */
lo_mm_fn lo_mm_avx512_get(uint32_t type, int *max_nc) {
    const lo_cpu_features *f = lo_cpu_get_features();
    *max_nc = LO_MM_NC;
    if (!(f->avx512f && f->avx512bw && f->avx512vl && f->avx512vnni)) return NULL;
    switch (type) {
    case LO_DTYPE_Q8_0: return mm_q8_0;
    case LO_DTYPE_Q4_0: return mm_q4_0;
    case LO_DTYPE_Q4_1: return mm_q4_1;
    case LO_DTYPE_Q5_0: return mm_q5_0;
    case LO_DTYPE_Q5_1: return mm_q5_1;
    case LO_DTYPE_Q4_K: return mm_q4_K;
    case LO_DTYPE_Q5_K: return mm_q5_K;
    case LO_DTYPE_Q6_K: return mm_q6_K;
    case LO_DTYPE_F32: return mm_f32;
    case LO_DTYPE_F16: return mm_f16;
    default: return NULL;
    }
}

typedef void (*lo_p16_fn)(int64_t n, const void *x, size_t rs, const void *y, size_t by, const float *aux,
                          size_t aux_stride, int nt, float *out, size_t ldo, void *cache, int mode);
lo_p16_fn lo_p16_avx512_get(uint32_t type, int *off, size_t *cache_per_block);

/* The 16-row panel kernel for a weight type (and the unsigned offset of its quants,
 * for the activation corrections), or NULL. */
lo_p16_fn lo_p16_avx512_get(uint32_t type, int *off, size_t *cache_per_block) {
    const lo_cpu_features *f = lo_cpu_get_features();
    *off = 0;
    *cache_per_block = 64 * (type == LO_DTYPE_Q4_K ? 4 : type == LO_DTYPE_Q6_K ? 5 : 1);
    if (!(f->avx512f && f->avx512bw && f->avx512vl && f->avx512vnni && f->f16c)) return NULL;
    switch (type) {
    case LO_DTYPE_Q4_0: *off = 8; return p16_q4_0;
    case LO_DTYPE_Q8_0: *off = 128; return p16_q8_0;
    case LO_DTYPE_Q4_K: return p16_q4_K;
    case LO_DTYPE_Q6_K: return p16_q6_K;
    default: return NULL;
    }
}

typedef float (*lo_mv_fn)(int64_t n, const void *x, const float *aux);
lo_mv_fn lo_mv_avx512_get(uint32_t type);

/* The one-token kernel reading pre-arranged activations (see mv_q4_0), or NULL. */
lo_mv_fn lo_mv_avx512_get(uint32_t type) {
    const lo_cpu_features *f = lo_cpu_get_features();
    if (!(f->avx512f && f->avx512bw && f->avx512vl && f->avx512vnni && f->f16c)) return NULL;
    return type == LO_DTYPE_Q4_0 ? mv_q4_0 : NULL;
}

typedef void (*lo_mv16_fn)(int64_t n, const void *x, size_t rs, const void *y, size_t by, const float *aux,
                           size_t aux_stride, int nt, float *out, size_t ldo);
lo_mv16_fn lo_mv16_avx512_get(uint32_t type);

/* The one-token kernel for 16 weight rows (rs bytes apart) on Q8_0 / Q8_1 activations
 * plus their aux (d_y, then corr or s_y and corr), for up to 8 tokens at once, or NULL. */
lo_mv16_fn lo_mv16_avx512_get(uint32_t type) {
    const lo_cpu_features *f = lo_cpu_get_features();
    if (!(f->avx512f && f->avx512bw && f->avx512vl && f->avx512vnni && f->f16c)) return NULL;
    switch (type) {
    case LO_DTYPE_Q4_0: return mv16_q4_0;
    case LO_DTYPE_Q8_0: return mv16_q8_0;
    case LO_DTYPE_Q4_1: return mv16_q4_1;
    case LO_DTYPE_Q5_0: return mv16_q5_0;
    case LO_DTYPE_Q5_1: return mv16_q5_1;
    default: return NULL;
    }
}

typedef void (*lo_mv4_fn)(int64_t n, const void *x, size_t rs, const void *y, size_t by, int nt, float *out,
                          size_t ldo);
lo_mv4_fn lo_mv4_avx512_get(uint32_t type);

/* The one-token kernel for 4 weight rows (rs bytes apart) × one activation row, or NULL. */
lo_mv4_fn lo_mv4_avx512_get(uint32_t type) {
    const lo_cpu_features *f = lo_cpu_get_features();
    if (!(f->avx512f && f->avx512bw && f->avx512vl && f->avx512vnni && f->f16c)) return NULL;
    switch (type) {
    case LO_DTYPE_Q4_K: return mv4_q4_K;
    case LO_DTYPE_Q6_K: return mv4_q6_K;
    default: return NULL;
    }
}

#else /* not x86-64 GCC/Clang */
typedef void (*lo_mv16_fn)(int64_t n, const void *x, size_t rs, const void *y, size_t by, const float *aux,
                           size_t aux_stride, int nt, float *out, size_t ldo);
lo_mv16_fn lo_mv16_avx512_get(uint32_t type);
lo_mv16_fn lo_mv16_avx512_get(uint32_t type) {
    (void)type;
    return NULL;
}
typedef void (*lo_mv4_fn)(int64_t n, const void *x, size_t rs, const void *y, size_t by, int nt, float *out,
                          size_t ldo);
lo_mv4_fn lo_mv4_avx512_get(uint32_t type);
lo_mv4_fn lo_mv4_avx512_get(uint32_t type) {
    (void)type;
    return NULL;
}
typedef float (*lo_mv_fn)(int64_t n, const void *x, const float *aux);
lo_mv_fn lo_mv_avx512_get(uint32_t type);
lo_mv_fn lo_mv_avx512_get(uint32_t type) {
    (void)type;
    return NULL;
}
typedef void (*lo_p16_fn)(int64_t n, const void *x, size_t rs, const void *y, size_t by, const float *aux,
                          size_t aux_stride, int nt, float *out, size_t ldo, void *cache, int mode);
lo_p16_fn lo_p16_avx512_get(uint32_t type, int *off, size_t *cache_per_block);
lo_p16_fn lo_p16_avx512_get(uint32_t type, int *off, size_t *cache_per_block) {
    (void)type;
    *off = 0;
    *cache_per_block = 0;
    return NULL;
}
typedef void (*lo_mm_fn)(int64_t n, const void *x, const void *y, size_t by, const float *aux, size_t aux_stride,
                         int nc, float *out, size_t ldo);
lo_mm_fn lo_mm_avx512_get(uint32_t type, int *max_nc);
lo_mm_fn lo_mm_avx512_get(uint32_t type, int *max_nc) {
    (void)type;
    *max_nc = 1;
    return NULL;
}
void lo_round_f16_avx512(const float *x, float *y, int64_t n);
void lo_round_f16_avx512(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = lo_f16_to_f32(lo_f32_to_f16(x[i]));
}
typedef void (*lo_quant_fn)(const float *src, void *dst, int64_t n);
lo_quant_fn lo_quant_act_avx512_get(uint32_t type);
lo_quant_fn lo_quant_act_avx512_get(uint32_t type) {
    (void)type;
    return NULL;
}
typedef float (*lo_vec_dot_fn)(int64_t n, const void *x, const void *y);
lo_vec_dot_fn lo_vec_dot_avx512_get(uint32_t type);
lo_vec_dot_fn lo_vec_dot_avx512_get(uint32_t type) {
    (void)type;
    return NULL;
}
#endif
