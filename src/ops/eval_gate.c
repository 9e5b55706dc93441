/* Promotion gates: "rougeL>=baseline", "perplexity<=1.05*baseline", "exact>=0.5" parsed and
 * checked (pure), and lo_eval_promote, which moves an alias only when a version's recorded
 * eval meets every gate against the version holding the alias now, on the same data. */
#include <math.h>
#include <stdlib.h>

#include "ops/eval_internal.h"

static const char *const op_text[] = {">=", "<=", ">", "<", "=="};

const char *lo_eval_op_text(lo_eval_op op) {
    return (unsigned)op < 5 ? op_text[op] : "?";
}

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* A finite decimal number at *p (no sign other than '-', no hex, no inf/nan). */
static bool parse_number(const char **p, double *out) {
    const char *s = *p;
    const char *q = s;
    if (*q == '-' || *q == '+') q++;
    if (!((*q >= '0' && *q <= '9') || (*q == '.' && q[1] >= '0' && q[1] <= '9'))) return false;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v)) return false;
    for (const char *c = s; c < end; c++)
        if (*c == 'x' || *c == 'X') return false;
    *out = v;
    *p = end;
    return true;
}

lo_status lo_eval_gate_parse(const char *expr, lo_eval_gate *out) {
    const char *hint = "write METRIC OP VALUE: METRIC one of bleu, chrf, rouge1, rouge2, rougeL, rougeLsum, exact, "
                       "exact_norm, perplexity; OP one of >= <= > < ==; VALUE a number, baseline or K*baseline "
                       "(e.g. \"rougeL>=baseline\", \"perplexity<=1.05*baseline\", \"exact>=0.5\")";
    memset(out, 0, sizeof *out);
    if (!expr) return lo_error(LO_ERR_INVALID, hint, "gate is empty");
    if (strlen(expr) > 100) return lo_error(LO_ERR_INVALID, hint, "gate '%.40s…' is longer than 100 characters", expr);
    const char *p = skip_ws(expr), *name = p;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_') p++;
    if (p == name) return lo_error(LO_ERR_INVALID, hint, "gate '%s' does not start with a metric name", expr);
    out->score = lo_eval_score_find(name, (size_t)(p - name));
    if (out->score < 0)
        return lo_error(LO_ERR_INVALID, hint, "gate '%s': unknown metric '%.*s'", expr, (int)(p - name), name);
    p = skip_ws(p);
    if (p[0] == '>' && p[1] == '=')
        out->op = LO_EVAL_GE, p += 2;
    else if (p[0] == '<' && p[1] == '=')
        out->op = LO_EVAL_LE, p += 2;
    else if (p[0] == '=' && p[1] == '=')
        out->op = LO_EVAL_EQ, p += 2;
    else if (p[0] == '>')
        out->op = LO_EVAL_GT, p += 1;
    else if (p[0] == '<')
        out->op = LO_EVAL_LT, p += 1;
    else
        return lo_error(LO_ERR_INVALID, hint, "gate '%s': expected >=, <=, >, < or == after the metric", expr);
    p = skip_ws(p);
    if (!*p) return lo_error(LO_ERR_INVALID, hint, "gate '%s': nothing after the operator", expr);
    out->k = 1;
    if (strncmp(p, "baseline", 8) == 0) {
        out->vs_baseline = true;
        p += 8;
    } else {
        if (!parse_number(&p, &out->k))
            return lo_error(LO_ERR_INVALID, hint, "gate '%s': '%s' is not a number or baseline", expr, p);
        p = skip_ws(p);
        if (*p == '*') {
            p = skip_ws(p + 1);
            if (strncmp(p, "baseline", 8) != 0)
                return lo_error(LO_ERR_INVALID, hint, "gate '%s': expected baseline after '*'", expr);
            out->vs_baseline = true;
            p += 8;
        }
    }
    p = skip_ws(p);
    if (*p) return lo_error(LO_ERR_INVALID, hint, "gate '%s': unexpected '%s' at the end", expr, p);
    if (out->vs_baseline && out->k == 1)
        snprintf(out->text, sizeof out->text, "%s%sbaseline", lo_eval_score_name(out->score), op_text[out->op]);
    else if (out->vs_baseline)
        snprintf(out->text, sizeof out->text, "%s%s%.10g*baseline", lo_eval_score_name(out->score), op_text[out->op],
                 out->k);
    else
        snprintf(out->text, sizeof out->text, "%s%s%.10g", lo_eval_score_name(out->score), op_text[out->op], out->k);
    return LO_OK;
}

bool lo_eval_gate_check(const lo_eval_gate *g, double value, double baseline, double *rhs) {
    double need = g->vs_baseline ? g->k * baseline : g->k;
    if (rhs) *rhs = need;
    if (isnan(value) || isnan(need)) return false;
    switch (g->op) {
    case LO_EVAL_GE:
        return value >= need;
    case LO_EVAL_LE:
        return value <= need;
    case LO_EVAL_GT:
        return value > need;
    case LO_EVAL_LT:
        return value < need;
    case LO_EVAL_EQ:
        return value == need;
    }
    return false;
}

/* The pair of runs to compare: the newest run of the candidate that has every gated score
 * and (when a gate needs it) a baseline run on the same dataset version with the same
 * settings and every gated score. */
