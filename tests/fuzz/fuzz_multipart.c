/*
 * fuzz_multipart.c - libFuzzer target for the multipart/form-data push parser
 * (src/upload/multipart/multipart.c, with src/upload/multipart/multipart_header.c behind it) and for
 * ug_multipart_boundary().
 *
 * Input layout:
 *   byte 0      flags: bits 0-2 pick max_header_size (see HEADER_LIMITS),
 *               bits 3-4 a callback abort (0 none, 1 the first
 *               on_part_data of part #k, 2 on_part_begin of part #k, 3
 *               on_part_end of part #k), bits 5-7 are k
 *   byte 1      n = byte & 15: how many chunk sizes follow
 *   n bytes     chunk sizes, used in turn until the body is used up (0 feeds
 *               an empty chunk; when all are 0 the chunked run is skipped)
 *   line        a request Content-Type value up to '\n'; when it does not
 *               parse, the line itself is the boundary if it is a valid one
 *   rest        the body
 *
 * The body is parsed three times: in one feed, in the fuzzer's chunks, and
 * one byte at a time. The parser promises identical results however the body
 * is split, so the three runs must agree on every event (part count, name,
 * filename, content type, body bytes by a running hash, sizes), on the error
 * code, its message and its offset; abort() otherwise. (An abort from
 * on_part_data is the exception: how many bytes the part had delivered by
 * then depends on the split, so only the error and the part counts must
 * agree.) Each chunk is copied
 * into a heap buffer of exactly its size, so ASan catches any read past a
 * chunk (with one big buffer a read past chunk i would land in chunk i + 1).
 * Each run also checks the callback contract (no empty data, data and end
 * only inside a part, strings NUL-terminated at their length and free of
 * control characters) and that a dead parser keeps returning its error.
 *
 * The whole input is also given to ug_multipart_boundary() as a
 * Content-Type value (in an exact-size buffer) and its output checked
 * against RFC 2046.
 *
 * Build: tests/fuzz/build.sh fuzz_multipart (CMake, -DUG_FUZZ=ON)
 * Run:   build-fuzz/fuzz_multipart -dict=tests/fuzz/multipart.dict tests/fuzz/corpus/multipart
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upload/multipart/multipart.h"

static const size_t HEADER_LIMITS[8] = {16384, 64, 128, 256, 1024, 2, 4096, 65536};

enum { ABORT_NONE, ABORT_DATA, ABORT_BEGIN, ABORT_END };

typedef struct result {
    uint64_t hash; /* every event and its bytes, in order; chunking leaves no trace */
    uint64_t nbegin, nend;
    uint64_t data_bytes; /* body bytes of all parts */
    ug_err_t err;          /* first error of feed/finish; UG_OK when the body parsed */
    const char *why;
    uint64_t err_offset;
} result;

typedef struct run {
    result r;
    int in_part;
    uint64_t part_bytes;
    int abort_mode;
    unsigned abort_at;
} run;

/* FNV-1a, 64 bit: cheap, and good enough to tell two event streams apart. */
static void mix(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x100000001b3ull;
    }
}

static void mix_u64(uint64_t *h, uint64_t v)
{
    mix(h, &v, sizeof(v));
}

/*
 * A string of ug_multipart_part_t: NUL at its length, no NUL inside (the
 * parser rejects control characters, NUL included) and no control character
 * but HT (folds are unfolded, so no CR or LF either). Hashed with its length
 * so that "ab"+"c" and "a"+"bc" differ.
 */
static void check_string(uint64_t *h, const char *s, size_t len, int may_be_null)
{
    if (s == NULL) {
        if (!may_be_null || len != 0)
            abort();
        mix_u64(h, UINT64_MAX);
        return;
    }
    if (s[len] != '\0' || strlen(s) != len)
        abort();
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            abort();
    }
    mix_u64(h, len);
    mix(h, s, len);
}

