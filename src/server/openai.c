/* server: the OpenAI generation routes. An HTTP thread validates the JSON into
 * lo_sched_requests (one per choice: n × prompts) and submits them; the scheduler thread's
 * callbacks fill in each choice and either stream server-sent-event chunks or, when every
 * choice is done, answer with the whole JSON. Embeddings run on the scheduler thread
 * between steps (lo_sched_embed), the HTTP thread waiting. Every request that reached a
 * model ends in one request-log record (reqlog.c): a job's when its last choice is done,
 * the handler's for embeddings and for a request refused before a job existed. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server_internal.h"

#define MAX_CHOICES 128
#define MAX_STOP 16

/* ---- jobs --------------------------------------------------------------------------------- */

typedef struct srv_job srv_job;
typedef struct srv_choice {
    srv_job *job;
    int index;
    int prompt_index;
    uint64_t id;
    bool submitted, done;
    char *text; /* non-streaming: the generated text */
    size_t len, cap;
    json_t *lp;  /* chat: [ {token, logprob, bytes, top_logprobs} ]; completions: legacy object */
    size_t text_offset; /* completions' logprobs.text_offset */
    lo_finish_reason finish;
    lo_status status;
    char *error;
    int32_t n_prompt, n_completion;
    double t_queue_ms, t_first_ms; /* from the DONE event; t_first_ms 0 = no token */
    double t_last_token;
    char *piece; /* scratch for token text */
    size_t piece_len, piece_cap;
} srv_choice;

struct srv_job {
    pthread_mutex_t mu;
    atomic_int refs;
    lo_server *srv;
    srv_model *model;
    srv_target target;  /* model, and the deployment arm when one was named */
    srv_auth auth;
    char *user;         /* the request's user (for the log; at most 256 bytes) */
    char *messages_json; /* content for the log (--log-content), or NULL */
    bool keep_text;     /* collect choice text (non-streamed answers, or content logging) */
    bool logged;        /* the request-log record is submitted */
    double t_start, t_end; /* lo_time_sec: handler began, last choice done */
    lo_http_req *req;
    const char *route;
    bool chat, stream, include_usage, logprobs;
    int n_top;          /* top_logprobs to report */
    char id[48];
    int64_t created;
    int n_choices;
    srv_choice *choices;
    int n_done;
    bool closed;        /* client went away */
    bool ready;         /* streaming: every choice submitted and the stream begun */
    bool failed;        /* a submit failed: the error answer went out */
    char *pending;      /* streaming output produced before ready */
    size_t pending_len, pending_cap;
    char **echo;        /* completions echo: the prompt text per prompt index */
    int n_echo;
};

static void usage_counts(const srv_job *j, int64_t *prompt, int64_t *completion);

/* The job's request-log record: ids, tokens, timings and how it ended. Submitted when the
 * last choice is done, before the answer completes (so feedback sent right after finds
 * it once the log is flushed), or at the last release for a job that failed to submit. */
static void job_log(srv_job *j) {
    if (j->logged) return;
    j->logged = true;
    const char *status = "ok";
    double ttft = -1, queue = -1;
    for (int i = 0; i < j->n_choices; i++) {
        const srv_choice *c = &j->choices[i];
        if (!c->done || c->status != LO_OK) status = "error";
        else if (c->finish == LO_FINISH_ABORT && strcmp(status, "ok") == 0) status = "canceled";
        if (c->done && c->t_first_ms > 0 && (ttft < 0 || c->t_first_ms < ttft)) ttft = c->t_first_ms;
        if (c->done && (queue < 0 || c->t_queue_ms < queue)) queue = c->t_queue_ms;
    }
    if (j->failed) status = "error";
    else if (j->closed && strcmp(status, "ok") == 0) status = "canceled";
    int64_t pt = 0, ct = 0;
    usage_counts(j, &pt, &ct);
    json_t *completion = NULL;
    if (j->messages_json && j->n_choices > 0) /* valid UTF-8 for the store */
        completion = srv_json_str(j->choices[0].text ? j->choices[0].text : "", j->choices[0].len);
    srv_logged l = {.external_id = j->id, .t = &j->target, .a = &j->auth, .user = j->user, .status = status,
                    .prompt_tokens = pt, .completion_tokens = ct, .queue_ms = queue, .ttft_ms = ttft,
                    .latency_ms = j->t_end > 0 ? (j->t_end - j->t_start) * 1000.0 : -1,
                    .messages_json = j->messages_json, .completion = completion ? json_string_value(completion) : NULL};
    srv_log_request(j->srv, &l);
    json_decref(completion);
}

static void job_release(srv_job *j) {
    if (atomic_fetch_sub(&j->refs, 1) != 1) return;
    job_log(j);
    lo_free(j->user);
    lo_free(j->messages_json);
    for (int i = 0; i < j->n_choices; i++) {
        srv_choice *c = &j->choices[i];
        lo_free(c->text);
        lo_free(c->error);
        lo_free(c->piece);
        json_decref(c->lp);
    }
    for (int i = 0; i < j->n_echo; i++) lo_free(j->echo[i]);
    lo_free(j->echo);
    lo_free(j->choices);
    lo_free(j->pending);
    lo_http_req_release(j->req);
    pthread_mutex_destroy(&j->mu);
    atomic_fetch_sub(&j->srv->n_jobs, 1);
    lo_free(j);
}

static void random_id(char *out, size_t cap, const char *prefix) {
    static atomic_uint_fast64_t counter;
    uint64_t x = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(lo_time_sec() * 1e9) ^
                 (atomic_fetch_add(&counter, 1) + 1) * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    snprintf(out, cap, "%s%016" PRIx64, prefix, x);
}

/* Under j->mu: one SSE event "data: TEXT\n\n" (v stolen). */
static void emit_locked(srv_job *j, json_t *v) {
    char *t = v ? lo_json_dumps(v) : NULL;
    json_decref(v);
    if (!t) return;
    size_t tl = strlen(t);
    size_t need = tl + 8;
    if (j->ready) {
        char *buf = lo_malloc(need + 1);
        if (buf) {
            int n = snprintf(buf, need + 1, "data: %s\n\n", t);
            if (!lo_http_stream_write(j->req, buf, (size_t)n)) j->closed = true;
            lo_free(buf);
        }
    } else {
        if (j->pending_len + need + 1 > j->pending_cap) {
            size_t cap = j->pending_cap ? j->pending_cap : 1024;
            while (cap < j->pending_len + need + 1) cap *= 2;
            char *np = lo_realloc(j->pending, cap);
            if (!np) {
                lo_free(t);
                return;
            }
            j->pending = np;
            j->pending_cap = cap;
        }
        j->pending_len += (size_t)snprintf(j->pending + j->pending_len, need + 1, "data: %s\n\n", t);
    }
    lo_free(t);
}

/* Under j->mu: one streamed chunk v carrying the single choice ch (both stolen); "usage"
 * is null on every chunk but the last when stream_options.include_usage is set. */
static void emit_choice_locked(srv_job *j, json_t *v, json_t *ch) {
    json_t *arr = json_array();
    json_array_append_new(arr, ch);
    json_object_set_new(v, "choices", arr);
    if (j->include_usage) json_object_set_new(v, "usage", json_null());
    emit_locked(j, v);
}

static json_t *chunk_base(srv_job *j) {
    json_t *v = json_object();
    json_object_set_new(v, "id", json_string(j->id));
    json_object_set_new(v, "object", json_string(j->chat ? "chat.completion.chunk" : "text_completion"));
    json_object_set_new(v, "created", json_integer(j->created));
    json_object_set_new(v, "model", json_string(j->model->name));
    return v;
}

