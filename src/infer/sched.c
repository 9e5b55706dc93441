/* The continuous-batching scheduler: one thread owns a context of n_parallel sequences and
 * runs steps of one forward each (every generating slot's next token + chunks of prompts
 * in prefill), sampling per slot and streaming events; requests queue FIFO for slots. */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "infer/infer_internal.h"
#include "infer/json_prefix.h"

/* A request, one lo_malloc'd block from submit until its DONE:
 *   [sreq][prompt: n_prompt int32][bias: n_logit_bias][stop ptrs: n_stop][stop bytes] */
typedef struct sreq {
    struct sreq *next; /* queue link */
    uint64_t id;
    int32_t *prompt;
    int32_t n_prompt;
    int32_t n_max; /* tokens to generate at most (n_predict resolved against n_ctx) */
    lo_sampler_params sampling; /* logit_bias points into the block; repeat_last_n resolved */
    bool ignore_eos;
    bool json_object; /* JSON mode */
    const char **stop;
    int32_t n_stop;
    size_t max_stop;
    lo_sched_cb cb;
    void *user;
    double t_submit;
    bool cancelled; /* under mu, while queued */
} sreq;

/* A sequence of the context. Owned by the scheduler thread. */
typedef struct slot {
    sreq *r;             /* NULL = free */
    bool cancel;         /* copied from the shared cancel flag between steps */
    bool fresh;          /* assigned this round; set up before the next step */
    bool in_batch;       /* has tokens in the current step's batch */
    int32_t out_i;       /* batch row holding this slot's logits this step, or -1 */
    int32_t n_prefilled; /* prompt tokens decoded */
    int32_t take;        /* prompt tokens in the step being built */
    int32_t n_gen;       /* tokens generated (an ending EOG token is not counted) */
    int32_t next_tok;    /* the last sampled token, decoded in the next step */
    uint64_t order;      /* assignment order: prompts prefill first come, first served */
    double t_assign, t_first;
    lo_sampler *smp;
    lo_textstream ts;
    lo_jsonp json; /* JSON mode: the text so far, as a JSON prefix */
} slot;

/* A lo_sched_embed call waiting for the scheduler thread; lives on the caller's stack. */
typedef struct embed_job {
    struct embed_job *next;
    const int32_t *ids;
    int32_t n_ids;
    lo_pooling pooling;
    bool normalize;
    float *out;
    lo_status st;
    bool done;
    char msg[512];
} embed_job;

struct lo_sched {
    const lo_model *m;
    const lo_tokenizer *tok;
    lo_context *ctx;
    int32_t n_parallel, n_ctx, n_batch, max_queue, n_vocab;
    int32_t embd_seq; /* the sequence lo_sched_embed uses, or -1 */
    size_t max_piece; /* longest vocabulary entry (text buffer sizing) */
    int32_t *eog;     /* end-of-generation ids, for ignore_eos */
    int32_t n_eog;
    /* JSON mode: every token's piece (control tokens empty), made once at create */
    char *pieces;          /* concatenated */
    int64_t *piece_off;    /* [n_vocab + 1] */
    float *masked;         /* [n_vocab] scratch: the logits with invalid tokens at -inf */
    slot *slots;
    int32_t *prefill; /* [n_parallel] scratch: slots in prefill, by order */
    int32_t *b_tok, *b_pos, *b_seq; /* [n_batch] the step's batch */
    bool *b_logits;
    uint64_t n_assigned;
    int32_t n_busy; /* slots with a request (scheduler thread) */
    int64_t n_steps;
    int64_t ev_step; /* step index events carry: the step being processed, or between steps
                      * the index of the next one */
    /* counters since the last sync, merged into stats under mu */
    int64_t d_prompt, d_gen;
    char errbuf[512];

    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* wakes the scheduler thread */
    pthread_cond_t cv_embed; /* an embed job finished */
    /* ---- under mu ---- */
    sreq *q_head, *q_tail;
    int32_t n_queued;
    uint64_t *active_id; /* [n_parallel] request in each slot (0 = none) */
    bool *cancel_flag;   /* [n_parallel] */
    embed_job *jobs;
    bool stopping;
    uint64_t next_id;
    lo_sched_stats stats;
};

void lo_sched_params_default(lo_sched_params *p) {
    memset(p, 0, sizeof *p);
    p->n_parallel = 4;
    p->n_batch = 512;
    p->max_queue = 64;
}

const lo_model *lo_sched_model(const lo_sched *s) { return s->m; }

static double ms_since(double t0, double t1) { return (t1 - t0) * 1e3; }

/* ---- events ------------------------------------------------------------------------ */

