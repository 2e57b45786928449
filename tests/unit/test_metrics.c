/*
 * test_metrics.c - the exposition's exact text: families and their order,
 * label escaping and sorting, histogram buckets, gauges, number formatting,
 * and exact counts under concurrent updates.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

static ug_metrics_t *m;

static void setup(void)
{
    m = ug_metrics_new();
    cr_assert_not_null(m);
}

static void teardown(void)
{
    ug_metrics_free(m);
    m = NULL;
}

TestSuite(metrics, .init = setup, .fini = teardown);

/* Render, check the reported length against the bytes; caller frees. */
static char *render(void)
{
    size_t len = 0;
    char *s = ug_metrics_render(m, "1.2.3", &len);
    cr_assert_not_null(s);
    cr_assert_eq(len, strlen(s), "reported length %zu, actual %zu", len, strlen(s));
    return s;
}

/* `line` is one whole line of `text` (not the first: the exposition starts with a comment). */
static void assert_line(const char *text, const char *line)
{
    char needle[1024];
    snprintf(needle, sizeof(needle), "\n%s\n", line);
    cr_assert_not_null(strstr(text, needle), "missing line <%s> in:\n%s", line, text);
}

static void assert_no_line(const char *text, const char *line)
{
    char needle[1024];
    snprintf(needle, sizeof(needle), "\n%s\n", line);
    cr_assert_null(strstr(text, needle), "unexpected line <%s> in:\n%s", line, text);
}

/* A fresh rendering holds `line`. */
static void assert_renders_line(const char *line)
{
    char *s = render();
    assert_line(s, line);
    free(s);
}

/* `block` (several whole lines) appears in `text` as one piece. */
static void assert_block(const char *text, const char *block)
{
    cr_assert_not_null(strstr(text, block), "missing block:\n%s\nin:\n%s", block, text);
}

/* One family per line of source: H is its HELP and TYPE lines, H0 those and its one unlabelled sample at 0. */
/* clang-format off */
#define H(name, help, type) "# HELP " name " " help "\n# TYPE " name " " type "\n"
#define H0(name, help, type) H(name, help, type) name " 0\n"

#define EMPTY \
    H("uploadgate_build_info", "Build information; the value is always 1.", "gauge") \
    "uploadgate_build_info{version=\"1.2.3\"} 1\n" \
    H0("uploadgate_ready", "Whether uploadgate accepts traffic (1) or not (0).", "gauge") \
    H0("uploadgate_requests_in_flight", "Requests being served.", "gauge") \
    H0("uploadgate_connections", "Open client connections.", "gauge") \
    H0("uploadgate_storage_free_bytes", "Bytes available to uploadgate on the storage filesystem.", "gauge") \
    H0("uploadgate_janitor_removed_dirs_total", "Abandoned upload directories removed by the janitor.", "counter") \
    H0("uploadgate_janitor_removed_parts_total", "Stale .part files removed by the janitor.", "counter") \
    H0("uploadgate_resumable_expired_total", "Resumable uploads removed by the janitor after their expiry.", "counter") \
    H("uploadgate_requests_total", "Requests served, by route and HTTP status.", "counter") \
    H("uploadgate_request_duration_seconds", "Time from the request's start to the end of its response, by route.", \
      "histogram") \
    H("uploadgate_upload_bytes_total", "Bytes of stored files handed to the app, by route.", "counter") \
    H("uploadgate_upload_files_total", "Stored files handed to the app, by route.", "counter") \
    H("uploadgate_backend_errors_total", "Failed exchanges with the app, by reason.", "counter") \
    H("uploadgate_auth_failures_total", "Requests refused for their credentials, by reason.", "counter") \
    H("uploadgate_config_reloads_total", "Configuration reloads, by result.", "counter") \
    "uploadgate_config_reloads_total{result=\"failure\"} 0\n" \
    "uploadgate_config_reloads_total{result=\"success\"} 0\n"
/* clang-format on */

Test(metrics, empty_registry_exact_text)
{
    char *s = render();
    cr_assert_str_eq(s, EMPTY);
    free(s);
}

