/* `llmops bench -m FILE [-p 128] [-n 64] [-t 2] [-r 5] [--json]`: prompt processing and
 * generation speed measured as llama-bench measures them. ppN decodes N random tokens as
 * one batch (split at n_batch) into an empty KV cache; tgN decodes N random tokens one by
 * one into an empty cache. One untimed warm-up run each, then r timed repetitions; the
 * figure is the mean of the per-repetition tokens/s with its sample stddev (as llama-bench)
 * and the median. Also the peak RSS and the weight bytes read per generated token. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

#define MAX_UBATCH 512

typedef struct bench {
    const lo_model *model;
    lo_context *ctx;
    int32_t n_vocab, n_batch;
    int32_t *tok, *pos, *seq;
    unsigned rng;
} bench;

static int32_t rand_token(bench *b) {
    b->rng = b->rng * 1103515245u + 12345u;
    return (int32_t)((b->rng >> 8) % (unsigned)b->n_vocab);
}

/* n random tokens at positions 0..n-1 of sequence 0, in batches of n_batch. */
static lo_status run_prompt(bench *b, int32_t n) {
    for (int32_t done = 0; done < n;) {
        int32_t k = n - done < b->n_batch ? n - done : b->n_batch;
        for (int32_t i = 0; i < k; i++) b->tok[i] = rand_token(b), b->pos[i] = done + i, b->seq[i] = 0;
        lo_batch bt = {.n_tokens = k, .token = b->tok, .pos = b->pos, .seq = b->seq, .logits = NULL};
        lo_status s = lo_model_decode(b->ctx, &bt);
        if (s) return s;
        done += k;
    }
    return LO_OK;
}

/* n tokens one per decode, starting at position p0. */
static lo_status run_gen(bench *b, int32_t p0, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        int32_t t = rand_token(b), p = p0 + i, sq = 0;
        lo_batch bt = {.n_tokens = 1, .token = &t, .pos = &p, .seq = &sq, .logits = NULL};
        lo_status s = lo_model_decode(b->ctx, &bt);
        if (s) return s;
    }
    return LO_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct stats {
    double mean, sd, median;
} stats;

static stats summarize(const double *v, int n) {
    stats s = {0};
    for (int i = 0; i < n; i++) s.mean += v[i];
    s.mean /= n;
    if (n > 1) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (v[i] - s.mean) * (v[i] - s.mean);
        s.sd = sqrt(ss / (n - 1));
    }
    double *c = malloc((size_t)n * sizeof *c);
    if (c) {
        memcpy(c, v, (size_t)n * sizeof *c);
        qsort(c, (size_t)n, sizeof *c, cmp_double);
        s.median = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
        free(c);
    }
    return s;
}

