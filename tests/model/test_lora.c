/* model: LoRA adapters at inference. On a gen-model'd F32 llama, two adapters (rank 4 on
 * every projection, alpha 8, B in F16; rank 2 on q and v without alpha, B in BF16) at
 * scales 0.8 and -0.5 give the logits of a model whose weights are W + Σ s·B·A (merged
 * here in double) within 1e-5 (f32 rounding; the adapters move logits by ~1); scale 0
 * gives the base logits bit for bit; attach refuses another model's adapter, a second
 * attach, a non-finite scale and a ninth adapter; and every kind of hostile adapter file
 * is refused with a status and a message naming the problem. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "llmops/llmops.h"
#include "model/lora_fixture.h"

enum { NT = 6 };
static const int32_t k_ids[NT] = {1, 17, 250, 3, 99, 42};
static char g_dir[256];

static void path_of(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s.gguf", g_dir, name);
}

/* Logits of k_ids as one prompt: NT × n_vocab floats into out. */
static void logits_of(const lo_model *m, float *out) {
    lo_context_params cp = {.n_ctx = 32, .n_seq = 1, .n_batch = NT, .n_threads = 2};
    lo_context *c = NULL;
    CHECK_OK(lo_context_create(m, &cp, &c));
    if (!c) return;
    int32_t pos[NT], seq[NT] = {0};
    bool want[NT];
    for (int i = 0; i < NT; i++) pos[i] = i, want[i] = true;
    lo_batch b = {.n_tokens = NT, .token = k_ids, .pos = pos, .seq = seq, .logits = want};
    CHECK_OK(lo_model_decode(c, &b));
    const int32_t nv = lo_model_hparams(m)->n_vocab;
    for (int i = 0; i < NT; i++) {
        const float *l = lo_context_logits(c, i);
        if (l) memcpy(out + (size_t)i * (size_t)nv, l, sizeof(float) * (size_t)nv);
    }
    lo_context_free(c);
}

static float elem_f32(const lo_gguf_tensor *t, int64_t i) {
    if (t->type == LO_DTYPE_F32) {
        float f;
        memcpy(&f, (const uint8_t *)t->data + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const uint8_t *)t->data + 2 * i, 2);
    return t->type == LO_DTYPE_F16 ? lo_f16_to_f32(h) : lo_bf16_to_f32(h);
}

/* Writes base + Σ_k s_k·B_k·A_k (s_k = scale_k·alpha_k/r, or scale_k when alpha is 0) as an
 * F32 model: every base tensor, the adapted ones merged in double. */
static void write_merged(const char *base, const char *const *adapters, const float *scales, int n, const char *out) {
    lo_gguf *g = NULL, *ad[4] = {0};
    CHECK_OK(lo_gguf_open(base, &g));
    for (int k = 0; k < n; k++) CHECK_OK(lo_gguf_open(adapters[k], &ad[k]));
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(3, &w));
    CHECK_OK(lo_gguf_writer_copy_kvs(w, g));
    float *bufs[64];
    int n_bufs = 0;
    for (int64_t i = 0; i < lo_gguf_n_tensors(g); i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.data);
        const void *data = t->data;
        for (int k = 0; k < n; k++) {
            char na[160], nb[160];
            snprintf(na, sizeof na, "%s.lora_a", name);
            snprintf(nb, sizeof nb, "%s.lora_b", name);
            int64_t ia = lo_gguf_find_tensor(ad[k], na), ib = lo_gguf_find_tensor(ad[k], nb);
            if (ia < 0 || ib < 0) continue;
            CHECK(t->type == LO_DTYPE_F32 && n_bufs < 64);
            const lo_gguf_tensor *A = lo_gguf_tensor_at(ad[k], ia), *B = lo_gguf_tensor_at(ad[k], ib);
            const int64_t in = t->ne[0], o = t->ne[1], r = A->ne[1];
            float *m = data == t->data ? NULL : (float *)data;
            if (!m) {
                m = malloc(sizeof(float) * (size_t)(in * o));
                memcpy(m, t->data, sizeof(float) * (size_t)(in * o));
                bufs[n_bufs++] = m;
            }
            double alpha = 0;
            lo_gguf_get_f64(ad[k], "adapter.lora.alpha", &alpha);
            const double s = alpha != 0 ? (double)scales[k] * alpha / (double)r : (double)scales[k];
            for (int64_t oo = 0; oo < o; oo++)
                for (int64_t ii = 0; ii < in; ii++) {
                    double acc = 0;
                    for (int64_t j = 0; j < r; j++) acc += (double)elem_f32(B, oo * r + j) * elem_f32(A, j * in + ii);
                    m[oo * in + ii] = (float)((double)m[oo * in + ii] + s * acc);
                }
            data = m;
        }
        CHECK_OK(lo_gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, data, t->bytes));
    }
    CHECK_OK(lo_gguf_writer_write(w, out));
    lo_gguf_writer_free(w);
    for (int i = 0; i < n_bufs; i++) free(bufs[i]);
    for (int k = 0; k < n; k++) lo_gguf_close(ad[k]);
    lo_gguf_close(g);
}

