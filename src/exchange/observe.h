/*
 * observe.h - what both ingest paths report about a request, in one place, so
 * that logs and metrics are identical whichever path served it: the access log
 * line (log.h) and the request, upload, auth-failure and backend-error series
 * (metrics.h). h2o-free.
 */
#ifndef UG_EXCHANGE_OBSERVE_H
#define UG_EXCHANGE_OBSERVE_H

#include <stdint.h>

#include "exchange/gate.h"
#include "common/log.h"
#include "common/metrics.h"
#include "upload/upload.h"

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

/* What became of an upload once the app answered its manifest. */
typedef struct ug_upload_outcome {
    unsigned files;
    uint64_t stored_bytes;
    int handed_over; /* the app accepted it (< 400): the files are the app's now */
} ug_upload_outcome_t;

/*
 * The app answered an upload's manifest with `status`, or could not be reached (`err` != UG_OK, `reason_code` from
 * forward.h): count a backend error, then hand the files over, or remove them unless `keep_on_error`. Frees `upload`
 * (both ingest paths settle an upload here, so they cannot drift apart).
 */
void ug_observe_settle_upload(ug_metrics_t *m, ug_upload_t *upload, int keep_on_error, ug_err_t err, int status,
                              const char *reason_code, ug_upload_outcome_t *out);

/* A gate decision that refused the caller's credentials: auth_failures_total{reason}. Other decisions are ignored. */
void ug_observe_gate(ug_metrics_t *m, const ug_gate_decision_t *d);

#endif
