/*
 * fuzz_head.c - libFuzzer target for the HTTP/1.1 front's head decisions (src/exchange/head.c), on heads parsed
 * by the same picohttpparser the front uses (exported by libh2o-evloop; declarations in src/http/pico.h).
 *
 * Input: the bytes a client sends, copied into an exact-size heap buffer (no NUL after it, so ASan catches any read
 * past the head). What front/h1.c's on_head does with a complete head is done here in the same order: scan,
 * refusal, classify against a fixed configuration, h2c upgrade. Besides "never crash", it checks (abort() on
 * violation):
 *   - every pointer the scan leaves in the head (target, host, content type, settings, route path) lies inside the
 *     input, except the "/" an absolute-form URI without a path stands for;
 *   - framing: Content-Length is taken only from digits that a reference parser here reads to the same number;
 *     Transfer-Encoding with Content-Length, or in HTTP/1.0, is always a framing error (the smuggling shapes);
 *   - refusal: always when the framing or the target is invalid, when an HTTP/1.1 head has no Host or several, for
 *     obs-fold and CONNECT; the message is then set; the front only ever takes a head that is not refused, has one
 *     Host, is not HEAD, and whose path h2o would not rewrite (ug_head_path_is_plain);
 *   - keep-alive follows RFC 9112 9.3 from the Connection tokens alone;
 *   - a target h2o would rewrite is classified on h2o_url_normalize_path's result (as the fronts do), and a route
 *     taken is the one that path matches, exactly and loosely;
 *   - targets: a head is refused whenever a reference reading (here) finds a '#', a path not starting with '/', a
 *     '.' or '..' segment, a backslash or an encoded '/', '.', '\' or NUL before the query; a target not refused
 *     keeps its segments through h2o's normalisation (as many '/' before and after), so the route is chosen on the
 *     segments the app is sent; a path that only resembles a route (ug_config_resembled_route) is always refused,
 *     and the refusal names that route;
 *   - Host: a head whose Host field (or absolute-form authority) fails a reference reading of RFC 3986
 *     host[:port] (characters, brackets, one port of 1-5 digits up to 65535) is always refused;
 *   - h2c upgrade only for HTTP/1.1 (or a later 1.x, RFC 9110 2.5) with exactly one HTTP2-Settings field, whose
 *     value it returns.
 *
 * Build: tests/fuzz/build.sh fuzz_head
 * Run:   build-fuzz/fuzz_head -max_total_time=60 tests/fuzz/corpus/head
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <h2o.h> /* h2o_url_normalize_path; H2O_USE_LIBUV=0 comes from tests/fuzz/CMakeLists.txt */

#include "config/config.h"
#include "exchange/head.h"
#include "http/pico.h"

#define MAX_HEADERS 100 /* as UG_EXCHANGE_MAX_HEADERS */

static const char CONFIG_YAML[] = "backend: {url: http://127.0.0.1:9}\n"
                                  "storage: {dir: /nonexistent-fuzz-store, min_free: 1MiB}\n"
                                  "routes:\n"
                                  "  - path: /upload\n"
                                  "    methods: [POST, PUT]\n"
                                  "    cors: {allow_origins: ['https://app.example']}\n"
                                  "  - path: /files/\n"
                                  "    methods: [POST]\n"
                                  "  - path: /Files/*\n"
                                  "  - path: /api/\n"
                                  "    pass_through: true\n";

static const ug_config_t *config(void)
{
    static ug_config_t *c;
    if (c == NULL) {
        char err[512];
        if (ug_config_load_string("fuzz.yaml", CONFIG_YAML, sizeof(CONFIG_YAML) - 1, &c, err, sizeof(err)) != UG_OK)
            abort();
    }
    return c;
}

static int within(const char *p, size_t len, const char *buf, size_t size)
{
    return p >= buf && len <= size && (size_t)(p - buf) <= size - len;
}

static int name_is(const ug_header_t *f, const char *lit)
{
    size_t n = strlen(lit);
    return f->name != NULL && f->name_len == n && strncasecmp(f->name, lit, n) == 0;
}

static void trim(const char **v, size_t *len)
{
    while (*len > 0 && (**v == ' ' || **v == '\t'))
        ++*v, --*len;
    while (*len > 0 && ((*v)[*len - 1] == ' ' || (*v)[*len - 1] == '\t'))
        --*len;
}

