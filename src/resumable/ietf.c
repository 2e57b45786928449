/*
 * resumable/ietf.c - header syntax of the IETF resumable-upload draft -05 (see resumable/ietf.h).
 */
#include "resumable/ietf.h"

#include <inttypes.h>
#include <stdio.h>

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

ug_tus_parse_result_t ug_ietf_parse_complete(const char *s, size_t len, int *out)
{
    while (len != 0 && is_ows(s[0])) {
        ++s;
        --len;
    }
    while (len != 0 && is_ows(s[len - 1]))
        --len;
    if (len != 2 || s[0] != '?' || (s[1] != '0' && s[1] != '1'))
        return UG_TUS_PARSE_INVALID;
    *out = s[1] == '1';
    return UG_TUS_PARSE_OK;
}

/* snprintf's count as a length: 0 when it did not fit. */
static size_t fitted(int n, size_t size)
{
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

size_t ug_ietf_format_limit(uint64_t max_size, uint64_t max_append_size, uint64_t expires_s, char *out, size_t size)
{
    return fitted(snprintf(out, size, "max-size=%" PRIu64 ", max-append-size=%" PRIu64 ", expires=%" PRIu64, max_size,
                           max_append_size, expires_s),
                  size);
}

size_t ug_ietf_problem_mismatch(uint64_t expected, uint64_t provided, char *out, size_t size)
{
    return fitted(snprintf(out, size,
                           "{\"type\":\"" UG_IETF_PROBLEM_MISMATCH "\",\"title\":\"offset from request does not match "
                           "offset of resource\",\"expected-offset\":%" PRIu64 ",\"provided-offset\":%" PRIu64 "}",
                           expected, provided),
                  size);
}

size_t ug_ietf_problem_completed(char *out, size_t size)
{
    return fitted(snprintf(out, size,
                           "{\"type\":\"" UG_IETF_PROBLEM_COMPLETED "\",\"title\":\"upload is already completed\"}"),
                  size);
}

const char *ug_ietf_expose_headers(int tus, int ietf)
{
    if (tus && ietf)
        return UG_TUS_EXPOSE_HEADERS ", Upload-Complete, Upload-Limit, Upload-Draft-Interop-Version";
    return ietf ? UG_IETF_EXPOSE_HEADERS : UG_TUS_EXPOSE_HEADERS;
}
