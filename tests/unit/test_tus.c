/*
 * test_tus.c - resumable/tus.c: Upload-Length/Offset numbers, strict base64, Upload-Metadata, Upload-Checksum and
 * the Upload-Expires date.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "resumable/tus.h"

#define S(lit) lit, sizeof(lit) - 1

Test(tus_uint, strict_decimal)
{
    uint64_t v = 7;
    cr_assert_eq(ug_tus_parse_uint(S("0"), &v), UG_TUS_PARSE_OK);
    cr_assert_eq(v, 0);
    cr_assert_eq(ug_tus_parse_uint(S("123456789012345678"), &v), UG_TUS_PARSE_OK);
    cr_assert_eq(v, 123456789012345678ull);
    const char *bad[] = {"", "-1", "+1", " 1", "1 ", "1a", "0x10", "1234567890123456789"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i)
        cr_assert_eq(ug_tus_parse_uint(bad[i], strlen(bad[i]), &v), UG_TUS_PARSE_INVALID, "%s", bad[i]);
}

Test(tus_base64, strict)
{
    unsigned char out[32];
    size_t n;
    cr_assert_eq(ug_tus_base64_decode(S("aGVsbG8="), out, &n), 0);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(out, "hello", 5), 0);
    cr_assert_eq(ug_tus_base64_decode(S(""), out, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(ug_tus_base64_decode(S("+/8="), out, &n), 0);
    cr_assert_eq(n, 2);
    const char *bad[] = {"aGVsbG8", "aGVsbG9=", "aG=sbG8=", "aGVs bG8=", "aGVsbG8-", "a===", "YR==", "=AAA", "aGVs\nbG8="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i)
        cr_assert_eq(ug_tus_base64_decode(bad[i], strlen(bad[i]), out, &n), -1, "%s", bad[i]);
}

Test(tus_metadata, pairs)
{
    ug_tus_metadata_t m;
    const char *why = NULL;
    const char *v = "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==, is_confidential,filetype dGV4dC9wbGFpbg==";
    cr_assert_eq(ug_tus_metadata_parse(v, strlen(v), &m, &why), UG_TUS_PARSE_OK, "%s", why);
    cr_assert_eq(m.n, 3);
    const ug_tus_pair_t *p = ug_tus_metadata_get(&m, "filename");
    cr_assert_not_null(p);
    cr_assert_str_eq(p->value, "world_domination_plan.pdf");
    p = ug_tus_metadata_get(&m, "is_confidential");
    cr_assert_not_null(p);
    cr_assert_eq(p->value_len, 0);
    cr_assert_str_eq(ug_tus_metadata_get(&m, "filetype")->value, "text/plain");
    cr_assert_null(ug_tus_metadata_get(&m, "file"));
    ug_tus_metadata_free(&m);
    cr_assert_eq(ug_tus_metadata_parse(S("  "), &m, &why), UG_TUS_PARSE_OK);
    cr_assert_eq(m.n, 0);
    ug_tus_metadata_free(&m);
    /* a value with a NUL byte stays whole */
    cr_assert_eq(ug_tus_metadata_parse(S("k AGE="), &m, &why), UG_TUS_PARSE_OK);
    cr_assert_eq(m.pairs[0].value_len, 2);
    ug_tus_metadata_free(&m);
}

Test(tus_metadata, refusals)
{
    const char *bad[] = {"a YQ==,a Yg==", "a YQ",     "a Y Q==",     "a YR==", "a YQ==,,b Yg==", "a YQ==,",
                         ",a YQ==",       "a b c",    "k\x01 YQ==",  "k\x80 YQ==", "a YQ== ", };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        ug_tus_metadata_t m;
        const char *why = NULL;
        ug_tus_parse_result_t r = ug_tus_metadata_parse(bad[i], strlen(bad[i]), &m, &why);
        if (i == sizeof(bad) / sizeof(bad[0]) - 1) { /* a trailing space is trimmed: fine */
            cr_assert_eq(r, UG_TUS_PARSE_OK, "%s", bad[i]);
            ug_tus_metadata_free(&m);
            continue;
        }
        cr_assert_eq(r, UG_TUS_PARSE_INVALID, "%s", bad[i]);
        cr_assert_not_null(why);
        cr_assert_eq(m.n, 0);
        cr_assert_null(m.pairs);
    }
}

Test(tus_checksum, algorithms)
{
    ug_tus_checksum_t c;
    const char *why = NULL;
    /* sha1("abc") */
    cr_assert_eq(ug_tus_checksum_parse(S("sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0="), &c, &why), UG_TUS_PARSE_OK, "%s", why);
    cr_assert_eq(c.algorithm, UG_TUS_SHA1);
    cr_assert_eq(c.digest_len, 20);
    cr_assert_eq(c.digest[0], 0xa9);
    cr_assert_eq(ug_tus_checksum_parse(S("md5 kAFQmDzST7DWlj99KOF/cg=="), &c, &why), UG_TUS_PARSE_OK);
    cr_assert_eq(c.algorithm, UG_TUS_MD5);
    cr_assert_eq(ug_tus_checksum_parse(S("sha256 ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="), &c, &why), UG_TUS_PARSE_OK);
    cr_assert_eq(c.algorithm, UG_TUS_SHA256);
    cr_assert_eq(c.digest_len, 32);
    cr_assert_eq(ug_tus_checksum_parse(S("crc32 AAAAAA=="), &c, &why), UG_TUS_PARSE_UNSUPPORTED);
    cr_assert_eq(ug_tus_checksum_parse(S("SHA1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0="), &c, &why), UG_TUS_PARSE_UNSUPPORTED);
    const char *bad[] = {"sha1", "sha1 ", " qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", "sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0",
                         "md5 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", "sha256 " "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=AAAA"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i)
        cr_assert_eq(ug_tus_checksum_parse(bad[i], strlen(bad[i]), &c, &why), UG_TUS_PARSE_INVALID, "%s", bad[i]);
}

Test(tus_date, imf_fixdate)
{
    char d[UG_TUS_DATE_SIZE];
    ug_tus_format_date(784111777, d);
    cr_assert_str_eq(d, "Sun, 06 Nov 1994 08:49:37 GMT");
}
