/*
 * front/h1.h - uploadgate's own HTTP/1.1 front (cleartext, and TLS when ALPN picks http/1.1).
 *
 * h2o 2.2.5 reads a whole request body before any handler runs (docs/architecture.md,
 * "Request bodies"): it cannot refuse an upload at header time, answers Expect: 100-continue
 * by itself, and holds the body in memory or a spool file. The front instead
 * reads each request head itself, on h2o's socket layer, and serves upload
 * requests (and CORS preflights) of upload routes at header time: gate, method,
 * declared size and free space are decided before a body byte is read; the
 * body then flows chunk by chunk into the upload pipeline (upload.h) with
 * backpressure, and the app's answer is written back by the front. HTTP/2
 * connections (the prior-knowledge preface, or ALPN h2) go to the HTTP/2 front
 * (front/h2.h). Every other request runs h2o's request pipeline on the
 * front's connection (front/h1_pass.c), its body buffered as h2o would,
 * or switches to the HTTP/2 front when it asks for h2c. Heads no one should
 * serve (exchange/head.h ug_head_refusal: several Host fields, ambiguous
 * framing, ...) get a JSON error and the connection is closed. An
 * absolute-form target is served as its path (exchange/head.h). h2o's own HTTP/1
 * serves no connection the front accepted.
 *
 * Timeouts (config `timeouts:`): header (from accept, or from the first byte
 * of a later head, to the end of the head; not re-armed by reads, so a
 * trickled head is cut off), body_idle (re-armed on every read of a body, and
 * bounding the write of a response), keepalive (idle time between requests).
 * Expiry closes the connection without a response; an upload in flight is
 * aborted (nothing stays on disk, nothing reaches the app).
 *
 * Memory: the front reads the socket itself, 64 KiB at a time, feeds what it
 * read and consumes it, so sock->input never holds more than one read plus a
 * partial head - it never grows to the spool threshold (h2o's own read loop
 * would, and would then spill every body to an mmapped file).
 *
 * Refusals before or during a body are sent at once with "Connection: close";
 * the front then half-closes and drops what the client still sends for a few
 * seconds, so that the client reads the answer instead of a reset.
 */
#ifndef UG_FRONT_H1_H
#define UG_FRONT_H1_H

#include <h2o.h>

#include "loop/loop.h"

/*
 * Serve a freshly accepted connection. Takes over `sock` exactly as
 * h2o_accept() does: the front closes it, or hands it to h2o, which closes
 * it; sock->on_close (set by the caller) runs either way. `actx` must outlive
 * the connection (it is the listener's); `loop` is its event loop's (NULL:
 * out of memory: the socket is closed). On a TLS listener (actx->ssl_ctx)
 * the front runs the handshake itself (bounded by timeouts.header); ALPN h2
 * goes to the HTTP/2 front, http/1.1 or no ALPN stays with the front, which then
 * reads what h2o's socket layer decrypts. PROXY-protocol listeners are passed
 * to h2o_accept() unchanged.
 */
void ug_h1_accept(ug_loop_t *loop, h2o_accept_ctx_t *actx, h2o_socket_t *sock);

#endif
