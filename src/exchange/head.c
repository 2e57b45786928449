/*
 * exchange/head.c - see exchange/head.h.
 */
#include "exchange/head.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/httpchar.h"

static int name_is(const ug_header_t *h, const char *lc)
{
    size_t l = strlen(lc);
    return h->name_len == l && strncasecmp(h->name, lc, l) == 0;
}

static void trim(const char **v, size_t *len)
{
    while (*len != 0 && (**v == ' ' || **v == '\t')) {
        ++*v;
        --*len;
    }
    while (*len != 0 && ((*v)[*len - 1] == ' ' || (*v)[*len - 1] == '\t'))
        --*len;
}

const ug_header_t *ug_head_find(const ug_head_t *h, const char *name, unsigned *count)
{
    const ug_header_t *first = NULL;
    unsigned n = 0;
    for (size_t i = 0; i < h->num_headers; ++i) {
        if (name_is(&h->headers[i], name)) {
            if (first == NULL)
                first = &h->headers[i];
            ++n;
        }
    }
    if (count != NULL)
        *count = n;
    return first;
}

int ug_head_has_token(const char *list, size_t len, const char *token)
{
    size_t tlen = strlen(token), i = 0;
    while (i < len) {
        while (i < len && (list[i] == ',' || list[i] == ' ' || list[i] == '\t'))
            ++i;
        size_t start = i;
        while (i < len && list[i] != ',')
            ++i;
        const char *t = list + start;
        size_t l = i - start;
        trim(&t, &l);
        if (l == tlen && strncasecmp(t, token, tlen) == 0)
            return 1;
    }
    return 0;
}

/* Content-Length = 1*DIGIT (RFC 9110 8.6). A list ("5, 5") is not accepted: no client needs it. */
static int parse_content_length(const char *v, size_t len, uint64_t *out)
{
    uint64_t n = 0;
    trim(&v, &len);
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; ++i) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(v[i] - '0');
        if (n > (UINT64_MAX - d) / 10) /* would not fit */
            return -1;
        n = n * 10 + d;
    }
    *out = n;
    return 0;
}

static void scan_framing(ug_head_t *h, const ug_header_t *cl, unsigned cl_count, const ug_header_t *te, unsigned te_count)
{
    if (te != NULL) {
        /* RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means faulty framing; with Content-Length as well it invites
         * request smuggling, and the server must close after answering anyway, so refuse it outright. Only "chunked"
         * alone is supported, as in h2o 2.2.5 (lib/http1.c create_entity_reader). */
        const char *v = te->value;
        size_t len = te->value_len;
        trim(&v, &len);
        if (h->minor_version == 0)
            h->framing_error = "Transfer-Encoding is not allowed in an HTTP/1.0 request";
        else if (cl != NULL)
            h->framing_error = "a request must not carry both Content-Length and Transfer-Encoding";
        else if (te_count != 1 || len != 7 || strncasecmp(v, "chunked", 7) != 0)
            h->framing_error = "unsupported transfer coding (only chunked is accepted)";
        else
            h->framing = UG_HEAD_BODY_CHUNKED;
        return;
    }
    if (cl == NULL)
        return;
    /* RFC 9112 6.3 item 5: an invalid Content-Length is unrecoverable framing; several fields must agree. */
    uint64_t n = 0;
    if (parse_content_length(cl->value, cl->value_len, &n) != 0) {
        h->framing_error = "invalid Content-Length";
        return;
    }
    for (size_t i = 0; cl_count > 1 && i < h->num_headers; ++i) {
        uint64_t m;
        if (name_is(&h->headers[i], "content-length") &&
            (parse_content_length(h->headers[i].value, h->headers[i].value_len, &m) != 0 || m != n)) {
            h->framing_error = "conflicting Content-Length fields";
            return;
        }
    }
    h->framing = UG_HEAD_BODY_CONTENT_LENGTH;
    h->content_length = n;
}

