/* server: lifecycle (models, schedulers, HTTP), the route table with API-key checks,
 * OpenAI error replies, and the small routes — /v1/models, /health, /tokenize,
 * /detokenize and the Prometheus /metrics text. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server_internal.h"

static const double lat_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const double itl_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

void srv_hist_init(srv_hist *h, const double *bounds, int n_bounds) {
    memset(h, 0, sizeof *h);
    LO_ASSERT(n_bounds <= SRV_MAX_BUCKETS);
    h->bounds = bounds;
    h->n_bounds = n_bounds;
}

void srv_hist_init_latency(srv_hist *h) { srv_hist_init(h, lat_bounds, N_OF(lat_bounds)); }

void srv_hist_observe(srv_hist *h, double v) {
    if (!(v >= 0)) v = 0; /* NaN or negative clock skew */
    int i = 0;
    while (i < h->n_bounds && v > h->bounds[i]) i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

void lo_server_params_default(lo_server_params *p) {
    memset(p, 0, sizeof *p);
    p->host = "127.0.0.1";
    p->port = 8080;
    p->n_parallel = 4;
    p->max_queue = 64;
    p->http_threads = 2;
    p->max_body_bytes = (size_t)8 << 20;
    p->embeddings = true;
    p->redact = true;
    p->log_flush_ms = 200;
    p->key_cache_s = 10;
}

/* ---- replies ---------------------------------------------------------------------------- */

void srv_count_status(lo_server *s, const char *route, int status) {
    pthread_mutex_lock(&s->http_mu);
    int i = 0;
    for (; i < s->n_http_rows; i++)
        if (s->http_rows[i].route == route && s->http_rows[i].status == status) break;
    if (i == s->n_http_rows && i < SRV_MAX_STATUS_ROWS) {
        s->http_rows[i].route = route;
        s->http_rows[i].status = status;
        s->http_rows[i].n = 0;
        s->n_http_rows++;
    }
    if (i < s->n_http_rows) s->http_rows[i].n++;
    pthread_mutex_unlock(&s->http_mu);
}

static void srv_json_h(lo_server *s, lo_http_req *r, const char *route, int status, json_t *v, const lo_http_header *extra) {
    char *text = v ? lo_json_dumps(v) : NULL;
    json_decref(v);
    if (!text) {
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        lo_http_respond(r, 500, "application/json", oom, sizeof oom - 1, NULL, 0);
        srv_count_status(s, route, 500);
        return;
    }
    lo_http_header h[2];
    int nh = 0;
    /* a 429 waits a second unless the caller says otherwise (its own Retry-After, or
     * another header for a 429 that waiting does not cure: an exhausted budget) */
    if (status == 429 && !extra) h[nh++] = (lo_http_header){"Retry-After", "1"};
    if (status == 401) h[nh++] = (lo_http_header){"WWW-Authenticate", "Bearer"};
    if (extra) h[nh++] = *extra;
    lo_http_respond(r, status, "application/json", text, strlen(text), h, nh);
    lo_free(text);
    srv_count_status(s, route, status);
}

void srv_json(lo_server *s, lo_http_req *r, const char *route, int status, json_t *v) {
    srv_json_h(s, r, route, status, v, NULL);
}

static void srv_verror(lo_server *s, lo_http_req *r, const char *route, int status, const lo_http_header *extra,
                       const char *type, const char *param, const char *code, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *e = json_object();
    json_object_set_new(e, "message", srv_json_str(msg, strlen(msg)));
    json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "param", param ? srv_json_str(param, strlen(param)) : json_null());
    json_object_set_new(e, "code", code ? json_string(code) : json_null());
    json_t *v = json_object();
    json_object_set_new(v, "error", e);
    srv_json_h(s, r, route, status, v, extra);
}

void srv_error(lo_server *s, lo_http_req *r, const char *route, int status, const char *type, const char *param,
               const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    srv_verror(s, r, route, status, NULL, type, param, code, fmt, ap);
    va_end(ap);
}

void srv_error_h(lo_server *s, lo_http_req *r, const char *route, int status, const lo_http_header *extra,
                 const char *type, const char *param, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    srv_verror(s, r, route, status, extra, type, param, code, fmt, ap);
    va_end(ap);
}

json_t *srv_json_str(const char *p, size_t n) {
    /* Fast path: already valid. */
    json_t *v = json_stringn(p, n);
    if (v) return v;
    char *out = lo_malloc(n * 3 + 1);
    if (!out) return json_string("");
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n && c != 0;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
        for (size_t k = 1; ok && k < len; k++) {
            if ((u[i + k] & 0xC0) != 0x80) ok = false;
            cp = (cp << 6) | (u[i + k] & 0x3f);
        }
        if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
                   (cp >= 0xD800 && cp <= 0xDFFF)))
            ok = false;
        if (ok) {
            memcpy(out + o, p + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += 1;
        }
    }
    v = json_stringn(out, o);
    lo_free(out);
    return v ? v : json_string("");
}

json_t *srv_parse_body(lo_server *s, lo_http_req *r, const char *route) {
    size_t len;
    const char *body = lo_http_req_body(r, &len);
    if (len == 0) {
        SRV_BAD(s, r, route, NULL, "the request body is empty: send a JSON object (Content-Type: application/json)");
        return NULL;
    }
    json_error_t err;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!v) {
        SRV_BAD(s, r, route, NULL, "malformed JSON in the request body at line %d column %d: %s", err.line,
                err.column, err.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        SRV_BAD(s, r, route, NULL, "the request body must be a JSON object");
        return NULL;
    }
    return v;
}

