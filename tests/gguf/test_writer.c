/* gguf writer: builds a file from scratch with every value type (nested and string
 * arrays included), tensors of several dtypes and alignment 64, reads it back and checks
 * every value; also checks the writer's rejections. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "llmops/gguf.h"

static char tmpdir[256];

static void build_and_read(void) {
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(3, &w));
    if (!w) return;
    lo_gguf_value v;
    v = (lo_gguf_value){.type = LO_GGUF_UINT8, .u64 = 200};
    CHECK_OK(lo_gguf_writer_set(w, "t.u8", &v));
    v = (lo_gguf_value){.type = LO_GGUF_INT8, .i64 = -100};
    CHECK_OK(lo_gguf_writer_set(w, "t.i8", &v));
    v = (lo_gguf_value){.type = LO_GGUF_UINT16, .u64 = 65000};
    CHECK_OK(lo_gguf_writer_set(w, "t.u16", &v));
    v = (lo_gguf_value){.type = LO_GGUF_INT16, .i64 = -32000};
    CHECK_OK(lo_gguf_writer_set(w, "t.i16", &v));
    CHECK_OK(lo_gguf_writer_set_u32(w, "t.u32", 4000000000u));
    CHECK_OK(lo_gguf_writer_set_i32(w, "t.i32", -2000000000));
    CHECK_OK(lo_gguf_writer_set_f32(w, "t.f32", 1.5f));
    CHECK_OK(lo_gguf_writer_set_bool(w, "t.bool", true));
    CHECK_OK(lo_gguf_writer_set_str(w, "t.str", "héllo\n\"world\""));
    CHECK_OK(lo_gguf_writer_set_u64(w, "t.u64", 18000000000000000000ull));
    v = (lo_gguf_value){.type = LO_GGUF_INT64, .i64 = -9000000000000000000ll};
    CHECK_OK(lo_gguf_writer_set(w, "t.i64", &v));
    v = (lo_gguf_value){.type = LO_GGUF_FLOAT64, .f64 = 3.141592653589793};
    CHECK_OK(lo_gguf_writer_set(w, "t.f64", &v));
    /* alignment 64 (placed early so it is used for every tensor) */
    CHECK_OK(lo_gguf_writer_set_u32(w, "general.alignment", 64));
    CHECK_OK(lo_gguf_writer_set_str(w, "general.architecture", "llama"));
    const char *strs[] = {"a", "", "ccc", "\xe2\x96\x81x"};
    CHECK_OK(lo_gguf_writer_set_arr_str(w, "t.arr_str", strs, 4));
    int32_t i32s[] = {1, -2, 3};
    CHECK_OK(lo_gguf_writer_set_arr(w, "t.arr_i32", LO_GGUF_INT32, i32s, 3));
    float f32s[] = {0.5f, -1.25f};
    CHECK_OK(lo_gguf_writer_set_arr(w, "t.arr_f32", LO_GGUF_FLOAT32, f32s, 2));
    uint8_t bools[] = {1, 0, 1};
    CHECK_OK(lo_gguf_writer_set_arr(w, "t.arr_bool", LO_GGUF_BOOL, bools, 3));
    uint64_t u64s[] = {7, 8};
    CHECK_OK(lo_gguf_writer_set_arr(w, "t.arr_u64", LO_GGUF_UINT64, u64s, 2));
    CHECK_OK(lo_gguf_writer_set_arr(w, "t.arr_empty", LO_GGUF_UINT16, NULL, 0));
    /* nested: [[1,2],[ "x","y","z" ], [[ ]]] */
    uint16_t u16s[] = {1, 2};
    lo_gguf_str xyz[] = {{"x", 1}, {"y", 1}, {"z", 1}};
    lo_gguf_value inner_empty = {.type = LO_GGUF_ARRAY};
    inner_empty.arr.elem_type = LO_GGUF_INT8;
    lo_gguf_value items[3];
    memset(items, 0, sizeof items);
    items[0].type = LO_GGUF_ARRAY, items[0].arr.elem_type = LO_GGUF_UINT16, items[0].arr.n = 2,
    items[0].arr.raw = (const uint8_t *)u16s;
    items[1].type = LO_GGUF_ARRAY, items[1].arr.elem_type = LO_GGUF_STRING, items[1].arr.n = 3, items[1].arr.strs = xyz;
    items[2].type = LO_GGUF_ARRAY, items[2].arr.elem_type = LO_GGUF_ARRAY, items[2].arr.n = 1,
    items[2].arr.items = &inner_empty;
    lo_gguf_value nested = {.type = LO_GGUF_ARRAY};
    nested.arr.elem_type = LO_GGUF_ARRAY, nested.arr.n = 3, nested.arr.items = items;
    CHECK_OK(lo_gguf_writer_set(w, "t.nested", &nested));
    /* replace keeps the position; remove drops */
    CHECK_OK(lo_gguf_writer_set_u32(w, "t.u32", 4000000001u));
    CHECK_OK(lo_gguf_writer_set_str(w, "t.gone", "x"));
    lo_gguf_writer_remove(w, "t.gone");
    lo_gguf_writer_remove(w, "t.never");

    /* tensors: f32 [3,2], f16 [5], q8_0 [64,2], q4_K [256], i32 [1,1,1,3], empty f32 [0,4] */
    float a[6] = {1, 2, 3, 4, 5, 6};
    int64_t ne_a[] = {3, 2};
    CHECK_OK(lo_gguf_writer_add_tensor(w, "a", LO_DTYPE_F32, 2, ne_a, a, sizeof a));
    uint16_t h[5] = {0x3c00, 0x4000, 0, 0x8000, 0x7bff};
    int64_t ne_h[] = {5};
    CHECK_OK(lo_gguf_writer_add_tensor(w, "h", LO_DTYPE_F16, 1, ne_h, h, sizeof h));
    uint8_t q8[2 * 2 * 34];
    for (size_t i = 0; i < sizeof q8; i++) q8[i] = (uint8_t)(i * 7);
    int64_t ne_q8[] = {64, 2};
    CHECK_OK(lo_gguf_writer_add_tensor(w, "q8", LO_DTYPE_Q8_0, 2, ne_q8, q8, sizeof q8));
    const lo_dtype_traits *k4 = lo_dtype_get(LO_DTYPE_Q4_K);
    uint8_t *q4k = calloc(1, k4->block_bytes);
    int64_t ne_q4k[] = {256};
    CHECK_OK(lo_gguf_writer_add_tensor(w, "blk.0.q4k", LO_DTYPE_Q4_K, 1, ne_q4k, q4k, k4->block_bytes));
    int32_t iv[3] = {-1, 0, 1};
    int64_t ne_i[] = {1, 1, 1, 3};
    CHECK_OK(lo_gguf_writer_add_tensor(w, "ints", LO_DTYPE_I32, 4, ne_i, iv, sizeof iv));
    int64_t ne_e[] = {0, 4};
    CHECK_OK(lo_gguf_writer_add_tensor(w, "empty", LO_DTYPE_F32, 2, ne_e, NULL, 0));

    /* rejections */
    CHECK(lo_gguf_writer_add_tensor(w, "bad", LO_DTYPE_F32, 2, ne_a, a, sizeof a - 4) != LO_OK);
    CHECK(strstr(lo_error_message(), "bad") && strstr(lo_error_message(), "needs 24"));
    CHECK(lo_gguf_writer_add_tensor(w, "a", LO_DTYPE_F32, 2, ne_a, a, sizeof a) != LO_OK); /* duplicate */
    int64_t ne_bad[] = {33};
    CHECK(lo_gguf_writer_add_tensor(w, "q", LO_DTYPE_Q8_0, 1, ne_bad, q8, 34) != LO_OK); /* not a block multiple */
    CHECK(lo_gguf_writer_add_tensor(w, "t", 4, 1, ne_h, h, 10) != LO_OK);                /* removed type id */
    CHECK(lo_gguf_writer_add_tensor(w, "t", LO_DTYPE_F32, 5, ne_i, iv, 12) != LO_OK);    /* n_dims */
    CHECK(lo_gguf_writer_add_tensor(w, "t", LO_DTYPE_F32, 0, ne_i, iv, 12) != LO_OK);
    int64_t ne_neg[] = {-3};
    CHECK(lo_gguf_writer_add_tensor(w, "t", LO_DTYPE_F32, 1, ne_neg, iv, 12) != LO_OK);
    CHECK(lo_gguf_writer_add_tensor(w, "\xff", LO_DTYPE_F32, 1, ne_h, a, 20) != LO_OK); /* not UTF-8 */
    CHECK(lo_gguf_writer_add_tensor(w, "", LO_DTYPE_F32, 1, ne_h, a, 20) != LO_OK);
    CHECK(lo_gguf_writer_set_u32(w, "\xc0\x80", 1) != LO_OK); /* overlong NUL */
    CHECK(lo_gguf_writer_set_u32(w, "general.alignment", 48) != LO_OK);
    CHECK(lo_gguf_writer_set_u32(w, "general.alignment", 0) != LO_OK);
    CHECK(lo_gguf_writer_set_u64(w, "general.alignment", 64) != LO_OK);
    v = (lo_gguf_value){.type = LO_GGUF_BOOL, .u64 = 2};
    CHECK(lo_gguf_writer_set(w, "t.bad_bool", &v) != LO_OK);
    v = (lo_gguf_value){.type = (lo_gguf_type)13};
    CHECK(lo_gguf_writer_set(w, "t.bad_type", &v) != LO_OK);
    CHECK(lo_gguf_writer_set_arr(w, "t.bad_arr", LO_GGUF_STRING, strs, 1) != LO_OK);
    lo_gguf_writer *w2 = NULL;
    CHECK(lo_gguf_writer_create(1, &w2) != LO_OK && w2 == NULL);

    char path[512];
    snprintf(path, sizeof path, "%s/built.gguf", tmpdir);
    CHECK_OK(lo_gguf_writer_write(w, path));
    lo_gguf_writer_free(w);
    free(q4k);

    lo_gguf *g = NULL;
    CHECK_OK(lo_gguf_open(path, &g));
    if (!g) return;
    CHECK_INT_EQ(lo_gguf_version(g), 3);
    CHECK_INT_EQ(lo_gguf_alignment(g), 64);
    CHECK_INT_EQ(lo_gguf_data_offset(g) % 64, 0);
    CHECK_INT_EQ(lo_gguf_n_kv(g), 21);
    CHECK_INT_EQ(lo_gguf_n_tensors(g), 6);
    /* order of KVs is the order added, with the replaced one in place */
    CHECK(lo_gguf_str_eq(lo_gguf_kv_at(g, 0)->key, "t.u8"));
    CHECK(lo_gguf_str_eq(lo_gguf_kv_at(g, 4)->key, "t.u32"));
    CHECK(lo_gguf_str_eq(lo_gguf_kv_at(g, 20)->key, "t.nested"));
    const lo_gguf_value *x;
    x = lo_gguf_get(g, "t.u8");
    CHECK(x && x->type == LO_GGUF_UINT8 && x->u64 == 200);
    x = lo_gguf_get(g, "t.i8");
    CHECK(x && x->type == LO_GGUF_INT8 && x->i64 == -100);
    x = lo_gguf_get(g, "t.u16");
    CHECK(x && x->type == LO_GGUF_UINT16 && x->u64 == 65000);
    x = lo_gguf_get(g, "t.i16");
    CHECK(x && x->type == LO_GGUF_INT16 && x->i64 == -32000);
    x = lo_gguf_get(g, "t.u32");
    CHECK(x && x->type == LO_GGUF_UINT32 && x->u64 == 4000000001u);
    x = lo_gguf_get(g, "t.i32");
    CHECK(x && x->type == LO_GGUF_INT32 && x->i64 == -2000000000);
    x = lo_gguf_get(g, "t.f32");
    CHECK(x && x->type == LO_GGUF_FLOAT32 && x->f64 == 1.5);
    x = lo_gguf_get(g, "t.u64");
    CHECK(x && x->type == LO_GGUF_UINT64 && x->u64 == 18000000000000000000ull);
    x = lo_gguf_get(g, "t.i64");
    CHECK(x && x->type == LO_GGUF_INT64 && x->i64 == -9000000000000000000ll);
    x = lo_gguf_get(g, "t.f64");
    CHECK(x && x->type == LO_GGUF_FLOAT64 && x->f64 == 3.141592653589793);
    CHECK(lo_gguf_get(g, "t.gone") == NULL);
    bool b;
    CHECK(lo_gguf_get_bool(g, "t.bool", &b) && b);
    lo_gguf_str s;
    CHECK(lo_gguf_get_str(g, "t.str", &s) && lo_gguf_str_eq(s, "héllo\n\"world\""));
    CHECK(lo_gguf_str_eq(lo_gguf_arch(g), "llama"));
    uint64_t u;
    int64_t i;
    double d;
    CHECK(lo_gguf_get_u64(g, "t.u16", &u) && u == 65000);
    CHECK(!lo_gguf_get_u64(g, "t.i8", &u)); /* negative */
    CHECK(lo_gguf_get_i64(g, "t.i8", &i) && i == -100);
    CHECK(!lo_gguf_get_i64(g, "t.u64", &i)); /* > INT64_MAX */
    CHECK(lo_gguf_get_f64(g, "t.i32", &d) && d == -2000000000.0);
    CHECK(!lo_gguf_get_f64(g, "t.str", &d));
    CHECK(strstr(lo_error_message(), "t.str") != NULL);
    CHECK(!lo_gguf_get_bool(g, "t.u8", &b));
    CHECK(!lo_gguf_get_u64(g, "no.such.key", &u));
    x = lo_gguf_get_arr(g, "t.arr_str", LO_GGUF_STRING);
    CHECK(x && x->arr.n == 4);
    if (x) {
        for (int k = 0; k < 4; k++) CHECK(lo_gguf_str_eq(x->arr.strs[k], strs[k]));
    }
    CHECK(lo_gguf_get_arr(g, "t.arr_str", LO_GGUF_INT32) == NULL);
    x = lo_gguf_get_arr(g, "t.arr_i32", LO_GGUF_INT32);
    CHECK(x && x->arr.n == 3 && lo_gguf_arr_i64(x, 1) == -2 && lo_gguf_arr_f64(x, 2) == 3.0);
    x = lo_gguf_get_arr(g, "t.arr_f32", LO_GGUF_FLOAT32);
    CHECK(x && x->arr.n == 2 && lo_gguf_arr_f64(x, 1) == -1.25);
    x = lo_gguf_get_arr(g, "t.arr_bool", LO_GGUF_BOOL);
    CHECK(x && x->arr.n == 3 && lo_gguf_arr_u64(x, 0) == 1 && lo_gguf_arr_u64(x, 1) == 0);
    x = lo_gguf_get_arr(g, "t.arr_u64", LO_GGUF_TYPE_COUNT);
    CHECK(x && x->arr.n == 2 && lo_gguf_arr_u64(x, 1) == 8);
    x = lo_gguf_get_arr(g, "t.arr_empty", LO_GGUF_UINT16);
    CHECK(x && x->arr.n == 0);
    x = lo_gguf_get_arr(g, "t.nested", LO_GGUF_ARRAY);
    CHECK(x && x->arr.n == 3);
    if (x && x->arr.n == 3) {
        const lo_gguf_value *it = x->arr.items;
        CHECK(it[0].type == LO_GGUF_ARRAY && it[0].arr.elem_type == LO_GGUF_UINT16 && it[0].arr.n == 2 &&
              lo_gguf_arr_u64(&it[0], 1) == 2);
        CHECK(it[1].arr.elem_type == LO_GGUF_STRING && it[1].arr.n == 3 && lo_gguf_str_eq(it[1].arr.strs[2], "z"));
        CHECK(it[2].arr.elem_type == LO_GGUF_ARRAY && it[2].arr.n == 1 && it[2].arr.items[0].arr.n == 0 &&
              it[2].arr.items[0].arr.elem_type == LO_GGUF_INT8);
    }
    const lo_gguf_tensor *t;
    t = lo_gguf_tensor_at(g, lo_gguf_find_tensor(g, "a"));
    CHECK(t->type == LO_DTYPE_F32 && t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 2 && t->ne[2] == 1 &&
          t->bytes == sizeof a && memcmp(t->data, a, sizeof a) == 0 && t->offset == 0);
    t = lo_gguf_tensor_at(g, lo_gguf_find_tensor(g, "h"));
    CHECK(t->type == LO_DTYPE_F16 && t->bytes == 10 && memcmp(t->data, h, 10) == 0 && t->offset == 64);
    t = lo_gguf_tensor_at(g, lo_gguf_find_tensor(g, "q8"));
    CHECK(t->type == LO_DTYPE_Q8_0 && t->bytes == sizeof q8 && memcmp(t->data, q8, sizeof q8) == 0 &&
          t->offset == 128);
    t = lo_gguf_tensor_at(g, lo_gguf_find_tensor(g, "blk.0.q4k"));
    CHECK(t->type == LO_DTYPE_Q4_K && t->bytes == k4->block_bytes && t->offset % 64 == 0);
    t = lo_gguf_tensor_at(g, lo_gguf_find_tensor(g, "ints"));
    CHECK(t->n_dims == 4 && t->ne[3] == 3 && memcmp(t->data, iv, 12) == 0);
    t = lo_gguf_tensor_at(g, lo_gguf_find_tensor(g, "empty"));
    CHECK(t->bytes == 0 && t->ne[0] == 0 && t->ne[1] == 4);
    CHECK(lo_gguf_find_tensor(g, "bad") == -1);
    /* every tensor ends inside the file and the file ends at an aligned size */
    CHECK_INT_EQ(lo_gguf_file_bytes(g) % 64, 0);

    /* copy this file through a writer: byte-identical */
    lo_gguf_writer *w3 = NULL;
    CHECK_OK(lo_gguf_writer_create(3, &w3));
    CHECK_OK(lo_gguf_writer_copy_kvs(w3, g));
    for (int64_t k = 0; k < lo_gguf_n_tensors(g); k++) {
        const lo_gguf_tensor *tt = lo_gguf_tensor_at(g, k);
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)tt->name.len, tt->name.data);
        CHECK_OK(lo_gguf_writer_add_tensor(w3, name, tt->type, tt->n_dims, tt->ne, tt->data, tt->bytes));
    }
    char path2[512];
    snprintf(path2, sizeof path2, "%s/copy.gguf", tmpdir);
    CHECK_OK(lo_gguf_writer_write(w3, path2));
    lo_gguf_writer_free(w3);
    lo_mapped m1 = {0}, m2 = {0};
    CHECK_OK(lo_mmap_file(path, &m1));
    CHECK_OK(lo_mmap_file(path2, &m2));
    CHECK(m1.bytes == m2.bytes && memcmp(m1.data, m2.data, m1.bytes) == 0);
    lo_munmap(&m1);
    lo_munmap(&m2);
    lo_gguf_close(g);
    unlink(path);
    unlink(path2);
}

