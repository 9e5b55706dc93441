/* Evaluation runs and promotion gates on stories260K: an EVAL.jsonl whose references are the
 * model's own greedy answers for half the samples (so exact = 0.5 exactly), every score
 * checked against the metrics module run directly on lo_generate's answers, perplexity
 * against a one-sequence log-softmax, the run, its lineage, metrics, predictions artifact
 * and the model's summary; reuse of a recorded eval; bad lines named by number; gate
 * parsing and checking; promote refused and accepted. On a SQLite file, and on PostgreSQL
 * too when LLMOPS_TEST_PG is set. */
#include <math.h>
#include <sys/stat.h>

#include "llmops/infer.h"
#include "llmops/metrics.h"
#include "ops_fixture.h"
#include "pg_schema.h"

#define N_SAMPLES 8
#define MAX_TOKENS 16

static const char *const prompts[N_SAMPLES] = {
    "Once upon a time",       "The dog",     "Tom had a red ball", "Lily went to the park",
    "One day, a little bird", "The sun was", "Max and Mia",        NULL};
static const char *const chat_user = "Tell me a story";
static const char *const fixed_refs[N_SAMPLES] = {
    NULL, "ran to the park and played.", NULL, "She saw a big tree.", NULL, "hot and bright.", NULL, "Lily was happy."};

static char model_path[512], q4_path[512];
static lo_model *model;

typedef struct expected {
    char *hyp[N_SAMPLES];           /* lo_generate's greedy answer, trimmed */
    const char *refs[N_SAMPLES][2]; /* refs[i][0..n_refs) */
    int n_refs[N_SAMPLES];
    char *prompt_text[N_SAMPLES]; /* the prompt as the model sees it (chat rendered) */
    char *jsonl;                  /* the file's content */
} expected;

static char *trim_dup(const char *s) {
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    char *o = malloc(n + 1);
    memcpy(o, s, n);
    o[n] = 0;
    return o;
}

static char *json_str(const char *s) {
    json_t *v = json_string(s);
    char *t = json_dumps(v, JSON_ENCODE_ANY);
    json_decref(v);
    return t;
}

/* Generates the expected answers one by one with lo_generate and writes EVAL.jsonl. */
static void make_expected(expected *e, const char *path) {
    memset(e, 0, sizeof *e);
    lo_context_params cp = {.n_ctx = 256, .n_seq = 1, .n_batch = 512, .n_threads = 1};
    lo_context *c = NULL;
    CHECK_OK(lo_context_create(model, &cp, &c));
    const lo_tokenizer *tok = lo_model_tokenizer(model);
    size_t cap = 1 << 16, used = 0;
    e->jsonl = malloc(cap);
    for (int i = 0; i < N_SAMPLES; i++) {
        if (prompts[i]) {
            e->prompt_text[i] = strdup(prompts[i]);
        } else {
            lo_chat_message m = {"user", chat_user};
            char *r = NULL;
            size_t n = 0;
            CHECK_OK(lo_chat_render(LO_CHAT_CHATML, &m, 1, true, &r, &n));
            e->prompt_text[i] = strdup(r);
            lo_free(r);
        }
        lo_tokens ids = {0};
        CHECK_OK(lo_tokenize(tok, e->prompt_text[i], strlen(e->prompt_text[i]), true, true, &ids));
        lo_generate_params gp;
        lo_generate_params_default(&gp);
        gp.n_predict = MAX_TOKENS;
        gp.sampling.temperature = 0;
        lo_generate_result res = {0};
        CHECK_OK(lo_generate(model, c, ids.ids, (int32_t)ids.n, &gp, &res));
        e->hyp[i] = trim_dup(res.text ? res.text : "");
        lo_generate_result_free(&res);
        lo_tokens_free(&ids);
        e->refs[i][0] = fixed_refs[i] ? fixed_refs[i] : e->hyp[i];
        e->n_refs[i] = 1;
        if (i == 1) e->refs[i][1] = "A dog ran.", e->n_refs[i] = 2;
        char *p = prompts[i] ? json_str(prompts[i]) : json_str(chat_user), *r0 = json_str(e->refs[i][0]);
        if (i == 1) {
            char *r1 = json_str(e->refs[i][1]);
            used += (size_t)snprintf(e->jsonl + used, cap - used,
                                     "{\"prompt\": %s, \"references\": [%s, %s], \"id\": \"s%d\"}\n", p, r0, r1, i);
            free(r1);
        } else if (i == 3) {
            used += (size_t)snprintf(e->jsonl + used, cap - used, "{\"prompt\": %s, \"completion\": %s}\n\n", p, r0);
        } else if (!prompts[i]) {
            used +=
                (size_t)snprintf(e->jsonl + used, cap - used,
                                 "{\"messages\": [{\"role\": \"user\", \"content\": %s}], \"reference\": %s}\n", p, r0);
        } else {
            used += (size_t)snprintf(e->jsonl + used, cap - used, "{\"prompt\": %s, \"reference\": %s}\n", p, r0);
        }
        free(p);
        free(r0);
    }
    lo_context_free(c);
    ops_write(path, e->jsonl);
}

