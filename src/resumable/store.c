/*
 * resumable/store.c - resumable uploads on disk (see store.h).
 *
 * Everything is reached through directory fds (openat/renameat/unlinkat) of "<root>/.resumable" and the upload's own
 * directory, so an id is resolved once per request. The lock is flock(2) on the upload's directory fd: it is the one
 * file that stays put (data moves away on completion, info is replaced by rename), and flock locks belong to the open
 * file description, so two requests of one process exclude each other as two processes do.
 */
#include "resumable/store.h"

#include "upload/hasher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define INFO_NAME "info"
#define INFO_TMP "info.tmp"
/* An info file is a few hundred bytes plus the metadata, which a request head bounds. */
#define INFO_MAX (256 * 1024)
#define REHASH_SLICE (1024 * 1024)
/* Hash states kept between requests of this process; the oldest is dropped past this (it is rebuilt if needed). */
#define HASH_TABLE_SIZE 256
/* A kept state behind the stored offset (another process wrote since) is caught up on the caller's thread up to this
 * many bytes (about what one PATCH brings); a larger gap, or no state at all, is rehashed on a thread of its own. */
#define CATCH_UP_INLINE_MAX (8 * 1024 * 1024)

/* The SHA-256 of a stored prefix, rebuilt on its own thread so that a large prefix never stalls an event loop. */
struct rehash_job {
    char id[UG_UPLOAD_ID_LEN + 1];
    int fd; /* a dup of the data file's: the job may outlive the request that started it */
    uint64_t to;
    EVP_MD_CTX *md;
    ug_rstore_result_t result;
    pthread_t tid;
    pthread_mutex_t lock;
    int done;     /* the thread finished (under lock) */
    int orphaned; /* its request ended first: the thread keeps the state for the next one and frees the job */
};

struct ug_rstore {
    int res_fd;  /* <root>/.resumable */
    int dir_fd;  /* the upload's directory, flock'ed */
    int data_fd; /* -1 once completed */
    char id[UG_UPLOAD_ID_LEN + 1];
    ug_rstore_info_t info;
    uint64_t pending;
    EVP_MD_CTX *md;        /* SHA-256 of committed + pending bytes (not kept while `job` runs) */
    EVP_MD_CTX *committed; /* SHA-256 of the committed bytes (likewise) */
    struct rehash_job *job; /* the prefix up to job->to is being rehashed; bytes after it are hashed when it ends */
    /* The bytes this request appends, hashed into `md` by the hasher's threads while the next ones arrive; started
     * by the first append after any rehash has ended (a rehash replaces `md`), so never while `job` runs. Whatever
     * reads or replaces `md` settles or forgets it first. */
    ug_hash_stream_t hs;
    int fsync;              /* commits flush (ug_rstore_set_fsync); creation always does */
};

static ug_rstore_result_t of_errno(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
        return UG_RSTORE_NOT_FOUND;
    case ENOSPC:
    case EDQUOT:
        return UG_RSTORE_NO_SPACE;
    case ENOMEM:
        return UG_RSTORE_NOMEM;
    default:
        return UG_RSTORE_IO;
    }
}

