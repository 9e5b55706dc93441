/* The generation loop: decode the prompt in chunks, then sample → accept → decode one
 * token at a time, stopping at EOG tokens, stop strings (matched across token
 * boundaries), max tokens or a full context; streams complete UTF-8 text through a
 * callback. Every buffer is sized before the loop. */
#include <math.h>
#include <string.h>

#include "infer/infer_internal.h"

const char *lo_finish_reason_name(lo_finish_reason r) {
    switch (r) {
    case LO_FINISH_STOP: return "stop";
    case LO_FINISH_LENGTH: return "length";
    case LO_FINISH_ABORT: return "abort";
    }
    return "unknown";
}

void lo_generate_params_default(lo_generate_params *p) {
    memset(p, 0, sizeof *p);
    p->n_predict = 64;
    lo_sampler_params_default(&p->sampling);
    p->n_batch = 512;
}

void lo_generate_result_free(lo_generate_result *r) {
    if (!r) return;
    lo_free(r->ids);
    lo_free(r->text);
    r->ids = NULL;
    r->text = NULL;
}

/* Passes released text to the callback until it asks to stop. */
static void deliver(const lo_generate_params *p, bool *aborted, int32_t id, const char *text, size_t len) {
    if (p->on_token && !*aborted && !p->on_token(p->user, id, text, len)) *aborted = true;
}

