/* train: LoRA adapters — target parsing, the adapter block (A Kaiming-uniform, B zero)
 * added to a model whose base is then frozen, the trainable-tensor view the optimizer and
 * checkpoints use, and merging W' = W + (alpha/rank)·B·A for the output. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "llmops/gguf.h"
#include "train/train_internal.h"

static const char *const k_target_names[LO_LORA_N_TARGETS] = {"q", "k", "v", "o", "gate", "up", "down"};
static const char *const k_tensor_names[LO_LORA_N_TARGETS] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                                              "ffn_gate", "ffn_up", "ffn_down"};

bool lo_lora_targets_parse(const char *list, uint32_t *out) {
    *out = 0;
    if (!list || !*list) return false;
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        const size_t n = e ? (size_t)(e - p) : strlen(p);
        int k = 0;
        while (k < LO_LORA_N_TARGETS && !(strlen(k_target_names[k]) == n && !memcmp(p, k_target_names[k], n))) k++;
        if (k == LO_LORA_N_TARGETS || (*out & (1u << k))) return false;
        *out |= 1u << k;
        if (!e) return true;
        p = e + 1;
    }
}

void lo_train__lora_dims(const lo_train_config *c, int k, int64_t *out, int64_t *in) {
    const int64_t D = c->n_embd, KV = (int64_t)(c->n_embd / c->n_head) * c->n_head_kv, F = c->n_ff;
    static const int8_t kind[LO_LORA_N_TARGETS] = {0, 1, 1, 0, 2, 2, 3}; /* D×D, KV×D, F×D, D×F */
    *out = kind[k] == 0 || kind[k] == 3 ? D : kind[k] == 1 ? KV : F;
    *in = kind[k] == 3 ? F : D;
}

float *lo_train__lora_base(const lo_train_model *m, int64_t l, int k) {
    const lo_train_layer *y = &m->W.layers[l];
    float *const p[LO_LORA_N_TARGETS] = {y->wq, y->wk, y->wv, y->wo, y->w_gate, y->w_up, y->w_down};
    return p[k];
}

void lo_train__lora_free(lo_train_lora *l) {
    if (!l) return;
    lo_free(l->w);
    lo_free(l->g);
    lo_free(l->m);
    lo_free(l->v);
    lo_free(l->t);
    lo_free(l->a);
    lo_free(l->b);
    lo_free(l->ga);
    lo_free(l->gb);
    lo_free(l);
}

