/* server: what the route files share — the server and per-model state, deployments
 * and their arms, API-key state, the request log hook, Prometheus histograms, OpenAI
 * error replies and JSON helpers. */
#ifndef LLMOPS_SERVER_INTERNAL_H
#define LLMOPS_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "llmops/infer.h"
#include "llmops/model.h"
#include "llmops/net.h"
#include "llmops/ops.h"
#include "llmops/server.h"
#include "llmops/tokenizer.h"

/* ---- metrics ---------------------------------------------------------------------- */

#define SRV_MAX_BUCKETS 16
typedef struct srv_hist {
    const double *bounds; /* upper bounds in seconds, ascending; +Inf implied */
    int n_bounds;
    uint64_t counts[SRV_MAX_BUCKETS + 1]; /* per bucket (not cumulative) */
    double sum;
    uint64_t count;
} srv_hist;
void srv_hist_init(srv_hist *h, const double *bounds, int n_bounds);
void srv_hist_observe(srv_hist *h, double v);
/* The request-latency buckets (5 ms .. 60 s). */
void srv_hist_init_latency(srv_hist *h);

typedef enum srv_endpoint { SRV_EP_CHAT, SRV_EP_COMPLETIONS, SRV_EP_EMBEDDINGS, SRV_EP_COUNT } srv_endpoint;
typedef struct srv_metrics {
    pthread_mutex_t mu;
    srv_hist ttft, itl, e2e, queue;
    uint64_t requests[SRV_EP_COUNT];
    uint64_t finish[4]; /* stop, length, abort, error */
    uint64_t prompt_tokens, gen_tokens;
} srv_metrics;

/* ---- models and the server -------------------------------------------------------- */

typedef struct srv_model {
    char *name, *path;
    int64_t model_id;        /* registered model version (0: a -m FILE model) */
    char *price_name;        /* the store's price key: the registered model's name, or `name` */
    double usd_per_m_in, usd_per_m_out; /* its price, read at start (0 without a store or price) */
    lo_model *model;
    const lo_tokenizer *tok;
    lo_sched *sched;
    lo_chat_template tmpl;
    int32_t n_ctx, n_embd, n_vocab;
    int64_t created;
    srv_metrics m;
} srv_model;

/* Per-arm figures of a deployment (the /metrics series that compare canary arms). */
typedef struct srv_arm_metrics {
    uint64_t ok, errors, canceled;
    uint64_t prompt_tokens, completion_tokens;
    double cost_usd;
    srv_hist ttft, e2e;
} srv_arm_metrics;

/* A deployment served by name: its routes as read at start, each arm's model (an index
 * into lo_server.models, which may move while models are added) and its counter. */
typedef struct srv_deployment {
    lo_ops_deployment d;
    int arm_model[LO_OPS_MAX_ROUTES];
    atomic_uint_fast64_t seq;
    pthread_mutex_t mu; /* arms' metrics */
    srv_arm_metrics arms[LO_OPS_MAX_ROUTES];
} srv_deployment;

/* What a request resolved to: the model that serves it and, when the request named a
 * deployment, the deployment and arm. */
typedef struct srv_target {
    srv_model *m;
    srv_deployment *dep; /* NULL: a model named directly */
    int arm;
} srv_target;

/* Who sent a request (set by the route table before the handler). */
typedef struct srv_auth {
    bool keyed;       /* a key was presented and accepted */
    bool admin;       /* admin role (the --api-key key counts as admin) */
    char key_id[24];  /* the store key's public id, "" for --api-key or no key */
} srv_auth;

/* Checked store keys, by sha256 of the secret (never the secret): role, limits and the
 * spend as of the check, what this server charged since, and the rate-limit bucket. */
#define SRV_KEY_CACHE 256
typedef struct srv_key_entry {
    bool used;
    uint8_t secret_hash[32];
    lo_ops_key key;
    double checked_at;   /* lo_time_sec of the store check */
    double charged_usd;  /* cost of requests finished under the key since the check */
    double tokens;       /* rate-limit bucket: requests available now */
    double refilled_at;
} srv_key_entry;

#define SRV_MAX_STATUS_ROWS 96
struct lo_server {
    lo_server_params p;
    char *host, *api_key, *chat_template, *store_url;
    srv_model *models;
    int n_models;
    srv_deployment **deps;
    int n_deps;
    /* With a store: db serves the HTTP threads (key checks, feedback, /api) under db_mu;
     * log_db belongs to the logger's thread. */
    lo_store *db, *log_db;
    pthread_mutex_t db_mu;
    lo_ops_logger *logger;
    bool store_keys;     /* the store had active keys at start: requests need one */
    pthread_mutex_t keys_mu;
    srv_key_entry *keys; /* SRV_KEY_CACHE entries */
    lo_http_server *http;
    /* Readers: every use of a model's sched from an HTTP thread. Writer: shutdown, which
     * frees the schedulers (lo_sched_free must not race other lo_sched_* calls). */
    pthread_rwlock_t sched_lock;
    bool scheds_freed;
    atomic_int n_jobs;          /* generation requests not yet finished */
    atomic_bool shutting_down;
    /* HTTP answers by route and status */
    pthread_mutex_t http_mu;
    struct { const char *route; int status; uint64_t n; } http_rows[SRV_MAX_STATUS_ROWS];
    int n_http_rows;
};

