/* Request logging cost on each store backend: sustained rows/s through the asynchronous
 * logger (N records from 2 threads as fast as they go, then flush), the time
 * lo_ops_logger_submit adds to a request (p50/p99 over every call, saturated and at a paced
 * 20k requests/s), and the synchronous lo_ops_log_request for contrast.
 * usage: ops_log [--n N] [--sqlite-dir DIR] [--pg URL]   (bench/ops-log.sh starts PostgreSQL) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "llmops/llmops.h"

#define N_THREADS 2
#define PACED_PER_THREAD 10000
#define PACED_GAP_NS 100000 /* each thread every 100 µs: 20k requests/s in all */
#define N_SYNC 2000

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "ops_log: %s: %s\n", what, lo_error_message());
    if (lo_error_hint()[0]) fprintf(stderr, "hint: %s\n", lo_error_hint());
    exit(1);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of n samples (sorts them). */
static int64_t pct(int64_t *v, size_t n, int p) {
    if (!n) return -1;
    qsort(v, n, sizeof *v, cmp_i64);
    size_t rank = ((size_t)p * n + 99) / 100;
    return v[rank ? rank - 1 : 0];
}

/* A request as the server would log it: deployment, model version, tokens, timings. */
static lo_ops_request make_req(const char *ext, int64_t model_id, int64_t i) {
    return (lo_ops_request){.external_id = ext, .deployment = "bench", .model_id = model_id, .prompt_tokens = 100 + i % 400,
                            .completion_tokens = 20 + i % 200, .cost_usd = -1, .queue_ms = 0.2, .ttft_ms = 15 + (double)(i % 40),
                            .latency_ms = 300 + (double)(i % 900), .status = "ok", .client_key = "lo_0123456789ab",
                            .user = "user-1"};
}

typedef struct submitter {
    lo_ops_logger *l;
    int64_t model_id;
    int t, n;
    int64_t gap_ns;    /* 0 = as fast as possible */
    int64_t *lat_ns;   /* n samples: the accepted submits' durations */
    int n_lat, n_busy;
    const char *tag;
} submitter;

