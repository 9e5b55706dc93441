/* Tests for the JSON helpers: typed getters (defaults, required, type errors naming the
 * field and the type found), parse errors with line/column, dumps into counted memory,
 * and atomic JSON files. */
#include "check.h"
#include "llmops/base.h"

int main(void) {
    size_t live0 = lo_alloc_live_bytes();
    const char *text = "{\"model\": \"tiny\", \"max_tokens\": 16, \"temperature\": 0.5, \"stream\": true,\n"
                       " \"n\": 2.0, \"bad_int\": \"16\", \"frac\": 1.5, \"stop\": null, \"arr\": [1]}";
    json_t *o = NULL;
    CHECK_OK(lo_json_parse(text, strlen(text), &o));
    CHECK(o && json_is_object(o));

    const char *s = NULL;
    CHECK_OK(lo_json_get_str(o, "model", true, NULL, &s));
    CHECK_STR_EQ(s, "tiny");
    CHECK_OK(lo_json_get_str(o, "missing", false, "dflt", &s));
    CHECK_STR_EQ(s, "dflt");
    CHECK_OK(lo_json_get_str(o, "stop", false, "none", &s)); /* null = absent */
    CHECK_STR_EQ(s, "none");
    CHECK(lo_json_get_str(o, "missing", true, NULL, &s) == LO_ERR_INVALID);
    CHECK_STR_EQ(lo_error_message(), "field 'missing' is required");
    CHECK(lo_json_get_str(o, "max_tokens", false, NULL, &s) == LO_ERR_INVALID);
    CHECK_STR_EQ(lo_error_message(), "field 'max_tokens': expected a string, got integer");

    int64_t i = 0;
    CHECK_OK(lo_json_get_int(o, "max_tokens", true, 0, &i));
    CHECK_INT_EQ(i, 16);
    CHECK_OK(lo_json_get_int(o, "n", true, 0, &i)); /* 2.0 is an integer */
    CHECK_INT_EQ(i, 2);
    CHECK_OK(lo_json_get_int(o, "missing", false, -5, &i));
    CHECK_INT_EQ(i, -5);
    CHECK(lo_json_get_int(o, "bad_int", false, 0, &i) == LO_ERR_INVALID);
    CHECK_STR_EQ(lo_error_message(), "field 'bad_int': expected an integer, got string");
    CHECK(lo_json_get_int(o, "frac", false, 0, &i) == LO_ERR_INVALID);
    CHECK(strstr(lo_error_message(), "expected an integer") != NULL);
    CHECK(lo_json_get_int(o, "arr", false, 0, &i) == LO_ERR_INVALID);
    CHECK_STR_EQ(lo_error_message(), "field 'arr': expected an integer, got array");

    double d = 0;
    CHECK_OK(lo_json_get_num(o, "temperature", true, 1.0, &d));
    CHECK(d == 0.5);
    CHECK_OK(lo_json_get_num(o, "max_tokens", true, 1.0, &d)); /* integers are numbers */
    CHECK(d == 16.0);
    CHECK_OK(lo_json_get_num(o, "missing", false, 0.7, &d));
    CHECK(d == 0.7);
    CHECK(lo_json_get_num(o, "model", false, 0, &d) == LO_ERR_INVALID);
    CHECK_STR_EQ(lo_error_message(), "field 'model': expected a number, got string");

    bool b = false;
    CHECK_OK(lo_json_get_bool(o, "stream", true, false, &b));
    CHECK(b);
    CHECK_OK(lo_json_get_bool(o, "missing", false, true, &b));
    CHECK(b);
    CHECK(lo_json_get_bool(o, "max_tokens", false, false, &b) == LO_ERR_INVALID);
    CHECK_STR_EQ(lo_error_message(), "field 'max_tokens': expected a boolean, got integer");

    /* getters on a non-object */
    json_t *arr = json_object_get(o, "arr");
    CHECK(lo_json_get_int(arr, "x", false, 0, &i) == LO_ERR_INVALID);
    CHECK(lo_json_get_int(NULL, "x", false, 0, &i) == LO_ERR_INVALID);

    /* dumps: compact, counted */
    char *out = lo_json_dumps(arr);
    CHECK_STR_EQ(out, "[1]");
    CHECK(lo_alloc_live_bytes() == live0 + 4);
    lo_free(out);
    json_t *small = json_pack("{s:i,s:s}", "a", 1, "b", "x y");
    out = lo_json_dumps(small);
    CHECK_STR_EQ(out, "{\"a\":1,\"b\":\"x y\"}");
    lo_free(out);
    json_t *str = json_string("scalar");
    out = lo_json_dumps(str);
    CHECK_STR_EQ(out, "\"scalar\"");
    lo_free(out);
    json_decref(str);
    CHECK(lo_json_dumps(NULL) == NULL);

    /* parse errors carry line and column */
    json_t *bad = NULL;
    const char *broken = "{\n  \"a\": 1,\n  \"b\": ]\n}";
    CHECK(lo_json_parse(broken, strlen(broken), &bad) == LO_ERR_FORMAT);
    CHECK(bad == NULL);
    CHECK_MSG(strstr(lo_error_message(), "line 3") != NULL, "%s", lo_error_message());
    CHECK(strstr(lo_error_message(), "column") != NULL);
    CHECK(lo_json_parse("", 0, &bad) == LO_ERR_FORMAT);
    CHECK(lo_json_parse("{\"a\":1,\"a\":2}", 13, &bad) == LO_ERR_FORMAT); /* duplicate keys */
    CHECK(lo_json_parse("{\"a\":1} trailing", 16, &bad) == LO_ERR_FORMAT);
    /* length is honoured: only the first 7 bytes */
    CHECK_OK(lo_json_parse("{\"a\":1}xxxx", 7, &bad));
    json_decref(bad);
    CHECK_OK(lo_json_parse("42", 2, &bad)); /* any value */
    CHECK(json_is_integer(bad));
    json_decref(bad);

    /* atomic file round trip */
    char path[256];
    snprintf(path, sizeof path, "/tmp/lo_test_json_%d.json", (int)getpid());
    CHECK_OK(lo_json_write_file_atomic(path, small));
    json_t *back = NULL;
    CHECK_OK(lo_json_load_file(path, &back));
    CHECK(back && json_equal(back, small));
    json_decref(back);
    lo_write_file_atomic(path, "{oops", 5);
    CHECK(lo_json_load_file(path, &back) == LO_ERR_FORMAT);
    CHECK(strstr(lo_error_message(), path) != NULL);
    unlink(path);
    CHECK(lo_json_load_file(path, &back) == LO_ERR_NOT_FOUND);
    json_decref(small);
    json_decref(o);
    CHECK_INT_EQ(lo_alloc_live_bytes(), live0);
    return check_done();
}
