/* server: the end of every generation or embedding request — its record submitted to
 * the asynchronous request log (lo_ops_logger: the request path never waits on the
 * store), its cost charged to the key's budget, and its deployment arm's metrics. */
#include <string.h>

#include "server_internal.h"

double srv_request_cost(const srv_model *m, int64_t prompt_tokens, int64_t completion_tokens) {
    return ((double)prompt_tokens * m->usd_per_m_in + (double)completion_tokens * m->usd_per_m_out) / 1e6;
}

static void count_arm(srv_deployment *dep, int arm, const srv_logged *l, double cost) {
    srv_arm_metrics *am = &dep->arms[arm];
    pthread_mutex_lock(&dep->mu);
    if (strcmp(l->status, "ok") == 0)
        am->ok++;
    else if (strcmp(l->status, "canceled") == 0)
        am->canceled++;
    else
        am->errors++;
    am->prompt_tokens += (uint64_t)(l->prompt_tokens > 0 ? l->prompt_tokens : 0);
    am->completion_tokens += (uint64_t)(l->completion_tokens > 0 ? l->completion_tokens : 0);
    am->cost_usd += cost;
    if (l->ttft_ms >= 0) srv_hist_observe(&am->ttft, l->ttft_ms / 1000.0);
    if (l->latency_ms >= 0) srv_hist_observe(&am->e2e, l->latency_ms / 1000.0);
    pthread_mutex_unlock(&dep->mu);
}

void srv_log_request(lo_server *s, const srv_logged *l) {
    const srv_target *t = l->t;
    if (!t || !t->m) return;
    double cost = srv_request_cost(t->m, l->prompt_tokens, l->completion_tokens);
    if (t->dep) count_arm(t->dep, t->arm, l, cost);
    if (l->a) srv_auth_charge(s, l->a->key_id, cost);
    if (!s->logger) return;
    lo_ops_request q;
    memset(&q, 0, sizeof q);
    q.external_id = l->external_id;
    q.deployment = t->dep ? t->dep->d.name : NULL;
    q.model_id = t->m->model_id;
    q.model_name = t->m->model_id ? NULL : t->m->price_name; /* a -m model: priced by its served name */
    q.prompt_tokens = l->prompt_tokens;
    q.completion_tokens = l->completion_tokens;
    q.cost_usd = -1; /* priced by the log from the store's prices */
    q.queue_ms = l->queue_ms;
    q.ttft_ms = l->ttft_ms;
    q.latency_ms = l->latency_ms;
    q.status = l->status;
    q.client_key = l->a && l->a->key_id[0] ? l->a->key_id : NULL;
    q.user = l->user;
    q.messages_json = l->messages_json;
    q.completion = l->completion;
    /* a full queue drops the record: counted in the logger's stats, shown by /metrics */
    (void)lo_ops_logger_submit(s->logger, &q);
}
