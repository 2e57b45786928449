/*
 * handler.h - the h2o handler for upload routes on h2o's buffered path
 * (HTTP/2, and HTTP/1.1 served by h2o): h2o has read the whole body into
 * req->entity (spilled to mmapped files on the storage volume above the spool
 * threshold) before on_req runs. Requests that match no upload route are
 * declined so that the next handler (the reverse proxy) passes them through.
 */
#ifndef UG_HANDLER_H
#define UG_HANDLER_H

#include <h2o.h>
#include "config.h"
#include "errors.h"
#include "metrics.h"
#include "runtime.h"

/*
 * Register the upload handler, the CORS response filter and the access logger
 * (one JSON line and the request metrics for every request h2o serves on the
 * pathconf, proxied ones included) on `pathconf`. `runtime` gives each request
 * the configuration it runs under; `metrics` may be NULL; `backend` is the
 * start-up configuration's (restart-only). All must outlive the h2o configuration.
 */
void ug_handler_register(h2o_pathconf_t *pathconf, ug_runtime_slot_t *runtime, ug_metrics_t *metrics, const ug_backend_t *backend);

/* Send uploadgate's JSON error response ({"error":{"code","message"}}) for `e`; message NULL = the default one. */
void ug_handler_send_error(h2o_req_t *req, ug_err e, const char *message);

/* ---- shared with the streaming HTTP/1.1 front (front_http1.c), which serves upload routes on the same threads ---- */

struct ug_forward_ctx;
struct thread_state;

typedef struct ug_handler_shared {
    ug_runtime_slot_t *runtime;         /* the current configuration */
    ug_metrics_t *metrics;              /* may be NULL */
    struct ug_forward_ctx *forward;     /* this event loop's forwarder (keep-alive pool to the app) */
    struct thread_state *thread;        /* this event loop's auth checkers (see ug_handler_checker) */
} ug_handler_shared_t;

/*
 * What the upload handler registered in ctx's configuration keeps for `ctx`
 * (borrowed: valid as long as the context). -1 when there is no upload
 * handler, or it was not initialised for this context.
 */
int ug_handler_shared(h2o_context_t *ctx, ug_handler_shared_t *out);

/*
 * This event loop's auth checker for `route` of `rt` (NULL when the route has
 * no auth, or its keys could not be loaded: the gate then refuses). Valid until
 * the next call with another runtime on this thread: use it at once.
 */
ug_auth_checker_t *ug_handler_checker(const ug_handler_shared_t *sh, ug_runtime_t *rt, const ug_route_t *route);

#endif
