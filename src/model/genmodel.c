/* Random-weight llama models of real shapes (TinyLlama-1.1B, stories15M, custom) for
 * benchmarks and tests: seeded weights, the tokenizer copied from a GGUF (or a byte-level
 * vocab), tensor types chosen as lo_model_quantize chooses them, and tensors generated and
 * quantised one at a time straight into the output file (peak memory ≈ one tensor). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/quantize_internal.h"

bool lo_gen_model_shape(const char *name, lo_gen_model_params *p) {
    if (!name || !p) return false;
    if (!strcmp(name, "tinyllama-1.1b")) {
        p->n_embd = 2048, p->n_layer = 22, p->n_head = 32, p->n_head_kv = 4, p->n_ff = 5632;
        p->n_vocab = 32000, p->n_ctx = 2048;
    } else if (!strcmp(name, "stories15m")) {
        p->n_embd = 288, p->n_layer = 6, p->n_head = 6, p->n_head_kv = 6, p->n_ff = 768;
        p->n_vocab = 32000, p->n_ctx = 256;
    } else {
        return false;
    }
    p->arch = "llama";
    return true;
}

/* ---- the PRNG: splitmix64 seeding, wyrand stream per row ---------------------------------- */

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t wyrand(uint64_t *s) {
    *s += 0xa0761d6478bd642full;
    __uint128_t t = (__uint128_t)*s * (*s ^ 0xe7037ed1a0b428dbull);
    return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

/* ---- the tensor list --------------------------------------------------------------------- */

enum { W_MATRIX, W_NORM };

typedef struct gen_tensor {
    char name[64];
    uint32_t n_dims;
    int64_t ne[4];
    int kind;
    uint32_t type;
    uint64_t id; /* position in the canonical (unsorted) list: seeds its rows */
} gen_tensor;

static int cmp_gen(const void *a, const void *b) {
    return lo_quant__cmp_names(((const gen_tensor *)a)->name, ((const gen_tensor *)b)->name);
}

typedef struct gen_ctx {
    const gen_tensor *t;
    int64_t n;
    uint64_t seed;
    lo_pool *pool;
    lo_progress progress;
    /* the tensor being filled */
    const gen_tensor *cur;
} gen_ctx;

/* Uniform on [-a, a) with a = 0.02·√3: std 0.02, the usual init scale. */
static const float *gen_rows(void *arg, int64_t r0, int64_t n, float *tmp) {
    gen_ctx *c = arg;
    const gen_tensor *t = c->cur;
    const int64_t ne0 = t->ne[0];
    if (t->kind == W_NORM) {
        for (int64_t i = 0; i < n * ne0; i++) tmp[i] = 1.0f;
        return tmp;
    }
    const float scale = 0.02f * 1.7320508f * 2.0f / 16777216.0f;
    for (int64_t r = 0; r < n; r++) {
        uint64_t s = splitmix64(c->seed ^ splitmix64(t->id * 0x100000001b3ull + (uint64_t)(r0 + r) * 0x9e37ull));
        float *y = tmp + r * ne0;
        int64_t k = 0;
        for (; k + 1 < ne0; k += 2) {
            uint64_t v = wyrand(&s);
            y[k] = (float)(int32_t)((v & 0xffffff) - 0x800000) * scale;
            y[k + 1] = (float)(int32_t)(((v >> 32) & 0xffffff) - 0x800000) * scale;
        }
        if (k < ne0) y[k] = (float)(int32_t)((wyrand(&s) & 0xffffff) - 0x800000) * scale;
    }
    return tmp;
}

static lo_status fill_random(void *arg, int64_t i, void *dst, size_t bytes) {
    gen_ctx *c = arg;
    (void)bytes;
    c->cur = &c->t[i];
    int64_t rows = c->cur->ne[1] * c->cur->ne[2] * c->cur->ne[3];
    lo_status s = lo_quant__rows(c->pool, c->cur->type, c->cur->ne[0], rows, gen_rows, c, dst);
    lo_progress_update(&c->progress, i + 1);
    return s;
}

/* ---- tokenizer KVs ------------------------------------------------------------------------- */

static lo_status copy_tokenizer(lo_gguf_writer *w, const char *path, int64_t *n_vocab) {
    lo_gguf *g = NULL;
    lo_status s = lo_gguf_open(path, &g);
    if (s) return lo_error_wrap(s, "gen-model: tokenizer %s", path);
    const lo_gguf_value *toks = lo_gguf_get_arr(g, "tokenizer.ggml.tokens", LO_GGUF_STRING);
    if (!toks) {
        lo_gguf_close(g);
        return lo_error(LO_ERR_FORMAT, "give a GGUF that holds a tokenizer (e.g. a vocab/ggml-vocab-*.gguf)",
                        "gen-model: %s has no tokenizer.ggml.tokens", path);
    }
    *n_vocab = (int64_t)toks->arr.n;
    for (int64_t i = 0; i < lo_gguf_n_kv(g) && !s; i++) {
        const lo_gguf_kv *kv = lo_gguf_kv_at(g, i);
        if (kv->key.len < 10 || memcmp(kv->key.data, "tokenizer.", 10) != 0) continue;
        char *key = lo_strndup(kv->key.data, kv->key.len);
        if (!key) s = LO_ERR_NOMEM;
        else s = lo_gguf_writer_set(w, key, &kv->value);
        lo_free(key);
    }
    lo_gguf_close(g);
    return s;
}

/* A minimal SPM vocab llama.cpp accepts: <unk> <s> </s>, the 256 byte tokens <0xXX>, then
 * filler pieces "▁tN" up to n_vocab. Every text is byte-encodable, so any input tokenises. */
static lo_status byte_vocab(lo_gguf_writer *w, int64_t n_vocab) {
    if (n_vocab < 259)
        return lo_error(LO_ERR_RANGE, "use --vocab ≥ 259 or --tokenizer FILE.gguf",
                        "gen-model: a byte-level vocab needs at least 259 tokens, not %lld", (long long)n_vocab);
    char **texts = lo_calloc((size_t)n_vocab, sizeof *texts);
    float *scores = lo_calloc((size_t)n_vocab, sizeof *scores);
    int32_t *types = lo_calloc((size_t)n_vocab, sizeof *types);
    lo_status s = LO_OK;
    if (!texts || !scores || !types) s = LO_ERR_NOMEM;
    for (int64_t i = 0; i < n_vocab && !s; i++) {
        char buf[32];
        if (i == 0) strcpy(buf, "<unk>"), types[i] = 2;
        else if (i == 1) strcpy(buf, "<s>"), types[i] = 3;
        else if (i == 2) strcpy(buf, "</s>"), types[i] = 3;
        else if (i < 259) snprintf(buf, sizeof buf, "<0x%02X>", (unsigned)(i - 3)), types[i] = 6;
        else snprintf(buf, sizeof buf, "\xe2\x96\x81t%lld", (long long)(i - 259)), types[i] = 1;
        scores[i] = i < 259 ? 0.0f : -(float)(i - 259);
        if (!(texts[i] = lo_strdup(buf))) s = LO_ERR_NOMEM;
    }
    if (!s) s = lo_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    if (!s) s = lo_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)texts, (uint64_t)n_vocab);
    if (!s) s = lo_gguf_writer_set_arr(w, "tokenizer.ggml.scores", LO_GGUF_FLOAT32, scores, (uint64_t)n_vocab);
    if (!s) s = lo_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", LO_GGUF_INT32, types, (uint64_t)n_vocab);
    if (!s) s = lo_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (!s) s = lo_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (!s) s = lo_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    for (int64_t i = 0; texts && i < n_vocab; i++) lo_free(texts[i]);
    lo_free(texts);
    lo_free(scores);
    lo_free(types);
    return s;
}