static bool pick_pair(const eval_run *cand, size_t n_cand, const eval_run *base, size_t n_base, uint32_t need,
                      bool need_base, size_t *ci, size_t *bi) {
    for (size_t i = 0; i < n_cand; i++) {
        if ((cand[i].metrics & need) != need) continue;
        if (!need_base) {
            *ci = i;
            return true;
        }
        for (size_t j = 0; j < n_base; j++)
            if ((base[j].metrics & need) == need && strcmp(base[j].version, cand[i].version) == 0 && cand[i].gen &&
                base[j].gen && json_equal(cand[i].gen, base[j].gen)) {
                *ci = i, *bi = j;
                return true;
            }
    }
    return false;
}

lo_status lo_eval_promote(lo_store *s, const char *ref, const char *alias, const char *const *gates, int n_gates,
                          lo_eval_promotion *out) {
    memset(out, 0, sizeof *out);
    if (n_gates < 0 || n_gates > LO_EVAL_MAX_GATES)
        return lo_error(LO_ERR_RANGE, NULL, "give at most %d gates (%d given)", LO_EVAL_MAX_GATES, n_gates);
    lo_status r = lo_ops_check_name("alias", alias);
    if (r) return r;
    uint32_t need = 0;
    bool need_base = false;
    for (int i = 0; i < n_gates; i++) {
        if ((r = lo_eval_gate_parse(gates[i], &out->gates[i].gate))) return r;
        need |= 1u << out->gates[i].gate.score;
        need_base |= out->gates[i].gate.vs_baseline;
    }
    out->n_gates = n_gates;
    lo_ops_model cand, base;
    if ((r = lo_ops_model_get(s, ref, &cand))) return r;
    snprintf(out->candidate, sizeof out->candidate, "%s@%s", cand.name, cand.version);
    char bref[LO_OPS_NAME_MAX * 2 + 2];
    snprintf(bref, sizeof bref, "%s@%s", cand.name, alias);
    bool have_base = true;
    r = lo_ops_model_get(s, bref, &base);
    if (r == LO_ERR_NOT_FOUND) {
        have_base = false;
        if (need_base)
            return lo_error(LO_ERR_NOT_FOUND,
                            "point the alias at a first version with `llmops models alias`, or use gates with numbers",
                            "no version of %s is %s yet, so there is no baseline for the gates", cand.name, alias);
        r = LO_OK;
    }
    if (r) return r;
    if (have_base) snprintf(out->baseline, sizeof out->baseline, "%s@%s", base.name, base.version);
    if (n_gates == 0) goto promote;

    eval_run *cr = NULL, *br = NULL;
    size_t nc = 0, nb = 0, ci = 0, bi = 0;
    r = eval_find_runs(s, cand.id, NULL, &cr, &nc);
    if (r == LO_OK && need_base) r = eval_find_runs(s, base.id, NULL, &br, &nb);
    if (r == LO_OK && !pick_pair(cr, nc, br, nb, need, need_base, &ci, &bi)) {
        if (need_base)
            r = lo_error(LO_ERR_NOT_FOUND,
                         "evaluate both on the same data with the same settings: llmops eval -m CANDIDATE --data FILE "
                         "--baseline BASELINE",
                         "no eval of %s has a matching eval of %s (%s) on the same dataset version with the same "
                         "settings and the gated metrics",
                         out->candidate, out->baseline, alias);
        else
            r = lo_error(LO_ERR_NOT_FOUND, "evaluate it first: llmops eval -m CANDIDATE --data FILE",
                         "%s has no succeeded eval with the gated metrics", out->candidate);
    }
    if (r == LO_OK) {
        out->candidate_run = cr[ci].id;
        out->baseline_run = need_base ? br[bi].id : 0;
        ops_copy(out->dataset, sizeof out->dataset, cr[ci].dataset);
        ops_copy(out->dataset_version, sizeof out->dataset_version, cr[ci].version);
        for (int i = 0; i < n_gates; i++) {
            lo_eval_gate_result *g = &out->gates[i];
            int k = g->gate.score;
            g->value = cr[ci].scores[k];
            g->baseline = g->gate.vs_baseline ? br[bi].scores[k] : NAN;
            g->pass = lo_eval_gate_check(&g->gate, g->value, g->baseline, &g->rhs);
            if (!g->pass) out->n_failed++;
        }
    }
    eval_runs_free(cr, nc);
    eval_runs_free(br, nb);
    if (r) return r;
    if (out->n_failed) {
        char msg[1024];
        size_t used = 0;
        for (int i = 0; i < n_gates && used < sizeof msg; i++) {
            const lo_eval_gate_result *g = &out->gates[i];
            if (g->pass) continue;
            int w = snprintf(msg + used, sizeof msg - used, "%s%s failed (%.6g, required %s %.6g)", used ? "; " : "",
                             g->gate.text, g->value, op_text[g->gate.op], g->rhs);
            if (w > 0) used += (size_t)w;
        }
        return lo_error(LO_ERR_DENIED, "evaluate a better version, or change the --require gates",
                        "%s not promoted to %s: %s", out->candidate, alias, msg);
    }
promote:
    if ((r = lo_ops_model_alias(s, out->candidate, alias))) return r;
    out->promoted = true;
    return LO_OK;
}
