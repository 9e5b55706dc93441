/* `llmops train`: trains a llama model from scratch on a plain-text file with a tokenizer
 * taken from a GGUF, or fine-tunes a llama GGUF base (--base: full, LoRA, or QLoRA on a
 * quantised base, with LoRA dropout) (lo_train_run), and writes a llama GGUF; a one-line progress bar and
 * validation loss/perplexity on stderr; checkpoints every N steps and at SIGINT, --resume.
 * Text or JSONL data (--format, --strict, --chat-template). With --store (or
 * $LLMOPS_STORE) the run is recorded: dataset version, params, base, train/val loss per
 * evaluation, the output as artifact and, with --register, as a model version; --log FILE
 * writes every step's report as a JSON line. Under mpirun data-parallel: rank 0 alone
 * prints, logs and records. Methods not built yet are refused by name. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

enum {
    O_DATA,
    O_VAL,
    O_VAL_SPLIT,
    O_DOCS,
    O_OUT,
    O_TOKENIZER,
    O_ARCH,
    O_DIM,
    O_LAYERS,
    O_HEADS,
    O_KV_HEADS,
    O_FF,
    O_CTX,
    O_TIED,
    O_STEPS,
    O_EPOCHS,
    O_BATCH,
    O_SEQ,
    O_LR,
    O_MIN_LR,
    O_WARMUP,
    O_SCHEDULE,
    O_GRAD_CLIP,
    O_GRAD_ACCUM,
    O_WEIGHT_DECAY,
    O_SEED,
    O_THREADS,
    O_EVAL_EVERY,
    O_EVAL_BATCHES,
    O_NAME,
    O_METHOD,
    O_CHECKPOINT,
    O_CHECKPOINT_EVERY,
    O_RESUME,
    O_BASE,
    O_LORA_RANK,
    O_LORA_ALPHA,
    O_LORA_TARGETS,
    O_LORA_DROPOUT,
    O_ADAPTER_OUT,
    O_FORMAT,
    O_STRICT,
    O_CHAT_TEMPLATE,
    O_STORE,
    O_REGISTER,
    O_DATASET,
    O_LOG,
    O_COUNT
};

typedef struct progress_ui {
    bool tty;
    int64_t every; /* non-tty: a line every this many steps */
    bool drawn;
    lo_store *store; /* with a store: the run's metrics */
    int64_t run_id;
    lo_status metric_err;
    FILE *log; /* --log: one JSON object per report */
} progress_ui;

static void fmt_eta(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, n, "?");
    else if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60)
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, n, "%.0fs", s);
}

/* One metric point of the run; the first failure is kept and reported after the run. */
static void log_metric(progress_ui *ui, int64_t step, const char *name, double v) {
    if (!ui->store || ui->metric_err || !isfinite(v)) return;
    ui->metric_err = lo_ops_run_log_metric(ui->store, ui->run_id, step, name, v);
}

