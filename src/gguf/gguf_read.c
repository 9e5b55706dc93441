/* gguf reader: maps a GGUF v2/v3 file and validates every count, length, offset and
 * dimension against the bytes that remain before using it. Values and tensor data point
 * into the mapping (zero-copy); only index arrays are allocated, all freed in _close. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf_internal.h"

struct lo_gguf {
    lo_mapped map; /* owned mapping (open from path) or {NULL,0} */
    const uint8_t *data;
    size_t bytes;
    char *name; /* path or "<memory>", for messages */
    uint32_t version;
    size_t alignment;
    uint64_t data_offset;
    int64_t n_kv;
    lo_gguf_kv *kvs;
    int64_t n_tensors;
    lo_gguf_tensor *tensors;
    lo_strmap *kv_index, *tensor_index;
    void **allocs; /* string-array and nested-array index blocks */
    size_t n_allocs, cap_allocs;
};

/* Parse cursor; `what` names the item being parsed for error messages ("KV 5 ('x')"). */
typedef struct reader {
    lo_gguf *g;
    size_t pos;
    char what[192];
} reader;

static const char *const type_article_names[LO_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

__attribute__((format(printf, 5, 6))) static lo_status fail(const reader *r, lo_status s, const char *hint,
                                                            size_t at, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->what[0]) return lo_error(s, hint, "%s: %s at byte %zu: %s", r->g->name, r->what, at, msg);
    return lo_error(s, hint, "%s: at byte %zu: %s", r->g->name, at, msg);
}

static void *track(lo_gguf *g, size_t n, size_t size) {
    if (g->n_allocs == g->cap_allocs) {
        size_t cap = g->cap_allocs ? g->cap_allocs * 2 : 16;
        void **a = lo_realloc(g->allocs, cap * sizeof *a);
        if (!a) return NULL;
        g->allocs = a;
        g->cap_allocs = cap;
    }
    void *p = lo_calloc(n ? n : 1, size);
    if (p) g->allocs[g->n_allocs++] = p;
    return p;
}

static size_t remaining(const reader *r) { return r->g->bytes - r->pos; }

static uint64_t rd_le(reader *r, size_t n) {
    const uint8_t *p = r->g->data + r->pos;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    r->pos += n;
    return v;
}

static lo_status rd_u32(reader *r, const char *field, uint32_t *out) {
    *out = 0;
    if (remaining(r) < 4)
        return fail(r, LO_ERR_FORMAT, NULL, r->pos, "%s (4 bytes) runs past the end of the file (file is %zu bytes)",
                    field, r->g->bytes);
    *out = (uint32_t)rd_le(r, 4);
    return LO_OK;
}

static lo_status rd_u64(reader *r, const char *field, uint64_t *out) {
    *out = 0;
    if (remaining(r) < 8)
        return fail(r, LO_ERR_FORMAT, NULL, r->pos, "%s (8 bytes) runs past the end of the file (file is %zu bytes)",
                    field, r->g->bytes);
    *out = rd_le(r, 8);
    return LO_OK;
}

static lo_status rd_str(reader *r, const char *field, lo_gguf_str *out) {
    size_t at = r->pos;
    uint64_t len;
    lo_status s = rd_u64(r, field, &len);
    if (s) return s;
    if (len > remaining(r))
        return fail(r, LO_ERR_FORMAT, NULL, at, "%s of %llu bytes runs past the end of the file (file is %zu bytes)",
                    field, (unsigned long long)len, r->g->bytes);
    out->data = (const char *)r->g->data + r->pos;
    out->len = len;
    r->pos += (size_t)len;
    return LO_OK;
}

static lo_status parse_value(reader *r, uint32_t type, lo_gguf_value *v, int depth);

