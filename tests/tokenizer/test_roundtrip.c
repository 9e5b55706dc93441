/* Tokenizer behaviour beyond the id vectors: detokenize(tokenize(x)) == x on every test
 * case for the SentencePiece and byte-level BPE vocabularies (with llama.cpp's
 * clean_up_tokenization_spaces applied where the vocabulary asks for it), llama.cpp's
 * prompt ids for the model fixtures (golden-llamacpp.jsonl, synthetic/golden.jsonl),
 * special-token parsing, BOS/EOS flags, the EOG set, bad ids and hostile metadata. */
#include "check.h"
#include "llmops/llmops.h"
#include "tokenizer/tokenizer_internal.h"

#define SEP "\n__ggml_vocab_test__\n"

static lo_tokenizer *load(const char *rel) {
    char path[1024];
    check_shared(rel, path, sizeof path);
    lo_gguf *g = NULL;
    lo_tokenizer *t = NULL;
    lo_status s = lo_gguf_open(path, &g);
    if (!s) s = lo_tokenizer_load(g, &t);
    lo_gguf_close(g);
    CHECK_MSG(s == LO_OK, "loading %s: %s", rel, lo_error_message());
    return t;
}

/* The text llama.cpp's clean_up_tokenization_spaces makes of s (expected roundtrip
 * result for vocabularies with clean_spaces). Written independently of tokenizer.c. */
static size_t clean_ref(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) { /* " ?" " !" " ." " ," */
        if (o > 0 && out[o - 1] == ' ' && i > 0 && s[i - 1] == ' ' &&
            (s[i] == '?' || s[i] == '!' || s[i] == '.' || s[i] == ','))
            o--;
        out[o++] = s[i];
    }
    /* " ' " -> "'" */
    size_t m = 0;
    for (size_t i = 0; i < o; i++) {
        if (i > 0 && out[i] == '\'' && i + 1 < o && out[i - 1] == ' ' && out[i + 1] == ' ') {
            m--;
            out[m++] = '\'';
            out[i + 1] = '\0';
            i++;
            continue;
        }
        out[m++] = out[i];
    }
    o = m;
    m = 0;
    for (size_t i = 0; i < o; i++) { /* " 's" " 'm" " 're" " 've" */
        if (i > 0 && out[i - 1] == ' ' && out[i] == '\'' && i + 1 < o) {
            char x1 = out[i + 1];
            if (x1 == 's' || x1 == 'm' || (i + 2 < o && ((x1 == 'r' && out[i + 2] == 'e') || (x1 == 'v' && out[i + 2] == 'e'))))
                m--;
        }
        out[m++] = out[i];
    }
    return m;
}

static void roundtrip_vocab(const char *vocab, const char *inp_vocab) {
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf", vocab);
    lo_tokenizer *t = load(rel);
    if (!t) return;
    snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf.inp", inp_vocab);
    check_shared(rel, path, sizeof path);
    char *inp = NULL;
    size_t n = 0;
    CHECK_OK(lo_read_file(path, &inp, &n));
    int cases = 0, ok = 0;
    const char *p = inp, *end = inp + n;
    for (;;) {
        const char *sep = inp ? memmem(p, (size_t)(end - p), SEP, strlen(SEP)) : NULL;
        if (!sep) break;
        size_t len = (size_t)(sep - p);
        lo_tokens ids = {0};
        char *text = NULL, *want = lo_malloc(len + 1);
        size_t tl = 0, wl = t->clean_spaces ? clean_ref(p, len, want) : (memcpy(want, p, len), len);
        lo_status s = lo_tokenize(t, p, len, false, false, &ids);
        if (!s) s = lo_detokenize(t, ids.ids, ids.n, false, false, &text, &tl);
        bool good = s == LO_OK && tl == wl && memcmp(text, want, wl) == 0;
        ok += good;
        CHECK_MSG(good, "%s: case %d: \"%.*s\" came back as \"%.*s\" (expected \"%.*s\") %s", vocab, cases, (int)len, p,
                  (int)tl, text ? text : "", (int)wl, want, s ? lo_error_message() : "");
        lo_free(text);
        lo_free(want);
        lo_tokens_free(&ids);
        cases++;
        p = sep + strlen(SEP);
    }
    fprintf(stderr, "roundtrip %s: %d/%d cases\n", vocab, ok, cases);
    CHECK(cases > 0);
    lo_free(inp);
    lo_tokenizer_free(t);
}

