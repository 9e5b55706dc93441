/* `llmops deploy NAME MODEL@V [--canary MODEL@V:P%] [--sticky]` and `deploy promote|
 * rollback|show|ls`: deployments, their traffic split and revision history. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *C = "deploy";

void lo_cli_print_deployment(void *ctx, const lo_ops_deployment *d) {
    (void)ctx;
    printf("%s revision %lld%s:", d->name, (long long)d->revision, d->sticky ? " sticky" : "");
    for (int i = 0; i < d->n_arms; i++) printf(" %s %g%%", d->arms[i].model_ref, d->arms[i].weight);
    printf("\n");
}

/* "MODEL@V:10%" or "MODEL@V:10" → ref (written into buf) and percent. */
static bool parse_canary(const char *arg, char *buf, size_t cap, double *pct) {
    const char *colon = strrchr(arg, ':');
    if (!colon || (size_t)(colon - arg) >= cap) return false;
    memcpy(buf, arg, (size_t)(colon - arg));
    buf[colon - arg] = 0;
    char num[32];
    snprintf(num, sizeof num, "%s", colon + 1);
    size_t k = strlen(num);
    if (k && num[k - 1] == '%') num[k - 1] = 0;
    return lo_cli_parse_double(num, pct);
}

int lo_cmd_deploy(int argc, char **argv) {
    lo_cli_opt o[] = {{"--store", true, NULL, false}, {"--canary", true, NULL, false}, {"--sticky", false, NULL, false}};
    char *pos[3];
    int n = 0;
    int rc = lo_cli_parse(C, argc, argv, 1, o, 3, pos, 3, &n);
    if (rc) return rc;
    if (n < 1) return lo_cli_usage_error(C, "give NAME MODEL@V, or promote|rollback|show NAME, or ls");
    const char *sub = pos[0];
    bool is_sub = strcmp(sub, "promote") == 0 || strcmp(sub, "rollback") == 0 || strcmp(sub, "show") == 0 || strcmp(sub, "ls") == 0;
    if (is_sub && (o[1].set || o[2].set)) return lo_cli_usage_error(C, "--canary and --sticky go with deploy NAME MODEL@V");
    if (strcmp(sub, "ls") == 0 ? n != 1 : n != 2)
        return lo_cli_usage_error(C, is_sub ? "%s takes one deployment name" : "deploy takes NAME MODEL@V (%s...)", sub);
    char canary[256];
    double pct = 0;
    if (o[1].set && !parse_canary(o[1].value, canary, sizeof canary, &pct))
        return lo_cli_usage_error(C, "--canary '%s' is not MODEL@V:PERCENT (e.g. chat@2:10%%)", o[1].value);
    lo_store *s = NULL;
    if ((rc = lo_cli_open_store(C, o[0].value, &s))) return rc;
    lo_status st = LO_OK;
    lo_ops_deployment *d = malloc(sizeof *d);
    if (!d) return lo_cli_fail(C, LO_ERR_NOMEM);
    if (strcmp(sub, "ls") == 0) st = lo_ops_deployment_list(s, lo_cli_print_deployment, NULL);
    else {
        if (strcmp(sub, "promote") == 0) st = lo_ops_promote(s, pos[1], d);
        else if (strcmp(sub, "rollback") == 0) st = lo_ops_rollback(s, pos[1], d);
        else if (strcmp(sub, "show") == 0) st = lo_ops_deployment_get(s, pos[1], d);
        else st = lo_ops_deploy(s, pos[0], pos[1], o[1].set ? canary : NULL, pct, o[2].set, d);
        if (!st) lo_cli_print_deployment(NULL, d);
    }
    free(d);
    lo_store_close(s);
    return st ? lo_cli_fail(C, st) : LO_EXIT_OK;
}