/* ---- small routes ------------------------------------------------------------------------- */

static json_t *model_object(const srv_model *m) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(m->name));
    json_object_set_new(o, "object", json_string("model"));
    json_object_set_new(o, "created", json_integer(m->created));
    json_object_set_new(o, "owned_by", json_string("llmops"));
    json_t *meta = json_object();
    json_object_set_new(meta, "n_ctx", json_integer(m->n_ctx));
    json_object_set_new(meta, "n_embd", json_integer(m->n_embd));
    json_object_set_new(meta, "n_vocab", json_integer(m->n_vocab));
    json_object_set_new(meta, "chat_template", json_string(lo_chat_template_name(m->tmpl)));
    json_object_set_new(o, "meta", meta);
    return o;
}

/* A deployment as an OpenAI model object, with its routes. */
static json_t *deployment_object(const lo_server *s, const srv_deployment *dep) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(dep->d.name));
    json_object_set_new(o, "object", json_string("model"));
    json_object_set_new(o, "created", json_integer(dep->d.created_at / 1000));
    json_object_set_new(o, "owned_by", json_string("llmops"));
    json_t *d = json_object();
    json_object_set_new(d, "revision", json_integer(dep->d.revision));
    json_object_set_new(d, "sticky", json_boolean(dep->d.sticky));
    json_t *arms = json_array();
    for (int a = 0; a < dep->d.n_arms; a++) {
        json_t *arm = json_object();
        json_object_set_new(arm, "model", json_string(s->models[dep->arm_model[a]].name));
        json_object_set_new(arm, "weight", json_real(dep->d.arms[a].weight));
        json_array_append_new(arms, arm);
    }
    json_object_set_new(d, "routes", arms);
    json_object_set_new(o, "deployment", d);
    return o;
}

static void route_models(lo_server *s, lo_http_req *r, const srv_auth *a) {
    (void)a;
    const char *path = lo_http_req_path(r);
    if (strncmp(path, "/v1/models/", 11) == 0) {
        const char *name = path + 11;
        for (int i = 0; i < s->n_deps; i++)
            if (strcmp(s->deps[i]->d.name, name) == 0) {
                srv_json(s, r, "/v1/models", 200, deployment_object(s, s->deps[i]));
                return;
            }
        for (int i = 0; i < s->n_models; i++)
            if (strcmp(s->models[i].name, name) == 0) {
                srv_json(s, r, "/v1/models", 200, model_object(&s->models[i]));
                return;
            }
        srv_error(s, r, "/v1/models", 404, "invalid_request_error", "model", "model_not_found",
                  "The model '%.200s' does not exist", name);
        return;
    }
    /* deployments first (what clients should name), then the model versions behind them
     * and the -m models */
    json_t *data = json_array();
    for (int i = 0; i < s->n_deps; i++) json_array_append_new(data, deployment_object(s, s->deps[i]));
    for (int i = 0; i < s->n_models; i++) json_array_append_new(data, model_object(&s->models[i]));
    json_t *v = json_object();
    json_object_set_new(v, "object", json_string("list"));
    json_object_set_new(v, "data", data);
    srv_json(s, r, "/v1/models", 200, v);
}

static void route_health(lo_server *s, lo_http_req *r, const srv_auth *a) {
    (void)a;
    json_t *models = json_array();
    pthread_rwlock_rdlock(&s->sched_lock);
    for (int i = 0; i < s->n_models; i++) {
        lo_sched_stats st = {0};
        if (!s->scheds_freed) lo_sched_stats_get(s->models[i].sched, &st);
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(s->models[i].name));
        json_object_set_new(o, "slots_total", json_integer(st.n_parallel));
        json_object_set_new(o, "slots_processing", json_integer(st.n_active));
        json_object_set_new(o, "slots_idle", json_integer(st.n_parallel - st.n_active));
        json_object_set_new(o, "queued", json_integer(st.n_queued));
        json_array_append_new(models, o);
    }
    pthread_rwlock_unlock(&s->sched_lock);
    json_t *v = json_object();
    bool down = atomic_load(&s->shutting_down);
    json_object_set_new(v, "status", json_string(down ? "shutting_down" : "ok"));
    json_object_set_new(v, "models", models);
    srv_json(s, r, "/health", down ? 503 : 200, v);
}

