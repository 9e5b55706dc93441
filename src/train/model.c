/* train: the parameters of a llama model being trained — config validation, the flat
 * weight/gradient/moment blocks and their per-tensor table, seeded initialisation, and
 * writing the result as a llama GGUF that llama.cpp and lo_model_load read. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "llmops/gguf.h"
#include "llmops/tensor.h"
#include "train/train_internal.h"

static bool in_range(int64_t v, int64_t lo, int64_t hi) {
    return v >= lo && v <= hi;
}

static lo_status check_config(const lo_train_config *c) {
    if (!in_range(c->n_vocab, 2, 1 << 22) || !in_range(c->n_embd, 2, 1 << 16) || !in_range(c->n_layer, 1, 1024) ||
        !in_range(c->n_head, 1, 1024) || !in_range(c->n_head_kv, 1, 1024) || !in_range(c->n_ff, 1, 1 << 20) ||
        !in_range(c->n_ctx, 1, 1 << 20))
        return lo_error(LO_ERR_RANGE, "check --dim --layers --heads --kv-heads --ff --ctx and the tokenizer's vocab",
                        "train: a dimension is out of range (vocab %d dim %d layers %d heads %d/%d ff %d ctx %d)",
                        c->n_vocab, c->n_embd, c->n_layer, c->n_head, c->n_head_kv, c->n_ff, c->n_ctx);
    if (c->n_embd % c->n_head || c->n_head % c->n_head_kv)
        return lo_error(LO_ERR_INVALID, "--dim must be a multiple of --heads, and --heads of --kv-heads",
                        "train: dim %d, heads %d, kv heads %d do not divide", c->n_embd, c->n_head, c->n_head_kv);
    if ((c->n_embd / c->n_head) % 2)
        return lo_error(LO_ERR_INVALID, "choose --dim / --heads even",
                        "train: head size %d is odd (RoPE rotates pairs)", c->n_embd / c->n_head);
    if (!(c->norm_eps >= 0 && c->norm_eps < 1) || !(c->rope_freq_base >= 0 && c->rope_freq_base < 1e12f))
        return lo_error(LO_ERR_RANGE, "give 0 ≤ norm eps < 1 and 0 ≤ rope base < 1e12 (0 = the defaults)",
                        "train: norm eps %g or rope base %g out of range", c->norm_eps, c->rope_freq_base);
    return LO_OK;
}

/* Standard normal from two uniforms (Box–Muller); deterministic for a seed. */
static float gauss(uint64_t *s) {
    double u1 = ((double)(lo_train__next(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = (double)(lo_train__next(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* Allocates the model; with init, the seeded random weights (a base overwrites them). */
lo_status lo_train__model_create(const lo_train_config *cfg, uint64_t seed, bool init, bool quant,
                                 lo_train_model **out) {
    *out = NULL;
    if (!cfg) return lo_error(LO_ERR_INVALID, "pass a lo_train_config", "train: no model config");
    lo_train_config c = *cfg;
    if (c.norm_eps == 0) c.norm_eps = 1e-5f;
    if (c.rope_freq_base == 0) c.rope_freq_base = 10000.0f;
    lo_status s = check_config(&c);
    if (s) return s;
    const int64_t D = c.n_embd, V = c.n_vocab, F = c.n_ff, L = c.n_layer;
    const int64_t KV = (D / c.n_head) * c.n_head_kv;
    lo_train_model *m = lo_calloc(1, sizeof *m);
    if (!m) return LO_ERR_NOMEM;
    m->c = c;
    m->n_t = (int32_t)(2 + 9 * L + (c.tied ? 0 : 1));
    m->t = lo_calloc((size_t)m->n_t, sizeof *m->t);
    m->W.layers = lo_calloc((size_t)L, sizeof *m->W.layers);
    m->G.layers = lo_calloc((size_t)L, sizeof *m->G.layers);
    if (!m->t || !m->W.layers || !m->G.layers) {
        lo_train_model_free(m);
        return LO_ERR_NOMEM;
    }
    int32_t k = 0;
    int64_t off = 0, total = 0;
#define ADD(nd, a, b, dec, ...)                                                                                        \
    do {                                                                                                               \
        lo_train_tdesc *d_ = &m->t[k++];                                                                               \
        snprintf(d_->name, sizeof d_->name, __VA_ARGS__);                                                              \
        d_->n_dims = nd, d_->ne[0] = a, d_->ne[1] = b, d_->decay = dec;                                                \
        d_->offset = quant && nd == 2 ? -1 : off;                                                                      \
        if (d_->offset >= 0) off += (int64_t)(a) * (int64_t)(b);                                                       \
        total += (int64_t)(a) * (int64_t)(b);                                                                          \
    } while (0)
    ADD(2, D, V, true, "token_embd.weight");
    for (int64_t l = 0; l < L; l++) {
        ADD(1, D, 1, false, "blk.%d.attn_norm.weight", (int)l);
        ADD(2, D, D, true, "blk.%d.attn_q.weight", (int)l);
        ADD(2, D, KV, true, "blk.%d.attn_k.weight", (int)l);
        ADD(2, D, KV, true, "blk.%d.attn_v.weight", (int)l);
        ADD(2, D, D, true, "blk.%d.attn_output.weight", (int)l);
        ADD(1, D, 1, false, "blk.%d.ffn_norm.weight", (int)l);
        ADD(2, D, F, true, "blk.%d.ffn_gate.weight", (int)l);
        ADD(2, D, F, true, "blk.%d.ffn_up.weight", (int)l);
        ADD(2, F, D, true, "blk.%d.ffn_down.weight", (int)l);
    }
    ADD(1, D, 1, false, "output_norm.weight");
    if (!c.tied) ADD(2, D, V, true, "output.weight");
#undef ADD
    LO_ASSERT(k == m->n_t);
    m->n_params = total;
    m->n_w = off;
    size_t bytes;
    if (lo_mul_overflow((size_t)off, sizeof(float), &bytes)) {
        lo_train_model_free(m);
        return lo_error(LO_ERR_RANGE, "choose a smaller model", "train: %lld parameters overflow", (long long)off);
    }
    bytes = (bytes + 63) & ~(size_t)63;
    m->w = lo_malloc_aligned(bytes, 64);
    if (!quant) { /* a QLoRA base is frozen from the start: no gradients or moments */
        m->g = lo_malloc_aligned(bytes, 64);
        m->m = lo_malloc_aligned(bytes, 64);
        m->v = lo_malloc_aligned(bytes, 64);
    }
    if (!m->w || (!quant && (!m->g || !m->m || !m->v))) {
        lo_train_model_free(m);
        return lo_error(LO_ERR_NOMEM, "choose a smaller model", "train: no memory for %lld parameters (4 × %zu bytes)",
                        (long long)off, bytes);
    }
    if (!quant) {
        memset(m->g, 0, bytes);
        memset(m->m, 0, bytes);
        memset(m->v, 0, bytes);
    }
    /* Views, in table order. */
    lo_train_weights *views[2] = {&m->W, &m->G};
    float *blocks[2] = {m->w, m->g};
    for (int b = 0; b < 2; b++) {
        lo_train_weights *W = views[b];
        float *base = blocks[b];
        if (!base) continue; /* QLoRA: no gradients */
        int32_t i = 0;
#define VIEW() (m->t[i].offset < 0 ? (i++, (float *)NULL) : base + m->t[i++].offset)
        W->tok_embd = VIEW();
        for (int64_t l = 0; l < L; l++) {
            lo_train_layer *y = &W->layers[l];
            y->attn_norm = VIEW();
            y->wq = VIEW();
            y->wk = VIEW();
            y->wv = VIEW();
            y->wo = VIEW();
            y->ffn_norm = VIEW();
            y->w_gate = VIEW();
            y->w_up = VIEW();
            y->w_down = VIEW();
        }
        W->output_norm = VIEW();
        W->output = c.tied ? W->tok_embd : VIEW();
#undef VIEW
    }
    /* Init: each tensor from its own stream, so adding a tensor does not move the others. */
    if (!init) {
        *out = m;
        return LO_OK;
    }
    const float resid_std = 0.02f / sqrtf(2.0f * (float)L);
    for (int32_t i = 0; i < m->n_t; i++) {
        const lo_train_tdesc *d = &m->t[i];
        float *w = m->w + d->offset;
        const int64_t n = d->ne[0] * d->ne[1];
        if (d->n_dims == 1) {
            for (int64_t j = 0; j < n; j++) w[j] = 1.0f;
            continue;
        }
        const bool resid = strstr(d->name, "attn_output") || strstr(d->name, "ffn_down");
        const float std = resid ? resid_std : 0.02f;
        uint64_t st = lo_train__mix(seed ^ lo_train__mix((uint64_t)i + 1)) | 1;
        for (int64_t j = 0; j < n; j++) w[j] = std * gauss(&st);
    }
    *out = m;
    return LO_OK;
}

lo_status lo_train_model_init(const lo_train_config *cfg, uint64_t seed, lo_train_model **out) {
    return lo_train__model_create(cfg, seed, true, false, out);
}

void lo_train_model_free(lo_train_model *m) {
    if (!m) return;
    lo_free(m->w);
    lo_free(m->g);
    lo_free(m->m);
    lo_free(m->v);
    lo_free(m->t);
    lo_free(m->base_path);
    lo_train__lora_free(m->lora);
    lo_free(m->W.layers);
    lo_free(m->G.layers);
    lo_free(m->Q.layers);
    lo_gguf_close(m->qbase);
    lo_free(m);
}

const lo_train_config *lo_train_model_config(const lo_train_model *m) {
    return &m->c;
}
int64_t lo_train_model_n_params(const lo_train_model *m) {
    return m->n_params;
}
int32_t lo_train_model_n_tensors(const lo_train_model *m) {
    return m->n_t;
}

lo_train_tensor lo_train_model_tensor(const lo_train_model *m, int32_t i) {
    LO_ASSERT(i >= 0 && i < m->n_t);
    const lo_train_tdesc *d = &m->t[i];
    return (lo_train_tensor){.name = d->name,
                             .n_dims = d->n_dims,
                             .ne = {d->ne[0], d->ne[1]},
                             .n = d->ne[0] * d->ne[1],
                             .w = d->offset >= 0 ? m->w + d->offset : NULL, /* NULL: a QLoRA matrix */
                             .g = m->g ? m->g + d->offset : NULL};          /* NULL: frozen under adapters */
}

/* ---- a base model from a GGUF ----------------------------------------------------------- */

static bool get_dim(const lo_gguf *g, const char *key, int32_t *out) {
    int64_t v;
    if (!lo_gguf_get_i64(g, key, &v) || v < 1 || v > INT32_MAX) return false;
    *out = (int32_t)v;
    return true;
}

void lo_train__to_f32(const lo_gguf_tensor *gt, int64_t n, float *w) {
    if (gt->type == LO_DTYPE_F32) {
        memcpy(w, gt->data, (size_t)n * 4);
        return;
    }
    const uint8_t *src = gt->data;
    for (int64_t j = 0; j < n; j++) {
        uint16_t h;
        memcpy(&h, src + 2 * j, 2);
        w[j] = gt->type == LO_DTYPE_F16 ? lo_f16_to_f32(h) : lo_bf16_to_f32(h);
    }
}

lo_status lo_train__base_config(const lo_gguf *g, const char *path, lo_train_config *c) {
    lo_gguf_str arch = {0};
    if (!lo_gguf_get_str(g, "general.architecture", &arch) || arch.len != 5 || memcmp(arch.data, "llama", 5) != 0)
        return lo_error(LO_ERR_UNSUPPORTED, "give --base a llama-architecture GGUF",
                        "train: %s is not a llama model (general.architecture '%.*s')", path, (int)arch.len,
                        arch.data ? arch.data : "");
    memset(c, 0, sizeof *c);
    const char *miss = NULL;
    if (!get_dim(g, "llama.embedding_length", &c->n_embd))
        miss = "llama.embedding_length";
    else if (!get_dim(g, "llama.block_count", &c->n_layer))
        miss = "llama.block_count";
    else if (!get_dim(g, "llama.attention.head_count", &c->n_head))
        miss = "llama.attention.head_count";
    else if (!get_dim(g, "llama.feed_forward_length", &c->n_ff))
        miss = "llama.feed_forward_length";
    else if (!get_dim(g, "llama.context_length", &c->n_ctx))
        miss = "llama.context_length";
    if (miss)
        return lo_error(LO_ERR_FORMAT, "give --base a complete llama GGUF", "train: %s lacks a valid %s", path, miss);
    if (!get_dim(g, "llama.attention.head_count_kv", &c->n_head_kv)) c->n_head_kv = c->n_head;
    double f;
    c->norm_eps = lo_gguf_get_f64(g, "llama.attention.layer_norm_rms_epsilon", &f) ? (float)f : 1e-5f;
    c->rope_freq_base = lo_gguf_get_f64(g, "llama.rope.freq_base", &f) ? (float)f : 10000.0f;
    const int64_t tv = lo_gguf_find_tensor(g, "token_embd.weight");
    if (tv < 0)
        return lo_error(LO_ERR_FORMAT, "give --base a complete llama GGUF", "train: %s has no token_embd.weight", path);
    c->n_vocab = (int32_t)lo_gguf_tensor_at(g, tv)->ne[1];
    c->tied = lo_gguf_find_tensor(g, "output.weight") < 0;
    /* What the trainer's forward does not do: another head size, partial RoPE, RoPE
     * scaling, experts. */
    const int32_t hd = c->n_embd % c->n_head ? 0 : c->n_embd / c->n_head;
    int32_t v;
    const char *what = NULL;
    if (get_dim(g, "llama.rope.dimension_count", &v) && v != hd)
        what = "partial RoPE (rope.dimension_count)";
    else if (get_dim(g, "llama.attention.key_length", &v) && v != hd)
        what = "a head size other than dim / heads";
    else if (lo_gguf_get_f64(g, "llama.rope.scaling.factor", &f) && f != 1.0 && f != 0.0)
        what = "RoPE scaling";
    else if (get_dim(g, "llama.expert_count", &v) && v > 0)
        what = "mixture of experts";
    if (what)
        return lo_error(LO_ERR_UNSUPPORTED, "fine-tune a plain llama model",
                        "train: %s uses %s, which the trainer does not implement", path, what);
    return LO_OK;
}

lo_status lo_train_model_load_gguf(const char *path, lo_train_model **out) {
    *out = NULL;
    lo_gguf *g = NULL;
    lo_status s = lo_gguf_open(path, &g);
    if (s) return lo_error_wrap(s, "train: base model %s", path);
    lo_train_config c;
    lo_train_model *m = NULL;
    s = lo_train__base_config(g, path, &c);
    if (!s) s = lo_train__model_create(&c, 0, false, false, &m); /* every tensor is read below */
    if (s) s = lo_error_wrap(s, "train: base model %s", path);
    for (int32_t i = 0; !s && i < m->n_t; i++) {
        const lo_train_tdesc *d = &m->t[i];
        const int64_t k = lo_gguf_find_tensor(g, d->name);
        if (k < 0) {
            s = lo_error(LO_ERR_FORMAT, "give --base a complete llama GGUF", "train: %s has no tensor %s", path,
                         d->name);
            break;
        }
        const lo_gguf_tensor *gt = lo_gguf_tensor_at(g, k);
        const int64_t n = d->ne[0] * d->ne[1];
        if (gt->ne[0] != d->ne[0] || gt->ne[1] != d->ne[1] || (gt->n_dims > 2)) {
            s = lo_error(LO_ERR_FORMAT, "give --base a consistent llama GGUF",
                         "train: %s: tensor %s is {%lld, %lld}, the hyper-parameters give {%lld, %lld}", path, d->name,
                         (long long)gt->ne[0], (long long)gt->ne[1], (long long)d->ne[0], (long long)d->ne[1]);
            break;
        }
        float *w = m->w + d->offset;
        const size_t el = gt->type == LO_DTYPE_F32 ? 4 : 2;
        if (gt->type != LO_DTYPE_F32 && gt->type != LO_DTYPE_F16 && gt->type != LO_DTYPE_BF16) {
            const lo_dtype_traits *tr = lo_dtype_get(gt->type);
            s = lo_error(LO_ERR_UNSUPPORTED,
                         "fine-tune an F32, F16 or BF16 GGUF, or train adapters on a quantised base with QLoRA "
                         "(--method qlora)",
                         "train: %s: tensor %s is %s", path, d->name, tr ? tr->name : "of an unknown type");
            break;
        }
        if (gt->bytes != (size_t)n * el) {
            s = lo_error(LO_ERR_FORMAT, "give --base an intact GGUF", "train: %s: tensor %s has %zu bytes", path,
                         d->name, gt->bytes);
            break;
        }
        lo_train__to_f32(gt, n, w);
    }
    if (!s && !(m->base_path = lo_strdup(path))) s = LO_ERR_NOMEM;
    lo_gguf_close(g);
    if (s) {
        lo_train_model_free(m);
        return s;
    }
    *out = m;
    return LO_OK;
}

/* ---- GGUF output ------------------------------------------------------------------------ */

static lo_status copy_tokenizer(lo_gguf_writer *w, const char *path, int64_t n_vocab) {
    lo_gguf *g = NULL;
    lo_status s = lo_gguf_open(path, &g);
    if (s) return lo_error_wrap(s, "train: tokenizer %s", path);
    const lo_gguf_value *toks = lo_gguf_get_arr(g, "tokenizer.ggml.tokens", LO_GGUF_STRING);
    if (!toks) {
        lo_gguf_close(g);
        return lo_error(LO_ERR_FORMAT, "give --tokenizer a GGUF that holds a tokenizer",
                        "train: %s has no tokenizer.ggml.tokens", path);
    }
    if ((int64_t)toks->arr.n != n_vocab) {
        lo_gguf_close(g);
        return lo_error(LO_ERR_INVALID, "use the tokenizer the model was trained with",
                        "train: %s has %llu tokens, the model %lld", path, (unsigned long long)toks->arr.n,
                        (long long)n_vocab);
    }
    for (int64_t i = 0; i < lo_gguf_n_kv(g) && !s; i++) {
        const lo_gguf_kv *kv = lo_gguf_kv_at(g, i);
        if (kv->key.len < 10 || memcmp(kv->key.data, "tokenizer.", 10) != 0) continue;
        char *key = lo_strndup(kv->key.data, kv->key.len);
        if (!key)
            s = LO_ERR_NOMEM;
        else
            s = lo_gguf_writer_set(w, key, &kv->value);
        lo_free(key);
    }
    lo_gguf_close(g);
    return s;
}

lo_status lo_train_model_save_gguf(const lo_train_model *m, const char *tokenizer_path, const char *name,
                                   const char *out_path) {
    if ((!tokenizer_path && !m->base_path) || !out_path)
        return lo_error(LO_ERR_INVALID, "give --tokenizer and --out", "train: no tokenizer or output path");
    if (m->qbase) return lo_train__qlora_save(m, name, out_path);
    const lo_train_config *c = &m->c;
    lo_gguf_writer *w = NULL;
    lo_status s = lo_gguf_writer_create(3, &w);
    if (s) return s;
    float *wts = m->w; /* with adapters: a merged copy */
    if (m->lora && !(wts = lo_train__lora_merged(m))) {
        lo_gguf_writer_free(w);
        return lo_error(LO_ERR_NOMEM, "free some memory", "train: no memory to merge the adapters");
    }
    lo_gguf *base = NULL;
    if (m->base_path) { /* the base's keys first, in its order; the llama.* keys below equal them */
        s = lo_gguf_open(m->base_path, &base);
        if (!s) s = lo_gguf_writer_copy_kvs(w, base);
        if (s) s = lo_error_wrap(s, "train: base model %s", m->base_path);
    }
    if (!s) s = lo_gguf_writer_set_str(w, "general.architecture", "llama");
    if (!s && (!base || (name && *name)))
        s = lo_gguf_writer_set_str(w, "general.name", name && *name ? name : "llmops-trained");
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->n_ctx);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c->n_embd);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->n_ff);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->n_layer);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_head);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_head_kv);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)(c->n_embd / c->n_head));
    if (!s) s = lo_gguf_writer_set_f32(w, "llama.rope.freq_base", c->rope_freq_base);
    if (!s) s = lo_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)c->n_vocab);
    if (!s && !base) s = copy_tokenizer(w, tokenizer_path, c->n_vocab);
    if (!s) s = lo_gguf_writer_set_u32(w, "general.file_type", 0); /* ALL_F32 */
    if (base) lo_gguf_writer_remove(w, "general.quantization_version");
    for (int32_t i = 0; i < m->n_t && !s; i++) {
        const lo_train_tdesc *d = &m->t[i];
        const int64_t ne[2] = {d->ne[0], d->ne[1]};
        s = lo_gguf_writer_add_tensor(w, d->name, LO_DTYPE_F32, (uint32_t)d->n_dims, ne, wts + d->offset,
                                      (size_t)(d->ne[0] * d->ne[1]) * sizeof(float));
    }
    if (!s) s = lo_gguf_writer_write(w, out_path);
    lo_gguf_writer_free(w);
    lo_gguf_close(base);
    if (wts != m->w) lo_free(wts);
    if (s) return lo_error_wrap(s, "train: writing %s", out_path);
    return LO_OK;
}
