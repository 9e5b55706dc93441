/* Perplexity of the stories260K model card (llama2c/stories260K.md) on stories260K: against
 * llama-perplexity's recorded value, an independent computation of one chunk from raw
 * logits, determinism, batching invariance and the too-short-text error. */
#include <math.h>

#include "check.h"
#include "infer/infer_internal.h"
#include "llmops/llmops.h"

/* Golden, recorded once (the test never runs llama.cpp):
 *   llama-perplexity -m shared/models/stories260K.gguf -f shared/models/llama2c/stories260K.md \
 *       --ctx-size 128 -t 2
 * llama.cpp version 0.5.0-dev (build 1, commit de3ff81), CPU build:
 *   [1]117.3426,[2]642.6722,...,[14]157.6687,
 *   Final estimate: PPL = 157.6687 +/- 27.67183
 * (over 14 chunks, n_ctx=128). */
#define GOLD_PPL 157.6687
#define GOLD_ERR 27.67183
#define GOLD_CHUNK1 117.3426
#define GOLD_CHUNKS 14

static lo_model *model;

static int n_cb;
static double last_cb;
static void on_chunk(void *user, int32_t chunk, double ppl) {
    (void)user;
    n_cb++;
    CHECK_INT_EQ(chunk, n_cb);
    last_cb = ppl;
}

/* One chunk scored independently: the first 128 tokens with BOS first, decoded with every
 * logit row requested, log-softmax in double throughout. */
static double independent_chunk1(const char *text, size_t len) {
    const int n_ctx = 128, first = n_ctx / 2;
    const lo_tokenizer *tok = lo_model_tokenizer(model);
    const int32_t nv = lo_model_hparams(model)->n_vocab;
    lo_tokens t = {0};
    CHECK_OK(lo_tokenize(tok, text, len, true, false, &t));
    if (t.n < n_ctx) return NAN;
    int32_t ids[128], pos[128], seq[128] = {0};
    bool want[128];
    for (int i = 0; i < n_ctx; i++) ids[i] = t.ids[i], pos[i] = i, want[i] = true;
    ids[0] = lo_tokenizer_bos(tok);
    lo_context *c = NULL;
    lo_context_params cp = {.n_ctx = n_ctx, .n_seq = 1, .n_batch = n_ctx, .n_threads = 1};
    CHECK_OK(lo_context_create(model, &cp, &c));
    lo_batch b = {.n_tokens = n_ctx, .token = ids, .pos = pos, .seq = seq, .logits = want};
    CHECK_OK(lo_model_decode(c, &b));
    double nll = 0;
    int count = 0;
    for (int i = first; i < n_ctx - 1; i++) {
        const float *lg = lo_context_logits(c, i);
        if (!lg) return NAN;
        double mx = -INFINITY, sum = 0;
        for (int32_t v = 0; v < nv; v++) mx = lg[v] > mx ? lg[v] : mx;
        for (int32_t v = 0; v < nv; v++) sum += exp((double)lg[v] - mx);
        nll -= (double)lg[t.ids[i + 1]] - mx - log(sum);
        count++;
    }
    lo_context_free(c);
    lo_tokens_free(&t);
    return exp(nll / count);
}

int main(void) {
    char path[1024];
    CHECK_OK(lo_model_load(check_shared("models/stories260K.gguf", path, sizeof path), &model));
    if (!model) return check_done();
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(lo_read_file(check_shared("models/llama2c/stories260K.md", path, sizeof path), &text, &len));
    if (!text) return check_done();
    lo_context *c = NULL;
    lo_context_params cp = {.n_ctx = 128, .n_seq = 1, .n_batch = 128, .n_threads = 2};
    CHECK_OK(lo_context_create(model, &cp, &c));
    if (!c) return check_done();

    lo_perplexity_params pp = {.n_ctx = 128, .on_chunk = on_chunk};
    lo_perplexity_result r, r2, r3;
    CHECK_OK(lo_perplexity(model, c, text, len, &pp, &r));
    fprintf(stderr, "ppl %.4f +/- %.5f over %d chunks (%" PRId64 " tokens, %" PRId64 " scored); llama.cpp %.4f +/- %.5f\n",
            r.ppl, r.ppl_err, r.n_chunks, r.n_tokens, r.n_scored, GOLD_PPL, GOLD_ERR);
    CHECK(isfinite(r.ppl) && r.ppl > 1);
    CHECK_INT_EQ(r.n_chunks, GOLD_CHUNKS);
    CHECK_INT_EQ(r.n_scored, GOLD_CHUNKS * (128 - 64 - 1));
    CHECK_INT_EQ(n_cb, GOLD_CHUNKS);
    CHECK(r.chunk_ppl && last_cb == r.chunk_ppl[r.n_chunks - 1] && last_cb == r.ppl);
    CHECK_MSG(fabs(r.ppl / GOLD_PPL - 1) < 0.01, "ppl %.4f vs llama.cpp %.4f", r.ppl, GOLD_PPL);
    CHECK_MSG(fabs(r.ppl_err / GOLD_ERR - 1) < 0.01, "err %.5f vs llama.cpp %.5f", r.ppl_err, GOLD_ERR);
    CHECK_MSG(r.chunk_ppl && fabs(r.chunk_ppl[0] / GOLD_CHUNK1 - 1) < 0.01, "chunk 1 %.4f vs %.4f",
              r.chunk_ppl ? r.chunk_ppl[0] : 0.0, GOLD_CHUNK1);
    CHECK(fabs(log(r.ppl) - r.nll) < 1e-12);

    /* deterministic, and the same when the window is decoded in batches of 32 */
    n_cb = 0;
    CHECK_OK(lo_perplexity(model, c, text, len, &pp, &r2));
    CHECK(r2.ppl == r.ppl && r2.ppl_err == r.ppl_err);
    lo_perplexity_params pb = {.n_ctx = 128, .n_batch = 32};
    CHECK_OK(lo_perplexity(model, c, text, len, &pb, &r3));
    CHECK_MSG(fabs(r3.ppl / r.ppl - 1) < 1e-4, "batched %.6f vs %.6f", r3.ppl, r.ppl);
    lo_perplexity_result_free(&r2);
    lo_perplexity_result_free(&r3);

    /* one chunk equals the independent computation */
    lo_perplexity_params p1 = {.n_ctx = 128, .n_chunks = 1};
    CHECK_OK(lo_perplexity(model, c, text, len, &p1, &r2));
    CHECK_INT_EQ(r2.n_chunks, 1);
    double ind = independent_chunk1(text, len);
    CHECK_MSG(fabs(r2.ppl / ind - 1) < 1e-6, "chunk 1: %.8f vs independent %.8f", r2.ppl, ind);
    CHECK(r.chunk_ppl && r2.ppl == r.chunk_ppl[0]);
    lo_perplexity_result_free(&r2);

    /* too short a text for the window; a window larger than the context */
    CHECK_INT_EQ(lo_perplexity(model, c, "Once upon a time", 16, &pp, &r2), LO_ERR_INVALID);
    CHECK(r2.chunk_ppl == NULL);
    lo_perplexity_params big = {.n_ctx = 256};
    CHECK_INT_EQ(lo_perplexity(model, c, text, len, &big, &r2), LO_ERR_RANGE);

    lo_perplexity_result_free(&r);
    lo_context_free(c);
    lo_free(text);
    lo_model_free(model);
    CHECK_INT_EQ(lo_alloc_live_bytes(), 0);
    return check_done();
}