static void route_tokenize(lo_server *s, lo_http_req *r, const srv_auth *a) {
    (void)a;
    const char *route = "/tokenize";
    json_t *body = srv_parse_body(s, r, route);
    if (!body) return;
    srv_model *m = srv_pick_model(s, r, route, body);
    const json_t *content = json_object_get(body, "content");
    bool add_special = false, parse_special = true, with_pieces = false;
    if (!m) goto out;
    if (!json_is_string(content)) {
        SRV_BAD(s, r, route, "content", "'content' is required and must be a string");
        goto out;
    }
    if (lo_json_get_bool(body, "add_special", false, false, &add_special) != LO_OK) {
        SRV_BAD(s, r, route, "add_special", "'add_special' must be a boolean");
        goto out;
    }
    if (lo_json_get_bool(body, "parse_special", false, true, &parse_special) != LO_OK) {
        SRV_BAD(s, r, route, "parse_special", "'parse_special' must be a boolean");
        goto out;
    }
    if (lo_json_get_bool(body, "with_pieces", false, false, &with_pieces) != LO_OK) {
        SRV_BAD(s, r, route, "with_pieces", "'with_pieces' must be a boolean");
        goto out;
    }
    lo_tokens toks = {0};
    lo_status st = lo_tokenize(m->tok, json_string_value(content), json_string_length(content), add_special,
                               parse_special, &toks);
    if (st != LO_OK) {
        SRV_BAD(s, r, route, "content", "cannot tokenize 'content': %s", lo_error_message());
        lo_tokens_free(&toks);
        goto out;
    }
    json_t *arr = json_array();
    char *buf = NULL;
    size_t blen = 0, bcap = 0;
    for (int64_t i = 0; i < toks.n; i++) {
        if (!with_pieces) {
            json_array_append_new(arr, json_integer(toks.ids[i]));
            continue;
        }
        blen = 0;
        if (buf) buf[0] = '\0';
        lo_token_to_piece(m->tok, toks.ids[i], true, &buf, &blen, &bcap);
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(toks.ids[i]));
        json_object_set_new(o, "piece", srv_json_str(buf ? buf : "", blen));
        json_array_append_new(arr, o);
    }
    lo_free(buf);
    lo_tokens_free(&toks);
    json_t *v = json_object();
    json_object_set_new(v, "tokens", arr);
    srv_json(s, r, route, 200, v);
out:
    json_decref(body);
}

static void route_detokenize(lo_server *s, lo_http_req *r, const srv_auth *a) {
    (void)a;
    const char *route = "/detokenize";
    json_t *body = srv_parse_body(s, r, route);
    if (!body) return;
    srv_model *m = srv_pick_model(s, r, route, body);
    if (!m) goto out;
    const json_t *tokens = json_object_get(body, "tokens");
    if (!json_is_array(tokens)) {
        SRV_BAD(s, r, route, "tokens", "'tokens' is required and must be an array of token ids");
        goto out;
    }
    size_t n = json_array_size(tokens);
    int32_t *ids = lo_malloc((n ? n : 1) * sizeof *ids);
    if (!ids) {
        srv_error(s, r, route, 500, "server_error", NULL, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(tokens, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= m->n_vocab) {
            SRV_BAD(s, r, route, "tokens", "tokens[%zu] must be a token id in 0..%d", i, m->n_vocab - 1);
            lo_free(ids);
            goto out;
        }
        ids[i] = (int32_t)json_integer_value(t);
    }
    char *text = NULL;
    size_t tlen = 0;
    lo_status st = lo_detokenize(m->tok, ids, (int64_t)n, false, false, &text, &tlen);
    lo_free(ids);
    if (st != LO_OK) {
        SRV_BAD(s, r, route, "tokens", "cannot detokenize: %s", lo_error_message());
        goto out;
    }
    json_t *v = json_object();
    json_object_set_new(v, "content", srv_json_str(text, tlen));
    lo_free(text);
    srv_json(s, r, route, 200, v);
out:
    json_decref(body);
}

/* Appends printf output to a growing buffer. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;
static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *np = lo_realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

/* labels: the series' labels without braces, e.g. model="st" */
static void print_hist(sbuf *b, const char *name, const char *labels, const srv_hist *h) {
    uint64_t cum = 0;
    for (int i = 0; i < h->n_bounds; i++) {
        cum += h->counts[i];
        sb_printf(b, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, h->bounds[i], (unsigned long long)cum);
    }
    cum += h->counts[h->n_bounds];
    sb_printf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, (unsigned long long)cum);
    sb_printf(b, "%s_sum{%s} %.9g\n", name, labels, h->sum);
    sb_printf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
}

