/*
 * SigV4 for S3 (src/store/s3_sign.c). The signature itself is libcurl 7.88's (CURLOPT_AWS_SIGV4): these tests
 * drive a real curl easy handle set up by ug_s3_setup_easy against a loopback listener that captures the
 * request head, with the published vectors' fixed date passed as X-Amz-Date (curl 7.88 signs with that
 * header's time when the caller sets one), and compare the Authorization header byte for byte. The canonical
 * query and URL builders are tested directly.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "s3_sigv4_vectors.h"
#include "store/s3_sign.h"

/* ---- a one-request loopback listener ---- */

typedef struct {
    int fd;
    char head[16384];
    size_t head_len;
    char body[4096];
    size_t body_len;
} listener;

static void listener_open(listener *l)
{
    memset(l, 0, sizeof *l);
    l->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(l->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    cr_assert_eq(bind(l->fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(l->fd, 1), 0);
}

static int listener_port(const listener *l)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(l->fd, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

static size_t content_length(const char *head)
{
    const char *p = strcasestr(head, "\r\ncontent-length:");
    return p ? (size_t)strtoul(p + 17, NULL, 10) : 0;
}

/* Accept one connection, read head and body, answer 200, close. */
static void *listener_serve(void *arg)
{
    listener *l = arg;
    int c = accept(l->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    char *end = NULL;
    while (end == NULL && l->head_len < sizeof l->head - 1) {
        ssize_t n = read(c, l->head + l->head_len, sizeof l->head - 1 - l->head_len);
        if (n <= 0)
            break;
        l->head_len += (size_t)n;
        l->head[l->head_len] = '\0';
        end = strstr(l->head, "\r\n\r\n");
    }
    if (end != NULL) {
        size_t have = l->head_len - (size_t)(end + 4 - l->head), want = content_length(l->head);
        memcpy(l->body, end + 4, have);
        l->body_len = have;
        while (l->body_len < want && l->body_len < sizeof l->body) {
            ssize_t n = read(c, l->body + l->body_len, sizeof l->body - l->body_len);
            if (n <= 0)
                break;
            l->body_len += (size_t)n;
        }
        end[2] = '\0'; /* keep the head's last CRLF, drop the body */
    }
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    ssize_t w = write(c, ok, sizeof ok - 1);
    (void)w;
    close(c);
    return NULL;
}

/* The value of header `name` in the captured head ("" when absent), into out. */
static void header_value(const char *head, const char *name, char *out, size_t cap)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\r\n%s: ", name);
    const char *p = strcasestr(head, pat);
    out[0] = '\0';
    if (p == NULL)
        return;
    p += strlen(pat);
    size_t n = strcspn(p, "\r");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

/* Send one request set up by ug_s3_setup_easy; the captured head lands in l. */
static void perform(listener *l, const ug_s3_credentials_t *creds, ug_s3_request_t *req, const char *body)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, listener_serve, l), 0);
    CURL *easy = curl_easy_init();
    struct curl_slist *headers = NULL;
    cr_assert_eq(ug_s3_setup_easy(easy, creds, req, &headers), UG_S3_OK);
    if (body != NULL && body[0] != '\0') {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(easy);
    pthread_join(t, NULL);
    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    close(l->fd);
    cr_assert_eq(rc, CURLE_OK, "curl: %s", curl_easy_strerror(rc));
}

/* The URL of a vector: the loopback listener, its path encoded once, its canonical query. */
static char *vector_url(const sigv4_vector *v, int port)
{
    char *path = NULL, *query = NULL, *url = NULL;
    cr_assert_eq(ug_s3_uri_encode(v->raw_path, strlen(v->raw_path), true, &path), UG_S3_OK);
    cr_assert_eq(ug_s3_canonical_query(v->params, v->n_params, &query), UG_S3_OK);
    cr_assert_geq(asprintf(&url, "http://127.0.0.1:%d%s%s%s", port, path, query[0] ? "?" : "", query), 0);
    free(path);
    free(query);
    return url;
}

Test(s3_sign, published_sigv4_vectors_through_curl)
{
    for (size_t i = 0; i < sizeof SIGV4_VECTORS / sizeof SIGV4_VECTORS[0]; i++) {
        const sigv4_vector *v = &SIGV4_VECTORS[i];
        ug_s3_credentials_t creds = {VEC_ACCESS_KEY, VEC_SECRET_KEY, v->session_token, VEC_REGION};
        listener l;
        listener_open(&l);
        char *url = vector_url(v, listener_port(&l));
        /* the vectors sign no x-amz-content-sha256: curl hashes the body itself */
        ug_s3_request_t req = {.method = v->method, .url = url, .payload_sha256 = NULL, .content_type = v->content_type,
                             .amz_date = VEC_DATE, .host = VEC_HOST, .service = VEC_SERVICE};
        perform(&l, &creds, &req, v->body);
        char auth[512];
        header_value(l.head, "Authorization", auth, sizeof auth);
        cr_expect_str_eq(auth, v->authorization, "vector %s:\n%s", v->name, l.head);
        free(url);
    }
}

/* ---- what uploadgate sends to S3 ---- */

#define SHA_HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static void s3_request(listener *l, const char *token, const char *method, const char *body)
{
    ug_s3_credentials_t creds = {"test:tester", "testing", token, "us-east-1"};
    char url[128], sha[65];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/bucket/a%%20b/c?uploads=", listener_port(l));
    ug_s3_payload_sha256(body, strlen(body), sha);
    ug_s3_request_t req = {.method = method, .url = url, .payload_sha256 = sha};
    perform(l, &creds, &req, body);
}

Test(s3_sign, s3_request_signs_the_payload_hash_header)
{
    listener l;
    listener_open(&l);
    s3_request(&l, NULL, "PUT", "hello");
    char v[512];
    header_value(l.head, "x-amz-content-sha256", v, sizeof v);
    cr_assert_str_eq(v, SHA_HELLO);
    header_value(l.head, "Authorization", v, sizeof v);
    /* the access key keeps its ':'; scope is region/s3 */
    cr_assert(strstr(v, "Credential=test:tester/") != NULL, "%s", v);
    cr_assert(strstr(v, "/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, ") != NULL,
              "%s", v);
    header_value(l.head, "x-amz-security-token", v, sizeof v);
    cr_assert_str_eq(v, "");
    cr_assert(strncmp(l.head, "PUT /bucket/a%20b/c?uploads= HTTP/1.1\r\n", 39) == 0, "%s", l.head);
    cr_assert_eq(l.body_len, 5);
    cr_assert(memcmp(l.body, "hello", 5) == 0);
}

Test(s3_sign, session_token_is_sent_and_signed)
{
    listener l;
    listener_open(&l);
    s3_request(&l, "FQoGZXIvYXdzEXAMPLE==", "POST", "");
    char v[512];
    header_value(l.head, "x-amz-security-token", v, sizeof v);
    cr_assert_str_eq(v, "FQoGZXIvYXdzEXAMPLE==");
    header_value(l.head, "Authorization", v, sizeof v);
    cr_assert(strstr(v, "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, ") != NULL, "%s",
              v);
    header_value(l.head, "x-amz-content-sha256", v, sizeof v);
    cr_assert_str_eq(v, UG_S3_EMPTY_SHA256);
}

Test(s3_sign, setup_refuses_what_s3_would_refuse_or_what_is_unsafe)
{
    CURL *easy = curl_easy_init();
    struct curl_slist *h = NULL;
    ug_s3_credentials_t creds = {"AK", "SK", NULL, "us-east-1"};
    ug_s3_request_t req = {.method = "PUT", .url = "http://127.0.0.1:9/b/k", .payload_sha256 = UG_S3_UNSIGNED_PAYLOAD};
    /* an unsigned body over plain http: nothing would protect it */
    cr_assert_eq(ug_s3_setup_easy(easy, &creds, &req, &h), UG_S3_ERR_INVALID);
    req.url = "https://s3.example/b/k";
    cr_assert_eq(ug_s3_setup_easy(easy, &creds, &req, &h), UG_S3_OK);
    curl_slist_free_all(h);
    /* S3 requires x-amz-content-sha256 */
    req.payload_sha256 = NULL;
    cr_assert_eq(ug_s3_setup_easy(easy, &creds, &req, &h), UG_S3_ERR_INVALID);
    req.payload_sha256 = "";
    cr_assert_eq(ug_s3_setup_easy(easy, &creds, &req, &h), UG_S3_ERR_INVALID);
    req.payload_sha256 = UG_S3_EMPTY_SHA256;
    creds.access_key = "";
    cr_assert_eq(ug_s3_setup_easy(easy, &creds, &req, &h), UG_S3_ERR_INVALID);
    creds.access_key = "AK";
    creds.region = "us:east";
    cr_assert_eq(ug_s3_setup_easy(easy, &creds, &req, &h), UG_S3_ERR_INVALID);
    curl_easy_cleanup(easy);
}

/* ---- the builders ---- */

static void expect_query(const ug_s3_param_t *p, size_t n, const char *want)
{
    char *q = NULL;
    cr_assert_eq(ug_s3_canonical_query(p, n, &q), UG_S3_OK);
    cr_expect_str_eq(q, want);
    free(q);
}

Test(s3_sign, canonical_query)
{
    expect_query(NULL, 0, "");
    ug_s3_param_t uploads[] = {{"uploads", NULL}};
    expect_query(uploads, 1, "uploads=");
    ug_s3_param_t list[] = {{"uploads", NULL}, {"prefix", "up/2026 x"}, {"max-uploads", "1000"}};
    expect_query(list, 3, "max-uploads=1000&prefix=up%2F2026%20x&uploads=");
    /* encoded once: a '%' already in a value is data, not an escape */
    ug_s3_param_t part[] = {{"uploadId", "a%2Fb+c=="}, {"partNumber", "7"}};
    expect_query(part, 2, "partNumber=7&uploadId=a%252Fb%2Bc%3D%3D");
    /* sorted by encoded key, then value, byte order (upper case first) */
    ug_s3_param_t dup[] = {{"b", "2"}, {"a", "z"}, {"B", "x"}, {"a", "y"}};
    expect_query(dup, 4, "B=x&a=y&a=z&b=2");
}

Test(s3_sign, uri_encode_keeps_unreserved_and_optionally_slash)
{
    char *e = NULL;
    const char in[] = "a-._~/ \x01\xff%";
    cr_assert_eq(ug_s3_uri_encode(in, sizeof in - 1, true, &e), UG_S3_OK);
    cr_expect_str_eq(e, "a-._~/%20%01%FF%25");
    free(e);
    cr_assert_eq(ug_s3_uri_encode(in, sizeof in - 1, false, &e), UG_S3_OK);
    cr_expect_str_eq(e, "a-._~%2F%20%01%FF%25");
    free(e);
}

static void expect_url(const char *endpoint, const char *bucket, const char *key, ug_s3_url_style_t style,
                       const char *query, const char *want)
{
    char *u = NULL;
    cr_assert_eq(ug_s3_object_url(endpoint, bucket, key, style, query, &u), UG_S3_OK, "%s %s", endpoint, key);
    cr_expect_str_eq(u, want);
    free(u);
}

Test(s3_sign, object_url_path_and_virtual_hosted)
{
    expect_url("http://127.0.0.1:9000", "b", "up/2026/x y+z.bin", UG_S3_PATH_STYLE, NULL,
               "http://127.0.0.1:9000/b/up/2026/x%20y%2Bz.bin");
    expect_url("https://s3.eu-west-1.amazonaws.com/", "my-bucket", "\xe1\x88\xb4/a", UG_S3_VIRTUAL_HOSTED,
               "uploads=", "https://my-bucket.s3.eu-west-1.amazonaws.com/%E1%88%B4/a?uploads=");
    expect_url("http://h:1", "b", "k", UG_S3_PATH_STYLE, "partNumber=1&uploadId=x",
               "http://h:1/b/k?partNumber=1&uploadId=x");
    /* the bucket itself */
    expect_url("http://h:1", "b", NULL, UG_S3_PATH_STYLE, "uploads=", "http://h:1/b?uploads=");
    expect_url("http://h:1", "b", "", UG_S3_VIRTUAL_HOSTED, NULL, "http://b.h:1/");
    char *u = NULL;
    cr_expect_eq(ug_s3_object_url("ftp://h", "b", "k", UG_S3_PATH_STYLE, NULL, &u), UG_S3_ERR_INVALID);
    cr_expect_eq(ug_s3_object_url("http://h/base", "b", "k", UG_S3_PATH_STYLE, NULL, &u), UG_S3_ERR_INVALID);
    cr_expect_eq(ug_s3_object_url("http://", "b", "k", UG_S3_PATH_STYLE, NULL, &u), UG_S3_ERR_INVALID);
    cr_expect_eq(ug_s3_object_url("http://h", "", "k", UG_S3_PATH_STYLE, NULL, &u), UG_S3_ERR_INVALID);
    cr_expect_eq(ug_s3_object_url("http://h", "a/b", "k", UG_S3_PATH_STYLE, NULL, &u), UG_S3_ERR_INVALID);
}

Test(s3_sign, provider_string_and_payload_hash)
{
    char *p = NULL;
    cr_assert_eq(ug_s3_sigv4_provider("us-east-1", "s3", &p), UG_S3_OK);
    cr_expect_str_eq(p, "aws:amz:us-east-1:s3");
    free(p);
    cr_expect_eq(ug_s3_sigv4_provider("", "s3", &p), UG_S3_ERR_INVALID);
    char sha[65];
    ug_s3_payload_sha256("", 0, sha);
    cr_expect_str_eq(sha, UG_S3_EMPTY_SHA256);
    ug_s3_payload_sha256("hello", 5, sha);
    cr_expect_str_eq(sha, SHA_HELLO);
}
