/* ops (L4): the LLMOps records over the metadata store — datasets, runs, the model
 * registry, deployments with canary routing, the request log with redaction, prices and
 * costs, feedback and its export for training, API keys, and evaluation runs with
 * promotion gates. Every write is one transaction; every name, reference and number from
 * outside is validated. */
#ifndef LLMOPS_OPS_H
#define LLMOPS_OPS_H

#include "llmops/base.h"
#include "llmops/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Names of datasets, models, deployments, aliases, tags: 1-64 of [A-Za-z0-9._-], not
 * starting with '.' or '-'. */
#define LO_OPS_NAME_MAX 64
#define LO_OPS_PATH_MAX 4096
/* Largest dataset file accepted (its content is kept in the store so diff works later). */
#define LO_OPS_DATASET_MAX_BYTES ((size_t)256 << 20)

/* LO_OK when `name` is a valid name; else LO_ERR_INVALID naming `what` ("dataset name"). */
lo_status lo_ops_check_name(const char *what, const char *name);

/* ---- datasets ------------------------------------------------------------------------ */

typedef struct lo_ops_dataset {
    int64_t id;
    char name[LO_OPS_NAME_MAX + 1];
    char version[65];      /* sha256 hex of the content */
    int64_t n_rows;        /* non-empty lines (jsonl, text) or records after the header (csv) */
    char format[8];        /* "jsonl" | "csv" | "text" */
    char source_path[LO_OPS_PATH_MAX];
    int64_t bytes;
    int64_t created_at;    /* Unix ms */
} lo_ops_dataset;

/* Detects the format of a dataset's content: "jsonl" when every non-empty line is a JSON
 * object, "csv" when the first line has a ',' and every record the same number of
 * fields (quotes honoured), else "text". Also counts rows as above. */
void lo_ops_dataset_detect(const char *data, size_t bytes, const char **format, int64_t *n_rows);
/* Adds FILE as a version of dataset NAME (version = sha256 of the bytes; the content is
 * stored once per sha256). Adding the same content again returns the existing version
 * with *existed = true. */
lo_status lo_ops_dataset_add(lo_store *s, const char *name, const char *path, lo_ops_dataset *out, bool *existed);
/* REF is NAME (newest version) or NAME@V, V a version or a unique prefix of ≥ 4 hex. */
lo_status lo_ops_dataset_get(lo_store *s, const char *ref, lo_ops_dataset *out);
lo_status lo_ops_dataset_get_id(lo_store *s, int64_t id, lo_ops_dataset *out);
/* Every version of every dataset (name NULL) or of one name, newest first. */
typedef void (*lo_ops_dataset_fn)(void *ctx, const lo_ops_dataset *d);
lo_status lo_ops_dataset_list(lo_store *s, const char *name, lo_ops_dataset_fn fn, void *ctx);
/* Rows (lines; for csv the records after the header) in V2 and not V1 (added) and in V1
 * and not V2 (removed), as multisets: a duplicated row counts each time. fn is called
 * per differing row with its sign ('+' added, '-' removed); counts are returned. */
typedef void (*lo_ops_diff_fn)(void *ctx, char sign, const char *row, size_t len);
lo_status lo_ops_dataset_diff(lo_store *s, const char *name, const char *v1, const char *v2,
                              lo_ops_diff_fn fn, void *ctx, int64_t *n_added, int64_t *n_removed);

/* ---- models ------------------------------------------------------------------------- */

typedef struct lo_ops_model {
    int64_t id;
    char name[LO_OPS_NAME_MAX + 1];
    char version[24];      /* "1", "2", ... per name */
    char gguf_path[LO_OPS_PATH_MAX];
    char sha256[65];
    int64_t base_model_id; /* 0 = none */
    int64_t run_id;        /* 0 = none */
    char metadata[1024];   /* JSON summary of the GGUF: arch, name, n_params, tensors, bytes, ... */
    char eval_summary[1024]; /* JSON object of evaluation results, "" when none */
    char aliases[256];     /* comma-separated, "" when none */
    int64_t created_at;
} lo_ops_model;

