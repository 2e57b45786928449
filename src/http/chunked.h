/*
 * chunked.h - a strict, push-style decoder of the chunked transfer coding of
 * HTTP/1.1 request bodies (RFC 9112 7.1), decoding in place as
 * picohttpparser's phr_decode_chunked does, but reading only the grammar:
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-size   = 1*16HEXDIG                  (no "0x", no sign, no space before the extensions' BWS)
 *   last-chunk   = 1*16("0") [ chunk-ext ] CRLF
 *   chunk-ext    = *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
 *   trailer-section = *( field-name ":" OWS field-value CRLF )   (read and dropped)
 *
 * Every line ends with CRLF: a bare LF is refused (a proxy in front that
 * accepts it would frame the body differently). A size line (size and
 * extensions) is at most UG_CHUNKED_MAX_LINE bytes, the trailer section at most
 * UG_CHUNKED_MAX_TRAILER. Anything else is a framing error, after which the
 * decoder refuses every further call: where the body ends is unknown, so the
 * connection must close. phr_decode_chunked reads "0x5" as 0 and "5zz" as 5;
 * behind a proxy that reads them otherwise, one request becomes two.
 *
 * Pure: no I/O, no allocation.
 */
#ifndef UG_HTTP_CHUNKED_H
#define UG_HTTP_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

#define UG_CHUNKED_MAX_DIGITS 16     /* hex digits of a chunk-size, leading zeros included: always fits 64 bits */
#define UG_CHUNKED_MAX_LINE 4096     /* bytes of a size line before its CRLF, extensions included */
#define UG_CHUNKED_MAX_TRAILER 8192  /* bytes of the trailer section, its final CRLF included */

typedef struct ug_chunked_decoder {
    int state;          /* internal (chunked.c); 0 after ug_chunked_init */
    uint64_t chunk_left; /* data bytes of the current chunk not yet seen (while reading data), or its size so far */
    unsigned digits;    /* hex digits of the current chunk-size */
    size_t line_len;    /* bytes of the current size line */
    size_t trailer_len; /* bytes of the trailer section */
    const char *error;  /* static message once a framing error was found ("invalid chunked body: ..."), else NULL */
} ug_chunked_decoder_t;

typedef enum ug_chunked_result {
    UG_CHUNKED_INCOMPLETE = 0, /* every input byte was used; the body goes on */
    UG_CHUNKED_DONE,           /* the body (trailer section included) ended; *rest bytes followed it */
    UG_CHUNKED_ERROR,          /* a framing error: d->error says which; the decoder stays in error */
} ug_chunked_result_t;

/* Ready the decoder for a new body. */
void ug_chunked_init(ug_chunked_decoder_t *d);

/*
 * Decode buf[0..*bufsz) in place: on return buf[0..*bufsz') holds the body bytes these held (*bufsz updated, the
 * framing removed). On UG_CHUNKED_DONE the *rest bytes that followed the body (the next request) are moved to
 * buf[*bufsz' .. *bufsz' + *rest); otherwise *rest is 0. The input may be split anywhere between calls.
 */
ug_chunked_result_t ug_chunked_decode(ug_chunked_decoder_t *d, char *buf, size_t *bufsz, size_t *rest);

#endif
