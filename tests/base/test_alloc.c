/* Tests for counted allocation (live/peak counters, limit, overflow, aligned blocks freed
 * by lo_free, realloc) and for arenas (alignment, full → NULL + NOMEM, reset, peak). */
#include "check.h"
#include "llmops/base.h"

#include <stdint.h>

int main(void) {
    size_t base = lo_alloc_live_bytes();

    void *a = lo_malloc(1000);
    CHECK(a);
    CHECK_INT_EQ(lo_alloc_live_bytes(), base + 1000);
    CHECK((uintptr_t)a % 16 == 0);
    memset(a, 0xab, 1000);
    void *b = lo_calloc(10, 100);
    CHECK(b);
    CHECK_INT_EQ(lo_alloc_live_bytes(), base + 2000);
    int zero = 1;
    for (int i = 0; i < 1000; i++) zero &= ((uint8_t *)b)[i] == 0;
    CHECK(zero);
    CHECK(lo_alloc_peak_bytes() >= base + 2000);
    lo_free(a);
    CHECK_INT_EQ(lo_alloc_live_bytes(), base + 1000);
    lo_free(b);
    CHECK_INT_EQ(lo_alloc_live_bytes(), base);
    lo_free(NULL);

    /* malloc(0) gives distinct valid pointers */
    void *z1 = lo_malloc(0), *z2 = lo_malloc(0);
    CHECK(z1 && z2 && z1 != z2);
    lo_free(z1);
    lo_free(z2);
    CHECK_INT_EQ(lo_alloc_live_bytes(), base);

    /* calloc overflow */
    lo_error_clear();
    CHECK(lo_calloc(SIZE_MAX / 2, 3) == NULL);
    CHECK(strstr(lo_error_message(), "overflow") != NULL);
    CHECK(lo_malloc(SIZE_MAX - 4) == NULL);
    CHECK_INT_EQ(lo_alloc_live_bytes(), base);

    /* realloc keeps contents and adjusts counters both ways */
    char *r = lo_malloc(10);
    memcpy(r, "0123456789", 10);
    r = lo_realloc(r, 100000);
    CHECK(r && memcmp(r, "0123456789", 10) == 0);
    CHECK_INT_EQ(lo_alloc_live_bytes(), base + 100000);
    r = lo_realloc(r, 5);
    CHECK(r && memcmp(r, "01234", 5) == 0);
    CHECK_INT_EQ(lo_alloc_live_bytes(), base + 5);
    lo_free(r);
    r = lo_realloc(NULL, 33);
    CHECK_INT_EQ(lo_alloc_live_bytes(), base + 33);
    lo_free(r);

    /* aligned allocations, freed by lo_free, counted, and realloc keeps alignment */
    size_t aligns[] = {16, 32, 64, 128, 4096, 1 << 16};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        uint8_t *p = lo_malloc_aligned(777, aligns[i]);
        CHECK(p && (uintptr_t)p % aligns[i] == 0);
        memset(p, 1, 777);
        CHECK_INT_EQ(lo_alloc_live_bytes(), base + 777);
        p = lo_realloc(p, 5000);
        CHECK(p && (uintptr_t)p % aligns[i] == 0 && p[776] == 1);
        CHECK_INT_EQ(lo_alloc_live_bytes(), base + 5000);
        lo_free(p);
        CHECK_INT_EQ(lo_alloc_live_bytes(), base);
    }
    CHECK(lo_malloc_aligned(10, 48) == NULL); /* not a power of two */

    /* strdup / strndup */
    char *s = lo_strdup("hello");
    CHECK_STR_EQ(s, "hello");
    char *s2 = lo_strndup("hello world", 5);
    CHECK_STR_EQ(s2, "hello");
    char *s3 = lo_strndup("hi", 10);
    CHECK_STR_EQ(s3, "hi");
    CHECK_INT_EQ(lo_alloc_live_bytes(), base + 6 + 6 + 3);
    lo_free(s);
    lo_free(s2);
    lo_free(s3);
    CHECK(lo_strdup(NULL) == NULL);

    /* the limit refuses, sets NOMEM with a message, and nothing is counted */
    lo_alloc_set_limit(base + 4096);
    void *ok = lo_malloc(2000);
    CHECK(ok);
    lo_error_clear();
    void *no = lo_malloc(4000);
    CHECK(no == NULL);
    CHECK(strstr(lo_error_message(), "limit") != NULL);
    CHECK_INT_EQ(lo_alloc_live_bytes(), base + 2000);
    CHECK(lo_malloc_aligned(4000, 64) == NULL);
    void *grown = lo_realloc(ok, 8000);
    CHECK(grown == NULL); /* the old block stays valid */
    CHECK_INT_EQ(lo_alloc_live_bytes(), base + 2000);
    ok = lo_realloc(ok, 3000);
    CHECK(ok);
    lo_free(ok);
    lo_alloc_set_limit(0);
    void *big = lo_malloc(1 << 20);
    CHECK(big);
    size_t peak = lo_alloc_peak_bytes();
    CHECK(peak >= base + (1 << 20));
    lo_free(big);
    CHECK_INT_EQ(lo_alloc_peak_bytes(), peak);
    CHECK_INT_EQ(lo_alloc_live_bytes(), base);

    /* arena */
    lo_arena ar;
    CHECK_OK(lo_arena_init(&ar, 1024));
    CHECK_INT_EQ(lo_alloc_live_bytes(), base + 1024);
    uint8_t *p1 = lo_arena_alloc(&ar, 3, 1);
    uint8_t *p2 = lo_arena_alloc(&ar, 8, 64);
    uint8_t *p3 = lo_arena_alloc(&ar, 1, 8);
    CHECK(p1 && p2 && p3);
    CHECK((uintptr_t)p2 % 64 == 0 && p2 >= p1 + 3);
    CHECK((uintptr_t)p3 % 8 == 0 && p3 >= p2 + 8);
    CHECK_INT_EQ(ar.used_bytes, (size_t)(p3 + 1 - ar.base));
    lo_error_clear();
    CHECK(lo_arena_alloc(&ar, 2000, 16) == NULL);
    CHECK(strstr(lo_error_message(), "arena full") != NULL);
    CHECK(lo_arena_alloc(&ar, SIZE_MAX, 16) == NULL);
    CHECK(lo_arena_alloc(&ar, 16, (size_t)1 << 62) == NULL);
    size_t used = ar.used_bytes;
    uint8_t *rest = lo_arena_alloc(&ar, 1024 - used, 1); /* exactly fills it */
    CHECK(rest != NULL);
    CHECK_INT_EQ(ar.used_bytes, 1024);
    CHECK(lo_arena_alloc(&ar, 1, 1) == NULL);
    CHECK(lo_arena_alloc(&ar, 0, 1) != NULL); /* zero bytes always fit */
    lo_arena_reset(&ar);
    CHECK_INT_EQ(ar.used_bytes, 0);
    CHECK_INT_EQ(ar.peak_bytes, 1024);
    CHECK(lo_arena_alloc(&ar, 100, 16) == ar.base);
    lo_arena_free(&ar);
    lo_arena_free(&ar); /* idempotent */
    CHECK_INT_EQ(lo_alloc_live_bytes(), base);
    return check_done();
}
