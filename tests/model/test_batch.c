/* model: batching invariants of lo_model_decode on stories260K (F32) and a quantised
 * synthetic model — two sequences in one batch equal each decoded alone; chunked prefill
 * equals one decode; seq_clear + re-decode reproduces logits — and the batch errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "llmops/llmops.h"

static const int32_t A[] = {1, 403, 407, 261, 378, 432, 383, 286, 261};
static const int32_t B[] = {1, 317, 269, 274, 287, 263, 377};
#define NA ((int32_t)(sizeof A / sizeof A[0]))
#define NB ((int32_t)(sizeof B / sizeof B[0]))

static double max_diff(const float *x, const float *y, int32_t n) {
    double m = 0;
    for (int32_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - (double)y[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

/* Decodes ids[0..n) of seq at positions p0.. with logits for all; copies them to out. */
static lo_status decode_seq(lo_context *c, const int32_t *ids, int32_t n, int32_t seq, int32_t p0, float *out,
                            int32_t n_vocab) {
    int32_t pos[64], sq[64];
    bool lg[64];
    for (int32_t i = 0; i < n; i++) pos[i] = p0 + i, sq[i] = seq, lg[i] = true;
    lo_batch b = {.n_tokens = n, .token = ids, .pos = pos, .seq = sq, .logits = lg};
    lo_status s = lo_model_decode(c, &b);
    if (s) return s;
    for (int32_t i = 0; i < n; i++) {
        const float *l = lo_context_logits(c, i);
        if (!l) return LO_ERR_INTERNAL;
        memcpy(out + (size_t)i * (size_t)n_vocab, l, (size_t)n_vocab * sizeof(float));
    }
    return LO_OK;
}

static void run(const char *rel, int threads) {
    char path[1024];
    check_shared(rel, path, sizeof path);
    lo_model *m = NULL;
    CHECK_OK(lo_model_load(path, &m));
    if (!m) return;
    const int32_t nv = lo_model_hparams(m)->n_vocab;
    lo_context *c = NULL;
    lo_context_params cp = {.n_ctx = 32, .n_seq = 2, .n_batch = 16, .n_threads = threads};
    CHECK_OK(lo_context_create(m, &cp, &c));
    if (!c) return lo_model_free(m);
    CHECK_INT_EQ(lo_context_n_ctx(c), 32);
    CHECK_INT_EQ(lo_context_n_seq(c), 2);

    float *la = lo_calloc((size_t)(NA + NB) * 4, (size_t)nv * sizeof(float));
    CHECK(la != NULL);
    if (!la) goto done;
    float *lb = la + (size_t)NA * nv, *lmix = lb + (size_t)NB * nv, *lchunk = lmix + (size_t)(NA + NB) * nv;

    /* each alone, in sequence 0 */
    CHECK_OK(decode_seq(c, A, NA, 0, 0, la, nv));
    lo_context_seq_clear(c, 0, 0, -1);
    CHECK_OK(decode_seq(c, B, NB, 0, 0, lb, nv));
    lo_context_seq_clear(c, 0, 0, -1);

    /* both in one batch, interleaved, A in sequence 1 and B in sequence 0 */
    {
        int32_t tok[NA + NB], pos[NA + NB], seq[NA + NB], ia[NA + NB];
        bool lg[NA + NB];
        int32_t n = 0, i = 0, j = 0;
        while (i < NA || j < NB) {
            if (i < NA) tok[n] = A[i], pos[n] = i, seq[n] = 1, ia[n] = i, lg[n] = true, n++, i++;
            if (j < NB) tok[n] = B[j], pos[n] = j, seq[n] = 0, ia[n] = -1 - j, lg[n] = true, n++, j++;
        }
        lo_batch b = {.n_tokens = n, .token = tok, .pos = pos, .seq = seq, .logits = lg};
        CHECK_OK(lo_model_decode(c, &b));
        double worst = 0;
        for (int32_t k = 0; k < n; k++) {
            const float *l = lo_context_logits(c, k);
            CHECK(l != NULL);
            if (!l) continue;
            const float *ref = ia[k] >= 0 ? la + (size_t)ia[k] * nv : lb + (size_t)(-1 - ia[k]) * nv;
            double d = max_diff(l, ref, nv);
            if (d > worst) worst = d;
        }
        fprintf(stderr, "%s: two sequences in one batch vs alone: max |d| = %.3g\n", rel, worst);
        CHECK(worst <= 1e-4);
    }

    /* chunked prefill of A in sequence 1 (already holds A): clear, then 3 decodes */
    lo_context_seq_clear(c, 1, 0, -1);
    CHECK_OK(decode_seq(c, A, 3, 1, 0, lchunk, nv));
    CHECK_OK(decode_seq(c, A + 3, 4, 1, 3, lchunk + (size_t)3 * nv, nv));
    CHECK_OK(decode_seq(c, A + 7, NA - 7, 1, 7, lchunk + (size_t)7 * nv, nv));
    double dch = max_diff(lchunk, la, NA * nv);
    fprintf(stderr, "%s: chunked prefill vs one decode: max |d| = %.3g\n", rel, dch);
    CHECK(dch <= 1e-4);

    /* clearing the tail and re-decoding it reproduces the logits */
    lo_context_seq_clear(c, 1, 5, -1);
    CHECK_OK(decode_seq(c, A + 5, NA - 5, 1, 5, lmix, nv));
    double dcl = max_diff(lmix, la + (size_t)5 * nv, (NA - 5) * nv);
    CHECK(dcl <= 1e-4);
    /* only the last token's logits by default */
    {
        int32_t t = A[0], p = 0, s = 0;
        lo_context_seq_clear(c, 0, 0, -1);
        lo_batch b = {.n_tokens = 1, .token = &t, .pos = &p, .seq = &s, .logits = NULL};
        CHECK_OK(lo_model_decode(c, &b));
        CHECK(lo_context_logits(c, 0) != NULL);
        CHECK(max_diff(lo_context_logits(c, 0), la, nv) <= 1e-4);
        CHECK(lo_context_logits(c, 1) == NULL);
        CHECK(lo_context_logits(c, -1) == NULL);
    }

    /* errors */
    {
        int32_t t = 1, p = 32, s = 0;
        lo_batch b = {.n_tokens = 1, .token = &t, .pos = &p, .seq = &s, .logits = NULL};
        CHECK_INT_EQ(lo_model_decode(c, &b), LO_ERR_RANGE); /* pos ≥ n_ctx */
        p = 0, s = 2;
        CHECK_INT_EQ(lo_model_decode(c, &b), LO_ERR_RANGE); /* seq ≥ n_seq */
        s = 0, t = nv;
        CHECK_INT_EQ(lo_model_decode(c, &b), LO_ERR_RANGE); /* bad token */
        t = -1;
        CHECK_INT_EQ(lo_model_decode(c, &b), LO_ERR_RANGE);
        int32_t toks[17] = {0}, poss[17], seqs[17] = {0};
        for (int i = 0; i < 17; i++) poss[i] = i;
        lo_batch big = {.n_tokens = 17, .token = toks, .pos = poss, .seq = seqs, .logits = NULL};
        CHECK_INT_EQ(lo_model_decode(c, &big), LO_ERR_RANGE); /* n_tokens > n_batch */
        lo_batch empty = {.n_tokens = 0, .token = toks, .pos = poss, .seq = seqs, .logits = NULL};
        CHECK_INT_EQ(lo_model_decode(c, &empty), LO_ERR_INVALID);
        /* two tokens for one cache slot; the same position in another sequence is fine */
        int32_t dpos[3] = {4, 5, 4}, dseq[3] = {0, 0, 0}, dtok[3] = {1, 2, 3};
        lo_batch dup = {.n_tokens = 3, .token = dtok, .pos = dpos, .seq = dseq, .logits = NULL};
        CHECK_INT_EQ(lo_model_decode(c, &dup), LO_ERR_INVALID);
        CHECK(strstr(lo_error_message(), "position 4 of sequence 0") != NULL);
        dseq[2] = 1;
        CHECK_OK(lo_model_decode(c, &dup));
    }
done:
    lo_free(la);
    lo_context_free(c);
    lo_model_free(m);
}

