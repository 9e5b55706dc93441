/* tokenizer (L2): the tokenizers GGUF files describe — SentencePiece-style BPE with byte
 * fallback ("llama"), byte-level BPE with regex pre-tokenizers ("gpt2"), WordPiece
 * ("bert") — built from a file's tokenizer.ggml.* metadata, with llama.cpp's handling
 * of special tokens and BOS/EOS. */
#ifndef LLMOPS_TOKENIZER_H
#define LLMOPS_TOKENIZER_H

#include "llmops/base.h"
#include "llmops/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lo_tok_kind { LO_TOK_SPM, LO_TOK_BPE, LO_TOK_WPM } lo_tok_kind;

/* tokenizer.ggml.token_type values */
typedef enum lo_token_type {
    LO_TOKEN_UNDEFINED = 0, LO_TOKEN_NORMAL = 1, LO_TOKEN_UNKNOWN = 2, LO_TOKEN_CONTROL = 3,
    LO_TOKEN_USER_DEFINED = 4, LO_TOKEN_UNUSED = 5, LO_TOKEN_BYTE = 6
} lo_token_type;

/* A growable id vector. */
typedef struct lo_tokens {
    int32_t *ids;
    int64_t n, cap;
} lo_tokens;
lo_status lo_tokens_push(lo_tokens *t, int32_t id);
void lo_tokens_free(lo_tokens *t);

typedef struct lo_tokenizer lo_tokenizer;

/* Builds a tokenizer from a file's metadata. Everything needed is copied out of the
 * file, so the lo_gguf may be closed afterwards. */
lo_status lo_tokenizer_load(const lo_gguf *g, lo_tokenizer **out);
void lo_tokenizer_free(lo_tokenizer *t);

/* Appends the ids of text to out. add_special adds BOS/EOS (or CLS/SEP for WordPiece)
 * as the file's add_bos/add_eos flags say; parse_special turns the text of control and
 * user-defined tokens in the input into their ids (otherwise it is tokenized as text). */
lo_status lo_tokenize(const lo_tokenizer *t, const char *text, size_t len, bool add_special, bool parse_special,
                      lo_tokens *out);

/* Appends one token's text to *buf (lo_realloc'd, NUL-terminated, length in *len).
 * special=false renders control tokens as nothing. Returns LO_ERR_RANGE for a bad id. */
lo_status lo_token_to_piece(const lo_tokenizer *t, int32_t id, bool special, char **buf, size_t *len, size_t *cap);
/* The text of ids as llama.cpp's detokenizer gives it (leading-space removal for SPM,
 * byte-level decoding for BPE, "##" joining for WordPiece). remove_special drops a
 * leading BOS / trailing EOS; unparse_special renders control tokens' text. The result
 * is lo_malloc'd and NUL-terminated. */
lo_status lo_detokenize(const lo_tokenizer *t, const int32_t *ids, int64_t n, bool remove_special,
                        bool unparse_special, char **text, size_t *len);

lo_tok_kind lo_tokenizer_kind(const lo_tokenizer *t);
const char *lo_tokenizer_kind_name(lo_tok_kind k); /* "spm", "bpe", "wpm" */
const char *lo_tokenizer_pre_name(const lo_tokenizer *t); /* "default", "gpt-2", "llama3", ... */
int32_t lo_tokenizer_n_vocab(const lo_tokenizer *t);
/* -1 when the file defines none. */
int32_t lo_tokenizer_bos(const lo_tokenizer *t);
int32_t lo_tokenizer_eos(const lo_tokenizer *t);
int32_t lo_tokenizer_eot(const lo_tokenizer *t);
bool lo_tokenizer_add_bos(const lo_tokenizer *t);
bool lo_tokenizer_add_eos(const lo_tokenizer *t);
/* End of generation: eos, eot or another token the file marks as ending a turn. */
bool lo_tokenizer_is_eog(const lo_tokenizer *t, int32_t id);
/* Raw vocab entry (NULL / UNDEFINED for a bad id). */
const char *lo_tokenizer_token_text(const lo_tokenizer *t, int32_t id, size_t *len);
lo_token_type lo_tokenizer_token_type(const lo_tokenizer *t, int32_t id);
/* Id of an exact vocab string or -1. */
int32_t lo_tokenizer_find(const lo_tokenizer *t, const char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif
