/* Regex pre-tokenizers of byte-level BPE vocabularies (private to bpe.c / pretok.c): the
 * per-`tokenizer.ggml.pre` lists of PCRE2 patterns that llama.cpp and HF tokenizers apply
 * in sequence, each splitting every current piece into its matches and the gaps between. */
#ifndef LLMOPS_TOKENIZER_PRETOK_H
#define LLMOPS_TOKENIZER_PRETOK_H

#include "llmops/base.h"

typedef struct lo_pretok lo_pretok;

/* A piece of the input: bytes [start, end) of the original text. */
typedef struct lo_pretok_span {
    size_t start, end;
} lo_pretok_span;

/* Reusable buffers of one split call chain (keep one per thread; free with _scratch_free). */
typedef struct lo_pretok_scratch {
    char *mtext; /* the text with each invalid UTF-8 byte replaced by U+FFFD */
    size_t mtext_cap;
    lo_pretok_span *a, *b; /* ping-pong span lists (in mtext coordinates while splitting) */
    size_t a_cap, b_cap;
    void *match_data; /* pcre2_match_data_8 */
    void *match_ctx;  /* pcre2_match_context_8 with a JIT stack */
    void *jit_stack;  /* pcre2_jit_stack_8 */
} lo_pretok_scratch;

/* Compiles the regex list of a pre-tokenizer name ("default", "gpt-2", "llama3", ...).
 * *ignore_merges tells whether the type emits a whole piece that is itself a token
 * without running merges (llama3-style). Unknown names give LO_ERR_UNSUPPORTED. */
lo_status lo_pretok_create(const char *name, lo_pretok **out, bool *ignore_merges);
void lo_pretok_free(lo_pretok *p);
/* Number of regexes and the i-th pattern text (for tests and diagnostics). */
int lo_pretok_n_regex(const lo_pretok *p);
const char *lo_pretok_regex(const lo_pretok *p, int i);

/* Splits text into pieces that partition it in order (no empty pieces). Invalid UTF-8
 * bytes never stop the split: each one is matched as if it were U+FFFD (which is what
 * llama.cpp decodes it to) but the pieces keep the original bytes. *spans points into
 * the scratch and stays valid until the next call with the same scratch. */
lo_status lo_pretok_split(const lo_pretok *p, const char *text, size_t len, lo_pretok_scratch *s,
                          const lo_pretok_span **spans, size_t *n_spans);
void lo_pretok_scratch_free(lo_pretok_scratch *s);

/* Length of the strictly valid UTF-8 character at p (n bytes available), 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
size_t lo_utf8_valid_len(const uint8_t *p, size_t n);

#endif
