/*
 * test_janitor.c - the storage janitor on a real directory tree: what it
 * removes, what it must never touch, and the counts it reports.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "upload/janitor.h"

#define ID_A "0123456789abcdef0123456789abcdef"
#define ID_B "fedcba9876543210fedcba9876543210"
#define ID_C "00000000000000000000000000000001"
#define NOW 2000000000
#define DAY 86400

static char root[64], outside[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    strcpy(root, "/tmp/ug-test-janitor-XXXXXX");
    strcpy(outside, "/tmp/ug-test-janitor-out-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    cr_assert_not_null(mkdtemp(outside));
}

static void teardown(void)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    nftw(outside, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(janitor, .init = setup, .fini = teardown);

static void path_of(char *out, const char *rel)
{
    snprintf(out, 256, "%s/%s", root, rel);
}

/* Set atime and mtime of root/rel (not following a link) to `t`. */
static void age(const char *rel, time_t t)
{
    char p[256];
    path_of(p, rel);
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0, "%s: %s", p, strerror(errno));
}

static void mk_dir(const char *rel)
{
    char p[256];
    path_of(p, rel);
    cr_assert_eq(mkdir(p, 0750), 0, "%s: %s", p, strerror(errno));
}

static void mk_file(const char *rel)
{
    char p[256];
    path_of(p, rel);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs("data", f);
    fclose(f);
}

static int there(const char *rel)
{
    char p[256];
    struct stat st;
    path_of(p, rel);
    return lstat(p, &st) == 0;
}

/* An upload dir with files "0" and "1", everything aged to `t` (entries first: creating them touches the dir). */
static void old_upload(const char *id, time_t t)
{
    char rel[128];
    mk_dir(id);
    snprintf(rel, sizeof(rel), "%s/0", id);
    mk_file(rel);
    age(rel, t);
    snprintf(rel, sizeof(rel), "%s/1", id);
    mk_file(rel);
    age(rel, t);
    age(id, t);
}

Test(janitor, removes_aged_upload_dirs_and_keeps_fresh_ones)
{
    ug_janitor_counts_t c = {0};
    old_upload(ID_A, NOW - 2 * DAY);
    old_upload(ID_B, NOW - 3600);
    cr_assert_eq(ug_janitor_sweep(root, DAY, NOW, &c), 0);
    cr_assert(!there(ID_A));
    cr_assert(there(ID_B "/0") && there(ID_B "/1"));
    cr_assert_eq(c.dirs_removed, 1);
    cr_assert_eq(c.errors, 0);
    /* counts add up across passes */
    cr_assert_eq(ug_janitor_sweep(root, 60, NOW, &c), 0);
    cr_assert(!there(ID_B));
    cr_assert_eq(c.dirs_removed, 2);
}

Test(janitor, a_fresh_file_keeps_an_old_directory)
{
    ug_janitor_counts_t c = {0};
    old_upload(ID_A, NOW - 2 * DAY);
    age(ID_A "/1", NOW - 10); /* the app touched it, or the upload is still being written */
    cr_assert_eq(ug_janitor_sweep(root, DAY, NOW, &c), 0);
    cr_assert(there(ID_A "/0") && there(ID_A "/1"));
    cr_assert_eq(c.dirs_removed, 0);
}

Test(janitor, age_equal_to_the_retention_is_kept)
{
    ug_janitor_counts_t c = {0};
    old_upload(ID_A, NOW - DAY);
    old_upload(ID_B, NOW - DAY - 1);
    cr_assert_eq(ug_janitor_sweep(root, DAY, NOW, &c), 0);
    cr_assert(there(ID_A));
    cr_assert(!there(ID_B));
    cr_assert_eq(c.dirs_removed, 1);
}

Test(janitor, never_touches_what_is_not_an_upload_dir)
{
    ug_janitor_counts_t c = {0};
    const char *names[] = {".spool", "notes", "0123456789abcdef0123456789abcde" /* 31 */,
                           "0123456789ABCDEF0123456789ABCDEF" /* upper case */, "0123456789abcdef0123456789abcdef0" /* 33 */};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); ++i) {
        char rel[128];
        mk_dir(names[i]);
        snprintf(rel, sizeof(rel), "%s/x", names[i]);
        mk_file(rel);
        age(rel, NOW - 9 * DAY);
        age(names[i], NOW - 9 * DAY);
    }
    mk_file(ID_C); /* a plain file with an id's name */
    age(ID_C, NOW - 9 * DAY);
    cr_assert_eq(ug_janitor_sweep(root, DAY, NOW, &c), 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); ++i) {
        char rel[128];
        snprintf(rel, sizeof(rel), "%s/x", names[i]);
        cr_assert(there(rel), "%s was removed", rel);
    }
    cr_assert(there(ID_C));
    cr_assert_eq(c.dirs_removed, 0);
}

