/* Sampler tests on hand-made logit arrays: greedy, seeding, the softmax distribution,
 * the exact candidate sets of top-k/top-p/min-p, penalties, logit bias, logprobs, and
 * the edge cases (NaN, all -inf, top_k > n_vocab, top_p = 0, min_p = 1). */
#include <math.h>

#include "check.h"
#include "infer/infer_internal.h"
#include "llmops/llmops.h"

static uint64_t lcg = 12345;
static float frand(void) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((lcg >> 40) * (1.0 / 16777216.0));
}

static lo_sampler_params plain(void) {
    lo_sampler_params p;
    lo_sampler_params_default(&p);
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 42;
    return p;
}

static lo_sampler *make(const lo_sampler_params *p, int32_t nv) {
    lo_sampler *s = NULL;
    CHECK_OK(lo_sampler_create(p, nv, &s));
    if (!s) exit(1);
    return s;
}

/* Which ids a sampler can produce on logits: 4000 draws (the tests use flat enough
 * distributions that every kept id shows up with overwhelming probability). */
static void observed(lo_sampler *s, const float *logits, int32_t nv, bool *seen) {
    memset(seen, 0, (size_t)nv);
    for (int i = 0; i < 4000; i++) {
        int32_t id = -1;
        CHECK_OK(lo_sampler_sample(s, logits, &id));
        if (id >= 0 && id < nv) seen[id] = true;
    }
}

static bool set_is(const bool *seen, int32_t nv, const int *want, int nw) {
    bool exp_[64] = {0};
    for (int i = 0; i < nw; i++) exp_[want[i]] = true;
    for (int32_t i = 0; i < nv; i++)
        if (seen[i] != exp_[i]) {
            fprintf(stderr, "  id %d: seen %d, expected %d\n", i, seen[i], exp_[i]);
            return false;
        }
    return true;
}

static void test_greedy(void) {
    enum { NV = 1000 };
    static float l[NV];
    lo_sampler_params p = plain();
    p.temperature = 0;
    lo_sampler *s = make(&p, NV);
    lo_sampler_params pk = plain();
    pk.top_k = 1;
    pk.temperature = 0.8f;
    lo_sampler *sk = make(&pk, NV);
    for (int t = 0; t < 50; t++) {
        int32_t best = 0;
        for (int i = 0; i < NV; i++) {
            l[i] = frand() * 20 - 10;
            if (l[i] > l[best]) best = i;
        }
        int32_t id = -1, idk = -1;
        CHECK_OK(lo_sampler_sample(s, l, &id));
        CHECK_OK(lo_sampler_sample(sk, l, &idk));
        CHECK_INT_EQ(id, best);
        CHECK_INT_EQ(idk, best);
    }
    /* ties: the lowest id */
    for (int i = 0; i < NV; i++) l[i] = 1.0f;
    int32_t id = -1;
    CHECK_OK(lo_sampler_sample(s, l, &id));
    CHECK_INT_EQ(id, 0);
    lo_sampler_free(s);
    lo_sampler_free(sk);
}

