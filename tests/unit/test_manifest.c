/*
 * test_manifest.c - the manifest's exact bytes, string handling (escaping,
 * UTF-8 kept or repaired), time format, and that the output parses back into
 * the documented structure.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upload/manifest.h"

#define ID "0123456789abcdef0123456789abcdef"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define FFFD "\xEF\xBF\xBD"

/* Lengths are passed explicitly and the strings run on past them: only len bytes may be used. */
static const ug_manifest_client_request_t base_request = {
    .id = ID,
    .route = "/upload",
    .method = "POSTGARBAGE",
    .method_len = 4,
    .path = "/upload?x=1#GARBAGE",
    .path_len = 11,
    .received_at = {.tv_sec = 1795633200, .tv_nsec = 123456789}, /* 2026-11-25T19:00:00.123456789Z */
    .client_address = "127.0.0.1",
    .protocol = "HTTP/2",
};

#define HEAD                                                                                                           \
    "{\"version\":1,\"id\":\"" ID "\",\"route\":\"/upload\",\"method\":\"POST\",\"path\":\"/upload?x=1\","        \
    "\"received_at\":\"2026-11-25T19:00:00.123Z\",\"client\":{\"address\":\"127.0.0.1\",\"protocol\":\"HTTP/2\"},"

static ug_manifest_t *new_manifest(void)
{
    ug_manifest_t *m = ug_manifest_new(&base_request);
    cr_assert_not_null(m);
    return m;
}

/* Dump and check the length reported against the bytes; caller frees. */
static char *dump(const ug_manifest_t *m)
{
    size_t len = 0;
    char *s = ug_manifest_dump(m, &len);
    cr_assert_not_null(s);
    cr_assert_eq(len, strlen(s), "reported length %zu, actual %zu", len, strlen(s));
    return s;
}

static void assert_dump(const ug_manifest_t *m, const char *expected)
{
    char *s = dump(m);
    cr_assert_str_eq(s, expected);
    free(s);
}

static ug_manifest_file_t file_of(const char *field, const char *filename, const char *content_type, const char *path,
                                  uint64_t size, const char *sha)
{
    ug_manifest_file_t f = {
        .field = field,
        .field_len = field != NULL ? strlen(field) : 0,
        .filename = filename,
        .filename_len = filename != NULL ? strlen(filename) : 0,
        .content_type = content_type,
        .content_type_len = content_type != NULL ? strlen(content_type) : 0,
        .path = path,
        .size = size,
        .sha256_hex = sha,
    };
    return f;
}

/* ---- the document ---- */

Test(manifest, known_manifest_exact_bytes)
{
    ug_manifest_t *m = new_manifest();
    ug_manifest_file_t report = file_of("file", "report.pdf", "application/pdf", "/uploads/" ID "/0", 20971520, SHA_EMPTY);
    ug_manifest_file_t raw = file_of(NULL, NULL, NULL, "/uploads/" ID "/1", 5368709120ULL, SHA_ABC); /* > 2^32 */

    cr_assert_eq(ug_manifest_add_field(m, "title", 5, "hello", 5), UG_OK);
    cr_assert_eq(ug_manifest_add_field(m, "tags", 4, "a,b", 3), UG_OK);
    cr_assert_eq(ug_manifest_add_file(m, &report), UG_OK);
    cr_assert_eq(ug_manifest_add_file(m, &raw), UG_OK);
    assert_dump(m, HEAD "\"fields\":[{\"name\":\"title\",\"value\":\"hello\"},{\"name\":\"tags\",\"value\":\"a,b\"}],"
                        "\"files\":[{\"field\":\"file\",\"filename\":\"report.pdf\",\"content_type\":\"application/pdf\","
                        "\"path\":\"/uploads/" ID "/0\",\"size\":20971520,\"sha256\":\"" SHA_EMPTY "\"},"
                        "{\"field\":null,\"filename\":null,\"content_type\":null,"
                        "\"path\":\"/uploads/" ID "/1\",\"size\":5368709120,\"sha256\":\"" SHA_ABC "\"}]}");
    ug_manifest_free(m);
}

