/* `llmops eval`: evaluate a model version (or a deployment's primary arm) on an EVAL.jsonl —
 * generate, score, record the run — and compare it with a baseline version in a table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *C = "eval";

/* --stop values: \n, \t and \\ stand for newline, tab and backslash. */
static char *unescape(const char *s) {
    char *o = lo_malloc(strlen(s) + 1), *w = o;
    if (!o) return NULL;
    for (; *s; s++) {
        if (*s == '\\' && (s[1] == 'n' || s[1] == 't' || s[1] == '\\')) {
            s++;
            *w++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : '\\';
        } else {
            *w++ = *s;
        }
    }
    *w = 0;
    return o;
}

/* The default directory for predictions: "evals" beside a SQLite store's file, else
 * ./llmops-data/evals. */
static void default_out_dir(const char *store_flag, char *out, size_t cap) {
    const char *url = lo_store_url_from_env_or(store_flag);
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *path = url + 7;
        if (strncmp(path, "//", 2) == 0) path += 2;
        const char *slash = strrchr(path, '/');
        if (slash)
            snprintf(out, cap, "%.*s/evals", (int)(slash - path), path);
        else
            snprintf(out, cap, "evals");
        if (slash == path) snprintf(out, cap, "/evals");
        return;
    }
    snprintf(out, cap, "llmops-data/evals");
}

static void print_scores_json(const lo_eval_result *r) {
    printf("{");
    bool first = true;
    for (int k = 0; k < LO_EVAL_N_SCORES; k++)
        if (r->metrics & 1u << k) {
            printf("%s\"%s\":%.17g", first ? "" : ",", lo_eval_score_name(k), r->scores[k]);
            first = false;
        }
    printf("}");
}

static void print_json(const lo_eval_result *a, const lo_eval_result *b) {
    printf("{\"run\":%lld,\"model\":", (long long)a->run_id);
    json_t *m = json_string(a->model_ref);
    char *t = json_dumps(m, JSON_ENCODE_ANY);
    printf("%s,\"dataset\":\"%s@%s\",\"n_samples\":%lld,\"predictions\":", t ? t : "\"\"", a->dataset.name,
           a->dataset.version, (long long)a->n_samples);
    free(t);
    json_decref(m);
    m = json_string(a->predictions_path);
    t = json_dumps(m, JSON_ENCODE_ANY);
    printf("%s,\"scores\":", t ? t : "\"\"");
    free(t);
    json_decref(m);
    print_scores_json(a);
    if (b) {
        m = json_string(b->model_ref);
        t = json_dumps(m, JSON_ENCODE_ANY);
        printf(",\"baseline\":{\"run\":%lld,\"model\":%s,\"reused\":%s,\"scores\":", (long long)b->run_id,
               t ? t : "\"\"", b->reused ? "true" : "false");
        free(t);
        json_decref(m);
        print_scores_json(b);
        printf("}");
    }
    printf("}\n");
}

void lo_cli_print_eval(const lo_eval_result *a, const lo_eval_result *b) {
    printf("eval run %lld: %s on %s@%.12s (%lld samples)\n", (long long)a->run_id, a->model_ref, a->dataset.name,
           a->dataset.version, (long long)a->n_samples);
    if (a->n_gen_tokens)
        printf("generated %lld tokens in %.2f s (%.1f tokens/s)\n", (long long)a->n_gen_tokens, a->t_gen_s,
               a->t_gen_s > 0 ? (double)a->n_gen_tokens / a->t_gen_s : 0.0);
    if (a->n_scored_tokens)
        printf("perplexity over %lld reference tokens in %.2f s\n", (long long)a->n_scored_tokens, a->t_score_s);
    printf("predictions: %s\n", a->predictions_path);
    if (b)
        printf("baseline %s: run %lld (%s)\n", b->model_ref, (long long)b->run_id,
               b->reused ? "recorded" : "evaluated now");
    if (!b) {
        printf("%-12s %14s\n", "METRIC", "VALUE");
        for (int k = 0; k < LO_EVAL_N_SCORES; k++)
            if (a->metrics & 1u << k) printf("%-12s %14.4f\n", lo_eval_score_name(k), a->scores[k]);
        return;
    }
    printf("%-12s %14s %14s %12s  %s\n", "METRIC", "MODEL", "BASELINE", "DELTA", "BETTER");
    for (int k = 0; k < LO_EVAL_N_SCORES; k++) {
        if (!(a->metrics & 1u << k)) continue;
        bool hb = lo_eval_higher_is_better(k);
        double d = a->scores[k] - b->scores[k];
        const char *who = d == 0 ? "tie" : (d > 0) == hb ? "model" : "baseline";
        printf("%-12s %14.4f %14.4f %+12.4f  %s (%s)\n", lo_eval_score_name(k), a->scores[k], b->scores[k], d,
               hb ? "higher" : "lower", who);
    }
}

