/* Evaluation runs: answers for an EVAL.jsonl generated through the continuous-batching
 * scheduler, scored (BLEU, chrF, ROUGE, exact match, teacher-forced perplexity) and recorded
 * with their lineage (dataset version, model version, predictions artifact). Promotion gates
 * live in eval_gate.c. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmops/infer.h"
#include "llmops/metrics.h"
#include "ops/eval_internal.h"

static const char *const score_names[LO_EVAL_N_SCORES] = {"bleu",      "chrf",  "rouge1",     "rouge2",    "rougeL",
                                                          "rougeLsum", "exact", "exact_norm", "perplexity"};
static const lo_rouge_type rouge_types[4] = {1, 2, LO_ROUGE_L, LO_ROUGE_LSUM};
#define EVAL_MAX_SAMPLES 1000000

const char *lo_eval_score_name(int score) {
    return score >= 0 && score < LO_EVAL_N_SCORES ? score_names[score] : "?";
}

int lo_eval_score_find(const char *name, size_t len) {
    for (int i = 0; i < LO_EVAL_N_SCORES; i++)
        if (strlen(score_names[i]) == len && memcmp(score_names[i], name, len) == 0) return i;
    return -1;
}

bool lo_eval_higher_is_better(int score) {
    return score != LO_EVAL_PERPLEXITY;
}

lo_status lo_eval_parse_metrics(const char *list, uint32_t *mask) {
    const char *hint = "use a comma-separated list of bleu, chrf, rouge (or rouge1, rouge2, rougeL, rougeLsum), "
                       "exact (or exact_norm) and perplexity";
    *mask = 0;
    if (!list || !list[0]) return lo_error(LO_ERR_INVALID, hint, "the metric list is empty");
    for (const char *p = list;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && *p == ' ') p++, n--;
        while (n && p[n - 1] == ' ') n--;
        int k;
        if (n == 5 && memcmp(p, "rouge", 5) == 0)
            *mask |= 1u << LO_EVAL_ROUGE1 | 1u << LO_EVAL_ROUGE2 | 1u << LO_EVAL_ROUGEL | 1u << LO_EVAL_ROUGELSUM;
        else if (n == 5 && memcmp(p, "exact", 5) == 0)
            *mask |= 1u << LO_EVAL_EXACT | 1u << LO_EVAL_EXACT_NORM;
        else if ((k = lo_eval_score_find(p, n)) >= 0)
            *mask |= 1u << k;
        else if (n == 0)
            return lo_error(LO_ERR_INVALID, hint, "the metric list '%s' has an empty entry", list);
        else
            return lo_error(LO_ERR_INVALID, hint, "unknown metric '%.*s'", (int)(n > 64 ? 64 : n), p);
        if (!e) break;
        p = e + 1;
    }
    return LO_OK;
}

void lo_eval_params_default(lo_eval_params *p) {
    memset(p, 0, sizeof *p);
    p->metrics = LO_EVAL_ALL;
    p->max_tokens = 64;
    p->temperature = 0;
    p->seed = 42;
    p->n_parallel = 4;
}

/* ---- samples ------------------------------------------------------------------------ */

typedef struct ev_gen ev_gen;
typedef struct ev_sample {
    int64_t line;       /* 1-based line number in the file */
    json_t *src;        /* the line's object; prompt, messages and refs point into it */
    const char *prompt; /* prompt text: the "prompt" string or the rendered messages */
    size_t prompt_len;
    char *rendered;    /* owned rendering of "messages" */
    bool chat;         /* came from "messages" */
    const char **refs; /* n_refs strings (owned array, strings in src) */
    int32_t n_refs;
    lo_tokens ids;     /* prompt ids */
    lo_tokens full;    /* prompt + first reference, for perplexity */
    int32_t n_context; /* tokens of full that are the prompt */
    /* generation (written by the scheduler thread until DONE) */
    ev_gen *gen;
    char *out;
    size_t out_len, out_cap;
    lo_status status;
    char *message;
    lo_finish_reason finish;
    int32_t n_completion;
    /* scores */
    const char *hyp; /* trimmed answer (points into out) */
    bool exact, exact_norm;
    double rouge[4], bleu, chrf, nll;
    int32_t n_scored;
} ev_sample;

struct ev_gen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t n_done;
};

typedef struct ev_data {
    char *bytes;
    size_t n_bytes;
    ev_sample *s;
    int64_t n;
} ev_data;

