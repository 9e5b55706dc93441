/* train: the structs shared by model.c (parameters), core.c (forward/backward), optim.c
 * (AdamW) and data.c, plus the seeded PRNG they use. */
#ifndef LLMOPS_TRAIN_INTERNAL_H
#define LLMOPS_TRAIN_INTERNAL_H

#include "llmops/train.h"

/* Views of one layer's parameters (or gradients) inside the flat blocks. Matrices are
 * row-major [out][in], which is GGUF's {ne0 = in, ne1 = out}. */
typedef struct lo_train_layer {
    float *attn_norm;     /* [D] */
    float *wq;            /* [D][D] */
    float *wk, *wv;       /* [KV][D], KV = n_head_kv · head_dim */
    float *wo;            /* [D][D] */
    float *ffn_norm;      /* [D] */
    float *w_gate, *w_up; /* [F][D] */
    float *w_down;        /* [D][F] */
} lo_train_layer;

typedef struct lo_train_weights {
    float *tok_embd;    /* [V][D] */
    float *output_norm; /* [D] */
    float *output;      /* [V][D]; == tok_embd when tied */
    lo_train_layer *layers;
} lo_train_weights;

/* QLoRA (qlora.c): a frozen base matrix kept in its stored type — ne1 rows of ne0
 * elements, row_bytes apart, inside the base GGUF's mapping. data NULL: not quantised
 * (the f32 views of lo_train_weights hold it). */
typedef struct lo_train_qmat {
    uint32_t type;
    int64_t ne0, ne1;
    size_t row_bytes;
    const uint8_t *data;
} lo_train_qmat;
typedef struct lo_train_qlayer {
    lo_train_qmat wq, wk, wv, wo, w_gate, w_up, w_down;
} lo_train_qlayer;
typedef struct lo_train_qweights {
    lo_train_qmat tok_embd, output; /* output == tok_embd when tied */
    lo_train_qlayer *layers;
} lo_train_qweights;

#define LO_TRAIN_MAX_NAME 48

typedef struct lo_train_tdesc {
    char name[LO_TRAIN_MAX_NAME];
    int n_dims;
    int64_t ne[2];
    int64_t offset; /* floats into the blocks; -1: a QLoRA matrix (not in the f32 block) */
    bool decay;     /* weight decay applies (matrices and embeddings, not norm gains) */
} lo_train_tdesc;

/* LoRA adapters (lora.c): for each target projection of each layer A [r][in] and B [out][r]
 * in one flat block (weights, gradients, AdamW moments), W' = W + scale·B·A. */
typedef struct lo_train_lora {
    lo_lora_config c;
    float scale; /* alpha / rank */
    int64_t n_params;
    float *w, *g, *m, *v;
    lo_train_tdesc *t; /* A then B for each adapter, layer by layer, targets in LO_LORA_* order */
    int32_t n_t;
    float **a, **b, **ga, **gb; /* [layer · LO_LORA_N_TARGETS + target]; NULL where not a target */
} lo_train_lora;

/* The block the optimizer, clipping and checkpoints work on: the whole model, or only the
 * adapters when the base is frozen. */
typedef struct lo_train_block {
    float *w, *g, *m, *v;
    int64_t n;
    const lo_train_tdesc *t;
    int32_t n_t;
} lo_train_block;

struct lo_train_model {
    lo_train_config c;
    int64_t n_params;     /* elements of every tensor */
    int64_t n_w;          /* floats in w (n_params, or only the norm gains under QLoRA) */
    float *w, *g, *m, *v; /* weights, gradients, AdamW first and second moments */
    lo_train_tdesc *t;
    int32_t n_t;
    lo_train_weights W, G; /* views into w and g */
    char *base_path;       /* the GGUF the weights came from (lo_train_model_load_gguf), else NULL */
    lo_train_lora *lora;   /* adapters: the base is then frozen (g, m, v and G's views NULL) */
    struct lo_gguf *qbase; /* QLoRA: the base file kept open; its matrices are in Q, W's
                            * matrix views are NULL, w holds the norm gains */
    lo_train_qweights Q;
};

lo_train_block lo_train__trainable(const lo_train_model *m);
void lo_train__lora_free(lo_train_lora *l);
/* {out, in} of target k (LO_LORA_* bit index) for config c. */
void lo_train__lora_dims(const lo_train_config *c, int k, int64_t *out, int64_t *in);
/* The base weight matrix of target k in layer l. */
float *lo_train__lora_base(const lo_train_model *m, int64_t l, int k);
/* A copy of the weights (n_params floats, lo_free) with the adapters merged; NULL without memory. */
float *lo_train__lora_merged(const lo_train_model *m);

/* n elements of an F32, F16 or BF16 GGUF tensor (type and size checked by the caller) into w (model.c). */
struct lo_gguf_tensor;
void lo_train__to_f32(const struct lo_gguf_tensor *gt, int64_t n, float *w);
/* The model's tensor table and blocks (model.c): with quant, 2-D tensors get offset -1 and
 * no floats, and no gradient or moment blocks are allocated (the base starts frozen). */
lo_status lo_train__model_create(const lo_train_config *cfg, uint64_t seed, bool init, bool quant,
                                 lo_train_model **out);
