/* tensor (L1): the numeric kernels — dequantisation and quantisation of every ggml block
 * format, dot products of quantised weights against quantised activations (as ggml pairs
 * them), and row-parallel matrix products; a scalar reference for each, with AVX2 and
 * AVX-512 variants chosen at run time from CPUID. */
#ifndef LLMOPS_TENSOR_H
#define LLMOPS_TENSOR_H

#include "llmops/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CPU features and kernel selection ------------------------------------------- */

typedef enum lo_isa { LO_ISA_SCALAR = 0, LO_ISA_AVX2 = 1, LO_ISA_AVX512 = 2 } lo_isa;
typedef struct lo_cpu_features {
    bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16, avxvnni;
} lo_cpu_features;
const lo_cpu_features *lo_cpu_get_features(void);
/* The best ISA this CPU and this build support. */
lo_isa lo_isa_best(void);
const char *lo_isa_name(lo_isa isa);
/* Forces the kernels used by lo_vec_dot/lo_matmul (for tests and benchmarks); an ISA the
 * CPU lacks is refused with false. */
bool lo_isa_set(lo_isa isa);
lo_isa lo_isa_current(void);

/* ---- half precision -------------------------------------------------------------- */

float lo_f16_to_f32(uint16_t h);
uint16_t lo_f32_to_f16(float f); /* round to nearest even, as ggml/F16C */
float lo_bf16_to_f32(uint16_t h);
uint16_t lo_f32_to_bf16(float f); /* round to nearest even; NaN stays NaN, as ggml */

/* ---- per-type row operations ----------------------------------------------------- */

/* Every type whose kernels exist: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1,
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K. */
bool lo_dtype_has_kernels(uint32_t type);
/* Dequantises n elements (a multiple of the block size) bit for bit as ggml does. */
void lo_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);
/* Quantises n elements with ggml's reference quantiser for the type (no importance
 * matrix): the output bytes equal llama-quantize's for the same input. */
void lo_quantize_row(uint32_t type, const float *src, void *dst, int64_t n);
/* The activation type a weight type is multiplied against (ggml's vec_dot_type):
 * F32→F32, F16→F16, BF16→BF16, Q4_0/Q5_0/Q8_0→Q8_0, Q4_1/Q5_1→Q8_1, K-quants→Q8_K. */
uint32_t lo_vec_dot_type(uint32_t weight_type);
/* Σ x[i]·y[i] over n elements, x in weight_type, y in lo_vec_dot_type(weight_type),
 * with the current ISA's kernel. */
float lo_vec_dot(uint32_t weight_type, int64_t n, const void *x, const void *y);
/* The scalar reference of the same (always built; the SIMD variants are tested against it). */
float lo_vec_dot_ref(uint32_t weight_type, int64_t n, const void *x, const void *y);

/* ---- matrix products ------------------------------------------------------------- */

/* A 2-D weight: rows of ne0 elements of `type`, row_bytes apart. */
typedef struct lo_matrix {
    uint32_t type;
    int64_t ne0, ne1;   /* elements per row (k), rows (m) */
    size_t row_bytes;
    const void *data;
} lo_matrix;

/* out[t][r] = Σ_k W[r][k] · x[t][k] for t < n_tokens, r < W.ne1: x is n_tokens rows of
 * W.ne0 f32, out n_tokens rows of W.ne1 f32. x is first quantised to the weight's
 * vec_dot_type into `scratch` (at least lo_matmul_scratch_bytes), then rows are split
 * across the pool's threads. */
size_t lo_matmul_scratch_bytes(const lo_matrix *w, int64_t n_tokens);
void lo_matmul(lo_pool *pool, const lo_matrix *w, const float *x, int64_t n_tokens, float *out, void *scratch);
/* lo_matmul by token role, for batch invariance: tokens [0, n_single) each get exactly the
 * arithmetic of lo_matmul on that token alone (the one-token kernels; the weights are
 * still read once for all of them: row groups outer, tokens inner), tokens
 * [n_single, n_tokens) the multi-token path even when there is only one of them. Every
 * token's output is bit-identical whatever the other tokens are. lo_matmul(n) is
 * lo_matmul_split(n, n == 1 ? 1 : 0). Scratch: lo_matmul_scratch_bytes(w, n_tokens). */
void lo_matmul_split(lo_pool *pool, const lo_matrix *w, const float *x, int64_t n_tokens, int64_t n_single, float *out,
                     void *scratch);

/* ---- activation ops (ops.c) ----------------------------------------------------- */

/* y = x / sqrt(mean(x²) + eps) · w (w may be NULL); the sum of squares in double, as ggml.
 * y may equal x. */
void lo_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps);
/* y = (x - mean) / sqrt(var + eps) · w + b (w, b may be NULL); y may equal x. */
void lo_layernorm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps);
/* cos/sin of the n_rot/2 rotation angles of position pos, as ggml's rope cache:
 * cache[2i] = cos θi, cache[2i+1] = sin θi, θ0 = pos·freq_scale, θ(i+1) = θi·base^(-2/n_rot)
 * (accumulated by multiplication in f32, before the freq_scale product). */
void lo_rope_cache(float *cache, int64_t n_rot, int32_t pos, float freq_base, float freq_scale);
/* Rotates the first n_rot elements of each of n_heads rows of head_dim in x: adjacent
 * pairs (2i, 2i+1) when neox is false, (i, i + n_rot/2) when true. */
void lo_rope_apply(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float *cache, bool neox);
/* In-place softmax in f32 (max subtracted first). */
void lo_softmax(float *x, int64_t n);
/* y = silu(gate) · up, silu(g) = g / (1 + e^-g); y may alias gate or up. */
void lo_swiglu(float *y, const float *gate, const float *up, int64_t n);
void lo_silu(float *y, const float *x, int64_t n);
/* tanh-approximation GELU through F16 as ggml-cpu computes it (x rounded to F16, result
 * rounded to F16; x <= -10 gives 0, x >= 10 gives x). */
void lo_gelu(float *y, const float *x, int64_t n);
/* y = a + b; y may alias a or b. */
void lo_add(float *y, const float *a, const float *b, int64_t n);
/* y += a · x */
void lo_axpy(float *y, float a, const float *x, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
