/* The ops layer's contract, written once and run on each backend: test_ops_sqlite.c and
 * test_ops_postgres.c include this header and supply fresh_url() (a new, empty store)
 * and a scratch directory for the files the records point at. */
#ifndef LLMOPS_TESTS_OPS_CONTRACT_H
#define LLMOPS_TESTS_OPS_CONTRACT_H

#include <math.h>
#include <pthread.h>

#include "ops_fixture.h"

/* ---- datasets ---------------------------------------------------------------------- */

typedef struct diff_rec {
    int n_plus, n_minus;
    char rows[16][64];
    int n;
} diff_rec;

static void on_diff(void *p, char sign, const char *row, size_t len) {
    diff_rec *d = p;
    if (sign == '+') d->n_plus++; else d->n_minus++;
    if (d->n < 16) snprintf(d->rows[d->n++], 64, "%c%.*s", sign, (int)len, row);
}

static void count_ds(void *p, const lo_ops_dataset *d) { (void)d, ++*(int *)p; }

static void ops_contract_datasets(const ops_env *e) {
    lo_store *s = ops_open(e);
    if (!s) return;
    char p1[512], p2[512], p3[512], p4[512];
    snprintf(p1, sizeof p1, "%s/v1.jsonl", e->dir);
    snprintf(p2, sizeof p2, "%s/v2.jsonl", e->dir);
    snprintf(p3, sizeof p3, "%s/t.csv", e->dir);
    snprintf(p4, sizeof p4, "%s/empty.txt", e->dir);
    ops_write(p1, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
    ops_write(p2, "{\"a\":1}\r\n{\"a\":3}\n\n{\"a\":4}\n{\"a\":4}\n");
    ops_write(p3, "q,a\n\"multi\nline\",1\nx,\"y,z\"\n");
    ops_write(p4, "");
    lo_ops_dataset d1, d2, d3, g;
    bool existed = true;
    CHECK_OK(lo_ops_dataset_add(s, "qa", p1, &d1, &existed));
    CHECK(!existed);
    char hex[65];
    CHECK_OK(lo_sha256_file_hex(p1, hex));
    CHECK_STR_EQ(d1.version, hex);
    CHECK_STR_EQ(d1.format, "jsonl");
    CHECK_INT_EQ(d1.n_rows, 3);
    CHECK_INT_EQ(d1.bytes, 24);
    CHECK(strstr(d1.source_path, "v1.jsonl") != NULL);
    CHECK_OK(lo_ops_dataset_add(s, "qa", p1, &g, &existed)); /* same content: same version */
    CHECK(existed);
    CHECK_INT_EQ(g.id, d1.id);
    CHECK_OK(lo_ops_dataset_add(s, "qa", p2, &d2, &existed));
    CHECK(!existed);
    CHECK_INT_EQ(d2.n_rows, 4);
    CHECK_STR_EQ(d2.format, "jsonl");
    CHECK_OK(lo_ops_dataset_add(s, "table", p3, &d3, NULL));
    CHECK_STR_EQ(d3.format, "csv");
    CHECK_INT_EQ(d3.n_rows, 2);
    /* Refs: NAME = newest; prefix; unknown; bad. */
    CHECK_OK(lo_ops_dataset_get(s, "qa", &g));
    CHECK_STR_EQ(g.version, d2.version);
    char ref[128];
    snprintf(ref, sizeof ref, "qa@%.6s", d1.version);
    CHECK_OK(lo_ops_dataset_get(s, ref, &g));
    CHECK_INT_EQ(g.id, d1.id);
    CHECK_INT_EQ(lo_ops_dataset_get(s, "nope", &g), LO_ERR_NOT_FOUND);
    CHECK_INT_EQ(lo_ops_dataset_get(s, "qa@xyz!", &g), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_ops_dataset_get(s, "qa@", &g), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_ops_dataset_add(s, "bad name", p1, NULL, NULL), LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "dataset name") != NULL);
    CHECK_INT_EQ(lo_ops_dataset_add(s, "e", p4, NULL, NULL), LO_ERR_INVALID);
    CHECK(lo_ops_dataset_add(s, "e", "/no/such/file", NULL, NULL) != LO_OK);
    int n = 0;
    CHECK_OK(lo_ops_dataset_list(s, NULL, count_ds, &n));
    CHECK_INT_EQ(n, 3);
    n = 0;
    CHECK_OK(lo_ops_dataset_list(s, "qa", count_ds, &n));
    CHECK_INT_EQ(n, 2);
    /* diff as multisets: +{"a":4} twice, -{"a":2}; the \r\n row equals its \n twin. */
    diff_rec dr = {0};
    int64_t add = -1, rem = -1;
    CHECK_OK(lo_ops_dataset_diff(s, "qa", d1.version, d2.version, on_diff, &dr, &add, &rem));
    CHECK_INT_EQ(add, 2);
    CHECK_INT_EQ(rem, 1);
    CHECK_INT_EQ(dr.n_plus, 2);
    CHECK_STR_EQ(dr.rows[0], "+{\"a\":4}");
    CHECK_STR_EQ(dr.rows[2], "-{\"a\":2}");
    CHECK_OK(lo_ops_dataset_diff(s, "qa", d2.version, d2.version, NULL, NULL, &add, &rem));
    CHECK_INT_EQ(add + rem, 0);
    CHECK_INT_EQ(lo_ops_dataset_diff(s, "qa", d1.version, "ffff", NULL, NULL, &add, &rem), LO_ERR_NOT_FOUND);
    /* Content kept once per sha256 even under two names. */
    CHECK_OK(lo_ops_dataset_add(s, "qa-copy", p1, NULL, NULL));
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM dataset_contents"), 3);
    lo_store_close(s);
}

/* ---- models and runs --------------------------------------------------------------- */

static void on_tag(void *p, const char *tag, const char *value) {
    char *out = p;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s=%s;", tag, value);
}

typedef struct cmp_rec {
    char text[256];
} cmp_rec;

static void on_cmp(void *p, const char *name, bool ha, double a, bool hb, double b) {
    cmp_rec *c = p;
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof c->text - n, "%s:%s%g/%s%g;", name, ha ? "" : "-", ha ? a : 0, hb ? "" : "-", hb ? b : 0);
}

