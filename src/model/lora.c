/* model: LoRA adapters in llama.cpp's GGUF format — loading one against a model with every
 * field of the (hostile) file validated, A and B held as F32, and attaching adapters to a
 * model so forward.c adds s·B·(A·x) to each adapted projection; the base is never changed. */
#include "model/model_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define LL(f) offsetof(lo_layer, f)

int lo_lora_slot_of(size_t off) {
    static const size_t offs[LO_LS_COUNT] = {LL(wq), LL(wk),       LL(wv),     LL(wqkv),
                                             LL(wo), LL(ffn_gate), LL(ffn_up), LL(ffn_down)};
    for (int i = 0; i < LO_LS_COUNT; i++)
        if (offs[i] == off) return i;
    return -1;
}

/* Resolves an adapter's base tensor name (len bytes, not NUL-terminated) to a layer and a
 * slot. Returns LO_OK with *il, *slot set, or an error naming the problem. */
static lo_status resolve(const lo_model *m, const char *path, const char *nm, size_t len, int32_t *il, int *slot) {
    const lo_hparams *hp = &m->hp;
    char name[160];
    const bool fits = len < sizeof name;
    if (fits) memcpy(name, nm, len), name[len] = '\0';
    /* "blk.N.<rest>": N of at most 9 digits, re-printed below so "blk.01" does not pass */
    if (fits && len > 4 && memcmp(name, "blk.", 4) == 0) {
        size_t p = 4;
        int64_t l = 0;
        while (p < len && p < 13 && name[p] >= '0' && name[p] <= '9') l = l * 10 + (name[p++] - '0');
        if (p > 4 && p < len && name[p] == '.' && l < hp->n_layer) {
            for (const lo_tensor_spec *s = m->arch->layer; s->name; s++) {
                char want[160];
                snprintf(want, sizeof want, s->name, (int)l);
                if (strcmp(want, name) != 0) continue;
                const int sl = s->kind == LO_T_MAT ? lo_lora_slot_of(s->offset) : -1;
                if (sl < 0)
                    return lo_error(LO_ERR_UNSUPPORTED,
                                    "adapt the layer projections only (attn_q/k/v/qkv/output, ffn_gate/up/down)",
                                    "adapter %s: adapters on %s are not supported", path, name);
                const lo_matrix *w = (const lo_matrix *)((const char *)&m->layers[l] + s->offset);
                if (!w->data) break; /* optional or dense-only: this model does not have it */
                *il = (int32_t)l, *slot = sl;
                return LO_OK;
            }
        }
    }
    if (fits && lo_gguf_find_tensor(m->gguf, name) >= 0)
        return lo_error(LO_ERR_UNSUPPORTED,
                        "adapt the layer projections only (attn_q/k/v/qkv/output, ffn_gate/up/down)",
                        "adapter %s: adapters on %s are not supported", path, name);
    return lo_error(LO_ERR_INVALID, "use an adapter trained for this model",
                    "adapter %s: %.*s names no tensor of the model's layers", path, (int)(len > 120 ? 120 : len), nm);
}

static const lo_matrix *slot_matrix(const lo_layer *l, int slot) {
    const lo_matrix *const ms[LO_LS_COUNT] = {&l->wq, &l->wk,       &l->wv,     &l->wqkv,
                                              &l->wo, &l->ffn_gate, &l->ffn_up, &l->ffn_down};
    return ms[slot];
}

