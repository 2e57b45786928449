/*
 * The CORS policy: origin matching, preflight decisions, the header sets of
 * actual responses, and the config check's messages.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "policy/cors.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define S(s) s, strlen(s)

/* The reference config, plus entries that exercise IPv6, explicit default ports and a wildcard with a port. */
static char *issue_origins[] = {
    "https://app.example.com",        "https://*.example.org",         "http://127.0.0.1:9000",       "http://[::1]:9000",
    "https://secure.example.net:443", "https://*.dev.example.io:8443", "chrome-extension://abcdefgh",
};
static char *issue_methods[] = {"GET", "POST", "PUT"};
static char *issue_headers[] = {"Authorization", "Content-Type", "X-Request-Id"};
static char *issue_expose[] = {"X-Request-Id"};

static ug_cors_config_t issue_config(void)
{
    ug_cors_config_t c = {
        .allow_origins = issue_origins,
        .n_origins = N(issue_origins),
        .allow_methods = issue_methods,
        .n_methods = N(issue_methods),
        .allow_headers = issue_headers,
        .n_headers = N(issue_headers),
        .expose_headers = issue_expose,
        .n_expose = N(issue_expose),
        .allow_credentials = 1,
        .max_age_set = 1,
        .max_age_s = 600,
    };
    return c;
}

static ug_cors_config_t finalized(ug_cors_config_t c)
{
    char msg[UG_CORS_MSG_SIZE];
    const char *err = ug_cors_config_check(&c, msg, sizeof(msg), NULL);
    cr_assert_null(err, "unexpected check failure: %s", err);
    cr_assert_eq(ug_cors_config_finalize(&c), UG_OK);
    return c;
}

/* ---- origin matching ------------------------------------------------------ */

struct origin_case {
    const char *origin;
    size_t len; /* 0: strlen */
    int allowed;
};

Test(cors_origin, table)
{
    static const struct origin_case cases[] = {
        /* exact, case, default ports */
        {"https://app.example.com", 0, 1},
        {"HTTPS://APP.EXAMPLE.COM", 0, 1},
        {"https://App.Example.Com", 0, 1},
        {"https://app.example.com:443", 0, 1},
        {"https://app.example.com:8443", 0, 0},
        {"https://app.example.com:0443", 0, 0},
        {"http://app.example.com", 0, 0},
        {"http://app.example.com:443", 0, 0},
        {"https://app.example.co", 0, 0},
        {"https://evilapp.example.com", 0, 0},
        {"https://app.example.com.evil.net", 0, 0},
        {"https://app.example.com.", 0, 0},
        /* not a serialized origin */
        {"https://app.example.com/", 0, 0},
        {"https://app.example.com/path", 0, 0},
        {"https://app.example.com?x=1", 0, 0},
        {"https://app.example.com#f", 0, 0},
        {"https://user@app.example.com", 0, 0},
        {"https://user:pw@app.example.com", 0, 0},
        {"https://evil.com@app.example.com", 0, 0},
        {"https://app.example.com:", 0, 0},
        {"https://app.example.com https://a.example.org", 0, 0},
        {" https://app.example.com", 0, 0},
        {"https://app.example.com\r\n", 0, 0},
        {"https://app.example.com\0.evil.net", sizeof("https://app.example.com\0.evil.net") - 1, 0},
        {"app.example.com", 0, 0},
        {"//app.example.com", 0, 0},
        {"https:/app.example.com", 0, 0},
        {"https://", 0, 0},
        {"null", 0, 0},
        {"", 0, 0},
        /* wildcard subdomains */
        {"https://a.example.org", 0, 1},
        {"https://a.b.example.org", 0, 1},
        {"https://A.B.C.EXAMPLE.ORG", 0, 1},
        {"https://a_b-c.example.org", 0, 1},
        {"https://xn--bcher-kva.example.org", 0, 1},
        {"https://b\xc3\xbc\x63her.example.org", 0, 0}, /* "bücher" */
        {"https://a.example.org:443", 0, 1},
        {"https://a.example.org:8443", 0, 0},
        {"http://a.example.org", 0, 0},
        {"https://example.org", 0, 0},
        {"https://.example.org", 0, 0},
        {"https://a..example.org", 0, 0},
        {"https://evilexample.org", 0, 0},
        {"https://a.evilexample.org", 0, 0},
        {"https://example.org.evil.com", 0, 0},
        {"https://a.example.org.evil.com", 0, 0},
        {"https://a.example.org.", 0, 0},
        {"https://*.example.org", 0, 0},
        {"https://a.example.org/", 0, 0},
        /* a wildcard with its own port */
        {"https://x.dev.example.io:8443", 0, 1},
        {"https://x.y.dev.example.io:8443", 0, 1},
        {"https://x.dev.example.io", 0, 0},
        {"https://dev.example.io:8443", 0, 0},
        /* an explicit default port in the pattern */
        {"https://secure.example.net", 0, 1},
        {"https://secure.example.net:443", 0, 1},
        /* IPv4 and IPv6 */
        {"http://127.0.0.1:9000", 0, 1},
        {"http://127.0.0.1", 0, 0},
        {"http://127.0.0.1:90000", 0, 0},
        {"http://127.0.0.1:09000", 0, 0},
        {"https://127.0.0.1:9000", 0, 0},
        {"http://[::1]:9000", 0, 1},
        {"http://[0:0:0:0:0:0:0:1]:9000", 0, 1},
        {"http://[::2]:9000", 0, 0},
        {"http://[::1]", 0, 0},
        {"http://[::1]:9000:1", 0, 0},
        {"http://[::1%25eth0]:9000", 0, 0},
        {"http://[::1:9000", 0, 0},
        {"http://::1:9000", 0, 0},
        {"http://[]:9000", 0, 0},
        /* another scheme: no default port */
        {"chrome-extension://abcdefgh", 0, 1},
        {"CHROME-EXTENSION://ABCDEFGH", 0, 1},
        {"chrome-extension://abcdefgh:443", 0, 0},
    };
    ug_cors_config_t c = issue_config();
    cr_assert_geq(N(cases), 30);
    for (size_t i = 0; i < N(cases); i++) {
        size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].origin);
        cr_expect_eq(ug_cors_origin_allowed(&c, cases[i].origin, len), cases[i].allowed, "origin \"%s\": expected %s",
                     cases[i].origin, cases[i].allowed ? "allowed" : "refused");
    }
    cr_expect_eq(ug_cors_origin_allowed(&c, NULL, 0), 0);
}

