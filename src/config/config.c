/*
 * config.c - the configuration schema and its loader.
 *
 * The schema is a set of key tables: each mapping of the YAML file has a
 * table of the keys it accepts, with the handler that parses the value into a
 * field of the matching struct. ug_cfg_walk_map() (config_walk.c) does the
 * generic work (unknown, duplicate, required and null keys) and generic
 * handlers there parse strings, paths, sizes, durations, integers and
 * booleans, so adding a key is one table line here plus, at most, a small
 * handler.
 */
#include "config/config.h"
#include "config/config_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A configuration is a few KiB; a huge file is a mistake (wrong path), not a config. */
#define UG_CONFIG_MAX_FILE (1024 * 1024)
#define SEC (1000ull)

/* ---- specific handlers ------------------------------------------------------------------------------ */

static int h_threads(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    uint32_t v;
    char q[96];
    if (ug_cfg_expect(eo, n, UG_YNODE_SCALAR, path) != 0)
        return -1;
    if (n->len == 4 && memcmp(n->value, "auto", 4) == 0) {
        *(unsigned *)field = 0;
        return 0;
    }
    ug_cfg_errout_t scratch = {.source = eo->source}; /* our own message is clearer than ug_cfg_u32's */
    if (ug_cfg_u32(&scratch, n, &v, k, path) != 0)
        return ug_cfg_node_errorf(eo, n, "expected \"auto\" or an integer %llu..%llu for %s, got %s", (unsigned long long)k->min,
                                  (unsigned long long)k->max, path, Q(n, q));
    *(unsigned *)field = v;
    return 0;
}

static int h_listen_address(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_listen_t *l = field;
    ug_hostport_t hp;
    char q[96];
    if (ug_cfg_string(eo, n, &l->address, k, path) != 0)
        return -1;
    const char *why = ug_cfg_parse_listen_address(n->value, n->len, &hp);
    if (why != NULL)
        return ug_cfg_node_errorf(eo, n, "invalid %s %s: %s", path, Q(n, q), why);
    free(l->host);
    if ((l->host = strndup(hp.host, hp.host_len)) == NULL)
        return ug_cfg_nomem(eo);
    l->port = hp.port;
    return 0;
}

static const ug_cfg_key tls_keys[] = {
    {"certificate", ug_cfg_string, AT(ug_listen_t, tls_certificate), REQUIRED},
    {"key", ug_cfg_string, AT(ug_listen_t, tls_key), REQUIRED},
    {"ciphers", ug_cfg_string, AT(ug_listen_t, tls_ciphers)}, /* checked by OpenSSL when the listener starts */
    {.name = NULL},
};

static const ug_cfg_key listen_keys[] = {
    {"address", h_listen_address, WHOLE, REQUIRED},
    {"tls", ug_cfg_map, WHOLE, .sub = tls_keys},
    {.name = NULL},
};

static int h_listen(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_config_t *c = field;
    char sub[64];
    (void)k;
    if (ug_cfg_expect(eo, n, UG_YNODE_SEQUENCE, path) != 0)
        return -1;
    if (n->count == 0)
        return ug_cfg_node_errorf(eo, n, "%s must have at least one entry", path);
    if ((c->listen = calloc(n->count, sizeof(*c->listen))) == NULL)
        return ug_cfg_nomem(eo);
    c->listen_count = n->count;
    for (size_t i = 0; i < n->count; i++) {
        ug_listen_t *l = &c->listen[i];
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (ug_cfg_walk_map(eo, n->items[i], listen_keys, l, sub, NULL) != 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (c->listen[j].port == l->port && strcmp(c->listen[j].host, l->host) == 0) {
                char q[96];
                const ug_ynode_t *addr = ug_cfg_map_get(n->items[i], "address"), *first = ug_cfg_map_get(n->items[j], "address");
                return ug_cfg_node_errorf(eo, addr, "duplicate listen address %s (first at line %u)", Q(addr, q), first->line);
            }
        }
    }
    return 0;
}

static int h_forward_to(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path);

