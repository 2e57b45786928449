/*
 * test_tus_concat.c - resumable/concat.c: the Upload-Concat header (partial, final with its URLs), the id a part's
 * URL names under a route's prefix, and the kind a stored value says.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "resumable/concat.h"

#define S(lit) lit, sizeof(lit) - 1

static int span_is(const ug_tus_span_t *s, const char *lit)
{
    return s->len == strlen(lit) && memcmp(s->p, lit, s->len) == 0;
}

Test(tus_concat, partial)
{
    ug_tus_concat_t c;
    const char *why = NULL;
    cr_assert_eq(ug_tus_concat_parse(S("partial"), &c, &why), UG_TUS_PARSE_OK);
    cr_assert_eq(c.kind, UG_TUS_CONCAT_PARTIAL);
    cr_assert_eq(c.n, 0);
}

Test(tus_concat, final_keeps_the_order_and_spelling)
{
    ug_tus_concat_t c;
    const char *why = NULL;
    cr_assert_eq(ug_tus_concat_parse(S("final;/files/a https://x.example/files/b  /files/c?x=1"), &c, &why), UG_TUS_PARSE_OK);
    cr_assert_eq(c.kind, UG_TUS_CONCAT_FINAL);
    cr_assert_eq(c.n, 3);
    cr_assert(span_is(&c.parts[0], "/files/a"));
    cr_assert(span_is(&c.parts[1], "https://x.example/files/b"));
    cr_assert(span_is(&c.parts[2], "/files/c?x=1"));
}

Test(tus_concat, malformed)
{
    const char *bad[] = {"", "Partial", "partial ", "partial;", "final", "final;", "final; ", "final /a", "FINAL;/a",
                         "final;/a\t/b", "final;/a\x7f", "final;/\xc3\xa9", "whole"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        ug_tus_concat_t c;
        const char *why = NULL;
        cr_assert_eq(ug_tus_concat_parse(bad[i], strlen(bad[i]), &c, &why), UG_TUS_PARSE_INVALID, "%s", bad[i]);
        cr_assert_not_null(why, "%s", bad[i]);
        cr_assert(strstr(why, "Upload-Concat") != NULL, "%s: %s", bad[i], why);
        cr_assert_eq(c.n, 0, "%s", bad[i]);
    }
}

Test(tus_concat, at_most_64_parts)
{
    char buf[1024] = "final;";
    for (int i = 0; i < UG_TUS_CONCAT_MAX; ++i)
        strcat(buf, " /a");
    ug_tus_concat_t c;
    const char *why = NULL;
    cr_assert_eq(ug_tus_concat_parse(buf, strlen(buf), &c, &why), UG_TUS_PARSE_OK);
    cr_assert_eq(c.n, UG_TUS_CONCAT_MAX);
    strcat(buf, " /a");
    cr_assert_eq(ug_tus_concat_parse(buf, strlen(buf), &c, &why), UG_TUS_PARSE_INVALID);
    cr_assert_str_eq(why, "Upload-Concat: too many partial uploads (at most 64)");
}

static int segment(const char *url, const char *prefix, const char *want)
{
    ug_tus_span_t u = {url, strlen(url)}, seg;
    if (ug_tus_concat_segment(&u, prefix, strlen(prefix), &seg) != 0)
        return want == NULL;
    return want != NULL && span_is(&seg, want);
}

Test(tus_concat, segment_under_the_prefix)
{
    cr_assert(segment("/tus/abc", "/tus/", "abc"));
    cr_assert(segment("http://h:8080/tus/abc", "/tus/", "abc"));
    cr_assert(segment("https://h/tus/abc?x=/y#z", "/tus/", "abc"));
    cr_assert(segment("/tus/abc#frag", "/tus/", "abc"));
    cr_assert(segment("/tus/", "/tus/", NULL));
    cr_assert(segment("/tus", "/tus/", NULL));
    cr_assert(segment("/other/abc", "/tus/", NULL));
    cr_assert(segment("/tus/abc/def", "/tus/", NULL));
    cr_assert(segment("https://h", "/tus/", NULL));
    cr_assert(segment("tus/abc", "/tus/", NULL));
    /* "://" inside a path is no scheme */
    cr_assert(segment("/tus/a://b", "/tus/", NULL));
}

Test(tus_concat, stored_kind)
{
    cr_assert_eq(ug_tus_concat_kind_of(""), UG_TUS_CONCAT_NONE);
    cr_assert_eq(ug_tus_concat_kind_of(NULL), UG_TUS_CONCAT_NONE);
    cr_assert_eq(ug_tus_concat_kind_of("partial"), UG_TUS_CONCAT_PARTIAL);
    cr_assert_eq(ug_tus_concat_kind_of("final;/tus/a"), UG_TUS_CONCAT_FINAL);
}
