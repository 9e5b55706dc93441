/* lo_model_quantize against llama-quantize's own output: every F32 fixture quantised to
 * each type llama-quantize was run with must give a byte-identical file. Also the type
 * choice rules on shapes the fixtures lack (fallbacks, MoE, falcon), name parsing, and
 * the per-tensor RMSE of each quantised file against its F32 source (printed). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "llmops/llmops.h"
#include "model/quantize_internal.h"

static char tmpdir[256];

static bool read_all(const char *path, uint8_t **data, size_t *n) {
    char *d;
    if (lo_read_file(path, &d, n)) return false;
    *data = (uint8_t *)d;
    return true;
}

/* Per-tensor RMSE of a quantised file against the F32 source, summarised as the max. */
static double max_rmse(const char *f32_path, const char *q_path, bool print) {
    lo_gguf *a = NULL, *b = NULL;
    double worst = -1;
    if (lo_gguf_open(f32_path, &a) || lo_gguf_open(q_path, &b)) goto out;
    worst = 0;
    for (int64_t i = 0; i < lo_gguf_n_tensors(b); i++) {
        const lo_gguf_tensor *tq = lo_gguf_tensor_at(b, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)tq->name.len, tq->name.data);
        int64_t j = lo_gguf_find_tensor(a, name);
        if (j < 0) return -1;
        const lo_gguf_tensor *tf = lo_gguf_tensor_at(a, j);
        int64_t n = tf->ne[0] * tf->ne[1] * tf->ne[2] * tf->ne[3];
        float *deq = malloc((size_t)n * sizeof *deq);
        lo_dequantize_row(tq->type, tq->data, deq, n);
        const float *ref = tf->data;
        double se = 0;
        for (int64_t k = 0; k < n; k++) se += ((double)deq[k] - ref[k]) * ((double)deq[k] - ref[k]);
        double rmse = sqrt(se / (double)n);
        if (print && tq->type != LO_DTYPE_F32)
            printf("    %-28s %-5s rmse %.3e\n", name, lo_dtype_get(tq->type)->name, rmse);
        if (rmse > worst) worst = rmse;
        free(deq);
    }
out:
    lo_gguf_close(a);
    lo_gguf_close(b);
    return worst;
}

/* Quantises src (under ../shared) to type and compares with the golden file. */
static void check_pair(const char *src_rel, const char *golden_rel, const char *type) {
    char src[512], golden[512], out[512];
    check_shared(src_rel, src, sizeof src);
    check_shared(golden_rel, golden, sizeof golden);
    struct stat st;
    if (stat(golden, &st) != 0) {
        printf("  (missing %s, skipped)\n", golden_rel);
        return;
    }
    snprintf(out, sizeof out, "%s/out.gguf", tmpdir);
    int ft = lo_ftype_from_name(type);
    CHECK(ft >= 0);
    double t0 = lo_time_sec();
    CHECK_OK(lo_model_quantize(src, out, (lo_ftype)ft, 2));
    double dt = lo_time_sec() - t0;
    uint8_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK(read_all(out, &a, &na));
    CHECK(read_all(golden, &b, &nb));
    bool same = a && b && na == nb && memcmp(a, b, na) == 0;
    CHECK_MSG(same, "%s -> %s: %zu bytes vs llama-quantize's %zu", src_rel, type, na, nb);
    if (!same && a && b) {
        size_t k = 0;
        while (k < na && k < nb && a[k] == b[k]) k++;
        fprintf(stderr, "  first difference at byte %zu\n", k);
    }
    double r = max_rmse(src, golden, false);
    printf("  %-40s %-7s %s  (%zu bytes, %.2f s; max per-tensor rmse vs F32 %.3e, same for llama-quantize)\n",
           golden_rel, type, same ? "byte-identical" : "DIFFERENT", na, dt, r);
    lo_free(a);
    lo_free(b);
    unlink(out);
}

