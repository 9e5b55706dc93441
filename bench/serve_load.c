/* Load generator for an OpenAI-compatible server: N concurrent clients, each sending R
 * streamed POST /v1/completions back-to-back, measuring time to first token, inter-token
 * gaps and end-to-end time per request, and the level's generated tokens/s. Prints one
 * `key=value` line for bench/serve-load.sh. Not a test; see docs/server.md "Benchmark".
 *
 * usage: serve_load --url http://HOST:PORT [--clients N] [--requests R] [--max-tokens T]
 *                   [--prompt TEXT] [--model NAME] [--extra JSON] [--warmup W] [--timeout S] */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmops/llmops.h"

#define SSE_LINE_CAP 65536   /* longest SSE line accepted; chunks are ~0.5 KiB */
#define BODY_SNIPPET_CAP 512 /* bytes of a non-SSE body kept for the error message */
#define ERR_CAP 256

static const char *default_prompt =
    "The old lighthouse keeper climbed the narrow stairs every evening, lit the great lamp, "
    "and watched the ships pass slowly through the fog toward the harbour";

typedef struct options {
    const char *url; /* base, e.g. http://127.0.0.1:8080 */
    const char *model;
    const char *prompt;
    const char *extra; /* JSON object merged into every request body */
    int n_clients, n_requests, max_tokens, n_warmup;
    double timeout_s;
} options;

/* Growable array of seconds. */
typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;

static bool dvec_push(dvec *a, double x) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        if (cap > SIZE_MAX / sizeof *a->v) return false;
        double *nv = realloc(a->v, cap * sizeof *nv);
        if (!nv) return false;
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return true;
}

/* One request in flight: the SSE parser's state and what it measured. */
typedef struct stream_state {
    char line[SSE_LINE_CAP];
    size_t line_len;
    char snippet[BODY_SNIPPET_CAP + 1]; /* start of the raw body, for error messages */
    size_t snippet_len;
    double t_send, t_last;
    double ttft;           /* < 0 until the first non-empty text chunk */
    long n_chunks;         /* chunks with non-empty text */
    long usage_completion; /* usage.completion_tokens, -1 when not sent */
    long usage_prompt, usage_cached;
    bool done, failed;
    char err[ERR_CAP];
    dvec *gaps; /* the client's inter-token gaps, appended to */
} stream_state;

static void fail(stream_state *s, const char *msg) {
    if (s->failed) return;
    s->failed = true;
    snprintf(s->err, sizeof s->err, "%s", msg);
}

static long json_long(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

/* Handles one `data:` payload (not NUL-terminated) received at time `now`. */
static void on_event(stream_state *s, const char *data, size_t len, double now) {
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        s->done = true;
        return;
    }
    json_t *ev = NULL;
    if (lo_json_parse(data, len, &ev) != LO_OK) {
        char msg[ERR_CAP];
        snprintf(msg, sizeof msg, "bad SSE JSON: %s", lo_error_message());
        fail(s, msg);
        return;
    }
    if (!json_is_object(ev)) {
        fail(s, "SSE event is not a JSON object");
        json_decref(ev);
        return;
    }
    const json_t *error = json_object_get(ev, "error");
    if (error) {
        const char *m = json_string_value(json_object_get(error, "message"));
        char msg[ERR_CAP];
        snprintf(msg, sizeof msg, "error in stream: %s", m ? m : "(no message)");
        fail(s, msg);
    }
    const json_t *choices = json_object_get(ev, "choices");
    if (json_is_array(choices) && json_array_size(choices) > 0) {
        const json_t *text = json_object_get(json_array_get(choices, 0), "text");
        if (json_is_string(text) && json_string_length(text) > 0) {
            if (s->ttft < 0) {
                s->ttft = now - s->t_send;
            } else if (!dvec_push(s->gaps, now - s->t_last)) {
                fail(s, "out of memory for inter-token gaps");
            }
            s->t_last = now;
            s->n_chunks++;
        }
    }
    /* Ours sends usage in a last chunk with "choices":[]; llama-server with the
     * finish_reason chunk. Either way it is the only object-valued "usage". */
    const json_t *usage = json_object_get(ev, "usage");
    if (json_is_object(usage)) {
        s->usage_completion = json_long(usage, "completion_tokens");
        s->usage_prompt = json_long(usage, "prompt_tokens");
        long cached = json_long(json_object_get(usage, "prompt_tokens_details"), "cached_tokens");
        s->usage_cached = cached > 0 ? cached : 0;
    }
    json_decref(ev);
}

/* Splits the body into lines and hands `data:` payloads to on_event. Called by curl, on
 * the client's thread, as bytes arrive (the thread blocks in curl between pieces). */
