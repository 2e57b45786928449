/*
 * resumable/concat.h - the tus concatenation extension's header syntax (Upload-Concat): "partial", or
 * "final;<url> <url> ..." naming partial uploads in the order their bytes are joined. Pure: no h2o, no I/O.
 * Inputs are (pointer, length) and need not be NUL-terminated.
 *
 * Ownership: nothing allocates; the spans of a parsed value point into the caller's input.
 */
#ifndef UG_RESUMABLE_CONCAT_H
#define UG_RESUMABLE_CONCAT_H

#include <stddef.h>

#include "resumable/tus.h"

/* The most partial uploads one final upload joins: each is locked while the final one is assembled and handed
 * over, so the number bounds the descriptors one request holds. */
#define UG_TUS_CONCAT_MAX 64

typedef enum ug_tus_concat_kind {
    UG_TUS_CONCAT_NONE = 0, /* a plain upload */
    UG_TUS_CONCAT_PARTIAL,  /* a part of a later final upload: never handed to the app by itself */
    UG_TUS_CONCAT_FINAL,    /* the partial uploads joined */
} ug_tus_concat_kind_t;

typedef struct ug_tus_span {
    const char *p;
    size_t len;
} ug_tus_span_t;

typedef struct ug_tus_concat {
    ug_tus_concat_kind_t kind;
    size_t n;                            /* FINAL: how many parts */
    ug_tus_span_t parts[UG_TUS_CONCAT_MAX]; /* FINAL: each part's URL as sent (absolute, or a path) */
} ug_tus_concat_t;

/* Upload-Concat: "partial", or "final;" and one or more URLs separated by spaces (printable ASCII, at most
 * UG_TUS_CONCAT_MAX). On UG_TUS_PARSE_INVALID *why is a static message. */
ug_tus_parse_result_t ug_tus_concat_parse(const char *s, size_t len, ug_tus_concat_t *out, const char **why);

/* The last path segment of a part's URL when its path is `prefix` followed by one segment (an absolute URL's scheme
 * and authority are skipped, a query or fragment ignored): 0 and *seg, or -1 when the URL names nothing under
 * `prefix`. The segment is not checked to be an id. */
int ug_tus_concat_segment(const ug_tus_span_t *url, const char *prefix, size_t prefix_len, ug_tus_span_t *seg);

/* What an upload's stored Upload-Concat value ("", "partial" or "final;...") says it is. */
ug_tus_concat_kind_t ug_tus_concat_kind_of(const char *stored);

#endif