static int h_backend_url(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_backend_t *b = field;
    ug_url_parts_t u;
    char q[96];
    if (ug_cfg_string(eo, n, &b->url, k, path) != 0)
        return -1;
    const char *why = ug_cfg_parse_backend_url(n->value, n->len, &u);
    if (why != NULL)
        return ug_cfg_node_errorf(eo, n, "invalid %s %s: %s", path, Q(n, q), why);
    if (u.unix_path != NULL) {
        b->unix_path = strndup(u.unix_path, u.unix_path_len);
        b->authority = strdup("localhost"); /* HTTP/1.1 requires a Host; the app is local by definition */
        b->base_path = strdup("");
    } else {
        b->host = strndup(u.hp.host, u.hp.host_len);
        b->port = u.hp.port;
        if (asprintf(&b->authority, u.hp.is_ipv6 ? "[%.*s]:%u" : "%.*s:%u", (int)u.hp.host_len, u.hp.host, (unsigned)u.hp.port) < 0)
            b->authority = NULL;
        b->base_path = strndup(u.base != NULL ? u.base : "", u.base_len);
    }
    if ((b->unix_path == NULL && b->host == NULL) || b->authority == NULL || b->base_path == NULL)
        return ug_cfg_nomem(eo);
    return 0;
}

static const ug_cfg_key backend_keys[] = {
    {"url", h_backend_url, WHOLE, REQUIRED},
    {"timeout", ug_cfg_duration, AT(ug_backend_t, timeout_ms), RANGE(1, UINT64_MAX)},
    {"signing_key_file", ug_cfg_abs_path, AT(ug_backend_t, signing_key_file)},
    {"health_path", h_forward_to, AT(ug_backend_t, health_path)},
    {.name = NULL},
};

static const ug_cfg_key storage_keys[] = {
    {"dir", ug_cfg_abs_path, AT(ug_storage_config_t, dir), REQUIRED},
    {"app_dir", ug_cfg_abs_path, AT(ug_storage_config_t, app_dir)},
    {"min_free", ug_cfg_size, AT(ug_storage_config_t, min_free), RANGE(0, UINT64_MAX)},
    /* below a page, h2o would spill nearly every body to disk: a typo, not a wish */
    {"spool_threshold", ug_cfg_size, AT(ug_storage_config_t, spool_threshold), RANGE(4 * KiB, UINT64_MAX)},
    /* the janitor runs once a minute: a shorter retention would delete files the app has not had time to take */
    {"retention", ug_cfg_duration, AT(ug_storage_config_t, retention_ms), RANGE(60 * SEC, UINT64_MAX)},
    {"s3", ug_cfg_s3, AT(ug_storage_config_t, s3)},
    {.name = NULL},
};

static const ug_cfg_key timeout_keys[] = {
    {"header", ug_cfg_duration, AT(ug_timeouts_t, header_ms), RANGE(1, UINT64_MAX)},
    {"body_idle", ug_cfg_duration, AT(ug_timeouts_t, body_idle_ms), RANGE(1, UINT64_MAX)},
    {"keepalive", ug_cfg_duration, AT(ug_timeouts_t, keepalive_ms), RANGE(1, UINT64_MAX)},
    {"request", ug_cfg_duration, AT(ug_timeouts_t, request_ms), RANGE(1, UINT64_MAX)},
    {"body_min_rate", ug_cfg_size, AT(ug_timeouts_t, body_min_rate), RANGE(0, UINT64_MAX)},
    /* h2o's timeout queues tick in milliseconds; a window under a second measures scheduling more than the client */
    {"body_rate_window", ug_cfg_duration, AT(ug_timeouts_t, body_rate_window_ms), RANGE(1 * SEC, 3600 * SEC)},
    {.name = NULL},
};

typedef enum loose_relation {
    LOOSE_NONE = 0, /* unrelated */
    LOOSE_EQUAL,    /* the same loose form */
    LOOSE_UNDER,    /* the key's loose form is a whole-segment prefix of the path's */
} loose_relation_t;
static loose_relation_t loose_compare(const char *path, size_t path_len, const char *key, size_t key_len, size_t *key_loose_len);

/* Two routes of the same kind whose match strings share a loose form (ug_config_match_route_loose) could not both be
 * reached: each request for one would resemble the other. */
static int routes_distinct(const ug_route_t *a, const ug_route_t *b)
{
    size_t unused;
    return a->is_prefix != b->is_prefix || loose_compare(a->match, a->match_len, b->match, b->match_len, &unused) != LOOSE_EQUAL;
}

