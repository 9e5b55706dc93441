/* `llmops quantize IN.gguf OUT.gguf TYPE`: quantises a model with llama.cpp's
 * per-tensor type choices (lo_model_quantize); prints the sizes before and after. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

int lo_cmd_quantize(int argc, char **argv) {
    const char *pos[3];
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) {
            return lo_cli_usage_error(argv[0], "unknown option '%s'", argv[i]);
        } else if (n_pos < 3) {
            pos[n_pos++] = argv[i];
        } else {
            return lo_cli_usage_error(argv[0], "too many arguments");
        }
    }
    if (n_pos != 3) return lo_cli_usage_error(argv[0], "expected IN.gguf OUT.gguf TYPE");
    int ft = lo_ftype_from_name(pos[2]);
    if (ft < 0)
        return lo_cli_usage_error(argv[0], "unknown type '%s' (Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S/M/L Q4_K_S/M "
                                           "Q5_K_S/M Q6_K F16 BF16 F32)", pos[2]);
    if (!strcmp(pos[0], pos[1])) return lo_cli_usage_error(argv[0], "IN and OUT must differ");
    double t0 = lo_time_sec();
    lo_status s = lo_model_quantize(pos[0], pos[1], (lo_ftype)ft, 0);
    if (s) return lo_cli_fail(argv[0], s);
    struct stat a, b;
    if (stat(pos[0], &a) == 0 && stat(pos[1], &b) == 0)
        printf("%s: %.2f MiB -> %s %s: %.2f MiB (%.1f s)\n", pos[0], a.st_size / 1048576.0,
               lo_ftype_name((lo_ftype)ft), pos[1], b.st_size / 1048576.0, lo_time_sec() - t0);
    return LO_EXIT_OK;
}
