/* `llmops keys create|ls|revoke`: API keys, stored hashed with a per-key salt; the secret
 * is printed once at creation. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *C = "keys";

static void print_key(void *ctx, const lo_ops_key *k) {
    (void)ctx;
    char t[32], b[32], r[32];
    if (k->budget_usd > 0) snprintf(b, sizeof b, "%.2f", k->budget_usd);
    else snprintf(b, sizeof b, "-");
    if (k->rate_limit_rpm > 0) snprintf(r, sizeof r, "%lld", (long long)k->rate_limit_rpm);
    else snprintf(r, sizeof r, "-");
    printf("%-16s %-20s %-9s %10s %10.4f %8s %-20s %s\n", k->key_id, k->name, lo_ops_role_name(k->role), b, k->spent_usd, r,
           lo_cli_fmt_time(k->created_at, t), k->revoked_at ? "revoked" : "active");
}

int lo_cmd_keys(int argc, char **argv) {
    lo_cli_opt o[] = {{"--store", true, NULL, false}, {"--role", true, NULL, false}, {"--budget", true, NULL, false},
                      {"--rate-limit", true, NULL, false}};
    char *pos[3];
    int n = 0;
    int rc = lo_cli_parse(C, argc, argv, 1, o, 4, pos, 3, &n);
    if (rc) return rc;
    if (n < 1) return lo_cli_usage_error(C, "give a subcommand: create, ls or revoke");
    bool create = strcmp(pos[0], "create") == 0;
    if (!create && (o[1].set || o[2].set || o[3].set)) return lo_cli_usage_error(C, "--role, --budget and --rate-limit go with create");
    lo_store *s = NULL;
    lo_status st;
    if (create) {
        if (n != 2) return lo_cli_usage_error(C, "create takes one key name");
        lo_ops_role role = LO_OPS_ROLE_INFERENCE;
        if (o[1].set && !lo_ops_role_parse(o[1].value, &role)) return lo_cli_usage_error(C, "--role '%s': use admin or inference", o[1].value);
        double budget = 0;
        long long rpm = 0;
        if (o[2].set && (!lo_cli_parse_double(o[2].value, &budget) || budget < 0))
            return lo_cli_usage_error(C, "--budget '%s' is not a dollar amount >= 0", o[2].value);
        if (o[3].set && !lo_cli_parse_int(o[3].value, 0, 100000000, &rpm))
            return lo_cli_usage_error(C, "--rate-limit '%s' is not requests per minute (0-100000000)", o[3].value);
        if ((rc = lo_cli_open_store(C, o[0].value, &s))) return rc;
        char secret[LO_OPS_KEY_SECRET_BYTES];
        lo_ops_key k;
        st = lo_ops_key_create(s, pos[1], role, budget, rpm, secret, &k);
        if (!st) {
            printf("%s\n", secret);
            fprintf(stderr, "created %s key %s (%s); the secret above is shown only now\n", lo_ops_role_name(role), k.name, k.key_id);
        }
    } else if (strcmp(pos[0], "ls") == 0) {
        if (n != 1) return lo_cli_usage_error(C, "ls takes no arguments");
        if ((rc = lo_cli_open_store(C, o[0].value, &s))) return rc;
        printf("%-16s %-20s %-9s %10s %10s %8s %-20s %s\n", "ID", "NAME", "ROLE", "BUDGET", "SPENT", "RPM", "CREATED", "STATE");
        st = lo_ops_key_list(s, print_key, NULL);
    } else if (strcmp(pos[0], "revoke") == 0) {
        if (n != 2) return lo_cli_usage_error(C, "revoke takes a key id or name");
        if ((rc = lo_cli_open_store(C, o[0].value, &s))) return rc;
        st = lo_ops_key_revoke(s, pos[1]);
        if (!st) printf("revoked %s\n", pos[1]);
    } else {
        return lo_cli_usage_error(C, "unknown subcommand '%s' (create, ls, revoke)", pos[0]);
    }
    lo_store_close(s);
    return st ? lo_cli_fail(C, st) : LO_EXIT_OK;
}
