/*
 * cors.c - see cors.h.
 *
 * Origins are parsed, never compared as raw strings: a raw prefix/suffix test
 * is how "https://example.org.evil.com" or "https://evilexample.org" slip past
 * a "*.example.org" rule. Both the configured entry and the request's Origin go
 * through the same parser, and the matcher only honours entries that
 * ug_cors_config_check() would accept.
 */
#include "policy/cors.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- bytes ---------------------------------------------------------------- */

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* ASCII case-insensitive equality, independent of the locale. */
static int ci_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* tchar, RFC 9110 5.6.2. */
static int is_tchar(int c)
{
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_token(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

static int is_ows(int c)
{
    return c == ' ' || c == '\t';
}

static size_t safe_strlen(const char *s)
{
    return s == NULL ? 0 : strlen(s);
}

/* ---- origins ------------------------------------------------------------ */

typedef enum origin_status {
    O_OK = 0,
    O_EMPTY,
    O_BAD_CHAR,
    O_NO_SCHEME,
    O_USERINFO,
    O_PATH,
    O_BAD_HOST,
    O_TRAILING_DOT,
    O_BAD_PORT,
    O_WILDCARD_POS,
    O_WILDCARD_BROAD,
    O_WILDCARD_IP,
} origin_status_t;

/* A serialized origin (RFC 6454 6.2), or a configured pattern. Points into the parsed string. */
typedef struct origin {
    const char *scheme;
    size_t scheme_len;
    const char *host; /* reg-name or IPv4; for a wildcard, the suffix after "*." */
    size_t host_len;
    int port; /* explicit, else the scheme's default, else -1 */
    int wildcard;
    int ipv6;
    unsigned char addr6[16];
} origin_t;

static int default_port(const char *scheme, size_t len)
{
    /* RFC 6454 4 step 6 / the URL standard's special schemes that make origins. */
    if (ci_eq(scheme, len, "http", 4))
        return 80;
    if (ci_eq(scheme, len, "https", 5))
        return 443;
    return -1;
}

/* Labels of a reg-name: [A-Za-z0-9_-]+ separated by single dots; what a URL parser leaves of an http(s) host after IDNA. */
static origin_status_t check_labels(const char *h, size_t len, int is_pattern)
{
    size_t label = 0;
    if (len == 0)
        return O_BAD_HOST;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)h[i];
        if (c == '.') {
            if (label == 0)
                return O_BAD_HOST;
            label = 0;
        } else if (is_alpha(c) || is_digit(c) || c == '-' || c == '_') {
            label++;
        } else if (c == '*') {
            return is_pattern ? O_WILDCARD_POS : O_BAD_HOST;
        } else {
            return O_BAD_HOST;
        }
    }
    /* "a.com." is a different origin from "a.com" (the URL standard keeps the dot); never conflate them. */
    return label == 0 ? O_TRAILING_DOT : O_OK;
}

/* Whether a wildcard suffix is narrow enough: two or more labels, not an IP address; or exactly "localhost". */
static origin_status_t check_wildcard_suffix(const char *h, size_t len)
{
    size_t dot = len;
    while (dot > 0 && h[dot - 1] != '.')
        dot--;
    if (dot == 0)
        return ci_eq(h, len, "localhost", 9) ? O_OK : O_WILDCARD_BROAD;
    /* A host whose last label is numeric is parsed as IPv4 by the URL standard ("ends in a number"). */
    for (size_t i = dot; i < len; i++)
        if (!is_digit((unsigned char)h[i]))
            return O_OK;
    return O_WILDCARD_IP;
}

static origin_status_t parse_ipv6(const char *s, size_t len, origin_t *o)
{
    char buf[46];
    if (len == 0 || len >= sizeof(buf))
        return O_BAD_HOST;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        /* no zone ids ("%25eth0"): an origin never has one */
        if (!(is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f') || c == ':' || c == '.'))
            return O_BAD_HOST;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET6, buf, o->addr6) != 1)
        return O_BAD_HOST;
    o->ipv6 = 1;
    o->host = s;
    o->host_len = len;
    return O_OK;
}

/*
 * Parse scheme "://" host [":" port] and nothing else. With is_pattern, the
 * host may start with "*." (then o->wildcard is set and o->host is the suffix).
 */
