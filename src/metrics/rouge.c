/* ROUGE-N, ROUGE-L and ROUGE-Lsum as Google's rouge-score computes them: its tokenizer
 * (Python lower(), runs of [a-z0-9], Porter stems on tokens longer than 3), n-gram overlap,
 * LCS, and the summary-level union-LCS with per-token hit budgets; plus exact match. */
#include <stdio.h>
#include <string.h>

#include "metrics/metrics_internal.h"

/* A tokenized text: token strings back to back in buf, spans in toks. */
typedef struct rtext {
    mx_buf buf;
    mx_toks toks;
} rtext;

typedef struct rctx {
    mx_u32 cps, low;
    mx_counter cnt;
    char *stem;
    size_t stem_cap;
} rctx;

static void rctx_free(rctx *c) {
    mx_u32_free(&c->cps);
    mx_u32_free(&c->low);
    mx_counter_free(&c->cnt);
    lo_free(c->stem);
}

static void rtext_free(rtext *t) {
    mx_buf_free(&t->buf);
    mx_toks_free(&t->toks);
}

static lo_status add_token(rctx *c, rtext *t, const char *s, size_t n, bool stem) {
    lo_status st;
    if (stem && n > 3) {
        if (n + 3 > c->stem_cap) {
            char *p = lo_realloc(c->stem, n + 3);
            if (!p) return LO_ERR_NOMEM;
            c->stem = p;
            c->stem_cap = n + 3;
        }
        n = lo_porter_stem(s, n, c->stem, c->stem_cap);
        s = c->stem;
    }
    if (n == 0) return LO_OK; /* VALID_TOKEN_PATTERN drops empty tokens */
    size_t off = t->buf.n;
    if ((st = mx_buf_put(&t->buf, s, n)) || (st = mx_buf_put(&t->buf, "", 0))) return st;
    t->buf.n++; /* keep the NUL as a separator */
    return mx_toks_push(&t->toks, off, n);
}

/* Appends the tokens of text[0..len) to t. */
static lo_status tokenize_into(rctx *c, const char *text, size_t len, bool stem, rtext *t) {
    lo_status st;
    c->cps.n = 0;
    if ((st = mx_decode(text, len, &c->cps)) || (st = mx_py_lower(c->cps.p, c->cps.n, &c->low))) return st;
    char word[256];
    mx_buf big = {0};
    size_t wn = 0;
    bool use_big = false;
    for (size_t i = 0; i <= c->low.n; i++) {
        uint32_t ch = i < c->low.n ? c->low.p[i] : ' ';
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (!use_big && wn < sizeof word) word[wn++] = (char)ch;
            else {
                if (!use_big) {
                    use_big = true;
                    big.n = 0;
                    if ((st = mx_buf_put(&big, word, wn))) goto out;
                }
                char b = (char)ch;
                if ((st = mx_buf_put(&big, &b, 1))) goto out;
            }
            continue;
        }
        if (use_big) {
            st = add_token(c, t, big.p, big.n, stem);
            use_big = false;
            wn = 0;
            if (st) goto out;
        } else if (wn) {
            if ((st = add_token(c, t, word, wn, stem))) goto out;
            wn = 0;
        }
    }
    st = LO_OK;
out:
    mx_buf_free(&big);
    return st;
}

lo_status lo_rouge_tokenize(const char *text, bool stem, char ***tokens, size_t *n_tokens) {
    rctx c;
    memset(&c, 0, sizeof c);
    rtext t;
    memset(&t, 0, sizeof t);
    lo_status st = tokenize_into(&c, text, strlen(text), stem, &t);
    rctx_free(&c);
    if (st) {
        rtext_free(&t);
        return st;
    }
    size_t ptrs, total;
    if (lo_mul_overflow(t.toks.n + 1, sizeof(char *), &ptrs) || lo_add_overflow(ptrs, t.buf.n + 1, &total)) {
        rtext_free(&t);
        return lo_error(LO_ERR_NOMEM, NULL, "text too large");
    }
    char **out = lo_malloc(total);
    if (!out) {
        rtext_free(&t);
        return LO_ERR_NOMEM;
    }
    char *strs = (char *)out + ptrs;
    if (t.buf.n) memcpy(strs, t.buf.p, t.buf.n);
    strs[t.buf.n] = 0;
    for (size_t i = 0; i < t.toks.n; i++) out[i] = strs + t.toks.off[i];
    out[t.toks.n] = NULL;
    *tokens = out;
    *n_tokens = t.toks.n;
    rtext_free(&t);
    return LO_OK;
}