static void data_free(ev_data *d) {
    for (int64_t i = 0; i < d->n; i++) {
        ev_sample *x = &d->s[i];
        json_decref(x->src);
        lo_free(x->rendered);
        lo_free((void *)x->refs);
        lo_tokens_free(&x->ids);
        lo_tokens_free(&x->full);
        lo_free(x->out);
        lo_free(x->message);
    }
    lo_free(d->s);
    lo_free(d->bytes);
    memset(d, 0, sizeof *d);
}

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Validates one line's object into x (refs and prompt still to tokenize). */
static lo_status parse_line(const char *path, int64_t line, json_t *o, ev_sample *x) {
    const char *hint =
        "each line is {\"prompt\": \"...\", \"reference\": \"...\"} or {\"messages\": [{\"role\": \"user\", "
        "\"content\": \"...\"}], \"references\": [\"...\", ...]} (or \"completion\" as the reference)";
    if (!json_is_object(o))
        return lo_error(LO_ERR_INVALID, hint, "%s line %lld: not a JSON object", path, (long long)line);
    json_t *pr = json_object_get(o, "prompt"), *ms = json_object_get(o, "messages");
    if (!!pr == !!ms)
        return lo_error(LO_ERR_INVALID, hint, "%s line %lld: give either \"prompt\" or \"messages\"", path,
                        (long long)line);
    if (pr && !json_is_string(pr))
        return lo_error(LO_ERR_INVALID, hint, "%s line %lld: \"prompt\" is not a string", path, (long long)line);
    if (ms) {
        if (!json_is_array(ms) || json_array_size(ms) == 0)
            return lo_error(LO_ERR_INVALID, hint, "%s line %lld: \"messages\" is not a non-empty array", path,
                            (long long)line);
        for (size_t k = 0; k < json_array_size(ms); k++) {
            json_t *m = json_array_get(ms, k);
            if (!json_is_object(m) || !json_is_string(json_object_get(m, "role")) ||
                !json_is_string(json_object_get(m, "content")))
                return lo_error(LO_ERR_INVALID, hint,
                                "%s line %lld: messages[%zu] needs string \"role\" and \"content\"", path,
                                (long long)line, k);
        }
    }
    static const char *const ref_keys[3] = {"reference", "references", "completion"};
    json_t *ref = NULL;
    int which = -1;
    for (int k = 0; k < 3; k++) {
        json_t *v = json_object_get(o, ref_keys[k]);
        if (!v) continue;
        if (ref)
            return lo_error(LO_ERR_INVALID, hint, "%s line %lld: give only one of \"%s\" and \"%s\"", path,
                            (long long)line, ref_keys[which], ref_keys[k]);
        ref = v, which = k;
    }
    if (!ref)
        return lo_error(LO_ERR_INVALID, hint,
                        "%s line %lld: no reference (\"reference\", \"references\" or \"completion\")", path,
                        (long long)line);
    size_t n_refs = which == 1 ? json_array_size(ref) : 1;
    if (which == 1 && (!json_is_array(ref) || n_refs == 0 || n_refs > 64))
        return lo_error(LO_ERR_INVALID, hint, "%s line %lld: \"references\" is not an array of 1-64 strings", path,
                        (long long)line);
    x->refs = lo_malloc(n_refs * sizeof *x->refs);
    if (!x->refs) return LO_ERR_NOMEM;
    for (size_t k = 0; k < n_refs; k++) {
        json_t *v = which == 1 ? json_array_get(ref, k) : ref;
        if (!json_is_string(v))
            return lo_error(LO_ERR_INVALID, hint, "%s line %lld: the reference%s is not a string", path,
                            (long long)line, which == 1 ? "s array holds something that" : "");
        if (strlen(json_string_value(v)) != json_string_length(v))
            return lo_error(LO_ERR_INVALID, NULL, "%s line %lld: a reference contains a NUL character", path,
                            (long long)line);
        x->refs[k] = json_string_value(v);
    }
    x->n_refs = (int32_t)n_refs;
    x->chat = ms != NULL;
    if (pr) {
        x->prompt = json_string_value(pr);
        x->prompt_len = json_string_length(pr);
        if (strlen(x->prompt) != x->prompt_len)
            return lo_error(LO_ERR_INVALID, NULL, "%s line %lld: the prompt contains a NUL character", path,
                            (long long)line);
    }
    return LO_OK;
}

/* Reads and validates every line of the file. */
static lo_status data_load(const char *path, ev_data *d) {
    memset(d, 0, sizeof *d);
    lo_status r = lo_read_file(path, &d->bytes, &d->n_bytes);
    if (r) return lo_error_wrap(r, "evaluation data");
    if (d->n_bytes > LO_OPS_DATASET_MAX_BYTES)
        return lo_error(LO_ERR_RANGE, "split the file", "%s is larger than %zu bytes", path, LO_OPS_DATASET_MAX_BYTES);
    int64_t cap = 0, line = 0;
    for (size_t i = 0; i < d->n_bytes;) {
        size_t e = i;
        while (e < d->n_bytes && d->bytes[e] != '\n') e++;
        line++;
        size_t b = i, end = e;
        i = e + 1;
        while (b < end && is_space(d->bytes[b])) b++;
        if (b == end) continue;
        if (d->n == EVAL_MAX_SAMPLES)
            return lo_error(LO_ERR_RANGE, "split the file", "%s has more than %d samples", path, EVAL_MAX_SAMPLES);
        if (d->n == cap) {
            int64_t nc = cap ? cap * 2 : 64;
            ev_sample *g = lo_realloc(d->s, (size_t)nc * sizeof *g);
            if (!g) return LO_ERR_NOMEM;
            d->s = g, cap = nc;
        }
        ev_sample *x = &d->s[d->n++];
        memset(x, 0, sizeof *x);
        x->line = line;
        json_t *o = NULL;
        if ((r = lo_json_parse(d->bytes + b, end - b, &o)))
            return lo_error_wrap(r, "%s line %lld", path, (long long)line);
        x->src = o;
        if ((r = parse_line(path, line, o, x))) return r;
    }
    if (d->n == 0) return lo_error(LO_ERR_INVALID, "write one JSON object per line", "%s has no samples", path);
    return LO_OK;
}

