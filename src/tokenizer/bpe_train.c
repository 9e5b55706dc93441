/* Training a byte-level BPE vocabulary (GPT-2 style). The corpus is cut at special
 * tokens, pre-tokenised with the "gpt-2" regex (pretok.c, as encoding does) and counted
 * per distinct word. Each word is a sequence of symbol ids. Pair counts are kept
 * incrementally: a pair's entry holds its count and the words it occurs in, and a lazy
 * max-heap orders pairs by (count desc, left text, right text). A merge visits only the
 * words listed for its pair and updates the neighbouring pairs' counts, so one merge
 * costs the size of its occurrences, not of the corpus. */
#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer_internal.h"

#include <string.h>

#define EOT_TEXT "<|endoftext|>"

typedef struct tr_pair {
    int32_t a, b;
    int64_t count;
    int32_t *words; /* word ids, may repeat or be stale */
    int32_t n_words, cap_words;
    int32_t new_stamp; /* step at which it was queued as a new pair */
} tr_pair;

typedef struct tr_heap_ent {
    int64_t count;
    int32_t pair;
} tr_heap_ent;

typedef struct trainer {
    /* vocabulary */
    char **text;
    uint32_t *text_len;
    int32_t n_tok, cap_tok;
    lo_strmap *tok_map;
    /* words */
    int32_t *sym;     /* all words' symbols */
    size_t n_sym;
    int64_t *w_off;   /* start in sym */
    int32_t *w_len;
    int64_t *w_count;
    int32_t *w_stamp;
    int32_t n_words;
    /* pairs: open-addressed (a,b) -> pair index */
    tr_pair *pairs;
    int32_t n_pairs, cap_pairs;
    int32_t *slots;
    size_t n_slots; /* power of two */
    tr_heap_ent *heap;
    size_t heap_n, heap_cap;
    int32_t *fresh; /* pairs created in the current step */
    size_t n_fresh, cap_fresh;
    int32_t *merged; /* (a,b) of each merge, in learning order */
    size_t n_merged, cap_merged;
} trainer;

static lo_status grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return LO_OK;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 4 / elem) return LO_ERR_NOMEM;
        nc *= 2;
    }
    void *nb = lo_realloc(*buf, nc * elem);
    if (!nb) return LO_ERR_NOMEM;
    *buf = nb;
    *cap = nc;
    return LO_OK;
}

static lo_status add_token(trainer *tr, const char *s, size_t n) {
    size_t cap = (size_t)tr->cap_tok;
    lo_status st = grow((void **)&tr->text, &cap, (size_t)tr->n_tok + 1, sizeof *tr->text);
    if (st == LO_OK) {
        size_t cap2 = (size_t)tr->cap_tok;
        st = grow((void **)&tr->text_len, &cap2, (size_t)tr->n_tok + 1, sizeof *tr->text_len);
    }
    if (st != LO_OK) return st;
    tr->cap_tok = (int32_t)cap;
    char *c = lo_malloc(n + 1);
    if (!c) return LO_ERR_NOMEM;
    memcpy(c, s, n);
    c[n] = '\0';
    tr->text[tr->n_tok] = c;
    tr->text_len[tr->n_tok] = (uint32_t)n;
    if ((st = lo_strmap_put(tr->tok_map, c, n, tr->n_tok)) != LO_OK) return st;
    tr->n_tok++;
    return LO_OK;
}

/* ---- pairs ------------------------------------------------------------------------- */

static inline size_t pair_hash(int32_t a, int32_t b) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

static lo_status rehash(trainer *tr, size_t n_slots) {
    int32_t *s = lo_malloc(n_slots * sizeof *s);
    if (!s) return LO_ERR_NOMEM;
    memset(s, 0xFF, n_slots * sizeof *s);
    for (int32_t i = 0; i < tr->n_pairs; i++) {
        size_t h = pair_hash(tr->pairs[i].a, tr->pairs[i].b) & (n_slots - 1);
        while (s[h] >= 0) h = (h + 1) & (n_slots - 1);
        s[h] = i;
    }
    lo_free(tr->slots);
    tr->slots = s;
    tr->n_slots = n_slots;
    return LO_OK;
}

