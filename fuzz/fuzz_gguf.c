/* libFuzzer target for the GGUF reader: parse arbitrary bytes with lo_gguf_open_memory,
 * walk every KV (nested arrays and strings included) and tensor through the accessors,
 * and close. Build: cmake -DLO_FUZZ=ON -DCMAKE_C_COMPILER=clang (see docs/gguf.md). */
#include <stdint.h>
#include <string.h>

#include "llmops/gguf.h"

static volatile uint64_t sink;

static void walk_value(const lo_gguf_value *v) {
    if (v->type == LO_GGUF_STRING) {
        if (v->str.len) sink += (uint8_t)v->str.data[0] + (uint8_t)v->str.data[v->str.len - 1];
        return;
    }
    if (v->type != LO_GGUF_ARRAY) {
        sink += v->u64;
        return;
    }
    for (uint64_t i = 0; i < v->arr.n; i++) {
        switch (v->arr.elem_type) {
        case LO_GGUF_STRING: {
            const lo_gguf_str *s = &v->arr.strs[i];
            if (s->len) sink += (uint8_t)s->data[0] + (uint8_t)s->data[s->len - 1];
            break;
        }
        case LO_GGUF_ARRAY: walk_value(&v->arr.items[i]); break;
        case LO_GGUF_FLOAT32: case LO_GGUF_FLOAT64: sink += (uint64_t)(lo_gguf_arr_f64(v, i) != 0); break;
        default: sink += lo_gguf_arr_u64(v, i) + (uint64_t)lo_gguf_arr_i64(v, i); break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lo_gguf *g = NULL;
    if (lo_gguf_open_memory(data, size, &g) != LO_OK) return 0;
    sink += lo_gguf_version(g) + lo_gguf_alignment(g) + lo_gguf_data_offset(g) + lo_gguf_file_bytes(g);
    for (int64_t i = 0; i < lo_gguf_n_kv(g); i++) {
        const lo_gguf_kv *kv = lo_gguf_kv_at(g, i);
        walk_value(&kv->value);
        /* Lookup by key must find this KV or an earlier identical repeat. */
        char key[256];
        if (kv->key.len < sizeof key) {
            memcpy(key, kv->key.data, kv->key.len);
            key[kv->key.len] = 0;
            int64_t j = lo_gguf_find_kv(g, key);
            if (j < 0 || j > i) __builtin_trap();
            uint64_t u;
            int64_t s;
            double d;
            bool b;
            lo_gguf_str str;
            sink += lo_gguf_get_u64(g, key, &u) + lo_gguf_get_i64(g, key, &s) + lo_gguf_get_f64(g, key, &d) +
                    lo_gguf_get_bool(g, key, &b) + lo_gguf_get_str(g, key, &str) +
                    (lo_gguf_get_arr(g, key, LO_GGUF_TYPE_COUNT) != NULL);
        }
    }
    lo_gguf_str arch = lo_gguf_arch(g);
    sink += arch.len;
    for (int64_t i = 0; i < lo_gguf_n_tensors(g); i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
        /* The data must lie inside the input. */
        const uint8_t *p = t->data;
        if (t->bytes && (p < data || p + t->bytes > data + size)) __builtin_trap();
        if (t->bytes) sink += p[0] + p[t->bytes - 1];
        char name[80];
        if (t->name.len < sizeof name) {
            memcpy(name, t->name.data, t->name.len);
            name[t->name.len] = 0;
            if (lo_gguf_find_tensor(g, name) != i) __builtin_trap();
        }
    }
    lo_gguf_close(g);
    return 0;
}