static void emit_token(lo_sched *s, slot *sl, int32_t id, const char *text, size_t len, bool with_probs) {
    sreq *r = sl->r;
    if (sl->t_first == 0) sl->t_first = lo_time_sec();
    lo_sched_event ev = {.kind = LO_SCHED_TOKEN, .id = id, .text = text, .len = len, .logprob = NAN,
                         .step = s->ev_step};
    if (with_probs && r->sampling.n_probs > 0) {
        ev.logprob = lo_sampler_last_logprob(sl->smp);
        ev.top = lo_sampler_top_probs(sl->smp, &ev.n_top);
    }
    r->cb(r->user, &ev);
}

/* DONE for a request that never reached a slot (cancelled while queued, or shutdown). */
static void done_unassigned(lo_sched *s, sreq *r, lo_status st, const char *msg) {
    double now = lo_time_sec();
    lo_sched_event ev = {.kind = LO_SCHED_DONE, .id = -1, .text = "", .status = st, .message = msg,
                         .finish = LO_FINISH_ABORT, .n_prompt = r->n_prompt, .t_queue_ms = ms_since(r->t_submit, now),
                         .t_total_ms = ms_since(r->t_submit, now), .step = s->ev_step, .logprob = NAN};
    pthread_mutex_lock(&s->mu);
    s->stats.n_requests++;
    pthread_mutex_unlock(&s->mu);
    r->cb(r->user, &ev);
    lo_free(r);
}

/* Ends the slot's request: the held-back tail (unless aborted or failed), DONE, and the
 * slot's sequence cleared for the next request. */
static void finish(lo_sched *s, slot *sl, lo_status st, const char *msg, lo_finish_reason reason) {
    sreq *r = sl->r;
    size_t from, len;
    if (lo_textstream_flush(&sl->ts, &from, &len) && st == LO_OK && reason != LO_FINISH_ABORT)
        emit_token(s, sl, -1, sl->ts.text + from, len, false);
    double now = lo_time_sec();
    lo_sched_event ev = {.kind = LO_SCHED_DONE,
                         .id = -1,
                         .text = "",
                         .logprob = NAN,
                         .status = st,
                         .message = st != LO_OK ? msg : NULL,
                         .finish = reason,
                         .n_prompt = r->n_prompt,
                         .n_completion = sl->n_gen,
                         .t_queue_ms = ms_since(r->t_submit, sl->t_assign),
                         .t_first_token_ms = sl->t_first > 0 ? ms_since(r->t_submit, sl->t_first) : 0,
                         .t_total_ms = ms_since(r->t_submit, now),
                         .step = s->ev_step};
    /* whoever sees the DONE sees the stats with this request ended */
    pthread_mutex_lock(&s->mu);
    s->stats.n_requests++;
    s->stats.n_active = s->n_busy - 1;
    s->stats.n_prompt_tokens += s->d_prompt;
    s->stats.n_gen_tokens += s->d_gen;
    s->stats.n_steps = s->n_steps;
    s->d_prompt = s->d_gen = 0;
    pthread_mutex_unlock(&s->mu);
    r->cb(r->user, &ev);
    lo_context_seq_clear(s->ctx, (int32_t)(sl - s->slots), 0, -1);
    lo_free(r);
    sl->r = NULL;
    lo_textstream_init(&sl->ts, sl->ts.text, sl->ts.cap, NULL, 0); /* no pointer into the freed request */
    sl->fresh = sl->cancel = false;
    s->n_busy--;
}

/* The thread-local message of the last failure, kept for the DONE event. */
static const char *keep_error(lo_sched *s) {
    snprintf(s->errbuf, sizeof s->errbuf, "%s", lo_error_message());
    return s->errbuf;
}

/* ---- a slot's request starts --------------------------------------------------------- */

static lo_status slot_start(lo_sched *s, slot *sl) {
    sreq *r = sl->r;
    lo_status st = lo_sampler_reconfigure(sl->smp, &r->sampling);
    if (st != LO_OK) return st;
    if (r->ignore_eos)
        for (int32_t i = 0; i < s->n_eog; i++)
            if ((st = lo_sampler_add_bias(sl->smp, s->eog[i], -INFINITY)) != LO_OK) return st;
    /* the prompt joins the penalty history, as in lo_generate */
    for (int32_t i = 0; i < r->n_prompt; i++) lo_sampler_accept(sl->smp, r->prompt[i]);
    /* held-back text is shorter than the longest stop string plus a character, and one
     * piece is added at a time: grow the buffer now rather than inside a step */
    size_t need = r->max_stop + s->max_piece + 16;
    if (sl->ts.cap < need) {
        char *nb = lo_realloc(sl->ts.text, need);
        if (!nb) return LO_ERR_NOMEM;
        sl->ts.text = nb;
        sl->ts.cap = need;
    }
    lo_textstream_init(&sl->ts, sl->ts.text, sl->ts.cap, r->stop, r->n_stop);
    sl->n_prefilled = sl->n_gen = 0;
    sl->next_tok = -1;
    sl->t_first = 0;
    lo_jsonp_init(&sl->json);
    return LO_OK;
}

