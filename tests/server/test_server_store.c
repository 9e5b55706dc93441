/* server with a store, on a SQLite file and (LLMOPS_TEST_PG) on PostgreSQL: two model
 * versions (stories260K F32 and F16) deployed 90/10 and served by the deployment's name
 * (shares, sticky users), store keys (401, 403, budget and rate-limit 429s, revocation),
 * request-log rows with the response ids, tokens and keys (after a flush and after
 * shutdown), POST /v1/feedback (200 stored, 400, 404), the /api/ endpoints' shapes and
 * roles, per-arm /metrics, and no library memory left. */
#include <pthread.h>
#include <unistd.h>

#include "check.h"
#include "llmops/llmops.h"
#include "pg_schema.h"

#include "server/http_check.h"

static char path_f32[512], path_f16[512];

typedef struct keys {
    char admin[LO_OPS_KEY_SECRET_BYTES], infer[LO_OPS_KEY_SECRET_BYTES], budget[LO_OPS_KEY_SECRET_BYTES],
        rate[LO_OPS_KEY_SECRET_BYTES], doomed[LO_OPS_KEY_SECRET_BYTES];
    lo_ops_key infer_k;
} keys;

/* A completion by name with a key: the response (caller frees). */
static res complete(const char *model, const char *user, const char *key, int max_tokens) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"prompt\":\"Once upon a time\",\"max_tokens\":%d,\"temperature\":0%s%s%s}", model,
             max_tokens, user ? ",\"user\":\"" : "", user ? user : "", user ? "\"" : "");
    return call("POST", "/v1/completions", body, 0, key);
}

/* The one value of a query with one text parameter (NULL = none), as int64. */
static int64_t q_i64(lo_store *st, const char *sql, const char *param) {
    lo_stmt *q = NULL;
    bool row = false;
    int64_t v = -1;
    if (lo_store_prepare(st, sql, &q) != LO_OK) return -2;
    if (param) lo_store_bind_text(q, 1, param);
    if (lo_store_step(q, &row) == LO_OK && row) v = lo_store_column_int64(q, 0);
    lo_store_finalize(q);
    return v;
}

/* Streams a long completion and hangs up after the first chunk; *id gets the response id. */
typedef struct hangup {
    char id[64];
} hangup;
static bool hang_up(void *user, const char *d, size_t n) {
    hangup *h = user;
    const char *p = memmem(d, n, "\"id\":\"cmpl-", 11);
    if (p && (size_t)(p - d) + 6 + 21 <= n) snprintf(h->id, sizeof h->id, "%.21s", p + 6);
    return h->id[0] == '\0';
}
static void stream_and_hang_up(const char *key, char *id, size_t cap) {
    char url[256], auth[128];
    snprintf(url, sizeof url, "%s/v1/completions", base);
    snprintf(auth, sizeof auth, "Bearer %s", key);
    lo_http_header h = {"Authorization", auth};
    const char *body = "{\"model\":\"chat\",\"prompt\":\"Once upon a time\",\"max_tokens\":100,\"ignore_eos\":true,"
                       "\"temperature\":0,\"stream\":true}";
    hangup hu = {{0}};
    lo_http_client_req q = {.method = "POST",
                            .url = url,
                            .headers = &h,
                            .n_headers = 1,
                            .body = body,
                            .body_len = strlen(body),
                            .timeout_s = 60,
                            .on_data = hang_up,
                            .user = &hu};
    lo_http_client_resp r;
    if (lo_http_fetch(&q, &r) == LO_OK) lo_http_client_resp_free(&r);
    snprintf(id, cap, "%s", hu.id);
}

