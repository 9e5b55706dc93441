/* Half-precision conversions (IEEE binary16 and bfloat16), bit-exact with ggml: round to
 * nearest even, overflow to inf, NaN stays NaN. The bodies are the inline helpers of
 * tensor_internal.h, which the kernels use directly. */
#include "tensor/tensor_internal.h"

float lo_f16_to_f32(uint16_t h) { return lo_h2f(h); }
uint16_t lo_f32_to_f16(float f) { return lo_f2h(f); }
float lo_bf16_to_f32(uint16_t h) { return lo_bf2f(h); }
uint16_t lo_f32_to_bf16(float f) { return lo_f2bf(f); }
