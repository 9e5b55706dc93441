/* train: data parallelism under mpirun — a thin wrapper over OpenMPI (world rank and size,
 * sum all-reduces, broadcasts, agreeing on a status) that is joined only when mpirun started
 * the process with several ranks; otherwise rank 0 of 1 and every operation a no-op. */
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_internal.h"

static int g_rank = 0, g_size = 1;
static bool g_on;    /* MPI is in use (size > 1) */
static bool g_owned; /* we called MPI_Init, so we finalize */

/* OpenMPI's launcher sets OMPI_COMM_WORLD_SIZE in every rank's environment. */
static int launched_size(void) {
    const char *e = getenv("OMPI_COMM_WORLD_SIZE");
    if (!e || !*e) return 1;
    char *end;
    const long n = strtol(e, &end, 10);
    return *end == 0 && n > 1 && n <= INT_MAX ? (int)n : 1;
}

lo_status lo_train_dist_init(void) {
    if (g_on) return LO_OK;
    if (launched_size() <= 1) return LO_OK; /* the single-process path: no MPI call at all */
    int inited = 0;
    MPI_Initialized(&inited); /* the program may have joined the job itself */
    if (!inited) {
        int provided = 0;
        /* Only the thread that called init makes MPI calls (OpenBLAS and the pool never do). */
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return lo_error(LO_ERR_INTERNAL, "start the job with mpirun from the same OpenMPI installation",
                            "train: MPI_Init failed");
        g_owned = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_on = g_size > 1;
    if (!g_on && g_owned) {
        MPI_Finalize();
        g_owned = false;
    }
    return LO_OK;
}

int lo_train_dist_rank(void) {
    return g_rank;
}
int lo_train_dist_size(void) {
    return g_size;
}

void lo_train_dist_finalize(void) {
    if (!g_on) return;
    if (g_owned) MPI_Finalize();
    g_on = g_owned = false;
    g_rank = 0, g_size = 1;
}

/* MPI counts are int: long blocks go in chunks. */
#define CHUNK (1 << 28)

void lo_train__dist_sum_f32(float *x, int64_t n) {
    if (!g_on) return;
    for (int64_t i = 0; i < n; i += CHUNK) {
        const int c = (int)(n - i < CHUNK ? n - i : CHUNK);
        MPI_Allreduce(MPI_IN_PLACE, x + i, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
}

void lo_train__dist_sum_f64(double *x, int n) {
    if (g_on) MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

void lo_train__dist_sum_i64(int64_t *x, int n) {
    if (g_on) MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
}

void lo_train__dist_bcast(void *buf, size_t bytes, int root) {
    if (!g_on) return;
    uint8_t *p = buf;
    for (size_t i = 0; i < bytes; i += CHUNK) {
        const int c = (int)(bytes - i < CHUNK ? bytes - i : CHUNK);
        MPI_Bcast(p + i, c, MPI_BYTE, root, MPI_COMM_WORLD);
    }
}

/* The lowest failing rank sends its status, message and hint; a rank that did not fail
 * returns them prefixed with that rank, so every rank (and rank 0, which prints) reports
 * the real cause. */
lo_status lo_train_dist_agree(lo_status s) {
    if (!g_on) return s;
    int first = s ? g_rank : g_size;
    MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first == g_size) return LO_OK;
    struct {
        int32_t status;
        char msg[768], hint[256];
    } e = {0};
    if (g_rank == first) {
        e.status = (int32_t)s;
        strncpy(e.msg, lo_error_message(), sizeof e.msg - 1);
        strncpy(e.hint, lo_error_hint(), sizeof e.hint - 1);
    }
    MPI_Bcast(&e, (int)sizeof e, MPI_BYTE, first, MPI_COMM_WORLD);
    if (s) return s;
    return lo_error((lo_status)e.status, e.hint[0] ? e.hint : NULL, "rank %d of %d: %s", first, g_size,
                    e.msg[0] ? e.msg : lo_status_name((lo_status)e.status));
}
