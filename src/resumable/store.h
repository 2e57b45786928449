/*
 * resumable/store.h - the on-disk state of resumable (tus) uploads, shared by every process on one storage
 * directory. Pure of h2o: files, locks and hashes only.
 *
 * Layout:   <storage.dir>/.resumable/<id>/data   the bytes received so far
 *           <storage.dir>/.resumable/<id>/info   length (or deferred), offset, route, owner, metadata, concat, times,
 *                                                 completed; replaced whole (write, fsync, rename)
 * Ids:      32 lowercase hex characters, 128 random bits (ug_storage_random_id).
 * Writer:   ug_rstore_open takes flock(LOCK_EX | LOCK_NB) on the upload's directory: one writer per upload across
 *           threads and processes (a second one gets UG_RSTORE_LOCKED). The lock goes with ug_rstore_close.
 * Durable:  bytes are written at once but count only when ug_rstore_commit has fdatasync'd them and then recorded the
 *           new offset in the info file, so the offset a client is told never exceeds what is on disk. Uncommitted
 *           bytes are cut off by the next open (or ug_rstore_discard).
 * Hash:     the SHA-256 of the committed prefix is kept in memory, per process, between requests (a small table
 *           keyed by id). A process without that state (a restart, another process wrote most of it) rehashes the
 *           stored prefix on a thread of its own, started when it opens the upload, while the request's bytes are
 *           received; they are hashed after it. Only the completing request waits for it (ug_rstore_sha256_hex); a
 *           request that ends first leaves the thread to finish and keep the state for the next one.
 *
 * Ownership: a ug_rstore_t is owned by its caller and ended by exactly one of ug_rstore_close or ug_rstore_remove,
 * which free it. Info strings are owned by the info (ug_rstore_info_clear).
 */
#ifndef UG_RESUMABLE_STORE_H
#define UG_RESUMABLE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "upload/storage.h"

/* The folder under storage.dir; the janitor's sweep of upload directories leaves it alone (it starts with '.'). */
#define UG_RSTORE_DIR ".resumable"
#define UG_RSTORE_DATA "data"

typedef enum ug_rstore_result {
    UG_RSTORE_OK = 0,
    UG_RSTORE_NOT_FOUND, /* no such upload (or a malformed id) */
    UG_RSTORE_LOCKED,    /* another request is writing it */
    UG_RSTORE_NO_SPACE,  /* ENOSPC / EDQUOT */
    UG_RSTORE_IO,        /* any other I/O error, or an unreadable info file */
    UG_RSTORE_NOMEM,
} ug_rstore_result_t;

typedef struct ug_rstore_info {
    uint64_t length;   /* total bytes; meaningless while deferred */
    int deferred;      /* Upload-Defer-Length: 1, no length yet */
    uint64_t offset;   /* committed (durable) bytes */
    int64_t created;   /* Unix seconds */
    int64_t expires;   /* Unix seconds: removed by the janitor after this unless completed */
    int completed;     /* handed to the app, who accepted it: the data file is gone */
    char *route;       /* the route's configured path: an upload answers on its own route only */
    char *subject;     /* the owner's token subject, "" when the route is open */
    char *metadata;    /* Upload-Metadata as the client sent it (validated, printable ASCII), "" when none */
    char *concat;      /* Upload-Concat as the client sent it ("partial", "final;..."), "" for a plain upload */
    /* An upload an ordinary upload route made resumable (its bytes are a request body, parsed when complete): the
     * creating request's method, target (with query) and Content-Type ("" when it had none). All "" for the uploads
     * of a resumable route. */
    char *method;
    char *target;
    char *content_type;
} ug_rstore_info_t;

typedef struct ug_rstore ug_rstore_t;

/* Whether `id` has the form of an id (it may still not exist). */
int ug_rstore_id_valid(const char *id, size_t len);

/* Create an upload from `info` (offset 0, not completed) under `root` (storage.dir): directory, empty data file,
 * info. `id_out` gets the NUL-terminated id (UG_UPLOAD_ID_LEN + 1 bytes). Nothing is left behind on failure. */
ug_rstore_result_t ug_rstore_create(const char *root, const ug_rstore_info_t *info, char *id_out);

/* Read an upload's info without taking its lock (HEAD): the info file is replaced atomically, so it is always whole.
 * The caller clears *info. */
ug_rstore_result_t ug_rstore_peek(const char *root, const char *id, ug_rstore_info_t *info);
void ug_rstore_info_clear(ug_rstore_info_t *info);

/* Lock an upload and read its info, without opening its data (a complete partial upload being joined into a final
 * one: its bytes are read through ug_rstore_dir_fd). Ended by ug_rstore_close or ug_rstore_remove as any. */
ug_rstore_result_t ug_rstore_hold(const char *root, const char *id, ug_rstore_t **out);
/* Open an upload for writing: lock, read its info, cut uncommitted bytes, find or rebuild the hash state. */
ug_rstore_result_t ug_rstore_open(const char *root, const char *id, ug_rstore_t **out);
/* The upload's id (owned by the store). */
const char *ug_rstore_id(const ug_rstore_t *s);
/* The info as last committed (owned by the store). */
const ug_rstore_info_t *ug_rstore_info(const ug_rstore_t *s);
/* Bytes written since the last commit. */
uint64_t ug_rstore_pending(const ug_rstore_t *s);
/* Append bytes after the committed and pending ones; hashed as they pass. */
ug_rstore_result_t ug_rstore_write(ug_rstore_t *s, const char *buf, size_t len);
/* Append `len` bytes of `src_fd` from `src_off` after the committed and pending ones, copied in the kernel
 * (copy_file_range) and then hashed from the data file; pending like ug_rstore_write's. */
ug_rstore_result_t ug_rstore_append_fd(ug_rstore_t *s, int src_fd, uint64_t src_off, uint64_t len);
/* Make the pending bytes count: fdatasync the data, then record offset + pending (and expires) in the info. */
ug_rstore_result_t ug_rstore_commit(ug_rstore_t *s, int64_t expires);
/* Whether commits flush to disk (the default) or only write: without the flushes an offset survives the process (the
 * page cache holds the bytes) but not a power loss or kernel crash. Set after ug_rstore_open. */
void ug_rstore_set_fsync(ug_rstore_t *s, int on);
/* Drop the pending bytes (a chunk whose checksum failed): truncate back to the committed offset, restore the hash. */
ug_rstore_result_t ug_rstore_discard(ug_rstore_t *s);
/* A deferred length becomes known (recorded in the info at once). */
ug_rstore_result_t ug_rstore_set_length(ug_rstore_t *s, uint64_t length);
/* The SHA-256 (64 hex + NUL) of the committed bytes. Waits for a rehash still running (see Hash above). */
ug_rstore_result_t ug_rstore_sha256_hex(ug_rstore_t *s, char *out);
/* The upload's directory fd and the data file's name in it, for moving the complete file into an upload. */
int ug_rstore_dir_fd(const ug_rstore_t *s);
/* The app accepted the upload: record completion. The data file was moved away, or is removed now. */
ug_rstore_result_t ug_rstore_mark_completed(ug_rstore_t *s);

/* Remove the upload's files and directory, then free the store. */
void ug_rstore_remove(ug_rstore_t *s);
/* Unlock and free; the hash state is kept for the next request of this process. */
void ug_rstore_close(ug_rstore_t *s);

/* Remove every upload under `root` whose expiry is before `now` and that nobody holds (completed ones too: their
 * info is only kept to answer a retried last PATCH). Returns how many were removed. */
size_t ug_rstore_sweep_expired(const char *root, int64_t now);

#endif
