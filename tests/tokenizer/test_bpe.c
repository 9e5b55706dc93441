/* Unit tests of byte-level BPE (bpe.c, pretok.c) apart from the vocab harness: the GPT-2
 * byte<->unicode mapping, pre-tokenizer splits, merges on the gpt-2 / dbrx vocabularies,
 * invalid UTF-8, hostile merge lists, and a 1 MB stress text. */
#include "check.h"
#include "llmops/gguf.h"
#include "llmops/tokenizer.h"
#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer_internal.h"

/* The GPT-2 table built independently of bpe.c: printable Latin-1 bytes map to
 * themselves, the others to 256, 257, ... in byte order. */
static uint32_t ref_cp(int b) {
    static uint32_t map[256];
    static int built;
    if (!built) {
        int n = 0;
        for (int c = 0; c < 256; c++) {
            bool printable = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
            map[c] = printable ? (uint32_t)c : (uint32_t)(256 + n++);
        }
        built = 1;
    }
    return map[b];
}

static size_t utf8_put(uint32_t cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static void test_byte_map(void) {
    /* Bijection: 256 distinct images, each decoding back to its byte. */
    bool seen[512] = {0};
    int distinct = 0;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = ref_cp(b) & 511; /* all images are below U+0200 */
        CHECK(cp == ref_cp(b));
        if (!seen[cp]) distinct++;
        seen[cp] = true;
        char enc[2];
        size_t n = utf8_put(cp, enc);
        char *buf = NULL;
        size_t len = 0, cap = 0;
        CHECK_OK(lo_bpe_decode_token(enc, n, &buf, &len, &cap));
        CHECK_MSG(len == 1 && (uint8_t)buf[0] == b, "byte %d", b);
        CHECK(buf[len] == '\0');
        lo_free(buf);
    }
    CHECK_INT_EQ(distinct, 256);
    /* Characters outside the table are copied as UTF-8; appends accumulate. */
    char *buf = NULL;
    size_t len = 0, cap = 0;
    CHECK_OK(lo_bpe_decode_token("\xC4\xA0"
                                 "a",
                                 3, &buf, &len, &cap));                 /* "Ġa" -> " a" */
    CHECK_OK(lo_bpe_decode_token("\xE2\x9C\x85", 3, &buf, &len, &cap)); /* U+2705 kept */
    CHECK_OK(lo_bpe_decode_token("\xFF", 1, &buf, &len, &cap));         /* invalid byte kept */
    CHECK_INT_EQ(len, 6);
    CHECK(memcmp(buf, " a\xE2\x9C\x85\xFF", 6) == 0);
    lo_free(buf);
}

/* Splits text and compares with the expected pieces (NULL-terminated list). */
static void check_split(const char *pre, const char *text, const char *const *want) {
    size_t len = strlen(text);
    lo_pretok *p = NULL;
    bool im = false;
    CHECK_OK(lo_pretok_create(pre, &p, &im));
    if (!p) return;
    lo_pretok_scratch s = {0};
    const lo_pretok_span *sp = NULL;
    size_t n = 0;
    CHECK_OK(lo_pretok_split(p, text, len, &s, &sp, &n));
    size_t k = 0;
    for (; want[k]; k++) {
        if (k >= n) break;
        size_t wl = strlen(want[k]);
        CHECK_MSG(sp[k].end - sp[k].start == wl && memcmp(text + sp[k].start, want[k], wl) == 0,
                  "%s piece %zu: got '%.*s', want '%s'", pre, k, (int)(sp[k].end - sp[k].start), text + sp[k].start,
                  want[k]);
    }
    CHECK_MSG(k == n && !want[k], "%s: %zu pieces, want %zu", pre, n, k);
    /* Pieces always partition the text. */
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(sp[i].start == pos && sp[i].end > sp[i].start);
        pos = sp[i].end;
    }
    CHECK(pos == len);
    lo_pretok_scratch_free(&s);
    lo_pretok_free(p);
}

