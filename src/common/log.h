/*
 * log.h - uploadgate's JSON logs: one JSON object per line, access lines (one
 * per request) on the access fd, events (errors, lifecycle) on the event fd.
 * h2o-free.
 *
 * Every line is built whole in memory (with its '\n') and written with one
 * write(2), retried on EINTR and continued after a partial write, so lines from
 * several threads never interleave on an O_APPEND file, nor on a pipe as long
 * as a line fits in PIPE_BUF (4096 bytes; lines are normally a few hundred,
 * and POSIX makes no promise for longer ones). A line that cannot be built
 * (out of memory) or written (EPIPE, EBADF, a non-blocking fd that stays full
 * for a second) is dropped: logging never fails the caller. SIGPIPE must be
 * ignored by the process (as h2o requires anyway), or a closed reader kills it.
 *
 * Strings may hold any bytes: control characters are escaped and each
 * ill-formed UTF-8 sequence becomes U+FFFD (as in the manifest), so every line
 * is valid JSON. Event messages are cut at UG_LOG_MSG_MAX bytes.
 *
 * Thread-safety: every function may be called from any thread. The settings
 * (level, fds) are process-wide atomics with no lock; a change is seen by lines
 * begun after it. The module owns no fd: the caller keeps the fds open while
 * they are set, and closes them after setting others (or ug_log_reset).
 */
#ifndef UG_COMMON_LOG_H
#define UG_COMMON_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum { UG_LOG_DEBUG = 0, UG_LOG_INFO, UG_LOG_WARN, UG_LOG_ERROR } ug_log_level_t;

/* Bytes of an event's formatted message kept; the rest is cut and the line gets "truncated":true. */
#define UG_LOG_MSG_MAX 4096

/* "debug" | "info" | "warn" | "error" (exact, lower case, s[0..len)) -> *out, 0; anything else -> -1, *out untouched. */
int ug_log_level_parse(const char *s, size_t len, ug_log_level_t *out);
/* "debug", "info", "warn", "error"; "unknown" for a value outside the enum. Static string. */
const char *ug_log_level_name(ug_log_level_t l);

/*
 * Process-wide settings. Defaults: level info, access fd 1, event fd 2.
 * The level is the minimum for events; access lines count as info, so they are
 * suppressed only at warn or error. An out-of-range level is clamped to the enum.
 * A negative fd disables that stream.
 */
void ug_log_set_level(ug_log_level_t l);
ug_log_level_t ug_log_get_level(void);
void ug_log_set_fds(int access_fd, int event_fd);
/* Back to the defaults (info, 1, 2); for tests and for a process that closes its log fds. */
void ug_log_reset(void);

/* One finished request. Every pointer is borrowed for the duration of the call only. */
typedef struct ug_access_record {
    struct timespec time;   /* when the request began (CLOCK_REALTIME) */
    const char *request_id; /* NUL-terminated or NULL */
    const char *route;      /* the route's path, or NULL when none matched */
    const char *method;     /* method_len bytes, any content; NULL only with length 0 */
    size_t method_len;
    const char *path; /* as received (path + query), path_len bytes; NULL only with length 0 */
    size_t path_len;
    int status;
    uint64_t bytes_in;    /* request body bytes received */
    uint64_t bytes_out;   /* response body bytes sent */
    unsigned files;       /* files stored (0 for non-upload requests) */
    double duration_s;    /* negative or non-finite logs as 0 */
    const char *client;   /* client address, NUL-terminated (NULL logs as null) */
    const char *protocol; /* "HTTP/1.1", "HTTP/2", ... (NULL logs as null) */
    const char *subject;  /* auth subject or NULL */
    const char *error;    /* uploadgate's error code (e.g. "file_too_large") or NULL */
    int client_left;      /* the client was gone before the response reached it (status is still the one decided) */
} ug_access_record_t;

/*
 * The access line without the newline: a malloc'd NUL-terminated string the
 * caller frees, its length in *len (len may be NULL); NULL on OOM. Keys in order:
 *   time ("2026-11-25T22:42:33.123Z": RFC 3339, UTC, milliseconds), level ("info"),
 *   msg ("request"), request_id (string|null), route (string|null), method, path,
 *   status, bytes_in, bytes_out, files, duration_s (seconds, 6 decimals), client,
 *   protocol, then subject and error, each only when non-NULL, then client_left (true) only when set.
 */
char *ug_log_access_json(const ug_access_record_t *r, size_t *len);
/* Writes the access line to the access fd, unless the level is above info. */
void ug_log_access(const ug_access_record_t *r);

/*
 * An event on the event fd when l >= the level:
 *   {"time":"..","level":"<l>","msg":"<printf(fmt, ...)>"[,"event":"<event>"][,"truncated":true]}
 * `event` is a short machine-readable name ("listening", "shutdown", "reload",
 * "janitor", ...) or NULL. errno is preserved, so a caller may log and then
 * still report errno.
 */
void ug_log_event(ug_log_level_t l, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The same event for a message given as len bytes of text (NULs and control characters included, escaped in the
 * JSON), not a format: for text from elsewhere, such as a library's line on stderr. */
void ug_log_event_text(ug_log_level_t l, const char *event, const char *msg, size_t len);

/* The event line ug_log_event would write for a message already formatted, without the newline; malloc'd as
 * ug_log_access_json. `msg` is msg_len bytes, kept whole here (ug_log_event cuts it first). */
char *ug_log_event_json(const struct timespec *time, ug_log_level_t l, const char *event, const char *msg, size_t msg_len,
                        int truncated, size_t *len);

#endif
