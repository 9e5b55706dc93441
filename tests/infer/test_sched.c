/* The continuous-batching scheduler on stories260K: results equal lo_generate's (alone and
 * with several requests batched), queueing and LO_ERR_BUSY, cancel, submit errors, chunked
 * prefill that never starves a generating sequence, shutdown with work in flight, embed. */
#include <math.h>
#include <pthread.h>

#include "check.h"
#include "infer/infer_internal.h"
#include "llmops/llmops.h"

static lo_model *model;
static lo_context *solo_ctx;

/* What one request received, written by the scheduler thread, read after DONE. */
typedef struct rec {
    int32_t ids[512];
    int64_t steps[512]; /* step of each real TOKEN event */
    int32_t n_ids;
    char text[8192];
    size_t len;
    int n_done, n_after_done, n_flush;
    lo_sched_event done;
    char message[256];
    /* cancel from the callback after this many tokens (0 = never) */
    int cancel_after;
    lo_sched *s;
    uint64_t id;
    /* block the scheduler thread in the first TOKEN callback until released (queue test) */
    bool block_first;
    /* counted-allocation bytes at the first TOKEN; whether they changed at a later one */
    bool watch_alloc, alloc_changed;
    size_t live0;
} rec;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool blocked_in_cb, release_cb;

