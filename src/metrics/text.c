/* Text plumbing of the metrics module: growable buffers, UTF-8 with Python's semantics
 * (surrogateescape, str.isspace, str.lower, str.split) and sacreBLEU's tokenizers 13a,
 * intl, char and none, written from their documented regex rules. */
#include <string.h>
#include <utf8proc.h>

#include "metrics/metrics_internal.h"

/* ---- buffers ---------------------------------------------------------------------- */

lo_status mx_buf_reserve(mx_buf *b, size_t extra) {
    size_t need;
    if (lo_add_overflow(b->n, extra, &need) || lo_add_overflow(need, 1, &need))
        return lo_error(LO_ERR_NOMEM, NULL, "text too large");
    if (need <= b->cap) return LO_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return lo_error(LO_ERR_NOMEM, NULL, "text too large");
        cap *= 2;
    }
    char *p = lo_realloc(b->p, cap);
    if (!p) return LO_ERR_NOMEM;
    b->p = p;
    b->cap = cap;
    return LO_OK;
}

lo_status mx_buf_put(mx_buf *b, const char *s, size_t n) {
    lo_status st = mx_buf_reserve(b, n);
    if (st) return st;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return LO_OK;
}

void mx_buf_free(mx_buf *b) {
    lo_free(b->p);
    memset(b, 0, sizeof *b);
}

lo_status mx_u32_reserve(mx_u32 *v, size_t extra) {
    size_t need;
    if (lo_add_overflow(v->n, extra, &need)) return lo_error(LO_ERR_NOMEM, NULL, "text too large");
    if (need <= v->cap) return LO_OK;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 8) return lo_error(LO_ERR_NOMEM, NULL, "text too large");
        cap *= 2;
    }
    uint32_t *p = lo_realloc(v->p, cap * sizeof *p);
    if (!p) return LO_ERR_NOMEM;
    v->p = p;
    v->cap = cap;
    return LO_OK;
}

lo_status mx_u32_push(mx_u32 *v, uint32_t x) {
    if (v->n == v->cap) {
        lo_status st = mx_u32_reserve(v, 1);
        if (st) return st;
    }
    v->p[v->n++] = x;
    return LO_OK;
}

void mx_u32_free(mx_u32 *v) {
    lo_free(v->p);
    memset(v, 0, sizeof *v);
}

lo_status mx_toks_push(mx_toks *t, size_t off, size_t len) {
    if (off > UINT32_MAX || len > UINT32_MAX) return lo_error(LO_ERR_RANGE, NULL, "segment longer than 4 GiB");
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        uint32_t *o = lo_realloc(t->off, cap * sizeof *o);
        if (!o) return LO_ERR_NOMEM;
        t->off = o;
        uint32_t *l = lo_realloc(t->len, cap * sizeof *l);
        if (!l) return LO_ERR_NOMEM;
        t->len = l;
        t->cap = cap;
    }
    t->off[t->n] = (uint32_t)off;
    t->len[t->n] = (uint32_t)len;
    t->n++;
    return LO_OK;
}

void mx_toks_free(mx_toks *t) {
    lo_free(t->off);
    lo_free(t->len);
    memset(t, 0, sizeof *t);
}

/* ---- UTF-8 ------------------------------------------------------------------------ */

/* One code point at s[0..len) (len ≥ 1); *adv = bytes consumed. Strict: overlongs,
 * surrogates and values past U+10FFFF are invalid, and an invalid lead byte is escaped. */
static uint32_t decode1(const unsigned char *s, size_t len, size_t *adv) {
    unsigned c = s[0];
    if (c < 0x80) {
        *adv = 1;
        return c;
    }
    size_t need;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) need = 1, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) need = 2, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) need = 3, cp = c & 0x07, min = 0x10000;
    else goto bad;
    if (len < need + 1) goto bad;
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) goto bad;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
    *adv = need + 1;
    return cp;
bad:
    *adv = 1;
    return 0xDC00 + c;
}

lo_status mx_decode(const char *s, size_t len, mx_u32 *out) {
    lo_status st = mx_u32_reserve(out, len);
    if (st) return st;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t adv;
        out->p[out->n++] = decode1(u + i, len - i, &adv);
        i += adv;
    }
    return LO_OK;
}

