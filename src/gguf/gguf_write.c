/* gguf writer: collects KVs and tensors in order and writes them in ggml's layout
 * (header, KVs, tensor infos, zero padding to the alignment, each tensor's data padded to
 * the alignment), so a file read and re-added in order comes out byte for byte. */
#include <stdio.h>
#include <string.h>

#include "gguf/gguf_internal.h"

typedef struct wkv {
    char *key;
    size_t key_len;
    lo_gguf_value v; /* deep copy owned by the writer */
} wkv;

typedef struct wtensor {
    char *name;
    size_t name_len;
    uint32_t type, n_dims;
    int64_t ne[LO_GGUF_MAX_DIMS];
    const void *data;
    size_t bytes;
} wtensor;

struct lo_gguf_writer {
    uint32_t version;
    size_t alignment;
    wkv *kvs;
    int64_t n_kv, cap_kv;
    wtensor *tensors;
    int64_t n_tensors, cap_tensors;
    lo_strmap *kv_index;     /* key → index into kvs; rebuilt after a removal */
    lo_strmap *tensor_index; /* name → index */
    int64_t n_repeats;       /* KVs whose key also appears earlier (copied from a file) */
};

lo_status lo_gguf_writer_create(uint32_t version, lo_gguf_writer **out) {
    *out = NULL;
    if (version != 2 && version != 3)
        return lo_error(LO_ERR_INVALID, NULL, "gguf writer: version %u is not supported (only 2 and 3)", version);
    lo_gguf_writer *w = lo_calloc(1, sizeof *w);
    if (!w) return LO_ERR_NOMEM;
    w->version = version;
    w->alignment = LO_GGUF_DEFAULT_ALIGNMENT;
    lo_status s = lo_strmap_create(64, &w->kv_index);
    if (!s) s = lo_strmap_create(64, &w->tensor_index);
    if (s) {
        lo_gguf_writer_free(w);
        return s;
    }
    *out = w;
    return LO_OK;
}

static void value_free(lo_gguf_value *v) {
    if (v->type == LO_GGUF_STRING) {
        lo_free((void *)v->str.data);
    } else if (v->type == LO_GGUF_ARRAY) {
        lo_free((void *)v->arr.raw);
        if (v->arr.strs) {
            for (uint64_t i = 0; i < v->arr.n; i++) lo_free((void *)v->arr.strs[i].data);
            lo_free((void *)v->arr.strs);
        }
        if (v->arr.items) {
            for (uint64_t i = 0; i < v->arr.n; i++) value_free((lo_gguf_value *)&v->arr.items[i]);
            lo_free((void *)v->arr.items);
        }
    }
    memset(v, 0, sizeof *v);
}

void lo_gguf_writer_free(lo_gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) {
        lo_free(w->kvs[i].key);
        value_free(&w->kvs[i].v);
    }
    lo_free(w->kvs);
    for (int64_t i = 0; i < w->n_tensors; i++) lo_free(w->tensors[i].name);
    lo_free(w->tensors);
    lo_strmap_free(w->kv_index);
    lo_strmap_free(w->tensor_index);
    lo_free(w);
}

