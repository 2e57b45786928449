/*
 * The HTTP/1.1 front's reading of a request head (src/exchange/head.c): body
 * framing (RFC 9112 6), persistence (RFC 9112 9.3), and which requests the
 * front serves itself rather than handing the connection to h2o.
 *
 * exchange/head.c is built into the uploadgate executable (not ugcore), so it is
 * compiled into this test directly; it needs nothing but ugcore.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "exchange/head.h"

#define H(n, v)                                                                                                                    \
    {                                                                                                                              \
        n, sizeof(n) - 1, v, sizeof(v) - 1                                                                                         \
    }
#define S_(s) s, sizeof(s) - 1

static ug_config_t *config;

static void setup(void)
{
    static const char yaml[] = "backend: {url: http://127.0.0.1:8000}\n"
                               "storage: {dir: /tmp}\n"
                               "routes:\n"
                               "  - path: /upload\n"
                               "  - path: /files/*\n"
                               "    methods: [POST, PUT, PATCH]\n"
                               "  - path: /cors\n"
                               "    cors: {allow_origins: [\"https://app.example.com\"], allow_methods: [PUT]}\n"
                               "  - path: /policy\n"
                               "    pass_through: true\n";
    char err[512];
    cr_assert_eq(ug_config_load_string("f.yaml", yaml, strlen(yaml), &config, err, sizeof(err)), UG_OK, "%s", err);
}

static void teardown(void)
{
    ug_config_free(config);
}

TestSuite(front_parse, .init = setup, .fini = teardown);

static ug_head_t head(const char *method, const char *target, int minor, const ug_header_t *hs, size_t n)
{
    ug_head_t h = {.method = method,
                         .method_len = strlen(method),
                         .target = target,
                         .target_len = strlen(target),
                         .minor_version = minor,
                         .headers = hs,
                         .num_headers = n};
    ug_head_scan(&h);
    return h;
}

static ug_head_verdict_t classify(const char *method, const char *target, const ug_header_t *hs, size_t n, const ug_route_t **r)
{
    ug_head_t h = head(method, target, 1, hs, n);
    return ug_head_classify(config, &h, NULL, 0, r);
}

Test(front_parse, content_length_and_persistence)
{
    ug_header_t hs[] = {H("Host", "x"), H("content-length", " 1234 "), H("Content-Type", "text/plain")};
    ug_head_t h = head("PUT", "/upload", 1, hs, 3);
    cr_assert_eq(h.framing, UG_HEAD_BODY_CONTENT_LENGTH);
    cr_assert_eq(h.content_length, 1234);
    cr_assert_null(h.framing_error);
    cr_assert(h.keep_alive);
    cr_assert_eq(h.host_count, 1);
    cr_assert_eq(h.content_type_len, 10);
}

Test(front_parse, no_body_fields_means_no_body)
{
    ug_header_t hs[] = {H("Host", "x")};
    ug_head_t h = head("POST", "/upload", 1, hs, 1);
    cr_assert_eq(h.framing, UG_HEAD_BODY_NONE);
    cr_assert_null(h.framing_error);
}

Test(front_parse, chunked_any_case)
{
    ug_header_t hs[] = {H("Host", "x"), H("Transfer-Encoding", "Chunked")};
    ug_head_t h = head("POST", "/upload", 1, hs, 2);
    cr_assert_eq(h.framing, UG_HEAD_BODY_CHUNKED);
    cr_assert_null(h.framing_error);
}

Test(front_parse, framing_errors)
{
    ug_header_t both[] = {H("Host", "x"), H("Content-Length", "5"), H("Transfer-Encoding", "chunked")};
    ug_header_t coding[] = {H("Host", "x"), H("Transfer-Encoding", "gzip, chunked")};
    ug_header_t two_te[] = {H("Host", "x"), H("Transfer-Encoding", "chunked"), H("Transfer-Encoding", "chunked")};
    ug_header_t conflict[] = {H("Host", "x"), H("Content-Length", "5"), H("Content-Length", "6")};
    ug_header_t same[] = {H("Host", "x"), H("Content-Length", "5"), H("Content-Length", "5")};
    ug_header_t negative[] = {H("Host", "x"), H("Content-Length", "-1")};
    ug_header_t list[] = {H("Host", "x"), H("Content-Length", "5, 5")};
    ug_header_t huge[] = {H("Host", "x"), H("Content-Length", "99999999999999999999")};
    ug_header_t empty[] = {H("Host", "x"), H("Content-Length", "")};
    ug_header_t te10[] = {H("Host", "x"), H("Transfer-Encoding", "chunked")};

    cr_assert_not_null(head("POST", "/upload", 1, both, 3).framing_error);
    cr_assert_not_null(head("POST", "/upload", 1, coding, 2).framing_error);
    cr_assert_not_null(head("POST", "/upload", 1, two_te, 3).framing_error);
    cr_assert_not_null(head("POST", "/upload", 1, conflict, 3).framing_error);
    cr_assert_null(head("POST", "/upload", 1, same, 3).framing_error);
    cr_assert_not_null(head("POST", "/upload", 1, negative, 2).framing_error);
    cr_assert_not_null(head("POST", "/upload", 1, list, 2).framing_error);
    cr_assert_not_null(head("POST", "/upload", 1, huge, 2).framing_error);
    cr_assert_not_null(head("POST", "/upload", 1, empty, 2).framing_error);
    cr_assert_not_null(head("POST", "/upload", 0, te10, 2).framing_error);
}

Test(front_parse, largest_content_length)
{
    ug_header_t hs[] = {H("Host", "x"), H("Content-Length", "18446744073709551615")};
    ug_head_t h = head("POST", "/upload", 1, hs, 2);
    cr_assert_null(h.framing_error);
    cr_assert_eq(h.content_length, UINT64_MAX);
}

Test(front_parse, connection_tokens)
{
    ug_header_t close11[] = {H("Host", "x"), H("Connection", "TE, Close")};
    ug_header_t ka10[] = {H("Host", "x"), H("Connection", "keep-alive")};
    ug_header_t none10[] = {H("Host", "x")};
    ug_header_t closelike[] = {H("Host", "x"), H("Connection", "closed, x-close")};
    cr_assert_not(head("POST", "/upload", 1, close11, 2).keep_alive);
    cr_assert(head("POST", "/upload", 0, ka10, 2).keep_alive);
    cr_assert_not(head("POST", "/upload", 0, none10, 1).keep_alive);
    cr_assert(head("POST", "/upload", 1, closelike, 2).keep_alive);
}

Test(front_parse, has_token)
{
    cr_assert(ug_head_has_token(S_("a, b ,c"), "b"));
    cr_assert(ug_head_has_token(S_("\tKeep-Alive"), "keep-alive"));
    cr_assert_not(ug_head_has_token(S_("keep-alive2"), "keep-alive"));
    cr_assert_not(ug_head_has_token(S_(""), "close"));
}

Test(front_parse, plain_paths)
{
    size_t len = 0;
    cr_assert(ug_head_path_is_plain(S_("/upload?a=%41&b=/./"), &len));
    cr_assert_eq(len, 7);
    cr_assert(ug_head_path_is_plain(S_("/up.load/x."), &len));
    cr_assert_not(ug_head_path_is_plain(S_("/./upload"), &len));
    cr_assert_not(ug_head_path_is_plain(S_("/x/../upload"), &len));
    cr_assert_not(ug_head_path_is_plain(S_("/upload/."), &len));
    cr_assert_not(ug_head_path_is_plain(S_("/%75pload"), &len));
    cr_assert_not(ug_head_path_is_plain(S_("http://h/upload"), &len));
    cr_assert_not(ug_head_path_is_plain(S_("*"), &len));
    cr_assert_not(ug_head_path_is_plain(S_(""), &len));
}

Test(front_parse, takes_uploads_of_upload_routes)
{
    ug_header_t hs[] = {H("Host", "x"), H("Content-Length", "3")};
    const ug_route_t *r;
    cr_assert_eq(classify("POST", "/upload", hs, 2, &r), UG_HEAD_TAKE);
    cr_assert_str_eq(r->path, "/upload");
    cr_assert_eq(classify("PUT", "/upload?x=1", hs, 2, &r), UG_HEAD_TAKE);
    cr_assert_eq(classify("POST", "/files/a/b", hs, 2, &r), UG_HEAD_TAKE);
    cr_assert_str_eq(r->path, "/files/*");
    cr_assert_eq(classify("PATCH", "/files/a", hs, 2, &r), UG_HEAD_TAKE); /* PATCH is an upload method of that route */
}

