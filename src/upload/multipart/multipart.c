/*
 * multipart.c - multipart/form-data push parser: the RFC 2046 framing.
 * Part header blocks are handed to multipart_header.c.
 *
 * RFC 2046 5.1.1, the grammar this follows:
 *
 *   multipart-body := [preamble CRLF] dash-boundary transport-padding CRLF
 *                     body-part *encapsulation close-delimiter
 *                     transport-padding [CRLF epilogue]
 *   encapsulation  := delimiter transport-padding CRLF body-part
 *   delimiter      := CRLF dash-boundary        dash-boundary := "--" boundary
 *   close-delimiter := delimiter "--"           transport-padding := *LWSP-char
 *
 * Decisions (each one is asserted by tests/unit/test_multipart.c):
 *  - The body is scanned as if it were preceded by a CRLF, so a first
 *    dash-boundary at offset 0 is a delimiter like any other; everything
 *    before the first delimiter is preamble and is discarded.
 *  - Once CRLF "--" boundary has matched, the rest of that line must be
 *    transport padding then CRLF, or "--". Anything else is an error, not
 *    content: RFC 2046 forbids the delimiter inside a part ("the boundary
 *    delimiter MUST NOT appear inside any of the encapsulated parts"), and
 *    treating a look-alike as data would need unbounded lookbehind (the
 *    padding has no length limit) and would disagree with parsers that split
 *    there.
 *  - The grammar needs at least one body part, so a close delimiter that is
 *    the first delimiter (an "empty form") is an error, as is an empty body.
 *  - Everything after the close delimiter is epilogue and is ignored, unparsed.
 *  - Header lines must end in CRLF: a bare CR or LF in a header block is an
 *    error (RFC 2046 and RFC 5322 line syntax). Part bodies are opaque bytes.
 *  - on_part_end is called only when the delimiter line that ends the part is
 *    complete and valid, so a part followed by garbage is never reported as
 *    complete.
 *
 * Speed: part bodies are scanned with ug_delim_find (16 positions at a
 * time for the delimiter's first and last byte), and each chunk's body
 * bytes go out in one on_part_data call unless a delimiter ends the part
 * inside the chunk. Because CR occurs in the
 * delimiter only at index 0 (bchars exclude it), a partial match can only
 * start at the last CR of a chunk, and when it is disproved none of its
 * bytes can start another match. So the lookbehind is just a count of
 * delimiter bytes matched so far: those bytes are delim[0..match) and are
 * re-emitted from `delim` itself when disproved. No per-chunk allocation.
 */
#include "upload/multipart/multipart.h"
#include "upload/multipart/multipart_header.h"
#include "upload/multipart/delim_find.h"

#include <stdlib.h>
#include <string.h>

enum mp_state {
    MP_PREAMBLE,       /* discarding bytes up to the first delimiter */
    MP_AFTER_BOUNDARY, /* just after "--" boundary: padding, CR or '-' */
    MP_PADDING,        /* transport padding: SP/HT until CR */
    MP_CLOSE_HYPHEN,   /* "--" boundary "-": the second '-' must follow */
    MP_DELIM_LF,       /* CR after the boundary line: LF must follow */
    MP_HEADERS,        /* accumulating a part's header block */
    MP_BODY,           /* part body: scanning for the delimiter */
    MP_EPILOGUE,       /* after the close delimiter: everything is ignored */
    MP_DEAD            /* an error happened; p->err is returned from now on */
};

struct ug_multipart_parser {
    enum mp_state state;
    ug_multipart_callbacks_t cb;
    void *ctx;
    /* CRLF "--" boundary; delim[0..match) is the lookbehind (see the top comment) */
    char delim[4 + UG_MULTIPART_MAX_BOUNDARY];
    size_t delim_len;
    size_t match;
    int in_part;       /* on_part_begin was called and on_part_end not yet */
    uint64_t nparts;   /* parts begun */
    uint64_t consumed; /* bytes fed before the current chunk */
    /* header block of the current part: hbuf[0..hlen), at most hmax bytes, CRLFs included */
    size_t hmax, hlen;
    size_t hline;       /* bytes in the current header line, CR excluded */
    size_t hline_start; /* index in hbuf of the current line */
    int hcr;            /* the last header byte was a CR */
    uint64_t hstart;    /* body offset of hbuf[0] */
    ug_err_t err;
    const char *why;
    uint64_t err_offset;
    char hbuf[];
};

static ug_err_t die(ug_multipart_parser_t *p, ug_err_t err, uint64_t offset, const char *why)
{
    p->state = MP_DEAD;
    p->err = err;
    p->why = why;
    p->err_offset = offset;
    return err;
}

/* A malformed body; `offset` is the offset in the whole body of the byte at fault. */
static ug_err_t malformed(ug_multipart_parser_t *p, uint64_t offset, const char *why)
{
    return die(p, UG_ERR_MALFORMED_MULTIPART, offset, why);
}

