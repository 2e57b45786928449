/*
 * forward.h - send one request (the manifest) to the app over HTTP/1.1 and
 * collect its answer, on h2o's event loop (h2o_http1client with a per-thread
 * keep-alive socket pool).
 *
 * The app's response to a manifest is small (a JSON acknowledgement), so it is
 * collected whole, up to UG_FORWARD_MAX_RESPONSE bytes, and handed over in one
 * callback; a larger one is a 502. Pass-through traffic does not use this
 * module (h2o's reverse proxy streams it).
 *
 * Ownership: ug_forward_start() stores a handle in *slot that lives until the
 * done callback is called (*slot is set to NULL first, and the handle freed
 * after it returns) or until ug_forward_cancel(). The done callback may run
 * before ug_forward_start() returns (e.g. an immediate connect failure), so
 * test *slot rather than keeping a copy of the handle. The request head and
 * body must stay valid until then. Everything in a ug_forward_response_t is
 * valid only during the callback.
 */
#ifndef UG_LOOP_FORWARD_H
#define UG_LOOP_FORWARD_H

#include <h2o.h>
#include "config/config.h"
#include "common/errors.h"

#define UG_FORWARD_MAX_RESPONSE (8u * 1024 * 1024)

/* Per event-loop state: one per h2o_context_t. */
typedef struct ug_forward_ctx {
    h2o_http1client_ctx_t client_ctx;
    h2o_timeout_t io_timeout;
    h2o_socketpool_t pool;
    const ug_backend_t *backend;
} ug_forward_ctx_t;

void ug_forward_ctx_init(ug_forward_ctx_t *fc, h2o_context_t *ctx, const ug_backend_t *backend);
void ug_forward_ctx_dispose(ug_forward_ctx_t *fc);

typedef struct ug_forward_response {
    ug_err_t err;         /* UG_OK: the app answered; UG_ERR_BAD_GATEWAY / UG_ERR_GATEWAY_TIMEOUT otherwise */
    const char *reason_code; /* failure class for metrics: "connect", "timeout", "bad_response", "too_large"; NULL on success */
    const char *detail; /* why it failed (static string), NULL on success */
    int status;
    h2o_iovec_t reason;
    const h2o_header_t *headers; /* names are lower-case */
    size_t num_headers;
    h2o_iovec_t body;
} ug_forward_response_t;

typedef void (*ug_forward_done_cb)(void *data, const ug_forward_response_t *res);
typedef struct ug_forward ug_forward_t;

/* Start sending head + body to the backend; `done` is called exactly once unless cancelled. -1 when out of memory. */
int ug_forward_start(ug_forward_t **slot, ug_forward_ctx_t *fc, h2o_iovec_t head, h2o_iovec_t body, ug_forward_done_cb done,
                     void *data);

/* Abandon a forward in flight; the done callback is not called. */
void ug_forward_cancel(ug_forward_t *f);

/* Give a forward in flight a new owner: `slot` and `data` replace those given to ug_forward_start (the done callback
 * stays). For an owner that moves (exchange/exchange.c: a request that outlives its client). */
void ug_forward_move(ug_forward_t *f, ug_forward_t **slot, void *data);

#endif
