/* `llmops tokenizer train`: learns a byte-level BPE vocabulary from a text corpus and
 * writes a tokenizer-only GGUF (lo_bpe_train_file). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmd_train(int argc, char **argv) {
    const char *cmd = "tokenizer train";
    const char *pos[2];
    int n_pos = 0;
    long long vocab = -1, min_freq = 0;
    const char **special = lo_malloc(sizeof(char *) * (size_t)(argc > 0 ? argc : 1));
    if (!special) return lo_cli_fail(cmd, LO_ERR_NOMEM);
    int32_t n_special = 0;
    bool only_args = false;
    int rc = LO_EXIT_OK;
    for (int i = 1; i < argc && rc == LO_EXIT_OK; i++) {
        const char *a = argv[i];
        if (!only_args && strcmp(a, "--") == 0) only_args = true;
        else if (!only_args && strcmp(a, "--vocab") == 0) {
            if (++i >= argc || !lo_cli_parse_int(argv[i], 1, 1 << 24, &vocab))
                rc = lo_cli_usage_error(cmd, "--vocab needs a size in 1..%d", 1 << 24);
        } else if (!only_args && strcmp(a, "--min-frequency") == 0) {
            if (++i >= argc || !lo_cli_parse_int(argv[i], 1, INT64_MAX, &min_freq))
                rc = lo_cli_usage_error(cmd, "--min-frequency needs a count of at least 1");
        } else if (!only_args && strcmp(a, "--special") == 0) {
            /* TOKEN ...: every following argument up to the next option. */
            int j = i + 1;
            while (j < argc && !(argv[j][0] == '-' && argv[j][1] == '-')) special[n_special++] = argv[j++];
            if (j == i + 1) rc = lo_cli_usage_error(cmd, "--special needs at least one TOKEN");
            i = j - 1;
        } else if (!only_args && a[0] == '-' && a[1]) {
            rc = lo_cli_usage_error(cmd, "unknown option '%s'", a);
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            rc = lo_cli_usage_error(cmd, "unexpected argument '%s' (give CORPUS and OUT.gguf)", a);
        }
    }
    if (rc == LO_EXIT_OK && vocab < 0) rc = lo_cli_usage_error(cmd, "--vocab N is required");
    if (rc == LO_EXIT_OK && n_pos < 2) rc = lo_cli_usage_error(cmd, "give the CORPUS file and the OUT.gguf path");
    if (rc != LO_EXIT_OK) return lo_free(special), rc;

    lo_bpe_train_opts o = {.vocab_size = (int32_t)vocab, .min_frequency = min_freq, .special = special,
                           .n_special = n_special};
    lo_bpe_train_stats st = {0};
    double t0 = now_s();
    lo_status s = lo_bpe_train_file(pos[0], pos[1], &o, &st);
    lo_free(special);
    if (s) return lo_cli_fail(cmd, s);
    printf("%s: %d tokens (%d merges) from %lld words (%lld distinct) in %.2f s\n", pos[1], st.n_vocab,
           st.n_merges, (long long)st.n_words, (long long)st.n_unique, now_s() - t0);
    if (st.n_vocab < o.vocab_size)
        printf("note: %d fewer tokens than asked: no pair of adjacent tokens is left that occurs %lld times or more\n",
               o.vocab_size - st.n_vocab, min_freq ? min_freq : 2);
    return fflush(stdout) ? LO_EXIT_FAIL : LO_EXIT_OK;
}

int lo_cmd_tokenizer(int argc, char **argv) {
    if (argc < 2) return lo_cli_usage_error("tokenizer", "missing subcommand (train)");
    if (strcmp(argv[1], "train") == 0) return cmd_train(argc - 1, argv + 1);
    return lo_cli_usage_error("tokenizer", "unknown subcommand '%s' (train)", argv[1]);
}
