/* Monotonic wall-clock seconds for timing and rates. */
#include "llmops/base.h"

#include <time.h>

double lo_time_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
