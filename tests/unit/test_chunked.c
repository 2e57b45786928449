/*
 * The chunked request-body decoder (src/http/chunked.c): what it accepts (RFC 9112 7.1 exactly, extensions and trailers
 * included) and refuses ("0x5", "5zz", signs, bare LF, ...), whatever way the input is split between calls.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "http/chunked.h"

#define S(s) s, sizeof(s) - 1

typedef struct outcome {
    ug_chunked_result_t r;
    char *data; /* decoded bytes (malloc'd) */
    size_t len;
    char *rest; /* the bytes after the body (DONE), malloc'd */
    size_t rest_len;
    const char *error;
} outcome_t;

static void outcome_free(outcome_t *o)
{
    free(o->data);
    free(o->rest);
}

/* Decode `in` given to the decoder in the pieces the cut points make (cuts ascending, each in 0..len), as a front
 * does: every call gets only the new bytes, its decoded output is taken away at once. */
static outcome_t decode_cut(const char *in, size_t len, const size_t *cuts, size_t ncuts)
{
    ug_chunked_decoder_t d;
    ug_chunked_init(&d);
    outcome_t o = {.r = UG_CHUNKED_INCOMPLETE, .data = malloc(len + 1), .rest = malloc(len + 1)};
    char *buf = malloc(len + 1);
    size_t from = 0;
    for (size_t i = 0; i <= ncuts && o.r == UG_CHUNKED_INCOMPLETE; ++i) {
        size_t to = i < ncuts ? cuts[i] : len, n = to - from, rest = 99;
        memcpy(buf, in + from, n);
        o.r = ug_chunked_decode(&d, buf, &n, &rest);
        cr_assert(n <= to - from);
        memcpy(o.data + o.len, buf, n);
        o.len += n;
        if (o.r == UG_CHUNKED_DONE) {
            cr_assert(n + rest <= to - from);
            memcpy(o.rest, buf + n, rest);
            o.rest_len = rest;
            /* the rest of the input was never given: it follows the body too */
            memcpy(o.rest + o.rest_len, in + to, len - to);
            o.rest_len += len - to;
        } else {
            cr_assert_eq(rest, 0);
        }
        from = to;
    }
    o.error = d.error;
    cr_assert_eq(o.r == UG_CHUNKED_ERROR, d.error != NULL);
    if (o.r == UG_CHUNKED_ERROR) { /* an error stays */
        size_t n = 1, rest;
        cr_assert_eq(ug_chunked_decode(&d, buf, &n, &rest), UG_CHUNKED_ERROR);
    }
    free(buf);
    return o;
}

/* The same outcome in one piece, cut once at every offset, and byte by byte; returns the one-piece outcome. */
static outcome_t decode_every_way(const char *in, size_t len)
{
    outcome_t whole = decode_cut(in, len, NULL, 0);
    for (size_t k = 0; k <= len; ++k) {
        outcome_t o = decode_cut(in, len, &k, 1);
        cr_assert_eq(o.r, whole.r, "cut at %zu of %.*s", k, (int)len, in);
        cr_assert_eq(o.len, whole.len, "cut at %zu", k);
        cr_assert_arr_eq(o.data, whole.data, o.len);
        cr_assert_eq(o.rest_len, whole.rest_len, "cut at %zu", k);
        cr_assert_arr_eq(o.rest, whole.rest, o.rest_len);
        outcome_free(&o);
    }
    size_t *cuts = malloc(sizeof(*cuts) * (len + 1));
    for (size_t k = 0; k < len; ++k)
        cuts[k] = k + 1;
    outcome_t bytes = decode_cut(in, len, cuts, len != 0 ? len - 1 : 0);
    cr_assert_eq(bytes.r, whole.r);
    cr_assert_eq(bytes.len, whole.len);
    cr_assert_arr_eq(bytes.data, whole.data, bytes.len);
    outcome_free(&bytes);
    free(cuts);
    return whole;
}

static void accepts(const char *in, size_t len, const char *data, size_t data_len, const char *rest, size_t rest_len)
{
    outcome_t o = decode_every_way(in, len);
    cr_assert_eq(o.r, UG_CHUNKED_DONE, "%.*s: %s", (int)len, in, o.error ? o.error : "incomplete");
    cr_assert_eq(o.len, data_len, "%.*s", (int)len, in);
    cr_assert_arr_eq(o.data, data, data_len);
    cr_assert_eq(o.rest_len, rest_len, "%.*s", (int)len, in);
    cr_assert_arr_eq(o.rest, rest, rest_len);
    outcome_free(&o);
}