static void expected_free(expected *e) {
    for (int i = 0; i < N_SAMPLES; i++) free(e->hyp[i]), free(e->prompt_text[i]);
    free(e->jsonl);
}

/* exp(mean NLL) of each first reference given its prompt, one sequence at a time with a
 * log-softmax written here (the same joining rule: a space after a plain prompt). */
static double reference_ppl(const expected *e, int64_t *n_tokens) {
    lo_context_params cp = {.n_ctx = 256, .n_seq = 1, .n_batch = 256, .n_threads = 1};
    lo_context *c = NULL;
    CHECK_OK(lo_context_create(model, &cp, &c));
    const lo_tokenizer *tok = lo_model_tokenizer(model);
    const int32_t nv = lo_model_hparams(model)->n_vocab;
    double sum = 0;
    int64_t cnt = 0;
    for (int i = 0; i < N_SAMPLES; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s%s", e->prompt_text[i], prompts[i] ? " " : "", e->refs[i][0]);
        lo_tokens full = {0}, ctx = {0};
        CHECK_OK(lo_tokenize(tok, text, strlen(text), true, true, &full));
        CHECK_OK(lo_tokenize(tok, e->prompt_text[i], strlen(e->prompt_text[i]), true, true, &ctx));
        int64_t k = 0;
        while (k < ctx.n && full.ids[k] == ctx.ids[k]) k++;
        int32_t pos[256], seq[256] = {0};
        bool want[256];
        for (int64_t p = 0; p < full.n; p++) pos[p] = (int32_t)p, want[p] = true;
        lo_context_seq_clear(c, 0, 0, -1);
        lo_batch b = {.n_tokens = (int32_t)full.n, .token = full.ids, .pos = pos, .seq = seq, .logits = want};
        CHECK_OK(lo_model_decode(c, &b));
        for (int64_t p = k - 1; p < full.n - 1; p++) {
            const float *lg = lo_context_logits(c, (int32_t)p);
            double mx = lg[0], z = 0;
            for (int32_t v = 1; v < nv; v++) mx = lg[v] > mx ? lg[v] : mx;
            for (int32_t v = 0; v < nv; v++) z += exp((double)lg[v] - mx);
            sum += -((double)lg[full.ids[p + 1]] - mx - log(z));
            cnt++;
        }
        lo_tokens_free(&full);
        lo_tokens_free(&ctx);
    }
    lo_context_free(c);
    *n_tokens = cnt;
    return exp(sum / (double)cnt);
}

static void expected_scores(const expected *e, double *want) {
    const char *hyps[N_SAMPLES], *s0[N_SAMPLES], *s1[N_SAMPLES];
    for (int i = 0; i < N_SAMPLES; i++)
        hyps[i] = e->hyp[i], s0[i] = e->refs[i][0], s1[i] = e->n_refs[i] > 1 ? e->refs[i][1] : NULL;
    const char *const *streams[2] = {s0, s1};
    lo_bleu_opts bo;
    lo_bleu_opts_default(&bo);
    lo_bleu_score b;
    CHECK_OK(lo_bleu_corpus(&bo, hyps, N_SAMPLES, streams, 2, &b));
    want[LO_EVAL_BLEU] = b.score;
    lo_chrf_opts co;
    lo_chrf_opts_default(&co);
    lo_chrf_score cs;
    CHECK_OK(lo_chrf_corpus(&co, hyps, N_SAMPLES, streams, 2, &cs));
    want[LO_EVAL_CHRF] = cs.score;
    lo_rouge_type types[4] = {1, 2, LO_ROUGE_L, LO_ROUGE_LSUM};
    double en = 0;
    for (int k = 0; k < 4; k++) want[LO_EVAL_ROUGE1 + k] = 0;
    for (int i = 0; i < N_SAMPLES; i++) {
        lo_rouge_prf prf[4];
        CHECK_OK(lo_rouge_score_multi(e->refs[i], (size_t)e->n_refs[i], e->hyp[i], types, 4, false, prf));
        for (int k = 0; k < 4; k++) want[LO_EVAL_ROUGE1 + k] += prf[k].fmeasure / N_SAMPLES;
        bool any = false;
        for (int r = 0; r < e->n_refs[i]; r++) any |= lo_exact_match_norm(e->hyp[i], e->refs[i][r]);
        en += any;
    }
    want[LO_EVAL_EXACT] = 0.5;
    want[LO_EVAL_EXACT_NORM] = en / N_SAMPLES;
}

static bool close_rel(double a, double b, double tol) {
    return fabs(a - b) <= tol * fmax(1, fabs(b));
}