/* ---- LCS -------------------------------------------------------------------------- */

size_t mx_lcs_length(const uint32_t *ref, size_t n_ref, const uint32_t *can, size_t n_can, uint32_t *work) {
    /* one row of _lcs_table over can, updated per ref token */
    for (size_t j = 0; j <= n_can; j++) work[j] = 0;
    for (size_t i = 1; i <= n_ref; i++) {
        uint32_t diag = 0;
        for (size_t j = 1; j <= n_can; j++) {
            uint32_t up = work[j];
            if (ref[i - 1] == can[j - 1]) work[j] = diag + 1;
            else if (work[j - 1] > up) work[j] = work[j - 1];
            diag = up;
        }
    }
    return work[n_can];
}

#define LCS_MAX_CELLS ((size_t)1 << 26) /* 256 MiB of uint32 */

lo_status mx_lcs_indices(const uint32_t *ref, size_t n_ref, const uint32_t *can, size_t n_can, uint32_t *idx_out,
                         size_t *n_out) {
    size_t cells;
    if (lo_mul_overflow(n_ref + 1, n_can + 1, &cells) || cells > LCS_MAX_CELLS)
        return lo_error(LO_ERR_RANGE, "split long summaries into sentences (one per line)",
                        "sentences of %zu and %zu tokens are too long for the LCS table", n_ref, n_can);
    uint32_t *t = lo_calloc(cells, sizeof *t);
    if (!t) return LO_ERR_NOMEM;
    size_t w = n_can + 1;
    for (size_t i = 1; i <= n_ref; i++)
        for (size_t j = 1; j <= n_can; j++) {
            if (ref[i - 1] == can[j - 1]) t[i * w + j] = t[(i - 1) * w + j - 1] + 1;
            else {
                uint32_t a = t[(i - 1) * w + j], b = t[i * w + j - 1];
                t[i * w + j] = a > b ? a : b;
            }
        }
    /* _backtrack_norec: walk back from the corner, collecting ref indices */
    size_t i = n_ref, j = n_can, k = t[n_ref * w + n_can];
    *n_out = k;
    while (i > 0 && j > 0) {
        if (ref[i - 1] == can[j - 1]) {
            idx_out[--k] = (uint32_t)(i - 1);
            i--, j--;
        } else if (t[i * w + j - 1] > t[(i - 1) * w + j]) {
            j--;
        } else {
            i--;
        }
    }
    lo_free(t);
    return LO_OK;
}

lo_status mx_find_union(const uint32_t *const *lists, const size_t *lens, size_t n_lists, size_t max_index,
                        uint32_t *idx_out, size_t *n_out) {
    uint8_t *mark = lo_calloc(max_index + 1, 1);
    if (!mark) return LO_ERR_NOMEM;
    for (size_t l = 0; l < n_lists; l++)
        for (size_t q = 0; q < lens[l]; q++)
            if (lists[l][q] <= max_index) mark[lists[l][q]] = 1;
    size_t n = 0;
    for (size_t i = 0; i <= max_index; i++)
        if (mark[i]) idx_out[n++] = (uint32_t)i;
    *n_out = n;
    lo_free(mark);
    return LO_OK;
}

lo_status mx_union_lcs(const uint32_t *ref, size_t n_ref, const uint32_t *const *cans, const size_t *can_lens,
                       size_t n_cans, uint32_t *idx_out, size_t *n_out) {
    *n_out = 0;
    if (!n_ref) return LO_OK;
    uint32_t *idx = lo_calloc(n_cans * n_ref + 1, sizeof *idx);
    const uint32_t **lists = lo_calloc(n_cans + 1, sizeof *lists);
    size_t *lens = lo_calloc(n_cans + 1, sizeof *lens);
    lo_status st = (idx && lists && lens) ? LO_OK : LO_ERR_NOMEM;
    if (!st && n_cans > SIZE_MAX / n_ref) st = LO_ERR_NOMEM;
    for (size_t c = 0; c < n_cans && !st; c++) {
        lists[c] = idx + c * n_ref;
        st = mx_lcs_indices(ref, n_ref, cans[c], can_lens[c], idx + c * n_ref, &lens[c]);
    }
    if (!st) st = mx_find_union(lists, lens, n_cans, n_ref - 1, idx_out, n_out);
    lo_free(idx);
    lo_free(lists);
    lo_free(lens);
    return st;
}

