/* gguf (L1): validating, zero-copy reader and byte-exact writer for GGUF v2/v3 files.
 * The reader treats every file as hostile: all counts, lengths, offsets and dimensions
 * are bounds-checked against the file size before use. */
#ifndef LLMOPS_GGUF_H
#define LLMOPS_GGUF_H

#include "llmops/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LO_GGUF_DEFAULT_ALIGNMENT 32
#define LO_GGUF_MAX_DIMS 4

typedef enum lo_gguf_type {
    LO_GGUF_UINT8 = 0, LO_GGUF_INT8 = 1, LO_GGUF_UINT16 = 2, LO_GGUF_INT16 = 3,
    LO_GGUF_UINT32 = 4, LO_GGUF_INT32 = 5, LO_GGUF_FLOAT32 = 6, LO_GGUF_BOOL = 7,
    LO_GGUF_STRING = 8, LO_GGUF_ARRAY = 9, LO_GGUF_UINT64 = 10, LO_GGUF_INT64 = 11,
    LO_GGUF_FLOAT64 = 12, LO_GGUF_TYPE_COUNT
} lo_gguf_type;

/* "u8", "i32", "f32", "bool", "str", "arr", ... */
const char *lo_gguf_type_name(lo_gguf_type t);

/* A byte string inside the mapped file: not NUL-terminated, may hold any bytes. */
typedef struct lo_gguf_str {
    const char *data;
    uint64_t len;
} lo_gguf_str;

/* A metadata value. Scalars are widened into u64/i64/f64 (the original type is kept in
 * `type`, so writing it back is exact). Arrays keep their raw element bytes for fixed-
 * size element types; string and nested arrays are reached through the accessors. */
typedef struct lo_gguf_value lo_gguf_value;
struct lo_gguf_value {
    lo_gguf_type type;
    union {
        uint64_t u64; /* UINT8..UINT64 and BOOL (0/1) */
        int64_t i64;  /* INT8..INT64 */
        double f64;   /* FLOAT32, FLOAT64 */
        lo_gguf_str str;
        struct {
            lo_gguf_type elem_type;
            uint64_t n;
            const uint8_t *raw;          /* fixed-size elements, little-endian, unaligned */
            const lo_gguf_str *strs;     /* elem_type == STRING: n strings */
            const lo_gguf_value *items;  /* elem_type == ARRAY: n nested arrays */
        } arr;
    };
};

/* Array element accessors; i must be < arr.n (asserted). */
uint64_t lo_gguf_arr_u64(const lo_gguf_value *v, uint64_t i); /* any unsigned/bool elems */
int64_t lo_gguf_arr_i64(const lo_gguf_value *v, uint64_t i);  /* any integer elems */
double lo_gguf_arr_f64(const lo_gguf_value *v, uint64_t i);   /* float or integer elems */

typedef struct lo_gguf_kv {
    lo_gguf_str key;
    lo_gguf_value value;
} lo_gguf_kv;

typedef struct lo_gguf_tensor {
    lo_gguf_str name;
    uint32_t type;             /* lo_dtype id */
    uint32_t n_dims;
    int64_t ne[LO_GGUF_MAX_DIMS]; /* ne[0] is the fastest-varying; unused dims are 1 */
    uint64_t offset;           /* relative to the data section, as stored */
    size_t bytes;
    const void *data;          /* into the mapping */
} lo_gguf_tensor;

typedef struct lo_gguf lo_gguf;

/* Maps and validates a file. Errors name the field and byte offset, e.g.
 * "x.gguf: tensor 3 ('blk.0.attn_q.weight') at byte 1234: data range ... exceeds file". */
lo_status lo_gguf_open(const char *path, lo_gguf **out);
/* Same over caller-owned bytes that must outlive the handle (fuzzing, embedded files). */
lo_status lo_gguf_open_memory(const void *data, size_t bytes, lo_gguf **out);
void lo_gguf_close(lo_gguf *g);

uint32_t lo_gguf_version(const lo_gguf *g);
size_t lo_gguf_alignment(const lo_gguf *g);
uint64_t lo_gguf_data_offset(const lo_gguf *g); /* start of the tensor data section */
size_t lo_gguf_file_bytes(const lo_gguf *g);