static int h_route_path(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_route_t *r = field;
    char q[96];
    if (ug_cfg_string(eo, n, &r->path, k, path) != 0)
        return -1;
    const char *s = r->path;
    size_t len = strlen(s);
    if (s[0] != '/')
        return ug_cfg_node_errorf(eo, n, "%s must start with '/', got %s", path, Q(n, q));
    if (strpbrk(s, "?#") != NULL)
        return ug_cfg_node_errorf(eo, n, "%s must not contain '?' or '#' (the query is not matched), got %s", path, Q(n, q));
    if (strchr(s, ' ') != NULL)
        return ug_cfg_node_errorf(eo, n, "%s must not contain spaces, got %s", path, Q(n, q));
    r->is_prefix = len >= 2 && s[len - 2] == '/' && s[len - 1] == '*';
    r->match_len = r->is_prefix ? len - 1 : len; /* "/files/ *" compares "/files/" */
    if (memchr(s, '*', r->match_len) != NULL || (!r->is_prefix && s[len - 1] == '*'))
        return ug_cfg_node_errorf(eo, n, "%s may contain '*' only as a trailing \"/*\", got %s", path, Q(n, q));
    free(r->match);
    if ((r->match = strndup(s, r->match_len)) == NULL)
        return ug_cfg_nomem(eo);
    return 0;
}

static int h_forward_to(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    char q[96];
    if (ug_cfg_string(eo, n, field, k, path) != 0)
        return -1;
    if (n->value[0] != '/')
        return ug_cfg_node_errorf(eo, n, "%s must start with '/', got %s", path, Q(n, q));
    if (strpbrk(n->value, " #") != NULL)
        return ug_cfg_node_errorf(eo, n, "%s must not contain spaces or '#', got %s", path, Q(n, q));
    return 0;
}

static int h_methods(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    unsigned bits = 0;
    char q[96];
    (void)k;
    if (ug_cfg_expect(eo, n, UG_YNODE_SEQUENCE, path) != 0)
        return -1;
    if (n->count == 0)
        return ug_cfg_node_errorf(eo, n, "%s must list at least one method", path);
    for (size_t i = 0; i < n->count; i++) {
        const ug_ynode_t *m = n->items[i];
        unsigned bit;
        if (ug_cfg_expect(eo, m, UG_YNODE_SCALAR, path) != 0)
            return -1;
        if ((bit = ug_method_bit(m->value, m->len)) == 0)
            return ug_cfg_node_errorf(eo, m, "unknown method %s in %s (expected GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)",
                                      Q(m, q), path);
        bits |= bit;
    }
    *(unsigned *)field = bits;
    return 0;
}

static const ug_cfg_key limits_keys[] = {
    {"max_body", ug_cfg_size, AT(ug_limits_t, max_body), RANGE(1, UINT64_MAX)},
    {"max_file", ug_cfg_size, AT(ug_limits_t, max_file), RANGE(1, UINT64_MAX)},
    {"max_files", ug_cfg_u32, AT(ug_limits_t, max_files), RANGE(0, 1000000)},
    {"max_fields", ug_cfg_u32, AT(ug_limits_t, max_fields), RANGE(0, 1000000)},
    {"max_field_size", ug_cfg_size, AT(ug_limits_t, max_field_size), RANGE(1, UINT64_MAX)},
    {.name = NULL},
};

static int h_limits(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_limits_t *l = field;
    const ug_ynode_t *seen[UG_CFG_MAX_KEYS] = {0};
    (void)k;
    if (ug_cfg_walk_map(eo, n, limits_keys, l, path, seen) != 0)
        return -1;
    if (ug_cfg_seen(limits_keys, seen, "max_file") == NULL)
        l->max_file = l->max_body; /* one file may take the whole body */
    return 0;
}

/* A one-request upload's file is part of its body: max_file may not exceed max_body. (A resumable upload's file
 * arrives over many requests, so there it may.) Checked once the whole route is read, since resumable may come after
 * limits. */
static int check_max_file(ug_cfg_errout_t *eo, const ug_ynode_t *route_node, const ug_route_t *r, const char *path)
{
    const ug_ynode_t *limits = ug_cfg_map_get(route_node, "limits");
    const ug_ynode_t *max_file = limits != NULL && limits->type == UG_YNODE_MAPPING ? ug_cfg_map_get(limits, "max_file") : NULL;
    char a[32], b[32], sub[96], lim[96];
    if (max_file == NULL || r->resumable.enabled || r->limits.max_file <= r->limits.max_body)
        return 0;
    ug_cfg_format_size(r->limits.max_file, a, sizeof(a));
    ug_cfg_format_size(r->limits.max_body, b, sizeof(b));
    return ug_cfg_node_errorf(eo, max_file, "%s (%s) must not exceed max_body (%s)",
                              ug_cfg_join(sub, sizeof(sub), ug_cfg_join(lim, sizeof(lim), path, "limits"), "max_file"), a, b);
}

