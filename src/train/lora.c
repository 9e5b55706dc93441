/* train: LoRA adapters — target parsing, the adapter block (A Kaiming-uniform, B zero)
 * added to a model whose base is then frozen (f32, or QLoRA's stored types), the
 * trainable-tensor view the optimizer and checkpoints use, and merging W' = W + (alpha/rank)·B·A. */
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
    if (!(lc->dropout >= 0 && lc->dropout < 1))
        return lo_error(LO_ERR_RANGE, "give 0 ≤ --lora-dropout < 1", "train: LoRA dropout %g", lc->dropout);
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
    LO_ASSERT(!m->qbase); /* QLoRA merges row chunks into its stored types (qlora.c) */
    float *w = lo_malloc_aligned(((size_t)m->n_w * sizeof(float) + 63) & ~(size_t)63, 64);
    if (!w) return NULL;
    memcpy(w, m->w, (size_t)m->n_w * sizeof(float));
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

/* ---- merging an adapter file into a base (llmops lora merge) ---------------------------- */

/* The slot (layer · LO_LORA_N_TARGETS + target) of "blk.N.<target>.weight", else -1. */
static int64_t adapter_slot(const char *name, size_t len, int64_t n_layer) {
    if (len < 5 || memcmp(name, "blk.", 4) != 0) return -1;
    size_t p = 4;
    int64_t l = 0;
    if (name[p] < '0' || name[p] > '9') return -1;
    while (p < len && name[p] >= '0' && name[p] <= '9' && l < (1 << 20)) l = l * 10 + (name[p++] - '0');
    if (p >= len || name[p++] != '.' || l >= n_layer) return -1;
    for (int k = 0; k < LO_LORA_N_TARGETS; k++) {
        const size_t tn = strlen(k_tensor_names[k]);
        if (len - p == tn + 7 && !memcmp(name + p, k_tensor_names[k], tn) && !memcmp(name + p + tn, ".weight", 7))
            return l * LO_LORA_N_TARGETS + k;
    }
    return -1;
}

