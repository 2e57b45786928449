/*
 * fuzz_s3_xml.c - libFuzzer target for the S3 XML answers (src/store/s3_xml.c).
 *
 * Input: one S3 answer document. Every parser reads it (initiate, complete, list uploads, list objects, error); the
 * target checks, besides "never crash, never leak":
 *   - a parser that says OK returns non-NULL, non-empty required fields;
 *   - every UploadId/Key a list returned survives ug_s3_build_complete as an ETag: the body it builds parses
 *     again and each <ETag> text equals its input byte for byte (the escaping is right).
 * The corpus (tests/fuzz/corpus/s3_xml) holds answers captured from Swift's s3api plus a DTD with entities.
 *
 * Build: tests/fuzz/build.sh fuzz_s3_xml
 * Run:   build-fuzz/fuzz_s3_xml -max_total_time=60 tests/fuzz/corpus/s3_xml
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "store/s3_xml.h"

static void check_one(ug_s3_xml_result_t r, char *s)
{
    if (r == UG_S3_XML_OK && (s == NULL || s[0] == '\0'))
        abort();
    if (r == UG_S3_XML_OK)
        free(s);
}

/* The <ETag> texts of a built CompleteMultipartUpload, in order, must equal the parts' ETags. */
static void check_round_trip(const ug_s3_part_t *parts, size_t n, const char *body, size_t len)
{
    xmlDocPtr doc = xmlReadMemory(body, (int)len, "c.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    if (doc == NULL)
        abort();
    size_t i = 0;
    for (xmlNode *p = xmlDocGetRootElement(doc)->children; p != NULL; p = p->next, i++) {
        xmlNode *etag = p->children ? p->children->next : NULL;
        xmlChar *t = etag ? xmlNodeGetContent(etag) : NULL;
        if (i >= n || t == NULL || strcmp((const char *)t, parts[i].etag) != 0)
            abort();
        xmlFree(t);
    }
    if (i != n)
        abort();
    xmlFreeDoc(doc);
}

static void check_list(const ug_s3_upload_list_t *list)
{
    if (list->truncated && list->next_key_marker[0] == '\0')
        abort();
    if (list->n == 0 || list->n > 200)
        return;
    ug_s3_part_t *parts = calloc(list->n * 2, sizeof *parts);
    if (parts == NULL)
        return;
    for (size_t i = 0; i < list->n; i++) {
        if (list->uploads[i].key[0] == '\0' || list->uploads[i].upload_id[0] == '\0')
            abort();
        parts[2 * i] = (ug_s3_part_t){(unsigned)(2 * i + 1), list->uploads[i].key};
        parts[2 * i + 1] = (ug_s3_part_t){(unsigned)(2 * i + 2), list->uploads[i].upload_id};
    }
    char *body = NULL;
    size_t len = 0;
    if (ug_s3_build_complete(parts, list->n * 2, &body, &len) != UG_S3_XML_OK || strlen(body) != len)
        abort();
    check_round_trip(parts, list->n * 2, body, len);
    free(body);
    free(parts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialised;
    if (!initialised) {
        ug_s3_xml_init();
        initialised = 1;
    }
    const char *xml = (const char *)data;
    char *s = NULL;
    check_one(ug_s3_parse_initiate(xml, size, &s), s);
    s = NULL;
    check_one(ug_s3_parse_complete(xml, size, &s), s);
    ug_s3_error_t err;
    if (ug_s3_parse_error(xml, size, &err) == UG_S3_XML_OK) {
        if (err.code == NULL || err.code[0] == '\0' || err.message == NULL)
            abort();
        ug_s3_error_free(&err);
    }
    ug_s3_upload_list_t list;
    if (ug_s3_parse_list_uploads(xml, size, &list) == UG_S3_XML_OK) {
        check_list(&list);
        ug_s3_upload_list_free(&list);
    }
    ug_s3_key_list_t keys;
    if (ug_s3_parse_list_objects(xml, size, &keys) == UG_S3_XML_OK) {
        for (size_t i = 0; i < keys.n; i++)
            if (keys.keys[i] == NULL || keys.keys[i][0] == '\0')
                abort();
        if (keys.truncated && keys.n == 0)
            abort();
        ug_s3_key_list_free(&keys);
    }
    return 0;
}
