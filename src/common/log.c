/*
 * log.c - see log.h.
 *
 * Lines are written by hand rather than through jansson: the access line needs
 * a fixed key order, a fixed-point duration and a locale-independent format,
 * and building one buffer directly is what lets it go out in one write(2).
 */
#include "common/log.h"

#include "common/strbuf.h"
#include "common/utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_ACCESS_FD 1
#define DEFAULT_EVENT_FD 2
/* How long one write waits for a full non-blocking fd before the line is dropped: a stuck log reader must not stall
 * an event loop for ever, but a brief burst should not lose lines. */
#define WRITE_WAIT_MS 1000
/* Bytes a line buffer starts with: an access line is ~300 bytes, so usually one allocation builds it. */
#define LINE_RESERVE 512

static _Atomic int g_level = UG_LOG_INFO;
static _Atomic int g_access_fd = DEFAULT_ACCESS_FD;
static _Atomic int g_event_fd = DEFAULT_EVENT_FD;

static const char *const level_names[] = {"debug", "info", "warn", "error"}; /* the order of ug_log_level_t */
#define LEVEL_COUNT (sizeof(level_names) / sizeof(level_names[0]))

/* ---- settings ---- */

int ug_log_level_parse(const char *s, size_t len, ug_log_level_t *out)
{
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < LEVEL_COUNT; ++i) {
        if (len == strlen(level_names[i]) && memcmp(s, level_names[i], len) == 0) {
            *out = (ug_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

const char *ug_log_level_name(ug_log_level_t l)
{
    return (unsigned)l < LEVEL_COUNT ? level_names[l] : "unknown";
}

void ug_log_set_level(ug_log_level_t l)
{
    int v = (int)l;
    if (v < UG_LOG_DEBUG)
        v = UG_LOG_DEBUG;
    if (v > UG_LOG_ERROR)
        v = UG_LOG_ERROR;
    atomic_store(&g_level, v);
}

ug_log_level_t ug_log_get_level(void)
{
    return (ug_log_level_t)atomic_load(&g_level);
}

void ug_log_set_fds(int access_fd, int event_fd)
{
    atomic_store(&g_access_fd, access_fd);
    atomic_store(&g_event_fd, event_fd);
}

void ug_log_reset(void)
{
    ug_log_set_level(UG_LOG_INFO);
    ug_log_set_fds(DEFAULT_ACCESS_FD, DEFAULT_EVENT_FD);
}

/* ---- JSON values ---- */

/* The JSON escape of an ASCII byte that needs one (into esc, 7 bytes), or NULL when it goes out as is. */
static const char *ascii_escape(unsigned char c, char esc[7])
{
    static const char hex[] = "0123456789abcdef";
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    default:
        if (c >= 0x20)
            return NULL;
        snprintf(esc, 7, "\\u00%c%c", hex[c >> 4], hex[c & 0xF]);
        return esc;
    }
}

/* A JSON string of s[0..len): escaped, each ill-formed UTF-8 subpart replaced by U+FFFD. Safe runs are copied whole. */
static void put_string(ug_strbuf_t *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;
    char tmp[7];

    ug_strbuf_put(b, "\"", 1);
    while (i < len) {
        const char *esc;
        size_t n = 1, bad = 0;
        if (p[i] >= 0x80) {
            n = ug_utf8_sequence(p + i, len - i, &bad);
            if (n != 0) {
                i += n;
                continue;
            }
            esc = UG_UTF8_REPLACEMENT;
            n = bad;
        } else if ((esc = ascii_escape(p[i], tmp)) == NULL) {
            ++i;
            continue;
        }
        ug_strbuf_put(b, s + run, i - run);
        ug_strbuf_puts(b, esc);
        i += n;
        run = i;
    }
    ug_strbuf_put(b, s + run, i - run);
    ug_strbuf_put(b, "\"", 1);
}

static void put_cstring_or_null(ug_strbuf_t *b, const char *s)
{
    if (s == NULL)
        ug_strbuf_puts(b, "null");
    else
        put_string(b, s, strlen(s));
}

/* `,"key":` (no comma before the first key). */
static void put_key(ug_strbuf_t *b, const char *key)
{
    ug_strbuf_puts(b, b->len > 1 ? ",\"" : "\"");
    ug_strbuf_puts(b, key);
    ug_strbuf_puts(b, "\":");
}

/* "2026-11-25T22:42:33.123Z": RFC 3339 in UTC with milliseconds, as the manifest's received_at. */
static void put_time(ug_strbuf_t *b, const struct timespec *t)
{
    struct tm tm;
    char date[32];
    time_t sec = t->tv_sec;
    long ms = t->tv_nsec / 1000000;

    if (ms < 0 || ms > 999)
        ms = 0;
    if (gmtime_r(&sec, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(date, sizeof(date), "1970-01-01T00:00:00");
    ug_strbuf_printf(b, "\"%s.%03ldZ\"", date, ms);
}

/* Seconds with exactly 6 decimals, from integers: printf's %f would follow LC_NUMERIC and could write "0,5". */
static void put_duration(ug_strbuf_t *b, double s)
{
    if (!(s >= 0.0) || isinf(s)) /* NaN, negative (clock stepped back), infinite */
        s = 0.0;
    if (s > 1e12) /* keeps the microseconds in a uint64_t; 31,000 years is long enough */
        s = 1e12;
    uint64_t us = (uint64_t)(s * 1e6 + 0.5); /* rounds half up, as llround would for s >= 0, without libm */
    ug_strbuf_printf(b, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
}

/* ---- lines ---- */

static void build_access(ug_strbuf_t *b, const ug_access_record_t *r)
{
    ug_strbuf_reserve(b, LINE_RESERVE);
    ug_strbuf_puts(b, "{");
    put_key(b, "time");
    put_time(b, &r->time);
    put_key(b, "level");
    ug_strbuf_puts(b, "\"info\"");
    put_key(b, "msg");
    ug_strbuf_puts(b, "\"request\"");
    put_key(b, "request_id");
    put_cstring_or_null(b, r->request_id);
    put_key(b, "route");
    put_cstring_or_null(b, r->route);
    put_key(b, "method");
    put_string(b, r->method, r->method != NULL ? r->method_len : 0);
    put_key(b, "path");
    put_string(b, r->path, r->path != NULL ? r->path_len : 0);
    put_key(b, "status");
    ug_strbuf_printf(b, "%d", r->status);
    put_key(b, "bytes_in");
    ug_strbuf_printf(b, "%" PRIu64, r->bytes_in);
    put_key(b, "bytes_out");
    ug_strbuf_printf(b, "%" PRIu64, r->bytes_out);
    put_key(b, "files");
    ug_strbuf_printf(b, "%u", r->files);
    put_key(b, "duration_s");
    put_duration(b, r->duration_s);
    put_key(b, "client");
    put_cstring_or_null(b, r->client);
    put_key(b, "protocol");
    put_cstring_or_null(b, r->protocol);
    if (r->subject != NULL) {
        put_key(b, "subject");
        put_cstring_or_null(b, r->subject);
    }
    if (r->error != NULL) {
        put_key(b, "error");
        put_cstring_or_null(b, r->error);
    }
    if (r->client_left) {
        put_key(b, "client_left");
        ug_strbuf_puts(b, "true");
    }
    ug_strbuf_puts(b, "}");
}

static void build_event(ug_strbuf_t *b, const struct timespec *time, ug_log_level_t l, const char *event, const char *msg,
                        size_t msg_len, int truncated)
{
    ug_strbuf_reserve(b, LINE_RESERVE);
    ug_strbuf_puts(b, "{");
    put_key(b, "time");
    put_time(b, time);
    put_key(b, "level");
    put_cstring_or_null(b, ug_log_level_name(l));
    put_key(b, "msg");
    put_string(b, msg, msg != NULL ? msg_len : 0);
    if (event != NULL) {
        put_key(b, "event");
        put_cstring_or_null(b, event);
    }
    if (truncated) {
        put_key(b, "truncated");
        ug_strbuf_puts(b, "true");
    }
    ug_strbuf_puts(b, "}");
}

/* One write(2) for the whole line when the fd takes it; continue after EINTR, a partial write or a short EAGAIN. */
static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int ready = poll(&pfd, 1, WRITE_WAIT_MS);
            if (ready > 0 || (ready < 0 && errno == EINTR))
                continue;
        }
        return; /* EPIPE, EBADF, ENOSPC, a reader stuck for WRITE_WAIT_MS: drop the rest */
    }
}

/* Appends the newline, writes, frees. errno is kept for the caller. */
static void emit(ug_strbuf_t *b, int fd)
{
    int saved = errno;
    ug_strbuf_put(b, "\n", 1);
    if (!b->failed && fd >= 0)
        write_all(fd, b->p, b->len);
    ug_strbuf_free(b);
    errno = saved;
}

char *ug_log_access_json(const ug_access_record_t *r, size_t *len)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    build_access(&b, r);
    return ug_strbuf_take(&b, len);
}

void ug_log_access(const ug_access_record_t *r)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    if (atomic_load(&g_level) > UG_LOG_INFO)
        return;
    build_access(&b, r);
    emit(&b, atomic_load(&g_access_fd));
}