static ug_err_t emit_data(ug_multipart_parser_t *p, const char *data, size_t n, size_t at)
{
    ug_err_t e;

    if (n == 0 || !p->in_part || p->cb.on_part_data == NULL)
        return UG_OK; /* in the preamble, bytes are discarded */
    if ((e = p->cb.on_part_data(p->ctx, data, n)) != UG_OK)
        return die(p, e, p->consumed + at, "aborted by the on_part_data callback");
    return UG_OK;
}

static ug_err_t end_part(ug_multipart_parser_t *p, size_t at)
{
    ug_err_t e;

    if (!p->in_part)
        return UG_OK;
    p->in_part = 0;
    if (p->cb.on_part_end != NULL && (e = p->cb.on_part_end(p->ctx)) != UG_OK)
        return die(p, e, p->consumed + at, "aborted by the on_part_end callback");
    return UG_OK;
}

/*
 * MP_PREAMBLE / MP_BODY: scan buf[*pos..len) for the delimiter, emitting the
 * body bytes before it.
 */
enum scan_result {
    SCAN_FAILED,    /* a callback failed (p->err) */
    SCAN_USED_UP,   /* the chunk is used up; a partial match may be held back in p->match */
    SCAN_DELIMITER, /* the whole delimiter matched: *pos is just after it */
};
static enum scan_result scan_body(ug_multipart_parser_t *p, const char *buf, size_t len, size_t *pos)
{
    const char *d = p->delim;
    size_t dlen = p->delim_len, i = *pos, start;

    if (p->match > 0) {
        /* continue the match held back from the previous chunk */
        size_t need = dlen - p->match, n = len - i < need ? len - i : need;
        if (memcmp(buf + i, d + p->match, n) == 0) {
            p->match += n;
            *pos = i + n;
            if (p->match < dlen)
                return SCAN_USED_UP;
            p->match = 0;
            return SCAN_DELIMITER;
        }
        /* disproved: the held-back bytes are data, and cannot start a match (no CR after index 0) */
        if (emit_data(p, d, p->match, i) != UG_OK)
            return SCAN_FAILED;
        p->match = 0;
    }
    /* A whole delimiter in the chunk ends the part's data there. */
    size_t at = i + ug_delim_find(buf + i, len - i, d, dlen);
    if (at < len) {
        if (emit_data(p, buf + i, at - i, at) != UG_OK)
            return SCAN_FAILED;
        *pos = at + dlen;
        return SCAN_DELIMITER;
    }
    /* None: one may still begin in the chunk's last dlen - 1 bytes and end in the next chunk. It starts with the
     * delimiter's only CR, so the first CR there whose bytes agree with the delimiter is the one to hold back. */
    start = i;
    for (i = len - start >= dlen ? len - (dlen - 1) : start; i < len;) {
        const char *cr = memchr(buf + i, '\r', len - i);
        if (cr == NULL)
            break;
        size_t c = (size_t)(cr - buf);
        if (memcmp(cr, d, len - c) == 0) {
            if (emit_data(p, buf + start, c - start, c) != UG_OK)
                return SCAN_FAILED;
            *pos = len;
            p->match = len - c;
            return SCAN_USED_UP;
        }
        i = c + 1;
    }
    if (emit_data(p, buf + start, len - start, len) != UG_OK)
        return SCAN_FAILED;
    *pos = len;
    return SCAN_USED_UP;
}

/* The empty line ending a header block was just consumed: parse it, begin the part. */
static ug_err_t begin_part(ug_multipart_parser_t *p, size_t at)
{
    ug_multipart_part_t part;
    const char *why = NULL;
    size_t err_pos = 0;
    ug_err_t e;

    /* hbuf ends with the empty line's CRLF, which is not part of the fields */
    if (ug_multipart_parse_headers(p->hbuf, p->hlen - 2, &part, &why, &err_pos) != UG_OK)
        return die(p, UG_ERR_MALFORMED_MULTIPART, p->hstart + err_pos, why);
    p->in_part = 1;
    p->nparts++;
    p->state = MP_BODY;
    p->match = 0; /* the CRLF that ended the headers does not start the body's delimiter */
    if (p->cb.on_part_begin != NULL && (e = p->cb.on_part_begin(p->ctx, &part)) != UG_OK)
        return die(p, e, p->consumed + at, "aborted by the on_part_begin callback");
    return UG_OK;
}

/*
 * MP_HEADERS: copy bytes into hbuf until the empty line. Header blocks are
 * small, so a byte loop is fine here; it checks CRLF pairing as it goes so
 * that the error offset names the offending byte.
 */
static ug_err_t feed_headers(ug_multipart_parser_t *p, const char *buf, size_t len, size_t *pos)
{
    const char *why;
    size_t i, err_pos;

    for (i = *pos; i < len; i++) {
        char c = buf[i];
        if (p->hlen == p->hmax)
            return malformed(p, p->consumed + i, "part header block exceeds max_header_size");
        p->hbuf[p->hlen++] = c;
        if (p->hcr) {
            if (c != '\n')
                return malformed(p, p->consumed + i - 1, "bare CR in part header block");
            p->hcr = 0;
            if (p->hline == 0) { /* CRLF at the start of a line: end of the block */
                *pos = i + 1;
                return begin_part(p, i + 1);
            }
            if (ug_multipart_check_header_line(p->hbuf + p->hline_start, p->hline, p->hline_start == 0, &why, &err_pos) != 0)
                return malformed(p, p->hstart + p->hline_start + err_pos, why);
            p->hline = 0;
            p->hline_start = p->hlen;
        } else if (c == '\r') {
            p->hcr = 1;
        } else if (c == '\n') {
            return malformed(p, p->consumed + i, "bare LF in part header block");
        } else {
            p->hline++;
        }
    }
    *pos = len;
    return UG_OK;
}

