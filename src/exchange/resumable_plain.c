/*
 * exchange/resumable_plain.c - the IETF resumable-upload draft on ordinary upload routes (see
 * exchange/resumable_plain.h).
 *
 *   POST|PUT <route>             with Upload-Draft-Interop-Version: 6 and Upload-Complete: the creation; the 104 and
 *                                the 201 name <resumable_path><id>
 *   HEAD|PATCH|DELETE <resumable_path><id>
 *                                under the creating route's gate (auth, CORS), owner and limits
 *
 * When the content is complete it is read back in slices of PLAIN_SLICE bytes, PLAIN_SLICES_PER_TURN per turn of the
 * event loop (h2o's zero timeout: the loop serves other connections between turns), through a ug_upload built from
 * the recorded request, so multipart parsing, limits, storage and the manifest are the one-request path's own. The
 * cost is one extra local copy of the body (the raw data file, removed once the app accepted).
 */
#include "exchange/resumable_plain.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "exchange/resumable_internal.h"
#include "resumable/ietf.h"
#include "upload/multipart/multipart.h"

#define PLAIN_SLICE (1024 * 1024)
#define PLAIN_SLICES_PER_TURN 4

struct ug_plain_parse {
    h2o_timeout_entry_t slice;
    ug_exchange_t *req;
    int fd;      /* the data file, read-only */
    uint64_t at; /* bytes fed to the pipeline */
    uint64_t end;
    char *buf;
};

/* The route of a path under resumable_path that names no upload of an ordinary route: open, the global CORS policy,
 * and whatever it is asked, 404. */
static const ug_route_t unknown_upload = {
    .path = (char *)"(resumable_path)",
    .match = (char *)"",
    .methods = UG_METHOD_HEAD | UG_METHOD_PATCH | UG_METHOD_DELETE,
};

static int under_prefix(const ug_config_t *config, const char *path, size_t len)
{
    return config->resumable_path != NULL && len >= config->resumable_path_len &&
           memcmp(path, config->resumable_path, config->resumable_path_len) == 0;
}

int ug_plain_decide(const ug_config_t *config, const char *path, size_t path_len, const ug_route_t **route)
{
    if (path == NULL || !under_prefix(config, path, path_len))
        return 0;
    *route = &unknown_upload;
    const char *id = path + config->resumable_path_len;
    size_t id_len = path_len - config->resumable_path_len;
    char id_z[UG_TUS_ID_MAX];
    ug_rstore_info_t info;
    if (!ug_rstore_id_valid(id, id_len) || id_len >= sizeof(id_z))
        return 1;
    memcpy(id_z, id, id_len);
    id_z[id_len] = '\0';
    /* The info is read without the lock (as a HEAD is): the route it names decides which gate the request meets;
     * ownership and state are checked again, under the lock where one is taken, when the request is served. */
    if (ug_rstore_peek(config->storage.dir, id_z, &info) != UG_RSTORE_OK)
        return 1;
    const ug_route_t *r = info.method[0] != '\0' ? ug_config_route_by_path(config, info.route) : NULL;
    if (r != NULL && !r->resumable.enabled && !r->pass_through && r->resumable_requests)
        *route = r;
    ug_rstore_info_clear(&info);
    return 1;
}

/* ---- the upload's URL ---- */

int ug_plain_serve_url(ug_exchange_t *req, int has_body)
{
    char id[UG_TUS_ID_MAX];
    size_t id_len = 0;
    const ug_config_t *config = req->rt->config;
    if (!under_prefix(config, req->h.target, req->h.target_len))
        return 0;
    if (ug_resumable_state(req) == NULL) {
        ug_exchange_respond_error(req, UG_ERR_NOMEM, NULL, NULL, 0);
        return 1;
    }
    req->tus->plain = 1;
    if (req->route == &unknown_upload || ug_resumable_id_under(req, config->resumable_path_len, id, &id_len) != 0 ||
        id_len == 0) {
        ug_exchange_respond_error(req, UG_ERR_NOT_FOUND, "no such upload", NULL, 0);
        return 1;
    }
    if (!ug_resumable_method_is(req, "HEAD") && !ug_resumable_method_is(req, "PATCH") &&
        !ug_resumable_method_is(req, "DELETE")) {
        ug_header_t allow = {"allow", 5, "HEAD, PATCH, DELETE", 19};
        ug_exchange_respond_error(req, UG_ERR_METHOD_NOT_ALLOWED, "an upload's URL takes HEAD, PATCH and DELETE", &allow, 1);
        return 1;
    }
    if (ug_resumable_ietf_begin(req, ug_resumable_field(req, "upload-draft-interop-version")))
        ug_resumable_ietf_dispatch(req, id, has_body);
    return 1;
}

/* ---- creation ---- */