/* A vocab-only file (no tensors) ends right after the header; v2 is accepted. */
static void no_tensors_v2(void) {
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(2, &w));
    CHECK_OK(lo_gguf_writer_set_str(w, "general.architecture", "x"));
    char path[512];
    snprintf(path, sizeof path, "%s/v2.gguf", tmpdir);
    CHECK_OK(lo_gguf_writer_write(w, path));
    lo_gguf_writer_free(w);
    lo_gguf *g = NULL;
    CHECK_OK(lo_gguf_open(path, &g));
    if (g) {
        CHECK_INT_EQ(lo_gguf_version(g), 2);
        CHECK_INT_EQ(lo_gguf_file_bytes(g), 24 + 8 + 20 + 4 + 8 + 1);
        CHECK_INT_EQ(lo_gguf_n_tensors(g), 0);
        lo_gguf_close(g);
    }
    /* writing to a directory that does not exist fails cleanly */
    CHECK_OK(lo_gguf_writer_create(3, &w));
    CHECK(lo_gguf_writer_write(w, "/nonexistent-dir/x.gguf") != LO_OK);
    CHECK(lo_error_message()[0] != 0);
    lo_gguf_writer_free(w);
    lo_gguf_writer_free(NULL);
    lo_gguf_close(NULL);
    unlink(path);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lo_gguf_wr_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    size_t live0 = lo_alloc_live_bytes();
    build_and_read();
    no_tensors_v2();
    CHECK_INT_EQ(lo_alloc_live_bytes(), live0);
    rmdir(tmpdir);
    return check_done();
}
