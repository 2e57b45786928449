/*
 * upload.c - the shared upload pipeline (see upload.h).
 *
 * Bytes flow: feed() -> [multipart parser ->] storage file (hash + write).
 * Every limit is checked before the bytes that would cross it are written, so
 * a refused upload never has more on disk than its limits allow, and abort()
 * removes what there is.
 */
#include "upload/upload.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upload/manifest.h"
#include "upload/multipart/multipart.h"
#include "upload/sink.h"
#include "upload/storage.h"

/* A file of the upload from its first byte until the manifest names it: what the manifest says of it, kept until it
 * is stored (an object completes later, and in any order) so that the manifest lists files in body order. */
typedef struct stored_file {
    unsigned index; /* the sink's */
    char *field, *filename, *content_type; /* copies, NULL when none */
    size_t field_len, filename_len, content_type_len;
    int done; /* stored: the members below are set */
    uint64_t size;
    char sha256_hex[UG_SHA256_HEX_LEN + 1];
    char *bucket, *key, *etag; /* an object's; NULL for a local file */
} stored_file_t;

struct ug_upload {
    ug_upload_request_t req; /* strings below are our own copies */
    char *method, *path, *content_type, *client_address, *protocol;

    ug_sink_t *sink; /* where the files go: the storage directory or the object store (sink.h) */
    char id[UG_UPLOAD_ID_LEN + 1];
    ug_manifest_t *manifest;
    ug_multipart_parser_t *parser; /* NULL: the body is stored as one file */

    /* the part being received */
    ug_sink_file_t *file;
    unsigned file_index;
    char *part_name, *part_filename, *part_content_type;
    size_t part_name_len, part_filename_len, part_content_type_len;
    int part_is_field;
    char *field_buf;
    size_t field_len;

    stored_file_t *stored; /* every file begun, in body order */
    size_t num_stored, cap_stored;
    size_t listed;      /* stored[0..listed) are in the manifest */
    unsigned finishing; /* files whose storing completes later (S3) */
    int finish_asked;   /* ug_upload_finish_async answered UG_UPLOAD_PENDING: on_finished is owed */
    int sealed;         /* ug_sink_seal asked (counted in finishing until it answers) */
    int paused;         /* ug_upload_feed answered UG_UPLOAD_PAUSE and on_ready has not run */
    ug_upload_events_t events;

    uint64_t body_bytes;
    uint64_t stored_bytes; /* sizes of the files finished so far */
    unsigned files, fields;

    json_t *auth; /* the caller, for the manifest; handed over at start */
    char *json;
    size_t json_len;
    ug_err_t err;
    char message[256];
};