/*
 * An upload route stores the request body and sends the app a manifest with the request's method: GET and HEAD carry
 * no body to store, and the app's answer to a HEAD manifest would have no body either. They are refused on upload
 * routes (pass-through routes, which store nothing, may list them). Checked once the whole route is read, since
 * pass_through may come after methods.
 */
static int check_upload_methods(ug_cfg_errout_t *eo, const ug_ynode_t *route_node, const ug_route_t *r, const char *path)
{
    const ug_ynode_t *methods = ug_cfg_map_get(route_node, "methods");
    char q[96];
    if (r->pass_through || methods == NULL || !(r->methods & (UG_METHOD_GET | UG_METHOD_HEAD)))
        return 0;
    for (size_t i = 0; i < methods->count; i++) {
        const ug_ynode_t *m = methods->items[i];
        unsigned bit = ug_method_bit(m->value, m->len);
        if (bit == UG_METHOD_GET || bit == UG_METHOD_HEAD)
            return ug_cfg_node_errorf(eo, m,
                                      "%s.methods: %s is not allowed on an upload route: it has no body to store "
                                      "(list it on a route with pass_through: true)",
                                      path, Q(m, q));
    }
    return 0;
}


/* resumable.protocols: a list of "tus" and "ietf" (the IETF resumable-upload draft); the route refuses the requests
 * of a protocol it does not list. */
static int h_resumable_protocols(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    char q[96];
    unsigned *protocols = field;
    (void)k;
    if (ug_cfg_expect(eo, n, UG_YNODE_SEQUENCE, path) != 0)
        return -1;
    if (n->count == 0)
        return ug_cfg_node_errorf(eo, n, "%s must name at least one protocol (tus, ietf)", path);
    *protocols = 0;
    for (size_t i = 0; i < n->count; i++) {
        const ug_ynode_t *p = n->items[i];
        if (ug_cfg_expect(eo, p, UG_YNODE_SCALAR, path) != 0)
            return -1;
        if (strcmp(p->value, "tus") == 0)
            *protocols |= UG_RESUMABLE_TUS;
        else if (strcmp(p->value, "ietf") == 0)
            *protocols |= UG_RESUMABLE_IETF;
        else
            return ug_cfg_node_errorf(eo, p, "%s: unknown protocol %s (expected tus or ietf)", path, Q(p, q));
    }
    return 0;
}

static const ug_cfg_key resumable_keys[] = {
    {"expires", ug_cfg_duration, AT(ug_resumable_config_t, expires_ms), RANGE(1000, UINT64_MAX)},
    {"max_chunk", ug_cfg_size, AT(ug_resumable_config_t, max_chunk), RANGE(1, UINT64_MAX)},
    {"fsync", ug_cfg_bool, AT(ug_resumable_config_t, fsync)},
    {"protocols", h_resumable_protocols, AT(ug_resumable_config_t, protocols)},
    {.name = NULL},
};

static int h_resumable(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_resumable_config_t *rc = field;
    (void)k;
    rc->enabled = 1;
    rc->expires_ms = 24 * 3600 * 1000ull;
    rc->fsync = 1;
    rc->protocols = UG_RESUMABLE_TUS | UG_RESUMABLE_IETF;
    return ug_cfg_walk_map(eo, n, resumable_keys, rc, path, NULL);
}

/* A resumable route: the tus methods, on a prefix route (ids live under it), storing rather than passing through. */
static int check_resumable(ug_cfg_errout_t *eo, const ug_ynode_t *route_node, ug_route_t *r, const char *path)
{
    const ug_ynode_t *node = ug_cfg_map_get(route_node, "resumable");
    if (!r->resumable.enabled)
        return 0;
    if (ug_cfg_map_get(route_node, "methods") != NULL)
        return ug_cfg_node_errorf(eo, ug_cfg_map_get(route_node, "methods"),
                                  "%s.methods: a resumable route takes the tus methods (POST, HEAD, PATCH, DELETE, OPTIONS); "
                                  "leave methods out",
                                  path);
    if (r->pass_through)
        return ug_cfg_node_errorf(eo, node, "%s.resumable: a resumable route stores uploads: it cannot be pass_through", path);
    if (!r->is_prefix)
        return ug_cfg_node_errorf(eo, node, "%s.resumable: the route's path must end in \"/*\" (uploads live under it)", path);
    r->methods = UG_METHOD_POST | UG_METHOD_HEAD | UG_METHOD_PATCH | UG_METHOD_DELETE | UG_METHOD_OPTIONS;
    if (r->resumable.max_chunk == 0)
        r->resumable.max_chunk = r->limits.max_file;
    return 0;
}