Test(front_parse, hands_over_everything_else)
{
    ug_header_t hs[] = {H("Host", "x")};
    ug_header_t no_host[] = {H("Content-Length", "0")};
    ug_header_t two_hosts[] = {H("Host", "x"), H("Host", "y")};
    ug_header_t h2c[] = {H("Host", "x"), H("Connection", "Upgrade, HTTP2-Settings"), H("Upgrade", "h2c"),
                         H("HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA")};
    ug_header_t expect[] = {H("Host", "x"), H("Expect", "something-else")};
    ug_header_t fold[] = {H("Host", "x"), {NULL, 0, "folded", 6}};
    const ug_route_t *r;
    cr_assert_eq(classify("POST", "/api/items", hs, 1, &r), UG_HEAD_PIPELINE);
    cr_assert_null(r);
    cr_assert_eq(classify("POST", "/uploadx", hs, 1, &r), UG_HEAD_PIPELINE);
    cr_assert_eq(classify("POST", "/policy", hs, 1, &r), UG_HEAD_PIPELINE);    /* pass_through */
    cr_assert_eq(classify("GET", "/upload", hs, 1, &r), UG_HEAD_PIPELINE);     /* 405 comes from h2o's path */
    cr_assert_eq(classify("HEAD", "/files/a", hs, 1, &r), UG_HEAD_PIPELINE);   /* never an upload */
    cr_assert_eq(classify("OPTIONS", "/upload", hs, 1, &r), UG_HEAD_PIPELINE); /* no CORS policy there */
    cr_assert_eq(classify("POST", "/%75pload", hs, 1, &r), UG_HEAD_PIPELINE);  /* no normalised path given */
    cr_assert_eq(classify("POST", "/upload", no_host, 1, &r), UG_HEAD_PIPELINE);
    cr_assert_eq(classify("POST", "/upload", two_hosts, 2, &r), UG_HEAD_PIPELINE);
    cr_assert_eq(classify("POST", "/upload", expect, 2, &r), UG_HEAD_PIPELINE);
    cr_assert_eq(classify("POST", "/upload", fold, 2, &r), UG_HEAD_PIPELINE);
    cr_assert_eq(classify("GET", "/api/items", h2c, 4, &r), UG_HEAD_PIPELINE); /* not an upload: switched to h2c */
}

