/*
 * fuzz_chunked.c - libFuzzer target for the chunked request-body decoder (src/http/chunked.c).
 *
 * Input: one byte choosing how the rest is cut into pieces (0: whole; else pieces of that many bytes), then the
 * bytes a client sends after a "Transfer-Encoding: chunked" head. Each piece is copied into an exact-size heap
 * buffer, so ASan catches a read past it. Besides "never crash", it checks (abort() on violation):
 *   - the outcome, the decoded bytes and the bytes after the body are the same whole and cut into pieces;
 *   - the decoded bytes never outnumber the input, and an error stays an error;
 *   - a body the decoder accepts is one a reference reading accepts with the same data and rest: every size line
 *     starts with 1 to 16 hex digits followed by SP, HTAB, ";" or CR, every line ends with CRLF, each chunk's data
 *     is followed by CRLF, the trailer section ends with an empty line ("0x5", "5zz", "-5", bare LF never pass).
 *
 * Build: tests/fuzz/build.sh fuzz_chunked
 * Run:   build-fuzz/fuzz_chunked -max_total_time=60 tests/fuzz/corpus/chunked
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/chunked.h"

typedef struct result {
    ug_chunked_result_t r;
    char *data, *rest;
    size_t len, rest_len;
} result_t;

static result_t decode(const uint8_t *in, size_t size, size_t piece)
{
    result_t o = {.r = UG_CHUNKED_INCOMPLETE, .data = malloc(size + 1), .rest = malloc(size + 1)};
    ug_chunked_decoder_t d;
    ug_chunked_init(&d);
    if (o.data == NULL || o.rest == NULL)
        abort();
    for (size_t from = 0; from < size && o.r == UG_CHUNKED_INCOMPLETE; from += piece) {
        size_t n = size - from < piece ? size - from : piece, len = n, rest = 0;
        char *buf = malloc(n);
        if (buf == NULL)
            abort();
        memcpy(buf, in + from, n);
        o.r = ug_chunked_decode(&d, buf, &len, &rest);
        if (len > n || len + rest > n || (o.r != UG_CHUNKED_DONE && rest != 0) || (o.r == UG_CHUNKED_ERROR) != (d.error != NULL))
            abort();
        memcpy(o.data + o.len, buf, len);
        o.len += len;
        if (o.r == UG_CHUNKED_DONE) {
            memcpy(o.rest, buf + len, rest);
            memcpy(o.rest + rest, in + from + n, size - from - n); /* never given: it follows the body too */
            o.rest_len = rest + size - from - n;
        }
        free(buf);
    }
    if (o.r == UG_CHUNKED_ERROR) {
        char one = 'x';
        size_t len = 1, rest;
        if (ug_chunked_decode(&d, &one, &len, &rest) != UG_CHUNKED_ERROR || len != 0)
            abort();
    }
    return o;
}

static int hex(uint8_t c)
{
    return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* The index after the CRLF ending the line that starts at i, or 0 when there is none or a bare LF comes first. */
static size_t line_end(const uint8_t *in, size_t size, size_t i)
{
    for (; i < size; ++i) {
        if (in[i] == '\n')
            return 0;
        if (in[i] == '\r')
            return i + 1 < size && in[i + 1] == '\n' ? i + 2 : 0;
    }
    return 0;
}

/* A coarser reading (extensions and trailer fields not checked): 1 and the data and rest when the framing holds. */
static int reference(const uint8_t *in, size_t size, char *data, size_t *len, size_t *rest_at)
{
    size_t i = 0;
    *len = 0;
    for (;;) {
        uint64_t n = 0;
        unsigned digits = 0;
        while (i < size && hex(in[i]) >= 0) {
            if (++digits > 16)
                return 0;
            n = n << 4 | (uint64_t)hex(in[i++]);
        }
        if (digits == 0 || i >= size || (in[i] != ' ' && in[i] != '\t' && in[i] != ';' && in[i] != '\r'))
            return 0;
        if ((i = line_end(in, size, i)) == 0)
            return 0;
        if (n == 0)
            break;
        if (n > size - i || size - i - n < 2 || in[i + n] != '\r' || in[i + n + 1] != '\n')
            return 0;
        memcpy(data + *len, in + i, n);
        *len += n;
        i += n + 2;
    }
    while (i < size && in[i] != '\r') /* trailer field lines */
        if ((i = line_end(in, size, i)) == 0)
            return 0;
    if (size - i < 2 || in[i + 1] != '\n')
        return 0;
    *rest_at = i + 2;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t piece = data[0] != 0 ? data[0] : SIZE_MAX;
    ++data, --size;
    result_t whole = decode(data, size, SIZE_MAX), cut = decode(data, size, piece);
    if (whole.r != cut.r || whole.len != cut.len || memcmp(whole.data, cut.data, whole.len) != 0 ||
        whole.rest_len != cut.rest_len || memcmp(whole.rest, cut.rest, whole.rest_len) != 0)
        abort();
    if (whole.r == UG_CHUNKED_DONE) {
        char *ref = malloc(size + 1);
        size_t ref_len, rest_at;
        if (ref == NULL || !reference(data, size, ref, &ref_len, &rest_at) || ref_len != whole.len ||
            memcmp(ref, whole.data, ref_len) != 0 || size - rest_at != whole.rest_len ||
            memcmp(data + rest_at, whole.rest, whole.rest_len) != 0)
            abort();
        free(ref);
    }
    free(whole.data);
    free(whole.rest);
    free(cut.data);
    free(cut.rest);
    return 0;
}
