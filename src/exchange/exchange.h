/*
 * exchange/exchange.h - one request of an upload route, whatever carries it: an
 * HTTP/1.1 connection (front/h1.c), an HTTP/2 stream (front/h2.c), or a
 * request h2o read whole before its handler ran (front/buffered.c). The
 * exchange (exchange/exchange.c) is the one place its meaning is decided - gate,
 * method (405 with Allow), the pipeline's checks, body into the upload,
 * manifest forwarded, the app's answer relayed and settling the files, CORS on
 * the actual response, X-Request-Id, the access record - and leaves the bytes
 * on the wire to its transport, through the four callbacks of
 * ug_exchange_transport.
 *
 * Ownership: the transport embeds the ug_exchange and owns it; everything the
 * request holds (head copy, gate decision, upload, forward in flight) is freed
 * by ug_exchange_end, which the transport calls when the request is over,
 * answered or not. Exchange functions that hand control to the transport say
 * so: after them the request may be gone.
 */
#ifndef UG_EXCHANGE_EXCHANGE_H
#define UG_EXCHANGE_EXCHANGE_H

#include <netdb.h>
#include <time.h>

#include <h2o.h>

#include "http/chunked.h"
#include "loop/forward.h"
#include "http/forward_head.h"
#include "exchange/head.h"
#include "http/response.h"
#include "exchange/gate.h"
#include "loop/body_rate.h"
#include "loop/loop.h"
#include "http/pico.h"
#include "upload/upload.h"

/* As h2o 2.2.5 (H2O_MAX_HEADERS): a head with more fields is refused with 400, on every protocol (HTTP/1.1's parser
 * takes no more; the HTTP/2 front refuses it with UG_EXCHANGE_TOO_MANY_FIELDS). */
#define UG_EXCHANGE_MAX_HEADERS 100
#define UG_EXCHANGE_TOO_MANY_FIELDS "the request head has more than 100 fields"

/* The 413 message of a body the fronts buffer for h2o's pipeline (pass-through requests) past its limit. */
#define UG_EXCHANGE_OVER_PASS_LIMIT "the request body exceeds max_pass_body, the limit of a request passed through to the app"

typedef struct ug_exchange ug_exchange_t;
/* A request of a resumable route (exchange/resumable.c); NULL on other routes. */
typedef struct ug_resumable_req ug_resumable_req_t;

/* What the exchange needs of the connection or stream carrying it. */
typedef struct ug_exchange_transport {
    /* Send a complete response (every pointer in `r` is valid for the call only) and end the exchange. */
    void (*respond)(ug_exchange_t *req, const ug_response_t *r);
    /* Every check that needs no body passed: let the body come (100 Continue where asked). May end the request. */
    void (*start_body)(ug_exchange_t *req);
    /* The whole body was read: stop the body's timeout and reading while the app is asked. */
    void (*body_done)(ug_exchange_t *req);
    /* Out of memory with no way to answer: end the connection or stream at once. Ends the request. */
    void (*fail)(ug_exchange_t *req);
    /* An interim (1xx) response, called before start_body: it reaches the client before any final response (HTTP/1.1:
     * written with or before start_body's 100 Continue; not to an HTTP/1.0 client, RFC 9110 15.2). `fields` are
     * copied. NULL where the transport cannot send one. */
    void (*interim)(ug_exchange_t *req, int status, const char *reason, const ug_header_t *fields, size_t num_fields);
    /* The body was paused (a feed answered UG_EXCHANGE_PAUSED) and may come again: read on, first what the transport
     * already holds, with the body's timeouts re-armed. May end the request. NULL for a transport that never pauses
     * (it goes on feeding whatever the feed answers). */
    void (*resume_body)(ug_exchange_t *req);
} ug_exchange_transport_t;

/* One request. Everything in `h` and `gate` points into `head` (HTTP/1.1) or the stream's pool (HTTP/2), or the
 * runtime's config. */
struct ug_exchange {
    const ug_exchange_transport_t *tp;
    ug_loop_t *loop; /* the event loop's shared services (loop/loop.h) */
    const char *client_address; /* the connection's, NUL-terminated */
    int tls;
    int http2;
    ug_runtime_t *rt; /* the configuration this request runs under (a reference), taken when its head begins */
    char *head;       /* HTTP/1.1: copy of the request head (names lower-cased, as h2o does), malloc'd */
    ug_header_t headers[UG_EXCHANGE_MAX_HEADERS];
    ug_head_t h;
    const ug_route_t *route;
    char *acrh; /* several Access-Control-Request-Headers joined (malloc'd), or NULL */
    ug_gate_decision_t gate;
    int is_preflight; /* OPTIONS + Origin + Access-Control-Request-Method: its CORS fields are the gate's */
    struct timespec received_at;
    ug_upload_t *upload;
    ug_resumable_req_t *tus; /* a resumable route's request state (owned; freed by ug_exchange_end) */
    uint64_t body_left; /* BODY_CONTENT_LENGTH: bytes still to read */
    uint64_t pass_limit; /* a request for h2o's pipeline: the most body bytes it may bring (ug_exchange_pass_limit) */
    ug_chunked_decoder_t decoder; /* BODY_CHUNKED (HTTP/1.1) */
    int body_read; /* the whole body has been read (HTTP/1.1: the connection may persist) */
    int paused;    /* a feed answered UG_EXCHANGE_PAUSED and the transport was not resumed since */
    int responded; /* the response was given to the transport */
    ug_forward_t *forward;
    char *forward_head;
    /* for the access log and metrics (observe.h), reported when the request ends */
    int begun;  /* the head was taken: the request counts */
    int status; /* of the response written, 0 before one */
    size_t bytes_out;
    uint64_t bytes_in;
    ug_err_t error; /* uploadgate's own error response, UG_OK if none */
    unsigned files;
    uint64_t upload_bytes;
    int handed_over;
    int client_left; /* the client was gone before the response reached it (logged as "client_left") */
    char request_id[UG_REQUEST_ID_MAX + 1];
};