/* Per deployment arm (deployment and model labels), so canary arms can be compared. */
static void print_deployment_metrics(lo_server *s, sbuf *b) {
    if (s->n_deps == 0) return;
    int n_arms = 0;
    for (int i = 0; i < s->n_deps; i++) n_arms += s->deps[i]->d.n_arms;
    srv_arm_metrics *snap = lo_calloc((size_t)n_arms, sizeof *snap);
    char (*labels)[256] = lo_calloc((size_t)n_arms, sizeof *labels);
    if (!snap || !labels) {
        lo_free(snap);
        lo_free(labels);
        b->oom = true;
        return;
    }
    int k = 0;
    for (int i = 0; i < s->n_deps; i++) {
        srv_deployment *dep = s->deps[i];
        pthread_mutex_lock(&dep->mu);
        for (int a = 0; a < dep->d.n_arms; a++, k++) {
            snap[k] = dep->arms[a];
            snprintf(labels[k], sizeof labels[k], "deployment=\"%s\",model=\"%s\"", dep->d.name,
                     s->models[dep->arm_model[a]].name);
        }
        pthread_mutex_unlock(&dep->mu);
    }
    sb_printf(b, "# HELP llmops_deployment_requests_total Requests a deployment arm finished, by status.\n"
                 "# TYPE llmops_deployment_requests_total counter\n");
    for (k = 0; k < n_arms; k++) {
        sb_printf(b, "llmops_deployment_requests_total{%s,status=\"ok\"} %llu\n", labels[k], (unsigned long long)snap[k].ok);
        sb_printf(b, "llmops_deployment_requests_total{%s,status=\"error\"} %llu\n", labels[k],
                  (unsigned long long)snap[k].errors);
        sb_printf(b, "llmops_deployment_requests_total{%s,status=\"canceled\"} %llu\n", labels[k],
                  (unsigned long long)snap[k].canceled);
    }
    sb_printf(b, "# HELP llmops_deployment_prompt_tokens_total Prompt tokens per deployment arm.\n"
                 "# TYPE llmops_deployment_prompt_tokens_total counter\n");
    for (k = 0; k < n_arms; k++)
        sb_printf(b, "llmops_deployment_prompt_tokens_total{%s} %llu\n", labels[k], (unsigned long long)snap[k].prompt_tokens);
    sb_printf(b, "# HELP llmops_deployment_completion_tokens_total Generated tokens per deployment arm.\n"
                 "# TYPE llmops_deployment_completion_tokens_total counter\n");
    for (k = 0; k < n_arms; k++)
        sb_printf(b, "llmops_deployment_completion_tokens_total{%s} %llu\n", labels[k],
                  (unsigned long long)snap[k].completion_tokens);
    sb_printf(b, "# HELP llmops_deployment_cost_usd_total Cost of the arm's requests at the model's price (US dollars).\n"
                 "# TYPE llmops_deployment_cost_usd_total counter\n");
    for (k = 0; k < n_arms; k++) sb_printf(b, "llmops_deployment_cost_usd_total{%s} %.9g\n", labels[k], snap[k].cost_usd);
    sb_printf(b, "# HELP llmops_deployment_time_to_first_token_seconds Submit to first token, per arm.\n"
                 "# TYPE llmops_deployment_time_to_first_token_seconds histogram\n");
    for (k = 0; k < n_arms; k++) print_hist(b, "llmops_deployment_time_to_first_token_seconds", labels[k], &snap[k].ttft);
    sb_printf(b, "# HELP llmops_deployment_request_duration_seconds Request received to answered, per arm.\n"
                 "# TYPE llmops_deployment_request_duration_seconds histogram\n");
    for (k = 0; k < n_arms; k++) print_hist(b, "llmops_deployment_request_duration_seconds", labels[k], &snap[k].e2e);
    lo_free(snap);
    lo_free(labels);
}

