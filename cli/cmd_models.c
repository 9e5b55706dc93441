/* `llmops models register|ls|show|alias|promote|tag|untag|tags|eval`: the model registry —
 * GGUF versions with sha256 and metadata, lineage (run, base), aliases (moved by promote
 * only when evaluation gates hold) and tags. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *C = "models";

static void print_model(void *ctx, const lo_ops_model *m) {
    (void)ctx;
    char t[32];
    printf("%-24s %-7s %-12.12s %-20s %-20s %s\n", m->name, m->version, m->sha256, m->aliases[0] ? m->aliases : "-",
           lo_cli_fmt_time(m->created_at, t), m->gguf_path);
}

static void print_tag(void *ctx, const char *tag, const char *value) {
    (void)ctx;
    if (value[0]) printf("%s=%s\n", tag, value);
    else printf("%s\n", tag);
}

static int models_run(int argc, char **argv, const char **gates, int n_gates);

/* The gate table of `promote`, then the outcome. */
static void print_promotion(const lo_eval_promotion *p, const char *alias) {
    if (p->n_gates == 0) return;
    printf("%-32s %14s %18s  %s\n", "GATE", "MODEL", "REQUIRED", "RESULT");
    for (int i = 0; i < p->n_gates; i++) {
        const lo_eval_gate_result *g = &p->gates[i];
        printf("%-32s %14.4f %4s %13.4f  %s\n", g->gate.text, g->value, lo_eval_op_text(g->gate.op), g->rhs,
               g->pass ? "pass" : "FAIL");
    }
    printf("compared on %s@%.12s: %s run %lld", p->dataset, p->dataset_version, p->candidate, (long long)p->candidate_run);
    if (p->baseline_run) printf(", baseline %s (%s) run %lld", p->baseline, alias, (long long)p->baseline_run);
    printf("\n");
}

int lo_cmd_models(int argc, char **argv) {
    /* --require may repeat: take its values out before the shared parser sees them */
    char **args = lo_calloc((size_t)argc + 1, sizeof *args);
    const char **gates = lo_calloc((size_t)argc + 1, sizeof *gates);
    int n_args = 0, n_gates = 0;
    if (!args || !gates) {
        lo_free(args);
        lo_free((void *)gates);
        return lo_cli_fail(C, LO_ERR_NOMEM);
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--require") == 0 && i + 1 == argc) {
            lo_free(args);
            lo_free((void *)gates);
            return lo_cli_usage_error(C, "--require needs a value");
        }
        if (strcmp(argv[i], "--require") == 0) gates[n_gates++] = argv[++i];
        else if (strncmp(argv[i], "--require=", 10) == 0) gates[n_gates++] = argv[i] + 10;
        else args[n_args++] = argv[i];
    }
    int rc = models_run(n_args, args, gates, n_gates);
    lo_free(args);
    lo_free((void *)gates);
    return rc;
}

