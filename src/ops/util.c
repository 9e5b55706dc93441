/* ops helpers: type-string binding over lo_stmt, joinable transactions, names and
 * references, dataset row splitting, kernel randomness. */
#include <errno.h>
#include <sys/random.h>

#include "ops/ops_internal.h"

lo_status ops_vprepare(lo_store *s, lo_stmt **st, const char *sql, const char *types, va_list ap) {
    lo_status r = lo_store_prepare(s, sql, st);
    if (r) return r;
    for (int i = 0; types && types[i] && r == LO_OK; i++) {
        int idx = i + 1;
        switch (types[i]) {
        case 't': r = lo_store_bind_text(*st, idx, va_arg(ap, const char *)); break;
        case 'i': r = lo_store_bind_int64(*st, idx, va_arg(ap, int64_t)); break;
        case 'z': {
            int64_t v = va_arg(ap, int64_t);
            r = v ? lo_store_bind_int64(*st, idx, v) : lo_store_bind_null(*st, idx);
            break;
        }
        case 'd': r = lo_store_bind_double(*st, idx, va_arg(ap, double)); break;
        case 'D': {
            double v = va_arg(ap, double);
            r = v >= 0 ? lo_store_bind_double(*st, idx, v) : lo_store_bind_null(*st, idx);
            break;
        }
        default: LO_ASSERT(!"bad ops bind type");
        }
    }
    if (r) {
        lo_store_finalize(*st);
        *st = NULL;
    }
    return r;
}

lo_status ops_prepare(lo_store *s, lo_stmt **st, const char *sql, const char *types, ...) {
    va_list ap;
    va_start(ap, types);
    lo_status r = ops_vprepare(s, st, sql, types, ap);
    va_end(ap);
    return r;
}

lo_status ops_exec(lo_store *s, const char *sql, const char *types, ...) {
    lo_stmt *st = NULL;
    va_list ap;
    va_start(ap, types);
    lo_status r = ops_vprepare(s, &st, sql, types, ap);
    va_end(ap);
    bool row = true;
    while (r == LO_OK && row) r = lo_store_step(st, &row);
    lo_store_finalize(st);
    return r;
}

lo_status ops_insert(lo_store *s, int64_t *id, const char *sql, const char *types, ...) {
    lo_stmt *st = NULL;
    va_list ap;
    va_start(ap, types);
    lo_status r = ops_vprepare(s, &st, sql, types, ap);
    va_end(ap);
    if (r == LO_OK) r = lo_store_last_insert_id(st, id);
    lo_store_finalize(st);
    return r;
}

static lo_status scalar(lo_store *s, int64_t *iv, double *dv, bool *found, const char *sql, const char *types,
                        va_list ap) {
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_vprepare(s, &st, sql, types, ap);
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (iv) *iv = r == LO_OK && row ? lo_store_column_int64(st, 0) : 0;
    if (dv) *dv = r == LO_OK && row ? lo_store_column_double(st, 0) : 0;
    if (found) *found = r == LO_OK && row && !lo_store_column_is_null(st, 0);
    lo_store_finalize(st);
    return r;
}

lo_status ops_scalar_i64(lo_store *s, int64_t *v, bool *found, const char *sql, const char *types, ...) {
    va_list ap;
    va_start(ap, types);
    lo_status r = scalar(s, v, NULL, found, sql, types, ap);
    va_end(ap);
    return r;
}

lo_status ops_scalar_f64(lo_store *s, double *v, bool *found, const char *sql, const char *types, ...) {
    va_list ap;
    va_start(ap, types);
    lo_status r = scalar(s, NULL, v, found, sql, types, ap);
    va_end(ap);
    return r;
}

lo_status ops_begin(lo_store *s, bool *owned) {
    *owned = !lo_store_in_transaction(s);
    return *owned ? lo_store_begin(s) : LO_OK;
}

