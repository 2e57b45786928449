/*
 * exchange/resumable_ietf.c - the IETF "Resumable Uploads for HTTP" draft -05 (Upload-Draft-Interop-Version: 6) on a
 * resumable route: a request carrying Upload-Draft-Interop-Version is served here, on the same store, locks,
 * ownership and completion as tus (exchange/resumable.c):
 *
 *   POST <route>          creation: Upload-Complete ?1 (the body is the whole file) or ?0, Upload-Length optional;
 *                         a 104 with Location goes out before the body is read (where the transport can send one)
 *   HEAD <route><id>      204 with Upload-Offset, Upload-Complete, Upload-Length (when known), Upload-Limit
 *   PATCH <route><id>     append (application/partial-upload) at Upload-Offset; 409 problem details on a mismatch
 *   DELETE <route><id>    cancellation
 *
 * The request that completes an upload hands its manifest to the app as a POST to the route, and the app's answer is
 * relayed as it is (the draft: the response is "whatever the initial request would have produced"). An upload that is
 * being written (another request holds its lock) is refused with 423, as in tus: the draft lets a server end the
 * older request instead, but ending a request on another connection would need a registry across the fronts' loops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "exchange/resumable_internal.h"
#include "resumable/ietf.h"

#define LOCATION_MAX 1024

/* An answer begun with the interop version, as every draft answer of uploadgate carries it. */
static void answer_init(ug_resumable_answer_t *a)
{
    a->n = 0;
    a->used = 0;
    ug_resumable_put(a, "upload-draft-interop-version", UG_IETF_INTEROP_VERSION, sizeof(UG_IETF_INTEROP_VERSION) - 1);
}

static void put_complete(ug_resumable_answer_t *a, int complete)
{
    ug_resumable_put(a, "upload-complete", complete ? "?1" : "?0", 2);
}

/* Upload-Limit: max-size from the route's max_file (an ordinary route's: max_body), max-append-size from
 * resumable.max_chunk, expires the seconds an untouched upload is kept. */
static void put_limit(ug_resumable_answer_t *a, const ug_exchange_t *req)
{
    size_t room = sizeof(a->buf) - a->used;
    size_t n = ug_ietf_format_limit(ug_resumable_max_size(req), req->route->resumable.max_chunk,
                                    req->route->resumable.expires_ms / 1000, a->buf + a->used, room);
    if (n == 0)
        return;
    ug_resumable_put(a, "upload-limit", a->buf + a->used, n);
    a->used += n + 1;
}

/* Location: the upload's URL under the route's prefix (an ordinary route's upload: under resumable_path), copied into
 * a->buf. */
static void put_location(ug_resumable_answer_t *a, const ug_exchange_t *req)
{
    const char *prefix = req->tus->plain ? req->rt->config->resumable_path : req->route->match;
    int n = snprintf(a->buf + a->used, sizeof(a->buf) - a->used, "%s%s", prefix, req->tus->id);
    if (n <= 0 || (size_t)n >= sizeof(a->buf) - a->used)
        return;
    ug_resumable_put(a, "location", a->buf + a->used, (size_t)n);
    a->used += (size_t)n + 1;
}

/* An RFC 9457 problem (the draft's offset mismatch, or an append to a completed upload): `e` is what the access
 * record and metrics count it as. */
static void send_problem(ug_exchange_t *req, ug_err_t e, const char *body, size_t len)
{
    ug_header_t ct = {"content-type", 12, "application/problem+json", 24};
    req->error = e;
    ug_exchange_respond(req, ug_err_status(e), ug_err_reason(e), strlen(ug_err_reason(e)), &ct, 1, body, len);
}

static void send_mismatch(ug_exchange_t *req, uint64_t expected, uint64_t provided)
{
    char body[UG_IETF_FORMAT_MAX];
    send_problem(req, UG_ERR_OFFSET_MISMATCH, body, ug_ietf_problem_mismatch(expected, provided, body, sizeof(body)));
}

