/* model: loading — maps the GGUF, reads and validates the "<arch>.*" hyperparameters
 * (with llama.cpp's defaults), binds the weights through the architecture table and
 * builds the tokenizer; plus the model accessors (sizes, parameter counts). */
#include "model/model_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static bool get_arch_i64(const lo_gguf *g, const char *arch, const char *suffix, int64_t *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return lo_gguf_get_i64(g, key, out);
}

static bool get_arch_f64(const lo_gguf *g, const char *arch, const char *suffix, double *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return lo_gguf_get_f64(g, key, out);
}

/* Reads a positive int32 key; `required` missing keys are errors, others keep *out. */
static lo_status read_int(const lo_gguf *g, const char *arch, const char *suffix, bool required, int32_t lo_bound,
                          int32_t *out) {
    int64_t v = 0;
    if (!get_arch_i64(g, arch, suffix, &v)) {
        if (required) return lo_error(LO_ERR_FORMAT, NULL, "key '%s.%s' is missing", arch, suffix);
        lo_error_clear();
        return LO_OK;
    }
    if (v < lo_bound || v > (1 << 30))
        return lo_error(LO_ERR_RANGE, NULL, "key '%s.%s' = %lld is out of range", arch, suffix, (long long)v);
    *out = (int32_t)v;
    return LO_OK;
}

