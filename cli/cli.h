/* The llmops command line: one table of commands (main.c) that also feeds --help; each
 * command lives in its own cli/cmd_<name>.c and returns the process exit code. */
#ifndef LLMOPS_CLI_H
#define LLMOPS_CLI_H

#include "llmops/llmops.h"

typedef struct lo_cli_command {
    const char *name;
    const char *usage;   /* arguments, e.g. "FILE.gguf [--json]" */
    const char *summary; /* one line */
    const char *help;    /* full option list shown by `llmops help NAME` */
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} lo_cli_command;

/* Exit codes: 0 ok, 1 failure reported by the library, 2 bad usage. */
enum { LO_EXIT_OK = 0, LO_EXIT_FAIL = 1, LO_EXIT_USAGE = 2 };

/* Prints "llmops NAME: <library message>" and its hint to stderr; returns LO_EXIT_FAIL. */
int lo_cli_fail(const char *cmd, lo_status s);
/* Prints "llmops NAME: <message>" and a pointer to `llmops help NAME`; returns LO_EXIT_USAGE. */
int lo_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses a whole decimal integer argument within [lo, hi]. */
bool lo_cli_parse_int(const char *s, long long lo, long long hi, long long *out);

int lo_cmd_inspect(int argc, char **argv);
int lo_cmd_tokenize(int argc, char **argv);
int lo_cmd_detokenize(int argc, char **argv);
int lo_cmd_tokenizer(int argc, char **argv);
int lo_cmd_chat_template(int argc, char **argv);
int lo_cmd_generate(int argc, char **argv);
int lo_cmd_perplexity(int argc, char **argv);
int lo_cmd_logits(int argc, char **argv);
int lo_cmd_embed(int argc, char **argv);
int lo_cmd_quantize(int argc, char **argv);
int lo_cmd_gen_model(int argc, char **argv);
int lo_cmd_train(int argc, char **argv);
int lo_cmd_lora(int argc, char **argv);
int lo_cmd_bench(int argc, char **argv);
int lo_cmd_metric(int argc, char **argv);
int lo_cmd_serve(int argc, char **argv);

/* Flag parsing for the records commands (cli/store_opt.c): each opt is "--name"; value
 * flags take the next argument or "=VALUE". Positional arguments go to pos. Returns
 * LO_EXIT_OK or, after printing the problem, LO_EXIT_USAGE. */
typedef struct lo_cli_opt {
    const char *name;
    bool has_value;
    const char *value;
    bool set;
} lo_cli_opt;
int lo_cli_parse(const char *cmd, int argc, char **argv, int first, lo_cli_opt *opts, int n_opts, char **pos, int max_pos,
                 int *n_pos);
/* Opens --store's value, else $LLMOPS_STORE, else the default; prints failures. */
int lo_cli_open_store(const char *cmd, const char *flag_value, lo_store **out);
/* "2026-12-06T16:10:15Z" ("-" for 0). */
const char *lo_cli_fmt_time(int64_t ms, char buf[32]);
/* A whole finite decimal number. */
bool lo_cli_parse_double(const char *s, double *out);

/* Model-loading options shared by generate, perplexity, logits, bench and serve
 * (cli/model_opt.c): --lora FILE[:SCALE], repeatable. */
typedef struct lo_cli_model_opts {
    lo_lora_spec lora[LO_LORA_MAX];
    int32_t n_lora;
} lo_cli_model_opts;
/* When argv[*i] is one of these options: consumes it and its value (advancing *i) and
 * returns 1, or prints a usage error and returns -1; 0 when it is not one. */
int lo_cli_model_opt(const char *cmd, int argc, char **argv, int *i, lo_cli_model_opts *o);
/* lo_model_load, then the options' adapters (a line per adapter to stderr). */
lo_status lo_cli_model_load(const char *path, const lo_cli_model_opts *o, lo_model **out);
#define LO_CLI_MODEL_OPTS_HELP                                                                                         \
    "  --lora FILE[:SCALE]  apply a llama.cpp-format LoRA adapter GGUF at SCALE (default 1; the\n"                     \
    "                 text after the last ':' is the scale when it is a number); repeatable, applied\n"                \
    "                 in order. Each adapted projection gets + SCALE·alpha/r·B·(A·x) (SCALE·B·(A·x)\n"          \
    "                 when the file has no alpha) beside the base weights, which may be quantised\n"

int lo_cmd_datasets(int argc, char **argv);
int lo_cmd_runs(int argc, char **argv);
int lo_cmd_models(int argc, char **argv);
int lo_cmd_deploy(int argc, char **argv);
int lo_cmd_deployments(int argc, char **argv);
/* "NAME revision R [sticky]: MODEL@V W% ..." (cli/cmd_deploy.c; a lo_ops_deployment_fn). */
void lo_cli_print_deployment(void *ctx, const lo_ops_deployment *d);
int lo_cmd_costs(int argc, char **argv);
int lo_cmd_feedback(int argc, char **argv);
int lo_cmd_keys(int argc, char **argv);
int lo_cmd_eval(int argc, char **argv);
/* An eval run's header and scores, and with b the table against that baseline
 * (cli/cmd_eval.c). */
void lo_cli_print_eval(const lo_eval_result *a, const lo_eval_result *b);
int lo_cmd_quickstart(int argc, char **argv);

#endif
