/* Training a byte-level BPE vocabulary (bpe_train.c, `llmops tokenizer train`): the file
 * loads with lo_tokenizer, every line (UTF-8 and odd bytes included) round-trips byte
 * for byte, frequent words become one token, the same input gives the same bytes, the
 * vocabulary has exactly N tokens (fewer, reported, when no pair is left), special tokens
 * are control tokens used as BOS/EOS, bad arguments give clear errors, and a 1 MB corpus
 * trains to 4096 tokens in well under a few seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "llmops/llmops.h"
#include "tokenizer/tokenizer_internal.h"

static char dir[256];

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

static lo_tokenizer *load(const char *path) {
    lo_gguf *g = NULL;
    lo_tokenizer *t = NULL;
    lo_status s = lo_gguf_open(path, &g);
    if (!s) s = lo_tokenizer_load(g, &t);
    lo_gguf_close(g);
    CHECK_MSG(s == LO_OK, "loading %s: %s", path, lo_error_message());
    return t;
}

/* Concatenated pieces of ids (llama.cpp's token_to_piece, no clean-up): the raw bytes. */
static bool roundtrips(const lo_tokenizer *t, const char *text, size_t n) {
    lo_tokens ids = {0};
    bool ok = lo_tokenize(t, text, n, false, false, &ids) == LO_OK;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (int64_t i = 0; ok && i < ids.n; i++) ok = lo_token_to_piece(t, ids.ids[i], false, &buf, &len, &cap) == LO_OK;
    ok = ok && len == n && (n == 0 || memcmp(buf, text, n) == 0);
    lo_free(buf);
    lo_tokens_free(&ids);
    return ok;
}

static int64_t n_ids(const lo_tokenizer *t, const char *text, bool parse_special) {
    lo_tokens ids = {0};
    lo_status s = lo_tokenize(t, text, strlen(text), false, parse_special, &ids);
    int64_t n = s ? -1 : ids.n;
    lo_tokens_free(&ids);
    return n;
}

static bool same_file(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool ok = lo_read_file(a, &x, &nx) == LO_OK && lo_read_file(b, &y, &ny) == LO_OK && nx == ny &&
              memcmp(x, y, nx) == 0;
    lo_free(x);
    lo_free(y);
    return ok;
}

static const char *small_lines[] = {
    "hello world, hello tokenizer",
    "the cat sat on the mat; the dog sat on the log",
    "naïve café — Größe, 日本語のテキスト, emoji 🙂🙃 and ∑ math",
    "tabs\tand\r\nCRLF, digits 1234567890 and 3.14159",
    "odd bytes: \x01\x02\x7f\x80\xff\xfe end", /* invalid UTF-8 on purpose */
    "hello hello hello hello hello hello hello hello",
    "  leading and trailing spaces  ",
    "it's we're they've I'm don't",
};

