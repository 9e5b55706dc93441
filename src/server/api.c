/* server: GET /api/... — read-only JSON over the store for admin keys (the console's
 * data): datasets, runs (one with its metrics and artifacts), models, deployments and a
 * deployment's per-arm stats, the newest logged requests, costs, and keys (never their
 * secrets). Lists answer {"object":"list","data":[...]}. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

/* A JSON value from stored JSON text; the text itself when it does not parse, null for "". */
static json_t *stored_json(const char *text) {
    if (!text || !text[0]) return json_null();
    json_t *v = json_loads(text, 0, NULL);
    return v ? v : srv_json_str(text, strlen(text));
}

static json_t *ms_or_null(int64_t ms) {
    return ms > 0 ? json_integer(ms) : json_null();
}
static json_t *id_or_null(int64_t id) {
    return id > 0 ? json_integer(id) : json_null();
}
static json_t *num_or_null(double v) {
    return v >= 0 ? json_real(v) : json_null();
}
static json_t *str(const char *s) {
    return s ? srv_json_str(s, strlen(s)) : json_null();
}

/* ?name=INTEGER within [lo, hi]; absent leaves *out. Answers 400 and returns false when bad. */
static bool query_int(lo_server *s, lo_http_req *r, const char *route, const char *name, int64_t lo, int64_t hi,
                      int64_t *out) {
    const char *v = lo_http_req_query(r, name);
    if (!v) return true;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!v[0] || *end || errno || x < lo || x > hi) {
        SRV_BAD(s, r, route, name, "'%s' must be an integer from %lld to %lld", name, (long long)lo, (long long)hi);
        return false;
    }
    *out = x;
    return true;
}

/* ?since=TIME (YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z] or Unix ms); 0 when absent. */
static bool query_since(lo_server *s, lo_http_req *r, const char *route, int64_t *since) {
    const char *v = lo_http_req_query(r, "since");
    *since = 0;
    if (!v) return true;
    if (lo_ops_parse_time(v, since) != LO_OK) {
        SRV_BAD(s, r, route, "since",
                "'since' must be YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z] (UTC) or Unix milliseconds");
        return false;
    }
    return true;
}

/* ---- list callbacks: each appends one object to the array in ctx ---------------------- */

static void add_dataset(void *ctx, const lo_ops_dataset *d) {
    json_array_append_new(ctx, json_pack("{s:I, s:o, s:o, s:o, s:I, s:I, s:o, s:I}", "id", (json_int_t)d->id, "name",
                                         str(d->name), "version", str(d->version), "format", str(d->format), "n_rows",
                                         (json_int_t)d->n_rows, "bytes", (json_int_t)d->bytes, "source_path",
                                         str(d->source_path), "created_at", (json_int_t)d->created_at));
}

static json_t *run_object(const lo_ops_run *x) {
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:o}", "id", (json_int_t)x->id, "kind", str(x->kind),
                     "status", str(x->status), "params", stored_json(x->params), "dataset_id",
                     id_or_null(x->dataset_id), "base_model_id", id_or_null(x->base_model_id), "started_at",
                     (json_int_t)x->started_at, "ended_at", ms_or_null(x->ended_at));
}
static void add_run(void *ctx, const lo_ops_run *x) {
    json_array_append_new(ctx, run_object(x));
}

static void add_metric(void *ctx, const char *name, int64_t step, double value, int64_t at_ms) {
    json_array_append_new(ctx, json_pack("{s:o, s:I, s:f, s:I}", "name", str(name), "step", (json_int_t)step, "value",
                                         value, "at", (json_int_t)at_ms));
}

static void add_artifact(void *ctx, const char *path, const char *sha256, int64_t bytes) {
    json_array_append_new(
        ctx, json_pack("{s:o, s:o, s:I}", "path", str(path), "sha256", str(sha256), "bytes", (json_int_t)bytes));
}

static void add_model(void *ctx, const lo_ops_model *m) {
    json_t *o = json_object();
    char ref[LO_OPS_NAME_MAX + 26];
    snprintf(ref, sizeof ref, "%s@%s", m->name, m->version);
    json_object_set_new(o, "id", json_integer(m->id));
    json_object_set_new(o, "ref", str(ref));
    json_object_set_new(o, "name", str(m->name));
    json_object_set_new(o, "version", str(m->version));
    json_object_set_new(o, "gguf_path", str(m->gguf_path));
    json_object_set_new(o, "sha256", str(m->sha256));
    json_object_set_new(o, "base_model_id", m->base_model_id ? json_integer(m->base_model_id) : json_null());
    json_object_set_new(o, "run_id", m->run_id ? json_integer(m->run_id) : json_null());
    json_object_set_new(o, "metadata", stored_json(m->metadata));
    json_object_set_new(o, "eval", stored_json(m->eval_summary));
    json_t *aliases = json_array();
    for (const char *p = m->aliases; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n) json_array_append_new(aliases, srv_json_str(p, n));
        p += n + (comma ? 1 : 0);
    }
    json_object_set_new(o, "aliases", aliases);
    json_object_set_new(o, "created_at", json_integer(m->created_at));
    json_array_append_new(ctx, o);
}

