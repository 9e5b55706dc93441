/* store internals shared by the front (store.c: URLs, SQL rendering, transactions,
 * migrations) and the two backends (store_sqlite.c, store_pg.c). */
#ifndef LLMOPS_STORE_INTERNAL_H
#define LLMOPS_STORE_INTERNAL_H

#include "llmops/store.h"

typedef enum lo_store_backend { LO_STORE_SQLITE, LO_STORE_POSTGRES } lo_store_backend;

struct lo_store {
    lo_store_backend backend;
    void *db;             /* sqlite3* or PGconn* */
    char *where;          /* "sqlite:PATH" or "postgres host:port/db", for messages */
    bool in_tx;
    int64_t schema_version;
};

/* One PostgreSQL parameter as bound: text form (or raw bytes for a blob) and its type. */
typedef struct lo_pg_param {
    char *value;          /* NULL = SQL NULL */
    int length;
    int format;           /* 0 text, 1 binary */
    unsigned int type;    /* Oid: 0 (infer), 20 int8, 701 float8, 17 bytea */
} lo_pg_param;

struct lo_stmt {
    lo_store *s;
    int n_params;
    bool executed, done;
    /* sqlite */
    void *sq;             /* sqlite3_stmt* */
    /* postgres */
    char *sql;            /* rendered with $n */
    lo_pg_param *params;  /* n_params */
    void *res;            /* PGresult* */
    int row, n_rows, n_cols;
    void **blob_cache;    /* n_cols decoded bytea values of the current row */
    size_t *blob_bytes;
};

/* Renders neutral SQL for a backend: {{ID}}/{{BLOB}} tokens, and `?` → `$n` when
 * dollar_params. Skips '…', "…", -- and block comments. Returns a lo_malloc'd string. */
lo_status lo_store__render(const char *sql, lo_store_backend b, bool dollar_params, char **out,
                           int *n_params);

/* Backends: the front has already rendered the SQL. */
lo_status lo_store__sqlite_open(const char *path, lo_store *s);
void lo_store__sqlite_close(lo_store *s);
lo_status lo_store__sqlite_exec(lo_store *s, const char *sql);
lo_status lo_store__sqlite_prepare(lo_stmt *st, const char *sql);
lo_status lo_store__sqlite_step(lo_stmt *st, bool *has_row);
void lo_store__sqlite_reset(lo_stmt *st);
void lo_store__sqlite_finalize(lo_stmt *st);
lo_status lo_store__sqlite_bind(lo_stmt *st, int idx, int kind, const void *p, size_t n, int64_t i, double d);
int lo_store__sqlite_column_count(const lo_stmt *st);
bool lo_store__sqlite_is_null(lo_stmt *st, int col);
const char *lo_store__sqlite_text(lo_stmt *st, int col);
int64_t lo_store__sqlite_int64(lo_stmt *st, int col);
double lo_store__sqlite_double(lo_stmt *st, int col);
const void *lo_store__sqlite_blob(lo_stmt *st, int col, size_t *bytes);

lo_status lo_store__pg_open(const char *url, lo_store *s);
void lo_store__pg_close(lo_store *s);
lo_status lo_store__pg_exec(lo_store *s, const char *sql);
lo_status lo_store__pg_step(lo_stmt *st, bool *has_row);
void lo_store__pg_reset(lo_stmt *st);  /* clears the result, keeps params */
const char *lo_store__pg_value(lo_stmt *st, int col); /* NULL for SQL NULL or bad col */
const void *lo_store__pg_blob(lo_stmt *st, int col, size_t *bytes);

/* Bind kinds for the backends. */
enum { LO_BIND_NULL, LO_BIND_TEXT, LO_BIND_INT64, LO_BIND_DOUBLE, LO_BIND_BLOB };

/* Versioned migrations (store_schema.c): version i+1 is lo_store__migrations[i]. */
extern const char *const lo_store__migrations[];
extern const int lo_store__n_migrations;

#endif
