/*
 * log_stderr.h - text that libraries print on the C library's stderr stream
 * (h2o's "[WARN] ..." lines, OpenSSL, libyaml) turned into uploadgate's JSON
 * event lines, so that every line uploadgate writes is JSON.
 *
 * ug_log_stderr_install() replaces `stderr` with a stream whose bytes go
 * through a ug_log_lines_t: each complete line becomes one event (log.h),
 * event "h2o", its level taken from a leading "[WARN]" / "[ERROR]" / "[INFO]"
 * (removed from the message) or UG_LOG_WARN without one. Only the stdio stream
 * is replaced: uploadgate's logger writes to fd 2 itself, and whatever else
 * writes to fd 2 with write(2) (sanitizer reports) is untouched.
 *
 * Thread-safety: the installed stream is a stdio stream, locked by stdio per
 * call; a ug_log_lines_t used directly belongs to one thread at a time.
 */
#ifndef UG_SERVER_LOG_STDERR_H
#define UG_SERVER_LOG_STDERR_H

#include <stddef.h>
#include "common/log.h"

/* Bytes of a line kept before it is emitted in pieces (an event's message holds no more anyway). */
#define UG_LOG_LINE_MAX UG_LOG_MSG_MAX

typedef struct ug_log_lines {
    char buf[UG_LOG_LINE_MAX];
    size_t len; /* bytes of the current, unfinished line */
} ug_log_lines_t;

#define UG_LOG_LINES_INIT {.len = 0}

/*
 * The level of a foreign line by its prefix, and in *skip the bytes of that
 * prefix and the blanks after it (0 when there is none).
 */
ug_log_level_t ug_log_line_level(const char *line, size_t len, size_t *skip);

/*
 * Take `len` bytes of text in any split. Each '\n' ends a line, which is
 * logged (a trailing '\r' dropped; blank lines are not logged). A line longer
 * than UG_LOG_LINE_MAX goes out in pieces of that size.
 */
void ug_log_lines_feed(ug_log_lines_t *l, const char *p, size_t len);

/* Log what is left of an unfinished line, if anything. */
void ug_log_lines_flush(ug_log_lines_t *l);

/*
 * Make `stderr` the converting stream (line-buffered). 0, or -1 when the
 * stream cannot be made (stderr is then left as it was). Call once, after the
 * messages meant for a person (usage, configuration errors) are out of the way.
 */
int ug_log_stderr_install(void);

#endif
