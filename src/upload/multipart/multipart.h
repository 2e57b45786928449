/*
 * multipart.h - an RFC 7578 / RFC 2046 multipart/form-data push parser.
 *
 * The parser is fed the body in chunks of any size and split point; results
 * are identical however the body is split. It does no I/O and allocates only
 * at creation (fixed buffers sized by the boundary and the header limit), so
 * memory per parser is bounded whatever the body size.
 *
 * Ownership: every pointer passed to a callback is valid only during that
 * callback. Strings in ug_multipart_part_t are NUL-terminated copies held by
 * the parser; `len` fields give their byte length (they may contain NUL only
 * if the client sent one in a quoted value, which the parser rejects).
 */
#ifndef UG_UPLOAD_MULTIPART_MULTIPART_H
#define UG_UPLOAD_MULTIPART_MULTIPART_H

#include <stddef.h>
#include <stdint.h>
#include "common/errors.h"

/* RFC 2046: a boundary is 1..70 characters. */
#define UG_MULTIPART_MAX_BOUNDARY 70

typedef struct ug_multipart_part {
    const char *name;          /* Content-Disposition name; never NULL: a part without one is rejected (RFC 7578 4.2) */
    size_t name_len;
    const char *filename;      /* filename (after unquoting) or decoded filename* (UTF-8); NULL when absent; "" allowed */
    size_t filename_len;
    const char *content_type;  /* part Content-Type, trimmed; NULL when absent; "" when present but empty */
    size_t content_type_len;
} ug_multipart_part_t;

/* Any callback may be NULL (the event is then ignored). */
typedef struct ug_multipart_callbacks {
    /* A part's headers are complete. Return UG_OK to continue, anything else aborts parsing with that error. */
    ug_err_t (*on_part_begin)(void *ctx, const ug_multipart_part_t *part);
    /* Bytes of the current part's body (never called with len 0). */
    ug_err_t (*on_part_data)(void *ctx, const char *buf, size_t len);
    /* The current part's body is complete (its closing delimiter was seen). */
    ug_err_t (*on_part_end)(void *ctx);
} ug_multipart_callbacks_t;

typedef struct ug_multipart_parser ug_multipart_parser_t;

/*
 * Extract the boundary parameter from a Content-Type value (bytes, not NUL
 * terminated). Checks that the type is multipart/form-data (case-insensitive),
 * unquotes a quoted boundary and checks RFC 2046 length/charset.
 * Writes the boundary NUL-terminated into out (size >= UG_MULTIPART_MAX_BOUNDARY + 1).
 * Returns UG_OK, or UG_ERR_MALFORMED_MULTIPART with a static message in *why.
 */
ug_err_t ug_multipart_boundary(const char *content_type, size_t len, char *out, size_t *out_len, const char **why);

/* True when the Content-Type value names multipart/form-data (parameters ignored). */
int ug_multipart_is_form_data(const char *content_type, size_t len);

/*
 * Create a parser. `max_header_size` bounds one part's header block (bytes,
 * from the byte after the delimiter line to the empty line's CRLF included);
 * exceeding it is a UG_ERR_MALFORMED_MULTIPART error. The callbacks struct is
 * copied. Returns NULL when out of memory or when boundary_len is not 1..70
 * (pass the output of ug_multipart_boundary).
 */
ug_multipart_parser_t *ug_multipart_new(const char *boundary, size_t boundary_len, size_t max_header_size,
                                        const ug_multipart_callbacks_t *cb, void *ctx);

/*
 * Feed the next chunk. Returns UG_OK, a malformed-body error, or whatever a
 * callback returned. After an error the parser is dead: further calls return
 * the same error.
 */
ug_err_t ug_multipart_feed(ug_multipart_parser_t *p, const char *buf, size_t len);

/* End of input: UG_OK only if the close delimiter was seen; otherwise an error. */
ug_err_t ug_multipart_finish(ug_multipart_parser_t *p);

/* Human-readable reason of the last error (static string), or NULL. */
const char *ug_multipart_error_message(const ug_multipart_parser_t *p);
/*
 * Offset in the whole body of the byte at fault (for a truncated body: the
 * body length; for a callback abort: how far parsing had got).
 */
uint64_t ug_multipart_error_offset(const ug_multipart_parser_t *p);

void ug_multipart_free(ug_multipart_parser_t *p);

#endif
