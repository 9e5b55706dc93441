/* tensor: BF16 kernels that reproduce llama.cpp's AVX512_BF16 numerics bit for bit (the
 * sums defined in vecdot_ref.c): the one-token dot (ggml_vec_dot_bf16), the multi-token
 * tile (tinyBLAS's BF16 gemm) and the f32 → bf16 activation conversion. Three variants:
 * native vdpbf16ps (CPUs with AVX512_BF16), and the same lane sums emulated with FMAs on
 * AVX-512F and on AVX2. The emulations run plain FMAs while tracking the smallest nonzero
 * |input|; only if some input is below 2^-50 do they redo the sum with explicit denormal
 * flushing: with every nonzero input ≥ 2^-50 every product and every rounded partial sum
 * is a multiple of 2^-114 (so 0 or ≥ 2^-114), hence no input, product or sum is ever
 * denormal and the flushing cannot change a bit. */
#include "tensor/tensor_internal.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Bit masks of one f32 lane (a bf16 pair in a dword: element 2j low, 2j+1 high). */
#define LO_BF_HI 0xFFFF0000u   /* the odd element as f32 */
#define LO_BF_EXP 0x7F800000u  /* f32 exponent: zero = zero or denormal */
#define LO_BF_SIGN 0x80000000u
/* (|bf16 bits| - 1) as u16 at or below this: nonzero and below 2^-50 (exponent < 77) */
#define LO_BF_TINY_MAX 0x267E

/* ---- AVX2 + FMA: 16 lanes as two 8-lane halves (lanes 0–7, 8–15) ------------------- */

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

/* v with every lane whose exponent is zero replaced by its signed zero (DAZ / FTZ). */
static inline __m256i flush8(__m256i v) {
    __m256i z = _mm256_cmpeq_epi32(_mm256_and_si256(v, _mm256_set1_epi32((int)LO_BF_EXP)), _mm256_setzero_si256());
    return _mm256_blendv_epi8(v, _mm256_and_si256(v, _mm256_set1_epi32((int)LO_BF_SIGN)), z);
}
static inline __m256 odd8(__m256i w) { return _mm256_castsi256_ps(flush8(_mm256_and_si256(w, _mm256_set1_epi32((int)LO_BF_HI)))); }
static inline __m256 even8(__m256i w) { return _mm256_castsi256_ps(flush8(_mm256_slli_epi32(w, 16))); }
static inline __m256 ftz8(__m256 a) { return _mm256_castsi256_ps(flush8(_mm256_castps_si256(a))); }

/* 8 vdpbf16ps lanes on 16 bf16 of x and y; with FLUSH the denormal handling, without
 * it plain FMAs (exact when no input is tiny, see the top) */
static inline __attribute__((always_inline)) __m256 dp8(const bool FLUSH, __m256 acc, __m256i xw, __m256i yw) {
    if (FLUSH) {
        acc = ftz8(_mm256_fmadd_ps(odd8(xw), odd8(yw), acc));
        return ftz8(_mm256_fmadd_ps(even8(xw), even8(yw), acc));
    }
    const __m256i hi = _mm256_set1_epi32((int)LO_BF_HI);
    acc = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(xw, hi)), _mm256_castsi256_ps(_mm256_and_si256(yw, hi)), acc);
    return _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(xw, 16)), _mm256_castsi256_ps(_mm256_slli_epi32(yw, 16)), acc);
}
static inline __m256i ld8(const uint16_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
/* running u16 minimum of |bits| - 1 (zero wraps to 0xFFFF) */
static inline __m256i track8(__m256i mn, __m256i w) {
    return _mm256_min_epu16(mn, _mm256_sub_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x7FFF)), _mm256_set1_epi16(1)));
}
static inline bool tiny8(__m256i mn) {
    __m256i le = _mm256_cmpeq_epi16(_mm256_min_epu16(mn, _mm256_set1_epi16(LO_BF_TINY_MAX)), mn);
    return !_mm256_testz_si256(le, le);
}