/* Prompts rendered (messages) and tokenized; the perplexity text tokenized when wanted. */
static lo_status data_tokenize(const char *path, ev_data *d, const lo_tokenizer *tok, lo_chat_template tmpl, bool ppl) {
    for (int64_t i = 0; i < d->n; i++) {
        ev_sample *x = &d->s[i];
        lo_status r;
        if (x->chat) {
            json_t *ms = json_object_get(x->src, "messages");
            size_t n = json_array_size(ms);
            lo_chat_message *msgs = lo_malloc(n * sizeof *msgs);
            if (!msgs) return LO_ERR_NOMEM;
            for (size_t k = 0; k < n; k++) {
                msgs[k].role = json_string_value(json_object_get(json_array_get(ms, k), "role"));
                msgs[k].content = json_string_value(json_object_get(json_array_get(ms, k), "content"));
            }
            r = lo_chat_render(tmpl, msgs, (int32_t)n, true, &x->rendered, &x->prompt_len);
            lo_free(msgs);
            if (r)
                return lo_error_wrap(r, "%s line %lld: the %s chat template", path, (long long)x->line,
                                     lo_chat_template_name(tmpl));
            x->prompt = x->rendered;
        }
        if ((r = lo_tokenize(tok, x->prompt, x->prompt_len, true, true, &x->ids)))
            return lo_error_wrap(r, "%s line %lld: tokenizing the prompt", path, (long long)x->line);
        if (x->ids.n == 0)
            return lo_error(LO_ERR_INVALID, "give a non-empty prompt",
                            "%s line %lld: the prompt is empty and the model adds no BOS", path, (long long)x->line);
        if (!ppl) continue;
        /* The reference continues the prompt: a plain prompt that does not end in whitespace
         * is followed by a space unless the reference starts with one (a new word); a chat
         * prompt ends with the assistant's opening, which the answer follows directly. The
         * whole text is tokenized once and the part shared with the prompt's ids is the
         * context, so a token spanning the boundary is scored as the model would see it. */
        const char *ref = x->refs[0];
        size_t rl = strlen(ref);
        bool sep = !x->chat && x->prompt_len && !is_space(x->prompt[x->prompt_len - 1]) && rl && !is_space(ref[0]);
        char *text = lo_malloc(x->prompt_len + rl + 2);
        if (!text) return LO_ERR_NOMEM;
        memcpy(text, x->prompt, x->prompt_len);
        if (sep) text[x->prompt_len] = ' ';
        memcpy(text + x->prompt_len + sep, ref, rl + 1);
        r = lo_tokenize(tok, text, x->prompt_len + sep + rl, true, true, &x->full);
        lo_free(text);
        if (r) return lo_error_wrap(r, "%s line %lld: tokenizing prompt and reference", path, (long long)x->line);
        int64_t k = 0;
        while (k < x->ids.n && k < x->full.n && x->ids.ids[k] == x->full.ids[k]) k++;
        x->n_context = (int32_t)(k < 1 ? 1 : k);
    }
    return LO_OK;
}

/* ---- generation through the scheduler ---------------------------------------------- */

static void on_event(void *user, const lo_sched_event *ev) {
    ev_sample *x = user;
    if (ev->kind == LO_SCHED_TOKEN) {
        if (ev->len == 0 || x->status != LO_OK) return;
        if (x->out_len + ev->len + 1 > x->out_cap) {
            size_t nc = (x->out_len + ev->len + 1) * 2;
            char *g = lo_realloc(x->out, nc);
            if (!g) {
                x->status = LO_ERR_NOMEM;
                return;
            }
            x->out = g, x->out_cap = nc;
        }
        memcpy(x->out + x->out_len, ev->text, ev->len);
        x->out_len += ev->len;
        x->out[x->out_len] = 0;
        return;
    }
    if (x->status == LO_OK && ev->status != LO_OK) {
        x->status = ev->status;
        x->message = lo_strdup(ev->message ? ev->message : lo_status_name(ev->status));
    }
    x->finish = ev->finish;
    x->n_completion = ev->n_completion;
    pthread_mutex_lock(&x->gen->mu);
    x->gen->n_done++;
    pthread_cond_signal(&x->gen->cv);
    pthread_mutex_unlock(&x->gen->mu);
}

static lo_status generate_all(const char *path, const lo_model *m, const lo_eval_params *p, ev_data *d,
                              int64_t *n_prompt, int64_t *n_gen) {
    lo_sched_params sp;
    lo_sched_params_default(&sp);
    sp.n_parallel = p->n_parallel > 0 ? p->n_parallel : 4;
    sp.n_ctx = p->n_ctx;
    sp.n_threads = p->n_threads;
    sp.max_queue = (int32_t)d->n;
    if (sp.n_batch < sp.n_parallel) sp.n_batch = sp.n_parallel;
    lo_sched *s = NULL;
    lo_status r = lo_sched_create(m, &sp, &s);
    if (r) return lo_error_wrap(r, "evaluation");
    lo_sched_stats stats;
    lo_sched_stats_get(s, &stats);
    for (int64_t i = 0; i < d->n; i++)
        if (d->s[i].ids.n + p->max_tokens > stats.n_ctx) {
            lo_sched_free(s);
            return lo_error(
                LO_ERR_RANGE, "use a larger --ctx, fewer --max-tokens or a shorter prompt",
                "%s line %lld: the prompt has %lld tokens; with %d new tokens it does not fit the context of %d", path,
                (long long)d->s[i].line, (long long)d->s[i].ids.n, p->max_tokens, stats.n_ctx);
        }
    ev_gen g = {.n_done = 0};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    int64_t submitted = 0;
    for (int64_t i = 0; i < d->n && r == LO_OK; i++) {
        ev_sample *x = &d->s[i];
        x->gen = &g;
        lo_sched_request q = {.prompt = x->ids.ids,
                              .n_prompt = (int32_t)x->ids.n,
                              .n_predict = p->max_tokens,
                              .stop = p->stop,
                              .n_stop = p->n_stop,
                              .cb = on_event,
                              .user = x};
        lo_sampler_params_default(&q.sampling);
        q.sampling.temperature = p->temperature;
        q.sampling.seed = p->seed + (uint64_t)i;
        if (q.sampling.seed >= LO_SEED_RANDOM) q.sampling.seed++; /* never "pick a random seed" */
        uint64_t id;
        r = lo_sched_submit(s, &q, &id);
        if (r)
            lo_error_wrap(r, "%s line %lld", path, (long long)x->line);
        else
            submitted++;
    }
    if (r == LO_OK) {
        pthread_mutex_lock(&g.mu);
        while (g.n_done < submitted) pthread_cond_wait(&g.cv, &g.mu);
        pthread_mutex_unlock(&g.mu);
    }
    lo_sched_free(s); /* on an error, ends what is still queued or running (DONE each) */
    pthread_mutex_destroy(&g.mu);
    pthread_cond_destroy(&g.cv);
    if (r) return r;
    for (int64_t i = 0; i < d->n; i++) {
        ev_sample *x = &d->s[i];
        if (x->status != LO_OK)
            return lo_error(x->status, NULL, "%s line %lld: generation failed: %s", path, (long long)x->line,
                            x->message ? x->message : lo_status_name(x->status));
        *n_prompt += x->ids.n;
        *n_gen += x->n_completion;
    }
    return LO_OK;
}

