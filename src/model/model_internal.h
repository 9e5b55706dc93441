/* model module internals: the bound weights of a model, the architecture table row that
 * names them, and the inference context (KV cache, activations, thread pool). */
#ifndef LLMOPS_MODEL_INTERNAL_H
#define LLMOPS_MODEL_INTERNAL_H

#include "llmops/model.h"

#include <stddef.h>

/* ---- bound weights ---------------------------------------------------------------- */

/* Per layer. A matrix with data == NULL is absent; vectors are F32 (n elements). Expert
 * matrices hold expert 0 in the view and exp_stride bytes between experts. */
typedef struct lo_layer {
    const float *attn_norm, *attn_norm_b;
    lo_matrix wq, wk, wv, wqkv, wo;
    const float *bq, *bk, *bv, *bqkv, *bo;
    const float *ffn_norm, *ffn_norm_b;
    lo_matrix ffn_gate, ffn_up, ffn_down;
    const float *ffn_up_b, *ffn_down_b;
    const float *attn_out_norm, *attn_out_norm_b;   /* bert: post-attention LayerNorm */
    const float *layer_out_norm, *layer_out_norm_b; /* bert: post-FFN LayerNorm */
    lo_matrix ffn_gate_inp;                    /* router {n_embd, n_expert} */
    lo_matrix gate_exps, up_exps, down_exps;   /* expert 0's {n_in, n_out} */
    size_t gate_exps_stride, up_exps_stride, down_exps_stride;
} lo_layer;

typedef struct lo_weights {
    lo_matrix token_embd;  /* {n_embd, n_vocab} */
    lo_matrix output;      /* {n_embd, n_vocab}; token_embd when tied */
    const float *output_norm, *output_norm_b;
    bool tied;
    /* bert: learned positions {n_embd, n_ctx_train}, token types {n_embd, n_types} (row 0
     * is added to every token), LayerNorm of the summed input embedding */
    lo_matrix pos_embd, type_embd;
    const float *tok_norm, *tok_norm_b;
} lo_weights;

/* ---- architecture table ----------------------------------------------------------- */

typedef enum lo_norm_kind { LO_NORM_RMS = 0, LO_NORM_LAYER = 1 } lo_norm_kind;
typedef enum lo_ffn_kind { LO_FFN_SWIGLU = 0, LO_FFN_GELU = 1 } lo_ffn_kind;

/* Dimensions a tensor spec refers to (resolved from the hparams). */
typedef enum lo_dim {
    LO_D_NONE = 0, LO_D_EMBD, LO_D_Q, LO_D_KV, LO_D_QKV, LO_D_FF, LO_D_VOCAB, LO_D_EXPERT,
    LO_D_CTX /* n_ctx_train */, LO_D_TTYPES /* n_token_types */
} lo_dim;

typedef enum lo_tkind { LO_T_VEC = 0, LO_T_MAT = 1, LO_T_EXPERTS = 2 } lo_tkind;

/* When a tensor must be present. */
typedef enum lo_treq {
    LO_REQ_ALWAYS = 0, LO_REQ_OPTIONAL, LO_REQ_DENSE /* when n_expert == 0 */, LO_REQ_MOE /* n_expert > 0 */
} lo_treq;

typedef struct lo_tensor_spec {
    const char *name;  /* "blk.%d.attn_q.weight" for layer tensors */
    size_t offset;     /* of the lo_matrix / const float * in lo_layer or lo_weights */
    size_t stride_off; /* LO_T_EXPERTS: offset of the size_t stride */
    lo_tkind kind;
    lo_treq req;
    lo_dim d0, d1;     /* expected ne0, ne1 (ne2 = n_expert for experts) */
} lo_tensor_spec;

typedef struct lo_arch {
    const char *name;
    lo_rope_type rope_type;
    lo_norm_kind norm;
    lo_ffn_kind ffn;
    bool parallel_ffn;  /* attention and FFN both read the attention norm (falcon) */
    bool supported;     /* the forward pass implements this row */
    const lo_tensor_spec *global;
    const lo_tensor_spec *layer;
    bool encoder;       /* bert: learned positions, post-norm blocks, no output head */
} lo_arch;

/* The row for general.architecture, or NULL. */
const lo_arch *lo_arch_find(const char *name, size_t len);
/* Binds and checks every tensor of the row (shapes from m->hp). */
lo_status lo_arch_bind(lo_model *m);

/* ---- the model -------------------------------------------------------------------- */

/* ---- LoRA adapters (lora.c) ------------------------------------------------------ */

/* The projections an adapter can target, as forward.c runs them. */
typedef enum lo_lora_slot {
    LO_LS_Q = 0,
    LO_LS_K,
    LO_LS_V,
    LO_LS_QKV,
    LO_LS_O,
    LO_LS_GATE,
    LO_LS_UP,
    LO_LS_DOWN,
    LO_LS_COUNT
} lo_lora_slot;

/* One adapted matrix W {n_in, n_out}: A as r rows of n_in, B transposed as r rows of
 * n_out (so B·u is r axpy passes over contiguous rows). r == 0: not adapted. */
typedef struct lo_lora_pair {
    int32_t r;
    int64_t n_in, n_out;
    const float *a, *bt;
} lo_lora_pair;

struct lo_lora_adapter {
    const lo_model *m; /* the model it was validated against */
    float alpha;
    int32_t n_pairs, rank_min, rank_max;
    int64_t n_params;
    lo_lora_pair *pairs; /* [n_layer][LO_LS_COUNT] */
    float *data;         /* every A and Bt */
};

/* The slot of a bound layer matrix (by its offset in lo_layer), or -1. */
int lo_lora_slot_of(size_t layer_offset);

/* ---- the model -------------------------------------------------------------------- */

struct lo_model {
    lo_gguf *gguf;
    lo_tokenizer *tok;
    lo_hparams hp;
    const lo_arch *arch;
    lo_weights w;
    lo_layer *layers; /* n_layer */
    char *path;
    /* attached adapters (owned), applied in this order with these scales */
    lo_lora_adapter *lora[LO_LORA_MAX];
    float lora_scale[LO_LORA_MAX];
    int32_t n_lora;
};

#endif