/* A file stored as an S3 object: path null, where it is (url, bucket, key) and its ETag after size and sha256. */
Test(manifest, object_file_exact_bytes)
{
    ug_manifest_t *m = new_manifest();
    ug_manifest_file_t o = file_of("file", "a.bin", NULL, NULL, 12582912, SHA_ABC);
    o.url = "s3://uploads/in/" ID "/0";
    o.bucket = "uploads";
    o.key = "in/" ID "/0";
    o.etag = "\"0c78aef83f66abc1fa1e8477f296d394-3\"";
    cr_assert_eq(ug_manifest_add_file(m, &o), UG_OK);
    assert_dump(m, HEAD "\"fields\":[],\"files\":[{\"field\":\"file\",\"filename\":\"a.bin\",\"content_type\":null,"
                        "\"path\":null,\"size\":12582912,\"sha256\":\"" SHA_ABC "\",\"url\":\"s3://uploads/in/" ID "/0\","
                        "\"bucket\":\"uploads\",\"key\":\"in/" ID "/0\",\"etag\":\"\\\"0c78aef83f66abc1fa1e8477f296d394-3\\\"\"}]}");
    ug_manifest_free(m);
}

/* An entry is a local file (path) or an object (url, bucket, key, etag), never both nor half of one. */
Test(manifest, object_entries_that_would_break_the_schema_are_refused)
{
    ug_manifest_t *m = new_manifest();
    ug_manifest_file_t both = file_of("f", "n", NULL, "/p", 1, SHA_ABC);
    both.url = "s3://b/k", both.bucket = "b", both.key = "k", both.etag = "\"e\"";
    ug_manifest_file_t no_bucket = file_of("f", "n", NULL, NULL, 1, SHA_ABC);
    no_bucket.url = "s3://b/k", no_bucket.key = "k", no_bucket.etag = "\"e\"";
    ug_manifest_file_t no_etag = file_of("f", "n", NULL, NULL, 1, SHA_ABC);
    no_etag.url = "s3://b/k", no_etag.bucket = "b", no_etag.key = "k";
    cr_assert_eq(ug_manifest_add_file(m, &both), UG_ERR_INTERNAL);
    cr_assert_eq(ug_manifest_add_file(m, &no_bucket), UG_ERR_INTERNAL);
    cr_assert_eq(ug_manifest_add_file(m, &no_etag), UG_ERR_INTERNAL);
    assert_dump(m, HEAD "\"fields\":[],\"files\":[]}");
    ug_manifest_free(m);
}

Test(manifest, empty_manifest_has_empty_arrays)
{
    ug_manifest_t *m = new_manifest();
    assert_dump(m, HEAD "\"fields\":[],\"files\":[]}");
    ug_manifest_free(m);
}

Test(manifest, dump_does_not_consume)
{
    ug_manifest_t *m = new_manifest();
    char *first = dump(m);
    char *second = dump(m);
    cr_assert_str_eq(first, second);
    cr_assert_eq(ug_manifest_add_field(m, "a", 1, "b", 1), UG_OK);
    assert_dump(m, HEAD "\"fields\":[{\"name\":\"a\",\"value\":\"b\"}],\"files\":[]}");
    free(first);
    free(second);
    ug_manifest_free(m);
}

Test(manifest, empty_strings_and_null_pointers_with_zero_length)
{
    ug_manifest_t *m = new_manifest();
    ug_manifest_file_t f = file_of("", "", "", "/p", 0, SHA_EMPTY);

    cr_assert_eq(ug_manifest_add_field(m, NULL, 0, NULL, 0), UG_OK);
    cr_assert_eq(ug_manifest_add_file(m, &f), UG_OK);
    assert_dump(m, HEAD "\"fields\":[{\"name\":\"\",\"value\":\"\"}],\"files\":[{\"field\":\"\",\"filename\":\"\","
                        "\"content_type\":\"\",\"path\":\"/p\",\"size\":0,\"sha256\":\"" SHA_EMPTY "\"}]}");
    ug_manifest_free(m);
}

/* ---- strings ---- */

Test(manifest, escaping_of_quotes_backslashes_and_controls)
{
    static const char value[] = "q\"b\\s/c\x01\x1f\n\r\t\b\f\x7f" "end";
    ug_manifest_t *m = new_manifest();
    ug_manifest_file_t f = file_of("f", "a \"quoted\" \\name\n.txt", NULL, "/p", 1, SHA_ABC);

    cr_assert_eq(ug_manifest_add_field(m, "k\"", 2, value, sizeof(value) - 1), UG_OK);
    cr_assert_eq(ug_manifest_add_file(m, &f), UG_OK);
    assert_dump(m, HEAD "\"fields\":[{\"name\":\"k\\\"\",\"value\":\"q\\\"b\\\\s/c\\u0001\\u001F\\n\\r\\t\\b\\f\x7f"
                        "end\"}],\"files\":[{\"field\":\"f\",\"filename\":\"a \\\"quoted\\\" \\\\name\\n.txt\","
                        "\"content_type\":null,\"path\":\"/p\",\"size\":1,\"sha256\":\"" SHA_ABC "\"}]}");
    ug_manifest_free(m);
}