static lo_status parse_array(reader *r, lo_gguf_value *v, int depth) {
    size_t at = r->pos;
    uint32_t et;
    uint64_t n;
    lo_status s = rd_u32(r, "array element type", &et);
    if (!s) s = rd_u64(r, "array length", &n);
    if (s) return s;
    if (et >= LO_GGUF_TYPE_COUNT)
        return fail(r, LO_ERR_FORMAT, NULL, at, "array element type %u is not a GGUF value type (0..%d)", et,
                    LO_GGUF_TYPE_COUNT - 1);
    if (et == LO_GGUF_ARRAY && depth + 1 >= LO_GGUF_MAX_DEPTH)
        return fail(r, LO_ERR_FORMAT, NULL, at, "arrays nested more than %d deep", LO_GGUF_MAX_DEPTH);
    size_t min = lo_gguf__min_elem_bytes(et);
    /* Every element needs at least `min` bytes, so a huge count fails here before any
     * allocation sized by it. */
    if (n > remaining(r) / min)
        return fail(r, LO_ERR_FORMAT, NULL, at,
                    "array of %llu %s%s runs past the end of the file (file is %zu bytes, %zu remain)",
                    (unsigned long long)n, type_article_names[et], n == 1 ? "" : "s", r->g->bytes, remaining(r));
    v->type = LO_GGUF_ARRAY;
    v->arr.elem_type = (lo_gguf_type)et;
    v->arr.n = n;
    v->arr.raw = NULL;
    v->arr.strs = NULL;
    v->arr.items = NULL;
    if (et == LO_GGUF_STRING) {
        lo_gguf_str *strs = track(r->g, (size_t)n, sizeof *strs);
        if (!strs) return lo_error_wrap(LO_ERR_NOMEM, "%s: %s", r->g->name, r->what);
        for (uint64_t i = 0; i < n; i++) {
            size_t eat = r->pos;
            uint64_t len;
            if ((s = rd_u64(r, "string length", &len))) return s;
            if (len > remaining(r))
                return fail(r, LO_ERR_FORMAT, NULL, eat,
                            "string %llu of %llu (%llu bytes) runs past the end of the file (file is %zu bytes)",
                            (unsigned long long)i, (unsigned long long)n, (unsigned long long)len, r->g->bytes);
            strs[i].data = (const char *)r->g->data + r->pos;
            strs[i].len = len;
            r->pos += (size_t)len;
        }
        v->arr.strs = strs;
    } else if (et == LO_GGUF_ARRAY) {
        lo_gguf_value *items = track(r->g, (size_t)n, sizeof *items);
        if (!items) return lo_error_wrap(LO_ERR_NOMEM, "%s: %s", r->g->name, r->what);
        for (uint64_t i = 0; i < n; i++)
            if ((s = parse_array(r, &items[i], depth + 1))) return s;
        v->arr.items = items;
    } else {
        v->arr.raw = r->g->data + r->pos;
        if (et == LO_GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (v->arr.raw[i] > 1)
                    return fail(r, LO_ERR_FORMAT, NULL, r->pos + (size_t)i, "bool element %llu is %u, not 0 or 1",
                                (unsigned long long)i, v->arr.raw[i]);
        r->pos += (size_t)n * min;
    }
    return LO_OK;
}

static lo_status parse_value(reader *r, uint32_t type, lo_gguf_value *v, int depth) {
    size_t at = r->pos;
    if (type >= LO_GGUF_TYPE_COUNT)
        return fail(r, LO_ERR_FORMAT, NULL, at - 4, "value type %u is not a GGUF value type (0..%d)", type,
                    LO_GGUF_TYPE_COUNT - 1);
    memset(v, 0, sizeof *v);
    v->type = (lo_gguf_type)type;
    if (type == LO_GGUF_STRING) return rd_str(r, "string value", &v->str);
    if (type == LO_GGUF_ARRAY) return parse_array(r, v, depth);
    size_t sz = lo_gguf__type_size(type);
    if (remaining(r) < sz)
        return fail(r, LO_ERR_FORMAT, NULL, at, "%s value (%zu bytes) runs past the end of the file (file is %zu bytes)",
                    type_article_names[type], sz, r->g->bytes);
    uint64_t u = rd_le(r, sz);
    switch (type) {
    case LO_GGUF_INT8: v->i64 = (int8_t)u; break;
    case LO_GGUF_INT16: v->i64 = (int16_t)u; break;
    case LO_GGUF_INT32: v->i64 = (int32_t)u; break;
    case LO_GGUF_INT64: v->i64 = (int64_t)u; break;
    case LO_GGUF_FLOAT32: {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, 4);
        v->f64 = f;
        break;
    }
    case LO_GGUF_FLOAT64: memcpy(&v->f64, &u, 8); break;
    case LO_GGUF_BOOL:
        if (u > 1) return fail(r, LO_ERR_FORMAT, NULL, at, "bool value is %u, not 0 or 1", (unsigned)u);
        v->u64 = u;
        break;
    default: v->u64 = u; break;
    }
    return LO_OK;
}

