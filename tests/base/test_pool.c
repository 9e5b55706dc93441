/* Tests for the thread pool: every ith runs exactly once per job over 1000 jobs, work
 * split across threads sums correctly for n = 1, 2, 4, 7, and the caller is thread 0. */
#include "check.h"
#include "llmops/base.h"

#include <pthread.h>
#include <stdatomic.h>

#define MAX_T 8

typedef struct job {
    atomic_int hits[MAX_T];
    atomic_int bad_nth;
    pthread_t caller;
    atomic_int caller_not_zero;
    const int64_t *data;
    int64_t n;
    int64_t partial[MAX_T];
} job;

static void count_fn(void *ctx, int ith, int nth) {
    job *j = ctx;
    if (ith < 0 || ith >= MAX_T) {
        atomic_fetch_add(&j->bad_nth, 1);
        return;
    }
    atomic_fetch_add(&j->hits[ith], 1);
    if (ith == 0 && !pthread_equal(pthread_self(), j->caller)) atomic_fetch_add(&j->caller_not_zero, 1);
    (void)nth;
}

static void sum_fn(void *ctx, int ith, int nth) {
    job *j = ctx;
    int64_t lo = j->n * ith / nth, hi = j->n * (ith + 1) / nth, s = 0;
    for (int64_t i = lo; i < hi; i++) s += j->data[i];
    j->partial[ith] = s;
}

static void nth_fn(void *ctx, int ith, int nth) {
    job *j = ctx;
    if (nth != j->n) atomic_fetch_add(&j->bad_nth, 1);
    (void)ith;
}

int main(void) {
    CHECK(lo_cpu_count() >= 1);
    lo_pool *bad = NULL;
    CHECK(lo_pool_create(0, &bad) == LO_ERR_RANGE && bad == NULL);
    lo_pool_free(NULL);

    enum { N = 100000 };
    int64_t *data = lo_malloc(N * sizeof *data);
    int64_t expect = 0;
    for (int i = 0; i < N; i++) {
        data[i] = (int64_t)i * 7 - 3;
        expect += data[i];
    }
    int counts[] = {1, 2, 4, 7};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        int nt = counts[c];
        lo_pool *p = NULL;
        CHECK_OK(lo_pool_create(nt, &p));
        if (!p) continue;
        CHECK_INT_EQ(lo_pool_n_threads(p), nt);
        static job j;
        memset(&j, 0, sizeof j);
        j.caller = pthread_self();
        for (int it = 0; it < 1000; it++) lo_pool_run(p, count_fn, &j);
        for (int t = 0; t < nt; t++) CHECK_INT_EQ(atomic_load(&j.hits[t]), 1000);
        for (int t = nt; t < MAX_T; t++) CHECK_INT_EQ(atomic_load(&j.hits[t]), 0);
        CHECK_INT_EQ(atomic_load(&j.bad_nth), 0);
        CHECK_INT_EQ(atomic_load(&j.caller_not_zero), 0);

        j.n = nt;
        lo_pool_run(p, nth_fn, &j);
        CHECK_INT_EQ(atomic_load(&j.bad_nth), 0);

        j.data = data;
        j.n = N;
        for (int it = 0; it < 200; it++) {
            memset(j.partial, 0, sizeof j.partial);
            lo_pool_run(p, sum_fn, &j);
            int64_t s = 0;
            for (int t = 0; t < nt; t++) s += j.partial[t];
            if (s != expect) {
                CHECK_INT_EQ(s, expect);
                break;
            }
        }
        /* idle pool: after a pause the workers are parked and still answer */
        usleep(50000);
        memset(&j, 0, sizeof j);
        j.caller = pthread_self();
        lo_pool_run(p, count_fn, &j);
        for (int t = 0; t < nt; t++) CHECK_INT_EQ(atomic_load(&j.hits[t]), 1);
        lo_pool_free(p);
    }
    /* create/free without running any job */
    lo_pool *p = NULL;
    CHECK_OK(lo_pool_create(3, &p));
    lo_pool_free(p);
    lo_free(data);
    return check_done();
}
