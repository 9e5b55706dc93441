/* ops (L4) internals: one-call query helpers over the store (bind by a type string),
 * transactions that join an open one, and small text helpers shared by the files of src/ops. */
#ifndef LLMOPS_OPS_INTERNAL_H
#define LLMOPS_OPS_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "llmops/ops.h"

/* Parameter types, one letter per `?`:
 *   t  const char *   (NULL binds NULL)
 *   i  int64_t
 *   z  int64_t, 0 binds NULL (optional foreign keys)
 *   d  double
 *   D  double, negative binds NULL (unknown timings) */
lo_status ops_prepare(lo_store *s, lo_stmt **st, const char *sql, const char *types, ...);
lo_status ops_vprepare(lo_store *s, lo_stmt **st, const char *sql, const char *types, va_list ap);
/* Runs a statement to completion, discarding rows. */
lo_status ops_exec(lo_store *s, const char *sql, const char *types, ...);
/* Runs `INSERT ... RETURNING id`. */
lo_status ops_insert(lo_store *s, int64_t *id, const char *sql, const char *types, ...);
/* First column of the first row as int64 / double; *found false (value 0) with no row. */
lo_status ops_scalar_i64(lo_store *s, int64_t *v, bool *found, const char *sql, const char *types, ...);
lo_status ops_scalar_f64(lo_store *s, double *v, bool *found, const char *sql, const char *types, ...);

/* Begins a transaction unless one is open (then *owned = false and the caller's
 * transaction is joined). ops_end commits (status LO_OK) or rolls back what it owns and
 * returns the first failure, keeping its message. */
lo_status ops_begin(lo_store *s, bool *owned);
lo_status ops_end(lo_store *s, bool owned, lo_status st);
/* ops_begin for writes that read-then-insert under a uniqueness rule (next model
 * version, next deployment revision, content-addressed rows): SQLite's BEGIN IMMEDIATE
 * already serialises writers; on PostgreSQL a transaction-scoped advisory lock does, so
 * concurrent registrations queue instead of failing on a unique constraint. */
lo_status ops_begin_serial(lo_store *s, bool *owned);

/* LO_OK when request record i (its index in a batch, for the message) is well formed:
 * tokens and ids not negative, timings and cost finite, status and ids within bounds. */
lo_status ops_check_request(const lo_ops_request *q, int i);

/* Copies src (NULL = "") into dst of cap bytes, truncating. */
void ops_copy(char *dst, size_t cap, const char *src);
/* Splits "NAME@REST" into name (validated) and rest (NULL when no '@'). */
lo_status ops_split_ref(const char *what, const char *ref, char name[LO_OPS_NAME_MAX + 1], const char **rest);
/* Row iteration over a dataset's content: non-empty lines (jsonl, text) or csv records
 * after the header (quotes may span lines). A trailing '\r' is not part of a row. */
typedef void (*ops_row_fn)(void *ctx, const char *row, size_t len);
void ops_rows(const char *data, size_t bytes, const char *format, ops_row_fn fn, void *ctx);
/* Random bytes from the kernel. */
lo_status ops_random(void *buf, size_t n);

#endif
