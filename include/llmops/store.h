/* store (L1): the metadata store — one small SQL API over SQLite (default, one file) and
 * PostgreSQL (libpq, shared by several replicas), with the same versioned schema applied
 * by migrations on open. SQL is written once: `?` placeholders and {{TOKENS}} (below). */
#ifndef LLMOPS_STORE_H
#define LLMOPS_STORE_H

#include "llmops/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lo_store lo_store;     /* one connection; use from one thread at a time */
typedef struct lo_stmt lo_stmt;       /* a prepared statement of one store */

/* Used when neither --store nor LLMOPS_STORE is given. */
#define LO_STORE_DEFAULT_URL "sqlite:./llmops-data/llmops.db"

/* Opens a store and brings its schema up to date (each pending migration in its own
 * transaction; concurrent openers serialise). URLs:
 *   sqlite:PATH         a file (parent directory created); WAL, busy_timeout 5000 ms,
 *                       foreign keys on. "sqlite:" alone means the default path;
 *                       "sqlite::memory:" is a private in-memory store.
 *   postgres://…, postgresql://…   a libpq connection URI (connect_timeout 10 s unless
 *                       the URI sets one).
 * Refuses (LO_ERR_UNSUPPORTED) a store whose schema is newer than this binary knows. */
lo_status lo_store_open(const char *url, lo_store **out);
void lo_store_close(lo_store *s); /* rolls back an open transaction; NULL is a no-op */
const char *lo_store_backend_name(const lo_store *s); /* "sqlite" | "postgres" */
/* The URL to use: flag_value (from --store) if non-empty, else $LLMOPS_STORE if
 * non-empty, else LO_STORE_DEFAULT_URL. The result is flag_value, getenv's string or a
 * literal: not owned by the caller. */
const char *lo_store_url_from_env_or(const char *flag_value);
/* Schema version of the open store, and the newest version this binary knows. */
int64_t lo_store_schema_version(const lo_store *s);
int64_t lo_store_schema_version_known(void);
/* Wall-clock Unix time in milliseconds: the unit of every *_at column. */
int64_t lo_store_now_ms(void);

/* Neutral SQL. Outside string literals, quoted identifiers and comments:
 *   ?          a positional parameter (rewritten to $1..$n for PostgreSQL)
 *   {{ID}}     "INTEGER PRIMARY KEY" (SQLite) | "BIGSERIAL PRIMARY KEY" (PostgreSQL)
 *   {{BLOB}}   "BLOB" | "BYTEA"
 * Use TEXT, BIGINT, DOUBLE PRECISION for everything else. New ids come back with
 * `INSERT ... RETURNING id` on both backends (see lo_store_last_insert_id). */

/* Runs one or more statements without parameters (DDL); results are discarded. */
lo_status lo_store_exec(lo_store *s, const char *sql);

/* Transactions (BEGIN IMMEDIATE on SQLite). Nested begin is refused (LO_ERR_INVALID), as
 * are commit/rollback without a begin. After an error inside a transaction, roll back:
 * PostgreSQL refuses further statements in it. */
lo_status lo_store_begin(lo_store *s);
lo_status lo_store_commit(lo_store *s);
lo_status lo_store_rollback(lo_store *s);
bool lo_store_in_transaction(const lo_store *s);

/* Prepared statements. Parameters are numbered from 1, columns from 0. Binding copies
 * the value; an unbound parameter is NULL. */
lo_status lo_store_prepare(lo_store *s, const char *sql, lo_stmt **out);
int lo_store_param_count(const lo_stmt *st);
lo_status lo_store_bind_text(lo_stmt *st, int idx, const char *text); /* NULL binds NULL */
lo_status lo_store_bind_int64(lo_stmt *st, int idx, int64_t v);
lo_status lo_store_bind_double(lo_stmt *st, int idx, double v);
lo_status lo_store_bind_null(lo_stmt *st, int idx);
lo_status lo_store_bind_blob(lo_stmt *st, int idx, const void *data, size_t bytes);
/* Executes on the first call, then walks the result: *has_row is true with a row to read,
 * false when done (and stays false until lo_store_reset). Errors carry the backend's
 * message; a violated constraint (unique, foreign key, not null, check) is
 * LO_ERR_INVALID, a busy/unreachable store LO_ERR_IO. */
lo_status lo_store_step(lo_stmt *st, bool *has_row);
/* Makes the statement executable again, keeping its bindings. */
lo_status lo_store_reset(lo_stmt *st);
/* Runs an `INSERT ... RETURNING id` statement (bound, not yet stepped) to completion and
 * gives the id of the new row. */
lo_status lo_store_last_insert_id(lo_stmt *st, int64_t *id);
/* Column getters for the current row. Pointers stay valid until the next step, reset or
 * finalize. Text of a NULL is NULL; numbers of a NULL are 0; a bad column index gives
 * NULL / 0. */
int lo_store_column_count(const lo_stmt *st);
bool lo_store_column_is_null(lo_stmt *st, int col);
const char *lo_store_column_text(lo_stmt *st, int col);
int64_t lo_store_column_int64(lo_stmt *st, int col);
double lo_store_column_double(lo_stmt *st, int col);
const void *lo_store_column_blob(lo_stmt *st, int col, size_t *bytes);
void lo_store_finalize(lo_stmt *st); /* NULL is a no-op */

#ifdef __cplusplus
}
#endif
#endif