static void test_seed(void) {
    enum { NV = 64, N = 1000 };
    float l[NV];
    for (int i = 0; i < NV; i++) l[i] = frand() * 4;
    lo_sampler_params p;
    lo_sampler_params_default(&p); /* the default chain, temperature 0.8 */
    p.seed = 1234;
    lo_sampler *a = make(&p, NV), *b = make(&p, NV);
    p.seed = 1235;
    lo_sampler *c = make(&p, NV);
    CHECK_INT_EQ(lo_sampler_seed(a), 1234);
    static int32_t sa[N], sb[N], sc[N];
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < N; i++) {
        CHECK_OK(lo_sampler_sample(a, l, &sa[i]));
        CHECK_OK(lo_sampler_sample(b, l, &sb[i]));
        CHECK_OK(lo_sampler_sample(c, l, &sc[i]));
        same_ab += sa[i] == sb[i];
        same_ac += sa[i] == sc[i];
    }
    CHECK_INT_EQ(same_ab, N);
    CHECK_MSG(same_ac < N * 9 / 10, "different seeds agree on %d of %d draws", same_ac, N);
    /* reset replays the same sequence */
    lo_sampler_reset(a);
    int replay = 0;
    for (int i = 0; i < N; i++) {
        int32_t id;
        CHECK_OK(lo_sampler_sample(a, l, &id));
        replay += id == sa[i];
    }
    CHECK_INT_EQ(replay, N);
    /* no allocation per sample */
    size_t live = lo_alloc_live_bytes();
    for (int i = 0; i < 100; i++) {
        int32_t id;
        CHECK_OK(lo_sampler_sample(a, l, &id));
        lo_sampler_accept(a, id);
    }
    CHECK_INT_EQ(lo_alloc_live_bytes(), live);
    /* LO_SEED_RANDOM resolves to some concrete seed */
    p.seed = LO_SEED_RANDOM;
    lo_sampler *r = make(&p, NV);
    CHECK(lo_sampler_seed(r) != LO_SEED_RANDOM);
    lo_sampler_free(r);
    lo_sampler_free(a);
    lo_sampler_free(b);
    lo_sampler_free(c);
}

/* Pearson chi-square of N draws against softmax(l / T). */
static double chi2_of(float temp, const float *l, int nv, int n_draws, uint64_t seed) {
    lo_sampler_params p = plain();
    p.temperature = temp;
    p.seed = seed;
    lo_sampler *s = make(&p, nv);
    double mx = -1e30, sum = 0, prob[16];
    int cnt[16] = {0};
    for (int i = 0; i < nv; i++) mx = l[i] > mx ? l[i] : mx;
    for (int i = 0; i < nv; i++) sum += prob[i] = exp((l[i] - mx) / temp);
    for (int i = 0; i < nv; i++) prob[i] /= sum;
    for (int i = 0; i < n_draws; i++) {
        int32_t id = -1;
        CHECK_OK(lo_sampler_sample(s, l, &id));
        if (id >= 0 && id < nv) cnt[id]++;
    }
    double chi2 = 0;
    for (int i = 0; i < nv; i++) {
        double e = prob[i] * n_draws;
        chi2 += (cnt[i] - e) * (cnt[i] - e) / e;
    }
    lo_sampler_free(s);
    return chi2;
}

static void test_distribution(void) {
    const float l[8] = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f, 0.0f, 2.2f, -0.3f};
    /* 7 degrees of freedom: P(chi2 > 29.9) = 1e-4 */
    double c1 = chi2_of(1.0f, l, 8, 200000, 7);
    double c2 = chi2_of(0.5f, l, 8, 200000, 8);
    double c3 = chi2_of(2.0f, l, 8, 200000, 9);
    CHECK_MSG(c1 < 29.9, "chi2 at T=1: %.2f", c1);
    CHECK_MSG(c2 < 29.9, "chi2 at T=0.5: %.2f", c2);
    CHECK_MSG(c3 < 29.9, "chi2 at T=2: %.2f", c3);
    /* and the test has power: T=1 draws are far from softmax(l/2) */
    lo_sampler_params p = plain();
    lo_sampler *s = make(&p, 8);
    int cnt[8] = {0};
    for (int i = 0; i < 20000; i++) {
        int32_t id;
        CHECK_OK(lo_sampler_sample(s, l, &id));
        cnt[id]++;
    }
    CHECK(cnt[6] > cnt[1] && cnt[1] > cnt[4] && cnt[3] < cnt[7]);
    lo_sampler_free(s);
}

