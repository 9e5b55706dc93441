/* SentencePiece-style BPE as llama.cpp's llm_tokenizer_spm does it: start from UTF-8
 * characters, repeatedly merge the adjacent pair whose concatenation is the vocabulary
 * entry with the highest score (leftmost on ties), then emit each final piece as its
 * token or, when it is not one, as <0xNN> byte tokens. O(n log n) with a binary heap. */
#include <string.h>

#include "tokenizer_internal.h"

/* A piece of the text: [off, off+n) with links to its neighbours (-1 = none). n == 0
 * marks a piece that was merged into its left neighbour. */
typedef struct spm_sym {
    int32_t prev, next;
    uint32_t off, n;
} spm_sym;

typedef struct spm_bigram {
    int32_t left, right;
    float score;
    uint32_t size; /* bytes of left+right when queued; stale entries no longer match */
} spm_bigram;

typedef struct spm_state {
    const lo_tokenizer *t;
    const char *text;
    spm_sym *sym;
    spm_bigram *heap;
    size_t n_heap;
} spm_state;

/* Heap order: higher score first, then the leftmost pair. */
static inline bool before(const spm_bigram *a, const spm_bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(spm_state *st, spm_bigram b) {
    size_t i = st->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&b, &st->heap[p])) break;
        st->heap[i] = st->heap[p];
        i = p;
    }
    st->heap[i] = b;
}

static spm_bigram heap_pop(spm_state *st) {
    spm_bigram top = st->heap[0];
    spm_bigram last = st->heap[--st->n_heap];
    size_t n = st->n_heap, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&st->heap[c + 1], &st->heap[c])) c++;
        if (!before(&st->heap[c], &last)) break;
        st->heap[i] = st->heap[c];
        i = c;
    }
    if (n) st->heap[i] = last;
    return top;
}

static void try_add_bigram(spm_state *st, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const spm_sym *l = &st->sym[left], *r = &st->sym[right];
    uint32_t size = l->n + r->n;
    int64_t id;
    if (!lo_strmap_get(st->t->text_to_id, st->text + l->off, size, &id)) return;
    if (id < 0 || id >= st->t->n_vocab) return;
    heap_push(st, (spm_bigram){left, right, st->t->scores[id], size});
}

/* Length of the UTF-8 sequence a lead byte announces (continuation bytes count as 1),
 * as llama.cpp's unicode_len_utf8. */
static inline uint32_t utf8_len(unsigned char c) {
    static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

lo_status lo_spm_encode(const lo_tokenizer *t, const char *text, size_t len, lo_tokens *out) {
    if (len == 0) return LO_OK;
    if (len > (size_t)INT32_MAX / 4) return lo_error(LO_ERR_RANGE, "split the text into smaller pieces", "text of %zu bytes is too long to tokenize", len);

    /* Symbols: at most one per byte. Heap: n-1 initial pairs plus at most two per merge. */
    size_t sym_bytes = len * sizeof(spm_sym), heap_bytes = 3 * len * sizeof(spm_bigram);
    void *mem = lo_malloc(sym_bytes + heap_bytes);
    if (!mem) return lo_error(LO_ERR_NOMEM, NULL, "out of memory tokenizing %zu bytes", len);
    spm_state st = {t, text, mem, (spm_bigram *)((char *)mem + sym_bytes), 0};

    int32_t n_sym = 0;
    for (size_t off = 0; off < len;) {
        uint32_t n = utf8_len((unsigned char)text[off]);
        if (n > len - off) n = (uint32_t)(len - off);
        st.sym[n_sym] = (spm_sym){n_sym - 1, off + n == len ? -1 : n_sym + 1, (uint32_t)off, n};
        n_sym++;
        off += n;
    }
    for (int32_t i = 1; i < n_sym; i++) try_add_bigram(&st, i - 1, i);

    while (st.n_heap) {
        spm_bigram b = heap_pop(&st);
        spm_sym *l = &st.sym[b.left], *r = &st.sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) st.sym[r->next].prev = b.left;
        try_add_bigram(&st, l->prev, b.left);
        try_add_bigram(&st, b.left, l->next);
    }

    /* Every merged piece is a vocabulary entry; a single character may not be, and then
     * it falls back to its bytes. (llama.cpp's resegment never finds a merge to undo
     * here: it only records merges of texts that are tokens.) */
    lo_status s = LO_OK;
    for (int32_t i = 0; i != -1 && !s; i = st.sym[i].next) {
        const spm_sym *y = &st.sym[i];
        int64_t id;
        if (lo_strmap_get(t->text_to_id, text + y->off, y->n, &id)) {
            s = lo_tokens_push(out, (int32_t)id);
            continue;
        }
        for (uint32_t j = 0; j < y->n && !s; j++) {
            int32_t bt = t->byte_to_token[(unsigned char)text[y->off + j]];
            if (bt < 0) bt = t->unk;
            if (bt < 0)
                s = lo_error(LO_ERR_UNSUPPORTED, "the vocabulary has no byte-fallback or unknown token",
                             "cannot tokenize byte 0x%02X", (unsigned char)text[y->off + j]);
            else
                s = lo_tokens_push(out, bt);
        }
    }
    lo_free(mem);
    return s;
}