static void test_names(void) {
    CHECK_INT_EQ(lo_ftype_from_name("q4_k_m"), LO_FTYPE_Q4_K_M);
    CHECK_INT_EQ(lo_ftype_from_name("Q4_K"), LO_FTYPE_Q4_K_M);
    CHECK_INT_EQ(lo_ftype_from_name("Q3_K"), LO_FTYPE_Q3_K_M);
    CHECK_INT_EQ(lo_ftype_from_name("Q5_K"), LO_FTYPE_Q5_K_M);
    CHECK_INT_EQ(lo_ftype_from_name("bf16"), LO_FTYPE_BF16);
    CHECK_INT_EQ(lo_ftype_from_name("Q8_0"), LO_FTYPE_Q8_0);
    CHECK_INT_EQ(lo_ftype_from_name("Q7_0"), -1);
    CHECK_INT_EQ(lo_ftype_from_name(""), -1);
    CHECK_STR_EQ(lo_ftype_name(LO_FTYPE_Q3_K_L), "Q3_K_L");
    CHECK_STR_EQ(lo_ftype_name(LO_FTYPE_ALL_F32), "F32");
    CHECK(lo_quant__cmp_names("output.weight", "blk.0.attn_q.weight") < 0);
    CHECK(lo_quant__cmp_names("blk.2.attn_q.weight", "blk.10.attn_k.weight") < 0);
    CHECK(lo_quant__cmp_names("blk.1.attn_q.weight", "blk.1.attn_k.weight") > 0);
}

/* Type choice on synthetic tensor lists. */
static void test_rules(void) {
    /* stories260K-like: 64-wide rows, 172-wide ffn_down, 5 layers. */
    lo_qmodel m = {.arch = "llama", .n_layer = 5, .n_head = 8, .n_head_kv = 4};
    lo_qtensor t[] = {
        {"output.weight", 2, {64, 512, 1, 1}, 0},   {"output_norm.weight", 1, {64, 1, 1, 1}, 0},
        {"token_embd.weight", 2, {64, 512, 1, 1}, 0}, {"blk.0.attn_v.weight", 2, {64, 32, 1, 1}, 0},
        {"blk.0.ffn_down.weight", 2, {172, 64, 1, 1}, 0},
    };
    uint32_t ty[5];
    int nf;
    lo_quant__choose_types(&m, LO_FTYPE_Q4_K_M, t, 5, ty, &nf);
    CHECK_INT_EQ(ty[0], LO_DTYPE_Q8_0); /* Q6_K on 64 → Q8_0 */
    CHECK_INT_EQ(ty[1], LO_DTYPE_F32);
    CHECK_INT_EQ(ty[2], LO_DTYPE_Q5_0); /* Q4_K → Q5_0 */
    CHECK_INT_EQ(ty[3], LO_DTYPE_Q8_0); /* only attn_v: use_more_bits(0,1) → Q6_K → Q8_0 */
    CHECK_INT_EQ(ty[4], LO_DTYPE_F16);  /* 172 fits no block */
    lo_quant__choose_types(&m, LO_FTYPE_Q2_K, t, 5, ty, &nf);
    CHECK_INT_EQ(ty[2], LO_DTYPE_Q4_0); /* Q2_K → Q4_0 */
    lo_quant__choose_types(&m, LO_FTYPE_F16, t, 5, ty, &nf);
    CHECK_INT_EQ(ty[0], LO_DTYPE_F16);
    CHECK_INT_EQ(ty[4], LO_DTYPE_F16);
    CHECK_INT_EQ(ty[1], LO_DTYPE_F32);
    /* 8-expert model: attn_v and attn_k go to Q8_0, attn_output to Q5_K in Q4_K_M. */
    lo_qmodel moe = {.arch = "llama", .n_layer = 1, .n_head = 32, .n_head_kv = 8, .n_expert = 8};
    lo_qtensor u[] = {
        {"blk.0.attn_k.weight", 2, {4096, 1024, 1, 1}, 0},
        {"blk.0.attn_output.weight", 2, {4096, 4096, 1, 1}, 0},
        {"blk.0.attn_v.weight", 2, {4096, 1024, 1, 1}, 0},
        {"blk.0.ffn_gate_inp.weight", 2, {4096, 8, 1, 1}, 0},
    };
    lo_quant__choose_types(&moe, LO_FTYPE_Q4_K_M, u, 4, ty, &nf);
    CHECK_INT_EQ(ty[0], LO_DTYPE_Q8_0);
    CHECK_INT_EQ(ty[1], LO_DTYPE_Q5_K);
    CHECK_INT_EQ(ty[2], LO_DTYPE_Q8_0);
    CHECK_INT_EQ(ty[3], LO_DTYPE_F32);
    /* falcon: the (tied) output goes to Q8_0 even in Q4_K_M; qkv gets Q5_K. */
    lo_qmodel fal = {.arch = "falcon", .n_layer = 1, .n_head = 4, .n_head_kv = 1};
    lo_qtensor v[] = {{"token_embd.weight", 2, {256, 2048, 1, 1}, 0}, {"blk.0.attn_qkv.weight", 2, {256, 384, 1, 1}, 0}};
    lo_quant__choose_types(&fal, LO_FTYPE_Q4_K_M, v, 2, ty, &nf);
    CHECK_INT_EQ(ty[0], LO_DTYPE_Q8_0);
    CHECK_INT_EQ(ty[1], LO_DTYPE_Q5_K);
}

