/* The asynchronous request logger: request threads copy records into a bounded FIFO
 * (a ring of pointers under one mutex) and return; one writer thread drains it in
 * batches through lo_ops_log_requests, one transaction per batch, on size or age. */
#include <pthread.h>
#include <time.h>

#include "ops/ops_internal.h"

/* One queued record: the request with its strings packed behind it in the same block. */
typedef struct log_rec {
    int64_t queued_ns;  /* CLOCK_MONOTONIC when accepted */
    lo_ops_request req; /* its strings point into text[] */
    char text[];
} log_rec;

struct lo_ops_logger {
    lo_store *store;
    lo_ops_logger_params p;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* writer waits: records, flush requests, stop */
    pthread_cond_t done; /* flushers wait: completed advanced */
    /* Everything below is guarded by mu. */
    log_rec **ring;
    int head, count;     /* FIFO of count records starting at ring[head] */
    int in_flight;       /* records taken by the writer, not yet completed */
    int64_t completed;   /* records written or failed, in submit order */
    int64_t flush_upto;  /* a flusher waits for completed >= this */
    bool stopping;
    lo_ops_logger_stats st;
    /* Writer-thread only. */
    log_rec **batch;
    lo_ops_request *reqs;
    char last_error[256]; /* the last failure logged; repeats stay quiet until a success */
    int64_t quiet_failures;
};

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void lo_ops_logger_params_default(lo_ops_logger_params *p) {
    p->max_batch = 256;
    p->flush_ms = 200;
    p->max_queue = 65536;
    p->log_content = false;
    p->redact = true;
}

static lo_status check_params(const lo_ops_logger_params *p) {
    if (p->max_batch < 1 || p->max_batch > 65536)
        return lo_error(LO_ERR_RANGE, "use 1-65536 records per batch (256 is a good default)", "logger max_batch %d is out of range", p->max_batch);
    if (p->flush_ms < 0 || p->flush_ms > 3600000)
        return lo_error(LO_ERR_RANGE, "use 0-3600000 ms (200 is a good default)", "logger flush_ms %d is out of range", p->flush_ms);
    if (p->max_queue < 1 || p->max_queue > (1 << 24))
        return lo_error(LO_ERR_RANGE, "use 1-16777216 records (65536 is a good default)", "logger max_queue %d is out of range", p->max_queue);
    return LO_OK;
}

/* ---- copying records ----------------------------------------------------------------- */

static size_t str_bytes(const char *s) { return s ? strlen(s) + 1 : 0; }

/* Copies src (NULL stays NULL) to *cursor and advances it. */
static const char *put_str(char **cursor, const char *src) {
    if (!src) return NULL;
    size_t n = strlen(src) + 1;
    char *dst = *cursor;
    memcpy(dst, src, n);
    *cursor += n;
    return dst;
}

/* One allocation holding the record and all its strings; content only when it is logged. */
static log_rec *copy_rec(const lo_ops_request *r, bool with_content) {
    const char *msgs = with_content ? r->messages_json : NULL, *compl = with_content ? r->completion : NULL;
    const char *strs[8] = {r->external_id, r->deployment, r->model_name, r->status, r->client_key, r->user, msgs, compl};
    size_t total = sizeof(log_rec);
    for (int i = 0; i < 8; i++)
        if (lo_add_overflow(total, str_bytes(strs[i]), &total)) {
            lo_error(LO_ERR_NOMEM, "log less content per request", "request record too large to queue");
            return NULL;
        }
    log_rec *c = lo_malloc(total);
    if (!c) return NULL;
    c->req = *r;
    char *cur = c->text;
    c->req.external_id = put_str(&cur, r->external_id);
    c->req.deployment = put_str(&cur, r->deployment);
    c->req.model_name = put_str(&cur, r->model_name);
    c->req.status = put_str(&cur, r->status);
    c->req.client_key = put_str(&cur, r->client_key);
    c->req.user = put_str(&cur, r->user);
    c->req.messages_json = put_str(&cur, msgs);
    c->req.completion = put_str(&cur, compl);
    /* A record queued without a time is stamped now, not when its batch is written. */
    if (!c->req.created_at) c->req.created_at = lo_store_now_ms();
    return c;
}

/* ---- the writer thread --------------------------------------------------------------- */

