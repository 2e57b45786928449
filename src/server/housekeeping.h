/*
 * housekeeping.h - the storage janitor's thread (config storage.retention):
 * upload directories the app never moved or deleted are removed once older
 * than the retention, at start-up and then every UG_HOUSEKEEPING_PERIOD_S
 * seconds, on a thread of their own so that a large directory never delays a
 * request or a probe. Counts go to the metrics, removals to the event log.
 *
 * Reads storage.dir and storage.retention from the runtime current at each
 * pass, so a reload changes the retention without a restart.
 *
 * With object storage (storage.s3), the thread also sweeps the store: every
 * incomplete multipart upload under storage.s3.prefix older than
 * storage.retention is aborted, at start-up and then every retention period;
 * without a retention, those older than UG_HOUSEKEEPING_S3_CRASH_AGE_MS at
 * start-up only (what a crash left). The sweep runs on the S3 client's thread;
 * its result comes back through this thread's inbox.
 */
#ifndef UG_SERVER_HOUSEKEEPING_H
#define UG_SERVER_HOUSEKEEPING_H

#include "store/s3_client.h"
#include "upload/janitor.h"
#include "common/metrics.h"
#include "config/runtime.h"

#define UG_HOUSEKEEPING_PERIOD_S 60
#define UG_HOUSEKEEPING_S3_CRASH_AGE_MS (24ull * 3600 * 1000)

typedef struct ug_housekeeping ug_housekeeping_t;

/*
 * At start-up, before any request: remove what an earlier run left that no
 * request will ever finish nor any app take - every incoming upload directory
 * (retention or not) and stray "<n>.part" files (janitor.h). Logs what it
 * removed and adds it to `metrics` (may be NULL). Assumes this process is the
 * only uploadgate writing to `dir`.
 */
void ug_housekeeping_recover(const char *dir, ug_metrics_t *metrics);

/* One pass now (retention 0: nothing is removed). Adds to *counts; also reports them to `metrics` (may be NULL). */
void ug_housekeeping_pass(ug_runtime_slot_t *runtime, ug_metrics_t *metrics, ug_janitor_counts_t *counts);

/* Start the thread (its first pass runs at once). `s3` (may be NULL: no object storage) must outlive the thread's
 * sweeps: stop the client before ug_housekeeping_stop. NULL when the thread could not be started. */
ug_housekeeping_t *ug_housekeeping_start(ug_runtime_slot_t *runtime, ug_metrics_t *metrics, ug_s3_client_t *s3);

/* Stop the thread (a pass in progress finishes first) and free. NULL is a no-op. */
void ug_housekeeping_stop(ug_housekeeping_t *hk);

#endif
