/* `llmops perplexity`: perplexity of a text file, chunked as llama-perplexity does; prints
 * the running "[1]x,[2]y," values and "Final estimate: PPL = X +/- Y" to stdout. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void print_chunk(void *user, int32_t chunk, double ppl) {
    (void)user;
    printf("[%d]%.4f,", chunk, ppl);
    fflush(stdout);
}

int lo_cmd_perplexity(int argc, char **argv) {
    const char *cmd = "perplexity", *model = NULL, *file = NULL;
    long long ctx = 512, threads = 0;
    lo_cli_model_opts mopts = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int mo = lo_cli_model_opt(cmd, argc, argv, &i, &mopts);
        if (mo < 0) return LO_EXIT_USAGE;
        if (mo) continue;
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-m") == 0 || strcmp(a, "-f") == 0 || strcmp(a, "--ctx") == 0 || strcmp(a, "--threads") == 0) {
            if (!v) return lo_cli_usage_error(cmd, "%s needs a value", a);
            i++;
            if (strcmp(a, "-m") == 0) model = v;
            else if (strcmp(a, "-f") == 0) file = v;
            else if (strcmp(a, "--ctx") == 0) {
                if (!lo_cli_parse_int(v, 4, 1 << 20, &ctx)) return lo_cli_usage_error(cmd, "--ctx wants a size ≥ 4, not '%s'", v);
            } else if (!lo_cli_parse_int(v, 1, 1024, &threads))
                return lo_cli_usage_error(cmd, "--threads wants 1..1024, not '%s'", v);
        } else {
            return lo_cli_usage_error(cmd, "unknown option or argument '%s'", a);
        }
    }
    if (!model) return lo_cli_usage_error(cmd, "-m FILE.gguf is required");
    if (!file) return lo_cli_usage_error(cmd, "-f TEXT (a text file) is required");

    int rc = LO_EXIT_OK;
    char *text = NULL;
    size_t len = 0;
    lo_model *m = NULL;
    lo_context *c = NULL;
    lo_perplexity_result res = {0};
    lo_status s = lo_read_file(file, &text, &len);
    if (s) {
        rc = lo_cli_fail(cmd, s);
        goto out;
    }
    if ((s = lo_cli_model_load(model, &mopts, &m)) != LO_OK) {
        lo_error_wrap(s, "%s", model);
        rc = lo_cli_fail(cmd, s);
        goto out;
    }
    lo_context_params cp = {.n_ctx = (int32_t)ctx, .n_seq = 1, .n_batch = (int32_t)(ctx < 2048 ? ctx : 2048),
                            .n_threads = (int32_t)threads};
    if ((s = lo_context_create(m, &cp, &c)) != LO_OK) {
        rc = lo_cli_fail(cmd, s);
        goto out;
    }
    lo_perplexity_params pp = {.n_ctx = (int32_t)ctx, .n_batch = cp.n_batch, .on_chunk = print_chunk};
    double t0 = lo_time_sec();
    s = lo_perplexity(m, c, text, len, &pp, &res);
    if (s) {
        if (res.n_chunks > 0) putchar('\n');
        fflush(stdout);
        rc = lo_cli_fail(cmd, s);
        goto out;
    }
    printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", res.ppl, res.ppl_err);
    if (fflush(stdout) != 0) rc = LO_EXIT_FAIL;
    double dt = lo_time_sec() - t0;
    fprintf(stderr, "perplexity: %d chunks of %lld tokens (%lld scored each) in %.2f s, %.1f tokens/s\n", res.n_chunks,
            ctx, ctx - ctx / 2 - 1, dt, dt > 0 ? (double)res.n_chunks * (double)ctx / dt : 0.0);
out:
    lo_perplexity_result_free(&res);
    lo_context_free(c);
    lo_model_free(m);
    lo_free(text);
    return rc;
}
