/* `llmops inspect FILE.gguf [--json]`: a gguf-dump style summary of a GGUF file (header,
 * architecture and hyperparameters, tokenizer, every KV abbreviated, every tensor), or
 * one JSON object with every KV in full and every tensor. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define STR_MAX 80     /* bytes of a string value shown in text mode */
#define ARR_SHOWN 6    /* array elements shown in text mode */

/* ---- text helpers ----------------------------------------------------------------- */

/* Prints bytes as a JSON string body with escapes, at most max bytes (never cutting a
 * UTF-8 sequence), followed by "..." when cut. */
static void print_escaped(FILE *f, const char *s, uint64_t n, uint64_t max) {
    uint64_t end = n;
    if (n > max) {
        end = max;
        while (end > 0 && ((unsigned char)s[end] & 0xC0) == 0x80) end--;
    }
    fputc('"', f);
    for (uint64_t i = 0; i < end; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        }
    }
    fputc('"', f);
    if (end < n) fputs("...", f);
}

static void print_double(FILE *f, double d, bool is_f32) {
    fprintf(f, is_f32 ? "%.9g" : "%.17g", d);
}

static void print_value(FILE *f, const lo_gguf_value *v, int depth);

static void print_elem(FILE *f, const lo_gguf_value *v, uint64_t i, int depth) {
    switch (v->arr.elem_type) {
    case LO_GGUF_STRING: print_escaped(f, v->arr.strs[i].data, v->arr.strs[i].len, STR_MAX / 2); break;
    case LO_GGUF_ARRAY: print_value(f, &v->arr.items[i], depth + 1); break;
    case LO_GGUF_FLOAT32: case LO_GGUF_FLOAT64:
        print_double(f, lo_gguf_arr_f64(v, i), v->arr.elem_type == LO_GGUF_FLOAT32);
        break;
    case LO_GGUF_BOOL: fputs(lo_gguf_arr_u64(v, i) ? "true" : "false", f); break;
    case LO_GGUF_UINT8: case LO_GGUF_UINT16: case LO_GGUF_UINT32: case LO_GGUF_UINT64:
        fprintf(f, "%" PRIu64, lo_gguf_arr_u64(v, i));
        break;
    default: fprintf(f, "%" PRId64, lo_gguf_arr_i64(v, i)); break;
    }
}

static void print_value(FILE *f, const lo_gguf_value *v, int depth) {
    switch (v->type) {
    case LO_GGUF_UINT8: case LO_GGUF_UINT16: case LO_GGUF_UINT32: case LO_GGUF_UINT64:
        fprintf(f, "%" PRIu64, v->u64);
        break;
    case LO_GGUF_INT8: case LO_GGUF_INT16: case LO_GGUF_INT32: case LO_GGUF_INT64:
        fprintf(f, "%" PRId64, v->i64);
        break;
    case LO_GGUF_FLOAT32: case LO_GGUF_FLOAT64: print_double(f, v->f64, v->type == LO_GGUF_FLOAT32); break;
    case LO_GGUF_BOOL: fputs(v->u64 ? "true" : "false", f); break;
    case LO_GGUF_STRING: print_escaped(f, v->str.data, v->str.len, STR_MAX); break;
    case LO_GGUF_ARRAY: {
        uint64_t shown = v->arr.n < ARR_SHOWN ? v->arr.n : (depth ? 2 : ARR_SHOWN);
        if (shown > v->arr.n) shown = v->arr.n;
        fputc('[', f);
        for (uint64_t i = 0; i < shown; i++) {
            if (i) fputs(", ", f);
            print_elem(f, v, i, depth);
        }
        if (shown < v->arr.n) fprintf(f, "%s... (%" PRIu64 " items)", shown ? ", " : "", v->arr.n);
        fputc(']', f);
        break;
    }
    default: fputs("?", f);
    }
}

static void type_label(char *out, size_t cap, const lo_gguf_value *v) {
    if (v->type == LO_GGUF_ARRAY)
        snprintf(out, cap, "arr[%s,%" PRIu64 "]", lo_gguf_type_name(v->arr.elem_type), v->arr.n);
    else snprintf(out, cap, "%s", lo_gguf_type_name(v->type));
}

static void print_str(FILE *f, lo_gguf_str s) { fprintf(f, "%.*s", (int)(s.len > 200 ? 200 : s.len), s.data); }

