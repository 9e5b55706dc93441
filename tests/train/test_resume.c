/* train: checkpoints — a run stopped at step 15 (as SIGINT stops it) writes a checkpoint;
 * resuming it gives, step for step, exactly the losses of the uninterrupted run, and the
 * same final GGUF bytes. A checkpoint of another configuration is refused. */
#include <math.h>
#include <sys/stat.h>

#include "check.h"
#include "llmops/model.h"
#include "llmops/train.h"

#include "byte_vocab.h"

enum { STEPS = 30, STOP_AT = 15 };

typedef struct rec {
    double loss[STEPS + 1];
    int64_t last;
    volatile sig_atomic_t *stop;
    int64_t stop_at;
} rec;

static void on_report(void *ud, const lo_train_report *r) {
    rec *c = ud;
    if (r->step > 0 && r->step <= STEPS) c->loss[r->step] = r->loss, c->last = r->step;
    if (c->stop && r->step == c->stop_at) *c->stop = 1;
}

static lo_train_run_params params(const char *data, const char *tokp, const char *out, rec *c) {
    return (lo_train_run_params){
        .data_path = data,
        .val_fraction = 0.1,
        .tokenizer_path = tokp,
        .out_path = out,
        .model = {.n_embd = 32, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .n_ff = 64, .n_ctx = 32},
        .train = {.batch = 4,
                  .seq = 32,
                  .grad_accum = 2,
                  .n_threads = 2,
                  .total_steps = STEPS,
                  .lr = 3e-3f,
                  .min_lr = 3e-4f,
                  .warmup = 5,
                  .schedule = LO_SCHED_COSINE,
                  .weight_decay = 0.1f,
                  .grad_clip = 1.0f},
        .seed = 9,
        .eval_every = 10,
        .report = on_report,
        .report_ud = c};
}

static bool same_file(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool eq = lo_read_file(a, &x, &nx) == LO_OK && lo_read_file(b, &y, &ny) == LO_OK && nx == ny && !memcmp(x, y, nx);
    lo_free(x), lo_free(y);
    return eq;
}

int main(void) {
    char dir[128], tokp[160], data[160], full[160], resumed[160], ckpt[160];
    snprintf(dir, sizeof dir, "/tmp/lo_test_train_resume.%d", (int)getpid());
    mkdir(dir, 0700);
    snprintf(tokp, sizeof tokp, "%s/tok.gguf", dir);
    snprintf(data, sizeof data, "%s/corpus.txt", dir);
    snprintf(full, sizeof full, "%s/full.gguf", dir);
    snprintf(resumed, sizeof resumed, "%s/resumed.gguf", dir);
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt", dir);
    write_byte_vocab(tokp);
    FILE *f = fopen(data, "w");
    CHECK(f != NULL);
    if (!f) return check_done();
    for (int i = 0; i < 40; i++) fprintf(f, "document %d: the quick brown fox %d jumps\n\n", i, i * 7 % 13);
    fclose(f);

    static rec a, b, c;
    lo_train_result res;
    lo_train_run_params pa = params(data, tokp, full, &a);
    CHECK_OK(lo_train_run(&pa, &res));
    CHECK_INT_EQ(a.last, STEPS);

    volatile sig_atomic_t stop = 0;
    b.stop = &stop, b.stop_at = STOP_AT;
    lo_train_run_params pb = params(data, tokp, resumed, &b);
    pb.checkpoint_path = ckpt, pb.stop = &stop;
    CHECK_OK(lo_train_run(&pb, &res));
    CHECK(res.interrupted);
    CHECK_INT_EQ(res.steps, STOP_AT);
    CHECK_INT_EQ(b.last, STOP_AT);
    struct stat st;
    CHECK(stat(resumed, &st) != 0); /* an interrupted run writes no model */

    lo_train_run_params pc = params(data, tokp, resumed, &c);
    pc.resume_path = ckpt;
    CHECK_OK(lo_train_run(&pc, &res));
    CHECK_INT_EQ(res.start_step, STOP_AT);
    CHECK_INT_EQ(c.last, STEPS);
    for (int s = 1; s <= STOP_AT; s++) CHECK(b.loss[s] == a.loss[s]);
    for (int s = STOP_AT + 1; s <= STEPS; s++)
        CHECK_MSG(c.loss[s] == a.loss[s], "step %d: resumed %.9g vs uninterrupted %.9g", s, c.loss[s], a.loss[s]);
    CHECK(same_file(full, resumed));

    /* A different shape or seed is refused with the reason. */
    static rec d;
    lo_train_run_params pd = params(data, tokp, resumed, &d);
    pd.resume_path = ckpt, pd.seed = 10;
    CHECK(lo_train_run(&pd, &res) == LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "--seed") != NULL);
    pd = params(data, tokp, resumed, &d);
    pd.resume_path = ckpt, pd.model.n_ff = 96;
    CHECK(lo_train_run(&pd, &res) == LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "model shape") != NULL);
    /* A truncated checkpoint is refused, not read past its end. */
    char *buf = NULL;
    size_t n = 0;
    CHECK_OK(lo_read_file(ckpt, &buf, &n));
    CHECK_OK(lo_write_file_atomic(ckpt, buf, n - 100));
    lo_free(buf);
    pd = params(data, tokp, resumed, &d);
    pd.resume_path = ckpt;
    CHECK(lo_train_run(&pd, &res) == LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "file size") != NULL);

    remove(tokp), remove(data), remove(full), remove(resumed), remove(ckpt), rmdir(dir);
    return check_done();
}
