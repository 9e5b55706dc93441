/* Dequantisation and reference quantisation of every ggml block format we support, bit
 * for bit as ggml's ggml-quants.c (the *_ref quantisers llama-quantize uses when there is
 * no importance matrix), plus the per-type dispatch of the public row functions. */
#include "tensor/tensor_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* The quantisers' float expressions must be evaluated exactly as written (no fused
 * multiply-add): GCC in ISO C mode does not contract; clang needs telling. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define GROUP_MAX_EPS 1e-15f

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* Round to nearest, ties to even, for |f| ≤ 2^22: adding 1.5·2^23 puts the integer in
 * the low mantissa bits (the float addition does the rounding). */
static inline int nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007FFFFF) - 0x00400000;
}

static inline uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ======================================================================================
 * Scalar formats
 * ====================================================================================== */

void lo_dequant_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }
void lo_quant_f32(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

void lo_dequant_f16(const void *src, float *dst, int64_t n) {
    const lo_half *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = lo_h2f(h[i]);
}
void lo_quant_f16(const float *src, void *dst, int64_t n) {
    lo_half *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = lo_f2h(src[i]);
}

void lo_dequant_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = lo_bf2f(h[i]);
}
void lo_quant_bf16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = lo_f2bf(src[i]);
}

/* ======================================================================================
 * Blocks of 32
 * ====================================================================================== */

