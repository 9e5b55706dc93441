/* JSON mode in the scheduler (lo_sched_request.json_object) on stories260K, a story model
 * that never writes JSON by itself: for several seeds and temperatures the text parses
 * as a JSON object (finish stop) or, cut by n_predict, is a valid prefix (finish length).
 * Also reports the cost of the mask in ms per step; LO_JSON_BENCH_MODEL names another
 * model (e.g. a 32000-token vocabulary) to measure. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "infer/infer_internal.h"
#include "infer/json_prefix.h"
#include "llmops/llmops.h"

typedef struct rec {
    char text[16384];
    size_t len;
    int n_tok;
    bool done;
    lo_sched_event ev;
    size_t live0;        /* counted-allocation bytes at the first token */
    bool alloc_changed;  /* they changed at a later token: the step allocated */
} rec;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void on_event(void *user, const lo_sched_event *ev) {
    rec *r = user;
    pthread_mutex_lock(&mu);
    if (ev->kind == LO_SCHED_TOKEN) {
        if (ev->id >= 0 && ++r->n_tok == 1) r->live0 = lo_alloc_live_bytes();
        else if (ev->id >= 0 && lo_alloc_live_bytes() != r->live0) r->alloc_changed = true;
        if (r->len + ev->len < sizeof r->text) {
            memcpy(r->text + r->len, ev->text, ev->len);
            r->len += ev->len;
            r->text[r->len] = '\0';
        }
    } else {
        r->ev = *ev;
        r->ev.message = NULL;
        r->done = true;
        pthread_cond_broadcast(&cv);
    }
    pthread_mutex_unlock(&mu);
}