Test(manifest, embedded_nul_bytes_survive)
{
    ug_manifest_client_request_t req = base_request;
    req.path = "/a\0b?c";
    req.path_len = 6;
    ug_manifest_t *m = ug_manifest_new(&req);
    cr_assert_not_null(m);
    ug_manifest_file_t f = file_of("f", "x", NULL, "/p", 1, SHA_ABC);
    f.filename = "a\0.exe";
    f.filename_len = 6;

    cr_assert_eq(ug_manifest_add_field(m, "n\0m", 3, "\0\0", 2), UG_OK);
    cr_assert_eq(ug_manifest_add_file(m, &f), UG_OK);
    char *s = dump(m);
    cr_assert_not_null(strstr(s, "\"path\":\"/a\\u0000b?c\""), "%s", s);
    cr_assert_not_null(strstr(s, "{\"name\":\"n\\u0000m\",\"value\":\"\\u0000\\u0000\"}"), "%s", s);
    cr_assert_not_null(strstr(s, "\"filename\":\"a\\u0000.exe\""), "%s", s);

    /* And they come back as the same bytes. */
    json_error_t err;
    json_t *doc = json_loads(s, JSON_ALLOW_NUL, &err);
    cr_assert_not_null(doc, "%s", err.text);
    json_t *name = json_object_get(json_array_get(json_object_get(doc, "fields"), 0), "name");
    cr_assert_eq(json_string_length(name), 3u);
    cr_assert(memcmp(json_string_value(name), "n\0m", 3) == 0);
    json_decref(doc);
    free(s);
    ug_manifest_free(m);
}

Test(manifest, valid_utf8_is_kept_byte_exact)
{
    /* No normalisation: the decomposed é (e + U+0301) stays decomposed; BOM, U+FFFD and U+10FFFF are valid text. */
    static const char *names[] = {
        "r\xC3\xA9sum\xC3\xA9 \xE2\x9C\x93.pdf",  /* résumé ✓.pdf */
        "\xF0\x9F\x98\x80\xF0\x9F\x93\x81.png",     /* 😀📁.png */
        "e\xCC\x81.txt",                           /* decomposed é */
        "\xEF\xBB\xBF" "bom",                      /* U+FEFF */
        FFFD "\xF4\x8F\xBF\xBF" "\xC2\x80",          /* U+FFFD U+10FFFF U+0080 */
        "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",     /* 日本語 */
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); ++i) {
        ug_manifest_t *m = new_manifest();
        ug_manifest_file_t f = file_of("file", names[i], "text/plain; charset=\xC3\xA9", "/p", 1, SHA_ABC);
        char expected[512];
        cr_assert_eq(ug_manifest_add_file(m, &f), UG_OK);
        int n = snprintf(expected, sizeof(expected), "\"filename\":\"%s\",\"content_type\":\"text/plain; charset=\xC3\xA9\"",
                         names[i]);
        cr_assert(n > 0 && (size_t)n < sizeof(expected));
        char *s = dump(m);
        cr_assert_not_null(strstr(s, expected), "%s not kept exactly in %s", names[i], s);
        free(s);
        ug_manifest_free(m);
    }
}

/* One ill-formed input and the exact bytes it must become (each maximal subpart -> one U+FFFD, as Python does). */
struct utf8_case {
    const char *in;
    const char *out;
};

