/* JSON helpers over jansson: typed field getters with "field 'x': expected ..., got ..."
 * errors, parsing with line/column in errors, compact dumps into counted memory, and
 * atomic JSON file writes. */
#include "llmops/base.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* The field, or NULL when absent (a JSON null counts as absent: clients send
 * "stop": null to mean the default). Sets an error when obj is not an object or a
 * required field is missing. */
static lo_status field(const json_t *obj, const char *key, bool required, const json_t **out) {
    *out = NULL;
    if (!obj || !json_is_object(obj))
        return lo_error(LO_ERR_INVALID, NULL, "field '%s': expected an object to hold it, got %s", key,
                        obj ? type_name(obj) : "nothing");
    const json_t *v = json_object_get(obj, key);
    if (v && json_is_null(v)) v = NULL;
    if (!v && required) return lo_error(LO_ERR_INVALID, NULL, "field '%s' is required", key);
    *out = v;
    return LO_OK;
}

lo_status lo_json_get_str(const json_t *obj, const char *key, bool required, const char *dflt, const char **out) {
    const json_t *v;
    lo_status s = field(obj, key, required, &v);
    if (s != LO_OK) return s;
    if (!v) {
        *out = dflt;
        return LO_OK;
    }
    if (!json_is_string(v))
        return lo_error(LO_ERR_INVALID, NULL, "field '%s': expected a string, got %s", key, type_name(v));
    *out = json_string_value(v);
    return LO_OK;
}

lo_status lo_json_get_int(const json_t *obj, const char *key, bool required, int64_t dflt, int64_t *out) {
    const json_t *v;
    lo_status s = field(obj, key, required, &v);
    if (s != LO_OK) return s;
    if (!v) {
        *out = dflt;
        return LO_OK;
    }
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return LO_OK;
    }
    if (json_is_real(v)) { /* 100.0 is accepted as 100; 1.5 is not an integer */
        double d = json_real_value(v);
        if (isfinite(d) && d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
            *out = (int64_t)d;
            return LO_OK;
        }
        return lo_error(LO_ERR_INVALID, NULL, "field '%s': expected an integer, got %g", key, d);
    }
    return lo_error(LO_ERR_INVALID, NULL, "field '%s': expected an integer, got %s", key, type_name(v));
}

lo_status lo_json_get_num(const json_t *obj, const char *key, bool required, double dflt, double *out) {
    const json_t *v;
    lo_status s = field(obj, key, required, &v);
    if (s != LO_OK) return s;
    if (!v) {
        *out = dflt;
        return LO_OK;
    }
    if (!json_is_number(v))
        return lo_error(LO_ERR_INVALID, NULL, "field '%s': expected a number, got %s", key, type_name(v));
    *out = json_number_value(v);
    return LO_OK;
}

lo_status lo_json_get_bool(const json_t *obj, const char *key, bool required, bool dflt, bool *out) {
    const json_t *v;
    lo_status s = field(obj, key, required, &v);
    if (s != LO_OK) return s;
    if (!v) {
        *out = dflt;
        return LO_OK;
    }
    if (!json_is_boolean(v))
        return lo_error(LO_ERR_INVALID, NULL, "field '%s': expected a boolean, got %s", key, type_name(v));
    *out = json_is_true(v);
    return LO_OK;
}

lo_status lo_json_parse(const char *text, size_t len, json_t **out) {
    LO_ASSERT(out);
    *out = NULL;
    if (!text && len) return lo_error(LO_ERR_INVALID, NULL, "JSON text is missing");
    json_error_t err;
    json_t *v = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!v)
        return lo_error(LO_ERR_FORMAT, "check the JSON syntax near that position",
                        "invalid JSON at line %d, column %d: %s", err.line, err.column, err.text);
    *out = v;
    return LO_OK;
}

lo_status lo_json_load_file(const char *path, json_t **out) {
    LO_ASSERT(out);
    *out = NULL;
    char *text;
    size_t len;
    lo_status s = lo_read_file(path, &text, &len);
    if (s != LO_OK) return s;
    s = lo_json_parse(text, len, out);
    lo_free(text);
    if (s != LO_OK) return lo_error_wrap(s, "%s", path);
    return LO_OK;
}

char *lo_json_dumps(const json_t *v) {
    if (!v) {
        lo_error(LO_ERR_INVALID, NULL, "no JSON value to serialise");
        return NULL;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        lo_error(LO_ERR_NOMEM, NULL, "serialising JSON failed");
        return NULL;
    }
    char *copy = lo_strdup(s);
    free(s); /* jansson's own allocator */
    return copy;
}

lo_status lo_json_write_file_atomic(const char *path, const json_t *v) {
    if (!v) return lo_error(LO_ERR_INVALID, NULL, "writing '%s': no JSON value", path ? path : "");
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (!s) return lo_error(LO_ERR_NOMEM, NULL, "writing '%s': serialising JSON failed", path ? path : "");
    size_t len = strlen(s);
    /* Files end with a newline so they read well in a terminal and diff cleanly. */
    lo_atomic_file *f = NULL;
    lo_status st = lo_atomic_open(path, &f);
    if (st == LO_OK) st = lo_atomic_write(f, s, len);
    if (st == LO_OK) st = lo_atomic_write(f, "\n", 1);
    if (st == LO_OK)
        st = lo_atomic_commit(f);
    else
        lo_atomic_abort(f);
    free(s);
    return st;
}
