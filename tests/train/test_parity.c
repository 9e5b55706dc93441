/* train: the trainer's forward is the inference engine's — stories260K (a real llama with
 * GQA 8/4 and an untied head, ../shared) copied into a lo_train_model gives per-token
 * losses equal to those from lo_model_decode's logits within 1e-2 (measured 2.6e-3, from
 * the F16 KV cache the engine uses as llama.cpp does). Skips when ../shared is absent. */
#include <math.h>

#include "check.h"
#include "llmops/gguf.h"
#include "llmops/model.h"
#include "llmops/train.h"

enum { MAX_T = 48 };

int main(void) {
    char path[512];
    check_shared("models/stories260K.gguf", path, sizeof path);
    lo_model *lm = NULL;
    CHECK_OK(lo_model_load(path, &lm));
    if (!lm) return check_done();
    const lo_hparams *hp = lo_model_hparams(lm);
    const lo_tokenizer *tok = lo_model_tokenizer(lm);
    const char *text = "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
                       "park with her friends and her big red ball.";
    lo_tokens ids = {0};
    CHECK_OK(lo_tokenize(tok, text, strlen(text), true, false, &ids));
    const int32_t T = (int32_t)(ids.n - 1 < MAX_T ? ids.n - 1 : MAX_T);
    CHECK(T >= 16);

    /* The trainer's model with the file's weights, tensor by tensor by name. */
    lo_train_config c = {.n_vocab = hp->n_vocab,
                         .n_embd = hp->n_embd,
                         .n_layer = hp->n_layer,
                         .n_head = hp->n_head,
                         .n_head_kv = hp->n_head_kv,
                         .n_ff = hp->n_ff,
                         .n_ctx = 64,
                         .norm_eps = hp->norm_eps,
                         .rope_freq_base = hp->rope_freq_base,
                         .tied = false};
    CHECK(hp->n_rot == hp->head_dim && hp->rope_type == LO_ROPE_NORM && hp->rope_freq_scale == 1.0f);
    lo_train_model *m = NULL;
    CHECK_OK(lo_train_model_init(&c, 1, &m));
    const lo_gguf *g = lo_model_gguf(lm);
    for (int32_t i = 0; m && i < lo_train_model_n_tensors(m); i++) {
        lo_train_tensor tt = lo_train_model_tensor(m, i);
        const int64_t k = lo_gguf_find_tensor(g, tt.name);
        CHECK_MSG(k >= 0, "%s missing", tt.name);
        if (k < 0) continue;
        const lo_gguf_tensor *gt = lo_gguf_tensor_at(g, k);
        CHECK_MSG(gt->type == LO_DTYPE_F32 && gt->ne[0] == tt.ne[0] && gt->ne[1] == tt.ne[1], "%s shape", tt.name);
        if (gt->type == LO_DTYPE_F32 && gt->bytes == (size_t)tt.n * 4) memcpy(tt.w, gt->data, gt->bytes);
    }
    lo_train_params p = {.batch = 1, .seq = T, .grad_accum = 1, .n_threads = 2, .total_steps = 1, .lr = 1e-3f};
    lo_trainer *tr = NULL;
    if (m) CHECK_OK(lo_trainer_create(m, &p, &tr));
    uint8_t mask[MAX_T];
    double train_loss[MAX_T], model_loss[MAX_T];
    for (int32_t t = 0; t < T; t++) {
        /* one token counted at a time: the per-token loss */
        memset(mask, 0, sizeof mask);
        mask[t] = 1;
        double sum = 0;
        int64_t n = 0;
        if (tr) CHECK_OK(lo_trainer_forward(tr, ids.ids, ids.ids + 1, mask, false, 0, &sum, &n));
        train_loss[t] = sum;
    }

    /* The engine: every position's logits in one decode. */
    lo_context_params cp = {.n_ctx = 64, .n_seq = 1, .n_batch = 64, .n_threads = 2};
    lo_context *ctx = NULL;
    CHECK_OK(lo_context_create(lm, &cp, &ctx));
    int32_t pos[MAX_T], seq[MAX_T] = {0};
    bool want[MAX_T];
    for (int32_t t = 0; t < T; t++) pos[t] = t, want[t] = true;
    lo_batch b = {.n_tokens = T, .token = ids.ids, .pos = pos, .seq = seq, .logits = want};
    if (ctx) CHECK_OK(lo_model_decode(ctx, &b));
    double max_diff = 0, mean_loss = 0;
    for (int32_t t = 0; ctx && t < T; t++) {
        const float *lg = lo_context_logits(ctx, t);
        double mx = lg[0], s = 0;
        for (int32_t v = 1; v < hp->n_vocab; v++) mx = lg[v] > mx ? lg[v] : mx;
        for (int32_t v = 0; v < hp->n_vocab; v++) s += exp((double)lg[v] - mx);
        model_loss[t] = log(s) + mx - (double)lg[ids.ids[t + 1]];
        const double d = fabs(model_loss[t] - train_loss[t]);
        if (d > max_diff) max_diff = d;
        mean_loss += model_loss[t] / T;
    }
    fprintf(stderr, "parity: %d tokens, mean loss %.4f, max per-token difference %.2e\n", T, mean_loss, max_diff);
    CHECK(mean_loss > 0.1 && mean_loss < 4); /* a trained model on its own kind of text */
    CHECK_MSG(max_diff < 1e-2, "trainer and engine differ by %.3g on a token's loss", max_diff);
    lo_context_free(ctx);
    lo_trainer_free(tr);
    lo_train_model_free(m);
    lo_tokens_free(&ids);
    lo_model_free(lm);
    return check_done();
}