static double fmeasure(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

lo_status mx_summary_level_lcs(const uint32_t *const *ref_sents, const size_t *ref_lens, size_t n_ref,
                               const uint32_t *const *can_sents, const size_t *can_lens, size_t n_can,
                               lo_rouge_prf *out) {
    memset(out, 0, sizeof *out);
    if (!n_ref || !n_can) return LO_OK;
    size_t m = 0, n = 0;
    uint32_t max_id = 0;
    for (size_t i = 0; i < n_ref; i++) {
        m += ref_lens[i];
        for (size_t k = 0; k < ref_lens[i]; k++) max_id = ref_sents[i][k] > max_id ? ref_sents[i][k] : max_id;
    }
    for (size_t i = 0; i < n_can; i++) {
        n += can_lens[i];
        for (size_t k = 0; k < can_lens[i]; k++) max_id = can_sents[i][k] > max_id ? can_sents[i][k] : max_id;
    }
    if (!m || !n) return LO_OK;
    int64_t *cnt_r = lo_calloc((size_t)max_id + 1, sizeof *cnt_r), *cnt_c = lo_calloc((size_t)max_id + 1, sizeof *cnt_c);
    size_t max_len = 0;
    for (size_t i = 0; i < n_ref; i++) max_len = ref_lens[i] > max_len ? ref_lens[i] : max_len;
    uint32_t *u = lo_calloc(max_len + 1, sizeof *u);
    lo_status st = (cnt_r && cnt_c && u) ? LO_OK : LO_ERR_NOMEM;
    if (!st) {
        for (size_t i = 0; i < n_ref; i++)
            for (size_t k = 0; k < ref_lens[i]; k++) cnt_r[ref_sents[i][k]]++;
        for (size_t i = 0; i < n_can; i++)
            for (size_t k = 0; k < can_lens[i]; k++) cnt_c[can_sents[i][k]]++;
        int64_t hits = 0;
        for (size_t i = 0; i < n_ref && !st; i++) {
            size_t k = 0;
            if ((st = mx_union_lcs(ref_sents[i], ref_lens[i], can_sents, can_lens, n_can, u, &k))) break;
            for (size_t q = 0; q < k; q++) {
                uint32_t tok = ref_sents[i][u[q]];
                if (cnt_c[tok] > 0 && cnt_r[tok] > 0) {
                    hits++;
                    cnt_c[tok]--;
                    cnt_r[tok]--;
                }
            }
        }
        if (!st) {
            out->recall = (double)hits / (double)m;
            out->precision = (double)hits / (double)n;
            out->fmeasure = fmeasure(out->precision, out->recall);
        }
    }
    lo_free(cnt_r);
    lo_free(cnt_c);
    lo_free(u);
    return st;
}

/* ---- scoring ---------------------------------------------------------------------- */

bool lo_rouge_parse_type(const char *name, size_t len, lo_rouge_type *out) {
    if (len == 6 && memcmp(name, "rouge", 5) == 0 && name[5] >= '1' && name[5] <= '9') {
        *out = name[5] - '0';
        return true;
    }
    if (len == 6 && memcmp(name, "rougeL", 6) == 0) return *out = LO_ROUGE_L, true;
    if (len == 9 && memcmp(name, "rougeLsum", 9) == 0) return *out = LO_ROUGE_LSUM, true;
    return false;
}

const char *lo_rouge_type_name(lo_rouge_type t) {
    static const char *const n[] = {"rouge0", "rouge1", "rouge2", "rouge3", "rouge4",
                                    "rouge5", "rouge6", "rouge7", "rouge8", "rouge9"};
    if (t == LO_ROUGE_L) return "rougeL";
    if (t == LO_ROUGE_LSUM) return "rougeLsum";
    if (t >= 1 && t <= 9) return n[t];
    return "?";
}

/* Token ids of a text (interned in c->cnt, which must stay alive); tokens kept in t. */
static lo_status ids_of(rctx *c, rtext *t, mx_u32 *ids) {
    lo_status st;
    ids->n = 0;
    if ((st = mx_u32_reserve(ids, t->toks.n))) return st;
    for (size_t i = 0; i < t->toks.n; i++) ids->p[ids->n++] = mx_intern(&c->cnt, t->buf.p + t->toks.off[i], t->toks.len[i]);
    return LO_OK;
}

/* Lsum: sentences split on '\n', empty strings dropped, each tokenized. */
static lo_status lsum_sents(rctx *c, const char *text, bool stem, rtext *t, mx_u32 *sent_ends) {
    lo_status st;
    const char *p = text;
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len) {
            if ((st = tokenize_into(c, p, len, stem, t))) return st;
            if ((st = mx_u32_push(sent_ends, (uint32_t)t->toks.n))) return st;
        }
        if (!nl) break;
        p = nl + 1;
    }
    return LO_OK;
}