/* Every prompt of a golden file: tokenize with add_special as llama.cpp's tools do. */
static void golden(const char *rel_jsonl, const char *dir) {
    char path[1024];
    check_shared(rel_jsonl, path, sizeof path);
    char *data = NULL;
    size_t n = 0;
    CHECK_OK(lo_read_file(path, &data, &n));
    if (!data) return;
    int ok = 0, total = 0;
    char last_file[256] = "";
    lo_tokenizer *t = NULL;
    for (char *line = data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        json_t *j = json_loads(line, 0, NULL);
        const char *file = json_string_value(json_object_get(j, "file"));
        const char *prompt = json_string_value(json_object_get(j, "prompt"));
        json_t *pids = json_object_get(j, "prompt_ids");
        if (file && prompt && json_is_array(pids)) {
            if (strcmp(file, last_file) != 0) {
                lo_tokenizer_free(t);
                char rel[512];
                snprintf(rel, sizeof rel, "%s%s", dir, file);
                t = load(rel);
                snprintf(last_file, sizeof last_file, "%s", file);
            }
            if (t) {
                lo_tokens ids = {0};
                CHECK_OK(lo_tokenize(t, prompt, strlen(prompt), true, true, &ids));
                bool good = ids.n == (int64_t)json_array_size(pids);
                for (int64_t i = 0; good && i < ids.n; i++)
                    good = ids.ids[i] == json_integer_value(json_array_get(pids, (size_t)i));
                CHECK_MSG(good, "%s: prompt \"%s\" tokenizes differently from llama.cpp", file, prompt);
                ok += good;
                total++;
                lo_tokens_free(&ids);
            }
        }
        json_decref(j);
        line = nl ? nl + 1 : NULL;
    }
    lo_tokenizer_free(t);
    lo_free(data);
    fprintf(stderr, "golden %s: %d/%d prompts\n", rel_jsonl, ok, total);
    CHECK(total > 0);
}

static void check_ids(const lo_tokenizer *t, const char *text, bool add_special, bool parse_special, const int32_t *want,
                      int n_want, const char *what) {
    lo_tokens ids = {0};
    CHECK_OK(lo_tokenize(t, text, strlen(text), add_special, parse_special, &ids));
    bool good = ids.n == n_want;
    for (int i = 0; good && i < n_want; i++) good = ids.ids[i] == want[i];
    CHECK_MSG(good, "%s", what);
    if (!good) {
        fprintf(stderr, "  got:");
        for (int64_t i = 0; i < ids.n; i++) fprintf(stderr, " %d", ids.ids[i]);
        fprintf(stderr, "\n");
    }
    lo_tokens_free(&ids);
}

static void text_eq(const lo_tokenizer *t, const int32_t *ids, int n, bool remove_special, bool unparse, const char *want) {
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(lo_detokenize(t, ids, n, remove_special, unparse, &text, &len));
    CHECK_STR_EQ(text ? text : "(null)", want);
    CHECK_INT_EQ(len, strlen(want));
    lo_free(text);
}

