/*
 * janitor.c - see janitor.h.
 */
#include "upload/janitor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "upload/storage.h"

/* What an entry of the storage root is to the janitor, by its name alone. */
enum upload_name {
    NAME_OTHER,      /* not made by storage.c: never touched */
    NAME_HANDED_OFF, /* "<id>": the app's since its manifest went out */
    NAME_INCOMING,   /* "<id>.incoming": a request's, still receiving its body */
};

/*
 * Exactly UG_UPLOAD_ID_LEN lower-case hex digits, optionally followed by UG_STORAGE_INCOMING_SUFFIX: what
 * ug_storage_upload_begin() names a directory, nothing else.
 */
static enum upload_name classify_name(const char *name)
{
    size_t n = 0;
    while ((name[n] >= '0' && name[n] <= '9') || (name[n] >= 'a' && name[n] <= 'f'))
        ++n;
    if (n != UG_UPLOAD_ID_LEN)
        return NAME_OTHER;
    if (name[n] == '\0')
        return NAME_HANDED_OFF;
    return strcmp(name + n, UG_STORAGE_INCOMING_SUFFIX) == 0 ? NAME_INCOMING : NAME_OTHER;
}

/* "<digits>.part": the name storage.c gives a file while it is written. */
static int is_part_name(const char *name)
{
    size_t n = 0;
    while (name[n] >= '0' && name[n] <= '9')
        ++n;
    return n != 0 && strcmp(name + n, ".part") == 0;
}

/* Open `name` in `dirfd` as a directory; a symbolic link (O_NOFOLLOW) or a non-directory fails (ELOOP, ENOTDIR). */
static int open_dir_at(int dirfd, const char *name)
{
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * A DIR stream over a duplicate of `fd`, so `fd` itself stays open for the *at() calls and is closed by its owner
 * (closedir() closes the duplicate only). dup() shares the file offset, so an earlier listing through another
 * duplicate may have left it at the end: hence the rewind. NULL on failure, errno kept.
 */
static DIR *open_listing(int fd)
{
    int list_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (list_fd < 0)
        return NULL;
    DIR *d = fdopendir(list_fd);
    if (d == NULL) {
        int err = errno;
        close(list_fd);
        errno = err;
        return NULL;
    }
    rewinddir(d);
    return d;
}

/* The next entry other than "." and "..", or NULL at the end; a read error (not just the end) sets *failed. */
static struct dirent *next_entry(DIR *d, int *failed)
{
    for (;;) {
        errno = 0; /* readdir() returns NULL both at the end and on error; only errno tells them apart */
        struct dirent *e = readdir(d);
        if (e == NULL) {
            if (errno != 0)
                *failed = 1;
            return NULL;
        }
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            return e;
    }
}

/*
 * Remove everything inside the directory open as `fd` (which stays open), `level` directories below the upload dir
 * (the upload dir itself is level 0). ENOENT is no failure: the app may be removing the same files. 0, or -1 if
 * anything stayed.
 */
static int empty_dir(int fd, int level)
{
    DIR *d = open_listing(fd);
    struct dirent *e;
    int failed = 0;
    if (d == NULL)
        return -1;
    while ((e = next_entry(d, &failed)) != NULL) {
        struct stat st;
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                failed = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            /* flag 0 removes a symbolic link as itself: its target is never reached */
            if (unlinkat(fd, e->d_name, 0) != 0 && errno != ENOENT)
                failed = 1;
            continue;
        }
        if (level + 1 > UG_JANITOR_MAX_DEPTH) {
            failed = 1;
            continue;
        }
        /* O_NOFOLLOW: if the directory was swapped for a link since fstatat(), the open fails instead of following */
        int sub = open_dir_at(fd, e->d_name);
        if (sub < 0) {
            if (errno != ENOENT)
                failed = 1;
            continue;
        }
        int rc = empty_dir(sub, level + 1);
        close(sub);
        if (rc != 0 || (unlinkat(fd, e->d_name, AT_REMOVEDIR) != 0 && errno != ENOENT))
            failed = 1;
    }
    closedir(d);
    return failed ? -1 : 0;
}

/*
 * Newest mtime among the directory open as `fd` and its direct entries. -1 when an entry could not be examined:
 * it might be the fresh one, so the caller must not treat the directory as old. The directory itself is examined
 * last, so an entry created or removed while the listing ran shows up in its mtime.
 */
static int newest_mtime(int fd, time_t *out)
{
    DIR *d = open_listing(fd);
    struct dirent *e;
    struct stat st;
    int failed = 0;
    time_t newest;
    if (d == NULL)
        return -1;
    newest = 0;
    while ((e = next_entry(d, &failed)) != NULL) {
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT) /* gone meanwhile: its removal touched the directory, which is read below */
                failed = 1;
            continue;
        }
        if (st.st_mtime > newest)
            newest = st.st_mtime;
    }
    closedir(d);
    if (failed || fstat(fd, &st) != 0)
        return -1;
    *out = st.st_mtime > newest ? st.st_mtime : newest;
    return 0;
}

/* Called with each upload directory, open as `dir_fd` (closed by the caller afterwards); `name` is its entry in `root_fd`. */
typedef void (*visit_fn)(int root_fd, const char *name, int dir_fd, const void *arg, ug_janitor_counts_t *counts);