static origin_status_t parse_origin(const char *s, size_t len, int is_pattern, origin_t *o)
{
    memset(o, 0, sizeof(*o));
    o->port = -1;
    if (len == 0)
        return O_EMPTY;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f)
            return O_BAD_CHAR;
    }

    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), RFC 3986 3.1 */
    size_t i = 0;
    if (!is_alpha((unsigned char)s[0]))
        return O_NO_SCHEME;
    while (i < len && (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (len - i < 3 || memcmp(s + i, "://", 3) != 0)
        return O_NO_SCHEME;
    o->scheme = s;
    o->scheme_len = i;

    const char *p = s + i + 3, *end = s + len;
    for (const char *q = p; q < end; q++) {
        if (*q == '/' || *q == '?' || *q == '#')
            return O_PATH;
        if (*q == '@')
            return O_USERINFO;
    }

    origin_status_t st;
    if (p < end && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (close == NULL)
            return O_BAD_HOST;
        if ((st = parse_ipv6(p + 1, (size_t)(close - p - 1), o)) != O_OK)
            return st;
        p = close + 1;
        if (p < end && *p != ':')
            return O_BAD_HOST;
    } else {
        const char *h = p;
        while (p < end && *p != ':')
            p++;
        size_t hl = (size_t)(p - h);
        if (is_pattern && hl >= 1 && h[0] == '*') {
            if (hl == 1)
                return O_WILDCARD_BROAD; /* host "*" */
            if (h[1] != '.')
                return O_WILDCARD_POS; /* host "*example.com" */
            h += 2;
            hl -= 2;
            if (hl == 0)
                return O_WILDCARD_BROAD; /* host "*." */
            o->wildcard = 1;
        }
        if ((st = check_labels(h, hl, is_pattern)) != O_OK)
            return st;
        if (o->wildcard && (st = check_wildcard_suffix(h, hl)) != O_OK)
            return st;
        o->host = h;
        o->host_len = hl;
    }

    if (p < end) {
        /* p is at ':'. The serialization has no empty port and no leading zeros, and 0 is no port a browser uses. */
        const char *d = ++p;
        unsigned long v = 0;
        if (d == end || (*d == '0') || end - d > 5)
            return O_BAD_PORT;
        for (; p < end; p++) {
            if (!is_digit((unsigned char)*p))
                return O_BAD_PORT;
            v = v * 10 + (unsigned long)(*p - '0');
        }
        if (v > 65535)
            return O_BAD_PORT;
        o->port = (int)v;
    } else {
        o->port = default_port(o->scheme, o->scheme_len);
    }
    return O_OK;
}

/* Same origin (RFC 6454 5), or within a wildcard pattern. */
static int origin_matches(const origin_t *pat, const origin_t *o)
{
    if (!ci_eq(pat->scheme, pat->scheme_len, o->scheme, o->scheme_len) || pat->port != o->port)
        return 0;
    if (pat->ipv6 || o->ipv6)
        return pat->ipv6 && o->ipv6 && memcmp(pat->addr6, o->addr6, 16) == 0;
    if (!pat->wildcard)
        return ci_eq(pat->host, pat->host_len, o->host, o->host_len);
    /*
     * One or more whole labels, then "." and the suffix. o's labels are
     * non-empty (check_labels), so "x.a.org" needs at least one byte before the
     * dot; "a.org" itself, "evila.org" and "a.org.evil.net" all fail here.
     */
    if (o->host_len < pat->host_len + 2)
        return 0;
    const char *tail = o->host + (o->host_len - pat->host_len);
    return tail[-1] == '.' && ci_eq(tail, pat->host_len, pat->host, pat->host_len);
}

static int is_any(const char *entry)
{
    return entry != NULL && strcmp(entry, "*") == 0;
}

int ug_cors_origin_allowed(const ug_cors_config_t *c, const char *value, size_t len)
{
    origin_t o, pat;
    if (value == NULL)
        return 0;
    /* "null" is what every opaque origin sends (RFC 6454 7.3, Fetch "serializing a request origin"); it names no one. */
    if (parse_origin(value, len, 0, &o) != O_OK)
        return 0;
    for (size_t i = 0; i < c->n_origins; i++) {
        const char *e = c->allow_origins[i];
        if (is_any(e)) {
            /* "*" with credentials is refused by the check; should it get here anyway, allow no one. */
            if (!c->allow_credentials)
                return 1;
            continue;
        }
        if (parse_origin(e, safe_strlen(e), 1, &pat) == O_OK && origin_matches(&pat, &o))
            return 1;
    }
    return 0;
}

/* ---- config check --------------------------------------------------------- */

/* Entry for a message: printable ASCII, '"' and '\\' escaped, others as \xNN, cut at 80 bytes. */
static const char *quote(const char *s, char *buf, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, n = safe_strlen(s);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= size || i >= 80) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o] = '\0';
    return buf;
}

