/* Tokenizer core: builds a lo_tokenizer from a GGUF file's tokenizer.ggml.* metadata the
 * way llama.cpp's llama_vocab::load does, splits input text around special tokens
 * (llama.cpp's tokenizer_st_partition), dispatches the plain-text fragments to the SPM /
 * BPE / WPM algorithms, and turns ids back into text (token_to_piece, detokenize). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

#define KEY_PREFIX "tokenizer.ggml."
#define MAX_VOCAB (1 << 26) /* far above any real vocabulary; bounds hostile files */

/* ---- token id vectors ------------------------------------------------------------- */

lo_status lo_tokens_push(lo_tokens *t, int32_t id) {
    if (t->n >= t->cap) {
        int64_t cap = t->cap ? t->cap * 2 : 64;
        size_t bytes;
        if (cap > INT64_MAX / 8 || lo_mul_overflow((size_t)cap, sizeof(int32_t), &bytes))
            return lo_error(LO_ERR_NOMEM, NULL, "token vector too large");
        int32_t *p = lo_realloc(t->ids, bytes);
        if (!p) return lo_error(LO_ERR_NOMEM, NULL, "out of memory growing a token vector to %lld ids", (long long)cap);
        t->ids = p;
        t->cap = cap;
    }
    t->ids[t->n++] = id;
    return LO_OK;
}

void lo_tokens_free(lo_tokens *t) {
    if (!t) return;
    lo_free(t->ids);
    t->ids = NULL;
    t->n = t->cap = 0;
}

/* ---- small helpers ---------------------------------------------------------------- */

static bool is_ascii_space(unsigned char c) { /* C isspace() in the "C" locale */
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool valid_id(const lo_tokenizer *t, int32_t id) { return id >= 0 && id < t->n_vocab; }

/* Appends n bytes to a lo_realloc'd, NUL-terminated buffer. */
static lo_status buf_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    size_t need;
    if (lo_add_overflow(*len, n, &need) || lo_add_overflow(need, 1, &need))
        return lo_error(LO_ERR_NOMEM, NULL, "text too large");
    if (need > *cap || !*buf) {
        size_t c = *cap ? *cap : 64;
        while (c < need) {
            if (lo_mul_overflow(c, 2, &c)) return lo_error(LO_ERR_NOMEM, NULL, "text too large");
        }
        char *p = lo_realloc(*buf, c);
        if (!p) return lo_error(LO_ERR_NOMEM, NULL, "out of memory growing a text buffer to %zu bytes", c);
        *buf = p;
        *cap = c;
    }
    if (n) memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return LO_OK;
}

/* ---- metadata getters with type checking ------------------------------------------ */

/* Optional bool: leaves *v alone when absent; a wrong type is a format error. */
static lo_status get_bool_opt(const lo_gguf *g, const char *key, bool *v, bool *found) {
    if (found) *found = false;
    if (!lo_gguf_get(g, key)) return LO_OK;
    bool b;
    if (!lo_gguf_get_bool(g, key, &b))
        return lo_error(LO_ERR_FORMAT, "the file's tokenizer metadata is malformed; re-convert it", "key '%s' is not a bool", key);
    *v = b;
    if (found) *found = true;
    return LO_OK;
}

/* Optional token id: absent leaves *id alone; an id outside the vocabulary (including
 * the 0xFFFFFFFF "none" marker) keeps the default, as llama.cpp does. */
static lo_status get_id_opt(const lo_gguf *g, const char *key, int32_t n_vocab, int32_t *id) {
    if (!lo_gguf_get(g, key)) return LO_OK;
    int64_t v;
    if (!lo_gguf_get_i64(g, key, &v))
        return lo_error(LO_ERR_FORMAT, "the file's tokenizer metadata is malformed; re-convert it", "key '%s' is not an integer", key);
    if (v < 0 || v >= n_vocab) {
        if (v != 0xFFFFFFFFll && v != -1)
            LO_WARN("tokenizer: %s = %lld is outside the vocabulary (%d tokens); using the default %d", key, (long long)v,
                    n_vocab, *id);
        return LO_OK;
    }
    *id = (int32_t)v;
    return LO_OK;
}

static bool is_int_type(lo_gguf_type t) {
    return t == LO_GGUF_UINT8 || t == LO_GGUF_INT8 || t == LO_GGUF_UINT16 || t == LO_GGUF_INT16 || t == LO_GGUF_UINT32 ||
           t == LO_GGUF_INT32 || t == LO_GGUF_UINT64 || t == LO_GGUF_INT64;
}

/* ---- loading ---------------------------------------------------------------------- */

static int32_t find_text(const lo_tokenizer *t, const char *s) {
    int64_t v;
    if (t->text_to_id && lo_strmap_get(t->text_to_id, s, strlen(s), &v)) return (int32_t)v;
    return -1;
}

/* First token present among the names (in the list's order of preference), or -1. */
static int32_t find_first(const lo_tokenizer *t, const char *const *names, int n) {
    for (int i = 0; i < n; i++) {
        int32_t id = find_text(t, names[i]);
        if (id >= 0) return id;
    }
    return -1;
}