/* ---- one step ---------------------------------------------------------------------- */

/* Samples the slot's next token from its logits, streams it and ends the request when it
 * is done. */
static void slot_sample(lo_sched *s, slot *sl) {
    sreq *r = sl->r;
    const float *logits = lo_context_logits(s->ctx, sl->out_i);
    if (!logits) {
        finish(s, sl, LO_ERR_INTERNAL, "scheduler: the context returned no logits", LO_FINISH_ABORT);
        return;
    }
    int32_t id;
    if (r->json_object) {
        /* JSON mode: ban every token whose piece cannot continue the text as a JSON object
         * (empty pieces and control tokens included; end-of-generation only once complete,
         * which never holds here: the slot finishes as soon as the object closes) */
        const bool complete = lo_jsonp_complete(&sl->json);
        int32_t n_ok = 0;
        for (int32_t t = 0; t < s->n_vocab; t++) {
            const int64_t a = s->piece_off[t], n = s->piece_off[t + 1] - a;
            bool ok;
            if (lo_tokenizer_is_eog(s->tok, t)) ok = complete && !r->ignore_eos;
            else if (n == 0) ok = false;
            else {
                lo_jsonp j = sl->json;
                ok = lo_jsonp_feed(&j, s->pieces + a, (size_t)n);
            }
            s->masked[t] = ok ? logits[t] : -INFINITY;
            n_ok += ok;
        }
        if (n_ok == 0) {
            finish(s, sl, LO_ERR_INVALID, "scheduler: JSON mode: no token of the vocabulary continues the JSON text",
                   LO_FINISH_ABORT);
            return;
        }
        logits = s->masked;
    }
    lo_status st = lo_sampler_sample(sl->smp, logits, &id);
    if (st != LO_OK) {
        finish(s, sl, st, keep_error(s), LO_FINISH_ABORT);
        return;
    }
    if (r->json_object && !lo_tokenizer_is_eog(s->tok, id))
        lo_jsonp_feed(&sl->json, s->pieces + s->piece_off[id], (size_t)(s->piece_off[id + 1] - s->piece_off[id]));
    lo_sampler_accept(sl->smp, id);
    if (!r->ignore_eos && lo_tokenizer_is_eog(s->tok, id)) {
        finish(s, sl, LO_OK, NULL, LO_FINISH_STOP);
        return;
    }
    sl->n_gen++;
    s->d_gen++;
    const bool last = sl->n_gen == r->n_max;
    size_t from, len;
    bool stopped;
    if ((st = lo_textstream_push(&sl->ts, s->tok, id, last, &from, &len, &stopped)) != LO_OK) {
        finish(s, sl, st, keep_error(s), LO_FINISH_ABORT);
        return;
    }
    emit_token(s, sl, id, sl->ts.text + from, len, true);
    lo_textstream_compact(&sl->ts);
    if (stopped || (r->json_object && lo_jsonp_complete(&sl->json))) finish(s, sl, LO_OK, NULL, LO_FINISH_STOP);
    else if (last) finish(s, sl, LO_OK, NULL, LO_FINISH_LENGTH);
    else sl->next_tok = id;
}

/* One forward: every generating slot's pending token first (so none is ever starved), then
 * prompt chunks of slots in prefill, oldest assignment first, up to n_batch tokens.
 *
 * Batch invariance (docs/infer.md): a prompt is cut into chunks of a fixed size,
 * n_batch - n_parallel + 1 (the room the oldest prefilling slot always has, whatever the
 * other slots are doing), so it splits the same way alone and under load; a slot whose
 * whole chunk does not fit waits for the next step. One-token chunks go right after the
 * decode tokens: a token that is the only one of its sequence in the batch takes the
 * one-token kernels only at the head of the batch (lo_model_decode's rule). */
