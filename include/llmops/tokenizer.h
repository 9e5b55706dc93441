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

/* ---- training a byte-level BPE vocabulary (bpe_train.c) ---------------------------- */

/* GPT-2 style: the 256 byte symbols (as GPT-2's printable unicode images, ids 0..255 in
 * byte order), words from the "gpt-2" regex pre-tokenizer (the one encoding uses), merges
 * learned greedily by pair count over the word counts (ties: the lexicographically
 * smaller left, then right, token text), then the special tokens (CONTROL), the first
 * being <|endoftext|> (BOS and EOS). Occurrences of a special token in the corpus are cut
 * out before pre-tokenizing. */
typedef struct lo_bpe_train_opts {
    int32_t vocab_size;          /* total, bytes and special tokens included; >= 256 + specials */
    int64_t min_frequency;       /* a pair seen fewer times is never merged (0 = default 2) */
    const char *const *special;  /* extra special tokens after <|endoftext|> (duplicates ignored) */
    int32_t n_special;
} lo_bpe_train_opts;

typedef struct lo_bpe_train_stats {
    int32_t n_vocab;    /* may be below vocab_size when no pair reaches min_frequency */
    int32_t n_merges;
    int64_t n_words;    /* pre-tokenised words in the corpus */
    int64_t n_unique;   /* distinct words */
} lo_bpe_train_stats;

/* Learns a vocabulary from text and adds the tokenizer.* keys (plus general.architecture
 * "llama" and general.name) to w. stats may be NULL. */
lo_status lo_bpe_train(const char *text, size_t len, const lo_bpe_train_opts *o, lo_gguf_writer *w,
                       lo_bpe_train_stats *stats);
/* Reads corpus_path, trains, and writes a tokenizer-only GGUF (no tensors) atomically. */
lo_status lo_bpe_train_file(const char *corpus_path, const char *out_path, const lo_bpe_train_opts *o,
                            lo_bpe_train_stats *stats);

/* ---- chat templates (chat.c) ------------------------------------------------------ */

/* llama.cpp's built-in chat template families (llama-chat.cpp). A family is picked from
 * the Jinja source a GGUF stores in tokenizer.chat_template by substring rules, or by
 * name; rendering is plain C, not a Jinja interpreter. */
typedef enum lo_chat_template {
    LO_CHAT_CHATML, LO_CHAT_LLAMA2, LO_CHAT_LLAMA2_SYS /* llama2 with <<SYS>> as llama.cpp's variants need */,
    LO_CHAT_LLAMA3, LO_CHAT_MISTRAL_V1, LO_CHAT_MISTRAL_V3, LO_CHAT_MISTRAL_V3_TEKKEN, LO_CHAT_MISTRAL_V7,
    LO_CHAT_ZEPHYR, LO_CHAT_PHI3, LO_CHAT_GEMMA, LO_CHAT_DEEPSEEK, LO_CHAT_DEEPSEEK2, LO_CHAT_DEEPSEEK3,
    /* the rest of llama.cpp's families */
    LO_CHAT_LLAMA2_SYS_BOS,   /* "<s>[INST] " opens every later turn */
    LO_CHAT_LLAMA2_SYS_STRIP, /* contents trimmed */
    LO_CHAT_MISTRAL_V7_TEKKEN, LO_CHAT_PHI4, LO_CHAT_FALCON3, LO_CHAT_MONARCH, LO_CHAT_ORION,
    LO_CHAT_OPENCHAT, LO_CHAT_VICUNA, LO_CHAT_VICUNA_ORCA, LO_CHAT_DEEPSEEK_OCR, LO_CHAT_COMMAND_R,
    LO_CHAT_CHATGLM3, LO_CHAT_CHATGLM4, LO_CHAT_GLMEDGE, LO_CHAT_MINICPM, LO_CHAT_EXAONE3,
    LO_CHAT_EXAONE4, LO_CHAT_EXAONE_MOE, LO_CHAT_RWKV_WORLD, LO_CHAT_GRANITE3, LO_CHAT_GRANITE4_0,
    LO_CHAT_GRANITE4_1, LO_CHAT_GIGACHAT, LO_CHAT_MEGREZ, LO_CHAT_YANDEX, LO_CHAT_BAILING,
    LO_CHAT_BAILING_THINK, LO_CHAT_BAILING2, LO_CHAT_LLAMA4, LO_CHAT_SMOLVLM, LO_CHAT_DOTS1,
    LO_CHAT_HUNYUAN_MOE, LO_CHAT_GPT_OSS, LO_CHAT_HUNYUAN_DENSE, LO_CHAT_HUNYUAN_VL, LO_CHAT_KIMI_K2,
    LO_CHAT_SEED_OSS, LO_CHAT_GROK2, LO_CHAT_PANGU_EMBED, LO_CHAT_SOLAR_OPEN,
    LO_CHAT_TEMPLATE_COUNT
} lo_chat_template;

/* role: system|user|assistant. A few families also take the extra roles llama.cpp renders
 * specially: "tool" (exaone4, exaone-moe, kimi-k2, pangu-embedded), "function"
 * (pangu-embedded), "assistant_tool_call" and "tool_response" (granite*). Anything else
 * is LO_ERR_INVALID. */
typedef struct lo_chat_message { const char *role; const char *content; } lo_chat_message;

/* Family from a GGUF's tokenizer.chat_template Jinja source, by llama.cpp's detection rules
 * (llm_chat_detect_template; a source that is exactly a family name selects it). source
 * NULL or "" → LO_CHAT_CHATML. Unrecognised → LO_ERR_UNSUPPORTED with a hint naming
 * --chat-template. */
lo_status lo_chat_template_detect(const char *source, lo_chat_template *out);
/* By name ("chatml", "llama2", "llama3", "mistral-v1", ... as llama.cpp's --chat-template
 * names them); unknown → LO_ERR_NOT_FOUND listing the names. */
lo_status lo_chat_template_by_name(const char *name, lo_chat_template *out);
/* The name lo_chat_template_by_name takes; "unknown" for a value out of range. */
const char *lo_chat_template_name(lo_chat_template t);
/* The template source stored in the model (tokenizer.chat_template) or NULL. */
const char *lo_tokenizer_chat_template(const lo_tokenizer *t);
/* Renders messages exactly as llama.cpp's llama_chat_apply_template does for that family
 * (text WITHOUT the BOS the tokenizer adds; the caller tokenizes it with add_bos per the
 * vocab and special-token parsing ON). add_assistant: append the assistant prompt prefix
 * (families whose llama.cpp rendering has none — llama2*, mistral*, orion, minicpm,
 * rwkv-world, hunyuan*, deepseek-ocr — ignore it, as llama.cpp does). n_msgs may be 0.
 * *out is lo_malloc'd and NUL-terminated. A NULL role or content, or a role the family
 * does not take, is LO_ERR_INVALID naming the message index and the role. */
lo_status lo_chat_render(lo_chat_template t, const lo_chat_message *msgs, int32_t n_msgs,
                         bool add_assistant, char **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
