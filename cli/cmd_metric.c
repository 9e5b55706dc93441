/* `llmops metric bleu|chrf|rouge --hyp FILE --ref FILE [--ref FILE...]`: text metrics over
 * line-aligned files (one segment a line; several --ref files are reference streams, as in
 * sacreBLEU), printed as sacreBLEU prints them or as JSON at full double precision. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_REFS 64

typedef struct lines {
    char *data;
    char **line;
    size_t n;
} lines;

static void lines_free(lines *l) {
    lo_free(l->data);
    lo_free(l->line);
}

/* Reads FILE and splits it at '\n' (a final newline ends the last line, it does not start
 * another one). */
static lo_status read_lines(const char *path, lines *out) {
    size_t bytes = 0;
    memset(out, 0, sizeof *out);
    lo_status s = lo_read_file(path, &out->data, &bytes);
    if (s) return lo_error_wrap(s, "%s", path);
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++) n += out->data[i] == '\n';
    if (bytes && out->data[bytes - 1] != '\n') n++;
    out->line = lo_calloc(n + 1, sizeof *out->line);
    if (!out->line) return LO_ERR_NOMEM;
    size_t k = 0, start = 0;
    for (size_t i = 0; i < bytes; i++)
        if (out->data[i] == '\n') {
            out->data[i] = 0;
            out->line[k++] = out->data + start;
            start = i + 1;
        }
    if (start < bytes) out->line[k++] = out->data + start;
    out->n = k;
    return LO_OK;
}

/* A double as Python's repr() writes it (the shortest text that reads back the same), so
 * the JSON carries full precision and diffs cleanly against Python tools. */