static void run(lo_sched *s, const lo_tokens *prompt, bool json, float temp, uint64_t seed, int n_predict, rec *r) {
    memset(r, 0, sizeof *r);
    lo_sched_request q = {.prompt = prompt->ids, .n_prompt = (int32_t)prompt->n, .n_predict = n_predict,
                          .json_object = json, .cb = on_event, .user = r};
    lo_sampler_params_default(&q.sampling);
    q.sampling.temperature = temp;
    q.sampling.seed = seed;
    uint64_t id;
    CHECK_OK(lo_sched_submit(s, &q, &id));
    pthread_mutex_lock(&mu);
    while (!r->done) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

/* A scheduler on m (one thread) and the prompt "Once upon a time" tokenized for it. */
static lo_sched *start(lo_model *m, int32_t n_parallel, int32_t n_ctx, lo_tokens *prompt) {
    lo_sched_params sp;
    lo_sched_params_default(&sp);
    sp.n_parallel = n_parallel;
    sp.n_ctx = n_ctx;
    sp.n_threads = 1;
    lo_sched *s = NULL;
    CHECK_OK(lo_sched_create(m, &sp, &s));
    CHECK_OK(lo_tokenize(lo_model_tokenizer(m), "Once upon a time", 16, true, false, prompt));
    return s;
}

/* ms per generated token with and without JSON mode (greedy, same prompt). */
static void measure(const char *path, const char *label) {
    lo_model *m = NULL;
    if (lo_model_load(path, &m) != LO_OK) {
        printf("# %s: cannot load %s, not measured\n", label, path);
        return;
    }
    lo_tokens t = {0};
    lo_sched *s = start(m, 1, 512, &t);
    static rec r;
    double ms[2] = {0, 0};
    int toks[2] = {0, 0};
    for (int j = 0; j < 2; j++) {
        double t0 = lo_time_sec();
        run(s, &t, j == 1, 0.8f, 7, 200, &r);
        ms[j] = (lo_time_sec() - t0) * 1e3;
        toks[j] = r.n_tok;
    }
    printf("# %s (n_vocab %d): plain %.3f ms/token (%d tokens), JSON mode %.3f ms/token (%d tokens), "
           "mask ~%.3f ms/step\n",
           label, lo_model_hparams(m)->n_vocab, ms[0] / (toks[0] ? toks[0] : 1), toks[0], ms[1] / (toks[1] ? toks[1] : 1),
           toks[1], ms[1] / (toks[1] ? toks[1] : 1) - ms[0] / (toks[0] ? toks[0] : 1));
    lo_tokens_free(&t);
    lo_sched_free(s);
    lo_model_free(m);
}

int main(void) {
    char path[1024];
    lo_model *model = NULL;
    CHECK_OK(lo_model_load(check_shared("models/stories260K.gguf", path, sizeof path), &model));
    if (!model) return check_done();
    lo_tokens prompt = {0};
    lo_sched *s = start(model, 4, 1024, &prompt);
    static rec r;

    /* unconstrained, the model writes a story, not JSON */
    run(s, &prompt, false, 0.0f, 1, 60, &r);
    CHECK(r.len > 0 && !strchr(r.text, '{'));

    const float temps[] = {0.0f, 0.5f, 0.8f, 1.0f, 1.5f};
    int n_stop = 0;
    for (int ti = 0; ti < 5; ti++)
        for (uint64_t seed = 1; seed <= 4; seed++) {
            run(s, &prompt, true, temps[ti], seed, 200, &r);
            CHECK_INT_EQ(r.ev.status, LO_OK);
            CHECK(r.n_tok <= 200);
            CHECK(!r.alloc_changed); /* the masked step allocates nothing */
            lo_jsonp p;
            lo_jsonp_init(&p);
            CHECK_MSG(lo_jsonp_feed(&p, r.text, r.len), "not a JSON prefix (temp %.1f seed %llu): %s", temps[ti],
                      (unsigned long long)seed, r.text);
            if (r.ev.finish == LO_FINISH_STOP) {
                n_stop++;
                CHECK(lo_jsonp_complete(&p));
                json_error_t err;
                json_t *j = json_loadb(r.text, r.len, 0, &err);
                CHECK_MSG(j && json_is_object(j), "jansson: %s in %s", err.text, r.text);
                json_decref(j);
            } else {
                CHECK_MSG(r.ev.finish == LO_FINISH_LENGTH, "finish %d", (int)r.ev.finish);
                CHECK_INT_EQ(r.n_tok, 200);
                CHECK(!lo_jsonp_complete(&p));
            }
            if (seed == 1) printf("# temp %.1f seed 1: %s (%s)\n", temps[ti], r.text,
                                  r.ev.finish == LO_FINISH_STOP ? "stop" : "length");
        }
    printf("# %d of 20 JSON-mode runs closed their object (finish stop)\n", n_stop);

    /* with a small budget the text is cut: finish length and a valid, incomplete prefix */
    run(s, &prompt, true, 0.8f, 3, 3, &r);
    CHECK(r.ev.finish == LO_FINISH_LENGTH || r.ev.finish == LO_FINISH_STOP);

    /* the stop path: a bias toward the byte tokens '{' (126) and '}' (128) lets the model
     * close its object; the request ends at once with finish stop and the text "{}"-like */
    for (int k = 0; k < 3; k++) {
        memset(&r, 0, sizeof r);
        lo_logit_bias bias[2] = {{.token = 126, .bias = 20}, {.token = 128, .bias = 20}};
        lo_sched_request q = {.prompt = prompt.ids, .n_prompt = (int32_t)prompt.n, .n_predict = 50,
                              .json_object = true, .cb = on_event, .user = &r};
        lo_sampler_params_default(&q.sampling);
        q.sampling.temperature = k == 0 ? 0.0f : 1.0f;
        q.sampling.seed = (uint64_t)k;
        q.sampling.logit_bias = bias;
        q.sampling.n_logit_bias = 2;
        uint64_t id;
        CHECK_OK(lo_sched_submit(s, &q, &id));
        pthread_mutex_lock(&mu);
        while (!r.done) pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        CHECK_MSG(r.ev.finish == LO_FINISH_STOP, "finish %d: %s", (int)r.ev.finish, r.text);
        json_t *j = json_loadb(r.text, r.len, 0, NULL);
        CHECK_MSG(json_is_object(j), "not an object: %s", r.text);
        json_decref(j);
        CHECK(r.ev.n_completion == r.n_tok);
    }

    /* JSON mode and plain requests side by side */
    {
        static rec a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        lo_sched_request qa = {.prompt = prompt.ids, .n_prompt = (int32_t)prompt.n, .n_predict = 100,
                               .json_object = true, .cb = on_event, .user = &a};
        lo_sched_request qb = qa;
        qb.json_object = false;
        qb.user = &b;
        lo_sampler_params_default(&qa.sampling);
        qb.sampling = qa.sampling;
        uint64_t id;
        CHECK_OK(lo_sched_submit(s, &qa, &id));
        CHECK_OK(lo_sched_submit(s, &qb, &id));
        pthread_mutex_lock(&mu);
        while (!a.done || !b.done) pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        lo_jsonp p;
        lo_jsonp_init(&p);
        CHECK(lo_jsonp_feed(&p, a.text, a.len));
        CHECK(!strchr(b.text, '{'));
    }
    lo_tokens_free(&prompt);
    lo_sched_free(s);
    lo_model_free(model);

    measure(path, "stories260K");
    const char *bench = getenv("LO_JSON_BENCH_MODEL");
    char p2[1024];
    measure(bench ? bench : check_shared("models/llama-2-tiny-random.gguf", p2, sizeof p2),
            bench ? bench : "llama-2-tiny-random");
    return check_done();
}
