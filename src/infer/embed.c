/* infer: embeddings — token ids through the model's forward (no output head), the hidden
 * states pooled (mean / first / last token) and L2-normalised as llama-server's
 * /v1/embeddings does; the one code path behind `llmops embed` and the API. */
#include "llmops/infer.h"

#include <math.h>
#include <string.h>

lo_status lo_embed(const lo_model *m, lo_context *c, int32_t seq, const int32_t *ids, int32_t n_ids,
                   lo_pooling pooling, bool normalize, float *out) {
    LO_ASSERT(m && c && out);
    const lo_hparams *hp = lo_model_hparams(m);
    const int64_t n_embd = hp->n_embd;
    const int32_t n_ctx = lo_context_n_ctx(c), n_batch = lo_context_n_batch(c);
    const bool encoder = lo_model_is_encoder(m);
    if (pooling != LO_POOLING_MEAN && pooling != LO_POOLING_CLS && pooling != LO_POOLING_LAST)
        return lo_error(LO_ERR_INVALID, "use mean, cls or last", "pooling %d is not a pooling type", (int)pooling);
    if (!ids || n_ids < 1) return lo_error(LO_ERR_INVALID, NULL, "nothing to embed: the input has no tokens");
    if (seq < 0 || seq >= lo_context_n_seq(c))
        return lo_error(LO_ERR_RANGE, NULL, "sequence %d is outside 0..%d", seq, lo_context_n_seq(c) - 1);
    if (n_ids > n_ctx)
        return lo_error(LO_ERR_RANGE, "shorten the input or use a larger context",
                        "the input has %d tokens but the context holds %d", n_ids, n_ctx);
    if (encoder && n_ids > n_batch)
        return lo_error(LO_ERR_RANGE, "shorten the input or use a larger n_batch",
                        "the input has %d tokens but an encoder sees a sequence in one batch of at most %d", n_ids,
                        n_batch);
    for (int32_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= hp->n_vocab)
            return lo_error(LO_ERR_RANGE, NULL, "token %d: id %d is outside the vocabulary (0..%d)", i, ids[i],
                            hp->n_vocab - 1);

    /* pos/seq/output-mask arrays for one chunk live on the stack (chunks of at most 2048
     * tokens, and of the context's n_batch): nothing is allocated per call */
    enum { SLICE = 2048 };
    int32_t pos[SLICE], sq[SLICE];
    bool want[SLICE];
    /* mean: Σ e·(1/n) in float, as llama.cpp's pooling matmul with its 1/n matrix does */
    const float inv_n = 1.0f / (float)n_ids;
    memset(out, 0, (size_t)n_embd * sizeof(float));
    lo_context_seq_clear(c, seq, 0, -1);
    lo_status st = LO_OK;
    const int32_t chunk_max = n_batch < SLICE ? n_batch : SLICE;
    for (int32_t i0 = 0; i0 < n_ids && !st;) {
        int32_t n = n_ids - i0;
        if (n > chunk_max) n = chunk_max;
        if (encoder && n < n_ids) { /* an encoder's sequence must be one batch */
            st = lo_error(LO_ERR_RANGE, "shorten the input", "the input has %d tokens; at most %d fit one batch here",
                          n_ids, chunk_max);
            break;
        }
        for (int32_t j = 0; j < n; j++) {
            const int32_t i = i0 + j;
            pos[j] = i, sq[j] = seq;
            want[j] = pooling == LO_POOLING_MEAN || (pooling == LO_POOLING_CLS && i == 0) ||
                      (pooling == LO_POOLING_LAST && i == n_ids - 1);
        }
        /* a chunk with no wanted row (LAST/CLS) still fills the KV cache for the next */
        lo_batch b = {.n_tokens = n, .token = ids + i0, .pos = pos, .seq = sq, .logits = want};
        if ((st = lo_model_encode(c, &b))) break;
        for (int32_t j = 0; j < n; j++) {
            if (!want[j]) continue;
            const float *e = lo_context_embeddings(c, j);
            LO_ASSERT(e);
            if (pooling == LO_POOLING_MEAN) {
                for (int64_t k = 0; k < n_embd; k++) out[k] += e[k] * inv_n;
            } else {
                memcpy(out, e, (size_t)n_embd * sizeof(float));
            }
        }
        i0 += n;
    }
    lo_context_seq_clear(c, seq, 0, -1);
    if (st) return st;
    if (normalize) {
        /* common_embd_normalize(…, 2): Euclidean norm in double; a zero vector stays zero */
        double ss = 0.0;
        for (int64_t k = 0; k < n_embd; k++) ss += (double)out[k] * (double)out[k];
        const float inv = ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (int64_t k = 0; k < n_embd; k++) out[k] *= inv;
    }
    for (int64_t k = 0; k < n_embd; k++)
        if (!isfinite(out[k]))
            return lo_error(LO_ERR_INVALID, "the model's weights may be corrupt",
                            "the embedding has a non-finite component %lld", (long long)k);
    return LO_OK;
}
