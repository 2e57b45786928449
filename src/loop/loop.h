/*
 * loop/loop.h - what every transport of one event loop shares: the configuration slot and metrics, the forwarder
 * (keep-alive pool to the app), the auth checkers, the timeout queues (one per duration), the body read buffer and
 * the shutdown notice. The server creates one per event loop (server.c) and hands it to the HTTP/1.1 front, which
 * hands it on to the HTTP/2 front; h2o's buffered path (handler.c) finds it with ug_loop_of.
 *
 * Ownership: the loop belongs to its h2o context (stored in its storage, freed by h2o_context_dispose); everything it
 * holds is its own. Only the loop's thread may use it.
 */
#ifndef UG_LOOP_LOOP_H
#define UG_LOOP_LOOP_H

#include <stdatomic.h>
#include <sys/types.h>

#include <h2o.h>

#include "config/config.h"
#include "loop/forward.h"
#include "common/metrics.h"
#include "policy/auth.h"
#include "config/runtime.h"
#include "store/s3_client.h"

/* Told once the server stops, from the loop's once-a-second shutdown poll (see ug_loop_watch). */
typedef struct ug_loop_watcher {
    h2o_linklist_t link;
    void (*on_shutdown)(struct ug_loop_watcher *w); /* may unlink, or free, the watcher */
} ug_loop_watcher_t;

typedef struct ug_loop {
    h2o_context_t *ctx;
    ug_runtime_slot_t *runtime; /* the current configuration */
    ug_metrics_t *metrics;      /* may be NULL */
    ug_forward_ctx_t forward;   /* the forwarder: keep-alive pool to the app, backend.* of the start-up configuration */
    h2o_timeout_t header_timeout, body_timeout, keepalive_timeout, linger_timeout;
    h2o_timeout_t rate_timeout;  /* timeouts.body_rate_window: one window of a body's minimum rate (body_rate.h) */
    uint64_t body_min_rate;      /* timeouts.body_min_rate (restart-only, like every timeout); 0 = not measured */
    h2o_linklist_t watchers;           /* ug_loop_watcher_t: told of a shutdown */
    h2o_timeout_entry_t shutdown_poll; /* on ctx->one_sec_timeout while `watchers` is not empty */
    char *body_buf;                    /* UG_LOOP_BODY_READ_SIZE bytes, malloc'd on first use; empty between events */
    ug_runtime_t *checkers_rt;         /* the runtime `checkers` were made for (a reference), NULL before the first */
    ug_auth_checker_t **checkers;      /* indexed like checkers_rt->config->routes; NULL for routes without auth */
    /* Object storage (routes with `store: s3`): the process's S3 client, set by the server after ug_loop_new (NULL
     * without storage.s3), and this loop's inbox of its completions (NULL when out of memory: S3 routes then answer
     * 503). The S3 thread wakes the loop with a message to s3_receiver; the loop then drains the inbox, so every
     * completion runs on the loop's thread. The inbox is freed with the loop: the client must have stopped first. */
    ug_s3_client_t *s3;
    ug_s3_inbox_t *s3_inbox;
    h2o_multithread_receiver_t s3_receiver;
    h2o_multithread_message_t s3_message; /* the one wake message, in flight while s3_woken is set */
    atomic_int s3_woken;
} ug_loop_t;

/* The loop of `ctx`, made now (timeouts and forwarder from the configuration `runtime` holds, whose restart-only
 * settings are the start-up ones) and kept in ctx's storage for ug_loop_of. `metrics` may be NULL; both must outlive
 * the context. NULL when out of memory: the loop's connections are then closed at accept. */
ug_loop_t *ug_loop_new(h2o_context_t *ctx, ug_runtime_slot_t *runtime, ug_metrics_t *metrics);
/* The loop ug_loop_new made for `ctx` (borrowed), NULL if none. */
ug_loop_t *ug_loop_of(h2o_context_t *ctx);

/* After a refusal, how long the HTTP/1.1 front keeps reading (and dropping) what the client still sends before
 * closing (loop->linger_timeout). Closing at once with unread bytes makes the kernel send a RST, which can destroy the
 * response before the client reads it (RFC 9112 9.6: close in stages). */
#define UG_LOOP_LINGER_MS 5000

/* The fronts read cleartext sockets themselves, this much at a time, into the loop's body_buf (see front/h1.c).
 * One buffer per event loop, so its size does not grow with connections. On a paravirtualised CPU every syscall exit
 * is costly: 1 MiB instead of 256 KiB cut the reads per 4 x 20 MiB upload 348 -> 135 and the writes 340 -> 128, and
 * uploadgate's CPU per run 12.1 -> 9.8 ticks (docs/design-notes.md, 1 MiB body reads); 4 MiB gave no more. */
#define UG_LOOP_BODY_READ_SIZE (1024 * 1024)
/* The loop's body buffer (UG_LOOP_BODY_READ_SIZE bytes), allocated on first use; NULL when out of memory. */
char *ug_loop_body_buf(ug_loop_t *loop);

/* One read() of a cleartext socket. */
typedef enum ug_read_result {
    UG_READ_GONE = -1, /* end of stream, or an error: the peer is gone */
    UG_READ_NONE = 0,  /* nothing was waiting */
} ug_read_result_t;
/* One read() of a cleartext socket into buf: the bytes read (> 0), or a ug_read_result_t. */
ssize_t ug_loop_read(h2o_socket_t *sock, char *buf, size_t len);

/* Whether the peer closed (or reset) a connection that is not being read: the kernel's end of stream or error, seen
 * without reading. Like other servers, a client's half-close before the answer counts as leaving. Bytes still queued
 * before the end (pipelined) hide it; a response write then fails or is lost with the connection. */
int ug_loop_peer_gone(h2o_socket_t *sock);

/* Decrypted bytes land in sock->input in whatever amounts the kernel queued; a small receive buffer keeps that (and
 * the encrypted copy beside it) to a few hundred KiB per connection instead of the several MiB TCP autotuning allows,
 * far below the spool threshold. Both fronts cap TLS sockets that carry bodies. */
#define UG_LOOP_TLS_RCVBUF (256 * 1024)
void ug_loop_cap_tls_receive_buffer(h2o_socket_t *sock);

/* Whether a body that brought `bytes` in the window just ended keeps the minimum rate (ug_body_rate_ok). */
int ug_loop_rate_ok(const ug_loop_t *loop, uint64_t bytes);

/*
 * Tell `w` when the server stops. h2o 2.2.5 tells our connections nothing (h2o_context_request_shutdown only sets
 * ctx->shutdown_requested), so the loop checks once a second while any watcher is linked. Linking a linked watcher
 * changes nothing. ug_loop_unwatch unlinks it (an unlinked one too).
 */
void ug_loop_watch(ug_loop_t *loop, ug_loop_watcher_t *w);
void ug_loop_unwatch(ug_loop_watcher_t *w);

/*
 * This loop's auth checker for `route` of `rt` (NULL when the route has no auth, or its keys could not be loaded:
 * the gate then refuses). Valid until the next call with another runtime: use it at once.
 */
ug_auth_checker_t *ug_loop_checker(ug_loop_t *loop, ug_runtime_t *rt, const ug_route_t *route);

#endif
