/*
 * The IETF resumable-upload draft -05 header syntax (resumable/ietf.c): Upload-Complete's strict structured-field
 * boolean, Upload-Limit, and the RFC 9457 problem bodies.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "resumable/ietf.h"

static ug_tus_parse_result_t complete_of(const char *s, int *out)
{
    return ug_ietf_parse_complete(s, strlen(s), out);
}

Test(ietf, complete_true_false)
{
    int v = -1;
    cr_assert_eq(complete_of("?1", &v), UG_TUS_PARSE_OK);
    cr_assert_eq(v, 1);
    cr_assert_eq(complete_of("?0", &v), UG_TUS_PARSE_OK);
    cr_assert_eq(v, 0);
    cr_assert_eq(complete_of(" \t?1 ", &v), UG_TUS_PARSE_OK, "spaces around a field value are not part of it");
    cr_assert_eq(v, 1);
}

Test(ietf, complete_strict)
{
    static const char *bad[] = {"", "?", "1", "0", "true", "?2", "?10", "?1;a=1", "? 1", "?01", "?1,?0", "\"?1\"", "?T"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        int v = 7;
        cr_assert_eq(complete_of(bad[i], &v), UG_TUS_PARSE_INVALID, "\"%s\" is not a strict boolean", bad[i]);
        cr_assert_eq(v, 7, "a refused value leaves the output alone");
    }
}

Test(ietf, complete_not_nul_terminated)
{
    int v = -1;
    cr_assert_eq(ug_ietf_parse_complete("?1?0", 2, &v), UG_TUS_PARSE_OK);
    cr_assert_eq(v, 1);
}

Test(ietf, limit_format)
{
    char out[UG_IETF_FORMAT_MAX];
    size_t n = ug_ietf_format_limit(1073741824, 65536, 86400, out, sizeof(out));
    cr_assert_str_eq(out, "max-size=1073741824, max-append-size=65536, expires=86400");
    cr_assert_eq(n, strlen(out));
    cr_assert_eq(ug_ietf_format_limit(1, 2, 3, out, 10), 0, "a value that does not fit is no value");
}

Test(ietf, problem_mismatch_is_rfc9457_json)
{
    char out[UG_IETF_FORMAT_MAX];
    size_t n = ug_ietf_problem_mismatch(100, 42, out, sizeof(out));
    cr_assert_neq(n, 0);
    json_error_t err;
    json_t *j = json_loadb(out, n, 0, &err);
    cr_assert_not_null(j, "%s", err.text);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")),
                     "https://iana.org/assignments/http-problem-types#mismatching-upload-offset");
    cr_assert_eq(json_integer_value(json_object_get(j, "expected-offset")), 100);
    cr_assert_eq(json_integer_value(json_object_get(j, "provided-offset")), 42);
    cr_assert_not_null(json_object_get(j, "title"));
    json_decref(j);
}

Test(ietf, problem_completed)
{
    char out[UG_IETF_FORMAT_MAX];
    size_t n = ug_ietf_problem_completed(out, sizeof(out));
    json_t *j = json_loadb(out, n, 0, NULL);
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")),
                     "https://iana.org/assignments/http-problem-types#completed-upload");
    json_decref(j);
    cr_assert_eq(ug_ietf_problem_completed(out, 16), 0);
}