/* llama.cpp forces tokens it recognises by text (EOT, FIM, ...) to be control tokens. */
static void force_control(lo_tokenizer *t, int32_t id) {
    if (valid_id(t, id) && t->types[id] != LO_TOKEN_CONTROL) {
        LO_DEBUG("tokenizer: control-looking token %d '%s' was type %d; treating it as control", id, t->text[id],
                 t->types[id]);
        t->types[id] = LO_TOKEN_CONTROL;
    }
}

static lo_status eog_add(lo_tokenizer *t, int32_t id) {
    if (!valid_id(t, id)) return LO_OK;
    for (int32_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return LO_OK;
    int32_t *p = lo_realloc(t->eog, sizeof(int32_t) * (size_t)(t->n_eog + 1));
    if (!p) return lo_error(LO_ERR_NOMEM, NULL, "out of memory building the EOG set");
    t->eog = p;
    t->eog[t->n_eog++] = id;
    return LO_OK;
}

static _Thread_local const lo_tokenizer *g_sort_tok; /* qsort context */
static int cmp_special(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = g_sort_tok->text_len[x], ly = g_sort_tok->text_len[y];
    if (lx != ly) return lx > ly ? -1 : 1; /* longest first */
    return (x > y) - (x < y);             /* then by id, so the order is deterministic */
}

static bool contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

static lo_status load_tokens(lo_tokenizer *t, const lo_gguf *g) {
    const lo_gguf_value *tv = lo_gguf_get_arr(g, KEY_PREFIX "tokens", LO_GGUF_STRING);
    if (!tv)
        return lo_error(LO_ERR_FORMAT, "the file needs a tokenizer.ggml.tokens string array",
                        "tokenizer.ggml.tokens is missing or not an array of strings");
    if (tv->arr.n == 0 || tv->arr.n > MAX_VOCAB)
        return lo_error(LO_ERR_FORMAT, NULL, "tokenizer.ggml.tokens has %llu entries (expected 1..%d)",
                        (unsigned long long)tv->arr.n, MAX_VOCAB);
    int32_t n = (int32_t)tv->arr.n;
    t->n_vocab = n;

    /* One pool for all strings: an empty entry becomes "[EMPTY_<i>]" as in llama.cpp. */
    size_t pool = 0;
    for (int32_t i = 0; i < n; i++) {
        uint64_t l = tv->arr.strs[i].len;
        if (l > (1u << 30)) return lo_error(LO_ERR_FORMAT, NULL, "token %d is %llu bytes long", i, (unsigned long long)l);
        if (l == 0) l = 24;
        if (lo_add_overflow(pool, (size_t)l + 1, &pool)) return lo_error(LO_ERR_FORMAT, NULL, "vocabulary too large");
    }
    t->text = lo_calloc((size_t)n, sizeof(char *));
    t->text_len = lo_calloc((size_t)n, sizeof(uint32_t));
    t->scores = lo_calloc((size_t)n, sizeof(float));
    t->types = lo_calloc((size_t)n, sizeof(int32_t));
    t->strip = lo_calloc((size_t)n, 1);
    t->text_pool = lo_malloc(pool ? pool : 1);
    if (!t->text || !t->text_len || !t->scores || !t->types || !t->strip || !t->text_pool)
        return lo_error(LO_ERR_NOMEM, NULL, "out of memory loading a %d-token vocabulary", n);
    lo_status s = lo_strmap_create((size_t)n, &t->text_to_id);
    if (s) return s;

    char *p = t->text_pool;
    for (int32_t i = 0; i < n; i++) {
        const lo_gguf_str *str = &tv->arr.strs[i];
        size_t l = (size_t)str->len;
        if (l == 0) {
            LO_WARN("tokenizer: empty token at index %d", i);
            l = (size_t)snprintf(p, 24, "[EMPTY_%d]", i);
        } else {
            memcpy(p, str->data, l);
            p[l] = '\0';
        }
        t->text[i] = p;
        t->text_len[i] = (uint32_t)l;
        if ((int32_t)l > t->max_token_len) t->max_token_len = (int32_t)l;
        p += l + 1;
        /* A duplicate string maps to its last id, like llama.cpp's token_to_id[word] = i. */
        s = lo_strmap_put(t->text_to_id, t->text[i], l, i);
        if (s) return s;
    }

    const lo_gguf_value *sv = lo_gguf_get(g, KEY_PREFIX "scores");
    if (sv) {
        if (sv->type != LO_GGUF_ARRAY ||
            (sv->arr.elem_type != LO_GGUF_FLOAT32 && sv->arr.elem_type != LO_GGUF_FLOAT64))
            return lo_error(LO_ERR_FORMAT, NULL, "tokenizer.ggml.scores is not a float array");
        if (sv->arr.n != (uint64_t)n)
            return lo_error(LO_ERR_FORMAT, "the vocabulary arrays must all have one entry per token",
                            "tokenizer.ggml.scores has %llu entries, tokens has %d", (unsigned long long)sv->arr.n, n);
        for (int32_t i = 0; i < n; i++) t->scores[i] = (float)lo_gguf_arr_f64(sv, (uint64_t)i);
    }

    const lo_gguf_value *yv = lo_gguf_get(g, KEY_PREFIX "token_type");
    if (yv) {
        if (yv->type != LO_GGUF_ARRAY || !is_int_type(yv->arr.elem_type))
            return lo_error(LO_ERR_FORMAT, NULL, "tokenizer.ggml.token_type is not an integer array");
        if (yv->arr.n != (uint64_t)n)
            return lo_error(LO_ERR_FORMAT, "the vocabulary arrays must all have one entry per token",
                            "tokenizer.ggml.token_type has %llu entries, tokens has %d", (unsigned long long)yv->arr.n, n);
        for (int32_t i = 0; i < n; i++) {
            int64_t ty = lo_gguf_arr_i64(yv, (uint64_t)i);
            if (ty < LO_TOKEN_UNDEFINED || ty > LO_TOKEN_BYTE)
                return lo_error(LO_ERR_FORMAT, NULL, "tokenizer.ggml.token_type[%d] = %lld is not a token type (0..6)", i,
                                (long long)ty);
            t->types[i] = (int32_t)ty;
        }
    } else {
        for (int32_t i = 0; i < n; i++) t->types[i] = LO_TOKEN_NORMAL;
    }
    return LO_OK;
}

/* Per-model defaults and flags, as llama_vocab::load sets them before reading keys. */
static lo_status load_flags(lo_tokenizer *t, const lo_gguf *g, bool *pre_present) {
    lo_gguf_str pre = {0};
    *pre_present = false;
    if (lo_gguf_get(g, KEY_PREFIX "pre")) {
        if (!lo_gguf_get_str(g, KEY_PREFIX "pre", &pre))
            return lo_error(LO_ERR_FORMAT, NULL, "tokenizer.ggml.pre is not a string");
        *pre_present = pre.len > 0;
    }
    if (*pre_present) {
        size_t l = pre.len < sizeof t->pre - 1 ? (size_t)pre.len : sizeof t->pre - 1;
        memcpy(t->pre, pre.data, l);
        t->pre[l] = '\0';
        for (size_t i = 0; i < l; i++)
            if ((unsigned char)t->pre[i] < 0x20) t->pre[i] = '?';
    } else {
        snprintf(t->pre, sizeof t->pre, "default");
    }

    switch (t->kind) {
    case LO_TOK_SPM:
        t->bos = 1, t->eos = 2, t->unk = 0;
        t->add_space_prefix = true, t->clean_spaces = false, t->add_bos = true, t->add_eos = false;
        break;
    case LO_TOK_WPM:
        t->bos = 101, t->unk = 100, t->sep = 102, t->pad = 0, t->mask = 103, t->cls = 101;
        t->add_space_prefix = false, t->clean_spaces = true, t->add_bos = true, t->add_eos = false;
        break;
    case LO_TOK_BPE: {
        t->bos = 11, t->eos = 11;
        t->add_space_prefix = false, t->clean_spaces = true;
        const char *p = t->pre;
        static const char *const no_clean[] = {"deepseek-llm", "deepseek-coder", "deepseek-v3", "command-r", "qwen2",
                                               "poro-chat",    "viking",         "tekken",      "smollm",    "chameleon"};
        for (size_t i = 0; i < sizeof no_clean / sizeof *no_clean; i++)
            if (strcmp(p, no_clean[i]) == 0) t->clean_spaces = false;
        if (!strcmp(p, "llama3") || !strcmp(p, "llama-v3") || !strcmp(p, "llama-bpe") || !strcmp(p, "falcon3") ||
            !strcmp(p, "tekken"))
            t->ignore_merges = true, t->add_bos = true;
        if (!strcmp(p, "chameleon")) t->add_bos = true;
        if (!strcmp(p, "chatglm-bpe")) t->bos = -1;
        break;
    }
    }
    lo_status s;
    if ((s = get_bool_opt(g, KEY_PREFIX "add_space_prefix", &t->add_space_prefix, NULL))) return s;
    if ((s = get_bool_opt(g, KEY_PREFIX "remove_extra_whitespaces", &t->remove_extra_whitespaces, NULL))) return s;
    return LO_OK;
}

static lo_status load_special(lo_tokenizer *t, const lo_gguf *g) {
    /* Defaults that do not fit this vocabulary (a tiny or hostile file) become "none". */
    int32_t *ids[] = {&t->bos, &t->eos, &t->eot, &t->eom, &t->unk, &t->sep, &t->pad, &t->cls, &t->mask};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        if (!valid_id(t, *ids[i])) *ids[i] = -1;

    /* The newline token: SPM's <0x0A>, WPM's pad, BPE's GPT-2 "Ċ" (U+010A). */
    if (t->kind == LO_TOK_SPM)
        t->nl = t->byte_to_token['\n'] >= 0 ? t->byte_to_token['\n'] : t->pad;
    else if (t->kind == LO_TOK_WPM)
        t->nl = t->pad;
    else {
        t->nl = find_text(t, "\xC4\x8A");
        if (t->nl < 0) t->nl = t->pad;
    }

    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {KEY_PREFIX "bos_token_id", offsetof(lo_tokenizer, bos)},
        {KEY_PREFIX "eos_token_id", offsetof(lo_tokenizer, eos)},
        {KEY_PREFIX "eot_token_id", offsetof(lo_tokenizer, eot)},
        {KEY_PREFIX "eom_token_id", offsetof(lo_tokenizer, eom)},
        {KEY_PREFIX "unknown_token_id", offsetof(lo_tokenizer, unk)},
        {KEY_PREFIX "seperator_token_id", offsetof(lo_tokenizer, sep)},
        {KEY_PREFIX "padding_token_id", offsetof(lo_tokenizer, pad)},
        {KEY_PREFIX "cls_token_id", offsetof(lo_tokenizer, cls)},
        {KEY_PREFIX "mask_token_id", offsetof(lo_tokenizer, mask)},
    };
    lo_status s;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if ((s = get_id_opt(g, keys[i].key, t->n_vocab, (int32_t *)((char *)t + keys[i].off)))) return s;
    /* WordPiece's "BOS" is its CLS token. */
    if (t->kind == LO_TOK_WPM && t->cls >= 0 && !lo_gguf_get(g, KEY_PREFIX "bos_token_id")) t->bos = t->cls;
    if (t->kind == LO_TOK_WPM && t->cls < 0) t->cls = t->bos;

    if ((s = get_bool_opt(g, KEY_PREFIX "add_bos_token", &t->add_bos, NULL))) return s;
    if ((s = get_bool_opt(g, KEY_PREFIX "add_eos_token", &t->add_eos, NULL))) return s;

    /* Tokens llama.cpp recognises by text, which it forces to be control tokens. */
    static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                            "<EOT>", "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>"};
    static const char *const eom_names[] = {"<|eom_id|>"};
    static const char *const fim_pre[] = {"<|fim_prefix|>", "<fim-prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<PRE>"};
    static const char *const fim_suf[] = {"<|fim_suffix|>", "<fim-suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "hole\xEF\xBD\x9C>", "<SUF>"};
    static const char *const fim_mid[] = {"<|fim_middle|>", "<fim-middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>"};
    static const char *const fim_pad[] = {"<|fim_pad|>", "<fim-pad>", "<PAD>"};
    static const char *const fim_rep[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"};
    static const char *const fim_sep[] = {"<|file_sep|>"};
#define N_(a) ((int)(sizeof a / sizeof *a))
    if (t->eot < 0) force_control(t, t->eot = find_first(t, eot_names, N_(eot_names)));
    if (t->eom < 0) force_control(t, t->eom = find_first(t, eom_names, N_(eom_names)));
    int32_t fpre = -1, fsuf = -1, fmid = -1, fpad = -1, frep = -1, fsep = -1;
    if ((s = get_id_opt(g, KEY_PREFIX "fim_pre_token_id", t->n_vocab, &fpre))) return s;
    if ((s = get_id_opt(g, KEY_PREFIX "fim_suf_token_id", t->n_vocab, &fsuf))) return s;
    if ((s = get_id_opt(g, KEY_PREFIX "fim_mid_token_id", t->n_vocab, &fmid))) return s;
    if ((s = get_id_opt(g, KEY_PREFIX "fim_pad_token_id", t->n_vocab, &fpad))) return s;
    if ((s = get_id_opt(g, KEY_PREFIX "fim_rep_token_id", t->n_vocab, &frep))) return s;
    if ((s = get_id_opt(g, KEY_PREFIX "fim_sep_token_id", t->n_vocab, &fsep))) return s;
    if (fpre < 0) force_control(t, fpre = find_first(t, fim_pre, N_(fim_pre)));
    if (fsuf < 0) force_control(t, fsuf = find_first(t, fim_suf, N_(fim_suf)));
    if (fmid < 0) force_control(t, fmid = find_first(t, fim_mid, N_(fim_mid)));
    if (fpad < 0) force_control(t, fpad = find_first(t, fim_pad, N_(fim_pad)));
    if (frep < 0) force_control(t, frep = find_first(t, fim_rep, N_(fim_rep)));
    if (fsep < 0) force_control(t, fsep = find_first(t, fim_sep, N_(fim_sep)));

    /* End of generation: FIM pad/repo/sep, every token named like an end of turn, and
     * eos / eot / eom. */
    if ((s = eog_add(t, fpad)) || (s = eog_add(t, frep)) || (s = eog_add(t, fsep))) return s;
    static const char *const eog_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                            "<|eom_id|>", "<EOT>"};
    for (int i = 0; i < N_(eog_names); i++) {
        int32_t id = find_text(t, eog_names[i]);
        if (id >= 0) {
            force_control(t, id);
            if ((s = eog_add(t, id))) return s;
        }
    }
#undef N_
    if ((s = eog_add(t, t->eos)) || (s = eog_add(t, t->eot)) || (s = eog_add(t, t->eom))) return s;

    /* Tokens the partitioner looks for: control, user-defined and unknown, longest first. */
    int32_t n_sp = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        int32_t ty = t->types[i];
        if (ty == LO_TOKEN_CONTROL || ty == LO_TOKEN_USER_DEFINED || ty == LO_TOKEN_UNKNOWN) n_sp++;
    }
    if (n_sp) {
        t->special = lo_malloc(sizeof(int32_t) * (size_t)n_sp);
        if (!t->special) return lo_error(LO_ERR_NOMEM, NULL, "out of memory building the special-token list");
        for (int32_t i = 0; i < t->n_vocab; i++) {
            int32_t ty = t->types[i];
            if (ty == LO_TOKEN_CONTROL || ty == LO_TOKEN_USER_DEFINED || ty == LO_TOKEN_UNKNOWN) t->special[t->n_special++] = i;
        }
        g_sort_tok = t;
        qsort(t->special, (size_t)t->n_special, sizeof(int32_t), cmp_special);
    }

    /* Per-token lstrip/rstrip, which GGUF does not store: llama.cpp sets them by model. */
    char name[128] = "";
    lo_gguf_str gn;
    if (lo_gguf_get(g, "general.name") && lo_gguf_get_str(g, "general.name", &gn)) {
        size_t l = gn.len < sizeof name - 1 ? (size_t)gn.len : sizeof name - 1;
        for (size_t i = 0; i < l; i++) {
            char c = gn.data[i];
            name[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (c ? c : ' ');
        }
        name[l] = '\0';
    }
    lo_error_clear();
    if (contains(t->pre, "jina-v2-de") || contains(t->pre, "jina-v2-es") || contains(t->pre, "jina-v2-code")) {
        int32_t id = find_text(t, "<mask>");
        if (id >= 0) t->strip[id] |= LO_TOK_LSTRIP;
    } else if (contains(name, "phi-3") || contains(name, "phi3")) {
        for (int32_t i = 0; i < t->n_special; i++) t->strip[t->special[i]] |= LO_TOK_RSTRIP;
        int32_t id = find_text(t, "</s>");
        if (id >= 0) t->strip[id] |= LO_TOK_RSTRIP;
        static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (int i = 0; i < 3; i++)
            if ((id = find_text(t, keep[i])) >= 0) t->strip[id] &= (uint8_t)~LO_TOK_RSTRIP;
    }
    return LO_OK;
}