static void route_metrics(lo_server *s, lo_http_req *r, const srv_auth *a) {
    (void)a;
    sbuf b = {0};
    lo_sched_stats *st = lo_calloc((size_t)s->n_models, sizeof *st);
    srv_metrics *snap = lo_calloc((size_t)s->n_models, sizeof *snap);
    if (!st || !snap) {
        lo_free(st);
        lo_free(snap);
        srv_error(s, r, "/metrics", 500, "server_error", NULL, NULL, "out of memory");
        return;
    }
    pthread_rwlock_rdlock(&s->sched_lock);
    for (int i = 0; i < s->n_models; i++)
        if (!s->scheds_freed) lo_sched_stats_get(s->models[i].sched, &st[i]);
    pthread_rwlock_unlock(&s->sched_lock);
    for (int i = 0; i < s->n_models; i++) {
        srv_metrics *m = &s->models[i].m;
        pthread_mutex_lock(&m->mu);
        snap[i] = *m;
        pthread_mutex_unlock(&m->mu);
    }
    static const char *const ep_names[SRV_EP_COUNT] = {"chat_completions", "completions", "embeddings"};
    static const char *const fin_names[4] = {"stop", "length", "abort", "error"};
    sb_printf(&b, "# HELP llmops_requests_total Generation and embedding requests received, per model and endpoint.\n"
                  "# TYPE llmops_requests_total counter\n");
    for (int i = 0; i < s->n_models; i++)
        for (int e = 0; e < SRV_EP_COUNT; e++)
            sb_printf(&b, "llmops_requests_total{model=\"%s\",endpoint=\"%s\"} %llu\n", s->models[i].name, ep_names[e],
                      (unsigned long long)snap[i].requests[e]);
    sb_printf(&b, "# HELP llmops_sequences_finished_total Generated sequences by finish reason.\n"
                  "# TYPE llmops_sequences_finished_total counter\n");
    for (int i = 0; i < s->n_models; i++)
        for (int f = 0; f < 4; f++)
            sb_printf(&b, "llmops_sequences_finished_total{model=\"%s\",reason=\"%s\"} %llu\n", s->models[i].name,
                      fin_names[f], (unsigned long long)snap[i].finish[f]);
    sb_printf(&b, "# HELP llmops_prompt_tokens_total Prompt tokens processed.\n# TYPE llmops_prompt_tokens_total counter\n");
    for (int i = 0; i < s->n_models; i++)
        sb_printf(&b, "llmops_prompt_tokens_total{model=\"%s\"} %llu\n", s->models[i].name,
                  (unsigned long long)snap[i].prompt_tokens);
    sb_printf(&b, "# HELP llmops_generation_tokens_total Tokens generated.\n# TYPE llmops_generation_tokens_total counter\n");
    for (int i = 0; i < s->n_models; i++)
        sb_printf(&b, "llmops_generation_tokens_total{model=\"%s\"} %llu\n", s->models[i].name,
                  (unsigned long long)snap[i].gen_tokens);
    sb_printf(&b, "# HELP llmops_slots_active Slots generating or prefilling now.\n# TYPE llmops_slots_active gauge\n");
    for (int i = 0; i < s->n_models; i++)
        sb_printf(&b, "llmops_slots_active{model=\"%s\"} %d\n", s->models[i].name, st[i].n_active);
    sb_printf(&b, "# HELP llmops_slots_total Slots (parallel sequences).\n# TYPE llmops_slots_total gauge\n");
    for (int i = 0; i < s->n_models; i++)
        sb_printf(&b, "llmops_slots_total{model=\"%s\"} %d\n", s->models[i].name, st[i].n_parallel);
    sb_printf(&b, "# HELP llmops_queue_depth Requests waiting for a slot.\n# TYPE llmops_queue_depth gauge\n");
    for (int i = 0; i < s->n_models; i++)
        sb_printf(&b, "llmops_queue_depth{model=\"%s\"} %d\n", s->models[i].name, st[i].n_queued);
    static const struct { const char *name, *help; size_t off; } hists[] = {
        {"llmops_time_to_first_token_seconds", "Submit to first generated token.", offsetof(srv_metrics, ttft)},
        {"llmops_inter_token_latency_seconds", "Time between consecutive tokens of a sequence.", offsetof(srv_metrics, itl)},
        {"llmops_request_duration_seconds", "Submit to the last token (end-to-end per sequence).", offsetof(srv_metrics, e2e)},
        {"llmops_queue_time_seconds", "Submit to getting a slot.", offsetof(srv_metrics, queue)},
    };
    for (int h = 0; h < N_OF(hists); h++) {
        sb_printf(&b, "# HELP %s %s\n# TYPE %s histogram\n", hists[h].name, hists[h].help, hists[h].name);
        for (int i = 0; i < s->n_models; i++) {
            char labels[300];
            snprintf(labels, sizeof labels, "model=\"%s\"", s->models[i].name);
            print_hist(&b, hists[h].name, labels, (const srv_hist *)((const char *)&snap[i] + hists[h].off));
        }
    }
    print_deployment_metrics(s, &b);
    if (s->logger) {
        lo_ops_logger_stats ls;
        lo_ops_logger_stats_get(s->logger, &ls);
        sb_printf(&b, "# HELP llmops_request_log_records_total Request-log records submitted, written and dropped (queue full).\n"
                      "# TYPE llmops_request_log_records_total counter\n"
                      "llmops_request_log_records_total{state=\"submitted\"} %lld\n"
                      "llmops_request_log_records_total{state=\"written\"} %lld\n"
                      "llmops_request_log_records_total{state=\"dropped\"} %lld\n"
                      "# HELP llmops_request_log_queued Request-log records waiting to be written.\n"
                      "# TYPE llmops_request_log_queued gauge\nllmops_request_log_queued %lld\n",
                  (long long)ls.submitted, (long long)ls.written, (long long)ls.dropped, (long long)ls.queued);
    }
    sb_printf(&b, "# HELP llmops_http_requests_total HTTP answers by route and status.\n"
                  "# TYPE llmops_http_requests_total counter\n");
    pthread_mutex_lock(&s->http_mu);
    for (int i = 0; i < s->n_http_rows; i++)
        sb_printf(&b, "llmops_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n", s->http_rows[i].route,
                  s->http_rows[i].status, (unsigned long long)s->http_rows[i].n);
    pthread_mutex_unlock(&s->http_mu);
    lo_free(st);
    lo_free(snap);
    if (b.oom) {
        lo_free(b.p);
        srv_error(s, r, "/metrics", 500, "server_error", NULL, NULL, "out of memory");
        return;
    }
    lo_http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.p ? b.p : "", b.len, NULL, 0);
    srv_count_status(s, "/metrics", 200);
    lo_free(b.p);
}

/* ---- routing ------------------------------------------------------------------------------ */

typedef struct route {
    const char *path;
    const char *method;
    bool prefix;  /* path is a prefix ("/v1/models/ID") */
    bool public_; /* no API key needed */
    bool admin;   /* an admin key needed, even when keys are otherwise not in use */
    bool store;   /* exists only with a store */
    void (*fn)(lo_server *s, lo_http_req *r, const srv_auth *a);
} route;

static const route routes[] = {
    {"/v1/chat/completions", "POST", false, false, false, false, srv_route_chat},
    {"/v1/completions", "POST", false, false, false, false, srv_route_completions},
    {"/v1/embeddings", "POST", false, false, false, false, srv_route_embeddings},
    {"/v1/models", "GET", false, false, false, false, route_models},
    {"/v1/models/", "GET", true, false, false, false, route_models},
    {"/v1/feedback", "POST", false, false, false, true, srv_route_feedback},
    {"/health", "GET", false, true, false, false, route_health},
    {"/tokenize", "POST", false, false, false, false, route_tokenize},
    {"/detokenize", "POST", false, false, false, false, route_detokenize},
    {"/metrics", "GET", false, false, false, false, route_metrics},
    {"/api/", "GET", true, false, true, true, srv_route_api},
};

/* Constant-time comparison, so the key cannot be guessed byte by byte from timings. */
static bool key_equal(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < lb; i++) d |= (unsigned char)(a[i < la ? i : 0] ^ b[i]);
    return d == 0 && la > 0;
}