lo_status mx_encode(const uint32_t *cp, size_t n, mx_buf *out) {
    size_t bytes;
    if (lo_mul_overflow(n, 4, &bytes)) return lo_error(LO_ERR_NOMEM, NULL, "text too large");
    lo_status st = mx_buf_reserve(out, bytes);
    if (st) return st;
    unsigned char *o = (unsigned char *)out->p + out->n;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cp[i];
        if (c < 0x80) *o++ = (unsigned char)c;
        else if (c >= 0xDC80 && c <= 0xDCFF) *o++ = (unsigned char)(c - 0xDC00); /* escaped byte */
        else if (c < 0x800) {
            *o++ = (unsigned char)(0xC0 | (c >> 6));
            *o++ = (unsigned char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            *o++ = (unsigned char)(0xE0 | (c >> 12));
            *o++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *o++ = (unsigned char)(0x80 | (c & 0x3F));
        } else {
            *o++ = (unsigned char)(0xF0 | (c >> 18));
            *o++ = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
            *o++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *o++ = (unsigned char)(0x80 | (c & 0x3F));
        }
    }
    out->n = (size_t)((char *)o - out->p);
    out->p[out->n] = 0;
    return LO_OK;
}

bool mx_py_isspace(uint32_t c) {
    if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    if (c < 0x85) return false;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Unicode "cased" and "case-ignorable" for the Final_Sigma rule (approximated from the
 * general category, which is what utf8proc offers). */
static bool is_cased(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT;
}
static bool is_case_ignorable(uint32_t c) {
    if (c == '\'' || c == '.' || c == ':' || c == 0xB7 || c == 0x2019) return true;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

lo_status mx_py_lower(const uint32_t *in, size_t n, mx_u32 *out) {
    out->n = 0;
    lo_status st = mx_u32_reserve(out, n + n / 8 + 4);
    if (st) return st;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (c < 0x80) {
            if (c >= 'A' && c <= 'Z') c += 32;
        } else if (c == 0x130) { /* İ → i + combining dot above (SpecialCasing) */
            if ((st = mx_u32_push(out, 'i'))) return st;
            c = 0x307;
        } else if (c == 0x3A3) { /* Σ: final form after a cased letter not followed by one */
            bool before = false, after = false;
            for (size_t j = i; j-- > 0;) {
                if (is_case_ignorable(in[j])) continue;
                before = is_cased(in[j]);
                break;
            }
            for (size_t j = i + 1; j < n; j++) {
                if (is_case_ignorable(in[j])) continue;
                after = is_cased(in[j]);
                break;
            }
            c = (before && !after) ? 0x3C2 : 0x3C3;
        } else if (!(c >= 0xDC80 && c <= 0xDCFF)) {
            c = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
        }
        if ((st = mx_u32_push(out, c))) return st;
    }
    return LO_OK;
}

lo_status mx_split_ws(const char *s, size_t len, mx_toks *t) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, start = 0;
    bool in_tok = false;
    while (i < len) {
        size_t adv = 1;
        bool ws;
        if (u[i] < 0x80) ws = mx_py_isspace(u[i]);
        else ws = mx_py_isspace(decode1(u + i, len - i, &adv));
        if (ws) {
            if (in_tok) {
                lo_status st = mx_toks_push(t, start, i - start);
                if (st) return st;
                in_tok = false;
            }
        } else if (!in_tok) {
            in_tok = true;
            start = i;
        }
        i += adv;
    }
    if (in_tok) return mx_toks_push(t, start, len - start);
    return LO_OK;
}

void mx_text_free(mx_text *t) {
    mx_buf_free(&t->a);
    mx_buf_free(&t->b);
    mx_u32_free(&t->c1);
    mx_u32_free(&t->c2);
}

/* ---- sacreBLEU tokenizers --------------------------------------------------------- */

/* Python's str.replace(old, new) on t->a, via t->b. */
static lo_status replace_all(mx_text *t, const char *old, const char *new_) {
    size_t ol = strlen(old), nl = strlen(new_);
    if (!t->a.n || !memmem(t->a.p, t->a.n, old, ol)) return LO_OK;
    t->b.n = 0;
    lo_status st;
    const char *p = t->a.p, *end = t->a.p + t->a.n;
    while (p < end) {
        const char *hit = memmem(p, (size_t)(end - p), old, ol);
        if (!hit) break;
        if ((st = mx_buf_put(&t->b, p, (size_t)(hit - p))) || (st = mx_buf_put(&t->b, new_, nl))) return st;
        p = hit + ol;
    }
    if ((st = mx_buf_put(&t->b, p, (size_t)(end - p)))) return st;
    mx_buf tmp = t->a;
    t->a = t->b;
    t->b = tmp;
    return LO_OK;
}