/* ---- crafted adapters ------------------------------------------------------------- */

typedef struct tspec {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne0, ne1, ne2;
} tspec;

typedef struct craft {
    const char *arch, *gtype, *atype;
    int alpha_kind; /* 0: 8.0, 1: none, 2: -1, 3: a string, 4: NaN */
    bool alora;
    float fill; /* every element of every F32 tensor */
    tspec t[4];
} craft;

static void write_craft(const char *path, const craft *c) {
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(3, &w));
    if (c->arch) lo_gguf_writer_set_str(w, "general.architecture", c->arch);
    if (c->gtype) lo_gguf_writer_set_str(w, "general.type", c->gtype);
    if (c->atype) lo_gguf_writer_set_str(w, "adapter.type", c->atype);
    if (c->alpha_kind == 0) lo_gguf_writer_set_f32(w, "adapter.lora.alpha", 8.0f);
    if (c->alpha_kind == 2) lo_gguf_writer_set_f32(w, "adapter.lora.alpha", -1.0f);
    if (c->alpha_kind == 3) lo_gguf_writer_set_str(w, "adapter.lora.alpha", "eight");
    if (c->alpha_kind == 4) lo_gguf_writer_set_f32(w, "adapter.lora.alpha", NAN);
    if (c->alora) {
        const uint32_t toks[2] = {1, 2};
        lo_gguf_writer_set_arr(w, "adapter.alora.invocation_tokens", LO_GGUF_UINT32, toks, 2);
    }
    void *bufs[4] = {0};
    for (int i = 0; i < 4 && c->t[i].name; i++) {
        const tspec *t = &c->t[i];
        size_t rb = 0;
        CHECK(lo_dtype_row_bytes(t->type, t->ne0, &rb));
        const int64_t ne2 = t->ne2 ? t->ne2 : 1;
        const size_t bytes = rb * (size_t)(t->ne1 * ne2);
        bufs[i] = calloc(bytes ? bytes : 1, 1);
        if (t->type == LO_DTYPE_F32)
            for (size_t k = 0; k < bytes / 4; k++) ((float *)bufs[i])[k] = c->fill;
        const int64_t ne[3] = {t->ne0, t->ne1, ne2};
        CHECK_OK(lo_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims ? t->n_dims : 2, ne, bufs[i], bytes));
    }
    CHECK_OK(lo_gguf_writer_write(w, path));
    lo_gguf_writer_free(w);
    for (int i = 0; i < 4; i++) free(bufs[i]);
}

static void expect_refused(const lo_model *m, const char *what, const char *path, const char *needle) {
    lo_lora_adapter *a = NULL;
    lo_status s = lo_lora_load(m, path, &a);
    const char *msg = lo_error_message();
    CHECK_MSG(s != LO_OK && a == NULL, "%s: accepted", what);
    CHECK_MSG(s == LO_OK || strstr(msg, needle), "%s: message '%s' lacks '%s'", what, msg, needle);
    lo_lora_free(a);
}

