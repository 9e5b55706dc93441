/* `llmops runs create|log|artifact|end|ls|show|compare`: training and evaluation runs with
 * their parameters, inputs, metric time series and artifacts. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *C = "runs";

static void print_run(void *ctx, const lo_ops_run *r) {
    (void)ctx;
    char t[32], t2[32];
    printf("%-6lld %-10s %-10s %-20s %-20s %s\n", (long long)r->id, r->kind, r->status, lo_cli_fmt_time(r->started_at, t),
           lo_cli_fmt_time(r->ended_at, t2), r->params);
}

static void print_metric(void *ctx, const char *name, int64_t step, double v, int64_t at) {
    (void)ctx, (void)at;
    printf("  %-20s step %-8lld %.10g\n", name, (long long)step, v);
}

static void print_artifact(void *ctx, const char *path, const char *sha, int64_t bytes) {
    (void)ctx;
    printf("  %s  %lld bytes  sha256 %s\n", path, (long long)bytes, sha);
}

static void print_cmp(void *ctx, const char *name, bool ha, double a, bool hb, double b) {
    (void)ctx;
    char sa[32] = "-", sb[32] = "-", sd[32] = "-";
    if (ha) snprintf(sa, sizeof sa, "%.6g", a);
    if (hb) snprintf(sb, sizeof sb, "%.6g", b);
    if (ha && hb) snprintf(sd, sizeof sd, "%+.6g", b - a);
    printf("%-20s %14s %14s %14s\n", name, sa, sb, sd);
}

static bool parse_run_id(const char *s, int64_t *id) {
    long long v;
    if (!lo_cli_parse_int(s, 1, INT64_MAX, &v)) return false;
    *id = v;
    return true;
}

int lo_cmd_runs(int argc, char **argv) {
    lo_cli_opt o[] = {{"--store", true, NULL, false}, {"--kind", true, NULL, false}, {"--params", true, NULL, false},
                      {"--dataset", true, NULL, false}, {"--model", true, NULL, false}, {"--step", true, NULL, false},
                      {"--status", true, NULL, false}};
    enum { O_STORE, O_KIND, O_PARAMS, O_DATASET, O_MODEL, O_STEP, O_STATUS };
    char *pos[5];
    int n = 0;
    int rc = lo_cli_parse(C, argc, argv, 1, o, 7, pos, 5, &n);
    if (rc) return rc;
    if (n < 1) return lo_cli_usage_error(C, "give a subcommand: create, log, artifact, end, ls, show or compare");
    const char *sub = pos[0];
    static const struct { const char *name; int n; } subs[] = {{"create", 1}, {"log", 4}, {"artifact", 3}, {"end", 2},
                                                              {"ls", 1}, {"show", 2}, {"compare", 3}};
    int want = 0;
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++)
        if (strcmp(sub, subs[i].name) == 0) want = subs[i].n;
    if (!want) return lo_cli_usage_error(C, "unknown subcommand '%s'", sub);
    if (n != want) return lo_cli_usage_error(C, "%s takes %d argument%s", sub, want - 1, want == 2 ? "" : "s");
    int64_t id = 0, id2 = 0;
    if (want >= 2 && strcmp(sub, "create") != 0 && !parse_run_id(pos[1], &id))
        return lo_cli_usage_error(C, "run id '%s' is not a positive integer", pos[1]);
    if (strcmp(sub, "compare") == 0 && !parse_run_id(pos[2], &id2))
        return lo_cli_usage_error(C, "run id '%s' is not a positive integer", pos[2]);
    if (strcmp(sub, "create") == 0 && !o[O_KIND].set) return lo_cli_usage_error(C, "create needs --kind (train, finetune, eval, ...)");
    long long step = 0;
    double value = 0;
    if (strcmp(sub, "log") == 0) {
        if (o[O_STEP].set && !lo_cli_parse_int(o[O_STEP].value, 0, INT64_MAX, &step))
            return lo_cli_usage_error(C, "--step '%s' is not a non-negative integer", o[O_STEP].value);
        if (!lo_cli_parse_double(pos[3], &value)) return lo_cli_usage_error(C, "metric value '%s' is not a number", pos[3]);
    }
    lo_store *s = NULL;
    if ((rc = lo_cli_open_store(C, o[O_STORE].value, &s))) return rc;
    lo_status st = LO_OK;
    if (strcmp(sub, "create") == 0) {
        st = lo_ops_run_create(s, o[O_KIND].value, o[O_PARAMS].value, o[O_DATASET].value, o[O_MODEL].value, &id);
        if (!st) printf("%lld\n", (long long)id);
    } else if (strcmp(sub, "log") == 0) {
        st = lo_ops_run_log_metric(s, id, step, pos[2], value);
    } else if (strcmp(sub, "artifact") == 0) {
        st = lo_ops_run_add_artifact(s, id, pos[2]);
    } else if (strcmp(sub, "end") == 0) {
        st = lo_ops_run_set_status(s, id, o[O_STATUS].set ? o[O_STATUS].value : "succeeded");
    } else if (strcmp(sub, "ls") == 0) {
        printf("%-6s %-10s %-10s %-20s %-20s %s\n", "ID", "KIND", "STATUS", "STARTED", "ENDED", "PARAMS");
        st = lo_ops_run_list(s, o[O_KIND].value, print_run, NULL);
    } else if (strcmp(sub, "show") == 0) {
        lo_ops_run r;
        st = lo_ops_run_get(s, id, &r);
        if (!st) {
            char t[32], t2[32];
            printf("id: %lld\nkind: %s\nstatus: %s\nparams: %s\nstarted: %s\nended: %s\n", (long long)r.id, r.kind, r.status,
                   r.params, lo_cli_fmt_time(r.started_at, t), lo_cli_fmt_time(r.ended_at, t2));
            /* Inputs by reference, so lineage reads without ids. */
            if (r.base_model_id) {
                lo_ops_model m;
                if (lo_ops_model_get_id(s, r.base_model_id, &m) == LO_OK) printf("base model: %s@%s\n", m.name, m.version);
            }
            if (r.dataset_id) {
                lo_ops_dataset d;
                if (lo_ops_dataset_get_id(s, r.dataset_id, &d) == LO_OK) printf("dataset: %s@%s\n", d.name, d.version);
            }
            printf("metrics:\n");
            st = lo_ops_run_metrics(s, id, print_metric, NULL);
            if (!st) {
                printf("artifacts:\n");
                st = lo_ops_run_artifacts(s, id, print_artifact, NULL);
            }
        }
    } else {
        char ha[32], hb[32];
        snprintf(ha, sizeof ha, "run %lld", (long long)id);
        snprintf(hb, sizeof hb, "run %lld", (long long)id2);
        printf("%-20s %14s %14s %14s\n", "METRIC", ha, hb, "DELTA");
        st = lo_ops_run_compare(s, id, id2, print_cmp, NULL);
    }
    lo_store_close(s);
    return st ? lo_cli_fail(C, st) : LO_EXIT_OK;
}