char *ug_log_event_json(const struct timespec *time, ug_log_level_t l, const char *event, const char *msg, size_t msg_len,
                        int truncated, size_t *len)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    build_event(&b, time, l, event, msg, msg_len, truncated);
    return ug_strbuf_take(&b, len);
}

/* Where to cut a message of more than max bytes: at max, or before a multi-byte character that max would split. */
static size_t cut_length(const char *msg, size_t max)
{
    const unsigned char *p = (const unsigned char *)msg;
    size_t start = max;
    while (start > 0 && max - start < 3 && (p[start - 1] & 0xC0) == 0x80)
        --start;
    if (start > 0 && p[start - 1] >= 0xC0 && ug_utf8_sequence(p + start - 1, max - start + 1, NULL) == 0)
        return start - 1;
    return max;
}

/* The event line for msg[0..len) at `now`, cut to UG_LOG_MSG_MAX bytes, written to the event fd. */
static void write_event(const struct timespec *now, ug_log_level_t l, const char *event, const char *msg, size_t len)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    size_t keep = len > UG_LOG_MSG_MAX ? cut_length(msg, UG_LOG_MSG_MAX) : len;
    build_event(&b, now, l, event, msg, keep, keep < len);
    emit(&b, atomic_load(&g_event_fd));
}

void ug_log_event(ug_log_level_t l, const char *event, const char *fmt, ...)
{
    int saved = errno;
    char msg[UG_LOG_MSG_MAX + 1];
    struct timespec now;
    va_list ap;

    if ((int)l < atomic_load(&g_level))
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* vsnprintf may set errno; the caller's survives the whole call. */
    errno = saved;
    /* An encoding error in a wide argument: say so rather than log nothing. */
    if (n < 0)
        n = snprintf(msg, sizeof(msg), "(unformattable message: %s)", fmt);
    write_event(&now, l, event, msg, (size_t)n);
}

void ug_log_event_text(ug_log_level_t l, const char *event, const char *msg, size_t len)
{
    int saved = errno;
    struct timespec now;

    if ((int)l < atomic_load(&g_level))
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    write_event(&now, l, event, msg, len);
    errno = saved;
}
