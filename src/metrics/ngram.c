/* Counting for the metrics: tokens interned to dense ids and an open-addressing table of
 * n-grams keyed by (kind, id sequence), both cleared per segment by a generation stamp so
 * that 100k short segments cost no memset or allocation each. */
#include <string.h>

#include "metrics/metrics_internal.h"

static uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    return mix64(h ^ n);
}

void mx_counter_free(mx_counter *c) {
    lo_free(c->is);
    lo_free(c->ns);
    mx_u32_free(&c->seq);
    mx_u32_free(&c->live);
    memset(c, 0, sizeof *c);
}

static size_t pow2_at_least(size_t n) {
    size_t c = 64;
    while (c < n && c < ((size_t)1 << 40)) c *= 2;
    return c;
}

lo_status mx_counter_reset(mx_counter *c, size_t n_tokens, size_t n_ngrams) {
    size_t want_i = pow2_at_least(n_tokens * 2 + 1), want_n = pow2_at_least(n_ngrams * 2 + 1);
    if (want_i > c->is_cap) {
        lo_free(c->is);
        c->is = lo_calloc(want_i, sizeof *c->is);
        c->is_cap = c->is ? want_i : 0;
        if (!c->is) return LO_ERR_NOMEM;
        c->is_gen = 0;
    }
    if (want_n > c->ns_cap) {
        lo_free(c->ns);
        c->ns = lo_calloc(want_n, sizeof *c->ns);
        c->ns_cap = c->ns ? want_n : 0;
        if (!c->ns) return LO_ERR_NOMEM;
        c->ns_gen = 0;
    }
    /* generation 0 marks never-used slots; on wrap-around clear for real */
    if (++c->is_gen == 0) {
        memset(c->is, 0, c->is_cap * sizeof *c->is);
        c->is_gen = 1;
    }
    if (++c->ns_gen == 0) {
        memset(c->ns, 0, c->ns_cap * sizeof *c->ns);
        c->ns_gen = 1;
    }
    c->n_ids = 0;
    c->seq.n = 0;
    c->live.n = 0;
    return LO_OK;
}

uint32_t mx_intern(mx_counter *c, const char *p, size_t len) {
    uint64_t h = hash_bytes(p, len);
    size_t mask = c->is_cap - 1, i = (size_t)h & mask;
    for (;;) {
        mx_intern_slot *s = &c->is[i];
        if (s->gen != c->is_gen) {
            s->gen = c->is_gen;
            s->hash = h;
            s->p = p;
            s->len = (uint32_t)len;
            s->id = c->n_ids++;
            return s->id;
        }
        if (s->hash == h && s->len == len && memcmp(s->p, p, len) == 0) return s->id;
        i = (i + 1) & mask;
    }
}

mx_ngram_slot *mx_ngram_find(mx_counter *c, uint32_t kind, uint32_t start, uint32_t n, bool insert) {
    const uint32_t *k = c->seq.p + start;
    uint64_t h = 0x9E3779B97F4A7C15ULL * (kind + 1);
    for (uint32_t j = 0; j < n; j++) h = (h ^ k[j]) * 0x100000001b3ULL;
    h = mix64(h ^ ((uint64_t)n << 32));
    size_t mask = c->ns_cap - 1, i = (size_t)h & mask;
    for (;;) {
        mx_ngram_slot *s = &c->ns[i];
        if (s->gen != c->ns_gen) {
            if (!insert) return NULL;
            memset(s, 0, sizeof *s);
            s->gen = c->ns_gen;
            s->hash = h;
            s->kind = kind;
            s->start = start;
            s->n = n;
            if (mx_u32_push(&c->live, (uint32_t)i)) return NULL;
            return s;
        }
        if (s->hash == h && s->kind == kind && s->n == n &&
            memcmp(c->seq.p + s->start, k, n * sizeof *k) == 0)
            return s;
        i = (i + 1) & mask;
    }
}
