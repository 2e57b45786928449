/*
 * metrics.h - uploadgate's Prometheus metrics registry and its text exposition
 * (format 0.0.4, served by the admin listener at /metrics). h2o-free.
 *
 * Families (every one is always rendered with # HELP and # TYPE, in this order):
 *   uploadgate_build_info{version}                 gauge, always 1
 *   uploadgate_ready                               gauge 0/1
 *   uploadgate_requests_in_flight                  gauge
 *   uploadgate_connections                         gauge, open client connections
 *   uploadgate_storage_free_bytes                  gauge
 *   uploadgate_janitor_removed_dirs_total          counter
 *   uploadgate_janitor_removed_parts_total         counter
 *   uploadgate_resumable_expired_total             counter
 *   uploadgate_requests_total{route,code}          counter
 *   uploadgate_request_duration_seconds{route}     histogram (UG_METRICS_BUCKETS)
 *   uploadgate_upload_bytes_total{route}           counter
 *   uploadgate_upload_files_total{route}           counter
 *   uploadgate_backend_errors_total{reason}        counter
 *   uploadgate_auth_failures_total{reason}         counter
 *   uploadgate_config_reloads_total{result}        counter; both "failure" and "success" exist from the start
 * and, once object storage is enabled (ug_metrics_s3_enable), after the scalars above and after the families:
 *   uploadgate_s3_up                               gauge 0/1, the store answered its last probe
 *   uploadgate_s3_sent_bytes_total                 counter, bytes the store accepted (objects and parts)
 *   uploadgate_s3_sent_parts_total                 counter, multipart upload parts the store accepted
 *   uploadgate_s3_retries_total                    counter, requests sent again after a transient failure
 *   uploadgate_s3_aborts_total                     counter, objects removed and stale uploads aborted
 *   uploadgate_s3_swept_uploads_total              counter, stale multipart uploads the sweep aborted
 *   uploadgate_s3_request_duration_seconds{operation} histogram (UG_METRICS_BUCKETS), one per attempt
 * A labelled family has a series per distinct label set seen so far, printed
 * sorted by its label values (byte order, first label first), so equal
 * registries render byte-identical text. Label values are copied, any number
 * of them (routes change at reload); old series stay, as counters must.
 *
 * Thread-safety: every function may be called from any thread at any time,
 * concurrently with any other except ug_metrics_free. Gauges are C11 atomics;
 * the labelled series sit behind one mutex (one lock per finished request, one
 * per render). Every function accepts m == NULL and then does nothing (render
 * returns NULL), so callers may run without metrics.
 *
 * Errors: an update that needs a new series and cannot allocate it is dropped
 * (there is nobody to report it to); the registry stays consistent.
 */
#ifndef UG_COMMON_METRICS_H
#define UG_COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ug_metrics ug_metrics_t;

/* Upper bounds (seconds) of the duration histogram's finite buckets; +Inf follows. */
#define UG_METRICS_BUCKETS 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300
#define UG_METRICS_BUCKET_COUNT 15

/* A new, empty registry (all values 0, not ready); NULL on OOM. Free with ug_metrics_free. */
ug_metrics_t *ug_metrics_new(void);
/* Frees the registry and every label copy. NULL ok. No other call may be running or follow. */
void ug_metrics_free(ug_metrics_t *m);

/* A request started: uploadgate_requests_in_flight += 1. Lock-free. */
void ug_metrics_request_begin(ug_metrics_t *m);

/*
 * One finished request: in_flight -= 1; uploadgate_requests_total{route,code=status} += 1;
 * uploadgate_request_duration_seconds{route} observes duration_s (a negative or
 * non-finite duration counts as 0: a clock step must not poison the sum); when
 * `is_upload`, uploadgate_upload_bytes_total{route} += upload_bytes and
 * uploadgate_upload_files_total{route} += files. `route` is a label value, NUL-terminated
 * (e.g. "/upload", or "none" for a request that matched no route); NULL counts as "".
 * Every end must follow one begin, or the in-flight gauge drifts (it is signed, so
 * a stray end shows as -1 rather than 2^64-1).
 */
void ug_metrics_request_end(ug_metrics_t *m, const char *route, int status, double duration_s, int is_upload, uint64_t upload_bytes,
                            uint64_t files);

/* uploadgate_backend_errors_total{reason} += 1; reason e.g. "connect", "timeout", "bad_response", "too_large". */
void ug_metrics_backend_error(ug_metrics_t *m, const char *reason);
/* uploadgate_auth_failures_total{reason} += 1; reason e.g. "missing_token", "invalid_token", "insufficient_scope",
 * "invalid_request". */
void ug_metrics_auth_failure(ug_metrics_t *m, const char *reason);
/* One janitor pass: uploadgate_janitor_removed_dirs_total += dirs_removed, ..._parts_total += parts_removed. */
void ug_metrics_janitor(ug_metrics_t *m, uint64_t dirs_removed, uint64_t parts_removed);
/* Resumable uploads the janitor removed after their expiry: uploadgate_resumable_expired_total += removed. */
void ug_metrics_resumable_expired(ug_metrics_t *m, uint64_t removed);
/* uploadgate_config_reloads_total{result="success"} (ok != 0) or {result="failure"} += 1. */
void ug_metrics_reload(ug_metrics_t *m, int ok);

/* Object storage (store/s3_client.h). Enable renders its families; the counters are lock-free, the histogram
 * (operation: "put", "create", "upload_part", "complete", "head", "abort", "delete", "probe", "list_uploads",
 * "sweep_abort") takes the lock. */
void ug_metrics_s3_enable(ug_metrics_t *m);
void ug_metrics_s3_sent(ug_metrics_t *m, uint64_t bytes, uint64_t parts);
void ug_metrics_s3_retry(ug_metrics_t *m);
void ug_metrics_s3_abort(ug_metrics_t *m);
void ug_metrics_s3_swept(ug_metrics_t *m, uint64_t aborted);
void ug_metrics_s3_request(ug_metrics_t *m, const char *operation, double duration_s);
void ug_metrics_set_s3_up(ug_metrics_t *m, int up); /* uploadgate_s3_up */

/* Gauges, set to the latest value. Lock-free. */
void ug_metrics_set_storage_free(ug_metrics_t *m, uint64_t bytes); /* uploadgate_storage_free_bytes */
void ug_metrics_set_connections(ug_metrics_t *m, uint64_t n);      /* uploadgate_connections */
void ug_metrics_set_ready(ug_metrics_t *m, int ready);             /* uploadgate_ready: 1 when ready != 0, else 0 */

/*
 * The whole exposition (text format 0.0.4, Content-Type "text/plain; version=0.0.4"),
 * with uploadgate_build_info{version=`version`} (NULL counts as ""). Returns a
 * malloc'd NUL-terminated string the caller frees, its length without the NUL in
 * *len (len may be NULL); NULL on OOM or when m is NULL.
 * Counters are exact integers; histogram sums are printed in the shortest form that
 * reads back to the same double (integral values without exponent). Numbers use
 * the C locale's '.', so the process must not switch LC_NUMERIC.
 */
char *ug_metrics_render(ug_metrics_t *m, const char *version, size_t *len);

#endif