int lo_cmd_eval(int argc, char **argv) {
    const char *model = NULL, *deployment = NULL, *data = NULL, *metrics = NULL, *baseline = NULL, *store = NULL;
    const char *out_dir = NULL, *data_name = NULL, *chat_template = NULL;
    bool json = false, no_reuse = false, stem = false;
    long long max_tokens = 64, seed = 42, parallel = 4, ctx = 0, threads = 0;
    double temp = 0;
    char *stops[16];
    int n_stop = 0, rc = LO_EXIT_OK;
#define USAGE(...)                                                                                                     \
    do {                                                                                                               \
        rc = lo_cli_usage_error(C, __VA_ARGS__);                                                                       \
        goto out;                                                                                                      \
    } while (0)
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0)
            json = true;
        else if (strcmp(a, "--no-reuse") == 0)
            no_reuse = true;
        else if (strcmp(a, "--rouge-stem") == 0)
            stem = true;
        else if (a[0] != '-')
            USAGE("unexpected argument '%s'", a);
        else if (!v)
            USAGE("%s needs a value", a);
        else if (i++, strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0)
            model = v;
        else if (strcmp(a, "--deployment") == 0)
            deployment = v;
        else if (strcmp(a, "--data") == 0)
            data = v;
        else if (strcmp(a, "--metrics") == 0)
            metrics = v;
        else if (strcmp(a, "--baseline") == 0)
            baseline = v;
        else if (strcmp(a, "--store") == 0)
            store = v;
        else if (strcmp(a, "--out-dir") == 0)
            out_dir = v;
        else if (strcmp(a, "--data-name") == 0)
            data_name = v;
        else if (strcmp(a, "--chat-template") == 0)
            chat_template = v;
        else if (strcmp(a, "--stop") == 0) {
            if (n_stop == 16) USAGE("at most 16 --stop strings");
            if (!(stops[n_stop] = unescape(v))) USAGE("out of memory");
            if (!stops[n_stop++][0]) USAGE("--stop needs a non-empty TEXT");
        } else if (strcmp(a, "--max-tokens") == 0) {
            if (!lo_cli_parse_int(v, 1, 1 << 20, &max_tokens)) USAGE("--max-tokens wants 1..1048576, not '%s'", v);
        } else if (strcmp(a, "--seed") == 0) {
            if (!lo_cli_parse_int(v, 0, 0xFFFFFFFFll, &seed)) USAGE("--seed wants 0..4294967295, not '%s'", v);
        } else if (strcmp(a, "--parallel") == 0) {
            if (!lo_cli_parse_int(v, 1, 256, &parallel)) USAGE("--parallel wants 1..256, not '%s'", v);
        } else if (strcmp(a, "--ctx") == 0) {
            if (!lo_cli_parse_int(v, 8, 1 << 20, &ctx)) USAGE("--ctx wants a size ≥ 8, not '%s'", v);
        } else if (strcmp(a, "--threads") == 0) {
            if (!lo_cli_parse_int(v, 1, 1024, &threads)) USAGE("--threads wants 1..1024, not '%s'", v);
        } else if (strcmp(a, "--temp") == 0) {
            if (!lo_cli_parse_double(v, &temp) || temp < 0 || temp > 100)
                USAGE("--temp wants 0 (greedy) to 100, not '%s'", v);
        } else
            USAGE("unknown option %s", a);
    }
    if (!model == !deployment) USAGE("give -m MODEL or --deployment NAME (one of them)");
    if (!data) USAGE("--data EVAL.jsonl is required");
    lo_eval_params p;
    lo_eval_params_default(&p);
    if (metrics && lo_eval_parse_metrics(metrics, &p.metrics) != LO_OK) USAGE("--metrics: %s", lo_error_message());
    char dir[LO_OPS_PATH_MAX];
    if (out_dir)
        snprintf(dir, sizeof dir, "%s", out_dir);
    else
        default_out_dir(store, dir, sizeof dir);
    p.model = model;
    p.deployment = deployment;
    p.data_path = data;
    p.data_name = data_name;
    p.out_dir = dir;
    p.max_tokens = (int32_t)max_tokens;
    p.temperature = (float)temp;
    p.seed = (uint64_t)seed;
    p.stop = (const char *const *)stops;
    p.n_stop = n_stop;
    p.n_parallel = (int32_t)parallel;
    p.n_ctx = (int32_t)ctx;
    p.n_threads = (int32_t)threads;
    p.rouge_stem = stem;
    p.chat_template = chat_template;
    lo_store *s = NULL;
    if ((rc = lo_cli_open_store(C, store, &s))) goto out;
    lo_eval_result *res = lo_calloc(2, sizeof *res);
    lo_status st = res ? lo_eval_run(s, &p, &res[0]) : LO_ERR_NOMEM;
    if (st == LO_OK && baseline) {
        lo_eval_params b = p;
        b.model = baseline;
        b.deployment = NULL;
        b.reuse = !no_reuse;
        b.metrics = res[0].metrics;
        st = lo_eval_run(s, &b, &res[1]);
        if (st) lo_error_wrap(st, "baseline %s", baseline);
    }
    if (st == LO_OK) {
        if (json)
            print_json(&res[0], baseline ? &res[1] : NULL);
        else
            lo_cli_print_eval(&res[0], baseline ? &res[1] : NULL);
    }
    lo_free(res);
    lo_store_close(s);
    if (st) rc = lo_cli_fail(C, st);
out:
#undef USAGE
    for (int i = 0; i < n_stop; i++) lo_free(stops[i]);
    return rc;
}
