/*
 * front/h2_head.h - the HTTP/2 front's pure steps (no h2o, no I/O): a
 * stream's request head read as the HTTP/1.1 front reads a head
 * (exchange/head.h), and a response's header block for nghttp2.
 */
#ifndef UG_FRONT_H2_HEAD_H
#define UG_FRONT_H2_HEAD_H

#include <stddef.h>

#include <nghttp2/nghttp2.h>

#include "http/forward_head.h"
#include "exchange/head.h"

/* A stream's request head as received (pseudo-fields apart; names are lower-case, nghttp2 checks that). */
typedef struct ug_h2_request_head {
    const char *method, *path, *authority; /* NULL when absent */
    size_t method_len, path_len, authority_len;
    const ug_header_t *fields;
    size_t num_fields;
    int end_stream; /* the HEADERS frame ended the stream: no body */
} ug_h2_request_head_t;

/*
 * Fill *h from a stream's head and scan it (ug_head_scan): :authority stands for Host (RFC 9113 8.3.1), and
 * the body is framed by the stream - none when the HEADERS frame ended it, else content-length bytes when one was
 * sent (nghttp2 checks the DATA against it), else UG_HEAD_BODY_STREAM. An invalid :authority or host field sets
 * h->host_error (the stream is then refused). Pointers in *h point into *in.
 */
void ug_h2_head_scan(const ug_h2_request_head_t *in, ug_head_t *h);

/* Room for the values ug_h2_response_nva makes up. */
typedef struct ug_h2_nva_bufs {
    char status[4];
    char content_length[24];
} ug_h2_nva_bufs_t;

/*
 * Build a response header block: :status, Date and Server when given (h2o writes both), the fields (connection-
 * specific ones and content-length left out: RFC 9113 8.2.2; nghttp2 lower-cases names as it copies them) and,
 * unless content_length is SIZE_MAX, content-length. `nva` must have room for num_fields + 4; it points into the
 * arguments and `bufs`. Returns the count.
 */
size_t ug_h2_response_nva(nghttp2_nv *nva, ug_h2_nva_bufs_t *bufs, int status, const char *date, size_t date_len,
                          const char *server, size_t server_len, const ug_header_t *fields, size_t num_fields,
                          size_t content_length);

#endif
