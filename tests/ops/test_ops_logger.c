/* The asynchronous request logger (lo_ops_logger_*) on a SQLite file and, when
 * LLMOPS_TEST_PG is set, on PostgreSQL: concurrent submits all written with the right
 * fields, batching, the flush_ms bound, a full queue, stop draining, deep copies,
 * failing batches (isolated or dropped, logged once) and no memory left behind. */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "ops_fixture.h"
#include "pg_schema.h"

#define N_THREADS 4
#define N_PER_THREAD 2000

/* Two handles on one fresh store: one for the logger's thread, one for checking. */
typedef struct pair {
    lo_store *log, *check;
    int64_t model_id;
} pair;

static bool open_pair(const ops_env *e, pair *p) {
    char *url = e->fresh_url(e->ctx);
    p->log = p->check = NULL;
    CHECK_OK(lo_store_open(url, &p->log));
    CHECK_OK(lo_store_open(url, &p->check));
    free(url);
    if (!p->log || !p->check) return false;
    char path[512];
    snprintf(path, sizeof path, "%s/logger.gguf", e->dir);
    ops_write_gguf(path, 7.0f);
    lo_ops_model m;
    CHECK_OK(lo_ops_model_register(p->check, "tiny", path, 0, NULL, &m, NULL));
    CHECK_OK(lo_ops_deploy(p->check, "web", "tiny@1", NULL, 0, false, NULL));
    CHECK_OK(lo_ops_price_set(p->check, "tiny", 1.0, 10.0)); /* $1 / $10 per M tokens */
    p->model_id = m.id;
    return true;
}

static void close_pair(pair *p) {
    lo_store_close(p->log);
    lo_store_close(p->check);
}

/* A fresh pair with a logger started on its log handle; NULL (pair closed) on failure. */
static lo_ops_logger *start_on_pair(const ops_env *e, pair *p, const lo_ops_logger_params *prm) {
    lo_ops_logger *l = NULL;
    if (open_pair(e, p)) CHECK_OK(lo_ops_logger_start(p->log, prm, &l));
    if (!l) close_pair(p);
    return l;
}

static lo_ops_request make_req(const char *ext, int64_t model_id, int64_t i) {
    return (lo_ops_request){.external_id = ext, .deployment = "web", .model_id = model_id, .prompt_tokens = i,
                            .completion_tokens = 2 * i, .cost_usd = -1, .queue_ms = -1, .ttft_ms = (double)(i % 50),
                            .latency_ms = (double)i + 0.5, .status = "ok", .user = "someone"};
}

static int64_t count_where(lo_store *s, const char *fmt, const char *arg) {
    char sql[512];
    snprintf(sql, sizeof sql, fmt, arg);
    return ops_count(s, sql);
}

/* ---- 4 threads × 2000 submits ----------------------------------------------------------- */

typedef struct submitter {
    lo_ops_logger *l;
    int t;
    int64_t model_id;
    int n_fail;
} submitter;

static void *submit_main(void *arg) {
    submitter *a = arg;
    char ext[32], user[16];
    snprintf(user, sizeof user, "u%d", a->t);
    for (int i = 0; i < N_PER_THREAD; i++) {
        snprintf(ext, sizeof ext, "t%d-%d", a->t, i);
        lo_ops_request q = make_req(ext, a->model_id, i);
        q.user = user; /* overwritten next round: the logger must have copied it */
        if (lo_ops_logger_submit(a->l, &q) != LO_OK) a->n_fail++;
    }
    return NULL;
}

