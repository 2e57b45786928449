/*
 * The request head sent to the app: which client headers go along, and the
 * X-Forwarded-* / X-Request-Id fields uploadgate writes itself.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "forward_head.h"

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