lo_status lo_generate(const lo_model *m, lo_context *c, const int32_t *prompt, int32_t n_prompt,
                      const lo_generate_params *p, lo_generate_result *out) {
    memset(out, 0, sizeof *out);
    const lo_tokenizer *tok = lo_model_tokenizer(m);
    const int32_t nv = lo_model_hparams(m)->n_vocab;
    const int32_t n_ctx = lo_context_n_ctx(c);
    if (n_prompt <= 0 || !prompt)
        return lo_error(LO_ERR_INVALID, "give at least one token (e.g. BOS)", "generate: the prompt is empty");
    if (n_prompt >= n_ctx)
        return lo_error(LO_ERR_RANGE, "use a larger context or a shorter prompt",
                        "generate: prompt of %d tokens does not fit a context of %d", n_prompt, n_ctx);
    if (p->n_predict < 0) return lo_error(LO_ERR_RANGE, NULL, "generate: n_predict %d is negative", p->n_predict);
    if (p->n_stop < 0 || (p->n_stop > 0 && !p->stop)) return lo_error(LO_ERR_INVALID, NULL, "generate: bad stop list");
    if (p->seq < 0 || p->seq >= lo_context_n_seq(c))
        return lo_error(LO_ERR_RANGE, NULL, "generate: sequence %d is not in the context (0..%d)", p->seq,
                        lo_context_n_seq(c) - 1);
    for (int32_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= nv)
            return lo_error(LO_ERR_RANGE, NULL, "generate: prompt token %d (id %d) is outside the vocabulary", i,
                            prompt[i]);
    const int32_t n_batch = p->n_batch > 0 ? p->n_batch : 512;
    /* generated token k is decoded at position n_prompt + k - 1; the last one never is */
    int32_t n_max = p->n_predict;
    if (n_max > n_ctx - n_prompt + 1) n_max = n_ctx - n_prompt + 1;

    lo_sampler_params sp = p->sampling;
    if (sp.repeat_last_n < 0) sp.repeat_last_n = n_ctx; /* llama.cpp's -1: the context size */
    lo_sampler *smp = NULL;
    int32_t *pos = NULL, *seq = NULL;
    lo_status st = lo_sampler_create(&sp, nv, &smp);
    if (st != LO_OK) return st;
    if (p->ignore_eos)
        for (int32_t id = 0; id < nv; id++)
            if (lo_tokenizer_is_eog(tok, id) && (st = lo_sampler_add_bias(smp, id, -INFINITY)) != LO_OK) goto done;

    out->seed = lo_sampler_seed(smp);
    size_t max_piece = 0;
    for (int32_t id = 0; id < nv; id++) {
        size_t len = 0;
        if (lo_tokenizer_token_text(tok, id, &len) && len > max_piece) max_piece = len;
    }
    if (max_piece > 256) max_piece = 256; /* a longer piece grows the buffer once */
    const size_t text_cap = (size_t)n_max * (max_piece + 4) + 64;
    out->ids = lo_malloc(((size_t)n_max + 1) * sizeof *out->ids);
    out->text = lo_malloc(text_cap);
    pos = lo_malloc((size_t)n_batch * sizeof *pos);
    seq = lo_malloc((size_t)n_batch * sizeof *seq);
    if (!out->ids || !out->text || !pos || !seq) {
        st = LO_ERR_NOMEM;
        goto fail;
    }
    lo_textstream ts;
    lo_textstream_init(&ts, out->text, text_cap, p->stop, p->n_stop);
    bool aborted = false;
    for (int32_t i = 0; i < n_batch; i++) seq[i] = p->seq;

    /* the prompt joins the penalty history, as llama-cli does */
    for (int32_t i = 0; i < n_prompt; i++) lo_sampler_accept(smp, prompt[i]);

    lo_context_seq_clear(c, p->seq, 0, -1);
    double t0 = lo_time_sec();
    int32_t last_n = 0;
    for (int32_t b = 0; b < n_prompt; b += n_batch) {
        int32_t nb = n_prompt - b < n_batch ? n_prompt - b : n_batch;
        for (int32_t i = 0; i < nb; i++) pos[i] = b + i;
        lo_batch batch = {.n_tokens = nb, .token = prompt + b, .pos = pos, .seq = seq, .logits = NULL};
        if ((st = lo_model_decode(c, &batch)) != LO_OK) {
            lo_error_wrap(st, "generate: decoding the prompt");
            goto fail;
        }
        last_n = nb;
    }
    double t1 = lo_time_sec();
    out->n_prompt = n_prompt;
    out->t_prompt_ms = (t1 - t0) * 1e3;
    const float *logits = lo_context_logits(c, last_n - 1);

    out->finish = LO_FINISH_LENGTH;
    int32_t n = 0;
    while (n < n_max) {
        if (!logits) {
            st = lo_error(LO_ERR_INTERNAL, NULL, "generate: the context returned no logits");
            goto fail;
        }
        int32_t id;
        if ((st = lo_sampler_sample(smp, logits, &id)) != LO_OK) goto fail;
        lo_sampler_accept(smp, id);
        if (!p->ignore_eos && lo_tokenizer_is_eog(tok, id)) {
            out->finish = LO_FINISH_STOP;
            break;
        }
        out->ids[n++] = id;
        bool last = n == n_max, stopped;
        size_t from, len;
        st = lo_textstream_push(&ts, tok, id, last, &from, &len, &stopped);
        out->text = ts.text; /* the buffer may have moved */
        if (st != LO_OK) goto fail;
        deliver(p, &aborted, id, ts.text + from, len);
        if (stopped) {
            out->finish = LO_FINISH_STOP;
            break;
        }
        if (aborted) {
            out->finish = LO_FINISH_ABORT;
            break;
        }
        if (last) break;
        int32_t p1 = n_prompt + n - 1;
        lo_batch batch = {.n_tokens = 1, .token = &out->ids[n - 1], .pos = &p1, .seq = &p->seq, .logits = NULL};
        if ((st = lo_model_decode(c, &batch)) != LO_OK) {
            lo_error_wrap(st, "generate: decoding token %d", n);
            goto fail;
        }
        logits = lo_context_logits(c, 0);
    }
    /* text held back for a stop string that never came (or an unfinished character) */
    size_t from, len;
    if (lo_textstream_flush(&ts, &from, &len) && out->finish != LO_FINISH_ABORT) deliver(p, &aborted, -1, ts.text + from, len);
    out->text_len = ts.len;
    out->stop_hit = ts.stop_hit;
    out->n_completion = n;
    double t2 = lo_time_sec();
    out->t_gen_ms = (t2 - t1) * 1e3;
    out->prompt_tps = out->t_prompt_ms > 0 ? n_prompt / (out->t_prompt_ms / 1e3) : 0;
    out->gen_tps = out->t_gen_ms > 0 ? n / (out->t_gen_ms / 1e3) : 0;
    st = LO_OK;
    goto done;
fail:
    lo_generate_result_free(out);
done:
    lo_free(pos);
    lo_free(seq);
    lo_sampler_free(smp);
    return st;
}