/* A report as one JSON line (full precision; NaN, which JSON lacks, as null). */
static void log_num(FILE *f, const char *key, double v) {
    if (isfinite(v))
        fprintf(f, ",\"%s\":%.17g", key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}
static void log_report(FILE *f, const lo_train_report *r) {
    fprintf(f, "{\"step\":%lld,\"total_steps\":%lld", (long long)r->step, (long long)r->total_steps);
    if (r->step > 0) {
        fprintf(f, ",\"epoch\":%lld", (long long)r->epoch);
        log_num(f, "loss", r->loss);
        log_num(f, "lr", r->lr);
        log_num(f, "grad_norm", r->grad_norm);
        log_num(f, "tokens_per_sec", r->tokens_per_sec);
        log_num(f, "elapsed_sec", r->elapsed_sec);
    }
    if (r->has_val) log_num(f, "val_loss", r->val_loss);
    fputs("}\n", f);
    fflush(f);
}

static void on_report(void *ud, const lo_train_report *r) {
    progress_ui *ui = ud;
    if (ui->log) log_report(ui->log, r);
    if (r->has_val) { /* per evaluation: the step's training loss and the validation loss */
        if (r->step > 0) log_metric(ui, r->step, "train_loss", r->loss);
        log_metric(ui, r->step, "val_loss", r->val_loss);
    }
    if (r->step > 0 && (ui->tty || r->step % ui->every == 0 || r->step == r->total_steps)) {
        char eta[32];
        fmt_eta(r->eta_sec, eta, sizeof eta);
        const int width = 20;
        int fill = (int)((double)r->step / (double)r->total_steps * width);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : ' ';
        bar[width] = 0;
        fprintf(stderr, "%s[%s] step %lld/%lld loss %.4f lr %.2e |g| %.3f %.0f tok/s ETA %s%s", ui->tty ? "\r" : "",
                bar, (long long)r->step, (long long)r->total_steps, r->loss, r->lr, r->grad_norm, r->tokens_per_sec,
                eta, ui->tty ? "\033[K" : "\n");
        ui->drawn = ui->tty;
    }
    if (r->has_val) {
        if (ui->drawn) fputc('\n', stderr), ui->drawn = false;
        fprintf(stderr, "step %lld: val loss %.4f ppl %.3f\n", (long long)r->step, r->val_loss, r->val_ppl);
    }
    fflush(stderr);
}

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig) {
    (void)sig;
    g_stop = 1;
}