/* Element i of an F32/F16/BF16 tensor (data may be unaligned). */
static float elem(const lo_gguf_tensor *t, int64_t i) {
    const uint8_t *p = t->data;
    if (t->type == LO_DTYPE_F32) {
        float f;
        memcpy(&f, p + (size_t)i * 4, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, p + (size_t)i * 2, 2);
    return t->type == LO_DTYPE_F16 ? lo_f16_to_f32(h) : lo_bf16_to_f32(h);
}

static const char *type_name(uint32_t type) {
    const lo_dtype_traits *tr = lo_dtype_get(type);
    return tr && tr->name ? tr->name : "of an unknown type";
}

lo_status lo_lora_load(const lo_model *m, const char *path, lo_lora_adapter **out) {
    LO_ASSERT(m && path && out);
    *out = NULL;
    const lo_hparams *hp = &m->hp;
    const int64_t n_slots = (int64_t)hp->n_layer * LO_LS_COUNT;
    lo_gguf *g = NULL;
    int64_t *ia = NULL, *ib = NULL; /* per slot: the file's tensor index of A and B, -1 if none */
    lo_lora_adapter *a = NULL;
    lo_status s = lo_gguf_open(path, &g);
    if (s) return lo_error_wrap(s, "adapter %s", path);
    lo_gguf_str str = {0};
    const char *hint_kind =
        "give a LoRA adapter GGUF (llmops train --adapter-out, llama.cpp's convert_lora_to_gguf.py)";
    if (!lo_gguf_get_str(g, "general.type", &str) || !lo_gguf_str_eq(str, "adapter")) {
        s = lo_error(LO_ERR_FORMAT, hint_kind, "%s is not an adapter (general.type is not \"adapter\")", path);
        goto fail;
    }
    if (!lo_gguf_get_str(g, "adapter.type", &str) || !lo_gguf_str_eq(str, "lora")) {
        s = lo_error(LO_ERR_UNSUPPORTED, hint_kind, "adapter %s: adapter.type is not \"lora\"", path);
        goto fail;
    }
    if (!lo_gguf_get_str(g, "general.architecture", &str)) {
        s = lo_error(LO_ERR_FORMAT, hint_kind, "adapter %s: general.architecture is missing (the model is '%s')", path,
                     hp->arch);
        goto fail;
    }
    if (!lo_gguf_str_eq(str, hp->arch)) {
        s = lo_error(LO_ERR_INVALID, "use an adapter trained for this model's architecture",
                     "adapter %s: general.architecture is '%.*s', the model is '%s'", path,
                     (int)(str.len > 64 ? 64 : str.len), str.data, hp->arch);
        goto fail;
    }
    if (lo_gguf_get(g, "adapter.alora.invocation_tokens")) {
        s = lo_error(LO_ERR_UNSUPPORTED, "use a plain LoRA adapter",
                     "adapter %s: activated LoRA (adapter.alora.invocation_tokens) is not supported", path);
        goto fail;
    }
    double alpha = 0;
    if (lo_gguf_get(g, "adapter.lora.alpha") &&
        (!lo_gguf_get_f64(g, "adapter.lora.alpha", &alpha) || !(alpha >= 0 && alpha <= 1e6))) {
        s = lo_error(LO_ERR_RANGE, "give an adapter with 0 ≤ adapter.lora.alpha ≤ 1e6 (0 or none: the scale alone)",
                     "adapter %s: adapter.lora.alpha is not a number in [0, 1e6]", path);
        goto fail;
    }
    lo_error_clear();
    a = lo_calloc(1, sizeof *a);
    ia = lo_malloc((size_t)n_slots * sizeof *ia);
    ib = lo_malloc((size_t)n_slots * sizeof *ib);
    if (!a || !ia || !ib) {
        s = LO_ERR_NOMEM;
        goto fail;
    }
    a->m = m;
    a->alpha = (float)alpha;
    for (int64_t i = 0; i < n_slots; i++) ia[i] = ib[i] = -1;
    size_t n_floats = 0;
    for (int64_t i = 0; i < lo_gguf_n_tensors(g); i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
        const char *nm = t->name.data;
        const size_t len = (size_t)t->name.len;
        const int nl = len > 120 ? 120 : (int)len;
        const bool is_a = len > 7 && !memcmp(nm + len - 7, ".lora_a", 7);
        const bool is_b = len > 7 && !memcmp(nm + len - 7, ".lora_b", 7);
        if (!is_a && !is_b) {
            s = lo_error(LO_ERR_FORMAT, "give a LoRA adapter GGUF (only .lora_a / .lora_b tensors)",
                         "adapter %s: tensor %.*s is not a .lora_a or .lora_b", path, nl, nm);
            goto fail;
        }
        int32_t il = 0;
        int slot = 0;
        if ((s = resolve(m, path, nm, len - 7, &il, &slot))) goto fail;
        const lo_matrix *w = slot_matrix(&m->layers[il], slot);
        if (t->type != LO_DTYPE_F32 && t->type != LO_DTYPE_F16 && t->type != LO_DTYPE_BF16) {
            s = lo_error(LO_ERR_UNSUPPORTED, "give an F32, F16 or BF16 adapter", "adapter %s: tensor %.*s is %s", path,
                         nl, nm, type_name(t->type));
            goto fail;
        }
        /* A {in, r}, B {r, out}, 1 ≤ r ≤ min(in, out) */
        const int64_t in = w->ne0, o = w->ne1, rmax = in < o ? in : o;
        const int64_t r = is_a ? t->ne[1] : t->ne[0];
        const bool dims_ok =
            t->n_dims == 2 && t->ne[2] == 1 && t->ne[3] == 1 && (is_a ? t->ne[0] == in : t->ne[1] == o);
        if (!dims_ok || r < 1 || r > rmax) {
            char want[80];
            if (is_a)
                snprintf(want, sizeof want, "{%lld, r} with 1 ≤ r ≤ %lld", (long long)in, (long long)rmax);
            else
                snprintf(want, sizeof want, "{r, %lld} with 1 ≤ r ≤ %lld", (long long)o, (long long)rmax);
            s = lo_error(LO_ERR_INVALID, "use an adapter trained for this model",
                         "adapter %s: tensor %.*s is {%lld, %lld}%s; the model's %.*s {%lld, %lld} needs %s", path, nl,
                         nm, (long long)t->ne[0], (long long)t->ne[1], t->n_dims == 2 ? "" : " (not 2-D)", nl - 7, nm,
                         (long long)in, (long long)o, want);
            goto fail;
        }
        const size_t esz = t->type == LO_DTYPE_F32 ? 4u : 2u;
        if (t->bytes != (size_t)(t->ne[0] * t->ne[1]) * esz) {
            s = lo_error(LO_ERR_FORMAT, "give an intact adapter GGUF", "adapter %s: tensor %.*s has %zu bytes", path,
                         nl, nm, t->bytes);
            goto fail;
        }
        const int64_t k = (int64_t)il * LO_LS_COUNT + slot;
        int64_t *dst = is_a ? &ia[k] : &ib[k];
        if (*dst >= 0) {
            s = lo_error(LO_ERR_FORMAT, "give an intact adapter GGUF", "adapter %s: tensor %.*s appears twice", path,
                         nl, nm);
            goto fail;
        }
        *dst = i;
        n_floats += (size_t)t->ne[0] * (size_t)t->ne[1]; /* bounded by the file's size */
    }
    /* pairs: both halves, one rank */
    for (int64_t k = 0; k < n_slots; k++) {
        if (ia[k] < 0 && ib[k] < 0) continue;
        const lo_gguf_tensor *ta = ia[k] >= 0 ? lo_gguf_tensor_at(g, ia[k]) : NULL;
        const lo_gguf_tensor *tb = ib[k] >= 0 ? lo_gguf_tensor_at(g, ib[k]) : NULL;
        if (!ta || !tb) {
            const lo_gguf_tensor *t = ta ? ta : tb;
            s = lo_error(LO_ERR_FORMAT, "give an adapter with a .lora_a and a .lora_b for every tensor",
                         "adapter %s: tensor %.*s has no %s", path, (int)(t->name.len > 120 ? 120 : t->name.len),
                         t->name.data, ta ? ".lora_b" : ".lora_a");
            goto fail;
        }
        if (ta->ne[1] != tb->ne[0]) {
            s = lo_error(LO_ERR_INVALID, "give an adapter whose .lora_a and .lora_b have one rank",
                         "adapter %s: %.*s has rank %lld but its .lora_b %lld", path,
                         (int)(ta->name.len > 120 ? 120 : ta->name.len), ta->name.data, (long long)ta->ne[1],
                         (long long)tb->ne[0]);
            goto fail;
        }
        a->n_pairs++;
    }
    if (a->n_pairs == 0) {
        s = lo_error(LO_ERR_FORMAT, "give a LoRA adapter GGUF with tensors", "adapter %s holds no adapter tensors",
                     path);
        goto fail;
    }
    a->pairs = lo_calloc((size_t)n_slots, sizeof *a->pairs);
    a->data = lo_malloc_aligned((n_floats * sizeof(float) + 63) & ~(size_t)63, 64);
    if (!a->pairs || !a->data) {
        s = lo_error(LO_ERR_NOMEM, NULL, "adapter %s: no memory for %zu weights", path, n_floats);
        goto fail;
    }
    float *p = a->data;
    for (int64_t k = 0; k < n_slots; k++) {
        if (ia[k] < 0) continue;
        const lo_gguf_tensor *ta = lo_gguf_tensor_at(g, ia[k]), *tb = lo_gguf_tensor_at(g, ib[k]);
        lo_lora_pair *pr = &a->pairs[k];
        pr->r = (int32_t)ta->ne[1];
        pr->n_in = ta->ne[0];
        pr->n_out = tb->ne[1];
        float *A = p, *Bt = p + (size_t)pr->r * (size_t)pr->n_in;
        const int64_t na = (int64_t)pr->r * pr->n_in, nb = (int64_t)pr->r * pr->n_out;
        bool finite = true;
        for (int64_t i = 0; i < na; i++) A[i] = elem(ta, i), finite &= isfinite(A[i]) != 0;
        /* B's file layout: n_out rows of r; held transposed */
        for (int64_t o = 0; o < pr->n_out; o++)
            for (int64_t j = 0; j < pr->r; j++) {
                const float v = elem(tb, o * pr->r + j);
                Bt[j * pr->n_out + o] = v;
                finite &= isfinite(v) != 0;
            }
        if (!finite) {
            s = lo_error(LO_ERR_FORMAT, "give an adapter with finite weights",
                         "adapter %s: %.*s holds a NaN or infinity", path,
                         (int)(ta->name.len - 7 > 120 ? 120 : ta->name.len - 7), ta->name.data);
            goto fail;
        }
        pr->a = A, pr->bt = Bt;
        p += na + nb;
        a->rank_min = a->rank_min && a->rank_min < pr->r ? a->rank_min : pr->r;
        a->rank_max = a->rank_max > pr->r ? a->rank_max : pr->r;
        a->n_params += na + nb;
    }
    lo_free(ia);
    lo_free(ib);
    lo_gguf_close(g);
    *out = a;
    return LO_OK;
fail:
    lo_free(ia);
    lo_free(ib);
    lo_gguf_close(g);
    lo_lora_free(a);
    return s;
}

void lo_lora_free(lo_lora_adapter *a) {
    if (!a) return;
    lo_free(a->pairs);
    lo_free(a->data);
    lo_free(a);
}

void lo_lora_get_info(const lo_lora_adapter *a, lo_lora_info *out) {
    LO_ASSERT(a && out);
    *out = (lo_lora_info){.alpha = a->alpha,
                          .n_pairs = a->n_pairs,
                          .rank_min = a->rank_min,
                          .rank_max = a->rank_max,
                          .n_params = a->n_params};
}

lo_status lo_model_lora_attach(lo_model *m, lo_lora_adapter *a, float scale) {
    LO_ASSERT(m && a);
    if (a->m != m)
        return lo_error(LO_ERR_INVALID, "load the adapter with lo_lora_load for this model",
                        "the adapter was loaded for another model");
    if (!isfinite(scale) || fabsf(scale) > 1e6f)
        return lo_error(LO_ERR_RANGE, "give a finite LoRA scale with |scale| ≤ 1e6", "LoRA scale %g", (double)scale);
    for (int32_t i = 0; i < m->n_lora; i++)
        if (m->lora[i] == a)
            return lo_error(LO_ERR_INVALID, "load the file again to apply it twice", "the adapter is already attached");
    if (m->n_lora == LO_LORA_MAX)
        return lo_error(LO_ERR_RANGE, NULL, "at most %d LoRA adapters per model", LO_LORA_MAX);
    m->lora[m->n_lora] = a;
    m->lora_scale[m->n_lora] = scale;
    m->n_lora++;
    return LO_OK;
}

int32_t lo_model_n_lora(const lo_model *m) {
    return m->n_lora;
}
const lo_lora_adapter *lo_model_lora(const lo_model *m, int32_t i) {
    return i >= 0 && i < m->n_lora ? m->lora[i] : NULL;
}

lo_status lo_model_lora_load_all(lo_model *m, const lo_lora_spec *specs, int32_t n) {
    LO_ASSERT(m && (specs || n == 0));
    for (int32_t i = 0; i < n; i++) {
        lo_lora_adapter *a = NULL;
        lo_status s = lo_lora_load(m, specs[i].path, &a);
        if (!s && (s = lo_model_lora_attach(m, a, specs[i].scale))) lo_lora_free(a);
        if (s) return s;
    }
    return LO_OK;
}