static void set_what(reader *r, const char *kind, int64_t i, const lo_gguf_str *name) {
    if (!name) {
        snprintf(r->what, sizeof r->what, "%s %lld", kind, (long long)i);
        return;
    }
    char q[96];
    snprintf(r->what, sizeof r->what, "%s %lld ('%s')", kind, (long long)i,
             lo_gguf__quote(q, sizeof q, name->data, (size_t)name->len));
}

/* spans[2i], spans[2i+1]: byte range of KV i's type and value, to compare repeats. */
static lo_status parse_kvs(reader *r, size_t *spans) {
    lo_gguf *g = r->g;
    lo_status s;
    for (int64_t i = 0; i < g->n_kv; i++) {
        lo_gguf_kv *kv = &g->kvs[i];
        size_t at = r->pos;
        set_what(r, "KV", i, NULL);
        if ((s = rd_str(r, "key", &kv->key))) return s;
        set_what(r, "KV", i, &kv->key);
        if (!lo_gguf__name_valid(kv->key.data, (size_t)kv->key.len))
            return fail(r, LO_ERR_FORMAT, NULL, at, "key is %s", kv->key.len ? "not valid UTF-8" : "empty");
        uint32_t type;
        size_t type_at = r->pos;
        if ((s = rd_u32(r, "value type", &type))) return s;
        if ((s = parse_value(r, type, &kv->value, 0))) return s;
        spans[2 * i] = type_at;
        spans[2 * i + 1] = r->pos;
        /* A repeated key is ambiguous unless it repeats the same type and value bytes
         * (real files have that: llama.cpp's dbrx vocab sets general.file_type twice);
         * lookups see the first. */
        int64_t prev;
        if (lo_strmap_get(g->kv_index, kv->key.data, (size_t)kv->key.len, &prev)) {
            size_t a0 = spans[2 * prev], a1 = spans[2 * prev + 1], b0 = type_at, b1 = r->pos;
            if (a1 - a0 != b1 - b0 || memcmp(g->data + a0, g->data + b0, a1 - a0) != 0)
                return fail(r, LO_ERR_FORMAT, NULL, at, "duplicate key with a different value (first defined by KV %lld)",
                            (long long)prev);
        } else if ((s = lo_strmap_put(g->kv_index, kv->key.data, (size_t)kv->key.len, i))) {
            return s;
        }
        if (lo_gguf_str_eq(kv->key, "general.alignment")) {
            if (type != LO_GGUF_UINT32)
                return fail(r, LO_ERR_FORMAT, NULL, at, "general.alignment has type %s, expected u32",
                            lo_gguf_type_name(type));
            uint64_t a = kv->value.u64;
            if (a == 0 || (a & (a - 1)) != 0)
                return fail(r, LO_ERR_FORMAT, NULL, at, "general.alignment %llu is not a nonzero power of two",
                            (unsigned long long)a);
            g->alignment = (size_t)a;
        }
    }
    return LO_OK;
}