static const struct utf8_case invalid_utf8[] = {
    {"\x80", FFFD},                                        /* lone continuation byte */
    {"a\xBF" "b", "a" FFFD "b"},
    {"\xC0\xAF", FFFD FFFD},                               /* overlong '/' */
    {"\xC1\xBF", FFFD FFFD},                               /* overlong */
    {"\xE0\x80\xAF", FFFD FFFD FFFD},                      /* overlong, 3 bytes */
    {"\xE0\x9F\xBF", FFFD FFFD FFFD},                      /* overlong U+07FF */
    {"\xF0\x80\x80\xAF", FFFD FFFD FFFD FFFD},             /* overlong, 4 bytes */
    {"\xF0\x8F\xBF\xBF", FFFD FFFD FFFD FFFD},             /* overlong U+FFFF */
    {"\xED\xA0\x80", FFFD FFFD FFFD},                      /* surrogate U+D800 */
    {"\xED\xBF\xBF", FFFD FFFD FFFD},                      /* surrogate U+DFFF */
    {"\xED\xA0\xBD\xED\xB8\x80", FFFD FFFD FFFD FFFD FFFD FFFD}, /* CESU-8 pair for U+1F600 */
    {"\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD},             /* U+110000 */
    {"\xF5\x80\x80\x80", FFFD FFFD FFFD FFFD},             /* F5: never a lead */
    {"\xFE\xFF", FFFD FFFD},
    {"\xE2\x9C", FFFD},                                    /* truncated at the end */
    {"a\xE2\x9C" "b", "a" FFFD "b"},                       /* truncated in the middle */
    {"\xF0\x9F\x98" "A", FFFD "A"},
    {"\xC3", FFFD},
    {"\xC3(", FFFD "("},
    {"\xF0\x9F\x98\x80\x80", "\xF0\x9F\x98\x80" FFFD},     /* valid emoji, then a stray continuation */
    {"\xE2\x9C\x93\xE2", "\xE2\x9C\x93" FFFD},
    {"r\xE9sum\xE9.pdf", "r" FFFD "sum" FFFD ".pdf"},      /* Latin-1 */
};

Test(manifest, invalid_utf8_is_replaced_per_maximal_subpart)
{
    for (size_t i = 0; i < sizeof(invalid_utf8) / sizeof(invalid_utf8[0]); ++i) {
        const struct utf8_case *c = &invalid_utf8[i];
        ug_manifest_t *m = new_manifest();
        char expected[1024];
        cr_assert_eq(ug_manifest_add_field(m, "f", 1, c->in, strlen(c->in)), UG_OK, "case %zu", i);
        int n = snprintf(expected, sizeof(expected), HEAD "\"fields\":[{\"name\":\"f\",\"value\":\"%s\"}],\"files\":[]}",
                         c->out);
        cr_assert(n > 0 && (size_t)n < sizeof(expected));
        char *s = dump(m);
        cr_assert_str_eq(s, expected, "case %zu", i);
        free(s);
        ug_manifest_free(m);
    }
}

Test(manifest, invalid_utf8_is_replaced_in_every_member)
{
    ug_manifest_client_request_t req = {
        .id = "i\xFF",
        .route = "/r\xFF",
        .method = "P\xFF",
        .method_len = 2,
        .path = "/p\xFF",
        .path_len = 3,
        .received_at = {0, 0},
        .client_address = "a\xFF",
        .protocol = "H\xFF",
    };
    ug_manifest_t *m = ug_manifest_new(&req);
    cr_assert_not_null(m);
    ug_manifest_file_t f = file_of("f\xFF", "n\xFF", "c\xFF", "/s\xFF", 1, SHA_ABC);

    cr_assert_eq(ug_manifest_add_field(m, "k\xFF", 2, "v\xFF", 2), UG_OK);
    cr_assert_eq(ug_manifest_add_file(m, &f), UG_OK);
    assert_dump(m, "{\"version\":1,\"id\":\"i" FFFD "\",\"route\":\"/r" FFFD "\",\"method\":\"P" FFFD
                   "\",\"path\":\"/p" FFFD "\",\"received_at\":\"1970-01-01T00:00:00.000Z\","
                   "\"client\":{\"address\":\"a" FFFD "\",\"protocol\":\"H" FFFD "\"},"
                   "\"fields\":[{\"name\":\"k" FFFD "\",\"value\":\"v" FFFD "\"}],"
                   "\"files\":[{\"field\":\"f" FFFD "\",\"filename\":\"n" FFFD "\",\"content_type\":\"c" FFFD
                   "\",\"path\":\"/s" FFFD "\",\"size\":1,\"sha256\":\"" SHA_ABC "\"}]}");
    ug_manifest_free(m);
}

Test(manifest, a_long_invalid_string_is_repaired_completely)
{
    /* Every byte invalid: the worst case for the repaired copy's size (3 bytes out per byte in). */
    size_t len = 100000;
    char *in = malloc(len);
    cr_assert_not_null(in);
    memset(in, 0xFF, len);
    ug_manifest_t *m = new_manifest();
    cr_assert_eq(ug_manifest_add_field(m, "f", 1, in, len), UG_OK);
    char *s = dump(m);
    json_t *doc = json_loads(s, 0, NULL);
    cr_assert_not_null(doc);
    json_t *v = json_object_get(json_array_get(json_object_get(doc, "fields"), 0), "value");
    cr_assert_eq(json_string_length(v), 3 * len);
    for (size_t i = 0; i < len; ++i)
        cr_assert(memcmp(json_string_value(v) + 3 * i, FFFD, 3) == 0);
    json_decref(doc);
    free(s);
    free(in);
    ug_manifest_free(m);
}

/* ---- refusals ---- */

Test(manifest, file_entries_that_would_break_the_schema_are_refused)
{
    ug_manifest_t *m = new_manifest();
    ug_manifest_file_t upper = file_of("f", "n", NULL, "/p", 1, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
    ug_manifest_file_t shorter = file_of("f", "n", NULL, "/p", 1, "ba7816bf");
    ug_manifest_file_t longer = file_of("f", "n", NULL, "/p", 1, SHA_ABC "0");
    ug_manifest_file_t no_sha = file_of("f", "n", NULL, "/p", 1, NULL);
    ug_manifest_file_t no_path = file_of("f", "n", NULL, NULL, 1, SHA_ABC);
    ug_manifest_file_t huge = file_of("f", "n", NULL, "/p", (uint64_t)INT64_MAX + 1, SHA_ABC);
    ug_manifest_file_t largest = file_of("f", "n", NULL, "/p", (uint64_t)INT64_MAX, SHA_ABC);

    cr_assert_eq(ug_manifest_add_file(m, &upper), UG_ERR_INTERNAL);
    cr_assert_eq(ug_manifest_add_file(m, &shorter), UG_ERR_INTERNAL);
    cr_assert_eq(ug_manifest_add_file(m, &longer), UG_ERR_INTERNAL);
    cr_assert_eq(ug_manifest_add_file(m, &no_sha), UG_ERR_INTERNAL);
    cr_assert_eq(ug_manifest_add_file(m, &no_path), UG_ERR_INTERNAL);
    cr_assert_eq(ug_manifest_add_file(m, &huge), UG_ERR_INTERNAL);
    cr_assert_eq(ug_manifest_add_file(m, &largest), UG_OK);
    char *s = dump(m);
    cr_assert_not_null(strstr(s, "\"size\":9223372036854775807,"), "%s", s);
    json_t *doc = json_loads(s, 0, NULL);
    cr_assert_not_null(doc);
    cr_assert_eq(json_array_size(json_object_get(doc, "files")), 1u, "only the valid entry was added: %s", s);
    json_decref(doc);
    free(s);
    ug_manifest_free(m);
}

/* Smoke test: no assertion; it passes when the call on NULL returns without crashing (the sanitized build also
 * checks it touches no memory). */
Test(manifest, smoke_free_of_null_does_not_crash)
{
    ug_manifest_free(NULL);
}

/* ---- parsed back ---- */

Test(manifest, output_parses_back_into_the_documented_structure)
{
    static const char *top[] = {"version", "id", "route", "method", "path", "received_at", "client", "fields", "files"};
    static const char *file_keys[] = {"field", "filename", "content_type", "path", "size", "sha256"};
    ug_manifest_t *m = new_manifest();
    ug_manifest_file_t a = file_of("file", "r\xC3\xA9sum\xC3\xA9.pdf", "application/pdf", "/u/0", 20971520, SHA_EMPTY);
    ug_manifest_file_t b = file_of(NULL, NULL, NULL, "/u/1", 5368709120ULL, SHA_ABC);

    cr_assert_eq(ug_manifest_add_field(m, "title", 5, "hello", 5), UG_OK);
    cr_assert_eq(ug_manifest_add_file(m, &a), UG_OK);
    cr_assert_eq(ug_manifest_add_file(m, &b), UG_OK);
    char *s = dump(m);
    json_error_t err;
    json_t *doc = json_loads(s, JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(doc, "%s: %s", err.text, s);

    /* Exactly the documented keys, in the documented order. */
    cr_assert_eq(json_object_size(doc), sizeof(top) / sizeof(top[0]));
    size_t k = 0;
    for (void *it = json_object_iter(doc); it != NULL; it = json_object_iter_next(doc, it), ++k)
        cr_assert_str_eq(json_object_iter_key(it), top[k]);

    cr_assert(json_is_integer(json_object_get(doc, "version")));
    cr_assert_eq(json_integer_value(json_object_get(doc, "version")), UG_MANIFEST_VERSION);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "id")), ID);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "method")), "POST");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "path")), "/upload?x=1");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "received_at")), "2026-11-25T19:00:00.123Z");
    json_t *client = json_object_get(doc, "client");
    cr_assert(json_is_object(client));
    cr_assert_eq(json_object_size(client), 2u);
    cr_assert_str_eq(json_string_value(json_object_get(client, "address")), "127.0.0.1");
    cr_assert_str_eq(json_string_value(json_object_get(client, "protocol")), "HTTP/2");

    json_t *fields = json_object_get(doc, "fields");
    cr_assert(json_is_array(fields));
    cr_assert_eq(json_array_size(fields), 1u);
    cr_assert_eq(json_object_size(json_array_get(fields, 0)), 2u);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(fields, 0), "name")), "title");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(fields, 0), "value")), "hello");

    json_t *files = json_object_get(doc, "files");
    cr_assert(json_is_array(files));
    cr_assert_eq(json_array_size(files), 2u);
    for (size_t i = 0; i < 2; ++i) {
        json_t *f = json_array_get(files, i);
        cr_assert_eq(json_object_size(f), sizeof(file_keys) / sizeof(file_keys[0]));
        k = 0;
        for (void *it = json_object_iter(f); it != NULL; it = json_object_iter_next(f, it), ++k)
            cr_assert_str_eq(json_object_iter_key(it), file_keys[k]);
        cr_assert(json_is_string(json_object_get(f, "path")));
        cr_assert(json_is_integer(json_object_get(f, "size")));
        cr_assert_eq(strlen(json_string_value(json_object_get(f, "sha256"))), 64u);
    }
    json_t *f0 = json_array_get(files, 0), *f1 = json_array_get(files, 1);
    cr_assert_str_eq(json_string_value(json_object_get(f0, "filename")), "r\xC3\xA9sum\xC3\xA9.pdf");
    cr_assert_eq(json_integer_value(json_object_get(f0, "size")), 20971520);
    cr_assert(json_is_null(json_object_get(f1, "field")));
    cr_assert(json_is_null(json_object_get(f1, "filename")));
    cr_assert(json_is_null(json_object_get(f1, "content_type")));
    cr_assert_eq(json_integer_value(json_object_get(f1, "size")), 5368709120LL);
    cr_assert_str_eq(json_string_value(json_object_get(f1, "sha256")), SHA_ABC);

    json_decref(doc);
    free(s);
    ug_manifest_free(m);
}