static void on_metric(void *p, const char *name, int64_t step, double v, int64_t at) {
    (void)name, (void)v;
    CHECK(at > 0);
    *(int64_t *)p += step;
}

static void on_artifact(void *p, const char *path, const char *sha, int64_t bytes) {
    (void)path;
    CHECK_INT_EQ(strlen(sha), 64);
    *(int64_t *)p += bytes;
}

static void ops_contract_models_runs(const ops_env *e) {
    lo_store *s = ops_open(e);
    if (!s) return;
    char g1[512], g2[512], data[512], junk[512];
    snprintf(g1, sizeof g1, "%s/m1.gguf", e->dir);
    snprintf(g2, sizeof g2, "%s/m2.gguf", e->dir);
    snprintf(data, sizeof data, "%s/train.txt", e->dir);
    snprintf(junk, sizeof junk, "%s/junk.gguf", e->dir);
    ops_write_gguf(g1, 1.0f);
    ops_write_gguf(g2, 2.0f);
    ops_write(data, "hello\nworld\n");
    ops_write(junk, "not a gguf file at all, just text");
    lo_ops_model m1, m2, g;
    bool existed = true;
    CHECK_OK(lo_ops_model_register(s, "tiny", g1, 0, NULL, &m1, &existed));
    CHECK(!existed);
    CHECK_STR_EQ(m1.version, "1");
    char hex[65];
    CHECK_OK(lo_sha256_file_hex(g1, hex));
    CHECK_STR_EQ(m1.sha256, hex);
    CHECK(strstr(m1.metadata, "\"arch\":\"llama\"") != NULL);
    CHECK(strstr(m1.metadata, "\"n_params\":8") != NULL);
    CHECK(strstr(m1.metadata, "\"context_length\":256") != NULL);
    CHECK_OK(lo_ops_model_register(s, "tiny", g1, 0, NULL, &g, &existed));
    CHECK(existed);
    CHECK_INT_EQ(g.id, m1.id);
    CHECK(lo_ops_model_register(s, "tiny", junk, 0, NULL, NULL, NULL) != LO_OK);
    CHECK_INT_EQ(lo_ops_model_register(s, "tiny", g2, 999, NULL, NULL, NULL), LO_ERR_NOT_FOUND);
    CHECK_INT_EQ(lo_ops_model_register(s, "tiny", g2, 0, "nosuch@1", NULL, NULL), LO_ERR_NOT_FOUND);

    /* A fine-tuning run on a dataset from tiny@1 produces tiny@2. */
    lo_ops_dataset d;
    CHECK_OK(lo_ops_dataset_add(s, "train", data, &d, NULL));
    int64_t run = 0, run2 = 0;
    CHECK_OK(lo_ops_run_create(s, "finetune", "{\"lr\":0.001}", "train", "tiny@1", &run));
    CHECK(run > 0);
    CHECK_INT_EQ(lo_ops_run_create(s, "Fine Tune", NULL, NULL, NULL, &run2), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_ops_run_create(s, "eval", "[1,2]", NULL, NULL, &run2), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_ops_run_create(s, "eval", "{bad", NULL, NULL, &run2), LO_ERR_FORMAT);
    for (int i = 0; i < 3; i++) CHECK_OK(lo_ops_run_log_metric(s, run, i, "loss", 3.0 - i));
    CHECK_OK(lo_ops_run_log_metric(s, run, 2, "acc", 0.5));
    CHECK_INT_EQ(lo_ops_run_log_metric(s, run, 3, "loss", NAN), LO_ERR_RANGE);
    CHECK_INT_EQ(lo_ops_run_log_metric(s, 12345, 0, "loss", 1), LO_ERR_NOT_FOUND);
    CHECK_OK(lo_ops_run_add_artifact(s, run, g2));
    CHECK_OK(lo_ops_run_set_status(s, run, "succeeded"));
    CHECK_INT_EQ(lo_ops_run_set_status(s, run, "done"), LO_ERR_INVALID);
    lo_ops_run r;
    CHECK_OK(lo_ops_run_get(s, run, &r));
    CHECK_STR_EQ(r.kind, "finetune");
    CHECK_STR_EQ(r.status, "succeeded");
    CHECK_STR_EQ(r.params, "{\"lr\":0.001}");
    CHECK_INT_EQ(r.dataset_id, d.id);
    CHECK_INT_EQ(r.base_model_id, m1.id);
    CHECK(r.ended_at >= r.started_at && r.ended_at > 0);
    int64_t steps = 0, bytes = 0;
    CHECK_OK(lo_ops_run_metrics(s, run, on_metric, &steps));
    CHECK_INT_EQ(steps, 0 + 1 + 2 + 2);
    CHECK_OK(lo_ops_run_artifacts(s, run, on_artifact, &bytes));
    CHECK(bytes > 0);

    CHECK_OK(lo_ops_model_register(s, "tiny", g2, run, "tiny@1", &m2, &existed));
    CHECK_STR_EQ(m2.version, "2");
    CHECK_INT_EQ(m2.run_id, run);
    CHECK_INT_EQ(m2.base_model_id, m1.id);
    CHECK_OK(lo_ops_model_get(s, "tiny", &g));
    CHECK_INT_EQ(g.id, m2.id);
    CHECK_OK(lo_ops_model_alias(s, "tiny@1", "production"));
    CHECK_OK(lo_ops_model_get(s, "tiny@production", &g));
    CHECK_INT_EQ(g.id, m1.id);
    CHECK_STR_EQ(g.aliases, "production");
    CHECK_OK(lo_ops_model_alias(s, "tiny@2", "production")); /* moves */
    CHECK_OK(lo_ops_model_get(s, "tiny@production", &g));
    CHECK_INT_EQ(g.id, m2.id);
    CHECK_INT_EQ(lo_ops_model_alias(s, "tiny@2", "7"), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_ops_model_get(s, "tiny@9", &g), LO_ERR_NOT_FOUND);
    CHECK_INT_EQ(lo_ops_model_get(s, "tiny@staging", &g), LO_ERR_NOT_FOUND);
    CHECK_OK(lo_ops_model_tag(s, "tiny@2", "quant", "f32"));
    CHECK_OK(lo_ops_model_tag(s, "tiny@2", "reviewed", ""));
    CHECK_OK(lo_ops_model_tag(s, "tiny@2", "quant", "q8_0"));
    char tags[256] = "";
    CHECK_OK(lo_ops_model_tags(s, "tiny@2", on_tag, tags));
    CHECK_STR_EQ(tags, "quant=q8_0;reviewed=;");
    CHECK_OK(lo_ops_model_tag(s, "tiny@2", "reviewed", NULL));
    tags[0] = 0;
    CHECK_OK(lo_ops_model_tags(s, "tiny@2", on_tag, tags));
    CHECK_STR_EQ(tags, "quant=q8_0;");
    CHECK_OK(lo_ops_model_set_eval(s, "tiny@2", "{\"bleu\":31.5}"));
    CHECK_INT_EQ(lo_ops_model_set_eval(s, "tiny@2", "3"), LO_ERR_INVALID);
    CHECK_OK(lo_ops_model_get(s, "tiny@2", &g));
    CHECK_STR_EQ(g.eval_summary, "{\"bleu\":31.5}");

    /* compare: last value per metric of each run. */
    CHECK_OK(lo_ops_run_create(s, "eval", NULL, NULL, "tiny@2", &run2));
    CHECK_OK(lo_ops_run_log_metric(s, run2, 5, "loss", 0.25));
    CHECK_OK(lo_ops_run_log_metric(s, run2, 1, "bleu", 30));
    cmp_rec c = {""};
    CHECK_OK(lo_ops_run_compare(s, run, run2, on_cmp, &c));
    CHECK_STR_EQ(c.text, "acc:0.5/-0;bleu:-0/30;loss:1/0.25;");
    lo_store_close(s);
}