static void put_num(double v) {
    char b[40];
    if (!isfinite(v)) {
        fputs(isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity", stdout);
        return;
    }
    int p = 1;
    for (; p < 17; p++) {
        snprintf(b, sizeof b, "%.*e", p - 1, v);
        if (strtod(b, NULL) == v) break;
    }
    snprintf(b, sizeof b, "%.*e", p - 1, v);
    int exp10 = atoi(strchr(b, 'e') + 1);
    if (exp10 >= -4 && exp10 < 16) { /* positional, as repr() does in this range */
        int dec = p - 1 - exp10;
        snprintf(b, sizeof b, "%.*f", dec > 0 ? dec : 0, v);
        if (!strchr(b, '.')) strcat(b, ".0");
    }
    fputs(b, stdout);
}

static void put_ints(const char *key, const int64_t *v, int n, size_t stride) {
    printf(", \"%s\": [", key);
    for (int i = 0; i < n; i++) printf("%s%lld", i ? ", " : "", (long long)v[(size_t)i * stride]);
    putchar(']');
}

static void put_str(const char *key, const char *v) { printf(", \"%s\": \"%s\"", key, v); } /* v is plain ASCII */

static void print_bleu(const lo_bleu_score *s, const char *sig) {
    fputs("{\"name\": \"BLEU\", \"score\": ", stdout);
    put_num(s->score);
    put_ints("counts", s->counts, s->max_order, 1);
    put_ints("totals", s->totals, s->max_order, 1);
    fputs(", \"precisions\": [", stdout);
    for (int i = 0; i < s->max_order; i++) {
        if (i) fputs(", ", stdout);
        put_num(s->precisions[i]);
    }
    fputs("], \"bp\": ", stdout);
    put_num(s->bp);
    fputs(", \"ratio\": ", stdout);
    put_num(s->ratio);
    printf(", \"sys_len\": %lld, \"ref_len\": %lld", (long long)s->sys_len, (long long)s->ref_len);
    if (sig) put_str("signature", sig);
    fputs("}\n", stdout);
}

static void print_chrf(const lo_chrf_score *s, const char *sig) {
    char name[64];
    lo_chrf_format(s, name, sizeof name);
    char *eq = strstr(name, " =");
    if (eq) *eq = 0;
    printf("{\"name\": \"%s\", \"score\": ", name);
    put_num(s->score);
    printf(", \"char_order\": %d, \"word_order\": %d, \"beta\": %d", s->char_order, s->word_order, s->beta);
    int order = s->char_order + s->word_order;
    put_ints("hyp_ngrams", &s->stats[0][0], order, 3);
    put_ints("ref_ngrams", &s->stats[0][1], order, 3);
    put_ints("matches", &s->stats[0][2], order, 3);
    if (sig) put_str("signature", sig);
    fputs("}\n", stdout);
}

static void print_rouge(const lo_rouge_type *types, size_t n, const lo_rouge_prf *r) {
    putchar('{');
    for (size_t k = 0; k < n; k++) {
        printf("%s\"%s\": {\"precision\": ", k ? ", " : "", lo_rouge_type_name(types[k]));
        put_num(r[k].precision);
        fputs(", \"recall\": ", stdout);
        put_num(r[k].recall);
        fputs(", \"fmeasure\": ", stdout);
        put_num(r[k].fmeasure);
        putchar('}');
    }
    fputs("}\n", stdout);
}

int lo_cmd_metric(int argc, char **argv) {
    const char *cmd = "metric";
    if (argc < 2) return lo_cli_usage_error(cmd, "which metric: bleu, chrf or rouge");
    const char *metric = argv[1];
    int which = strcmp(metric, "bleu") == 0 ? 0 : strcmp(metric, "chrf") == 0 ? 1 : strcmp(metric, "rouge") == 0 ? 2 : -1;
    if (which < 0) return lo_cli_usage_error(cmd, "unknown metric '%s' (bleu, chrf or rouge)", metric);
    const char *hyp_path = NULL, *ref_paths[MAX_REFS];
    size_t n_ref_paths = 0;
    bool json = false, sentence = false, stem = false;
    lo_bleu_opts bo;
    lo_bleu_opts_default(&bo);
    lo_chrf_opts co;
    lo_chrf_opts_default(&co);
    lo_rouge_type types[16] = {1, 2, LO_ROUGE_L};
    size_t n_types = 3;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long num;
#define NEED_VALUE()                                                                               \
    do {                                                                                           \
        if (!v) return lo_cli_usage_error(cmd, "%s needs a value", a);                            \
        i++;                                                                                       \
    } while (0)
        if (strcmp(a, "--hyp") == 0) {
            NEED_VALUE();
            hyp_path = v;
        } else if (strcmp(a, "--ref") == 0) {
            NEED_VALUE();
            if (n_ref_paths == MAX_REFS) return lo_cli_usage_error(cmd, "at most %d --ref files", MAX_REFS);
            ref_paths[n_ref_paths++] = v;
        } else if (strcmp(a, "--json") == 0) json = true;
        else if (strcmp(a, "--lowercase") == 0 && which < 2) bo.lowercase = co.lowercase = true;
        else if (strcmp(a, "--sentence") == 0 && which < 2) sentence = true;
        else if (strcmp(a, "--tokenize") == 0 && which == 0) {
            NEED_VALUE();
            if (!lo_bleu_parse_tokenize(v, &bo.tokenize)) return lo_cli_usage_error(cmd, "--tokenize takes 13a|intl|char|none, not '%s'", v);
        } else if (strcmp(a, "--smooth") == 0 && which == 0) {
            NEED_VALUE();
            if (!lo_bleu_parse_smooth(v, &bo.smooth)) return lo_cli_usage_error(cmd, "--smooth takes exp|floor|add-k|none, not '%s'", v);
        } else if (strcmp(a, "--smooth-value") == 0 && which == 0) {
            NEED_VALUE();
            char *end;
            double d = strtod(v, &end);
            if (end == v || *end || !isfinite(d)) return lo_cli_usage_error(cmd, "--smooth-value takes a number, not '%s'", v);
            bo.smooth_value = d;
        } else if (strcmp(a, "--effective-order") == 0 && which == 0) bo.effective_order = true;
        else if (strcmp(a, "--max-ngram") == 0 && which == 0) {
            NEED_VALUE();
            if (!lo_cli_parse_int(v, 1, LO_BLEU_MAX_ORDER, &num)) return lo_cli_usage_error(cmd, "--max-ngram takes 1..%d", LO_BLEU_MAX_ORDER);
            bo.max_ngram_order = (int)num;
        } else if (strcmp(a, "--char-order") == 0 && which == 1) {
            NEED_VALUE();
            if (!lo_cli_parse_int(v, 0, LO_CHRF_MAX_ORDER, &num)) return lo_cli_usage_error(cmd, "--char-order takes 0..%d", LO_CHRF_MAX_ORDER);
            co.char_order = (int)num;
        } else if (strcmp(a, "--word-order") == 0 && which == 1) {
            NEED_VALUE();
            if (!lo_cli_parse_int(v, 0, LO_CHRF_MAX_ORDER, &num)) return lo_cli_usage_error(cmd, "--word-order takes 0..%d", LO_CHRF_MAX_ORDER);
            co.word_order = (int)num;
        } else if (strcmp(a, "--beta") == 0 && which == 1) {
            NEED_VALUE();
            if (!lo_cli_parse_int(v, 0, 1000, &num)) return lo_cli_usage_error(cmd, "--beta takes 0..1000");
            co.beta = (int)num;
        } else if (strcmp(a, "--whitespace") == 0 && which == 1) co.whitespace = true;
        else if (strcmp(a, "--types") == 0 && which == 2) {
            NEED_VALUE();
            n_types = 0;
            for (const char *p = v; *p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                if (n_types == 16 || !lo_rouge_parse_type(p, len, &types[n_types]))
                    return lo_cli_usage_error(cmd, "--types takes rouge1..rouge9,rougeL,rougeLsum (comma-separated), not '%s'", v);
                n_types++;
                p += len + (comma ? 1 : 0);
            }
            if (!n_types) return lo_cli_usage_error(cmd, "--types is empty");
        } else if (strcmp(a, "--stem") == 0 && which == 2) stem = true;
        else return lo_cli_usage_error(cmd, "unknown option '%s' for %s", a, metric);
#undef NEED_VALUE
    }
    if (!hyp_path) return lo_cli_usage_error(cmd, "--hyp FILE is required");
    if (!n_ref_paths) return lo_cli_usage_error(cmd, "at least one --ref FILE is required");
    if (co.char_order + co.word_order < 1) return lo_cli_usage_error(cmd, "--char-order plus --word-order must be at least 1");

    lines hyp, refs[MAX_REFS];
    memset(refs, 0, sizeof refs);
    int rc = LO_EXIT_OK;
    lo_status s = read_lines(hyp_path, &hyp);
    for (size_t r = 0; r < n_ref_paths && !s; r++) {
        s = read_lines(ref_paths[r], &refs[r]);
        if (!s && refs[r].n != hyp.n)
            s = lo_error(LO_ERR_INVALID, "give files with one segment a line, aligned",
                         "%s has %zu lines but %s has %zu", ref_paths[r], refs[r].n, hyp_path, hyp.n);
    }
    if (s) {
        rc = lo_cli_fail(cmd, s);
        goto done;
    }
    const char *const *rp[MAX_REFS];
    for (size_t r = 0; r < n_ref_paths; r++) rp[r] = (const char *const *)refs[r].line;
    const char *seg_refs[MAX_REFS];
    char sig[256], text[512];
    if (which == 0) {
        lo_bleu_signature(&bo, (int)n_ref_paths, sig, sizeof sig);
        if (sentence) {
            for (size_t i = 0; i < hyp.n && !s; i++) {
                for (size_t r = 0; r < n_ref_paths; r++) seg_refs[r] = refs[r].line[i];
                lo_bleu_score b;
                if ((s = lo_bleu_sentence(&bo, hyp.line[i], seg_refs, n_ref_paths, &b))) break;
                if (json) print_bleu(&b, NULL);
                else {
                    lo_bleu_format(&b, text, sizeof text);
                    puts(text);
                }
            }
            if (!s && !json) puts(sig);
        } else {
            lo_bleu_score b;
            if (!(s = lo_bleu_corpus(&bo, (const char *const *)hyp.line, hyp.n, rp, n_ref_paths, &b))) {
                lo_bleu_signature(&bo, b.n_refs, sig, sizeof sig);
                if (json) print_bleu(&b, sig);
                else {
                    lo_bleu_format(&b, text, sizeof text);
                    puts(text);
                    puts(sig);
                }
            }
        }
    } else if (which == 1) {
        lo_chrf_signature(&co, (int)n_ref_paths, sig, sizeof sig);
        if (sentence) {
            for (size_t i = 0; i < hyp.n && !s; i++) {
                for (size_t r = 0; r < n_ref_paths; r++) seg_refs[r] = refs[r].line[i];
                lo_chrf_score c;
                if ((s = lo_chrf_sentence(&co, hyp.line[i], seg_refs, n_ref_paths, &c))) break;
                if (json) print_chrf(&c, NULL);
                else {
                    lo_chrf_format(&c, text, sizeof text);
                    puts(text);
                }
            }
            if (!s && !json) puts(sig);
        } else {
            lo_chrf_score c;
            if (!(s = lo_chrf_corpus(&co, (const char *const *)hyp.line, hyp.n, rp, n_ref_paths, &c))) {
                if (json) print_chrf(&c, sig);
                else {
                    lo_chrf_format(&c, text, sizeof text);
                    puts(text);
                    puts(sig);
                }
            }
        }
    } else {
        lo_rouge_prf r[16], sum[16];
        memset(sum, 0, sizeof sum);
        for (size_t i = 0; i < hyp.n && !s; i++) {
            for (size_t k = 0; k < n_ref_paths; k++) seg_refs[k] = refs[k].line[i];
            if ((s = lo_rouge_score_multi(seg_refs, n_ref_paths, hyp.line[i], types, n_types, stem, r))) break;
            if (json) print_rouge(types, n_types, r);
            for (size_t k = 0; k < n_types; k++) {
                sum[k].precision += r[k].precision;
                sum[k].recall += r[k].recall;
                sum[k].fmeasure += r[k].fmeasure;
            }
        }
        if (!s && !json) {
            double n = hyp.n ? (double)hyp.n : 1.0;
            for (size_t k = 0; k < n_types; k++)
                printf("%-9s P = %.6f R = %.6f F = %.6f\n", lo_rouge_type_name(types[k]), sum[k].precision / n,
                       sum[k].recall / n, sum[k].fmeasure / n);
            printf("segments:%zu|refs:%zu|stem:%s|mean over segments (rouge-score %s)\n", hyp.n, n_ref_paths,
                   stem ? "yes" : "no", "0.1.2");
        }
    }
    if (s) rc = lo_cli_fail(cmd, s);
done:
    lines_free(&hyp);
    for (size_t r = 0; r < n_ref_paths; r++) lines_free(&refs[r]);
    return rc;
}
