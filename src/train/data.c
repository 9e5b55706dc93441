/* train: plain-text training data — a hostile UTF-8 file split into documents (blank-line
 * separated or one per line), tokenized and packed into one stream with EOS after each
 * document, a validation split by documents, and the seeded batch loader. */
#include <string.h>

#include "train/train_internal.h"

/* Length of the valid UTF-8 sequence at s (1–4), or 0 when invalid (overlongs,
 * surrogates and code points past U+10FFFF included). */
static int utf8_len(const uint8_t *s, size_t n) {
    const uint8_t c = s[0];
    if (c < 0x80) return 1;
    int len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0)
        len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static bool blank_line(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

static lo_status push(lo_train_data *d, int64_t *cap, int32_t id) {
    if (d->n_ids == *cap) {
        int64_t nc = *cap ? *cap * 2 : 4096;
        int32_t *p = lo_realloc(d->ids, (size_t)nc * sizeof *p);
        if (!p) return LO_ERR_NOMEM;
        d->ids = p, *cap = nc;
    }
    d->ids[d->n_ids++] = id;
    return LO_OK;
}

static lo_status add_doc(lo_train_data *d, int64_t *cap, int64_t *doc_cap, const lo_tokenizer *tok, const char *text,
                         size_t len, lo_tokens *tmp, const char *path, int64_t line) {
    tmp->n = 0;
    lo_status s = lo_tokenize(tok, text, len, false, false, tmp);
    if (s) return lo_error_wrap(s, "%s:%lld: tokenizing the document", path, (long long)line);
    if (d->n_docs + 1 >= *doc_cap) {
        int64_t nc = *doc_cap * 2;
        int64_t *p = lo_realloc(d->doc_start, (size_t)nc * sizeof *p);
        if (!p) return LO_ERR_NOMEM;
        d->doc_start = p, *doc_cap = nc;
    }
    d->doc_start[d->n_docs] = d->n_ids;
    const int32_t bos = lo_tokenizer_bos(tok);
    if (lo_tokenizer_add_bos(tok) && bos >= 0 && (s = push(d, cap, bos))) return s;
    for (int64_t i = 0; i < tmp->n; i++)
        if ((s = push(d, cap, tmp->ids[i]))) return s;
    if ((s = push(d, cap, lo_tokenizer_eos(tok)))) return s;
    d->n_docs++;
    d->doc_start[d->n_docs] = d->n_ids;
    return LO_OK;
}

lo_status lo_train_data_load(const lo_tokenizer *tok, const char *path, lo_doc_split split, lo_train_data *out) {
    memset(out, 0, sizeof *out);
    if (lo_tokenizer_eos(tok) < 0)
        return lo_error(LO_ERR_UNSUPPORTED, "use a tokenizer GGUF that defines tokenizer.ggml.eos_token_id",
                        "train: the tokenizer has no EOS token to separate documents");
    char *buf = NULL;
    size_t n = 0;
    lo_status s = lo_read_file(path, &buf, &n);
    if (s) return lo_error_wrap(s, "train: reading data");
    /* Validate first: NUL bytes and invalid UTF-8 name their line. */
    int64_t line = 1;
    for (size_t i = 0; i < n;) {
        const uint8_t c = (uint8_t)buf[i];
        if (c == 0) {
            lo_free(buf);
            return lo_error(LO_ERR_FORMAT, "training data must be UTF-8 text", "%s:%lld: NUL byte at byte %zu", path,
                            (long long)line, i);
        }
        int len = utf8_len((const uint8_t *)buf + i, n - i);
        if (!len) {
            lo_free(buf);
            return lo_error(LO_ERR_FORMAT, "convert the file to UTF-8 (e.g. iconv -t UTF-8)",
                            "%s:%lld: invalid UTF-8 at byte %zu", path, (long long)line, i);
        }
        if (c == '\n') line++;
        i += (size_t)len;
    }
    int64_t cap = 0, doc_cap = 64;
    out->doc_start = lo_malloc((size_t)doc_cap * sizeof *out->doc_start);
    if (!out->doc_start) {
        lo_free(buf);
        return LO_ERR_NOMEM;
    }
    out->doc_start[0] = 0;
    lo_tokens tmp = {0};
    /* Walk lines; a document is a run of non-blank lines (blank-line mode) or one line. */
    size_t doc_b = 0, doc_e = 0;
    int64_t doc_line = 0;
    bool in_doc = false;
    line = 0;
    for (size_t i = 0; i <= n && !s;) {
        size_t e = i;
        while (e < n && buf[e] != '\n') e++;
        if (i == n && e == n) break;
        line++;
        const bool blank = blank_line(buf + i, e - i);
        if (split == LO_DOCS_LINE) {
            if (!blank) s = add_doc(out, &cap, &doc_cap, tok, buf + i, e - i, &tmp, path, line);
        } else if (blank) {
            if (in_doc) s = add_doc(out, &cap, &doc_cap, tok, buf + doc_b, doc_e - doc_b, &tmp, path, doc_line);
            in_doc = false;
        } else {
            if (!in_doc) doc_b = i, doc_line = line, in_doc = true;
            doc_e = e;
        }
        i = e + 1;
    }
    if (!s && in_doc) s = add_doc(out, &cap, &doc_cap, tok, buf + doc_b, doc_e - doc_b, &tmp, path, doc_line);
    lo_tokens_free(&tmp);
    lo_free(buf);
    if (!s && out->n_docs == 0)
        s = lo_error(LO_ERR_INVALID, "give a text file with at least one non-blank line",
                     "train: %s holds no documents", path);
    if (s) lo_train_data_free(out);
    return s;
}

lo_status lo_train_data_split(lo_train_data *d, double fraction, lo_train_data *val) {
    memset(val, 0, sizeof *val);
    if (!(fraction > 0 && fraction < 1))
        return lo_error(LO_ERR_RANGE, "give a validation share between 0 and 100%", "train: validation fraction %g",
                        fraction);
    int64_t k = (int64_t)((double)d->n_docs * fraction + 0.5);
    if (k < 1) k = 1;
    if (k >= d->n_docs)
        return lo_error(LO_ERR_INVALID, "give --val FILE, or more documents (blank-line separated)",
                        "train: %lld documents cannot be split into training and validation", (long long)d->n_docs);
    const int64_t first = d->n_docs - k, off = d->doc_start[first], n = d->n_ids - off;
    val->ids = lo_malloc((size_t)n * sizeof *val->ids);
    val->doc_start = lo_malloc((size_t)(k + 1) * sizeof *val->doc_start);
    if (!val->ids || !val->doc_start) {
        lo_train_data_free(val);
        return LO_ERR_NOMEM;
    }
    memcpy(val->ids, d->ids + off, (size_t)n * sizeof *val->ids);
    for (int64_t i = 0; i <= k; i++) val->doc_start[i] = d->doc_start[first + i] - off;
    val->n_ids = n, val->n_docs = k;
    d->n_ids = off, d->n_docs = first;
    return LO_OK;
}

void lo_train_data_free(lo_train_data *d) {
    if (!d) return;
    lo_free(d->ids);
    lo_free(d->doc_start);
    memset(d, 0, sizeof *d);
}

int64_t lo_train_data_n_windows(const lo_train_data *d, int32_t seq) {
    return seq > 0 && d->n_ids > seq ? (d->n_ids - 1) / seq : 0;
}

/* ---- the loader ------------------------------------------------------------------------------ */

struct lo_train_loader {
    const lo_train_data *d;
    int32_t B, T;
    bool shuffle;
    uint64_t seed;
    int64_t n_win, pos, epoch;
    int64_t *order;
    int32_t *tok, *tgt;
    uint8_t *mask;
};

static void reorder(lo_train_loader *l) {
    for (int64_t i = 0; i < l->n_win; i++) l->order[i] = i;
    if (!l->shuffle) return;
    uint64_t st = lo_train__mix(l->seed ^ lo_train__mix((uint64_t)l->epoch + 0x51ed)) | 1;
    for (int64_t i = l->n_win - 1; i > 0; i--) {
        int64_t j = (int64_t)(lo_train__next(&st) % (uint64_t)(i + 1));
        int64_t x = l->order[i];
        l->order[i] = l->order[j], l->order[j] = x;
    }
}

lo_status lo_train_loader_create(const lo_train_data *d, int32_t batch, int32_t seq, uint64_t seed, bool shuffle,
                                 lo_train_loader **out) {
    *out = NULL;
    if (batch < 1 || seq < 1)
        return lo_error(LO_ERR_RANGE, "give --batch ≥ 1 and --seq ≥ 1", "train: batch %d, seq %d", batch, seq);
    const int64_t n_win = lo_train_data_n_windows(d, seq);
    if (n_win < 1)
        return lo_error(LO_ERR_INVALID, "give more text or a smaller --seq",
                        "train: %lld tokens do not fill one sequence of %d + 1", (long long)d->n_ids, seq);
    lo_train_loader *l = lo_calloc(1, sizeof *l);
    if (!l) return LO_ERR_NOMEM;
    *l = (lo_train_loader){.d = d, .B = batch, .T = seq, .shuffle = shuffle, .seed = seed, .n_win = n_win};
    const size_t bt = (size_t)batch * (size_t)seq;
    l->order = lo_malloc((size_t)n_win * sizeof *l->order);
    l->tok = lo_malloc(bt * sizeof *l->tok);
    l->tgt = lo_malloc(bt * sizeof *l->tgt);
    l->mask = lo_malloc(bt);
    if (!l->order || !l->tok || !l->tgt || !l->mask) {
        lo_train_loader_free(l);
        return LO_ERR_NOMEM;
    }
    reorder(l);
    *out = l;
    return LO_OK;
}

void lo_train_loader_free(lo_train_loader *l) {
    if (!l) return;
    lo_free(l->order);
    lo_free(l->tok);
    lo_free(l->tgt);
    lo_free(l->mask);
    lo_free(l);
}

void lo_train_loader_rewind(lo_train_loader *l) {
    l->pos = 0, l->epoch = 0;
    reorder(l);
}

void lo_train__loader_state(const lo_train_loader *l, int64_t *epoch, int64_t *pos) {
    *epoch = l->epoch, *pos = l->pos;
}

void lo_train__loader_restore(lo_train_loader *l, int64_t epoch, int64_t pos) {
    l->epoch = epoch;
    reorder(l);
    l->pos = pos;
}

int64_t lo_train_loader_batches_per_epoch(const lo_train_loader *l) {
    return (l->n_win + l->B - 1) / l->B;
}

void lo_train_loader_next(lo_train_loader *l, const int32_t **tokens, const int32_t **targets, const uint8_t **mask,
                          int64_t *epoch) {
    const int64_t T = l->T;
    if (epoch) *epoch = l->epoch;
    for (int32_t b = 0; b < l->B; b++) {
        int32_t *tk = l->tok + b * T, *tg = l->tgt + b * T;
        uint8_t *mk = l->mask + b * T;
        if (l->pos >= l->n_win) {
            if (!l->shuffle) { /* validation: pad the last batch with masked rows */
                for (int64_t i = 0; i < T; i++) tk[i] = 0, tg[i] = 0, mk[i] = 0;
                continue;
            }
            l->pos = 0, l->epoch++;
            reorder(l);
        }
        const int32_t *src = l->d->ids + l->order[l->pos++] * T;
        for (int64_t i = 0; i < T; i++) tk[i] = src[i], tg[i] = src[i + 1], mk[i] = 1;
    }
    if (!l->shuffle && l->pos >= l->n_win) l->pos = 0, l->epoch++;
    *tokens = l->tok, *targets = l->tgt, *mask = l->mask;
}