/* ---- lo_model_gen_random -------------------------------------------------------------------- */

static bool in_range(int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; }

lo_status lo_model_gen_random(const lo_gen_model_params *p, const char *out_path) {
    if (!p || !out_path) return lo_error(LO_ERR_INVALID, NULL, "gen-model: no parameters or output path");
    if (p->arch && strcmp(p->arch, "llama") != 0)
        return lo_error(LO_ERR_UNSUPPORTED, "use --arch llama", "gen-model: architecture '%s' is not supported", p->arch);
    uint32_t dflt;
    if (!lo_quant__default_type(p->ftype, &dflt))
        return lo_error(LO_ERR_INVALID, NULL, "gen-model: unknown file type %d", (int)p->ftype);
    if (!in_range(p->n_embd, 1, 65536) || !in_range(p->n_layer, 1, 1024) || !in_range(p->n_head, 1, 1024) ||
        !in_range(p->n_head_kv, 1, 1024) || !in_range(p->n_ff, 1, 1 << 20) || !in_range(p->n_ctx, 1, 1 << 24) ||
        !in_range(p->n_vocab, 0, 1 << 22) || !in_range(p->n_expert, 0, 256) || !in_range(p->sliding_window, 0, 1 << 24))
        return lo_error(LO_ERR_RANGE, NULL, "gen-model: a dimension is out of range (embd %d layers %d heads %d/%d ff %d "
                        "vocab %d ctx %d)", p->n_embd, p->n_layer, p->n_head, p->n_head_kv, p->n_ff, p->n_vocab, p->n_ctx);
    if (p->n_embd % p->n_head || p->n_head % p->n_head_kv)
        return lo_error(LO_ERR_INVALID, "n_embd must be a multiple of n_head, and n_head of n_head_kv",
                        "gen-model: n_embd %d, n_head %d, n_head_kv %d do not divide", p->n_embd, p->n_head, p->n_head_kv);
    if (p->n_expert > 0 && !in_range(p->n_expert_used, 1, p->n_expert))
        return lo_error(LO_ERR_INVALID, "give 1 <= experts used <= experts", "gen-model: %d experts used of %d",
                        p->n_expert_used, p->n_expert);
    if (p->n_expert == 0 && p->n_expert_used != 0)
        return lo_error(LO_ERR_INVALID, "give the number of experts too", "gen-model: experts used without experts");
    const int64_t head_dim = p->n_embd / p->n_head, n_embd_kv = head_dim * p->n_head_kv;
    const int64_t n_exp = p->n_expert;

    lo_gguf_writer *w = NULL;
    lo_pool *pool = NULL;
    gen_tensor *t = NULL;
    lo_qtensor *qt = NULL;
    uint32_t *types = NULL;
    const void *zeros = NULL;
    size_t max_bytes = 0;
    int64_t n_vocab = p->n_vocab;
    lo_status s = lo_gguf_writer_create(3, &w);
    if (s) return s;
    /* Metadata: general, hyperparameters, tokenizer, then quantization_version/file_type. */
    char name[96];
    if (n_exp) snprintf(name, sizeof name, "random-llama-moe-%dx%d-%dx%d", p->n_layer, p->n_embd, p->n_expert, p->n_expert_used);
    else snprintf(name, sizeof name, "random-llama-%dx%d", p->n_layer, p->n_embd);
    if (!s) s = lo_gguf_writer_set_str(w, "general.architecture", "llama");
    if (!s) s = lo_gguf_writer_set_str(w, "general.name", name);
    if (!s) s = lo_gguf_writer_set_str(w, "general.description", "random weights for benchmarks; not a trained model");
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)p->n_ctx);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)p->n_embd);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)p->n_ff);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)p->n_layer);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)p->n_head);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)p->n_head_kv);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)head_dim);
    if (!s) s = lo_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
    if (!s) s = lo_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    if (!s && n_exp) s = lo_gguf_writer_set_u32(w, "llama.expert_count", (uint32_t)n_exp);
    if (!s && n_exp) s = lo_gguf_writer_set_u32(w, "llama.expert_used_count", (uint32_t)p->n_expert_used);
    if (!s && p->sliding_window) s = lo_gguf_writer_set_u32(w, "llama.attention.sliding_window", (uint32_t)p->sliding_window);
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)p->n_vocab); /* set below */
    if (!s) {
        if (p->tokenizer_path) {
            int64_t nv = 0;
            s = copy_tokenizer(w, p->tokenizer_path, &nv);
            if (!s && n_vocab && n_vocab != nv)
                s = lo_error(LO_ERR_INVALID, "leave the vocab size unset (0) to take the tokenizer's",
                             "gen-model: n_vocab %lld differs from the tokenizer's %lld tokens", (long long)n_vocab,
                             (long long)nv);
            n_vocab = nv;
        } else {
            s = byte_vocab(w, n_vocab);
        }
    }
    if (!s) s = lo_gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)n_vocab);
    /* Last, as llama-quantize leaves them: then generating type T directly gives the same
     * bytes as generating F32 and running llama-quantize (or lo_model_quantize) to T. */
    if (!s && p->ftype != LO_FTYPE_ALL_F32) s = lo_gguf_writer_set_u32(w, "general.quantization_version", 2);
    if (!s) s = lo_gguf_writer_set_u32(w, "general.file_type", (uint32_t)p->ftype);
    if (s) goto done;

    /* The tensors of a llama model, in llama-quantize's order. */
    const int64_t n = 3 + (n_exp ? 10 : 9) * (int64_t)p->n_layer;
    t = lo_calloc((size_t)n, sizeof *t);
    qt = lo_calloc((size_t)n, sizeof *qt);
    types = lo_calloc((size_t)n, sizeof *types);
    if (!t || !qt || !types) {
        s = LO_ERR_NOMEM;
        goto done;
    }
    int64_t k = 0;
