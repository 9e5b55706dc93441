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

#define LO_TRAIN_MAX_NAME 48

typedef struct lo_train_tdesc {
    char name[LO_TRAIN_MAX_NAME];
    int n_dims;
    int64_t ne[2];
    int64_t offset; /* floats into the blocks */
    bool decay;     /* weight decay applies (matrices and embeddings, not norm gains) */
} lo_train_tdesc;

struct lo_train_model {
    lo_train_config c;
    int64_t n_params;
    float *w, *g, *m, *v; /* weights, gradients, AdamW first and second moments */
    lo_train_tdesc *t;
    int32_t n_t;
    lo_train_weights W, G; /* views into w and g */
};

/* Per-layer activations kept from the forward for the backward; N = B·T rows. */
typedef struct lo_train_acts {
    float *xn1, *q, *k, *v, *att_p, *att_out, *x_mid, *xn2, *gate, *up, *h; /* [N][·] */
    float *rstd1, *rstd2;                                                   /* [N] */
} lo_train_acts;

struct lo_trainer {
    lo_train_model *m;
    lo_train_params p;
    int32_t B, T, N, hd, KV, n_threads;
    lo_pool *pool;
    lo_arena arena;
    float **resid;      /* L+1 residual streams [N][D]: resid[l] enters layer l */
    lo_train_acts *a;   /* [L] */
    float *xf, *rstd_f; /* final norm output [N][D], its 1/rms [N] */
    float *logits;      /* [N][V], overwritten with d loss / d logits in the backward */
    double *row_loss;   /* [N] */
    float *rope;        /* [T][hd] cos/sin */
    float *dx, *dxn, *dq, *dk, *dv, *datt, *dh, *dgate, *dup; /* backward scratch */
    float *dp;                                                /* [T][T] attention backward scratch (dP, then dS) */
    int64_t t_adam;                                           /* AdamW steps taken (bias correction) */
};

/* The loader's position (data.c), for checkpoints: restoring reshuffles for the epoch. */
void lo_train__loader_state(const lo_train_loader *l, int64_t *epoch, int64_t *pos);
void lo_train__loader_restore(lo_train_loader *l, int64_t epoch, int64_t pos);

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

#endif