/* Keeps tokenizer.chat_template for lo_tokenizer_chat_template (chat.c). The tokenizer
 * itself does not need it, so a non-string value is skipped with a warning rather than
 * failing the load; the text stops at an embedded NUL, as llama.cpp's C string does. */
static lo_status load_chat_template(lo_tokenizer *t, const lo_gguf *g) {
    static const char key[] = "tokenizer.chat_template";
    if (!lo_gguf_get(g, key)) return LO_OK;
    lo_gguf_str v;
    if (!lo_gguf_get_str(g, key, &v)) {
        LO_WARN("tokenizer: %s is not a string; ignoring it", key);
        lo_error_clear();
        return LO_OK;
    }
    t->chat_template = lo_strndup(v.data ? v.data : "", (size_t)v.len); /* stops at a NUL */
    if (!t->chat_template) return lo_error(LO_ERR_NOMEM, NULL, "out of memory copying %s", key);
    return LO_OK;
}

/* The GPT-2 byte -> printable code point map that byte-level BPE vocabularies use. */
static uint32_t gpt2_byte_cpt(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return (uint32_t)b;
    int n = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255))) n++;
    return 256u + (uint32_t)n;
}

static void build_byte_tokens(lo_tokenizer *t) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        int32_t id = -1;
        if (t->kind == LO_TOK_BPE || t->kind == LO_TOK_WPM) {
            uint32_t c = gpt2_byte_cpt(b);
            char u[3];
            size_t l;
            if (c < 0x80) u[0] = (char)c, l = 1;
            else u[0] = (char)(0xC0 | (c >> 6)), u[1] = (char)(0x80 | (c & 0x3F)), l = 2;
            int64_t v;
            if (lo_strmap_get(t->text_to_id, u, l, &v)) id = (int32_t)v;
        } else {
            char s[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
            int64_t v;
            if (lo_strmap_get(t->text_to_id, s, 6, &v)) id = (int32_t)v;
            else {
                char c = (char)b; /* llama.cpp falls back to the byte itself as a token */
                if (lo_strmap_get(t->text_to_id, &c, 1, &v)) id = (int32_t)v;
            }
        }
        t->byte_to_token[b] = id;
    }
}