int ug_rstore_id_valid(const char *id, size_t len)
{
    if (len != UG_UPLOAD_ID_LEN)
        return 0;
    for (size_t i = 0; i < len; ++i)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

/* ---- the hash states of this process ---- */

static struct {
    pthread_mutex_t lock;
    struct hash_entry {
        char id[UG_UPLOAD_ID_LEN + 1];
        uint64_t offset;
        EVP_MD_CTX *md;
    } e[HASH_TABLE_SIZE];
    size_t next_victim;
} hashes = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Take the state of `id` out of the table when it is at `offset` or before it (*at: where; the committed bytes in
 * between never change, so it can be caught up), else it is stale and dropped; NULL if none. */
static EVP_MD_CTX *hash_take(const char *id, uint64_t offset, uint64_t *at)
{
    EVP_MD_CTX *md = NULL;
    pthread_mutex_lock(&hashes.lock);
    for (size_t i = 0; i < HASH_TABLE_SIZE; ++i) {
        struct hash_entry *h = &hashes.e[i];
        if (h->md == NULL || strcmp(h->id, id) != 0)
            continue;
        if (h->offset <= offset) {
            md = h->md;
            *at = h->offset;
        }
        else
            EVP_MD_CTX_free(h->md);
        h->md = NULL;
    }
    pthread_mutex_unlock(&hashes.lock);
    return md;
}

/* Keep `md` (taken over) as the state of `id` at `offset`. */
static void hash_put(const char *id, uint64_t offset, EVP_MD_CTX *md)
{
    pthread_mutex_lock(&hashes.lock);
    struct hash_entry *slot = NULL;
    for (size_t i = 0; i < HASH_TABLE_SIZE && slot == NULL; ++i)
        if (hashes.e[i].md == NULL)
            slot = &hashes.e[i];
    if (slot == NULL) {
        slot = &hashes.e[hashes.next_victim];
        hashes.next_victim = (hashes.next_victim + 1) % HASH_TABLE_SIZE;
        EVP_MD_CTX_free(slot->md);
    }
    memcpy(slot->id, id, UG_UPLOAD_ID_LEN + 1);
    slot->offset = offset;
    slot->md = md;
    pthread_mutex_unlock(&hashes.lock);
}

/* ---- the info file ---- */

static void hex_encode(const char *s, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    for (; s[i] != '\0'; ++i) {
        out[2 * i] = hex[(unsigned char)s[i] >> 4];
        out[2 * i + 1] = hex[(unsigned char)s[i] & 0xf];
    }
    out[2 * i] = '\0';
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* NULL when `s` is not hex of bytes without NUL. */
static char *hex_decode(const char *s, size_t len)
{
    if (len % 2 != 0)
        return NULL;
    char *out = malloc(len / 2 + 1);
    for (size_t i = 0; out != NULL && i < len / 2; ++i) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi | lo) == 0) {
            free(out);
            return NULL;
        }
        out[i] = (char)(hi << 4 | lo);
    }
    if (out != NULL)
        out[len / 2] = '\0';
    return out;
}

/* The info's fields that may hold any byte: written hex-encoded. */
static char **hex_slot(ug_rstore_info_t *info, const char *key)
{
    return strcmp(key, "route") == 0          ? &info->route
           : strcmp(key, "subject") == 0      ? &info->subject
           : strcmp(key, "method") == 0       ? &info->method
           : strcmp(key, "target") == 0       ? &info->target
           : strcmp(key, "content_type") == 0 ? &info->content_type
                                              : NULL;
}

static const char *or_empty(const char *s)
{
    return s != NULL ? s : "";
}

/* The info as text: one "key value" line each; route, subject, method, target and content_type hex-encoded (they
 * may hold any byte). */
