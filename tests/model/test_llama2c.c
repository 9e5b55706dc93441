/* model: stories260K.gguf decoded greedily from BOS reproduces the text Karpathy's
 * llama2.c documents for `./run stories260K.bin -z tok512.bin -t 0.0` (doc/stories260K.md;
 * run.c stops at the next BOS or after 256 steps). The text is read from the .md file. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "llmops/llmops.h"

/* The first fenced block after the "-t 0.0" command line, without the command. */
static char *documented_text(const char *md) {
    const char *cmd = strstr(md, "-z stories260K/tok512.bin -t 0.0\n");
    if (!cmd) return NULL;
    const char *start = strchr(cmd, '\n') + 1, *end = strstr(start, "```");
    if (!end) return NULL;
    while (end > start && end[-1] == '\n') end--;
    return lo_strndup(start, (size_t)(end - start));
}

int main(void) {
    char path[1024], mdpath[1024];
    check_shared("models/stories260K.gguf", path, sizeof path);
    check_shared("models/llama2c/stories260K.md", mdpath, sizeof mdpath);
    char *md = NULL;
    size_t md_len = 0;
    CHECK_OK(lo_read_file(mdpath, &md, &md_len));
    char *want = md ? documented_text(md) : NULL;
    CHECK(want != NULL && strncmp(want, "Once upon a time", 16) == 0);

    lo_model *m = NULL;
    CHECK_OK(lo_model_load(path, &m));
    lo_context *c = NULL;
    lo_context_params cp = {.n_ctx = 512, .n_seq = 1, .n_batch = 8, .n_threads = 2};
    if (m) CHECK_OK(lo_context_create(m, &cp, &c));
    if (!m || !c || !want) goto done;
    const lo_tokenizer *tok = lo_model_tokenizer(m);
    const int32_t nv = lo_model_hparams(m)->n_vocab, bos = lo_tokenizer_bos(tok);
    CHECK_INT_EQ(bos, 1);

    /* run.c: prompt "" → [BOS]; greedy argmax over all tokens; stop at BOS or 256 steps */
    int32_t ids[260];
    int32_t n = 0, cur = bos;
    for (int32_t pos = 0; pos < 256; pos++) {
        int32_t seq = 0;
        lo_batch b = {.n_tokens = 1, .token = &cur, .pos = &pos, .seq = &seq, .logits = NULL};
        lo_status s = lo_model_decode(c, &b);
        CHECK_OK(s);
        if (s) break;
        const float *lg = lo_context_logits(c, 0);
        int32_t best = 0;
        for (int32_t v = 1; v < nv; v++)
            if (lg[v] > lg[best]) best = v;
        if (best == bos) break;
        ids[n++] = best;
        cur = best;
    }
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(lo_detokenize(tok, ids, n, false, false, &text, &len));
    if (text) {
        size_t same = 0, wl = strlen(want);
        while (same < len && same < wl && text[same] == want[same]) same++;
        fprintf(stderr, "generated %d tokens; %zu of the %zu documented characters match\n", n, same, wl);
        if (same < wl) fprintf(stderr, "diverges at: '%.60s'\nexpected:     '%.60s'\n", text + same, want + same);
        /* the whole documented text (which run.c ends at 256 steps) */
        CHECK(same == wl);
    }
    lo_free(text);
done:
    lo_free(want);
    lo_free(md);
    lo_context_free(c);
    lo_model_free(m);
    return check_done();
}