lo_status lo_tokenizer_load(const lo_gguf *g, lo_tokenizer **out) {
    *out = NULL;
    if (!g) return lo_error(LO_ERR_INVALID, NULL, "lo_tokenizer_load: no file");
    lo_gguf_str model;
    if (!lo_gguf_get(g, KEY_PREFIX "model"))
        return lo_error(LO_ERR_NOT_FOUND, "use a GGUF file converted with its vocabulary (tokenizer.ggml.* keys)",
                        "the file has no tokenizer (tokenizer.ggml.model is missing)");
    if (!lo_gguf_get_str(g, KEY_PREFIX "model", &model))
        return lo_error(LO_ERR_FORMAT, NULL, "tokenizer.ggml.model is not a string");
    lo_tok_kind kind;
    if (lo_gguf_str_eq(model, "llama")) kind = LO_TOK_SPM;
    else if (lo_gguf_str_eq(model, "gpt2")) kind = LO_TOK_BPE;
    else if (lo_gguf_str_eq(model, "bert")) kind = LO_TOK_WPM;
    else
        return lo_error(LO_ERR_UNSUPPORTED,
                        "supported tokenizers: \"llama\" (SentencePiece BPE), \"gpt2\" (byte-level BPE), \"bert\" (WordPiece)",
                        "unsupported tokenizer model '%.*s'", (int)(model.len > 64 ? 64 : model.len), model.data);

    lo_tokenizer *t = lo_calloc(1, sizeof *t);
    if (!t) return lo_error(LO_ERR_NOMEM, NULL, "out of memory");
    t->kind = kind;
    t->bos = t->eos = t->eot = t->eom = t->unk = t->sep = t->pad = t->cls = t->mask = t->nl = -1;
    for (int b = 0; b < 256; b++) t->byte_to_token[b] = -1;

    bool pre_present;
    lo_status s = load_tokens(t, g);
    if (!s) s = load_flags(t, g, &pre_present);
    if (!s) {
        build_byte_tokens(t);
        s = load_special(t, g);
    }
    if (!s) s = load_chat_template(t, g);
    if (!s && kind == LO_TOK_BPE) {
        if (!pre_present) LO_WARN("tokenizer: byte-level BPE without tokenizer.ggml.pre; using the 'default' pre-tokenizer");
        s = lo_bpe_init(t, g);
    }
    if (s) {
        lo_tokenizer_free(t);
        return s;
    }
    *out = t;
    return LO_OK;
}

