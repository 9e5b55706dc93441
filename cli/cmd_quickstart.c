/* `llmops quickstart`: the whole loop on data generated here — corpus → datasets →
 * tokenizer → pretraining → LoRA fine-tune → evaluation of both → registry with lineage →
 * promotion gate → 90/10 deployment → server → requests → feedback — each step through
 * the same command a user would type (echoed as "$ llmops ..."), all under --dir. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char *C = "quickstart";

/* One model name: version 1 the pretrained base, version 2 its fine-tune (aliases and
 * promotion gates compare versions of one name). */
#define MODEL "lumen-assistant"
#define DEPLOYMENT "lumen-assistant"
#define DS_PRETRAIN "quickstart-pretrain"
#define DS_QA "quickstart-product-qa"
#define ALIAS "production"

/* The sizes a time budget buys on two cores (measured: see docs/quickstart.md). */
typedef struct qs_config {
    int n_stories, manual_copies, vocab, dim, layers, heads, ctx, batch;
    int pretrain_steps, lora_steps, lora_rank, lora_batch;
    const char *pretrain_lr, *lora_lr;
} qs_config;

static qs_config config_for(int minutes) {
    if (minutes <= 1)
        return (qs_config){.n_stories = 600,
                           .manual_copies = 120,
                           .vocab = 512,
                           .dim = 64,
                           .layers = 2,
                           .heads = 4,
                           .ctx = 128,
                           .batch = 8,
                           .pretrain_steps = 400,
                           .lora_steps = 150,
                           .lora_rank = 8,
                           .lora_batch = 8,
                           .pretrain_lr = "3e-3",
                           .lora_lr = "3e-3"};
    /* the default (3) buys 1000 steps, about two minutes of pretraining on an idle 2-core
     * machine (18k tokens/s measured); each minute more adds 500 */
    return (qs_config){.n_stories = 2000,
                       .manual_copies = 300,
                       .vocab = 768,
                       .dim = 128,
                       .layers = 4,
                       .heads = 4,
                       .ctx = 128,
                       .batch = 16,
                       .pretrain_steps = 500 * (minutes - 1),
                       .lora_steps = 300,
                       .lora_rank = 8,
                       .lora_batch = 8,
                       .pretrain_lr = "2e-3",
                       .lora_lr = "3e-3"};
}

/* ---- running a command in-process, echoed as the user would type it -------------------- */

/* a, quoted for a POSIX shell when it needs it ('...' with ' as '\''), so every echoed
 * command can be pasted; one of 8 rotating buffers (for printing only). */
static const char *sh(const char *a) {
    static char bufs[8][2 * LO_OPS_PATH_MAX];
    static int k;
    const char *safe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./:=@,+%";
    if (*a && strspn(a, safe) == strlen(a)) return a;
    char *b = bufs[k++ % 8];
    size_t n = 0;
    b[n++] = '\'';
    for (; *a && n < sizeof bufs[0] - 6; a++) {
        if (*a == '\'') {
            memcpy(b + n, "'\\''", 4);
            n += 4;
        } else {
            b[n++] = *a;
        }
    }
    b[n++] = '\'';
    b[n] = 0;
    return b;
}

static int run(int (*fn)(int, char **), const char *first, ...) {
    char *argv[64];
    int n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 63; a = va_arg(ap, const char *)) argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    printf("$ llmops");
    for (int i = 0; i < n; i++) printf(" %s", sh(argv[i]));
    printf("\n");
    fflush(stdout);
    const int rc = fn(n, argv);
    fflush(stdout);
    fflush(stderr);
    return rc;
}

static void step(int k, const char *title) {
    printf("\n== %d/7 %s\n", k, title);
    fflush(stdout);
}