/* Registers FILE (a GGUF; validated) as the next version of model NAME, recording its
 * sha256 and a metadata summary, the producing run (0 = none) and the base model
 * (NULL = none; a model reference). The same file bytes registered again under NAME
 * return the existing version with *existed = true. */
lo_status lo_ops_model_register(lo_store *s, const char *name, const char *path, int64_t run_id,
                                const char *base_ref, lo_ops_model *out, bool *existed);
/* REF is NAME (newest version), NAME@VERSION or NAME@ALIAS. */
lo_status lo_ops_model_get(lo_store *s, const char *ref, lo_ops_model *out);
lo_status lo_ops_model_get_id(lo_store *s, int64_t id, lo_ops_model *out);
typedef void (*lo_ops_model_fn)(void *ctx, const lo_ops_model *m);
lo_status lo_ops_model_list(lo_store *s, const char *name, lo_ops_model_fn fn, void *ctx);
/* Points ALIAS of the model's name at that version (moving it if it existed). */
lo_status lo_ops_model_alias(lo_store *s, const char *ref, const char *alias);
/* Sets (value non-NULL) or removes (value NULL) a tag of a model version. */
lo_status lo_ops_model_tag(lo_store *s, const char *ref, const char *tag, const char *value);
/* Tags of a version as "k=v" (or "k" when the value is empty), called once each. */
typedef void (*lo_ops_tag_fn)(void *ctx, const char *tag, const char *value);
lo_status lo_ops_model_tags(lo_store *s, const char *ref, lo_ops_tag_fn fn, void *ctx);
/* Records an evaluation summary (a JSON object) on a model version. */
lo_status lo_ops_model_set_eval(lo_store *s, const char *ref, const char *summary_json);

/* ---- runs --------------------------------------------------------------------------- */

typedef struct lo_ops_run {
    int64_t id;
    char kind[32];          /* train | finetune | eval | ... : [a-z0-9_-] */
    char status[16];        /* running | succeeded | failed | canceled */
    char params[2048];      /* JSON object text ("{}" when none) */
    int64_t dataset_id;     /* 0 = none */
    int64_t base_model_id;  /* 0 = none */
    int64_t started_at, ended_at; /* ended_at 0 while running */
} lo_ops_run;

/* Starts a run (status "running"). params_json NULL = "{}", else a JSON object;
 * dataset_ref / model_ref NULL = none. */
lo_status lo_ops_run_create(lo_store *s, const char *kind, const char *params_json, const char *dataset_ref,
                            const char *model_ref, int64_t *id);
/* Moves a run to a status; a terminal one (succeeded, failed, canceled) sets ended_at. */
lo_status lo_ops_run_set_status(lo_store *s, int64_t id, const char *status);
/* One point of a metric's time series; values must be finite. */
lo_status lo_ops_run_log_metric(lo_store *s, int64_t id, int64_t step, const char *name, double value);
/* Records FILE (sha256 and size computed here) as an artifact of the run. */
lo_status lo_ops_run_add_artifact(lo_store *s, int64_t id, const char *path);
lo_status lo_ops_run_get(lo_store *s, int64_t id, lo_ops_run *out);
typedef void (*lo_ops_run_fn)(void *ctx, const lo_ops_run *r);
lo_status lo_ops_run_list(lo_store *s, const char *kind, lo_ops_run_fn fn, void *ctx); /* newest first */
/* Metric points in (name, step) order. */
typedef void (*lo_ops_metric_fn)(void *ctx, const char *name, int64_t step, double value, int64_t at_ms);
lo_status lo_ops_run_metrics(lo_store *s, int64_t id, lo_ops_metric_fn fn, void *ctx);
typedef void (*lo_ops_artifact_fn)(void *ctx, const char *path, const char *sha256, int64_t bytes);
lo_status lo_ops_run_artifacts(lo_store *s, int64_t id, lo_ops_artifact_fn fn, void *ctx);
/* Per metric name: the last value (highest step) of each of two runs; a metric missing
 * from one run is reported with has_a/has_b false. Names in order. */
