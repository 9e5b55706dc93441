/* gguf helpers shared by reader and writer: type names and sizes, UTF-8 checks, quoting
 * of untrusted bytes for error messages, and the array element accessors. */
#include <stdio.h>
#include <string.h>

#include "gguf/gguf_internal.h"

static const char *const type_names[LO_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64",
};
static const uint8_t type_sizes[LO_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *lo_gguf_type_name(lo_gguf_type t) {
    return (unsigned)t < LO_GGUF_TYPE_COUNT ? type_names[t] : "?";
}

size_t lo_gguf__type_size(uint32_t t) { return t < LO_GGUF_TYPE_COUNT ? type_sizes[t] : 0; }

size_t lo_gguf__min_elem_bytes(uint32_t t) {
    if (t == LO_GGUF_STRING) return 8;
    if (t == LO_GGUF_ARRAY) return 12;
    return lo_gguf__type_size(t);
}

bool lo_gguf__utf8_valid(const char *str, size_t n) {
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

bool lo_gguf__name_valid(const char *s, size_t n) {
    return n > 0 && memchr(s, 0, n) == NULL && lo_gguf__utf8_valid(s, n);
}

const char *lo_gguf__quote(char *out, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= cap) {
            memcpy(out + o, "...", 4);
            return out;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    out[o] = 0;
    return out;
}

/* ---- array element accessors ------------------------------------------------------ */

static uint64_t load_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static const uint8_t *elem_ptr(const lo_gguf_value *v, uint64_t i, size_t *size) {
    LO_ASSERT(v->type == LO_GGUF_ARRAY && i < v->arr.n);
    size_t sz = lo_gguf__type_size(v->arr.elem_type);
    LO_ASSERT(sz > 0 && v->arr.raw != NULL);
    *size = sz;
    return v->arr.raw + i * sz;
}

int64_t lo_gguf_arr_i64(const lo_gguf_value *v, uint64_t i) {
    size_t sz;
    const uint8_t *p = elem_ptr(v, i, &sz);
    uint64_t u = load_le(p, sz);
    switch (v->arr.elem_type) {
    case LO_GGUF_INT8: return (int8_t)u;
    case LO_GGUF_INT16: return (int16_t)u;
    case LO_GGUF_INT32: return (int32_t)u;
    case LO_GGUF_INT64: return (int64_t)u;
    case LO_GGUF_UINT8: case LO_GGUF_UINT16: case LO_GGUF_UINT32: case LO_GGUF_UINT64: case LO_GGUF_BOOL:
        return (int64_t)u;
    default: LO_ASSERT(!"lo_gguf_arr_i64 on a float array");
    }
    return 0;
}

uint64_t lo_gguf_arr_u64(const lo_gguf_value *v, uint64_t i) {
    /* Signed elements come back as their two's-complement bit pattern. */
    return (uint64_t)lo_gguf_arr_i64(v, i);
}

double lo_gguf_arr_f64(const lo_gguf_value *v, uint64_t i) {
    size_t sz;
    const uint8_t *p = elem_ptr(v, i, &sz);
    uint64_t u = load_le(p, sz);
    if (v->arr.elem_type == LO_GGUF_FLOAT32) {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    if (v->arr.elem_type == LO_GGUF_FLOAT64) {
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    switch (v->arr.elem_type) {
    case LO_GGUF_INT8: case LO_GGUF_INT16: case LO_GGUF_INT32: case LO_GGUF_INT64:
        return (double)lo_gguf_arr_i64(v, i);
    default: return (double)u;
    }
}