static void setup_store(lo_store *st, keys *k) {
    lo_ops_model m1, m2;
    CHECK_OK(lo_ops_model_register(st, "tiny", path_f32, 0, NULL, &m1, NULL));
    CHECK_OK(lo_ops_model_register(st, "tiny", path_f16, 0, NULL, &m2, NULL));
    CHECK_STR_EQ(m2.version, "2");
    CHECK_OK(lo_ops_deploy(st, "chat", "tiny@1", "tiny@2", 10, false, NULL));
    CHECK_OK(lo_ops_deploy(st, "pinned", "tiny@1", "tiny@2", 50, true, NULL));
    /* $0.1 per token: a 5-token prompt + 4 tokens costs $0.90 */
    CHECK_OK(lo_ops_price_set(st, "tiny", 100000, 100000));
    lo_ops_key kk;
    CHECK_OK(lo_ops_key_create(st, "admin", LO_OPS_ROLE_ADMIN, 0, 0, k->admin, &kk));
    CHECK_OK(lo_ops_key_create(st, "app", LO_OPS_ROLE_INFERENCE, 0, 0, k->infer, &k->infer_k));
    CHECK_OK(lo_ops_key_create(st, "small", LO_OPS_ROLE_INFERENCE, 1.0, 0, k->budget, &kk));
    CHECK_OK(lo_ops_key_create(st, "slow", LO_OPS_ROLE_INFERENCE, 0, 3, k->rate, &kk));
    CHECK_OK(lo_ops_key_create(st, "doomed", LO_OPS_ROLE_INFERENCE, 0, 0, k->doomed, &kk));
    int64_t run = 0;
    CHECK_OK(lo_ops_run_create(st, "eval", "{\"lr\":0.1}", NULL, "tiny@1", &run));
    CHECK_OK(lo_ops_run_log_metric(st, run, 1, "loss", 2.5));
    CHECK_OK(lo_ops_run_add_artifact(st, run, path_f32));
}

static void check_models_and_routing(lo_store *st, const keys *k) {
    res r = call("GET", "/v1/models", NULL, 0, k->infer);
    CHECK_INT_EQ(r.status, 200);
    int seen = 0;
    for (size_t i = 0; i < json_array_size(jget(r.json, "data")); i++) {
        char p[32];
        snprintf(p, sizeof p, "data.%zu.id", i);
        const char *id = jstr(r.json, p);
        if (!id) continue;
        if (strcmp(id, "chat") == 0) seen |= 1;
        if (strcmp(id, "pinned") == 0) seen |= 2;
        if (strcmp(id, "tiny@1") == 0) seen |= 4;
        if (strcmp(id, "tiny@2") == 0) seen |= 8;
        if (strcmp(id, "plain") == 0) seen |= 16;
    }
    CHECK_INT_EQ(seen, 31);
    CHECK_STR_EQ(jstr(r.json, "data.0.deployment.routes.1.model"), "tiny@2");
    res_free(&r);
    r = call("GET", "/v1/models/chat", NULL, 0, k->infer);
    CHECK_INT_EQ(json_integer_value(jget(r.json, "deployment.revision")), 1);
    res_free(&r);

    /* 100 requests by name: the canary gets ~10 (the exact split is tested in ops) */
    int canary = 0;
    for (int i = 0; i < 100; i++) {
        r = complete("chat", NULL, k->infer, 1);
        CHECK_INT_EQ(r.status, 200);
        const char *m = jstr(r.json, "model");
        if (m && strcmp(m, "tiny@2") == 0) canary++;
        res_free(&r);
    }
    CHECK_MSG(canary >= 7 && canary <= 13, "canary got %d of 100", canary);
    /* sticky: a user always lands on the same arm; users spread over both */
    char first[16] = "";
    for (int i = 0; i < 8; i++) {
        r = complete("pinned", "alice", k->infer, 1);
        const char *m = jstr(r.json, "model");
        if (i == 0 && m) snprintf(first, sizeof first, "%s", m);
        CHECK_STR_EQ(m, first);
        res_free(&r);
    }
    int arms = 0;
    for (int u = 0; u < 24; u++) {
        char user[16];
        snprintf(user, sizeof user, "user%d", u);
        r = complete("pinned", user, k->infer, 1);
        const char *m = jstr(r.json, "model");
        if (m) arms |= strcmp(m, "tiny@1") == 0 ? 1 : 2;
        res_free(&r);
    }
    CHECK_INT_EQ(arms, 3);
    /* -m models are served beside the deployments (logged without a deployment) */
    r = complete("plain", NULL, k->infer, 2);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(jstr(r.json, "model"), "plain");
    res_free(&r);
    (void)st;
}