typedef void (*lo_ops_compare_fn)(void *ctx, const char *name, bool has_a, double a, bool has_b, double b);
lo_status lo_ops_run_compare(lo_store *s, int64_t a, int64_t b, lo_ops_compare_fn fn, void *ctx);

/* ---- deployments -------------------------------------------------------------------- */

#define LO_OPS_MAX_ROUTES 8

typedef struct lo_ops_route_arm {
    int64_t model_id;
    char model_ref[LO_OPS_NAME_MAX + 26]; /* "NAME@VERSION" */
    char gguf_path[LO_OPS_PATH_MAX];
    double weight;          /* percent; the arms of a deployment sum to 100 */
} lo_ops_route_arm;

typedef struct lo_ops_deployment {
    int64_t id;
    char name[LO_OPS_NAME_MAX + 1];
    int64_t revision;       /* current revision (1, 2, ...) */
    bool sticky;            /* requests with a user always go to the same arm */
    int n_arms;
    lo_ops_route_arm arms[LO_OPS_MAX_ROUTES]; /* arms[0] is the primary */
    int64_t created_at;
} lo_ops_deployment;

/* Points deployment NAME (created if new) at MODEL_REF, with an optional canary arm
 * taking canary_percent (0 < p < 100) of traffic; a new revision each time. */
lo_status lo_ops_deploy(lo_store *s, const char *name, const char *model_ref, const char *canary_ref,
                        double canary_percent, bool sticky, lo_ops_deployment *out);
/* The canary arm takes all traffic (a new revision); LO_ERR_INVALID without a canary. */
lo_status lo_ops_promote(lo_store *s, const char *name, lo_ops_deployment *out);
/* Marks the current revision rolled back and returns to the newest earlier revision not
 * rolled back; LO_ERR_INVALID when there is none. */
lo_status lo_ops_rollback(lo_store *s, const char *name, lo_ops_deployment *out);
lo_status lo_ops_deployment_get(lo_store *s, const char *name, lo_ops_deployment *out);
typedef void (*lo_ops_deployment_fn)(void *ctx, const lo_ops_deployment *d);
lo_status lo_ops_deployment_list(lo_store *s, lo_ops_deployment_fn fn, void *ctx);
/* The arm a request goes to. With `user` (non-empty) on a sticky deployment: a hash of
 * (deployment, user), so every request of a user lands on the same arm. Otherwise `seq`
 * (the caller's request counter) through a low-discrepancy sequence: over any n
 * consecutive seq values each arm gets its share within a few requests. Pure function
 * of its inputs; thread-safe. */
int lo_ops_route(const lo_ops_deployment *d, const char *user, uint64_t seq);

/* ---- prices, request log and costs --------------------------------------------------- */

/* $ per million tokens of a model (by model name: local or upstream). */
lo_status lo_ops_price_set(lo_store *s, const char *model_name, double usd_per_m_input, double usd_per_m_output);
lo_status lo_ops_price_get(lo_store *s, const char *model_name, double *usd_per_m_input, double *usd_per_m_output);
typedef void (*lo_ops_price_fn)(void *ctx, const char *model_name, double in, double out);
lo_status lo_ops_price_list(lo_store *s, lo_ops_price_fn fn, void *ctx);
/* Local models: the machine costs usd_per_hour and processes tokens_per_s tokens of a
 * kind; the $ per million tokens of that kind. LO_ERR_RANGE for non-positive inputs. */
lo_status lo_ops_price_derive(double usd_per_hour, double tokens_per_s, double *usd_per_m);

typedef struct lo_ops_request {
    const char *external_id;      /* the id given to the client; NULL = generated */
    int64_t created_at;           /* Unix ms; 0 = now */
    const char *deployment;       /* deployment name or NULL */
    int64_t model_id;             /* registered model version (0 = none) */
    const char *model_name;       /* price key when model_id is 0 (upstream models) */
    int64_t prompt_tokens, completion_tokens;
    double cost_usd;              /* < 0: computed from the model's price (0 when none) */
    double queue_ms, ttft_ms, latency_ms; /* < 0 = unknown (stored NULL) */
    const char *status;           /* "ok", "error", "canceled", ... */
    const char *client_key;       /* key id (never the secret) or NULL */
    const char *user;             /* the request's user field or NULL */
    /* Content, stored only when log_content is on: messages as a JSON array of
     * {"role","content"} and the completion text. */
    const char *messages_json;
    const char *completion;
} lo_ops_request;

