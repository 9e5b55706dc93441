/* train: gradient check — for a tiny llama (GQA, tied and untied head, a partial loss
 * mask) every parameter's analytic gradient against central finite differences of the
 * f32 forward; with LoRA adapters on all seven projections (base frozen, B drawn
 * non-zero so that A's gradient does not vanish) every adapter parameter's; the same with
 * LoRA dropout 0.3 under a fixed mask (lo_trainer_set_dropout: forward and backward see
 * one mask); and QLoRA on a base quantised to Q8_0 and to Q4_0 (lo_train_model_load_qlora:
 * the base is dequantised identically in every evaluation, so the loss is smooth in the
 * adapters). Bound (f32, documented in docs/train.md):
 * with weights O(0.3) and step h = 3e-3, per tensor ‖g − ĝ‖ / ‖ĝ‖ < 3e-3, and per coordinate |g − ĝ| ≤
 * 5e-2·max(|g|,|ĝ|)
 * + 2e-4 (the floor covers coordinates whose gradient is at the f32 noise of the loss).
 * Also: a training step allocates nothing (counted allocations unchanged). */
#include <math.h>

#include <unistd.h>

#include "check.h"
#include "llmops/gguf.h"
#include "llmops/tensor.h"
#include "llmops/train.h"
#include "train/train_internal.h"

enum { B = 2, T = 8 };
typedef enum mode { FULL, LORA, LORA_DROPOUT, QLORA_Q8_0, QLORA_Q4_0 } mode;

/* m's weights as a llama GGUF base: matrices in `type`, norm gains F32. */
static void write_base(const lo_train_model *m, uint32_t type, const char *path) {
    const lo_train_config *c = lo_train_model_config(m);
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(3, &w));
    if (!w) return;
    CHECK_OK(lo_gguf_writer_set_str(w, "general.architecture", "llama"));
    CHECK_OK(lo_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->n_ctx));
    CHECK_OK(lo_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c->n_embd));
    CHECK_OK(lo_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->n_ff));
    CHECK_OK(lo_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->n_layer));
    CHECK_OK(lo_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_head));
    CHECK_OK(lo_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_head_kv));
    CHECK_OK(lo_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->norm_eps));
    static uint8_t buf[1 << 16];
    size_t used = 0;
    for (int32_t i = 0; i < lo_train_model_n_tensors(m); i++) {
        const lo_train_tensor tt = lo_train_model_tensor(m, i);
        const uint32_t ty = tt.n_dims == 2 ? type : LO_DTYPE_F32;
        size_t rb = 0;
        CHECK(lo_dtype_row_bytes(ty, tt.ne[0], &rb));
        const size_t bytes = rb * (size_t)tt.ne[1];
        LO_ASSERT(used + bytes <= sizeof buf);
        lo_quantize_row(ty, tt.w, buf + used, tt.n);
        CHECK_OK(lo_gguf_writer_add_tensor(w, tt.name, ty, (uint32_t)tt.n_dims, tt.ne, buf + used, bytes));
        used += bytes;
    }
    CHECK_OK(lo_gguf_writer_write(w, path));
    lo_gguf_writer_free(w);
}

static double mean_loss(lo_trainer *tr, const int32_t *tok, const int32_t *tgt, const uint8_t *mask) {
    double sum = 0;
    int64_t n = 0;
    lo_status s = lo_trainer_forward(tr, tok, tgt, mask, false, 0, &sum, &n);
    LO_ASSERT(s == LO_OK && n > 0);
    return sum / (double)n;
}

static float draw(uint64_t *st) {
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*st >> 40) & 0xffffff) / 16777216.0f - 0.5f;
}

