/* store front: URL choice and parsing, neutral-SQL rendering ({{TOKENS}}, `?` → `$n`),
 * transactions, statement dispatch to the SQLite or PostgreSQL backend, and migrations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_internal.h"

const char *lo_store_url_from_env_or(const char *flag_value) {
    if (flag_value && flag_value[0]) return flag_value;
    const char *env = getenv("LLMOPS_STORE");
    if (env && env[0]) return env;
    return LO_STORE_DEFAULT_URL;
}

int64_t lo_store_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lo_store_schema_version_known(void) { return lo_store__n_migrations; }
int64_t lo_store_schema_version(const lo_store *s) { return s ? s->schema_version : 0; }
const char *lo_store_backend_name(const lo_store *s) {
    if (!s) return "none";
    return s->backend == LO_STORE_SQLITE ? "sqlite" : "postgres";
}
bool lo_store_in_transaction(const lo_store *s) { return s && s->in_tx; }

/* ---- rendering -------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    size_t need;
    if (lo_add_overflow(b->len, n + 1, &need)) { b->failed = true; return; }
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need) cap *= 2;
        char *np = lo_realloc(b->p, cap);
        if (!np) { b->failed = true; return; }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

lo_status lo_store__render(const char *sql, lo_store_backend be, bool dollar_params, char **out,
                           int *n_params) {
    *out = NULL;
    if (n_params) *n_params = 0;
    if (!sql) return lo_error(LO_ERR_INVALID, NULL, "store: SQL is NULL");
    sbuf b = {0};
    int n = 0;
    size_t i = 0, len = strlen(sql);
    while (i < len) {
        char c = sql[i];
        size_t start = i;
        if (c == '\'' || c == '"') { /* literal or quoted identifier; doubled quote escapes */
            i++;
            while (i < len) {
                if (sql[i] == c) {
                    if (i + 1 < len && sql[i + 1] == c) { i += 2; continue; }
                    i++;
                    break;
                }
                i++;
            }
            sb_put(&b, sql + start, i - start);
        } else if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n') i++;
            sb_put(&b, sql + start, i - start);
        } else if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
            const char *end = strstr(sql + i + 2, "*/");
            i = end ? (size_t)(end - sql) + 2 : len;
            sb_put(&b, sql + start, i - start);
        } else if (c == '?') {
            if (n == 32767) { lo_free(b.p); return lo_error(LO_ERR_RANGE, NULL, "store: too many parameters"); }
            n++;
            if (dollar_params) {
                char tmp[16];
                int k = snprintf(tmp, sizeof tmp, "$%d", n);
                sb_put(&b, tmp, (size_t)k);
            } else {
                sb_put(&b, "?", 1);
            }
            i++;
        } else if (c == '{' && i + 1 < len && sql[i + 1] == '{') {
            const char *end = strstr(sql + i + 2, "}}");
            if (!end) { lo_free(b.p); return lo_error(LO_ERR_INVALID, NULL, "store: unterminated {{ token in SQL"); }
            size_t tl = (size_t)(end - (sql + i + 2));
            const char *tok = sql + i + 2, *rep = NULL;
            if (tl == 2 && memcmp(tok, "ID", 2) == 0)
                rep = be == LO_STORE_SQLITE ? "INTEGER PRIMARY KEY" : "BIGSERIAL PRIMARY KEY";
            else if (tl == 4 && memcmp(tok, "BLOB", 4) == 0)
                rep = be == LO_STORE_SQLITE ? "BLOB" : "BYTEA";
            if (!rep) {
                lo_free(b.p);
                return lo_error(LO_ERR_INVALID, "known tokens: {{ID}}, {{BLOB}}", "store: unknown SQL token {{%.*s}}",
                                (int)(tl > 40 ? 40 : tl), tok);
            }
            sb_put(&b, rep, strlen(rep));
            i = (size_t)(end - sql) + 2;
        } else {
            while (i < len && !strchr("'\"-/?{", sql[i])) i++;
            if (i == start) i++;
            sb_put(&b, sql + start, i - start);
        }
    }
    if (!b.p && !b.failed) sb_put(&b, "", 0);
    if (b.failed) { lo_free(b.p); return lo_error(LO_ERR_NOMEM, NULL, "store: out of memory rendering SQL"); }
    *out = b.p;
    if (n_params) *n_params = n;
    return LO_OK;
}

