/* train: the text data path — documents split by blank lines or by line, BOS/EOS framing,
 * the validation split by documents, hostile files (NUL bytes, invalid UTF-8, nothing but
 * blank lines) rejected with their line number, and the loader: every window once per
 * epoch in a seeded order, validation batches padded with masked rows. */
#include <sys/stat.h>

#include "check.h"
#include "llmops/gguf.h"
#include "llmops/model.h"
#include "llmops/train.h"

#include "byte_vocab.h"

static char dir[128];

static const char *write_tmp(const char *name, const char *text, size_t n) {
    static char path[4][200];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 200, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) fwrite(text, 1, n, f), fclose(f);
    return p;
}

/* The tokens of the rendering text[0..len) tokenized whole (as a prompt is at inference)
 * must be ids[0..k) after the BOS; ids[*n..k) get flag. */
static void expect(const lo_tokenizer *tok, const char *text, size_t len, bool special, uint8_t flag, int32_t *ids,
                   uint8_t *fl, int64_t *n) {
    lo_tokens t = {0};
    CHECK_OK(lo_tokenize(tok, text, len, false, special, &t));
    const int64_t off = lo_tokenizer_add_bos(tok) ? 1 : 0;
    CHECK(t.n + off >= *n);
    for (int64_t i = 0; i < t.n && i + off < 4096; i++) {
        if (i + off < *n) CHECK_INT_EQ(ids[i + off], t.ids[i]); /* a prefix of what came before */
        ids[i + off] = t.ids[i];
        if (i + off >= *n) fl[i + off] = flag;
    }
    if (t.n + off > *n) *n = t.n + off;
    lo_tokens_free(&t);
}

/* JSONL: chat samples (chatml: the tokenizer has no template) with loss exactly on the
 * assistant messages' tokens, prompt/completion with loss on the completion, bad lines
 * skipped and counted or, with strict, rejected naming their line; the loader's mask is
 * the flags of the targets. */
