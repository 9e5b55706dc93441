/* net: the HTTP server over libmicrohttpd. Each request becomes a refcounted lo_http_req
 * that can be answered now, later from another thread (the connection stays suspended
 * meanwhile), or streamed chunk by chunk through a content-reader callback that suspends
 * the connection while the producer has nothing new. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "llmops/net.h"

/* Where a request's answer stands (under lo_http_req.mu). */
enum { ST_NONE, ST_RESPONSE, ST_STREAM };

struct lo_http_req {
    atomic_int refs;
    pthread_mutex_t mu;
    lo_http_server *srv;           /* NULL once the connection finished with it */
    struct MHD_Connection *conn;   /* NULL once closed */
    char method[16];
    char *path;
    char *body;
    size_t body_len, body_cap;
    bool too_large;
    bool dispatched;               /* handler called */
    bool queued;                   /* an MHD response was queued */
    bool suspended;                /* we suspended the connection and owe it a resume */
    bool closed;
    bool gone_notified;            /* the watchdog saw the client leave while suspended */
    int state;                     /* ST_* */
    /* ST_RESPONSE */
    int status;
    struct MHD_Response *resp;
    /* ST_STREAM: bytes produced but not yet taken by MHD = buf[off, len) */
    char *buf;
    size_t buf_off, buf_len, buf_cap;
    bool ended;
    lo_http_close_cb close_cb;
    void *close_user;
    lo_http_req *prev, *next;      /* in srv's live list */
};

struct lo_http_server {
    struct MHD_Daemon *d;
    lo_http_server_params p;
    char *host;
    int port;
    pthread_mutex_t mu;            /* live list */
    lo_http_req *live;
    int n_live;
    bool quiesced;
    /* Watchdog: MHD cannot see a disconnect on a suspended connection, so this thread
     * peeks at the sockets of suspended requests every 100 ms. */
    pthread_t watch;
    bool watch_started, watch_stop;
    pthread_cond_t watch_cv;
};

void lo_http_server_params_default(lo_http_server_params *p) {
    memset(p, 0, sizeof *p);
    p->host = "127.0.0.1";
    p->port = 8080;
    p->n_threads = 2;
    p->max_body_bytes = (size_t)8 << 20;
    p->timeout_s = 60;
    p->max_connections = 1024;
}

const char *lo_http_status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* ---- request objects ---------------------------------------------------------------- */

static lo_http_req *req_new(lo_http_server *s, struct MHD_Connection *conn, const char *method, const char *url) {
    lo_http_req *r = lo_calloc(1, sizeof *r);
    if (!r) return NULL;
    atomic_init(&r->refs, 1);
    pthread_mutex_init(&r->mu, NULL);
    r->srv = s;
    r->conn = conn;
    snprintf(r->method, sizeof r->method, "%s", method ? method : "");
    const char *q = url ? strchr(url, '?') : NULL;
    r->path = url ? (q ? lo_strndup(url, (size_t)(q - url)) : lo_strdup(url)) : lo_strdup("/");
    if (!r->path) {
        pthread_mutex_destroy(&r->mu);
        lo_free(r);
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    r->next = s->live;
    if (s->live) s->live->prev = r;
    s->live = r;
    s->n_live++;
    pthread_mutex_unlock(&s->mu);
    return r;
}

void lo_http_req_retain(lo_http_req *r) {
    if (r) atomic_fetch_add(&r->refs, 1);
}

void lo_http_req_release(lo_http_req *r) {
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
    if (r->resp) MHD_destroy_response(r->resp);
    pthread_mutex_destroy(&r->mu);
    lo_free(r->path);
    lo_free(r->body);
    lo_free(r->buf);
    lo_free(r);
}

const char *lo_http_req_method(const lo_http_req *r) { return r->method; }
const char *lo_http_req_path(const lo_http_req *r) { return r->path; }
const char *lo_http_req_body(const lo_http_req *r, size_t *len) {
    if (len) *len = r->body_len;
    return r->body ? r->body : "";
}
const char *lo_http_req_header(const lo_http_req *r, const char *name) {
    struct MHD_Connection *c = r->conn;
    return c ? MHD_lookup_connection_value(c, MHD_HEADER_KIND, name) : NULL;
}
const char *lo_http_req_query(const lo_http_req *r, const char *name) {
    struct MHD_Connection *c = r->conn;
    return c ? MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name) : NULL;
}
bool lo_http_req_body_too_large(const lo_http_req *r) { return r->too_large; }

void lo_http_req_on_close(lo_http_req *r, lo_http_close_cb cb, void *user) {
    pthread_mutex_lock(&r->mu);
    r->close_cb = cb;
    r->close_user = user;
    pthread_mutex_unlock(&r->mu);
}

