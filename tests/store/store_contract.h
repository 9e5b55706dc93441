/* The store's contract, written once and run against each backend: test_sqlite.c and
 * test_postgres.c include this header and supply fresh_url(), which returns the URL of a
 * new, empty store (a new file, or a new PostgreSQL schema). */
#ifndef LLMOPS_TESTS_STORE_CONTRACT_H
#define LLMOPS_TESTS_STORE_CONTRACT_H

#include <math.h>
#include <pthread.h>
#include <stdint.h>

#include "check.h"
#include "llmops/store.h"

typedef struct contract_env {
    const char *backend;              /* expected lo_store_backend_name */
    char *(*fresh_url)(void *ctx);    /* malloc'd URL of a new empty store */
    void *ctx;
} contract_env;

static const char *const contract_tables[] = {
    "datasets", "runs", "run_metrics", "run_artifacts", "models", "model_aliases", "model_tags",
    "deployments", "deployment_routes", "requests", "prices", "feedback", "schema_migrations",
};

/* SELECT returning one integer (or -1 on error). */
static int64_t contract_scalar(lo_store *s, const char *sql) {
    lo_stmt *st = NULL;
    int64_t v = -1;
    bool row = false;
    if (lo_store_prepare(s, sql, &st) == LO_OK && lo_store_step(st, &row) == LO_OK && row)
        v = lo_store_column_int64(st, 0);
    lo_store_finalize(st);
    return v;
}

/* INSERT with RETURNING id, text params only (NULL entries bind NULL). */
static int64_t contract_insert(lo_store *s, const char *sql, int n, const char *const *vals) {
    lo_stmt *st = NULL;
    int64_t id = -1;
    lo_status r = lo_store_prepare(s, sql, &st);
    for (int i = 0; r == LO_OK && i < n; i++) r = lo_store_bind_text(st, i + 1, vals[i]);
    if (r == LO_OK) r = lo_store_last_insert_id(st, &id);
    if (r != LO_OK) id = -1;
    lo_store_finalize(st);
    return id;
}

static lo_store *contract_open(const contract_env *e, const char *url) {
    lo_store *s = NULL;
    lo_status r = lo_store_open(url, &s);
    CHECK_MSG(r == LO_OK, "open %s: %s (hint: %s)", url, lo_error_message(), lo_error_hint());
    if (s) CHECK_STR_EQ(lo_store_backend_name(s), e->backend);
    return s;
}

static void contract_migrations(const contract_env *e) {
    char *url = e->fresh_url(e->ctx);
    lo_store *s = contract_open(e, url);
    if (s) {
        CHECK_INT_EQ(lo_store_schema_version(s), lo_store_schema_version_known());
        CHECK(lo_store_schema_version_known() >= 1);
        CHECK_INT_EQ(contract_scalar(s, "SELECT COUNT(*) FROM schema_migrations"), lo_store_schema_version_known());
        for (size_t i = 0; i < sizeof contract_tables / sizeof *contract_tables; i++) {
            char sql[128];
            snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", contract_tables[i]);
            int64_t n = contract_scalar(s, sql);
            CHECK_MSG(n >= 0, "table %s: %s", contract_tables[i], lo_error_message());
        }
        /* Reopen: nothing applied twice, data kept. */
        const char *ds[] = {"wiki", "abc123", "jsonl"};
        int64_t id = contract_insert(s, "INSERT INTO datasets (name, version, format, created_at) VALUES (?, ?, ?, 1) RETURNING id", 3, ds);
        CHECK(id > 0);
        lo_store_close(s);
        for (int k = 0; k < 2; k++) {
            s = contract_open(e, url);
            if (!s) break;
            CHECK_INT_EQ(contract_scalar(s, "SELECT COUNT(*) FROM schema_migrations"), lo_store_schema_version_known());
            CHECK_INT_EQ(contract_scalar(s, "SELECT COUNT(*) FROM datasets WHERE name = 'wiki'"), 1);
            lo_store_close(s);
        }
    }
    free(url);
}

