/* The request log, prices and costs: every served request is one row with its
 * deployment, model version, tokens, timings, status, client key and cost (from the
 * model's price); its content only when content logging is on, optionally redacted. */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "ops/ops_internal.h"

/* ---- prices -------------------------------------------------------------------------- */

static lo_status check_price(const char *what, double v) {
    if (!isfinite(v) || v < 0 || v > 1e6)
        return lo_error(LO_ERR_RANGE, "give dollars per million tokens, e.g. 0.50", "%s price %g is not between 0 and 1000000", what, v);
    return LO_OK;
}

static lo_status check_model_name(const char *name) {
    /* Upstream model names ("gpt-4o-mini", "org/model:tag") are wider than our names. */
    if (!name || !name[0] || strlen(name) > 200)
        return lo_error(LO_ERR_INVALID, "name the model (at most 200 bytes)", "price model name is empty or too long");
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return lo_error(LO_ERR_INVALID, "model names have no spaces or control characters", "price model name '%s' has a space or control character", name);
    return LO_OK;
}

lo_status lo_ops_price_set(lo_store *s, const char *model_name, double in, double out) {
    lo_status r = check_model_name(model_name);
    if (r == LO_OK) r = check_price("input", in);
    if (r == LO_OK) r = check_price("output", out);
    if (r) return r;
    bool owned;
    if ((r = ops_begin(s, &owned))) return r;
    r = ops_exec(s, "DELETE FROM prices WHERE model_name = ?", "t", model_name);
    if (r == LO_OK)
        r = ops_exec(s, "INSERT INTO prices (model_name, usd_per_m_input, usd_per_m_output, updated_at) VALUES (?, ?, ?, ?)", "tddi",
                     model_name, in, out, lo_store_now_ms());
    return ops_end(s, owned, r);
}

lo_status lo_ops_price_get(lo_store *s, const char *model_name, double *in, double *out) {
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st, "SELECT usd_per_m_input, usd_per_m_output FROM prices WHERE model_name = ?", "t", model_name);
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK && !row)
        r = lo_error(LO_ERR_NOT_FOUND, "set one with `llmops costs price MODEL --input X --output Y`", "no price for model %s", model_name);
    if (r == LO_OK) {
        *in = lo_store_column_double(st, 0);
        *out = lo_store_column_double(st, 1);
    }
    lo_store_finalize(st);
    return r;
}

lo_status lo_ops_price_list(lo_store *s, lo_ops_price_fn fn, void *ctx) {
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st, "SELECT model_name, usd_per_m_input, usd_per_m_output FROM prices ORDER BY model_name", "");
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row)
        fn(ctx, lo_store_column_text(st, 0), lo_store_column_double(st, 1), lo_store_column_double(st, 2));
    lo_store_finalize(st);
    return r;
}

lo_status lo_ops_price_derive(double usd_per_hour, double tokens_per_s, double *usd_per_m) {
    if (!isfinite(usd_per_hour) || usd_per_hour <= 0)
        return lo_error(LO_ERR_RANGE, "give the machine's cost in dollars per hour, e.g. 1.20", "$/hour %g must be positive", usd_per_hour);
    if (!isfinite(tokens_per_s) || tokens_per_s <= 0)
        return lo_error(LO_ERR_RANGE, "measure it with `llmops bench`", "tokens/s %g must be positive", tokens_per_s);
    /* $/hour ÷ (tokens/s × 3600 s/hour) = $/token; × 10^6 per million. */
    *usd_per_m = usd_per_hour / (tokens_per_s * 3600.0) * 1e6;
    return LO_OK;
}

/* ---- redaction ----------------------------------------------------------------------- */