/* Logs n requests in one transaction (all or none). With log_content, content is stored
 * as {"messages":[...],"completion":"..."}; with redact, e-mail addresses, phone numbers
 * and card numbers (Luhn-valid) inside it are replaced first. ids (may be NULL) get the
 * row ids. */
lo_status lo_ops_log_requests(lo_store *s, const lo_ops_request *reqs, int n, bool log_content, bool redact,
                              int64_t *ids);
lo_status lo_ops_log_request(lo_store *s, const lo_ops_request *r, bool log_content, bool redact, int64_t *id);

/* Asynchronous, batched request logging for request paths that must never wait on the
 * database (the server): lo_ops_logger_submit validates the record, copies it (every
 * string; the content only when log_content is on; created_at 0 is stamped now) into a
 * bounded in-memory queue and returns at once; one background thread writes what has
 * queued in batches (one transaction through lo_ops_log_requests each) when max_batch
 * records wait or flush_ms has passed since the oldest was queued.
 *
 * Failures are never retried forever: a batch whose transaction fails is counted
 * (failed_batches) and its error logged to stderr once (repeats of the same error are
 * not logged again until a batch succeeds). When it failed on its data (LO_ERR_INVALID
 * or LO_ERR_NOT_FOUND: a duplicate external id, a deployment deleted meanwhile), its
 * records are written once more one by one so that only the offending ones are lost;
 * otherwise (the store is unreachable, busy, ...) the whole batch is dropped. Records
 * lost this way are counted in `failed`.
 *
 * A crash loses at most the records not yet written: the queue (at most max_queue
 * records, in practice what arrived in the last flush_ms). When the queue is full,
 * submit drops the record and counts it (`dropped`). At every moment
 * submitted = written + failed + queued. */
typedef struct lo_ops_logger lo_ops_logger;
typedef struct lo_ops_logger_params {
    int max_batch;     /* records per transaction, 1..65536 (default 256) */
    int flush_ms;      /* longest a record waits before its batch is written, 0..3600000
                        * (default 200; 0 = write as soon as the thread is free) */
    int max_queue;     /* records held at most, 1..16777216 (default 65536) */
    bool log_content;  /* as for lo_ops_log_requests (default off) */
    bool redact;       /* (default on) */
} lo_ops_logger_params;
typedef struct lo_ops_logger_stats {
    int64_t submitted;       /* records accepted into the queue */
    int64_t written;         /* records committed to the store */
    int64_t dropped;         /* records refused because the queue was full (not in submitted) */
    int64_t failed_batches;  /* transactions that failed */
    int64_t batches;         /* transactions committed */
    int64_t queued;          /* accepted, not yet written or failed (includes the batch in flight) */
    int64_t failed;          /* records lost to failed writes */
} lo_ops_logger_stats;
void lo_ops_logger_params_default(lo_ops_logger_params *p);
/* Starts the writer thread. p NULL = defaults. The logger uses s from its own thread
 * only: give it a store handle nobody else uses, and close it after lo_ops_logger_stop. */
lo_status lo_ops_logger_start(lo_store *s, const lo_ops_logger_params *p, lo_ops_logger **out);
/* Thread-safe, never blocks on I/O (a copy and a short critical section). LO_ERR_INVALID
 * for a malformed record (the lo_ops_log_requests rules), LO_ERR_BUSY when the queue is
 * full (record dropped and counted). */
lo_status lo_ops_logger_submit(lo_ops_logger *l, const lo_ops_request *r);
/* Blocks until everything submitted before the call is written (or failed), without
 * waiting for flush_ms. LO_OK, or LO_ERR_IO when records failed while it waited (the
 * message says how many; the stats keep the totals). */