/* The reference (RFC 9112 6.3: 1*DIGIT, leading zeros allowed) after trimming OWS: the value when it is below 10^15,
 * LENGTH_BIG when it is larger (where the front may set its own cap), LENGTH_INVALID when it is not 1*DIGIT. */
#define LENGTH_INVALID (-1)
#define LENGTH_BIG (-2)
static int64_t simple_length(const ug_header_t *f)
{
    const char *v = f->value;
    size_t len = f->value_len;
    trim(&v, &len);
    if (len == 0)
        return LENGTH_INVALID;
    int64_t n = 0;
    int big = 0;
    for (size_t i = 0; i < len; ++i) {
        if (v[i] < '0' || v[i] > '9')
            return LENGTH_INVALID;
        if (!big && (n = n * 10 + (v[i] - '0')) >= 1000000000000000ll)
            big = 1;
    }
    return big ? LENGTH_BIG : n;
}

/* The target rules read independently of ug_head_target_check: 1 when `t` must be refused. */
static int reference_target_refused(const char *t, size_t len)
{
    static const char *const encoded[] = {"%2f", "%2e", "%5c", "%00"};
    if (len == 0 || t[0] != '/' || memchr(t, '#', len) != NULL)
        return 1;
    size_t path_len = 0;
    while (path_len < len && t[path_len] != '?')
        ++path_len;
    for (size_t i = 0; i < path_len; ++i) {
        if (t[i] == '\\' || t[i] == '\0')
            return 1;
        for (size_t k = 0; k < sizeof(encoded) / sizeof(encoded[0]); ++k)
            if (path_len - i >= 3 && strncasecmp(t + i, encoded[k], 3) == 0)
                return 1;
        /* a segment starts after each '/': "." or ".." up to the next '/' or the end of the path */
        if (t[i] == '/') {
            size_t dots = 0;
            while (i + 1 + dots < path_len && t[i + 1 + dots] == '.')
                ++dots;
            if ((dots == 1 || dots == 2) && (i + 1 + dots == path_len || t[i + 1 + dots] == '/'))
                return 1;
        }
    }
    return 0;
}

/* A path equal to an exact route's but for letter case or one trailing '/': always refused (a reference reading of
 * ug_config_resembled_route's commonest cases). */
static int reference_lookalike(const ug_config_t *c, const char *p, size_t len)
{
    for (size_t i = 0; i < c->route_count; ++i) {
        const ug_route_t *r = &c->routes[i];
        size_t n = len > 0 && p[len - 1] == '/' && len - 1 == r->match_len ? len - 1 : len;
        if (!r->is_prefix && n == r->match_len && strncasecmp(p, r->match, n) == 0 &&
            !(len == r->match_len && memcmp(p, r->match, len) == 0))
            return 1;
    }
    return 0;
}

static size_t count_slashes(const char *p, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; ++i)
        n += p[i] == '/';
    return n;
}

/* A port as the reference reads it: 1 to 5 digits, at most 65535. */
static int ref_port(const char *p, size_t len)
{
    if (len == 0 || len > 5 || strspn(p, "0123456789") < len)
        return 0;
    return atoi(p) <= 65535; /* p is followed by a non-digit or the end of an exact-size copy */
}

/* The reference for host[:port] (written apart from exchange/head.c, deliberately coarser): allowed characters only,
 * brackets only around the host, a non-empty host, and the port rule. Values are copied NUL-terminated first. */
