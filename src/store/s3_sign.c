/* SigV4 pieces for S3 over libcurl 7.88's CURLOPT_AWS_SIGV4 (see s3_sign.h for what curl leaves to us). */
#include "store/s3_sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

ug_s3_result_t ug_s3_uri_encode(const char *s, size_t len, bool keep_slash, char **out)
{
    static const char hex[] = "0123456789ABCDEF";
    char *buf = malloc(len * 3 + 1);
    if (buf == NULL)
        return UG_S3_ERR_NOMEM;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 0xf];
        }
    }
    buf[o] = '\0';
    *out = buf;
    return UG_S3_OK;
}

typedef struct {
    char *key;
    char *value;
} encoded_pair;

static int pair_cmp(const void *a, const void *b)
{
    const encoded_pair *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : strcmp(x->value, y->value);
}

static void free_pairs(encoded_pair *pairs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(pairs[i].key);
        free(pairs[i].value);
    }
    free(pairs);
}

/* Encode every pair; *total gets the joined length (pairs, '=' and '&' separators). */
static ug_s3_result_t encode_pairs(const ug_s3_param_t *params, size_t n, encoded_pair *pairs, size_t *total)
{
    *total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = params[i].value ? params[i].value : "";
        if (params[i].key == NULL)
            return UG_S3_ERR_INVALID;
        if (ug_s3_uri_encode(params[i].key, strlen(params[i].key), false, &pairs[i].key) != UG_S3_OK ||
            ug_s3_uri_encode(v, strlen(v), false, &pairs[i].value) != UG_S3_OK)
            return UG_S3_ERR_NOMEM;
        *total += strlen(pairs[i].key) + strlen(pairs[i].value) + 2;
    }
    return UG_S3_OK;
}

ug_s3_result_t ug_s3_canonical_query(const ug_s3_param_t *params, size_t n, char **out)
{
    encoded_pair *pairs = calloc(n ? n : 1, sizeof *pairs);
    if (pairs == NULL)
        return UG_S3_ERR_NOMEM;
    size_t total = 0;
    ug_s3_result_t r = encode_pairs(params, n, pairs, &total);
    char *buf = r == UG_S3_OK ? malloc(total + 1) : NULL;
    if (r == UG_S3_OK && buf == NULL)
        r = UG_S3_ERR_NOMEM;
    if (r != UG_S3_OK) {
        free_pairs(pairs, n);
        return r;
    }
    /* sorted after encoding: SigV4 orders by the encoded names */
    qsort(pairs, n, sizeof *pairs, pair_cmp);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(buf + o, "%s%s=%s", i ? "&" : "", pairs[i].key, pairs[i].value);
    buf[o] = '\0';
    free_pairs(pairs, n);
    *out = buf;
    return UG_S3_OK;
}

/* Split "http[s]://authority[/...]" into scheme ("http://" incl.) and authority; trailing '/' dropped. A
 * path after the authority is not supported (S3 endpoints have none): UG_S3_ERR_INVALID. */
static ug_s3_result_t split_endpoint(const char *endpoint, size_t *scheme_len, const char **auth, size_t *auth_len)
{
    if (strncmp(endpoint, "http://", 7) == 0)
        *scheme_len = 7;
    else if (strncmp(endpoint, "https://", 8) == 0)
        *scheme_len = 8;
    else
        return UG_S3_ERR_INVALID;
    *auth = endpoint + *scheme_len;
    size_t len = strlen(*auth);
    while (len > 0 && (*auth)[len - 1] == '/')
        len--;
    if (len == 0 || memchr(*auth, '/', len) != NULL || memchr(*auth, '?', len) != NULL)
        return UG_S3_ERR_INVALID;
    *auth_len = len;
    return UG_S3_OK;
}

ug_s3_result_t ug_s3_object_url(const char *endpoint, const char *bucket, const char *key, ug_s3_url_style_t style,
                              const char *query, char **out)
{
    size_t scheme_len, auth_len;
    const char *auth;
    if (endpoint == NULL || bucket == NULL || bucket[0] == '\0' || strchr(bucket, '/') != NULL)
        return UG_S3_ERR_INVALID;
    ug_s3_result_t r = split_endpoint(endpoint, &scheme_len, &auth, &auth_len);
    if (r != UG_S3_OK)
        return r;
    char *ekey = NULL, *ebucket = NULL;
    const char *k = key ? key : "";
    if (ug_s3_uri_encode(k, strlen(k), true, &ekey) != UG_S3_OK ||
        ug_s3_uri_encode(bucket, strlen(bucket), false, &ebucket) != UG_S3_OK) {
        free(ekey);
        return UG_S3_ERR_NOMEM;
    }
    const char *q = query ? query : "";
    size_t cap = scheme_len + auth_len + strlen(ebucket) + strlen(ekey) + strlen(q) + 8;
    char *buf = malloc(cap);
    if (buf != NULL) {
        if (style == UG_S3_VIRTUAL_HOSTED)
            snprintf(buf, cap, "%.*s%s.%.*s/%s%s%s", (int)scheme_len, endpoint, ebucket, (int)auth_len, auth, ekey,
                     q[0] ? "?" : "", q);
        else
            snprintf(buf, cap, "%.*s%.*s/%s%s%s%s%s", (int)scheme_len, endpoint, (int)auth_len, auth, ebucket,
                     ekey[0] ? "/" : "", ekey, q[0] ? "?" : "", q);
    }
    free(ekey);
    free(ebucket);
    if (buf == NULL)
        return UG_S3_ERR_NOMEM;
    *out = buf;
    return UG_S3_OK;
}

