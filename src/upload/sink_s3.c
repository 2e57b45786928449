/*
 * upload/sink_s3.c - the S3 sink (see sink.h): each file an object `<prefix><upload-id>/<n>` written through the S3
 * client (store/s3_client.h), whose completions run on the loop's thread from its inbox.
 *
 * Blocked: while an object's last write answered PAUSE (until its on_ready or on_done), or while
 * UG_SINK_S3_FINISHING files of the upload are still completing (each may hold its last parts in memory until the
 * store took them). So one upload holds at most about (UG_SINK_S3_FINISHING + 1) x (parts_in_flight + 1) x part_size,
 * and a single large file (parts_in_flight + 1) x part_size.
 *
 * Callbacks may end the sink (the upload answered, failed, or its app answer came at once): release and abort inside
 * a callback only mark it ended, and the objects are let go and the sink freed once the callback returned.
 *
 * The upload's pending marker (s3_client.h) is placed when the first byte of a file arrives, or a file ends (a
 * request refused before its body costs the store nothing); a file's finish (which completes its
 * object) waits until it is in place, and seal clears it. Parts go up meanwhile: an incomplete multipart upload is the
 * janitor's to find anyway.
 */
#include "upload/sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upload/storage.h"

/* Files of one upload completing at once before the next file's bytes wait (see above). */
#define UG_SINK_S3_FINISHING 4

typedef struct s3_file {
    ug_sink_file_t super;
    ug_s3_object_t *obj; /* NULL once let go */
    unsigned index;
    int waiting;   /* its last write answered PAUSE and on_ready has not run */
    int finishing; /* finish called, on_done not yet run */
    int stored;    /* on_done ran with UG_OK: the object exists */
    int deferred;  /* finish called before the marker was in place: finished once it is */
    ug_sink_stored_cb cb;
    void *cb_arg;
} s3_file_t;

typedef struct s3_sink {
    ug_sink_t super;
    ug_s3_client_t *client;
    ug_s3_inbox_t *inbox;
    char *key_prefix; /* "<prefix><id>/" */
    s3_file_t **files;
    size_t num_files, cap_files;
    unsigned waiting, finishing;
    int was_blocked; /* a caller saw it blocked: on_ready is owed */
    int depth;       /* callbacks of ours running */
    int ended;       /* released (keep = 1) or aborted (keep = 0) inside a callback: done when depth drops to 0 */
    int keep;
    ug_s3_marker_t *marker;
    int marker_state; /* 0: being placed, 1: in place, -1: could not be placed (marker_err, marker_message) */
    ug_err_t marker_err;
    char marker_message[300];
    ug_sink_sealed_cb seal_cb;
    void *seal_arg;
} s3_sink_t;

static int s3_blocked(const ug_sink_t *s)
{
    const s3_sink_t *ss = (const s3_sink_t *)s;
    return ss->waiting != 0 || ss->finishing >= UG_SINK_S3_FINISHING;
}

/* Let every object go (kept: released once stored; otherwise aborted: the store removes it in the background), free. */
static void s3_free(s3_sink_t *ss)
{
    for (size_t i = 0; i < ss->num_files; ++i) {
        s3_file_t *f = ss->files[i];
        if (f->obj != NULL) {
            if (ss->keep && f->stored)
                ug_s3_object_release(f->obj);
            else
                ug_s3_object_abort(f->obj);
        }
        free(f);
    }
    ug_s3_marker_end(ss->marker); /* after the objects' aborts: the engine removes it once they are cleaned up */
    free(ss->files);
    free(ss->key_prefix);
    free(ss);
}

static void end_sink(ug_sink_t *s, int keep)
{
    s3_sink_t *ss = (s3_sink_t *)s;
    ss->keep = keep;
    ss->ended = 1;
    if (ss->depth == 0)
        s3_free(ss);
}

static void s3_release(ug_sink_t *s)
{
    end_sink(s, 1);
}

static void s3_abort(ug_sink_t *s)
{
    end_sink(s, 0);
}

/* After a callback of ours: the caller is owed on_ready when the sink stopped being blocked. Then the sink is freed if
 * the callbacks ended it. */
static void after_event(s3_sink_t *ss)
{
    if (!ss->ended && ss->was_blocked && !s3_blocked(&ss->super) && ss->super.on_ready != NULL) {
        ss->was_blocked = 0;
        ++ss->depth;
        ss->super.on_ready(ss->super.on_ready_arg);
        --ss->depth;
    }
    if (ss->ended && ss->depth == 0)
        s3_free(ss);
}

