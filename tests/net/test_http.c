/* net: the HTTP server and client over loopback — immediate, deferred (answered from
 * another thread) and streamed responses, the body limit (413), keep-alive of many
 * requests, and the close notification when a client hangs up mid-stream. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "llmops/net.h"

static atomic_int n_gone, n_closed_ok;

static void on_close(void *user, bool gone) {
    (void)user;
    if (gone) atomic_fetch_add(&n_gone, 1);
    else atomic_fetch_add(&n_closed_ok, 1);
}

/* Writes "chunk i\n" every 5 ms until the client is gone or 200 chunks were sent. */
static void *streamer(void *arg) {
    lo_http_req *r = arg;
    char line[32];
    for (int i = 0; i < 200; i++) {
        int n = snprintf(line, sizeof line, "chunk %d\n", i);
        if (!lo_http_stream_write(r, line, (size_t)n)) break;
        usleep(i < 5 ? 1000 : 5000);
        if (i == 4 && strcmp(lo_http_req_path(r), "/stream5") == 0) break;
    }
    lo_http_stream_end(r);
    lo_http_req_release(r);
    return NULL;
}

/* /never: answered only once the client is gone (as the server cancels a generation). */
static atomic_int n_never_gone;
static void never_close(void *user, bool gone) {
    lo_http_req *r = user;
    if (gone) atomic_fetch_add(&n_never_gone, 1);
    lo_http_respond(r, 200, "text/plain", "late", 4, NULL, 0);
    lo_http_req_release(r);
}

static void *deferred(void *arg) {
    lo_http_req *r = arg;
    usleep(20 * 1000);
    size_t len;
    const char *body = lo_http_req_body(r, &len);
    lo_http_header h = {"X-Deferred", "yes"};
    lo_http_respond(r, 201, "text/plain", body, len, &h, 1);
    lo_http_req_release(r);
    return NULL;
}

static void handler(void *user, lo_http_req *r) {
    (void)user;
    const char *path = lo_http_req_path(r);
    if (lo_http_req_body_too_large(r)) {
        lo_http_respond(r, 413, "text/plain", "big", 3, NULL, 0);
    } else if (strcmp(path, "/echo") == 0) {
        size_t len;
        const char *body = lo_http_req_body(r, &len);
        const char *h = lo_http_req_header(r, "x-test");
        char out[256];
        int n = snprintf(out, sizeof out, "%s %s %zu %s", lo_http_req_method(r), h ? h : "-", len,
                         len < 100 ? body : "");
        lo_http_respond(r, 200, "text/plain", out, (size_t)n, NULL, 0);
    } else if (strcmp(path, "/later") == 0) {
        lo_http_req_retain(r);
        pthread_t t;
        pthread_create(&t, NULL, deferred, r);
        pthread_detach(t);
    } else if (strcmp(path, "/never") == 0) {
        lo_http_req_retain(r);
        lo_http_req_on_close(r, never_close, r);
    } else if (strncmp(path, "/stream", 7) == 0) {
        lo_http_req_on_close(r, on_close, NULL);
        lo_http_stream_begin(r, 200, "text/event-stream", NULL, 0);
        lo_http_req_retain(r);
        pthread_t t;
        pthread_create(&t, NULL, streamer, r);
        pthread_detach(t);
    } else {
        lo_http_respond(r, 404, "text/plain", "nope", 4, NULL, 0);
    }
}

static int hangup_after;
static bool count_and_hang(void *user, const char *data, size_t len) {
    (void)data;
    size_t *got = user;
    *got += len;
    return !(hangup_after > 0 && *got >= (size_t)hangup_after);
}