static void test_small(void) {
    /* Corpus: the lines, many times, joined by newlines, with an <|endoftext|> between
     * documents. */
    size_t cap = 1 << 16, n = 0;
    char *corpus = lo_malloc(cap);
    for (int rep = 0; rep < 20; rep++)
        for (size_t i = 0; i < sizeof small_lines / sizeof *small_lines; i++) {
            size_t l = strlen(small_lines[i]);
            memcpy(corpus + n, small_lines[i], l);
            n += l;
            corpus[n++] = '\n';
            if (i == 3) {
                memcpy(corpus + n, "<|endoftext|>", 13);
                n += 13;
            }
        }
    const char *cpath = tmp_path("small.txt");
    write_file(cpath, corpus, n);

    const char *extra[] = {"<|pad|>", "<|endoftext|>" /* repeat: ignored */};
    lo_bpe_train_opts o = {.vocab_size = 400, .min_frequency = 1, .special = extra, .n_special = 2};
    lo_bpe_train_stats st;
    const char *out1 = tmp_path("small1.gguf"), *out2 = tmp_path("small2.gguf");
    CHECK_OK(lo_bpe_train_file(cpath, out1, &o, &st));
    CHECK_INT_EQ(st.n_vocab, 400);
    CHECK_OK(lo_bpe_train_file(cpath, out2, &o, &st));
    CHECK_MSG(same_file(out1, out2), "same input, different bytes");

    lo_tokenizer *t = load(out1);
    if (!t) return lo_free(corpus);
    CHECK_INT_EQ(lo_tokenizer_n_vocab(t), 400);
    CHECK_STR_EQ(lo_tokenizer_kind_name(lo_tokenizer_kind(t)), "bpe");
    CHECK_STR_EQ(lo_tokenizer_pre_name(t), "gpt-2");
    int32_t eot = lo_tokenizer_find(t, "<|endoftext|>", 13), pad = lo_tokenizer_find(t, "<|pad|>", 7);
    CHECK_INT_EQ(eot, 398);
    CHECK_INT_EQ(pad, 399);
    CHECK_INT_EQ(lo_tokenizer_bos(t), eot);
    CHECK_INT_EQ(lo_tokenizer_eos(t), eot);
    CHECK(lo_tokenizer_token_type(t, eot) == LO_TOKEN_CONTROL);
    CHECK(lo_tokenizer_token_type(t, pad) == LO_TOKEN_CONTROL);
    CHECK(lo_tokenizer_token_type(t, 0) == LO_TOKEN_NORMAL);
    CHECK(lo_tokenizer_is_eog(t, eot));
    CHECK_INT_EQ(n_ids(t, "<|endoftext|>", true), 1);
    CHECK(n_ids(t, "<|endoftext|>", false) > 1);

    /* Every line of the corpus and unseen text, all 256 bytes included, round-trips. */
    for (size_t i = 0; i < sizeof small_lines / sizeof *small_lines; i++)
        CHECK_MSG(roundtrips(t, small_lines[i], strlen(small_lines[i])), "line %zu", i);
    CHECK(roundtrips(t, corpus, n));
    char all[512];
    for (int b = 0; b < 256; b++) all[b] = (char)b, all[256 + b] = (char)(255 - b);
    CHECK(roundtrips(t, all, sizeof all));
    CHECK(roundtrips(t, "zebra quokka 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \xc3\x28 \xe2\x82", 32));
    /* lo_detokenize gives the text back too (no " ," patterns in this line). */
    {
        const char *line = small_lines[2];
        lo_tokens ids = {0};
        CHECK_OK(lo_tokenize(t, line, strlen(line), true, false, &ids));
        char *txt = NULL;
        size_t len = 0;
        CHECK_OK(lo_detokenize(t, ids.ids, ids.n, false, false, &txt, &len));
        CHECK(txt && len == strlen(line) && memcmp(txt, line, len) == 0);
        lo_free(txt);
        lo_tokens_free(&ids);
    }

    /* Frequent words are one token. */
    CHECK_INT_EQ(n_ids(t, " hello", false), 1);
    CHECK_INT_EQ(n_ids(t, "hello", false), 1);
    CHECK_INT_EQ(n_ids(t, " the", false), 1);
    CHECK_INT_EQ(n_ids(t, " sat", false), 1);
    CHECK(lo_tokenizer_find(t, "Ġhello", strlen("Ġhello")) >= 0);
    lo_tokenizer_free(t);

    /* Text of the CLI. */
    char cmd[2048];
    const char *out3 = tmp_path("small3.gguf");
    snprintf(cmd, sizeof cmd, "%s tokenizer train --vocab 400 --min-frequency 1 %s %s --special '<|pad|>' >/dev/null",
             LO_CLI_PATH, cpath, out3);
    CHECK_INT_EQ(system(cmd), 0);
    CHECK_MSG(same_file(out1, out3), "CLI and library differ");
    lo_free(corpus);
}