lo_status lo_ops_logger_flush(lo_ops_logger *l);
void lo_ops_logger_stats_get(lo_ops_logger *l, lo_ops_logger_stats *out);
/* Writes what is queued, stops the thread and frees; NULL is fine. Does not close the
 * store. No submit may run concurrently with or after it. */
void lo_ops_logger_stop(lo_ops_logger *l);

/* Per-arm figures of a deployment from the request log, so canary arms can be compared
 * (`llmops deployments stats NAME`): one row per model version that served requests of
 * the deployment since since_ms (0 = all time), and one per arm of the current revision
 * even before it has served any. Routed arms come first in the revision's order, then
 * the others by model id. Requests logged without a model version are grouped by their
 * model name (model_id 0). Percentiles are nearest-rank over the requests with a known
 * value. LO_ERR_NOT_FOUND for an unknown deployment. */
typedef struct lo_ops_arm_stats {
    int64_t model_id;
    char model_ref[LO_OPS_NAME_MAX + 26];
    double weight;            /* its share in the current revision (percent; 0 = not routed now) */
    int64_t requests, errors; /* errors: status other than "ok" */
    int64_t prompt_tokens, completion_tokens;
    double cost_usd;
    double ttft_p50_ms, ttft_p99_ms, latency_p50_ms, latency_p99_ms; /* < 0 = no data */
    double tokens_per_s;      /* completion tokens ÷ summed latency in seconds, both over the
                               * requests with a known latency (< 0 = no data) */
} lo_ops_arm_stats;
typedef void (*lo_ops_arm_stats_fn)(void *ctx, const lo_ops_arm_stats *a);
lo_status lo_ops_deployment_stats(lo_store *s, const char *name, int64_t since_ms, lo_ops_arm_stats_fn fn, void *ctx);

/* Replaces e-mail addresses with [EMAIL], card numbers (13-19 digits, spaces or dashes
 * between groups, Luhn-valid) with [CARD] and phone numbers (7-15 digits, optional
 * leading +, separators space - . ( )) with [PHONE]. *out is lo_malloc'd; n_redacted may
 * be NULL. */
lo_status lo_ops_redact(const char *text, char **out, int *n_redacted);
/* Luhn checksum of a string of digits. */
bool lo_ops_luhn_valid(const char *digits, size_t n);

typedef enum lo_ops_cost_by { LO_OPS_BY_MODEL, LO_OPS_BY_DEPLOYMENT, LO_OPS_BY_KEY } lo_ops_cost_by;
typedef struct lo_ops_cost_row {
    const char *group;            /* "NAME@V", deployment name, key id, or "(none)" */
    int64_t n_requests, prompt_tokens, completion_tokens;
    double cost_usd;
} lo_ops_cost_row;
typedef void (*lo_ops_cost_fn)(void *ctx, const lo_ops_cost_row *r);
/* Totals of requests logged at or after since_ms (0 = all), grouped, by cost descending. */
lo_status lo_ops_costs(lo_store *s, lo_ops_cost_by by, int64_t since_ms, lo_ops_cost_fn fn, void *ctx);
/* Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS][Z]" (UTC) or Unix milliseconds. */
lo_status lo_ops_parse_time(const char *text, int64_t *ms);

/* ---- feedback ----------------------------------------------------------------------- */

typedef struct lo_ops_feedback {
    const char *request_id;   /* the request's external id */
    const char *kind;         /* "thumbs" (score 0 = down, 1 = up) | "rating" (score 1..5) */
    double score;
    const char *label, *comment, *corrected, *author; /* each optional (NULL) */
} lo_ops_feedback;
/* Records feedback on a logged request (LO_ERR_NOT_FOUND for an unknown request). */
lo_status lo_ops_feedback_record(lo_store *s, const lo_ops_feedback *f, int64_t *id);
typedef enum lo_ops_export_format { LO_OPS_EXPORT_SFT, LO_OPS_EXPORT_PREFERENCE } lo_ops_export_format;
/* Writes training data from feedback to PATH atomically, one JSON object per line:
 *   sft: {"messages":[...prompt..., {"role":"assistant","content":ANSWER}]} for each
 *        request with logged content whose newest feedback is positive (thumbs up or
 *        rating ≥ 4; ANSWER = the completion) or carries a corrected answer (ANSWER =
 *        the correction);
 *   preference: {"prompt":[...], "chosen":[{assistant}], "rejected":[{assistant}]} for
 *        each request with a corrected answer (chosen = correction, rejected = the
 *        completion) and each pair of requests with the same prompt and different
 *        positive/negative verdicts.
 * *n_written gets the number of lines. */