/* Index of pair (a,b), created with count 0 when absent. */
static lo_status pair_get(trainer *tr, int32_t a, int32_t b, int32_t *out) {
    if ((size_t)tr->n_pairs + 1 > tr->n_slots / 2) {
        lo_status st = rehash(tr, tr->n_slots ? tr->n_slots * 2 : 1024);
        if (st != LO_OK) return st;
    }
    size_t h = pair_hash(a, b) & (tr->n_slots - 1);
    for (;;) {
        int32_t i = tr->slots[h];
        if (i < 0) break;
        if (tr->pairs[i].a == a && tr->pairs[i].b == b) return *out = i, LO_OK;
        h = (h + 1) & (tr->n_slots - 1);
    }
    if (tr->n_pairs == INT32_MAX) return LO_ERR_NOMEM;
    size_t cap = (size_t)tr->cap_pairs;
    lo_status st = grow((void **)&tr->pairs, &cap, (size_t)tr->n_pairs + 1, sizeof *tr->pairs);
    if (st != LO_OK) return st;
    tr->cap_pairs = (int32_t)cap;
    tr->pairs[tr->n_pairs] = (tr_pair){a, b, 0, NULL, 0, 0, -1};
    tr->slots[h] = tr->n_pairs;
    *out = tr->n_pairs++;
    return LO_OK;
}

static lo_status pair_add_word(tr_pair *p, int32_t w) {
    if (p->n_words && p->words[p->n_words - 1] == w) return LO_OK;
    size_t cap = (size_t)p->cap_words;
    lo_status st = grow((void **)&p->words, &cap, (size_t)p->n_words + 1, sizeof *p->words);
    if (st != LO_OK) return st;
    if (cap > INT32_MAX) return LO_ERR_NOMEM;
    p->cap_words = (int32_t)cap;
    p->words[p->n_words++] = w;
    return LO_OK;
}

/* ---- heap: count desc, then left text, then right text ascending ------------------- */

static int text_cmp(const trainer *tr, int32_t x, int32_t y) {
    if (x == y) return 0;
    uint32_t lx = tr->text_len[x], ly = tr->text_len[y];
    int c = memcmp(tr->text[x], tr->text[y], lx < ly ? lx : ly);
    return c ? c : (lx < ly ? -1 : lx > ly ? 1 : 0);
}

static bool ent_before(const trainer *tr, const tr_heap_ent *x, const tr_heap_ent *y) {
    if (x->count != y->count) return x->count > y->count;
    const tr_pair *p = &tr->pairs[x->pair], *q = &tr->pairs[y->pair];
    int c = text_cmp(tr, p->a, q->a);
    if (!c) c = text_cmp(tr, p->b, q->b);
    return c < 0;
}

static lo_status heap_push(trainer *tr, int32_t pair) {
    lo_status st = grow((void **)&tr->heap, &tr->heap_cap, tr->heap_n + 1, sizeof *tr->heap);
    if (st != LO_OK) return st;
    tr_heap_ent e = {tr->pairs[pair].count, pair};
    size_t i = tr->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ent_before(tr, &e, &tr->heap[parent])) break;
        tr->heap[i] = tr->heap[parent];
        i = parent;
    }
    tr->heap[i] = e;
    return LO_OK;
}

static tr_heap_ent heap_pop(trainer *tr) {
    tr_heap_ent top = tr->heap[0], last = tr->heap[--tr->heap_n];
    size_t n = tr->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && ent_before(tr, &tr->heap[c + 1], &tr->heap[c])) c++;
        if (!ent_before(tr, &tr->heap[c], &last)) break;
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    if (n) tr->heap[i] = last;
    return top;
}

/* ---- counting ---------------------------------------------------------------------- */

/* Counts the words of one piece of text; a new word gets the next id and its bytes as
 * symbols (byte b is token b). */
