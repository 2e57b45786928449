/*
 * fuzz_part_header.c - libFuzzer target for the parsing of one part's header
 * block (src/upload/multipart/multipart_header.c: ug_multipart_parse_headers and
 * ug_multipart_check_header_line).
 *
 * Input: header lines separated by '\n'. The harness keeps the contract the
 * framing layer gives the parser: every CR byte is dropped, empty lines are
 * dropped (an empty line would end the block), and each line gets a CRLF. So
 * "Content-Disposition: form-data; name=a\n filename=b" becomes a two-line
 * block with an obs-fold. The block lives in a heap buffer of exactly its
 * length, so ASan catches a read or write past it (the NUL terminators the
 * parser writes must land inside the block).
 *
 * Properties checked (abort() on violation):
 *  - on success the strings point into the block, are NUL-terminated at
 *    their length and hold no control character but HT; on error *part is
 *    zeroed, *why is set and *err_pos <= len;
 *  - the line check and the block parser agree: if some line fails
 *    ug_multipart_check_header_line, the block fails too, at the same
 *    position with a line-syntax message, unless an earlier field already
 *    failed; if every line passes, the block never fails with a line-syntax
 *    message;
 *  - the framing layer agrees: the block wrapped in a one-part body and fed
 *    to the push parser one byte at a time gives the same verdict and the
 *    same strings, with max_header_size exactly the block size (and fails
 *    with one byte less).
 *
 * Build: tests/fuzz/build.sh
 * Run:   build-fuzz/fuzz_part_header -dict=tests/fuzz/multipart.dict tests/fuzz/corpus/part_header
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upload/multipart/multipart.h"
#include "upload/multipart/multipart_header.h"

#define MAX_LINES 256

/* Messages of the line syntax, which ug_multipart_check_header_line shares with the block parser. */
static const char *const LINE_ERRORS[] = {
    "part header line without a colon",       "invalid character in part header name",           "empty part header name",
    "control character in part header value", "folded part header line with no field before it",
};

static int is_line_error(const char *why)
{
    for (size_t i = 0; i < sizeof(LINE_ERRORS) / sizeof(LINE_ERRORS[0]); i++)
        if (strcmp(why, LINE_ERRORS[i]) == 0)
            return 1;
    return 0;
}

static void check_string(const char *block, size_t len, const char *s, size_t slen, int may_be_null)
{
    if (s == NULL) {
        if (!may_be_null || slen != 0)
            abort();
        return;
    }
    if (s < block || s + slen >= block + len || s[slen] != '\0' || strlen(s) != slen)
        abort();
    for (size_t i = 0; i < slen; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            abort();
    }
}

/* A copy of one part's strings (what the framing layer reports), to compare with the direct parse. */
typedef struct seen {
    int begun;
    char *s[3];
    size_t len[3];
    int present[3];
} seen;

static void copy_part(seen *x, const ug_multipart_part_t *part)
{
    const char *s[3] = {part->name, part->filename, part->content_type};
    size_t len[3] = {part->name_len, part->filename_len, part->content_type_len};
    for (int i = 0; i < 3; i++) {
        x->present[i] = s[i] != NULL;
        x->len[i] = len[i];
        x->s[i] = malloc(len[i] + 1);
        if (x->s[i] == NULL)
            abort();
        if (s[i] != NULL)
            memcpy(x->s[i], s[i], len[i]);
    }
}

static void free_seen(seen *x)
{
    for (int i = 0; i < 3; i++)
        free(x->s[i]);
}

static int same_part(const seen *x, const ug_multipart_part_t *part)
{
    const char *s[3] = {part->name, part->filename, part->content_type};
    size_t len[3] = {part->name_len, part->filename_len, part->content_type_len};
    for (int i = 0; i < 3; i++) {
        if (x->present[i] != (s[i] != NULL) || x->len[i] != len[i] || (s[i] != NULL && memcmp(x->s[i], s[i], len[i]) != 0))
            return 0;
    }
    return 1;
}

static ug_err_t on_begin(void *ctx, const ug_multipart_part_t *part)
{
    seen *x = ctx;
    if (x->begun++)
        abort(); /* one header block, one part */
    copy_part(x, part);
    return UG_OK;
}

/*
 * "--b" CRLF block CRLF CRLF "--b--" through the push parser, byte by byte, with
 * max_header_size `hmax`. Returns the error of the first failing call, or of finish.
 */