static bool on_data(void *user, const char *data, size_t len) {
    stream_state *s = user;
    double now = lo_time_sec();
    if (s->snippet_len < BODY_SNIPPET_CAP) {
        size_t n = BODY_SNIPPET_CAP - s->snippet_len < len ? BODY_SNIPPET_CAP - s->snippet_len : len;
        memcpy(s->snippet + s->snippet_len, data, n);
        s->snippet_len += n;
        s->snippet[s->snippet_len] = '\0';
    }
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (c != '\n') {
            if (s->line_len >= SSE_LINE_CAP) {
                fail(s, "SSE line longer than 64 KiB");
                return false; /* hang up */
            }
            s->line[s->line_len++] = c;
            continue;
        }
        size_t n = s->line_len;
        s->line_len = 0;
        if (n > 0 && s->line[n - 1] == '\r') n--;
        if (n >= 5 && memcmp(s->line, "data:", 5) == 0) {
            size_t off = (n > 5 && s->line[5] == ' ') ? 6 : 5;
            on_event(s, s->line + off, n - off, now);
        }
    }
    return true;
}

/* What one request produced, kept after its stream state is gone. */
typedef struct request_result {
    bool ok;
    double ttft, e2e;
    long n_chunks, usage_completion, usage_prompt, usage_cached;
} request_result;

typedef struct client {
    const options *opt;
    const char *body;
    size_t body_len;
    char url[1024];
    pthread_barrier_t *start;
    int n_requests;
    request_result *results;
    dvec gaps;
    double t_begin, t_end;
    char first_err[ERR_CAP];
    stream_state *st; /* heap: the line buffer is too big for a thread stack */
} client;

static request_result run_request(client *c) {
    stream_state *s = c->st;
    memset(s, 0, sizeof *s);
    s->ttft = -1;
    s->usage_completion = s->usage_prompt = -1;
    s->gaps = &c->gaps;
    lo_http_header hdr = {"Content-Type", "application/json"};
    lo_http_client_req req = {.method = "POST",
                              .url = c->url,
                              .headers = &hdr,
                              .n_headers = 1,
                              .body = c->body,
                              .body_len = c->body_len,
                              .timeout_s = c->opt->timeout_s,
                              .on_data = on_data,
                              .user = s};
    lo_http_client_resp resp;
    size_t n_gaps_before = c->gaps.n;
    s->t_send = lo_time_sec();
    lo_status st = lo_http_fetch(&req, &resp);
    double t_end = lo_time_sec();
    request_result r = {.ttft = s->ttft,
                        .e2e = t_end - s->t_send,
                        .n_chunks = s->n_chunks,
                        .usage_completion = s->usage_completion,
                        .usage_prompt = s->usage_prompt,
                        .usage_cached = s->usage_cached};
    char msg[ERR_CAP];
    if (st != LO_OK) {
        snprintf(msg, sizeof msg, "%s", lo_error_message());
        fail(s, msg);
    } else if (resp.status != 200) {
        snprintf(msg, sizeof msg, "HTTP %ld: %.160s", resp.status, s->snippet);
        fail(s, msg);
    } else if (!s->failed && !s->done) {
        fail(s, "stream ended without data: [DONE]");
    } else if (!s->failed && s->ttft < 0) {
        fail(s, "stream carried no text");
    }
    lo_http_client_resp_free(&resp);
    r.ok = !s->failed;
    if (!r.ok) c->gaps.n = n_gaps_before; /* a failed request's gaps are not counted */
    if (s->failed && !c->first_err[0]) snprintf(c->first_err, sizeof c->first_err, "%s", s->err);
    return r;
}

static void *client_main(void *arg) {
    client *c = arg;
    pthread_barrier_wait(c->start);
    c->t_begin = lo_time_sec();
    for (int i = 0; i < c->n_requests; i++) c->results[i] = run_request(c);
    c->t_end = lo_time_sec();
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array of seconds (p in (0,100]), in milliseconds;
 * -1 when empty. */
static double percentile_ms(const double *v, size_t n, double p) {
    if (n == 0) return -1;
    size_t k = (size_t)((p / 100.0) * (double)n + 0.999999);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return 1e3 * v[k - 1];
}

static void usage(void) {
    fprintf(stderr, "usage: serve_load --url http://HOST:PORT [--clients N] [--requests R] [--max-tokens T]\n"
                    "                  [--prompt TEXT] [--model NAME] [--extra JSON] [--warmup W] [--timeout S]\n"
                    "  N concurrent clients (default 1) each send R (default 3) streamed POST /v1/completions\n"
                    "  back-to-back (greedy, ignore_eos, max_tokens T = 64); W unmeasured requests first.\n"
                    "  --extra '{\"cache_prompt\":false}' merges fields into every request body.\n"
                    "  prints one line: clients=.. ok=.. errors=.. tok_s=.. ttft_p50_ms=.. itl_p99_ms=.. ...\n");
}

static bool parse_int(const char *flag, const char *s, int lo, int hi, int *out) {
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "serve_load: %s expects an integer in [%d, %d], got '%s'\n", flag, lo, hi, s ? s : "");
        return false;
    }
    *out = (int)v;
    return true;
}

