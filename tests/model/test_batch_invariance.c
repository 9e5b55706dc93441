/* model: batch invariance — four sequences decoded greedily each alone (one context
 * each) and interleaved in one context (n_seq 4, staggered starts, batches mixing decode
 * tokens, one-token prompt chunks and multi-token chunks, decode tokens in rotating order)
 * give memcmp-identical logits at every step: stories260K (F32) and gen-model'd Q4_0,
 * Q8_0, Q4_K_M, BF16 and a Q8_0 MoE; and the same with LoRA adapters attached (rank 4 on
 * q, v, output, gate, down — attention only on the MoE — B in F16 or BF16, two adapters
 * on one model), which must change the logits. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "llmops/llmops.h"
#include "model/lora_fixture.h"

enum { NS = 4, GEN = 8, CHUNK = 4, MAXP = 12, NB = 16 };
static const int32_t k_plen[NS] = {5, 1, 9, 3}; /* chunks: 4+1, 1, 4+4+1, 3 */
static const int k_start[NS] = {0, 1, 1, 3};    /* the step at which each starts (interleaved) */

typedef struct seqrun {
    int32_t ids[MAXP + GEN];
    int32_t n_pre, n_gen;
    float *logits; /* [GEN][n_vocab] */
} seqrun;

static int32_t argmax(const float *l, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (l[i] > l[best]) best = i;
    return best;
}

static void seq_init(seqrun *r, int s, int32_t n_vocab) {
    memset(r, 0, sizeof *r);
    for (int32_t i = 0; i < k_plen[s]; i++) r->ids[i] = 1 + (s * 37 + i * 11) % (n_vocab - 1);
    r->logits = malloc(sizeof(float) * (size_t)GEN * (size_t)n_vocab);
    CHECK(r->logits != NULL);
}

/* Appends sequence r's next piece (its next prompt chunk, or its pending token) to the
 * batch arrays; returns the batch index of the row whose logits it asks for, or -1. */
static int32_t append(const seqrun *r, int s, int32_t *tok, int32_t *pos, int32_t *seq, bool *lg, int32_t *nb, int32_t plen) {
    int32_t p0 = r->n_pre < plen ? r->n_pre : plen + r->n_gen - 1;
    int32_t take = r->n_pre < plen ? (plen - r->n_pre < CHUNK ? plen - r->n_pre : CHUNK) : 1;
    for (int32_t t = 0; t < take; t++) {
        tok[*nb] = r->ids[p0 + t], pos[*nb] = p0 + t, seq[*nb] = s, lg[*nb] = false;
        (*nb)++;
    }
    bool last = r->n_pre >= plen || p0 + take == plen;
    lg[*nb - 1] = last;
    return last ? *nb - 1 : -1;
}

/* After a decode: the row's logits become step n_gen of r and choose its next token. */
static void take_logits(seqrun *r, const float *l, int32_t n_vocab, int32_t plen) {
    memcpy(r->logits + (size_t)r->n_gen * (size_t)n_vocab, l, sizeof(float) * (size_t)n_vocab);
    r->ids[plen + r->n_gen] = argmax(l, n_vocab);
    r->n_gen++;
}

static int32_t piece_len(const seqrun *r, int32_t plen) {
    return r->n_pre < plen ? (plen - r->n_pre < CHUNK ? plen - r->n_pre : CHUNK) : 1;
}

/* n_lora adapters (a random one per seed in lora_seeds, scale 0.75) are attached when
 * n_lora > 0; first_row (n_vocab floats, or NULL) gets sequence 0's first logits. */
