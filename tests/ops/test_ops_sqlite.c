/* ops over SQLite: the shared ops contract (ops_contract.h) on store files in a temp dir
 * (the upgrade of a version-1 store is test_ops_migrate.c). */
#include "ops_contract.h"

static char tmpdir[] = "/tmp/lo-ops-test-XXXXXX";

static char *fresh_sqlite(void *ctx) {
    int *n = ctx;
    char *url = malloc(256);
    snprintf(url, 256, "sqlite:%s/s%d.db", tmpdir, ++*n);
    return url;
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    int n = 0;
    ops_env env = {fresh_sqlite, &n, tmpdir};
    ops_contract_run_all(&env);
    return ops_finish(tmpdir);
}
