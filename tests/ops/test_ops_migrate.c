/* Opening a store made by an older schema version upgrades it in place: a version-1 store
 * dumped from the llmops of that time (tests/store/fixtures/schema-v1.sql for SQLite,
 * schema-v1.pg.sql for PostgreSQL when LLMOPS_TEST_PG is set) is loaded with the backend's
 * own client library, opened with lo_store_open, and checked: the schema is the latest,
 * the old rows read back through the ops API, and what the newer migrations added works. */
#include <math.h>
#include <sqlite3.h>

#include "ops_fixture.h"
#include "pg_schema.h"

static char *read_fixture(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/store/fixtures/%s", LO_SOURCE_DIR, name);
    char *text = NULL;
    size_t n = 0;
    CHECK_MSG(lo_read_file(path, &text, &n) == LO_OK, "%s: %s", path, lo_error_message());
    return text;
}

/* ---- loading the dumps ------------------------------------------------------------------ */

static bool load_sqlite(const char *db_path) {
    char *sql = read_fixture("schema-v1.sql");
    if (!sql) return false;
    sqlite3 *db = NULL;
    char *err = NULL;
    bool ok = sqlite3_open(db_path, &db) == SQLITE_OK && sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK;
    CHECK_MSG(ok, "loading schema-v1.sql: %s", err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    sqlite3_close(db);
    lo_free(sql);
    return ok;
}

/* The pg_dump text with its schema llmops_v1 renamed to `schema`, without psql's
 * meta-commands (\restrict, \unrestrict), which are not SQL. malloc'd. */
static char *pg_dump_for(const char *dump, const char *schema) {
    const char *from = "llmops_v1";
    size_t cap = strlen(dump) * 2 + 1, o = 0;
    char *out = malloc(cap);
    bool line_start = true, skipping = false;
    for (const char *p = dump; *p;) {
        if (line_start) skipping = *p == '\\';
        line_start = *p == '\n';
        if (skipping) {
            p++;
            continue;
        }
        if (strncmp(p, from, strlen(from)) == 0 && o + strlen(schema) < cap) {
            memcpy(out + o, schema, strlen(schema));
            o += strlen(schema);
            p += strlen(from);
        } else if (o + 1 < cap) {
            out[o++] = *p++;
        } else {
            break;
        }
    }
    out[o] = 0;
    return out;
}

static bool load_pg(pg_schema *c, const char *schema) {
    char *dump = read_fixture("schema-v1.pg.sql");
    if (!dump) return false;
    char *sql = pg_dump_for(dump, schema), drop[160];
    lo_free(dump);
    /* The dump creates its schema: replace the empty one pg_schema_fresh made. */
    snprintf(drop, sizeof drop, "DROP SCHEMA %s CASCADE", schema);
    PQclear(PQexec(c->admin, drop));
    PGresult *r = PQexec(c->admin, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    CHECK_MSG(ok, "loading schema-v1.pg.sql: %s", PQerrorMessage(c->admin));
    PQclear(r);
    PQclear(PQexec(c->admin, "SET search_path = public")); /* the dump cleared it */
    free(sql);
    return ok;
}

/* ---- what an upgraded store must still (and newly) do ----------------------------------- */

typedef struct seen {
    int n;
    char text[8][128];
    lo_ops_arm_stats arms[4];
    lo_ops_cost_row costs[4];
    char groups[4][64];
} seen;

static void on_tag(void *p, const char *tag, const char *value) {
    seen *s = p;
    if (s->n < 8) snprintf(s->text[s->n++], 128, "%s=%s", tag, value ? value : "");
}
static void on_metric(void *p, const char *name, int64_t step, double v, int64_t at) {
    seen *s = p;
    (void)at;
    if (s->n < 8) snprintf(s->text[s->n++], 128, "%s@%lld=%g", name, (long long)step, v);
}
static void on_arm(void *p, const lo_ops_arm_stats *a) {
    seen *s = p;
    if (s->n < 4) s->arms[s->n++] = *a;
}
static void on_cost(void *p, const lo_ops_cost_row *r) {
    seen *s = p;
    if (s->n >= 4) return;
    snprintf(s->groups[s->n], 64, "%s", r->group);
    s->costs[s->n] = *r;
    s->costs[s->n++].group = NULL; /* the callback's string dies with the call: see groups */
}

static void check_upgraded(const char *url, const char *dir) {
    lo_store *s = NULL;
    CHECK_OK(lo_store_open(url, &s));
    if (!s) return;
    CHECK_INT_EQ(lo_store_schema_version(s), lo_store_schema_version_known());
    CHECK(lo_store_schema_version_known() >= 2);
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM schema_migrations"), lo_store_schema_version_known());
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM schema_migrations a JOIN schema_migrations b ON b.version = 2 "
                              "WHERE a.version = 1 AND a.applied_at < b.applied_at"), 1); /* version 1's row kept */

    /* The old rows, through the ops API. */
    lo_ops_dataset *ds = malloc(sizeof *ds);
    CHECK_OK(lo_ops_dataset_get(s, "qa", ds));
    CHECK_STR_EQ(ds->version, "e91bd3061d4a2c8b3f3d1c9e6a0b7f25c4d8e1a2b3c4d5e6f708192a3b4c5d6e");
    CHECK_INT_EQ(ds->n_rows, 3);
    CHECK_STR_EQ(ds->format, "jsonl");
    CHECK_INT_EQ(ds->bytes, 0); /* unknown before migration 2: its default */
    lo_ops_model *m = malloc(sizeof *m);
    CHECK_OK(lo_ops_model_get(s, "chat@production", m));
    CHECK_STR_EQ(m->version, "2");
    CHECK_INT_EQ(m->base_model_id, 1);
    CHECK_INT_EQ(m->run_id, 1);
    CHECK_STR_EQ(m->eval_summary, "{\"bleu\":31.5}");
    CHECK_STR_EQ(m->gguf_path, "/srv/models/chat-2.gguf");
    seen sn = {0};
    CHECK_OK(lo_ops_model_tags(s, "chat@2", on_tag, &sn));
    CHECK_INT_EQ(sn.n, 1);
    CHECK_STR_EQ(sn.text[0], "quant=f32");
    lo_ops_run *run = malloc(sizeof *run);
    CHECK_OK(lo_ops_run_get(s, 1, run));
    CHECK_STR_EQ(run->kind, "finetune");
    CHECK_STR_EQ(run->status, "succeeded");
    CHECK_STR_EQ(run->params, "{\"lr\":0.001}");
    CHECK_INT_EQ(run->dataset_id, 1);
    memset(&sn, 0, sizeof sn);
    CHECK_OK(lo_ops_run_metrics(s, 1, on_metric, &sn));
    CHECK_INT_EQ(sn.n, 2);
    CHECK_STR_EQ(sn.text[1], "loss@2=1.25");
    lo_ops_deployment *d = malloc(sizeof *d);
    CHECK_OK(lo_ops_deployment_get(s, "web", d));
    CHECK_INT_EQ(d->n_arms, 2);
    CHECK_STR_EQ(d->arms[0].model_ref, "chat@1");
    CHECK(d->arms[0].weight == 90 && d->arms[1].weight == 10);
    /* Costs of the old request log: chat@1 0.003 + 0.000005, chat@2 0.00101. */
    memset(&sn, 0, sizeof sn);
    CHECK_OK(lo_ops_costs(s, LO_OPS_BY_MODEL, 0, on_cost, &sn));
    CHECK_INT_EQ(sn.n, 2);
    CHECK_STR_EQ(sn.groups[0], "chat@1");
    CHECK_INT_EQ(sn.costs[0].n_requests, 2);
    CHECK_INT_EQ(sn.costs[0].prompt_tokens, 1005);
    CHECK(fabs(sn.costs[0].cost_usd - 0.003005) < 1e-12);
    CHECK_STR_EQ(sn.groups[1], "chat@2");
    /* Per-arm stats over the old rows: chat@1 latency 400 (one known), 200 tokens / 0.4 s. */
    memset(&sn, 0, sizeof sn);
    CHECK_OK(lo_ops_deployment_stats(s, "web", 0, on_arm, &sn));
    CHECK_INT_EQ(sn.n, 2);
    CHECK_INT_EQ(sn.arms[0].requests, 2);
    CHECK_INT_EQ(sn.arms[0].errors, 1);
    CHECK(sn.arms[0].latency_p50_ms == 400 && sn.arms[0].ttft_p99_ms == 20);
    CHECK(fabs(sn.arms[0].tokens_per_s - 500) < 1e-9);
    CHECK(fabs(sn.arms[1].tokens_per_s - 500) < 1e-9 && sn.arms[1].weight == 10);
    /* Feedback on an old request with content, exported as training data. */
    lo_ops_feedback f = {.request_id = "old-1", .kind = "rating", .score = 4, .corrected = "hello!"};
    int64_t fid = 0;
    CHECK_OK(lo_ops_feedback_record(s, &f, &fid));
    CHECK_INT_EQ(fid, 2); /* after the old feedback row */
    char out[600];
    snprintf(out, sizeof out, "%s/old-sft.jsonl", dir);
    int64_t n = 0;
    CHECK_OK(lo_ops_feedback_export(s, LO_OPS_EXPORT_SFT, out, &n));
    CHECK_INT_EQ(n, 1);
    char *text = NULL;
    size_t bytes = 0;
    CHECK_OK(lo_read_file(out, &text, &bytes));
    CHECK_STR_EQ(text, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"hello!\"}]}\n");
    lo_free(text);

    /* What the newer migrations added: revisions, keys, dataset contents, model metadata,
     * request columns. Ids continue after the old rows. */
    CHECK_OK(lo_ops_deploy(s, "web", "chat@2", "chat@1", 5, true, d));
    CHECK_INT_EQ(d->revision, 1);
    CHECK(d->sticky && d->arms[0].weight == 95);
    char secret[LO_OPS_KEY_SECRET_BYTES];
    lo_ops_key k, chk;
    CHECK_OK(lo_ops_key_create(s, "ci", LO_OPS_ROLE_ADMIN, 0, 60, secret, &k));
    CHECK_OK(lo_ops_key_check(s, secret, &chk));
    CHECK(chk.role == LO_OPS_ROLE_ADMIN && chk.rate_limit_rpm == 60);
    char path[600];
    snprintf(path, sizeof path, "%s/qa2.jsonl", dir);
    ops_write(path, "{\"q\":\"a\"}\n{\"q\":\"z\"}\n");
    CHECK_OK(lo_ops_dataset_add(s, "qa", path, ds, NULL));
    CHECK_INT_EQ(ds->id, 2);
    CHECK_INT_EQ(ds->bytes, 20);
    snprintf(path, sizeof path, "%s/chat3.gguf", dir);
    ops_write_gguf(path, 3.0f);
    CHECK_OK(lo_ops_model_register(s, "chat", path, 1, "chat@2", m, NULL));
    CHECK_STR_EQ(m->version, "3");
    CHECK(strstr(m->metadata, "\"arch\":\"llama\"") != NULL);
    lo_ops_request q = {.deployment = "web", .model_name = "gpt-x", .prompt_tokens = 1, .cost_usd = 0.5, .queue_ms = -1,
                        .ttft_ms = -1, .latency_ms = -1, .status = "ok", .client_key = k.key_id, .user = "ann",
                        .messages_json = "[{\"role\":\"user\",\"content\":\"mail ann@example.com\"}]", .completion = "ok"};
    int64_t rid = 0;
    CHECK_OK(lo_ops_log_request(s, &q, true, true, &rid));
    CHECK_INT_EQ(rid, 4);
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM requests WHERE user_id = 'ann' AND content_redacted = 1 AND model_name = 'gpt-x'"), 1);
    lo_store_close(s);
    /* Opening again applies nothing. */
    s = NULL;
    CHECK_OK(lo_store_open(url, &s));
    if (s) CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM schema_migrations"), lo_store_schema_version_known());
    lo_store_close(s);
    free(ds), free(m), free(run), free(d);
}

int main(void) {
    char dir[] = "/tmp/lo-ops-migrate-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char db[600], url[700];
    snprintf(db, sizeof db, "%s/v1.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", db);
    if (load_sqlite(db)) check_upgraded(url, dir);
    const char *pg = getenv("LLMOPS_TEST_PG");
    if (pg && pg[0]) {
        pg_schema c;
        pg_schema_connect(&c, "lo_migrate_test");
        char *pg_url = pg_schema_fresh(&c), schema[64];
        snprintf(schema, sizeof schema, "%s_%d_%d", c.prefix, (int)getpid(), c.n);
        if (load_pg(&c, schema)) check_upgraded(pg_url, dir);
        free(pg_url);
        pg_schema_close(&c);
    } else {
        fprintf(stderr, "note: LLMOPS_TEST_PG is not set; the PostgreSQL half was not run\n");
    }
    return ops_finish(dir);
}
