/*
 * pico.h - the picohttpparser function the HTTP/1.1 front uses (request bodies
 * are decoded by chunked.h, not by picohttpparser's lenient phr_decode_chunked).
 *
 * libh2o-evloop 0.13.5 (h2o 2.2.5) exports picohttpparser's symbols but Debian
 * installs no picohttpparser.h (docs/architecture.md, "Build flags"). These declarations state the
 * ABI of the copy built into that library (h2o v2.2.5
 * deps/picohttpparser/picohttpparser.h); they must not drift from it.
 */
#ifndef UG_HTTP_PICO_H
#define UG_HTTP_PICO_H

#include <stddef.h>
#include <sys/types.h>

/* One header field; name == NULL marks a continuation line (obs-fold), which the front never accepts. */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/*
 * Parse a request head in buf[0..len). On input *num_headers is the capacity
 * of `headers`, on output the count. `last_len` is the length given to the
 * previous call on the same head (0 the first time): the parser then only
 * looks for the end of the head in the new bytes. Returns the head's length
 * (> 0), -2 when the head is incomplete, -1 when it is malformed (including
 * "PRI * HTTP/2.0", which is not HTTP/1.x).
 * All returned pointers point into buf.
 */
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers, size_t *num_headers, size_t last_len);

#endif
