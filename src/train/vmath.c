/* train: the element-wise kernels of the step — exp with max/sum for softmax rows, SiLU·up
 * and its gradient — AVX-512 and AVX2 versions (a polynomial exp, ~1 ulp) chosen at run time
 * by lo_isa_current(), a scalar fallback on libm's expf. */
#include <math.h>

#include "llmops/tensor.h"
#include "train/train_internal.h"

/* ---- scalar ------------------------------------------------------------------------------- */

static float max_scalar(const float *z, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = z[i] > mx ? z[i] : mx;
    return mx;
}

static double exp_sum_scalar(float *z, int64_t n, float m) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (z[i] = expf(z[i] - m));
    return sum;
}

static void exp_scalar(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
}

static void silu_fwd_scalar(float *h, const float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        h[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

static void silu_bwd_scalar(float *dgate, float *dup, const float *dh, const float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float x = gate[i], sg = 1.0f / (1.0f + expf(-x));
        dup[i] = dh[i] * x * sg;
        dgate[i] = dh[i] * up[i] * sg * (1.0f + x * (1.0f - sg));
    }
}

/* ---- AVX-512 / AVX2 ---------------------------------------------------------------------- */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#endif

/* e^x = 2^n · e^r, n = round(x·log2 e), r = x − n·ln 2 (ln 2 in two parts) in
 * [−ln2/2, ln2/2], e^r by its degree-7 Taylor polynomial (truncation < 6e-9 relative).
 * AVX-512: vscalefps applies 2^n with the right overflow (inf) and underflow (subnormal,
 * 0); x is clamped to [−104, 89] first, beyond which the result is 0 or inf anyway. */
#define EXP_C(k) (1.0f / (k))
static inline __m512 exp16(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(89.0f)), _mm512_set1_ps(-104.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
    __m512 p = _mm512_set1_ps(EXP_C(5040.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C(720.0f)));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C(120.0f)));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C(24.0f)));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C(6.0f)));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static float max_avx512(const float *z, int64_t n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(z + i));
    if (i < n)
        m = _mm512_mask_max_ps(m, (__mmask16)((1u << (n - i)) - 1), m,
                               _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1), z + i));
    return _mm512_reduce_max_ps(m);
}

/* The double sum takes each 16-float block's halves widened: as exact as the scalar loop's
 * per-element double adds up to the order of the terms. */
static double exp_sum_avx512(float *z, int64_t n, float m) {
    const __m512 vm = _mm512_set1_ps(m);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(z + i), vm));
        _mm512_storeu_ps(z + i, e);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        const __m512 e = _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, z + i), vm)));
        _mm512_mask_storeu_ps(z + i, k, e);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
}

static void exp_avx512(float *y, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, exp16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, k, exp16(_mm512_maskz_loadu_ps(k, x + i)));
    }
}

static inline __m512 sigmoid16(__m512 x) {
    return _mm512_div_ps(_mm512_set1_ps(1.0f),
                         _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

static void silu_fwd_avx512(float *h, const float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(gate + i);
        _mm512_storeu_ps(h + i, _mm512_mul_ps(_mm512_mul_ps(g, sigmoid16(g)), _mm512_loadu_ps(up + i)));
    }
    silu_fwd_scalar(h + i, gate + i, up + i, n - i);
}

static void silu_bwd_avx512(float *dgate, float *dup, const float *dh, const float *gate, const float *up, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_loadu_ps(gate + i), d = _mm512_loadu_ps(dh + i), sg = sigmoid16(x);
        _mm512_storeu_ps(dup + i, _mm512_mul_ps(_mm512_mul_ps(d, x), sg));
        const __m512 t = _mm512_fmadd_ps(x, _mm512_sub_ps(one, sg), one);
        _mm512_storeu_ps(dgate + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(d, _mm512_loadu_ps(up + i)), sg), t));
    }
    silu_bwd_scalar(dgate + i, dup + i, dh + i, gate + i, up + i, n - i);
}

