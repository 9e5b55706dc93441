/* The model-loading options shared by the commands that run a model (generate, perplexity,
 * logits, bench, serve): --lora FILE[:SCALE], repeatable — llama.cpp-format LoRA adapters
 * applied at load time beside the base weights (lo_lora_load + lo_model_lora_attach). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int lo_cli_model_opt(const char *cmd, int argc, char **argv, int *i, lo_cli_model_opts *o) {
    const char *a = argv[*i];
    if (strcmp(a, "--lora") != 0) return 0;
    if (*i + 1 >= argc) return lo_cli_usage_error(cmd, "--lora needs FILE[:SCALE]"), -1;
    if (o->n_lora == LO_LORA_MAX) return lo_cli_usage_error(cmd, "at most %d --lora adapters", LO_LORA_MAX), -1;
    char *v = argv[++*i];
    float scale = 1.0f;
    /* FILE:SCALE when the text after the last ':' is a number; else all of it is FILE */
    char *colon = strrchr(v, ':');
    if (colon && colon[1]) {
        char *end = NULL;
        errno = 0;
        double d = strtod(colon + 1, &end);
        if (!errno && end && !*end) {
            if (!isfinite(d) || fabs(d) > 1e6)
                return lo_cli_usage_error(cmd, "--lora %s: the scale must be finite with |scale| ≤ 1e6", v), -1;
            scale = (float)d;
            *colon = '\0'; /* argv strings are the program's to modify */
        }
    }
    if (!v[0]) return lo_cli_usage_error(cmd, "--lora needs a FILE before ':SCALE'"), -1;
    o->lora[o->n_lora++] = (lo_lora_spec){.path = v, .scale = scale};
    return 1;
}

lo_status lo_cli_model_load(const char *path, const lo_cli_model_opts *o, lo_model **out) {
    *out = NULL;
    lo_model *m = NULL;
    lo_status s = lo_model_load(path, &m);
    if (s) return s;
    if (o && (s = lo_model_lora_load_all(m, o->lora, o->n_lora))) {
        lo_model_free(m);
        return s;
    }
    for (int32_t k = 0; o && k < o->n_lora; k++) {
        lo_lora_info inf;
        lo_lora_get_info(lo_model_lora(m, k), &inf);
        if (inf.rank_min == inf.rank_max)
            fprintf(stderr, "lora: %s: %d matrices, rank %d, alpha %g, scale %g\n", o->lora[k].path, inf.n_pairs,
                    inf.rank_max, (double)inf.alpha, (double)o->lora[k].scale);
        else
            fprintf(stderr, "lora: %s: %d matrices, rank %d..%d, alpha %g, scale %g\n", o->lora[k].path, inf.n_pairs,
                    inf.rank_min, inf.rank_max, (double)inf.alpha, (double)o->lora[k].scale);
    }
    *out = m;
    return LO_OK;
}