static lo_status score_perplexity(const char *path, const lo_model *m, const lo_eval_params *p, ev_data *d, double *ppl,
                                  int64_t *n_scored) {
    lo_context_params cp = {
        .n_ctx = p->n_ctx, .n_seq = p->n_parallel > 0 ? p->n_parallel : 4, .n_batch = 512, .n_threads = p->n_threads};
    lo_context *c = NULL;
    lo_status r = lo_context_create(m, &cp, &c);
    if (r) return lo_error_wrap(r, "evaluation: perplexity context");
    lo_nll_item *items = lo_calloc((size_t)d->n, sizeof *items);
    int64_t n = 0;
    if (!items) r = LO_ERR_NOMEM;
    for (int64_t i = 0; i < d->n && r == LO_OK; i++) {
        ev_sample *x = &d->s[i];
        if (x->full.n <= x->n_context) continue; /* an empty reference: nothing to score */
        if (x->full.n > lo_context_n_ctx(c))
            r = lo_error(LO_ERR_RANGE, "use a larger --ctx or shorter samples",
                         "%s line %lld: prompt and reference have %lld tokens; the context holds %d", path,
                         (long long)x->line, (long long)x->full.n, lo_context_n_ctx(c));
        items[n++] = (lo_nll_item){.ids = x->full.ids, .n_ids = (int32_t)x->full.n, .n_context = x->n_context};
    }
    if (r == LO_OK && n == 0)
        r = lo_error(LO_ERR_INVALID, "give non-empty references, or leave perplexity out of --metrics",
                     "%s: every reference is empty, so there is no perplexity to compute", path);
    if (r == LO_OK) r = lo_score_continuations(m, c, items, n);
    if (r == LO_OK) {
        double sum = 0;
        int64_t cnt = 0, k = 0;
        for (int64_t i = 0; i < d->n; i++) {
            ev_sample *x = &d->s[i];
            if (x->full.n <= x->n_context) continue;
            x->nll = items[k].nll;
            x->n_scored = items[k].n_scored;
            sum += items[k].nll;
            cnt += items[k].n_scored;
            k++;
        }
        *ppl = exp(sum / (double)cnt);
        *n_scored = cnt;
        if (!isfinite(*ppl))
            r = lo_error(LO_ERR_INTERNAL, "the model produced invalid numbers", "perplexity is not finite");
    }
    lo_free(items);
    lo_context_free(c);
    return r;
}

/* Trims the answer and computes every text score (corpus BLEU/chrF, per-sample and mean
 * ROUGE F, exact match). */
static lo_status score_text(const lo_eval_params *p, ev_data *d, double *scores) {
    uint32_t want = p->metrics;
    int32_t n_streams = 0;
    for (int64_t i = 0; i < d->n; i++) {
        ev_sample *x = &d->s[i];
        if (!x->out) {
            x->out = lo_strdup("");
            if (!x->out) return LO_ERR_NOMEM;
        }
        char *b = x->out, *e = x->out + x->out_len;
        while (b < e && is_space(*b)) b++;
        while (e > b && is_space(e[-1])) e--;
        *e = 0;
        x->hyp = b;
        if (x->n_refs > n_streams) n_streams = x->n_refs;
    }
    const char **hyps = lo_malloc((size_t)d->n * sizeof *hyps);
    const char **refs = lo_calloc((size_t)d->n * (size_t)n_streams, sizeof *refs);
    const char ***streams = lo_malloc((size_t)n_streams * sizeof *streams);
    lo_status r = LO_OK;
    if (!hyps || !refs || !streams) r = LO_ERR_NOMEM;
    for (int64_t i = 0; i < d->n && r == LO_OK; i++) {
        hyps[i] = d->s[i].hyp;
        for (int32_t k = 0; k < d->s[i].n_refs; k++) refs[(size_t)k * (size_t)d->n + (size_t)i] = d->s[i].refs[k];
    }
    for (int32_t k = 0; k < n_streams && r == LO_OK; k++) streams[k] = &refs[(size_t)k * (size_t)d->n];
    const char *const *const *rs = (const char *const *const *)streams;
    if (r == LO_OK && (want & 1u << LO_EVAL_BLEU)) {
        lo_bleu_opts o, so;
        lo_bleu_opts_default(&o);
        so = o;
        so.effective_order = true; /* sacreBLEU's sentence_bleu */
        lo_bleu_score b;
        r = lo_bleu_corpus(&o, hyps, (size_t)d->n, rs, (size_t)n_streams, &b);
        scores[LO_EVAL_BLEU] = b.score;
        for (int64_t i = 0; i < d->n && r == LO_OK; i++) {
            r = lo_bleu_sentence(&so, d->s[i].hyp, d->s[i].refs, (size_t)d->s[i].n_refs, &b);
            d->s[i].bleu = b.score;
        }
    }
    if (r == LO_OK && (want & 1u << LO_EVAL_CHRF)) {
        lo_chrf_opts o;
        lo_chrf_opts_default(&o);
        lo_chrf_score c;
        r = lo_chrf_corpus(&o, hyps, (size_t)d->n, rs, (size_t)n_streams, &c);
        scores[LO_EVAL_CHRF] = c.score;
        for (int64_t i = 0; i < d->n && r == LO_OK; i++) {
            r = lo_chrf_sentence(&o, d->s[i].hyp, d->s[i].refs, (size_t)d->s[i].n_refs, &c);
            d->s[i].chrf = c.score;
        }
    }
    lo_rouge_type types[4];
    int idx[4], n_types = 0;
    for (int k = 0; k < 4; k++)
        if (want & 1u << (LO_EVAL_ROUGE1 + k)) types[n_types] = rouge_types[k], idx[n_types++] = k;
    double sum[4] = {0};
    for (int64_t i = 0; i < d->n && r == LO_OK; i++) {
        ev_sample *x = &d->s[i];
        if (n_types) {
            lo_rouge_prf prf[4];
            r = lo_rouge_score_multi(x->refs, (size_t)x->n_refs, x->hyp, types, (size_t)n_types, p->rouge_stem, prf);
            for (int t = 0; t < n_types && r == LO_OK; t++)
                x->rouge[idx[t]] = prf[t].fmeasure, sum[idx[t]] += prf[t].fmeasure;
        }
        for (int32_t k = 0; k < x->n_refs; k++) {
            const char *rb = x->refs[k], *re = rb + strlen(rb);
            while (rb < re && is_space(*rb)) rb++;
            while (re > rb && is_space(re[-1])) re--;
            if ((size_t)(re - rb) == strlen(x->hyp) && memcmp(rb, x->hyp, (size_t)(re - rb)) == 0) x->exact = true;
            if (lo_exact_match_norm(x->hyp, x->refs[k])) x->exact_norm = true;
        }
        scores[LO_EVAL_EXACT] += x->exact;
        scores[LO_EVAL_EXACT_NORM] += x->exact_norm;
    }
    for (int k = 0; k < 4; k++) scores[LO_EVAL_ROUGE1 + k] = sum[k] / (double)d->n;
    scores[LO_EVAL_EXACT] /= (double)d->n;
    scores[LO_EVAL_EXACT_NORM] /= (double)d->n;
    lo_free(hyps);
    lo_free((void *)refs);
    lo_free((void *)streams);
    return r;
}