static int ref_host(const char *v, size_t len)
{
    char s[512];
    if (len == 0 || len >= sizeof(s) || memchr(v, '\0', len) != NULL)
        return len >= sizeof(s); /* long values: no verdict */
    memcpy(s, v, len);
    s[len] = '\0';
    const char *rest;
    if (s[0] == '[') {
        char *close = strchr(s, ']');
        if (close == NULL || close == s + 1 || strspn(s + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:.-_~!$&'()*+,;=") != (size_t)(close - s - 1))
            return 0;
        rest = close + 1;
    } else {
        size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=");
        if (n == 0)
            return 0;
        rest = s + n;
    }
    if (*rest == '\0')
        return 1;
    return *rest == ':' && ref_port(rest + 1, strlen(rest + 1));
}

static int has_token(const ug_head_t *h, const char *token)
{
    int any = 0;
    for (size_t i = 0; i < h->num_headers; ++i)
        if (name_is(&h->headers[i], "connection"))
            any |= ug_head_has_token(h->headers[i].value, h->headers[i].value_len, token);
    return any;
}

static void check_framing(const ug_head_t *h)
{
    const ug_header_t *cl = NULL;
    unsigned cls = 0, tes = 0;
    for (size_t i = 0; i < h->num_headers; ++i) {
        if (name_is(&h->headers[i], "content-length") && cls++ == 0)
            cl = &h->headers[i];
        tes += name_is(&h->headers[i], "transfer-encoding");
    }
    if (tes != 0 && (cls != 0 || h->minor_version == 0) && h->framing_error == NULL)
        abort();
    if (h->framing == UG_HEAD_BODY_CONTENT_LENGTH && (cls == 0 || tes != 0 || h->framing_error != NULL))
        abort();
    if (h->framing == UG_HEAD_BODY_CHUNKED && (tes != 1 || cls != 0 || h->minor_version == 0))
        abort();
    if (cls == 1 && tes == 0) { /* one plain length: the front must read exactly it */
        int64_t n = simple_length(cl);
        if (n >= 0 && (h->framing != UG_HEAD_BODY_CONTENT_LENGTH || h->content_length != (uint64_t)n))
            abort();
        if (n == LENGTH_INVALID && (h->framing == UG_HEAD_BODY_CONTENT_LENGTH || h->framing_error == NULL))
            abort(); /* a sign, a letter, a list or nothing at all must be refused */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size != 0 ? size : 1);
    if (buf == NULL)
        abort();
    if (size != 0)
        memcpy(buf, data, size);

    struct phr_header ph[MAX_HEADERS];
    ug_header_t hs[MAX_HEADERS];
    size_t nh = MAX_HEADERS;
    ug_head_t h = {.num_headers = 0};
    int r = phr_parse_request(buf, size, &h.method, &h.method_len, &h.target, &h.target_len, &h.minor_version, ph, &nh, 0);
    if (r <= 0) { /* incomplete or not HTTP/1.x: the front waits or refuses before any of this */
        free(buf);
        return 0;
    }
    for (size_t i = 0; i < nh; ++i)
        hs[i] = (ug_header_t){ph[i].name, ph[i].name_len, ph[i].value, ph[i].value_len};
    h.headers = hs;
    h.num_headers = nh;
    const char *sent_target = h.target;
    size_t sent_target_len = h.target_len;

    ug_head_scan(&h);

    /* Pointers stay in the head (the absolute form's missing path is the one static "/"). */
    int static_root = h.target_len == 1 && h.target[0] == '/' && !within(h.target, 1, buf, size);
    if (!static_root && !within(h.target, h.target_len, sent_target, sent_target_len))
        abort();
    if (h.host != NULL && !within(h.host, h.host_len, buf, size))
        abort();
    if (h.content_type != NULL && !within(h.content_type, h.content_type_len, buf, size))
        abort();
    if (h.target != sent_target && h.target_error != NULL && !reference_target_refused(h.target, h.target_len))
        abort(); /* rewritten means it was a valid absolute form, refused only for its path */

    const char *ap, *aa;
    size_t apl, aal;
    int abs = ug_head_absolute_target(sent_target, sent_target_len, &ap, &apl, &aa, &aal);
    if (abs > 0 && (aal == 0 || !within(aa, aal, sent_target, sent_target_len) || apl == 0 || ap[0] != '/' ||
                    (h.target != ap || h.host != aa)))
        abort();
    if (abs == 0 && h.target_error == NULL && (h.target_len == 0 || h.target[0] != '/'))
        abort();

    check_framing(&h);

    /* RFC 9112 9.3 */
    int close = has_token(&h, "close"), keep = has_token(&h, "keep-alive");
    if (h.keep_alive != (!close && (h.minor_version >= 1 || keep)))
        abort();

    unsigned host_fields = 0;
    const ug_header_t *first_host = ug_head_find(&h, "host", &host_fields);
    if (host_fields != h.host_count || (host_fields != 0) != (first_host != NULL))
        abort();

    int bad_host = h.host != NULL && !ref_host(h.host, h.host_len);
    for (size_t i = 0; i < h.num_headers; ++i)
        bad_host |= name_is(&h.headers[i], "host") && !ref_host(h.headers[i].value, h.headers[i].value_len);
    if (bad_host && h.host_error == NULL)
        abort();

    const char *why = "unset";
    ug_err_t refusal = ug_head_refusal(&h, &why);
    int bad_target = reference_target_refused(h.target, h.target_len); /* an absolute form's path, once scanned */
    if (bad_target && h.target_error == NULL)
        abort();
    int must_refuse = bad_target || h.malformed || h.framing_error != NULL || h.target_error != NULL || h.host_count > 1 || bad_host ||
                      (h.host_count == 0 && h.minor_version >= 1) || (h.method_len == 7 && memcmp(h.method, "CONNECT", 7) == 0);
    if (must_refuse && refusal == UG_OK)
        abort();
    if ((refusal != UG_OK) != (why != NULL && why[0] != '\0'))
        abort();

    if (refusal == UG_OK) {
        /* as ug_exchange_decide (exchange/exchange.c): the path h2o routes on */
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        size_t query_at, *norm_indexes;
        h2o_iovec_t norm = h2o_url_normalize_path(&pool, h.target, h.target_len, &query_at, &norm_indexes);
        const ug_route_t *route = (const ug_route_t *)1;
        const ug_config_t *c = config();
        ug_head_verdict_t v = ug_head_classify(c, &h, norm.base, norm.len, &route);
        size_t plain_len, path_len = 0;
        while (path_len < h.target_len && h.target[path_len] != '?')
            ++path_len;
        if (count_slashes(norm.base, norm.len) != count_slashes(h.target, path_len))
            abort(); /* routed on other segments than the app is sent */
        const ug_route_t *like = ug_config_resembled_route(c, norm.base, norm.len);
        if ((v == UG_HEAD_REFUSE) != (like != NULL) || (v == UG_HEAD_REFUSE && route != like))
            abort();
        if (v != UG_HEAD_REFUSE && memchr(norm.base, '?', norm.len) == NULL && reference_lookalike(c, norm.base, norm.len))
            abort();
        if (like != NULL &&
            (like != ug_config_match_route_loose(c, norm.base, norm.len) || like == ug_config_match_route(c, norm.base, norm.len)))
            abort();
        if (v == UG_HEAD_TAKE) {
            if (route == NULL || route < c->routes || route >= c->routes + c->route_count || h.host_count != 1 ||
                (h.method_len == 4 && memcmp(h.method, "HEAD", 4) == 0) || route != ug_config_match_route(c, norm.base, norm.len) ||
                route != ug_config_match_route_loose(c, norm.base, norm.len))
                abort();
            if (ug_head_path_is_plain(h.target, h.target_len, &plain_len) && (norm.base != h.target || norm.len != plain_len))
                abort(); /* a plain path is routed as sent */
        } else if (v == UG_HEAD_PIPELINE && route != NULL) {
            abort();
        }
        if (v == UG_HEAD_REFUSE) {
            char message[UG_ROUTE_MESSAGE_MAX];
            ug_config_resemblance_message(route, message, sizeof(message));
            if (strstr(message, route->path) == NULL)
                abort();
        }
        h2o_mem_clear_pool(&pool);
        const char *settings = NULL;
        size_t settings_len = 0;
        if (ug_head_h2c_upgrade(&h, &settings, &settings_len)) {
            unsigned n = 0;
            const ug_header_t *s = ug_head_find(&h, "http2-settings", &n);
            if (h.minor_version < 1 || n != 1 || s == NULL || !within(settings, settings_len, s->value, s->value_len))
                abort();
        }
    }

    size_t plain_len = 0;
    if (ug_head_path_is_plain(h.target, h.target_len, &plain_len)) {
        if (h.target_len == 0 || h.target[0] != '/' || plain_len > h.target_len || memchr(h.target, '%', plain_len) != NULL)
            abort();
        for (size_t i = 0; i + 1 < plain_len; ++i)
            if (h.target[i] == '/' && h.target[i + 1] == '.')
                abort();
    }

    free(buf);
    return 0;
}