static void contract_crud(const contract_env *e) {
    char *url = e->fresh_url(e->ctx);
    lo_store *s = contract_open(e, url);
    free(url);
    if (!s) return;
    CHECK_OK(lo_store_exec(s, "CREATE TABLE kv (id {{ID}}, s TEXT, i BIGINT, d DOUBLE PRECISION, b {{BLOB}}, n TEXT);"
                              " CREATE INDEX kv_s ON kv (s) -- comment with ? and {{ID}}\n"));
    static const unsigned char blob[] = {0, 1, 2, 0, 255, 0x5c, 'x', 0, 0x27};
    const char *text = "it's \"quoted\" ? {{ID}} — ünï 漢字";
    lo_stmt *st = NULL;
    CHECK_OK(lo_store_prepare(s, "INSERT INTO kv (s, i, d, b, n) VALUES (?, ?, ?, ?, ?) RETURNING id", &st));
    CHECK_INT_EQ(lo_store_param_count(st), 5);
    CHECK_OK(lo_store_bind_text(st, 1, text));
    CHECK_OK(lo_store_bind_int64(st, 2, INT64_MIN));
    CHECK_OK(lo_store_bind_double(st, 3, 0.1));
    CHECK_OK(lo_store_bind_blob(st, 4, blob, sizeof blob));
    CHECK_OK(lo_store_bind_null(st, 5));
    CHECK(lo_store_bind_int64(st, 6, 1) == LO_ERR_RANGE);
    CHECK(lo_store_bind_int64(st, 0, 1) == LO_ERR_RANGE);
    int64_t id1 = 0, id2 = 0, id3 = 0;
    CHECK_OK(lo_store_last_insert_id(st, &id1));
    CHECK(id1 > 0);
    /* Re-run with new values; the unchanged bindings are kept. */
    CHECK(lo_store_bind_int64(st, 2, 7) == LO_ERR_INVALID); /* has run: reset first */
    CHECK_OK(lo_store_reset(st));
    CHECK_OK(lo_store_bind_int64(st, 2, INT64_MAX));
    CHECK_OK(lo_store_bind_double(st, 3, -1.5e300));
    CHECK_OK(lo_store_bind_blob(st, 4, "", 0));
    CHECK_OK(lo_store_bind_text(st, 5, "second"));
    CHECK_OK(lo_store_last_insert_id(st, &id2));
    CHECK(id2 > id1);
    CHECK_OK(lo_store_reset(st));
    CHECK_OK(lo_store_bind_text(st, 1, NULL));
    CHECK_OK(lo_store_bind_null(st, 2));
    CHECK_OK(lo_store_bind_null(st, 3));
    CHECK_OK(lo_store_bind_null(st, 4));
    CHECK_OK(lo_store_bind_null(st, 5));
    CHECK_OK(lo_store_last_insert_id(st, &id3));
    CHECK(id3 > id2);
    lo_store_finalize(st);

    CHECK_OK(lo_store_prepare(s, "SELECT id, s, i, d, b, n FROM kv ORDER BY id", &st));
    CHECK_INT_EQ(lo_store_param_count(st), 0);
    bool row = false;
    CHECK_OK(lo_store_step(st, &row));
    CHECK(row);
    CHECK_INT_EQ(lo_store_column_count(st), 6);
    CHECK_INT_EQ(lo_store_column_int64(st, 0), id1);
    CHECK_STR_EQ(lo_store_column_text(st, 1), text);
    CHECK(lo_store_column_int64(st, 2) == INT64_MIN);
    CHECK(lo_store_column_double(st, 3) == 0.1);
    size_t nb = 0;
    const void *b = lo_store_column_blob(st, 4, &nb);
    CHECK_INT_EQ(nb, sizeof blob);
    CHECK(b && memcmp(b, blob, sizeof blob) == 0);
    CHECK(lo_store_column_is_null(st, 5));
    CHECK(lo_store_column_text(st, 5) == NULL);
    CHECK(!lo_store_column_is_null(st, 4));
    CHECK(lo_store_column_text(st, 99) == NULL && lo_store_column_int64(st, -1) == 0);
    CHECK_OK(lo_store_step(st, &row));
    CHECK(row);
    CHECK(lo_store_column_int64(st, 2) == INT64_MAX);
    CHECK(lo_store_column_double(st, 3) == -1.5e300);
    b = lo_store_column_blob(st, 4, &nb);
    CHECK(b != NULL && nb == 0 && !lo_store_column_is_null(st, 4));
    CHECK_STR_EQ(lo_store_column_text(st, 1), text); /* kept from the first run */
    CHECK_STR_EQ(lo_store_column_text(st, 5), "second");
    CHECK_OK(lo_store_step(st, &row));
    CHECK(row);
    for (int c = 1; c <= 5; c++) CHECK(lo_store_column_is_null(st, c));
    CHECK(lo_store_column_blob(st, 4, &nb) == NULL && nb == 0);
    CHECK(lo_store_column_int64(st, 2) == 0 && lo_store_column_double(st, 3) == 0);
    CHECK_OK(lo_store_step(st, &row));
    CHECK(!row);
    CHECK_OK(lo_store_step(st, &row)); /* stays done, does not re-run */
    CHECK(!row);
    CHECK(lo_store_column_text(st, 1) == NULL);
    lo_store_finalize(st);

    /* `?` inside a literal is not a parameter; a filtered select with a bound text. */
    CHECK_OK(lo_store_prepare(s, "SELECT '?''?', COUNT(*) FROM kv WHERE s = ? /* ? */", &st));
    CHECK_INT_EQ(lo_store_param_count(st), 1);
    CHECK_OK(lo_store_bind_text(st, 1, text));
    CHECK_OK(lo_store_step(st, &row));
    CHECK(row);
    CHECK_STR_EQ(lo_store_column_text(st, 0), "?'?");
    CHECK_INT_EQ(lo_store_column_int64(st, 1), 2); /* rows 1 and 2: row 2 kept binding 1 */
    lo_store_finalize(st);

    /* Update and delete. */
    CHECK_OK(lo_store_prepare(s, "UPDATE kv SET d = ?, s = ? WHERE id = ?", &st));
    CHECK_OK(lo_store_bind_double(st, 1, 2.5));
    CHECK_OK(lo_store_bind_text(st, 2, "upd"));
    CHECK_OK(lo_store_bind_int64(st, 3, id2));
    CHECK_OK(lo_store_step(st, &row));
    CHECK(!row);
    lo_store_finalize(st);
    CHECK_INT_EQ(contract_scalar(s, "SELECT COUNT(*) FROM kv WHERE s = 'upd' AND d = 2.5"), 1);
    CHECK_OK(lo_store_prepare(s, "DELETE FROM kv WHERE id = ?", &st));
    CHECK_OK(lo_store_bind_int64(st, 1, id1));
    CHECK_OK(lo_store_step(st, &row));
    lo_store_finalize(st);
    CHECK_INT_EQ(contract_scalar(s, "SELECT COUNT(*) FROM kv"), 2);

    /* Errors: bad SQL, unknown token, an insert without RETURNING. */
    CHECK(lo_store_prepare(s, "SELEKT 1", &st) != LO_OK || lo_store_step(st, &row) != LO_OK);
    CHECK(strstr(lo_error_message(), s && strcmp(e->backend, "sqlite") == 0 ? "sqlite" : "postgres") != NULL);
    lo_store_finalize(st);
    st = NULL;
    CHECK(lo_store_prepare(s, "SELECT {{NOPE}}", &st) == LO_ERR_INVALID && st == NULL);
    CHECK(lo_store_exec(s, "CREATE TABLE {{ID}") == LO_ERR_INVALID);
    CHECK_OK(lo_store_prepare(s, "INSERT INTO kv (s) VALUES ('x')", &st));
    int64_t id = 0;
    CHECK(lo_store_last_insert_id(st, &id) == LO_ERR_INVALID);
    lo_store_finalize(st);
    lo_store_close(s);
}

