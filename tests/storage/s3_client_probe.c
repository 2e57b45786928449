/*
 * s3_client_probe: the S3 client engine (src/store/s3_client.h) on its own, driven as an event loop would drive it:
 * its own inbox woken through a pipe, a poll loop that drains it.
 *
 *   s3_client_probe [options] put KEY        stream stdin into object KEY; print the done JSON
 *   s3_client_probe [options] state          print the store state once the first probe answered (or 10 s passed)
 *   s3_client_probe [options] sweep AGE_MS   abort incomplete multipart uploads under the prefix older than AGE_MS
 *
 * Options: --endpoint URL --bucket B --region R --prefix P (defaults from S3_ENDPOINT, S3_BUCKET, S3_REGION; prefix
 * ""), --part-size BYTES (5 MiB), --in-flight N (4), --credentials FILE (else AWS_ACCESS_KEY_ID/... from the
 * environment), --abort-after BYTES (put: abort the object once that many bytes were written, then stop the
 * client and print {"aborted": BYTES}), --write-size BYTES (the size of each write; 65536).
 *
 * Output: one JSON line: {"bucket","key","etag","size","sha256"} or {"error","message"}; exit 0 on success, 1 on a
 * store failure, 2 on bad usage or start-up failure (the message on stderr).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/s3_client.h"

static int wake_pipe[2];
static int ready_pending, done_seen, exit_code = 1;
static size_t swept;
static ug_err_t sweep_err;

static void wake(void *arg)
{
    (void)arg;
    char b = 1;
    while (write(wake_pipe[1], &b, 1) < 0 && errno == EINTR)
        ;
}

/* Wait for a wake (or timeout_ms), then drain the inbox. */
static void pump(ug_s3_inbox_t *inbox, int timeout_ms)
{
    struct pollfd p = {.fd = wake_pipe[0], .events = POLLIN};
    if (poll(&p, 1, timeout_ms) > 0) {
        char buf[64];
        if (read(wake_pipe[0], buf, sizeof(buf)) < 0)
            perror("read");
    }
    ug_s3_inbox_drain(inbox);
}

static void on_ready(void *arg)
{
    (void)arg;
    ready_pending = 0;
}

/* A JSON string of s: quotes and backslashes escaped (keys, ETags and messages have no control characters). */
static void put_json_string(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        putchar(*s);
    }
    putchar('"');
}

static void print_error(ug_err_t err, const char *message)
{
    printf("{\"error\":\"%s\",\"message\":", ug_err_code(err));
    put_json_string(message != NULL ? message : "");
    printf("}\n");
}

static void on_done(void *arg, const ug_s3_object_done_t *d)
{
    (void)arg;
    done_seen = 1;
    if (d->err != UG_OK) {
        print_error(d->err, d->message);
        return;
    }
    printf("{\"bucket\":");
    put_json_string(d->bucket);
    printf(",\"key\":");
    put_json_string(d->key);
    printf(",\"etag\":");
    put_json_string(d->etag);
    printf(",\"size\":%llu,\"sha256\":\"%s\"}\n", (unsigned long long)d->size, d->sha256_hex);
    exit_code = 0;
}

static void on_swept(void *arg, size_t aborted, ug_err_t err)
{
    (void)arg;
    done_seen = 1;
    swept = aborted;
    sweep_err = err;
}

static void print_failure(ug_s3_object_t *o)
{
    const char *message = NULL;
    ug_err_t err = ug_s3_object_error(o, &message);
    print_error(err, message);
}

