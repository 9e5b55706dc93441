/* A one-line progress bar on stderr ("label [=====>    ] 42% 1.2k/3.0k 310/s ETA 6s"),
 * redrawn at most every 0.1 s and only when stderr is a terminal. */
#include "llmops/base.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LO_PROGRESS_WIDTH 30
#define LO_PROGRESS_PERIOD 0.1

/* 1234 → "1.2k", 3400000 → "3.4M" */
static void fmt_count(char *buf, size_t cap, double v) {
    if (v < 0) v = 0;
    if (v >= 1e9)
        snprintf(buf, cap, "%.1fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, cap, "%.1fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, cap, "%.1fk", v / 1e3);
    else
        snprintf(buf, cap, "%.0f", v);
}

static void fmt_secs(char *buf, size_t cap, double s) {
    if (s < 0 || s != s || s > 1e9)
        snprintf(buf, cap, "?");
    else if (s < 60)
        snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}

static void draw(lo_progress *p, double now, bool final) {
    char line[256], done_s[32], total_s[32], rate_s[32], eta_s[32];
    double dt = now - p->t_start;
    double rate = dt > 0 ? (double)p->done / dt : 0;
    fmt_count(done_s, sizeof done_s, (double)p->done);
    fmt_count(rate_s, sizeof rate_s, rate);
    const char *label = p->label ? p->label : "";
    if (p->total > 0) {
        double frac = (double)p->done / (double)p->total;
        if (frac < 0) frac = 0;
        if (frac > 1) frac = 1;
        char bar[LO_PROGRESS_WIDTH + 1];
        int fill = (int)(frac * LO_PROGRESS_WIDTH);
        for (int i = 0; i < LO_PROGRESS_WIDTH; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
        if (fill >= LO_PROGRESS_WIDTH) bar[LO_PROGRESS_WIDTH - 1] = '=';
        bar[LO_PROGRESS_WIDTH] = '\0';
        fmt_count(total_s, sizeof total_s, (double)p->total);
        if (final)
            fmt_secs(eta_s, sizeof eta_s, dt);
        else
            fmt_secs(eta_s, sizeof eta_s, rate > 0 ? (double)(p->total - p->done) / rate : -1);
        snprintf(line, sizeof line, "%s [%s] %3d%% %s/%s %s/s %s %s", label, bar, (int)(frac * 100), done_s, total_s,
                 rate_s, final ? "in" : "ETA", eta_s);
    } else {
        fmt_secs(eta_s, sizeof eta_s, dt);
        snprintf(line, sizeof line, "%s %s %s/s %s", label, done_s, rate_s, eta_s);
    }
    flockfile(stderr);
    /* \r + clear-to-end-of-line so a shorter line leaves no tail */
    fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
    fflush(stderr);
    funlockfile(stderr);
    p->t_last_draw = now;
}

void lo_progress_begin(lo_progress *p, const char *label, int64_t total) {
    LO_ASSERT(p);
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->t_start = lo_time_sec();
    p->t_last_draw = 0;
    p->enabled = isatty(2) == 1 && lo_log_get_level() < LO_LOG_OFF;
    if (p->enabled) draw(p, p->t_start, false);
}

void lo_progress_update(lo_progress *p, int64_t done) {
    LO_ASSERT(p);
    p->done = done;
    if (!p->enabled) return;
    double now = lo_time_sec();
    if (now - p->t_last_draw < LO_PROGRESS_PERIOD) return;
    draw(p, now, false);
}

void lo_progress_end(lo_progress *p) {
    if (!p) return;
    if (p->enabled) draw(p, lo_time_sec(), true);
    p->enabled = false;
}
