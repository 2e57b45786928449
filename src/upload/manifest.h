/*
 * manifest.h - the JSON document uploadgate sends to the app in place of the
 * upload body (format version 1; schema in config/manifest.schema.json).
 *
 * Strings are given as (pointer, length) and need not be NUL-terminated or
 * valid UTF-8: invalid UTF-8 sequences are replaced by U+FFFD so the document is
 * always valid JSON. The manifest copies everything it is given.
 */
#ifndef UG_UPLOAD_MANIFEST_H
#define UG_UPLOAD_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <time.h>
#include "common/errors.h"

#define UG_MANIFEST_VERSION 1

typedef struct ug_manifest ug_manifest_t;

typedef struct ug_manifest_client_request {
    const char *id;          /* upload id */
    const char *route;       /* the route's configured path, e.g. "/upload" or "/files/ *" */
    const char *method;      /* e.g. "POST" */
    size_t method_len;
    const char *path;        /* the request's path with query, as sent */
    size_t path_len;
    struct timespec received_at; /* CLOCK_REALTIME when the request head arrived */
    const char *client_address;  /* textual peer address, e.g. "127.0.0.1" or "::1" */
    const char *protocol;        /* "HTTP/1.1", "HTTP/2" */
} ug_manifest_client_request_t;

typedef struct ug_manifest_file {
    const char *field;        /* form field name; NULL for a non-multipart body */
    size_t field_len;
    const char *filename;     /* client's filename (metadata only); NULL when none */
    size_t filename_len;
    const char *content_type; /* NULL when none */
    size_t content_type_len;
    const char *path;         /* path as the app sees it (NUL-terminated); NULL for an object */
    uint64_t size;
    const char *sha256_hex;   /* 64 lowercase hex chars, NUL-terminated */
    /* an object in S3-compatible storage (path NULL): "s3://bucket/key", its bucket, key and ETag (quotes included);
     * all NULL for a local file. NUL-terminated. */
    const char *url;
    const char *bucket;
    const char *key;
    const char *etag;
} ug_manifest_file_t;

/* NULL when out of memory. */
ug_manifest_t *ug_manifest_new(const ug_manifest_client_request_t *req);
ug_err_t ug_manifest_add_field(ug_manifest_t *m, const char *name, size_t name_len, const char *value, size_t value_len);
ug_err_t ug_manifest_add_file(ug_manifest_t *m, const ug_manifest_file_t *f);
/* The authenticated caller ("auth" member, after "client"); takes over the reference; NULL removes it. */
void ug_manifest_set_auth(ug_manifest_t *m, json_t *auth);
/*
 * Serialise compactly. Returns a malloc'd NUL-terminated buffer the caller
 * frees, its length in *len; NULL when out of memory.
 */
char *ug_manifest_dump(const ug_manifest_t *m, size_t *len);
void ug_manifest_free(ug_manifest_t *m);

/* Format t as RFC 3339 UTC with milliseconds: "2026-11-25T19:00:00.123Z" (out >= 25 bytes). */
void ug_manifest_format_time(struct timespec t, char *out);

#endif
