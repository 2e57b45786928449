/*
 * The limits that protect the edge itself: max_pass_body (top level and on
 * pass_through routes) and which one applies to a request,
 * max_connections_per_client's default, the minimum body rate.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "loop/body_rate.h"
#include "config/config.h"
#include "config_load.h"

#define BASE "backend: {url: http://127.0.0.1:8000}\nstorage: {dir: /tmp}\n"
#define KiB (1024ull)
#define MiB (1024ull * KiB)

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

Test(body_min_rate, defaults_and_settings)
{
    ug_config_t *c = load_ok(BASE);
    cr_assert_eq(c->timeouts.body_min_rate, 1 * KiB);
    cr_assert_eq(c->timeouts.body_rate_window_ms, 10000);
    ug_config_free(c);
    c = load_ok(BASE "timeouts: {body_min_rate: 64KiB, body_rate_window: 3s}\n");
    cr_assert_eq(c->timeouts.body_min_rate, 64 * KiB);
    cr_assert_eq(c->timeouts.body_rate_window_ms, 3000);
    ug_config_free(c);
    c = load_ok(BASE "timeouts: {body_min_rate: 0}\n");
    cr_assert_eq(c->timeouts.body_min_rate, 0, "0: not measured");
    ug_config_free(c);
    load_err(BASE "timeouts: {body_rate_window: 500ms}\n",
             "t.yaml:3:30: timeouts.body_rate_window must be between 1s and 1h, got \"500ms\"");
}

Test(body_min_rate, a_window_must_bring_rate_times_window_bytes)
{
    cr_assert(ug_body_rate_ok(10240, 10000, 1024), "exactly 1 KiB/s over 10 s");
    cr_assert_not(ug_body_rate_ok(10239, 10000, 1024));
    cr_assert_not(ug_body_rate_ok(1, 10000, 1024), "a byte every few seconds");
    cr_assert(ug_body_rate_ok(0, 10000, 0), "0 = off");
    cr_assert(ug_body_rate_ok(1536, 1500, 1024), "windows need not be whole seconds");
    cr_assert_not(ug_body_rate_ok(1535, 1500, 1024));
    /* no overflow at the extremes */
    cr_assert(ug_body_rate_ok(UINT64_MAX, 1000, UINT64_MAX));
    cr_assert_not(ug_body_rate_ok(UINT64_MAX - 1, 1000, UINT64_MAX));
    cr_assert_not(ug_body_rate_ok(UINT64_MAX, UINT64_MAX, UINT64_MAX));
}