Test(cors_origin, length_is_honoured)
{
    /* Not NUL-terminated: only the first len bytes count. */
    const char buf[] = "https://app.example.comX";
    ug_cors_config_t c = issue_config();
    cr_expect_eq(ug_cors_origin_allowed(&c, buf, strlen(buf) - 1), 1);
    cr_expect_eq(ug_cors_origin_allowed(&c, buf, strlen(buf)), 0);
    cr_expect_eq(ug_cors_origin_allowed(&c, buf, 8), 0);
}

Test(cors_origin, star_without_credentials_allows_well_formed_origins_only)
{
    char *origins[] = {"*"};
    ug_cors_config_t c = {.allow_origins = origins, .n_origins = 1};
    cr_expect_eq(ug_cors_origin_allowed(&c, S("https://anything.example")), 1);
    cr_expect_eq(ug_cors_origin_allowed(&c, S("http://[::1]:1")), 1);
    cr_expect_eq(ug_cors_origin_allowed(&c, S("null")), 0);
    cr_expect_eq(ug_cors_origin_allowed(&c, S("https://a.com/x")), 0);
    cr_expect_eq(ug_cors_origin_allowed(&c, S("")), 0);
}

Test(cors_origin, star_with_credentials_fails_closed)
{
    char *origins[] = {"*", "https://app.example.com"};
    ug_cors_config_t c = {.allow_origins = origins, .n_origins = 2, .allow_credentials = 1};
    cr_expect_eq(ug_cors_origin_allowed(&c, S("https://evil.example")), 0);
    cr_expect_eq(ug_cors_origin_allowed(&c, S("https://app.example.com")), 1);
}

Test(cors_origin, entries_the_check_refuses_never_match)
{
    char *origins[] = {"https://*.com", "https://*", "null", "https://a.com/", "*.example.com", "https://*.0.0.1"};
    ug_cors_config_t c = {.allow_origins = origins, .n_origins = N(origins)};
    cr_expect_eq(ug_cors_origin_allowed(&c, S("https://evil.com")), 0);
    cr_expect_eq(ug_cors_origin_allowed(&c, S("https://x.evil.com")), 0);
    cr_expect_eq(ug_cors_origin_allowed(&c, S("null")), 0);
    cr_expect_eq(ug_cors_origin_allowed(&c, S("https://a.com")), 0);
    cr_expect_eq(ug_cors_origin_allowed(&c, S("https://a.example.com")), 0);
    cr_expect_eq(ug_cors_origin_allowed(&c, S("https://1.0.0.1")), 0);
}

