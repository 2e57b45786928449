/* One S3 answer as libcurl delivers it: the status, the body (bounded by UG_S3_XML_MAX), the ETag and Content-Length
 * headers, and the <Error> code and message once parsed. The two callbacks are for CURLOPT_WRITEFUNCTION and
 * CURLOPT_HEADERFUNCTION with the answer as their data. Everything in it is owned by it: ug_s3_answer_clear(). */
#ifndef UG_STORE_S3_ANSWER_H
#define UG_STORE_S3_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

typedef struct ug_s3_answer {
    CURLcode curl;
    long status;
    char *body; /* NUL-terminated, may be NULL */
    size_t body_len;
    char etag[256];          /* quotes included; "" when absent */
    uint64_t content_length; /* the Content-Length header (HEAD: the object's size) */
    char *error_code;        /* <Code> of an <Error> body, or NULL */
    char *error_message;
} ug_s3_answer_t;

size_t ug_s3_answer_on_body(char *p, size_t size, size_t n, void *answer);
size_t ug_s3_answer_on_header(char *p, size_t size, size_t n, void *answer);
/* Free what the answer holds and zero it. */
void ug_s3_answer_clear(ug_s3_answer_t *a);

#endif
