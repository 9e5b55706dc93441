/* train: a from-scratch run end to end — a byte-level tokenizer GGUF and a repetitive
 * corpus generated here, a tiny llama trained for 300 steps; validation loss must fall
 * below a quarter of its start, the GGUF written must load through the model API and
 * its greedy continuation of each pattern's prefix must reproduce the pattern; a second
 * run with the same seed and threads must give the identical loss curve. */
#include <math.h>
#include <sys/stat.h>

#include "check.h"
#include "llmops/model.h"
#include "llmops/train.h"

#include "byte_vocab.h"

static const char *const patterns[] = {
    "alpha beta gamma delta epsilon zeta eta theta",
    "one two three four five six seven eight",
    "red orange yellow green blue indigo violet",
    "north east south west up down left right",
};
enum { N_PAT = 4, MAX_STEPS = 400 };

typedef struct curve {
    int64_t n;
    double loss[MAX_STEPS + 1], val[MAX_STEPS + 1];
} curve;

static void on_report(void *ud, const lo_train_report *r) {
    curve *c = ud;
    if (r->step <= MAX_STEPS) c->loss[r->step] = r->loss, c->n = r->step;
    if (r->has_val && r->step <= MAX_STEPS) c->val[r->step] = r->val_loss;
}

static lo_train_run_params params(const char *data, const char *tokp, const char *out, int64_t steps, curve *c) {
    lo_train_run_params p = {
        .data_path = data,
        .val_fraction = 0.1,
        .doc_split = LO_DOCS_BLANK_LINE,
        .tokenizer_path = tokp,
        .out_path = out,
        .name = "test-scratch",
        .model = {.n_embd = 48, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .n_ff = 128, .n_ctx = 64},
        .train = {.batch = 4,
                  .seq = 64,
                  .grad_accum = 1,
                  .n_threads = 2,
                  .total_steps = steps,
                  .lr = 3e-3f,
                  .min_lr = 3e-4f,
                  .warmup = 10,
                  .schedule = LO_SCHED_COSINE,
                  .weight_decay = 0.01f,
                  .grad_clip = 1.0f},
        .seed = 42,
        .eval_every = 50,
        .report = on_report,
        .report_ud = c};
    return p;
}

/* Greedy continuation of the pattern's first three words; the ids must equal the
 * pattern's own tokens that follow. */
static void check_greedy(const char *model_path) {
    lo_model *m = NULL;
    CHECK_OK(lo_model_load(model_path, &m));
    if (!m) return;
    lo_context_params cp = {.n_ctx = 64, .n_seq = 1, .n_batch = 64, .n_threads = 2};
    lo_context *ctx = NULL;
    CHECK_OK(lo_context_create(m, &cp, &ctx));
    const lo_tokenizer *tok = lo_model_tokenizer(m);
    for (int k = 0; ctx && k < N_PAT; k++) {
        const char *pat = patterns[k];
        const char *cut = pat;
        for (int sp = 0; sp < 3; sp++) cut = strchr(cut, ' ') + 1;
        lo_tokens full = {0}, pre = {0};
        CHECK_OK(lo_tokenize(tok, pat, strlen(pat), true, false, &full));
        CHECK_OK(lo_tokenize(tok, pat, (size_t)(cut - pat), true, false, &pre));
        lo_context_seq_clear(ctx, 0, 0, -1);
        int32_t pos[64], seq[64] = {0};
        for (int i = 0; i < 64; i++) pos[i] = i;
        lo_batch b = {.n_tokens = (int32_t)pre.n, .token = pre.ids, .pos = pos, .seq = seq};
        CHECK_OK(lo_model_decode(ctx, &b));
        int64_t n = pre.n, match = 0;
        int32_t last = (int32_t)pre.n - 1; /* batch index of the token whose logits we read */
        const int64_t want = full.n - pre.n;
        for (int64_t i = 0; i < want && n < 63; i++) {
            const float *lg = lo_context_logits(ctx, last);
            if (!lg) break;
            int32_t best = 0;
            for (int32_t v = 1; v < lo_tokenizer_n_vocab(tok); v++)
                if (lg[v] > lg[best]) best = v;
            if (best != full.ids[n]) break;
            match++;
            int32_t id = best, p1 = (int32_t)n;
            lo_batch b1 = {.n_tokens = 1, .token = &id, .pos = &p1, .seq = seq};
            CHECK_OK(lo_model_decode(ctx, &b1));
            last = 0;
            n++;
        }
        CHECK_MSG(match == want, "pattern %d: greedy continuation matches %lld of %lld tokens", k, (long long)match,
                  (long long)want);
        lo_tokens_free(&full);
        lo_tokens_free(&pre);
    }
    lo_context_free(ctx);
    lo_model_free(m);
}