static void test_concurrent(const ops_env *e) {
    lo_ops_logger_params prm;
    lo_ops_logger_params_default(&prm);
    prm.flush_ms = 50;
    pair p;
    lo_ops_logger *l = start_on_pair(e, &p, &prm);
    if (!l) return;
    pthread_t th[N_THREADS];
    submitter a[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        a[t] = (submitter){l, t, p.model_id, 0};
        CHECK(pthread_create(&th[t], NULL, submit_main, &a[t]) == 0);
    }
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK_INT_EQ(a[t].n_fail, 0);
    }
    CHECK_OK(lo_ops_logger_flush(l));
    lo_ops_logger_stats st;
    lo_ops_logger_stats_get(l, &st);
    int64_t total = N_THREADS * N_PER_THREAD;
    CHECK_INT_EQ(st.submitted, total);
    CHECK_INT_EQ(st.written, total);
    CHECK_INT_EQ(st.queued, 0);
    CHECK_INT_EQ(st.dropped, 0);
    CHECK_INT_EQ(st.failed, 0);
    CHECK_INT_EQ(st.failed_batches, 0);
    /* Batching really happened: far fewer transactions than records. */
    CHECK_MSG(st.batches >= total / prm.max_batch && st.batches < total / 4, "%lld batches", (long long)st.batches);
    CHECK_INT_EQ(ops_count(p.check, "SELECT COUNT(*) FROM requests"), total);
    for (int t = 0; t < N_THREADS; t++) {
        char pat[16], user[16];
        snprintf(pat, sizeof pat, "t%d-%%", t);
        snprintf(user, sizeof user, "u%d", t);
        CHECK_INT_EQ(count_where(p.check, "SELECT COUNT(*) FROM requests WHERE external_id LIKE '%s'", pat), N_PER_THREAD);
        CHECK_INT_EQ(count_where(p.check, "SELECT COUNT(*) FROM requests WHERE user_id = '%s'", user), N_PER_THREAD);
    }
    /* Sums over i = 0..1999 per thread: prompt Σi, completion 2Σi. */
    int64_t sum_i = (int64_t)N_PER_THREAD * (N_PER_THREAD - 1) / 2;
    CHECK_INT_EQ(ops_count(p.check, "SELECT CAST(SUM(prompt_tokens) AS BIGINT) FROM requests"), N_THREADS * sum_i);
    CHECK_INT_EQ(ops_count(p.check, "SELECT CAST(SUM(completion_tokens) AS BIGINT) FROM requests"), 2 * N_THREADS * sum_i);
    /* One row in full: t2-1234. Cost from the price: 1234 × 1/1e6 + 2468 × 10/1e6. */
    lo_stmt *q = NULL;
    bool row = false;
    CHECK_OK(lo_store_prepare(p.check,
                              "SELECT r.prompt_tokens, r.completion_tokens, r.cost_usd, r.ttft_ms, r.latency_ms, r.status, "
                              "r.user_id, r.model_id, d.name, r.queue_ms, r.created_at FROM requests r "
                              "JOIN deployments d ON d.id = r.deployment_id WHERE r.external_id = 't2-1234'",
                              &q));
    CHECK_OK(lo_store_step(q, &row));
    CHECK(row);
    if (row) {
        CHECK_INT_EQ(lo_store_column_int64(q, 0), 1234);
        CHECK_INT_EQ(lo_store_column_int64(q, 1), 2468);
        CHECK(fabs(lo_store_column_double(q, 2) - (1234e-6 + 24680e-6)) < 1e-12);
        CHECK(lo_store_column_double(q, 3) == 34);
        CHECK(lo_store_column_double(q, 4) == 1234.5);
        CHECK_STR_EQ(lo_store_column_text(q, 5), "ok");
        CHECK_STR_EQ(lo_store_column_text(q, 6), "u2");
        CHECK_INT_EQ(lo_store_column_int64(q, 7), p.model_id);
        CHECK_STR_EQ(lo_store_column_text(q, 8), "web");
        CHECK(lo_store_column_is_null(q, 9));
        CHECK(llabs(lo_store_column_int64(q, 10) - lo_store_now_ms()) < 60000); /* stamped at submit */
    }
    lo_store_finalize(q);
    /* Content was not logged (log_content off). */
    CHECK_INT_EQ(ops_count(p.check, "SELECT COUNT(*) FROM requests WHERE content IS NOT NULL"), 0);
    lo_ops_logger_stop(l);
    close_pair(&p);
}