typedef struct dep_ctx {
    lo_server *s;
    json_t *arr;
} dep_ctx;

static void add_deployment(void *ctx, const lo_ops_deployment *d) {
    dep_ctx *c = ctx;
    bool served = false;
    for (int i = 0; i < c->s->n_deps; i++)
        if (strcmp(c->s->deps[i]->d.name, d->name) == 0) served = true;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(d->id));
    json_object_set_new(o, "name", str(d->name));
    json_object_set_new(o, "revision", json_integer(d->revision));
    json_object_set_new(o, "sticky", json_boolean(d->sticky));
    json_object_set_new(o, "served", json_boolean(served));
    json_t *routes = json_array();
    for (int a = 0; a < d->n_arms; a++) {
        json_t *arm = json_object();
        json_object_set_new(arm, "model_id", json_integer(d->arms[a].model_id));
        json_object_set_new(arm, "model", str(d->arms[a].model_ref));
        json_object_set_new(arm, "weight", json_real(d->arms[a].weight));
        json_array_append_new(routes, arm);
    }
    json_object_set_new(o, "routes", routes);
    json_object_set_new(o, "created_at", json_integer(d->created_at));
    json_array_append_new(c->arr, o);
}

static void add_arm_stats(void *ctx, const lo_ops_arm_stats *x) {
    json_array_append_new(
        ctx, json_pack("{s:I, s:o, s:f, s:I, s:I, s:I, s:I, s:f, s:o, s:o, s:o, s:o, s:o}", "model_id",
                       (json_int_t)x->model_id, "model", str(x->model_ref), "weight", x->weight, "requests",
                       (json_int_t)x->requests, "errors", (json_int_t)x->errors, "prompt_tokens",
                       (json_int_t)x->prompt_tokens, "completion_tokens", (json_int_t)x->completion_tokens, "cost_usd",
                       x->cost_usd, "ttft_p50_ms", num_or_null(x->ttft_p50_ms), "ttft_p99_ms",
                       num_or_null(x->ttft_p99_ms), "latency_p50_ms", num_or_null(x->latency_p50_ms), "latency_p99_ms",
                       num_or_null(x->latency_p99_ms), "tokens_per_s", num_or_null(x->tokens_per_s)));
}

static void add_cost(void *ctx, const lo_ops_cost_row *x) {
    json_array_append_new(ctx,
                          json_pack("{s:o, s:I, s:I, s:I, s:f}", "group", str(x->group), "requests",
                                    (json_int_t)x->n_requests, "prompt_tokens", (json_int_t)x->prompt_tokens,
                                    "completion_tokens", (json_int_t)x->completion_tokens, "cost_usd", x->cost_usd));
}

static void add_key(void *ctx, const lo_ops_key *k) {
    json_array_append_new(ctx, json_pack("{s:o, s:o, s:s, s:o, s:o, s:f, s:I, s:o}", "id", str(k->key_id), "name",
                                         str(k->name), "role", lo_ops_role_name(k->role), "budget_usd",
                                         k->budget_usd > 0 ? json_real(k->budget_usd) : json_null(), "rate_limit_rpm",
                                         id_or_null(k->rate_limit_rpm), "spent_usd", k->spent_usd, "created_at",
                                         (json_int_t)k->created_at, "revoked_at", ms_or_null(k->revoked_at)));
}

/* ---- the newest logged requests (a read ops has no list for) ---------------------------- */