int main(void) {
    run("models/stories260K.gguf", 1);
    run("models/stories260K.gguf", 3);
    run("models/synthetic/llama-k.q4_k_m.gguf", 2);
    run("models/synthetic/moe.q8_0.gguf", 2);

    /* loading errors name the problem */
    lo_model *m = NULL;
    CHECK(lo_model_load("/nonexistent/model.gguf", &m) != LO_OK);
    CHECK(m == NULL);
    char path[1024];
    check_shared("models/vocab/ggml-vocab-llama-spm.gguf", path, sizeof path);
    lo_status s = lo_model_load(path, &m); /* vocab only: no tensors */
    CHECK_INT_EQ(s, LO_ERR_NOT_FOUND);
    CHECK(strstr(lo_error_message(), "token_embd.weight") != NULL);
    check_shared("models/vocab/ggml-vocab-gpt-2.gguf", path, sizeof path);
    CHECK_INT_EQ(lo_model_load(path, &m), LO_ERR_UNSUPPORTED);
    /* a mis-shaped tensor names itself: stories260K with attn_k of blk.2 given 3 KV heads */
    {
        lo_gguf *g = NULL;
        check_shared("models/stories260K.gguf", path, sizeof path);
        CHECK_OK(lo_gguf_open(path, &g));
        lo_gguf_writer *w = NULL;
        CHECK_OK(lo_gguf_writer_create(3, &w));
        if (g && w) {
            CHECK_OK(lo_gguf_writer_copy_kvs(w, g));
            for (int64_t i = 0; i < lo_gguf_n_tensors(g); i++) {
                const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
                char name[128];
                snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.data);
                int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
                size_t bytes = t->bytes;
                if (strcmp(name, "blk.2.attn_k.weight") == 0) ne[1] = 24, bytes = (size_t)(64 * 24 * 4);
                CHECK_OK(lo_gguf_writer_add_tensor(w, name, t->type, t->n_dims, ne, t->data, bytes));
            }
            char out[256];
            snprintf(out, sizeof out, "/tmp/lo_test_model_badshape_%d.gguf", (int)getpid());
            CHECK_OK(lo_gguf_writer_write(w, out));
            CHECK_INT_EQ(lo_model_load(out, &m), LO_ERR_FORMAT);
            CHECK(strstr(lo_error_message(), "blk.2.attn_k.weight") != NULL);
            remove(out);
        }
        lo_gguf_writer_free(w);
        lo_gguf_close(g);
    }
    lo_model_free(NULL);
    lo_context_free(NULL);
    return check_done();
}
