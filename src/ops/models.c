/* The model registry: versions of a named model (1, 2, ...) with the GGUF's sha256 and a
 * metadata summary, lineage (producing run, base version), aliases and tags. */
#include <stdlib.h>

#include "llmops/gguf.h"
#include "ops/ops_internal.h"

static const char m_cols[] =
    "m.id, m.name, m.version, m.gguf_path, m.sha256, m.base_model_id, m.run_id, m.metadata, m.created_at, m.eval_summary";

static void m_read(lo_stmt *st, lo_ops_model *m) {
    m->id = lo_store_column_int64(st, 0);
    ops_copy(m->name, sizeof m->name, lo_store_column_text(st, 1));
    ops_copy(m->version, sizeof m->version, lo_store_column_text(st, 2));
    ops_copy(m->gguf_path, sizeof m->gguf_path, lo_store_column_text(st, 3));
    ops_copy(m->sha256, sizeof m->sha256, lo_store_column_text(st, 4));
    m->base_model_id = lo_store_column_int64(st, 5);
    m->run_id = lo_store_column_int64(st, 6);
    ops_copy(m->metadata, sizeof m->metadata, lo_store_column_text(st, 7));
    m->created_at = lo_store_column_int64(st, 8);
    ops_copy(m->eval_summary, sizeof m->eval_summary, lo_store_column_text(st, 9));
    m->aliases[0] = 0;
}

/* Fills m->aliases ("production,staging"). */
static lo_status m_aliases(lo_store *s, lo_ops_model *m) {
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st, "SELECT alias FROM model_aliases WHERE model_id = ? ORDER BY alias", "i", m->id);
    size_t used = 0;
    m->aliases[0] = 0;
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) {
        const char *a = lo_store_column_text(st, 0);
        size_t n = strlen(a);
        if (used + n + 2 > sizeof m->aliases) break;
        if (used) m->aliases[used++] = ',';
        memcpy(m->aliases + used, a, n + 1);
        used += n;
    }
    lo_store_finalize(st);
    return r;
}

static bool all_digits(const char *v) {
    if (!*v) return false;
    for (; *v; v++)
        if (*v < '0' || *v > '9') return false;
    return true;
}

lo_status lo_ops_model_get(lo_store *s, const char *ref, lo_ops_model *out) {
    char name[LO_OPS_NAME_MAX + 1], sql[512];
    const char *ver;
    lo_status r = ops_split_ref("model", ref, name, &ver);
    if (r) return r;
    lo_stmt *st = NULL;
    if (!ver) {
        snprintf(sql, sizeof sql, "SELECT %s FROM models m WHERE m.name = ? ORDER BY m.id DESC LIMIT 1", m_cols);
        r = ops_prepare(s, &st, sql, "t", name);
    } else if (all_digits(ver)) {
        snprintf(sql, sizeof sql, "SELECT %s FROM models m WHERE m.name = ? AND m.version = ?", m_cols);
        r = ops_prepare(s, &st, sql, "tt", name, ver);
    } else {
        if ((r = lo_ops_check_name("model alias", ver))) return r;
        snprintf(sql, sizeof sql,
                 "SELECT %s FROM models m JOIN model_aliases a ON a.model_id = m.id WHERE a.name = ? AND a.alias = ?", m_cols);
        r = ops_prepare(s, &st, sql, "tt", name, ver);
    }
    bool row = false;
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK && !row)
        r = lo_error(LO_ERR_NOT_FOUND, "`llmops models ls` lists the models, versions and aliases", "no model %s", ref);
    if (r == LO_OK) m_read(st, out);
    lo_store_finalize(st);
    if (r == LO_OK) r = m_aliases(s, out);
    return r;
}

lo_status lo_ops_model_get_id(lo_store *s, int64_t id, lo_ops_model *out) {
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM models m WHERE m.id = ?", m_cols);
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st, sql, "i", id);
    if (r == LO_OK) r = lo_store_step(st, &row);
    if (r == LO_OK && !row) r = lo_error(LO_ERR_NOT_FOUND, NULL, "no model with id %lld", (long long)id);
    if (r == LO_OK) m_read(st, out);
    lo_store_finalize(st);
    if (r == LO_OK) r = m_aliases(s, out);
    return r;
}