/* ---- recording ------------------------------------------------------------------------ */

/* mkdir -p */
static lo_status make_dirs(const char *dir) {
    char buf[LO_OPS_PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return lo_error(LO_ERR_INVALID, NULL, "output directory '%s' is empty or too long", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return lo_error(LO_ERR_IO, "give a writable --out-dir", "cannot create directory %s: %s", buf,
                            strerror(errno));
        buf[i] = c;
    }
    struct stat stt;
    if (stat(dir, &stt) != 0 || !S_ISDIR(stt.st_mode))
        return lo_error(LO_ERR_IO, "give a writable --out-dir", "%s is not a directory", dir);
    return LO_OK;
}

/* The generation settings that make two evals comparable (the "gen" object of the params). */
static json_t *gen_settings(const lo_eval_params *p) {
    json_t *g = json_object(), *stops = json_array();
    for (int32_t i = 0; i < p->n_stop; i++) json_array_append_new(stops, json_string_nocheck(p->stop[i]));
    json_object_set_new(g, "max_tokens", json_integer(p->max_tokens));
    json_object_set_new(g, "temperature", json_real(p->temperature));
    json_object_set_new(g, "seed", json_integer((json_int_t)p->seed));
    json_object_set_new(g, "stop", stops);
    json_object_set_new(g, "rouge_stem", json_boolean(p->rouge_stem));
    return g;
}

static json_t *scores_json(const double *scores, uint32_t mask) {
    json_t *o = json_object();
    for (int k = 0; k < LO_EVAL_N_SCORES; k++)
        if (mask & 1u << k) json_object_set_new(o, score_names[k], json_real(scores[k]));
    return o;
}

static lo_status write_predictions(const char *path, const lo_eval_params *p, const ev_data *d, bool generated) {
    lo_atomic_file *f = NULL;
    lo_status r = lo_atomic_open(path, &f);
    if (r) return lo_error_wrap(r, "predictions file");
    for (int64_t i = 0; i < d->n && r == LO_OK; i++) {
        const ev_sample *x = &d->s[i];
        json_t *o = json_object(), *refs = json_array();
        json_object_set_new(o, "line", json_integer(x->line));
        json_t *id = json_object_get(x->src, "id");
        if (id) json_object_set(o, "id", id);
        json_object_set(o, x->chat ? "messages" : "prompt", json_object_get(x->src, x->chat ? "messages" : "prompt"));
        for (int32_t k = 0; k < x->n_refs; k++) json_array_append_new(refs, json_string_nocheck(x->refs[k]));
        json_object_set_new(o, "references", refs);
        json_object_set_new(o, "n_prompt_tokens", json_integer(x->ids.n));
        if (generated) {
            json_object_set_new(o, "prediction", json_string_nocheck(x->hyp));
            json_object_set_new(o, "finish", json_string(lo_finish_reason_name(x->finish)));
            json_object_set_new(o, "n_completion_tokens", json_integer(x->n_completion));
        }
        if (p->metrics & 1u << LO_EVAL_BLEU) json_object_set_new(o, "bleu", json_real(x->bleu));
        if (p->metrics & 1u << LO_EVAL_CHRF) json_object_set_new(o, "chrf", json_real(x->chrf));
        for (int k = 0; k < 4; k++)
            if (p->metrics & 1u << (LO_EVAL_ROUGE1 + k))
                json_object_set_new(o, score_names[LO_EVAL_ROUGE1 + k], json_real(x->rouge[k]));
        if (p->metrics & 1u << LO_EVAL_EXACT) json_object_set_new(o, "exact", json_boolean(x->exact));
        if (p->metrics & 1u << LO_EVAL_EXACT_NORM) json_object_set_new(o, "exact_norm", json_boolean(x->exact_norm));
        if (p->metrics & 1u << LO_EVAL_PERPLEXITY) {
            json_object_set_new(o, "nll", json_real(x->nll));
            json_object_set_new(o, "n_reference_tokens", json_integer(x->n_scored));
        }
        char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(o);
        if (!line) {
            r = LO_ERR_NOMEM;
            break;
        }
        r = lo_atomic_write(f, line, strlen(line));
        if (r == LO_OK) r = lo_atomic_write(f, "\n", 1);
        free(line);
    }
    if (r) {
        lo_atomic_abort(f);
        return lo_error_wrap(r, "writing %s", path);
    }
    r = lo_atomic_commit(f);
    return r ? lo_error_wrap(r, "writing %s", path) : LO_OK;
}

/* The text of the first column of the first row of `sql` (one int64 parameter), lo_malloc'd
 * ("" when NULL or no row). */
static lo_status eval_text_column(lo_store *s, const char *sql, int64_t id, char **out) {
    lo_stmt *st = NULL;
    bool row = false;
    *out = NULL;
    lo_status r = ops_prepare(s, &st, sql, "i", id);
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK) {
        const char *t = row ? lo_store_column_text(st, 0) : NULL;
        *out = lo_strdup(t ? t : "");
        if (!*out) r = LO_ERR_NOMEM;
    }
    lo_store_finalize(st);
    return r;
}

