/* base (L0): status codes and error messages, logging, counted allocation, arenas, a
 * persistent thread pool, mmap of read-only files, atomic file writes, sha256, a string
 * hash map, the ggml dtype traits table, JSON helpers over jansson, a progress bar. */
#ifndef LLMOPS_BASE_H
#define LLMOPS_BASE_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status and errors ------------------------------------------------------------ */

typedef enum lo_status {
    LO_OK = 0,
    LO_ERR_INVALID,     /* bad argument or input (flag, JSON field, request) */
    LO_ERR_IO,          /* open/read/write/rename failed */
    LO_ERR_NOMEM,       /* allocation failed or the counted-allocation limit was hit */
    LO_ERR_FORMAT,      /* a file or payload is malformed */
    LO_ERR_UNSUPPORTED, /* well-formed but not handled (unknown type, version, arch) */
    LO_ERR_NOT_FOUND,   /* a named thing (key, tensor, file, record) does not exist */
    LO_ERR_RANGE,       /* a value is out of its allowed range */
    LO_ERR_INTERNAL,    /* a dependency failed in a way the caller cannot fix */
    LO_ERR_BUSY,        /* a queue or a limit is full right now: retry later */
    LO_ERR_DENIED,      /* not allowed: bad credentials, revoked key, budget spent */
} lo_status;

/* "ok", "invalid argument", ... */
const char *lo_status_name(lo_status s);

/* Records a thread-local error message (printf-style) and an optional hint telling the
 * user how to fix it (NULL for none); returns `s` so callers can `return lo_error(...)`. */
