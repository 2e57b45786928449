/*
 * front_h2.h - uploadgate's own HTTP/2 front (h2c prior knowledge, and h2 when
 * TLS ALPN picks it), built on libnghttp2 (framing, HPACK, flow control).
 *
 * h2o 2.2.5 buffers every HTTP/2 request body before a handler runs (each DATA
 * payload copied into a per-stream buffer that doubles, then spills to an
 * mmapped file): 4 x 20 MiB on one connection took 8-10 x as long as over
 * HTTP/1.1. Here the streams the HTTP/1.1 front would take (front_parse.h:
 * uploads and CORS preflights of upload routes) run the same exchange
 * (front_exchange.h), with DATA frames fed to the upload pipeline as they
 * arrive, straight from the read buffer. Every other stream keeps h2o's request
 * pipeline - reverse proxy, the upload handler for the cases the front leaves
 * to it, CORS filter, access log - through a connection object of our own
 * (front_h2_pass.c), its body buffered as h2o would.
 *
 * Timeouts (config `timeouts:`): a stream's head must be complete within
 * header of its first frame; a stream whose body pauses for body_idle is reset
 * (and the connection closed if it had no other stream); a write the client
 * does not take for body_idle closes the connection; with no stream open the
 * connection is closed header after accept, and
 * keepalive after its last stream ended (deadlines: frames such as PINGs do
 * not extend them); while the app works on a request, none runs (the backend's
 * own timeout does). Expiry closes the connection; uploads in flight are
 * aborted (nothing stays on disk, nothing reaches the app). Connections
 * upgraded by "Upgrade: h2c" are h2o's (front_parse.h).
 */
#ifndef UG_FRONT_H2_H
#define UG_FRONT_H2_H

#include <h2o.h>

struct ug_front_thread;

/*
 * Serve `sock` as an HTTP/2 connection. sock->input may already hold the
 * start of the client's connection preface (read by the HTTP/1.1 front). The
 * front owns the socket from here and closes it; sock->on_close (set by the
 * listener) runs then. `actx` must outlive the connection.
 */
void ug_front_h2_accept(struct ug_front_thread *ft, h2o_accept_ctx_t *actx, h2o_socket_t *sock, struct timeval connected_at,
                        const char *client_address);

/* The server is shutting down: every connection of the loop sends GOAWAY, serves the streams it has begun and closes. */
void ug_front_h2_shutdown(struct ug_front_thread *ft);

#endif