/* Who is asking: the --api-key key (admin) or a store key (its role, budget and rate
 * limit). Answers 401/403/429 and returns false when the route is refused. */
static bool authenticate(lo_server *s, lo_http_req *r, const route *hit, srv_auth *a) {
    memset(a, 0, sizeof *a);
    bool keys_in_use = s->api_key || s->store_keys;
    if (hit->public_ || (!keys_in_use && !hit->admin)) return true;
    const char *auth = lo_http_req_header(r, "Authorization");
    const char *key = NULL;
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        key = auth + 7;
        while (*key == ' ') key++;
    }
    if (!key || !key[0]) {
        srv_error(s, r, hit->path, 401, "invalid_request_error", NULL, "invalid_api_key",
                  hit->admin && !keys_in_use
                      ? "This route needs an admin key: create one with `llmops keys create NAME --role admin` and send "
                        "'Authorization: Bearer KEY'"
                      : "Missing API key: send the header 'Authorization: Bearer KEY'");
        return false;
    }
    if (s->api_key && key_equal(key, s->api_key)) {
        a->keyed = a->admin = true;
    } else if (s->db && strncmp(key, "lo_", 3) == 0) {
        if (!srv_auth_store_key(s, r, hit->path, key, a)) return false;
    } else {
        srv_error(s, r, hit->path, 401, "invalid_request_error", NULL, "invalid_api_key", "Incorrect API key provided");
        return false;
    }
    if (hit->admin && !a->admin) {
        srv_error(s, r, hit->path, 403, "invalid_request_error", NULL, "permission_denied",
                  "API key %s has the inference role; this route needs an admin key", a->key_id);
        return false;
    }
    return true;
}

static void on_request(void *user, lo_http_req *r) {
    lo_server *s = user;
    const char *path = lo_http_req_path(r);
    const char *method = lo_http_req_method(r);
    if (lo_http_req_body_too_large(r)) {
        srv_error(s, r, "other", 413, "invalid_request_error", NULL, "request_too_large",
                  "the request body is larger than the server's limit of %zu bytes", s->p.max_body_bytes);
        return;
    }
    const route *hit = NULL;
    bool path_known = false;
    for (int i = 0; i < N_OF(routes); i++) {
        const route *rt = &routes[i];
        if (rt->store && !s->db) continue;
        bool match = rt->prefix ? strncmp(path, rt->path, strlen(rt->path)) == 0 && path[strlen(rt->path)] != '\0'
                                : strcmp(path, rt->path) == 0;
        if (!match) continue;
        path_known = true;
        if (strcmp(method, rt->method) == 0) {
            hit = rt;
            break;
        }
    }
    if (!hit && path_known) {
        /* Allow names the one method the path takes */
        const char *allow = "GET";
        for (int i = 0; i < N_OF(routes); i++)
            if (strcmp(path, routes[i].path) == 0) allow = routes[i].method;
        lo_http_header h = {"Allow", allow};
        srv_error_h(s, r, "other", 405, &h, "invalid_request_error", NULL, "method_not_allowed",
                    "method %.15s is not allowed on %.200s; use %s", method, path, allow);
        return;
    }
    if (!hit) {
        srv_error(s, r, "other", 404, "invalid_request_error", NULL, "not_found",
                  "unknown route: the server serves /v1/models, /v1/chat/completions, /v1/completions, "
                  "/v1/embeddings, /health, /tokenize, /detokenize and /metrics%s",
                  s->db ? ", and with its store /v1/feedback and /api/..." : "");
        return;
    }
    srv_auth a;
    if (!authenticate(s, r, hit, &a)) return;
    if (atomic_load(&s->shutting_down) && !hit->public_) {
        srv_error(s, r, hit->path, 503, "server_error", NULL, "shutting_down", "the server is shutting down");
        return;
    }
    hit->fn(s, r, &a);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

/* Two handles on the store: one for the HTTP threads (key checks, feedback, /api, under
 * db_mu) and one owned by the request logger's thread, so logging never waits for them. */
static lo_status open_store(lo_server *s, const char *url) {
    s->store_url = lo_strdup(url);
    s->p.store_url = s->store_url;
    s->keys = lo_calloc(SRV_KEY_CACHE, sizeof *s->keys);
    if (!s->store_url || !s->keys) return LO_ERR_NOMEM;
    lo_status st = lo_store_open(url, &s->db);
    if (st == LO_OK) st = lo_store_open(url, &s->log_db);
    if (st != LO_OK) return st;
    lo_ops_logger_params lp;
    lo_ops_logger_params_default(&lp);
    lp.flush_ms = s->p.log_flush_ms;
    lp.log_content = s->p.log_content;
    lp.redact = s->p.redact;
    return lo_ops_logger_start(s->log_db, &lp, &s->logger);
}

static void count_active_key(void *ctx, const lo_ops_key *k) {
    if (k->revoked_at == 0) ++*(int *)ctx;
}

lo_status lo_server_create(const lo_server_params *p, lo_server **out) {
    *out = NULL;
    lo_server *s = lo_calloc(1, sizeof *s);
    if (!s) return LO_ERR_NOMEM;
    s->p = *p;
    s->host = lo_strdup(p->host && p->host[0] ? p->host : "127.0.0.1");
    s->api_key = p->api_key && p->api_key[0] ? lo_strdup(p->api_key) : NULL;
    s->chat_template = p->chat_template ? lo_strdup(p->chat_template) : NULL;
    s->p.host = s->host;
    s->p.api_key = s->api_key;
    s->p.chat_template = s->chat_template;
    if (s->p.max_body_bytes == 0) s->p.max_body_bytes = (size_t)8 << 20;
    if (s->p.http_threads <= 0) s->p.http_threads = 2;
    pthread_rwlock_init(&s->sched_lock, NULL);
    pthread_mutex_init(&s->http_mu, NULL);
    atomic_init(&s->n_jobs, 0);
    atomic_init(&s->shutting_down, false);
    pthread_mutex_init(&s->db_mu, NULL);
    pthread_mutex_init(&s->keys_mu, NULL);
    s->p.store_url = NULL;
    if (s->p.log_flush_ms <= 0) s->p.log_flush_ms = 200;
    if (!(s->p.key_cache_s >= 0)) s->p.key_cache_s = 10;
    lo_status st = LO_OK;
    if (s->p.chat_template) {
        lo_chat_template t;
        st = lo_chat_template_by_name(s->p.chat_template, &t);
    }
    if (st == LO_OK && p->store_url && p->store_url[0]) st = open_store(s, p->store_url);
    if (st != LO_OK) {
        lo_server_free(s);
        return st;
    }
    *out = s;
    return LO_OK;
}

static void file_stem(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".gguf") == 0) n -= 5;
    if (n >= cap) n = cap - 1;
    memcpy(out, base, n);
    out[n] = '\0';
}

