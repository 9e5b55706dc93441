/* Fixtures shared by the ops tests: the backend environment (a fresh store per call and
 * a scratch directory), a file writer, a one-number query and a tiny valid GGUF. It
 * includes check.h and the public headers the tests use. */
#ifndef LLMOPS_TESTS_OPS_FIXTURE_H
#define LLMOPS_TESTS_OPS_FIXTURE_H

#include "check.h"
#include "llmops/gguf.h"
#include "llmops/ops.h"

typedef struct ops_env {
    char *(*fresh_url)(void *ctx); /* malloc'd URL of a new empty store */
    void *ctx;
    const char *dir;               /* scratch directory */
} ops_env;

static inline lo_store *ops_open(const ops_env *e) {
    char *url = e->fresh_url(e->ctx);
    lo_store *s = NULL;
    lo_status r = lo_store_open(url, &s);
    CHECK_MSG(r == LO_OK, "open %s: %s", url, lo_error_message());
    free(url);
    return s;
}

static inline void ops_write(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static inline int64_t ops_count(lo_store *s, const char *sql) {
    lo_stmt *st = NULL;
    bool row = false;
    int64_t v = -1;
    if (lo_store_prepare(s, sql, &st) == LO_OK && lo_store_step(st, &row) == LO_OK && row) v = lo_store_column_int64(st, 0);
    lo_store_finalize(st);
    return v;
}

/* A tiny valid GGUF: llama arch, one F32 tensor whose values depend on `seed`. */
static inline void ops_write_gguf(const char *path, float seed) {
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(3, &w));
    if (!w) return;
    CHECK_OK(lo_gguf_writer_set_str(w, "general.architecture", "llama"));
    CHECK_OK(lo_gguf_writer_set_str(w, "general.name", "tiny"));
    CHECK_OK(lo_gguf_writer_set_u32(w, "llama.context_length", 256));
    float data[8];
    for (int i = 0; i < 8; i++) data[i] = seed + (float)i;
    int64_t ne[2] = {4, 2};
    CHECK_OK(lo_gguf_writer_add_tensor(w, "tok_embd.weight", LO_DTYPE_F32, 2, ne, data, sizeof data));
    CHECK_OK(lo_gguf_writer_write(w, path));
    lo_gguf_writer_free(w);
}

/* The end of every ops test: removes the scratch directory, checks that no library memory
 * is left and returns the exit code. */
static inline int ops_finish(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    lo_error_clear();
    CHECK_INT_EQ(lo_alloc_live_bytes(), 0);
    return check_done();
}

#endif
