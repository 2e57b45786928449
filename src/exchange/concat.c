/*
 * exchange/concat.c - final uploads of the tus concatenation extension (see concat.h).
 */
#include "exchange/concat.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exchange/resumable_internal.h"

/* The most bytes one turn of the event loop copies and hashes: a few milliseconds, so a GiB-sized final upload
 * never holds up the loop's other connections for long. */
#define CONCAT_SLICE (8u * 1024 * 1024)

struct ug_concat {
    ug_exchange_t *req;
    ug_rstore_t *parts[UG_TUS_CONCAT_MAX]; /* held (locked) from the creation until the request ends */
    size_t n;
    size_t at;          /* the part being copied */
    uint64_t part_off;  /* bytes of parts[at] copied */
    int src_fd;         /* parts[at]'s data, -1 between parts */
    int handed;         /* the final upload went to the app */
    h2o_timeout_entry_t slice;
};

/* Lock each named partial upload and check it may be joined: this caller's, a partial upload, complete. */
static ug_err_t hold_parts(ug_exchange_t *req, ug_concat_t *cc, const ug_tus_concat_t *c, uint64_t *total,
                           const char **why)
{
    const char *root = req->rt->config->storage.dir;
    *total = 0;
    for (size_t i = 0; i < c->n; ++i) {
        ug_tus_span_t seg;
        char id[UG_TUS_ID_MAX];
        *why = "Upload-Concat names no partial upload of this route";
        if (ug_tus_concat_segment(&c->parts[i], req->route->match, req->route->match_len, &seg) != 0 ||
            !ug_rstore_id_valid(seg.p, seg.len))
            return UG_ERR_NOT_FOUND;
        memcpy(id, seg.p, seg.len);
        id[seg.len] = '\0';
        for (size_t j = 0; j < cc->n; ++j)
            if (strcmp(id, ug_rstore_id(cc->parts[j])) == 0) {
                *why = "Upload-Concat names a partial upload twice";
                return UG_ERR_BAD_REQUEST;
            }
        ug_rstore_result_t r = ug_rstore_hold(root, id, &cc->parts[cc->n]);
        *why = NULL;
        if (r != UG_RSTORE_OK)
            return ug_resumable_of_store(r);
        const ug_rstore_info_t *info = ug_rstore_info(cc->parts[cc->n++]);
        ug_err_t e = ug_resumable_verdict(req, info);
        if (e != UG_OK)
            return e;
        if (ug_tus_concat_kind_of(info->concat) != UG_TUS_CONCAT_PARTIAL) {
            *why = "Upload-Concat: final may only name uploads created with Upload-Concat: partial";
            return UG_ERR_BAD_REQUEST;
        }
        if (info->deferred || info->offset != info->length || info->completed) {
            *why = "a partial upload named by Upload-Concat is not complete";
            return UG_ERR_BAD_REQUEST;
        }
        *total += info->length;
    }
    if (*total > req->route->limits.max_file) {
        *why = "the final upload exceeds the route's max_file limit";
        return UG_ERR_FILE_TOO_LARGE;
    }
    return UG_OK;
}

/* The final upload itself: its length the parts' sum, its Upload-Concat as sent, its metadata the creation's. */
static ug_err_t create_final(ug_exchange_t *req, uint64_t total, const char *value, size_t value_len, const char **why)
{
    char *metadata = NULL, *concat = strndup(value, value_len);
    time_t now = time(NULL);
    ug_rstore_info_t info = {.length = total, .created = (int64_t)now, .expires = ug_resumable_expiry(req),
                             .route = req->route->path, .subject = (char *)ug_resumable_subject(req), .concat = concat};
    char id[UG_TUS_ID_MAX];
    ug_rstore_t *store = NULL;
    ug_err_t e = concat == NULL ? UG_ERR_NOMEM : ug_resumable_creation_metadata(req, &metadata, why);
    info.metadata = metadata;
    if (e == UG_OK)
        e = ug_resumable_of_store(ug_rstore_create(req->rt->config->storage.dir, &info, id));
    if (e == UG_OK && (e = ug_resumable_of_store(ug_rstore_open(req->rt->config->storage.dir, id, &store))) != UG_OK &&
        ug_rstore_hold(req->rt->config->storage.dir, id, &store) == UG_RSTORE_OK) {
        ug_rstore_remove(store); /* created but not opened: nothing may stay of a creation that failed */
        store = NULL;
    }
    if (e == UG_OK)
        ug_rstore_set_fsync(store, req->route->resumable.fsync);
    if (e == UG_OK && ug_resumable_adopt_created(req, store, id) != 0) {
        ug_rstore_remove(store);
        e = UG_ERR_NOMEM;
    }
    free(metadata);
    free(concat);
    return e;
}

