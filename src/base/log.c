/* Leveled logging to stderr as "[level] message\n"; one locked write per message so lines
 * from different threads never interleave. */
#include "llmops/base.h"

#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>

static atomic_int log_level = LO_LOG_INFO;

void lo_log_set_level(lo_log_level level) {
    atomic_store(&log_level, (int)level);
}
lo_log_level lo_log_get_level(void) {
    return (lo_log_level)atomic_load(&log_level);
}

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

bool lo_log_parse_level(const char *name, lo_log_level *out) {
    if (!name) return false;
    for (int i = 0; i <= LO_LOG_OFF; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            if (out) *out = (lo_log_level)i;
            return true;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        if (out) *out = LO_LOG_WARN;
        return true;
    }
    return false;
}

void lo_log(lo_log_level level, const char *fmt, ...) {
    if (level < LO_LOG_DEBUG || level >= LO_LOG_OFF || (int)level < atomic_load(&log_level)) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    while (len > 0 && buf[len - 1] == '\n') buf[--len] = '\0'; /* we add our own newline */
    flockfile(stderr);
    fprintf(stderr, "[%s] %s\n", level_names[level], buf);
    funlockfile(stderr);
}
