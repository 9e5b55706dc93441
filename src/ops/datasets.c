/* Datasets: a version is the sha256 of a file's bytes; the bytes are kept once per
 * sha256 in dataset_contents, so `diff` can compare any two versions later, on either
 * backend. Format detection (jsonl / csv / text) and row counting live here too. */
#include <stdlib.h>

#include "ops/ops_internal.h"

static const char ds_cols[] = "d.id, d.name, d.version, d.n_rows, d.format, d.source_path, d.bytes, d.created_at";

static void ds_read(lo_stmt *st, lo_ops_dataset *d) {
    d->id = lo_store_column_int64(st, 0);
    ops_copy(d->name, sizeof d->name, lo_store_column_text(st, 1));
    ops_copy(d->version, sizeof d->version, lo_store_column_text(st, 2));
    d->n_rows = lo_store_column_int64(st, 3);
    ops_copy(d->format, sizeof d->format, lo_store_column_text(st, 4));
    ops_copy(d->source_path, sizeof d->source_path, lo_store_column_text(st, 5));
    d->bytes = lo_store_column_int64(st, 6);
    d->created_at = lo_store_column_int64(st, 7);
}

/* ---- format detection ---------------------------------------------------------------- */

typedef struct detect_ctx {
    bool all_json;
    int64_t n;
} detect_ctx;

static void detect_json_row(void *p, const char *row, size_t len) {
    detect_ctx *c = p;
    c->n++;
    if (!c->all_json) return;
    json_error_t err;
    json_t *v = json_loadb(row, len, 0, &err);
    if (!v || !json_is_object(v)) c->all_json = false;
    json_decref(v);
}

/* Number of fields of each non-empty csv record; -1 when records differ or a quote is
 * left open. */
static int csv_uniform_fields(const char *data, size_t bytes) {
    int want = -1, fields = 1;
    bool quoted = false, nonempty = false;
    for (size_t i = 0; i <= bytes; i++) {
        char c = i < bytes ? data[i] : '\n';
        if (i < bytes && c == '"') {
            quoted = !quoted;
            nonempty = true;
        } else if (c == '\n' && (!quoted || i == bytes)) {
            if (quoted) return -1;
            if (nonempty) {
                if (want < 0) want = fields;
                else if (fields != want) return -1;
            }
            fields = 1;
            nonempty = false;
        } else if (c == ',' && !quoted) {
            fields++;
            nonempty = true;
        } else if (c != '\r') {
            nonempty = true;
        }
    }
    return want;
}

void lo_ops_dataset_detect(const char *data, size_t bytes, const char **format, int64_t *n_rows) {
    detect_ctx c = {true, 0};
    ops_rows(data, bytes, "jsonl", detect_json_row, &c);
    if (c.n > 0 && c.all_json) {
        *format = "jsonl";
        *n_rows = c.n;
        return;
    }
    const char *nl = memchr(data, '\n', bytes);
    size_t first = nl ? (size_t)(nl - data) : bytes;
    if (memchr(data, ',', first) && csv_uniform_fields(data, bytes) > 1) {
        detect_ctx k = {false, 0};
        ops_rows(data, bytes, "csv", detect_json_row, &k);
        *format = "csv";
        *n_rows = k.n;
        return;
    }
    *format = "text";
    *n_rows = c.n;
}

/* ---- add / get / list ---------------------------------------------------------------- */

