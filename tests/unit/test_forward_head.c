/*
 * The request head sent to the app: which client headers go along, and the
 * X-Forwarded-* / X-Request-Id fields uploadgate writes itself.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "http/forward_head.h"

#define H(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}

static char *build(const ug_header_t *hs, size_t n, size_t *len)
{
    ug_forward_meta_t m = {
        .method = "POST",
        .method_len = 4,
        .target = "/upload?x=1",
        .target_len = 11,
        .backend_authority = "127.0.0.1:8000",
        .client_address = "10.1.2.3",
        .scheme = "https",
        .client_host = "files.example.com",
        .client_host_len = 17,
        .request_id = "abc123",
        .request_id_len = 6,
        .content_length = 42,
    };
    char *head = ug_forward_head_build(&m, hs, n, len);
    cr_assert_not_null(head);
    return head;
}

Test(forward_head, exact_bytes_with_filtering)
{
    ug_header_t hs[] = {
        H("user-agent", "curl/7.88"),
        H("connection", "keep-alive, x-secret-hop"),
        H("x-secret-hop", "1"),
        H("content-type", "multipart/form-data; boundary=x"),
        H("content-length", "999"),
        H("transfer-encoding", "chunked"),
        H("expect", "100-continue"),
        H("te", "trailers"),
        H("upgrade", "h2c"),
        H("http2-settings", "AAAA"),
        H("host", "evil"),
        H("x-forwarded-proto", "http"),
        H("x-forwarded-host", "evil"),
        H("X-Uploadgate-Signature", "forged"),
        H("x-forwarded-for", "192.0.2.1"),
        H("authorization", "Bearer t"),
        H("cookie", "a=b"),
        H("x-request-id", "client-id"),
    };
    size_t len;
    char *head = build(hs, sizeof(hs) / sizeof(hs[0]), &len);
    const char *expected = "POST /upload?x=1 HTTP/1.1\r\n"
                           "Host: 127.0.0.1:8000\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: 42\r\n"
                           "user-agent: curl/7.88\r\n"
                           "authorization: Bearer t\r\n"
                           "cookie: a=b\r\n"
                           "X-Forwarded-For: 192.0.2.1, 10.1.2.3\r\n"
                           "X-Forwarded-Proto: https\r\n"
                           "X-Forwarded-Host: files.example.com\r\n"
                           "X-Request-Id: abc123\r\n"
                           "\r\n";
    cr_assert_eq(len, strlen(expected), "length %zu, head:\n%.*s", len, (int)len, head);
    cr_assert_arr_eq(head, expected, len);
    free(head);
}

Test(forward_head, several_forwarded_for_are_kept_in_order)
{
    ug_header_t hs[] = {H("x-forwarded-for", "192.0.2.1"), H("x-forwarded-for", "198.51.100.7, 203.0.113.9")};
    size_t len;
    char *head = build(hs, 2, &len);
    cr_assert_not_null(memmem(head, len, "X-Forwarded-For: 192.0.2.1, 198.51.100.7, 203.0.113.9, 10.1.2.3\r\n",
                              strlen("X-Forwarded-For: 192.0.2.1, 198.51.100.7, 203.0.113.9, 10.1.2.3\r\n")));
    free(head);
}

Test(forward_head, hop_by_hop_table)
{
    cr_assert(ug_header_is_hop_by_hop("Connection", 10));
    cr_assert(ug_header_is_hop_by_hop("KEEP-ALIVE", 10));
    cr_assert(ug_header_is_hop_by_hop("transfer-encoding", 17));
    cr_assert(!ug_header_is_hop_by_hop("content-type", 12));
    cr_assert(!ug_header_is_hop_by_hop("te-x", 4));
    cr_assert(ug_header_drop_for_client("content-length", 14));
    cr_assert(ug_header_drop_for_client("Transfer-Encoding", 17));
    cr_assert(!ug_header_drop_for_client("content-type", 12));
    cr_assert(!ug_header_drop_for_client("set-cookie", 10));
    cr_assert(ug_header_drop_for_client("Date", 4));
    cr_assert(ug_header_drop_for_client("server", 6));
    cr_assert(!ug_header_drop_for_client("server-timing", 13));
    cr_assert(!ug_header_drop_for_client("dat", 3));
}

Test(forward_head, request_id_acceptance)
{
    cr_assert(ug_request_id_is_acceptable("abc-123_XYZ", 11));
    cr_assert(!ug_request_id_is_acceptable("", 0));
    cr_assert(!ug_request_id_is_acceptable("a b", 3));
    cr_assert(!ug_request_id_is_acceptable("a\r\nb", 4));
    char long_id[201];
    memset(long_id, 'a', sizeof(long_id));
    cr_assert(ug_request_id_is_acceptable(long_id, 200));
    cr_assert(!ug_request_id_is_acceptable(long_id, 201));
}

Test(forward_head, names_compare_with_underscore_as_hyphen)
{
    cr_assert(ug_header_name_is("X_Forwarded_For", 15, "x-forwarded-for"));
    cr_assert(ug_header_name_is("x-FORWARDED_for", 15, "x-forwarded-for"));
    cr_assert(!ug_header_name_is("x-forwarded-fo", 14, "x-forwarded-for"));
    cr_assert(!ug_header_name_is("x.forwarded.for", 15, "x-forwarded-for"));
    cr_assert(ug_header_name_has_prefix("X_Uploadgate_Anything", 21, "x-uploadgate-"));
    cr_assert(!ug_header_name_has_prefix("X_Uploadgate", 12, "x-uploadgate-"));
    cr_assert(ug_header_is_hop_by_hop("Keep_Alive", 10));
    cr_assert(ug_header_is_hop_by_hop("transfer_encoding", 17));
    cr_assert(ug_header_is_hop_by_hop("Proxy_Authorization", 19));
}

/* Underscore spellings of every field the manifest request writes or strips are dropped, never taken: X_Request_Id is
 * not the request id, X_Forwarded_For is not merged into the chain. */
