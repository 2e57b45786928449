/*
 * test_log.c - the JSON log lines: exact access line, key order, null and
 * optional members, escaping and UTF-8 repair, level filtering, which fd gets
 * what, message truncation, and whole lines from many threads at once.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

#define FFFD "\xEF\xBF\xBD"

static FILE *access_file, *event_file;

static void setup(void)
{
    ug_log_reset();
    access_file = tmpfile();
    event_file = tmpfile();
    cr_assert_not_null(access_file);
    cr_assert_not_null(event_file);
    ug_log_set_fds(fileno(access_file), fileno(event_file));
}

static void teardown(void)
{
    ug_log_reset();
    fclose(access_file);
    fclose(event_file);
}

TestSuite(log, .init = setup, .fini = teardown);

/* Everything written to f so far, NUL-terminated; caller frees. */
static char *slurp(FILE *f)
{
    int fd = fileno(f);
    off_t end = lseek(fd, 0, SEEK_END);
    cr_assert_geq(end, 0);
    char *s = malloc((size_t)end + 1);
    cr_assert_not_null(s);
    cr_assert_eq(pread(fd, s, (size_t)end, 0), end);
    s[end] = '\0';
    return s;
}

/* The text written to f is exactly one line; returns it parsed. */
static json_t *one_line(FILE *f)
{
    char *s = slurp(f);
    size_t n = strlen(s);
    cr_assert(n > 0 && s[n - 1] == '\n', "not one line: <%s>", s);
    cr_assert_eq(strchr(s, '\n'), s + n - 1, "more than one line: <%s>", s);
    json_error_t err;
    json_t *doc = json_loads(s, 0, &err);
    cr_assert_not_null(doc, "invalid JSON (%s): <%s>", err.text, s);
    free(s);
    return doc;
}

/* The members of `doc` are exactly `keys`, in that order. */
static void assert_keys(json_t *doc, const char *const *keys, size_t n)
{
    size_t i = 0;
    for (void *it = json_object_iter(doc); it != NULL; it = json_object_iter_next(doc, it), ++i) {
        cr_assert_lt(i, n, "extra key %s", json_object_iter_key(it));
        cr_assert_str_eq(json_object_iter_key(it), keys[i], "key %zu", i);
    }
    cr_assert_eq(i, n);
}

static void assert_empty(FILE *f)
{
    char *s = slurp(f);
    cr_assert_str_empty(s);
    free(s);
}

/* Lengths are explicit and the strings run on past them: only len bytes may be used. */
static const ug_access_record_t base = {
    .time = {.tv_sec = 1795633200, .tv_nsec = 123456789}, /* 2026-11-25T19:00:00.123456789Z */
    .request_id = "req-1",
    .route = "/upload",
    .method = "POSTGARBAGE",
    .method_len = 4,
    .path = "/upload?x=1#GARBAGE",
    .path_len = 11,
    .status = 201,
    .bytes_in = 20971520,
    .bytes_out = 57,
    .files = 2,
    .duration_s = 1.25,
    .client = "127.0.0.1",
    .protocol = "HTTP/2",
};

#define BASE_LINE                                                                                                                  \
    "{\"time\":\"2026-11-25T19:00:00.123Z\",\"level\":\"info\",\"msg\":\"request\",\"request_id\":\"req-1\","                      \
    "\"route\":\"/upload\",\"method\":\"POST\",\"path\":\"/upload?x=1\",\"status\":201,\"bytes_in\":20971520,"                     \
    "\"bytes_out\":57,\"files\":2,\"duration_s\":1.250000,\"client\":\"127.0.0.1\",\"protocol\":\"HTTP/2\"}"

/* The access line for r; caller frees. */
static char *access_json(const ug_access_record_t *r)
{
    size_t len = 0;
    char *s = ug_log_access_json(r, &len);
    cr_assert_not_null(s);
    cr_assert_eq(len, strlen(s), "reported length %zu, actual %zu", len, strlen(s));
    return s;
}

static json_t *access_doc(const ug_access_record_t *r)
{
    char *s = access_json(r);
    json_error_t err;
    json_t *doc = json_loads(s, JSON_ALLOW_NUL, &err);
    cr_assert_not_null(doc, "invalid JSON (%s): <%s>", err.text, s);
    free(s);
    return doc;
}

