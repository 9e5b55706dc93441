/* tensor: the element-wise activation kernels of the forward pass (RMSNorm, LayerNorm,
 * RoPE, softmax, SiLU/SwiGLU, GELU, add), written as plain loops the compiler vectorises
 * and following ggml-cpu's float formulas where the order of operations matters. */
#include "tensor/tensor_internal.h"

#include <math.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

void lo_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    /* ggml_compute_forward_rms_norm_f32: Σ (float)(x·x) in double, mean as float,
     * scale = 1/sqrtf(mean + eps), then a separate multiply by the weight. */
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    if (w)
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i];
    else
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
}

void lo_layernorm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps) {
    /* ggml_compute_forward_norm_f32: mean in double, x - mean, variance in double. */
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i];
    const float mean = (float)(sum / (double)n);
    double sum2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] - mean;
        y[i] = v;
        sum2 += (double)(v * v);
    }
    const float variance = (float)(sum2 / (double)n);
    const float scale = 1.0f / sqrtf(variance + eps);
    for (int64_t i = 0; i < n; i++) {
        float v = y[i] * scale;
        if (w) v = v * w[i];
        if (b) v = v + b[i];
        y[i] = v;
    }
}

void lo_rope_cache(float *cache, int64_t n_rot, int32_t pos, float freq_base, float freq_scale) {
    /* ggml_rope_cache_init + rope_yarn without YaRN extrapolation (ext_factor 0, mscale 1). */
    const float theta_scale = powf(freq_base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int64_t i0 = 0; i0 < n_rot; i0 += 2) {
        const float t = freq_scale * theta;
        cache[i0 + 0] = cosf(t);
        cache[i0 + 1] = sinf(t);
        theta *= theta_scale;
    }
}

void lo_rope_apply(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float *cache, bool neox) {
    for (int64_t h = 0; h < n_heads; h++) {
        float *r = x + h * head_dim;
        if (!neox) {
            for (int64_t i0 = 0; i0 < n_rot; i0 += 2) {
                const float c = cache[i0], s = cache[i0 + 1];
                const float x0 = r[i0], x1 = r[i0 + 1];
                r[i0] = x0 * c - x1 * s;
                r[i0 + 1] = x0 * s + x1 * c;
            }
        } else {
            const int64_t half = n_rot / 2;
            for (int64_t i0 = 0; i0 < n_rot; i0 += 2) {
                const float c = cache[i0], s = cache[i0 + 1];
                const int64_t i = i0 / 2;
                const float x0 = r[i], x1 = r[i + half];
                r[i] = x0 * c - x1 * s;
                r[i + half] = x0 * s + x1 * c;
            }
        }
    }
}

void lo_softmax(float *x, int64_t n) {
    if (n <= 0) return;
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float e = expf(x[i] - mx);
        x[i] = e;
        sum += (double)e;
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

static inline float silu1(float g) { return g / (1.0f + expf(-g)); }

/* e^x by the polynomial ggml-cpu's SIMD SiLU uses (Arm optimized-routines' expf, max error
 * about 1.5 ulp): x = n·ln2 + b with n rounded by the 1.5·2^23 shift trick and ln2 split in
 * two parts, e^b ≈ 1 + c0 b + c1 b² + ... + c4 b⁵ evaluated as two FMA chains in b and b²,
 * then scaled by 2^n. Outside |n| ≤ 126 the C library's expf is used (ggml takes a
 * special path there; the results agree except in the last bits). */
static inline float v_expf(float x) {
    const float shift = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, shift);
    const float n = z - shift;
    if (fabsf(n) > 126.0f) return expf(x);
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float hi = fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f));
    const float j = fmaf(hi, u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    /* j · 2^n with 2^n built from its bits (exact for |n| <= 126), one rounding as scalef */
    return j * lo_bits_f32((uint32_t)((int32_t)n + 127) << 23);
}

/* SiLU as ggml-cpu computes it on x86: lanes of full 16-wide vectors use v_expf, the
 * tail uses expf. */
static inline float silu_v(float g) { return g / (1.0f + v_expf(-g)); }

#if defined(__AVX512F__)
/* silu_v on 16 lanes with the same operations as the scalar code (so bit-identical);
 * *ok is false when a lane needs the C library's expf (|n| > 126: e^x under- or
 * overflows, or x is infinite), and the caller then does those 16 elements with the
 * scalar code. */
static inline __m512 silu16(__m512 g, bool *ok) {
    const __m512 shift = _mm512_set1_ps(0x1.8p23f);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    const __m512 x = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(g), sign)); /* -g */
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), shift);
    const __m512 n = _mm512_sub_ps(z, shift);
    const __m512 an = _mm512_abs_ps(n);
    *ok = _mm512_cmp_ps_mask(an, _mm512_set1_ps(126.0f), _CMP_GT_OQ) == 0;
    const __m512 nn = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(n), sign));
    const __m512 b = _mm512_fmadd_ps(nn, _mm512_set1_ps(0x1.7f7d1cp-20f), _mm512_fmadd_ps(nn, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 hi = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                                      _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f)));
    const __m512 j = _mm512_fmadd_ps(hi, u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    const __m512 ex = _mm512_mul_ps(j, _mm512_castsi512_ps(e));
    return _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), ex));
}
#endif

void lo_swiglu(float *y, const float *gate, const float *up, int64_t n) {
    const int64_t nv = n & ~(int64_t)15;
    int64_t i = 0;
#if defined(__AVX512F__)
    for (; i < nv; i += 16) {
        bool ok;
        const __m512 s = silu16(_mm512_loadu_ps(gate + i), &ok);
        if (ok) {
            _mm512_storeu_ps(y + i, _mm512_mul_ps(s, _mm512_loadu_ps(up + i)));
        } else {
            for (int64_t k = i; k < i + 16; k++) y[k] = silu_v(gate[k]) * up[k];
        }
    }
#endif
    for (; i < nv; i++) y[i] = silu_v(gate[i]) * up[i];
    for (int64_t k = nv; k < n; k++) y[k] = silu1(gate[k]) * up[k];
}

void lo_silu(float *y, const float *x, int64_t n) {
    const int64_t nv = n & ~(int64_t)15;
    int64_t i = 0;
#if defined(__AVX512F__)
    for (; i < nv; i += 16) {
        bool ok;
        const __m512 s = silu16(_mm512_loadu_ps(x + i), &ok);
        if (ok) {
            _mm512_storeu_ps(y + i, s);
        } else {
            for (int64_t k = i; k < i + 16; k++) y[k] = silu_v(x[k]);
        }
    }
#endif
    for (; i < nv; i++) y[i] = silu_v(x[i]);
    for (int64_t k = nv; k < n; k++) y[k] = silu1(x[k]);
}

void lo_gelu(float *y, const float *x, int64_t n) {
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f, coef_a = 0.044715f;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (v <= -10.0f) {
            y[i] = 0.0f;
        } else if (v >= 10.0f) {
            y[i] = v;
        } else {
            float h = lo_h2f(lo_f2h(v)); /* the table is indexed by x as F16 */
            float g = 0.5f * h * (1.0f + tanhf(sqrt_2_over_pi * h * (1.0f + coef_a * h * h)));
            y[i] = lo_h2f(lo_f2h(g));
        }
    }
}

void lo_add(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void lo_axpy(float *y, float a, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}