static void on_object_ready(void *arg)
{
    s3_file_t *f = arg;
    s3_sink_t *ss = (s3_sink_t *)f->super.sink;
    if (ss->ended)
        return;
    if (f->waiting) {
        f->waiting = 0;
        --ss->waiting;
    }
    after_event(ss);
}

/* A file's finish ended: stored (the object exists), or failed. */
static void file_done(s3_file_t *f, const ug_s3_object_done_t *d)
{
    s3_sink_t *ss = (s3_sink_t *)f->super.sink;
    f->finishing = 0;
    --ss->finishing;
    if (f->waiting) { /* no on_ready follows its completion */
        f->waiting = 0;
        --ss->waiting;
    }
    f->stored = d->err == UG_OK;
    ug_sink_stored_t st = {
        .err = d->err,
        .message = d->message,
        .size = d->size,
        .sha256_hex = d->sha256_hex,
        .bucket = d->bucket,
        .key = d->key,
        .etag = d->etag,
    };
    ++ss->depth;
    f->cb(f->cb_arg, f->index, &st);
    --ss->depth;
    if (!f->stored) /* a failed file fails the upload: it is told now, paused or not */
        ss->was_blocked = 1;
}

static void on_object_done(void *arg, const ug_s3_object_done_t *d)
{
    s3_file_t *f = arg;
    s3_sink_t *ss = (s3_sink_t *)f->super.sink;
    if (ss->ended)
        return;
    file_done(f, d);
    after_event(ss);
}

/* A file whose object must not be completed: the marker could not be placed. */
static void file_refused(s3_file_t *f)
{
    s3_sink_t *ss = (s3_sink_t *)f->super.sink;
    ug_s3_object_done_t d = {.err = ss->marker_err, .message = ss->marker_message[0] ? ss->marker_message : NULL};
    file_done(f, &d);
}

static void on_marker_placed(void *arg, ug_err_t err, const char *message)
{
    s3_sink_t *ss = arg;
    if (ss->ended)
        return;
    ss->marker_state = err == UG_OK ? 1 : -1;
    ss->marker_err = err;
    snprintf(ss->marker_message, sizeof(ss->marker_message), "%s", message != NULL ? message : "");
    for (size_t i = 0; i < ss->num_files && !ss->ended; ++i) {
        s3_file_t *f = ss->files[i];
        if (!f->deferred)
            continue;
        f->deferred = 0;
        if (err == UG_OK)
            ug_s3_object_finish(f->obj, on_object_done, f);
        else
            file_refused(f);
    }
    after_event(ss);
}

static ug_err_t s3_file_begin(ug_sink_t *s, const char *content_type, ug_sink_file_t **out, unsigned *index_out)
{
    s3_sink_t *ss = (s3_sink_t *)s;
    if (ss->num_files == ss->cap_files) {
        size_t cap = ss->cap_files != 0 ? ss->cap_files * 2 : 8;
        s3_file_t **files = realloc(ss->files, sizeof(*files) * cap);
        if (files == NULL)
            return UG_ERR_NOMEM;
        ss->files = files;
        ss->cap_files = cap;
    }
    s3_file_t *f = calloc(1, sizeof(*f));
    size_t plen = strlen(ss->key_prefix);
    char *key = malloc(plen + 16);
    if (f == NULL || key == NULL) {
        free(f);
        free(key);
        return UG_ERR_NOMEM;
    }
    f->super.sink = s;
    f->index = (unsigned)ss->num_files;
    snprintf(key, plen + 16, "%s%u", ss->key_prefix, f->index);
    f->obj = ug_s3_object_begin(ss->client, ss->inbox, ss->marker, key, content_type, on_object_ready, f);
    free(key); /* copied by the client */
    if (f->obj == NULL) {
        free(f);
        return UG_ERR_NOMEM;
    }
    ss->files[ss->num_files++] = f;
    *index_out = f->index;
    *out = &f->super;
    return UG_OK;
}

/* Place the upload's marker if it is not yet (0), or -1 when out of memory. The files begun so far have had no byte
 * and no finish: they join it now, so that it is removed only after their clean-up. */
