/* gguf reader against hostile input: hundreds of corrupted variants of a hand-built file
 * and of real fixtures (truncations, huge counts, bad types, dims, offsets, alignment,
 * names) must each fail with a message and never crash (run it under ASan too). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "llmops/gguf.h"

static int n_variants, n_rejected;

/* Opens an exact-size heap copy (so ASan sees any over-read) and expects a failure whose
 * message contains `expect` (when given). */
static void expect_fail(const uint8_t *data, size_t n, const char *label, const char *expect) {
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, data, n);
    lo_error_clear();
    lo_gguf *g = NULL;
    lo_status s = lo_gguf_open_memory(n ? copy : NULL, n, &g);
    n_variants++;
    CHECK_MSG(s != LO_OK, "%s: accepted", label);
    CHECK_MSG(g == NULL, "%s: handle returned on failure", label);
    if (s == LO_OK) lo_gguf_close(g);
    else n_rejected++;
    const char *msg = lo_error_message();
    CHECK_MSG(msg[0] != 0, "%s: empty message", label);
    if (getenv("LO_TEST_VERBOSE")) fprintf(stderr, "%s -> %s\n", label, msg);
    if (expect) CHECK_MSG(strstr(msg, expect) != NULL, "%s: message '%s' lacks '%s'", label, msg, expect);
    free(copy);
}

/* Opens a variant that may or may not be valid (random mutations): must not crash, and
 * an accepted one must walk cleanly. */
static void try_any(const uint8_t *data, size_t n) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, data, n);
    lo_gguf *g = NULL;
    if (lo_gguf_open_memory(copy, n, &g) == LO_OK) {
        for (int64_t i = 0; i < lo_gguf_n_kv(g); i++) (void)lo_gguf_kv_at(g, i)->value.type;
        for (int64_t i = 0; i < lo_gguf_n_tensors(g); i++) {
            const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
            if (t->bytes) CHECK(((const uint8_t *)t->data)[t->bytes - 1] == copy[(const uint8_t *)t->data - copy + t->bytes - 1]);
        }
        lo_gguf_close(g);
    } else {
        CHECK(lo_error_message()[0] != 0);
    }
    free(copy);
}

/* ---- a byte builder that records field positions ---------------------------------- */

typedef struct bb {
    uint8_t d[4096];
    size_t n;
} bb;
static size_t u32(bb *b, uint32_t v) {
    size_t at = b->n;
    for (int i = 0; i < 4; i++) b->d[b->n++] = (uint8_t)(v >> (8 * i));
    return at;
}
static size_t u64(bb *b, uint64_t v) {
    size_t at = b->n;
    for (int i = 0; i < 8; i++) b->d[b->n++] = (uint8_t)(v >> (8 * i));
    return at;
}
static size_t str(bb *b, const char *s) { /* returns the position of the length */
    size_t at = u64(b, strlen(s));
    memcpy(b->d + b->n, s, strlen(s));
    b->n += strlen(s);
    return at;
}
static void put_u32(uint8_t *d, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) d[at + i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *d, size_t at, uint64_t v) {
    for (int i = 0; i < 8; i++) d[at + i] = (uint8_t)(v >> (8 * i));
}

/* positions in the base file */
static struct {
    size_t version, n_tensors, n_kv, kv0, align_type, align_val, arr_type, arr_elem, arr_n, str1_len, nest_n,
        inner_elem, inner_n, bool_val, gen_b, key_tokens, t0, t0_name, t0_ndims, t0_ne0, t0_ne1, t0_type, t0_off,
        t1, t1_name, t1_ndims, t1_ne0, t1_type, t1_off, header_end, data;
} P;