static void step(lo_sched *s) {
    int32_t nb = 0, n_pre = 0, n_prompt_tokens = 0;
    for (int32_t i = 0; i < s->n_parallel; i++) {
        slot *sl = &s->slots[i];
        sl->out_i = -1;
        sl->in_batch = false;
        sl->take = 0;
        if (!sl->r) continue;
        if (sl->n_prefilled < sl->r->n_prompt) {
            /* insertion by assignment order (n_parallel is small) */
            int32_t j = n_pre++;
            while (j > 0 && s->slots[s->prefill[j - 1]].order > sl->order) {
                s->prefill[j] = s->prefill[j - 1];
                j--;
            }
            s->prefill[j] = i;
            continue;
        }
        /* generating: the token sampled last step goes at the next position */
        s->b_tok[nb] = sl->next_tok;
        s->b_pos[nb] = sl->r->n_prompt + sl->n_gen - 1;
        s->b_seq[nb] = i;
        s->b_logits[nb] = true;
        sl->out_i = nb++;
        sl->in_batch = true;
    }
    const int32_t chunk = s->n_batch - s->n_parallel + 1;
    int32_t room = s->n_batch - nb;
    for (int32_t k = 0; k < n_pre; k++) {
        slot *sl = &s->slots[s->prefill[k]];
        int32_t take = sl->r->n_prompt - sl->n_prefilled;
        if (take > chunk) take = chunk;
        if (take <= room) sl->take = take, room -= take;
    }
    for (int pass = 0; pass < 2; pass++)
        for (int32_t k = 0; k < n_pre; k++) {
            slot *sl = &s->slots[s->prefill[k]];
            const int32_t take = sl->take;
            if (!take || (take == 1) != (pass == 0)) continue;
            LO_ASSERT(nb + take <= s->n_batch);
            for (int32_t t = 0; t < take; t++) {
                s->b_tok[nb + t] = sl->r->prompt[sl->n_prefilled + t];
                s->b_pos[nb + t] = sl->n_prefilled + t;
                s->b_seq[nb + t] = s->prefill[k];
                s->b_logits[nb + t] = false;
            }
            sl->n_prefilled += take;
            nb += take;
            n_prompt_tokens += take;
            sl->in_batch = true;
            if (sl->n_prefilled == sl->r->n_prompt) {
                s->b_logits[nb - 1] = true; /* the prompt's last position gives the first token */
                sl->out_i = nb - 1;
            }
        }
    if (nb == 0) return;
    lo_batch batch = {.n_tokens = nb, .token = s->b_tok, .pos = s->b_pos, .seq = s->b_seq, .logits = s->b_logits};
    lo_status st = lo_model_decode(s->ctx, &batch);
    s->ev_step = s->n_steps++;
    if (st != LO_OK) {
        lo_error_wrap(st, "scheduler: decoding a step of %d tokens", nb);
        const char *msg = keep_error(s);
        for (int32_t i = 0; i < s->n_parallel; i++)
            if (s->slots[i].r && s->slots[i].in_batch) finish(s, &s->slots[i], st, msg, LO_FINISH_ABORT);
        return;
    }
    s->d_prompt += n_prompt_tokens;
    for (int32_t i = 0; i < s->n_parallel; i++)
        if (s->slots[i].r && s->slots[i].out_i >= 0) slot_sample(s, &s->slots[i]);
}

/* ---- the scheduler thread ------------------------------------------------------------ */

/* Under mu: what the scheduler thread changed made visible (freed slots, counters). */
static void publish_locked(lo_sched *s) {
    for (int32_t i = 0; i < s->n_parallel; i++)
        if (!s->slots[i].r) {
            s->active_id[i] = 0;
            s->cancel_flag[i] = false;
        }
    s->stats.n_active = s->n_busy;
    s->stats.n_queued = s->n_queued;
    s->stats.n_prompt_tokens += s->d_prompt;
    s->stats.n_gen_tokens += s->d_gen;
    s->stats.n_steps = s->n_steps;
    s->d_prompt = s->d_gen = 0;
}

/* Under mu: slots and queue synchronised with the shared state, new requests placed in
 * free slots (FIFO); requests cancelled while queued come back in *dropped. */
static void sync_locked(lo_sched *s, sreq **dropped, embed_job **jobs) {
    publish_locked(s);
    for (int32_t i = 0; i < s->n_parallel; i++)
        if (s->slots[i].r && s->cancel_flag[i]) s->slots[i].cancel = true;
    /* requests cancelled while queued leave the queue now, wherever they are in it */
    for (sreq **pp = &s->q_head; *pp;) {
        sreq *r = *pp;
        if (r->cancelled) {
            *pp = r->next;
            s->n_queued--;
            r->next = *dropped;
            *dropped = r;
        } else {
            pp = &r->next;
        }
    }
    s->q_tail = NULL;
    for (sreq *r = s->q_head; r; r = r->next) s->q_tail = r;
    double now = lo_time_sec();
    for (int32_t i = 0; i < s->n_parallel && s->q_head; i++) {
        slot *sl = &s->slots[i];
        if (sl->r) continue;
        sreq *r = s->q_head;
        s->q_head = r->next;
        if (!s->q_head) s->q_tail = NULL;
        s->n_queued--;
        r->next = NULL;
        sl->r = r;
        sl->fresh = true;
        sl->cancel = false;
        sl->order = ++s->n_assigned;
        sl->t_assign = now;
        sl->t_first = 0;
        sl->n_gen = sl->n_prefilled = 0;
        s->active_id[i] = r->id;
        s->cancel_flag[i] = false;
        s->n_busy++;
    }
    *jobs = s->jobs;
    s->jobs = NULL;
    s->stats.n_active = s->n_busy;
    s->stats.n_queued = s->n_queued;
}