void lo_tokenizer_free(lo_tokenizer *t) {
    if (!t) return;
    if (t->bpe) lo_bpe_free(t->bpe);
    lo_strmap_free(t->text_to_id);
    lo_free(t->text);
    lo_free(t->text_len);
    lo_free(t->text_pool);
    lo_free(t->scores);
    lo_free(t->types);
    lo_free(t->strip);
    lo_free(t->special);
    lo_free(t->eog);
    lo_free(t->chat_template);
    lo_free(t);
}

/* ---- special-token partitioning --------------------------------------------------- */

/* A fragment of the input: plain text [off, off+len) when id < 0, else a token id. */
typedef struct frag {
    int32_t id;
    size_t off, len;
} frag;

typedef struct frag_vec {
    frag *v;
    size_t n, cap;
} frag_vec;

static lo_status frag_push(frag_vec *f, int32_t id, size_t off, size_t len) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16, bytes;
        if (lo_mul_overflow(cap, sizeof(frag), &bytes)) return lo_error(LO_ERR_NOMEM, NULL, "too many fragments");
        frag *p = lo_realloc(f->v, bytes);
        if (!p) return lo_error(LO_ERR_NOMEM, NULL, "out of memory splitting text around special tokens");
        f->v = p;
        f->cap = cap;
    }
    f->v[f->n++] = (frag){id, off, len};
    return LO_OK;
}