static char *info_render(const ug_rstore_info_t *info, size_t *len)
{
    const char *hexed[] = {info->route, info->subject, or_empty(info->method), or_empty(info->target),
                           or_empty(info->content_type)};
    char *hex[5] = {NULL};
    size_t cap = 320 + strlen(info->metadata) + strlen(or_empty(info->concat));
    int ok = 1;
    for (size_t i = 0; i < 5; ++i) {
        cap += 2 * strlen(hexed[i]);
        if ((hex[i] = malloc(2 * strlen(hexed[i]) + 1)) == NULL)
            ok = 0;
        else
            hex_encode(hexed[i], hex[i]);
    }
    char *buf = ok ? malloc(cap) : NULL;
    int n = buf == NULL ? 0
                        : snprintf(buf, cap,
                                   "length %" PRIu64 "\ndeferred %d\noffset %" PRIu64 "\ncreated %" PRId64
                                   "\nexpires %" PRId64 "\ncompleted %d\nroute %s\nsubject %s\nmetadata %s\nconcat %s\n"
                                   "method %s\ntarget %s\ncontent_type %s\n",
                                   info->length, info->deferred, info->offset, info->created, info->expires,
                                   info->completed, hex[0], hex[1], info->metadata, or_empty(info->concat), hex[2],
                                   hex[3], hex[4]);
    for (size_t i = 0; i < 5; ++i)
        free(hex[i]);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

/* One "key value" line into the info. 0, or -1 when the value is malformed. */
static int info_line(ug_rstore_info_t *info, const char *key, const char *v, size_t vlen)
{
    char *end;
    char **slot = hex_slot(info, key);
    if (slot != NULL) {
        char *d = vlen == 0 ? strdup("") : hex_decode(v, vlen);
        if (d == NULL)
            return -1;
        free(*slot);
        *slot = d;
        return 0;
    }
    if (strcmp(key, "metadata") == 0 || strcmp(key, "concat") == 0) {
        slot = key[0] == 'm' ? &info->metadata : &info->concat;
        free(*slot);
        return (*slot = strndup(v, vlen)) != NULL ? 0 : -1;
    }
    if (vlen == 0)
        return -1;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || end != v + vlen)
        return -1;
    if (strcmp(key, "length") == 0)
        info->length = (uint64_t)x;
    else if (strcmp(key, "deferred") == 0)
        info->deferred = x != 0;
    else if (strcmp(key, "offset") == 0)
        info->offset = (uint64_t)x;
    else if (strcmp(key, "created") == 0)
        info->created = x;
    else if (strcmp(key, "expires") == 0)
        info->expires = x;
    else if (strcmp(key, "completed") == 0)
        info->completed = x != 0;
    return 0;
}

static ug_rstore_result_t info_parse(char *text, size_t len, ug_rstore_info_t *info)
{
    *info = (ug_rstore_info_t){.route = NULL};
    for (char *p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p)), *sp;
        if (nl == NULL || (sp = memchr(p, ' ', (size_t)(nl - p))) == NULL)
            break;
        *sp = '\0';
        if (info_line(info, p, sp + 1, (size_t)(nl - sp - 1)) != 0)
            break;
        p = nl + 1;
    }
    if (info->concat == NULL) /* written before concatenation existed: a plain upload */
        info->concat = strdup("");
    /* written before ordinary routes' uploads existed: a resumable route's */
    char **request[] = {&info->method, &info->target, &info->content_type};
    for (size_t i = 0; i < 3; ++i)
        if (*request[i] == NULL)
            *request[i] = strdup("");
    if (info->route == NULL || info->subject == NULL || info->metadata == NULL || info->concat == NULL ||
        info->method == NULL || info->target == NULL || info->content_type == NULL) {
        ug_rstore_info_clear(info);
        return UG_RSTORE_IO;
    }
    return UG_RSTORE_OK;
}

