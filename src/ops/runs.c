/* Runs: a training, fine-tuning or evaluation job with its kind, status, parameters,
 * input dataset and base model versions, metric time series and artifacts. */
#include <math.h>

#include "ops/ops_internal.h"

static const char r_cols[] = "id, kind, status, params, dataset_id, base_model_id, started_at, ended_at";

static void r_read(lo_stmt *st, lo_ops_run *r) {
    r->id = lo_store_column_int64(st, 0);
    ops_copy(r->kind, sizeof r->kind, lo_store_column_text(st, 1));
    ops_copy(r->status, sizeof r->status, lo_store_column_text(st, 2));
    ops_copy(r->params, sizeof r->params, lo_store_column_text(st, 3));
    r->dataset_id = lo_store_column_int64(st, 4);
    r->base_model_id = lo_store_column_int64(st, 5);
    r->started_at = lo_store_column_int64(st, 6);
    r->ended_at = lo_store_column_int64(st, 7);
}

static const char *const statuses[] = {"running", "succeeded", "failed", "canceled"};

static lo_status check_kind(const char *kind) {
    const char *hint = "use a word of a-z, 0-9, '_' or '-' such as train, finetune or eval";
    if (!kind || !kind[0]) return lo_error(LO_ERR_INVALID, hint, "run kind is empty");
    size_t n = strlen(kind);
    if (n >= sizeof ((lo_ops_run *)0)->kind) return lo_error(LO_ERR_INVALID, hint, "run kind '%s' is too long", kind);
    for (size_t i = 0; i < n; i++) {
        char c = kind[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return lo_error(LO_ERR_INVALID, hint, "run kind '%s' has a bad character", kind);
    }
    return LO_OK;
}

static lo_status run_exists(lo_store *s, int64_t id) {
    bool have = false;
    int64_t x;
    lo_status r = ops_scalar_i64(s, &x, &have, "SELECT id FROM runs WHERE id = ?", "i", id);
    if (r == LO_OK && !have) r = lo_error(LO_ERR_NOT_FOUND, "`llmops runs ls` lists the runs", "no run %lld", (long long)id);
    return r;
}

lo_status lo_ops_run_create(lo_store *s, const char *kind, const char *params_json, const char *dataset_ref,
                            const char *model_ref, int64_t *id) {
    lo_status r = check_kind(kind);
    if (r) return r;
    const char *params = params_json ? params_json : "{}";
    if (strlen(params) >= sizeof ((lo_ops_run *)0)->params)
        return lo_error(LO_ERR_INVALID, NULL, "run params are longer than %zu bytes", sizeof ((lo_ops_run *)0)->params - 1);
    json_t *v = NULL;
    if ((r = lo_json_parse(params, strlen(params), &v))) return lo_error_wrap(r, "run params");
    bool obj = json_is_object(v);
    json_decref(v);
    if (!obj) return lo_error(LO_ERR_INVALID, "write a JSON object such as {\"lr\": 0.001}", "run params are not a JSON object");
    bool owned;
    if ((r = ops_begin(s, &owned))) return r;
    int64_t ds = 0, mid = 0;
    if (dataset_ref) {
        lo_ops_dataset d;
        r = lo_ops_dataset_get(s, dataset_ref, &d);
        if (r == LO_OK) ds = d.id;
    }
    if (r == LO_OK && model_ref) {
        lo_ops_model m;
        r = lo_ops_model_get(s, model_ref, &m);
        if (r == LO_OK) mid = m.id;
    }
    if (r == LO_OK)
        r = ops_insert(s, id,
                       "INSERT INTO runs (kind, status, params, dataset_id, base_model_id, started_at) VALUES (?, 'running', ?, ?, ?, ?) RETURNING id",
                       "ttzzi", kind, params, ds, mid, lo_store_now_ms());
    return ops_end(s, owned, r);
}

lo_status lo_ops_run_set_status(lo_store *s, int64_t id, const char *status) {
    int k = -1;
    for (int i = 0; i < 4; i++)
        if (status && strcmp(status, statuses[i]) == 0) k = i;
    if (k < 0)
        return lo_error(LO_ERR_INVALID, "use running, succeeded, failed or canceled", "run status '%s' is not known",
                        status ? status : "");
    bool owned;
    lo_status r = ops_begin(s, &owned);
    if (r) return r;
    r = run_exists(s, id);
    if (r == LO_OK)
        r = ops_exec(s, "UPDATE runs SET status = ?, ended_at = ? WHERE id = ?", "tzi", status, k ? lo_store_now_ms() : 0, id);
    return ops_end(s, owned, r);
}

lo_status lo_ops_run_log_metric(lo_store *s, int64_t id, int64_t step, const char *name, double value) {
    if (!name || !name[0] || strlen(name) > 128)
        return lo_error(LO_ERR_INVALID, "name the metric (at most 128 bytes), e.g. loss", "metric name is empty or too long");
    if (!isfinite(value)) return lo_error(LO_ERR_RANGE, "log finite values only", "metric %s at step %lld is not finite", name, (long long)step);
    if (step < 0) return lo_error(LO_ERR_RANGE, NULL, "metric %s: step %lld is negative", name, (long long)step);
    bool owned;
    lo_status r = ops_begin(s, &owned);
    if (r) return r;
    r = run_exists(s, id);
    if (r == LO_OK)
        r = ops_exec(s, "INSERT INTO run_metrics (run_id, step, name, value, created_at) VALUES (?, ?, ?, ?, ?)", "iitdi",
                     id, step, name, value, lo_store_now_ms());
    return ops_end(s, owned, r);
}

lo_status lo_ops_run_add_artifact(lo_store *s, int64_t id, const char *path) {
    if (!path || !path[0]) return lo_error(LO_ERR_INVALID, NULL, "artifact path is empty");
    if (strlen(path) >= LO_OPS_PATH_MAX) return lo_error(LO_ERR_INVALID, NULL, "artifact path is too long");
    char hex[65];
    lo_status r = lo_sha256_file_hex(path, hex);
    if (r) return lo_error_wrap(r, "artifact");
    lo_mapped m = {0};
    if ((r = lo_mmap_file(path, &m))) return r;
    int64_t bytes = (int64_t)m.bytes;
    lo_munmap(&m);
    char *abs = realpath(path, NULL);
    bool owned;
    r = ops_begin(s, &owned);
    if (r == LO_OK) {
        r = run_exists(s, id);
        if (r == LO_OK)
            r = ops_exec(s, "INSERT INTO run_artifacts (run_id, path, sha256, bytes, created_at) VALUES (?, ?, ?, ?, ?)",
                         "ittii", id, abs ? abs : path, hex, bytes, lo_store_now_ms());
        r = ops_end(s, owned, r);
    }
    free(abs);
    return r;
}

lo_status lo_ops_run_get(lo_store *s, int64_t id, lo_ops_run *out) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM runs WHERE id = ?", r_cols);
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st, sql, "i", id);
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK && !row) r = lo_error(LO_ERR_NOT_FOUND, "`llmops runs ls` lists the runs", "no run %lld", (long long)id);
    if (r == LO_OK) r_read(st, out);
    lo_store_finalize(st);
    return r;
}