/* llama.cpp's tokenizer_st_partition: for each special token (longest first), split every
 * remaining text fragment at each occurrence; lstrip/rstrip tokens eat the ASCII
 * whitespace beside them. Without parse_special only user-defined tokens are split out. */
static lo_status partition(const lo_tokenizer *t, const char *text, size_t len, bool parse_special, frag_vec *out) {
    frag_vec a = {0}, b = {0};
    lo_status s = LO_OK;
    if (len && (s = frag_push(&a, -1, 0, len))) goto done;
    for (int32_t k = 0; k < t->n_special && a.n; k++) {
        int32_t id = t->special[k];
        int32_t ty = t->types[id];
        if (!parse_special && (ty == LO_TOKEN_CONTROL || ty == LO_TOKEN_UNKNOWN)) continue;
        const char *tok = t->text[id];
        size_t tl = t->text_len[id];
        uint8_t strip = t->strip[id];
        b.n = 0;
        for (size_t i = 0; i < a.n; i++) {
            frag f = a.v[i];
            if (f.id >= 0 || f.len < tl) {
                if ((s = frag_push(&b, f.id, f.off, f.len))) goto done;
                continue;
            }
            size_t base = f.off, blen = f.len;
            while (blen > 0) {
                const char *m = memmem(text + base, blen, tok, tl);
                if (!m) {
                    if ((s = frag_push(&b, -1, base, blen))) goto done;
                    break;
                }
                size_t mo = (size_t)(m - text);
                size_t left = mo - base;
                if (strip & LO_TOK_LSTRIP)
                    while (left > 0 && is_ascii_space((unsigned char)text[base + left - 1])) left--;
                if (left > 0 && (s = frag_push(&b, -1, base, left))) goto done;
                if ((s = frag_push(&b, id, 0, 0))) goto done;
                size_t roff = mo + tl, rlen = base + blen - roff;
                if (strip & LO_TOK_RSTRIP)
                    while (rlen > 0 && is_ascii_space((unsigned char)text[roff])) roff++, rlen--;
                base = roff;
                blen = rlen;
            }
        }
        frag_vec tmp = a;
        a = b;
        b = tmp;
    }
done:
    lo_free(b.v);
    if (s) {
        lo_free(a.v);
        return s;
    }
    *out = a;
    return LO_OK;
}

/* SPM fragments: optional leading space, then every ' ' becomes U+2581 "▁". */
static lo_status spm_fragment(const lo_tokenizer *t, const char *text, size_t len, bool space_prefix, char **buf,
                              size_t *cap, lo_tokens *out) {
    size_t n_sp = space_prefix ? 1 : 0;
    for (size_t i = 0; i < len; i++) n_sp += text[i] == ' ';
    size_t need;
    if (lo_mul_overflow(n_sp, 2, &need) || lo_add_overflow(need, len + 2, &need))
        return lo_error(LO_ERR_NOMEM, NULL, "text too large");
    if (need > *cap) {
        char *p = lo_realloc(*buf, need);
        if (!p) return lo_error(LO_ERR_NOMEM, NULL, "out of memory tokenizing %zu bytes", len);
        *buf = p;
        *cap = need;
    }
    char *w = *buf;
    if (space_prefix) memcpy(w, "\xE2\x96\x81", 3), w += 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(w, "\xE2\x96\x81", 3), w += 3;
        else *w++ = text[i];
    }
    return lo_spm_encode(t, *buf, (size_t)(w - *buf), out);
}

