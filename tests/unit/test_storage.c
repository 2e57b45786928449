/*
 * test_storage.c - storage.c against real files in a fresh temporary directory
 * per test (removed afterwards).
 *
 * Faults a test cannot provoke as an unprivileged user (ENOSPC, EDQUOT, EIO,
 * short writes, EINTR, id collisions) are injected by defining writev() and
 * mkdirat() here: this executable's definitions take precedence over libc's
 * for storage.c, which is linked in statically. Disarmed, they forward to the
 * system call unchanged. The same writev() also counts calls and records
 * whether written bytes came from the caller's memory, so coalescing and the
 * no-copy path are checked, not assumed.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "upload/storage.h"

#define KIB 1024
#define MIB (1024 * 1024)

/* ---- fault injection ---- */

static struct {
    int armed;
    int fail_errno;          /* 0: never fail; else fail once `fail_after` bytes were accepted */
    unsigned long long fail_after;
    size_t max_chunk;        /* >0: accept at most this much per call (short writes) */
    unsigned eintr_every;    /* >0: every Nth call fails with EINTR before writing */
    unsigned calls;          /* calls that wrote or failed (not EINTR) */
    unsigned eintrs;
    unsigned long long bytes;
    const char *lo, *hi;     /* the caller's buffer */
    unsigned long long bytes_outside; /* written from memory outside [lo, hi): i.e. copied first */
} wv;

static struct {
    int eexist; /* fail this many calls with EEXIST */
    int err;    /* then fail with this errno (0: forward) */
    unsigned calls;
} mk;

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    if (!wv.armed)
        return syscall(SYS_writev, fd, iov, iovcnt);
    if (wv.eintr_every != 0 && (++wv.eintrs % wv.eintr_every) == 0) {
        errno = EINTR;
        return -1;
    }
    ++wv.calls;
    size_t total = 0;
    for (int i = 0; i < iovcnt; ++i)
        total += iov[i].iov_len;
    size_t limit = total;
    if (wv.max_chunk != 0 && limit > wv.max_chunk)
        limit = wv.max_chunk;
    if (wv.fail_errno != 0) {
        if (wv.bytes >= wv.fail_after) {
            errno = wv.fail_errno;
            return -1;
        }
        if (limit > wv.fail_after - wv.bytes)
            limit = (size_t)(wv.fail_after - wv.bytes);
    }
    struct iovec cut[8];
    int n = 0;
    for (int i = 0; i < iovcnt && limit > 0 && n < 8; ++i) {
        size_t take = iov[i].iov_len < limit ? iov[i].iov_len : limit;
        if (take == 0)
            continue;
        cut[n].iov_base = iov[i].iov_base;
        cut[n].iov_len = take;
        const char *b = iov[i].iov_base;
        if (!(b >= wv.lo && b + take <= wv.hi))
            wv.bytes_outside += take;
        limit -= take;
        ++n;
    }
    ssize_t r = syscall(SYS_writev, fd, cut, n);
    if (r > 0)
        wv.bytes += (unsigned long long)r;
    return r;
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
    ++mk.calls;
    if (mk.eexist > 0) {
        --mk.eexist;
        errno = EEXIST;
        return -1;
    }
    if (mk.err != 0) {
        errno = mk.err;
        return -1;
    }
    return (int)syscall(SYS_mkdirat, dirfd, path, mode);
}

static void arm(const char *lo, size_t len)
{
    memset(&wv, 0, sizeof(wv));
    wv.lo = lo;
    wv.hi = lo + len;
    wv.armed = 1;
}

/* ---- fixture and helpers ---- */

