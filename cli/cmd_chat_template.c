/* `llmops chat-template`: the prompt text a chat conversation becomes for a model (the
 * family detected from its tokenizer.chat_template, or one named with --template), as
 * the OpenAI-compatible server would build it — to debug what a model is sent. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Shown when no --json-messages is given: enough turns to see every part of a format. */
static const lo_chat_message sample[] = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
};

/* Reads all of FILE ("-" = stdin) into a lo_malloc'd NUL-terminated buffer. */
static lo_status read_input(const char *path, char **out, size_t *len) {
    if (strcmp(path, "-") != 0) return lo_read_file(path, out, len);
    size_t cap = 1 << 16, n = 0;
    char *buf = lo_malloc(cap);
    if (!buf) return lo_error(LO_ERR_NOMEM, NULL, "out of memory reading stdin");
    for (;;) {
        if (cap - n < 2) {
            size_t ncap;
            if (lo_mul_overflow(cap, 2, &ncap)) return lo_free(buf), lo_error(LO_ERR_NOMEM, NULL, "stdin is too large");
            char *p = lo_realloc(buf, ncap);
            if (!p) return lo_free(buf), lo_error(LO_ERR_NOMEM, NULL, "out of memory reading stdin");
            buf = p, cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, stdin);
        n += r;
        if (r == 0) break;
    }
    if (ferror(stdin)) return lo_free(buf), lo_error(LO_ERR_IO, NULL, "reading stdin failed");
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return LO_OK;
}

/* Messages from JSON: an array of {"role", "content"} objects, or an object with such a
 * "messages" array (an OpenAI chat request body). Strings point into *root. */
static lo_status parse_messages(const char *text, size_t len, json_t **root, lo_chat_message **msgs, int32_t *n) {
    *msgs = NULL;
    *n = 0;
    lo_status s = lo_json_parse(text, len, root);
    if (s) return s;
    json_t *arr = *root;
    if (json_is_object(arr)) arr = json_object_get(arr, "messages");
    if (!json_is_array(arr))
        return lo_error(LO_ERR_INVALID, "give [{\"role\": \"user\", \"content\": \"...\"}, ...] or {\"messages\": [...]}",
                        "the JSON is not a list of messages");
    size_t count = json_array_size(arr);
    if (count > 1000000) return lo_error(LO_ERR_RANGE, NULL, "%zu messages is too many (at most 1000000)", count);
    lo_chat_message *m = lo_calloc(count ? count : 1, sizeof *m);
    if (!m) return lo_error(LO_ERR_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < count; i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_object(e)) {
            lo_free(m);
            return lo_error(LO_ERR_INVALID, NULL, "message %zu is not an object", i);
        }
        const char *role = NULL, *content = NULL;
        if ((s = lo_json_get_str(e, "role", true, NULL, &role)) || (s = lo_json_get_str(e, "content", true, NULL, &content))) {
            lo_free(m);
            return lo_error_wrap(s, "message %zu", i);
        }
        m[i] = (lo_chat_message){role, content};
    }
    *msgs = m;
    *n = (int32_t)count;
    return LO_OK;
}

int lo_cmd_chat_template(int argc, char **argv) {
    const char *cmd = "chat-template", *model = NULL, *name = NULL, *tmpl_file = NULL, *json_file = NULL;
    bool add_assistant = true, show_family = false, show_ids = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-m") == 0 || strcmp(a, "--template") == 0 || strcmp(a, "--template-file") == 0 ||
            strcmp(a, "--json-messages") == 0) {
            if (++i >= argc) return lo_cli_usage_error(cmd, "%s needs a value", a);
            if (a[1] == 'm') model = argv[i];
            else if (strcmp(a, "--template") == 0) name = argv[i];
            else if (strcmp(a, "--template-file") == 0) tmpl_file = argv[i];
            else json_file = argv[i];
        } else if (strcmp(a, "--no-assistant") == 0) add_assistant = false;
        else if (strcmp(a, "--family") == 0) show_family = true;
        else if (strcmp(a, "--ids") == 0) show_ids = true;
        else return lo_cli_usage_error(cmd, "unknown argument '%s'", a);
    }
    if (!model && !name && !tmpl_file) return lo_cli_usage_error(cmd, "-m FILE.gguf is required (or --template NAME)");
    if (name && tmpl_file) return lo_cli_usage_error(cmd, "give --template or --template-file, not both");
    if (show_ids && !model) return lo_cli_usage_error(cmd, "--ids needs -m FILE.gguf (its tokenizer)");

    int rc = LO_EXIT_OK;
    lo_status s = LO_OK;
    lo_tokenizer *tok = NULL;
    char *src = NULL, *json_text = NULL, *prompt = NULL;
    json_t *root = NULL;
    lo_chat_message *msgs = NULL;
    int32_t n_msgs = 0;
    lo_tokens ids = {0};

    if (model) {
        lo_gguf *g = NULL;
        s = lo_gguf_open(model, &g);
        if (!s) s = lo_tokenizer_load(g, &tok);
        lo_gguf_close(g);
        if (s) {
            lo_error_wrap(s, "%s", model);
            goto fail;
        }
    }
    lo_chat_template t;
    const char *from;
    if (name) {
        from = "--template";
        if ((s = lo_chat_template_by_name(name, &t))) goto fail;
    } else if (tmpl_file) {
        from = tmpl_file;
        size_t l;
        if ((s = lo_read_file(tmpl_file, &src, &l))) goto fail;
        if ((s = lo_chat_template_detect(src, &t))) goto fail;
    } else {
        const char *stored = lo_tokenizer_chat_template(tok);
        from = stored ? "the model's tokenizer.chat_template" : "the default (the model has no chat template)";
        if ((s = lo_chat_template_detect(stored, &t))) {
            lo_error_wrap(s, "%s", model);
            goto fail;
        }
    }
    if (show_family) {
        printf("%s\n", lo_chat_template_name(t));
        goto done;
    }
    LO_INFO("chat-template: %s (from %s)", lo_chat_template_name(t), from);

    if (json_file) {
        size_t l;
        if ((s = read_input(json_file, &json_text, &l))) goto fail;
        if ((s = parse_messages(json_text, l, &root, &msgs, &n_msgs))) {
            lo_error_wrap(s, "%s", strcmp(json_file, "-") == 0 ? "stdin" : json_file);
            goto fail;
        }
    }
    size_t len = 0;
    s = lo_chat_render(t, json_file ? msgs : sample, json_file ? n_msgs : (int32_t)(sizeof sample / sizeof *sample),
                       add_assistant, &prompt, &len);
    if (s) goto fail;
    if (show_ids) {
        /* as the server tokenizes a chat prompt: BOS as the vocab says, special tokens parsed */
        if ((s = lo_tokenize(tok, prompt, len, true, true, &ids))) goto fail;
        for (int64_t i = 0; i < ids.n; i++) printf(i ? " %d" : "%d", ids.ids[i]);
        putchar('\n');
    } else {
        fwrite(prompt, 1, len, stdout); /* exactly the prompt: no newline added */
    }
    if (fflush(stdout) != 0) rc = LO_EXIT_FAIL;
    goto done;
fail:
    rc = lo_cli_fail(cmd, s);
done:
    lo_tokens_free(&ids);
    lo_free(prompt);
    lo_free(msgs);
    json_decref(root);
    lo_free(json_text);
    lo_free(src);
    lo_tokenizer_free(tok);
    return rc;
}
