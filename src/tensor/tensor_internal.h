/* tensor module internals: the ggml block layouts of every quantised type (byte-exact,
 * sizes asserted against the dtype traits table), the K-quant scale helpers, and the
 * per-type scalar reference kernels shared by the SIMD variants and the dispatch. */
#ifndef LLMOPS_TENSOR_INTERNAL_H
#define LLMOPS_TENSOR_INTERNAL_H

#include "llmops/tensor.h"

#include <stdint.h>

/* ---- geometry --------------------------------------------------------------------- */

typedef uint16_t lo_half; /* IEEE binary16 bits (ggml_half) */

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256          /* super-block of the K-quants */
#define K_SCALE_SIZE 12   /* 8 six-bit scales + 8 six-bit mins packed in 12 bytes (Q4_K/Q5_K) */

/* ---- legacy blocks of 32 ----------------------------------------------------------- */

/* x[i] = d * (q - 8); qs[j] low nibble = element j, high nibble = element j + 16. */
typedef struct { lo_half d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
/* x[i] = d * q + m */
typedef struct { lo_half d; lo_half m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
/* x[i] = d * (q - 16); 5th bit of element j is bit j of qh (little-endian u32). */
typedef struct { lo_half d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
typedef struct { lo_half d; lo_half m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
typedef struct { lo_half d; int8_t qs[QK8_0]; } block_q8_0;
/* s = d * Σ qs (an f16), used by the Q4_1/Q5_1 dot products for the min term. */
typedef struct { lo_half d; lo_half s; int8_t qs[QK8_1]; } block_q8_1;

/* ---- K-quants: super-blocks of 256 ------------------------------------------------- */

/* 16 sub-blocks of 16; scales[i] = scale (low 4 bits) | min (high 4 bits);
 * x = d * sc * q - dmin * m, q in 0..3. */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    lo_half d;
    lo_half dmin;
} block_q2_K;

/* 16 sub-blocks of 16; q = 2 low bits (qs) + high bit (hmask), value q - 4 if the high
 * bit is clear; 16 six-bit signed scales (minus 32) packed in 12 bytes. */
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    lo_half d;
} block_q3_K;

/* 8 sub-blocks of 32; six-bit scales and mins packed in K_SCALE_SIZE bytes;
 * x = d * sc * q - dmin * m, q in 0..15. */
typedef struct {
    lo_half d;
    lo_half dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;

/* As Q4_K plus a fifth bit per element in qh. */
typedef struct {
    lo_half d;
    lo_half dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;

/* 16 sub-blocks of 16; q = 4 low bits (ql) + 2 high bits (qh), value q - 32;
 * int8 scales; x = d * sc * (q - 32). */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    lo_half d;
} block_q6_K;

/* Activations for the K-quant dot products: f32 scale, int8 values, and the sum of each
 * group of 16 values. */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

/* Scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block: for j < 4 the low 6
 * bits of bytes j (scale) and j+4 (min); for j ≥ 4 the low/high nibble of byte j+4 plus
 * the top 2 bits of byte j-4 (scale) and byte j (min). */
static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

/* ---- half precision, inline for the kernels (half.c exports the same) ------------- */

static inline uint32_t lo_f32_bits(float f) { union { float f; uint32_t u; } v = {.f = f}; return v.u; }
static inline float lo_bits_f32(uint32_t u) { union { uint32_t u; float f; } v = {.u = u}; return v.f; }

/* Exact widening of IEEE binary16. */
static inline float lo_h2f(lo_half h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    if (exp == 0) { /* zero or subnormal: mant * 2^-24, exact in f32 */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) return lo_bits_f32(sign | 0x7F800000u | (mant << 13)); /* inf / NaN */
    return lo_bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

/* Round to nearest even (what F16C's vcvtps2ph with imm 0 and ggml's scalar path do);
 * overflow gives inf; NaN gives a quiet NaN (sign kept, payload 0x200 as ggml's scalar). */
static inline lo_half lo_f2h(float f) {
    uint32_t w = lo_f32_bits(f);
    uint16_t sign = (uint16_t)((w >> 16) & 0x8000);
    w &= 0x7FFFFFFFu;
    if (w > 0x7F800000u) return (lo_half)(sign | 0x7E00);
    if (w >= 0x477FF000u) return (lo_half)(sign | 0x7C00); /* ≥ 65520 rounds to inf */
    if (w >= 0x38800000u) {                                /* normal binary16 */
        w += 0xFFFu + ((w >> 13) & 1);
        return (lo_half)(sign | ((w - 0x38000000u) >> 13));
    }
    uint32_t e = w >> 23;
    if (e < 102) return sign; /* below 2^-25 (2^-25 itself ties to even = 0) */
    uint32_t m = (w & 0x7FFFFFu) | 0x800000u, shift = 126 - e; /* units of 2^-24 */
    uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1))) r++;
    return (lo_half)(sign | r);
}

static inline float lo_bf2f(uint16_t h) { return lo_bits_f32((uint32_t)h << 16); }

/* Round to nearest even; NaN is kept and made quiet; subnormals are not flushed (ggml). */
static inline uint16_t lo_f2bf(float f) {
    uint32_t u = lo_f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7FFFu + ((u >> 16) & 1))) >> 16);
}