static int64_t count_lines(const char *path) {
    char *d = NULL;
    size_t n = 0;
    if (lo_read_file(path, &d, &n) != LO_OK) return -1;
    int64_t k = 0;
    for (size_t i = 0; i < n; i++) k += d[i] == '\n';
    lo_free(d);
    return k;
}

static void collect_metric(void *ctx, const char *name, int64_t step, double value, int64_t at_ms) {
    (void)at_ms;
    double *v = ctx;
    int k = lo_eval_score_find(name, strlen(name));
    CHECK(k >= 0 && step == 0);
    if (k >= 0) v[k] = value;
}

static void test_score_continuations(void) {
    const lo_tokenizer *tok = lo_model_tokenizer(model);
    lo_tokens t[3] = {{0}};
    const char *texts[3] = {"Once upon a time there was a girl", "The dog ran to the park and played with a ball",
                            "Tom"};
    for (int i = 0; i < 3; i++) CHECK_OK(lo_tokenize(tok, texts[i], strlen(texts[i]), true, false, &t[i]));
    lo_nll_item one[3], many[3];
    for (int i = 0; i < 3; i++)
        one[i] = many[i] = (lo_nll_item){.ids = t[i].ids, .n_ids = (int32_t)t[i].n, .n_context = 2};
    lo_context *c1 = NULL, *c3 = NULL;
    lo_context_params p1 = {.n_ctx = 64, .n_seq = 1, .n_batch = 64, .n_threads = 1};
    lo_context_params p3 = {.n_ctx = 64, .n_seq = 3, .n_batch = 7, .n_threads = 1}; /* items split over batches */
    CHECK_OK(lo_context_create(model, &p1, &c1));
    CHECK_OK(lo_context_create(model, &p3, &c3));
    CHECK_OK(lo_score_continuations(model, c1, one, 3));
    CHECK_OK(lo_score_continuations(model, c3, many, 3));
    for (int i = 0; i < 3; i++) {
        CHECK_INT_EQ(one[i].n_scored, t[i].n - 2);
        CHECK_INT_EQ(many[i].n_scored, t[i].n - 2);
        CHECK_MSG(close_rel(one[i].nll, many[i].nll, 1e-5), "item %d: %.9g vs %.9g", i, one[i].nll, many[i].nll);
        CHECK(one[i].nll > 0);
    }
    lo_nll_item bad = {.ids = t[0].ids, .n_ids = (int32_t)t[0].n, .n_context = 0};
    CHECK_INT_EQ(lo_score_continuations(model, c1, &bad, 1), LO_ERR_INVALID);
    bad.n_context = bad.n_ids;
    CHECK_INT_EQ(lo_score_continuations(model, c1, &bad, 1), LO_ERR_INVALID);
    int32_t big[80] = {1};
    bad = (lo_nll_item){.ids = big, .n_ids = 80, .n_context = 1};
    CHECK_INT_EQ(lo_score_continuations(model, c1, &bad, 1), LO_ERR_RANGE);
    int32_t oob[3] = {1, 99999, 2};
    bad = (lo_nll_item){.ids = oob, .n_ids = 3, .n_context = 1};
    CHECK_INT_EQ(lo_score_continuations(model, c1, &bad, 1), LO_ERR_INVALID);
    lo_context_free(c1);
    lo_context_free(c3);
    for (int i = 0; i < 3; i++) lo_tokens_free(&t[i]);
}