/* ---- open / close ----------------------------------------------------------------- */

static lo_status migrate(lo_store *s);

lo_status lo_store_open(const char *url, lo_store **out) {
    if (!out) return lo_error(LO_ERR_INVALID, NULL, "store: out is NULL");
    *out = NULL;
    const char *hint = "use sqlite:PATH or postgres://USER@HOST:PORT/DB (--store or LLMOPS_STORE)";
    if (!url || !url[0]) return lo_error(LO_ERR_INVALID, hint, "store: empty store URL");
    lo_store *s = lo_calloc(1, sizeof *s);
    if (!s) return LO_ERR_NOMEM;
    lo_status st;
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *path = url + 7;
        if (strncmp(path, "//", 2) == 0) path += 2; /* tolerate sqlite://PATH */
        if (!path[0]) path = LO_STORE_DEFAULT_URL + 7;
        s->backend = LO_STORE_SQLITE;
        st = lo_store__sqlite_open(path, s);
    } else if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        s->backend = LO_STORE_POSTGRES;
        st = lo_store__pg_open(url, s);
    } else {
        lo_free(s);
        const char *colon = strchr(url, ':');
        int scheme_len = colon ? (int)(colon - url) : (int)strlen(url);
        if (scheme_len > 32) scheme_len = 32;
        return lo_error(LO_ERR_INVALID, hint, "store: unsupported store URL scheme '%.*s' (in '%.*s')",
                        scheme_len, url, 200, url);
    }
    if (st != LO_OK) {
        lo_store_close(s);
        return st;
    }
    st = migrate(s);
    if (st != LO_OK) {
        lo_store_close(s);
        return st;
    }
    *out = s;
    return LO_OK;
}

void lo_store_close(lo_store *s) {
    if (!s) return;
    if (s->in_tx && s->db) (void)lo_store_rollback(s);
    if (s->backend == LO_STORE_SQLITE)
        lo_store__sqlite_close(s);
    else
        lo_store__pg_close(s);
    lo_free(s->where);
    lo_free(s);
}

/* ---- exec and transactions -------------------------------------------------------- */

lo_status lo_store_exec(lo_store *s, const char *sql) {
    if (!s) return lo_error(LO_ERR_INVALID, NULL, "store: store is NULL");
    char *r;
    lo_status st = lo_store__render(sql, s->backend, false, &r, NULL);
    if (st != LO_OK) return st;
    st = s->backend == LO_STORE_SQLITE ? lo_store__sqlite_exec(s, r) : lo_store__pg_exec(s, r);
    lo_free(r);
    return st;
}

lo_status lo_store_begin(lo_store *s) {
    if (!s) return lo_error(LO_ERR_INVALID, NULL, "store: store is NULL");
    if (s->in_tx)
        return lo_error(LO_ERR_INVALID, "commit or roll back the open transaction first",
                        "store: a transaction is already open (nested transactions are not supported)");
    lo_status st = s->backend == LO_STORE_SQLITE ? lo_store__sqlite_exec(s, "BEGIN IMMEDIATE")
                                                 : lo_store__pg_exec(s, "BEGIN");
    if (st == LO_OK) s->in_tx = true;
    return st;
}

static lo_status end_tx(lo_store *s, const char *sql, const char *what) {
    if (!s) return lo_error(LO_ERR_INVALID, NULL, "store: store is NULL");
    if (!s->in_tx) return lo_error(LO_ERR_INVALID, "call lo_store_begin first", "store: %s without an open transaction", what);
    lo_status st = s->backend == LO_STORE_SQLITE ? lo_store__sqlite_exec(s, sql) : lo_store__pg_exec(s, sql);
    /* A failed COMMIT leaves SQLite's transaction open when busy; anything else ends it. */
    if (st == LO_OK || s->backend == LO_STORE_POSTGRES) s->in_tx = false;
    return st;
}
lo_status lo_store_commit(lo_store *s) { return end_tx(s, "COMMIT", "commit"); }
lo_status lo_store_rollback(lo_store *s) { return end_tx(s, "ROLLBACK", "rollback"); }