Test(forward_head, underscore_spellings_are_dropped_for_app)
{
    ug_header_t hs[] = {
        H("x_forwarded_for", "6.6.6.6"), H("X_Forwarded_Proto", "https"), H("x_forwarded_host", "evil"),
        H("X_Request_Id", "spoofed"),    H("Content_Length", "1"),        H("Transfer_Encoding", "chunked"),
        H("keep_alive", "1"),            H("X_Uploadgate_Signature", "forged"), H("Host_", "kept"),
        H("x_custom", "kept too"),
    };
    size_t len;
    char *head = build(hs, sizeof(hs) / sizeof(hs[0]), &len);
    const char *expected = "POST /upload?x=1 HTTP/1.1\r\n"
                           "Host: 127.0.0.1:8000\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: 42\r\n"
                           "Host_: kept\r\n"
                           "x_custom: kept too\r\n"
                           "X-Forwarded-For: 10.1.2.3\r\n"
                           "X-Forwarded-Proto: https\r\n"
                           "X-Forwarded-Host: files.example.com\r\n"
                           "X-Request-Id: abc123\r\n"
                           "\r\n";
    cr_assert_eq(len, strlen(expected), "length %zu, head:\n%.*s", len, (int)len, head);
    cr_assert_arr_eq(head, expected, len);
    free(head);
}

/* RFC 9110 7.6.1: every field Connection names goes, in either spelling, whichever Connection field names it; the
 * fields uploadgate adds itself stay whatever Connection says. */
Test(forward_head, connection_listed_fields_are_dropped_but_never_ours)
{
    ug_header_t hs[] = {
        H("connection", "close"),
        H("Connection", " x-hop-a ,X_Hop_B,, x-auth-subject, x-forwarded-host, x-request-id"),
        H("x-hop-a", "1"),
        H("x_hop_a", "2"),
        H("x-hop-b", "3"),
        H("x-hop-c", "kept"),
        H("x-auth-subject", "forged, dropped by the caller anyway"),
    };
    ug_header_t own[] = {{"X-Auth-Subject", 14, "alice", 5}};
    ug_forward_meta_t m = {
        .method = "POST", .method_len = 4, .target = "/u", .target_len = 2, .backend_authority = "app",
        .client_address = "10.1.2.3", .scheme = "http", .client_host = "h", .client_host_len = 1,
        .request_id = "rid", .request_id_len = 3, .content_length = 2, .own = own, .num_own = 1,
    };
    size_t len;
    char *head = ug_forward_head_build(&m, hs, sizeof(hs) / sizeof(hs[0]), &len);
    cr_assert_not_null(head);
    const char *expected = "POST /u HTTP/1.1\r\n"
                           "Host: app\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: 2\r\n"
                           "x-hop-c: kept\r\n"
                           "X-Auth-Subject: alice\r\n"
                           "X-Forwarded-For: 10.1.2.3\r\n"
                           "X-Forwarded-Proto: http\r\n"
                           "X-Forwarded-Host: h\r\n"
                           "X-Request-Id: rid\r\n"
                           "\r\n";
    cr_assert_eq(len, strlen(expected), "length %zu, head:\n%.*s", len, (int)len, head);
    cr_assert_arr_eq(head, expected, len);
    free(head);
}

/* Pass-through: the proxy handles the exact spellings of its own fields; their underscore spellings, hop-by-hop
 * fields and Connection-listed ones never reach the app. */
Test(forward_head, drop_for_pass)
{
    ug_header_t all[] = {H("connection", "x-secret, X_Other"), H("x-secret", "1")};
#define PASS_DROPS(n) ug_header_drop_for_pass(n, sizeof(n) - 1, all, 2)
    cr_assert(PASS_DROPS("connection"));
    cr_assert(PASS_DROPS("x-secret"));
    cr_assert(PASS_DROPS("X_Secret"));
    cr_assert(PASS_DROPS("x-other"));
    cr_assert(PASS_DROPS("Keep_Alive"));
    cr_assert(PASS_DROPS("te"));
    cr_assert(PASS_DROPS("X_Forwarded_For"));
    cr_assert(PASS_DROPS("x_forwarded_proto"));
    cr_assert(PASS_DROPS("X_Request_Id"));
    cr_assert(PASS_DROPS("content_length"));
    cr_assert(PASS_DROPS("X_Uploadgate_Whatever"));
    cr_assert(!PASS_DROPS("x-forwarded-for"));
    cr_assert(!PASS_DROPS("X-Request-Id"));
    cr_assert(!PASS_DROPS("content-type"));
    cr_assert(!PASS_DROPS("x_custom"));
    cr_assert(!PASS_DROPS("authorization"));
#undef PASS_DROPS
}