static ug_rstore_result_t info_read(int dir_fd, ug_rstore_info_t *info)
{
    int fd = openat(dir_fd, INFO_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return of_errno(errno);
    char *buf = malloc(INFO_MAX);
    ssize_t n = buf != NULL ? read(fd, buf, INFO_MAX) : -1;
    int err = errno;
    close(fd);
    ug_rstore_result_t r = buf == NULL ? UG_RSTORE_NOMEM : n < 0 ? of_errno(err) : info_parse(buf, (size_t)n, info);
    free(buf);
    return r;
}

/* Replace the info file: write a new one, make it durable, rename it over the old one, make the rename durable (the
 * flushes only when `flush`; the rename alone already makes the replacement atomic for readers). */
static ug_rstore_result_t info_write(int dir_fd, const ug_rstore_info_t *info, int flush)
{
    size_t len;
    char *text = info_render(info, &len);
    if (text == NULL)
        return UG_RSTORE_NOMEM;
    ug_rstore_result_t r = UG_RSTORE_OK;
    int fd = openat(dir_fd, INFO_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || (flush && fdatasync(fd) != 0) ||
        renameat(dir_fd, INFO_TMP, dir_fd, INFO_NAME) != 0 || (flush && fsync(dir_fd) != 0))
        r = of_errno(errno);
    if (fd >= 0)
        close(fd);
    free(text);
    return r;
}

void ug_rstore_info_clear(ug_rstore_info_t *info)
{
    free(info->route);
    free(info->subject);
    free(info->metadata);
    free(info->concat);
    free(info->method);
    free(info->target);
    free(info->content_type);
    *info = (ug_rstore_info_t){.route = NULL};
}

/* ---- create, peek ---- */

static int open_res_dir(const char *root, int create)
{
    int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0)
        return -1;
    if (create && mkdirat(root_fd, UG_RSTORE_DIR, 0750) != 0 && errno != EEXIST) {
        close(root_fd);
        return -1;
    }
    int fd = openat(root_fd, UG_RSTORE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err = errno;
    close(root_fd);
    errno = err;
    return fd;
}

static void remove_upload_dir(int res_fd, int dir_fd, const char *id)
{
    unlinkat(dir_fd, UG_RSTORE_DATA, 0);
    unlinkat(dir_fd, INFO_TMP, 0);
    unlinkat(dir_fd, INFO_NAME, 0);
    unlinkat(res_fd, id, AT_REMOVEDIR);
}

ug_rstore_result_t ug_rstore_create(const char *root, const ug_rstore_info_t *info, char *id_out)
{
    int res_fd = open_res_dir(root, 1), dir_fd = -1, data_fd = -1;
    ug_rstore_result_t r;
    if (res_fd < 0)
        return of_errno(errno);
    if (ug_storage_random_id(id_out) != 0) {
        close(res_fd);
        return UG_RSTORE_IO;
    }
    /* 128 random bits: a collision (EEXIST) is not worth a retry; it fails the creation. */
    if (mkdirat(res_fd, id_out, 0750) != 0) {
        r = of_errno(errno);
        close(res_fd);
        return r;
    }
    ug_rstore_info_t fresh = *info;
    fresh.offset = 0;
    fresh.completed = 0;
    if ((dir_fd = openat(res_fd, id_out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
        (data_fd = openat(dir_fd, UG_RSTORE_DATA, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640)) < 0)
        r = of_errno(errno);
    else
        r = info_write(dir_fd, &fresh, 1);
    if (data_fd >= 0)
        close(data_fd);
    if (r != UG_RSTORE_OK) {
        if (dir_fd >= 0)
            remove_upload_dir(res_fd, dir_fd, id_out);
        else
            unlinkat(res_fd, id_out, AT_REMOVEDIR);
    }
    if (dir_fd >= 0)
        close(dir_fd);
    close(res_fd);
    return r;
}

ug_rstore_result_t ug_rstore_peek(const char *root, const char *id, ug_rstore_info_t *info)
{
    *info = (ug_rstore_info_t){.route = NULL};
    if (!ug_rstore_id_valid(id, strlen(id)))
        return UG_RSTORE_NOT_FOUND;
    int res_fd = open_res_dir(root, 0);
    if (res_fd < 0)
        return of_errno(errno);
    int dir_fd = openat(res_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    ug_rstore_result_t r = dir_fd < 0 ? of_errno(errno) : info_read(dir_fd, info);
    if (dir_fd >= 0)
        close(dir_fd);
    close(res_fd);
    return r;
}

/* ---- open: lock, cut, hash ---- */

static ug_rstore_result_t of_hash_err(ug_err_t e, int err)
{
    /* a data file shorter than what was written to it or recorded as its offset: the store is damaged */
    return e == UG_OK ? UG_RSTORE_OK : e == UG_ERR_STORAGE ? (err != 0 ? of_errno(err) : UG_RSTORE_IO) : UG_RSTORE_NOMEM;
}

/* Feed bytes [from, to) of the data file to `md`. */
static ug_rstore_result_t hash_range(int fd, EVP_MD_CTX *md, uint64_t from, uint64_t to)
{
    if (from >= to)
        return UG_RSTORE_OK;
    char *buf = malloc(REHASH_SLICE);
    if (buf == NULL)
        return UG_RSTORE_NOMEM;
    errno = 0;
    ug_err_t e = ug_hash_file_range(fd, md, from, to, buf, REHASH_SLICE);
    int err = errno;
    free(buf);
    return of_hash_err(e, err);
}

static void job_free(struct rehash_job *job)
{
    close(job->fd);
    EVP_MD_CTX_free(job->md);
    pthread_mutex_destroy(&job->lock);
    free(job);
}

static void *rehash_main(void *arg)
{
    struct rehash_job *job = arg;
    job->result = hash_range(job->fd, job->md, 0, job->to);
    pthread_mutex_lock(&job->lock);
    job->done = 1;
    int orphaned = job->orphaned;
    pthread_mutex_unlock(&job->lock);
    if (orphaned) { /* the next request of this process picks the state up and catches up from here */
        if (job->result == UG_RSTORE_OK) {
            hash_put(job->id, job->to, job->md);
            job->md = NULL;
        }
        job_free(job);
    }
    return NULL;
}

static ug_rstore_result_t start_rehash(ug_rstore_t *s)
{
    struct rehash_job *job = calloc(1, sizeof(*job));
    if (job == NULL)
        return UG_RSTORE_NOMEM;
    memcpy(job->id, s->id, UG_UPLOAD_ID_LEN + 1);
    job->to = s->info.offset;
    pthread_mutex_init(&job->lock, NULL);
    if ((job->fd = fcntl(s->data_fd, F_DUPFD_CLOEXEC, 0)) < 0 || (job->md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestInit_ex(job->md, EVP_sha256(), NULL) != 1 || pthread_create(&job->tid, NULL, rehash_main, job) != 0) {
        if (job->fd < 0)
            job->fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* so that job_free closes something of its own */
        job_free(job);
        return UG_RSTORE_NOMEM;
    }
    s->job = job;
    return UG_RSTORE_OK;
}

/* Wait for the rehash (if any), then catch its state up with the bytes written since: `md` and `committed` are
 * current again and kept inline from here. */
static ug_rstore_result_t finish_rehash(ug_rstore_t *s)
{
    struct rehash_job *job = s->job;
    if (job == NULL)
        return UG_RSTORE_OK;
    pthread_join(job->tid, NULL);
    s->job = NULL;
    ug_rstore_result_t r = job->result;
    EVP_MD_CTX_free(s->md);
    s->md = job->md;
    job->md = NULL;
    uint64_t from = job->to;
    job_free(job);
    if (r == UG_RSTORE_OK)
        r = hash_range(s->data_fd, s->md, from, s->info.offset);
    if (r == UG_RSTORE_OK && EVP_MD_CTX_copy_ex(s->committed, s->md) != 1)
        r = UG_RSTORE_NOMEM;
    if (r == UG_RSTORE_OK)
        r = hash_range(s->data_fd, s->md, s->info.offset, s->info.offset + s->pending);
    return r;
}

/* The request ends while the rehash runs: a finished one is taken (its state is kept for the next request), a running
 * one goes on alone and leaves its state in the table. Never waits. */
static void release_rehash(ug_rstore_t *s)
{
    struct rehash_job *job = s->job;
    if (job == NULL)
        return;
    pthread_mutex_lock(&job->lock);
    int done = job->done;
    if (!done)
        job->orphaned = 1;
    pthread_mutex_unlock(&job->lock);
    if (done) {
        if (finish_rehash(s) != UG_RSTORE_OK) { /* nothing trustworthy to keep */
            EVP_MD_CTX_free(s->committed);
            s->committed = NULL;
        }
        return;
    }
    pthread_detach(job->tid);
    s->job = NULL;
    EVP_MD_CTX_free(s->committed); /* the job's state is the one to keep */
    s->committed = NULL;
}

/* The data file and the hash state of an open upload that is not completed. */
static ug_rstore_result_t open_data(ug_rstore_t *s)
{
    uint64_t at = 0;
    if ((s->data_fd = openat(s->dir_fd, UG_RSTORE_DATA, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return of_errno(errno);
    /* Bytes past the committed offset were never acknowledged (a crash before their commit): they go. */
    if (ftruncate(s->data_fd, (off_t)s->info.offset) != 0)
        return of_errno(errno);
    if ((s->committed = EVP_MD_CTX_new()) == NULL)
        return UG_RSTORE_NOMEM;
    s->md = hash_take(s->id, s->info.offset, &at);
    if (s->md != NULL && s->info.offset - at > CATCH_UP_INLINE_MAX) {
        EVP_MD_CTX_free(s->md);
        s->md = NULL;
    }
    if (s->md == NULL && s->info.offset != 0)
        return start_rehash(s);
    if (s->md == NULL && ((s->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1))
        return UG_RSTORE_NOMEM;
    ug_rstore_result_t r = hash_range(s->data_fd, s->md, at, s->info.offset);
    if (r != UG_RSTORE_OK)
        return r;
    return EVP_MD_CTX_copy_ex(s->committed, s->md) == 1 ? UG_RSTORE_OK : UG_RSTORE_NOMEM;
}

static void store_free(ug_rstore_t *s)
{
    release_rehash(s);
    ug_hash_stream_forget(&s->hs); /* before the data fd and `md` go */
    if (s->data_fd >= 0)
        close(s->data_fd);
    if (s->dir_fd >= 0)
        close(s->dir_fd); /* releases the flock */
    if (s->res_fd >= 0)
        close(s->res_fd);
    EVP_MD_CTX_free(s->md);
    EVP_MD_CTX_free(s->committed);
    ug_rstore_info_clear(&s->info);
    free(s);
}

/* Open and lock an upload and read its info; the data file is not touched. */
static ug_rstore_result_t lock_open(const char *root, const char *id, ug_rstore_t **out)
{
    ug_rstore_result_t r;
    *out = NULL;
    if (!ug_rstore_id_valid(id, strlen(id)))
        return UG_RSTORE_NOT_FOUND;
    ug_rstore_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return UG_RSTORE_NOMEM;
    s->dir_fd = s->data_fd = -1;
    s->fsync = 1;
    memcpy(s->id, id, UG_UPLOAD_ID_LEN + 1);
    if ((s->res_fd = open_res_dir(root, 0)) < 0 ||
        (s->dir_fd = openat(s->res_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        r = of_errno(errno);
        goto fail;
    }
    if (flock(s->dir_fd, LOCK_EX | LOCK_NB) != 0) {
        r = errno == EWOULDBLOCK ? UG_RSTORE_LOCKED : of_errno(errno);
        goto fail;
    }
    /* removed while we waited for the lock: the info is gone with it */
    if ((r = info_read(s->dir_fd, &s->info)) != UG_RSTORE_OK)
        goto fail;
    *out = s;
    return UG_RSTORE_OK;
fail:
    store_free(s);
    return r;
}

ug_rstore_result_t ug_rstore_open(const char *root, const char *id, ug_rstore_t **out)
{
    ug_rstore_result_t r = lock_open(root, id, out);
    if (r == UG_RSTORE_OK && !(*out)->info.completed && (r = open_data(*out)) != UG_RSTORE_OK) {
        store_free(*out);
        *out = NULL;
    }
    return r;
}

ug_rstore_result_t ug_rstore_hold(const char *root, const char *id, ug_rstore_t **out)
{
    return lock_open(root, id, out);
}

const char *ug_rstore_id(const ug_rstore_t *s)
{
    return s->id;
}

const ug_rstore_info_t *ug_rstore_info(const ug_rstore_t *s)
{
    return &s->info;
}

uint64_t ug_rstore_pending(const ug_rstore_t *s)
{
    return s->pending;
}

/* Hash `len` bytes just appended after the pending ones (`buf`: them, or NULL: read them back): by the hasher's
 * threads when there are any, else inline; not at all while a rehash runs (its end hashes them). */
static ug_rstore_result_t hash_appended(ug_rstore_t *s, const char *buf, uint64_t len)
{
    uint64_t at = s->info.offset + s->pending;
    if (s->job != NULL)
        return UG_RSTORE_OK;
    if (s->hs.active || ug_hasher_available()) {
        if (!s->hs.active)
            ug_hash_stream_start(&s->hs, s->data_fd, s->md, at, at);
        ug_hash_stream_wrote(&s->hs, len, 0);
        return UG_RSTORE_OK;
    }
    if (buf == NULL)
        return hash_range(s->data_fd, s->md, at, at + len);
    return EVP_DigestUpdate(s->md, buf, (size_t)len) == 1 ? UG_RSTORE_OK : UG_RSTORE_NOMEM;
}

/* Wait until `md` covers every byte appended (the threads' part of it). */
static ug_rstore_result_t hash_settle(ug_rstore_t *s)
{
    if (!s->hs.active)
        return UG_RSTORE_OK;
    errno = 0;
    ug_err_t e = ug_hash_stream_wait(&s->hs);
    return of_hash_err(e, errno);
}

ug_rstore_result_t ug_rstore_write(ug_rstore_t *s, const char *buf, size_t len)
{
    if (s->data_fd < 0)
        return UG_RSTORE_IO;
    for (size_t done = 0; done < len;) {
        ssize_t n = pwrite(s->data_fd, buf + done, len - done, (off_t)(s->info.offset + s->pending + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return of_errno(errno);
        done += (size_t)n;
    }
    ug_rstore_result_t r = hash_appended(s, buf, len);
    if (r == UG_RSTORE_OK)
        s->pending += len;
    return r;
}

/* copy_file_range, or read and write where the kernel cannot copy between these files (another file system). */
static ug_rstore_result_t copy_range(int src_fd, uint64_t src_off, int dst_fd, uint64_t dst_off, uint64_t len)
{
    loff_t in = (loff_t)src_off, out = (loff_t)dst_off;
    while (len != 0) {
        ssize_t n = copy_file_range(src_fd, &in, dst_fd, &out, (size_t)len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP))
            break;
        if (n <= 0)
            return n == 0 ? UG_RSTORE_IO : of_errno(errno);
        len -= (uint64_t)n;
    }
    char buf[64 * 1024];
    while (len != 0) {
        ssize_t n = pread(src_fd, buf, len < sizeof(buf) ? (size_t)len : sizeof(buf), in);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? UG_RSTORE_IO : of_errno(errno);
        for (ssize_t done = 0; done < n;) {
            ssize_t w = pwrite(dst_fd, buf + done, (size_t)(n - done), out + done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return of_errno(errno);
            done += w;
        }
        in += n;
        out += n;
        len -= (uint64_t)n;
    }
    return UG_RSTORE_OK;
}

ug_rstore_result_t ug_rstore_append_fd(ug_rstore_t *s, int src_fd, uint64_t src_off, uint64_t len)
{
    uint64_t at = s->info.offset + s->pending;
    if (s->data_fd < 0)
        return UG_RSTORE_IO;
    ug_rstore_result_t r = copy_range(src_fd, src_off, s->data_fd, at, len);
    if (r == UG_RSTORE_OK)
        r = hash_appended(s, NULL, len);
    if (r == UG_RSTORE_OK)
        s->pending += len;
    return r;
}

ug_rstore_result_t ug_rstore_commit(ug_rstore_t *s, int64_t expires)
{
    if (s->pending != 0) {
        if (s->hs.active) /* the threads hash the rest while the data is flushed */
            ug_hash_stream_wrote(&s->hs, 0, 1);
        /* The data first: an offset on disk never names bytes that a power loss could take back. */
        if (s->fsync && fdatasync(s->data_fd) != 0)
            return of_errno(errno);
        ug_rstore_result_t r = hash_settle(s);
        if (r != UG_RSTORE_OK)
            return r;
        if (s->job == NULL && EVP_MD_CTX_copy_ex(s->committed, s->md) != 1)
            return UG_RSTORE_NOMEM;
        s->info.offset += s->pending;
        s->pending = 0;
    }
    s->info.expires = expires;
    return info_write(s->dir_fd, &s->info, s->fsync);
}

ug_rstore_result_t ug_rstore_discard(ug_rstore_t *s)
{
    s->pending = 0;
    ug_hash_stream_forget(&s->hs); /* `md` is replaced; the next append starts a stream at the committed offset */
    if (s->job == NULL && EVP_MD_CTX_copy_ex(s->md, s->committed) != 1)
        return UG_RSTORE_NOMEM;
    return ftruncate(s->data_fd, (off_t)s->info.offset) == 0 ? UG_RSTORE_OK : of_errno(errno);
}

ug_rstore_result_t ug_rstore_set_length(ug_rstore_t *s, uint64_t length)
{
    s->info.length = length;
    s->info.deferred = 0;
    return info_write(s->dir_fd, &s->info, s->fsync);
}

ug_rstore_result_t ug_rstore_sha256_hex(ug_rstore_t *s, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    out[0] = '\0';
    ug_rstore_result_t r = finish_rehash(s);
    if (r == UG_RSTORE_OK)
        r = hash_settle(s); /* `committed` is complete since the commit's settle; the pending bytes too, then */
    if (r != UG_RSTORE_OK)
        return r;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c == NULL || EVP_MD_CTX_copy_ex(c, s->committed) != 1 || EVP_DigestFinal_ex(c, d, &n) != 1)
        n = 0;
    for (unsigned i = 0; i < n; ++i) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 0xf];
    }
    out[2 * n] = '\0';
    EVP_MD_CTX_free(c);
    return n != 0 ? UG_RSTORE_OK : UG_RSTORE_NOMEM;
}

int ug_rstore_dir_fd(const ug_rstore_t *s)
{
    return s->dir_fd;
}

ug_rstore_result_t ug_rstore_mark_completed(ug_rstore_t *s)
{
    s->info.completed = 1;
    ug_hash_stream_forget(&s->hs); /* before its fd goes */
    if (s->data_fd >= 0)
        close(s->data_fd);
    s->data_fd = -1;
    /* an ordinary route's upload was parsed from it into the app's files: the raw copy has served its purpose */
    if (unlinkat(s->dir_fd, UG_RSTORE_DATA, 0) != 0 && errno != ENOENT)
        return of_errno(errno);
    return info_write(s->dir_fd, &s->info, s->fsync);
}

void ug_rstore_remove(ug_rstore_t *s)
{
    if (s == NULL)
        return;
    remove_upload_dir(s->res_fd, s->dir_fd, s->id);
    uint64_t at;
    EVP_MD_CTX_free(hash_take(s->id, UINT64_MAX, &at)); /* drops a kept state, if any */
    store_free(s);
}

void ug_rstore_close(ug_rstore_t *s)
{
    if (s == NULL)
        return;
    release_rehash(s);
    if (!s->info.completed && s->committed != NULL) {
        hash_put(s->id, s->info.offset, s->committed);
        s->committed = NULL;
    }
    store_free(s);
}

/* ---- expiry ---- */

size_t ug_rstore_sweep_expired(const char *root, int64_t now)
{
    int res_fd = open_res_dir(root, 0);
    if (res_fd < 0)
        return 0;
    int list_fd = dup(res_fd);
    DIR *d = list_fd >= 0 ? fdopendir(list_fd) : NULL;
    size_t removed = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        ug_rstore_t *s;
        if (!ug_rstore_id_valid(e->d_name, strlen(e->d_name)))
            continue;
        /* held (LOCKED) means in use right now: not expired, whatever the clock says */
        if (lock_open(root, e->d_name, &s) != UG_RSTORE_OK)
            continue;
        if (s->info.expires < now) {
            ug_rstore_remove(s);
            ++removed;
        } else {
            ug_rstore_close(s);
        }
    }
    if (d != NULL)
        closedir(d);
    else if (list_fd >= 0)
        close(list_fd);
    close(res_fd);
    return removed;
}

void ug_rstore_set_fsync(ug_rstore_t *s, int on)
{
    s->fsync = on;
}