static void test_truncation(void) {
    bool seen[16];
    /* probabilities 0.4, 0.3, 0.2, 0.1 (logits = log p), shuffled over ids */
    const float lp[6] = {logf(0.2f), logf(0.4f), -INFINITY, logf(0.1f), logf(0.3f), -INFINITY};
    /* top-k: the k largest logits */
    const float lk[10] = {0.1f, 0.9f, 0.5f, 0.3f, 0.95f, 0.2f, 0.8f, 0.0f, 0.85f, 0.4f};
    lo_sampler_params p = plain();
    p.top_k = 3;
    lo_sampler *s = make(&p, 10);
    observed(s, lk, 10, seen);
    CHECK(set_is(seen, 10, (int[]){1, 4, 8}, 3));
    lo_sampler_free(s);
    p.top_k = 1000; /* > n_vocab: no truncation */
    s = make(&p, 10);
    observed(s, lk, 10, seen);
    CHECK(set_is(seen, 10, (int[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10));
    lo_sampler_free(s);

    /* top-p: smallest prefix (by probability) reaching p */
    p = plain();
    p.top_p = 0.65f; /* 0.4 + 0.3 = 0.7 ≥ 0.65 */
    s = make(&p, 6);
    observed(s, lp, 6, seen);
    CHECK(set_is(seen, 6, (int[]){1, 4}, 2));
    lo_sampler_free(s);
    p.top_p = 0.85f; /* 0.4 + 0.3 + 0.2 = 0.9 */
    s = make(&p, 6);
    observed(s, lp, 6, seen);
    CHECK(set_is(seen, 6, (int[]){0, 1, 4}, 3));
    lo_sampler_free(s);
    p.top_p = 0.0f; /* only the top token */
    s = make(&p, 6);
    observed(s, lp, 6, seen);
    CHECK(set_is(seen, 6, (int[]){1}, 1));
    lo_sampler_free(s);

    /* min-p: probability ≥ p × 0.4 */
    p = plain();
    p.min_p = 0.6f; /* ≥ 0.24: 0.4, 0.3 */
    s = make(&p, 6);
    observed(s, lp, 6, seen);
    CHECK(set_is(seen, 6, (int[]){1, 4}, 2));
    lo_sampler_free(s);
    p.min_p = 0.4f; /* ≥ 0.16: 0.4, 0.3, 0.2 */
    s = make(&p, 6);
    observed(s, lp, 6, seen);
    CHECK(set_is(seen, 6, (int[]){0, 1, 4}, 3));
    lo_sampler_free(s);
    p.min_p = 1.0f; /* only the top token */
    s = make(&p, 6);
    observed(s, lp, 6, seen);
    CHECK(set_is(seen, 6, (int[]){1}, 1));
    lo_sampler_free(s);

    /* chained: top-k 3 then top-p over the renormalised three (0.4/0.9, 0.3/0.9, ...):
     * 0.444 + 0.333 = 0.778 ≥ 0.75 → two */
    p = plain();
    p.top_k = 3;
    p.top_p = 0.75f;
    s = make(&p, 6);
    observed(s, lp, 6, seen);
    CHECK(set_is(seen, 6, (int[]){1, 4}, 2));
    lo_sampler_free(s);
}

/* The kept set of random cases (with many tied logits) against a brute force: sort all
 * by (logit desc, id asc), cut at top-k, at the top-p prefix (probabilities of the top-k
 * set), at min-p (logit ≥ max + log p). Cases whose top-p cut sits within rounding of a
 * boundary are skipped. */
static const float *g_l;
static int cmp_idx(const void *pa, const void *pb) {
    int a = *(const int *)pa, b = *(const int *)pb;
    if (g_l[a] != g_l[b]) return g_l[a] > g_l[b] ? -1 : 1;
    return a - b;
}
static int cmp_int(const void *pa, const void *pb) { return *(const int32_t *)pa - *(const int32_t *)pb; }

static int32_t brute_p_cut(const int *ord, int n, const float *l, double p) {
    double sum = 0, cum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)l[ord[i]] - l[ord[0]]);
    for (int i = 0; i < n; i++) {
        cum += exp((double)l[ord[i]] - l[ord[0]]) / sum;
        if (cum >= p) return i + 1;
    }
    return n;
}