lo_status lo_ops_model_list(lo_store *s, const char *name, lo_ops_model_fn fn, void *ctx) {
    char sql[512];
    lo_stmt *st = NULL;
    lo_status r;
    if (name) {
        if ((r = lo_ops_check_name("model name", name))) return r;
        snprintf(sql, sizeof sql, "SELECT %s FROM models m WHERE m.name = ? ORDER BY m.id DESC", m_cols);
        r = ops_prepare(s, &st, sql, "t", name);
    } else {
        snprintf(sql, sizeof sql, "SELECT %s FROM models m ORDER BY m.name, m.id DESC", m_cols);
        r = ops_prepare(s, &st, sql, "");
    }
    /* Read all rows first: the alias lookup needs the connection between steps. */
    lo_ops_model *all = NULL;
    size_t n = 0, cap = 0;
    bool row = false;
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            lo_ops_model *p = lo_realloc(all, nc * sizeof *all);
            if (!p) {
                r = LO_ERR_NOMEM;
                break;
            }
            all = p, cap = nc;
        }
        m_read(st, &all[n++]);
    }
    lo_store_finalize(st);
    for (size_t i = 0; i < n && r == LO_OK; i++) {
        r = m_aliases(s, &all[i]);
        if (r == LO_OK) fn(ctx, &all[i]);
    }
    lo_free(all);
    return r;
}

/* {"arch":..., "name":..., "gguf_version":N, "file_type":N, "context_length":N,
 *  "n_tensors":N, "n_params":N, "bytes":N} of a validated GGUF. */
static lo_status gguf_summary(const char *path, char *out, size_t cap) {
    lo_gguf *g = NULL;
    lo_status r = lo_gguf_open(path, &g);
    if (r) return r;
    json_t *o = json_object();
    lo_gguf_str arch = lo_gguf_arch(g), nm;
    json_object_set_new(o, "arch", json_stringn_nocheck(arch.data ? arch.data : "", arch.len));
    if (lo_gguf_get_str(g, "general.name", &nm)) json_object_set_new(o, "name", json_stringn_nocheck(nm.data, nm.len));
    json_object_set_new(o, "gguf_version", json_integer(lo_gguf_version(g)));
    uint64_t u;
    if (lo_gguf_get_u64(g, "general.file_type", &u)) json_object_set_new(o, "file_type", json_integer((json_int_t)u));
    char key[160];
    snprintf(key, sizeof key, "%.*s.context_length", (int)(arch.len < 100 ? arch.len : 100), arch.data ? arch.data : "");
    if (lo_gguf_get_u64(g, key, &u)) json_object_set_new(o, "context_length", json_integer((json_int_t)u));
    int64_t nt = lo_gguf_n_tensors(g);
    double n_params = 0;
    for (int64_t i = 0; i < nt; i++) {
        const lo_gguf_tensor *t = lo_gguf_tensor_at(g, i);
        double e = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) e *= (double)t->ne[d];
        n_params += e;
    }
    json_object_set_new(o, "n_tensors", json_integer(nt));
    json_object_set_new(o, "n_params", json_integer((json_int_t)n_params));
    json_object_set_new(o, "bytes", json_integer((json_int_t)lo_gguf_file_bytes(g)));
    lo_gguf_close(g);
    char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!text) return lo_error(LO_ERR_NOMEM, NULL, "out of memory");
    if (strlen(text) >= cap) { /* a huge general.name: keep the numbers */
        json_t *again = json_loads(text, 0, NULL);
        json_object_del(again, "name");
        free(text);
        text = json_dumps(again, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(again);
    }
    ops_copy(out, cap, text);
    free(text);
    return LO_OK;
}

lo_status lo_ops_model_register(lo_store *s, const char *name, const char *path, int64_t run_id, const char *base_ref,
                                lo_ops_model *out, bool *existed) {
    lo_status r = lo_ops_check_name("model name", name);
    if (r) return r;
    if (!path || !path[0]) return lo_error(LO_ERR_INVALID, "give the model's GGUF file", "model file path is empty");
    if (strlen(path) >= LO_OPS_PATH_MAX) return lo_error(LO_ERR_INVALID, NULL, "model path is longer than %d bytes", LO_OPS_PATH_MAX - 1);
    char meta[1024], hex[65];
    r = gguf_summary(path, meta, sizeof meta);
    if (r) return lo_error_wrap(r, "registering %s", name);
    r = lo_sha256_file_hex(path, hex);
    if (r) return lo_error_wrap(r, "registering %s", name);
    char *abs = realpath(path, NULL);
    bool owned;
    int64_t base_id = 0, id = 0;
    bool found = false;
    r = ops_begin_serial(s, &owned);
    if (r) goto done;
    if (base_ref) {
        lo_ops_model b;
        r = lo_ops_model_get(s, base_ref, &b);
        if (r) lo_error_wrap(r, "base model");
        else base_id = b.id;
    }
    if (r == LO_OK && run_id) {
        bool have = false;
        int64_t x;
        r = ops_scalar_i64(s, &x, &have, "SELECT id FROM runs WHERE id = ?", "i", run_id);
        if (r == LO_OK && !have)
            r = lo_error(LO_ERR_NOT_FOUND, "`llmops runs ls` lists the runs", "no run %lld", (long long)run_id);
    }
    if (r == LO_OK)
        r = ops_scalar_i64(s, &id, &found, "SELECT id FROM models WHERE name = ? AND sha256 = ? ORDER BY id LIMIT 1", "tt",
                           name, hex);
    if (r == LO_OK && !found) {
        int64_t last = 0;
        lo_stmt *st = NULL;
        bool row = false;
        r = ops_prepare(s, &st, "SELECT version FROM models WHERE name = ?", "t", name);
        while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) {
            long long v = atoll(lo_store_column_text(st, 0));
            if (v > last) last = v;
        }
        lo_store_finalize(st);
        char ver[24];
        snprintf(ver, sizeof ver, "%lld", (long long)last + 1);
        if (r == LO_OK)
            r = ops_insert(s, &id,
                           "INSERT INTO models (name, version, gguf_path, sha256, base_model_id, eval_summary, created_at, run_id, metadata) "
                           "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?) RETURNING id",
                           "ttttzizt", name, ver, abs ? abs : path, hex, base_id, lo_store_now_ms(), run_id, meta);
    }
    r = ops_end(s, owned, r);
    if (r == LO_OK) {
        if (existed) *existed = found;
        if (out) r = lo_ops_model_get_id(s, id, out);
    }
