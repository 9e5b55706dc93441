/* BLEU and chrF/chrF++ as sacreBLEU 2.x computes them: per-segment sufficient statistics
 * (clipped n-gram matches against the max over references; chrF's best reference by
 * F-score), summed over the corpus, then the score with the reference's operation order. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrics/metrics_internal.h"

#define SACREBLEU_VERSION "2.6.0"

void lo_bleu_opts_default(lo_bleu_opts *o) {
    o->tokenize = LO_BLEU_TOK_13A;
    o->lowercase = false;
    o->smooth = LO_BLEU_SMOOTH_EXP;
    o->smooth_value = NAN;
    o->effective_order = false;
    o->max_ngram_order = 4;
}

bool lo_bleu_parse_tokenize(const char *name, lo_bleu_tokenize *out) {
    static const char *const names[] = {"13a", "intl", "char", "none"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return *out = (lo_bleu_tokenize)i, true;
    return false;
}

bool lo_bleu_parse_smooth(const char *name, lo_bleu_smooth *out) {
    static const char *const names[] = {"exp", "floor", "add-k", "none"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return *out = (lo_bleu_smooth)i, true;
    return false;
}

static const char *tok_name(lo_bleu_tokenize t) {
    switch (t) {
    case LO_BLEU_TOK_13A: return "13a";
    case LO_BLEU_TOK_INTL: return "intl";
    case LO_BLEU_TOK_CHAR: return "char";
    default: return "none";
    }
}

static lo_status check_opts(const lo_bleu_opts *o) {
    if (o->max_ngram_order < 1 || o->max_ngram_order > LO_BLEU_MAX_ORDER)
        return lo_error(LO_ERR_RANGE, "use 1..16", "max n-gram order %d is out of range", o->max_ngram_order);
    if ((unsigned)o->tokenize > LO_BLEU_TOK_NONE || (unsigned)o->smooth > LO_BLEU_SMOOTH_NONE)
        return lo_error(LO_ERR_INVALID, NULL, "unknown BLEU tokenizer or smoothing method");
    if (!isnan(o->smooth_value) && !isfinite(o->smooth_value))
        return lo_error(LO_ERR_RANGE, NULL, "smoothing value must be finite");
    return LO_OK;
}

static double smooth_value(const lo_bleu_opts *o) {
    if (!isnan(o->smooth_value)) return o->smooth_value;
    return o->smooth == LO_BLEU_SMOOTH_FLOOR ? 0.1 : o->smooth == LO_BLEU_SMOOTH_ADD_K ? 1.0 : 0.0;
}

static double my_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

/* sacreBLEU's BLEU.compute_bleu. */
static void compute_bleu(const lo_bleu_opts *o, const int64_t *correct, const int64_t *total,
                         int64_t sys_len, int64_t ref_len, lo_bleu_score *out) {
    int N = o->max_ngram_order;
    double sv = smooth_value(o);
    out->max_order = N;
    for (int i = 0; i < N; i++) {
        out->counts[i] = correct[i];
        out->totals[i] = total[i];
        out->precisions[i] = 0.0;
    }
    out->sys_len = sys_len;
    out->ref_len = ref_len;
    out->ratio = ref_len ? (double)sys_len / (double)ref_len : 0.0;
    if (sys_len < ref_len) out->bp = sys_len > 0 ? exp(1.0 - (double)ref_len / (double)sys_len) : 0.0;
    else out->bp = 1.0;
    out->score = 0.0;
    bool any = false;
    for (int i = 0; i < N; i++) any |= correct[i] != 0;
    if (!any) return;
    double smooth_mteval = 1.0;
    int eff = N;
    for (int n = 1; n <= N; n++) {
        double c = (double)correct[n - 1], t = (double)total[n - 1];
        if (o->smooth == LO_BLEU_SMOOTH_ADD_K && n > 1) c += sv, t += sv;
        if (t == 0.0) break;
        if (o->effective_order) eff = n;
        if (c == 0.0) {
            if (o->smooth == LO_BLEU_SMOOTH_EXP) {
                smooth_mteval *= 2;
                out->precisions[n - 1] = 100. / (smooth_mteval * t);
            } else if (o->smooth == LO_BLEU_SMOOTH_FLOOR) {
                out->precisions[n - 1] = 100. * sv / t;
            }
        } else {
            out->precisions[n - 1] = 100. * c / t;
        }
    }
    double sum = 0.0;
    for (int i = 0; i < eff; i++) sum += my_log(out->precisions[i]);
    out->score = out->bp * exp(sum / eff);
}

