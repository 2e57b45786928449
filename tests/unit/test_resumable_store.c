/*
 * test_resumable_store.c - resumable/store.c against a fresh temporary storage directory per test: creation, the
 * info as stored, durable offsets (commit, discard, cut-off bytes), the per-upload lock, the hash across reopen,
 * completion, removal and the expiry sweep. (The hash rebuilt by a process without the state is tested end to end:
 * tests/integration/test_resumable.py, a restart.)
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "resumable/store.h"

static char root[64];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/ug-rstore-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
}

static void teardown(void)
{
    nftw(root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(rstore, .init = setup, .fini = teardown);

static void create(char *id, uint64_t length, int deferred, int64_t expires)
{
    ug_rstore_info_t info = {.length = length, .deferred = deferred, .created = 100, .expires = expires,
                             .route = "/files/*", .subject = "alice\nx", .metadata = "filename YS50eHQ="};
    cr_assert_eq(ug_rstore_create(root, &info, id), UG_RSTORE_OK);
    cr_assert(ug_rstore_id_valid(id, strlen(id)));
}

static void sha256_hex(const char *data, size_t len, char *out)
{
    unsigned char d[32];
    unsigned n;
    EVP_Digest(data, len, d, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n; ++i)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static off_t data_size(const char *id)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s/%s/%s", root, UG_RSTORE_DIR, id, UG_RSTORE_DATA);
    return stat(p, &st) == 0 ? st.st_size : -1;
}

Test(rstore, create_and_peek)
{
    char id[UG_UPLOAD_ID_LEN + 1];
    ug_rstore_info_t info;
    create(id, 10, 0, 5000);
    cr_assert_eq(ug_rstore_peek(root, id, &info), UG_RSTORE_OK);
    cr_assert_eq(info.length, 10);
    cr_assert_eq(info.offset, 0);
    cr_assert_eq(info.expires, 5000);
    cr_assert_str_eq(info.route, "/files/*");
    cr_assert_str_eq(info.subject, "alice\nx");
    cr_assert_str_eq(info.metadata, "filename YS50eHQ=");
    ug_rstore_info_clear(&info);
    cr_assert_eq(ug_rstore_peek(root, "0123456789abcdef0123456789abcdef", &info), UG_RSTORE_NOT_FOUND);
    cr_assert_eq(ug_rstore_peek(root, "../../etc", &info), UG_RSTORE_NOT_FOUND);
}

Test(rstore, commit_discard_and_the_hash)
{
    char id[UG_UPLOAD_ID_LEN + 1], want[65], got[65];
    ug_rstore_t *s;
    create(id, 12, 0, 5000);
    cr_assert_eq(ug_rstore_open(root, id, &s), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_write(s, "hello ", 6), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_pending(s), 6);
    cr_assert_eq(ug_rstore_commit(s, 6000), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_info(s)->offset, 6);
    cr_assert_eq(ug_rstore_write(s, "XXXX", 4), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_discard(s), UG_RSTORE_OK); /* a chunk whose checksum failed */
    cr_assert_eq(data_size(id), 6);
    cr_assert_eq(ug_rstore_write(s, "world!", 6), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_commit(s, 7000), UG_RSTORE_OK);
    sha256_hex("hello world!", 12, want);
    ug_rstore_sha256_hex(s, got);
    cr_assert_str_eq(got, want);
    ug_rstore_close(s);
    ug_rstore_info_t info;
    cr_assert_eq(ug_rstore_peek(root, id, &info), UG_RSTORE_OK);
    cr_assert_eq(info.offset, 12);
    cr_assert_eq(info.expires, 7000);
    ug_rstore_info_clear(&info);
}

/* Without the flushes a commit still records the offset and replaces the info whole: what another process reads. */
Test(rstore, commit_without_fsync_records_the_offset)
{
    char id[UG_UPLOAD_ID_LEN + 1];
    ug_rstore_t *s;
    create(id, 10, 0, 5000);
    cr_assert_eq(ug_rstore_open(root, id, &s), UG_RSTORE_OK);
    ug_rstore_set_fsync(s, 0);
    cr_assert_eq(ug_rstore_write(s, "0123456", 7), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_commit(s, 8000), UG_RSTORE_OK);
    ug_rstore_info_t info;
    cr_assert_eq(ug_rstore_peek(root, id, &info), UG_RSTORE_OK);
    cr_assert_eq(info.offset, 7);
    cr_assert_eq(info.expires, 8000);
    ug_rstore_info_clear(&info);
    cr_assert_eq(data_size(id), 7);
    ug_rstore_close(s);
}