static void contract_transactions(const contract_env *e) {
    char *url = e->fresh_url(e->ctx);
    lo_store *s = contract_open(e, url);
    free(url);
    if (!s) return;
    const char *ins = "INSERT INTO deployments (name, created_at) VALUES (?, 5) RETURNING id";
    const char *a[] = {"a"}, *b2[] = {"b"}, *c[] = {"c"};
    CHECK(!lo_store_in_transaction(s));
    CHECK_OK(lo_store_begin(s));
    CHECK(lo_store_in_transaction(s));
    CHECK(lo_store_begin(s) == LO_ERR_INVALID); /* nested */
    CHECK(strstr(lo_error_message(), "nested") != NULL);
    CHECK(contract_insert(s, ins, 1, a) > 0);
    CHECK_INT_EQ(contract_scalar(s, "SELECT COUNT(*) FROM deployments"), 1);
    CHECK_OK(lo_store_rollback(s));
    CHECK(!lo_store_in_transaction(s));
    CHECK_INT_EQ(contract_scalar(s, "SELECT COUNT(*) FROM deployments"), 0);
    CHECK(lo_store_commit(s) == LO_ERR_INVALID);
    CHECK(lo_store_rollback(s) == LO_ERR_INVALID);
    CHECK_OK(lo_store_begin(s));
    CHECK(contract_insert(s, ins, 1, b2) > 0);
    CHECK_OK(lo_store_commit(s));
    CHECK_INT_EQ(contract_scalar(s, "SELECT COUNT(*) FROM deployments WHERE name = 'b'"), 1);
    /* A failing statement inside a transaction: roll back, and the store works on. */
    CHECK_OK(lo_store_begin(s));
    CHECK(contract_insert(s, ins, 1, c) > 0);
    CHECK(contract_insert(s, ins, 1, b2) == -1); /* unique name */
    CHECK_OK(lo_store_rollback(s));
    CHECK_INT_EQ(contract_scalar(s, "SELECT COUNT(*) FROM deployments"), 1);
    /* Closing with an open transaction rolls it back. */
    CHECK_OK(lo_store_begin(s));
    CHECK(contract_insert(s, ins, 1, c) > 0);
    lo_store_close(s);
}

