/*
 * errors.c - the single table behind errors.h.
 */
#include "common/errors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ug_err_info {
    int status;
    const char *reason;
    const char *code;
    const char *message;
};

static const struct ug_err_info err_table[UG_ERR__COUNT] = {
    [UG_OK] = {200, "OK", "ok", "ok"},
    [UG_ERR_BAD_REQUEST] = {400, "Bad Request", "bad_request", "the request is malformed"},
    [UG_ERR_MALFORMED_MULTIPART] = {400, "Bad Request", "malformed_multipart", "the multipart body is malformed"},
    [UG_ERR_UNAUTHORIZED] = {401, "Unauthorized", "unauthorized", "a valid bearer token is required"},
    [UG_ERR_FORBIDDEN] = {403, "Forbidden", "forbidden", "the request is not allowed"},
    [UG_ERR_NOT_FOUND] = {404, "Not Found", "not_found", "no such resource"},
    [UG_ERR_METHOD_NOT_ALLOWED] = {405, "Method Not Allowed", "method_not_allowed", "the method is not allowed on this route"},
    [UG_ERR_REQUEST_TIMEOUT] = {408, "Request Timeout", "request_timeout", "the request body arrived too slowly"},
    [UG_ERR_EXPECTATION_FAILED] = {417, "Expectation Failed", "expectation_failed",
                                   "the only expectation this server meets is 100-continue"},
    [UG_ERR_BODY_TOO_LARGE] = {413, "Payload Too Large", "body_too_large", "the request body exceeds the route's max_body limit"},
    [UG_ERR_FILE_TOO_LARGE] = {413, "Payload Too Large", "file_too_large", "a file exceeds the route's max_file limit"},
    [UG_ERR_TOO_MANY_FILES] = {413, "Payload Too Large", "too_many_files", "the request has more files than the route's max_files limit"},
    [UG_ERR_TOO_MANY_FIELDS] = {413, "Payload Too Large", "too_many_fields",
                                "the request has more fields than the route's max_fields limit"},
    [UG_ERR_FIELD_TOO_LARGE] = {413, "Payload Too Large", "field_too_large", "a field exceeds the route's max_field_size limit"},
    [UG_ERR_HEADER_TOO_LARGE] = {431, "Request Header Fields Too Large", "header_too_large",
                                 "the request head exceeds max_header_size"},
    [UG_ERR_INSUFFICIENT_STORAGE] = {507, "Insufficient Storage", "insufficient_storage", "not enough free space to store the upload"},
    [UG_ERR_STORAGE] = {500, "Internal Server Error", "storage_error", "the upload could not be stored"},
    [UG_ERR_INTERNAL] = {500, "Internal Server Error", "internal_error", "internal error"},
    [UG_ERR_NOMEM] = {500, "Internal Server Error", "internal_error", "out of memory"},
    [UG_ERR_BAD_GATEWAY] = {502, "Bad Gateway", "bad_gateway", "the backend could not be reached"},
    [UG_ERR_SERVICE_UNAVAILABLE] = {503, "Service Unavailable", "service_unavailable", "the server cannot take this request now"},
    [UG_ERR_GATEWAY_TIMEOUT] = {504, "Gateway Timeout", "gateway_timeout", "the backend did not answer in time"},
    [UG_ERR_CONFIG] = {500, "Internal Server Error", "config_error", "invalid configuration"},
    [UG_ERR_TUS_VERSION] = {412, "Precondition Failed", "tus_version_unsupported", "Tus-Resumable must be 1.0.0"},
    [UG_ERR_UNSUPPORTED_MEDIA] = {415, "Unsupported Media Type", "unsupported_media_type",
                                  "the body must have Content-Type application/offset+octet-stream"},
    [UG_ERR_OFFSET_MISMATCH] = {409, "Conflict", "offset_mismatch", "Upload-Offset does not match the upload's offset"},
    [UG_ERR_UPLOAD_EXPIRED] = {410, "Gone", "upload_expired", "the upload has expired"},
    [UG_ERR_UPLOAD_LOCKED] = {423, "Locked", "upload_locked", "another request is writing this upload; retry later"},
    [UG_ERR_CHECKSUM_MISMATCH] = {460, "Checksum Mismatch", "checksum_mismatch",
                                  "the chunk does not match Upload-Checksum; it was discarded"},
    [UG_ERR_CHUNK_TOO_LARGE] = {413, "Payload Too Large", "chunk_too_large", "the chunk exceeds the route's resumable.max_chunk"},
    [UG_ERR_INTEROP_VERSION] = {400, "Bad Request", "interop_version_unsupported",
                                "Upload-Draft-Interop-Version must be 6 (draft-ietf-httpbis-resumable-upload-05)"},
    [UG_ERR_PROTOCOL_DISABLED] = {400, "Bad Request", "resumable_protocol_disabled",
                                  "this route does not speak this resumable upload protocol"},
    [UG_ERR_STORE_UNAVAILABLE] = {503, "Service Unavailable", "store_unavailable",
                                  "the object store is unavailable; retry later"},
    [UG_ERR_STORE_FAILED] = {502, "Bad Gateway", "store_failed", "the object store failed; nothing of the upload was kept"},
};

static const struct ug_err_info *info(ug_err_t e)
{
    if ((unsigned)e >= UG_ERR__COUNT)
        e = UG_ERR_INTERNAL;
    return &err_table[e];
}

int ug_err_status(ug_err_t e)
{
    return info(e)->status;
}

const char *ug_err_reason(ug_err_t e)
{
    return info(e)->reason;
}

const char *ug_err_code(ug_err_t e)
{
    return info(e)->code;
}

int ug_err_retry_after(ug_err_t e)
{
    /* a store outage is usually short (a restart, a failover): ask clients to come back soon, not to hammer */
    return e == UG_ERR_STORE_UNAVAILABLE ? 5 : 0;
}

const char *ug_err_message(ug_err_t e)
{
    return info(e)->message;
}

char *ug_err_json(ug_err_t e, const char *message, size_t *len)
{
    const struct ug_err_info *i = info(e);
    char *out = NULL;
    /* "s?" would turn NULL into null; the contract is a string, so fall back to the default. */
    json_t *doc = json_pack("{s:{s:s,s:s}}", "error", "code", i->code, "message", message != NULL ? message : i->message);
    if (doc == NULL) /* message was not valid UTF-8: say so rather than fail */
        doc = json_pack("{s:{s:s,s:s}}", "error", "code", i->code, "message", i->message);
    if (doc != NULL) {
        out = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
    }
    if (out != NULL && len != NULL)
        *len = strlen(out);
    return out;
}

ug_err_t ug_err_of_proxy_failure(const char *why, size_t len)
{
    static const char timeout[] = "timeout";
    for (size_t i = 0; why != NULL && i + sizeof(timeout) - 1 <= len; ++i)
        if (strncasecmp(why + i, timeout, sizeof(timeout) - 1) == 0)
            return UG_ERR_GATEWAY_TIMEOUT;
    return UG_ERR_BAD_GATEWAY;
}
