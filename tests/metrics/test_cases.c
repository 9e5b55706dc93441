/* Runs every case of ../shared/metrics/{bleu,rouge,stem}_cases.jsonl — sacreBLEU's and
 * rouge-score's own unit-test cases and NLTK Porter stems — through the metrics module and
 * compares each listed value under its rule (exact, abs:TOL, round:N). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "llmops/llmops.h"
#include "llmops/metrics.h"
#include "metrics/metrics_internal.h"

/* ---- comparing ---------------------------------------------------------------------- */

static const json_t *path_get(const json_t *obj, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *cur = obj;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, k);
    return cur;
}

static bool cmp_value(const json_t *exp, const json_t *got, const char *rule) {
    if (!exp || !got) return false;
    if (json_is_array(exp)) {
        if (!json_is_array(got) || json_array_size(exp) != json_array_size(got)) return false;
        for (size_t i = 0; i < json_array_size(exp); i++)
            if (!cmp_value(json_array_get(exp, i), json_array_get(got, i), rule)) return false;
        return true;
    }
    if (json_is_string(exp)) return json_is_string(got) && strcmp(json_string_value(exp), json_string_value(got)) == 0;
    if (!json_is_number(exp) || !json_is_number(got)) return false;
    double e = json_number_value(exp), g = json_number_value(got);
    if (strcmp(rule, "exact") == 0) return e == g;
    if (strncmp(rule, "abs:", 4) == 0) return fabs(e - g) <= atof(rule + 4);
    if (strncmp(rule, "round:", 6) == 0) {
        int n = atoi(rule + 6);
        char a[64], b[64];
        snprintf(a, sizeof a, "%.*f", n, e);
        snprintf(b, sizeof b, "%.*f", n, g);
        return strcmp(a, b) == 0;
    }
    return false;
}

/* Compares every key of case's "compare"; prints the differences. */
static bool compare_case(const json_t *c, const json_t *got) {
    const json_t *cmp = json_object_get(c, "compare"), *exp = json_object_get(c, "expected");
    const char *key;
    const json_t *rule;
    bool ok = true;
    json_object_foreach((json_t *)cmp, key, rule) {
        const json_t *e = path_get(exp, key), *g = path_get(got, key);
        if (!cmp_value(e, g, json_string_value(rule))) {
            char *es = e ? json_dumps(e, JSON_ENCODE_ANY) : NULL, *gs = g ? json_dumps(g, JSON_ENCODE_ANY) : NULL;
            fprintf(stderr, "  %s: %s: expected %s got %s (%s)\n", json_string_value(json_object_get(c, "id")), key,
                    es ? es : "-", gs ? gs : "-", json_string_value(rule));
            free(es);
            free(gs);
            ok = false;
        }
    }
    return ok;
}

/* ---- BLEU --------------------------------------------------------------------------- */

static void bleu_opts(const json_t *o, lo_bleu_opts *b) {
    lo_bleu_opts_default(b);
    const json_t *v;
    if ((v = json_object_get(o, "tokenize"))) CHECK(lo_bleu_parse_tokenize(json_string_value(v), &b->tokenize));
    if ((v = json_object_get(o, "smooth_method"))) CHECK(lo_bleu_parse_smooth(json_string_value(v), &b->smooth));
    b->lowercase = json_is_true(json_object_get(o, "lowercase"));
    b->effective_order = json_is_true(json_object_get(o, "effective_order"));
    v = json_object_get(o, "smooth_value");
    b->smooth_value = json_is_number(v) ? json_number_value(v) : NAN;
    v = json_object_get(o, "max_ngram_order");
    if (json_is_integer(v)) b->max_ngram_order = (int)json_integer_value(v);
}

