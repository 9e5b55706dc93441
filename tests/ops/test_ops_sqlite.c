/* ops over SQLite: the shared ops contract (ops_contract.h) on store files in a temp dir,
 * plus an upgrade in place of a store made by schema version 1 (before the ops tables). */
#include <sqlite3.h>

#include "ops_contract.h"
#include "store/store_internal.h"

static char tmpdir[] = "/tmp/lo-ops-test-XXXXXX";

static char *fresh_sqlite(void *ctx) {
    int *n = ctx;
    char *url = malloc(256);
    snprintf(url, 256, "sqlite:%s/s%d.db", tmpdir, ++*n);
    return url;
}

/* Builds a version-1 store with raw SQLite (migration 1 as shipped), then opens it with
 * this binary: migration 2 is applied and the old rows stay usable. */
static void upgrade_from_v1(void) {
    char path[512], url[600];
    snprintf(path, sizeof path, "%s/v1.db", tmpdir);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    const char *m1 = lo_store__migrations[0];
    size_t cap = strlen(m1) * 2 + 1, o = 0;
    char *sql = malloc(cap);
    for (const char *p = m1; *p;) {
        if (strncmp(p, "{{ID}}", 6) == 0) o += (size_t)sprintf(sql + o, "INTEGER PRIMARY KEY"), p += 6;
        else if (strncmp(p, "{{BLOB}}", 8) == 0) o += (size_t)sprintf(sql + o, "BLOB"), p += 8;
        else sql[o++] = *p++;
    }
    sql[o] = 0;
    char *err = NULL;
    CHECK_MSG(sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK, "%s", err ? err : "");
    sqlite3_free(err);
    free(sql);
    CHECK(sqlite3_exec(db,
                       "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT);"
                       "INSERT INTO schema_migrations VALUES (1, 0);"
                       "INSERT INTO requests (external_id, created_at, prompt_tokens, completion_tokens, cost_usd, status, content) "
                       "VALUES ('old-1', 5, 10, 20, 0.5, 'ok', '{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"completion\":\"hello\"}');"
                       "INSERT INTO feedback (request_id, score, label, created_at) VALUES (1, 1, 'good', 6);",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    snprintf(url, sizeof url, "sqlite:%s", path);
    lo_store *s = NULL;
    CHECK_OK(lo_store_open(url, &s));
    if (!s) return;
    CHECK_INT_EQ(lo_store_schema_version(s), lo_store_schema_version_known());
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM requests WHERE content_redacted = 0 AND model_name IS NULL"), 1);
    cost_rec c = {0};
    CHECK_OK(lo_ops_costs(s, LO_OPS_BY_MODEL, 0, on_cost, &c));
    CHECK_INT_EQ(c.n, 1);
    CHECK_STR_EQ(c.group[0], "(none)");
    CHECK(c.usd[0] == 0.5);
    int64_t fid = 0;
    lo_ops_feedback f = {.request_id = "old-1", .kind = "rating", .score = 4, .corrected = "hello!"};
    CHECK_OK(lo_ops_feedback_record(s, &f, &fid));
    char out[600];
    snprintf(out, sizeof out, "%s/old-sft.jsonl", tmpdir);
    int64_t n = 0;
    CHECK_OK(lo_ops_feedback_export(s, LO_OPS_EXPORT_SFT, out, &n));
    CHECK_INT_EQ(n, 1);
    lo_store_close(s);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    int n = 0;
    ops_env env = {fresh_sqlite, &n, tmpdir};
    ops_contract_run_all(&env);
    upgrade_from_v1();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    CHECK_INT_EQ(lo_alloc_live_bytes(), 0);
    return check_done();
}