/* ---- statements ------------------------------------------------------------------- */

lo_status lo_store_prepare(lo_store *s, const char *sql, lo_stmt **out) {
    if (!out) return lo_error(LO_ERR_INVALID, NULL, "store: out is NULL");
    *out = NULL;
    if (!s) return lo_error(LO_ERR_INVALID, NULL, "store: store is NULL");
    char *r;
    int n;
    lo_status st = lo_store__render(sql, s->backend, s->backend == LO_STORE_POSTGRES, &r, &n);
    if (st != LO_OK) return st;
    lo_stmt *t = lo_calloc(1, sizeof *t);
    if (!t) { lo_free(r); return LO_ERR_NOMEM; }
    t->s = s;
    t->n_params = n;
    if (s->backend == LO_STORE_SQLITE) {
        st = lo_store__sqlite_prepare(t, r);
        lo_free(r);
        if (st != LO_OK) { lo_free(t); return st; }
    } else {
        t->sql = r;
        if (n > 0 && !(t->params = lo_calloc((size_t)n, sizeof *t->params))) {
            lo_free(r);
            lo_free(t);
            return LO_ERR_NOMEM;
        }
    }
    *out = t;
    return LO_OK;
}

int lo_store_param_count(const lo_stmt *st) { return st ? st->n_params : 0; }

static lo_status bind(lo_stmt *st, int idx, int kind, const void *p, size_t n, int64_t i, double d) {
    if (!st) return lo_error(LO_ERR_INVALID, NULL, "store: statement is NULL");
    if (idx < 1 || idx > st->n_params)
        return lo_error(LO_ERR_RANGE, NULL, "store: parameter %d out of range (the statement has %d)", idx, st->n_params);
    if (st->executed)
        return lo_error(LO_ERR_INVALID, "call lo_store_reset before binding again", "store: binding a statement that has run");
    if (st->s->backend == LO_STORE_SQLITE) return lo_store__sqlite_bind(st, idx, kind, p, n, i, d);
    lo_pg_param *pp = &st->params[idx - 1];
    lo_free(pp->value);
    memset(pp, 0, sizeof *pp);
    char tmp[40];
    const char *src = NULL;
    size_t bytes = 0;
    switch (kind) {
    case LO_BIND_NULL: return LO_OK;
    case LO_BIND_TEXT: src = p; bytes = strlen(p); break;
    case LO_BIND_INT64: bytes = (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)i); src = tmp; pp->type = 20; break;
    case LO_BIND_DOUBLE: bytes = (size_t)snprintf(tmp, sizeof tmp, "%.17g", d); src = tmp; pp->type = 701; break;
    case LO_BIND_BLOB: src = p ? p : ""; bytes = n; pp->format = 1; pp->type = 17; break;
    }
    if (bytes > 0x7fffffff) return lo_error(LO_ERR_RANGE, NULL, "store: parameter %d is too large (%zu bytes)", idx, bytes);
    pp->value = lo_malloc(bytes + 1);
    if (!pp->value) return LO_ERR_NOMEM;
    if (bytes) memcpy(pp->value, src, bytes);
    pp->value[bytes] = 0;
    pp->length = (int)bytes;
    return LO_OK;
}

lo_status lo_store_bind_text(lo_stmt *st, int idx, const char *text) {
    return bind(st, idx, text ? LO_BIND_TEXT : LO_BIND_NULL, text, 0, 0, 0);
}
lo_status lo_store_bind_int64(lo_stmt *st, int idx, int64_t v) { return bind(st, idx, LO_BIND_INT64, NULL, 0, v, 0); }
lo_status lo_store_bind_double(lo_stmt *st, int idx, double v) { return bind(st, idx, LO_BIND_DOUBLE, NULL, 0, 0, v); }
lo_status lo_store_bind_null(lo_stmt *st, int idx) { return bind(st, idx, LO_BIND_NULL, NULL, 0, 0, 0); }
lo_status lo_store_bind_blob(lo_stmt *st, int idx, const void *data, size_t bytes) {
    if (!data && bytes) return lo_error(LO_ERR_INVALID, NULL, "store: blob is NULL with %zu bytes", bytes);
    return bind(st, idx, LO_BIND_BLOB, data, bytes, 0, 0);
}

