/*
 * S3 XML answers (src/store/s3_xml.c). The documents under tests/fuzz/corpus/s3_xml were captured from
 * Swift 2.30's s3api (tests/storage/swift.sh); they double as the fuzz target's seeds.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3_xml.h"

#define CORPUS UG_TEST_DATA_DIR "/../fuzz/corpus/s3_xml/"

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, CORPUS "%s", name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char buf[65536];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

#define S(lit) lit, sizeof(lit) - 1

Test(s3_xml, initiate_from_swift)
{
    size_t len;
    const char *xml = slurp("initiate.xml", &len);
    char *id = NULL;
    cr_assert_eq(ug_s3_parse_initiate(xml, len, &id), UG_S3_XML_OK);
    cr_expect_str_eq(id, "ZjcxNjBiNTUtYTJlNy00MDA3LWE2OTktZDljNTIxZGJhYzlm");
    free(id);
    /* the wrong parser for it */
    cr_expect_eq(ug_s3_parse_complete(xml, len, &id), UG_S3_XML_UNEXPECTED);
}

Test(s3_xml, complete_from_swift)
{
    size_t len;
    const char *xml = slurp("complete.xml", &len);
    char *etag = NULL;
    cr_assert_eq(ug_s3_parse_complete(xml, len, &etag), UG_S3_XML_OK);
    cr_expect_str_eq(etag, "\"62109206880d38a4010a98e11243924a-1\"");
    free(etag);
}

Test(s3_xml, list_uploads_from_swift)
{
    size_t len;
    const char *xml = slurp("list.xml", &len);
    ug_s3_upload_list_t l;
    cr_assert_eq(ug_s3_parse_list_uploads(xml, len, &l), UG_S3_XML_OK);
    cr_assert_eq(l.n, 2);
    cr_expect_str_eq(l.uploads[0].key, "cap/obj");
    cr_expect_str_eq(l.uploads[0].upload_id, "ZjcxNjBiNTUtYTJlNy00MDA3LWE2OTktZDljNTIxZGJhYzlm");
    cr_expect_str_eq(l.uploads[0].initiated, "2026-12-06T03:32:05.000Z");
    cr_expect_str_eq(l.uploads[1].key, "cap/obj2");
    cr_expect_not(l.truncated);
    cr_expect_str_eq(l.next_key_marker, "cap/obj2");
    ug_s3_upload_list_free(&l);
}

Test(s3_xml, truncated_list_without_markers_continues_after_last_upload)
{
    size_t len;
    const char *xml = slurp("list-truncated.xml", &len); /* Swift: IsTruncated true, Next*Marker empty */
    ug_s3_upload_list_t l;
    cr_assert_eq(ug_s3_parse_list_uploads(xml, len, &l), UG_S3_XML_OK);
    cr_assert_eq(l.n, 1);
    cr_expect(l.truncated);
    cr_expect_str_eq(l.next_key_marker, "cap/obj");
    cr_expect_str_eq(l.next_upload_id_marker, "ZjcxNjBiNTUtYTJlNy00MDA3LWE2OTktZDljNTIxZGJhYzlm");
    ug_s3_upload_list_free(&l);
    /* truncated with nothing to continue from: a caller would loop */
    cr_expect_eq(ug_s3_parse_list_uploads(S("<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
                                            "</ListMultipartUploadsResult>"), &l),
                 UG_S3_XML_UNEXPECTED);
}

Test(s3_xml, list_with_markers_and_no_uploads)
{
    ug_s3_upload_list_t l;
    cr_assert_eq(ug_s3_parse_list_uploads(S("<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                                            "<IsTruncated>true</IsTruncated><NextKeyMarker>k&amp;1</NextKeyMarker>"
                                            "<NextUploadIdMarker>u1</NextUploadIdMarker>"
                                            "</ListMultipartUploadsResult>"), &l),
                 UG_S3_XML_OK);
    cr_expect_eq(l.n, 0);
    cr_expect(l.truncated);
    cr_expect_str_eq(l.next_key_marker, "k&1");
    cr_expect_str_eq(l.next_upload_id_marker, "u1");
    ug_s3_upload_list_free(&l);
    /* an Upload without its UploadId is not an upload we can abort */
    cr_expect_eq(ug_s3_parse_list_uploads(S("<ListMultipartUploadsResult><Upload><Key>k</Key></Upload>"
                                            "</ListMultipartUploadsResult>"), &l),
                 UG_S3_XML_UNEXPECTED);
}

Test(s3_xml, list_objects_from_swift)
{
    size_t len;
    const char *xml = slurp("list-objects.xml", &len);
    ug_s3_key_list_t l;
    cr_assert_eq(ug_s3_parse_list_objects(xml, len, &l), UG_S3_XML_OK);
    cr_assert_eq(l.n, 2);
    cr_expect_str_eq(l.keys[0], "cap/0123456789abcdef0123456789abcdef/0");
    cr_expect_str_eq(l.keys[1], "cap/0123456789abcdef0123456789abcdef/1");
    cr_expect_not(l.truncated);
    ug_s3_key_list_free(&l);
    xml = slurp("list-objects-truncated.xml", &len); /* max-keys=1 */
    cr_assert_eq(ug_s3_parse_list_objects(xml, len, &l), UG_S3_XML_OK);
    cr_assert_eq(l.n, 1);
    cr_expect(l.truncated);
    ug_s3_key_list_free(&l);
}