static char *copy_bytes(const char *s, size_t n) {
    char *p = lo_malloc(n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* Validates src (types, nesting, bool 0/1) and deep-copies it into dst (zeroed on error). */
static lo_status value_copy(lo_gguf_value *dst, const lo_gguf_value *src, int depth, const char *key) {
    memset(dst, 0, sizeof *dst);
    if ((unsigned)src->type >= LO_GGUF_TYPE_COUNT)
        return lo_error(LO_ERR_INVALID, NULL, "gguf writer: key '%s': value type %d is not a GGUF type", key,
                        (int)src->type);
    if (src->type == LO_GGUF_BOOL && src->u64 > 1)
        return lo_error(LO_ERR_INVALID, NULL, "gguf writer: key '%s': bool value %llu is not 0 or 1", key,
                        (unsigned long long)src->u64);
    if (src->type == LO_GGUF_STRING) {
        if (src->str.len && !src->str.data)
            return lo_error(LO_ERR_INVALID, NULL, "gguf writer: key '%s': string without data", key);
        char *p = copy_bytes(src->str.data, (size_t)src->str.len);
        if (!p) return LO_ERR_NOMEM;
        dst->type = LO_GGUF_STRING;
        dst->str.data = p;
        dst->str.len = src->str.len;
        return LO_OK;
    }
    if (src->type != LO_GGUF_ARRAY) {
        *dst = *src;
        return LO_OK;
    }
    lo_gguf_type et = src->arr.elem_type;
    uint64_t n = src->arr.n;
    if ((unsigned)et >= LO_GGUF_TYPE_COUNT)
        return lo_error(LO_ERR_INVALID, NULL, "gguf writer: key '%s': array element type %d is not a GGUF type", key,
                        (int)et);
    if (et == LO_GGUF_ARRAY && depth + 1 >= LO_GGUF_MAX_DEPTH)
        return lo_error(LO_ERR_INVALID, NULL, "gguf writer: key '%s': arrays nested more than %d deep", key,
                        LO_GGUF_MAX_DEPTH);
    dst->type = LO_GGUF_ARRAY;
    dst->arr.elem_type = et;
    size_t count;
    if (n > SIZE_MAX / 64) return lo_error(LO_ERR_RANGE, NULL, "gguf writer: key '%s': array too long", key);
    count = (size_t)n;
    lo_status s = LO_OK;
    if (et == LO_GGUF_STRING) {
        if (count && !src->arr.strs)
            return lo_error(LO_ERR_INVALID, NULL, "gguf writer: key '%s': string array without strings", key);
        lo_gguf_str *strs = lo_calloc(count ? count : 1, sizeof *strs);
        if (!strs) return LO_ERR_NOMEM;
        dst->arr.strs = strs;
        for (size_t i = 0; i < count; i++) {
            if (src->arr.strs[i].len && !src->arr.strs[i].data) {
                s = lo_error(LO_ERR_INVALID, NULL, "gguf writer: key '%s': string %zu without data", key, i);
                break;
            }
            char *p = copy_bytes(src->arr.strs[i].data, (size_t)src->arr.strs[i].len);
            if (!p) {
                s = LO_ERR_NOMEM;
                break;
            }
            strs[i].data = p;
            strs[i].len = src->arr.strs[i].len;
            dst->arr.n = i + 1; /* so value_free frees exactly what was copied */
        }
    } else if (et == LO_GGUF_ARRAY) {
        if (count && !src->arr.items)
            return lo_error(LO_ERR_INVALID, NULL, "gguf writer: key '%s': nested array without items", key);
        lo_gguf_value *items = lo_calloc(count ? count : 1, sizeof *items);
        if (!items) return LO_ERR_NOMEM;
        dst->arr.items = items;
        for (size_t i = 0; i < count && !s; i++) {
            if (src->arr.items[i].type != LO_GGUF_ARRAY) {
                s = lo_error(LO_ERR_INVALID, NULL, "gguf writer: key '%s': nested item %zu is not an array", key, i);
                break;
            }
            s = value_copy(&items[i], &src->arr.items[i], depth + 1, key);
            dst->arr.n = i + 1;
        }
    } else {
        size_t sz = lo_gguf__type_size(et);
        if (count && !src->arr.raw)
            return lo_error(LO_ERR_INVALID, NULL, "gguf writer: key '%s': array without element bytes", key);
        uint8_t *raw = lo_malloc(count ? count * sz : 1);
        if (!raw) return LO_ERR_NOMEM;
        if (count) memcpy(raw, src->arr.raw, count * sz);
        dst->arr.raw = raw;
        if (et == LO_GGUF_BOOL)
            for (size_t i = 0; i < count; i++)
                if (raw[i] > 1) {
                    s = lo_error(LO_ERR_INVALID, NULL, "gguf writer: key '%s': bool element %zu is %u, not 0 or 1", key,
                                 i, raw[i]);
                    break;
                }
    }
    if (!s) dst->arr.n = n;
    if (s) value_free(dst);
    return s;
}

static lo_status rebuild_index(lo_gguf_writer *w) {
    lo_strmap *m;
    lo_status s = lo_strmap_create((size_t)w->n_kv + 64, &m);
    if (s) return s;
    int64_t prev;
    for (int64_t i = 0; i < w->n_kv && !s; i++)
        if (!lo_strmap_get(m, w->kvs[i].key, w->kvs[i].key_len, &prev)) /* first occurrence wins */
            s = lo_strmap_put(m, w->kvs[i].key, w->kvs[i].key_len, i);
    if (s) {
        lo_strmap_free(m);
        return s;
    }
    lo_strmap_free(w->kv_index);
    w->kv_index = m;
    return LO_OK;
}

static bool value_equal(const lo_gguf_value *a, const lo_gguf_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case LO_GGUF_FLOAT32: case LO_GGUF_FLOAT64: return memcmp(&a->f64, &b->f64, sizeof a->f64) == 0;
    case LO_GGUF_INT8: case LO_GGUF_INT16: case LO_GGUF_INT32: case LO_GGUF_INT64: return a->i64 == b->i64;
    case LO_GGUF_STRING: return a->str.len == b->str.len && memcmp(a->str.data, b->str.data, (size_t)a->str.len) == 0;
    case LO_GGUF_ARRAY:
        if (a->arr.elem_type != b->arr.elem_type || a->arr.n != b->arr.n) return false;
        for (uint64_t i = 0; i < a->arr.n; i++) {
            if (a->arr.elem_type == LO_GGUF_STRING) {
                const lo_gguf_str *x = &a->arr.strs[i], *y = &b->arr.strs[i];
                if (x->len != y->len || memcmp(x->data, y->data, (size_t)x->len) != 0) return false;
            } else if (a->arr.elem_type == LO_GGUF_ARRAY) {
                if (!value_equal(&a->arr.items[i], &b->arr.items[i])) return false;
            }
        }
        if (a->arr.elem_type != LO_GGUF_STRING && a->arr.elem_type != LO_GGUF_ARRAY)
            return memcmp(a->arr.raw, b->arr.raw, (size_t)a->arr.n * lo_gguf__type_size(a->arr.elem_type)) == 0;
        return true;
    default: return a->u64 == b->u64;
    }
}

/* Drops every entry after the first with the same key (repeats kept by copy_kvs). */
static lo_status drop_repeats(lo_gguf_writer *w, int64_t first) {
    if (w->n_repeats == 0) return LO_OK;
    int64_t o = first + 1;
    for (int64_t i = first + 1; i < w->n_kv; i++) {
        if (w->kvs[i].key_len == w->kvs[first].key_len &&
            memcmp(w->kvs[i].key, w->kvs[first].key, w->kvs[i].key_len) == 0) {
            lo_free(w->kvs[i].key);
            value_free(&w->kvs[i].v);
            w->n_repeats--;
        } else {
            w->kvs[o++] = w->kvs[i];
        }
    }
    if (o == w->n_kv) return LO_OK;
    w->n_kv = o;
    return rebuild_index(w);
}

/* Adds or replaces a KV whose key is n bytes (not NUL-terminated). With `keep_repeat`
 * (copying a file), a key that repeats with an identical value is appended again so the
 * copy stays byte-exact; writer_set instead replaces the first and drops the repeats. */
static lo_status set_kv(lo_gguf_writer *w, const char *key, size_t key_len, const lo_gguf_value *v,
                        bool keep_repeat) {
    char q[96];
    if (!lo_gguf__name_valid(key, key_len))
        return lo_error(LO_ERR_INVALID, NULL, "gguf writer: key '%s' is empty or not valid UTF-8",
                        lo_gguf__quote(q, sizeof q, key, key_len));
    lo_gguf__quote(q, sizeof q, key, key_len);
    size_t align = 0;
    if (key_len == 17 && memcmp(key, "general.alignment", 17) == 0) {
        if (v->type != LO_GGUF_UINT32)
            return lo_error(LO_ERR_INVALID, NULL, "gguf writer: general.alignment must be u32, not %s",
                            lo_gguf_type_name(v->type));
        if (v->u64 == 0 || v->u64 > UINT32_MAX || (v->u64 & (v->u64 - 1)) != 0)
            return lo_error(LO_ERR_INVALID, NULL, "gguf writer: general.alignment %llu is not a nonzero power of two",
                            (unsigned long long)v->u64);
        align = (size_t)v->u64;
    }
    lo_gguf_value copy;
    lo_status s = value_copy(&copy, v, 0, q);
    if (s) return s;
    int64_t i;
    bool repeat = false;
    if (lo_strmap_get(w->kv_index, key, key_len, &i)) {
        if (keep_repeat && value_equal(&w->kvs[i].v, &copy)) {
            repeat = true;
        } else {
            value_free(&w->kvs[i].v);
            w->kvs[i].v = copy;
            if ((s = drop_repeats(w, i))) return s;
        }
    }
    if (!lo_strmap_get(w->kv_index, key, key_len, &i) || repeat) {
        if (w->n_kv == w->cap_kv) {
            int64_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
            wkv *k = lo_realloc(w->kvs, (size_t)cap * sizeof *k);
            if (!k) {
                value_free(&copy);
                return LO_ERR_NOMEM;
            }
            w->kvs = k;
            w->cap_kv = cap;
        }
        char *kcopy = copy_bytes(key, key_len);
        if (!kcopy || (!repeat && (s = lo_strmap_put(w->kv_index, key, key_len, w->n_kv)))) {
            lo_free(kcopy);
            value_free(&copy);
            return s ? s : LO_ERR_NOMEM;
        }
        w->kvs[w->n_kv++] = (wkv){kcopy, key_len, copy};
        if (repeat) w->n_repeats++;
    }
    if (align) w->alignment = align;
    return LO_OK;
}

lo_status lo_gguf_writer_set(lo_gguf_writer *w, const char *key, const lo_gguf_value *v) {
    return set_kv(w, key, strlen(key), v, false);
}

lo_status lo_gguf_writer_set_u32(lo_gguf_writer *w, const char *key, uint32_t v) {
    lo_gguf_value x = {.type = LO_GGUF_UINT32, .u64 = v};
    return lo_gguf_writer_set(w, key, &x);
}
lo_status lo_gguf_writer_set_i32(lo_gguf_writer *w, const char *key, int32_t v) {
    lo_gguf_value x = {.type = LO_GGUF_INT32, .i64 = v};
    return lo_gguf_writer_set(w, key, &x);
}
lo_status lo_gguf_writer_set_u64(lo_gguf_writer *w, const char *key, uint64_t v) {
    lo_gguf_value x = {.type = LO_GGUF_UINT64, .u64 = v};
    return lo_gguf_writer_set(w, key, &x);
}
lo_status lo_gguf_writer_set_f32(lo_gguf_writer *w, const char *key, float v) {
    lo_gguf_value x = {.type = LO_GGUF_FLOAT32, .f64 = v};
    return lo_gguf_writer_set(w, key, &x);
}
lo_status lo_gguf_writer_set_bool(lo_gguf_writer *w, const char *key, bool v) {
    lo_gguf_value x = {.type = LO_GGUF_BOOL, .u64 = v ? 1 : 0};
    return lo_gguf_writer_set(w, key, &x);
}
lo_status lo_gguf_writer_set_str(lo_gguf_writer *w, const char *key, const char *v) {
    lo_gguf_value x = {.type = LO_GGUF_STRING, .str = {v, strlen(v)}};
    return lo_gguf_writer_set(w, key, &x);
}

lo_status lo_gguf_writer_set_arr_str(lo_gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    if (n > SIZE_MAX / sizeof(lo_gguf_str)) return LO_ERR_RANGE;
    lo_gguf_str *strs = lo_calloc(n ? (size_t)n : 1, sizeof *strs);
    if (!strs) return LO_ERR_NOMEM;
    for (uint64_t i = 0; i < n; i++) strs[i] = (lo_gguf_str){v[i], strlen(v[i])};
    lo_gguf_value x = {.type = LO_GGUF_ARRAY};
    x.arr.elem_type = LO_GGUF_STRING;
    x.arr.n = n;
    x.arr.strs = strs;
    lo_status s = lo_gguf_writer_set(w, key, &x);
    lo_free(strs);
    return s;
}

lo_status lo_gguf_writer_set_arr(lo_gguf_writer *w, const char *key, lo_gguf_type elem_type, const void *v,
                                 uint64_t n) {
    if (lo_gguf__type_size(elem_type) == 0)
        return lo_error(LO_ERR_INVALID, NULL, "gguf writer: key '%s': lo_gguf_writer_set_arr needs a fixed-size element type, not %s",
                        key, lo_gguf_type_name(elem_type));
    lo_gguf_value x = {.type = LO_GGUF_ARRAY};
    x.arr.elem_type = elem_type;
    x.arr.n = n;
    x.arr.raw = v;
    return lo_gguf_writer_set(w, key, &x);
}

void lo_gguf_writer_remove(lo_gguf_writer *w, const char *key) {
    int64_t i;
    size_t n = strlen(key);
    if (!lo_strmap_get(w->kv_index, key, n, &i)) return;
    if (n == 17 && memcmp(key, "general.alignment", 17) == 0) w->alignment = LO_GGUF_DEFAULT_ALIGNMENT;
    if (drop_repeats(w, i) != LO_OK) LO_ASSERT(!"gguf writer: out of memory rebuilding the key index");
    lo_free(w->kvs[i].key);
    value_free(&w->kvs[i].v);
    memmove(&w->kvs[i], &w->kvs[i + 1], (size_t)(w->n_kv - i - 1) * sizeof *w->kvs);
    w->n_kv--;
    /* The map has no delete; rebuilding is fine for a rare operation. A stale map would
     * point past the end, so running out of memory here is fatal. */
    if (rebuild_index(w) != LO_OK) LO_ASSERT(!"gguf writer: out of memory rebuilding the key index");
}

lo_status lo_gguf_writer_copy_kvs(lo_gguf_writer *w, const lo_gguf *src) {
    int64_t n = lo_gguf_n_kv(src);
    for (int64_t i = 0; i < n; i++) {
        const lo_gguf_kv *kv = lo_gguf_kv_at(src, i);
        lo_status s = set_kv(w, kv->key.data, (size_t)kv->key.len, &kv->value, true);
        if (s) return s;
    }
    return LO_OK;
}

lo_status lo_gguf_writer_add_tensor(lo_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                    const int64_t *ne, const void *data, size_t bytes) {
    size_t name_len = strlen(name);
    char q[96];
    lo_gguf__quote(q, sizeof q, name, name_len);
    if (!lo_gguf__name_valid(name, name_len))
        return lo_error(LO_ERR_INVALID, NULL, "gguf writer: tensor name '%s' is empty or not valid UTF-8", q);
    if (name_len > LO_GGUF_MAX_NAME)
        return lo_error(LO_ERR_INVALID, "ggml (llama.cpp) limits tensor names to 63 bytes",
                        "gguf writer: tensor name '%s' is %zu bytes long", q, name_len);
    int64_t prev;
    if (lo_strmap_get(w->tensor_index, name, name_len, &prev))
        return lo_error(LO_ERR_INVALID, NULL, "gguf writer: duplicate tensor name '%s'", q);
    const lo_dtype_traits *tr = lo_dtype_get(type);
    if (!tr) return lo_error(LO_ERR_INVALID, NULL, "gguf writer: tensor '%s': unknown type %u", q, type);
    if (n_dims < 1 || n_dims > LO_GGUF_MAX_DIMS)
        return lo_error(LO_ERR_INVALID, NULL, "gguf writer: tensor '%s': n_dims %u is not 1..%d", q, n_dims,
                        LO_GGUF_MAX_DIMS);
    wtensor t = {.type = type, .n_dims = n_dims, .data = data, .bytes = bytes};
    int64_t n_elems = 1;
    for (int d = 0; d < LO_GGUF_MAX_DIMS; d++) {
        t.ne[d] = (uint32_t)d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 0 || __builtin_mul_overflow(n_elems, t.ne[d], &n_elems))
            return lo_error(LO_ERR_INVALID, NULL, "gguf writer: tensor '%s': dimension %d (%lld) is negative or overflows", q,
                            d, (long long)t.ne[d]);
    }
    size_t expect;
    if (!lo_dtype_row_bytes(type, t.ne[0], &expect))
        return lo_error(LO_ERR_INVALID, NULL, "gguf writer: tensor '%s': ne[0] = %lld is not a multiple of the %s block size %lld",
                        q, (long long)t.ne[0], tr->name, (long long)tr->block_elems);
    for (int d = 1; d < LO_GGUF_MAX_DIMS; d++)
        if (lo_mul_overflow(expect, (size_t)t.ne[d], &expect))
            return lo_error(LO_ERR_INVALID, NULL, "gguf writer: tensor '%s': byte size overflows", q);
    if (bytes != expect)
        return lo_error(LO_ERR_INVALID, NULL, "gguf writer: tensor '%s': %zu bytes given, but %s [%lld,%lld,%lld,%lld] needs %zu",
                        q, bytes, tr->name, (long long)t.ne[0], (long long)t.ne[1], (long long)t.ne[2],
                        (long long)t.ne[3], expect);
    if (bytes && !data) return lo_error(LO_ERR_INVALID, NULL, "gguf writer: tensor '%s': no data", q);
    if (w->n_tensors == w->cap_tensors) {
        int64_t cap = w->cap_tensors ? w->cap_tensors * 2 : 32;
        wtensor *p = lo_realloc(w->tensors, (size_t)cap * sizeof *p);
        if (!p) return LO_ERR_NOMEM;
        w->tensors = p;
        w->cap_tensors = cap;
    }
    t.name = copy_bytes(name, name_len);
    t.name_len = name_len;
    if (!t.name) return LO_ERR_NOMEM;
    lo_status s = lo_strmap_put(w->tensor_index, name, name_len, w->n_tensors);
    if (s) {
        lo_free(t.name);
        return s;
    }
    w->tensors[w->n_tensors++] = t;
    return LO_OK;
}