static void run_embed_jobs(lo_sched *s, embed_job *jobs) {
    for (embed_job *j = jobs; j; j = j->next) {
        j->st = lo_embed(s->m, s->ctx, s->embd_seq, j->ids, j->n_ids, j->pooling, j->normalize, j->out);
        if (j->st != LO_OK) snprintf(j->msg, sizeof j->msg, "%s", lo_error_message());
    }
    if (!jobs) return;
    pthread_mutex_lock(&s->mu);
    for (embed_job *j = jobs, *next; j; j = next) {
        next = j->next; /* the caller may return (and its job leave the stack) once done */
        j->done = true;
    }
    pthread_cond_broadcast(&s->cv_embed);
    pthread_mutex_unlock(&s->mu);
}

static void *sched_main(void *arg) {
    lo_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stopping && !s->q_head && s->n_busy == 0 && !s->jobs) pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping) break;
        sreq *dropped = NULL;
        embed_job *jobs = NULL;
        sync_locked(s, &dropped, &jobs);
        pthread_mutex_unlock(&s->mu);
        s->ev_step = s->n_steps;

        for (sreq *r = dropped, *next; r; r = next) {
            next = r->next;
            done_unassigned(s, r, LO_OK, NULL);
        }
        for (int32_t i = 0; i < s->n_parallel; i++) {
            slot *sl = &s->slots[i];
            if (!sl->r) continue;
            if (sl->cancel) {
                finish(s, sl, LO_OK, NULL, LO_FINISH_ABORT);
            } else if (sl->fresh) {
                sl->fresh = false;
                lo_status st = slot_start(s, sl);
                if (st != LO_OK) finish(s, sl, st, keep_error(s), LO_FINISH_ABORT);
                else if (sl->r->n_max == 0) finish(s, sl, LO_OK, NULL, LO_FINISH_LENGTH);
            }
        }
        run_embed_jobs(s, jobs);
        step(s);
        pthread_mutex_lock(&s->mu);
        publish_locked(s);
    }
    /* shutdown: every request still here gets its DONE (abort) */
    sreq *queued = s->q_head;
    s->q_head = s->q_tail = NULL;
    s->n_queued = 0;
    embed_job *jobs = s->jobs;
    s->jobs = NULL;
    for (embed_job *j = jobs; j; j = j->next) {
        j->st = LO_ERR_BUSY;
        snprintf(j->msg, sizeof j->msg, "scheduler: shutting down");
        j->done = true;
    }
    pthread_cond_broadcast(&s->cv_embed);
    pthread_mutex_unlock(&s->mu);
    s->ev_step = s->n_steps;
    for (int32_t i = 0; i < s->n_parallel; i++)
        if (s->slots[i].r) finish(s, &s->slots[i], LO_OK, NULL, LO_FINISH_ABORT);
    for (sreq *r = queued, *next; r; r = next) {
        next = r->next;
        done_unassigned(s, r, LO_OK, NULL);
    }
    pthread_mutex_lock(&s->mu);
    publish_locked(s);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- lifetime ---------------------------------------------------------------------- */

/* Every token's piece for JSON mode (lo_token_to_piece without specials: control tokens
 * are empty, hence never allowed), and the masked-logits scratch. */
static lo_status build_pieces(lo_sched *s) {
    s->piece_off = lo_calloc((size_t)s->n_vocab + 1, sizeof *s->piece_off);
    s->masked = lo_calloc((size_t)s->n_vocab, sizeof *s->masked);
    if (!s->piece_off || !s->masked) return LO_ERR_NOMEM;
    size_t len = 0, cap = 0;
    for (int32_t id = 0; id < s->n_vocab; id++) {
        s->piece_off[id] = (int64_t)len;
        lo_status st = lo_token_to_piece(s->tok, id, false, &s->pieces, &len, &cap);
        if (st != LO_OK) return st;
    }
    s->piece_off[s->n_vocab] = (int64_t)len;
    if (!s->pieces) { /* an empty vocabulary text: keep a valid pointer */
        s->pieces = lo_malloc(1);
        if (!s->pieces) return LO_ERR_NOMEM;
    }
    return LO_OK;
}

