/* The S3 XML answers uploadgate reads, and the one body it writes (CompleteMultipartUpload).
 *
 * Parsing uses libxml2 with no network access (XML_PARSE_NONET), no DTD loading and no entity substitution;
 * a document that declares a DTD at all is refused (no S3 answer has one, and it is where entity expansion
 * attacks live). Input is bounded by UG_S3_XML_MAX. Elements are matched by local name, so the S3 namespace
 * (xmlns="http://s3.amazonaws.com/doc/2006-03-01/") may or may not be there.
 *
 * Strings returned are malloc'd and owned by the caller: free() them, or the *_free function of their
 * struct. On any result but UG_S3_XML_OK nothing is left for the caller to free. Call ug_s3_xml_init() once
 * before threads start (libxml2's global set-up). */
#ifndef UG_S3_XML_H
#define UG_S3_XML_H

#include <stdbool.h>
#include <stddef.h>

#define UG_S3_XML_MAX (1024 * 1024) /* bytes: a list of 1000 uploads is ~400 KiB */

typedef enum {
    UG_S3_XML_OK = 0,
    UG_S3_XML_NOMEM,
    UG_S3_XML_MALFORMED,   /* not well-formed, too big, or declares a DTD */
    UG_S3_XML_UNEXPECTED,  /* well-formed, but another root element or a required field missing/empty */
    UG_S3_XML_ERROR_BODY,  /* the root is <Error>: parse it with ug_s3_parse_error (S3 may send one with 200,
                              e.g. for CompleteMultipartUpload) */
} ug_s3_xml_result_t;

typedef struct {
    char *code;     /* e.g. "NoSuchUpload", never NULL on success */
    char *message;  /* "" when absent */
} ug_s3_error_t;

typedef struct {
    char *key;
    char *upload_id;
    char *initiated;  /* as sent, e.g. "2026-12-06T03:40:01.000Z"; "" when absent */
} ug_s3_upload_t;

typedef struct {
    ug_s3_upload_t *uploads;
    size_t n;
    bool truncated;              /* IsTruncated: another page follows */
    char *next_key_marker;       /* where the next page starts; "" when not truncated and absent. A truncated */
    char *next_upload_id_marker; /* page without them (Swift) gets the last upload's Key/UploadId */
} ug_s3_upload_list_t;

typedef struct {
    char **keys;      /* every Contents' Key, in the order listed */
    size_t n;
    bool truncated;   /* IsTruncated: another page follows, from the last key listed (the V1 marker) */
} ug_s3_key_list_t;

typedef struct {
    unsigned part_number;  /* 1..10000 */
    const char *etag;      /* as the UploadPart answer's ETag header gave it, quotes included */
} ug_s3_part_t;

void ug_s3_xml_init(void);

/* InitiateMultipartUploadResult -> UploadId */
ug_s3_xml_result_t ug_s3_parse_initiate(const char *xml, size_t len, char **upload_id);
/* CompleteMultipartUploadResult -> ETag */
ug_s3_xml_result_t ug_s3_parse_complete(const char *xml, size_t len, char **etag);
/* ListMultipartUploadsResult -> every Upload's Key, UploadId, Initiated; IsTruncated and the next markers */
ug_s3_xml_result_t ug_s3_parse_list_uploads(const char *xml, size_t len, ug_s3_upload_list_t *out);
void ug_s3_upload_list_free(ug_s3_upload_list_t *list);
/* ListBucketResult (ListObjects, V1) -> every Contents' Key; IsTruncated. A truncated page without a key is
 * UG_S3_XML_UNEXPECTED (a caller continuing from its last key would loop). */
ug_s3_xml_result_t ug_s3_parse_list_objects(const char *xml, size_t len, ug_s3_key_list_t *out);
void ug_s3_key_list_free(ug_s3_key_list_t *list);
/* Error -> Code, Message */
ug_s3_xml_result_t ug_s3_parse_error(const char *xml, size_t len, ug_s3_error_t *out);
void ug_s3_error_free(ug_s3_error_t *err);

/* The CompleteMultipartUpload body listing `parts` in the order given (S3 wants ascending part numbers; the
 * caller keeps them so). ETags are XML-escaped. UG_S3_XML_UNEXPECTED when n == 0, a part number is outside
 * 1..10000 or an ETag is NULL. *out is NUL-terminated, *out_len its length. */
ug_s3_xml_result_t ug_s3_build_complete(const ug_s3_part_t *parts, size_t n, char **out, size_t *out_len);

#endif
