/*
 * chunked.c - see chunked.h. A byte-at-a-time state machine for the framing; chunk data is moved in blocks.
 */
#include "http/chunked.h"

#include <string.h>

#include "common/httpchar.h"

enum state {
    SIZE_FIRST = 0, /* the first HEXDIG of a chunk-size */
    SIZE,           /* more HEXDIGs, or what follows them */
    SIZE_BWS,       /* BWS after the size: only ";" may follow */
    EXT_NAME_FIRST, /* after ";" and BWS: the first tchar of a chunk-ext-name */
    EXT_NAME,       /* more tchars of it, or what follows */
    EXT_NAME_BWS,   /* BWS after the name: "=" or ";" */
    EXT_VAL_FIRST,  /* after "=" and BWS: a token or a quoted-string */
    EXT_TOKEN,      /* a token value */
    EXT_QUOTED,     /* inside a quoted-string */
    EXT_QUOTED_PAIR, /* after a backslash in it */
    EXT_VAL_END,    /* after the value: ";", CR, or BWS */
    EXT_VAL_BWS,    /* BWS after the value: only ";" may follow */
    SIZE_LF,        /* the LF ending a size line */
    DATA,           /* chunk data */
    DATA_CR,        /* the CRLF after chunk data */
    DATA_LF,
    TRAILER_LINE,   /* the start of a trailer field line, or the CR of the final CRLF */
    TRAILER_NAME,   /* a field-name, up to ":" */
    TRAILER_VALUE,  /* the field's value, up to CR */
    TRAILER_LF,     /* the LF ending a field line */
    END_LF,         /* the LF of the body's final CRLF */
    DONE,
    FAILED,
};

