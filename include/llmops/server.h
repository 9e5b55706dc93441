/* server (L5): the OpenAI-compatible HTTP API over net and the continuous-batching
 * scheduler — /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings (JSON and
 * server-sent events), /health, /tokenize, /detokenize, Prometheus /metrics — with
 * OpenAI's error shapes, API keys and graceful shutdown. One lo_sched per model.
 * With a metadata store (ops): deployments served by name with canary routing, store API
 * keys with budgets and rate limits, every request in the request log, POST /v1/feedback
 * and the read-only admin JSON under /api/. */
#ifndef LLMOPS_SERVER_H
#define LLMOPS_SERVER_H

#include "llmops/base.h"
#include "llmops/infer.h"
#include "llmops/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lo_server lo_server;

typedef struct lo_server_params {
    const char *host;          /* default "127.0.0.1" */
    int port;                  /* default 8080; 0 = any free port */
    int32_t n_parallel;        /* slots per model (default 4) */
    int32_t n_ctx;             /* positions per slot (0 = the model's, at most 4096) */
    int32_t n_threads;         /* compute threads per model (0 = all cores) */
    int32_t max_queue;         /* waiting requests per model before 429 (default 64) */
    int http_threads;          /* HTTP polling threads (default 2) */
    const char *api_key;       /* when set, every route but /health needs "Authorization: Bearer KEY" */
    const char *chat_template; /* family name overriding what each model's GGUF says (NULL = detect) */
    size_t max_body_bytes;     /* request bodies above it → 413 (default 8 MiB) */
    bool embeddings;           /* serve /v1/embeddings (default true) */
    /* The metadata store; NULL = none, and nothing below is used (no store is touched). */
    const char *store_url;
    bool log_content;          /* keep request content (messages, completion) in the log (default off) */
    bool redact;               /* redact e-mails, phone and card numbers in logged content (default on) */
    int log_flush_ms;          /* longest a finished request waits before its log batch is written (default 200) */
    double key_cache_s;        /* a store key's check is trusted this long without the store (default 10) */
} lo_server_params;
void lo_server_params_default(lo_server_params *p);

/* Creates the server without listening yet. */
lo_status lo_server_create(const lo_server_params *p, lo_server **out);
/* Loads a GGUF and starts its scheduler; name NULL = the file stem. Before lo_server_start.
 * LO_ERR_INVALID for a duplicate name; the chat template is resolved here (an unknown
 * family fails, with a hint naming --chat-template). */
lo_status lo_server_add_model(lo_server *s, const char *path, const char *name);
/* The same with LoRA adapters applied to the model at load time (lo_model_lora_load_all);
 * a bad adapter fails the call with the adapter's message. */
lo_status lo_server_add_model_lora(lo_server *s, const char *path, const char *name, const lo_lora_spec *lora,
                                   int32_t n_lora);
/* With a store: serves deployment NAME (NULL = every deployment in the store) under its
 * name, loading each model version its arms route to once, as "MODEL@VERSION". Before
 * lo_server_start; LO_ERR_INVALID without a store, LO_ERR_NOT_FOUND for an unknown name. */
lo_status lo_server_add_deployment(lo_server *s, const char *name);
/* Starts listening. */
lo_status lo_server_start(lo_server *s);
int lo_server_port(const lo_server *s);
/* Graceful stop: closes the listening socket, waits up to timeout_s for in-flight requests
 * to finish, then aborts what is left (streams get their final chunks), stops HTTP and
 * writes what the request log still holds. */
void lo_server_shutdown(lo_server *s, double timeout_s);
/* Blocks until every request finished so far is written to the store's request log
 * (LO_OK at once without a store). */
lo_status lo_server_flush_log(lo_server *s);
/* Shuts down (timeout 0) if still running, frees the models. NULL ok. */
void lo_server_free(lo_server *s);

#ifdef __cplusplus
}
#endif
#endif
