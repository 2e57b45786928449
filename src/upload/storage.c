/*
 * storage.c - one directory per upload, one file per stored part (see storage.h).
 *
 * Everything below the storage root goes through two directory fds kept open
 * for the upload's lifetime (the root and the upload's own directory): files
 * are created, renamed and removed with openat/renameat/unlinkat relative to
 * them, so no path is resolved twice and cleanup needs no new fd (abort works
 * even when the process is out of descriptors).
 *
 * The client's filename never reaches this module: files are named by index.
 */
#include "upload/storage.h"

#include "upload/hasher.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/*
 * Coalescing buffer for small writes: large enough that byte-sized chunks cost ~nothing, small enough per open file.
 * Every upload streamed by the HTTP/1.1 front holds one (its 64 KiB reads are "small"), so this is most of an upload's
 * memory: at 256 KiB, 64 concurrent uploads took 18 MiB more than one (tests/bench/paths.sh); at 64 KiB the writes
 * are still one syscall per read of the socket.
 */
#define STORAGE_BUF_SIZE (64 * 1024)
/*
 * Large writes are hashed and written in slices of this size: each slice is
 * hashed just before write(2) copies it, so the copy tends to find it in cache,
 * and no single syscall (or stretch without a write) grows with the caller's
 * chunk. SHA-256 dominates the cost (~1.4 GB/s with SHA-NI vs ~2.3 GB/s for the
 * page-cache copy, measured on tmpfs); slices from 256 KiB to unbounded measured
 * within noise of each other (~1.0-1.1 GB/s end to end), so this is not tuned.
 */
#define STORAGE_SLICE (1024 * 1024)
/* mkdir of a fresh 128-bit random id colliding is astronomically unlikely; a few retries cover a broken RNG cheaply. */
#define STORAGE_ID_ATTEMPTS 4
/* "<UINT_MAX>.part" */
#define STORAGE_NAME_MAX 24

enum file_state {
    FILE_OPEN,     /* "<n>.part", fd open, accepting bytes */
    FILE_FAILED,   /* "<n>.part" (possibly incomplete), fd closed */
    FILE_FINISHED, /* renamed to "<n>", fd closed */
};

struct ug_storage_file {
    ug_storage_upload_t *upload;
    ug_storage_file_t *next; /* the upload's list, in index order */
    unsigned index;
    enum file_state state;
    int fd;        /* -1 unless FILE_OPEN */
    ug_err_t err;    /* sticky: after a failed write the file's content is unknown */
    EVP_MD_CTX *md;
    char *buf;     /* coalescing buffer; allocated on the first small write only */
    size_t buf_len;
    uint64_t size; /* bytes accepted (written or buffered) */
    /* Once `async`, bytes from the file's first HASH_ASYNC_FROM on are hashed by the hasher's threads (hasher.h). */
    int async;
    ug_hash_stream_t hs;
};

struct ug_storage_upload {
    int root_fd; /* the storage root: parent of dir_fd, needed to rename and rmdir the upload */
    int dir_fd;  /* the upload's directory, whatever its name */
    char id[UG_UPLOAD_ID_LEN + 1];
    /* The directory's current entry in the root: "<id>.incoming", then "<id>" once handed off (the suffix is cut). */
    char name[UG_UPLOAD_ID_LEN + sizeof(UG_STORAGE_INCOMING_SUFFIX)];
    int handed_off;
    char *dir;   /* "<root>/<name>" for messages and for the caller; follows the hand-off the same way */
    unsigned next_index;
    ug_storage_file_t *files;
    ug_storage_file_t **files_tail;
    ug_storage_upload_t *in_flight_prev, *in_flight_next; /* in the in-flight list (see ug_storage_abort_in_flight) */
    int discarded;                                        /* its files were removed by ug_storage_abort_in_flight */
};

/*
 * Every upload between begin and abort/release, process-wide, so that a shutdown whose grace period ran out can
 * remove the files of uploads that will never finish (their connections are abandoned, not closed, at exit).
 */
static pthread_mutex_t in_flight_lock = PTHREAD_MUTEX_INITIALIZER;
static ug_storage_upload_t *in_flight;

static void in_flight_add(ug_storage_upload_t *u)
{
    pthread_mutex_lock(&in_flight_lock);
    u->in_flight_next = in_flight;
    if (in_flight != NULL)
        in_flight->in_flight_prev = u;
    in_flight = u;
    pthread_mutex_unlock(&in_flight_lock);
}