Test(front_parse, target_rules)
{
    static const struct {
        const char *target;
        ug_head_target_problem_t problem;
    } cases[] = {
        {"/upload", UG_HEAD_TARGET_OK},
        {"/", UG_HEAD_TARGET_OK},
        {"/up.load/x./.x/...", UG_HEAD_TARGET_OK},
        {"/.well-known/x", UG_HEAD_TARGET_OK},
        {"/files/%41%7e%2d", UG_HEAD_TARGET_OK},        /* unreserved characters may be encoded */
        {"/files/%2", UG_HEAD_TARGET_OK},               /* not an escape: forwarded as sent, routed as h2o leaves it */
        {"/x?a=/../%2e%2f%5c%00\\", UG_HEAD_TARGET_OK}, /* the query is the app's */
        {"/files/../x", UG_HEAD_TARGET_DOT_SEGMENT},
        {"/files/./x", UG_HEAD_TARGET_DOT_SEGMENT},
        {"/files/..", UG_HEAD_TARGET_DOT_SEGMENT},
        {"/files/.?x", UG_HEAD_TARGET_DOT_SEGMENT},
        {"/.", UG_HEAD_TARGET_DOT_SEGMENT},
        {"/..//x", UG_HEAD_TARGET_DOT_SEGMENT},
        {"/files/%2e%2e/x", UG_HEAD_TARGET_ENCODED_DELIMITER},
        {"/files/%2E./x", UG_HEAD_TARGET_ENCODED_DELIMITER},
        {"/files/.%2e", UG_HEAD_TARGET_ENCODED_DELIMITER},
        {"/files/..%2Fx", UG_HEAD_TARGET_ENCODED_DELIMITER},
        {"/files/..%2fx", UG_HEAD_TARGET_ENCODED_DELIMITER},
        {"/files/a%5Cb", UG_HEAD_TARGET_ENCODED_DELIMITER},
        {"/files/a%5cb", UG_HEAD_TARGET_ENCODED_DELIMITER},
        {"/files/%2ex", UG_HEAD_TARGET_ENCODED_DELIMITER}, /* an encoded dot anywhere: no decoder can make a segment of it */
        {"/files/a\\..\\x", UG_HEAD_TARGET_BACKSLASH},
        {"/files/a%00", UG_HEAD_TARGET_NUL},
        {"/upload#x", UG_HEAD_TARGET_FRAGMENT},
        {"/upload?x#y", UG_HEAD_TARGET_FRAGMENT},
        {"/#", UG_HEAD_TARGET_FRAGMENT},
        {"*", UG_HEAD_TARGET_NOT_A_PATH},
        {"", UG_HEAD_TARGET_NOT_A_PATH},
        {"upload", UG_HEAD_TARGET_NOT_A_PATH},
        {"host:443", UG_HEAD_TARGET_NOT_A_PATH},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        ug_head_target_problem_t p = ug_head_target_check(cases[i].target, strlen(cases[i].target));
        cr_expect_eq(p, cases[i].problem, "\"%s\": %d, expected %d", cases[i].target, p, cases[i].problem);
        cr_expect_eq(ug_head_target_message(p) == NULL, p == UG_HEAD_TARGET_OK);
    }
    /* the length bounds the target */
    cr_expect_eq(ug_head_target_check("/a/..", 3), UG_HEAD_TARGET_OK);
    cr_expect_eq(ug_head_target_check("/a%2f", 3), UG_HEAD_TARGET_OK);
}