static void sched_destroy(lo_sched *s) {
    if (s->slots)
        for (int32_t i = 0; i < s->n_parallel; i++) {
            lo_sampler_free(s->slots[i].smp);
            lo_free(s->slots[i].ts.text);
        }
    lo_free(s->slots);
    lo_free(s->prefill);
    lo_free(s->b_tok);
    lo_free(s->b_pos);
    lo_free(s->b_seq);
    lo_free(s->b_logits);
    lo_free(s->eog);
    lo_free(s->pieces);
    lo_free(s->piece_off);
    lo_free(s->masked);
    lo_free(s->active_id);
    lo_free(s->cancel_flag);
    lo_context_free(s->ctx);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->cv_embed);
    lo_free(s);
}

lo_status lo_sched_create(const lo_model *m, const lo_sched_params *p, lo_sched **out) {
    *out = NULL;
    lo_sched_params d;
    lo_sched_params_default(&d);
    if (!p) p = &d;
    if (p->n_parallel < 1 || p->n_parallel > 1024)
        return lo_error(LO_ERR_RANGE, "use 1..1024 parallel sequences", "scheduler: n_parallel %d out of range",
                        p->n_parallel);
    const int32_t n_batch = p->n_batch > 0 ? p->n_batch : 512;
    if (n_batch < p->n_parallel)
        return lo_error(LO_ERR_RANGE, "every generating sequence needs a place in each step: raise n_batch",
                        "scheduler: n_batch %d is below n_parallel %d", n_batch, p->n_parallel);
    if (p->n_ctx < 0 || p->n_threads < 0 || p->max_queue < 0)
        return lo_error(LO_ERR_RANGE, NULL, "scheduler: n_ctx %d / n_threads %d / max_queue %d must not be negative",
                        p->n_ctx, p->n_threads, p->max_queue);
    if (lo_model_is_encoder(m) && !p->embeddings)
        return lo_error(LO_ERR_UNSUPPORTED, "create the scheduler with embeddings = true",
                        "scheduler: the model is an encoder (%s): it embeds and cannot generate",
                        lo_model_hparams(m)->arch);

    lo_sched *s = lo_calloc(1, sizeof *s);
    if (!s) return LO_ERR_NOMEM;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->cv_embed, NULL);
    s->m = m;
    s->tok = lo_model_tokenizer(m);
    s->n_parallel = p->n_parallel;
    s->n_batch = n_batch;
    s->max_queue = p->max_queue;
    s->n_vocab = lo_model_hparams(m)->n_vocab;
    const bool encoder = lo_model_is_encoder(m);
    /* generating slots 0..n_parallel-1, then the embedding sequence (an encoder only embeds) */
    s->embd_seq = !p->embeddings ? -1 : encoder ? 0 : p->n_parallel;
    s->next_id = 1;

    lo_context_params cp = {.n_ctx = p->n_ctx, .n_seq = encoder ? 1 : p->n_parallel + (p->embeddings ? 1 : 0), .n_batch = n_batch,
                            .n_threads = p->n_threads, .embeddings = p->embeddings};
    lo_status st = lo_context_create(m, &cp, &s->ctx);
    if (st != LO_OK) {
        lo_error_wrap(st, "scheduler");
        sched_destroy(s);
        return st;
    }
    s->n_ctx = lo_context_n_ctx(s->ctx);

    for (int32_t id = 0; id < s->n_vocab; id++) {
        size_t len = 0;
        if (lo_tokenizer_token_text(s->tok, id, &len) && len > s->max_piece) s->max_piece = len;
        if (lo_tokenizer_is_eog(s->tok, id)) s->n_eog++;
    }
    s->eog = lo_calloc((size_t)(s->n_eog > 0 ? s->n_eog : 1), sizeof *s->eog);
    s->slots = lo_calloc((size_t)s->n_parallel, sizeof *s->slots);
    s->prefill = lo_calloc((size_t)s->n_parallel, sizeof *s->prefill);
    s->active_id = lo_calloc((size_t)s->n_parallel, sizeof *s->active_id);
    s->cancel_flag = lo_calloc((size_t)s->n_parallel, sizeof *s->cancel_flag);
    s->b_tok = lo_calloc((size_t)n_batch, sizeof *s->b_tok);
    s->b_pos = lo_calloc((size_t)n_batch, sizeof *s->b_pos);
    s->b_seq = lo_calloc((size_t)n_batch, sizeof *s->b_seq);
    s->b_logits = lo_calloc((size_t)n_batch, sizeof *s->b_logits);
    if (!s->eog || !s->slots || !s->prefill || !s->active_id || !s->cancel_flag || !s->b_tok || !s->b_pos ||
        !s->b_seq || !s->b_logits) {
        sched_destroy(s);
        return LO_ERR_NOMEM;
    }
    for (int32_t id = 0, k = 0; id < s->n_vocab; id++)
        if (lo_tokenizer_is_eog(s->tok, id)) s->eog[k++] = id;
    if ((st = build_pieces(s)) != LO_OK) {
        sched_destroy(s);
        return st;
    }

    /* per-slot sampler sized for the largest history (the context) and every logprob */
    lo_sampler_params sp;
    lo_sampler_params_default(&sp);
    sp.repeat_last_n = s->n_ctx;
    sp.n_probs = s->n_vocab;
    sp.seed = 0;
    const size_t text_cap = 4 * s->max_piece + 256;
    for (int32_t i = 0; i < s->n_parallel; i++) {
        if ((st = lo_sampler_create(&sp, s->n_vocab, &s->slots[i].smp)) != LO_OK) {
            sched_destroy(s);
            return st;
        }
        char *buf = lo_malloc(text_cap);
        if (!buf) {
            sched_destroy(s);
            return LO_ERR_NOMEM;
        }
        lo_textstream_init(&s->slots[i].ts, buf, text_cap, NULL, 0);
    }
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
        sched_destroy(s);
        return lo_error(LO_ERR_INTERNAL, NULL, "scheduler: cannot start its thread");
    }
    s->started = true;
    *out = s;
    return LO_OK;
}