/* Loads a GGUF as served model `name` (model_id: its registry id, 0 for -m FILE) with
 * n_lora adapters applied; *index gets its place in s->models. */
lo_status srv_add_model(lo_server *s, const char *path, const char *name, int64_t model_id, const lo_lora_spec *lora,
                        int32_t n_lora, int *index);

/* ---- replies ---------------------------------------------------------------------- */

/* OpenAI's error object {"error":{"message","type","param","code"}} with an HTTP status;
 * param/code may be NULL (JSON null). */
void srv_error(lo_server *s, lo_http_req *r, const char *route, int status, const char *type, const char *param,
               const char *code, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
/* The same with one extra header; a 429 then gets no default "Retry-After: 1". */
void srv_error_h(lo_server *s, lo_http_req *r, const char *route, int status, const lo_http_header *extra,
                 const char *type, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));
/* 400 invalid_request_error naming the field. */
#define SRV_BAD(s, r, route, param, ...) srv_error(s, r, route, 400, "invalid_request_error", param, NULL, __VA_ARGS__)
/* Serialises v (stolen) and answers with it. */
void srv_json(lo_server *s, lo_http_req *r, const char *route, int status, json_t *v);
void srv_count_status(lo_server *s, const char *route, int status);

/* A JSON string from bytes that may not be valid UTF-8 (invalid sequences become U+FFFD). */
json_t *srv_json_str(const char *p, size_t n);
/* The request body as a JSON object, or answers 400 and returns NULL. */
json_t *srv_parse_body(lo_server *s, lo_http_req *r, const char *route);
/* What body.model names (deployments.c): a deployment (its arm picked by lo_ops_route
 * from body.user and the deployment's counter), else a served model, else — absent —
 * the first model. Answers 404/400 and returns false when it names nothing. */
bool srv_pick(lo_server *s, lo_http_req *r, const char *route, const json_t *body, srv_target *t);
/* The model body.model names for routes that do not generate (/tokenize, /detokenize):
 * a deployment's primary arm, without counting a routed request. */
srv_model *srv_pick_model(lo_server *s, lo_http_req *r, const char *route, const json_t *body);
/* body.user when it is a string, else NULL. */
const char *srv_body_user(const json_t *body);
/* The server's answer for a failed ops call: 404 not found, 400 invalid, 503 store
 * unreachable, 500 otherwise, with the library's message. */
void srv_ops_error(lo_server *s, lo_http_req *r, const char *route, lo_status st);
/* Reads a served model's price (server start, with a store). */
void srv_load_price(lo_server *s, srv_model *m);

/* ---- keys (auth.c) -------------------------------------------------------------------- */

/* Checks a store key presented on a request: the cache or lo_ops_key_check, then budget
 * and rate limit. Fills a and returns true, or answers 401/429/503 and returns false. */
bool srv_auth_store_key(lo_server *s, lo_http_req *r, const char *route, const char *secret, srv_auth *a);
/* Adds a finished request's cost to its key's spend as this server knows it. */
void srv_auth_charge(lo_server *s, const char *key_id, double usd);

/* ---- request log (reqlog.c) ------------------------------------------------------------ */

/* One finished request as the server saw it. */
typedef struct srv_logged {
    const char *external_id;    /* NULL: the log generates one */
    const srv_target *t;
    const srv_auth *a;
    const char *user;
    const char *status;         /* "ok" | "error" | "canceled" */
    int64_t prompt_tokens, completion_tokens;
    double queue_ms, ttft_ms, latency_ms; /* < 0 unknown */
    const char *messages_json, *completion; /* content, used with --log-content */
} srv_logged;
/* Submits the record to the request log (never waits on the store), charges the key and
 * counts the deployment arm's metrics (without a store only the metrics). Called before
 * the answer completes, so the key's next request and feedback on the id see it. */
void srv_log_request(lo_server *s, const srv_logged *l);
/* The cost the store will compute for it (the model's price at start). */
double srv_request_cost(const srv_model *m, int64_t prompt_tokens, int64_t completion_tokens);

/* ---- routes (openai.c, feedback.c, api.c) ------------------------------------------------- */

void srv_route_chat(lo_server *s, lo_http_req *r, const srv_auth *a);
void srv_route_completions(lo_server *s, lo_http_req *r, const srv_auth *a);
void srv_route_embeddings(lo_server *s, lo_http_req *r, const srv_auth *a);
void srv_route_feedback(lo_server *s, lo_http_req *r, const srv_auth *a);
/* GET /api/...: read-only JSON over the store for admin keys. */
void srv_route_api(lo_server *s, lo_http_req *r, const srv_auth *a);

#endif
