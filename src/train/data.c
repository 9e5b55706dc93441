/* train: plain-text training data — a hostile UTF-8 file split into documents (blank-line
 * separated or one per line), tokenized and packed into one stream with EOS after each
 * document; JSONL chat (rendered with a chat template) or prompt/completion samples with
 * per-token loss flags on the assistant / completion tokens, bad lines reported by
 * file:line; a validation split by documents, and the seeded batch loader. */
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

/* ---- JSONL: chat messages and prompt/completion pairs ---------------------------------------- */

typedef struct jsonl_ctx {
    const lo_tokenizer *tok;
    lo_chat_template tmpl;
    lo_train_data *d;
    int64_t cap, loss_cap, doc_cap;
    int32_t *s_ids; /* the sample being built */
    uint8_t *s_loss;
    int64_t s_n, s_cap;
} jsonl_ctx;

static lo_status s_push(jsonl_ctx *c, int32_t id, uint8_t loss) {
    if (c->s_n == c->s_cap) {
        int64_t nc = c->s_cap ? c->s_cap * 2 : 256;
        int32_t *p = lo_realloc(c->s_ids, (size_t)nc * sizeof *p);
        if (!p) return LO_ERR_NOMEM;
        c->s_ids = p;
        uint8_t *q = lo_realloc(c->s_loss, (size_t)nc);
        if (!q) return LO_ERR_NOMEM;
        c->s_loss = q, c->s_cap = nc;
    }
    c->s_ids[c->s_n] = id, c->s_loss[c->s_n] = loss, c->s_n++;
    return LO_OK;
}

/* The sample text[0..len) tokenized whole, with flags by segment: segment k covers
 * text[seg_end[k-1] .. seg_end[k]) with flag seg_flag[k]. A boundary falls after the tokens
 * of text[0..boundary) tokenized whole (as a prompt is at inference) — their common prefix
 * with the whole text's tokens, so a token straddling a boundary goes to the later segment. */
static lo_status s_segments(jsonl_ctx *c, const char *text, const size_t *seg_end, const uint8_t *seg_flag,
                            int32_t n_seg, bool parse_special) {
    lo_tokens full = {0}, pre = {0};
    lo_status s = lo_tokenize(c->tok, text, seg_end[n_seg - 1], false, parse_special, &full);
    int64_t from = 0;
    for (int32_t k = 0; k < n_seg && !s; k++) {
        int64_t to = full.n;
        if (k + 1 < n_seg) {
            pre.n = 0;
            if ((s = lo_tokenize(c->tok, text, seg_end[k], false, parse_special, &pre))) break;
            to = 0;
            while (to < pre.n && to < full.n && pre.ids[to] == full.ids[to]) to++;
            if (to < from) to = from;
        }
        for (int64_t j = from; j < to && !s; j++) s = s_push(c, full.ids[j], seg_flag[k]);
        from = to;
    }
    lo_tokens_free(&full);
    lo_tokens_free(&pre);
    return s;
}

/* Renders msgs[0..n) (with the assistant header when add) into *out. */
static lo_status render(jsonl_ctx *c, const lo_chat_message *m, int32_t n, bool add, char **out, size_t *len) {
    lo_free(*out);
    *out = NULL;
    return lo_chat_render(c->tmpl, m, n, add, out, len);
}

#define BAD_EXTEND "the chat template's rendering of a message does not extend that of the messages before it"

/* One parsed JSONL object → the sample's tokens and loss flags; a message naming what is
 * wrong in *why (NULL when the sample is good). */
