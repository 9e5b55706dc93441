/* Per-arm figures of a deployment from the request log — requests, errors, tokens, cost,
 * nearest-rank p50/p99 of TTFT and latency, tokens/s — so a canary can be compared with
 * the primary. Rows are fetched with plain SQL; grouping and percentiles are done here. */
#include <math.h>
#include <stdlib.h>

#include "ops/ops_internal.h"

/* A growable array of the known values of one timing. */
typedef struct values {
    double *v;
    size_t n, cap;
} values;

typedef struct arm_acc {
    lo_ops_arm_stats a;
    char upstream[256];  /* the grouping key when model_id is 0: the logged model name */
    int order;           /* position in the current revision; LO_OPS_MAX_ROUTES when not routed */
    values ttft, lat;
    double lat_sum_ms;   /* over requests with a known latency ... */
    int64_t lat_tokens;  /* ... and their completion tokens, for tokens/s */
} arm_acc;

typedef struct arms {
    arm_acc *v;
    size_t n, cap;
} arms;

/* Makes room for one more element in *items (n used of *cap, elem bytes each). */
static lo_status grow(void **items, size_t n, size_t *cap, size_t elem) {
    if (n < *cap) return LO_OK;
    size_t nc = *cap ? 2 * *cap : 16, bytes;
    if (lo_mul_overflow(nc, elem, &bytes)) return lo_error(LO_ERR_NOMEM, NULL, "too many requests to summarise");
    void *p = lo_realloc(*items, bytes);
    if (!p) return LO_ERR_NOMEM;
    *items = p, *cap = nc;
    return LO_OK;
}

static lo_status values_push(values *x, double v) {
    lo_status r = grow((void **)&x->v, x->n, &x->cap, sizeof *x->v);
    if (r == LO_OK) x->v[x->n++] = v;
    return r;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least pct % of the values at or below it,
 * i.e. sorted[ceil(pct/100 × n) − 1]; -1 without values. Sorts x. */
static double percentile(values *x, int pct) {
    if (!x->n) return -1;
    qsort(x->v, x->n, sizeof *x->v, cmp_double);
    size_t rank = ((size_t)pct * x->n + 99) / 100;
    return x->v[rank ? rank - 1 : 0];
}

/* The accumulator of (model_id, upstream name), created when new. */
static lo_status arm_find(arms *as, int64_t model_id, const char *upstream, arm_acc **out) {
    if (!upstream) upstream = "";
    for (size_t i = 0; i < as->n; i++) {
        arm_acc *x = &as->v[i];
        if (x->a.model_id == model_id && (model_id || strncmp(x->upstream, upstream, sizeof x->upstream - 1) == 0))
            return *out = x, LO_OK;
    }
    lo_status r = grow((void **)&as->v, as->n, &as->cap, sizeof *as->v);
    if (r) return r;
    arm_acc *x = &as->v[as->n++];
    memset(x, 0, sizeof *x);
    x->a.model_id = model_id;
    x->order = LO_OPS_MAX_ROUTES;
    if (!model_id) {
        ops_copy(x->upstream, sizeof x->upstream, upstream);
        ops_copy(x->a.model_ref, sizeof x->a.model_ref, upstream[0] ? upstream : "(none)");
    }
    *out = x;
    return LO_OK;
}

/* Routed arms first in the revision's order, then the others by model id, then name. */
static int cmp_arm(const void *pa, const void *pb) {
    const arm_acc *a = pa, *b = pb;
    if (a->order != b->order) return a->order - b->order;
    if (a->a.model_id != b->a.model_id) return (a->a.model_id > b->a.model_id) - (a->a.model_id < b->a.model_id);
    return strcmp(a->upstream, b->upstream);
}

static lo_status add_row(arms *as, lo_stmt *st) {
    arm_acc *x = NULL;
    lo_status r = arm_find(as, lo_store_column_int64(st, 0), lo_store_column_text(st, 1), &x);
    if (r) return r;
    lo_ops_arm_stats *a = &x->a;
    a->requests++;
    const char *status = lo_store_column_text(st, 2);
    if (!status || strcmp(status, "ok") != 0) a->errors++;
    int64_t completion = lo_store_column_int64(st, 4);
    a->prompt_tokens += lo_store_column_int64(st, 3);
    a->completion_tokens += completion;
    a->cost_usd += lo_store_column_double(st, 5);
    if (!lo_store_column_is_null(st, 6)) r = values_push(&x->ttft, lo_store_column_double(st, 6));
    if (r == LO_OK && !lo_store_column_is_null(st, 7)) {
        double lat = lo_store_column_double(st, 7);
        r = values_push(&x->lat, lat);
        x->lat_sum_ms += lat;
        x->lat_tokens += completion;
    }
    return r;
}

/* "NAME@VERSION" of a registered model; the id alone when the row is gone. */
static lo_status model_ref(lo_store *s, int64_t id, char *out, size_t cap) {
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st, "SELECT name, version FROM models WHERE id = ?", "i", id);
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK && row) snprintf(out, cap, "%s@%s", lo_store_column_text(st, 0), lo_store_column_text(st, 1));
    else if (r == LO_OK) snprintf(out, cap, "model #%lld", (long long)id);
    lo_store_finalize(st);
    return r;
}

