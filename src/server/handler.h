/*
 * handler.h - the h2o handler of every request the fronts leave to h2o's
 * pipeline: h2o has read the whole body into req->entity (spilled to mmapped
 * files on the storage volume above the spool threshold) before on_req runs.
 * Requests of upload routes are served by the exchange through its buffered
 * transport (front/buffered.h); the gate decides the others where a CORS or
 * auth policy applies, and they are declined so that the next handler (the
 * reverse proxy) passes them through.
 */
#ifndef UG_SERVER_HANDLER_H
#define UG_SERVER_HANDLER_H

#include <h2o.h>
#include "config/config.h"
#include "common/errors.h"
#include "common/metrics.h"
#include "config/runtime.h"

/*
 * Register the upload handler, the CORS response filter and the access logger
 * (one JSON line and the request metrics for every request h2o serves on the
 * pathconf, proxied ones included) on `pathconf`. `runtime` gives each request
 * the configuration it runs under; `metrics` may be NULL. Both must outlive the
 * h2o configuration. Requests use their event loop's forwarder and auth checkers
 * (loop/loop.h ug_loop_of), which the server makes for every context.
 */
void ug_handler_register(h2o_pathconf_t *pathconf, ug_runtime_slot_t *runtime, ug_metrics_t *metrics);

/* Send uploadgate's JSON error response ({"error":{"code","message"}}) for `e`; message NULL = the default one. */
void ug_handler_send_error(h2o_req_t *req, ug_err_t e, const char *message);

#endif
