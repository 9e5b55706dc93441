/* Entry point of the `llmops` binary: dispatches argv[1] through the command table,
 * which is also the source of `llmops --help` and `llmops help COMMAND`. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const lo_cli_command commands[] = {
    {"inspect", "FILE.gguf [--json]",
     "show a GGUF file's architecture, hyperparameters, tokenizer and tensors",
     "  --json        one JSON object instead of text (every KV and tensor)\n", lo_cmd_inspect},
    {"tokenize", "-m FILE.gguf [--no-bos] [--special] [-f FILE | TEXT]",
     "print the token ids of a text, space-separated on one line",
     "  -m FILE.gguf  the model or vocab file whose tokenizer to use\n"
     "  --no-bos      do not add BOS/EOS (or CLS/SEP) even when the file asks for them\n"
     "  --special     parse the text of special tokens (e.g. <s>) as those tokens\n"
     "  -f FILE       read the text from FILE (as bytes, no newline stripped)\n",
     lo_cmd_tokenize},
    {"detokenize", "-m FILE.gguf [--special] IDS...",
     "print the text of token ids (as separate arguments or one space-separated string)",
     "  -m FILE.gguf  the model or vocab file whose tokenizer to use\n"
     "  --special     render control tokens' text (e.g. <s>) instead of dropping it\n",
     lo_cmd_detokenize},
    {"help", "[COMMAND]", "show the commands, or one command's options", "", cmd_help},
    {"version", "", "print the version", "", cmd_version},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

static void print_overview(FILE *f) {
    fprintf(f, "llmops %s — a self-hosted LLMOps system\n\nusage: llmops COMMAND [ARGS]\n\ncommands:\n",
            LLMOPS_VERSION);
    for (int i = 0; i < n_commands; i++) fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nglobal options: --log-level debug|info|warn|error|off (default warn)\n"
               "`llmops help COMMAND` shows a command's options.\n");
}

static const lo_cli_command *find_command(const char *name) {
    for (int i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static void print_command_help(FILE *f, const lo_cli_command *c) {
    fprintf(f, "usage: llmops %s %s\n\n%s\n", c->name, c->usage, c->summary);
    if (c->help && c->help[0]) fprintf(f, "\noptions:\n%s", c->help);
}

static int cmd_help(int argc, char **argv) {
    if (argc < 2) {
        print_overview(stdout);
        return LO_EXIT_OK;
    }
    const lo_cli_command *c = find_command(argv[1]);
    if (!c) return lo_cli_usage_error("help", "unknown command '%s'", argv[1]);
    print_command_help(stdout, c);
    return LO_EXIT_OK;
}

static int cmd_version(int argc, char **argv) {
    (void)argc, (void)argv;
    printf("llmops %s\n", LLMOPS_VERSION);
    return LO_EXIT_OK;
}

int lo_cli_fail(const char *cmd, lo_status s) {
    const char *msg = lo_error_message();
    fprintf(stderr, "llmops %s: %s\n", cmd, msg[0] ? msg : lo_status_name(s));
    const char *hint = lo_error_hint();
    if (hint[0]) fprintf(stderr, "  hint: %s\n", hint);
    return LO_EXIT_FAIL;
}

int lo_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "llmops %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  see `llmops help %s`\n", cmd);
    return LO_EXIT_USAGE;
}

bool lo_cli_parse_int(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

int main(int argc, char **argv) {
    lo_log_set_level(LO_LOG_WARN);
    /* Global options come before the command. */
    int i = 1;
    while (i < argc && strncmp(argv[i], "--", 2) == 0) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_overview(stdout);
            return LO_EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            return cmd_version(0, NULL);
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            lo_log_level lv;
            if (!lo_log_parse_level(argv[i + 1], &lv))
                return lo_cli_usage_error("help", "--log-level takes debug|info|warn|error|off, not '%s'", argv[i + 1]);
            lo_log_set_level(lv);
            i += 2;
        } else {
            fprintf(stderr, "llmops: unknown global option '%s'\n", argv[i]);
            print_overview(stderr);
            return LO_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_overview(stderr);
        return LO_EXIT_USAGE;
    }
    const lo_cli_command *c = find_command(argv[i]);
    if (!c) {
        fprintf(stderr, "llmops: unknown command '%s'\n\n", argv[i]);
        print_overview(stderr);
        return LO_EXIT_USAGE;
    }
    /* `llmops CMD --help` anywhere in the command's own arguments. */
    for (int j = i + 1; j < argc; j++)
        if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
            print_command_help(stdout, c);
            return LO_EXIT_OK;
        }
    return c->run(argc - i, argv + i);
}