/* ---- deployments and routing -------------------------------------------------------- */

static void ops_contract_deploy(const ops_env *e) {
    lo_store *s = ops_open(e);
    if (!s) return;
    char g1[512], g2[512];
    snprintf(g1, sizeof g1, "%s/d1.gguf", e->dir);
    snprintf(g2, sizeof g2, "%s/d2.gguf", e->dir);
    ops_write_gguf(g1, 10.0f);
    ops_write_gguf(g2, 20.0f);
    CHECK_OK(lo_ops_model_register(s, "chat", g1, 0, NULL, NULL, NULL));
    CHECK_OK(lo_ops_model_register(s, "chat", g2, 0, NULL, NULL, NULL));
    lo_ops_deployment *d = malloc(sizeof *d);
    CHECK_OK(lo_ops_deploy(s, "prod", "chat@1", NULL, 0, false, d));
    CHECK_INT_EQ(d->revision, 1);
    CHECK_INT_EQ(d->n_arms, 1);
    CHECK_INT_EQ(lo_ops_deploy(s, "prod", "chat@1", "chat@1", 10, false, NULL), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_ops_deploy(s, "prod", "chat@1", "chat@2", 100, false, NULL), LO_ERR_RANGE);
    CHECK_INT_EQ(lo_ops_deploy(s, "prod", "chat@1", "chat@2", 0, false, NULL), LO_ERR_RANGE);
    CHECK_INT_EQ(lo_ops_deploy(s, "prod", "chat@7", NULL, 0, false, NULL), LO_ERR_NOT_FOUND);
    CHECK_INT_EQ(lo_ops_promote(s, "prod", NULL), LO_ERR_INVALID);
    CHECK_OK(lo_ops_deploy(s, "prod", "chat@1", "chat@2", 10, true, d));
    CHECK_INT_EQ(d->revision, 2);
    CHECK_INT_EQ(d->n_arms, 2);
    CHECK(d->sticky);
    CHECK_STR_EQ(d->arms[0].model_ref, "chat@1");
    CHECK_STR_EQ(d->arms[1].model_ref, "chat@2");
    CHECK(fabs(d->arms[0].weight - 90) < 1e-9 && fabs(d->arms[1].weight - 10) < 1e-9);
    CHECK(strstr(d->arms[1].gguf_path, "d2.gguf") != NULL);
    /* 10,000 requests without a user: the 90/10 split within ±1.5 points (in fact within
     * a few requests); with users: within ±1.5 points and every user always on one arm. */
    int hits[2] = {0, 0}, uhits[2] = {0, 0};
    for (uint64_t i = 0; i < 10000; i++) hits[lo_ops_route(d, NULL, i)]++;
    CHECK_MSG(abs(hits[1] - 1000) <= 10, "canary got %d of 10000", hits[1]);
    bool stable = true;
    for (int u = 0; u < 10000; u++) {
        char user[32];
        snprintf(user, sizeof user, "user-%d", u);
        int arm = lo_ops_route(d, user, (uint64_t)u);
        uhits[arm]++;
        for (uint64_t k = 1; k < 4; k++) stable &= lo_ops_route(d, user, k * 7919) == arm;
    }
    CHECK_MSG(abs(uhits[1] - 1000) <= 150, "sticky canary got %d of 10000 users", uhits[1]);
    CHECK(stable);
    /* Not sticky: users do not pin, seq decides. */
    d->sticky = false;
    CHECK(lo_ops_route(d, "user-1", 0) == lo_ops_route(d, NULL, 0));
    lo_ops_deployment *again = malloc(sizeof *again);
    CHECK_OK(lo_ops_deployment_get(s, "prod", again));
    CHECK_INT_EQ(again->n_arms, 2);
    /* promote → chat@2 at 100; rollback → the 90/10 revision; rollback → revision 1;
     * nothing before it. */
    CHECK_OK(lo_ops_promote(s, "prod", d));
    CHECK_INT_EQ(d->revision, 3);
    CHECK_INT_EQ(d->n_arms, 1);
    CHECK_STR_EQ(d->arms[0].model_ref, "chat@2");
    CHECK_INT_EQ(lo_ops_route(d, "anyone", 5), 0);
    CHECK_OK(lo_ops_rollback(s, "prod", d));
    CHECK_INT_EQ(d->revision, 2);
    CHECK_INT_EQ(d->n_arms, 2);
    CHECK(d->sticky);
    CHECK_OK(lo_ops_rollback(s, "prod", d));
    CHECK_INT_EQ(d->revision, 1);
    CHECK_STR_EQ(d->arms[0].model_ref, "chat@1");
    CHECK_INT_EQ(lo_ops_rollback(s, "prod", d), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_ops_rollback(s, "nope", d), LO_ERR_NOT_FOUND);
    /* A new deploy after rollbacks gets a fresh revision number. */
    CHECK_OK(lo_ops_deploy(s, "prod", "chat@2", NULL, 0, false, d));
    CHECK_INT_EQ(d->revision, 4);
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM deployment_routes"), 1);
    free(again);
    free(d);
    lo_store_close(s);
}