static const ug_cfg_key route_keys[] = {
    {"path", h_route_path, WHOLE, REQUIRED},
    {"methods", h_methods, AT(ug_route_t, methods)},
    {"forward_to", h_forward_to, AT(ug_route_t, forward_to)},
    {"keep_on_error", ug_cfg_bool, AT(ug_route_t, keep_on_error)},
    {"limits", h_limits, AT(ug_route_t, limits)},
    {"pass_through", ug_cfg_bool, AT(ug_route_t, pass_through)},
    {"max_pass_body", ug_cfg_size, AT(ug_route_t, max_pass_body), RANGE(0, UINT64_MAX - 1)},
    {"cors", ug_cfg_cors, AT(ug_route_t, cors)},
    {"auth", ug_cfg_auth, AT(ug_route_t, auth)},
    {"resumable", h_resumable, AT(ug_route_t, resumable)},
    {"store", ug_cfg_route_store, AT(ug_route_t, store)},
    {.name = NULL},
};

static void route_defaults(ug_route_t *r)
{
    r->methods = UG_METHOD_POST | UG_METHOD_PUT;
    r->limits.max_body = 1 * GiB;
    r->limits.max_file = r->limits.max_body;
    r->limits.max_files = 32;
    r->limits.max_fields = 128;
    r->limits.max_field_size = 64 * KiB;
    r->max_pass_body = UG_MAX_PASS_BODY_INHERIT;
}

static int h_routes(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_config_t *c = field;
    char sub[64], q[96], key[96];
    (void)k;
    if (ug_cfg_expect(eo, n, UG_YNODE_SEQUENCE, path) != 0)
        return -1;
    if (n->count == 0)
        return 0;
    if ((c->routes = calloc(n->count, sizeof(*c->routes))) == NULL)
        return ug_cfg_nomem(eo);
    c->route_count = n->count;
    for (size_t i = 0; i < n->count; i++) {
        ug_route_t *r = &c->routes[i];
        const ug_ynode_t *seen[UG_CFG_MAX_KEYS] = {0};
        route_defaults(r);
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (ug_cfg_walk_map(eo, n->items[i], route_keys, r, sub, seen) != 0 ||
            check_upload_methods(eo, n->items[i], r, sub) != 0 || check_max_file(eo, n->items[i], r, sub) != 0 ||
            check_resumable(eo, n->items[i], r, sub) != 0)
            return -1;
        const ug_ynode_t *mpb = ug_cfg_seen(route_keys, seen, "max_pass_body");
        if (mpb != NULL && !r->pass_through) /* an upload route's bodies have limits:, its other methods the global one */
            return ug_cfg_node_errorf(eo, mpb, "%s applies only to a route with pass_through: true",
                                      ug_cfg_join(key, sizeof(key), sub, "max_pass_body"));
        for (size_t j = 0; j < i; j++) {
            const ug_ynode_t *p = ug_cfg_map_get(n->items[i], "path"), *first = ug_cfg_map_get(n->items[j], "path");
            if (strcmp(c->routes[j].path, r->path) == 0)
                return ug_cfg_node_errorf(eo, p, "duplicate route path %s (first defined at line %u)", Q(p, q), first->line);
            if (!routes_distinct(&c->routes[j], r)) {
                char q2[96];
                return ug_cfg_node_errorf(eo, p,
                                          "route path %s differs from %s (line %u) only in letter case or slashes: requests "
                                          "for one would be refused as resembling the other",
                                          Q(p, q), Q(first, q2), first->line);
            }
        }
    }
    return 0;
}

static const ug_cfg_key admin_keys[] = {
    {"address", h_listen_address, WHOLE, REQUIRED},
    {.name = NULL},
};

static int h_log_level(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    static const char *const names[] = {"debug", "info", "warn", "error"}; /* the order of ug_log_level_t */
    char q[96];
    (void)k;
    if (ug_cfg_expect(eo, n, UG_YNODE_SCALAR, path) != 0)
        return -1;
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); ++i) {
        if (n->len == strlen(names[i]) && memcmp(n->value, names[i], n->len) == 0) {
            *(unsigned *)field = i;
            return 0;
        }
    }
    return ug_cfg_node_errorf(eo, n, "%s must be debug, info, warn or error, got %s", path, Q(n, q));
}

