/*
 * The upload pipeline end to end without h2o: body chunks -> parser -> stored
 * files -> manifest, and every limit refusing at the byte that crosses it,
 * leaving nothing on disk after abort.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "upload/upload.h"

static char root[64];
static ug_route_t route;
static ug_config_t config;

static void setup(void)
{
    strcpy(root, "/tmp/ug-test-upload-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    memset(&route, 0, sizeof(route));
    route.path = "/upload";
    route.methods = UG_METHOD_POST;
    route.limits = (ug_limits_t){.max_body = 1 << 20, .max_file = 256 * 1024, .max_files = 3, .max_fields = 2, .max_field_size = 16};
    memset(&config, 0, sizeof(config));
    config.storage.dir = root;
    config.storage.min_free = 0;
    config.max_header_size = 16 * 1024;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(upload, .init = setup, .fini = teardown);

/* Entries under the storage root (the upload directories). */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            ++n;
    closedir(d);
    return n;
}

static void sha256_hex(const char *buf, size_t len, char *out)
{
    unsigned char md[32];
    unsigned int mdlen;
    EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; ++i)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static ug_upload_t *new_upload(const char *content_type, uint64_t content_length)
{
    ug_upload_request_t r = {
        .config = &config,
        .route = &route,
        .method = "POST",
        .method_len = 4,
        .path = "/upload?x=1",
        .path_len = 11,
        .content_type = content_type,
        .content_type_len = content_type != NULL ? strlen(content_type) : 0,
        .content_length = content_length,
        .received_at = {1700000000, 123456789},
        .client_address = "127.0.0.1",
        .protocol = "HTTP/1.1",
    };
    ug_upload_t *u = ug_upload_new(&r);
    cr_assert_not_null(u);
    return u;
}

/* Builds a multipart body with one field and two files of pseudo-random bytes. */
static char *make_body(size_t file_len, size_t *len, char *file_a, char *file_b)
{
    for (size_t i = 0; i < file_len; ++i) {
        file_a[i] = (char)(i * 7 + 3);
        file_b[i] = (char)(i * 13 + (i >> 8));
    }
    size_t cap = 2 * file_len + 1024;
    char *body = malloc(cap);
    size_t n = 0;
    n += sprintf(body + n, "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n");
    n += sprintf(body + n, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.bin\"\r\n"
                           "Content-Type: application/octet-stream\r\n\r\n");
    memcpy(body + n, file_a, file_len);
    n += file_len;
    n += sprintf(body + n, "\r\n--XyZ\r\nContent-Disposition: form-data; name=\"b\"; filename=\"r\xc3\xa9sum\xc3\xa9.pdf\"\r\n"
                           "Content-Type: application/pdf\r\n\r\n");
    memcpy(body + n, file_b, file_len);
    n += file_len;
    n += sprintf(body + n, "\r\n--XyZ--\r\n");
    *len = n;
    return body;
}

static void check_manifest(ug_upload_t *u, const char *json, const char *file_a, const char *file_b, size_t file_len,
                           const char *path_prefix)
{
    json_error_t jerr;
    json_t *doc = json_loads(json, 0, &jerr);
    cr_assert_not_null(doc, "manifest is not JSON: %s", jerr.text);
    cr_assert_eq(json_integer_value(json_object_get(doc, "version")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "id")), ug_upload_id(u));
    cr_assert_str_eq(json_string_value(json_object_get(doc, "path")), "/upload?x=1");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "route")), "/upload");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "received_at")), "2023-11-14T22:13:20.123Z");
    json_t *fields = json_object_get(doc, "fields");
    cr_assert_eq(json_array_size(fields), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(fields, 0), "value")), "hello");
    json_t *files = json_object_get(doc, "files");
    cr_assert_eq(json_array_size(files), 2);
    const char *contents[2] = {file_a, file_b};
    const char *names[2] = {"a.bin", "r\xc3\xa9sum\xc3\xa9.pdf"};
    for (size_t i = 0; i < 2; ++i) {
        json_t *f = json_array_get(files, i);
        char hex[65], expect_path[256], disk_path[256];
        sha256_hex(contents[i], file_len, hex);
        cr_assert_str_eq(json_string_value(json_object_get(f, "sha256")), hex);
        cr_assert_eq((size_t)json_integer_value(json_object_get(f, "size")), file_len);
        cr_assert_str_eq(json_string_value(json_object_get(f, "filename")), names[i]);
        snprintf(expect_path, sizeof(expect_path), "%s/%s/%zu", path_prefix, ug_upload_id(u), i);
        cr_assert_str_eq(json_string_value(json_object_get(f, "path")), expect_path);
        /* the bytes on disk are the bytes sent */
        snprintf(disk_path, sizeof(disk_path), "%s/%s/%zu", root, ug_upload_id(u), i);
        FILE *fp = fopen(disk_path, "rb");
        cr_assert_not_null(fp, "missing %s", disk_path);
        char *back = malloc(file_len + 1);
        cr_assert_eq(fread(back, 1, file_len + 1, fp), file_len);
        fclose(fp);
        cr_assert_arr_eq(back, contents[i], file_len);
        free(back);
    }
    json_decref(doc);
}