lo_status lo_tokenize(const lo_tokenizer *t, const char *text, size_t len, bool add_special, bool parse_special,
                      lo_tokens *out) {
    if (!t || !out || (!text && len)) return lo_error(LO_ERR_INVALID, NULL, "lo_tokenize: bad arguments");
    frag_vec fr = {0};
    lo_status s = partition(t, text, len, parse_special, &fr);
    if (s) return s;
    char *buf = NULL;
    size_t cap = 0;

    /* Framing: BOS/EOS as the file's flags say; BERT always frames as [CLS] ... [SEP]. */
    const bool wpm = t->kind == LO_TOK_WPM;
    const bool add_first = add_special && (wpm || t->add_bos), add_last = add_special && (wpm || t->add_eos);
    const int32_t first = t->bos, last = wpm ? t->sep : t->eos;
    if (add_first) {
        if (first < 0)
            s = lo_error(LO_ERR_FORMAT, NULL, "the vocabulary asks for a %s token but defines none", wpm ? "CLS" : "BOS");
        else s = lo_tokens_push(out, first);
    }
    bool prev_special = true; /* SPM: the first text fragment gets the space prefix */
    for (size_t i = 0; i < fr.n && !s; i++) {
        const char *frag = text + fr.v[i].off;
        if (fr.v[i].id >= 0) {
            s = lo_tokens_push(out, fr.v[i].id);
            prev_special = true;
            continue;
        }
        switch (t->kind) {
        case LO_TOK_SPM:
            s = spm_fragment(t, frag, fr.v[i].len, t->add_space_prefix && prev_special, &buf, &cap, out);
            break;
        case LO_TOK_BPE: s = lo_bpe_encode(t, frag, fr.v[i].len, out); break;
        case LO_TOK_WPM: s = lo_wpm_encode(t, frag, fr.v[i].len, out); break;
        }
        prev_special = false;
    }
    if (!s && add_last) {
        if (last < 0)
            s = lo_error(LO_ERR_FORMAT, NULL, "the vocabulary asks for a %s token but defines none", wpm ? "SEP" : "EOS");
        else s = lo_tokens_push(out, last);
    }
    lo_free(buf);
    lo_free(fr.v);
    return s;
}

/* ---- ids to text ------------------------------------------------------------------ */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Appends at most one leading ' ' stripped (lstrip) copy of s. */
static lo_status append_lstrip(char **buf, size_t *len, size_t *cap, const char *s, size_t n, bool lstrip) {
    if (lstrip && n && s[0] == ' ') s++, n--;
    return buf_append(buf, len, cap, s, n);
}

/* llama.cpp's token_to_piece: control/unknown tokens only when `special`; user-defined and
 * special tokens verbatim; normal tokens with ▁ -> ' ' (SPM, WPM) or GPT-2 byte decoding
 * (BPE); SPM byte tokens as their byte; unused/undefined tokens as nothing. */
static lo_status piece(const lo_tokenizer *t, int32_t id, bool special, bool lstrip, char **buf, size_t *len,
                       size_t *cap) {
    int32_t ty = t->types[id];
    const char *s = t->text[id];
    size_t n = t->text_len[id];
    if (ty == LO_TOKEN_CONTROL || ty == LO_TOKEN_UNKNOWN) {
        if (!special) return buf_append(buf, len, cap, "", 0);
        return append_lstrip(buf, len, cap, s, n, lstrip);
    }
    if (ty == LO_TOKEN_USER_DEFINED) return append_lstrip(buf, len, cap, s, n, lstrip);
    if (ty == LO_TOKEN_NORMAL) {
        size_t start = *len;
        lo_status st;
        if (t->kind == LO_TOK_BPE) {
            st = lo_bpe_decode_token(s, n, buf, len, cap);
        } else { /* unescape U+2581 to ' ' */
            st = buf_append(buf, len, cap, "", 0);
            for (size_t i = 0; i < n && !st;) {
                if (i + 3 <= n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                    st = buf_append(buf, len, cap, " ", 1);
                    i += 3;
                } else {
                    size_t j = i + 1;
                    while (j < n && !(j + 3 <= n && memcmp(s + j, "\xE2\x96\x81", 3) == 0)) j++;
                    st = buf_append(buf, len, cap, s + i, j - i);
                    i = j;
                }
            }
        }
        if (st) return st;
        if (lstrip && *len > start && (*buf)[start] == ' ') {
            memmove(*buf + start, *buf + start + 1, *len - start - 1);
            (*len)--;
        }
        return buf_append(buf, len, cap, "", 0);
    }
    if (ty == LO_TOKEN_BYTE && t->kind != LO_TOK_BPE) {
        int hi = n >= 6 ? hexval(s[3]) : -1, lo = n >= 6 ? hexval(s[4]) : -1;
        if (hi >= 0 && lo >= 0 && s[0] == '<' && s[1] == '0' && s[2] == 'x') {
            char c = (char)(hi * 16 + lo);
            return append_lstrip(buf, len, cap, &c, 1, lstrip);
        }
        return append_lstrip(buf, len, cap, s, n, lstrip); /* malformed byte token: its text */
    }
    return buf_append(buf, len, cap, "", 0);
}

