/* Throughput of the text metrics on 100k generated segment pairs (~20 words each, from a
 * Zipf-ish 2k-word vocabulary with punctuation): corpus BLEU (13a), sentence BLEU, chrF
 * and ROUGE-L (with and without stemming), in segments per second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmops/llmops.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static char *gen_segment(char (*vocab)[12], int n_vocab) {
    int n = 10 + (int)(next() % 21);
    char *s = malloc((size_t)n * 14 + 2), *p = s;
    for (int i = 0; i < n; i++) {
        uint32_t r = next() % (uint32_t)n_vocab;
        r = (r * r) / (uint32_t)n_vocab; /* skew towards frequent words */
        p += sprintf(p, "%s%s", i ? " " : "", vocab[r]);
        if (next() % 9 == 0) *p++ = ",.;!?"[next() % 5];
    }
    *p = 0;
    return s;
}

/* A reference: the hypothesis with ~30% of its words replaced, dropped or duplicated. */
static char *perturb(const char *h, char (*vocab)[12], int n_vocab) {
    char *out = malloc(strlen(h) * 2 + 64), *p = out;
    const char *w = h;
    while (*w) {
        const char *e = strchr(w, ' ');
        size_t l = e ? (size_t)(e - w) : strlen(w);
        uint32_t r = next() % 10;
        if (r == 0) { /* drop */
        } else if (r <= 2) p += sprintf(p, "%s ", vocab[next() % (uint32_t)n_vocab]);
        else {
            memcpy(p, w, l);
            p += l;
            *p++ = ' ';
        }
        w = e ? e + 1 : w + l;
    }
    if (p > out) p--;
    *p = 0;
    return out;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    if (n < 1) n = 1;
    static char vocab[2000][12];
    for (int i = 0; i < 2000; i++) {
        int len = 2 + (int)(next() % 9);
        for (int k = 0; k < len; k++) vocab[i][k] = (char)('a' + next() % 26);
        if (next() % 4 == 0) vocab[i][0] = (char)(vocab[i][0] - 32);
        vocab[i][len] = 0;
    }
    char **hyp = malloc(sizeof *hyp * (size_t)n), **ref = malloc(sizeof *ref * (size_t)n);
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        hyp[i] = gen_segment(vocab, 2000);
        ref[i] = perturb(hyp[i], vocab, 2000);
        bytes += strlen(hyp[i]) + strlen(ref[i]);
    }
    printf("metrics bench: %d segment pairs, %.1f MB of text\n", n, (double)bytes / 1e6);
    const char *const *refs[1] = {(const char *const *)ref};

    lo_bleu_opts bo;
    lo_bleu_opts_default(&bo);
    lo_bleu_score bs;
    double t0 = lo_time_sec();
    if (lo_bleu_corpus(&bo, (const char *const *)hyp, (size_t)n, refs, 1, &bs)) return fprintf(stderr, "%s\n", lo_error_message()), 1;
    double t = lo_time_sec() - t0;
    printf("BLEU corpus (13a)    %10.0f segments/s  (BLEU = %.2f)\n", n / t, bs.score);

    bo.effective_order = true;
    double acc = 0;
    t0 = lo_time_sec();
    for (int i = 0; i < n; i++) {
        const char *r1[1] = {ref[i]};
        if (lo_bleu_sentence(&bo, hyp[i], r1, 1, &bs)) return 1;
        acc += bs.score;
    }
    t = lo_time_sec() - t0;
    printf("BLEU sentence (13a)  %10.0f segments/s  (mean %.2f)\n", n / t, acc / n);

    lo_chrf_opts co;
    lo_chrf_opts_default(&co);
    lo_chrf_score cs;
    t0 = lo_time_sec();
    if (lo_chrf_corpus(&co, (const char *const *)hyp, (size_t)n, refs, 1, &cs)) return 1;
    t = lo_time_sec() - t0;
    printf("chrF corpus          %10.0f segments/s  (chrF2 = %.2f)\n", n / t, cs.score);

    lo_rouge_type l = LO_ROUGE_L;
    for (int stem = 0; stem <= 1; stem++) {
        lo_rouge_prf p;
        acc = 0;
        t0 = lo_time_sec();
        for (int i = 0; i < n; i++) {
            if (lo_rouge_score(ref[i], hyp[i], &l, 1, stem, &p)) return 1;
            acc += p.fmeasure;
        }
        t = lo_time_sec() - t0;
        printf("ROUGE-L%s     %10.0f segments/s  (mean F %.4f)\n", stem ? " (stem)" : "       ", n / t, acc / n);
    }
    for (int i = 0; i < n; i++) free(hyp[i]), free(ref[i]);
    free(hyp);
    free(ref);
    return 0;
}