void ug_concat_serve_final(ug_exchange_t *req, const ug_tus_concat_t *c, const char *value, size_t value_len, int has_body)
{
    ug_concat_t **slot = ug_resumable_concat(req), *cc = calloc(1, sizeof(*cc));
    const char *why = NULL;
    uint64_t total = 0;
    ug_err_t e = slot == NULL || cc == NULL ? UG_ERR_NOMEM : UG_OK;
    if (e != UG_OK) {
        free(cc);
        ug_resumable_send_error(req, e, NULL);
        return;
    }
    *slot = cc;
    cc->req = req;
    cc->src_fd = -1;
    if (has_body || ug_head_find(&req->h, "upload-length", NULL) != NULL) {
        ug_resumable_send_error(req, UG_ERR_BAD_REQUEST, "a final upload takes neither Upload-Length nor a body");
        return;
    }
    if ((e = hold_parts(req, cc, c, &total, &why)) == UG_OK)
        e = create_final(req, total, value, value_len, &why);
    if (e != UG_OK) {
        ug_resumable_send_error(req, e, why);
        return;
    }
    ug_exchange_finish_body(req);
}

/* Fail the creation: the final upload, never announced, is removed with the request (ug_concat_free's 1). */
static void fail(ug_concat_t *cc, ug_err_t e)
{
    ug_resumable_send_error(cc->req, e, NULL);
}

static void on_slice(h2o_timeout_entry_t *entry);

static void next_slice(ug_concat_t *cc)
{
    h2o_context_t *ctx = cc->req->loop->ctx;
    cc->slice.cb = on_slice;
    h2o_timeout_link(ctx->loop, &ctx->zero_timeout, &cc->slice);
}

/* One bounded piece of copying; at the end the final upload is committed and handed over. */
static void on_slice(h2o_timeout_entry_t *entry)
{
    ug_concat_t *cc = H2O_STRUCT_FROM_MEMBER(ug_concat_t, slice, entry);
    ug_exchange_t *req = cc->req;
    ug_rstore_t *final = ug_resumable_store(req);
    while (cc->at < cc->n && ug_rstore_info(cc->parts[cc->at])->length == cc->part_off) {
        if (cc->src_fd >= 0)
            close(cc->src_fd);
        cc->src_fd = -1;
        cc->part_off = 0;
        ++cc->at;
    }
    if (cc->at == cc->n) {
        ug_rstore_result_t r = ug_rstore_commit(final, ug_resumable_expiry(req));
        if (r != UG_RSTORE_OK) {
            fail(cc, ug_resumable_of_store(r));
            return;
        }
        cc->handed = 1;
        ug_resumable_complete(req);
        return;
    }
    if (cc->src_fd < 0 &&
        (cc->src_fd = openat(ug_rstore_dir_fd(cc->parts[cc->at]), UG_RSTORE_DATA, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        fail(cc, UG_ERR_STORAGE);
        return;
    }
    uint64_t left = ug_rstore_info(cc->parts[cc->at])->length - cc->part_off;
    uint64_t n = left < CONCAT_SLICE ? left : CONCAT_SLICE;
    ug_rstore_result_t r = ug_rstore_append_fd(final, cc->src_fd, cc->part_off, n);
    if (r != UG_RSTORE_OK) {
        fail(cc, ug_resumable_of_store(r));
        return;
    }
    cc->part_off += n;
    next_slice(cc);
}

void ug_concat_assemble(ug_exchange_t *req)
{
    ug_concat_t **slot = ug_resumable_concat(req);
    next_slice(*slot);
}

void ug_concat_settled(ug_concat_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; ++i) {
        ug_rstore_remove(c->parts[i]);
        c->parts[i] = NULL;
    }
    c->n = 0;
}

int ug_concat_free(ug_concat_t *c)
{
    if (c == NULL)
        return 0;
    if (h2o_timeout_is_linked(&c->slice))
        h2o_timeout_unlink(&c->slice);
    if (c->src_fd >= 0)
        close(c->src_fd);
    for (size_t i = 0; i < c->n; ++i)
        ug_rstore_close(c->parts[i]);
    int orphan = !c->handed;
    free(c);
    return orphan;
}
