/*
 * X-Uploadgate-Signature: the value is checked against an HMAC computed here
 * independently with OpenSSL's one-shot HMAC over "<t>.<body>".
 */
#include <criterion/criterion.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/signature.h"

static void reference(const char *key, const char *msg, char *hex_out)
{
    unsigned char md[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, strlen(msg), md, &len);
    cr_assert_eq(len, 32);
    for (int i = 0; i < 32; ++i)
        sprintf(hex_out + 2 * i, "%02x", md[i]);
}

Test(signature, matches_independent_hmac)
{
    const char *body = "{\"version\":1,\"id\":\"abc\"}";
    char out[UG_SIGNATURE_MAX], hex[65], expected[UG_SIGNATURE_MAX];
    cr_assert_eq(ug_signature_render((const unsigned char *)"s3cret", 6, 1764097200, body, strlen(body), out), 0);
    reference("s3cret", "1764097200.{\"version\":1,\"id\":\"abc\"}", hex);
    snprintf(expected, sizeof(expected), "t=1764097200,v1=%s", hex);
    cr_assert_str_eq(out, expected);
}

Test(signature, body_and_time_change_the_mac)
{
    char a[UG_SIGNATURE_MAX], b[UG_SIGNATURE_MAX], c[UG_SIGNATURE_MAX];
    cr_assert_eq(ug_signature_render((const unsigned char *)"k", 1, 100, "x", 1, a), 0);
    cr_assert_eq(ug_signature_render((const unsigned char *)"k", 1, 100, "y", 1, b), 0);
    cr_assert_eq(ug_signature_render((const unsigned char *)"k", 1, 101, "x", 1, c), 0);
    cr_assert_str_neq(strchr(a, ','), strchr(b, ','));
    cr_assert_str_neq(strchr(a, ','), strchr(c, ','));
}

static char *write_tmp(const char *content, size_t len)
{
    static char path[64];
    strcpy(path, "/tmp/ug-test-key-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_neq(fd, -1);
    cr_assert_eq(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

Test(signature, key_file_trailing_newline_is_stripped)
{
    char *path = write_tmp("topsecret\r\n", 11);
    unsigned char *key = NULL;
    size_t len = 0;
    char err[256];
    cr_assert_eq(ug_signature_load_key(path, &key, &len, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(len, 9);
    cr_assert_arr_eq(key, "topsecret", 9);
    free(key);
    unlink(path);
}

Test(signature, empty_or_missing_key_file_is_an_error)
{
    char *path = write_tmp("\n", 1);
    unsigned char *key = NULL;
    size_t len = 0;
    char err[256];
    cr_assert_eq(ug_signature_load_key(path, &key, &len, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "the key is empty"), "%s", err);
    unlink(path);
    cr_assert_eq(ug_signature_load_key("/nonexistent/key", &key, &len, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "/nonexistent/key: No such file or directory");
}