static void assert_access_text(const ug_access_record_t *r, const char *expected)
{
    char *s = access_json(r);
    cr_assert_str_eq(s, expected);
    free(s);
}

/* ---- the access line ---- */

Test(log, access_line_exact)
{
    assert_access_text(&base, BASE_LINE);
}

Test(log, access_line_fields_and_key_order)
{
    ug_access_record_t r = base;
    r.subject = "alice";
    r.error = "file_too_large";
    r.status = 413;
    r.files = 0;
    r.client_left = 1;
    json_t *doc = access_doc(&r);

    static const char *const keys[] = {"time",     "level",  "msg",      "request_id", "route", "method",
                                       "path",     "status", "bytes_in", "bytes_out",  "files", "duration_s",
                                       "client",   "protocol", "subject", "error",      "client_left"};
    assert_keys(doc, keys, sizeof(keys) / sizeof(keys[0]));

    cr_assert_str_eq(json_string_value(json_object_get(doc, "time")), "2026-11-25T19:00:00.123Z");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "level")), "info");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "msg")), "request");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "route")), "/upload");
    cr_assert_eq(json_integer_value(json_object_get(doc, "status")), 413);
    cr_assert_eq(json_integer_value(json_object_get(doc, "bytes_in")), 20971520);
    cr_assert_eq(json_integer_value(json_object_get(doc, "bytes_out")), 57);
    cr_assert(json_is_integer(json_object_get(doc, "files")));
    cr_assert_eq(json_integer_value(json_object_get(doc, "files")), 0);
    cr_assert(json_is_real(json_object_get(doc, "duration_s")));
    cr_assert_float_eq(json_real_value(json_object_get(doc, "duration_s")), 1.25, 1e-12);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "subject")), "alice");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "error")), "file_too_large");
    cr_assert(json_is_true(json_object_get(doc, "client_left")));
    json_decref(doc);
}

Test(log, null_route_and_request_id_are_json_null_and_optional_members_absent)
{
    ug_access_record_t r = base;
    r.route = NULL;
    r.request_id = NULL;
    json_t *doc = access_doc(&r);
    cr_assert(json_is_null(json_object_get(doc, "route")));
    cr_assert(json_is_null(json_object_get(doc, "request_id")));
    cr_assert_null(json_object_get(doc, "subject"));
    cr_assert_null(json_object_get(doc, "error"));
    cr_assert_null(json_object_get(doc, "client_left"));
    json_decref(doc);

    r = base;
    r.subject = "bob";
    doc = access_doc(&r);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "subject")), "bob");
    cr_assert_null(json_object_get(doc, "error"));
    json_decref(doc);
}

Test(log, big_counters_are_exact)
{
    ug_access_record_t r = base;
    r.bytes_in = UINT64_C(18446744073709551615);
    r.bytes_out = UINT64_C(9007199254740993); /* 2^53 + 1: not a double */
    r.files = 4294967295u;
    char *s = access_json(&r);
    cr_assert_not_null(strstr(s, ",\"bytes_in\":18446744073709551615,\"bytes_out\":9007199254740993,"
                                 "\"files\":4294967295,"));
    free(s);
}

static void assert_duration(double d, const char *expected)
{
    char want[64];
    ug_access_record_t r = base;
    r.duration_s = d;
    char *s = access_json(&r);
    snprintf(want, sizeof(want), ",\"duration_s\":%s,", expected);
    cr_assert_not_null(strstr(s, want), "%g: want %s in %s", d, want, s);
    free(s);
}

Test(log, duration_has_six_decimals)
{
    assert_duration(0, "0.000000");
    assert_duration(0.25, "0.250000");
    assert_duration(1.2345674, "1.234567");
    assert_duration(0.0000016, "0.000002");
    assert_duration(59.9999999, "60.000000");
    assert_duration(-3, "0.000000");
    assert_duration(NAN, "0.000000");
    assert_duration(INFINITY, "0.000000");
    assert_duration(1e300, "1000000000000.000000");
}