static json_t *bleu_json(const lo_bleu_score *s) {
    json_t *o = json_object(), *c = json_array(), *t = json_array(), *p = json_array();
    for (int i = 0; i < s->max_order; i++) {
        json_array_append_new(c, json_integer(s->counts[i]));
        json_array_append_new(t, json_integer(s->totals[i]));
        json_array_append_new(p, json_real(s->precisions[i]));
    }
    json_object_set_new(o, "score", json_real(s->score));
    json_object_set_new(o, "counts", c);
    json_object_set_new(o, "totals", t);
    json_object_set_new(o, "precisions", p);
    json_object_set_new(o, "bp", json_real(s->bp));
    json_object_set_new(o, "ratio", json_real(s->ratio));
    json_object_set_new(o, "sys_len", json_integer(s->sys_len));
    json_object_set_new(o, "ref_len", json_integer(s->ref_len));
    return o;
}

static json_t *run_bleu(const json_t *c) {
    lo_bleu_opts o;
    bleu_opts(json_object_get(c, "options"), &o);
    const char *kind = json_string_value(json_object_get(c, "kind"));
    lo_bleu_score s;
    if (strcmp(kind, "stats") == 0) {
        const json_t *st = json_object_get(c, "stats");
        int64_t cor[LO_BLEU_MAX_ORDER] = {0}, tot[LO_BLEU_MAX_ORDER] = {0};
        for (size_t i = 0; i < json_array_size(json_object_get(st, "correct")) && i < LO_BLEU_MAX_ORDER; i++) {
            cor[i] = json_integer_value(json_array_get(json_object_get(st, "correct"), i));
            tot[i] = json_integer_value(json_array_get(json_object_get(st, "total"), i));
        }
        if (lo_bleu_from_stats(&o, cor, tot, json_integer_value(json_object_get(st, "sys_len")),
                               json_integer_value(json_object_get(st, "ref_len")), &s))
            return NULL;
        return bleu_json(&s);
    }
    const json_t *hyps = json_object_get(c, "hyps"), *refs = json_object_get(c, "refs");
    size_t n = json_array_size(hyps), ns = json_array_size(refs);
    const char *h[64];
    const char *rbuf[16][64];
    const char *const *rp[16];
    if (n > 64 || ns > 16) return NULL;
    for (size_t i = 0; i < n; i++) h[i] = json_string_value(json_array_get(hyps, i));
    for (size_t r = 0; r < ns; r++) {
        for (size_t i = 0; i < n; i++) rbuf[r][i] = json_string_value(json_array_get(json_array_get(refs, r), i));
        rp[r] = rbuf[r];
    }
    lo_status st;
    if (strcmp(kind, "sentence") == 0) {
        const char *sr[16];
        for (size_t r = 0; r < ns; r++) sr[r] = rbuf[r][0];
        st = lo_bleu_sentence(&o, h[0], sr, ns, &s);
    } else {
        st = lo_bleu_corpus(&o, h, n, rp, ns, &s);
    }
    if (st) {
        fprintf(stderr, "  bleu error: %s\n", lo_error_message());
        return NULL;
    }
    return bleu_json(&s);
}

/* ---- ROUGE -------------------------------------------------------------------------- */

/* String tokens → ids by first appearance in a shared table. */
typedef struct idmap {
    const char *s[512];
    size_t n;
} idmap;
static uint32_t idof(idmap *m, const char *s) {
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->s[i], s) == 0) return (uint32_t)i;
    if (m->n < 512) m->s[m->n++] = s;
    return (uint32_t)(m->n - 1);
}
static size_t ids(idmap *m, const json_t *arr, uint32_t *out) {
    size_t n = json_array_size(arr);
    for (size_t i = 0; i < n && i < 256; i++) out[i] = idof(m, json_string_value(json_array_get(arr, i)));
    return n < 256 ? n : 256;
}

static json_t *prf_json(const lo_rouge_prf *p) {
    json_t *o = json_object();
    json_object_set_new(o, "precision", json_real(p->precision));
    json_object_set_new(o, "recall", json_real(p->recall));
    json_object_set_new(o, "fmeasure", json_real(p->fmeasure));
    return o;
}

