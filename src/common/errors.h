/*
 * errors.h - the one error enum of uploadgate, with its HTTP status, its
 * machine-readable code and a default message, kept in a single table
 * (errors.c) so that every path reports the same failure the same way.
 *
 * Error bodies sent to clients always have the shape
 *   {"error":{"code":"<code>","message":"<message>"}}
 */
#ifndef UG_COMMON_ERRORS_H
#define UG_COMMON_ERRORS_H

#include <stddef.h>

typedef enum ug_err {
    UG_OK = 0,
    UG_ERR_BAD_REQUEST,          /* 400 bad_request */
    UG_ERR_MALFORMED_MULTIPART,  /* 400 malformed_multipart */
    UG_ERR_UNAUTHORIZED,         /* 401 unauthorized */
    UG_ERR_FORBIDDEN,            /* 403 forbidden */
    UG_ERR_NOT_FOUND,            /* 404 not_found */
    UG_ERR_METHOD_NOT_ALLOWED,   /* 405 method_not_allowed */
    UG_ERR_REQUEST_TIMEOUT,      /* 408 request_timeout (a body slower than the configured minimum rate) */
    UG_ERR_EXPECTATION_FAILED,   /* 417 expectation_failed */
    UG_ERR_BODY_TOO_LARGE,       /* 413 body_too_large */
    UG_ERR_FILE_TOO_LARGE,       /* 413 file_too_large */
    UG_ERR_TOO_MANY_FILES,       /* 413 too_many_files */
    UG_ERR_TOO_MANY_FIELDS,      /* 413 too_many_fields */
    UG_ERR_FIELD_TOO_LARGE,      /* 413 field_too_large */
    UG_ERR_HEADER_TOO_LARGE,     /* 431 header_too_large */
    UG_ERR_INSUFFICIENT_STORAGE, /* 507 insufficient_storage */
    UG_ERR_STORAGE,              /* 500 storage_error (I/O error other than ENOSPC) */
    UG_ERR_INTERNAL,             /* 500 internal_error */
    UG_ERR_NOMEM,                /* 500 internal_error (out of memory) */
    UG_ERR_BAD_GATEWAY,          /* 502 bad_gateway */
    UG_ERR_SERVICE_UNAVAILABLE,  /* 503 service_unavailable (a connection share used up, a store down) */
    UG_ERR_GATEWAY_TIMEOUT,      /* 504 gateway_timeout */
    UG_ERR_CONFIG,               /* not an HTTP error: invalid configuration */
    /* tus resumable uploads (exchange/resumable.c) */
    UG_ERR_TUS_VERSION,          /* 412 tus_version_unsupported (Tus-Resumable missing or not 1.0.0) */
    UG_ERR_UNSUPPORTED_MEDIA,    /* 415 unsupported_media_type (a PATCH body not application/offset+octet-stream) */
    UG_ERR_OFFSET_MISMATCH,      /* 409 offset_mismatch (Upload-Offset is not the stored offset) */
    UG_ERR_UPLOAD_EXPIRED,       /* 410 upload_expired */
    UG_ERR_UPLOAD_LOCKED,        /* 423 upload_locked (another request is writing the upload) */
    UG_ERR_CHECKSUM_MISMATCH,    /* 460 checksum_mismatch (the chunk was discarded) */
    UG_ERR_CHUNK_TOO_LARGE,      /* 413 chunk_too_large (a PATCH body over resumable.max_chunk, or past Upload-Length) */
    /* the IETF resumable-upload draft (exchange/resumable_ietf.c) */
    UG_ERR_INTEROP_VERSION,      /* 400 interop_version_unsupported (Upload-Draft-Interop-Version is not 6) */
    UG_ERR_PROTOCOL_DISABLED,    /* 400 resumable_protocol_disabled (the route's resumable.protocols leaves it out) */
    /* object storage (store/s3_client.h) */
    UG_ERR_STORE_UNAVAILABLE,    /* 503 store_unavailable (the object store cannot be reached or refuses our credentials;
                                    sent with Retry-After) */
    UG_ERR_STORE_FAILED,         /* 502 store_failed (the object store failed mid-body after retries; nothing was kept) */
    UG_ERR__COUNT
} ug_err_t;

/* HTTP status for an error (500 for unknown values). */
int ug_err_status(ug_err_t e);
/* Reason phrase of that status, e.g. "Payload Too Large". Static string. */
const char *ug_err_reason(ug_err_t e);
/* Machine-readable code, e.g. "file_too_large". Static string. */
const char *ug_err_code(ug_err_t e);
/* Seconds for a Retry-After header sent with the error, 0 for none (store_unavailable: 5). */
int ug_err_retry_after(ug_err_t e);
/* Default human message, e.g. "a file exceeds the route's max_file limit". Static string. */
const char *ug_err_message(ug_err_t e);

/*
 * Render the JSON error body for `e`; `message` (NUL-terminated, may be NULL for
 * the default) is escaped properly. Returns a malloc'd NUL-terminated string
 * the caller frees, its length in *len; NULL only when out of memory.
 */
char *ug_err_json(ug_err_t e, const char *message, size_t *len);

/*
 * The error of a pass-through the backend did not answer: h2o's reverse proxy
 * logs why (`why`, its error string, e.g. "connection refused", "I/O timeout")
 * before it sends its own plain-text 502. A timeout, waiting to connect or for
 * the response head, is UG_ERR_GATEWAY_TIMEOUT; anything else UG_ERR_BAD_GATEWAY.
 */
ug_err_t ug_err_of_proxy_failure(const char *why, size_t len);

#endif
