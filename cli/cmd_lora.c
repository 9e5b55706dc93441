/* `llmops lora merge BASE.gguf ADAPTER.gguf OUT.gguf [--scale S]`: merges a llama.cpp LoRA
 * adapter GGUF into its llama base (lo_train_lora_merge_gguf) and writes an F32 GGUF. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int lora_merge(int argc, char **argv) {
    const char *cmd = "lora";
    const char *pos[3];
    int n_pos = 0;
    double scale = 1.0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--scale")) {
            if (i + 1 >= argc || !lo_cli_parse_double(argv[i + 1], &scale) || !isfinite(scale) || fabs(scale) > 1e6)
                return lo_cli_usage_error(cmd, "--scale takes a finite number with |S| ≤ 1e6");
            i++;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return lo_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        } else if (n_pos < 3) {
            pos[n_pos++] = argv[i];
        } else {
            return lo_cli_usage_error(cmd, "too many arguments");
        }
    }
    if (n_pos != 3) return lo_cli_usage_error(cmd, "merge expects BASE.gguf ADAPTER.gguf OUT.gguf");
    if (!strcmp(pos[2], pos[0]) || !strcmp(pos[2], pos[1]))
        return lo_cli_usage_error(cmd, "OUT.gguf must differ from BASE.gguf and ADAPTER.gguf");
    lo_status s = lo_train_lora_merge_gguf(pos[0], pos[1], (float)scale, pos[2]);
    if (s) return lo_cli_fail(cmd, s);
    printf("%s: %s merged into %s (scale %g)\n", pos[2], pos[1], pos[0], scale);
    return LO_EXIT_OK;
}

int lo_cmd_lora(int argc, char **argv) {
    if (argc < 2) return lo_cli_usage_error("lora", "expected a subcommand: merge");
    if (!strcmp(argv[1], "merge")) return lora_merge(argc, argv);
    return lo_cli_usage_error("lora", "unknown subcommand '%s' (merge)", argv[1]);
}
