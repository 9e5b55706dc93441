/* train: the text data path — documents split by blank lines or by line, BOS/EOS framing,
 * the validation split by documents, hostile files (NUL bytes, invalid UTF-8, nothing but
 * blank lines) rejected with their line number, and the loader: every window once per
 * epoch in a seeded order, validation batches padded with masked rows. */
#include <sys/stat.h>

#include "check.h"
#include "llmops/gguf.h"
#include "llmops/model.h"
#include "llmops/train.h"

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

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/lo_test_train_data.%d", (int)getpid());
    mkdir(dir, 0700);
    char tokp[200];
    snprintf(tokp, sizeof tokp, "%s/tok.gguf", dir);
    lo_gen_model_params gp = {.arch = "llama",
                              .n_embd = 8,
                              .n_layer = 1,
                              .n_head = 1,
                              .n_head_kv = 1,
                              .n_ff = 8,
                              .n_vocab = 259,
                              .n_ctx = 16,
                              .ftype = LO_FTYPE_ALL_F32,
                              .seed = 1};
    CHECK_OK(lo_model_gen_random(&gp, tokp));
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
    lo_tokenizer_free(tok);
    lo_gguf_close(g);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_done();
}