/* Upload-Complete, required on POST and PATCH. 0 after sending 400. */
static int take_complete(ug_exchange_t *req, int *complete)
{
    const ug_header_t *f = ug_resumable_field(req, "upload-complete");
    if (f != NULL && ug_ietf_parse_complete(f->value, f->value_len, complete) == UG_TUS_PARSE_OK)
        return 1;
    ug_exchange_respond_error(req, UG_ERR_BAD_REQUEST, "Upload-Complete must be ?0 or ?1 (a structured-field boolean)",
                              NULL, 0);
    return 0;
}

/* ---- OPTIONS, HEAD, DELETE ---- */

static void serve_options(ug_exchange_t *req)
{
    ug_resumable_answer_t a;
    answer_init(&a);
    put_limit(&a, req);
    ug_resumable_send_answer(req, 204, "No Content", &a);
}

static void serve_head(ug_exchange_t *req, const char *id)
{
    ug_rstore_info_t info;
    if (!ug_resumable_peek(req, id, &info))
        return;
    ug_resumable_answer_t a;
    answer_init(&a);
    ug_resumable_put_u64(&a, "upload-offset", info.offset);
    put_complete(&a, info.completed);
    if (!info.deferred)
        ug_resumable_put_u64(&a, "upload-length", info.length);
    ug_resumable_put(&a, "cache-control", "no-store", 8);
    put_limit(&a, req);
    ug_resumable_send_answer(req, 204, "No Content", &a);
    ug_rstore_info_clear(&info);
}

static void serve_delete(ug_exchange_t *req, const char *id)
{
    ug_resumable_answer_t a;
    answer_init(&a);
    if (ug_resumable_cancel(req, id))
        ug_resumable_send_answer(req, 204, "No Content", &a);
}

/* ---- PATCH: append ---- */

static void serve_append(ug_exchange_t *req, const char *id, int has_body)
{
    const ug_header_t *fo = ug_resumable_field(req, "upload-offset");
    uint64_t offset;
    const char *why = NULL;
    char body[UG_IETF_FORMAT_MAX];
    if (!ug_resumable_content_type_is(req, UG_IETF_CONTENT_TYPE)) {
        ug_exchange_respond_error(req, UG_ERR_UNSUPPORTED_MEDIA, "an append must have Content-Type application/partial-upload",
                                  NULL, 0);
        return;
    }
    if (fo == NULL || ug_tus_parse_uint(fo->value, fo->value_len, &offset) != UG_TUS_PARSE_OK) {
        ug_exchange_respond_error(req, UG_ERR_BAD_REQUEST, "Upload-Offset must be a non-negative decimal integer", NULL, 0);
        return;
    }
    if (!take_complete(req, &req->tus->complete) || !ug_resumable_open(req, id))
        return;
    const ug_rstore_info_t *info = ug_rstore_info(req->tus->store);
    if (info->completed) { /* the draft: a completed upload is not modified; its manifest was sent once */
        send_problem(req, UG_ERR_BAD_REQUEST, body, ug_ietf_problem_completed(body, sizeof(body)));
        return;
    }
    if (offset != info->offset) {
        send_mismatch(req, info->offset, offset);
        return;
    }
    ug_err_t e = ug_resumable_patch_length(req, &why);
    if (e != UG_OK) {
        ug_exchange_respond_error(req, e, why, NULL, 0);
        return;
    }
    ug_resumable_start_body(req, has_body);
}

/* ---- POST: creation ---- */

/* Upload-Length when sent; else, for a creation that is the whole upload, its Content-Length; else deferred. */
static ug_err_t creation_length(ug_exchange_t *req, ug_rstore_info_t *info, const char **why)
{
    const ug_header_t *f = ug_resumable_field(req, "upload-length");
    if (f != NULL && ug_tus_parse_uint(f->value, f->value_len, &info->length) != UG_TUS_PARSE_OK) {
        *why = "Upload-Length must be a non-negative decimal integer";
        return UG_ERR_BAD_REQUEST;
    }
    if (f == NULL && req->tus->complete && req->h.framing == UG_HEAD_BODY_CONTENT_LENGTH)
        info->length = req->h.content_length;
    else if (f == NULL)
        info->deferred = 1;
    if (!info->deferred && info->length > ug_resumable_max_size(req)) {
        *why = req->tus->plain ? "Upload-Length exceeds the route's max_body limit"
                               : "Upload-Length exceeds the route's max_file limit";
        return ug_resumable_too_large(req);
    }
    return UG_OK;
}

