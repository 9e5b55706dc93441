/* Perplexity as llama-perplexity computes it: the text tokenized with BOS, split into
 * n_tokens / n_ctx chunks whose first token becomes BOS, each chunk decoded from an empty
 * sequence, and the second half of each chunk scored (log-softmax in double); and the
 * teacher-forced NLL of continuations after their contexts, several packed per forward. */
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

/* Slot state of lo_score_continuations: the item a sequence holds and its next position. */
typedef struct nll_slot {
    int64_t item; /* -1 = free */
    int32_t next;
} nll_slot;

lo_status lo_score_continuations(const lo_model *m, lo_context *c, lo_nll_item *items, int64_t n_items) {
    const int32_t nv = lo_model_hparams(m)->n_vocab, n_ctx = lo_context_n_ctx(c);
    const int32_t n_seq = lo_context_n_seq(c), n_batch = lo_context_n_batch(c);
    for (int64_t i = 0; i < n_items; i++) {
        lo_nll_item *it = &items[i];
        it->nll = 0;
        it->n_scored = 0;
        if (!it->ids || it->n_context < 1 || it->n_context >= it->n_ids)
            return lo_error(LO_ERR_INVALID, "give at least one context token and one continuation token",
                            "scoring item %" PRId64 ": %d context tokens of %d", i, it->n_context, it->n_ids);
        if (it->n_ids > n_ctx)
            return lo_error(LO_ERR_RANGE, "use a larger context or shorter texts",
                            "scoring item %" PRId64 ": %d tokens do not fit the context of %d", i, it->n_ids, n_ctx);
        for (int32_t k = 0; k < it->n_ids; k++)
            if (it->ids[k] < 0 || it->ids[k] >= nv)
                return lo_error(LO_ERR_INVALID, NULL, "scoring item %" PRId64 ": token id %d is outside the vocabulary of %d",
                                i, it->ids[k], nv);
    }
    nll_slot *slot = lo_malloc((size_t)n_seq * sizeof *slot);
    int32_t *tok = lo_malloc((size_t)n_batch * sizeof *tok), *pos = lo_malloc((size_t)n_batch * sizeof *pos);
    int32_t *seq = lo_malloc((size_t)n_batch * sizeof *seq);
    bool *want = lo_malloc((size_t)n_batch * sizeof *want);
    lo_status st = LO_OK;
    if (!slot || !tok || !pos || !seq || !want) {
        st = LO_ERR_NOMEM;
        goto done;
    }
    int64_t next_item = 0, n_done = 0;
    for (int32_t j = 0; j < n_seq; j++) slot[j].item = -1;
    while (n_done < n_items) {
        /* free sequences take the next items; then fill one batch from the busy ones */
        for (int32_t j = 0; j < n_seq; j++)
            if (slot[j].item < 0 && next_item < n_items) {
                lo_context_seq_clear(c, j, 0, -1);
                slot[j].item = next_item++;
                slot[j].next = 0;
            }
        int32_t nb = 0;
        for (int32_t j = 0; j < n_seq && nb < n_batch; j++) {
            if (slot[j].item < 0) continue;
            const lo_nll_item *it = &items[slot[j].item];
            while (slot[j].next < it->n_ids && nb < n_batch) {
                int32_t p = slot[j].next++;
                tok[nb] = it->ids[p];
                pos[nb] = p;
                seq[nb] = j;
                want[nb] = p >= it->n_context - 1 && p < it->n_ids - 1;
                nb++;
            }
        }
        lo_batch batch = {.n_tokens = nb, .token = tok, .pos = pos, .seq = seq, .logits = want};
        if ((st = lo_model_decode(c, &batch)) != LO_OK) {
            lo_error_wrap(st, "scoring continuations");
            goto done;
        }
        for (int32_t k = 0; k < nb; k++) {
            if (!want[k]) continue;
            lo_nll_item *it = &items[slot[seq[k]].item];
            const float *lg = lo_context_logits(c, k);
            if (!lg) {
                st = lo_error(LO_ERR_INTERNAL, NULL, "scoring continuations: the context returned no logits");
                goto done;
            }
            it->nll += lo_nll_of(lg, nv, it->ids[pos[k] + 1]);
            it->n_scored++;
        }
        for (int32_t j = 0; j < n_seq; j++)
            if (slot[j].item >= 0 && slot[j].next == items[slot[j].item].n_ids) {
                lo_context_seq_clear(c, j, 0, -1);
                slot[j].item = -1;
                n_done++;
            }
    }
done:
    lo_free(slot);
    lo_free(tok);
    lo_free(pos);
    lo_free(seq);
    lo_free(want);
    return st;
}