static lo_status count_piece(trainer *tr, lo_strmap *wmap, const lo_pretok *pre, lo_pretok_scratch *ps,
                             const char *text, size_t len, size_t *caps, lo_bpe_train_stats *stats) {
    if (!len) return LO_OK;
    const lo_pretok_span *sp;
    size_t n_sp;
    lo_status st = lo_pretok_split(pre, text, len, ps, &sp, &n_sp);
    for (size_t k = 0; st == LO_OK && k < n_sp; k++) {
        const uint8_t *w = (const uint8_t *)text + sp[k].start;
        size_t wn = sp[k].end - sp[k].start;
        if (wn > (size_t)INT32_MAX / 4)
            return lo_error(LO_ERR_RANGE, "split the corpus into lines", "a %zu-byte word is too long", wn);
        int64_t id;
        stats->n_words++;
        if (lo_strmap_get(wmap, (const char *)w, wn, &id)) {
            tr->w_count[id]++;
            continue;
        }
        if (tr->n_words == INT32_MAX) return lo_error(LO_ERR_RANGE, NULL, "too many distinct words");
        size_t nw = (size_t)tr->n_words + 1;
        if ((st = grow((void **)&tr->w_count, &caps[0], nw, sizeof *tr->w_count)) != LO_OK ||
            (st = grow((void **)&tr->w_off, &caps[1], nw, sizeof *tr->w_off)) != LO_OK ||
            (st = grow((void **)&tr->w_len, &caps[2], nw, sizeof *tr->w_len)) != LO_OK ||
            (st = grow((void **)&tr->sym, &caps[3], tr->n_sym + wn, sizeof *tr->sym)) != LO_OK ||
            (st = lo_strmap_put(wmap, (const char *)w, wn, tr->n_words)) != LO_OK)
            return st;
        tr->w_count[tr->n_words] = 1;
        tr->w_off[tr->n_words] = (int64_t)tr->n_sym;
        tr->w_len[tr->n_words] = (int32_t)wn;
        for (size_t j = 0; j < wn; j++) tr->sym[tr->n_sym++] = w[j];
        tr->n_words++;
    }
    return st;
}

/* Cuts text at each special token (the leftmost, longest first) and counts the words of
 * the pieces between. */
static lo_status count_words(trainer *tr, const char *text, size_t len, char *const *special, int32_t n_special,
                             lo_bpe_train_stats *stats) {
    lo_pretok *pre = NULL;
    lo_strmap *wmap = NULL;
    bool ign;
    lo_pretok_scratch ps = {0};
    size_t caps[4] = {0};
    lo_status st = lo_pretok_create("gpt-2", &pre, &ign);
    if (st == LO_OK) st = lo_strmap_create(1024, &wmap);
    size_t pos = 0;
    while (st == LO_OK && pos < len) {
        size_t best = len, best_len = 0;
        for (int32_t i = 0; i < n_special; i++) {
            size_t sl = strlen(special[i]);
            const char *f = memmem(text + pos, len - pos, special[i], sl);
            if (!f) continue;
            size_t at = (size_t)(f - text);
            if (at < best || (at == best && sl > best_len)) best = at, best_len = sl;
        }
        st = count_piece(tr, wmap, pre, &ps, text + pos, best - pos, caps, stats);
        pos = best + best_len;
    }
    stats->n_unique = tr->n_words;
    if (st == LO_OK && !(tr->w_stamp = lo_malloc(((size_t)tr->n_words + 1) * sizeof *tr->w_stamp))) st = LO_ERR_NOMEM;
    for (int32_t i = 0; st == LO_OK && i < tr->n_words; i++) tr->w_stamp[i] = -1;
    lo_pretok_scratch_free(&ps);
    lo_pretok_free(pre);
    lo_strmap_free(wmap);
    return st;
}

/* ---- merging ----------------------------------------------------------------------- */

static lo_status change(trainer *tr, int32_t a, int32_t b, int64_t delta, int32_t w, int32_t step) {
    int32_t pi;
    lo_status st = pair_get(tr, a, b, &pi);
    if (st != LO_OK) return st;
    tr_pair *p = &tr->pairs[pi];
    p->count += delta;
    if (delta > 0) {
        if ((st = pair_add_word(p, w)) != LO_OK) return st;
        if (p->new_stamp != step) {
            p->new_stamp = step;
            if ((st = grow((void **)&tr->fresh, &tr->cap_fresh, tr->n_fresh + 1, sizeof *tr->fresh)) != LO_OK) return st;
            tr->fresh[tr->n_fresh++] = pi;
        }
    }
    return LO_OK;
}