/* A file outside the storage root that a symlink inside it will point at: it must survive every sweep. */
static void make_precious(char *target, size_t len)
{
    snprintf(target, len, "%s/precious", outside);
    FILE *f = fopen(target, "w");
    cr_assert_not_null(f);
    fclose(f);
}

Test(janitor, a_symlink_named_like_an_upload_is_not_followed)
{
    ug_janitor_counts_t c = {0};
    char target[256], link[256];
    make_precious(target, sizeof(target));
    struct timespec ts[2] = {{NOW - 9 * DAY, 0}, {NOW - 9 * DAY, 0}};
    utimensat(AT_FDCWD, target, ts, 0);
    utimensat(AT_FDCWD, outside, ts, 0);
    path_of(link, ID_A);
    cr_assert_eq(symlink(outside, link), 0);
    age(ID_A, NOW - 9 * DAY);
    cr_assert_eq(ug_janitor_sweep(root, DAY, NOW, &c), 0);
    cr_assert_eq(access(target, F_OK), 0, "the link's target was removed");
    cr_assert(there(ID_A), "the link itself is not an upload dir either");
    cr_assert_eq(c.dirs_removed, 0);
    cr_assert_eq(c.errors, 0);
    cr_assert_eq(ug_janitor_remove_stale_parts(root, &c), 0);
    cr_assert_eq(access(target, F_OK), 0);
    cr_assert_eq(c.dirs_removed + c.parts_removed + c.errors, 0);
}

Test(janitor, a_symlink_inside_an_old_upload_dir_is_removed_as_itself)
{
    ug_janitor_counts_t c = {0};
    char target[256], link[256];
    make_precious(target, sizeof(target));
    old_upload(ID_A, NOW - 2 * DAY);
    path_of(link, ID_A "/2");
    cr_assert_eq(symlink(outside, link), 0);
    path_of(link, ID_A "/3");
    cr_assert_eq(symlink(target, link), 0);
    age(ID_A "/2", NOW - 2 * DAY);
    age(ID_A "/3", NOW - 2 * DAY);
    age(ID_A, NOW - 2 * DAY);
    cr_assert_eq(ug_janitor_sweep(root, DAY, NOW, &c), 0);
    cr_assert(!there(ID_A));
    cr_assert_eq(access(target, F_OK), 0, "the link's target was removed");
    cr_assert_eq(c.dirs_removed, 1);
    cr_assert_eq(c.errors, 0);
}

Test(janitor, an_old_empty_upload_dir_goes)
{
    ug_janitor_counts_t c = {0};
    mk_dir(ID_A); /* the app moved the files away */
    age(ID_A, NOW - 2 * DAY);
    mk_dir(ID_B);
    age(ID_B, NOW - 10);
    cr_assert_eq(ug_janitor_sweep(root, DAY, NOW, &c), 0);
    cr_assert(!there(ID_A));
    cr_assert(there(ID_B));
    cr_assert_eq(c.dirs_removed, 1);
    cr_assert_eq(c.parts_removed, 0);
    cr_assert_eq(c.errors, 0);
}

Test(janitor, an_mtime_in_the_future_is_fresh)
{
    ug_janitor_counts_t c = {0};
    old_upload(ID_A, NOW + DAY); /* the clock was stepped back */
    cr_assert_eq(ug_janitor_sweep(root, 60, NOW, &c), 0);
    cr_assert(there(ID_A "/0"));
    cr_assert_eq(c.dirs_removed, 0);
}

Test(janitor, the_sweep_takes_unfinished_files_with_the_dir_but_counts_only_the_dir)
{
    ug_janitor_counts_t c = {7, 5, 3}; /* counts are added to, never reset */
    old_upload(ID_A, NOW - 2 * DAY);
    mk_file(ID_A "/2.part");
    age(ID_A "/2.part", NOW - 2 * DAY);
    age(ID_A, NOW - 2 * DAY);
    cr_assert_eq(ug_janitor_sweep(root, DAY, NOW, &c), 0);
    cr_assert(!there(ID_A));
    cr_assert_eq(c.dirs_removed, 8);
    cr_assert_eq(c.parts_removed, 5);
    cr_assert_eq(c.errors, 3);
}

