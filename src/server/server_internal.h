/* server: what the route files share — the server and per-model state, Prometheus
 * histograms, OpenAI error replies and JSON helpers. */
#ifndef LLMOPS_SERVER_INTERNAL_H
#define LLMOPS_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "llmops/infer.h"
#include "llmops/model.h"
#include "llmops/net.h"
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
    lo_model *model;
    const lo_tokenizer *tok;
    lo_sched *sched;
    lo_chat_template tmpl;
    int32_t n_ctx, n_embd, n_vocab;
    int64_t created;
    srv_metrics m;
} srv_model;

#define SRV_MAX_STATUS_ROWS 96
struct lo_server {
    lo_server_params p;
    char *host, *api_key, *chat_template;
    srv_model *models;
    int n_models;
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

/* ---- replies ---------------------------------------------------------------------- */

/* OpenAI's error object {"error":{"message","type","param","code"}} with an HTTP status;
 * param/code may be NULL (JSON null). */
void srv_error(lo_server *s, lo_http_req *r, const char *route, int status, const char *type, const char *param,
               const char *code, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
/* 400 invalid_request_error naming the field. */
#define SRV_BAD(s, r, route, param, ...) srv_error(s, r, route, 400, "invalid_request_error", param, NULL, __VA_ARGS__)
/* Serialises v (stolen) and answers with it. */
void srv_json(lo_server *s, lo_http_req *r, const char *route, int status, json_t *v);
void srv_count_status(lo_server *s, const char *route, int status);

/* A JSON string from bytes that may not be valid UTF-8 (invalid sequences become U+FFFD). */
json_t *srv_json_str(const char *p, size_t n);
/* The request body as a JSON object, or answers 400 and returns NULL. */
json_t *srv_parse_body(lo_server *s, lo_http_req *r, const char *route);
/* The model named by body.model (the first model when absent), or answers 404/400 and
 * returns NULL. */
srv_model *srv_pick_model(lo_server *s, lo_http_req *r, const char *route, const json_t *body);

/* ---- routes (openai.c) -------------------------------------------------------------- */

void srv_route_chat(lo_server *s, lo_http_req *r);
void srv_route_completions(lo_server *s, lo_http_req *r);
void srv_route_embeddings(lo_server *s, lo_http_req *r);

#endif