static bool parse_args(int argc, char **argv, options *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "serve_load: %s: missing value (or unknown flag)\n", a);
            return false;
        }
        i++;
        if (strcmp(a, "--url") == 0)
            o->url = v;
        else if (strcmp(a, "--model") == 0)
            o->model = v;
        else if (strcmp(a, "--prompt") == 0)
            o->prompt = v;
        else if (strcmp(a, "--extra") == 0)
            o->extra = v;
        else if (strcmp(a, "--clients") == 0) {
            if (!parse_int(a, v, 1, 256, &o->n_clients)) return false;
        } else if (strcmp(a, "--requests") == 0) {
            if (!parse_int(a, v, 1, 10000, &o->n_requests)) return false;
        } else if (strcmp(a, "--max-tokens") == 0) {
            if (!parse_int(a, v, 1, 65536, &o->max_tokens)) return false;
        } else if (strcmp(a, "--warmup") == 0) {
            if (!parse_int(a, v, 0, 100, &o->n_warmup)) return false;
        } else if (strcmp(a, "--timeout") == 0) {
            int t;
            if (!parse_int(a, v, 1, 86400, &t)) return false;
            o->timeout_s = t;
        } else {
            fprintf(stderr, "serve_load: unknown flag '%s'\n", a);
            return false;
        }
    }
    if (!o->url) {
        fprintf(stderr, "serve_load: --url is required\n");
        return false;
    }
    return true;
}

/* The request body: a streamed greedy completion that ignores end-of-generation. */
static char *build_body(const options *o) {
    json_t *b = json_pack("{s:s, s:i, s:f, s:b, s:b, s:{s:b}}", "prompt", o->prompt, "max_tokens", o->max_tokens,
                          "temperature", 0.0, "stream", 1, "ignore_eos", 1, "stream_options", "include_usage", 1);
    if (!b) return NULL;
    if (o->model) json_object_set_new(b, "model", json_string(o->model));
    if (o->extra) {
        json_t *x = NULL;
        if (lo_json_parse(o->extra, strlen(o->extra), &x) != LO_OK || !json_is_object(x)) {
            fprintf(stderr, "serve_load: --extra must be a JSON object: %s\n",
                    x ? "not an object" : lo_error_message());
            json_decref(x);
            json_decref(b);
            return NULL;
        }
        json_object_update(b, x);
        json_decref(x);
    }
    char *s = lo_json_dumps(b);
    json_decref(b);
    return s;
}

/* Runs n_clients threads of n_requests each; returns false when a thread cannot start. */
static bool run_level(const options *o, const char *body, int n_clients, int n_requests, client *cs) {
    pthread_barrier_t start;
    if (pthread_barrier_init(&start, NULL, (unsigned)n_clients + 1) != 0) return false;
    pthread_t *tid = calloc((size_t)n_clients, sizeof *tid);
    bool ok = tid != NULL;
    int started = 0;
    for (int i = 0; ok && i < n_clients; i++) {
        client *c = &cs[i];
        memset(c, 0, sizeof *c);
        c->opt = o;
        c->body = body;
        c->body_len = strlen(body);
        snprintf(c->url, sizeof c->url, "%s/v1/completions", o->url);
        c->start = &start;
        c->n_requests = n_requests;
        c->results = calloc((size_t)n_requests, sizeof *c->results);
        c->st = malloc(sizeof *c->st);
        if (!c->results || !c->st || pthread_create(&tid[i], NULL, client_main, c) != 0)
            ok = false;
        else
            started++;
    }
    if (!ok) {
        /* Threads already waiting cannot be released without the full count: give up. */
        fprintf(stderr, "serve_load: could not start %d client threads\n", n_clients);
        exit(1);
    }
    pthread_barrier_wait(&start);
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    free(tid);
    pthread_barrier_destroy(&start);
    return true;
}

static void free_clients(client *cs, int n) {
    for (int i = 0; i < n; i++) {
        free(cs[i].results);
        free(cs[i].gaps.v);
        free(cs[i].st);
    }
}