void lo_sched_free(lo_sched *s) {
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    sched_destroy(s);
}

/* ---- the public calls from other threads ------------------------------------------ */

lo_status lo_sched_submit(lo_sched *s, const lo_sched_request *q, uint64_t *out_id) {
    if (out_id) *out_id = 0;
    if (!q || !q->prompt || q->n_prompt < 1)
        return lo_error(LO_ERR_INVALID, "give at least one token (e.g. BOS)", "scheduler: the prompt is empty");
    if (!q->cb) return lo_error(LO_ERR_INVALID, NULL, "scheduler: the request has no callback");
    if (lo_model_is_encoder(s->m))
        return lo_error(LO_ERR_UNSUPPORTED, "use lo_sched_embed", "scheduler: an encoder model cannot generate");
    if (q->n_predict < -1)
        return lo_error(LO_ERR_INVALID, "use -1 for 'until the context is full'", "scheduler: n_predict %d is invalid",
                        q->n_predict);
    const int32_t n_predict = q->n_predict > 0 ? q->n_predict : 0;
    if ((int64_t)q->n_prompt + n_predict > s->n_ctx)
        return lo_error(LO_ERR_RANGE, "shorten the prompt, lower max tokens, or serve with a larger context",
                        "scheduler: prompt of %d tokens + %d to predict exceed the context of %d per slot", q->n_prompt,
                        n_predict, s->n_ctx);
    for (int32_t i = 0; i < q->n_prompt; i++)
        if (q->prompt[i] < 0 || q->prompt[i] >= s->n_vocab)
            return lo_error(LO_ERR_INVALID, NULL, "scheduler: prompt token %d (id %d) is outside the vocabulary (0..%d)",
                            i, q->prompt[i], s->n_vocab - 1);
    if (q->n_stop < 0 || (q->n_stop > 0 && !q->stop))
        return lo_error(LO_ERR_INVALID, NULL, "scheduler: bad stop list");
    size_t stop_bytes = 0, max_stop = 0;
    for (int32_t i = 0; i < q->n_stop; i++) {
        if (!q->stop[i]) return lo_error(LO_ERR_INVALID, NULL, "scheduler: stop string %d is NULL", i);
        size_t l = strlen(q->stop[i]);
        stop_bytes += l + 1;
        if (l > max_stop) max_stop = l;
    }
    lo_sampler_params sp = q->sampling;
    if (sp.repeat_last_n < 0 && sp.repeat_last_n != -1)
        return lo_error(LO_ERR_INVALID, "use -1 for the context size", "scheduler: repeat_last_n %d is invalid",
                        sp.repeat_last_n);
    /* a window beyond the context sees the same tokens as one of the context's size */
    if (sp.repeat_last_n == -1 || sp.repeat_last_n > s->n_ctx) sp.repeat_last_n = s->n_ctx;
    if (sp.n_logit_bias < 0 || (sp.n_logit_bias > 0 && !sp.logit_bias))
        return lo_error(LO_ERR_INVALID, NULL, "scheduler: bad logit bias list");
    if (lo_sampler_params_check(&sp, s->n_vocab) != LO_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", lo_error_message());
        return lo_error(LO_ERR_INVALID, "fix the sampling parameters", "scheduler: %s", msg);
    }

    /* one block: the request, then its copies (each part aligned for its type) */
    size_t off_prompt = (sizeof(sreq) + 7) & ~(size_t)7;
    size_t off_bias = (off_prompt + (size_t)q->n_prompt * sizeof(int32_t) + 7) & ~(size_t)7;
    size_t off_stop = (off_bias + (size_t)sp.n_logit_bias * sizeof(lo_logit_bias) + 7) & ~(size_t)7;
    size_t off_bytes = off_stop + (size_t)q->n_stop * sizeof(char *);
    uint8_t *blk = lo_malloc(off_bytes + stop_bytes);
    if (!blk) return LO_ERR_NOMEM;
    sreq *r = (sreq *)blk;
    memset(r, 0, sizeof *r);
    r->prompt = (int32_t *)(blk + off_prompt);
    memcpy(r->prompt, q->prompt, (size_t)q->n_prompt * sizeof(int32_t));
    r->n_prompt = q->n_prompt;
    r->n_max = q->n_predict < 0 ? s->n_ctx - q->n_prompt + 1 : q->n_predict;
    r->sampling = sp;
    if (sp.n_logit_bias > 0) {
        lo_logit_bias *b = (lo_logit_bias *)(blk + off_bias);
        memcpy(b, sp.logit_bias, (size_t)sp.n_logit_bias * sizeof *b);
        r->sampling.logit_bias = b;
    } else {
        r->sampling.logit_bias = NULL;
    }
    r->ignore_eos = q->ignore_eos;
    r->json_object = q->json_object;
    r->stop = (const char **)(blk + off_stop);
    char *sb = (char *)(blk + off_bytes);
    for (int32_t i = 0; i < q->n_stop; i++) {
        size_t l = strlen(q->stop[i]);
        memcpy(sb, q->stop[i], l + 1);
        r->stop[i] = sb;
        sb += l + 1;
    }
    r->n_stop = q->n_stop;
    r->max_stop = max_stop;
    r->cb = q->cb;
    r->user = q->user;
    r->t_submit = lo_time_sec();

    pthread_mutex_lock(&s->mu);
    /* queued requests that free slots are about to take are not waiting */
    int32_t n_free = s->n_parallel - s->stats.n_active;
    if (s->stopping || s->n_queued >= s->max_queue + (n_free > 0 ? n_free : 0)) {
        bool stopping = s->stopping;
        int32_t nq = s->n_queued;
        pthread_mutex_unlock(&s->mu);
        lo_free(r);
        if (stopping) return lo_error(LO_ERR_BUSY, NULL, "scheduler: shutting down");
        return lo_error(LO_ERR_BUSY, "retry later, or serve with a larger queue",
                        "scheduler: the queue is full (%d requests waiting for %d slots)", nq, s->n_parallel);
    }
    r->id = s->next_id++;
    if (s->q_tail) s->q_tail->next = r;
    else s->q_head = r;
    s->q_tail = r;
    s->n_queued++;
    s->stats.n_queued = s->n_queued;
    if (out_id) *out_id = r->id;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return LO_OK;
}

