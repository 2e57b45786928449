/*
 * multipart_header.c - header-value parsing for multipart/form-data: the
 * request's Content-Type (boundary extraction) and each part's header block.
 *
 * Policy, in one place (the unit tests assert each point):
 *  - Part header lines follow RFC 5322 / RFC 2045 (MIME headers, which
 *    RFC 7578 uses): name ":" value, name a token, no space before the colon.
 *    An obsolete folded line (starting with SP or HT) continues the previous
 *    field and is unfolded by removing the CRLF (RFC 5322 3.2.2).
 *  - Control characters other than HT are rejected anywhere in the block;
 *    that includes NUL, so no returned string contains one.
 *  - RFC 7578 4.2: every part MUST have "Content-Disposition: form-data" with
 *    a "name" parameter. A part without either is rejected rather than
 *    skipped: a backend behind this proxy cannot address an unnamed part, and
 *    silently dropping data would make the proxy and the backend disagree.
 *  - Parameter values are a token or a quoted-string. Inside quotes a
 *    backslash escapes only '"' and '\' (what curl and RFC-minded clients
 *    send); any other backslash is kept literally, because browsers never
 *    escape (WHATWG percent-encodes only '"', CR and LF) and a Windows path
 *    such as C:\dir\a.txt must survive. The filename is metadata only.
 *  - Leniency for real clients: an unquoted value runs to the next ';'
 *    (trailing whitespace trimmed), and bytes between a closing quote and the
 *    next ';' are ignored (old IE and Firefox sent unescaped '"' inside
 *    quoted filenames). A parameter without '=' is ignored.
 *  - Duplicate Content-Disposition or Content-Type fields, and duplicate
 *    name / filename / filename* parameters, are rejected: which one wins is
 *    parser-specific, so accepting them invites proxy/backend disagreement.
 *  - filename* (RFC 8187, charset UTF-8 or ISO-8859-1) is decoded to UTF-8
 *    and wins over filename (RFC 6266 4.3), although RFC 7578 4.2 tells
 *    senders not to use it. An undecodable filename* (unknown charset, bad
 *    percent-encoding, invalid UTF-8, control characters) is ignored when a
 *    plain filename is present and is an error otherwise, so that a file part
 *    never silently turns into a plain field.
 */
#include "upload/multipart/multipart_header.h"

#include <string.h>

#include "common/httpchar.h"

/* Whitespace inside a part header value: SP, HT, and the CR LF of an obs-fold. */
static int is_fws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* Case-insensitive comparison of s[0..n) with a lower-case literal. */
static int ieq(const char *s, size_t n, const char *lit)
{
    size_t i;

    if (strlen(lit) != n)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (c != (unsigned char)lit[i])
            return 0;
    }
    return 1;
}

/* ---- request Content-Type ------------------------------------------------ */

/* RFC 2046 5.1.1: bchars := bcharsnospace / " " */
static int is_bchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("'()+_,-./:=? ", c) != NULL;
}

/*
 * Checks `type "/" subtype` (after optional OWS) against multipart/form-data;
 * both are case-insensitive (RFC 2045 5.1). *pos is left after the subtype.
 */
static int media_type_is_form_data(const char *s, size_t len, size_t *pos)
{
    size_t i = 0, t;

    while (i < len && is_ows((unsigned char)s[i]))
        i++;
    for (t = i; i < len && ug_is_tchar((unsigned char)s[i]); i++)
        ;
    if (!ieq(s + t, i - t, "multipart") || i == len || s[i] != '/')
        return 0;
    for (t = ++i; i < len && ug_is_tchar((unsigned char)s[i]); i++)
        ;
    if (!ieq(s + t, i - t, "form-data"))
        return 0;
    *pos = i;
    return 1;
}

int ug_multipart_is_form_data(const char *content_type, size_t len)
{
    size_t i;

    if (content_type == NULL || !media_type_is_form_data(content_type, len, &i))
        return 0;
    while (i < len && is_ows((unsigned char)content_type[i]))
        i++;
    return i == len || content_type[i] == ';';
}

