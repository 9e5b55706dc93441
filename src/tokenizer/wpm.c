/* WordPiece as llama.cpp's llm_tokenizer_wpm does it: per code point "NFD" (the first code
 * point of its canonical decomposition, which drops accents), lowercase, split on
 * whitespace, make punctuation / ASCII symbols / CJK ideographs one-character words, drop
 * control characters; then each word, prefixed with U+2581 (llama.cpp's converted BERT
 * vocabularies mark word starts with ▁ instead of "##" continuations), is cut greedily
 * into the longest vocabulary entries; a word that cannot be cut becomes [UNK]. */
#include <string.h>
#include <utf8proc.h>

#include "tokenizer_internal.h"

/* Decodes one code point the lenient way llama.cpp's unicode_cpt_from_utf8 does; an
 * invalid sequence gives U+FFFD and consumes one byte. */
static uint32_t next_cpt(const unsigned char *s, size_t len, size_t *off) {
    size_t o = *off;
    unsigned c = s[o];
    if (!(c & 0x80)) {
        *off = o + 1;
        return c;
    }
    if ((c & 0x40) && !(c & 0x20)) {
        if (o + 1 < len && (s[o + 1] & 0xC0) == 0x80) {
            *off = o + 2;
            return ((c & 0x1F) << 6) | (s[o + 1] & 0x3F);
        }
    } else if ((c & 0x60) == 0x60 && !(c & 0x10)) {
        if (o + 2 < len && (s[o + 1] & 0xC0) == 0x80 && (s[o + 2] & 0xC0) == 0x80) {
            *off = o + 3;
            return ((c & 0x0F) << 12) | ((s[o + 1] & 0x3F) << 6) | (s[o + 2] & 0x3F);
        }
    } else if ((c & 0x70) == 0x70 && !(c & 0x08)) {
        if (o + 3 < len && (s[o + 1] & 0xC0) == 0x80 && (s[o + 2] & 0xC0) == 0x80 && (s[o + 3] & 0xC0) == 0x80) {
            *off = o + 4;
            return ((c & 0x07) << 18) | ((s[o + 1] & 0x3F) << 12) | ((s[o + 2] & 0x3F) << 6) | (s[o + 3] & 0x3F);
        }
    }
    *off = o + 1;
    return 0xFFFD;
}

static size_t put_utf8(uint32_t c, char *w) {
    if (c < 0x80) {
        w[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        w[0] = (char)(0xC0 | (c >> 6)), w[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        w[0] = (char)(0xE0 | (c >> 12)), w[1] = (char)(0x80 | ((c >> 6) & 0x3F)), w[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    w[0] = (char)(0xF0 | (c >> 18)), w[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    w[2] = (char)(0x80 | ((c >> 6) & 0x3F)), w[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* The White_Space set llama.cpp's unicode tables use. */
static bool is_ws(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* CJK ideograph blocks, as BERT's _is_chinese_char (with HF's 0x2B920 quirk). */
static bool is_chinese(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* First code point of the canonical decomposition (llama.cpp's one-to-one "NFD"). */
static uint32_t nfd_first(uint32_t c) {
    if (c < 0xC0) return c;
    utf8proc_int32_t dst[32];
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)c, dst, 32, UTF8PROC_DECOMPOSE, NULL);
    return n >= 1 ? (uint32_t)dst[0] : c;
}

/* Greedy longest-match of one "▁word" (w, n bytes). */
static lo_status match_word(const lo_tokenizer *t, const char *w, size_t n, lo_tokens *out) {
    int64_t start = out->n;
    lo_status s;
    size_t maxl = (size_t)t->max_token_len;
    for (size_t i = 0; i < n; i++) {
        size_t j = n < i + maxl + 1 ? n : i + maxl + 1;
        bool match = false;
        for (; j > i; j--) {
            int64_t id;
            if (lo_strmap_get(t->text_to_id, w + i, j - i, &id)) {
                if ((s = lo_tokens_push(out, (int32_t)id))) return s;
                match = true;
                i = j - 1;
                break;
            }
        }
        if (!match) { /* discard the word's partial match */
            out->n = start;
            break;
        }
    }
    if (out->n == start) {
        if (t->unk < 0) return lo_error(LO_ERR_UNSUPPORTED, NULL, "WordPiece vocabulary has no [UNK] token for an unknown word");
        return lo_tokens_push(out, t->unk);
    }
    return LO_OK;
}

lo_status lo_wpm_encode(const lo_tokenizer *t, const char *text, size_t len, lo_tokens *out) {
    if (len == 0) return LO_OK;
    size_t cap;
    if (lo_mul_overflow(len, 4, &cap) || lo_add_overflow(cap, 8, &cap))
        return lo_error(LO_ERR_NOMEM, NULL, "text too large");
    char *w = lo_malloc(cap); /* "▁" + one word; a word has at most len code points */
    if (!w) return lo_error(LO_ERR_NOMEM, NULL, "out of memory tokenizing %zu bytes", len);
    memcpy(w, "\xE2\x96\x81", 3);
    size_t wl = 3; /* bytes of the current word including its ▁ prefix */
    lo_status s = LO_OK;
    const unsigned char *u = (const unsigned char *)text;
    for (size_t off = 0; off < len && !s;) {
        uint32_t c = nfd_first(next_cpt(u, len, &off));
        if (is_ws(c)) {
            if (wl > 3) s = match_word(t, w, wl, out);
            wl = 3;
            continue;
        }
        utf8proc_category_t cat = c <= 0x10FFFF ? utf8proc_category((utf8proc_int32_t)c) : UTF8PROC_CATEGORY_CN;
        bool control = cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO ||
                       cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CN;
        if (c == 0 || c == 0xFFFD || control) continue;
        uint32_t lc = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
        bool punct = cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
        bool symbol = cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO;
        if (punct || (c < 0x7F && symbol) || is_chinese(c)) {
            if (wl > 3 && (s = match_word(t, w, wl, out))) break;
            wl = 3 + put_utf8(lc, w + 3);
            s = match_word(t, w, wl, out);
            wl = 3;
        } else {
            wl += put_utf8(lc, w + wl);
        }
    }
    if (!s && wl > 3) s = match_word(t, w, wl, out);
    lo_free(w);
    return s;
}