static void run(bool tied, mode md) {
    const bool lora = md != FULL, qlora = md == QLORA_Q8_0 || md == QLORA_Q4_0;
    /* QLoRA: rows of whole 32-element blocks */
    lo_train_config c = {.n_vocab = 32,
                         .n_embd = qlora ? 32 : 16,
                         .n_layer = 2,
                         .n_head = 4,
                         .n_head_kv = 2,
                         .n_ff = qlora ? 64 : 32,
                         .n_ctx = 16,
                         .tied = tied};
    lo_train_model *m = NULL;
    CHECK_OK(lo_train_model_init(&c, 7, &m));
    if (!m) return;
    /* Larger weights than the init so that every gradient is well above f32 noise; norm
     * gains away from 1 so their gradients are not symmetric. */
    uint64_t st = 12345;
    for (int32_t i = 0; i < lo_train_model_n_tensors(m); i++) {
        lo_train_tensor tt = lo_train_model_tensor(m, i);
        for (int64_t j = 0; j < tt.n; j++) {
            const float u = draw(&st);
            tt.w[j] = tt.n_dims == 1 ? 1.0f + u : 0.6f * u * 1.7f;
        }
    }
    const char *what = tied ? "tied head" : "untied head";
    if (qlora) { /* the same weights, quantised, as the base */
        char path[96];
        snprintf(path, sizeof path, "/tmp/lo_test_gradcheck.%d.gguf", (int)getpid());
        write_base(m, md == QLORA_Q8_0 ? LO_DTYPE_Q8_0 : LO_DTYPE_Q4_0, path);
        lo_train_model_free(m);
        m = NULL;
        CHECK_OK(lo_train_model_load_qlora(path, &m));
        unlink(path);
        if (!m) return;
        CHECK(lo_train_model_is_quantized(m));
        CHECK(lo_train_model_tensor(m, 2).w == NULL && lo_train_model_tensor(m, 1).w != NULL);
        lo_trainer *no = NULL;
        const lo_train_params p0 = {.batch = 1, .seq = 1, .grad_accum = 1, .total_steps = 1, .lr = 1e-3f};
        CHECK(lo_trainer_create(m, &p0, &no) == LO_ERR_INVALID); /* a QLoRA base needs adapters */
    }
    if (lora) {
        /* rank 2, alpha 3 (scale 1.5) on every projection; B = 0 as initialised would make
         * A's gradient vanish, so both are drawn O(0.15). */
        what = md == LORA           ? "LoRA"
               : md == LORA_DROPOUT ? "LoRA dropout 0.3"
               : md == QLORA_Q8_0   ? "QLoRA Q8_0"
                                    : "QLoRA Q4_0";
        const lo_lora_config lc = {
            .rank = 2, .alpha = 3.0f, .targets = LO_LORA_ALL, .dropout = md == LORA_DROPOUT ? 0.3f : 0.0f};
        CHECK_OK(lo_train_model_add_lora(m, &lc, 9));
        CHECK_INT_EQ(lo_train_model_n_trainable(m), 2 * 7 * c.n_layer);
        for (int32_t i = 0; i < lo_train_model_n_tensors(m); i++) CHECK(lo_train_model_tensor(m, i).g == NULL);
        for (int32_t i = 0; i < lo_train_model_n_trainable(m); i++) {
            lo_train_tensor tt = lo_train_model_trainable(m, i);
            const bool is_b = strstr(tt.name, ".lora_b") != NULL;
            CHECK(tt.ne[is_b ? 0 : 1] == 2);
            for (int64_t j = 0; j < tt.n; j++) {
                if (is_b) CHECK(tt.w[j] == 0); /* B starts at zero: the adapter starts as the base */
                tt.w[j] = draw(&st) * 0.6f;
            }
        }
    }
    lo_train_params p = {.batch = B, .seq = T, .grad_accum = 1, .n_threads = 2, .total_steps = 1, .lr = 1e-3f};
    lo_trainer *tr = NULL;
    CHECK_OK(lo_trainer_create(m, &p, &tr));
    if (!tr) {
        lo_train_model_free(m);
        return;
    }
    int32_t tok[B * T], tgt[B * T];
    uint8_t mask[B * T];
    for (int i = 0; i < B * T; i++) {
        tok[i] = (i * 7 + 3) % 32;
        tgt[i] = (i * 11 + 5) % 32;
        mask[i] = (i % 5) != 2; /* some tokens do not count */
    }
    /* Attention in blocks of 3 query rows (3, 3, 2 for T = 8): the causal blocking's edges
     * and a partial last block are what the check below differentiates; one block of all
     * rows gives the same loss up to f32 rounding. */
    const double whole = mean_loss(tr, tok, tgt, mask);
    tr->att_blk = 3;
    CHECK_MSG(fabs(mean_loss(tr, tok, tgt, mask) - whole) < 1e-6, "%s: attention blocks change the loss", what);
    double sum = 0;
    int64_t cnt = 0;
    if (md == LORA_DROPOUT) {
        /* The mask matters (the loss moves with it), another micro-batch gets another mask,
         * and the same key gives the same loss; then one fixed mask for the whole check. */
        lo_trainer_set_dropout(tr, false, 0, 0, 0);
        const double off = mean_loss(tr, tok, tgt, mask);
        lo_trainer_set_dropout(tr, true, 5, 3, 1);
        const double other = mean_loss(tr, tok, tgt, mask);
        lo_trainer_set_dropout(tr, true, 5, 3, 0);
        const double on = mean_loss(tr, tok, tgt, mask);
        CHECK(fabs(on - off) > 1e-4 && fabs(on - other) > 1e-5);
        CHECK(mean_loss(tr, tok, tgt, mask) == on);
    }
    lo_trainer_zero_grad(tr);
    CHECK_OK(lo_trainer_forward(tr, tok, tgt, mask, true, 0, &sum, &cnt));
    /* grad_scale 0 must leave all gradients zero; then the real pass with 1/count */
    for (int32_t i = 0; i < lo_train_model_n_trainable(m); i++) {
        lo_train_tensor tt = lo_train_model_trainable(m, i);
        for (int64_t j = 0; j < tt.n; j++) CHECK(tt.g[j] == 0);
    }
    CHECK_INT_EQ(cnt, 13); /* 16 tokens minus i = 2, 7, 12 */
    lo_trainer_zero_grad(tr);
    CHECK_OK(lo_trainer_forward(tr, tok, tgt, mask, true, 1.0f / (float)cnt, &sum, &cnt));
    const double base = sum / (double)cnt;
    CHECK(fabs(base - mean_loss(tr, tok, tgt, mask)) < 1e-6);
    const float h = 3e-3f;
    double worst_tensor = 0;
    for (int32_t i = 0; i < lo_train_model_n_trainable(m); i++) {
        lo_train_tensor tt = lo_train_model_trainable(m, i);
        double d2 = 0, n2 = 0, worst = 0;
        int64_t bad = 0;
        for (int64_t j = 0; j < tt.n; j++) {
            const float w0 = tt.w[j];
            tt.w[j] = w0 + h;
            const double lp = mean_loss(tr, tok, tgt, mask);
            tt.w[j] = w0 - h;
            const double lm = mean_loss(tr, tok, tgt, mask);
            tt.w[j] = w0;
            const double num = (lp - lm) / (2.0 * (double)h), an = tt.g[j];
            const double diff = fabs(an - num);
            d2 += diff * diff, n2 += num * num;
            const double tol = 5e-2 * fmax(fabs(an), fabs(num)) + 2e-4;
            if (diff > tol) {
                if (bad < 3) fprintf(stderr, "%s[%lld]: analytic %.6g numeric %.6g\n", tt.name, (long long)j, an, num);
                bad++;
            }
            if (diff > worst) worst = diff;
        }
        const double rel = sqrt(d2) / fmax(sqrt(n2), 1e-12);
        if (rel > worst_tensor) worst_tensor = rel;
        CHECK_MSG(bad == 0 && rel < 3e-3, "%s (%s): %lld coordinates off, relative error %.3g", tt.name, what,
                  (long long)bad, rel);
        CHECK_MSG(sqrt(n2) > 1e-4, "%s has a vanishing gradient (%.3g): the check would prove nothing", tt.name,
                  sqrt(n2));
    }
    /* The step loop allocates nothing: live and peak counted bytes stay put. */
    const size_t live0 = lo_alloc_live_bytes(), peak0 = lo_alloc_peak_bytes();
    for (int k = 0; k < 3; k++) {
        lo_trainer_zero_grad(tr);
        CHECK_OK(lo_trainer_forward(tr, tok, tgt, mask, true, 1.0f / (float)cnt, &sum, &cnt));
        lo_trainer_step(tr, k, NULL);
    }
    CHECK_INT_EQ(lo_alloc_live_bytes(), live0);
    CHECK_INT_EQ(lo_alloc_peak_bytes(), peak0);
    fprintf(stderr, "gradcheck (%s): %d tensors, %lld params, worst per-tensor relative error %.3g\n", what,
            lo_train_model_n_trainable(m), (long long)lo_train_model_n_trainable_params(m), worst_tensor);
    lo_trainer_free(tr);
    lo_train_model_free(m);
}

int main(void) {
    run(false, FULL);
    run(true, FULL);
    run(false, LORA);
    run(false, LORA_DROPOUT);
    run(false, QLORA_Q8_0);
    run(true, QLORA_Q4_0);
    /* targets: names, subsets, repeats */
    uint32_t tg = 0;
    CHECK(lo_lora_targets_parse("q,k,v,o,gate,up,down", &tg) && tg == LO_LORA_ALL);
    CHECK(lo_lora_targets_parse("v,q", &tg) && tg == (LO_LORA_Q | LO_LORA_V));
    CHECK(!lo_lora_targets_parse("q,q", &tg) && !lo_lora_targets_parse("q,x", &tg) && !lo_lora_targets_parse("", &tg));
    CHECK(!lo_lora_targets_parse("q,", &tg));
    return check_done();
}