Test(cors_origin, localhost_wildcard)
{
    char *origins[] = {"http://*.localhost:3000"};
    ug_cors_config_t c = {.allow_origins = origins, .n_origins = 1};
    cr_expect_eq(ug_cors_origin_allowed(&c, S("http://app.localhost:3000")), 1);
    cr_expect_eq(ug_cors_origin_allowed(&c, S("http://localhost:3000")), 0);
    cr_expect_eq(ug_cors_origin_allowed(&c, S("http://app.localhost")), 0);
    cr_expect_eq(ug_cors_origin_allowed(&c, S("http://app.localhost.evil.com:3000")), 0);
}

/* ---- header sets ---------------------------------------------------------- */

struct hdr {
    const char *name, *value;
};

static void assert_headers(const ug_cors_headers_t *got, const struct hdr *want, size_t n)
{
    for (size_t i = 0; i < got->n && i < n; i++) {
        const ug_cors_header_t *h = &got->h[i];
        cr_expect(h->name_len == strlen(want[i].name) && memcmp(h->name, want[i].name, h->name_len) == 0,
                  "header %zu: name \"%.*s\", expected \"%s\"", i, (int)h->name_len, h->name, want[i].name);
        cr_expect(h->value_len == strlen(want[i].value) && memcmp(h->value, want[i].value, h->value_len) == 0,
                  "header %zu (%s): value \"%.*s\", expected \"%s\"", i, want[i].name, (int)h->value_len, h->value, want[i].value);
    }
    cr_assert_eq(got->n, n, "%zu headers, expected %zu", got->n, n);
}

#define VARY_PREFLIGHT "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

static ug_cors_request_t preflight_req(const char *origin, const char *method, const char *headers)
{
    ug_cors_request_t r = {
        .method = "OPTIONS",
        .method_len = 7,
        .origin = origin,
        .origin_len = origin != NULL ? strlen(origin) : 0,
        .acr_method = method,
        .acr_method_len = method != NULL ? strlen(method) : 0,
        .acr_headers = headers,
        .acr_headers_len = headers != NULL ? strlen(headers) : 0,
    };
    return r;
}

static ug_cors_preflight_t preflight(const ug_cors_config_t *c, const char *origin, const char *method, const char *headers,
                                     ug_cors_headers_t *out)
{
    ug_cors_request_t r = preflight_req(origin, method, headers);
    return ug_cors_preflight(c, &r, out);
}

static void assert_refused(const ug_cors_config_t *c, const char *origin, const char *method, const char *headers)
{
    static const struct hdr want[] = {{"vary", VARY_PREFLIGHT}};
    ug_cors_headers_t out;
    cr_expect_eq(preflight(c, origin, method, headers, &out), UG_CORS_PREFLIGHT_REFUSED,
                 "origin %s method %s headers %s: not refused", origin, method, headers ? headers : "(none)");
    assert_headers(&out, want, N(want));
}

/* ---- preflight ------------------------------------------------------------ */

Test(cors_preflight, allowed_with_credentials_reflects_origin)
{
    static const struct hdr want[] = {
        {"access-control-allow-origin", "https://a.b.example.org"},
        {"access-control-allow-credentials", "true"},
        {"access-control-allow-methods", "GET, POST, PUT"},
        {"access-control-allow-headers", "Authorization, Content-Type, X-Request-Id"},
        {"access-control-max-age", "600"},
        {"vary", VARY_PREFLIGHT},
    };
    ug_cors_config_t c = finalized(issue_config());
    ug_cors_headers_t out;
    cr_assert_eq(preflight(&c, "https://a.b.example.org", "PUT", "authorization,content-type", &out), UG_CORS_PREFLIGHT_OK);
    assert_headers(&out, want, N(want));
    /* The value is the request's own bytes, which the browser compares with its origin. */
    cr_expect_eq(preflight(&c, "https://app.example.com", "POST", NULL, &out), UG_CORS_PREFLIGHT_OK);
    cr_expect_eq(out.h[0].value_len, strlen("https://app.example.com"));
    cr_expect_eq(memcmp(out.h[0].value, "https://app.example.com", out.h[0].value_len), 0);
    ug_cors_config_dispose(&c);
}