/* 104 Upload Resumption Supported with the upload's URL, before the body: a client cut off mid-body can resume. */
static void send_resumption_supported(ug_exchange_t *req)
{
    ug_resumable_answer_t a;
    answer_init(&a);
    put_location(&a, req);
    req->tp->interim(req, UG_IETF_STATUS_RESUMPTION, UG_IETF_REASON_RESUMPTION, a.f, a.n);
}

static void serve_create(ug_exchange_t *req, int has_body)
{
    ug_rstore_info_t info = {.created = (int64_t)time(NULL), /* as tus's creation */ .expires = ug_resumable_expiry(req),
                             .route = req->route->path, .subject = (char *)ug_resumable_subject(req)};
    const char *why = NULL;
    char *metadata = NULL;
    if (!take_complete(req, &req->tus->complete))
        return;
    ug_err_t e = creation_length(req, &info, &why);
    if (e == UG_OK)
        e = ug_resumable_creation_metadata(req, &metadata, &why);
    if (e == UG_OK && req->tus->plain && ug_plain_record(req, &info) != 0)
        e = UG_ERR_NOMEM;
    int created = 0;
    if (e != UG_OK)
        free(metadata);
    else
        created = ug_resumable_create(req, &info, metadata);
    if (req->tus->plain)
        ug_plain_record_clear(&info);
    if (e != UG_OK)
        ug_exchange_respond_error(req, e, why, NULL, 0);
    if (!created)
        return;
    /* h2o 2.2.5's buffered requests (h2o_req_t) have no way to send a 1xx: that transport has no interim */
    if (has_body && req->tp->interim != NULL)
        send_resumption_supported(req);
    ug_resumable_start_body(req, has_body);
}

/* ---- after the body ---- */

/* The answer to a request that left the upload incomplete: a creation's 201 with Location, an append's 204. */
static void answer_progress(ug_exchange_t *req)
{
    const ug_rstore_info_t *info = ug_rstore_info(req->tus->store);
    ug_resumable_answer_t a;
    answer_init(&a);
    ug_resumable_put_u64(&a, "upload-offset", info->offset);
    put_complete(&a, 0);
    if (!req->tus->created) {
        ug_resumable_send_answer(req, 204, "No Content", &a);
        return;
    }
    put_location(&a, req);
    put_limit(&a, req);
    ug_resumable_send_answer(req, 201, "Created", &a);
}

void ug_resumable_ietf_committed(ug_exchange_t *req)
{
    ug_rstore_t *s = req->tus->store;
    const ug_rstore_info_t *info = ug_rstore_info(s);
    char msg[160];
    /* A known length reached completes the upload even under Upload-Complete: ?0: every byte is there, and
     * tus-js-client 4.3.1 (ietf-draft-05) sends ?0 on the last chunk of a file read in several chunks. */
    if (!req->tus->complete && (info->deferred || info->offset < info->length)) {
        answer_progress(req);
        return;
    }
    if (info->deferred && ug_rstore_set_length(s, info->offset) != UG_RSTORE_OK) {
        ug_exchange_respond_error(req, UG_ERR_STORAGE, NULL, NULL, 0);
        return;
    }
    if (info->offset != info->length) { /* what arrived is kept: the client may append the rest */
        snprintf(msg, sizeof(msg), "Upload-Complete is ?1, but the upload has %llu of its %llu bytes (Upload-Length)",
                 (unsigned long long)info->offset, (unsigned long long)info->length);
        ug_exchange_respond_error(req, UG_ERR_BAD_REQUEST, msg, NULL, 0);
        return;
    }
    ug_resumable_complete(req);
}

