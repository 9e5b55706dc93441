/* Status codes and the thread-local last-error message + hint that every failing library
 * call records (lo_error), plus the always-on assertion failure path. */
#include "llmops/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LO_ERR_MSG_CAP 1024
#define LO_ERR_HINT_CAP 512

static _Thread_local char err_msg[LO_ERR_MSG_CAP];
static _Thread_local char err_hint[LO_ERR_HINT_CAP];

const char *lo_status_name(lo_status s) {
    switch (s) {
    case LO_OK:
        return "ok";
    case LO_ERR_INVALID:
        return "invalid argument";
    case LO_ERR_IO:
        return "i/o error";
    case LO_ERR_NOMEM:
        return "out of memory";
    case LO_ERR_FORMAT:
        return "format error";
    case LO_ERR_UNSUPPORTED:
        return "unsupported";
    case LO_ERR_NOT_FOUND:
        return "not found";
    case LO_ERR_RANGE:
        return "out of range";
    case LO_ERR_INTERNAL:
        return "internal error";
    case LO_ERR_BUSY:
        return "busy";
    case LO_ERR_DENIED:
        return "denied";
    }
    return "unknown status";
}

lo_status lo_verror(lo_status s, const char *hint, const char *fmt, va_list ap) {
    /* Format into a temporary first: an argument may point into err_msg itself. */
    char tmp[LO_ERR_MSG_CAP];
    if (fmt)
        vsnprintf(tmp, sizeof tmp, fmt, ap);
    else
        tmp[0] = '\0';
    memcpy(err_msg, tmp, sizeof tmp);
    if (hint && hint != err_hint)
        snprintf(err_hint, sizeof err_hint, "%s", hint);
    else if (!hint)
        err_hint[0] = '\0';
    return s;
}

lo_status lo_error(lo_status s, const char *hint, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lo_verror(s, hint, fmt, ap);
    va_end(ap);
    return s;
}

lo_status lo_error_wrap(lo_status s, const char *fmt, ...) {
    char ctx[LO_ERR_MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    /* "ctx: old message", truncated to the buffer; the hint is kept. */
    char tmp[LO_ERR_MSG_CAP];
    size_t n = strlen(ctx);
    memcpy(tmp, ctx, n + 1);
    if (err_msg[0] && n + 2 < sizeof tmp) {
        memcpy(tmp + n, ": ", 3);
        n += 2;
        size_t m = strlen(err_msg);
        if (m > sizeof tmp - 1 - n) m = sizeof tmp - 1 - n;
        memcpy(tmp + n, err_msg, m);
        tmp[n + m] = '\0';
    }
    memcpy(err_msg, tmp, sizeof tmp);
    return s;
}

const char *lo_error_message(void) {
    return err_msg;
}
const char *lo_error_hint(void) {
    return err_hint;
}

void lo_error_clear(void) {
    err_msg[0] = '\0';
    err_hint[0] = '\0';
}

_Noreturn void lo_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}