int ug_head_absolute_target(const char *target, size_t len, const char **path, size_t *path_len, const char **authority,
                             size_t *authority_len)
{
    size_t i;
    if (len >= 7 && strncasecmp(target, "http://", 7) == 0)
        i = 7;
    else if (len >= 8 && strncasecmp(target, "https://", 8) == 0)
        i = 8;
    else
        return 0;
    size_t a = i;
    while (i < len && target[i] != '/' && target[i] != '?' && target[i] != '#')
        ++i;
    if (i == a || memchr(target + a, '@', i - a) != NULL || (i < len && target[i] != '/'))
        return -1; /* no authority; userinfo (RFC 9110 4.2.4); a query or fragment without a path */
    *authority = target + a;
    *authority_len = i - a;
    if (i == len) {
        *path = "/";
        *path_len = 1;
    } else {
        *path = target + i;
        *path_len = len - i;
    }
    return 1;
}

static int is_hex(char c)
{
    return ug_hex_value((unsigned char)c) >= 0;
}

/* RFC 3986 2.3 unreserved and 2.2 sub-delims */
static int is_unreserved_or_sub_delim(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=", c) != NULL;
}

/* reg-name = 1*( unreserved / pct-encoded / sub-delims ) (RFC 3986 3.2.2; an empty one names no host) */
static int valid_reg_name(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] == '%') {
            if (len - i < 3 || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
                return 0;
            i += 2;
        } else if (s[i] == '\0' || !is_unreserved_or_sub_delim(s[i])) {
            return 0;
        }
    }
    return 1;
}

/* IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
static int valid_ipvfuture(const char *s, size_t len)
{
    size_t i = 1;
    if (len < 4 || (s[0] != 'v' && s[0] != 'V'))
        return 0;
    while (i < len && is_hex(s[i]))
        ++i;
    if (i == 1 || i >= len - 1 || s[i] != '.')
        return 0;
    for (++i; i < len; ++i)
        if (s[i] == '\0' || (s[i] != ':' && !is_unreserved_or_sub_delim(s[i])))
            return 0;
    return 1;
}

/* IP-literal = "[" ( IPv6address / IPvFuture ) "]", given without its brackets */
static int valid_ip_literal(const char *s, size_t len)
{
    char text[INET6_ADDRSTRLEN];
    unsigned char addr[16];
    if (len != 0 && (s[0] == 'v' || s[0] == 'V'))
        return valid_ipvfuture(s, len);
    if (len == 0 || len >= sizeof(text) || memchr(s, '\0', len) != NULL)
        return 0;
    memcpy(text, s, len);
    text[len] = '\0';
    return inet_pton(AF_INET6, text, addr) == 1;
}

/* port: 1 to 5 digits, at most 65535 (RFC 3986 allows none or more; nothing needs that) */
static int valid_port(const char *s, size_t len)
{
    unsigned n = 0;
    if (len == 0 || len > 5)
        return 0;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        n = n * 10 + (unsigned)(s[i] - '0');
    }
    return n <= 65535;
}

int ug_head_host_is_valid(const char *v, size_t len)
{
    size_t host_len;
    int host_ok;
    if (len != 0 && v[0] == '[') {
        const char *close = memchr(v, ']', len);
        if (close == NULL)
            return 0;
        host_len = (size_t)(close - v) + 1;
        host_ok = valid_ip_literal(v + 1, host_len - 2);
    } else {
        const char *colon = memchr(v, ':', len);
        host_len = colon != NULL ? (size_t)(colon - v) : len;
        host_ok = valid_reg_name(v, host_len);
    }
    if (!host_ok)
        return 0;
    if (host_len == len)
        return 1;
    return v[host_len] == ':' && valid_port(v + host_len + 1, len - host_len - 1);
}

/* The byte a "%XX" at path[i] stands for, or -1 when path[i] does not start a valid one. */
static int percent_byte(const char *path, size_t len, size_t i)
{
    if (path[i] != '%' || len - i < 3 || ug_hex_value((unsigned char)path[i + 1]) < 0 || ug_hex_value((unsigned char)path[i + 2]) < 0)
        return -1;
    return ug_hex_value((unsigned char)path[i + 1]) * 16 + ug_hex_value((unsigned char)path[i + 2]);
}

