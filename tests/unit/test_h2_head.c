/*
 * The HTTP/2 front's pure steps (src/front/h2_head.c): a stream's head read
 * as the HTTP/1.1 front reads one, and the response header block handed to
 * nghttp2.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "front/h2_head.h"

#define H(n, v)                                                                                                                    \
    {                                                                                                                              \
        n, sizeof(n) - 1, v, sizeof(v) - 1                                                                                         \
    }
#define HEAD(fs, end)                                                                                                              \
    {                                                                                                                              \
        .method = "POST", .method_len = 4, .path = "/upload?x=1", .path_len = 11, .authority = "files.example:8443",               \
        .authority_len = 18, .fields = (fs), .num_fields = sizeof(fs) / sizeof((fs)[0]), .end_stream = (end)                       \
    }

static void assert_nv(const nghttp2_nv *nv, const char *name, const char *value)
{
    cr_assert_eq(nv->namelen, strlen(name), "name %.*s", (int)nv->namelen, (const char *)nv->name);
    cr_assert_arr_eq(nv->name, name, nv->namelen);
    cr_assert_eq(nv->valuelen, strlen(value), "%s: %.*s", name, (int)nv->valuelen, (const char *)nv->value);
    cr_assert_arr_eq(nv->value, value, nv->valuelen);
}

Test(front_h2_head, content_length_frames_the_body_and_authority_is_the_host)
{
    ug_header_t fs[] = {H("content-type", "multipart/form-data; boundary=b"), H("content-length", "1234"), H("host", "other")};
    ug_h2_request_head_t in = HEAD(fs, 0);
    ug_head_t h;
    ug_h2_head_scan(&in, &h);
    cr_assert_eq(h.framing, UG_HEAD_BODY_CONTENT_LENGTH);
    cr_assert_eq(h.content_length, 1234);
    cr_assert_null(h.framing_error);
    cr_assert_eq(h.host_count, 1);
    cr_assert_eq(h.host_len, 18);
    cr_assert_arr_eq(h.host, "files.example:8443", 18);
    cr_assert_eq(h.content_type_len, 31);
    cr_assert_eq(h.target_len, 11);
    cr_assert(h.keep_alive);
}

Test(front_h2_head, no_length_streams_until_end_stream)
{
    ug_header_t fs[] = {H("content-type", "application/octet-stream")};
    ug_h2_request_head_t in = HEAD(fs, 0);
    ug_head_t h;
    ug_h2_head_scan(&in, &h);
    cr_assert_eq(h.framing, UG_HEAD_BODY_STREAM);
    cr_assert_null(h.framing_error);
}

Test(front_h2_head, end_stream_on_headers_means_no_body)
{
    ug_header_t fs[] = {H("content-type", "application/octet-stream"), H("content-length", "0")};
    ug_h2_request_head_t in = HEAD(fs, 1);
    ug_head_t h;
    ug_h2_head_scan(&in, &h);
    cr_assert_eq(h.framing, UG_HEAD_BODY_NONE);
    cr_assert_eq(h.content_length, 0);
}

Test(front_h2_head, without_authority_the_host_field_counts)
{
    ug_header_t fs[] = {H("host", "a.example"), H("expect", "100-continue")};
    ug_h2_request_head_t in = HEAD(fs, 0);
    in.authority = NULL;
    in.authority_len = 0;
    ug_head_t h;
    ug_h2_head_scan(&in, &h);
    cr_assert_eq(h.host_count, 1);
    cr_assert_arr_eq(h.host, "a.example", 9);
    cr_assert(h.expect_continue);
    cr_assert_not(h.expect_other);
}

Test(front_h2_head, response_block_in_h2o_order_without_connection_fields)
{
    ug_header_t fs[] = {H("content-type", "application/json"),
                        H("Connection", "close"),
                        H("Transfer-Encoding", "chunked"),
                        H("content-length", "99"),
                        H("x-app", "1"),
                        H("Keep-Alive", "timeout=5")};
    nghttp2_nv nva[sizeof(fs) / sizeof(fs[0]) + 4];
    ug_h2_nva_bufs_t bufs;
    size_t n = ug_h2_response_nva(nva, &bufs, 201, "Thu, 26 Nov 2026 04:00:00 GMT", 29, "uploadgate/1", 12, fs,
                                  sizeof(fs) / sizeof(fs[0]), 57);
    cr_assert_eq(n, 6);
    assert_nv(&nva[0], ":status", "201");
    assert_nv(&nva[1], "date", "Thu, 26 Nov 2026 04:00:00 GMT");
    assert_nv(&nva[2], "server", "uploadgate/1");
    assert_nv(&nva[3], "content-type", "application/json");
    assert_nv(&nva[4], "x-app", "1");
    assert_nv(&nva[5], "content-length", "57");
}

Test(front_h2_head, unknown_length_and_no_date_or_server)
{
    nghttp2_nv nva[4];
    ug_h2_nva_bufs_t bufs;
    size_t n = ug_h2_response_nva(nva, &bufs, 204, NULL, 0, NULL, 0, NULL, 0, SIZE_MAX);
    cr_assert_eq(n, 1);
    assert_nv(&nva[0], ":status", "204");
}

Test(front_h2_head, invalid_authority_or_host_field_is_an_error)
{
    ug_header_t none[] = {H("accept", "*/*")};
    ug_h2_request_head_t in = HEAD(none, 1);
    ug_head_t h;
    ug_h2_head_scan(&in, &h);
    cr_assert_null(h.host_error);
    in.authority = "evil@good";
    in.authority_len = 9;
    ug_h2_head_scan(&in, &h);
    cr_assert_not_null(h.host_error);
    in.authority = "good:99999";
    in.authority_len = 10;
    ug_h2_head_scan(&in, &h);
    cr_assert_not_null(h.host_error);

    ug_header_t bad_host[] = {H("host", "a b")};
    ug_h2_request_head_t in2 = HEAD(bad_host, 1); /* a valid :authority does not excuse a bad host field */
    ug_h2_head_scan(&in2, &h);
    cr_assert_not_null(h.host_error);
    in2.authority = NULL;
    in2.authority_len = 0;
    ug_h2_head_scan(&in2, &h);
    cr_assert_not_null(h.host_error);
}