Test(log, time_is_utc_with_milliseconds)
{
    ug_access_record_t r = base;
    r.time = (struct timespec){.tv_sec = 0, .tv_nsec = 999999999};
    char *s = access_json(&r);
    cr_assert_not_null(strstr(s, "{\"time\":\"1970-01-01T00:00:00.999Z\","), "%s", s);
    free(s);
    r.time = (struct timespec){.tv_sec = 951782400 + 86399, .tv_nsec = 7000000}; /* leap day 2000 */
    s = access_json(&r);
    cr_assert_not_null(strstr(s, "{\"time\":\"2000-02-29T23:59:59.007Z\","), "%s", s);
    free(s);
}

Test(log, strings_escaped)
{
    ug_access_record_t r = base;
    r.subject = "a\"b\\c\nd\te\x01\x1f\x7f/\xC3\xA9\xF0\x9F\x98\x80";
    r.error = "\r\b\f";
    char *s = access_json(&r);
    cr_assert_not_null(strstr(s, ",\"subject\":\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f\x7f/\xC3\xA9\xF0\x9F\x98\x80\","
                                 "\"error\":\"\\r\\b\\f\"}"),
                       "%s", s);
    free(s);
    json_t *doc = access_doc(&r);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "subject")), r.subject);
    json_decref(doc);
}

Test(log, invalid_utf8_becomes_fffd_and_the_line_stays_valid_json)
{
    /* 0xff; a control char; overlong "/"; a surrogate; a valid e-acute; a cut 3-byte sequence at the end. */
    static const char path[] = "/up\xffload\x01/\xC0\xAF/\xED\xA0\x80/\xC3\xA9/\xE2\x82";
    ug_access_record_t r = base;
    r.path = path;
    r.path_len = sizeof(path) - 1;
    r.method = "P\x80ST";
    r.method_len = 5;
    r.client = "\xfe";
    json_t *doc = access_doc(&r);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "path")),
                     "/up" FFFD "load\x01/" FFFD FFFD "/" FFFD FFFD FFFD "/\xC3\xA9/" FFFD);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "method")), "P" FFFD "ST");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "client")), FFFD);
    json_decref(doc);

    char *s = access_json(&r);
    cr_assert_not_null(strstr(s, "\"path\":\"/up" FFFD "load\\u0001/"), "%s", s);
    free(s);
}

Test(log, nul_bytes_in_path_are_escaped)
{
    static const char path[] = "/a\0b";
    ug_access_record_t r = base;
    r.path = path;
    r.path_len = 4;
    char *s = access_json(&r);
    cr_assert_not_null(strstr(s, "\"path\":\"/a\\u0000b\""), "%s", s);
    free(s);
    json_t *doc = access_doc(&r);
    cr_assert_eq(json_string_length(json_object_get(doc, "path")), 4);
    cr_assert_eq(memcmp(json_string_value(json_object_get(doc, "path")), path, 4), 0);
    json_decref(doc);
}

Test(log, empty_and_null_strings)
{
    ug_access_record_t r = base;
    r.method = NULL;
    r.method_len = 0;
    r.path = "";
    r.path_len = 0;
    r.client = NULL;
    r.protocol = NULL;
    char *s = access_json(&r);
    cr_assert_not_null(strstr(s, "\"method\":\"\",\"path\":\"\","), "%s", s);
    cr_assert_not_null(strstr(s, "\"client\":null,\"protocol\":null}"), "%s", s);
    free(s);
}

/* ---- writing ---- */

Test(log, access_goes_to_the_access_fd_as_one_line)
{
    ug_log_access(&base);
    char *s = slurp(access_file);
    cr_assert_str_eq(s, BASE_LINE "\n");
    free(s);
    assert_empty(event_file);
}

Test(log, event_goes_to_the_event_fd_with_its_members)
{
    ug_log_event(UG_LOG_WARN, "reload", "config %s: %d routes", "a.yaml", 3);
    assert_empty(access_file);
    json_t *doc = one_line(event_file);
    static const char *const keys[] = {"time", "level", "msg", "event"};
    assert_keys(doc, keys, sizeof(keys) / sizeof(keys[0]));
    cr_assert_str_eq(json_string_value(json_object_get(doc, "level")), "warn");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "msg")), "config a.yaml: 3 routes");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "event")), "reload");
    const char *t = json_string_value(json_object_get(doc, "time"));
    int y, mo, d, h, mi, sec, ms;
    char z = 0;
    cr_assert_eq(strlen(t), 24, "%s", t);
    cr_assert_eq(sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms, &z), 8, "%s", t);
    cr_assert_eq(z, 'Z');
    cr_assert_geq(y, 2024);
    json_decref(doc);
}