lo_status lo_train_model_add_lora(lo_train_model *m, const lo_lora_config *lc, uint64_t seed) {
    if (!m || !lc) return lo_error(LO_ERR_INVALID, "pass a model and a LoRA config", "train: no model or LoRA config");
    if (m->lora) return lo_error(LO_ERR_INVALID, "add adapters once", "train: the model already has adapters");
    const lo_train_config *c = &m->c;
    if (!lc->targets || (lc->targets & ~(uint32_t)LO_LORA_ALL))
        return lo_error(LO_ERR_INVALID, "give --lora-targets from q,k,v,o,gate,up,down", "train: LoRA targets %#x",
                        lc->targets);
    if (!(lc->alpha > 0 && lc->alpha < 1e6f))
        return lo_error(LO_ERR_RANGE, "give 0 < --lora-alpha < 1e6", "train: LoRA alpha %g", lc->alpha);
    for (int k = 0; k < LO_LORA_N_TARGETS; k++) {
        int64_t o, i;
        lo_train__lora_dims(c, k, &o, &i);
        if ((lc->targets & (1u << k)) && (lc->rank < 1 || lc->rank > o || lc->rank > i))
            return lo_error(LO_ERR_RANGE, "give 1 ≤ --lora-rank ≤ the smallest dimension of every target",
                            "train: LoRA rank %d for %s ({%lld, %lld})", lc->rank, k_tensor_names[k], (long long)i,
                            (long long)o);
    }
    const int64_t L = c->n_layer, r = lc->rank;
    int n_targets = 0;
    for (int k = 0; k < LO_LORA_N_TARGETS; k++) n_targets += (lc->targets >> k) & 1;
    lo_train_lora *a = lo_calloc(1, sizeof *a);
    if (!a) return LO_ERR_NOMEM;
    a->c = *lc;
    a->scale = lc->alpha / (float)lc->rank;
    a->n_t = (int32_t)(2 * n_targets * L);
    a->t = lo_calloc((size_t)a->n_t, sizeof *a->t);
    const size_t slots = (size_t)L * LO_LORA_N_TARGETS;
    a->a = lo_calloc(slots, sizeof *a->a), a->b = lo_calloc(slots, sizeof *a->b);
    a->ga = lo_calloc(slots, sizeof *a->ga), a->gb = lo_calloc(slots, sizeof *a->gb);
    if (!a->t || !a->a || !a->b || !a->ga || !a->gb) {
        lo_train__lora_free(a);
        return LO_ERR_NOMEM;
    }
    int64_t off = 0;
    int32_t n = 0;
    for (int64_t l = 0; l < L; l++)
        for (int k = 0; k < LO_LORA_N_TARGETS; k++) {
            if (!(lc->targets & (1u << k))) continue;
            int64_t o, i;
            lo_train__lora_dims(c, k, &o, &i);
            lo_train_tdesc *da = &a->t[n++], *db = &a->t[n++];
            snprintf(da->name, sizeof da->name, "blk.%d.%s.weight.lora_a", (int)l, k_tensor_names[k]);
            snprintf(db->name, sizeof db->name, "blk.%d.%s.weight.lora_b", (int)l, k_tensor_names[k]);
            da->n_dims = db->n_dims = 2;
            da->ne[0] = i, da->ne[1] = r, da->offset = off, da->decay = true;
            off += i * r;
            db->ne[0] = r, db->ne[1] = o, db->offset = off, db->decay = true;
            off += r * o;
        }
    a->n_params = off;
    const size_t bytes = ((size_t)off * sizeof(float) + 63) & ~(size_t)63;
    a->w = lo_malloc_aligned(bytes, 64), a->g = lo_malloc_aligned(bytes, 64);
    a->m = lo_malloc_aligned(bytes, 64), a->v = lo_malloc_aligned(bytes, 64);
    if (!a->w || !a->g || !a->m || !a->v) {
        lo_train__lora_free(a);
        return lo_error(LO_ERR_NOMEM, "choose a smaller --lora-rank", "train: no memory for %lld adapter weights",
                        (long long)off);
    }
    memset(a->g, 0, bytes), memset(a->m, 0, bytes), memset(a->v, 0, bytes);
    n = 0;
    for (int64_t l = 0; l < L; l++)
        for (int k = 0; k < LO_LORA_N_TARGETS; k++) {
            if (!(lc->targets & (1u << k))) continue;
            const lo_train_tdesc *da = &a->t[n], *db = &a->t[n + 1];
            const size_t s = (size_t)(l * LO_LORA_N_TARGETS + k);
            a->a[s] = a->w + da->offset, a->ga[s] = a->g + da->offset;
            a->b[s] = a->w + db->offset, a->gb[s] = a->g + db->offset;
            /* A: Kaiming-uniform with a = √5 (PEFT, nn.Linear): U(−1/√in, 1/√in); B: 0. */
            const float bound = 1.0f / sqrtf((float)da->ne[0]);
            uint64_t st = lo_train__mix(seed ^ lo_train__mix(0x10a0000ull + (uint64_t)n)) | 1;
            for (int64_t j = 0; j < da->ne[0] * da->ne[1]; j++)
                a->a[s][j] = bound * (2.0f * (float)((double)(lo_train__next(&st) >> 11) / 9007199254740992.0) - 1.0f);
            memset(a->b[s], 0, (size_t)(db->ne[0] * db->ne[1]) * sizeof(float));
            n += 2;
        }
    /* Freeze the base: no gradients or moments for it. */
    lo_free(m->g), lo_free(m->m), lo_free(m->v);
    m->g = m->m = m->v = NULL;
    const lo_train_layer zero = {0};
    for (int64_t l = 0; l < L; l++) m->G.layers[l] = zero;
    m->G.tok_embd = m->G.output_norm = m->G.output = NULL;
    m->lora = a;
    return LO_OK;
}

