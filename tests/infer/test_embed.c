/* infer: embeddings — bert.f32 against llama.cpp's golden vectors (cosine ≥ 0.9999, the
 * raw mean-pooled vector too), and for a decoder (llama-k.f32): lo_embed's mean / cls /
 * last equal the hidden states lo_model_decode keeps, the hidden state is what the output
 * head reads (its logits = output · hidden), chunked prefill gives the same vector, errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "llmops/llmops.h"

static double cosine(const float *a, const float *b, int64_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / (sqrt(aa) * sqrt(bb) + 1e-300);
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double d = 0;
    for (int64_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static int g_bert_cases;

static void bert_case(lo_model *m, lo_context *c, const json_t *cs) {
    const char *prompt = json_string_value(json_object_get(cs, "prompt"));
    json_t *pids = json_object_get(cs, "prompt_ids"), *emb = json_object_get(cs, "embedding"),
           *raw = json_object_get(cs, "embedding_raw");
    CHECK(prompt && json_is_array(pids) && json_is_array(emb) && json_is_array(raw));
    if (!prompt || !pids || !emb || !raw) return;
    const int64_t n_embd = lo_model_hparams(m)->n_embd;
    CHECK_INT_EQ(json_array_size(emb), n_embd);
    CHECK_INT_EQ(json_array_size(raw), n_embd);
    if ((int64_t)json_array_size(emb) != n_embd || (int64_t)json_array_size(raw) != n_embd) return;
    lo_tokens toks = {0};
    CHECK_OK(lo_tokenize(lo_model_tokenizer(m), prompt, strlen(prompt), true, true, &toks));
    bool same = toks.n == (int64_t)json_array_size(pids);
    for (int64_t i = 0; same && i < toks.n; i++) same = toks.ids[i] == json_integer_value(json_array_get(pids, (size_t)i));
    CHECK_MSG(same, "'%s': prompt ids differ from llama.cpp's", prompt);
    float got[1024], gotn[1024], want[1024], want_raw[1024];
    for (int64_t i = 0; i < n_embd; i++) {
        want[i] = (float)json_number_value(json_array_get(emb, (size_t)i));
        want_raw[i] = (float)json_number_value(json_array_get(raw, (size_t)i));
    }
    CHECK_OK(lo_embed(m, c, 0, toks.ids, (int32_t)toks.n, LO_POOLING_MEAN, false, got));
    CHECK_OK(lo_embed(m, c, 0, toks.ids, (int32_t)toks.n, LO_POOLING_MEAN, true, gotn));
    const double cos_n = cosine(gotn, want, n_embd), cos_r = cosine(got, want_raw, n_embd);
    double norm = 0;
    for (int64_t i = 0; i < n_embd; i++) norm += (double)gotn[i] * gotn[i];
    CHECK_MSG(cos_n >= 0.9999, "'%s': cosine %.6f with llama.cpp's embedding", prompt, cos_n);
    CHECK_MSG(cos_r >= 0.9999, "'%s': cosine %.6f with llama.cpp's raw mean", prompt, cos_r);
    CHECK_MSG(fabs(sqrt(norm) - 1.0) < 1e-5, "'%s': |e| = %.7f after normalisation", prompt, sqrt(norm));
    fprintf(stderr, "bert '%s': cosine %.7f (raw %.7f), max|d| %.2e\n", prompt, cos_n, cos_r,
            max_abs_diff(gotn, want, n_embd));
    /* CLS / LAST pooling pick one row: with the whole sequence seen by every token they differ from the mean */
    float cls[1024];
    CHECK_OK(lo_embed(m, c, 0, toks.ids, (int32_t)toks.n, LO_POOLING_CLS, false, cls));
    CHECK(max_abs_diff(cls, got, n_embd) > 1e-3);
    lo_tokens_free(&toks);
    g_bert_cases++;
}