Test(s3_xml, list_objects_refuses_what_it_cannot_continue_or_use)
{
    ug_s3_key_list_t l;
    cr_expect_eq(ug_s3_parse_list_objects(S("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"), &l),
                 UG_S3_XML_OK);
    cr_expect_eq(l.n, 0);
    ug_s3_key_list_free(&l);
    /* truncated with no key to continue from: a caller would loop */
    cr_expect_eq(ug_s3_parse_list_objects(S("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"), &l),
                 UG_S3_XML_UNEXPECTED);
    /* a Contents without its Key names nothing to delete */
    cr_expect_eq(ug_s3_parse_list_objects(S("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>"), &l),
                 UG_S3_XML_UNEXPECTED);
    cr_expect_eq(ug_s3_parse_list_objects(S("<ListMultipartUploadsResult/>"), &l), UG_S3_XML_UNEXPECTED);
    cr_expect_eq(ug_s3_parse_list_objects(S("<Error><Code>AccessDenied</Code></Error>"), &l), UG_S3_XML_ERROR_BODY);
}

Test(s3_xml, error_from_swift_and_error_body_detected)
{
    size_t len;
    const char *xml = slurp("error-nosuchupload.xml", &len);
    ug_s3_error_t e;
    cr_assert_eq(ug_s3_parse_error(xml, len, &e), UG_S3_XML_OK);
    cr_expect_str_eq(e.code, "NoSuchUpload");
    cr_expect(strncmp(e.message, "The specified multipart upload does not exist.", 46) == 0, "%s", e.message);
    ug_s3_error_free(&e);
    /* S3 can answer CompleteMultipartUpload with 200 and an Error body */
    char *etag = NULL;
    cr_expect_eq(ug_s3_parse_complete(xml, len, &etag), UG_S3_XML_ERROR_BODY);
    cr_expect_eq(ug_s3_parse_error(S("<Error><Message>m</Message></Error>"), &e), UG_S3_XML_UNEXPECTED);
    cr_assert_eq(ug_s3_parse_error(S("<Error><Code>SlowDown</Code></Error>"), &e), UG_S3_XML_OK);
    cr_expect_str_eq(e.message, "");
    ug_s3_error_free(&e);
}

Test(s3_xml, refuses_dtd_entities_garbage_and_oversize)
{
    size_t len;
    const char *xml = slurp("dtd-entities.xml", &len);
    char *id = NULL;
    cr_expect_eq(ug_s3_parse_initiate(xml, len, &id), UG_S3_XML_MALFORMED);
    cr_expect_eq(ug_s3_parse_initiate(S("<?xml version=\"1.0\"?><!DOCTYPE x SYSTEM \"http://127.0.0.1:9/x.dtd\">"
                                        "<InitiateMultipartUploadResult><UploadId>u</UploadId>"
                                        "</InitiateMultipartUploadResult>"), &id),
                 UG_S3_XML_MALFORMED);
    cr_expect_eq(ug_s3_parse_initiate(S("<InitiateMultipartUploadResult><UploadId>u"), &id), UG_S3_XML_MALFORMED);
    cr_expect_eq(ug_s3_parse_initiate(S(""), &id), UG_S3_XML_MALFORMED);
    cr_expect_eq(ug_s3_parse_initiate(S("<InitiateMultipartUploadResult><UploadId></UploadId>"
                                        "</InitiateMultipartUploadResult>"), &id),
                 UG_S3_XML_UNEXPECTED);
    size_t big = UG_S3_XML_MAX + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    memcpy(huge, "<Error><Code>X</Code></Error>", 29);
    ug_s3_error_t e;
    cr_expect_eq(ug_s3_parse_error(huge, big, &e), UG_S3_XML_MALFORMED);
    cr_expect_eq(ug_s3_parse_error(huge, big - 1, &e), UG_S3_XML_OK);
    ug_s3_error_free(&e);
    free(huge);
}

Test(s3_xml, build_complete_escapes_etags)
{
    ug_s3_part_t parts[] = {{1, "\"a<b>&'\"\r"}, {2, "\"9b2cf535f27731c974343645a3985328\""}};
    char *body = NULL;
    size_t len = 0;
    cr_assert_eq(ug_s3_build_complete(parts, 2, &body, &len), UG_S3_XML_OK);
    cr_expect_str_eq(body, "<CompleteMultipartUpload>"
                           "<Part><PartNumber>1</PartNumber><ETag>&quot;a&lt;b&gt;&amp;&apos;&quot;&#13;</ETag></Part>"
                           "<Part><PartNumber>2</PartNumber><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;"
                           "</ETag></Part></CompleteMultipartUpload>"
);
    cr_expect_eq(len, strlen(body));
    free(body);
}

Test(s3_xml, build_complete_refuses_bad_parts)
{
    char *body = NULL;
    size_t len = 0;
    ug_s3_part_t zero[] = {{0, "e"}}, big[] = {{10001, "e"}}, null_etag[] = {{1, NULL}}, max[] = {{10000, "e"}};
    cr_expect_eq(ug_s3_build_complete(zero, 0, &body, &len), UG_S3_XML_UNEXPECTED);
    cr_expect_eq(ug_s3_build_complete(zero, 1, &body, &len), UG_S3_XML_UNEXPECTED);
    cr_expect_eq(ug_s3_build_complete(big, 1, &body, &len), UG_S3_XML_UNEXPECTED);
    cr_expect_eq(ug_s3_build_complete(null_etag, 1, &body, &len), UG_S3_XML_UNEXPECTED);
    cr_assert_eq(ug_s3_build_complete(max, 1, &body, &len), UG_S3_XML_OK);
    cr_expect_str_eq(body, "<CompleteMultipartUpload><Part><PartNumber>10000</PartNumber><ETag>e</ETag></Part>"
                           "</CompleteMultipartUpload>");
    free(body);
}
