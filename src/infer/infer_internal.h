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

/* Every check lo_sampler_create makes on p, logit bias ids included, without creating. */
lo_status lo_sampler_params_check(const lo_sampler_params *p, int32_t n_vocab);

/* ---- streaming text (stream.c): shared by lo_generate and the scheduler ------------ */

/* The text of one generation as tokens arrive. Text is released (becomes final) once it
 * ends on a whole UTF-8 character and no suffix of it could begin a stop string; a stop
 * string cuts the text before its earliest match. Shape of the buffer:
 *   text[0 .. emitted)   released
 *   text[emitted .. len) held back (NUL at len) */
typedef struct lo_textstream {
    char *text;       /* grown by lo_token_to_piece (lo_realloc) when a piece does not fit */
    size_t len, cap;
    size_t emitted;
    const char *const *stop; /* borrowed */
    int32_t n_stop;
    size_t max_stop;          /* longest stop string */
    const char *stop_hit;     /* the stop string that ended the text, or NULL */
} lo_textstream;

/* buf of cap bytes (cap ≥ 1, lo_malloc'd so it can grow). */
void lo_textstream_init(lo_textstream *ts, char *buf, size_t cap, const char *const *stop, int32_t n_stop);
/* Appends token id's piece; sets text[*from, *from + *n) to the newly released text and
 * *stopped when a stop string ended the text. last: generation ends with this token, so
 * nothing is held back. */
lo_status lo_textstream_push(lo_textstream *ts, const lo_tokenizer *tok, int32_t id, bool last, size_t *from,
                             size_t *n, bool *stopped);
/* Releases everything still held back (generation ended some other way); false if none. */
bool lo_textstream_flush(lo_textstream *ts, size_t *from, size_t *n);
/* Drops released text from the front of the buffer (a stop match never starts in it), so
 * a fixed buffer serves a generation of any length. */
void lo_textstream_compact(lo_textstream *ts);

/* Bytes at the end of s[0..n) that begin a UTF-8 character not yet complete. */
size_t lo_utf8_incomplete_tail(const char *s, size_t n);
/* Length of the longest suffix of text[0..n) that is a proper prefix of a stop string
 * (text that must be held back until the next token decides). */
size_t lo_stop_holdback(const char *text, size_t n, const char *const *stop, int32_t n_stop);
/* -log p(tok) under softmax(logits) (llama-perplexity's log_softmax: float max, double
 * sum of exp). */
double lo_nll_of(const float *logits, int32_t n_vocab, int32_t tok);

#endif