static void test_splits(void) {
    const char *gpt2[] = {"Hello", " world", "'s", " ", " test", "\n\n", " 123", NULL};
    check_split("gpt-2", "Hello world's  test\n\n 123", gpt2);
    const char *llama3[] = {"Hello", " world", "'S", " ", "123", "45", "\n\n", " ", " x", "!!\n", NULL};
    check_split("llama3", "Hello world'S 12345\n\n  x!!\n", llama3);
    /* gpt-2 contractions are case-sensitive: 'S is punctuation + letter. */
    const char *gpt2b[] = {"it", "'", "S", NULL};
    check_split("gpt-2", "it'S", gpt2b);
    /* starcoder: digits one by one, before the gpt-2 pattern. */
    const char *sc[] = {"x", "1", "2", "3", " y", NULL};
    check_split("starcoder", "x123 y", sc);
    /* superbpe's zero-width pattern splits digit runs into groups of three from the right. */
    const char *sb[] = {"1", "234", "567", NULL};
    check_split("superbpe", "1234567", sb);
    /* Invalid UTF-8 is matched as U+FFFD (a symbol) but the pieces keep the raw bytes. */
    const char *inv[] = {"a", "\xFF\xFE", " b", "\xC3", NULL};
    check_split("gpt-2", "a\xFF\xFE b\xC3", inv);

    /* Every family compiles; unknown names are refused with a hint. */
    const char *names[] = {"default",
                           "gpt-2",
                           "llama3",
                           "llama-bpe",
                           "dbrx",
                           "deepseek-llm",
                           "deepseek-coder",
                           "deepseek-v3",
                           "spark2_5",
                           "youtu",
                           "falcon",
                           "starcoder",
                           "refact",
                           "mpt",
                           "qwen2",
                           "qwen35",
                           "jais-2",
                           "poro-chat",
                           "viking",
                           "tekken",
                           "chameleon",
                           "gpt-4o",
                           "granite-embed-multi-97m",
                           "tiny_aya",
                           "superbpe",
                           "bailingmoe",
                           "seed-coder",
                           "ufakzeka",
                           "laguna",
                           "exaone-moe",
                           "minicpm5",
                           "chatglm-bpe",
                           "command-r",
                           "smollm"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        lo_pretok *p = NULL;
        bool im = false;
        CHECK_MSG(lo_pretok_create(names[i], &p, &im) == LO_OK, "%s: %s", names[i], lo_error_message());
        CHECK(p && lo_pretok_n_regex(p) >= 1 && lo_pretok_regex(p, 0));
        lo_pretok_free(p);
    }
    lo_pretok *p = NULL;
    CHECK_INT_EQ(lo_pretok_create("no-such-pre", &p, NULL), LO_ERR_UNSUPPORTED);
    CHECK(p == NULL && lo_error_hint()[0] != '\0');
    bool im = false;
    CHECK_OK(lo_pretok_create("llama3", &p, &im));
    CHECK(im);
    lo_pretok_free(p);
    CHECK_OK(lo_pretok_create("dbrx", &p, &im));
    CHECK(!im);
    lo_pretok_free(p);
}

static lo_tokenizer *load_vocab(const char *name) {
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf", name);
    check_shared(rel, path, sizeof path);
    lo_gguf *g = NULL;
    lo_tokenizer *t = NULL;
    CHECK_OK(lo_gguf_open(path, &g));
    if (g) CHECK_OK(lo_tokenizer_load(g, &t));
    lo_gguf_close(g);
    return t;
}

static void check_ids(const lo_tokenizer *t, const char *text, const int32_t *want, int64_t n_want) {
    lo_tokens tk = {0};
    CHECK_OK(lo_tokenize(t, text, strlen(text), false, false, &tk));
    bool same = tk.n == n_want;
    for (int64_t i = 0; same && i < n_want; i++) same = tk.ids[i] == want[i];
    if (!same) {
        fprintf(stderr, "  '%s' ->", text);
        for (int64_t i = 0; i < tk.n; i++) fprintf(stderr, " %d", tk.ids[i]);
        fprintf(stderr, "\n");
    }
    CHECK_MSG(same, "ids of '%s'", text);
    lo_tokens_free(&tk);
}