int main(int argc, char **argv) {
    options o = {.prompt = default_prompt, .n_clients = 1, .n_requests = 3, .max_tokens = 64, .timeout_s = 900};
    if (!parse_args(argc, argv, &o)) {
        usage();
        return 2;
    }
    size_t url_len = strlen(o.url);
    if (url_len == 0 || url_len > 900) {
        fprintf(stderr, "serve_load: --url must be 1..900 characters\n");
        return 2;
    }
    char *body = build_body(&o);
    if (!body) return 2;

    if (o.n_warmup > 0) {
        client w[1];
        run_level(&o, body, 1, o.n_warmup, w);
        int ok = 0;
        for (int i = 0; i < o.n_warmup; i++) ok += w[0].results[i].ok;
        if (ok == 0) {
            fprintf(stderr, "serve_load: warm-up failed: %s\n", w[0].first_err);
            free_clients(w, 1);
            lo_free(body);
            return 1;
        }
        free_clients(w, 1);
    }

    client *cs = calloc((size_t)o.n_clients, sizeof *cs);
    if (!cs) return 1;
    run_level(&o, body, o.n_clients, o.n_requests, cs);

    size_t n_total = (size_t)o.n_clients * (size_t)o.n_requests, n_gaps = 0;
    for (int i = 0; i < o.n_clients; i++) n_gaps += cs[i].gaps.n;
    double *ttft = malloc(n_total * sizeof *ttft), *e2e = malloc(n_total * sizeof *e2e);
    double *gaps = malloc((n_gaps ? n_gaps : 1) * sizeof *gaps);
    if (!ttft || !e2e || !gaps) return 1;
    size_t n_ok = 0, gi = 0;
    long chunks = 0, usage_tokens = 0, cached = 0, prompt_tokens = -1;
    bool usage_everywhere = true;
    double t_begin = 0, t_end = 0;
    const char *first_err = NULL;
    for (int i = 0; i < o.n_clients; i++) {
        client *c = &cs[i];
        if (i == 0 || c->t_begin < t_begin) t_begin = c->t_begin;
        if (i == 0 || c->t_end > t_end) t_end = c->t_end;
        if (!first_err && c->first_err[0]) first_err = c->first_err;
        memcpy(gaps + gi, c->gaps.v, c->gaps.n * sizeof *gaps);
        gi += c->gaps.n;
        for (int k = 0; k < c->n_requests; k++) {
            const request_result *r = &c->results[k];
            if (!r->ok) continue;
            ttft[n_ok] = r->ttft;
            e2e[n_ok] = r->e2e;
            n_ok++;
            chunks += r->n_chunks;
            if (r->usage_completion < 0)
                usage_everywhere = false;
            else
                usage_tokens += r->usage_completion;
            cached += r->usage_cached;
            if (prompt_tokens < 0) prompt_tokens = r->usage_prompt;
        }
    }
    qsort(ttft, n_ok, sizeof *ttft, cmp_double);
    qsort(e2e, n_ok, sizeof *e2e, cmp_double);
    qsort(gaps, n_gaps, sizeof *gaps, cmp_double);
    double wall = t_end - t_begin;
    /* Tokens: the servers' own usage counts when every request reported them, else the
     * number of non-empty text chunks (a token that ends mid-UTF-8 may send none). */
    long tokens = usage_everywhere && n_ok > 0 ? usage_tokens : chunks;
    size_t n_err = n_total - n_ok;
    printf("clients=%d requests=%zu ok=%zu errors=%zu max_tokens=%d prompt_tokens=%ld cached_prompt_tokens=%ld "
           "wall_s=%.3f tokens=%ld tokens_from=%s chunks=%ld usage_tokens=%ld tok_s=%.2f "
           "ttft_p50_ms=%.1f ttft_p99_ms=%.1f itl_p50_ms=%.1f itl_p99_ms=%.1f e2e_p50_ms=%.1f e2e_p99_ms=%.1f\n",
           o.n_clients, n_total, n_ok, n_err, o.max_tokens, prompt_tokens, cached, wall, tokens,
           usage_everywhere && n_ok > 0 ? "usage" : "chunks", chunks, usage_everywhere ? usage_tokens : -1,
           wall > 0 ? (double)tokens / wall : 0.0, percentile_ms(ttft, n_ok, 50), percentile_ms(ttft, n_ok, 99),
           percentile_ms(gaps, n_gaps, 50), percentile_ms(gaps, n_gaps, 99), percentile_ms(e2e, n_ok, 50),
           percentile_ms(e2e, n_ok, 99));
    if (first_err) fprintf(stderr, "serve_load: %zu of %zu requests failed; first: %s\n", n_err, n_total, first_err);
    free(ttft);
    free(e2e);
    free(gaps);
    free_clients(cs, o.n_clients);
    free(cs);
    lo_free(body);
    return n_ok > 0 ? 0 : 1;
}
