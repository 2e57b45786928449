/* S3 XML answers with libxml2 (see s3_xml.h for the rules). */
#include "store/s3_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

void ug_s3_xml_init(void)
{
    xmlInitParser();
}

/* NONET: never fetch anything; NOERROR/NOWARNING: libxml2 would print to stderr. Neither NOENT (entity
 * substitution) nor DTDLOAD is set, and documents with a DTD are refused below. */
static xmlDocPtr parse(const char *xml, size_t len, ug_s3_xml_result_t *r)
{
    if (xml == NULL || len == 0 || len > UG_S3_XML_MAX) {
        *r = UG_S3_XML_MALFORMED;
        return NULL;
    }
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "s3.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    if (doc == NULL || doc->intSubset != NULL || doc->extSubset != NULL || xmlDocGetRootElement(doc) == NULL) {
        xmlFreeDoc(doc);
        *r = UG_S3_XML_MALFORMED;
        return NULL;
    }
    *r = UG_S3_XML_OK;
    return doc;
}

static bool named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *child(const xmlNode *parent, const char *name)
{
    for (const xmlNode *c = parent->children; c != NULL; c = c->next)
        if (named(c, name))
            return c;
    return NULL;
}

/* The text of child `name` as a malloc'd string: "" when the child is absent. NULL only when out of memory. */
static char *child_text(const xmlNode *parent, const char *name)
{
    const xmlNode *c = child(parent, name);
    xmlChar *t = c ? xmlNodeGetContent(c) : NULL;
    char *s = strdup(t ? (const char *)t : "");
    xmlFree(t);
    return s;
}

/* Parse, check the root's name: OK with *root set, ERROR_BODY for <Error>, else the failure. */
static ug_s3_xml_result_t open_root(const char *xml, size_t len, const char *root_name, xmlDocPtr *doc,
                                  const xmlNode **root)
{
    ug_s3_xml_result_t r;
    *doc = parse(xml, len, &r);
    if (*doc == NULL)
        return r;
    *root = xmlDocGetRootElement(*doc);
    if (named(*root, root_name))
        return UG_S3_XML_OK;
    r = named(*root, "Error") && strcmp(root_name, "Error") != 0 ? UG_S3_XML_ERROR_BODY : UG_S3_XML_UNEXPECTED;
    xmlFreeDoc(*doc);
    *doc = NULL;
    return r;
}

/* One required, non-empty text field of a root element (UploadId, ETag). */
static ug_s3_xml_result_t parse_one(const char *xml, size_t len, const char *root_name, const char *field,
                                  char **out)
{
    xmlDocPtr doc;
    const xmlNode *root;
    ug_s3_xml_result_t r = open_root(xml, len, root_name, &doc, &root);
    if (r != UG_S3_XML_OK)
        return r;
    char *s = child_text(root, field);
    xmlFreeDoc(doc);
    if (s == NULL)
        return UG_S3_XML_NOMEM;
    if (s[0] == '\0') {
        free(s);
        return UG_S3_XML_UNEXPECTED;
    }
    *out = s;
    return UG_S3_XML_OK;
}

ug_s3_xml_result_t ug_s3_parse_initiate(const char *xml, size_t len, char **upload_id)
{
    return parse_one(xml, len, "InitiateMultipartUploadResult", "UploadId", upload_id);
}

ug_s3_xml_result_t ug_s3_parse_complete(const char *xml, size_t len, char **etag)
{
    return parse_one(xml, len, "CompleteMultipartUploadResult", "ETag", etag);
}

void ug_s3_error_free(ug_s3_error_t *err)
{
    free(err->code);
    free(err->message);
    err->code = err->message = NULL;
}

ug_s3_xml_result_t ug_s3_parse_error(const char *xml, size_t len, ug_s3_error_t *out)
{
    xmlDocPtr doc;
    const xmlNode *root;
    ug_s3_xml_result_t r = open_root(xml, len, "Error", &doc, &root);
    if (r != UG_S3_XML_OK)
        return r;
    ug_s3_error_t e = {child_text(root, "Code"), child_text(root, "Message")};
    xmlFreeDoc(doc);
    if (e.code == NULL || e.message == NULL)
        r = UG_S3_XML_NOMEM;
    else if (e.code[0] == '\0')
        r = UG_S3_XML_UNEXPECTED;
    if (r != UG_S3_XML_OK) {
        ug_s3_error_free(&e);
        return r;
    }
    *out = e;
    return UG_S3_XML_OK;
}