/* Concatenated pieces of ids must give back text byte for byte. */
static void check_roundtrip(const lo_tokenizer *t, const char *text, size_t len) {
    lo_tokens tk = {0};
    CHECK_OK(lo_tokenize(t, text, len, false, false, &tk));
    char *buf = NULL;
    size_t blen = 0, cap = 0;
    bool ids_ok = true;
    for (int64_t i = 0; i < tk.n; i++) {
        ids_ok = ids_ok && tk.ids[i] >= 0 && tk.ids[i] < lo_tokenizer_n_vocab(t);
        if (lo_token_to_piece(t, tk.ids[i], false, &buf, &blen, &cap) != LO_OK) ids_ok = false;
    }
    CHECK(ids_ok);
    CHECK_MSG(blen == len && (len == 0 || memcmp(buf, text, len) == 0), "round trip of %zu bytes gave %zu", len, blen);
    lo_free(buf);
    lo_tokens_free(&tk);
}

static void test_vocab_ids(void) {
    lo_tokenizer *t = load_vocab("gpt-2");
    if (!t) return;
    CHECK_INT_EQ(lo_tokenizer_kind(t), LO_TOK_BPE);
    check_ids(t, "Hello world", (const int32_t[]){15496, 995}, 2);
    check_ids(t, " Hello world", (const int32_t[]){18435, 995}, 2);
    check_ids(t, " Hello, world!", (const int32_t[]){18435, 11, 995, 0}, 4);
    check_ids(t, "\n\n\n", (const int32_t[]){628, 198}, 2);
    check_ids(t, " this is \xF0\x9F\xA6\x99.cpp", (const int32_t[]){428, 318, 12520, 99, 247, 13, 20322}, 7);
    check_ids(t, "", NULL, 0);

    /* Each single byte (valid or not) is one token that decodes back to it. */
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        lo_tokens tk = {0};
        CHECK_OK(lo_tokenize(t, &c, 1, false, false, &tk));
        CHECK_MSG(tk.n == 1, "byte %d gave %lld tokens", b, (long long)tk.n);
        lo_tokens_free(&tk);
        check_roundtrip(t, &c, 1);
    }
    /* GPT-2's first 256 tokens are the byte images: they decode to 256 distinct bytes. */
    bool seen[256] = {0};
    int distinct = 0;
    for (int32_t id = 0; id < 256; id++) {
        size_t n;
        const char *s = lo_tokenizer_token_text(t, id, &n);
        char *buf = NULL;
        size_t len = 0, cap = 0;
        CHECK_OK(lo_bpe_decode_token(s, n, &buf, &len, &cap));
        if (len == 1 && !seen[(uint8_t)buf[0]]) {
            seen[(uint8_t)buf[0]] = true;
            distinct++;
        }
        lo_free(buf);
    }
    CHECK_INT_EQ(distinct, 256);

    /* Invalid UTF-8: no crash, every byte kept (detokenize included). */
    const char bad[] = "ab\xFF\xFE cd\xC3 \xE2\x82 \xF0\x9F\x98 e\xED\xA0\x80 f\xC0\xAF";
    check_roundtrip(t, bad, sizeof bad - 1);
    lo_tokens tk = {0};
    CHECK_OK(lo_tokenize(t, bad, sizeof bad - 1, false, false, &tk));
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(lo_detokenize(t, tk.ids, tk.n, false, false, &text, &len));
    CHECK(len == sizeof bad - 1 && memcmp(text, bad, len) == 0);
    lo_free(text);
    lo_tokens_free(&tk);
    lo_tokenizer_free(t);

    /* llama3-style (cl100k) regex on dbrx. */
    t = load_vocab("dbrx");
    if (!t) return;
    check_ids(t, "\n\n", (const int32_t[]){271}, 1);
    check_ids(t, " Hello world", (const int32_t[]){22691, 1917}, 2);
    check_roundtrip(t, bad, sizeof bad - 1);
    lo_tokenizer_free(t);

    /* gpt-neox has no pre key: the 'default' pre-tokenizer. */
    t = load_vocab("gpt-neox");
    if (!t) return;
    CHECK_STR_EQ(lo_tokenizer_pre_name(t), "default");
    check_roundtrip(t, "Hello, world! 12345 don't", 25);
    lo_tokenizer_free(t);
}

