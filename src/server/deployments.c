/* server: deployments served as models — loading the model versions a store's
 * deployments route to (each once), resolving a request's `model` field to a deployment
 * arm (lo_ops_route: sticky by user or the deployment's request counter) or a served
 * model, and the mapping of ops failures to HTTP answers. */
#include <string.h>

#include "server_internal.h"

const char *srv_body_user(const json_t *body) {
    const json_t *u = body ? json_object_get(body, "user") : NULL;
    return json_is_string(u) ? json_string_value(u) : NULL;
}

static srv_deployment *find_deployment(lo_server *s, const char *name) {
    for (int i = 0; i < s->n_deps; i++)
        if (strcmp(s->deps[i]->d.name, name) == 0) return s->deps[i];
    return NULL;
}

/* routed: pick the arm by weight (counting the request); else the primary arm. */
static void route_to(lo_server *s, srv_deployment *dep, const char *user, bool routed, srv_target *t) {
    int arm = routed ? lo_ops_route(&dep->d, user, atomic_fetch_add(&dep->seq, 1)) : 0;
    if (arm < 0 || arm >= dep->d.n_arms) arm = 0;
    t->dep = dep;
    t->arm = arm;
    t->m = &s->models[dep->arm_model[arm]];
}

static bool resolve(lo_server *s, lo_http_req *r, const char *route, const json_t *body, bool routed, srv_target *t) {
    memset(t, 0, sizeof *t);
    const json_t *m = body ? json_object_get(body, "model") : NULL;
    if (!m || json_is_null(m)) {
        /* absent: the first deployment when there are any, else the first model */
        if (s->n_deps > 0)
            route_to(s, s->deps[0], srv_body_user(body), routed, t);
        else
            t->m = &s->models[0];
        return true;
    }
    if (!json_is_string(m)) {
        SRV_BAD(s, r, route, "model", "'model' must be a string");
        return false;
    }
    const char *name = json_string_value(m);
    srv_deployment *dep = find_deployment(s, name);
    if (dep) {
        route_to(s, dep, srv_body_user(body), routed, t);
        return true;
    }
    for (int i = 0; i < s->n_models; i++)
        if (strcmp(s->models[i].name, name) == 0) {
            t->m = &s->models[i];
            return true;
        }
    /* the name as-is is user input: quote a bounded, sanitised prefix */
    srv_error(s, r, route, 404, "invalid_request_error", "model", "model_not_found",
              "The model '%.200s' does not exist; GET /v1/models lists the models and deployments served", name);
    return false;
}

bool srv_pick(lo_server *s, lo_http_req *r, const char *route, const json_t *body, srv_target *t) {
    return resolve(s, r, route, body, true, t);
}

srv_model *srv_pick_model(lo_server *s, lo_http_req *r, const char *route, const json_t *body) {
    srv_target t;
    return resolve(s, r, route, body, false, &t) ? t.m : NULL;
}

void srv_ops_error(lo_server *s, lo_http_req *r, const char *route, lo_status st) {
    const char *msg = lo_error_message();
    switch (st) {
    case LO_ERR_NOT_FOUND:
        srv_error(s, r, route, 404, "invalid_request_error", NULL, "not_found", "%s", msg);
        break;
    case LO_ERR_INVALID:
    case LO_ERR_RANGE:
    case LO_ERR_FORMAT:
        srv_error(s, r, route, 400, "invalid_request_error", NULL, NULL, "%s", msg);
        break;
    case LO_ERR_IO:
    case LO_ERR_BUSY:
        srv_error(s, r, route, 503, "server_error", NULL, "store_unavailable", "the metadata store did not answer: %s",
                  msg);
        break;
    default:
        srv_error(s, r, route, 500, "server_error", NULL, NULL, "%s", msg);
        break;
    }
}

void srv_load_price(lo_server *s, srv_model *m) {
    double in = 0, out = 0;
    m->usd_per_m_in = m->usd_per_m_out = 0;
    if (s->db && lo_ops_price_get(s->db, m->price_name, &in, &out) == LO_OK) {
        m->usd_per_m_in = in;
        m->usd_per_m_out = out;
    }
}

/* ---- loading ----------------------------------------------------------------------- */

static lo_status add_one(lo_server *s, const lo_ops_deployment *d) {
    if (find_deployment(s, d->name)) return LO_OK; /* named twice, or listed after being named */
    for (int i = 0; i < s->n_models; i++)
        if (strcmp(s->models[i].name, d->name) == 0)
            return lo_error(LO_ERR_INVALID, "name the -m model differently",
                            "deployment %s has the name of a served model", d->name);
    if (d->n_arms <= 0)
        return lo_error(LO_ERR_INVALID, "point it at a model with `llmops deploy NAME MODEL@V`",
                        "deployment %s has no routes", d->name);
    srv_deployment *dep = lo_calloc(1, sizeof *dep);
    if (!dep) return LO_ERR_NOMEM;
    dep->d = *d;
    for (int a = 0; a < d->n_arms; a++) {
        const lo_ops_route_arm *arm = &d->arms[a];
        int idx = -1;
        for (int i = 0; i < s->n_models && idx < 0; i++)
            if (s->models[i].model_id == arm->model_id) idx = i;
        if (idx < 0) {
            lo_status st = srv_add_model(s, arm->gguf_path, arm->model_ref, arm->model_id, NULL, 0, &idx);
            if (st != LO_OK) {
                lo_free(dep);
                return lo_error_wrap(st, "deployment %s, arm %s", d->name, arm->model_ref);
            }
        }
        dep->arm_model[a] = idx;
        srv_hist_init_latency(&dep->arms[a].ttft);
        srv_hist_init_latency(&dep->arms[a].e2e);
    }
    srv_deployment **grown = lo_realloc(s->deps, (size_t)(s->n_deps + 1) * sizeof *grown);
    if (!grown) {
        lo_free(dep);
        return LO_ERR_NOMEM;
    }
    s->deps = grown;
    atomic_init(&dep->seq, 0);
    pthread_mutex_init(&dep->mu, NULL);
    s->deps[s->n_deps++] = dep;
    LO_INFO("serving deployment %s (revision %lld, %d arm%s%s)", d->name, (long long)d->revision, d->n_arms,
            d->n_arms == 1 ? "" : "s", d->sticky ? ", sticky" : "");
    return LO_OK;
}

typedef struct dep_list {
    lo_ops_deployment *v;
    int n, cap;
    bool oom;
} dep_list;

static void collect(void *ctx, const lo_ops_deployment *d) {
    dep_list *l = ctx;
    if (l->oom) return;
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 4;
        lo_ops_deployment *v = lo_realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) {
            l->oom = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *d;
}

lo_status lo_server_add_deployment(lo_server *s, const char *name) {
    if (s->http) return lo_error(LO_ERR_INVALID, NULL, "add the deployments before starting the server");
    if (!s->db) return lo_error(LO_ERR_INVALID, "give --store URL or set LLMOPS_STORE", "deployments need a store");
    if (name) {
        lo_ops_deployment d;
        lo_status st = lo_ops_deployment_get(s->db, name, &d);
        return st != LO_OK ? st : add_one(s, &d);
    }
    dep_list l = {0};
    lo_status st = lo_ops_deployment_list(s->db, collect, &l);
    if (st == LO_OK && l.oom) st = LO_ERR_NOMEM;
    for (int i = 0; i < l.n && st == LO_OK; i++) st = add_one(s, &l.v[i]);
    lo_free(l.v);
    return st;
}