Test(log, event_without_name_has_no_event_member)
{
    ug_log_event(UG_LOG_ERROR, NULL, "plain \"quoted\"\n");
    json_t *doc = one_line(event_file);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "level")), "error");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "msg")), "plain \"quoted\"\n");
    cr_assert_null(json_object_get(doc, "event"));
    cr_assert_null(json_object_get(doc, "truncated"));
    json_decref(doc);
}

Test(log, event_json_exact)
{
    struct timespec t = {.tv_sec = 1795633200, .tv_nsec = 5000000};
    size_t len = 0;
    char *s = ug_log_event_json(&t, UG_LOG_INFO, "listening", "on 0.0.0.0:8080", 15, 0, &len);
    cr_assert_str_eq(s, "{\"time\":\"2026-11-25T19:00:00.005Z\",\"level\":\"info\",\"msg\":\"on 0.0.0.0:8080\","
                        "\"event\":\"listening\"}");
    cr_assert_eq(len, strlen(s));
    free(s);
    s = ug_log_event_json(&t, UG_LOG_DEBUG, NULL, "cutXXX", 3, 1, NULL);
    cr_assert_str_eq(s, "{\"time\":\"2026-11-25T19:00:00.005Z\",\"level\":\"debug\",\"msg\":\"cut\",\"truncated\":true}");
    free(s);
}

/* The one event line's msg, which was truncated; caller frees. */
static char *truncated_msg(void)
{
    json_t *doc = one_line(event_file);
    cr_assert(json_is_true(json_object_get(doc, "truncated")));
    char *msg = strdup(json_string_value(json_object_get(doc, "msg")));
    json_decref(doc);
    return msg;
}

Test(log, long_messages_are_truncated)
{
    char *big = malloc(100000);
    memset(big, 'x', 99999);
    big[99999] = '\0';
    ug_log_event(UG_LOG_INFO, "big", "%s", big);
    char *msg = truncated_msg();
    cr_assert_eq(strlen(msg), UG_LOG_MSG_MAX);
    cr_assert_eq(strspn(msg, "x"), UG_LOG_MSG_MAX);
    free(msg);
    free(big);
}

/* A message of `prefix` then `ch` repeated, cut at UG_LOG_MSG_MAX: never mid-character, so never a U+FFFD. */
static void assert_cut(const char *prefix, const char *ch, size_t want_len)
{
    char big[3 * UG_LOG_MSG_MAX];
    size_t n = strlen(prefix), w = strlen(ch);
    memcpy(big, prefix, n);
    while (n + w < sizeof(big)) {
        memcpy(big + n, ch, w);
        n += w;
    }
    big[n] = '\0';
    cr_assert(fseek(event_file, 0, SEEK_SET) == 0 && ftruncate(fileno(event_file), 0) == 0);
    ug_log_event(UG_LOG_INFO, NULL, "%s", big);
    char *msg = truncated_msg();
    cr_assert_eq(strlen(msg), want_len, "%s%s: %zu", prefix, ch, strlen(msg));
    cr_assert_null(strstr(msg, FFFD));
    cr_assert_eq(memcmp(msg, big, want_len), 0);
    free(msg);
}

Test(log, truncation_keeps_whole_characters)
{
    assert_cut("", "\xC3\xA9", UG_LOG_MSG_MAX);              /* 2-byte, 4096 = 2 * 2048 */
    assert_cut("x", "\xC3\xA9", UG_LOG_MSG_MAX - 1);         /* 2-byte split at the end */
    assert_cut("", "\xE2\x82\xAC", UG_LOG_MSG_MAX - 1);      /* 3-byte, 4096 = 3 * 1365 + 1 */
    assert_cut("xx", "\xE2\x82\xAC", UG_LOG_MSG_MAX - 2);    /* 3-byte, 2 + 3 * 1364 + 2 */
    assert_cut("", "\xF0\x9F\x98\x80", UG_LOG_MSG_MAX);      /* 4-byte, 4096 = 4 * 1024 */
    assert_cut("x", "\xF0\x9F\x98\x80", UG_LOG_MSG_MAX - 3); /* 4-byte, 1 + 4 * 1023 + 3 */
}

