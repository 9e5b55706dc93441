/* net (L1): an HTTP/1.1 server over libmicrohttpd (poll() thread pool, suspended
 * connections for deferred and streamed responses, a body size limit, a "client went
 * away" notification) and an HTTP client over libcurl. It knows nothing about LLMs. */
#ifndef LLMOPS_NET_H
#define LLMOPS_NET_H

#include "llmops/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- server ----------------------------------------------------------------------- */

typedef struct lo_http_server lo_http_server;
/* One request and its connection's response side. The server holds a reference until
 * the connection is done with it; a handler that answers later (from another thread)
 * takes its own with lo_http_req_retain and drops it with lo_http_req_release. */
typedef struct lo_http_req lo_http_req;

/* Called on an HTTP thread once the whole body has arrived (bodies over the limit are
 * answered 413 without calling it). The handler must, now or later from any thread,
 * either lo_http_respond once, or lo_http_stream_begin then lo_http_stream_write... and
 * lo_http_stream_end. Returning without either leaves the connection suspended until
 * one comes (a deferred answer). */
typedef void (*lo_http_handler)(void *user, lo_http_req *r);
/* Called once, on an HTTP thread, when the connection is finished with the request:
 * client_gone is true when the client disconnected (or a write failed) before the
 * response was complete. Must not block. */
typedef void (*lo_http_close_cb)(void *user, bool client_gone);

typedef struct lo_http_server_params {
    const char *host;         /* bind address (default "127.0.0.1"); "0.0.0.0" for all */
    int port;                 /* 0 = any free port (see lo_http_server_port) */
    int n_threads;            /* polling threads (default 2) */
    size_t max_body_bytes;    /* request bodies above it → 413 (default 8 MiB) */
    unsigned timeout_s;       /* idle connection timeout, against slow clients (default 60) */
    unsigned max_connections; /* default 1024 */
    lo_http_handler handler;
    void *user;
} lo_http_server_params;
void lo_http_server_params_default(lo_http_server_params *p);

lo_status lo_http_server_start(const lo_http_server_params *p, lo_http_server **out);
int lo_http_server_port(const lo_http_server *s);
/* Stops accepting new connections (the listening socket is closed); open connections go
 * on being served. */
void lo_http_server_quiesce(lo_http_server *s);
/* Connections not yet finished (including suspended ones). */
int lo_http_server_n_open(const lo_http_server *s);
/* Ends every deferred request still unanswered with 503, then stops the daemon and
 * frees it. NULL ok. */
void lo_http_server_stop(lo_http_server *s);

/* Request accessors: valid while a reference is held. */
const char *lo_http_req_method(const lo_http_req *r); /* "GET", "POST", ... */
const char *lo_http_req_path(const lo_http_req *r);   /* without the query string */
/* A request header (case-insensitive name) or NULL. Only during the handler call. */
const char *lo_http_req_header(const lo_http_req *r, const char *name);
/* A query-string argument (?name=value, percent-decoded) or NULL. Only during the handler call. */
const char *lo_http_req_query(const lo_http_req *r, const char *name);
const char *lo_http_req_body(const lo_http_req *r, size_t *len); /* NUL-terminated copy */
/* The body exceeded max_body_bytes: it was discarded and the handler should answer 413
 * (if it answers nothing synchronously, a plain-text 413 is sent). */
bool lo_http_req_body_too_large(const lo_http_req *r);

void lo_http_req_retain(lo_http_req *r);
void lo_http_req_release(lo_http_req *r);
/* Registers the close notification (replacing any earlier one). */
void lo_http_req_on_close(lo_http_req *r, lo_http_close_cb cb, void *user);
/* True once the client went away or the request finished. */
bool lo_http_req_closed(const lo_http_req *r);

/* One extra response header, "Name: value" split in two. */
typedef struct lo_http_header {
    const char *name, *value;
} lo_http_header;

/* A whole response. Any thread; copies body. Second and later calls, or calls after a
 * stream began, are ignored (returns false). */
bool lo_http_respond(lo_http_req *r, int status, const char *content_type, const char *body, size_t len,
                     const lo_http_header *headers, int n_headers);
/* Starts a chunked response whose body is written piece by piece; any thread. */
bool lo_http_stream_begin(lo_http_req *r, int status, const char *content_type, const lo_http_header *headers,
                          int n_headers);
/* Appends bytes to the stream (copied; sent as the socket allows). Returns false once the
 * client is gone, so producers can stop. */
bool lo_http_stream_write(lo_http_req *r, const char *data, size_t len);
void lo_http_stream_end(lo_http_req *r);

const char *lo_http_status_text(int status); /* "Not Found" */

/* ---- client ----------------------------------------------------------------------- */

/* Called with each piece of the response body as it arrives; return false to hang up. */
typedef bool (*lo_http_data_cb)(void *user, const char *data, size_t len);

typedef struct lo_http_client_req {
    const char *method; /* default "GET", or "POST" when body is set */
    const char *url;
    const lo_http_header *headers;
    int n_headers;
    const char *body;
    size_t body_len;
    double timeout_s;   /* whole transfer (default 60) */
    lo_http_data_cb on_data; /* NULL: the body is collected into the response */
    void *user;
} lo_http_client_req;

typedef struct lo_http_client_resp {
    long status;
    char *body;        /* lo_malloc'd, NUL-terminated (empty with on_data) */
    size_t body_len;
    char *headers;     /* raw header block of the final response, lo_malloc'd */
    bool aborted;      /* on_data asked to hang up */
} lo_http_client_resp;

/* Performs one request. A transport failure (refused, timeout) is LO_ERR_IO; any HTTP
 * status is LO_OK with resp->status set. */
lo_status lo_http_fetch(const lo_http_client_req *r, lo_http_client_resp *out);
void lo_http_client_resp_free(lo_http_client_resp *r);
/* Value of a response header (case-insensitive), copied into buf; false when absent. */
bool lo_http_client_resp_header(const lo_http_client_resp *r, const char *name, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