static json_t *tokens_json(const char *text, bool stem) {
    char **toks = NULL;
    size_t n = 0;
    if (lo_rouge_tokenize(text, stem, &toks, &n)) return NULL;
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(toks[i]));
    lo_free(toks);
    json_t *o = json_object();
    json_object_set_new(o, "tokens", a);
    return o;
}

static json_t *run_rouge(const json_t *c, int *skipped) {
    const char *kind = json_string_value(json_object_get(c, "kind"));
    const json_t *opt = json_object_get(c, "options");
    bool stem = json_is_true(json_object_get(opt, "use_stemmer"));
    idmap m = {.n = 0};
    uint32_t a[256], b[256], out[256];
    if (strcmp(kind, "score") == 0 || strcmp(kind, "score_multi") == 0) {
        if (json_is_true(json_object_get(opt, "split_summaries"))) {
            fprintf(stderr, "  SKIP %s: needs NLTK's punkt sentence model (split_summaries)\n",
                    json_string_value(json_object_get(c, "id")));
            (*skipped)++;
            return NULL;
        }
        const json_t *types = json_object_get(opt, "rouge_types");
        lo_rouge_type t[16];
        lo_rouge_prf r[16];
        size_t nt = json_array_size(types);
        for (size_t i = 0; i < nt && i < 16; i++) {
            const char *s = json_string_value(json_array_get(types, i));
            CHECK(lo_rouge_parse_type(s, strlen(s), &t[i]));
        }
        lo_status st;
        if (strcmp(kind, "score") == 0) {
            st = lo_rouge_score(json_string_value(json_object_get(c, "target")),
                                json_string_value(json_object_get(c, "prediction")), t, nt, stem, r);
        } else {
            const json_t *tg = json_object_get(c, "targets");
            const char *ts[16];
            size_t n = json_array_size(tg);
            for (size_t i = 0; i < n && i < 16; i++) ts[i] = json_string_value(json_array_get(tg, i));
            st = lo_rouge_score_multi(ts, n, json_string_value(json_object_get(c, "prediction")), t, nt, stem, r);
        }
        if (st) return NULL;
        json_t *o = json_object();
        for (size_t i = 0; i < nt; i++) json_object_set_new(o, lo_rouge_type_name(t[i]), prf_json(&r[i]));
        return o;
    }
    if (strcmp(kind, "tokenize") == 0) return tokens_json(json_string_value(json_object_get(c, "text")), stem);
    if (strcmp(kind, "lcs") == 0) {
        size_t nr = ids(&m, json_object_get(c, "ref"), a), nc = ids(&m, json_object_get(c, "can"), b), k = 0;
        if (mx_lcs_indices(a, nr, b, nc, out, &k)) return NULL;
        uint32_t work[257];
        json_t *o = json_object(), *arr = json_array();
        json_object_set_new(o, "lcs_length", json_integer((json_int_t)mx_lcs_length(a, nr, b, nc, work)));
        for (size_t i = 0; i < k; i++) json_array_append_new(arr, json_integer(out[i]));
        json_object_set_new(o, "lcs_indices", arr);
        return o;
    }
    if (strcmp(kind, "find_union") == 0) {
        const json_t *ls = json_object_get(c, "index_lists");
        uint32_t store[8][64];
        const uint32_t *lists[8];
        size_t lens[8], nl = json_array_size(ls), k = 0;
        uint32_t mx = 0;
        for (size_t l = 0; l < nl && l < 8; l++) {
            lens[l] = json_array_size(json_array_get(ls, l));
            for (size_t q = 0; q < lens[l] && q < 64; q++) {
                store[l][q] = (uint32_t)json_integer_value(json_array_get(json_array_get(ls, l), q));
                mx = store[l][q] > mx ? store[l][q] : mx;
            }
            lists[l] = store[l];
        }
        if (mx_find_union(lists, lens, nl, mx, out, &k)) return NULL;
        json_t *o = json_object(), *arr = json_array();
        for (size_t i = 0; i < k; i++) json_array_append_new(arr, json_integer(out[i]));
        json_object_set_new(o, "union", arr);
        return o;
    }
    if (strcmp(kind, "union_lcs") == 0 || strcmp(kind, "summary_level_lcs") == 0) {
        bool ul = strcmp(kind, "union_lcs") == 0;
        const json_t *rs = ul ? NULL : json_object_get(c, "ref_sents");
        const json_t *cs = json_object_get(c, ul ? "candidates" : "can_sents");
        uint32_t cstore[8][256], rstore[8][256];
        const uint32_t *cl[8], *rl[8];
        size_t cn[8], rn[8], ncs = json_array_size(cs), nrs = ul ? 1 : json_array_size(rs);
        if (ncs > 8 || nrs > 8) return NULL;
        for (size_t i = 0; i < nrs; i++) {
            rn[i] = ids(&m, ul ? json_object_get(c, "ref") : json_array_get(rs, i), rstore[i]);
            rl[i] = rstore[i];
        }
        for (size_t i = 0; i < ncs; i++) {
            cn[i] = ids(&m, json_array_get(cs, i), cstore[i]);
            cl[i] = cstore[i];
        }
        if (ul) {
            size_t k = 0;
            if (mx_union_lcs(rl[0], rn[0], cl, cn, ncs, out, &k)) return NULL;
            json_t *o = json_object(), *arr = json_array();
            for (size_t i = 0; i < k; i++) json_array_append_new(arr, json_string(m.s[rl[0][out[i]]]));
            json_object_set_new(o, "union_lcs", arr);
            return o;
        }
        lo_rouge_prf p;
        if (mx_summary_level_lcs(rl, rn, nrs, cl, cn, ncs, &p)) return NULL;
        return prf_json(&p);
    }
    fprintf(stderr, "  unknown rouge kind %s\n", kind);
    return NULL;
}