/* lo_hsum16_ggml of lanes lo (0–7) and hi (8–15) */
static inline float hsum16_avx2(__m256 lo, __m256 hi) {
    __m256 r = _mm256_add_ps(hi, lo);
    __m128 s = _mm_add_ps(_mm256_extractf128_ps(r, 1), _mm256_castps256_ps128(r));
    __m128 t = _mm_add_ps(s, _mm_shuffle_ps(s, s, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(t) + _mm_cvtss_f32(_mm_shuffle_ps(t, t, 1));
}

/* 64-element blocks into c1 (lanes 0–15 = elements 0..31) and c2 (32..63) */
static inline __attribute__((always_inline)) float dot8_b(const bool FLUSH, int64_t n, const uint16_t *x,
                                                          const uint16_t *y, bool *tiny) {
    __m256 c1l = _mm256_setzero_ps(), c1h = c1l, c2l = c1l, c2h = c1l;
    __m256i mn = _mm256_set1_epi16(-1);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        for (int q = 0; q < 4; q++) {
            __m256i xw = ld8(x + i + 16 * q), yw = ld8(y + i + 16 * q);
            if (!FLUSH) mn = track8(track8(mn, xw), yw);
            __m256 *c = q == 0 ? &c1l : q == 1 ? &c1h : q == 2 ? &c2l : &c2h;
            *c = dp8(FLUSH, *c, xw, yw);
        }
    }
    *tiny = !FLUSH && tiny8(mn);
    double sum = 0.0;
    sum += (double)hsum16_avx2(c1l, c1h);
    sum += (double)hsum16_avx2(c2l, c2h);
    for (; i < n; i++) sum += (double)(lo_bf2f(x[i]) * lo_bf2f(y[i]));
    return (float)sum;
}
static float dot_bf16_avx2(int64_t n, const void *vx, const void *vy) {
    bool tiny;
    float r = dot8_b(false, n, vx, vy, &tiny);
    return tiny ? dot8_b(true, n, vx, vy, &tiny) : r;
}

static inline __attribute__((always_inline)) float tile8_b(const bool FLUSH, int64_t n, const uint16_t *x,
                                                           const uint16_t *y, bool *tiny) {
    __m256 cl = _mm256_setzero_ps(), ch = cl;
    __m256i mn = _mm256_set1_epi16(-1);
    for (int64_t l = 0; l < n; l += 32) {
        __m256i xl = ld8(x + l), yl = ld8(y + l), xh = ld8(x + l + 16), yh = ld8(y + l + 16);
        if (!FLUSH) mn = track8(track8(track8(track8(mn, xl), yl), xh), yh);
        cl = dp8(FLUSH, cl, xl, yl);
        ch = dp8(FLUSH, ch, xh, yh);
    }
    *tiny = !FLUSH && tiny8(mn);
    return hsum16_avx2(cl, ch);
}
static float tile_bf16_avx2(int64_t n, const void *vx, const void *vy) {
    LO_ASSERT(n % 32 == 0);
    bool tiny;
    float r = tile8_b(false, n, vx, vy, &tiny);
    return tiny ? tile8_b(true, n, vx, vy, &tiny) : r;
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* ---- AVX-512F: FMA emulation --------------------------------------------------------- */

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma")
#endif

#define LO_BF16_MM_NC 8 /* tokens per tile call */

static inline __m512i flush16(__m512i v) {
    __mmask16 nz = _mm512_test_epi32_mask(v, _mm512_set1_epi32((int)LO_BF_EXP));
    return _mm512_mask_mov_epi32(_mm512_and_si512(v, _mm512_set1_epi32((int)LO_BF_SIGN)), nz, v);
}
static inline __m512 odd16(__m512i w) { return _mm512_castsi512_ps(flush16(_mm512_and_si512(w, _mm512_set1_epi32((int)LO_BF_HI)))); }
static inline __m512 even16(__m512i w) { return _mm512_castsi512_ps(flush16(_mm512_slli_epi32(w, 16))); }
static inline __m512 ftz16(__m512 a) { return _mm512_castsi512_ps(flush16(_mm512_castps_si512(a))); }

/* 16 vdpbf16ps lanes on pre-split operands (x odd/even, y odd/even as f32) */
static inline __attribute__((always_inline)) __m512 dp16s(const bool FLUSH, __m512 acc, __m512 xo, __m512 xe, __m512 yo,
                                                          __m512 ye) {
    if (FLUSH) {
        acc = ftz16(_mm512_fmadd_ps(xo, yo, acc));
        return ftz16(_mm512_fmadd_ps(xe, ye, acc));
    }
    return _mm512_fmadd_ps(xe, ye, _mm512_fmadd_ps(xo, yo, acc));
}
/* the odd / even halves of 16 dwords as f32, flushed to zero when FLUSH */
static inline __attribute__((always_inline)) __m512 hi16(const bool FLUSH, __m512i w) {
    return FLUSH ? odd16(w) : _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32((int)LO_BF_HI)));
}
static inline __attribute__((always_inline)) __m512 lo16(const bool FLUSH, __m512i w) {
    return FLUSH ? even16(w) : _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
static inline __attribute__((always_inline)) __m512 dp16(const bool FLUSH, __m512 acc, __m512i xw, __m512i yw) {
    return dp16s(FLUSH, acc, hi16(FLUSH, xw), lo16(FLUSH, xw), hi16(FLUSH, yw), lo16(FLUSH, yw));
}
static inline __m512i track16(__m512i mn, __m512i w) {
    return _mm512_min_epu16(mn, _mm512_sub_epi16(_mm512_and_si512(w, _mm512_set1_epi16(0x7FFF)), _mm512_set1_epi16(1)));
}
static inline bool tiny16(__m512i mn) { return _mm512_cmple_epu16_mask(mn, _mm512_set1_epi16(LO_BF_TINY_MAX)) != 0; }

/* _mm512_reduce_add_ps in GCC's order, spelled out so a clang build sums the same way */
static inline float hsum16_avx512(__m512 v) {
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    __m256 r = _mm256_add_ps(hi, _mm512_castps512_ps256(v));
    __m128 s = _mm_add_ps(_mm256_extractf128_ps(r, 1), _mm256_castps256_ps128(r));
    __m128 t = _mm_add_ps(s, _mm_shuffle_ps(s, s, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(t) + _mm_cvtss_f32(_mm_shuffle_ps(t, t, 1));
}

static inline float dot_finish(__m512 c1, __m512 c2, int64_t i, int64_t n, const uint16_t *x, const uint16_t *y) {
    double sum = 0.0;
    sum += (double)hsum16_avx512(c1);
    sum += (double)hsum16_avx512(c2);
    for (; i < n; i++) sum += (double)(lo_bf2f(x[i]) * lo_bf2f(y[i]));
    return (float)sum;
}

static inline __attribute__((always_inline)) float dot16_b(const bool FLUSH, int64_t n, const uint16_t *x,
                                                           const uint16_t *y, bool *tiny) {
    __m512 c1 = _mm512_setzero_ps(), c2 = c1;
    __m512i mn = _mm512_set1_epi16(-1);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i x1 = _mm512_loadu_si512(x + i), y1 = _mm512_loadu_si512(y + i);
        __m512i x2 = _mm512_loadu_si512(x + i + 32), y2 = _mm512_loadu_si512(y + i + 32);
        if (!FLUSH) mn = track16(track16(track16(track16(mn, x1), y1), x2), y2);
        c1 = dp16(FLUSH, c1, x1, y1);
        c2 = dp16(FLUSH, c2, x2, y2);
    }
    *tiny = !FLUSH && tiny16(mn);
    return dot_finish(c1, c2, i, n, x, y);
}
static float dot_bf16_avx512(int64_t n, const void *vx, const void *vy) {
    bool tiny;
    float r = dot16_b(false, n, vx, vy, &tiny);
    return tiny ? dot16_b(true, n, vx, vy, &tiny) : r;
}

static inline __attribute__((always_inline)) float tile16_b(const bool FLUSH, int64_t n, const uint16_t *x,
                                                            const uint16_t *y, bool *tiny) {
    __m512 c = _mm512_setzero_ps();
    __m512i mn = _mm512_set1_epi16(-1);
    for (int64_t l = 0; l < n; l += 32) {
        __m512i xw = _mm512_loadu_si512(x + l), yw = _mm512_loadu_si512(y + l);
        if (!FLUSH) mn = track16(track16(mn, xw), yw);
        c = dp16(FLUSH, c, xw, yw);
    }
    *tiny = !FLUSH && tiny16(mn);
    return hsum16_avx512(c);
}
static float tile_bf16_avx512(int64_t n, const void *vx, const void *vy) {
    LO_ASSERT(n % 32 == 0);
    bool tiny;
    float r = tile16_b(false, n, vx, vy, &tiny);
    return tiny ? tile16_b(true, n, vx, vy, &tiny) : r;
}

/* One weight row x × NC tokens (rows by bytes apart): out[c·ldo] = tile sum. The weight
 * pair is split once per 32 elements and shared by the tokens. */
static inline __attribute__((always_inline)) bool mm_emu_b(const bool FLUSH, const int NC, int64_t n, const uint16_t *x,
                                                             const uint8_t *vy, size_t by, float *out, size_t ldo) {
    __m512 acc[LO_BF16_MM_NC];
    __m512i mn = _mm512_set1_epi16(-1);
#pragma GCC unroll 8
    for (int c = 0; c < LO_BF16_MM_NC; c++) acc[c] = _mm512_setzero_ps();
    for (int64_t l = 0; l < n; l += 32) {
        __m512i xw = _mm512_loadu_si512(x + l);
        if (!FLUSH) mn = track16(mn, xw);
        const __m512 xo = hi16(FLUSH, xw), xe = lo16(FLUSH, xw);
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            __m512i yw = _mm512_loadu_si512((const uint16_t *)(vy + (size_t)c * by) + l);
            if (!FLUSH) mn = track16(mn, yw);
            acc[c] = dp16s(FLUSH, acc[c], xo, xe, hi16(FLUSH, yw), lo16(FLUSH, yw));
        }
    }
    if (!FLUSH && tiny16(mn)) return false;
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) out[(size_t)c * ldo] = hsum16_avx512(acc[c]);
    return true;
}
static inline __attribute__((always_inline)) void mm_emu_nc(const int NC, int64_t n, const uint16_t *x, const uint8_t *y,
                                                              size_t by, float *out, size_t ldo) {
    if (!mm_emu_b(false, NC, n, x, y, by, out, ldo)) mm_emu_b(true, NC, n, x, y, by, out, ldo);
}

