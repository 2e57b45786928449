/*
 * The bytes of a response written by the HTTP/1.1 front (src/http/response.c):
 * h2o 2.2.5's field order, Content-Length always, and nothing that could
 * break a line into the head. Compiled in directly (the file is not in ugcore).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "http/response.h"

#define H(n, v)                                                                                                                    \
    {                                                                                                                              \
        n, sizeof(n) - 1, v, sizeof(v) - 1                                                                                         \
    }

static char *render(const ug_response_t *r, size_t *len)
{
    char *out = ug_response_render(r, len);
    cr_assert_not_null(out);
    return out;
}

Test(front_response, exact_bytes)
{
    ug_header_t hs[] = {H("content-type", "application/json"), H("vary", "Origin")};
    ug_response_t r = {.status = 201,
                             .reason = "Created",
                             .reason_len = 7,
                             .headers = hs,
                             .num_headers = 2,
                             .body = "{}",
                             .body_len = 2,
                             .keep_alive = 1,
                             .date = "Sun, 06 Nov 1994 08:49:37 GMT",
                             .server = "uploadgate/0.1.0"};
    size_t len;
    char *out = render(&r, &len);
    static const char want[] = "HTTP/1.1 201 Created\r\n"
                               "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                               "Connection: keep-alive\r\n"
                               "Content-Length: 2\r\n"
                               "Server: uploadgate/0.1.0\r\n"
                               "content-type: application/json\r\n"
                               "vary: Origin\r\n"
                               "\r\n"
                               "{}";
    cr_assert_eq(len, sizeof(want) - 1);
    cr_assert_eq(memcmp(out, want, len), 0, "%.*s", (int)len, out);
    free(out);
}

Test(front_response, close_empty_body_no_date_no_server)
{
    ug_response_t r = {.status = 204, .reason = "No Content", .reason_len = 10};
    size_t len;
    char *out = render(&r, &len);
    static const char want[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(len, sizeof(want) - 1);
    cr_assert_eq(memcmp(out, want, len), 0, "%.*s", (int)len, out);
    free(out);
}

Test(front_response, no_line_breaks_smuggled)
{
    ug_header_t hs[] = {H("x-ok", "1"), H("x-bad", "a\r\nSet-Cookie: x=1"), H("x\nbad", "v"), {"", 0, "v", 1}};
    ug_response_t r = {.status = 200, .reason = "O\r\nK", .reason_len = 4, .headers = hs, .num_headers = 4};
    size_t len;
    char *out = render(&r, &len);
    static const char want[] = "HTTP/1.1 200 O  K\r\nConnection: close\r\nContent-Length: 0\r\nx-ok: 1\r\n\r\n";
    cr_assert_eq(len, sizeof(want) - 1);
    cr_assert_eq(memcmp(out, want, len), 0, "%.*s", (int)len, out);
    free(out);
}

Test(front_response, binary_body_and_long_reason)
{
    char body[300], reason[200];
    for (size_t i = 0; i < sizeof(body); ++i)
        body[i] = (char)i;
    memset(reason, 'r', sizeof(reason));
    ug_response_t r = {.status = 599, .reason = reason, .reason_len = sizeof(reason), .body = body, .body_len = sizeof(body)};
    size_t len;
    char *out = render(&r, &len);
    cr_assert(len > sizeof(body));
    cr_assert_eq(memcmp(out + len - sizeof(body), body, sizeof(body)), 0);
    cr_assert_not_null(strstr(out, "Content-Length: 300\r\n"));
    free(out);
}

Test(front_response, interim_head_without_content_length)
{
    ug_header_t hs[] = {H("location", "/files/abc"), H("upload-draft-interop-version", "6"), H("x-bad", "a\r\nb")};
    char out[256];
    size_t n = ug_response_render_interim(104, "Upload Resumption Supported", hs, 3, out, sizeof(out));
    const char *want = "HTTP/1.1 104 Upload Resumption Supported\r\nlocation: /files/abc\r\n"
                       "upload-draft-interop-version: 6\r\n\r\n";
    cr_assert_eq(n, strlen(want));
    cr_assert_eq(memcmp(out, want, n), 0, "%.*s", (int)n, out);
}

Test(front_response, interim_refuses_final_status_and_small_buffer)
{
    ug_header_t hs[] = {H("location", "/files/abc")};
    char out[256];
    cr_assert_eq(ug_response_render_interim(200, "OK", hs, 1, out, sizeof(out)), 0);
    cr_assert_eq(ug_response_render_interim(104, "Upload Resumption Supported", hs, 1, out, 40), 0);
}
