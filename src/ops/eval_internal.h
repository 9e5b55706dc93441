/* ops (L4) internals shared by eval.c (evaluation runs) and eval_gate.c (promotion gates):
 * the recorded eval runs of a model version with their scores and generation settings. */
#ifndef LLMOPS_OPS_EVAL_INTERNAL_H
#define LLMOPS_OPS_EVAL_INTERNAL_H

#include "ops/ops_internal.h"

typedef struct eval_run {
    int64_t id;
    json_t *gen;      /* the params' "gen" object (settings that must match), or NULL */
    char version[65]; /* dataset version */
    char dataset[LO_OPS_NAME_MAX + 1];
    double scores[LO_EVAL_N_SCORES];
    uint32_t metrics; /* scores present */
} eval_run;

/* Succeeded eval runs of a model version, newest first; version NULL = on any dataset. */
lo_status eval_find_runs(lo_store *s, int64_t model_id, const char *version, eval_run **out, size_t *n);
void eval_runs_free(eval_run *runs, size_t n);
#endif
