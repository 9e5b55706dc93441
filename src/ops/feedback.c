/* Feedback on logged requests (thumbs or a 1-5 rating, label, comment, corrected answer,
 * author) and its export as training data: SFT chat JSONL or preference pairs. */
#include <math.h>
#include <stdlib.h>

#include "ops/ops_internal.h"

static lo_status check_text(const char *what, const char *v, size_t max) {
    if (v && strlen(v) > max) return lo_error(LO_ERR_INVALID, NULL, "feedback %s is longer than %zu bytes", what, max);
    return LO_OK;
}

lo_status lo_ops_feedback_record(lo_store *s, const lo_ops_feedback *f, int64_t *id) {
    if (!f->request_id || !f->request_id[0])
        return lo_error(LO_ERR_INVALID, "give the id of the request (the response's \"id\")", "feedback request_id is empty");
    const char *kind = f->kind ? f->kind : "thumbs";
    if (strcmp(kind, "thumbs") == 0) {
        if (!(f->score == 0 || f->score == 1))
            return lo_error(LO_ERR_RANGE, "thumbs scores are 1 (up) or 0 (down)", "feedback score %g is not a thumbs score", f->score);
    } else if (strcmp(kind, "rating") == 0) {
        if (!(isfinite(f->score) && f->score >= 1 && f->score <= 5))
            return lo_error(LO_ERR_RANGE, "ratings are between 1 and 5", "feedback rating %g is out of range", f->score);
    } else {
        return lo_error(LO_ERR_INVALID, "use thumbs or rating", "feedback kind '%s' is not known", kind);
    }
    lo_status r = check_text("label", f->label, 128);
    if (r == LO_OK) r = check_text("comment", f->comment, 65536);
    if (r == LO_OK) r = check_text("corrected answer", f->corrected, 1 << 20);
    if (r == LO_OK) r = check_text("author", f->author, 256);
    if (r) return r;
    bool owned;
    if ((r = ops_begin(s, &owned))) return r;
    int64_t rid = 0;
    bool found = false;
    r = ops_scalar_i64(s, &rid, &found, "SELECT id FROM requests WHERE external_id = ?", "t", f->request_id);
    if (r == LO_OK && !found)
        r = lo_error(LO_ERR_NOT_FOUND, "feedback must name a logged request's id", "no request %s", f->request_id);
    if (r == LO_OK)
        r = ops_insert(s, id,
                       "INSERT INTO feedback (request_id, score, label, comment, created_at, kind, corrected, author) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                       "idttitt" "t", rid, f->score, f->label, f->comment, lo_store_now_ms(), kind, f->corrected, f->author);
    return ops_end(s, owned, r);
}

/* One request with content and its newest feedback. */
typedef struct fb_item {
    char *prompt_key;   /* compact JSON of the messages: requests with the same prompt match */
    json_t *messages;
    char *completion;
    char *corrected;
    int verdict;        /* +1 positive, -1 negative, 0 neutral */
} fb_item;

static json_t *assistant(const char *text) {
    return json_pack("[{s:s,s:s}]", "role", "assistant", "content", text);
}

static lo_status write_obj(lo_atomic_file *f, json_t *o, int64_t *n) {
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!t) return lo_error(LO_ERR_NOMEM, NULL, "out of memory");
    lo_status r = lo_atomic_write(f, t, strlen(t));
    if (r == LO_OK) r = lo_atomic_write(f, "\n", 1);
    free(t);
    if (r == LO_OK) (*n)++;
    return r;
}

