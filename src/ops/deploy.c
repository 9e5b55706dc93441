/* Deployments: a name served as the `model` field, routed to model versions by weight
 * (a canary takes a percentage), optionally sticky by user. Every change is a revision
 * (deployment_revisions, routes as JSON), so promote and rollback are records too; the
 * current revision is mirrored into deployment_routes, which the server reads. */
#include <math.h>

#include "ops/ops_internal.h"

lo_status lo_ops_deployment_get(lo_store *s, const char *name, lo_ops_deployment *out) {
    lo_status r = lo_ops_check_name("deployment name", name);
    if (r) return r;
    memset(out, 0, sizeof *out);
    lo_stmt *st = NULL;
    bool row = false;
    r = ops_prepare(s, &st, "SELECT id, name, revision, created_at FROM deployments WHERE name = ?", "t", name);
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK && !row)
        r = lo_error(LO_ERR_NOT_FOUND, "`llmops deploy ls` lists the deployments", "no deployment %s", name);
    if (r == LO_OK) {
        out->id = lo_store_column_int64(st, 0);
        ops_copy(out->name, sizeof out->name, lo_store_column_text(st, 1));
        out->revision = lo_store_column_int64(st, 2);
        out->created_at = lo_store_column_int64(st, 3);
    }
    lo_store_finalize(st);
    if (r) return r;
    r = ops_prepare(s, &st,
                    "SELECT r.model_id, m.name, m.version, m.gguf_path, r.weight, r.sticky FROM deployment_routes r "
                    "JOIN models m ON m.id = r.model_id WHERE r.deployment_id = ? ORDER BY r.id",
                    "i", out->id);
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) {
        if (out->n_arms == LO_OPS_MAX_ROUTES) {
            r = lo_error(LO_ERR_FORMAT, NULL, "deployment %s has more than %d routes", name, LO_OPS_MAX_ROUTES);
            break;
        }
        lo_ops_route_arm *a = &out->arms[out->n_arms++];
        a->model_id = lo_store_column_int64(st, 0);
        snprintf(a->model_ref, sizeof a->model_ref, "%s@%s", lo_store_column_text(st, 1), lo_store_column_text(st, 2));
        ops_copy(a->gguf_path, sizeof a->gguf_path, lo_store_column_text(st, 3));
        a->weight = lo_store_column_double(st, 4);
        if (lo_store_column_int64(st, 5)) out->sticky = true;
    }
    lo_store_finalize(st);
    return r;
}

lo_status lo_ops_deployment_list(lo_store *s, lo_ops_deployment_fn fn, void *ctx) {
    /* Names first: each get needs the connection. */
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st, "SELECT name FROM deployments ORDER BY name", "");
    char (*names)[LO_OPS_NAME_MAX + 1] = NULL;
    size_t n = 0, cap = 0;
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) {
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 8;
            void *p = lo_realloc(names, nc * sizeof *names);
            if (!p) {
                r = LO_ERR_NOMEM;
                break;
            }
            names = p, cap = nc;
        }
        ops_copy(names[n++], sizeof *names, lo_store_column_text(st, 0));
    }
    lo_store_finalize(st);
    lo_ops_deployment *d = r == LO_OK ? lo_malloc(sizeof *d) : NULL;
    if (r == LO_OK && !d) r = LO_ERR_NOMEM;
    for (size_t i = 0; i < n && r == LO_OK; i++) {
        r = lo_ops_deployment_get(s, names[i], d);
        if (r == LO_OK) fn(ctx, d);
    }
    lo_free(d);
    lo_free(names);
    return r;
}

typedef struct arm_spec {
    int64_t model_id;
    double weight;
} arm_spec;

/* Mirrors a revision's arms into deployment_routes and makes it current. */
static lo_status apply_routes(lo_store *s, int64_t dep_id, int64_t revision, const arm_spec *arms, int n, bool sticky) {
    lo_status r = ops_exec(s, "DELETE FROM deployment_routes WHERE deployment_id = ?", "i", dep_id);
    for (int i = 0; i < n && r == LO_OK; i++)
        r = ops_exec(s, "INSERT INTO deployment_routes (deployment_id, model_id, weight, sticky) VALUES (?, ?, ?, ?)", "iidi",
                     dep_id, arms[i].model_id, arms[i].weight, (int64_t)sticky);
    if (r == LO_OK) r = ops_exec(s, "UPDATE deployments SET revision = ? WHERE id = ?", "ii", revision, dep_id);
    return r;
}

