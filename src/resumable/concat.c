/*
 * resumable/concat.c - Upload-Concat syntax (see concat.h).
 */
#include "resumable/concat.h"

#include <string.h>

#define FINAL_PREFIX "final;"

static int is_url_char(char c)
{
    return c > 0x20 && c < 0x7f;
}

/* The space-separated URLs after "final;"; at least one. */
static ug_tus_parse_result_t parse_parts(const char *s, size_t len, ug_tus_concat_t *out, const char **why)
{
    size_t i = 0;
    while (i < len) {
        if (s[i] == ' ') {
            ++i;
            continue;
        }
        size_t start = i;
        while (i < len && s[i] != ' ') {
            if (!is_url_char(s[i])) {
                *why = "Upload-Concat: a partial upload's URL must be printable ASCII without spaces";
                return UG_TUS_PARSE_INVALID;
            }
            ++i;
        }
        if (out->n == UG_TUS_CONCAT_MAX) {
            *why = "Upload-Concat: too many partial uploads (at most 64)";
            return UG_TUS_PARSE_INVALID;
        }
        out->parts[out->n++] = (ug_tus_span_t){s + start, i - start};
    }
    if (out->n == 0) {
        *why = "Upload-Concat: final names no partial upload";
        return UG_TUS_PARSE_INVALID;
    }
    return UG_TUS_PARSE_OK;
}

ug_tus_parse_result_t ug_tus_concat_parse(const char *s, size_t len, ug_tus_concat_t *out, const char **why)
{
    out->kind = UG_TUS_CONCAT_NONE;
    out->n = 0;
    if (len == sizeof("partial") - 1 && memcmp(s, "partial", len) == 0) {
        out->kind = UG_TUS_CONCAT_PARTIAL;
        return UG_TUS_PARSE_OK;
    }
    if (len < sizeof(FINAL_PREFIX) - 1 || memcmp(s, FINAL_PREFIX, sizeof(FINAL_PREFIX) - 1) != 0) {
        *why = "Upload-Concat must be \"partial\" or \"final;\" followed by the partial uploads' URLs";
        return UG_TUS_PARSE_INVALID;
    }
    ug_tus_parse_result_t r = parse_parts(s + sizeof(FINAL_PREFIX) - 1, len - (sizeof(FINAL_PREFIX) - 1), out, why);
    if (r != UG_TUS_PARSE_OK) {
        out->n = 0;
        return r;
    }
    out->kind = UG_TUS_CONCAT_FINAL;
    return UG_TUS_PARSE_OK;
}

/* The path of a URL: after "scheme://authority" when it has them, else the whole. */
static ug_tus_span_t url_path(const ug_tus_span_t *url)
{
    const char *p = url->p, *end = url->p + url->len;
    const char *sep = url->len >= 3 ? memmem(p, url->len, "://", 3) : NULL;
    if (sep != NULL && sep != p && memchr(p, '/', (size_t)(sep - p)) == NULL) {
        p = sep + 3;
        while (p < end && *p != '/')
            ++p;
    }
    const char *stop = p;
    while (stop < end && *stop != '?' && *stop != '#')
        ++stop;
    return (ug_tus_span_t){p, (size_t)(stop - p)};
}

int ug_tus_concat_segment(const ug_tus_span_t *url, const char *prefix, size_t prefix_len, ug_tus_span_t *seg)
{
    ug_tus_span_t path = url_path(url);
    if (path.len <= prefix_len || memcmp(path.p, prefix, prefix_len) != 0)
        return -1;
    seg->p = path.p + prefix_len;
    seg->len = path.len - prefix_len;
    return memchr(seg->p, '/', seg->len) == NULL ? 0 : -1;
}

ug_tus_concat_kind_t ug_tus_concat_kind_of(const char *stored)
{
    if (stored == NULL || stored[0] == '\0')
        return UG_TUS_CONCAT_NONE;
    return strcmp(stored, "partial") == 0 ? UG_TUS_CONCAT_PARTIAL : UG_TUS_CONCAT_FINAL;
}