static int need_marker(s3_sink_t *ss)
{
    if (ss->marker != NULL)
        return 0;
    if ((ss->marker = ug_s3_marker_begin(ss->client, ss->inbox, ss->key_prefix, on_marker_placed, ss)) == NULL)
        return -1;
    for (size_t i = 0; i < ss->num_files; ++i)
        if (ss->files[i]->obj != NULL)
            ug_s3_object_join(ss->files[i]->obj, ss->marker);
    return 0;
}

static ug_err_t s3_file_write(ug_sink_file_t *file, const char *buf, size_t len, const char **message)
{
    s3_file_t *f = (s3_file_t *)file;
    s3_sink_t *ss = (s3_sink_t *)file->sink;
    if (need_marker(ss) != 0)
        return UG_ERR_NOMEM;
    switch (ug_s3_object_write(f->obj, buf, len)) {
    case UG_S3_WRITE_MORE:
        return UG_OK;
    case UG_S3_WRITE_PAUSE:
        if (!f->waiting) {
            f->waiting = 1;
            ++ss->waiting;
        }
        ss->was_blocked = 1;
        return UG_OK;
    case UG_S3_WRITE_FAILED:
    default: {
        ug_err_t e = ug_s3_object_error(f->obj, message);
        return e != UG_OK ? e : UG_ERR_STORE_FAILED;
    }
    }
}

static uint64_t s3_file_size(const ug_sink_file_t *f)
{
    return ug_s3_object_size(((const s3_file_t *)f)->obj);
}

static void s3_file_finish(ug_sink_file_t *file, ug_sink_stored_cb cb, void *arg)
{
    s3_file_t *f = (s3_file_t *)file;
    s3_sink_t *ss = (s3_sink_t *)file->sink;
    f->cb = cb;
    f->cb_arg = arg;
    f->finishing = 1;
    ++ss->finishing;
    if (s3_blocked(file->sink))
        ss->was_blocked = 1;
    if (need_marker(ss) != 0) {
        ss->marker_state = -1;
        ss->marker_err = UG_ERR_NOMEM;
        ss->marker_message[0] = '\0';
    }
    if (ss->marker_state == 0) {
        f->deferred = 1;
    } else if (ss->marker_state < 0) {
        ++ss->depth;
        file_refused(f);
        --ss->depth;
        after_event(ss);
    } else {
        ug_s3_object_finish(f->obj, on_object_done, f);
    }
}

static ug_err_t s3_file_adopt(ug_sink_t *s, int from_dir_fd, const char *from_name, uint64_t size, unsigned *index_out)
{
    (void)s, (void)from_dir_fd, (void)from_name, (void)size, (void)index_out;
    return UG_ERR_INTERNAL; /* resumable routes store locally (config.h) */
}

static void on_marker_cleared(void *arg, ug_err_t err, const char *message)
{
    s3_sink_t *ss = arg;
    if (ss->ended)
        return;
    ++ss->depth;
    ss->seal_cb(ss->seal_arg, err, message);
    --ss->depth;
    after_event(ss);
}

static void s3_seal(ug_sink_t *s, ug_sink_sealed_cb cb, void *arg)
{
    s3_sink_t *ss = (s3_sink_t *)s;
    ss->seal_cb = cb;
    ss->seal_arg = arg;
    ug_s3_marker_clear(ss->marker, on_marker_cleared, ss);
}

static ug_err_t s3_hand_off(ug_sink_t *s)
{
    (void)s; /* the objects are complete and named already */
    return UG_OK;
}

static const ug_sink_ops_t s3_ops = {
    s3_file_begin, s3_file_write, s3_file_size, s3_file_finish, s3_file_adopt,
    s3_blocked,    s3_seal,       s3_hand_off,  s3_release, s3_abort,
};

ug_err_t ug_sink_begin_s3(ug_s3_client_t *client, ug_s3_inbox_t *inbox, const char *prefix, ug_sink_t **out,
                          char *id_out)
{
    if (ug_storage_random_id(id_out) != 0)
        return UG_ERR_INTERNAL;
    s3_sink_t *ss = calloc(1, sizeof(*ss));
    size_t len = strlen(prefix) + UG_UPLOAD_ID_LEN + 2;
    if (ss == NULL || (ss->key_prefix = malloc(len)) == NULL) {
        free(ss);
        return UG_ERR_NOMEM;
    }
    snprintf(ss->key_prefix, len, "%s%s/", prefix, id_out);
    ss->super.ops = &s3_ops;
    ss->client = client;
    ss->inbox = inbox;
    *out = &ss->super;
    return UG_OK;
}