lo_status lo_ops_feedback_export(lo_store *s, lo_ops_export_format fmt, const char *path, int64_t *n_written) {
    if (fmt != LO_OPS_EXPORT_SFT && fmt != LO_OPS_EXPORT_PREFERENCE)
        return lo_error(LO_ERR_INVALID, "use sft or preference", "unknown export format %d", (int)fmt);
    if (!path || !path[0]) return lo_error(LO_ERR_INVALID, "give the output file", "export path is empty");
    lo_stmt *st = NULL;
    bool row = false;
    lo_status r = ops_prepare(s, &st,
                              "SELECT r.content, f.kind, f.score, f.corrected FROM requests r JOIN feedback f ON f.request_id = r.id "
                              "WHERE r.content IS NOT NULL AND f.id = (SELECT MAX(g.id) FROM feedback g WHERE g.request_id = r.id) "
                              "ORDER BY r.id",
                              "");
    fb_item *items = NULL;
    size_t n = 0, cap = 0;
    while (r == LO_OK && (r = lo_store_step(st, &row)) == LO_OK && row) {
        const char *content = lo_store_column_text(st, 0), *kind = lo_store_column_text(st, 1);
        double score = lo_store_column_double(st, 2);
        const char *corr = lo_store_column_text(st, 3);
        json_t *c = json_loads(content, 0, NULL);
        json_t *msgs = json_object_get(c, "messages");
        json_t *comp = json_object_get(c, "completion");
        if (!json_is_array(msgs) || !json_is_string(comp)) { /* not ours: skip it rather than fail the export */
            json_decref(c);
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            fb_item *p = lo_realloc(items, nc * sizeof *items);
            if (!p) {
                json_decref(c);
                r = LO_ERR_NOMEM;
                break;
            }
            items = p, cap = nc;
        }
        bool thumbs = kind && strcmp(kind, "thumbs") == 0;
        int verdict = thumbs ? (score >= 1 ? 1 : -1) : score >= 4 ? 1 : score <= 2 ? -1 : 0;
        fb_item *it = &items[n++];
        it->messages = json_incref(msgs);
        it->prompt_key = json_dumps(msgs, JSON_COMPACT | JSON_SORT_KEYS);
        it->completion = strdup(json_string_value(comp));
        it->corrected = corr && corr[0] ? strdup(corr) : NULL;
        it->verdict = verdict;
        json_decref(c);
        if (!it->prompt_key || !it->completion) r = LO_ERR_NOMEM;
    }
    lo_store_finalize(st);
    lo_atomic_file *f = NULL;
    int64_t written = 0;
    if (r == LO_OK) r = lo_atomic_open(path, &f);
    lo_strmap *first_pos = NULL;
    if (r == LO_OK && fmt == LO_OPS_EXPORT_PREFERENCE) r = lo_strmap_create(n + 1, &first_pos);
    for (size_t i = 0; i < n && r == LO_OK; i++) {
        fb_item *it = &items[i];
        if (fmt == LO_OPS_EXPORT_SFT) {
            const char *answer = it->corrected ? it->corrected : it->verdict > 0 ? it->completion : NULL;
            if (!answer) continue;
            json_t *msgs = json_deep_copy(it->messages);
            json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "assistant", "content", answer));
            r = write_obj(f, json_pack("{s:o}", "messages", msgs), &written);
        } else {
            if (it->corrected && strcmp(it->corrected, it->completion) != 0)
                r = write_obj(f, json_pack("{s:O,s:o,s:o}", "prompt", it->messages, "chosen", assistant(it->corrected), "rejected",
                                           assistant(it->completion)), &written);
            if (r == LO_OK && it->verdict > 0 && !lo_strmap_get(first_pos, it->prompt_key, strlen(it->prompt_key), &(int64_t){0}))
                r = lo_strmap_put(first_pos, it->prompt_key, strlen(it->prompt_key), (int64_t)i);
        }
    }
    /* Same prompt, a positive and a negative answer: one pair per negative answer. */
    for (size_t i = 0; r == LO_OK && fmt == LO_OPS_EXPORT_PREFERENCE && i < n; i++) {
        int64_t p;
        fb_item *it = &items[i];
        if (it->verdict < 0 && !it->corrected && lo_strmap_get(first_pos, it->prompt_key, strlen(it->prompt_key), &p) &&
            strcmp(items[p].completion, it->completion) != 0)
            r = write_obj(f, json_pack("{s:O,s:o,s:o}", "prompt", it->messages, "chosen", assistant(items[p].completion), "rejected",
                                       assistant(it->completion)), &written);
    }
    if (r == LO_OK) r = lo_atomic_commit(f);
    else lo_atomic_abort(f);
    if (r == LO_OK && n_written) *n_written = written;
    for (size_t i = 0; i < n; i++) {
        json_decref(items[i].messages);
        free(items[i].prompt_key);
        free(items[i].completion);
        free(items[i].corrected);
    }
    lo_free(items);
    lo_strmap_free(first_pos);
    return r;
}