lo_status lo_ops_feedback_export(lo_store *s, lo_ops_export_format fmt, const char *path, int64_t *n_written);

/* ---- API keys ----------------------------------------------------------------------- */

typedef enum lo_ops_role { LO_OPS_ROLE_INFERENCE, LO_OPS_ROLE_ADMIN } lo_ops_role;
typedef struct lo_ops_key {
    char key_id[24];          /* public part: "lo_" + 12 hex; what request logs record */
    char name[LO_OPS_NAME_MAX + 1];
    lo_ops_role role;
    double budget_usd;        /* 0 = unlimited */
    int64_t rate_limit_rpm;   /* requests per minute; 0 = unlimited */
    double spent_usd;         /* cost of the requests logged under this key */
    int64_t created_at, revoked_at; /* revoked_at 0 = active */
} lo_ops_key;
#define LO_OPS_KEY_SECRET_BYTES 64 /* "lo_<12 hex>.<43 base64url>" + NUL fits */

/* Creates a key; the secret is written to `secret` (shown once, never stored: the store
 * keeps sha256(salt || secret) with a per-key random salt). */
lo_status lo_ops_key_create(lo_store *s, const char *name, lo_ops_role role, double budget_usd,
                            int64_t rate_limit_rpm, char secret[LO_OPS_KEY_SECRET_BYTES], lo_ops_key *out);
/* Checks a presented secret: LO_OK with the key's role and limits, or LO_ERR_DENIED
 * (unknown, wrong, revoked, or budget spent; the message says which but never echoes
 * the secret). out (may be NULL) is cleared first; it is filled for a valid key — also
 * when LO_ERR_DENIED is for its spent budget, so out->key_id[0] != 0 tells an authentic
 * key over its budget (answer 429) from a bad one (401). */
lo_status lo_ops_key_check(lo_store *s, const char *secret, lo_ops_key *out);
/* Revokes by key id or name. */
lo_status lo_ops_key_revoke(lo_store *s, const char *id_or_name);
typedef void (*lo_ops_key_fn)(void *ctx, const lo_ops_key *k);
lo_status lo_ops_key_list(lo_store *s, lo_ops_key_fn fn, void *ctx);
const char *lo_ops_role_name(lo_ops_role r);
bool lo_ops_role_parse(const char *name, lo_ops_role *out);

/* ---- evaluation runs and promotion gates (eval.c) ------------------------------------ */

/* The scores an evaluation can compute, by index; their names are what gates and run
 * metrics use: bleu, chrf (0-100, corpus-level as sacreBLEU), rouge1, rouge2, rougeL,
 * rougeLsum (0-1, the mean over samples of rouge-score's F-measure), exact, exact_norm
 * (0-1, share of samples), perplexity (exp of the mean NLL per reference token). */
enum {
    LO_EVAL_BLEU, LO_EVAL_CHRF, LO_EVAL_ROUGE1, LO_EVAL_ROUGE2, LO_EVAL_ROUGEL, LO_EVAL_ROUGELSUM,
    LO_EVAL_EXACT, LO_EVAL_EXACT_NORM, LO_EVAL_PERPLEXITY, LO_EVAL_N_SCORES
};
#define LO_EVAL_ALL ((1u << LO_EVAL_N_SCORES) - 1)
const char *lo_eval_score_name(int score);
/* Index of a score name (exact length len), or -1. */
int lo_eval_score_find(const char *name, size_t len);
/* false for perplexity (lower is better), true for every other score. */
bool lo_eval_higher_is_better(int score);
/* "bleu,rouge,chrf,exact,perplexity" → a mask of 1u << LO_EVAL_*. "rouge" stands for the
 * four ROUGE scores and "exact" for exact and exact_norm; single names are taken too. */