static const char *finish_name(lo_finish_reason f) {
    /* OpenAI has no "abort": a sequence cut short (shutdown) reads as truncated */
    return f == LO_FINISH_STOP ? "stop" : "length";
}

static void usage_counts(const srv_job *j, int64_t *prompt, int64_t *completion) {
    int64_t pt = 0, ct = 0;
    for (int i = 0; i < j->n_choices; i++) {
        const srv_choice *c = &j->choices[i];
        ct += c->n_completion;
        /* n choices share one prompt: counted once, as OpenAI does */
        bool first = true;
        for (int k = 0; k < i; k++)
            if (j->choices[k].prompt_index == c->prompt_index) first = false;
        if (first) pt += c->n_prompt;
    }
    *prompt = pt;
    *completion = ct;
}

static json_t *usage_json(srv_job *j) {
    int64_t pt = 0, ct = 0;
    usage_counts(j, &pt, &ct);
    json_t *u = json_object();
    json_object_set_new(u, "prompt_tokens", json_integer(pt));
    json_object_set_new(u, "completion_tokens", json_integer(ct));
    json_object_set_new(u, "total_tokens", json_integer(pt + ct));
    return u;
}

static json_t *bytes_json(const char *p, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer((unsigned char)p[i]));
    return a;
}

/* The token's own text (not the held-back-aware event text) into c->piece. */
static void token_piece(srv_job *j, srv_choice *c, int32_t id) {
    c->piece_len = 0;
    if (c->piece) c->piece[0] = '\0';
    if (lo_token_to_piece(j->model->tok, id, false, &c->piece, &c->piece_len, &c->piece_cap) != LO_OK) c->piece_len = 0;
}

/* chat: one entry of logprobs.content */
static json_t *chat_lp_entry(srv_job *j, srv_choice *c, const lo_sched_event *ev) {
    token_piece(j, c, ev->id);
    json_t *e = json_object();
    json_object_set_new(e, "token", srv_json_str(c->piece ? c->piece : "", c->piece_len));
    json_object_set_new(e, "logprob", json_real(isfinite(ev->logprob) ? ev->logprob : -9999.0));
    json_object_set_new(e, "bytes", bytes_json(c->piece ? c->piece : "", c->piece_len));
    json_t *top = json_array();
    for (int k = 0; k < ev->n_top && k < j->n_top; k++) {
        token_piece(j, c, ev->top[k].id);
        json_t *t = json_object();
        json_object_set_new(t, "token", srv_json_str(c->piece ? c->piece : "", c->piece_len));
        json_object_set_new(t, "logprob", json_real(isfinite(ev->top[k].logprob) ? ev->top[k].logprob : -9999.0));
        json_object_set_new(t, "bytes", bytes_json(c->piece ? c->piece : "", c->piece_len));
        json_array_append_new(top, t);
    }
    json_object_set_new(e, "top_logprobs", top);
    return e;
}

/* completions: appends one token to a legacy logprobs object {tokens, token_logprobs,
 * top_logprobs, text_offset}. */
static void legacy_lp_add(srv_job *j, srv_choice *c, json_t *lp, const lo_sched_event *ev) {
    token_piece(j, c, ev->id);
    json_array_append_new(json_object_get(lp, "tokens"), srv_json_str(c->piece ? c->piece : "", c->piece_len));
    json_array_append_new(json_object_get(lp, "token_logprobs"), json_real(isfinite(ev->logprob) ? ev->logprob : -9999.0));
    json_array_append_new(json_object_get(lp, "text_offset"), json_integer((json_int_t)c->text_offset));
    c->text_offset += c->piece_len;
    json_t *top = json_object();
    for (int k = 0; k < ev->n_top && k < j->n_top; k++) {
        token_piece(j, c, ev->top[k].id);
        json_t *key = srv_json_str(c->piece ? c->piece : "", c->piece_len);
        json_object_set_new(top, json_string_value(key), json_real(ev->top[k].logprob));
        json_decref(key);
    }
    json_array_append_new(json_object_get(lp, "top_logprobs"), top);
}

static json_t *legacy_lp_new(void) {
    json_t *lp = json_object();
    json_object_set_new(lp, "tokens", json_array());
    json_object_set_new(lp, "token_logprobs", json_array());
    json_object_set_new(lp, "top_logprobs", json_array());
    json_object_set_new(lp, "text_offset", json_array());
    return lp;
}

static bool text_append(srv_choice *c, const char *t, size_t n) {
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        while (cap < c->len + n + 1) cap *= 2;
        char *np = lo_realloc(c->text, cap);
        if (!np) return false;
        c->text = np;
        c->cap = cap;
    }
    memcpy(c->text + c->len, t, n);
    c->len += n;
    c->text[c->len] = '\0';
    return true;
}

static int status_http(lo_status st) {
    switch (st) {
    case LO_ERR_INVALID: case LO_ERR_RANGE: case LO_ERR_FORMAT: return 400;
    case LO_ERR_BUSY: return 429;
    case LO_ERR_NOT_FOUND: return 404;
    case LO_ERR_UNSUPPORTED: return 400;
    default: return 500;
    }
}

/* Under j->mu, the last choice done: the whole non-streamed answer. */
static void finish_plain_locked(srv_job *j) {
    for (int i = 0; i < j->n_choices; i++) {
        srv_choice *c = &j->choices[i];
        if (c->status != LO_OK) {
            int http = status_http(c->status);
            srv_error(j->srv, j->req, j->route, http, http == 500 ? "server_error" : "invalid_request_error", NULL,
                      NULL, "%s", c->error ? c->error : lo_status_name(c->status));
            return;
        }
    }
    json_t *choices = json_array();
    for (int i = 0; i < j->n_choices; i++) {
        srv_choice *c = &j->choices[i];
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer(c->index));
        if (j->chat) {
            json_t *msg = json_object();
            json_object_set_new(msg, "role", json_string("assistant"));
            json_object_set_new(msg, "content", srv_json_str(c->text ? c->text : "", c->len));
            json_object_set_new(o, "message", msg);
            if (j->logprobs) {
                json_t *lp = json_object();
                json_object_set(lp, "content", c->lp ? c->lp : json_array());
                json_object_set_new(o, "logprobs", lp);
            } else {
                json_object_set_new(o, "logprobs", json_null());
            }
        } else {
            json_t *txt;
            if (j->echo && c->prompt_index < j->n_echo) {
                size_t el = strlen(j->echo[c->prompt_index]);
                char *all = lo_malloc(el + c->len + 1);
                if (all) {
                    memcpy(all, j->echo[c->prompt_index], el);
                    if (c->len) memcpy(all + el, c->text, c->len);
                    txt = srv_json_str(all, el + c->len);
                    lo_free(all);
                } else {
                    txt = json_string("");
                }
            } else {
                txt = srv_json_str(c->text ? c->text : "", c->len);
            }
            json_object_set_new(o, "text", txt);
            json_object_set(o, "logprobs", j->logprobs && c->lp ? c->lp : json_null());
        }
        json_object_set_new(o, "finish_reason", json_string(finish_name(c->finish)));
        json_array_append_new(choices, o);
    }
    json_t *v = json_object();
    json_object_set_new(v, "id", json_string(j->id));
    json_object_set_new(v, "object", json_string(j->chat ? "chat.completion" : "text_completion"));
    json_object_set_new(v, "created", json_integer(j->created));
    json_object_set_new(v, "model", json_string(j->model->name));
    json_object_set_new(v, "choices", choices);
    json_object_set_new(v, "usage", usage_json(j));
    srv_json(j->srv, j->req, j->route, 200, v);
}