static void refuses(const char *in, size_t len, const char *why)
{
    outcome_t o = decode_every_way(in, len);
    cr_assert_eq(o.r, UG_CHUNKED_ERROR, "%.*s was not refused", (int)len, in);
    cr_assert(strstr(o.error, why) != NULL, "%.*s: '%s' lacks '%s'", (int)len, in, o.error, why);
    outcome_free(&o);
}

static void incomplete(const char *in, size_t len)
{
    outcome_t o = decode_every_way(in, len);
    cr_assert_eq(o.r, UG_CHUNKED_INCOMPLETE, "%.*s: %s", (int)len, in, o.error ? o.error : "done");
    outcome_free(&o);
}

Test(chunked, plain_bodies_and_what_follows)
{
    accepts(S("5\r\nhello\r\n0\r\n\r\n"), S("hello"), S(""));
    accepts(S("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), S("hello"), S("GET / HTTP/1.1\r\n"));
    accepts(S("0\r\n\r\n"), S(""), S(""));
    accepts(S("3\r\nabc\r\na\r\n0123456789\r\nF\r\n0123456789abcde\r\n0\r\n\r\n"), S("abc01234567890123456789abcde"), S(""));
    accepts(S("1\r\n\r\r\n2\r\n\n\r\r\n0\r\n\r\n"), S("\r\n\r"), S("")); /* framing bytes inside data are data */
    accepts(S("0005\r\nhello\r\n000\r\n\r\n"), S("hello"), S(""));
    accepts(S("000000000000000A\r\n0123456789\r\n0000000000000000\r\n\r\n"), S("0123456789"), S(""));
}

Test(chunked, incomplete_bodies_wait)
{
    incomplete(S(""));
    incomplete(S("5"));
    incomplete(S("5\r\nhel"));
    incomplete(S("5\r\nhello\r\n"));
    incomplete(S("5\r\nhello\r\n0\r\n"));
    incomplete(S("0\r\nX-T: 1\r\n"));
    incomplete(S("FFFFFFFFFFFFFFFF\r\nxyz")); /* the largest size fits 64 bits */
}

Test(chunked, sizes_are_exactly_hex_digits)
{
    refuses(S("0x5\r\nhello\r\n0\r\n\r\n"), "chunk size");
    refuses(S("0x3a\r\n"), "chunk size");
    refuses(S("5zz\r\nhello\r\n0\r\n\r\n"), "chunk size");
    refuses(S("-5\r\nhello\r\n"), "chunk size");
    refuses(S("+5\r\nhello\r\n"), "chunk size");
    refuses(S(" 5\r\nhello\r\n"), "chunk size");
    refuses(S("\r\nhello\r\n"), "chunk size");
    refuses(S("5\x00\r\n"), "chunk size");
    refuses(S("g\r\n"), "chunk size");
    refuses(S("00000000000000005\r\nhello\r\n"), "too many digits");    /* 17 digits */
    refuses(S("10000000000000000\r\n"), "too many digits");            /* would overflow 64 bits */
}

Test(chunked, extensions_follow_rfc9112)
{
    accepts(S("5;a\r\nhello\r\n0\r\n\r\n"), S("hello"), S(""));
    accepts(S("5 ;ext\r\nhello\r\n0\r\n\r\n"), S("hello"), S(""));
    accepts(S("5\t ; a = b ;c;d=\"q \\\"x\\\\\" \t; e\r\nhello\r\n0;last=1\r\n\r\n"), S("hello"), S(""));
    accepts(S("5;a=\"\"\r\nhello\r\n0\r\n\r\n"), S("hello"), S(""));
    accepts(S("5;a=\"\xe9\"\r\nhello\r\n0\r\n\r\n"), S("hello"), S("")); /* obs-text */
    refuses(S("5 \r\nhello\r\n"), "extension");       /* BWS only before ";" */
    refuses(S("5;\r\nhello\r\n"), "extension name");
    refuses(S("5; \r\nhello\r\n"), "extension name");
    refuses(S("5;a \r\nhello\r\n"), "extension name");
    refuses(S("5;a=\r\nhello\r\n"), "extension value");
    refuses(S("5;a=b \r\nhello\r\n"), "extension");
    refuses(S("5;a b\r\nhello\r\n"), "extension name");
    refuses(S("5;a=b c\r\nhello\r\n"), "extension");
    refuses(S("5;a=\"x\r\nhello\r\n"), "quoted");
    refuses(S("5;a=\"x\"y\r\nhello\r\n"), "extension value");
    refuses(S("5;a=\"\\\x01\"\r\nhello\r\n"), "quoted");
    refuses(S("5;(a)\r\nhello\r\n"), "extension name");
    refuses(S("5;a=@\r\nhello\r\n"), "extension value");
}

Test(chunked, size_lines_are_bounded)
{
    char line[UG_CHUNKED_MAX_LINE + 64];
    size_t n = 0;
    line[n++] = '5';
    line[n++] = ';';
    while (n < UG_CHUNKED_MAX_LINE)
        line[n++] = 'a';
    memcpy(line + n, "\r\nhello\r\n0\r\n\r\n", 14);
    accepts(line, n + 14, S("hello"), S(""));
    line[n++] = 'a';
    memcpy(line + n, "\r\nhello\r\n0\r\n\r\n", 14);
    refuses(line, n + 14, "too long");
}

Test(chunked, every_line_ends_with_crlf)
{
    refuses(S("5\nhello\r\n0\r\n\r\n"), "bare LF");
    refuses(S("5;a=b\nhello\r\n"), "bare LF");
    refuses(S("5\r\rhello\r\n"), "CRLF");
    refuses(S("5\r\nhello\n0\r\n\r\n"), "CRLF");
    refuses(S("5\r\nhelloXX0\r\n\r\n"), "CRLF");
    refuses(S("5\r\nhello\r\r0\r\n\r\n"), "CRLF");
    refuses(S("5\r\nhello\r\n0\r\n\n"), "trailer");
    refuses(S("5\r\nhello\r\n0\r\n\r\r"), "CRLF");
    refuses(S("5\r\nhello\r\n0\n\r\n"), "bare LF");
}

Test(chunked, data_before_an_error_is_still_given)
{
    outcome_t o = decode_cut(S("5\r\nhello\r\nzz\r\n"), NULL, 0);
    cr_assert_eq(o.r, UG_CHUNKED_ERROR);
    cr_assert_eq(o.len, 5);
    cr_assert_arr_eq(o.data, "hello", 5);
    outcome_free(&o);
}

Test(chunked, trailers_are_read_and_dropped)
{
    accepts(S("5\r\nhello\r\n0\r\nX-Trailer: v 1\r\nY:\r\nZ:\t\"q\"\xe9\r\n\r\nNEXT"), S("hello"), S("NEXT"));
    refuses(S("0\r\nX-T: v\n\r\n"), "CRLF");
    refuses(S("0\r\nX-T: v\r\n folded\r\n\r\n"), "trailer field");   /* obs-fold */
    refuses(S("0\r\nX-T : v\r\n\r\n"), "trailer field name");
    refuses(S("0\r\n: v\r\n\r\n"), "trailer field");
    refuses(S("0\r\nX-T\r\n\r\n"), "trailer field name");
    refuses(S("0\r\nX-T: a\x01b\r\n\r\n"), "trailer field value");
    refuses(S("0\r\nX-T: a\x7f\r\n\r\n"), "trailer field value");
}

Test(chunked, trailer_section_is_bounded)
{
    static char in[UG_CHUNKED_MAX_TRAILER + 64];
    size_t n = 0;
    memcpy(in, "0\r\nX:", 5);
    n = 5;
    /* the section counts from the first trailer byte through the final CRLF: "X:" + value + CRLF + CRLF */
    while (n - 3 + 4 < UG_CHUNKED_MAX_TRAILER)
        in[n++] = 'v';
    memcpy(in + n, "\r\n\r\n", 4);
    ug_chunked_decoder_t d;
    ug_chunked_init(&d);
    size_t len = n + 4, rest;
    char *copy = malloc(len);
    memcpy(copy, in, len);
    cr_assert_eq(ug_chunked_decode(&d, copy, &len, &rest), UG_CHUNKED_DONE, "%s", d.error);
    free(copy);
    in[n++] = 'v';
    memcpy(in + n, "\r\n\r\n", 4);
    ug_chunked_init(&d);
    len = n + 4;
    cr_assert_eq(ug_chunked_decode(&d, in, &len, &rest), UG_CHUNKED_ERROR);
    cr_assert(strstr(d.error, "trailer section too large") != NULL, "%s", d.error);
}
