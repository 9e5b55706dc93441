/* Internals of the metrics module shared by its files and its tests: growable buffers,
 * UTF-8 with Python semantics (str.split whitespace, str.lower, surrogateescape for bad
 * bytes), the sacreBLEU tokenizers, an n-gram count table, and rouge-score's LCS helpers. */
#ifndef LLMOPS_METRICS_INTERNAL_H
#define LLMOPS_METRICS_INTERNAL_H

#include "llmops/metrics.h"

typedef struct mx_buf { char *p; size_t n, cap; } mx_buf;        /* bytes, NUL kept after n */
typedef struct mx_u32 { uint32_t *p; size_t n, cap; } mx_u32;    /* code points or ids */
typedef struct mx_toks { uint32_t *off, *len; size_t n, cap; } mx_toks; /* spans of a buffer */

lo_status mx_buf_reserve(mx_buf *b, size_t extra);
lo_status mx_buf_put(mx_buf *b, const char *s, size_t n);
void mx_buf_free(mx_buf *b);
lo_status mx_u32_reserve(mx_u32 *v, size_t extra);
lo_status mx_u32_push(mx_u32 *v, uint32_t x);
void mx_u32_free(mx_u32 *v);
lo_status mx_toks_push(mx_toks *t, size_t off, size_t len);
void mx_toks_free(mx_toks *t);

/* Decodes UTF-8 into code points; an invalid byte b becomes U+DC00+b (Python's
 * surrogateescape) and encodes back to the same byte. Appends to out. */
lo_status mx_decode(const char *s, size_t len, mx_u32 *out);
lo_status mx_encode(const uint32_t *cp, size_t n, mx_buf *out); /* appends */
/* Python's str.isspace() code points (what str.split() splits on). */
bool mx_py_isspace(uint32_t c);
/* Python's str.lower() (full mapping for U+0130, final sigma) from in into out (reset). */
lo_status mx_py_lower(const uint32_t *in, size_t n, mx_u32 *out);
/* Python's str.split(): whitespace-separated spans of s[0..len) appended to t. */
lo_status mx_split_ws(const char *s, size_t len, mx_toks *t);

/* Working memory of the sacreBLEU preprocessing, reused across segments. */
typedef struct mx_text {
    mx_buf a, b;
    mx_u32 c1, c2;
} mx_text;
void mx_text_free(mx_text *t);
/* BLEU's _preprocess_segment: optional lowercase, rstrip, then the tokenizer; the result
 * (tokens separated by whitespace) is left in t->a. */
lo_status mx_bleu_preprocess(mx_text *t, const lo_bleu_opts *o, const char *s, size_t len);

/* Interning of byte strings to dense ids and a table of n-gram counts keyed by (kind,
 * sequence of ids). Cleared in O(1) by a generation stamp. */
typedef struct mx_intern_slot { uint64_t hash; const char *p; uint32_t len, id, gen; } mx_intern_slot;
typedef struct mx_ngram_slot {
    uint64_t hash;
    uint32_t gen, kind, start, n;      /* key: kind and seq[start..start+n) */
    uint32_t hyp, ref_cur, ref_gen, ref_max;
} mx_ngram_slot;
typedef struct mx_counter {
    mx_intern_slot *is; size_t is_cap; uint32_t is_gen; uint32_t n_ids;
    mx_ngram_slot *ns; size_t ns_cap; uint32_t ns_gen;
    mx_u32 seq;   /* id / code point sequences the n-gram keys point into */
    mx_u32 live;  /* indices of slots filled this generation */
} mx_counter;
void mx_counter_free(mx_counter *c);
/* Starts a new segment: forgets ids and n-grams; capacity for about n_tokens tokens and
 * n_ngrams distinct n-grams. */
lo_status mx_counter_reset(mx_counter *c, size_t n_tokens, size_t n_ngrams);
uint32_t mx_intern(mx_counter *c, const char *p, size_t len);
/* Finds the n-gram (kind, seq[start..start+n)); inserts it when insert, else returns NULL
 * when absent. */
mx_ngram_slot *mx_ngram_find(mx_counter *c, uint32_t kind, uint32_t start, uint32_t n, bool insert);

/* rouge-score helpers on id sequences (exposed for the tests). */
/* LCS indices into ref (ascending) of _backtrack_norec; returns the count, idx_out holds
 * min(n_ref, n_can) entries. */
lo_status mx_lcs_indices(const uint32_t *ref, size_t n_ref, const uint32_t *can, size_t n_can,
                         uint32_t *idx_out, size_t *n_out);
size_t mx_lcs_length(const uint32_t *ref, size_t n_ref, const uint32_t *can, size_t n_can, uint32_t *work);
/* _summary_level_lcs over token-id sentences. */
lo_status mx_summary_level_lcs(const uint32_t *const *ref_sents, const size_t *ref_lens, size_t n_ref,
                               const uint32_t *const *can_sents, const size_t *can_lens, size_t n_can,
                               lo_rouge_prf *out);
/* _find_union: sorted distinct values (≤ max_index) of the lists. */
lo_status mx_find_union(const uint32_t *const *lists, const size_t *lens, size_t n_lists, size_t max_index,
                        uint32_t *idx_out, size_t *n_out);
/* _union_lcs: ref indices in the union of the LCS of ref with each candidate (ascending). */
lo_status mx_union_lcs(const uint32_t *ref, size_t n_ref, const uint32_t *const *cans,
                       const size_t *can_lens, size_t n_cans, uint32_t *idx_out, size_t *n_out);

#endif