/*
 * Reads a parameter value (RFC 9110 5.6.6: token / quoted-string) at *pos.
 * When `out` is not NULL the unquoted value is copied there (at most `cap`
 * bytes; *out_len is set to cap + 1 when longer). Returns 0, or -1 on a
 * syntax error.
 */
static int read_param_value(const char *s, size_t len, size_t *pos, char *out, size_t cap, size_t *out_len)
{
    size_t i = *pos, n = 0;

    if (i < len && s[i] == '"') {
        for (i++;; i++) {
            unsigned char c;
            if (i == len)
                return -1; /* unterminated */
            c = (unsigned char)s[i];
            if (c == '"')
                break;
            if (c == '\\') { /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
                if (++i == len)
                    return -1;
                c = (unsigned char)s[i];
            }
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return -1;
            if (out != NULL && n < cap)
                out[n] = (char)c;
            n++;
        }
        i++; /* closing quote */
    } else {
        for (; i < len && ug_is_tchar((unsigned char)s[i]); i++) {
            if (out != NULL && n < cap)
                out[n] = s[i];
            n++;
        }
    }
    *pos = i;
    if (out_len != NULL)
        *out_len = n > cap ? cap + 1 : n;
    return 0;
}

static ug_err_t bad_ct(const char **why, const char *msg)
{
    if (why != NULL)
        *why = msg;
    return UG_ERR_MALFORMED_MULTIPART;
}

ug_err_t ug_multipart_boundary(const char *content_type, size_t len, char *out, size_t *out_len, const char **why)
{
    const char *s = content_type;
    size_t i, n = 0, k;
    int found = 0;

    if (out == NULL)
        return bad_ct(why, "no output buffer");
    if (s == NULL || !media_type_is_form_data(s, len, &i))
        return bad_ct(why, "Content-Type is not multipart/form-data");
    /* parameters = *( OWS ";" OWS [ parameter ] ), no space around '=' (RFC 9110 5.6.6) */
    for (;;) {
        size_t name, name_end, vlen;
        int is_boundary;

        while (i < len && is_ows((unsigned char)s[i]))
            i++;
        if (i == len)
            break;
        if (s[i] != ';')
            return bad_ct(why, "malformed Content-Type parameters");
        for (i++; i < len && is_ows((unsigned char)s[i]); i++)
            ;
        if (i == len || s[i] == ';')
            continue; /* empty parameter */
        for (name = i; i < len && ug_is_tchar((unsigned char)s[i]); i++)
            ;
        name_end = i;
        if (name_end == name || i == len || s[i] != '=')
            return bad_ct(why, "malformed Content-Type parameter");
        i++;
        is_boundary = ieq(s + name, name_end - name, "boundary");
        if (is_boundary && found)
            return bad_ct(why, "duplicate boundary parameter");
        if (read_param_value(s, len, &i, is_boundary ? out : NULL, UG_MULTIPART_MAX_BOUNDARY, &vlen) != 0)
            return bad_ct(why, "malformed Content-Type parameter value");
        if (i < len && s[i] != ';' && !is_ows((unsigned char)s[i]))
            return bad_ct(why, "malformed Content-Type parameter value"); /* e.g. a '\' or '/' in a token */
        if (is_boundary) {
            found = 1;
            n = vlen;
        }
    }
    if (!found)
        return bad_ct(why, "Content-Type has no boundary parameter");
    /* RFC 2046 5.1.1: boundary := 0*69<bchars> bcharsnospace */
    if (n == 0)
        return bad_ct(why, "boundary is empty");
    if (n > UG_MULTIPART_MAX_BOUNDARY)
        return bad_ct(why, "boundary is longer than 70 characters");
    for (k = 0; k < n; k++) {
        if (!is_bchar((unsigned char)out[k]))
            return bad_ct(why, "boundary has a character outside the RFC 2046 bchars");
    }
    if (out[n - 1] == ' ')
        return bad_ct(why, "boundary ends with a space");
    out[n] = '\0';
    if (out_len != NULL)
        *out_len = n;
    return UG_OK;
}

