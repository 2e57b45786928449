/*
 * front/h2.h - uploadgate's own HTTP/2 front (h2c prior knowledge, and h2 when
 * TLS ALPN picks it), built on libnghttp2 (framing, HPACK, flow control).
 *
 * h2o 2.2.5 buffers every HTTP/2 request body before a handler runs (each DATA
 * payload copied into a per-stream buffer that doubles, then spills to an
 * mmapped file): 4 x 20 MiB on one connection took 8-10 x as long as over
 * HTTP/1.1. Here the streams the HTTP/1.1 front would take (exchange/head.h:
 * uploads and CORS preflights of upload routes) run the same exchange
 * (exchange/exchange.h), with DATA frames fed to the upload pipeline as they
 * arrive, straight from the read buffer. Every other stream keeps h2o's request
 * pipeline - reverse proxy, the upload handler for the cases the front leaves
 * to it, CORS filter, access log - through a connection object of our own
 * (front/h2_pass.c), its body buffered as h2o would.
 *
 * Timeouts (config `timeouts:`): a stream's head must be complete within
 * header of its first frame; a stream whose body pauses for body_idle is reset
 * (and the connection closed if it had no other stream); a write the client
 * does not take for body_idle closes the connection; with no stream open the
 * connection is closed header after accept, and
 * keepalive after its last stream ended (deadlines: frames such as PINGs do
 * not extend them); while the app works on a request, none runs (the backend's
 * own timeout does). Expiry closes the connection; uploads in flight are
 * aborted (nothing stays on disk, nothing reaches the app). The HTTP/1.1
 * front also hands over connections it has switched with "Upgrade: h2c"
 * (ug_h2_accept_upgrade).
 */
#ifndef UG_FRONT_H2_H
#define UG_FRONT_H2_H

#include <h2o.h>

#include "loop/loop.h"
#include "exchange/head.h"

/*
 * Serve `sock` as an HTTP/2 connection. sock->input may already hold the
 * start of the client's connection preface (read by the HTTP/1.1 front). The
 * front owns the socket from here and closes it; sock->on_close (set by the
 * listener) runs then. `actx` must outlive the connection.
 */
void ug_h2_accept(ug_loop_t *loop, h2o_accept_ctx_t *actx, h2o_socket_t *sock, struct timeval connected_at,
                        const char *client_address);

/* The HTTP/1.1 request that asked for the switch (RFC 7540 3.2). */
typedef struct ug_h2_upgrade {
    const char *settings; /* its HTTP2-Settings value: a base64url SETTINGS payload, checked by the caller */
    size_t settings_len;
    const ug_head_t *head; /* its head, field names lower-case */
    const char *body;            /* its complete body: the first body_len bytes of sock->input */
    size_t body_len;
} ug_h2_upgrade_t;

/*
 * Serve `sock`, on which "101 Switching Protocols" was just written, as an
 * HTTP/2 connection whose stream 1 is the request `up` describes (its response
 * goes out on that stream). Everything `up` points to is copied (the body is
 * consumed from sock->input); the rest of sock->input is the start of the
 * client's preface. Ownership of the socket as for ug_h2_accept.
 */
void ug_h2_accept_upgrade(ug_loop_t *loop, h2o_accept_ctx_t *actx, h2o_socket_t *sock, struct timeval connected_at,
                         const char *client_address, const ug_h2_upgrade_t *up);

/* When the server stops, every connection of the loop sends GOAWAY, serves the streams it has begun and closes. */

#endif
