/*
 * fuzz_stderr_lines.c - libFuzzer target for the stderr line converter (src/server/log_stderr.c).
 *
 * Input: one byte that seeds the chunk sizes, then the text a library might
 * print on stderr (any bytes: control characters, invalid UTF-8, NULs, "\r",
 * "[WARN]"-like prefixes, lines longer than UG_LOG_LINE_MAX).
 *
 * The text is fed to one converter whole and to another in chunks of
 * 1..64 bytes chosen by the seed, each logging into its own memory file.
 * Properties (abort() on violation): every line written is a JSON object
 * with event "h2o", a level among warn/error/info and a string message of at
 * most UG_LOG_LINE_MAX bytes; both converters write the same events (level
 * and message) in the same order, so the split of the bytes never matters;
 * there are no more events than lines plus the pieces of over-long ones.
 *
 * Build: tests/fuzz/build.sh fuzz_stderr_lines
 * Run:   build-fuzz/fuzz_stderr_lines -max_total_time=60 tests/fuzz/corpus/stderr_lines
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "server/log_stderr.h"

/* Read back what was logged into `fd` (from its start); NUL-terminated, caller frees. */
static char *read_back(int fd, size_t *len)
{
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0)
        abort();
    char *s = malloc((size_t)end + 1);
    if (s == NULL || pread(fd, s, (size_t)end, 0) != end)
        abort();
    s[end] = '\0';
    *len = (size_t)end;
    return s;
}

/* Parse and check each line of `s`; the events as an array of [level, msg]. */
static json_t *events_of(char *s)
{
    json_t *out = json_array();
    for (char *line = s, *nl; *line != '\0'; line = nl + 1) {
        if ((nl = strchr(line, '\n')) == NULL)
            abort(); /* every event line ends */
        *nl = '\0';
        json_t *e = json_loads(line, JSON_ALLOW_NUL, NULL);
        const char *ev = json_string_value(json_object_get(e, "event"));
        const char *level = json_string_value(json_object_get(e, "level"));
        json_t *msg = json_object_get(e, "msg");
        if (e == NULL || ev == NULL || strcmp(ev, "h2o") != 0 || level == NULL || !json_is_string(msg))
            abort();
        if (strcmp(level, "warn") != 0 && strcmp(level, "error") != 0 && strcmp(level, "info") != 0)
            abort();
        if (json_string_length(msg) == 0 || json_string_length(msg) > 3 * UG_LOG_LINE_MAX) /* U+FFFD for bad bytes */
            abort();
        json_array_append_new(out, json_pack("[sO]", level, msg));
        json_decref(e);
    }
    return out;
}

static int memory_file(void)
{
    int fd = memfd_create("events", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned seed = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int whole_fd = memory_file(), split_fd = memory_file();

    ug_log_set_level(UG_LOG_DEBUG);
    ug_log_lines_t whole = UG_LOG_LINES_INIT, split = UG_LOG_LINES_INIT;
    ug_log_set_fds(-1, whole_fd);
    ug_log_lines_feed(&whole, text, len);
    ug_log_lines_flush(&whole);
    ug_log_set_fds(-1, split_fd);
    for (size_t off = 0; off < len;) {
        size_t n = 1 + (seed = seed * 1103515245u + 12345u) % 64;
        if (n > len - off)
            n = len - off;
        ug_log_lines_feed(&split, text + off, n);
        off += n;
    }
    ug_log_lines_flush(&split);
    ug_log_reset();

    size_t whole_len, split_len, newlines = 0;
    char *a = read_back(whole_fd, &whole_len), *b = read_back(split_fd, &split_len);
    json_t *ea = events_of(a), *eb = events_of(b);
    if (!json_equal(ea, eb))
        abort();
    for (size_t i = 0; i < len; i++)
        newlines += text[i] == '\n';
    if (json_array_size(ea) > newlines + 1 + len / UG_LOG_LINE_MAX)
        abort();

    json_decref(ea);
    json_decref(eb);
    free(a);
    free(b);
    close(whole_fd);
    close(split_fd);
    return 0;
}