static void test_fewer(void) {
    /* "ab ab ab ab": words "ab" ×1 and " ab" ×3; merges "a b" (4), then "Ġ ab" (3), then
     * no pair is left. */
    const char *txt = "ab ab ab ab";
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(3, &w));
    lo_bpe_train_opts o = {.vocab_size = 1000};
    lo_bpe_train_stats st;
    CHECK_OK(lo_bpe_train(txt, strlen(txt), &o, w, &st));
    CHECK_INT_EQ(st.n_merges, 2);
    CHECK_INT_EQ(st.n_vocab, 256 + 2 + 1);
    CHECK_INT_EQ(st.n_words, 4);
    CHECK_INT_EQ(st.n_unique, 2);
    /* The merges in learning order. */
    const char *path = tmp_path("fewer.gguf");
    CHECK_OK(lo_gguf_writer_write(w, path));
    lo_gguf *g = NULL;
    CHECK_OK(lo_gguf_open(path, &g));
    const lo_gguf_value *m = g ? lo_gguf_get_arr(g, "tokenizer.ggml.merges", LO_GGUF_STRING) : NULL;
    CHECK(m && m->arr.n == 2 && lo_gguf_str_eq(m->arr.strs[0], "a b") && lo_gguf_str_eq(m->arr.strs[1], "Ġ ab"));
    lo_gguf_close(g);
    lo_gguf_writer_free(w);

    /* Ties: in "cd ab cd ab", (a,b), (c,d) and (Ġ,a) occur twice each: "a b" wins, then
     * "c d" beats "Ġ ab" (also 2); (Ġ,cd) occurs once. */
    CHECK_OK(lo_gguf_writer_create(3, &w));
    CHECK_OK(lo_bpe_train("cd ab cd ab", 11, &o, w, &st));
    CHECK_OK(lo_gguf_writer_write(w, path));
    CHECK_OK(lo_gguf_open(path, &g));
    m = g ? lo_gguf_get_arr(g, "tokenizer.ggml.merges", LO_GGUF_STRING) : NULL;
    CHECK(m && m->arr.n == 3 && lo_gguf_str_eq(m->arr.strs[0], "a b") && lo_gguf_str_eq(m->arr.strs[1], "c d") &&
          lo_gguf_str_eq(m->arr.strs[2], "Ġ ab"));
    lo_gguf_close(g);
    lo_gguf_writer_free(w);

    /* Empty corpus: bytes and <|endoftext|> only. */
    CHECK_OK(lo_gguf_writer_create(3, &w));
    CHECK_OK(lo_bpe_train("", 0, &o, w, &st));
    CHECK_INT_EQ(st.n_vocab, 257);
    lo_gguf_writer_free(w);
}