static lo_status score_lsum(const char *target, const char *prediction, bool stem, lo_rouge_prf *out) {
    rctx c;
    memset(&c, 0, sizeof c);
    rtext tt = {0}, tp = {0};
    memset(&tt, 0, sizeof tt);
    memset(&tp, 0, sizeof tp);
    mx_u32 et = {0}, ep = {0}, it = {0}, ip = {0};
    const uint32_t **rs = NULL, **cs = NULL;
    size_t *rl = NULL, *cl = NULL;
    lo_status st;
    if ((st = lsum_sents(&c, target, stem, &tt, &et)) || (st = lsum_sents(&c, prediction, stem, &tp, &ep))) goto done;
    if ((st = mx_counter_reset(&c.cnt, tt.toks.n + tp.toks.n, 1))) goto done;
    if ((st = ids_of(&c, &tt, &it)) || (st = ids_of(&c, &tp, &ip))) goto done;
    rs = lo_calloc(et.n + 1, sizeof *rs);
    cs = lo_calloc(ep.n + 1, sizeof *cs);
    rl = lo_calloc(et.n + 1, sizeof *rl);
    cl = lo_calloc(ep.n + 1, sizeof *cl);
    if (!rs || !cs || !rl || !cl) {
        st = LO_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < et.n; i++) {
        size_t b = i ? et.p[i - 1] : 0;
        rs[i] = it.p + b;
        rl[i] = et.p[i] - b;
    }
    for (size_t i = 0; i < ep.n; i++) {
        size_t b = i ? ep.p[i - 1] : 0;
        cs[i] = ip.p + b;
        cl[i] = ep.p[i] - b;
    }
    st = mx_summary_level_lcs(rs, rl, et.n, cs, cl, ep.n, out);
done:
    lo_free(rs);
    lo_free(cs);
    lo_free(rl);
    lo_free(cl);
    mx_u32_free(&et);
    mx_u32_free(&ep);
    mx_u32_free(&it);
    mx_u32_free(&ip);
    rtext_free(&tt);
    rtext_free(&tp);
    rctx_free(&c);
    return st;
}

lo_status lo_rouge_score(const char *target, const char *prediction, const lo_rouge_type *types, size_t n_types,
                         bool stem, lo_rouge_prf *out) {
    for (size_t k = 0; k < n_types; k++)
        if (!((types[k] >= 1 && types[k] <= 9) || types[k] == LO_ROUGE_L || types[k] == LO_ROUGE_LSUM))
            return lo_error(LO_ERR_INVALID, "use rouge1..rouge9, rougeL, rougeLsum", "invalid rouge type %d", types[k]);
    if (!target) target = "";
    if (!prediction) prediction = "";
    rctx c;
    memset(&c, 0, sizeof c);
    rtext tt, tp;
    memset(&tt, 0, sizeof tt);
    memset(&tp, 0, sizeof tp);
    mx_u32 it = {0}, ip = {0}, work = {0};
    lo_status st = LO_OK;
    bool need_tokens = false;
    for (size_t k = 0; k < n_types; k++) need_tokens |= types[k] != LO_ROUGE_LSUM;
    if (need_tokens) {
        if ((st = tokenize_into(&c, target, strlen(target), stem, &tt)) ||
            (st = tokenize_into(&c, prediction, strlen(prediction), stem, &tp)))
            goto done;
    }
    for (size_t k = 0; k < n_types && !st; k++) {
        lo_rouge_prf *o = &out[k];
        memset(o, 0, sizeof *o);
        if (types[k] == LO_ROUGE_LSUM) {
            st = score_lsum(target, prediction, stem, o);
            continue;
        }
        size_t nt = tt.toks.n, np = tp.toks.n;
        if ((st = mx_counter_reset(&c.cnt, nt + np, nt + 1)) || (st = ids_of(&c, &tt, &it)) ||
            (st = mx_u32_reserve(&c.cnt.seq, nt + np)))
            break;
        if ((st = ids_of(&c, &tp, &ip))) break;
        if (types[k] == LO_ROUGE_L) {
            if (!nt || !np) continue;
            work.n = 0;
            if ((st = mx_u32_reserve(&work, np + 1))) break;
            size_t l = mx_lcs_length(it.p, nt, ip.p, np, work.p);
            o->precision = (double)l / (double)np;
            o->recall = (double)l / (double)nt;
            o->fmeasure = fmeasure(o->precision, o->recall);
            continue;
        }
        uint32_t n = (uint32_t)types[k];
        if (nt) memcpy(c.cnt.seq.p, it.p, nt * sizeof(uint32_t));
        if (np) memcpy(c.cnt.seq.p + nt, ip.p, np * sizeof(uint32_t));
        c.cnt.seq.n = nt + np;
        int64_t t_cnt = nt >= n ? (int64_t)(nt - n + 1) : 0, p_cnt = np >= n ? (int64_t)(np - n + 1) : 0, inter = 0;
        for (size_t i = 0; i + n <= nt; i++) {
            mx_ngram_slot *s = mx_ngram_find(&c.cnt, n, (uint32_t)i, n, true);
            if (!s) {
                st = LO_ERR_NOMEM;
                break;
            }
            s->hyp++;
        }
        for (size_t i = 0; !st && i + n <= np; i++) {
            mx_ngram_slot *s = mx_ngram_find(&c.cnt, n, (uint32_t)(nt + i), n, false);
            if (s && s->ref_cur++ < s->hyp) inter++;
        }
        o->precision = (double)inter / (double)(p_cnt > 1 ? p_cnt : 1);
        o->recall = (double)inter / (double)(t_cnt > 1 ? t_cnt : 1);
        o->fmeasure = fmeasure(o->precision, o->recall);
    }
done:
    mx_u32_free(&it);
    mx_u32_free(&ip);
    mx_u32_free(&work);
    rtext_free(&tt);
    rtext_free(&tp);
    rctx_free(&c);
    return st;
}

