/*
 * store/s3_client.h - the S3 client engine: objects streamed into an S3-compatible store from the event loops.
 *
 * One S3 client per process: a thread of its own running a libcurl multi handle (curl_multi_poll, woken by
 * curl_multi_wakeup when work is queued), so no event loop ever blocks on the store (DNS, TLS, slow answers).
 * Requests are queued to it from any event-loop thread; their results come back to the thread that asked,
 * through that thread's inbox: the S3 thread appends a completion to the inbox (mutex) and calls the inbox's
 * wake function (the loop layer implements it with h2o_multithread_send_message); the loop thread then calls
 * ug_s3_inbox_drain(), which runs every completion callback on the loop thread. So every callback below runs
 * on the thread that owns the inbox, never on the S3 thread. This layer knows nothing of h2o.
 *
 * Ownership: the client owns its copy of the configuration and the credentials. An object handle belongs to the
 * thread that began it until ug_s3_object_release() or ug_s3_object_abort() hands it back (the engine frees it
 * once the S3 thread is done with it). An inbox belongs to its thread; free it only after every object begun on
 * it was released or aborted and every sweep on it reported.
 */
#ifndef UG_STORE_S3_CLIENT_H
#define UG_STORE_S3_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errors.h"
#include "config/config.h" /* ug_s3_config_t: the `storage.s3` block */

typedef struct ug_s3_client ug_s3_client_t;
typedef struct ug_s3_inbox ug_s3_inbox_t;
typedef struct ug_s3_object ug_s3_object_t;
typedef struct ug_s3_marker ug_s3_marker_t;

/* Start the S3 thread for `cfg` (copied). Credentials are read now (credentials_file, else the environment:
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). NULL with a message in `why` (out of memory, an
 * unreadable or incomplete credentials file, no credentials in the environment, the thread not starting). */
ug_s3_client_t *ug_s3_client_start(const ug_s3_config_t *cfg, char *why, size_t why_len);
/* Count into `m` (NULL: nowhere; not owned, must outlive the client) and render the uploadgate_s3_* families. */
typedef struct ug_metrics ug_metrics_t;
void ug_s3_client_set_metrics(ug_s3_client_t *c, ug_metrics_t *m);
/* Re-read the credentials (SIGHUP): requests queued after this sign with the new ones, and the store is probed
 * again at once. 0, or -1 with `why` (the old credentials stay). Any thread. */
int ug_s3_client_reload_credentials(ug_s3_client_t *c, char *why, size_t why_len);

/* Whether the store answered its last probe (HeadBucket at start and every UG_S3_PROBE_INTERVAL_MS, and every
 * request's outcome). Any thread, lock-free. Routes with `store: s3` answer 503 + Retry-After at the head while it
 * is not UP; /readyz reports it. Until the first probe answered the state is UNREACHABLE. */
typedef enum ug_s3_store_state {
    UG_S3_STORE_UP,
    UG_S3_STORE_UNREACHABLE, /* no answer, or an answer that is no S3 answer (5xx, a missing bucket) */
    UG_S3_STORE_DENIED,      /* 403: the credentials, or the bucket's policy */
    UG_S3_STORE_UNTRUSTED,   /* https: the endpoint's certificate did not verify (CA, name, expiry), or the CA
                              * file could not be read; nothing was sent */
} ug_s3_store_state_t;
ug_s3_store_state_t ug_s3_client_state(const ug_s3_client_t *c);
/* Wait until the first probe answered (or failed), at most `timeout_ms`; whether it did. Start-up calls it so that
 * readiness and the routes' 503 reflect the store from the first request on. */
bool ug_s3_client_wait_probed(ug_s3_client_t *c, uint64_t timeout_ms);
/* "up", "unreachable", "denied", "untrusted" (static). */
const char *ug_s3_store_state_name(ug_s3_store_state_t s);
#define UG_S3_PROBE_INTERVAL_MS 5000u
/* How long start-up waits for the first probe (the connect timeout plus a little). */
#define UG_S3_START_PROBE_WAIT_MS 6000u

/* Stop the thread after the queued requests finished (aborts included), within `grace_ms` (what is still running
 * then is cut off); frees the client. Objects not released nor aborted by then are abandoned (the janitor's sweep
 * removes their multipart uploads later). Call after every loop stopped. */
void ug_s3_client_stop(ug_s3_client_t *c, uint64_t grace_ms);

/* A thread's inbox of completions. `wake(arg)` is called from the S3 thread (must be thread-safe and cheap). NULL
 * when out of memory. */
ug_s3_inbox_t *ug_s3_inbox_new(void (*wake)(void *arg), void *arg);
/* Run every queued completion's callback, on the calling (owning) thread. */
void ug_s3_inbox_drain(ug_s3_inbox_t *inbox);
/* Completions still queued are dropped without their callbacks. */
void ug_s3_inbox_free(ug_s3_inbox_t *inbox);

/*
 * One object being written: a single PutObject when its bytes end before part_size, else a multipart upload
 * (CreateMultipartUpload at the first full part, UploadPart per part_size bytes, CompleteMultipartUpload at
 * finish). `key` is the full object key (prefix included; copied). The S3 thread computes the sha256 of the
 * bytes in order (never from an ETag) and sends x-amz-content-sha256 with every request.
 *
 * Memory: the object holds at most parts_in_flight parts being sent plus the one being filled. Bytes go into
 * part_size buffers mapped for the object and unmapped once the store answered their part (sent as they are, no
 * copy), so it holds the bytes not yet sent and no more. write() always takes every byte given (what a writer sends
 * past PAUSE goes into further buffers; a part is sent as soon as a slot is free and a byte follows it) and answers
 * whether the caller should stop reading until `on_ready` is called. Parts are exactly part_size bytes (the last one
 * shorter), whatever the sizes of the writes.
 */