static const ug_cfg_key log_keys[] = {
    {"level", h_log_level, AT(ug_config_t, log_level)},
    {.name = NULL},
};

static const ug_cfg_key top_keys[] = {
    {"listen", h_listen, WHOLE},
    {"threads", h_threads, AT(ug_config_t, threads), RANGE(1, 256)},
    {"backend", ug_cfg_map, AT(ug_config_t, backend), .sub = backend_keys, REQUIRED},
    {"storage", ug_cfg_map, AT(ug_config_t, storage), .sub = storage_keys, REQUIRED},
    {"timeouts", ug_cfg_map, AT(ug_config_t, timeouts), .sub = timeout_keys},
    {"max_header_size", ug_cfg_size, AT(ug_config_t, max_header_size), RANGE(1 * KiB, 1 * MiB)},
    {"max_connections", ug_cfg_size, AT(ug_config_t, max_connections), RANGE(1, 10000000)},
    {"max_connections_per_client", ug_cfg_size, AT(ug_config_t, max_connections_per_client), RANGE(0, 10000000)},
    {"max_pass_body", ug_cfg_size, AT(ug_config_t, max_pass_body), RANGE(0, UINT64_MAX - 1)},
    {"cors", ug_cfg_cors, AT(ug_config_t, cors)},
    {"routes", h_routes, WHOLE},
    {"admin", ug_cfg_map, AT(ug_config_t, admin), .sub = admin_keys},
    {"shutdown_grace", ug_cfg_duration, AT(ug_config_t, shutdown_grace_ms), RANGE(0, 3600 * SEC)},
    {"log", ug_cfg_map, WHOLE, .sub = log_keys},
    {.name = NULL},
};

/* ---- public API --------------------------------------------------------------------------------------- */

static void set_defaults(ug_config_t *c)
{
    c->threads = 0;
    c->backend.timeout_ms = 60 * SEC;
    c->storage.min_free = 1 * GiB;
    /* Bodies buffered for h2o's request pipeline (pass-through requests) use it. Low, so a burst of buffered bodies
     * lands in reclaimable spool pages rather than in anonymous memory malloc keeps; 4 MiB triples 1 MiB h2c uploads
     * at ~3 x the peak RSS (docs/design-notes.md), a trade the operator makes. */
    c->storage.spool_threshold = 1 * MiB;
    c->timeouts.header_ms = 10 * SEC;
    c->timeouts.body_idle_ms = 30 * SEC;
    c->timeouts.keepalive_ms = 60 * SEC;
    c->timeouts.request_ms = 3600 * SEC;
    /* nginx's client_body_timeout / Envoy's overload manager in spirit: 1 KiB/s is far below any real client (a 2G
     * phone link gives ~10 KiB/s) and still cuts a trickling body off after one window. */
    c->timeouts.body_min_rate = 1 * KiB;
    c->timeouts.body_rate_window_ms = 10 * SEC;
    c->max_header_size = 16 * KiB;
    c->max_connections = 10000;
    c->max_connections_per_client = UINT64_MAX; /* unset: derived from max_connections once it is known */
    /* nginx's client_max_body_size default: pass-through requests are an API's, not uploads; larger ones are meant to
     * go through an upload route or to be allowed explicitly */
    c->max_pass_body = 1 * MiB;
    c->shutdown_grace_ms = 25 * SEC;
    c->log_level = 1; /* info */
}

/* Probes and metrics must never be reachable on the public port. */
static int check_admin_address(ug_cfg_errout_t *eo, const ug_ynode_t *root, const ug_config_t *c)
{
    char q[96];
    if (c->admin.address == NULL)
        return 0;
    for (size_t i = 0; i < c->listen_count; ++i) {
        if (c->listen[i].port == c->admin.port &&
            (strcmp(c->listen[i].host, c->admin.host) == 0 || strcmp(c->listen[i].host, "0.0.0.0") == 0 ||
             strcmp(c->listen[i].host, "::") == 0 || strcmp(c->admin.host, "0.0.0.0") == 0 || strcmp(c->admin.host, "::") == 0)) {
            const ug_ynode_t *addr = ug_cfg_map_get(ug_cfg_map_get(root, "admin"), "address");
            return ug_cfg_node_errorf(eo, addr, "admin.address %s must not share a port with listen %s", Q(addr, q),
                                      c->listen[i].address);
        }
    }
    return 0;
}