static void test_errors(void) {
    char src[512], out[512];
    check_shared("models/synthetic/llama-k.q8_0.gguf", src, sizeof src);
    snprintf(out, sizeof out, "%s/req.gguf", tmpdir);
    CHECK(lo_model_quantize(src, out, LO_FTYPE_Q4_0, 1) == LO_ERR_UNSUPPORTED);
    CHECK(strstr(lo_error_hint(), "F32") != NULL);
    struct stat st;
    CHECK(stat(out, &st) != 0); /* nothing left behind */
    CHECK(lo_model_quantize("/nonexistent.gguf", out, LO_FTYPE_Q4_0, 1) != LO_OK);
    CHECK(lo_model_quantize(src, out, (lo_ftype)99, 1) == LO_ERR_INVALID);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lo_test_quantize.%d", (int)getpid());
    mkdir(tmpdir, 0700);
    test_names();
    test_rules();
    static const char *llama_types[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k_m",
                                        "q4_k_m", "q5_k_m", "q6_k", "f16", "bf16"};
    printf("llmops quantize vs llama-quantize (same F32 input):\n");
    for (size_t i = 0; i < sizeof llama_types / sizeof *llama_types; i++) {
        char g[128];
        snprintf(g, sizeof g, "models/synthetic/llama-k.%s.gguf", llama_types[i]);
        check_pair("models/synthetic/llama-k.f32.gguf", g, llama_types[i]);
    }
    check_pair("models/synthetic/moe.f32.gguf", "models/synthetic/moe.q8_0.gguf", "q8_0");
    check_pair("models/synthetic/moe.f32.gguf", "models/synthetic/moe.q4_k_m.gguf", "q4_k_m");
    check_pair("models/synthetic/qwen2.f32.gguf", "models/synthetic/qwen2.q4_k_m.gguf", "q4_k_m");
    check_pair("models/synthetic/falcon.f32.gguf", "models/synthetic/falcon.q8_0.gguf", "q8_0");
    check_pair("models/stories260K.gguf", "models/quant/stories260K-F16.gguf", "f16");
    check_pair("models/stories260K.gguf", "models/quant/stories260K-Q8_0.gguf", "q8_0");
    check_pair("models/stories260K.gguf", "models/quant/stories260K-Q4_0.gguf", "q4_0");
    check_pair("models/stories260K.gguf", "models/quant/stories260K-Q5_0-mix.gguf", "q4_k_m");
    /* Per-tensor RMSE for one mix, to show where the bits went. */
    char src[512], golden[512];
    check_shared("models/synthetic/llama-k.f32.gguf", src, sizeof src);
    check_shared("models/synthetic/llama-k.q4_k_m.gguf", golden, sizeof golden);
    printf("per-tensor rmse, llama-k Q4_K_M (identical bytes, so identical for llama-quantize):\n");
    CHECK(max_rmse(src, golden, true) > 0);
    test_errors();
    rmdir(tmpdir);
    return check_done();
}