static void print_token_id(FILE *f, const lo_gguf *g, const char *label, const char *key) {
    uint64_t id;
    if (!lo_gguf_get_u64(g, key, &id)) return;
    fprintf(f, "  %-14s %" PRIu64, label, id);
    const lo_gguf_value *tok = lo_gguf_get_arr(g, "tokenizer.ggml.tokens", LO_GGUF_STRING);
    if (tok && id < tok->arr.n) {
        fputc(' ', f);
        print_escaped(f, tok->arr.strs[id].data, tok->arr.strs[id].len, 40);
    }
    fputc('\n', f);
}

static const char *const hparams[] = {
    "context_length", "embedding_length", "block_count", "feed_forward_length",
    "expert_feed_forward_length", "attention.head_count", "attention.head_count_kv",
    "attention.key_length", "attention.value_length", "attention.layer_norm_rms_epsilon",
    "attention.layer_norm_epsilon", "attention.clamp_kqv", "attention.causal", "rope.dimension_count",
    "rope.freq_base", "rope.scaling.type", "rope.scaling.factor", "rope.scaling.original_context_length",
    "expert_count", "expert_used_count", "expert_shared_count", "vocab_size", "pooling_type",
};

static void print_text(const char *path, const lo_gguf *g) {
    FILE *f = stdout;
    fprintf(f, "file:         %s\n", path);
    fprintf(f, "version:      %u\n", lo_gguf_version(g));
    fprintf(f, "alignment:    %zu\n", lo_gguf_alignment(g));
    fprintf(f, "kv pairs:     %" PRId64 "\n", lo_gguf_n_kv(g));
    fprintf(f, "tensors:      %" PRId64 "\n", lo_gguf_n_tensors(g));
    fprintf(f, "data offset:  %" PRIu64 "\n", lo_gguf_data_offset(g));
    fprintf(f, "file size:    %zu bytes (%.2f MiB)\n", lo_gguf_file_bytes(g), lo_gguf_file_bytes(g) / 1048576.0);

    lo_gguf_str arch = lo_gguf_arch(g);
    fprintf(f, "\narchitecture: ");
    if (arch.len) print_str(f, arch);
    else fputs("(none)", f);
    fputc('\n', f);
    lo_gguf_str s;
    const lo_gguf_value *v = lo_gguf_get(g, "general.name");
    if (v && v->type == LO_GGUF_STRING) {
        fputs("name:         ", f);
        print_str(f, v->str);
        fputc('\n', f);
    }
    v = lo_gguf_get(g, "general.file_type");
    if (v && v->type != LO_GGUF_STRING && v->type != LO_GGUF_ARRAY) {
        fputs("file type:    ", f);
        print_value(f, v, 0);
        fputc('\n', f);
    }
    if (arch.len && arch.len < 64) {
        bool any = false;
        for (size_t i = 0; i < sizeof hparams / sizeof hparams[0]; i++) {
            char key[160];
            snprintf(key, sizeof key, "%.*s.%s", (int)arch.len, arch.data, hparams[i]);
            v = lo_gguf_get(g, key);
            if (!v) continue;
            if (!any) fputs("hyperparameters:\n", f);
            any = true;
            fprintf(f, "  %-34s ", hparams[i]);
            print_value(f, v, 0);
            fputc('\n', f);
        }
    }

    if (lo_gguf_get(g, "tokenizer.ggml.model")) {
        fputs("tokenizer:\n", f);
        fputs("  model          ", f);
        if (lo_gguf_get_str(g, "tokenizer.ggml.model", &s)) print_str(f, s);
        fputc('\n', f);
        fputs("  pre            ", f);
        if (lo_gguf_get_str(g, "tokenizer.ggml.pre", &s)) print_str(f, s);
        else fputs("(none)", f);
        fputc('\n', f);
        const lo_gguf_value *tok = lo_gguf_get_arr(g, "tokenizer.ggml.tokens", LO_GGUF_STRING);
        const lo_gguf_value *merges = lo_gguf_get_arr(g, "tokenizer.ggml.merges", LO_GGUF_TYPE_COUNT);
        fprintf(f, "  vocab size     %" PRIu64 "\n", tok ? tok->arr.n : 0);
        fprintf(f, "  merges         %" PRIu64 "\n", merges ? merges->arr.n : 0);
        fprintf(f, "  scores         %s\n", lo_gguf_get(g, "tokenizer.ggml.scores") ? "yes" : "no");
        print_token_id(f, g, "bos", "tokenizer.ggml.bos_token_id");
        print_token_id(f, g, "eos", "tokenizer.ggml.eos_token_id");
        print_token_id(f, g, "unk", "tokenizer.ggml.unknown_token_id");
        print_token_id(f, g, "pad", "tokenizer.ggml.padding_token_id");
        bool b;
        if (lo_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) fprintf(f, "  add_bos        %s\n", b ? "true" : "false");
        if (lo_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b)) fprintf(f, "  add_eos        %s\n", b ? "true" : "false");
        fprintf(f, "  chat template  %s\n", lo_gguf_get(g, "tokenizer.chat_template") ? "yes" : "no");
    }
    lo_error_clear();

    fprintf(f, "\nmetadata (%" PRId64 " keys):\n", lo_gguf_n_kv(g));
    for (int64_t i = 0; i < lo_gguf_n_kv(g); i++) {
        const lo_gguf_kv *kv = lo_gguf_kv_at(g, i);
        char tl[64];
        type_label(tl, sizeof tl, &kv->value);
        fprintf(f, "  %4" PRId64 "  %-44.*s %-16s = ", i, (int)kv->key.len, kv->key.data, tl);
        print_value(f, &kv->value, 0);
        fputc('\n', f);
    }

    fprintf(f, "\ntensors (%" PRId64 "):\n", lo_gguf_n_tensors(g));
    int64_t params = 0;
    uint64_t bytes = 0;
    for (int64_t i = 0; i < lo_gguf_n_tensors(g); i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
        const lo_dtype_traits *tr = lo_dtype_get(t->type);
        char shape[128];
        int o = snprintf(shape, sizeof shape, "[");
        int64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%" PRId64, d ? ", " : "", t->ne[d]);
            n *= t->ne[d];
        }
        snprintf(shape + o, sizeof shape - (size_t)o, "]");
        fprintf(f, "  %4" PRId64 "  %-36.*s %-6s %-18s %10zu bytes  @ %" PRIu64 "\n", i, (int)t->name.len,
                t->name.data, tr ? tr->name : "?", shape, t->bytes, t->offset);
        params += n;
        bytes += t->bytes;
    }
    fprintf(f, "\ntotal: %" PRId64 " parameters, %" PRIu64 " bytes of tensor data\n", params, bytes);
}