lo_train_block lo_train__trainable(const lo_train_model *m) {
    if (m->lora)
        return (lo_train_block){m->lora->w,        m->lora->g, m->lora->m,  m->lora->v,
                                m->lora->n_params, m->lora->t, m->lora->n_t};
    return (lo_train_block){m->w, m->g, m->m, m->v, m->n_params, m->t, m->n_t};
}

int32_t lo_train_model_n_trainable(const lo_train_model *m) {
    return lo_train__trainable(m).n_t;
}
int64_t lo_train_model_n_trainable_params(const lo_train_model *m) {
    return lo_train__trainable(m).n;
}

lo_train_tensor lo_train_model_trainable(const lo_train_model *m, int32_t i) {
    const lo_train_block b = lo_train__trainable(m);
    LO_ASSERT(i >= 0 && i < b.n_t);
    const lo_train_tdesc *d = &b.t[i];
    return (lo_train_tensor){.name = d->name,
                             .n_dims = d->n_dims,
                             .ne = {d->ne[0], d->ne[1]},
                             .n = d->ne[0] * d->ne[1],
                             .w = b.w + d->offset,
                             .g = b.g + d->offset};
}

/* A copy of the model's weights with every adapter merged: W' = W + scale·B·A. */
float *lo_train__lora_merged(const lo_train_model *m) {
    float *w = lo_malloc_aligned(((size_t)m->n_params * sizeof(float) + 63) & ~(size_t)63, 64);
    if (!w) return NULL;
    memcpy(w, m->w, (size_t)m->n_params * sizeof(float));
    const lo_train_lora *a = m->lora;
    for (int64_t l = 0; l < m->c.n_layer; l++)
        for (int k = 0; k < LO_LORA_N_TARGETS; k++) {
            const size_t s = (size_t)(l * LO_LORA_N_TARGETS + k);
            if (!a->a[s]) continue;
            int64_t o, i;
            lo_train__lora_dims(&m->c, k, &o, &i);
            float *W = w + (lo_train__lora_base(m, l, k) - m->w);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)o, (int)i, a->c.rank, a->scale, a->b[s],
                        a->c.rank, a->a[s], (int)i, 1.0f, W, (int)i);
        }
    return w;
}

lo_status lo_train_model_save_lora_gguf(const lo_train_model *m, const char *name, const char *out_path) {
    const lo_train_lora *a = m ? m->lora : NULL;
    if (!a || !out_path)
        return lo_error(LO_ERR_INVALID, "train with --method lora to write an adapter",
                        "train: no adapters or no output path");
    lo_gguf_writer *w = NULL;
    lo_status s = lo_gguf_writer_create(3, &w);
    if (s) return s;
    s = lo_gguf_writer_set_str(w, "general.architecture", "llama");
    if (!s) s = lo_gguf_writer_set_str(w, "general.type", "adapter");
    if (!s && name && *name) s = lo_gguf_writer_set_str(w, "general.name", name);
    if (!s) s = lo_gguf_writer_set_str(w, "adapter.type", "lora");
    if (!s) s = lo_gguf_writer_set_f32(w, "adapter.lora.alpha", a->c.alpha);
    for (int32_t i = 0; i < a->n_t && !s; i++) {
        const lo_train_tdesc *d = &a->t[i];
        const int64_t ne[2] = {d->ne[0], d->ne[1]};
        s = lo_gguf_writer_add_tensor(w, d->name, LO_DTYPE_F32, 2, ne, a->w + d->offset,
                                      (size_t)(d->ne[0] * d->ne[1]) * sizeof(float));
    }
    if (!s) s = lo_gguf_writer_write(w, out_path);
    lo_gguf_writer_free(w);
    if (s) return lo_error_wrap(s, "train: writing adapter %s", out_path);
    return LO_OK;
}