Test(cors_preflight, header_names_are_case_insensitive_and_lists_tolerant)
{
    ug_cors_config_t c = finalized(issue_config());
    ug_cors_headers_t out;
    cr_expect_eq(preflight(&c, "https://app.example.com", "POST", "AUTHORIZATION , content-type,X-REQUEST-ID", &out),
                 UG_CORS_PREFLIGHT_OK);
    cr_expect_eq(preflight(&c, "https://app.example.com", "POST", "x-request-id", &out), UG_CORS_PREFLIGHT_OK);
    cr_expect_eq(preflight(&c, "https://app.example.com", "POST", " ,\t, authorization,,", &out), UG_CORS_PREFLIGHT_OK);
    cr_expect_eq(preflight(&c, "https://app.example.com", "POST", "", &out), UG_CORS_PREFLIGHT_OK);
    ug_cors_config_dispose(&c);
}

Test(cors_preflight, refusals_carry_no_cors_headers)
{
    ug_cors_config_t c = finalized(issue_config());
    assert_refused(&c, "https://evil.example", "POST", NULL);                       /* origin */
    assert_refused(&c, "https://example.org.evil.com", "POST", NULL);               /* suffix attack */
    assert_refused(&c, "null", "POST", NULL);                                       /* opaque origin */
    assert_refused(&c, "", "POST", NULL);                                           /* empty Origin */
    assert_refused(&c, "https://app.example.com", "DELETE", NULL);                  /* method */
    assert_refused(&c, "https://app.example.com", "put", NULL);                     /* methods are case-sensitive */
    assert_refused(&c, "https://app.example.com", "", NULL);                        /* empty method */
    assert_refused(&c, "https://app.example.com", "PUT", "x-other");                /* header */
    assert_refused(&c, "https://app.example.com", "PUT", "authorization, x-other"); /* one of several */
    assert_refused(&c, "https://app.example.com", "PUT", "authori zation");         /* not a token */
    assert_refused(&c, "https://app.example.com", "PUT", "authorization;");         /* not a token */
    ug_cors_config_dispose(&c);
}

Test(cors_preflight, safelisted_names_still_need_listing)
{
    /* A browser names content-type only when its value is not safelisted (e.g. application/json). */
    char *origins[] = {"https://app.example.com"};
    char *headers[] = {"Authorization"};
    ug_cors_config_t c =
        finalized((ug_cors_config_t){.allow_origins = origins, .n_origins = 1, .allow_headers = headers, .n_headers = 1});
    assert_refused(&c, "https://app.example.com", "POST", "content-type");
    assert_refused(&c, "https://app.example.com", "POST", "accept");
    ug_cors_headers_t out;
    cr_expect_eq(preflight(&c, "https://app.example.com", "POST", "authorization", &out), UG_CORS_PREFLIGHT_OK);
    ug_cors_config_dispose(&c);
}

Test(cors_preflight, star_without_credentials_says_star)
{
    static const struct hdr want[] = {
        {"access-control-allow-origin", "*"},
        {"access-control-allow-methods", "PATCH"},
        {"vary", VARY_PREFLIGHT},
    };
    char *origins[] = {"*"};
    char *methods[] = {"PATCH"};
    ug_cors_config_t c =
        finalized((ug_cors_config_t){.allow_origins = origins, .n_origins = 1, .allow_methods = methods, .n_methods = 1});
    ug_cors_headers_t out;
    cr_assert_eq(preflight(&c, "https://anyone.example", "PATCH", NULL, &out), UG_CORS_PREFLIGHT_OK);
    assert_headers(&out, want, N(want));
    assert_refused(&c, "null", "PATCH", NULL);
    ug_cors_config_dispose(&c);
}

