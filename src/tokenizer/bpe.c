/* Byte-level BPE ("gpt2" vocabularies): merge ranks from tokenizer.ggml.merges, the GPT-2
 * byte<->unicode mapping, and the encoder that regex-splits text (pretok.c), maps each
 * piece's bytes to symbols and merges the lowest-ranked adjacent pair until none is left,
 * exactly as llama.cpp's llm_tokenizer_bpe_session (= HF tokenizers) does. */
#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer_internal.h"

#include <string.h>

struct lo_bpe {
    lo_pretok *pre;
    lo_strmap *ranks; /* "left right" (the merge string itself) -> rank */
    bool ignore_merges;
};

/* ---- GPT-2 byte <-> unicode -------------------------------------------------------- */

/* Printable Latin-1 bytes (! .. ~, ¡ .. ¬, ® .. ÿ) stand for themselves; the other 68
 * bytes are numbered in order from U+0100: 0x00-0x20 -> 256.., 0x7F-0xA0 -> 289..,
 * 0xAD -> 323. */
static inline uint32_t byte_to_cp(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
    return 323; /* 0xAD */
}

/* -1 when cp is not one of the 256 images. */
static inline int cp_to_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    if (cp >= 256 && cp <= 288) return (int)(cp - 256);
    if (cp >= 289 && cp <= 322) return (int)(cp - 289 + 0x7F);
    if (cp == 323) return 0xAD;
    return -1;
}

/* UTF-8 of byte_to_cp(b) (1 or 2 bytes: all images are below U+0800). */
static inline size_t byte_enc(uint8_t b, char out[2]) {
    uint32_t cp = byte_to_cp(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

size_t lo_bpe_byte_image(uint8_t b, char out[2]) { return byte_enc(b, out); }

lo_status lo_bpe_decode_token(const char *text, size_t len, char **buf, size_t *blen, size_t *cap) {
    if (len > SIZE_MAX - *blen - 1) return lo_error(LO_ERR_RANGE, NULL, "token text too large");
    size_t need = *blen + len + 1; /* decoding never grows the text */
    if (need > *cap) {
        size_t nc = *cap ? *cap : 64;
        while (nc < need) nc = nc > SIZE_MAX / 2 ? need : nc * 2;
        char *nb = lo_realloc(*buf, nc);
        if (!nb) return LO_ERR_NOMEM;
        *buf = nb;
        *cap = nc;
    }
    const uint8_t *u = (const uint8_t *)text;
    char *o = *buf + *blen;
    for (size_t i = 0; i < len;) {
        size_t l = lo_utf8_valid_len(u + i, len - i);
        if (l == 0) { /* not UTF-8: keep the byte */
            *o++ = (char)u[i++];
            continue;
        }
        uint32_t cp = l == 1 ? u[i] : l == 2 ? ((u[i] & 0x1Fu) << 6) | (u[i + 1] & 0x3Fu) : 0x800;
        int b = l <= 2 ? cp_to_byte(cp) : -1;
        if (b >= 0) {
            *o++ = (char)b;
        } else { /* outside the table: copied as UTF-8 (llama.cpp writes [UNK_BYTE_..]) */
            memcpy(o, u + i, l);
            o += l;
        }
        i += l;
    }
    *o = '\0';
    *blen = (size_t)(o - *buf);
    return LO_OK;
}

/* ---- init -------------------------------------------------------------------------- */

void lo_bpe_free(lo_bpe *b) {
    if (!b) return;
    lo_pretok_free(b->pre);
    lo_strmap_free(b->ranks);
    lo_free(b);
}

lo_status lo_bpe_init(lo_tokenizer *t, const lo_gguf *g) {
    const char *pre = t->pre[0] ? t->pre : "default";
    const lo_gguf_value *mv = lo_gguf_get(g, "tokenizer.ggml.merges");
    if (!mv)
        return lo_error(LO_ERR_FORMAT, "a byte-level BPE vocabulary needs its merges; re-convert the model",
                        "tokenizer.ggml.merges is missing");
    if (mv->type != LO_GGUF_ARRAY || mv->arr.elem_type != LO_GGUF_STRING || (!mv->arr.strs && mv->arr.n))
        return lo_error(LO_ERR_FORMAT, NULL, "tokenizer.ggml.merges is not an array of strings");
    if (mv->arr.n > (uint64_t)INT32_MAX)
        return lo_error(LO_ERR_FORMAT, NULL, "tokenizer.ggml.merges has %llu entries (max %d)",
                        (unsigned long long)mv->arr.n, INT32_MAX);

    lo_bpe *b = lo_calloc(1, sizeof *b);
    if (!b) return LO_ERR_NOMEM;
    lo_status st = lo_pretok_create(pre, &b->pre, &b->ignore_merges);
    if (st != LO_OK) goto fail;
    if ((st = lo_strmap_create((size_t)mv->arr.n, &b->ranks)) != LO_OK) goto fail;
    for (uint64_t i = 0; i < mv->arr.n; i++) {
        const lo_gguf_str *s = &mv->arr.strs[i];
        if (!s->data && s->len) {
            st = lo_error(LO_ERR_FORMAT, NULL, "tokenizer.ggml.merges[%llu] is corrupt", (unsigned long long)i);
            goto fail;
        }
        /* llama.cpp splits at the first space after position 0; an entry without one is
         * keyed ("", "") there, which no lookup can reach, so it is skipped here. The key
         * is the string itself: symbols never contain a raw space (byte 0x20 maps to
         * U+0120), so "left right" built at lookup time is unambiguous. */
        const char *sp = s->len > 1 ? memchr(s->data + 1, ' ', (size_t)s->len - 1) : NULL;
        if (!sp) continue;
        int64_t old;
        if (lo_strmap_get(b->ranks, s->data, (size_t)s->len, &old)) continue; /* first rank wins */
        if ((st = lo_strmap_put(b->ranks, s->data, (size_t)s->len, (int64_t)i)) != LO_OK) goto fail;
    }
    t->bpe = b;
    return LO_OK;
fail:
    lo_bpe_free(b);
    return st;
}

/* ---- encode ------------------------------------------------------------------------ */

typedef struct bpe_sym {
    int32_t prev, next;
    uint32_t off, n; /* bytes of the encoded word; n = 0 once merged away */
} bpe_sym;

typedef struct bpe_pair {
    int32_t rank, left, right;
    uint32_t size;
} bpe_pair;

typedef struct bpe_scratch {
    lo_pretok_scratch pt;
    char *enc;
    size_t enc_cap;
    bpe_sym *sym;
    size_t sym_cap;
    bpe_pair *heap;
    size_t heap_n, heap_cap;
    char *key;
    size_t key_cap;
} bpe_scratch;

static lo_status reserve(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return LO_OK;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 4 / elem) return lo_error(LO_ERR_NOMEM, NULL, "BPE: text too large");
        nc *= 2;
    }
    void *nb = lo_realloc(*buf, nc * elem);
    if (!nb) return LO_ERR_NOMEM;
    *buf = nb;
    *cap = nc;
    return LO_OK;
}