/* AVX2: the same clamp and polynomial; 2^n (n in [−150, 129]) applied as 2^⌊n/2⌋ · 2^(n−⌊n/2⌋),
 * both normal floats, so the first product is exact and the second rounds once into the
 * subnormal range or overflows to inf as vscalefps does. */
static inline __m256 exp8(__m256 x) {
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(89.0f)), _mm256_set1_ps(-104.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
    __m256 p = _mm256_set1_ps(EXP_C(5040.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C(720.0f)));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C(120.0f)));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C(24.0f)));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C(6.0f)));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

static float max_avx2(const float *z, int64_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(z + i));
    float b[8], mx;
    _mm256_storeu_ps(b, m);
    mx = max_scalar(b, 8);
    for (; i < n; i++) mx = z[i] > mx ? z[i] : mx;
    return mx;
}

static double exp_sum_avx2(float *z, int64_t n, float m) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(z + i), vm));
        _mm256_storeu_ps(z + i, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double b[4], sum = 0;
    _mm256_storeu_pd(b, _mm256_add_pd(s0, s1));
    sum = (b[0] + b[1]) + (b[2] + b[3]);
    float t[8] = {0};
    for (int64_t j = 0; i + j < n; j++) t[j] = z[i + j] - m;
    _mm256_storeu_ps(t, exp8(_mm256_loadu_ps(t)));
    for (int64_t j = 0; i + j < n; j++) sum += (z[i + j] = t[j]);
    return sum;
}

static void exp_avx2(float *y, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp8(_mm256_loadu_ps(x + i)));
    float t[8] = {0};
    for (int64_t j = 0; i + j < n; j++) t[j] = x[i + j];
    _mm256_storeu_ps(t, exp8(_mm256_loadu_ps(t)));
    for (int64_t j = 0; i + j < n; j++) y[i + j] = t[j];
}

static inline __m256 sigmoid8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

static void silu_fwd_avx2(float *h, const float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        _mm256_storeu_ps(h + i, _mm256_mul_ps(_mm256_mul_ps(g, sigmoid8(g)), _mm256_loadu_ps(up + i)));
    }
    silu_fwd_scalar(h + i, gate + i, up + i, n - i);
}

static void silu_bwd_avx2(float *dgate, float *dup, const float *dh, const float *gate, const float *up, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i), d = _mm256_loadu_ps(dh + i), sg = sigmoid8(x);
        _mm256_storeu_ps(dup + i, _mm256_mul_ps(_mm256_mul_ps(d, x), sg));
        const __m256 t = _mm256_fmadd_ps(x, _mm256_sub_ps(one, sg), one);
        _mm256_storeu_ps(dgate + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(up + i)), sg), t));
    }
    silu_bwd_scalar(dgate + i, dup + i, dh + i, gate + i, up + i, n - i);
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#define LO_VMATH_X86 1
#endif

/* ---- dispatch ------------------------------------------------------------------------------- */

#ifdef LO_VMATH_X86
#define DISPATCH(name, ...)                                                                                            \
    switch (lo_isa_current()) {                                                                                        \
    case LO_ISA_AVX512:                                                                                                \
        return name##_avx512(__VA_ARGS__);                                                                             \
    case LO_ISA_AVX2:                                                                                                  \
        return name##_avx2(__VA_ARGS__);                                                                               \
    default:                                                                                                           \
        return name##_scalar(__VA_ARGS__);                                                                             \
    }
#else
#define DISPATCH(name, ...) return name##_scalar(__VA_ARGS__);
#endif

float lo_train__vmax(const float *z, int64_t n) {
    DISPATCH(max, z, n)
}
double lo_train__vexp_sum(float *z, int64_t n, float m) {
    DISPATCH(exp_sum, z, n, m)
}
void lo_train__vexp(float *y, const float *x, int64_t n) {
    DISPATCH(exp, y, x, n)
}
void lo_train__silu_fwd(float *h, const float *gate, const float *up, int64_t n) {
    DISPATCH(silu_fwd, h, gate, up, n)
}
void lo_train__silu_bwd(float *dgate, float *dup, const float *dh, const float *gate, const float *up, int64_t n) {
    DISPATCH(silu_bwd, dgate, dup, dh, gate, up, n)
}