Test(cors_preflight, star_with_credentials_never_says_star)
{
    /* A config that skipped the check: "*" is ignored, the listed origin is reflected. */
    static const struct hdr want[] = {
        {"access-control-allow-origin", "https://app.example.com"},
        {"access-control-allow-credentials", "true"},
        {"access-control-allow-methods", "GET, HEAD, POST"},
        {"vary", VARY_PREFLIGHT},
    };
    char *origins[] = {"*", "https://app.example.com"};
    ug_cors_config_t c = {.allow_origins = origins, .n_origins = 2, .allow_credentials = 1};
    cr_assert_eq(ug_cors_config_finalize(&c), UG_OK);
    ug_cors_headers_t out;
    cr_assert_eq(preflight(&c, "https://app.example.com", "GET", NULL, &out), UG_CORS_PREFLIGHT_OK);
    assert_headers(&out, want, N(want));
    assert_refused(&c, "https://evil.example", "GET", NULL);
    ug_cors_config_dispose(&c);
}

Test(cors_preflight, defaults_methods_and_optional_headers)
{
    static const struct hdr want[] = {
        {"access-control-allow-origin", "https://app.example.com"},
        {"access-control-allow-methods", "GET, HEAD, POST"},
        {"access-control-max-age", "0"},
        {"vary", VARY_PREFLIGHT},
    };
    char *origins[] = {"https://app.example.com"};
    ug_cors_config_t c = finalized((ug_cors_config_t){.allow_origins = origins, .n_origins = 1, .max_age_set = 1, .max_age_s = 0});
    ug_cors_headers_t out;
    cr_assert_eq(preflight(&c, "https://app.example.com", "HEAD", NULL, &out), UG_CORS_PREFLIGHT_OK);
    assert_headers(&out, want, N(want));
    assert_refused(&c, "https://app.example.com", "PUT", NULL);
    assert_refused(&c, "https://app.example.com", "GET", "authorization");
    ug_cors_config_dispose(&c);
}

Test(cors_preflight, not_a_preflight)
{
    ug_cors_config_t c = finalized(issue_config());
    ug_cors_headers_t out;
    ug_cors_request_t r = preflight_req("https://app.example.com", "PUT", NULL);
    r.method = "GET";
    r.method_len = 3;
    out.n = 99;
    cr_expect_eq(ug_cors_preflight(&c, &r, &out), UG_CORS_NOT_PREFLIGHT);
    cr_expect_eq(out.n, 0);
    r.method = "options"; /* methods are case-sensitive; "options" is not OPTIONS */
    r.method_len = 7;
    cr_expect_eq(ug_cors_preflight(&c, &r, &out), UG_CORS_NOT_PREFLIGHT);
    r = preflight_req("https://app.example.com", NULL, "authorization");
    cr_expect_eq(ug_cors_preflight(&c, &r, &out), UG_CORS_NOT_PREFLIGHT);
    r = preflight_req(NULL, "PUT", NULL);
    cr_expect_eq(ug_cors_preflight(&c, &r, &out), UG_CORS_NOT_PREFLIGHT);
    cr_expect_eq(out.n, 0);
    ug_cors_config_dispose(&c);
}

Test(cors_preflight, unfinalized_config_refuses)
{
    ug_cors_config_t c = issue_config();
    assert_refused(&c, "https://app.example.com", "PUT", NULL);
}

/* ---- actual responses ----------------------------------------------------- */

Test(cors_actual, allowed_with_credentials_and_expose)
{
    static const struct hdr want[] = {
        {"access-control-allow-origin", "https://x.example.org"},
        {"access-control-allow-credentials", "true"},
        {"access-control-expose-headers", "X-Request-Id"},
        {"vary", "Origin"},
    };
    ug_cors_config_t c = finalized(issue_config());
    ug_cors_headers_t out;
    ug_cors_actual(&c, S("https://x.example.org"), &out);
    assert_headers(&out, want, N(want));
    ug_cors_config_dispose(&c);
}

Test(cors_actual, no_or_disallowed_origin_gets_vary_only)
{
    static const struct hdr want[] = {{"vary", "Origin"}};
    ug_cors_config_t c = finalized(issue_config());
    ug_cors_headers_t out;
    ug_cors_actual(&c, NULL, 0, &out);
    assert_headers(&out, want, N(want));
    ug_cors_actual(&c, S("https://evilexample.org"), &out);
    assert_headers(&out, want, N(want));
    ug_cors_actual(&c, S("null"), &out);
    assert_headers(&out, want, N(want));
    ug_cors_actual(&c, S("https://app.example.com/"), &out);
    assert_headers(&out, want, N(want));
    ug_cors_config_dispose(&c);
    /* not finalized */
    c = issue_config();
    ug_cors_actual(&c, S("https://app.example.com"), &out);
    assert_headers(&out, want, N(want));
}