#define ADD3(kind_, nd, a, b, c, ...)                                                                      \
    do {                                                                                                   \
        snprintf(t[k].name, sizeof t[k].name, __VA_ARGS__);                                                \
        t[k].n_dims = nd, t[k].ne[0] = a, t[k].ne[1] = b, t[k].ne[2] = c, t[k].ne[3] = 1, t[k].kind = kind_; \
        t[k].id = (uint64_t)k;                                                                             \
        k++;                                                                                               \
    } while (0)
#define ADD(kind_, nd, a, b, ...) ADD3(kind_, nd, a, b, 1, __VA_ARGS__)
    ADD(W_MATRIX, 2, p->n_embd, n_vocab, "token_embd.weight");
    ADD(W_NORM, 1, p->n_embd, 1, "output_norm.weight");
    ADD(W_MATRIX, 2, p->n_embd, n_vocab, "output.weight");
    for (int l = 0; l < p->n_layer; l++) {
        ADD(W_NORM, 1, p->n_embd, 1, "blk.%d.attn_norm.weight", l);
        ADD(W_MATRIX, 2, p->n_embd, p->n_embd, "blk.%d.attn_q.weight", l);
        ADD(W_MATRIX, 2, p->n_embd, n_embd_kv, "blk.%d.attn_k.weight", l);
        ADD(W_MATRIX, 2, p->n_embd, n_embd_kv, "blk.%d.attn_v.weight", l);
        ADD(W_MATRIX, 2, p->n_embd, p->n_embd, "blk.%d.attn_output.weight", l);
        ADD(W_NORM, 1, p->n_embd, 1, "blk.%d.ffn_norm.weight", l);
        if (n_exp) {
            /* Mixtral layout: router {n_embd, n_expert} (kept F32), experts {n_in, n_out, n_expert} */
            ADD(W_MATRIX, 2, p->n_embd, n_exp, "blk.%d.ffn_gate_inp.weight", l);
            ADD3(W_MATRIX, 3, p->n_embd, p->n_ff, n_exp, "blk.%d.ffn_gate_exps.weight", l);
            ADD3(W_MATRIX, 3, p->n_ff, p->n_embd, n_exp, "blk.%d.ffn_down_exps.weight", l);
            ADD3(W_MATRIX, 3, p->n_embd, p->n_ff, n_exp, "blk.%d.ffn_up_exps.weight", l);
            continue;
        }
        ADD(W_MATRIX, 2, p->n_embd, p->n_ff, "blk.%d.ffn_gate.weight", l);
        ADD(W_MATRIX, 2, p->n_ff, p->n_embd, "blk.%d.ffn_down.weight", l);
        ADD(W_MATRIX, 2, p->n_embd, p->n_ff, "blk.%d.ffn_up.weight", l);
    }
