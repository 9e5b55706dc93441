/* `llmops embed`: one embedding per input text (each TEXT argument, or each line of -f FILE),
 * printed as one JSON array a line, through lo_embed — the code path /v1/embeddings uses. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct embed_input {
    const char *text;
    size_t len;
} embed_input;

int lo_cmd_embed(int argc, char **argv) {
    const char *cmd = "embed", *model = NULL, *file = NULL;
    long long threads = 0, ctx = 0;
    int pooling = 0; /* 0 = the model's */
    bool normalize = true, only_args = false;
    embed_input *in = lo_calloc((size_t)(argc > 0 ? argc : 1), sizeof *in);
    if (!in) return lo_cli_fail(cmd, LO_ERR_NOMEM);
    int n_in = 0, rc = LO_EXIT_OK;
#define USAGE(...) return lo_free(in), lo_cli_usage_error(cmd, __VA_ARGS__)
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_args && strcmp(a, "--") == 0) {
            only_args = true;
        } else if (!only_args && strcmp(a, "--no-normalize") == 0) {
            normalize = false;
        } else if (!only_args && (strcmp(a, "-m") == 0 || strcmp(a, "-f") == 0 || strcmp(a, "--pooling") == 0 ||
                                  strcmp(a, "--threads") == 0 || strcmp(a, "--ctx") == 0)) {
            if (++i >= argc) USAGE("%s needs a value", a);
            const char *v = argv[i];
            if (strcmp(a, "-m") == 0) model = v;
            else if (strcmp(a, "-f") == 0) file = v;
            else if (strcmp(a, "--pooling") == 0) {
                pooling = lo_pooling_from_name(v);
                if (pooling < 0) USAGE("--pooling wants mean, cls or last, not '%s'", v);
            } else if (strcmp(a, "--threads") == 0) {
                if (!lo_cli_parse_int(v, 1, 1024, &threads)) USAGE("--threads wants 1..1024, not '%s'", v);
            } else if (!lo_cli_parse_int(v, 1, 1 << 20, &ctx)) {
                USAGE("--ctx wants a size of at least 1, not '%s'", v);
            }
        } else if (!only_args && a[0] == '-' && a[1]) {
            USAGE("unknown option '%s'", a);
        } else {
            in[n_in].text = a, in[n_in].len = strlen(a);
            n_in++;
        }
    }
    if (!model) USAGE("-m FILE.gguf is required");
    if (file && n_in) USAGE("give the inputs either with -f FILE or as TEXT arguments, not both");
    if (!file && !n_in) USAGE("no input given (TEXT... or -f FILE)");
#undef USAGE

    char *ftext = NULL;
    size_t flen = 0;
    lo_model *m = NULL;
    lo_context *c = NULL;
    lo_tokens *toks = NULL;
    float *vec = NULL;
    lo_status s = LO_OK;
    if (file) {
        /* one input per line (a trailing newline does not make an empty last input) */
        if ((s = lo_read_file(file, &ftext, &flen))) goto fail;
        int lines = 0;
        for (size_t i = 0; i < flen; i++) lines += ftext[i] == '\n';
        lo_free(in);
        in = lo_calloc((size_t)lines + 1, sizeof *in);
        if (!in) {
            s = LO_ERR_NOMEM;
            goto fail;
        }
        for (size_t p = 0; p < flen;) {
            const char *nl = memchr(ftext + p, '\n', flen - p);
            size_t l = nl ? (size_t)(nl - (ftext + p)) : flen - p;
            size_t tl = l && ftext[p + l - 1] == '\r' ? l - 1 : l;
            in[n_in].text = ftext + p, in[n_in].len = tl;
            n_in++;
            p += l + 1;
        }
        if (!n_in) {
            s = lo_error(LO_ERR_INVALID, "put one text per line", "%s has no lines to embed", file);
            goto fail;
        }
    }
    if ((s = lo_model_load(model, &m))) goto fail;
    /* tokenize everything first: the context is sized for the longest input */
    toks = lo_calloc((size_t)n_in, sizeof *toks);
    if (!toks) {
        s = LO_ERR_NOMEM;
        goto fail;
    }
    int64_t longest = 1;
    for (int i = 0; i < n_in; i++) {
        if ((s = lo_tokenize(lo_model_tokenizer(m), in[i].text, in[i].len, true, true, &toks[i]))) goto fail;
        if (toks[i].n == 0) {
            s = lo_error(LO_ERR_INVALID, "give non-empty texts", "input %d has no tokens", i + 1);
            goto fail;
        }
        if (toks[i].n > longest) longest = toks[i].n;
    }
    const lo_hparams *hp = lo_model_hparams(m);
    if (ctx == 0) ctx = longest;
    if (longest > ctx) {
        s = lo_error(LO_ERR_RANGE, "use a larger --ctx or a shorter text", "an input has %lld tokens; --ctx is %lld",
                     (long long)longest, ctx);
        goto fail;
    }
    if (lo_model_is_encoder(m) && ctx > hp->n_ctx_train) {
        s = lo_error(LO_ERR_RANGE, "shorten the text", "an input has %lld tokens; this %s model reads at most %d",
                     (long long)longest, hp->arch, hp->n_ctx_train);
        goto fail;
    }
    lo_context_params cp = {.n_ctx = (int32_t)ctx, .n_seq = 1, .n_batch = (int32_t)(ctx < 2048 || lo_model_is_encoder(m) ? ctx : 2048),
                            .n_threads = (int32_t)threads, .embeddings = true};
    if ((s = lo_context_create(m, &cp, &c))) goto fail;
    const lo_pooling pool = pooling ? (lo_pooling)pooling : lo_model_pooling(m);
    vec = lo_malloc((size_t)hp->n_embd * sizeof(float));
    if (!vec) {
        s = LO_ERR_NOMEM;
        goto fail;
    }
    for (int i = 0; i < n_in; i++) {
        if ((s = lo_embed(m, c, 0, toks[i].ids, (int32_t)toks[i].n, pool, normalize, vec))) {
            lo_error_wrap(s, "input %d", i + 1);
            goto fail;
        }
        putchar('[');
        for (int32_t k = 0; k < hp->n_embd; k++) printf(k ? ", %.9g" : "%.9g", (double)vec[k]);
        fputs("]\n", stdout);
    }
    if (fflush(stdout) != 0) rc = LO_EXIT_FAIL;
    goto done;
fail:
    rc = lo_cli_fail(cmd, s);
done:
    for (int i = 0; toks && i < n_in; i++) lo_tokens_free(&toks[i]);
    lo_free(toks);
    lo_free(vec);
    lo_context_free(c);
    lo_model_free(m);
    lo_free(ftext);
    lo_free(in);
    return rc;
}
