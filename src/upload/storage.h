/*
 * storage.h - where uploaded bytes land: one directory per upload under the
 * storage root, one file per stored part, each written as "<n>.part" with
 * O_EXCL and renamed to "<n>" only when complete. SHA-256 (OpenSSL EVP) is
 * computed as the bytes pass for a file's first 8 MiB; past that, a hasher
 * thread reads the just-written bytes back from the page cache and hashes them
 * while the caller goes on writing, and ug_storage_file_finish() waits for it
 * (see storage.c). Thread safety: one upload is used by one thread at a time.
 *
 * Layout:   <root>/<upload-id>.incoming/<n>   while the body arrives
 *           <root>/<upload-id>/<n>            once handed off to the app
 *           n = 0, 1, 2 ... in body order
 * Hand-off: the directory is created as "<id>.incoming" and renamed to "<id>"
 *           (one rename, ug_storage_upload_hand_off) just before the manifest
 *           naming its files is sent. Until then nobody but this process knows
 *           of it, so an "<id>.incoming" directory found at start-up is a
 *           crash's leftover and is removed whole (janitor.h); an "<id>"
 *           directory may be the app's and is only ever removed by the
 *           retention sweep or the request that made it.
 * Failure:  ug_storage_upload_abort() removes every file of the upload and its
 *           directory, so a failed request leaves nothing behind.
 *
 * Ownership: the upload owns its files; ug_storage_upload_abort() and
 * ug_storage_upload_release() free the upload and every file handle of it.
 * A file handle stays valid until its upload is freed.
 */
#ifndef UG_UPLOAD_STORAGE_H
#define UG_UPLOAD_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include "common/errors.h"

#define UG_UPLOAD_ID_LEN 32 /* hex characters of a 128-bit random id */
#define UG_SHA256_HEX_LEN 64
/* Appended to the id while the upload is not yet the app's. */
#define UG_STORAGE_INCOMING_SUFFIX ".incoming"

typedef struct ug_storage_upload ug_storage_upload_t;
typedef struct ug_storage_file ug_storage_file_t;

/*
 * Start an upload: create <root>/<random id>.incoming/ (mode 0750). `id_out` receives the
 * NUL-terminated id (UG_UPLOAD_ID_LEN + 1 bytes). Returns UG_OK,
 * UG_ERR_INSUFFICIENT_STORAGE (ENOSPC/EDQUOT), UG_ERR_STORAGE or UG_ERR_NOMEM.
 */
ug_err_t ug_storage_upload_begin(const char *root, ug_storage_upload_t **out, char *id_out);

const char *ug_storage_upload_id(const ug_storage_upload_t *u);
/* Directory of the upload where it is now, "<root>/<id>.incoming" or "<root>/<id>" (NUL-terminated, owned by the upload). */
const char *ug_storage_upload_dir(const ug_storage_upload_t *u);

/*
 * Hand the upload to the app: rename "<id>.incoming" to "<id>" (never over an
 * existing "<id>"). Call when every file is finished and the manifest is about
 * to be sent; open handles keep working (they follow the directory, not its
 * name). A second call is a no-op. UG_OK, or UG_ERR_STORAGE /
 * UG_ERR_INSUFFICIENT_STORAGE with the upload left incoming (abort removes it).
 */
ug_err_t ug_storage_upload_hand_off(ug_storage_upload_t *u);

/* Open the next file "<n>.part" (O_EXCL, mode 0640); *index_out = n. */
ug_err_t ug_storage_file_begin(ug_storage_upload_t *u, ug_storage_file_t **out, unsigned *index_out);

/*
 * Take a complete file from elsewhere on the same filesystem as the next file "<n>" (already finished: renamed from
 * `from_name` in directory `from_dir_fd`, not copied). `size` is recorded for the caller; the hash is the caller's.
 * Abort removes it like any other file of the upload.
 */
ug_err_t ug_storage_file_adopt(ug_storage_upload_t *u, int from_dir_fd, const char *from_name, uint64_t size,
                             unsigned *index_out);

/*
 * Append bytes; hashes them. Small writes are coalesced in a buffer so that
 * byte-sized chunks do not cost a syscall each; large ones go straight to write(2).
 * ENOSPC/EDQUOT -> UG_ERR_INSUFFICIENT_STORAGE, other I/O errors -> UG_ERR_STORAGE.
 */
ug_err_t ug_storage_file_write(ug_storage_file_t *f, const char *buf, size_t len);

/* Flush, close and rename "<n>.part" to "<n>"; fills size and hex digest (65 bytes incl. NUL). */
ug_err_t ug_storage_file_finish(ug_storage_file_t *f, uint64_t *size_out, char *sha256_hex_out);

/* Bytes written to the file so far (for limit checks). */
uint64_t ug_storage_file_size(const ug_storage_file_t *f);

/* Remove every file of the upload (finished or not) and its directory; frees the upload. NULL is a no-op. */
void ug_storage_upload_abort(ug_storage_upload_t *u);

/* Keep the files (they now belong to the app; handed off first if not yet); frees the upload. NULL is a no-op. */
void ug_storage_upload_release(ug_storage_upload_t *u);

/*
 * Remove the files and directories of every upload not yet aborted or
 * released, in every thread: for a shutdown whose grace period ran out, after
 * the threads that own those uploads have stopped. The uploads stay allocated
 * (their owners may still free them; nothing is removed twice). Returns how
 * many uploads were discarded.
 */
size_t ug_storage_abort_in_flight(void);

/* A fresh id: UG_UPLOAD_ID_LEN lowercase hex characters of 128 random bits, NUL-terminated. 0, or -1 when the
 * random generator failed. */
int ug_storage_random_id(char *out);

/* Free bytes available to an unprivileged writer on the filesystem of `path` (statvfs f_bavail). */
ug_err_t ug_storage_free_bytes(const char *path, uint64_t *out);

#endif