Test(log, errno_survives_logging)
{
    ug_log_set_fds(-1, 999); /* nothing and EBADF */
    errno = ERANGE;
    ug_log_event(UG_LOG_ERROR, "x", "a %s", "b");
    cr_assert_eq(errno, ERANGE);
    ug_log_access(&base);
    cr_assert_eq(errno, ERANGE);
}

/* ---- levels ---- */

Test(log, level_parse_table)
{
    static const struct {
        const char *s;
        int ok;
        ug_log_level_t want;
    } cases[] = {
        {"debug", 1, UG_LOG_DEBUG},
        {"info", 1, UG_LOG_INFO},
        {"warn", 1, UG_LOG_WARN},
        {"error", 1, UG_LOG_ERROR},
        {"INFO", 0, 0},
        {"", 0, 0},
        {"verbose", 0, 0},
        {"warning", 0, 0},
        {"inf", 0, 0},
        {"info ", 0, 0},
        {" info", 0, 0},
        {"Debug", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        ug_log_level_t out = (ug_log_level_t)77;
        int rc = ug_log_level_parse(cases[i].s, strlen(cases[i].s), &out);
        if (cases[i].ok) {
            cr_assert_eq(rc, 0, "%s", cases[i].s);
            cr_assert_eq(out, cases[i].want, "%s", cases[i].s);
            cr_assert_str_eq(ug_log_level_name(out), cases[i].s);
        } else {
            cr_assert_eq(rc, -1, "<%s>", cases[i].s);
            cr_assert_eq((int)out, 77, "<%s> touched *out", cases[i].s);
        }
    }
    ug_log_level_t out;
    cr_assert_eq(ug_log_level_parse("infoGARBAGE", 4, &out), 0, "only len bytes count");
    cr_assert_eq(out, UG_LOG_INFO);
    cr_assert_eq(ug_log_level_parse(NULL, 0, &out), -1);
    cr_assert_str_eq(ug_log_level_name((ug_log_level_t)9), "unknown");
}

Test(log, level_defaults_set_and_clamp)
{
    cr_assert_eq(ug_log_get_level(), UG_LOG_INFO);
    ug_log_set_level(UG_LOG_ERROR);
    cr_assert_eq(ug_log_get_level(), UG_LOG_ERROR);
    ug_log_set_level((ug_log_level_t)42);
    cr_assert_eq(ug_log_get_level(), UG_LOG_ERROR);
    ug_log_reset();
    cr_assert_eq(ug_log_get_level(), UG_LOG_INFO);
}

/* How many lines f holds; each must parse. */
static size_t count_lines(FILE *f)
{
    char *s = slurp(f), *save = NULL;
    size_t n = 0;
    for (char *line = strtok_r(s, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save), ++n) {
        json_t *doc = json_loads(line, 0, NULL);
        cr_assert_not_null(doc, "<%s>", line);
        json_decref(doc);
    }
    free(s);
    return n;
}

Test(log, debug_suppressed_at_info_warn_shown)
{
    ug_log_event(UG_LOG_DEBUG, NULL, "hidden");
    ug_log_event(UG_LOG_INFO, NULL, "info");
    ug_log_event(UG_LOG_WARN, NULL, "warn");
    ug_log_event(UG_LOG_ERROR, NULL, "error");
    ug_log_access(&base);
    cr_assert_eq(count_lines(event_file), 3);
    cr_assert_eq(count_lines(access_file), 1);
    char *s = slurp(event_file);
    cr_assert_null(strstr(s, "hidden"));
    free(s);
}

Test(log, debug_level_shows_everything)
{
    ug_log_set_level(UG_LOG_DEBUG);
    ug_log_event(UG_LOG_DEBUG, NULL, "shown");
    ug_log_access(&base);
    json_t *doc = one_line(event_file);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "level")), "debug");
    json_decref(doc);
    cr_assert_eq(count_lines(access_file), 1);
}