/* ---- JSON ------------------------------------------------------------------------- */

/* jansson needs valid UTF-8: invalid bytes become U+FFFD. */
static json_t *json_bytes(const char *s, uint64_t n) {
    json_t *j = json_stringn(s, (size_t)n);
    if (j) return j;
    char *buf = lo_malloc((size_t)n * 3 + 1);
    if (!buf) return json_null();
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (uint64_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = len > 0 && n - i >= len;
        for (size_t k = 1; ok && k < len; k++) ok = (u[i + k] & 0xC0) == 0x80;
        if (ok && len > 1) {
            json_t *probe = json_stringn(s + i, len); /* rejects overlongs and surrogates */
            ok = probe != NULL;
            json_decref(probe);
        }
        if (ok) {
            memcpy(buf + o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    j = json_stringn(buf, o);
    lo_free(buf);
    return j ? j : json_null();
}

static json_t *json_num(double d) {
    if (isnan(d)) return json_string("nan");
    if (isinf(d)) return json_string(d > 0 ? "inf" : "-inf");
    return json_real(d);
}

static json_t *json_u64(uint64_t u) {
    if (u <= (uint64_t)INT64_MAX) return json_integer((json_int_t)u);
    char b[32];
    snprintf(b, sizeof b, "%" PRIu64, u);
    return json_string(b);
}

static json_t *json_value(const lo_gguf_value *v) {
    switch (v->type) {
    case LO_GGUF_UINT8: case LO_GGUF_UINT16: case LO_GGUF_UINT32: case LO_GGUF_UINT64: return json_u64(v->u64);
    case LO_GGUF_INT8: case LO_GGUF_INT16: case LO_GGUF_INT32: case LO_GGUF_INT64: return json_integer(v->i64);
    case LO_GGUF_FLOAT32: case LO_GGUF_FLOAT64: return json_num(v->f64);
    case LO_GGUF_BOOL: return json_boolean(v->u64);
    case LO_GGUF_STRING: return json_bytes(v->str.data, v->str.len);
    case LO_GGUF_ARRAY: {
        json_t *a = json_array();
        for (uint64_t i = 0; i < v->arr.n; i++) {
            json_t *e;
            switch (v->arr.elem_type) {
            case LO_GGUF_STRING: e = json_bytes(v->arr.strs[i].data, v->arr.strs[i].len); break;
            case LO_GGUF_ARRAY: e = json_value(&v->arr.items[i]); break;
            case LO_GGUF_FLOAT32: case LO_GGUF_FLOAT64: e = json_num(lo_gguf_arr_f64(v, i)); break;
            case LO_GGUF_BOOL: e = json_boolean(lo_gguf_arr_u64(v, i)); break;
            case LO_GGUF_UINT8: case LO_GGUF_UINT16: case LO_GGUF_UINT32: case LO_GGUF_UINT64:
                e = json_u64(lo_gguf_arr_u64(v, i));
                break;
            default: e = json_integer(lo_gguf_arr_i64(v, i)); break;
            }
            json_array_append_new(a, e);
        }
        return a;
    }
    default: return json_null();
    }
}

static int print_json(const char *path, const lo_gguf *g) {
    json_t *root = json_object();
    json_object_set_new(root, "file", json_bytes(path, strlen(path)));
    json_object_set_new(root, "version", json_integer(lo_gguf_version(g)));
    json_object_set_new(root, "alignment", json_integer((json_int_t)lo_gguf_alignment(g)));
    json_object_set_new(root, "data_offset", json_u64(lo_gguf_data_offset(g)));
    json_object_set_new(root, "file_bytes", json_u64(lo_gguf_file_bytes(g)));
    lo_gguf_str arch = lo_gguf_arch(g);
    json_object_set_new(root, "architecture", json_bytes(arch.data, arch.len));
    json_object_set_new(root, "n_kv", json_integer(lo_gguf_n_kv(g)));
    json_object_set_new(root, "n_tensors", json_integer(lo_gguf_n_tensors(g)));
    /* Metadata keeps file order and exact types: [{key, type, [elem_type,] value}]. */
    json_t *kvs = json_array();
    for (int64_t i = 0; i < lo_gguf_n_kv(g); i++) {
        const lo_gguf_kv *kv = lo_gguf_kv_at(g, i);
        json_t *o = json_object();
        json_object_set_new(o, "key", json_bytes(kv->key.data, kv->key.len));
        json_object_set_new(o, "type", json_string(lo_gguf_type_name(kv->value.type)));
        if (kv->value.type == LO_GGUF_ARRAY) {
            json_object_set_new(o, "elem_type", json_string(lo_gguf_type_name(kv->value.arr.elem_type)));
            json_object_set_new(o, "n", json_u64(kv->value.arr.n));
        }
        json_object_set_new(o, "value", json_value(&kv->value));
        json_array_append_new(kvs, o);
    }
    json_object_set_new(root, "metadata", kvs);
    json_t *ts = json_array();
    int64_t params = 0;
    uint64_t bytes = 0;
    for (int64_t i = 0; i < lo_gguf_n_tensors(g); i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
        const lo_dtype_traits *tr = lo_dtype_get(t->type);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_bytes(t->name.data, t->name.len));
        json_object_set_new(o, "type", json_string(tr ? tr->name : "?"));
        json_object_set_new(o, "type_id", json_integer(t->type));
        json_t *shape = json_array();
        int64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            json_array_append_new(shape, json_integer(t->ne[d]));
            n *= t->ne[d];
        }
        json_object_set_new(o, "shape", shape);
        json_object_set_new(o, "n_elements", json_integer(n));
        json_object_set_new(o, "bytes", json_u64(t->bytes));
        json_object_set_new(o, "offset", json_u64(t->offset));
        json_array_append_new(ts, o);
        params += n;
        bytes += t->bytes;
    }
    json_object_set_new(root, "tensors", ts);
    json_object_set_new(root, "n_params", json_integer(params));
    json_object_set_new(root, "tensor_bytes", json_u64(bytes));
    int rc = json_dumpf(root, stdout, JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(root);
    if (rc != 0) {
        fprintf(stderr, "llmops inspect: writing JSON failed\n");
        return LO_EXIT_FAIL;
    }
    return LO_EXIT_OK;
}

int lo_cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) as_json = true;
        else if (argv[i][0] == '-' && argv[i][1]) return lo_cli_usage_error("inspect", "unknown option '%s'", argv[i]);
        else if (path) return lo_cli_usage_error("inspect", "one file at a time ('%s' and '%s' given)", path, argv[i]);
        else path = argv[i];
    }
    if (!path) return lo_cli_usage_error("inspect", "missing FILE.gguf");
    lo_gguf *g = NULL;
    lo_status s = lo_gguf_open(path, &g);
    if (s) return lo_cli_fail("inspect", s);
    int rc = LO_EXIT_OK;
    if (as_json) rc = print_json(path, g);
    else print_text(path, g);
    lo_gguf_close(g);
    if (fflush(stdout) != 0) rc = LO_EXIT_FAIL;
    return rc;
}