static void *submit_main(void *arg) {
    submitter *a = arg;
    char ext[48];
    int64_t next = now_ns();
    for (int i = 0; i < a->n; i++) {
        if (a->gap_ns) { /* sleep, not spin: the writer needs the cores */
            next += a->gap_ns;
            struct timespec until = {(time_t)(next / 1000000000), (long)(next % 1000000000)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) != 0) {
            }
        }
        snprintf(ext, sizeof ext, "%s-%d-%d", a->tag, a->t, i);
        lo_ops_request q = make_req(ext, a->model_id, i);
        for (;;) {
            int64_t t0 = now_ns();
            lo_status r = lo_ops_logger_submit(a->l, &q);
            int64_t dt = now_ns() - t0;
            if (r == LO_OK) {
                a->lat_ns[a->n_lat++] = dt;
                break;
            }
            if (r != LO_ERR_BUSY) die("submit");
            a->n_busy++; /* the writer is behind: wait a little, as a server would shed load */
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

typedef struct result {
    double rows_per_s;
    int64_t p50_ns, p99_ns, batches, busy;
} result;

static result run_logger(lo_store *log_store, int64_t model_id, int n_per_thread, int64_t gap_ns, const char *tag) {
    lo_ops_logger *l = NULL;
    if (lo_ops_logger_start(log_store, NULL, &l)) die("logger start");
    submitter a[N_THREADS];
    pthread_t th[N_THREADS];
    int64_t t0 = now_ns();
    for (int t = 0; t < N_THREADS; t++) {
        a[t] = (submitter){l, model_id, t, n_per_thread, gap_ns, malloc((size_t)n_per_thread * sizeof(int64_t)), 0, 0, tag};
        if (!a[t].lat_ns || pthread_create(&th[t], NULL, submit_main, &a[t])) die("thread");
    }
    for (int t = 0; t < N_THREADS; t++) pthread_join(th[t], NULL);
    if (lo_ops_logger_flush(l)) die("flush");
    double sec = (double)(now_ns() - t0) / 1e9;
    lo_ops_logger_stats st;
    lo_ops_logger_stats_get(l, &st);
    lo_ops_logger_stop(l);
    if (st.written != (int64_t)N_THREADS * n_per_thread) {
        fprintf(stderr, "ops_log: %lld of %d records written\n", (long long)st.written, N_THREADS * n_per_thread);
        exit(1);
    }
    size_t n = 0;
    int64_t *all = malloc((size_t)N_THREADS * n_per_thread * sizeof *all);
    result r = {.rows_per_s = (double)st.written / sec, .batches = st.batches};
    for (int t = 0; t < N_THREADS; t++) {
        memcpy(all + n, a[t].lat_ns, (size_t)a[t].n_lat * sizeof *all);
        n += (size_t)a[t].n_lat;
        r.busy += a[t].n_busy;
        free(a[t].lat_ns);
    }
    r.p50_ns = pct(all, n, 50);
    r.p99_ns = pct(all, n, 99);
    free(all);
    return r;
}

static result run_sync(lo_store *s, int64_t model_id) {
    int64_t *lat = malloc(N_SYNC * sizeof *lat), total = 0;
    char ext[48];
    for (int i = 0; i < N_SYNC; i++) {
        snprintf(ext, sizeof ext, "sync-%d", i);
        lo_ops_request q = make_req(ext, model_id, i);
        int64_t t0 = now_ns();
        if (lo_ops_log_request(s, &q, false, true, NULL)) die("log_request");
        lat[i] = now_ns() - t0;
        total += lat[i];
    }
    result r = {.rows_per_s = N_SYNC / ((double)total / 1e9), .batches = N_SYNC};
    r.p50_ns = pct(lat, N_SYNC, 50);
    r.p99_ns = pct(lat, N_SYNC, 99);
    free(lat);
    return r;
}

static void row(const char *backend, const char *mode, int64_t records, result r) {
    printf("%-9s %-32s %8lld %10.0f %10lld %10lld %8lld %7lld\n", backend, mode, (long long)records, r.rows_per_s,
           (long long)r.p50_ns, (long long)r.p99_ns, (long long)r.batches, (long long)r.busy);
    fflush(stdout);
}

/* A deployment "bench" of a tiny registered model, so records carry real references. */
static int64_t setup(lo_store *s, const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/bench-model.gguf", dir);
    lo_gguf_writer *w = NULL;
    float data[8] = {0};
    int64_t ne[2] = {4, 2};
    if (lo_gguf_writer_create(3, &w) || lo_gguf_writer_set_str(w, "general.architecture", "llama") ||
        lo_gguf_writer_add_tensor(w, "tok_embd.weight", LO_DTYPE_F32, 2, ne, data, sizeof data) || lo_gguf_writer_write(w, path))
        die("writing a model file");
    lo_gguf_writer_free(w);
    lo_ops_model m;
    if (lo_ops_model_register(s, "bench-model", path, 0, NULL, &m, NULL) ||
        lo_ops_deploy(s, "bench", "bench-model@1", NULL, 0, false, NULL) || lo_ops_price_set(s, "bench-model", 1, 10))
        die("setting up the store");
    return m.id;
}

static void bench_backend(const char *backend, const char *url, const char *dir, int n) {
    lo_store *s = NULL, *log_store = NULL;
    if (lo_store_open(url, &s) || lo_store_open(url, &log_store)) die(url);
    int64_t model_id = setup(s, dir);
    char mode[64];
    snprintf(mode, sizeof mode, "logger, %d threads, saturated", N_THREADS);
    row(backend, mode, n, run_logger(log_store, model_id, n / N_THREADS, 0, "sat"));
    snprintf(mode, sizeof mode, "logger, %d threads, 20k req/s", N_THREADS);
    row(backend, mode, (int64_t)N_THREADS * PACED_PER_THREAD, run_logger(log_store, model_id, PACED_PER_THREAD, PACED_GAP_NS, "paced"));
    row(backend, "sync lo_ops_log_request", N_SYNC, run_sync(s, model_id));
    lo_store_close(log_store);
    lo_store_close(s);
}

int main(int argc, char **argv) {
    int n = 200000;
    const char *sqlite_dir = NULL, *pg = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) n = atoi(argv[++i]);
        else if (strcmp(argv[i], "--sqlite-dir") == 0 && i + 1 < argc) sqlite_dir = argv[++i];
        else if (strcmp(argv[i], "--pg") == 0 && i + 1 < argc) pg = argv[++i];
        else {
            fprintf(stderr, "usage: ops_log [--n N] [--sqlite-dir DIR] [--pg URL]\n");
            return 2;
        }
    }
    if (n < N_THREADS || n > 100000000) {
        fprintf(stderr, "ops_log: --n must be between %d and 100000000\n", N_THREADS);
        return 2;
    }
    char tmp[] = "/tmp/lo-bench-ops-log-XXXXXX";
    const char *dir = sqlite_dir;
    if (!dir && !(dir = mkdtemp(tmp))) {
        perror("mkdtemp");
        return 1;
    }
    printf("request logging: %d records through the logger (defaults: max_batch 256, flush_ms 200, max_queue 65536; "
           "content not logged), %d synchronous calls\n", n, N_SYNC);
    printf("%-9s %-32s %8s %10s %10s %10s %8s %7s\n", "BACKEND", "MODE", "RECORDS", "ROWS/S", "P50_NS", "P99_NS", "TX", "BUSY");
    char url[1200];
    snprintf(url, sizeof url, "sqlite:%s/bench.db", dir);
    bench_backend("sqlite", url, dir, n);
    if (pg && pg[0]) {
        /* A schema of our own, dropped at the end, so the database can be shared. */
        char schema[64], sql[256];
        snprintf(schema, sizeof schema, "lo_bench_ops_log_%d", (int)getpid());
        lo_store *admin = NULL;
        if (lo_store_open(pg, &admin)) die(pg);
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema, schema);
        if (lo_store_exec(admin, sql)) die("creating a schema");
        snprintf(url, sizeof url, "%s%coptions=-csearch_path%%3D%s", pg, strchr(pg, '?') ? '&' : '?', schema);
        bench_backend("postgres", url, dir, n);
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
        if (lo_store_exec(admin, sql)) die("dropping the schema");
        lo_store_close(admin);
    } else {
        printf("(no --pg URL: PostgreSQL not measured; bench/ops-log.sh starts a server)\n");
    }
    printf("P50/P99_NS: time a call adds to the request path (submit for the logger, the whole write for sync); "
           "TX: transactions; BUSY: submits refused with a full queue (retried after 50 us)\n");
    if (!sqlite_dir) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}
