/* store over SQLite: the shared contract (store_contract.h) on files in a temp dir, plus
 * what only a file store has: the default path, WAL, :memory:, and files that are not
 * stores or cannot be created. */
#include <sys/stat.h>

#include "store_contract.h"

static char tmpdir[] = "/tmp/lo-store-test-XXXXXX";

static char *fresh_sqlite(void *ctx) {
    int *n = ctx;
    char *url = malloc(256);
    snprintf(url, 256, "sqlite:%s/sub/dir/s%d.db", tmpdir, ++*n);
    return url;
}

static void sqlite_only(void) {
    char path[512], url[600];
    lo_store *s = NULL;
    /* The default path, relative to the working directory, directory created. */
    char cwd[512];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(tmpdir) == 0);
    CHECK_OK(lo_store_open("sqlite:", &s));
    lo_store_close(s);
    CHECK(access("llmops-data/llmops.db", F_OK) == 0);
    CHECK(chdir(cwd) == 0);
    /* WAL and foreign keys are on. */
    snprintf(url, sizeof url, "sqlite:%s/wal.db", tmpdir);
    CHECK_OK(lo_store_open(url, &s));
    lo_stmt *st = NULL;
    bool row = false;
    CHECK_OK(lo_store_prepare(s, "PRAGMA journal_mode", &st));
    CHECK_OK(lo_store_step(st, &row));
    CHECK(row);
    CHECK_STR_EQ(lo_store_column_text(st, 0), "wal");
    lo_store_finalize(st);
    CHECK_INT_EQ(contract_scalar(s, "PRAGMA foreign_keys"), 1);
    /* One statement per prepare. */
    st = NULL;
    CHECK(lo_store_prepare(s, "SELECT 1; SELECT 2", &st) == LO_ERR_INVALID && st == NULL);
    lo_store_close(s);
    snprintf(path, sizeof path, "%s/wal.db-wal", tmpdir);
    /* In memory. */
    CHECK_OK(lo_store_open("sqlite::memory:", &s));
    CHECK_INT_EQ(lo_store_schema_version(s), lo_store_schema_version_known());
    lo_store_close(s);
    /* A file that is not a database. */
    snprintf(path, sizeof path, "%s/garbage.db", tmpdir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        for (int i = 0; i < 4096; i++) fputc(i * 7 + 3, f);
        fclose(f);
    }
    snprintf(url, sizeof url, "sqlite:%s", path);
    CHECK_INT_EQ(lo_store_open(url, &s), LO_ERR_FORMAT);
    CHECK(s == NULL);
    CHECK(strstr(lo_error_message(), "garbage.db") != NULL);
    /* A directory that cannot be created. */
    CHECK_INT_EQ(lo_store_open("sqlite:/proc/llmops-no/x.db", &s), LO_ERR_IO);
    CHECK(strstr(lo_error_hint(), "LLMOPS_STORE") != NULL);
    /* A directory where the file should be. */
    snprintf(url, sizeof url, "sqlite:%s", tmpdir);
    CHECK_INT_EQ(lo_store_open(url, &s), LO_ERR_IO);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    int n = 0;
    contract_env env = {"sqlite", fresh_sqlite, &n};
    size_t live = lo_alloc_live_bytes();
    contract_run_all(&env);
    sqlite_only();
    CHECK_INT_EQ(lo_alloc_live_bytes(), live);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done();
}