/* ---- serialisation ---------------------------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} buf;

static void put(buf *b, const void *data, size_t n) {
    if (b->oom) return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *p = lo_realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_le(buf *b, uint64_t v, size_t n) {
    uint8_t t[8];
    for (size_t i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, n);
}

static void put_str(buf *b, const char *s, uint64_t n) {
    put_le(b, n, 8);
    put(b, s, (size_t)n);
}

static void put_value(buf *b, const lo_gguf_value *v) {
    switch (v->type) {
    case LO_GGUF_UINT8: case LO_GGUF_BOOL: put_le(b, v->u64, 1); break;
    case LO_GGUF_INT8: put_le(b, (uint64_t)v->i64, 1); break;
    case LO_GGUF_UINT16: put_le(b, v->u64, 2); break;
    case LO_GGUF_INT16: put_le(b, (uint64_t)v->i64, 2); break;
    case LO_GGUF_UINT32: put_le(b, v->u64, 4); break;
    case LO_GGUF_INT32: put_le(b, (uint64_t)v->i64, 4); break;
    case LO_GGUF_UINT64: put_le(b, v->u64, 8); break;
    case LO_GGUF_INT64: put_le(b, (uint64_t)v->i64, 8); break;
    case LO_GGUF_FLOAT32: {
        float f = (float)v->f64;
        uint32_t u;
        memcpy(&u, &f, 4);
        put_le(b, u, 4);
        break;
    }
    case LO_GGUF_FLOAT64: {
        uint64_t u;
        memcpy(&u, &v->f64, 8);
        put_le(b, u, 8);
        break;
    }
    case LO_GGUF_STRING: put_str(b, v->str.data, v->str.len); break;
    case LO_GGUF_ARRAY:
        put_le(b, (uint64_t)v->arr.elem_type, 4);
        put_le(b, v->arr.n, 8);
        if (v->arr.elem_type == LO_GGUF_STRING) {
            for (uint64_t i = 0; i < v->arr.n; i++) put_str(b, v->arr.strs[i].data, v->arr.strs[i].len);
        } else if (v->arr.elem_type == LO_GGUF_ARRAY) {
            for (uint64_t i = 0; i < v->arr.n; i++) put_value(b, &v->arr.items[i]);
        } else {
            put(b, v->arr.raw, (size_t)v->arr.n * lo_gguf__type_size(v->arr.elem_type));
        }
        break;
    default: LO_ASSERT(!"gguf writer: bad value type");
    }
}

static size_t pad_to(size_t n, size_t align) { return (align - n % align) % align; }

lo_status lo_gguf_writer_write(lo_gguf_writer *w, const char *path) {
    static const uint8_t zeros[256];
    buf b = {0};
    put(&b, "GGUF", 4);
    put_le(&b, w->version, 4);
    put_le(&b, (uint64_t)w->n_tensors, 8);
    put_le(&b, (uint64_t)w->n_kv, 8);
    for (int64_t i = 0; i < w->n_kv; i++) {
        put_str(&b, w->kvs[i].key, w->kvs[i].key_len);
        put_le(&b, (uint64_t)w->kvs[i].v.type, 4);
        put_value(&b, &w->kvs[i].v);
    }
    uint64_t offset = 0;
    for (int64_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        put_str(&b, t->name, t->name_len);
        put_le(&b, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) put_le(&b, (uint64_t)t->ne[d], 8);
        put_le(&b, t->type, 4);
        put_le(&b, offset, 8);
        offset += t->bytes + pad_to(t->bytes, w->alignment);
    }
    /* A file without tensors ends right after the header (as gguf-py writes vocab-only
     * files); otherwise the data section starts at the next multiple of the alignment. */
    if (w->n_tensors > 0)
        for (size_t pad = pad_to(b.len, w->alignment); pad > 0;) {
            size_t k = pad < sizeof zeros ? pad : sizeof zeros;
            put(&b, zeros, k);
            pad -= k;
        }
    if (b.oom) {
        lo_free(b.p);
        return lo_error(LO_ERR_NOMEM, NULL, "gguf writer: out of memory building the %zu-byte header", b.len);
    }
    lo_atomic_file *f;
    lo_status s = lo_atomic_open(path, &f);
    if (s) {
        lo_free(b.p);
        return s;
    }
    s = lo_atomic_write(f, b.p, b.len);
    lo_free(b.p);
    for (int64_t i = 0; i < w->n_tensors && !s; i++) {
        const wtensor *t = &w->tensors[i];
        if (t->bytes) s = lo_atomic_write(f, t->data, t->bytes);
        for (size_t pad = pad_to(t->bytes, w->alignment); pad > 0 && !s;) {
            size_t k = pad < sizeof zeros ? pad : sizeof zeros;
            s = lo_atomic_write(f, zeros, k);
            pad -= k;
        }
    }
    if (s) {
        lo_atomic_abort(f);
        return s;
    }
    return lo_atomic_commit(f);
}
