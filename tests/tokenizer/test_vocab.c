/* llama.cpp's tokenizer test vectors (shared/models/vocab/X.gguf.inp|.out): tokenizes
 * every case with add_special=false, parse_special=false and compares the ids, one
 * report line per vocabulary ("gpt-2: 46/46 cases") and every mismatch on stderr.
 * Usage: tokenizer_test_vocab [NAME...] to run only some vocabularies. */
#include "check.h"
#include "llmops/llmops.h"

static const char *const vocabs[] = {"llama-spm", "phi-3",  "bert-bge", "gpt-2",          "deepseek-coder", "deepseek-llm",
                                     "falcon",    "mpt",    "refact",   "starcoder",      "dbrx"};
#define SEP "\n__ggml_vocab_test__\n"

static void print_escaped(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stderr);
        else if (c == '\t') fputs("\\t", stderr);
        else if (c < 0x20) fprintf(stderr, "\\x%02x", c);
        else fputc(c, stderr);
    }
}

/* Returns the number of failing cases (or -1 when the vocabulary could not be run). */
static int run_vocab(const char *name, int *n_cases) {
    char path[1024], rel[256];
    *n_cases = 0;
    snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf", name);
    check_shared(rel, path, sizeof path);
    char inp_path[1100], out_path[1100];
    snprintf(inp_path, sizeof inp_path, "%s.inp", path);
    snprintf(out_path, sizeof out_path, "%s.out", path);

    lo_gguf *g = NULL;
    lo_tokenizer *t = NULL;
    lo_status s = lo_gguf_open(path, &g);
    if (!s) s = lo_tokenizer_load(g, &t);
    lo_gguf_close(g);
    if (s) {
        fprintf(stderr, "%s: cannot load: %s\n", name, lo_error_message());
        return -1;
    }
    char *inp = NULL, *out = NULL;
    size_t inp_n = 0, out_n = 0;
    if (lo_read_file(inp_path, &inp, &inp_n) || lo_read_file(out_path, &out, &out_n)) {
        fprintf(stderr, "%s: cannot read test vectors: %s\n", name, lo_error_message());
        lo_free(inp);
        lo_tokenizer_free(t);
        return -1;
    }

    int fails = 0, n = 0;
    const char *ip = inp, *iend = inp + inp_n, *op = out, *oend = out + out_n;
    size_t sep_len = strlen(SEP);
    for (;;) {
        const char *sep = memmem(ip, (size_t)(iend - ip), SEP, sep_len);
        if (!sep) break; /* the file ends with a separator */
        const char *eol = memchr(op, '\n', (size_t)(oend - op));
        if (!eol) eol = oend;
        /* Expected ids: " 1 2 3" */
        lo_tokens want = {0}, got = {0};
        for (const char *p = op; p < eol;) {
            while (p < eol && *p == ' ') p++;
            if (p >= eol) break;
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p) break;
            lo_tokens_push(&want, (int32_t)v);
            p = end;
        }
        lo_status st = lo_tokenize(t, ip, (size_t)(sep - ip), false, false, &got);
        bool ok = st == LO_OK && got.n == want.n && (got.n == 0 || memcmp(got.ids, want.ids, sizeof(int32_t) * (size_t)got.n) == 0);
        if (!ok) {
            fails++;
            fprintf(stderr, "%s: case %d mismatch\n  input:    \"", name, n);
            print_escaped(ip, (size_t)(sep - ip));
            fprintf(stderr, "\"\n  expected:");
            for (int64_t i = 0; i < want.n; i++) fprintf(stderr, " %d", want.ids[i]);
            fprintf(stderr, "\n  got:     ");
            if (st) fprintf(stderr, " error: %s", lo_error_message());
            for (int64_t i = 0; i < got.n; i++) fprintf(stderr, " %d", got.ids[i]);
            fprintf(stderr, "\n");
        }
        lo_tokens_free(&want);
        lo_tokens_free(&got);
        n++;
        ip = sep + sep_len;
        op = eol < oend ? eol + 1 : oend;
    }
    lo_free(inp);
    lo_free(out);
    lo_tokenizer_free(t);
    *n_cases = n;
    return fails;
}

int main(int argc, char **argv) {
    int total_fail = 0;
    char summary[2048] = "";
    size_t sl = 0;
    for (size_t v = 0; v < sizeof vocabs / sizeof *vocabs; v++) {
        if (argc > 1) {
            bool want = false;
            for (int i = 1; i < argc; i++) want |= strcmp(argv[i], vocabs[v]) == 0;
            if (!want) continue;
        }
        int n = 0, fails = run_vocab(vocabs[v], &n);
        CHECK_MSG(fails == 0, "%s: %d of %d cases fail", vocabs[v], fails < 0 ? n : fails, n);
        CHECK_MSG(n > 0, "%s: no test cases ran", vocabs[v]);
        if (fails != 0) total_fail++;
        if (sl < sizeof summary)
            sl += (size_t)snprintf(summary + sl, sizeof summary - sl, "%s: %d/%d cases%s\n", vocabs[v],
                                   fails < 0 ? 0 : n - fails, n, fails < 0 ? " (load failed)" : "");
    }
    fprintf(stderr, "\n%s", summary);
    CHECK_INT_EQ(lo_alloc_live_bytes(), 0);
    return check_done();
}
