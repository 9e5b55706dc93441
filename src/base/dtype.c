/* The ggml tensor type table by GGUF id: name as ggml prints it, elements per block and
 * bytes per block (matching ggml.c's type_traits), and row-size arithmetic. */
#include "llmops/base.h"

#include <strings.h>

static const lo_dtype_traits dtype_table[LO_DTYPE_COUNT] = {
    [LO_DTYPE_F32] = {"f32", 1, 4, false},
    [LO_DTYPE_F16] = {"f16", 1, 2, false},
    [LO_DTYPE_Q4_0] = {"q4_0", 32, 18, true}, /* f16 d + 16 B nibbles */
    [LO_DTYPE_Q4_1] = {"q4_1", 32, 20, true}, /* f16 d, m + 16 B */
    [LO_DTYPE_Q5_0] = {"q5_0", 32, 22, true}, /* f16 d + 4 B high bits + 16 B */
    [LO_DTYPE_Q5_1] = {"q5_1", 32, 24, true},
    [LO_DTYPE_Q8_0] = {"q8_0", 32, 34, true}, /* f16 d + 32 int8 */
    [LO_DTYPE_Q8_1] = {"q8_1", 32, 36, true}, /* f16 d, s + 32 int8 */
    [LO_DTYPE_Q2_K] = {"q2_K", 256, 84, true},
    [LO_DTYPE_Q3_K] = {"q3_K", 256, 110, true},
    [LO_DTYPE_Q4_K] = {"q4_K", 256, 144, true},
    [LO_DTYPE_Q5_K] = {"q5_K", 256, 176, true},
    [LO_DTYPE_Q6_K] = {"q6_K", 256, 210, true},
    [LO_DTYPE_Q8_K] = {"q8_K", 256, 292, true}, /* f32 d + 256 int8 + 16 int16 sums */
    [LO_DTYPE_IQ2_XXS] = {"iq2_xxs", 256, 66, true},
    [LO_DTYPE_IQ2_XS] = {"iq2_xs", 256, 74, true},
    [LO_DTYPE_IQ3_XXS] = {"iq3_xxs", 256, 98, true},
    [LO_DTYPE_IQ1_S] = {"iq1_s", 256, 50, true},
    [LO_DTYPE_IQ4_NL] = {"iq4_nl", 32, 18, true},
    [LO_DTYPE_IQ3_S] = {"iq3_s", 256, 110, true},
    [LO_DTYPE_IQ2_S] = {"iq2_s", 256, 82, true},
    [LO_DTYPE_IQ4_XS] = {"iq4_xs", 256, 136, true},
    [LO_DTYPE_I8] = {"i8", 1, 1, false},
    [LO_DTYPE_I16] = {"i16", 1, 2, false},
    [LO_DTYPE_I32] = {"i32", 1, 4, false},
    [LO_DTYPE_I64] = {"i64", 1, 8, false},
    [LO_DTYPE_F64] = {"f64", 1, 8, false},
    [LO_DTYPE_IQ1_M] = {"iq1_m", 256, 56, true},
    [LO_DTYPE_BF16] = {"bf16", 1, 2, false},
    [LO_DTYPE_TQ1_0] = {"tq1_0", 256, 54, true},
    [LO_DTYPE_TQ2_0] = {"tq2_0", 256, 66, true},
    [LO_DTYPE_MXFP4] = {"mxfp4", 32, 17, true}, /* e8m0 scale + 16 B fp4 */
};

const lo_dtype_traits *lo_dtype_get(uint32_t id) {
    if (id >= LO_DTYPE_COUNT || !dtype_table[id].name) return NULL;
    return &dtype_table[id];
}

int lo_dtype_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < LO_DTYPE_COUNT; i++)
        if (dtype_table[i].name && strcasecmp(dtype_table[i].name, name) == 0) return i;
    return -1;
}

bool lo_dtype_row_bytes(uint32_t id, int64_t n, size_t *out) {
    const lo_dtype_traits *t = lo_dtype_get(id);
    if (!t || n < 0 || n % t->block_elems != 0) return false;
    uint64_t blocks = (uint64_t)(n / t->block_elems);
    if (blocks > (uint64_t)SIZE_MAX) return false;
    size_t bytes;
    if (lo_mul_overflow((size_t)blocks, t->block_bytes, &bytes)) return false;
    if (out) *out = bytes;
    return true;
}