static lo_status parse_tensor_infos(reader *r, size_t *info_pos) {
    lo_gguf *g = r->g;
    lo_status s;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        lo_gguf_tensor *t = &g->tensors[i];
        size_t at = r->pos;
        info_pos[i] = at;
        set_what(r, "tensor", i, NULL);
        if ((s = rd_str(r, "tensor name", &t->name))) return s;
        set_what(r, "tensor", i, &t->name);
        if (!lo_gguf__name_valid(t->name.data, (size_t)t->name.len))
            return fail(r, LO_ERR_FORMAT, NULL, at, "tensor name is %s", t->name.len ? "not valid UTF-8" : "empty");
        if (t->name.len > LO_GGUF_MAX_NAME)
            return fail(r, LO_ERR_FORMAT, "ggml (llama.cpp) limits tensor names to 63 bytes", at,
                        "tensor name is %llu bytes long", (unsigned long long)t->name.len);
        int64_t prev;
        if (lo_strmap_get(g->tensor_index, t->name.data, (size_t)t->name.len, &prev))
            return fail(r, LO_ERR_FORMAT, NULL, at, "duplicate tensor name (first used by tensor %lld)", (long long)prev);
        if ((s = lo_strmap_put(g->tensor_index, t->name.data, (size_t)t->name.len, i))) return s;
        size_t dims_at = r->pos;
        if ((s = rd_u32(r, "n_dims", &t->n_dims))) return s;
        if (t->n_dims < 1 || t->n_dims > LO_GGUF_MAX_DIMS)
            return fail(r, LO_ERR_FORMAT, NULL, dims_at, "n_dims is %u, expected 1..%d", t->n_dims, LO_GGUF_MAX_DIMS);
        for (int d = 0; d < LO_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        int64_t n_elems = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            size_t ne_at = r->pos;
            uint64_t ne;
            if ((s = rd_u64(r, "dimension", &ne))) return s;
            if (ne > (uint64_t)INT64_MAX)
                return fail(r, LO_ERR_FORMAT, NULL, ne_at, "dimension %u is negative (%lld)", d, (long long)ne);
            t->ne[d] = (int64_t)ne;
            if (__builtin_mul_overflow(n_elems, t->ne[d], &n_elems))
                return fail(r, LO_ERR_FORMAT, NULL, ne_at, "element count overflows at dimension %u (%llu)", d,
                            (unsigned long long)ne);
        }
        size_t type_at = r->pos;
        if ((s = rd_u32(r, "tensor type", &t->type))) return s;
        const lo_dtype_traits *tr = lo_dtype_get(t->type);
        if (!tr)
            return fail(r, LO_ERR_UNSUPPORTED, "the file may need a newer reader, or it is corrupt", type_at,
                        "unknown tensor type %u", t->type);
        size_t row;
        if (!lo_dtype_row_bytes(t->type, t->ne[0], &row)) {
            if (t->ne[0] % tr->block_elems != 0)
                return fail(r, LO_ERR_FORMAT, NULL, type_at, "ne[0] = %lld is not a multiple of the %s block size %lld",
                            (long long)t->ne[0], tr->name, (long long)tr->block_elems);
            return fail(r, LO_ERR_FORMAT, NULL, type_at, "row size overflows");
        }
        size_t bytes = row;
        for (int d = 1; d < LO_GGUF_MAX_DIMS; d++)
            if (lo_mul_overflow(bytes, (size_t)t->ne[d], &bytes))
                return fail(r, LO_ERR_FORMAT, NULL, type_at, "tensor byte size overflows");
        t->bytes = bytes;
        if ((s = rd_u64(r, "tensor offset", &t->offset))) return s;
    }
    return LO_OK;
}

static int cmp_by_offset(const void *a, const void *b, void *ctx) {
    const lo_gguf_tensor *t = ctx;
    const lo_gguf_tensor *x = &t[*(const int64_t *)a], *y = &t[*(const int64_t *)b];
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static lo_status check_tensor_data(reader *r, const size_t *info_pos) {
    lo_gguf *g = r->g;
    if (g->n_tensors == 0) return LO_OK;
    r->what[0] = 0;
    if (g->data_offset > g->bytes)
        return fail(r, LO_ERR_FORMAT, NULL, g->bytes,
                    "the data section starts at byte %llu, past the end of the file (file is %zu bytes)",
                    (unsigned long long)g->data_offset, g->bytes);
    uint64_t data_bytes = g->bytes - g->data_offset;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        lo_gguf_tensor *t = &g->tensors[i];
        set_what(r, "tensor", i, &t->name);
        if (t->offset % g->alignment != 0)
            return fail(r, LO_ERR_FORMAT, NULL, info_pos[i], "data offset %llu is not a multiple of the alignment %zu",
                        (unsigned long long)t->offset, g->alignment);
        if (t->offset > data_bytes || t->bytes > data_bytes - t->offset)
            return fail(r, LO_ERR_FORMAT, "the file is truncated or the tensor info is corrupt", info_pos[i],
                        "data range [%llu, +%zu) in the data section at byte %llu exceeds the file (%zu bytes)",
                        (unsigned long long)t->offset, t->bytes, (unsigned long long)g->data_offset, g->bytes);
        t->data = g->data + g->data_offset + t->offset;
    }
    /* Overlap check: sort indices by offset; each non-empty range must end before the
     * next one starts. */
    int64_t *order = lo_malloc((size_t)g->n_tensors * sizeof *order);
    if (!order) return LO_ERR_NOMEM;
    for (int64_t i = 0; i < g->n_tensors; i++) order[i] = i;
    qsort_r(order, (size_t)g->n_tensors, sizeof *order, cmp_by_offset, g->tensors);
    lo_status s = LO_OK;
    int64_t last = -1;
    for (int64_t k = 0; k < g->n_tensors && !s; k++) {
        const lo_gguf_tensor *t = &g->tensors[order[k]];
        if (t->bytes == 0) continue;
        if (last >= 0) {
            const lo_gguf_tensor *p = &g->tensors[last];
            if (p->offset + p->bytes > t->offset) {
                set_what(r, "tensor", order[k], &t->name);
                char q[96];
                s = fail(r, LO_ERR_FORMAT, NULL, info_pos[order[k]],
                         "data range [%llu, +%zu) overlaps tensor %lld ('%s') at [%llu, +%zu)",
                         (unsigned long long)t->offset, t->bytes, (long long)last,
                         lo_gguf__quote(q, sizeof q, p->name.data, (size_t)p->name.len),
                         (unsigned long long)p->offset, p->bytes);
            }
        }
        last = order[k];
    }
    lo_free(order);
    return s;
}