static const char *origin_problem(origin_status_t st)
{
    switch (st) {
    case O_OK:
        return NULL;
    case O_EMPTY:
        return "is empty";
    case O_BAD_CHAR:
        return "contains spaces, control or non-ASCII characters (write internationalized names in punycode)";
    case O_NO_SCHEME:
        return "is not an origin (expected scheme://host[:port], e.g. \"https://app.example.com\")";
    case O_USERINFO:
        return "must not contain user info (\"user@\")";
    case O_PATH:
        return "must not have a path, query or fragment (an origin is scheme://host[:port], without a trailing \"/\")";
    case O_BAD_HOST:
        return "has an invalid host";
    case O_TRAILING_DOT:
        return "ends in \".\", which browsers treat as a different origin; write the host without it";
    case O_BAD_PORT:
        return "has an invalid port (1 to 65535, no leading zeros)";
    case O_WILDCARD_POS:
        return "has \"*\" in the wrong place: it must be the whole entry or the first label of the host, as in "
               "\"https://*.example.com\"";
    case O_WILDCARD_BROAD:
        return "is too broad: a wildcard needs a domain of at least two labels after \"*.\", as in \"https://*.example.com\"";
    case O_WILDCARD_IP:
        return "must have a domain name after \"*.\", not an IP address";
    }
    return "is invalid";
}

__attribute__((format(printf, 6, 7))) static const char *fail(char *buf, size_t buflen, ug_cors_where_t *where,
                                                              ug_cors_field_t field, size_t index, const char *fmt, ...)
{
    va_list ap;
    if (where != NULL) {
        where->field = field;
        where->index = index;
    }
    if (buflen > 0) {
        va_start(ap, fmt);
        vsnprintf(buf, buflen, fmt, ap);
        va_end(ap);
    }
    return buf;
}

/* allow_headers / expose_headers: field names (RFC 9110 5.1). */
static const char *check_names(char **list, size_t n, const char *key, ug_cors_field_t field, char *buf, size_t buflen,
                               ug_cors_where_t *where)
{
    char q[UG_CORS_MSG_SIZE / 2];
    for (size_t i = 0; i < n; i++) {
        if (is_any(list[i]))
            return fail(buf, buflen, where, field, i, "cors: %s \"*\" is not supported; list the headers", key);
        if (!is_token(list[i], safe_strlen(list[i])))
            return fail(buf, buflen, where, field, i, "cors: %s \"%s\" is not a header name (an HTTP token)", key,
                        quote(list[i], q, sizeof(q)));
    }
    return NULL;
}

const char *ug_cors_config_check(const ug_cors_config_t *c, char *buf, size_t buflen, ug_cors_where_t *where)
{
    char q[UG_CORS_MSG_SIZE / 2];
    const char *msg;
    origin_t o;

    if (where != NULL) {
        where->field = UG_CORS_FIELD_NONE;
        where->index = UG_CORS_WHOLE_LIST;
    }
    if (c->n_origins == 0)
        return fail(buf, buflen, where, UG_CORS_FIELD_ALLOW_ORIGINS, UG_CORS_WHOLE_LIST,
                    "cors: allow_origins must list at least one origin");
    for (size_t i = 0; i < c->n_origins; i++) {
        const char *e = c->allow_origins[i];
        if (is_any(e)) {
            /* Fetch 3.2.5: a credentialed response may not say "*"; reflecting every origin instead would hand any site the user's
             * session. */
            if (c->allow_credentials)
                return fail(buf, buflen, where, UG_CORS_FIELD_ALLOW_ORIGINS, i,
                            "cors: allow_origins \"*\" cannot be combined with allow_credentials: true; list the origins");
            continue;
        }
        if (e != NULL && strcmp(e, "null") == 0)
            return fail(buf, buflen, where, UG_CORS_FIELD_ALLOW_ORIGINS, i,
                        "cors: allow_origins \"null\" is not allowed: every opaque origin (sandboxed iframes, file: URLs, "
                        "redirects) sends \"null\"");
        if ((msg = origin_problem(parse_origin(e, safe_strlen(e), 1, &o))) != NULL)
            return fail(buf, buflen, where, UG_CORS_FIELD_ALLOW_ORIGINS, i, "cors: allow_origins \"%s\" %s", quote(e, q, sizeof(q)),
                        msg);
    }
    for (size_t i = 0; i < c->n_methods; i++) {
        const char *m = c->allow_methods[i];
        size_t len = safe_strlen(m);
        if (is_any(m))
            return fail(buf, buflen, where, UG_CORS_FIELD_ALLOW_METHODS, i,
                        "cors: allow_methods \"*\" is not supported; list the methods");
        if (!is_token(m, len))
            return fail(buf, buflen, where, UG_CORS_FIELD_ALLOW_METHODS, i,
                        "cors: allow_methods \"%s\" is not a method name (an HTTP token)", quote(m, q, sizeof(q)));
        for (size_t j = 0; j < len; j++)
            if (m[j] >= 'a' && m[j] <= 'z')
                return fail(
                    buf, buflen, where, UG_CORS_FIELD_ALLOW_METHODS, i,
                    "cors: allow_methods \"%s\" must be upper-case: methods are case-sensitive and browsers send them upper-case",
                    quote(m, q, sizeof(q)));
    }
    if ((msg = check_names(c->allow_headers, c->n_headers, "allow_headers", UG_CORS_FIELD_ALLOW_HEADERS, buf, buflen, where)) !=
        NULL)
        return msg;
    if ((msg = check_names(c->expose_headers, c->n_expose, "expose_headers", UG_CORS_FIELD_EXPOSE_HEADERS, buf, buflen, where)) !=
        NULL)
        return msg;
    return NULL;
}