void ug_s3_upload_list_free(ug_s3_upload_list_t *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->uploads[i].key);
        free(list->uploads[i].upload_id);
        free(list->uploads[i].initiated);
    }
    free(list->uploads);
    free(list->next_key_marker);
    free(list->next_upload_id_marker);
    memset(list, 0, sizeof *list);
}

/* Append one <Upload> to list; the entry needs a Key and an UploadId. */
static ug_s3_xml_result_t add_upload(ug_s3_upload_list_t *list, const xmlNode *u, size_t cap)
{
    ug_s3_upload_t up = {child_text(u, "Key"), child_text(u, "UploadId"), child_text(u, "Initiated")};
    ug_s3_xml_result_t r = UG_S3_XML_OK;
    if (up.key == NULL || up.upload_id == NULL || up.initiated == NULL)
        r = UG_S3_XML_NOMEM;
    else if (up.key[0] == '\0' || up.upload_id[0] == '\0' || list->n >= cap)
        r = UG_S3_XML_UNEXPECTED;
    if (r != UG_S3_XML_OK) {
        free(up.key);
        free(up.upload_id);
        free(up.initiated);
        return r;
    }
    list->uploads[list->n++] = up;
    return UG_S3_XML_OK;
}

static size_t count_children(const xmlNode *parent, const char *name)
{
    size_t n = 0;
    for (const xmlNode *c = parent->children; c != NULL; c = c->next)
        n += named(c, name);
    return n;
}

static ug_s3_xml_result_t last_as_markers(ug_s3_upload_list_t *list)
{
    char *key = strdup(list->uploads[list->n - 1].key);
    char *id = strdup(list->uploads[list->n - 1].upload_id);
    if (key == NULL || id == NULL) {
        free(key);
        free(id);
        return UG_S3_XML_NOMEM;
    }
    free(list->next_key_marker);
    free(list->next_upload_id_marker);
    list->next_key_marker = key;
    list->next_upload_id_marker = id;
    return UG_S3_XML_OK;
}

static ug_s3_xml_result_t fill_list(const xmlNode *root, ug_s3_upload_list_t *list)
{
    size_t cap = count_children(root, "Upload");
    list->uploads = calloc(cap ? cap : 1, sizeof *list->uploads);
    if (list->uploads == NULL)
        return UG_S3_XML_NOMEM;
    for (const xmlNode *c = root->children; c != NULL; c = c->next) {
        if (!named(c, "Upload"))
            continue;
        ug_s3_xml_result_t r = add_upload(list, c, cap);
        if (r != UG_S3_XML_OK)
            return r;
    }
    char *truncated = child_text(root, "IsTruncated");
    list->next_key_marker = child_text(root, "NextKeyMarker");
    list->next_upload_id_marker = child_text(root, "NextUploadIdMarker");
    if (truncated == NULL || list->next_key_marker == NULL || list->next_upload_id_marker == NULL) {
        free(truncated);
        return UG_S3_XML_NOMEM;
    }
    list->truncated = strcmp(truncated, "true") == 0;
    free(truncated);
    if (!list->truncated || list->next_key_marker[0] != '\0')
        return UG_S3_XML_OK;
    /* Swift 2.30 sends empty Next*Marker exactly on truncated pages; S3 defines them as the last upload
     * listed, so continue from there. With no upload either, a caller would loop on the first page. */
    if (list->n == 0)
        return UG_S3_XML_UNEXPECTED;
    return last_as_markers(list);
}

ug_s3_xml_result_t ug_s3_parse_list_uploads(const char *xml, size_t len, ug_s3_upload_list_t *out)
{
    xmlDocPtr doc;
    const xmlNode *root;
    ug_s3_xml_result_t r = open_root(xml, len, "ListMultipartUploadsResult", &doc, &root);
    if (r != UG_S3_XML_OK)
        return r;
    ug_s3_upload_list_t list = {0};
    r = fill_list(root, &list);
    xmlFreeDoc(doc);
    if (r != UG_S3_XML_OK) {
        ug_s3_upload_list_free(&list);
        return r;
    }
    *out = list;
    return UG_S3_XML_OK;
}

