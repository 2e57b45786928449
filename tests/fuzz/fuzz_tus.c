/*
 * fuzz_tus.c - libFuzzer target for the resumable-upload header parsers: tus's Upload-Metadata, Upload-Checksum,
 * Upload-Length/Offset numbers, strict base64 and Upload-Concat (src/resumable/tus.c, concat.c), and the IETF draft's
 * Upload-Complete (src/resumable/ietf.c).
 *
 * Input: the whole input is one header value, handed to every parser in an exact-size heap buffer without a
 * terminating NUL, so ASan catches a read past its length. Besides "never crash", the target checks (abort() on
 * violation): accepted metadata has unique non-empty keys of printable ASCII without space or comma, and each
 * value re-encoded is a substring of the input (strict base64 has one spelling); a rejected parse leaves no pairs;
 * an accepted checksum's digest length is its algorithm's; an accepted number has only digits; an accepted final
 * Upload-Concat has 1..UG_TUS_CONCAT_MAX non-empty parts of printable ASCII inside the input, in order, and a part's
 * segment under a prefix lies inside the part and has no '/';
 * an accepted Upload-Complete is "?0" or "?1" between spaces and tabs, and its value is the digit's.
 *
 * Build: tests/fuzz/build.sh fuzz_tus
 * Run:   build-fuzz/fuzz_tus -max_total_time=60 tests/fuzz/corpus/tus
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/b64url.h"
#include "resumable/concat.h"
#include "resumable/ietf.h"
#include "resumable/tus.h"

static void check_metadata(const char *in, size_t len)
{
    ug_tus_metadata_t m;
    const char *why = NULL;
    if (ug_tus_metadata_parse(in, len, &m, &why) != UG_TUS_PARSE_OK) {
        if (m.n != 0 || m.pairs != NULL || why == NULL)
            abort();
        return;
    }
    for (size_t i = 0; i < m.n; ++i) {
        const ug_tus_pair_t *p = &m.pairs[i];
        if (p->key_len == 0 || strlen(p->key) != p->key_len)
            abort();
        for (size_t k = 0; k < p->key_len; ++k)
            if (p->key[k] <= 0x20 || p->key[k] >= 0x7f || p->key[k] == ',')
                abort();
        for (size_t j = 0; j < i; ++j)
            if (strcmp(m.pairs[j].key, p->key) == 0)
                abort();
        if (p->value_len != 0) {
            unsigned char *enc = malloc(4 * ((p->value_len + 2) / 3) + 1);
            int n = EVP_EncodeBlock(enc, (const unsigned char *)p->value, (int)p->value_len);
            if (memmem(in, len, enc, (size_t)n) == NULL)
                abort();
            free(enc);
        }
    }
    ug_tus_metadata_free(&m);
}

static void check_checksum(const char *in, size_t len)
{
    static const size_t lens[] = {[UG_TUS_SHA1] = 20, [UG_TUS_MD5] = 16, [UG_TUS_SHA256] = 32};
    ug_tus_checksum_t c;
    const char *why = NULL;
    ug_tus_parse_result_t r = ug_tus_checksum_parse(in, len, &c, &why);
    if (r == UG_TUS_PARSE_OK && c.digest_len != lens[c.algorithm])
        abort();
    if (r != UG_TUS_PARSE_OK && why == NULL)
        abort();
}

static void check_number(const char *in, size_t len)
{
    uint64_t v;
    if (ug_tus_parse_uint(in, len, &v) != UG_TUS_PARSE_OK)
        return;
    for (size_t i = 0; i < len; ++i)
        if (in[i] < '0' || in[i] > '9')
            abort();
}

static void check_concat(const char *in, size_t len)
{
    ug_tus_concat_t c;
    const char *why = NULL;
    if (ug_tus_concat_parse(in, len, &c, &why) != UG_TUS_PARSE_OK) {
        if (why == NULL || c.n != 0)
            abort();
        return;
    }
    if (c.kind == UG_TUS_CONCAT_PARTIAL && c.n != 0)
        abort();
    if (c.kind == UG_TUS_CONCAT_FINAL && (c.n == 0 || c.n > UG_TUS_CONCAT_MAX))
        abort();
    const char *prev_end = in;
    for (size_t i = 0; i < c.n; ++i) {
        const ug_tus_span_t *p = &c.parts[i];
        if (p->len == 0 || p->p < prev_end || p->p + p->len > in + len)
            abort();
        for (size_t k = 0; k < p->len; ++k)
            if (p->p[k] <= 0x20 || p->p[k] >= 0x7f)
                abort();
        prev_end = p->p + p->len;
        ug_tus_span_t seg;
        if (ug_tus_concat_segment(p, "/files/", 7, &seg) == 0 &&
            (seg.len == 0 || seg.p < p->p || seg.p + seg.len > p->p + p->len || memchr(seg.p, '/', seg.len) != NULL))
            abort();
    }
}

static void check_complete(const char *in, size_t len)
{
    int v = -1;
    size_t a = 0, b = len;
    if (ug_ietf_parse_complete(in, len, &v) != UG_TUS_PARSE_OK) {
        if (v != -1)
            abort();
        return;
    }
    while (a < b && (in[a] == ' ' || in[a] == '\t'))
        ++a;
    while (b > a && (in[b - 1] == ' ' || in[b - 1] == '\t'))
        --b;
    if (b - a != 2 || in[a] != '?' || v != (in[a + 1] == '1') || (in[a + 1] != '0' && in[a + 1] != '1'))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size != 0 ? size : 1);
    if (in == NULL)
        return 0;
    if (size != 0)
        memcpy(in, data, size);
    check_metadata(in, size);
    check_checksum(in, size);
    check_number(in, size);
    check_concat(in, size);
    check_complete(in, size);
    unsigned char *out = malloc(UG_B64URL_DECODED_MAX(size));
    size_t n;
    if (out != NULL && ug_tus_base64_decode(in, size, out, &n) == 0 && n > size / 4 * 3)
        abort();
    free(out);
    free(in);
    return 0;
}