/* ---- time ---- */

static void assert_time(time_t sec, long nsec, const char *expected)
{
    char out[32];
    memset(out, 'X', sizeof(out));
    ug_manifest_format_time((struct timespec){.tv_sec = sec, .tv_nsec = nsec}, out);
    cr_assert_eq(out[24], '\0', "not 24 characters for %lld.%09ld", (long long)sec, nsec);
    cr_assert_eq(out[25], 'X', "wrote past 25 bytes");
    cr_assert_str_eq(out, expected, "for %lld.%09ld", (long long)sec, nsec);
}

Test(manifest, time_format)
{
    assert_time(0, 0, "1970-01-01T00:00:00.000Z");
    assert_time(1795633200, 123456789, "2026-11-25T19:00:00.123Z");
    assert_time(1795633200, 1000000, "2026-11-25T19:00:00.001Z");
    assert_time(1795633200, 999999, "2026-11-25T19:00:00.000Z");
    assert_time(1709251199, 999999999, "2024-02-29T23:59:59.999Z"); /* rounds down: never into the next day */
    assert_time(2147483648, 0, "2038-01-19T03:14:08.000Z");
    assert_time(253402300799, 999999999, "9999-12-31T23:59:59.999Z");
}

Test(manifest, time_before_the_epoch_and_out_of_range)
{
    assert_time(-1, 500000000, "1969-12-31T23:59:59.500Z");
    assert_time(-62167219200, 0, "0000-01-01T00:00:00.000Z");
    /* Beyond four-digit years: clamped, never longer than the buffer. */
    assert_time(253402300800, 0, "9999-12-31T23:59:59.999Z");
    assert_time(-62167219201, 0, "0000-01-01T00:00:00.000Z");
}

Test(manifest, time_with_unnormalised_nanoseconds)
{
    assert_time(10, 1500000000, "1970-01-01T00:00:11.500Z");
    assert_time(10, -1, "1970-01-01T00:00:09.999Z");
    /* In range until the nanoseconds carry it out: clamped again after normalising. */
    assert_time(253402300799, 1000000000, "9999-12-31T23:59:59.999Z");
    assert_time(-62167219200, -1, "0000-01-01T00:00:00.000Z");
}
