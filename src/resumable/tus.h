/*
 * resumable/tus.h - the tus 1.0.0 protocol's header syntax (https://tus.io/protocols/resumable-upload): the
 * values uploadgate advertises, and strict parsers for what a client sends (Upload-Length, Upload-Offset,
 * Upload-Metadata, Upload-Checksum). Pure: no h2o, no I/O. Inputs are (pointer, length) and need not be
 * NUL-terminated.
 *
 * Ownership: ug_tus_metadata_parse fills a ug_tus_metadata_t whose pairs the caller frees with
 * ug_tus_metadata_free; nothing else allocates.
 */
#ifndef UG_RESUMABLE_TUS_H
#define UG_RESUMABLE_TUS_H

#include <stddef.h>
#include <stdint.h>

#define UG_TUS_VERSION "1.0.0"
#define UG_TUS_EXTENSIONS                                                                                                 \
    "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration,concatenation"
#define UG_TUS_CHECKSUM_ALGORITHMS "sha1,md5,sha256"
/* The Content-Type of a PATCH body (and of a POST that carries the first chunk). */
#define UG_TUS_CONTENT_TYPE "application/offset+octet-stream"
/* Response fields a browser script must be allowed to read (Access-Control-Expose-Headers). */
#define UG_TUS_EXPOSE_HEADERS                                                                                             \
    "Location, Upload-Offset, Upload-Length, Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, Upload-Expires, "  \
    "Upload-Metadata, Upload-Concat"
/* IMF-fixdate with its NUL ("Sun, 06 Nov 1994 08:49:37 GMT"). */
#define UG_TUS_DATE_SIZE 30
/* A longest digest (SHA-256) in bytes. */
#define UG_TUS_DIGEST_MAX 32

typedef enum ug_tus_parse_result {
    UG_TUS_PARSE_OK = 0,
    UG_TUS_PARSE_INVALID,     /* malformed: 400 */
    UG_TUS_PARSE_UNSUPPORTED, /* well-formed, but an algorithm uploadgate does not offer (checksum: 400) */
} ug_tus_parse_result_t;

/* A non-negative decimal (Upload-Length, Upload-Offset): digits only, at most 18 of them (no overflow). */
ug_tus_parse_result_t ug_tus_parse_uint(const char *s, size_t len, uint64_t *out);

typedef struct ug_tus_pair {
    char *key; /* NUL-terminated, printable ASCII without space or comma */
    size_t key_len;
    char *value; /* the decoded value (any bytes), NUL-terminated for convenience */
    size_t value_len;
} ug_tus_pair_t;

typedef struct ug_tus_metadata {
    ug_tus_pair_t *pairs;
    size_t n;
} ug_tus_metadata_t;

/*
 * Upload-Metadata: comma-separated "key base64value" pairs (spaces and tabs around a pair are ignored). Keys are
 * non-empty printable ASCII without space or comma, unique; values strict base64 (RFC 4648 4: padded, no whitespace,
 * unused bits zero) or absent (then the separating space may be too). An empty value is no pair. On
 * UG_TUS_PARSE_INVALID *why is a static message and *out is empty.
 */
ug_tus_parse_result_t ug_tus_metadata_parse(const char *s, size_t len, ug_tus_metadata_t *out, const char **why);
/* The pair with this key, NULL when absent. */
const ug_tus_pair_t *ug_tus_metadata_get(const ug_tus_metadata_t *m, const char *key);
void ug_tus_metadata_free(ug_tus_metadata_t *m);

/* Strict base64 (RFC 4648 section 4, padded). out needs UG_B64URL_DECODED_MAX(len) bytes (policy/b64url.h). 0 and
 * *out_len, or -1. */
int ug_tus_base64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len);

typedef enum ug_tus_algorithm {
    UG_TUS_SHA1 = 0,
    UG_TUS_MD5,
    UG_TUS_SHA256,
} ug_tus_algorithm_t;

typedef struct ug_tus_checksum {
    ug_tus_algorithm_t algorithm;
    unsigned char digest[UG_TUS_DIGEST_MAX];
    size_t digest_len;
} ug_tus_checksum_t;

/* Upload-Checksum: "<algorithm> <base64 digest>". UNSUPPORTED for an algorithm other than sha1, md5, sha256;
 * INVALID for anything malformed, including a digest of the wrong length for its algorithm. *why as above. */
ug_tus_parse_result_t ug_tus_checksum_parse(const char *s, size_t len, ug_tus_checksum_t *out, const char **why);

/* Unix time as an IMF-fixdate (RFC 9110 5.6.7), for Upload-Expires. */
void ug_tus_format_date(int64_t t, char out[UG_TUS_DATE_SIZE]);

#endif