#define LONG "a prompt far longer than the hundred tokens that the test allows a sample to hold, byte by byte"
static void test_jsonl(const lo_tokenizer *tok) {
    const int32_t bos = lo_tokenizer_bos(tok), eos = lo_tokenizer_eos(tok);
    const char *chat = "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"yo\"},"
                       "{\"role\":\"user\",\"content\":\"and?\"},{\"role\":\"assistant\",\"content\":\"done\"}]}\n"
                       "\n"
                       "{\"prompt\":\"2+2=\",\"completion\":\"4\"}\n";
    const char *pj = write_tmp("c.jsonl", chat, strlen(chat));
    lo_train_data_opts op = {0};
    lo_train_data d;
    CHECK_OK(lo_train_data_load_ex(tok, pj, &op, &d)); /* detected from the first line */
    CHECK_INT_EQ(d.n_docs, 2);
    CHECK(d.loss != NULL);
    CHECK_INT_EQ(op.n_skipped, 0);
    /* Expected: render each prefix; an assistant message's tokens are what its rendering
     * adds after the rendering with the assistant header. */
    const lo_chat_message m[5] = {
        {"system", "Be brief."}, {"user", "hi"}, {"assistant", "yo"}, {"user", "and?"}, {"assistant", "done"}};
    char *h1 = NULL, *c1 = NULL, *h2 = NULL, *c2 = NULL;
    size_t h1n, c1n, h2n, c2n;
    CHECK_OK(lo_chat_render(LO_CHAT_CHATML, m, 2, true, &h1, &h1n));
    CHECK_OK(lo_chat_render(LO_CHAT_CHATML, m, 3, false, &c1, &c1n));
    CHECK_OK(lo_chat_render(LO_CHAT_CHATML, m, 4, true, &h2, &h2n));
    CHECK_OK(lo_chat_render(LO_CHAT_CHATML, m, 5, false, &c2, &c2n));
    static int32_t ids[4096];
    static uint8_t fl[4096];
    int64_t n = 0;
    if (h1 && c1 && h2 && c2) {
        CHECK(c1n == h1n + strlen("yo<|im_end|>\n") && !strcmp(c1 + h1n, "yo<|im_end|>\n"));
        CHECK(c2n == h2n + strlen("done<|im_end|>\n") && !strcmp(c2 + h2n, "done<|im_end|>\n"));
        if (lo_tokenizer_add_bos(tok)) ids[n] = bos, fl[n++] = 0;
        expect(tok, h1, h1n, true, 0, ids, fl, &n); /* up to the first assistant header */
        expect(tok, c1, c1n, true, 1, ids, fl, &n); /* through its content and end */
        expect(tok, h2, h2n, true, 0, ids, fl, &n);
        expect(tok, c2, c2n, true, 1, ids, fl, &n);
        ids[n] = eos, fl[n++] = 1;
        CHECK_INT_EQ(d.doc_start[1], n);
        int64_t bad = -1, n_loss = 0;
        for (int64_t j = 0; j < n && j < d.n_ids; j++) {
            if ((d.ids[j] != ids[j] || d.loss[j] != fl[j]) && bad < 0) bad = j;
            n_loss += d.loss[j];
        }
        CHECK_MSG(bad < 0, "token %lld differs", (long long)bad);
        /* the counted tokens spell the assistant contents and ends, then EOS */
        char *buf = NULL;
        size_t bl = 0, bc = 0;
        for (int64_t j = 0; j + 1 < n && j < d.n_ids; j++)
            if (d.loss[j]) CHECK_OK(lo_token_to_piece(tok, d.ids[j], true, &buf, &bl, &bc));
        CHECK_MSG(buf && !strcmp(buf, "yo<|im_end|>\ndone<|im_end|>\n"), "%s", buf ? buf : "(none)");
        lo_free(buf);
        CHECK(d.loss[n - 1] && d.ids[n - 1] == eos);
        CHECK(n_loss > 2 && n_loss < n / 2);
    }
    lo_free(h1), lo_free(c1), lo_free(h2), lo_free(c2);
    /* prompt/completion: BOS prompt (no loss) completion EOS (loss). */
    n = 0;
    if (lo_tokenizer_add_bos(tok)) ids[n] = bos, fl[n++] = 0;
    expect(tok, "2+2=", 4, false, 0, ids, fl, &n);
    expect(tok, "2+2=4", 5, false, 1, ids, fl, &n);
    ids[n] = eos, fl[n++] = 1;
    CHECK_INT_EQ(d.n_ids - d.doc_start[1], n);
    for (int64_t j = 0; j < n && d.doc_start[1] + j < d.n_ids; j++) {
        CHECK_INT_EQ(d.ids[d.doc_start[1] + j], ids[j]);
        CHECK_INT_EQ(d.loss[d.doc_start[1] + j], fl[j]);
    }
    /* The loader's mask is the flag of each target. */
    const int32_t T = 5;
    lo_train_loader *l = NULL;
    CHECK_OK(lo_train_loader_create(&d, 1, T, 1, false, &l));
    for (int64_t w = 0; l && w < lo_train_data_n_windows(&d, T); w++) {
        const int32_t *tk, *tg;
        const uint8_t *mk;
        lo_train_loader_next(l, &tk, &tg, &mk, NULL);
        for (int i = 0; i < T; i++) {
            CHECK_INT_EQ(tg[i], d.ids[w * T + i + 1]);
            CHECK_INT_EQ(mk[i], d.loss[w * T + i + 1]);
        }
    }
    lo_train_loader_free(l);
    /* The split keeps the flags. */
    lo_train_data v;
    const int64_t p_start = d.doc_start[1];
    CHECK_OK(lo_train_data_split(&d, 0.5, &v));
    CHECK(v.loss && !memcmp(v.loss, fl, (size_t)v.n_ids));
    CHECK_INT_EQ(d.n_ids, p_start);
    lo_train_data_free(&v);
    lo_train_data_free(&d);
    /* Forced text: the same file is two plain documents, no flags. */
    op = (lo_train_data_opts){.format = LO_DATA_TEXT};
    CHECK_OK(lo_train_data_load_ex(tok, pj, &op, &d));
    CHECK(d.loss == NULL);
    lo_train_data_free(&d);

    /* Bad lines: 2 invalid JSON, 4 unknown role, 5 no content, 6 missing completion,
     * 7 not an object, 8 longer than max_tokens; skipped and counted, or strict fails on
     * the first naming its line. */
    const char *bad =
        "{\"prompt\":\"a\",\"completion\":\"b\"}\n"
        "{\"prompt\": \"unterminated\n"
        "\n"
        "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}\n"
        "{\"messages\":[{\"role\":\"user\"}]}\n"
        "{\"prompt\":\"a\"}\n"
        "[1,2]\n"
        "{\"prompt\":\"" LONG "\",\"completion\":\"b\"}\n"
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}\n";
    const char *pb = write_tmp("bad.jsonl", bad, strlen(bad));
    op = (lo_train_data_opts){.max_tokens = 100};
    CHECK_OK(lo_train_data_load_ex(tok, pb, &op, &d));
    CHECK_INT_EQ(op.n_skipped, 6);
    CHECK_INT_EQ(d.n_docs, 2);
    lo_train_data_free(&d);
    op = (lo_train_data_opts){.max_tokens = 100, .strict = true};
    CHECK(lo_train_data_load_ex(tok, pb, &op, &d) == LO_ERR_FORMAT);
    CHECK_MSG(strstr(lo_error_message(), "bad.jsonl:2:") != NULL, "%s", lo_error_message());
    /* strict on each bad line alone names that line */
    const char *lines[] = {"{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}",
                           "{\"messages\":[{\"role\":\"user\"}]}", "{\"prompt\":\"a\"}", "[1,2]",
                           "{\"prompt\":\"" LONG "\",\"completion\":\"b\"}"};
    const char *want[] = {"unknown role", "role", "completion", "JSON object", "longer than"};
    for (int i = 0; i < 5; i++) {
        char buf[300];
        snprintf(buf, sizeof buf, "{\"prompt\":\"a\",\"completion\":\"b\"}\n\n%s\n", lines[i]);
        const char *pi = write_tmp("one.jsonl", buf, strlen(buf));
        CHECK(lo_train_data_load_ex(tok, pi, &op, &d) == LO_ERR_FORMAT);
        CHECK_MSG(strstr(lo_error_message(), "one.jsonl:3:") && strstr(lo_error_message(), want[i]), "%s",
                  lo_error_message());
    }
    /* nothing usable */
    op = (lo_train_data_opts){.format = LO_DATA_JSONL};
    CHECK(lo_train_data_load_ex(tok, write_tmp("none.jsonl", "[1]\n", 4), &op, &d) == LO_ERR_INVALID);
    CHECK_INT_EQ(op.n_skipped, 1);
    /* an unknown --chat-template name */
    op = (lo_train_data_opts){.chat_template = "no-such-family"};
    CHECK(lo_train_data_load_ex(tok, pj, &op, &d) != LO_OK);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/lo_test_train_data.%d", (int)getpid());
    mkdir(dir, 0700);
    char tokp[200];
    snprintf(tokp, sizeof tokp, "%s/tok.gguf", dir);
    write_byte_vocab(tokp);
    lo_gguf *g = NULL;
    lo_tokenizer *tok = NULL;
    CHECK_OK(lo_gguf_open(tokp, &g));
    if (g) CHECK_OK(lo_tokenizer_load(g, &tok));
    if (!tok) return check_done();
    const int32_t bos = lo_tokenizer_bos(tok), eos = lo_tokenizer_eos(tok);

    /* Blank-line documents: "ab\ncd" is one document (its newline kept), "ef" another. */
    const char *text = "ab\ncd\n\n  \n\nef\n";
    const char *p1 = write_tmp("a.txt", text, strlen(text));
    lo_train_data d;
    CHECK_OK(lo_train_data_load(tok, p1, LO_DOCS_BLANK_LINE, &d));
    CHECK_INT_EQ(d.n_docs, 2);
    CHECK_INT_EQ(d.doc_start[0], 0);
    CHECK_INT_EQ(d.doc_start[2], d.n_ids);
    CHECK_INT_EQ(d.ids[0], bos);
    CHECK_INT_EQ(d.ids[d.doc_start[1] - 1], eos);
    CHECK_INT_EQ(d.ids[d.n_ids - 1], eos);
    lo_tokens t1 = {0};
    CHECK_OK(lo_tokenize(tok, "ab\ncd", 5, false, false, &t1));
    CHECK_INT_EQ(d.doc_start[1], t1.n + 2);
    lo_tokens_free(&t1);
    lo_train_data_free(&d);
    /* One per line: three documents. */
    CHECK_OK(lo_train_data_load(tok, p1, LO_DOCS_LINE, &d));
    CHECK_INT_EQ(d.n_docs, 3);
    lo_train_data_free(&d);

    /* Hostile input names its line. */
    const char nul[] = "fine\nalso fine\nbad \0 byte\n";
    CHECK(lo_train_data_load(tok, write_tmp("nul.txt", nul, sizeof nul - 1), LO_DOCS_LINE, &d) == LO_ERR_FORMAT);
    CHECK_MSG(strstr(lo_error_message(), "nul.txt:3:") != NULL, "%s", lo_error_message());
    const char bad[] = "ok\n\nok\nbroken \xC3\x28 utf8\n";
    CHECK(lo_train_data_load(tok, write_tmp("bad.txt", bad, sizeof bad - 1), LO_DOCS_BLANK_LINE, &d) == LO_ERR_FORMAT);
    CHECK_MSG(strstr(lo_error_message(), "bad.txt:4:") != NULL, "%s", lo_error_message());
    const char over[] = "\xE0\x80\xAF\n"; /* overlong '/' */
    CHECK(lo_train_data_load(tok, write_tmp("over.txt", over, sizeof over - 1), LO_DOCS_LINE, &d) == LO_ERR_FORMAT);
    CHECK(lo_train_data_load(tok, write_tmp("blank.txt", "\n \n\t\n", 5), LO_DOCS_LINE, &d) == LO_ERR_INVALID);
    CHECK(lo_train_data_load(tok, write_tmp("empty.txt", "", 0), LO_DOCS_LINE, &d) == LO_ERR_INVALID);
    char missing[240];
    snprintf(missing, sizeof missing, "%s/absent.txt", dir);
    CHECK(lo_train_data_load(tok, missing, LO_DOCS_LINE, &d) != LO_OK);

    /* Split: the last 25% of 8 documents = 2 go to validation, token counts add up. */
    char big[2048];
    size_t n = 0;
    for (int i = 0; i < 8; i++) n += (size_t)snprintf(big + n, sizeof big - n, "document number %d here\n", i);
    const char *p2 = write_tmp("b.txt", big, n);
    lo_train_data all, val;
    CHECK_OK(lo_train_data_load(tok, p2, LO_DOCS_LINE, &all));
    const int64_t total = all.n_ids;
    CHECK_OK(lo_train_data_split(&all, 0.25, &val));
    CHECK_INT_EQ(all.n_docs, 6);
    CHECK_INT_EQ(val.n_docs, 2);
    CHECK_INT_EQ(all.n_ids + val.n_ids, total);
    CHECK_INT_EQ(val.ids[0], bos);
    lo_train_data one;
    CHECK(lo_train_data_split(&val, 0.5, &one) == LO_OK); /* 2 docs: 1 + 1 */
    lo_train_data none;
    CHECK(lo_train_data_split(&one, 0.5, &none) == LO_ERR_INVALID); /* 1 doc cannot split */

    /* Loader: each window once per epoch; the same seed, the same order. */
    const int32_t T = 4;
    const int64_t nw = lo_train_data_n_windows(&all, T);
    CHECK(nw >= 8);
    lo_train_loader *l1 = NULL, *l2 = NULL;
    CHECK_OK(lo_train_loader_create(&all, 2, T, 5, true, &l1));
    CHECK_OK(lo_train_loader_create(&all, 2, T, 5, true, &l2));
    int seen[256] = {0};
    for (int64_t b = 0; l1 && l2 && b < nw / 2; b++) {
        const int32_t *tk, *tg, *tk2, *tg2;
        const uint8_t *mk, *mk2;
        int64_t ep;
        lo_train_loader_next(l1, &tk, &tg, &mk, &ep);
        lo_train_loader_next(l2, &tk2, &tg2, &mk2, NULL);
        CHECK(!memcmp(tk, tk2, 2 * T * sizeof *tk));
        CHECK_INT_EQ(ep, 0);
        for (int r = 0; r < 2; r++) {
            /* the batch holds copies: find the window by its content */
            for (int64_t k = 0; k < nw; k++)
                if (!memcmp(all.ids + k * T, tk + r * T, T * sizeof *tk) && all.ids[k * T + T] == tg[r * T + T - 1] &&
                    !seen[k]) {
                    seen[k] = 1;
                    break;
                }
            for (int i = 0; i < T; i++) CHECK(mk[r * T + i] == 1);
        }
    }
    int n_seen = 0;
    for (int64_t k = 0; k < nw; k++) n_seen += seen[k];
    CHECK_INT_EQ(n_seen, nw / 2 * 2);
    lo_train_loader_free(l1);
    lo_train_loader_free(l2);
    /* Validation loader: ceil(windows / B) batches, the tail rows masked out. */
    lo_train_loader *lv = NULL;
    const int64_t vw = lo_train_data_n_windows(&val, T);
    CHECK_OK(lo_train_loader_create(&val, 3, T, 5, false, &lv));
    if (lv) {
        CHECK_INT_EQ(lo_train_loader_batches_per_epoch(lv), (vw + 2) / 3);
        int64_t counted = 0;
        for (int64_t b = 0; b < lo_train_loader_batches_per_epoch(lv); b++) {
            const int32_t *tk, *tg;
            const uint8_t *mk;
            lo_train_loader_next(lv, &tk, &tg, &mk, NULL);
            for (int i = 0; i < 3 * T; i++) counted += mk[i];
        }
        CHECK_INT_EQ(counted, vw * T);
    }
    lo_train_loader_free(lv);
    CHECK(lo_train_loader_create(&val, 1, 1000, 5, false, &lv) == LO_ERR_INVALID);

    lo_train_data_free(&all);
    lo_train_data_free(&val);
    lo_train_data_free(&one);
    test_jsonl(tok);
    lo_tokenizer_free(tok);
    lo_gguf_close(g);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_done();
}