static void on_event(void *user, const lo_sched_event *ev) {
    rec *r = user;
    pthread_mutex_lock(&mu);
    if (r->n_done) r->n_after_done++;
    if (ev->kind == LO_SCHED_TOKEN) {
        if (ev->id >= 0 && r->n_ids < 512) {
            r->steps[r->n_ids] = ev->step;
            r->ids[r->n_ids++] = ev->id;
        }
        if (ev->id < 0) r->n_flush++;
        if (r->watch_alloc && r->n_ids == 1 && ev->id >= 0) r->live0 = lo_alloc_live_bytes();
        else if (r->watch_alloc && lo_alloc_live_bytes() != r->live0) r->alloc_changed = true;
        if (r->len + ev->len < sizeof r->text) {
            memcpy(r->text + r->len, ev->text, ev->len);
            r->len += ev->len;
            r->text[r->len] = '\0';
        }
        if (r->block_first && r->n_ids == 1) {
            blocked_in_cb = true;
            pthread_cond_broadcast(&cv);
            while (!release_cb) pthread_cond_wait(&cv, &mu);
        }
        bool cancel = r->cancel_after > 0 && r->n_ids == r->cancel_after;
        pthread_mutex_unlock(&mu);
        if (cancel) lo_sched_cancel(r->s, r->id); /* allowed from a callback */
        return;
    }
    r->done = *ev;
    if (ev->message) snprintf(r->message, sizeof r->message, "%s", ev->message);
    r->done.message = NULL;
    r->n_done++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_done(rec *r) {
    pthread_mutex_lock(&mu);
    while (r->n_done == 0) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void wait_tokens(rec *r, int n) {
    for (;;) {
        pthread_mutex_lock(&mu);
        bool ok = r->n_ids >= n || r->n_done;
        pthread_mutex_unlock(&mu);
        if (ok) return;
        usleep(200);
    }
}

static void tokenize(const char *text, lo_tokens *out) {
    out->n = 0;
    CHECK_OK(lo_tokenize(lo_model_tokenizer(model), text, strlen(text), true, true, out));
}

static lo_sched_request request(const lo_tokens *p, int32_t n_predict, rec *r) {
    lo_sched_request q = {.prompt = p->ids, .n_prompt = (int32_t)p->n, .n_predict = n_predict, .cb = on_event, .user = r};
    lo_sampler_params_default(&q.sampling);
    q.sampling.temperature = 0;
    return q;
}

static lo_status submit(lo_sched *s, const lo_sched_request *q, rec *r) {
    r->s = s;
    /* the id is known only after submit returns: hold the callback's lock meanwhile */
    pthread_mutex_lock(&mu);
    lo_status st = lo_sched_submit(s, q, &r->id);
    pthread_mutex_unlock(&mu);
    return st;
}

/* lo_generate alone on the solo context with the same settings. */
static void solo(const lo_sched_request *q, lo_generate_result *out) {
    lo_generate_params gp;
    lo_generate_params_default(&gp);
    gp.n_predict = q->n_predict < 0 ? lo_context_n_ctx(solo_ctx) : q->n_predict;
    gp.sampling = q->sampling;
    gp.ignore_eos = q->ignore_eos;
    gp.stop = q->stop;
    gp.n_stop = q->n_stop;
    CHECK_OK(lo_generate(model, solo_ctx, q->prompt, q->n_prompt, &gp, out));
}

/* r equals the solo result exactly: ids, streamed text, finish, counts. */
static void check_same(const rec *r, const lo_generate_result *g, const char *what) {
    CHECK_INT_EQ(r->n_done, 1);
    CHECK_INT_EQ(r->n_after_done, 0);
    CHECK_INT_EQ(r->done.status, LO_OK);
    CHECK_MSG(r->n_ids == g->n_completion && memcmp(r->ids, g->ids, (size_t)g->n_completion * 4) == 0,
              "%s: %d ids vs %d", what, r->n_ids, g->n_completion);
    CHECK_INT_EQ(r->done.n_completion, g->n_completion);
    CHECK_INT_EQ(r->done.finish, g->finish);
    CHECK_MSG(r->len == g->text_len && memcmp(r->text, g->text, g->text_len) == 0, "%s: text \"%s\" vs \"%s\"", what,
              r->text, g->text);
}

static lo_sched *make(int32_t n_parallel, int32_t n_batch, int32_t max_queue) {
    lo_sched_params sp;
    lo_sched_params_default(&sp);
    sp.n_parallel = n_parallel;
    sp.n_ctx = 256;
    sp.n_batch = n_batch;
    sp.n_threads = 1;
    sp.max_queue = max_queue;
    lo_sched *s = NULL;
    CHECK_OK(lo_sched_create(model, &sp, &s));
    return s;
}

static void test_single(void) {
    lo_sched *s = make(2, 64, 8);
    if (!s) return;
    CHECK(lo_sched_model(s) == model);
    lo_tokens p = {0};
    tokenize("Once upon a time", &p);
    /* greedy, to a length, and with a stop string */
    static rec r1, r2, r3;
    lo_sched_request q1 = request(&p, 60, &r1);
    r1.watch_alloc = true; /* the test thread only waits meanwhile */
    CHECK_OK(submit(s, &q1, &r1));
    wait_done(&r1);
    lo_generate_result g = {0};
    solo(&q1, &g);
    check_same(&r1, &g, "greedy");
    CHECK(r1.n_ids > 10);
    CHECK(!r1.alloc_changed); /* steps allocate nothing */
    CHECK_INT_EQ(r1.done.n_prompt, (int32_t)p.n);
    CHECK(r1.done.t_total_ms >= r1.done.t_first_token_ms && r1.done.t_first_token_ms >= r1.done.t_queue_ms);
    CHECK(r1.done.t_first_token_ms > 0);
    /* a stop string taken from the middle of the greedy text */
    char stop[8] = {0};
    if (g.text_len > 20) memcpy(stop, g.text + 15, 4);
    const char *stops[] = {"zzzq", stop};
    lo_generate_result_free(&g);
    lo_sched_request q2 = request(&p, 60, &r2);
    q2.stop = stops;
    q2.n_stop = 2;
    CHECK_OK(submit(s, &q2, &r2));
    wait_done(&r2);
    solo(&q2, &g);
    check_same(&r2, &g, "stop");
    CHECK_INT_EQ(r2.done.finish, LO_FINISH_STOP);
    lo_generate_result_free(&g);
    /* seeded temperature sampling, penalties and logprobs: same seed, same output */
    lo_sched_request q3 = request(&p, 80, &r3);
    q3.sampling.temperature = 1.0f;
    q3.sampling.seed = 1234;
    q3.sampling.repeat_penalty = 1.3f;
    q3.sampling.n_probs = 3;
    q3.ignore_eos = true;
    CHECK_OK(submit(s, &q3, &r3));
    wait_done(&r3);
    solo(&q3, &g);
    check_same(&r3, &g, "seeded");
    CHECK_INT_EQ(r3.n_ids, 80);
    CHECK_INT_EQ(r3.done.finish, LO_FINISH_LENGTH);
    lo_generate_result_free(&g);
    lo_sched_stats st;
    lo_sched_stats_get(s, &st);
    CHECK_INT_EQ(st.n_requests, 3);
    CHECK_INT_EQ(st.n_active, 0);
    CHECK_INT_EQ(st.n_parallel, 2);
    CHECK_INT_EQ(st.n_ctx, 256);
    CHECK_INT_EQ(st.n_prompt_tokens, 3 * (int64_t)p.n);
    CHECK_INT_EQ(st.n_gen_tokens, r1.n_ids + r2.n_ids + r3.n_ids);
    lo_sched_free(s);
    lo_tokens_free(&p);
}

/* Six requests on four slots: batched, queued, each equal to its solo result. */
static void test_concurrent(void) {
    lo_sched *s = make(4, 16, 8);
    if (!s) return;
    const char *texts[] = {"Once upon a time", "The sky", "Lily and Tom went to the park to play with a big red ball",
                           "A cat", "Ben had a dog. The dog was", "One day"};
    const int32_t n_pred[] = {70, 40, 100, 25, 120, 55};
    enum { N = 6 };
    static rec r[N];
    lo_tokens p[N] = {{0}};
    lo_sched_request q[N];
    for (int i = 0; i < N; i++) {
        tokenize(texts[i], &p[i]);
        q[i] = request(&p[i], n_pred[i], &r[i]);
        if (i == 5) {
            q[i].sampling.temperature = 0.9f;
            q[i].sampling.seed = 77;
        }
    }
    for (int i = 0; i < N; i++) CHECK_OK(submit(s, &q[i], &r[i]));
    for (int i = 0; i < N; i++) wait_done(&r[i]);
    int overlapped = 0;
    for (int i = 0; i < N; i++) {
        lo_generate_result g = {0};
        solo(&q[i], &g);
        char what[32];
        snprintf(what, sizeof what, "request %d", i);
        check_same(&r[i], &g, what);
        lo_generate_result_free(&g);
        /* batching really happened: steps shared with another request */
        for (int j = 0; j < N; j++)
            if (j != i && r[i].n_ids && r[j].n_ids && r[i].steps[0] <= r[j].steps[r[j].n_ids - 1] &&
                r[j].steps[0] <= r[i].steps[r[i].n_ids - 1])
                overlapped++;
    }
    CHECK(overlapped > 0);
    /* the last two waited for a slot */
    CHECK(r[4].done.t_queue_ms >= 0 && r[5].done.t_queue_ms > r[0].done.t_queue_ms);
    lo_sched_free(s);
    for (int i = 0; i < N; i++) lo_tokens_free(&p[i]);
}

/* One slot, queue of two: the scheduler thread is held inside the first request's callback
 * so the queue fills deterministically. */
static void test_queue_busy(void) {
    lo_sched *s = make(1, 16, 2);
    if (!s) return;
    lo_tokens p = {0};
    tokenize("The sky", &p);
    static rec a, b, c, d;
    lo_sched_request qa = request(&p, 20, &a), qb = request(&p, 20, &b), qc = request(&p, 20, &c),
                     qd = request(&p, 20, &d);
    a.block_first = true;
    blocked_in_cb = release_cb = false;
    CHECK_OK(submit(s, &qa, &a));
    pthread_mutex_lock(&mu);
    while (!blocked_in_cb) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    CHECK_OK(submit(s, &qb, &b));
    CHECK_OK(submit(s, &qc, &c));
    lo_sched_stats st;
    lo_sched_stats_get(s, &st);
    CHECK_INT_EQ(st.n_queued, 2);
    CHECK_INT_EQ(submit(s, &qd, &d), LO_ERR_BUSY);
    CHECK(strstr(lo_error_message(), "queue is full") != NULL);
    pthread_mutex_lock(&mu);
    release_cb = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    wait_done(&a);
    wait_done(&b);
    wait_done(&c);
    lo_generate_result g = {0};
    solo(&qa, &g);
    check_same(&a, &g, "a");
    check_same(&b, &g, "b");
    check_same(&c, &g, "c");
    lo_generate_result_free(&g);
    CHECK_INT_EQ(d.n_done, 0);
    /* FIFO: b got the slot before c */
    CHECK(b.steps[0] < c.steps[0]);
    lo_sched_free(s);
    lo_tokens_free(&p);
}

static void test_cancel(void) {
    lo_sched *s = make(1, 16, 4);
    if (!s) return;
    lo_tokens p = {0};
    tokenize("Once upon a time", &p);
    static rec a, b, c;
    lo_sched_request qa = request(&p, 200, &a), qb = request(&p, 30, &b), qc = request(&p, 30, &c);
    qa.ignore_eos = true;
    a.cancel_after = 5; /* the callback cancels its own request at its 5th token */
    CHECK_OK(submit(s, &qa, &a));
    CHECK_OK(submit(s, &qb, &b)); /* queued behind a */
    wait_done(&a);
    CHECK_INT_EQ(a.done.finish, LO_FINISH_ABORT);
    CHECK_INT_EQ(a.done.status, LO_OK);
    CHECK_INT_EQ(a.n_ids, 5); /* left before the next step */
    CHECK_INT_EQ(a.done.n_completion, 5);
    CHECK_INT_EQ(a.done.step, a.steps[4] + 1);
    CHECK_INT_EQ(a.n_done, 1);
    /* the slot went to b, whose result is unaffected by what a left behind */
    wait_done(&b);
    lo_generate_result g = {0};
    solo(&qb, &g);
    check_same(&b, &g, "after cancel");
    lo_generate_result_free(&g);
    /* cancelling a queued request: DONE abort with nothing generated */
    static rec hold;
    lo_sched_request qh = request(&p, 200, &hold);
    qh.ignore_eos = true;
    hold.block_first = true;
    blocked_in_cb = release_cb = false;
    CHECK_OK(submit(s, &qh, &hold));
    pthread_mutex_lock(&mu);
    while (!blocked_in_cb) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    CHECK_OK(submit(s, &qc, &c));
    lo_sched_cancel(s, c.id);
    lo_sched_cancel(s, hold.id);
    lo_sched_cancel(s, 999999); /* unknown: no-op */
    pthread_mutex_lock(&mu);
    release_cb = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    wait_done(&c);
    wait_done(&hold);
    CHECK_INT_EQ(c.done.finish, LO_FINISH_ABORT);
    CHECK_INT_EQ(c.n_ids, 0);
    CHECK_INT_EQ(hold.done.finish, LO_FINISH_ABORT);
    CHECK_INT_EQ(hold.n_ids, 1);
    lo_sched_cancel(s, a.id); /* finished: no-op */
    lo_sched_free(s);
    CHECK_INT_EQ(a.n_done + b.n_done + c.n_done + hold.n_done, 4);
    lo_tokens_free(&p);
}

static void test_errors(void) {
    lo_sched *s = make(2, 16, 4);
    if (!s) return;
    lo_tokens p = {0};
    tokenize("The sky", &p);
    static rec r;
    lo_sched_request q = request(&p, 256, &r);
    CHECK_INT_EQ(submit(s, &q, &r), LO_ERR_RANGE);
    char want[64];
    snprintf(want, sizeof want, "%d tokens + 256", (int)p.n);
    CHECK(strstr(lo_error_message(), want) && strstr(lo_error_message(), "256 per slot"));
    q.n_predict = 256 - (int32_t)p.n; /* exactly fills the context: accepted */
    q.ignore_eos = true;
    CHECK_OK(submit(s, &q, &r));
    q.n_predict = 10;
    q.n_prompt = 0;
    CHECK_INT_EQ(submit(s, &q, &r), LO_ERR_INVALID);
    q.n_prompt = (int32_t)p.n;
    q.sampling.top_p = -1;
    CHECK_INT_EQ(submit(s, &q, &r), LO_ERR_INVALID);
    q.sampling.top_p = 0.9f;
    q.sampling.temperature = NAN;
    CHECK_INT_EQ(submit(s, &q, &r), LO_ERR_INVALID);
    q.sampling.temperature = 0;
    lo_logit_bias bad = {.token = 100000, .bias = 1};
    q.sampling.logit_bias = &bad;
    q.sampling.n_logit_bias = 1;
    CHECK_INT_EQ(submit(s, &q, &r), LO_ERR_INVALID);
    q.sampling.n_logit_bias = 0;
    q.n_predict = -2;
    CHECK_INT_EQ(submit(s, &q, &r), LO_ERR_INVALID);
    q.n_predict = 5;
    int32_t badtok = 70000;
    q.prompt = &badtok;
    q.n_prompt = 1;
    CHECK_INT_EQ(submit(s, &q, &r), LO_ERR_INVALID);
    float v[8];
    CHECK_INT_EQ(lo_sched_embed(s, p.ids, (int32_t)p.n, LO_POOLING_LAST, true, v), LO_ERR_UNSUPPORTED);
    wait_done(&r);
    CHECK_INT_EQ(r.n_ids, 256 - (int32_t)p.n);
    CHECK_INT_EQ(r.done.finish, LO_FINISH_LENGTH);
    lo_sched_free(s);
    lo_sched_free(NULL);
    /* max_queue 0: only as many requests as free slots */
    s = make(2, 16, 0);
    if (s) {
        static rec z[3];
        lo_sched_request qz = request(&p, 5, &z[0]);
        qz.user = &z[0];
        CHECK_OK(submit(s, &qz, &z[0]));
        qz.user = &z[1];
        CHECK_OK(submit(s, &qz, &z[1]));
        qz.user = &z[2];
        CHECK_INT_EQ(submit(s, &qz, &z[2]), LO_ERR_BUSY);
        wait_done(&z[0]);
        wait_done(&z[1]);
        CHECK_INT_EQ(z[0].n_ids, 5);
        lo_sched_free(s);
    }
    /* bad parameters */
    lo_sched_params sp;
    lo_sched_params_default(&sp);
    sp.n_parallel = 8;
    sp.n_batch = 4;
    lo_sched *t = NULL;
    CHECK_INT_EQ(lo_sched_create(model, &sp, &t), LO_ERR_RANGE);
    CHECK(t == NULL);
    lo_tokens_free(&p);
}

/* n_batch 8: a 100-token prompt needs many steps of prefill, during which the generating
 * request still gets one token every step. */
static void test_chunked_prefill(void) {
    lo_sched *s = make(2, 8, 4);
    if (!s) return;
    lo_tokens pa = {0}, pb = {0};
    tokenize("Once upon a time", &pa);
    tokenize("Lily and Tom went to the park. They saw a big dog. The dog was brown and it had a red ball. "
             "Lily wanted to play with the dog, but Tom was scared. He said, \"No, Lily, the dog",
             &pb);
    CHECK(pb.n > 40);
    static rec a, b;
    lo_sched_request qa = request(&pa, 120, &a), qb = request(&pb, 30, &b);
    qa.ignore_eos = true;
    CHECK_OK(submit(s, &qa, &a));
    wait_tokens(&a, 3);
    CHECK_OK(submit(s, &qb, &b));
    wait_done(&b);
    wait_done(&a);
    /* b's prefill took at least ceil(n / (8 - 1)) steps */
    int64_t need = ((int64_t)pb.n + 6) / 7;
    CHECK(b.n_ids > 0);
    int64_t b_first = b.n_ids ? b.steps[0] : 0;
    /* a's token steps are consecutive: never skipped while b prefilled */
    bool consecutive = true;
    int in_prefill = 0;
    for (int i = 1; i < a.n_ids; i++) {
        if (a.steps[i] != a.steps[i - 1] + 1) consecutive = false;
        if (a.steps[i] < b_first && a.steps[i] >= b_first - need) in_prefill++;
    }
    CHECK(consecutive);
    CHECK_MSG(in_prefill >= need - 1, "a got %d tokens during b's %lld prefill steps", in_prefill, (long long)need);
    lo_generate_result g = {0};
    solo(&qa, &g);
    check_same(&a, &g, "decoding during prefill");
    lo_generate_result_free(&g);
    solo(&qb, &g);
    check_same(&b, &g, "chunked prompt");
    lo_generate_result_free(&g);
    lo_sched_free(s);
    lo_tokens_free(&pa);
    lo_tokens_free(&pb);
}

/* Freed with requests active and queued: each gets exactly one DONE, the last event. */
static void test_free_in_flight(void) {
    lo_sched *s = make(2, 16, 16);
    if (!s) return;
    lo_tokens p = {0};
    tokenize("Once upon a time", &p);
    enum { N = 7 };
    static rec r[N];
    for (int i = 0; i < N; i++) {
        lo_sched_request q = request(&p, 200, &r[i]);
        q.ignore_eos = true;
        CHECK_OK(submit(s, &q, &r[i]));
    }
    wait_tokens(&r[0], 2);
    lo_sched_free(s);
    for (int i = 0; i < N; i++) {
        CHECK_INT_EQ(r[i].n_done, 1);
        CHECK_INT_EQ(r[i].n_after_done, 0);
        CHECK_INT_EQ(r[i].done.finish, LO_FINISH_ABORT);
        CHECK_INT_EQ(r[i].done.n_completion, r[i].n_ids);
    }
    CHECK(r[0].n_ids >= 2 && r[0].n_ids < 200);
    CHECK_INT_EQ(r[N - 1].n_ids, 0);
    lo_tokens_free(&p);
}

/* lo_sched_embed between steps equals lo_embed on a context of its own. */
static void test_embed(void) {
    lo_sched_params sp;
    lo_sched_params_default(&sp);
    sp.n_parallel = 2;
    sp.n_ctx = 128;
    sp.n_threads = 1;
    sp.embeddings = true;
    lo_sched *s = NULL;
    CHECK_OK(lo_sched_create(model, &sp, &s));
    if (!s) return;
    lo_tokens p = {0};
    tokenize("The cat sat on the mat", &p);
    static rec r;
    lo_sched_request q = request(&p, 60, &r);
    q.ignore_eos = true;
    CHECK_OK(submit(s, &q, &r)); /* generation goes on while embedding */
    const int32_t n_embd = lo_model_hparams(model)->n_embd;
    float *v1 = calloc((size_t)n_embd, sizeof(float)), *v2 = calloc((size_t)n_embd, sizeof(float));
    CHECK_OK(lo_sched_embed(s, p.ids, (int32_t)p.n, LO_POOLING_MEAN, true, v1));
    lo_context_params cp = {.n_ctx = 128, .n_seq = 1, .n_batch = 512, .n_threads = 1, .embeddings = true};
    lo_context *c = NULL;
    CHECK_OK(lo_context_create(model, &cp, &c));
    if (c) CHECK_OK(lo_embed(model, c, 0, p.ids, (int32_t)p.n, LO_POOLING_MEAN, true, v2));
    double norm = 0, maxd = 0;
    for (int32_t i = 0; i < n_embd; i++) {
        norm += (double)v1[i] * v1[i];
        double d = fabs((double)v1[i] - v2[i]);
        if (d > maxd) maxd = d;
    }
    CHECK(fabs(norm - 1) < 1e-4);
    CHECK_MSG(maxd < 1e-5, "max diff %g", maxd);
    CHECK_INT_EQ(lo_sched_embed(s, p.ids, 0, LO_POOLING_MEAN, true, v1), LO_ERR_INVALID);
    wait_done(&r);
    lo_generate_result g = {0};
    solo(&q, &g);
    check_same(&r, &g, "generation beside embeddings");
    lo_generate_result_free(&g);
    lo_context_free(c);
    free(v1);
    free(v2);
    lo_sched_free(s);
    lo_tokens_free(&p);
}

/* Four threads submit and cancel at once; every request ends exactly once and those left
 * alone equal the solo result. */
enum { T_THREADS = 4, T_EACH = 6 };
static rec t_rec[T_THREADS][T_EACH];
static lo_tokens t_prompt;
static lo_sched *t_sched;

static void *submitter(void *arg) {
    int k = (int)(intptr_t)arg;
    for (int i = 0; i < T_EACH; i++) {
        rec *r = &t_rec[k][i];
        lo_sched_request q = request(&t_prompt, 12 + i, r);
        if (submit(t_sched, &q, r) != LO_OK) continue;
        if (i % 3 == 1) lo_sched_cancel(t_sched, r->id);
    }
    return NULL;
}

static void test_threads(void) {
    t_sched = make(3, 16, 64);
    if (!t_sched) return;
    tokenize("The dog", &t_prompt);
    pthread_t th[T_THREADS];
    for (int k = 0; k < T_THREADS; k++) pthread_create(&th[k], NULL, submitter, (void *)(intptr_t)k);
    for (int k = 0; k < T_THREADS; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < T_THREADS; k++)
        for (int i = 0; i < T_EACH; i++) wait_done(&t_rec[k][i]);
    lo_sched_stats st;
    lo_sched_stats_get(t_sched, &st);
    lo_sched_free(t_sched);
    CHECK_INT_EQ(st.n_requests, T_THREADS * T_EACH);
    for (int i = 0; i < T_EACH; i++) {
        lo_sched_request q = request(&t_prompt, 12 + i, NULL);
        lo_generate_result g = {0};
        solo(&q, &g);
        for (int k = 0; k < T_THREADS; k++) {
            rec *r = &t_rec[k][i];
            CHECK_INT_EQ(r->n_done, 1);
            CHECK_INT_EQ(r->n_after_done, 0);
            if (i % 3 != 1) check_same(r, &g, "threads");
            else CHECK(r->done.finish == LO_FINISH_ABORT || r->n_ids == g.n_completion);
        }
        lo_generate_result_free(&g);
    }
    lo_tokens_free(&t_prompt);
}

int main(void) {
    char path[1024];
    CHECK_OK(lo_model_load(check_shared("models/stories260K.gguf", path, sizeof path), &model));
    if (!model) return check_done();
    lo_context_params cp = {.n_ctx = 256, .n_seq = 1, .n_batch = 512, .n_threads = 1};
    CHECK_OK(lo_context_create(model, &cp, &solo_ctx));
    test_single();
    test_concurrent();
    test_queue_busy();
    test_cancel();
    test_errors();
    test_chunked_prefill();
    test_free_in_flight();
    test_threads();
    test_embed();
    lo_context_free(solo_ctx);
    lo_model_free(model);
    return check_done();
}
