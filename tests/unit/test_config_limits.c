/*
 * The limits that protect the edge itself: max_pass_body (top level and on
 * pass_through routes), and which one applies to a request.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"

#define BASE "backend: {url: http://127.0.0.1:8000}\nstorage: {dir: /tmp}\n"
#define KiB (1024ull)
#define MiB (1024ull * KiB)

static ug_config_t *load_ok(const char *yaml)
{
    ug_config_t *c = NULL;
    char err[512] = "";
    cr_assert_eq(ug_config_load_string("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), UG_OK, "%s", err);
    return c;
}

static void load_err(const char *yaml, const char *expected)
{
    ug_config_t *c = NULL;
    char err[512] = "";
    cr_assert_eq(ug_config_load_string("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), UG_ERR_CONFIG, "accepted:\n%s", yaml);
    cr_assert_null(c);
    cr_assert_str_eq(err, expected);
}

Test(max_pass_body, defaults_to_1mib_whatever_the_upload_routes_allow)
{
    ug_config_t *c = load_ok(BASE "routes: [{path: /upload, limits: {max_body: 2GiB}}]\n");
    cr_assert_eq(c->max_pass_body, 1 * MiB);
    cr_assert_eq(ug_config_pass_limit(c, NULL), 1 * MiB);
    /* an upload route's other methods are passed through: the top-level limit, not its max_body */
    cr_assert_eq(ug_config_pass_limit(c, &c->routes[0]), 1 * MiB);
    ug_config_free(c);
}

Test(max_pass_body, a_pass_through_route_may_set_its_own)
{
    ug_config_t *c = load_ok(BASE "max_pass_body: 64KiB\n"
                                  "routes:\n"
                                  "  - {path: /api/import, pass_through: true, max_pass_body: 50MiB}\n"
                                  "  - {path: /api/*, pass_through: true}\n"
                                  "  - {path: /api/none, pass_through: true, max_pass_body: 0}\n");
    cr_assert_eq(ug_config_pass_limit(c, NULL), 64 * KiB);
    cr_assert_eq(ug_config_pass_limit(c, &c->routes[0]), 50 * MiB);
    cr_assert_eq(ug_config_pass_limit(c, &c->routes[1]), 64 * KiB, "a route without its own inherits the top level");
    cr_assert_eq(ug_config_pass_limit(c, &c->routes[2]), 0, "0: no body at all");
    ug_config_free(c);
}

Test(max_pass_body, errors)
{
    load_err(BASE "routes: [{path: /upload, max_pass_body: 1MiB}]\n",
             "t.yaml:3:41: routes[0].max_pass_body applies only to a route with pass_through: true");
    load_err(BASE "max_pass_body: lots\n", "t.yaml:3:16: invalid size \"lots\" for max_pass_body (expected e.g. 512, 64KiB, 10MB, 2GiB)");
}

Test(max_connections_per_client, defaults_to_an_eighth_of_max_connections)
{
    ug_config_t *c = load_ok(BASE);
    cr_assert_eq(c->max_connections_per_client, 1250);
    ug_config_free(c);
    c = load_ok(BASE "max_connections: 4\n");
    cr_assert_eq(c->max_connections_per_client, 1, "never 0 (which would mean no limit)");
    ug_config_free(c);
    c = load_ok(BASE "max_connections: 100\nmax_connections_per_client: 0\n");
    cr_assert_eq(c->max_connections_per_client, 0);
    ug_config_free(c);
    c = load_ok(BASE "max_connections_per_client: 20\n");
    cr_assert_eq(c->max_connections_per_client, 20);
    ug_config_free(c);
}