/* Under j->mu: a streamed choice's token. */
static void stream_token_locked(srv_job *j, srv_choice *c, const lo_sched_event *ev) {
    bool has_lp = j->logprobs && ev->id >= 0;
    if (ev->len == 0 && !has_lp) return;
    json_t *v = chunk_base(j);
    json_t *ch = json_object();
    json_object_set_new(ch, "index", json_integer(c->index));
    if (j->chat) {
        json_t *delta = json_object();
        json_object_set_new(delta, "content", srv_json_str(ev->text ? ev->text : "", ev->len));
        json_object_set_new(ch, "delta", delta);
        if (has_lp) {
            json_t *lp = json_object();
            json_t *content = json_array();
            json_array_append_new(content, chat_lp_entry(j, c, ev));
            json_object_set_new(lp, "content", content);
            json_object_set_new(ch, "logprobs", lp);
        } else {
            json_object_set_new(ch, "logprobs", json_null());
        }
    } else {
        json_object_set_new(ch, "text", srv_json_str(ev->text ? ev->text : "", ev->len));
        if (has_lp) {
            json_t *lp = legacy_lp_new();
            legacy_lp_add(j, c, lp, ev);
            json_object_set_new(ch, "logprobs", lp);
        } else {
            json_object_set_new(ch, "logprobs", json_null());
        }
    }
    json_object_set_new(ch, "finish_reason", json_null());
    emit_choice_locked(j, v, ch);
}

static void stream_done_locked(srv_job *j, srv_choice *c) {
    if (c->status != LO_OK) {
        json_t *e = json_object();
        json_object_set_new(e, "message", srv_json_str(c->error ? c->error : "error", strlen(c->error ? c->error : "error")));
        json_object_set_new(e, "type", json_string("server_error"));
        json_object_set_new(e, "param", json_null());
        json_object_set_new(e, "code", json_null());
        json_t *v = json_object();
        json_object_set_new(v, "error", e);
        emit_locked(j, v);
    } else {
        json_t *v = chunk_base(j);
        json_t *ch = json_object();
        json_object_set_new(ch, "index", json_integer(c->index));
        if (j->chat) json_object_set_new(ch, "delta", json_object());
        else json_object_set_new(ch, "text", json_string(""));
        json_object_set_new(ch, "logprobs", json_null());
        json_object_set_new(ch, "finish_reason", json_string(finish_name(c->finish)));
        emit_choice_locked(j, v, ch);
    }
    if (j->n_done < j->n_choices) return;
    if (j->include_usage) {
        json_t *v = chunk_base(j);
        json_object_set_new(v, "choices", json_array());
        json_object_set_new(v, "usage", usage_json(j));
        emit_locked(j, v);
    }
    static const char done[] = "data: [DONE]\n\n";
    if (j->ready) {
        lo_http_stream_write(j->req, done, sizeof done - 1);
        lo_http_stream_end(j->req);
    }
}

static void observe_done(srv_model *m, srv_job *j, const lo_sched_event *ev) {
    pthread_mutex_lock(&m->m.mu);
    if (ev->n_completion > 0 && ev->t_first_token_ms > 0) srv_hist_observe(&m->m.ttft, ev->t_first_token_ms / 1000.0);
    srv_hist_observe(&m->m.e2e, ev->t_total_ms / 1000.0);
    srv_hist_observe(&m->m.queue, ev->t_queue_ms / 1000.0);
    m->m.prompt_tokens += (uint64_t)(ev->n_prompt > 0 ? ev->n_prompt : 0);
    m->m.gen_tokens += (uint64_t)(ev->n_completion > 0 ? ev->n_completion : 0);
    int f = ev->status != LO_OK ? 3 : ev->finish == LO_FINISH_STOP ? 0 : ev->finish == LO_FINISH_LENGTH ? 1 : 2;
    m->m.finish[f]++;
    pthread_mutex_unlock(&m->m.mu);
    (void)j;
}

/* The scheduler's callback (its thread). */
static void on_event(void *user, const lo_sched_event *ev) {
    srv_choice *c = user;
    srv_job *j = c->job;
    if (ev->kind == LO_SCHED_TOKEN) {
        double now = lo_time_sec();
        if (ev->id >= 0) {
            if (c->t_last_token > 0) {
                pthread_mutex_lock(&j->model->m.mu);
                srv_hist_observe(&j->model->m.itl, now - c->t_last_token);
                pthread_mutex_unlock(&j->model->m.mu);
            }
            c->t_last_token = now;
        }
        pthread_mutex_lock(&j->mu);
        if (!j->failed && !j->closed) {
            if (j->stream) stream_token_locked(j, c, ev);
            if (j->keep_text && ev->len) text_append(c, ev->text, ev->len);
            if (!j->stream && j->logprobs && ev->id >= 0) {
                if (j->chat) {
                    if (!c->lp) c->lp = json_array();
                    json_array_append_new(c->lp, chat_lp_entry(j, c, ev));
                } else {
                    if (!c->lp) c->lp = legacy_lp_new();
                    legacy_lp_add(j, c, c->lp, ev);
                }
            }
        }
        pthread_mutex_unlock(&j->mu);
        return;
    }
    observe_done(j->model, j, ev);
    pthread_mutex_lock(&j->mu);
    c->done = true;
    c->finish = ev->finish;
    c->status = ev->status;
    c->n_prompt = ev->n_prompt;
    c->n_completion = ev->n_completion;
    c->t_queue_ms = ev->t_queue_ms;
    c->t_first_ms = ev->n_completion > 0 ? ev->t_first_token_ms : 0;
    if (ev->status != LO_OK) c->error = lo_strdup(ev->message ? ev->message : lo_status_name(ev->status));
    j->n_done++;
    if (j->n_done == j->n_choices) {
        j->t_end = lo_time_sec();
        job_log(j);
    }
    if (!j->failed) {
        if (j->stream) {
            if (!j->closed || j->ready) stream_done_locked(j, c);
        } else if (j->n_done == j->n_choices) {
            finish_plain_locked(j);
        }
    }
    pthread_mutex_unlock(&j->mu);
    job_release(j);
}

/* The connection finished (HTTP thread): cancel what still runs if the client left. */
static void on_close(void *user, bool gone) {
    srv_job *j = user;
    uint64_t ids[MAX_CHOICES];
    int n = 0;
    pthread_mutex_lock(&j->mu);
    if (gone) {
        j->closed = true;
        for (int i = 0; i < j->n_choices; i++)
            if (j->choices[i].submitted && !j->choices[i].done) ids[n++] = j->choices[i].id;
    }
    pthread_mutex_unlock(&j->mu);
    if (n > 0) {
        pthread_rwlock_rdlock(&j->srv->sched_lock);
        if (!j->srv->scheds_freed)
            for (int i = 0; i < n; i++) lo_sched_cancel(j->model->sched, ids[i]);
        pthread_rwlock_unlock(&j->srv->sched_lock);
    }
    job_release(j);
}

/* ---- request parsing ------------------------------------------------------------------------ */

typedef struct gen_opts {
    lo_sampler_params sp;
    lo_logit_bias *bias;
    int32_t n_bias;
    int32_t max_tokens; /* -1 = to the context's end */
    int n;
    bool stream, include_usage, logprobs, ignore_eos, echo;
    bool json_object; /* response_format json_object: JSON mode */
    int n_top;
    const char *stop[MAX_STOP];
    int32_t n_stop;
    bool seeded;
} gen_opts;