/* Appends a revision with these arms and applies it. */
static lo_status new_revision(lo_store *s, int64_t dep_id, const arm_spec *arms, int n, bool sticky) {
    int64_t rev = 0;
    lo_status r = ops_scalar_i64(s, &rev, NULL, "SELECT MAX(revision) FROM deployment_revisions WHERE deployment_id = ?", "i", dep_id);
    if (r) return r;
    rev++;
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:I,s:f}", "model_id", (json_int_t)arms[i].model_id, "weight", arms[i].weight));
    char *routes = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    if (!routes) return lo_error(LO_ERR_NOMEM, NULL, "out of memory");
    r = ops_exec(s, "INSERT INTO deployment_revisions (deployment_id, revision, routes, sticky, rolled_back, created_at) VALUES (?, ?, ?, ?, 0, ?)",
                 "iitii", dep_id, rev, routes, (int64_t)sticky, lo_store_now_ms());
    free(routes);
    if (r == LO_OK) r = apply_routes(s, dep_id, rev, arms, n, sticky);
    return r;
}

lo_status lo_ops_deploy(lo_store *s, const char *name, const char *model_ref, const char *canary_ref, double canary_percent,
                        bool sticky, lo_ops_deployment *out) {
    lo_status r = lo_ops_check_name("deployment name", name);
    if (r) return r;
    if (canary_ref && !(isfinite(canary_percent) && canary_percent > 0 && canary_percent < 100))
        return lo_error(LO_ERR_RANGE, "write the canary as MODEL@V:10% (more than 0, less than 100)",
                        "canary share %g%% is out of range", canary_percent);
    bool owned;
    if ((r = ops_begin_serial(s, &owned))) return r;
    lo_ops_model m, c;
    arm_spec arms[2];
    int n = 1;
    r = lo_ops_model_get(s, model_ref, &m);
    if (r == LO_OK && canary_ref) {
        r = lo_ops_model_get(s, canary_ref, &c);
        if (r == LO_OK && c.id == m.id)
            r = lo_error(LO_ERR_INVALID, "give the canary a different model version", "canary %s is the same version as %s", canary_ref, model_ref);
        n = 2;
    }
    int64_t dep_id = 0;
    bool found = false;
    if (r == LO_OK) r = ops_scalar_i64(s, &dep_id, &found, "SELECT id FROM deployments WHERE name = ?", "t", name);
    if (r == LO_OK && !found)
        r = ops_insert(s, &dep_id, "INSERT INTO deployments (name, created_at, revision) VALUES (?, ?, 0) RETURNING id", "ti", name,
                       lo_store_now_ms());
    if (r == LO_OK) {
        arms[0] = (arm_spec){m.id, canary_ref ? 100.0 - canary_percent : 100.0};
        if (canary_ref) arms[1] = (arm_spec){c.id, canary_percent};
        r = new_revision(s, dep_id, arms, n, sticky);
    }
    /* read back inside the transaction: after the commit another writer's revision may
     * already be current */
    if (r == LO_OK && out) r = lo_ops_deployment_get(s, name, out);
    r = ops_end(s, owned, r);
    return r;
}

lo_status lo_ops_promote(lo_store *s, const char *name, lo_ops_deployment *out) {
    bool owned;
    lo_status r = ops_begin_serial(s, &owned);
    if (r) return r;
    lo_ops_deployment *d = lo_malloc(sizeof *d);
    if (!d) return ops_end(s, owned, LO_ERR_NOMEM);
    r = lo_ops_deployment_get(s, name, d);
    if (r == LO_OK && d->n_arms < 2)
        r = lo_error(LO_ERR_INVALID, "deploy with --canary MODEL@V:P% first", "deployment %s has no canary to promote", name);
    if (r == LO_OK) {
        arm_spec a = {d->arms[d->n_arms - 1].model_id, 100.0};
        r = new_revision(s, d->id, &a, 1, d->sticky);
    }
    lo_free(d);
    /* read back inside the transaction: after the commit another writer's revision may
     * already be current */
    if (r == LO_OK && out) r = lo_ops_deployment_get(s, name, out);
    r = ops_end(s, owned, r);
    return r;
}