static lo_status parse(lo_gguf *g) {
    reader r = {.g = g, .pos = 0};
    r.what[0] = 0;
    lo_status s;
    if (g->bytes < 4 || memcmp(g->data, "GGUF", 4) != 0) {
        if (g->bytes >= 4 && memcmp(g->data, "FUGG", 4) == 0)
            return fail(&r, LO_ERR_UNSUPPORTED, NULL, 0, "byte-swapped magic 'FUGG': big-endian files are not supported");
        if (g->bytes >= 4 && memcmp(g->data, "ggjt", 4) == 0)
            return fail(&r, LO_ERR_UNSUPPORTED, "convert it to GGUF with llama.cpp's tools", 0,
                        "this is a legacy GGML/GGJT file, not GGUF");
        return fail(&r, LO_ERR_FORMAT, "is this a GGUF file?", 0, "%s",
                    g->bytes < 4 ? "file too short for the magic 'GGUF'" : "magic is not 'GGUF'");
    }
    r.pos = 4;
    if ((s = rd_u32(&r, "version", &g->version))) return s;
    if (g->version == 1)
        return fail(&r, LO_ERR_UNSUPPORTED, "re-convert the model with a current llama.cpp (GGUF v1 is from 2023)", 4,
                    "GGUF version 1 is not supported (only 2 and 3)");
    if (g->version != 2 && g->version != 3) {
        if (g->version != 0 && (g->version & 0xffff) == 0)
            return fail(&r, LO_ERR_UNSUPPORTED, NULL, 4, "version 0x%08x: a big-endian GGUF file is not supported",
                        g->version);
        return fail(&r, LO_ERR_UNSUPPORTED, "the file may need a newer reader, or it is corrupt", 4,
                    "GGUF version %u is not supported (only 2 and 3)", g->version);
    }
    uint64_t n_tensors, n_kv;
    if ((s = rd_u64(&r, "n_tensors", &n_tensors))) return s;
    if ((s = rd_u64(&r, "n_kv", &n_kv))) return s;
    /* A KV needs ≥ 13 bytes (key length, type, 1-byte value) and a tensor info ≥ 32. */
    if (n_kv > remaining(&r) / 13)
        return fail(&r, LO_ERR_FORMAT, NULL, 16, "n_kv = %llu cannot fit in the file (file is %zu bytes)",
                    (unsigned long long)n_kv, g->bytes);
    if (n_tensors > remaining(&r) / 32)
        return fail(&r, LO_ERR_FORMAT, NULL, 8, "n_tensors = %llu cannot fit in the file (file is %zu bytes)",
                    (unsigned long long)n_tensors, g->bytes);
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kvs = lo_calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kvs);
    g->tensors = lo_calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    if (!g->kvs || !g->tensors) return LO_ERR_NOMEM;
    if ((s = lo_strmap_create((size_t)n_kv, &g->kv_index))) return s;
    if ((s = lo_strmap_create((size_t)n_tensors, &g->tensor_index))) return s;

    size_t *spans = lo_malloc((n_kv ? (size_t)n_kv : 1) * 2 * sizeof *spans);
    if (!spans) return LO_ERR_NOMEM;
    s = parse_kvs(&r, spans);
    lo_free(spans);
    if (s) return s;
    size_t *info_pos = lo_malloc((n_tensors ? (size_t)n_tensors : 1) * sizeof *info_pos);
    if (!info_pos) return LO_ERR_NOMEM;
    s = parse_tensor_infos(&r, info_pos);
    if (!s) {
        /* The data section starts at the next multiple of the alignment. */
        uint64_t a = g->alignment;
        g->data_offset = ((uint64_t)r.pos + a - 1) / a * a;
        s = check_tensor_data(&r, info_pos);
    }
    lo_free(info_pos);
    return s;
}