static ug_err_t frame(const char *block, size_t len, size_t hmax, seen *x, const char **why, uint64_t *off)
{
    static const ug_multipart_callbacks_t cb = {on_begin, NULL, NULL};
    ug_multipart_parser_t *p = ug_multipart_new("b", 1, hmax, &cb, x);
    ug_err_t e = UG_OK;
    if (p == NULL)
        abort();
    const char *pieces[3] = {"--b\r\n", block, "\r\n\r\n--b--"};
    size_t lens[3] = {5, len, 10};
    for (int k = 0; k < 3 && e == UG_OK; k++)
        for (size_t i = 0; i < lens[k] && e == UG_OK; i++)
            e = ug_multipart_feed(p, pieces[k] + i, 1);
    if (e == UG_OK)
        e = ug_multipart_finish(p);
    *why = ug_multipart_error_message(p);
    *off = ug_multipart_error_offset(p);
    ug_multipart_free(p);
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t starts[MAX_LINES], lens[MAX_LINES], nlines = 0, len = 0;

    /* the block: lines without CR, without empty ones, each ended by CRLF */
    char *tmp = malloc(2 * size + 2);
    if (tmp == NULL)
        abort();
    size_t cur = 0; /* where the current line starts in tmp */
    for (size_t i = 0; i <= size && nlines < MAX_LINES; i++) {
        if (i < size && data[i] != '\n') {
            if (data[i] != '\r')
                tmp[len++] = (char)data[i];
            continue;
        }
        if (len > cur) {
            starts[nlines] = cur;
            lens[nlines++] = len - cur;
            tmp[len++] = '\r';
            tmp[len++] = '\n';
        }
        cur = len;
    }
    len = cur; /* drops a line cut off by MAX_LINES */

    char *block = malloc(len != 0 ? len : 1);
    if (block == NULL)
        abort();
    memcpy(block, tmp, len);

    /* the first line that the framing layer's check refuses */
    size_t bad = nlines, bad_pos = 0;
    const char *bad_why = NULL;
    for (size_t i = 0; i < nlines && bad == nlines; i++) {
        const char *why = NULL;
        size_t pos = SIZE_MAX;
        if (ug_multipart_check_header_line(block + starts[i], lens[i], i == 0, &why, &pos) != 0) {
            if (why == NULL || pos > lens[i])
                abort();
            bad = i;
            bad_pos = starts[i] + pos;
            bad_why = why;
        }
    }

    ug_multipart_part_t part;
    const char *why = NULL;
    size_t err_pos = SIZE_MAX;
    ug_err_t e = ug_multipart_parse_headers(block, len, &part, &why, &err_pos);
    if (e == UG_OK) {
        if (bad != nlines)
            abort();
        check_string(block, len, part.name, part.name_len, 0);
        check_string(block, len, part.filename, part.filename_len, 1);
        check_string(block, len, part.content_type, part.content_type_len, 1);
    } else {
        if (e != UG_ERR_MALFORMED_MULTIPART || why == NULL || err_pos > len || part.name != NULL || part.filename != NULL ||
            part.content_type != NULL)
            abort();
        if (bad == nlines && is_line_error(why))
            abort();
        if (bad != nlines) {
            /*
             * An earlier field may fail first, but the field holding the bad
             * line fails at that line with a line-syntax message. The wording
             * may differ: "Name\r\n folded" is a line without a colon to the
             * line check, but a name running into the fold's CR to the block
             * parser. Harmless, since the framing layer reports the line
             * check's message before the block parser ever runs.
             */
            size_t field = bad;
            while (field > 0 && (block[starts[field]] == ' ' || block[starts[field]] == '\t'))
                field--;
            if (err_pos >= starts[field] && (err_pos != bad_pos || !is_line_error(why)))
                abort();
        }
    }

    /* the same block through the framing layer, from tmp: the parse above decoded `block` in place */
    seen x = {0};
    const char *fwhy;
    uint64_t foff;
    ug_err_t fe = frame(tmp, len, len + 2, &x, &fwhy, &foff);
    if ((fe == UG_OK) != (e == UG_OK) || (fe == UG_OK && (x.begun != 1 || !same_part(&x, &part))))
        abort();
    /* the framing layer reports the first bad line as soon as it arrives, else what the block parser says */
    if (fe != UG_OK) {
        const char *want = bad != nlines ? bad_why : why;
        size_t at = bad != nlines ? bad_pos : err_pos;
        if (strcmp(fwhy, want) != 0 || foff != 5 + at)
            abort();
    }
    free_seen(&x);

    /* one byte less than the block and its empty line: the limit must bite, before any verdict on the block */
    seen y = {0};
    fe = frame(tmp, len, len + 1, &y, &fwhy, &foff);
    if (fe == UG_OK || y.begun)
        abort();
    free_seen(&y);

    free(block);
    free(tmp);
    return 0;
}
