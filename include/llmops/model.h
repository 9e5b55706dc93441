/* model (L2): loads a GGUF model, binds its weights through the architecture table,
 * and runs the batched forward pass over a KV cache that holds several sequences. */
#ifndef LLMOPS_MODEL_H
#define LLMOPS_MODEL_H

#include "llmops/base.h"
#include "llmops/gguf.h"
#include "llmops/tensor.h"
#include "llmops/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lo_rope_type { LO_ROPE_NORM = 0, LO_ROPE_NEOX = 2 } lo_rope_type;

/* How per-token hidden states become one embedding (values as llama.cpp's pooling_type). */
typedef enum lo_pooling { LO_POOLING_MEAN = 1, LO_POOLING_CLS = 2, LO_POOLING_LAST = 3 } lo_pooling;
/* "mean" | "cls" | "last" (case-insensitive) → the value; -1 when unknown. */
int lo_pooling_from_name(const char *name);
const char *lo_pooling_name(lo_pooling p); /* "mean", "cls", "last", or "?" */

/* Hyperparameters read from "<arch>.*" keys (defaults as llama.cpp applies them). */
typedef struct lo_hparams {
    char arch[32];          /* general.architecture */
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;       /* n_embd / n_head unless attention.key_length says otherwise */
    int32_t n_ff;
    int32_t n_rot;          /* rope.dimension_count */
    lo_rope_type rope_type;
    float rope_freq_base;
    float rope_freq_scale; /* 1 / rope.scaling.factor for linear scaling */
    float norm_eps;        /* attention.layer_norm_rms_epsilon or layer_norm_epsilon */
    int32_t n_expert, n_expert_used;
    int32_t sliding_window; /* 0 = none; else a token attends to the last sliding_window
                             * positions of its sequence (itself included) */
    lo_pooling pooling;     /* <arch>.pooling_type; default MEAN for encoders, LAST for decoders */
    bool causal;            /* false for encoders (bert: every token sees its whole sequence) */
    int32_t n_token_types;  /* bert: rows of token_types (tokenizer.ggml.token_type_count) */
} lo_hparams;

typedef struct lo_model lo_model;

/* Maps the file, validates and binds every tensor the architecture needs (shape and type
 * checked; a missing or mis-shaped tensor names itself in the error), and builds the
 * tokenizer. Weights stay in the mapping (zero copy). */
lo_status lo_model_load(const char *path, lo_model **out);
void lo_model_free(lo_model *m);
const lo_hparams *lo_model_hparams(const lo_model *m);
const lo_tokenizer *lo_model_tokenizer(const lo_model *m);
const lo_gguf *lo_model_gguf(const lo_model *m);
/* Bytes of weights read for one token of generation (every matrix once; for MoE only the
 * used experts), for the bandwidth ceiling of tg. */
size_t lo_model_weight_bytes_per_token(const lo_model *m);
int64_t lo_model_n_params(const lo_model *m);
/* The model's pooling for embeddings (<arch>.pooling_type; decoders without it: LAST). */
lo_pooling lo_model_pooling(const lo_model *m);
/* bert-family: non-causal attention, no output head (no logits, embeddings only). */
bool lo_model_is_encoder(const lo_model *m);

/* An inference context: a KV cache (F16, as llama.cpp's default) of n_ctx positions for
 * each of n_seq sequences, activations for up to n_batch tokens per forward, a thread
 * pool. Everything is allocated here, once; decoding allocates nothing. */
typedef struct lo_context_params {
    int32_t n_ctx;     /* positions per sequence (0 = the model's n_ctx_train, capped at 4096) */
    int32_t n_seq;     /* sequences held at once (≥ 1) */
    int32_t n_batch;   /* max tokens in one lo_model_decode (0 = 512) */
    int32_t n_threads; /* 0 = all cores */
    bool embeddings;   /* decode also keeps each requested token's final hidden state (after
                        * the output norm; for encoders the last layer's output) */
} lo_context_params;
typedef struct lo_context lo_context;
lo_status lo_context_create(const lo_model *m, const lo_context_params *p, lo_context **out);
void lo_context_free(lo_context *c);
int32_t lo_context_n_ctx(const lo_context *c);
int32_t lo_context_n_seq(const lo_context *c);
int32_t lo_context_n_batch(const lo_context *c);

/* One forward over n_tokens tokens that may belong to different sequences: token i goes
 * to position pos[i] of sequence seq[i] (its K/V are stored there) and attends causally
 * to positions 0..pos[i] of the same sequence. logits[i] asks for its output row. */
typedef struct lo_batch {
    int32_t n_tokens;
    const int32_t *token;
    const int32_t *pos;
    const int32_t *seq;
    const bool *logits; /* NULL = only the last token */
} lo_batch;
lo_status lo_model_decode(lo_context *c, const lo_batch *b);
/* n_vocab logits of batch token i of the last decode (NULL if it was not requested). */
const float *lo_context_logits(const lo_context *c, int32_t i);
/* n_embd floats: the hidden state of batch token i of the last decode/encode (NULL when the
 * context was made without embeddings or token i was not requested). */
const float *lo_context_embeddings(const lo_context *c, int32_t i);
/* The forward of lo_model_decode without the output head: only hidden states are kept,
 * for the tokens b->logits requests (NULL = every token). Needs embeddings = true. For an
 * encoder a sequence must come in one batch (its tokens see only each other and what the
 * sequence already holds). lo_context_logits returns NULL afterwards. lo_model_decode on
 * an encoder does the same (an encoder has no logits). */