static lo_status open_common(lo_gguf *g, lo_gguf **out) {
    g->alignment = LO_GGUF_DEFAULT_ALIGNMENT;
    lo_status s = parse(g);
    if (s) {
        lo_gguf_close(g);
        return s;
    }
    *out = g;
    return LO_OK;
}

lo_status lo_gguf_open(const char *path, lo_gguf **out) {
    *out = NULL;
    lo_gguf *g = lo_calloc(1, sizeof *g);
    if (!g) return LO_ERR_NOMEM;
    g->name = lo_strdup(path);
    if (!g->name) {
        lo_free(g);
        return LO_ERR_NOMEM;
    }
    lo_status s = lo_mmap_file(path, &g->map);
    if (s) {
        lo_gguf_close(g);
        return s;
    }
    g->data = g->map.data;
    g->bytes = g->map.bytes;
    return open_common(g, out);
}

lo_status lo_gguf_open_memory(const void *data, size_t bytes, lo_gguf **out) {
    *out = NULL;
    lo_gguf *g = lo_calloc(1, sizeof *g);
    if (!g) return LO_ERR_NOMEM;
    g->name = lo_strdup("<memory>");
    if (!g->name) {
        lo_free(g);
        return LO_ERR_NOMEM;
    }
    g->data = data;
    g->bytes = data ? bytes : 0;
    return open_common(g, out);
}

void lo_gguf_close(lo_gguf *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_allocs; i++) lo_free(g->allocs[i]);
    lo_free(g->allocs);
    lo_strmap_free(g->kv_index);
    lo_strmap_free(g->tensor_index);
    lo_free(g->kvs);
    lo_free(g->tensors);
    if (g->map.data) lo_munmap(&g->map);
    lo_free(g->name);
    lo_free(g);
}

/* ---- accessors -------------------------------------------------------------------- */

uint32_t lo_gguf_version(const lo_gguf *g) { return g->version; }
size_t lo_gguf_alignment(const lo_gguf *g) { return g->alignment; }
uint64_t lo_gguf_data_offset(const lo_gguf *g) { return g->data_offset; }
size_t lo_gguf_file_bytes(const lo_gguf *g) { return g->bytes; }
int64_t lo_gguf_n_kv(const lo_gguf *g) { return g->n_kv; }
int64_t lo_gguf_n_tensors(const lo_gguf *g) { return g->n_tensors; }

const lo_gguf_kv *lo_gguf_kv_at(const lo_gguf *g, int64_t i) {
    LO_ASSERT(i >= 0 && i < g->n_kv);
    return &g->kvs[i];
}

const lo_gguf_tensor *lo_gguf_tensor_at(const lo_gguf *g, int64_t i) {
    LO_ASSERT(i >= 0 && i < g->n_tensors);
    return &g->tensors[i];
}

int64_t lo_gguf_find_kv(const lo_gguf *g, const char *key) {
    int64_t i;
    return lo_strmap_get(g->kv_index, key, strlen(key), &i) ? i : -1;
}

int64_t lo_gguf_find_tensor(const lo_gguf *g, const char *name) {
    int64_t i;
    return lo_strmap_get(g->tensor_index, name, strlen(name), &i) ? i : -1;
}

const lo_gguf_value *lo_gguf_get(const lo_gguf *g, const char *key) {
    int64_t i = lo_gguf_find_kv(g, key);
    return i < 0 ? NULL : &g->kvs[i].value;
}

