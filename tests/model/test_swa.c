/* model: sliding-window attention. llama-k.f32 is copied with llama.attention.sliding_window
 * = 4 (smaller than the 12-token prompt); every position's logits are checked against a
 * direct double-precision forward whose mask is llama.cpp's standard SWA rule (token at
 * pos sees p with pos - p < W), and against the full causal mask (which must differ once
 * pos >= W). The unmodified file must match the full-mask reference (the reference is right). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "llmops/llmops.h"

enum { N = 12, W = 4 };

static const float *tensor(const lo_gguf *g, const char *name) {
    int64_t i = lo_gguf_find_tensor(g, name);
    if (i < 0) return NULL;
    const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
    return t->type == LO_DTYPE_F32 ? t->data : NULL;
}

static void rmsnorm_d(double *y, const double *x, const float *w, int n, double eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    const double sc = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * sc * w[i];
}

/* y[o] = Σ_i W[o·n_in + i] x[i] (a GGUF {n_in, n_out} matrix) */
static void matvec_d(double *y, const float *Wm, const double *x, int n_in, int n_out) {
    for (int o = 0; o < n_out; o++) {
        double s = 0;
        for (int i = 0; i < n_in; i++) s += (double)Wm[(size_t)o * n_in + i] * x[i];
        y[o] = s;
    }
}

static void rope_d(double *v, int n_heads, int hd, int pos, double base) {
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < hd; i += 2) {
            const double th = pos * pow(base, -(double)i / hd), c = cos(th), s = sin(th);
            double *p = v + h * hd + i;
            const double a = p[0], b = p[1];
            p[0] = a * c - b * s, p[1] = a * s + b * c;
        }
}

/* Direct llama forward of ids[0..N) (all positions), window w (0 = full causal) → logits. */
static bool reference(const lo_model *m, const int32_t *ids, int w, double *logits) {
    const lo_hparams *hp = lo_model_hparams(m);
    const lo_gguf *g = lo_model_gguf(m);
    const int E = hp->n_embd, H = hp->n_head, HK = hp->n_head_kv, D = hp->head_dim, F = hp->n_ff, V = hp->n_vocab;
    static double x[N][256], K[N][256], Vv[N][256], Q[N][256], a[256], t[256], n[256], g1[1024], u1[1024];
    if (E > 256 || F > 1024 || H * D > 256) return false;
    const float *emb = tensor(g, "token_embd.weight");
    if (!emb) return false;
    for (int p = 0; p < N; p++)
        for (int i = 0; i < E; i++) x[p][i] = emb[(size_t)ids[p] * E + i];
    char nm[64];
#define T(fmt) (snprintf(nm, sizeof nm, fmt, l), tensor(g, nm))
    for (int l = 0; l < hp->n_layer; l++) {
        const float *an = T("blk.%d.attn_norm.weight"), *wq = T("blk.%d.attn_q.weight"), *wk = T("blk.%d.attn_k.weight"),
                    *wv = T("blk.%d.attn_v.weight"), *wo = T("blk.%d.attn_output.weight"), *fn = T("blk.%d.ffn_norm.weight"),
                    *fg = T("blk.%d.ffn_gate.weight"), *fu = T("blk.%d.ffn_up.weight"), *fd = T("blk.%d.ffn_down.weight");
        if (!an || !wq || !wk || !wv || !wo || !fn || !fg || !fu || !fd) return false;
        for (int p = 0; p < N; p++) {
            rmsnorm_d(n, x[p], an, E, hp->norm_eps);
            matvec_d(Q[p], wq, n, E, H * D);
            matvec_d(K[p], wk, n, E, HK * D);
            matvec_d(Vv[p], wv, n, E, HK * D);
            rope_d(Q[p], H, D, p, hp->rope_freq_base);
            rope_d(K[p], HK, D, p, hp->rope_freq_base);
        }
        static double xn[N][256];
        for (int p = 0; p < N; p++) {
            for (int h = 0; h < H; h++) {
                const int kv = h / (H / HK);
                double sc[N], mx = -INFINITY, sum = 0;
                for (int j = 0; j <= p; j++) {
                    const bool masked = w > 0 && p - j >= w; /* LLAMA_SWA_TYPE_STANDARD */
                    sc[j] = -INFINITY;
                    if (masked) continue;
                    double d = 0;
                    for (int i = 0; i < D; i++) d += Q[p][h * D + i] * K[j][kv * D + i];
                    sc[j] = d / sqrt((double)D);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j <= p; j++) sum += sc[j] == -INFINITY ? 0 : exp(sc[j] - mx);
                for (int i = 0; i < D; i++) {
                    double o = 0;
                    for (int j = 0; j <= p; j++)
                        if (sc[j] != -INFINITY) o += exp(sc[j] - mx) / sum * Vv[j][kv * D + i];
                    a[h * D + i] = o;
                }
            }
            matvec_d(t, wo, a, H * D, E);
            for (int i = 0; i < E; i++) xn[p][i] = x[p][i] + t[i];
        }
        for (int p = 0; p < N; p++) {
            rmsnorm_d(n, xn[p], fn, E, hp->norm_eps);
            matvec_d(g1, fg, n, E, F);
            matvec_d(u1, fu, n, E, F);
            for (int i = 0; i < F; i++) g1[i] = g1[i] / (1.0 + exp(-g1[i])) * u1[i];
            matvec_d(t, fd, g1, F, E);
            for (int i = 0; i < E; i++) x[p][i] = xn[p][i] + t[i];
        }
    }
#undef T
    const float *on = tensor(g, "output_norm.weight"), *ow = tensor(g, "output.weight");
    if (!on || !ow) return false;
    for (int p = 0; p < N; p++) {
        rmsnorm_d(n, x[p], on, E, hp->norm_eps);
        matvec_d(logits + (size_t)p * V, ow, n, E, V);
    }
    return true;
}