static void run_multipart(size_t chunk)
{
    size_t file_len = 100000, len;
    char *a = malloc(file_len), *b = malloc(file_len);
    char *body = make_body(file_len, &len, a, b);
    ug_upload_t *u = new_upload("multipart/form-data; boundary=XyZ", len);
    cr_assert_eq(ug_upload_start(u), UG_OK, "%s", ug_upload_message(u));
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        cr_assert_eq(ug_upload_feed(u, body + off, n), UG_UPLOAD_OK, "%s", ug_upload_message(u));
    }
    const char *json;
    size_t json_len;
    cr_assert_eq(ug_upload_finish(u, &json, &json_len), UG_OK, "%s", ug_upload_message(u));
    cr_assert_eq(strlen(json), json_len);
    check_manifest(u, json, a, b, file_len, root);
    cr_assert_eq(ug_upload_file_count(u), 2);
    cr_assert_eq(ug_upload_bytes(u), len);
    cr_assert_eq(ug_upload_stored_bytes(u), 2 * (uint64_t)file_len, "the two files' bytes, without the multipart framing");
    ug_upload_release(u);
    cr_assert_eq(count_entries(root), 1, "release keeps the upload directory");
    free(a);
    free(b);
    free(body);
}

Test(upload, multipart_whole)
{
    run_multipart(SIZE_MAX);
}

Test(upload, multipart_byte_by_byte)
{
    run_multipart(1);
}

Test(upload, multipart_odd_chunks)
{
    run_multipart(4093);
}

Test(upload, manifest_paths_use_app_dir)
{
    config.storage.app_dir = "/uploads";
    size_t file_len = 10, len;
    char a[10], b[10];
    char *body = make_body(file_len, &len, a, b);
    ug_upload_t *u = new_upload("multipart/form-data; boundary=XyZ", len);
    cr_assert_eq(ug_upload_start(u), UG_OK);
    cr_assert_eq(ug_upload_feed(u, body, len), UG_UPLOAD_OK);
    const char *json;
    size_t json_len;
    cr_assert_eq(ug_upload_finish(u, &json, &json_len), UG_OK);
    check_manifest(u, json, a, b, file_len, "/uploads");
    ug_upload_release(u);
    free(body);
}

/* Whether root/<name> exists. */
static int entry_exists(const char *name)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", root, name);
    return access(p, F_OK) == 0;
}

Test(upload, the_directory_is_incoming_until_finish_hands_it_off)
{
    size_t file_len = 10, len;
    char a[10], b[10], incoming[80], id[40];
    char *body = make_body(file_len, &len, a, b);
    ug_upload_t *u = new_upload("multipart/form-data; boundary=XyZ", len);
    cr_assert_eq(ug_upload_start(u), UG_OK);
    snprintf(id, sizeof(id), "%s", ug_upload_id(u));
    snprintf(incoming, sizeof(incoming), "%s.incoming", id);
    cr_assert_eq(ug_upload_feed(u, body, len), UG_UPLOAD_OK);
    cr_assert(entry_exists(incoming), "stored files wait under the incoming name");
    cr_assert(!entry_exists(id), "under the final name before the manifest exists");
    const char *json;
    size_t json_len;
    cr_assert_eq(ug_upload_finish(u, &json, &json_len), UG_OK);
    cr_assert(!entry_exists(incoming));
    check_manifest(u, json, a, b, file_len, root); /* the manifest's paths name the final location, byte-exact */
    ug_upload_release(u);
    cr_assert(entry_exists(id));
    cr_assert_eq(count_entries(root), 1);
    free(body);
}

Test(upload, raw_body_is_one_file_even_when_json)
{
    const char *body = "{\"version\":1,\"files\":[{\"path\":\"/etc/passwd\"}]}";
    ug_upload_t *u = new_upload("application/json", strlen(body));
    cr_assert_eq(ug_upload_start(u), UG_OK);
    cr_assert_eq(ug_upload_feed(u, body, strlen(body)), UG_UPLOAD_OK);
    const char *json;
    size_t json_len;
    cr_assert_eq(ug_upload_finish(u, &json, &json_len), UG_OK);
    json_t *doc = json_loads(json, 0, NULL);
    json_t *f = json_array_get(json_object_get(doc, "files"), 0);
    char hex[65];
    sha256_hex(body, strlen(body), hex);
    cr_assert_str_eq(json_string_value(json_object_get(f, "sha256")), hex);
    cr_assert(json_is_null(json_object_get(f, "field")));
    cr_assert(json_is_null(json_object_get(f, "filename")));
    cr_assert_str_eq(json_string_value(json_object_get(f, "content_type")), "application/json");
    cr_assert_eq(json_array_size(json_object_get(doc, "files")), 1);
    json_decref(doc);
    ug_upload_release(u);
}