/* ---- request log, prices, costs, feedback, keys ------------------------------------- */

typedef struct cost_rec {
    int n;
    char group[8][64];
    int64_t reqs[8], pt[8], ct[8];
    double usd[8];
} cost_rec;

static void on_cost(void *p, const lo_ops_cost_row *r) {
    cost_rec *c = p;
    if (c->n >= 8) return;
    snprintf(c->group[c->n], 64, "%s", r->group);
    c->reqs[c->n] = r->n_requests, c->pt[c->n] = r->prompt_tokens, c->ct[c->n] = r->completion_tokens;
    c->usd[c->n++] = r->cost_usd;
}

static char *ops_read_all(const char *path) {
    char *data = NULL;
    size_t n = 0;
    if (lo_read_file(path, &data, &n) != LO_OK) return NULL;
    return data;
}

static void ops_contract_requests(const ops_env *e) {
    lo_store *s = ops_open(e);
    if (!s) return;
    char g1[512];
    snprintf(g1, sizeof g1, "%s/r1.gguf", e->dir);
    ops_write_gguf(g1, 3.0f);
    lo_ops_model m;
    CHECK_OK(lo_ops_model_register(s, "local", g1, 0, NULL, &m, NULL));
    CHECK_OK(lo_ops_deploy(s, "web", "local@1", NULL, 0, false, NULL));
    /* Prices: local derived from $1.80/hour at 500 tok/s in, 50 tok/s out. */
    double pin, pout;
    CHECK_OK(lo_ops_price_derive(1.80, 500, &pin));
    CHECK_OK(lo_ops_price_derive(1.80, 50, &pout));
    CHECK(fabs(pin - 1.0) < 1e-12 && fabs(pout - 10.0) < 1e-12);
    CHECK_INT_EQ(lo_ops_price_derive(0, 50, &pout), LO_ERR_RANGE);
    CHECK_INT_EQ(lo_ops_price_derive(1, -5, &pout), LO_ERR_RANGE);
    CHECK_OK(lo_ops_price_set(s, "local", pin, pout));
    CHECK_OK(lo_ops_price_set(s, "gpt-x", 2.5, 10));
    CHECK_OK(lo_ops_price_set(s, "gpt-x", 0.15, 0.60)); /* replaces */
    CHECK_INT_EQ(lo_ops_price_set(s, "gpt-x", -1, 0), LO_ERR_RANGE);
    CHECK_INT_EQ(lo_ops_price_set(s, "bad name", 1, 1), LO_ERR_INVALID);
    CHECK_OK(lo_ops_price_get(s, "gpt-x", &pin, &pout));
    CHECK(pin == 0.15 && pout == 0.60);
    CHECK_INT_EQ(lo_ops_price_get(s, "nope", &pin, &pout), LO_ERR_NOT_FOUND);

    /* A scripted set of requests; hand-computed costs:
     *   a: local 1000 in, 200 out  → 1000×1/1e6 + 200×10/1e6 = 0.003
     *   b: local 250000 in, 40000 out → 0.25 + 0.40 = 0.65
     *   c: gpt-x 1e6 in, 1e6 out   → 0.15 + 0.60 = 0.75 (key k2, no deployment)
     *   d: unpriced model "other"   → 0
     *   e: explicit cost 0.10, local, old (before the --since cut) */
    int64_t t0 = 1700000000000;
    lo_ops_request q[5] = {
        {.external_id = "a", .created_at = t0 + 1000, .deployment = "web", .model_id = m.id, .prompt_tokens = 1000,
         .completion_tokens = 200, .cost_usd = -1, .queue_ms = 0.5, .ttft_ms = 20, .latency_ms = 100, .status = "ok",
         .client_key = "k1", .user = "alice",
         .messages_json = "[{\"role\":\"user\",\"content\":\"mail me at bob.smith@example.com or +1 (555) 123-4567\"}]",
         .completion = "card 4111 1111 1111 1111 noted; ref 4111 1111 1111 1112, on 2024-01-15"},
        {.external_id = "b", .created_at = t0 + 2000, .deployment = "web", .model_id = m.id, .prompt_tokens = 250000,
         .completion_tokens = 40000, .cost_usd = -1, .queue_ms = -1, .ttft_ms = -1, .latency_ms = -1, .status = "ok",
         .client_key = "k1", .messages_json = "[{\"role\":\"user\",\"content\":\"2+2?\"}]", .completion = "5"},
        {.external_id = "c", .created_at = t0 + 3000, .model_name = "gpt-x", .prompt_tokens = 1000000,
         .completion_tokens = 1000000, .cost_usd = -1, .queue_ms = -1, .ttft_ms = -1, .latency_ms = -1, .status = "ok",
         .client_key = "k2", .messages_json = "[{\"role\":\"user\",\"content\":\"2+2?\"}]", .completion = "4"},
        {.external_id = "d", .created_at = t0 + 4000, .model_name = "other", .prompt_tokens = 5, .completion_tokens = 5,
         .cost_usd = -1, .queue_ms = -1, .ttft_ms = -1, .latency_ms = -1, .status = "error"},
        {.external_id = "e", .created_at = t0 - 86400000, .deployment = "web", .model_id = m.id, .prompt_tokens = 1,
         .completion_tokens = 1, .cost_usd = 0.10, .queue_ms = -1, .ttft_ms = -1, .latency_ms = -1, .status = "ok",
         .client_key = "k1"},
    };
    int64_t ids[5] = {0};
    CHECK_OK(lo_ops_log_requests(s, q, 5, true, true, ids));
    CHECK(ids[0] > 0 && ids[4] > ids[0]);
    /* Redaction: addresses, phones and Luhn-valid cards gone; the rest kept. */
    lo_stmt *st = NULL;
    bool row = false;
    CHECK_OK(lo_store_prepare(s, "SELECT content, content_redacted, cost_usd, queue_ms, user_id FROM requests WHERE external_id = 'a'", &st));
    CHECK_OK(lo_store_step(st, &row));
    CHECK(row);
    if (row) {
        const char *c = lo_store_column_text(st, 0);
        CHECK_MSG(c && strstr(c, "[EMAIL]") && strstr(c, "[PHONE]") && strstr(c, "[CARD]") && !strstr(c, "example.com") &&
                      !strstr(c, "555") && strstr(c, "4111 1111 1111 1112") && strstr(c, "2024-01-15"),
                  "%s", c ? c : "(null)");
        CHECK_INT_EQ(lo_store_column_int64(st, 1), 1);
        CHECK(fabs(lo_store_column_double(st, 2) - 0.003) < 1e-12);
        CHECK(lo_store_column_double(st, 3) == 0.5);
        CHECK_STR_EQ(lo_store_column_text(st, 4), "alice");
    }
    lo_store_finalize(st);
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM requests WHERE ttft_ms IS NULL"), 4);
    /* All or none: the second request names an unknown deployment. */
    lo_ops_request bad[2] = {q[1], q[1]};
    bad[0].external_id = "x1", bad[1].external_id = "x2", bad[1].deployment = "ghost";
    CHECK_INT_EQ(lo_ops_log_requests(s, bad, 2, false, false, NULL), LO_ERR_NOT_FOUND);
    bad[1].deployment = "web", bad[1].prompt_tokens = -3;
    CHECK_INT_EQ(lo_ops_log_requests(s, bad, 2, false, false, NULL), LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "prompt_tokens") != NULL);
    bad[1] = q[1]; /* duplicate external id "b" */
    CHECK_INT_EQ(lo_ops_log_requests(s, bad, 2, false, false, NULL), LO_ERR_INVALID);
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM requests"), 5);
    /* Without content logging nothing of the text is stored; a missing id is generated. */
    lo_ops_request plain = q[1];
    plain.external_id = NULL;
    int64_t pid = 0;
    CHECK_OK(lo_ops_log_request(s, &plain, false, false, &pid));
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM requests WHERE content IS NULL"), 3);
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM requests WHERE external_id LIKE 'req-%' AND LENGTH(external_id) = 28"), 1);
    CHECK_OK(lo_store_exec(s, "DELETE FROM requests WHERE external_id LIKE 'req-%'"));

    /* Costs to the cent (and to 1e-9). */
    cost_rec c = {0};
    CHECK_OK(lo_ops_costs(s, LO_OPS_BY_MODEL, 0, on_cost, &c));
    CHECK_INT_EQ(c.n, 3);
    CHECK_STR_EQ(c.group[0], "local@1");
    CHECK(fabs(c.usd[0] - 0.753) < 1e-9);
    CHECK_INT_EQ(c.reqs[0], 3);
    CHECK_INT_EQ(c.pt[0], 251001);
    CHECK_INT_EQ(c.ct[0], 40201);
    CHECK_STR_EQ(c.group[1], "gpt-x");
    CHECK(fabs(c.usd[1] - 0.75) < 1e-9);
    CHECK_STR_EQ(c.group[2], "other");
    CHECK(c.usd[2] == 0);
    memset(&c, 0, sizeof c);
    CHECK_OK(lo_ops_costs(s, LO_OPS_BY_DEPLOYMENT, t0, on_cost, &c));
    CHECK_INT_EQ(c.n, 2);
    CHECK_STR_EQ(c.group[0], "(none)");
    CHECK(fabs(c.usd[0] - 0.75) < 1e-9);
    CHECK_STR_EQ(c.group[1], "web");
    CHECK(fabs(c.usd[1] - 0.653) < 1e-9);
    memset(&c, 0, sizeof c);
    CHECK_OK(lo_ops_costs(s, LO_OPS_BY_KEY, 0, on_cost, &c));
    CHECK_INT_EQ(c.n, 3);
    CHECK_STR_EQ(c.group[0], "k1");
    CHECK(fabs(c.usd[0] - 0.753) < 1e-9);
    CHECK_STR_EQ(c.group[1], "k2");
    int64_t ms = 0;
    CHECK_OK(lo_ops_parse_time("2023-11-14", &ms));
    CHECK_INT_EQ(ms, 1699920000000);
    CHECK_OK(lo_ops_parse_time("2023-11-14T22:13:20Z", &ms));
    CHECK_INT_EQ(ms, t0);
    CHECK_OK(lo_ops_parse_time("1700000000000", &ms));
    CHECK_INT_EQ(ms, t0);
    CHECK_INT_EQ(lo_ops_parse_time("2023-02-30", &ms), LO_ERR_RANGE);
    CHECK_INT_EQ(lo_ops_parse_time("yesterday", &ms), LO_ERR_INVALID);

    /* Feedback and its export. */
    int64_t fid = 0;
    lo_ops_feedback f = {.request_id = "a", .kind = "thumbs", .score = 1, .label = "good", .author = "ann"};
    CHECK_OK(lo_ops_feedback_record(s, &f, &fid));
    f = (lo_ops_feedback){.request_id = "b", .kind = "rating", .score = 1, .corrected = "4", .comment = "wrong sum"};
    CHECK_OK(lo_ops_feedback_record(s, &f, &fid));
    f = (lo_ops_feedback){.request_id = "c", .kind = "rating", .score = 5};
    CHECK_OK(lo_ops_feedback_record(s, &f, &fid));
    f.request_id = "zzz";
    CHECK_INT_EQ(lo_ops_feedback_record(s, &f, &fid), LO_ERR_NOT_FOUND);
    f.request_id = "c", f.score = 6;
    CHECK_INT_EQ(lo_ops_feedback_record(s, &f, &fid), LO_ERR_RANGE);
    f.kind = "thumbs", f.score = 0.5;
    CHECK_INT_EQ(lo_ops_feedback_record(s, &f, &fid), LO_ERR_RANGE);
    f.kind = "stars";
    CHECK_INT_EQ(lo_ops_feedback_record(s, &f, &fid), LO_ERR_INVALID);
    char out[512];
    snprintf(out, sizeof out, "%s/sft.jsonl", e->dir);
    int64_t n = -1;
    CHECK_OK(lo_ops_feedback_export(s, LO_OPS_EXPORT_SFT, out, &n));
    CHECK_INT_EQ(n, 3);
    char *text = ops_read_all(out);
    CHECK(text && strstr(text, "{\"messages\":[{\"role\":\"user\",\"content\":\"2+2?\"},{\"role\":\"assistant\",\"content\":\"4\"}]}\n"));
    CHECK(text && strstr(text, "[EMAIL]") && !strstr(text, "example.com"));
    lo_free(text);
    snprintf(out, sizeof out, "%s/pref.jsonl", e->dir);
    CHECK_OK(lo_ops_feedback_export(s, LO_OPS_EXPORT_PREFERENCE, out, &n));
    /* b has a correction (chosen 4, rejected 5); b is also negative on the same prompt
     * as c (positive) but already paired by its correction. */
    CHECK_INT_EQ(n, 1);
    text = ops_read_all(out);
    CHECK_STR_EQ(text, "{\"prompt\":[{\"role\":\"user\",\"content\":\"2+2?\"}],\"chosen\":[{\"role\":\"assistant\",\"content\":\"4\"}],"
                       "\"rejected\":[{\"role\":\"assistant\",\"content\":\"5\"}]}\n");
    lo_free(text);
    /* Same prompt, up vs down, no correction: a pair from the verdicts. */
    lo_ops_request r2 = q[2];
    r2.external_id = "c2", r2.completion = "22";
    CHECK_OK(lo_ops_log_request(s, &r2, true, false, NULL));
    f = (lo_ops_feedback){.request_id = "c2", .kind = "thumbs", .score = 0};
    CHECK_OK(lo_ops_feedback_record(s, &f, &fid));
    CHECK_OK(lo_ops_feedback_export(s, LO_OPS_EXPORT_PREFERENCE, out, &n));
    CHECK_INT_EQ(n, 2);
    text = ops_read_all(out);
    CHECK(text && strstr(text, "\"chosen\":[{\"role\":\"assistant\",\"content\":\"4\"}],\"rejected\":[{\"role\":\"assistant\",\"content\":\"22\"}]"));
    lo_free(text);

    /* Keys: hashed with a salt, checked, budget, revoked. */
    char secret[LO_OPS_KEY_SECRET_BYTES], secret2[LO_OPS_KEY_SECRET_BYTES];
    lo_ops_key k, chk;
    CHECK_OK(lo_ops_key_create(s, "ci", LO_OPS_ROLE_INFERENCE, 1.0, 60, secret, &k));
    CHECK_INT_EQ(strlen(secret), 59);
    CHECK(strncmp(secret, k.key_id, strlen(k.key_id)) == 0);
    CHECK_OK(lo_ops_key_create(s, "root", LO_OPS_ROLE_ADMIN, 0, 0, secret2, NULL));
    char scratch[LO_OPS_KEY_SECRET_BYTES];
    CHECK_INT_EQ(lo_ops_key_create(s, "ci", LO_OPS_ROLE_ADMIN, 0, 0, scratch, NULL), LO_ERR_INVALID);
    CHECK_INT_EQ(scratch[0], 0); /* a failed create leaves no usable secret behind */
    CHECK_INT_EQ(lo_ops_key_create(s, "neg", LO_OPS_ROLE_ADMIN, -1, 0, scratch, NULL), LO_ERR_RANGE);
    CHECK_OK(lo_ops_key_check(s, secret, &chk));
    CHECK_INT_EQ(chk.role, LO_OPS_ROLE_INFERENCE);
    CHECK_INT_EQ(chk.rate_limit_rpm, 60);
    CHECK(chk.budget_usd == 1.0);
    CHECK_OK(lo_ops_key_check(s, secret2, &chk));
    CHECK_INT_EQ(chk.role, LO_OPS_ROLE_ADMIN);
    char wrong[LO_OPS_KEY_SECRET_BYTES];
    memcpy(wrong, secret, sizeof wrong);
    wrong[40] = wrong[40] == 'A' ? 'B' : 'A';
    CHECK_INT_EQ(lo_ops_key_check(s, wrong, &chk), LO_ERR_DENIED);
    CHECK(strstr(lo_error_message(), "wrong secret") && !strstr(lo_error_message(), wrong + 16));
    CHECK_INT_EQ(chk.key_id[0], 0); /* not authentic: nothing filled in */
    CHECK_INT_EQ(lo_ops_key_check(s, "sk-garbage", &chk), LO_ERR_DENIED);
    CHECK_INT_EQ(lo_ops_key_check(s, NULL, &chk), LO_ERR_DENIED);
    /* The secret is nowhere in the store. */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM api_keys WHERE hash = '%s' OR salt = '%s'", secret, secret);
    CHECK_INT_EQ(ops_count(s, sql), 0);
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(DISTINCT salt) FROM api_keys"), 2);
    /* Spend 1.2 $ under the key: over its 1 $ budget. */
    lo_ops_request spend = {.external_id = "s1", .model_name = "gpt-x", .cost_usd = 1.2, .queue_ms = -1, .ttft_ms = -1,
                            .latency_ms = -1, .status = "ok", .client_key = k.key_id};
    CHECK_OK(lo_ops_log_request(s, &spend, false, false, NULL));
    CHECK_INT_EQ(lo_ops_key_check(s, secret, &chk), LO_ERR_DENIED);
    CHECK(strstr(lo_error_message(), "budget") != NULL);
    CHECK_STR_EQ(chk.key_id, k.key_id); /* authentic, over its budget: filled in */
    CHECK(chk.spent_usd >= chk.budget_usd && chk.budget_usd == 1.0);
    CHECK_OK(lo_ops_key_revoke(s, "root"));
    CHECK_INT_EQ(lo_ops_key_check(s, secret2, &chk), LO_ERR_DENIED);
    CHECK(strstr(lo_error_message(), "revoked") != NULL);
    CHECK_INT_EQ(chk.key_id[0], 0);
    CHECK_INT_EQ(lo_ops_key_revoke(s, "nobody"), LO_ERR_NOT_FOUND);
    lo_store_close(s);
}