lo_status lo_bleu_from_stats(const lo_bleu_opts *o, const int64_t *counts, const int64_t *totals,
                             int64_t sys_len, int64_t ref_len, lo_bleu_score *out) {
    lo_status st = check_opts(o);
    if (st) return st;
    memset(out, 0, sizeof *out);
    compute_bleu(o, counts, totals, sys_len, ref_len, out);
    out->n_refs = 1;
    return LO_OK;
}

/* ---- per-segment statistics ------------------------------------------------------- */

typedef struct seg_ctx {
    mx_text text;
    mx_buf store;        /* preprocessed texts, back to back */
    mx_toks toks;        /* token spans into store */
    mx_u32 spans;        /* per text: first token, token count (BLEU) or store offset, length */
    mx_counter cnt;
    mx_u32 cps;
} seg_ctx;

static void seg_free(seg_ctx *c) {
    mx_text_free(&c->text);
    mx_buf_free(&c->store);
    mx_toks_free(&c->toks);
    mx_u32_free(&c->spans);
    mx_counter_free(&c->cnt);
    mx_u32_free(&c->cps);
}

/* stats: [sys_len, ref_len, correct[N], total[N]]; refs may hold NULLs (skipped). */
static lo_status bleu_segment(seg_ctx *c, const lo_bleu_opts *o, const char *hyp, const char *const *refs,
                              size_t n_refs, size_t ref_stride, int64_t *stats, int *n_used) {
    int N = o->max_ngram_order;
    lo_status st;
    c->store.n = 0;
    c->toks.n = 0;
    c->spans.n = 0;
    size_t n_texts = 0;
    for (size_t r = 0; r <= n_refs; r++) {
        const char *s = r == 0 ? hyp : refs[(r - 1) * ref_stride];
        if (!s) continue;
        if ((st = mx_bleu_preprocess(&c->text, o, s, strlen(s)))) return st;
        size_t base = c->store.n, first = c->toks.n;
        if ((st = mx_buf_put(&c->store, c->text.a.p, c->text.a.n))) return st;
        if ((st = mx_split_ws(c->store.p + base, c->text.a.n, &c->toks))) return st;
        for (size_t k = first; k < c->toks.n; k++) {
            if ((size_t)c->toks.off[k] + base > UINT32_MAX) return lo_error(LO_ERR_RANGE, NULL, "segment too long");
            c->toks.off[k] += (uint32_t)base;
        }
        if ((st = mx_u32_push(&c->spans, (uint32_t)first)) || (st = mx_u32_push(&c->spans, (uint32_t)(c->toks.n - first))))
            return st;
        n_texts++;
    }
    if (n_texts < 2) return lo_error(LO_ERR_INVALID, "give every segment at least one reference", "a segment has no reference");
    *n_used = (int)(n_texts - 1);
    size_t hyp_len = c->spans.p[1];
    if ((st = mx_counter_reset(&c->cnt, c->toks.n, hyp_len * (size_t)N))) return st;
    if ((st = mx_u32_reserve(&c->cnt.seq, c->toks.n))) return st;
    for (size_t k = 0; k < c->toks.n; k++) c->cnt.seq.p[c->cnt.seq.n++] = mx_intern(&c->cnt, c->store.p + c->toks.off[k], c->toks.len[k]);
    for (int n = 1; n <= N; n++)
        for (size_t i = 0; i + (size_t)n <= hyp_len; i++) {
            mx_ngram_slot *s = mx_ngram_find(&c->cnt, 0, (uint32_t)i, (uint32_t)n, true);
            if (!s) return LO_ERR_NOMEM;
            s->hyp++;
        }
    int64_t closest_diff = -1, closest_len = -1;
    for (size_t r = 1; r < n_texts; r++) {
        size_t first = c->spans.p[2 * r], len = c->spans.p[2 * r + 1];
        int64_t diff = (int64_t)hyp_len - (int64_t)len;
        if (diff < 0) diff = -diff;
        if (closest_diff == -1 || diff < closest_diff) closest_diff = diff, closest_len = (int64_t)len;
        else if (diff == closest_diff && (int64_t)len < closest_len) closest_len = (int64_t)len;
        for (int n = 1; n <= N; n++)
            for (size_t i = 0; i + (size_t)n <= len; i++) {
                mx_ngram_slot *s = mx_ngram_find(&c->cnt, 0, (uint32_t)(first + i), (uint32_t)n, false);
                if (!s) continue;
                if (s->ref_gen != r) s->ref_gen = (uint32_t)r, s->ref_cur = 0;
                if (++s->ref_cur > s->ref_max) s->ref_max = s->ref_cur;
            }
    }
    stats[0] = (int64_t)hyp_len;
    stats[1] = closest_len;
    for (int i = 0; i < 2 * N; i++) stats[2 + i] = 0;
    for (size_t k = 0; k < c->cnt.live.n; k++) {
        const mx_ngram_slot *s = &c->cnt.ns[c->cnt.live.p[k]];
        stats[2 + s->n - 1] += s->hyp < s->ref_max ? s->hyp : s->ref_max;
        stats[2 + N + s->n - 1] += s->hyp;
    }
    return LO_OK;
}

