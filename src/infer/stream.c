/* Streaming text of generated tokens, shared by lo_generate and the scheduler: appends
 * each token's piece, finds stop strings across token boundaries, and releases only text
 * that is final (whole UTF-8 characters, nothing that could still begin a stop string). */
#include <string.h>

#include "infer/infer_internal.h"

/* Bytes at the end of s[0..n) that form an incomplete UTF-8 sequence (0 when the text
 * ends on a character boundary or with an invalid byte that will never complete). */
size_t lo_utf8_incomplete_tail(const char *s, size_t n) {
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char b = (unsigned char)s[n - back];
        if ((b & 0xC0) == 0x80) continue; /* continuation byte: keep looking for the lead */
        size_t need = b >= 0xF0 && b <= 0xF7 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        if (b >= 0xF8) need = 1;
        return need > back ? back : 0;
    }
    return 0;
}

/* Length of the longest suffix of text that is a proper prefix of some stop string. */
size_t lo_stop_holdback(const char *text, size_t n, const char *const *stop, int32_t n_stop) {
    size_t hold = 0;
    for (int32_t i = 0; i < n_stop; i++) {
        size_t sl = strlen(stop[i]);
        size_t k = sl > 0 ? sl - 1 : 0;
        if (k > n) k = n;
        for (; k > hold; k--)
            if (memcmp(text + n - k, stop[i], k) == 0) {
                hold = k;
                break;
            }
    }
    return hold;
}

void lo_textstream_init(lo_textstream *ts, char *buf, size_t cap, const char *const *stop, int32_t n_stop) {
    memset(ts, 0, sizeof *ts);
    ts->text = buf;
    ts->cap = cap;
    if (buf && cap) buf[0] = '\0';
    ts->stop = stop;
    ts->n_stop = n_stop;
    for (int32_t i = 0; i < n_stop; i++) {
        size_t sl = strlen(stop[i]);
        if (sl > ts->max_stop) ts->max_stop = sl;
    }
}

lo_status lo_textstream_push(lo_textstream *ts, const lo_tokenizer *tok, int32_t id, bool last, size_t *from,
                             size_t *n, bool *stopped) {
    *from = ts->emitted;
    *n = 0;
    *stopped = false;
    const size_t old_len = ts->len;
    lo_status st = lo_token_to_piece(tok, id, false, &ts->text, &ts->len, &ts->cap);
    if (st != LO_OK) return st;
    if (ts->n_stop > 0) {
        /* a match ending in the new piece starts at most max_stop - 1 bytes before it, and
         * never in released text (that text was not a prefix of any stop string) */
        size_t lo = old_len >= ts->max_stop ? old_len - ts->max_stop + 1 : 0;
        if (lo < ts->emitted) lo = ts->emitted;
        size_t best = SIZE_MAX;
        const char *hit = NULL;
        for (int32_t i = 0; i < ts->n_stop; i++) {
            size_t sl = strlen(ts->stop[i]);
            if (sl == 0 || sl > ts->len - lo) continue;
            const char *f = memmem(ts->text + lo, ts->len - lo, ts->stop[i], sl);
            if (f && (size_t)(f - ts->text) < best) {
                best = (size_t)(f - ts->text);
                hit = ts->stop[i];
            }
        }
        if (hit) {
            ts->len = best;
            ts->text[best] = '\0';
            ts->stop_hit = hit;
            *stopped = true;
            if (best > ts->emitted) *n = best - ts->emitted;
            ts->emitted += *n;
            return LO_OK;
        }
    }
    size_t upto = ts->len;
    if (!last) {
        upto -= lo_utf8_incomplete_tail(ts->text, upto);
        upto -= lo_stop_holdback(ts->text, upto, ts->stop, ts->n_stop);
    }
    if (upto > ts->emitted) {
        *n = upto - ts->emitted;
        ts->emitted = upto;
    }
    return LO_OK;
}

bool lo_textstream_flush(lo_textstream *ts, size_t *from, size_t *n) {
    *from = ts->emitted;
    *n = ts->len > ts->emitted ? ts->len - ts->emitted : 0;
    ts->emitted = ts->len;
    return *n > 0;
}

void lo_textstream_compact(lo_textstream *ts) {
    if (ts->emitted == 0) return;
    size_t keep = ts->len - ts->emitted;
    memmove(ts->text, ts->text + ts->emitted, keep);
    ts->text[keep] = '\0';
    ts->len = keep;
    ts->emitted = 0;
}