static void test_gates(void) {
    lo_eval_gate g;
    CHECK_OK(lo_eval_gate_parse("rougeL>=baseline", &g));
    CHECK_INT_EQ(g.score, LO_EVAL_ROUGEL);
    CHECK_INT_EQ(g.op, LO_EVAL_GE);
    CHECK(g.vs_baseline && g.k == 1);
    CHECK_STR_EQ(g.text, "rougeL>=baseline");
    CHECK_OK(lo_eval_gate_parse("  perplexity <= 1.05 * baseline ", &g));
    CHECK_INT_EQ(g.score, LO_EVAL_PERPLEXITY);
    CHECK_INT_EQ(g.op, LO_EVAL_LE);
    CHECK(g.vs_baseline && g.k == 1.05);
    CHECK_STR_EQ(g.text, "perplexity<=1.05*baseline");
    double rhs;
    CHECK(lo_eval_gate_check(&g, 10.5, 10, &rhs) && rhs == 1.05 * 10);
    CHECK(!lo_eval_gate_check(&g, 10.6, 10, &rhs));
    CHECK(!lo_eval_gate_check(&g, NAN, 10, &rhs));
    CHECK_OK(lo_eval_gate_parse("exact>0.5", &g));
    CHECK(!g.vs_baseline && g.k == 0.5 && g.op == LO_EVAL_GT);
    CHECK(!lo_eval_gate_check(&g, 0.5, NAN, &rhs) && rhs == 0.5);
    CHECK(lo_eval_gate_check(&g, 0.51, NAN, &rhs));
    CHECK_OK(lo_eval_gate_parse("bleu<-1e1", &g));
    CHECK(g.op == LO_EVAL_LT && g.k == -10);
    CHECK(lo_eval_gate_check(&g, -11, 0, NULL) && !lo_eval_gate_check(&g, -10, 0, NULL));
    CHECK_OK(lo_eval_gate_parse("exact_norm==1", &g));
    CHECK(g.op == LO_EVAL_EQ && lo_eval_gate_check(&g, 1, 0, NULL) && !lo_eval_gate_check(&g, 0.999, 0, NULL));
    CHECK_OK(lo_eval_gate_parse("rougeLsum>=.9*baseline", &g));
    CHECK(g.score == LO_EVAL_ROUGELSUM && g.k == 0.9 && lo_eval_gate_check(&g, 0.45, 0.5, &rhs) && rhs == 0.9 * 0.5);
    CHECK_OK(lo_eval_gate_parse("chrf>=baseline", &g));
    CHECK(lo_eval_gate_check(&g, 50, 50, NULL) && !lo_eval_gate_check(&g, 49.999, 50, NULL));
    static const char *const bad[] = {"",
                                      "   ",
                                      "rougeL",
                                      "rougeL>=",
                                      "rougeL >= ",
                                      "foo>=1",
                                      "ROUGEL>=1",
                                      "rougeL=>1",
                                      "rougeL=1",
                                      "rougeL>=abc",
                                      "rougeL>=1.05*",
                                      "rougeL>=1.05*base",
                                      "rougeL>=baseline x",
                                      "rougeL>=nan",
                                      "rougeL>=inf",
                                      "rougeL>=0x10",
                                      "rougeL>=1e999",
                                      ">=1",
                                      "rougeL>>1",
                                      "rougeL>=1 2",
                                      "rougeL>=baseline*2",
                                      "rouge-L>=1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lo_status r = lo_eval_gate_parse(bad[i], &g);
        CHECK_MSG(r == LO_ERR_INVALID, "'%s' gave %d", bad[i], r);
        CHECK_MSG(lo_error_hint()[0] != 0, "'%s' has no hint", bad[i]);
    }
    CHECK_INT_EQ(lo_eval_gate_parse(NULL, &g), LO_ERR_INVALID);
    char longg[200];
    memset(longg, 'a', sizeof longg - 1);
    longg[sizeof longg - 1] = 0;
    CHECK_INT_EQ(lo_eval_gate_parse(longg, &g), LO_ERR_INVALID);

    uint32_t mask;
    CHECK_OK(lo_eval_parse_metrics("bleu,rouge,chrf,exact,perplexity", &mask));
    CHECK_INT_EQ(mask, LO_EVAL_ALL);
    CHECK_OK(lo_eval_parse_metrics("rougeL, exact_norm", &mask));
    CHECK_INT_EQ(mask, (1u << LO_EVAL_ROUGEL) | (1u << LO_EVAL_EXACT_NORM));
    CHECK_INT_EQ(lo_eval_parse_metrics("bleu,,chrf", &mask), LO_ERR_INVALID);
    CHECK_INT_EQ(lo_eval_parse_metrics("bleu,meteor", &mask), LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "meteor") != NULL);
    CHECK_INT_EQ(lo_eval_parse_metrics("", &mask), LO_ERR_INVALID);
    CHECK(!lo_eval_higher_is_better(LO_EVAL_PERPLEXITY) && lo_eval_higher_is_better(LO_EVAL_BLEU));
}

/* An EVAL.jsonl with one bad line: the error names the file's line number. */
static void expect_bad_line(lo_store *s, const ops_env *env, const char *text, int line, const char *needle) {
    char path[600], dir[600];
    snprintf(path, sizeof path, "%s/bad.jsonl", env->dir);
    snprintf(dir, sizeof dir, "%s/evals", env->dir);
    ops_write(path, text);
    lo_eval_params p;
    lo_eval_params_default(&p);
    p.model = model_path, p.data_path = path, p.out_dir = dir, p.max_tokens = 4, p.n_ctx = 64;
    lo_eval_result *res = lo_calloc(1, sizeof *res);
    lo_status r = lo_eval_run(s, &p, res);
    lo_free(res);
    char want[64];
    snprintf(want, sizeof want, "line %d", line);
    CHECK_MSG(r != LO_OK && strstr(lo_error_message(), want) && strstr(lo_error_message(), needle),
              "%d: %s (wanted '%s', '%s')", r, lo_error_message(), want, needle);
}