lo_status lo_bleu_corpus(const lo_bleu_opts *o, const char *const *hyps, size_t n_segs,
                         const char *const *const *refs, size_t n_streams, lo_bleu_score *out) {
    lo_status st = check_opts(o);
    if (st) return st;
    if (n_streams == 0) return lo_error(LO_ERR_INVALID, "give at least one --ref", "no reference stream");
    if (n_streams > 4096) return lo_error(LO_ERR_RANGE, NULL, "too many reference streams");
    int N = o->max_ngram_order;
    int64_t sum[2 + 2 * LO_BLEU_MAX_ORDER] = {0}, seg[2 + 2 * LO_BLEU_MAX_ORDER];
    const char **rp = lo_calloc(n_streams, sizeof *rp);
    if (!rp) return LO_ERR_NOMEM;
    seg_ctx c;
    memset(&c, 0, sizeof c);
    int n_refs = -2;
    for (size_t i = 0; i < n_segs && !st; i++) {
        for (size_t r = 0; r < n_streams; r++) rp[r] = refs[r][i];
        int used = 0;
        st = bleu_segment(&c, o, hyps[i] ? hyps[i] : "", rp, n_streams, 1, seg, &used);
        if (st) break;
        n_refs = n_refs == -2 ? used : (n_refs == used ? n_refs : -1);
        for (int k = 0; k < 2 + 2 * N; k++) sum[k] += seg[k];
    }
    seg_free(&c);
    lo_free(rp);
    if (st) return st;
    memset(out, 0, sizeof *out);
    compute_bleu(o, sum + 2, sum + 2 + N, sum[0], sum[1], out);
    out->n_refs = n_refs == -2 ? (int)n_streams : n_refs;
    return LO_OK;
}