lo_status lo_ops_run_list(lo_store *s, const char *kind, lo_ops_run_fn fn, void *ctx) {
    char sql[256];
    lo_stmt *st = NULL;
    lo_status r;
    if (kind) {
        if ((r = check_kind(kind))) return r;
        snprintf(sql, sizeof sql, "SELECT %s FROM runs WHERE kind = ? ORDER BY id DESC", r_cols);
        r = ops_prepare(s, &st, sql, "t", kind);
    } else {
        snprintf(sql, sizeof sql, "SELECT %s FROM runs ORDER BY id DESC", r_cols);
        r = ops_prepare(s, &st, sql, "");
    }
    bool row = false;
    lo_ops_run run;
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) {
        r_read(st, &run);
        fn(ctx, &run);
    }
    lo_store_finalize(st);
    return r;
}

lo_status lo_ops_run_metrics(lo_store *s, int64_t id, lo_ops_metric_fn fn, void *ctx) {
    lo_status r = run_exists(s, id);
    if (r) return r;
    lo_stmt *st = NULL;
    bool row = false;
    r = ops_prepare(s, &st, "SELECT name, step, value, created_at FROM run_metrics WHERE run_id = ? ORDER BY name, step, id", "i", id);
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row)
        fn(ctx, lo_store_column_text(st, 0), lo_store_column_int64(st, 1), lo_store_column_double(st, 2), lo_store_column_int64(st, 3));
    lo_store_finalize(st);
    return r;
}

lo_status lo_ops_run_artifacts(lo_store *s, int64_t id, lo_ops_artifact_fn fn, void *ctx) {
    lo_status r = run_exists(s, id);
    if (r) return r;
    lo_stmt *st = NULL;
    bool row = false;
    r = ops_prepare(s, &st, "SELECT path, sha256, bytes FROM run_artifacts WHERE run_id = ? ORDER BY id", "i", id);
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row)
        fn(ctx, lo_store_column_text(st, 0), lo_store_column_text(st, 1), lo_store_column_int64(st, 2));
    lo_store_finalize(st);
    return r;
}

lo_status lo_ops_run_compare(lo_store *s, int64_t a, int64_t b, lo_ops_compare_fn fn, void *ctx) {
    lo_status r = run_exists(s, a);
    if (r == LO_OK) r = run_exists(s, b);
    if (r) return r;
    /* The last point (highest step, then newest) of each metric of either run; one row
     * per (name, run), names in order, run a before run b. */
    lo_stmt *st = NULL;
    bool row = false;
    r = ops_prepare(s, &st,
                    "SELECT m.name, m.run_id, m.value FROM run_metrics m WHERE m.run_id IN (?, ?) AND m.id = ("
                    " SELECT x.id FROM run_metrics x WHERE x.run_id = m.run_id AND x.name = m.name"
                    " ORDER BY x.step DESC, x.id DESC LIMIT 1) ORDER BY m.name, CASE WHEN m.run_id = ? THEN 0 ELSE 1 END",
                    "iii", a, b, a);
    char cur[129] = "";
    bool has_a = false, has_b = false, any = false;
    double va = 0, vb = 0;
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) {
        const char *name = lo_store_column_text(st, 0);
        if (any && strcmp(name, cur) != 0) {
            fn(ctx, cur, has_a, va, has_b, vb);
            has_a = has_b = false;
        }
        any = true;
        ops_copy(cur, sizeof cur, name);
        int64_t rid = lo_store_column_int64(st, 1);
        double v = lo_store_column_double(st, 2);
        if (rid == a && !has_a) has_a = true, va = v;
        if (rid == b && !has_b) has_b = true, vb = v;
    }
    if (r == LO_OK && any) fn(ctx, cur, has_a, va, has_b, vb);
    lo_store_finalize(st);
    return r;
}