/* Feeds `body` whole and expects `err` with `needle` in the message; abort must leave the root empty. */
static void expect_refusal(const char *content_type, const char *body, size_t len, ug_err_t err, const char *needle)
{
    ug_upload_t *u = new_upload(content_type, UINT64_MAX);
    ug_err_t e = ug_upload_start(u);
    if (e == UG_OK)
        e = ug_upload_feed(u, body, len) == UG_UPLOAD_FAILED ? ug_upload_error(u) : UG_OK;
    if (e == UG_OK) {
        const char *json;
        size_t json_len;
        e = ug_upload_finish(u, &json, &json_len);
    }
    cr_assert_eq(e, err, "got %s (%s), wanted %s", ug_err_code(e), ug_upload_message(u), ug_err_code(err));
    cr_assert_eq(ug_upload_error(u), err);
    cr_assert_not_null(strstr(ug_upload_message(u), needle), "message \"%s\" lacks \"%s\"", ug_upload_message(u), needle);
    ug_upload_abort(u);
    cr_assert_eq(count_entries(root), 0, "abort left files behind");
}

static char *repeat_part(const char *head, size_t count, size_t value_len, size_t *len)
{
    char *body = malloc(count * (strlen(head) + value_len + 64) + 64);
    size_t n = 0;
    for (size_t i = 0; i < count; ++i) {
        n += sprintf(body + n, "--XyZ\r\n%s\r\n\r\n", head);
        memset(body + n, 'v', value_len);
        n += value_len;
        n += sprintf(body + n, "\r\n");
    }
    n += sprintf(body + n, "--XyZ--\r\n");
    *len = n;
    return body;
}

Test(upload, file_over_max_file)
{
    size_t len;
    char *body = repeat_part("Content-Disposition: form-data; name=\"f\"; filename=\"x\"", 1, 256 * 1024 + 1, &len);
    expect_refusal("multipart/form-data; boundary=XyZ", body, len, UG_ERR_FILE_TOO_LARGE, "max_file limit (256 KiB)");
    free(body);
}

Test(upload, too_many_files)
{
    size_t len;
    char *body = repeat_part("Content-Disposition: form-data; name=\"f\"; filename=\"x\"", 4, 10, &len);
    expect_refusal("multipart/form-data; boundary=XyZ", body, len, UG_ERR_TOO_MANY_FILES, "max_files limit (3)");
    free(body);
}

Test(upload, too_many_fields)
{
    size_t len;
    char *body = repeat_part("Content-Disposition: form-data; name=\"f\"", 3, 1, &len);
    expect_refusal("multipart/form-data; boundary=XyZ", body, len, UG_ERR_TOO_MANY_FIELDS, "max_fields limit (2)");
    free(body);
}

Test(upload, field_over_max_field_size)
{
    size_t len;
    char *body = repeat_part("Content-Disposition: form-data; name=\"f\"", 1, 17, &len);
    expect_refusal("multipart/form-data; boundary=XyZ", body, len, UG_ERR_FIELD_TOO_LARGE, "max_field_size limit (16 bytes)");
    free(body);
}

Test(upload, body_over_max_body_streamed)
{
    route.limits.max_file = route.limits.max_body = 1000;
    char body[1001];
    memset(body, 'z', sizeof(body));
    expect_refusal("application/octet-stream", body, sizeof(body), UG_ERR_BODY_TOO_LARGE, "max_body");
}

Test(upload, declared_length_over_max_body_is_refused_before_any_byte)
{
    ug_upload_t *u = new_upload("application/octet-stream", (1 << 20) + 1);
    cr_assert_eq(ug_upload_start(u), UG_ERR_BODY_TOO_LARGE);
    cr_assert_not_null(strstr(ug_upload_message(u), "max_body limit (1 MiB)"));
    ug_upload_abort(u);
    cr_assert_eq(count_entries(root), 0);
}

Test(upload, low_disk_is_507)
{
    config.storage.min_free = UINT64_MAX / 2;
    ug_upload_t *u = new_upload("application/octet-stream", 10);
    cr_assert_eq(ug_upload_start(u), UG_ERR_INSUFFICIENT_STORAGE);
    cr_assert_eq(ug_err_status(ug_upload_error(u)), 507);
    ug_upload_abort(u);
    cr_assert_eq(count_entries(root), 0);
}

Test(upload, malformed_multipart_leaves_nothing)
{
    const char *body = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\npartial data, no close";
    expect_refusal("multipart/form-data; boundary=XyZ", body, strlen(body), UG_ERR_MALFORMED_MULTIPART, "");
}

Test(upload, bad_content_type_boundary)
{
    ug_upload_t *u = new_upload("multipart/form-data", 10);
    cr_assert_eq(ug_upload_start(u), UG_ERR_MALFORMED_MULTIPART);
    cr_assert_not_null(strstr(ug_upload_message(u), "Content-Type"));
    ug_upload_abort(u);
    cr_assert_eq(count_entries(root), 0);
}