bool lo_http_req_closed(const lo_http_req *r) {
    lo_http_req *m = (lo_http_req *)r;
    pthread_mutex_lock(&m->mu);
    bool c = m->closed;
    pthread_mutex_unlock(&m->mu);
    return c;
}

static bool add_headers(struct MHD_Response *resp, const char *content_type, const lo_http_header *h, int n) {
    if (content_type && MHD_add_response_header(resp, "Content-Type", content_type) != MHD_YES) return false;
    for (int i = 0; i < n; i++)
        if (!h[i].name || !h[i].value || MHD_add_response_header(resp, h[i].name, h[i].value) != MHD_YES) return false;
    return true;
}

/* Under r->mu: wakes the connection we suspended so MHD picks up the new state. */
static void wake_locked(lo_http_req *r) {
    if (r->suspended && r->conn) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
    }
}

bool lo_http_respond(lo_http_req *r, int status, const char *content_type, const char *body, size_t len,
                     const lo_http_header *headers, int n_headers) {
    pthread_mutex_lock(&r->mu);
    if (r->state != ST_NONE || r->closed) {
        pthread_mutex_unlock(&r->mu);
        return false;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (resp && !add_headers(resp, content_type, headers, n_headers)) {
        MHD_destroy_response(resp);
        resp = NULL;
    }
    if (!resp) { /* out of memory: an empty 500 rather than a hung connection */
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        status = 500;
        if (!resp) {
            pthread_mutex_unlock(&r->mu);
            return false;
        }
    }
    r->resp = resp;
    r->status = status;
    r->state = ST_RESPONSE;
    wake_locked(r);
    pthread_mutex_unlock(&r->mu);
    return true;
}

/* MHD pulls stream bytes here (on its thread). Nothing buffered and not ended: suspend the
 * connection until the producer writes (wake_locked), so nothing spins. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *out, size_t max) {
    (void)pos;
    lo_http_req *r = cls;
    pthread_mutex_lock(&r->mu);
    size_t avail = r->buf_len - r->buf_off;
    if (avail > 0) {
        size_t n = avail < max ? avail : max;
        memcpy(out, r->buf + r->buf_off, n);
        r->buf_off += n;
        if (r->buf_off == r->buf_len) r->buf_off = r->buf_len = 0;
        pthread_mutex_unlock(&r->mu);
        return (ssize_t)n;
    }
    if (r->ended || r->closed) {
        pthread_mutex_unlock(&r->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (r->conn && !r->suspended) {
        r->suspended = true;
        MHD_suspend_connection(r->conn);
    }
    pthread_mutex_unlock(&r->mu);
    return 0;
}

static void stream_free(void *cls) { lo_http_req_release(cls); }

bool lo_http_stream_begin(lo_http_req *r, int status, const char *content_type, const lo_http_header *headers,
                          int n_headers) {
    pthread_mutex_lock(&r->mu);
    if (r->state != ST_NONE || r->closed) {
        pthread_mutex_unlock(&r->mu);
        return false;
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, r, stream_free);
    if (!resp) {
        pthread_mutex_unlock(&r->mu);
        return false;
    }
    lo_http_req_retain(r); /* the response's reference, dropped by stream_free */
    if (!add_headers(resp, content_type, headers, n_headers)) {
        MHD_destroy_response(resp); /* calls stream_free: refs stay > 0 (server holds one) */
        pthread_mutex_unlock(&r->mu);
        return false;
    }
    r->resp = resp;
    r->status = status;
    r->state = ST_STREAM;
    wake_locked(r);
    pthread_mutex_unlock(&r->mu);
    return true;
}

bool lo_http_stream_write(lo_http_req *r, const char *data, size_t len) {
    pthread_mutex_lock(&r->mu);
    if (r->closed || r->state != ST_STREAM || r->ended) {
        pthread_mutex_unlock(&r->mu);
        return false;
    }
    if (r->buf_off > 0 && r->buf_off == r->buf_len) r->buf_off = r->buf_len = 0;
    if (r->buf_len + len > r->buf_cap) {
        /* compact first, then grow geometrically */
        if (r->buf_off > 0) {
            memmove(r->buf, r->buf + r->buf_off, r->buf_len - r->buf_off);
            r->buf_len -= r->buf_off;
            r->buf_off = 0;
        }
        if (r->buf_len + len > r->buf_cap) {
            size_t cap = r->buf_cap ? r->buf_cap : 4096;
            while (cap < r->buf_len + len) cap *= 2;
            char *nb = lo_realloc(r->buf, cap);
            if (!nb) {
                pthread_mutex_unlock(&r->mu);
                return false;
            }
            r->buf = nb;
            r->buf_cap = cap;
        }
    }
    memcpy(r->buf + r->buf_len, data, len);
    r->buf_len += len;
    wake_locked(r);
    pthread_mutex_unlock(&r->mu);
    return true;
}