lo_status lo_ops_dataset_add(lo_store *s, const char *name, const char *path, lo_ops_dataset *out, bool *existed) {
    lo_status r = lo_ops_check_name("dataset name", name);
    if (r) return r;
    if (!path || !path[0]) return lo_error(LO_ERR_INVALID, "give the dataset's file", "dataset file path is empty");
    if (strlen(path) >= LO_OPS_PATH_MAX) return lo_error(LO_ERR_INVALID, NULL, "dataset path is longer than %d bytes", LO_OPS_PATH_MAX - 1);
    lo_mapped m = {0};
    r = lo_mmap_file(path, &m);
    if (r) return lo_error_wrap(r, "dataset %s", name);
    if (m.bytes == 0) {
        lo_munmap(&m);
        return lo_error(LO_ERR_INVALID, "a dataset needs at least one row", "dataset file %s is empty", path);
    }
    if (m.bytes > LO_OPS_DATASET_MAX_BYTES) {
        lo_munmap(&m);
        return lo_error(LO_ERR_RANGE, "split it into several datasets", "dataset file %s is %zu bytes; the limit is %zu",
                        path, m.bytes, LO_OPS_DATASET_MAX_BYTES);
    }
    char hex[65];
    lo_sha256_hex(m.data, m.bytes, hex);
    const char *format;
    int64_t n_rows;
    lo_ops_dataset_detect((const char *)m.data, m.bytes, &format, &n_rows);
    char *abs = realpath(path, NULL);
    const char *src = abs ? abs : path;

    bool owned;
    r = ops_begin_serial(s, &owned);
    if (r) goto done;
    int64_t now = lo_store_now_ms(), id = 0;
    bool found = false;
    r = ops_scalar_i64(s, &id, &found, "SELECT id FROM datasets WHERE name = ? AND version = ?", "tt", name, hex);
    if (r == LO_OK && !found) {
        bool have = false;
        int64_t cid;
        r = ops_scalar_i64(s, &cid, &have, "SELECT id FROM dataset_contents WHERE sha256 = ?", "t", hex);
        if (r == LO_OK && !have) {
            lo_stmt *st = NULL;
            r = ops_prepare(s, &st, "INSERT INTO dataset_contents (sha256, bytes, content, created_at) VALUES (?, ?, ?, ?)",
                            "ti", hex, (int64_t)m.bytes);
            if (r == LO_OK) r = lo_store_bind_blob(st, 3, m.data, m.bytes);
            if (r == LO_OK) r = lo_store_bind_int64(st, 4, now);
            bool row = true;
            while (r == LO_OK && row) r = lo_store_step(st, &row);
            lo_store_finalize(st);
        }
        if (r == LO_OK)
            r = ops_insert(s, &id,
                           "INSERT INTO datasets (name, version, n_rows, format, source_path, bytes, created_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                           "ttittii", name, hex, n_rows, format, src, (int64_t)m.bytes, now);
    }
    r = ops_end(s, owned, r);
    if (r == LO_OK) {
        if (existed) *existed = found;
        if (out) {
            char ref[LO_OPS_NAME_MAX + 70];
            snprintf(ref, sizeof ref, "%s@%s", name, hex);
            r = lo_ops_dataset_get(s, ref, out);
        }
    }
done:
    free(abs);
    lo_munmap(&m);
    return r;
}

static bool is_hex(const char *v) {
    for (; *v; v++)
        if (!((*v >= '0' && *v <= '9') || (*v >= 'a' && *v <= 'f'))) return false;
    return true;
}

lo_status lo_ops_dataset_get(lo_store *s, const char *ref, lo_ops_dataset *out) {
    char name[LO_OPS_NAME_MAX + 1];
    const char *ver;
    lo_status r = ops_split_ref("dataset", ref, name, &ver);
    if (r) return r;
    char sql[512], pat[70];
    lo_stmt *st = NULL;
    if (ver) {
        size_t n = strlen(ver);
        if (n < 4 || n > 64 || !is_hex(ver))
            return lo_error(LO_ERR_INVALID, "a version is the sha256 in lowercase hex, or a prefix of at least 4 digits",
                            "dataset version '%s' is not a sha256 (prefix)", ver);
        snprintf(pat, sizeof pat, "%s%%", ver);
        snprintf(sql, sizeof sql, "SELECT %s FROM datasets d WHERE d.name = ? AND d.version LIKE ? ORDER BY d.id LIMIT 2", ds_cols);
        r = ops_prepare(s, &st, sql, "tt", name, pat);
    } else {
        snprintf(sql, sizeof sql, "SELECT %s FROM datasets d WHERE d.name = ? ORDER BY d.id DESC LIMIT 1", ds_cols);
        r = ops_prepare(s, &st, sql, "t", name);
    }
    bool row = false;
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK && !row)
        r = lo_error(LO_ERR_NOT_FOUND, "`llmops datasets ls` lists the datasets and their versions", "no dataset %s", ref);
    if (r == LO_OK) {
        ds_read(st, out);
        if (ver && lo_store_step(st, &row) == LO_OK && row)
            r = lo_error(LO_ERR_INVALID, "give more digits of the version", "dataset version prefix '%s' of %s is ambiguous", ver, name);
    }
    lo_store_finalize(st);
    return r;
}

lo_status lo_ops_dataset_get_id(lo_store *s, int64_t id, lo_ops_dataset *out) {
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM datasets d WHERE d.id = ?", ds_cols);
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st, sql, "i", id);
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK && !row) r = lo_error(LO_ERR_NOT_FOUND, NULL, "no dataset with id %lld", (long long)id);
    if (r == LO_OK) ds_read(st, out);
    lo_store_finalize(st);
    return r;
}