Test(rstore, uncommitted_bytes_are_cut)
{
    char id[UG_UPLOAD_ID_LEN + 1], want[65], got[65];
    ug_rstore_t *s;
    create(id, 100, 0, 5000);
    cr_assert_eq(ug_rstore_open(root, id, &s), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_write(s, "abc", 3), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_commit(s, 5000), UG_RSTORE_OK);
    ug_rstore_close(s);
    /* another writer's bytes that were never committed (a crash): appended behind the store's back */
    char p[256];
    snprintf(p, sizeof(p), "%s/%s/%s/%s", root, UG_RSTORE_DIR, id, UG_RSTORE_DATA);
    int fd = open(p, O_WRONLY | O_APPEND);
    cr_assert_eq(write(fd, "garbage", 7), 7);
    close(fd);
    cr_assert_eq(ug_rstore_open(root, id, &s), UG_RSTORE_OK);
    cr_assert_eq(data_size(id), 3);
    cr_assert_eq(ug_rstore_write(s, "def", 3), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_commit(s, 5000), UG_RSTORE_OK);
    sha256_hex("abcdef", 6, want);
    ug_rstore_sha256_hex(s, got);
    cr_assert_str_eq(got, want);
    ug_rstore_close(s);
}

Test(rstore, one_writer)
{
    char id[UG_UPLOAD_ID_LEN + 1];
    ug_rstore_t *a, *b;
    create(id, 10, 0, 5000);
    cr_assert_eq(ug_rstore_open(root, id, &a), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_open(root, id, &b), UG_RSTORE_LOCKED);
    cr_assert_null(b);
    ug_rstore_close(a);
    cr_assert_eq(ug_rstore_open(root, id, &b), UG_RSTORE_OK);
    ug_rstore_remove(b);
    cr_assert_eq(ug_rstore_open(root, id, &b), UG_RSTORE_NOT_FOUND);
}

Test(rstore, deferred_length_and_completion)
{
    char id[UG_UPLOAD_ID_LEN + 1];
    ug_rstore_t *s;
    create(id, 0, 1, 5000);
    cr_assert_eq(ug_rstore_open(root, id, &s), UG_RSTORE_OK);
    cr_assert(ug_rstore_info(s)->deferred);
    cr_assert_eq(ug_rstore_set_length(s, 3), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_write(s, "xyz", 3), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_commit(s, 5000), UG_RSTORE_OK);
    cr_assert_eq(unlinkat(ug_rstore_dir_fd(s), UG_RSTORE_DATA, 0), 0); /* moved into an upload */
    cr_assert_eq(ug_rstore_mark_completed(s), UG_RSTORE_OK);
    ug_rstore_close(s);
    cr_assert_eq(ug_rstore_open(root, id, &s), UG_RSTORE_OK, "a completed upload opens without its data file");
    cr_assert(ug_rstore_info(s)->completed);
    cr_assert_eq(ug_rstore_info(s)->offset, 3);
    cr_assert_not(ug_rstore_info(s)->deferred);
    ug_rstore_close(s);
}

Test(rstore, sweep_removes_only_expired_and_unheld)
{
    char old[UG_UPLOAD_ID_LEN + 1], held[UG_UPLOAD_ID_LEN + 1], fresh[UG_UPLOAD_ID_LEN + 1];
    ug_rstore_t *h;
    ug_rstore_info_t info;
    create(old, 10, 0, 1000);
    create(held, 10, 0, 1000);
    create(fresh, 10, 0, 3000);
    cr_assert_eq(ug_rstore_open(root, held, &h), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_sweep_expired(root, 2000), 1);
    cr_assert_eq(ug_rstore_peek(root, old, &info), UG_RSTORE_NOT_FOUND);
    cr_assert_eq(ug_rstore_peek(root, fresh, &info), UG_RSTORE_OK);
    ug_rstore_info_clear(&info);
    ug_rstore_close(h);
    cr_assert_eq(ug_rstore_sweep_expired(root, 2000), 1);
    cr_assert_eq(ug_rstore_sweep_expired(root, 2000), 0);
}

