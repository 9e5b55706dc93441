/* Bit-exactness of our reference quantisers against llama.cpp's llama-quantize: every
 * non-F32 tensor of a quantised GGUF is re-quantised from the F32 file it was made from
 * and compared byte for byte; its dequantisation must also lie within the type's
 * expected error of the F32 original. */
#include "check.h"
#include "llmops/gguf.h"
#include "llmops/tensor.h"

#include <math.h>

typedef struct {
    int identical, total;
} type_count;

static type_count counts[LO_DTYPE_COUNT];

/* Relative RMSE bound (rms(err) / rms(x)) per type, generous over what random Gaussian
 * weights give (Q8_0 ≈ 0.004, Q4_0 ≈ 0.07, Q2_K ≈ 0.3). */
static double rel_rmse_bound(uint32_t type) {
    switch (type) {
    case LO_DTYPE_F16: return 1e-3;
    case LO_DTYPE_BF16: return 6e-3;
    case LO_DTYPE_Q8_0: return 0.01;
    case LO_DTYPE_Q6_K: return 0.025;
    case LO_DTYPE_Q5_0: case LO_DTYPE_Q5_1: case LO_DTYPE_Q5_K: return 0.05;
    case LO_DTYPE_Q4_0: case LO_DTYPE_Q4_1: case LO_DTYPE_Q4_K: return 0.1;
    case LO_DTYPE_Q3_K: return 0.2;
    case LO_DTYPE_Q2_K: return 0.4;
    default: return 0.0;
    }
}

static void compare_files(const char *f32_rel, const char *q_rel) {
    char p32[1024], pq[1024];
    check_shared(f32_rel, p32, sizeof p32);
    check_shared(q_rel, pq, sizeof pq);
    lo_gguf *g32 = NULL, *gq = NULL;
    CHECK_OK(lo_gguf_open(p32, &g32));
    CHECK_OK(lo_gguf_open(pq, &gq));
    if (!g32 || !gq) {
        lo_gguf_close(g32);
        lo_gguf_close(gq);
        return;
    }
    int n_checked = 0;
    for (int64_t i = 0; i < lo_gguf_n_tensors(gq); i++) {
        const lo_gguf_tensor *tq = lo_gguf_tensor_at(gq, i);
        if (tq->type == LO_DTYPE_F32) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)tq->name.len, tq->name.data);
        int64_t j = lo_gguf_find_tensor(g32, name);
        CHECK_MSG(j >= 0, "%s: tensor %s missing from the F32 file", q_rel, name);
        if (j < 0) continue;
        const lo_gguf_tensor *t32 = lo_gguf_tensor_at(g32, j);
        CHECK_MSG(t32->type == LO_DTYPE_F32, "%s: %s is not F32 in the source", q_rel, name);
        CHECK_MSG(lo_dtype_has_kernels(tq->type), "%s: %s has type %u without kernels", q_rel, name, tq->type);
        if (t32->type != LO_DTYPE_F32 || !lo_dtype_has_kernels(tq->type)) continue;
        int64_t ne0 = tq->ne[0], nrows = tq->ne[1] * tq->ne[2] * tq->ne[3];
        CHECK(ne0 == t32->ne[0] && nrows == t32->ne[1] * t32->ne[2] * t32->ne[3]);
        size_t row_bytes = 0;
        CHECK(lo_dtype_row_bytes(tq->type, ne0, &row_bytes));
        CHECK((size_t)nrows * row_bytes == tq->bytes);
        if ((size_t)nrows * row_bytes != tq->bytes) continue;

        const float *src = t32->data;
        uint8_t *qbuf = malloc(tq->bytes);
        float *deq = malloc((size_t)ne0 * sizeof(float));
        double err2 = 0, ref2 = 0;
        int64_t first_bad_row = -1;
        for (int64_t r = 0; r < nrows; r++) {
            lo_quantize_row(tq->type, src + r * ne0, qbuf + r * row_bytes, ne0);
            const uint8_t *file_row = (const uint8_t *)tq->data + r * row_bytes;
            if (first_bad_row < 0 && memcmp(qbuf + r * row_bytes, file_row, row_bytes) != 0) first_bad_row = r;
            lo_dequantize_row(tq->type, file_row, deq, ne0);
            for (int64_t k = 0; k < ne0; k++) {
                double e = (double)deq[k] - src[r * ne0 + k];
                err2 += e * e;
                ref2 += (double)src[r * ne0 + k] * src[r * ne0 + k];
            }
        }
        bool same = first_bad_row < 0;
        counts[tq->type].total++;
        counts[tq->type].identical += same;
        if (!same) {
            const uint8_t *a = qbuf + first_bad_row * row_bytes;
            const uint8_t *b = (const uint8_t *)tq->data + first_bad_row * row_bytes;
            size_t k = 0;
            while (a[k] == b[k]) k++;
            fprintf(stderr, "%s: %s (%s): row %lld differs first at byte %zu of %zu (ours %02x, file %02x)\n",
                    q_rel, name, lo_dtype_get(tq->type)->name, (long long)first_bad_row, k, row_bytes, a[k], b[k]);
        }
        CHECK_MSG(same, "%s: %s not byte-identical", q_rel, name);
        double rel = ref2 > 0 ? sqrt(err2 / ref2) : 0;
        CHECK_MSG(rel < rel_rmse_bound(tq->type), "%s: %s (%s) relative RMSE %.4g over bound %.4g", q_rel, name,
                  lo_dtype_get(tq->type)->name, rel, rel_rmse_bound(tq->type));
        free(qbuf);
        free(deq);
        n_checked++;
    }
    CHECK_MSG(n_checked > 0, "%s: no quantised tensors", q_rel);
    lo_gguf_close(g32);
    lo_gguf_close(gq);
}

int main(void) {
    static const char *stories[] = {"stories260K-Q8_0", "stories260K-Q4_0", "stories260K-F16", "stories260K-Q5_0-mix"};
    for (size_t i = 0; i < sizeof stories / sizeof *stories; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "models/quant/%s.gguf", stories[i]);
        compare_files("models/stories260K.gguf", rel);
    }
    static const char *synth[] = {"q2_k", "q3_k_m", "q4_0", "q4_1", "q4_k_m", "q5_0",
                                  "q5_1", "q5_k_m", "q6_k", "q8_0", "f16",    "bf16"};
    for (size_t i = 0; i < sizeof synth / sizeof *synth; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "models/synthetic/llama-k.%s.gguf", synth[i]);
        compare_files("models/synthetic/llama-k.f32.gguf", rel);
    }
    /* The other synthetic models made the same way. */
    compare_files("models/synthetic/moe.f32.gguf", "models/synthetic/moe.q8_0.gguf");
    compare_files("models/synthetic/moe.f32.gguf", "models/synthetic/moe.q4_k_m.gguf");
    compare_files("models/synthetic/falcon.f32.gguf", "models/synthetic/falcon.q8_0.gguf");
    compare_files("models/synthetic/qwen2.f32.gguf", "models/synthetic/qwen2.q4_k_m.gguf");

    printf("type      identical/total tensors\n");
    for (int t = 0; t < LO_DTYPE_COUNT; t++)
        if (counts[t].total) printf("%-8s  %d/%d\n", lo_dtype_get((uint32_t)t)->name, counts[t].identical, counts[t].total);
    return check_done();
}
