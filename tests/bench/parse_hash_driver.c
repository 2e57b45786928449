/*
 * parse_hash_driver.c - the upload pipeline alone (multipart parse + sha256 +
 * store + manifest), on a fixed, deterministic in-memory multipart body, for
 * instruction counts under callgrind and for a native timing.
 *
 *   parse_hash_driver DIR [BODY_MIB [CHUNK_KIB [REPEAT]]]
 *
 * Builds a multipart/form-data body of BODY_MIB MiB (default 64) holding four
 * equal file parts of xorshift64 bytes (seed fixed, so the body and every
 * digest are the same on every run), then runs
 * ug_upload_new/start/feed/finish over it inside bench_run() - the function
 * callgrind is told to count (--toggle-collect=bench_run), so building the
 * body is not counted. CHUNK_KIB 0 (default) feeds the whole body in one call,
 * as src/server/handler.c does with h2o's buffered req->entity; another value feeds
 * chunks of that size, as a streaming front would. The stored files go to
 * DIR/<id>/ and are removed afterwards (ug_upload_abort). Prints the manifest's
 * sha256 list, the expected ones, and the native wall time.
 *
 * Links build/libugcore.a; headers from src/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "config/config.h"
#include "upload/upload.h"

#define BOUNDARY "ugbench-driver-boundary-4f2a9c"
#define NPARTS 4

static uint64_t xs = 0x9e3779b97f4a7c15ull;

static void fill(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        xs ^= xs << 13;
        xs ^= xs >> 7;
        xs ^= xs << 17;
        size_t k = n - i < 8 ? n - i : 8;
        memcpy(p + i, &xs, k);
    }
}

static void sha_hex(const unsigned char *p, size_t n, char *out)
{
    unsigned char d[32];
    unsigned dl = 0;
    EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL);
    for (unsigned i = 0; i < dl; ++i)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What callgrind counts: one whole upload. Returns 0 on success. */
__attribute__((noinline)) int bench_run(const ug_config_t *cfg, const char *body, size_t len, size_t chunk, char **json_out)
{
    static const char ct[] = "multipart/form-data; boundary=" BOUNDARY;
    ug_upload_request_t req = {
        .config = cfg,
        .route = &cfg->routes[0],
        .method = "POST",
        .method_len = 4,
        .path = "/upload",
        .path_len = 7,
        .content_type = ct,
        .content_type_len = sizeof(ct) - 1,
        .content_length = len,
        .client_address = "127.0.0.1",
        .protocol = "HTTP/1.1",
    };
    clock_gettime(CLOCK_REALTIME, &req.received_at);
    ug_upload_t *u = ug_upload_new(&req);
    if (u == NULL)
        return -1;
    ug_err_t e = ug_upload_start(u);
    for (size_t off = 0; e == UG_OK && off < len;) {
        size_t n = chunk == 0 || len - off < chunk ? len - off : chunk;
        e = ug_upload_feed(u, body + off, n) == UG_UPLOAD_FAILED ? ug_upload_error(u) : UG_OK;
        off += n;
    }
    const char *json = NULL;
    size_t json_len = 0;
    if (e == UG_OK)
        e = ug_upload_finish(u, &json, &json_len);
    if (e != UG_OK) {
        fprintf(stderr, "driver: upload failed: %s\n", ug_upload_message(u));
        ug_upload_abort(u);
        return -1;
    }
    *json_out = strndup(json, json_len);
    ug_upload_abort(u); /* remove the stored files: the driver keeps nothing */
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [BODY_MIB [CHUNK_KIB [REPEAT]]]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 64;
    size_t chunk = argc > 3 ? strtoul(argv[3], NULL, 10) * 1024 : 0;
    int repeat = argc > 4 ? atoi(argv[4]) : 1;

    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "backend: {url: http://127.0.0.1:9}\n"
             "storage: {dir: %s, min_free: 1MiB}\n"
             "routes:\n"
             "  - path: /upload\n"
             "    limits: {max_body: 4GiB, max_file: 4GiB, max_files: 64}\n",
             dir);
    ug_config_t *cfg = NULL;
    char err[512];
    if (ug_config_load_string("driver.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)) != UG_OK) {
        fprintf(stderr, "driver: %s\n", err);
        return 1;
    }

    /* The body: four file parts of equal size, payload = BODY_MIB MiB minus the framing. */
    size_t total = mib * 1024 * 1024;
    char head[NPARTS][256];
    size_t head_len[NPARTS], framing = 0;
    static const char tail[] = "\r\n--" BOUNDARY "--\r\n";
    for (int i = 0; i < NPARTS; ++i) {
        head_len[i] = (size_t)snprintf(head[i], sizeof(head[i]),
                                       "%s--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"files\"; filename=\"f%d.bin\"\r\n"
                                       "Content-Type: application/octet-stream\r\n\r\n",
                                       i == 0 ? "" : "\r\n", i);
        framing += head_len[i];
    }
    framing += sizeof(tail) - 1;
    size_t part = (total - framing) / NPARTS;
    char *body = malloc(total);
    if (body == NULL)
        return 1;
    size_t off = 0;
    char expect[NPARTS][65];
    for (int i = 0; i < NPARTS; ++i) {
        memcpy(body + off, head[i], head_len[i]);
        off += head_len[i];
        fill((unsigned char *)body + off, part);
        sha_hex((unsigned char *)body + off, part, expect[i]);
        off += part;
    }
    memcpy(body + off, tail, sizeof(tail) - 1);
    off += sizeof(tail) - 1;

    int rc = 0;
    for (int r = 0; r < repeat && rc == 0; ++r) {
        char *json = NULL;
        double t0 = now();
        if (bench_run(cfg, body, off, chunk, &json) != 0) {
            rc = 1;
            break;
        }
        double dt = now() - t0;
        int ok = 1;
        for (int i = 0; i < NPARTS; ++i)
            ok &= strstr(json, expect[i]) != NULL;
        printf("{\"body_bytes\": %zu, \"parts\": %d, \"part_bytes\": %zu, \"chunk_bytes\": %zu, \"seconds\": %.4f, "
               "\"MBps\": %.1f, \"digests_match\": %s}\n",
               off, NPARTS, part, chunk, dt, (double)off / dt / 1e6, ok ? "true" : "false");
        if (!ok) {
            fprintf(stderr, "driver: manifest digests differ from the expected ones:\n%s\n", json);
            rc = 1;
        }
        free(json);
    }
    free(body);
    ug_config_free(cfg);
    return rc;
}
