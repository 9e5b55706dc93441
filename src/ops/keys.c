/* API keys: "lo_<12 hex id>.<43 base64url secret>", shown once at creation. The store
 * keeps the public id, a per-key random salt and sha256(salt || key); checks compare in
 * constant time and consult revocation and the key's spend against its budget. */
#include <math.h>

#include "ops/ops_internal.h"

const char *lo_ops_role_name(lo_ops_role r) {
    return r == LO_OPS_ROLE_ADMIN ? "admin" : "inference";
}

bool lo_ops_role_parse(const char *name, lo_ops_role *out) {
    if (name && strcmp(name, "admin") == 0) return *out = LO_OPS_ROLE_ADMIN, true;
    if (name && strcmp(name, "inference") == 0) return *out = LO_OPS_ROLE_INFERENCE, true;
    return false;
}

static void b64url(const uint8_t *in, size_t n, char *out) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) out[o++] = al[(acc >> (bits -= 6)) & 63];
    }
    if (bits) out[o++] = al[(acc << (6 - bits)) & 63];
    out[o] = 0;
}

static void key_hash(const char *salt_hex, const char *secret, char hex[65]) {
    lo_sha256 h;
    uint8_t d[32];
    lo_sha256_init(&h);
    lo_sha256_update(&h, salt_hex, strlen(salt_hex));
    lo_sha256_update(&h, secret, strlen(secret));
    lo_sha256_final(&h, d);
    lo_hex_encode(d, 32, hex);
}

static const char k_cols[] = "k.key_id, k.name, k.role, k.budget_usd, k.rate_limit_rpm, k.created_at, k.revoked_at, "
                             "(SELECT COALESCE(SUM(r.cost_usd), 0) FROM requests r WHERE r.client_key = k.key_id)";

static void k_read(lo_stmt *st, lo_ops_key *k) {
    ops_copy(k->key_id, sizeof k->key_id, lo_store_column_text(st, 0));
    ops_copy(k->name, sizeof k->name, lo_store_column_text(st, 1));
    lo_ops_role role = LO_OPS_ROLE_INFERENCE;
    lo_ops_role_parse(lo_store_column_text(st, 2), &role);
    k->role = role;
    k->budget_usd = lo_store_column_double(st, 3);
    k->rate_limit_rpm = lo_store_column_int64(st, 4);
    k->created_at = lo_store_column_int64(st, 5);
    k->revoked_at = lo_store_column_int64(st, 6);
    k->spent_usd = lo_store_column_double(st, 7);
}

lo_status lo_ops_key_create(lo_store *s, const char *name, lo_ops_role role, double budget_usd, int64_t rate_limit_rpm,
                            char secret[LO_OPS_KEY_SECRET_BYTES], lo_ops_key *out) {
    lo_status r = lo_ops_check_name("key name", name);
    if (r) return r;
    if (role != LO_OPS_ROLE_ADMIN && role != LO_OPS_ROLE_INFERENCE)
        return lo_error(LO_ERR_INVALID, "use admin or inference", "key role %d is not known", (int)role);
    if (!isfinite(budget_usd) || budget_usd < 0)
        return lo_error(LO_ERR_RANGE, "give dollars, e.g. 25 (0 = unlimited)",
                        "key budget %g is negative or not a number", budget_usd);
    if (rate_limit_rpm < 0 || rate_limit_rpm > 100000000)
        return lo_error(LO_ERR_RANGE, "give requests per minute (0 = unlimited)", "key rate limit %lld is out of range",
                        (long long)rate_limit_rpm);
    uint8_t rnd[6 + 32 + 16];
    if ((r = ops_random(rnd, sizeof rnd))) return r;
    char id[24], body[48], salt[33], hash[65];
    memcpy(id, "lo_", 3);
    lo_hex_encode(rnd, 6, id + 3);
    b64url(rnd + 6, 32, body);
    lo_hex_encode(rnd + 38, 16, salt);
    /* 15 + 1 + 43 + NUL bytes: fits LO_OPS_KEY_SECRET_BYTES. */
    memcpy(secret, id, 15);
    secret[15] = '.';
    memcpy(secret + 16, body, 44);
    key_hash(salt, secret, hash);
    bool owned;
    if ((r = ops_begin_serial(s, &owned))) return r;
    bool taken = false;
    int64_t x;
    r = ops_scalar_i64(s, &x, &taken, "SELECT id FROM api_keys WHERE name = ?", "t", name);
    if (r == LO_OK && taken)
        r = lo_error(LO_ERR_INVALID, "choose another name, or revoke and use `keys ls` to see existing keys",
                     "a key named %s exists", name);
    if (r == LO_OK)
        r = ops_exec(s,
                     "INSERT INTO api_keys (key_id, name, salt, hash, role, budget_usd, rate_limit_rpm, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     "tttttdii", id, name, salt, hash, lo_ops_role_name(role), budget_usd, rate_limit_rpm,
                     lo_store_now_ms());
    r = ops_end(s, owned, r);
    if (r) {
        memset(secret, 0, LO_OPS_KEY_SECRET_BYTES);
        return r;
    }
    if (out) {
        memset(out, 0, sizeof *out);
        ops_copy(out->key_id, sizeof out->key_id, id);
        ops_copy(out->name, sizeof out->name, name);
        out->role = role;
        out->budget_usd = budget_usd;
        out->rate_limit_rpm = rate_limit_rpm;
        out->created_at = lo_store_now_ms();
    }
    return LO_OK;
}