bool lo_ops_luhn_valid(const char *digits, size_t n) {
    if (n == 0) return false;
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = digits[n - 1 - i] - '0';
        if (d < 0 || d > 9) return false;
        if (i & 1) {
            d *= 2;
            if (d > 9) d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->n + n + 1) nc *= 2;
        char *p = lo_realloc(b->p, nc);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p, b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
static bool is_local(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Length of an e-mail address starting at t (local@label.label...tld), or 0. */
static size_t match_email(const char *t) {
    size_t i = 0;
    while (is_local(t[i])) i++;
    if (i == 0 || t[i] != '@') return 0;
    size_t j = i + 1, dots = 0, label = 0, last_label = 0, end = 0;
    bool alpha_tld = true;
    for (;; j++) {
        char c = t[j];
        if (is_alnum(c) || c == '-') {
            if (label == 0) alpha_tld = true;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) alpha_tld = false;
            label++;
        } else if (c == '.' && label > 0 && is_alnum(t[j + 1])) {
            dots++;
            last_label = label;
            label = 0;
        } else {
            break;
        }
        if (dots > 0 && label >= 2 && alpha_tld) end = j + 1;
    }
    (void)last_label;
    return end;
}

/* A run of digits with single separators (" -.()", a leading '+'); fills the digits and
 * whether only spaces/dashes separated them. Returns the length of the run up to its last
 * digit (a closing ')' included), or 0. */
static size_t match_number(const char *t, char *digits, size_t *n_digits, bool *card_seps, bool *plus, int *groups,
                           int *n_groups) {
    size_t i = 0, end = 0, nd = 0;
    int ng = 0, glen = 0;
    *card_seps = true;
    *plus = false;
    if (t[0] == '+') *plus = true, i = 1;
    int seps = 0;
    for (;; i++) {
        char c = t[i];
        if (is_digit(c)) {
            if (nd < 32) digits[nd] = c;
            nd++;
            glen++;
            seps = 0;
            end = i + 1;
        } else if ((c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') && seps < 2) {
            if (c == ')' && nd > 0) end = i + 1;
            if (c != ' ' && c != '-') *card_seps = false;
            if (glen) {
                if (ng < 24) groups[ng] = glen;
                ng++;
                glen = 0;
            }
            seps++;
        } else {
            break;
        }
    }
    if (glen) {
        if (ng < 24) groups[ng] = glen;
        ng++;
    }
    *n_digits = nd;
    *n_groups = ng;
    return nd ? end : 0;
}

lo_status lo_ops_redact(const char *text, char **out, int *n_redacted) {
    sbuf b = {0};
    int n = 0;
    size_t i = 0;
    sb_put(&b, "", 0);
    while (text[i]) {
        char c = text[i];
        bool boundary = i == 0 || !is_alnum(text[i - 1]);
        if (boundary && is_local(c) && c != '.') {
            size_t k = match_email(text + i);
            if (k) {
                sb_put(&b, "[EMAIL]", 7);
                n++;
                i += k;
                continue;
            }
        }
        if (boundary && (is_digit(c) || ((c == '+' || c == '(') && is_digit(text[i + 1])))) {
            char digits[32];
            size_t nd;
            bool card_seps, plus;
            int groups[24], ng;
            size_t k = match_number(text + i, digits, &nd, &card_seps, &plus, groups, &ng);
            bool next_alnum = k && is_alnum(text[i + k]);
            if (k && !next_alnum) {
                if (nd >= 13 && nd <= 19 && card_seps && !plus && lo_ops_luhn_valid(digits, nd)) {
                    sb_put(&b, "[CARD]", 6);
                    n++;
                    i += k;
                    continue;
                }
                /* Phones: international (+ and 8-15 digits), 10-15 digits, or the local
                 * 3-4 form (555-1234); dates (4-2-2) and short numbers stay. */
                bool phone = (plus && nd >= 8 && nd <= 15) || (nd >= 10 && nd <= 15) ||
                             (nd == 7 && ng == 2 && groups[0] == 3 && groups[1] == 4);
                if (phone) {
                    sb_put(&b, "[PHONE]", 7);
                    n++;
                    i += k;
                    continue;
                }
            }
            /* Not sensitive: copy the whole run so its tail is not re-matched. */
            size_t skip = 1;
            if (k && !next_alnum) skip = k;
            else
                while (is_alnum(text[i + skip])) skip++;
            sb_put(&b, text + i, skip);
            i += skip;
            continue;
        }
        sb_put(&b, text + i, 1);
        i++;
    }
    if (b.oom) {
        lo_free(b.p);
        return lo_error(LO_ERR_NOMEM, NULL, "out of memory redacting %zu bytes", strlen(text));
    }
    *out = b.p;
    if (n_redacted) *n_redacted = n;
    return LO_OK;
}

/* Redacts every string inside a JSON value in place. */
static lo_status redact_json(json_t *v, int *n) {
    if (json_is_string(v)) {
        char *red;
        int k = 0;
        lo_status r = lo_ops_redact(json_string_value(v), &red, &k);
        if (r) return r;
        if (k) json_string_set(v, red);
        *n += k;
        lo_free(red);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            lo_status r = redact_json(json_array_get(v, i), n);
            if (r) return r;
        }
    } else if (json_is_object(v)) {
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x) {
            lo_status r = redact_json(x, n);
            if (r) return r;
        }
    }
    return LO_OK;
}