static ug_err_t on_begin(void *ctx, const ug_multipart_part_t *part)
{
    run *x = ctx;
    if (x->in_part)
        abort();
    x->in_part = 1;
    x->part_bytes = 0;
    mix(&x->r.hash, "B", 1);
    check_string(&x->r.hash, part->name, part->name_len, 0);
    check_string(&x->r.hash, part->filename, part->filename_len, 1);
    check_string(&x->r.hash, part->content_type, part->content_type_len, 1);
    if (x->abort_mode == ABORT_BEGIN && x->r.nbegin == x->abort_at) {
        x->r.nbegin++;
        return UG_ERR_TOO_MANY_FILES;
    }
    x->r.nbegin++;
    return UG_OK;
}

static ug_err_t on_data(void *ctx, const char *buf, size_t len)
{
    run *x = ctx;
    if (!x->in_part || len == 0 || buf == NULL)
        abort();
    mix(&x->r.hash, buf, len);
    x->r.data_bytes += len;
    if (x->abort_mode == ABORT_DATA && x->part_bytes == 0 && x->r.nbegin == x->abort_at + 1u) {
        x->part_bytes += len;
        return UG_ERR_FIELD_TOO_LARGE;
    }
    x->part_bytes += len;
    return UG_OK;
}

static ug_err_t on_end(void *ctx)
{
    run *x = ctx;
    if (!x->in_part)
        abort();
    x->in_part = 0;
    mix(&x->r.hash, "E", 1);
    mix_u64(&x->r.hash, x->part_bytes);
    if (x->abort_mode == ABORT_END && x->r.nend == x->abort_at) {
        x->r.nend++;
        return UG_ERR_TOO_MANY_FIELDS;
    }
    x->r.nend++;
    return UG_OK;
}

static const ug_multipart_callbacks_t callbacks = {on_begin, on_data, on_end};

/* One chunk, from an exact-size copy. Returns the feed result. */
static ug_err_t feed_copy(ug_multipart_parser_t *p, const uint8_t *src, size_t n)
{
    char *c = malloc(n != 0 ? n : 1);
    if (c == NULL)
        abort();
    if (n != 0)
        memcpy(c, src, n);
    ug_err_t e = ug_multipart_feed(p, c, n);
    free(c);
    return e;
}

/*
 * Parse body[0..len) in one chunk (sizes NULL), in chunks of `sizes` (cycled)
 * or, with `bytewise`, one byte at a time; fill x->r.
 */
static void parse(run *x, const char *boundary, size_t blen, size_t hmax, const uint8_t *body, size_t len, const uint8_t *sizes,
                  size_t nsizes, int bytewise)
{
    ug_multipart_parser_t *p = ug_multipart_new(boundary, blen, hmax, &callbacks, x);
    ug_err_t e = UG_OK;
    size_t off = 0, k = 0;

    if (p == NULL)
        abort(); /* a valid boundary and a sane limit: only out of memory could explain NULL */
    if (sizes == NULL && !bytewise) {
        e = feed_copy(p, body, len);
        off = len;
    }
    while (e == UG_OK && off < len) {
        size_t n = bytewise ? 1 : sizes[k++ % nsizes];
        if (n > len - off)
            n = len - off;
        e = feed_copy(p, body + off, n);
        off += n;
    }
    if (e == UG_OK) {
        e = ug_multipart_finish(p);
    } else {
        /* a dead parser keeps its error, whatever comes next */
        if (feed_copy(p, (const uint8_t *)"--", 2) != e || ug_multipart_finish(p) != e)
            abort();
    }
    x->r.err = e;
    x->r.why = ug_multipart_error_message(p);
    x->r.err_offset = ug_multipart_error_offset(p);
    if ((e == UG_OK) != (x->r.why == NULL) || (e == UG_OK && x->r.err_offset != 0))
        abort();
    /* the offset is that of a byte of the body, or the body length for a truncated body */
    if (x->r.err_offset > len || x->r.data_bytes > len)
        abort();
    if (e == UG_OK && (x->in_part || x->r.nbegin == 0 || x->r.nbegin != x->r.nend))
        abort();
    if (x->r.nbegin - x->r.nend > 1)
        abort();
    ug_multipart_free(p);
}