/* ---- deployment stats ------------------------------------------------------------------ */

typedef struct arm_rec {
    int n;
    lo_ops_arm_stats a[8];
} arm_rec;

static void on_arm(void *p, const lo_ops_arm_stats *a) {
    arm_rec *r = p;
    if (r->n < 8) r->a[r->n++] = *a;
}

static bool near(double a, double b) { return fabs(a - b) < 1e-9; }

static void ops_contract_stats(const ops_env *e) {
    lo_store *s = ops_open(e);
    if (!s) return;
    int64_t ids[3];
    for (int i = 0; i < 3; i++) {
        char path[512];
        lo_ops_model m;
        snprintf(path, sizeof path, "%s/st%d.gguf", e->dir, i);
        ops_write_gguf(path, 40.0f + (float)i);
        CHECK_OK(lo_ops_model_register(s, "arm", path, 0, NULL, &m, NULL));
        ids[i] = m.id;
    }
    /* Revision 1 served arm@3; revision 2 (current) splits arm@1 75 / arm@2 25. */
    CHECK_OK(lo_ops_deploy(s, "ab", "arm@3", NULL, 0, false, NULL));
    CHECK_OK(lo_ops_deploy(s, "other", "arm@1", NULL, 0, false, NULL));
    int64_t t0 = 1700000000000;
    lo_ops_request base = {.deployment = "ab", .queue_ms = -1, .status = "ok"};
    lo_ops_request q[10];
    for (int i = 0; i < 10; i++) q[i] = base;
    /* arm@1: latencies 100 200 300 400 1000 ms, TTFT 10 20 30 40 and one unknown,
     * completions 10..50 (150), one error, $0.01 each. */
    for (int i = 0; i < 5; i++) {
        q[i].model_id = ids[0], q[i].created_at = t0 + i, q[i].prompt_tokens = 1, q[i].completion_tokens = 10 * (i + 1);
        q[i].cost_usd = 0.01, q[i].latency_ms = i < 4 ? 100.0 * (i + 1) : 1000, q[i].ttft_ms = i < 4 ? 10.0 * (i + 1) : -1;
    }
    q[4].status = "error";
    /* arm@2: latencies 50 and unknown, TTFT 5 and 7, completions 100 and 30, one canceled. */
    q[5].model_id = ids[1], q[5].created_at = t0 + 5, q[5].prompt_tokens = 2, q[5].completion_tokens = 100;
    q[5].cost_usd = 0.2, q[5].latency_ms = 50, q[5].ttft_ms = 5;
    q[6].model_id = ids[1], q[6].created_at = t0 + 6, q[6].prompt_tokens = 3, q[6].completion_tokens = 30;
    q[6].cost_usd = 0.3, q[6].latency_ms = -1, q[6].ttft_ms = 7, q[6].status = "canceled";
    /* arm@3, a day before t0 and no timings; an upstream model on the same deployment;
     * arm@1 on another deployment (not counted). */
    q[7].model_id = ids[2], q[7].created_at = t0 - 86400000, q[7].prompt_tokens = 4, q[7].completion_tokens = 4;
    q[7].cost_usd = 0, q[7].latency_ms = -1, q[7].ttft_ms = -1;
    q[8].model_name = "gpt-x", q[8].created_at = t0 + 8, q[8].completion_tokens = 20, q[8].cost_usd = 0.5;
    q[8].latency_ms = 10, q[8].ttft_ms = -1;
    q[9].deployment = "other", q[9].model_id = ids[0], q[9].created_at = t0 + 9, q[9].completion_tokens = 999;
    q[9].cost_usd = 9, q[9].latency_ms = 1, q[9].ttft_ms = 1;
    CHECK_OK(lo_ops_log_requests(s, q, 10, false, false, NULL));
    CHECK_OK(lo_ops_deploy(s, "ab", "arm@1", "arm@2", 25, false, NULL));

    arm_rec r = {0};
    CHECK_OK(lo_ops_deployment_stats(s, "ab", 0, on_arm, &r));
    CHECK_INT_EQ(r.n, 4); /* routed arms first, then by model id: gpt-x (id 0), arm@3 */
    if (r.n == 4) {
        lo_ops_arm_stats *a = &r.a[0], *b = &r.a[1], *u = &r.a[2], *old = &r.a[3];
        CHECK_STR_EQ(a->model_ref, "arm@1");
        CHECK_INT_EQ(a->model_id, ids[0]);
        CHECK(near(a->weight, 75));
        CHECK_INT_EQ(a->requests, 5);
        CHECK_INT_EQ(a->errors, 1);
        CHECK_INT_EQ(a->prompt_tokens, 5);
        CHECK_INT_EQ(a->completion_tokens, 150);
        CHECK(near(a->cost_usd, 0.05));
        /* Nearest rank: p50 of 5 values is the 3rd, p99 the 5th; of 4 TTFTs the 2nd and 4th. */
        CHECK(near(a->latency_p50_ms, 300) && near(a->latency_p99_ms, 1000));
        CHECK(near(a->ttft_p50_ms, 20) && near(a->ttft_p99_ms, 40));
        CHECK(near(a->tokens_per_s, 150 / 2.0)); /* 150 tokens over 2.0 s of latency */
        CHECK_STR_EQ(b->model_ref, "arm@2");
        CHECK(near(b->weight, 25));
        CHECK_INT_EQ(b->requests, 2);
        CHECK_INT_EQ(b->errors, 1);
        CHECK_INT_EQ(b->prompt_tokens, 5);
        CHECK_INT_EQ(b->completion_tokens, 130);
        CHECK(near(b->cost_usd, 0.5));
        CHECK(near(b->latency_p50_ms, 50) && near(b->latency_p99_ms, 50));
        CHECK(near(b->ttft_p50_ms, 5) && near(b->ttft_p99_ms, 7));
        CHECK(near(b->tokens_per_s, 100 / 0.05)); /* only the request with a latency */
        CHECK_STR_EQ(u->model_ref, "gpt-x");
        CHECK_INT_EQ(u->model_id, 0);
        CHECK(u->weight == 0);
        CHECK_INT_EQ(u->requests, 1);
        CHECK(near(u->tokens_per_s, 2000));
        CHECK(u->ttft_p50_ms < 0 && u->ttft_p99_ms < 0);
        CHECK_STR_EQ(old->model_ref, "arm@3");
        CHECK(old->weight == 0);
        CHECK_INT_EQ(old->requests, 1);
        CHECK_INT_EQ(old->completion_tokens, 4);
        CHECK(old->latency_p50_ms < 0 && old->ttft_p99_ms < 0 && old->tokens_per_s < 0);
    }
    /* Since t0: arm@3's old request drops out and, not routed, so does its row. */
    memset(&r, 0, sizeof r);
    CHECK_OK(lo_ops_deployment_stats(s, "ab", t0, on_arm, &r));
    CHECK_INT_EQ(r.n, 3);
    if (r.n == 3) CHECK_STR_EQ(r.a[2].model_ref, "gpt-x");
    /* A new canary arm shows before it has served anything. */
    CHECK_OK(lo_ops_deploy(s, "ab", "arm@1", "arm@3", 10, false, NULL));
    memset(&r, 0, sizeof r);
    CHECK_OK(lo_ops_deployment_stats(s, "ab", t0, on_arm, &r));
    CHECK_INT_EQ(r.n, 4);
    if (r.n == 4) {
        CHECK_STR_EQ(r.a[1].model_ref, "arm@3");
        CHECK(near(r.a[1].weight, 10));
        CHECK_INT_EQ(r.a[1].requests, 0);
        CHECK(r.a[1].latency_p50_ms < 0 && r.a[1].tokens_per_s < 0);
        CHECK_STR_EQ(r.a[2].model_ref, "gpt-x");
        CHECK_STR_EQ(r.a[3].model_ref, "arm@2"); /* served, no longer routed */
        CHECK(r.a[3].weight == 0 && r.a[3].requests == 2);
    }
    CHECK_INT_EQ(lo_ops_deployment_stats(s, "nope", 0, on_arm, &r), LO_ERR_NOT_FOUND);
    CHECK_INT_EQ(lo_ops_deployment_stats(s, "bad name", 0, on_arm, &r), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_ops_deployment_stats(s, "ab", -1, on_arm, &r), LO_ERR_RANGE);
    lo_store_close(s);
}

