/* store backend over SQLite: one file opened in WAL mode with a 5 s busy timeout and
 * foreign keys on; statements map 1:1 onto sqlite3_stmt. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store_internal.h"

static lo_status from_rc(lo_store *s, int rc, const char *what) {
    sqlite3 *db = s->db;
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    const char *hint = NULL;
    lo_status st = LO_ERR_INTERNAL;
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: st = LO_ERR_INVALID; break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        st = LO_ERR_IO;
        hint = "another process holds the store's write lock; retry, or use PostgreSQL for many writers";
        break;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        st = LO_ERR_IO;
        hint = "check the path and permissions of the sqlite: store, or set --store or LLMOPS_STORE";
        break;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: st = LO_ERR_FORMAT; hint = "the file is not an llmops SQLite store"; break;
    case SQLITE_NOMEM: st = LO_ERR_NOMEM; break;
    default: break;
    }
    return lo_error(st, hint, "sqlite: %s: %s (%s)", what, msg, s->where ? s->where : "");
}

/* mkdir -p of the directory part of path. */
static lo_status make_parent_dirs(const char *path) {
    char *dir = lo_strdup(path);
    if (!dir) return LO_ERR_NOMEM;
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) { lo_free(dir); return LO_OK; }
    *slash = 0;
    for (char *p = dir + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char saved = *p;
            *p = 0;
            if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
                lo_status st = lo_error(LO_ERR_IO, "check the path of the sqlite: store, or set --store or LLMOPS_STORE",
                                        "sqlite: cannot create directory %s: %s", dir, strerror(errno));
                lo_free(dir);
                return st;
            }
            *p = saved;
            if (!saved) break;
        }
    }
    lo_free(dir);
    return LO_OK;
}

lo_status lo_store__sqlite_open(const char *path, lo_store *s) {
    size_t n = strlen(path) + 8;
    if (!(s->where = lo_malloc(n))) return LO_ERR_NOMEM;
    snprintf(s->where, n, "sqlite:%s", path);
    bool memory = strcmp(path, ":memory:") == 0;
    if (!memory) {
        lo_status st = make_parent_dirs(path);
        if (st != LO_OK) return st;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    s->db = db;
    if (rc != SQLITE_OK) return from_rc(s, rc, "open");
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);
    /* journal_mode=WAL reads the file header: this is where "not a database" shows up. */
    const char *setup = memory ? "PRAGMA foreign_keys = ON" : "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL";
    /* Switching a fresh file to WAL takes an exclusive lock, and SQLite answers BUSY there
     * without consulting the busy handler when another connection is doing the same (seen
     * with four connections opening one new store at once): retry for the busy timeout. */
    for (int attempt = 0;; attempt++) {
        rc = sqlite3_exec(db, setup, NULL, NULL, NULL);
        int primary = rc & 0xff;
        if ((primary != SQLITE_BUSY && primary != SQLITE_LOCKED) || attempt >= 500) break;
        sqlite3_sleep(10);
    }
    if (rc != SQLITE_OK) return from_rc(s, rc, "open");
    return LO_OK;
}

void lo_store__sqlite_close(lo_store *s) {
    if (s->db) sqlite3_close_v2(s->db);
    s->db = NULL;
}

lo_status lo_store__sqlite_exec(lo_store *s, const char *sql) {
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? LO_OK : from_rc(s, rc, "exec");
}

lo_status lo_store__sqlite_prepare(lo_stmt *st, const char *sql) {
    sqlite3_stmt *q = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(st->s->db, sql, -1, &q, &tail);
    if (rc != SQLITE_OK) return from_rc(st->s, rc, "prepare");
    if (!q) return lo_error(LO_ERR_INVALID, NULL, "sqlite: prepare: empty statement");
    while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' || *tail == ';')) tail++;
    if (tail && *tail) {
        sqlite3_finalize(q);
        return lo_error(LO_ERR_INVALID, "prepare one statement at a time (lo_store_exec runs several)",
                        "sqlite: prepare: more than one statement");
    }
    if (sqlite3_bind_parameter_count(q) != st->n_params) {
        sqlite3_finalize(q);
        return lo_error(LO_ERR_INVALID, "use only ? placeholders", "sqlite: prepare: parameter count mismatch");
    }
    st->sq = q;
    return LO_OK;
}

lo_status lo_store__sqlite_bind(lo_stmt *st, int idx, int kind, const void *p, size_t n, int64_t i, double d) {
    sqlite3_stmt *q = st->sq;
    int rc = SQLITE_OK;
    switch (kind) {
    case LO_BIND_NULL: rc = sqlite3_bind_null(q, idx); break;
    case LO_BIND_TEXT: rc = sqlite3_bind_text64(q, idx, p, strlen(p), SQLITE_TRANSIENT, SQLITE_UTF8); break;
    case LO_BIND_INT64: rc = sqlite3_bind_int64(q, idx, i); break;
    case LO_BIND_DOUBLE: rc = sqlite3_bind_double(q, idx, d); break;
    case LO_BIND_BLOB: rc = sqlite3_bind_blob64(q, idx, p ? p : "", n, SQLITE_TRANSIENT); break;
    }
    return rc == SQLITE_OK ? LO_OK : from_rc(st->s, rc, "bind");
}

lo_status lo_store__sqlite_step(lo_stmt *st, bool *has_row) {
    int rc = sqlite3_step(st->sq);
    if (rc == SQLITE_ROW) { *has_row = true; return LO_OK; }
    if (rc == SQLITE_DONE) return LO_OK;
    lo_status s = from_rc(st->s, rc, "step");
    sqlite3_reset(st->sq);
    return s;
}

void lo_store__sqlite_reset(lo_stmt *st) { sqlite3_reset(st->sq); }
void lo_store__sqlite_finalize(lo_stmt *st) { sqlite3_finalize(st->sq); }
int lo_store__sqlite_column_count(const lo_stmt *st) { return sqlite3_column_count(st->sq); }
bool lo_store__sqlite_is_null(lo_stmt *st, int col) { return sqlite3_column_type(st->sq, col) == SQLITE_NULL; }
const char *lo_store__sqlite_text(lo_stmt *st, int col) { return (const char *)sqlite3_column_text(st->sq, col); }
int64_t lo_store__sqlite_int64(lo_stmt *st, int col) { return sqlite3_column_int64(st->sq, col); }
double lo_store__sqlite_double(lo_stmt *st, int col) { return sqlite3_column_double(st->sq, col); }
const void *lo_store__sqlite_blob(lo_stmt *st, int col, size_t *bytes) {
    if (sqlite3_column_type(st->sq, col) == SQLITE_NULL) return NULL;
    const void *p = sqlite3_column_blob(st->sq, col);
    int n = sqlite3_column_bytes(st->sq, col);
    *bytes = n > 0 ? (size_t)n : 0;
    return p ? p : "";
}