static int put(ug_s3_client_t *c, ug_s3_inbox_t *inbox, const char *key, size_t write_size, long long abort_after)
{
    ug_s3_object_t *o = ug_s3_object_begin(c, inbox, NULL, key, "application/octet-stream", on_ready, NULL);
    char *buf = malloc(write_size);
    unsigned long long written = 0;
    if (o == NULL || buf == NULL)
        return 2;
    for (;;) {
        size_t want = write_size;
        if (abort_after >= 0 && written + want > (unsigned long long)abort_after)
            want = (size_t)((unsigned long long)abort_after - written);
        ssize_t n = want > 0 ? read(0, buf, want) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        written += (size_t)n;
        ug_s3_write_result_t w = ug_s3_object_write(o, buf, (size_t)n);
        if (w == UG_S3_WRITE_PAUSE)
            ready_pending = 1;
        while (ready_pending)
            pump(inbox, 1000);
        if (w == UG_S3_WRITE_FAILED || ug_s3_object_error(o, NULL) != UG_OK) {
            print_failure(o);
            ug_s3_object_abort(o);
            free(buf);
            return 1;
        }
    }
    free(buf);
    if (abort_after >= 0) {
        ug_s3_object_abort(o);
        printf("{\"aborted\":%llu}\n", written);
        return 0;
    }
    ug_s3_object_finish(o, on_done, NULL);
    while (!done_seen)
        pump(inbox, 1000);
    if (exit_code == 0)
        ug_s3_object_release(o);
    else
        ug_s3_object_abort(o);
    return exit_code;
}

static int state(ug_s3_client_t *c)
{
    if (!ug_s3_client_wait_probed(c, 10000))
        fprintf(stderr, "no probe answered within 10 s\n");
    printf("{\"state\":\"%s\"}\n", ug_s3_store_state_name(ug_s3_client_state(c)));
    return 0;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v != NULL ? v : fallback;
}

int main(int argc, char **argv)
{
    ug_s3_config_t cfg = {.endpoint = (char *)env_or("S3_ENDPOINT", ""), .bucket = (char *)env_or("S3_BUCKET", ""),
                          .region = (char *)env_or("S3_REGION", "us-east-1"), .prefix = "", .path_style = 1,
                          .part_size = 5 * 1024 * 1024, .parts_in_flight = 4, .max_parts = UG_S3_MAX_PARTS};
    long long abort_after = -1;
    size_t write_size = 65536;
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (strcmp(o, "--endpoint") == 0)
            cfg.endpoint = (char *)v;
        else if (strcmp(o, "--bucket") == 0)
            cfg.bucket = (char *)v;
        else if (strcmp(o, "--region") == 0)
            cfg.region = (char *)v;
        else if (strcmp(o, "--prefix") == 0)
            cfg.prefix = (char *)v;
        else if (strcmp(o, "--part-size") == 0)
            cfg.part_size = strtoull(v, NULL, 10);
        else if (strcmp(o, "--in-flight") == 0)
            cfg.parts_in_flight = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(o, "--credentials") == 0)
            cfg.credentials_file = (char *)v;
        else if (strcmp(o, "--abort-after") == 0)
            abort_after = strtoll(v, NULL, 10);
        else if (strcmp(o, "--write-size") == 0)
            write_size = strtoull(v, NULL, 10);
        else
            break;
    }
    if (i >= argc || (strcmp(argv[i], "state") != 0 && i + 1 >= argc)) {
        fprintf(stderr, "usage: s3_client_probe [options] put KEY | state | sweep AGE_MS\n");
        return 2;
    }
    char why[512] = "";
    if (pipe(wake_pipe) != 0)
        return 2;
    ug_s3_client_t *c = ug_s3_client_start(&cfg, why, sizeof(why));
    if (c == NULL) {
        fprintf(stderr, "start: %s\n", why);
        return 2;
    }
    ug_s3_inbox_t *inbox = ug_s3_inbox_new(wake, NULL);
    int rc = 2;
    if (strcmp(argv[i], "put") == 0) {
        rc = put(c, inbox, argv[i + 1], write_size, abort_after);
    } else if (strcmp(argv[i], "state") == 0) {
        rc = state(c);
    } else if (strcmp(argv[i], "sweep") == 0) {
        ug_s3_sweep(c, inbox, strtoull(argv[i + 1], NULL, 10), on_swept, NULL);
        while (!done_seen)
            pump(inbox, 1000);
        printf("{\"aborted\":%zu,\"error\":\"%s\"}\n", swept, ug_err_code(sweep_err));
        rc = sweep_err == UG_OK ? 0 : 1;
    }
    fflush(stdout);
    ug_s3_client_stop(c, 30000); /* an abort's clean-up runs to its end here */
    ug_s3_inbox_free(inbox);
    return rc;
}