/* Pure functions: redaction cases and the Luhn check. */
static void ops_contract_redact(void) {
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"write to a.b-c+tag@mail.example.co.uk today", "write to [EMAIL] today"},
        {"not@an-address, x@y, @z.com", "not@an-address, x@y, @z.com"},
        {"call +44 20 7946 0958 or 555-1234", "call [PHONE] or [PHONE]"},
        {"(212) 555-0100.", "[PHONE]."},
        {"visa 4111-1111-1111-1111 amex 378282246310005", "visa [CARD] amex [CARD]"},
        {"order 1234567 on 2024-01-15 at 10:30, v1.2.3", "order 1234567 on 2024-01-15 at 10:30, v1.2.3"},
        {"bad card 4111 1111 1111 1112", "bad card 4111 1111 1111 1112"},
        {"id abc4111111111111111 x", "id abc4111111111111111 x"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out = NULL;
        CHECK_OK(lo_ops_redact(cases[i].in, &out, NULL));
        CHECK_STR_EQ(out, cases[i].out);
        lo_free(out);
    }
    CHECK(lo_ops_luhn_valid("79927398713", 11));
    CHECK(!lo_ops_luhn_valid("79927398710", 11));
    CHECK(!lo_ops_luhn_valid("", 0));
    int n = 0;
    char *out = NULL;
    CHECK_OK(lo_ops_redact("a@b.io 4111111111111111 +1 555 123 4567", &out, &n));
    CHECK_INT_EQ(n, 3);
    lo_free(out);
}