/* Replaces every (a,b) in the words listed for pair pi by c. */
static lo_status merge(trainer *tr, int32_t pi, int32_t c, int32_t step) {
    int32_t a = tr->pairs[pi].a, b = tr->pairs[pi].b;
    /* Only pairs holding c gain words here, never pi itself; pairs[] may be reallocated
     * by pair_get, so it is indexed afresh each time. */
    int32_t n = tr->pairs[pi].n_words;
    lo_status st = LO_OK;
    tr->n_fresh = 0;
    for (int32_t k = 0; k < n && st == LO_OK; k++) {
        int32_t w = tr->pairs[pi].words[k];
        if (tr->w_stamp[w] == step) continue;
        tr->w_stamp[w] = step;
        int32_t *s = tr->sym + tr->w_off[w];
        int32_t len = tr->w_len[w];
        int64_t cnt = tr->w_count[w];
        int32_t o = 0;
        for (int32_t i = 0; i < len && st == LO_OK;) {
            if (i + 1 < len && s[i] == a && s[i + 1] == b) {
                /* left neighbour: the already rewritten output symbol */
                if (o > 0) {
                    if ((st = change(tr, s[o - 1], a, -cnt, w, step)) != LO_OK) break;
                    if ((st = change(tr, s[o - 1], c, cnt, w, step)) != LO_OK) break;
                }
                if (i + 2 < len) {
                    if ((st = change(tr, b, s[i + 2], -cnt, w, step)) != LO_OK) break;
                    if ((st = change(tr, c, s[i + 2], cnt, w, step)) != LO_OK) break;
                }
                tr->pairs[pi].count -= cnt;
                s[o++] = c;
                i += 2;
            } else {
                s[o++] = s[i++];
            }
        }
        tr->w_len[w] = o;
    }
    if (st != LO_OK) return st;
    tr->pairs[pi].count = 0;
    lo_free(tr->pairs[pi].words);
    tr->pairs[pi].words = NULL;
    tr->pairs[pi].n_words = tr->pairs[pi].cap_words = 0;
    for (size_t k = 0; k < tr->n_fresh && st == LO_OK; k++)
        if (tr->pairs[tr->fresh[k]].count > 0) st = heap_push(tr, tr->fresh[k]);
    return st;
}

/* ---- driver ------------------------------------------------------------------------ */

static void trainer_free(trainer *tr) {
    for (int32_t i = 0; i < tr->n_tok; i++) lo_free(tr->text[i]);
    lo_free(tr->text);
    lo_free(tr->text_len);
    lo_strmap_free(tr->tok_map);
    lo_free(tr->sym);
    lo_free(tr->w_off);
    lo_free(tr->w_len);
    lo_free(tr->w_count);
    lo_free(tr->w_stamp);
    for (int32_t i = 0; i < tr->n_pairs; i++) lo_free(tr->pairs[i].words);
    lo_free(tr->pairs);
    lo_free(tr->slots);
    lo_free(tr->heap);
    lo_free(tr->fresh);
    lo_free(tr->merged);
}