static inline bool pair_less(const bpe_pair *a, const bpe_pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static lo_status heap_push(bpe_scratch *s, bpe_pair p) {
    lo_status st = reserve((void **)&s->heap, &s->heap_cap, s->heap_n + 1, sizeof *s->heap);
    if (st != LO_OK) return st;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_less(&p, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = p;
    return LO_OK;
}

static bpe_pair heap_pop(bpe_scratch *s) {
    bpe_pair top = s->heap[0];
    bpe_pair last = s->heap[--s->heap_n];
    size_t n = s->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_less(&s->heap[c + 1], &s->heap[c])) c++;
        if (!pair_less(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = last;
    return top;
}

/* Queues the merge of adjacent symbols l and r if the merges list has it. */
static lo_status add_pair(const lo_bpe *b, bpe_scratch *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return LO_OK;
    const bpe_sym *L = &s->sym[l], *R = &s->sym[r];
    size_t klen = (size_t)L->n + 1 + R->n;
    lo_status st = reserve((void **)&s->key, &s->key_cap, klen, 1);
    if (st != LO_OK) return st;
    memcpy(s->key, s->enc + L->off, L->n);
    s->key[L->n] = ' ';
    memcpy(s->key + L->n + 1, s->enc + R->off, R->n);
    int64_t rank;
    if (!lo_strmap_get(b->ranks, s->key, klen, &rank)) return LO_OK;
    return heap_push(s, (bpe_pair){(int32_t)rank, l, r, L->n + R->n});
}

static inline int32_t lookup(const lo_tokenizer *t, const char *text, size_t n) {
    int64_t id;
    if (lo_strmap_get(t->text_to_id, text, n, &id) && id >= 0 && id < t->n_vocab) return (int32_t)id;
    return -1;
}

/* Emits the tokens of one symbol: its id, or (llama.cpp's fallback) the ids of its single
 * bytes that are tokens, silently dropping the rest. */
static lo_status emit(const lo_tokenizer *t, const char *text, size_t n, lo_tokens *out) {
    int32_t id = lookup(t, text, n);
    if (id >= 0) return lo_tokens_push(out, id);
    for (size_t j = 0; j < n; j++) {
        int32_t bid = lookup(t, text + j, 1);
        if (bid >= 0) {
            lo_status st = lo_tokens_push(out, bid);
            if (st != LO_OK) return st;
        }
    }
    return LO_OK;
}

static lo_status encode_word(const lo_tokenizer *t, bpe_scratch *s, const uint8_t *w, size_t wn, lo_tokens *out) {
    const lo_bpe *b = t->bpe;
    if (wn == 0) return LO_OK;
    if (wn > (size_t)INT32_MAX / 2)
        return lo_error(LO_ERR_RANGE, "split the text", "BPE: a %zu-byte word is too long", wn);
    lo_status st;
    if ((st = reserve((void **)&s->enc, &s->enc_cap, 2 * wn, 1)) != LO_OK) return st;
    if ((st = reserve((void **)&s->sym, &s->sym_cap, wn, sizeof *s->sym)) != LO_OK) return st;
    /* One symbol per input byte: its image under the byte->unicode map. */
    size_t o = 0;
    for (size_t i = 0; i < wn; i++) {
        size_t l = byte_enc(w[i], s->enc + o);
        s->sym[i] = (bpe_sym){(int32_t)i - 1, i + 1 < wn ? (int32_t)i + 1 : -1, (uint32_t)o, (uint32_t)l};
        o += l;
    }
    if (b->ignore_merges) {
        int32_t id = lookup(t, s->enc, o);
        if (id >= 0) return lo_tokens_push(out, id);
    }
    s->heap_n = 0;
    for (size_t i = 1; i < wn; i++)
        if ((st = add_pair(b, s, (int32_t)i - 1, (int32_t)i)) != LO_OK) return st;
    while (s->heap_n) {
        bpe_pair p = heap_pop(s);
        bpe_sym *L = &s->sym[p.left], *R = &s->sym[p.right];
        /* Stale when either side changed since it was queued: a symbol only grows by
         * absorbing its right neighbour, so unchanged sizes mean unchanged texts. */
        if (L->n == 0 || R->n == 0 || L->n + R->n != p.size) continue;
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) s->sym[R->next].prev = p.left;
        if ((st = add_pair(b, s, L->prev, p.left)) != LO_OK) return st;
        if ((st = add_pair(b, s, p.left, L->next)) != LO_OK) return st;
    }
    for (int32_t i = 0; i >= 0; i = s->sym[i].next)
        if ((st = emit(t, s->enc + s->sym[i].off, s->sym[i].n, out)) != LO_OK) return st;
    return LO_OK;
}

/* Invalid UTF-8: the pre-tokenizer matches each invalid byte as U+FFFD (llama.cpp's
 * choice) but the piece keeps the raw byte, so the byte's own token is emitted and the
 * text round-trips. llama.cpp instead encodes U+FFFD itself; vocabularies that have no
 * token for never-valid bytes (falcon, starcoder, mpt, refact: C0, C1, F5-FF) drop such
 * bytes, as llama.cpp drops any symbol without a token. */
lo_status lo_bpe_encode(const lo_tokenizer *t, const char *text, size_t len, lo_tokens *out) {
    if (!t || !t->bpe || !t->text_to_id) return lo_error(LO_ERR_INVALID, NULL, "BPE tokenizer is not initialised");
    if (len == 0) return LO_OK;
    if (!text) return lo_error(LO_ERR_INVALID, NULL, "NULL text");
    bpe_scratch s = {0};
    const lo_pretok_span *sp;
    size_t n_sp;
    lo_status st = lo_pretok_split(t->bpe->pre, text, len, &s.pt, &sp, &n_sp);
    for (size_t k = 0; st == LO_OK && k < n_sp; k++)
        st = encode_word(t, &s, (const uint8_t *)text + sp[k].start, sp[k].end - sp[k].start, out);
    lo_pretok_scratch_free(&s.pt);
    lo_free(s.enc);
    lo_free(s.sym);
    lo_free(s.heap);
    lo_free(s.key);
    return st;
}