lo_status lo_bleu_sentence(const lo_bleu_opts *o, const char *hyp, const char *const *refs,
                           size_t n_refs, lo_bleu_score *out) {
    lo_status st = check_opts(o);
    if (st) return st;
    int N = o->max_ngram_order;
    int64_t seg[2 + 2 * LO_BLEU_MAX_ORDER];
    seg_ctx c;
    memset(&c, 0, sizeof c);
    int used = 0;
    st = bleu_segment(&c, o, hyp ? hyp : "", refs, n_refs, 1, seg, &used);
    seg_free(&c);
    if (st) return st;
    memset(out, 0, sizeof *out);
    compute_bleu(o, seg + 2, seg + 2 + N, seg[0], seg[1], out);
    out->n_refs = used;
    return LO_OK;
}

lo_status lo_bleu_tokenize_text(const lo_bleu_opts *o, const char *text, char **out) {
    lo_status st = check_opts(o);
    if (st) return st;
    mx_text t;
    memset(&t, 0, sizeof t);
    mx_toks tk = {0};
    mx_buf res = {0};
    if (!(st = mx_bleu_preprocess(&t, o, text, strlen(text))) && !(st = mx_split_ws(t.a.p, t.a.n, &tk))) {
        for (size_t i = 0; i < tk.n && !st; i++) {
            if (i) st = mx_buf_put(&res, " ", 1);
            if (!st) st = mx_buf_put(&res, t.a.p + tk.off[i], tk.len[i]);
        }
        if (!st) st = mx_buf_reserve(&res, 0);
    }
    mx_text_free(&t);
    mx_toks_free(&tk);
    if (st) {
        mx_buf_free(&res);
        return st;
    }
    res.p[res.n] = 0;
    *out = res.p;
    return LO_OK;
}

int lo_bleu_format(const lo_bleu_score *s, char *buf, size_t cap) {
    char prec[LO_BLEU_MAX_ORDER * 24];
    size_t n = 0;
    prec[0] = 0;
    for (int i = 0; i < s->max_order && n < sizeof prec; i++)
        n += (size_t)snprintf(prec + n, sizeof prec - n, "%s%.1f", i ? "/" : "", s->precisions[i]);
    return snprintf(buf, cap, "BLEU = %.2f %s (BP = %.3f ratio = %.3f hyp_len = %lld ref_len = %lld)", s->score,
                    prec, s->bp, s->ratio, (long long)s->sys_len, (long long)s->ref_len);
}

static void nrefs_str(int n, char *b, size_t cap) {
    if (n < 0) snprintf(b, cap, "var");
    else snprintf(b, cap, "%d", n);
}

int lo_bleu_signature(const lo_bleu_opts *o, int n_refs, char *buf, size_t cap) {
    char nr[16], sm[48];
    nrefs_str(n_refs, nr, sizeof nr);
    static const char *const sn[] = {"exp", "floor", "add-k", "none"};
    if (o->smooth == LO_BLEU_SMOOTH_FLOOR || o->smooth == LO_BLEU_SMOOTH_ADD_K)
        snprintf(sm, sizeof sm, "%s[%.2f]", sn[o->smooth], smooth_value(o));
    else
        snprintf(sm, sizeof sm, "%s", sn[(unsigned)o->smooth & 3]);
    return snprintf(buf, cap, "nrefs:%s|case:%s|eff:%s|tok:%s|smooth:%s|version:" SACREBLEU_VERSION, nr,
                    o->lowercase ? "lc" : "mixed", o->effective_order ? "yes" : "no", tok_name(o->tokenize), sm);
}

/* ---- chrF ------------------------------------------------------------------------- */

void lo_chrf_opts_default(lo_chrf_opts *o) {
    o->char_order = 6;
    o->word_order = 0;
    o->beta = 2;
    o->lowercase = false;
    o->whitespace = false;
    o->eps_smoothing = false;
}

