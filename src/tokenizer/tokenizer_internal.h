/* Private layout of lo_tokenizer, shared by the tokenizer module's files: tokenizer.c
 * (loading, special-token splitting, dispatch, detokenizing), spm.c, bpe.c (+ pretok.c
 * for the regex pre-tokenizers) and wpm.c. */
#ifndef LLMOPS_TOKENIZER_INTERNAL_H
#define LLMOPS_TOKENIZER_INTERNAL_H

#include "llmops/tokenizer.h"

typedef struct lo_bpe lo_bpe; /* owned by bpe.c: merge ranks, compiled pre-tokenizer */

struct lo_tokenizer {
    lo_tok_kind kind;
    char pre[64];             /* tokenizer.ggml.pre, "default" when absent */
    int32_t n_vocab;
    char **text;              /* n_vocab token strings, NUL-terminated copies */
    uint32_t *text_len;
    float *scores;            /* n_vocab (0 when the file has none) */
    int32_t *types;           /* n_vocab lo_token_type */
    lo_strmap *text_to_id;
    int32_t bos, eos, eot, eom, unk, sep, pad, cls, mask, nl; /* -1 = none */
    bool add_bos, add_eos, add_space_prefix, remove_extra_whitespaces, clean_spaces;
    int32_t *special;         /* control + user-defined ids for parse_special, longest first */
    int32_t n_special;
    int32_t *eog;             /* end-of-generation ids */
    int32_t n_eog;
    int32_t byte_to_token[256]; /* SPM byte fallback <0xNN> ids, -1 where absent */
    int32_t max_token_len;
    lo_bpe *bpe;
    /* Added by tokenizer.c (loading / partitioning); other files may ignore them. */
    char *text_pool;          /* one block holding every text[i] string */
    uint8_t *strip;           /* n_vocab LO_TOK_LSTRIP|LO_TOK_RSTRIP (llama.cpp's lstrip/rstrip) */
    bool ignore_merges;       /* BPE: a pre-token that is a whole vocab entry skips merging (llama3 etc.) */
    char *chat_template;      /* tokenizer.chat_template (Jinja source, NUL-terminated) or NULL */
};

#define LO_TOK_LSTRIP 1
#define LO_TOK_RSTRIP 2

/* Each algorithm tokenizes one fragment of plain text (no special tokens in it). */
lo_status lo_spm_encode(const lo_tokenizer *t, const char *text, size_t len, lo_tokens *out);
lo_status lo_wpm_encode(const lo_tokenizer *t, const char *text, size_t len, lo_tokens *out);

lo_status lo_bpe_init(lo_tokenizer *t, const lo_gguf *g); /* merges + pre-tokenizer */
void lo_bpe_free(lo_bpe *b);
lo_status lo_bpe_encode(const lo_tokenizer *t, const char *text, size_t len, lo_tokens *out);
/* GPT-2 byte<->unicode mapping used by byte-level BPE vocabularies: the UTF-8 of byte
 * b's image (1 or 2 bytes) in out. */
size_t lo_bpe_byte_image(uint8_t b, char out[2]);
/* Appends the raw bytes a byte-level BPE token text stands for. */
lo_status lo_bpe_decode_token(const char *text, size_t len, char **buf, size_t *blen, size_t *cap);

#endif
