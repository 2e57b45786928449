/*
 * The edge decision from a request head: CORS preflight first (never
 * authenticated), then bearer auth on routes that ask for it.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "exchange/gate.h"

static ug_config_t *config;
static ug_auth_checker_t *checker;

static void setup(void)
{
    static const char yaml[] = "backend: {url: http://127.0.0.1:8000}\n"
                               "storage: {dir: /tmp}\n"
                               "cors: {allow_origins: [\"https://app.example.com\"], allow_methods: [POST],"
                               " allow_headers: [Authorization]}\n"
                               "routes:\n"
                               "  - path: /upload\n"
                               "    auth: {tokens_env: UG_TEST_GATE_TOKENS}\n"
                               "  - path: /open\n";
    char err[512];
    setenv("UG_TEST_GATE_TOKENS", "good-token,other-token", 1);
    cr_assert_eq(ug_config_load_string("g.yaml", yaml, strlen(yaml), &config, err, sizeof(err)), UG_OK, "%s", err);
    checker = ug_auth_checker_new(config->routes[0].auth, 1000, err, sizeof(err));
    cr_assert_not_null(checker, "%s", err);
}

static void teardown(void)
{
    ug_auth_checker_free(checker);
    ug_config_free(config);
}

TestSuite(gate, .init = setup, .fini = teardown);

#define S(x) x, sizeof(x) - 1

static ug_gate_request_t req(const char *method, const char *authorization)
{
    ug_gate_request_t r = {.method = method, .method_len = strlen(method)};
    if (authorization != NULL) {
        r.authorization = authorization;
        r.authorization_len = strlen(authorization);
        r.authorization_count = 1;
    }
    return r;
}

/* A CORS preflight for POST from `origin`. */
static ug_gate_request_t preflight(const char *origin)
{
    ug_gate_request_t r = req("OPTIONS", NULL);
    r.origin = origin;
    r.origin_len = strlen(origin);
    r.acr_method = "POST";
    r.acr_method_len = 4;
    return r;
}

/* Decide `r` for `route` and check the action; the caller checks the rest, then clears *d. */
static void decide(const ug_route_t *route, ug_auth_checker_t *c, const ug_gate_request_t *r, ug_gate_action_t action,
                   ug_gate_decision_t *d)
{
    ug_gate_decide(config, route, c, r, 1000, d);
    cr_assert_eq(d->action, action, "action %d, expected %d", d->action, action);
}

/* The value of the CORS header `name` of the decision (malloc'd), NULL when it has none. */
static char *header(const ug_gate_decision_t *d, const char *name)
{
    for (size_t i = 0; i < d->cors.n; ++i)
        if (strlen(name) == d->cors.h[i].name_len && memcmp(d->cors.h[i].name, name, d->cors.h[i].name_len) == 0)
            return strndup(d->cors.h[i].value, d->cors.h[i].value_len);
    return NULL;
}

static void assert_cors_header(const ug_gate_decision_t *d, const char *name, const char *want)
{
    char *v = header(d, name);
    cr_assert_not_null(v, "no %s header", name);
    cr_assert_str_eq(v, want, "%s", name);
    free(v);
}

Test(gate, preflight_is_answered_without_credentials)
{
    ug_gate_request_t r = preflight("https://app.example.com");
    r.acr_headers = "authorization";
    r.acr_headers_len = 13;
    ug_gate_decision_t d = {0};
    decide(&config->routes[0], checker, &r, UG_GATE_PREFLIGHT_OK, &d);
    assert_cors_header(&d, "access-control-allow-origin", "https://app.example.com");
    ug_gate_decision_clear(&d);
}

