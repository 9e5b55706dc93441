/* Tests for the string map: 200k keys (including keys with NUL bytes and the empty key),
 * overwrite, misses, count, growth from a tiny initial size, and speed. */
#include "check.h"
#include "llmops/base.h"

static size_t make_key(char *buf, int i) {
    /* "tok<i>" with a NUL byte inside for every 3rd key: "tok\0<i>" */
    int n = snprintf(buf, 64, "tok%d", i);
    if (i % 3 == 0) {
        memmove(buf + 4, buf + 3, (size_t)n - 3 + 1);
        buf[3] = '\0';
        n++;
    }
    return (size_t)n;
}

int main(void) {
    size_t live0 = lo_alloc_live_bytes();
    lo_strmap *m = NULL;
    CHECK_OK(lo_strmap_create(0, &m)); /* grows from the minimum */
    enum { N = 200000 };
    char key[64];
    double t0 = lo_time_sec();
    for (int i = 0; i < N; i++) {
        size_t n = make_key(key, i);
        lo_status s = lo_strmap_put(m, key, n, i);
        if (s != LO_OK) {
            CHECK_OK(s);
            break;
        }
    }
    CHECK_INT_EQ(lo_strmap_count(m), N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        size_t n = make_key(key, i);
        int64_t v = -1;
        if (!lo_strmap_get(m, key, n, &v) || v != i) bad++;
    }
    double dt = lo_time_sec() - t0;
    CHECK_INT_EQ(bad, 0);
    CHECK_MSG(dt < 1.0, "200k puts + gets took %.3f s", dt);

    /* keys with a NUL differ from their prefix and from the NUL-free spelling */
    int64_t v = -1;
    CHECK(!lo_strmap_get(m, "tok", 3, &v));
    CHECK(lo_strmap_get(m,
                        "tok\0"
                        "0",
                        5, &v) &&
          v == 0);
    CHECK(!lo_strmap_get(m, "tok0", 4, &v));
    CHECK(lo_strmap_get(m, "tok1", 4, &v) && v == 1);
    CHECK(!lo_strmap_get(m, "tok1", 3, &v));
    CHECK(!lo_strmap_get(m, "tok200000", 9, &v));

    /* overwrite keeps the count */
    CHECK_OK(lo_strmap_put(m, "tok1", 4, -77));
    CHECK(lo_strmap_get(m, "tok1", 4, &v) && v == -77);
    CHECK_INT_EQ(lo_strmap_count(m), N);

    /* the empty key is a key */
    CHECK(!lo_strmap_get(m, "", 0, &v));
    CHECK_OK(lo_strmap_put(m, "", 0, 42));
    CHECK(lo_strmap_get(m, "", 0, &v) && v == 42);
    CHECK(lo_strmap_get(m, NULL, 0, &v) && v == 42);
    CHECK_INT_EQ(lo_strmap_count(m), N + 1);

    /* keys are copied: mutating the caller's buffer does not change the map */
    char mut[8] = "abc";
    CHECK_OK(lo_strmap_put(m, mut, 3, 5));
    mut[0] = 'x';
    CHECK(lo_strmap_get(m, "abc", 3, &v) && v == 5);
    CHECK(!lo_strmap_get(m, mut, 3, &v));
    /* arbitrary bytes incl. 0xff */
    const char bin[4] = {(char)0xff, 0, (char)0x80, 1};
    CHECK_OK(lo_strmap_put(m, bin, 4, 9));
    CHECK(lo_strmap_get(m, bin, 4, &v) && v == 9);
    CHECK(lo_strmap_get(m, "abc", 3, NULL));

    lo_strmap_free(m);
    lo_strmap_free(NULL);
    CHECK_INT_EQ(lo_alloc_live_bytes(), live0);

    /* pre-sized map */
    CHECK_OK(lo_strmap_create(150000, &m));
    for (int i = 0; i < 1000; i++) {
        size_t n = make_key(key, i);
        lo_strmap_put(m, key, n, i * 2);
    }
    size_t n = make_key(key, 999);
    CHECK(lo_strmap_get(m, key, n, &v) && v == 1998);
    CHECK_INT_EQ(lo_strmap_count(m), 1000);
    lo_strmap_free(m);
    return check_done();
}