static lo_status list_requests(lo_store *db, int64_t limit, json_t *arr) {
    lo_stmt *st = NULL;
    lo_status rc =
        lo_store_prepare(db,
                         "SELECT r.external_id, r.created_at, d.name, m.name, m.version, r.model_name, "
                         "r.prompt_tokens, r.completion_tokens, r.cost_usd, r.queue_ms, r.ttft_ms, r.latency_ms, "
                         "r.status, r.client_key, r.user_id FROM requests r "
                         "LEFT JOIN deployments d ON d.id = r.deployment_id LEFT JOIN models m ON m.id = r.model_id "
                         "ORDER BY r.created_at DESC, r.id DESC LIMIT ?",
                         &st);
    if (rc == LO_OK) rc = lo_store_bind_int64(st, 1, limit);
    bool row = false;
    while (rc == LO_OK && (rc = lo_store_step(st, &row)) == LO_OK && row) {
        json_t *o = json_object();
        json_object_set_new(o, "id", str(lo_store_column_text(st, 0)));
        json_object_set_new(o, "created_at", json_integer(lo_store_column_int64(st, 1)));
        json_object_set_new(o, "deployment", str(lo_store_column_text(st, 2)));
        if (!lo_store_column_is_null(st, 3)) {
            char ref[LO_OPS_NAME_MAX + 26];
            snprintf(ref, sizeof ref, "%s@%s", lo_store_column_text(st, 3), lo_store_column_text(st, 4));
            json_object_set_new(o, "model", str(ref));
        } else {
            json_object_set_new(o, "model", str(lo_store_column_text(st, 5)));
        }
        json_object_set_new(o, "prompt_tokens", json_integer(lo_store_column_int64(st, 6)));
        json_object_set_new(o, "completion_tokens", json_integer(lo_store_column_int64(st, 7)));
        json_object_set_new(o, "cost_usd", json_real(lo_store_column_double(st, 8)));
        for (int k = 0; k < 3; k++) {
            static const char *const names[3] = {"queue_ms", "ttft_ms", "latency_ms"};
            json_object_set_new(o, names[k],
                                lo_store_column_is_null(st, 9 + k) ? json_null()
                                                                   : json_real(lo_store_column_double(st, 9 + k)));
        }
        json_object_set_new(o, "status", str(lo_store_column_text(st, 12)));
        json_object_set_new(o, "key_id", str(lo_store_column_text(st, 13)));
        json_object_set_new(o, "user", str(lo_store_column_text(st, 14)));
        json_array_append_new(arr, o);
    }
    lo_store_finalize(st);
    return rc;
}

/* ---- routes ------------------------------------------------------------------------------ */

/* What a list route reads: fills data from the store, called under the store lock with
 * the route's parsed query (arg). */
typedef lo_status (*fill_fn)(lo_server *s, lo_http_req *r, const void *arg, json_t *data);

static void api_list(lo_server *s, lo_http_req *r, const char *route, fill_fn fill, const void *arg) {
    json_t *data = json_array();
    pthread_mutex_lock(&s->db_mu); /* HTTP threads share one store handle */
    lo_status st = fill(s, r, arg, data);
    pthread_mutex_unlock(&s->db_mu);
    if (st != LO_OK) {
        json_decref(data);
        srv_ops_error(s, r, route, st);
        return;
    }
    json_t *v = json_object();
    json_object_set_new(v, "object", json_string("list"));
    json_object_set_new(v, "data", data);
    srv_json(s, r, route, 200, v);
}

static lo_status fill_datasets(lo_server *s, lo_http_req *r, const void *arg, json_t *data) {
    (void)arg;
    return lo_ops_dataset_list(s->db, lo_http_req_query(r, "name"), add_dataset, data);
}
static lo_status fill_runs(lo_server *s, lo_http_req *r, const void *arg, json_t *data) {
    (void)arg;
    return lo_ops_run_list(s->db, lo_http_req_query(r, "kind"), add_run, data);
}
static lo_status fill_models(lo_server *s, lo_http_req *r, const void *arg, json_t *data) {
    (void)arg;
    return lo_ops_model_list(s->db, lo_http_req_query(r, "name"), add_model, data);
}
static lo_status fill_deployments(lo_server *s, lo_http_req *r, const void *arg, json_t *data) {
    (void)r, (void)arg;
    dep_ctx c = {s, data};
    return lo_ops_deployment_list(s->db, add_deployment, &c);
}
static lo_status fill_keys(lo_server *s, lo_http_req *r, const void *arg, json_t *data) {
    (void)r, (void)arg;
    return lo_ops_key_list(s->db, add_key, data);
}
static lo_status fill_requests(lo_server *s, lo_http_req *r, const void *arg, json_t *data) {
    (void)r;
    return list_requests(s->db, *(const int64_t *)arg, data);
}

typedef struct cost_query {
    lo_ops_cost_by by;
    int64_t since;
} cost_query;
static lo_status fill_costs(lo_server *s, lo_http_req *r, const void *arg, json_t *data) {
    (void)r;
    const cost_query *q = arg;
    return lo_ops_costs(s->db, q->by, q->since, add_cost, data);
}

typedef struct stats_query {
    char name[LO_OPS_NAME_MAX + 1];
    int64_t since;
} stats_query;
static lo_status fill_stats(lo_server *s, lo_http_req *r, const void *arg, json_t *data) {
    (void)r;
    const stats_query *q = arg;
    return lo_ops_deployment_stats(s->db, q->name, q->since, add_arm_stats, data);
}

