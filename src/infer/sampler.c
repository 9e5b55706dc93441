/* The sampler: llama.cpp's default chain (logit bias → penalties → top-k → top-p → min-p
 * → temperature → draw) over one row of logits, with a seeded xoshiro256** generator and
 * scratch arrays sized once for n_vocab candidates. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer/infer_internal.h"

typedef struct cand {
    float logit;
    float w; /* scratch: an unnormalised probability */
    int32_t id;
} cand;

struct lo_sampler {
    lo_sampler_params p; /* logit_bias pointer cleared: the bias lives in `bias` */
    int32_t n_vocab;
    float *bias;     /* [n_vocab] */
    bool has_bias;
    int32_t *count;  /* [n_vocab] occurrences in the history window */
    int32_t *hist;   /* ring of the last repeat_last_n accepted ids */
    int32_t hist_cap, hist_n, hist_head;
    int32_t hist_alloc, top_alloc; /* sizes of hist and top (lo_sampler_reconfigure's limits) */
    cand *c;         /* [n_vocab] working candidates */
    lo_token_prob *top; /* [n_probs] */
    int32_t n_top;
    float last_logprob;
    uint64_t seed;
    uint64_t rng[4];
};

/* ---- random numbers: splitmix64 to seed xoshiro256** -------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

static void rng_seed(lo_sampler *s) {
    uint64_t x = s->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

/* ---- parameters, lifetime --------------------------------------------------------- */

void lo_sampler_params_default(lo_sampler_params *p) {
    memset(p, 0, sizeof *p);
    p->temperature = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = LO_SEED_RANDOM;
}

/* The checks lo_sampler_create and lo_sampler_reconfigure share (bias ids are checked
 * against n_vocab as they are applied). */
static lo_status check_params(const lo_sampler_params *p) {
    if (isnan(p->temperature) || isnan(p->top_p) || isnan(p->min_p) || isnan(p->repeat_penalty) ||
        isnan(p->frequency_penalty) || isnan(p->presence_penalty))
        return lo_error(LO_ERR_INVALID, NULL, "sampler: a parameter is NaN");
    if (p->top_p < 0 || p->min_p < 0 || p->min_p > 1)
        return lo_error(LO_ERR_RANGE, "top_p must be ≥ 0 and min_p within [0, 1]",
                        "sampler: top_p %g / min_p %g out of range", p->top_p, p->min_p);
    if (!(p->repeat_penalty > 0) || isinf(p->repeat_penalty))
        return lo_error(LO_ERR_RANGE, "use 1 to disable the repeat penalty", "sampler: repeat_penalty %g must be > 0",
                        p->repeat_penalty);
    if (p->repeat_last_n < 0 || p->repeat_last_n > (1 << 24))
        return lo_error(LO_ERR_RANGE, NULL, "sampler: repeat_last_n %d out of range [0, 2^24]", p->repeat_last_n);
    if (p->n_probs < 0) return lo_error(LO_ERR_RANGE, NULL, "sampler: n_probs %d is negative", p->n_probs);
    if (p->n_logit_bias < 0 || (p->n_logit_bias > 0 && !p->logit_bias))
        return lo_error(LO_ERR_INVALID, NULL, "sampler: bad logit bias list");
    return LO_OK;
}

/* Copies p (minus the bias list), applies its logit bias, resolves the seed and seeds the
 * generator: the state of a fresh sampler whose arrays are already sized. */
static lo_status apply_params(lo_sampler *s, const lo_sampler_params *p) {
    s->p = *p;
    s->p.logit_bias = NULL;
    s->p.n_logit_bias = 0;
    if (s->p.n_probs > s->n_vocab) s->p.n_probs = s->n_vocab;
    s->has_bias = false;
    for (int32_t i = 0; i < p->n_logit_bias; i++) {
        lo_status st = lo_sampler_add_bias(s, p->logit_bias[i].token, p->logit_bias[i].bias);
        if (st != LO_OK) return st;
    }
    if (p->seed == LO_SEED_RANDOM) {
        uint64_t x = (uint64_t)(lo_time_sec() * 1e9) ^ ((uint64_t)(uintptr_t)s << 16);
        s->seed = splitmix64(&x) & 0xFFFFFFFFull;
        if (s->seed == LO_SEED_RANDOM) s->seed = 0;
    } else {
        s->seed = p->seed;
    }
    rng_seed(s);
    s->n_top = 0;
    s->last_logprob = -INFINITY;
    return LO_OK;
}