static int models_run(int argc, char **argv, const char **gates, int n_gates) {
    lo_cli_opt o[] = {{"--store", true, NULL, false}, {"--run", true, NULL, false}, {"--base", true, NULL, false}};
    char *pos[4];
    int n = 0;
    int rc = lo_cli_parse(C, argc, argv, 1, o, 3, pos, 4, &n);
    if (rc) return rc;
    if (n < 1) return lo_cli_usage_error(C, "give a subcommand: register, ls, show, alias, promote, tag, untag, tags or eval");
    const char *sub = pos[0];
    static const struct { const char *name; int n; } subs[] = {{"register", 3}, {"ls", -1}, {"show", 2}, {"alias", 3},
                                                              {"promote", 3}, {"tag", 3}, {"untag", 3}, {"tags", 2},
                                                              {"eval", 3}};
    int want = 0;
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++)
        if (strcmp(sub, subs[i].name) == 0) want = subs[i].n;
    if (!want) return lo_cli_usage_error(C, "unknown subcommand '%s'", sub);
    if (want > 0 && n != want) return lo_cli_usage_error(C, "%s takes %d argument%s", sub, want - 1, want == 2 ? "" : "s");
    if (want < 0 && n > 2) return lo_cli_usage_error(C, "ls takes at most a model name");
    if ((o[1].set || o[2].set) && strcmp(sub, "register") != 0) return lo_cli_usage_error(C, "--run and --base are options of register");
    if (n_gates && strcmp(sub, "promote") != 0) return lo_cli_usage_error(C, "--require is an option of promote");
    if (n_gates > LO_EVAL_MAX_GATES) return lo_cli_usage_error(C, "at most %d --require gates", LO_EVAL_MAX_GATES);
    for (int i = 0; i < n_gates; i++) {
        lo_eval_gate g;
        if (lo_eval_gate_parse(gates[i], &g) != LO_OK) return lo_cli_usage_error(C, "%s", lo_error_message());
    }
    long long run = 0;
    if (o[1].set && !lo_cli_parse_int(o[1].value, 1, INT64_MAX, &run))
        return lo_cli_usage_error(C, "--run '%s' is not a run id", o[1].value);
    lo_store *s = NULL;
    if ((rc = lo_cli_open_store(C, o[0].value, &s))) return rc;
    lo_status st = LO_OK;
    lo_ops_model m;
    if (strcmp(sub, "register") == 0) {
        bool existed = false;
        st = lo_ops_model_register(s, pos[1], pos[2], run, o[2].value, &m, &existed);
        if (!st) printf("%s model %s@%s sha256 %s\n", existed ? "unchanged" : "registered", m.name, m.version, m.sha256);
    } else if (strcmp(sub, "ls") == 0) {
        printf("%-24s %-7s %-12s %-20s %-20s %s\n", "NAME", "VERSION", "SHA256", "ALIASES", "CREATED", "PATH");
        st = lo_ops_model_list(s, n == 2 ? pos[1] : NULL, print_model, NULL);
    } else if (strcmp(sub, "show") == 0) {
        st = lo_ops_model_get(s, pos[1], &m);
        if (!st) {
            char t[32];
            printf("name: %s\nversion: %s\npath: %s\nsha256: %s\nmetadata: %s\n", m.name, m.version, m.gguf_path, m.sha256, m.metadata);
            lo_ops_model b;
            if (m.base_model_id && lo_ops_model_get_id(s, m.base_model_id, &b) == LO_OK) printf("base: %s@%s\n", b.name, b.version);
            else printf("base: -\n");
            if (m.run_id) printf("run: %lld\n", (long long)m.run_id);
            else printf("run: -\n");
            printf("aliases: %s\neval: %s\ncreated: %s\ntags:\n", m.aliases[0] ? m.aliases : "-", m.eval_summary[0] ? m.eval_summary : "-",
                   lo_cli_fmt_time(m.created_at, t));
            st = lo_ops_model_tags(s, pos[1], print_tag, NULL);
        }
    } else if (strcmp(sub, "alias") == 0) {
        st = lo_ops_model_alias(s, pos[1], pos[2]);
        if (!st && (st = lo_ops_model_get(s, pos[1], &m)) == LO_OK) printf("%s@%s is now %s@%s\n", m.name, pos[2], m.name, m.version);
    } else if (strcmp(sub, "promote") == 0) {
        lo_eval_promotion pr;
        st = lo_eval_promote(s, pos[1], pos[2], gates, n_gates, &pr);
        if (st == LO_OK || st == LO_ERR_DENIED) print_promotion(&pr, pos[2]);
        if (st == LO_OK) printf("%.*s@%s is now %s\n", (int)strcspn(pr.candidate, "@"), pr.candidate, pos[2], pr.candidate);
    } else if (strcmp(sub, "tag") == 0) {
        char *eq = strchr(pos[2], '=');
        if (eq) *eq = 0;
        st = lo_ops_model_tag(s, pos[1], pos[2], eq ? eq + 1 : "");
    } else if (strcmp(sub, "untag") == 0) {
        st = lo_ops_model_tag(s, pos[1], pos[2], NULL);
    } else if (strcmp(sub, "tags") == 0) {
        st = lo_ops_model_tags(s, pos[1], print_tag, NULL);
    } else {
        st = lo_ops_model_set_eval(s, pos[1], pos[2]);
    }
    lo_store_close(s);
    return st ? lo_cli_fail(C, st) : LO_EXIT_OK;
}
