/* Internals of the infer module shared between its files and its tests. */
#ifndef LLMOPS_INFER_INTERNAL_H
#define LLMOPS_INFER_INTERNAL_H

#include "llmops/infer.h"

/* The logits after logit bias and penalties (the first two links of the chain), one per
 * vocab id; -inf marks a banned token. For tests. */
void lo_sampler_adjust_logits(const lo_sampler *s, const float *logits, float *out);

/* The ids that survive bias, penalties, top-k, top-p and min-p for these logits (the
 * set the draw picks from when temperature > 0), in the sampler's internal order; ids
 * holds n_vocab. For tests. */
lo_status lo_sampler_kept(lo_sampler *s, const float *logits, int32_t *ids, int32_t *n_kept);

/* Bytes at the end of s[0..n) that begin a UTF-8 character not yet complete. */
size_t lo_utf8_incomplete_tail(const char *s, size_t n);
/* Length of the longest suffix of text[0..n) that is a proper prefix of a stop string
 * (text that must be held back until the next token decides). */
size_t lo_stop_holdback(const char *text, size_t n, const char *const *stop, int32_t n_stop);
/* -log p(tok) under softmax(logits) (llama-perplexity's log_softmax: float max, double
 * sum of exp). */
double lo_nll_of(const float *logits, int32_t n_vocab, int32_t tok);

#endif