/* Field readers that answer 400 naming the field; they return false after answering. */
static bool get_num(lo_server *s, lo_http_req *r, const char *route, const json_t *b, const char *key, double lo,
                    double hi, double *out) {
    const json_t *v = json_object_get(b, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_number(v)) {
        SRV_BAD(s, r, route, key, "'%s' must be a number", key);
        return false;
    }
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) {
        SRV_BAD(s, r, route, key, "'%s' must be between %g and %g, not %g", key, lo, hi, x);
        return false;
    }
    *out = x;
    return true;
}

static bool get_int(lo_server *s, lo_http_req *r, const char *route, const json_t *b, const char *key, int64_t lo,
                    int64_t hi, int64_t *out) {
    const json_t *v = json_object_get(b, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_integer(v)) {
        SRV_BAD(s, r, route, key, "'%s' must be an integer", key);
        return false;
    }
    int64_t x = json_integer_value(v);
    if (x < lo || x > hi) {
        SRV_BAD(s, r, route, key, "'%s' must be between %" PRId64 " and %" PRId64 ", not %" PRId64, key, lo, hi, x);
        return false;
    }
    *out = x;
    return true;
}

static bool get_bool(lo_server *s, lo_http_req *r, const char *route, const json_t *b, const char *key, bool *out) {
    const json_t *v = json_object_get(b, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_boolean(v)) {
        SRV_BAD(s, r, route, key, "'%s' must be true or false", key);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

static bool parse_gen_opts(lo_server *s, lo_http_req *r, const char *route, const json_t *b, srv_model *m, bool chat,
                           gen_opts *o) {
    memset(o, 0, sizeof *o);
    lo_sampler_params_default(&o->sp);
    o->max_tokens = -1;
    o->n = 1;
    double x;
    int64_t i64;
    x = o->sp.temperature;
    if (!get_num(s, r, route, b, "temperature", 0, 2, &x)) return false;
    o->sp.temperature = (float)x;
    x = o->sp.top_p;
    if (!get_num(s, r, route, b, "top_p", 0, 1, &x)) return false;
    o->sp.top_p = (float)x;
    x = o->sp.min_p;
    if (!get_num(s, r, route, b, "min_p", 0, 1, &x)) return false;
    o->sp.min_p = (float)x;
    i64 = o->sp.top_k;
    if (!get_int(s, r, route, b, "top_k", 0, 1000000, &i64)) return false;
    o->sp.top_k = (int32_t)i64;
    x = o->sp.repeat_penalty;
    if (!get_num(s, r, route, b, "repeat_penalty", 0.01, 10, &x)) return false;
    o->sp.repeat_penalty = (float)x;
    x = 0;
    if (!get_num(s, r, route, b, "presence_penalty", -2, 2, &x)) return false;
    o->sp.presence_penalty = (float)x;
    x = 0;
    if (!get_num(s, r, route, b, "frequency_penalty", -2, 2, &x)) return false;
    o->sp.frequency_penalty = (float)x;
    const json_t *seed = json_object_get(b, "seed");
    if (seed && !json_is_null(seed)) {
        if (!json_is_integer(seed)) {
            SRV_BAD(s, r, route, "seed", "'seed' must be an integer");
            return false;
        }
        o->sp.seed = (uint64_t)json_integer_value(seed);
        if (o->sp.seed == LO_SEED_RANDOM) o->sp.seed = 0; /* keep an explicit seed deterministic */
        o->seeded = true;
    }
    /* max_completion_tokens (newer) wins over max_tokens */
    i64 = -1;
    if (!get_int(s, r, route, b, "max_tokens", 1, INT32_MAX, &i64)) return false;
    if (!get_int(s, r, route, b, "max_completion_tokens", 1, INT32_MAX, &i64)) return false;
    o->max_tokens = (int32_t)i64;
    i64 = 1;
    if (!get_int(s, r, route, b, "n", 1, MAX_CHOICES, &i64)) return false;
    o->n = (int)i64;
    if (!get_bool(s, r, route, b, "stream", &o->stream)) return false;
    if (!get_bool(s, r, route, b, "ignore_eos", &o->ignore_eos)) return false;
    const json_t *so = json_object_get(b, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            SRV_BAD(s, r, route, "stream_options", "'stream_options' must be an object");
            return false;
        }
        if (!get_bool(s, r, route, so, "include_usage", &o->include_usage)) return false;
    }
    if (chat) {
        if (!get_bool(s, r, route, b, "logprobs", &o->logprobs)) return false;
        i64 = 0;
        if (!get_int(s, r, route, b, "top_logprobs", 0, 20, &i64)) return false;
        o->n_top = (int)i64;
        if (o->n_top > 0 && !o->logprobs) {
            SRV_BAD(s, r, route, "top_logprobs", "'top_logprobs' needs 'logprobs': true");
            return false;
        }
    } else {
        i64 = -1;
        if (!get_int(s, r, route, b, "logprobs", 0, 5, &i64)) return false;
        o->logprobs = i64 >= 0;
        o->n_top = i64 > 0 ? (int)i64 : 0;
        if (!get_bool(s, r, route, b, "echo", &o->echo)) return false;
        const json_t *suffix = json_object_get(b, "suffix");
        if (suffix && !json_is_null(suffix)) {
            SRV_BAD(s, r, route, "suffix", "'suffix' (insertion) is not supported");
            return false;
        }
        i64 = 1;
        if (!get_int(s, r, route, b, "best_of", 1, MAX_CHOICES, &i64)) return false;
        if (i64 != 1 && i64 != o->n) {
            SRV_BAD(s, r, route, "best_of", "'best_of' other than n is not supported");
            return false;
        }
    }
    if (o->logprobs) o->sp.n_probs = o->n_top > 0 ? o->n_top : 1;
    const json_t *stop = json_object_get(b, "stop");
    if (stop && !json_is_null(stop)) {
        if (json_is_string(stop)) {
            if (json_string_length(stop) > 0) o->stop[o->n_stop++] = json_string_value(stop);
        } else if (json_is_array(stop)) {
            if (json_array_size(stop) > MAX_STOP) {
                SRV_BAD(s, r, route, "stop", "'stop' takes at most %d strings", MAX_STOP);
                return false;
            }
            for (size_t i = 0; i < json_array_size(stop); i++) {
                const json_t *e = json_array_get(stop, i);
                if (!json_is_string(e)) {
                    SRV_BAD(s, r, route, "stop", "'stop' must be a string or an array of strings");
                    return false;
                }
                if (json_string_length(e) > 0) o->stop[o->n_stop++] = json_string_value(e);
            }
        } else {
            SRV_BAD(s, r, route, "stop", "'stop' must be a string or an array of strings");
            return false;
        }
    }
    const json_t *lb = json_object_get(b, "logit_bias");
    if (lb && !json_is_null(lb)) {
        if (!json_is_object(lb)) {
            SRV_BAD(s, r, route, "logit_bias", "'logit_bias' must be an object mapping token ids to numbers");
            return false;
        }
        size_t nb = json_object_size(lb);
        if (nb > 1024) {
            SRV_BAD(s, r, route, "logit_bias", "'logit_bias' takes at most 1024 tokens");
            return false;
        }
        o->bias = lo_calloc(nb ? nb : 1, sizeof *o->bias);
        if (!o->bias) {
            srv_error(s, r, route, 500, "server_error", NULL, NULL, "out of memory");
            return false;
        }
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)lb, key, val) {
            char *end;
            long id = strtol(key, &end, 10);
            if (!*key || *end || id < 0 || id >= m->n_vocab) {
                SRV_BAD(s, r, route, "logit_bias", "logit_bias key '%.40s' is not a token id in 0..%d", key, m->n_vocab - 1);
                return false;
            }
            if (!json_is_number(val) || !(json_number_value(val) >= -100 && json_number_value(val) <= 100)) {
                SRV_BAD(s, r, route, "logit_bias", "logit_bias values must be numbers in -100..100");
                return false;
            }
            double bv = json_number_value(val);
            o->bias[o->n_bias].token = (int32_t)id;
            o->bias[o->n_bias].bias = bv <= -100 ? -INFINITY : (float)bv;
            o->n_bias++;
        }
        o->sp.logit_bias = o->bias;
        o->sp.n_logit_bias = o->n_bias;
    }
    const json_t *rf = json_object_get(b, "response_format");
    if (rf && !json_is_null(rf)) {
        const json_t *t = json_is_object(rf) ? json_object_get(rf, "type") : NULL;
        const char *ts = json_is_string(t) ? json_string_value(t) : NULL;
        if (!ts) {
            SRV_BAD(s, r, route, "response_format", "'response_format' must be an object with a string 'type'");
            return false;
        }
        /* json_object: JSON mode, decoding constrained to one JSON object (lo_sched) */
        if (strcmp(ts, "text") != 0 && strcmp(ts, "json_object") != 0) {
            SRV_BAD(s, r, route, "response_format", "response_format type '%.40s' is not supported (text, json_object)", ts);
            return false;
        }
        o->json_object = strcmp(ts, "json_object") == 0;
    }
    const json_t *tools = json_object_get(b, "tools");
    if (tools && json_is_array(tools) && json_array_size(tools) > 0) {
        SRV_BAD(s, r, route, "tools", "'tools' (function calling) is not supported");
        return false;
    }
    const json_t *user = json_object_get(b, "user");
    if (user && !json_is_null(user) && !json_is_string(user)) {
        SRV_BAD(s, r, route, "user", "'user' must be a string");
        return false;
    }
    return true;
}