static void contract_constraints(const contract_env *e) {
    char *url = e->fresh_url(e->ctx);
    lo_store *s = contract_open(e, url);
    free(url);
    if (!s) return;
    lo_stmt *st = NULL;
    bool row;
    /* Foreign key: a metric of a run that does not exist. */
    CHECK_OK(lo_store_prepare(s, "INSERT INTO run_metrics (run_id, step, name, value, created_at) VALUES (?, 1, 'loss', 2.0, 1)", &st));
    CHECK_OK(lo_store_bind_int64(st, 1, 424242));
    lo_status r = lo_store_step(st, &row);
    CHECK_INT_EQ(r, LO_ERR_INVALID);
    CHECK_MSG(strcasestr(lo_error_message(), "foreign key") != NULL, "%s", lo_error_message());
    lo_store_finalize(st);
    /* Lineage: dataset → run → model; metrics cascade with their run. */
    const char *ds[] = {"d", "v1", "jsonl"};
    int64_t d = contract_insert(s, "INSERT INTO datasets (name, version, format, created_at) VALUES (?, ?, ?, 1) RETURNING id", 3, ds);
    char dbuf[32];
    snprintf(dbuf, sizeof dbuf, "%lld", (long long)d);
    const char *rv[] = {"finetune", "running", "{\"lr\":0.001}", dbuf};
    int64_t run = contract_insert(s, "INSERT INTO runs (kind, status, params, dataset_id, started_at) VALUES (?, ?, ?, ?, 1) RETURNING id", 4, rv);
    CHECK(d > 0 && run > 0);
    char rbuf[32];
    snprintf(rbuf, sizeof rbuf, "%lld", (long long)run);
    const char *mv[] = {rbuf};
    CHECK(contract_insert(s, "INSERT INTO run_metrics (run_id, step, name, value, created_at) VALUES (?, 1, 'loss', 2.0, 1) RETURNING id", 1, mv) > 0);
    const char *model[] = {"tiny", "1", rbuf};
    CHECK(contract_insert(s, "INSERT INTO models (name, version, gguf_path, sha256, run_id, created_at) VALUES (?, ?, 'x.gguf', 'ab', ?, 1) RETURNING id", 3, model) > 0);
    CHECK(contract_insert(s, "INSERT INTO models (name, version, gguf_path, sha256, run_id, created_at) VALUES (?, ?, 'x.gguf', 'ab', ?, 1) RETURNING id", 3, model) == -1);
    CHECK_MSG(strcasestr(lo_error_message(), "unique") != NULL, "%s", lo_error_message());
    CHECK_OK(lo_store_exec(s, "DELETE FROM models"));
    CHECK_OK(lo_store_exec(s, "DELETE FROM runs"));
    CHECK_INT_EQ(contract_scalar(s, "SELECT COUNT(*) FROM run_metrics"), 0);
    /* Deleting a dataset a run uses is refused. */
    CHECK(contract_insert(s, "INSERT INTO runs (kind, status, dataset_id, started_at) VALUES ('train', 'done', ?, 1) RETURNING id", 1, (const char *[]){dbuf}) > 0);
    CHECK(lo_store_exec(s, "DELETE FROM datasets") == LO_ERR_INVALID);
    lo_store_close(s);
}