lo_status lo_eval_parse_metrics(const char *list, uint32_t *mask);

typedef struct lo_eval_params {
    const char *model;      /* a GGUF path (contains '/' or ends in .gguf) or a registry
                             * reference NAME[@VERSION|@ALIAS] */
    const char *deployment; /* instead of model: the deployment's primary arm */
    const char *data_path;  /* EVAL.jsonl */
    const char *data_name;  /* dataset name; NULL = from the file name */
    const char *out_dir;    /* where predictions files go (created when missing) */
    uint32_t metrics;       /* mask of 1u << LO_EVAL_* (0 = all) */
    int32_t max_tokens;     /* new tokens per answer (default 64) */
    float temperature;      /* default 0 = greedy; > 0 samples with llama.cpp's default chain */
    uint64_t seed;          /* 0..0xFFFFFFFF, default 42; sample i is drawn with seed + i
                             * (+ 1 from LO_SEED_RANDOM on, which would mean "random") */
    const char *const *stop; /* stop strings (the answer excludes them) */
    int32_t n_stop;
    int32_t n_parallel;     /* sequences generated together (default 4) */
    int32_t n_ctx;          /* positions per sequence (0 = the model's, at most 4096) */
    int32_t n_threads;      /* 0 = all cores */
    bool rouge_stem;        /* Porter-stem for ROUGE, as rouge-score's use_stemmer */
    const char *chat_template; /* family name for {"messages"} lines; NULL = the model's */
    bool reuse;             /* return a recorded run of this model version on the same
                             * dataset version with the same settings when there is one */
} lo_eval_params;
void lo_eval_params_default(lo_eval_params *p);

typedef struct lo_eval_result {
    int64_t run_id;
    bool reused;            /* a recorded run was returned; nothing was generated */
    int64_t model_id;       /* 0 for a GGUF path that is not in the registry */
    char model_ref[LO_OPS_PATH_MAX]; /* "NAME@VERSION" or the path */
    lo_ops_dataset dataset;
    int64_t n_samples;
    uint32_t metrics;       /* the scores computed */
    double scores[LO_EVAL_N_SCORES];
    int64_t n_prompt_tokens, n_gen_tokens, n_scored_tokens;
    double t_gen_s, t_score_s, t_total_s; /* generation, perplexity, the whole call */
    char predictions_path[LO_OPS_PATH_MAX];
} lo_eval_result;

/* Evaluates a model on EVAL.jsonl and records it. Each non-empty line is a JSON object
 * with "prompt" (a string) or "messages" ([{"role","content"}...], rendered with the
 * model's chat template), and the reference as "reference" (string), "references"
 * (array of strings) or "completion"; a bad line is LO_ERR_INVALID naming its number.
 * Answers are generated through the continuous-batching scheduler (n_parallel at once),
 * trimmed of surrounding whitespace, and scored; perplexity is that of the first
 * reference given the prompt, teacher-forced. Recorded in one transaction: the file as a
 * dataset version (lo_ops_dataset_add), a run of kind "eval" (params: model, settings;
 * input: dataset version and model version) with every score as a metric (step 0), the
 * per-sample predictions as a JSONL artifact OUT_DIR/eval-run-ID.jsonl (written
 * atomically), the summary on the model version (lo_ops_model_set_eval: the dataset
 * version → {"dataset", "run", "n", "scores"}, other keys kept) and status succeeded. */
lo_status lo_eval_run(lo_store *s, const lo_eval_params *p, lo_eval_result *out);
/* The scores of a recorded eval run (its metrics named as scores). */
lo_status lo_eval_get(lo_store *s, int64_t run_id, lo_eval_result *out);

/* A promotion gate "METRIC OP RHS": OP one of >= <= > < ==, RHS a number, "baseline" or
 * "K*baseline" (K a number), spaces allowed between the parts. */
