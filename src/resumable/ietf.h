/*
 * resumable/ietf.h - the header syntax of the IETF "Resumable Uploads for HTTP" draft, revision -05
 * (draft-ietf-httpbis-resumable-upload-05, Upload-Draft-Interop-Version 6): the values uploadgate sends and a
 * strict parser for Upload-Complete. Upload-Offset and Upload-Length are decimals as in tus (ug_tus_parse_uint).
 * Pure: no h2o, no I/O. Inputs are (pointer, length) and need not be NUL-terminated.
 *
 * Ownership: nothing here allocates; the formatters write into the caller's buffer.
 */
#ifndef UG_RESUMABLE_IETF_H
#define UG_RESUMABLE_IETF_H

#include <stddef.h>
#include <stdint.h>

#include "resumable/tus.h"

/* The interop version of draft -05: what Apple's URLSession (iOS 18.1, macOS 15.1) and tus-js-client's
 * "ietf-draft-05" protocol send. */
#define UG_IETF_INTEROP_VERSION "6"
/* The Content-Type of an append (PATCH) body. */
#define UG_IETF_CONTENT_TYPE "application/partial-upload"
/* The 1xx a server sends once it knows the upload's URL (draft -05 section 4.2). */
#define UG_IETF_STATUS_RESUMPTION 104
#define UG_IETF_REASON_RESUMPTION "Upload Resumption Supported"
/* Response fields a browser script must be allowed to read (Access-Control-Expose-Headers). */
#define UG_IETF_EXPOSE_HEADERS                                                                                        \
    "Location, Upload-Offset, Upload-Complete, Upload-Length, Upload-Limit, Upload-Draft-Interop-Version"
/* RFC 9457 problem types of the draft (section 4.4 and 4.4.2). */
#define UG_IETF_PROBLEM_MISMATCH "https://iana.org/assignments/http-problem-types#mismatching-upload-offset"
#define UG_IETF_PROBLEM_COMPLETED "https://iana.org/assignments/http-problem-types#completed-upload"
/* Room for an Upload-Limit value or a problem body (three 20-digit numbers and their names fit many times). */
#define UG_IETF_FORMAT_MAX 384

/* The Access-Control-Expose-Headers list of a resumable route's answers: the fields of the protocols it speaks. */
const char *ug_ietf_expose_headers(int tus, int ietf);

/* Upload-Complete: a structured-field boolean (RFC 8941 3.3.6), exactly "?0" or "?1" (spaces and tabs around it are
 * ignored, as around any field value); parameters and anything else are INVALID. */
ug_tus_parse_result_t ug_ietf_parse_complete(const char *s, size_t len, int *out);

/* Upload-Limit (a structured dictionary): "max-size=N, max-append-size=N, expires=N" (expires in seconds from
 * now). Returns the length written (NUL-terminated), 0 when `size` is too small. */
size_t ug_ietf_format_limit(uint64_t max_size, uint64_t max_append_size, uint64_t expires_s, char *out, size_t size);

/* The RFC 9457 body of a 409 for an Upload-Offset that is not the upload's. Length as above. */
size_t ug_ietf_problem_mismatch(uint64_t expected, uint64_t provided, char *out, size_t size);
/* The RFC 9457 body refusing an append to a completed upload. Length as above. */
size_t ug_ietf_problem_completed(char *out, size_t size);

#endif