static void test_kept_random(void) {
    enum { NV = 3000 };
    static float l[NV];
    static int ord[NV];
    static int32_t got[NV];
    const int32_t ks[] = {0, 1, 7, 100, 2999, 5000};
    const float ps[] = {1.0f, 0.0f, 0.3f, 0.9f, 0.99f};
    const float ms[] = {0.0f, 0.001f, 0.2f, 1.0f};
    int compared = 0, skipped = 0;
    for (int round = 0; round < 4; round++) {
        float scale = round == 0 ? 0.01f : round == 1 ? 1.0f : round == 2 ? 8.0f : 30.0f;
        for (int i = 0; i < NV; i++) l[i] = floorf(frand() * 16) / 16 * scale; /* ties */
        if (round == 3) l[17] = -INFINITY;
        g_l = l;
        for (int i = 0; i < NV; i++) ord[i] = i;
        qsort(ord, NV, sizeof *ord, cmp_idx);
        int n_fin = round == 3 ? NV - 1 : NV;
        for (size_t a = 0; a < sizeof ks / sizeof *ks; a++)
            for (size_t b = 0; b < sizeof ps / sizeof *ps; b++)
                for (size_t c = 0; c < sizeof ms / sizeof *ms; c++) {
                    int n = ks[a] > 0 && ks[a] < n_fin ? ks[a] : n_fin;
                    int cut = n;
                    if (ps[b] < 1.0f && n > 1) {
                        int lo = brute_p_cut(ord, n, l, ps[b] * (1 - 1e-5));
                        int hi = brute_p_cut(ord, n, l, ps[b] * (1 + 1e-5) > 1 ? 1 : ps[b] * (1 + 1e-5));
                        if (lo != hi) {
                            skipped++;
                            continue;
                        }
                        cut = brute_p_cut(ord, n, l, ps[b]);
                    }
                    if (ms[c] > 0) {
                        float thr = l[ord[0]] + logf(ms[c]);
                        int m = 0;
                        while (m < n && l[ord[m]] >= thr) m++;
                        if (m < cut) cut = m;
                    }
                    if (cut < 1) cut = 1;
                    lo_sampler_params p = plain();
                    p.top_k = ks[a];
                    p.top_p = ps[b];
                    p.min_p = ms[c];
                    lo_sampler *s = make(&p, NV);
                    int32_t n_got = -1;
                    CHECK_OK(lo_sampler_kept(s, l, got, &n_got));
                    lo_sampler_free(s);
                    CHECK_MSG(n_got == cut, "scale %g k %d p %g min_p %g: kept %d, expected %d", scale, ks[a], ps[b], ms[c],
                              n_got, cut);
                    if (n_got != cut) continue;
                    qsort(got, (size_t)n_got, sizeof *got, cmp_int);
                    static int32_t want[NV];
                    for (int i = 0; i < cut; i++) want[i] = ord[i];
                    qsort(want, (size_t)cut, sizeof *want, cmp_int);
                    CHECK(memcmp(got, want, (size_t)cut * sizeof *got) == 0);
                    compared++;
                }
    }
    CHECK_MSG(compared > 300, "only %d cases compared (%d skipped)", compared, skipped);
}