/* A multipart body whose Content-Type names no usable boundary can never be parsed: refused before anything is
 * stored, with the pipeline's own check (ug_upload_start would refuse it at completion). */
static int content_type_usable(ug_exchange_t *req)
{
    char boundary[UG_MULTIPART_MAX_BOUNDARY + 1];
    size_t boundary_len = 0;
    const char *why = NULL;
    if (req->h.content_type == NULL || !ug_multipart_is_form_data(req->h.content_type, req->h.content_type_len) ||
        ug_multipart_boundary(req->h.content_type, req->h.content_type_len, boundary, &boundary_len, &why) == UG_OK)
        return 1;
    char msg[200];
    snprintf(msg, sizeof(msg), "invalid multipart Content-Type: %s", why != NULL ? why : "no boundary");
    ug_exchange_respond_error(req, UG_ERR_MALFORMED_MULTIPART, msg, NULL, 0);
    return 0;
}

/* Room for the upload, as the one-request pipeline asks it before a body (storage.min_free plus the declared length:
 * Upload-Length, else this request's Content-Length); 507 when there is none. The body is stored twice on the way
 * (raw, then parsed): completion asks again. */
static int room_for(ug_exchange_t *req)
{
    const ug_header_t *f = ug_resumable_field(req, "upload-length");
    uint64_t declared = 0, free_bytes = 0;
    if (f == NULL || ug_tus_parse_uint(f->value, f->value_len, &declared) != UG_TUS_PARSE_OK)
        declared = req->h.framing == UG_HEAD_BODY_CONTENT_LENGTH ? req->h.content_length : 0;
    const ug_storage_config_t *sc = &req->rt->config->storage;
    ug_err_t e = ug_storage_free_bytes(sc->dir, &free_bytes);
    if (e == UG_OK && free_bytes >= sc->min_free && free_bytes - sc->min_free >= declared)
        return 1;
    ug_exchange_respond_error(req, e != UG_OK ? e : UG_ERR_INSUFFICIENT_STORAGE,
                              e != UG_OK ? "the storage directory is not usable" : "not enough free space to store the upload",
                              NULL, 0);
    return 0;
}

/* A route that does not take resumable requests serves a POST with the draft's headers as a one-request upload. One
 * announcing an incomplete body (Upload-Complete: ?0) is refused instead: its content is only the start of the
 * client's upload, and stored as a complete file it would reach the app as if it were all of it. */
static int refuse_incomplete(ug_exchange_t *req)
{
    const ug_header_t *f = ug_resumable_field(req, "upload-complete");
    int complete = 1;
    if (f == NULL || ug_ietf_parse_complete(f->value, f->value_len, &complete) != UG_TUS_PARSE_OK || complete)
        return 0;
    ug_exchange_respond_error(req, UG_ERR_BAD_REQUEST,
                              "this route does not take resumable uploads: send the whole body in one request "
                              "(Upload-Complete: ?1, or without the draft's headers)",
                              NULL, 0);
    return 1;
}

int ug_plain_serve_creation(ug_exchange_t *req, int has_body)
{
    const ug_header_t *version = ug_resumable_field(req, "upload-draft-interop-version");
    if (version == NULL || req->route->resumable.enabled)
        return 0;
    if (!req->route->resumable_requests)
        return refuse_incomplete(req);
    if (!ug_resumable_ietf_begin(req, version))
        return 1;
    req->tus->plain = 1;
    if (content_type_usable(req) && room_for(req))
        ug_resumable_ietf_dispatch(req, NULL, has_body);
    return 1;
}

int ug_plain_record(const ug_exchange_t *req, ug_rstore_info_t *info)
{
    /* application/partial-upload names the draft's framing of an append, not the content: as if none were sent */
    int has_type = req->h.content_type != NULL && !ug_resumable_content_type_is(req, UG_IETF_CONTENT_TYPE);
    info->method = strndup(req->h.method, req->h.method_len);
    info->target = strndup(req->h.target, req->h.target_len);
    info->content_type = has_type ? strndup(req->h.content_type, req->h.content_type_len) : strdup("");
    return info->method != NULL && info->target != NULL && info->content_type != NULL ? 0 : -1;
}

void ug_plain_record_clear(ug_rstore_info_t *info)
{
    free(info->method);
    free(info->target);
    free(info->content_type);
    info->method = info->target = info->content_type = NULL;
}

/* ---- completion: the body read back through the pipeline ---- */

void ug_plain_parse_free(ug_plain_parse_t *p)
{
    if (p == NULL)
        return;
    if (h2o_timeout_is_linked(&p->slice))
        h2o_timeout_unlink(&p->slice);
    if (p->fd >= 0)
        close(p->fd);
    free(p->buf);
    free(p);
}

/* Whether parsing the same bytes again could succeed: the error was the machine's (space, memory, I/O), not the
 * body's. */