static void contract_newer_schema(const contract_env *e) {
    char *url = e->fresh_url(e->ctx);
    lo_store *s = contract_open(e, url);
    if (s) {
        lo_stmt *st = NULL;
        bool row;
        CHECK_OK(lo_store_prepare(s, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)", &st));
        CHECK_OK(lo_store_bind_int64(st, 1, lo_store_schema_version_known() + 1));
        CHECK_OK(lo_store_step(st, &row));
        lo_store_finalize(st);
        lo_store_close(s);
        s = NULL;
        lo_status r = lo_store_open(url, &s);
        CHECK_INT_EQ(r, LO_ERR_UNSUPPORTED);
        CHECK(s == NULL);
        CHECK_MSG(strstr(lo_error_message(), "newer") != NULL, "%s", lo_error_message());
        CHECK(strstr(lo_error_hint(), "upgrade") != NULL);
    }
    free(url);
}

typedef struct contract_opener {
    const char *url;
    lo_status r;
    int64_t version;
} contract_opener;

static void *contract_open_thread(void *p) {
    contract_opener *o = p;
    lo_store *s = NULL;
    o->r = lo_store_open(o->url, &s);
    if (o->r != LO_OK) fprintf(stderr, "concurrent open: %s\n", lo_error_message());
    o->version = lo_store_schema_version(s);
    lo_store_close(s);
    return NULL;
}

static void contract_two_handles(const contract_env *e) {
    char *url = e->fresh_url(e->ctx);
    /* Four openers race to migrate the same fresh store: each migration applies once. */
    pthread_t th[4];
    contract_opener op[4];
    for (int i = 0; i < 4; i++) {
        op[i] = (contract_opener){url, LO_ERR_INTERNAL, 0};
        pthread_create(&th[i], NULL, contract_open_thread, &op[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT_EQ(op[i].r, LO_OK);
        CHECK_INT_EQ(op[i].version, lo_store_schema_version_known());
    }
    lo_store *a = contract_open(e, url), *b = contract_open(e, url);
    if (a && b) {
        CHECK_INT_EQ(contract_scalar(a, "SELECT COUNT(*) FROM schema_migrations"), lo_store_schema_version_known());
        const char *ins = "INSERT INTO prices (model_name, usd_per_m_input, usd_per_m_output, updated_at) VALUES (?, 1.5, 2.5, 0) RETURNING id";
        const char *m1[] = {"m1"}, *m2[] = {"m2"};
        CHECK_OK(lo_store_begin(a));
        CHECK(contract_insert(a, ins, 1, m1) > 0);
        CHECK_INT_EQ(contract_scalar(b, "SELECT COUNT(*) FROM prices"), 0); /* uncommitted: not seen */
        CHECK_OK(lo_store_commit(a));
        CHECK_INT_EQ(contract_scalar(b, "SELECT COUNT(*) FROM prices"), 1);
        CHECK(contract_insert(b, ins, 1, m2) > 0);
        CHECK_INT_EQ(contract_scalar(a, "SELECT COUNT(*) FROM prices"), 2);
    }
    lo_store_close(a);
    lo_store_close(b);
    free(url);
}

static void contract_urls(void) {
    lo_store *s = (lo_store *)1;
    CHECK(lo_store_open("", &s) == LO_ERR_INVALID && s == NULL);
    CHECK(lo_store_open(NULL, &s) == LO_ERR_INVALID);
    CHECK(lo_store_open("mysql://localhost/x", &s) == LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "mysql") != NULL);
    CHECK(strstr(lo_error_hint(), "LLMOPS_STORE") != NULL);
    CHECK(lo_store_open("/tmp/plain/path.db", &s) == LO_ERR_INVALID);
    /* Nothing listens on port 1: connection refused, with the hint. */
    CHECK_INT_EQ(lo_store_open("postgres://nobody@127.0.0.1:1/none?connect_timeout=2", &s), LO_ERR_IO);
    CHECK(s == NULL);
    CHECK_MSG(strstr(lo_error_hint(), "is PostgreSQL running at 127.0.0.1:1?") != NULL, "%s", lo_error_hint());
    CHECK(strstr(lo_error_hint(), "LLMOPS_STORE") != NULL);
    CHECK(lo_store_open("postgresql://127.0.0.1:1/none", &s) == LO_ERR_IO);
    /* Flag first, then LLMOPS_STORE, then the default. */
    unsetenv("LLMOPS_STORE");
    CHECK_STR_EQ(lo_store_url_from_env_or(NULL), LO_STORE_DEFAULT_URL);
    CHECK_STR_EQ(lo_store_url_from_env_or(""), LO_STORE_DEFAULT_URL);
    setenv("LLMOPS_STORE", "postgres://env/x", 1);
    CHECK_STR_EQ(lo_store_url_from_env_or(NULL), "postgres://env/x");
    CHECK_STR_EQ(lo_store_url_from_env_or("sqlite:flag.db"), "sqlite:flag.db");
    unsetenv("LLMOPS_STORE");
    lo_store_close(NULL);
    lo_store_finalize(NULL);
    CHECK(!lo_store_in_transaction(NULL));
}

/* Runs every check; the library must hold no memory afterwards. */
static void contract_run_all(const contract_env *e) {
    size_t live = lo_alloc_live_bytes();
    contract_urls();
    contract_migrations(e);
    contract_crud(e);
    contract_transactions(e);
    contract_constraints(e);
    contract_newer_schema(e);
    contract_two_handles(e);
    CHECK_INT_EQ(lo_alloc_live_bytes(), live);
}

#endif