/* {"messages": [...], "completion": "..."} as text (malloc'd by jansson). */
static lo_status build_content(const lo_ops_request *q, bool redact, char **text, bool *redacted) {
    json_t *msgs = NULL;
    if (q->messages_json) {
        lo_status r = lo_json_parse(q->messages_json, strlen(q->messages_json), &msgs);
        if (r) return lo_error_wrap(r, "request messages");
        if (!json_is_array(msgs)) {
            json_decref(msgs);
            return lo_error(LO_ERR_INVALID, "pass the request's messages array", "request messages are not a JSON array");
        }
    } else {
        msgs = json_array();
    }
    json_t *o = json_object();
    json_object_set_new(o, "messages", msgs);
    json_object_set_new(o, "completion", json_string(q->completion ? q->completion : ""));
    if (!json_is_string(json_object_get(o, "completion"))) {
        json_decref(o);
        return lo_error(LO_ERR_INVALID, "send UTF-8 text", "request completion is not valid UTF-8");
    }
    int n = 0;
    lo_status r = redact ? redact_json(o, &n) : LO_OK;
    *redacted = redact;
    *text = r == LO_OK ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (r == LO_OK && !*text) r = lo_error(LO_ERR_NOMEM, NULL, "out of memory");
    return r;
}

lo_status ops_check_request(const lo_ops_request *q, int i) {
    const char *what = NULL;
    if (q->prompt_tokens < 0) what = "prompt_tokens is negative";
    else if (q->completion_tokens < 0) what = "completion_tokens is negative";
    else if (!q->status || !q->status[0] || strlen(q->status) > 32) what = "status is empty or longer than 32 bytes";
    else if (!isfinite(q->queue_ms) || !isfinite(q->ttft_ms) || !isfinite(q->latency_ms) || !isfinite(q->cost_usd)) what = "a timing or the cost is not finite";
    else if (q->external_id && (!q->external_id[0] || strlen(q->external_id) > 128)) what = "external_id is empty or longer than 128 bytes";
    else if (q->client_key && strlen(q->client_key) > 64) what = "client_key is longer than 64 bytes";
    else if (q->user && strlen(q->user) > 256) what = "user is longer than 256 bytes";
    else if (q->model_id < 0) what = "model_id is negative";
    if (what) return lo_error(LO_ERR_INVALID, "fix the caller that builds the request record", "request %d: %s", i, what);
    return LO_OK;
}

/* Per-batch lookups: a batch names few deployments, models and prices, so remembering
 * the answers spares a round trip (or three) per request. */
#define BATCH_CACHE 8
typedef struct batch_cache {
    struct {
        char name[LO_OPS_NAME_MAX + 1];
        int64_t id;
    } dep[BATCH_CACHE];
    struct {
        int64_t id;
        char name[LO_OPS_NAME_MAX + 1];
    } model[BATCH_CACHE];
    struct {
        char name[256];
        double in, out;
    } price[BATCH_CACHE];
    int n_dep, n_model, n_price;
} batch_cache;

static lo_status cached_deployment(lo_store *s, batch_cache *c, const char *name, int64_t *id) {
    for (int i = 0; i < c->n_dep; i++)
        if (strcmp(c->dep[i].name, name) == 0) return *id = c->dep[i].id, LO_OK;
    bool found = false;
    lo_status r = ops_scalar_i64(s, id, &found, "SELECT id FROM deployments WHERE name = ?", "t", name);
    if (r == LO_OK && !found) return LO_ERR_NOT_FOUND;
    if (r == LO_OK && c->n_dep < BATCH_CACHE && strlen(name) <= LO_OPS_NAME_MAX) {
        ops_copy(c->dep[c->n_dep].name, sizeof c->dep[0].name, name);
        c->dep[c->n_dep++].id = *id;
    }
    return r;
}

