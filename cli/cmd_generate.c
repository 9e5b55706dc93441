/* `llmops generate`: continue a prompt with a model — streams the text to stdout token by
 * token, or with --ids prints the PROMPT_IDS / GEN_IDS / TEXT lines of the llama.cpp peer
 * (shared/peers/llamacpp/greedy.mjs) for comparison. Timings go to stderr. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static bool parse_float(const char *s, float *out) {
    if (!s || !*s) return false;
    char *end = NULL;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || !end || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* Writes s as JSON.stringify does: quotes, \" \\ \b \f \n \r \t, other controls as
 * \u00XX, everything else raw; bytes that are not valid UTF-8 become U+FFFD as when
 * node decodes them. */
static void print_json_string(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            switch (b) {
            case '"': fputs("\\\"", f); break;
            case '\\': fputs("\\\\", f); break;
            case '\b': fputs("\\b", f); break;
            case '\f': fputs("\\f", f); break;
            case '\n': fputs("\\n", f); break;
            case '\r': fputs("\\r", f); break;
            case '\t': fputs("\\t", f); break;
            default:
                if (b < 0x20) fprintf(f, "\\u%04x", b);
                else fputc(b, f);
            }
            i++;
            continue;
        }
        size_t need = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = need > 0 && i + need <= n;
        uint32_t cp = need == 2 ? b & 0x1F : need == 3 ? b & 0x0F : b & 0x07;
        for (size_t k = 1; ok && k < need; k++) {
            unsigned char cb = (unsigned char)s[i + k];
            if ((cb & 0xC0) != 0x80) ok = false;
            cp = (cp << 6) | (cb & 0x3F);
        }
        if (ok && ((need == 2 && cp < 0x80) || (need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
                   (need == 4 && (cp < 0x10000 || cp > 0x10FFFF))))
            ok = false;
        if (ok) {
            fwrite(s + i, 1, need, f);
            i += need;
        } else {
            fputs("\xEF\xBF\xBD", f);
            i++;
        }
    }
    fputc('"', f);
}