lo_status lo_store_step(lo_stmt *st, bool *has_row) {
    if (!has_row) return lo_error(LO_ERR_INVALID, NULL, "store: has_row is NULL");
    *has_row = false;
    if (!st) return lo_error(LO_ERR_INVALID, NULL, "store: statement is NULL");
    if (st->done) return LO_OK;
    lo_status s = st->s->backend == LO_STORE_SQLITE ? lo_store__sqlite_step(st, has_row) : lo_store__pg_step(st, has_row);
    st->executed = true;
    if (s != LO_OK || !*has_row) st->done = true;
    return s;
}

lo_status lo_store_reset(lo_stmt *st) {
    if (!st) return lo_error(LO_ERR_INVALID, NULL, "store: statement is NULL");
    if (st->s->backend == LO_STORE_SQLITE)
        lo_store__sqlite_reset(st);
    else
        lo_store__pg_reset(st);
    st->executed = st->done = false;
    return LO_OK;
}

lo_status lo_store_last_insert_id(lo_stmt *st, int64_t *id) {
    if (!id) return lo_error(LO_ERR_INVALID, NULL, "store: id is NULL");
    *id = 0;
    bool row;
    lo_status s = lo_store_step(st, &row);
    if (s != LO_OK) return s;
    if (!row || lo_store_column_is_null(st, 0))
        return lo_error(LO_ERR_INVALID, "end the INSERT with RETURNING id",
                        "store: the statement returned no id");
    *id = lo_store_column_int64(st, 0);
    while (row) { /* finish the statement so SQLite releases it */
        s = lo_store_step(st, &row);
        if (s != LO_OK) return s;
    }
    return LO_OK;
}

int lo_store_column_count(const lo_stmt *st) {
    if (!st) return 0;
    return st->s->backend == LO_STORE_SQLITE ? lo_store__sqlite_column_count(st) : (st->res ? st->n_cols : 0);
}

/* The current row exists: the statement has stepped onto a row. */
static bool on_row(const lo_stmt *st, int col) {
    return st && st->executed && !st->done && col >= 0 && col < lo_store_column_count(st);
}

bool lo_store_column_is_null(lo_stmt *st, int col) {
    if (!on_row(st, col)) return true;
    if (st->s->backend == LO_STORE_SQLITE) return lo_store__sqlite_is_null(st, col);
    return lo_store__pg_value(st, col) == NULL;
}

const char *lo_store_column_text(lo_stmt *st, int col) {
    if (!on_row(st, col)) return NULL;
    if (st->s->backend == LO_STORE_SQLITE) return lo_store__sqlite_text(st, col);
    return lo_store__pg_value(st, col);
}

int64_t lo_store_column_int64(lo_stmt *st, int col) {
    if (!on_row(st, col)) return 0;
    if (st->s->backend == LO_STORE_SQLITE) return lo_store__sqlite_int64(st, col);
    const char *v = lo_store__pg_value(st, col);
    if (!v) return 0;
    if (v[0] == 't' && !v[1]) return 1; /* booleans */
    if (v[0] == 'f' && !v[1]) return 0;
    if (strpbrk(v, ".eE")) return (int64_t)strtod(v, NULL);
    return (int64_t)strtoll(v, NULL, 10);
}

double lo_store_column_double(lo_stmt *st, int col) {
    if (!on_row(st, col)) return 0;
    if (st->s->backend == LO_STORE_SQLITE) return lo_store__sqlite_double(st, col);
    const char *v = lo_store__pg_value(st, col);
    return v ? strtod(v, NULL) : 0;
}