static long peak_rss_kib(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

/* One test (pp: n_prompt > 0, n_gen 0; tg: n_prompt 0, n_gen > 0): warm-up, then reps. */
static lo_status run_test(bench *b, int32_t n_prompt, int32_t n_gen, int reps, double *ts) {
    /* Warm-up as llama-bench: a short prompt or a single generated token. */
    lo_context_seq_clear(b->ctx, 0, 0, -1);
    lo_status s = n_prompt > 0 ? run_prompt(b, n_prompt < 32 ? n_prompt : 32) : run_gen(b, 0, 1);
    if (s) return s;
    for (int r = 0; r < reps; r++) {
        lo_context_seq_clear(b->ctx, 0, 0, -1);
        double t0 = lo_time_sec();
        s = n_prompt > 0 ? run_prompt(b, n_prompt) : run_gen(b, 0, n_gen);
        if (s) return s;
        double dt = lo_time_sec() - t0;
        ts[r] = (n_prompt + n_gen) / (dt > 0 ? dt : 1e-9);
    }
    return LO_OK;
}

int lo_cmd_bench(int argc, char **argv) {
    const char *cmd = argv[0], *path = NULL;
    long long n_prompt = 128, n_gen = 64, threads = 2, reps = 5;
    bool json = false;
    lo_cli_model_opts mopts = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int mo = lo_cli_model_opt(cmd, argc, argv, &i, &mopts);
        if (mo < 0) return LO_EXIT_USAGE;
        if (mo) continue;
        long long *dst = !strcmp(a, "-p") ? &n_prompt : !strcmp(a, "-n") ? &n_gen : !strcmp(a, "-t") ? &threads
                         : !strcmp(a, "-r")                             ? &reps
                                                                        : NULL;
        if (dst) {
            long long lo = dst == &threads || dst == &reps ? 1 : 0, hi = dst == &threads ? 1024 : dst == &reps ? 1000 : 1 << 20;
            if (i + 1 >= argc || !lo_cli_parse_int(argv[i + 1], lo, hi, dst))
                return lo_cli_usage_error(cmd, "%s needs a number in %lld..%lld", a, lo, hi);
            i++;
        } else if (!strcmp(a, "-m")) {
            if (i + 1 >= argc) return lo_cli_usage_error(cmd, "-m needs a model file");
            path = argv[++i];
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else {
            return lo_cli_usage_error(cmd, "unknown argument '%s'", a);
        }
    }
    if (!path) return lo_cli_usage_error(cmd, "no model given (-m FILE.gguf)");
    if (n_prompt == 0 && n_gen == 0) return lo_cli_usage_error(cmd, "nothing to do: -p 0 and -n 0");

    bench b = {.rng = 1};
    lo_model *m = NULL;
    lo_status s = lo_cli_model_load(path, &mopts, &m);
    if (s) return lo_cli_fail(cmd, s);
    b.model = m;
    const lo_hparams *hp = lo_model_hparams(m);
    b.n_vocab = hp->n_vocab;
    b.n_batch = n_prompt > 0 ? (int32_t)(n_prompt < MAX_UBATCH ? n_prompt : MAX_UBATCH) : 1;
    int32_t n_ctx = (int32_t)(n_prompt > n_gen ? n_prompt : n_gen);
    lo_context_params cp = {.n_ctx = n_ctx < 32 ? 32 : n_ctx, .n_seq = 1, .n_batch = b.n_batch,
                            .n_threads = (int32_t)threads};
    s = lo_context_create(m, &cp, &b.ctx);
    if (s) {
        lo_model_free(m);
        return lo_cli_fail(cmd, s);
    }
    b.tok = calloc((size_t)b.n_batch, sizeof *b.tok);
    b.pos = calloc((size_t)b.n_batch, sizeof *b.pos);
    b.seq = calloc((size_t)b.n_batch, sizeof *b.seq);
    double *ts = calloc((size_t)reps, sizeof *ts);
    int rc = LO_EXIT_OK;
    if (!b.tok || !b.pos || !b.seq || !ts) {
        fprintf(stderr, "llmops %s: out of memory\n", cmd);
        rc = LO_EXIT_FAIL;
    }
    const size_t wbytes = lo_model_weight_bytes_per_token(m);
    for (int test = 0; test < 2 && rc == LO_EXIT_OK; test++) {
        int32_t np = test == 0 ? (int32_t)n_prompt : 0, ng = test == 1 ? (int32_t)n_gen : 0;
        if (np == 0 && ng == 0) continue;
        s = run_test(&b, np, ng, (int)reps, ts);
        if (s) {
            rc = lo_cli_fail(cmd, s);
            break;
        }
        stats st = summarize(ts, (int)reps);
        char name[32];
        snprintf(name, sizeof name, "%s%d", np ? "pp" : "tg", np ? np : ng);
        long rss = peak_rss_kib();
        if (json) {
            json_t *o = json_object(), *arr = json_array();
            for (int r = 0; r < reps; r++) json_array_append_new(arr, json_real(ts[r]));
            json_object_set_new(o, "model", json_string(path));
            json_object_set_new(o, "test", json_string(name));
            json_object_set_new(o, "n_prompt", json_integer(np));
            json_object_set_new(o, "n_gen", json_integer(ng));
            json_object_set_new(o, "n_threads", json_integer(threads));
            json_object_set_new(o, "reps", json_integer(reps));
            json_object_set_new(o, "avg_ts", json_real(st.mean));
            json_object_set_new(o, "stddev_ts", json_real(st.sd));
            json_object_set_new(o, "median_ts", json_real(st.median));
            json_object_set_new(o, "samples_ts", arr);
            json_object_set_new(o, "peak_rss_bytes", json_integer((json_int_t)rss * 1024));
            json_object_set_new(o, "weight_bytes_per_token", json_integer((json_int_t)wbytes));
            json_object_set_new(o, "n_params", json_integer(lo_model_n_params(m)));
            json_object_set_new(o, "n_lora", json_integer(lo_model_n_lora(m)));
            char *txt = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
            if (txt) printf("%s\n", txt);
            free(txt);
            json_decref(o);
        } else {
            printf("%s threads=%lld: %.2f +- %.2f tokens/s  (median %.2f, %lld reps)", name, threads, st.mean, st.sd,
                   st.median, reps);
            if (ng) printf("  weights %.2f GB/s", st.mean * (double)wbytes / 1e9);
            printf("\n");
        }
        fflush(stdout);
    }
    if (rc == LO_EXIT_OK && !json)
        printf("peak RSS %.1f MiB, weights read per token %.1f MiB, %.1fM params\n", peak_rss_kib() / 1024.0,
               (double)wbytes / 1048576.0, (double)lo_model_n_params(m) / 1e6);
    free(b.tok);
    free(b.pos);
    free(b.seq);
    free(ts);
    lo_context_free(b.ctx);
    lo_model_free(m);
    return rc;
}