lo_status lo_rouge_score_multi(const char *const *targets, size_t n_targets, const char *prediction,
                               const lo_rouge_type *types, size_t n_types, bool stem, lo_rouge_prf *out) {
    if (n_targets == 0) return lo_error(LO_ERR_INVALID, NULL, "score_multi needs at least one target");
    lo_rouge_prf *cur = lo_calloc(n_types ? n_types : 1, sizeof *cur);
    if (!cur) return LO_ERR_NOMEM;
    lo_status st = LO_OK;
    for (size_t t = 0; t < n_targets && !st; t++) {
        if ((st = lo_rouge_score(targets[t], prediction, types, n_types, stem, cur))) break;
        for (size_t k = 0; k < n_types; k++)
            if (t == 0 || cur[k].fmeasure > out[k].fmeasure) out[k] = cur[k]; /* argmax: first max */
    }
    lo_free(cur);
    return st;
}

/* ---- exact match ------------------------------------------------------------------ */

bool lo_exact_match(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

/* SQuAD normalize_answer: lower, drop ASCII punctuation, drop articles, collapse spaces. */
static lo_status squad_norm(const char *s, mx_buf *out) {
    mx_u32 cps = {0}, low = {0};
    mx_buf tmp = {0};
    mx_toks tk = {0};
    lo_status st;
    if ((st = mx_decode(s, strlen(s), &cps)) || (st = mx_py_lower(cps.p, cps.n, &low))) goto done;
    size_t w = 0;
    for (size_t i = 0; i < low.n; i++) {
        uint32_t c = low.p[i];
        if (c < 0x80 && c > 0x20 && c != 0x7F && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) continue;
        low.p[w++] = c;
    }
    if ((st = mx_encode(low.p, w, &tmp)) || (st = mx_split_ws(tmp.p, tmp.n, &tk))) goto done;
    out->n = 0;
    if ((st = mx_buf_reserve(out, tmp.n))) goto done;
    bool first = true;
    for (size_t i = 0; i < tk.n; i++) {
        const char *p = tmp.p + tk.off[i];
        size_t n = tk.len[i];
        if ((n == 1 && p[0] == 'a') || (n == 2 && memcmp(p, "an", 2) == 0) || (n == 3 && memcmp(p, "the", 3) == 0))
            continue;
        if (!first && (st = mx_buf_put(out, " ", 1))) goto done;
        if ((st = mx_buf_put(out, p, n))) goto done;
        first = false;
    }
    out->p[out->n] = 0;
done:
    mx_u32_free(&cps);
    mx_u32_free(&low);
    mx_buf_free(&tmp);
    mx_toks_free(&tk);
    return st;
}

bool lo_exact_match_norm(const char *a, const char *b) {
    mx_buf x = {0}, y = {0};
    bool eq = false;
    if (!squad_norm(a ? a : "", &x) && !squad_norm(b ? b : "", &y)) eq = x.n == y.n && memcmp(x.p, y.p, x.n) == 0;
    mx_buf_free(&x);
    mx_buf_free(&y);
    return eq;
}