/* *name points into the cache (or is NULL when the cache is full and the name unknown). */
static lo_status cached_model(lo_store *s, batch_cache *c, int64_t id, const char **name) {
    for (int i = 0; i < c->n_model; i++)
        if (c->model[i].id == id) return *name = c->model[i].name, LO_OK;
    int k = c->n_model < BATCH_CACHE ? c->n_model++ : BATCH_CACHE - 1; /* full: reuse the last slot */
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st, "SELECT name FROM models WHERE id = ?", "i", id);
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK && !row) r = LO_ERR_NOT_FOUND;
    if (r == LO_OK) {
        c->model[k].id = id;
        ops_copy(c->model[k].name, sizeof c->model[k].name, lo_store_column_text(st, 0));
        *name = c->model[k].name;
    } else {
        c->model[k].id = 0;
    }
    lo_store_finalize(st);
    return r;
}

/* No price row: 0 and 0 (the request is still logged, at no cost). */
static lo_status cached_price(lo_store *s, batch_cache *c, const char *name, double *in, double *out) {
    for (int i = 0; i < c->n_price; i++)
        if (strcmp(c->price[i].name, name) == 0) return *in = c->price[i].in, *out = c->price[i].out, LO_OK;
    lo_stmt *st = NULL;
    bool row = false;
    *in = *out = 0;
    lo_status r = ops_prepare(s, &st, "SELECT usd_per_m_input, usd_per_m_output FROM prices WHERE model_name = ?", "t", name);
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK && row) *in = lo_store_column_double(st, 0), *out = lo_store_column_double(st, 1);
    lo_store_finalize(st);
    if (r == LO_OK && c->n_price < BATCH_CACHE && strlen(name) < sizeof c->price[0].name) {
        ops_copy(c->price[c->n_price].name, sizeof c->price[0].name, name);
        c->price[c->n_price].in = *in, c->price[c->n_price++].out = *out;
    }
    return r;
}

/* Rows per INSERT: one statement (one round trip on PostgreSQL) carries up to this many
 * requests, 16 parameters each. */
#define INSERT_CHUNK 64
#define INSERT_COLS 16

/* "INSERT INTO requests (...) VALUES (?, ...), ... RETURNING id, external_id" for k rows. */
static lo_status prepare_insert(lo_store *s, int k, lo_stmt **st) {
    static const char head[] =
        "INSERT INTO requests (external_id, created_at, deployment_id, model_id, prompt_tokens, completion_tokens, "
        "cost_usd, queue_ms, ttft_ms, latency_ms, status, client_key, content, model_name, user_id, content_redacted) VALUES ";
    static const char row[] = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    static const char tail[] = " RETURNING id, external_id";
    _Static_assert(sizeof row - 1 == INSERT_COLS * 3 - 2 + 2, "one ? per column");
    char sql[sizeof head + INSERT_CHUNK * (sizeof row + 2) + sizeof tail];
    size_t o = 0;
    memcpy(sql, head, sizeof head - 1), o += sizeof head - 1;
    for (int i = 0; i < k; i++) {
        if (i) sql[o++] = ',', sql[o++] = ' ';
        memcpy(sql + o, row, sizeof row - 1), o += sizeof row - 1;
    }
    memcpy(sql + o, tail, sizeof tail);
    return lo_store_prepare(s, sql, st);
}

/* Binds request q as row j of an INSERT (parameters 16j+1 .. 16j+16). */
static lo_status bind_request(lo_stmt *ins, int j, const lo_ops_request *q, const char *ext_id, int64_t dep, const char *mname,
                              double cost, const char *content, bool redacted) {
    int k = j * INSERT_COLS + 1;
    lo_store_bind_text(ins, k++, ext_id);
    lo_store_bind_int64(ins, k++, q->created_at ? q->created_at : lo_store_now_ms());
    if (dep) lo_store_bind_int64(ins, k++, dep); else lo_store_bind_null(ins, k++);
    if (q->model_id) lo_store_bind_int64(ins, k++, q->model_id); else lo_store_bind_null(ins, k++);
    lo_store_bind_int64(ins, k++, q->prompt_tokens);
    lo_store_bind_int64(ins, k++, q->completion_tokens);
    lo_store_bind_double(ins, k++, cost);
    const double t[3] = {q->queue_ms, q->ttft_ms, q->latency_ms};
    for (int i = 0; i < 3; i++)
        if (t[i] >= 0) lo_store_bind_double(ins, k++, t[i]); else lo_store_bind_null(ins, k++);
    lo_store_bind_text(ins, k++, q->status);
    lo_store_bind_text(ins, k++, q->client_key);
    lo_store_bind_text(ins, k++, content);
    lo_store_bind_text(ins, k++, mname && mname[0] ? mname : NULL);
    lo_store_bind_text(ins, k++, q->user && q->user[0] ? q->user : NULL);
    return lo_store_bind_int64(ins, k++, redacted);
}