lo_status lo_sampler_params_check(const lo_sampler_params *p, int32_t n_vocab) {
    lo_status st = check_params(p);
    if (st != LO_OK) return st;
    for (int32_t i = 0; i < p->n_logit_bias; i++) {
        const lo_logit_bias *b = &p->logit_bias[i];
        if (b->token < 0 || b->token >= n_vocab)
            return lo_error(LO_ERR_RANGE, NULL, "logit bias: token %d is outside the vocabulary (0..%d)", b->token,
                            n_vocab - 1);
        if (isnan(b->bias) || b->bias == INFINITY)
            return lo_error(LO_ERR_INVALID, "use a finite bias or -inf to ban", "logit bias for token %d is not valid",
                            b->token);
    }
    return LO_OK;
}

lo_status lo_sampler_create(const lo_sampler_params *p, int32_t n_vocab, lo_sampler **out) {
    *out = NULL;
    if (n_vocab <= 0) return lo_error(LO_ERR_INVALID, NULL, "sampler: n_vocab must be positive (got %d)", n_vocab);
    lo_status st = check_params(p);
    if (st != LO_OK) return st;

    lo_sampler *s = lo_calloc(1, sizeof *s);
    if (!s) return LO_ERR_NOMEM;
    s->n_vocab = n_vocab;
    s->hist_alloc = p->repeat_last_n > 0 ? p->repeat_last_n : 1;
    s->top_alloc = p->n_probs > 0 ? (p->n_probs < n_vocab ? p->n_probs : n_vocab) : 1;
    s->bias = lo_calloc((size_t)n_vocab, sizeof *s->bias);
    s->count = lo_calloc((size_t)n_vocab, sizeof *s->count);
    s->c = lo_calloc((size_t)n_vocab, sizeof *s->c);
    s->hist = lo_calloc((size_t)s->hist_alloc, sizeof *s->hist);
    s->top = lo_calloc((size_t)s->top_alloc, sizeof *s->top);
    if (!s->bias || !s->count || !s->c || !s->hist || !s->top) {
        lo_sampler_free(s);
        return LO_ERR_NOMEM;
    }
    s->hist_cap = p->repeat_last_n;
    if ((st = apply_params(s, p)) != LO_OK) {
        lo_sampler_free(s);
        return st;
    }
    *out = s;
    return LO_OK;
}

lo_status lo_sampler_reconfigure(lo_sampler *s, const lo_sampler_params *p) {
    lo_status st = check_params(p);
    if (st != LO_OK) return st;
    int32_t n_probs = p->n_probs < s->n_vocab ? p->n_probs : s->n_vocab;
    if (p->repeat_last_n > s->hist_alloc || (n_probs > 0 && n_probs > s->top_alloc))
        return lo_error(LO_ERR_RANGE, "create the sampler with the largest repeat_last_n and n_probs it will need",
                        "sampler: repeat_last_n %d / n_probs %d exceed the sizes it was created with (%d / %d)",
                        p->repeat_last_n, p->n_probs, s->hist_alloc, s->top_alloc);
    memset(s->bias, 0, (size_t)s->n_vocab * sizeof *s->bias);
    memset(s->count, 0, (size_t)s->n_vocab * sizeof *s->count);
    s->hist_cap = p->repeat_last_n;
    s->hist_n = s->hist_head = 0;
    if ((st = apply_params(s, p)) != LO_OK) {
        /* leave a usable sampler behind: no bias rather than half of one */
        memset(s->bias, 0, (size_t)s->n_vocab * sizeof *s->bias);
        s->has_bias = false;
        return st;
    }
    return LO_OK;
}

void lo_sampler_free(lo_sampler *s) {
    if (!s) return;
    lo_free(s->bias);
    lo_free(s->count);
    lo_free(s->c);
    lo_free(s->hist);
    lo_free(s->top);
    lo_free(s);
}