const void *lo_store_column_blob(lo_stmt *st, int col, size_t *bytes) {
    size_t dummy;
    if (!bytes) bytes = &dummy;
    *bytes = 0;
    if (!on_row(st, col)) return NULL;
    if (st->s->backend == LO_STORE_SQLITE) return lo_store__sqlite_blob(st, col, bytes);
    return lo_store__pg_blob(st, col, bytes);
}

void lo_store_finalize(lo_stmt *st) {
    if (!st) return;
    if (st->s->backend == LO_STORE_SQLITE) {
        lo_store__sqlite_finalize(st);
    } else {
        lo_store__pg_reset(st);
        for (int i = 0; i < st->n_params; i++) lo_free(st->params[i].value);
        lo_free(st->params);
        lo_free(st->sql);
    }
    lo_free(st);
}

/* ---- migrations ------------------------------------------------------------------- */

/* Reads MAX(version) of schema_migrations (0 when empty). */
static lo_status read_version(lo_store *s, int64_t *v) {
    lo_stmt *st;
    lo_status r = lo_store_prepare(s, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &st);
    if (r != LO_OK) return r;
    bool row;
    r = lo_store_step(st, &row);
    *v = (r == LO_OK && row) ? lo_store_column_int64(st, 0) : 0;
    lo_store_finalize(st);
    return r;
}

/* Starts a migration transaction; on PostgreSQL concurrent openers queue on an advisory
 * lock (SQLite's BEGIN IMMEDIATE already takes the write lock). */
static lo_status begin_locked(lo_store *s) {
    lo_status r = lo_store_begin(s);
    if (r != LO_OK) return r;
    if (s->backend == LO_STORE_POSTGRES) {
        r = lo_store_exec(s, "SELECT pg_advisory_xact_lock(7468353000)");
        if (r != LO_OK) (void)lo_store_rollback(s);
    }
    return r;
}

static lo_status migrate(lo_store *s) {
    const int64_t known = lo_store__n_migrations;
    int64_t have = 0;
    /* Fast path without the write lock: an up-to-date (or newer) store. Fails harmlessly
     * when schema_migrations does not exist yet. */
    if (read_version(s, &have) == LO_OK && have >= known) goto check;
    lo_error_clear();
    lo_status r = begin_locked(s);
    if (r != LO_OK) return lo_error_wrap(r, "store: migrating %s", s->where);
    r = lo_store_exec(s, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)");
    if (r == LO_OK) r = lo_store_commit(s);
    if (r != LO_OK) {
        if (s->in_tx) (void)lo_store_rollback(s);
        return lo_error_wrap(r, "store: migrating %s", s->where);
    }
    if ((r = read_version(s, &have)) != LO_OK) return r;
    for (int64_t v = have + 1; v <= known; v++) {
        if ((r = begin_locked(s)) != LO_OK) return lo_error_wrap(r, "store: migration %lld", (long long)v);
        int64_t now_have;
        r = read_version(s, &now_have);
        if (r == LO_OK && now_have < v) { /* another opener may have applied it meanwhile */
            r = lo_store_exec(s, lo_store__migrations[v - 1]);
            lo_stmt *ins = NULL;
            if (r == LO_OK) r = lo_store_prepare(s, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", &ins);
            if (r == LO_OK) r = lo_store_bind_int64(ins, 1, v);
            if (r == LO_OK) r = lo_store_bind_int64(ins, 2, lo_store_now_ms());
            bool row;
            if (r == LO_OK) r = lo_store_step(ins, &row);
            lo_store_finalize(ins);
        }
        if (r == LO_OK) r = lo_store_commit(s);
        if (r != LO_OK) {
            if (s->in_tx) (void)lo_store_rollback(s);
            return lo_error_wrap(r, "store: applying migration %lld to %s", (long long)v, s->where);
        }
    }
    if ((r = read_version(s, &have)) != LO_OK) return r;
check:
    if (have > known)
        return lo_error(LO_ERR_UNSUPPORTED, "upgrade llmops, or point --store / LLMOPS_STORE at another store",
                        "store: %s has schema version %lld, newer than this llmops knows (%lld)", s->where,
                        (long long)have, (long long)known);
    s->schema_version = have;
    return LO_OK;
}