static char *dup_bytes(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d != NULL) {
        if (len != 0)
            memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

/* "2 GiB", "64 KiB", "1000 bytes": limits in messages read as they were configured. */
static void format_size(uint64_t n, char *out, size_t outlen)
{
    static const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (u + 1 < sizeof(units) / sizeof(units[0]) && n >= 1024 && n % 1024 == 0) {
        n /= 1024;
        ++u;
    }
    snprintf(out, outlen, "%" PRIu64 " %s", n, units[u]);
}

static ug_err_t fail(ug_upload_t *u, ug_err_t e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static ug_err_t fail(ug_upload_t *u, ug_err_t e, const char *fmt, ...)
{
    if (u->err != UG_OK) /* keep the first cause */
        return u->err;
    u->err = e;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(u->message, sizeof(u->message), fmt, ap);
        va_end(ap);
    } else {
        snprintf(u->message, sizeof(u->message), "%s", ug_err_message(e));
    }
    return e;
}

/* A store's failure: its own message, or the error's default one when it gave none. */
static ug_err_t fail_because(ug_upload_t *u, ug_err_t e, const char *message)
{
    return message != NULL && message[0] != '\0' ? fail(u, e, "%s", message) : fail(u, e, NULL);
}

static ug_err_t fail_limit(ug_upload_t *u, ug_err_t e, const char *what, const char *limit, uint64_t value)
{
    char size[32];
    format_size(value, size, sizeof(size));
    if (e == UG_ERR_TOO_MANY_FILES || e == UG_ERR_TOO_MANY_FIELDS)
        return fail(u, e, "%s exceeds the route's %s limit (%" PRIu64 ")", what, limit, value);
    return fail(u, e, "%s exceeds the route's %s limit (%s)", what, limit, size);
}

ug_upload_t *ug_upload_new(const ug_upload_request_t *req)
{
    ug_upload_t *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->req = *req;
    u->method = dup_bytes(req->method, req->method_len);
    u->path = dup_bytes(req->path, req->path_len);
    u->client_address = dup_bytes(req->client_address, strlen(req->client_address));
    u->protocol = dup_bytes(req->protocol, strlen(req->protocol));
    if (req->content_type != NULL)
        u->content_type = dup_bytes(req->content_type, req->content_type_len);
    if (u->method == NULL || u->path == NULL || u->client_address == NULL || u->protocol == NULL ||
        (req->content_type != NULL && u->content_type == NULL)) {
        ug_upload_abort(u);
        return NULL;
    }
    u->req.method = u->method;
    u->req.path = u->path;
    u->req.content_type = u->content_type;
    u->req.client_address = u->client_address;
    u->req.protocol = u->protocol;
    return u;
}

/* ---- storing one file (a file part, or the whole raw body) ---- */

/* The next file, its manifest entry waiting (stored_file_t) for the file to be stored. */
static ug_err_t file_open(ug_upload_t *u, const char *content_type)
{
    if (u->files >= u->req.route->limits.max_files)
        return fail_limit(u, UG_ERR_TOO_MANY_FILES, "the number of files", "max_files", u->req.route->limits.max_files);
    if (u->num_stored == u->cap_stored) {
        size_t cap = u->cap_stored != 0 ? u->cap_stored * 2 : 4;
        stored_file_t *grown = realloc(u->stored, sizeof(*grown) * cap);
        if (grown == NULL)
            return fail(u, UG_ERR_NOMEM, NULL);
        u->stored = grown;
        u->cap_stored = cap;
    }
    ug_err_t e = ug_sink_file_begin(u->sink, content_type, &u->file, &u->file_index);
    if (e != UG_OK)
        return fail(u, e, NULL);
    u->stored[u->num_stored++] = (stored_file_t){.index = u->file_index};
    ++u->files;
    return UG_OK;
}

/* The most bytes of one object: the store takes max_parts parts of part_size. */
static uint64_t object_limit(const ug_upload_t *u)
{
    return u->req.route->store == UG_STORE_S3 ? ug_s3_config_max_object(u->req.config->storage.s3) : UINT64_MAX;
}

/* `what` ("a file", "the request body") would not fit in one object. */
static ug_err_t fail_object_limit(ug_upload_t *u, ug_err_t e, const char *what)
{
    char size[32];
    format_size(object_limit(u), size, sizeof(size));
    return fail(u, e, "%s exceeds the largest object the store takes (%u parts of part_size: %s)", what,
                UG_S3_MAX_PARTS, size);
}

static ug_err_t file_write(ug_upload_t *u, const char *buf, size_t len)
{
    uint64_t max_file = u->req.route->limits.max_file, size = ug_sink_file_size(u->file);
    if (size + len > max_file)
        return fail_limit(u, UG_ERR_FILE_TOO_LARGE, "a file", "max_file", max_file);
    if (size + len > object_limit(u))
        return fail_object_limit(u, UG_ERR_FILE_TOO_LARGE, "a file");
    const char *message = NULL;
    ug_err_t e = ug_sink_file_write(u->file, buf, len, &message);
    if (e == UG_OK)
        return UG_OK;
    return message != NULL ? fail(u, e, "%s", message) : fail(u, e, NULL);
}

/* A stored file (index `index`, complete) into the manifest: a local file at the path the app sees it under, an object
 * by its s3:// URL (`given` has bucket and key). */
static ug_err_t add_manifest_file(ug_upload_t *u, unsigned index, const ug_manifest_file_t *given)
{
    ug_manifest_file_t mf = *given;
    char where[4096];
    int n;
    if (given->key != NULL) {
        n = snprintf(where, sizeof(where), "s3://%s/%s", given->bucket, given->key);
        mf.url = where;
    } else { /* the app is told where the file is on *its* side of the shared volume */
        const ug_storage_config_t *sc = &u->req.config->storage;
        n = snprintf(where, sizeof(where), "%s/%s/%u", sc->app_dir != NULL ? sc->app_dir : sc->dir, u->id, index);
        mf.path = where;
    }
    if (n < 0 || (size_t)n >= sizeof(where))
        return fail(u, UG_ERR_INTERNAL, "stored file path is too long");
    ug_err_t e = ug_manifest_add_file(u->manifest, &mf);
    return e == UG_OK ? UG_OK : fail(u, e, NULL);
}

/* The files stored so far that every earlier one precedes into the manifest: it lists them in body order. */
static ug_err_t list_stored(ug_upload_t *u)
{
    for (; u->listed < u->num_stored && u->stored[u->listed].done; ++u->listed) {
        const stored_file_t *sf = &u->stored[u->listed];
        ug_manifest_file_t mf = {
            .field = sf->field,
            .field_len = sf->field_len,
            .filename = sf->filename,
            .filename_len = sf->filename_len,
            .content_type = sf->content_type,
            .content_type_len = sf->content_type_len,
            .size = sf->size,
            .sha256_hex = sf->sha256_hex,
            .bucket = sf->bucket,
            .key = sf->key,
            .etag = sf->etag,
        };
        ug_err_t e = add_manifest_file(u, sf->index, &mf);
        if (e != UG_OK)
            return e;
    }
    return UG_OK;
}

static void complete_later(ug_upload_t *u);
static void seal(ug_upload_t *u);

/* The sink stored file `index` (or failed to): into the manifest, in order. For an object this runs from the loop's
 * inbox, maybe after the body ended: the upload then completes (or fails) here. */
static void on_file_stored(void *arg, unsigned index, const ug_sink_stored_t *st)
{
    ug_upload_t *u = arg;
    stored_file_t *sf = NULL;
    for (size_t i = u->listed; i < u->num_stored; ++i)
        if (u->stored[i].index == index)
            sf = &u->stored[i];
    --u->finishing;
    if (st->err != UG_OK) {
        fail_because(u, st->err, st->message);
    } else if (sf != NULL) {
        sf->size = st->size;
        memcpy(sf->sha256_hex, st->sha256_hex, UG_SHA256_HEX_LEN + 1);
        if (st->key != NULL &&
            ((sf->bucket = dup_bytes(st->bucket, strlen(st->bucket))) == NULL ||
             (sf->key = dup_bytes(st->key, strlen(st->key))) == NULL ||
             (sf->etag = dup_bytes(st->etag != NULL ? st->etag : "", st->etag != NULL ? strlen(st->etag) : 0)) == NULL))
            fail(u, UG_ERR_NOMEM, NULL);
        sf->done = 1;
        u->stored_bytes += st->size;
        if (u->err == UG_OK)
            list_stored(u);
    }
    if (u->finish_asked && u->err == UG_OK && u->finishing == 0)
        seal(u);
    if (u->finish_asked && (u->err != UG_OK || u->finishing == 0))
        complete_later(u); /* the last thing done here: the upload may be gone after it */
}

static void on_sealed(void *arg, ug_err_t err, const char *message)
{
    ug_upload_t *u = arg;
    --u->finishing;
    if (err != UG_OK)
        fail_because(u, err, message);
    if (u->finish_asked && (u->err != UG_OK || u->finishing == 0))
        complete_later(u); /* the last thing done here: the upload may be gone after it */
}

/* Every file is stored: the sink makes them the app's to be told of (an object store's pending marker cleared) before
 * the manifest names them. Counted as one more thing finishing; the local sink answers at once. */
static void seal(ug_upload_t *u)
{
    if (u->sealed || u->files == 0)
        return;
    u->sealed = 1;
    ++u->finishing;
    ug_sink_seal(u->sink, on_sealed, u);
}

/* The file being received is complete: stored now (local) or later (an object: on_file_stored). */
static ug_err_t file_close(ug_upload_t *u, const char *field, size_t field_len, const char *filename, size_t filename_len,
                         const char *content_type, size_t content_type_len)
{
    stored_file_t *sf = &u->stored[u->num_stored - 1];
    if ((field != NULL && (sf->field = dup_bytes(field, field_len)) == NULL) ||
        (filename != NULL && (sf->filename = dup_bytes(filename, filename_len)) == NULL) ||
        (content_type != NULL && (sf->content_type = dup_bytes(content_type, content_type_len)) == NULL))
        return fail(u, UG_ERR_NOMEM, NULL);
    sf->field_len = field_len;
    sf->filename_len = filename_len;
    sf->content_type_len = content_type_len;
    ug_sink_file_t *f = u->file;
    u->file = NULL;
    ++u->finishing;
    ug_sink_file_finish(f, on_file_stored, u);
    return u->err;
}

/* ---- multipart callbacks ---- */

static void part_reset(ug_upload_t *u)
{
    free(u->part_name);
    free(u->part_filename);
    free(u->part_content_type);
    free(u->field_buf);
    u->part_name = u->part_filename = u->part_content_type = u->field_buf = NULL;
    u->part_name_len = u->part_filename_len = u->part_content_type_len = u->field_len = 0;
}

static ug_err_t on_part_begin(void *ctx, const ug_multipart_part_t *part)
{
    ug_upload_t *u = ctx;
    part_reset(u);
    /* RFC 7578 4.2: a part is a file when its Content-Disposition carries a filename (browsers send filename="" for an
     * empty file input: that is still a file part, stored empty). Everything else is a field. */
    u->part_is_field = part->filename == NULL;
    if (part->name != NULL && (u->part_name = dup_bytes(part->name, part->name_len)) == NULL)
        return fail(u, UG_ERR_NOMEM, NULL);
    u->part_name_len = part->name_len;
    if (part->filename != NULL && (u->part_filename = dup_bytes(part->filename, part->filename_len)) == NULL)
        return fail(u, UG_ERR_NOMEM, NULL);
    u->part_filename_len = part->filename_len;
    if (part->content_type != NULL && (u->part_content_type = dup_bytes(part->content_type, part->content_type_len)) == NULL)
        return fail(u, UG_ERR_NOMEM, NULL);
    u->part_content_type_len = part->content_type_len;

    if (u->part_is_field) {
        if (u->fields >= u->req.route->limits.max_fields)
            return fail_limit(u, UG_ERR_TOO_MANY_FIELDS, "the number of fields", "max_fields", u->req.route->limits.max_fields);
        ++u->fields;
        return UG_OK;
    }
    return file_open(u, u->part_content_type);
}

static ug_err_t on_part_data(void *ctx, const char *buf, size_t len)
{
    ug_upload_t *u = ctx;
    if (!u->part_is_field)
        return file_write(u, buf, len);

    uint64_t max = u->req.route->limits.max_field_size;
    if (u->field_len + len > max)
        return fail_limit(u, UG_ERR_FIELD_TOO_LARGE, "a field", "max_field_size", max);
    /* Bounded by max_field_size, so growing to the exact size is fine. */
    char *grown = realloc(u->field_buf, u->field_len + len);
    if (grown == NULL)
        return fail(u, UG_ERR_NOMEM, NULL);
    u->field_buf = grown;
    memcpy(u->field_buf + u->field_len, buf, len);
    u->field_len += len;
    return UG_OK;
}

static ug_err_t on_part_end(void *ctx)
{
    ug_upload_t *u = ctx;
    ug_err_t e;
    if (u->part_is_field) {
        e = ug_manifest_add_field(u->manifest, u->part_name != NULL ? u->part_name : "", u->part_name_len,
                                  u->field_buf != NULL ? u->field_buf : "", u->field_len);
        if (e != UG_OK)
            fail(u, e, NULL);
    } else {
        e = file_close(u, u->part_name, u->part_name_len, u->part_filename, u->part_filename_len, u->part_content_type,
                       u->part_content_type_len);
    }
    part_reset(u);
    return e;
}

static const ug_multipart_callbacks_t multipart_callbacks = {on_part_begin, on_part_data, on_part_end};

/* ---- the public pipeline ---- */

static void on_sink_ready(void *arg);

/* Where the files go (the upload's directory, or its objects' key prefix) and the manifest. */
static ug_err_t begin_store(ug_upload_t *u)
{
    ug_err_t e;
    if (u->req.route->store == UG_STORE_S3)
        e = ug_sink_begin_s3(u->req.s3, u->req.s3_inbox, u->req.config->storage.s3->prefix, &u->sink, u->id);
    else
        e = ug_sink_begin_local(u->req.config->storage.dir, &u->sink, u->id);
    if (e != UG_OK)
        return fail(u, e, NULL);
    ug_sink_set_on_ready(u->sink, on_sink_ready, u);

    ug_manifest_client_request_t mr = {
        .id = u->id,
        .route = u->req.route->path,
        .method = u->method,
        .method_len = u->req.method_len,
        .path = u->path,
        .path_len = u->req.path_len,
        .received_at = u->req.received_at,
        .client_address = u->client_address,
        .protocol = u->protocol,
    };
    if ((u->manifest = ug_manifest_new(&mr)) == NULL)
        return fail(u, UG_ERR_NOMEM, NULL);
    ug_manifest_set_auth(u->manifest, u->auth);
    u->auth = NULL;
    return UG_OK;
}

ug_err_t ug_upload_start_adopted(ug_upload_t *u)
{
    return begin_store(u);
}

ug_err_t ug_upload_adopt_file(ug_upload_t *u, const ug_upload_adopted_t *a)
{
    unsigned index;
    if (u->err != UG_OK)
        return u->err;
    ug_err_t e = ug_sink_file_adopt(u->sink, a->dir_fd, a->name, a->size, &index);
    if (e != UG_OK)
        return fail(u, e, NULL);
    ++u->files;
    u->stored_bytes += a->size;
    u->body_bytes += a->size;
    ug_manifest_file_t mf = {
        .filename = a->filename,
        .filename_len = a->filename_len,
        .content_type = a->content_type,
        .content_type_len = a->content_type_len,
        .size = a->size,
        .sha256_hex = a->sha256_hex,
    };
    return add_manifest_file(u, index, &mf);
}

ug_err_t ug_upload_add_field(ug_upload_t *u, const char *name, size_t name_len, const char *value, size_t value_len)
{
    if (u->err != UG_OK)
        return u->err;
    ug_err_t e = ug_manifest_add_field(u->manifest, name, name_len, value, value_len);
    return e == UG_OK ? UG_OK : fail(u, e, NULL);
}

ug_err_t ug_upload_start(ug_upload_t *u)
{
    const ug_limits_t *lim = &u->req.route->limits;
    const ug_storage_config_t *sc = &u->req.config->storage;
    ug_err_t e;

    if (u->req.content_length != UINT64_MAX && u->req.content_length > lim->max_body)
        return fail_limit(u, UG_ERR_BODY_TOO_LARGE, "the request body", "max_body", lim->max_body);

    if (u->req.route->store == UG_STORE_S3) {
        /* The store must be there before the client sends a byte; the local volume's free space does not matter. */
        if (u->req.s3 == NULL || u->req.s3_inbox == NULL || ug_s3_client_state(u->req.s3) != UG_S3_STORE_UP)
            return fail(u, UG_ERR_STORE_UNAVAILABLE, NULL);
        if (u->req.content_length != UINT64_MAX && u->req.content_length > object_limit(u))
            return fail_object_limit(u, UG_ERR_BODY_TOO_LARGE, "the request body");
    } else {
        /* Refuse early rather than fill the volume the app also lives on: keep min_free, and room for a declared body. */
        uint64_t free_bytes;
        if ((e = ug_storage_free_bytes(sc->dir, &free_bytes)) != UG_OK)
            return fail(u, e, "the storage directory is not usable");
        uint64_t need = sc->min_free + (u->req.content_length != UINT64_MAX ? u->req.content_length : 0);
        if (free_bytes < need)
            return fail(u, UG_ERR_INSUFFICIENT_STORAGE, "not enough free space to store the upload");
    }

    char boundary[UG_MULTIPART_MAX_BOUNDARY + 1];
    size_t boundary_len = 0;
    int is_multipart = u->content_type != NULL && ug_multipart_is_form_data(u->content_type, u->req.content_type_len);
    if (is_multipart) {
        const char *why = NULL;
        if (ug_multipart_boundary(u->content_type, u->req.content_type_len, boundary, &boundary_len, &why) != UG_OK)
            return fail(u, UG_ERR_MALFORMED_MULTIPART, "invalid multipart Content-Type: %s", why != NULL ? why : "no boundary");
    }

    if ((e = begin_store(u)) != UG_OK)
        return e;

    if (is_multipart) {
        u->parser = ug_multipart_new(boundary, boundary_len, u->req.config->max_header_size, &multipart_callbacks, u);
        if (u->parser == NULL)
            return fail(u, UG_ERR_NOMEM, NULL);
        return UG_OK;
    }
    /* Any other body - JSON included - is stored as one file: it must never reach the app as if it were a manifest. */
    return file_open(u, u->content_type);
}

static ug_err_t feed(ug_upload_t *u, const char *buf, size_t len);

void ug_upload_set_events(ug_upload_t *u, const ug_upload_events_t *ev)
{
    u->events = *ev;
}

/* The sink can take bytes again (or a file failed meanwhile): a paused feeder may go on, and will see the failure. */
static void on_sink_ready(void *arg)
{
    ug_upload_t *u = arg;
    if (!u->paused)
        return;
    u->paused = 0;
    if (u->events.on_ready != NULL)
        u->events.on_ready(u->events.arg); /* the last thing done here: the upload may be gone after it */
}

ug_upload_result_t ug_upload_feed(ug_upload_t *u, const char *buf, size_t len)
{
    ug_err_t e = feed(u, buf, len);
    if (e != UG_OK)
        return UG_UPLOAD_FAILED;
    if (ug_sink_blocked(u->sink)) { /* every byte was taken; the next ones wait for on_sink_ready */
        u->paused = 1;
        return UG_UPLOAD_PAUSE;
    }
    return UG_UPLOAD_OK;
}

static ug_err_t feed(ug_upload_t *u, const char *buf, size_t len)
{
    if (u->err != UG_OK)
        return u->err;
    /* Only the bytes up to max_body are processed; the rest is refused after them. So the error is the first limit
     * the body crosses (a part's max_file may come before max_body), however the body was split into chunks. */
    const ug_limits_t *lim = &u->req.route->limits;
    uint64_t room = lim->max_body - u->body_bytes;
    size_t take = len <= room ? len : (size_t)room;
    ug_err_t e = UG_OK;
    u->body_bytes += take;
    if (take != 0) {
        if (u->parser == NULL) {
            e = file_write(u, buf, take);
        } else if ((e = ug_multipart_feed(u->parser, buf, take)) != UG_OK && u->err == UG_OK) {
            /* the parser itself refused the body (a callback would have recorded its error) */
            fail(u, e, "%s", ug_multipart_error_message(u->parser) != NULL ? ug_multipart_error_message(u->parser)
                                                                             : ug_err_message(e));
        }
    }
    if (e == UG_OK && take < len)
        e = fail_limit(u, UG_ERR_BODY_TOO_LARGE, "the request body", "max_body", lim->max_body);
    return e;
}

/* Every file is stored: render the manifest and hand the files off. */
static ug_err_t complete(ug_upload_t *u)
{
    ug_err_t e;
    if (u->err != UG_OK)
        return u->err;
    if ((u->json = ug_manifest_dump(u->manifest, &u->json_len)) == NULL)
        return fail(u, UG_ERR_NOMEM, NULL);
    /*
     * The hand-off: from here the manifest goes out (the caller sends it next, in the same turn of the loop), and
     * the directory takes the name its paths give. Last, so that any failure before it leaves an incoming upload.
     * A form without files names no path: it stays incoming and release removes it.
     */
    if (u->files != 0 && (e = ug_sink_hand_off(u->sink)) != UG_OK)
        return fail(u, e, "the stored files could not be handed to the application");
    return UG_OK;
}

/* The last file stored after ug_upload_finish_async answered UG_UPLOAD_PENDING (or one failed): on_finished, once. */
static void complete_later(ug_upload_t *u)
{
    u->finish_asked = 0;
    ug_err_t e = complete(u);
    if (u->events.on_finished != NULL)
        u->events.on_finished(u->events.arg, e, e == UG_OK ? u->json : NULL, e == UG_OK ? u->json_len : 0);
}

ug_err_t ug_upload_finish(ug_upload_t *u, const char **json, size_t *json_len)
{
    ug_upload_result_t r = ug_upload_finish_async(u, json, json_len);
    if (r == UG_UPLOAD_PENDING) /* a caller that cannot wait must not have an asynchronous store */
        return fail(u, UG_ERR_INTERNAL, "the upload's store completes asynchronously");
    return r == UG_UPLOAD_OK ? UG_OK : u->err;
}

ug_upload_result_t ug_upload_finish_async(ug_upload_t *u, const char **json, size_t *json_len)
{
    ug_err_t e;
    u->paused = 0; /* nothing more is fed: on_ready is owed no more */
    if (u->err != UG_OK)
        return UG_UPLOAD_FAILED;
    if (u->parser != NULL) {
        if ((e = ug_multipart_finish(u->parser)) != UG_OK) {
            if (u->err == UG_OK)
                fail(u, e, "%s", ug_multipart_error_message(u->parser) != NULL ? ug_multipart_error_message(u->parser)
                                                                                 : ug_err_message(e));
            return UG_UPLOAD_FAILED;
        }
    } else if (u->file != NULL) {
        if ((e = file_close(u, NULL, 0, NULL, 0, u->content_type, u->req.content_type_len)) != UG_OK)
            return UG_UPLOAD_FAILED;
    }
    if (u->finishing == 0)
        seal(u);
    if (u->err != UG_OK)
        return UG_UPLOAD_FAILED;
    if (u->finishing != 0) {
        u->finish_asked = 1;
        return UG_UPLOAD_PENDING;
    }
    if (complete(u) != UG_OK)
        return UG_UPLOAD_FAILED;
    *json = u->json;
    *json_len = u->json_len;
    return UG_UPLOAD_OK;
}

const char *ug_upload_id(const ug_upload_t *u)
{
    return u->id;
}

ug_err_t ug_upload_error(const ug_upload_t *u)
{
    return u->err;
}

const char *ug_upload_message(const ug_upload_t *u)
{
    return u->err != UG_OK ? u->message : "";
}

uint64_t ug_upload_bytes(const ug_upload_t *u)
{
    return u->body_bytes;
}

uint64_t ug_upload_stored_bytes(const ug_upload_t *u)
{
    return u->stored_bytes;
}

unsigned ug_upload_file_count(const ug_upload_t *u)
{
    return u->files;
}

void ug_upload_set_auth(ug_upload_t *u, json_t *auth)
{
    json_decref(u->auth);
    u->auth = auth;
}

static void upload_free(ug_upload_t *u)
{
    for (size_t i = 0; i < u->num_stored; ++i) {
        stored_file_t *sf = &u->stored[i];
        free(sf->field);
        free(sf->filename);
        free(sf->content_type);
        free(sf->bucket);
        free(sf->key);
        free(sf->etag);
    }
    free(u->stored);
    json_decref(u->auth);
    part_reset(u);
    ug_multipart_free(u->parser);
    ug_manifest_free(u->manifest);
    free(u->json);
    free(u->method);
    free(u->path);
    free(u->content_type);
    free(u->client_address);
    free(u->protocol);
    free(u);
}

void ug_upload_release(ug_upload_t *u)
{
    if (u == NULL)
        return;
    /* A form without files names no path in its manifest, so nobody else could ever remove its (empty) directory. */
    if (u->files == 0)
        ug_sink_abort(u->sink);
    else
        ug_sink_release(u->sink);
    upload_free(u);
}

void ug_upload_abort(ug_upload_t *u)
{
    if (u == NULL)
        return;
    ug_sink_abort(u->sink);
    upload_free(u);
}