lo_status lo_sampler_add_bias(lo_sampler *s, int32_t id, float bias) {
    if (id < 0 || id >= s->n_vocab)
        return lo_error(LO_ERR_RANGE, NULL, "logit bias: token %d is outside the vocabulary (0..%d)", id, s->n_vocab - 1);
    if (isnan(bias) || bias == INFINITY)
        return lo_error(LO_ERR_INVALID, "use a finite bias or -inf to ban", "logit bias for token %d is not valid", id);
    s->bias[id] += bias;
    s->has_bias = true;
    return LO_OK;
}

void lo_sampler_accept(lo_sampler *s, int32_t id) {
    if (!s || s->hist_cap <= 0 || id < 0 || id >= s->n_vocab) return;
    if (s->hist_n == s->hist_cap) {
        s->count[s->hist[s->hist_head]]--;
        s->hist[s->hist_head] = id;
        s->hist_head = (s->hist_head + 1) % s->hist_cap;
    } else {
        s->hist[(s->hist_head + s->hist_n) % s->hist_cap] = id;
        s->hist_n++;
    }
    s->count[id]++;
}

void lo_sampler_reset(lo_sampler *s) {
    if (!s) return;
    memset(s->count, 0, (size_t)s->n_vocab * sizeof *s->count);
    s->hist_n = s->hist_head = 0;
    s->n_top = 0;
    s->last_logprob = -INFINITY;
    rng_seed(s);
}

const lo_token_prob *lo_sampler_top_probs(const lo_sampler *s, int32_t *n) {
    *n = s->n_top;
    return s->top;
}

float lo_sampler_last_logprob(const lo_sampler *s) { return s->last_logprob; }
uint64_t lo_sampler_seed(const lo_sampler *s) { return s->seed; }

/* ---- ordering: larger logit first, then lower id (a strict total order, so the result
 * never depends on the sort algorithm) ------------------------------------------------ */