Test(cors_actual, star_without_credentials)
{
    static const struct hdr want[] = {{"access-control-allow-origin", "*"}, {"vary", "Origin"}};
    static const struct hdr vary_only[] = {{"vary", "Origin"}};
    char *origins[] = {"https://app.example.com", "*"};
    ug_cors_config_t c = finalized((ug_cors_config_t){.allow_origins = origins, .n_origins = 2});
    ug_cors_headers_t out;
    ug_cors_actual(&c, S("https://app.example.com"), &out);
    assert_headers(&out, want, N(want));
    ug_cors_actual(&c, S("https://other.example"), &out);
    assert_headers(&out, want, N(want));
    ug_cors_actual(&c, S("null"), &out);
    assert_headers(&out, vary_only, N(vary_only));
    ug_cors_config_dispose(&c);
}

Test(cors_actual, wildcard_pattern_with_credentials_reflects)
{
    static const struct hdr want[] = {
        {"access-control-allow-origin", "https://deep.er.example.org"},
        {"access-control-allow-credentials", "true"},
        {"vary", "Origin"},
    };
    char *origins[] = {"https://*.example.org"};
    ug_cors_config_t c = finalized((ug_cors_config_t){.allow_origins = origins, .n_origins = 1, .allow_credentials = 1});
    ug_cors_headers_t out;
    ug_cors_actual(&c, S("https://deep.er.example.org"), &out);
    assert_headers(&out, want, N(want));
    ug_cors_config_dispose(&c);
}

/* ---- config check --------------------------------------------------------- */

static void expect_origin_error(const char *entry, const char *message)
{
    char *origins[] = {"https://ok.example.com", (char *)entry};
    ug_cors_config_t c = {.allow_origins = origins, .n_origins = 2};
    char buf[UG_CORS_MSG_SIZE];
    ug_cors_where_t where;
    const char *got = ug_cors_config_check(&c, buf, sizeof(buf), &where);
    cr_assert_not_null(got, "entry \"%s\" was accepted", entry);
    cr_expect_str_eq(got, message);
    cr_expect_eq(where.field, UG_CORS_FIELD_ALLOW_ORIGINS, "entry \"%s\"", entry);
    cr_expect_eq(where.index, 1, "entry \"%s\"", entry);
}

Test(cors_check, credentials_with_star)
{
    char *origins[] = {"https://app.example.com", "*"};
    ug_cors_config_t c = {.allow_origins = origins, .n_origins = 2, .allow_credentials = 1};
    char buf[UG_CORS_MSG_SIZE];
    ug_cors_where_t where;
    cr_assert_str_eq(ug_cors_config_check(&c, buf, sizeof(buf), &where),
                     "cors: allow_origins \"*\" cannot be combined with allow_credentials: true; list the origins");
    cr_expect_eq(where.field, UG_CORS_FIELD_ALLOW_ORIGINS);
    cr_expect_eq(where.index, 1);
    c.allow_credentials = 0;
    cr_expect_null(ug_cors_config_check(&c, buf, sizeof(buf), &where));
    cr_expect_eq(where.field, UG_CORS_FIELD_NONE);
}

Test(cors_check, empty_origins)
{
    ug_cors_config_t c = {0};
    char buf[UG_CORS_MSG_SIZE];
    ug_cors_where_t where;
    cr_assert_str_eq(ug_cors_config_check(&c, buf, sizeof(buf), &where), "cors: allow_origins must list at least one origin");
    cr_expect_eq(where.field, UG_CORS_FIELD_ALLOW_ORIGINS);
    cr_expect_eq(where.index, UG_CORS_WHOLE_LIST);
}