static void special_tokens(void) {
    lo_tokenizer *t = load("models/vocab/ggml-vocab-llama-spm.gguf");
    if (!t) return;
    CHECK_INT_EQ(lo_tokenizer_kind(t), LO_TOK_SPM);
    CHECK_STR_EQ(lo_tokenizer_kind_name(lo_tokenizer_kind(t)), "spm");
    CHECK_INT_EQ(lo_tokenizer_n_vocab(t), 32000);
    CHECK_INT_EQ(lo_tokenizer_bos(t), 1);
    CHECK_INT_EQ(lo_tokenizer_eos(t), 2);
    CHECK(lo_tokenizer_add_bos(t));
    CHECK(!lo_tokenizer_add_eos(t));
    CHECK(lo_tokenizer_is_eog(t, 2));
    CHECK(!lo_tokenizer_is_eog(t, 1));
    CHECK(!lo_tokenizer_is_eog(t, -1));
    CHECK_INT_EQ(lo_tokenizer_token_type(t, 1), LO_TOKEN_CONTROL);
    CHECK_INT_EQ(lo_tokenizer_token_type(t, 32000), LO_TOKEN_UNDEFINED);
    CHECK_INT_EQ(lo_tokenizer_find(t, "<s>", 3), 1);
    CHECK_INT_EQ(lo_tokenizer_find(t, "no such token", 13), -1);
    CHECK_INT_EQ(t->nl, 13); /* <0x0A> */
    size_t l;
    CHECK_STR_EQ(lo_tokenizer_token_text(t, 2, &l), "</s>");
    CHECK(lo_tokenizer_token_text(t, 32000, &l) == NULL);

    /* "<s>" is the BOS token only with parse_special; otherwise it is text. */
    check_ids(t, "<s>", false, true, (const int32_t[]){1}, 1, "<s> with parse_special is BOS");
    lo_tokens ids = {0};
    CHECK_OK(lo_tokenize(t, "<s>", 3, false, false, &ids));
    CHECK(ids.n > 1);
    for (int64_t i = 0; i < ids.n; i++) CHECK(ids.ids[i] != 1);
    lo_tokens_free(&ids);
    /* BOS added by add_special, no EOS (add_eos is false); empty text gives just BOS. */
    check_ids(t, "", true, false, (const int32_t[]){1}, 1, "empty text with add_special is [BOS]");
    check_ids(t, "", false, false, NULL, 0, "empty text is []");
    /* After a special token the next text fragment gets the space prefix again. */
    check_ids(t, "Hello<s>world", false, true, (const int32_t[]){15043, 1, 3186}, 3, "text around a parsed special");
    check_ids(t, " Hello", false, false, (const int32_t[]){29871, 15043}, 2, "leading space");

    /* Detokenizing: the first piece loses the added space; a kept BOS consumes that. */
    text_eq(t, (const int32_t[]){15043, 3186}, 2, false, false, "Hello world");
    text_eq(t, (const int32_t[]){1, 15043}, 2, false, false, " Hello");
    text_eq(t, (const int32_t[]){1, 15043}, 2, false, true, "<s> Hello");
    text_eq(t, (const int32_t[]){1, 15043}, 2, true, false, " Hello");
    text_eq(t, (const int32_t[]){15043, 2}, 2, true, true, "Hello</s>"); /* add_eos is off: EOS stays */
    text_eq(t, (const int32_t[]){29871, 13}, 2, false, false, "\n");      /* "▁" + byte token <0x0A> */

    /* Bad ids. */
    char *buf = NULL;
    size_t len = 0, cap = 0;
    CHECK_INT_EQ(lo_token_to_piece(t, -1, false, &buf, &len, &cap), LO_ERR_RANGE);
    CHECK_INT_EQ(lo_token_to_piece(t, 32000, false, &buf, &len, &cap), LO_ERR_RANGE);
    CHECK_OK(lo_token_to_piece(t, 15043, false, &buf, &len, &cap));
    CHECK_OK(lo_token_to_piece(t, 1, false, &buf, &len, &cap)); /* control: nothing */
    CHECK_OK(lo_token_to_piece(t, 1, true, &buf, &len, &cap));
    CHECK_STR_EQ(buf, " Hello<s>");
    lo_free(buf);
    char *text = NULL;
    CHECK_INT_EQ(lo_detokenize(t, (const int32_t[]){15043, 99999}, 2, false, false, &text, &len), LO_ERR_RANGE);
    CHECK(text == NULL);
    lo_tokenizer_free(t);

    /* phi-3: </s> is user-defined (split out even without parse_special); the chat
     * tokens rstrip the whitespace after them; <|end|> and <|endoftext|> end generation. */
    t = load("models/vocab/ggml-vocab-phi-3.gguf");
    if (t) {
        check_ids(t, "</s>", false, false, (const int32_t[]){2}, 1, "phi-3 user-defined </s> without parse_special");
        lo_tokens a = {0}, b = {0};
        CHECK_OK(lo_tokenize(t, "<|user|>\n Hi", 12, false, true, &a));
        CHECK_OK(lo_tokenize(t, "<|user|>Hi", 10, false, true, &b));
        CHECK(a.n == b.n && a.n == 2 && a.ids[0] == 32010 && a.ids[1] == b.ids[1]);
        lo_tokens_free(&a);
        lo_tokens_free(&b);
        CHECK(lo_tokenizer_is_eog(t, 32000));
        CHECK(lo_tokenizer_is_eog(t, 32007));
        CHECK(!lo_tokenizer_is_eog(t, 32010));
        CHECK_INT_EQ(lo_tokenizer_eos(t), 32000);
        CHECK_INT_EQ(lo_tokenizer_eot(t), 32007);
        lo_tokenizer_free(t);
    }

    /* bert: [CLS] ... [SEP] with add_special; detokenized with ▁ as word starts. */
    t = load("models/vocab/ggml-vocab-bert-bge.gguf");
    if (t) {
        CHECK_INT_EQ(lo_tokenizer_kind(t), LO_TOK_WPM);
        check_ids(t, "Hello world", true, false, (const int32_t[]){101, 7592, 2088, 102}, 4, "bert CLS/SEP");
        check_ids(t, "[CLS]", false, true, (const int32_t[]){101}, 1, "bert [CLS] with parse_special");
        text_eq(t, (const int32_t[]){101, 7592, 2088, 999, 102}, 5, false, false, " hello world!");
        lo_tokenizer_free(t);
    }

    /* gpt-2: no BOS by default; <|endoftext|> is EOS and EOG. */
    t = load("models/vocab/ggml-vocab-gpt-2.gguf");
    if (t) {
        CHECK_INT_EQ(lo_tokenizer_kind(t), LO_TOK_BPE);
        CHECK_STR_EQ(lo_tokenizer_pre_name(t), "gpt-2");
        CHECK(!lo_tokenizer_add_bos(t));
        CHECK(lo_tokenizer_is_eog(t, 50256));
        check_ids(t, "<|endoftext|>", false, true, (const int32_t[]){50256}, 1, "gpt-2 <|endoftext|> parsed");
        text_eq(t, (const int32_t[]){15496, 995}, 2, false, false, "Hello world");
        lo_tokenizer_free(t);
    }
}