static lo_status run(trainer *tr, const char *text, size_t len, const lo_bpe_train_opts *o, char *const *special,
                     int32_t n_special, lo_bpe_train_stats *stats) {
    lo_status st = lo_strmap_create((size_t)o->vocab_size, &tr->tok_map);
    if (st != LO_OK) return st;
    for (int b = 0; b < 256 && st == LO_OK; b++) {
        char img[2];
        size_t l = lo_bpe_byte_image((uint8_t)b, img);
        st = add_token(tr, img, l);
    }
    if (st != LO_OK) return st;
    if ((st = count_words(tr, text, len, special, n_special, stats)) != LO_OK) return st;

    /* Initial pair counts. */
    for (int32_t w = 0; w < tr->n_words; w++) {
        const int32_t *s = tr->sym + tr->w_off[w];
        for (int32_t i = 0; i + 1 < tr->w_len[w]; i++) {
            int32_t pi;
            if ((st = pair_get(tr, s[i], s[i + 1], &pi)) != LO_OK) return st;
            tr->pairs[pi].count += tr->w_count[w];
            if ((st = pair_add_word(&tr->pairs[pi], w)) != LO_OK) return st;
        }
    }
    for (int32_t pi = 0; pi < tr->n_pairs; pi++)
        if ((st = heap_push(tr, pi)) != LO_OK) return st;

    int64_t min_freq = o->min_frequency > 0 ? o->min_frequency : 2;
    int32_t target = o->vocab_size - n_special;
    char *buf = NULL;
    size_t buf_cap = 0;
    int32_t step = 0;
    while (tr->n_tok < target && tr->heap_n) {
        tr_heap_ent e = heap_pop(tr);
        tr_pair *p = &tr->pairs[e.pair];
        if (e.count != p->count) { /* stale: counts of old pairs only fall */
            if (p->count > 0 && (st = heap_push(tr, e.pair)) != LO_OK) break;
            continue;
        }
        if (e.count < min_freq) break;
        int32_t a = p->a, b = p->b;
        size_t la = tr->text_len[a], lb = tr->text_len[b];
        if ((st = grow((void **)&buf, &buf_cap, la + lb, 1)) != LO_OK) break;
        memcpy(buf, tr->text[a], la);
        memcpy(buf + la, tr->text[b], lb);
        int64_t c;
        if (!lo_strmap_get(tr->tok_map, buf, la + lb, &c)) { /* else: another split of a known text */
            c = tr->n_tok;
            if ((st = add_token(tr, buf, la + lb)) != LO_OK) break;
        }
        if ((st = grow((void **)&tr->merged, &tr->cap_merged, tr->n_merged + 2, sizeof *tr->merged)) != LO_OK) break;
        tr->merged[tr->n_merged++] = a;
        tr->merged[tr->n_merged++] = b;
        stats->n_merges++;
        if ((st = merge(tr, e.pair, (int32_t)c, step++)) != LO_OK) break;
    }
    lo_free(buf);
    return st;
}