static lo_status chrf_check(const lo_chrf_opts *o) {
    if (o->char_order < 0 || o->word_order < 0 || o->char_order + o->word_order < 1 ||
        o->char_order + o->word_order > LO_CHRF_MAX_ORDER)
        return lo_error(LO_ERR_RANGE, NULL, "chrF orders %d+%d out of range (1..16 in total)", o->char_order, o->word_order);
    if (o->beta < 0 || o->beta > 1000) return lo_error(LO_ERR_RANGE, NULL, "chrF beta %d out of range", o->beta);
    return LO_OK;
}

/* CHRF._compute_f_score over stats[order][3]. */
static double chrf_f(const lo_chrf_opts *o, const int64_t (*st)[3]) {
    const double eps = 1e-16;
    double score = 0.0, avg_prec = 0.0, avg_rec = 0.0;
    int eff = 0, order = o->char_order + o->word_order;
    double factor = (double)o->beta * (double)o->beta;
    for (int i = 0; i < order; i++) {
        int64_t n_hyp = st[i][0], n_ref = st[i][1], n_match = st[i][2];
        double prec = n_hyp > 0 ? (double)n_match / (double)n_hyp : eps;
        double rec = n_ref > 0 ? (double)n_match / (double)n_ref : eps;
        double denom = factor * prec + rec;
        score += denom > 0 ? ((1 + factor) * prec * rec / denom) : eps;
        if (n_hyp > 0 && n_ref > 0) {
            avg_prec += prec;
            avg_rec += rec;
            eff++;
        }
    }
    if (o->eps_smoothing) return 100 * score / order;
    if (eff == 0) avg_prec = avg_rec = 0.0;
    else {
        avg_prec /= eff;
        avg_rec /= eff;
    }
    if (avg_prec + avg_rec != 0.0) {
        score = (1 + factor) * avg_prec * avg_rec;
        score /= (factor * avg_prec) + avg_rec;
        return 100 * score;
    }
    return 0.0;
}

