/* train: fine-tuning a GGUF base. stories260K (a real llama with GQA 8/4 and an untied
 * head, ../shared) read by lo_train_model_load_gguf gets the file's hyper-parameters, and
 * the trainer's forward gives per-token losses equal to those from lo_model_decode's
 * logits within 1e-2 (measured 2.6e-3, from the F16 KV cache the engine uses as llama.cpp
 * does). A few steps of full fine-tuning (lo_train_run with base_path) lower the engine's
 * loss on the training text, and the output loads in the model module with the base's
 * metadata. The F16 copy of the base loads (losses within f16 rounding of the F32 one), a
 * Q4_0 copy is refused. LoRA: adapters trained on the text lower its loss (lo_train_run
 * and a hand-run loop), and the merged GGUF gives through the engine the trainer's
 * per-token losses with adapters within the parity bound (measured 6e-5) and read back as
 * a base within 1e-4 (measured 7e-8). Skips when ../shared is absent. */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "llmops/gguf.h"
#include "llmops/model.h"
#include "llmops/train.h"

enum { MAX_T = 48 };

static const char *k_text = "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
                            "park with her friends and her big red ball.";

/* Per-token losses of ids[0..T) predicting ids[1..T] through the engine; their mean. */
static double engine_losses(const lo_model *lm, const int32_t *ids, int32_t T, double *loss) {
    const int32_t nv = lo_model_hparams(lm)->n_vocab;
    lo_context_params cp = {.n_ctx = 64, .n_seq = 1, .n_batch = 64, .n_threads = 2};
    lo_context *ctx = NULL;
    CHECK_OK(lo_context_create(lm, &cp, &ctx));
    if (!ctx) return NAN;
    int32_t pos[MAX_T], seq[MAX_T] = {0};
    bool want[MAX_T];
    for (int32_t t = 0; t < T; t++) pos[t] = t, want[t] = true;
    lo_batch b = {.n_tokens = T, .token = (int32_t *)ids, .pos = pos, .seq = seq, .logits = want};
    CHECK_OK(lo_model_decode(ctx, &b));
    double mean = 0;
    for (int32_t t = 0; t < T; t++) {
        const float *lg = lo_context_logits(ctx, t);
        double mx = lg[0], s = 0;
        for (int32_t v = 1; v < nv; v++) mx = lg[v] > mx ? lg[v] : mx;
        for (int32_t v = 0; v < nv; v++) s += exp((double)lg[v] - mx);
        loss[t] = log(s) + mx - (double)lg[ids[t + 1]];
        mean += loss[t] / T;
    }
    lo_context_free(ctx);
    return mean;
}

/* Per-token losses through the trainer's forward (one token counted at a time); their mean. */
static double trainer_losses(lo_train_model *m, const int32_t *ids, int32_t T, double *loss) {
    lo_train_params p = {.batch = 1, .seq = T, .grad_accum = 1, .n_threads = 2, .total_steps = 1, .lr = 1e-3f};
    lo_trainer *tr = NULL;
    CHECK_OK(lo_trainer_create(m, &p, &tr));
    if (!tr) return NAN;
    uint8_t mask[MAX_T];
    double mean = 0;
    for (int32_t t = 0; t < T; t++) {
        memset(mask, 0, sizeof mask);
        mask[t] = 1;
        double sum = 0;
        int64_t n = 0;
        CHECK_OK(lo_trainer_forward(tr, ids, ids + 1, mask, false, 0, &sum, &n));
        loss[t] = sum;
        mean += sum / T;
    }
    lo_trainer_free(tr);
    return mean;
}

/* LoRA on every projection of the base: 15 steps of AdamW on the text lower the
 * trainer's loss; the merged GGUF gives through the engine the trainer's per-token losses
 * with adapters within the parity bound, and read back as a base within f32 rounding. */