lo_status lo_ops_deployment_stats(lo_store *s, const char *name, int64_t since_ms, lo_ops_arm_stats_fn fn, void *ctx) {
    if (!fn) return lo_error(LO_ERR_INVALID, NULL, "deployment stats: no callback");
    if (since_ms < 0) return lo_error(LO_ERR_RANGE, "give a time at or after 1970, or 0 for all time", "since %lld is negative", (long long)since_ms);
    lo_ops_deployment *d = lo_malloc(sizeof *d);
    if (!d) return LO_ERR_NOMEM;
    arms as = {0};
    lo_status r = lo_ops_deployment_get(s, name, d);
    /* The current arms come first, even before they have served anything. */
    for (int i = 0; r == LO_OK && i < d->n_arms; i++) {
        arm_acc *x = NULL;
        r = arm_find(&as, d->arms[i].model_id, NULL, &x);
        if (r == LO_OK) {
            x->order = i;
            x->a.weight = d->arms[i].weight;
            ops_copy(x->a.model_ref, sizeof x->a.model_ref, d->arms[i].model_ref);
        }
    }
    lo_stmt *st = NULL;
    bool row = false;
    if (r == LO_OK)
        r = ops_prepare(s, &st,
                        "SELECT model_id, model_name, status, prompt_tokens, completion_tokens, cost_usd, ttft_ms, latency_ms "
                        "FROM requests WHERE deployment_id = ? AND created_at >= ?",
                        "ii", d->id, since_ms);
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) r = add_row(&as, st);
    lo_store_finalize(st);
    for (size_t i = 0; r == LO_OK && i < as.n; i++) {
        arm_acc *x = &as.v[i];
        if (x->a.model_id && x->order == LO_OPS_MAX_ROUTES) r = model_ref(s, x->a.model_id, x->a.model_ref, sizeof x->a.model_ref);
        x->a.ttft_p50_ms = percentile(&x->ttft, 50);
        x->a.ttft_p99_ms = percentile(&x->ttft, 99);
        x->a.latency_p50_ms = percentile(&x->lat, 50);
        x->a.latency_p99_ms = percentile(&x->lat, 99);
        x->a.tokens_per_s = x->lat_sum_ms > 0 ? (double)x->lat_tokens / (x->lat_sum_ms / 1000.0) : -1;
    }
    if (r == LO_OK && as.n) {
        qsort(as.v, as.n, sizeof *as.v, cmp_arm);
        for (size_t i = 0; i < as.n; i++) fn(ctx, &as.v[i].a);
    }
    for (size_t i = 0; i < as.n; i++) {
        lo_free(as.v[i].ttft.v);
        lo_free(as.v[i].lat.v);
    }
    lo_free(as.v);
    lo_free(d);
    return r;
}
