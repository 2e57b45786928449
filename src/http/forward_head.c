/*
 * forward_head.c - see forward_head.h.
 */
#include "http/forward_head.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Exact spelling, any case: for the fields uploadgate takes from a client (X-Forwarded-For values). */
static int name_is(const char *name, size_t len, const char *lit)
{
    size_t l = strlen(lit);
    return len == l && strncasecmp(name, lit, l) == 0;
}

/* A field name's byte as the drop decisions compare it: lower-case, '_' read as '-'. */
static char fold(char c)
{
    return c == '_' ? '-' : (char)tolower((unsigned char)c);
}

/* a[0..n) and b[0..n) name the same field, '_' counting as '-' in either. */
static int name_matches(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (fold(a[i]) != fold(b[i]))
            return 0;
    return 1;
}

int ug_header_name_is(const char *name, size_t len, const char *lc)
{
    size_t l = strlen(lc);
    return len == l && name_matches(name, lc, l);
}

int ug_header_name_has_prefix(const char *name, size_t len, const char *lc)
{
    size_t l = strlen(lc);
    return len >= l && name_matches(name, lc, l);
}

static int name_in(const char *name, size_t len, const char *const *list, size_t count)
{
    for (size_t i = 0; i < count; ++i)
        if (ug_header_name_is(name, len, list[i]))
            return 1;
    return 0;
}

int ug_header_is_hop_by_hop(const char *name, size_t len)
{
    static const char *const hop[] = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                                      "te",         "trailer",    "transfer-encoding", "upgrade",           "http2-settings"};
    return name_in(name, len, hop, sizeof(hop) / sizeof(hop[0]));
}

/* Is `name` one of the comma-separated tokens of a Connection header value? */
static int listed_in(const char *name, size_t len, const char *v, size_t vlen)
{
    size_t i = 0;
    while (i < vlen) {
        while (i < vlen && (v[i] == ',' || v[i] == ' ' || v[i] == '\t'))
            ++i;
        size_t start = i;
        while (i < vlen && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            ++i;
        if (i > start && i - start == len && name_matches(v + start, name, len))
            return 1;
    }
    return 0;
}

int ug_header_listed_in_connection(const char *name, size_t len, const ug_header_t *all, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (name_is(all[i].name, all[i].name_len, "connection") && listed_in(name, len, all[i].value, all[i].value_len))
            return 1;
    return 0;
}

/* Fields of the client's that the manifest request writes itself or that describe the client's body. */
static int is_own(const char *name, size_t len)
{
    static const char *const own[] = {"content-length", "content-type",      "content-encoding", "expect",
                                      "host",           "x-forwarded-proto", "x-forwarded-host", "x-forwarded-for",
                                      "x-request-id"};
    return name_in(name, len, own, sizeof(own) / sizeof(own[0]));
}

int ug_header_drop_for_app(const char *name, size_t len, const ug_header_t *all, size_t n)
{
    return ug_header_is_hop_by_hop(name, len) || ug_header_name_has_prefix(name, len, "x-uploadgate-") || is_own(name, len) ||
           ug_header_listed_in_connection(name, len, all, n);
}

int ug_header_drop_for_pass(const char *name, size_t len, const ug_header_t *all, size_t n)
{
    if (ug_header_is_hop_by_hop(name, len) || ug_header_listed_in_connection(name, len, all, n))
        return 1;
    return memchr(name, '_', len) != NULL && (is_own(name, len) || ug_header_name_has_prefix(name, len, "x-uploadgate-"));
}

int ug_header_drop_for_client(const char *name, size_t len)
{
    return ug_header_is_hop_by_hop(name, len) || name_is(name, len, "content-length") || name_is(name, len, "date") ||
           name_is(name, len, "server");
}

int ug_request_id_is_acceptable(const char *v, size_t len)
{
    if (len == 0 || len > UG_REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; ++i)
        if (v[i] <= 0x20 || v[i] >= 0x7f)
            return 0;
    return 1;
}

/* A growable output buffer; `failed` latches the first allocation failure so callers check once at the end. */
struct out {
    char *buf;
    size_t len, cap;
    int failed;
};

static void put(struct out *o, const char *s, size_t len)
{
    if (o->failed)
        return;
    if (o->len + len > o->cap) {
        size_t cap = o->cap * 2 > o->len + len ? o->cap * 2 : o->len + len + 256;
        char *b = realloc(o->buf, cap);
        if (b == NULL) {
            o->failed = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, len);
    o->len += len;
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_header(struct out *o, const char *name, const char *value, size_t value_len)
{
    put_str(o, name);
    put(o, ": ", 2);
    put(o, value, value_len);
    put(o, "\r\n", 2);
}

char *ug_forward_head_build(const ug_forward_meta_t *m, const ug_header_t *headers, size_t n, size_t *len)
{
    struct out o = {NULL, 0, 0, 0};
    char num[32];

    put(&o, m->method, m->method_len);
    put(&o, " ", 1);
    put(&o, m->target, m->target_len);
    put_str(&o, " HTTP/1.1\r\n");
    put_header(&o, "Host", m->backend_authority, strlen(m->backend_authority));
    put_header(&o, "Content-Type", "application/json", strlen("application/json"));
    snprintf(num, sizeof(num), "%llu", (unsigned long long)m->content_length);
    put_header(&o, "Content-Length", num, strlen(num));

    for (size_t i = 0; i < n; ++i) {
        const ug_header_t *h = &headers[i];
        if (ug_header_drop_for_app(h->name, h->name_len, headers, n))
            continue;
        put(&o, h->name, h->name_len);
        put(&o, ": ", 2);
        put(&o, h->value, h->value_len);
        put(&o, "\r\n", 2);
    }
    /* uploadgate's own: after the client's, and never filtered (a Connection field cannot name them away) */
    for (size_t i = 0; i < m->num_own; ++i)
        put_header(&o, m->own[i].name, m->own[i].value, m->own[i].value_len);

    /* X-Forwarded-For: earlier proxies' values stay in order, the peer we saw comes last. */
    put_str(&o, "X-Forwarded-For: ");
    for (size_t i = 0; i < n; ++i) {
        if (name_is(headers[i].name, headers[i].name_len, "x-forwarded-for")) {
            put(&o, headers[i].value, headers[i].value_len);
            put(&o, ", ", 2);
        }
    }
    put_str(&o, m->client_address);
    put(&o, "\r\n", 2);
    put_header(&o, "X-Forwarded-Proto", m->scheme, strlen(m->scheme));
    if (m->client_host != NULL && m->client_host_len != 0)
        put_header(&o, "X-Forwarded-Host", m->client_host, m->client_host_len);
    put_header(&o, "X-Request-Id", m->request_id, m->request_id_len);
    if (m->signature != NULL)
        put_header(&o, "X-Uploadgate-Signature", m->signature, strlen(m->signature));
    put(&o, "\r\n", 2);

    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}