/* ---- part header block ---------------------------------------------------- */

/* A value inside the block: [off, off + len), quotes included when quoted. */
struct span {
    size_t off, len;
    int set, quoted;
};

struct part_headers {
    struct span name, filename, filename_ext, content_type;
    int have_disposition;
    size_t disposition_pos;
    const char *why;
    size_t err_pos;
};

static int fail(struct part_headers *h, size_t pos, const char *why)
{
    h->why = why;
    h->err_pos = pos;
    return -1;
}

static size_t skip_fws(const char *b, size_t i, size_t end)
{
    while (i < end && is_fws((unsigned char)b[i]))
        i++;
    return i;
}

static size_t skip_to_semicolon(const char *b, size_t i, size_t end)
{
    const char *semi = memchr(b + i, ';', end - i);
    return semi != NULL ? (size_t)(semi - b) : end;
}

/*
 * Content-Disposition value b[i..end): RFC 2183 disposition-type *(";" parm),
 * type "form-data" (RFC 7578 4.2).
 */
static int parse_disposition(struct part_headers *h, const char *b, size_t i, size_t end)
{
    size_t t;

    i = skip_fws(b, i, end);
    for (t = i; i < end && ug_is_tchar((unsigned char)b[i]); i++)
        ;
    if (!ieq(b + t, i - t, "form-data"))
        return fail(h, t, "part Content-Disposition is not form-data (RFC 7578 4.2)");
    i = skip_fws(b, i, end);
    if (i < end && b[i] != ';')
        return fail(h, i, "malformed part Content-Disposition");
    while (i < end) { /* b[i] == ';' */
        size_t pname, pname_end;
        struct span v = {0, 0, 1, 0}, *slot = NULL;

        i = skip_fws(b, i + 1, end);
        if (i == end)
            break; /* a trailing ';' */
        for (pname = i; i < end && ug_is_tchar((unsigned char)b[i]); i++)
            ;
        pname_end = i;
        i = skip_fws(b, i, end);
        if (pname_end == pname || i == end || b[i] != '=') {
            i = skip_to_semicolon(b, i, end); /* not a parameter: ignore it */
            continue;
        }
        i = skip_fws(b, i + 1, end);
        if (i < end && b[i] == '"') {
            size_t q;
            for (q = i + 1; q < end && b[q] != '"'; q++) {
                if (b[q] == '\\' && q + 1 < end && (b[q + 1] == '"' || b[q + 1] == '\\'))
                    q++;
            }
            if (q >= end)
                return fail(h, i, "unterminated quoted-string in part Content-Disposition");
            v.off = i;
            v.len = q + 1 - i;
            v.quoted = 1;
            i = q + 1;
        } else {
            size_t e = skip_to_semicolon(b, i, end);
            v.off = i;
            while (e > i && is_fws((unsigned char)b[e - 1]))
                e--;
            v.len = e - i;
        }
        if (ieq(b + pname, pname_end - pname, "name"))
            slot = &h->name;
        else if (ieq(b + pname, pname_end - pname, "filename"))
            slot = &h->filename;
        else if (ieq(b + pname, pname_end - pname, "filename*"))
            slot = &h->filename_ext;
        if (slot != NULL) {
            if (slot->set)
                return fail(h, pname, "duplicate parameter in part Content-Disposition");
            *slot = v;
        }
        /* RFC 2183 wants ';' right after a value; see the leniency note at the top */
        i = skip_to_semicolon(b, i, end);
    }
    return 0;
}

/*
 * Syntax of a field (or of its first line): RFC 5322 2.2 / 3.6.8,
 * field-name ":" value, field-name a token, no control characters but HT in
 * the value (CR and LF can only be the CRLF of an obs-fold: the framing layer
 * checked their pairing). b[s..e) excludes the final CRLF. Sets *colon.
 */