#define Q "blk.0.attn_q.weight"
#define F32_ LO_DTYPE_F32

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/lo_test_lora_%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", g_dir);
    CHECK(system(cmd) == 0);
    char base[300], other[300], a1[300], a2[300], merged[300], p[300];
    path_of(base, sizeof base, "base");
    path_of(other, sizeof other, "other");
    path_of(a1, sizeof a1, "a1");
    path_of(a2, sizeof a2, "a2");
    path_of(merged, sizeof merged, "merged");
    lo_gen_model_params gp = {.arch = "llama",
                              .n_embd = 64,
                              .n_layer = 2,
                              .n_head = 4,
                              .n_head_kv = 2,
                              .n_ff = 128,
                              .n_vocab = 300,
                              .n_ctx = 64,
                              .ftype = LO_FTYPE_ALL_F32,
                              .seed = 5};
    CHECK_OK(lo_model_gen_random(&gp, base));
    gp.n_embd = 32, gp.seed = 6;
    CHECK_OK(lo_model_gen_random(&gp, other));
    lo_model *m = NULL, *mo = NULL, *mm = NULL;
    CHECK_OK(lo_model_load(base, &m));
    CHECK_OK(lo_model_load(other, &mo));
    if (!m || !mo) return check_done();
    const int32_t nv = lo_model_hparams(m)->n_vocab;
    static const char *const all[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    static const char *const qv[] = {"attn_q", "attn_v"};
    CHECK_INT_EQ(lora_fixture_write(m, a1, all, 7, 4, 8.0f, LO_DTYPE_F16, 0.5f, 1), 0);
    CHECK_INT_EQ(lora_fixture_write(m, a2, qv, 2, 2, 0.0f, LO_DTYPE_BF16, 0.5f, 2), 0);

    float *l_base = calloc((size_t)NT * nv, 4), *l_lora = calloc((size_t)NT * nv, 4),
          *l_ref = calloc((size_t)NT * nv, 4);
    logits_of(m, l_base);

    /* scale 0: exactly the base */
    lo_lora_adapter *x = NULL, *y = NULL;
    CHECK_OK(lo_lora_load(m, a1, &x));
    CHECK_OK(lo_model_lora_attach(m, x, 0.0f));
    logits_of(m, l_lora);
    CHECK_MSG(memcmp(l_lora, l_base, sizeof(float) * (size_t)NT * nv) == 0, "scale 0 changes the logits");
    lo_lora_info inf;
    lo_lora_get_info(x, &inf);
    CHECK(inf.n_pairs == 14 && inf.rank_min == 4 && inf.rank_max == 4 && inf.alpha == 8.0f);
    CHECK_INT_EQ(inf.n_params, 2 * 4 * ((64 + 64) * 2 + (64 + 32) * 2 + (64 + 128) * 3));
    lo_model_free(m);
    CHECK_OK(lo_model_load(base, &m));

    /* two adapters against the merged model */
    const char *const ads[2] = {a1, a2};
    const float scales[2] = {0.8f, -0.5f};
    const lo_lora_spec specs[2] = {{a1, 0.8f}, {a2, -0.5f}};
    CHECK_OK(lo_model_lora_load_all(m, specs, 2));
    CHECK_INT_EQ(lo_model_n_lora(m), 2);
    lo_lora_get_info(lo_model_lora(m, 1), &inf);
    CHECK(inf.n_pairs == 4 && inf.rank_max == 2 && inf.alpha == 0.0f);
    CHECK(lo_model_lora(m, 2) == NULL);
    logits_of(m, l_lora);
    write_merged(base, ads, scales, 2, merged);
    CHECK_OK(lo_model_load(merged, &mm));
    if (mm) logits_of(mm, l_ref);
    double worst = 0, moved = 0;
    for (int64_t i = 0; i < (int64_t)NT * nv; i++) {
        worst = fmax(worst, fabs((double)l_lora[i] - l_ref[i]));
        moved = fmax(moved, fabs((double)l_lora[i] - l_base[i]));
    }
    fprintf(stderr, "two adapters vs the merged model: max |d| %.3g; the adapters move logits by up to %.3g\n", worst,
            moved);
    CHECK_MSG(worst <= 1e-5, "max |d| %.3g", worst);
    CHECK_MSG(moved >= 0.2, "the adapters barely change the logits (%.3g)", moved);

    /* attach refusals */
    path_of(p, sizeof p, "a_other");
    static const char *const q1[] = {"attn_q"};
    CHECK_INT_EQ(lora_fixture_write(mo, p, q1, 1, 2, 4.0f, LO_DTYPE_F16, 0.1f, 3), 0);
    CHECK_OK(lo_lora_load(mo, p, &x));
    CHECK_INT_EQ(lo_model_lora_attach(m, x, 1.0f), LO_ERR_INVALID);
    CHECK_OK(lo_model_lora_attach(mo, x, 1.0f));
    CHECK_INT_EQ(lo_model_lora_attach(mo, x, 1.0f), LO_ERR_INVALID); /* twice */
    CHECK_OK(lo_lora_load(mo, p, &y));
    CHECK_INT_EQ(lo_model_lora_attach(mo, y, INFINITY), LO_ERR_RANGE);
    CHECK_INT_EQ(lo_model_lora_attach(mo, y, NAN), LO_ERR_RANGE);
    for (int k = 1; k < LO_LORA_MAX; k++) {
        lo_lora_adapter *z = NULL;
        CHECK_OK(lo_lora_load(mo, p, &z));
        CHECK_OK(lo_model_lora_attach(mo, z, 0.1f));
    }
    CHECK_INT_EQ(lo_model_lora_attach(mo, y, 1.0f), LO_ERR_RANGE);
    lo_lora_free(y);

    /* hostile files */
    static const craft crafts[] = {
        {"llama", "model", "lora", 0, false, 0, {{Q ".lora_a", F32_, 2, 64, 4, 0}, {Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {"llama", NULL, "lora", 0, false, 0, {{Q ".lora_a", F32_, 2, 64, 4, 0}, {Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {"llama", "adapter", "ia3", 0, false, 0, {{Q ".lora_a", F32_, 2, 64, 4, 0}, {Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {"qwen2", "adapter", "lora", 0, false, 0, {{Q ".lora_a", F32_, 2, 64, 4, 0}, {Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {NULL, "adapter", "lora", 0, false, 0, {{Q ".lora_a", F32_, 2, 64, 4, 0}, {Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {"llama", "adapter", "lora", 2, false, 0, {{Q ".lora_a", F32_, 2, 64, 4, 0}, {Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {"llama", "adapter", "lora", 3, false, 0, {{Q ".lora_a", F32_, 2, 64, 4, 0}, {Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {"llama", "adapter", "lora", 4, false, 0, {{Q ".lora_a", F32_, 2, 64, 4, 0}, {Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {"llama", "adapter", "lora", 0, true, 0, {{Q ".lora_a", F32_, 2, 64, 4, 0}, {Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{"foo", F32_, 2, 4, 4, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{"blk.0.attn_zz.weight.lora_a", F32_, 2, 64, 4, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{"blk.2.attn_q.weight.lora_a", F32_, 2, 64, 4, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{"blk.01.attn_q.weight.lora_a", F32_, 2, 64, 4, 0}}},
        {"llama",
         "adapter",
         "lora",
         0,
         false,
         0,
         {{"blk.99999999999999999999.attn_q.weight.lora_a", F32_, 2, 64, 4, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{"token_embd.weight.lora_a", F32_, 2, 64, 4, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{"blk.0.attn_norm.weight.lora_a", F32_, 2, 64, 4, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{Q ".lora_a", F32_, 2, 32, 4, 0}, {Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{Q ".lora_a", F32_, 2, 64, 4, 0}, {Q ".lora_b", F32_, 2, 4, 32, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{Q ".lora_a", F32_, 2, 64, 4, 0}, {Q ".lora_b", F32_, 2, 2, 64, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{Q ".lora_a", F32_, 2, 64, 0, 0}, {Q ".lora_b", F32_, 2, 0, 64, 0}}},
        {"llama",
         "adapter",
         "lora",
         0,
         false,
         0,
         {{"blk.0.attn_k.weight.lora_a", F32_, 2, 64, 40, 0}, {"blk.0.attn_k.weight.lora_b", F32_, 2, 40, 32, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{Q ".lora_a", F32_, 3, 64, 4, 2}, {Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{Q ".lora_a", F32_, 2, 64, 4, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {"llama",
         "adapter",
         "lora",
         0,
         false,
         0,
         {{Q ".lora_a", LO_DTYPE_Q8_0, 2, 64, 4, 0}, {Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {"llama",
         "adapter",
         "lora",
         0,
         false,
         NAN,
         {{Q ".lora_a", F32_, 2, 64, 4, 0}, {Q ".lora_b", F32_, 2, 4, 64, 0}}},
        {"llama", "adapter", "lora", 0, false, 0, {{0}}},
    };
    static const char *const needles[] = {
        "is not an adapter",
        "is not an adapter",
        "adapter.type is not \"lora\"",
        "general.architecture is 'qwen2', the model is 'llama'",
        "general.architecture is missing (the model is 'llama')",
        "adapter.lora.alpha",
        "adapter.lora.alpha",
        "adapter.lora.alpha",
        "activated LoRA",
        "tensor foo is not a .lora_a or .lora_b",
        "blk.0.attn_zz.weight names no tensor of the model's layers",
        "blk.2.attn_q.weight names no tensor",
        "blk.01.attn_q.weight names no tensor",
        "names no tensor",
        "adapters on token_embd.weight are not supported",
        "adapters on blk.0.attn_norm.weight are not supported",
        "is {32, 4}; the model's blk.0.attn_q.weight {64, 64} needs {64, r}",
        "is {4, 32}; the model's blk.0.attn_q.weight {64, 64} needs {r, 64}",
        "has rank 4 but its .lora_b 2",
        "needs {64, r} with 1 ≤ r ≤ 64",
        "needs {64, r} with 1 ≤ r ≤ 32",
        "(not 2-D)",
        "has no .lora_b",
        "has no .lora_a",
        "is q8_0",
        "NaN or infinity",
        "holds no adapter tensors",
    };
    CHECK_INT_EQ(sizeof crafts / sizeof crafts[0], sizeof needles / sizeof needles[0]);
    for (size_t i = 0; i < sizeof crafts / sizeof crafts[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "craft %zu", i);
        path_of(p, sizeof p, what);
        write_craft(p, &crafts[i]);
        expect_refused(m, what, p, needles[i]);
        unlink(p);
    }
    /* not a GGUF, missing, truncated, an adapter for another shape */
    expect_refused(m, "model as adapter", base, "is not an adapter");
    path_of(p, sizeof p, "missing");
    expect_refused(m, "missing file", p, "cannot open");
    char *bytes = NULL;
    size_t n = 0;
    CHECK_OK(lo_read_file(a1, &bytes, &n));
    path_of(p, sizeof p, "trunc");
    FILE *f = fopen(p, "wb");
    if (f && bytes) fwrite(bytes, 1, n / 2, f);
    if (f) fclose(f);
    expect_refused(m, "truncated", p, "exceeds the file");
    lo_free(bytes);
    path_of(p, sizeof p, "a_other");
    expect_refused(m, "other shape", p, "needs {64, r}");

    free(l_base), free(l_lora), free(l_ref);
    lo_model_free(m);
    lo_model_free(mo);
    lo_model_free(mm);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    CHECK(system(cmd) == 0);
    return check_done();
}
