/* Tests for base status/error messages (thread-local, wrap keeps the hint), status names
 * and log level parsing. */
#include "check.h"
#include "llmops/base.h"

#include <pthread.h>

static void *other_thread(void *arg) {
    const char **seen = arg;
    seen[0] = lo_error_message()[0] ? "dirty" : "clean";
    lo_error(LO_ERR_IO, "thread hint", "thread error");
    return NULL;
}

int main(void) {
    CHECK_STR_EQ(lo_error_message(), "");
    CHECK_STR_EQ(lo_error_hint(), "");

    CHECK_INT_EQ(lo_error(LO_ERR_FORMAT, "fix the file", "bad magic %#x in %s", 0x1234u, "a.gguf"), LO_ERR_FORMAT);
    CHECK_STR_EQ(lo_error_message(), "bad magic 0x1234 in a.gguf");
    CHECK_STR_EQ(lo_error_hint(), "fix the file");

    CHECK_INT_EQ(lo_error_wrap(LO_ERR_FORMAT, "loading %s", "x.gguf"), LO_ERR_FORMAT);
    CHECK_STR_EQ(lo_error_message(), "loading x.gguf: bad magic 0x1234 in a.gguf");
    CHECK_STR_EQ(lo_error_hint(), "fix the file");
    lo_error_wrap(LO_ERR_FORMAT, "serve");
    CHECK_STR_EQ(lo_error_message(), "serve: loading x.gguf: bad magic 0x1234 in a.gguf");

    /* a new error without a hint clears the old hint */
    lo_error(LO_ERR_INVALID, NULL, "plain");
    CHECK_STR_EQ(lo_error_hint(), "");
    CHECK_STR_EQ(lo_error_message(), "plain");

    /* formatting the current message into a new one is safe */
    lo_error(LO_ERR_INVALID, NULL, "again: %s", lo_error_message());
    CHECK_STR_EQ(lo_error_message(), "again: plain");

    /* very long messages truncate, wrap still terminates */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lo_error(LO_ERR_INVALID, NULL, "%s", big);
    CHECK(strlen(lo_error_message()) < 1024 && strlen(lo_error_message()) > 1000);
    lo_error_wrap(LO_ERR_INVALID, "%s", big);
    CHECK(strlen(lo_error_message()) < 1024);
    lo_error(LO_ERR_INVALID, NULL, "short");
    lo_error_wrap(LO_ERR_INVALID, "%s", big);
    CHECK(strlen(lo_error_message()) < 1024);
    CHECK(strncmp(lo_error_message(), "xxxx", 4) == 0);

    /* thread-local: another thread starts clean and does not disturb ours */
    lo_error(LO_ERR_NOT_FOUND, "main hint", "main error");
    const char *seen[1] = {0};
    pthread_t t;
    CHECK_INT_EQ(pthread_create(&t, NULL, other_thread, seen), 0);
    pthread_join(t, NULL);
    CHECK_STR_EQ(seen[0], "clean");
    CHECK_STR_EQ(lo_error_message(), "main error");
    CHECK_STR_EQ(lo_error_hint(), "main hint");

    lo_error_clear();
    CHECK_STR_EQ(lo_error_message(), "");
    CHECK_STR_EQ(lo_error_hint(), "");
    /* wrapping with nothing recorded gives just the context */
    lo_error_wrap(LO_ERR_IO, "ctx");
    CHECK_STR_EQ(lo_error_message(), "ctx");

    CHECK_STR_EQ(lo_status_name(LO_OK), "ok");
    CHECK_STR_EQ(lo_status_name(LO_ERR_INVALID), "invalid argument");
    CHECK_STR_EQ(lo_status_name(LO_ERR_IO), "i/o error");
    CHECK_STR_EQ(lo_status_name(LO_ERR_NOMEM), "out of memory");
    CHECK_STR_EQ(lo_status_name(LO_ERR_FORMAT), "format error");
    CHECK_STR_EQ(lo_status_name(LO_ERR_UNSUPPORTED), "unsupported");
    CHECK_STR_EQ(lo_status_name(LO_ERR_NOT_FOUND), "not found");
    CHECK_STR_EQ(lo_status_name(LO_ERR_RANGE), "out of range");
    CHECK_STR_EQ(lo_status_name(LO_ERR_INTERNAL), "internal error");
    CHECK_STR_EQ(lo_status_name((lo_status)99), "unknown status");

    lo_log_level lv = LO_LOG_DEBUG;
    CHECK(lo_log_parse_level("warn", &lv) && lv == LO_LOG_WARN);
    CHECK(lo_log_parse_level("OFF", &lv) && lv == LO_LOG_OFF);
    CHECK(lo_log_parse_level("debug", &lv) && lv == LO_LOG_DEBUG);
    CHECK(!lo_log_parse_level("verbose", &lv));
    CHECK(!lo_log_parse_level("", &lv));
    CHECK(!lo_log_parse_level(NULL, &lv));
    lo_log_set_level(LO_LOG_ERROR);
    CHECK_INT_EQ(lo_log_get_level(), LO_LOG_ERROR);
    LO_INFO("this must not appear");
    lo_log_set_level(LO_LOG_INFO);
    LO_INFO("log line from test_errors (expected on stderr)");

    CHECK(lo_time_sec() > 0);
    double t0 = lo_time_sec();
    usleep(20000);
    double dt = lo_time_sec() - t0;
    CHECK(dt >= 0.019 && dt < 2.0);
    return check_done();
}
