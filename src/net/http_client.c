/* net: a one-call HTTP client over libcurl, either collecting the body or handing each
 * piece to a callback (server-sent events, hanging up mid-stream). */
#include <curl/curl.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "llmops/net.h"

typedef struct grow {
    char *p;
    size_t len, cap;
    bool oom;
} grow;

static bool grow_append(grow *g, const char *data, size_t n) {
    if (g->oom) return false;
    size_t need;
    if (lo_add_overflow(g->len, n + 1, &need)) return (g->oom = true, false);
    if (need > g->cap) {
        size_t cap = g->cap ? g->cap : 1024;
        while (cap < need) cap *= 2;
        char *np = lo_realloc(g->p, cap);
        if (!np) return (g->oom = true, false);
        g->p = np;
        g->cap = cap;
    }
    memcpy(g->p + g->len, data, n);
    g->len += n;
    g->p[g->len] = '\0';
    return true;
}

typedef struct fetch_state {
    const lo_http_client_req *req;
    grow body, headers;
    bool aborted;
} fetch_state;

static size_t on_body(char *data, size_t size, size_t nmemb, void *user) {
    fetch_state *st = user;
    size_t n = size * nmemb;
    if (st->req->on_data) {
        if (!st->req->on_data(st->req->user, data, n)) {
            st->aborted = true;
            return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR: hang up */
        }
        return n;
    }
    return grow_append(&st->body, data, n) ? n : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *user) {
    fetch_state *st = user;
    size_t n = size * nmemb;
    /* A new status line (after 100 Continue or a redirect) starts a fresh block. */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) st->headers.len = 0;
    return grow_append(&st->headers, data, n) ? n : 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

lo_status lo_http_fetch(const lo_http_client_req *r, lo_http_client_resp *out) {
    memset(out, 0, sizeof *out);
    if (!r || !r->url) return lo_error(LO_ERR_INVALID, NULL, "http fetch: no URL");
    pthread_once(&curl_once, curl_init_once);
    CURL *c = curl_easy_init();
    if (!c) return lo_error(LO_ERR_INTERNAL, NULL, "http fetch: curl_easy_init failed");
    fetch_state st = {.req = r};
    struct curl_slist *hl = NULL;
    lo_status status = LO_OK;
    for (int i = 0; i < r->n_headers; i++) {
        char line[4096];
        int n = snprintf(line, sizeof line, "%s: %s", r->headers[i].name, r->headers[i].value);
        if (n < 0 || (size_t)n >= sizeof line) {
            status = lo_error(LO_ERR_RANGE, NULL, "http fetch: header '%s' is too long", r->headers[i].name);
            goto done;
        }
        struct curl_slist *nl = curl_slist_append(hl, line);
        if (!nl) {
            status = lo_error(LO_ERR_NOMEM, NULL, "http fetch: out of memory");
            goto done;
        }
        hl = nl;
    }
    const char *method = r->method ? r->method : (r->body ? "POST" : "GET");
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)((r->timeout_s > 0 ? r->timeout_s : 60.0) * 1000.0));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &st);
    if (hl) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (r->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    }
    if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    if (rc != CURLE_OK && !(st.aborted && rc == CURLE_WRITE_ERROR)) {
        status = lo_error(LO_ERR_IO, "is the server running and the URL right?", "http fetch %s %s: %s", method,
                          r->url, curl_easy_strerror(rc));
        goto done;
    }
    if (st.body.oom || st.headers.oom) {
        status = lo_error(LO_ERR_NOMEM, NULL, "http fetch: out of memory for the response");
        goto done;
    }
    out->aborted = st.aborted;
    out->body = st.body.p ? st.body.p : lo_strdup("");
    out->body_len = st.body.len;
    out->headers = st.headers.p ? st.headers.p : lo_strdup("");
    st.body.p = st.headers.p = NULL;
done:
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    lo_free(st.body.p);
    lo_free(st.headers.p);
    if (status != LO_OK) {
        long code = out->status;
        memset(out, 0, sizeof *out);
        out->status = code;
    }
    return status;
}

void lo_http_client_resp_free(lo_http_client_resp *r) {
    if (!r) return;
    lo_free(r->body);
    lo_free(r->headers);
    memset(r, 0, sizeof *r);
}

bool lo_http_client_resp_header(const lo_http_client_resp *r, const char *name, char *buf, size_t cap) {
    if (!r->headers || !name || cap == 0) return false;
    size_t nl = strlen(name);
    for (const char *line = r->headers; *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            while (v < line + len && (*v == ' ' || *v == '\t')) v++;
            size_t vl = (size_t)(line + len - v);
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
            if (vl >= cap) vl = cap - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return true;
        }
        if (!eol) break;
        line = eol + 2;
    }
    return false;
}