void lo_http_stream_end(lo_http_req *r) {
    pthread_mutex_lock(&r->mu);
    r->ended = true;
    wake_locked(r);
    pthread_mutex_unlock(&r->mu);
}

/* ---- MHD callbacks -------------------------------------------------------------------- */

/* Under r->mu: hands a ready answer to MHD. */
static enum MHD_Result queue_locked(lo_http_req *r) {
    if (r->queued || r->state == ST_NONE) return MHD_YES;
    r->queued = true;
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)r->status, r->resp);
    MHD_destroy_response(r->resp); /* MHD holds its own reference now */
    r->resp = NULL;
    return ok;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
    (void)version;
    lo_http_server *s = cls;
    lo_http_req *r = *con_cls;
    if (!r) {
        r = req_new(s, conn, method, url);
        if (!r) return MHD_NO;
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            unsigned long long v = strtoull(cl, &end, 10);
            if (*end == '\0' && v > s->p.max_body_bytes) r->too_large = true;
        }
        if (!r->too_large) return MHD_YES;
        /* Refuse before reading the body: MHD closes the connection after the answer. */
        r->dispatched = true;
        s->p.handler(s->p.user, r);
        pthread_mutex_lock(&r->mu);
        if (r->state == ST_NONE) {
            pthread_mutex_unlock(&r->mu);
            static const char msg[] = "request body too large\n";
            lo_http_respond(r, 413, "text/plain", msg, sizeof msg - 1, NULL, 0);
            pthread_mutex_lock(&r->mu);
        }
        enum MHD_Result ok = queue_locked(r);
        pthread_mutex_unlock(&r->mu);
        return ok;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->too_large || r->dispatched) return MHD_YES;
        size_t need;
        if (lo_add_overflow(r->body_len, n, &need) || need > s->p.max_body_bytes) {
            r->too_large = true;
            lo_free(r->body);
            r->body = NULL;
            r->body_len = r->body_cap = 0;
            return MHD_YES;
        }
        if (need + 1 > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap : 1024;
            while (cap < need + 1) cap *= 2;
            char *nb = lo_realloc(r->body, cap);
            if (!nb) return MHD_NO;
            r->body = nb;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len = need;
        r->body[need] = '\0';
        return MHD_YES;
    }
    if (!r->dispatched) {
        r->dispatched = true;
        s->p.handler(s->p.user, r);
        pthread_mutex_lock(&r->mu);
        if (r->state == ST_NONE && r->too_large) {
            pthread_mutex_unlock(&r->mu);
            static const char msg[] = "request body too large\n";
            lo_http_respond(r, 413, "text/plain", msg, sizeof msg - 1, NULL, 0);
            pthread_mutex_lock(&r->mu);
        }
        enum MHD_Result ok = MHD_YES;
        if (r->state != ST_NONE) {
            ok = queue_locked(r);
        } else {
            r->suspended = true; /* answered later: lo_http_respond/stream_begin resume it */
            MHD_suspend_connection(conn);
        }
        pthread_mutex_unlock(&r->mu);
        return ok;
    }
    /* Resumed after a deferred answer. */
    pthread_mutex_lock(&r->mu);
    enum MHD_Result ok = MHD_YES;
    if (r->state != ST_NONE) {
        ok = queue_locked(r);
    } else if (!r->suspended) {
        r->suspended = true;
        MHD_suspend_connection(conn);
    }
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)conn;
    lo_http_server *s = cls;
    lo_http_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    pthread_mutex_lock(&r->mu);
    bool gone = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK || (r->state == ST_STREAM && !r->ended);
    r->closed = true;
    r->conn = NULL;
    r->suspended = false;
    lo_http_close_cb cb = r->close_cb;
    void *user = r->close_user;
    r->close_cb = NULL;
    pthread_mutex_unlock(&r->mu);
    if (cb) cb(user, gone);
    pthread_mutex_lock(&s->mu);
    if (r->prev) r->prev->next = r->next;
    else s->live = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->srv = NULL;
    s->n_live--;
    pthread_mutex_unlock(&s->mu);
    lo_http_req_release(r);
}

/* ---- disconnect watchdog ---------------------------------------------------------------- */