static bool is_punct_ascii(unsigned char c) { return c < 0x80 && c > 0x20 && c != 0x7F && !((c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z')); }

/* Appends the (lowercased) text's char code points and word ids to seq; *spans gets
 * [char start, char count, word start, word count]. */
static lo_status chrf_text(seg_ctx *c, const lo_chrf_opts *o, size_t off, size_t len, uint32_t spans[4]) {
    lo_status st;
    const char *s = c->store.p + off;
    c->cps.n = 0;
    if ((st = mx_decode(s, len, &c->cps))) return st;
    spans[0] = (uint32_t)c->cnt.seq.n;
    if ((st = mx_u32_reserve(&c->cnt.seq, c->cps.n))) return st;
    for (size_t i = 0; i < c->cps.n; i++)
        if (o->whitespace || !mx_py_isspace(c->cps.p[i])) c->cnt.seq.p[c->cnt.seq.n++] = c->cps.p[i];
    spans[1] = (uint32_t)(c->cnt.seq.n - spans[0]);
    spans[2] = (uint32_t)c->cnt.seq.n;
    if (o->word_order > 0) {
        c->toks.n = 0;
        if ((st = mx_split_ws(s, len, &c->toks))) return st;
        for (size_t k = 0; k < c->toks.n; k++) {
            const char *w = s + c->toks.off[k];
            size_t wl = c->toks.len[k], ncp = 0;
            for (size_t i = 0; i < wl; i++) ncp += ((unsigned char)w[i] & 0xC0) != 0x80;
            uint32_t ids[2];
            int n_ids = 1;
            if (ncp <= 1) ids[0] = mx_intern(&c->cnt, w, wl);
            else if (is_punct_ascii((unsigned char)w[wl - 1])) {
                ids[0] = mx_intern(&c->cnt, w, wl - 1);
                ids[1] = mx_intern(&c->cnt, w + wl - 1, 1);
                n_ids = 2;
            } else if (is_punct_ascii((unsigned char)w[0])) {
                ids[0] = mx_intern(&c->cnt, w, 1);
                ids[1] = mx_intern(&c->cnt, w + 1, wl - 1);
                n_ids = 2;
            } else ids[0] = mx_intern(&c->cnt, w, wl);
            for (int j = 0; j < n_ids; j++)
                if ((st = mx_u32_push(&c->cnt.seq, ids[j]))) return st;
        }
    }
    spans[3] = (uint32_t)(c->cnt.seq.n - spans[2]);
    return LO_OK;
}

static lo_status chrf_segment(seg_ctx *c, const lo_chrf_opts *o, const char *hyp, const char *const *refs,
                              size_t n_refs, int64_t (*best)[3], int *n_used) {
    lo_status st;
    int order = o->char_order + o->word_order;
    c->store.n = 0;
    c->spans.n = 0;
    size_t n_texts = 0, total_bytes = 0;
    for (size_t r = 0; r <= n_refs; r++) {
        const char *s = r == 0 ? hyp : refs[r - 1];
        if (!s) continue;
        size_t base = c->store.n, len = strlen(s);
        if (o->lowercase) {
            c->cps.n = 0;
            if ((st = mx_decode(s, len, &c->cps)) || (st = mx_py_lower(c->cps.p, c->cps.n, &c->text.c1)) ||
                (st = mx_encode(c->text.c1.p, c->text.c1.n, &c->store)))
                return st;
        } else if ((st = mx_buf_put(&c->store, s, len))) {
            return st;
        }
        if ((st = mx_u32_push(&c->spans, (uint32_t)base)) || (st = mx_u32_push(&c->spans, (uint32_t)(c->store.n - base))))
            return st;
        total_bytes += c->store.n - base;
        n_texts++;
    }
    if (n_texts < 2) return lo_error(LO_ERR_INVALID, "give every segment at least one reference", "a segment has no reference");
    *n_used = (int)(n_texts - 1);
    size_t hyp_bytes = c->spans.p[1];
    if ((st = mx_counter_reset(&c->cnt, total_bytes, (hyp_bytes + 1) * (size_t)order))) return st;
    uint32_t hs[4];
    if ((st = chrf_text(c, o, c->spans.p[0], c->spans.p[1], hs))) return st;
    int64_t hyp_tot[LO_CHRF_MAX_ORDER];
    for (int i = 0; i < order; i++) {
        bool word = i >= o->char_order;
        uint32_t n = (uint32_t)(word ? i - o->char_order + 1 : i + 1);
        uint32_t start = word ? hs[2] : hs[0], len = word ? hs[3] : hs[1];
        hyp_tot[i] = len >= n ? (int64_t)(len - n + 1) : 0;
        for (uint32_t p = 0; p + n <= len; p++) {
            mx_ngram_slot *s = mx_ngram_find(&c->cnt, (uint32_t)i, start + p, n, true);
            if (!s) return LO_ERR_NOMEM;
            s->hyp++;
        }
    }
    double best_f = -1.0;
    for (size_t r = 1; r < n_texts; r++) {
        uint32_t rs[4];
        if ((st = chrf_text(c, o, c->spans.p[2 * r], c->spans.p[2 * r + 1], rs))) return st;
        int64_t cur[LO_CHRF_MAX_ORDER][3];
        for (int i = 0; i < order; i++) {
            bool word = i >= o->char_order;
            uint32_t n = (uint32_t)(word ? i - o->char_order + 1 : i + 1);
            uint32_t start = word ? rs[2] : rs[0], len = word ? rs[3] : rs[1];
            int64_t n_ref = len >= n ? (int64_t)(len - n + 1) : 0, match = 0;
            for (uint32_t p = 0; p + n <= len; p++) {
                mx_ngram_slot *s = mx_ngram_find(&c->cnt, (uint32_t)i, start + p, n, false);
                if (!s) continue;
                if (s->ref_gen != r) s->ref_gen = (uint32_t)r, s->ref_cur = 0;
                if (s->ref_cur < s->hyp) match++;
                s->ref_cur++;
            }
            cur[i][0] = n_ref > 0 ? hyp_tot[i] : 0;
            cur[i][1] = n_ref;
            cur[i][2] = match;
        }
        double f = chrf_f(o, (const int64_t(*)[3])cur);
        if (f > best_f) {
            best_f = f;
            memcpy(best, cur, sizeof(int64_t) * 3 * (size_t)order);
        }
    }
    return LO_OK;
}

lo_status lo_chrf_corpus(const lo_chrf_opts *o, const char *const *hyps, size_t n_segs,
                         const char *const *const *refs, size_t n_streams, lo_chrf_score *out) {
    lo_status st = chrf_check(o);
    if (st) return st;
    if (n_streams == 0) return lo_error(LO_ERR_INVALID, "give at least one --ref", "no reference stream");
    if (n_streams > 4096) return lo_error(LO_ERR_RANGE, NULL, "too many reference streams");
    int order = o->char_order + o->word_order;
    memset(out, 0, sizeof *out);
    const char **rp = lo_calloc(n_streams, sizeof *rp);
    if (!rp) return LO_ERR_NOMEM;
    seg_ctx c;
    memset(&c, 0, sizeof c);
    int n_refs = -2;
    for (size_t i = 0; i < n_segs; i++) {
        for (size_t r = 0; r < n_streams; r++) rp[r] = refs[r][i];
        int64_t seg[LO_CHRF_MAX_ORDER][3];
        int used = 0;
        if ((st = chrf_segment(&c, o, hyps[i] ? hyps[i] : "", rp, n_streams, seg, &used))) break;
        n_refs = n_refs == -2 ? used : (n_refs == used ? n_refs : -1);
        for (int k = 0; k < order; k++)
            for (int j = 0; j < 3; j++) out->stats[k][j] += seg[k][j];
    }
    seg_free(&c);
    lo_free(rp);
    if (st) return st;
    out->score = chrf_f(o, (const int64_t(*)[3])out->stats);
    out->char_order = o->char_order;
    out->word_order = o->word_order;
    out->beta = o->beta;
    out->n_refs = n_refs == -2 ? (int)n_streams : n_refs;
    return LO_OK;
}

lo_status lo_chrf_sentence(const lo_chrf_opts *o, const char *hyp, const char *const *refs,
                           size_t n_refs, lo_chrf_score *out) {
    lo_status st = chrf_check(o);
    if (st) return st;
    memset(out, 0, sizeof *out);
    seg_ctx c;
    memset(&c, 0, sizeof c);
    int used = 0;
    st = chrf_segment(&c, o, hyp ? hyp : "", refs, n_refs, out->stats, &used);
    seg_free(&c);
    if (st) return st;
    out->score = chrf_f(o, (const int64_t(*)[3])out->stats);
    out->char_order = o->char_order;
    out->word_order = o->word_order;
    out->beta = o->beta;
    out->n_refs = used;
    return LO_OK;
}

int lo_chrf_format(const lo_chrf_score *s, char *buf, size_t cap) {
    char plus[LO_CHRF_MAX_ORDER + 1];
    int w = s->word_order < 0 ? 0 : s->word_order > LO_CHRF_MAX_ORDER ? LO_CHRF_MAX_ORDER : s->word_order;
    memset(plus, '+', (size_t)w);
    plus[w] = 0;
    return snprintf(buf, cap, "chrF%d%s = %.2f", s->beta, plus, s->score);
}

int lo_chrf_signature(const lo_chrf_opts *o, int n_refs, char *buf, size_t cap) {
    char nr[16];
    nrefs_str(n_refs, nr, sizeof nr);
    return snprintf(buf, cap, "nrefs:%s|case:%s|eff:%s|nc:%d|nw:%d|space:%s|version:" SACREBLEU_VERSION, nr,
                    o->lowercase ? "lc" : "mixed", o->eps_smoothing ? "no" : "yes", o->char_order, o->word_order,
                    o->whitespace ? "yes" : "no");
}