static int worth_retrying(ug_err_t e)
{
    return e == UG_ERR_INSUFFICIENT_STORAGE || e == UG_ERR_STORAGE || e == UG_ERR_NOMEM;
}

/* The body did not become the app's upload. The pipeline's files go (ug_exchange_fail_upload). A body the route
 * refuses (malformed, over a limit) can never become one: as for a one-request upload nothing is left, the resumable
 * upload is removed too. After the machine's own failure the complete upload is kept: the client completes it again
 * (an empty append with Upload-Complete: ?1 at its length). */
static void fail(ug_exchange_t *req, ug_err_t e)
{
    ug_resumable_req_t *t = req->tus;
    ug_plain_parse_free(t->parse);
    t->parse = NULL;
    if (!worth_retrying(e)) {
        ug_rstore_remove(t->store);
        t->store = NULL;
    }
    ug_exchange_fail_upload(req, e, NULL);
}

static void finish(ug_exchange_t *req)
{
    ug_resumable_req_t *t = req->tus;
    const ug_rstore_info_t *info = ug_rstore_info(t->store);
    const char *json = NULL;
    size_t json_len = 0;
    ug_plain_parse_free(t->parse);
    t->parse = NULL;
    ug_err_t e = ug_upload_finish(req->upload, &json, &json_len);
    if (e != UG_OK) {
        fail(req, e);
        return;
    }
    if (req->request_id[0] == '\0')
        memcpy(req->request_id, ug_upload_id(req->upload), strlen(ug_upload_id(req->upload)) + 1);
    /* the app hears of it as the request that created it: method and target (with query) as sent */
    ug_exchange_as_t as = {info->method, strlen(info->method), info->target, strlen(info->target)};
    ug_exchange_forward_manifest(req, &as, json, json_len);
}

static void on_slice(h2o_timeout_entry_t *entry);

static void next_slice(ug_plain_parse_t *p)
{
    h2o_context_t *ctx = p->req->loop->ctx;
    p->slice.cb = on_slice;
    h2o_timeout_link(ctx->loop, &ctx->zero_timeout, &p->slice);
}

static void on_slice(h2o_timeout_entry_t *entry)
{
    ug_plain_parse_t *p = H2O_STRUCT_FROM_MEMBER(ug_plain_parse_t, slice, entry);
    ug_exchange_t *req = p->req;
    for (int i = 0; i < PLAIN_SLICES_PER_TURN && p->at < p->end; ++i) {
        size_t want = p->end - p->at < PLAIN_SLICE ? (size_t)(p->end - p->at) : PLAIN_SLICE;
        ssize_t n = pread(p->fd, p->buf, want, (off_t)p->at);
        if (n <= 0) { /* shorter than its committed offset: the store is damaged */
            fail(req, UG_ERR_STORAGE);
            return;
        }
        /* local storage (the route's store is local: config), so a feed never asks to pause */
        if (ug_upload_feed(req->upload, p->buf, (size_t)n) != UG_UPLOAD_OK) {
            fail(req, ug_upload_error(req->upload));
            return;
        }
        p->at += (uint64_t)n;
    }
    if (p->at < p->end)
        next_slice(p);
    else
        finish(req);
}

/* The pipeline's request: the recorded one (method, target, Content-Type), its length the upload's. */
static ug_err_t start_upload(ug_exchange_t *req)
{
    const ug_rstore_info_t *info = ug_rstore_info(req->tus->store);
    ug_upload_request_t ur;
    ug_exchange_upload_request(req, &ur);
    ur.method = info->method;
    ur.method_len = strlen(info->method);
    ur.path = info->target;
    ur.path_len = strlen(info->target);
    ur.content_type = info->content_type[0] != '\0' ? info->content_type : NULL;
    ur.content_type_len = strlen(info->content_type);
    ur.content_length = info->length;
    if ((req->upload = ug_upload_new(&ur)) == NULL)
        return UG_ERR_NOMEM;
    if (req->gate.authenticated)
        ug_upload_set_auth(req->upload, ug_auth_manifest_json(&req->gate.auth));
    return ug_upload_start(req->upload);
}

void ug_plain_complete(ug_exchange_t *req)
{
    ug_resumable_req_t *t = req->tus;
    ug_err_t e = start_upload(req);
    if (e != UG_OK) {
        fail(req, e);
        return;
    }
    ug_plain_parse_t *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->buf = malloc(PLAIN_SLICE)) == NULL) {
        free(p);
        fail(req, UG_ERR_NOMEM);
        return;
    }
    p->req = req;
    p->end = ug_rstore_info(t->store)->offset;
    p->fd = openat(ug_rstore_dir_fd(t->store), UG_RSTORE_DATA, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    t->parse = p;
    if (p->fd < 0) {
        fail(req, UG_ERR_STORAGE);
        return;
    }
    next_slice(p);
}