static void check_keys(lo_store *st, const keys *k) {
    expect_error("no key", call("GET", "/v1/models", NULL, 0, NULL), 401, NULL);
    expect_error("unknown key",
                 call("GET", "/v1/models", NULL, 0, "lo_0123456789ab.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 401,
                 NULL);
    expect_error("not a key", call("GET", "/v1/models", NULL, 0, "hello"), 401, NULL);
    /* budget $1, $0.90 a request: the second passes (0.90 < 1), the third is refused */
    int ok = 0;
    res r = {0};
    for (int i = 0; i < 4; i++) {
        r = complete("chat", NULL, k->budget, 4);
        if (r.status != 200) break;
        ok++;
        res_free(&r);
    }
    CHECK_INT_EQ(ok, 2);
    CHECK_INT_EQ(r.status, 429);
    CHECK_STR_EQ(jstr(r.json, "error.type"), "insufficient_quota");
    CHECK_STR_EQ(r.hdr_retry, "");
    res_free(&r);
    /* after the cache's second the store says the same (its spend is logged now) */
    usleep(1100 * 1000);
    r = complete("chat", NULL, k->budget, 1);
    CHECK_INT_EQ(r.status, 429);
    CHECK_STR_EQ(jstr(r.json, "error.code"), "insufficient_quota");
    res_free(&r);
    /* 3 per minute: the fourth waits ~20 s */
    for (int i = 0; i < 3; i++) {
        r = call("GET", "/v1/models", NULL, 0, k->rate);
        CHECK_INT_EQ(r.status, 200);
        res_free(&r);
    }
    r = call("GET", "/v1/models", NULL, 0, k->rate);
    CHECK_INT_EQ(r.status, 429);
    CHECK_STR_EQ(jstr(r.json, "error.code"), "rate_limit_exceeded");
    CHECK_MSG(atoi(r.hdr_retry) >= 15 && atoi(r.hdr_retry) <= 21, "Retry-After %s", r.hdr_retry);
    res_free(&r);
    /* revoked: refused once the cached check expires */
    r = call("GET", "/v1/models", NULL, 0, k->doomed);
    CHECK_INT_EQ(r.status, 200);
    res_free(&r);
    CHECK_OK(lo_ops_key_revoke(st, "doomed"));
    usleep(1100 * 1000);
    expect_error("revoked", call("GET", "/v1/models", NULL, 0, k->doomed), 401, NULL);
}

static void check_log_and_feedback(lo_server *s, lo_store *st, const keys *k) {
    /* a 4xx after the deployment is known is logged as an error */
    CHECK_OK(lo_server_flush_log(s));
    int64_t errors0 = q_i64(st, "SELECT COUNT(*) FROM requests WHERE status = 'error'", NULL);
    expect_error(
        "bad temperature",
        call("POST", "/v1/completions", "{\"model\":\"chat\",\"prompt\":\"x\",\"temperature\":9}", 0, k->infer), 400,
        "temperature");
    /* feedback on a request whose record may still be queued: flushed, then stored */
    res r = complete("chat", "bob", k->infer, 3);
    CHECK_INT_EQ(r.status, 200);
    char id[64];
    snprintf(id, sizeof id, "%s", jstr(r.json, "id") ? jstr(r.json, "id") : "");
    int64_t pt = json_integer_value(jget(r.json, "usage.prompt_tokens"));
    int64_t ct = json_integer_value(jget(r.json, "usage.completion_tokens"));
    res_free(&r);
    char body[512];
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"thumbs\":\"up\",\"label\":\"good\",\"comment\":\"nice\"}",
             id);
    r = call("POST", "/v1/feedback", body, 0, k->infer);
    CHECK_INT_EQ(r.status, 200);
    CHECK(json_integer_value(jget(r.json, "id")) > 0);
    res_free(&r);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"rating\":2,\"corrected\":\"Better.\",\"author\":\"ann\"}",
             id);
    r = call("POST", "/v1/feedback", body, 0, k->infer);
    CHECK_INT_EQ(r.status, 200);
    res_free(&r);
    expect_error("feedback no key", call("POST", "/v1/feedback", body, 0, NULL), 401, NULL);
    expect_error("feedback no id", call("POST", "/v1/feedback", "{\"thumbs\":\"up\"}", 0, k->infer), 400, "request_id");
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"thumbs\":\"up\",\"rating\":3}", id);
    expect_error("feedback both", call("POST", "/v1/feedback", body, 0, k->infer), 400, "rating");
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"rating\":6}", id);
    expect_error("feedback rating", call("POST", "/v1/feedback", body, 0, k->infer), 400, "rating");
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"thumbs\":\"meh\"}", id);
    expect_error("feedback thumbs", call("POST", "/v1/feedback", body, 0, k->infer), 400, "thumbs");
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"thumbs\":\"up\",\"label\":7}", id);
    expect_error("feedback label", call("POST", "/v1/feedback", body, 0, k->infer), 400, "label");
    expect_error("feedback unknown",
                 call("POST", "/v1/feedback", "{\"request_id\":\"chatcmpl-nope\",\"thumbs\":\"down\"}", 0, k->infer),
                 404, "request_id");

    /* a streamed chat answer: its id from the chunks, its text in the logged content */
    r = call("POST", "/v1/chat/completions",
             "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi, I am ann@example.com\"}],"
             "\"max_tokens\":5,\"temperature\":0,\"stream\":true}",
             0, k->infer);
    CHECK_INT_EQ(r.status, 200);
    char sid[64] = "";
    const char *idp = r.body ? strstr(r.body, "\"id\":\"chatcmpl-") : NULL;
    if (idp) snprintf(sid, sizeof sid, "%.25s", idp + 6);
    res_free(&r);

    /* a client that hangs up mid-stream: the request is logged as canceled */
    char cid[64];
    stream_and_hang_up(k->infer, cid, sizeof cid);
    CHECK(cid[0] != '\0');
    for (int i = 0; i < 100 && q_i64(st, "SELECT COUNT(*) FROM requests WHERE external_id = ?", cid) != 1; i++) {
        usleep(20 * 1000);
        CHECK_OK(lo_server_flush_log(s));
    }
    CHECK_INT_EQ(
        q_i64(st,
              "SELECT COUNT(*) FROM requests WHERE external_id = ? AND status = 'canceled' AND completion_tokens < 100",
              cid),
        1);

    CHECK_OK(lo_server_flush_log(s));
    CHECK_INT_EQ(q_i64(st, "SELECT completion_tokens FROM requests WHERE external_id = ? AND status = 'ok'", sid), 5);
    CHECK_INT_EQ(q_i64(st,
                       "SELECT COUNT(*) FROM requests WHERE external_id = ? AND content LIKE '%[EMAIL]%' "
                       "AND content NOT LIKE '%ann@example%' AND content LIKE '%\"completion\":\"_%'",
                       sid),
                 1);
    CHECK_INT_EQ(q_i64(st, "SELECT COUNT(*) FROM requests WHERE status = 'error'", NULL), errors0 + 1);
    CHECK_INT_EQ(
        q_i64(st, "SELECT COUNT(*) FROM feedback f JOIN requests r ON r.id = f.request_id WHERE r.external_id = ?", id),
        2);
    CHECK_INT_EQ(q_i64(st, "SELECT prompt_tokens FROM requests WHERE external_id = ?", id), pt);
    CHECK_INT_EQ(q_i64(st, "SELECT completion_tokens FROM requests WHERE external_id = ?", id), ct);
    CHECK_INT_EQ(q_i64(st,
                       "SELECT COUNT(*) FROM requests r JOIN deployments d ON d.id = r.deployment_id "
                       "WHERE r.external_id = ? AND d.name = 'chat' AND r.user_id = 'bob' AND r.latency_ms > 0",
                       id),
                 1);
    lo_stmt *q = NULL;
    bool row = false;
    CHECK_OK(lo_store_prepare(st, "SELECT client_key, content FROM requests WHERE external_id = ?", &q));
    lo_store_bind_text(q, 1, id);
    CHECK_OK(lo_store_step(q, &row));
    CHECK(row);
    CHECK_STR_EQ(lo_store_column_text(q, 0), k->infer_k.key_id);
    /* --log-content: the prompt as a user message and the completion */
    const char *content = lo_store_column_text(q, 1);
    CHECK_MSG(content && strstr(content, "\"Once upon a time\"") && strstr(content, "\"completion\""), "content %s",
              content ? content : "(null)");
    lo_store_finalize(q);
    /* every routed request of the deployment is a row: 100 + the budget key's 2 + bob's 1 */
    CHECK(q_i64(st,
                "SELECT COUNT(*) FROM requests r JOIN deployments d ON d.id = r.deployment_id WHERE d.name = 'chat' "
                "AND r.status = 'ok'",
                NULL) >= 103);
    CHECK_INT_EQ(q_i64(st, "SELECT COUNT(*) FROM requests WHERE model_name = 'plain'", NULL), 1);
}

