/*
 * server.h - h2o glue: global/host/path configuration, listeners (one socket
 * per listener per thread, SO_REUSEPORT), TLS with ALPN, one event loop and
 * h2o_context_t per worker thread, and graceful shutdown.
 *
 * Ownership: the server borrows the runtime slot and the metrics.
 */
#ifndef UG_SERVER_SERVER_H
#define UG_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include "config/config.h"
#include "common/errors.h"
#include "common/metrics.h"
#include "config/runtime.h"
#include "store/s3_client.h"

typedef struct ug_server ug_server_t;

/*
 * Build the h2o configuration and open every listening socket (so bind errors
 * surface here). Listeners, threads, timeouts and the backend come from the
 * runtime current now (kept for the server's life); each request then runs
 * under the runtime current when it begins. `runtime` and `metrics` (may be
 * NULL) must outlive the server.
 */
ug_err_t ug_server_new(ug_runtime_slot_t *runtime, ug_metrics_t *metrics, ug_server_t **out, char *errbuf, size_t errlen);

/* The object store client every loop uses for `store: s3` routes (loop->s3); borrowed, must outlive the server's
 * loops. Before ug_server_start. */
void ug_server_set_s3(ug_server_t *s, ug_s3_client_t *s3);

/* Start the worker threads. Signals should be blocked by the caller first (threads inherit the mask). */
ug_err_t ug_server_start(ug_server_t *s, char *errbuf, size_t errlen);

/*
 * Stop accepting, let requests in flight finish for up to grace_ms, then return.
 * Joins the worker threads. Returns how many client connections were still
 * open at the deadline (0: everything finished).
 */
size_t ug_server_stop(ug_server_t *s, uint64_t grace_ms);

/*
 * A listening socket for `l` (SO_REUSEADDR, and SO_REUSEPORT when asked: one socket per worker thread), or -1 with
 * "listen ADDRESS: reason" in errbuf.
 */
int ug_server_open_socket(const ug_listen_t *l, int reuseport, char *errbuf, size_t errlen);

/* Open client connections, all threads (any thread may ask). */
size_t ug_server_connections(ug_server_t *s);

void ug_server_free(ug_server_t *s);

#endif
