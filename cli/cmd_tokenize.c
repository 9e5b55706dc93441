/* `llmops tokenize` and `llmops detokenize`: text <-> token ids with the tokenizer a GGUF
 * file describes, the way llama.cpp would tokenize it (ids space-separated on one line). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int load_tokenizer(const char *cmd, const char *path, lo_tokenizer **out) {
    lo_gguf *g = NULL;
    lo_status s = lo_gguf_open(path, &g);
    if (s) return lo_cli_fail(cmd, s);
    s = lo_tokenizer_load(g, out);
    lo_gguf_close(g);
    if (s) {
        lo_error_wrap(s, "%s", path);
        return lo_cli_fail(cmd, s);
    }
    return LO_EXIT_OK;
}

int lo_cmd_tokenize(int argc, char **argv) {
    const char *cmd = "tokenize", *model = NULL, *file = NULL;
    bool add_special = true, parse_special = false, only_args = false;
    char *text = NULL; /* lo_malloc'd */
    size_t text_len = 0;
    int n_text = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_args && strcmp(a, "--") == 0) only_args = true;
        else if (!only_args && strcmp(a, "-m") == 0) {
            if (++i >= argc) return lo_free(text), lo_cli_usage_error(cmd, "-m needs a FILE.gguf");
            model = argv[i];
        } else if (!only_args && strcmp(a, "-f") == 0) {
            if (++i >= argc) return lo_free(text), lo_cli_usage_error(cmd, "-f needs a FILE");
            file = argv[i];
        } else if (!only_args && strcmp(a, "--no-bos") == 0) add_special = false;
        else if (!only_args && strcmp(a, "--special") == 0) parse_special = true;
        else if (!only_args && a[0] == '-' && a[1]) {
            lo_free(text);
            return lo_cli_usage_error(cmd, "unknown option '%s'", a);
        } else {
            /* Several words without quotes are joined with single spaces. */
            size_t l = strlen(a), need = text_len + l + 2;
            char *p = lo_realloc(text, need);
            if (!p) return lo_free(text), lo_cli_fail(cmd, LO_ERR_NOMEM);
            text = p;
            if (n_text++) text[text_len++] = ' ';
            memcpy(text + text_len, a, l);
            text_len += l;
            text[text_len] = '\0';
        }
    }
    if (!model) return lo_free(text), lo_cli_usage_error(cmd, "-m FILE.gguf is required");
    if (file && n_text) return lo_free(text), lo_cli_usage_error(cmd, "give the text either with -f FILE or as TEXT, not both");
    if (!file && !n_text) return lo_cli_usage_error(cmd, "no text given (TEXT or -f FILE)");
    if (file) {
        lo_status s = lo_read_file(file, &text, &text_len);
        if (s) return lo_cli_fail(cmd, s);
    }

    lo_tokenizer *t = NULL;
    int rc = load_tokenizer(cmd, model, &t);
    if (rc) return lo_free(text), rc;
    lo_tokens ids = {0};
    lo_status s = lo_tokenize(t, text ? text : "", text_len, add_special, parse_special, &ids);
    lo_free(text);
    if (s) {
        rc = lo_cli_fail(cmd, s);
    } else {
        for (int64_t i = 0; i < ids.n; i++) printf(i ? " %d" : "%d", ids.ids[i]);
        putchar('\n');
        if (fflush(stdout) != 0) rc = LO_EXIT_FAIL;
    }
    lo_tokens_free(&ids);
    lo_tokenizer_free(t);
    return rc;
}

/* Appends the whitespace-separated ids in s; false (with a message) on a bad one. */
static bool parse_ids(const char *cmd, const char *s, lo_tokens *ids, int32_t n_vocab, int *rc) {
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',') p++;
        if (!*p) return true;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ',') p++;
        char word[32];
        size_t l = (size_t)(p - start);
        char *end = NULL;
        long long v = -1;
        if (l < sizeof word) {
            memcpy(word, start, l);
            word[l] = '\0';
            errno = 0;
            v = strtoll(word, &end, 10);
        }
        if (l >= sizeof word || errno || !end || *end || l == 0) {
            fprintf(stderr, "llmops %s: '%.*s' is not a token id (ids are integers)\n", cmd, (int)(l > 40 ? 40 : l), start);
            *rc = LO_EXIT_FAIL;
            return false;
        }
        if (v < 0 || v >= n_vocab) {
            fprintf(stderr, "llmops %s: token id %lld is outside the vocabulary (0..%d)\n", cmd, v, n_vocab - 1);
            *rc = LO_EXIT_FAIL;
            return false;
        }
        if (lo_tokens_push(ids, (int32_t)v)) {
            *rc = lo_cli_fail(cmd, LO_ERR_NOMEM);
            return false;
        }
    }
}

int lo_cmd_detokenize(int argc, char **argv) {
    const char *cmd = "detokenize", *model = NULL;
    bool unparse_special = false, only_args = false;
    int n_id_args = 0;
    /* Argument positions that hold ids, so "-m" after "--" is an id, not an option. */
    char **id_args = lo_malloc(sizeof(char *) * (size_t)(argc > 0 ? argc : 1));
    if (!id_args) return lo_cli_fail(cmd, LO_ERR_NOMEM);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_args && strcmp(a, "--") == 0) only_args = true;
        else if (!only_args && strcmp(a, "-m") == 0) {
            if (++i >= argc) return lo_free(id_args), lo_cli_usage_error(cmd, "-m needs a FILE.gguf");
            model = argv[i];
        } else if (!only_args && strcmp(a, "--special") == 0) unparse_special = true;
        else if (!only_args && a[0] == '-' && !(a[1] >= '0' && a[1] <= '9'))
            return lo_free(id_args), lo_cli_usage_error(cmd, "unknown option '%s'", a);
        else id_args[n_id_args++] = argv[i];
    }
    if (!model) return lo_free(id_args), lo_cli_usage_error(cmd, "-m FILE.gguf is required");
    if (!n_id_args) return lo_free(id_args), lo_cli_usage_error(cmd, "no token ids given");

    lo_tokenizer *t = NULL;
    int rc = load_tokenizer(cmd, model, &t);
    if (rc) return lo_free(id_args), rc;
    lo_tokens ids = {0};
    for (int i = 0; i < n_id_args && rc == 0; i++)
        if (!parse_ids(cmd, id_args[i], &ids, lo_tokenizer_n_vocab(t), &rc)) break;
    lo_free(id_args);
    if (rc == 0) {
        char *text = NULL;
        size_t len = 0;
        lo_status s = lo_detokenize(t, ids.ids, ids.n, false, unparse_special, &text, &len);
        if (s) rc = lo_cli_fail(cmd, s);
        else {
            fwrite(text, 1, len, stdout);
            putchar('\n');
            if (fflush(stdout) != 0) rc = LO_EXIT_FAIL;
        }
        lo_free(text);
    }
    lo_tokens_free(&ids);
    lo_tokenizer_free(t);
    return rc;
}
