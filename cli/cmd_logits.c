/* `llmops logits`: one decode of the given token ids as one prompt, printing the raw
 * next-token logits of every position as a JSON line ({"pos": p, "top": [[id, logit]...]}
 * or {"pos": p, "logits": [...]} with --full), for comparing against other engines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int parse_ids(const char *s, int32_t **ids, int32_t *n) {
    int32_t cap = 16, cnt = 0;
    int32_t *v = lo_malloc((size_t)cap * sizeof *v);
    if (!v) return -1;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\n') p++;
        if (!*p) break;
        char buf[32];
        size_t l = strcspn(p, " \t,\n");
        if (l >= sizeof buf) return lo_free(v), -2;
        memcpy(buf, p, l);
        buf[l] = '\0';
        long long x;
        if (!lo_cli_parse_int(buf, 0, INT32_MAX, &x)) return lo_free(v), -2;
        if (cnt == cap) {
            if (cap > (1 << 24)) return lo_free(v), -2;
            int32_t *nv = lo_realloc(v, (size_t)cap * 2 * sizeof *v);
            if (!nv) return lo_free(v), -1;
            v = nv, cap *= 2;
        }
        v[cnt++] = (int32_t)x;
        p += l;
    }
    *ids = v, *n = cnt;
    return 0;
}

int lo_cmd_logits(int argc, char **argv) {
    const char *cmd = "logits", *model = NULL, *ids_arg = NULL;
    long long top = 5, threads = 0;
    bool full = false;
    lo_cli_model_opts mopts = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int mo = lo_cli_model_opt(cmd, argc, argv, &i, &mopts);
        if (mo < 0) return LO_EXIT_USAGE;
        if (mo) continue;
        if (strcmp(a, "-m") == 0) {
            if (++i >= argc) return lo_cli_usage_error(cmd, "-m needs a FILE.gguf");
            model = argv[i];
        } else if (strcmp(a, "--ids") == 0) {
            if (++i >= argc) return lo_cli_usage_error(cmd, "--ids needs a list of token ids");
            ids_arg = argv[i];
        } else if (strcmp(a, "--top") == 0) {
            if (++i >= argc || !lo_cli_parse_int(argv[i], 1, 1 << 24, &top))
                return lo_cli_usage_error(cmd, "--top needs a positive integer");
        } else if (strcmp(a, "--threads") == 0) {
            if (++i >= argc || !lo_cli_parse_int(argv[i], 1, 1024, &threads))
                return lo_cli_usage_error(cmd, "--threads needs an integer in 1..1024");
        } else if (strcmp(a, "--full") == 0) {
            full = true;
        } else {
            return lo_cli_usage_error(cmd, "unknown argument '%s'", a);
        }
    }
    if (!model) return lo_cli_usage_error(cmd, "-m FILE.gguf is required");
    if (!ids_arg) return lo_cli_usage_error(cmd, "--ids \"ID ID ...\" is required");
    int32_t *ids = NULL, n = 0;
    int pr = parse_ids(ids_arg, &ids, &n);
    if (pr == -1) return lo_cli_fail(cmd, LO_ERR_NOMEM);
    if (pr == -2) return lo_cli_usage_error(cmd, "--ids: every id must be a non-negative integer");
    if (n == 0) return lo_free(ids), lo_cli_usage_error(cmd, "--ids: no token ids given");

    lo_model *m = NULL;
    lo_context *c = NULL;
    int32_t *pos = NULL, *seq = NULL;
    bool *want = NULL;
    int32_t *order = NULL;
    int rc = LO_EXIT_OK;
    lo_status s = lo_cli_model_load(model, &mopts, &m);
    if (s) {
        rc = lo_cli_fail(cmd, s);
        goto done;
    }
    lo_context_params cp = {.n_ctx = n, .n_seq = 1, .n_batch = n, .n_threads = (int32_t)threads};
    if ((s = lo_context_create(m, &cp, &c))) {
        rc = lo_cli_fail(cmd, s);
        goto done;
    }
    const int32_t n_vocab = lo_model_hparams(m)->n_vocab;
    pos = lo_calloc((size_t)n, sizeof *pos);
    seq = lo_calloc((size_t)n, sizeof *seq);
    want = lo_calloc((size_t)n, sizeof *want);
    order = lo_calloc((size_t)n_vocab, sizeof *order);
    if (!pos || !seq || !want || !order) {
        rc = lo_cli_fail(cmd, LO_ERR_NOMEM);
        goto done;
    }
    for (int32_t i = 0; i < n; i++) pos[i] = i, want[i] = true;
    lo_batch b = {.n_tokens = n, .token = ids, .pos = pos, .seq = seq, .logits = want};
    if ((s = lo_model_decode(c, &b))) {
        rc = lo_cli_fail(cmd, s);
        goto done;
    }
    if (top > n_vocab) top = n_vocab;
    for (int32_t i = 0; i < n; i++) {
        const float *lg = lo_context_logits(c, i);
        printf("{\"pos\": %d, ", i);
        if (full) {
            printf("\"logits\": [");
            for (int32_t v = 0; v < n_vocab; v++) printf(v ? ", %.9g" : "%.9g", (double)lg[v]);
        } else {
            /* top K by insertion into a sorted prefix (ties: lower id first) */
            int32_t k = 0;
            for (int32_t v = 0; v < n_vocab; v++) {
                if (k == (int32_t)top && !(lg[v] > lg[order[k - 1]])) continue;
                int32_t j = k < (int32_t)top ? k++ : k - 1;
                while (j > 0 && lg[v] > lg[order[j - 1]]) order[j] = order[j - 1], j--;
                order[j] = v;
            }
            printf("\"top\": [");
            for (int32_t j = 0; j < k; j++) printf(j ? ", [%d, %.9g]" : "[%d, %.9g]", order[j], (double)lg[order[j]]);
        }
        printf("]}\n");
    }
    if (fflush(stdout) != 0) rc = LO_EXIT_FAIL;
done:
    lo_free(ids);
    lo_free(pos);
    lo_free(seq);
    lo_free(want);
    lo_free(order);
    lo_context_free(c);
    lo_model_free(m);
    return rc;
}
