/* Persistent thread pool: n-1 workers park on a condition variable between jobs; a job
 * generation counter makes each worker run each job exactly once; the caller is thread 0
 * and waits for the rest on a second condition variable. Both sides poll before parking so
 * back-to-back jobs (several per layer) cost a cache-line round trip, not a futex wake. */
#include "llmops/base.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LO_CPU_RELAX() _mm_pause()
#else
#define LO_CPU_RELAX() ((void)0)
#endif

/* Polling rounds before sleeping (a few ms at most: idle pools then cost nothing). */
#define LO_POOL_SPIN 4096

typedef struct lo_pool_worker {
    lo_pool *pool;
    int ith;
    pthread_t thread;
} lo_pool_worker;

struct lo_pool {
    int n_threads;
    int n_started;
    lo_pool_worker *workers; /* n_threads - 1 */
    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* workers wait for a new generation */
    pthread_cond_t cv_done; /* the caller waits for pending == 0 */
    lo_pool_fn fn;          /* published before gen is bumped (release) */
    void *ctx;
    char pad0[64];
    /* written by the caller once per job; read by the polling workers */
    atomic_uint gen;
    atomic_bool stop;
    atomic_int n_sleeping; /* workers parked or about to park on cv_work */
    char pad1[64];
    /* written by each worker once per job; read by the polling caller */
    atomic_int pending;
    atomic_int caller_sleeping; /* the caller parked or about to park on cv_done */
    char pad2[64];
};

/* Polling step i: a few pause rounds first (the other side is usually on its own core
 * and answers within a microsecond), then sched_yield each round, so that when threads
 * outnumber free cores the one being waited for gets the CPU instead of a spinner. */
static inline void relax(int i) {
    if (i >= 16)
        sched_yield();
    else
        LO_CPU_RELAX();
}

int lo_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 4096 ? 4096 : (int)n);
}

static void *worker_main(void *arg) {
    lo_pool_worker *w = arg;
    lo_pool *p = w->pool;
    unsigned seen = 0; /* gen at creation: a job may be posted before this thread runs */
    for (;;) {
        unsigned g = seen;
        for (int i = 0; i < LO_POOL_SPIN; i++) {
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
            if (g != seen || atomic_load_explicit(&p->stop, memory_order_acquire)) break;
            relax(i);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            /* seq_cst increment then load: lo_pool_run bumps gen then reads n_sleeping, so
             * either it sees this worker parked (and broadcasts under mu) or this load
             * sees the new gen. */
            atomic_fetch_add(&p->n_sleeping, 1);
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv_work, &p->mu);
            atomic_fetch_sub(&p->n_sleeping, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (g == seen) break; /* woken without a new job: the pool is stopping */
        seen = g;
        p->fn(p->ctx, w->ith, p->n_threads);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

lo_status lo_pool_create(int n_threads, lo_pool **out) {
    LO_ASSERT(out);
    *out = NULL;
    if (n_threads < 1 || n_threads > 4096)
        return lo_error(LO_ERR_RANGE, "use between 1 and the number of CPUs",
                        "thread count %d is out of range (1..4096)", n_threads);
    lo_pool *p = lo_calloc(1, sizeof *p);
    if (!p) return lo_error_wrap(LO_ERR_NOMEM, "creating a thread pool");
    p->n_threads = n_threads;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->n_sleeping, 0);
    atomic_init(&p->caller_sleeping, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    if (n_threads > 1) {
        p->workers = lo_calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            lo_pool_free(p);
            return lo_error_wrap(LO_ERR_NOMEM, "creating a thread pool");
        }
        for (int i = 1; i < n_threads; i++) {
            lo_pool_worker *w = &p->workers[i - 1];
            w->pool = p;
            w->ith = i;
            int rc = pthread_create(&w->thread, NULL, worker_main, w);
            if (rc != 0) {
                lo_pool_free(p);
                return lo_error(LO_ERR_INTERNAL, "lower the thread count", "starting worker thread %d of %d: %s", i,
                                n_threads, strerror(rc));
            }
            p->n_started++;
        }
    }
    *out = p;
    return LO_OK;
}

int lo_pool_n_threads(const lo_pool *p) {
    return p ? p->n_threads : 1;
}

void lo_pool_run(lo_pool *p, lo_pool_fn fn, void *ctx) {
    LO_ASSERT(p && fn);
    if (p->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, p->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: see worker_main */
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv_work);
        pthread_mutex_unlock(&p->mu);
    }

    fn(ctx, 0, p->n_threads);

    for (int i = 0; i < LO_POOL_SPIN; i++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return;
        relax(i);
    }
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->caller_sleeping, 1); /* seq_cst against the workers' decrement */
    while (atomic_load(&p->pending) != 0) pthread_cond_wait(&p->cv_done, &p->mu);
    atomic_store(&p->caller_sleeping, 0);
    pthread_mutex_unlock(&p->mu);
}

void lo_pool_free(lo_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->cv_done);
    pthread_cond_destroy(&p->cv_work);
    pthread_mutex_destroy(&p->mu);
    lo_free(p->workers);
    lo_free(p);
}
