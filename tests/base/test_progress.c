/* Tests for the progress bar: silent when stderr is not a terminal; on a pseudo-terminal
 * it draws the label, bar, percent, k/M counts, rate and a final line ending in '\n',
 * and throttles redraws to ~10/s. */
#include "check.h"
#include "llmops/base.h"

#include <fcntl.h>
#include <poll.h>

static size_t drain(int fd, char *buf, size_t cap) {
    size_t n = 0;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    while (n + 1 < cap && poll(&pf, 1, 100) > 0) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

int main(void) {
    /* stderr redirected to a pipe: not a terminal → disabled, prints nothing */
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    int saved = dup(2);
    dup2(pfd[1], 2);
    lo_progress p;
    lo_progress_begin(&p, "quiet", 100);
    CHECK(!p.enabled);
    lo_progress_update(&p, 50);
    CHECK_INT_EQ(p.done, 50);
    lo_progress_end(&p);
    dup2(saved, 2);
    close(pfd[1]);
    char buf[8192];
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    CHECK(read(pfd[0], buf, sizeof buf) <= 0);
    close(pfd[0]);

    /* a pseudo-terminal */
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        fprintf(stderr, "no pty available; terminal part not run\n");
        return check_done();
    }
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    CHECK(slave >= 0);
    dup2(slave, 2);
    lo_progress_begin(&p, "tokenize", 3000000);
    int enabled = p.enabled;
    for (int64_t i = 0; i <= 3000000; i += 1000) lo_progress_update(&p, i); /* fast: few redraws */
    usleep(120000);
    lo_progress_update(&p, 1500000); /* > 0.1 s since the last draw: drawn */
    lo_progress_update(&p, 3000000); /* too soon: only the final line shows it */
    lo_progress_end(&p);
    /* unknown total */
    lo_progress_begin(&p, "scan", 0);
    lo_progress_update(&p, 12345);
    lo_progress_end(&p);
    dup2(saved, 2);
    close(slave);
    size_t n = drain(master, buf, sizeof buf);
    close(master);
    CHECK(enabled);
    CHECK(n > 0);
    CHECK_MSG(strstr(buf, "tokenize [") != NULL, "%s", buf);
    CHECK(strstr(buf, "100%") != NULL);
    CHECK(strstr(buf, "3.0M/3.0M") != NULL);
    CHECK(strstr(buf, " 50% 1.5M/3.0M") != NULL);
    CHECK(strstr(buf, "/s") != NULL);
    CHECK(strstr(buf, "ETA") != NULL);
    CHECK(strstr(buf, "scan 12.3k") != NULL);
    int redraws = 0;
    for (char *q = buf; (q = strstr(q, "tokenize [")); q++) redraws++;
    CHECK_MSG(redraws >= 3 && redraws <= 10, "%d redraws", redraws); /* not one per update */
    int newlines = 0;
    for (char *q = buf; *q; q++) newlines += *q == '\n';
    CHECK_INT_EQ(newlines, 2); /* one final line per bar (the pty may map \n to \r\n) */
    close(saved);
    return check_done();
}