Test(log, access_suppressed_at_warn_and_error)
{
    /* At each level: no access line, the event one level below is dropped, the event at the level is written. */
    static const struct {
        ug_log_level_t level, below;
    } cases[] = {{UG_LOG_WARN, UG_LOG_INFO}, {UG_LOG_ERROR, UG_LOG_WARN}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        ug_log_set_level(cases[i].level);
        ug_log_access(&base);
        ug_log_event(cases[i].below, NULL, "hidden");
        ug_log_event(cases[i].level, NULL, "shown");
        assert_empty(access_file);
        /* The event file is not truncated between cases: one "shown" line per case so far. */
        cr_assert_eq(count_lines(event_file), i + 1, "at %s", ug_log_level_name(cases[i].level));
    }
}

/* ---- many threads, one pipe ---- */

#define THREADS 8
#define PER_THREAD 1000

struct sink {
    int fd;
    char *data;
    size_t len, cap;
};

/* Drains the pipe until every writer is done, so writers never block for long. */
static void *drain(void *arg)
{
    struct sink *k = arg;
    for (;;) {
        if (k->cap - k->len < 65536) {
            k->cap = 2 * k->cap + 65536;
            k->data = realloc(k->data, k->cap);
            if (k->data == NULL)
                return (void *)1;
        }
        ssize_t n = read(k->fd, k->data + k->len, k->cap - k->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        k->len += (size_t)n;
    }
    k->data[k->len] = '\0';
    return NULL;
}

static void *writer(void *arg)
{
    int t = (int)(intptr_t)arg;
    char id[32], path[64];
    for (int i = 0; i < PER_THREAD; ++i) {
        if (i % 4 == 3) {
            ug_log_event(UG_LOG_WARN, "test", "thread %d line %d", t, i);
            continue;
        }
        ug_access_record_t r = base;
        snprintf(id, sizeof(id), "t%d-%d", t, i);
        snprintf(path, sizeof(path), "/upload?thread=%d&line=%d", t, i);
        r.request_id = id;
        r.path = path;
        r.path_len = strlen(path);
        ug_log_access(&r);
    }
    return NULL;
}

Test(log, threads_write_whole_lines)
{
    int fds[2];
    pthread_t reader, t[THREADS];
    struct sink k = {0};
    static unsigned char seen[THREADS][PER_THREAD];

    cr_assert_eq(pipe(fds), 0);
    k.fd = fds[0];
    ug_log_set_fds(fds[1], fds[1]);
    cr_assert_eq(pthread_create(&reader, NULL, drain, &k), 0);
    for (intptr_t i = 0; i < THREADS; ++i)
        cr_assert_eq(pthread_create(&t[i], NULL, writer, (void *)i), 0);
    for (int i = 0; i < THREADS; ++i)
        pthread_join(t[i], NULL);
    ug_log_reset();
    close(fds[1]);
    void *failed = NULL;
    pthread_join(reader, &failed);
    close(fds[0]);
    cr_assert_null(failed);

    size_t lines = 0;
    char *save = NULL;
    cr_assert(k.len > 0 && k.data[k.len - 1] == '\n');
    for (char *line = strtok_r(k.data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save), ++lines) {
        json_error_t err;
        json_t *doc = json_loads(line, 0, &err);
        cr_assert_not_null(doc, "line %zu (%s): <%s>", lines, err.text, line);
        int th = -1, i = -1;
        const char *id = json_string_value(json_object_get(doc, "request_id"));
        const char *msg = json_string_value(json_object_get(doc, "msg"));
        if (id != NULL)
            cr_assert_eq(sscanf(id, "t%d-%d", &th, &i), 2);
        else
            cr_assert_eq(sscanf(msg, "thread %d line %d", &th, &i), 2, "%s", line);
        cr_assert(th >= 0 && th < THREADS && i >= 0 && i < PER_THREAD, "%s", line);
        cr_assert_eq(seen[th][i], 0, "duplicate %s", line);
        seen[th][i] = 1;
        json_decref(doc);
    }
    cr_assert_eq(lines, THREADS * PER_THREAD);
    free(k.data);
}
