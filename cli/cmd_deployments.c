/* `llmops deployments ls | show NAME | stats NAME [--since DATE] [--json]`: what each
 * deployment routes to, and per-arm figures from the request log (requests, errors,
 * tokens, cost, TTFT and latency percentiles, tokens/s) to compare a canary with the primary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *C = "deployments";

/* A figure or "-" when unknown (negative), right-aligned in width columns. */
static void print_num(int width, int decimals, double v) {
    if (v < 0) printf(" %*s", width, "-");
    else printf(" %*.*f", width, decimals, v);
}

/* ctx: a bool, false until the header is out (printed with the first row, so an
 * unknown deployment prints nothing on stdout). */
static void print_arm(void *ctx, const lo_ops_arm_stats *a) {
    bool *header_done = ctx;
    if (!*header_done)
        printf("%-24s %7s %9s %7s %11s %11s %12s %9s %9s %9s %9s %9s\n", "ARM", "WEIGHT", "REQUESTS", "ERRORS", "PROMPT_TOK",
               "COMPL_TOK", "COST_USD", "TTFT_P50", "TTFT_P99", "LAT_P50", "LAT_P99", "TOK/S");
    *header_done = true;
    printf("%-24s %6.1f%% %9lld %7lld %11lld %11lld %12.6f", a->model_ref, a->weight, (long long)a->requests,
           (long long)a->errors, (long long)a->prompt_tokens, (long long)a->completion_tokens, a->cost_usd);
    print_num(9, 1, a->ttft_p50_ms);
    print_num(9, 1, a->ttft_p99_ms);
    print_num(9, 1, a->latency_p50_ms);
    print_num(9, 1, a->latency_p99_ms);
    print_num(9, 1, a->tokens_per_s);
    printf("\n");
}

/* A figure, or JSON null when unknown. */
static json_t *json_num(double v) { return v < 0 ? json_null() : json_real(v); }

static void json_arm(void *ctx, const lo_ops_arm_stats *a) {
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(a->model_ref));
    json_object_set_new(o, "model_id", a->model_id ? json_integer(a->model_id) : json_null());
    json_object_set_new(o, "weight", json_real(a->weight));
    json_object_set_new(o, "requests", json_integer(a->requests));
    json_object_set_new(o, "errors", json_integer(a->errors));
    json_object_set_new(o, "prompt_tokens", json_integer(a->prompt_tokens));
    json_object_set_new(o, "completion_tokens", json_integer(a->completion_tokens));
    json_object_set_new(o, "cost_usd", json_real(a->cost_usd));
    json_object_set_new(o, "ttft_p50_ms", json_num(a->ttft_p50_ms));
    json_object_set_new(o, "ttft_p99_ms", json_num(a->ttft_p99_ms));
    json_object_set_new(o, "latency_p50_ms", json_num(a->latency_p50_ms));
    json_object_set_new(o, "latency_p99_ms", json_num(a->latency_p99_ms));
    json_object_set_new(o, "tokens_per_s", json_num(a->tokens_per_s));
    json_array_append_new(ctx, o);
}

static lo_status stats(lo_store *s, const char *name, int64_t since, bool as_json) {
    if (!as_json) {
        bool header_done = false;
        return lo_ops_deployment_stats(s, name, since, print_arm, &header_done);
    }
    json_t *arms = json_array();
    lo_status st = lo_ops_deployment_stats(s, name, since, json_arm, arms);
    if (st == LO_OK) {
        json_t *o = json_pack("{s:s,s:I,s:o}", "deployment", name, "since_ms", (json_int_t)since, "arms", arms);
        char *txt = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
        if (txt) printf("%s\n", txt);
        else st = lo_error(LO_ERR_NOMEM, NULL, "out of memory writing JSON");
        free(txt);
        json_decref(o);
    } else {
        json_decref(arms);
    }
    return st;
}

int lo_cmd_deployments(int argc, char **argv) {
    lo_cli_opt o[] = {{"--store", true, NULL, false}, {"--since", true, NULL, false}, {"--json", false, NULL, false}};
    enum { O_STORE, O_SINCE, O_JSON, O_N };
    char *pos[2];
    int n = 0;
    int rc = lo_cli_parse(C, argc, argv, 1, o, O_N, pos, 2, &n);
    if (rc) return rc;
    if (n < 1) return lo_cli_usage_error(C, "give ls, show NAME or stats NAME");
    const char *sub = pos[0];
    bool is_stats = strcmp(sub, "stats") == 0;
    if (strcmp(sub, "ls") != 0 && strcmp(sub, "show") != 0 && !is_stats)
        return lo_cli_usage_error(C, "unknown subcommand '%s' (ls, show, stats)", sub);
    if (strcmp(sub, "ls") == 0 ? n != 1 : n != 2)
        return lo_cli_usage_error(C, strcmp(sub, "ls") == 0 ? "ls takes no arguments" : "%s takes one deployment name", sub);
    if (!is_stats && (o[O_SINCE].set || o[O_JSON].set)) return lo_cli_usage_error(C, "--since and --json go with stats");
    int64_t since = 0;
    lo_status st = LO_OK;
    if (o[O_SINCE].set && (st = lo_ops_parse_time(o[O_SINCE].value, &since))) return lo_cli_fail(C, st);
    lo_store *s = NULL;
    if ((rc = lo_cli_open_store(C, o[O_STORE].value, &s))) return rc;
    if (strcmp(sub, "ls") == 0) {
        st = lo_ops_deployment_list(s, lo_cli_print_deployment, NULL);
    } else if (strcmp(sub, "show") == 0) {
        lo_ops_deployment *d = malloc(sizeof *d);
        st = d ? lo_ops_deployment_get(s, pos[1], d) : lo_error(LO_ERR_NOMEM, NULL, "out of memory");
        if (!st) lo_cli_print_deployment(NULL, d);
        free(d);
    } else {
        st = stats(s, pos[1], since, o[O_JSON].set);
    }
    lo_store_close(s);
    return st ? lo_cli_fail(C, st) : LO_EXIT_OK;
}