done:
    free(abs);
    return r;
}

lo_status lo_ops_model_alias(lo_store *s, const char *ref, const char *alias) {
    lo_status r = lo_ops_check_name("alias", alias);
    if (r) return r;
    if (all_digits(alias))
        return lo_error(LO_ERR_INVALID, "use a word such as production or staging", "alias '%s' would read as a version number", alias);
    bool owned;
    if ((r = ops_begin_serial(s, &owned))) return r;
    lo_ops_model m;
    r = lo_ops_model_get(s, ref, &m);
    if (r == LO_OK) r = ops_exec(s, "DELETE FROM model_aliases WHERE name = ? AND alias = ?", "tt", m.name, alias);
    if (r == LO_OK)
        r = ops_exec(s, "INSERT INTO model_aliases (name, alias, model_id, updated_at) VALUES (?, ?, ?, ?)", "ttii", m.name,
                     alias, m.id, lo_store_now_ms());
    return ops_end(s, owned, r);
}

lo_status lo_ops_model_tag(lo_store *s, const char *ref, const char *tag, const char *value) {
    lo_status r = lo_ops_check_name("tag", tag);
    if (r) return r;
    if (value && strlen(value) > 1024) return lo_error(LO_ERR_INVALID, NULL, "tag value is longer than 1024 bytes");
    bool owned;
    if ((r = ops_begin_serial(s, &owned))) return r;
    lo_ops_model m;
    r = lo_ops_model_get(s, ref, &m);
    if (r == LO_OK) r = ops_exec(s, "DELETE FROM model_tags WHERE model_id = ? AND tag = ?", "it", m.id, tag);
    if (r == LO_OK && value)
        r = ops_exec(s, "INSERT INTO model_tags (model_id, tag, value) VALUES (?, ?, ?)", "itt", m.id, tag, value);
    return ops_end(s, owned, r);
}

lo_status lo_ops_model_tags(lo_store *s, const char *ref, lo_ops_tag_fn fn, void *ctx) {
    lo_ops_model m;
    lo_status r = lo_ops_model_get(s, ref, &m);
    if (r) return r;
    lo_stmt *st = NULL;
    bool row = false;
    r = ops_prepare(s, &st, "SELECT tag, value FROM model_tags WHERE model_id = ? ORDER BY tag", "i", m.id);
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) {
        const char *v = lo_store_column_text(st, 1);
        fn(ctx, lo_store_column_text(st, 0), v ? v : "");
    }
    lo_store_finalize(st);
    return r;
}

lo_status lo_ops_model_set_eval(lo_store *s, const char *ref, const char *summary_json) {
    json_t *v = NULL;
    lo_status r = lo_json_parse(summary_json ? summary_json : "", summary_json ? strlen(summary_json) : 0, &v);
    if (r) return lo_error_wrap(r, "evaluation summary");
    bool obj = json_is_object(v);
    json_decref(v);
    if (!obj) return lo_error(LO_ERR_INVALID, "write a JSON object such as {\"bleu\": 31.2}", "evaluation summary is not a JSON object");
    lo_ops_model m;
    if ((r = lo_ops_model_get(s, ref, &m))) return r;
    bool owned;
    if ((r = ops_begin_serial(s, &owned))) return r;
    r = ops_exec(s, "UPDATE models SET eval_summary = ? WHERE id = ?", "ti", summary_json, m.id);
    return ops_end(s, owned, r);
}