/* A deterministic 1 MB mix of ASCII words, digits, punctuation, whitespace runs,
 * multi-byte characters and invalid bytes. */
static char *stress_text(size_t n) {
    char *s = lo_malloc(n);
    if (!s) return NULL;
    static const char *const parts[] = {"the",
                                        " quick",
                                        " Brown",
                                        "fox's",
                                        "  ",
                                        "\n",
                                        "\n\n",
                                        "\t",
                                        "123456",
                                        "!!",
                                        "...",
                                        " (",
                                        ")",
                                        "\xC3\xA9t\xC3\xA9",
                                        "\xE4\xB8\xAD\xE6\x96\x87",
                                        "\xF0\x9F\xA6\x99",
                                        "\xD0\xBF\xD1\x80\xD0\xB8",
                                        " ",
                                        "'ll",
                                        "\xFF",
                                        "\xC3",
                                        "\xE0\xB8\x81",
                                        "                ",
                                        "x",
                                        "\xCC\x81"};
    uint64_t r = 0x9E3779B97F4A7C15ull;
    size_t o = 0;
    while (o < n) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        const char *p = parts[r % (sizeof parts / sizeof parts[0])];
        size_t l = strlen(p);
        if (l > n - o) l = n - o;
        memcpy(s + o, p, l);
        o += l;
    }
    return s;
}

static void test_stress(void) {
    size_t n = 1u << 20;
    char *s = stress_text(n);
    CHECK(s != NULL);
    if (!s) return;
    const char *vocabs[] = {"gpt-2", "dbrx", "deepseek-llm", "falcon"};
    for (size_t v = 0; v < sizeof vocabs / sizeof vocabs[0]; v++) {
        lo_tokenizer *t = load_vocab(vocabs[v]);
        if (!t) continue;
        double t0 = lo_time_sec();
        lo_tokens tk = {0};
        CHECK_OK(lo_tokenize(t, s, n, false, false, &tk));
        double dt = lo_time_sec() - t0;
        bool ok = tk.n > 0;
        for (int64_t i = 0; ok && i < tk.n; i++) ok = tk.ids[i] >= 0 && tk.ids[i] < lo_tokenizer_n_vocab(t);
        CHECK_MSG(ok, "%s: ids in range", vocabs[v]);
        fprintf(stderr, "%s: 1 MiB -> %lld tokens in %.3f s\n", vocabs[v], (long long)tk.n, dt);
        lo_tokens_free(&tk);
        /* gpt-2 and dbrx have every byte as a token, so nothing may be lost. */
        if (v < 2) check_roundtrip(t, s, n);
        lo_tokenizer_free(t);
    }
    lo_free(s);
}