/* mkdir -p */
static int make_dir(const char *path) {
    char parent[LO_OPS_PATH_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        struct stat pst;
        if (stat(parent, &pst) != 0 && make_dir(parent) != LO_EXIT_OK) return LO_EXIT_FAIL;
    }
    errno = 0;
    if (mkdir(path, 0755) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return LO_EXIT_OK;
    }
    fprintf(stderr, "llmops quickstart: cannot create directory %s: %s (give another --dir)\n", path,
            errno ? strerror(errno) : "exists and is not a directory");
    return LO_EXIT_FAIL;
}

/* ---- reuse: a model version is reused when it was made from the same inputs ------------- */

/* sha256 hex of the settings and input hashes a model version is made from. */
static void signature(char out[65], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void signature(char out[65], const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    lo_sha256_hex(buf, strlen(buf), out);
}

typedef struct find_ctx {
    lo_store *st;
    const char *sig;
    lo_ops_model found;
    bool ok;
} find_ctx;

static void find_tag(void *p, const char *tag, const char *value) {
    find_ctx *f = p;
    if (!strcmp(tag, "quickstart") && !strcmp(value, f->sig)) f->ok = true;
}

/* The newest version of name carrying tag quickstart=sig whose file is still there with
 * the registered bytes. */
static void find_version(void *p, const lo_ops_model *m) {
    find_ctx *f = p;
    if (f->found.id) return;
    char ref[LO_OPS_NAME_MAX + 26], hex[65];
    snprintf(ref, sizeof ref, "%s@%s", m->name, m->version);
    f->ok = false;
    if (lo_ops_model_tags(f->st, ref, find_tag, f) || !f->ok) return;
    if (lo_sha256_file_hex(m->gguf_path, hex) || strcmp(hex, m->sha256) != 0) return;
    f->found = *m;
}

static bool reusable(lo_store *st, const char *sig, lo_ops_model *out) {
    find_ctx f = {.st = st, .sig = sig};
    if (lo_ops_model_list(st, MODEL, find_version, &f) || !f.found.id) return false;
    *out = f.found;
    return true;
}

typedef struct sha_ctx {
    const char *sha;
    lo_ops_model found;
} sha_ctx;
static void match_sha(void *p, const lo_ops_model *m) {
    sha_ctx *c = p;
    if (!c->found.id && !strcmp(m->sha256, c->sha)) c->found = *m;
}

/* The version `llmops train --register` made of path (the same bytes registered before
 * are that older version), tagged with the signature of its inputs. */
static lo_status tag_trained(lo_store *st, const char *path, const char *sig, lo_ops_model *out) {
    char hex[65], ref[LO_OPS_NAME_MAX + 26];
    lo_status s = lo_sha256_file_hex(path, hex);
    sha_ctx c = {.sha = hex};
    if (!s) s = lo_ops_model_list(st, MODEL, match_sha, &c);
    if (!s && !c.found.id) s = lo_error(LO_ERR_NOT_FOUND, NULL, "quickstart: %s is not registered as %s", path, MODEL);
    if (s) return s;
    *out = c.found;
    snprintf(ref, sizeof ref, "%s@%s", out->name, out->version);
    return lo_ops_model_tag(st, ref, "quickstart", sig);
}

/* DIR/STEM-SIG12.gguf for a model about to be trained, or -2, -3, ... when that name is
 * taken: a registered version may point at the file, so it is never overwritten. */
static void fresh_path(char *out, size_t cap, const char *dir, const char *stem, const char *sig) {
    for (int k = 1;; k++) {
        char suffix[16] = "";
        if (k > 1) snprintf(suffix, sizeof suffix, "-%d", k);
        snprintf(out, cap, "%s/%s-%.12s%s.gguf", dir, stem, sig, suffix);
        if (access(out, F_OK) != 0) return;
    }
}

/* ---- requests and feedback through the running server ---------------------------------- */

static json_t *post_json(int port, const char *path, json_t *body, long *status) {
    char url[128], *text = json_dumps(body, JSON_COMPACT);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    lo_http_header h = {"Content-Type", "application/json"};
    lo_http_client_req rq = {.method = "POST",
                             .url = url,
                             .headers = &h,
                             .n_headers = 1,
                             .body = text,
                             .body_len = text ? strlen(text) : 0,
                             .timeout_s = 120};
    lo_http_client_resp rs;
    json_t *out = NULL;
    *status = 0;
    if (text && lo_http_fetch(&rq, &rs) == LO_OK) {
        *status = rs.status;
        out = json_loadb(rs.body ? rs.body : "", rs.body_len, 0, NULL);
        lo_http_client_resp_free(&rs);
    }
    free(text);
    return out;
}

static const char *str_at(json_t *o, const char *path0, int idx, const char *path1, const char *path2) {
    json_t *v = json_object_get(o, path0);
    if (path1) v = json_object_get(json_array_get(v, (size_t)idx), path1);
    if (path2) v = json_object_get(v, path2);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool trimmed_equal(const char *a, const char *b) {
    while (*a == ' ' || *a == '\n') a++;
    size_t n = strlen(a), m = strlen(b);
    while (n && (a[n - 1] == ' ' || a[n - 1] == '\n')) n--;
    return n == m && !memcmp(a, b, n);
}

static volatile sig_atomic_t g_quit; /* Ctrl-C or SIGTERM */
static void on_quit(int sig) {
    (void)sig;
    g_quit = 1;
}

/* Sends n held-out questions through the deployment (which spreads them over its arms by
 * weight), prints the answers and records a verdict on each: thumbs up when the answer is
 * the manual's sentence, else thumbs down with the correction. */
static int ask(int port, int n, int *n_up) {
    printf("%-48s %-20s %s\n", "QUESTION", "ANSWERED BY", "ANSWER");
    int failures = 0;
    *n_up = 0;
    for (int i = 0; i < n && !g_quit; i++) {
        const char *q, *ref;
        lo_ops_synth_fact(i % lo_ops_synth_n_facts(), &q, &ref);
        char user[32];
        snprintf(user, sizeof user, "quickstart-user-%d", i + 1);
        json_t *body = json_pack("{s:s, s:[{s:s, s:s}], s:i, s:f, s:s}", "model", DEPLOYMENT, "messages", "role",
                                 "user", "content", q, "max_tokens", 48, "temperature", 0.0, "user", user);
        long status = 0;
        json_t *resp = body ? post_json(port, "/v1/chat/completions", body, &status) : NULL;
        json_decref(body);
        const char *id = resp ? str_at(resp, "id", 0, NULL, NULL) : NULL;
        const char *arm = resp ? str_at(resp, "model", 0, NULL, NULL) : NULL;
        const char *answer = resp ? str_at(resp, "choices", 0, "message", "content") : NULL;
        if (status != 200 || !id || !answer) {
            fprintf(stderr, "llmops quickstart: request %d failed (HTTP %ld)\n", i + 1, status);
            failures++;
            json_decref(resp);
            continue;
        }
        const bool good = trimmed_equal(answer, ref);
        char shown[96];
        snprintf(shown, sizeof shown, "%s", answer);
        for (char *c = shown; *c; c++)
            if (*c == '\n') *c = ' ';
        printf("%-48s %-20s %s\n", q, arm ? arm : "?", shown);
        json_t *fb = good ? json_pack("{s:s, s:s, s:s}", "request_id", id, "thumbs", "up", "author", "quickstart")
                          : json_pack("{s:s, s:s, s:s, s:s}", "request_id", id, "thumbs", "down", "corrected", ref,
                                      "author", "quickstart");
        json_t *fr = fb ? post_json(port, "/v1/feedback", fb, &status) : NULL;
        json_decref(fb);
        if (status != 200) {
            fprintf(stderr, "llmops quickstart: feedback on %s failed (HTTP %ld)\n", id, status);
            failures++;
        } else {
            *n_up += good;
        }
        json_decref(fr);
        json_decref(resp);
    }
    return failures;
}

/* ---- the command ------------------------------------------------------------------------ */

static int interrupted_exit(void) {
    fprintf(stderr, "llmops quickstart: interrupted; what was recorded stays (run it again to go on)\n");
    return LO_EXIT_FAIL;
}

int lo_cmd_quickstart(int argc, char **argv) {
    lo_cli_opt o[] = {{"--dir", true, NULL, false},       {"--port", true, NULL, false},
                      {"--minutes", true, NULL, false},   {"--fresh", false, NULL, false},
                      {"--no-serve", false, NULL, false}, {"--threads", true, NULL, false}};
    enum { O_DIR, O_PORT, O_MINUTES, O_FRESH, O_NO_SERVE, O_THREADS, O_N };
    char *pos[1];
    int n_pos = 0;
    int rc = lo_cli_parse(C, argc, argv, 1, o, O_N, pos, 0, &n_pos);
    if (rc) return rc;
    long long port = 8080, minutes = 3, threads = 0;
    if (o[O_PORT].set && !lo_cli_parse_int(o[O_PORT].value, 0, 65535, &port))
        return lo_cli_usage_error(C, "--port needs 0..65535 (0 = any free port)");
    if (o[O_MINUTES].set && !lo_cli_parse_int(o[O_MINUTES].value, 1, 600, &minutes))
        return lo_cli_usage_error(C, "--minutes needs 1..600");
    if (o[O_THREADS].set && !lo_cli_parse_int(o[O_THREADS].value, 0, 256, &threads))
        return lo_cli_usage_error(C, "--threads needs 0..256 (0 = all cores)");
    const bool fresh = o[O_FRESH].set, serve = !o[O_NO_SERVE].set;
    const char *dir_arg = o[O_DIR].set ? o[O_DIR].value : "llmops-data";
    const qs_config cf = config_for((int)minutes);
    const double t0 = lo_time_sec();
    /* --dir made absolute once, so every printed command works from any directory; room
     * for the file names under the three folders */
    char dir[PATH_MAX], data_dir[LO_OPS_PATH_MAX - 128], model_dir[LO_OPS_PATH_MAX - 128];
    char eval_dir[LO_OPS_PATH_MAX - 128], url[LO_OPS_PATH_MAX];
    if (strlen(dir_arg) > sizeof data_dir - 16) return lo_cli_usage_error(C, "--dir is too long");
    if ((rc = make_dir(dir_arg))) return rc;
    if (!realpath(dir_arg, dir)) {
        fprintf(stderr, "llmops quickstart: cannot resolve --dir %s: %s\n", dir_arg, strerror(errno));
        return LO_EXIT_FAIL;
    }
    if (strlen(dir) > sizeof data_dir - 16 ||
        (size_t)snprintf(data_dir, sizeof data_dir, "%s/data", dir) >= sizeof data_dir ||
        (size_t)snprintf(model_dir, sizeof model_dir, "%s/models", dir) >= sizeof model_dir ||
        (size_t)snprintf(eval_dir, sizeof eval_dir, "%s/eval", dir) >= sizeof eval_dir ||
        (size_t)snprintf(url, sizeof url, "sqlite:%s/llmops.db", dir) >= sizeof url)
        return lo_cli_usage_error(C, "--dir is too long once made absolute (%zu bytes)", strlen(dir));
    if ((rc = make_dir(data_dir)) || (rc = make_dir(model_dir)) || (rc = make_dir(eval_dir))) return rc;
    struct sigaction sa = {0};
    sa.sa_handler = on_quit;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    char threads_s[16];
    snprintf(threads_s, sizeof threads_s, "%lld", threads);
    printf("llmops quickstart: the whole loop on generated data, under %s (store %s), budget %lld minute%s%s\n", dir,
           sh(url), minutes, minutes == 1 ? "" : "s", fresh ? ", retraining everything" : "");

    /* 1. data */
    step(1, "data: procedural stories and a product manual (pretraining), product Q&A (fine-tuning, held-out eval)");
    lo_synth_files files;
    lo_synth_params sp = {.seed = 7, .n_stories = cf.n_stories, .manual_copies = cf.manual_copies};
    lo_status s = lo_ops_synth_write(data_dir, &sp, &files);
    if (s) return lo_cli_fail(C, s);
    printf("wrote %s (%lld stories, %lld manual paragraphs), %s (%lld chats), %s (%lld held-out questions)\n",
           files.pretrain_path, (long long)files.n_stories, (long long)files.n_manual, files.qa_train_path,
           (long long)files.n_qa_train, files.qa_eval_path, (long long)files.n_qa_eval);
    if ((rc = run(lo_cmd_datasets, "datasets", "add", DS_PRETRAIN, files.pretrain_path, "--store", url, NULL)) ||
        (rc = run(lo_cmd_datasets, "datasets", "add", DS_QA, files.qa_train_path, "--store", url, NULL)))
        return rc;
    lo_store *st = NULL;
    if ((rc = lo_cli_open_store(C, url, &st))) return rc;
    lo_ops_dataset ds_pre, ds_qa;
    /* the versions of the files just written (the newest version may be another's) */
    char ref_pre[LO_OPS_NAME_MAX + 70], ref_qa[LO_OPS_NAME_MAX + 70], hex[65];
    if ((s = lo_sha256_file_hex(files.pretrain_path, hex))) goto fail;
    snprintf(ref_pre, sizeof ref_pre, "%s@%s", DS_PRETRAIN, hex);
    if ((s = lo_sha256_file_hex(files.qa_train_path, hex))) goto fail;
    snprintf(ref_qa, sizeof ref_qa, "%s@%s", DS_QA, hex);
    if ((s = lo_ops_dataset_get(st, ref_pre, &ds_pre)) || (s = lo_ops_dataset_get(st, ref_qa, &ds_qa))) goto fail;
    if (g_quit) goto interrupted;

    /* 2. tokenizer and pretraining */
    step(2, "tokenizer and pretraining from scratch");
    char tok_path[LO_OPS_PATH_MAX], tok_sha[65], vocab_s[16];
    snprintf(tok_path, sizeof tok_path, "%s/tokenizer.gguf", model_dir);
    snprintf(vocab_s, sizeof vocab_s, "%d", cf.vocab);
    if ((rc = run(lo_cmd_tokenizer, "tokenizer", "train", "--vocab", vocab_s, files.pretrain_path, tok_path,
                  "--special", "<|im_start|>", "<|im_end|>", NULL)))
        goto out;
    if ((s = lo_sha256_file_hex(tok_path, tok_sha))) goto fail;
    char sig_base[65], base_path[LO_OPS_PATH_MAX], base_ref[LO_OPS_NAME_MAX + 26];
    signature(sig_base, "pretrain v1|%s|%s|%d %d %d %d %d %d %d %s", ds_pre.version, tok_sha, cf.dim, cf.layers,
              cf.heads, cf.ctx, cf.batch, cf.pretrain_steps, cf.vocab, cf.pretrain_lr);
    lo_ops_model base;
    if (!fresh && reusable(st, sig_base, &base)) {
        printf("reusing %s@%s: made from the same dataset version, tokenizer and settings (--fresh retrains)\n",
               base.name, base.version);
    } else {
        fresh_path(base_path, sizeof base_path, model_dir, "base", sig_base);
        char dim[16], layers[16], heads[16], ctx[16], batch[16], steps[16];
        snprintf(dim, sizeof dim, "%d", cf.dim), snprintf(layers, sizeof layers, "%d", cf.layers);
        snprintf(heads, sizeof heads, "%d", cf.heads), snprintf(ctx, sizeof ctx, "%d", cf.ctx);
        snprintf(batch, sizeof batch, "%d", cf.batch), snprintf(steps, sizeof steps, "%d", cf.pretrain_steps);
        if ((rc = run(lo_cmd_train, "train", "--data", files.pretrain_path, "--tokenizer", tok_path, "--dim", dim,
                      "--layers", layers, "--heads", heads, "--ctx", ctx, "--batch", batch, "--steps", steps, "--lr",
                      cf.pretrain_lr, "--val-split", "5", "--eval-every", "50", "--eval-batches", "4", "--threads",
                      threads_s, "--name", MODEL, "--out", base_path, "--store", url, "--dataset", DS_PRETRAIN,
                      "--register", MODEL, NULL)))
            goto out;
        if ((s = tag_trained(st, base_path, sig_base, &base))) goto fail;
    }
    snprintf(base_ref, sizeof base_ref, "%s@%s", base.name, base.version);
    if (g_quit) goto interrupted;

    /* 3. LoRA fine-tune on the product Q&A, linked to the base */
    step(3, "LoRA fine-tune on the product Q&A (a second run, its base recorded)");
    char sig_qa[65], qa_path[LO_OPS_PATH_MAX], adapter_path[LO_OPS_PATH_MAX], qa_ref[LO_OPS_NAME_MAX + 26];
    signature(sig_qa, "lora v1|%s|%s|%d %d %d %s", ds_qa.version, base.sha256, cf.lora_rank, cf.lora_steps,
              cf.lora_batch, cf.lora_lr);
    lo_ops_model qa;
    if (!fresh && reusable(st, sig_qa, &qa)) {
        printf("reusing %s@%s: made from the same base, dataset version and settings (--fresh retrains)\n", qa.name,
               qa.version);
    } else {
        fresh_path(qa_path, sizeof qa_path, model_dir, "product-qa", sig_qa);
        char rank[16], alpha[16], steps[16], batch[16];
        snprintf(rank, sizeof rank, "%d", cf.lora_rank), snprintf(alpha, sizeof alpha, "%d", 2 * cf.lora_rank);
        snprintf(steps, sizeof steps, "%d", cf.lora_steps), snprintf(batch, sizeof batch, "%d", cf.lora_batch);
        snprintf(adapter_path, sizeof adapter_path, "%.*s.lora.gguf", (int)strlen(qa_path) - 5, qa_path);
        if ((rc = run(lo_cmd_train, "train", "--base", base.gguf_path, "--method", "lora", "--lora-rank", rank,
                      "--lora-alpha", alpha, "--lora-targets", "q,k,v,o,gate,up,down", "--data", files.qa_train_path,
                      "--batch", batch, "--steps", steps, "--lr", cf.lora_lr, "--val-split", "5", "--eval-every", "0",
                      "--threads", threads_s, "--name", MODEL, "--out", qa_path, "--adapter-out", adapter_path,
                      "--store", url, "--dataset", DS_QA, "--register", MODEL, NULL)))
            goto out;
        if ((s = tag_trained(st, qa_path, sig_qa, &qa))) goto fail;
    }
    snprintf(qa_ref, sizeof qa_ref, "%s@%s", qa.name, qa.version);
    /* the adapter written beside the merged model (gone if someone deleted it) */
    snprintf(adapter_path, sizeof adapter_path, "%.*s.lora.gguf", (int)strlen(qa.gguf_path) - 5, qa.gguf_path);
    const bool have_adapter = access(adapter_path, R_OK) == 0;
    if (g_quit) goto interrupted;

    /* 4. evaluation of both on the held-out questions */
    step(4, "evaluation on held-out questions: fine-tuned against its base");
    printf("$ llmops eval -m %s --baseline %s --data %s --data-name " DS_QA
           "-heldout --metrics rougeL,bleu,exact,perplexity --max-tokens 48 --out-dir %s%s%s --store %s\n",
           qa_ref, base_ref, sh(files.qa_eval_path), sh(eval_dir), threads ? " --threads " : "",
           threads ? threads_s : "", sh(url));
    lo_eval_params ep;
    lo_eval_params_default(&ep);
    ep.data_path = files.qa_eval_path;
    ep.data_name = DS_QA "-heldout";
    ep.out_dir = eval_dir;
    ep.max_tokens = 48;
    ep.n_threads = (int32_t)threads;
    ep.reuse = !fresh;
    if ((s = lo_eval_parse_metrics("rougeL,bleu,exact,perplexity", &ep.metrics))) goto fail;
    lo_eval_result *ev = lo_calloc(2, sizeof *ev);
    if (!ev) {
        s = LO_ERR_NOMEM;
        goto fail;
    }
    ep.model = qa_ref;
    s = lo_eval_run(st, &ep, &ev[0]);
    ep.model = base_ref;
    if (!s) s = lo_eval_run(st, &ep, &ev[1]);
    if (!s) lo_cli_print_eval(&ev[0], &ev[1]);
    const double rouge_qa = ev[0].scores[LO_EVAL_ROUGEL], rouge_base = ev[1].scores[LO_EVAL_ROUGEL];
    lo_free(ev);
    if (s) goto fail;
    if (g_quit) goto interrupted;

    /* 5. registry: lineage, then the promotion gate */
    step(5, "registry: lineage and a promotion gate");
    if ((rc = run(lo_cmd_models, "models", "show", qa_ref, "--store", url, NULL))) goto out;
    lo_ops_model holder;
    char alias_ref[LO_OPS_NAME_MAX + 32];
    snprintf(alias_ref, sizeof alias_ref, "%s@%s", MODEL, ALIAS);
    const bool has_holder = lo_ops_model_get(st, alias_ref, &holder) == LO_OK;
    if (has_holder && holder.id == qa.id) {
        printf("%s already holds %s\n", qa_ref, ALIAS);
    } else {
        /* the gate compares the fine-tune with its own base: the base goes to production
         * first, then the fine-tune must beat it there */
        if ((!has_holder || holder.id != base.id) &&
            (rc = run(lo_cmd_models, "models", "alias", base_ref, ALIAS, "--store", url, NULL)))
            goto out;
        rc = run(lo_cmd_models, "models", "promote", qa_ref, ALIAS, "--require", "rougeL>=baseline", "--store", url,
                 NULL);
        if (rc) {
            fprintf(stderr,
                    "llmops quickstart: %s did not pass the gate against its base %s (ROUGE-L %.4f vs %.4f); not "
                    "deployed. Try a larger --minutes.\n",
                    qa_ref, base_ref, rouge_qa, rouge_base);
            goto out;
        }
    }
    if (g_quit) goto interrupted;

    /* 6. deployment: the fine-tune takes 90%, the base keeps 10% as the comparison arm */
    step(6, "deployment: 90% fine-tuned, 10% base");
    lo_ops_deployment d;
    char canary[LO_OPS_NAME_MAX + 32];
    snprintf(canary, sizeof canary, "%s:10%%", base_ref);
    if (lo_ops_deployment_get(st, DEPLOYMENT, &d) == LO_OK && d.n_arms == 2 && d.arms[0].model_id == qa.id &&
        d.arms[1].model_id == base.id && d.arms[1].weight == 10 && !d.sticky) {
        printf("deployment %s already routes 90%% to %s and 10%% to %s (revision %lld)\n", DEPLOYMENT, qa_ref, base_ref,
               (long long)d.revision);
    } else if ((rc = run(lo_cmd_deploy, "deploy", DEPLOYMENT, qa_ref, "--canary", canary, "--store", url, NULL))) {
        goto out;
    }
    lo_store_close(st);
    st = NULL;
    if (g_quit) goto interrupted;

    /* 7. serve it, send requests, record feedback */
    step(7, serve ? "serving: requests through the deployment, feedback on each answer"
                  : "a temporary server: requests through the deployment, feedback on each answer");
    lo_server_params srv;
    lo_server_params_default(&srv);
    srv.port = serve || o[O_PORT].set ? (int)port : 0; /* a temporary server takes any free port */
    srv.store_url = url;
    srv.n_threads = (int32_t)threads;
    srv.log_content = true; /* so feedback export can turn answers into training data */
    lo_server *server = NULL;
    s = lo_server_create(&srv, &server);
    if (!s) s = lo_server_add_deployment(server, DEPLOYMENT);
    if (!s) s = lo_server_start(server);
    if (s) {
        lo_server_free(server);
        return lo_cli_fail(C, s);
    }
    const int bound = lo_server_port(server);
    printf("serving deployment %s on http://127.0.0.1:%d/v1 (OpenAI API)\n", DEPLOYMENT, bound);
    int n_up = 0;
    const int n_req = lo_ops_synth_n_facts(), req_failures = ask(bound, n_req, &n_up);
    lo_server_flush_log(server);
    if (g_quit || req_failures) {
        lo_server_shutdown(server, 30);
        lo_server_free(server);
        if (g_quit) return interrupted_exit();
        fprintf(stderr, "llmops quickstart: %d of %d requests or feedback calls failed\n", req_failures, n_req);
        return LO_EXIT_FAIL;
    }
    printf("feedback: %d of %d answers thumbs up, %d thumbs down with the manual's sentence as the correction\n", n_up,
           n_req, n_req - n_up);
    run(lo_cmd_deployments, "deployments", "stats", DEPLOYMENT, "--store", url, NULL);
    printf("\nquickstart finished in %.0f s: %s has held-out ROUGE-L %.4f against its base %s's %.4f\n",
           lo_time_sec() - t0, qa_ref, rouge_qa, base_ref, rouge_base);
    /* after --no-serve the server is gone: the examples name the port `llmops serve` takes */
    const int shown_port = serve ? bound : port ? (int)port : 8080;
    printf("\nwhat next:\n");
    if (!serve) printf("  llmops serve --store %s --deployment %s --port %d\n", sh(url), DEPLOYMENT, shown_port);
    printf("  curl http://127.0.0.1:%d/v1/chat/completions -H 'Content-Type: application/json' \\\n"
           "    -d '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"How much does the Lumen 7 "
           "cost?\"}],\"temperature\":0}'\n"
           "  node -e 'const OpenAI = require(\"openai\"); new OpenAI({baseURL: \"http://127.0.0.1:%d/v1\", "
           "apiKey: \"none\"})\n"
           "    .chat.completions.create({model: \"%s\", messages: [{role: \"user\", content: \"Who makes the "
           "Lumen 7?\"}]}).then(r => console.log(r.choices[0].message.content))'\n",
           shown_port, DEPLOYMENT, shown_port, DEPLOYMENT);
    char export_path[PATH_MAX + 32];
    snprintf(export_path, sizeof export_path, "%s/feedback-sft.jsonl", dir);
    printf("  llmops runs ls --store %s\n", sh(url));
    printf("  llmops models show %s --store %s\n", qa_ref, sh(url));
    printf("  llmops deployments stats %s --store %s\n", DEPLOYMENT, sh(url));
    printf("  llmops feedback export --format sft %s --store %s\n", sh(export_path), sh(url));
    if (have_adapter)
        printf("  llmops serve -m %s --lora %s --port %d   (the base with the adapter applied at load time)\n",
               sh(base.gguf_path), sh(adapter_path), shown_port < 65535 ? shown_port + 1 : shown_port - 1);
    fflush(stdout);
    if (serve) {
        fprintf(stderr, "serving on http://127.0.0.1:%d until Ctrl-C\n", bound);
        while (!g_quit) {
            struct timespec ts = {0, 200 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    lo_server_shutdown(server, 30);
    lo_server_free(server);
    return LO_EXIT_OK;
interrupted:
    lo_store_close(st);
    return interrupted_exit();
fail:
    rc = lo_cli_fail(C, s);
out:
    lo_store_close(st);
    return rc;
}