static void build_base(bb *b) {
    memset(b, 0, sizeof *b);
    memcpy(b->d, "GGUF", 4);
    b->n = 4;
    P.version = u32(b, 3);
    P.n_tensors = u64(b, 2);
    P.n_kv = u64(b, 7);
    P.kv0 = str(b, "general.architecture");
    u32(b, LO_GGUF_STRING);
    str(b, "llama");
    str(b, "general.alignment");
    P.align_type = u32(b, LO_GGUF_UINT32);
    P.align_val = u32(b, 32);
    P.key_tokens = str(b, "tok.tokens");
    P.arr_type = u32(b, LO_GGUF_ARRAY);
    P.arr_elem = u32(b, LO_GGUF_STRING);
    P.arr_n = u64(b, 3);
    str(b, "a");
    P.str1_len = str(b, "bb");
    str(b, "ccc");
    str(b, "nest");
    u32(b, LO_GGUF_ARRAY);
    u32(b, LO_GGUF_ARRAY);
    P.nest_n = u64(b, 1);
    P.inner_elem = u32(b, LO_GGUF_UINT8);
    P.inner_n = u64(b, 2);
    b->d[b->n++] = 1;
    b->d[b->n++] = 2;
    str(b, "flag");
    u32(b, LO_GGUF_BOOL);
    P.bool_val = b->n;
    b->d[b->n++] = 1;
    str(b, "gen.a");
    u32(b, LO_GGUF_UINT32);
    u32(b, 1);
    P.gen_b = str(b, "gen.b");
    u32(b, LO_GGUF_UINT32);
    u32(b, 2);
    P.t0 = P.t0_name = str(b, "w0");
    P.t0_ndims = u32(b, 2);
    P.t0_ne0 = u64(b, 4);
    P.t0_ne1 = u64(b, 2);
    P.t0_type = u32(b, LO_DTYPE_F32);
    P.t0_off = u64(b, 0);
    P.t1 = P.t1_name = str(b, "w1");
    P.t1_ndims = u32(b, 1);
    P.t1_ne0 = u64(b, 8);
    P.t1_type = u32(b, LO_DTYPE_F32);
    P.t1_off = u64(b, 32);
    P.header_end = b->n;
    while (b->n % 32) b->d[b->n++] = 0;
    P.data = b->n;
    for (int i = 0; i < 64; i++) b->d[b->n++] = (uint8_t)i;
}

typedef struct patch {
    const char *label;
    size_t *at;
    int width; /* 4 or 8; 1 for a byte */
    uint64_t value;
    const char *expect;
} patch;

