/*
 * log_stderr.c - see log_stderr.h.
 *
 * fopencookie(3) is glibc's (and musl's): a FILE whose writes call our function. `stderr` is an ordinary variable of
 * the C library, and every library in the process reads it through the same symbol, so assigning it redirects their
 * fprintf(stderr, ...) without touching fd 2.
 */
#include "server/log_stderr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *prefix;
    ug_log_level_t level;
} prefixes[] = {
    {"[ERROR]", UG_LOG_ERROR},
    {"[WARN]", UG_LOG_WARN},
    {"[INFO]", UG_LOG_INFO},
};

ug_log_level_t ug_log_line_level(const char *line, size_t len, size_t *skip)
{
    *skip = 0;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); ++i) {
        size_t n = strlen(prefixes[i].prefix);
        if (len >= n && memcmp(line, prefixes[i].prefix, n) == 0) {
            while (n < len && (line[n] == ' ' || line[n] == '\t'))
                ++n;
            *skip = n;
            return prefixes[i].level;
        }
    }
    /* Unlabelled text on stderr is a library telling the operator something went wrong more often than not. */
    return UG_LOG_WARN;
}

static void emit_line(const char *p, size_t len)
{
    size_t skip;
    if (len > 0 && p[len - 1] == '\r')
        --len;
    ug_log_level_t level = ug_log_line_level(p, len, &skip);
    if (len == skip)
        return; /* blank, or a bare level */
    ug_log_event_text(level, "h2o", p + skip, len - skip); /* by length: a NUL in the text does not cut it */
}

void ug_log_lines_feed(ug_log_lines_t *l, const char *p, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t take = nl != NULL ? (size_t)(nl - p) : len;
        if (take > sizeof(l->buf) - l->len)
            take = sizeof(l->buf) - l->len;
        memcpy(l->buf + l->len, p, take);
        l->len += take;
        p += take;
        len -= take;
        if (len > 0 && *p == '\n') {
            ++p;
            --len;
            ug_log_lines_flush(l);
        } else if (l->len == sizeof(l->buf)) {
            ug_log_lines_flush(l);
        }
    }
}

void ug_log_lines_flush(ug_log_lines_t *l)
{
    if (l->len != 0)
        emit_line(l->buf, l->len);
    l->len = 0;
}

static ssize_t cookie_write(void *cookie, const char *buf, size_t size)
{
    ug_log_lines_feed(cookie, buf, size);
    return (ssize_t)size; /* logging never fails the writer */
}

static int cookie_close(void *cookie)
{
    ug_log_lines_flush(cookie);
    free(cookie);
    return 0;
}

int ug_log_stderr_install(void)
{
    ug_log_lines_t *l = malloc(sizeof(*l));
    if (l == NULL)
        return -1;
    l->len = 0;
    FILE *f = fopencookie(l, "w", (cookie_io_functions_t){.write = cookie_write, .close = cookie_close});
    if (f == NULL) {
        free(l);
        return -1;
    }
    /* Line-buffered: a line goes out when it ends, not when a buffer fills or the process exits. */
    setvbuf(f, NULL, _IOLBF, UG_LOG_LINE_MAX);
    fflush(stderr);
    stderr = f; /* the original stream stays open on fd 2 (the logger writes there itself); never closed */
    return 0;
}