/* Merges this eval into the model's summary: key = dataset version. Older eval entries
 * (by run id) are dropped while the summary is longer than the registry record shows
 * (lo_ops_model.eval_summary); the runs keep everything. */
static lo_status record_summary(lo_store *s, const lo_eval_result *res) {
    char *old = NULL;
    lo_status r = eval_text_column(s, "SELECT eval_summary FROM models WHERE id = ?", res->model_id, &old);
    if (r) return r;
    json_t *sum = old[0] ? json_loads(old, 0, NULL) : NULL;
    lo_free(old);
    if (!json_is_object(sum)) {
        json_decref(sum);
        sum = json_object();
    }
    json_t *e = json_object();
    json_object_set_new(e, "dataset", json_string_nocheck(res->dataset.name));
    json_object_set_new(e, "run", json_integer(res->run_id));
    json_object_set_new(e, "n", json_integer(res->n_samples));
    json_object_set_new(e, "scores", scores_json(res->scores, res->metrics));
    json_object_set_new(sum, res->dataset.version, e);
    char *text = NULL;
    for (;;) {
        text = json_dumps(sum, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(8));
        if (!text || strlen(text) < sizeof((lo_ops_model *)0)->eval_summary) break;
        const char *oldest = NULL;
        json_int_t min_run = 0;
        const char *key;
        json_t *v;
        json_object_foreach(sum, key, v) {
            json_t *run = json_is_object(v) ? json_object_get(v, "run") : NULL;
            if (!json_is_integer(run) || json_integer_value(run) == res->run_id) continue;
            if (!oldest || json_integer_value(run) < min_run) oldest = key, min_run = json_integer_value(run);
        }
        if (!oldest) break;
        free(text);
        text = NULL;
        json_object_del(sum, oldest);
    }
    json_decref(sum);
    if (!text) return lo_error(LO_ERR_NOMEM, NULL, "out of memory");
    char ref[LO_OPS_NAME_MAX + 32];
    lo_ops_model m;
    r = lo_ops_model_get_id(s, res->model_id, &m);
    if (r == LO_OK) {
        snprintf(ref, sizeof ref, "%s@%s", m.name, m.version);
        r = lo_ops_model_set_eval(s, ref, text);
    }
    free(text);
    return r;
}

static lo_status record(lo_store *s, const lo_eval_params *p, const char *data_name, const char *data_sha, ev_data *d,
                        bool generated, lo_eval_result *res) {
    bool owned;
    lo_status r = ops_begin_serial(s, &owned);
    if (r) return r;
    bool existed, file_written = false;
    r = lo_ops_dataset_add(s, data_name, p->data_path, &res->dataset, &existed);
    if (r == LO_OK && strcmp(res->dataset.version, data_sha) != 0)
        r = lo_error(LO_ERR_IO, "do not change the file while it is evaluated", "%s changed during the evaluation",
                     p->data_path);
    char *params = NULL;
    if (r == LO_OK) {
        json_t *o = json_object(), *ms = json_array();
        json_object_set_new(o, "model", json_string_nocheck(res->model_ref));
        if (p->deployment) json_object_set_new(o, "deployment", json_string_nocheck(p->deployment));
        for (int k = 0; k < LO_EVAL_N_SCORES; k++)
            if (p->metrics & 1u << k) json_array_append_new(ms, json_string(score_names[k]));
        json_object_set_new(o, "metrics", ms);
        json_object_set_new(o, "n_samples", json_integer(d->n));
        json_object_set_new(o, "gen", gen_settings(p));
        params = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(o);
        if (!params) r = lo_error(LO_ERR_NOMEM, NULL, "out of memory");
    }
    char dref[LO_OPS_NAME_MAX + 80];
    if (r == LO_OK) {
        snprintf(dref, sizeof dref, "%s@%s", res->dataset.name, res->dataset.version);
        r = lo_ops_run_create(s, "eval", params, dref, res->model_id ? res->model_ref : NULL, &res->run_id);
    }
    free(params);
    if (r == LO_OK) {
        int n = snprintf(res->predictions_path, sizeof res->predictions_path, "%s/eval-run-%lld.jsonl", p->out_dir,
                         (long long)res->run_id);
        if (n < 0 || (size_t)n >= sizeof res->predictions_path)
            r = lo_error(LO_ERR_INVALID, NULL, "--out-dir is too long");
    }
    if (r == LO_OK && (r = write_predictions(res->predictions_path, p, d, generated)) == LO_OK) file_written = true;
    if (r == LO_OK) r = lo_ops_run_add_artifact(s, res->run_id, res->predictions_path);
    for (int k = 0; k < LO_EVAL_N_SCORES && r == LO_OK; k++)
        if (p->metrics & 1u << k) r = lo_ops_run_log_metric(s, res->run_id, 0, score_names[k], res->scores[k]);
    if (r == LO_OK && res->model_id) r = record_summary(s, res);
    if (r == LO_OK) r = lo_ops_run_set_status(s, res->run_id, "succeeded");
    r = ops_end(s, owned, r);
    if (r && file_written) unlink(res->predictions_path);
    if (r) res->run_id = 0;
    return r;
}

/* ---- reading recorded evals ---------------------------------------------------------- */

static void scores_of(void *ctx, const char *name, int64_t step, double value, int64_t at_ms) {
    (void)step, (void)at_ms;
    lo_eval_result *res = ctx;
    int k = lo_eval_score_find(name, strlen(name));
    if (k < 0) return;
    res->scores[k] = value; /* metrics come in step order: the last one wins */
    res->metrics |= 1u << k;
}