lo_status lo_model_encode(lo_context *c, const lo_batch *b);
/* Forgets positions [p0, p1) of a sequence (p1 < 0 = to the end); later tokens of that
 * sequence must be re-decoded. */
void lo_context_seq_clear(lo_context *c, int32_t seq, int32_t p0, int32_t p1);

/* ---- LoRA adapters (lora.c) ------------------------------------------------------- */

/* A llama.cpp-format LoRA adapter GGUF (general.type "adapter", adapter.type "lora",
 * adapter.lora.alpha, tensors "<base tensor>.lora_a" {in, r} and ".lora_b" {r, out})
 * loaded and validated against one model: every pair must name a projection of the
 * model's layers (attn_q/k/v/qkv/output, ffn_gate/up/down) with shapes that fit it. A and
 * B may be F32, F16 or BF16 in the file; they are held as F32 (exact). At inference an
 * adapted projection is y = W·x + s·B·(A·x) beside the base weights, which stay as mapped
 * (quantised bases work), with s = scale·alpha/r per pair, or scale alone when the file
 * has no alpha or alpha 0 (llama.cpp's rule). Each token's term is computed on its own
 * in a fixed order, so decoding stays batch invariant. */
typedef struct lo_lora_adapter lo_lora_adapter;
#define LO_LORA_MAX 8 /* adapters attached to one model */

lo_status lo_lora_load(const lo_model *m, const char *path, lo_lora_adapter **out);
void lo_lora_free(lo_lora_adapter *a);
typedef struct lo_lora_info {
    float alpha;     /* 0 when the file has none */
    int32_t n_pairs; /* adapted matrices */
    int32_t rank_min, rank_max;
    int64_t n_params; /* elements of A and B */
} lo_lora_info;
void lo_lora_get_info(const lo_lora_adapter *a, lo_lora_info *out);

/* Adds a (loaded for m) at scale to every later forward of every context of m; the model
 * takes ownership on success and frees it with itself. Adapters apply in the order
 * attached; a scale of 0 leaves the logits exactly the base's. Attach before decoding
 * starts (not while another thread decodes with m). At most LO_LORA_MAX; |scale| ≤ 1e6. */
lo_status lo_model_lora_attach(lo_model *m, lo_lora_adapter *a, float scale);
int32_t lo_model_n_lora(const lo_model *m);
/* The i-th attached adapter (0 ≤ i < lo_model_n_lora), or NULL. */
const lo_lora_adapter *lo_model_lora(const lo_model *m, int32_t i);

/* Loads and attaches each adapter in turn (the CLI's and the server's --lora). */
typedef struct lo_lora_spec {
    const char *path;
    float scale;
} lo_lora_spec;
lo_status lo_model_lora_load_all(lo_model *m, const lo_lora_spec *specs, int32_t n);

/* ---- quantising and random-weight models (quantize.c, genmodel.c) ----------------- */

/* llama.cpp's file types (general.file_type): a target type, or a mix that gives some
 * tensors more bits (the _S/_M/_L variants), chosen per tensor by name as llama.cpp does. */
typedef enum lo_ftype {
    LO_FTYPE_ALL_F32 = 0, LO_FTYPE_F16 = 1, LO_FTYPE_Q4_0 = 2, LO_FTYPE_Q4_1 = 3,
    LO_FTYPE_Q8_0 = 7, LO_FTYPE_Q5_0 = 8, LO_FTYPE_Q5_1 = 9, LO_FTYPE_Q2_K = 10,
    LO_FTYPE_Q3_K_S = 11, LO_FTYPE_Q3_K_M = 12, LO_FTYPE_Q3_K_L = 13, LO_FTYPE_Q4_K_S = 14,
    LO_FTYPE_Q4_K_M = 15, LO_FTYPE_Q5_K_S = 16, LO_FTYPE_Q5_K_M = 17, LO_FTYPE_Q6_K = 18,
    LO_FTYPE_BF16 = 32
} lo_ftype;
/* "Q4_K_M" → LO_FTYPE_Q4_K_M (case-insensitive; "Q4_K" means Q4_K_M, "Q3_K" Q3_K_M,
 * "Q5_K" Q5_K_M as llama-quantize accepts); -1 when unknown. */
int lo_ftype_from_name(const char *name);
const char *lo_ftype_name(lo_ftype t);

/* Quantises every weight matrix of IN into OUT (atomic write), keeping norms and other
 * 1-D tensors F32, with llama.cpp's per-tensor choices for the mix; the output loads in
 * llama.cpp. Rows that cannot hold the type's block fall back as llama.cpp does. */
lo_status lo_model_quantize(const char *in_path, const char *out_path, lo_ftype ftype, int n_threads);

/* A random-weight model of a real shape (weights N(0, 0.02)-like, seeded), written as
 * GGUF with the tokenizer copied from tokenizer_path (or a byte-level vocab if NULL). */
typedef struct lo_gen_model_params {
    const char *arch;     /* "llama" */
    int32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    lo_ftype ftype;
    uint64_t seed;
    const char *tokenizer_path;
    int32_t n_expert, n_expert_used; /* > 0: Mixtral-style MoE, n_ff per expert (0 = dense) */
    int32_t sliding_window;          /* > 0: writes llama.attention.sliding_window */
} lo_gen_model_params;
/* Fills p with a named shape: "tinyllama-1.1b", "stories15m"; false when unknown. */
bool lo_gen_model_shape(const char *name, lo_gen_model_params *p);
lo_status lo_model_gen_random(const lo_gen_model_params *p, const char *out_path);

#ifdef __cplusplus
}
#endif
#endif
