/*
 * fuzz_config.c - libFuzzer target for the YAML configuration loader
 * (src/config*.c, with libyaml and the CORS/auth checks behind it).
 *
 * The input is the file text, loaded with
 * ug_config_load_string("fuzz.yaml", ...) from an exact-size heap copy (no
 * NUL after it). Properties checked (abort() on violation):
 *  - success and failure are clean: OK with a config and an empty message,
 *    or UG_ERR_CONFIG / UG_ERR_NOMEM with no config;
 *  - every message starts with "fuzz.yaml:"; a message with a position reads
 *    "fuzz.yaml:<line>:<col>: <text>" with 1 <= line, col <= input size + 1,
 *    and the only one without a position is "fuzz.yaml: out of memory";
 *  - messages hold no control character and are valid UTF-8 (they go to
 *    logs; values are quoted with escapes and cut short);
 *  - a tiny error buffer gives the same verdict, NUL-terminated;
 *  - a loaded config keeps the promises of config.h that the server relies
 *    on without checking again (listener, backend, storage, route matching,
 *    which ignores the query; resumable_path is a folder no route lies under, and each route is found by its
 *    path).
 *
 * Build: tests/fuzz/build.sh
 * Run:   build-fuzz/fuzz_config -dict=tests/fuzz/config.dict tests/fuzz/corpus/config
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

#define SOURCE "fuzz.yaml"

/* Strict UTF-8 (RFC 3629). */
static int valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t more;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            more = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            more = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            more = 3, cp = c & 0x07;
        else
            return 0;
        if (n - i <= more)
            return 0;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += more + 1;
    }
    return 1;
}

static void check_message(const char *msg, size_t size)
{
    const size_t pfx = sizeof(SOURCE ":") - 1;
    size_t len = strlen(msg);

    if (strncmp(msg, SOURCE ":", pfx) != 0)
        abort();
    if (strcmp(msg + pfx, " out of memory") != 0) {
        unsigned line, col;
        int n = -1;
        if (sscanf(msg + pfx, "%u:%u: %n", &line, &col, &n) != 2 || n < 0)
            abort();
        /* "%u:%u: " must be exactly digits, ':', digits, ": " (sscanf skips blanks and takes signs) */
        const char *p = msg + pfx;
        size_t d1 = strspn(p, "0123456789"), d2 = d1 < len && p[d1] == ':' ? strspn(p + d1 + 1, "0123456789") : 0;
        if (d1 == 0 || d2 == 0 || strncmp(p + d1 + 1 + d2, ": ", 2) != 0)
            abort();
        if (line == 0 || col == 0 || line > size + 1 || col > size + 1 || msg[pfx + (size_t)n] == '\0')
            abort();
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
            abort();
    if (!valid_utf8((const unsigned char *)msg, len))
        abort();
}

static int is_abs(const char *s)
{
    return s != NULL && s[0] == '/';
}

static void check_config(const ug_config_t *c)
{
    if (c->source == NULL || strcmp(c->source, SOURCE) != 0 || c->listen == NULL || c->listen_count == 0)
        abort();
    for (size_t i = 0; i < c->listen_count; i++) {
        const ug_listen_t *l = &c->listen[i];
        if (l->address == NULL || l->host == NULL || l->port == 0 || (l->tls_certificate == NULL) != (l->tls_key == NULL))
            abort();
    }
    const ug_backend_t *b = &c->backend;
    if (b->url == NULL || b->authority == NULL || b->base_path == NULL || (b->host == NULL) == (b->unix_path == NULL) ||
        b->timeout_ms == 0)
        abort();
    if (b->unix_path == NULL && b->port == 0)
        abort();
    if (!is_abs(c->storage.dir) || (c->storage.app_dir != NULL && !is_abs(c->storage.app_dir)))
        abort();
    if ((c->routes == NULL) != (c->route_count == 0))
        abort();
    /* resumable_path: a folder of the path space that no route lies under */
    const char *rp = c->resumable_path;
    if (rp == NULL || strlen(rp) != c->resumable_path_len || c->resumable_path_len < 3 || rp[0] != '/' ||
        rp[c->resumable_path_len - 1] != '/' || strstr(rp, "//") != NULL || strstr(rp, "/./") != NULL ||
        strstr(rp, "/../") != NULL || strpbrk(rp, "?#%\\ ") != NULL)
        abort();
    for (size_t i = 0; i < c->route_count; i++) {
        const ug_route_t *r = &c->routes[i];
        if (strncmp(r->match, rp, c->resumable_path_len) == 0 || ug_config_route_by_path(c, r->path) != r)
            abort();
        if (r->path == NULL || r->match == NULL || r->path[0] != '/' || strlen(r->match) != r->match_len ||
            strncmp(r->path, r->match, r->match_len) != 0 || r->methods == 0 || r->limits.max_file > r->limits.max_body)
            abort();
        /* the route's own match string finds it, or a route that beats it (an exact one, or a longer prefix) */
        const ug_route_t *m = ug_config_match_route(c, r->match, r->match_len);
        if (m == NULL || (!r->is_prefix && m != r) || (m != r && m->is_prefix && m->match_len < r->match_len))
            abort();
        /* the query is not part of the match */
        char *q = malloc(r->match_len + 3);
        if (q == NULL)
            abort();
        memcpy(q, r->match, r->match_len);
        memcpy(q + r->match_len, "?/x", 3);
        if (ug_config_match_route(c, q, r->match_len + 3) != m)
            abort();
        free(q);
        if (ug_config_cors_for(c, r) != (r->cors != NULL ? r->cors : c->cors))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024], tiny[12];
    ug_config_t *cfg = (ug_config_t *)1;
    char *text = malloc(size != 0 ? size : 1);

    if (text == NULL)
        abort();
    if (size != 0)
        memcpy(text, data, size);
    memset(err, 'x', sizeof(err));
    ug_err_t e = ug_config_load_string(SOURCE, text, size, &cfg, err, sizeof err);
    if (memchr(err, '\0', sizeof err) == NULL)
        abort();
    if (e == UG_OK) {
        if (cfg == NULL || err[0] != '\0')
            abort();
        check_config(cfg);
        ug_config_free(cfg);
    } else {
        if ((e != UG_ERR_CONFIG && e != UG_ERR_NOMEM) || cfg != NULL)
            abort();
        check_message(err, size);
        /* a short buffer: the same verdict, a NUL-terminated prefix of the same message */
        ug_err_t e2 = ug_config_load_string(SOURCE, text, size, &cfg, tiny, sizeof tiny);
        if (e2 != e || cfg != NULL || memchr(tiny, '\0', sizeof tiny) == NULL || strncmp(tiny, err, strlen(tiny)) != 0)
            abort();
    }
    free(text);
    return 0;
}