static inline bool before(const cand *a, const cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cmp_cand(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static inline void swap_cand(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Moves the k first (by `before`) candidates to c[0..k) in some order (quickselect with a
 * median-of-three pivot). */
static void select_top(cand *c, int32_t n, int32_t k) {
    int32_t lo = 0, hi = n - 1;
    while (hi > lo) {
        int32_t mid = lo + (hi - lo) / 2;
        if (before(&c[mid], &c[lo])) swap_cand(&c[mid], &c[lo]);
        if (before(&c[hi], &c[lo])) swap_cand(&c[hi], &c[lo]);
        if (before(&c[hi], &c[mid])) swap_cand(&c[hi], &c[mid]);
        cand pivot = c[mid];
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (before(&c[i], &pivot)) i++;
            while (before(&pivot, &c[j])) j--;
            if (i <= j) {
                swap_cand(&c[i], &c[j]);
                i++;
                j--;
            }
        }
        /* now c[lo..j] ≤ pivot-side, c[i..hi] ≥ pivot-side */
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

/* ---- the chain -------------------------------------------------------------------- */

static inline bool penalties_on(const lo_sampler *s) {
    return s->hist_n > 0 &&
           (s->p.repeat_penalty != 1.0f || s->p.frequency_penalty != 0.0f || s->p.presence_penalty != 0.0f);
}

/* Logit bias, then llama_sampler_penalties: scale by r away from zero, then subtract
 * count × frequency + (count > 0) × presence. */
static inline float adjust_one(const lo_sampler *s, bool pen, int32_t i, float l) {
    if (s->has_bias) l += s->bias[i];
    if (pen && s->count[i] > 0) {
        if (l <= 0) l *= s->p.repeat_penalty;
        else l /= s->p.repeat_penalty;
        l -= (float)s->count[i] * s->p.frequency_penalty + s->p.presence_penalty;
    }
    return l;
}

void lo_sampler_adjust_logits(const lo_sampler *s, const float *logits, float *out) {
    const bool pen = penalties_on(s);
    for (int32_t i = 0; i < s->n_vocab; i++) out[i] = adjust_one(s, pen, i, logits[i]);
}

/* log-softmax statistics of the raw logits: top n_probs and the normaliser. */
static void raw_logprobs(lo_sampler *s, const float *logits, float max_logit) {
    double sum = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) sum += exp((double)logits[i] - max_logit);
    double lse = max_logit + log(sum);
    int32_t n = 0, cap = s->p.n_probs;
    for (int32_t i = 0; i < s->n_vocab && cap > 0; i++) {
        float l = logits[i];
        if (n == cap && !(l > s->top[n - 1].logprob)) continue; /* ties keep the lower id */
        int32_t j = n < cap ? n++ : n - 1;
        while (j > 0 && l > s->top[j - 1].logprob) {
            s->top[j] = s->top[j - 1];
            j--;
        }
        s->top[j].id = i;
        s->top[j].logprob = l;
    }
    for (int32_t j = 0; j < n; j++) s->top[j].logprob = (float)(s->top[j].logprob - lse);
    s->n_top = n;
    s->last_logprob = (float)lse; /* normaliser until the id is known */
}

/* Finds the smallest prefix (in `before` order) of c[0..n) whose weight reaches
 * target (c[i].w already set, total = their sum), rearranging c so that the prefix comes
 * first; returns its length. Quickselect on mass: expected O(n), no full sort. */
static int32_t top_p_cut(cand *c, int32_t n, double target) {
    int32_t lo = 0, hi = n;
    double acc = 0; /* weight of c[0..lo), all of which come before c[lo..hi) */
    while (hi - lo > 32) {
        int32_t mid = lo + (hi - lo) / 2, last = hi - 1;
        if (before(&c[mid], &c[lo])) swap_cand(&c[mid], &c[lo]);
        if (before(&c[last], &c[lo])) swap_cand(&c[last], &c[lo]);
        if (before(&c[last], &c[mid])) swap_cand(&c[last], &c[mid]);
        swap_cand(&c[mid], &c[last]); /* the median as pivot, parked at the end */
        const cand pivot = c[last];
        int32_t store = lo;
        double mass = 0;
        for (int32_t i = lo; i < last; i++)
            if (before(&c[i], &pivot)) {
                mass += c[i].w;
                swap_cand(&c[i], &c[store++]);
            }
        swap_cand(&c[store], &c[last]);
        if (acc + mass >= target) {
            hi = store;
        } else if (acc + mass + pivot.w >= target) {
            return store + 1;
        } else {
            acc += mass + pivot.w;
            lo = store + 1;
        }
    }
    qsort(c + lo, (size_t)(hi - lo), sizeof *c, cmp_cand);
    for (int32_t i = lo; i < hi; i++) {
        acc += c[i].w;
        if (acc >= target) return i + 1;
    }
    return hi > 0 ? hi : 1; /* rounding kept the sum just below target */
}

/* top-k → top-p → min-p over the candidates s->c[0..n); returns how many are kept (they
 * come first). */
static int32_t truncate(lo_sampler *s, int32_t n) {
    cand *c = s->c;
    bool sorted = false;
    /* top-k */
    if (s->p.top_k > 0 && s->p.top_k < n) {
        select_top(c, n, s->p.top_k);
        n = s->p.top_k;
        qsort(c, (size_t)n, sizeof *c, cmp_cand);
        sorted = true;
    }
    /* top-p and min-p each keep a prefix of the candidates in sorted order, so the
     * chain keeps the shorter of the two: min-p's prefix is counted in O(n), and
     * top-p's cut (its probabilities normalised over all n candidates, as it runs
     * before min-p) is searched only inside it. */
    const bool use_p = s->p.top_p < 1.0f, use_min = s->p.min_p > 0.0f;
    if ((use_p || use_min) && n > 1) {
        float mx = c[0].logit;
        if (!sorted)
            for (int32_t i = 1; i < n; i++) mx = c[i].logit > mx ? c[i].logit : mx;
        double sum = 0;
        if (use_p)
            for (int32_t i = 0; i < n; i++) sum += c[i].w = expf(c[i].logit - mx);
        int32_t limit = n;
        if (use_min) {
            /* logit ≥ max + log(p): probability ≥ p × the top probability */
            float thr = mx + logf(s->p.min_p);
            int32_t k = 0;
            if (sorted) {
                while (k < n && c[k].logit >= thr) k++;
            } else {
                for (int32_t i = 0; i < n; i++)
                    if (c[i].logit >= thr) swap_cand(&c[k++], &c[i]);
            }
            limit = k > 0 ? k : 1; /* the max always passes; guard against rounding */
        }
        if (use_p && limit > 1) {
            /* the smallest prefix whose probability reaches p (at least one token) */
            double target = (double)s->p.top_p * sum;
            if (sorted) {
                double cum = 0;
                for (int32_t i = 0; i < limit; i++) {
                    cum += c[i].w;
                    if (cum >= target) {
                        limit = i + 1;
                        break;
                    }
                }
            } else {
                int32_t cut = top_p_cut(c, limit, target);
                if (cut < limit) limit = cut;
            }
        }
        n = limit > 0 ? limit : 1;
    }
    return n;
}

/* Checks the logits, computes the requested logprobs and fills s->c with the tokens that
 * survive bias and penalties (in id order). */
static lo_status prepare(lo_sampler *s, const float *logits, int32_t *n_out, double *lse) {
    const int32_t nv = s->n_vocab;
    float max_raw = -INFINITY;
    for (int32_t i = 0; i < nv; i++) {
        float l = logits[i];
        if (isnan(l) || l == INFINITY)
            return lo_error(LO_ERR_INVALID, "the model produced invalid numbers (a broken file or a bug)",
                            "sampling: logit of token %d is %s", i, isnan(l) ? "NaN" : "+inf");
        if (l > max_raw) max_raw = l;
    }
    if (max_raw == -INFINITY)
        return lo_error(LO_ERR_INVALID, NULL, "sampling: every logit is -inf; no token can be sampled");
    *lse = NAN;
    if (s->p.n_probs > 0) {
        raw_logprobs(s, logits, max_raw);
        *lse = s->last_logprob;
    }

    /* bias and penalties, dropping banned (-inf) tokens */
    const bool pen = penalties_on(s);
    int32_t n = 0;
    for (int32_t i = 0; i < nv; i++) {
        float l = adjust_one(s, pen, i, logits[i]);
        if (isnan(l)) return lo_error(LO_ERR_INVALID, NULL, "sampling: penalised logit of token %d is NaN", i);
        if (l == -INFINITY) continue;
        s->c[n].logit = l;
        s->c[n].id = i;
        n++;
    }
    if (n == 0) return lo_error(LO_ERR_INVALID, "check the logit bias", "sampling: every token is banned (-inf)");
    *n_out = n;
    return LO_OK;
}

lo_status lo_sampler_kept(lo_sampler *s, const float *logits, int32_t *ids, int32_t *n_kept) {
    int32_t n = 0;
    double lse;
    *n_kept = 0;
    lo_status st = prepare(s, logits, &n, &lse);
    if (st != LO_OK) return st;
    n = truncate(s, n);
    for (int32_t i = 0; i < n; i++) ids[i] = s->c[i].id;
    *n_kept = n;
    return LO_OK;
}

lo_status lo_sampler_sample(lo_sampler *s, const float *logits, int32_t *out_id) {
    int32_t n = 0;
    double lse;
    *out_id = -1;
    lo_status st = prepare(s, logits, &n, &lse);
    if (st != LO_OK) return st;
    cand *c = s->c;

    int32_t id;
    if (s->p.temperature <= 0) {
        int32_t best = 0;
        for (int32_t i = 1; i < n; i++)
            if (before(&c[i], &c[best])) best = i;
        id = c[best].id;
    } else {
        n = truncate(s, n);
        /* temperature and the draw */
        float inv_t = 1.0f / s->p.temperature, mx = -INFINITY;
        for (int32_t i = 0; i < n; i++) mx = c[i].logit > mx ? c[i].logit : mx;
        double sum = 0;
        for (int32_t i = 0; i < n; i++) sum += c[i].w = expf((c[i].logit - mx) * inv_t);
        double target = rng_uniform(s->rng) * sum, cum = 0;
        id = c[n - 1].id;
        for (int32_t i = 0; i < n; i++) {
            cum += c[i].w;
            if (target < cum) {
                id = c[i].id;
                break;
            }
        }
    }
    s->last_logprob = s->p.n_probs > 0 ? (float)((double)logits[id] - lse) : NAN;
    *out_id = id;
    return LO_OK;
}