void ug_chunked_init(ug_chunked_decoder_t *d)
{
    memset(d, 0, sizeof(*d));
    d->state = SIZE_FIRST;
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* qdtext (RFC 9110 5.6.4): HTAB, SP, %x21, %x23-5B, %x5D-7E, obs-text */
static int is_qdtext(unsigned char c)
{
    return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

/* the second byte of a quoted-pair: HTAB, SP, VCHAR, obs-text */
static int is_quotable(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* field-value bytes (RFC 9110 5.5): VCHAR, obs-text, SP and HTAB; no other control byte */
static int is_field_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int fail(ug_chunked_decoder_t *d, const char *why)
{
    d->state = FAILED;
    d->error = why;
    return -1;
}

/* Where a size line goes after its CRLF. */
static int size_line_ended(ug_chunked_decoder_t *d)
{
    d->state = d->chunk_left == 0 ? TRAILER_LINE : DATA;
    return 0;
}

/* The byte after an extension value: ";", the line's CR, or BWS. */
static int value_end_byte(ug_chunked_decoder_t *d, unsigned char c)
{
    if (c == ';')
        d->state = EXT_NAME_FIRST;
    else if (c == '\r')
        d->state = SIZE_LF;
    else if (is_ws(c))
        d->state = EXT_VAL_BWS;
    else
        return fail(d, "invalid chunked body: chunk extension value");
    return 0;
}

/* One byte of a size line: the chunk-size and its extensions, then its CRLF. Returns 0, or -1 on a framing error. */
static int size_line_byte(ug_chunked_decoder_t *d, unsigned char c)
{
    if (d->state == SIZE_LF) {
        if (c != '\n')
            return fail(d, "invalid chunked body: a chunk-size line must end with CRLF");
        return size_line_ended(d);
    }
    if (c != '\r' && ++d->line_len > UG_CHUNKED_MAX_LINE)
        return fail(d, "invalid chunked body: chunk extensions too long");
    if (c == '\n')
        return fail(d, "invalid chunked body: a chunk-size line must end with CRLF (bare LF)");
    switch (d->state) {
    case SIZE_FIRST:
    case SIZE: {
        int v = ug_hex_value(c);
        if (v >= 0) {
            if (++d->digits > UG_CHUNKED_MAX_DIGITS)
                return fail(d, "invalid chunked body: chunk size has too many digits");
            d->chunk_left = d->chunk_left << 4 | (uint64_t)v;
            d->state = SIZE;
            return 0;
        }
        if (d->state == SIZE_FIRST)
            return fail(d, "invalid chunked body: chunk size (expected hexadecimal digits)");
        if (c == '\r')
            d->state = SIZE_LF;
        else if (c == ';')
            d->state = EXT_NAME_FIRST;
        else if (is_ws(c))
            d->state = SIZE_BWS;
        else
            return fail(d, "invalid chunked body: chunk size (expected hexadecimal digits)");
        return 0;
    }
    case SIZE_BWS:
    case EXT_VAL_BWS:
        if (c == ';')
            d->state = EXT_NAME_FIRST;
        else if (!is_ws(c))
            return fail(d, "invalid chunked body: chunk extension (only \";\" may follow whitespace)");
        return 0;
    case EXT_NAME_FIRST:
        if (ug_is_tchar(c))
            d->state = EXT_NAME;
        else if (!is_ws(c))
            return fail(d, "invalid chunked body: chunk extension name");
        return 0;
    case EXT_NAME:
    case EXT_NAME_BWS:
        if (c == '=')
            d->state = EXT_VAL_FIRST;
        else if (c == ';')
            d->state = EXT_NAME_FIRST;
        else if (c == '\r' && d->state == EXT_NAME)
            d->state = SIZE_LF;
        else if (is_ws(c))
            d->state = EXT_NAME_BWS;
        else if (!ug_is_tchar(c) || d->state != EXT_NAME)
            return fail(d, "invalid chunked body: chunk extension name");
        return 0;
    case EXT_VAL_FIRST:
        if (c == '"')
            d->state = EXT_QUOTED;
        else if (ug_is_tchar(c))
            d->state = EXT_TOKEN;
        else if (!is_ws(c))
            return fail(d, "invalid chunked body: chunk extension value");
        return 0;
    case EXT_TOKEN:
        return ug_is_tchar(c) ? 0 : value_end_byte(d, c);
    case EXT_VAL_END:
        return value_end_byte(d, c);
    case EXT_QUOTED:
        if (c == '"')
            d->state = EXT_VAL_END;
        else if (c == '\\')
            d->state = EXT_QUOTED_PAIR;
        else if (!is_qdtext(c))
            return fail(d, "invalid chunked body: byte in a quoted chunk extension value");
        return 0;
    case EXT_QUOTED_PAIR:
        if (!is_quotable(c))
            return fail(d, "invalid chunked body: byte in a quoted chunk extension value");
        d->state = EXT_QUOTED;
        return 0;
    default:
        return fail(d, "invalid chunked body: unexpected state");
    }
}

/* One byte of the trailer section (after the last chunk's size line). Returns 0, or -1 on a framing error. */
static int trailer_byte(ug_chunked_decoder_t *d, unsigned char c)
{
    if (++d->trailer_len > UG_CHUNKED_MAX_TRAILER)
        return fail(d, "invalid chunked body: trailer section too large");
    switch (d->state) {
    case TRAILER_LINE:
        if (c == '\r')
            d->state = END_LF;
        else if (ug_is_tchar(c))
            d->state = TRAILER_NAME;
        else /* bare LF, obs-fold, anything else */
            return fail(d, "invalid chunked body: trailer field");
        return 0;
    case TRAILER_NAME:
        if (c == ':')
            d->state = TRAILER_VALUE;
        else if (!ug_is_tchar(c))
            return fail(d, "invalid chunked body: trailer field name");
        return 0;
    case TRAILER_VALUE:
        if (c == '\r')
            d->state = TRAILER_LF;
        else if (c == '\n')
            return fail(d, "invalid chunked body: a trailer field line must end with CRLF (bare LF)");
        else if (!is_field_byte(c))
            return fail(d, "invalid chunked body: trailer field value");
        return 0;
    case TRAILER_LF:
        if (c != '\n')
            return fail(d, "invalid chunked body: a trailer field line must end with CRLF");
        d->state = TRAILER_LINE;
        return 0;
    default: /* END_LF */
        if (c != '\n')
            return fail(d, "invalid chunked body: it must end with CRLF");
        d->state = DONE;
        return 0;
    }
}

/* The CRLF after chunk data. */
static int data_end_byte(ug_chunked_decoder_t *d, unsigned char c)
{
    if (d->state == DATA_CR && c == '\r') {
        d->state = DATA_LF;
        return 0;
    }
    if (d->state == DATA_LF && c == '\n') {
        d->state = SIZE_FIRST;
        d->digits = 0;
        d->line_len = 0;
        return 0;
    }
    return fail(d, "invalid chunked body: chunk data must be followed by CRLF");
}

ug_chunked_result_t ug_chunked_decode(ug_chunked_decoder_t *d, char *buf, size_t *bufsz, size_t *rest)
{
    size_t src = 0, dst = 0, size = *bufsz;
    *rest = 0;
    if (d->state == FAILED) {
        *bufsz = 0;
        return UG_CHUNKED_ERROR;
    }
    while (src < size && d->state != DONE) {
        if (d->state == DATA) {
            size_t n = size - src < d->chunk_left ? size - src : (size_t)d->chunk_left;
            memmove(buf + dst, buf + src, n);
            src += n;
            dst += n;
            d->chunk_left -= n;
            if (d->chunk_left == 0)
                d->state = DATA_CR;
            continue;
        }
        unsigned char c = (unsigned char)buf[src++];
        int r = d->state == DATA_CR || d->state == DATA_LF                            ? data_end_byte(d, c)
                : d->state >= TRAILER_LINE && d->state <= END_LF                     ? trailer_byte(d, c)
                                                                                       : size_line_byte(d, c);
        if (r != 0) {
            *bufsz = dst;
            return UG_CHUNKED_ERROR;
        }
    }
    *bufsz = dst;
    if (d->state != DONE)
        return UG_CHUNKED_INCOMPLETE;
    *rest = size - src;
    memmove(buf + dst, buf + src, *rest);
    return UG_CHUNKED_DONE;
}