static void test_penalties(void) {
    enum { NV = 8 };
    const float l[NV] = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f, 1.0f, 4.0f};
    float out[NV];
    lo_sampler_params p = plain();
    p.repeat_penalty = 1.5f;
    p.frequency_penalty = 0.25f;
    p.presence_penalty = 0.5f;
    p.repeat_last_n = 4;
    lo_sampler *s = make(&p, NV);
    lo_sampler_adjust_logits(s, l, out); /* empty history: unchanged */
    for (int i = 0; i < NV; i++) CHECK(out[i] == l[i]);
    /* history 0 0 1 3 → counts 0:2 1:1 3:1 */
    lo_sampler_accept(s, 0);
    lo_sampler_accept(s, 0);
    lo_sampler_accept(s, 1);
    lo_sampler_accept(s, 3);
    lo_sampler_adjust_logits(s, l, out);
    CHECK(fabsf(out[0] - (2.0f / 1.5f - 2 * 0.25f - 0.5f)) < 1e-6f);
    CHECK(fabsf(out[1] - (-1.0f * 1.5f - 0.25f - 0.5f)) < 1e-6f);
    CHECK(fabsf(out[3] - (3.0f / 1.5f - 0.25f - 0.5f)) < 1e-6f);
    for (int i = 0; i < NV; i++)
        if (i != 0 && i != 1 && i != 3) CHECK(out[i] == l[i]);
    /* the window slides: accepting 5 evicts one 0 → counts 0:1 1:1 3:1 5:1 */
    lo_sampler_accept(s, 5);
    lo_sampler_adjust_logits(s, l, out);
    CHECK(fabsf(out[0] - (2.0f / 1.5f - 0.25f - 0.5f)) < 1e-6f);
    CHECK(fabsf(out[5] - (0.0f * 1.5f - 0.25f - 0.5f)) < 1e-6f);
    CHECK(out[7] == l[7]);
    /* the greedy choice follows the penalised logits */
    lo_sampler_params pg = p;
    pg.temperature = 0;
    pg.repeat_penalty = 10.0f;
    lo_sampler *g = make(&pg, NV);
    lo_sampler_accept(g, 7);
    int32_t id;
    CHECK_OK(lo_sampler_sample(g, l, &id));
    CHECK_INT_EQ(id, 3); /* 4/10 - 0.75 < 3 */
    lo_sampler_reset(g); /* forgets the history */
    CHECK_OK(lo_sampler_sample(g, l, &id));
    CHECK_INT_EQ(id, 7);
    lo_sampler_free(g);
    lo_sampler_free(s);
}

static void test_bias(void) {
    enum { NV = 8 };
    const float l[NV] = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f, 1.0f, 4.0f};
    lo_logit_bias b[2] = {{7, -INFINITY}, {2, 1.0f}};
    lo_sampler_params p = plain();
    p.logit_bias = b;
    p.n_logit_bias = 2;
    lo_sampler *s = make(&p, NV);
    float out[NV];
    lo_sampler_adjust_logits(s, l, out);
    CHECK(out[7] == -INFINITY);
    CHECK(out[2] == 1.5f);
    CHECK(out[0] == 2.0f);
    int banned = 0;
    for (int i = 0; i < 5000; i++) {
        int32_t id;
        CHECK_OK(lo_sampler_sample(s, l, &id));
        banned += id == 7;
    }
    CHECK_INT_EQ(banned, 0);
    lo_sampler_free(s);
    p.temperature = 0;
    s = make(&p, NV);
    int32_t id;
    CHECK_OK(lo_sampler_sample(s, l, &id));
    CHECK_INT_EQ(id, 3);
    /* banning everything is an error, not a silent pick */
    for (int i = 0; i < NV; i++) CHECK_OK(lo_sampler_add_bias(s, i, -INFINITY));
    CHECK_INT_EQ(lo_sampler_sample(s, l, &id), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_sampler_add_bias(s, NV, 1.0f), LO_ERR_RANGE);
    CHECK_INT_EQ(lo_sampler_add_bias(s, 0, NAN), LO_ERR_INVALID);
    lo_sampler_free(s);
}