void ug_s3_key_list_free(ug_s3_key_list_t *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->keys[i]);
    free(list->keys);
    memset(list, 0, sizeof *list);
}

static ug_s3_xml_result_t fill_keys(const xmlNode *root, ug_s3_key_list_t *list)
{
    size_t cap = count_children(root, "Contents");
    list->keys = calloc(cap ? cap : 1, sizeof *list->keys);
    if (list->keys == NULL)
        return UG_S3_XML_NOMEM;
    for (const xmlNode *c = root->children; c != NULL; c = c->next) {
        if (!named(c, "Contents"))
            continue;
        char *key = child_text(c, "Key");
        if (key == NULL)
            return UG_S3_XML_NOMEM;
        if (key[0] == '\0') {
            free(key);
            return UG_S3_XML_UNEXPECTED;
        }
        list->keys[list->n++] = key;
    }
    char *truncated = child_text(root, "IsTruncated");
    if (truncated == NULL)
        return UG_S3_XML_NOMEM;
    list->truncated = strcmp(truncated, "true") == 0;
    free(truncated);
    return list->truncated && list->n == 0 ? UG_S3_XML_UNEXPECTED : UG_S3_XML_OK;
}

ug_s3_xml_result_t ug_s3_parse_list_objects(const char *xml, size_t len, ug_s3_key_list_t *out)
{
    xmlDocPtr doc;
    const xmlNode *root;
    ug_s3_xml_result_t r = open_root(xml, len, "ListBucketResult", &doc, &root);
    if (r != UG_S3_XML_OK)
        return r;
    ug_s3_key_list_t list = {0};
    r = fill_keys(root, &list);
    xmlFreeDoc(doc);
    if (r != UG_S3_XML_OK) {
        ug_s3_key_list_free(&list);
        return r;
    }
    *out = list;
    return UG_S3_XML_OK;
}

/* Length of s with & < > " ' CR escaped (escaped into dst when not NULL). */
static size_t xml_escape(const char *s, char *dst)
{
    size_t n = 0;
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        /* a raw CR would come back as LF (XML end-of-line normalisation): keep it as a reference */
        case '\r': rep = "&#13;"; break;
        default: break;
        }
        size_t k = rep ? strlen(rep) : 1;
        if (dst != NULL)
            memcpy(dst + n, rep ? rep : s, k);
        n += k;
    }
    return n;
}

#define COMPLETE_OPEN "<CompleteMultipartUpload>"
#define COMPLETE_CLOSE "</CompleteMultipartUpload>"
#define PART_FMT "<Part><PartNumber>%u</PartNumber><ETag>"
#define PART_CLOSE "</ETag></Part>"

ug_s3_xml_result_t ug_s3_build_complete(const ug_s3_part_t *parts, size_t n, char **out, size_t *out_len)
{
    if (parts == NULL || n == 0)
        return UG_S3_XML_UNEXPECTED;
    size_t total = strlen(COMPLETE_OPEN) + strlen(COMPLETE_CLOSE);
    for (size_t i = 0; i < n; i++) {
        if (parts[i].etag == NULL || parts[i].part_number < 1 || parts[i].part_number > 10000)
            return UG_S3_XML_UNEXPECTED;
        total += strlen(PART_FMT) + 5 + xml_escape(parts[i].etag, NULL) + strlen(PART_CLOSE);
    }
    char *buf = malloc(total + 1);
    if (buf == NULL)
        return UG_S3_XML_NOMEM;
    size_t o = (size_t)sprintf(buf, COMPLETE_OPEN);
    for (size_t i = 0; i < n; i++) {
        o += (size_t)sprintf(buf + o, PART_FMT, parts[i].part_number);
        o += xml_escape(parts[i].etag, buf + o);
        o += (size_t)sprintf(buf + o, PART_CLOSE);
    }
    o += (size_t)sprintf(buf + o, COMPLETE_CLOSE);
    *out = buf;
    *out_len = o;
    return UG_S3_XML_OK;
}