typedef enum lo_eval_op { LO_EVAL_GE, LO_EVAL_LE, LO_EVAL_GT, LO_EVAL_LT, LO_EVAL_EQ } lo_eval_op;
typedef struct lo_eval_gate {
    int score;           /* LO_EVAL_* */
    lo_eval_op op;
    bool vs_baseline;    /* RHS = k × the baseline's value; else RHS = k */
    double k;
    char text[128];      /* the expression as normalised text, e.g. "perplexity<=1.05*baseline" */
} lo_eval_gate;
lo_status lo_eval_gate_parse(const char *expr, lo_eval_gate *out);
/* The required value (k, or k × baseline) and whether value meets it. Pure. */
bool lo_eval_gate_check(const lo_eval_gate *g, double value, double baseline, double *rhs);
const char *lo_eval_op_text(lo_eval_op op); /* ">=", ... */

#define LO_EVAL_MAX_GATES 16
typedef struct lo_eval_gate_result {
    lo_eval_gate gate;
    double value, baseline, rhs; /* baseline NaN when the gate does not use it */
    bool pass;
} lo_eval_gate_result;
typedef struct lo_eval_promotion {
    char candidate[LO_OPS_NAME_MAX + 26], baseline[LO_OPS_NAME_MAX + 26]; /* "NAME@V"; baseline "" when none */
    int64_t candidate_run, baseline_run; /* the eval runs compared (baseline_run 0 when none) */
    char dataset[LO_OPS_NAME_MAX + 1];
    char dataset_version[65];
    int n_gates, n_failed;
    lo_eval_gate_result gates[LO_EVAL_MAX_GATES];
    bool promoted;
} lo_eval_promotion;
/* Moves ALIAS to the version REF when every gate holds. The baseline is the version that
 * holds ALIAS now; the comparison uses the newest succeeded eval run of REF for which the
 * baseline has a succeeded eval run on the same dataset version with the same generation
 * settings and both have every gated score (gates without "baseline" only need an eval of
 * REF). LO_ERR_NOT_FOUND when there is no such pair; LO_ERR_DENIED when a gate fails (out
 * says which, with the numbers; the alias is not touched). */
lo_status lo_eval_promote(lo_store *s, const char *ref, const char *alias, const char *const *gates, int n_gates,
                          lo_eval_promotion *out);

/* ---- synthetic data for the quickstart (synth.c) ------------------------------------ */

/* A corpus a tiny model can learn in minutes: procedural short stories from a small
 * grammar (names, animals, places, objects; a found object, a mishap, a friend's help),
 * paragraphs of the manual of a fictional product (the Lumen 7 desk lamp) mixed into
 * them, and chat samples of questions about the product with one-sentence answers. */
typedef struct lo_synth_params {
    uint64_t seed;
    int32_t n_stories;     /* 1..1000000 */
    int32_t manual_copies; /* manual paragraphs (each a seeded selection of the facts), 0..1000000 */
} lo_synth_params;
typedef struct lo_synth_files {
    char pretrain_path[LO_OPS_PATH_MAX]; /* DIR/pretrain.txt: documents separated by blank lines */
    char qa_train_path[LO_OPS_PATH_MAX]; /* DIR/product-qa.jsonl: {"messages":[user, assistant]} */
    char qa_eval_path[LO_OPS_PATH_MAX];  /* DIR/product-qa-heldout.jsonl: {"messages":[user]} and
                                          * "reference", phrasings never trained on */
    int64_t n_stories, n_manual, n_qa_train, n_qa_eval;
} lo_synth_files;
/* Writes the three files into DIR (which must exist), each atomically; the same params
 * give the same bytes, and the Q&A files depend on the seed alone. Every fact is trained under 4 phrasings × 4 greetings and
 * evaluated under a fifth phrasing, bare and with a greeting. */
lo_status lo_ops_synth_write(const char *dir, const lo_synth_params *p, lo_synth_files *out);
/* The facts: their number, and fact i's held-out question and its answer. */
int lo_ops_synth_n_facts(void);
void lo_ops_synth_fact(int i, const char **heldout_question, const char **answer);

#ifdef __cplusplus
}
#endif
#endif