lo_status lo_ops_key_check(lo_store *s, const char *secret, lo_ops_key *out) {
    const char *hint = "send the key given by `llmops keys create` as: Authorization: Bearer KEY";
    if (out) memset(out, 0, sizeof *out);
    /* Shape first, so garbage never reaches the store: lo_ + 12 hex + '.' + 43 base64url. */
    size_t n = secret ? strlen(secret) : 0;
    bool shape = n == 3 + 12 + 1 + 43 && strncmp(secret, "lo_", 3) == 0 && secret[15] == '.';
    for (size_t i = 3; shape && i < 15; i++)
        shape = (secret[i] >= '0' && secret[i] <= '9') || (secret[i] >= 'a' && secret[i] <= 'f');
    if (!shape) return lo_error(LO_ERR_DENIED, hint, "API key is malformed");
    char id[16];
    memcpy(id, secret, 15);
    id[15] = 0;
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s, k.salt, k.hash FROM api_keys k WHERE k.key_id = ?", k_cols);
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st, sql, "t", id);
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK && !row) r = lo_error(LO_ERR_DENIED, hint, "API key %s is not known", id);
    if (r == LO_OK) {
        lo_ops_key k;
        k_read(st, &k);
        char want[65];
        key_hash(lo_store_column_text(st, 8) ? lo_store_column_text(st, 8) : "", secret, want);
        const char *have = lo_store_column_text(st, 9);
        unsigned diff = !have || strlen(have) != 64;
        for (int i = 0; !diff && i < 64; i++) diff |= (unsigned)(want[i] ^ have[i]);
        if (diff)
            r = lo_error(LO_ERR_DENIED, hint, "API key %s: wrong secret", id);
        else if (k.revoked_at)
            r = lo_error(LO_ERR_DENIED, "create a new key with `llmops keys create`", "API key %s is revoked", id);
        else {
            if (k.budget_usd > 0 && k.spent_usd >= k.budget_usd)
                r = lo_error(LO_ERR_DENIED, "raise the budget or use another key",
                             "API key %s has spent its budget ($%.2f of $%.2f)", id, k.spent_usd, k.budget_usd);
            if (out) *out = k; /* authentic: also over its budget (see ops.h) */
        }
    }
    lo_store_finalize(st);
    return r;
}

lo_status lo_ops_key_revoke(lo_store *s, const char *id_or_name) {
    if (!id_or_name || !id_or_name[0])
        return lo_error(LO_ERR_INVALID, "give a key id (lo_...) or name", "key to revoke is empty");
    bool owned;
    lo_status r = ops_begin_serial(s, &owned);
    if (r) return r;
    int64_t row_id = 0;
    bool found = false;
    r = ops_scalar_i64(s, &row_id, &found, "SELECT id FROM api_keys WHERE key_id = ? OR name = ?", "tt", id_or_name,
                       id_or_name);
    if (r == LO_OK && !found)
        r = lo_error(LO_ERR_NOT_FOUND, "`llmops keys ls` lists the keys", "no key %s", id_or_name);
    if (r == LO_OK)
        r = ops_exec(s, "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", "ii",
                     lo_store_now_ms(), row_id);
    return ops_end(s, owned, r);
}

lo_status lo_ops_key_list(lo_store *s, lo_ops_key_fn fn, void *ctx) {
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM api_keys k ORDER BY k.id", k_cols);
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st, sql, "");
    lo_ops_key k;
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) {
        k_read(st, &k);
        fn(ctx, &k);
    }
    lo_store_finalize(st);
    return r;
}
