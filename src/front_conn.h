/*
 * front_conn.h - the state of one connection of the HTTP/1.1 front, shared by
 * its two halves (internal to the front; nothing else includes it):
 *
 *   front_http1.c     the connection: accept, reading heads and bodies with
 *                     backpressure, timeouts, hand-over to h2o, writing,
 *                     keep-alive and closing;
 *   front_exchange.c  one request's meaning: gate, method, upload pipeline,
 *                     forwarding the manifest, the response's fields.
 *
 * A connection moves through
 *
 *   HEAD --(not the front's)--> handed to h2o (h2o_http1_accept), conn freed
 *   HEAD -> [CONTINUE] -> BODY -> FORWARD -> RESPONSE -> HEAD (keep-alive) ...
 *                      any refusal -> RESPONSE -> LINGER -> closed
 *
 * The socket is read only in HEAD, BODY and LINGER (cleartext: by the front itself; TLS: by h2o, decrypting; see
 * READ_SIZE in front_http1.c); exactly one timeout entry is linked at a time.
 *
 * Ownership: the conn owns its socket until it closes it or hands it to h2o,
 * and everything in `req`, which is reset between requests: the head copy,
 * the gate decision, the upload (until released or aborted), the forward in
 * flight and the response being written. Functions below that may end the
 * connection say so: after them the conn must not be touched.
 */
#ifndef UG_FRONT_CONN_H
#define UG_FRONT_CONN_H

#include <netdb.h>
#include <time.h>

#include <h2o.h>

#include "forward.h"
#include "forward_head.h"
#include "front_parse.h"
#include "gate.h"
#include "handler.h"
#include "pico.h"
#include "upload.h"

/* As h2o 2.2.5 (H2O_MAX_HEADERS): a head with more fields fails to parse and goes to h2o, which answers 400. */
#define UG_FRONT_MAX_HEADERS 100

/* Per event loop: the upload handler's shared state and the front's timeout queues (one per duration). */
struct ug_front_thread {
    ug_handler_shared_t shared;
    h2o_context_t *ctx;
    h2o_timeout_t header_timeout, body_timeout, keepalive_timeout, linger_timeout;
    h2o_linklist_t idle;               /* connections waiting for a head with nothing read yet */
    h2o_timeout_entry_t shutdown_poll; /* on ctx->one_sec_timeout while `idle` is not empty */
    char *body_buf;                    /* BODY_READ_SIZE bytes, malloc'd on first use (front_http1.c read_body_direct) */
};

enum ug_front_state { UG_FRONT_HEAD, UG_FRONT_CONTINUE, UG_FRONT_BODY, UG_FRONT_FORWARD, UG_FRONT_RESPONSE, UG_FRONT_LINGER };

/* One request. Everything in `h` and `gate` points into `head` or the runtime's config. */
struct ug_front_req {
    ug_runtime_t *rt; /* the configuration this request runs under (a reference), taken when its head begins */
    char *head; /* copy of the request head (names lower-cased, as h2o does), malloc'd */
    ug_header_t headers[UG_FRONT_MAX_HEADERS];
    ug_front_head_t h;
    const ug_route_t *route;
    char *acrh; /* several Access-Control-Request-Headers joined (malloc'd), or NULL */
    ug_gate_decision_t gate;
    int is_preflight; /* OPTIONS + Origin + Access-Control-Request-Method, as handler.c's CORS filter sees it */
    struct timespec received_at;
    ug_upload_t *upload;
    uint64_t body_left; /* BODY_CONTENT_LENGTH: bytes still to read */
    struct phr_chunked_decoder decoder;
    int body_read; /* the whole body has been read: the connection may persist */
    ug_forward_t *forward;
    char *forward_head;
    char *response; /* being written */
    int keep_alive; /* after the response */
    /* for the access log and metrics (observe.h), reported when the request ends */
    int begun;      /* the head was taken: the request counts */
    int status;     /* of the response written, 0 before one */
    size_t bytes_out;
    uint64_t bytes_in;
    ug_err error;   /* uploadgate's own error response, UG_OK if none */
    unsigned files;
    uint64_t upload_bytes;
    int handed_over;
    char request_id[UG_REQUEST_ID_MAX + 1];
};

struct ug_front_conn {
    h2o_socket_t *sock;
    h2o_accept_ctx_t *actx;
    struct ug_front_thread *ft;
    struct timeval connected_at;
    enum ug_front_state state;
    h2o_timeout_entry_t timeout_entry;
    h2o_timeout_t *timeout;   /* the queue timeout_entry is linked to, NULL when none */
    h2o_linklist_t idle_link; /* in ft->idle while waiting for a head with an empty input */
    size_t head_parsed;       /* bytes of sock->input already given to phr_parse_request for this head */
    unsigned requests;        /* taken on this connection, the current one included */
    int tls;                  /* a TLS listener's: h2o's socket layer reads and decrypts for us (see read_input) */
    char client_address[NI_MAXHOST];
    struct ug_front_req req;
};

/* ---- front_http1.c ---- */

/* Link the connection's timeout entry to `timeout` (NULL: none), unlinking it first. */
void ug_front_set_timeout(struct ug_front_conn *conn, h2o_timeout_t *timeout);
/* Close the socket and free the connection, aborting an upload in flight. Ends the connection. */
void ug_front_close(struct ug_front_conn *conn);
/* Read the body (after a 100 Continue when the client expects one). May end the connection. */
void ug_front_start_body(struct ug_front_conn *conn);
/* Write a complete response (`buf`, malloc'd, taken over), then keep the connection or close it as req.keep_alive
 * says. Ends this exchange; the connection goes on from the write's completion. */
void ug_front_write_response(struct ug_front_conn *conn, char *buf, size_t len);

/* ---- front_exchange.c ---- */

/* A head the front took (conn->req.h scanned, req.route set): decide it and serve it. May end the connection. */
void ug_front_serve(struct ug_front_conn *conn);
/* Send uploadgate's JSON error for `e`, after the `extra` fields (at most UG_CORS_MAX_HEADERS + 1); message NULL = the default. */
void ug_front_respond_error(struct ug_front_conn *conn, ug_err e, const char *message, const ug_header_t *extra, size_t num_extra);
/* Remove the upload's files at once, then send the error (the pipeline's message unless `why` is given). */
void ug_front_fail_upload(struct ug_front_conn *conn, ug_err e, const char *why);
/* The body is complete: finish the upload and forward its manifest; the response follows the app's answer. */
void ug_front_finish_body(struct ug_front_conn *conn);
/* The request ends (answered, or the connection closed): its access line and metrics, once (observe.h). */
void ug_front_report(struct ug_front_conn *conn);

#endif