Test(metrics, every_family_has_help_and_type_and_counters_end_in_total)
{
    char *s = render();
    char *save = NULL;
    for (char *line = strtok_r(s, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char name[128], type[32];
        if (sscanf(line, "# TYPE %127s %31s", name, type) != 2)
            continue;
        size_t n = strlen(name);
        if (strcmp(type, "counter") == 0)
            cr_assert(n > 6 && strcmp(name + n - 6, "_total") == 0, "counter %s", name);
        else
            cr_assert(strcmp(type, "gauge") == 0 || strcmp(type, "histogram") == 0, "type %s", type);
    }
    free(s);
}

Test(metrics, known_sequence_gives_exact_lines)
{
    for (int i = 0; i < 4; ++i)
        ug_metrics_request_begin(m);
    ug_metrics_request_end(m, "/upload", 201, 0.2, 1, 1000, 2);
    ug_metrics_request_end(m, "/upload", 201, 1.5, 1, 24, 1);
    ug_metrics_request_end(m, "/upload", 413, 0.003, 0, 999, 9); /* not an upload: bytes and files ignored */
    ug_metrics_backend_error(m, "timeout");
    ug_metrics_backend_error(m, "connect");
    ug_metrics_backend_error(m, "connect");
    ug_metrics_auth_failure(m, "missing_token");
    ug_metrics_janitor(m, 2, 5);
    ug_metrics_janitor(m, 1, 0);
    ug_metrics_reload(m, 1);
    ug_metrics_reload(m, 0);
    ug_metrics_reload(m, 1);
    ug_metrics_set_storage_free(m, UINT64_C(18446744073709551615));
    ug_metrics_set_connections(m, 7);
    ug_metrics_set_ready(m, 42);

    char *s = render();
    assert_line(s, "uploadgate_ready 1");
    assert_line(s, "uploadgate_requests_in_flight 1");
    assert_line(s, "uploadgate_connections 7");
    assert_line(s, "uploadgate_storage_free_bytes 18446744073709551615");
    assert_line(s, "uploadgate_janitor_removed_dirs_total 3");
    assert_line(s, "uploadgate_janitor_removed_parts_total 5");
    assert_block(s, "# TYPE uploadgate_requests_total counter\n"
                    "uploadgate_requests_total{route=\"/upload\",code=\"201\"} 2\n"
                    "uploadgate_requests_total{route=\"/upload\",code=\"413\"} 1\n"
                    "# HELP ");
    assert_block(s, "# TYPE uploadgate_upload_bytes_total counter\n"
                    "uploadgate_upload_bytes_total{route=\"/upload\"} 1024\n"
                    "# HELP ");
    assert_block(s, "# TYPE uploadgate_upload_files_total counter\n"
                    "uploadgate_upload_files_total{route=\"/upload\"} 3\n"
                    "# HELP ");
    assert_block(s, "# TYPE uploadgate_backend_errors_total counter\n"
                    "uploadgate_backend_errors_total{reason=\"connect\"} 2\n"
                    "uploadgate_backend_errors_total{reason=\"timeout\"} 1\n"
                    "# HELP ");
    assert_block(s, "# TYPE uploadgate_auth_failures_total counter\n"
                    "uploadgate_auth_failures_total{reason=\"missing_token\"} 1\n"
                    "# HELP ");
    cr_assert(strlen(s) > 0 && strcmp(s + strlen(s) - strlen("success\"} 2\n"), "success\"} 2\n") == 0);
    assert_block(s, "# TYPE uploadgate_config_reloads_total counter\n"
                    "uploadgate_config_reloads_total{result=\"failure\"} 1\n"
                    "uploadgate_config_reloads_total{result=\"success\"} 2\n");
    assert_block(s, "# TYPE uploadgate_request_duration_seconds histogram\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"0.005\"} 1\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"0.01\"} 1\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"0.025\"} 1\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"0.05\"} 1\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"0.1\"} 1\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"0.25\"} 2\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"0.5\"} 2\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"1\"} 2\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"2.5\"} 3\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"5\"} 3\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"10\"} 3\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"30\"} 3\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"60\"} 3\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"120\"} 3\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"300\"} 3\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/upload\",le=\"+Inf\"} 3\n"
                    "uploadgate_request_duration_seconds_sum{route=\"/upload\"} 1.7029999999999998\n"
                    "uploadgate_request_duration_seconds_count{route=\"/upload\"} 3\n"
                    "# HELP ");
    free(s);
}

Test(metrics, render_is_deterministic)
{
    ug_metrics_request_end(m, "/b", 200, 0.1, 1, 1, 1);
    ug_metrics_request_end(m, "/a", 200, 0.1, 1, 1, 1);
    char *a = render(), *b = render();
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
}

Test(metrics, series_sorted_by_labels_whatever_the_arrival_order)
{
    const char *routes[] = {"/z", "none", "/a", "/m", "/a"};
    const int codes[] = {500, 200, 404, 200, 200};
    for (size_t i = 0; i < 5; ++i)
        ug_metrics_request_end(m, routes[i], codes[i], 0.0, 0, 0, 0);
    char *s = render();
    assert_block(s, "uploadgate_requests_total{route=\"/a\",code=\"200\"} 1\n"
                    "uploadgate_requests_total{route=\"/a\",code=\"404\"} 1\n"
                    "uploadgate_requests_total{route=\"/m\",code=\"200\"} 1\n"
                    "uploadgate_requests_total{route=\"/z\",code=\"500\"} 1\n"
                    "uploadgate_requests_total{route=\"none\",code=\"200\"} 1\n"
                    "# HELP ");
    assert_block(s, "uploadgate_request_duration_seconds_count{route=\"/a\"} 2\n"
                    "uploadgate_request_duration_seconds_bucket{route=\"/m\",le=\"0.005\"} 1\n");
    /* Requests that were not uploads leave no upload series. */
    assert_block(s, "# TYPE uploadgate_upload_bytes_total counter\n# HELP ");
    free(s);
}

Test(metrics, many_distinct_routes_grow_the_arrays)
{
    char route[32];
    for (int i = 999; i >= 0; --i) {
        snprintf(route, sizeof(route), "/r%04d", i);
        ug_metrics_request_end(m, route, 200, 0.0, 1, (uint64_t)i, 1);
    }
    char *s = render();
    assert_line(s, "uploadgate_upload_bytes_total{route=\"/r0000\"} 0");
    assert_line(s, "uploadgate_upload_bytes_total{route=\"/r0999\"} 999");
    cr_assert_lt(strstr(s, "{route=\"/r0000\",code"), strstr(s, "{route=\"/r0001\",code"));
    cr_assert_lt(strstr(s, "{route=\"/r0998\",code"), strstr(s, "{route=\"/r0999\",code"));
    free(s);
}

Test(metrics, label_values_escaped)
{
    ug_metrics_request_end(m, "/a\"b\\c\nd", 200, 0.0, 1, 5, 1);
    ug_metrics_backend_error(m, "x\"y");
    size_t len = 0;
    char *s = ug_metrics_render(m, "v\"1\\\n", &len);
    cr_assert_not_null(s);
    assert_line(s, "uploadgate_build_info{version=\"v\\\"1\\\\\\n\"} 1");
    assert_line(s, "uploadgate_requests_total{route=\"/a\\\"b\\\\c\\nd\",code=\"200\"} 1");
    assert_line(s, "uploadgate_upload_bytes_total{route=\"/a\\\"b\\\\c\\nd\"} 5");
    assert_line(s, "uploadgate_request_duration_seconds_bucket{route=\"/a\\\"b\\\\c\\nd\",le=\"+Inf\"} 1");
    assert_line(s, "uploadgate_backend_errors_total{reason=\"x\\\"y\"} 1");
    /* No raw newline inside a sample: every line starts with '#' or the metric prefix. */
    for (const char *line = s; *line != '\0'; line = strchr(line, '\n') + 1)
        cr_assert(line[0] == '#' || strncmp(line, "uploadgate_", 11) == 0, "stray line: %.40s", line);
    free(s);
}

Test(metrics, histogram_buckets_are_cumulative)
{
    ug_metrics_request_end(m, "/h", 200, 0.003, 0, 0, 0);
    ug_metrics_request_end(m, "/h", 200, 0.07, 0, 0, 0);
    ug_metrics_request_end(m, "/h", 200, 7, 0, 0, 0);
    char *s = render();
    assert_line(s, "uploadgate_request_duration_seconds_bucket{route=\"/h\",le=\"0.005\"} 1");
    assert_line(s, "uploadgate_request_duration_seconds_bucket{route=\"/h\",le=\"0.05\"} 1");
    assert_line(s, "uploadgate_request_duration_seconds_bucket{route=\"/h\",le=\"0.1\"} 2");
    assert_line(s, "uploadgate_request_duration_seconds_bucket{route=\"/h\",le=\"5\"} 2");
    assert_line(s, "uploadgate_request_duration_seconds_bucket{route=\"/h\",le=\"10\"} 3");
    assert_line(s, "uploadgate_request_duration_seconds_bucket{route=\"/h\",le=\"300\"} 3");
    assert_line(s, "uploadgate_request_duration_seconds_bucket{route=\"/h\",le=\"+Inf\"} 3");
    assert_line(s, "uploadgate_request_duration_seconds_sum{route=\"/h\"} 7.073");
    assert_line(s, "uploadgate_request_duration_seconds_count{route=\"/h\"} 3");
    free(s);
}

Test(metrics, bucket_bounds_are_inclusive_and_overflow_goes_to_inf_only)
{
    ug_metrics_request_end(m, "/h", 200, 0.005, 0, 0, 0); /* le means <= */
    ug_metrics_request_end(m, "/h", 200, 300, 0, 0, 0);
    ug_metrics_request_end(m, "/h", 200, 301, 0, 0, 0);
    char *s = render();
    assert_line(s, "uploadgate_request_duration_seconds_bucket{route=\"/h\",le=\"0.005\"} 1");
    assert_line(s, "uploadgate_request_duration_seconds_bucket{route=\"/h\",le=\"120\"} 1");
    assert_line(s, "uploadgate_request_duration_seconds_bucket{route=\"/h\",le=\"300\"} 2");
    assert_line(s, "uploadgate_request_duration_seconds_bucket{route=\"/h\",le=\"+Inf\"} 3");
    assert_line(s, "uploadgate_request_duration_seconds_sum{route=\"/h\"} 601.005");
    free(s);
}

Test(metrics, sums_print_round_trip_and_integers_without_exponent)
{
    ug_metrics_request_end(m, "/f", 200, 0.1, 0, 0, 0);
    ug_metrics_request_end(m, "/f", 200, 0.2, 0, 0, 0);
    ug_metrics_request_end(m, "/i", 200, 1e20, 0, 0, 0);
    ug_metrics_request_end(m, "/i", 200, 2, 0, 0, 0);
    ug_metrics_request_end(m, "/z", 200, 0, 0, 0, 0);
    char *s = render();
    assert_line(s, "uploadgate_request_duration_seconds_sum{route=\"/f\"} 0.30000000000000004");
    assert_line(s, "uploadgate_request_duration_seconds_sum{route=\"/i\"} 100000000000000000000");
    assert_line(s, "uploadgate_request_duration_seconds_sum{route=\"/z\"} 0");
    free(s);
}

Test(metrics, bad_durations_count_as_zero)
{
    ug_metrics_request_end(m, "/d", 200, -1.5, 0, 0, 0);
    ug_metrics_request_end(m, "/d", 200, NAN, 0, 0, 0);
    ug_metrics_request_end(m, "/d", 200, INFINITY, 0, 0, 0);
    char *s = render();
    assert_line(s, "uploadgate_request_duration_seconds_bucket{route=\"/d\",le=\"0.005\"} 3");
    assert_line(s, "uploadgate_request_duration_seconds_sum{route=\"/d\"} 0");
    assert_line(s, "uploadgate_request_duration_seconds_count{route=\"/d\"} 3");
    free(s);
}

Test(metrics, in_flight_goes_up_and_down)
{
    ug_metrics_request_begin(m);
    ug_metrics_request_begin(m);
    assert_renders_line("uploadgate_requests_in_flight 2");
    ug_metrics_request_end(m, "/x", 200, 0.0, 0, 0, 0);
    assert_renders_line("uploadgate_requests_in_flight 1");
    ug_metrics_request_end(m, "/x", 200, 0.0, 0, 0, 0);
    assert_renders_line("uploadgate_requests_in_flight 0");
    /* A stray end shows up as -1, not as 2^64 - 1. */
    ug_metrics_request_end(m, "/x", 200, 0.0, 0, 0, 0);
    assert_renders_line("uploadgate_requests_in_flight -1");
}

Test(metrics, gauges_take_the_latest_value)
{
    ug_metrics_set_ready(m, 1);
    ug_metrics_set_ready(m, 0);
    ug_metrics_set_connections(m, 10);
    ug_metrics_set_connections(m, 3);
    ug_metrics_set_storage_free(m, 5);
    char *s = render();
    assert_line(s, "uploadgate_ready 0");
    assert_line(s, "uploadgate_connections 3");
    assert_line(s, "uploadgate_storage_free_bytes 5");
    assert_no_line(s, "uploadgate_connections 10");
    free(s);
}

Test(metrics, null_route_reason_and_version)
{
    ug_metrics_request_end(m, NULL, 200, 0.0, 1, 1, 1);
    ug_metrics_auth_failure(m, NULL);
    char *s = ug_metrics_render(m, NULL, NULL);
    cr_assert_not_null(s);
    assert_line(s, "uploadgate_build_info{version=\"\"} 1");
    assert_line(s, "uploadgate_requests_total{route=\"\",code=\"200\"} 1");
    assert_line(s, "uploadgate_auth_failures_total{reason=\"\"} 1");
    free(s);
}

Test(metrics, null_registry_is_a_no_op)
{
    size_t len = 123;
    ug_metrics_request_begin(NULL);
    ug_metrics_request_end(NULL, "/x", 200, 0.1, 1, 1, 1);
    ug_metrics_backend_error(NULL, "connect");
    ug_metrics_auth_failure(NULL, "missing_token");
    ug_metrics_janitor(NULL, 1, 1);
    ug_metrics_reload(NULL, 1);
    ug_metrics_set_storage_free(NULL, 1);
    ug_metrics_set_connections(NULL, 1);
    ug_metrics_set_ready(NULL, 1);
    cr_assert_null(ug_metrics_render(NULL, "x", &len));
    cr_assert_eq(len, 123);
    ug_metrics_free(NULL);
}

/* ---- concurrency ---- */

#define THREADS 4
#define PER_THREAD 10000

/* All workers and the renderer start together, or short loops could simply run one after another. */
static pthread_barrier_t start;

static void *hammer(void *arg)
{
    const char *route = arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < PER_THREAD; ++i) {
        ug_metrics_request_begin(m);
        ug_metrics_request_end(m, (i & 1) ? route : "/shared", 200, 0.001, 1, 3, 1);
        if (i % 100 == 0)
            ug_metrics_backend_error(m, "timeout");
    }
    return NULL;
}