/* The llama hyper-parameters of a base GGUF; what the forward does not implement is refused (model.c). */
lo_status lo_train__base_config(const struct lo_gguf *g, const char *path, lo_train_config *c);
/* The stored matrix of target k in layer l of a QLoRA model (qlora.c). */
const lo_train_qmat *lo_train__qmat(const lo_train_model *m, int64_t l, int k);
/* Writes a QLoRA model as its base with the adapters merged and re-quantised (qlora.c). */
lo_status lo_train__qlora_save(const lo_train_model *m, const char *name, const char *out_path);
/* Rows per chunk when dequantising q into a scratch of `floats` floats. */
static inline int64_t lo_train__qchunk_rows(const lo_train_qmat *q, int64_t floats) {
    int64_t r = floats / q->ne0;
    if (r < 1) r = 1;
    return r < q->ne1 ? r : q->ne1;
}
/* Floats of the dequantisation scratch: chunks of at most this many floats (a row at least). */
#define LO_TRAIN_QCHUNK_FLOATS ((int64_t)1 << 21)

/* Elements per chunk of the gradient-norm sum (optim.c). */
#define LO_TRAIN_ADAM_CHUNK ((int64_t)1 << 16)

/* Attention's query rows per block: a block computes keys up to its last row only. */
#define LO_TRAIN_ATT_BLK 64

/* Per-layer activations kept from the forward for the backward; N = B·T rows. */
typedef struct lo_train_acts {
    float *xn1, *q, *k, *v, *att_p, *att_out, *x_mid, *xn2, *gate, *up, *h; /* [N][·] */
    float *rstd1, *rstd2;                                                   /* [N] */
} lo_train_acts;

struct lo_trainer {
    lo_train_model *m;
    lo_train_params p;
    int32_t B, T, N, hd, KV, n_threads;
    int32_t att_workers; /* threads running attention: min(n_threads, B · n_head_kv) */
    int32_t att_blk;     /* attention's query rows per block (LO_TRAIN_ATT_BLK; any ≥ 1 is valid) */
    lo_pool *pool;
    lo_arena arena;
    float **resid;      /* L+1 residual streams [N][D]: resid[l] enters layer l */
    lo_train_acts *a;   /* [L] */
    float *xf, *rstd_f; /* final norm output [N][D], its 1/rms [N] */
    float *logits;      /* [N][V], overwritten with d loss / d logits in the backward */
    double *row_loss;   /* [N] */
    float *rope;        /* [T][hd] cos/sin */
    float *dx, *dxn, *dq, *dk, *dv, *datt, *dh, *dgate, *dup; /* backward scratch */
    float *dp;       /* [att_workers][T][T] attention backward scratch (dP, then dS) per worker */
    float **lora_xa; /* [L · LO_LORA_N_TARGETS] x·Aᵀ [N][rank] per adapter (NULL without) */
    float *lora_dxa; /* [N][rank] its gradient */
    /* LoRA dropout (lora->c.dropout > 0): the mask of one adapter [N][in], the dropped input,
     * and du·A before the mask; drop_key picks this micro-batch's masks */
    uint8_t *drop_mask;
    float *lora_xd, *lora_dxd;
    bool drop_on;
    uint64_t drop_key;
    float *qbuf; /* QLoRA: dequantised rows of a base matrix, qbuf_floats floats */
    int64_t qbuf_floats;
    int64_t t_adam;    /* AdamW steps taken (bias correction) */
    double *adam_part; /* [adam_parts] the gradient's sum of squares per LO_TRAIN_ADAM_CHUNK chunk */
    int64_t adam_parts;
};

/* The loader's position (data.c), for checkpoints: restoring reshuffles for the epoch. */
void lo_train__loader_state(const lo_train_loader *l, int64_t *epoch, int64_t *pos);
void lo_train__loader_restore(lo_train_loader *l, int64_t epoch, int64_t pos);

/* Collectives over the ranks of lo_train_dist_init (dist.c); no-ops with one process.
 * Every rank calls them in the same order. */
void lo_train__dist_sum_f32(float *x, int64_t n); /* in place, element-wise sum */
void lo_train__dist_sum_f64(double *x, int n);
void lo_train__dist_sum_i64(int64_t *x, int n);
void lo_train__dist_bcast(void *buf, size_t bytes, int root);

/* splitmix64 step: a well-mixed 64-bit value from a counter. */
static inline uint64_t lo_train__mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
/* xorshift64* stream (state never 0). */
static inline uint64_t lo_train__next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Element-wise kernels of the step (vmath.c), AVX-512 / AVX2 / scalar by lo_isa_current():
 * the vector exp is a polynomial within ~1 ulp of expf (0 or subnormal below e^-87, inf
 * above e^88.7). vmax: the largest of z[0..n) (−inf for n = 0); vexp_sum: z = e^(z − m)
 * in place, returning Σ z in double; vexp: y = e^x; silu_fwd: h = gate·σ(gate)·up;
 * silu_bwd: the gradients of that through gate and up given dh. */
float lo_train__vmax(const float *z, int64_t n);
double lo_train__vexp_sum(float *z, int64_t n, float m);
void lo_train__vexp(float *y, const float *x, int64_t n);
void lo_train__silu_fwd(float *h, const float *gate, const float *up, int64_t n);
void lo_train__silu_bwd(float *dgate, float *dup, const float *dh, const float *gate, const float *up, int64_t n);

#endif
