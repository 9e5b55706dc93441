/* store backend over PostgreSQL (libpq): statements are sent with PQexecParams (text
 * parameters, blobs as binary bytea) and results read in text form; bytea columns are
 * decoded from their \x hex form on demand. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

#define BYTEA_OID 17

/* libpq prints NOTICEs on stderr by default; the library logs them at debug level. */
static void notice_sink(void *arg, const char *message) {
    (void)arg;
    LO_DEBUG("postgres: %s", message);
}

/* Strips the trailing newline libpq puts on messages; truncates long ones. */
static void clean_msg(const char *m, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", m && m[0] ? m : "unknown error");
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
    for (char *p = buf; *p; p++) /* one line: libpq continues messages on "\n\t" lines */
        if (*p == '\n' || *p == '\t') *p = ' ';
}

lo_status lo_store__pg_open(const char *url, lo_store *s) {
    /* connect_timeout first so that a value in the URI overrides it. */
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *vals[] = {"10", "llmops", url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    s->db = c;
    if (!c) return lo_error(LO_ERR_NOMEM, NULL, "postgres: out of memory connecting");
    const char *host = PQhost(c), *port = PQport(c), *dbn = PQdb(c);
    char where[512];
    snprintf(where, sizeof where, "postgres %s:%s/%s", host && host[0] ? host : "localhost", port && port[0] ? port : "5432",
             dbn ? dbn : "");
    if (!(s->where = lo_strdup(where))) return LO_ERR_NOMEM;
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[1024], hint[640];
        clean_msg(PQerrorMessage(c), msg, sizeof msg);
        if (strstr(msg, "does not exist") && strstr(msg, "database"))
            snprintf(hint, sizeof hint, "create the database (createdb %s), or set --store or LLMOPS_STORE", dbn ? dbn : "");
        else if (strstr(msg, "password") || strstr(msg, "authentication"))
            snprintf(hint, sizeof hint, "check the user and password in the store URL (--store or LLMOPS_STORE)");
        else
            snprintf(hint, sizeof hint, "is PostgreSQL running at %s:%s? set --store or LLMOPS_STORE",
                     host && host[0] ? host : "localhost", port && port[0] ? port : "5432");
        return lo_error(LO_ERR_IO, hint, "postgres: cannot connect to %s: %s", where + 9, msg);
    }
    PQsetNoticeReceiver(c, NULL, NULL);
    PQsetNoticeProcessor(c, notice_sink, NULL);
    if (PQsetClientEncoding(c, "UTF8") != 0)
        return lo_error(LO_ERR_INTERNAL, NULL, "postgres: cannot set client encoding UTF8");
    return lo_store__pg_exec(s, "SET client_min_messages = warning");
}

void lo_store__pg_close(lo_store *s) {
    if (s->db) PQfinish(s->db);
    s->db = NULL;
}

/* Turns a failed result into an lo_error: SQLSTATE class 23 (integrity) is the caller's
 * data (LO_ERR_INVALID), 08 and 57 (connection, shutdown) LO_ERR_IO. */
static lo_status from_result(lo_store *s, PGresult *r, const char *what) {
    char msg[1024];
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    clean_msg(r ? PQresultErrorMessage(r) : PQerrorMessage(s->db), msg, sizeof msg);
    if (!r || !msg[0]) clean_msg(PQerrorMessage(s->db), msg, sizeof msg);
    lo_status st = LO_ERR_INTERNAL;
    const char *hint = NULL;
    if (state && strncmp(state, "23", 2) == 0) st = LO_ERR_INVALID;
    else if (!state || strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0) {
        st = LO_ERR_IO;
        hint = "is PostgreSQL still running? set --store or LLMOPS_STORE";
    } else if (strncmp(state, "25P02", 5) == 0) {
        hint = "an earlier statement of this transaction failed: roll it back";
    }
    if (PQstatus(s->db) == CONNECTION_BAD) {
        st = LO_ERR_IO;
        hint = "the connection to PostgreSQL was lost; is it still running?";
    }
    return lo_error(st, hint, "postgres: %s: %s%s%s%s", what, msg, state ? " [" : "", state ? state : "", state ? "]" : "");
}

lo_status lo_store__pg_exec(lo_store *s, const char *sql) {
    PGresult *r = PQexec(s->db, sql);
    ExecStatusType t = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    lo_status st = LO_OK;
    if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK && t != PGRES_EMPTY_QUERY) st = from_result(s, r, "exec");
    PQclear(r);
    return st;
}