static void mm_bf16_avx512(int64_t n, const void *vx, const void *vy, size_t by, const float *aux, size_t aux_stride,
                           int nc, float *out, size_t ldo) {
    (void)aux, (void)aux_stride;
    LO_ASSERT(n % 32 == 0 && nc >= 1 && nc <= LO_BF16_MM_NC);
    const uint16_t *x = vx;
    const uint8_t *y = vy;
    switch (nc) {
    case 1: mm_emu_nc(1, n, x, y, by, out, ldo); break;
    case 2: mm_emu_nc(2, n, x, y, by, out, ldo); break;
    case 3: mm_emu_nc(3, n, x, y, by, out, ldo); break;
    case 4: mm_emu_nc(4, n, x, y, by, out, ldo); break;
    case 5: mm_emu_nc(5, n, x, y, by, out, ldo); break;
    case 6: mm_emu_nc(6, n, x, y, by, out, ldo); break;
    case 7: mm_emu_nc(7, n, x, y, by, out, ldo); break;
    default: mm_emu_nc(8, n, x, y, by, out, ldo); break;
    }
}

/* f32 → bf16 as lo_f2bf (nearest even on the bits, NaN made quiet, no flushing). */
static void from_f32_avx512(const float *x, uint16_t *y, int64_t n) {
    const __m512i lsb = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7FFF);
    const __m512i absm = _mm512_set1_epi32(0x7FFFFFFF), inf = _mm512_set1_epi32(0x7F800000), quiet = _mm512_set1_epi32(0x00400000);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i u = _mm512_castps_si512(_mm512_loadu_ps(x + i));
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, absm), inf);
        __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(_mm512_srli_epi32(u, 16), lsb)));
        r = _mm512_mask_or_epi32(r, nan, u, quiet);
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16)));
    }
    for (; i < n; i++) y[i] = lo_f2bf(x[i]);
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* ---- AVX512_BF16: vdpbf16ps itself, as ggml uses it ----------------------------------- */

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")
#endif