static void check_api(const keys *k) {
    static const char *const lists[] = {"/api/datasets",
                                        "/api/runs",
                                        "/api/models",
                                        "/api/deployments",
                                        "/api/requests?limit=5",
                                        "/api/costs?by=deployment",
                                        "/api/keys",
                                        "/api/deployments/chat/stats"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        res r = call("GET", lists[i], NULL, 0, k->admin);
        CHECK_MSG(r.status == 200 && json_is_array(jget(r.json, "data")), "%s: %ld %.200s", lists[i], r.status, r.body);
        res_free(&r);
        expect_error(lists[i], call("GET", lists[i], NULL, 0, k->infer), 403, NULL);
        expect_error(lists[i], call("GET", lists[i], NULL, 0, NULL), 401, NULL);
    }
    res r = call("GET", "/api/requests?limit=5", NULL, 0, k->admin);
    CHECK_INT_EQ(json_array_size(jget(r.json, "data")), 5);
    CHECK(jstr(r.json, "data.0.id") != NULL);
    CHECK(json_integer_value(jget(r.json, "data.0.created_at")) >=
          json_integer_value(jget(r.json, "data.4.created_at")));
    res_free(&r);
    r = call("GET", "/api/models", NULL, 0, k->admin);
    CHECK_INT_EQ(json_array_size(jget(r.json, "data")), 2);
    CHECK(json_is_object(jget(r.json, "data.0.metadata")));
    res_free(&r);
    r = call("GET", "/api/deployments/chat/stats", NULL, 0, k->admin);
    CHECK_INT_EQ(json_array_size(jget(r.json, "data")), 2);
    CHECK(json_integer_value(jget(r.json, "data.0.requests")) > 0);
    res_free(&r);
    r = call("GET", "/api/keys", NULL, 0, k->admin);
    CHECK_INT_EQ(json_array_size(jget(r.json, "data")), 5);
    CHECK(r.body && !strstr(r.body, k->admin) && !strstr(r.body, k->infer) && !strstr(r.body, "hash") &&
          !strstr(r.body, "salt"));
    res_free(&r);
    r = call("GET", "/api/runs", NULL, 0, k->admin);
    char path[64];
    snprintf(path, sizeof path, "/api/runs/%lld", (long long)json_integer_value(jget(r.json, "data.0.id")));
    res_free(&r);
    r = call("GET", path, NULL, 0, k->admin);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(jstr(r.json, "metrics.0.name"), "loss");
    CHECK_INT_EQ(json_integer_value(jget(r.json, "artifacts.0.bytes")) > 0, 1);
    CHECK(json_is_object(jget(r.json, "params")));
    res_free(&r);
    r = call("GET", "/api/costs?by=key", NULL, 0, k->admin);
    CHECK(json_real_value(jget(r.json, "data.0.cost_usd")) > 0);
    res_free(&r);
    expect_error("run 404", call("GET", "/api/runs/999999", NULL, 0, k->admin), 404, NULL);
    expect_error("run id", call("GET", "/api/runs/x", NULL, 0, k->admin), 404, NULL);
    expect_error("stats 404", call("GET", "/api/deployments/nope/stats", NULL, 0, k->admin), 404, NULL);
    expect_error("api 404", call("GET", "/api/nope", NULL, 0, k->admin), 404, NULL);
    expect_error("limit", call("GET", "/api/requests?limit=0", NULL, 0, k->admin), 400, "limit");
    expect_error("by", call("GET", "/api/costs?by=color", NULL, 0, k->admin), 400, "by");
    expect_error("since", call("GET", "/api/costs?since=yesterday", NULL, 0, k->admin), 400, "since");
    expect_error("api post", call("POST", "/api/keys", "{}", 0, k->admin), 405, NULL);

    /* per-arm series */
    r = call("GET", "/metrics", NULL, 0, k->admin);
    CHECK(r.body &&
          strstr(r.body, "llmops_deployment_requests_total{deployment=\"chat\",model=\"tiny@2\",status=\"ok\"}"));
    CHECK(r.body && strstr(r.body, "llmops_deployment_cost_usd_total{deployment=\"chat\",model=\"tiny@1\"}"));
    CHECK(r.body && strstr(r.body, "llmops_request_log_records_total{state=\"written\"}"));
    res_free(&r);
}