static void lora_check(const char *path, const int32_t *ids, int32_t T, const char *out) {
    lo_train_model *m = NULL;
    CHECK_OK(lo_train_model_load_gguf(path, &m));
    if (!m) return;
    const lo_lora_config lc = {.rank = 4, .alpha = 8, .targets = LO_LORA_ALL};
    CHECK_OK(lo_train_model_add_lora(m, &lc, 3));
    const int64_t n_tr = lo_train_model_n_trainable_params(m);
    CHECK(n_tr > 0 && n_tr < lo_train_model_n_params(m) / 4);
    double before[MAX_T], after[MAX_T], merged_tr[MAX_T], merged_en[MAX_T];
    const double l0 = trainer_losses(m, ids, T, before);
    lo_train_params p = {.batch = 1,
                         .seq = T,
                         .grad_accum = 1,
                         .n_threads = 2,
                         .total_steps = 15,
                         .lr = 3e-3f,
                         .min_lr = 3e-3f,
                         .schedule = LO_SCHED_CONSTANT};
    lo_trainer *tr = NULL;
    CHECK_OK(lo_trainer_create(m, &p, &tr));
    uint8_t mask[MAX_T];
    memset(mask, 1, sizeof mask);
    for (int64_t k = 0; tr && k < p.total_steps; k++) {
        double sum;
        int64_t n;
        lo_trainer_zero_grad(tr);
        CHECK_OK(lo_trainer_forward(tr, ids, ids + 1, mask, true, 1.0f / (float)T, &sum, &n));
        lo_trainer_step(tr, k, NULL);
    }
    lo_trainer_free(tr);
    const double l1 = trainer_losses(m, ids, T, after);
    CHECK_OK(lo_train_model_save_gguf(m, NULL, NULL, out));
    lo_model *lm = NULL;
    CHECK_OK(lo_model_load(out, &lm));
    const double le = lm ? engine_losses(lm, ids, T, merged_en) : NAN;
    lo_train_model *mm = NULL;
    CHECK_OK(lo_train_model_load_gguf(out, &mm));
    const double lt = mm ? trainer_losses(mm, ids, T, merged_tr) : NAN;
    double d_en = 0, d_tr = 0;
    for (int32_t t = 0; t < T; t++) {
        d_en = fmax(d_en, fabs(merged_en[t] - after[t]));
        d_tr = fmax(d_tr, fabs(merged_tr[t] - after[t]));
    }
    fprintf(stderr,
            "LoRA r4 on 7 targets (%lld trainable): loss %.4f -> %.4f after 15 steps; merged: engine %.4f (max "
            "per-token diff %.2e), trainer %.4f (%.2e)\n",
            (long long)n_tr, l0, l1, le, d_en, lt, d_tr);
    CHECK(l1 < 0.5 * l0);
    CHECK_MSG(d_en < 1e-2, "merged model in the engine differs by %.3g", d_en);
    CHECK_MSG(d_tr < 1e-4, "merged model in the trainer differs by %.3g", d_tr);
    lo_train_model_free(mm);
    lo_model_free(lm);
    lo_train_model_free(m);
    unlink(out);
}

static void on_report(void *ud, const lo_train_report *r) {
    double *first_last = ud;
    if (r->step == 1) first_last[0] = r->loss;
    if (r->step > 0) first_last[1] = r->loss;
}

