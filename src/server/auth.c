/* server: store API keys on the request path — a short-lived in-memory cache of checked
 * keys (by sha256 of the secret, never the secret) so requests do not query the store,
 * budgets (the store's spend plus what this server charged since the check) and a
 * per-key requests-per-minute token bucket. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "server_internal.h"

/* Under keys_mu: the entry of a secret's hash, or NULL. */
static srv_key_entry *find_hash(lo_server *s, const uint8_t hash[32]) {
    for (int i = 0; i < SRV_KEY_CACHE; i++)
        if (s->keys[i].used && memcmp(s->keys[i].secret_hash, hash, 32) == 0) return &s->keys[i];
    return NULL;
}

/* Under keys_mu: a free entry, else the one checked longest ago. */
static srv_key_entry *take_slot(lo_server *s) {
    srv_key_entry *oldest = &s->keys[0];
    for (int i = 0; i < SRV_KEY_CACHE; i++) {
        if (!s->keys[i].used) return &s->keys[i];
        if (s->keys[i].checked_at < oldest->checked_at) oldest = &s->keys[i];
    }
    return oldest;
}

typedef enum verdict { ALLOW, OVER_BUDGET, RATE_LIMITED } verdict;

/* Under keys_mu: budget, then one request from the bucket (capacity = the per-minute
 * limit, refilled continuously). *retry_s gets the wait when rate-limited. */
static verdict admit(srv_key_entry *e, double now, double *retry_s) {
    const lo_ops_key *k = &e->key;
    if (k->budget_usd > 0 && k->spent_usd + e->charged_usd >= k->budget_usd) return OVER_BUDGET;
    if (k->rate_limit_rpm <= 0) return ALLOW;
    double cap = (double)k->rate_limit_rpm, per_s = cap / 60.0;
    e->tokens = fmin(cap, e->tokens + (now - e->refilled_at) * per_s);
    e->refilled_at = now;
    if (e->tokens < 1) {
        *retry_s = (1 - e->tokens) / per_s;
        return RATE_LIMITED;
    }
    e->tokens -= 1;
    return ALLOW;
}

static void refuse(lo_server *s, lo_http_req *r, const char *route, verdict v, const lo_ops_key *k, double retry_s) {
    if (v == OVER_BUDGET) {
        /* waiting does not help: no Retry-After */
        lo_http_header h = {"Cache-Control", "no-store"};
        srv_error_h(s, r, route, 429, &h, "insufficient_quota", NULL, "insufficient_quota",
                    "API key %s has spent its budget of $%.2f; raise the budget or use another key", k->key_id,
                    k->budget_usd);
        return;
    }
    char after[24];
    snprintf(after, sizeof after, "%.0f", ceil(retry_s > 0 ? retry_s : 1));
    lo_http_header h = {"Retry-After", after};
    srv_error_h(s, r, route, 429, &h, "rate_limit_error", NULL, "rate_limit_exceeded",
                "API key %s is limited to %lld requests per minute; retry in %s s", k->key_id,
                (long long)k->rate_limit_rpm, after);
}

/* Called under keys_mu, which it releases: admits the request on entry e (filling a) or
 * answers the refusal. */
static bool decide(lo_server *s, lo_http_req *r, const char *route, srv_key_entry *e, double now, srv_auth *a) {
    double retry_s = 0;
    verdict v = admit(e, now, &retry_s);
    lo_ops_key k = e->key;
    pthread_mutex_unlock(&s->keys_mu);
    if (v != ALLOW) {
        refuse(s, r, route, v, &k, retry_s);
        return false;
    }
    a->keyed = true;
    a->admin = k.role == LO_OPS_ROLE_ADMIN;
    snprintf(a->key_id, sizeof a->key_id, "%s", k.key_id);
    return true;
}

bool srv_auth_store_key(lo_server *s, lo_http_req *r, const char *route, const char *secret, srv_auth *a) {
    uint8_t hash[32];
    lo_sha256 h;
    lo_sha256_init(&h);
    lo_sha256_update(&h, secret, strlen(secret));
    lo_sha256_final(&h, hash);
    double now = lo_time_sec();
    lo_ops_key k;

    pthread_mutex_lock(&s->keys_mu);
    srv_key_entry *e = find_hash(s, hash);
    if (e && now - e->checked_at < s->p.key_cache_s) return decide(s, r, route, e, now, a);
    pthread_mutex_unlock(&s->keys_mu);

    /* not cached, or the check is stale: ask the store (once per key per key_cache_s) */
    pthread_mutex_lock(&s->db_mu);
    lo_status st = lo_ops_key_check(s->db, secret, &k);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", lo_error_message());
    pthread_mutex_unlock(&s->db_mu);
    if (st == LO_ERR_DENIED) {
        /* an authentic key over its budget comes back filled in (lo_ops_key_check) */
        const bool spent = k.key_id[0] != 0;
        pthread_mutex_lock(&s->keys_mu);
        e = find_hash(s, hash);
        if (e && spent) { /* keep refusing from memory until the next check */
            e->key.spent_usd = e->key.budget_usd;
            e->checked_at = now;
        } else if (e) {
            e->used = false; /* revoked since it was cached */
        }
        pthread_mutex_unlock(&s->keys_mu);
        if (spent) {
            lo_http_header hd = {"Cache-Control", "no-store"};
            srv_error_h(s, r, route, 429, &hd, "insufficient_quota", NULL, "insufficient_quota", "%s", msg);
        } else {
            srv_error(s, r, route, 401, "invalid_request_error", NULL, "invalid_api_key", "%s", msg);
        }
        return false;
    }
    if (st != LO_OK) {
        srv_error(s, r, route, 503, "server_error", NULL, "store_unavailable", "cannot check the API key: %s", msg);
        return false;
    }
    pthread_mutex_lock(&s->keys_mu);
    e = find_hash(s, hash);
    if (!e) {
        e = take_slot(s);
        memset(e, 0, sizeof *e);
        e->used = true;
        memcpy(e->secret_hash, hash, 32);
        e->tokens = (double)k.rate_limit_rpm; /* a fresh bucket is full */
        e->refilled_at = now;
    }
    /* the store's spend now includes what the log has written; restart the local tally
     * (requests still in the log's queue are counted again only after their batch) */
    e->key = k;
    e->checked_at = now;
    e->charged_usd = 0;
    return decide(s, r, route, e, now, a);
}

void srv_auth_charge(lo_server *s, const char *key_id, double usd) {
    if (!s->keys || !key_id || !key_id[0] || !(usd > 0)) return;
    pthread_mutex_lock(&s->keys_mu);
    for (int i = 0; i < SRV_KEY_CACHE; i++)
        if (s->keys[i].used && strcmp(s->keys[i].key.key_id, key_id) == 0) s->keys[i].charged_usd += usd;
    pthread_mutex_unlock(&s->keys_mu);
}