static void in_flight_remove(ug_storage_upload_t *u)
{
    pthread_mutex_lock(&in_flight_lock);
    if (!u->discarded) {
        if (u->in_flight_prev != NULL)
            u->in_flight_prev->in_flight_next = u->in_flight_next;
        else
            in_flight = u->in_flight_next;
        if (u->in_flight_next != NULL)
            u->in_flight_next->in_flight_prev = u->in_flight_prev;
    }
    u->in_flight_prev = u->in_flight_next = NULL;
    pthread_mutex_unlock(&in_flight_lock);
}

/*
 * SHA-256 is most of the CPU an upload costs (98 % of user-space instructions; ~1.4 GB/s per core with SHA-NI), and
 * on the event-loop thread it serialises with receiving and writing. Once a file passes HASH_ASYNC_FROM bytes, its
 * later bytes are written without hashing and handed to the hasher's threads (hasher.h), which read them back from
 * the page cache and hash them while the loop goes on receiving: on two cores a large upload's hashing overlaps its
 * I/O. Small files stay inline: handing 1 MiB to another thread and waiting for it would only add latency.
 * ug_storage_file_finish waits for the threads to catch up (they run at about the speed the loop writes, so the wait
 * is short), and closing a file first takes it out of their hands.
 */
#define HASH_ASYNC_FROM (8 * 1024 * 1024)

static ug_err_t errno_to_err(int err)
{
    switch (err) {
    case ENOSPC:
    case EDQUOT:
    /*
     * EFBIG: the file outgrew what the filesystem (or RLIMIT_FSIZE) allows.
     * Like a full disk, it means "this server cannot store that much" rather
     * than a broken disk, so it is reported as 507 too.
     */
    case EFBIG:
        return UG_ERR_INSUFFICIENT_STORAGE;
    case ENOMEM:
        return UG_ERR_NOMEM;
    default:
        return UG_ERR_STORAGE;
    }
}

static void file_name(const ug_storage_file_t *f, int finished, char *out)
{
    snprintf(out, STORAGE_NAME_MAX, finished ? "%u" : "%u.part", f->index);
}

int ug_storage_random_id(char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[UG_UPLOAD_ID_LEN / 2];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    for (size_t i = 0; i < sizeof(raw); ++i) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 0xf];
    }
    out[UG_UPLOAD_ID_LEN] = '\0';
    return 0;
}

/* "<root>/<name>" without doubling a trailing slash of root. */
static char *join_dir(const char *root, const char *name)
{
    size_t root_len = strlen(root), name_len = strlen(name);
    while (root_len > 1 && root[root_len - 1] == '/')
        --root_len;
    int sep = root_len == 0 || root[root_len - 1] != '/';
    size_t len = root_len + (size_t)sep + name_len;
    char *dir = malloc(len + 1);
    if (dir == NULL)
        return NULL;
    memcpy(dir, root, root_len);
    if (sep)
        dir[root_len] = '/';
    memcpy(dir + root_len + sep, name, name_len + 1);
    return dir;
}