int64_t lo_gguf_n_kv(const lo_gguf *g);
const lo_gguf_kv *lo_gguf_kv_at(const lo_gguf *g, int64_t i);
/* Index of the key or -1. */
int64_t lo_gguf_find_kv(const lo_gguf *g, const char *key);
const lo_gguf_value *lo_gguf_get(const lo_gguf *g, const char *key); /* NULL if absent */

/* Typed getters: false when absent; LO_ERR_FORMAT-style mismatch is reported as false
 * too, with lo_error set ("key 'x' has type str, expected an integer"). Integers of any
 * width and sign are accepted where they fit. */
bool lo_gguf_get_u64(const lo_gguf *g, const char *key, uint64_t *out);
bool lo_gguf_get_i64(const lo_gguf *g, const char *key, int64_t *out);
bool lo_gguf_get_f64(const lo_gguf *g, const char *key, double *out);
bool lo_gguf_get_bool(const lo_gguf *g, const char *key, bool *out);
bool lo_gguf_get_str(const lo_gguf *g, const char *key, lo_gguf_str *out);
/* An array whose elements are elem_type (LO_GGUF_TYPE_COUNT = any). */
const lo_gguf_value *lo_gguf_get_arr(const lo_gguf *g, const char *key, lo_gguf_type elem_type);

int64_t lo_gguf_n_tensors(const lo_gguf *g);
const lo_gguf_tensor *lo_gguf_tensor_at(const lo_gguf *g, int64_t i);
int64_t lo_gguf_find_tensor(const lo_gguf *g, const char *name); /* -1 if absent */

/* Convenience: "general.architecture" value ("" when absent) as a lo_gguf_str. */
lo_gguf_str lo_gguf_arch(const lo_gguf *g);
/* Compares a lo_gguf_str with a C string. */
bool lo_gguf_str_eq(lo_gguf_str s, const char *c);

/* ---- writer ------------------------------------------------------------------------ */

/* Builds a file in memory order: KVs and tensors are written in the order added, tensor
 * data aligned to general.alignment (default 32) with zero padding, so that reading a
 * file and re-adding everything in order reproduces it byte for byte. Values and names
 * are deep-copied; tensor data is referenced (it must stay valid until _write). */
typedef struct lo_gguf_writer lo_gguf_writer;
lo_status lo_gguf_writer_create(uint32_t version, lo_gguf_writer **out);
void lo_gguf_writer_free(lo_gguf_writer *w);
/* Adds or replaces (keeping the original position) a KV. A "general.alignment" u32
 * value also sets the writer's alignment. */
lo_status lo_gguf_writer_set(lo_gguf_writer *w, const char *key, const lo_gguf_value *v);
lo_status lo_gguf_writer_set_u32(lo_gguf_writer *w, const char *key, uint32_t v);
lo_status lo_gguf_writer_set_i32(lo_gguf_writer *w, const char *key, int32_t v);
lo_status lo_gguf_writer_set_u64(lo_gguf_writer *w, const char *key, uint64_t v);
lo_status lo_gguf_writer_set_f32(lo_gguf_writer *w, const char *key, float v);
lo_status lo_gguf_writer_set_bool(lo_gguf_writer *w, const char *key, bool v);
lo_status lo_gguf_writer_set_str(lo_gguf_writer *w, const char *key, const char *v);
lo_status lo_gguf_writer_set_arr_str(lo_gguf_writer *w, const char *key, const char *const *v, uint64_t n);
/* Fixed-size element arrays from a C array of that element type. */
lo_status lo_gguf_writer_set_arr(lo_gguf_writer *w, const char *key, lo_gguf_type elem_type, const void *v, uint64_t n);
/* Removes a KV if present. */
void lo_gguf_writer_remove(lo_gguf_writer *w, const char *key);
/* Copies every KV of a reader, in order. */
lo_status lo_gguf_writer_copy_kvs(lo_gguf_writer *w, const lo_gguf *src);
/* Adds a tensor; bytes must equal the size implied by type and ne. */
lo_status lo_gguf_writer_add_tensor(lo_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                    const int64_t *ne, const void *data, size_t bytes);
/* Writes atomically (temp + fsync + rename). */
lo_status lo_gguf_writer_write(lo_gguf_writer *w, const char *path);

#ifdef __cplusplus
}
#endif
#endif