/* Four connections register four files under one name and deploy at once: every
 * registration succeeds with a distinct version, every deploy with a distinct revision. */
typedef struct race_arg {
    const char *url, *path;
    int version;
    int64_t revision;
    lo_status st;
} race_arg;

static void *race_main(void *p) {
    race_arg *a = p;
    lo_store *s = NULL;
    a->st = lo_store_open(a->url, &s);
    lo_ops_model m;
    if (a->st == LO_OK) a->st = lo_ops_model_register(s, "race", a->path, 0, NULL, &m, NULL);
    if (a->st == LO_OK) a->version = atoi(m.version);
    lo_ops_deployment *d = malloc(sizeof *d);
    char ref[64];
    snprintf(ref, sizeof ref, "race@%d", a->version);
    if (a->st == LO_OK) a->st = lo_ops_deploy(s, "race-dep", ref, NULL, 0, false, d);
    if (a->st == LO_OK) a->revision = d->revision;
    free(d);
    lo_store_close(s);
    return NULL;
}

static void ops_contract_concurrent(const ops_env *e) {
    char *url = e->fresh_url(e->ctx);
    lo_store *s = NULL;
    CHECK_OK(lo_store_open(url, &s)); /* migrate once up front */
    lo_store_close(s);
    char paths[4][512];
    race_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/race%d.gguf", e->dir, i);
        ops_write_gguf(paths[i], 100.0f + (float)i);
        a[i] = (race_arg){url, paths[i], 0, 0, LO_OK};
    }
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&th[i], NULL, race_main, &a[i]) == 0);
    int seen = 0, revs = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_MSG(a[i].st == LO_OK, "racer %d: status %d", i, (int)a[i].st);
        if (a[i].version >= 1 && a[i].version <= 4) seen |= 1 << (a[i].version - 1);
        if (a[i].revision >= 1 && a[i].revision <= 4) revs |= 1 << (a[i].revision - 1);
    }
    CHECK_INT_EQ(seen, 15);
    CHECK_INT_EQ(revs, 15);
    free(url);
}

static void ops_contract_run_all(const ops_env *e) {
    ops_contract_redact();
    ops_contract_datasets(e);
    ops_contract_models_runs(e);
    ops_contract_deploy(e);
    ops_contract_requests(e);
    ops_contract_stats(e);
    ops_contract_concurrent(e);
    lo_error_clear();
}

#endif
