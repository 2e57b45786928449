/*
 * front/h2_conn.h - the state of one connection and its streams of the HTTP/2
 * front (internal: front/h2.c, the connection and upload streams;
 * front/h2_pass.c, streams served by h2o's request pipeline).
 *
 * Ownership: the connection owns its socket, its nghttp2 session and every
 * stream, freed when nghttp2 closes the stream (on_stream_close) or when the
 * connection closes. nghttp2 may only be called outside its own callbacks for
 * mem_recv/mem_send; everything that wants bytes written asks for a flush
 * (ug_h2_want_flush), which runs from the event loop's zero timeout, never
 * nested inside a callback.
 */
#ifndef UG_FRONT_H2_CONN_H
#define UG_FRONT_H2_CONN_H

#include <netdb.h>

#include <h2o.h>
#include <nghttp2/nghttp2.h>

#include "exchange/exchange.h"
#include "front/h2_head.h"

typedef struct ug_h2_pass ug_h2_pass_t;
typedef struct ug_h2_conn ug_h2_conn_t;
typedef struct ug_h2_stream ug_h2_stream_t;

struct ug_h2_conn {
    h2o_conn_t super; /* first: h2o's pipeline sees this connection (front/h2_pass.c) */
    h2o_socket_t *sock;
    ug_loop_t *loop;
    nghttp2_session *session;
    ug_loop_watcher_t shutdown_watch; /* told by the loop when the server stops (GOAWAY) */
    h2o_linklist_t streams;    /* every open stream */
    h2o_linklist_t to_proceed; /* pass-through streams whose response data was taken: h2o_proceed_response after */
    h2o_linklist_t held_back;  /* pass-through streams waiting for pass_held to drop below UG_H2_PASS_CONN_HELD */
    size_t pass_held;          /* response bytes h2o gave the pass-through streams that nghttp2 has not taken yet */
    h2o_timeout_entry_t timeout_entry;
    h2o_timeout_t *timeout;          /* the queue timeout_entry is linked to, NULL when none */
    h2o_timeout_entry_t idle_entry;  /* while no stream is open: timeouts.header (before the first) or keepalive */
    h2o_timeout_entry_t flush_entry; /* on ctx->zero_timeout while a flush is wanted */
    char *wbuf;                      /* frames being written (copied out of nghttp2) */
    size_t wlen, wcap;
    int writing;
    int tls;
    int goaway;        /* GOAWAY submitted for shutdown */
    int32_t max_client_stream_id; /* the highest stream the client opened (HEADERS), for RFC 9113 5.1.1 */
    unsigned requests; /* streams begun: before the first, an idle connection gets timeouts.header */
    char client_address[NI_MAXHOST];
};

enum ug_h2_kind { UG_H2_HEADERS = 0, UG_H2_UPLOAD, UG_H2_PASS };

struct ug_h2_stream {
    ug_h2_conn_t *conn;
    int32_t id;
    h2o_linklist_t link;              /* in conn->streams */
    h2o_linklist_t proceed_link;      /* in conn->to_proceed or conn->held_back */
    h2o_timeout_entry_t head_timeout; /* on loop->header_timeout until the head is complete */
    h2o_timeout_entry_t body_timeout; /* on loop->body_timeout while the body arrives, re-armed by each DATA frame; for a
                                       * pass-through response, while it holds bytes the client does not take */
    h2o_timeout_entry_t rate_timeout; /* on loop->rate_timeout while the body arrives: one window of its minimum rate */
    uint64_t rate_bytes;              /* DATA bytes of the current window */
    enum ug_h2_kind kind;
    struct timeval began_at; /* its first HEADERS frame arrived */
    h2o_mem_pool_t pool;     /* copies of the request's fields */
    /* the request head, as received */
    h2o_iovec_t method, path, authority, scheme;
    ug_header_t *fields;
    size_t num_fields, cap_fields, head_bytes;
    int head_too_large;
    int reset; /* RST_STREAM submitted: whatever still arrives for it is dropped */
    /* UG_H2_UPLOAD */
    ug_exchange_t req;
    int paused;  /* the exchange wants no more body for now: its DATA is not given back to the windows */
    size_t held; /* DATA bytes taken while paused and not yet given back (nghttp2_session_consume) */
    char *body; /* the response body, malloc'd */
    size_t body_len, body_off;
    /* UG_H2_PASS */
    ug_h2_pass_t *pass;
};

/* ---- front/h2.c ---- */

/* Ask for the session's frames to be written soon (from the event loop, outside any nghttp2 callback). */
void ug_h2_want_flush(ug_h2_conn_t *conn);
/* Arm (on = 1, from now) or stop the stream's timeouts.body_idle timer: on expiry the stream is reset (CANCEL). */
void ug_h2_watch_stream(ug_h2_stream_t *s, int on);

/* Response bytes of h2o's pipeline (the reverse proxy) one connection may hold before its pass-through streams get no
 * more from the backend and no new one starts: what a client that does not open its flow-control windows can pin. */
#define UG_H2_PASS_CONN_HELD (4 * 1024 * 1024)
/* The receive buffer asked for a backend socket while it feeds an HTTP/2 stream: what one read of it can bring, and so
 * what a stream holds beyond the bytes the client is taking. */
#define UG_H2_PASS_UPSTREAM_RCVBUF (256 * 1024)
/* ---- front/h2_pass.c ---- */

/* The stream's head is complete and not the front's: hand it to h2o's pipeline (now, or at END_STREAM once its
 * body is buffered). Returns 0, or -1 when the stream must be reset. */
int ug_h2_pass_begin(ug_h2_stream_t *s);
/* What became of DATA for a pass-through stream. */
typedef enum ug_h2_pass_data_result {
    UG_H2_PASS_BUFFERED,   /* kept for h2o */
    UG_H2_PASS_OVER_LIMIT, /* it would take the body past s->req.pass_limit: the front answers 413 */
    UG_H2_PASS_NOMEM,      /* the buffer cannot grow: reset the stream */
} ug_h2_pass_data_result_t;
/* DATA for a pass-through stream: buffered for h2o (nothing is kept unless UG_H2_PASS_BUFFERED). */
ug_h2_pass_data_result_t ug_h2_pass_data(ug_h2_stream_t *s, const uint8_t *data, size_t len);
/* END_STREAM for a pass-through stream: run h2o's pipeline on it. */
void ug_h2_pass_end(ug_h2_stream_t *s);
/* Response data was taken from this stream (or it was held back): after the flush, h2o may produce more - unless the
 * connection holds UG_H2_PASS_CONN_HELD, when it waits in conn->held_back. */
void ug_h2_pass_proceed(ug_h2_stream_t *s);
/* The stream is closed: dispose of h2o's request (stopping its generator) and free the pass-through state. */
void ug_h2_pass_free(ug_h2_stream_t *s);
/* The h2o_conn_t callbacks of a front connection. */
extern const h2o_conn_callbacks_t ug_h2_conn_callbacks;

#endif