/* ---- submission ------------------------------------------------------------------------------ */

static void free_strs(char **v, int n) {
    if (!v) return;
    for (int i = 0; i < n; i++) lo_free(v[i]);
    lo_free(v);
}

/* A request's user for the log: at most 256 bytes, cut at a character boundary. */
static char *log_user(const json_t *body) {
    const char *u = srv_body_user(body);
    if (!u || !u[0]) return NULL;
    size_t n = strlen(u);
    if (n > 256) {
        n = 256;
        while (n > 0 && ((unsigned char)u[n] & 0xC0) == 0x80) n--;
    }
    return lo_strndup(u, n);
}

/* What a handler knows of a request before any job exists: the request log gets an
 * "error" record when the handler answers before starting one. */
typedef struct req_ctx {
    const json_t *body;
    const srv_auth *auth;
    srv_target target;
    double t_start;
    char *messages_json; /* content for the log, or NULL */
    bool logged;         /* the record is taken care of (by the job, or written already) */
} req_ctx;

/* The handler's own record (no job): embeddings answered, or a request refused. */
static void req_ctx_log(lo_server *s, req_ctx *x, const char *status, int64_t prompt_tokens) {
    char *user = log_user(x->body);
    srv_logged l = {.t = &x->target, .a = x->auth, .user = user, .status = status, .prompt_tokens = prompt_tokens,
                    .queue_ms = -1, .ttft_ms = -1, .latency_ms = (lo_time_sec() - x->t_start) * 1000.0,
                    .messages_json = x->messages_json};
    srv_log_request(s, &l);
    lo_free(user);
    x->logged = true;
}

static void req_ctx_end(lo_server *s, req_ctx *x) {
    if (!x->logged && x->target.m) req_ctx_log(s, x, "error", 0);
    lo_free(x->messages_json);
}

/* Submits n × n_prompts choices and sets up the answer. Takes ownership of echo (the
 * completions' prompt texts, or NULL); once it made a job, x->logged is set: the job
 * writes the record and owns x->messages_json. */