static void clear_row_cache(lo_stmt *st) {
    if (!st->blob_cache) return;
    for (int i = 0; i < st->n_cols; i++) {
        lo_free(st->blob_cache[i]);
        st->blob_cache[i] = NULL;
    }
}

void lo_store__pg_reset(lo_stmt *st) {
    clear_row_cache(st);
    lo_free(st->blob_cache);
    lo_free(st->blob_bytes);
    st->blob_cache = NULL;
    st->blob_bytes = NULL;
    if (st->res) PQclear(st->res);
    st->res = NULL;
    st->row = st->n_rows = st->n_cols = 0;
}

lo_status lo_store__pg_step(lo_stmt *st, bool *has_row) {
    if (!st->executed) {
        int n = st->n_params;
        const char **vals = NULL;
        int *lens = NULL, *fmts = NULL;
        Oid *types = NULL;
        if (n > 0) {
            vals = lo_calloc((size_t)n, sizeof *vals);
            lens = lo_calloc((size_t)n, sizeof *lens);
            fmts = lo_calloc((size_t)n, sizeof *fmts);
            types = lo_calloc((size_t)n, sizeof *types);
            if (!vals || !lens || !fmts || !types) {
                lo_free(vals), lo_free(lens), lo_free(fmts), lo_free(types);
                return LO_ERR_NOMEM;
            }
            for (int i = 0; i < n; i++) {
                vals[i] = st->params[i].value;
                lens[i] = st->params[i].length;
                fmts[i] = st->params[i].format;
                types[i] = st->params[i].type;
            }
        }
        PGresult *r = PQexecParams(st->s->db, st->sql, n, types, vals, lens, fmts, 0);
        lo_free(vals), lo_free(lens), lo_free(fmts), lo_free(types);
        ExecStatusType t = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK && t != PGRES_EMPTY_QUERY) {
            lo_status s = from_result(st->s, r, "step");
            PQclear(r);
            return s;
        }
        st->res = r;
        st->n_rows = PQntuples(r);
        st->n_cols = PQnfields(r);
        st->row = -1;
        if (st->n_cols > 0) {
            st->blob_cache = lo_calloc((size_t)st->n_cols, sizeof *st->blob_cache);
            st->blob_bytes = lo_calloc((size_t)st->n_cols, sizeof *st->blob_bytes);
            if (!st->blob_cache || !st->blob_bytes) return LO_ERR_NOMEM;
        }
    }
    clear_row_cache(st);
    if (st->row + 1 < st->n_rows) {
        st->row++;
        *has_row = true;
    }
    return LO_OK;
}

const char *lo_store__pg_value(lo_stmt *st, int col) {
    if (!st->res || st->row < 0 || st->row >= st->n_rows || col < 0 || col >= st->n_cols) return NULL;
    if (PQgetisnull(st->res, st->row, col)) return NULL;
    return PQgetvalue(st->res, st->row, col);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

const void *lo_store__pg_blob(lo_stmt *st, int col, size_t *bytes) {
    const char *v = lo_store__pg_value(st, col);
    if (!v) return NULL;
    size_t len = (size_t)PQgetlength(st->res, st->row, col);
    if (PQftype(st->res, col) != BYTEA_OID) { /* text column: its bytes as they are */
        *bytes = len;
        return v;
    }
    if (st->blob_cache[col]) {
        *bytes = st->blob_bytes[col];
        return st->blob_cache[col];
    }
    uint8_t *out;
    size_t n = 0;
    if (len >= 2 && v[0] == '\\' && v[1] == 'x') { /* hex format (the default since 9.0) */
        out = lo_malloc(len / 2 + 1);
        if (!out) return NULL;
        for (size_t i = 2; i + 1 < len; i += 2) {
            int hi = hexval(v[i]), lo = hexval(v[i + 1]);
            if (hi < 0 || lo < 0) { lo_free(out); return NULL; }
            out[n++] = (uint8_t)(hi << 4 | lo);
        }
    } else { /* escape format (bytea_output = escape) */
        size_t un = 0;
        unsigned char *u = PQunescapeBytea((const unsigned char *)v, &un);
        if (!u) return NULL;
        out = lo_malloc(un + 1);
        if (out) memcpy(out, u, un);
        PQfreemem(u);
        if (!out) return NULL;
        n = un;
    }
    st->blob_cache[col] = out;
    st->blob_bytes[col] = n;
    *bytes = n;
    return out;
}