static bool mismatch(const char *key, lo_gguf_type t, const char *expected) {
    lo_error(LO_ERR_FORMAT, NULL, "key '%s' has type %s, expected %s", key, lo_gguf_type_name(t), expected);
    return false;
}

static bool is_unsigned(lo_gguf_type t) {
    return t == LO_GGUF_UINT8 || t == LO_GGUF_UINT16 || t == LO_GGUF_UINT32 || t == LO_GGUF_UINT64;
}
static bool is_signed(lo_gguf_type t) {
    return t == LO_GGUF_INT8 || t == LO_GGUF_INT16 || t == LO_GGUF_INT32 || t == LO_GGUF_INT64;
}

bool lo_gguf_get_u64(const lo_gguf *g, const char *key, uint64_t *out) {
    const lo_gguf_value *v = lo_gguf_get(g, key);
    if (!v) return false;
    if (is_unsigned(v->type)) {
        *out = v->u64;
        return true;
    }
    if (is_signed(v->type)) {
        if (v->i64 < 0) {
            lo_error(LO_ERR_RANGE, NULL, "key '%s' is %lld, expected a non-negative integer", key, (long long)v->i64);
            return false;
        }
        *out = (uint64_t)v->i64;
        return true;
    }
    return mismatch(key, v->type, "an integer");
}

bool lo_gguf_get_i64(const lo_gguf *g, const char *key, int64_t *out) {
    const lo_gguf_value *v = lo_gguf_get(g, key);
    if (!v) return false;
    if (is_signed(v->type)) {
        *out = v->i64;
        return true;
    }
    if (is_unsigned(v->type)) {
        if (v->u64 > (uint64_t)INT64_MAX) {
            lo_error(LO_ERR_RANGE, NULL, "key '%s' is %llu, too large for a signed 64-bit integer", key,
                     (unsigned long long)v->u64);
            return false;
        }
        *out = (int64_t)v->u64;
        return true;
    }
    return mismatch(key, v->type, "an integer");
}

bool lo_gguf_get_f64(const lo_gguf *g, const char *key, double *out) {
    const lo_gguf_value *v = lo_gguf_get(g, key);
    if (!v) return false;
    if (v->type == LO_GGUF_FLOAT32 || v->type == LO_GGUF_FLOAT64) *out = v->f64;
    else if (is_signed(v->type)) *out = (double)v->i64;
    else if (is_unsigned(v->type)) *out = (double)v->u64;
    else return mismatch(key, v->type, "a number");
    return true;
}

bool lo_gguf_get_bool(const lo_gguf *g, const char *key, bool *out) {
    const lo_gguf_value *v = lo_gguf_get(g, key);
    if (!v) return false;
    if (v->type != LO_GGUF_BOOL) return mismatch(key, v->type, "bool");
    *out = v->u64 != 0;
    return true;
}

bool lo_gguf_get_str(const lo_gguf *g, const char *key, lo_gguf_str *out) {
    const lo_gguf_value *v = lo_gguf_get(g, key);
    if (!v) return false;
    if (v->type != LO_GGUF_STRING) return mismatch(key, v->type, "str");
    *out = v->str;
    return true;
}

const lo_gguf_value *lo_gguf_get_arr(const lo_gguf *g, const char *key, lo_gguf_type elem_type) {
    const lo_gguf_value *v = lo_gguf_get(g, key);
    if (!v) return NULL;
    if (v->type != LO_GGUF_ARRAY) {
        mismatch(key, v->type, "arr");
        return NULL;
    }
    if (elem_type != LO_GGUF_TYPE_COUNT && v->arr.elem_type != elem_type) {
        lo_error(LO_ERR_FORMAT, NULL, "key '%s' is an array of %s, expected an array of %s", key,
                 lo_gguf_type_name(v->arr.elem_type), lo_gguf_type_name(elem_type));
        return NULL;
    }
    return v;
}

lo_gguf_str lo_gguf_arch(const lo_gguf *g) {
    const lo_gguf_value *v = lo_gguf_get(g, "general.architecture");
    if (v && v->type == LO_GGUF_STRING) return v->str;
    return (lo_gguf_str){"", 0};
}

bool lo_gguf_str_eq(lo_gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.data, c, n) == 0);
}