lo_status lo_token_to_piece(const lo_tokenizer *t, int32_t id, bool special, char **buf, size_t *len, size_t *cap) {
    if (!t || !buf || !len || !cap) return lo_error(LO_ERR_INVALID, NULL, "lo_token_to_piece: bad arguments");
    if (!valid_id(t, id))
        return lo_error(LO_ERR_RANGE, "token ids run from 0 to n_vocab-1", "token id %d is outside the vocabulary (%d tokens)",
                        id, t->n_vocab);
    return piece(t, id, special, false, buf, len, cap);
}

/* clean_up_tokenization_spaces, exactly as llama.cpp's three in-place passes. */
static size_t clean_spaces(char *text, size_t total) {
    size_t total1 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < total1; ++i) { /* " ?", " !", " .", " ," */
        char x = text[i];
        if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) total--;
        text[total++] = x;
    }
    size_t total2 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < total2; ++i) { /* " ' " -> "'" */
        char x = text[i];
        if (x == '\'' && i + 1 < total2 && text[i - 1] == ' ' && text[i + 1] == ' ') {
            total--;
            text[++i] = '\0';
        }
        text[total++] = x;
    }
    size_t total3 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < total3; ++i) { /* " 's", " 'm", " 're", " 've" */
        char x = text[i];
        if (text[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
            char x1 = text[i + 1];
            if (x1 == 's' || x1 == 'm') total--;
            else if (i + 2 < total3 && ((x1 == 'r' && text[i + 2] == 'e') || (x1 == 'v' && text[i + 2] == 'e'))) total--;
        }
        text[total++] = x;
    }
    return total;
}

lo_status lo_detokenize(const lo_tokenizer *t, const int32_t *ids, int64_t n, bool remove_special, bool unparse_special,
                        char **text, size_t *len) {
    if (!t || !text || !len || n < 0 || (!ids && n)) return lo_error(LO_ERR_INVALID, NULL, "lo_detokenize: bad arguments");
    *text = NULL;
    *len = 0;
    for (int64_t i = 0; i < n; i++)
        if (!valid_id(t, ids[i]))
            return lo_error(LO_ERR_RANGE, "token ids run from 0 to n_vocab-1",
                            "token %lld: id %d is outside the vocabulary (%d tokens)", (long long)i, ids[i], t->n_vocab);
    /* SPM's added space prefix is removed from the first piece, unless a leading BOS was
     * dropped (llama.cpp's rule). */
    bool remove_space = t->add_space_prefix;
    if (remove_special && t->add_bos && n > 0 && ids[0] == t->bos) {
        remove_space = false;
        ids++, n--;
    }
    if (remove_special && t->add_eos && n > 0 && ids[n - 1] == t->eos) n--;

    char *buf = NULL;
    size_t l = 0, cap = 0;
    lo_status s = buf_append(&buf, &l, &cap, "", 0);
    for (int64_t i = 0; i < n && !s; i++) {
        s = piece(t, ids[i], unparse_special, remove_space, &buf, &l, &cap);
        remove_space = false;
    }
    if (s) {
        lo_free(buf);
        return s;
    }
    if (t->clean_spaces) {
        l = clean_spaces(buf, l);
        buf[l] = '\0';
    }
    *text = buf;
    *len = l;
    return LO_OK;
}

/* ---- accessors -------------------------------------------------------------------- */

lo_tok_kind lo_tokenizer_kind(const lo_tokenizer *t) { return t->kind; }

const char *lo_tokenizer_kind_name(lo_tok_kind k) {
    switch (k) {
    case LO_TOK_SPM: return "spm";
    case LO_TOK_BPE: return "bpe";
    case LO_TOK_WPM: return "wpm";
    }
    return "?";
}

const char *lo_tokenizer_pre_name(const lo_tokenizer *t) { return t->pre; }
int32_t lo_tokenizer_n_vocab(const lo_tokenizer *t) { return t->n_vocab; }
int32_t lo_tokenizer_bos(const lo_tokenizer *t) { return t->bos; }
int32_t lo_tokenizer_eos(const lo_tokenizer *t) { return t->eos; }
int32_t lo_tokenizer_eot(const lo_tokenizer *t) { return t->eot; }
bool lo_tokenizer_add_bos(const lo_tokenizer *t) { return t->add_bos; }
bool lo_tokenizer_add_eos(const lo_tokenizer *t) { return t->add_eos; }

bool lo_tokenizer_is_eog(const lo_tokenizer *t, int32_t id) {
    if (id < 0) return false;
    for (int32_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return true;
    return false;
}

const char *lo_tokenizer_token_text(const lo_tokenizer *t, int32_t id, size_t *len) {
    if (!valid_id(t, id)) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->text_len[id];
    return t->text[id];
}

lo_token_type lo_tokenizer_token_type(const lo_tokenizer *t, int32_t id) {
    return valid_id(t, id) ? (lo_token_type)t->types[id] : LO_TOKEN_UNDEFINED;
}

int32_t lo_tokenizer_find(const lo_tokenizer *t, const char *text, size_t len) {
    int64_t v;
    if (!text || !lo_strmap_get(t->text_to_id, text, len, &v)) return -1;
    return (int32_t)v;
}