static void test_eval(const ops_env *env, const expected *e, const char *data_path) {
    lo_store *s = ops_open(env);
    bool existed;
    lo_ops_model v1, v2;
    CHECK_OK(lo_ops_model_register(s, "tiny", model_path, 0, NULL, &v1, &existed));
    CHECK_OK(lo_ops_model_register(s, "tiny", q4_path, 0, "tiny@1", &v2, &existed));
    char out_dir[600];
    snprintf(out_dir, sizeof out_dir, "%s/evals/sub", env->dir);

    lo_eval_params p;
    lo_eval_params_default(&p);
    p.model = "tiny@1";
    p.data_path = data_path;
    p.data_name = "stories";
    p.out_dir = out_dir;
    p.max_tokens = MAX_TOKENS;
    p.n_parallel = 3; /* 8 samples through 3 slots: batched, with joins */
    p.n_ctx = 256;
    p.n_threads = 1;
    lo_eval_result *res = lo_calloc(4, sizeof *res);
    CHECK_OK(lo_eval_run(s, &p, &res[0]));
    const lo_eval_result *r = &res[0];
    double want[LO_EVAL_N_SCORES];
    expected_scores(e, want);
    int64_t n_tok = 0;
    want[LO_EVAL_PERPLEXITY] = reference_ppl(e, &n_tok);
    CHECK_INT_EQ(r->n_samples, N_SAMPLES);
    CHECK_INT_EQ(r->metrics, LO_EVAL_ALL);
    CHECK(!r->reused);
    CHECK_STR_EQ(r->model_ref, "tiny@1");
    CHECK_INT_EQ(r->model_id, v1.id);
    CHECK_INT_EQ(r->n_scored_tokens, n_tok);
    CHECK(r->n_gen_tokens > N_SAMPLES && r->n_gen_tokens <= N_SAMPLES * MAX_TOKENS);
    for (int k = 0; k < LO_EVAL_N_SCORES; k++) {
        double tol = k == LO_EVAL_PERPLEXITY ? 1e-4 : 1e-12;
        CHECK_MSG(close_rel(r->scores[k], want[k], tol), "%s: %.17g vs %.17g", lo_eval_score_name(k), r->scores[k],
                  want[k]);
    }
    CHECK(r->scores[LO_EVAL_EXACT] == 0.5);
    CHECK(r->scores[LO_EVAL_BLEU] > 30 && r->scores[LO_EVAL_BLEU] < 100);
    fprintf(stderr,
            "stories260K on %d samples: bleu %.2f chrf %.2f rouge1 %.4f rougeL %.4f exact %.2f ppl %.3f; "
            "%lld tokens in %.3f s, perplexity %.3f s, total %.3f s\n",
            N_SAMPLES, r->scores[0], r->scores[1], r->scores[2], r->scores[4], r->scores[6], r->scores[8],
            (long long)r->n_gen_tokens, r->t_gen_s, r->t_score_s, r->t_total_s);

    /* the record: dataset version, run kind/status/params/lineage, metrics, artifact, summary */
    char sha[65];
    CHECK_OK(lo_sha256_file_hex(data_path, sha));
    CHECK_STR_EQ(r->dataset.version, sha);
    CHECK_STR_EQ(r->dataset.name, "stories");
    CHECK_INT_EQ(r->dataset.n_rows, N_SAMPLES);
    lo_ops_run run;
    CHECK_OK(lo_ops_run_get(s, r->run_id, &run));
    CHECK_STR_EQ(run.kind, "eval");
    CHECK_STR_EQ(run.status, "succeeded");
    CHECK_INT_EQ(run.dataset_id, r->dataset.id);
    CHECK_INT_EQ(run.base_model_id, v1.id);
    CHECK(run.ended_at > 0);
    json_t *params = json_loads(run.params, 0, NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(params, "model")), "tiny@1");
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(params, "gen"), "max_tokens")), MAX_TOKENS);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(params, "gen"), "seed")), 42);
    CHECK_INT_EQ(json_array_size(json_object_get(params, "metrics")), LO_EVAL_N_SCORES);
    json_decref(params);
    double got[LO_EVAL_N_SCORES];
    for (int k = 0; k < LO_EVAL_N_SCORES; k++) got[k] = NAN;
    CHECK_OK(lo_ops_run_metrics(s, r->run_id, collect_metric, got));
    for (int k = 0; k < LO_EVAL_N_SCORES; k++) CHECK_MSG(got[k] == r->scores[k], "metric %s", lo_eval_score_name(k));
    char want_path[700];
    snprintf(want_path, sizeof want_path, "%s/eval-run-%lld.jsonl", out_dir, (long long)r->run_id);
    CHECK_STR_EQ(r->predictions_path, want_path);
    CHECK_INT_EQ(count_lines(r->predictions_path), N_SAMPLES);
    char psha[65];
    CHECK_OK(lo_sha256_file_hex(r->predictions_path, psha));
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM run_artifacts"), 1);
    lo_stmt *st = NULL;
    bool row = false;
    CHECK_OK(lo_store_prepare(s, "SELECT sha256 FROM run_artifacts", &st));
    CHECK_OK(lo_store_step(st, &row));
    if (row) CHECK_STR_EQ(lo_store_column_text(st, 0), psha);
    lo_store_finalize(st);
    /* each prediction line: the answer lo_generate gave, its references and flags */
    char *pred = NULL;
    size_t pn = 0;
    CHECK_OK(lo_read_file(r->predictions_path, &pred, &pn));
    char *line = pred;
    for (int i = 0; i < N_SAMPLES && line; i++) {
        char *nl = strchr(line, '\n');
        json_t *o = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, NULL);
        CHECK(o != NULL);
        CHECK_STR_EQ(json_string_value(json_object_get(o, "prediction")), e->hyp[i]);
        CHECK(json_is_true(json_object_get(o, "exact")) == (i % 2 == 0));
        CHECK_INT_EQ(json_array_size(json_object_get(o, "references")), e->n_refs[i]);
        CHECK_INT_EQ(json_integer_value(json_object_get(o, "line")), i < 4 ? i + 1 : i + 2); /* a blank line after 4 */
        if (i == 1) CHECK_STR_EQ(json_string_value(json_object_get(o, "id")), "s1");
        if (!prompts[i]) CHECK(json_is_array(json_object_get(o, "messages")));
        json_decref(o);
        line = nl ? nl + 1 : NULL;
    }
    lo_free(pred);
    lo_ops_model mv;
    CHECK_OK(lo_ops_model_get(s, "tiny@1", &mv));
    json_t *sum = json_loads(mv.eval_summary, 0, NULL);
    json_t *entry = json_object_get(sum, sha);
    CHECK(entry != NULL);
    CHECK_INT_EQ(json_integer_value(json_object_get(entry, "run")), r->run_id);
    CHECK_STR_EQ(json_string_value(json_object_get(entry, "dataset")), "stories");
    CHECK(close_rel(json_real_value(json_object_get(json_object_get(entry, "scores"), "bleu")), r->scores[LO_EVAL_BLEU],
                    1e-7));
    json_decref(sum);

    /* lo_eval_get reads the same back */
    CHECK_OK(lo_eval_get(s, r->run_id, &res[1]));
    CHECK_INT_EQ(res[1].metrics, LO_EVAL_ALL);
    CHECK(memcmp(res[1].scores, r->scores, sizeof r->scores) == 0);
    CHECK_STR_EQ(res[1].predictions_path, r->predictions_path);

    /* reuse: same version, data and settings → the recorded run; other settings → a new run
     * on the same dataset version */
    p.reuse = true;
    CHECK_OK(lo_eval_run(s, &p, &res[1]));
    CHECK(res[1].reused);
    CHECK_INT_EQ(res[1].run_id, r->run_id);
    CHECK(memcmp(res[1].scores, r->scores, sizeof r->scores) == 0);
    p.max_tokens = MAX_TOKENS - 4;
    p.metrics = 1u << LO_EVAL_PERPLEXITY; /* perplexity alone: nothing generated */
    CHECK_OK(lo_eval_run(s, &p, &res[1]));
    CHECK(!res[1].reused && res[1].run_id != r->run_id);
    CHECK_INT_EQ(res[1].n_gen_tokens, 0);
    CHECK_INT_EQ(res[1].metrics, 1u << LO_EVAL_PERPLEXITY);
    CHECK(close_rel(res[1].scores[LO_EVAL_PERPLEXITY], r->scores[LO_EVAL_PERPLEXITY], 1e-9));
    CHECK_INT_EQ(res[1].dataset.id, r->dataset.id);
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM datasets"), 1);
    p.max_tokens = MAX_TOKENS;
    p.metrics = LO_EVAL_ALL;

    /* the Q4_0 version as a second candidate, evaluated on the same data */
    p.model = "tiny@2";
    p.reuse = false;
    CHECK_OK(lo_eval_run(s, &p, &res[2]));
    CHECK_INT_EQ(res[2].model_id, v2.id);
    CHECK(res[2].scores[LO_EVAL_PERPLEXITY] != r->scores[LO_EVAL_PERPLEXITY]);

    /* promotion gates */
    lo_eval_promotion pr;
    const char *g_base[] = {"rougeL>=baseline"};
    CHECK_INT_EQ(lo_eval_promote(s, "tiny@2", "production", g_base, 1, &pr), LO_ERR_NOT_FOUND); /* no alias holder */
    CHECK(strstr(lo_error_message(), "production") != NULL);
    const char *g_abs[] = {"exact>=0.25"};
    CHECK_INT_EQ(lo_eval_promote(s, "tiny@2", "staging", g_abs, 1, &pr),
                 (int)((res[2].scores[LO_EVAL_EXACT] >= 0.25) ? LO_OK : LO_ERR_DENIED));
    CHECK_OK(lo_ops_model_alias(s, "tiny@1", "production"));
    char big[64];
    snprintf(big, sizeof big, "perplexity<=%.6f*baseline", 0.5);
    const char *g_fail[] = {"bleu>=0", big, "rougeL>=2*baseline"};
    lo_status st2 = lo_eval_promote(s, "tiny@2", "production", g_fail, 3, &pr);
    CHECK_INT_EQ(st2, LO_ERR_DENIED);
    CHECK(strstr(lo_error_message(), "perplexity<=0.5*baseline failed") != NULL);
    CHECK(strstr(lo_error_message(), "rougeL>=2*baseline failed") != NULL);
    CHECK(strstr(lo_error_message(), "bleu>=0 failed") == NULL);
    CHECK_INT_EQ(pr.n_failed, 2);
    CHECK(!pr.promoted && pr.gates[0].pass && !pr.gates[1].pass && !pr.gates[2].pass);
    CHECK_INT_EQ(pr.candidate_run, res[2].run_id);
    CHECK_INT_EQ(pr.baseline_run, r->run_id);
    CHECK(pr.gates[2].value == res[2].scores[LO_EVAL_ROUGEL] && pr.gates[2].baseline == r->scores[LO_EVAL_ROUGEL]);
    CHECK(pr.gates[2].rhs == 2 * r->scores[LO_EVAL_ROUGEL]);
    CHECK_STR_EQ(pr.dataset_version, sha);
    CHECK_OK(lo_ops_model_get(s, "tiny@production", &mv));
    CHECK_INT_EQ(mv.id, v1.id); /* not moved */
    const char *g_ok[] = {"perplexity<=1.5*baseline", "bleu>=0.5*baseline", "chrf > 0"};
    CHECK_OK(lo_eval_promote(s, "tiny@2", "production", g_ok, 3, &pr));
    CHECK(pr.promoted && pr.n_failed == 0);
    CHECK_OK(lo_ops_model_get(s, "tiny@production", &mv));
    CHECK_INT_EQ(mv.id, v2.id);
    /* a baseline with no eval on the same data and settings */
    CHECK_OK(lo_ops_model_alias(s, "tiny@1", "production"));
    p.model = "tiny@2";
    p.seed = 7; /* other settings: the newest tiny@2 eval has no match, the older one does */
    p.metrics = 1u << LO_EVAL_BLEU;
    CHECK_OK(lo_eval_run(s, &p, &res[3]));
    CHECK_OK(lo_eval_promote(s, "tiny@2", "production", g_ok, 3, &pr));
    CHECK_INT_EQ(pr.candidate_run, res[2].run_id);
    CHECK_OK(lo_ops_model_alias(s, "tiny@1", "production"));
    const char *g_x[] = {"exact>=baseline"};
    lo_ops_model v3;
    CHECK_OK(lo_ops_model_register(s, "other", model_path, 0, NULL, &v3, &existed));
    CHECK_OK(lo_ops_model_alias(s, "other@1", "production"));
    CHECK_INT_EQ(lo_eval_promote(s, "other@1", "production", g_x, 1, &pr), LO_ERR_NOT_FOUND);
    CHECK(strstr(lo_error_message(), "no eval of other@1") != NULL);
    const char *g_bad[] = {"exact>=basline"};
    CHECK_INT_EQ(lo_eval_promote(s, "tiny@2", "production", g_bad, 1, &pr), LO_ERR_INVALID);

    /* bad lines, named by number */
    expect_bad_line(s, env, "{\"prompt\": \"a\", \"reference\": \"b\"}\n\n{\"prompt\": \"a\"\n", 3, "");
    expect_bad_line(s, env, "{\"prompt\": \"a\", \"reference\": \"b\"}\n{\"prompt\": \"a\"}\n", 2, "no reference");
    expect_bad_line(s, env, "{\"prompt\": \"a\", \"messages\": [], \"reference\": \"b\"}\n", 1, "either");
    expect_bad_line(s, env, "{\"prompt\": \"a\", \"references\": [\"x\", 3]}\n", 1, "not a string");
    expect_bad_line(s, env, "{\"prompt\": \"a\", \"references\": []}\n", 1, "references");
    expect_bad_line(s, env, "{\"prompt\": \"a\", \"reference\": \"b\", \"completion\": \"c\"}\n", 1, "only one");
    expect_bad_line(s, env, "[1, 2]\n", 1, "not a JSON object");
    expect_bad_line(s, env, "{\"messages\": [{\"role\": \"user\"}], \"reference\": \"b\"}\n", 1, "messages[0]");
    expect_bad_line(s, env, "{\"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}], \"reference\": \"b\"}\n", 1,
                    "chat template");
    expect_bad_line(s, env, "{\"prompt\": 5, \"reference\": \"b\"}\n", 1, "not a string");
    {
        char *longp = malloc(8000);
        strcpy(longp, "{\"prompt\": \"");
        for (int i = 0; i < 300; i++) strcat(longp, "the dog ");
        strcat(longp, "\", \"reference\": \"x\"}\n");
        char *two = malloc(9000);
        snprintf(two, 9000, "{\"prompt\": \"a\", \"reference\": \"b\"}\n%s", longp);
        expect_bad_line(s, env, two, 2, "context");
        free(longp);
        free(two);
    }
    /* other failures */
    lo_eval_params q = p;
    q.model = "nosuch@1";
    CHECK_INT_EQ(lo_eval_run(s, &q, &res[3]), LO_ERR_NOT_FOUND);
    q.model = NULL;
    CHECK_INT_EQ(lo_eval_run(s, &q, &res[3]), LO_ERR_INVALID);
    q.model = "tiny@1";
    q.max_tokens = 0;
    CHECK_INT_EQ(lo_eval_run(s, &q, &res[3]), LO_ERR_RANGE);
    q.max_tokens = 4;
    char empty[600];
    snprintf(empty, sizeof empty, "%s/empty.jsonl", env->dir);
    ops_write(empty, "\n  \n");
    q.data_path = empty;
    CHECK_INT_EQ(lo_eval_run(s, &q, &res[3]), LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "no samples") != NULL);
    /* a deployment's primary arm */
    lo_ops_deployment dep;
    CHECK_OK(lo_ops_deploy(s, "web", "tiny@2", "tiny@1", 10, false, &dep));
    q = p;
    q.model = NULL;
    q.deployment = "web";
    q.metrics = 1u << LO_EVAL_EXACT;
    q.seed = 42;
    CHECK_OK(lo_eval_run(s, &q, &res[3]));
    CHECK_STR_EQ(res[3].model_ref, "tiny@2");
    CHECK_INT_EQ(res[3].model_id, v2.id);
    CHECK(res[3].scores[LO_EVAL_EXACT] == res[2].scores[LO_EVAL_EXACT]);
    /* sampled answers: the same seed gives the same predictions, another seed others */
    q = p;
    q.model = "tiny@1";
    q.temperature = 0.9f;
    q.metrics = 1u << LO_EVAL_BLEU;
    char *pa = NULL, *pb = NULL, *pc = NULL;
    size_t na = 0, nb = 0, nc = 0;
    CHECK_OK(lo_eval_run(s, &q, &res[3]));
    CHECK_OK(lo_read_file(res[3].predictions_path, &pa, &na));
    CHECK_OK(lo_eval_run(s, &q, &res[3]));
    CHECK_OK(lo_read_file(res[3].predictions_path, &pb, &nb));
    q.seed = 1234;
    CHECK_OK(lo_eval_run(s, &q, &res[3]));
    CHECK_OK(lo_read_file(res[3].predictions_path, &pc, &nc));
    CHECK(pa && pb && pc && na == nb && memcmp(pa, pb, na) == 0);
    CHECK(pa && pc && (na != nc || memcmp(pa, pc, na) != 0));
    lo_free(pa), lo_free(pb), lo_free(pc);
    /* a failed eval records nothing */
    int64_t runs_before = ops_count(s, "SELECT COUNT(*) FROM runs");
    expect_bad_line(s, env, "{\"prompt\": \"a\"}\n", 1, "no reference");
    CHECK_INT_EQ(ops_count(s, "SELECT COUNT(*) FROM runs"), runs_before);
    lo_free(res);
    lo_store_close(s);
}