static bool stream_piece(void *user, int32_t id, const char *text, size_t len) {
    (void)user, (void)id;
    if (len) fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

int lo_cmd_generate(int argc, char **argv) {
    const char *cmd = "generate", *model = NULL, *prompt = NULL;
    long long n_predict = 64, threads = 0, ctx = 0;
    bool ignore_eos = false, ids_mode = false;
    lo_sampler_params sp;
    lo_sampler_params_default(&sp);
    const char **stops = lo_calloc((size_t)(argc > 0 ? argc : 1), sizeof *stops);
    int32_t n_stop = 0;
    if (!stops) return lo_cli_fail(cmd, LO_ERR_NOMEM);
    int rc = LO_EXIT_OK;
    lo_cli_model_opts mopts = {0};
#define USAGE(...)                                                                                                     \
    do {                                                                                                               \
        lo_free(stops);                                                                                                \
        return lo_cli_usage_error(cmd, __VA_ARGS__);                                                                   \
    } while (0)
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long iv;
        float fv;
        const int mo = lo_cli_model_opt(cmd, argc, argv, &i, &mopts);
        if (mo < 0) {
            lo_free(stops);
            return LO_EXIT_USAGE;
        }
        if (mo) continue;
        if (strcmp(a, "--ignore-eos") == 0) ignore_eos = true;
        else if (strcmp(a, "--ids") == 0) ids_mode = true;
        else if (a[0] == '-' && !v) USAGE("%s needs a value", a);
        else if (strcmp(a, "-m") == 0) model = v, i++;
        else if (strcmp(a, "-p") == 0) prompt = v, i++;
        else if (strcmp(a, "--stop") == 0) {
            if (!*v) USAGE("--stop needs a non-empty TEXT");
            stops[n_stop++] = v, i++;
        } else if (strcmp(a, "-n") == 0) {
            if (!lo_cli_parse_int(v, 0, 1 << 24, &n_predict)) USAGE("-n wants a number of tokens ≥ 0, not '%s'", v);
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            if (!lo_cli_parse_int(v, 1, 1024, &threads)) USAGE("--threads wants 1..1024, not '%s'", v);
            i++;
        } else if (strcmp(a, "--ctx") == 0) {
            if (!lo_cli_parse_int(v, 8, 1 << 20, &ctx)) USAGE("--ctx wants a size ≥ 8, not '%s'", v);
            i++;
        } else if (strcmp(a, "--top-k") == 0) {
            if (!lo_cli_parse_int(v, 0, 1 << 30, &iv)) USAGE("--top-k wants an integer ≥ 0, not '%s'", v);
            sp.top_k = (int32_t)iv, i++;
        } else if (strcmp(a, "--repeat-last-n") == 0) {
            if (!lo_cli_parse_int(v, -1, 1 << 24, &iv)) USAGE("--repeat-last-n wants -1 (the context) or N ≥ 0, not '%s'", v);
            sp.repeat_last_n = (int32_t)iv, i++;
        } else if (strcmp(a, "--seed") == 0) {
            if (!lo_cli_parse_int(v, 0, 0xFFFFFFFFll, &iv)) USAGE("--seed wants 0..4294967295, not '%s'", v);
            sp.seed = (uint64_t)iv, i++;
        } else if (strcmp(a, "--temp") == 0 || strcmp(a, "--top-p") == 0 || strcmp(a, "--min-p") == 0 ||
                   strcmp(a, "--repeat-penalty") == 0 || strcmp(a, "--frequency-penalty") == 0 ||
                   strcmp(a, "--presence-penalty") == 0) {
            if (!parse_float(v, &fv)) USAGE("%s wants a number, not '%s'", a, v);
            i++;
            if (strcmp(a, "--temp") == 0) sp.temperature = fv;
            else if (strcmp(a, "--top-p") == 0) {
                if (fv < 0) USAGE("--top-p must be ≥ 0");
                sp.top_p = fv;
            } else if (strcmp(a, "--min-p") == 0) {
                if (fv < 0 || fv > 1) USAGE("--min-p must be within [0, 1]");
                sp.min_p = fv;
            } else if (strcmp(a, "--repeat-penalty") == 0) {
                if (fv <= 0) USAGE("--repeat-penalty must be > 0 (1 = off)");
                sp.repeat_penalty = fv;
            } else if (strcmp(a, "--frequency-penalty") == 0) sp.frequency_penalty = fv;
            else sp.presence_penalty = fv;
        } else USAGE("unknown option '%s'", a);
    }
    if (!model) USAGE("-m FILE.gguf is required");
    if (!prompt) USAGE("-p PROMPT is required");

    lo_model *m = NULL;
    lo_context *c = NULL;
    lo_tokens pids = {0};
    lo_generate_result res = {0};
    char *text = NULL;
    lo_status s = lo_cli_model_load(model, &mopts, &m);
    if (s) {
        lo_error_wrap(s, "%s", model);
        rc = lo_cli_fail(cmd, s);
        goto out;
    }
    const lo_tokenizer *tok = lo_model_tokenizer(m);
    if ((s = lo_tokenize(tok, prompt, strlen(prompt), true, true, &pids)) != LO_OK) {
        rc = lo_cli_fail(cmd, s);
        goto out;
    }
    if (pids.n == 0) {
        rc = lo_cli_usage_error(cmd, "the prompt is empty and the model adds no BOS token");
        goto out;
    }
    lo_context_params cp = {.n_ctx = (int32_t)ctx, .n_seq = 1, .n_batch = 512, .n_threads = (int32_t)threads};
    if ((s = lo_context_create(m, &cp, &c)) != LO_OK) {
        rc = lo_cli_fail(cmd, s);
        goto out;
    }
    if (sp.repeat_last_n < 0) sp.repeat_last_n = lo_context_n_ctx(c);
    lo_generate_params gp;
    lo_generate_params_default(&gp);
    gp.n_predict = (int32_t)n_predict;
    gp.sampling = sp;
    gp.ignore_eos = ignore_eos;
    gp.stop = stops;
    gp.n_stop = n_stop;
    gp.n_batch = 512;
    if (!ids_mode) gp.on_token = stream_piece;
    if (pids.n >= lo_context_n_ctx(c)) {
        lo_error(LO_ERR_RANGE, "use a larger --ctx or a shorter prompt", "the prompt has %" PRId64 " tokens; the context holds %d",
                 pids.n, lo_context_n_ctx(c));
        rc = lo_cli_fail(cmd, LO_ERR_RANGE);
        goto out;
    }
    if ((s = lo_generate(m, c, pids.ids, (int32_t)pids.n, &gp, &res)) != LO_OK) {
        if (!ids_mode) fputc('\n', stdout);
        rc = lo_cli_fail(cmd, s);
        goto out;
    }
    if (ids_mode) {
        printf("PROMPT_IDS");
        for (int64_t i = 0; i < pids.n; i++) printf(" %d", pids.ids[i]);
        printf("\nGEN_IDS");
        for (int32_t i = 0; i < res.n_completion; i++) printf(" %d", res.ids[i]);
        printf("\nTEXT ");
        if (res.stop_hit) {
            print_json_string(stdout, res.text, res.text_len);
        } else {
            /* as the peer: the detokenized ids (SPM drops the leading space) */
            size_t len = 0;
            if ((s = lo_detokenize(tok, res.ids, res.n_completion, false, false, &text, &len)) != LO_OK) {
                rc = lo_cli_fail(cmd, s);
                goto out;
            }
            print_json_string(stdout, text, len);
        }
        putchar('\n');
    } else {
        putchar('\n');
    }
    if (fflush(stdout) != 0) rc = LO_EXIT_FAIL;
    fprintf(stderr, "prompt: %d tokens in %.2f ms (%.2f tokens/s)\n", res.n_prompt, res.t_prompt_ms, res.prompt_tps);
    fprintf(stderr, "generation: %d tokens in %.2f ms (%.2f tokens/s), finish: %s, seed %" PRIu64 "\n",
            res.n_completion, res.t_gen_ms, res.gen_tps, lo_finish_reason_name(res.finish), res.seed);
out:
#undef USAGE
    lo_free(text);
    lo_generate_result_free(&res);
    lo_tokens_free(&pids);
    lo_context_free(c);
    lo_model_free(m);
    lo_free(stops);
    return rc;
}