lo_status lo_train_lora_merge_gguf(const char *base_path, const char *adapter_path, float scale, const char *out_path) {
    if (!base_path || !adapter_path || !out_path)
        return lo_error(LO_ERR_INVALID, "give BASE.gguf ADAPTER.gguf OUT.gguf", "lora merge: a path is missing");
    if (!isfinite(scale) || fabsf(scale) > 1e6f)
        return lo_error(LO_ERR_RANGE, "give a finite --scale with |scale| ≤ 1e6", "lora merge: scale %g", scale);
    /* Quantised bases are refused before loading, with the merge's own message. */
    lo_gguf *bg = NULL, *g = NULL;
    lo_status s = lo_gguf_open(base_path, &bg);
    if (s) return lo_error_wrap(s, "lora merge: base %s", base_path);
    for (int64_t i = 0; !s && i < lo_gguf_n_tensors(bg); i++) {
        const lo_gguf_tensor *gt = lo_gguf_tensor_at(bg, i);
        if (gt->type != LO_DTYPE_F32 && gt->type != LO_DTYPE_F16 && gt->type != LO_DTYPE_BF16) {
            const lo_dtype_traits *tr = lo_dtype_get(gt->type);
            s = lo_error(LO_ERR_UNSUPPORTED,
                         "merge into an F32, F16 or BF16 base (merging into a quantised base is not built)",
                         "lora merge: base %s is quantised (tensor %.*s is %s)", base_path, (int)gt->name.len,
                         gt->name.data, tr ? tr->name : "of an unknown type");
        }
    }
    lo_gguf_close(bg);
    bg = NULL;
    lo_train_model *m = NULL;
    if (s) return s;
    s = lo_train_model_load_gguf(base_path, &m);
    if (s) return s;
    int64_t *ia = NULL, *ib = NULL; /* per slot: the adapter's tensor index of A and B, -1 if none */
    const int64_t L = m->c.n_layer, slots = L * LO_LORA_N_TARGETS;
    /* Every tensor of the base must be one the model holds: the output is written from it. */
    s = lo_gguf_open(base_path, &bg);
    for (int64_t i = 0; !s && i < lo_gguf_n_tensors(bg); i++) {
        const lo_gguf_tensor *gt = lo_gguf_tensor_at(bg, i);
        int32_t j = 0;
        while (j < m->n_t && !lo_gguf_str_eq(gt->name, m->t[j].name)) j++;
        if (j == m->n_t)
            s = lo_error(LO_ERR_UNSUPPORTED, "merge into a plain llama GGUF (the llama tensors only)",
                         "lora merge: %s: tensor %.*s is not one the merge writes", base_path, (int)gt->name.len,
                         gt->name.data);
    }
    lo_gguf_close(bg);
    if (!s) {
        s = lo_gguf_open(adapter_path, &g);
        if (s) s = lo_error_wrap(s, "lora merge: adapter %s", adapter_path);
    }
    lo_gguf_str str = {0};
    double alpha = 0;
    if (!s && (!lo_gguf_get_str(g, "general.type", &str) || !lo_gguf_str_eq(str, "adapter")))
        s = lo_error(LO_ERR_FORMAT, "give a LoRA adapter GGUF (llmops train --adapter-out, convert_lora_to_gguf.py)",
                     "lora merge: %s is not an adapter (general.type is not \"adapter\")", adapter_path);
    if (!s && (!lo_gguf_get_str(g, "adapter.type", &str) || !lo_gguf_str_eq(str, "lora")))
        s = lo_error(LO_ERR_FORMAT, "give a LoRA adapter GGUF", "lora merge: %s: adapter.type is not \"lora\"",
                     adapter_path);
    if (!s && lo_gguf_get_str(g, "general.architecture", &str) && !lo_gguf_str_eq(str, "llama"))
        s = lo_error(LO_ERR_FORMAT, "give an adapter trained for a llama base",
                     "lora merge: %s: general.architecture is '%.*s', the base is llama", adapter_path, (int)str.len,
                     str.data);
    if (!s && (!lo_gguf_get_f64(g, "adapter.lora.alpha", &alpha) || !(alpha > 0 && alpha < 1e6)))
        s = lo_error(LO_ERR_FORMAT, "give an adapter with 0 < adapter.lora.alpha < 1e6",
                     "lora merge: %s lacks a valid adapter.lora.alpha", adapter_path);
    if (!s) {
        ia = lo_malloc((size_t)slots * sizeof *ia), ib = lo_malloc((size_t)slots * sizeof *ib);
        if (!ia || !ib) s = LO_ERR_NOMEM;
        for (int64_t i = 0; !s && i < slots; i++) ia[i] = ib[i] = -1;
    }
    int64_t rank = 0;
    uint32_t targets = 0;
    for (int64_t i = 0; !s && i < lo_gguf_n_tensors(g); i++) {
        const lo_gguf_tensor *gt = lo_gguf_tensor_at(g, i);
        const char *nm = gt->name.data;
        const size_t len = (size_t)gt->name.len;
        const bool is_a = len > 7 && !memcmp(nm + len - 7, ".lora_a", 7);
        const bool is_b = len > 7 && !memcmp(nm + len - 7, ".lora_b", 7);
        if (!is_a && !is_b) {
            s = lo_error(LO_ERR_FORMAT, "give a LoRA adapter GGUF (only .lora_a / .lora_b tensors)",
                         "lora merge: %s: tensor %.*s is not a .lora_a or .lora_b", adapter_path, (int)len, nm);
            break;
        }
        const int64_t slot = adapter_slot(nm, len - 7, L);
        if (slot < 0) {
            int32_t j = 0;
            while (j < m->n_t && !(strlen(m->t[j].name) == len - 7 && !memcmp(m->t[j].name, nm, len - 7))) j++;
            s = j < m->n_t
                    ? lo_error(LO_ERR_UNSUPPORTED, "merge adapters on attn_q/k/v/output and ffn_gate/up/down only",
                               "lora merge: %s: adapters on %.*s are not supported", adapter_path, (int)(len - 7), nm)
                    : lo_error(LO_ERR_INVALID, "merge an adapter trained for this base",
                               "lora merge: %s: %.*s names no tensor of the base %s", adapter_path, (int)len, nm,
                               base_path);
            break;
        }
        const int k = (int)(slot % LO_LORA_N_TARGETS);
        int64_t o, in;
        lo_train__lora_dims(&m->c, k, &o, &in);
        const int64_t r = is_a ? gt->ne[1] : gt->ne[0];
        const bool dims_ok = gt->n_dims == 2 && (is_a ? gt->ne[0] == in : gt->ne[1] == o);
        if (!dims_ok || r < 1 || r > o || r > in) {
            char want[64];
            if (is_a)
                snprintf(want, sizeof want, "{%lld, rank ≤ %lld}", (long long)in, (long long)(o < in ? o : in));
            else
                snprintf(want, sizeof want, "{rank ≤ %lld, %lld}", (long long)(o < in ? o : in), (long long)o);
            s = lo_error(LO_ERR_INVALID, "merge an adapter trained for this base",
                         "lora merge: %s: %.*s is {%lld, %lld}%s, the base's %.*s needs %s", adapter_path, (int)len, nm,
                         (long long)gt->ne[0], (long long)gt->ne[1], gt->n_dims == 2 ? "" : " (not 2-D)",
                         (int)(len - 7), nm, want);
            break;
        }
        if (rank && r != rank) {
            s = lo_error(LO_ERR_INVALID, "give an adapter with one rank for every tensor",
                         "lora merge: %s: %.*s has rank %lld, earlier tensors %lld", adapter_path, (int)len, nm,
                         (long long)r, (long long)rank);
            break;
        }
        rank = r;
        if (gt->type != LO_DTYPE_F32 && gt->type != LO_DTYPE_F16 && gt->type != LO_DTYPE_BF16) {
            const lo_dtype_traits *tr = lo_dtype_get(gt->type);
            s = lo_error(LO_ERR_UNSUPPORTED, "give an F32, F16 or BF16 adapter", "lora merge: %s: %.*s is %s",
                         adapter_path, (int)len, nm, tr ? tr->name : "of an unknown type");
            break;
        }
        if (gt->bytes != (size_t)(gt->ne[0] * gt->ne[1]) * (gt->type == LO_DTYPE_F32 ? 4u : 2u)) {
            s = lo_error(LO_ERR_FORMAT, "give an intact adapter GGUF", "lora merge: %s: %.*s has %zu bytes",
                         adapter_path, (int)len, nm, gt->bytes);
            break;
        }
        int64_t *dst = is_a ? &ia[slot] : &ib[slot];
        if (*dst >= 0) {
            s = lo_error(LO_ERR_FORMAT, "give an intact adapter GGUF", "lora merge: %s: %.*s appears twice",
                         adapter_path, (int)len, nm);
            break;
        }
        *dst = i;
        targets |= 1u << k;
    }
    for (int64_t i = 0; !s && i < slots; i++)
        if ((ia[i] < 0) != (ib[i] < 0)) {
            const lo_gguf_tensor *gt = lo_gguf_tensor_at(g, ia[i] >= 0 ? ia[i] : ib[i]);
            s = lo_error(LO_ERR_FORMAT, "give an adapter with a .lora_a and a .lora_b for every tensor",
                         "lora merge: %s: %.*s has no %s", adapter_path, (int)gt->name.len, gt->name.data,
                         ia[i] >= 0 ? ".lora_b" : ".lora_a");
        }
    if (!s && !targets)
        s = lo_error(LO_ERR_FORMAT, "give a LoRA adapter GGUF with tensors", "lora merge: %s holds no adapter tensors",
                     adapter_path);
    if (!s) {
        const lo_lora_config lc = {.rank = (int32_t)rank, .alpha = (float)alpha, .targets = targets};
        s = lo_train_model_add_lora(m, &lc, 0);
    }
    if (!s) { /* slots of a target missing in some layer keep B = 0: they add nothing */
        lo_train_lora *a = m->lora;
        for (int64_t i = 0; i < slots; i++) {
            if (ia[i] < 0) continue;
            const lo_gguf_tensor *ta = lo_gguf_tensor_at(g, ia[i]), *tb = lo_gguf_tensor_at(g, ib[i]);
            lo_train__to_f32(ta, ta->ne[0] * ta->ne[1], a->a[i]);
            lo_train__to_f32(tb, tb->ne[0] * tb->ne[1], a->b[i]);
        }
        a->scale *= scale;
        s = lo_train_model_save_gguf(m, NULL, NULL, out_path);
    }
    lo_free(ia);
    lo_free(ib);
    lo_gguf_close(g);
    lo_train_model_free(m);
    return s;
}