static void run_job(lo_server *s, lo_http_req *r, const char *route, req_ctx *x, bool chat, gen_opts *o,
                    lo_tokens *prompts, int n_prompts, char **echo) {
    srv_model *m = x->target.m;
    int n_choices = o->n * n_prompts;
    srv_job *j = NULL;
    if (n_choices > MAX_CHOICES) {
        SRV_BAD(s, r, route, "n", "n × prompts must be at most %d (it is %d)", MAX_CHOICES, n_choices);
        free_strs(echo, n_prompts);
        return;
    }
    for (int p = 0; p < n_prompts; p++) {
        if (prompts[p].n == 0) {
            SRV_BAD(s, r, route, chat ? "messages" : "prompt", "the prompt is empty (no tokens)");
            free_strs(echo, n_prompts);
            return;
        }
        int64_t need = prompts[p].n + (o->max_tokens > 0 ? o->max_tokens : 0);
        if (need > m->n_ctx) {
            srv_error(s, r, route, 400, "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded",
                      "This model's context is %d tokens per request; the prompt has %" PRId64
                      " tokens and max_tokens is %d (%" PRId64 " in all). Shorten the prompt or lower max_tokens.",
                      m->n_ctx, prompts[p].n, o->max_tokens > 0 ? o->max_tokens : 0, need);
            free_strs(echo, n_prompts);
            return;
        }
    }
    j = lo_calloc(1, sizeof *j);
    srv_choice *cs = j ? lo_calloc((size_t)n_choices, sizeof *cs) : NULL;
    if (!cs) {
        lo_free(j);
        free_strs(echo, n_prompts);
        srv_error(s, r, route, 500, "server_error", NULL, NULL, "out of memory");
        return;
    }
    pthread_mutex_init(&j->mu, NULL);
    atomic_init(&j->refs, 2); /* this function's + the close callback's */
    atomic_fetch_add(&s->n_jobs, 1);
    j->srv = s;
    j->model = m;
    j->target = x->target;
    j->auth = *x->auth;
    j->user = log_user(x->body);
    j->messages_json = x->messages_json;
    x->messages_json = NULL;
    x->logged = true;
    j->keep_text = !o->stream || j->messages_json;
    j->t_start = x->t_start;
    j->req = r;
    lo_http_req_retain(r);
    j->route = route;
    j->chat = chat;
    j->stream = o->stream;
    j->include_usage = o->stream && o->include_usage;
    j->logprobs = o->logprobs;
    j->n_top = o->n_top;
    random_id(j->id, sizeof j->id, chat ? "chatcmpl-" : "cmpl-");
    j->created = (int64_t)time(NULL);
    j->n_choices = n_choices;
    j->choices = cs;
    if (echo) {
        j->echo = echo;
        j->n_echo = n_prompts;
    }
    for (int i = 0; i < n_choices; i++) {
        cs[i].job = j;
        cs[i].index = i;
        cs[i].prompt_index = i / o->n;
    }
    lo_http_req_on_close(r, on_close, j);
    pthread_mutex_lock(&m->m.mu);
    m->m.requests[chat ? SRV_EP_CHAT : SRV_EP_COMPLETIONS]++;
    pthread_mutex_unlock(&m->m.mu);

    lo_status st = LO_OK;
    char errmsg[512] = "";
    pthread_rwlock_rdlock(&s->sched_lock);
    if (s->scheds_freed) {
        st = LO_ERR_BUSY;
        snprintf(errmsg, sizeof errmsg, "the server is shutting down");
    }
    for (int i = 0; i < n_choices && st == LO_OK; i++) {
        srv_choice *c = &cs[i];
        lo_sched_request q = {0};
        q.prompt = prompts[c->prompt_index].ids;
        q.n_prompt = (int32_t)prompts[c->prompt_index].n;
        q.n_predict = o->max_tokens;
        q.sampling = o->sp;
        /* n choices of one seeded request differ but stay reproducible */
        if (o->seeded) q.sampling.seed = o->sp.seed + (uint64_t)(i % o->n);
        q.ignore_eos = o->ignore_eos;
        q.json_object = o->json_object;
        q.stop = o->stop;
        q.n_stop = o->n_stop;
        q.cb = on_event;
        q.user = c;
        atomic_fetch_add(&j->refs, 1); /* the choice's, dropped at DONE */
        uint64_t id = 0;
        st = lo_sched_submit(m->sched, &q, &id);
        if (st != LO_OK) {
            atomic_fetch_sub(&j->refs, 1);
            snprintf(errmsg, sizeof errmsg, "%s", lo_error_message());
            break;
        }
        pthread_mutex_lock(&j->mu);
        c->id = id;
        c->submitted = true;
        pthread_mutex_unlock(&j->mu);
    }
    uint64_t cancel[MAX_CHOICES];
    int n_cancel = 0;
    pthread_mutex_lock(&j->mu);
    if (st != LO_OK) {
        j->failed = true;
        for (int i = 0; i < n_choices; i++)
            if (cs[i].submitted && !cs[i].done) cancel[n_cancel++] = cs[i].id;
    } else if (j->closed) {
        for (int i = 0; i < n_choices; i++)
            if (cs[i].submitted && !cs[i].done) cancel[n_cancel++] = cs[i].id;
    }
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < n_cancel; i++) lo_sched_cancel(m->sched, cancel[i]);
    pthread_rwlock_unlock(&s->sched_lock);

    if (st != LO_OK) {
        if (st == LO_ERR_BUSY)
            srv_error(s, r, route, s->scheds_freed ? 503 : 429, "rate_limit_error", NULL, "rate_limit_exceeded",
                      "%s; retry shortly", errmsg[0] ? errmsg : "the server is busy");
        else if (st == LO_ERR_RANGE)
            srv_error(s, r, route, 400, "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded",
                      "%s", errmsg);
        else {
            int http = status_http(st);
            srv_error(s, r, route, http, http == 500 ? "server_error" : "invalid_request_error", NULL, NULL, "%s", errmsg);
        }
        job_release(j);
        return;
    }
    if (j->stream) {
        pthread_mutex_lock(&j->mu);
        lo_http_header h[2] = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
        lo_http_stream_begin(r, 200, "text/event-stream; charset=utf-8", h, 2);
        srv_count_status(s, route, 200);
        j->ready = true;
        if (chat) { /* OpenAI's first chunk of each choice carries the role */
            for (int i = 0; i < n_choices; i++) {
                json_t *v = chunk_base(j);
                json_t *ch = json_object();
                json_object_set_new(ch, "index", json_integer(i));
                json_t *delta = json_object();
                json_object_set_new(delta, "role", json_string("assistant"));
                json_object_set_new(delta, "content", json_string(""));
                json_object_set_new(ch, "delta", delta);
                json_object_set_new(ch, "logprobs", json_null());
                json_object_set_new(ch, "finish_reason", json_null());
                emit_choice_locked(j, v, ch);
            }
        } else if (j->echo) {
            for (int i = 0; i < n_choices; i++) {
                json_t *v = chunk_base(j);
                json_t *ch = json_object();
                json_object_set_new(ch, "text", srv_json_str(j->echo[cs[i].prompt_index], strlen(j->echo[cs[i].prompt_index])));
                json_object_set_new(ch, "index", json_integer(i));
                json_object_set_new(ch, "logprobs", json_null());
                json_object_set_new(ch, "finish_reason", json_null());
                json_t *arr = json_array();
                json_array_append_new(arr, ch);
                json_object_set_new(v, "choices", arr);
                emit_locked(j, v);
            }
        }
        if (j->pending_len) {
            if (!lo_http_stream_write(r, j->pending, j->pending_len)) j->closed = true;
            j->pending_len = 0;
        }
        /* every choice may already be done (tiny max_tokens): close the stream now */
        if (j->n_done == j->n_choices) {
            if (j->include_usage) {
                json_t *v = chunk_base(j);
                json_object_set_new(v, "choices", json_array());
                json_object_set_new(v, "usage", usage_json(j));
                emit_locked(j, v);
            }
            static const char done[] = "data: [DONE]\n\n";
            lo_http_stream_write(r, done, sizeof done - 1);
            lo_http_stream_end(r);
        }
        pthread_mutex_unlock(&j->mu);
    }
    job_release(j);
}

/* ---- /v1/chat/completions ---------------------------------------------------------------------- */

/* The conversation as the log keeps it: [{"role","content"}, ...]. */
static char *messages_for_log(const lo_chat_message *msgs, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "role", json_string(msgs[i].role));
        json_object_set_new(o, "content", srv_json_str(msgs[i].content, strlen(msgs[i].content)));
        json_array_append_new(a, o);
    }
    char *text = lo_json_dumps(a);
    json_decref(a);
    return text;
}

