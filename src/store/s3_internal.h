/*
 * s3_internal.h - shared by the pieces of the S3 client engine only; the contract with the rest is s3_client.h.
 *
 *   s3_client.c  the client: its thread and curl multi handle, the command queue, inboxes, the request
 *                machinery (signing, retries with backoff, answers), the store state probe, credentials
 *   s3_object.c  one object's state machine: PutObject, or Create/UploadPart xN/Complete; abort and its clean-up
 *   s3_marker.c  an upload's pending marker, which the janitor finds after a crash
 *   s3_sweep.c   the janitor's sweep of incomplete multipart uploads, and of what lies under a stale marker
 *
 * Threads: fields marked [loop] belong to the thread that began the object, [s3] to the S3 thread, [mu] are read
 * and written under the object's mutex by both.
 */
#ifndef UG_STORE_S3_INTERNAL_H
#define UG_STORE_S3_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "common/metrics.h"
#include "store/s3_answer.h"
#include "store/s3_client.h"
#include "store/s3_creds.h"

/* Retries: attempts in all per request, and the backoff's base and cap. */
#define UG_S3_ATTEMPTS 5
#define UG_S3_BACKOFF_BASE_MS 100
#define UG_S3_BACKOFF_CAP_MS 5000
/* A connection attempt longer than this is a store that is not there. */
#define UG_S3_CONNECT_TIMEOUT_MS 5000
/* A transfer slower than UG_S3_LOW_SPEED bytes/s for UG_S3_LOW_SPEED_TIME s is cut (and retried): a stalled store
 * must not hold an upload forever. */
#define UG_S3_LOW_SPEED 1024L
#define UG_S3_LOW_SPEED_TIME 10L

typedef struct ug_s3_req ug_s3_req_t;

/* Called on the S3 thread once a request is done (success or final failure after retries); the request is freed
 * after it returns. `ok`: a 2xx answer without an <Error> body. */
typedef void (*ug_s3_req_cb)(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a);

struct ug_s3_req {
    ug_s3_client_t *client;
    const char *op;      /* metrics label and messages: "put", "create", "upload_part", ... */
    const char *method;
    char *key;           /* NULL: the bucket */
    char *query;         /* canonical query or NULL */
    const char *body;    /* not owned (the part's, or owned_body) */
    size_t body_len;
    char *owned_body;
    char sha256[65];
    const char *content_type;
    bool no_retry;       /* the probe: the next one comes soon enough */
    bool counted;        /* in client->running */
    bool upload;         /* send body as an upload (PUT), else as POSTFIELDS */
    unsigned attempt;    /* 1-based */
    uint64_t due_ms;     /* a retry waits until then */
    double started;
    CURL *easy;
    struct curl_slist *headers;
    ug_s3_answer_t answer;
    size_t read_pos;
    ug_s3_req_cb done;
    void *arg;
    ug_s3_req_t *next;   /* in the retry list */
    ug_s3_req_t *live_prev, *live_next; /* every counted request, for the cut-off at stop */
};

/* A completion waiting in an inbox. */
typedef struct ug_s3_completion {
    /* on the inbox's thread; frees the completion. `call` false: the inbox is being freed, drop it without calling
     * back (its owner is going away) */
    void (*run)(struct ug_s3_completion *c, bool call);
    struct ug_s3_completion *next;
} ug_s3_completion_t;

struct ug_s3_inbox {
    pthread_mutex_t mu;
    ug_s3_completion_t *head, **tail;
    void (*wake)(void *arg);
    void *arg;
};

/* A command for the S3 thread, queued by any thread. */
typedef struct ug_s3_cmd {
    void (*run)(ug_s3_client_t *c, struct ug_s3_cmd *cmd); /* on the S3 thread; frees the command */
    struct ug_s3_cmd *next;
} ug_s3_cmd_t;

struct ug_s3_client {
    ug_s3_config_t cfg;   /* own copies of the strings */
    pthread_t thread;
    CURLM *multi;
    pthread_mutex_t mu;   /* guards cmds, keys, stopping */
    ug_s3_cmd_t *cmds, **cmds_tail;
    ug_s3_keys_t keys;
    bool stopping;
    uint64_t stop_deadline_ms;
    bool probed;          /* the first probe answered (or failed) */
    pthread_cond_t probed_cond;
    _Atomic int state;    /* ug_s3_store_state_t */
    _Atomic(ug_metrics_t *) metrics;
    /* [s3] */
    ug_s3_req_t *retries; /* waiting for their due time */
    ug_s3_req_t *live;    /* every request sent and not yet finished */
    size_t running;       /* requests in the multi handle or waiting to retry */
    uint64_t next_probe_ms;
    bool probing;
    struct ug_s3_object *objects; /* every object the engine still works on (list through obj_next) */
    struct ug_s3_marker *markers; /* every pending marker the engine still works on */
};

/* The monotonic clock in ms. */
uint64_t ug_s3_now_ms(void);

/* [s3] A request for `op` on key (NULL: the bucket) with `query` (both copied); body not copied unless owned.
 * NULL when out of memory. */
ug_s3_req_t *ug_s3_req_new(ug_s3_client_t *c, const char *op, const char *method, const char *key, const char *query,
                           ug_s3_req_cb done, void *arg);
/* [s3] Sign and send (or, on a setup failure, call done with ok false). */
void ug_s3_req_send(ug_s3_req_t *r);
/* [s3] Cut off a request in flight; its callback does not run. */
void ug_s3_req_cancel(ug_s3_req_t *r);
/* A message for a failed answer: "upload_part: HTTP 403 AccessDenied: ...", "create: connection refused". */
void ug_s3_answer_describe(const ug_s3_req_t *r, const ug_s3_answer_t *a, char *buf, size_t len);

/* Queue a command for the S3 thread and wake it. */
void ug_s3_client_post(ug_s3_client_t *c, ug_s3_cmd_t *cmd);
/* [s3] Append a completion to `inbox` and wake its thread. */
void ug_s3_inbox_post(ug_s3_inbox_t *inbox, ug_s3_completion_t *comp);

/* s3_object.c: [s3] the objects still worked on; whether an upload id is one of theirs (the sweep spares it). */
bool ug_s3_objects_own_upload(ug_s3_client_t *c, const char *upload_id);
/* [s3] At stop: cut off every object's requests and forget them. */
void ug_s3_objects_drop_all(ug_s3_client_t *c);

/* s3_marker.c: references (any thread); [s3] a joined object the engine works on again (its list_add), and no
 * longer (its list_remove; `cleanup_failed`: the store may still hold what it was to remove, so the marker stays);
 * whether an upload id is a marker's (the sweep spares it); at stop, forget them all (left for the janitor). */
void ug_s3_marker_ref(ug_s3_marker_t *m);
void ug_s3_marker_unref(ug_s3_marker_t *m);
void ug_s3_marker_member_add(ug_s3_marker_t *m);
void ug_s3_marker_member_remove(ug_s3_marker_t *m, bool cleanup_failed);
bool ug_s3_markers_own_upload(ug_s3_client_t *c, const char *upload_id);
void ug_s3_markers_drop_all(ug_s3_client_t *c);

#endif