ug_err_t ug_storage_upload_begin(const char *root, ug_storage_upload_t **out, char *id_out)
{
    ug_err_t e = UG_ERR_STORAGE;
    int created = 0;
    ug_storage_upload_t *u = calloc(1, sizeof(*u));

    *out = NULL;
    if (u == NULL)
        return UG_ERR_NOMEM;
    u->root_fd = u->dir_fd = -1;
    u->files_tail = &u->files;

    if ((u->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        e = errno_to_err(errno);
        goto fail;
    }
    for (int attempt = 0; !created; ++attempt) {
        if (attempt == STORAGE_ID_ATTEMPTS || ug_storage_random_id(u->id) != 0) {
            e = attempt == STORAGE_ID_ATTEMPTS ? UG_ERR_STORAGE : UG_ERR_INTERNAL;
            goto fail;
        }
        snprintf(u->name, sizeof(u->name), "%s%s", u->id, UG_STORAGE_INCOMING_SUFFIX);
        if (mkdirat(u->root_fd, u->name, 0750) == 0)
            created = 1;
        else if (errno != EEXIST) {
            e = errno_to_err(errno);
            goto fail;
        }
    }
    /* O_NOFOLLOW: the name was created by us a moment ago; refuse anything that replaced it. */
    if ((u->dir_fd = openat(u->root_fd, u->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        e = errno_to_err(errno);
        goto fail;
    }
    if ((u->dir = join_dir(root, u->name)) == NULL) {
        e = UG_ERR_NOMEM;
        goto fail;
    }
    memcpy(id_out, u->id, UG_UPLOAD_ID_LEN + 1);
    in_flight_add(u);
    *out = u;
    return UG_OK;

fail:
    if (u->dir_fd >= 0)
        close(u->dir_fd);
    if (created)
        unlinkat(u->root_fd, u->name, AT_REMOVEDIR);
    if (u->root_fd >= 0)
        close(u->root_fd);
    free(u);
    return e;
}

const char *ug_storage_upload_id(const ug_storage_upload_t *u)
{
    return u->id;
}

const char *ug_storage_upload_dir(const ug_storage_upload_t *u)
{
    return u->dir;
}

/*
 * RENAME_NOREPLACE: a directory "<id>" that somehow exists already (an empty one would be replaced silently by
 * rename(2)) makes the hand-off fail instead of mixing two uploads. A filesystem without the flag (EINVAL) gets a
 * plain rename: the id is 128 random bits, and begin() made sure "<id>.incoming" was new.
 */
ug_err_t ug_storage_upload_hand_off(ug_storage_upload_t *u)
{
    if (u->handed_off)
        return UG_OK;
    int rc = renameat2(u->root_fd, u->name, u->root_fd, u->id, RENAME_NOREPLACE);
    if (rc != 0 && (errno == EINVAL || errno == ENOSYS))
        rc = renameat(u->root_fd, u->name, u->root_fd, u->id);
    if (rc != 0)
        return errno_to_err(errno);
    u->handed_off = 1;
    u->name[UG_UPLOAD_ID_LEN] = '\0';
    u->dir[strlen(u->dir) - (sizeof(UG_STORAGE_INCOMING_SUFFIX) - 1)] = '\0';
    return UG_OK;
}

/* A file that now exists on disk joins the upload's list under the next index. */
static void take_index(ug_storage_upload_t *u, ug_storage_file_t *f, unsigned *index_out)
{
    ++u->next_index;
    *u->files_tail = f;
    u->files_tail = &f->next;
    if (index_out != NULL)
        *index_out = f->index;
}

/* A file handle for the upload's next index, not yet on its list; NULL when out of memory. */
static ug_storage_file_t *file_new(ug_storage_upload_t *u)
{
    ug_storage_file_t *f = calloc(1, sizeof(*f));
    if (f != NULL) {
        f->upload = u;
        f->index = u->next_index;
        f->fd = -1;
    }
    return f;
}

ug_err_t ug_storage_file_begin(ug_storage_upload_t *u, ug_storage_file_t **out, unsigned *index_out)
{
    ug_err_t e = UG_ERR_NOMEM;
    char name[STORAGE_NAME_MAX];
    ug_storage_file_t *f = file_new(u);

    *out = NULL;
    if (f == NULL)
        return UG_ERR_NOMEM;
    if (f->index == UINT_MAX) {
        e = UG_ERR_STORAGE;
        goto fail;
    }
    /* Everything that can fail without touching the disk comes first, so a created file is always on the list. */
    if ((f->md = EVP_MD_CTX_new()) == NULL)
        goto fail;
    if (EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1) {
        e = UG_ERR_INTERNAL;
        goto fail;
    }
    /* O_EXCL: never write into something already there (nor through a planted symlink). */
    file_name(f, 0, name);
    if ((f->fd = openat(u->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640)) < 0) { /* read: the hasher */
        e = errno_to_err(errno);
        goto fail;
    }
    /* The index is taken only now: after a failure the next file tries the same one, keeping indices dense. */
    take_index(u, f, index_out);
    *out = f;
    return UG_OK;

fail:
    EVP_MD_CTX_free(f->md);
    free(f);
    return e;
}

ug_err_t ug_storage_file_adopt(ug_storage_upload_t *u, int from_dir_fd, const char *from_name, uint64_t size,
                             unsigned *index_out)
{
    char name[STORAGE_NAME_MAX];
    ug_storage_file_t *f = file_new(u);
    if (f == NULL)
        return UG_ERR_NOMEM;
    f->size = size;
    file_name(f, 1, name);
    /* A plain rename: the upload's directory was created empty a moment ago, so "<n>" cannot exist yet. */
    if (renameat(from_dir_fd, from_name, u->dir_fd, name) != 0) {
        ug_err_t e = errno_to_err(errno);
        free(f);
        return e;
    }
    f->state = FILE_FINISHED;
    take_index(u, f, index_out);
    return UG_OK;
}

/*
 * Write `head` (the buffered bytes, may be empty) followed by `data` in full,
 * with one writev(2) in the usual case; retries short writes and EINTR.
 */
static ug_err_t write_all(int fd, const char *head, size_t head_len, const char *data, size_t data_len)
{
    struct iovec iov[2] = {
        {.iov_base = (void *)head, .iov_len = head_len},
        {.iov_base = (void *)data, .iov_len = data_len},
    };
    struct iovec *v = iov;
    int n = 2;

    for (;;) {
        while (n > 0 && v->iov_len == 0) {
            ++v;
            --n;
        }
        if (n == 0)
            return UG_OK;
        ssize_t w = writev(fd, v, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno_to_err(errno);
        }
        if (w == 0) /* cannot happen for a regular file with bytes to write; never spin on it */
            return UG_ERR_STORAGE;
        for (size_t done = (size_t)w; done > 0;) {
            size_t step = done < v->iov_len ? done : v->iov_len;
            v->iov_base = (char *)v->iov_base + step;
            v->iov_len -= step;
            done -= step;
            if (v->iov_len == 0 && done > 0) {
                ++v;
                --n;
            }
        }
    }
}

static ug_err_t file_fail(ug_storage_file_t *f, ug_err_t e)
{
    f->err = e;
    return e;
}

ug_err_t ug_storage_file_write(ug_storage_file_t *f, const char *buf, size_t len)
{
    if (f->err != UG_OK)
        return f->err;
    if (f->state != FILE_OPEN)
        return UG_ERR_INTERNAL; /* written after finish: a caller bug, and the file is already final */
    if (len == 0)
        return UG_OK;
    if (!f->async && f->size >= HASH_ASYNC_FROM) {
        if (ug_hasher_available()) { /* everything accepted so far is hashed; what is buffered is not written yet */
            f->async = 1;
            ug_hash_stream_start(&f->hs, f->fd, f->md, f->size - f->buf_len, f->size);
        }
    }

    if (len < STORAGE_BUF_SIZE - f->buf_len) {
        /* Small: coalesce. The buffer exists only for files that ever see a small write. */
        if (f->buf == NULL && (f->buf = malloc(STORAGE_BUF_SIZE)) == NULL)
            return UG_ERR_NOMEM; /* nothing was consumed: the file is still consistent */
        if (!f->async && EVP_DigestUpdate(f->md, buf, len) != 1)
            return file_fail(f, UG_ERR_INTERNAL);
        memcpy(f->buf + f->buf_len, buf, len);
        f->buf_len += len;
        f->size += len;
        return UG_OK;
    }

    /*
     * At least a buffer's worth: the buffered bytes and the caller's go out
     * together with writev, straight from the caller's memory - the only copy
     * is the kernel's into the page cache. The last slice absorbs a remainder
     * shorter than a slice, so no tiny trailing write is issued.
     */
    while (len > 0) {
        size_t n = len >= 2 * (size_t)STORAGE_SLICE ? (size_t)STORAGE_SLICE : len;
        if (!f->async && EVP_DigestUpdate(f->md, buf, n) != 1)
            return file_fail(f, UG_ERR_INTERNAL);
        ug_err_t e = write_all(f->fd, f->buf, f->buf_len, buf, n);
        if (e != UG_OK)
            return file_fail(f, e);
        if (f->async)
            ug_hash_stream_wrote(&f->hs, f->buf_len + n, 0);
        f->buf_len = 0;
        f->size += n;
        buf += n;
        len -= n;
    }
    return UG_OK;
}

/* Release what an open file holds (fd, buffer, digest state); the handle itself lives until the upload is freed. */
static void file_close(ug_storage_file_t *f)
{
    ug_hash_stream_forget(&f->hs);
    if (f->fd >= 0)
        close(f->fd); /* never retried: Linux releases the fd even when close() reports an error */
    f->fd = -1;
    free(f->buf);
    f->buf = NULL;
    f->buf_len = 0;
    EVP_MD_CTX_free(f->md);
    f->md = NULL;
}

/*
 * No fsync: the app opens the file on this same host right after receiving the
 * manifest, and reads it through the same page cache, so it always sees the
 * bytes. Durability across a power loss is not this request's promise - a
 * crash fails the request, and an app that keeps the file moves/persists it
 * itself. An fsync here would instead stall every multi-GB upload on writeback.
 */
ug_err_t ug_storage_file_finish(ug_storage_file_t *f, uint64_t *size_out, char *sha256_hex_out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    char part[STORAGE_NAME_MAX], final[STORAGE_NAME_MAX];
    ug_err_t e;

    if (f->state != FILE_OPEN)
        return f->err != UG_OK ? f->err : UG_ERR_INTERNAL; /* finished twice: a caller bug */
    if ((e = f->err) != UG_OK)
        goto fail;
    if ((e = write_all(f->fd, f->buf, f->buf_len, NULL, 0)) != UG_OK)
        goto fail;
    if (f->async) {
        ug_hash_stream_wrote(&f->hs, f->buf_len, 1);
        if ((e = ug_hash_stream_wait(&f->hs)) != UG_OK)
            goto fail;
    }
    f->buf_len = 0;
    if (EVP_DigestFinal_ex(f->md, digest, &digest_len) != 1 || digest_len != UG_SHA256_HEX_LEN / 2) {
        e = UG_ERR_INTERNAL;
        goto fail;
    }
    /* close() can report a deferred write error (e.g. on NFS): it is checked, once. */
    int rc = close(f->fd);
    f->fd = -1;
    if (rc != 0 && errno != EINTR) {
        e = errno_to_err(errno);
        goto fail;
    }
    file_name(f, 0, part);
    file_name(f, 1, final);
    if (renameat(f->upload->dir_fd, part, f->upload->dir_fd, final) != 0) {
        e = errno_to_err(errno);
        goto fail;
    }
    file_close(f);
    f->state = FILE_FINISHED;
    for (unsigned i = 0; i < digest_len; ++i) {
        sha256_hex_out[2 * i] = hex[digest[i] >> 4];
        sha256_hex_out[2 * i + 1] = hex[digest[i] & 0xf];
    }
    sha256_hex_out[UG_SHA256_HEX_LEN] = '\0';
    if (size_out != NULL)
        *size_out = f->size;
    return UG_OK;

fail:
    /* The "<n>.part" stays for ug_storage_upload_abort() to remove. */
    file_close(f);
    f->state = FILE_FAILED;
    f->err = e;
    return e;
}

uint64_t ug_storage_file_size(const ug_storage_file_t *f)
{
    return f->size;
}

/*
 * Free the upload. remove_finished: also unlink the finished files and the
 * directory (abort). Unfinished "<n>.part" files are removed in both cases: no
 * manifest names them, so once the upload is gone nobody could ever find them.
 */
static void upload_free(ug_storage_upload_t *u, int remove_finished)
{
    char name[STORAGE_NAME_MAX];
    ug_storage_file_t *f = u->files;

    in_flight_remove(u);
    if (u->discarded) /* its files are gone already, and the app was never told of them */
        remove_finished = 0;
    while (f != NULL) {
        ug_storage_file_t *next = f->next;
        int finished = f->state == FILE_FINISHED;
        file_close(f);
        if (!u->discarded && (!finished || remove_finished)) {
            file_name(f, finished, name);
            unlinkat(u->dir_fd, name, 0);
        }
        free(f);
        f = next;
    }
    /* Only an empty directory goes: anything not ours stays (and is not followed or deleted). */
    if (remove_finished)
        unlinkat(u->root_fd, u->name, AT_REMOVEDIR);
    close(u->dir_fd);
    close(u->root_fd);
    free(u->dir);
    free(u);
}

void ug_storage_upload_abort(ug_storage_upload_t *u)
{
    if (u != NULL)
        upload_free(u, 1);
}

void ug_storage_upload_release(ug_storage_upload_t *u)
{
    if (u == NULL)
        return;
    /* Kept files are where a manifest names them; if even that fails, the next start-up removes them (incoming). */
    if (!u->discarded)
        (void)ug_storage_upload_hand_off(u);
    upload_free(u, 0);
}

size_t ug_storage_abort_in_flight(void)
{
    char name[STORAGE_NAME_MAX];
    size_t n = 0;
    pthread_mutex_lock(&in_flight_lock);
    for (ug_storage_upload_t *u = in_flight; u != NULL; u = u->in_flight_next, ++n) {
        for (ug_storage_file_t *f = u->files; f != NULL; f = f->next) {
            file_name(f, f->state == FILE_FINISHED, name);
            unlinkat(u->dir_fd, name, 0);
        }
        unlinkat(u->root_fd, u->name, AT_REMOVEDIR);
        u->discarded = 1;
    }
    in_flight = NULL;
    pthread_mutex_unlock(&in_flight_lock);
    return n;
}

ug_err_t ug_storage_free_bytes(const char *path, uint64_t *out)
{
    struct statvfs st;
    if (statvfs(path, &st) != 0)
        return errno == ENOMEM ? UG_ERR_NOMEM : UG_ERR_STORAGE;
    uint64_t blocks = st.f_bavail, frsize = st.f_frsize;
    *out = frsize != 0 && blocks > UINT64_MAX / frsize ? UINT64_MAX : blocks * frsize;
    return UG_OK;
}