static int check_field(const char *b, size_t s, size_t e, size_t *colon, const char **why, size_t *err_pos)
{
    size_t i, c;

    for (c = s; c < e && ug_is_tchar((unsigned char)b[c]); c++)
        ;
    if (c == e) {
        *why = "part header line without a colon";
        *err_pos = e;
        return -1;
    }
    if (b[c] != ':' || c == s) {
        *why = b[c] != ':' ? "invalid character in part header name" : "empty part header name";
        *err_pos = c;
        return -1;
    }
    for (i = c + 1; i < e; i++) {
        unsigned char ch = (unsigned char)b[i];
        if ((ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || ch == 0x7f) {
            *why = "control character in part header value";
            *err_pos = i;
            return -1;
        }
    }
    *colon = c;
    return 0;
}

int ug_multipart_check_header_line(const char *line, size_t len, int first, const char **why, size_t *err_pos)
{
    size_t colon, i;

    if (len == 0 || !is_ows((unsigned char)line[0]))
        return check_field(line, 0, len, &colon, why, err_pos);
    if (first) {
        *why = "folded part header line with no field before it";
        *err_pos = 0;
        return -1;
    }
    for (i = 0; i < len; i++) { /* an obs-fold continuation: value bytes only */
        unsigned char ch = (unsigned char)line[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            *why = "control character in part header value";
            *err_pos = i;
            return -1;
        }
    }
    return 0;
}

/* One header field b[s..e) (e is the CR of its final CRLF; folds inside). */
static int parse_field(struct part_headers *h, const char *b, size_t s, size_t e)
{
    size_t i, colon;

    if (check_field(b, s, e, &colon, &h->why, &h->err_pos) != 0)
        return -1;
    if (ieq(b + s, colon - s, "content-disposition")) {
        if (h->have_disposition)
            return fail(h, s, "duplicate Content-Disposition in part header");
        h->have_disposition = 1;
        h->disposition_pos = s;
        return parse_disposition(h, b, colon + 1, e);
    }
    if (ieq(b + s, colon - s, "content-type")) {
        if (h->content_type.set)
            return fail(h, s, "duplicate Content-Type in part header");
        i = skip_fws(b, colon + 1, e);
        while (e > i && is_fws((unsigned char)b[e - 1]))
            e--;
        h->content_type = (struct span){i, e - i, 1, 0};
    }
    return 0; /* other fields are ignored (RFC 7578 4.8) */
}

/*
 * Decodes a span in place: drops the quotes, resolves quoted-pairs and
 * removes the CRLF of folds. The result never grows, so it is written over
 * the span itself and NUL-terminated; the NUL lands at most on the byte after
 * the span (a ';', whitespace or CR), which parsing no longer needs.
 */
static size_t decode_span(char *b, const struct span *v)
{
    const char *r = b + v->off, *end = r + v->len;
    char *w = b + v->off;

    if (v->quoted) {
        r++;
        end--;
    }
    while (r < end) {
        char c = *r++;
        if (c == '\r' || c == '\n')
            continue;
        if (v->quoted && c == '\\' && r < end && (*r == '"' || *r == '\\'))
            c = *r++;
        *w++ = c;
    }
    *w = '\0';
    return (size_t)(w - (b + v->off));
}

/* RFC 8187 3.2.1 attr-char */
static int is_attr_char(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL;
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF. */
static int is_valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t k, more;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= more)
            return 0;
        for (k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += more + 1;
    }
    return 1;
}

/*
 * RFC 8187 3.2.1: ext-value = charset "'" [ language ] "'" value-chars.
 * Decodes s[0..len) in place into UTF-8. Returns the new length, or -1.
 * Writing never overtakes reading: the prefix up to the second quote is at
 * least two bytes, and "%XX" (3 bytes) becomes at most 2 bytes.
 */