static void test_bert(void) {
    char path[1024];
    check_shared("models/synthetic/golden.jsonl", path, sizeof path);
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(lo_read_file(path, &text, &len));
    if (!text) return;
    char mpath[1024];
    check_shared("models/synthetic/bert.f32.gguf", mpath, sizeof mpath);
    lo_model *m = NULL;
    lo_status s = lo_model_load(mpath, &m);
    CHECK_OK(s);
    if (s) {
        lo_free(text);
        return;
    }
    CHECK(lo_model_is_encoder(m));
    CHECK_INT_EQ(lo_model_pooling(m), LO_POOLING_MEAN);
    CHECK(!lo_model_hparams(m)->causal);
    /* an encoder has no logits: a context without embeddings is refused */
    lo_context *c = NULL;
    lo_context_params cp = {.n_ctx = 64, .n_seq = 2, .n_batch = 64, .n_threads = 2};
    CHECK_INT_EQ(lo_context_create(m, &cp, &c), LO_ERR_INVALID);
    cp.n_ctx = 100000, cp.embeddings = true;
    CHECK_INT_EQ(lo_context_create(m, &cp, &c), LO_ERR_RANGE); /* beyond the 256 learned positions */
    cp.n_ctx = 64;
    CHECK_OK(lo_context_create(m, &cp, &c));
    if (!c) {
        lo_model_free(m);
        lo_free(text);
        return;
    }
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t l = nl ? (size_t)(nl - line) : strlen(line);
        json_error_t err;
        json_t *cs = l ? json_loadb(line, l, 0, &err) : NULL;
        const char *kind = cs ? json_string_value(json_object_get(cs, "kind")) : NULL;
        if (kind && strcmp(kind, "embedding") == 0) bert_case(m, c, cs);
        json_decref(cs);
        line = nl ? nl + 1 : NULL;
    }
    CHECK_INT_EQ(g_bert_cases, 3);
    /* decode on an encoder context keeps hidden states and gives no logits */
    int32_t ids[3] = {101, 2320, 102}, pos[3] = {0, 1, 2}, seq[3] = {1, 1, 1};
    lo_batch b = {.n_tokens = 3, .token = ids, .pos = pos, .seq = seq, .logits = NULL};
    lo_context_seq_clear(c, 1, 0, -1);
    CHECK_OK(lo_model_decode(c, &b));
    CHECK(lo_context_logits(c, 2) == NULL);
    CHECK(lo_context_embeddings(c, 2) != NULL);
    /* bidirectional: the first token's state depends on the last token */
    float e0[1024];
    const int64_t n_embd = lo_model_hparams(m)->n_embd;
    memcpy(e0, lo_context_embeddings(c, 0) ? lo_context_embeddings(c, 0) : e0, (size_t)n_embd * sizeof(float));
    ids[2] = 1037;
    lo_context_seq_clear(c, 1, 0, -1);
    CHECK_OK(lo_model_encode(c, &b));
    const float *e0b = lo_context_embeddings(c, 0);
    CHECK(e0b && max_abs_diff(e0, e0b, n_embd) > 1e-4);
    /* a sequence longer than one batch is refused for an encoder */
    int32_t many[80];
    for (int i = 0; i < 80; i++) many[i] = 1037;
    float out[1024];
    CHECK_INT_EQ(lo_embed(m, c, 0, many, 80, LO_POOLING_MEAN, true, out), LO_ERR_RANGE);
    lo_context_free(c);
    lo_model_free(m);
    lo_free(text);
}