Test(front_parse, refused_targets_are_refused_heads)
{
    ug_header_t hs[] = {H("Host", "x"), H("Content-Length", "3")};
    static const struct {
        const char *target, *in_message;
    } cases[] = {
        {"/files/%2e%2e/x", "percent-encoded"},
        {"/files/../x", "'..' segments"},
        {"http://x/files/../x", "'..' segments"}, /* an absolute-form target's path too */
        {"/files/..%2Fx", "percent-encoded"},
        {"/upload#x", "fragment"},
        {"http://x/upload#x", "fragment"},
        {"/a\\b", "backslash"},
        {"/a%00", "NUL"},
        {"*", "must be a path"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        ug_head_t h = head("POST", cases[i].target, 1, hs, 2);
        const char *why = NULL;
        const ug_route_t *r = (const ug_route_t *)1;
        cr_expect_eq(ug_head_refusal(&h, &why), UG_ERR_BAD_REQUEST, "%s", cases[i].target);
        cr_expect(why != NULL && strstr(why, cases[i].in_message) != NULL, "%s: %s", cases[i].target, why);
        cr_expect_eq(ug_head_classify(config, &h, "/x", 2, &r), UG_HEAD_REFUSE, "%s", cases[i].target);
        cr_expect_null(r);
    }
}

Test(front_parse, paths_that_resemble_a_route_are_refused)
{
    ug_header_t hs[] = {H("Host", "x"), H("Content-Length", "3")};
    static const struct {
        const char *method, *target, *resembles;
    } cases[] = {
        {"POST", "/UPLOAD", "/upload"},   {"POST", "/upload/", "/upload"},
        {"POST", "//upload", "/upload"},  {"HEAD", "/Upload?x=1", "/upload"}, /* whoever would serve it */
        {"POST", "/Files/x", "/files/*"}, {"POST", "/files", "/files/*"},
        {"GET", "/POLICY", "/policy"}, /* pass-through routes too */
        {"OPTIONS", "/cors/", "/cors"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        const ug_route_t *r = NULL;
        cr_expect_eq(classify(cases[i].method, cases[i].target, hs, 2, &r), UG_HEAD_REFUSE, "%s", cases[i].target);
        cr_expect(r != NULL && strcmp(r->path, cases[i].resembles) == 0, "%s resembles %s", cases[i].target,
                  r != NULL ? r->path : "(none)");
    }
    /* routed on the normalised path: "/%55pload" is "/Upload" */
    const ug_route_t *r;
    ug_head_t h = head("POST", "/%55pload", 1, hs, 2);
    cr_expect_eq(ug_head_classify(config, &h, "/Upload", 7, &r), UG_HEAD_REFUSE);
    h = head("POST", "/%75pload", 1, hs, 2);
    cr_expect_eq(ug_head_classify(config, &h, "/upload", 7, &r), UG_HEAD_TAKE);
    cr_expect_eq(classify("POST", "/files/", hs, 2, &r), UG_HEAD_TAKE);
    cr_expect_eq(classify("POST", "/uploadx", hs, 2, &r), UG_HEAD_PIPELINE);
}

/* Not refused: the front takes it, or runs h2o's pipeline for it on its own connection. */
static int passable(const char *method, const char *target, int minor, const ug_header_t *hs, size_t n)
{
    ug_head_t h = head(method, target, minor, hs, n);
    const char *why;
    return ug_head_refusal(&h, &why) == UG_OK;
}

Test(front_parse, ordinary_requests_are_passed_on_the_fronts_connection)
{
    ug_header_t hs[] = {H("Host", "x")};
    ug_header_t no_host[] = {H("Content-Length", "0")};
    ug_header_t length[] = {H("Host", "x"), H("Content-Length", "12")};
    ug_header_t chunked[] = {H("Host", "x"), H("Transfer-Encoding", "chunked")};
    ug_header_t cont[] = {H("Host", "x"), H("Content-Length", "2"), H("Expect", "100-continue")};
    ug_header_t websocket[] = {H("Host", "x"), H("Connection", "Upgrade"), H("Upgrade", "websocket")};
    cr_assert(passable("GET", "/api/items", 1, hs, 1));
    cr_assert(passable("HEAD", "/files/a", 1, hs, 1));
    cr_assert(passable("GET", "/upload", 1, hs, 1)); /* its 405 comes from the upload handler in h2o's pipeline */
    cr_assert(passable("POST", "/%75pload", 1, length, 2));
    cr_assert(passable("POST", "/api/echo", 1, chunked, 2));
    cr_assert(passable("POST", "/api/echo", 1, cont, 3));
    cr_assert(passable("GET", "/", 0, no_host, 1)); /* HTTP/1.0 without Host: h2o's default host */
    cr_assert(passable("GET", "/chat", 1, websocket, 3));
}

static ug_err_t refusal(int minor, const ug_header_t *hs, size_t n, const char *expect_in_message)
{
    ug_head_t h = head("GET", "/api/items", minor, hs, n);
    const char *why = "unset";
    ug_err_t e = ug_head_refusal(&h, &why);
    if (e == UG_OK)
        cr_assert_null(why);
    else
        cr_assert(why != NULL && strstr(why, expect_in_message) != NULL, "message %s lacks %s", why, expect_in_message);
    return e;
}

Test(front_parse, heads_no_one_should_serve_are_refused)
{
    ug_header_t ok[] = {H("Host", "x")};
    ug_header_t no_host[] = {H("Accept", "*/*")};
    ug_header_t two_hosts[] = {H("Host", "x"), H("host", "x")};
    ug_header_t fold[] = {H("Host", "x"), H("X-A", "a"), {NULL, 0, "folded", 6}};
    ug_header_t smuggle[] = {H("Host", "x"), H("Content-Length", "3"), H("Transfer-Encoding", "chunked")};
    ug_header_t bad_length[] = {H("Host", "x"), H("Content-Length", "12a")};
    ug_header_t expect[] = {H("Host", "x"), H("Expect", "200-ok")};
    ug_header_t cont[] = {H("Host", "x"), H("Expect", "100-Continue")};
    cr_assert_eq(refusal(1, ok, 1, ""), UG_OK);
    cr_assert_eq(refusal(1, cont, 2, ""), UG_OK);
    cr_assert_eq(refusal(0, no_host, 1, ""), UG_OK); /* HTTP/1.0 needs no Host */
    cr_assert_eq(refusal(0, expect, 2, ""), UG_OK);  /* HTTP/1.0 expectations are ignored */
    cr_assert_eq(refusal(1, no_host, 1, "Host"), UG_ERR_BAD_REQUEST);
    cr_assert_eq(refusal(1, two_hosts, 2, "Host"), UG_ERR_BAD_REQUEST);
    cr_assert_eq(refusal(0, two_hosts, 2, "Host"), UG_ERR_BAD_REQUEST);
    cr_assert_eq(refusal(1, fold, 3, "folding"), UG_ERR_BAD_REQUEST);
    cr_assert_eq(refusal(1, smuggle, 3, "both Content-Length and Transfer-Encoding"), UG_ERR_BAD_REQUEST);
    cr_assert_eq(refusal(1, bad_length, 2, "Content-Length"), UG_ERR_BAD_REQUEST);
    cr_assert_eq(refusal(1, expect, 2, "100-continue"), UG_ERR_EXPECTATION_FAILED);
    cr_assert_eq(ug_err_status(UG_ERR_EXPECTATION_FAILED), 417);
}

static int h2c_upgrade(int minor, const ug_header_t *hs, size_t n, const char **settings)
{
    ug_head_t h = head("GET", "/api/items", minor, hs, n);
    size_t len = 0;
    *settings = NULL;
    int r = ug_head_h2c_upgrade(&h, settings, &len);
    cr_assert(r == 0 || (*settings != NULL && len == strlen(*settings)));
    return r;
}

Test(front_parse, h2c_upgrade_needs_what_rfc7540_requires)
{
    const char *v;
    ug_header_t ok[] = {H("Host", "x"), H("Connection", "Upgrade, HTTP2-Settings"), H("Upgrade", "h2c"),
                        H("HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA")};
    ug_header_t any_case[] = {H("host", "x"), H("CONNECTION", "http2-settings ,upgrade"), H("upgrade", "H2C"),
                              H("http2-settings", "AAMAAABk")};
    ug_header_t no_token[] = {H("Host", "x"), H("Connection", "Upgrade"), H("Upgrade", "h2c"), H("HTTP2-Settings", "AAMAAABk")};
    ug_header_t no_field[] = {H("Host", "x"), H("Connection", "Upgrade, HTTP2-Settings"), H("Upgrade", "h2c")};
    ug_header_t two[] = {H("Host", "x"), H("Connection", "Upgrade, HTTP2-Settings"), H("Upgrade", "h2c"),
                         H("HTTP2-Settings", "AAMAAABk"), H("HTTP2-Settings", "AAMAAABk")};
    ug_header_t other[] = {H("Host", "x"), H("Connection", "Upgrade, HTTP2-Settings"), H("Upgrade", "websocket"),
                           H("HTTP2-Settings", "AAMAAABk")};
    ug_header_t h2c_tls[] = {H("Host", "x"), H("Connection", "Upgrade, HTTP2-Settings"), H("Upgrade", "h2c-16"),
                             H("HTTP2-Settings", "AAMAAABk")};
    cr_assert(h2c_upgrade(1, ok, 4, &v));
    cr_assert_str_eq(v, "AAMAAABkAAQAoAAAAAIAAAAA");
    cr_assert(h2c_upgrade(1, any_case, 4, &v));
    cr_assert_str_eq(v, "AAMAAABk");
    cr_assert_not(h2c_upgrade(0, ok, 4, &v)); /* HTTP/1.0 */
    cr_assert_not(h2c_upgrade(1, no_token, 4, &v));
    cr_assert_not(h2c_upgrade(1, no_field, 3, &v));
    cr_assert_not(h2c_upgrade(1, two, 5, &v));
    cr_assert_not(h2c_upgrade(1, other, 4, &v));
    cr_assert_not(h2c_upgrade(1, h2c_tls, 4, &v)); /* drafts' tokens are not h2c */
    cr_assert(passable("GET", "/api/items", 1, ok, 4)); /* switched, then run by h2o's pipeline on stream 1 */
}

Test(front_parse, odd_heads_are_not_served)
{
    ug_header_t hs[] = {H("Host", "x")};
    ug_header_t two_hosts[] = {H("Host", "x"), H("Host", "y")};
    ug_header_t expect[] = {H("Host", "x"), H("Expect", "something-else")};
    ug_header_t fold[] = {H("Host", "x"), {NULL, 0, "folded", 6}};
    ug_header_t both[] = {H("Host", "x"), H("Content-Length", "3"), H("Transfer-Encoding", "chunked")};
    ug_header_t gzip[] = {H("Host", "x"), H("Transfer-Encoding", "gzip")};
    cr_assert_not(passable("GET", "/a", 1, two_hosts, 2));
    cr_assert_not(passable("POST", "/a", 1, expect, 2));
    cr_assert_not(passable("GET", "/a", 1, fold, 2));
    cr_assert_not(passable("POST", "/a", 1, both, 3));
    cr_assert_not(passable("POST", "/a", 1, gzip, 2));
    cr_assert_not(passable("OPTIONS", "*", 1, hs, 1));
    cr_assert_not(passable("CONNECT", "x:443", 1, hs, 1));
    cr_assert_not(passable("CONNECT", "/a", 1, hs, 1));
    cr_assert_not(passable("GET", "ftp://x/a", 1, hs, 1));
    cr_assert_not(passable("GET", "http:///a", 1, hs, 1));      /* no authority */
    cr_assert_not(passable("GET", "http://u@x/a", 1, hs, 1));   /* userinfo */
    cr_assert_not(passable("GET", "http://x?q=1", 1, hs, 1));   /* a query without a path */
}

Test(front_parse, absolute_form_is_served_as_its_path_with_its_authority)
{
    ug_header_t hs[] = {H("Host", "ignored.example")};
    ug_head_t h = head("POST", "HTTP://up.example:8080/upload?x=1", 1, hs, 1);
    cr_assert_null(h.target_error);
    cr_assert_eq(h.target_len, strlen("/upload?x=1"));
    cr_assert(memcmp(h.target, "/upload?x=1", h.target_len) == 0);
    cr_assert_eq(h.host_len, strlen("up.example:8080"));
    cr_assert(memcmp(h.host, "up.example:8080", h.host_len) == 0);
    cr_assert_eq(h.host_count, 1); /* the Host field still counts: HTTP/1.1 must send one */
    const ug_route_t *r;
    cr_assert_eq(ug_head_classify(config, &h, NULL, 0, &r), UG_HEAD_TAKE);
    cr_assert_str_eq(r->path, "/upload");

    h = head("GET", "https://x", 1, hs, 1);
    cr_assert(h.target_len == 1 && h.target[0] == '/' && h.host_len == 1 && h.host[0] == 'x');

    const char *path, *auth;
    size_t path_len, auth_len;
    cr_assert_eq(ug_head_absolute_target(S_("/a"), &path, &path_len, &auth, &auth_len), 0);
    cr_assert_eq(ug_head_absolute_target(S_("http://h/p"), &path, &path_len, &auth, &auth_len), 1);
    cr_assert(path_len == 2 && memcmp(path, "/p", 2) == 0 && auth_len == 1 && auth[0] == 'h');
    cr_assert_eq(ug_head_absolute_target(S_("https://h#f"), &path, &path_len, &auth, &auth_len), -1);
}

Test(front_parse, upload_asking_for_h2c_upgrade_is_taken_and_the_upgrade_ignored)
{
    /* what curl --http2 sends on http:// with a body; h2o would read the whole body before upgrading */
    ug_header_t h2c[] = {H("Host", "x"), H("Connection", "Upgrade, HTTP2-Settings"), H("Upgrade", "h2c"),
                         H("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"), H("Content-Length", "203")};
    const ug_route_t *r;
    cr_assert_eq(classify("POST", "/upload", h2c, 5, &r), UG_HEAD_TAKE);
    cr_assert_not_null(r);
    cr_assert_str_eq(r->path, "/upload");
}

Test(front_parse, a_path_h2o_rewrites_is_routed_on_its_normalised_form)
{
    /* The caller passes what h2o_url_normalize_path makes of the target (ug_exchange_decide); classify matches on it. */
    ug_header_t hs[] = {H("Host", "x"), H("Content-Length", "5")};
    const ug_route_t *r;
    ug_head_t h = head("PUT", "/%75pload?x=%2e", 1, hs, 2);
    cr_assert_eq(ug_head_classify(config, &h, S_("/upload"), &r), UG_HEAD_TAKE);
    cr_assert_str_eq(r->path, "/upload");
    cr_assert_eq(ug_head_classify(config, &h, S_("/policy"), &r), UG_HEAD_PIPELINE); /* pass_through */
    cr_assert_null(r);
    cr_assert_eq(ug_head_classify(config, &h, S_("/api/items"), &r), UG_HEAD_PIPELINE);
    cr_assert_eq(ug_head_classify(config, &h, NULL, 0, &r), UG_HEAD_PIPELINE);
    /* a plain target is matched as sent: the normalised path is not consulted */
    h = head("PUT", "/upload", 1, hs, 2);
    cr_assert_eq(ug_head_classify(config, &h, S_("/policy"), &r), UG_HEAD_TAKE);
    cr_assert_str_eq(r->path, "/upload");
}

Test(front_parse, expect_100_continue)
{
    ug_header_t hs[] = {H("Host", "x"), H("Expect", "100-Continue"), H("Content-Length", "10")};
    const ug_route_t *r;
    ug_head_t h = head("POST", "/upload", 1, hs, 3);
    cr_assert(h.expect_continue);
    cr_assert_not(h.expect_other);
    cr_assert_eq(ug_head_classify(config, &h, NULL, 0, &r), UG_HEAD_TAKE);
    h = head("POST", "/upload", 0, hs, 3); /* HTTP/1.0 expectations are h2o's to ignore or not */
    cr_assert_eq(ug_head_classify(config, &h, NULL, 0, &r), UG_HEAD_PIPELINE);
}

Test(front_parse, cors_preflight_of_a_route_is_taken)
{
    ug_header_t pre[] = {H("Host", "x"), H("Origin", "https://app.example.com"), H("Access-Control-Request-Method", "PUT")};
    ug_header_t plain[] = {H("Host", "x"), H("Origin", "https://app.example.com")};
    const ug_route_t *r;
    cr_assert_eq(classify("OPTIONS", "/cors", pre, 3, &r), UG_HEAD_TAKE);
    cr_assert_str_eq(r->path, "/cors");
    cr_assert_eq(classify("OPTIONS", "/cors", plain, 2, &r), UG_HEAD_PIPELINE);
}

Test(front_parse, framing_errors_are_still_taken)
{
    /* The front answers them with uploadgate's JSON 400 rather than h2o's plain one. */
    ug_header_t hs[] = {H("Host", "x"), H("Content-Length", "5"), H("Transfer-Encoding", "chunked")};
    const ug_route_t *r;
    ug_head_t h = head("POST", "/upload", 1, hs, 3);
    cr_assert_eq(ug_head_classify(config, &h, NULL, 0, &r), UG_HEAD_TAKE);
    cr_assert_not_null(h.framing_error);
}

Test(front_parse, find)
{
    ug_header_t hs[] = {H("Host", "x"), H("X-A", "1"), H("x-a", "2")};
    ug_head_t h = head("POST", "/upload", 1, hs, 3);
    unsigned n;
    const ug_header_t *f = ug_head_find(&h, "x-a", &n);
    cr_assert_not_null(f);
    cr_assert_eq(n, 2);
    cr_assert_eq(f->value[0], '1');
    cr_assert_null(ug_head_find(&h, "x-b", NULL));
}

Test(front_parse, host_values)
{
    static const char *const good[] = {"x", "files.example.com", "files.example.com:8443", "127.0.0.1", "127.0.0.1:80",
                                       "[::1]", "[::1]:8080", "[2001:db8::7]", "[::ffff:192.0.2.1]:1", "[v1.fe80::a+en1]",
                                       "a%2Db", "a_b~c", "h:65535", "h:0", "sub!$&'()*+,;=delims", "999.999.999.999"};
    static const char *const bad[] = {"", "a b", "evil@good", "evil@good:80", "host:", "host:x", "host:65536",
                                      "host:123456", "host:-1", ":80", "[::1", "::1", "[::1]x", "[::1]:", "[::g]",
                                      "[]", "[v1.]", "[vz.a]", "a%2", "a%zz", "a/b", "a?b", "a#b", "a\"b", "h:80:80",
                                      "a\tb", "[::1]:80:", "a\\b", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); ++i)
        cr_assert(ug_head_host_is_valid(good[i], strlen(good[i])), "%s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i)
        cr_assert_not(ug_head_host_is_valid(bad[i], strlen(bad[i])), "%s", bad[i]);
    cr_assert_not(ug_head_host_is_valid("a\0b", 3));
    cr_assert_not(ug_head_host_is_valid("[::1\0]", 6));
}

Test(front_parse, invalid_hosts_are_refused)
{
    ug_header_t space[] = {H("Host", "a b")};
    ug_header_t at[] = {H("Host", "evil@good")};
    ug_header_t empty[] = {H("Host", "")};
    ug_header_t port[] = {H("Host", "good:80x")};
    cr_assert_eq(refusal(1, space, 1, "Host"), UG_ERR_BAD_REQUEST);
    cr_assert_eq(refusal(1, at, 1, "Host"), UG_ERR_BAD_REQUEST);
    cr_assert_eq(refusal(1, empty, 1, "Host"), UG_ERR_BAD_REQUEST);
    cr_assert_eq(refusal(1, port, 1, "Host"), UG_ERR_BAD_REQUEST);
    cr_assert_eq(refusal(0, space, 1, "Host"), UG_ERR_BAD_REQUEST); /* HTTP/1.0 need not send one, but not a bad one */

    /* an absolute-form target's authority stands for Host, and is held to the same rule */
    ug_header_t ok[] = {H("Host", "x")};
    ug_head_t h = head("GET", "http://a%zz:80/p", 1, ok, 1);
    const char *why;
    cr_assert_eq(ug_head_refusal(&h, &why), UG_ERR_BAD_REQUEST);
    cr_assert(strstr(why, "authority") != NULL, "%s", why);
    h = head("GET", "http://good.example:8080/p", 1, ok, 1);
    cr_assert_eq(ug_head_refusal(&h, &why), UG_OK);
    ug_header_t bad_field[] = {H("Host", "a b")};
    h = head("GET", "http://good.example/p", 1, bad_field, 1); /* the field itself is still checked */
    cr_assert_eq(ug_head_refusal(&h, &why), UG_ERR_BAD_REQUEST);
}

Test(front_gate_request, reads_the_gate_inputs_and_joins_acrh)
{
    ug_header_t hs[] = {H("origin", "https://a.example"), H("authorization", "Bearer x"), H("authorization", "Bearer y"),
                        H("access-control-request-method", "PUT"), H("access-control-request-headers", "x-a"),
                        H("other", "1"), H("access-control-request-headers", "x-b, x-c")};
    ug_head_t h = {.method = "OPTIONS", .method_len = 7, .headers = hs, .num_headers = 7};
    ug_gate_request_t g;
    char *joined;
    ug_head_gate_request(&h, &g, &joined);
    cr_assert_not_null(joined);
    cr_assert_eq(g.acr_headers, joined);
    cr_assert_eq(g.acr_headers_len, strlen("x-a,x-b, x-c"));
    cr_assert(memcmp(g.acr_headers, "x-a,x-b, x-c", g.acr_headers_len) == 0);
    cr_assert(g.origin_len == 17 && memcmp(g.origin, "https://a.example", 17) == 0);
    cr_assert(g.authorization_count == 2 && memcmp(g.authorization, "Bearer x", 8) == 0);
    cr_assert(g.acr_method_len == 3 && memcmp(g.acr_method, "PUT", 3) == 0);
    cr_assert(g.method_len == 7 && memcmp(g.method, "OPTIONS", 7) == 0);
    free(joined);
}

Test(front_gate_request, one_acrh_field_is_used_in_place)
{
    ug_header_t hs[] = {H("access-control-request-headers", "x-a")};
    ug_head_t h = {.method = "POST", .method_len = 4, .headers = hs, .num_headers = 1};
    ug_gate_request_t g;
    char *joined = (char *)"not reset";
    ug_head_gate_request(&h, &g, &joined);
    cr_assert_null(joined);
    cr_assert_eq(g.acr_headers, hs[0].value);
    cr_assert_eq(g.acr_headers_len, 3);
    cr_assert_null(g.origin);
    cr_assert_null(g.authorization);
    cr_assert_eq(g.authorization_count, 0);
}
