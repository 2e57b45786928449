/*
 * The head that carries a manifest to the app (src/exchange/manifest_request.c): target
 * path, reserved client headers dropped, X-Auth-* only for an authenticated
 * caller, X-Request-Id kept only when acceptable, signature when a key is set.
 * Compiled in directly (the file is not in ugcore).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "exchange/manifest_request.h"

#define H(n, v)                                                                                                                    \
    {                                                                                                                              \
        n, sizeof(n) - 1, v, sizeof(v) - 1                                                                                         \
    }

static ug_config_t *config;

static void setup(void)
{
    static const char yaml[] = "backend: {url: \"http://127.0.0.1:8000/app\"}\n"
                               "storage: {dir: /tmp}\n"
                               "routes:\n"
                               "  - path: /upload\n"
                               "    forward_to: /ingest\n"
                               "  - path: /files/*\n"
                               "  - path: /q\n"
                               "    forward_to: \"/ingest?src=q\"\n";
    char err[512];
    cr_assert_eq(ug_config_load_string("f.yaml", yaml, strlen(yaml), &config, err, sizeof(err)), UG_OK, "%s", err);
}

static void teardown(void)
{
    ug_config_free(config);
}

TestSuite(manifest_request, .init = setup, .fini = teardown);

static char *build(size_t route, const char *path, const ug_header_t *hs, size_t n, const unsigned char *key)
{
    ug_gate_decision_t gate;
    memset(&gate, 0, sizeof(gate));
    ug_manifest_request_t f = {
        .config = config,
        .route = &config->routes[route],
        .sign_key = key,
        .sign_key_len = key != NULL ? strlen((const char *)key) : 0,
        .method = "POST",
        .method_len = 4,
        .path = path,
        .path_len = strlen(path),
        .scheme = "http",
        .authority = "files.example.com",
        .authority_len = 17,
        .client_address = "10.0.0.7",
        .headers = hs,
        .num_headers = n,
        .gate = &gate,
        .upload_id = "0123456789abcdef0123456789abcdef",
        .json = "{\"x\":1}",
        .json_len = 7,
        .now = 1700000000,
    };
    size_t len;
    char *head = ug_manifest_request_head(&f, &len);
    cr_assert_not_null(head);
    char *s = strndup(head, len);
    free(head);
    return s;
}

Test(manifest_request, forward_to_keeps_the_query)
{
    ug_header_t hs[] = {H("user-agent", "t")};
    char *h = build(0, "/upload?a=1&b=2", hs, 1, NULL);
    cr_assert(strncmp(h, "POST /app/ingest?a=1&b=2 HTTP/1.1\r\n", 35) == 0, "%s", h);
    cr_assert_not_null(strstr(h, "\r\nuser-agent: t\r\n"));
    cr_assert_not_null(strstr(h, "\r\nX-Forwarded-For: 10.0.0.7\r\n"));
    cr_assert_not_null(strstr(h, "\r\nX-Forwarded-Host: files.example.com\r\n"));
    cr_assert_not_null(strstr(h, "\r\nX-Request-Id: 0123456789abcdef0123456789abcdef\r\n"));
    cr_assert_not_null(strstr(h, "\r\nContent-Length: 7\r\n"));
    cr_assert_null(strstr(h, "X-Uploadgate-Signature"));
    free(h);
}

Test(manifest_request, forward_to_with_its_own_query_and_prefix_route)
{
    char *h = build(2, "/q?client=1", NULL, 0, NULL);
    cr_assert(strncmp(h, "POST /app/ingest?src=q HTTP/1.1\r\n", 33) == 0, "%s", h);
    free(h);
    h = build(1, "/files/a/b?z", NULL, 0, NULL);
    cr_assert(strncmp(h, "POST /app/files/a/b?z HTTP/1.1\r\n", 32) == 0, "%s", h);
    free(h);
}

Test(manifest_request, reserved_headers_never_pass_and_request_id_is_checked)
{
    ug_header_t hs[] = {H("x-auth-subject", "forged"), H("X-Auth-Scopes", "admin"), H("x-uploadgate-signature", "forged"),
                        H("x-request-id", "client-id-1"), H("x-request-id", "second")};
    char *h = build(0, "/upload", hs, 5, NULL);
    cr_assert_null(strstr(h, "forged"), "%s", h);
    cr_assert_null(strstr(h, "admin"), "%s", h);
    cr_assert_not_null(strstr(h, "\r\nX-Request-Id: client-id-1\r\n"), "%s", h);
    cr_assert_null(strstr(h, "second"), "%s", h);
    free(h);

    ug_header_t bad[] = {H("x-request-id", "has space")};
    h = build(0, "/upload", bad, 1, NULL);
    cr_assert_not_null(strstr(h, "\r\nX-Request-Id: 0123456789abcdef0123456789abcdef\r\n"), "%s", h);
    free(h);
}

Test(manifest_request, underscore_spellings_of_reserved_headers_never_pass)
{
    ug_header_t hs[] = {H("X_Auth_Subject", "forged"), H("x_auth_scopes", "admin"), H("X_Uploadgate_Signature", "forged"),
                        H("X_Request_Id", "spoofed-id"), H("x-kept", "yes")};
    char *h = build(0, "/upload", hs, 5, NULL);
    cr_assert_null(strstr(h, "forged"), "%s", h);
    cr_assert_null(strstr(h, "admin"), "%s", h);
    cr_assert_null(strstr(h, "spoofed-id"), "%s", h);
    cr_assert_not_null(strstr(h, "\r\nX-Request-Id: 0123456789abcdef0123456789abcdef\r\n"), "%s", h);
    cr_assert_not_null(strstr(h, "\r\nx-kept: yes\r\n"), "%s", h);
    free(h);
}

Test(manifest_request, signed_when_a_key_is_set)
{
    char *h = build(0, "/upload", NULL, 0, (const unsigned char *)"k3y");
    const char *sig = strstr(h, "\r\nX-Uploadgate-Signature: t=1700000000,v1=");
    cr_assert_not_null(sig, "%s", h);
    free(h);
}