/* ---- rendering ------------------------------------------------------------ */

/* "a, b, c" (RFC 9110 5.6.1 list syntax); NULL with *len 0 for an empty list, NULL otherwise only when out of memory. */
static char *join(char *const *list, size_t n, size_t *len)
{
    size_t total = 0;
    *len = 0;
    if (n == 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        total += safe_strlen(list[i]) + 2;
    char *s = malloc(total + 1), *p = s;
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t l = safe_strlen(list[i]);
        if (i != 0) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        if (l != 0)
            memcpy(p, list[i], l);
        p += l;
    }
    *p = '\0';
    *len = (size_t)(p - s);
    return s;
}

/* The CORS-safelisted methods (Fetch 2.2.1): what a browser may send without naming the method in a preflight. */
static char *const safelisted_methods[] = {"GET", "HEAD", "POST"};

ug_err_t ug_cors_config_finalize(ug_cors_config_t *c)
{
    ug_cors_config_dispose(c);
    if (c->n_methods != 0)
        c->rendered.allow_methods = join(c->allow_methods, c->n_methods, &c->rendered.allow_methods_len);
    else
        c->rendered.allow_methods = join(safelisted_methods, 3, &c->rendered.allow_methods_len);
    if (c->rendered.allow_methods == NULL)
        goto nomem;
    if (c->n_headers != 0 &&
        (c->rendered.allow_headers = join(c->allow_headers, c->n_headers, &c->rendered.allow_headers_len)) == NULL)
        goto nomem;
    if (c->n_expose != 0 &&
        (c->rendered.expose_headers = join(c->expose_headers, c->n_expose, &c->rendered.expose_headers_len)) == NULL)
        goto nomem;
    c->rendered.max_age_len = (size_t)snprintf(c->rendered.max_age, sizeof(c->rendered.max_age), "%" PRIu64, c->max_age_s);
    for (size_t i = 0; i < c->n_origins; i++)
        if (is_any(c->allow_origins[i]))
            c->rendered.any_origin = 1;
    c->rendered.ready = 1;
    return UG_OK;
nomem:
    ug_cors_config_dispose(c);
    return UG_ERR_NOMEM;
}

void ug_cors_config_dispose(ug_cors_config_t *c)
{
    free(c->rendered.allow_methods);
    free(c->rendered.allow_headers);
    free(c->rendered.expose_headers);
    memset(&c->rendered, 0, sizeof(c->rendered));
}

/* ---- requests ------------------------------------------------------------- */

#define LIT(s) s, sizeof(s) - 1

static void add(ug_cors_headers_t *out, const char *name, size_t name_len, const char *value, size_t value_len)
{
    if (out->n < UG_CORS_MAX_HEADERS) {
        ug_cors_header_t *h = &out->h[out->n++];
        h->name = name;
        h->name_len = name_len;
        h->value = value;
        h->value_len = value_len;
    }
}

/* "*" only for "*" without credentials (Fetch 3.2.5); otherwise the request's own Origin, byte for byte, as the browser compares
 * it. */
static void add_allow_origin(const ug_cors_config_t *c, const char *origin, size_t len, ug_cors_headers_t *out)
{
    if (c->rendered.any_origin && !c->allow_credentials)
        add(out, LIT("access-control-allow-origin"), LIT("*"));
    else
        add(out, LIT("access-control-allow-origin"), origin, len);
    if (c->allow_credentials)
        add(out, LIT("access-control-allow-credentials"), LIT("true"));
}