static inline __m512 dpn(__m512 acc, const uint16_t *x, const uint16_t *y) {
    return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_loadu_si512(x), (__m512bh)_mm512_loadu_si512(y));
}

static float dot_bf16_native(int64_t n, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m512 c1 = _mm512_setzero_ps(), c2 = c1;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        c1 = dpn(c1, x + i, y + i);
        c2 = dpn(c2, x + i + 32, y + i + 32);
    }
    return dot_finish(c1, c2, i, n, x, y);
}

static float tile_bf16_native(int64_t n, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    LO_ASSERT(n % 32 == 0);
    __m512 c = _mm512_setzero_ps();
    for (int64_t l = 0; l < n; l += 32) c = dpn(c, x + l, y + l);
    return hsum16_avx512(c);
}

static inline __attribute__((always_inline)) void mm_nat_b(const int NC, int64_t n, const uint16_t *x,
                                                             const uint8_t *vy, size_t by, float *out, size_t ldo) {
    __m512 acc[LO_BF16_MM_NC];
#pragma GCC unroll 8
    for (int c = 0; c < LO_BF16_MM_NC; c++) acc[c] = _mm512_setzero_ps();
    for (int64_t l = 0; l < n; l += 32) {
        const __m512bh xw = (__m512bh)_mm512_loadu_si512(x + l);
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++)
            acc[c] = _mm512_dpbf16_ps(acc[c], xw, (__m512bh)_mm512_loadu_si512((const uint16_t *)(vy + (size_t)c * by) + l));
    }
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) out[(size_t)c * ldo] = hsum16_avx512(acc[c]);
}