static void run_model(const char *path, const char *name, int n_lora, const uint32_t *lora_seeds, float *first_row) {
    lo_model *m = NULL;
    CHECK_OK(lo_model_load(path, &m));
    if (!m) return;
    const int32_t n_vocab = lo_model_hparams(m)->n_vocab;
    for (int k = 0; k < n_lora; k++) {
        static const char *const targets[] = {"attn_q", "attn_v", "attn_output", "ffn_gate", "ffn_down"};
        char ap[256];
        snprintf(ap, sizeof ap, "/tmp/lo_test_batch_inv_lora_%d_%d.gguf", (int)getpid(), k);
        CHECK_INT_EQ(
            lora_fixture_write(m, ap, targets, 5, 4, 8.0f, k ? LO_DTYPE_BF16 : LO_DTYPE_F16, 0.2f, lora_seeds[k]), 0);
        lo_lora_adapter *a = NULL;
        CHECK_OK(lo_lora_load(m, ap, &a));
        if (a) CHECK_OK(lo_model_lora_attach(m, a, 0.75f));
        unlink(ap);
    }
    CHECK_INT_EQ(lo_model_n_lora(m), n_lora);
    seqrun solo[NS], mix[NS];

    /* each sequence alone, in its own context, in the same chunks */
    for (int s = 0; s < NS; s++) {
        seq_init(&solo[s], s, n_vocab);
        lo_context_params cp = {.n_ctx = 64, .n_seq = 1, .n_batch = NB, .n_threads = 2};
        lo_context *c = NULL;
        CHECK_OK(lo_context_create(m, &cp, &c));
        if (!c) continue;
        seqrun *r = &solo[s];
        while (r->n_gen < GEN) {
            int32_t tok[NB], pos[NB], sq[NB], nb = 0;
            bool lg[NB];
            int32_t take = piece_len(r, k_plen[s]);
            int32_t row = append(r, 0, tok, pos, sq, lg, &nb, k_plen[s]);
            lo_batch b = {.n_tokens = nb, .token = tok, .pos = pos, .seq = sq, .logits = lg};
            CHECK_OK(lo_model_decode(c, &b));
            if (r->n_pre < k_plen[s]) r->n_pre += take;
            if (row >= 0) take_logits(r, lo_context_logits(c, row), n_vocab, k_plen[s]);
        }
        lo_context_free(c);
    }

    /* interleaved in one context: decode tokens first (rotating order), then one-token
     * prompt chunks, then the multi-token chunks (the scheduler's order) */
    lo_context_params cp = {.n_ctx = 64, .n_seq = NS, .n_batch = NB, .n_threads = 2};
    lo_context *c = NULL;
    CHECK_OK(lo_context_create(m, &cp, &c));
    for (int s = 0; s < NS; s++) seq_init(&mix[s], s, n_vocab);
    int differ = 0, mixed_steps = 0;
    double max_d = 0;
    for (int step = 0; c && step < 64; step++) {
        int32_t tok[NB], pos[NB], sq[NB], nb = 0, row[NS], take[NS] = {0};
        bool lg[NB];
        int n_dec = 0, n_pre = 0;
        for (int pass = 0; pass < 3; pass++)
            for (int j = 0; j < NS; j++) {
                int s = pass == 0 ? (j + step) % NS : j;
                seqrun *r = &mix[s];
                if (step < k_start[s] || r->n_gen >= GEN) continue;
                bool dec = r->n_pre >= k_plen[s];
                int32_t len = piece_len(r, k_plen[s]);
                if ((pass == 0) != dec || (pass == 1 && len != 1) || (pass == 2 && len == 1)) continue;
                take[s] = len;
                row[s] = append(r, s, tok, pos, sq, lg, &nb, k_plen[s]);
                n_dec += dec, n_pre += !dec;
            }
        if (nb == 0) break;
        mixed_steps += n_dec > 0 && n_pre > 0;
        lo_batch b = {.n_tokens = nb, .token = tok, .pos = pos, .seq = sq, .logits = lg};
        CHECK_OK(lo_model_decode(c, &b));
        for (int s = 0; s < NS; s++) {
            seqrun *r = &mix[s];
            if (!take[s]) continue;
            if (r->n_pre < k_plen[s]) r->n_pre += take[s];
            if (row[s] < 0) continue;
            const float *l = lo_context_logits(c, row[s]);
            const float *want = solo[s].logits + (size_t)r->n_gen * (size_t)n_vocab;
            if (memcmp(l, want, sizeof(float) * (size_t)n_vocab) != 0) {
                for (int32_t i = 0; i < n_vocab; i++) max_d = fmax(max_d, fabs((double)l[i] - want[i]));
                if (differ++ < 3) fprintf(stderr, "%s: seq %d step %d differs from the solo run\n", name, s, r->n_gen);
            }
            take_logits(r, l, n_vocab, k_plen[s]);
        }
    }
    for (int s = 0; s < NS; s++) {
        CHECK_MSG(mix[s].n_gen == GEN, "%s: seq %d generated %d of %d", name, s, mix[s].n_gen, GEN);
        CHECK(memcmp(mix[s].ids, solo[s].ids, sizeof mix[s].ids) == 0);
    }
    fprintf(stderr, "%-22s %d of %d logit rows differ (max |d| %.3g), %d steps mixed decode and prefill\n", name, differ,
            NS * GEN, max_d, mixed_steps);
    CHECK_INT_EQ(differ, 0);
    CHECK(mixed_steps >= 2);
    if (first_row) memcpy(first_row, solo[0].logits, sizeof(float) * (size_t)n_vocab);
    for (int s = 0; s < NS; s++) free(solo[s].logits), free(mix[s].logits);
    lo_context_free(c);
    lo_model_free(m);
}

