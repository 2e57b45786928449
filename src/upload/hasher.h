/*
 * hasher.h - SHA-256 of a file's bytes computed off the writer's thread.
 *
 * SHA-256 is most of the CPU an upload costs, and on the event-loop thread it serialises with receiving and writing.
 * A hashed file stream lets the writer write bytes without hashing them and tell the stream how many it wrote; a
 * small pool of threads, shared by every stream of the process, reads those bytes back from the file (pread: they
 * are still in the page cache) and feeds them, in order, to the stream's digest while the writer goes on receiving.
 *
 * A stream covers the file from the offset it starts at: bytes [at, at + written) are in the file and are hashed in
 * order. The owner writes sequentially, never rewrites bytes handed over, and touches the digest only after
 * ug_hash_stream_wait() (everything handed over is hashed) or ug_hash_stream_forget() (the threads let go of it).
 *
 * Ownership: the stream is embedded in its owner's struct and borrows its fd and digest; before either is closed or
 * freed, the owner calls ug_hash_stream_forget(). Thread safety: one stream is driven by one thread at a time.
 */
#ifndef UG_UPLOAD_HASHER_H
#define UG_UPLOAD_HASHER_H

#include <openssl/evp.h>
#include <stdint.h>

#include "common/errors.h"

typedef struct ug_hash_stream {
    /* All below under the pool's lock while `active`. */
    int active;        /* handed to the pool by ug_hash_stream_start; 0 after forget */
    int fd;            /* borrowed: read back with pread */
    EVP_MD_CTX *md;    /* borrowed: fed bytes [.., hashed) */
    uint64_t written;  /* file offset up to which bytes are in the file */
    uint64_t hashed;   /* file offset up to which bytes were fed to md */
    int queued, busy;  /* waiting in the pool's queue / being hashed now */
    ug_err_t err;      /* the pool could not read or hash: the digest is unusable */
    struct ug_hash_stream *qnext;
} ug_hash_stream_t;

/* Whether the pool has threads (started on the first call); without them callers hash inline. */
int ug_hasher_available(void);

/* Start a stream over `fd` whose digest `md` already covers the bytes before offset `hashed`, of which those before
 * `written` are in the file. written < hashed when the owner buffers bytes it hashed itself: they are handed over by
 * ug_hash_stream_wrote once in the file like any others, and the threads hash from `hashed` on. Only once
 * ug_hasher_available() said yes: without threads nothing would ever hash it. */
void ug_hash_stream_start(ug_hash_stream_t *h, int fd, EVP_MD_CTX *md, uint64_t written, uint64_t hashed);

/* `n` more bytes are in the file: a thread takes them once a batch waits, or at once when `flush`
 * (flush with n = 0 hands over whatever is left, e.g. before a wait that something else can overlap). */
void ug_hash_stream_wrote(ug_hash_stream_t *h, uint64_t n, int flush);

/* Flush and wait until everything written is hashed: UG_OK (the digest is current), UG_ERR_STORAGE (the file was
 * shorter than what was written: the disk lost bytes) or UG_ERR_INTERNAL (the digest failed). */
ug_err_t ug_hash_stream_wait(ug_hash_stream_t *h);

/* Take the stream out of the pool's hands (dequeue it, wait for a thread hashing it now): afterwards the fd and the
 * digest are the owner's again, the digest covering an unknown prefix. No-op on a stream not started. */
void ug_hash_stream_forget(ug_hash_stream_t *h);

/* Feed bytes [from, to) of `fd` to `md`, reading them back through `buf` (`buf_size` bytes). UG_ERR_STORAGE on a
 * read error or a file shorter than `to` (errno tells which), UG_ERR_INTERNAL when the digest fails. */
ug_err_t ug_hash_file_range(int fd, EVP_MD_CTX *md, uint64_t from, uint64_t to, char *buf, size_t buf_size);

#endif