lo_status lo_server_add_model(lo_server *s, const char *path, const char *name) {
    return srv_add_model(s, path, name, 0, NULL, 0, NULL);
}

lo_status lo_server_add_model_lora(lo_server *s, const char *path, const char *name, const lo_lora_spec *lora,
                                   int32_t n_lora) {
    return srv_add_model(s, path, name, 0, lora, n_lora, NULL);
}

lo_status srv_add_model(lo_server *s, const char *path, const char *name, int64_t model_id, const lo_lora_spec *lora,
                        int32_t n_lora, int *index) {
    if (s->http) return lo_error(LO_ERR_INVALID, NULL, "add the models before starting the server");
    char stem[256];
    if (!name || !name[0]) {
        file_stem(path, stem, sizeof stem);
        name = stem;
    }
    for (const char *c = name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\' || *c == '/')
            return lo_error(LO_ERR_INVALID, "use letters, digits, '.', '-', '_' and ':' in model names",
                            "model name '%s' has a character that cannot appear in URLs and metrics labels", name);
    for (int i = 0; i < s->n_models; i++)
        if (strcmp(s->models[i].name, name) == 0)
            return lo_error(LO_ERR_INVALID, "name each -m FILE:NAME differently", "two models are named '%s'", name);
    for (int i = 0; i < s->n_deps; i++)
        if (strcmp(s->deps[i]->d.name, name) == 0)
            return lo_error(LO_ERR_INVALID, "name the -m model differently", "model name '%s' is a deployment's name", name);
    srv_model *grown = lo_realloc(s->models, (size_t)(s->n_models + 1) * sizeof *grown);
    if (!grown) return LO_ERR_NOMEM;
    s->models = grown;
    srv_model *m = &s->models[s->n_models];
    memset(m, 0, sizeof *m);
    lo_status st = lo_model_load(path, &m->model);
    if (st != LO_OK) return lo_error_wrap(st, "loading %s", path);
    if (n_lora > 0 && (st = lo_model_lora_load_all(m->model, lora, n_lora)) != LO_OK) {
        lo_model_free(m->model);
        return lo_error_wrap(st, "model %s", path);
    }
    m->tok = lo_model_tokenizer(m->model);
    if (s->p.chat_template) {
        st = lo_chat_template_by_name(s->p.chat_template, &m->tmpl);
    } else {
        st = lo_chat_template_detect(lo_tokenizer_chat_template(m->tok), &m->tmpl);
        if (st != LO_OK) st = lo_error_wrap(st, "model %s: chat template", path);
    }
    if (st != LO_OK) {
        lo_model_free(m->model);
        return st;
    }
    lo_sched_params sp;
    lo_sched_params_default(&sp);
    if (s->p.n_parallel > 0) sp.n_parallel = s->p.n_parallel;
    if (s->p.n_ctx > 0) sp.n_ctx = s->p.n_ctx;
    sp.n_threads = s->p.n_threads;
    if (s->p.max_queue > 0) sp.max_queue = s->p.max_queue;
    sp.embeddings = s->p.embeddings;
    st = lo_sched_create(m->model, &sp, &m->sched);
    if (st != LO_OK) {
        lo_model_free(m->model);
        return lo_error_wrap(st, "model %s", path);
    }
    lo_sched_stats stats;
    lo_sched_stats_get(m->sched, &stats);
    const lo_hparams *hp = lo_model_hparams(m->model);
    m->n_ctx = stats.n_ctx;
    m->n_embd = hp->n_embd;
    m->n_vocab = lo_tokenizer_n_vocab(m->tok);
    m->created = (int64_t)time(NULL);
    m->name = lo_strdup(name);
    m->path = lo_strdup(path);
    m->model_id = model_id;
    /* prices are per model name: a registered version "NAME@V" is priced as NAME */
    const char *at = model_id ? strchr(name, '@') : NULL;
    m->price_name = at ? lo_strndup(name, (size_t)(at - name)) : lo_strdup(name);
    if (index) *index = s->n_models;
    pthread_mutex_init(&m->m.mu, NULL);
    srv_hist_init(&m->m.ttft, lat_bounds, N_OF(lat_bounds));
    srv_hist_init(&m->m.e2e, lat_bounds, N_OF(lat_bounds));
    srv_hist_init(&m->m.queue, lat_bounds, N_OF(lat_bounds));
    srv_hist_init(&m->m.itl, itl_bounds, N_OF(itl_bounds));
    s->n_models++;
    LO_INFO("serving %s as '%s' (ctx %d per slot, chat template %s, %d LoRA adapter%s)", path, name, m->n_ctx,
            lo_chat_template_name(m->tmpl), (int)n_lora, n_lora == 1 ? "" : "s");
    return LO_OK;
}

lo_status lo_server_start(lo_server *s) {
    if (s->n_models == 0)
        return lo_error(LO_ERR_INVALID,
                        s->db ? "give -m FILE.gguf, or deploy a model with `llmops deploy NAME MODEL@V`" : "give at least one -m FILE.gguf",
                        "no models to serve");
    if (s->db) {
        /* keys are required once the store has any: a store without keys stays open
         * (like a server without --api-key) until the first `llmops keys create` and a
         * restart */
        int n_keys = 0;
        lo_status st = lo_ops_key_list(s->db, count_active_key, &n_keys);
        if (st != LO_OK) return st;
        s->store_keys = n_keys > 0;
        for (int i = 0; i < s->n_models; i++) srv_load_price(s, &s->models[i]);
        LO_INFO("store %s: %d deployment%s, API keys %s", lo_store_backend_name(s->db), s->n_deps, s->n_deps == 1 ? "" : "s",
                s->store_keys || s->api_key ? "required" : "not in use (the store has none)");
    }
    lo_http_server_params hp;
    lo_http_server_params_default(&hp);
    hp.host = s->host;
    hp.port = s->p.port;
    hp.n_threads = s->p.http_threads;
    hp.max_body_bytes = s->p.max_body_bytes;
    hp.handler = on_request;
    hp.user = s;
    return lo_http_server_start(&hp, &s->http);
}

int lo_server_port(const lo_server *s) { return s->http ? lo_http_server_port(s->http) : 0; }

void lo_server_shutdown(lo_server *s, double timeout_s) {
    if (!s) return;
    atomic_store(&s->shutting_down, true);
    if (s->http) lo_http_server_quiesce(s->http);
    double t0 = lo_time_sec();
    while (atomic_load(&s->n_jobs) > 0 && lo_time_sec() - t0 < timeout_s) usleep(10 * 1000);
    /* Abort what is left: each request gets DONE (abort) and its final answer. */
    pthread_rwlock_wrlock(&s->sched_lock);
    if (!s->scheds_freed) {
        for (int i = 0; i < s->n_models; i++) {
            lo_sched_free(s->models[i].sched);
            s->models[i].sched = NULL;
        }
        s->scheds_freed = true;
    }
    pthread_rwlock_unlock(&s->sched_lock);
    if (s->http) {
        lo_http_server_stop(s->http);
        s->http = NULL;
    }
    /* every request has finished and submitted its record: write them */
    if (s->logger) {
        lo_ops_logger_stats ls;
        lo_ops_logger_flush(s->logger);
        lo_ops_logger_stats_get(s->logger, &ls);
        LO_INFO("request log: %lld requests written, %lld dropped, %lld failed batches", (long long)ls.written,
                (long long)ls.dropped, (long long)ls.failed_batches);
        lo_ops_logger_stop(s->logger);
        s->logger = NULL;
    }
}

lo_status lo_server_flush_log(lo_server *s) { return s && s->logger ? lo_ops_logger_flush(s->logger) : LO_OK; }

void lo_server_free(lo_server *s) {
    if (!s) return;
    lo_server_shutdown(s, 0);
    if (!s->scheds_freed)
        for (int i = 0; i < s->n_models; i++) lo_sched_free(s->models[i].sched);
    for (int i = 0; i < s->n_models; i++) {
        srv_model *m = &s->models[i];
        lo_model_free(m->model);
        pthread_mutex_destroy(&m->m.mu);
        lo_free(m->name);
        lo_free(m->path);
        lo_free(m->price_name);
    }
    lo_free(s->models);
    for (int i = 0; i < s->n_deps; i++) {
        pthread_mutex_destroy(&s->deps[i]->mu);
        lo_free(s->deps[i]);
    }
    lo_free(s->deps);
    lo_ops_logger_stop(s->logger);
    lo_store_close(s->log_db);
    lo_store_close(s->db);
    lo_free(s->keys);
    lo_free(s->store_url);
    pthread_mutex_destroy(&s->db_mu);
    pthread_mutex_destroy(&s->keys_mu);
    pthread_rwlock_destroy(&s->sched_lock);
    pthread_mutex_destroy(&s->http_mu);
    lo_free(s->host);
    lo_free(s->api_key);
    lo_free(s->chat_template);
    lo_free(s);
}