/* Logs a failure once: the same message again stays quiet until a write succeeds. */
static void note_failure(lo_ops_logger *l, int n_lost, const char *what) {
    const char *msg = lo_error_message(), *hint = lo_error_hint();
    if (strcmp(msg, l->last_error) == 0) {
        l->quiet_failures++;
        return;
    }
    ops_copy(l->last_error, sizeof l->last_error, msg);
    lo_log(LO_LOG_ERROR, "request log: %s failed, %d record%s lost: %s%s%s", what, n_lost, n_lost == 1 ? "" : "s", msg,
           hint[0] ? "\nhint: " : "", hint);
}

static void note_success(lo_ops_logger *l) {
    if (!l->last_error[0]) return;
    if (l->quiet_failures)
        lo_log(LO_LOG_WARN, "request log: writing again after %lld more failed write%s with the same error",
               (long long)l->quiet_failures, l->quiet_failures == 1 ? "" : "s");
    l->last_error[0] = 0;
    l->quiet_failures = 0;
}

/* Writes n records; returns how many were lost and counts transactions in *ok / *bad. */
static int write_batch(lo_ops_logger *l, int n, int64_t *ok, int64_t *bad) {
    for (int i = 0; i < n; i++) l->reqs[i] = l->batch[i]->req;
    lo_status r = lo_ops_log_requests(l->store, l->reqs, n, l->p.log_content, l->p.redact, NULL);
    if (r == LO_OK) {
        ++*ok;
        note_success(l);
        return 0;
    }
    ++*bad;
    bool data_error = r == LO_ERR_INVALID || r == LO_ERR_NOT_FOUND;
    if (!data_error || n == 1) {
        note_failure(l, n, "writing a batch");
        return n;
    }
    /* The batch failed on its data: one bad record must not take the others with it.
     * Write each once on its own (bounded: n transactions, then never again). */
    int lost = 0;
    for (int i = 0; i < n; i++) {
        r = lo_ops_log_requests(l->store, &l->reqs[i], 1, l->p.log_content, l->p.redact, NULL);
        if (r == LO_OK) {
            ++*ok;
            continue;
        }
        ++*bad;
        bool store_gone = r != LO_ERR_INVALID && r != LO_ERR_NOT_FOUND; /* then drop the rest */
        int now_lost = store_gone ? n - i : 1;
        lost += now_lost;
        note_failure(l, now_lost, store_gone ? "writing the rest of a batch" : "writing a record");
        if (store_gone) break;
    }
    if (lost < n) note_success(l);
    return lost;
}

/* Whether the head of the queue must be written now; else *deadline_ns says when. */
static bool batch_due(const lo_ops_logger *l, int64_t *deadline_ns) {
    if (l->count >= l->p.max_batch || l->stopping || l->flush_upto > l->completed) return true;
    *deadline_ns = l->ring[l->head]->queued_ns + (int64_t)l->p.flush_ms * 1000000;
    return mono_ns() >= *deadline_ns;
}

static void *writer_main(void *arg) {
    lo_ops_logger *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        int64_t deadline = 0;
        if (l->count == 0) {
            if (l->stopping) break;
            pthread_cond_wait(&l->work, &l->mu);
            continue;
        }
        if (!batch_due(l, &deadline)) {
            struct timespec ts = {(time_t)(deadline / 1000000000), (long)(deadline % 1000000000)};
            pthread_cond_timedwait(&l->work, &l->mu, &ts);
            continue;
        }
        int n = l->count < l->p.max_batch ? l->count : l->p.max_batch;
        for (int i = 0; i < n; i++) {
            l->batch[i] = l->ring[l->head];
            l->head = l->head + 1 == l->p.max_queue ? 0 : l->head + 1;
        }
        l->count -= n;
        l->in_flight = n;
        pthread_mutex_unlock(&l->mu);

        int64_t ok = 0, bad = 0;
        int lost = write_batch(l, n, &ok, &bad);
        for (int i = 0; i < n; i++) lo_free(l->batch[i]);

        pthread_mutex_lock(&l->mu);
        l->in_flight = 0;
        l->completed += n;
        l->st.written += n - lost;
        l->st.failed += lost;
        l->st.batches += ok;
        l->st.failed_batches += bad;
        pthread_cond_broadcast(&l->done);
    }
    pthread_mutex_unlock(&l->mu);
    lo_error_clear();
    return NULL;
}

/* ---- the API ------------------------------------------------------------------------- */

static void logger_free(lo_ops_logger *l) {
    lo_free(l->ring);
    lo_free(l->batch);
    lo_free(l->reqs);
    lo_free(l);
}

