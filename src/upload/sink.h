/*
 * upload/sink.h - where one upload's files go, so that upload.c is one pipeline for every store: the storage
 * directory (sink.c over storage.h: a file per stored part) or S3-compatible object storage (sink_s3.c over
 * store/s3_client.h: an object `<prefix><upload-id>/<n>` per stored part, n = 0, 1, 2 ... as local files are numbered).
 *
 *   ug_sink_begin_* -> (ug_sink_file_begin -> ug_sink_file_write ... -> ug_sink_file_finish) ... -> ug_sink_seal
 *   -> ug_sink_hand_off, then ug_sink_release (the app took the files) or ug_sink_abort (remove everything).
 *
 * Finishing a file may complete later (S3: the last part, then CompleteMultipartUpload): ug_sink_file_finish reports
 * through its callback, which the local sink runs before returning and the S3 sink from its loop's inbox. Writing may
 * ask the caller to stop (S3: every part slot of the object busy, or too many files of the upload still completing):
 * ug_sink_blocked says so after any call, and the sink's on_ready runs once it is no longer blocked.
 *
 * Ownership: the sink owns every file handle it made; ug_sink_release and ug_sink_abort free the sink and every file
 * (S3: objects kept, or aborted and deleted in the background). No callback runs after either, and either may be called
 * from inside a callback of the same sink. One thread uses a sink (the loop owning the inbox).
 */
#ifndef UG_UPLOAD_SINK_H
#define UG_UPLOAD_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "common/errors.h"
#include "store/s3_client.h"

typedef struct ug_sink ug_sink_t;
typedef struct ug_sink_file ug_sink_file_t;

/* A file completely stored. Every pointer is valid during the callback only. */
typedef struct ug_sink_stored {
    ug_err_t err;        /* UG_OK, or why the file could not be stored (then only `message` is set) */
    const char *message; /* NULL: the error's default message */
    uint64_t size;
    const char *sha256_hex; /* 64 lowercase hex + NUL */
    const char *bucket;     /* an object's; NULL for a local file */
    const char *key;
    const char *etag; /* as the store answered, quotes included */
} ug_sink_stored_t;

/* The file numbered `index` (ug_sink_file_begin's) is stored, or failed. */
typedef void (*ug_sink_stored_cb)(void *arg, unsigned index, const ug_sink_stored_t *s);

/* An upload in the storage directory `root` (ug_storage_upload_begin). `id_out`: UG_UPLOAD_ID_LEN + 1 bytes. */
ug_err_t ug_sink_begin_local(const char *root, ug_sink_t **out, char *id_out);
/* An upload as objects of the client's bucket, keys `<prefix><id>/<n>`, completions through `inbox` (the calling
 * loop's). UG_ERR_NOMEM or UG_ERR_INTERNAL (no random id). */
ug_err_t ug_sink_begin_s3(ug_s3_client_t *client, ug_s3_inbox_t *inbox, const char *prefix, ug_sink_t **out,
                          char *id_out);
/* Told (once per blocked spell) when a blocked sink can take bytes again, or an earlier file failed meanwhile. */
void ug_sink_set_on_ready(ug_sink_t *s, void (*on_ready)(void *arg), void *arg);

/* The next file; *index_out = its number. `content_type` (NUL-terminated or NULL) is the object's Content-Type. */
ug_err_t ug_sink_file_begin(ug_sink_t *s, const char *content_type, ug_sink_file_t **out, unsigned *index_out);
/* Append bytes (every one is taken unless an error is answered). Local: UG_ERR_INSUFFICIENT_STORAGE / UG_ERR_STORAGE;
 * S3: UG_ERR_STORE_FAILED / UG_ERR_STORE_UNAVAILABLE, with the store's message in *message. */
ug_err_t ug_sink_file_write(ug_sink_file_t *f, const char *buf, size_t len, const char **message);
uint64_t ug_sink_file_size(const ug_sink_file_t *f);
/* No more bytes: `cb(arg, index, result)` runs once, before this returns (local) or later (S3). */
void ug_sink_file_finish(ug_sink_file_t *f, ug_sink_stored_cb cb, void *arg);
/* A complete local file moved in (ug_storage_file_adopt); UG_ERR_INTERNAL on an S3 sink. */
ug_err_t ug_sink_file_adopt(ug_sink_t *s, int from_dir_fd, const char *from_name, uint64_t size, unsigned *index_out);

/* Every file is stored and the manifest is about to name them: from here on nothing the sink stored may be taken for
 * a crash's leftover (S3: the upload's pending marker is cleared, s3_client.h; local: nothing to do). `cb(arg, err,
 * message)` runs once, before this returns (local) or later (S3); an error means the manifest must not go. */
typedef void (*ug_sink_sealed_cb)(void *arg, ug_err_t err, const char *message);
void ug_sink_seal(ug_sink_t *s, ug_sink_sealed_cb cb, void *arg);
/* Whether the caller should give no more bytes until on_ready. */
int ug_sink_blocked(const ug_sink_t *s);
/* The manifest is about to name the files (local: the directory takes its final name; S3: nothing to do). */
ug_err_t ug_sink_hand_off(ug_sink_t *s);
/* Keep the files (they are the app's now); frees the sink. */
void ug_sink_release(ug_sink_t *s);
/* Remove everything; frees the sink. NULL is a no-op. */
void ug_sink_abort(ug_sink_t *s);

/* ---- for the implementations (sink.c, sink_s3.c) ---- */
typedef struct ug_sink_ops {
    ug_err_t (*file_begin)(ug_sink_t *s, const char *content_type, ug_sink_file_t **out, unsigned *index_out);
    ug_err_t (*file_write)(ug_sink_file_t *f, const char *buf, size_t len, const char **message);
    uint64_t (*file_size)(const ug_sink_file_t *f);
    void (*file_finish)(ug_sink_file_t *f, ug_sink_stored_cb cb, void *arg);
    ug_err_t (*file_adopt)(ug_sink_t *s, int from_dir_fd, const char *from_name, uint64_t size, unsigned *index_out);
    int (*blocked)(const ug_sink_t *s);
    void (*seal)(ug_sink_t *s, ug_sink_sealed_cb cb, void *arg);
    ug_err_t (*hand_off)(ug_sink_t *s);
    void (*release)(ug_sink_t *s);
    void (*abort)(ug_sink_t *s);
} ug_sink_ops_t;

struct ug_sink {
    const ug_sink_ops_t *ops;
    void (*on_ready)(void *arg);
    void *on_ready_arg;
};
struct ug_sink_file {
    ug_sink_t *sink;
};

#endif