void srv_route_chat(lo_server *s, lo_http_req *r, const srv_auth *a) {
    const char *route = "/v1/chat/completions";
    req_ctx x = {.auth = a, .t_start = lo_time_sec()};
    json_t *b = srv_parse_body(s, r, route);
    if (!b) return;
    x.body = b;
    gen_opts o;
    memset(&o, 0, sizeof o);
    lo_chat_message *msgs = NULL;
    char **owned = NULL;
    size_t n_msgs = 0;
    char *text = NULL;
    lo_tokens toks = {0};
    if (!srv_pick(s, r, route, b, &x.target)) goto out;
    srv_model *m = x.target.m;
    const json_t *messages = json_object_get(b, "messages");
    if (!messages) {
        SRV_BAD(s, r, route, "messages", "'messages' is required");
        goto out;
    }
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        SRV_BAD(s, r, route, "messages", "'messages' must be a non-empty array of {role, content} objects");
        goto out;
    }
    n_msgs = json_array_size(messages);
    if (n_msgs > 100000) {
        SRV_BAD(s, r, route, "messages", "too many messages (%zu)", n_msgs);
        goto out;
    }
    msgs = lo_calloc(n_msgs, sizeof *msgs);
    owned = lo_calloc(n_msgs, sizeof *owned);
    if (!msgs || !owned) {
        srv_error(s, r, route, 500, "server_error", NULL, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_msgs; i++) {
        const json_t *mm = json_array_get(messages, i);
        char param[64];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(mm)) {
            SRV_BAD(s, r, route, param, "%s must be an object with 'role' and 'content'", param);
            goto out;
        }
        const json_t *role = json_object_get(mm, "role");
        if (!json_is_string(role)) {
            snprintf(param, sizeof param, "messages[%zu].role", i);
            SRV_BAD(s, r, route, param, "%s is required and must be a string", param);
            goto out;
        }
        const char *rs = json_string_value(role);
        if (strcmp(rs, "developer") == 0) rs = "system"; /* OpenAI's newer name for system */
        if (strcmp(rs, "system") != 0 && strcmp(rs, "user") != 0 && strcmp(rs, "assistant") != 0) {
            snprintf(param, sizeof param, "messages[%zu].role", i);
            SRV_BAD(s, r, route, param, "%s '%.40s' is not supported (system, developer, user, assistant)", param, rs);
            goto out;
        }
        msgs[i].role = rs;
        const json_t *content = json_object_get(mm, "content");
        snprintf(param, sizeof param, "messages[%zu].content", i);
        if (json_is_string(content)) {
            if (strlen(json_string_value(content)) != json_string_length(content)) {
                SRV_BAD(s, r, route, param, "%s contains a NUL character", param);
                goto out;
            }
            msgs[i].content = json_string_value(content);
        } else if (!content || json_is_null(content)) {
            if (strcmp(rs, "assistant") != 0) {
                SRV_BAD(s, r, route, param, "%s is required", param);
                goto out;
            }
            msgs[i].content = "";
        } else if (json_is_array(content)) {
            /* content parts: only text, concatenated */
            size_t total = 0;
            for (size_t k = 0; k < json_array_size(content); k++) {
                const json_t *part = json_array_get(content, k);
                const json_t *type = json_is_object(part) ? json_object_get(part, "type") : NULL;
                const json_t *t = json_is_object(part) ? json_object_get(part, "text") : NULL;
                if (!json_is_string(type) || strcmp(json_string_value(type), "text") != 0 || !json_is_string(t)) {
                    SRV_BAD(s, r, route, param, "%s[%zu]: only parts {\"type\":\"text\",\"text\":...} are supported",
                            param, k);
                    goto out;
                }
                total += json_string_length(t);
            }
            char *cat = lo_malloc(total + 1);
            if (!cat) {
                srv_error(s, r, route, 500, "server_error", NULL, NULL, "out of memory");
                goto out;
            }
            size_t off = 0;
            for (size_t k = 0; k < json_array_size(content); k++) {
                const json_t *t = json_object_get(json_array_get(content, k), "text");
                memcpy(cat + off, json_string_value(t), json_string_length(t));
                off += json_string_length(t);
            }
            cat[off] = '\0';
            owned[i] = cat;
            if (strlen(cat) != off) {
                SRV_BAD(s, r, route, param, "%s contains a NUL character", param);
                goto out;
            }
            msgs[i].content = cat;
        } else {
            SRV_BAD(s, r, route, param, "%s must be a string or an array of text parts", param);
            goto out;
        }
    }
    if (s->logger && s->p.log_content) x.messages_json = messages_for_log(msgs, n_msgs);
    if (!parse_gen_opts(s, r, route, b, m, true, &o)) goto out;
    size_t tlen = 0;
    lo_status st = lo_chat_render(m->tmpl, msgs, (int32_t)n_msgs, true, &text, &tlen);
    if (st != LO_OK) {
        SRV_BAD(s, r, route, "messages", "cannot apply the %s chat template: %s", lo_chat_template_name(m->tmpl),
                lo_error_message());
        goto out;
    }
    st = lo_tokenize(m->tok, text, tlen, true, true, &toks);
    if (st != LO_OK) {
        SRV_BAD(s, r, route, "messages", "cannot tokenize the messages: %s", lo_error_message());
        goto out;
    }
    run_job(s, r, route, &x, true, &o, &toks, 1, NULL);
out:
    req_ctx_end(s, &x);
    lo_tokens_free(&toks);
    lo_free(text);
    if (owned)
        for (size_t i = 0; i < n_msgs; i++) lo_free(owned[i]);
    lo_free(owned);
    lo_free(msgs);
    lo_free(o.bias);
    json_decref(b);
}

/* ---- /v1/completions ---------------------------------------------------------------------------- */

/* A prompt given as token ids: [1, 2, 3]. */
static bool ids_prompt(lo_server *s, lo_http_req *r, const char *route, srv_model *m, const json_t *a, lo_tokens *out) {
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *t = json_array_get(a, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= m->n_vocab) {
            SRV_BAD(s, r, route, "prompt", "prompt token ids must be integers in 0..%d", m->n_vocab - 1);
            return false;
        }
        if (lo_tokens_push(out, (int32_t)json_integer_value(t)) != LO_OK) {
            srv_error(s, r, route, 500, "server_error", NULL, NULL, "out of memory");
            return false;
        }
    }
    return true;
}

void srv_route_completions(lo_server *s, lo_http_req *r, const srv_auth *a) {
    const char *route = "/v1/completions";
    req_ctx x = {.auth = a, .t_start = lo_time_sec()};
    json_t *b = srv_parse_body(s, r, route);
    if (!b) return;
    x.body = b;
    gen_opts o;
    memset(&o, 0, sizeof o);
    lo_tokens *prompts = NULL;
    char **echo = NULL;
    int n_prompts = 0;
    if (!srv_pick(s, r, route, b, &x.target)) goto out;
    srv_model *m = x.target.m;
    const json_t *prompt = json_object_get(b, "prompt");
    if (!prompt) {
        SRV_BAD(s, r, route, "prompt", "'prompt' is required");
        goto out;
    }
    if (!parse_gen_opts(s, r, route, b, m, false, &o)) goto out;
    /* forms: "text" | ["text", ...] | [id, ...] | [[id, ...], ...] */
    size_t np = 1;
    bool ids_form = false;
    if (json_is_string(prompt)) {
        np = 1;
    } else if (json_is_array(prompt) && json_array_size(prompt) > 0) {
        const json_t *first = json_array_get(prompt, 0);
        if (json_is_integer(first)) {
            ids_form = true;
            np = 1;
        } else {
            np = json_array_size(prompt);
        }
    } else {
        SRV_BAD(s, r, route, "prompt", "'prompt' must be a string, an array of strings, or token ids");
        goto out;
    }
    if (np > MAX_CHOICES) {
        SRV_BAD(s, r, route, "prompt", "at most %d prompts per request", MAX_CHOICES);
        goto out;
    }
    prompts = lo_calloc(np, sizeof *prompts);
    if (o.echo) echo = lo_calloc(np, sizeof *echo);
    if (!prompts || (o.echo && !echo)) {
        srv_error(s, r, route, 500, "server_error", NULL, NULL, "out of memory");
        goto out;
    }
    n_prompts = (int)np;
    for (size_t p = 0; p < np; p++) {
        const json_t *pe = json_is_string(prompt) ? prompt : ids_form ? prompt : json_array_get(prompt, p);
        if (json_is_string(pe)) {
            const char *txt = json_string_value(pe);
            size_t len = json_string_length(pe);
            if (lo_tokenize(m->tok, txt, len, true, true, &prompts[p]) != LO_OK) {
                SRV_BAD(s, r, route, "prompt", "cannot tokenize the prompt: %s", lo_error_message());
                goto out;
            }
            if (echo) echo[p] = lo_strndup(txt, len);
        } else if (json_is_array(pe)) {
            if (!ids_prompt(s, r, route, m, pe, &prompts[p])) goto out;
            if (echo) {
                size_t tl = 0;
                if (lo_detokenize(m->tok, prompts[p].ids, prompts[p].n, false, false, &echo[p], &tl) != LO_OK)
                    echo[p] = lo_strdup("");
            }
        } else {
            SRV_BAD(s, r, route, "prompt", "prompt[%zu] must be a string or an array of token ids", p);
            goto out;
        }
        if (echo && !echo[p]) {
            srv_error(s, r, route, 500, "server_error", NULL, NULL, "out of memory");
            goto out;
        }
    }
    if (s->logger && s->p.log_content && json_is_string(prompt)) {
        /* a text prompt is logged as one user message */
        lo_chat_message msg = {.role = "user", .content = json_string_value(prompt)};
        x.messages_json = messages_for_log(&msg, 1);
    }
    run_job(s, r, route, &x, false, &o, prompts, n_prompts, echo);
    echo = NULL; /* run_job owns it */
out:
    req_ctx_end(s, &x);
    free_strs(echo, n_prompts);
    if (prompts)
        for (int p = 0; p < n_prompts; p++) lo_tokens_free(&prompts[p]);
    lo_free(prompts);
    lo_free(o.bias);
    json_decref(b);
}