/* Renders while the others update; returns non-NULL on a failed render (asserting off the main thread is unsafe). */
static void *render_loop(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < 50; ++i) {
        char *s = ug_metrics_render(m, "x", NULL);
        if (s == NULL)
            return (void *)1;
        free(s);
    }
    return NULL;
}

Test(metrics, concurrent_updates_are_exact)
{
    pthread_t t[THREADS], r;
    const char *routes[THREADS] = {"/t0", "/t1", "/t2", "/t3"};
    cr_assert_eq(pthread_barrier_init(&start, NULL, THREADS + 1), 0);
    cr_assert_eq(pthread_create(&r, NULL, render_loop, NULL), 0);
    for (int i = 0; i < THREADS; ++i)
        cr_assert_eq(pthread_create(&t[i], NULL, hammer, (void *)routes[i]), 0);
    for (int i = 0; i < THREADS; ++i)
        pthread_join(t[i], NULL);
    void *render_failed = NULL;
    pthread_join(r, &render_failed);
    pthread_barrier_destroy(&start);
    cr_assert_null(render_failed);

    char *s = render();
    assert_line(s, "uploadgate_requests_in_flight 0");
    assert_line(s, "uploadgate_requests_total{route=\"/shared\",code=\"200\"} 20000");
    assert_line(s, "uploadgate_requests_total{route=\"/t0\",code=\"200\"} 5000");
    assert_line(s, "uploadgate_requests_total{route=\"/t3\",code=\"200\"} 5000");
    assert_line(s, "uploadgate_request_duration_seconds_count{route=\"/shared\"} 20000");
    assert_line(s, "uploadgate_upload_bytes_total{route=\"/shared\"} 60000");
    assert_line(s, "uploadgate_upload_files_total{route=\"/t1\"} 5000");
    assert_line(s, "uploadgate_backend_errors_total{reason=\"timeout\"} 400");

    /* The totals over all routes: exactly THREADS * PER_THREAD. */
    uint64_t total = 0;
    for (const char *p = s; (p = strstr(p, "\nuploadgate_requests_total{")) != NULL; ++p) {
        const char *value = strstr(p, "} ");
        cr_assert_not_null(value);
        total += strtoull(value + 2, NULL, 10);
    }
    cr_assert_eq(total, (uint64_t)THREADS * PER_THREAD);
    free(s);
}