Test(janitor, nested_content_of_an_old_upload_dir_goes_with_it)
{
    ug_janitor_counts_t c = {0};
    mk_dir(ID_A);
    mk_dir(ID_A "/sub");
    mk_file(ID_A "/sub/deep");
    age(ID_A "/sub/deep", NOW - 5 * DAY);
    age(ID_A "/sub", NOW - 5 * DAY);
    age(ID_A, NOW - 5 * DAY);
    cr_assert_eq(ug_janitor_sweep(root, DAY, NOW, &c), 0);
    cr_assert(!there(ID_A));
    cr_assert_eq(c.dirs_removed, 1);
    cr_assert_eq(c.errors, 0);
}

/* A chain of `levels` directories "d/d/..." below root/id, everything aged to `t`; the deepest holds a file. */
static void nested_upload(const char *id, int levels, time_t t)
{
    char rel[256];
    size_t n = (size_t)snprintf(rel, sizeof(rel), "%s", id);
    mk_dir(rel);
    for (int i = 0; i < levels; ++i) {
        n += (size_t)snprintf(rel + n, sizeof(rel) - n, "/d");
        mk_dir(rel);
    }
    snprintf(rel + n, sizeof(rel) - n, "/f");
    mk_file(rel);
    for (;;) { /* deepest first: each age() of an entry is then followed by one of its directory */
        age(rel, t);
        char *slash = strrchr(rel, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
    }
}

Test(janitor, nesting_up_to_the_bound_is_removed_deeper_is_kept_as_an_error)
{
    ug_janitor_counts_t c = {0};
    nested_upload(ID_A, UG_JANITOR_MAX_DEPTH, NOW - 2 * DAY);
    nested_upload(ID_B, UG_JANITOR_MAX_DEPTH + 1, NOW - 2 * DAY);
    cr_assert_eq(ug_janitor_sweep(root, DAY, NOW, &c), 0);
    cr_assert(!there(ID_A));
    cr_assert(there(ID_B), "a too deep tree must not be half-judged as gone");
    cr_assert_eq(c.dirs_removed, 1);
    cr_assert_eq(c.errors, 1);
}

Test(janitor, stale_parts_are_removed_at_startup)
{
    ug_janitor_counts_t c = {0};
    mk_dir(ID_A); /* finished files and an unfinished one */
    mk_file(ID_A "/0");
    mk_file(ID_A "/1");
    mk_file(ID_A "/3.part");
    mk_dir(ID_B); /* only unfinished ones: the directory goes too */
    mk_file(ID_B "/0.part");
    mk_file(ID_B "/1.part");
    mk_file(ID_A "/a.part"); /* not "<digits>.part": not storage.c's */
    mk_file(ID_A "/.part");
    mk_file(ID_A "/4.partial");
    mk_dir(ID_A "/5.part"); /* a directory with a part's name is not a part */
    mk_dir(ID_C);           /* empty already: the app emptied it; not ours to judge at start-up */
    mk_file("notes.part");
    mk_dir(".spool");
    mk_file(".spool/0.part");
    mk_dir("0123456789abcdef0123456789abcde"); /* 31 characters */
    mk_file("0123456789abcdef0123456789abcde/0.part");
    cr_assert_eq(ug_janitor_remove_stale_parts(root, &c), 0);
    cr_assert(there(ID_A "/0") && there(ID_A "/1"));
    cr_assert(there(ID_A "/a.part") && there(ID_A "/.part") && there(ID_A "/4.partial") && there(ID_A "/5.part"));
    cr_assert(there(".spool/0.part"));
    cr_assert(there("0123456789abcdef0123456789abcde/0.part"));
    cr_assert(!there(ID_A "/3.part"));
    cr_assert(!there(ID_B));
    cr_assert(there(ID_C));
    cr_assert(there("notes.part"));
    cr_assert_eq(c.parts_removed, 3);
    cr_assert_eq(c.dirs_removed, 1);
    cr_assert_eq(c.errors, 0);
}

Test(janitor, incoming_upload_dirs_are_removed_whole_at_startup)
{
    /* A crash's leftovers: complete files, an unfinished one, nothing at all, a nested tree - all never handed off. */
    ug_janitor_counts_t c = {0};
    char target[256];
    make_precious(target, sizeof(target));
    mk_dir(ID_A ".incoming");
    mk_file(ID_A ".incoming/0");
    mk_file(ID_A ".incoming/1");
    mk_file(ID_A ".incoming/2.part");
    mk_dir(ID_B ".incoming"); /* created before its first file */
    mk_dir(ID_C ".incoming");
    mk_dir(ID_C ".incoming/sub");
    mk_file(ID_C ".incoming/sub/x");
    char link[256];
    path_of(link, ID_C ".incoming/link");
    cr_assert_eq(symlink(target, link), 0);
    /* The app's (handed off), and names that are not an incoming upload's, stay - fresh or not. */
    old_upload(ID_B, NOW - 9 * DAY);
    const char *others[] = {"0123456789abcdef0123456789abcde.incoming" /* 31 */,
                            "0123456789ABCDEF0123456789ABCDEF.incoming" /* upper case */,
                            ID_A ".incomingx", ID_A ".Incoming", ID_A "incoming", ".incoming"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); ++i) {
        char rel[128];
        mk_dir(others[i]);
        snprintf(rel, sizeof(rel), "%s/0", others[i]);
        mk_file(rel);
    }
    cr_assert_eq(ug_janitor_remove_incoming(root, &c), 0);
    cr_assert(!there(ID_A ".incoming"));
    cr_assert(!there(ID_B ".incoming"));
    cr_assert(!there(ID_C ".incoming"));
    cr_assert_eq(access(target, F_OK), 0, "the link inside was followed");
    cr_assert(there(ID_B "/0") && there(ID_B "/1"));
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); ++i) {
        char rel[128];
        snprintf(rel, sizeof(rel), "%s/0", others[i]);
        cr_assert(there(rel), "%s was removed", rel);
    }
    cr_assert_eq(c.dirs_removed, 3);
    cr_assert_eq(c.parts_removed, 0);
    cr_assert_eq(c.errors, 0);
}

