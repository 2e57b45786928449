/*
 * exchange/resumable.c - tus 1.0.0 requests of a resumable route (see exchange/resumable.h).
 *
 * Every answer carries Tus-Resumable: 1.0.0 and goes through the exchange's respond, so CORS (with the tus fields
 * exposed), X-Request-Id and the access record are those of any request. Errors are uploadgate's JSON errors.
 */
#include "exchange/resumable.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "exchange/resumable_internal.h"
#include "resumable/concat.h"
#include "resumable/ietf.h"
#include "resumable/store.h"

/* Room for a Location value: the route's prefix and an id. */
#define LOCATION_MAX 1024


/* ---- small helpers ---- */

int ug_resumable_method_is(const ug_exchange_t *req, const char *m)
{
    size_t l = strlen(m);
    return req->h.method_len == l && memcmp(req->h.method, m, l) == 0;
}

const ug_header_t *ug_resumable_field(const ug_exchange_t *req, const char *name)
{
    return ug_head_find(&req->h, name, NULL);
}

int ug_resumable_field_is(const ug_header_t *f, const char *v)
{
    return f != NULL && f->value_len == strlen(v) && memcmp(f->value, v, f->value_len) == 0;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

int64_t ug_resumable_expiry(const ug_exchange_t *req)
{
    return now_s() + (int64_t)(req->route->resumable.expires_ms / 1000);
}


void ug_resumable_put(ug_resumable_answer_t *a, const char *name, const char *value, size_t len)
{
    if (a->n == UG_RESUMABLE_ANSWER_FIELDS)
        return;
    a->f[a->n++] = (ug_header_t){name, strlen(name), value, len};
}

void ug_resumable_put_u64(ug_resumable_answer_t *a, const char *name, uint64_t v)
{
    int n = snprintf(a->buf + a->used, sizeof(a->buf) - a->used, "%" PRIu64, v);
    if (n <= 0 || (size_t)n >= sizeof(a->buf) - a->used)
        return;
    ug_resumable_put(a, name, a->buf + a->used, (size_t)n);
    a->used += (size_t)n + 1;
}

static void put_date(ug_resumable_answer_t *a, const char *name, int64_t t)
{
    if (sizeof(a->buf) - a->used < UG_TUS_DATE_SIZE)
        return;
    ug_tus_format_date(t, a->buf + a->used);
    ug_resumable_put(a, name, a->buf + a->used, strlen(a->buf + a->used));
    a->used += UG_TUS_DATE_SIZE;
}

static void answer_init(ug_resumable_answer_t *a)
{
    a->n = 0;
    a->used = 0;
    ug_resumable_put(a, "tus-resumable", UG_TUS_VERSION, sizeof(UG_TUS_VERSION) - 1);
}

void ug_resumable_send_answer(ug_exchange_t *req, int status, const char *reason, const ug_resumable_answer_t *a)
{
    ug_exchange_respond(req, status, reason, strlen(reason), a->f, a->n, "", 0);
}

static void send_error(ug_exchange_t *req, ug_err_t e, const char *message)
{
    if (req->tus != NULL && req->tus->ietf) { /* the IETF draft's errors carry no tus fields */
        ug_exchange_respond_error(req, e, message, NULL, 0);
        return;
    }
    ug_resumable_answer_t a;
    answer_init(&a);
    if (e == UG_ERR_TUS_VERSION)
        ug_resumable_put(&a, "tus-version", UG_TUS_VERSION, sizeof(UG_TUS_VERSION) - 1);
    ug_exchange_respond_error(req, e, message, a.f, a.n);
}

static ug_err_t of_store(ug_rstore_result_t r)
{
    switch (r) {
    case UG_RSTORE_OK:
        return UG_OK;
    case UG_RSTORE_NOT_FOUND:
        return UG_ERR_NOT_FOUND;
    case UG_RSTORE_LOCKED:
        return UG_ERR_UPLOAD_LOCKED;
    case UG_RSTORE_NO_SPACE:
        return UG_ERR_INSUFFICIENT_STORAGE;
    case UG_RSTORE_NOMEM:
        return UG_ERR_NOMEM;
    case UG_RSTORE_IO:
        break;
    }
    return UG_ERR_STORAGE;
}

ug_resumable_req_t *ug_resumable_state(ug_exchange_t *req)
{
    if (req->tus == NULL)
        req->tus = calloc(1, sizeof(*req->tus));
    return req->tus;
}

/* The token's subject ("" on an open route, or a token without one): the owner an upload is checked against. */
const char *ug_resumable_subject(const ug_exchange_t *req)
{
    return req->gate.authenticated && req->gate.auth.subject != NULL ? req->gate.auth.subject : "";
}

/* An upload answers on the route that created it, to the subject that created it; to anyone else it does not exist
 * (404: saying "forbidden" would confirm that the id is in use). */
static int owned(const ug_exchange_t *req, const ug_rstore_info_t *info)
{
    /* an ordinary route's upload (it records its request) answers under resumable_path only, and only it does */
    int plain = req->tus != NULL && req->tus->plain;
    return strcmp(info->route, req->route->path) == 0 && strcmp(info->subject, ug_resumable_subject(req)) == 0 &&
           plain == (info->method[0] != '\0');
}

uint64_t ug_resumable_max_size(const ug_exchange_t *req)
{
    return req->tus != NULL && req->tus->plain ? req->route->limits.max_body : req->route->limits.max_file;
}

ug_err_t ug_resumable_too_large(const ug_exchange_t *req)
{
    return req->tus != NULL && req->tus->plain ? UG_ERR_BODY_TOO_LARGE : UG_ERR_FILE_TOO_LARGE;
}

/* What an info says to a request: UG_OK, or 404 (not this caller's), 410 (expired). */
ug_err_t ug_resumable_verdict(const ug_exchange_t *req, const ug_rstore_info_t *info)
{
    if (!owned(req, info))
        return UG_ERR_NOT_FOUND;
    if (!info->completed && info->expires < now_s())
        return UG_ERR_UPLOAD_EXPIRED;
    return UG_OK;
}

/* The id a target names under the route's prefix: *id_len 0 for the prefix itself (the creation URL). -1 when the
 * rest is not one path segment (then no upload is named: 404). */
int ug_resumable_target_id(const ug_exchange_t *req, char *id, size_t *id_len)
{
    return ug_resumable_id_under(req, req->route->match_len, id, id_len);
}

int ug_resumable_id_under(const ug_exchange_t *req, size_t prefix_len, char *id, size_t *id_len)
{
    size_t path_len = req->h.target_len;
    const char *q = memchr(req->h.target, '?', req->h.target_len);
    if (q != NULL)
        path_len = (size_t)(q - req->h.target);
    if (path_len < prefix_len)
        return -1;
    const char *rest = req->h.target + prefix_len;
    *id_len = path_len - prefix_len;
    if (*id_len == 0)
        return 0;
    if (!ug_rstore_id_valid(rest, *id_len))
        return -1;
    memcpy(id, rest, *id_len);
    id[*id_len] = '\0';
    return 0;
}

/* ---- OPTIONS, HEAD, DELETE ---- */

static void serve_options(ug_exchange_t *req)
{
    ug_resumable_answer_t a;
    answer_init(&a);
    ug_resumable_put(&a, "tus-version", UG_TUS_VERSION, sizeof(UG_TUS_VERSION) - 1);
    ug_resumable_put(&a, "tus-extension", UG_TUS_EXTENSIONS, sizeof(UG_TUS_EXTENSIONS) - 1);
    ug_resumable_put_u64(&a, "tus-max-size", req->route->limits.max_file);
    ug_resumable_put(&a, "tus-checksum-algorithm", UG_TUS_CHECKSUM_ALGORITHMS, sizeof(UG_TUS_CHECKSUM_ALGORITHMS) - 1);
    ug_resumable_send_answer(req, 204, "No Content", &a);
}

static void put_length(ug_resumable_answer_t *a, const ug_rstore_info_t *info)
{
    if (info->deferred)
        ug_resumable_put(a, "upload-defer-length", "1", 1);
    else
        ug_resumable_put_u64(a, "upload-length", info->length);
}

int ug_resumable_peek(ug_exchange_t *req, const char *id, ug_rstore_info_t *info)
{
    ug_rstore_result_t r = ug_rstore_peek(req->rt->config->storage.dir, id, info);
    ug_err_t e = r == UG_RSTORE_OK ? ug_resumable_verdict(req, info) : of_store(r);
    if (e == UG_OK)
        return 1;
    ug_rstore_info_clear(info);
    send_error(req, e, NULL);
    return 0;
}

static void serve_head(ug_exchange_t *req, const char *id)
{
    ug_rstore_info_t info;
    if (!ug_resumable_peek(req, id, &info))
        return;
    ug_resumable_answer_t a;
    answer_init(&a);
    ug_resumable_put_u64(&a, "upload-offset", info.offset);
    put_length(&a, &info);
    if (info.metadata[0] != '\0')
        ug_resumable_put(&a, "upload-metadata", info.metadata, strlen(info.metadata));
    if (info.concat[0] != '\0')
        ug_resumable_put(&a, "upload-concat", info.concat, strlen(info.concat));
    if (!info.completed)
        put_date(&a, "upload-expires", info.expires);
    ug_resumable_put(&a, "cache-control", "no-store", 8);
    ug_resumable_send_answer(req, 200, "OK", &a);
    ug_rstore_info_clear(&info);
}

/* Lock an upload this caller may write; on failure the error is sent and 0 returned. */
int ug_resumable_open(ug_exchange_t *req, const char *id)
{
    ug_resumable_req_t *t = ug_resumable_state(req);
    if (t == NULL) {
        send_error(req, UG_ERR_NOMEM, NULL);
        return 0;
    }
    ug_rstore_result_t r = ug_rstore_open(req->rt->config->storage.dir, id, &t->store);
    if (r == UG_RSTORE_OK)
        ug_rstore_set_fsync(t->store, req->route->resumable.fsync);
    ug_err_t e = r == UG_RSTORE_OK ? ug_resumable_verdict(req, ug_rstore_info(t->store)) : of_store(r);
    if (e != UG_OK) {
        ug_rstore_close(t->store);
        t->store = NULL;
        send_error(req, e, NULL);
        return 0;
    }
    memcpy(t->id, id, UG_TUS_ID_MAX);
    return 1;
}

int ug_resumable_cancel(ug_exchange_t *req, const char *id)
{
    if (!ug_resumable_open(req, id))
        return 0;
    ug_rstore_remove(req->tus->store);
    req->tus->store = NULL;
    return 1;
}

static void serve_delete(ug_exchange_t *req, const char *id)
{
    if (!ug_resumable_cancel(req, id))
        return;
    ug_resumable_answer_t a;
    answer_init(&a);
    ug_resumable_send_answer(req, 204, "No Content", &a);
}

/* ---- PATCH and POST bodies ---- */

static const EVP_MD *checksum_md(ug_tus_algorithm_t a)
{
    return a == UG_TUS_SHA1 ? EVP_sha1() : a == UG_TUS_MD5 ? EVP_md5() : EVP_sha256();
}

/* Upload-Checksum, when given: parsed now, the body's digest computed as it passes. 0 after sending 400. */
static int take_checksum(ug_exchange_t *req)
{
    const ug_header_t *f = ug_resumable_field(req, "upload-checksum");
    const char *why = NULL;
    ug_resumable_req_t *t = req->tus;
    if (f == NULL)
        return 1;
    if (ug_tus_checksum_parse(f->value, f->value_len, &t->checksum, &why) != UG_TUS_PARSE_OK) {
        send_error(req, UG_ERR_BAD_REQUEST, why);
        return 0;
    }
    if ((t->chunk_md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(t->chunk_md, checksum_md(t->checksum.algorithm), NULL) != 1) {
        send_error(req, UG_ERR_NOMEM, NULL);
        return 0;
    }
    t->has_checksum = 1;
    return 1;
}

/* The most bytes this body may bring, and the error past it: max_chunk, the declared length, max_file. */
static void set_limit(ug_exchange_t *req)
{
    ug_resumable_req_t *t = req->tus;
    const ug_rstore_info_t *info = ug_rstore_info(t->store);
    uint64_t max_chunk = req->route->resumable.max_chunk, max_size = ug_resumable_max_size(req);
    uint64_t room = info->deferred ? max_size - info->offset : info->length - info->offset;
    t->limit = max_chunk;
    t->over = UG_ERR_CHUNK_TOO_LARGE;
    /* an ordinary route's append is bounded by the whole body's limit alone (its max_chunk is max_body) */
    if (room < t->limit || (t->plain && room == t->limit)) {
        t->limit = room;
        t->over = info->deferred ? ug_resumable_too_large(req) : UG_ERR_CHUNK_TOO_LARGE;
    }
}

static const char *over_message(const ug_exchange_t *req)
{
    const ug_rstore_info_t *info = ug_rstore_info(req->tus->store);
    if (req->tus->over == UG_ERR_FILE_TOO_LARGE)
        return "the upload exceeds the route's max_file limit";
    if (req->tus->over == UG_ERR_BODY_TOO_LARGE)
        return "the upload exceeds the route's max_body limit; it was removed";
    if (!info->deferred && req->tus->limit == info->length - info->offset)
        return "the chunk goes past Upload-Length";
    return NULL;
}

/* The body brings more than its limit allows. A resumable route's upload keeps what it has (the client may still
 * finish it within the limit); an ordinary route's upload past max_body can never become a body the route takes, so
 * it is removed at once, as a one-request upload over the limit leaves nothing. */
static void refuse_over(ug_exchange_t *req)
{
    ug_resumable_req_t *t = req->tus;
    const char *message = over_message(req);
    if (t->plain && t->over == UG_ERR_BODY_TOO_LARGE) {
        ug_rstore_remove(t->store);
        t->store = NULL;
    }
    send_error(req, t->over, message);
}

/* The body may come: refuse a declared length over the limit first, then let the transport read it. */
void ug_resumable_start_body(ug_exchange_t *req, int has_body)
{
    set_limit(req);
    if (req->h.framing == UG_HEAD_BODY_CONTENT_LENGTH && req->h.content_length > req->tus->limit) {
        refuse_over(req);
        return;
    }
    if (has_body)
        req->tp->start_body(req);
    else
        ug_exchange_finish_body(req);
}

int ug_resumable_content_type_is(const ug_exchange_t *req, const char *type)
{
    const ug_header_t *f = ug_resumable_field(req, "content-type");
    return f != NULL && f->value_len == strlen(type) && strncasecmp(f->value, type, f->value_len) == 0;
}

static int content_type_ok(const ug_exchange_t *req)
{
    return ug_resumable_content_type_is(req, UG_TUS_CONTENT_TYPE);
}

static int t_plain(const ug_exchange_t *req)
{
    return req->tus != NULL && req->tus->plain;
}

/* A PATCH's Upload-Length: the deferred length made known (checked against max_file), or the same as stored. */
ug_err_t ug_resumable_patch_length(ug_exchange_t *req, const char **why)
{
    const ug_header_t *f = ug_resumable_field(req, "upload-length");
    uint64_t length;
    ug_rstore_t *s = req->tus->store;
    if (f == NULL)
        return UG_OK;
    if (ug_tus_parse_uint(f->value, f->value_len, &length) != UG_TUS_PARSE_OK) {
        *why = "Upload-Length must be a non-negative decimal integer";
        return UG_ERR_BAD_REQUEST;
    }
    if (!ug_rstore_info(s)->deferred) {
        *why = "Upload-Length cannot change once it is known";
        return length == ug_rstore_info(s)->length ? UG_OK : UG_ERR_BAD_REQUEST;
    }
    if (length > ug_resumable_max_size(req)) {
        *why = t_plain(req) ? "Upload-Length exceeds the route's max_body limit" : "Upload-Length exceeds the route's max_file limit";
        return ug_resumable_too_large(req);
    }
    if (length < ug_rstore_info(s)->offset) {
        *why = "Upload-Length is less than the bytes already received";
        return UG_ERR_BAD_REQUEST;
    }
    return of_store(ug_rstore_set_length(s, length));
}

/* A PATCH whose Upload-Offset equals the length of an upload already handed to the app: the retried last chunk of a
 * client that missed the answer. Answered 204 as the first time, without a second manifest. */
static void answer_completed(ug_exchange_t *req)
{
    ug_resumable_answer_t a;
    answer_init(&a);
    ug_resumable_put_u64(&a, "upload-offset", ug_rstore_info(req->tus->store)->offset);
    ug_resumable_send_answer(req, 204, "No Content", &a);
}

static void serve_patch(ug_exchange_t *req, const char *id, int has_body)
{
    const ug_header_t *fo = ug_resumable_field(req, "upload-offset");
    uint64_t offset;
    const char *why = NULL;
    if (!content_type_ok(req)) {
        send_error(req, UG_ERR_UNSUPPORTED_MEDIA, NULL);
        return;
    }
    if (fo == NULL || ug_tus_parse_uint(fo->value, fo->value_len, &offset) != UG_TUS_PARSE_OK) {
        send_error(req, UG_ERR_BAD_REQUEST, "Upload-Offset must be a non-negative decimal integer");
        return;
    }
    if (!ug_resumable_open(req, id))
        return;
    const ug_rstore_info_t *info = ug_rstore_info(req->tus->store);
    if (ug_tus_concat_kind_of(info->concat) == UG_TUS_CONCAT_FINAL) { /* tus: its bytes are its partial uploads' */
        send_error(req, UG_ERR_FORBIDDEN, "a final upload is assembled from its partial uploads; it takes no PATCH");
        return;
    }
    if (info->completed && offset == info->length && !has_body) {
        answer_completed(req);
        return;
    }
    if (info->completed || offset != info->offset) {
        send_error(req, UG_ERR_OFFSET_MISMATCH, NULL);
        return;
    }
    ug_err_t e = ug_resumable_patch_length(req, &why);
    if (e != UG_OK) {
        send_error(req, e, why);
        return;
    }
    if (take_checksum(req))
        ug_resumable_start_body(req, has_body);
}

/* ---- POST: creation ---- */

/* Upload-Length or Upload-Defer-Length: 1, exactly one of them. */
static ug_err_t creation_length(ug_exchange_t *req, ug_rstore_info_t *info, const char **why)
{
    const ug_header_t *len = ug_resumable_field(req, "upload-length"), *defer = ug_resumable_field(req, "upload-defer-length");
    if ((len == NULL) == (defer == NULL)) {
        *why = "a creation needs exactly one of Upload-Length and Upload-Defer-Length";
        return UG_ERR_BAD_REQUEST;
    }
    if (defer != NULL) {
        info->deferred = 1;
        *why = "Upload-Defer-Length must be 1";
        return ug_resumable_field_is(defer, "1") ? UG_OK : UG_ERR_BAD_REQUEST;
    }
    if (ug_tus_parse_uint(len->value, len->value_len, &info->length) != UG_TUS_PARSE_OK) {
        *why = "Upload-Length must be a non-negative decimal integer";
        return UG_ERR_BAD_REQUEST;
    }
    if (info->length > req->route->limits.max_file) {
        *why = "Upload-Length exceeds the route's max_file limit";
        return UG_ERR_FILE_TOO_LARGE;
    }
    return UG_OK;
}

/* Upload-Metadata, validated (ug_tus_metadata_parse) and kept as sent. */
ug_err_t ug_resumable_creation_metadata(ug_exchange_t *req, char **stored, const char **why)
{
    const ug_header_t *f = ug_resumable_field(req, "upload-metadata");
    ug_tus_metadata_t m;
    if (f == NULL) {
        *stored = strdup("");
    } else {
        if (ug_tus_metadata_parse(f->value, f->value_len, &m, why) != UG_TUS_PARSE_OK)
            return UG_ERR_BAD_REQUEST;
        ug_tus_metadata_free(&m);
        *stored = strndup(f->value, f->value_len);
    }
    return *stored != NULL ? UG_OK : UG_ERR_NOMEM;
}

int ug_resumable_create(ug_exchange_t *req, ug_rstore_info_t *info, char *metadata)
{
    char id[UG_TUS_ID_MAX];
    info->metadata = metadata;
    if (info->concat == NULL)
        info->concat = "";
    ug_rstore_result_t r = ug_rstore_create(req->rt->config->storage.dir, info, id);
    free(metadata);
    info->metadata = NULL;
    if (r == UG_RSTORE_OK)
        r = ug_rstore_open(req->rt->config->storage.dir, id, &req->tus->store);
    if (r == UG_RSTORE_OK)
        ug_rstore_set_fsync(req->tus->store, req->route->resumable.fsync);
    if (r != UG_RSTORE_OK) {
        send_error(req, of_store(r), NULL);
        return 0;
    }
    memcpy(req->tus->id, id, UG_TUS_ID_MAX);
    req->tus->created = 1;
    return 1;
}

static void serve_create(ug_exchange_t *req, int has_body)
{
    ug_rstore_info_t info = {.created = now_s(), .expires = ug_resumable_expiry(req), .route = req->route->path,
                             .subject = (char *)ug_resumable_subject(req), .concat = ""};
    const char *why = NULL;
    char *metadata = NULL;
    const ug_header_t *fc = ug_resumable_field(req, "upload-concat");
    ug_tus_concat_t concat = {.kind = UG_TUS_CONCAT_NONE};
    if (fc != NULL && ug_tus_concat_parse(fc->value, fc->value_len, &concat, &why) != UG_TUS_PARSE_OK) {
        send_error(req, UG_ERR_BAD_REQUEST, why);
        return;
    }
    if (concat.kind == UG_TUS_CONCAT_FINAL) {
        ug_concat_serve_final(req, &concat, fc->value, fc->value_len, has_body);
        return;
    }
    if (concat.kind == UG_TUS_CONCAT_PARTIAL)
        info.concat = "partial";
    ug_err_t e = creation_length(req, &info, &why);
    if (e == UG_OK && (e = ug_resumable_creation_metadata(req, &metadata, &why)) == UG_OK && has_body && !content_type_ok(req))
        e = UG_ERR_UNSUPPORTED_MEDIA;
    if (e == UG_OK && ug_resumable_state(req) == NULL)
        e = UG_ERR_NOMEM;
    if (e != UG_OK) {
        free(metadata);
        send_error(req, e, why);
        return;
    }
    if (!ug_resumable_create(req, &info, metadata))
        return;
    if (has_body && !take_checksum(req))
        return;
    ug_resumable_start_body(req, has_body);
}

void ug_resumable_serve(ug_exchange_t *req, int has_body)
{
    char id[UG_TUS_ID_MAX];
    size_t id_len = 0;
    if (ug_resumable_ietf_serve(req, has_body))
        return;
    /* OPTIONS is how a client learns the version: it is answered whatever Tus-Resumable says */
    if (ug_resumable_method_is(req, "OPTIONS")) {
        serve_options(req);
        return;
    }
    if (!ug_resumable_field_is(ug_resumable_field(req, "tus-resumable"), UG_TUS_VERSION)) {
        send_error(req, UG_ERR_TUS_VERSION, NULL);
        return;
    }
    if (ug_resumable_target_id(req, id, &id_len) != 0) {
        send_error(req, UG_ERR_NOT_FOUND, "no such upload");
        return;
    }
    if ((id_len == 0) != ug_resumable_method_is(req, "POST")) {
        ug_resumable_answer_t a;
        answer_init(&a);
        ug_resumable_put(&a, "allow", id_len == 0 ? "POST, OPTIONS" : "HEAD, PATCH, DELETE, OPTIONS", id_len == 0 ? 13 : 28);
        ug_exchange_respond_error(req, UG_ERR_METHOD_NOT_ALLOWED,
                                  id_len == 0 ? "an upload is created with POST on this URL"
                                              : "an upload's URL takes HEAD, PATCH and DELETE",
                                  a.f, a.n);
        return;
    }
    if (id_len == 0)
        serve_create(req, has_body);
    else if (ug_resumable_method_is(req, "HEAD"))
        serve_head(req, id);
    else if (ug_resumable_method_is(req, "PATCH"))
        serve_patch(req, id, has_body);
    else
        serve_delete(req, id);
}

ug_exchange_flow_t ug_resumable_feed(ug_exchange_t *req, const char *bytes, size_t len)
{
    ug_resumable_req_t *t = req->tus;
    uint64_t received = ug_rstore_pending(t->store);
    size_t take = len;
    req->bytes_in += len;
    if (received + len > t->limit)
        take = (size_t)(t->limit - received);
    ug_rstore_result_t r = take != 0 ? ug_rstore_write(t->store, bytes, take) : UG_RSTORE_OK;
    if (r == UG_RSTORE_OK && t->chunk_md != NULL && take != 0 && EVP_DigestUpdate(t->chunk_md, bytes, take) != 1)
        r = UG_RSTORE_NOMEM;
    if (r != UG_RSTORE_OK) {
        send_error(req, of_store(r), NULL);
        return UG_EXCHANGE_ENDED;
    }
    if (take < len) { /* the bytes up to the limit are kept (keep_received), as any cut-off chunk's */
        refuse_over(req);
        return UG_EXCHANGE_ENDED;
    }
    return UG_EXCHANGE_MORE;
}

/* Whether the chunk's digest is the one Upload-Checksum announced. */
static int checksum_matches(ug_resumable_req_t *t)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    return EVP_DigestFinal_ex(t->chunk_md, d, &n) == 1 && n == t->checksum.digest_len && memcmp(d, t->checksum.digest, n) == 0;
}

/* The upload reached its length: its data file becomes an upload's one file, and the manifest goes to the app. */
void ug_resumable_complete(ug_exchange_t *req)
{
    ug_resumable_req_t *t = req->tus;
    if (t->plain) { /* a request body: parsed by the route's pipeline (exchange/resumable_plain.c) */
        ug_plain_complete(req);
        return;
    }
    const ug_rstore_info_t *info = ug_rstore_info(t->store);
    ug_tus_metadata_t m = {.pairs = NULL, .n = 0};
    const char *why = NULL, *json = NULL;
    size_t json_len = 0;
    char sha[UG_SHA256_HEX_LEN + 1];
    (void)ug_tus_metadata_parse(info->metadata, strlen(info->metadata), &m, &why); /* validated at creation */
    const ug_tus_pair_t *name = ug_tus_metadata_get(&m, "filename"), *type = ug_tus_metadata_get(&m, "filetype");
    ug_upload_request_t ur;
    ug_exchange_upload_request(req, &ur);
    /* The app hears of the upload as a POST to the route (what created it, and what a one-request upload would be),
     * not as the PATCH that happened to complete it. */
    ug_exchange_as_t as = {"POST", 4, req->route->match, req->route->match_len};
    ur.method = as.method;
    ur.method_len = as.method_len;
    ur.path = as.path;
    ur.path_len = as.path_len;
    ur.content_type = NULL; /* the PATCH's own, application/offset+octet-stream, says nothing of the file */
    ur.content_length = info->length;
    ug_err_t e = of_store(ug_rstore_sha256_hex(t->store, sha));
    ug_upload_adopted_t a = {
        .dir_fd = ug_rstore_dir_fd(t->store),
        .name = UG_RSTORE_DATA,
        .size = info->offset,
        .sha256_hex = sha,
        .filename = name != NULL ? name->value : NULL,
        .filename_len = name != NULL ? name->value_len : 0,
        .content_type = type != NULL ? type->value : NULL,
        .content_type_len = type != NULL ? type->value_len : 0,
    };
    if (e == UG_OK && (req->upload = ug_upload_new(&ur)) == NULL)
        e = UG_ERR_NOMEM;
    if (e == UG_OK && req->gate.authenticated)
        ug_upload_set_auth(req->upload, ug_auth_manifest_json(&req->gate.auth));
    if (e == UG_OK && (e = ug_upload_start_adopted(req->upload)) == UG_OK)
        e = ug_upload_adopt_file(req->upload, &a);
    for (size_t i = 0; e == UG_OK && i < m.n; ++i)
        if (&m.pairs[i] != name && &m.pairs[i] != type)
            e = ug_upload_add_field(req->upload, m.pairs[i].key, m.pairs[i].key_len, m.pairs[i].value, m.pairs[i].value_len);
    ug_tus_metadata_free(&m);
    if (e == UG_OK)
        e = ug_upload_finish(req->upload, &json, &json_len);
    if (e != UG_OK) { /* the data file, if it moved, goes with the upload: the store keeps only its info */
        ug_exchange_fail_upload(req, e, NULL);
        return;
    }
    if (req->request_id[0] == '\0')
        memcpy(req->request_id, ug_upload_id(req->upload), strlen(ug_upload_id(req->upload)) + 1);
    ug_exchange_forward_manifest(req, &as, json, json_len);
}

/* The answer to a chunk that did not complete the upload (or to a creation). */
static void answer_progress(ug_exchange_t *req)
{
    ug_resumable_req_t *t = req->tus;
    const ug_rstore_info_t *info = ug_rstore_info(t->store);
    ug_resumable_answer_t a;
    char location[LOCATION_MAX];
    answer_init(&a);
    ug_resumable_put_u64(&a, "upload-offset", info->offset);
    if (!info->completed)
        put_date(&a, "upload-expires", info->expires);
    if (!t->created) {
        ug_resumable_send_answer(req, 204, "No Content", &a);
        return;
    }
    /* relative to the route: the client reached it under this prefix */
    int n = snprintf(location, sizeof(location), "%s%s", req->route->match, t->id);
    ug_resumable_put(&a, "location", location, n > 0 && (size_t)n < sizeof(location) ? (size_t)n : 0);
    ug_resumable_send_answer(req, 201, "Created", &a);
}

void ug_resumable_finish_body(ug_exchange_t *req)
{
    ug_resumable_req_t *t = req->tus;
    t->body_whole = 1;
    if (t->concat != NULL) {
        ug_concat_assemble(req);
        return;
    }
    if (t->has_checksum && !checksum_matches(t)) {
        ug_rstore_discard(t->store);
        send_error(req, UG_ERR_CHECKSUM_MISMATCH, NULL);
        return;
    }
    ug_rstore_result_t r = ug_rstore_commit(t->store, ug_resumable_expiry(req));
    if (r != UG_RSTORE_OK) {
        ug_rstore_discard(t->store);
        send_error(req, of_store(r), NULL);
        return;
    }
    const ug_rstore_info_t *info = ug_rstore_info(t->store);
    if (t->ietf)
        ug_resumable_ietf_committed(req);
    /* a partial upload waits, complete, for the final upload that joins it */
    else if (!info->deferred && info->offset == info->length && ug_tus_concat_kind_of(info->concat) != UG_TUS_CONCAT_PARTIAL)
        ug_resumable_complete(req);
    else
        answer_progress(req);
}

void ug_resumable_keep_received(ug_exchange_t *req)
{
    ug_resumable_req_t *t = req->tus;
    if (t == NULL || t->store == NULL)
        return;
    /* a chunk with a checksum is kept only whole and verified (finish_body) */
    if (ug_rstore_pending(t->store) != 0 &&
        (t->has_checksum || ug_rstore_commit(t->store, ug_resumable_expiry(req)) != UG_RSTORE_OK))
        ug_rstore_discard(t->store);
    /* The answer is final: the lock goes now, not when the transport is done writing it, or a client that sends its
     * next request as soon as it has read this answer could find the upload still locked (423). A final upload's
     * creation keeps it: ug_resumable_end removes the upload when it was never assembled. */
    if (t->concat == NULL) {
        ug_rstore_close(t->store);
        t->store = NULL;
    }
}

void ug_resumable_settled(ug_exchange_t *req, int accepted)
{
    ug_resumable_req_t *t = req->tus;
    ug_concat_settled(t->concat); /* the partial uploads go once the app has answered for the final one */
    if (t->store == NULL)
        return;
    if (accepted && ug_rstore_mark_completed(t->store) == UG_RSTORE_OK)
        return;
    /* refused (its file is gone with the upload), or completion could not be recorded: the upload ends here */
    ug_rstore_remove(t->store);
    t->store = NULL;
}

const char *ug_resumable_expose(const ug_exchange_t *req)
{
    const ug_resumable_config_t *rc = &req->route->resumable;
    if (rc->enabled)
        return ug_ietf_expose_headers(rc->protocols & UG_RESUMABLE_TUS, rc->protocols & UG_RESUMABLE_IETF);
    return t_plain(req) ? ug_ietf_expose_headers(0, 1) : NULL;
}

int ug_resumable_relays_answer(const ug_exchange_t *req)
{
    return req->tus != NULL && req->tus->ietf;
}

void ug_resumable_respond_accepted(ug_exchange_t *req)
{
    if (req->tus->store == NULL) { /* accepted, but completion could not be recorded: the upload is gone */
        send_error(req, UG_ERR_STORAGE, "the upload was handed to the application, but its completion could not be recorded");
        return;
    }
    answer_progress(req); /* a PATCH's 204, or a creation's 201 with Location, with the final Upload-Offset */
}

void ug_resumable_end(ug_exchange_t *req)
{
    ug_resumable_req_t *t = req->tus;
    if (t == NULL)
        return;
    ug_resumable_keep_received(req);
    ug_plain_parse_free(t->parse);
    if (ug_concat_free(t->concat) && t->store != NULL) { /* a final upload never assembled: nobody knows its URL */
        ug_rstore_remove(t->store);
        t->store = NULL;
    }
    ug_rstore_close(t->store);
    EVP_MD_CTX_free(t->chunk_md);
    free(t);
    req->tus = NULL;
}

/* ---- for exchange/concat.c ---- */

int ug_resumable_adopt_created(ug_exchange_t *req, ug_rstore_t *store, const char *id)
{
    if (ug_resumable_state(req) == NULL)
        return -1;
    req->tus->store = store;
    memcpy(req->tus->id, id, UG_TUS_ID_MAX);
    req->tus->created = 1;
    return 0;
}

ug_rstore_t *ug_resumable_store(const ug_exchange_t *req)
{
    return req->tus != NULL ? req->tus->store : NULL;
}

ug_concat_t **ug_resumable_concat(ug_exchange_t *req)
{
    return ug_resumable_state(req) != NULL ? &req->tus->concat : NULL;
}

void ug_resumable_send_error(ug_exchange_t *req, ug_err_t e, const char *message)
{
    send_error(req, e, message);
}

ug_err_t ug_resumable_of_store(ug_rstore_result_t r)
{
    return of_store(r);
}