/* Runs a bound chunk of k rows starting at reqs[first]; ids (may be NULL) get the row ids,
 * matched by external id because RETURNING promises no order. */
static lo_status run_chunk(lo_stmt *ins, int first, int k, char (*ext)[136], int64_t *ids) {
    bool row = false;
    int got = 0;
    lo_status r;
    while ((r = lo_store_step(ins, &row)) == LO_OK && row) {
        got++;
        const char *e = lo_store_column_text(ins, 1);
        for (int j = 0; ids && e && j < k; j++)
            if (strcmp(ext[j], e) == 0) {
                ids[first + j] = lo_store_column_int64(ins, 0);
                break;
            }
    }
    if (r == LO_OK && got != k) r = lo_error(LO_ERR_INTERNAL, NULL, "request log: %d rows inserted, %d expected", got, k);
    if (r == LO_ERR_INVALID) lo_error_wrap(r, "requests %d-%d", first, first + k - 1);
    return r;
}

lo_status lo_ops_log_requests(lo_store *s, const lo_ops_request *reqs, int n, bool log_content, bool redact, int64_t *ids) {
    if (n < 0 || (n > 0 && !reqs)) return lo_error(LO_ERR_INVALID, NULL, "bad request batch");
    for (int i = 0; i < n; i++) {
        lo_status r = ops_check_request(&reqs[i], i);
        if (r) return r;
    }
    bool owned;
    lo_status r = ops_begin(s, &owned);
    if (r) return r;
    batch_cache cache;
    cache.n_dep = cache.n_model = cache.n_price = 0;
    lo_stmt *full = NULL, *ins = NULL; /* full: the INSERT_CHUNK-row statement, reused */
    char (*ext)[136] = lo_malloc(INSERT_CHUNK * sizeof *ext); /* the chunk's external ids */
    if (!ext) r = LO_ERR_NOMEM;
    for (int first = 0; first < n && r == LO_OK; first += INSERT_CHUNK) {
        int k = n - first < INSERT_CHUNK ? n - first : INSERT_CHUNK;
        if (k == INSERT_CHUNK && full) r = lo_store_reset(full);
        else if (k == INSERT_CHUNK) r = prepare_insert(s, k, &full);
        else r = prepare_insert(s, k, &ins);
        lo_stmt *st = k == INSERT_CHUNK ? full : ins;
        for (int j = 0; j < k && r == LO_OK; j++) {
            int i = first + j;
            const lo_ops_request *q = &reqs[i];
            int64_t dep = 0;
            if (q->deployment) {
                r = cached_deployment(s, &cache, q->deployment, &dep);
                if (r == LO_ERR_NOT_FOUND) lo_error(r, "deploy it first (`llmops deploy NAME MODEL@V`)", "request %d: no deployment %s", i, q->deployment);
            }
            const char *mname = q->model_name;
            if (r == LO_OK && q->model_id) {
                r = cached_model(s, &cache, q->model_id, &mname);
                if (r == LO_ERR_NOT_FOUND) lo_error(r, NULL, "request %d: no model with id %lld", i, (long long)q->model_id);
            }
            double cost = q->cost_usd;
            if (r == LO_OK && cost < 0) {
                double pin = 0, pout = 0;
                if (mname && mname[0]) r = cached_price(s, &cache, mname, &pin, &pout);
                cost = ((double)q->prompt_tokens * pin + (double)q->completion_tokens * pout) / 1e6;
            }
            if (r == LO_OK && q->external_id) {
                ops_copy(ext[j], sizeof ext[j], q->external_id); /* ≤ 128 bytes (checked) */
            } else if (r == LO_OK) {
                uint8_t rnd[12];
                r = ops_random(rnd, sizeof rnd);
                memcpy(ext[j], "req-", 4);
                lo_hex_encode(rnd, sizeof rnd, ext[j] + 4);
            }
            char *content = NULL;
            bool redacted = false;
            if (r == LO_OK && log_content && (q->messages_json || q->completion)) r = build_content(q, redact, &content, &redacted);
            if (r == LO_OK) r = bind_request(st, j, q, ext[j], dep, mname, cost, content, redacted);
            free(content);
        }
        if (r == LO_OK) r = run_chunk(st, first, k, ext, ids);
    }
    lo_store_finalize(full);
    lo_store_finalize(ins);
    lo_free(ext);
    return ops_end(s, owned, r);
}