static json_t *run_stem(const json_t *c) {
    const char *kind = json_string_value(json_object_get(c, "kind"));
    if (strcmp(kind, "tokenize") == 0)
        return tokens_json(json_string_value(json_object_get(c, "text")),
                           json_is_true(json_object_get(json_object_get(c, "options"), "use_stemmer")));
    const char *w = json_string_value(json_object_get(c, "word"));
    char out[256];
    lo_porter_stem(w, strlen(w), out, sizeof out);
    json_t *o = json_object();
    json_object_set_new(o, "stem", json_string(out));
    return o;
}

static void run_file(const char *name, int which) {
    char path[512], rel[64];
    snprintf(rel, sizeof rel, "metrics/%s", name);
    check_shared(rel, path, sizeof path);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    int total = 0, passed = 0, skipped = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *c = json_loads(line, 0, &err);
        if (!c) continue;
        total++;
        int sk0 = skipped;
        json_t *got = which == 0 ? run_bleu(c) : which == 1 ? run_rouge(c, &skipped) : run_stem(c);
        if (skipped != sk0) {
            json_decref(c);
            continue;
        }
        bool ok = got && compare_case(c, got);
        if (!got) fprintf(stderr, "  %s: no result\n", json_string_value(json_object_get(c, "id")));
        CHECK_MSG(ok, "case %s", json_string_value(json_object_get(c, "id")));
        passed += ok;
        json_decref(got);
        json_decref(c);
    }
    free(line);
    fclose(f);
    fprintf(stderr, "%s: %d/%d passed", name, passed, total);
    if (skipped) fprintf(stderr, ", %d skipped (needs NLTK's punkt model)", skipped);
    fprintf(stderr, "\n");
}

int main(void) {
    run_file("bleu_cases.jsonl", 0);
    run_file("rouge_cases.jsonl", 1);
    run_file("stem_cases.jsonl", 2);
    CHECK_INT_EQ(lo_alloc_live_bytes(), 0);
    return check_done();
}