static void mm_bf16_native(int64_t n, const void *vx, const void *vy, size_t by, const float *aux, size_t aux_stride,
                           int nc, float *out, size_t ldo) {
    (void)aux, (void)aux_stride;
    LO_ASSERT(n % 32 == 0 && nc >= 1 && nc <= LO_BF16_MM_NC);
    const uint16_t *x = vx;
    const uint8_t *y = vy;
    switch (nc) {
    case 1: mm_nat_b(1, n, x, y, by, out, ldo); break;
    case 2: mm_nat_b(2, n, x, y, by, out, ldo); break;
    case 3: mm_nat_b(3, n, x, y, by, out, ldo); break;
    case 4: mm_nat_b(4, n, x, y, by, out, ldo); break;
    case 5: mm_nat_b(5, n, x, y, by, out, ldo); break;
    case 6: mm_nat_b(6, n, x, y, by, out, ldo); break;
    case 7: mm_nat_b(7, n, x, y, by, out, ldo); break;
    default: mm_nat_b(8, n, x, y, by, out, ldo); break;
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* ---- selection ----------------------------------------------------------------------- */

static bool have(lo_bf16_variant v) {
    const lo_cpu_features *f = lo_cpu_get_features();
    switch (v) {
    case LO_BF16_AVX2: return f->avx2 && f->fma;
    case LO_BF16_AVX512: return f->avx512f && f->avx512bw && f->avx512vl && f->avx2 && f->fma;
    case LO_BF16_AVX512BF16: return f->avx512f && f->avx512bw && f->avx512vl && f->avx512bf16 && f->avx2 && f->fma;
    default: return false;
    }
}

lo_bf16_dot_fn lo_bf16_dot_get(lo_bf16_variant v, bool tile) {
    if (!have(v)) return NULL;
    switch (v) {
    case LO_BF16_AVX2: return tile ? tile_bf16_avx2 : dot_bf16_avx2;
    case LO_BF16_AVX512: return tile ? tile_bf16_avx512 : dot_bf16_avx512;
    default: return tile ? tile_bf16_native : dot_bf16_native;
    }
}

lo_bf16_mm_fn lo_bf16_mm_get(lo_bf16_variant v, int *max_nc) {
    *max_nc = LO_BF16_MM_NC;
    if (!have(v)) return NULL;
    if (v == LO_BF16_AVX512) return mm_bf16_avx512;
    if (v == LO_BF16_AVX512BF16) return mm_bf16_native;
    return NULL;
}

void lo_bf16_from_f32(const float *x, uint16_t *y, int64_t n) {
    if (have(LO_BF16_AVX512)) from_f32_avx512(x, y, n);
    else lo_quant_bf16(x, y, n);
}

#else /* not x86-64 GCC/Clang: the scalar reference only */

lo_bf16_dot_fn lo_bf16_dot_get(lo_bf16_variant v, bool tile) {
    (void)v, (void)tile;
    return NULL;
}
lo_bf16_mm_fn lo_bf16_mm_get(lo_bf16_variant v, int *max_nc) {
    (void)v;
    *max_nc = 1;
    return NULL;
}
void lo_bf16_from_f32(const float *x, uint16_t *y, int64_t n) { lo_quant_bf16(x, y, n); }

#endif
