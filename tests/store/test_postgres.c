/* store over PostgreSQL: the shared contract (store_contract.h) against the server named
 * by LLMOPS_TEST_PG (scripts/pg-test-server.sh starts one); skipped when it is unset.
 * Each fresh store is a new schema, selected through the URL's search_path option, and
 * dropped at the end, so runs can share one database. */
#include "store_contract.h"
#include "pg_schema.h"

int main(void) {
    pg_schema c;
    pg_schema_connect(&c, "lo_test");
    contract_env env = {"postgres", pg_schema_fresh, &c};
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
    pg_schema_close(&c);
    return check_done();
}
