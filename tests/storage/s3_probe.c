/*
 * s3_probe: the S3 request layer (src/store) against a real S3 server, with libcurl's easy interface.
 *
 *   s3_probe OUT_FILE KEY ABORT_KEY      (S3_ENDPOINT S3_REGION S3_BUCKET S3_ACCESS_KEY S3_SECRET_KEY from the
 *                                         environment, as tests/storage/swift.sh writes them to DIR/env)
 *
 * Runs: initiate KEY -> upload part 1 (5 MiB) and part 2 (1 byte), each streamed through a read callback with
 * its sha256 as x-amz-content-sha256 -> complete; then initiate ABORT_KEY -> abort. Writes the bytes it
 * uploaded to OUT_FILE (the caller reads the object back with another client and compares) and prints one
 * line per step. Any refusal prints the step, the HTTP status and S3's error code and message, and exits 1.
 * A transient failure (ug_s3_classify) is retried with ug_s3_backoff_ms, 4 attempts in all.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/s3_retry.h"
#include "store/s3_sign.h"
#include "store/s3_xml.h"

#define PART1_SIZE (5u * 1024 * 1024)
#define ATTEMPTS 4

typedef struct {
    const char *endpoint, *bucket;
    ug_s3_credentials_t creds;
} probe_config;

typedef struct {
    char *data;
    size_t len;
} buffer;

typedef struct {
    const char *data;
    size_t len, pos;
} reader;

typedef struct {
    long status;
    buffer body;
    char etag[256];
} answer;

static size_t on_body(char *p, size_t s, size_t n, void *u)
{
    buffer *b = u;
    size_t k = s * n;
    if (b->len + k > UG_S3_XML_MAX)
        return 0; /* an answer bigger than any we parse: stop the transfer */
    char *grown = realloc(b->data, b->len + k + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + b->len, p, k);
    b->data = grown;
    b->len += k;
    b->data[b->len] = '\0';
    return k;
}

static size_t on_header(char *p, size_t s, size_t n, void *u)
{
    answer *a = u;
    size_t k = s * n;
    if (k > 6 && strncasecmp(p, "ETag:", 5) == 0) {
        const char *v = p + 5;
        while (*v == ' ')
            v++;
        size_t len = strcspn(v, "\r\n");
        if (len < sizeof a->etag) {
            memcpy(a->etag, v, len);
            a->etag[len] = '\0';
        }
    }
    return k;
}

static size_t on_read(char *p, size_t s, size_t n, void *u)
{
    reader *r = u;
    size_t k = s * n < r->len - r->pos ? s * n : r->len - r->pos;
    memcpy(p, r->data + r->pos, k);
    r->pos += k;
    return k;
}

/* One request, once: method on bucket/key?query with `body` (streamed when upload, else as POSTFIELDS). */
static CURLcode send_once(const probe_config *cfg, const char *method, const char *key, const char *query,
                          const char *body, size_t body_len, int upload, answer *a)
{
    char *url = NULL, sha[65];
    struct curl_slist *headers = NULL;
    reader r = {body, body_len, 0};
    memset(a, 0, sizeof *a);
    if (ug_s3_object_url(cfg->endpoint, cfg->bucket, key, UG_S3_PATH_STYLE, query, &url) != UG_S3_OK)
        return CURLE_URL_MALFORMAT;
    ug_s3_payload_sha256(body, body_len, sha);
    ug_s3_request_t req = {.method = method, .url = url, .payload_sha256 = sha};
    CURL *easy = curl_easy_init();
    CURLcode rc = CURLE_FAILED_INIT;
    if (easy != NULL && ug_s3_setup_easy(easy, &cfg->creds, &req, &headers) == UG_S3_OK) {
        if (upload) {
            curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(easy, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(easy, CURLOPT_READDATA, &r);
            curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len);
        } else if (strcmp(method, "POST") == 0) {
            curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)body_len);
        }
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, &a->body);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, a);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT, 60L);
        rc = curl_easy_perform(easy);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &a->status);
    }
    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    free(url);
    return rc;
}

/* Print S3's refusal of `step` and return 0; 1 when the answer was a 2xx without an Error body. */
static int accepted(const char *step, CURLcode rc, const answer *a)
{
    ug_s3_error_t e = {0};
    int has_error = a->body.len > 0 && ug_s3_parse_error(a->body.data, a->body.len, &e) == UG_S3_XML_OK;
    if (rc == CURLE_OK && a->status / 100 == 2 && !has_error)
        return 1;
    printf("FAIL %s: curl=%d status=%ld code=%s message=%s\n", step, (int)rc, a->status,
           has_error ? e.code : "-", has_error ? e.message : "-");
    ug_s3_error_free(&e);
    return 0;
}

/* send_once until done or not worth retrying; 1 when S3 accepted. */
static int request(const probe_config *cfg, const char *step, const char *method, const char *key,
                   const char *query, const char *body, size_t body_len, int upload, answer *a)
{
    for (unsigned attempt = 1;; attempt++) {
        CURLcode rc = send_once(cfg, method, key, query, body, body_len, upload, a);
        ug_s3_error_t e = {0};
        int has_error = a->body.len > 0 && ug_s3_parse_error(a->body.data, a->body.len, &e) == UG_S3_XML_OK;
        ug_s3_verdict_t v = ug_s3_classify(rc, a->status, has_error ? e.code : NULL);
        ug_s3_error_free(&e);
        if (v != UG_S3_RETRY || attempt == ATTEMPTS)
            return accepted(step, rc, a);
        free(a->body.data);
        uint64_t ms = ug_s3_backoff_ms(attempt, 100, 2000, ((uint64_t)rand() << 31) ^ (uint64_t)rand());
        printf("retry %s after %llu ms\n", step, (unsigned long long)ms);
        usleep((useconds_t)(ms * 1000)); /* backoff between attempts, not synchronisation */
    }
}