Test(metrics, s3_families_only_once_enabled)
{
    ug_metrics_s3_sent(m, 100, 1); /* counted before enable, shown after */
    char *s = render();
    cr_assert_null(strstr(s, "uploadgate_s3_"), "a server without object storage shows none of its families");
    free(s);
    ug_metrics_s3_enable(m);
    ug_metrics_set_s3_up(m, 7);
    ug_metrics_s3_sent(m, 5 * 1024 * 1024, 1);
    ug_metrics_s3_retry(m);
    ug_metrics_s3_abort(m);
    ug_metrics_s3_swept(m, 2);
    ug_metrics_s3_request(m, "upload_part", 0.2);
    ug_metrics_s3_request(m, "upload_part", 2.0);
    ug_metrics_s3_request(m, "put", -1.0);
    s = render();
    const char *const lines[] = {
        "# TYPE uploadgate_s3_up gauge\nuploadgate_s3_up 1\n",
        "uploadgate_s3_sent_bytes_total 5242980\n",
        "uploadgate_s3_sent_parts_total 2\n",
        "uploadgate_s3_retries_total 1\n",
        "uploadgate_s3_aborts_total 1\n",
        "uploadgate_s3_swept_uploads_total 2\n",
        "# TYPE uploadgate_s3_request_duration_seconds histogram\n",
        "uploadgate_s3_request_duration_seconds_bucket{operation=\"put\",le=\"0.005\"} 1\n",
        "uploadgate_s3_request_duration_seconds_bucket{operation=\"upload_part\",le=\"0.25\"} 1\n",
        "uploadgate_s3_request_duration_seconds_bucket{operation=\"upload_part\",le=\"2.5\"} 2\n",
        "uploadgate_s3_request_duration_seconds_sum{operation=\"upload_part\"} 2.2\n",
        "uploadgate_s3_request_duration_seconds_count{operation=\"upload_part\"} 2\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        cr_assert_not_null(strstr(s, lines[i]), "missing: %s\nin:\n%s", lines[i], s);
    cr_assert(strstr(s, "uploadgate_s3_up 1") > strstr(s, "uploadgate_resumable_expired_total 0"),
              "after the scalars that always exist");
    free(s);
}
