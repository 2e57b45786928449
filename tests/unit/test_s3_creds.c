/*
 * The S3 credentials file: KEY=VALUE lines with the environment's names, comments, quotes, and an error naming the
 * line for anything else; the environment as the fallback.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/s3_creds.h"

static ug_s3_keys_t parse_ok(const char *text)
{
    ug_s3_keys_t k = {0};
    char why[200] = "";
    cr_assert_eq(ug_s3_keys_parse(text, strlen(text), &k, why, sizeof(why)), 0, "%s", why);
    return k;
}

static void parse_err(const char *text, const char *expected)
{
    ug_s3_keys_t k = {0};
    char why[200] = "";
    cr_assert_eq(ug_s3_keys_parse(text, strlen(text), &k, why, sizeof(why)), -1, "accepted: %s", text);
    cr_assert_str_eq(why, expected);
    cr_assert_null(k.access_key);
}

Test(s3_creds, the_file_format)
{
    ug_s3_keys_t k = parse_ok("# uploadgate's S3 key\n"
                              "\n"
                              "  AWS_ACCESS_KEY_ID = test:tester  \r\n"
                              "AWS_SECRET_ACCESS_KEY=\"se=cret with spaces\"\n"
                              "AWS_SESSION_TOKEN='tok'");
    cr_assert_str_eq(k.access_key, "test:tester", "a colon is part of the key (Swift's tempauth)");
    cr_assert_str_eq(k.secret_key, "se=cret with spaces", "the first '=' splits; quotes are removed");
    cr_assert_str_eq(k.session_token, "tok");
    ug_s3_keys_clear(&k);
    cr_assert_null(k.secret_key);
    k = parse_ok("AWS_SECRET_ACCESS_KEY=s\nAWS_ACCESS_KEY_ID=a\n");
    cr_assert_null(k.session_token, "the session token is optional");
    ug_s3_keys_clear(&k);
}

Test(s3_creds, errors_name_the_line)
{
    parse_err("AWS_ACCESS_KEY_ID=a\naws_secret_access_key=b\n",
              "line 2: unknown key (expected AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN)");
    parse_err("AWS_ACCESS_KEY_ID a\n", "line 1: expected KEY=VALUE");
    parse_err("AWS_ACCESS_KEY_ID=a\nAWS_ACCESS_KEY_ID=b\nAWS_SECRET_ACCESS_KEY=c\n", "line 2: the key is given twice");
    parse_err("AWS_ACCESS_KEY_ID=\nAWS_SECRET_ACCESS_KEY=c\n", "line 1: the value is empty");
    parse_err("AWS_ACCESS_KEY_ID=a\x01\n", "line 1: the value contains a control character");
    parse_err("AWS_ACCESS_KEY_ID=a\n", "AWS_SECRET_ACCESS_KEY is missing");
    parse_err("# nothing\n", "AWS_ACCESS_KEY_ID is missing");
    parse_err("", "AWS_ACCESS_KEY_ID is missing");
}

Test(s3_creds, load_a_file_or_the_environment)
{
    char path[] = "/tmp/ug-creds-XXXXXX", why[300] = "";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("AWS_ACCESS_KEY_ID=file-key\nAWS_SECRET_ACCESS_KEY=file-secret\n", f);
    fclose(f);
    setenv("AWS_ACCESS_KEY_ID", "env-key", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    unsetenv("AWS_SESSION_TOKEN");
    ug_s3_keys_t k = {0};
    cr_assert_eq(ug_s3_keys_load(path, &k, why, sizeof(why)), 0, "%s", why);
    cr_assert_str_eq(k.access_key, "file-key", "the file wins over the environment");
    ug_s3_keys_clear(&k);
    cr_assert_eq(ug_s3_keys_load(NULL, &k, why, sizeof(why)), 0, "%s", why);
    cr_assert_str_eq(k.secret_key, "env-secret");
    cr_assert_null(k.session_token);
    ug_s3_keys_clear(&k);
    unlink(path);
    cr_assert_eq(ug_s3_keys_load(path, &k, why, sizeof(why)), -1);
    char expected[300];
    snprintf(expected, sizeof(expected), "%s: cannot open: No such file or directory", path);
    cr_assert_str_eq(why, expected);
    unsetenv("AWS_SECRET_ACCESS_KEY");
    cr_assert_eq(ug_s3_keys_load(NULL, &k, why, sizeof(why)), -1);
    cr_assert_str_eq(why, "no S3 credentials: set storage.s3.credentials_file, or AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY in the environment");
}
