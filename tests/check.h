/* A small assertion header for the project's tests: CHECK macros count failures and
 * print file:line with the values; check_done() returns the process exit code; a test
 * that lacks its fixtures calls check_skip(), which exits 77 (ctest: skipped). */
#ifndef LLMOPS_TESTS_CHECK_H
#define LLMOPS_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check_failures_;
static int check_count_;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        check_count_++;                                                                   \
        if (!(cond)) {                                                                    \
            check_failures_++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                                 \
    } while (0)

#define CHECK_MSG(cond, ...)                                                              \
    do {                                                                                  \
        check_count_++;                                                                   \
        if (!(cond)) {                                                                    \
            check_failures_++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
        }                                                                                 \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                                \
    do {                                                                                  \
        long long a_ = (long long)(a), b_ = (long long)(b);                               \
        check_count_++;                                                                   \
        if (a_ != b_) {                                                                   \
            check_failures_++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld vs %lld)\n", __FILE__,   \
                    __LINE__, #a, #b, a_, b_);                                            \
        }                                                                                 \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                \
    do {                                                                                  \
        const char *a_ = (a), *b_ = (b);                                                  \
        check_count_++;                                                                   \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                          \
            check_failures_++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" vs \"%s\")\n",         \
                    __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");  \
        }                                                                                 \
    } while (0)

/* lo_status result must be LO_OK; prints the library's message otherwise. */
#define CHECK_OK(expr)                                                                    \
    do {                                                                                  \
        int s_ = (int)(expr);                                                             \
        check_count_++;                                                                   \
        if (s_ != 0) {                                                                    \
            check_failures_++;                                                            \
            fprintf(stderr, "%s:%d: %s failed: status %d: %s\n", __FILE__, __LINE__,      \
                    #expr, s_, lo_error_message());                                       \
        }                                                                                 \
    } while (0)

static inline void check_skip(const char *why) {
    fprintf(stderr, "SKIP: %s\n", why);
    exit(77);
}

/* Path of a fixture under ../shared; skips the test when ../shared is absent. */
static inline const char *check_shared(const char *rel, char *buf, size_t cap) {
    const char *dir = getenv("LO_SHARED_DIR");
#ifdef LO_SHARED_DIR
    if (!dir) dir = LO_SHARED_DIR;
#endif
    if (!dir || access(dir, R_OK) != 0) check_skip("../shared (test fixtures) is not beside the project");
    snprintf(buf, cap, "%s/%s", dir, rel);
    return buf;
}

static inline int check_done(void) {
    if (check_count_ == 0) {
        fprintf(stderr, "no checks ran\n");
        return 1;
    }
    fprintf(stderr, "%d checks, %d failed\n", check_count_, check_failures_);
    return check_failures_ ? 1 : 0;
}

#endif