static void test_decoder(void) {
    char path[1024];
    check_shared("models/synthetic/llama-k.f32.gguf", path, sizeof path);
    lo_model *m = NULL;
    lo_status s = lo_model_load(path, &m);
    CHECK_OK(s);
    if (s) return;
    CHECK(!lo_model_is_encoder(m));
    CHECK_INT_EQ(lo_model_pooling(m), LO_POOLING_LAST);
    const int64_t n_embd = lo_model_hparams(m)->n_embd, n_vocab = lo_model_hparams(m)->n_vocab;
    enum { N = 10 };
    const int32_t ids[N] = {1, 403, 407, 261, 378, 260, 376, 237, 258, 176};
    int32_t pos[N], seq[N];
    bool all[N];
    for (int i = 0; i < N; i++) pos[i] = i, seq[i] = 0, all[i] = true;

    lo_context *plain = NULL, *c = NULL, *small = NULL;
    lo_context_params cp = {.n_ctx = 32, .n_seq = 2, .n_batch = 16, .n_threads = 2};
    CHECK_OK(lo_context_create(m, &cp, &plain));
    cp.embeddings = true;
    CHECK_OK(lo_context_create(m, &cp, &c));
    cp.n_batch = 3;
    CHECK_OK(lo_context_create(m, &cp, &small));
    if (!plain || !c || !small) goto done;

    float out[256];
    /* a context without embeddings keeps no hidden states and lo_embed refuses it */
    lo_batch b = {.n_tokens = N, .token = ids, .pos = pos, .seq = seq, .logits = all};
    CHECK_OK(lo_model_decode(plain, &b));
    CHECK(lo_context_embeddings(plain, 0) == NULL);
    CHECK_INT_EQ(lo_embed(m, plain, 0, ids, N, LO_POOLING_LAST, true, out), LO_ERR_INVALID);

    /* decode with embeddings: every row's hidden state and logits; logits = output · hidden */
    lo_context_seq_clear(c, 1, 0, -1);
    for (int i = 0; i < N; i++) seq[i] = 1;
    CHECK_OK(lo_model_decode(c, &b));
    static float hid[N][256], mean[256];
    memset(mean, 0, sizeof mean);
    for (int i = 0; i < N; i++) {
        const float *e = lo_context_embeddings(c, i);
        CHECK(e != NULL);
        if (!e) goto done;
        memcpy(hid[i], e, (size_t)n_embd * sizeof(float));
        for (int64_t k = 0; k < n_embd; k++) mean[k] += e[k] * (1.0f / N);
    }
    const lo_gguf *g = lo_model_gguf(m);
    const lo_gguf_tensor *ot = lo_gguf_tensor_at(g, lo_gguf_find_tensor(g, "output.weight"));
    CHECK(ot->type == LO_DTYPE_F32 && ot->ne[1] == n_vocab);
    const float *W = ot->data;
    double worst = 0;
    for (int i = 0; i < N; i++) {
        const float *lg = lo_context_logits(c, i);
        CHECK(lg != NULL);
        if (!lg) break;
        for (int64_t v = 0; v < n_vocab; v += 37) {
            double d = 0;
            for (int64_t k = 0; k < n_embd; k++) d += (double)W[v * n_embd + k] * hid[i][k];
            worst = fmax(worst, fabs(d - lg[v]));
        }
    }
    CHECK_MSG(worst < 1e-3, "logits differ from output · hidden by %g", worst);
    /* the state kept matches the logits of a plain context (decode unchanged) */
    for (int i = 0; i < N; i++) seq[i] = 0;
    lo_context_seq_clear(plain, 0, 0, -1);
    CHECK_OK(lo_model_decode(plain, &b));
    CHECK(max_abs_diff(lo_context_logits(plain, N - 1), lo_context_logits(c, N - 1), n_vocab) == 0.0);

    /* lo_embed: last / cls / mean equal those rows; no logits computed by encode */
    CHECK_OK(lo_embed(m, c, 0, ids, N, LO_POOLING_LAST, false, out));
    CHECK(max_abs_diff(out, hid[N - 1], n_embd) < 1e-6);
    CHECK(lo_context_logits(c, 0) == NULL);
    CHECK_OK(lo_embed(m, c, 0, ids, N, LO_POOLING_CLS, false, out));
    CHECK(max_abs_diff(out, hid[0], n_embd) < 1e-6);
    CHECK_OK(lo_embed(m, c, 0, ids, N, LO_POOLING_MEAN, false, out));
    CHECK(max_abs_diff(out, mean, n_embd) < 1e-5);
    /* chunked (n_batch 3) gives the same vectors */
    float out2[256];
    CHECK_OK(lo_embed(m, small, 1, ids, N, LO_POOLING_MEAN, false, out2));
    CHECK_MSG(max_abs_diff(out, out2, n_embd) < 1e-4, "chunked mean differs by %g", max_abs_diff(out, out2, n_embd));
    CHECK_OK(lo_embed(m, small, 0, ids, N, LO_POOLING_LAST, true, out2));
    CHECK_OK(lo_embed(m, c, 0, ids, N, LO_POOLING_LAST, true, out));
    CHECK(cosine(out, out2, n_embd) > 0.99999);
    double nn = 0;
    for (int64_t k = 0; k < n_embd; k++) nn += (double)out[k] * out[k];
    CHECK(fabs(nn - 1.0) < 1e-5);

    /* errors */
    CHECK_INT_EQ(lo_embed(m, c, 0, ids, 0, LO_POOLING_MEAN, true, out), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_embed(m, c, 5, ids, N, LO_POOLING_MEAN, true, out), LO_ERR_RANGE);
    CHECK_INT_EQ(lo_embed(m, c, 0, ids, N, (lo_pooling)7, true, out), LO_ERR_INVALID);
    int32_t big[40] = {0};
    CHECK_INT_EQ(lo_embed(m, c, 0, big, 40, LO_POOLING_MEAN, true, out), LO_ERR_RANGE);
    int32_t bad[2] = {1, 99999};
    CHECK_INT_EQ(lo_embed(m, c, 0, bad, 2, LO_POOLING_MEAN, true, out), LO_ERR_RANGE);
    CHECK_INT_EQ(lo_model_encode(plain, &b), LO_ERR_INVALID);

    CHECK_INT_EQ(lo_pooling_from_name("MEAN"), LO_POOLING_MEAN);
    CHECK_INT_EQ(lo_pooling_from_name("cls"), LO_POOLING_CLS);
    CHECK_INT_EQ(lo_pooling_from_name("last"), LO_POOLING_LAST);
    CHECK_INT_EQ(lo_pooling_from_name("max"), -1);
    CHECK_INT_EQ(lo_pooling_from_name("las"), -1);
    CHECK_STR_EQ(lo_pooling_name(LO_POOLING_CLS), "cls");
done:
    lo_context_free(plain);
    lo_context_free(c);
    lo_context_free(small);
    lo_model_free(m);
}

int main(void) {
    test_decoder();
    test_bert();
    return check_done();
}
