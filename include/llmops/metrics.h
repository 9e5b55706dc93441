/* metrics (L2, pure text): BLEU and chrF/chrF++ as sacreBLEU 2.x computes them, ROUGE-N/L/
 * Lsum as Google's rouge-score computes them (its tokenizer and NLTK's Porter stemmer), and
 * exact match. Inputs are UTF-8 strings; invalid bytes are carried through as opaque
 * characters (never rejected), so any input gives a score. */
#ifndef LLMOPS_METRICS_H
#define LLMOPS_METRICS_H

#include "llmops/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- BLEU ------------------------------------------------------------------------- */

#define LO_BLEU_MAX_ORDER 16

typedef enum lo_bleu_tokenize {
    LO_BLEU_TOK_13A = 0, /* mteval-v13a (sacreBLEU's default) */
    LO_BLEU_TOK_INTL,    /* mteval-v14 international: Unicode punctuation and symbols */
    LO_BLEU_TOK_CHAR,    /* every non-space character is a token */
    LO_BLEU_TOK_NONE,    /* split on whitespace only */
} lo_bleu_tokenize;

typedef enum lo_bleu_smooth {
    LO_BLEU_SMOOTH_EXP = 0, /* NIST geometric halving (default) */
    LO_BLEU_SMOOTH_FLOOR,   /* zero precisions become value/total (default value 0.1) */
    LO_BLEU_SMOOTH_ADD_K,   /* add value to counts and totals of orders ≥ 2 (default 1) */
    LO_BLEU_SMOOTH_NONE,
} lo_bleu_smooth;

typedef struct lo_bleu_opts {
    lo_bleu_tokenize tokenize;
    bool lowercase;
    lo_bleu_smooth smooth;
    double smooth_value;  /* NaN = the method's default */
    bool effective_order; /* stop at the first order with no n-grams */
    int max_ngram_order;  /* 1..LO_BLEU_MAX_ORDER, default 4 */
} lo_bleu_opts;

void lo_bleu_opts_default(lo_bleu_opts *o);
/* "13a"/"intl"/"char"/"none" and "exp"/"floor"/"add-k"/"none"; false when unknown. */
bool lo_bleu_parse_tokenize(const char *name, lo_bleu_tokenize *out);
bool lo_bleu_parse_smooth(const char *name, lo_bleu_smooth *out);

typedef struct lo_bleu_score {
    double score; /* 0..100 */
    int max_order;
    int64_t counts[LO_BLEU_MAX_ORDER]; /* matched (clipped) n-grams per order */
    int64_t totals[LO_BLEU_MAX_ORDER]; /* hypothesis n-grams per order */
    double precisions[LO_BLEU_MAX_ORDER]; /* 0..100, after smoothing */
    double bp, ratio;
    int64_t sys_len, ref_len;
    int n_refs; /* references per segment; -1 when it varies ("var" in the signature) */
} lo_bleu_score;

/* Corpus BLEU. hyps[n_segs]; refs[n_streams][n_segs] (reference streams, as sacreBLEU); a
 * NULL reference entry means "no reference of this stream for this segment" (an empty
 * string is a length-0 reference). Every segment needs at least one reference. */
lo_status lo_bleu_corpus(const lo_bleu_opts *o, const char *const *hyps, size_t n_segs,
                         const char *const *const *refs, size_t n_streams, lo_bleu_score *out);
/* Sentence BLEU of one hypothesis against refs[n_refs]. */
lo_status lo_bleu_sentence(const lo_bleu_opts *o, const char *hyp, const char *const *refs,
                           size_t n_refs, lo_bleu_score *out);
/* BLEU from sufficient statistics (sacreBLEU's compute_bleu); counts/totals have
 * o->max_ngram_order entries. */
lo_status lo_bleu_from_stats(const lo_bleu_opts *o, const int64_t *counts, const int64_t *totals,
                             int64_t sys_len, int64_t ref_len, lo_bleu_score *out);
/* "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)";
 * returns snprintf's length. */
int lo_bleu_format(const lo_bleu_score *s, char *buf, size_t cap);
/* "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0" (the sacreBLEU release whose
 * behaviour is reproduced). */