static int method_allowed(const ug_cors_config_t *c, const char *m, size_t len)
{
    char *const *list = c->n_methods != 0 ? c->allow_methods : safelisted_methods;
    size_t n = c->n_methods != 0 ? c->n_methods : 3;
    if (!is_token(m, len))
        return 0;
    /* Byte-exact: Fetch compares methods case-sensitively, so "patch" is not "PATCH". */
    for (size_t i = 0; i < n; i++)
        if (safe_strlen(list[i]) == len && memcmp(list[i], m, len) == 0)
            return 1;
    return 0;
}

/* Every element of the Access-Control-Request-Headers list is a listed name (case-insensitively). Empty elements are skipped (RFC
 * 9110 5.6.1). */
static int headers_allowed(const ug_cors_config_t *c, const char *v, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && is_ows((unsigned char)v[i]))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && is_ows((unsigned char)v[end - 1]))
            end--;
        if (i < len)
            i++;
        if (end == start)
            continue;
        if (!is_token(v + start, end - start))
            return 0;
        size_t j;
        for (j = 0; j < c->n_headers; j++) {
            const char *h = c->allow_headers[j];
            if (ci_eq(h, safe_strlen(h), v + start, end - start))
                break;
        }
        if (j == c->n_headers)
            return 0;
    }
    return 1;
}

ug_cors_preflight_t ug_cors_preflight(const ug_cors_config_t *c, const ug_cors_request_t *req, ug_cors_headers_t *out)
{
    static const char vary[] = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

    out->n = 0;
    /* Fetch 3.2.2: a CORS-preflight request is OPTIONS carrying Origin and Access-Control-Request-Method. */
    if (req->method == NULL || !(req->method_len == 7 && memcmp(req->method, "OPTIONS", 7) == 0) || req->origin == NULL ||
        req->acr_method == NULL)
        return UG_CORS_NOT_PREFLIGHT;

    /* Refusal carries no Access-Control-* field, so the browser fails the preflight; see cors.h for why Vary stays. */
    if (!c->rendered.ready || !ug_cors_origin_allowed(c, req->origin, req->origin_len) ||
        !method_allowed(c, req->acr_method, req->acr_method_len) ||
        (req->acr_headers != NULL && !headers_allowed(c, req->acr_headers, req->acr_headers_len))) {
        add(out, LIT("vary"), LIT(vary));
        return UG_CORS_PREFLIGHT_REFUSED;
    }

    add_allow_origin(c, req->origin, req->origin_len, out);
    add(out, LIT("access-control-allow-methods"), c->rendered.allow_methods, c->rendered.allow_methods_len);
    if (c->rendered.allow_headers != NULL)
        add(out, LIT("access-control-allow-headers"), c->rendered.allow_headers, c->rendered.allow_headers_len);
    if (c->max_age_set)
        add(out, LIT("access-control-max-age"), c->rendered.max_age, c->rendered.max_age_len);
    add(out, LIT("vary"), LIT(vary));
    return UG_CORS_PREFLIGHT_OK;
}

void ug_cors_actual(const ug_cors_config_t *c, const char *origin, size_t origin_len, ug_cors_headers_t *out)
{
    out->n = 0;
    if (c->rendered.ready && ug_cors_origin_allowed(c, origin, origin_len)) {
        add_allow_origin(c, origin, origin_len, out);
        if (c->rendered.expose_headers != NULL)
            add(out, LIT("access-control-expose-headers"), c->rendered.expose_headers, c->rendered.expose_headers_len);
    }
    /* Even with nothing allowed: the same URL answers differently for other origins, and a shared cache must not mix them. */
    add(out, LIT("vary"), LIT("Origin"));
}

void ug_cors_actual_exposing(const ug_cors_config_t *c, const char *origin, size_t origin_len, const char *extra, char *buf,
                             size_t buflen, ug_cors_headers_t *out)
{
    ug_cors_actual(c, origin, origin_len, out);
    if (extra == NULL || out->n < 2) /* only Vary: the origin is not allowed */
        return;
    const char *configured = c->rendered.expose_headers;
    int n = configured != NULL ? snprintf(buf, buflen, "%s, %s", configured, extra) : snprintf(buf, buflen, "%s", extra);
    if (n < 0 || (size_t)n >= buflen)
        return;
    for (size_t i = 0; i < out->n; ++i) {
        if (out->h[i].name_len == 29 && strncasecmp(out->h[i].name, "access-control-expose-headers", 29) == 0) {
            out->h[i].value = buf;
            out->h[i].value_len = (size_t)n;
            return;
        }
    }
    add(out, LIT("access-control-expose-headers"), buf, (size_t)n);
}

int ug_cors_is_own_field(const char *name, size_t len)
{
    return len > 15 && strncasecmp(name, "access-control-", 15) == 0;
}