int main(void) {
    char dir[128], tokp[160], data[160], out[160], out2[160];
    snprintf(dir, sizeof dir, "/tmp/lo_test_train.%d", (int)getpid());
    mkdir(dir, 0700);
    snprintf(tokp, sizeof tokp, "%s/tok.gguf", dir);
    snprintf(data, sizeof data, "%s/corpus.txt", dir);
    snprintf(out, sizeof out, "%s/out.gguf", dir);
    snprintf(out2, sizeof out2, "%s/out2.gguf", dir);
    write_byte_vocab(tokp);
    FILE *f = fopen(data, "w");
    CHECK(f != NULL);
    if (!f) return check_done();
    for (int i = 0; i < 120; i++) fprintf(f, "%s\n\n", patterns[i % N_PAT]);
    fclose(f);

    static curve c1;
    lo_train_run_params p = params(data, tokp, out, 300, &c1);
    lo_train_result res;
    const double t0 = lo_time_sec();
    CHECK_OK(lo_train_run(&p, &res));
    fprintf(stderr,
            "train: %lld params, %lld train / %lld val tokens, val loss %.4f -> %.4f in %lld steps, "
            "%.0f tokens/s, %.2f s\n",
            (long long)res.n_params, (long long)res.train_tokens, (long long)res.val_tokens, res.first_val_loss,
            res.last_val_loss, (long long)res.steps, res.tokens_per_sec, lo_time_sec() - t0);
    for (int s = 0; s <= 300; s += 50) fprintf(stderr, "  step %3d val loss %.4f\n", s, c1.val[s]);
    CHECK(res.steps == 300);
    CHECK(fabs(res.first_val_loss - log(259.0)) < 0.5); /* starts near uniform */
    CHECK_MSG(res.last_val_loss < 0.25 * res.first_val_loss, "val loss %.4f -> %.4f", res.first_val_loss,
              res.last_val_loss);
    check_greedy(out);

    /* Same seed and threads: the identical curve (a shorter run of the same config). */
    static curve a, b;
    lo_train_run_params pa = params(data, tokp, out2, 20, &a), pb = params(data, tokp, out2, 20, &b);
    CHECK_OK(lo_train_run(&pa, &res));
    CHECK_OK(lo_train_run(&pb, &res));
    CHECK_INT_EQ(a.n, 20);
    for (int s = 1; s <= 20; s++) CHECK_MSG(a.loss[s] == b.loss[s], "step %d: %.9g vs %.9g", s, a.loss[s], b.loss[s]);
    CHECK(a.val[20] == b.val[20]);
    /* Gradient accumulation: 2 × 4 sequences per step sees the same tokens as 1 × 8, so
     * the first step's loss is the same up to summation order. */
    static curve g;
    lo_train_run_params pg = params(data, tokp, out2, 20, &g);
    pg.train.batch = 2, pg.train.grad_accum = 2;
    CHECK_OK(lo_train_run(&pg, &res));
    CHECK_MSG(fabs(g.loss[1] - a.loss[1]) < 1e-5 * a.loss[1], "accumulated %.9g vs %.9g", g.loss[1], a.loss[1]);
    CHECK_MSG(fabs(g.loss[20] - a.loss[20]) < 1e-2 * a.loss[20], "step 20: accumulated %.6g vs %.6g", g.loss[20],
              a.loss[20]);

    remove(tokp), remove(data), remove(out), remove(out2), rmdir(dir);
    return check_done();
}