static void base_variants(void) {
    bb base;
    build_base(&base);
    /* the base itself is valid */
    lo_gguf *g = NULL;
    CHECK_OK(lo_gguf_open_memory(base.d, base.n, &g));
    if (g) {
        CHECK_INT_EQ(lo_gguf_n_kv(g), 7);
        CHECK_INT_EQ(lo_gguf_data_offset(g), P.data);
        lo_gguf_close(g);
    }
    /* truncation at every length */
    for (size_t n = 0; n < base.n; n++) {
        char label[64];
        snprintf(label, sizeof label, "base truncated to %zu bytes", n);
        expect_fail(base.d, n, label, NULL);
    }
    const uint64_t HUGE1 = 1ull << 63, HUGE2 = ~0ull;
    patch patches[] = {
        {"n_kv 2^63", &P.n_kv, 8, HUGE1, "n_kv"},
        {"n_kv 2^64-1", &P.n_kv, 8, HUGE2, "n_kv"},
        {"n_kv 1000", &P.n_kv, 8, 1000, NULL},
        {"n_kv 8", &P.n_kv, 8, 8, NULL},
        {"n_tensors 2^63", &P.n_tensors, 8, HUGE1, "n_tensors"},
        {"n_tensors 2^64-1", &P.n_tensors, 8, HUGE2, "n_tensors"},
        {"n_tensors 3", &P.n_tensors, 8, 3, NULL},
        {"n_tensors 100", &P.n_tensors, 8, 100, NULL},
        {"version 1", &P.version, 4, 1, "version 1"},
        {"version 99", &P.version, 4, 99, "version 99"},
        {"version 0", &P.version, 4, 0, NULL},
        {"version big-endian 3", &P.version, 4, 0x03000000u, "big-endian"},
        {"key length 2^63", &P.kv0, 8, HUGE1, "KV 0"},
        {"key length 2^64-1", &P.kv0, 8, HUGE2, "at byte 24"},
        {"key length 0", &P.kv0, 8, 0, NULL},
        {"key length file size", &P.kv0, 8, 500, NULL},
        {"value type 13", &P.align_type, 4, 13, "value type 13"},
        {"value type 2^32-1", &P.align_type, 4, 0xffffffffu, NULL},
        {"alignment as i32", &P.align_type, 4, LO_GGUF_INT32, "general.alignment"},
        {"alignment as f32", &P.align_type, 4, LO_GGUF_FLOAT32, "general.alignment"},
        {"alignment 0", &P.align_val, 4, 0, "power of two"},
        {"alignment 3", &P.align_val, 4, 3, "power of two"},
        {"alignment 48", &P.align_val, 4, 48, "power of two"},
        {"alignment 2^31+1", &P.align_val, 4, 0x80000001u, "power of two"},
        {"alignment 64 (offset 32 misaligned)", &P.align_val, 4, 64, "alignment"},
        {"array elem type 13", &P.arr_elem, 4, 13, "element type 13"},
        {"array elem type 2^32-1", &P.arr_elem, 4, 0xffffffffu, NULL},
        {"array n 2^63", &P.arr_n, 8, HUGE1, "KV 2 ('tok.tokens') at byte"},
        {"array n 2^64-1", &P.arr_n, 8, HUGE2, "array of"},
        {"array n 2^32", &P.arr_n, 8, 1ull << 32, "runs past the end"},
        {"array n 4", &P.arr_n, 8, 4, NULL},
        {"array elem as u64", &P.arr_elem, 4, LO_GGUF_UINT64, NULL},
        {"string length 2^63", &P.str1_len, 8, HUGE1, "string 1 of 3"},
        {"string length 2^64-1", &P.str1_len, 8, HUGE2, "string"},
        {"string length 2^63+2", &P.str1_len, 8, HUGE1 + 2, NULL},
        {"nested n 2^63", &P.nest_n, 8, HUGE1, NULL},
        {"nested n 2^64-1", &P.nest_n, 8, HUGE2, NULL},
        {"inner elem type 9 (deeper)", &P.inner_elem, 4, LO_GGUF_ARRAY, NULL},
        {"inner elem type 99", &P.inner_elem, 4, 99, NULL},
        {"inner n 2^64-1", &P.inner_n, 8, HUGE2, NULL},
        {"bool 2", &P.bool_val, 1, 2, "bool"},
        {"bool 255", &P.bool_val, 1, 255, "bool"},
        {"n_dims 0", &P.t0_ndims, 4, 0, "n_dims"},
        {"n_dims 5", &P.t0_ndims, 4, 5, "n_dims"},
        {"n_dims 2^32-1", &P.t0_ndims, 4, 0xffffffffu, "n_dims"},
        {"n_dims 1 (misparse)", &P.t0_ndims, 4, 1, NULL},
        {"ne0 -1", &P.t0_ne0, 8, HUGE2, "negative"},
        {"ne0 2^63", &P.t0_ne0, 8, HUGE1, "negative"},
        {"ne1 -5", &P.t0_ne1, 8, (uint64_t)-5, "negative"},
        {"ne0 2^62 (elements overflow)", &P.t0_ne0, 8, 1ull << 62, NULL},
        {"ne0 2^40 (data past end)", &P.t0_ne0, 8, 1ull << 40, NULL},
        {"ne1 2^61 (bytes overflow)", &P.t0_ne1, 8, 1ull << 61, NULL},
        {"ne0 1000", &P.t0_ne0, 8, 1000, "tensor 0 ('w0')"},
        {"tensor type 4 (removed)", &P.t0_type, 4, 4, "unknown tensor type 4"},
        {"tensor type 40", &P.t0_type, 4, 40, "unknown tensor type"},
        {"tensor type 2^32-1", &P.t0_type, 4, 0xffffffffu, "unknown tensor type"},
        {"tensor type q8_0 with ne0 4", &P.t0_type, 4, LO_DTYPE_Q8_0, "block size"},
        {"tensor type q4_K with ne0 4", &P.t0_type, 4, LO_DTYPE_Q4_K, "block size"},
        {"tensor type f64 (grows past t1)", &P.t0_type, 4, LO_DTYPE_F64, "overlaps"},
        {"offset 1 (misaligned)", &P.t0_off, 8, 1, "not a multiple of the alignment"},
        {"offset 16 (misaligned)", &P.t1_off, 8, 16, "alignment"},
        {"offset past end", &P.t1_off, 8, 64, "exceeds the file"},
        {"offset 2^64-32 (overflow)", &P.t1_off, 8, (uint64_t)-32, "tensor 1 ('w1')"},
        {"offset 2^63", &P.t1_off, 8, HUGE1, "exceeds"},
        {"overlapping tensors", &P.t1_off, 8, 0, "overlaps"},
        {"t1 ne0 9 (past end)", &P.t1_ne0, 8, 9, NULL},
        {"t1 ne0 16 (past end)", &P.t1_ne0, 8, 16, "exceeds"},
        {"t1 n_dims 3 (misparse)", &P.t1_ndims, 4, 3, NULL},
        {"t1 type 31", &P.t1_type, 4, 31, "unknown tensor type 31"},
        {"t1 name length 2^63", &P.t1_name, 8, HUGE1, "tensor name"},
        {"t1 name length 0", &P.t1_name, 8, 0, NULL},
    };
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
        bb v = base;
        const patch *p = &patches[i];
        if (p->width == 8) put_u64(v.d, *p->at, p->value);
        else if (p->width == 4) put_u32(v.d, *p->at, (uint32_t)p->value);
        else v.d[*p->at] = (uint8_t)p->value;
        expect_fail(v.d, v.n, p->label, p->expect);
    }
    /* byte patches inside names and magic */
    struct {
        const char *label;
        size_t at;
        uint8_t byte;
        const char *expect;
    } bytes[] = {
        {"magic GGUG", 3, 'G', "magic"},
        {"magic lowercase", 0, 'g', "magic"},
        {"magic FUGG-ish", 0, 0, NULL},
        {"key byte 0xff", P.kv0 + 8 + 3, 0xff, "not valid UTF-8"},
        {"key byte 0xc0", P.kv0 + 8, 0xc0, "UTF-8"},
        {"key NUL byte", P.kv0 + 8 + 5, 0x00, "UTF-8"},
        {"key lone continuation", P.kv0 + 8 + 19, 0x80, "UTF-8"},
        {"key truncated 3-byte seq", P.kv0 + 8 + 19, 0xe2, "UTF-8"},
        {"tensor name 0xfe", P.t0_name + 8, 0xfe, "tensor 0"},
        {"tensor name surrogate lead", P.t1_name + 8, 0xed, "UTF-8"},
        {"duplicate tensor name", P.t1_name + 9, '0', "duplicate tensor name"},
        {"duplicate key, different value", P.gen_b + 8 + 4, 'a', "duplicate key"},
        {"key collides with alignment", P.key_tokens + 8, 'T', NULL},
    };
    for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++) {
        bb v = base;
        v.d[bytes[i].at] = bytes[i].byte;
        if (strcmp(bytes[i].label, "key collides with alignment") == 0) {
            /* valid (a different key): must be accepted, so test it separately */
            lo_gguf *gg = NULL;
            CHECK_OK(lo_gguf_open_memory(v.d, v.n, &gg));
            lo_gguf_close(gg);
            continue;
        }
        expect_fail(v.d, v.n, bytes[i].label, bytes[i].expect);
    }
    { /* magic byte-swapped */
        bb v = base;
        memcpy(v.d, "FUGG", 4);
        expect_fail(v.d, v.n, "magic FUGG", "big-endian");
        memcpy(v.d, "ggjt", 4);
        expect_fail(v.d, v.n, "legacy ggjt", "GGJT");
    }
    /* a repeated key with an identical value is accepted (real files have it) */
    {
        bb v = base;
        v.d[P.gen_b + 8 + 4] = 'a';
        put_u32(v.d, P.gen_b + 8 + 5 + 4, 1);
        lo_gguf *gg = NULL;
        CHECK_OK(lo_gguf_open_memory(v.d, v.n, &gg));
        if (gg) {
            CHECK_INT_EQ(lo_gguf_find_kv(gg, "gen.a"), 5);
            lo_gguf_close(gg);
        }
    }
    /* deterministic random single- and multi-byte mutations: never crash */
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int k = 0; k < 3000; k++) {
        bb v = base;
        int flips = 1 + k % 4;
        for (int f = 0; f < flips; f++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t at = (size_t)(rng % P.header_end);
            uint8_t vals[] = {0, 0xff, 0x80, 0x7f, 1, (uint8_t)(rng >> 32)};
            v.d[at] = vals[(rng >> 40) % 6];
        }
        try_any(v.d, v.n);
    }
}