Test(cors_check, origin_entries)
{
    expect_origin_error("null", "cors: allow_origins \"null\" is not allowed: every opaque origin (sandboxed iframes, file: URLs, "
                                "redirects) sends \"null\"");
    expect_origin_error("https://*",
                        "cors: allow_origins \"https://*\" is too broad: a wildcard needs a domain of at least two labels "
                        "after \"*.\", as in \"https://*.example.com\"");
    expect_origin_error("https://*.com",
                        "cors: allow_origins \"https://*.com\" is too broad: a wildcard needs a domain of at least two "
                        "labels after \"*.\", as in \"https://*.example.com\"");
    expect_origin_error("http://*.", "cors: allow_origins \"http://*.\" is too broad: a wildcard needs a domain of at least two "
                                     "labels after \"*.\", as in \"https://*.example.com\"");
    expect_origin_error("https://*.0.0.1",
                        "cors: allow_origins \"https://*.0.0.1\" must have a domain name after \"*.\", not an IP address");
    expect_origin_error("https://a.*.com",
                        "cors: allow_origins \"https://a.*.com\" has \"*\" in the wrong place: it must be the whole "
                        "entry or the first label of the host, as in \"https://*.example.com\"");
    expect_origin_error("https://*example.com",
                        "cors: allow_origins \"https://*example.com\" has \"*\" in the wrong place: it must be the "
                        "whole entry or the first label of the host, as in \"https://*.example.com\"");
    expect_origin_error("*.example.com",
                        "cors: allow_origins \"*.example.com\" is not an origin (expected scheme://host[:port], e.g. "
                        "\"https://app.example.com\")");
    expect_origin_error("https://a.com/",
                        "cors: allow_origins \"https://a.com/\" must not have a path, query or fragment (an origin is "
                        "scheme://host[:port], without a trailing \"/\")");
    expect_origin_error("https://*.a.com/x?y=1",
                        "cors: allow_origins \"https://*.a.com/x?y=1\" must not have a path, query or fragment (an "
                        "origin is scheme://host[:port], without a trailing \"/\")");
    expect_origin_error("https://u@a.com", "cors: allow_origins \"https://u@a.com\" must not contain user info (\"user@\")");
    expect_origin_error("https://a.com:0",
                        "cors: allow_origins \"https://a.com:0\" has an invalid port (1 to 65535, no leading zeros)");
    expect_origin_error("https://a.com:65536",
                        "cors: allow_origins \"https://a.com:65536\" has an invalid port (1 to 65535, no leading zeros)");
    expect_origin_error("https://a.com.",
                        "cors: allow_origins \"https://a.com.\" ends in \".\", which browsers treat as a different "
                        "origin; write the host without it");
    expect_origin_error("https://a b.com",
                        "cors: allow_origins \"https://a b.com\" contains spaces, control or non-ASCII characters (write "
                        "internationalized names in punycode)");
    expect_origin_error("https://a\".com", "cors: allow_origins \"https://a\\\".com\" has an invalid host");
    expect_origin_error("http://[::g]:80", "cors: allow_origins \"http://[::g]:80\" has an invalid host");
    expect_origin_error("", "cors: allow_origins \"\" is empty");
}

Test(cors_check, good_entries)
{
    char *origins[] = {"https://app.example.com",
                       "http://*.example.com",
                       "http://*.localhost:3000",
                       "http://[::1]:9000",
                       "https://a.com:443",
                       "http://127.0.0.1:9000",
                       "*",
                       "https://*.a.b.example.com:8443"};
    char *methods[] = {"GET", "PATCH", "PROPFIND"};
    char *headers[] = {"authorization", "X-Request-Id"};
    ug_cors_config_t c = {.allow_origins = origins,
                          .n_origins = N(origins),
                          .allow_methods = methods,
                          .n_methods = N(methods),
                          .allow_headers = headers,
                          .n_headers = N(headers),
                          .expose_headers = headers,
                          .n_expose = N(headers)};
    char buf[UG_CORS_MSG_SIZE];
    const char *err = ug_cors_config_check(&c, buf, sizeof(buf), NULL);
    cr_expect_null(err, "%s", err);
}