/* our logits of every position of ids in one decode, and separately one token at a time */
static double max_diff_vs(const lo_model *m, const int32_t *ids, const double *ref, bool one_by_one) {
    const int V = lo_model_hparams(m)->n_vocab;
    lo_context *c = NULL;
    lo_context_params cp = {.n_ctx = 32, .n_seq = 1, .n_batch = N, .n_threads = 2};
    if (lo_context_create(m, &cp, &c)) return INFINITY;
    int32_t pos[N], seq[N];
    bool all[N];
    for (int i = 0; i < N; i++) pos[i] = i, seq[i] = 0, all[i] = true;
    double worst = 0;
    if (!one_by_one) {
        lo_batch b = {.n_tokens = N, .token = ids, .pos = pos, .seq = seq, .logits = all};
        if (lo_model_decode(c, &b)) worst = INFINITY;
        for (int p = 0; p < N && isfinite(worst); p++) {
            const float *lg = lo_context_logits(c, p);
            for (int v = 0; v < V; v++) worst = fmax(worst, fabs(lg[v] - ref[(size_t)p * V + v]));
        }
    } else {
        for (int p = 0; p < N && isfinite(worst); p++) {
            lo_batch b = {.n_tokens = 1, .token = ids + p, .pos = pos + p, .seq = seq, .logits = NULL};
            if (lo_model_decode(c, &b)) {
                worst = INFINITY;
                break;
            }
            const float *lg = lo_context_logits(c, 0);
            for (int v = 0; v < V; v++) worst = fmax(worst, fabs(lg[v] - ref[(size_t)p * V + v]));
        }
    }
    lo_context_free(c);
    return worst;
}

int main(void) {
    char src[1024], dst[256];
    check_shared("models/synthetic/llama-k.f32.gguf", src, sizeof src);
    snprintf(dst, sizeof dst, "%s/llmops_swa_%d.gguf", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    lo_gguf *g = NULL;
    CHECK_OK(lo_gguf_open(src, &g));
    if (!g) return check_done();
    /* the same file plus llama.attention.sliding_window = W */
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(3, &w));
    CHECK_OK(lo_gguf_writer_copy_kvs(w, g));
    CHECK_OK(lo_gguf_writer_set_u32(w, "llama.attention.sliding_window", W));
    for (int64_t i = 0; i < lo_gguf_n_tensors(g); i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.data);
        CHECK_OK(lo_gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data, t->bytes));
    }
    CHECK_OK(lo_gguf_writer_write(w, dst));
    lo_gguf_writer_free(w);
    lo_gguf_close(g);

    lo_model *full = NULL, *swa = NULL;
    CHECK_OK(lo_model_load(src, &full));
    CHECK_OK(lo_model_load(dst, &swa));
    unlink(dst);
    if (!full || !swa) goto done;
    CHECK_INT_EQ(lo_model_hparams(swa)->sliding_window, W);
    CHECK_INT_EQ(lo_model_hparams(full)->sliding_window, 0);

    const int V = lo_model_hparams(full)->n_vocab;
    static double ref_w[N * 512], ref_f[N * 512];
    if (V > 512) goto done;
    const int32_t ids[N] = {1, 403, 407, 261, 378, 260, 376, 237, 258, 176, 35, 44};
    CHECK(reference(swa, ids, W, ref_w));
    CHECK(reference(full, ids, 0, ref_f));
    /* the two masks agree before pos W and must differ clearly after */
    double pre = 0, post = 0;
    for (int p = 0; p < N; p++)
        for (int v = 0; v < V; v++) {
            const double d = fabs(ref_w[(size_t)p * V + v] - ref_f[(size_t)p * V + v]);
            if (p < W) pre = fmax(pre, d);
            else post = fmax(post, d);
        }
    CHECK(pre == 0.0);
    CHECK_MSG(post > 0.5, "the window changes the reference logits by only %g", post);

    const double tau = 0.02; /* F16 K/V and F16 attention accumulation, as llama.cpp */
    const double d_swa = max_diff_vs(swa, ids, ref_w, false), d_swa1 = max_diff_vs(swa, ids, ref_w, true);
    const double d_full = max_diff_vs(full, ids, ref_f, false), d_cross = max_diff_vs(swa, ids, ref_f, false);
    fprintf(stderr, "max |dlogit|: swa vs window ref %.4f (one by one %.4f), full vs causal ref %.4f, swa vs causal ref %.4f\n",
            d_swa, d_swa1, d_full, d_cross);
    CHECK_MSG(d_swa < tau, "sliding window: %g", d_swa);
    CHECK_MSG(d_swa1 < tau, "sliding window, one token per decode: %g", d_swa1);
    CHECK_MSG(d_full < tau, "no window: %g (the reference itself is off)", d_full);
    CHECK_MSG(d_cross > 10 * tau, "the window is not applied: %g", d_cross);
done:
    lo_model_free(full);
    lo_model_free(swa);
    return check_done();
}