static char *initiate(const probe_config *cfg, const char *key)
{
    ug_s3_param_t p = {"uploads", NULL};
    char *query = NULL, *id = NULL;
    answer a = {0};
    if (ug_s3_canonical_query(&p, 1, &query) != UG_S3_OK)
        return NULL;
    if (request(cfg, "initiate", "POST", key, query, "", 0, 0, &a) &&
        ug_s3_parse_initiate(a.body.data, a.body.len, &id) != UG_S3_XML_OK)
        printf("FAIL initiate: unreadable answer: %s\n", a.body.data ? a.body.data : "");
    free(a.body.data);
    free(query);
    return id;
}

/* upload part n of upload_id; its ETag (quotes kept) into etag */
static int upload_part(const probe_config *cfg, const char *key, const char *upload_id, unsigned n,
                       const char *data, size_t len, char *etag, size_t etag_cap)
{
    char num[16], *query = NULL;
    snprintf(num, sizeof num, "%u", n);
    ug_s3_param_t p[] = {{"partNumber", num}, {"uploadId", upload_id}};
    answer a = {0};
    int ok = ug_s3_canonical_query(p, 2, &query) == UG_S3_OK &&
             request(cfg, "upload part", "PUT", key, query, data, len, 1, &a);
    if (ok)
        snprintf(etag, etag_cap, "%s", a.etag);
    if (ok && etag[0] == '\0') {
        printf("FAIL upload part %u: no ETag\n", n);
        ok = 0;
    }
    free(a.body.data);
    free(query);
    return ok;
}

static int complete(const probe_config *cfg, const char *key, const char *upload_id, const ug_s3_part_t *parts,
                    size_t n)
{
    char *query = NULL, *body = NULL, *etag = NULL;
    size_t body_len = 0;
    ug_s3_param_t p = {"uploadId", upload_id};
    answer a = {0};
    int ok = ug_s3_canonical_query(&p, 1, &query) == UG_S3_OK &&
             ug_s3_build_complete(parts, n, &body, &body_len) == UG_S3_XML_OK &&
             request(cfg, "complete", "POST", key, query, body, body_len, 0, &a);
    if (ok && ug_s3_parse_complete(a.body.data, a.body.len, &etag) != UG_S3_XML_OK) {
        printf("FAIL complete: unreadable answer: %s\n", a.body.data ? a.body.data : "");
        ok = 0;
    }
    if (ok)
        printf("completed %s etag=%s\n", key, etag);
    free(etag);
    free(a.body.data);
    free(body);
    free(query);
    return ok;
}

static int abort_upload(const probe_config *cfg, const char *key, const char *upload_id)
{
    char *query = NULL;
    ug_s3_param_t p = {"uploadId", upload_id};
    answer a = {0};
    int ok = ug_s3_canonical_query(&p, 1, &query) == UG_S3_OK &&
             request(cfg, "abort", "DELETE", key, query, "", 0, 0, &a);
    if (ok)
        printf("aborted %s upload_id=%s status=%ld\n", key, upload_id, a.status);
    free(a.body.data);
    free(query);
    return ok;
}

static int write_file(const char *path, const char *a, size_t alen, const char *b, size_t blen)
{
    FILE *f = fopen(path, "wb");
    int ok = f != NULL && fwrite(a, 1, alen, f) == alen && fwrite(b, 1, blen, f) == blen;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    return ok;
}

static int run(const probe_config *cfg, const char *out, const char *key, const char *abort_key)
{
    char *part1 = malloc(PART1_SIZE), part2[1] = {'!'};
    char etag1[256] = "", etag2[256] = "";
    if (part1 == NULL)
        return 1;
    for (size_t i = 0; i < PART1_SIZE; i++) /* not all one byte: a mixed-up range would show */
        part1[i] = (char)((i * 2654435761u) >> 13);
    int ok = write_file(out, part1, PART1_SIZE, part2, 1);
    char *id = ok ? initiate(cfg, key) : NULL;
    ok = id != NULL;
    if (ok)
        printf("initiated %s upload_id=%s\n", key, id);
    ok = ok && upload_part(cfg, key, id, 1, part1, PART1_SIZE, etag1, sizeof etag1) &&
         upload_part(cfg, key, id, 2, part2, 1, etag2, sizeof etag2);
    ug_s3_part_t parts[] = {{1, etag1}, {2, etag2}};
    ok = ok && complete(cfg, key, id, parts, 2);
    free(id);
    char *id2 = ok ? initiate(cfg, abort_key) : NULL;
    ok = id2 != NULL && abort_upload(cfg, abort_key, id2);
    free(id2);
    free(part1);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: s3_probe OUT_FILE KEY ABORT_KEY (S3_* from the environment)\n");
        return 2;
    }
    probe_config cfg = {getenv("S3_ENDPOINT"), getenv("S3_BUCKET"),
                        {getenv("S3_ACCESS_KEY"), getenv("S3_SECRET_KEY"), getenv("S3_SESSION_TOKEN"),
                         getenv("S3_REGION")}};
    if (!cfg.endpoint || !cfg.bucket || !cfg.creds.access_key || !cfg.creds.secret_key || !cfg.creds.region) {
        fprintf(stderr, "s3_probe: S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION needed\n");
        return 2;
    }
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ug_s3_xml_init();
    int rc = run(&cfg, argv[1], argv[2], argv[3]);
    curl_global_cleanup();
    return rc;
}
