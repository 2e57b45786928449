/*
 * test_hasher.c - upload/hasher.c: hashed file streams over real files in a fresh temporary directory per test. The
 * digest a stream's threads build is compared with a one-shot SHA-256 of the same bytes.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "upload/hasher.h"

#define MIB (1024 * 1024)

static char dir[64];
static char path[96];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ug-hasher-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    cr_assert(ug_hasher_available(), "streams need the pool's threads");
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

TestSuite(hasher, .init = setup, .fini = teardown);

static int open_file(void)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    return fd;
}

static EVP_MD_CTX *sha256_new(void)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cr_assert_not_null(md);
    cr_assert_eq(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
    return md;
}

/* Finish `md` (consumed) and compare with the one-shot digest of `data`. */
static void assert_digest(EVP_MD_CTX *md, const unsigned char *data, size_t len)
{
    unsigned char got[32], want[32];
    unsigned n = 0, m = 0;
    cr_assert_eq(EVP_DigestFinal_ex(md, got, &n), 1);
    EVP_MD_CTX_free(md);
    cr_assert_eq(EVP_Digest(data, len, want, &m, EVP_sha256(), NULL), 1);
    cr_assert_eq(n, 32);
    cr_assert_eq(memcmp(got, want, 32), 0, "the stream's digest differs from the one-shot hash of the same bytes");
}

static unsigned char *pattern(size_t len)
{
    unsigned char *p = malloc(len);
    cr_assert_not_null(p);
    for (size_t i = 0; i < len; ++i)
        p[i] = (unsigned char)(i * 31 + i / 4099);
    return p;
}

static void append(int fd, const unsigned char *data, size_t at, size_t n)
{
    cr_assert_eq(pwrite(fd, data + at, n, (off_t)at), (ssize_t)n);
}

/* Pieces around and across the batch size, some tiny: the digest is the one-shot hash's. */
Test(hasher, odd_sized_pieces_give_the_one_shot_digest)
{
    static const size_t pieces[] = {1, 7, 65537, MIB - 1, 3, 3 * MIB + 5, 4095, 2 * MIB, 1, 999983};
    size_t total = 0;
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); ++i)
        total += pieces[i];
    unsigned char *data = pattern(total);
    int fd = open_file();
    EVP_MD_CTX *md = sha256_new();
    ug_hash_stream_t h;
    ug_hash_stream_start(&h, fd, md, 0, 0);
    size_t at = 0;
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); ++i) {
        append(fd, data, at, pieces[i]);
        ug_hash_stream_wrote(&h, pieces[i], 0);
        at += pieces[i];
    }
    cr_assert_eq(ug_hash_stream_wait(&h), UG_OK);
    ug_hash_stream_forget(&h);
    close(fd);
    assert_digest(md, data, total);
    free(data);
}

/* A stream may start after bytes the owner hashed itself: the threads go on from there. */
Test(hasher, starts_after_bytes_hashed_inline)
{
    unsigned char *data = pattern(3 * MIB);
    int fd = open_file();
    EVP_MD_CTX *md = sha256_new();
    ug_hash_stream_t h;
    append(fd, data, 0, MIB);
    cr_assert_eq(EVP_DigestUpdate(md, data, MIB + 10), 1); /* 10 bytes hashed but still "buffered" */
    ug_hash_stream_start(&h, fd, md, MIB, MIB + 10);
    append(fd, data, MIB, 2 * MIB);
    ug_hash_stream_wrote(&h, 2 * MIB, 0);
    cr_assert_eq(ug_hash_stream_wait(&h), UG_OK);
    ug_hash_stream_forget(&h);
    close(fd);
    assert_digest(md, data, 3 * MIB);
    free(data);
}

/* Fewer bytes than a batch are hashed only once flushed; a wait flushes them, and a second wait has nothing to do. */
Test(hasher, wait_after_flush)
{
    unsigned char *data = pattern(100);
    int fd = open_file();
    EVP_MD_CTX *md = sha256_new();
    ug_hash_stream_t h;
    ug_hash_stream_start(&h, fd, md, 0, 0);
    append(fd, data, 0, 60);
    ug_hash_stream_wrote(&h, 60, 1);
    append(fd, data, 60, 40);
    ug_hash_stream_wrote(&h, 40, 0);
    cr_assert_eq(ug_hash_stream_wait(&h), UG_OK);
    cr_assert_eq(ug_hash_stream_wait(&h), UG_OK);
    ug_hash_stream_forget(&h);
    close(fd);
    assert_digest(md, data, 100);
    free(data);
}

/* Bytes said to be written that the file lacks: the wait reports a storage error instead of a wrong digest. */
Test(hasher, a_short_file_fails_the_wait)
{
    unsigned char *data = pattern(10);
    int fd = open_file();
    EVP_MD_CTX *md = sha256_new();
    ug_hash_stream_t h;
    ug_hash_stream_start(&h, fd, md, 0, 0);
    append(fd, data, 0, 10);
    ug_hash_stream_wrote(&h, 20, 1);
    cr_assert_eq(ug_hash_stream_wait(&h), UG_ERR_STORAGE);
    ug_hash_stream_forget(&h);
    close(fd);
    EVP_MD_CTX_free(md);
    free(data);
}

/* More streams than threads, each forgotten at once while queued or being hashed: afterwards the fds and digests are
 * the owner's (closed and freed here; a thread still using one would be a use after free under the sanitizers), and
 * a new stream over the same file from a fresh digest gives the right hash. */
Test(hasher, forget_while_queued)
{
    enum { STREAMS = 12, SIZE = 4 * MIB };
    unsigned char *data = pattern(SIZE);
    int fd = open_file();
    append(fd, data, 0, SIZE);
    ug_hash_stream_t h[STREAMS];
    EVP_MD_CTX *md[STREAMS];
    int fds[STREAMS];
    for (int i = 0; i < STREAMS; ++i) {
        fds[i] = dup(fd);
        md[i] = sha256_new();
        ug_hash_stream_start(&h[i], fds[i], md[i], 0, 0);
        ug_hash_stream_wrote(&h[i], SIZE, 1);
    }
    for (int i = STREAMS - 1; i >= 0; --i) {
        ug_hash_stream_forget(&h[i]);
        cr_assert_eq(h[i].active, 0);
        cr_assert_eq(h[i].queued, 0);
        cr_assert_eq(h[i].busy, 0);
        close(fds[i]);
        EVP_MD_CTX_free(md[i]);
    }
    EVP_MD_CTX *again = sha256_new();
    ug_hash_stream_t g;
    ug_hash_stream_start(&g, fd, again, 0, 0);
    ug_hash_stream_wrote(&g, SIZE, 0);
    cr_assert_eq(ug_hash_stream_wait(&g), UG_OK);
    ug_hash_stream_forget(&g);
    close(fd);
    assert_digest(again, data, SIZE);
    free(data);
}

/* Forgetting a stream never started (or twice) is harmless. */
Test(hasher, forget_without_start)
{
    ug_hash_stream_t h = {0};
    ug_hash_stream_forget(&h);
    ug_hash_stream_forget(&h);
    cr_assert_eq(h.active, 0);
}