int main(void) {
    char path[512], f16_path[512], q4_path[512];
    check_shared("models/stories260K.gguf", path, sizeof path);
    check_shared("models/quant/stories260K-F16.gguf", f16_path, sizeof f16_path);
    check_shared("models/quant/stories260K-Q4_0.gguf", q4_path, sizeof q4_path);
    lo_model *lm = NULL;
    CHECK_OK(lo_model_load(path, &lm));
    if (!lm) return check_done();
    const lo_hparams *hp = lo_model_hparams(lm);
    const lo_tokenizer *tok = lo_model_tokenizer(lm);
    lo_tokens ids = {0};
    CHECK_OK(lo_tokenize(tok, k_text, strlen(k_text), true, false, &ids));
    const int32_t T = (int32_t)(ids.n - 1 < MAX_T ? ids.n - 1 : MAX_T);
    CHECK(T >= 16);
    CHECK(hp->n_rot == hp->head_dim && hp->rope_type == LO_ROPE_NORM && hp->rope_freq_scale == 1.0f);

    /* The base's hyper-parameters and weights. */
    lo_train_model *m = NULL;
    CHECK_OK(lo_train_model_load_gguf(path, &m));
    if (!m) return check_done();
    const lo_train_config *c = lo_train_model_config(m);
    CHECK(c->n_vocab == hp->n_vocab && c->n_embd == hp->n_embd && c->n_layer == hp->n_layer &&
          c->n_head == hp->n_head && c->n_head_kv == hp->n_head_kv && c->n_ff == hp->n_ff &&
          c->n_ctx == hp->n_ctx_train && c->norm_eps == hp->norm_eps && c->rope_freq_base == hp->rope_freq_base &&
          !c->tied);
    CHECK(c->n_head_kv < c->n_head); /* GQA is exercised */

    double train_loss[MAX_T], model_loss[MAX_T];
    const double tmean = trainer_losses(m, ids.ids, T, train_loss);
    const double mean_loss = engine_losses(lm, ids.ids, T, model_loss);
    double max_diff = 0;
    for (int32_t t = 0; t < T; t++) max_diff = fmax(max_diff, fabs(model_loss[t] - train_loss[t]));
    fprintf(stderr, "parity: %d tokens, mean loss %.4f (trainer %.4f), max per-token difference %.2e\n", T, mean_loss,
            tmean, max_diff);
    CHECK(mean_loss > 0.1 && mean_loss < 4); /* a trained model on its own kind of text */
    CHECK_MSG(max_diff < 1e-2, "trainer and engine differ by %.3g on a token's loss", max_diff);

    /* The F16 base: the same model within f16 rounding; a quantised base is refused. */
    lo_train_model *m16 = NULL;
    CHECK_OK(lo_train_model_load_gguf(f16_path, &m16));
    if (m16) {
        double l16[MAX_T];
        const double mean16 = trainer_losses(m16, ids.ids, T, l16);
        fprintf(stderr, "F16 base: mean loss %.4f\n", mean16);
        CHECK_MSG(fabs(mean16 - tmean) < 2e-2, "F16 base mean loss %.4f vs %.4f", mean16, tmean);
    }
    lo_train_model_free(m16);
    lo_train_model *mq = NULL;
    CHECK(lo_train_model_load_gguf(q4_path, &mq) == LO_ERR_UNSUPPORTED && !mq);
    CHECK(strstr(lo_error_message(), "q4_0") != NULL);

    /* Full fine-tuning: a few steps on the text, then the engine's loss on it. */
    char dir[128], data[192], out[192];
    snprintf(dir, sizeof dir, "/tmp/lo_test_finetune.%d", (int)getpid());
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(data, sizeof data, "%s/data.txt", dir);
    snprintf(out, sizeof out, "%s/out.gguf", dir);
    FILE *f = fopen(data, "w");
    CHECK(f != NULL);
    if (f) {
        fprintf(f, "%s\n\n%s\n", k_text, k_text); /* the second copy is the validation split */
        fclose(f);
    }
    double first_last[2] = {NAN, NAN};
    lo_train_run_params rp = {.data_path = data,
                              .base_path = path,
                              .out_path = out,
                              .val_fraction = 0.5,
                              .train = {.batch = 1,
                                        .seq = 24,
                                        .grad_accum = 1,
                                        .n_threads = 2,
                                        .total_steps = 12,
                                        .lr = 1e-3f,
                                        .min_lr = 1e-4f,
                                        .warmup = 2,
                                        .schedule = LO_SCHED_COSINE,
                                        .grad_clip = 1.0f},
                              .seed = 7,
                              .report = on_report,
                              .report_ud = first_last};
    lo_train_result res;
    CHECK_OK(lo_train_run(&rp, &res));
    fprintf(stderr, "fine-tune: step loss %.4f -> %.4f, val %.4f -> %.4f\n", first_last[0], first_last[1],
            res.first_val_loss, res.last_val_loss);
    CHECK(first_last[1] < 0.5 * first_last[0]);
    CHECK(res.last_val_loss < res.first_val_loss);
    CHECK(res.n_params == lo_train_model_n_params(m));

    lo_model *ft = NULL;
    CHECK_OK(lo_model_load(out, &ft));
    if (ft) {
        const lo_hparams *h2 = lo_model_hparams(ft);
        CHECK(h2->n_vocab == hp->n_vocab && h2->n_embd == hp->n_embd && h2->n_head_kv == hp->n_head_kv &&
              h2->n_ctx_train == hp->n_ctx_train);
        /* The trained window is the text's first S tokens (the validation copy is the same
         * window): through the engine the fine-tuned model's loss on it is the trainer's
         * last validation loss, and below the base's. */
        const int32_t S = rp.train.seq;
        double ft_loss[MAX_T], ft_mean = 0, base_mean = 0;
        engine_losses(ft, ids.ids, S, ft_loss);
        for (int32_t t = 0; t < S; t++) ft_mean += ft_loss[t] / S, base_mean += model_loss[t] / S;
        fprintf(stderr, "fine-tuned: engine mean loss on the trained window %.4f (base %.4f)\n", ft_mean, base_mean);
        CHECK(ft_mean < 0.5 * base_mean);
        CHECK_MSG(fabs(ft_mean - res.last_val_loss) < 1e-2, "engine %.4f vs trainer %.4f", ft_mean, res.last_val_loss);
        /* The base's metadata is kept: every key of the base except file_type, same value. */
        const lo_gguf *gb = lo_model_gguf(lm), *go = lo_model_gguf(ft);
        int64_t kept = 0;
        for (int64_t i = 0; i < lo_gguf_n_kv(gb); i++) {
            const lo_gguf_kv *kv = lo_gguf_kv_at(gb, i);
            char key[128];
            snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.data);
            if (!strcmp(key, "general.file_type")) continue;
            const lo_gguf_value *v = lo_gguf_get(go, key);
            CHECK_MSG(v && v->type == kv->value.type, "key %s lost", key);
            kept += v != NULL;
        }
        CHECK(kept > 10);
        const lo_gguf_value *toks = lo_gguf_get_arr(go, "tokenizer.ggml.tokens", LO_GGUF_STRING);
        CHECK(toks && (int64_t)toks->arr.n == hp->n_vocab);
    }
    lo_model_free(ft);

    /* The same run with LoRA through lo_train_run: the loss on the text falls, the merged
     * output loads. */
    const lo_lora_config lc = {.rank = 4, .alpha = 8, .targets = LO_LORA_Q | LO_LORA_V | LO_LORA_DOWN};
    rp.lora = &lc;
    rp.train.lr = 3e-3f, rp.train.min_lr = 3e-4f;
    CHECK_OK(lo_train_run(&rp, &res));
    fprintf(stderr, "LoRA run (q,v,down; %lld trainable): val %.4f -> %.4f\n", (long long)res.n_trainable,
            res.first_val_loss, res.last_val_loss);
    CHECK(res.last_val_loss < 0.5 * res.first_val_loss);
    CHECK(res.n_trainable == 5 * 4 * (2 * 64 + 64 + 32) + 5 * 4 * (172 + 64)); /* stories260K: D 64, KV 32, F 172 */
    ft = NULL;
    CHECK_OK(lo_model_load(out, &ft));
    lo_model_free(ft);
    lora_check(path, ids.ids, T, out);
    unlink(data);
    unlink(out);
    rmdir(dir);
    lo_train_model_free(m);
    lo_tokens_free(&ids);
    lo_model_free(lm);
    return check_done();
}