static int same(const result *a, const result *b, int data_abort)
{
    if (data_abort && a->err == UG_ERR_FIELD_TOO_LARGE)
        return b->err == a->err && a->nbegin == b->nbegin && a->nend == b->nend && strcmp(a->why, b->why) == 0;
    return a->hash == b->hash && a->nbegin == b->nbegin && a->nend == b->nend && a->data_bytes == b->data_bytes &&
           a->err == b->err && a->err_offset == b->err_offset &&
           (a->why == b->why || (a->why != NULL && b->why != NULL && strcmp(a->why, b->why) == 0));
}

/* RFC 2046 5.1.1 bchars */
static int is_bchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("'()+_,-./:=? ", c) != NULL);
}

static int valid_boundary(const char *b, size_t n)
{
    if (n == 0 || n > UG_MULTIPART_MAX_BOUNDARY || b[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_bchar((unsigned char)b[i]))
            return 0;
    return 1;
}

/* ug_multipart_boundary on an exact-size copy; checks what it promises. Returns its result. */
static ug_err_t boundary_of(const uint8_t *ct, size_t len, char *out, size_t *out_len)
{
    char *c = malloc(len != 0 ? len : 1);
    const char *why = NULL;
    if (c == NULL)
        abort();
    if (len != 0)
        memcpy(c, ct, len);
    *out_len = 0;
    ug_err_t e = ug_multipart_boundary(c, len, out, out_len, &why);
    if (e == UG_OK) {
        if (!valid_boundary(out, *out_len) || out[*out_len] != '\0' || !ug_multipart_is_form_data(c, len))
            abort();
    } else if (e != UG_ERR_MALFORMED_MULTIPART || why == NULL) {
        abort();
    }
    free(c);
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char boundary[UG_MULTIPART_MAX_BOUNDARY + 1];
    size_t blen;

    (void)boundary_of(data, size, boundary, &blen);
    if (size < 2)
        return 0;

    uint8_t flags = data[0];
    size_t nsizes = data[1] & 15;
    if (size < 2 + nsizes)
        return 0;
    const uint8_t *sizes = data + 2, *p = data + 2 + nsizes, *end = data + size;
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
        return 0;
    size_t line_len = (size_t)(nl - p);
    if (boundary_of(p, line_len, boundary, &blen) != UG_OK) {
        if (!valid_boundary((const char *)p, line_len))
            return 0;
        memcpy(boundary, p, line_len);
        blen = line_len;
        boundary[blen] = '\0';
    }

    const uint8_t *body = nl + 1;
    size_t len = (size_t)(end - body), hmax = HEADER_LIMITS[flags & 7];
    int abort_mode = (flags >> 3) & 3;
    unsigned abort_at = flags >> 5;
    run whole = {.abort_mode = abort_mode, .abort_at = abort_at};
    run chunked = whole, bytewise = whole;

    parse(&whole, boundary, blen, hmax, body, len, NULL, 0, 0);
    parse(&bytewise, boundary, blen, hmax, body, len, NULL, 0, 1);
    if (!same(&whole.r, &bytewise.r, abort_mode == ABORT_DATA))
        abort();
    size_t sum = 0;
    for (size_t i = 0; i < nsizes; i++)
        sum += sizes[i];
    if (sum > 0) { /* only zeros would feed empty chunks forever */
        parse(&chunked, boundary, blen, hmax, body, len, sizes, nsizes, 0);
        if (!same(&whole.r, &chunked.r, abort_mode == ABORT_DATA))
            abort();
    }
    return 0;
}
