/*
 * multipart_header.h - internal to the multipart parser: parsing of one
 * part's header block (RFC 7578 4.2 Content-Disposition, Content-Type,
 * RFC 8187 filename*). multipart.c does the framing and calls this once per
 * part, when the empty line that ends the block has been seen.
 *
 * The request-level Content-Type functions of multipart.h
 * (ug_multipart_boundary, ug_multipart_is_form_data) live in
 * multipart_header.c too: they share its token and quoted-string rules.
 */
#ifndef UG_UPLOAD_MULTIPART_MULTIPART_HEADER_H
#define UG_UPLOAD_MULTIPART_MULTIPART_HEADER_H

#include <stddef.h>

#include "common/errors.h"
#include "upload/multipart/multipart.h"

/*
 * `block` holds the header lines of one part, each ending in CRLF, without
 * the empty line that ends the block (`len` may be 0). The framing layer
 * guarantees that every CR in it is followed by LF and every LF is preceded
 * by CR.
 *
 * The block is rewritten in place: the strings of *part are decoded into it
 * and NUL-terminated, so they stay valid until the buffer is reused.
 * Returns UG_OK, or UG_ERR_MALFORMED_MULTIPART with a static message in *why
 * and in *err_pos the index in `block` of the byte at fault (`len` when the
 * fault is something missing, such as the Content-Disposition).
 */
ug_err_t ug_multipart_parse_headers(char *block, size_t len, ug_multipart_part_t *part, const char **why, size_t *err_pos);

/*
 * Checks one complete header line (without its CRLF) as soon as it has
 * arrived, so that a broken block fails at the broken line instead of at its
 * end (or at the size limit). `first`: the block's first line, which cannot
 * be an obs-fold continuation. Returns 0, or -1 with *why and *err_pos (index
 * in `line`). ug_multipart_parse_headers applies the same rules again.
 */
int ug_multipart_check_header_line(const char *line, size_t len, int first, const char **why, size_t *err_pos);

#endif
