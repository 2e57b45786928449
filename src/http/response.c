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

char *ug_response_render(const ug_response_t *r, size_t *len)
{
    size_t reason_len = r->reason_len, date_len = r->date != NULL ? strlen(r->date) : 0,
           server_len = r->server != NULL ? strlen(r->server) : 0;
    /* Status line and the fixed fields: names, separators and a 20-digit length at most. */
    size_t cap = sizeof("HTTP/1.1 999 \r\nDate: \r\nConnection: keep-alive\r\nContent-Length: \r\nServer: \r\n\r\n") + 20 +
                 reason_len + date_len + server_len + r->body_len;
    for (size_t i = 0; i < r->num_headers; ++i)
        cap += r->headers[i].name_len + r->headers[i].value_len + 4;

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
    for (size_t i = 0; i < r->num_headers; ++i) {
        const ug_header_t *h = &r->headers[i];
        if (h->name_len == 0 || has_line_break(h->name, h->name_len) || has_line_break(h->value, h->value_len))
            continue;
        p = put(p, h->name, h->name_len);
        p = put(p, ": ", 2);
        p = put(p, h->value, h->value_len);
        p = put(p, "\r\n", 2);
    }
    p = put(p, "\r\n", 2);
    if (r->body_len != 0)
        p = put(p, r->body, r->body_len);
    *len = (size_t)(p - buf);
    return buf;
}
