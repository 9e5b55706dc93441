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

#ifdef __cplusplus
}
#endif
#endif