void lo_sched_cancel(lo_sched *s, uint64_t id) {
    if (!s || id == 0) return;
    pthread_mutex_lock(&s->mu);
    bool found = false;
    for (int32_t i = 0; i < s->n_parallel && !found; i++)
        if (s->active_id[i] == id) {
            s->cancel_flag[i] = true;
            found = true;
        }
    for (sreq *r = s->q_head; r && !found; r = r->next)
        if (r->id == id) {
            r->cancelled = true;
            found = true;
        }
    if (found) pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

lo_status lo_sched_embed(lo_sched *s, const int32_t *ids, int32_t n_ids, lo_pooling pooling, bool normalize,
                         float *out) {
    if (s->embd_seq < 0)
        return lo_error(LO_ERR_UNSUPPORTED, "create the scheduler with embeddings = true (serve --embeddings)",
                        "scheduler: embeddings are not enabled");
    if (!ids || n_ids < 1 || !out) return lo_error(LO_ERR_INVALID, NULL, "scheduler: nothing to embed");
    embed_job j = {.ids = ids, .n_ids = n_ids, .pooling = pooling, .normalize = normalize, .out = out};
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return lo_error(LO_ERR_BUSY, NULL, "scheduler: shutting down");
    }
    /* appended, so jobs run in arrival order */
    embed_job **pp = &s->jobs;
    while (*pp) pp = &(*pp)->next;
    *pp = &j;
    pthread_cond_signal(&s->cv);
    while (!j.done) pthread_cond_wait(&s->cv_embed, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (j.st != LO_OK) return lo_error(j.st, NULL, "%s", j.msg);
    return LO_OK;
}

void lo_sched_stats_get(lo_sched *s, lo_sched_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    out->n_queued = s->n_queued;
    out->n_parallel = s->n_parallel;
    out->n_ctx = s->n_ctx;
    pthread_mutex_unlock(&s->mu);
}