lo_status ops_begin_serial(lo_store *s, bool *owned) {
    lo_status r = ops_begin(s, owned);
    if (r == LO_OK && strcmp(lo_store_backend_name(s), "postgres") == 0) {
        /* One fixed lock id for all ops registry writes. */
        r = ops_exec(s, "SELECT pg_advisory_xact_lock(465558253683)", "");
        if (r && *owned) {
            lo_store_rollback(s);
            *owned = false;
        }
    }
    return r;
}

lo_status ops_end(lo_store *s, bool owned, lo_status st) {
    if (!owned) return st;
    if (st == LO_OK) {
        lo_status r = lo_store_commit(s);
        if (r) lo_store_rollback(s);
        return r;
    }
    /* Keep the first failure's message: the rollback would overwrite it only on error. */
    char msg[512], hint[256];
    ops_copy(msg, sizeof msg, lo_error_message());
    ops_copy(hint, sizeof hint, lo_error_hint());
    lo_store_rollback(s);
    lo_error(st, hint[0] ? hint : NULL, "%s", msg);
    return st;
}

void ops_copy(char *dst, size_t cap, const char *src) {
    if (!cap) return;
    if (!src) src = "";
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

lo_status lo_ops_check_name(const char *what, const char *name) {
    const char *hint = "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";
    if (!name || !name[0]) return lo_error(LO_ERR_INVALID, hint, "%s is empty", what);
    size_t n = strlen(name);
    if (n > LO_OPS_NAME_MAX) return lo_error(LO_ERR_INVALID, hint, "%s '%.40s…' is longer than %d characters", what, name, LO_OPS_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (i > 0 && (c == '.' || c == '_' || c == '-'));
        if (!ok) return lo_error(LO_ERR_INVALID, hint, "%s '%s' has a bad character at position %zu", what, name, i + 1);
    }
    return LO_OK;
}

lo_status ops_split_ref(const char *what, const char *ref, char name[LO_OPS_NAME_MAX + 1], const char **rest) {
    if (!ref || !ref[0]) return lo_error(LO_ERR_INVALID, "write NAME or NAME@VERSION", "%s is empty", what);
    const char *at = strchr(ref, '@');
    size_t n = at ? (size_t)(at - ref) : strlen(ref);
    if (n > LO_OPS_NAME_MAX) return lo_error(LO_ERR_INVALID, "names are at most 64 characters", "%s '%.40s…': name too long", what, ref);
    memcpy(name, ref, n);
    name[n] = 0;
    lo_status r = lo_ops_check_name(what, name);
    if (r) return r;
    *rest = at ? at + 1 : NULL;
    if (at && !at[1]) return lo_error(LO_ERR_INVALID, "write NAME@VERSION, or NAME alone for the newest", "%s '%s' has nothing after '@'", what, ref);
    return LO_OK;
}

static void emit_row(const char *b, const char *e, ops_row_fn fn, void *ctx) {
    if (e > b && e[-1] == '\r') e--;
    if (e > b) fn(ctx, b, (size_t)(e - b));
}

void ops_rows(const char *data, size_t bytes, const char *format, ops_row_fn fn, void *ctx) {
    bool csv = format && strcmp(format, "csv") == 0;
    bool header = csv, quoted = false;
    size_t start = 0;
    for (size_t i = 0; i <= bytes; i++) {
        if (i < bytes && csv && data[i] == '"') quoted = !quoted;
        if (i < bytes && (data[i] != '\n' || quoted)) continue;
        if (header) {
            if (i > start) header = false; /* the header is the first non-empty record */
        } else {
            emit_row(data + start, data + i, fn, ctx);
        }
        start = i + 1;
    }
}

lo_status ops_random(void *buf, size_t n) {
    uint8_t *p = buf;
    while (n) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0) {
            if (errno == EINTR) continue;
            return lo_error(LO_ERR_IO, NULL, "getrandom: %s", strerror(errno));
        }
        p += k;
        n -= (size_t)k;
    }
    return LO_OK;
}