/* A tiny vocabulary written to a file, with a hostile merges list. */
static void test_hostile_merges(void) {
    char path[] = "/tmp/lo_test_bpe_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    const char *tokens[] = {"a",
                            "b",
                            "c",
                            "ab",
                            "abc",
                            "\xC4\xA0",
                            "\xC4\xA0\x61", /* "Ġa" */
                            "bc"};
    const int32_t types[] = {1, 1, 1, 1, 1, 1, 1, 1};
    const char *merges[] = {"a b",  "ab c",       "nospace",    " a b", "a b", "",
                            "a  b", "\xFF\xFE x", "\xC4\xA0 a", "b c",  "x"};
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(3, &w));
    if (!w) return;
    CHECK_OK(lo_gguf_writer_set_str(w, "general.architecture", "gpt2"));
    CHECK_OK(lo_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2"));
    CHECK_OK(lo_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2"));
    CHECK_OK(lo_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 8));
    CHECK_OK(lo_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", LO_GGUF_INT32, types, 8));
    CHECK_OK(lo_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, sizeof merges / sizeof merges[0]));
    CHECK_OK(lo_gguf_writer_write(w, path));
    lo_gguf_writer_free(w);

    lo_gguf *g = NULL;
    lo_tokenizer *t = NULL;
    CHECK_OK(lo_gguf_open(path, &g));
    if (g) CHECK_OK(lo_tokenizer_load(g, &t));
    lo_gguf_close(g);
    unlink(path);
    if (!t) return;
    check_ids(t, "abc", (const int32_t[]){4}, 1);     /* a b (rank 0), then ab c */
    check_ids(t, "ba", (const int32_t[]){1, 0}, 2);   /* no merge "b a" */
    check_ids(t, " abc", (const int32_t[]){5, 4}, 2); /* a b (0), ab c (1); "Ġ a" (8) comes too late */
    check_ids(t, "xyz", NULL, 0);                     /* unknown bytes are dropped, no bad id */
    check_ids(t,
              "a\xFF"
              "b",
              (const int32_t[]){0, 1}, 2); /* invalid byte has no token */
    lo_tokenizer_free(t);

    /* llama3-style types emit a whole piece that is a token without merging. */
    for (int variant = 0; variant < 2; variant++) {
        const char *only[] = {"x y"};
        CHECK_OK(lo_gguf_writer_create(3, &w));
        if (!w) return;
        CHECK_OK(lo_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2"));
        CHECK_OK(lo_gguf_writer_set_str(w, "tokenizer.ggml.pre", variant ? "llama-bpe" : "dbrx"));
        CHECK_OK(lo_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 8));
        CHECK_OK(lo_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", LO_GGUF_INT32, types, 8));
        CHECK_OK(lo_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", only, 1));
        CHECK_OK(lo_gguf_writer_write(w, path));
        lo_gguf_writer_free(w);
        g = NULL;
        t = NULL;
        CHECK_OK(lo_gguf_open(path, &g));
        if (g) CHECK_OK(lo_tokenizer_load(g, &t));
        lo_gguf_close(g);
        unlink(path);
        if (!t) continue;
        if (variant)
            check_ids(t, "abc", (const int32_t[]){4}, 1);
        else
            check_ids(t, "abc", (const int32_t[]){0, 1, 2}, 3);
        lo_tokenizer_free(t);
    }

    /* Merges missing or of the wrong type are refused. */
    for (int variant = 0; variant < 2; variant++) {
        CHECK_OK(lo_gguf_writer_create(3, &w));
        if (!w) return;
        CHECK_OK(lo_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2"));
        CHECK_OK(lo_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 8));
        if (variant == 1) CHECK_OK(lo_gguf_writer_set_arr(w, "tokenizer.ggml.merges", LO_GGUF_INT32, types, 8));
        CHECK_OK(lo_gguf_writer_write(w, path));
        lo_gguf_writer_free(w);
        g = NULL;
        t = NULL;
        CHECK_OK(lo_gguf_open(path, &g));
        if (g) CHECK(lo_tokenizer_load(g, &t) != LO_OK && t == NULL);
        lo_gguf_close(g);
        unlink(path);
    }
}

int main(void) {
    test_byte_map();
    test_splits();
    test_hostile_merges();
    test_vocab_ids();
    test_stress();
    CHECK_INT_EQ(lo_alloc_live_bytes(), 0); /* every counted allocation was freed */
    return check_done();
}
