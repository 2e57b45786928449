/*
 * front/h2_head.c - see front/h2_head.h.
 */
#include "front/h2_head.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void ug_h2_head_scan(const ug_h2_request_head_t *in, ug_head_t *h)
{
    *h = (ug_head_t){
        .method = in->method,
        .method_len = in->method_len,
        .target = in->path,
        .target_len = in->path_len,
        .minor_version = 1, /* HTTP/1.1 semantics for the front's checks (Expect, Host) */
        .headers = in->fields,
        .num_headers = in->num_fields,
    };
    ug_head_scan(h);
    if (in->authority != NULL) {
        h->host = in->authority;
        h->host_len = in->authority_len;
        h->host_count = 1;
        if (!ug_head_host_is_valid(in->authority, in->authority_len))
            h->host_error = "the :authority is not a valid host[:port] (RFC 3986 3.2.2, 3.2.3)";
    }
    h->keep_alive = 1; /* a stream ending never ends the connection */
    if (in->end_stream) {
        h->framing = UG_HEAD_BODY_NONE;
        h->content_length = 0;
    } else if (h->framing == UG_HEAD_BODY_NONE) {
        h->framing = UG_HEAD_BODY_STREAM;
    }
}

size_t ug_h2_response_nva(nghttp2_nv *nva, ug_h2_nva_bufs_t *bufs, int status, const char *date, size_t date_len,
                          const char *server, size_t server_len, const ug_header_t *fields, size_t num_fields,
                          size_t content_length)
{
    static const char *const dropped[] = {"connection",        "keep-alive", "proxy-connection",
                                          "transfer-encoding", "upgrade",    "content-length"};
    size_t n = 0;
#define NV(n_, nl_, v_, vl_) ((nghttp2_nv){(uint8_t *)(n_), (uint8_t *)(v_), (nl_), (vl_), NGHTTP2_NV_FLAG_NONE})
    snprintf(bufs->status, sizeof(bufs->status), "%03u", (unsigned)status % 1000);
    nva[n++] = NV(":status", 7, bufs->status, 3);
    if (date_len != 0)
        nva[n++] = NV("date", 4, date, date_len);
    if (server_len != 0)
        nva[n++] = NV("server", 6, server, server_len);
    for (size_t i = 0; i < num_fields; ++i) {
        const ug_header_t *f = &fields[i];
        int drop = 0;
        for (size_t j = 0; j < sizeof(dropped) / sizeof(dropped[0]) && !drop; ++j)
            drop = f->name_len == strlen(dropped[j]) && strncasecmp(f->name, dropped[j], f->name_len) == 0;
        if (!drop)
            nva[n++] = NV(f->name, f->name_len, f->value, f->value_len);
    }
    if (content_length != SIZE_MAX) {
        int l = snprintf(bufs->content_length, sizeof(bufs->content_length), "%zu", content_length);
        nva[n++] = NV("content-length", 14, bufs->content_length, (size_t)l);
    }
#undef NV
    return n;
}
