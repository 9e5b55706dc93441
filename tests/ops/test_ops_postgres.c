/* ops over PostgreSQL: the shared ops contract (ops_contract.h) against the server named
 * by LLMOPS_TEST_PG (scripts/pg-test-server.sh starts one); skipped when it is unset.
 * Each fresh store is a new schema chosen through the URL's search_path option and
 * dropped at the end, so runs can share one database. */
#include "ops_contract.h"
#include "pg_schema.h"

int main(void) {
    pg_schema c;
    pg_schema_connect(&c, "lo_ops_test");
    char dir[] = "/tmp/lo-ops-pg-test-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    ops_env env = {pg_schema_fresh, &c, dir};
    ops_contract_run_all(&env);
    pg_schema_close(&c);
    return ops_finish(dir);
}
