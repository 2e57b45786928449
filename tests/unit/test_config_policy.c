/*
 * The cors: and auth: blocks of the configuration: parsed into the policy
 * structs, and their validation errors pointed at the offending node.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "config/config.h"
#include "config_load.h"

#define BASE "backend: {url: http://127.0.0.1:8000}\nstorage: {dir: /tmp}\n"

Test(config_policy, global_and_route_cors)
{
    ug_config_t *c = load_ok(BASE "cors:\n"
                                  "  allow_origins: [\"https://app.example.com\", \"https://*.example.org\"]\n"
                                  "  allow_methods: [GET, POST, PUT]\n"
                                  "  allow_headers: [Authorization, Content-Type]\n"
                                  "  expose_headers: [X-Request-Id]\n"
                                  "  allow_credentials: true\n"
                                  "  max_age: 10m\n"
                                  "routes:\n"
                                  "  - path: /upload\n"
                                  "  - path: /public\n"
                                  "    cors: {allow_origins: [\"*\"]}\n");
    cr_assert_not_null(c->cors);
    cr_assert_eq(c->cors->n_origins, 2);
    cr_assert_str_eq(c->cors->allow_origins[1], "https://*.example.org");
    cr_assert_eq(c->cors->n_methods, 3);
    cr_assert_eq(c->cors->allow_credentials, 1);
    cr_assert_eq(c->cors->max_age_set, 1);
    cr_assert_eq(c->cors->max_age_s, 600);
    cr_assert(ug_cors_origin_allowed(c->cors, "https://a.b.example.org", 23));
    cr_assert_eq(ug_config_cors_for(c, &c->routes[0]), c->cors);
    const ug_cors_config_t *pub = ug_config_cors_for(c, &c->routes[1]);
    cr_assert_neq(pub, c->cors);
    cr_assert(ug_cors_origin_allowed(pub, "https://anything.test", 21));
    cr_assert_eq(ug_config_cors_for(c, NULL), c->cors);
    ug_config_free(c);
}

Test(config_policy, no_cors_block_means_none)
{
    ug_config_t *c = load_ok(BASE);
    cr_assert_null(c->cors);
    cr_assert_null(ug_config_cors_for(c, NULL));
    cr_assert_eq(c->max_connections, 10000);
    ug_config_free(c);
}

Test(config_policy, star_with_credentials_is_refused_at_the_entry)
{
    load_err(BASE "cors:\n"
                  "  allow_origins: [\"https://a.example.com\", \"*\"]\n"
                  "  allow_credentials: true\n",
             "t.yaml:4:44: cors: allow_origins \"*\" cannot be combined with allow_credentials: true; list the origins");
}

Test(config_policy, auth_block_and_pass_through)
{
    ug_config_t *c = load_ok("storage: {dir: /tmp}\n"
                             "max_connections: 64\n"
                             "backend: {url: http://127.0.0.1:8000, signing_key_file: /etc/ug/manifest.key}\n"
                                  "routes:\n"
                                  "  - path: /upload\n"
                                  "    auth:\n"
                                  "      tokens_file: /etc/ug/tokens\n"
                                  "      jwt:\n"
                                  "        algorithms: [RS256, ES256]\n"
                                  "        public_key_file: /etc/ug/jwt.pem\n"
                                  "        issuer: https://id.example.com\n"
                                  "        audience: uploads\n"
                                  "        required_scopes: [upload, write]\n"
                                  "        leeway: 30s\n"
                                  "  - path: /api/*\n"
                                  "    pass_through: true\n"
                                  "    auth: {tokens_env: UPLOADGATE_TOKENS}\n");
    cr_assert_eq(c->max_connections, 64);
    cr_assert_str_eq(c->backend.signing_key_file, "/etc/ug/manifest.key");
    const ug_auth_config_t *a = c->routes[0].auth;
    cr_assert_not_null(a);
    cr_assert_str_eq(a->tokens_file, "/etc/ug/tokens");
    cr_assert_eq(a->jwt.algorithms, UG_JWT_ALG_BIT(UG_JWT_RS256) | UG_JWT_ALG_BIT(UG_JWT_ES256));
    cr_assert_str_eq(a->jwt_public_key_file, "/etc/ug/jwt.pem");
    cr_assert_str_eq(a->jwt.issuer, "https://id.example.com");
    cr_assert_str_eq(a->jwt.audience, "uploads");
    cr_assert_eq(a->jwt.n_required_scopes, 2);
    cr_assert_str_eq(a->jwt.required_scopes[1], "write");
    cr_assert_eq(a->jwt.leeway_ms, 30000);
    cr_assert_eq(c->routes[1].pass_through, 1);
    cr_assert_str_eq(c->routes[1].auth->tokens_env, "UPLOADGATE_TOKENS");
    cr_assert_null(c->routes[0].cors);
    ug_config_free(c);
}

Test(config_policy, duplicate_backend_key_is_still_an_error)
{
    /* BASE already has backend: the second one must be refused, not merged */
    load_err(BASE "backend: {url: http://127.0.0.1:9000}\n", "t.yaml:3:1: duplicate key \"backend\" at the top level (first at line 1)");
}

Test(config_policy, auth_errors)
{
    load_err(BASE "routes:\n  - path: /u\n    auth: {jwt: {algorithms: [none], secret_file: /s}}\n",
             "t.yaml:5:31: unknown or unsupported JWT algorithm \"none\" in routes[0].auth.jwt.algorithms (supported: HS256, "
             "HS384, HS512, RS256, RS384, RS512, PS256, ES256, ES384, EdDSA; \"none\" is never accepted)");
    load_err(BASE "routes:\n  - path: /u\n    auth: {}\n",
             "t.yaml:5:11: routes[0].auth: auth needs tokens_file, tokens_env or jwt.algorithms");
    load_err(BASE "routes:\n  - path: /u\n    auth: {tokens_file: relative/tokens}\n",
             "t.yaml:5:25: routes[0].auth.tokens_file must be an absolute path, got \"relative/tokens\"");
}