static void nesting_too_deep(void) {
    bb b;
    memset(&b, 0, sizeof b);
    memcpy(b.d, "GGUF", 4);
    b.n = 4;
    u32(&b, 3);
    u64(&b, 0);
    u64(&b, 1);
    str(&b, "deep");
    u32(&b, LO_GGUF_ARRAY);
    for (int i = 0; i < 12; i++) {
        u32(&b, LO_GGUF_ARRAY);
        u64(&b, 1);
    }
    u32(&b, LO_GGUF_UINT8);
    u64(&b, 0);
    expect_fail(b.d, b.n, "arrays nested 13 deep", "nested");
    /* a huge tensor count in a file with no KVs */
    memset(&b, 0, sizeof b);
    memcpy(b.d, "GGUF", 4);
    b.n = 4;
    u32(&b, 2);
    u64(&b, 1ull << 40);
    u64(&b, 0);
    expect_fail(b.d, b.n, "n_tensors 2^40, no room", "n_tensors");
    expect_fail(NULL, 0, "empty", "magic");
}

/* Corruptions of real files, located by searching for known names. */
static const uint8_t *find(const uint8_t *d, size_t n, const char *s) {
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(d + i, s, k) == 0) return d + i;
    return NULL;
}

static void real_variants(const char *path, bool has_tensors) {
    char *data;
    size_t n;
    if (lo_read_file(path, &data, &n) != LO_OK) {
        CHECK_MSG(0, "cannot read %s", path);
        return;
    }
    uint8_t *d = (uint8_t *)data;
    uint8_t *v = malloc(n);
    char label[256];
    lo_gguf *g = NULL;
    CHECK_OK(lo_gguf_open_memory(d, n, &g));
    uint64_t data_off = g ? lo_gguf_data_offset(g) : 0;
    size_t used = n; /* end of the last tensor's data (trailing padding may follow) */
    if (g && lo_gguf_n_tensors(g) > 0) {
        used = 0;
        for (int64_t i = 0; i < lo_gguf_n_tensors(g); i++) {
            const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
            if (data_off + t->offset + t->bytes > used) used = (size_t)(data_off + t->offset + t->bytes);
        }
    }
    lo_gguf_close(g);
    /* truncations: section boundaries and a spread of offsets */
    size_t cuts[] = {0, 3, 4, 7, 8, 15, 16, 23, 24, 25, 31, 32, 33, 40, 100};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        snprintf(label, sizeof label, "%s truncated to %zu", path, cuts[i]);
        expect_fail(d, cuts[i], label, NULL);
    }
    for (int k = 1; k < 60; k++) {
        size_t cut = (size_t)((double)n * k / 60.0);
        snprintf(label, sizeof label, "%s truncated to %zu", path, cut);
        expect_fail(d, cut, label, NULL);
    }
    expect_fail(d, used - 1, "one byte short of the last tensor", NULL);
    if (has_tensors) {
        expect_fail(d, (size_t)data_off, "cut at the data section", NULL);
        expect_fail(d, (size_t)data_off - 1, "cut before the data section", NULL);
        /* token_embd.weight: name, n_dims, ne[2], type, offset */
        const uint8_t *t = find(d, (size_t)data_off, "token_embd.weight");
        CHECK(t != NULL);
        if (t) {
            size_t at = (size_t)(t - d) + 17;
            size_t type_at = at + 4 + 16, off_at = type_at + 4;
            uint32_t vals[] = {4, 5, 31, 40, 1000, 0xffffffffu};
            for (size_t i = 0; i < 6; i++) {
                memcpy(v, d, n);
                put_u32(v, type_at, vals[i]);
                snprintf(label, sizeof label, "token_embd type %u", vals[i]);
                expect_fail(v, n, label, "token_embd.weight");
            }
            uint64_t offs[] = {1, 31, (uint64_t)n, ~0ull - 31, 1ull << 62};
            for (size_t i = 0; i < 5; i++) {
                memcpy(v, d, n);
                put_u64(v, off_at, offs[i]);
                snprintf(label, sizeof label, "token_embd offset %llu", (unsigned long long)offs[i]);
                expect_fail(v, n, label, "tensor");
            }
            memcpy(v, d, n);
            put_u32(v, at, 5);
            expect_fail(v, n, "token_embd n_dims 5", "n_dims is 5");
            memcpy(v, d, n);
            put_u64(v, at + 4, ~0ull);
            expect_fail(v, n, "token_embd ne0 -1", "negative");
            memcpy(v, d, n);
            put_u64(v, at + 12, 513); /* one row more: runs into the next tensor */
            expect_fail(v, n, "token_embd ne1 513", NULL);
        }
    }
    /* the token list: key, type (9), elem type (8), n */
    const uint8_t *k = find(d, has_tensors ? (size_t)data_off : n, "tokenizer.ggml.tokens");
    CHECK(k != NULL);
    if (k) {
        size_t n_at = (size_t)(k - d) + 21 + 4 + 4;
        uint64_t ns[] = {1ull << 63, ~0ull, 1ull << 32, (uint64_t)n};
        for (size_t i = 0; i < 4; i++) {
            memcpy(v, d, n);
            put_u64(v, n_at, ns[i]);
            snprintf(label, sizeof label, "tokens n %llu", (unsigned long long)ns[i]);
            expect_fail(v, n, label, "tokenizer.ggml.tokens");
        }
        memcpy(v, d, n);
        put_u32(v, n_at - 4, 13);
        expect_fail(v, n, "tokens elem type 13", "element type 13");
        memcpy(v, d, n);
        put_u64(v, n_at + 8, 1ull << 62); /* first string's length */
        expect_fail(v, n, "first token length 2^62", "string 0 of");
        memcpy(v, d, n);
        v[k - d + 3] = 0xff; /* key byte */
        expect_fail(v, n, "tokens key not UTF-8", "UTF-8");
    }
    memcpy(v, d, n);
    put_u64(v, 16, ~0ull);
    expect_fail(v, n, "real n_kv 2^64-1", "n_kv");
    memcpy(v, d, n);
    put_u32(v, 4, 1);
    expect_fail(v, n, "real v1", "version 1");
    free(v);
    lo_free(data);
}

int main(void) {
    size_t live0 = lo_alloc_live_bytes();
    base_variants();
    nesting_too_deep();
    char p[1024];
    real_variants(check_shared("models/stories260K.gguf", p, sizeof p), true);
    real_variants(check_shared("models/vocab/ggml-vocab-llama-spm.gguf", p, sizeof p), false);
    real_variants(check_shared("models/quant/stories260K-Q4_0.gguf", p, sizeof p), true);
    fprintf(stderr, "%d corrupted variants, %d rejected (+3000 random mutations)\n", n_variants, n_rejected);
    CHECK(n_variants >= 200);
    CHECK_INT_EQ(lo_alloc_live_bytes(), live0);
    return check_done();
}