/* ---- flush_ms bound, deep copies, validation ---------------------------------------------- */

static void test_flush_ms(const ops_env *e) {
    lo_ops_logger_params prm;
    lo_ops_logger_params_default(&prm);
    prm.flush_ms = 150;
    prm.log_content = true;
    pair p;
    lo_ops_logger *l = start_on_pair(e, &p, &prm);
    if (!l) return;
    /* The strings live in buffers the caller reuses at once. */
    char ext[16] = "solo", msgs[128] = "[{\"role\":\"user\",\"content\":\"mail a@example.com\"}]", answer[32] = "fine";
    lo_ops_request q = make_req(ext, p.model_id, 7);
    q.messages_json = msgs, q.completion = answer;
    double t0 = lo_time_sec();
    CHECK_OK(lo_ops_logger_submit(l, &q));
    memset(ext, 'x', sizeof ext - 1), memset(msgs, 0, sizeof msgs), memset(answer, '?', sizeof answer - 1);
    /* Visible within flush_ms plus slack, without a flush, and not before flush_ms. */
    double seen = -1;
    while (lo_time_sec() - t0 < 3.0) {
        if (ops_count(p.check, "SELECT COUNT(*) FROM requests WHERE external_id = 'solo'") == 1) {
            seen = lo_time_sec() - t0;
            break;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    CHECK_MSG(seen >= 0.150 && seen < 0.150 + 0.85, "record visible after %.3f s (flush_ms 150)", seen);
    lo_stmt *st = NULL;
    bool row = false;
    CHECK_OK(lo_store_prepare(p.check, "SELECT content, content_redacted FROM requests WHERE external_id = 'solo'", &st));
    CHECK_OK(lo_store_step(st, &row));
    if (row) {
        CHECK_STR_EQ(lo_store_column_text(st, 0), "{\"messages\":[{\"role\":\"user\",\"content\":\"mail [EMAIL]\"}],\"completion\":\"fine\"}");
        CHECK_INT_EQ(lo_store_column_int64(st, 1), 1);
    }
    lo_store_finalize(st);
    /* A malformed record is refused at once and never queued. */
    q = make_req("bad", p.model_id, 1);
    q.prompt_tokens = -1;
    CHECK_INT_EQ(lo_ops_logger_submit(l, &q), LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "prompt_tokens") != NULL);
    q = make_req("bad", p.model_id, 1);
    q.status = NULL;
    CHECK_INT_EQ(lo_ops_logger_submit(l, &q), LO_ERR_INVALID);
    lo_ops_logger_stats s;
    lo_ops_logger_stats_get(l, &s);
    CHECK_INT_EQ(s.submitted, 1);
    CHECK_INT_EQ(s.written, 1);
    CHECK_INT_EQ(s.batches, 1);
    CHECK_OK(lo_ops_logger_flush(l)); /* nothing pending: returns at once */
    lo_ops_logger_stop(l);
    /* Parameters are checked. */
    prm.max_batch = 0;
    CHECK_INT_EQ(lo_ops_logger_start(p.log, &prm, &l), LO_ERR_RANGE);
    CHECK(l == NULL);
    lo_ops_logger_params_default(&prm);
    prm.flush_ms = -1;
    CHECK_INT_EQ(lo_ops_logger_start(p.log, &prm, &l), LO_ERR_RANGE);
    lo_ops_logger_params_default(&prm);
    prm.max_queue = 0;
    CHECK_INT_EQ(lo_ops_logger_start(p.log, &prm, &l), LO_ERR_RANGE);
    CHECK_INT_EQ(lo_ops_logger_start(NULL, NULL, &l), LO_ERR_INVALID);
    lo_ops_logger_stop(NULL);
    close_pair(&p);
}

/* ---- a full queue, then stop drains it ------------------------------------------------- */

static void test_full_queue(const ops_env *e) {
    /* A batch larger than the queue and a deadline far away: nothing is written until
     * stop, so the queue fills deterministically. */
    lo_ops_logger_params prm;
    lo_ops_logger_params_default(&prm);
    prm.max_queue = 10;
    prm.max_batch = 1000;
    prm.flush_ms = 3600000;
    pair p;
    lo_ops_logger *l = start_on_pair(e, &p, &prm);
    if (!l) return;
    int ok = 0, busy = 0;
    for (int i = 0; i < 15; i++) {
        char ext[16];
        snprintf(ext, sizeof ext, "q%d", i);
        lo_ops_request q = make_req(ext, p.model_id, i);
        lo_status r = lo_ops_logger_submit(l, &q);
        if (r == LO_OK) ok++;
        else if (r == LO_ERR_BUSY) busy++;
    }
    CHECK_INT_EQ(ok, 10);
    CHECK_INT_EQ(busy, 5);
    CHECK(strstr(lo_error_message(), "full") != NULL);
    lo_ops_logger_stats s;
    lo_ops_logger_stats_get(l, &s);
    CHECK_INT_EQ(s.submitted, 10);
    CHECK_INT_EQ(s.dropped, 5);
    CHECK_INT_EQ(s.queued, 10);
    CHECK_INT_EQ(s.written, 0);
    CHECK_INT_EQ(ops_count(p.check, "SELECT COUNT(*) FROM requests"), 0);
    lo_ops_logger_stop(l); /* drains: the 10 accepted records are written */
    CHECK_INT_EQ(ops_count(p.check, "SELECT COUNT(*) FROM requests"), 10);
    CHECK_INT_EQ(ops_count(p.check, "SELECT COUNT(*) FROM requests WHERE external_id IN ('q0', 'q9')"), 2);
    CHECK_INT_EQ(ops_count(p.check, "SELECT COUNT(*) FROM requests WHERE external_id = 'q10'"), 0);
    close_pair(&p);
}

/* ---- failures: isolated bad records, dropped batches, logged once ------------------------ */

/* The number of lines of the file at path that contain needle. */
static int count_stderr_lines(const char *path, const char *needle) {
    char *text = NULL;
    size_t n = 0;
    int hits = 0;
    if (lo_read_file(path, &text, &n) != LO_OK) return -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) hits += strstr(line, needle) != NULL;
    lo_free(text);
    return hits;
}