#undef ADD
#undef ADD3
    qsort(t, (size_t)n, sizeof *t, cmp_gen);
    for (int64_t i = 0; i < n; i++)
        qt[i] = (lo_qtensor){.name = t[i].name, .n_dims = t[i].n_dims, .ne = {t[i].ne[0], t[i].ne[1], t[i].ne[2], 1},
                             .type = LO_DTYPE_F32};
    /* The same per-tensor choice as quantising an F32 file of this shape. */
    lo_qmodel m = {.arch = "llama", .n_layer = p->n_layer, .n_head = p->n_head, .n_head_kv = p->n_head_kv,
                   .n_expert = p->n_expert};
    int n_fallback = 0;
    lo_quant__choose_types(&m, p->ftype, qt, n, types, &n_fallback);
    if (n_fallback) LO_WARN("gen-model: %d tensors needed a fallback type (row length)", n_fallback);
    for (int64_t i = 0; i < n; i++) {
        t[i].type = types[i];
        size_t rb, bytes;
        if (!lo_dtype_row_bytes(types[i], t[i].ne[0], &rb) ||
            lo_mul_overflow(rb, (size_t)t[i].ne[1] * (size_t)t[i].ne[2], &bytes)) {
            s = lo_error(LO_ERR_RANGE, NULL, "gen-model: tensor '%s' is too large", t[i].name);
            goto done;
        }
        if (bytes > max_bytes) max_bytes = bytes;
    }
    if (!(zeros = lo_quant__zeros(max_bytes))) {
        s = LO_ERR_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n && !s; i++) {
        size_t rb;
        lo_dtype_row_bytes(t[i].type, t[i].ne[0], &rb);
        s = lo_gguf_writer_add_tensor(w, t[i].name, t[i].type, t[i].n_dims, t[i].ne, zeros,
                                      rb * (size_t)t[i].ne[1] * (size_t)t[i].ne[2]);
    }
    if (s) goto done;
    if ((s = lo_pool_create(lo_cpu_count(), &pool))) goto done;
    gen_ctx c = {.t = t, .n = n, .seed = splitmix64(p->seed), .pool = pool};
    lo_progress_begin(&c.progress, "gen-model", n);
    s = lo_quant__write_streamed(w, out_path, n, fill_random, &c);
    lo_progress_end(&c.progress);
    if (s) lo_error_wrap(s, "gen-model %s", out_path);
done:
    lo_quant__zeros_free(zeros, max_bytes);
    lo_pool_free(pool);
    lo_gguf_writer_free(w);
    lo_free(t);
    lo_free(qt);
    lo_free(types);
    return s;
}