/* ---- per-type reference kernels (n a multiple of the type's block size) ------------ */

#define LO_DECL_TYPE(t)                                                                  \
    void lo_dequant_##t(const void *src, float *dst, int64_t n);                          \
    void lo_quant_##t(const float *src, void *dst, int64_t n);                            \
    float lo_vec_dot_##t##_ref(int64_t n, const void *x, const void *y);

/* F32: copy; F16/BF16: conversions; y of the vec_dot is the same type as x. */
LO_DECL_TYPE(f32)
LO_DECL_TYPE(f16)
LO_DECL_TYPE(bf16)
/* x in the weight type, y in lo_vec_dot_type(weight type). */
LO_DECL_TYPE(q4_0)
LO_DECL_TYPE(q4_1)
LO_DECL_TYPE(q5_0)
LO_DECL_TYPE(q5_1)
LO_DECL_TYPE(q8_0)
LO_DECL_TYPE(q2_K)
LO_DECL_TYPE(q3_K)
LO_DECL_TYPE(q4_K)
LO_DECL_TYPE(q5_K)
LO_DECL_TYPE(q6_K)
#undef LO_DECL_TYPE

/* BF16 numerics of llama.cpp's AVX512_BF16 build (vecdot_ref.c): lo_vec_dot_bf16_ref is
 * ggml_vec_dot_bf16 (one-token matmuls); lo_vec_dot_bf16_tile_ref one output of tinyBLAS's
 * BF16 gemm (≥ 2 tokens, n a multiple of 32); lo_bf16_dp_lane one vdpbf16ps lane on the
 * pair x[0..1]·y[0..1]; lo_hsum16_ggml GCC's _mm512_reduce_add_ps order. The SIMD kernels
 * reproduce these bit for bit. */
float lo_vec_dot_bf16_tile_ref(int64_t n, const void *x, const void *y);
float lo_bf16_dp_lane(float acc, const uint16_t *x, const uint16_t *y);
float lo_hsum16_ggml(const float v[16]);

/* vecdot_bf16.c: the same sums in SIMD. AVX2 and AVX512 emulate vdpbf16ps with FMAs and
 * explicit flushing; AVX512BF16 is the instruction. NULL when the CPU lacks the variant.
 * tile = the tinyBLAS sum (n a multiple of 32), else the ggml_vec_dot_bf16 one. The mm
 * kernels: one weight row × nc ≤ max_nc bf16 activation rows (by bytes apart), tile
 * sums to out[c·ldo] (aux unused; the signature of matmul.c's tile kernels). */
typedef enum lo_bf16_variant { LO_BF16_AVX2, LO_BF16_AVX512, LO_BF16_AVX512BF16 } lo_bf16_variant;
typedef float (*lo_bf16_dot_fn)(int64_t n, const void *x, const void *y);
typedef void (*lo_bf16_mm_fn)(int64_t n, const void *x, const void *y, size_t by, const float *aux, size_t aux_stride,
                              int nc, float *out, size_t ldo);
lo_bf16_dot_fn lo_bf16_dot_get(lo_bf16_variant v, bool tile);
lo_bf16_mm_fn lo_bf16_mm_get(lo_bf16_variant v, int *max_nc);
/* f32 → bf16 exactly as lo_f32_to_bf16 (AVX-512 when the CPU has it). */
void lo_bf16_from_f32(const float *x, uint16_t *y, int64_t n);

/* Activation types: no vec_dot of their own (they are only ever the y operand). */
void lo_dequant_q8_1(const void *src, float *dst, int64_t n);
void lo_quant_q8_1(const float *src, void *dst, int64_t n);
void lo_dequant_q8_K(const void *src, float *dst, int64_t n);
void lo_quant_q8_K(const float *src, void *dst, int64_t n);

/* What llama.cpp's ggml-cpu actually does to activations on x86 (AVX/AVX2/AVX-512
 * quantize_row_q8_0 / q8_1): id = 127/amax (not 1/d) and round half to even (not
 * roundf), so a few values differ by one level from the _ref quantisers above. Use these
 * to reproduce llama.cpp's logits; lo_quantize_row keeps the file-format reference. */
void lo_quant_q8_0_x86(const float *src, void *dst, int64_t n);
void lo_quant_q8_1_x86(const float *src, void *dst, int64_t n);

#endif