Test(gate, preflight_from_another_origin_is_refused_bare)
{
    ug_gate_request_t r = preflight("https://evil.example.net");
    ug_gate_decision_t d = {0};
    decide(&config->routes[0], checker, &r, UG_GATE_PREFLIGHT_REFUSED, &d);
    cr_assert_eq(d.cors.n, 1, "a refused preflight gets Vary and nothing else");
    assert_cors_header(&d, "vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    ug_gate_decision_clear(&d);
}

Test(gate, missing_token_is_401_with_challenge)
{
    ug_gate_request_t r = req("POST", NULL);
    ug_gate_decision_t d = {0};
    decide(&config->routes[0], checker, &r, UG_GATE_DENY, &d);
    cr_assert_eq(d.err, UG_ERR_UNAUTHORIZED);
    cr_assert_str_eq(d.www_authenticate, "Bearer realm=\"uploadgate\"");
    cr_assert_str_eq(d.message, "a bearer token is required");
    ug_gate_decision_clear(&d);
}

Test(gate, wrong_token_is_invalid_token)
{
    ug_gate_request_t r = req("POST", "Bearer nope");
    ug_gate_decision_t d = {0};
    decide(&config->routes[0], checker, &r, UG_GATE_DENY, &d);
    cr_assert_eq(d.err, UG_ERR_UNAUTHORIZED);
    cr_assert_not_null(strstr(d.www_authenticate, "error=\"invalid_token\""), "%s", d.www_authenticate);
    ug_gate_decision_clear(&d);
}

Test(gate, two_authorization_headers_are_a_bad_request)
{
    ug_gate_request_t r = req("POST", "Bearer good-token");
    r.authorization_count = 2;
    ug_gate_decision_t d = {0};
    decide(&config->routes[0], checker, &r, UG_GATE_DENY, &d);
    cr_assert_eq(d.err, UG_ERR_BAD_REQUEST);
    ug_gate_decision_clear(&d);
}

Test(gate, good_token_proceeds_with_a_subject)
{
    ug_gate_request_t r = req("POST", "Bearer other-token");
    ug_gate_decision_t d = {0};
    decide(&config->routes[0], checker, &r, UG_GATE_PROCEED, &d);
    cr_assert(d.authenticated);
    cr_assert_eq(strncmp(d.auth.subject, "token:", 6), 0, "%s", d.auth.subject);
    ug_gate_decision_clear(&d);
}

Test(gate, open_route_and_no_route_proceed)
{
    ug_gate_request_t r = req("POST", NULL);
    ug_gate_decision_t d = {0};
    decide(&config->routes[1], NULL, &r, UG_GATE_PROCEED, &d);
    cr_assert(!d.authenticated);
    ug_gate_decision_clear(&d);
    decide(NULL, NULL, &r, UG_GATE_PROCEED, &d);
    ug_gate_decision_clear(&d);
}

Test(gate, reserved_headers)
{
    cr_assert(ug_gate_is_reserved_header(S("X-Auth-Subject")));
    cr_assert(ug_gate_is_reserved_header(S("x-auth-scopes")));
    cr_assert(ug_gate_is_reserved_header(S("X-Uploadgate-Signature")));
    cr_assert(ug_gate_is_reserved_header(S("x-uploadgate-anything")));
    cr_assert(!ug_gate_is_reserved_header(S("x-auth-subjects")));
    cr_assert(!ug_gate_is_reserved_header(S("authorization")));
    cr_assert(!ug_gate_is_reserved_header(S("x-uploadgate")));
    /* WSGI makes HTTP_X_AUTH_SUBJECT of the underscore spelling too */
    cr_assert(ug_gate_is_reserved_header(S("X_Auth_Subject")));
    cr_assert(ug_gate_is_reserved_header(S("x_auth-scopes")));
    cr_assert(ug_gate_is_reserved_header(S("X_Uploadgate_Signature")));
    cr_assert(ug_gate_is_reserved_header(S("x-uploadgate_other")));
    cr_assert(!ug_gate_is_reserved_header(S("x_auth_subjects")));
    cr_assert(!ug_gate_is_reserved_header(S("x_uploadgate")));
}

Test(gate, auth_route_without_a_checker_fails_closed)
{
    /* A thread whose checker could not load the route's tokens or keys must refuse, never let the caller through. */
    ug_gate_request_t r = req("POST", "Bearer good-token");
    ug_gate_decision_t d = {0};
    decide(&config->routes[0], NULL, &r, UG_GATE_DENY, &d);
    cr_assert_eq(d.err, UG_ERR_INTERNAL);
    cr_assert(!d.authenticated);
    cr_assert_str_eq(d.message, "authentication is not available");
    ug_gate_decision_clear(&d);
}

Test(gate, trace_is_refused_in_any_case)
{
    cr_assert(ug_gate_method_is_refused(S("TRACE")));
    cr_assert(ug_gate_method_is_refused(S("trace")));
    cr_assert(ug_gate_method_is_refused(S("TrAcE")));
    cr_assert(!ug_gate_method_is_refused(S("TRACES")));
    cr_assert(!ug_gate_method_is_refused(S("TRAC")));
    cr_assert(!ug_gate_method_is_refused(S("GET")));
    cr_assert(!ug_gate_method_is_refused(S("OPTIONS")));
}

/* The answer every transport gives for a stopped request: 204 with the grant, or the error with its fields. */
Test(gate, answer_of_a_granted_preflight_is_204_with_its_fields)
{
    ug_gate_request_t r = preflight("https://app.example.com");
    ug_gate_decision_t d = {0};
    decide(&config->routes[0], checker, &r, UG_GATE_PREFLIGHT_OK, &d);
    ug_gate_answer_t a;
    ug_gate_answer(&d, &a);
    cr_assert_eq(a.err, UG_OK);
    cr_assert_eq(a.num_fields, d.cors.n);
    cr_assert_gt(a.num_fields, 0);
    cr_assert_eq(a.fields[0].value, d.cors.h[0].value, "the fields point into the decision");
    ug_gate_decision_clear(&d);
}

Test(gate, answer_of_a_refused_preflight_is_403_with_vary)
{
    ug_gate_request_t r = preflight("https://evil.example.net");
    ug_gate_decision_t d = {0};
    decide(&config->routes[0], checker, &r, UG_GATE_PREFLIGHT_REFUSED, &d);
    ug_gate_answer_t a;
    ug_gate_answer(&d, &a);
    cr_assert_eq(a.err, UG_ERR_FORBIDDEN);
    cr_assert_str_eq(a.message, "CORS preflight refused: origin, method or headers not allowed");
    cr_assert_eq(a.num_fields, 1);
    cr_assert_eq(a.fields[0].name_len, 4);
    cr_assert_eq(memcmp(a.fields[0].name, "vary", 4), 0);
    ug_gate_decision_clear(&d);
}

Test(gate, answer_of_a_denial_carries_the_challenge)
{
    ug_gate_request_t r = req("POST", NULL);
    ug_gate_decision_t d = {0};
    decide(&config->routes[0], checker, &r, UG_GATE_DENY, &d);
    ug_gate_answer_t a;
    ug_gate_answer(&d, &a);
    cr_assert_eq(a.err, UG_ERR_UNAUTHORIZED);
    cr_assert_str_eq(a.message, "a bearer token is required");
    cr_assert_eq(a.num_fields, 1);
    cr_assert_eq(a.fields[0].name_len, 16);
    cr_assert_eq(memcmp(a.fields[0].name, "www-authenticate", 16), 0);
    cr_assert_eq(memcmp(a.fields[0].value, "Bearer realm=\"uploadgate\"", a.fields[0].value_len), 0);
    ug_gate_decision_clear(&d);
}