/* Q4_0: d = (value of largest magnitude) / -8, so that value maps to q = 0 exactly. */
void lo_quant_q4_0(const float *x, void *dst, int64_t n) {
    block_q4_0 *y = dst;
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = lo_f2h(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int q0 = imin(15, (int8_t)(int)(x[j] * id + 8.5f));
            int q1 = imin(15, (int8_t)(int)(x[j + QK4_0 / 2] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void lo_dequant_q4_0(const void *src, float *dst, int64_t n) {
    const block_q4_0 *x = src;
    for (int64_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const float d = lo_h2f(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            dst[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            dst[j + QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* Q4_1: d = (max - min) / 15, m = min. */
void lo_quant_q4_1(const float *x, void *dst, int64_t n) {
    block_q4_1 *y = dst;
    for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK4_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = lo_f2h(d);
        y[i].m = lo_f2h(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int q0 = imin(15, (int8_t)(int)((x[j] - min) * id + 0.5f));
            int q1 = imin(15, (int8_t)(int)((x[j + QK4_1 / 2] - min) * id + 0.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void lo_dequant_q4_1(const void *src, float *dst, int64_t n) {
    const block_q4_1 *x = src;
    for (int64_t i = 0; i < n / QK4_1; i++, dst += QK4_1) {
        const float d = lo_h2f(x[i].d), m = lo_h2f(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            dst[j] = (x[i].qs[j] & 0x0F) * d + m;
            dst[j + QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* Q5_0: d = max / -16; bit 4 of element j goes to bit j of qh. */
void lo_quant_q5_0(const float *x, void *dst, int64_t n) {
    block_q5_0 *y = dst;
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK5_0; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = lo_f2h(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            uint32_t q0 = (uint8_t)imin(31, (int8_t)(int)(x[j] * id + 16.5f));
            uint32_t q1 = (uint8_t)imin(31, (int8_t)(int)(x[j + QK5_0 / 2] * id + 16.5f));
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= ((q0 & 0x10u) >> 4) << j;
            qh |= ((q1 & 0x10u) >> 4) << (j + QK5_0 / 2);
        }
        memcpy(y[i].qh, &qh, sizeof qh);
    }
}

void lo_dequant_q5_0(const void *src, float *dst, int64_t n) {
    const block_q5_0 *x = src;
    for (int64_t i = 0; i < n / QK5_0; i++, dst += QK5_0) {
        const float d = lo_h2f(x[i].d);
        const uint32_t qh = load_u32(x[i].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            dst[j] = (((x[i].qs[j] & 0x0F) | h0) - 16) * d;
            dst[j + QK5_0 / 2] = (((x[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

/* Q5_1: d = (max - min) / 31, m = min. */
void lo_quant_q5_1(const float *x, void *dst, int64_t n) {
    block_q5_1 *y = dst;
    for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK5_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = lo_f2h(d);
        y[i].m = lo_f2h(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            uint32_t q0 = (uint8_t)(int)((x[j] - min) * id + 0.5f);
            uint32_t q1 = (uint8_t)(int)((x[j + QK5_1 / 2] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= ((q0 & 0x10u) >> 4) << j;
            qh |= ((q1 & 0x10u) >> 4) << (j + QK5_1 / 2);
        }
        memcpy(y[i].qh, &qh, sizeof qh);
    }
}

void lo_dequant_q5_1(const void *src, float *dst, int64_t n) {
    const block_q5_1 *x = src;
    for (int64_t i = 0; i < n / QK5_1; i++, dst += QK5_1) {
        const float d = lo_h2f(x[i].d), m = lo_h2f(x[i].m);
        const uint32_t qh = load_u32(x[i].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            dst[j] = ((x[i].qs[j] & 0x0F) | h0) * d + m;
            dst[j + QK5_1 / 2] = ((x[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

/* Q8_0: d = amax / 127, q = roundf(x / d) (ties away from zero). */
void lo_quant_q8_0(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = lo_f2h(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)(int)roundf(x[j] * id);
    }
}

void lo_dequant_q8_0(const void *src, float *dst, int64_t n) {
    const block_q8_0 *x = src;
    for (int64_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const float d = lo_h2f(x[i].d);
        for (int j = 0; j < QK8_0; j++) dst[j] = x[i].qs[j] * d;
    }
}

/* Q8_1: as Q8_0 plus s = d · Σq (rounded to f16). */
void lo_quant_q8_1(const float *x, void *dst, int64_t n) {
    block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_1; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = lo_f2h(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = (int8_t)(int)roundf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = lo_f2h(sum * d);
    }
}

/* ggml-cpu's x86 SIMD activation quantisers (see tensor_internal.h). rintf rounds half to
 * even in the default rounding mode, as vroundps with _MM_ROUND_NEAREST. */
static float amax_block32(const float *x) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
    return amax;
}

void lo_quant_q8_0_x86(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        const float amax = amax_block32(x);
        y[i].d = lo_f2h(amax / 127.f);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)(int)rintf(x[j] * id);
    }
}

void lo_quant_q8_1_x86(const float *x, void *dst, int64_t n) {
    block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float amax = amax_block32(x);
        const float d = amax / 127.f;
        y[i].d = lo_f2h(d);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = (int8_t)(int)rintf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = lo_f2h(d * sum);
    }
}

void lo_dequant_q8_1(const void *src, float *dst, int64_t n) {
    const block_q8_1 *x = src;
    for (int64_t i = 0; i < n / QK8_1; i++, dst += QK8_1) {
        const float d = lo_h2f(x[i].d);
        for (int j = 0; j < QK8_1; j++) dst[j] = x[i].qs[j] * d;
    }
}

/* ======================================================================================
 * K-quant helpers (ggml's make_*_quants; float expressions in ggml's order)
 * ====================================================================================== */

/* Symmetric signed quantisation of n values to [-nmax, nmax-1] (stored + nmax in L),
 * weighted by x² (rmse_type 1, no importance weights), trying 18 scales around
 * nmax/max and keeping the best weighted least-squares fit. Returns the scale. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's sub-block quantiser: signed levels [-nmax, nmax-1] refined one element at a
 * time (up to 5 passes) to maximise (Σwxl)²/Σwl², w = x². L holds l + nmax. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = imax(-nmax, imin(nmax - 1, nearest_int(x[i] * sl2 / slx)));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric quantisation x ≈ scale·L - the_min with L in [0, nmax]: start from the
 * min/max fit, then try nstep+1 scales (rmin + rdelta·is + nmax)/(max-min), solving the
 * weighted least squares for scale and min at each and keeping the lowest weighted error
 * (absolute if use_mad, else squared). */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                              uint8_t *Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* ======================================================================================
 * Q2_K: 16 sub-blocks of 16, 2-bit q, 4-bit scale and min per sub-block
 * ====================================================================================== */

void lo_quant_q2_K(const float *x, void *dst, int64_t n) {
    block_q2_K *y = dst;
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[i].d = lo_f2h(max_scale / q4scale);
        } else {
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = 0;
            y[i].d = lo_f2h(0.f);
        }
        if (max_min > 0) {
            float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = lo_f2h(max_min / q4scale);
        } else {
            y[i].dmin = lo_f2h(0.f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = lo_h2f(y[i].d) * (y[i].scales[j] & 0xF);
            if (!d) continue;
            const float dm = lo_h2f(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (uint8_t)imax(0, imin(3, nearest_int((x[16 * j + ii] + dm) / d)));
        }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] =
                    (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

void lo_dequant_q2_K(const void *src, float *dst, int64_t n) {
    const block_q2_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = lo_h2f(x[i].d), min = lo_h2f(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int k = 0; k < QK_K; k += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2)
                for (int half = 0; half < 2; half++) {
                    uint8_t sc = x[i].scales[is++];
                    float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++) *dst++ = dl * ((q[l + 16 * half] >> shift) & 3) - ml;
                }
    }
}

/* ======================================================================================
 * Q3_K: 16 sub-blocks of 16, 3-bit q (2 bits in qs + 1 in hmask), 6-bit signed scales
 * ====================================================================================== */

/* Sub-block j's 6-bit scale (0..63, stored +32): low nibble from byte j (j < 8) or the
 * high nibble of byte j-8; high 2 bits from byte 8 + j%4 at bit 2·(j/4). */
static inline int q3_scale(const uint8_t *s, int j) {
    int lo = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
    return lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
}

void lo_quant_q3_K(const float *x, void *dst, int64_t n) {
    block_q3_K *y = dst;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            float scale = fabsf(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        memset(y[i].scales, 0, 12);
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                int8_t l8 = (int8_t)nearest_int(iscale * scales[j]);
                int l = imax(-32, imin(31, l8)) + 32;
                if (j < 8)
                    y[i].scales[j] = (uint8_t)(l & 0xF);
                else
                    y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                l >>= 4;
                y[i].scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
            }
            y[i].d = lo_f2h(1 / iscale);
        } else {
            y[i].d = lo_f2h(0.f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const int sc = q3_scale(y[i].scales, j) - 32;
            const float d = lo_h2f(y[i].d) * sc;
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (int8_t)(imax(-4, imin(3, nearest_int(x[16 * j + ii] / d))) + 4);
        }
        /* high bit of element j goes to hmask[j % 32], bit j / 32 */
        memset(y[i].hmask, 0, QK_K / 8);
        for (int j = 0; j < QK_K; j++)
            if (L[j] > 3) {
                y[i].hmask[j % 32] |= (uint8_t)(1 << (j / 32));
                L[j] -= 4;
            }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] =
                    (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

void lo_dequant_q3_K(const void *src, float *dst, int64_t n) {
    const block_q3_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d_all = lo_h2f(x[i].d);
        const uint8_t *q = x[i].qs, *hm = x[i].hmask;
        uint8_t m = 1;
        int is = 0;
        for (int k = 0; k < QK_K; k += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2, m <<= 1)
                for (int half = 0; half < 2; half++) {
                    const float dl = d_all * (q3_scale(x[i].scales, is++) - 32);
                    for (int l = 16 * half; l < 16 * half + 16; l++)
                        *dst++ = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                }
    }
}

/* ======================================================================================
 * Q4_K / Q5_K: 8 sub-blocks of 32, 6-bit scale and min each, packed in 12 bytes
 * ====================================================================================== */

/* The shared front half of the Q4_K/Q5_K quantisers: per-sub-block fits (weights
 * av_x + |x|), 6-bit scales/mins packed into y_scales, d/dmin, then the final levels in
 * L (0..nmax) from the rounded scales. */
static void quant_k4_levels(const float *x, int nmax, float rmin, int nstep, uint8_t *y_scales, lo_half *y_d,
                            lo_half *y_dmin, uint8_t *L) {
    uint8_t Laux[32];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        if (ls > 63) ls = 63;
        if (lm > 63) lm = 63;
        if (j < 4) {
            y_scales[j] = ls;
            y_scales[j + 4] = lm;
        } else {
            y_scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            y_scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
            y_scales[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *y_d = lo_f2h(max_scale / 63.f);
    *y_dmin = lo_f2h(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        get_scale_min_k4(j, y_scales, &sc, &m);
        const float d = lo_h2f(*y_d) * sc;
        if (!d) continue;
        const float dm = lo_h2f(*y_dmin) * m;
        for (int ii = 0; ii < 32; ii++)
            L[32 * j + ii] = (uint8_t)imax(0, imin(nmax, nearest_int((x[32 * j + ii] + dm) / d)));
    }
}

void lo_quant_q4_K(const float *x, void *dst, int64_t n) {
    block_q4_K *y = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quant_k4_levels(x, 15, -1.f, 20, y[i].scales, &y[i].d, &y[i].dmin, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void lo_dequant_q4_K(const void *src, float *dst, int64_t n) {
    const block_q4_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const float d = lo_h2f(x[i].d), min = lo_h2f(x[i].dmin);
        for (int j = 0, is = 0; j < QK_K; j += 64, q += 32, is += 2) {
            uint8_t sc, m;
            get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *dst++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *dst++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

void lo_quant_q5_K(const float *x, void *dst, int64_t n) {
    block_q5_K *y = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quant_k4_levels(x, 31, -0.5f, 15, y[i].scales, &y[i].d, &y[i].dmin, L);
        uint8_t *qh = y[i].qh, *ql = y[i].qs;
        memset(qh, 0, QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int k = 0; k < QK_K; k += 64, ql += 32, m1 <<= 2, m2 <<= 2)
            for (int j = 0; j < 32; j++) {
                int l1 = L[k + j], l2 = L[k + j + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
    }
}

void lo_dequant_q5_K(const void *src, float *dst, int64_t n) {
    const block_q5_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        const float d = lo_h2f(x[i].d), min = lo_h2f(x[i].dmin);
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < QK_K; j += 64, ql += 32, is += 2, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *dst++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *dst++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

/* ======================================================================================
 * Q6_K: 16 sub-blocks of 16, 6-bit q (4 in ql + 2 in qh), int8 scales
 * ====================================================================================== */

void lo_quant_q6_K(const float *x, void *dst, int64_t n) {
    block_q6_K *y = dst;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            if (fabsf(scale) > max_abs_scale) {
                max_abs_scale = fabsf(scale);
                max_scale = scale;
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = lo_f2h(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++) y[i].scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = lo_h2f(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (int8_t)(imax(-32, imin(31, nearest_int(x[16 * j + ii] / d))) + 32);
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                const uint8_t *Lb = (const uint8_t *)L + j + l;
                ql[l] = (uint8_t)((Lb[0] & 0xF) | ((Lb[64] & 0xF) << 4));
                ql[l + 32] = (uint8_t)((Lb[32] & 0xF) | ((Lb[96] & 0xF) << 4));
                qh[l] = (uint8_t)((Lb[0] >> 4) | ((Lb[32] >> 4) << 2) | ((Lb[64] >> 4) << 4) | ((Lb[96] >> 4) << 6));
            }
    }
}

void lo_dequant_q6_K(const void *src, float *dst, int64_t n) {
    const block_q6_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = lo_h2f(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int k = 0; k < QK_K; k += 128, dst += 128, ql += 64, qh += 32, sc += 8)
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                dst[l] = d * sc[is + 0] * q1;
                dst[l + 32] = d * sc[is + 2] * q2;
                dst[l + 64] = d * sc[is + 4] * q3;
                dst[l + 96] = d * sc[is + 6] * q4;
            }
    }
}

/* ======================================================================================
 * Q8_K: activations for the K-quant dot products (f32 d, bsums per 16)
 * ====================================================================================== */

void lo_quant_q8_K(const float *x, void *dst, int64_t n) {
    block_q8_K *y = dst;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]); /* ggml leaves bsums unset; zero is their value */
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) y[i].qs[j] = (int8_t)imin(127, nearest_int(iscale * x[j]));
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int ii = 0; ii < 16; ii++) sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void lo_dequant_q8_K(const void *src, float *dst, int64_t n) {
    const block_q8_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K)
        for (int j = 0; j < QK_K; j++) dst[j] = x[i].d * x[i].qs[j];
}

/* ======================================================================================
 * Dispatch
 * ====================================================================================== */

typedef struct {
    void (*dequant)(const void *, float *, int64_t);
    void (*quant)(const float *, void *, int64_t);
    uint32_t vec_dot_type;
} type_ops;

static const type_ops ops_table[LO_DTYPE_COUNT] = {
    [LO_DTYPE_F32] = {lo_dequant_f32, lo_quant_f32, LO_DTYPE_F32},
    [LO_DTYPE_F16] = {lo_dequant_f16, lo_quant_f16, LO_DTYPE_F16},
    [LO_DTYPE_BF16] = {lo_dequant_bf16, lo_quant_bf16, LO_DTYPE_BF16},
    [LO_DTYPE_Q4_0] = {lo_dequant_q4_0, lo_quant_q4_0, LO_DTYPE_Q8_0},
    [LO_DTYPE_Q4_1] = {lo_dequant_q4_1, lo_quant_q4_1, LO_DTYPE_Q8_1},
    [LO_DTYPE_Q5_0] = {lo_dequant_q5_0, lo_quant_q5_0, LO_DTYPE_Q8_0},
    [LO_DTYPE_Q5_1] = {lo_dequant_q5_1, lo_quant_q5_1, LO_DTYPE_Q8_1},
    [LO_DTYPE_Q8_0] = {lo_dequant_q8_0, lo_quant_q8_0, LO_DTYPE_Q8_0},
    [LO_DTYPE_Q8_1] = {lo_dequant_q8_1, lo_quant_q8_1, LO_DTYPE_Q8_1},
    [LO_DTYPE_Q2_K] = {lo_dequant_q2_K, lo_quant_q2_K, LO_DTYPE_Q8_K},
    [LO_DTYPE_Q3_K] = {lo_dequant_q3_K, lo_quant_q3_K, LO_DTYPE_Q8_K},
    [LO_DTYPE_Q4_K] = {lo_dequant_q4_K, lo_quant_q4_K, LO_DTYPE_Q8_K},
    [LO_DTYPE_Q5_K] = {lo_dequant_q5_K, lo_quant_q5_K, LO_DTYPE_Q8_K},
    [LO_DTYPE_Q6_K] = {lo_dequant_q6_K, lo_quant_q6_K, LO_DTYPE_Q8_K},
    [LO_DTYPE_Q8_K] = {lo_dequant_q8_K, lo_quant_q8_K, LO_DTYPE_Q8_K},
};

static const type_ops *ops_get(uint32_t type) {
    return type < LO_DTYPE_COUNT && ops_table[type].dequant ? &ops_table[type] : NULL;
}

bool lo_dtype_has_kernels(uint32_t type) { return ops_get(type) != NULL; }

void lo_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n) {
    const type_ops *o = ops_get(type);
    const lo_dtype_traits *t = lo_dtype_get(type);
    LO_ASSERT(o && t && n >= 0 && n % t->block_elems == 0);
    o->dequant(src, dst, n);
}

void lo_quantize_row(uint32_t type, const float *src, void *dst, int64_t n) {
    const type_ops *o = ops_get(type);
    const lo_dtype_traits *t = lo_dtype_get(type);
    LO_ASSERT(o && t && n >= 0 && n % t->block_elems == 0);
    o->quant(src, dst, n);
}

uint32_t lo_vec_dot_type(uint32_t weight_type) {
    const type_ops *o = ops_get(weight_type);
    LO_ASSERT(o);
    return o->vec_dot_type;
}