static lo_status jsonl_sample(jsonl_ctx *c, const json_t *o, const char **why) {
    *why = NULL;
    c->s_n = 0;
    lo_status s = LO_OK;
    const int32_t bos = lo_tokenizer_bos(c->tok);
    if (lo_tokenizer_add_bos(c->tok) && bos >= 0 && (s = s_push(c, bos, 0))) return s;
    const json_t *msgs = json_object_get(o, "messages");
    if (msgs) {
        if (!json_is_array(msgs) || json_array_size(msgs) == 0 || json_array_size(msgs) > 100000)
            return *why = "\"messages\" must be a non-empty array", LO_OK;
        const int32_t n = (int32_t)json_array_size(msgs);
        lo_chat_message *m = lo_calloc((size_t)n, sizeof *m);
        size_t *seg_end = lo_malloc((size_t)(2 * n + 1) * sizeof *seg_end);
        uint8_t *seg_flag = lo_malloc((size_t)(2 * n + 1));
        if (!m || !seg_end || !seg_flag) {
            lo_free(m), lo_free(seg_end), lo_free(seg_flag);
            return LO_ERR_NOMEM;
        }
        for (int32_t i = 0; i < n && !*why; i++) {
            const json_t *e = json_array_get(msgs, (size_t)i);
            const json_t *r = json_object_get(e, "role"), *t = json_object_get(e, "content");
            if (!json_is_string(r) || !json_is_string(t))
                *why = "a message without a string \"role\" and \"content\"";
            else if (strcmp(json_string_value(r), "system") && strcmp(json_string_value(r), "user") &&
                     strcmp(json_string_value(r), "assistant"))
                *why = "unknown role (system, user or assistant)";
            else
                m[i].role = json_string_value(r), m[i].content = json_string_value(t);
        }
        /* Segments of the whole rendering: each message adds what its rendering adds to the
         * rendering of the ones before; an assistant message's header (the rendering with
         * add_assistant) is not counted, its content and end are. */
        char *head = NULL, *cur = NULL;
        size_t head_n = 0, cur_n = 0, prev_n = 0;
        int32_t n_seg = 0;
        char *prev = NULL;
        for (int32_t i = 0; i < n && !*why && !s; i++) {
            const bool asst = strcmp(m[i].role, "assistant") == 0;
            if (asst) {
                if ((s = render(c, m, i, true, &head, &head_n))) break;
                if (head_n < prev_n || memcmp(head, prev ? prev : "", prev_n) != 0) {
                    *why = BAD_EXTEND;
                    break;
                }
                seg_end[n_seg] = head_n, seg_flag[n_seg++] = 0;
            }
            if ((s = render(c, m, i + 1, false, &cur, &cur_n))) break;
            const size_t from = asst ? head_n : prev_n;
            if (cur_n < from || memcmp(cur, asst ? head : (prev ? prev : ""), from) != 0) {
                *why = BAD_EXTEND;
                break;
            }
            seg_end[n_seg] = cur_n, seg_flag[n_seg++] = asst;
            char *t = prev;
            prev = cur, prev_n = cur_n, cur = t;
        }
        const bool last_asst = !*why && !s && strcmp(m[n - 1].role, "assistant") == 0;
        if (s == LO_ERR_INVALID) {
            *why = "a message the chat template does not take";
            s = LO_OK;
        }
        if (!s && !*why) s = s_segments(c, prev, seg_end, seg_flag, n_seg, true);
        if (!s && !*why) s = s_push(c, lo_tokenizer_eos(c->tok), last_asst);
        lo_free(prev), lo_free(head), lo_free(cur), lo_free(m), lo_free(seg_end), lo_free(seg_flag);
        return s;
    }
    const json_t *pr = json_object_get(o, "prompt"), *co = json_object_get(o, "completion");
    if (!json_is_string(pr) || !json_is_string(co))
        return *why = "neither \"messages\" nor string \"prompt\" and \"completion\"", LO_OK;
    const size_t np = json_string_length(pr), nc = json_string_length(co);
    char *text = lo_malloc(np + nc + 1);
    if (!text) return LO_ERR_NOMEM;
    memcpy(text, json_string_value(pr), np);
    memcpy(text + np, json_string_value(co), nc);
    text[np + nc] = 0;
    const size_t seg_end[2] = {np, np + nc};
    const uint8_t seg_flag[2] = {0, 1};
    s = s_segments(c, text, seg_end, seg_flag, 2, false);
    lo_free(text);
    if (!s) s = s_push(c, lo_tokenizer_eos(c->tok), 1);
    return s;
}