static bool is_13a_sym(unsigned char c) { /* [{-~[-` -&(-+:-@/] */
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
           (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* One pass of a two-character regex substitution, scanning left to right and resuming
 * after each match as re.sub does. mode 2: ([^0-9])([.,]) → "\1 \2 "; mode 3: ([.,])([^0-9])
 * → " \1 \2"; mode 4: ([0-9])(-) → "\1 \2 ". Byte-wise is exact here: the classes are
 * ASCII, and a multi-byte character can only be the "[^0-9]" side. */
static lo_status pass_13a(mx_text *t, int mode) {
    mx_buf *in = &t->a, *out = &t->b;
    out->n = 0;
    lo_status st = mx_buf_reserve(out, in->n * 3 + 4);
    if (st) return st;
    const unsigned char *s = (const unsigned char *)in->p;
    char *o = out->p;
    size_t n = in->n, i = 0;
    while (i < n) {
        if (i + 1 < n) {
            unsigned char x = s[i], y = s[i + 1];
            bool m = mode == 2   ? (!is_digit(x) && (y == '.' || y == ','))
                     : mode == 3 ? ((x == '.' || x == ',') && !is_digit(y))
                                 : (is_digit(x) && y == '-');
            if (m) {
                if (mode == 3) *o++ = ' ';
                *o++ = (char)x;
                *o++ = ' ';
                *o++ = (char)y;
                if (mode != 3) *o++ = ' ';
                i += 2;
                continue;
            }
        }
        *o++ = (char)s[i++];
    }
    out->n = (size_t)(o - out->p);
    out->p[out->n] = 0;
    mx_buf tmp = t->a;
    t->a = t->b;
    t->b = tmp;
    return LO_OK;
}

static lo_status tok_13a(mx_text *t) {
    static const char *const rep[][2] = {{"<skipped>", ""}, {"-\n", ""}, {"\n", " "}, {"&quot;", "\""},
                                         {"&amp;", "&"},    {"&lt;", "<"}, {"&gt;", ">"}};
    lo_status st;
    for (size_t k = 0; k < sizeof rep / sizeof rep[0]; k++)
        if ((st = replace_all(t, rep[k][0], rep[k][1]))) return st;
    /* " line " with every symbol of the first rule padded by spaces */
    t->b.n = 0;
    if ((st = mx_buf_reserve(&t->b, t->a.n * 3 + 4))) return st;
    char *o = t->b.p;
    *o++ = ' ';
    for (size_t i = 0; i < t->a.n; i++) {
        unsigned char c = (unsigned char)t->a.p[i];
        if (is_13a_sym(c)) {
            *o++ = ' ';
            *o++ = (char)c;
            *o++ = ' ';
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = ' ';
    t->b.n = (size_t)(o - t->b.p);
    t->b.p[t->b.n] = 0;
    mx_buf tmp = t->a;
    t->a = t->b;
    t->b = tmp;
    for (int mode = 2; mode <= 4; mode++)
        if ((st = pass_13a(t, mode))) return st;
    return LO_OK;
}

static bool cat_is(uint32_t c, char major) {
    if (c >= 0xDC80 && c <= 0xDCFF) return false; /* escaped bytes are no category */
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    switch (major) {
    case 'N': return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
    case 'P':
        return k == UTF8PROC_CATEGORY_PC || k == UTF8PROC_CATEGORY_PD || k == UTF8PROC_CATEGORY_PS ||
               k == UTF8PROC_CATEGORY_PE || k == UTF8PROC_CATEGORY_PI || k == UTF8PROC_CATEGORY_PF ||
               k == UTF8PROC_CATEGORY_PO;
    case 'S':
        return k == UTF8PROC_CATEGORY_SM || k == UTF8PROC_CATEGORY_SC || k == UTF8PROC_CATEGORY_SK ||
               k == UTF8PROC_CATEGORY_SO;
    default: return false;
    }
}

/* mteval-v14 international rules on code points (c1 → c2 → c1 ...). */
static lo_status tok_intl(mx_text *t) {
    lo_status st;
    mx_u32 *in = &t->c1, *out = &t->c2;
    for (int rule = 1; rule <= 3; rule++) {
        out->n = 0;
        if ((st = mx_u32_reserve(out, in->n * 3 + 4))) return st;
        uint32_t *s = in->p, *o = out->p;
        size_t n = in->n, i = 0;
        while (i < n) {
            uint32_t x = s[i];
            if (rule == 3) {
                if (cat_is(x, 'S')) {
                    *o++ = ' ';
                    *o++ = x;
                    *o++ = ' ';
                } else {
                    *o++ = x;
                }
                i++;
                continue;
            }
            if (i + 1 < n) {
                uint32_t y = s[i + 1];
                if (rule == 1 && !cat_is(x, 'N') && cat_is(y, 'P')) { /* (\P{N})(\p{P}) → "\1 \2 " */
                    *o++ = x, *o++ = ' ', *o++ = y, *o++ = ' ';
                    i += 2;
                    continue;
                }
                if (rule == 2 && cat_is(x, 'P') && !cat_is(y, 'N')) { /* (\p{P})(\P{N}) → " \1 \2" */
                    *o++ = ' ', *o++ = x, *o++ = ' ', *o++ = y;
                    i += 2;
                    continue;
                }
            }
            *o++ = x;
            i++;
        }
        out->n = (size_t)(o - out->p);
        mx_u32 tmp = *in;
        *in = *out;
        *out = tmp;
    }
    t->a.n = 0;
    return mx_encode(in->p, in->n, &t->a);
}

lo_status mx_bleu_preprocess(mx_text *t, const lo_bleu_opts *o, const char *s, size_t len) {
    lo_status st;
    t->a.n = 0;
    t->c1.n = 0;
    bool need_cps = o->lowercase || o->tokenize == LO_BLEU_TOK_INTL;
    if (need_cps) {
        if ((st = mx_decode(s, len, &t->c1))) return st;
        if (o->lowercase) {
            if ((st = mx_py_lower(t->c1.p, t->c1.n, &t->c2))) return st;
            mx_u32 tmp = t->c1;
            t->c1 = t->c2;
            t->c2 = tmp;
        }
        while (t->c1.n && mx_py_isspace(t->c1.p[t->c1.n - 1])) t->c1.n--; /* rstrip */
        if (o->tokenize == LO_BLEU_TOK_INTL) return tok_intl(t);
        if ((st = mx_encode(t->c1.p, t->c1.n, &t->a))) return st;
    } else {
        if ((st = mx_buf_put(&t->a, s, len))) return st;
        /* rstrip: trailing Python whitespace, found by splitting off the last token */
        size_t end = t->a.n;
        while (end) {
            unsigned char c = (unsigned char)t->a.p[end - 1];
            if (c < 0x80) {
                if (!mx_py_isspace(c)) break;
                end--;
                continue;
            }
            size_t b = end - 1; /* back to the lead byte (at most 3 continuation bytes) */
            while (b > 0 && end - b < 4 && ((unsigned char)t->a.p[b] & 0xC0) == 0x80) b--;
            size_t adv;
            uint32_t cp = decode1((const unsigned char *)t->a.p + b, end - b, &adv);
            if (b + adv != end || !mx_py_isspace(cp)) break;
            end = b;
        }
        t->a.n = end;
        t->a.p[end] = 0;
    }
    switch (o->tokenize) {
    case LO_BLEU_TOK_13A: return tok_13a(t);
    case LO_BLEU_TOK_CHAR: {
        /* " ".join(chars): every character alone; whitespace disappears in the split */
        t->c1.n = 0;
        if ((st = mx_decode(t->a.p, t->a.n, &t->c1))) return st;
        t->b.n = 0;
        for (size_t i = 0; i < t->c1.n; i++) {
            if (i && (st = mx_buf_put(&t->b, " ", 1))) return st;
            if ((st = mx_encode(&t->c1.p[i], 1, &t->b))) return st;
        }
        if ((st = mx_buf_reserve(&t->b, 0))) return st;
        mx_buf tmp = t->a;
        t->a = t->b;
        t->b = tmp;
        return LO_OK;
    }
    default: return LO_OK;
    }
}
