/*
 * http/response.c - see http/response.h.
 */
#include "http/response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int has_line_break(const char *s, size_t len)
{
    for (size_t i = 0; i < len; ++i)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return 1;
    return 0;
}

static char *put(char *dst, const char *s, size_t len)
{
    memcpy(dst, s, len);
    return dst + len;
}

/* The fields a head may carry (see has_line_break), each on its line. */
static char *put_fields(char *p, const ug_header_t *hs, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        const ug_header_t *h = &hs[i];
        if (h->name_len == 0 || has_line_break(h->name, h->name_len) || has_line_break(h->value, h->value_len))
            continue;
        p = put(p, h->name, h->name_len);
        p = put(p, ": ", 2);
        p = put(p, h->value, h->value_len);
        p = put(p, "\r\n", 2);
    }
    return p;
}

static size_t fields_size(const ug_header_t *hs, size_t n)
{
    size_t size = 0;
    for (size_t i = 0; i < n; ++i)
        size += hs[i].name_len + hs[i].value_len + 4;
    return size;
}

size_t ug_response_render_interim(int status, const char *reason, const ug_header_t *headers, size_t num_headers,
                                  char *out, size_t size)
{
    size_t reason_len = strlen(reason);
    if (status < 100 || status > 199 || sizeof("HTTP/1.1 199 \r\n\r\n") + reason_len + fields_size(headers, num_headers) > size)
        return 0;
    char *p = out + sprintf(out, "HTTP/1.1 %d ", status);
    for (size_t i = 0; i < reason_len; ++i)
        *p++ = reason[i] == '\r' || reason[i] == '\n' ? ' ' : reason[i];
    p = put(p, "\r\n", 2);
    p = put_fields(p, headers, num_headers);
    p = put(p, "\r\n", 2);
    return (size_t)(p - out);
}

char *ug_response_render(const ug_response_t *r, size_t *len)
{
    size_t reason_len = r->reason_len, date_len = r->date != NULL ? strlen(r->date) : 0,
           server_len = r->server != NULL ? strlen(r->server) : 0;
    /* Status line and the fixed fields: names, separators and a 20-digit length at most. */
    size_t cap = sizeof("HTTP/1.1 999 \r\nDate: \r\nConnection: keep-alive\r\nContent-Length: \r\nServer: \r\n\r\n") + 20 +
                 reason_len + date_len + server_len + r->body_len + fields_size(r->headers, r->num_headers);

    char *buf = malloc(cap), *p = buf;
    if (buf == NULL)
        return NULL;
    p += sprintf(p, "HTTP/1.1 %d ", r->status);
    for (size_t i = 0; i < reason_len; ++i)
        *p++ = r->reason[i] == '\r' || r->reason[i] == '\n' ? ' ' : r->reason[i];
    p = put(p, "\r\n", 2);
    if (r->date != NULL) {
        p = put(p, "Date: ", 6);
        p = put(p, r->date, date_len);
        p = put(p, "\r\n", 2);
    }
    p += sprintf(p, "Connection: %s\r\nContent-Length: %zu\r\n", r->keep_alive ? "keep-alive" : "close", r->body_len);
    if (r->server != NULL) {
        p = put(p, "Server: ", 8);
        p = put(p, r->server, server_len);
        p = put(p, "\r\n", 2);
    }
    p = put_fields(p, r->headers, r->num_headers);
    p = put(p, "\r\n", 2);
    if (r->body_len != 0)
        p = put(p, r->body, r->body_len);
    *len = (size_t)(p - buf);
    return buf;
}