lo_status lo_ops_rollback(lo_store *s, const char *name, lo_ops_deployment *out) {
    bool owned;
    lo_status r = ops_begin_serial(s, &owned);
    if (r) return r;
    int64_t dep_id = 0, cur = 0, prev = 0;
    bool found = false, have_prev = false;
    r = lo_ops_check_name("deployment name", name);
    if (r == LO_OK) r = ops_scalar_i64(s, &dep_id, &found, "SELECT id FROM deployments WHERE name = ?", "t", name);
    if (r == LO_OK && !found) r = lo_error(LO_ERR_NOT_FOUND, "`llmops deploy ls` lists the deployments", "no deployment %s", name);
    if (r == LO_OK) r = ops_scalar_i64(s, &cur, NULL, "SELECT revision FROM deployments WHERE id = ?", "i", dep_id);
    if (r == LO_OK)
        r = ops_scalar_i64(s, &prev, &have_prev,
                           "SELECT MAX(revision) FROM deployment_revisions WHERE deployment_id = ? AND revision < ? AND rolled_back = 0",
                           "ii", dep_id, cur);
    if (r == LO_OK && !have_prev)
        r = lo_error(LO_ERR_INVALID, "deploy a model version instead", "deployment %s has no earlier revision to roll back to", name);
    lo_stmt *st = NULL;
    bool row = false;
    arm_spec arms[LO_OPS_MAX_ROUTES];
    int n = 0;
    bool sticky = false;
    if (r == LO_OK)
        r = ops_prepare(s, &st, "SELECT routes, sticky FROM deployment_revisions WHERE deployment_id = ? AND revision = ?", "ii", dep_id, prev);
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK && row) {
        const char *text = lo_store_column_text(st, 0);
        sticky = lo_store_column_int64(st, 1) != 0;
        json_t *a = NULL;
        r = lo_json_parse(text ? text : "", text ? strlen(text) : 0, &a);
        if (r == LO_OK && (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > LO_OPS_MAX_ROUTES))
            r = lo_error(LO_ERR_FORMAT, NULL, "revision %lld of %s has malformed routes", (long long)prev, name);
        for (size_t i = 0; r == LO_OK && i < json_array_size(a); i++) {
            json_t *o = json_array_get(a, i);
            int64_t mid = 0;
            double w = 0;
            r = lo_json_get_int(o, "model_id", true, 0, &mid);
            if (r == LO_OK) r = lo_json_get_num(o, "weight", true, 0, &w);
            arms[n++] = (arm_spec){mid, w};
        }
        json_decref(a);
    }
    lo_store_finalize(st);
    if (r == LO_OK) r = ops_exec(s, "UPDATE deployment_revisions SET rolled_back = 1 WHERE deployment_id = ? AND revision = ?", "ii", dep_id, cur);
    if (r == LO_OK) r = apply_routes(s, dep_id, prev, arms, n, sticky);
    /* read back inside the transaction: after the commit another writer's revision may
     * already be current */
    if (r == LO_OK && out) r = lo_ops_deployment_get(s, name, out);
    r = ops_end(s, owned, r);
    return r;
}

static uint64_t mix64(uint64_t x) { /* splitmix64's finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t fnv1a(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

int lo_ops_route(const lo_ops_deployment *d, const char *user, uint64_t seq) {
    if (!d || d->n_arms <= 0) return -1;
    uint64_t x;
    if (d->sticky && user && user[0]) {
        x = mix64(fnv1a(fnv1a(0xcbf29ce484222325ULL, d->name) ^ 0xff, user));
    } else {
        /* seq × 2^64/φ mod 2^64: the golden-ratio additive sequence, whose first n points
         * split [0,1) into arms within O(log n) requests of the exact shares. */
        x = seq * 0x9E3779B97F4A7C15ULL;
    }
    double total = 0;
    for (int i = 0; i < d->n_arms; i++) total += d->arms[i].weight > 0 ? d->arms[i].weight : 0;
    if (!(total > 0)) return 0;
    double u = (double)(x >> 11) * 0x1.0p-53 * total, acc = 0;
    int last = 0;
    for (int i = 0; i < d->n_arms; i++) {
        if (!(d->arms[i].weight > 0)) continue;
        last = i;
        acc += d->arms[i].weight;
        if (u < acc) return i;
    }
    return last;
}