static lo_status jsonl_load(const lo_tokenizer *tok, const char *path, const char *buf, size_t n,
                            lo_train_data_opts *opts, lo_train_data *out) {
    jsonl_ctx c = {.tok = tok, .d = out, .doc_cap = 64};
    lo_status s;
    if (opts->chat_template)
        s = lo_chat_template_by_name(opts->chat_template, &c.tmpl);
    else
        s = lo_chat_template_detect(lo_tokenizer_chat_template(tok), &c.tmpl);
    if (s) return lo_error_wrap(s, "train: chat template for %s", path);
    out->doc_start = lo_malloc((size_t)c.doc_cap * sizeof *out->doc_start);
    if (!out->doc_start) return LO_ERR_NOMEM;
    out->doc_start[0] = 0;
    int64_t line = 0;
    for (size_t i = 0; i < n && !s;) {
        size_t e = i;
        while (e < n && buf[e] != '\n') e++;
        line++;
        const char *ln = buf + i;
        const size_t len = e - i;
        i = e + 1;
        if (blank_line(ln, len)) continue;
        json_error_t je;
        json_t *o = json_loadb(ln, len, 0, &je);
        const char *why = NULL;
        char jmsg[200];
        if (!o || !json_is_object(o)) {
            snprintf(jmsg, sizeof jmsg, "not a JSON object (%s)", o ? "another JSON value" : je.text);
            why = jmsg;
        } else {
            s = jsonl_sample(&c, o, &why);
        }
        if (!s && !why && opts->max_tokens > 0 && c.s_n > opts->max_tokens) {
            snprintf(jmsg, sizeof jmsg, "%lld tokens, longer than the %d a sequence holds", (long long)c.s_n,
                     opts->max_tokens);
            why = jmsg;
        }
        json_decref(o);
        if (s) break;
        if (why) {
            if (opts->strict) {
                s = lo_error(LO_ERR_FORMAT, "fix or remove the line (without --strict bad lines are skipped)",
                             "%s:%lld: %s", path, (long long)line, why);
                break;
            }
            LO_WARN("train: %s:%lld: %s; line skipped", path, (long long)line, why);
            opts->n_skipped++;
            continue;
        }
        if (out->n_docs + 1 >= c.doc_cap) {
            int64_t nc = c.doc_cap * 2;
            int64_t *p = lo_realloc(out->doc_start, (size_t)nc * sizeof *p);
            if (!p) {
                s = LO_ERR_NOMEM;
                break;
            }
            out->doc_start = p, c.doc_cap = nc;
        }
        for (int64_t k = 0; k < c.s_n && !s; k++) {
            if ((s = push(out, &c.cap, c.s_ids[k]))) break;
            if (out->n_ids > c.loss_cap) {
                int64_t nc = c.cap;
                uint8_t *q = lo_realloc(out->loss, (size_t)nc);
                if (!q) {
                    s = LO_ERR_NOMEM;
                    break;
                }
                out->loss = q, c.loss_cap = nc;
            }
            out->loss[out->n_ids - 1] = c.s_loss[k];
        }
        out->n_docs++;
        out->doc_start[out->n_docs] = out->n_ids;
    }
    lo_free(c.s_ids);
    lo_free(c.s_loss);
    if (!s && out->n_docs == 0)
        s = lo_error(LO_ERR_INVALID, "give a JSONL file with at least one good sample",
                     "train: %s holds no usable samples", path);
    return s;
}

lo_status lo_train_data_load(const lo_tokenizer *tok, const char *path, lo_doc_split split, lo_train_data *out) {
    lo_train_data_opts o = {.split = split};
    return lo_train_data_load_ex(tok, path, &o, out);
}

lo_status lo_train_data_load_ex(const lo_tokenizer *tok, const char *path, lo_train_data_opts *opts,
                                lo_train_data *out) {
    memset(out, 0, sizeof *out);
    const lo_doc_split split = opts->split;
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
    lo_data_format fmt = opts->format;
    if (fmt == LO_DATA_AUTO) {
        size_t i = 0;
        while (i < n && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n')) i++;
        fmt = i < n && buf[i] == '{' ? LO_DATA_JSONL : LO_DATA_TEXT;
    }
    if (fmt == LO_DATA_JSONL) {
        s = jsonl_load(tok, path, buf, n, opts, out);
        lo_free(buf);
        if (s) lo_train_data_free(out);
        return s;
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
    if (d->loss) {
        if (!(val->loss = lo_malloc((size_t)n))) {
            lo_train_data_free(val);
            return LO_ERR_NOMEM;
        }
        memcpy(val->loss, d->loss + off, (size_t)n);
    }
    for (int64_t i = 0; i <= k; i++) val->doc_start[i] = d->doc_start[first + i] - off;
    val->n_ids = n, val->n_docs = k;
    d->n_ids = off, d->n_docs = first;
    return LO_OK;
}

void lo_train_data_free(lo_train_data *d) {
    if (!d) return;
    lo_free(d->ids);
    lo_free(d->doc_start);
    lo_free(d->loss);
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
        const int64_t at = l->order[l->pos++] * T;
        const int32_t *src = l->d->ids + at;
        const uint8_t *ls = l->d->loss ? l->d->loss + at : NULL;
        for (int64_t i = 0; i < T; i++) tk[i] = src[i], tg[i] = src[i + 1], mk[i] = ls ? ls[i + 1] != 0 : 1;
    }
    if (!l->shuffle && l->pos >= l->n_win) l->pos = 0, l->epoch++;
    *tokens = l->tok, *targets = l->tgt, *mask = l->mask;
}
