/* S3 answers as libcurl delivers them (see s3_answer.h). */
#include "store/s3_answer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/s3_xml.h"

void ug_s3_answer_clear(ug_s3_answer_t *a)
{
    free(a->body);
    free(a->error_code);
    free(a->error_message);
    memset(a, 0, sizeof(*a));
}

size_t ug_s3_answer_on_body(char *p, size_t s, size_t n, void *u)
{
    ug_s3_answer_t *a = u;
    size_t k = s * n;
    if (a->body_len + k > UG_S3_XML_MAX)
        return 0; /* bigger than any answer we read: stop the transfer */
    char *grown = realloc(a->body, a->body_len + k + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + a->body_len, p, k);
    a->body = grown;
    a->body_len += k;
    a->body[a->body_len] = '\0';
    return k;
}

size_t ug_s3_answer_on_header(char *p, size_t s, size_t n, void *u)
{
    ug_s3_answer_t *a = u;
    size_t k = s * n;
    if (k > 5 && strncasecmp(p, "ETag:", 5) == 0) {
        const char *v = p + 5;
        while (*v == ' ')
            v++;
        size_t len = strcspn(v, "\r\n");
        if (len < sizeof(a->etag)) {
            memcpy(a->etag, v, len);
            a->etag[len] = '\0';
        }
    } else if (k > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
        a->content_length = strtoull(p + 15, NULL, 10);
    }
    return k;
}