lo_status lo_bpe_train(const char *text, size_t len, const lo_bpe_train_opts *o, lo_gguf_writer *w,
                       lo_bpe_train_stats *stats) {
    lo_bpe_train_stats dummy;
    if (!stats) stats = &dummy;
    memset(stats, 0, sizeof *stats);
    if (!o || !w || (!text && len)) return lo_error(LO_ERR_INVALID, NULL, "lo_bpe_train: NULL argument");
    if (o->n_special < 0 || (o->n_special && !o->special))
        return lo_error(LO_ERR_INVALID, NULL, "lo_bpe_train: bad special token list");
    /* Special tokens: <|endoftext|> first, then the others in order without repeats. */
    char **special = lo_calloc((size_t)o->n_special + 1, sizeof *special);
    if (!special) return LO_ERR_NOMEM;
    int32_t n_special = 0;
    special[n_special++] = (char *)EOT_TEXT;
    lo_status st = LO_OK;
    for (int32_t i = 0; i < o->n_special; i++) {
        const char *s = o->special[i];
        if (!s || !*s) {
            st = lo_error(LO_ERR_INVALID, NULL, "special token %d is empty", i + 1);
            goto out;
        }
        bool dup = false;
        for (int32_t j = 0; j < n_special; j++) dup |= strcmp(special[j], s) == 0;
        if (!dup) special[n_special++] = (char *)s;
    }
    int64_t min_vocab = 256 + (int64_t)n_special;
    if (o->vocab_size < min_vocab || o->vocab_size > (1 << 24)) {
        st = lo_error(LO_ERR_RANGE, "the vocabulary holds the 256 byte tokens and the special tokens",
                      "vocab size %d is outside %lld..%d", o->vocab_size, (long long)min_vocab, 1 << 24);
        goto out;
    }
    if (o->min_frequency < 0) {
        st = lo_error(LO_ERR_RANGE, NULL, "min frequency %lld is negative", (long long)o->min_frequency);
        goto out;
    }

    trainer tr = {0};
    st = run(&tr, text, len, o, special, n_special, stats);
    /* Special tokens may not collide with a learned or byte token's text. */
    for (int32_t i = 0; st == LO_OK && i < n_special; i++) {
        int64_t id;
        if (lo_strmap_get(tr.tok_map, special[i], strlen(special[i]), &id))
            st = lo_error(LO_ERR_INVALID, "choose special tokens that are not plain text of the corpus",
                          "special token '%s' is also the text of token %lld", special[i], (long long)id);
        else st = add_token(&tr, special[i], strlen(special[i]));
    }
    /* The merges, in learning order. */
    char **merges = NULL;
    if (st == LO_OK && stats->n_merges) {
        merges = lo_calloc((size_t)stats->n_merges, sizeof *merges);
        if (!merges) st = LO_ERR_NOMEM;
        for (int32_t m = 0; st == LO_OK && m < stats->n_merges; m++) {
            int32_t a = tr.merged[2 * m], b = tr.merged[2 * m + 1];
            size_t la = tr.text_len[a], lb = tr.text_len[b];
            char *s = lo_malloc(la + lb + 2);
            if (!s) {
                st = LO_ERR_NOMEM;
                break;
            }
            memcpy(s, tr.text[a], la);
            s[la] = ' ';
            memcpy(s + la + 1, tr.text[b], lb);
            s[la + lb + 1] = '\0';
            merges[m] = s;
        }
    }
    int32_t *types = NULL;
    if (st == LO_OK) {
        types = lo_malloc((size_t)tr.n_tok * sizeof *types);
        if (!types) st = LO_ERR_NOMEM;
        else
            for (int32_t i = 0; i < tr.n_tok; i++) types[i] = i >= tr.n_tok - n_special ? LO_TOKEN_CONTROL : LO_TOKEN_NORMAL;
    }
    if (st == LO_OK) {
        stats->n_vocab = tr.n_tok;
        int32_t eot = tr.n_tok - n_special;
        if ((st = lo_gguf_writer_set_str(w, "general.architecture", "llama")) == LO_OK &&
            (st = lo_gguf_writer_set_str(w, "general.name", "bpe-train")) == LO_OK &&
            (st = lo_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2")) == LO_OK &&
            (st = lo_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2")) == LO_OK &&
            (st = lo_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tr.text,
                                             (uint64_t)tr.n_tok)) == LO_OK &&
            (st = lo_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", LO_GGUF_INT32, types, (uint64_t)tr.n_tok)) ==
                LO_OK &&
            (st = lo_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges,
                                             (uint64_t)stats->n_merges)) == LO_OK &&
            (st = lo_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)eot)) == LO_OK &&
            (st = lo_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eot)) == LO_OK &&
            (st = lo_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false)) == LO_OK)
            st = lo_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    }
    if (merges)
        for (int32_t i = 0; i < stats->n_merges; i++) lo_free(merges[i]);
    lo_free(merges);
    lo_free(types);
    trainer_free(&tr);
out:
    lo_free(special);
    return st;
}

lo_status lo_bpe_train_file(const char *corpus_path, const char *out_path, const lo_bpe_train_opts *o,
                            lo_bpe_train_stats *stats) {
    if (!corpus_path || !out_path) return lo_error(LO_ERR_INVALID, NULL, "lo_bpe_train_file: NULL path");
    char *text = NULL;
    size_t len = 0;
    lo_status st = lo_read_file(corpus_path, &text, &len);
    if (st != LO_OK) return st;
    lo_gguf_writer *w = NULL;
    st = lo_gguf_writer_create(3, &w);
    if (st == LO_OK) st = lo_bpe_train(text, len, o, w, stats);
    if (st == LO_OK) st = lo_gguf_writer_write(w, out_path);
    lo_gguf_writer_free(w);
    lo_free(text);
    return st;
}
