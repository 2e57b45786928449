/*
 * upload.h - one upload, from the first body byte to the manifest: the
 * pipeline that both ingest paths share (h2o's buffered body, and chunks
 * from a streaming front). It owns the multipart parser, the stored files and
 * the manifest, and enforces the route's limits the moment they are crossed.
 * It knows nothing of h2o or sockets.
 *
 *   ug_upload_new -> ug_upload_start -> ug_upload_feed ... -> ug_upload_finish[_async]
 *   then ug_upload_release (the app took the files) or ug_upload_abort (remove all).
 *
 * The files go where the route says (route->store, through upload/sink.h): the storage directory, written and
 * finished as the bytes pass, or S3-compatible object storage (an object per file, sent by the S3 client's thread),
 * where a feed may ask the caller to pause (UG_UPLOAD_PAUSE) and the finish completes later (UG_UPLOAD_PENDING): the
 * upload then calls back through ug_upload_events_t, on the loop's thread, from its S3 inbox.
 *
 * Ownership: the caller owns the ug_upload_t and must end it with exactly one
 * of ug_upload_release() or ug_upload_abort(); both free it. After any error
 * the only valid calls are ug_upload_message(), ug_upload_error() and those two.
 */
#ifndef UG_UPLOAD_UPLOAD_H
#define UG_UPLOAD_UPLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <time.h>
#include "config/config.h"
#include "common/errors.h"
#include "store/s3_client.h"

typedef struct ug_upload ug_upload_t;

typedef struct ug_upload_request {
    const ug_config_t *config;
    const ug_route_t *route;
    const char *method;
    size_t method_len;
    const char *path; /* with query, as sent */
    size_t path_len;
    const char *content_type; /* NULL when the request has none */
    size_t content_type_len;
    uint64_t content_length; /* UINT64_MAX when unknown (chunked / HTTP/2 without content-length) */
    struct timespec received_at;
    const char *client_address; /* NUL-terminated */
    const char *protocol;       /* "HTTP/1.1", "HTTP/2" */
    ug_s3_client_t *s3;         /* for a route with `store: s3`: the process's S3 client (NULL: none started) */
    ug_s3_inbox_t *s3_inbox;    /* and the calling loop's inbox, where the upload's completions arrive */
} ug_upload_request_t;

/* What a call of the pipeline came to, beyond ok/error. */
typedef enum ug_upload_result {
    UG_UPLOAD_OK,      /* done (finish: *json is set) / taken, go on (feed) */
    UG_UPLOAD_PAUSE,   /* feed: every byte was taken, but give no more until events.on_ready runs */
    UG_UPLOAD_PENDING, /* finish: the files are still being stored; events.on_finished runs once they are (or fail) */
    UG_UPLOAD_FAILED,  /* ug_upload_error() and ug_upload_message() say why */
} ug_upload_result_t;

/* The calls an upload makes later, on the loop's thread (never from inside a call of the caller's). Each may be
 * followed by the caller freeing the upload. */
typedef struct ug_upload_events {
    void (*on_ready)(void *arg); /* after a feed answered UG_UPLOAD_PAUSE: feed on (a failure meanwhile shows there) */
    /* after ug_upload_finish_async answered UG_UPLOAD_PENDING: err UG_OK and the manifest (owned by the upload), or the
     * error (ug_upload_message() has its message) */
    void (*on_finished)(void *arg, ug_err_t err, const char *json, size_t json_len);
    void *arg;
} ug_upload_events_t;
void ug_upload_set_events(ug_upload_t *u, const ug_upload_events_t *ev);

/* Copies what it needs from `req`. NULL when out of memory. */
ug_upload_t *ug_upload_new(const ug_upload_request_t *req);

/* The authenticated caller for the manifest's "auth" member; takes over the reference. Call before ug_upload_start. */
void ug_upload_set_auth(ug_upload_t *u, json_t *auth);

/*
 * Checks that need no body (declared size, free space, Content-Type), then
 * creates the upload directory. Errors: UG_ERR_BODY_TOO_LARGE,
 * UG_ERR_INSUFFICIENT_STORAGE, UG_ERR_MALFORMED_MULTIPART, UG_ERR_STORAGE, UG_ERR_NOMEM.
 * On an S3 route: no free-space check, but UG_ERR_STORE_UNAVAILABLE while the store is not up, and
 * UG_ERR_BODY_TOO_LARGE for a declared length past part_size x max_parts (what one object can hold).
 */
ug_err_t ug_upload_start(ug_upload_t *u);

/* The next chunk of the body (any size, any split). Limits are checked as bytes pass. UG_UPLOAD_OK, UG_UPLOAD_PAUSE or
 * UG_UPLOAD_FAILED. */
ug_upload_result_t ug_upload_feed(ug_upload_t *u, const char *buf, size_t len);

/*
 * End of body: completes the last file and renders the manifest into
 * *json / *json_len (owned by the upload, valid until it is freed): UG_UPLOAD_OK. When files are still being stored
 * (S3), UG_UPLOAD_PENDING: events.on_finished follows. UG_UPLOAD_FAILED on an error.
 */
ug_upload_result_t ug_upload_finish_async(ug_upload_t *u, const char **json, size_t *json_len);
/* The same for a caller that cannot wait (a local store's upload always completes at once): an error code. */
ug_err_t ug_upload_finish(ug_upload_t *u, const char **json, size_t *json_len);

/*
 * An upload whose one file arrived earlier, complete (a resumable upload that reached its length): start it without
 * the body checks (ug_upload_start_adopted: directory and manifest), move the file in (ug_upload_adopt_file: renamed,
 * not copied, same filesystem), add the fields, then ug_upload_finish as for any upload.
 */
typedef struct ug_upload_adopted {
    int dir_fd;       /* the directory holding the complete file */
    const char *name; /* its name there */
    uint64_t size;
    const char *sha256_hex; /* 64 lowercase hex chars, NUL-terminated */
    const char *filename;   /* NULL when none */
    size_t filename_len;
    const char *content_type; /* NULL when none */
    size_t content_type_len;
} ug_upload_adopted_t;
ug_err_t ug_upload_start_adopted(ug_upload_t *u);
ug_err_t ug_upload_adopt_file(ug_upload_t *u, const ug_upload_adopted_t *a);
/* A non-file field for the manifest. */
ug_err_t ug_upload_add_field(ug_upload_t *u, const char *name, size_t name_len, const char *value, size_t value_len);

/* The upload id (32 hex chars, NUL-terminated); "" before ug_upload_start succeeded. */
const char *ug_upload_id(const ug_upload_t *u);
/* The error recorded by the last failing call (UG_OK if none) and its message for the client. */
ug_err_t ug_upload_error(const ug_upload_t *u);
const char *ug_upload_message(const ug_upload_t *u);

/* Statistics for logs and metrics: body bytes fed, bytes of the files stored, files stored. */
uint64_t ug_upload_bytes(const ug_upload_t *u);
uint64_t ug_upload_stored_bytes(const ug_upload_t *u);
unsigned ug_upload_file_count(const ug_upload_t *u);

void ug_upload_release(ug_upload_t *u);
void ug_upload_abort(ug_upload_t *u);

#endif