/* The one SQLite file of the test (ops_env's fresh_url). */
static char *sqlite_url(void *ctx) {
    return strdup(ctx);
}

int main(void) {
    check_shared("models/stories260K.gguf", model_path, sizeof model_path);
    check_shared("models/quant/stories260K-Q4_0.gguf", q4_path, sizeof q4_path);
    if (access(model_path, R_OK) != 0 || access(q4_path, R_OK) != 0) check_skip("stories260K fixtures missing");
    char dir[] = "/tmp/lo-ops-eval-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    CHECK_OK(lo_model_load(model_path, &model));
    if (!model) return check_done();
    test_gates();
    test_score_continuations();
    expected e;
    char data[600];
    snprintf(data, sizeof data, "%s/EVAL.jsonl", dir);
    make_expected(&e, data);
    char sqlite_dir[700], url[800];
    snprintf(sqlite_dir, sizeof sqlite_dir, "%s/sqlite", dir);
    mkdir(sqlite_dir, 0700);
    snprintf(url, sizeof url, "sqlite:%s/s.db", sqlite_dir);
    ops_env env = {sqlite_url, url, sqlite_dir};
    test_eval(&env, &e, data);
    if (getenv("LLMOPS_TEST_PG") && getenv("LLMOPS_TEST_PG")[0]) {
        pg_schema c;
        pg_schema_connect(&c, "lo_eval_test");
        char pg_dir[700];
        snprintf(pg_dir, sizeof pg_dir, "%s/pg", dir);
        mkdir(pg_dir, 0700);
        ops_env pe = {pg_schema_fresh, &c, pg_dir};
        test_eval(&pe, &e, data);
        pg_schema_close(&c);
    } else {
        fprintf(stderr, "PostgreSQL part skipped: LLMOPS_TEST_PG is not set\n");
    }
    expected_free(&e);
    lo_model_free(model);
    return ops_finish(dir);
}