static int default_listener(ug_config_t *c)
{
    if ((c->listen = calloc(1, sizeof(*c->listen))) == NULL)
        return -1;
    c->listen_count = 1;
    c->listen[0].port = 8080;
    c->listen[0].address = strdup("127.0.0.1:8080");
    c->listen[0].host = strdup("127.0.0.1");
    return c->listen[0].address != NULL && c->listen[0].host != NULL ? 0 : -1;
}

ug_err_t ug_config_load_string(const char *name, const char *yaml, size_t len, ug_config_t **out, char *errbuf, size_t errlen)
{
    ug_cfg_errout_t eo = {.source = name != NULL ? name : "<config>", .buf = errbuf, .len = errlen};
    ug_ynode_t *root;
    ug_config_t *c;
    int rc;

    *out = NULL;
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    if (ug_yaml_parse(yaml != NULL ? yaml : "", yaml != NULL ? len : 0, &root, &eo) != 0)
        return eo.err;
    if (root == NULL) {
        ug_cfg_errorf(&eo, 1, 1, "the configuration is empty (backend and storage are required)");
        return eo.err;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL || (c->source = strdup(eo.source)) == NULL) {
        free(c);
        ug_ynode_free(root);
        ug_cfg_nomem(&eo);
        return eo.err;
    }
    set_defaults(c);
    rc = ug_cfg_walk_map(&eo, root, top_keys, c, "", NULL);
    if (rc == 0 && c->listen_count == 0 && default_listener(c) != 0)
        rc = ug_cfg_nomem(&eo);
    if (rc == 0)
        rc = check_admin_address(&eo, root, c);
    if (rc == 0)
        rc = ug_cfg_check_route_stores(&eo, root, c);
    /* An eighth of the slots per address: a sidecar behind an ingress sees a few client addresses (the ingress's),
     * each of which may need many connections, yet no single one can hold them all (nginx limit_conn, per key). */
    if (rc == 0 && c->max_connections_per_client == UINT64_MAX)
        c->max_connections_per_client = c->max_connections / 8 != 0 ? c->max_connections / 8 : 1;
    ug_ynode_free(root);
    if (rc != 0) {
        ug_config_free(c);
        return eo.err;
    }
    *out = c;
    return UG_OK;
}

ug_err_t ug_config_load_file(const char *path, ug_config_t **out, char *errbuf, size_t errlen)
{
    size_t cap = UG_CONFIG_MAX_FILE + 1, len;
    char *buf;
    FILE *f;
    ug_err_t err;

    *out = NULL;
    if ((f = fopen(path, "rb")) == NULL) {
        snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        return UG_ERR_CONFIG;
    }
    if ((buf = malloc(cap)) == NULL) {
        fclose(f);
        snprintf(errbuf, errlen, "%s: out of memory", path);
        return UG_ERR_NOMEM;
    }
    len = fread(buf, 1, cap, f);
    if (ferror(f)) {
        snprintf(errbuf, errlen, "%s: cannot read: %s", path, strerror(errno));
        err = UG_ERR_CONFIG;
    } else if (len == cap) {
        snprintf(errbuf, errlen, "%s: larger than %d bytes; is this the configuration file?", path, UG_CONFIG_MAX_FILE);
        err = UG_ERR_CONFIG;
    } else {
        err = ug_config_load_string(path, buf, len, out, errbuf, errlen);
    }
    free(buf);
    fclose(f);
    return err;
}

void ug_config_free(ug_config_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->listen_count; i++) {
        free(c->listen[i].address);
        free(c->listen[i].host);
        free(c->listen[i].tls_certificate);
        free(c->listen[i].tls_key);
        free(c->listen[i].tls_ciphers);
    }
    free(c->listen);
    free(c->backend.url);
    free(c->backend.host);
    free(c->backend.unix_path);
    free(c->backend.authority);
    free(c->backend.base_path);
    free(c->backend.signing_key_file);
    free(c->backend.health_path);
    free(c->admin.address);
    free(c->admin.host);
    ug_cfg_cors_free(c->cors);
    free(c->storage.dir);
    free(c->storage.app_dir);
    ug_cfg_s3_free(c->storage.s3);
    for (size_t i = 0; i < c->route_count; i++) {
        free(c->routes[i].path);
        free(c->routes[i].match);
        ug_cfg_cors_free(c->routes[i].cors);
        ug_cfg_auth_free(c->routes[i].auth);
        free(c->routes[i].forward_to);
    }
    free(c->routes);
    free(c->source);
    free(c);
}