void ug_s3_sha256_hex(const unsigned char md[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[64] = '\0';
}

void ug_s3_payload_sha256(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int md_len = 0;
    EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
    ug_s3_sha256_hex(md, out);
}

/* malloc'd printf; NULL when out of memory */
static char *format(const char *fmt, const char *a, const char *b)
{
    int n = snprintf(NULL, 0, fmt, a, b);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s != NULL)
        snprintf(s, (size_t)n + 1, fmt, a, b);
    return s;
}

ug_s3_result_t ug_s3_sigv4_provider(const char *region, const char *service, char **out)
{
    if (region == NULL || region[0] == '\0' || service == NULL || service[0] == '\0' || strchr(region, ':') ||
        strchr(service, ':'))
        return UG_S3_ERR_INVALID;
    *out = format("aws:amz:%s:%s", region, service);
    return *out ? UG_S3_OK : UG_S3_ERR_NOMEM;
}

/* Append "Name: value" to *list; false when out of memory (the list so far stays valid). */
static bool add_header(struct curl_slist **list, const char *name, const char *value)
{
    char *line = format("%s: %s", name, value);
    struct curl_slist *next = line ? curl_slist_append(*list, line) : NULL;
    free(line);
    if (next == NULL)
        return false;
    *list = next;
    return true;
}

static bool nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* The header list of one request. curl 7.88 signs every header in it (names lower-cased, sorted) besides
 * host and x-amz-date. x-amz-content-sha256 makes curl sign that hash (7.88 reads it back) and lets S3 check
 * the body against it; X-Amz-Date, when given, is the time curl signs with (curl then sends it twice, same
 * value). */
static ug_s3_result_t build_headers(const ug_s3_credentials_t *creds, const ug_s3_request_t *req,
                                  struct curl_slist **out)
{
    struct curl_slist *h = NULL;
    bool ok = req->payload_sha256 == NULL || add_header(&h, "x-amz-content-sha256", req->payload_sha256);
    if (ok && nonempty(req->content_type))
        ok = add_header(&h, "Content-Type", req->content_type);
    if (ok && nonempty(req->host))
        ok = add_header(&h, "Host", req->host);
    if (ok && nonempty(req->amz_date))
        ok = add_header(&h, "X-Amz-Date", req->amz_date);
    if (ok && nonempty(creds->session_token))
        ok = add_header(&h, "x-amz-security-token", creds->session_token);
    /* No "Expect:" to turn off 100-continue: curl 7.88 signs every header in the list, an empty one too, which
     * it then does not send. Swift and S3 answer 100-continue. */
    if (!ok) {
        curl_slist_free_all(h);
        return UG_S3_ERR_NOMEM;
    }
    *out = h;
    return UG_S3_OK;
}

static ug_s3_result_t check_request(const ug_s3_credentials_t *creds, const ug_s3_request_t *req)
{
    if (creds == NULL || req == NULL || !nonempty(creds->access_key) || creds->secret_key == NULL ||
        !nonempty(req->method) || !nonempty(req->url))
        return UG_S3_ERR_INVALID;
    /* S3 refuses a V4 request without x-amz-content-sha256 (Swift: 400 InvalidRequest) */
    if (req->payload_sha256 == NULL ? !nonempty(req->service) || strcmp(req->service, "s3") == 0
                                    : req->payload_sha256[0] == '\0')
        return UG_S3_ERR_INVALID;
    if (req->payload_sha256 != NULL && strcmp(req->payload_sha256, UG_S3_UNSIGNED_PAYLOAD) == 0 &&
        strncmp(req->url, "https://", 8) != 0)
        return UG_S3_ERR_INVALID;
    return UG_S3_OK;
}

ug_s3_result_t ug_s3_setup_easy(CURL *easy, const ug_s3_credentials_t *creds, const ug_s3_request_t *req,
                              struct curl_slist **headers_out)
{
    ug_s3_result_t r = check_request(creds, req);
    if (r != UG_S3_OK)
        return r;
    char *provider = NULL;
    r = ug_s3_sigv4_provider(creds->region, nonempty(req->service) ? req->service : "s3", &provider);
    if (r != UG_S3_OK)
        return r;
    struct curl_slist *headers = NULL;
    r = build_headers(creds, req, &headers);
    if (r != UG_S3_OK) {
        free(provider);
        return r;
    }
    bool head = strcmp(req->method, "HEAD") == 0;
    /* CURLOPT_USERNAME/PASSWORD, not USERPWD: an access key may contain ':' (Swift's "account:user") */
    CURLcode c = curl_easy_setopt(easy, CURLOPT_URL, req->url);
    if (c == CURLE_OK)
        c = head ? curl_easy_setopt(easy, CURLOPT_NOBODY, 1L) : curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
    if (c == CURLE_OK)
        c = curl_easy_setopt(easy, CURLOPT_USERNAME, creds->access_key);
    if (c == CURLE_OK)
        c = curl_easy_setopt(easy, CURLOPT_PASSWORD, creds->secret_key);
    if (c == CURLE_OK)
        c = curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, provider); /* curl copies the string */
    if (c == CURLE_OK)
        c = curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    free(provider);
    if (c != CURLE_OK) {
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(headers);
        return UG_S3_ERR_CURL;
    }
    *headers_out = headers;
    return UG_S3_OK;
}
