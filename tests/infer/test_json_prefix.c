/* The JSON prefix validator of JSON mode: valid and invalid prefixes, escapes, numbers,
 * literals, nesting, the whitespace cap, completion, and byte-at-a-time feeding. */
#include <string.h>

#include "check.h"
#include "infer/json_prefix.h"

/* Fed whole and byte by byte: the verdicts must agree. */
static bool prefix_ok(const char *s) {
    lo_jsonp a, b;
    lo_jsonp_init(&a);
    lo_jsonp_init(&b);
    bool whole = lo_jsonp_feed(&a, s, strlen(s));
    bool bytes = true;
    for (size_t i = 0; s[i] && bytes; i++) bytes = lo_jsonp_feed(&b, s + i, 1);
    CHECK_MSG(whole == bytes, "whole/bytewise disagree on %s", s);
    return whole;
}

static bool complete_ok(const char *s) {
    lo_jsonp p;
    lo_jsonp_init(&p);
    return lo_jsonp_feed(&p, s, strlen(s)) && lo_jsonp_complete(&p);
}

#define VALID(s) CHECK_MSG(prefix_ok(s), "should be a valid prefix: %s", s)
#define INVALID(s) CHECK_MSG(!prefix_ok(s), "should be invalid: %s", s)
#define COMPLETE(s) CHECK_MSG(complete_ok(s), "should be complete: %s", s)
#define INCOMPLETE(s) CHECK_MSG(prefix_ok(s) && !complete_ok(s), "should be an incomplete prefix: %s", s)

int main(void) {
    /* the empty text and the top level */
    VALID("");
    VALID(" ");
    VALID("{");
    INVALID("[");
    INVALID("\"a\"");
    INVALID("1");
    INVALID("true");
    INVALID("x");
    COMPLETE("{}");
    COMPLETE(" {}");
    COMPLETE("{\"a\":1}");
    COMPLETE("{ \"a\" : [1, 2.5e-3, -0, true, false, null, {\"b\": \"c\"}, []] }");
    INCOMPLETE("{\"a\":");
    INCOMPLETE("{\"a\":[1,");
    INCOMPLETE("{\"a\"");
    /* nothing after completion, not even whitespace */
    INVALID("{}}");
    INVALID("{} ");
    INVALID("{}{");
    /* structure */
    INVALID("{,");
    INVALID("{\"a\" 1");
    INVALID("{\"a\":1,}");
    INVALID("{\"a\":[1,]");
    INVALID("{\"a\":[1}");
    INVALID("{\"a\":{]");
    INVALID("{1:2}");
    INVALID("{\"a\"::");
    INVALID("{\"a\":1 2");
    VALID("{\"a\":[]");
    VALID("{\"a\":[[],{}]");
    /* strings and escapes */
    COMPLETE("{\"\\\"\\\\\\/\\b\\f\\n\\r\\t\":\"\\u00e9\\uD83D\\uDE00\"}");
    VALID("{\"\\u00");
    INVALID("{\"\\u00g");
    INVALID("{\"\\x");
    INVALID("{\"\\U0000");
    INVALID("{\"a\nb\"");   /* raw control character */
    INVALID("{\"a\tb\"");
    COMPLETE("{\"caf\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"}");
    VALID("{\"\xe2\x82");  /* a character still open */
    INVALID("{\"\xc0\xaf");  /* overlong */
    INVALID("{\"\xed\xa0\x80"); /* a surrogate */
    INVALID("{\"\xff");
    INVALID("{\"\x80");
    INVALID("{\"\xe2\x82\"");
    /* numbers */
    COMPLETE("{\"n\":0}");
    COMPLETE("{\"n\":-0.5}");
    COMPLETE("{\"n\":10E+2}");
    COMPLETE("{\"n\":1e5}");
    COMPLETE("{\"n\":123.456e-78}");
    INVALID("{\"n\":01");
    INVALID("{\"n\":-a");
    INVALID("{\"n\":1.}");
    INVALID("{\"n\":1.e5");
    INVALID("{\"n\":.5");
    INVALID("{\"n\":+1");
    INVALID("{\"n\":1e}");
    INVALID("{\"n\":1e+}");
    INVALID("{\"n\":- 1");
    VALID("{\"n\":-");
    VALID("{\"n\":1e+");
    VALID("{\"n\":1.");
    /* literals */
    VALID("{\"t\":tr");
    VALID("{\"t\":nul");
    INVALID("{\"t\":tru ");
    INVALID("{\"t\":trux");
    INVALID("{\"t\":True");
    INVALID("{\"t\":nulll");
    COMPLETE("{\"t\":false}");
    /* the whitespace cap: at most 2 blanks in a row between tokens, anywhere */
    VALID("  {");
    INVALID("   {");
    VALID("{ \n\"a\"\t:\r\n1}");
    INVALID("{\"a\":   1}");
    INVALID("{\"a\":1\n\n\n}");
    COMPLETE("{\"a\":\"     \"}"); /* blanks inside a string are text */
    /* nesting: 32 levels, not 33 */
    {
        char b[256];
        size_t n = 0;
        b[n++] = '{';
        for (int i = 1; i < 32; i++) { memcpy(b + n, "\"a\":{", 5); n += 5; }
        b[n] = '\0';
        VALID(b);
        char c[300];
        memcpy(c, b, n);
        memcpy(c + n, "\"a\":{", 6);
        INVALID(c);
        memcpy(c + n, "\"a\":[", 6);
        INVALID(c);
        for (int i = 0; i < 32; i++) b[n++] = '}';
        b[n] = '\0';
        COMPLETE(b);
    }
    /* the state is a value: a copy tries bytes without disturbing the original */
    {
        lo_jsonp p, q;
        lo_jsonp_init(&p);
        CHECK(lo_jsonp_feed(&p, "{\"k\":", 5));
        q = p;
        CHECK(!lo_jsonp_feed(&q, "}", 1));
        q = p;
        CHECK(lo_jsonp_feed(&q, "\"v\"}", 4) && lo_jsonp_complete(&q));
        CHECK(!lo_jsonp_complete(&p));
        CHECK(lo_jsonp_feed(&p, "7}", 2) && lo_jsonp_complete(&p));
    }
    return check_done();
}
