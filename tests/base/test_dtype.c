/* Tests for the dtype traits table: every known id's name and block geometry (ggml's
 * type_traits), unknown ids, name lookup, and row-size arithmetic with overflow. */
#include "check.h"
#include "llmops/base.h"

static const struct {
    uint32_t id;
    const char *name;
    int64_t blck;
    size_t bytes;
    bool quant;
} want[] = {
    {0, "f32", 1, 4, false},        {1, "f16", 1, 2, false},        {2, "q4_0", 32, 18, true},
    {3, "q4_1", 32, 20, true},      {6, "q5_0", 32, 22, true},      {7, "q5_1", 32, 24, true},
    {8, "q8_0", 32, 34, true},      {9, "q8_1", 32, 36, true},      {10, "q2_K", 256, 84, true},
    {11, "q3_K", 256, 110, true},   {12, "q4_K", 256, 144, true},   {13, "q5_K", 256, 176, true},
    {14, "q6_K", 256, 210, true},   {15, "q8_K", 256, 292, true},   {16, "iq2_xxs", 256, 66, true},
    {17, "iq2_xs", 256, 74, true},  {18, "iq3_xxs", 256, 98, true}, {19, "iq1_s", 256, 50, true},
    {20, "iq4_nl", 32, 18, true},   {21, "iq3_s", 256, 110, true},  {22, "iq2_s", 256, 82, true},
    {23, "iq4_xs", 256, 136, true}, {24, "i8", 1, 1, false},        {25, "i16", 1, 2, false},
    {26, "i32", 1, 4, false},       {27, "i64", 1, 8, false},       {28, "f64", 1, 8, false},
    {29, "iq1_m", 256, 56, true},   {30, "bf16", 1, 2, false},      {34, "tq1_0", 256, 54, true},
    {35, "tq2_0", 256, 66, true},   {39, "mxfp4", 32, 17, true},
};

int main(void) {
    int n_known = 0;
    for (uint32_t id = 0; id < LO_DTYPE_COUNT; id++)
        if (lo_dtype_get(id)) n_known++;
    CHECK_INT_EQ(n_known, (int)(sizeof want / sizeof want[0]));
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const lo_dtype_traits *t = lo_dtype_get(want[i].id);
        CHECK_MSG(t != NULL, "id %u", want[i].id);
        if (!t) continue;
        CHECK_STR_EQ(t->name, want[i].name);
        CHECK_INT_EQ(t->block_elems, want[i].blck);
        CHECK_INT_EQ(t->block_bytes, want[i].bytes);
        CHECK_INT_EQ(t->quantized, want[i].quant);
        CHECK_INT_EQ(lo_dtype_from_name(want[i].name), want[i].id);
    }
    uint32_t unknown[] = {4, 5, 31, 32, 33, 36, 37, 38, 40, 41, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) CHECK(lo_dtype_get(unknown[i]) == NULL);

    CHECK_INT_EQ(lo_dtype_from_name("Q4_K"), LO_DTYPE_Q4_K);
    CHECK_INT_EQ(lo_dtype_from_name("F16"), LO_DTYPE_F16);
    CHECK_INT_EQ(lo_dtype_from_name("BF16"), LO_DTYPE_BF16);
    CHECK_INT_EQ(lo_dtype_from_name("q4_2"), -1);
    CHECK_INT_EQ(lo_dtype_from_name(""), -1);
    CHECK_INT_EQ(lo_dtype_from_name(NULL), -1);

    size_t b = 0;
    CHECK(lo_dtype_row_bytes(LO_DTYPE_F32, 4096, &b) && b == 16384);
    CHECK(lo_dtype_row_bytes(LO_DTYPE_F16, 7, &b) && b == 14);
    CHECK(lo_dtype_row_bytes(LO_DTYPE_Q4_0, 4096, &b) && b == 4096 / 32 * 18);
    CHECK(lo_dtype_row_bytes(LO_DTYPE_Q6_K, 4096, &b) && b == 16 * 210);
    CHECK(lo_dtype_row_bytes(LO_DTYPE_Q8_0, 0, &b) && b == 0);
    CHECK(!lo_dtype_row_bytes(LO_DTYPE_Q4_0, 33, &b));  /* not a whole block */
    CHECK(!lo_dtype_row_bytes(LO_DTYPE_Q4_K, 128, &b)); /* half a super-block */
    CHECK(!lo_dtype_row_bytes(LO_DTYPE_F32, -1, &b));
    CHECK(!lo_dtype_row_bytes(4, 32, &b)); /* removed type */
    CHECK(!lo_dtype_row_bytes(LO_DTYPE_F64, INT64_MAX / 4 * 3, &b) || sizeof(size_t) > 8);
    CHECK(!lo_dtype_row_bytes(LO_DTYPE_I64, INT64_MAX, &b));
    CHECK(lo_dtype_row_bytes(LO_DTYPE_I8, INT64_MAX, &b) && b == (size_t)INT64_MAX);
    return check_done();
}
