/*
 * config_values.c - the scalar grammars of the configuration: sizes,
 * durations, method names, listen addresses and backend URLs. Pure functions
 * on (pointer, length) so they can be tested without YAML.
 */
#include "config/config.h"
#include "config/config_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

/* Every method a route can name, in the order an Allow field lists them. */
static const struct {
    const char *name;
    unsigned bit;
} methods[] = {
    {"GET", UG_METHOD_GET},     {"HEAD", UG_METHOD_HEAD},     {"POST", UG_METHOD_POST},       {"PUT", UG_METHOD_PUT},
    {"PATCH", UG_METHOD_PATCH}, {"DELETE", UG_METHOD_DELETE}, {"OPTIONS", UG_METHOD_OPTIONS},
};

unsigned ug_method_bit(const char *name, size_t len)
{
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strlen(methods[i].name) == len && memcmp(methods[i].name, name, len) == 0)
            return methods[i].bit;
    return 0;
}

int ug_route_allows(const ug_route_t *route, const char *method, size_t len)
{
    return (route->methods & ug_method_bit(method, len)) != 0;
}

void ug_route_allow_value(const ug_route_t *route, char *out, size_t len)
{
    size_t n = 0;
    if (len == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if ((route->methods & methods[i].bit) == 0)
            continue;
        int w = snprintf(out + n, len - n, "%s%s", n != 0 ? ", " : "", methods[i].name);
        if (w < 0 || (size_t)w >= len - n) { /* cut: never a partial name */
            out[n] = '\0';
            return;
        }
        n += (size_t)w;
    }
}

/* Leading decimal digits of s[0..len) into *out; how many were consumed, 0 on none or overflow. */
static size_t parse_digits(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return i;
}

struct unit {
    const char *name;
    uint64_t mult;
};

/* The unit after the digits must be one of `units` exactly (case-sensitive: "mb" is not "MB"). */
static int parse_with_units(const char *s, size_t len, const struct unit *units, size_t nunits, int unit_required, uint64_t *out)
{
    uint64_t v;
    size_t n;

    if (s == NULL || (n = parse_digits(s, len, &v)) == 0)
        return -1;
    if (n == len) {
        if (unit_required && v != 0)
            return -1;
        *out = v;
        return 0;
    }
    for (size_t i = 0; i < nunits; i++) {
        if (strlen(units[i].name) == len - n && memcmp(units[i].name, s + n, len - n) == 0) {
            if (v != 0 && units[i].mult > UINT64_MAX / v)
                return -1;
            *out = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

static const struct unit size_units[] = {
    {"B", 1},
    {"KB", 1000ull},
    {"MB", 1000ull * 1000},
    {"GB", 1000ull * 1000 * 1000},
    {"TB", 1000ull * 1000 * 1000 * 1000},
    {"KiB", 1ull << 10},
    {"MiB", 1ull << 20},
    {"GiB", 1ull << 30},
    {"TiB", 1ull << 40},
};

static const struct unit duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}, {"d", 24 * 60 * 60 * 1000},
};

int ug_parse_size(const char *s, size_t len, uint64_t *out)
{
    return parse_with_units(s, len, size_units, sizeof(size_units) / sizeof(size_units[0]), 0, out);
}

/* A bare number is refused (seconds or milliseconds?) except 0, which is unambiguous. */
int ug_parse_duration(const char *s, size_t len, uint64_t *out_ms)
{
    return parse_with_units(s, len, duration_units, sizeof(duration_units) / sizeof(duration_units[0]), 1, out_ms);
}

/* The largest binary unit that divides v evenly, so range messages read "1MiB", not "1048576B". */
void ug_cfg_format_size(uint64_t v, char *buf, size_t len)
{
    static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (u + 1 < sizeof(names) / sizeof(names[0]) && v != 0 && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%llu%s", (unsigned long long)v, names[u]);
}

void ug_cfg_format_duration(uint64_t ms, char *buf, size_t len)
{
    for (size_t i = sizeof(duration_units) / sizeof(duration_units[0]); i-- > 0;) {
        if (ms != 0 && ms % duration_units[i].mult == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(ms / duration_units[i].mult), duration_units[i].name);
            return;
        }
    }
    snprintf(buf, len, "%llums", (unsigned long long)ms);
}

static int is_ip_literal(const char *host, size_t len, int af)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    unsigned char addr[sizeof(struct in6_addr)];
    if (len == 0 || len >= sizeof(tmp))
        return 0;
    memcpy(tmp, host, len);
    tmp[len] = '\0';
    return inet_pton(af, tmp, addr) == 1;
}

/* RFC 1123 host name characters; enough to catch typos, DNS has the final word. */
static int is_host_name(const char *host, size_t len)
{
    if (len == 0 || len > 253 || host[0] == '-' || host[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = host[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
              ch == '_'))
            return 0;
    }
    return 1;
}

/*
 * Split "host[:port]" / "[v6][:port]" at the end of an authority. With
 * default_port < 0 the port is required. The host is not checked here.
 */
