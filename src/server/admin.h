/*
 * admin.h - the admin listener (config `admin: {address: ...}`): probes and
 * metrics on their own address and thread, never on the public listeners.
 *
 *   GET /healthz  200 {"status":"ok"} while the process serves (liveness)
 *   GET /readyz   200 {"status":"ready",...} only when the server is not
 *                 stopping, the storage directory is writable with
 *                 storage.min_free left, the object store (storage.s3)
 *                 answered its last probe, and the app answers 2xx at
 *                 backend.health_path (when configured); else 503 with the
 *                 failed check in "reason"
 *   GET /metrics  Prometheus text exposition (metrics.h), gauges refreshed
 *
 * The backend check runs asynchronously on the admin thread's own event loop
 * (bounded by UG_ADMIN_HEALTH_TIMEOUT_MS), so a hanging app never delays
 * /healthz. Everything else is 404, other methods 405.
 */
#ifndef UG_SERVER_ADMIN_H
#define UG_SERVER_ADMIN_H

#include <stddef.h>

#include "config/config.h"
#include "common/errors.h"
#include "common/metrics.h"
#include "config/runtime.h"
#include "store/s3_client.h"

#define UG_ADMIN_HEALTH_TIMEOUT_MS 2000

typedef struct ug_admin ug_admin_t;

/* What the admin asks the server while answering (called on the admin thread). */
typedef struct ug_admin_hooks {
    size_t (*connections)(void *data); /* open client connections, for the uploadgate_connections gauge */
    void *data;
    const ug_s3_client_t *s3;          /* storage.s3's client: /readyz is 503 while the store is not up; NULL = none */
} ug_admin_hooks_t;

/*
 * Bind `address` (host/port of a ug_listen_t) and start the admin thread.
 * `runtime` gives the current storage and health settings; `backend` is the
 * start-up configuration's (restart-only). All must outlive the admin.
 */
ug_err_t ug_admin_start(const ug_listen_t *address, ug_runtime_slot_t *runtime, const ug_backend_t *backend, ug_metrics_t *metrics,
                      ug_admin_hooks_t hooks, ug_admin_t **out, char *errbuf, size_t errlen);

/* From now on /readyz answers 503 "shutting down" (SIGTERM: load balancers stop sending before the listeners close). */
void ug_admin_set_stopping(ug_admin_t *admin);

/* Stop the thread and close the listener; the context is left to the exiting process, as the workers' are. NULL is a no-op. */
void ug_admin_stop(ug_admin_t *admin);

#endif