/* A child process writes the prefix, so this process has no hash state for it and rebuilds it on a thread. */
static void write_in_child(const char *id, size_t len, char fill)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        ug_rstore_t *s;
        char *buf = malloc(len);
        memset(buf, fill, len);
        int ok = ug_rstore_open(root, id, &s) == UG_RSTORE_OK && ug_rstore_write(s, buf, len) == UG_RSTORE_OK &&
                 ug_rstore_commit(s, 5000) == UG_RSTORE_OK;
        ug_rstore_close(s);
        _exit(ok ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(rstore, a_prefix_written_elsewhere_is_rehashed)
{
    char id[UG_UPLOAD_ID_LEN + 1], want[65], got[65];
    const size_t big = 20 * 1024 * 1024;
    char *all = malloc(big + 3);
    ug_rstore_t *s;
    create(id, big + 3, 0, 5000);
    write_in_child(id, big, 'p');
    memset(all, 'p', big);
    memcpy(all + big, "end", 3);
    /* opened and closed at once: the rehash goes on alone and keeps its state for the next request */
    cr_assert_eq(ug_rstore_open(root, id, &s), UG_RSTORE_OK);
    ug_rstore_close(s);
    cr_assert_eq(ug_rstore_open(root, id, &s), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_write(s, "e", 1), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_commit(s, 5000), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_write(s, "nX", 2), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_discard(s), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_write(s, "nd", 2), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_commit(s, 5000), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_sha256_hex(s, got), UG_RSTORE_OK);
    sha256_hex(all, big + 3, want);
    cr_assert_str_eq(got, want);
    ug_rstore_close(s);
    free(all);
}

/* Appends of 9 MiB and more are hashed by the hasher's threads while the next ones are written: every commit (with
 * and without the flush) and a discard of a large chunk still leave the hash of exactly the committed bytes. */
Test(rstore, large_appends_hashed_off_the_caller)
{
    char id[UG_UPLOAD_ID_LEN + 1], want[65], got[65];
    const size_t piece = 9 * 1024 * 1024 + 7, pieces = 4;
    char *all = malloc(piece * pieces), *junk = malloc(piece);
    ug_rstore_t *s;
    for (size_t i = 0; i < piece * pieces; ++i)
        all[i] = (char)(i * 7 + i / 65521);
    memset(junk, 'x', piece);
    create(id, piece * pieces, 0, 5000);
    cr_assert_eq(ug_rstore_open(root, id, &s), UG_RSTORE_OK);
    for (size_t i = 0; i < pieces; ++i) {
        ug_rstore_set_fsync(s, i == 1); /* without the flush nothing else gives the threads time */
        for (size_t at = 0; at < piece; at += 65536) /* as a request body arrives */
            cr_assert_eq(ug_rstore_write(s, all + i * piece + at, piece - at < 65536 ? piece - at : 65536),
                         UG_RSTORE_OK);
        cr_assert_eq(ug_rstore_commit(s, 5000), UG_RSTORE_OK);
        if (i % 2 == 0) { /* a chunk whose checksum failed, dropped while its hashing may still run */
            cr_assert_eq(ug_rstore_write(s, junk, piece), UG_RSTORE_OK);
            cr_assert_eq(ug_rstore_discard(s), UG_RSTORE_OK);
        }
    }
    cr_assert_eq(ug_rstore_sha256_hex(s, got), UG_RSTORE_OK);
    sha256_hex(all, piece * pieces, want);
    cr_assert_str_eq(got, want);
    ug_rstore_close(s);
    /* the state kept for the next request is complete: one more byte-free commit gives the same hash */
    cr_assert_eq(ug_rstore_open(root, id, &s), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_sha256_hex(s, got), UG_RSTORE_OK);
    cr_assert_str_eq(got, want);
    ug_rstore_close(s);
    free(all);
    free(junk);
}

/* Concatenation: a partial upload held (locked, data untouched), its bytes appended to another upload by kernel copy
 * in slices; the hash and the data are the joined bytes'; the info keeps Upload-Concat. */
Test(rstore, append_from_a_held_upload)
{
    char part_id[UG_UPLOAD_ID_LEN + 1], final_id[UG_UPLOAD_ID_LEN + 1], want[65], got[65];
    const char bytes[] = "0123456789abcdefghij";
    ug_rstore_info_t info = {.length = 20, .created = 100, .expires = 5000, .route = "/files/*", .subject = "",
                             .metadata = "", .concat = "partial"};
    ug_rstore_t *part, *final, *again;
    cr_assert_eq(ug_rstore_create(root, &info, part_id), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_open(root, part_id, &part), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_write(part, bytes, 20), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_commit(part, 5000), UG_RSTORE_OK);
    ug_rstore_close(part);

    info.length = 40;
    info.concat = "final;/files/a /files/a";
    cr_assert_eq(ug_rstore_create(root, &info, final_id), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_hold(root, part_id, &part), UG_RSTORE_OK);
    cr_assert_str_eq(ug_rstore_id(part), part_id);
    cr_assert_str_eq(ug_rstore_info(part)->concat, "partial");
    cr_assert_eq(ug_rstore_hold(root, part_id, &again), UG_RSTORE_LOCKED);
    cr_assert_eq(ug_rstore_open(root, final_id, &final), UG_RSTORE_OK);
    int fd = openat(ug_rstore_dir_fd(part), UG_RSTORE_DATA, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ug_rstore_append_fd(final, fd, 0, 7), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_append_fd(final, fd, 7, 13), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_append_fd(final, fd, 0, 20), UG_RSTORE_OK);
    close(fd);
    cr_assert_eq(ug_rstore_pending(final), 40);
    cr_assert_eq(ug_rstore_commit(final, 5000), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_sha256_hex(final, got), UG_RSTORE_OK);
    char joined[41];
    memcpy(joined, bytes, 20);
    memcpy(joined + 20, bytes, 20);
    sha256_hex(joined, 40, want);
    cr_assert_str_eq(got, want);
    cr_assert_eq(data_size(final_id), 40);
    ug_rstore_close(final);
    ug_rstore_remove(part);
    cr_assert_eq(ug_rstore_peek(root, part_id, &info), UG_RSTORE_NOT_FOUND);
    ug_rstore_info_clear(&info);
    cr_assert_eq(ug_rstore_peek(root, final_id, &info), UG_RSTORE_OK);
    cr_assert_eq(info.offset, 40);
    cr_assert_str_eq(info.concat, "final;/files/a /files/a");
    ug_rstore_info_clear(&info);
}

/* An ordinary route's upload records its creating request (any bytes: hex in the info); a resumable route's upload,
 * or an info written before the fields existed, reads them as "". */
Test(rstore, the_creating_request_is_recorded)
{
    char id[UG_UPLOAD_ID_LEN + 1], plain[UG_UPLOAD_ID_LEN + 1];
    ug_rstore_info_t info;
    create(id, 10, 0, 5000);
    cr_assert_eq(ug_rstore_peek(root, id, &info), UG_RSTORE_OK);
    cr_assert_str_eq(info.method, "");
    cr_assert_str_eq(info.target, "");
    cr_assert_str_eq(info.content_type, "");
    ug_rstore_info_clear(&info);

    ug_rstore_info_t made = {.deferred = 1, .created = 100, .expires = 5000, .route = "/form", .subject = "",
                             .metadata = "", .method = "PUT", .target = "/form?a=1 b\n",
                             .content_type = "multipart/form-data; boundary=\"x y\""};
    cr_assert_eq(ug_rstore_create(root, &made, plain), UG_RSTORE_OK);
    ug_rstore_t *s;
    cr_assert_eq(ug_rstore_open(root, plain, &s), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_write(s, "abc", 3), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_commit(s, 6000), UG_RSTORE_OK); /* a rewritten info keeps them */
    ug_rstore_close(s);
    cr_assert_eq(ug_rstore_peek(root, plain, &info), UG_RSTORE_OK);
    cr_assert_str_eq(info.method, "PUT");
    cr_assert_str_eq(info.target, "/form?a=1 b\n");
    cr_assert_str_eq(info.content_type, "multipart/form-data; boundary=\"x y\"");
    cr_assert_eq(info.offset, 3);
    ug_rstore_info_clear(&info);

    char p[256];
    snprintf(p, sizeof(p), "%s/%s/%s/info", root, UG_RSTORE_DIR, plain);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs("length 3\ndeferred 0\noffset 1\ncreated 1\nexpires 9\ncompleted 0\nroute 2f78\nsubject \nmetadata \n", f);
    fclose(f);
    cr_assert_eq(ug_rstore_peek(root, plain, &info), UG_RSTORE_OK, "an info from before these fields still reads");
    cr_assert_str_eq(info.method, "");
    cr_assert_str_eq(info.route, "/x");
    ug_rstore_info_clear(&info);
}

/* The data file of an upload parsed into the app's files (not moved away) goes when completion is recorded. */
Test(rstore, completion_removes_a_data_file_left_in_place)
{
    char id[UG_UPLOAD_ID_LEN + 1];
    ug_rstore_t *s;
    create(id, 3, 0, 5000);
    cr_assert_eq(ug_rstore_open(root, id, &s), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_write(s, "xyz", 3), UG_RSTORE_OK);
    cr_assert_eq(ug_rstore_commit(s, 5000), UG_RSTORE_OK);
    cr_assert_eq(data_size(id), 3);
    cr_assert_eq(ug_rstore_mark_completed(s), UG_RSTORE_OK);
    cr_assert_eq(data_size(id), -1);
    ug_rstore_close(s);
    ug_rstore_info_t info;
    cr_assert_eq(ug_rstore_peek(root, id, &info), UG_RSTORE_OK);
    cr_assert(info.completed);
    ug_rstore_info_clear(&info);
}