lo_status lo_ops_dataset_list(lo_store *s, const char *name, lo_ops_dataset_fn fn, void *ctx) {
    char sql[512];
    lo_stmt *st = NULL;
    lo_status r;
    if (name) {
        if ((r = lo_ops_check_name("dataset name", name))) return r;
        snprintf(sql, sizeof sql, "SELECT %s FROM datasets d WHERE d.name = ? ORDER BY d.id DESC", ds_cols);
        r = ops_prepare(s, &st, sql, "t", name);
    } else {
        snprintf(sql, sizeof sql, "SELECT %s FROM datasets d ORDER BY d.name, d.id DESC", ds_cols);
        r = ops_prepare(s, &st, sql, "");
    }
    bool row = false;
    lo_ops_dataset d;
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) {
        ds_read(st, &d);
        fn(ctx, &d);
    }
    lo_store_finalize(st);
    return r;
}

/* ---- diff ---------------------------------------------------------------------------- */

static lo_status load_content(lo_store *s, const char *sha, char **data, size_t *bytes) {
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st, "SELECT content FROM dataset_contents WHERE sha256 = ?", "t", sha);
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK && !row)
        r = lo_error(LO_ERR_NOT_FOUND, "add the file again with `llmops datasets add`", "content of dataset version %s is missing", sha);
    if (r == LO_OK) {
        size_t n = 0;
        const void *p = lo_store_column_blob(st, 0, &n);
        *data = lo_malloc(n + 1);
        if (!*data) r = LO_ERR_NOMEM;
        else {
            if (n) memcpy(*data, p, n);
            (*data)[n] = 0;
            *bytes = n;
        }
    }
    lo_store_finalize(st);
    return r;
}

typedef struct diff_ctx {
    lo_strmap *counts;
    lo_status r;
    int64_t n;
    char sign;
    lo_ops_diff_fn fn;
    void *ctx;
} diff_ctx;

static void count_row(void *p, const char *row, size_t len) {
    diff_ctx *c = p;
    int64_t k = 0;
    lo_strmap_get(c->counts, row, len, &k);
    if (c->r == LO_OK) c->r = lo_strmap_put(c->counts, row, len, k + 1);
}

/* Consumes a row from the counts; a row with none left is different. */
static void take_row(void *p, const char *row, size_t len) {
    diff_ctx *c = p;
    int64_t k = 0;
    if (lo_strmap_get(c->counts, row, len, &k) && k > 0) {
        if (c->r == LO_OK) c->r = lo_strmap_put(c->counts, row, len, k - 1);
        return;
    }
    c->n++;
    if (c->fn) c->fn(c->ctx, c->sign, row, len);
}

lo_status lo_ops_dataset_diff(lo_store *s, const char *name, const char *v1, const char *v2, lo_ops_diff_fn fn,
                              void *ctx, int64_t *n_added, int64_t *n_removed) {
    char ref[2][LO_OPS_NAME_MAX + 70];
    const char *v[2] = {v1, v2};
    lo_ops_dataset d[2];
    for (int i = 0; i < 2; i++) {
        if (!v[i] || !v[i][0]) return lo_error(LO_ERR_INVALID, "give two versions (`llmops datasets ls NAME`)", "dataset version %d is empty", i + 1);
        snprintf(ref[i], sizeof ref[i], "%s@%s", name ? name : "", v[i]);
        lo_status r = lo_ops_dataset_get(s, ref[i], &d[i]);
        if (r) return r;
    }
    char *data[2] = {NULL, NULL};
    size_t bytes[2] = {0, 0};
    lo_status r = LO_OK;
    for (int i = 0; i < 2 && r == LO_OK; i++) r = load_content(s, d[i].version, &data[i], &bytes[i]);
    /* added: rows of v2 left after taking v1's; removed: rows of v1 left after v2's. */
    diff_ctx c[2] = {{NULL, LO_OK, 0, '+', fn, ctx}, {NULL, LO_OK, 0, '-', fn, ctx}};
    for (int pass = 0; pass < 2 && r == LO_OK; pass++) {
        int base = pass == 0 ? 0 : 1, other = 1 - base;
        r = lo_strmap_create(1024, &c[pass].counts);
        if (r) break;
        ops_rows(data[base], bytes[base], d[base].format, count_row, &c[pass]);
        if (c[pass].r == LO_OK) ops_rows(data[other], bytes[other], d[other].format, take_row, &c[pass]);
        r = c[pass].r;
    }
    if (r == LO_OK) {
        if (n_added) *n_added = c[0].n;
        if (n_removed) *n_removed = c[1].n;
    }
    lo_strmap_free(c[0].counts);
    lo_strmap_free(c[1].counts);
    lo_free(data[0]);
    lo_free(data[1]);
    return r;
}
