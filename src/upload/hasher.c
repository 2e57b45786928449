/*
 * hasher.c - the hashing threads shared by every hashed file stream (see hasher.h).
 *
 * Streams with bytes to hash wait in one FIFO; a thread takes the head, hashes everything written so far without
 * the lock (the stream is its alone while `busy`), and requeues it if more arrived meanwhile, so one stream's bytes
 * are hashed in order by one thread at a time while different streams are hashed in parallel.
 */
#include "upload/hasher.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define HASH_READ_SIZE (1024 * 1024)
/* Unhashed bytes that wake a thread: each hand-off costs a futex wake-up and a pread, so they go in batches
 * (waking one per 256 KiB write made ~760 futex calls per 4 x 20 MiB upload). */
#define HASH_BATCH (1024 * 1024)
#define HASHER_MAX_THREADS 4

static struct {
    pthread_once_t once;
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    ug_hash_stream_t *head, **tail;
    int threads; /* started; 0: callers hash inline always */
} pool = {.once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER, .tail = &pool.head};

ug_err_t ug_hash_file_range(int fd, EVP_MD_CTX *md, uint64_t from, uint64_t to, char *buf, size_t buf_size)
{
    while (from < to) {
        size_t want = to - from < buf_size ? (size_t)(to - from) : buf_size;
        ssize_t r = pread(fd, buf, want, (off_t)from);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) /* the bytes were written before: a short file means the disk lost them */
            return UG_ERR_STORAGE;
        if (EVP_DigestUpdate(md, buf, (size_t)r) != 1)
            return UG_ERR_INTERNAL;
        from += (uint64_t)r;
    }
    return UG_OK;
}

static void enqueue_locked(ug_hash_stream_t *h)
{
    h->queued = 1;
    h->qnext = NULL;
    *pool.tail = h;
    pool.tail = &h->qnext;
    pthread_cond_signal(&pool.work);
}

static void *hasher_main(void *arg)
{
    char *buf = arg;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.head == NULL)
            pthread_cond_wait(&pool.work, &pool.lock);
        ug_hash_stream_t *h = pool.head;
        if ((pool.head = h->qnext) == NULL)
            pool.tail = &pool.head;
        h->queued = 0;
        h->busy = 1;
        uint64_t from = h->hashed, to = h->written;
        pthread_mutex_unlock(&pool.lock);
        ug_err_t e = ug_hash_file_range(h->fd, h->md, from, to, buf, HASH_READ_SIZE);
        pthread_mutex_lock(&pool.lock);
        h->busy = 0;
        if (e != UG_OK)
            h->err = e;
        else
            h->hashed = to;
        if (e == UG_OK && h->written > h->hashed)
            enqueue_locked(h);
        pthread_cond_broadcast(&pool.done);
    }
    return NULL;
}

static void pool_start(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int want = cpus < 1 ? 1 : cpus > HASHER_MAX_THREADS ? HASHER_MAX_THREADS : (int)cpus;
    for (int i = 0; i < want; ++i) {
        pthread_t tid;
        pthread_attr_t attr;
        char *buf = malloc(HASH_READ_SIZE);
        if (buf == NULL)
            break;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED); /* they live as long as the process */
        if (pthread_create(&tid, &attr, hasher_main, buf) != 0) {
            pthread_attr_destroy(&attr);
            free(buf);
            break;
        }
        pthread_attr_destroy(&attr);
        ++pool.threads;
    }
}

int ug_hasher_available(void)
{
    pthread_once(&pool.once, pool_start);
    return pool.threads > 0;
}

void ug_hash_stream_start(ug_hash_stream_t *h, int fd, EVP_MD_CTX *md, uint64_t written, uint64_t hashed)
{
    *h = (ug_hash_stream_t){.active = 1, .fd = fd, .md = md, .written = written, .hashed = hashed, .err = UG_OK};
}

void ug_hash_stream_wrote(ug_hash_stream_t *h, uint64_t n, int flush)
{
    pthread_mutex_lock(&pool.lock);
    h->written += n;
    if (!h->queued && !h->busy && h->err == UG_OK && h->written - h->hashed >= (flush ? 1 : HASH_BATCH))
        enqueue_locked(h);
    pthread_mutex_unlock(&pool.lock);
}

ug_err_t ug_hash_stream_wait(ug_hash_stream_t *h)
{
    ug_hash_stream_wrote(h, 0, 1);
    pthread_mutex_lock(&pool.lock);
    while (h->err == UG_OK && (h->queued || h->busy || h->hashed < h->written))
        pthread_cond_wait(&pool.done, &pool.lock);
    ug_err_t e = h->err;
    pthread_mutex_unlock(&pool.lock);
    return e;
}

void ug_hash_stream_forget(ug_hash_stream_t *h)
{
    if (!h->active)
        return;
    pthread_mutex_lock(&pool.lock);
    if (h->queued) {
        ug_hash_stream_t **p = &pool.head;
        while (*p != h)
            p = &(*p)->qnext;
        if ((*p = h->qnext) == NULL)
            pool.tail = p;
        h->queued = 0;
    }
    while (h->busy)
        pthread_cond_wait(&pool.done, &pool.lock);
    h->active = 0;
    pthread_mutex_unlock(&pool.lock);
}
