/* Tokenizer throughput: tokenizes a whole text file (as one string, as llama-tokenize
 * does) REPS times with a vocabulary's tokenizer and prints the median tokens/s.
 * usage: bench_tokenize VOCAB.gguf TEXT_FILE [REPS] */
#include <stdio.h>
#include <stdlib.h>

#include "llmops/llmops.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_tokenize VOCAB.gguf TEXT_FILE [REPS]\n");
        return 2;
    }
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (reps < 1 || reps > 1000) reps = 5;
    lo_gguf *g = NULL;
    lo_tokenizer *tok = NULL;
    char *text = NULL;
    size_t bytes = 0;
    if (lo_gguf_open(argv[1], &g) || lo_tokenizer_load(g, &tok) || lo_read_file(argv[2], &text, &bytes)) {
        fprintf(stderr, "bench_tokenize: %s\n", lo_error_message());
        return 1;
    }
    double *secs = calloc((size_t)reps, sizeof *secs);
    lo_tokens ids = {0};
    for (int r = 0; r < reps; r++) {
        ids.n = 0;
        double t0 = lo_time_sec();
        if (lo_tokenize(tok, text, bytes, false, false, &ids)) {
            fprintf(stderr, "bench_tokenize: %s\n", lo_error_message());
            return 1;
        }
        secs[r] = lo_time_sec() - t0;
    }
    qsort(secs, (size_t)reps, sizeof *secs, cmp_double);
    double med = secs[reps / 2];
    printf("llmops tokenize %s: %zu bytes -> %lld tokens, median %.4f s of %d, %.0f tokens/s, %.1f MB/s\n",
           argv[1], bytes, (long long)ids.n, med, reps, (double)ids.n / med, (double)bytes / med / 1e6);
    free(secs);
    lo_tokens_free(&ids);
    lo_free(text);
    lo_tokenizer_free(tok);
    lo_gguf_close(g);
    return 0;
}