static void run_suite(const char *url) {
    fprintf(stderr, "-- %s\n", strncmp(url, "sqlite:", 7) == 0 ? "sqlite" : "postgres");
    size_t live0 = lo_alloc_live_bytes();
    lo_store *st = NULL;
    CHECK_OK(lo_store_open(url, &st));
    if (!st) return;
    keys k;
    setup_store(st, &k);

    lo_server_params p;
    lo_server_params_default(&p);
    p.port = 0;
    p.n_parallel = 4;
    p.n_ctx = 128;
    p.n_threads = 1;
    p.store_url = url;
    p.log_content = true;
    p.log_flush_ms = 50;
    p.key_cache_s = 1;
    lo_server *s = NULL;
    CHECK_OK(lo_server_create(&p, &s));
    CHECK(lo_server_add_deployment(s, "nope") == LO_ERR_NOT_FOUND);
    CHECK_OK(lo_server_add_deployment(s, NULL));
    CHECK_OK(lo_server_add_model(s, path_f32, "plain"));
    CHECK(lo_server_add_model(s, path_f32, "chat") == LO_ERR_INVALID); /* a deployment's name */
    CHECK_OK(lo_server_start(s));
    snprintf(base, sizeof base, "http://127.0.0.1:%d", lo_server_port(s));

    check_models_and_routing(st, &k);
    check_keys(st, &k);
    check_log_and_feedback(s, st, &k);
    check_api(&k);

    /* shutdown writes what the log holds */
    res r = complete("chat", NULL, k.infer, 2);
    char id[64];
    snprintf(id, sizeof id, "%s", jstr(r.json, "id") ? jstr(r.json, "id") : "");
    res_free(&r);
    lo_server_free(s);
    CHECK_INT_EQ(q_i64(st, "SELECT COUNT(*) FROM requests WHERE external_id = ?", id), 1);
    lo_store_close(st);
    size_t live1 = lo_alloc_live_bytes();
    CHECK_MSG(live1 <= live0, "library memory %zu bytes before, %zu after", live0, live1);
}

int main(void) {
    check_shared("models/stories260K.gguf", path_f32, sizeof path_f32);
    check_shared("models/quant/stories260K-F16.gguf", path_f16, sizeof path_f16);
    char dir[] = "/tmp/lo_server_store_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/llmops.db", dir);
    run_suite(url);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    if (getenv("LLMOPS_TEST_PG") && getenv("LLMOPS_TEST_PG")[0]) {
        pg_schema pg;
        pg_schema_connect(&pg, "srvstore");
        char *pg_url = pg_schema_fresh(&pg);
        run_suite(pg_url);
        free(pg_url);
        pg_schema_close(&pg);
    } else {
        fprintf(stderr, "PostgreSQL part skipped: LLMOPS_TEST_PG is not set\n");
    }
    return check_done();
}