typedef enum ug_s3_write_result {
    UG_S3_WRITE_MORE,   /* taken: go on */
    UG_S3_WRITE_PAUSE,  /* taken, but every slot is busy: read no more until on_ready(arg) runs (once) */
    UG_S3_WRITE_FAILED, /* the object failed (store error after retries, or past part_size x max_parts bytes):
                           ug_s3_object_error() says why; the caller aborts it */
} ug_s3_write_result_t;

typedef struct ug_s3_object_done {
    ug_err_t err;            /* UG_OK, or UG_ERR_STORE_UNAVAILABLE / UG_ERR_STORE_FAILED */
    const char *message;     /* for the client/log when err != UG_OK */
    const char *bucket;      /* valid during the callback */
    const char *key;
    const char *etag;        /* as S3 answered, quotes included */
    uint64_t size;
    const char *sha256_hex;  /* 64 lowercase hex + NUL */
} ug_s3_object_done_t;

/* Begin an object, joined to its upload's pending `marker` (below; NULL: none). `on_ready(arg)` is called (on the
 * inbox's thread) after a write that answered PAUSE once a slot frees. NULL when out of memory. Nothing is sent to the
 * store before the first part is full or finish. */
ug_s3_object_t *ug_s3_object_begin(ug_s3_client_t *c, ug_s3_inbox_t *inbox, ug_s3_marker_t *marker, const char *key,
                                   const char *content_type, void (*on_ready)(void *arg), void *arg);
/* Join an object begun without a marker to `marker`; only before its first write, finish or abort. */
void ug_s3_object_join(ug_s3_object_t *o, ug_s3_marker_t *marker);
ug_s3_write_result_t ug_s3_object_write(ug_s3_object_t *o, const char *buf, size_t len);
/* Bytes written so far. */
uint64_t ug_s3_object_size(const ug_s3_object_t *o);
/* After UG_S3_WRITE_FAILED: the error (UG_ERR_STORE_FAILED / UG_ERR_STORE_UNAVAILABLE) and a message valid until
 * the handle is released or aborted; UG_OK and NULL while the object is fine. */
ug_err_t ug_s3_object_error(const ug_s3_object_t *o, const char **message);
/* No more bytes: send what is left and complete the object; `on_done(arg, result)` runs once on the inbox's thread. */
void ug_s3_object_finish(ug_s3_object_t *o, void (*on_done)(void *arg, const ug_s3_object_done_t *d), void *arg);
/* Keep the object (the app took it); frees the handle. Only after on_done with UG_OK. */
void ug_s3_object_release(ug_s3_object_t *o);
/* Remove everything of the object whatever its state: the multipart upload aborted (AbortMultipartUpload), or the
 * completed/put object deleted (DeleteObject), in the background with retries; no callback of it runs after this
 * call; frees the handle. Safe at any time, including while a finish is pending. */
void ug_s3_object_abort(ug_s3_object_t *o);

/*
 * An upload's pending marker: an incomplete multipart upload at `<key_prefix>.pending` (UG_S3_MARKER_NAME) standing
 * for the upload until the app is told of its objects, so that nothing a crash leaves is out of the janitor's sight.
 * Placed at begin (CreateMultipartUpload; `on_placed(arg, err, message)` once, on the inbox's thread); the caller
 * completes no object joined to it (ug_s3_object_finish) before on_placed said UG_OK. Cleared (aborted) by
 * ug_s3_marker_clear right before the manifest names the objects: `on_cleared` says whether it was (a failure means
 * the manifest must not go: the objects may be the janitor's). When the upload ends without a clear
 * (ug_s3_marker_end), the marker is aborted once every joined object's clean-up ended, or left for the janitor if
 * one failed. The sweep below removes everything under a stale marker's prefix, then the marker.
 * ug_s3_marker_end lets the handle go; no callback runs after it.
 */
#define UG_S3_MARKER_NAME ".pending"
typedef void (*ug_s3_marker_cb)(void *arg, ug_err_t err, const char *message);
ug_s3_marker_t *ug_s3_marker_begin(ug_s3_client_t *c, ug_s3_inbox_t *inbox, const char *key_prefix,
                                   ug_s3_marker_cb on_placed, void *arg);
void ug_s3_marker_clear(ug_s3_marker_t *m, ug_s3_marker_cb on_cleared, void *arg);
void ug_s3_marker_end(ug_s3_marker_t *m);

/* For the janitor (start-up and periodic): abort every incomplete multipart upload under the configured prefix
 * initiated more than `older_than_ms` ago (ListMultipartUploads, all pages); for a pending marker among them, first
 * delete every object under its prefix (ListObjects, all pages): an upload that crashed before its app was told.
 * Uploads of this process are spared. `on_done(arg, aborted, err)` on the inbox's thread. */
void ug_s3_sweep(ug_s3_client_t *c, ug_s3_inbox_t *inbox, uint64_t older_than_ms,
                 void (*on_done)(void *arg, size_t aborted, ug_err_t err), void *arg);

#endif
