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

/* Ordinary upload routes take the IETF draft's resumable requests unless they say otherwise; their uploads follow the
 * resumable block's defaults with one append bounded by max_body, under resumable_path. */
Test(resumable_config, ordinary_routes_take_resumable_requests)
{
    ug_config_t *c = load_ok(BASE "routes:\n"
                                  "  - {path: /upload, limits: {max_body: 8MiB}}\n"
                                  "  - {path: /off, resumable_requests: false}\n"
                                  "  - {path: /pass, pass_through: true}\n"
                                  "  - {path: /files/*, resumable: {protocols: [tus]}}\n");
    const ug_route_t *r = &c->routes[0];
    cr_assert(r->resumable_requests);
    cr_assert_not(r->resumable.enabled, "no resumable: block");
    cr_assert_eq(r->resumable.max_chunk, 8 * MiB);
    cr_assert_eq(r->resumable.expires_ms, 24ull * 3600 * 1000);
    cr_assert(r->resumable.fsync);
    cr_assert_eq(r->resumable.protocols, UG_RESUMABLE_IETF);
    cr_assert_not(c->routes[1].resumable_requests);
    cr_assert_not(c->routes[2].resumable_requests, "a pass-through route stores nothing");
    cr_assert_eq(c->routes[3].resumable.protocols, UG_RESUMABLE_TUS, "a resumable block keeps its own settings");
    cr_assert_str_eq(c->resumable_path, "/.uploadgate/uploads/");
    cr_assert_eq(c->resumable_path_len, strlen("/.uploadgate/uploads/"));
    cr_assert_eq(ug_config_route_by_path(c, "/off"), &c->routes[1]);
    cr_assert_eq(ug_config_route_by_path(c, "/files/*"), &c->routes[3]);
    cr_assert_null(ug_config_route_by_path(c, "/files/"));
    ug_config_free(c);
    c = load_ok(BASE "resumable_path: /_resume/\nroutes: [{path: /upload}]\n");
    cr_assert_str_eq(c->resumable_path, "/_resume/");
    ug_config_free(c);
}

Test(resumable_config, resumable_path_errors)
{
    load_err(BASE "resumable_path: /x\n",
             "t.yaml:3:17: resumable_path \"/x\" must start and end with '/' and name a folder (e.g. /.uploadgate/uploads/)");
    load_err(BASE "resumable_path: /\n",
             "t.yaml:3:17: resumable_path \"/\" must start and end with '/' and name a folder (e.g. /.uploadgate/uploads/)");
    load_err(BASE "resumable_path: /a/../b/\n", "t.yaml:3:17: resumable_path \"/a/../b/\" may not hold an empty, '.' or '..' segment");
    load_err(BASE "resumable_path: /a//b/\n", "t.yaml:3:17: resumable_path \"/a//b/\" may not hold an empty, '.' or '..' segment");
    load_err(BASE "resumable_path: \"/a%20/\"\n",
             "t.yaml:3:17: resumable_path \"/a%20/\" may hold only visible ASCII without '?', '#', '%' or '\\'");
    load_err(BASE "resumable_path: /up/\nroutes: [{path: /up/files/*}]\n",
             "t.yaml:4:17: route path \"/up/files/*\" lies under resumable_path /up/, which uploadgate reserves for the "
             "URLs of resumable uploads");
    load_err(BASE "routes: [{path: /.uploadgate/uploads/x}]\n",
             "t.yaml:3:17: route path \"/.uploadgate/uploads/x\" lies under resumable_path /.uploadgate/uploads/, which "
             "uploadgate reserves for the URLs of resumable uploads");
}
