/*
 * front/h1_conn.h - the state of one connection of the HTTP/1.1 front
 * (front/h1.c: accept, reading heads and bodies with backpressure,
 * timeouts, hand-over to h2o or to the HTTP/2 front, writing, keep-alive and
 * closing). One request's meaning - gate, method, upload pipeline, forwarding
 * the manifest, the response's fields - is exchange/exchange.c's, reached
 * through the transport callbacks (exchange/exchange.h).
 *
 * A connection moves through
 *
 *   HEAD --(ug_head_refusal)--> RESPONSE -> LINGER -> closed
 *   HEAD -> [CONTINUE] -> BODY -> FORWARD -> RESPONSE -> HEAD (keep-alive) ...       an upload (exchange/exchange.c)
 *   HEAD -> [CONTINUE] -> PASS_BODY -> PASS -> HEAD (keep-alive) ...                  any other request, run by h2o's
 *                                                                                     pipeline (front/h1_pass.c)
 *   HEAD -> [CONTINUE] -> PASS_BODY -> 101 written --> HTTP/2 front (ug_h2_accept_upgrade), conn freed
 *                                                                                     one asking for h2c
 *                      any refusal -> RESPONSE -> LINGER -> closed
 *
 * The socket is read only in HEAD, BODY, PASS_BODY and LINGER (cleartext: by the front itself; TLS: by h2o, decrypting; see
 * READ_SIZE in front/h1.c); exactly one timeout entry is linked at a time, and while a body is read the rate
 * window's (rate_entry) beside it.
 *
 * Ownership: the conn owns its socket until it closes it or hands it to h2o,
 * and everything in `req`, which is reset between requests: the head copy,
 * the gate decision, the upload (until released or aborted), the forward in
 * flight and the response being written. Functions below that may end the
 * connection say so: after them the conn must not be touched.
 */
#ifndef UG_FRONT_H1_CONN_H
#define UG_FRONT_H1_CONN_H

#include <netdb.h>
#include <time.h>

#include <h2o.h>

#include "exchange/exchange.h"

enum ug_h1_state {
    UG_H1_HEAD,
    UG_H1_CONTINUE,
    UG_H1_BODY,
    UG_H1_FORWARD,
    UG_H1_RESPONSE,
    UG_H1_LINGER,
    UG_H1_PASS_BODY, /* a pass-through request's body arrives into sock->input, as h2o buffers it */
    UG_H1_PASS,      /* h2o's pipeline serves it; its response is written as it comes */
};

/* Room for one interim response head: a status line and a few fields (a 104's Location fits with room). */
#define UG_H1_INTERIM_MAX 1536

typedef struct ug_h1_pass ug_h1_pass_t;
typedef struct ug_h1_conn ug_h1_conn_t;

struct ug_h1_conn {
    h2o_conn_t super; /* what h2o's pipeline sees of this connection (front/h1_pass.c), set at accept */
    h2o_socket_t *sock;
    h2o_accept_ctx_t *actx;
    ug_loop_t *loop;
    struct timeval connected_at;
    enum ug_h1_state state;
    h2o_timeout_entry_t timeout_entry;
    h2o_timeout_t *timeout;   /* the queue timeout_entry is linked to, NULL when none */
    h2o_timeout_entry_t rate_entry; /* on loop->rate_timeout while a body is read: one window of its minimum rate */
    uint64_t rate_bytes;            /* body bytes read in the current window */
    ug_loop_watcher_t idle_watch; /* watched by the loop while waiting for a head with an empty input */
    size_t head_parsed;       /* bytes of sock->input already given to phr_parse_request for this head */
    unsigned requests;        /* taken on this connection, the current one included */
    int tls;                  /* a TLS listener's: h2o's socket layer reads and decrypts for us (see read_input) */
    char client_address[NI_MAXHOST];
    char *response;          /* being written */
    char interim[UG_H1_INTERIM_MAX]; /* a 1xx head (tp_interim) written when the body is let in (send_continue) */
    size_t interim_len;              /* 0: none */
    int keep_alive;          /* after the response */
    ug_exchange_t req; /* the request being served (exchange/exchange.h), transport fields set at accept */
    ug_h1_pass_t *pass; /* a request served by h2o's pipeline, NULL otherwise; its head is req.head */
    int upgrading;           /* the passed request asked for h2c (ug_head_h2c_upgrade): 101, then the HTTP/2 front */
    size_t upgrade_body_len; /* its body, at the start of sock->input, while the 101 is written */
};

/* ---- front/h1.c ---- */

/* Close the socket and free the connection, aborting an upload in flight. Ends the connection. */
void ug_h1_close(ug_h1_conn_t *conn);
/* Link the connection's one timeout entry to `timeout` (NULL: none). */
void ug_h1_set_timeout(ug_h1_conn_t *conn, h2o_timeout_t *timeout);
/* The response of a pass-through request was written completely: on to the next request, or close as it says. Ends
 * the request; may end the connection. */
void ug_h1_pass_done(ug_h1_conn_t *conn, int keep_alive);

/* ---- front/h1_pass.c ---- */

/* A head for h2o's pipeline (not the front's to take, not refused), copied to conn->req.head and parsed into `ph` (names as sent, pointing
 * into the copy): build h2o's request from it. Lower-cases the names in place. Returns 0, -1 when out of memory. */
int ug_h1_pass_begin(ug_h1_conn_t *conn, struct phr_header *ph, size_t nh);
/* The body (if any) is complete: it is sock->input's first `len` bytes, consumed when the request ends. Runs h2o's
 * pipeline; the response is written by the pass's output stream, and ug_h1_pass_done follows it. */
void ug_h1_pass_run(ug_h1_conn_t *conn, size_t len);
/* Dispose of h2o's request (stopping its generator, running the access loggers once it has run) and free the pass;
 * consumes its body from sock->input. Call before the socket is closed: the loggers ask it for the peer address. */
void ug_h1_pass_free(ug_h1_conn_t *conn);
/* The h2o_conn_t callbacks of a front connection. */
extern const h2o_conn_callbacks_t ug_h1_conn_callbacks;

#endif
