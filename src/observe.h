/*
 * observe.h - what both ingest paths report about a request, in one place, so
 * that logs and metrics are identical whichever path served it: the access log
 * line (log.h) and the request, upload, auth-failure and backend-error series
 * (metrics.h). h2o-free.
 */
#ifndef UG_OBSERVE_H
#define UG_OBSERVE_H

#include <stdint.h>

#include "gate.h"
#include "log.h"
#include "metrics.h"

/* The `route` label of requests that matched no route (passed through). */
#define UG_OBSERVE_NO_ROUTE "none"
/* The status logged for a request whose client went away before any response (nginx's convention). */
#define UG_OBSERVE_CLIENT_CLOSED 499

/*
 * A finished request: one access line, requests_total / duration, and, when
 * `handed_over` (its files were handed to the app), upload bytes and files.
 * `was_begun`: ug_metrics_request_begin was called for it (in-flight gauge).
 */
void ug_observe_request(ug_metrics_t *m, const ug_access_record_t *r, int was_begun, int handed_over, uint64_t upload_bytes);

/* A gate decision that refused the caller's credentials: auth_failures_total{reason}. Other decisions are ignored. */
void ug_observe_gate(ug_metrics_t *m, const ug_gate_decision_t *d);

#endif