static bool get_int(const lo_cli_opt *o, long long lo, long long hi, long long *out) {
    return !o->set || lo_cli_parse_int(o->value, lo, hi, out);
}
static bool get_num(const lo_cli_opt *o, double lo, double hi, double *out) {
    double v;
    if (!o->set) return true;
    if (!lo_cli_parse_double(o->value, &v) || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

/* The dataset name for --data FILE without --dataset: the file's base name without its
 * extension, characters a name cannot hold replaced by '-'. */
static void dataset_name(const char *path, char out[LO_OPS_NAME_MAX + 1]) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strcspn(b, ".");
    if (n == 0) n = strlen(b);
    if (n > LO_OPS_NAME_MAX) n = LO_OPS_NAME_MAX;
    for (size_t i = 0; i < n; i++) {
        const char c = b[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        (i > 0 && (c == '.' || c == '_' || c == '-'));
        out[i] = ok ? c : (i ? '-' : 'd');
    }
    out[n] = 0;
    if (!n) snprintf(out, LO_OPS_NAME_MAX + 1, "train-data");
}

typedef struct find_sha {
    const char *sha;
    char ref[LO_OPS_NAME_MAX + 32];
} find_sha;
static void on_model(void *ctx, const lo_ops_model *m) {
    find_sha *f = ctx;
    if (!f->ref[0] && strcmp(m->sha256, f->sha) == 0) snprintf(f->ref, sizeof f->ref, "%s@%s", m->name, m->version);
}

/* Opens the store and starts the run: the data file as a dataset version, the base as
 * its registered model version when its bytes are registered, the params as JSON. */
static lo_status record_start(const char *url, const lo_train_run_params *p, const char *ds_name, json_t *params,
                              lo_store **st, int64_t *run_id, char base_ref[LO_OPS_NAME_MAX + 32]) {
    base_ref[0] = 0;
    lo_status s = lo_store_open(url, st);
    if (s) return s;
    lo_ops_dataset d;
    bool existed;
    if ((s = lo_ops_dataset_add(*st, ds_name, p->data_path, &d, &existed))) return s;
    if (p->base_path) {
        find_sha f = {0};
        char hex[65];
        if ((s = lo_sha256_file_hex(p->base_path, hex))) return s;
        f.sha = hex;
        if ((s = lo_ops_model_list(*st, NULL, on_model, &f))) return s;
        snprintf(base_ref, LO_OPS_NAME_MAX + 32, "%s", f.ref);
    }
    char ds_ref[LO_OPS_NAME_MAX + 80];
    snprintf(ds_ref, sizeof ds_ref, "%s@%s", d.name, d.version);
    char *pj = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    if (!pj) return LO_ERR_NOMEM;
    s = lo_ops_run_create(*st, "train", pj, ds_ref, base_ref[0] ? base_ref : NULL, run_id);
    free(pj);
    return s;
}

static int train_main(int argc, char **argv);

/* SIGINT (and SIGUSR1 under mpirun) checkpoint and stop the run only while it trains:
 * the handlers in place before are restored on return, so a caller running this command
 * in-process (llmops quickstart) keeps its own Ctrl-C. */
int lo_cmd_train(int argc, char **argv) {
    struct sigaction old_int, old_usr1;
    sigaction(SIGINT, NULL, &old_int);
    sigaction(SIGUSR1, NULL, &old_usr1);
    g_stop = 0;
    const int rc = train_main(argc, argv);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    /* a Ctrl-C that arrived while training stopped it; pass it on to the caller's handler */
    if (g_stop && old_int.sa_handler != SIG_DFL && old_int.sa_handler != SIG_IGN) raise(SIGINT);
    return rc;
}

static int train_main(int argc, char **argv) {
    const char *cmd = argv[0];
    lo_cli_opt o[O_COUNT] = {
        [O_DATA] = {"--data", true},
        [O_VAL] = {"--val", true},
        [O_VAL_SPLIT] = {"--val-split", true},
        [O_DOCS] = {"--docs", true},
        [O_FORMAT] = {"--format", true},
        [O_STRICT] = {"--strict", false},
        [O_CHAT_TEMPLATE] = {"--chat-template", true},
        [O_STORE] = {"--store", true},
        [O_REGISTER] = {"--register", true},
        [O_DATASET] = {"--dataset", true},
        [O_LOG] = {"--log", true},
        [O_OUT] = {"--out", true},
        [O_TOKENIZER] = {"--tokenizer", true},
        [O_ARCH] = {"--arch", true},
        [O_DIM] = {"--dim", true},
        [O_LAYERS] = {"--layers", true},
        [O_HEADS] = {"--heads", true},
        [O_KV_HEADS] = {"--kv-heads", true},
        [O_FF] = {"--ff", true},
        [O_CTX] = {"--ctx", true},
        [O_TIED] = {"--tied", false},
        [O_STEPS] = {"--steps", true},
        [O_EPOCHS] = {"--epochs", true},
        [O_BATCH] = {"--batch", true},
        [O_SEQ] = {"--seq", true},
        [O_LR] = {"--lr", true},
        [O_MIN_LR] = {"--min-lr", true},
        [O_WARMUP] = {"--warmup", true},
        [O_SCHEDULE] = {"--schedule", true},
        [O_GRAD_CLIP] = {"--grad-clip", true},
        [O_GRAD_ACCUM] = {"--grad-accum", true},
        [O_WEIGHT_DECAY] = {"--weight-decay", true},
        [O_SEED] = {"--seed", true},
        [O_THREADS] = {"--threads", true},
        [O_EVAL_EVERY] = {"--eval-every", true},
        [O_EVAL_BATCHES] = {"--eval-batches", true},
        [O_NAME] = {"--name", true},
        [O_METHOD] = {"--method", true},
        [O_BASE] = {"--base", true},
        [O_LORA_RANK] = {"--lora-rank", true},
        [O_LORA_ALPHA] = {"--lora-alpha", true},
        [O_LORA_TARGETS] = {"--lora-targets", true},
        [O_LORA_DROPOUT] = {"--lora-dropout", true},
        [O_ADAPTER_OUT] = {"--adapter-out", true},
        [O_RESUME] = {"--resume", true},
        [O_CHECKPOINT_EVERY] = {"--checkpoint-every", true},
        [O_CHECKPOINT] = {"--checkpoint", true},
    };
    char *pos[1];
    int n_pos = 0;
    int rc = lo_cli_parse(cmd, argc, argv, 1, o, O_COUNT, pos, 0, &n_pos);
    if (rc) return rc;
    /* What is not built yet is refused, never ignored. */
    const bool qlora = o[O_METHOD].set && !strcmp(o[O_METHOD].value, "qlora");
    const bool lora = qlora || (o[O_METHOD].set && !strcmp(o[O_METHOD].value, "lora"));
    if (o[O_METHOD].set && !lora && strcmp(o[O_METHOD].value, "full") != 0)
        return lo_cli_usage_error(cmd, "--method must be full, lora or qlora, not '%s'", o[O_METHOD].value);
    if (!lora)
        for (int k = O_LORA_RANK; k <= O_ADAPTER_OUT; k++)
            if (o[k].set) return lo_cli_usage_error(cmd, "%s needs --method lora or qlora", o[k].name);
    if (lora && !o[O_BASE].set) return lo_cli_usage_error(cmd, "--method %s needs --base BASE.gguf", o[O_METHOD].value);
    double dropout = 0;
    if (!get_num(&o[O_LORA_DROPOUT], 0, 0.999999, &dropout) || !(dropout < 1))
        return lo_cli_usage_error(cmd, "--lora-dropout needs a number in [0, 1)");
    long long lora_rank = 8;
    double lora_alpha = 16;
    uint32_t lora_targets = LO_LORA_Q | LO_LORA_V;
    if (!get_int(&o[O_LORA_RANK], 1, 65536, &lora_rank)) return lo_cli_usage_error(cmd, "--lora-rank needs 1..65536");
    if (!get_num(&o[O_LORA_ALPHA], 1e-6, 1e5, &lora_alpha))
        return lo_cli_usage_error(cmd, "--lora-alpha needs a number in (0, 1e5]");
    if (o[O_LORA_TARGETS].set && !lo_lora_targets_parse(o[O_LORA_TARGETS].value, &lora_targets))
        return lo_cli_usage_error(cmd,
                                  "--lora-targets takes names from q,k,v,o,gate,up,down (comma-separated, "
                                  "each once), not '%s'",
                                  o[O_LORA_TARGETS].value);
    const lo_lora_config lora_cfg = {
        .rank = (int32_t)lora_rank, .alpha = (float)lora_alpha, .targets = lora_targets, .dropout = (float)dropout};
    if (o[O_ARCH].set && strcmp(o[O_ARCH].value, "llama") != 0)
        return lo_cli_usage_error(cmd, "--arch %s is not supported (only llama)", o[O_ARCH].value);
    const bool base = o[O_BASE].set;
    if (!o[O_DATA].set || !o[O_OUT].set || (!base && !o[O_TOKENIZER].set))
        return lo_cli_usage_error(cmd, "--data FILE, --out OUT.gguf and --tokenizer TOK.gguf (or --base BASE.gguf) "
                                       "are required");
    if (base) {
        for (int k = O_TOKENIZER; k <= O_TIED; k++)
            if (o[k].set && k != O_ARCH)
                return lo_cli_usage_error(cmd,
                                          "%s cannot be combined with --base: the base gives the tokenizer "
                                          "and the model's shape",
                                          o[k].name);
    } else if (!o[O_DIM].set || !o[O_LAYERS].set || !o[O_HEADS].set) {
        return lo_cli_usage_error(cmd, "--dim, --layers and --heads are required for a model trained from scratch");
    }
    if (o[O_STEPS].set == o[O_EPOCHS].set)
        return lo_cli_usage_error(cmd, "give exactly one of --steps N and --epochs N");

    lo_train_run_params p = {.data_path = o[O_DATA].value,
                             .val_path = o[O_VAL].set ? o[O_VAL].value : NULL,
                             .tokenizer_path = base ? NULL : o[O_TOKENIZER].value,
                             .base_path = base ? o[O_BASE].value : NULL,
                             .out_path = o[O_OUT].value,
                             .name = o[O_NAME].set ? o[O_NAME].value : NULL,
                             .seed = 42,
                             .eval_every = 100,
                             .eval_batches = 20};
    long long dim = 0, layers = 0, heads = 0, kv = -1, ff = -1, ctx = 256, steps = 0, batch = 8, seq = -1, warmup = -1;
    long long accum = 1, seed = 42, threads = 0, eval_every = 100, eval_batches = 20, ckpt_every = 0;
    double epochs = 0, lr = 1e-3, min_lr = -1, clip = 1.0, wd = 0.1, val_split = 10;
    const long long big = 1 << 22;
    if (!get_int(&o[O_DIM], 2, 65536, &dim)) return lo_cli_usage_error(cmd, "--dim needs 2..65536");
    if (!get_int(&o[O_LAYERS], 1, 1024, &layers)) return lo_cli_usage_error(cmd, "--layers needs 1..1024");
    if (!get_int(&o[O_HEADS], 1, 1024, &heads)) return lo_cli_usage_error(cmd, "--heads needs 1..1024");
    if (!get_int(&o[O_KV_HEADS], 1, 1024, &kv)) return lo_cli_usage_error(cmd, "--kv-heads needs 1..1024");
    if (!get_int(&o[O_FF], 1, 1 << 20, &ff)) return lo_cli_usage_error(cmd, "--ff needs 1..%d", 1 << 20);
    if (!get_int(&o[O_CTX], 1, 1 << 20, &ctx)) return lo_cli_usage_error(cmd, "--ctx needs 1..%d", 1 << 20);
    if (!get_int(&o[O_STEPS], 1, (long long)1 << 40, &steps))
        return lo_cli_usage_error(cmd, "--steps needs a count ≥ 1");
    if (!get_num(&o[O_EPOCHS], 1e-6, 1e6, &epochs)) return lo_cli_usage_error(cmd, "--epochs needs a number > 0");
    if (!get_int(&o[O_BATCH], 1, 65536, &batch)) return lo_cli_usage_error(cmd, "--batch needs 1..65536");
    if (!get_int(&o[O_SEQ], 1, 1 << 20, &seq)) return lo_cli_usage_error(cmd, "--seq needs 1..%d", 1 << 20);
    if (!get_num(&o[O_LR], 1e-12, 10, &lr)) return lo_cli_usage_error(cmd, "--lr needs a number in (0, 10]");
    if (!get_num(&o[O_MIN_LR], 0, 10, &min_lr)) return lo_cli_usage_error(cmd, "--min-lr needs a number ≥ 0");
    if (!get_int(&o[O_WARMUP], 0, big, &warmup)) return lo_cli_usage_error(cmd, "--warmup needs 0..%lld", big);
    if (!get_num(&o[O_GRAD_CLIP], 0, 1e9, &clip))
        return lo_cli_usage_error(cmd, "--grad-clip needs a number ≥ 0 (0 = off)");
    if (!get_int(&o[O_GRAD_ACCUM], 1, 65536, &accum)) return lo_cli_usage_error(cmd, "--grad-accum needs 1..65536");
    if (!get_num(&o[O_WEIGHT_DECAY], 0, 10, &wd)) return lo_cli_usage_error(cmd, "--weight-decay needs 0..10");
    if (!get_int(&o[O_SEED], 0, (long long)(~0ull >> 1), &seed))
        return lo_cli_usage_error(cmd, "--seed needs an integer ≥ 0");
    if (!get_int(&o[O_THREADS], 0, 256, &threads))
        return lo_cli_usage_error(cmd, "--threads needs 0..256 (0 = all cores)");
    if (!get_int(&o[O_EVAL_EVERY], 0, (long long)1 << 40, &eval_every))
        return lo_cli_usage_error(cmd, "--eval-every needs a count ≥ 0");
    if (!get_int(&o[O_EVAL_BATCHES], 0, big, &eval_batches))
        return lo_cli_usage_error(cmd, "--eval-batches needs 0..%lld (0 = all)", big);
    if (!get_int(&o[O_CHECKPOINT_EVERY], 0, (long long)1 << 40, &ckpt_every))
        return lo_cli_usage_error(cmd, "--checkpoint-every needs a count ≥ 0");
    if (!get_num(&o[O_VAL_SPLIT], 0.001, 99.999, &val_split))
        return lo_cli_usage_error(cmd, "--val-split needs a percentage in (0, 100)");
    if (o[O_VAL].set && o[O_VAL_SPLIT].set)
        return lo_cli_usage_error(cmd, "give --val FILE or --val-split PCT, not both");
    int sched = LO_SCHED_COSINE;
    if (o[O_SCHEDULE].set && (sched = lo_lr_schedule_from_name(o[O_SCHEDULE].value)) < 0)
        return lo_cli_usage_error(cmd, "--schedule must be cosine, linear or constant, not '%s'", o[O_SCHEDULE].value);
    if (o[O_DOCS].set) {
        if (!strcmp(o[O_DOCS].value, "blank"))
            p.doc_split = LO_DOCS_BLANK_LINE;
        else if (!strcmp(o[O_DOCS].value, "line"))
            p.doc_split = LO_DOCS_LINE;
        else
            return lo_cli_usage_error(cmd, "--docs must be blank or line, not '%s'", o[O_DOCS].value);
    }
    if (o[O_FORMAT].set) {
        if (!strcmp(o[O_FORMAT].value, "text"))
            p.format = LO_DATA_TEXT;
        else if (!strcmp(o[O_FORMAT].value, "jsonl"))
            p.format = LO_DATA_JSONL;
        else
            return lo_cli_usage_error(cmd, "--format must be text or jsonl, not '%s'", o[O_FORMAT].value);
    }
    p.strict = o[O_STRICT].set;
    p.chat_template = o[O_CHAT_TEMPLATE].set ? o[O_CHAT_TEMPLATE].value : NULL;
    if (kv < 0) kv = heads;
    if (ff < 0) ff = (8 * dim / 3 + 31) / 32 * 32; /* llama's 8/3·dim, rounded up to 32 */
    if (seq < 0) seq = base ? 0 : ctx;             /* 0: the run takes the base's context, at most 256 */
    if (!base && seq > ctx) return lo_cli_usage_error(cmd, "--seq %lld exceeds --ctx %lld", seq, ctx);
    if (min_lr < 0) min_lr = lr / 10;
    if (min_lr > lr) return lo_cli_usage_error(cmd, "--min-lr must not exceed --lr");
    if (!base)
        p.model = (lo_train_config){.n_embd = (int32_t)dim,
                                    .n_layer = (int32_t)layers,
                                    .n_head = (int32_t)heads,
                                    .n_head_kv = (int32_t)kv,
                                    .n_ff = (int32_t)ff,
                                    .n_ctx = (int32_t)ctx,
                                    .tied = o[O_TIED].set};
    p.train = (lo_train_params){.batch = (int32_t)batch,
                                .seq = (int32_t)seq,
                                .grad_accum = (int32_t)accum,
                                .n_threads = (int32_t)threads,
                                .total_steps = steps,
                                .lr = (float)lr,
                                .min_lr = (float)min_lr,
                                .schedule = (lo_lr_schedule)sched,
                                .weight_decay = (float)wd,
                                .grad_clip = (float)clip};
    p.train.warmup = (int32_t)warmup; /* -1: a tenth of the run, at most 100 steps */
    p.epochs = epochs;
    p.lora = lora ? &lora_cfg : NULL;
    p.qlora = qlora;
    p.adapter_path = o[O_ADAPTER_OUT].set ? o[O_ADAPTER_OUT].value : NULL;
    p.val_fraction = val_split / 100.0;
    p.seed = (uint64_t)seed;
    p.eval_every = eval_every;
    p.eval_batches = eval_batches;
    /* Checkpoints go to --checkpoint, else OUT.ckpt; SIGINT writes one and stops. */
    char ckpt_buf[4096];
    if (o[O_CHECKPOINT].set) {
        p.checkpoint_path = o[O_CHECKPOINT].value;
    } else {
        if (snprintf(ckpt_buf, sizeof ckpt_buf, "%s.ckpt", p.out_path) >= (int)sizeof ckpt_buf)
            return lo_cli_usage_error(cmd, "--out path too long");
        p.checkpoint_path = ckpt_buf;
    }
    p.checkpoint_every = ckpt_every;
    p.resume_path = o[O_RESUME].set ? o[O_RESUME].value : NULL;
    p.stop = &g_stop;
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    progress_ui ui = {.tty = isatty(2) != 0, .every = steps > 20 ? steps / 20 : 1};
    if (!steps) ui.every = 10;
    p.report = on_report, p.report_ud = &ui;
    /* The run record: --store URL or $LLMOPS_STORE; without either nothing is recorded. */
    const char *store_url = o[O_STORE].set ? o[O_STORE].value : getenv("LLMOPS_STORE");
    if (store_url && !*store_url) store_url = NULL;
    char ds_name[LO_OPS_NAME_MAX + 1], base_ref[LO_OPS_NAME_MAX + 32] = "";
    if (o[O_DATASET].set) {
        if (lo_ops_check_name("--dataset", o[O_DATASET].value)) return lo_cli_fail(cmd, LO_ERR_INVALID);
        snprintf(ds_name, sizeof ds_name, "%s", o[O_DATASET].value);
    } else {
        dataset_name(p.data_path, ds_name);
    }
    if (o[O_REGISTER].set && lo_ops_check_name("--register", o[O_REGISTER].value))
        return lo_cli_fail(cmd, LO_ERR_INVALID);
    if (o[O_REGISTER].set && !store_url)
        return lo_cli_usage_error(cmd, "--register needs a store: give --store URL or set LLMOPS_STORE");
    /* Under mpirun with several ranks: join the job (MPI_Finalize at exit); rank 0 alone
     * prints, writes --log and records the run, the others only train. */
    lo_status ds = lo_train_dist_init();
    if (ds) return lo_cli_fail(cmd, ds);
    if (lo_train_dist_size() > 1) {
        atexit(lo_train_dist_finalize);
        /* mpirun turns Ctrl-C into SIGTERM then SIGKILL for every rank, but forwards SIGUSR1:
         * `kill -USR1 <mpirun>` (or SIGINT to any one rank) stops the job with a checkpoint. */
        sigaction(SIGUSR1, &sa, NULL);
    }
    const bool rank0 = lo_train_dist_rank() == 0;
    if (!rank0) {
        store_url = NULL;
        if (lo_log_get_level() < LO_LOG_ERROR) lo_log_set_level(LO_LOG_ERROR);
    }
    lo_status ls = LO_OK;
    if (rank0 && o[O_LOG].set && !(ui.log = fopen(o[O_LOG].value, "w")))
        ls = lo_error(LO_ERR_IO, "give a writable --log path", "cannot open --log %s", o[O_LOG].value);
    if (store_url && !ls) {
        json_t *pj = json_pack(
            "{s:s, s:s, s:I, s:f, s:i, s:i, s:i, s:f, s:f, s:i, s:s, s:f, s:f, s:I, s:i, s:I, s:I}", "method",
            qlora  ? "qlora"
            : lora ? "lora"
                   : "full",
            "out", p.out_path, "steps", (json_int_t)steps, "epochs", epochs, "batch", (int)batch, "seq", (int)seq,
            "grad_accum", (int)accum, "lr", lr, "min_lr", min_lr, "warmup", (int)warmup, "schedule",
            lo_lr_schedule_name((lo_lr_schedule)sched), "weight_decay", wd, "grad_clip", clip, "seed", (json_int_t)seed,
            "threads", (int)threads, "eval_every", (json_int_t)eval_every, "eval_batches", (json_int_t)eval_batches);
        /* pj NULL (no memory): the setters ignore it, record_start returns LO_ERR_NOMEM */
        json_object_set_new(pj, "data", json_string(p.data_path));
        json_object_set_new(pj, "format",
                            json_string(p.format == LO_DATA_JSONL  ? "jsonl"
                                        : p.format == LO_DATA_TEXT ? "text"
                                                                   : "auto"));
        if (p.val_path) json_object_set_new(pj, "val", json_string(p.val_path));
        if (lo_train_dist_size() > 1) json_object_set_new(pj, "processes", json_integer(lo_train_dist_size()));
        if (base) json_object_set_new(pj, "base", json_string(p.base_path));
        if (!base) {
            json_object_set_new(pj, "tokenizer", json_string(p.tokenizer_path));
            json_object_set_new(pj, "model",
                                json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:b}", "dim", (int)dim, "layers", (int)layers,
                                          "heads", (int)heads, "kv_heads", (int)kv, "ff", (int)ff, "ctx", (int)ctx,
                                          "tied", (int)o[O_TIED].set));
        }
        if (lora)
            json_object_set_new(pj, "lora",
                                json_pack("{s:i, s:f, s:s, s:f}", "rank", (int)lora_rank, "alpha", lora_alpha,
                                          "targets", o[O_LORA_TARGETS].set ? o[O_LORA_TARGETS].value : "q,v", "dropout",
                                          (double)(float)dropout));
        ls = record_start(store_url, &p, ds_name, pj, &ui.store, &ui.run_id, base_ref);
        json_decref(pj);
    }
    /* No rank starts training when rank 0 could not open its log or start its record. */
    if ((ls = lo_train_dist_agree(ls))) {
        lo_store_close(ui.store);
        if (ui.log) fclose(ui.log);
        return rank0 ? lo_cli_fail(cmd, ls) : LO_EXIT_FAIL;
    }
    lo_train_result res;
    lo_status s = lo_train_run(&p, &res);
    if (ui.log && fclose(ui.log) != 0 && !s)
        s = lo_error(LO_ERR_IO, "check the disk holding --log", "writing --log %s failed", o[O_LOG].value);
    ui.log = NULL;
    if (ui.drawn) fputc('\n', stderr);
    if (ui.store) {
        lo_status rs = ui.metric_err;
        if (!s && !res.interrupted) {
            if (!rs) rs = lo_ops_run_add_artifact(ui.store, ui.run_id, p.out_path);
            if (!rs && p.adapter_path) rs = lo_ops_run_add_artifact(ui.store, ui.run_id, p.adapter_path);
            if (!rs && o[O_REGISTER].set) {
                lo_ops_model m;
                bool existed;
                rs = lo_ops_model_register(ui.store, o[O_REGISTER].value, p.out_path, ui.run_id,
                                           base_ref[0] ? base_ref : NULL, &m, &existed);
                if (!rs)
                    printf("registered %s@%s (run %lld%s%s)\n", m.name, m.version, (long long)ui.run_id,
                           base_ref[0] ? ", base " : "", base_ref);
            }
        }
        lo_status ss = lo_ops_run_set_status(ui.store, ui.run_id,
                                             s || rs           ? "failed"
                                             : res.interrupted ? "canceled"
                                                               : "succeeded");
        if (!rs) rs = ss;
        if (!s && !rs) fprintf(stderr, "llmops train: recorded as run %lld\n", (long long)ui.run_id);
        lo_store_close(ui.store);
        if (!s && rs) return lo_cli_fail(cmd, rs);
    }
    if (!rank0) return s || res.interrupted ? LO_EXIT_FAIL : LO_EXIT_OK; /* rank 0 reports for the job */
    if (s) return lo_cli_fail(cmd, s);
    if (res.interrupted) {
        fprintf(stderr, "llmops train: interrupted after step %lld; checkpoint %s (continue with --resume %s)\n",
                (long long)res.steps, p.checkpoint_path, p.checkpoint_path);
        return LO_EXIT_FAIL;
    }
    if (res.n_skipped)
        fprintf(stderr, "llmops train: %lld bad JSONL line(s) skipped (named above; --strict rejects them)\n",
                (long long)res.n_skipped);
    if (lora)
        printf("%s: %s rank %d alpha %g, %lld trainable params, dropout %g, merged into the output%s%s%s\n", p.out_path,
               qlora ? "QLoRA" : "LoRA", lora_cfg.rank, lora_cfg.alpha, (long long)res.n_trainable, lora_cfg.dropout,
               qlora ? " (re-quantised to the base's types: lossy)" : "", p.adapter_path ? "; adapter " : "",
               p.adapter_path ? p.adapter_path : "");
    printf("%s: llama %lld params, %lld steps, %lld training tokens, val loss %.4f -> %.4f (ppl %.3f), %.0f tokens/s, "
           "%.1f s\n",
           p.out_path, (long long)res.n_params, (long long)res.steps, (long long)res.train_tokens, res.first_val_loss,
           res.last_val_loss, exp(res.last_val_loss), res.tokens_per_sec, res.seconds);
    return LO_EXIT_OK;
}