Test(cors_check, methods_and_headers)
{
    char *origins[] = {"https://app.example.com"};
    char *list[1];
    ug_cors_config_t c = {.allow_origins = origins, .n_origins = 1};
    char buf[UG_CORS_MSG_SIZE];
    ug_cors_where_t where;
    static const struct {
        ug_cors_field_t field;
        const char *entry, *message;
    } cases[] = {
        {UG_CORS_FIELD_ALLOW_METHODS, "get",
         "cors: allow_methods \"get\" must be upper-case: methods are case-sensitive and browsers send them upper-case"},
        {UG_CORS_FIELD_ALLOW_METHODS, "*", "cors: allow_methods \"*\" is not supported; list the methods"},
        {UG_CORS_FIELD_ALLOW_METHODS, "GE T", "cors: allow_methods \"GE T\" is not a method name (an HTTP token)"},
        {UG_CORS_FIELD_ALLOW_METHODS, "", "cors: allow_methods \"\" is not a method name (an HTTP token)"},
        {UG_CORS_FIELD_ALLOW_HEADERS, "*", "cors: allow_headers \"*\" is not supported; list the headers"},
        {UG_CORS_FIELD_ALLOW_HEADERS, "X Bad", "cors: allow_headers \"X Bad\" is not a header name (an HTTP token)"},
        {UG_CORS_FIELD_ALLOW_HEADERS, "X-Bad:", "cors: allow_headers \"X-Bad:\" is not a header name (an HTTP token)"},
        {UG_CORS_FIELD_EXPOSE_HEADERS, "*", "cors: expose_headers \"*\" is not supported; list the headers"},
        {UG_CORS_FIELD_EXPOSE_HEADERS, "X-\x01", "cors: expose_headers \"X-\\x01\" is not a header name (an HTTP token)"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        c.allow_methods = c.allow_headers = c.expose_headers = NULL;
        c.n_methods = c.n_headers = c.n_expose = 0;
        list[0] = (char *)cases[i].entry;
        switch (cases[i].field) {
        case UG_CORS_FIELD_ALLOW_METHODS:
            c.allow_methods = list;
            c.n_methods = 1;
            break;
        case UG_CORS_FIELD_ALLOW_HEADERS:
            c.allow_headers = list;
            c.n_headers = 1;
            break;
        default:
            c.expose_headers = list;
            c.n_expose = 1;
            break;
        }
        const char *got = ug_cors_config_check(&c, buf, sizeof(buf), &where);
        cr_assert_not_null(got, "entry \"%s\" accepted", cases[i].entry);
        cr_expect_str_eq(got, cases[i].message);
        cr_expect_eq(where.field, cases[i].field);
        cr_expect_eq(where.index, 0);
    }
}

Test(cors_check, long_entries_are_cut_and_buffer_respected)
{
    char entry[300];
    memset(entry, 'a', sizeof(entry) - 1);
    memcpy(entry, "https://", 8);
    entry[sizeof(entry) - 2] = '/';
    entry[sizeof(entry) - 1] = '\0';
    char *origins[] = {entry};
    ug_cors_config_t c = {.allow_origins = origins, .n_origins = 1};
    char buf[UG_CORS_MSG_SIZE];
    const char *got = ug_cors_config_check(&c, buf, sizeof(buf), NULL);
    cr_assert_not_null(got);
    cr_expect(strstr(got, "aaa...\" must not have a path") != NULL, "%s", got);
    cr_expect_lt(strlen(got), sizeof(buf) - 1);
    char tiny[12];
    cr_assert_eq(ug_cors_config_check(&c, tiny, sizeof(tiny), NULL), tiny);
    cr_expect_str_eq(tiny, "cors: allow");
}

Test(cors_check, finalize_twice_and_dispose_zeroed)
{
    ug_cors_config_t c = issue_config();
    cr_assert_eq(ug_cors_config_finalize(&c), UG_OK);
    cr_assert_eq(ug_cors_config_finalize(&c), UG_OK); /* re-renders without leaking (ASan build) */
    cr_expect_str_eq(c.rendered.allow_methods, "GET, POST, PUT");
    cr_expect_str_eq(c.rendered.allow_headers, "Authorization, Content-Type, X-Request-Id");
    cr_expect_str_eq(c.rendered.expose_headers, "X-Request-Id");
    ug_cors_config_dispose(&c);
    cr_expect_null(c.rendered.allow_methods);
    cr_expect_eq(c.rendered.ready, 0);
    ug_cors_config_t z = {0};
    ug_cors_config_dispose(&z);
}

Test(cors, own_fields_are_access_control_fields_in_any_case)
{
    cr_assert(ug_cors_is_own_field("Access-Control-Allow-Origin", 27));
    cr_assert(ug_cors_is_own_field("access-control-x", 16));
    cr_assert_not(ug_cors_is_own_field("access-control-", 15), "the prefix alone names no field");
    cr_assert_not(ug_cors_is_own_field("vary", 4));
    cr_assert_not(ug_cors_is_own_field("x-access-control-allow-origin", 29));
}