static void first_artifact(void *ctx, const char *path, const char *sha256, int64_t bytes) {
    (void)sha256, (void)bytes;
    lo_eval_result *res = ctx;
    if (!res->predictions_path[0]) ops_copy(res->predictions_path, sizeof res->predictions_path, path);
}

lo_status lo_eval_get(lo_store *s, int64_t run_id, lo_eval_result *out) {
    memset(out, 0, sizeof *out);
    lo_ops_run run;
    lo_status r = lo_ops_run_get(s, run_id, &run);
    if (r) return r;
    if (strcmp(run.kind, "eval") != 0)
        return lo_error(LO_ERR_INVALID, "`llmops runs ls --kind eval` lists evaluation runs",
                        "run %lld is a %s run, not an eval", (long long)run_id, run.kind);
    out->run_id = run_id;
    out->model_id = run.base_model_id;
    json_t *params = json_loads(run.params, 0, NULL);
    ops_copy(out->model_ref, sizeof out->model_ref, json_string_value(json_object_get(params, "model")));
    out->n_samples = json_integer_value(json_object_get(params, "n_samples"));
    json_decref(params);
    if (run.dataset_id) r = lo_ops_dataset_get_id(s, run.dataset_id, &out->dataset);
    if (r == LO_OK) r = lo_ops_run_metrics(s, run_id, scores_of, out);
    if (r == LO_OK) r = lo_ops_run_artifacts(s, run_id, first_artifact, out);
    return r;
}

lo_status eval_find_runs(lo_store *s, int64_t model_id, const char *version, eval_run **out, size_t *n) {
    *out = NULL;
    *n = 0;
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r =
        ops_prepare(s, &st,
                    "SELECT r.id, r.params, d.version, d.name FROM runs r JOIN datasets d ON d.id = r.dataset_id "
                    "WHERE r.kind = 'eval' AND r.status = 'succeeded' AND r.base_model_id = ? "
                    "AND (? = '' OR d.version = ?) ORDER BY r.id DESC",
                    "itt", model_id, version ? version : "", version ? version : "");
    size_t cap = 0;
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) {
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            eval_run *g = lo_realloc(*out, nc * sizeof *g);
            if (!g) {
                r = LO_ERR_NOMEM;
                break;
            }
            *out = g, cap = nc;
        }
        eval_run *e = &(*out)[(*n)++];
        memset(e, 0, sizeof *e);
        e->id = lo_store_column_int64(st, 0);
        json_t *params = json_loads(lo_store_column_text(st, 1), 0, NULL);
        e->gen = json_incref(json_object_get(params, "gen"));
        json_decref(params);
        ops_copy(e->version, sizeof e->version, lo_store_column_text(st, 2));
        ops_copy(e->dataset, sizeof e->dataset, lo_store_column_text(st, 3));
    }
    lo_store_finalize(st);
    for (size_t i = 0; i < *n && r == LO_OK; i++) {
        lo_eval_result tmp = {0};
        r = lo_ops_run_metrics(s, (*out)[i].id, scores_of, &tmp);
        memcpy((*out)[i].scores, tmp.scores, sizeof tmp.scores);
        (*out)[i].metrics = tmp.metrics;
    }
    if (r) eval_runs_free(*out, *n), *out = NULL, *n = 0;
    return r;
}

void eval_runs_free(eval_run *runs, size_t n) {
    for (size_t i = 0; i < n; i++) json_decref(runs[i].gen);
    lo_free(runs);
}

/* ---- the run ------------------------------------------------------------------------ */

/* A dataset name from the file name: its stem with characters outside [A-Za-z0-9._-]
 * replaced by '-', starting with a letter or digit, at most 64 characters. */
static void name_from_path(const char *path, char out[LO_OPS_NAME_MAX + 1]) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot > b ? (size_t)(dot - b) : strlen(b), k = 0;
    for (size_t i = 0; i < n && k < LO_OPS_NAME_MAX; i++) {
        char c = b[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '-';
        if (k == 0 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) continue;
        out[k++] = ok ? c : '-';
    }
    if (k == 0)
        memcpy(out, "eval", 5);
    else
        out[k] = 0;
}

/* A -m argument names a file (it contains '/' or ends in .gguf), not a registry reference. */
static bool eval_is_path(const char *model) {
    size_t n = strlen(model);
    return strchr(model, '/') || (n > 5 && strcmp(model + n - 5, ".gguf") == 0);
}