int main(void) {
    const char *shared = getenv("LO_SHARED_DIR") ? getenv("LO_SHARED_DIR") : LO_SHARED_DIR;
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", shared);
    static const uint32_t seeds[2] = {7, 99};
    float base_row[512], lora_row[512];
    run_model(path, "stories260K (F32)", 0, NULL, base_row);
    run_model(path, "stories260K (F32) LoRA", 1, seeds, lora_row);
    CHECK_MSG(memcmp(base_row, lora_row, sizeof base_row) != 0, "the adapter does not change the logits");

    static const struct { lo_ftype t; int32_t n_expert; const char *name; } gens[] = {
        {LO_FTYPE_Q4_0, 0, "gen Q4_0"},   {LO_FTYPE_Q8_0, 0, "gen Q8_0"},     {LO_FTYPE_Q4_K_M, 0, "gen Q4_K_M"},
        {LO_FTYPE_BF16, 0, "gen BF16"},   {LO_FTYPE_Q8_0, 4, "gen MoE Q8_0"},
    };
    snprintf(path, sizeof path, "/tmp/lo_test_batch_inv_%d.gguf", (int)getpid());
    for (size_t i = 0; i < sizeof gens / sizeof gens[0]; i++) {
        /* k = 256 (whole K-quant super-blocks), n_vocab 300 (m % 4 == 0: BF16's tiles) */
        lo_gen_model_params gp = {.arch = "llama", .n_embd = 256, .n_layer = 2, .n_head = 4, .n_head_kv = 2,
                                  .n_ff = 512, .n_vocab = 300, .n_ctx = 128, .ftype = gens[i].t, .seed = 11 + i,
                                  .n_expert = gens[i].n_expert, .n_expert_used = gens[i].n_expert ? 2 : 0};
        CHECK_OK(lo_model_gen_random(&gp, path));
        float *b0 = calloc(300, sizeof(float)), *b1 = calloc(300, sizeof(float));
        run_model(path, gens[i].name, 0, NULL, b0);
        if (gens[i].t != LO_FTYPE_BF16) { /* with LoRA: one adapter, two on Q4_0 */
            char nm[64];
            const int n_lora = gens[i].t == LO_FTYPE_Q4_0 ? 2 : 1;
            snprintf(nm, sizeof nm, "%s LoRA%s", gens[i].name, n_lora == 2 ? " x2" : "");
            run_model(path, nm, n_lora, seeds, b1);
            CHECK_MSG(memcmp(b0, b1, 300 * sizeof(float)) != 0, "%s: the adapter does not change the logits", nm);
        }
        free(b0), free(b1);
        unlink(path);
    }
    return check_done();
}
