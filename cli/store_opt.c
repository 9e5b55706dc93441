/* Shared by the records commands (datasets, runs, models, deploy, costs, feedback, keys):
 * a small flag parser (--flag VALUE, --flag=VALUE, boolean flags, `--` ends flags), the
 * store chosen by --store or LLMOPS_STORE, and UTC times for tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int lo_cli_parse(const char *cmd, int argc, char **argv, int first, lo_cli_opt *opts, int n_opts, char **pos, int max_pos,
                 int *n_pos) {
    *n_pos = 0;
    bool flags_done = false;
    for (int i = first; i < argc; i++) {
        char *a = argv[i];
        if (!flags_done && strcmp(a, "--") == 0) {
            flags_done = true;
            continue;
        }
        if (!flags_done && a[0] == '-' && a[1] == '-' && a[2]) {
            const char *eq = strchr(a, '=');
            size_t len = eq ? (size_t)(eq - a) : strlen(a);
            lo_cli_opt *o = NULL;
            for (int k = 0; k < n_opts; k++)
                if (strlen(opts[k].name) == len && strncmp(opts[k].name, a, len) == 0) o = &opts[k];
            if (!o) return lo_cli_usage_error(cmd, "unknown option %.*s", (int)len, a);
            if (o->has_value) {
                if (eq) o->value = eq + 1;
                else if (i + 1 < argc) o->value = argv[++i];
                else return lo_cli_usage_error(cmd, "%s needs a value", o->name);
            } else if (eq) {
                return lo_cli_usage_error(cmd, "%s takes no value", o->name);
            }
            o->set = true;
            continue;
        }
        if (*n_pos == max_pos) return lo_cli_usage_error(cmd, "unexpected argument '%s'", a);
        pos[(*n_pos)++] = a;
    }
    return LO_EXIT_OK;
}

int lo_cli_open_store(const char *cmd, const char *flag_value, lo_store **out) {
    lo_status s = lo_store_open(lo_store_url_from_env_or(flag_value), out);
    return s ? lo_cli_fail(cmd, s) : LO_EXIT_OK;
}

const char *lo_cli_fmt_time(int64_t ms, char buf[32]) {
    if (ms <= 0) return "-";
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

bool lo_cli_parse_double(const char *s, double *out) {
    char *end = NULL;
    if (!s || !*s) return false;
    double v = strtod(s, &end);
    if (*end || v != v) return false;
    *out = v;
    return true;
}
