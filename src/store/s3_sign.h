/* SigV4 for S3 requests sent with libcurl 7.88's CURLOPT_AWS_SIGV4: the pieces curl does not do itself.
 *
 * curl 7.88 computes the signature but signs the URL's query string exactly as given (no sorting, no
 * encoding), does not add x-amz-content-sha256 (S3 and Swift's s3api require it), and takes the payload hash
 * from a caller's x-amz-content-sha256 header when there is one (else it hashes CURLOPT_POSTFIELDS, i.e. the
 * empty string for a streamed upload). So uploadgate builds the canonical query and the URL itself, always
 * supplies the payload hash header, and lets curl do the HMAC chain.
 *
 * Strings returned through `char **out` are malloc'd and owned by the caller (free()). Nothing here keeps
 * state; every function is safe to call from any thread. */
#ifndef UG_S3_SIGN_H
#define UG_S3_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

typedef enum {
    UG_S3_OK = 0,
    UG_S3_ERR_NOMEM,    /* allocation failed */
    UG_S3_ERR_INVALID,  /* bad argument: empty bucket/key, endpoint without http(s)://, unsigned payload over http */
    UG_S3_ERR_CURL,     /* curl_easy_setopt refused an option */
} ug_s3_result_t;

/* The payload hash of a request whose body is not hashed. Only accepted by ug_s3_setup_easy for https
 * endpoints: over plain http nothing else would protect the body. */
#define UG_S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* hex sha256 of zero bytes: the payload hash of every request without a body */
#define UG_S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* One query parameter. value NULL is a valueless key ("?uploads"), canonicalised as "uploads=". */
typedef struct {
    const char *key;
    const char *value;
} ug_s3_param_t;

typedef enum {
    UG_S3_PATH_STYLE,      /* http://endpoint/bucket/key */
    UG_S3_VIRTUAL_HOSTED,  /* http://bucket.endpoint/key */
} ug_s3_url_style_t;

typedef struct {
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL or "": none; else sent as x-amz-security-token (and signed) */
    const char *region;        /* e.g. "us-east-1" */
} ug_s3_credentials_t;

typedef struct {
    const char *method;          /* "GET", "PUT", "POST", "DELETE", "HEAD" */
    const char *url;             /* from ug_s3_object_url: already encoded, canonical query included */
    const char *payload_sha256;  /* hex sha256 of the body, or UG_S3_UNSIGNED_PAYLOAD (https only). NULL: no
                                    x-amz-content-sha256, curl hashes CURLOPT_POSTFIELDS itself; refused for
                                    service "s3", which requires the header (other SigV4 services do not) */
    const char *content_type;    /* NULL: no Content-Type header */
    const char *amz_date;        /* NULL: curl uses the current time; else "YYYYMMDDTHHMMSSZ" (tests) */
    const char *host;            /* NULL: from the URL; else a Host header (tests pin the signed host) */
    const char *service;         /* NULL: "s3" (the signing tests use the published vectors' "service") */
} ug_s3_request_t;

/* Percent-encode `len` bytes of `s` per RFC 3986: everything but A-Z a-z 0-9 - . _ ~ becomes %XX (upper
 * hex); '/' is kept when keep_slash (object key paths). Encodes once: a '%' in the input becomes %25. */
ug_s3_result_t ug_s3_uri_encode(const char *s, size_t len, bool keep_slash, char **out);

/* The canonical query string: every key and value encoded once, pairs sorted by encoded key then value
 * (byte order), joined with '&'; a valueless key is "key=". n == 0 gives "". */
ug_s3_result_t ug_s3_canonical_query(const ug_s3_param_t *params, size_t n, char **out);

/* The request URL for bucket/key on `endpoint` ("http[s]://host[:port]", a trailing '/' ignored), key
 * encoded per segment with '/' kept; key NULL or "" addresses the bucket itself. query: a canonical query
 * (ug_s3_canonical_query) or NULL/"" for none. */
ug_s3_result_t ug_s3_object_url(const char *endpoint, const char *bucket, const char *key, ug_s3_url_style_t style,
                              const char *query, char **out);

/* Hex sha256 of `len` bytes (the x-amz-content-sha256 value); out holds 64 hex digits and a NUL. */
void ug_s3_payload_sha256(const void *data, size_t len, char out[65]);
/* A 32-byte sha256 digest as 64 lowercase hex digits and a NUL. */
void ug_s3_sha256_hex(const unsigned char md[32], char out[65]);

/* "aws:amz:REGION:SERVICE", the CURLOPT_AWS_SIGV4 provider string. */
ug_s3_result_t ug_s3_sigv4_provider(const char *region, const char *service, char **out);

/* Set method, URL, credentials, SigV4 (service req->service, default "s3") and the headers (x-amz-content-sha256, optional
 * Content-Type, Host, X-Amz-Date, x-amz-security-token) on `easy`. The body (upload/postfields) and the
 * callbacks are the caller's. *headers_out receives the header list set as CURLOPT_HTTPHEADER: the caller
 * owns it and frees it (curl_slist_free_all) after the transfer, not before. On error nothing is left for
 * the caller to free. */
ug_s3_result_t ug_s3_setup_easy(CURL *easy, const ug_s3_credentials_t *creds, const ug_s3_request_t *req,
                              struct curl_slist **headers_out);

#endif