static void api_run(lo_server *s, lo_http_req *r, const char *route, const char *rest) {
    char *end = NULL;
    errno = 0;
    long long id = strtoll(rest, &end, 10);
    if (!rest[0] || *end || errno || id <= 0) {
        srv_error(s, r, route, 404, "invalid_request_error", NULL, "not_found", "'%.40s' is not a run id", rest);
        return;
    }
    lo_ops_run run;
    json_t *metrics = json_array(), *artifacts = json_array();
    pthread_mutex_lock(&s->db_mu);
    lo_status st = lo_ops_run_get(s->db, id, &run);
    if (st == LO_OK) st = lo_ops_run_metrics(s->db, id, add_metric, metrics);
    if (st == LO_OK) st = lo_ops_run_artifacts(s->db, id, add_artifact, artifacts);
    pthread_mutex_unlock(&s->db_mu);
    if (st != LO_OK) {
        json_decref(metrics);
        json_decref(artifacts);
        srv_ops_error(s, r, route, st);
        return;
    }
    json_t *o = run_object(&run);
    json_object_set_new(o, "metrics", metrics);
    json_object_set_new(o, "artifacts", artifacts);
    srv_json(s, r, route, 200, o);
}

/* rest: "NAME/stats" */
static void api_deployment_stats(lo_server *s, lo_http_req *r, const char *route, const char *rest) {
    const char *slash = strchr(rest, '/');
    stats_query q;
    if (!slash || strcmp(slash, "/stats") != 0 || slash == rest || (size_t)(slash - rest) > LO_OPS_NAME_MAX) {
        srv_error(s, r, route, 404, "invalid_request_error", NULL, "not_found",
                  "unknown route: use /api/deployments/NAME/stats");
        return;
    }
    memcpy(q.name, rest, (size_t)(slash - rest));
    q.name[slash - rest] = '\0';
    if (query_since(s, r, route, &q.since)) api_list(s, r, route, fill_stats, &q);
}

static void api_requests(lo_server *s, lo_http_req *r, const char *route, const char *rest) {
    (void)rest;
    int64_t limit = 50;
    if (query_int(s, r, route, "limit", 1, 1000, &limit)) api_list(s, r, route, fill_requests, &limit);
}

static void api_costs(lo_server *s, lo_http_req *r, const char *route, const char *rest) {
    (void)rest;
    const char *by = lo_http_req_query(r, "by");
    cost_query q = {LO_OPS_BY_MODEL, 0};
    if (by && strcmp(by, "deployment") == 0)
        q.by = LO_OPS_BY_DEPLOYMENT;
    else if (by && strcmp(by, "key") == 0)
        q.by = LO_OPS_BY_KEY;
    else if (by && strcmp(by, "model") != 0) {
        SRV_BAD(s, r, route, "by", "'by' must be model, deployment or key");
        return;
    }
    if (query_since(s, r, route, &q.since)) api_list(s, r, route, fill_costs, &q);
}

typedef struct api_route {
    const char *name;  /* after "/api/"; ending in '/' = a prefix, the rest passed on */
    const char *route; /* the metrics label */
    fill_fn fill;      /* a plain list, or: */
    void (*fn)(lo_server *s, lo_http_req *r, const char *route, const char *rest);
} api_route;

static const api_route api_routes[] = {
    {"datasets", "/api/datasets", fill_datasets, NULL},
    {"runs", "/api/runs", fill_runs, NULL},
    {"runs/", "/api/runs/{id}", NULL, api_run},
    {"models", "/api/models", fill_models, NULL},
    {"deployments", "/api/deployments", fill_deployments, NULL},
    {"deployments/", "/api/deployments/{name}/stats", NULL, api_deployment_stats},
    {"requests", "/api/requests", NULL, api_requests},
    {"costs", "/api/costs", NULL, api_costs},
    {"keys", "/api/keys", fill_keys, NULL},
};

void srv_route_api(lo_server *s, lo_http_req *r, const srv_auth *a) {
    (void)a; /* the route table let only admin keys through */
    const char *path = lo_http_req_path(r) + strlen("/api/");
    for (size_t i = 0; i < sizeof api_routes / sizeof api_routes[0]; i++) {
        const api_route *x = &api_routes[i];
        size_t n = strlen(x->name);
        bool prefix = x->name[n - 1] == '/';
        if (prefix ? strncmp(path, x->name, n) != 0 : strcmp(path, x->name) != 0) continue;
        if (x->fill)
            api_list(s, r, x->route, x->fill, NULL);
        else
            x->fn(s, r, x->route, prefix ? path + n : "");
        return;
    }
    srv_error(s, r, "/api/", 404, "invalid_request_error", NULL, "not_found",
              "unknown route: /api/ serves datasets, runs, runs/{id}, models, deployments, deployments/{name}/stats, "
              "requests, costs and keys");
}
