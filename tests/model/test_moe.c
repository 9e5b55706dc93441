/* model: a MoE token reads only its selected experts. moe.f32 (1 layer, 4 experts, top-2)
 * is copied 4 times, each with one expert's gate/up/down weights set to NaN; an 8-token
 * batch (and the same tokens one per decode) must give NaN logits for exactly the tokens
 * routed to that expert — so every token is hit by exactly expert_used_count = 2 of the 4
 * copies, in the batched (tokens grouped by expert) and the one-token forward alike. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "llmops/llmops.h"

enum { N = 8 };

static bool has_nan(const float *lg, int n) {
    for (int i = 0; i < n; i++)
        if (isnan(lg[i])) return true;
    return false;
}

/* Writes src with expert e of the three expert tensors filled with NaN. */
static lo_status write_poisoned(const lo_gguf *g, int e, const char *dst, float **bufs) {
    lo_gguf_writer *w = NULL;
    lo_status s = lo_gguf_writer_create(3, &w);
    if (!s) s = lo_gguf_writer_copy_kvs(w, g);
    int nb = 0;
    for (int64_t i = 0; i < lo_gguf_n_tensors(g) && !s; i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.data);
        const void *data = t->data;
        if (strstr(name, "_exps.weight") && t->type == LO_DTYPE_F32) {
            float *b = bufs[nb++];
            memcpy(b, t->data, t->bytes);
            const size_t per = (size_t)(t->ne[0] * t->ne[1]);
            for (size_t k = 0; k < per; k++) b[(size_t)e * per + k] = NAN;
            data = b;
        }
        s = lo_gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, data, t->bytes);
    }
    if (!s) s = lo_gguf_writer_write(w, dst);
    lo_gguf_writer_free(w);
    return s;
}

int main(void) {
    char src[1024], dst[256];
    check_shared("models/synthetic/moe.f32.gguf", src, sizeof src);
    snprintf(dst, sizeof dst, "%s/llmops_moe_%d.gguf", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    lo_gguf *g = NULL;
    CHECK_OK(lo_gguf_open(src, &g));
    if (!g) return check_done();
    lo_model *m0 = NULL;
    CHECK_OK(lo_model_load(src, &m0));
    if (!m0) return lo_gguf_close(g), check_done();
    const lo_hparams *hp = lo_model_hparams(m0);
    CHECK_INT_EQ(hp->n_expert, 4);
    CHECK_INT_EQ(hp->n_expert_used, 2);
    CHECK_INT_EQ(hp->n_layer, 1);
    const int V = hp->n_vocab, E = hp->n_expert;
    /* bytes per token count the router and 2 of the 4 experts, not all of them */
    const size_t exp_bytes = (size_t)hp->n_embd * (size_t)hp->n_ff * 4 * 3; /* gate+up+down of one F32 expert */
    int64_t all = 0;
    for (int64_t i = 0; i < lo_gguf_n_tensors(g); i++) all += (int64_t)lo_gguf_tensor_at(g, i)->bytes;
    const size_t bpt = lo_model_weight_bytes_per_token(m0);
    CHECK_MSG(bpt < (size_t)all - 2 * exp_bytes + 65536, "bytes per token %zu vs file tensors %lld", bpt, (long long)all);
    CHECK_MSG(bpt > 2 * exp_bytes, "bytes per token %zu must include 2 experts (%zu)", bpt, 2 * exp_bytes);
    lo_model_free(m0);

    static float b0[256 * 256 * 4], b1[256 * 256 * 4], b2[256 * 256 * 4];
    float *bufs[3] = {b0, b1, b2};
    const int32_t ids[N] = {1, 403, 407, 261, 378, 260, 376, 237};
    int32_t pos[N], seq[N];
    bool want[N];
    for (int i = 0; i < N; i++) pos[i] = i, seq[i] = 0, want[i] = true;
    int hits_batch[N] = {0}, hits_one[N] = {0};
    for (int e = 0; e < E; e++) {
        lo_status s = write_poisoned(g, e, dst, bufs);
        CHECK_OK(s);
        lo_model *m = NULL;
        if (!s) CHECK_OK(lo_model_load(dst, &m));
        unlink(dst);
        if (!m) continue;
        lo_context *c = NULL;
        lo_context_params cp = {.n_ctx = 16, .n_seq = 1, .n_batch = N, .n_threads = 2};
        CHECK_OK(lo_context_create(m, &cp, &c));
        if (c) {
            lo_batch b = {.n_tokens = N, .token = ids, .pos = pos, .seq = seq, .logits = want};
            CHECK_OK(lo_model_decode(c, &b));
            for (int t = 0; t < N; t++) hits_batch[t] += has_nan(lo_context_logits(c, t), V);
            lo_context_seq_clear(c, 0, 0, -1);
            for (int t = 0; t < N; t++) {
                lo_batch b1 = {.n_tokens = 1, .token = ids + t, .pos = pos + t, .seq = seq, .logits = NULL};
                CHECK_OK(lo_model_decode(c, &b1));
                hits_one[t] += has_nan(lo_context_logits(c, 0), V);
            }
        }
        lo_context_free(c);
        lo_model_free(m);
    }
    for (int t = 0; t < N; t++) {
        CHECK_MSG(hits_batch[t] == 2, "batched token %d read %d experts' weights", t, hits_batch[t]);
        CHECK_MSG(hits_one[t] == 2, "token %d alone read %d experts' weights", t, hits_one[t]);
    }
    lo_gguf_close(g);

    /* gen-model's MoE and sliding-window options: the file loads with those hparams and
     * only the used experts count toward the bytes read per token */
    lo_gen_model_params gp = {.arch = "llama", .n_embd = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .n_ff = 96,
                              .n_vocab = 300, .n_ctx = 128, .ftype = LO_FTYPE_Q8_0, .seed = 7, .n_expert = 8,
                              .n_expert_used = 2, .sliding_window = 16};
    CHECK_OK(lo_model_gen_random(&gp, dst));
    lo_model *gm = NULL;
    CHECK_OK(lo_model_load(dst, &gm));
    gp.n_expert = 0, gp.n_expert_used = 0, gp.n_ff = 2 * 96;
    CHECK_OK(lo_model_gen_random(&gp, dst));
    lo_model *dm = NULL;
    CHECK_OK(lo_model_load(dst, &dm));
    unlink(dst);
    if (gm && dm) {
        CHECK_INT_EQ(lo_model_hparams(gm)->n_expert, 8);
        CHECK_INT_EQ(lo_model_hparams(gm)->n_expert_used, 2);
        CHECK_INT_EQ(lo_model_hparams(gm)->sliding_window, 16);
        /* the dense twin (n_ff = 2 experts) reads the same bytes except the router */
        const size_t bm = lo_model_weight_bytes_per_token(gm), bd = lo_model_weight_bytes_per_token(dm);
        const size_t router = 2 * (size_t)64 * 8 * 4;
        CHECK_MSG(bm == bd + router, "MoE %zu vs dense %zu bytes per token", bm, bd);
        CHECK(lo_model_n_params(gm) > 3 * lo_model_n_params(dm) / 2);
    }
    gp.n_expert = 4, gp.n_expert_used = 5;
    CHECK_INT_EQ(lo_model_gen_random(&gp, dst), LO_ERR_INVALID);
    gp.n_expert = 0, gp.n_expert_used = 2;
    CHECK_INT_EQ(lo_model_gen_random(&gp, dst), LO_ERR_INVALID);
    lo_model_free(gm);
    lo_model_free(dm);
    return check_done();
}