lo_status lo_eval_run(lo_store *s, const lo_eval_params *p, lo_eval_result *out) {
    memset(out, 0, sizeof *out);
    double t0 = lo_time_sec();
    const char *hint = "give -m MODEL (a GGUF path or NAME[@VERSION|@ALIAS]) or --deployment NAME";
    if (!!p->model == !!p->deployment)
        return lo_error(LO_ERR_INVALID, hint, "evaluation: give a model or a deployment, not %s",
                        p->model ? "both" : "neither");
    if (!p->data_path || !p->data_path[0])
        return lo_error(LO_ERR_INVALID, "give --data EVAL.jsonl", "evaluation: no data file");
    if (!p->out_dir || !p->out_dir[0])
        return lo_error(LO_ERR_INVALID, "give --out-dir DIR", "evaluation: no output directory");
    if (p->max_tokens < 1 || p->max_tokens > 1 << 20)
        return lo_error(LO_ERR_RANGE, "use 1..1048576", "evaluation: max tokens %d is out of range", p->max_tokens);
    if (!isfinite(p->temperature) || p->temperature < 0 || p->temperature > 100)
        return lo_error(LO_ERR_RANGE, "use 0 (greedy) to 100", "evaluation: temperature %g is out of range",
                        (double)p->temperature);
    if (p->n_parallel < 0 || p->n_parallel > 256 || p->n_ctx < 0 || p->n_threads < 0 || p->n_stop < 0 || p->n_stop > 16)
        return lo_error(LO_ERR_RANGE, "parallel 1..256, ctx and threads ≥ 0, at most 16 stop strings",
                        "evaluation: parallel %d / ctx %d / threads %d / %d stop strings out of range", p->n_parallel,
                        p->n_ctx, p->n_threads, p->n_stop);
    if (p->seed > 0xFFFFFFFFull)
        return lo_error(LO_ERR_RANGE, "use a seed of 0..4294967295", "evaluation: seed is out of range");
    for (int32_t i = 0; i < p->n_stop; i++)
        if (!p->stop[i] || !p->stop[i][0] || strlen(p->stop[i]) > 64)
            return lo_error(LO_ERR_INVALID, "stop strings are 1-64 bytes",
                            "evaluation: stop string %d is empty or too long", i + 1);
    lo_eval_params q = *p;
    if (!q.metrics) q.metrics = LO_EVAL_ALL;
    if (q.metrics & ~LO_EVAL_ALL)
        return lo_error(LO_ERR_INVALID, NULL, "evaluation: unknown metric bits 0x%x", q.metrics);
    if (!q.n_parallel) q.n_parallel = 4;
    char data_name[LO_OPS_NAME_MAX + 1];
    lo_status r;
    if (q.data_name) {
        if ((r = lo_ops_check_name("dataset name", q.data_name))) return r;
        ops_copy(data_name, sizeof data_name, q.data_name);
    } else {
        name_from_path(q.data_path, data_name);
    }

    /* the model: a file, a registry version, or a deployment's primary arm */
    char gguf[LO_OPS_PATH_MAX];
    if (q.deployment) {
        lo_ops_deployment dep;
        if ((r = lo_ops_deployment_get(s, q.deployment, &dep))) return r;
        out->model_id = dep.arms[0].model_id;
        ops_copy(out->model_ref, sizeof out->model_ref, dep.arms[0].model_ref);
        ops_copy(gguf, sizeof gguf, dep.arms[0].gguf_path);
    } else if (eval_is_path(q.model)) {
        if (strlen(q.model) >= sizeof gguf) return lo_error(LO_ERR_INVALID, NULL, "model path is too long");
        ops_copy(out->model_ref, sizeof out->model_ref, q.model);
        ops_copy(gguf, sizeof gguf, q.model);
    } else {
        lo_ops_model m;
        if ((r = lo_ops_model_get(s, q.model, &m))) return r;
        out->model_id = m.id;
        snprintf(out->model_ref, sizeof out->model_ref, "%s@%s", m.name, m.version);
        ops_copy(gguf, sizeof gguf, m.gguf_path);
    }

    ev_data d;
    r = data_load(q.data_path, &d);
    char sha[65] = "";
    if (r == LO_OK) lo_sha256_hex(d.bytes, d.n_bytes, sha);
    /* a recorded eval of the same version, data and settings */
    if (r == LO_OK && q.reuse && out->model_id) {
        eval_run *runs = NULL;
        size_t n_runs = 0;
        r = eval_find_runs(s, out->model_id, sha, &runs, &n_runs);
        json_t *gen = gen_settings(&q);
        int64_t found = 0;
        for (size_t i = 0; i < n_runs && !found; i++)
            if (json_equal(runs[i].gen, gen) && (runs[i].metrics & q.metrics) == q.metrics) found = runs[i].id;
        json_decref(gen);
        eval_runs_free(runs, n_runs);
        if (r == LO_OK && found) {
            data_free(&d);
            char ref[LO_OPS_PATH_MAX];
            memcpy(ref, out->model_ref, sizeof ref);
            int64_t mid = out->model_id;
            r = lo_eval_get(s, found, out);
            out->model_id = mid;
            memcpy(out->model_ref, ref, sizeof ref);
            out->reused = true;
            out->t_total_s = lo_time_sec() - t0;
            return r;
        }
    }
    if (r == LO_OK) r = make_dirs(q.out_dir);
    lo_model *m = NULL;
    if (r == LO_OK && (r = lo_model_load(gguf, &m))) lo_error_wrap(r, "loading %s", gguf);
    if (r == LO_OK && lo_model_is_encoder(m))
        r = lo_error(LO_ERR_UNSUPPORTED, "evaluate a decoder model",
                     "%s is an encoder: it cannot generate or score text", gguf);
    lo_chat_template tmpl = LO_CHAT_CHATML;
    bool any_chat = false;
    for (int64_t i = 0; r == LO_OK && i < d.n; i++) any_chat |= d.s[i].chat;
    if (r == LO_OK && any_chat) {
        if (q.chat_template)
            r = lo_chat_template_by_name(q.chat_template, &tmpl);
        else if ((r = lo_chat_template_detect(lo_tokenizer_chat_template(lo_model_tokenizer(m)), &tmpl)))
            lo_error_wrap(r, "%s: chat template", gguf);
    }
    const bool ppl = q.metrics & 1u << LO_EVAL_PERPLEXITY;
    const bool generate = q.metrics & ~(1u << LO_EVAL_PERPLEXITY);
    if (r == LO_OK) r = data_tokenize(q.data_path, &d, lo_model_tokenizer(m), tmpl, ppl);
    out->n_samples = d.n;
    out->metrics = q.metrics;
    if (r == LO_OK && generate) {
        double t = lo_time_sec();
        r = generate_all(q.data_path, m, &q, &d, &out->n_prompt_tokens, &out->n_gen_tokens);
        out->t_gen_s = lo_time_sec() - t;
        if (r == LO_OK) r = score_text(&q, &d, out->scores);
    }
    if (r == LO_OK && ppl) {
        double t = lo_time_sec();
        r = score_perplexity(q.data_path, m, &q, &d, &out->scores[LO_EVAL_PERPLEXITY], &out->n_scored_tokens);
        out->t_score_s = lo_time_sec() - t;
    }
    lo_model_free(m);
    if (r == LO_OK) r = record(s, &q, data_name, sha, &d, generate, out);
    data_free(&d);
    out->t_total_s = lo_time_sec() - t0;
    return r;
}