lo_status lo_error(lo_status s, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
lo_status lo_verror(lo_status s, const char *hint, const char *fmt, va_list ap);
/* Prefixes the current message with context: "loading x.gguf: <old message>". */
lo_status lo_error_wrap(lo_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last message and hint of this thread ("" when none). */
const char *lo_error_message(void);
const char *lo_error_hint(void);
void lo_error_clear(void);

/* Always-on assertion for bugs (never for bad input): prints file:line and aborts. */
#define LO_ASSERT(cond)                                                                    \
    do {                                                                                   \
        if (!(cond)) lo_assert_fail(#cond, __FILE__, __LINE__);                            \
    } while (0)
_Noreturn void lo_assert_fail(const char *expr, const char *file, int line);

/* ---- logging (stderr; the library never prints to stdout) ------------------------- */

typedef enum lo_log_level { LO_LOG_DEBUG, LO_LOG_INFO, LO_LOG_WARN, LO_LOG_ERROR, LO_LOG_OFF } lo_log_level;
void lo_log_set_level(lo_log_level level);
lo_log_level lo_log_get_level(void);
/* Parses "debug|info|warn|error|off"; returns false on anything else. */
bool lo_log_parse_level(const char *name, lo_log_level *out);
void lo_log(lo_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define LO_DEBUG(...) lo_log(LO_LOG_DEBUG, __VA_ARGS__)
#define LO_INFO(...) lo_log(LO_LOG_INFO, __VA_ARGS__)
#define LO_WARN(...) lo_log(LO_LOG_WARN, __VA_ARGS__)

/* ---- counted allocation ----------------------------------------------------------- */

/* All library allocations go through these. They count live and peak bytes and fail
 * (returning NULL and setting LO_ERR_NOMEM) past an optional hard limit. */
void *lo_malloc(size_t bytes);
void *lo_calloc(size_t n, size_t size); /* overflow-checked */
void *lo_realloc(void *p, size_t bytes);
void lo_free(void *p); /* NULL is a no-op */
char *lo_strdup(const char *s);
char *lo_strndup(const char *s, size_t n);
/* Aligned allocation (align a power of two ≥ 16), freed with lo_free. */
void *lo_malloc_aligned(size_t bytes, size_t align);
void lo_alloc_set_limit(size_t bytes); /* 0 = no limit */
size_t lo_alloc_live_bytes(void);
size_t lo_alloc_peak_bytes(void);

/* Overflow-safe size arithmetic: return false on overflow. */
static inline bool lo_add_overflow(size_t a, size_t b, size_t *out) { return __builtin_add_overflow(a, b, out); }
static inline bool lo_mul_overflow(size_t a, size_t b, size_t *out) { return __builtin_mul_overflow(a, b, out); }

/* ---- arenas ----------------------------------------------------------------------- */

/* One block sized up front; allocations are bump-pointer and never freed one by one. */
typedef struct lo_arena {
    uint8_t *base;
    size_t cap_bytes;
    size_t used_bytes;
    size_t peak_bytes;
} lo_arena;
lo_status lo_arena_init(lo_arena *a, size_t cap_bytes);
/* NULL (with LO_ERR_NOMEM set) when the arena is full; align is a power of two. */
void *lo_arena_alloc(lo_arena *a, size_t bytes, size_t align);
void lo_arena_reset(lo_arena *a);
void lo_arena_free(lo_arena *a);

/* ---- thread pool ------------------------------------------------------------------ */

/* Persistent workers parked on a condition variable between jobs. lo_pool_run calls
 * fn(ctx, ith, nth) on nth = n_threads threads (the caller is thread 0) and returns when
 * all are done. One job at a time per pool. */
typedef struct lo_pool lo_pool;
typedef void (*lo_pool_fn)(void *ctx, int ith, int nth);
lo_status lo_pool_create(int n_threads, lo_pool **out);
int lo_pool_n_threads(const lo_pool *p);
void lo_pool_run(lo_pool *p, lo_pool_fn fn, void *ctx);
void lo_pool_free(lo_pool *p);
/* Number of online CPUs (≥ 1). */
int lo_cpu_count(void);

/* ---- files ------------------------------------------------------------------------ */

typedef struct lo_mapped {
    const uint8_t *data;
    size_t bytes;
} lo_mapped;
/* Read-only private mapping of a whole file (an empty file gives data=NULL, bytes=0). */
lo_status lo_mmap_file(const char *path, lo_mapped *out);
void lo_munmap(lo_mapped *m);
/* Reads a whole file into a NUL-terminated lo_malloc'd buffer. */
lo_status lo_read_file(const char *path, char **data, size_t *bytes);

/* Atomic writes: data goes to "PATH.tmp.<pid>.<n>", is fsynced, then renamed over PATH
 * (and the directory fsynced). On any failure the temp file is removed and PATH is
 * untouched. */
lo_status lo_write_file_atomic(const char *path, const void *data, size_t bytes);
typedef struct lo_atomic_file lo_atomic_file;
lo_status lo_atomic_open(const char *path, lo_atomic_file **out);
lo_status lo_atomic_write(lo_atomic_file *f, const void *data, size_t bytes);
uint64_t lo_atomic_tell(const lo_atomic_file *f);
lo_status lo_atomic_commit(lo_atomic_file *f); /* fsync + rename; frees f */
void lo_atomic_abort(lo_atomic_file *f);        /* removes the temp file; frees f; NULL ok */

/* ---- sha256 ----------------------------------------------------------------------- */

typedef struct lo_sha256 {
    uint32_t state[8];
    uint64_t n_bytes;
    uint8_t buf[64];
    size_t buf_len;
} lo_sha256;
void lo_sha256_init(lo_sha256 *h);
void lo_sha256_update(lo_sha256 *h, const void *data, size_t bytes);
void lo_sha256_final(lo_sha256 *h, uint8_t digest[32]);
/* hex must hold 65 bytes (64 hex digits + NUL). */
void lo_sha256_hex(const void *data, size_t bytes, char hex[65]);
void lo_hex_encode(const uint8_t *bytes, size_t n, char *out); /* 2n chars + NUL */
lo_status lo_sha256_file_hex(const char *path, char hex[65]);

/* ---- string hash map (byte strings → int64) --------------------------------------- */

/* Open addressing with linear probing; keys are copied into an internal pool. */
typedef struct lo_strmap lo_strmap;
lo_status lo_strmap_create(size_t expected, lo_strmap **out);
void lo_strmap_free(lo_strmap *m);
/* Inserts or overwrites. */
lo_status lo_strmap_put(lo_strmap *m, const char *key, size_t key_len, int64_t value);
/* Returns true and sets *value when present. */
bool lo_strmap_get(const lo_strmap *m, const char *key, size_t key_len, int64_t *value);
size_t lo_strmap_count(const lo_strmap *m);

/* ---- ggml dtype traits ------------------------------------------------------------ */

/* Tensor element types by their GGUF/ggml id. They live in base because both gguf and
 * tensor (siblings on L1) need the block geometry. */
typedef enum lo_dtype {
    LO_DTYPE_F32 = 0, LO_DTYPE_F16 = 1, LO_DTYPE_Q4_0 = 2, LO_DTYPE_Q4_1 = 3,
    LO_DTYPE_Q5_0 = 6, LO_DTYPE_Q5_1 = 7, LO_DTYPE_Q8_0 = 8, LO_DTYPE_Q8_1 = 9,
    LO_DTYPE_Q2_K = 10, LO_DTYPE_Q3_K = 11, LO_DTYPE_Q4_K = 12, LO_DTYPE_Q5_K = 13,
    LO_DTYPE_Q6_K = 14, LO_DTYPE_Q8_K = 15, LO_DTYPE_IQ2_XXS = 16, LO_DTYPE_IQ2_XS = 17,
    LO_DTYPE_IQ3_XXS = 18, LO_DTYPE_IQ1_S = 19, LO_DTYPE_IQ4_NL = 20, LO_DTYPE_IQ3_S = 21,
    LO_DTYPE_IQ2_S = 22, LO_DTYPE_IQ4_XS = 23, LO_DTYPE_I8 = 24, LO_DTYPE_I16 = 25,
    LO_DTYPE_I32 = 26, LO_DTYPE_I64 = 27, LO_DTYPE_F64 = 28, LO_DTYPE_IQ1_M = 29,
    LO_DTYPE_BF16 = 30, LO_DTYPE_TQ1_0 = 34, LO_DTYPE_TQ2_0 = 35, LO_DTYPE_MXFP4 = 39,
    LO_DTYPE_COUNT = 40
} lo_dtype;

typedef struct lo_dtype_traits {
    const char *name;     /* "q4_K" as ggml names it; NULL for unused ids */
    int64_t block_elems;  /* elements per block (1 for scalar types) */
    size_t block_bytes;   /* bytes per block */
    bool quantized;
} lo_dtype_traits;
/* NULL for an id that is not a known type (ids 4, 5, 31–33, 36–38 were removed). */
const lo_dtype_traits *lo_dtype_get(uint32_t id);
/* Case-insensitive lookup by name ("Q4_K", "f16"); -1 when unknown. */
int lo_dtype_from_name(const char *name);
/* Bytes of a row of n elements; false when n is not a multiple of the block or on
 * overflow. */
bool lo_dtype_row_bytes(uint32_t id, int64_t n, size_t *out);

/* ---- JSON helpers over jansson ---------------------------------------------------- */

/* Field getters that validate type and report "field 'x': expected a string" errors. A
 * missing field gives the default and LO_OK unless required. */
lo_status lo_json_get_str(const json_t *obj, const char *key, bool required, const char *dflt, const char **out);
lo_status lo_json_get_int(const json_t *obj, const char *key, bool required, int64_t dflt, int64_t *out);
lo_status lo_json_get_num(const json_t *obj, const char *key, bool required, double dflt, double *out);
lo_status lo_json_get_bool(const json_t *obj, const char *key, bool required, bool dflt, bool *out);
/* Parses text; errors carry line and column. */
lo_status lo_json_parse(const char *text, size_t len, json_t **out);
lo_status lo_json_load_file(const char *path, json_t **out);
/* Compact serialisation into a lo_malloc'd string. */
char *lo_json_dumps(const json_t *v);
lo_status lo_json_write_file_atomic(const char *path, const json_t *v);

/* ---- progress bar ----------------------------------------------------------------- */

/* Draws "label [=====>    ] 42% 1.2k/3.0k 310/s ETA 6s" on stderr at most ~10×/s; silent
 * when stderr is not a terminal. */
typedef struct lo_progress {
    const char *label;
    int64_t total, done;
    double t_start, t_last_draw;
    bool enabled;
} lo_progress;
void lo_progress_begin(lo_progress *p, const char *label, int64_t total);
void lo_progress_update(lo_progress *p, int64_t done);
void lo_progress_end(lo_progress *p);

/* ---- time ------------------------------------------------------------------------- */

double lo_time_sec(void); /* monotonic seconds */

#ifdef __cplusplus
}
#endif
#endif