lo_status lo_ops_logger_start(lo_store *s, const lo_ops_logger_params *p, lo_ops_logger **out) {
    *out = NULL;
    if (!s) return lo_error(LO_ERR_INVALID, "open a store for the logger first", "request logger: no store");
    lo_ops_logger_params dflt;
    lo_ops_logger_params_default(&dflt);
    if (!p) p = &dflt;
    lo_status r = check_params(p);
    if (r) return r;
    lo_ops_logger *l = lo_calloc(1, sizeof *l);
    if (!l) return LO_ERR_NOMEM;
    l->store = s;
    l->p = *p;
    l->ring = lo_calloc((size_t)p->max_queue, sizeof *l->ring);
    l->batch = lo_calloc((size_t)p->max_batch, sizeof *l->batch);
    l->reqs = lo_calloc((size_t)p->max_batch, sizeof *l->reqs);
    if (!l->ring || !l->batch || !l->reqs) {
        logger_free(l);
        return LO_ERR_NOMEM;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* flush_ms deadlines ignore wall-clock jumps */
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work, &ca);
    pthread_cond_init(&l->done, NULL);
    pthread_condattr_destroy(&ca);
    int e = pthread_create(&l->thread, NULL, writer_main, l);
    if (e) {
        pthread_cond_destroy(&l->work);
        pthread_cond_destroy(&l->done);
        pthread_mutex_destroy(&l->mu);
        logger_free(l);
        return lo_error(LO_ERR_INTERNAL, "the process may be out of threads or memory", "request logger: cannot start its thread: %s", strerror(e));
    }
    *out = l;
    return LO_OK;
}

lo_status lo_ops_logger_submit(lo_ops_logger *l, const lo_ops_request *r) {
    if (!l || !r) return lo_error(LO_ERR_INVALID, NULL, "request logger: no logger or no record");
    lo_status st = ops_check_request(r, 0);
    if (st) return st;
    log_rec *c = copy_rec(r, l->p.log_content);
    if (!c) return LO_ERR_NOMEM;
    c->queued_ns = mono_ns();
    pthread_mutex_lock(&l->mu);
    if (l->stopping || l->count == l->p.max_queue) {
        bool stopping = l->stopping;
        if (!stopping) l->st.dropped++;
        pthread_mutex_unlock(&l->mu);
        lo_free(c);
        if (stopping) return lo_error(LO_ERR_INVALID, "submit before lo_ops_logger_stop", "request logger is stopping");
        return lo_error(LO_ERR_BUSY, "the store cannot keep up: raise max_queue or max_batch, or use a faster store",
                        "request log queue is full (%d records): record dropped", l->p.max_queue);
    }
    int tail = l->head + l->count;
    if (tail >= l->p.max_queue) tail -= l->p.max_queue;
    l->ring[tail] = c;
    l->count++;
    l->st.submitted++;
    /* The writer sleeps without a deadline only on an empty queue, and needs waking
     * early only for a full batch; otherwise its timed wait will find the record. */
    if (l->count == 1 || l->count == l->p.max_batch) pthread_cond_signal(&l->work);
    pthread_mutex_unlock(&l->mu);
    return LO_OK;
}

lo_status lo_ops_logger_flush(lo_ops_logger *l) {
    if (!l) return LO_OK;
    pthread_mutex_lock(&l->mu);
    int64_t target = l->st.submitted, failed0 = l->st.failed;
    if (target > l->flush_upto) l->flush_upto = target;
    pthread_cond_signal(&l->work);
    while (l->completed < target) pthread_cond_wait(&l->done, &l->mu);
    int64_t lost = l->st.failed - failed0;
    pthread_mutex_unlock(&l->mu);
    if (lost)
        return lo_error(LO_ERR_IO, "see the error the logger wrote to stderr; check the store",
                        "request log: %lld record%s could not be written", (long long)lost, lost == 1 ? "" : "s");
    return LO_OK;
}

void lo_ops_logger_stats_get(lo_ops_logger *l, lo_ops_logger_stats *out) {
    memset(out, 0, sizeof *out);
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    *out = l->st;
    out->queued = l->count + l->in_flight;
    pthread_mutex_unlock(&l->mu);
}

void lo_ops_logger_stop(lo_ops_logger *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true; /* the writer drains the queue without waiting, then exits */
    pthread_cond_signal(&l->work);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    LO_ASSERT(l->count == 0);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->done);
    pthread_mutex_destroy(&l->mu);
    logger_free(l);
}