static void test_errors(void) {
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(3, &w));
    lo_bpe_train_opts o = {.vocab_size = 256};
    CHECK(lo_bpe_train("x", 1, &o, w, NULL) == LO_ERR_RANGE);
    CHECK(strstr(lo_error_message(), "vocab size 256") != NULL);
    o.vocab_size = 300;
    o.min_frequency = -1;
    CHECK(lo_bpe_train("x", 1, &o, w, NULL) == LO_ERR_RANGE);
    o.min_frequency = 0;
    const char *empty[] = {""};
    o.special = empty, o.n_special = 1;
    CHECK(lo_bpe_train("x", 1, &o, w, NULL) == LO_ERR_INVALID);
    const char *clash[] = {"a"};
    o.special = clash;
    CHECK(lo_bpe_train("x", 1, &o, w, NULL) == LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "special token 'a'") != NULL);
    lo_gguf_writer_free(w);
    o.special = NULL, o.n_special = 0;
    CHECK(lo_bpe_train_file(tmp_path("missing.txt"), tmp_path("x.gguf"), &o, NULL) != LO_OK);
    CHECK(access(tmp_path("x.gguf"), F_OK) != 0);

    char cmd[2048];
    const char *cp = tmp_path("small.txt"), *out = tmp_path("cli.gguf");
    snprintf(cmd, sizeof cmd, "%s tokenizer train %s %s 2>/dev/null", LO_CLI_PATH, cp, out); /* no --vocab */
    CHECK_INT_EQ(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s tokenizer train --vocab 10 %s %s 2>/dev/null", LO_CLI_PATH, cp, out);
    CHECK_INT_EQ(WEXITSTATUS(system(cmd)), 1);
    snprintf(cmd, sizeof cmd, "%s tokenizer train --vocab x %s %s 2>/dev/null", LO_CLI_PATH, cp, out);
    CHECK_INT_EQ(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s tokenizer train --vocab 300 --bogus %s %s 2>/dev/null", LO_CLI_PATH, cp, out);
    CHECK_INT_EQ(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s tokenizer train --vocab 300 %s 2>/dev/null", LO_CLI_PATH, cp);
    CHECK_INT_EQ(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s tokenizer frobnicate 2>/dev/null", LO_CLI_PATH);
    CHECK_INT_EQ(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s tokenizer train --vocab 300 %s/nope.txt %s 2>/dev/null", LO_CLI_PATH, dir, out);
    CHECK_INT_EQ(WEXITSTATUS(system(cmd)), 1);
    CHECK(access(out, F_OK) != 0);
}


/* ---- a naive reference trainer: recounts every pair before each merge ------------- */

#define REF_MAX_TOK 700
#define REF_MAX_SYM 8192
static char ref_text[REF_MAX_TOK][128];
static int ref_n_tok;

static int ref_find(const char *s) {
    for (int i = 0; i < ref_n_tok; i++)
        if (strcmp(ref_text[i], s) == 0) return i;
    return -1;
}

/* words: '\n'-free texts separated by '|' already pre-tokenised; counts 1 each. Returns
 * the number of merges, written as "left right" into merges. */
static int ref_train(char words[][32], int n_words, int max_merges, char merges[][300]) {
    static int sym[REF_MAX_SYM], off[256], len[256];
    int n_sym = 0;
    ref_n_tok = 0;
    for (int b = 0; b < 256; b++) {
        char img[2];
        size_t l = lo_bpe_byte_image((uint8_t)b, img);
        memcpy(ref_text[ref_n_tok], img, l);
        ref_text[ref_n_tok++][l] = '\0';
    }
    for (int w = 0; w < n_words; w++) {
        off[w] = n_sym;
        len[w] = (int)strlen(words[w]);
        for (int j = 0; j < len[w]; j++) sym[n_sym++] = (uint8_t)words[w][j];
    }
    int n_merges = 0;
    while (n_merges < max_merges) {
        static int pa[REF_MAX_SYM], pb[REF_MAX_SYM], pc[REF_MAX_SYM];
        int np = 0;
        for (int w = 0; w < n_words; w++)
            for (int i = 0; i + 1 < len[w]; i++) {
                int a = sym[off[w] + i], b = sym[off[w] + i + 1], k = 0;
                while (k < np && !(pa[k] == a && pb[k] == b)) k++;
                if (k == np) pa[np] = a, pb[np] = b, pc[np++] = 0;
                pc[k]++;
            }
        int best = -1;
        for (int k = 0; k < np; k++) {
            if (best < 0 || pc[k] > pc[best]) {
                best = k;
                continue;
            }
            if (pc[k] < pc[best]) continue;
            int c = strcmp(ref_text[pa[k]], ref_text[pa[best]]);
            if (!c) c = strcmp(ref_text[pb[k]], ref_text[pb[best]]);
            if (c < 0) best = k;
        }
        if (best < 0 || pc[best] < 2) break;
        int a = pa[best], b = pb[best];
        snprintf(merges[n_merges++], 300, "%s %s", ref_text[a], ref_text[b]);
        char cat[256];
        snprintf(cat, sizeof cat, "%s%s", ref_text[a], ref_text[b]);
        int c = ref_find(cat);
        if (c < 0 && strlen(cat) < sizeof ref_text[0]) strcpy(ref_text[c = ref_n_tok++], cat);
        if (c < 0) break;
        for (int w = 0; w < n_words; w++) {
            int o = 0, *s = sym + off[w];
            for (int i = 0; i < len[w];)
                if (i + 1 < len[w] && s[i] == a && s[i + 1] == b) s[o++] = c, i += 2;
                else s[o++] = s[i++];
            len[w] = o;
        }
    }
    return n_merges;
}

/* The incremental trainer learns the same merges as the naive one, on words with
 * repeats and overlaps ("aaaa", "abab", texts reachable by two different splits). */
static void test_reference(void) {
    static char words[200][32];
    static char merges[REF_MAX_TOK][300];
    const char *pool[] = {"aaaa", "aaa", "abab", "ababab", "ba", "aab", "abc", "bca", "cab", "abcabc", "xyz", "xy",
                          "yz", "xyzxyz", "zzzz", "the", "then", "there", "these", "ther"};
    uint32_t r = 12345;
    char corpus[8192];
    size_t n = 0;
    int nw = 0;
    for (int i = 0; i < 200; i++) {
        r = r * 1103515245u + 12345u;
        const char *w = pool[(r >> 16) % (sizeof pool / sizeof *pool)];
        /* Words joined without spaces would merge into one pre-token: put each on its
         * own line, so the pre-tokens are "w" and "\n" (each line's word at the start). */
        n += (size_t)snprintf(corpus + n, sizeof corpus - n, "%s\n", w);
        strcpy(words[nw++], w);
        strcpy(words[nw++], "\n");
        if (nw >= 200) break;
    }
    int n_ref = ref_train(words, nw, 300, merges);
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(3, &w));
    lo_bpe_train_opts o = {.vocab_size = 256 + 300 + 1};
    lo_bpe_train_stats st;
    CHECK_OK(lo_bpe_train(corpus, n, &o, w, &st));
    const char *path = tmp_path("ref.gguf");
    CHECK_OK(lo_gguf_writer_write(w, path));
    lo_gguf_writer_free(w);
    lo_gguf *g = NULL;
    CHECK_OK(lo_gguf_open(path, &g));
    const lo_gguf_value *m = g ? lo_gguf_get_arr(g, "tokenizer.ggml.merges", LO_GGUF_STRING) : NULL;
    CHECK(n_ref > 10);
    CHECK_INT_EQ(st.n_merges, n_ref);
    for (int i = 0; m && i < n_ref && i < (int)m->arr.n; i++)
        CHECK_MSG(lo_gguf_str_eq(m->arr.strs[i], merges[i]), "merge %d: '%.*s' vs reference '%s'", i,
                  (int)m->arr.strs[i].len, m->arr.strs[i].data, merges[i]);
    lo_gguf_close(g);
}

/* ~1 MB of pseudo-text from a Zipf-ish list of random words, to 4096 tokens. */
static void test_speed(void) {
    enum { N_WORDS = 3000 };
    static char words[N_WORDS][12];
    uint64_t r = 88172645463325252ULL;
#define RND() (r ^= r << 13, r ^= r >> 7, r ^= r << 17, r)
    for (int i = 0; i < N_WORDS; i++) {
        int l = 2 + (int)(RND() % 9);
        for (int j = 0; j < l; j++) words[i][j] = (char)('a' + RND() % 26);
        words[i][l] = '\0';
    }
    size_t cap = 1100000, n = 0;
    char *corpus = lo_malloc(cap);
    while (n < 1000000) {
        uint64_t x = RND() % N_WORDS;
        x = x * (RND() % N_WORDS) / N_WORDS; /* skew towards the first words */
        n += (size_t)snprintf(corpus + n, cap - n, "%s%s", words[x], RND() % 12 ? " " : ".\n");
    }
#undef RND
    lo_gguf_writer *w = NULL;
    CHECK_OK(lo_gguf_writer_create(3, &w));
    lo_bpe_train_opts o = {.vocab_size = 4096};
    lo_bpe_train_stats st;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK_OK(lo_bpe_train(corpus, n, &o, w, &st));
    clock_gettime(CLOCK_MONOTONIC, &b);
    double sec = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    fprintf(stderr, "1 MB corpus (%lld words, %lld distinct) -> %d tokens: %.3f s\n", (long long)st.n_words,
            (long long)st.n_unique, st.n_vocab, sec);
    CHECK_INT_EQ(st.n_vocab, 4096);
    CHECK_MSG(sec < 20.0, "training took %.1f s", sec); /* a few seconds at most even under ASan */
    lo_gguf_writer_free(w);
    lo_free(corpus);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/lo_bpe_train_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_small();
    test_fewer();
    test_errors();
    test_reference();
    test_speed();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_done();
}