int lo_bleu_signature(const lo_bleu_opts *o, int n_refs, char *buf, size_t cap);
/* The tokenized form of one segment (lowercasing + tokenizer), tokens joined by single
 * spaces, as a lo_malloc'd string. */
lo_status lo_bleu_tokenize_text(const lo_bleu_opts *o, const char *text, char **out);

/* ---- chrF / chrF++ ---------------------------------------------------------------- */

#define LO_CHRF_MAX_ORDER 16 /* char_order + word_order */

typedef struct lo_chrf_opts {
    int char_order; /* default 6 */
    int word_order; /* 0 = chrF, 2 = chrF++ */
    int beta;       /* default 2 */
    bool lowercase;
    bool whitespace;    /* keep whitespace in character n-grams */
    bool eps_smoothing; /* chrF++.py style smoothing instead of effective order */
} lo_chrf_opts;

void lo_chrf_opts_default(lo_chrf_opts *o);

typedef struct lo_chrf_score {
    double score; /* 0..100 */
    int char_order, word_order, beta;
    int64_t stats[LO_CHRF_MAX_ORDER][3]; /* per order: hyp n-grams, ref n-grams, matches */
    int n_refs; /* -1 when it varies */
} lo_chrf_score;

lo_status lo_chrf_corpus(const lo_chrf_opts *o, const char *const *hyps, size_t n_segs,
                         const char *const *const *refs, size_t n_streams, lo_chrf_score *out);
lo_status lo_chrf_sentence(const lo_chrf_opts *o, const char *hyp, const char *const *refs,
                           size_t n_refs, lo_chrf_score *out);
/* "chrF2 = 59.73" ("chrF2++ = …" with word_order 2). */
int lo_chrf_format(const lo_chrf_score *s, char *buf, size_t cap);
/* "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0" */
int lo_chrf_signature(const lo_chrf_opts *o, int n_refs, char *buf, size_t cap);

/* ---- ROUGE ------------------------------------------------------------------------ */

/* A rouge type: 1..9 = ROUGE-N, LO_ROUGE_L, LO_ROUGE_LSUM. */
typedef int lo_rouge_type;
enum { LO_ROUGE_L = 100, LO_ROUGE_LSUM = 101 };
/* "rouge1".."rouge9", "rougeL", "rougeLsum"; false when unknown. */
bool lo_rouge_parse_type(const char *name, size_t len, lo_rouge_type *out);
const char *lo_rouge_type_name(lo_rouge_type t); /* "rouge2", "rougeL", ... */

typedef struct lo_rouge_prf {
    double precision, recall, fmeasure;
} lo_rouge_prf;

/* rouge-score's RougeScorer(types, use_stemmer=stem).score(target, prediction): out[i] for
 * types[i]. Lsum splits both texts into sentences on '\n' (blank lines dropped). */
lo_status lo_rouge_score(const char *target, const char *prediction, const lo_rouge_type *types,
                         size_t n_types, bool stem, lo_rouge_prf *out);
/* score_multi: per type, the target with the highest F-measure (first on ties). */
lo_status lo_rouge_score_multi(const char *const *targets, size_t n_targets, const char *prediction,
                               const lo_rouge_type *types, size_t n_types, bool stem,
                               lo_rouge_prf *out);
/* rouge-score's tokenizer: lowercase, runs of [a-z0-9], tokens longer than 3 characters
 * Porter-stemmed when stem. *tokens is one lo_malloc'd block (pointer array + strings). */
lo_status lo_rouge_tokenize(const char *text, bool stem, char ***tokens, size_t *n_tokens);
/* NLTK's PorterStemmer (NLTK_EXTENSIONS mode) on a lowercase ASCII word; writes at most
 * len+2 bytes + NUL into out (cap ≥ len + 3) and returns the stem's length. */
size_t lo_porter_stem(const char *word, size_t len, char *out, size_t cap);

/* ---- exact match ------------------------------------------------------------------ */

/* Byte equality. */
bool lo_exact_match(const char *a, const char *b);
/* SQuAD-style normalised equality: lowercase, ASCII punctuation removed, the articles
 * a/an/the removed, whitespace collapsed. */
bool lo_exact_match_norm(const char *a, const char *b);

#ifdef __cplusplus
}
#endif
#endif