size_t ug_resumable_relay_fields(ug_exchange_t *req, ug_header_t *out)
{
    ug_resumable_req_t *t = req->tus;
    if (t == NULL || !t->ietf || t->store == NULL)
        return 0;
    int n = snprintf(t->relay_offset, sizeof(t->relay_offset), "%llu",
                     (unsigned long long)ug_rstore_info(t->store)->offset);
    out[0] = (ug_header_t){"upload-offset", 13, t->relay_offset, n > 0 ? (size_t)n : 0};
    out[1] = (ug_header_t){"upload-complete", 15, "?1", 2};
    out[2] = (ug_header_t){"upload-draft-interop-version", 28, UG_IETF_INTEROP_VERSION, sizeof(UG_IETF_INTEROP_VERSION) - 1};
    return UG_RESUMABLE_RELAY_FIELDS;
}

/* ---- dispatch ---- */

/* Which protocol the request is, against the route's resumable.protocols: 1 for the draft's, 0 for tus's; -1 when
 * the error is sent. */
static int claims(ug_exchange_t *req, const ug_header_t *version)
{
    unsigned p = req->route->resumable.protocols;
    if (version == NULL && (p & UG_RESUMABLE_TUS))
        return 0;
    if (version == NULL && ug_resumable_field(req, "tus-resumable") != NULL) {
        ug_exchange_respond_error(req, UG_ERR_PROTOCOL_DISABLED,
                                  "this route speaks only the IETF resumable upload draft (Upload-Draft-Interop-Version: "
                                  UG_IETF_INTEROP_VERSION "), not tus",
                                  NULL, 0);
        return -1;
    }
    if (version != NULL && !(p & UG_RESUMABLE_IETF)) {
        ug_exchange_respond_error(req, UG_ERR_PROTOCOL_DISABLED,
                                  "this route speaks only tus (Tus-Resumable: " UG_TUS_VERSION
                                  "), not the IETF resumable upload draft",
                                  NULL, 0);
        return -1;
    }
    return 1;
}

static void refuse_method(ug_exchange_t *req, int on_route)
{
    ug_header_t allow = {"allow", 5, on_route ? "POST, OPTIONS" : "HEAD, PATCH, DELETE, OPTIONS", on_route ? 13 : 28};
    ug_exchange_respond_error(req, UG_ERR_METHOD_NOT_ALLOWED,
                              on_route ? "an upload is created with POST on this URL"
                                       : "an upload's URL takes HEAD, PATCH and DELETE",
                              &allow, 1);
}

int ug_resumable_ietf_begin(ug_exchange_t *req, const ug_header_t *version)
{
    if (version == NULL || version->value_len != sizeof(UG_IETF_INTEROP_VERSION) - 1 ||
        memcmp(version->value, UG_IETF_INTEROP_VERSION, version->value_len) != 0) {
        ug_exchange_respond_error(req, UG_ERR_INTEROP_VERSION, NULL, NULL, 0);
        return 0;
    }
    if (ug_resumable_state(req) == NULL) {
        ug_exchange_respond_error(req, UG_ERR_NOMEM, NULL, NULL, 0);
        return 0;
    }
    req->tus->ietf = 1;
    return 1;
}

void ug_resumable_ietf_dispatch(ug_exchange_t *req, const char *id, int has_body)
{
    if (id == NULL)
        serve_create(req, has_body);
    else if (ug_resumable_method_is(req, "HEAD"))
        serve_head(req, id);
    else if (ug_resumable_method_is(req, "PATCH"))
        serve_append(req, id, has_body);
    else
        serve_delete(req, id);
}

int ug_resumable_ietf_serve(ug_exchange_t *req, int has_body)
{
    const ug_header_t *version = ug_resumable_field(req, "upload-draft-interop-version");
    char id[UG_TUS_ID_MAX];
    size_t id_len = 0;
    int c = claims(req, version);
    if (c <= 0)
        return c != 0;
    if (ug_resumable_method_is(req, "OPTIONS")) { /* how a client learns the limits: answered whatever the version */
        serve_options(req);
        return 1;
    }
    if (!ug_resumable_ietf_begin(req, version))
        return 1;
    if (ug_resumable_target_id(req, id, &id_len) != 0)
        ug_exchange_respond_error(req, UG_ERR_NOT_FOUND, "no such upload", NULL, 0);
    else if ((id_len == 0) != ug_resumable_method_is(req, "POST"))
        refuse_method(req, id_len == 0);
    else
        ug_resumable_ietf_dispatch(req, id_len == 0 ? NULL : id, has_body);
    return 1;
}