/* ---- /v1/embeddings --------------------------------------------------------------------------- */

static char *base64_floats(const float *v, int32_t n) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t nb = (size_t)n * 4;
    const unsigned char *p = (const unsigned char *)v; /* little-endian floats, as the client decodes */
    char *out = lo_malloc((nb + 2) / 3 * 4 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < nb; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16;
        if (i + 1 < nb) x |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < nb) x |= p[i + 2];
        out[o++] = tbl[(x >> 18) & 63];
        out[o++] = tbl[(x >> 12) & 63];
        out[o++] = i + 1 < nb ? tbl[(x >> 6) & 63] : '=';
        out[o++] = i + 2 < nb ? tbl[x & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

void srv_route_embeddings(lo_server *s, lo_http_req *r, const srv_auth *a) {
    const char *route = "/v1/embeddings";
    req_ctx x = {.auth = a, .t_start = lo_time_sec()};
    json_t *b = srv_parse_body(s, r, route);
    if (!b) return;
    x.body = b;
    lo_tokens *inputs = NULL;
    size_t n_inputs = 0;
    float *vec = NULL;
    json_t *data = NULL;
    if (!srv_pick(s, r, route, b, &x.target)) goto out;
    srv_model *m = x.target.m;
    if (!s->p.embeddings) {
        SRV_BAD(s, r, route, NULL, "this server was started without embeddings");
        goto out;
    }
    const json_t *input = json_object_get(b, "input");
    if (!input) {
        SRV_BAD(s, r, route, "input", "'input' is required");
        goto out;
    }
    const json_t *ef = json_object_get(b, "encoding_format");
    bool b64 = false;
    if (ef && !json_is_null(ef)) {
        if (!json_is_string(ef) || (strcmp(json_string_value(ef), "float") != 0 && strcmp(json_string_value(ef), "base64") != 0)) {
            SRV_BAD(s, r, route, "encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
            goto out;
        }
        b64 = strcmp(json_string_value(ef), "base64") == 0;
    }
    const json_t *dims = json_object_get(b, "dimensions");
    if (dims && !json_is_null(dims) && (!json_is_integer(dims) || json_integer_value(dims) != m->n_embd)) {
        SRV_BAD(s, r, route, "dimensions", "this model's embeddings have exactly %d dimensions", m->n_embd);
        goto out;
    }
    bool ids_form = false;
    if (json_is_string(input)) {
        n_inputs = 1;
    } else if (json_is_array(input) && json_array_size(input) > 0) {
        ids_form = json_is_integer(json_array_get(input, 0));
        n_inputs = ids_form ? 1 : json_array_size(input);
    } else {
        SRV_BAD(s, r, route, "input", "'input' must be a non-empty string, array of strings, or token ids");
        goto out;
    }
    if (n_inputs > 2048) {
        SRV_BAD(s, r, route, "input", "at most 2048 inputs per request");
        goto out;
    }
    inputs = lo_calloc(n_inputs, sizeof *inputs);
    vec = lo_malloc((size_t)m->n_embd * sizeof *vec);
    if (!inputs || !vec) {
        srv_error(s, r, route, 500, "server_error", NULL, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_inputs; i++) {
        const json_t *e = json_is_string(input) || ids_form ? input : json_array_get(input, i);
        if (json_is_string(e)) {
            if (lo_tokenize(m->tok, json_string_value(e), json_string_length(e), true, true, &inputs[i]) != LO_OK) {
                SRV_BAD(s, r, route, "input", "cannot tokenize input[%zu]: %s", i, lo_error_message());
                goto out;
            }
        } else if (json_is_array(e)) {
            if (!ids_prompt(s, r, route, m, e, &inputs[i])) goto out;
        } else {
            SRV_BAD(s, r, route, "input", "input[%zu] must be a string or an array of token ids", i);
            goto out;
        }
        if (inputs[i].n == 0) {
            SRV_BAD(s, r, route, "input", "input[%zu] is empty", i);
            goto out;
        }
        if (inputs[i].n > m->n_ctx) {
            srv_error(s, r, route, 400, "invalid_request_error", "input", "context_length_exceeded",
                      "input[%zu] has %" PRId64 " tokens; this model takes at most %d", i, inputs[i].n, m->n_ctx);
            goto out;
        }
    }
    pthread_mutex_lock(&m->m.mu);
    m->m.requests[SRV_EP_EMBEDDINGS]++;
    pthread_mutex_unlock(&m->m.mu);
    data = json_array();
    int64_t total = 0;
    for (size_t i = 0; i < n_inputs; i++) {
        pthread_rwlock_rdlock(&s->sched_lock);
        lo_status st = s->scheds_freed ? LO_ERR_BUSY
                                       : lo_sched_embed(m->sched, inputs[i].ids, (int32_t)inputs[i].n,
                                                        lo_model_pooling(m->model), true, vec);
        pthread_rwlock_unlock(&s->sched_lock);
        if (st != LO_OK) {
            int http = status_http(st);
            srv_error(s, r, route, http, http == 500 ? "server_error" : "invalid_request_error", "input", NULL,
                      "embedding input[%zu]: %s", i, s->scheds_freed ? "the server is shutting down" : lo_error_message());
            goto out;
        }
        total += inputs[i].n;
        json_t *o = json_object();
        json_object_set_new(o, "object", json_string("embedding"));
        json_object_set_new(o, "index", json_integer((json_int_t)i));
        if (b64) {
            char *enc = base64_floats(vec, m->n_embd);
            json_object_set_new(o, "embedding", json_string(enc ? enc : ""));
            lo_free(enc);
        } else {
            json_t *arr = json_array();
            for (int32_t k = 0; k < m->n_embd; k++) json_array_append_new(arr, json_real(vec[k]));
            json_object_set_new(o, "embedding", arr);
        }
        json_array_append_new(data, o);
    }
    pthread_mutex_lock(&m->m.mu);
    m->m.prompt_tokens += (uint64_t)total;
    pthread_mutex_unlock(&m->m.mu);
    json_t *v = json_object();
    json_object_set_new(v, "object", json_string("list"));
    json_object_set_new(v, "data", data);
    data = NULL;
    json_object_set_new(v, "model", json_string(m->name));
    json_t *u = json_object();
    json_object_set_new(u, "prompt_tokens", json_integer(total));
    json_object_set_new(u, "total_tokens", json_integer(total));
    json_object_set_new(v, "usage", u);
    req_ctx_log(s, &x, "ok", total); /* embeddings have no response id: the log makes one */
    srv_json(s, r, route, 200, v);
out:
    req_ctx_end(s, &x);
    json_decref(data);
    if (inputs)
        for (size_t i = 0; i < n_inputs; i++) lo_tokens_free(&inputs[i]);
    lo_free(inputs);
    lo_free(vec);
    json_decref(b);
}