/* From here the request counts: in flight now, reported (access line, metrics) when it ends, under the client's
 * X-Request-Id when req->h has a usable one. */
void ug_exchange_begin(ug_exchange_t *req);
/* A head the front took (req->h scanned, names lower-case, req->route set): decide it and serve it. May end the
 * request. */
void ug_exchange_serve(ug_exchange_t *req);
/* Give a complete response (the route's CORS fields, Date and Server added) to the transport; ends the exchange.
 * `fields` and `body` are copied. */
void ug_exchange_respond(ug_exchange_t *req, int status, const char *reason, size_t reason_len, const ug_header_t *fields,
                         size_t num_fields, const char *body, size_t body_len);
/* The request line the app's manifest request carries: `method` and `path` (with its query) are the request's own for
 * a one-request upload, and a resumable upload's creation (POST to the route) when its last chunk completes it, so the
 * app gets what a one-request upload to the route would give it. */
typedef struct ug_exchange_as {
    const char *method;
    size_t method_len;
    const char *path;
    size_t path_len;
} ug_exchange_as_t;
/* req->upload is finished and its manifest rendered (`json`, owned by the upload): send it to the app as `as`. The answer
 * follows the app's (on a resumable route, exchange/resumable.c answers an accepted one). */
void ug_exchange_forward_manifest(ug_exchange_t *req, const ug_exchange_as_t *as, const char *json, size_t json_len);
/* Send uploadgate's JSON error for `e`, after the `extra` fields (at most UG_CORS_MAX_HEADERS + 1); message NULL = the
 * default. Ends the exchange. */
void ug_exchange_respond_error(ug_exchange_t *req, ug_err_t e, const char *message, const ug_header_t *extra, size_t num_extra);
/* Answer a request the front does not otherwise serve (a refused head, a pass-through body past h2o's entity limit)
 * with uploadgate's error: begun now, under the route its path names (whose CORS policy applies), its body unread
 * (HTTP/1.1: the connection closes). Ends the exchange. */
void ug_exchange_refuse(ug_exchange_t *req, ug_err_t e, const char *message);

/* ug_head_classify with the path h2o would route the target on (h2o_url_normalize_path), so that the fronts take, and
 * stream, every request handler.c would serve as an upload, however its path is spelled ("/%75pload"). On
 * UG_HEAD_REFUSE the 400 message is written to `why` (NUL-terminated; UG_ROUTE_MESSAGE_MAX is room enough) and
 * *route is NULL. */
ug_head_verdict_t ug_exchange_decide(const ug_config_t *config, const ug_head_t *h, const ug_route_t **route, char *why,
                                   size_t why_len);
/* The body limit of a head for h2o's pipeline: ug_config_pass_limit for the route its path names (as h2o routes it). */
uint64_t ug_exchange_pass_limit(const ug_config_t *config, const ug_head_t *h);
/* The upload pipeline's request for this exchange: route, method, target, Content-Type and declared length, client. */
void ug_exchange_upload_request(const ug_exchange_t *req, ug_upload_request_t *ur);
/* Remove the upload's files at once, then send the error (the pipeline's message unless `why` is given). */
void ug_exchange_fail_upload(ug_exchange_t *req, ug_err_t e, const char *why);
/* Where a request's body stands after bytes were given to it. */
typedef enum ug_exchange_flow {
    UG_EXCHANGE_MORE,  /* the body goes on: read on */
    UG_EXCHANGE_ENDED, /* it ended, or was refused: the request was handed on (answered, or its manifest forwarded) and
                     * may be gone */
    UG_EXCHANGE_PAUSED, /* the bytes were taken; read no more until the exchange resumes the body (resume_body): the
                         * store is behind. The body's idle and rate timeouts must not run meanwhile: the client is not
                         * the slow one. Bytes the transport cannot help receiving may still be fed (each answers
                         * PAUSED again). */
} ug_exchange_flow_t;
/* Whether the request is between its head and the end of its body: an upload (or a resumable chunk) takes the body's
 * bytes and has not been answered. */
int ug_exchange_reading_body(const ug_exchange_t *req);
/* Body bytes arrived: feed them to the upload. UG_EXCHANGE_ENDED when they were refused (the error is sent). */
ug_exchange_flow_t ug_exchange_feed(ug_exchange_t *req, const char *bytes, size_t len);
/* What the upload waited for is there (upload.h on_ready): the body may come again. Resumes the transport if it was
 * paused; may end the request. */
void ug_exchange_resume_body(ug_exchange_t *req);
/* The body is complete: finish the upload and forward its manifest; the response follows the app's answer. */
void ug_exchange_finish_body(ug_exchange_t *req);
/* The request is over (answered, or its connection or stream gone): report it once (access line, metrics), free
 * everything, and zero it but for the transport fields (tp, loop, client_address, tls, http2). A request whose manifest
 * is at the app goes on without the transport: the app's answer alone decides its files' fate (< 400 kept, >= 400
 * removed unless keep_on_error), and the access line, written then, has the app's status and client_left. Only when
 * that cannot be arranged (out of memory) is the forward cancelled and the upload removed. */
void ug_exchange_end(ug_exchange_t *req);

/* Requests of the calling thread's loop that went on without their client (see ug_exchange_end) and wait for the
 * app's answer: a graceful shutdown waits for them, within its grace, as for open connections. */
size_t ug_exchange_without_client(void);

#endif