static char root[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    strcpy(root, "/tmp/ug-test-storage-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
}

static void teardown(void)
{
    wv.armed = 0;
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A finish that never returns (a hasher not woken for the last bytes) must fail its test, not hang the suite until
 * ctest's own limit: no storage test needs more than a fraction of a second, even under ASan. */
TestSuite(storage, .init = setup, .fini = teardown, .timeout = 30.);

/* Deterministic pseudo-random bytes (xorshift64*): a failure reproduces. */
static char *random_bytes(size_t len, unsigned long long seed)
{
    char *p = malloc(len > 0 ? len : 1);
    cr_assert_not_null(p);
    unsigned long long x = seed | 1;
    for (size_t i = 0; i < len; ++i) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        p[i] = (char)((x * 0x2545F4914F6CDD1DULL) >> 56);
    }
    return p;
}

static void reference_sha256(const void *data, size_t len, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    cr_assert_eq(EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL), 1);
    cr_assert_eq(md_len, 32u);
    for (unsigned i = 0; i < md_len; ++i)
        sprintf(hex + 2 * i, "%02x", md[i]);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    while ((r = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    fclose(fp);
    *len = n;
    return buf;
}

static int exists(const char *dir, const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return lstat(path, &st) == 0;
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            ++n;
    closedir(d);
    return n;
}

/* File <index> of the upload holds exactly data[0..len), no "<index>.part" is left, and size and digest match. */
static void assert_stored(ug_storage_upload_t *u, unsigned index, const char *data, size_t len, uint64_t size,
                          const char *hex)
{
    char ref[UG_SHA256_HEX_LEN + 1], path[512], part[32];
    size_t got_len;

    reference_sha256(data, len, ref);
    cr_assert_eq(size, (uint64_t)len);
    cr_assert_str_eq(hex, ref);
    snprintf(path, sizeof(path), "%s/%u", ug_storage_upload_dir(u), index);
    char *got = read_all(path, &got_len);
    cr_assert_eq(got_len, len, "file %u has %zu bytes, expected %zu", index, got_len, len);
    cr_assert(len == 0 || memcmp(got, data, len) == 0, "file %u differs from what was written", index);
    free(got);
    snprintf(part, sizeof(part), "%u.part", index);
    cr_assert(!exists(ug_storage_upload_dir(u), part), "%s left behind", part);
}

static ug_storage_upload_t *begin(char *id)
{
    ug_storage_upload_t *u = NULL;
    cr_assert_eq(ug_storage_upload_begin(root, &u, id), UG_OK);
    cr_assert_not_null(u);
    return u;
}

static ug_storage_file_t *file_begin(ug_storage_upload_t *u, unsigned expect_index)
{
    ug_storage_file_t *f = NULL;
    unsigned index = 12345;
    cr_assert_eq(ug_storage_file_begin(u, &f, &index), UG_OK);
    cr_assert_not_null(f);
    cr_assert_eq(index, expect_index);
    return f;
}

/* Store data as one file, in writes of the sizes given cyclically by `chunks` (0-terminated), and check it. */
static void store_in_chunks(const char *data, size_t len, const size_t *chunks)
{
    char id[UG_UPLOAD_ID_LEN + 1], hex[UG_SHA256_HEX_LEN + 1];
    uint64_t size = 0;
    ug_storage_upload_t *u = begin(id);
    ug_storage_file_t *f = file_begin(u, 0);
    size_t off = 0, k = 0;

    while (off < len) {
        size_t n = chunks[k] < len - off ? chunks[k] : len - off;
        cr_assert_eq(ug_storage_file_write(f, data + off, n), UG_OK);
        off += n;
        cr_assert_eq(ug_storage_file_size(f), (uint64_t)off);
        if (chunks[++k] == 0)
            k = 0;
    }
    cr_assert_eq(ug_storage_file_finish(f, &size, hex), UG_OK);
    assert_stored(u, 0, data, len, size, hex);
    ug_storage_upload_release(u);
}

/* ---- begin ---- */

Test(storage, begin_creates_private_directory_named_by_random_id)
{
    char id[UG_UPLOAD_ID_LEN + 1], id2[UG_UPLOAD_ID_LEN + 1], dir[128];
    struct stat st;

    umask(0); /* so the modes seen are exactly the ones asked for */
    ug_storage_upload_t *u = begin(id);
    ug_storage_upload_t *u2 = begin(id2);

    cr_assert_eq(strlen(id), (size_t)UG_UPLOAD_ID_LEN);
    cr_assert_eq(strspn(id, "0123456789abcdef"), (size_t)UG_UPLOAD_ID_LEN, "id %s is not lowercase hex", id);
    cr_assert_str_neq(id, id2);
    cr_assert_str_eq(ug_storage_upload_id(u), id);
    snprintf(dir, sizeof(dir), "%s/%s.incoming", root, id);
    cr_assert_str_eq(ug_storage_upload_dir(u), dir);
    cr_assert_eq(lstat(dir, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0750u);
    cr_assert_eq(entries(dir), 0);

    ug_storage_file_t *f = file_begin(u, 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/0.part", dir);
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0640u);
    (void)f;

    ug_storage_upload_abort(u);
    ug_storage_upload_abort(u2);
    cr_assert_eq(entries(root), 0);
}

Test(storage, begin_with_trailing_slash_gives_clean_dir)
{
    char slashed[80], id[UG_UPLOAD_ID_LEN + 1], dir[128];
    ug_storage_upload_t *u = NULL;

    snprintf(slashed, sizeof(slashed), "%s//", root);
    cr_assert_eq(ug_storage_upload_begin(slashed, &u, id), UG_OK);
    snprintf(dir, sizeof(dir), "%s/%s.incoming", root, id);
    cr_assert_str_eq(ug_storage_upload_dir(u), dir);
    ug_storage_upload_abort(u);
}

Test(storage, begin_on_missing_root_fails)
{
    char missing[96], id[UG_UPLOAD_ID_LEN + 1];
    ug_storage_upload_t *u = (ug_storage_upload_t *)&u;

    snprintf(missing, sizeof(missing), "%s/nope", root);
    cr_assert_eq(ug_storage_upload_begin(missing, &u, id), UG_ERR_STORAGE);
    cr_assert_null(u);
}

Test(storage, begin_retries_id_collision)
{
    char id[UG_UPLOAD_ID_LEN + 1];

    mk.eexist = 2;
    ug_storage_upload_t *u = begin(id);
    cr_assert_eq(mk.calls, 3u);
    cr_assert_eq(entries(root), 1);
    cr_assert_eq(access(ug_storage_upload_dir(u), F_OK), 0);
    ug_storage_upload_abort(u);
}

Test(storage, begin_gives_up_after_repeated_collisions)
{
    char id[UG_UPLOAD_ID_LEN + 1];
    ug_storage_upload_t *u = NULL;

    mk.eexist = 1000;
    cr_assert_eq(ug_storage_upload_begin(root, &u, id), UG_ERR_STORAGE);
    cr_assert_null(u);
    cr_assert_lt(mk.calls, 10u);
    cr_assert_eq(entries(root), 0);
}

Test(storage, begin_maps_no_space_and_quota_to_507)
{
    char id[UG_UPLOAD_ID_LEN + 1];
    ug_storage_upload_t *u = NULL;

    mk.err = ENOSPC;
    cr_assert_eq(ug_storage_upload_begin(root, &u, id), UG_ERR_INSUFFICIENT_STORAGE);
    mk.err = EDQUOT;
    cr_assert_eq(ug_storage_upload_begin(root, &u, id), UG_ERR_INSUFFICIENT_STORAGE);
    mk.err = EACCES;
    cr_assert_eq(ug_storage_upload_begin(root, &u, id), UG_ERR_STORAGE);
    cr_assert_null(u);
    cr_assert_eq(entries(root), 0);
}

/* ---- write and finish ---- */

Test(storage, empty_file)
{
    char id[UG_UPLOAD_ID_LEN + 1], hex[UG_SHA256_HEX_LEN + 1];
    uint64_t size = 99;
    ug_storage_upload_t *u = begin(id);
    ug_storage_file_t *f = file_begin(u, 0);

    cr_assert_eq(ug_storage_file_write(f, "", 0), UG_OK);
    cr_assert_eq(ug_storage_file_finish(f, &size, hex), UG_OK);
    /* A known answer as well, so the reference itself is checked. */
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_stored(u, 0, "", 0, size, hex);
    ug_storage_upload_release(u);
}

Test(storage, one_byte)
{
    char id[UG_UPLOAD_ID_LEN + 1], hex[UG_SHA256_HEX_LEN + 1];
    uint64_t size = 0;
    ug_storage_upload_t *u = begin(id);
    ug_storage_file_t *f = file_begin(u, 0);

    cr_assert_eq(ug_storage_file_write(f, "a", 1), UG_OK);
    cr_assert_eq(ug_storage_file_size(f), 1u);
    cr_assert_eq(ug_storage_file_finish(f, &size, hex), UG_OK);
    cr_assert_str_eq(hex, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
    assert_stored(u, 0, "a", 1, size, hex);
    ug_storage_upload_release(u);
}

Test(storage, byte_by_byte_writes_are_coalesced)
{
    const size_t len = 1 * MIB;
    char *data = random_bytes(len, 1);
    static const size_t one[] = {1, 0};

    arm(data, len);
    store_in_chunks(data, len, one);
    /* 1 MiB in 64 KiB buffers: sixteen writev calls, not a million. */
    cr_assert_eq(wv.bytes, (unsigned long long)len);
    cr_assert_leq(wv.calls, 17u, "%u writev calls for byte-sized writes", wv.calls);
    free(data);
}

Test(storage, large_writes_go_straight_from_caller_memory)
{
    const size_t len = 8 * MIB + 3;
    char *data = random_bytes(len, 2);
    static const size_t whole[] = {8 * MIB + 3, 0};
    static const size_t quarter[] = {256 * KIB, 0};
    static const size_t odd[] = {3 * MIB + 17, 0};

    arm(data, len);
    store_in_chunks(data, len, whole);
    cr_assert_eq(wv.bytes, (unsigned long long)len);
    cr_assert_eq(wv.bytes_outside, 0ull, "%llu bytes were copied before being written", wv.bytes_outside);
    cr_assert_leq(wv.calls, 16u);

    arm(data, len);
    store_in_chunks(data, len, quarter);
    cr_assert_eq(wv.bytes_outside, 3ull, "only the 3-byte tail may be buffered (got %llu)", wv.bytes_outside);

    arm(data, len);
    store_in_chunks(data, len, odd);
    cr_assert_eq(wv.bytes_outside, 0ull);
    free(data);
}

Test(storage, mixed_write_sizes)
{
    const size_t len = 7 * MIB + 12345;
    char *data = random_bytes(len, 3);
    /* Sizes around every edge: below, at and above the 64 KiB buffer and the slices, after partial fills. */
    static const size_t mixed[] = {1,       7, 64 * KIB - 8, 70, 64 * KIB, 64 * KIB - 1, 1,        256 * KIB - 1,
                                   3 * MIB, 5, 2 * MIB + 1,  13, 64 * KIB, 300 * KIB,    0};

    arm(data, len);
    store_in_chunks(data, len, mixed);
    cr_assert_eq(wv.bytes, (unsigned long long)len);
    /* Buffered bytes are sent together with the next large chunk (writev), never copied to top up the buffer. */
    cr_assert_lt(wv.bytes_outside, (unsigned long long)len / 4);
    free(data);
}

Test(storage, short_writes_and_eintr_are_retried)
{
    const size_t len = 3 * MIB + 1;
    char *data = random_bytes(len, 4);
    static const size_t mixed[] = {100, 1 * MIB + 3, 9, 0};

    arm(data, len);
    wv.max_chunk = 4093; /* odd, so the pieces straddle the buffer/caller boundary of a writev */
    wv.eintr_every = 3;
    store_in_chunks(data, len, mixed);
    cr_assert_gt(wv.eintrs, 100u);
    cr_assert_eq(wv.bytes, (unsigned long long)len);
    free(data);
}

Test(storage, several_files_are_numbered_in_order)
{
    char id[UG_UPLOAD_ID_LEN + 1], hex[3][UG_SHA256_HEX_LEN + 1];
    uint64_t size[3];
    const char *content[3] = {"first", "", "third file"};
    ug_storage_upload_t *u = begin(id);

    for (unsigned i = 0; i < 3; ++i) {
        ug_storage_file_t *f = file_begin(u, i);
        cr_assert_eq(ug_storage_file_write(f, content[i], strlen(content[i])), UG_OK);
        cr_assert_eq(ug_storage_file_finish(f, &size[i], hex[i]), UG_OK);
    }
    for (unsigned i = 0; i < 3; ++i)
        assert_stored(u, i, content[i], strlen(content[i]), size[i], hex[i]);
    cr_assert_eq(entries(ug_storage_upload_dir(u)), 3);
    ug_storage_upload_release(u);
}

Test(storage, handle_stays_valid_after_finish)
{
    char id[UG_UPLOAD_ID_LEN + 1], hex[UG_SHA256_HEX_LEN + 1];
    uint64_t size;
    ug_storage_upload_t *u = begin(id);
    ug_storage_file_t *f = file_begin(u, 0);

    cr_assert_eq(ug_storage_file_write(f, "abc", 3), UG_OK);
    cr_assert_eq(ug_storage_file_finish(f, &size, hex), UG_OK);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cr_assert_eq(ug_storage_file_size(f), 3u);
    cr_assert_neq(ug_storage_file_write(f, "x", 1), UG_OK);
    cr_assert_neq(ug_storage_file_finish(f, &size, hex), UG_OK);
    assert_stored(u, 0, "abc", 3, 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ug_storage_upload_release(u);
}

Test(storage, files_follow_the_directory_not_its_path)
{
    char id[UG_UPLOAD_ID_LEN + 1], hex[UG_SHA256_HEX_LEN + 1], from[128], to[128], path[160];
    uint64_t size;
    ug_storage_upload_t *u = begin(id);

    /* Move the directory away after begin: the upload keeps writing into it (fd-relative), never re-resolving. */
    snprintf(from, sizeof(from), "%s", ug_storage_upload_dir(u));
    snprintf(to, sizeof(to), "%s/moved", root);
    cr_assert_eq(rename(from, to), 0);
    ug_storage_file_t *f = file_begin(u, 0);
    cr_assert_eq(ug_storage_file_write(f, "abc", 3), UG_OK);
    cr_assert_eq(ug_storage_file_finish(f, &size, hex), UG_OK);
    snprintf(path, sizeof(path), "%s/0", to);
    size_t len;
    char *got = read_all(path, &len);
    cr_assert_eq(len, 3u);
    free(got);
    cr_assert_neq(access(from, F_OK), 0);

    ug_storage_upload_abort(u);
    cr_assert_eq(entries(to), 0, "abort removes the files wherever the directory went");
}

/* ---- abort and release ---- */

Test(storage, abort_removes_finished_and_unfinished_files_and_directory)
{
    char id[UG_UPLOAD_ID_LEN + 1], hex[UG_SHA256_HEX_LEN + 1], *data = random_bytes(2 * MIB, 5);
    uint64_t size;
    ug_storage_upload_t *u = begin(id);

    ug_storage_file_t *f0 = file_begin(u, 0);
    cr_assert_eq(ug_storage_file_write(f0, data, 2 * MIB), UG_OK);
    cr_assert_eq(ug_storage_file_finish(f0, &size, hex), UG_OK);
    ug_storage_file_t *f1 = file_begin(u, 1); /* written, still open */
    cr_assert_eq(ug_storage_file_write(f1, data, 1 * MIB), UG_OK);
    ug_storage_file_t *f2 = file_begin(u, 2); /* only buffered bytes, still open */
    cr_assert_eq(ug_storage_file_write(f2, "x", 1), UG_OK);
    file_begin(u, 3); /* empty, still open */

    cr_assert(exists(ug_storage_upload_dir(u), "0"));
    cr_assert(exists(ug_storage_upload_dir(u), "1.part"));
    cr_assert(exists(ug_storage_upload_dir(u), "3.part"));
    ug_storage_upload_abort(u);
    cr_assert(!exists(root, id));
    cr_assert_eq(entries(root), 0);
    free(data);
}

Test(storage, abort_of_an_empty_upload_removes_its_directory)
{
    char id[UG_UPLOAD_ID_LEN + 1];
    ug_storage_upload_t *u = begin(id);

    ug_storage_upload_abort(u);
    cr_assert_eq(entries(root), 0);
}

Test(storage, release_keeps_finished_files)
{
    char id[UG_UPLOAD_ID_LEN + 1], hex[UG_SHA256_HEX_LEN + 1], dir[128];
    uint64_t size;
    ug_storage_upload_t *u = begin(id);

    ug_storage_file_t *f = file_begin(u, 0);
    cr_assert_eq(ug_storage_file_write(f, "kept", 4), UG_OK);
    cr_assert_eq(ug_storage_file_finish(f, &size, hex), UG_OK);
    ug_storage_file_t *open_file = file_begin(u, 1);
    cr_assert_eq(ug_storage_file_write(open_file, "half", 4), UG_OK);

    ug_storage_upload_release(u);
    /* Kept files are handed off: they are where a manifest would name them, and start-up leaves them alone. */
    snprintf(dir, sizeof(dir), "%s/%s", root, id);
    cr_assert_eq(entries(root), 1);

    char path[160];
    size_t len;
    snprintf(path, sizeof(path), "%s/0", dir);
    char *got = read_all(path, &len);
    cr_assert_eq(len, 4u);
    cr_assert(memcmp(got, "kept", 4) == 0);
    free(got);
    /* An unfinished part is in no manifest: nobody could ever find it, so it does not outlive the upload. */
    cr_assert(!exists(dir, "1.part"));
    cr_assert_eq(entries(dir), 1);
}

Test(storage, hand_off_renames_the_incoming_directory_to_the_id)
{
    char id[UG_UPLOAD_ID_LEN + 1], hex[UG_SHA256_HEX_LEN + 1], incoming[128], final[128];
    uint64_t size;
    ug_storage_upload_t *u = begin(id);

    snprintf(incoming, sizeof(incoming), "%s/%s.incoming", root, id);
    snprintf(final, sizeof(final), "%s/%s", root, id);
    ug_storage_file_t *f = file_begin(u, 0);
    cr_assert_eq(ug_storage_file_write(f, "abc", 3), UG_OK);
    cr_assert_eq(ug_storage_file_finish(f, &size, hex), UG_OK);
    cr_assert(!exists(root, id), "visible under the final name before the hand-off");

    cr_assert_eq(ug_storage_upload_hand_off(u), UG_OK);
    cr_assert_str_eq(ug_storage_upload_dir(u), final);
    cr_assert_neq(access(incoming, F_OK), 0);
    cr_assert_eq(entries(root), 1);
    assert_stored(u, 0, "abc", 3, 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cr_assert_eq(ug_storage_upload_hand_off(u), UG_OK, "a second hand-off is a no-op");
    cr_assert_str_eq(ug_storage_upload_dir(u), final);

    /* The app's answer can still refuse it: abort removes the directory under its new name. */
    ug_storage_upload_abort(u);
    cr_assert_eq(entries(root), 0);
}

Test(storage, hand_off_never_replaces_an_existing_directory)
{
    char id[UG_UPLOAD_ID_LEN + 1], final[128];
    ug_storage_upload_t *u = begin(id);

    snprintf(final, sizeof(final), "%s/%s", root, id);
    cr_assert_eq(mkdir(final, 0700), 0); /* empty: rename(2) alone would replace it silently */
    file_begin(u, 0);
    cr_assert_eq(ug_storage_upload_hand_off(u), UG_ERR_STORAGE);
    cr_assert(exists(ug_storage_upload_dir(u), "0.part"), "the upload stays incoming");
    ug_storage_upload_abort(u);
    cr_assert_eq(entries(root), 1);
    cr_assert_eq(entries(final), 0);
}

/* Smoke test: no assertion; it passes when the call on NULL returns without crashing (the sanitized build also
 * checks it touches no memory). */
Test(storage, smoke_abort_and_release_of_null_do_not_crash)
{
    ug_storage_upload_abort(NULL);
    ug_storage_upload_release(NULL);
}

/* ---- never overwrite ---- */

Test(storage, existing_part_file_is_never_overwritten)
{
    char id[UG_UPLOAD_ID_LEN + 1], path[160];
    ug_storage_upload_t *u = begin(id);
    ug_storage_file_t *f = (ug_storage_file_t *)&f;

    snprintf(path, sizeof(path), "%s/0.part", ug_storage_upload_dir(u));
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    fputs("precious", fp);
    fclose(fp);

    cr_assert_eq(ug_storage_file_begin(u, &f, NULL), UG_ERR_STORAGE);
    cr_assert_null(f);
    size_t len;
    char *got = read_all(path, &len);
    cr_assert_eq(len, 8u);
    cr_assert(memcmp(got, "precious", 8) == 0);
    free(got);

    /* The index is not consumed by the failure: once the name is free, file 0 is still file 0. */
    cr_assert_eq(unlink(path), 0);
    file_begin(u, 0);
    ug_storage_upload_abort(u);
    cr_assert_eq(entries(root), 0);
}

Test(storage, planted_symlink_is_not_followed)
{
    char id[UG_UPLOAD_ID_LEN + 1], link[160], target[96];
    ug_storage_upload_t *u = begin(id);
    ug_storage_file_t *f = NULL;

    snprintf(target, sizeof(target), "%s/target", root);
    snprintf(link, sizeof(link), "%s/0.part", ug_storage_upload_dir(u));
    cr_assert_eq(symlink(target, link), 0);
    cr_assert_eq(ug_storage_file_begin(u, &f, NULL), UG_ERR_STORAGE);
    cr_assert(!exists(root, "target"), "the symlink was followed");

    /* Abort leaves what it did not create, so the directory stays too. */
    char dir[128];
    snprintf(dir, sizeof(dir), "%s", ug_storage_upload_dir(u));
    ug_storage_upload_abort(u);
    cr_assert_eq(access(dir, F_OK), 0);
    struct stat st;
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
}

/* ---- errors ---- */

Test(storage, file_too_big_for_rlimit_is_insufficient_storage)
{
    char id[UG_UPLOAD_ID_LEN + 1], hex[UG_SHA256_HEX_LEN + 1], *data = random_bytes(3 * MIB, 6);
    uint64_t size;
    struct rlimit rl = {.rlim_cur = 1 * MIB + 5000, .rlim_max = RLIM_INFINITY};

    /* Each test runs in its own process: the limit and the ignored signal do not leak. */
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);

    ug_storage_upload_t *u = begin(id);
    ug_storage_file_t *f = file_begin(u, 0);
    cr_assert_eq(ug_storage_file_write(f, data, 3 * MIB), UG_ERR_INSUFFICIENT_STORAGE);
    /* Sticky: the file's content is unknown after a failed write. */
    cr_assert_eq(ug_storage_file_write(f, "x", 1), UG_ERR_INSUFFICIENT_STORAGE);
    cr_assert_eq(ug_storage_file_finish(f, &size, hex), UG_ERR_INSUFFICIENT_STORAGE);
    cr_assert(exists(ug_storage_upload_dir(u), "0.part"));
    cr_assert(!exists(ug_storage_upload_dir(u), "0"));
    ug_storage_upload_abort(u);
    cr_assert_eq(entries(root), 0);
    free(data);
}

static void write_fails_with(int err, size_t after, ug_err_t expect)
{
    char id[UG_UPLOAD_ID_LEN + 1], hex[UG_SHA256_HEX_LEN + 1], *data = random_bytes(2 * MIB, 7);
    uint64_t size;
    ug_storage_upload_t *u = begin(id);
    ug_storage_file_t *f = file_begin(u, 0);

    arm(data, 2 * MIB);
    wv.fail_errno = err;
    wv.fail_after = after;
    cr_assert_eq(ug_storage_file_write(f, data, 2 * MIB), expect);
    wv.armed = 0;
    cr_assert_eq(ug_storage_file_write(f, data, 1), expect);
    cr_assert_eq(ug_storage_file_finish(f, &size, hex), expect);
    ug_storage_upload_abort(u);
    cr_assert_eq(entries(root), 0);
    free(data);
}

Test(storage, no_space_is_insufficient_storage)
{
    write_fails_with(ENOSPC, 0, UG_ERR_INSUFFICIENT_STORAGE);
    write_fails_with(ENOSPC, 123457, UG_ERR_INSUFFICIENT_STORAGE); /* after a short write */
}

Test(storage, quota_is_insufficient_storage)
{
    write_fails_with(EDQUOT, 4096, UG_ERR_INSUFFICIENT_STORAGE);
}

Test(storage, io_error_is_storage_error)
{
    write_fails_with(EIO, 1000, UG_ERR_STORAGE);
}

Test(storage, failed_flush_at_finish_leaves_no_final_file)
{
    char id[UG_UPLOAD_ID_LEN + 1], hex[UG_SHA256_HEX_LEN + 1];
    uint64_t size;
    ug_storage_upload_t *u = begin(id);
    ug_storage_file_t *f = file_begin(u, 0);

    cr_assert_eq(ug_storage_file_write(f, "buffered", 8), UG_OK);
    arm(NULL, 0);
    wv.fail_errno = ENOSPC;
    cr_assert_eq(ug_storage_file_finish(f, &size, hex), UG_ERR_INSUFFICIENT_STORAGE);
    wv.armed = 0;
    cr_assert(!exists(ug_storage_upload_dir(u), "0"));
    cr_assert(exists(ug_storage_upload_dir(u), "0.part"));
    ug_storage_upload_abort(u);
    cr_assert_eq(entries(root), 0);
}

/* ---- descriptors ---- */

static int open_fds(void)
{
    return entries("/proc/self/fd");
}

Test(storage, every_path_closes_its_descriptors)
{
    char id[UG_UPLOAD_ID_LEN + 1], hex[UG_SHA256_HEX_LEN + 1], missing[96], part[160];
    uint64_t size;
    ug_storage_upload_t *u = NULL;
    ug_storage_file_t *f = NULL;
    int before = open_fds();

    /* Finished, failed and still-open files; abort and release; failed begins. */
    for (int release = 0; release < 2; ++release) {
        u = begin(id);
        f = file_begin(u, 0);
        cr_assert_eq(ug_storage_file_write(f, "a", 1), UG_OK);
        cr_assert_eq(ug_storage_file_finish(f, &size, hex), UG_OK);
        f = file_begin(u, 1);
        cr_assert_eq(ug_storage_file_write(f, "b", 1), UG_OK);
        arm(NULL, 0);
        wv.fail_errno = EIO;
        cr_assert_eq(ug_storage_file_finish(f, &size, hex), UG_ERR_STORAGE);
        wv.armed = 0;
        file_begin(u, 2);
        if (release)
            ug_storage_upload_release(u);
        else
            ug_storage_upload_abort(u);
        cr_assert_eq(open_fds(), before);
    }

    snprintf(missing, sizeof(missing), "%s/nope", root);
    cr_assert_neq(ug_storage_upload_begin(missing, &u, id), UG_OK);
    mk.eexist = 1000;
    cr_assert_neq(ug_storage_upload_begin(root, &u, id), UG_OK);
    mk.eexist = 0;
    u = begin(id);
    snprintf(part, sizeof(part), "%s/0.part", ug_storage_upload_dir(u));
    cr_assert_eq(mkdir(part, 0700), 0);
    cr_assert_neq(ug_storage_file_begin(u, &f, NULL), UG_OK);
    cr_assert_eq(rmdir(part), 0);
    ug_storage_upload_abort(u);
    cr_assert_eq(open_fds(), before);
}

/* ---- free space ---- */

Test(storage, free_bytes)
{
    uint64_t n = 0;
    char missing[96];

    cr_assert_eq(ug_storage_free_bytes(root, &n), UG_OK);
    cr_assert_gt(n, 0u);
    snprintf(missing, sizeof(missing), "%s/nope", root);
    cr_assert_eq(ug_storage_free_bytes(missing, &n), UG_ERR_STORAGE);
}

Test(storage, abort_in_flight_removes_unfinished_uploads_only)
{
    /* A shutdown whose grace ran out: uploads not yet released or aborted lose their files; released ones are the app's. */
    char id1[UG_UPLOAD_ID_LEN + 1], id2[UG_UPLOAD_ID_LEN + 1], id3[UG_UPLOAD_ID_LEN + 1];
    ug_storage_upload_t *done = begin(id1), *partial = begin(id2), *finished_files = begin(id3);
    uint64_t size;
    char hex[UG_SHA256_HEX_LEN + 1];

    ug_storage_file_t *f = file_begin(done, 0);
    cr_assert_eq(ug_storage_file_write(f, "kept", 4), UG_OK);
    cr_assert_eq(ug_storage_file_finish(f, &size, hex), UG_OK);
    ug_storage_upload_release(done);

    f = file_begin(partial, 0);
    cr_assert_eq(ug_storage_file_write(f, "half", 4), UG_OK);
    f = file_begin(finished_files, 0);
    cr_assert_eq(ug_storage_file_write(f, "whole", 5), UG_OK);
    cr_assert_eq(ug_storage_file_finish(f, &size, hex), UG_OK);

    cr_assert_eq(ug_storage_abort_in_flight(), 2);
    cr_assert(exists(root, id1));
    cr_assert(!exists(root, id2));
    cr_assert(!exists(root, id3));
    cr_assert_eq(entries(root), 1);
    /* Their owners may still free them: nothing is removed twice, nothing crashes. */
    ug_storage_upload_abort(partial);
    ug_storage_upload_release(finished_files);
    cr_assert_eq(ug_storage_abort_in_flight(), 0);
    cr_assert_eq(entries(root), 1);
}

/* ---- hashing off the writer's thread (files past 8 MiB) ---- */

Test(storage, large_files_are_hashed_right_whatever_the_write_sizes)
{
    /* Past 8 MiB the bytes are hashed by a hasher thread reading them back: the digest must not change. */
    const size_t len = 40 * MIB + 4321;
    char *data = random_bytes(len, 8);
    static const size_t small[] = {65536, 65000, 1, 4096, 0};
    static const size_t big[] = {3 * MIB + 1, 64 * KIB, 7, 5 * MIB, 0};
    static const size_t whole[] = {40 * MIB + 4321, 0};
    store_in_chunks(data, len, small);
    store_in_chunks(data, len, big);
    store_in_chunks(data, len, whole);
    free(data);
}

Test(storage, abort_while_the_hasher_works_leaves_nothing)
{
    char id[UG_UPLOAD_ID_LEN + 1];
    const size_t len = 32 * MIB;
    char *data = random_bytes(len, 9);
    for (int round = 0; round < 4; ++round) {
        ug_storage_upload_t *u = begin(id);
        ug_storage_file_t *f = file_begin(u, 0);
        for (size_t off = 0; off < len; off += 64 * KIB)
            cr_assert_eq(ug_storage_file_write(f, data + off, 64 * KIB), UG_OK);
        ug_storage_upload_abort(u); /* the hasher may be mid-file: abort must wait for it, then remove */
        cr_assert(!exists(root, id));
    }
    free(data);
}

struct writer_arg {
    const char *data;
    size_t len;
};

static void *store_thread(void *p)
{
    const struct writer_arg *a = p;
    static const size_t chunks[] = {64 * KIB, 0};
    for (int i = 0; i < 3; ++i)
        store_in_chunks(a->data, a->len, chunks);
    return NULL;
}

Test(storage, concurrent_large_files_share_the_hashers)
{
    const size_t len = 12 * MIB + 77;
    char *d1 = random_bytes(len, 10), *d2 = random_bytes(len, 11), *d3 = random_bytes(len, 12);
    struct writer_arg a[3] = {{d1, len}, {d2, len}, {d3, len}};
    pthread_t t[3];
    for (int i = 0; i < 3; ++i)
        cr_assert_eq(pthread_create(&t[i], NULL, store_thread, &a[i]), 0);
    for (int i = 0; i < 3; ++i)
        pthread_join(t[i], NULL);
    free(d1);
    free(d2);
    free(d3);
}