static void submit_range(lo_ops_logger *l, int64_t model_id, const char *prefix, int from, int to) {
    for (int i = from; i < to; i++) {
        char ext[32];
        snprintf(ext, sizeof ext, "%s%d", prefix, i);
        lo_ops_request q = make_req(ext, model_id, i);
        CHECK_OK(lo_ops_logger_submit(l, &q));
    }
}

static void test_failures(const ops_env *e) {
    lo_ops_logger_params prm;
    lo_ops_logger_params_default(&prm);
    prm.flush_ms = 2000; /* flush decides when batches go: each burst is one batch */
    pair p;
    lo_ops_logger *l = start_on_pair(e, &p, &prm);
    if (!l) return;
    /* What the logger writes to stderr goes to a file, to count its lines. */
    char errpath[512];
    snprintf(errpath, sizeof errpath, "%s/logger-stderr.txt", e->dir);
    fflush(stderr);
    int saved = dup(2), fd = open(errpath, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    CHECK(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);

    /* A batch with a duplicate external id and an unknown deployment: the batch fails on
     * its data, its records are written once each, and only the two bad ones are lost. */
    submit_range(l, p.model_id, "a", 0, 5);
    lo_ops_request dup_q = make_req("a3", p.model_id, 3), ghost = make_req("g", p.model_id, 1);
    ghost.deployment = "ghost";
    CHECK_OK(lo_ops_logger_submit(l, &dup_q));
    CHECK_OK(lo_ops_logger_submit(l, &ghost));
    submit_range(l, p.model_id, "b", 0, 5);
    lo_status fr = lo_ops_logger_flush(l);
    lo_ops_logger_stats s;
    lo_ops_logger_stats_get(l, &s);
    CHECK_INT_EQ(fr, LO_ERR_IO);
    CHECK(strstr(lo_error_message(), "2 records") != NULL);
    CHECK_INT_EQ(s.submitted, 12);
    CHECK_INT_EQ(s.written, 10);
    CHECK_INT_EQ(s.failed, 2);
    CHECK(s.failed_batches >= 2);
    CHECK_INT_EQ(ops_count(p.check, "SELECT COUNT(*) FROM requests WHERE external_id LIKE 'a%' OR external_id LIKE 'b%'"), 10);

    /* The table is gone (an operator's mistake, a store being restored): each batch
     * fails as a whole and is dropped, and the error is logged once rather than per
     * batch (SQLite words its first failure differently — "step:" then "prepare:" — so
     * at most two lines for five batches). */
    CHECK_OK(lo_store_exec(p.check, "ALTER TABLE requests RENAME TO requests_away"));
    for (int k = 0; k < 5; k++) {
        char prefix[8];
        snprintf(prefix, sizeof prefix, "x%d-", k);
        submit_range(l, p.model_id, prefix, 0, 4);
        CHECK_INT_EQ(lo_ops_logger_flush(l), LO_ERR_IO);
    }
    lo_ops_logger_stats_get(l, &s);
    CHECK_INT_EQ(s.failed, 2 + 20);
    CHECK_INT_EQ(s.queued, 0);
    CHECK_OK(lo_store_exec(p.check, "ALTER TABLE requests_away RENAME TO requests"));
    submit_range(l, p.model_id, "y", 0, 3);
    CHECK_OK(lo_ops_logger_flush(l));
    lo_ops_logger_stats_get(l, &s);
    CHECK_INT_EQ(s.written, 13);
    CHECK_INT_EQ(s.submitted, s.written + s.failed + s.queued);
    lo_ops_logger_stop(l);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    int missing_table = count_stderr_lines(errpath, "request log: writing a batch failed, 4 records lost");
    CHECK_MSG(missing_table >= 1 && missing_table <= 2, "the lost table's error was logged %d times", missing_table);
    if (check_failures_) { /* show what the logger wrote */
        char *text = NULL;
        size_t n = 0;
        if (lo_read_file(errpath, &text, &n) == LO_OK) fprintf(stderr, "--- logger stderr:\n%s---\n", text);
        lo_free(text);
    }
    CHECK_INT_EQ(count_stderr_lines(errpath, "request log: writing again after"), 1);
    CHECK(count_stderr_lines(errpath, "ghost") >= 1);
    CHECK_INT_EQ(ops_count(p.check, "SELECT COUNT(*) FROM requests WHERE external_id LIKE 'y%'"), 3);
    close_pair(&p);
}

static void run_all(const ops_env *e) {
    test_concurrent(e);
    test_flush_ms(e);
    test_full_queue(e);
    test_failures(e);
}

static char *fresh_sqlite(void *ctx) {
    static int n;
    char *url = malloc(600);
    snprintf(url, 600, "sqlite:%s/s%d.db", (const char *)ctx, ++n);
    return url;
}

int main(void) {
    char dir[] = "/tmp/lo-ops-logger-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    ops_env sq = {fresh_sqlite, dir, dir};
    run_all(&sq);
    const char *pg = getenv("LLMOPS_TEST_PG");
    if (pg && pg[0]) {
        pg_schema c;
        pg_schema_connect(&c, "lo_logger_test");
        ops_env pe = {pg_schema_fresh, &c, dir};
        run_all(&pe);
        pg_schema_close(&c);
    } else {
        fprintf(stderr, "note: LLMOPS_TEST_PG is not set; the PostgreSQL half was not run\n");
    }
    return ops_finish(dir);
}
