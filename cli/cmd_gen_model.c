/* `llmops gen-model --shape NAME|custom ... --type T OUT.gguf`: writes a random-weight
 * llama model of a real shape (lo_model_gen_random), for benchmarks and tests. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

int lo_cmd_gen_model(int argc, char **argv) {
    const char *cmd = argv[0], *shape = NULL, *type = NULL, *out = NULL;
    lo_gen_model_params p = {.arch = "llama", .n_ctx = 2048, .seed = 42};
    /* dim layers heads kv-heads ff vocab experts experts-used sliding-window */
    long long dims[9] = {-1, -1, -1, -1, -1, -1, -1, -1, -1};
    static const char *dim_flags[9] = {"--dim", "--layers", "--heads", "--kv-heads", "--ff", "--vocab",
                                       "--experts", "--experts-used", "--sliding-window"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        int d = -1;
        for (int k = 0; k < 9; k++)
            if (!strcmp(a, dim_flags[k])) d = k;
        if (d >= 0) {
            if (!has_val || !lo_cli_parse_int(argv[i + 1], 0, 1 << 22, &dims[d]))
                return lo_cli_usage_error(cmd, "%s needs a number (0..%d)", a, 1 << 22);
            i++;
        } else if (!strcmp(a, "--arch")) {
            if (!has_val) return lo_cli_usage_error(cmd, "--arch needs a value");
            p.arch = argv[++i];
            if (strcmp(p.arch, "llama") != 0) return lo_cli_usage_error(cmd, "only --arch llama is supported");
        } else if (!strcmp(a, "--shape")) {
            if (!has_val) return lo_cli_usage_error(cmd, "--shape needs a value");
            shape = argv[++i];
        } else if (!strcmp(a, "--type")) {
            if (!has_val) return lo_cli_usage_error(cmd, "--type needs a value");
            type = argv[++i];
        } else if (!strcmp(a, "--tokenizer")) {
            if (!has_val) return lo_cli_usage_error(cmd, "--tokenizer needs a file");
            p.tokenizer_path = argv[++i];
        } else if (!strcmp(a, "--seed")) {
            long long seed;
            if (!has_val || !lo_cli_parse_int(argv[i + 1], 0, (long long)(~0ull >> 1), &seed))
                return lo_cli_usage_error(cmd, "--seed needs a non-negative integer");
            p.seed = (uint64_t)seed;
            i++;
        } else if (a[0] == '-' && a[1]) {
            return lo_cli_usage_error(cmd, "unknown option '%s'", a);
        } else if (!out) {
            out = a;
        } else {
            return lo_cli_usage_error(cmd, "more than one output file given");
        }
    }
    if (!out) return lo_cli_usage_error(cmd, "no OUT.gguf given");
    if (!shape) return lo_cli_usage_error(cmd, "--shape is required (tinyllama-1.1b, stories15m or custom)");
    if (!type) return lo_cli_usage_error(cmd, "--type is required (e.g. Q4_0, Q8_0, Q4_K_M, F16)");
    int ft = lo_ftype_from_name(type);
    if (ft < 0) return lo_cli_usage_error(cmd, "unknown --type '%s'", type);
    p.ftype = (lo_ftype)ft;
    if (!strcmp(shape, "custom")) {
        for (int k = 0; k < 3; k++)
            if (dims[k] <= 0) return lo_cli_usage_error(cmd, "--shape custom needs %s (> 0)", dim_flags[k]);
        if (dims[5] < 0 && !p.tokenizer_path) return lo_cli_usage_error(cmd, "--shape custom needs --vocab or --tokenizer");
    } else if (!lo_gen_model_shape(shape, &p)) {
        return lo_cli_usage_error(cmd, "unknown --shape '%s' (tinyllama-1.1b, stories15m or custom)", shape);
    }
    /* Explicit dimensions override the named shape. */
    int32_t *fields[9] = {&p.n_embd, &p.n_layer, &p.n_head, &p.n_head_kv, &p.n_ff, &p.n_vocab,
                          &p.n_expert, &p.n_expert_used, &p.sliding_window};
    if (dims[6] > 0 && dims[7] < 0) dims[7] = 2; /* Mixtral's top-2 */
    for (int k = 0; k < 9; k++)
        if (dims[k] >= 0) *fields[k] = (int32_t)dims[k];
    if (!strcmp(shape, "custom")) {
        /* Defaults as llama's own sizing: no GQA, n_ff = 8·dim/3 rounded up to 256. */
        if (dims[3] < 0) p.n_head_kv = p.n_head;
        if (dims[4] < 0) p.n_ff = (int32_t)((8 * (long long)p.n_embd / 3 + 255) / 256 * 256);
    }
    /* With a tokenizer the vocabulary size is the tokenizer's (unless given explicitly). */
    if (p.tokenizer_path && dims[5] < 0) p.n_vocab = 0;
    double t0 = lo_time_sec();
    lo_status s = lo_model_gen_random(&p, out);
    if (s) return lo_cli_fail(cmd, s);
    struct stat st;
    if (stat(out, &st) == 0)
        printf("%s: llama %d layers, n_embd %d, heads %d/%d, n_ff %d%s%.0d%s%.0d, %s: %.1f MiB in %.1f s\n", out, p.n_layer,
               p.n_embd, p.n_head, p.n_head_kv, p.n_ff, p.n_expert ? ", experts " : "", p.n_expert, p.n_expert ? " used " : "",
               p.n_expert_used, lo_ftype_name(p.ftype), st.st_size / 1048576.0, lo_time_sec() - t0);
    return LO_EXIT_OK;
}