static void *watchdog(void *arg) {
    lo_http_server *s = arg;
    enum { MAX_PER_PASS = 64 };
    struct { lo_http_close_cb cb; void *user; } gone[MAX_PER_PASS];
    pthread_mutex_lock(&s->mu);
    while (!s->watch_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->watch_cv, &s->mu, &ts);
        if (s->watch_stop) break;
        int n = 0;
        for (lo_http_req *r = s->live; r && n < MAX_PER_PASS; r = r->next) {
            pthread_mutex_lock(&r->mu);
            if (r->suspended && r->conn && !r->closed && !r->gone_notified && r->close_cb) {
                const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                if (ci) {
                    char b;
                    ssize_t got = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
                    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                        r->gone_notified = true;
                        gone[n].cb = r->close_cb;
                        gone[n].user = r->close_user;
                        r->close_cb = NULL; /* called once: on_completed will not call it again */
                        n++;
                    }
                }
            }
            pthread_mutex_unlock(&r->mu);
        }
        if (n == 0) continue;
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < n; i++) gone[i].cb(gone[i].user, true);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

lo_status lo_http_server_start(const lo_http_server_params *p, lo_http_server **out) {
    *out = NULL;
    if (!p->handler) return lo_error(LO_ERR_INVALID, NULL, "http server: no handler");
    if (p->port < 0 || p->port > 65535)
        return lo_error(LO_ERR_RANGE, "give a port in 0..65535 (0 = any free port)", "http server: port %d", p->port);
    lo_http_server *s = lo_calloc(1, sizeof *s);
    if (!s) return LO_ERR_NOMEM;
    s->p = *p;
    if (s->p.n_threads <= 0) s->p.n_threads = 2;
    if (s->p.max_body_bytes == 0) s->p.max_body_bytes = (size_t)8 << 20;
    if (s->p.timeout_s == 0) s->p.timeout_s = 60;
    if (s->p.max_connections == 0) s->p.max_connections = 1024;
    const char *host = p->host && p->host[0] ? p->host : "127.0.0.1";
    s->host = lo_strdup(host);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->watch_cv, NULL);

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", p->port);
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        lo_status st = lo_error(LO_ERR_INVALID, "give an IP address such as 127.0.0.1 or 0.0.0.0",
                                "http server: cannot resolve host '%s': %s", host, gai_strerror(gai));
        lo_http_server_stop(s);
        return st;
    }
    /* poll(), not epoll: with epoll, MHD_quiesce_daemon (graceful shutdown) races a polling
     * thread removing the same listen socket and libmicrohttpd aborts the process ("Failed
     * to remove listen FD from epoll set"; seen here under ASan, an open upstream defect).
     * poll() quiesces through the inter-thread channel instead, and costs nothing at the
     * connection counts one model server holds. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, (uint16_t)p->port, NULL, NULL, on_access, s,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->p.n_threads,
                            MHD_OPTION_CONNECTION_TIMEOUT, s->p.timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, s->p.max_connections,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->d) {
        lo_status st = lo_error(LO_ERR_IO, "is the port already in use? try another --port, or 0 for any free one",
                                "http server: cannot listen on %s:%d", host, p->port);
        lo_http_server_stop(s);
        return st;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? (int)info->port : p->port;
    if (pthread_create(&s->watch, NULL, watchdog, s) == 0) s->watch_started = true;
    *out = s;
    return LO_OK;
}

int lo_http_server_port(const lo_http_server *s) { return s->port; }

void lo_http_server_quiesce(lo_http_server *s) {
    if (!s || !s->d || s->quiesced) return;
    s->quiesced = true;
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

int lo_http_server_n_open(const lo_http_server *s) {
    lo_http_server *m = (lo_http_server *)s;
    pthread_mutex_lock(&m->mu);
    int n = m->n_live;
    pthread_mutex_unlock(&m->mu);
    return n;
}

void lo_http_server_stop(lo_http_server *s) {
    if (!s) return;
    if (s->watch_started) {
        pthread_mutex_lock(&s->mu);
        s->watch_stop = true;
        pthread_cond_signal(&s->watch_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->watch, NULL);
        s->watch_started = false;
    }
    if (s->d) {
        /* MHD cannot stop with suspended connections: answer or end every one first. */
        static const char msg[] = "{\"error\":{\"message\":\"server shutting down\",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        for (int round = 0; round < 2; round++) {
            pthread_mutex_lock(&s->mu);
            for (lo_http_req *r = s->live; r; r = r->next) {
                pthread_mutex_lock(&r->mu);
                int state = r->state;
                bool dispatched = r->dispatched;
                pthread_mutex_unlock(&r->mu);
                if (state == ST_NONE && dispatched)
                    lo_http_respond(r, 503, "application/json", msg, sizeof msg - 1, NULL, 0);
                else if (state == ST_STREAM)
                    lo_http_stream_end(r);
            }
            pthread_mutex_unlock(&s->mu);
            /* give the polling threads a moment to flush what was just queued */
            for (int i = 0; i < 50 && lo_http_server_n_open(s) > 0; i++) usleep(10 * 1000);
        }
        MHD_stop_daemon(s->d);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->watch_cv);
    lo_free(s->host);
    lo_free(s);
}