/* Writes a small vocabulary file; `mode` breaks it in one way. */
static lo_status hostile_load(int mode) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/lo_tok_hostile_%d_%d.gguf", (int)getpid(), mode);
    lo_gguf_writer *w = NULL;
    lo_status s = lo_gguf_writer_create(3, &w);
    if (s) return s;
    const char *toks[] = {"<unk>", "<s>", "</s>", "a", "b", "ab"};
    float scores[6] = {0, 0, 0, -1, -2, -0.5f};
    int32_t types[6] = {2, 3, 3, 1, 1, 1};
    if (mode == 2) types[4] = 9;
    if (mode != 1) lo_gguf_writer_set_str(w, "tokenizer.ggml.model", mode == 3 ? "t5" : "llama");
    lo_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 6);
    lo_gguf_writer_set_arr(w, "tokenizer.ggml.scores", LO_GGUF_FLOAT32, scores, mode == 4 ? 5 : 6);
    lo_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", LO_GGUF_INT32, types, 6);
    lo_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", mode == 5 ? 600 : 1);
    if (mode == 6) lo_gguf_writer_set_str(w, "tokenizer.ggml.add_bos_token", "yes");
    s = lo_gguf_writer_write(w, path);
    lo_gguf_writer_free(w);
    if (s) return s;
    lo_gguf *g = NULL;
    lo_tokenizer *t = NULL;
    s = lo_gguf_open(path, &g);
    if (!s) s = lo_tokenizer_load(g, &t);
    lo_gguf_close(g);
    unlink(path);
    if (!s) {
        /* Tokenize something with the small vocabulary: "ab" merges; "▁" (3 bytes) and
         * "c" are not tokens and there are no byte tokens, so each byte becomes <unk>. */
        lo_tokens ids = {0};
        s = lo_tokenize(t, "ab c", 4, true, false, &ids);
        if (!s && mode == 0) {
            CHECK_INT_EQ(ids.n, 9);
            if (ids.n == 9) {
                CHECK_INT_EQ(ids.ids[0], 1);
                CHECK_INT_EQ(ids.ids[1], 0);
                CHECK_INT_EQ(ids.ids[4], 5);
                CHECK_INT_EQ(ids.ids[8], 0);
            }
        }
        if (!s && mode == 5) CHECK_INT_EQ(lo_tokenizer_bos(t), 1); /* bad id: default kept */
        lo_tokens_free(&ids);
    }
    lo_tokenizer_free(t);
    return s;
}

static void hostile(void) {
    CHECK_OK(hostile_load(0));
    CHECK_INT_EQ(hostile_load(1), LO_ERR_NOT_FOUND);
    CHECK_INT_EQ(hostile_load(2), LO_ERR_FORMAT);
    CHECK_INT_EQ(hostile_load(3), LO_ERR_UNSUPPORTED);
    CHECK_INT_EQ(hostile_load(4), LO_ERR_FORMAT);
    CHECK_OK(hostile_load(5));
    CHECK_INT_EQ(hostile_load(6), LO_ERR_FORMAT);
}

int main(void) {
    char buf[1024];
    check_shared("models", buf, sizeof buf);
    static const char *const spm[][2] = {{"llama-spm", "llama-spm"}, {"phi-3", "phi-3"}, {"baichuan", "llama-spm"}};
    for (size_t i = 0; i < 3; i++) roundtrip_vocab(spm[i][0], spm[i][1]);
    static const char *const bpe[][2] = {{"gpt-2", "gpt-2"},   {"deepseek-coder", "deepseek-coder"},
                                         {"deepseek-llm", "deepseek-llm"}, {"falcon", "falcon"},
                                         {"mpt", "mpt"},       {"refact", "refact"},
                                         {"starcoder", "starcoder"}, {"dbrx", "dbrx"},
                                         {"gpt-neox", "gpt-2"}};
    for (size_t i = 0; i < sizeof bpe / sizeof *bpe; i++) roundtrip_vocab(bpe[i][0], bpe[i][1]);
    golden("models/golden-llamacpp.jsonl", "models/");
    golden("models/synthetic/golden.jsonl", "models/synthetic/");
    special_tokens();
    hostile();
    CHECK_INT_EQ(lo_alloc_live_bytes(), 0);
    return check_done();
}
