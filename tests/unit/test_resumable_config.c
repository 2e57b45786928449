/*
 * A route's resumable: block: defaults, the tus methods, its checks (file:line:col), and the protocols list (tus,
 * ietf; both by default).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "config/config.h"
#include "config_load.h"

#define BASE "backend: {url: http://127.0.0.1:8000}\nstorage: {dir: /tmp}\n"
#define MiB (1024ull * 1024ull)
#define GiB (1024ull * MiB)

Test(resumable_config, defaults_and_methods)
{
    ug_config_t *c = load_ok(BASE "routes: [{path: /files/*, resumable: {}, limits: {max_file: 20GiB}}]\n");
    const ug_route_t *r = &c->routes[0];
    cr_assert(r->resumable.enabled);
    cr_assert_eq(r->resumable.expires_ms, 24ull * 3600 * 1000);
    cr_assert_eq(r->resumable.max_chunk, 20 * GiB, "max_chunk defaults to max_file");
    cr_assert_eq(r->limits.max_file, 20 * GiB, "a resumable file may exceed max_body: it comes in many requests");
    cr_assert_eq(r->resumable.protocols, UG_RESUMABLE_TUS | UG_RESUMABLE_IETF, "both protocols by default");
    cr_assert_eq(r->methods, UG_METHOD_POST | UG_METHOD_HEAD | UG_METHOD_PATCH | UG_METHOD_DELETE | UG_METHOD_OPTIONS);
    cr_assert(r->resumable.fsync, "offsets are flushed to disk unless the route says otherwise");
    ug_config_free(c);
}

Test(resumable_config, keys)
{
    ug_config_t *c = load_ok(BASE "routes:\n"
                                  "  - path: /files/*\n"
                                  "    resumable: {expires: 2h, max_chunk: 64MiB, protocols: [tus], fsync: false}\n"
                                  "  - {path: /upload}\n"
                                  "  - {path: /ietf/*, resumable: {protocols: [ietf]}}\n"
                                  "  - {path: /both/*, resumable: {protocols: [ietf, tus]}}\n");
    cr_assert_eq(c->routes[0].resumable.protocols, UG_RESUMABLE_TUS);
    cr_assert_eq(c->routes[2].resumable.protocols, UG_RESUMABLE_IETF);
    cr_assert_eq(c->routes[3].resumable.protocols, UG_RESUMABLE_TUS | UG_RESUMABLE_IETF);
    cr_assert_eq(c->routes[0].resumable.expires_ms, 2ull * 3600 * 1000);
    cr_assert_eq(c->routes[0].resumable.max_chunk, 64 * MiB);
    cr_assert_not(c->routes[0].resumable.fsync);
    cr_assert_not(c->routes[1].resumable.enabled);
    ug_config_free(c);
}

Test(resumable_config, errors)
{
    load_err(BASE "routes: [{path: /files/*, resumable: {protocols: []}}]\n",
             "t.yaml:3:50: routes[0].resumable.protocols must name at least one protocol (tus, ietf)");
    load_err(BASE "routes: [{path: /files/*, resumable: {protocols: [s3]}}]\n",
             "t.yaml:3:51: routes[0].resumable.protocols: unknown protocol \"s3\" (expected tus or ietf)");
    load_err(BASE "routes: [{path: /files, resumable: {}}]\n",
             "t.yaml:3:36: routes[0].resumable: the route's path must end in \"/*\" (uploads live under it)");
    load_err(BASE "routes: [{path: /files/*, methods: [POST], resumable: {}}]\n",
             "t.yaml:3:36: routes[0].methods: a resumable route takes the tus methods (POST, HEAD, PATCH, DELETE, OPTIONS); "
             "leave methods out");
    load_err(BASE "routes: [{path: /files/*, pass_through: true, resumable: {}}]\n",
             "t.yaml:3:58: routes[0].resumable: a resumable route stores uploads: it cannot be pass_through");
    load_err(BASE "routes: [{path: /files/*, resumable: {expires: 10ms}}]\n",
             "t.yaml:3:48: routes[0].resumable.expires must be at least 1s, got \"10ms\"");
    load_err(BASE "routes: [{path: /upload, limits: {max_file: 2GiB}}]\n",
             "t.yaml:3:45: routes[0].limits.max_file (2GiB) must not exceed max_body (1GiB)");
}