static lo_status read_hparams(lo_model *m) {
    const lo_gguf *g = m->gguf;
    lo_hparams *hp = &m->hp;
    const char *a = hp->arch;
    lo_status s;
    hp->n_ctx_train = 2048;
    if ((s = read_int(g, a, "context_length", false, 1, &hp->n_ctx_train))) return s;
    if ((s = read_int(g, a, "embedding_length", true, 1, &hp->n_embd))) return s;
    if ((s = read_int(g, a, "block_count", true, 1, &hp->n_layer))) return s;
    if ((s = read_int(g, a, "feed_forward_length", true, 1, &hp->n_ff))) return s;
    if ((s = read_int(g, a, "attention.head_count", true, 1, &hp->n_head))) return s;
    hp->n_head_kv = hp->n_head;
    if ((s = read_int(g, a, "attention.head_count_kv", false, 1, &hp->n_head_kv))) return s;
    if (hp->n_head % hp->n_head_kv != 0)
        return lo_error(LO_ERR_FORMAT, NULL, "head_count %d is not a multiple of head_count_kv %d", hp->n_head,
                        hp->n_head_kv);
    if (hp->n_embd % hp->n_head != 0 && !get_arch_i64(g, a, "attention.key_length", &(int64_t){0}))
        return lo_error(LO_ERR_FORMAT, NULL, "embedding_length %d is not a multiple of head_count %d", hp->n_embd,
                        hp->n_head);
    lo_error_clear();
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((s = read_int(g, a, "attention.key_length", false, 1, &hp->head_dim))) return s;
    int32_t vlen = hp->head_dim;
    if ((s = read_int(g, a, "attention.value_length", false, 1, &vlen))) return s;
    if (vlen != hp->head_dim)
        return lo_error(LO_ERR_UNSUPPORTED, NULL, "value_length %d differs from key_length %d", vlen, hp->head_dim);
    hp->n_rot = hp->head_dim;
    if ((s = read_int(g, a, "rope.dimension_count", false, 1, &hp->n_rot))) return s;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return lo_error(LO_ERR_FORMAT, NULL, "rope.dimension_count %d must be even and at most the head size %d",
                        hp->n_rot, hp->head_dim);
    double d = 0;
    hp->rope_freq_base = 10000.0f;
    if (get_arch_f64(g, a, "rope.freq_base", &d)) hp->rope_freq_base = (float)d;
    lo_error_clear();
    if (!(hp->rope_freq_base > 0) || !isfinite(hp->rope_freq_base))
        return lo_error(LO_ERR_RANGE, NULL, "rope.freq_base %g is not positive", (double)hp->rope_freq_base);
    hp->rope_freq_scale = 1.0f;
    char key[160];
    lo_gguf_str st;
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    bool has_type = lo_gguf_get_str(g, key, &st);
    lo_error_clear();
    double factor = 0;
    bool has_factor = get_arch_f64(g, a, "rope.scaling.factor", &factor) || get_arch_f64(g, a, "rope.scale_linear", &factor);
    lo_error_clear();
    if (has_type && !lo_gguf_str_eq(st, "none") && !lo_gguf_str_eq(st, "linear"))
        return lo_error(LO_ERR_UNSUPPORTED, NULL, "rope scaling type '%.*s' is not supported (only linear)",
                        (int)(st.len > 32 ? 32 : st.len), st.data);
    if (has_factor && factor != 0.0 && !(has_type && lo_gguf_str_eq(st, "none"))) {
        if (!(factor > 0) || !isfinite(factor)) return lo_error(LO_ERR_RANGE, NULL, "rope scaling factor %g", factor);
        hp->rope_freq_scale = (float)(1.0 / factor);
    }
    hp->norm_eps = 1e-5f;
    if (get_arch_f64(g, a, "attention.layer_norm_rms_epsilon", &d) || get_arch_f64(g, a, "attention.layer_norm_epsilon", &d))
        hp->norm_eps = (float)d;
    lo_error_clear();
    if (!(hp->norm_eps >= 0) || !isfinite(hp->norm_eps)) return lo_error(LO_ERR_RANGE, NULL, "norm epsilon is invalid");
    hp->n_expert = 0, hp->n_expert_used = 0;
    if ((s = read_int(g, a, "expert_count", false, 0, &hp->n_expert))) return s;
    if ((s = read_int(g, a, "expert_used_count", false, 0, &hp->n_expert_used))) return s;
    if (hp->n_expert > 0 && (hp->n_expert_used < 1 || hp->n_expert_used > hp->n_expert))
        return lo_error(LO_ERR_FORMAT, NULL, "expert_used_count %d must be in 1..expert_count %d", hp->n_expert_used,
                        hp->n_expert);
    if (hp->n_expert == 0) hp->n_expert_used = 0;
    if ((s = read_int(g, a, "attention.sliding_window", false, 0, &hp->sliding_window))) return s;
    /* encoders (bert): bidirectional attention unless attention.causal says otherwise;
     * pooling_type as llama.cpp numbers it (0 none and 4 rank fall back to the default) */
    const bool encoder = m->arch->encoder;
    hp->causal = !encoder;
    snprintf(key, sizeof key, "%s.attention.causal", a);
    bool causal = hp->causal;
    if (lo_gguf_get_bool(g, key, &causal)) hp->causal = causal;
    lo_error_clear();
    hp->pooling = encoder ? LO_POOLING_MEAN : LO_POOLING_LAST;
    int32_t pt = 0;
    if ((s = read_int(g, a, "pooling_type", false, 0, &pt))) return s;
    if (pt > 4) return lo_error(LO_ERR_FORMAT, NULL, "key '%s.pooling_type' = %d is not a pooling type (0..4)", a, pt);
    if (pt >= LO_POOLING_MEAN && pt <= LO_POOLING_LAST) hp->pooling = (lo_pooling)pt;
    hp->n_token_types = 0;
    if (encoder) {
        uint64_t ntt = 2;
        if (!lo_gguf_get_u64(g, "tokenizer.ggml.token_type_count", &ntt)) ntt = 2;
        lo_error_clear();
        if (ntt < 1 || ntt > 1024)
            return lo_error(LO_ERR_RANGE, NULL, "tokenizer.ggml.token_type_count = %llu is out of range", (unsigned long long)ntt);
        hp->n_token_types = (int32_t)ntt;
    }
    /* n_vocab: the token list, else <arch>.vocab_size, else token_embd's rows */
    const lo_gguf_value *toks = lo_gguf_get_arr(g, "tokenizer.ggml.tokens", LO_GGUF_STRING);
    lo_error_clear();
    if (toks) {
        if (toks->arr.n == 0 || toks->arr.n > (1u << 30)) return lo_error(LO_ERR_FORMAT, NULL, "tokenizer.ggml.tokens is empty or too large");
        hp->n_vocab = (int32_t)toks->arr.n;
    } else if ((s = read_int(g, a, "vocab_size", true, 1, &hp->n_vocab))) {
        return s;
    }
    hp->rope_type = m->arch->rope_type;
    return LO_OK;
}

