/* server: POST /v1/feedback — a verdict on a served request, by the response id the
 * client saw, written to the store before the answer (200 {"id"} only after the commit).
 * A request still waiting in the log's queue is flushed first. */
#include <string.h>

#include "server_internal.h"

/* An optional string field of at most max bytes; answers 400 and returns false when bad. */
static bool opt_str(lo_server *s, lo_http_req *r, const char *route, const json_t *b, const char *key, size_t max,
                    const char **out) {
    const json_t *v = json_object_get(b, key);
    *out = NULL;
    if (!v || json_is_null(v)) return true;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        SRV_BAD(s, r, route, key, "'%s' must be a string (without NUL characters)", key);
        return false;
    }
    if (json_string_length(v) > max) {
        SRV_BAD(s, r, route, key, "'%s' is longer than %zu bytes", key, max);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

void srv_route_feedback(lo_server *s, lo_http_req *r, const srv_auth *a) {
    const char *route = "/v1/feedback";
    json_t *b = srv_parse_body(s, r, route);
    if (!b) return;
    lo_ops_feedback f;
    memset(&f, 0, sizeof f);
    const json_t *thumbs = json_object_get(b, "thumbs"), *rating = json_object_get(b, "rating");
    bool has_thumbs = thumbs && !json_is_null(thumbs), has_rating = rating && !json_is_null(rating);
    if (!opt_str(s, r, route, b, "request_id", 128, &f.request_id)) goto out;
    if (!f.request_id || !f.request_id[0]) {
        SRV_BAD(s, r, route, "request_id", "'request_id' is required: the id of the response (\"chatcmpl-...\")");
        goto out;
    }
    if (has_thumbs == has_rating) {
        SRV_BAD(s, r, route, has_thumbs ? "rating" : "thumbs",
                "give exactly one of 'thumbs' (\"up\" or \"down\") and 'rating' (1-5)");
        goto out;
    }
    if (has_thumbs) {
        const char *t = json_is_string(thumbs) ? json_string_value(thumbs) : "";
        if (strcmp(t, "up") != 0 && strcmp(t, "down") != 0) {
            SRV_BAD(s, r, route, "thumbs", "'thumbs' must be \"up\" or \"down\"");
            goto out;
        }
        f.kind = "thumbs";
        f.score = strcmp(t, "up") == 0 ? 1 : 0;
    } else {
        if (!json_is_integer(rating) || json_integer_value(rating) < 1 || json_integer_value(rating) > 5) {
            SRV_BAD(s, r, route, "rating", "'rating' must be an integer from 1 to 5");
            goto out;
        }
        f.kind = "rating";
        f.score = (double)json_integer_value(rating);
    }
    if (!opt_str(s, r, route, b, "label", 64, &f.label) || !opt_str(s, r, route, b, "comment", 8192, &f.comment) ||
        !opt_str(s, r, route, b, "corrected", 1 << 20, &f.corrected) ||
        !opt_str(s, r, route, b, "author", 256, &f.author))
        goto out;
    /* without an author, the key that sent it */
    if (!f.author && a->key_id[0]) f.author = a->key_id;
    int64_t id = 0;
    pthread_mutex_lock(&s->db_mu);
    lo_status st = lo_ops_feedback_record(s->db, &f, &id);
    pthread_mutex_unlock(&s->db_mu);
    if (st == LO_ERR_NOT_FOUND && s->logger) {
        /* the request may still be in the log's queue: write it and try once more */
        lo_ops_logger_flush(s->logger);
        pthread_mutex_lock(&s->db_mu);
        st = lo_ops_feedback_record(s->db, &f, &id);
        pthread_mutex_unlock(&s->db_mu);
    }
    if (st == LO_ERR_NOT_FOUND) {
        srv_error(s, r, route, 404, "invalid_request_error", "request_id", "request_not_found",
                  "no logged request has the id '%.128s'", f.request_id);
        goto out;
    }
    if (st != LO_OK) {
        srv_ops_error(s, r, route, st);
        goto out;
    }
    json_t *v = json_object();
    json_object_set_new(v, "id", json_integer(id));
    json_object_set_new(v, "object", json_string("feedback"));
    json_object_set_new(v, "request_id", json_string(f.request_id));
    srv_json(s, r, route, 200, v);
out:
    json_decref(b);
}