Test(janitor, a_symlink_or_file_named_like_an_incoming_upload_is_left_alone)
{
    ug_janitor_counts_t c = {0};
    char link[256];
    mk_file(ID_A ".incoming");
    path_of(link, ID_B ".incoming");
    cr_assert_eq(symlink(outside, link), 0);
    char victim[256];
    snprintf(victim, sizeof(victim), "%s/keep", outside);
    FILE *f = fopen(victim, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(ug_janitor_remove_incoming(root, &c), 0);
    cr_assert(there(ID_A ".incoming") && there(ID_B ".incoming"));
    cr_assert_eq(access(victim, F_OK), 0);
    cr_assert_eq(c.dirs_removed, 0);
}

Test(janitor, the_retention_sweep_leaves_incoming_uploads_to_their_requests)
{
    /* A request may still be receiving into an old-looking incoming dir (a slow client): only start-up removes one. */
    ug_janitor_counts_t c = {0};
    old_upload(ID_A ".incoming", NOW - 9 * DAY);
    old_upload(ID_B, NOW - 9 * DAY);
    cr_assert_eq(ug_janitor_sweep(root, DAY, NOW, &c), 0);
    cr_assert(there(ID_A ".incoming/0"));
    cr_assert(!there(ID_B));
    cr_assert_eq(c.dirs_removed, 1);
    ug_janitor_counts_t p = {0};
    mk_file(ID_A ".incoming/2.part");
    cr_assert_eq(ug_janitor_remove_stale_parts(root, &p), 0);
    cr_assert(there(ID_A ".incoming/2.part"), "the .part pass is for handed-off directories only");
}

Test(janitor, missing_root)
{
    ug_janitor_counts_t c = {0};
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/nope", root);
    errno = 0;
    cr_assert_eq(ug_janitor_sweep(missing, DAY, NOW, &c), -1);
    cr_assert_eq(errno, ENOENT);
    errno = 0;
    cr_assert_eq(ug_janitor_remove_stale_parts(missing, &c), -1);
    cr_assert_eq(errno, ENOENT);
    cr_assert_eq(c.dirs_removed + c.parts_removed + c.errors, 0);
}

Test(janitor, a_file_as_root_is_not_a_directory)
{
    ug_janitor_counts_t c = {0};
    mk_file("plain");
    char p[256];
    path_of(p, "plain");
    errno = 0;
    cr_assert_eq(ug_janitor_sweep(p, DAY, NOW, &c), -1);
    cr_assert_eq(errno, ENOTDIR);
    cr_assert(there("plain"));
}
