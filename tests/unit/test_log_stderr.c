/*
 * test_log_stderr.c - library text on stderr becomes JSON event lines: levels
 * from the prefix, any split of the bytes, long and blank lines, and the
 * installed stream itself.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/log_stderr.h"

static FILE *event_file;

static void setup(void)
{
    ug_log_reset();
    event_file = tmpfile();
    cr_assert_not_null(event_file);
    ug_log_set_fds(-1, fileno(event_file));
}

static void teardown(void)
{
    ug_log_reset();
    fclose(event_file);
}

TestSuite(log_stderr, .init = setup, .fini = teardown);

/* The event lines written so far, parsed (each must be JSON); *n gets their count. Caller frees with free_lines. */
static json_t **lines(size_t *n)
{
    int fd = fileno(event_file);
    off_t end = lseek(fd, 0, SEEK_END);
    char *s = calloc(1, (size_t)end + 1);
    cr_assert_eq(pread(fd, s, (size_t)end, 0), end);
    json_t **out = calloc((size_t)end + 1, sizeof(*out));
    *n = 0;
    for (char *line = s, *nl; *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        cr_assert_not_null(nl, "unterminated line <%s>", line);
        *nl = '\0';
        json_error_t err;
        cr_assert_not_null(out[*n] = json_loads(line, JSON_ALLOW_NUL, &err), "not JSON: <%s>: %s", line, err.text);
        ++*n;
    }
    free(s);
    return out;
}

static void free_lines(json_t **l, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        json_decref(l[i]);
    free(l);
}

static void assert_event(json_t *e, const char *level, const char *msg)
{
    cr_assert_str_eq(json_string_value(json_object_get(e, "level")), level);
    cr_assert_str_eq(json_string_value(json_object_get(e, "event")), "h2o");
    cr_assert_str_eq(json_string_value(json_object_get(e, "msg")), msg);
}

Test(log_stderr, level_from_the_prefix)
{
    static const struct {
        const char *line;
        ug_log_level_t level;
        size_t skip;
    } cases[] = {
        {"[WARN] x", UG_LOG_WARN, 7},
        {"[ERROR]\t  x", UG_LOG_ERROR, 10},
        {"[INFO]x", UG_LOG_INFO, 6},
        /* Anything else: warn, nothing removed - even a near miss or a prefix cut short. */
        {"[lib/core/proxy.c] in request", UG_LOG_WARN, 0},
        {"[warn] x", UG_LOG_WARN, 0},
        {"[ERROR", UG_LOG_WARN, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        size_t skip = 99;
        cr_assert_eq(ug_log_line_level(cases[i].line, strlen(cases[i].line), &skip), cases[i].level, "%s", cases[i].line);
        cr_assert_eq(skip, cases[i].skip, "%s", cases[i].line);
    }
}

Test(log_stderr, each_line_is_one_event_whatever_the_split)
{
    static const char text[] = "[WARN] detected close by upstream before the expected timeout (see issue #679)\n"
                               "[ERROR] \"quoted\" \\ and \x01 control\r\n"
                               "\n"
                               "plain text\n"
                               "[INFO]\n"
                               "unfinished";
    for (size_t chunk = 1; chunk <= sizeof(text); chunk += 7) {
        ug_log_lines_t l = UG_LOG_LINES_INIT;
        cr_assert_eq(ftruncate(fileno(event_file), 0), 0);
        cr_assert_eq(lseek(fileno(event_file), 0, SEEK_SET), 0); /* the next write goes to the start again */
        for (size_t off = 0; off < sizeof(text) - 1; off += chunk)
            ug_log_lines_feed(&l, text + off, sizeof(text) - 1 - off < chunk ? sizeof(text) - 1 - off : chunk);
        size_t n;
        json_t **e = lines(&n);
        cr_assert_eq(n, 3u, "chunk %zu: %zu lines", chunk, n);
        assert_event(e[0], "warn", "detected close by upstream before the expected timeout (see issue #679)");
        assert_event(e[1], "error", "\"quoted\" \\ and \x01 control");
        assert_event(e[2], "warn", "plain text");
        free_lines(e, n);
        ug_log_lines_flush(&l); /* the unfinished line goes out when flushed */
        e = lines(&n);
        cr_assert_eq(n, 4u);
        assert_event(e[3], "warn", "unfinished");
        free_lines(e, n);
    }
}

Test(log_stderr, a_nul_in_the_text_is_kept_not_a_cut)
{
    static const char text[] = "[ERROR] a\0b\n\0\n";
    ug_log_lines_t l = UG_LOG_LINES_INIT;
    ug_log_lines_feed(&l, text, sizeof(text) - 1);
    size_t n;
    json_t **e = lines(&n);
    cr_assert_eq(n, 2u);
    cr_assert_eq(json_string_length(json_object_get(e[0], "msg")), 3u);
    cr_assert_eq(memcmp(json_string_value(json_object_get(e[0], "msg")), "a\0b", 3), 0);
    cr_assert_str_eq(json_string_value(json_object_get(e[0], "level")), "error");
    cr_assert_eq(json_string_length(json_object_get(e[1], "msg")), 1u, "a line of one NUL is not blank");
    free_lines(e, n);
}

Test(log_stderr, a_long_line_goes_out_in_pieces)
{
    size_t len = 2 * UG_LOG_LINE_MAX + 10;
    char *text = malloc(len + 1);
    memset(text, 'a', len);
    text[len] = '\n';
    ug_log_lines_t l = UG_LOG_LINES_INIT;
    ug_log_lines_feed(&l, text, len + 1);
    size_t n;
    json_t **e = lines(&n);
    cr_assert_eq(n, 3u);
    cr_assert_eq(strlen(json_string_value(json_object_get(e[0], "msg"))), (size_t)UG_LOG_LINE_MAX);
    cr_assert_eq(strlen(json_string_value(json_object_get(e[2], "msg"))), 10u);
    free_lines(e, n);
    free(text);
}

Test(log_stderr, the_level_setting_applies)
{
    ug_log_set_level(UG_LOG_ERROR);
    ug_log_lines_t l = UG_LOG_LINES_INIT;
    ug_log_lines_feed(&l, "[WARN] quiet\n[ERROR] loud\n", 26);
    size_t n;
    json_t **e = lines(&n);
    cr_assert_eq(n, 1u);
    assert_event(e[0], "error", "loud");
    free_lines(e, n);
}

Test(log_stderr, the_installed_stream_converts_fprintf_to_stderr)
{
    cr_assert_eq(ug_log_stderr_install(), 0);
    fprintf(stderr, "[WARN] from %s", "h2o");
    fprintf(stderr, " in two calls\n");
    fputs("no newline yet", stderr);
    size_t n;
    json_t **e = lines(&n);
    cr_assert_eq(n, 1u, "a line goes out when it ends");
    assert_event(e[0], "warn", "from h2o in two calls");
    free_lines(e, n);
    fflush(stderr);
    e = lines(&n);
    cr_assert_eq(n, 1u, "a flush does not end a line");
    free_lines(e, n);
    fputs("\n", stderr);
    e = lines(&n);
    cr_assert_eq(n, 2u);
    assert_event(e[1], "warn", "no newline yet");
    free_lines(e, n);
}