lo_status lo_model_load(const char *path, lo_model **out) {
    LO_ASSERT(path && out);
    *out = NULL;
    lo_model *m = lo_calloc(1, sizeof *m);
    if (!m) return LO_ERR_NOMEM;
    lo_status s = lo_gguf_open(path, &m->gguf);
    if (s) goto fail;
    lo_gguf_str arch = lo_gguf_arch(m->gguf);
    if (arch.len == 0) {
        s = lo_error(LO_ERR_FORMAT, NULL, "general.architecture is missing");
        goto fail;
    }
    m->arch = lo_arch_find(arch.data, arch.len);
    if (!m->arch || !m->arch->supported) {
        s = lo_error(LO_ERR_UNSUPPORTED, "supported: llama (incl. Mixtral-style MoE), mistral, qwen2, falcon, bert", "architecture '%.*s' is not supported",
                     (int)(arch.len > 64 ? 64 : arch.len), arch.data);
        goto fail;
    }
    snprintf(m->hp.arch, sizeof m->hp.arch, "%s", m->arch->name);
    if ((s = read_hparams(m))) goto fail;
    m->layers = lo_calloc((size_t)m->hp.n_layer, sizeof *m->layers);
    if (!m->layers) {
        s = LO_ERR_NOMEM;
        goto fail;
    }
    if ((s = lo_arch_bind(m))) goto fail;
    if ((s = lo_tokenizer_load(m->gguf, &m->tok))) goto fail;
    if (lo_tokenizer_n_vocab(m->tok) != m->hp.n_vocab) {
        s = lo_error(LO_ERR_FORMAT, NULL, "the tokenizer has %d tokens but the model %d", lo_tokenizer_n_vocab(m->tok),
                     m->hp.n_vocab);
        goto fail;
    }
    m->path = lo_strdup(path);
    if (!m->path) {
        s = LO_ERR_NOMEM;
        goto fail;
    }
    *out = m;
    return LO_OK;
fail:
    lo_error_wrap(s, "%s", path);
    lo_model_free(m);
    return s;
}

void lo_model_free(lo_model *m) {
    if (!m) return;
    for (int32_t i = 0; i < m->n_lora; i++) lo_lora_free(m->lora[i]);
    lo_tokenizer_free(m->tok);
    lo_gguf_close(m->gguf);
    lo_free(m->layers);
    lo_free(m->path);
    lo_free(m);
}

const lo_hparams *lo_model_hparams(const lo_model *m) { return &m->hp; }
const lo_tokenizer *lo_model_tokenizer(const lo_model *m) { return m->tok; }
const lo_gguf *lo_model_gguf(const lo_model *m) { return m->gguf; }

static size_t mat_bytes(const lo_matrix *x) { return x->data ? x->row_bytes * (size_t)x->ne1 : 0; }

size_t lo_model_weight_bytes_per_token(const lo_model *m) {
    const lo_hparams *hp = &m->hp;
    /* one embedding row + every matrix once (for MoE: the used experts) + norms */
    size_t total = m->w.token_embd.row_bytes + mat_bytes(&m->w.output);
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const lo_layer *l = &m->layers[il];
        total += mat_bytes(&l->wq) + mat_bytes(&l->wk) + mat_bytes(&l->wv) + mat_bytes(&l->wqkv) + mat_bytes(&l->wo);
        total += mat_bytes(&l->ffn_gate) + mat_bytes(&l->ffn_up) + mat_bytes(&l->ffn_down) + mat_bytes(&l->ffn_gate_inp);
        total += (size_t)hp->n_expert_used *
                 (mat_bytes(&l->gate_exps) + mat_bytes(&l->up_exps) + mat_bytes(&l->down_exps));
        total += (size_t)hp->n_embd * 2 * sizeof(float);
    }
    for (int32_t i = 0; i < m->n_lora; i++) total += (size_t)m->lora[i]->n_params * sizeof(float);
    return total;
}

lo_pooling lo_model_pooling(const lo_model *m) { return m->hp.pooling; }
bool lo_model_is_encoder(const lo_model *m) { return m->arch->encoder; }

int lo_pooling_from_name(const char *name) {
    static const char *const names[] = {"mean", "cls", "last"};
    for (int i = 0; name && i < 3; i++) {
        size_t k = 0;
        while (names[i][k] && name[k] && (name[k] | 0x20) == names[i][k]) k++;
        if (!names[i][k] && !name[k]) return LO_POOLING_MEAN + i;
    }
    return -1;
}

const char *lo_pooling_name(lo_pooling p) {
    switch (p) {
    case LO_POOLING_MEAN: return "mean";
    case LO_POOLING_CLS: return "cls";
    case LO_POOLING_LAST: return "last";
    }
    return "?";
}

int64_t lo_model_n_params(const lo_model *m) {
    /* Every tensor of the file, as llama.cpp's model size line counts them. */
    int64_t n = 0;
    for (int64_t i = 0; i < lo_gguf_n_tensors(m->gguf); i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(m->gguf, i);
        n += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    }
    return n;
}