/* Call `visit` for every real directory directly under `root` named as `kind`. 0, or -1 (errno kept). */
static int for_each_upload_dir(const char *root, enum upload_name kind, visit_fn visit, const void *arg,
                               ug_janitor_counts_t *counts)
{
    int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0)
        return -1;
    DIR *d = open_listing(root_fd);
    if (d == NULL) {
        int err = errno;
        close(root_fd);
        errno = err;
        return -1;
    }
    struct dirent *e;
    int failed = 0;
    while ((e = next_entry(d, &failed)) != NULL) {
        struct stat st;
        if (classify_name(e->d_name) != kind)
            continue;
        if (fstatat(root_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT) /* gone meanwhile (the app, or a request's abort): nothing to do */
                ++counts->errors;
            continue;
        }
        if (!S_ISDIR(st.st_mode))
            continue; /* a symbolic link or a file with an id's name: not ours */
        int dir_fd = open_dir_at(root_fd, e->d_name);
        if (dir_fd < 0) {
            /* gone, or swapped for a link or a file since fstatat(): not ours either */
            if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR)
                ++counts->errors;
            continue;
        }
        visit(root_fd, e->d_name, dir_fd, arg, counts);
        close(dir_fd);
    }
    if (failed)
        ++counts->errors;
    closedir(d);
    close(root_fd);
    return 0;
}

/*
 * Remove the upload directory open as `dir_fd` with everything in it (entry `name` in `root_fd`). The contents go
 * through dir_fd, so they are those of the directory the caller judged even if its name was renamed meanwhile. The
 * final unlinkat() is by name, but AT_REMOVEDIR removes only an empty directory, so a swapped-in one with content
 * survives (and counts as an error).
 */
static void remove_whole(int root_fd, const char *name, int dir_fd, ug_janitor_counts_t *counts)
{
    if (empty_dir(dir_fd, 0) != 0) {
        ++counts->errors;
        return;
    }
    if (unlinkat(root_fd, name, AT_REMOVEDIR) != 0) {
        if (errno != ENOENT)
            ++counts->errors;
        return;
    }
    ++counts->dirs_removed;
}

struct sweep_arg {
    uint64_t retention_s;
    time_t now;
};

static void visit_sweep(int root_fd, const char *name, int dir_fd, const void *_arg, ug_janitor_counts_t *counts)
{
    const struct sweep_arg *arg = _arg;
    time_t newest;
    if (newest_mtime(dir_fd, &newest) != 0) {
        ++counts->errors; /* age unknown: keep it, a later pass may see more */
        return;
    }
    /* A future mtime (the clock was stepped back) means "fresh", never a huge unsigned age. */
    if (newest >= arg->now || (uint64_t)(arg->now - newest) <= arg->retention_s)
        return;
    /*
     * Between the age check and here only the app could add a file: uploadgate never writes into a handed-off
     * upload dir, and the app has left this one alone for the whole retention.
     */
    remove_whole(root_fd, name, dir_fd, counts);
}

int ug_janitor_sweep(const char *root, uint64_t retention_s, time_t now, ug_janitor_counts_t *counts)
{
    struct sweep_arg arg = {retention_s, now};
    return for_each_upload_dir(root, NAME_HANDED_OFF, visit_sweep, &arg, counts);
}

static void visit_parts(int root_fd, const char *name, int dir_fd, const void *arg, ug_janitor_counts_t *counts)
{
    (void)arg;
    DIR *d = open_listing(dir_fd);
    struct dirent *e;
    int removed = 0, others = 0, failed = 0;
    if (d == NULL) {
        ++counts->errors;
        return;
    }
    while ((e = next_entry(d, &failed)) != NULL) {
        struct stat st;
        /* Only a regular file: a link or directory named "<n>.part" was not made by storage.c. */
        if (is_part_name(e->d_name) && fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
            if (unlinkat(dir_fd, e->d_name, 0) == 0) {
                ++counts->parts_removed;
                ++removed;
                continue;
            }
            if (errno == ENOENT)
                continue;
            ++counts->errors;
        }
        ++others;
    }
    closedir(d);
    if (failed) {
        ++counts->errors; /* the listing may be incomplete: do not conclude the directory is empty */
        return;
    }
    /*
     * Only a directory our removals emptied goes: an upload dir that was empty already was emptied by the app,
     * which may still be about to use it; the retention sweep takes it in time. ENOTEMPTY: something appeared.
     */
    if (removed != 0 && others == 0) {
        if (unlinkat(root_fd, name, AT_REMOVEDIR) == 0)
            ++counts->dirs_removed;
        else if (errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
            ++counts->errors;
    }
}

int ug_janitor_remove_stale_parts(const char *root, ug_janitor_counts_t *counts)
{
    return for_each_upload_dir(root, NAME_HANDED_OFF, visit_parts, NULL, counts);
}

static void visit_incoming(int root_fd, const char *name, int dir_fd, const void *arg, ug_janitor_counts_t *counts)
{
    (void)arg;
    remove_whole(root_fd, name, dir_fd, counts);
}

int ug_janitor_remove_incoming(const char *root, ug_janitor_counts_t *counts)
{
    return for_each_upload_dir(root, NAME_INCOMING, visit_incoming, NULL, counts);
}
