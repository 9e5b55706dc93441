/* store over PostgreSQL: the shared contract (store_contract.h) against the server named
 * by LLMOPS_TEST_PG (scripts/pg-test-server.sh starts one); skipped when it is unset.
 * Each fresh store is a new schema, selected through the URL's search_path option, and
 * dropped at the end, so runs can share one database. */
#include <libpq-fe.h>

#include "store_contract.h"

typedef struct pg_ctx {
    const char *base;
    PGconn *admin;
    int n;
} pg_ctx;

static char *fresh_pg(void *p) {
    pg_ctx *c = p;
    char schema[64], sql[256];
    snprintf(schema, sizeof schema, "lo_test_%d_%d", (int)getpid(), ++c->n);
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema, schema);
    PGresult *r = PQexec(c->admin, sql);
    CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c->admin));
    PQclear(r);
    size_t cap = strlen(c->base) + 128;
    char *url = malloc(cap);
    snprintf(url, cap, "%s%coptions=-csearch_path%%3D%s", c->base, strchr(c->base, '?') ? '&' : '?', schema);
    return url;
}

int main(void) {
    const char *base = getenv("LLMOPS_TEST_PG");
    if (!base || !base[0])
        check_skip("LLMOPS_TEST_PG is not set; start a server with URL=$(sh scripts/pg-test-server.sh) "
                   "and export LLMOPS_TEST_PG=$URL");
    pg_ctx c = {base, PQconnectdb(base), 0};
    if (PQstatus(c.admin) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to LLMOPS_TEST_PG=%s: %s", base, PQerrorMessage(c.admin));
        PQfinish(c.admin);
        return 1;
    }
    PQclear(PQexec(c.admin, "SET client_min_messages = warning"));
    contract_env env = {"postgres", fresh_pg, &c};
    contract_run_all(&env);
    /* A database that does not exist on a server that does: the hint says createdb. */
    char url[512];
    const char *host = PQhost(c.admin), *port = PQport(c.admin), *user = PQuser(c.admin);
    if (host && host[0] == '/')
        snprintf(url, sizeof url, "postgres://%s@/llmops_no_such_db?host=%s&port=%s", user, host, port);
    else
        snprintf(url, sizeof url, "postgres://%s@%s:%s/llmops_no_such_db", user, host, port);
    lo_store *s = NULL;
    CHECK_INT_EQ(lo_store_open(url, &s), LO_ERR_IO);
    CHECK_MSG(strstr(lo_error_hint(), "createdb llmops_no_such_db") != NULL, "%s | %s", lo_error_message(), lo_error_hint());
    for (int i = 1; i <= c.n; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS lo_test_%d_%d CASCADE", (int)getpid(), i);
        PQclear(PQexec(c.admin, sql));
    }
    PQfinish(c.admin);
    return check_done();
}
