/* `llmops costs [--by model|deployment|key] [--since DATE]`, `costs price MODEL ...`,
 * `costs prices` and `costs record ...`: prices per model (given, or derived from a
 * machine's $/hour and measured tokens/s) and the cost totals of the request log. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *C = "costs";

typedef struct totals {
    int64_t n, pt, ct;
    double usd;
} totals;

static void print_cost(void *ctx, const lo_ops_cost_row *r) {
    totals *t = ctx;
    t->n += r->n_requests, t->pt += r->prompt_tokens, t->ct += r->completion_tokens, t->usd += r->cost_usd;
    printf("%-32s %10lld %14lld %14lld %14.6f\n", r->group, (long long)r->n_requests, (long long)r->prompt_tokens,
           (long long)r->completion_tokens, r->cost_usd);
}

static void print_price(void *ctx, const char *model, double in, double out) {
    (void)ctx;
    printf("%-32s %14.6f %14.6f\n", model, in, out);
}

int lo_cmd_costs(int argc, char **argv) {
    lo_cli_opt o[] = {{"--store", true, NULL, false},         {"--by", true, NULL, false},
                      {"--since", true, NULL, false},         {"--input", true, NULL, false},
                      {"--output", true, NULL, false},        {"--usd-per-hour", true, NULL, false},
                      {"--input-tps", true, NULL, false},     {"--output-tps", true, NULL, false},
                      {"--prompt-tokens", true, NULL, false}, {"--completion-tokens", true, NULL, false},
                      {"--deployment", true, NULL, false},    {"--key", true, NULL, false},
                      {"--id", true, NULL, false},            {"--status", true, NULL, false},
                      {"--ttft-ms", true, NULL, false},       {"--latency-ms", true, NULL, false}};
    enum { O_STORE, O_BY, O_SINCE, O_IN, O_OUT, O_UPH, O_ITPS, O_OTPS, O_PT, O_CT, O_DEP, O_KEY, O_ID, O_STATUS, O_TTFT, O_LAT, O_N };
    char *pos[3];
    int n = 0;
    int rc = lo_cli_parse(C, argc, argv, 1, o, O_N, pos, 3, &n);
    if (rc) return rc;
    const char *sub = n ? pos[0] : "report";
    lo_status st = LO_OK;
    lo_store *s = NULL;
    if (strcmp(sub, "report") == 0 && n == 0) {
        lo_ops_cost_by by = LO_OPS_BY_MODEL;
        if (o[O_BY].set) {
            if (strcmp(o[O_BY].value, "model") == 0) by = LO_OPS_BY_MODEL;
            else if (strcmp(o[O_BY].value, "deployment") == 0) by = LO_OPS_BY_DEPLOYMENT;
            else if (strcmp(o[O_BY].value, "key") == 0) by = LO_OPS_BY_KEY;
            else return lo_cli_usage_error(C, "--by '%s': use model, deployment or key", o[O_BY].value);
        }
        int64_t since = 0;
        if (o[O_SINCE].set && (st = lo_ops_parse_time(o[O_SINCE].value, &since))) return lo_cli_fail(C, st);
        if ((rc = lo_cli_open_store(C, o[O_STORE].value, &s))) return rc;
        printf("%-32s %10s %14s %14s %14s\n", by == LO_OPS_BY_MODEL ? "MODEL" : by == LO_OPS_BY_DEPLOYMENT ? "DEPLOYMENT" : "KEY",
               "REQUESTS", "PROMPT_TOK", "COMPL_TOK", "COST_USD");
        totals t = {0};
        st = lo_ops_costs(s, by, since, print_cost, &t);
        if (!st)
            printf("%-32s %10lld %14lld %14lld %14.6f\n", "TOTAL", (long long)t.n, (long long)t.pt, (long long)t.ct, t.usd);
    } else if (strcmp(sub, "price") == 0) {
        if (n != 2) return lo_cli_usage_error(C, "price takes one model name");
        double in = 0, out = 0, uph = 0, itps = 0, otps = 0;
        bool given = o[O_IN].set || o[O_OUT].set, derived = o[O_UPH].set || o[O_ITPS].set || o[O_OTPS].set;
        if (given == derived)
            return lo_cli_usage_error(C, "give either --input and --output ($/M tokens) or --usd-per-hour with --input-tps and --output-tps");
        if (given) {
            if (!o[O_IN].set || !o[O_OUT].set) return lo_cli_usage_error(C, "give both --input and --output");
            if (!lo_cli_parse_double(o[O_IN].value, &in)) return lo_cli_usage_error(C, "--input '%s' is not a number", o[O_IN].value);
            if (!lo_cli_parse_double(o[O_OUT].value, &out)) return lo_cli_usage_error(C, "--output '%s' is not a number", o[O_OUT].value);
        } else {
            if (!o[O_UPH].set || !o[O_ITPS].set || !o[O_OTPS].set)
                return lo_cli_usage_error(C, "give --usd-per-hour, --input-tps and --output-tps together");
            if (!lo_cli_parse_double(o[O_UPH].value, &uph) || !lo_cli_parse_double(o[O_ITPS].value, &itps) ||
                !lo_cli_parse_double(o[O_OTPS].value, &otps))
                return lo_cli_usage_error(C, "--usd-per-hour, --input-tps and --output-tps take numbers");
            if ((st = lo_ops_price_derive(uph, itps, &in)) || (st = lo_ops_price_derive(uph, otps, &out))) return lo_cli_fail(C, st);
        }
        if ((rc = lo_cli_open_store(C, o[O_STORE].value, &s))) return rc;
        st = lo_ops_price_set(s, pos[1], in, out);
        if (!st) printf("%s: $%.6f per M input tokens, $%.6f per M output tokens\n", pos[1], in, out);
    } else if (strcmp(sub, "prices") == 0) {
        if (n != 1) return lo_cli_usage_error(C, "prices takes no arguments");
        if ((rc = lo_cli_open_store(C, o[O_STORE].value, &s))) return rc;
        printf("%-32s %14s %14s\n", "MODEL", "USD_PER_M_IN", "USD_PER_M_OUT");
        st = lo_ops_price_list(s, print_price, NULL);
    } else if (strcmp(sub, "record") == 0) {
        /* A request served elsewhere (an upstream provider, a batch job): priced like ours. */
        if (n != 2) return lo_cli_usage_error(C, "record takes a model: NAME@V (registered) or an upstream model name");
        long long pt = 0, ct = 0;
        if (!o[O_PT].set || !lo_cli_parse_int(o[O_PT].value, 0, INT64_MAX, &pt))
            return lo_cli_usage_error(C, "record needs --prompt-tokens N (N >= 0)");
        if (!o[O_CT].set || !lo_cli_parse_int(o[O_CT].value, 0, INT64_MAX, &ct))
            return lo_cli_usage_error(C, "record needs --completion-tokens N (N >= 0)");
        double timing[2] = {-1, -1}; /* --ttft-ms, --latency-ms; unknown when absent */
        for (int k = 0; k < 2; k++) {
            const lo_cli_opt *t = &o[k ? O_LAT : O_TTFT];
            if (t->set && (!lo_cli_parse_double(t->value, &timing[k]) || timing[k] < 0))
                return lo_cli_usage_error(C, "%s takes milliseconds (a number >= 0), not '%s'", t->name, t->value);
        }
        int64_t at = 0;
        if (o[O_SINCE].set) return lo_cli_usage_error(C, "--since is an option of the report");
        if ((rc = lo_cli_open_store(C, o[O_STORE].value, &s))) return rc;
        lo_ops_request q = {.external_id = o[O_ID].value, .created_at = at, .deployment = o[O_DEP].value,
                            .prompt_tokens = pt, .completion_tokens = ct, .cost_usd = -1, .queue_ms = -1, .ttft_ms = timing[0],
                            .latency_ms = timing[1], .status = o[O_STATUS].set ? o[O_STATUS].value : "ok", .client_key = o[O_KEY].value};
        lo_ops_model m;
        if (strchr(pos[1], '@')) {
            st = lo_ops_model_get(s, pos[1], &m);
            q.model_id = m.id;
        } else {
            q.model_name = pos[1];
        }
        int64_t id = 0;
        if (!st) st = lo_ops_log_request(s, &q, false, false, &id);
        if (!st) printf("recorded request %lld\n", (long long)id);
    } else {
        return lo_cli_usage_error(C, "unknown subcommand '%s' (price, prices, record; no subcommand for the report)", sub);
    }
    lo_store_close(s);
    return st ? lo_cli_fail(C, st) : LO_EXIT_OK;
}