lo_status lo_ops_log_request(lo_store *s, const lo_ops_request *q, bool log_content, bool redact, int64_t *id) {
    return lo_ops_log_requests(s, q, 1, log_content, redact, id);
}

/* ---- costs --------------------------------------------------------------------------- */

lo_status lo_ops_costs(lo_store *s, lo_ops_cost_by by, int64_t since_ms, lo_ops_cost_fn fn, void *ctx) {
    const char *group, *join;
    switch (by) {
    case LO_OPS_BY_MODEL:
        group = "COALESCE(m.name || '@' || m.version, r.model_name, '(none)')";
        join = "LEFT JOIN models m ON m.id = r.model_id";
        break;
    case LO_OPS_BY_DEPLOYMENT:
        group = "COALESCE(d.name, '(none)')";
        join = "LEFT JOIN deployments d ON d.id = r.deployment_id";
        break;
    case LO_OPS_BY_KEY:
        group = "COALESCE(r.client_key, '(none)')";
        join = "";
        break;
    default: return lo_error(LO_ERR_INVALID, "use model, deployment or key", "unknown cost grouping %d", (int)by);
    }
    char sql[768];
    snprintf(sql, sizeof sql,
             "SELECT %s AS grp, COUNT(*), CAST(SUM(r.prompt_tokens) AS BIGINT), CAST(SUM(r.completion_tokens) AS BIGINT), "
             "SUM(r.cost_usd) FROM requests r %s WHERE r.created_at >= ? GROUP BY %s ORDER BY 5 DESC, 1",
             group, join, group);
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st, sql, "i", since_ms);
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) {
        lo_ops_cost_row c = {lo_store_column_text(st, 0), lo_store_column_int64(st, 1), lo_store_column_int64(st, 2),
                             lo_store_column_int64(st, 3), lo_store_column_double(st, 4)};
        fn(ctx, &c);
    }
    lo_store_finalize(st);
    return r;
}

lo_status lo_ops_parse_time(const char *text, int64_t *ms) {
    const char *hint = "write YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z] (UTC) or Unix milliseconds";
    if (!text || !text[0]) return lo_error(LO_ERR_INVALID, hint, "date is empty");
    bool digits = true;
    for (const char *p = text; *p; p++) digits &= is_digit(*p);
    if (digits) {
        if (strlen(text) > 15) return lo_error(LO_ERR_RANGE, hint, "time '%s' is too large", text);
        *ms = strtoll(text, NULL, 10);
        return LO_OK;
    }
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, used = 0;
    if (sscanf(text, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
        return lo_error(LO_ERR_INVALID, hint, "'%s' is not a date", text);
    const char *rest = text + used;
    if (*rest == 'T' || *rest == ' ') {
        int u2 = 0;
        if (sscanf(rest + 1, "%2d:%2d%n", &h, &mi, &u2) != 2 || u2 != 5) return lo_error(LO_ERR_INVALID, hint, "'%s' has a bad time", text);
        rest += 1 + u2;
        if (*rest == ':') {
            int u3 = 0;
            if (sscanf(rest + 1, "%2d%n", &sec, &u3) != 1 || u3 != 2) return lo_error(LO_ERR_INVALID, hint, "'%s' has bad seconds", text);
            rest += 1 + u3;
        }
        if (*rest == 'Z') rest++;
    }
    if (*rest) return lo_error(LO_ERR_INVALID, hint, "'%s' has extra text '%s'", text, rest);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return lo_error(LO_ERR_RANGE, hint, "'%s' is not a valid date and time", text);
    struct tm tm = {0};
    tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (tm.tm_mday != d) return lo_error(LO_ERR_RANGE, hint, "'%s': month %d has no day %d", text, mo, d);
    *ms = (int64_t)t * 1000;
    return LO_OK;
}
