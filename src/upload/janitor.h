/*
 * janitor.h - removing what nobody will ever take from the storage root.
 *
 * The root holds one directory per upload (storage.h): "<id>.incoming" while
 * its body arrives, "<id>" once handed off to the app, where <id> is 32
 * lower-case hex digits; files "0", "1", ... and "<n>.part" while one is being
 * written. Only such directories are ever touched: ".spool" (h2o's spill
 * files), anything the operator put there, names that merely look similar (31
 * or 33 characters, upper-case hex, another suffix), and anything named like
 * an upload that is not a real directory (a symbolic link, a file) are left
 * alone. An incoming directory belongs to a request in flight: only
 * ug_janitor_remove_incoming() touches one, and only at start-up.
 * Every removal is made relative to an open directory (openat/fstatat/
 * unlinkat, O_NOFOLLOW, AT_SYMLINK_NOFOLLOW), so a concurrent rename or a
 * planted link cannot redirect it elsewhere: a link inside an upload dir is
 * removed as itself, its target never reached.
 *
 * Both functions may run while uploads are in flight in other threads (entries
 * vanishing under them are not errors), hold no state and allocate nothing.
 * `counts` must not be NULL; they add to it and never reset it. The caller
 * decides when to run them (housekeeping.h, main.c).
 */
#ifndef UG_UPLOAD_JANITOR_H
#define UG_UPLOAD_JANITOR_H

#include <stdint.h>
#include <time.h>

/*
 * Directory levels below an upload dir that a removal descends into. uploadgate
 * makes flat upload dirs; the bound keeps a hostile or runaway tree from using
 * up the stack or file descriptors (two per level). Anything deeper stays, and
 * its upload dir with it, counted as an error.
 */
#define UG_JANITOR_MAX_DEPTH 16

typedef struct ug_janitor_counts {
    uint64_t dirs_removed;  /* upload directories removed */
    uint64_t parts_removed; /* "<n>.part" files removed by ug_janitor_remove_stale_parts() */
    uint64_t errors;        /* entries that could not be listed, examined or removed */
} ug_janitor_counts_t;

/*
 * Remove handed-off upload directories under `root` older than `retention_s` at `now`.
 * A directory's age runs from the newest mtime (whole seconds) among itself and
 * the entries directly in it, so an upload still being written, or a file the
 * app touched, keeps its directory; an upload dir the app emptied ages from
 * that moment. Age exactly equal to the retention is kept (removed only when
 * strictly older); an mtime after `now` counts as fresh. A directory whose age
 * cannot be determined is kept and counted as an error. A removed directory
 * goes with everything in it, nested content included, without following links;
 * the files in it are not counted, only the directory (dirs_removed). If a
 * removal fails part-way, what is left stays for the next pass (one error).
 * Returns 0, or -1 when `root` cannot be opened or listed (errno set, counts
 * untouched); per-entry failures only count in errors.
 */
int ug_janitor_sweep(const char *root, uint64_t retention_s, time_t now, ug_janitor_counts_t *counts);

/*
 * At start-up, with no upload in flight: remove every incoming upload
 * directory with everything in it (dirs_removed). Its upload never reached the
 * app - no manifest names it - so nobody will ever take its files, complete or
 * not. The removal walks like the sweep's. 0, or -1 as above.
 */
int ug_janitor_remove_incoming(const char *root, ug_janitor_counts_t *counts);

/*
 * At start-up, with no upload in flight: remove every regular file named
 * "<digits>.part" directly in a handed-off upload directory (left by a version
 * that wrote into "<id>" from the start; crash leftovers;
 * parts_removed), then each upload directory that this leaves empty
 * (dirs_removed). An upload directory that was empty before is kept: the app
 * emptied it, and the retention sweep deals with it. Finished files ("0",
 * "1", ...) and anything else are kept. 0, or -1 as above.
 */
int ug_janitor_remove_stale_parts(const char *root, ug_janitor_counts_t *counts);

#endif