static long decode_ext_value(char *s, size_t len)
{
    const char *q1, *q2, *r, *end = s + len;
    unsigned char *w = (unsigned char *)s;
    int latin1;

    if ((q1 = memchr(s, '\'', len)) == NULL || (q2 = memchr(q1 + 1, '\'', (size_t)(end - q1 - 1))) == NULL)
        return -1;
    if (ieq(s, (size_t)(q1 - s), "utf-8"))
        latin1 = 0;
    else if (ieq(s, (size_t)(q1 - s), "iso-8859-1"))
        latin1 = 1;
    else
        return -1;
    for (r = q2 + 1; r < end;) {
        unsigned char c = (unsigned char)*r;
        if (c == '%') {
            int hi, lo;
            if (end - r < 3 || (hi = ug_hex_value((unsigned char)r[1])) < 0 || (lo = ug_hex_value((unsigned char)r[2])) < 0)
                return -1;
            c = (unsigned char)(hi << 4 | lo);
            r += 3;
        } else if (is_attr_char(c)) {
            r++;
        } else {
            return -1;
        }
        if (c < 0x20 || c == 0x7f) /* no NUL or control characters in a filename */
            return -1;
        if (latin1 && c >= 0x80) {
            *w++ = (unsigned char)(0xc0 | (c >> 6));
            *w++ = (unsigned char)(0x80 | (c & 0x3f));
        } else {
            *w++ = c;
        }
    }
    if (!latin1 && !is_valid_utf8((const unsigned char *)s, (size_t)((char *)w - s)))
        return -1;
    *w = '\0';
    return (long)((char *)w - s);
}

ug_err_t ug_multipart_parse_headers(char *block, size_t len, ug_multipart_part_t *part, const char **why, size_t *err_pos)
{
    struct part_headers h;
    size_t i = 0;

    memset(&h, 0, sizeof(h));
    memset(part, 0, sizeof(*part));
    if (len > 0 && is_ows((unsigned char)block[0])) {
        fail(&h, 0, "folded part header line with no field before it");
        goto Error;
    }
    while (i < len) {
        /* the field ends at the first CRLF not followed by SP/HT (an obs-fold) */
        size_t e = i;
        for (;;) {
            const char *cr = memchr(block + e, '\r', len - e);
            e = (size_t)(cr - block); /* the block always ends with CRLF */
            if (e + 2 < len && is_ows((unsigned char)block[e + 2])) {
                e += 2;
                continue;
            }
            break;
        }
        if (parse_field(&h, block, i, e) != 0)
            goto Error;
        i = e + 2;
    }
    if (!h.have_disposition) {
        fail(&h, len, "part has no Content-Disposition (RFC 7578 4.2)");
        goto Error;
    }
    if (!h.name.set) {
        fail(&h, h.disposition_pos, "part Content-Disposition has no name parameter (RFC 7578 4.2)");
        goto Error;
    }

    /* All parsing is done: from here on the block is overwritten with the decoded strings. */
    part->name = block + h.name.off;
    part->name_len = decode_span(block, &h.name);
    if (h.filename_ext.set) {
        long n;
        size_t raw = decode_span(block, &h.filename_ext);
        if ((n = decode_ext_value(block + h.filename_ext.off, raw)) >= 0) {
            part->filename = block + h.filename_ext.off;
            part->filename_len = (size_t)n;
        } else if (!h.filename.set) {
            fail(&h, h.filename_ext.off, "undecodable filename* in part Content-Disposition (RFC 8187)");
            goto Error;
        }
    }
    if (part->filename == NULL && h.filename.set) {
        part->filename = block + h.filename.off;
        part->filename_len = decode_span(block, &h.filename);
    }
    if (h.content_type.set) {
        part->content_type = block + h.content_type.off;
        part->content_type_len = decode_span(block, &h.content_type);
    }
    return UG_OK;

Error:
    memset(part, 0, sizeof(*part));
    *why = h.why;
    *err_pos = h.err_pos;
    return UG_ERR_MALFORMED_MULTIPART;
}