static int is_dot_segment(const char *seg, size_t len)
{
    return (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.');
}

ug_head_target_problem_t ug_head_target_check(const char *target, size_t len)
{
    if (len != 0 && memchr(target, '#', len) != NULL)
        return UG_HEAD_TARGET_FRAGMENT;
    if (len == 0 || target[0] != '/')
        return UG_HEAD_TARGET_NOT_A_PATH;
    const char *q = memchr(target, '?', len);
    size_t path_len = q != NULL ? (size_t)(q - target) : len, seg = 1;
    for (size_t i = 1; i <= path_len; ++i) {
        if (i == path_len || target[i] == '/') {
            if (is_dot_segment(target + seg, i - seg))
                return UG_HEAD_TARGET_DOT_SEGMENT;
            seg = i + 1;
            continue;
        }
        int b = percent_byte(target, path_len, i);
        if (target[i] == '\\')
            return UG_HEAD_TARGET_BACKSLASH;
        if (target[i] == '\0' || b == 0)
            return UG_HEAD_TARGET_NUL;
        if (b == '/' || b == '.' || b == '\\')
            return UG_HEAD_TARGET_ENCODED_DELIMITER;
    }
    return UG_HEAD_TARGET_OK;
}

const char *ug_head_target_message(ug_head_target_problem_t p)
{
    switch (p) {
    case UG_HEAD_TARGET_OK:
        return NULL;
    case UG_HEAD_TARGET_NOT_A_PATH:
        return "the request target must be a path or an absolute http(s) URI";
    case UG_HEAD_TARGET_FRAGMENT:
        return "the request target must not contain a fragment ('#', RFC 9112 3.2)";
    case UG_HEAD_TARGET_DOT_SEGMENT:
        return "the request path must not contain '.' or '..' segments";
    case UG_HEAD_TARGET_ENCODED_DELIMITER:
        return "the request path must not contain a percent-encoded '/', '.' or '\\' (%2F, %2E, %5C)";
    case UG_HEAD_TARGET_BACKSLASH:
        return "the request path must not contain a backslash";
    case UG_HEAD_TARGET_NUL:
        return "the request path must not contain a NUL byte (%00)";
    }
    return "the request target is not acceptable";
}

/* The target as a path: an absolute-form URI's path, its authority for Host (RFC 9112 3.2.2); then the rules every
 * path routed must follow (ug_head_target_check). */
static void scan_target(ug_head_t *h)
{
    const char *path, *authority;
    size_t path_len, authority_len;
    int r = ug_head_absolute_target(h->target, h->target_len, &path, &path_len, &authority, &authority_len);
    if (r < 0) {
        h->target_error = ug_head_target_message(UG_HEAD_TARGET_NOT_A_PATH);
        return;
    }
    if (r > 0) {
        h->target = path;
        h->target_len = path_len;
        h->host = authority;
        h->host_len = authority_len;
        if (!ug_head_host_is_valid(authority, authority_len))
            h->host_error = "the request target's authority is not a valid host[:port]";
    }
    h->target_error = ug_head_target_message(ug_head_target_check(h->target, h->target_len));
}

void ug_head_scan(ug_head_t *h)
{
    const ug_header_t *cl = NULL, *te = NULL;
    unsigned cl_count = 0, te_count = 0;
    int conn_close = 0, conn_keep_alive = 0;

    h->framing = UG_HEAD_BODY_NONE;
    h->content_length = 0;
    h->framing_error = NULL;
    h->expect_continue = h->expect_other = h->malformed = 0;
    h->host = h->content_type = NULL;
    h->host_len = h->content_type_len = 0;
    h->host_count = 0;
    h->host_error = NULL;
    h->target_error = NULL;

    for (size_t i = 0; i < h->num_headers; ++i) {
        const ug_header_t *f = &h->headers[i];
        if (f->name == NULL || f->name_len == 0) { /* obs-fold continuation (RFC 9112 5.2): h2o decides */
            h->malformed = 1;
            continue;
        }
        if (name_is(f, "content-length")) {
            if (cl_count++ == 0)
                cl = f;
        } else if (name_is(f, "transfer-encoding")) {
            if (te_count++ == 0)
                te = f;
        } else if (name_is(f, "connection")) {
            conn_close |= ug_head_has_token(f->value, f->value_len, "close");
            conn_keep_alive |= ug_head_has_token(f->value, f->value_len, "keep-alive");
        } else if (name_is(f, "expect")) {
            const char *v = f->value;
            size_t len = f->value_len;
            trim(&v, &len);
            /* RFC 9110 10.1.1: the only expectation defined is 100-continue, compared case-insensitively. */
            if (len == 12 && strncasecmp(v, "100-continue", 12) == 0)
                h->expect_continue = 1;
            else
                h->expect_other = 1;
        } else if (name_is(f, "host")) {
            if (!ug_head_host_is_valid(f->value, f->value_len))
                h->host_error = "the Host field is not a valid host[:port] (RFC 3986 3.2.2, 3.2.3)";
            if (h->host_count++ == 0) {
                h->host = f->value;
                h->host_len = f->value_len;
            }
        } else if (name_is(f, "content-type")) {
            if (h->content_type == NULL) {
                h->content_type = f->value;
                h->content_type_len = f->value_len;
            }
        }
    }
    scan_framing(h, cl, cl_count, te, te_count);
    scan_target(h);
    /* RFC 9112 9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive". */
    h->keep_alive = !conn_close && (h->minor_version >= 1 || conn_keep_alive);
}

int ug_head_h2c_upgrade(const ug_head_t *h, const char **settings, size_t *settings_len)
{
    unsigned n;
    const ug_header_t *up = ug_head_find(h, "upgrade", NULL), *conn = ug_head_find(h, "connection", NULL);
    const ug_header_t *hs = ug_head_find(h, "http2-settings", &n);
    if (h->minor_version < 1 || up == NULL || conn == NULL || hs == NULL || n != 1)
        return 0;
    if (!ug_head_has_token(up->value, up->value_len, "h2c") || !ug_head_has_token(conn->value, conn->value_len, "upgrade") ||
        !ug_head_has_token(conn->value, conn->value_len, "http2-settings"))
        return 0;
    *settings = hs->value;
    *settings_len = hs->value_len;
    return 1;
}

int ug_head_path_is_plain(const char *target, size_t len, size_t *path_len)
{
    size_t i;
    if (len == 0 || target[0] != '/')
        return 0; /* absolute-form, authority-form, asterisk-form: h2o's */
    for (i = 0; i < len && target[i] != '?'; ++i) {
        if (target[i] == '%' || (target[i] == '/' && i + 1 < len && target[i + 1] == '.'))
            return 0;
    }
    *path_len = i;
    return 1;
}

static int method_is(const ug_head_t *h, const char *m)
{
    size_t l = strlen(m);
    return h->method_len == l && memcmp(h->method, m, l) == 0;
}

ug_err_t ug_head_refusal(const ug_head_t *h, const char **message)
{
    if (h->malformed) {
        *message = "obsolete line folding is not accepted (RFC 9112 5.2)";
        return UG_ERR_BAD_REQUEST;
    }
    if (h->host_count > 1 || (h->host_count == 0 && h->minor_version >= 1)) {
        *message = "an HTTP/1.1 request must carry exactly one Host field (RFC 9112 3.2)";
        return UG_ERR_BAD_REQUEST;
    }
    if (h->host_error != NULL) {
        *message = h->host_error;
        return UG_ERR_BAD_REQUEST;
    }
    if (h->framing_error != NULL) {
        *message = h->framing_error;
        return UG_ERR_BAD_REQUEST;
    }
    if (h->target_error != NULL) {
        *message = h->target_error;
        return UG_ERR_BAD_REQUEST;
    }
    if (method_is(h, "CONNECT")) {
        *message = "CONNECT is not supported: uploadgate is not a forward proxy";
        return UG_ERR_BAD_REQUEST;
    }
    if (h->expect_other && h->minor_version >= 1) { /* HTTP/1.0 expectations are ignored (RFC 9110 10.1.1) */
        *message = ug_err_message(UG_ERR_EXPECTATION_FAILED);
        return UG_ERR_EXPECTATION_FAILED;
    }
    *message = NULL;
    return UG_OK;
}

ug_head_verdict_t ug_head_classify(const ug_config_t *config, const ug_head_t *h, const char *normalized,
                                     size_t normalized_len, const ug_route_t **route)
{
    const char *path = h->target;
    size_t path_len;
    *route = NULL;
    if (h->target_error != NULL)
        return UG_HEAD_REFUSE;
    if (!ug_head_path_is_plain(h->target, h->target_len, &path_len)) {
        if (normalized == NULL)
            return UG_HEAD_PIPELINE;
        path = normalized;
        path_len = normalized_len;
    }
    /* Whatever serves it: a lenient backend would take it for the route it resembles. */
    if ((*route = ug_config_resembled_route(config, path, path_len)) != NULL)
        return UG_HEAD_REFUSE;
    /* A Host field is required in HTTP/1.1 and must be single (RFC 9112 3.2); h2o has its own answer to both cases. */
    if (h->malformed || h->host_count != 1)
        return UG_HEAD_PIPELINE;
    /* h2o answers unknown expectations with 417; HTTP/1.0 expectations must be ignored (RFC 9110 10.1.1), which is
     * not worth a second code path. */
    if (h->expect_other || (h->expect_continue && h->minor_version == 0))
        return UG_HEAD_PIPELINE;
    const ug_route_t *r = ug_config_match_route(config, path, path_len);
    if (r == NULL || r->pass_through)
        return UG_HEAD_PIPELINE;
    /* HEAD carries no upload, whatever the route says; but on a resumable route it asks for an upload's offset. */
    if (method_is(h, "HEAD") && !r->resumable.enabled)
        return UG_HEAD_PIPELINE;
    if (!ug_route_allows(r, h->method, h->method_len)) {
        /* A CORS preflight for the route is the front's to answer; any other method gets h2o's 405 path. */
        if (!method_is(h, "OPTIONS") || ug_config_cors_for(config, r) == NULL || ug_head_find(h, "origin", NULL) == NULL ||
            ug_head_find(h, "access-control-request-method", NULL) == NULL)
            return UG_HEAD_PIPELINE;
    }
    /* An upload asking for "Upgrade: h2c" (curl --http2 on http:// sends it with every first request, bodies too) is
     * served here as HTTP/1.1, the upgrade ignored (RFC 9110 7.8: a server may ignore Upgrade; RFC 7540 3.2: answer
     * as though it were absent): switching first would mean buffering the whole body (RFC 7540 3.2). Other requests
     * with it are upgraded by the front (ug_head_h2c_upgrade). */
    *route = r;
    return UG_HEAD_TAKE;
}

/* The values of every field named `name` (lower-case, name_len bytes), joined with ","; NULL when out of memory. */
static char *join_fields(const ug_head_t *h, const char *name, size_t name_len, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < h->num_headers; ++i)
        total += h->headers[i].value_len + 1;
    char *out = malloc(total != 0 ? total : 1);
    *len = 0;
    for (size_t i = 0; out != NULL && i < h->num_headers; ++i) {
        const ug_header_t *x = &h->headers[i];
        if (x->name_len != name_len || memcmp(x->name, name, name_len) != 0)
            continue;
        if (*len != 0)
            out[(*len)++] = ',';
        memcpy(out + *len, x->value, x->value_len);
        *len += x->value_len;
    }
    return out;
}

void ug_head_gate_request(const ug_head_t *h, ug_gate_request_t *g, char **joined)
{
    const ug_header_t *f;
    unsigned acrh_count;
    *g = (ug_gate_request_t){.method = h->method, .method_len = h->method_len};
    *joined = NULL;
    if ((f = ug_head_find(h, "origin", NULL)) != NULL) {
        g->origin = f->value;
        g->origin_len = f->value_len;
    }
    if ((f = ug_head_find(h, "authorization", &g->authorization_count)) != NULL) {
        g->authorization = f->value;
        g->authorization_len = f->value_len;
    }
    if ((f = ug_head_find(h, "access-control-request-method", NULL)) != NULL) {
        g->acr_method = f->value;
        g->acr_method_len = f->value_len;
    }
    if ((f = ug_head_find(h, "access-control-request-headers", &acrh_count)) != NULL) {
        g->acr_headers = f->value;
        g->acr_headers_len = f->value_len;
        if (acrh_count > 1 && (*joined = join_fields(h, "access-control-request-headers", 30, &g->acr_headers_len)) != NULL)
            g->acr_headers = *joined;
        else
            g->acr_headers_len = f->value_len;
    }
}
