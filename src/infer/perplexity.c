/* Perplexity as llama-perplexity computes it: the text tokenized with BOS, split into
 * n_tokens / n_ctx chunks whose first token becomes BOS, each chunk decoded from an empty
 * sequence, and the second half of each chunk scored (log-softmax in double). */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "infer/infer_internal.h"

void lo_perplexity_result_free(lo_perplexity_result *r) {
    if (!r) return;
    lo_free(r->chunk_ppl);
    r->chunk_ppl = NULL;
}

/* -log p(tok) under softmax(logits), as llama-perplexity's log_softmax (float max,
 * double sum of exp). */
double lo_nll_of(const float *logits, int32_t n_vocab, int32_t tok) {
    float mx = logits[0];
    for (int32_t i = 1; i < n_vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)(logits[i] - mx));
    return -((double)(logits[tok] - mx) - log(sum));
}

lo_status lo_perplexity(const lo_model *m, lo_context *c, const char *text, size_t len,
                        const lo_perplexity_params *p, lo_perplexity_result *out) {
    memset(out, 0, sizeof *out);
    const lo_tokenizer *tok = lo_model_tokenizer(m);
    const int32_t nv = lo_model_hparams(m)->n_vocab;
    const int32_t n_ctx = p->n_ctx > 0 ? p->n_ctx : 512;
    const int32_t n_batch = p->n_batch > 0 ? (p->n_batch < n_ctx ? p->n_batch : n_ctx) : n_ctx;
    if (n_ctx < 4) return lo_error(LO_ERR_RANGE, NULL, "perplexity: window %d is too small (at least 4)", n_ctx);
    if (n_ctx > lo_context_n_ctx(c))
        return lo_error(LO_ERR_RANGE, NULL, "perplexity: window %d exceeds the context's %d positions", n_ctx,
                        lo_context_n_ctx(c));

    lo_tokens toks = {0};
    lo_status st = lo_tokenize(tok, text, len, true, false, &toks);
    int32_t *buf = NULL, *pos = NULL, *seq = NULL;
    bool *want = NULL;
    if (st != LO_OK) {
        lo_error_wrap(st, "perplexity: tokenizing the text");
        goto done;
    }
    out->n_tokens = toks.n;
    if (toks.n < 2 * (int64_t)n_ctx) {
        st = lo_error(LO_ERR_INVALID, "use a longer text or a smaller --ctx",
                      "perplexity: the text has %" PRId64 " tokens; a window of %d needs at least %" PRId64, toks.n,
                      n_ctx, 2 * (int64_t)n_ctx);
        goto done;
    }
    int64_t n_chunk = toks.n / n_ctx;
    if (p->n_chunks > 0 && p->n_chunks < n_chunk) n_chunk = p->n_chunks;
    const bool add_bos = lo_tokenizer_add_bos(tok) && lo_tokenizer_bos(tok) >= 0;
    const int32_t bos = lo_tokenizer_bos(tok), first = n_ctx / 2;

    buf = lo_malloc((size_t)n_batch * sizeof *buf);
    pos = lo_malloc((size_t)n_batch * sizeof *pos);
    seq = lo_calloc((size_t)n_batch, sizeof *seq);
    want = lo_malloc((size_t)n_batch * sizeof *want);
    out->chunk_ppl = lo_calloc((size_t)n_chunk, sizeof *out->chunk_ppl);
    if (!buf || !pos || !seq || !want || !out->chunk_ppl) {
        st = LO_ERR_NOMEM;
        goto done;
    }
    double nll = 0, nll2 = 0;
    int64_t count = 0;
    for (int64_t ch = 0; ch < n_chunk; ch++) {
        const int32_t *chunk = toks.ids + ch * n_ctx;
        lo_context_seq_clear(c, 0, 0, -1);
        for (int32_t b = 0; b < n_ctx; b += n_batch) {
            int32_t nb = n_ctx - b < n_batch ? n_ctx - b : n_batch;
            for (int32_t k = 0; k < nb; k++) {
                buf[k] = chunk[b + k];
                pos[k] = b + k;
                want[k] = b + k >= first && b + k < n_ctx - 1;
            }
            if (b == 0 && add_bos) buf[0] = bos;
            lo_batch batch = {.n_tokens = nb, .token = buf, .pos = pos, .seq = seq, .logits = want};
            if ((st = lo_model_decode(c, &batch)) != LO_OK) {
                lo_error_wrap(st, "perplexity: chunk %" PRId64, ch + 1);
                goto done;
            }
            for (int32_t k = 0; k < nb; k++) {
                if (!want[k]) continue;
                const float *lg = lo_context_logits(c, k);
                if (!lg) {
                    st = lo_error(LO_ERR_INTERNAL, NULL, "perplexity: the context returned no logits");
                    goto done;
                }
                double v = lo_nll_of(lg, nv, chunk[b + k + 1]);
                nll += v;
                nll2 += v * v;
                count++;
            }
        }
        out->chunk_ppl[ch] = exp(nll / (double)count);
        out->n_chunks = (int32_t)(ch + 1);
        if (p->on_chunk) p->on_chunk(p->user, (int32_t)(ch + 1), out->chunk_ppl[ch]);
    }
    out->n_scored = count;
    out->nll = nll / (double)count;
    out->ppl = exp(out->nll);
    double var = nll2 / (double)count - out->nll * out->nll;
    out->ppl_err = var > 0 && count > 1 ? sqrt(var / (double)(count - 1)) * out->ppl : 0;
    if (!isfinite(out->ppl)) {
        st = lo_error(LO_ERR_INTERNAL, "the model produced invalid numbers", "perplexity is not finite");
        goto done;
    }
    st = LO_OK;
done:
    if (st != LO_OK) lo_perplexity_result_free(out);
    lo_tokens_free(&toks);
    lo_free(buf);
    lo_free(pos);
    lo_free(seq);
    lo_free(want);
    return st;
}