/* What both matchers compare: the path up to its first '?' (*len shortened). 0 when there is nothing to match. */
static int routing_path(const ug_config_t *c, const char *path, size_t *len)
{
    const char *q;
    if (c == NULL || (path == NULL && *len != 0))
        return 0;
    if (*len > 0 && (q = memchr(path, '?', *len)) != NULL)
        *len = (size_t)(q - path);
    return 1;
}

const ug_route_t *ug_config_match_route(const ug_config_t *c, const char *path, size_t len)
{
    const ug_route_t *best = NULL;

    if (!routing_path(c, path, &len))
        return NULL;
    for (size_t i = 0; i < c->route_count; i++) {
        const ug_route_t *r = &c->routes[i];
        if (r->is_prefix) {
            if (len >= r->match_len && memcmp(path, r->match, r->match_len) == 0 &&
                (best == NULL || r->match_len > best->match_len))
                best = r;
        } else if (len == r->match_len && memcmp(path, r->match, len) == 0) {
            return r; /* paths are unique, so at most one exact route matches, and it wins */
        }
    }
    return best;
}

/* One byte of a path's loose form: ASCII letters folded to lower case, each run of '/' as one '/', trailing '/'
 * dropped. Returns the next byte from *i on, or -1 at the end. */
static int loose_next(const char *s, size_t len, size_t *i)
{
    if (*i >= len)
        return -1;
    if (s[*i] == '/') {
        while (*i < len && s[*i] == '/')
            ++*i;
        return *i < len ? '/' : -1;
    }
    unsigned char ch = (unsigned char)s[(*i)++];
    return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* How `path` relates to a route's match string `key` in loose form; *key_loose_len receives the key's loose length
 * (what ranks prefix routes). */
static loose_relation_t loose_compare(const char *path, size_t path_len, const char *key, size_t key_len, size_t *key_loose_len)
{
    size_t i = 0, j = 0, n = 0;
    for (;; ++n) {
        int k = loose_next(key, key_len, &j), p = loose_next(path, path_len, &i);
        if (k == -1) {
            *key_loose_len = n;
            return p == -1 ? LOOSE_EQUAL : p == '/' ? LOOSE_UNDER : LOOSE_NONE;
        }
        if (p != k)
            return LOOSE_NONE;
    }
}

const ug_route_t *ug_config_match_route_loose(const ug_config_t *c, const char *path, size_t len)
{
    const ug_route_t *best = NULL;
    size_t best_len = 0, key_len;

    if (!routing_path(c, path, &len))
        return NULL;
    for (size_t i = 0; i < c->route_count; i++) {
        const ug_route_t *r = &c->routes[i];
        loose_relation_t rel = loose_compare(path, len, r->match, r->match_len, &key_len);
        if (!r->is_prefix && rel == LOOSE_EQUAL)
            return r; /* no two exact routes share a loose form (routes_distinct), so this one wins */
        if (r->is_prefix && rel != LOOSE_NONE && (best == NULL || key_len > best_len)) {
            best = r;
            best_len = key_len;
        }
    }
    return best;
}

const ug_route_t *ug_config_resembled_route(const ug_config_t *c, const char *path, size_t len)
{
    /* Whenever a path matches a route exactly it also matches one loosely, so a difference always has a loose route. */
    const ug_route_t *loose = ug_config_match_route_loose(c, path, len);
    return loose != ug_config_match_route(c, path, len) ? loose : NULL;
}

void ug_config_resemblance_message(const ug_route_t *like, char *buf, size_t len)
{
    snprintf(buf, len,
             "the request path resembles the route %s but does not match it exactly (routes are case-sensitive, and "
             "trailing and repeated slashes count)",
             like->path);
}

uint64_t ug_config_largest_max_body(const ug_config_t *c)
{
    uint64_t m = 0;
    for (size_t i = 0; i < c->route_count; ++i)
        if (c->routes[i].limits.max_body > m)
            m = c->routes[i].limits.max_body;
    return m;
}

uint64_t ug_config_pass_limit(const ug_config_t *c, const ug_route_t *route)
{
    if (route != NULL && route->pass_through && route->max_pass_body != UG_MAX_PASS_BODY_INHERIT)
        return route->max_pass_body;
    return c->max_pass_body;
}

const ug_cors_config_t *ug_config_cors_for(const ug_config_t *c, const ug_route_t *route)
{
    return route != NULL && route->cors != NULL ? route->cors : c->cors;
}