static void test_logprobs(void) {
    enum { NV = 10 };
    const float l[NV] = {0.1f, 0.9f, 0.5f, 0.3f, 0.95f, 0.2f, 0.9f, 0.0f, 0.85f, 0.4f};
    double mx = 0.95, sum = 0;
    for (int i = 0; i < NV; i++) sum += exp(l[i] - mx);
    double lse = mx + log(sum);
    lo_sampler_params p = plain();
    p.n_probs = 4;
    p.temperature = 0;
    p.repeat_penalty = 2.0f; /* logprobs are of the raw logits: penalties don't show */
    lo_sampler *s = make(&p, NV);
    lo_sampler_accept(s, 4);
    int32_t id, n = 0;
    CHECK_OK(lo_sampler_sample(s, l, &id));
    CHECK_INT_EQ(id, 1); /* 4 penalised to 0.475; 1 and 6 tie at 0.9: lowest id */
    const lo_token_prob *tp = lo_sampler_top_probs(s, &n);
    CHECK_INT_EQ(n, 4);
    const int want[4] = {4, 1, 6, 8};
    for (int i = 0; i < 4 && i < n; i++) {
        CHECK_INT_EQ(tp[i].id, want[i]);
        CHECK(fabs(tp[i].logprob - (l[want[i]] - lse)) < 1e-5);
        if (i > 0) CHECK(tp[i].logprob <= tp[i - 1].logprob);
    }
    CHECK(fabs(lo_sampler_last_logprob(s) - (l[1] - lse)) < 1e-5);
    lo_sampler_free(s);
    /* all of them: probabilities sum to 1; n_probs > n_vocab is clamped */
    p.n_probs = 50;
    s = make(&p, NV);
    CHECK_OK(lo_sampler_sample(s, l, &id));
    tp = lo_sampler_top_probs(s, &n);
    CHECK_INT_EQ(n, NV);
    double tot = 0;
    for (int i = 0; i < n; i++) tot += exp(tp[i].logprob);
    CHECK(fabs(tot - 1.0) < 1e-5);
    lo_sampler_free(s);
}

static void test_edges(void) {
    enum { NV = 6 };
    float l[NV] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    lo_sampler_params p;
    lo_sampler_params_default(&p);
    p.seed = 3;
    lo_sampler *s = make(&p, NV);
    int32_t id = 0;
    CHECK_INT_EQ(lo_sampler_sample(s, l, &id), LO_ERR_INVALID);
    CHECK_INT_EQ(id, -1);
    CHECK(strstr(lo_error_message(), "-inf") != NULL);
    l[3] = 0.0f; /* a single finite token is always chosen */
    for (int i = 0; i < 20; i++) {
        CHECK_OK(lo_sampler_sample(s, l, &id));
        CHECK_INT_EQ(id, 3);
    }
    l[2] = NAN;
    CHECK_INT_EQ(lo_sampler_sample(s, l, &id), LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "NaN") != NULL);
    l[2] = INFINITY;
    CHECK_INT_EQ(lo_sampler_sample(s, l, &id), LO_ERR_INVALID);
    lo_sampler_free(s);
    /* bad parameters */
    lo_sampler *bad = NULL;
    p.top_p = NAN;
    CHECK_INT_EQ(lo_sampler_create(&p, NV, &bad), LO_ERR_INVALID);
    lo_sampler_params_default(&p);
    p.min_p = 1.5f;
    CHECK_INT_EQ(lo_sampler_create(&p, NV, &bad), LO_ERR_RANGE);
    lo_sampler_params_default(&p);
    p.repeat_penalty = 0;
    CHECK_INT_EQ(lo_sampler_create(&p, NV, &bad), LO_ERR_RANGE);
    lo_sampler_params_default(&p);
    CHECK_INT_EQ(lo_sampler_create(&p, 0, &bad), LO_ERR_INVALID);
    lo_logit_bias b = {NV + 3, 1.0f};
    p.logit_bias = &b;
    p.n_logit_bias = 1;
    CHECK_INT_EQ(lo_sampler_create(&p, NV, &bad), LO_ERR_RANGE);
    CHECK(bad == NULL);
    lo_sampler_free(NULL);
}

int main(void) {
    test_greedy();
    test_seed();
    test_distribution();
    test_truncation();
    test_kept_random();
    test_penalties();
    test_bias();
    test_logprobs();
    test_edges();
    CHECK_INT_EQ(lo_alloc_live_bytes(), 0);
    return check_done();
}
