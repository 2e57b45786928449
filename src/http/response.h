/*
 * http/response.h - the bytes of an HTTP/1.1 response written by the front
 * (RFC 9112 4 and 6): status line, the fields h2o itself writes, the given
 * fields, Content-Length and the body, as one buffer for one socket write.
 * Pure: no h2o, no I/O.
 *
 * The layout follows h2o 2.2.5's own flattening (lib/http1.c flatten_headers):
 * "HTTP/1.1 <status> <reason>", Date, Connection, Content-Length, Server, then
 * the fields in order, so a client sees the same response whichever path
 * served it.
 */
#ifndef UG_HTTP_RESPONSE_H
#define UG_HTTP_RESPONSE_H

#include <stddef.h>

#include "http/forward_head.h"

typedef struct ug_response {
    int status;         /* 100..999 */
    const char *reason; /* CR and LF are replaced by spaces */
    size_t reason_len;
    const ug_header_t *headers;
    size_t num_headers;
    const char *body;
    size_t body_len;
    int keep_alive;     /* "Connection: keep-alive", else "Connection: close" */
    const char *date;   /* IMF-fixdate (RFC 9110 5.6.7), NUL-terminated; NULL: no Date field */
    const char *server; /* NUL-terminated; NULL: no Server field */
} ug_response_t;

/* The interim response sent once an Expect: 100-continue request passed every check (RFC 9110 10.1.1). */
#define UG_RESPONSE_100_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/*
 * Render the response. Fields whose name or value contains CR, LF or NUL are
 * left out (no field may smuggle a line break into the head). Returns a
 * malloc'd buffer (caller frees) with its length in *len; NULL when out of memory.
 */
char *ug_response_render(const ug_response_t *r, size_t *len);

/*
 * An interim (1xx) response head: status line and fields, no Content-Length (RFC 9110 8.6: a 1xx has none), into
 * `out`. Fields are filtered as ug_response_render's. Returns its length, 0 when status is not 1xx or it does not fit.
 */
size_t ug_response_render_interim(int status, const char *reason, const ug_header_t *headers, size_t num_headers,
                                  char *out, size_t size);

#endif