ug_err_t ug_multipart_feed(ug_multipart_parser_t *p, const char *buf, size_t len)
{
    size_t i = 0;

    if (p->state == MP_DEAD)
        return p->err;
    while (i < len) {
        char c;
        enum scan_result scan;
        switch (p->state) {
        case MP_PREAMBLE:
        case MP_BODY:
            if ((scan = scan_body(p, buf, len, &i)) == SCAN_FAILED)
                return p->err;
            if (scan == SCAN_DELIMITER)
                p->state = MP_AFTER_BOUNDARY;
            break;
        case MP_AFTER_BOUNDARY:
        case MP_PADDING:
            c = buf[i++];
            if (c == ' ' || c == '\t') {
                p->state = MP_PADDING;
            } else if (c == '\r') {
                p->state = MP_DELIM_LF;
            } else if (c == '-' && p->state == MP_AFTER_BOUNDARY) {
                p->state = MP_CLOSE_HYPHEN;
            } else {
                return malformed(p, p->consumed + i - 1, "boundary not followed by CRLF or \"--\" (RFC 2046 5.1.1)");
            }
            break;
        case MP_CLOSE_HYPHEN:
            if (buf[i++] != '-')
                return malformed(p, p->consumed + i - 1, "boundary not followed by CRLF or \"--\" (RFC 2046 5.1.1)");
            if (p->nparts == 0) /* RFC 2046 5.1.1: at least one body-part before the close-delimiter */
                return malformed(p, p->consumed + i - 1, "close delimiter without any body part");
            if (end_part(p, i) != UG_OK)
                return p->err;
            p->state = MP_EPILOGUE;
            break;
        case MP_DELIM_LF:
            if (buf[i++] != '\n') /* the CR at fault is the byte before this one */
                return malformed(p, p->consumed + i - 2, "bare CR after boundary");
            if (end_part(p, i) != UG_OK)
                return p->err;
            p->state = MP_HEADERS;
            p->hlen = p->hline = p->hline_start = 0;
            p->hcr = 0;
            p->hstart = p->consumed + i;
            break;
        case MP_HEADERS:
            if (feed_headers(p, buf, len, &i) != UG_OK)
                return p->err;
            break;
        case MP_EPILOGUE: /* RFC 2046 5.1.1: the epilogue is to be ignored */
            i = len;
            break;
        case MP_DEAD:
            return p->err;
        }
    }
    p->consumed += len;
    return UG_OK;
}

ug_err_t ug_multipart_finish(ug_multipart_parser_t *p)
{
    const char *why;

    switch (p->state) {
    case MP_EPILOGUE:
        return UG_OK;
    case MP_DEAD:
        return p->err;
    case MP_PREAMBLE:
        why = p->consumed == 0 ? "empty multipart body" : "no boundary delimiter in the body";
        break;
    case MP_HEADERS:
        why = "body ended inside a part header block";
        break;
    case MP_BODY:
        why = "body ended inside a part (no close delimiter)";
        break;
    default:
        why = "body ended inside a delimiter line (no close delimiter)";
        break;
    }
    return die(p, UG_ERR_MALFORMED_MULTIPART, p->consumed, why);
}

ug_multipart_parser_t *ug_multipart_new(const char *boundary, size_t boundary_len, size_t max_header_size,
                                        const ug_multipart_callbacks_t *cb, void *ctx)
{
    ug_multipart_parser_t *p;

    if (boundary == NULL || boundary_len == 0 || boundary_len > UG_MULTIPART_MAX_BOUNDARY)
        return NULL;
    if (max_header_size < 2) /* room for at least the empty line */
        max_header_size = 2;
    if (max_header_size > SIZE_MAX - sizeof(*p) || (p = calloc(1, sizeof(*p) + max_header_size)) == NULL)
        return NULL;
    p->state = MP_PREAMBLE;
    if (cb != NULL)
        p->cb = *cb;
    p->ctx = ctx;
    memcpy(p->delim, "\r\n--", 4);
    memcpy(p->delim + 4, boundary, boundary_len);
    p->delim_len = 4 + boundary_len;
    /* the body is scanned as if preceded by CRLF, so "--boundary" may open it (RFC 2046: [preamble CRLF]) */
    p->match = 2;
    p->hmax = max_header_size;
    return p;
}

const char *ug_multipart_error_message(const ug_multipart_parser_t *p)
{
    return p->state == MP_DEAD ? p->why : NULL;
}

uint64_t ug_multipart_error_offset(const ug_multipart_parser_t *p)
{
    return p->state == MP_DEAD ? p->err_offset : 0;
}

void ug_multipart_free(ug_multipart_parser_t *p)
{
    free(p);
}