static const char *split_hostport(const char *s, size_t len, int default_port, ug_hostport_t *hp)
{
    const char *port = NULL;
    size_t port_len = 0;

    memset(hp, 0, sizeof(*hp));
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return "missing ']' after the IPv6 address";
        hp->host = s + 1;
        hp->host_len = (size_t)(close - s) - 1;
        hp->is_ipv6 = 1;
        size_t rest = len - (size_t)(close - s) - 1;
        if (rest > 0) {
            if (close[1] != ':')
                return "expected ':port' after ']'";
            port = close + 2;
            port_len = rest - 1;
        }
    } else {
        const char *colon = memrchr(s, ':', len);
        if (colon != NULL && memchr(s, ':', (size_t)(colon - s)) != NULL)
            return "an IPv6 address must be written in brackets, e.g. [::1]:8080";
        hp->host = s;
        hp->host_len = colon != NULL ? (size_t)(colon - s) : len;
        if (colon != NULL) {
            port = colon + 1;
            port_len = len - (size_t)(colon - s) - 1;
        }
    }
    if (port == NULL) {
        if (default_port < 0)
            return "a port is required (host:port)";
        hp->port = (uint16_t)default_port;
        return NULL;
    }
    uint64_t p;
    if (port_len == 0 || parse_digits(port, port_len, &p) != port_len || p == 0 || p > 65535)
        return "the port must be a number from 1 to 65535";
    hp->port = (uint16_t)p;
    return NULL;
}

const char *ug_cfg_parse_listen_address(const char *s, size_t len, ug_hostport_t *hp)
{
    const char *why = split_hostport(s, len, -1, hp);
    if (why != NULL)
        return why;
    if (!hp->is_ipv6 && hp->host_len == 1 && hp->host[0] == '*') {
        hp->host = "0.0.0.0";
        hp->host_len = 7;
        return NULL;
    }
    /* Literals only: binding to whatever a name resolves to at start-up is a surprise waiting to happen. */
    if (!is_ip_literal(hp->host, hp->host_len, hp->is_ipv6 ? AF_INET6 : AF_INET))
        return hp->is_ipv6 ? "invalid IPv6 address" : "the host must be an IP address (e.g. 127.0.0.1, [::1]) or *";
    return NULL;
}

static int has_prefix_ci(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && strncasecmp(s, prefix, n) == 0;
}

static int is_path_char(char ch)
{
    return (unsigned char)ch > 0x20 && ch != 0x7f && ch != '?' && ch != '#';
}

const char *ug_cfg_parse_backend_url(const char *s, size_t len, ug_url_parts_t *u)
{
    memset(u, 0, sizeof(*u));
    if (has_prefix_ci(s, len, "unix:")) {
        u->unix_path = s + 5;
        u->unix_path_len = len - 5;
        if (u->unix_path_len == 0 || u->unix_path[0] != '/')
            return "the socket path must be absolute (unix:/path/to/app.sock)";
        if (u->unix_path_len >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return "the socket path is too long for a unix socket";
        for (size_t i = 0; i < u->unix_path_len; i++)
            if ((unsigned char)u->unix_path[i] < 0x20 || u->unix_path[i] == 0x7f)
                return "the socket path contains a control character";
        return NULL;
    }
    if (has_prefix_ci(s, len, "https://"))
        return "https backends are not supported (use http:// or unix:)";
    if (!has_prefix_ci(s, len, "http://"))
        return "expected http://host[:port][/path] or unix:/path/to/app.sock";

    const char *auth = s + 7, *end = s + len;
    const char *slash = memchr(auth, '/', (size_t)(end - auth));
    const char *auth_end = slash != NULL ? slash : end;
    size_t auth_len = (size_t)(auth_end - auth);
    if (memchr(auth, '@', auth_len) != NULL)
        return "user information (user@) is not supported";
    if (memchr(auth, '?', auth_len) != NULL || memchr(auth, '#', auth_len) != NULL)
        return "a query or fragment is not allowed";
    const char *why = split_hostport(auth, auth_len, 80, &u->hp);
    if (why != NULL)
        return why;
    if (u->hp.host_len == 0)
        return "the host is missing";
    if (u->hp.is_ipv6 ? !is_ip_literal(u->hp.host, u->hp.host_len, AF_INET6) : !is_host_name(u->hp.host, u->hp.host_len))
        return u->hp.is_ipv6 ? "invalid IPv6 address" : "invalid host name";

    if (slash != NULL) {
        for (const char *p = slash; p < end; p++)
            if (!is_path_char(*p))
                return *p == '?' || *p == '#' ? "a query or fragment is not allowed"
                                              : "the path contains a space or control character";
        u->base = slash;
        u->base_len = (size_t)(end - slash);
        while (u->base_len > 0 && u->base[u->base_len - 1] == '/') /* "/api/" and "/api" mean the same prefix */
            u->base_len--;
    }
    return NULL;
}

const char *ug_cfg_parse_store_endpoint(const char *s, size_t len, ug_hostport_t *hp, int *https)
{
    size_t scheme;
    if (has_prefix_ci(s, len, "https://")) {
        *https = 1;
        scheme = 8;
    } else if (has_prefix_ci(s, len, "http://")) {
        *https = 0;
        scheme = 7;
    } else {
        return "expected http://host[:port] or https://host[:port]";
    }
    const char *auth = s + scheme;
    size_t auth_len = len - scheme;
    if (auth_len > 0 && auth[auth_len - 1] == '/') /* "http://h:9000/" is the same endpoint */
        auth_len--;
    if (memchr(auth, '/', auth_len) != NULL)
        return "a path is not allowed (the bucket goes in bucket:)";
    if (memchr(auth, '@', auth_len) != NULL)
        return "user information (user@) is not allowed (credentials come from credentials_file or the environment)";
    if (memchr(auth, '?', auth_len) != NULL || memchr(auth, '#', auth_len) != NULL)
        return "a query or fragment is not allowed";
    const char *why = split_hostport(auth, auth_len, *https ? 443 : 80, hp);
    if (why != NULL)
        return why;
    if (hp->host_len == 0)
        return "the host is missing";
    if (hp->is_ipv6 ? !is_ip_literal(hp->host, hp->host_len, AF_INET6) : !is_host_name(hp->host, hp->host_len))
        return hp->is_ipv6 ? "invalid IPv6 address" : "invalid host name";
    return NULL;
}