int main(void) {
    lo_http_server_params p;
    lo_http_server_params_default(&p);
    p.port = 0;
    p.max_body_bytes = 1000;
    p.timeout_s = 1; /* slow clients are dropped after 1 s idle */
    p.handler = handler;
    lo_http_server *s = NULL;
    CHECK_OK(lo_http_server_start(&p, &s));
    if (!s) return check_done();
    int port = lo_http_server_port(s);
    CHECK(port > 0);
    char url[128];

    /* immediate answer with a request header and a body */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", port);
    lo_http_header h = {"X-Test", "abc"};
    lo_http_client_req q = {.url = url, .headers = &h, .n_headers = 1, .body = "hello", .body_len = 5};
    lo_http_client_resp resp;
    CHECK_OK(lo_http_fetch(&q, &resp));
    CHECK_INT_EQ(resp.status, 200);
    CHECK_STR_EQ(resp.body, "POST abc 5 hello");
    char ct[64];
    CHECK(lo_http_client_resp_header(&resp, "content-type", ct, sizeof ct) && strcmp(ct, "text/plain") == 0);
    lo_http_client_resp_free(&resp);

    /* many sequential requests */
    for (int i = 0; i < 50; i++) {
        lo_http_client_req g = {.url = url};
        CHECK_OK(lo_http_fetch(&g, &resp));
        CHECK_STR_EQ(resp.body, "GET - 0 ");
        lo_http_client_resp_free(&resp);
    }

    /* body over the limit: 413 (with Content-Length known up front) */
    char *big = malloc(5000);
    memset(big, 'x', 5000);
    lo_http_client_req qb = {.url = url, .body = big, .body_len = 5000};
    CHECK_OK(lo_http_fetch(&qb, &resp));
    CHECK_INT_EQ(resp.status, 413);
    lo_http_client_resp_free(&resp);
    /* exactly at the limit is fine */
    qb.body_len = 1000;
    CHECK_OK(lo_http_fetch(&qb, &resp));
    CHECK_INT_EQ(resp.status, 200);
    CHECK(strncmp(resp.body, "POST - 1000", 11) == 0);
    lo_http_client_resp_free(&resp);
    /* chunked upload over the limit (no Content-Length) */
    lo_http_header te = {"Transfer-Encoding", "chunked"};
    lo_http_client_req qc = {.url = url, .body = big, .body_len = 5000, .headers = &te, .n_headers = 1};
    CHECK_OK(lo_http_fetch(&qc, &resp));
    CHECK_INT_EQ(resp.status, 413);
    lo_http_client_resp_free(&resp);
    free(big);

    /* deferred answer from another thread */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/later", port);
    lo_http_client_req ql = {.url = url, .body = "later!", .body_len = 6};
    CHECK_OK(lo_http_fetch(&ql, &resp));
    CHECK_INT_EQ(resp.status, 201);
    CHECK_STR_EQ(resp.body, "later!");
    char hv[16];
    CHECK(lo_http_client_resp_header(&resp, "X-Deferred", hv, sizeof hv) && strcmp(hv, "yes") == 0);
    lo_http_client_resp_free(&resp);

    /* a short stream, read to its end: the pieces in order, close reported as complete */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/stream5", port);
    lo_http_client_req qs = {.url = url};
    CHECK_OK(lo_http_fetch(&qs, &resp));
    CHECK_INT_EQ(resp.status, 200);
    CHECK_STR_EQ(resp.body, "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
    lo_http_client_resp_free(&resp);
    for (int i = 0; i < 100 && atomic_load(&n_closed_ok) < 1; i++) usleep(10000);
    CHECK_INT_EQ(atomic_load(&n_closed_ok), 1);
    CHECK_INT_EQ(atomic_load(&n_gone), 0);

    /* hang up mid-stream: the server is told the client went away, the producer stops */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/stream", port);
    size_t got = 0;
    hangup_after = 40;
    lo_http_client_req qh = {.url = url, .on_data = count_and_hang, .user = &got};
    CHECK_OK(lo_http_fetch(&qh, &resp));
    CHECK(resp.aborted);
    lo_http_client_resp_free(&resp);
    for (int i = 0; i < 200 && atomic_load(&n_gone) < 1; i++) usleep(10000);
    CHECK_INT_EQ(atomic_load(&n_gone), 1);
    for (int i = 0; i < 100 && lo_http_server_n_open(s) > 0; i++) usleep(10000);
    CHECK_INT_EQ(lo_http_server_n_open(s), 0);

    /* slow loris: a client that sends half a header and stalls is disconnected after
     * the idle timeout, and the server keeps answering others meanwhile */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    const char partial[] = "POST /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    CHECK(write(fd, partial, sizeof partial - 1) == (ssize_t)(sizeof partial - 1));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", port);
    lo_http_client_req qe = {.url = url};
    CHECK_OK(lo_http_fetch(&qe, &resp));
    CHECK_INT_EQ(resp.status, 200);
    lo_http_client_resp_free(&resp);
    double t0 = lo_time_sec();
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char junk[256];
    bool closed = false;
    while (lo_time_sec() - t0 < 5 && !closed) {
        if (poll(&pfd, 1, 200) > 0) closed = read(fd, junk, sizeof junk) <= 0;
    }
    CHECK_MSG(closed, "a stalled half-header connection was not closed within 5 s");
    close(fd);

    /* a client leaving while its deferred answer is pending (suspended connection) is
     * noticed by the watchdog */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/never", port);
    lo_http_client_req qn = {.url = url, .timeout_s = 0.3};
    CHECK(lo_http_fetch(&qn, &resp) == LO_ERR_IO); /* timed out */
    for (int i = 0; i < 100 && atomic_load(&n_never_gone) < 1; i++) usleep(10000);
    CHECK_INT_EQ(atomic_load(&n_never_gone), 1);
    for (int i = 0; i < 100 && lo_http_server_n_open(s) > 0; i++) usleep(10000);
    CHECK_INT_EQ(lo_http_server_n_open(s), 0);

    /* unknown host and refused connection are transport errors */
    lo_http_client_req qr = {.url = "http://127.0.0.1:1/", .timeout_s = 5};
    CHECK(lo_http_fetch(&qr, &resp) == LO_ERR_IO);

    /* a deferred request still pending at stop is answered 503, not hung */
    lo_http_server_stop(s);
    /* after quiesce+stop the port refuses */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", port);
    lo_http_client_req qa = {.url = url, .timeout_s = 5};
    CHECK(lo_http_fetch(&qa, &resp) == LO_ERR_IO);
    usleep(50 * 1000); /* let detached producer threads drop their references */
    return check_done();
}
