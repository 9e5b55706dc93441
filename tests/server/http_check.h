/* Test helpers for the server suites: one HTTP call over loopback to the server at
 * `base` (status, parsed JSON, a few headers), dotted-path JSON getters and the check of
 * an OpenAI error answer. Include after check.h and llmops.h. */
#ifndef LO_TEST_HTTP_CHECK_H
#define LO_TEST_HTTP_CHECK_H

static char base[64];

typedef struct res {
    long status;
    json_t *json;
    char *body;
    char hdr_retry[16], hdr_allow[16], hdr_ct[64];
} res;

static res call(const char *method, const char *path, const char *body, size_t len, const char *key) {
    char url[256], auth[128];
    snprintf(url, sizeof url, "%s%s", base, path);
    lo_http_header h[2];
    int nh = 0;
    h[nh++] = (lo_http_header){"Content-Type", "application/json"};
    if (key) {
        snprintf(auth, sizeof auth, "Bearer %s", key);
        h[nh++] = (lo_http_header){"Authorization", auth};
    }
    lo_http_client_req q = {.method = method, .url = url, .headers = h, .n_headers = nh, .body = body,
                            .body_len = body ? (len ? len : strlen(body)) : 0, .timeout_s = 60};
    lo_http_client_resp r;
    res out = {0};
    if (lo_http_fetch(&q, &r) != LO_OK) {
        out.status = -1;
        return out;
    }
    out.status = r.status;
    json_error_t e;
    out.json = json_loadb(r.body, r.body_len, 0, &e);
    out.body = strdup(r.body);
    lo_http_client_resp_header(&r, "Retry-After", out.hdr_retry, sizeof out.hdr_retry);
    lo_http_client_resp_header(&r, "Allow", out.hdr_allow, sizeof out.hdr_allow);
    lo_http_client_resp_header(&r, "Content-Type", out.hdr_ct, sizeof out.hdr_ct);
    lo_http_client_resp_free(&r);
    return out;
}

static void res_free(res *r) {
    json_decref(r->json);
    free(r->body);
}

/* The value at a dotted path "a.b.0.c" (array indexes as numbers), or NULL. Re-entrant
 * (no strtok: its hidden state raced when several client threads parsed at once and lost
 * streamed pieces, e.g. ' big box' read as ' bigox'). */
static json_t *jget(json_t *v, const char *path) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = v;
    for (char *tok = buf; tok && cur;) {
        char *dot = strchr(tok, '.');
        if (dot) *dot = '\0';
        if (*tok) {
            if (json_is_array(cur)) cur = json_array_get(cur, (size_t)atoi(tok));
            else cur = json_object_get(cur, tok);
        }
        tok = dot ? dot + 1 : NULL;
    }
    return cur;
}
static const char *jstr(json_t *v, const char *path) {
    json_t *cur = jget(v, path);
    return json_is_string(cur) ? json_string_value(cur) : NULL;
}

/* An OpenAI error answer with this status (and param when given). */
static int expect_error(const char *what, res r, long status, const char *param) {
    int ok = r.status == status && r.json && json_is_object(jget(r.json, "error")) && jstr(r.json, "error.message") &&
             jstr(r.json, "error.type") && json_object_get(jget(r.json, "error"), "param") &&
             json_object_get(jget(r.json, "error"), "code") && (!param || (jstr(r.json, "error.param") && strcmp(jstr(r.json, "error.param"), param) == 0));
    CHECK_MSG(ok, "%s: status %ld body %.300s (want %ld param %s)", what, r.status, r.body ? r.body : "", status,
              param ? param : "-");
    res_free(&r);
    return ok;
}

#endif
