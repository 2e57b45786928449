/*
 * test_config.c - the YAML configuration loader: every field of a full
 * config, the defaults, each error with its exact "file:line:col: message",
 * the value grammars and route matching.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"

#define DATA UG_TEST_DATA_DIR "/config/"
#define KiB (1024ull)
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

/* A valid backend + storage in two lines, so errors in what follows start at line 3. */
#define BASE "backend: {url: \"http://127.0.0.1:8000\"}\nstorage: {dir: /data}\n"

static char errbuf[512];

static ug_config_t *load_ok(const char *yaml)
{
    ug_config_t *c = NULL;
    ug_err_t err = ug_config_load_string("t.yaml", yaml, strlen(yaml), &c, errbuf, sizeof(errbuf));
    cr_assert_eq(err, UG_OK, "unexpected error: %s\n--- yaml:\n%s", errbuf, yaml);
    cr_assert_not_null(c);
    return c;
}

static void expect_error(const char *yaml, const char *message)
{
    ug_config_t *c = (ug_config_t *)&errbuf; /* must be reset to NULL */
    memset(errbuf, 'x', sizeof(errbuf));
    ug_err_t err = ug_config_load_string("t.yaml", yaml, strlen(yaml), &c, errbuf, sizeof(errbuf));
    cr_assert_eq(err, UG_ERR_CONFIG, "expected an error for:\n%s", yaml);
    cr_assert_null(c);
    cr_assert_str_eq(errbuf, message, "got:      %s\nexpected: %s\nfor yaml:\n%s", errbuf, message, yaml);
}

/* Loading the file DATA `name` fails with DATA `name` followed by `rest` ("line:col: message" or ": cannot ..."). */
static void expect_file_error(const char *name, const char *rest)
{
    char path[512], expected[1024];
    snprintf(path, sizeof(path), DATA "%s", name);
    snprintf(expected, sizeof(expected), "%s%s", path, rest);
    ug_config_t *c = (ug_config_t *)&errbuf; /* must be reset to NULL */
    ug_err_t err = ug_config_load_file(path, &c, errbuf, sizeof(errbuf));
    cr_assert_eq(err, UG_ERR_CONFIG, "expected an error for %s", path);
    cr_assert_null(c);
    cr_assert_str_eq(errbuf, expected);
}

/* ---- valid configurations ------------------------------------------------------------------------------ */

Test(config, full_file_every_field)
{
    ug_config_t *c = NULL;
    ug_err_t err = ug_config_load_file(DATA "full.yaml", &c, errbuf, sizeof(errbuf));
    cr_assert_eq(err, UG_OK, "%s", errbuf);
    cr_assert_str_eq(c->source, DATA "full.yaml");

    cr_assert_eq(c->listen_count, 3);
    cr_assert_str_eq(c->listen[0].address, "*:8080");
    cr_assert_str_eq(c->listen[0].host, "0.0.0.0");
    cr_assert_eq(c->listen[0].port, 8080);
    cr_assert_null(c->listen[0].tls_certificate);
    cr_assert_null(c->listen[0].tls_key);
    cr_assert_null(c->listen[0].tls_ciphers);
    cr_assert_str_eq(c->listen[1].address, "[::1]:8443");
    cr_assert_str_eq(c->listen[1].host, "::1");
    cr_assert_eq(c->listen[1].port, 8443);
    cr_assert_str_eq(c->listen[1].tls_certificate, "/etc/uploadgate/tls.crt");
    cr_assert_str_eq(c->listen[1].tls_key, "/etc/uploadgate/tls.key");
    cr_assert_str_eq(c->listen[1].tls_ciphers, "ECDHE-RSA-AES256-GCM-SHA384");
    cr_assert_str_eq(c->listen[2].host, "10.0.0.1");
    cr_assert_eq(c->listen[2].port, 9000);

    cr_assert_eq(c->threads, 4);

    cr_assert_str_eq(c->backend.url, "http://app.internal:8000/api/");
    cr_assert_str_eq(c->backend.host, "app.internal");
    cr_assert_eq(c->backend.port, 8000);
    cr_assert_null(c->backend.unix_path);
    cr_assert_str_eq(c->backend.authority, "app.internal:8000");
    cr_assert_str_eq(c->backend.base_path, "/api");
    cr_assert_eq(c->backend.timeout_ms, 90000);

    cr_assert_str_eq(c->storage.dir, "/srv/uploads"); /* trailing slash dropped */
    cr_assert_str_eq(c->storage.app_dir, "/uploads");
    cr_assert_eq(c->storage.min_free, 500000000ull);
    cr_assert_eq(c->storage.spool_threshold, 2 * MiB);

    cr_assert_eq(c->timeouts.header_ms, 5000);
    cr_assert_eq(c->timeouts.body_idle_ms, 45000);
    cr_assert_eq(c->timeouts.keepalive_ms, 120000);
    cr_assert_eq(c->timeouts.request_ms, 7200000);
    cr_assert_eq(c->max_header_size, 32 * KiB);

    cr_assert_eq(c->route_count, 3);
    const ug_route_t *r = &c->routes[0];
    cr_assert_str_eq(r->path, "/upload");
    cr_assert_str_eq(r->match, "/upload");
    cr_assert_eq(r->match_len, 7);
    cr_assert_eq(r->is_prefix, 0);
    cr_assert_eq(r->methods, UG_METHOD_POST | UG_METHOD_PUT | UG_METHOD_PATCH);
    cr_assert_str_eq(r->forward_to, "/internal/upload");
    cr_assert_eq(r->keep_on_error, 1);
    cr_assert_eq(r->limits.max_body, 2 * GiB);
    cr_assert_eq(r->limits.max_file, 1 * GiB);
    cr_assert_eq(r->limits.max_files, 4);
    cr_assert_eq(r->limits.max_fields, 10);
    cr_assert_eq(r->limits.max_field_size, 1 * KiB);

    r = &c->routes[1];
    cr_assert_str_eq(r->path, "/files/*");
    cr_assert_str_eq(r->match, "/files/");
    cr_assert_eq(r->match_len, 7);
    cr_assert_eq(r->is_prefix, 1);
    cr_assert_eq(r->methods, UG_METHOD_POST);
    cr_assert_null(r->forward_to);
    cr_assert_eq(r->keep_on_error, 0);
    cr_assert_eq(r->limits.max_body, 1 * GiB);
    cr_assert_eq(r->limits.max_file, 1 * GiB);

    r = &c->routes[2];
    cr_assert_str_eq(r->match, "/files/big/");
    cr_assert_eq(r->methods, UG_METHOD_POST | UG_METHOD_PUT);
    cr_assert_eq(r->limits.max_body, 10000000000ull);
    cr_assert_eq(r->limits.max_file, 10000000000ull, "max_file defaults to the route's max_body");
    cr_assert_eq(r->limits.max_files, 32);
    ug_config_free(c);
}

Test(config, minimal_file_defaults)
{
    ug_config_t *c = NULL;
    ug_err_t err = ug_config_load_file(DATA "minimal.yaml", &c, errbuf, sizeof(errbuf));
    cr_assert_eq(err, UG_OK, "%s", errbuf);

    cr_assert_eq(c->listen_count, 1);
    cr_assert_str_eq(c->listen[0].address, "127.0.0.1:8080");
    cr_assert_str_eq(c->listen[0].host, "127.0.0.1");
    cr_assert_eq(c->listen[0].port, 8080);
    cr_assert_null(c->listen[0].tls_certificate);
    cr_assert_eq(c->threads, 0);

    cr_assert_str_eq(c->backend.url, "unix:/run/app.sock");
    cr_assert_null(c->backend.host);
    cr_assert_eq(c->backend.port, 0);
    cr_assert_str_eq(c->backend.unix_path, "/run/app.sock");
    cr_assert_str_eq(c->backend.authority, "localhost");
    cr_assert_str_eq(c->backend.base_path, "");
    cr_assert_eq(c->backend.timeout_ms, 60000);

    cr_assert_str_eq(c->storage.dir, "/var/lib/uploadgate");
    cr_assert_null(c->storage.app_dir);
    cr_assert_eq(c->storage.min_free, 1 * GiB);
    cr_assert_eq(c->storage.spool_threshold, 1 * MiB);

    cr_assert_eq(c->timeouts.header_ms, 10000);
    cr_assert_eq(c->timeouts.body_idle_ms, 30000);
    cr_assert_eq(c->timeouts.keepalive_ms, 60000);
    cr_assert_eq(c->timeouts.request_ms, 3600000);
    cr_assert_eq(c->max_header_size, 16 * KiB);
    cr_assert_eq(c->route_count, 0);
    cr_assert_null(c->routes);
    ug_config_free(c);
}

Test(config, route_defaults)
{
    ug_config_t *c = load_ok(BASE "routes:\n  - path: /u\n");
    const ug_route_t *r = &c->routes[0];
    cr_assert_eq(r->methods, UG_METHOD_POST | UG_METHOD_PUT);
    cr_assert_null(r->forward_to);
    cr_assert_eq(r->keep_on_error, 0);
    cr_assert_eq(r->limits.max_body, 1 * GiB);
    cr_assert_eq(r->limits.max_file, 1 * GiB);
    cr_assert_eq(r->limits.max_files, 32);
    cr_assert_eq(r->limits.max_fields, 128);
    cr_assert_eq(r->limits.max_field_size, 64 * KiB);
    ug_config_free(c);

    /* max_file follows a smaller max_body too */
    c = load_ok(BASE "routes: [{path: /u, limits: {max_body: 10MiB}}]\n");
    cr_assert_eq(c->routes[0].limits.max_file, 10 * MiB);
    ug_config_free(c);
}

Test(config, null_values_mean_default)
{
    ug_config_t *c = load_ok(BASE "listen:\nthreads: ~\ntimeouts: null\nroutes:\n#  - path: /upload\n");
    cr_assert_eq(c->listen_count, 1);
    cr_assert_eq(c->listen[0].port, 8080);
    cr_assert_eq(c->threads, 0);
    cr_assert_eq(c->timeouts.header_ms, 10000);
    cr_assert_eq(c->route_count, 0);
    ug_config_free(c);

    c = load_ok(BASE "routes: []\n");
    cr_assert_eq(c->route_count, 0);
    ug_config_free(c);
}

Test(config, booleans_quoting_and_auto)
{
    ug_config_t *c = load_ok(BASE "threads: \"auto\"\nroutes:\n  - {path: /a, keep_on_error: True}\n"
                                  "  - {path: /b, keep_on_error: FALSE}\n  - {path: /c, keep_on_error: 'true'}\n");
    cr_assert_eq(c->threads, 0);
    cr_assert_eq(c->routes[0].keep_on_error, 1);
    cr_assert_eq(c->routes[1].keep_on_error, 0);
    cr_assert_eq(c->routes[2].keep_on_error, 1, "quoting does not change the meaning of a value");
    ug_config_free(c);

    c = load_ok(BASE "threads: 256\nmax_header_size: '1KiB'\n");
    cr_assert_eq(c->threads, 256);
    cr_assert_eq(c->max_header_size, 1 * KiB);
    ug_config_free(c);
}

Test(config, shipped_default_config_loads)
{
    ug_config_t *c = NULL;
    ug_err_t err = ug_config_load_file(UG_TEST_DATA_DIR "/../../config/uploadgate.yaml", &c, errbuf, sizeof(errbuf));
    cr_assert_eq(err, UG_OK, "%s", errbuf);
    cr_assert_eq(c->listen_count, 1);
    cr_assert_str_eq(c->listen[0].host, "127.0.0.1");
    cr_assert_eq(c->listen[0].port, 8080);
    cr_assert_null(c->listen[0].tls_certificate);
    cr_assert_str_eq(c->backend.authority, "127.0.0.1:8000");
    cr_assert_str_eq(c->backend.base_path, "");
    cr_assert_str_eq(c->storage.dir, "/var/lib/uploadgate");
    cr_assert_eq(c->route_count, 1);
    cr_assert_str_eq(c->routes[0].path, "/upload");
    cr_assert_eq(c->routes[0].methods, UG_METHOD_POST | UG_METHOD_PUT);
    cr_assert_str_eq(c->routes[0].forward_to, "/upload");
    cr_assert_leq(c->routes[0].limits.max_file, c->routes[0].limits.max_body);
    ug_config_free(c);
}

/* Smoke test: no assertion; it passes when the call on NULL returns without crashing (the sanitized build also
 * checks it touches no memory). */
Test(config, smoke_free_of_null_does_not_crash)
{
    ug_config_free(NULL);
}

/* ---- backend URLs and listen addresses ------------------------------------------------------------------ */

Test(config, backend_url_forms)
{
    static const struct {
        const char *url, *host, *unix_path, *authority, *base;
        unsigned port;
    } cases[] = {
        {"http://127.0.0.1:8000", "127.0.0.1", NULL, "127.0.0.1:8000", "", 8000},
        {"http://app", "app", NULL, "app:80", "", 80},
        {"http://app/", "app", NULL, "app:80", "", 80},
        {"http://[::1]:9000/api/v1//", "::1", NULL, "[::1]:9000", "/api/v1", 9000},
        {"HTTP://App.Example:1/x", "App.Example", NULL, "App.Example:1", "/x", 1},
        {"unix:/run/app/app.sock", NULL, "/run/app/app.sock", "localhost", "", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml), "backend: {url: \"%s\"}\nstorage: {dir: /d}\n", cases[i].url);
        ug_config_t *c = load_ok(yaml);
        if (cases[i].host != NULL)
            cr_expect_str_eq(c->backend.host, cases[i].host, "%s", cases[i].url);
        else
            cr_expect_null(c->backend.host, "%s", cases[i].url);
        if (cases[i].unix_path != NULL)
            cr_expect_str_eq(c->backend.unix_path, cases[i].unix_path, "%s", cases[i].url);
        else
            cr_expect_null(c->backend.unix_path, "%s", cases[i].url);
        cr_expect_str_eq(c->backend.authority, cases[i].authority, "%s", cases[i].url);
        cr_expect_str_eq(c->backend.base_path, cases[i].base, "%s", cases[i].url);
        cr_expect_eq(c->backend.port, cases[i].port, "%s", cases[i].url);
        cr_expect_str_eq(c->backend.url, cases[i].url);
        ug_config_free(c);
    }
}

Test(config, bad_backend_urls)
{
    static const struct {
        const char *url, *why;
    } cases[] = {
        {"https://app", "https backends are not supported (use http:// or unix:)"},
        {"ftp://app", "expected http://host[:port][/path] or unix:/path/to/app.sock"},
        {"127.0.0.1:8000", "expected http://host[:port][/path] or unix:/path/to/app.sock"},
        {"http://", "the host is missing"},
        {"http://:80", "the host is missing"},
        {"http://app:", "the port must be a number from 1 to 65535"},
        {"http://app:http", "the port must be a number from 1 to 65535"},
        {"http://app:65536", "the port must be a number from 1 to 65535"},
        {"http://user@app", "user information (user@) is not supported"},
        {"http://app/x?y=1", "a query or fragment is not allowed"},
        {"http://app/x#y", "a query or fragment is not allowed"},
        {"http://a b", "invalid host name"},
        {"http://[::1", "missing ']' after the IPv6 address"},
        {"http://[zz]:80", "invalid IPv6 address"},
        {"http://::1:80", "an IPv6 address must be written in brackets, e.g. [::1]:8080"},
        {"unix:run/app.sock", "the socket path must be absolute (unix:/path/to/app.sock)"},
        {"unix:", "the socket path must be absolute (unix:/path/to/app.sock)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[256], msg[384];
        snprintf(yaml, sizeof(yaml), "storage: {dir: /d}\nbackend:\n  url: \"%s\"\n", cases[i].url);
        snprintf(msg, sizeof(msg), "t.yaml:3:8: invalid backend.url \"%s\": %s", cases[i].url, cases[i].why);
        expect_error(yaml, msg);
    }
    char yaml[512], msg[256];
    snprintf(yaml, sizeof(yaml), "storage: {dir: /d}\nbackend: {url: \"unix:/%0200d\"}\n", 0);
    snprintf(msg, sizeof(msg), "t.yaml:2:16: invalid backend.url \"unix:/%051d...\": the socket path is too long for a unix socket",
             0);
    expect_error(yaml, msg);
}

Test(config, bad_listen_addresses)
{
    static const struct {
        const char *addr, *why;
    } cases[] = {
        {"127.0.0.1", "a port is required (host:port)"},
        {"127.0.0.1:0", "the port must be a number from 1 to 65535"},
        {"127.0.0.1:99999", "the port must be a number from 1 to 65535"},
        {"127.0.0.1:-1", "the port must be a number from 1 to 65535"},
        {"localhost:8080", "the host must be an IP address (e.g. 127.0.0.1, [::1]) or *"},
        {"1.2.3:80", "the host must be an IP address (e.g. 127.0.0.1, [::1]) or *"},
        {":8080", "the host must be an IP address (e.g. 127.0.0.1, [::1]) or *"},
        {"::1:8080", "an IPv6 address must be written in brackets, e.g. [::1]:8080"},
        {"[::1]8080", "expected ':port' after ']'"},
        {"[::1:8080", "missing ']' after the IPv6 address"},
        {"[1.2.3.4]:80", "invalid IPv6 address"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[256], msg[384];
        snprintf(yaml, sizeof(yaml), BASE "listen:\n  - address: \"%s\"\n", cases[i].addr);
        snprintf(msg, sizeof(msg), "t.yaml:4:14: invalid listen[0].address \"%s\": %s", cases[i].addr, cases[i].why);
        expect_error(yaml, msg);
    }
}

/* ---- errors, each with its exact message --------------------------------------------------------------- */

Test(config_errors, unknown_keys)
{
    expect_error("backend:\n  url: http://h\n  foo: 1\nstorage: {dir: /d}\n", "t.yaml:3:3: unknown key \"foo\" in backend");
    expect_error(BASE "\nbackends: {}\n", "t.yaml:4:1: unknown key \"backends\" at the top level");
    expect_error(BASE "routes:\n  - path: /u\n    limits: {max_bodies: 1}\n",
                 "t.yaml:5:14: unknown key \"max_bodies\" in routes[0].limits");
    expect_error(BASE "listen: [{address: \"*:1\", tls: {cert: a, key: b}}]\n",
                 "t.yaml:3:33: unknown key \"cert\" in listen[0].tls");
}

Test(config_errors, wrong_types)
{
    expect_error("backend: [http://h]\nstorage: {dir: /d}\n", "t.yaml:1:10: expected a mapping for backend, got a sequence");
    expect_error("backend:\n  url: {host: h}\n", "t.yaml:2:8: expected a scalar for backend.url, got a mapping");
    expect_error(BASE "routes:\n  path: /u\n", "t.yaml:4:3: expected a sequence for routes, got a mapping");
    expect_error(BASE "routes: [/u]\n", "t.yaml:3:10: expected a mapping for routes[0], got a scalar");
    expect_error(BASE "routes:\n  -\n", "t.yaml:4:4: expected a mapping for routes[0], got an empty value");
    expect_error(BASE "listen: 127.0.0.1:8080\n", "t.yaml:3:9: expected a sequence for listen, got a scalar");
    expect_error(BASE "routes: [{path: /u, methods: POST}]\n",
                 "t.yaml:3:30: expected a sequence for routes[0].methods, got a scalar");
    expect_error(BASE "routes: [{path: /u, methods: [[POST]]}]\n",
                 "t.yaml:3:31: expected a scalar for routes[0].methods, got a sequence");
    expect_error("- backend\n", "t.yaml:1:1: expected a mapping at the top level, got a sequence");
    expect_error("just a string\n", "t.yaml:1:1: expected a mapping at the top level, got a scalar");
    expect_error(BASE "[a]: 1\n", "t.yaml:3:1: expected a scalar key at the top level, got a sequence");
}

Test(config_errors, integers_and_booleans)
{
    expect_error(BASE "routes: [{path: /u, limits: {max_files: many}}]\n",
                 "t.yaml:3:41: expected an integer for routes[0].limits.max_files, got \"many\"");
    expect_error(BASE "routes: [{path: /u, limits: {max_fields: 10KiB}}]\n",
                 "t.yaml:3:42: expected an integer for routes[0].limits.max_fields, got \"10KiB\"");
    expect_error(BASE "routes: [{path: /u, limits: {max_files: 1000001}}]\n",
                 "t.yaml:3:41: routes[0].limits.max_files must be between 0 and 1000000, got \"1000001\"");
    expect_error(BASE "threads: 0\n", "t.yaml:3:10: expected \"auto\" or an integer 1..256 for threads, got \"0\"");
    expect_error(BASE "threads: 257\n", "t.yaml:3:10: expected \"auto\" or an integer 1..256 for threads, got \"257\"");
    expect_error(BASE "threads: Auto\n", "t.yaml:3:10: expected \"auto\" or an integer 1..256 for threads, got \"Auto\"");
    expect_error(BASE "threads: -1\n", "t.yaml:3:10: expected \"auto\" or an integer 1..256 for threads, got \"-1\"");
    expect_error(BASE "routes: [{path: /u, keep_on_error: yes}]\n",
                 "t.yaml:3:36: expected true or false for routes[0].keep_on_error, got \"yes\"");
    expect_error(BASE "routes: [{path: /u, keep_on_error: 1}]\n",
                 "t.yaml:3:36: expected true or false for routes[0].keep_on_error, got \"1\"");
}

Test(config_errors, sizes)
{
    expect_error(BASE "max_header_size: 16kb\n",
                 "t.yaml:3:18: invalid size \"16kb\" for max_header_size (expected e.g. 512, 64KiB, 10MB, 2GiB)");
    expect_error(BASE "max_header_size: 16 KiB\n",
                 "t.yaml:3:18: invalid size \"16 KiB\" for max_header_size (expected e.g. 512, 64KiB, 10MB, 2GiB)");
    expect_error(BASE "max_header_size: 512B\n", "t.yaml:3:18: max_header_size must be between 1KiB and 1MiB, got \"512B\"");
    expect_error(BASE "max_header_size: 2MiB\n", "t.yaml:3:18: max_header_size must be between 1KiB and 1MiB, got \"2MiB\"");
    expect_error(BASE "routes: [{path: /u, limits: {max_body: -1}}]\n",
                 "t.yaml:3:40: invalid size \"-1\" for routes[0].limits.max_body (expected e.g. 512, 64KiB, 10MB, 2GiB)");
    expect_error(BASE "routes: [{path: /u, limits: {max_body: 0}}]\n",
                 "t.yaml:3:40: routes[0].limits.max_body must be greater than 0, got \"0\"");
    expect_error(BASE "routes: [{path: /u, limits: {max_body: 20000000TiB}}]\n",
                 "t.yaml:3:40: invalid size \"20000000TiB\" for routes[0].limits.max_body (expected e.g. 512, 64KiB, 10MB, 2GiB)");
    expect_error("backend: {url: \"http://h\"}\nstorage: {dir: /d, spool_threshold: 1KiB}\n",
                 "t.yaml:2:37: storage.spool_threshold must be at least 4KiB, got \"1KiB\"");
}

Test(config_errors, durations)
{
    expect_error("backend: {url: \"http://h\", timeout: 10}\n",
                 "t.yaml:1:37: invalid duration \"10\" for backend.timeout (expected e.g. 500ms, 30s, 5m, 1h, 1d)");
    expect_error(BASE "timeouts: {header: 1.5s}\n",
                 "t.yaml:3:20: invalid duration \"1.5s\" for timeouts.header (expected e.g. 500ms, 30s, 5m, 1h, 1d)");
    expect_error(BASE "timeouts: {body_idle: 10S}\n",
                 "t.yaml:3:23: invalid duration \"10S\" for timeouts.body_idle (expected e.g. 500ms, 30s, 5m, 1h, 1d)");
    expect_error(BASE "timeouts:\n  keepalive: 0\n", "t.yaml:4:14: timeouts.keepalive must be greater than 0, got \"0\"");
    expect_error(BASE "timeouts:\n  request: 0ms\n", "t.yaml:4:12: timeouts.request must be greater than 0, got \"0ms\"");
}

Test(config_errors, required_keys)
{
    expect_error("storage: {dir: /d}\n", "t.yaml:1:1: backend: required");
    expect_error("# a comment first\n\nstorage: {dir: /d}\n", "t.yaml:1:1: backend: required");
    expect_error("backend:\nstorage: {dir: /d}\n", "t.yaml:1:1: backend: required");
    expect_error("storage: {dir: /d}\nbackend: ~\n", "t.yaml:2:1: backend: required");
    expect_error("backend: {url: \"http://h\"}\n", "t.yaml:1:1: storage: required");
    expect_error("storage: {dir: /d}\nbackend: {timeout: 5s}\n", "t.yaml:2:10: backend.url: required");
    expect_error("storage: {dir: /d}\nbackend:\n  timeout: 5s\n", "t.yaml:3:3: backend.url: required");
    expect_error("storage: {dir: /d}\nbackend:\n  url:\n", "t.yaml:3:3: backend.url: required");
    expect_error("backend: {url: \"http://h\"}\nstorage:\n  min_free: 1GB\n", "t.yaml:3:3: storage.dir: required");
    expect_error(BASE "listen: [{tls: {certificate: c, key: k}}]\n", "t.yaml:3:10: listen[0].address: required");
    expect_error(BASE "routes: [{methods: [POST]}]\n", "t.yaml:3:10: routes[0].path: required");
}

Test(config_errors, storage_paths)
{
    expect_error("backend: {url: \"http://h\"}\nstorage: {dir: var/lib/uploadgate}\n",
                 "t.yaml:2:16: storage.dir must be an absolute path, got \"var/lib/uploadgate\"");
    expect_error("backend: {url: \"http://h\"}\nstorage: {dir: /d, app_dir: uploads}\n",
                 "t.yaml:2:29: storage.app_dir must be an absolute path, got \"uploads\"");
    expect_error("backend: {url: \"http://h\"}\nstorage: {dir: \"\"}\n", "t.yaml:2:16: storage.dir must not be empty");
    expect_error("backend: {url: \"http://h\"}\nstorage: {dir: \"/a\\0b\"}\n",
                 "t.yaml:2:16: storage.dir must not contain control characters");
}

Test(config_errors, routes)
{
    expect_error(BASE "routes: [{path: upload}]\n", "t.yaml:3:17: routes[0].path must start with '/', got \"upload\"");
    expect_error(BASE "routes: [{path: \"*\"}]\n", "t.yaml:3:17: routes[0].path must start with '/', got \"*\"");
    expect_error(BASE "routes: [{path: /a*}]\n",
                 "t.yaml:3:17: routes[0].path may contain '*' only as a trailing \"/*\", got \"/a*\"");
    expect_error(BASE "routes: [{path: /a/*/b}]\n",
                 "t.yaml:3:17: routes[0].path may contain '*' only as a trailing \"/*\", got \"/a/*/b\"");
    expect_error(BASE "routes: [{path: /a?x=1}]\n",
                 "t.yaml:3:17: routes[0].path must not contain '?' or '#' (the query is not matched), got \"/a?x=1\"");
    expect_error(BASE "routes: [{path: /u, forward_to: upload}]\n",
                 "t.yaml:3:33: routes[0].forward_to must start with '/', got \"upload\"");
    expect_error(
        BASE "routes:\n  - path: /u\n    methods: [POST, post]\n",
        "t.yaml:5:21: unknown method \"post\" in routes[0].methods (expected GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)");
    expect_error(
        BASE "routes:\n  - path: /u\n    methods: [CONNECT]\n",
        "t.yaml:5:15: unknown method \"CONNECT\" in routes[0].methods (expected GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)");
    expect_error(BASE "routes: [{path: /u, methods: []}]\n", "t.yaml:3:30: routes[0].methods must list at least one method");
    expect_error(BASE "routes:\n  - path: /u\n    limits: {max_body: 1GiB, max_file: 2GiB}\n",
                 "t.yaml:5:40: routes[0].limits.max_file (2GiB) must not exceed max_body (1GiB)");
    expect_error(BASE "routes:\n  - path: /u\n    limits: {max_file: 1536MiB}\n",
                 "t.yaml:5:24: routes[0].limits.max_file (1536MiB) must not exceed max_body (1GiB)");
}

Test(config_errors, upload_routes_refuse_get_and_head)
{
    expect_error(BASE "routes:\n  - path: /u\n    methods: [POST, GET]\n",
                 "t.yaml:5:21: routes[0].methods: \"GET\" is not allowed on an upload route: it has no body to store "
                 "(list it on a route with pass_through: true)");
    expect_error(BASE "routes:\n  - path: /a\n  - path: /u\n    methods: [HEAD, PUT]\n    pass_through: false\n",
                 "t.yaml:6:15: routes[1].methods: \"HEAD\" is not allowed on an upload route: it has no body to store "
                 "(list it on a route with pass_through: true)");
}

Test(config, pass_through_routes_may_list_get_and_head)
{
    /* pass_through after methods: the rule is applied to the whole route, not to the keys read so far */
    static const char yaml[] = BASE "routes:\n  - path: /api/*\n    methods: [GET, HEAD, POST]\n    pass_through: true\n";
    ug_config_t *c = load_ok(yaml);
    cr_assert_eq(c->routes[0].methods, UG_METHOD_GET | UG_METHOD_HEAD | UG_METHOD_POST);
    ug_config_free(c);
}

Test(config_errors, duplicate_route_path_file)
{
    expect_file_error("dup_route.yaml", ":6:11: duplicate route path \"/upload\" (first defined at line 4)");
}

Test(config_errors, duplicate_keys)
{
    expect_error("backend:\n  url: \"http://h\"\n  timeout: 1s\n  url: \"http://g\"\n",
                 "t.yaml:4:3: duplicate key \"url\" in backend (first at line 2)");
    expect_error(BASE "storage: {dir: /e}\n", "t.yaml:3:1: duplicate key \"storage\" at the top level (first at line 2)");
    expect_error(BASE "routes: [{path: /u, limits: {max_files: 1, max_files: 2}}]\n",
                 "t.yaml:3:44: duplicate key \"max_files\" in routes[0].limits (first at line 3)");
}

Test(config_errors, listen)
{
    expect_error(BASE "listen: []\n", "t.yaml:3:9: listen must have at least one entry");
    expect_error(BASE "listen:\n  - address: \"*:8080\"\n  - address: 0.0.0.0:8080\n",
                 "t.yaml:5:14: duplicate listen address \"0.0.0.0:8080\" (first at line 4)");
    expect_error(BASE "listen:\n  - address: 0.0.0.0:8443\n    tls:\n      certificate: /etc/tls.crt\n",
                 "t.yaml:6:7: listen[0].tls.key: required");
    expect_error(BASE "listen:\n  - address: 0.0.0.0:8443\n    tls: {key: /etc/tls.key}\n",
                 "t.yaml:5:10: listen[0].tls.certificate: required");
    expect_error(BASE "listen:\n  - address: 0.0.0.0:8443\n    tls: {}\n", "t.yaml:5:10: listen[0].tls.certificate: required");
    expect_error(BASE "listen:\n  - address: 0.0.0.0:8443\n    tls: {certificate: \"\", key: k}\n",
                 "t.yaml:5:24: listen[0].tls.certificate must not be empty");
}

Test(config_errors, yaml_syntax)
{
    expect_file_error("syntax_error.yaml", ":3:11: YAML syntax error: mapping values are not allowed in this context");
    expect_error(
        BASE "routes: [{path: /u}\n",
        "t.yaml:4:1: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at line 3, column 9)");
    expect_error(BASE "\tthreads: 1\n", "t.yaml:3:1: YAML syntax error: found character that cannot start any token "
                                        "(while scanning for the next token at line 3, column 1)");
    expect_error("threads: \"4\n", "t.yaml:2:1: YAML syntax error: found unexpected end of stream "
                                   "(while scanning a quoted scalar at line 1, column 10)");
    expect_error("threads: \xff\n", "t.yaml:1:10: YAML error: invalid leading UTF-8 octet");
}

Test(config_errors, empty_and_documents)
{
    expect_error("", "t.yaml:1:1: the configuration is empty (backend and storage are required)");
    expect_error("\n\n", "t.yaml:1:1: the configuration is empty (backend and storage are required)");
    expect_error("---\n", "t.yaml:1:1: the configuration is empty (backend and storage are required)");
    expect_error("~\n", "t.yaml:1:1: the configuration is empty (backend and storage are required)");
    expect_error(BASE "---\nthreads: 2\n", "t.yaml:3:1: only one YAML document is allowed");
    expect_file_error("comments_only.yaml", ":1:1: the configuration is empty (backend and storage are required)");
}

Test(config_errors, anchors_and_aliases_rejected)
{
    expect_error(BASE "routes:\n  - &up {path: /u}\n", "t.yaml:4:5: anchors and aliases are not supported (\"up\")");
    expect_error(BASE "timeouts: {header: &t 5s}\n", "t.yaml:3:20: anchors and aliases are not supported (\"t\")");
    expect_error(BASE "routes:\n  - *up\n", "t.yaml:4:5: anchors and aliases are not supported (\"up\")");
}

Test(config_errors, nesting_too_deep)
{
    char yaml[256] = "a: ";
    for (int i = 0; i < 40; i++)
        strcat(yaml, "[");
    expect_error(yaml, "t.yaml:1:36: YAML nesting is too deep (more than 32 levels)");
}

Test(config_errors, file_errors)
{
    expect_file_error("does-not-exist.yaml", ": cannot open: No such file or directory");
    expect_file_error("", ": cannot read: Is a directory"); /* DATA itself */
}

Test(config_errors, long_values_are_cut_and_escaped)
{
    char yaml[512], expected[512];
    snprintf(yaml, sizeof(yaml), BASE "routes: [{path: \"x%0100d\"}]\n", 0);
    snprintf(expected, sizeof(expected), "t.yaml:3:17: routes[0].path must start with '/', got \"x%056d...\"", 0);
    expect_error(yaml, expected);
    expect_error(BASE "routes: [{path: \"/a\\tb\"}]\n", "t.yaml:3:17: routes[0].path must not contain control characters");
    expect_error(BASE "threads: \"a\\\"b\\\\\"\n",
                 "t.yaml:3:10: expected \"auto\" or an integer 1..256 for threads, got \"a\\\"b\\\\\"");
}

Test(config_errors, small_error_buffer)
{
    char small[16];
    ug_config_t *c = NULL;
    const char *yaml = "storage: {dir: /d}\n";
    cr_assert_eq(ug_config_load_string("t.yaml", yaml, strlen(yaml), &c, small, sizeof(small)), UG_ERR_CONFIG);
    cr_assert_str_eq(small, "t.yaml:1:1: bac");
    cr_assert_eq(ug_config_load_string("t.yaml", yaml, strlen(yaml), &c, NULL, 0), UG_ERR_CONFIG);
}

/* ---- value grammars ------------------------------------------------------------------------------------ */

/* One text for a value parser: whether it parses, and to what. */
struct value_case {
    const char *s;
    int ok;
    uint64_t v;
};

/* ug_parse_size and ug_parse_duration share one contract: 0 and the value in *out, or -1 for a bad text. */
static void check_values(int (*parse)(const char *, size_t, uint64_t *), const char *name, const struct value_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 12345;
        int rc = parse(cases[i].s, strlen(cases[i].s), &v);
        cr_expect_eq(rc, cases[i].ok ? 0 : -1, "%s(\"%s\")", name, cases[i].s);
        if (cases[i].ok)
            cr_expect_eq(v, cases[i].v, "%s(\"%s\") = %llu", name, cases[i].s, (unsigned long long)v);
    }
}

#define CHECK_VALUES(parse, cases) check_values(parse, #parse, cases, sizeof(cases) / sizeof(cases[0]))

Test(values, sizes)
{
    static const struct value_case cases[] = {
        {"0", 1, 0},
        {"512", 1, 512},
        {"0B", 1, 0},
        {"1B", 1, 1},
        {"1KB", 1, 1000},
        {"1MB", 1, 1000000},
        {"1GB", 1, 1000000000ull},
        {"2TB", 1, 2000000000000ull},
        {"64KiB", 1, 64 * KiB},
        {"1MiB", 1, MiB},
        {"2GiB", 1, 2 * GiB},
        {"1TiB", 1, 1024 * GiB},
        {"007KiB", 1, 7 * KiB},
        {"18446744073709551615", 1, UINT64_MAX},
        {"16777215TiB", 1, 16777215ull << 40},
        {"18446744073709551616", 0, 0},
        {"16777216TiB", 0, 0},
        {"", 0, 0},
        {"KiB", 0, 0},
        {"-1", 0, 0},
        {"+1", 0, 0},
        {"1.5GiB", 0, 0},
        {"1 KiB", 0, 0},
        {"1kib", 0, 0},
        {"1kB", 0, 0},
        {"1K", 0, 0},
        {"1KiBs", 0, 0},
        {"1iB", 0, 0},
        {" 1", 0, 0},
        {"1 ", 0, 0},
    };
    CHECK_VALUES(ug_parse_size, cases);
    uint64_t v;
    cr_expect_eq(ug_parse_size("64KiBxx", 5, &v), 0, "only len bytes are read");
    cr_expect_eq(v, 64 * KiB);
    cr_expect_eq(ug_parse_size(NULL, 0, &v), -1);
}

Test(values, durations)
{
    /* v in milliseconds */
    static const struct value_case cases[] = {
        {"0", 1, 0},
        {"0s", 1, 0},
        {"500ms", 1, 500},
        {"10s", 1, 10000},
        {"1m", 1, 60000},
        {"24h", 1, 86400000},
        {"2d", 1, 172800000},
        {"213503982334d", 1, 213503982334ull * 86400000ull},
        {"213503982335d", 0, 0},
        {"10", 0, 0},
        {"", 0, 0},
        {"s", 0, 0},
        {"1.5s", 0, 0},
        {"-1s", 0, 0},
        {"10S", 0, 0},
        {"1sec", 0, 0},
        {"1 s", 0, 0},
        {"1us", 0, 0},
        {"1h30m", 0, 0},
    };
    CHECK_VALUES(ug_parse_duration, cases);
}

Test(values, method_bits)
{
    cr_expect_eq(ug_method_bit("GET", 3), UG_METHOD_GET);
    cr_expect_eq(ug_method_bit("HEAD", 4), UG_METHOD_HEAD);
    cr_expect_eq(ug_method_bit("POST", 4), UG_METHOD_POST);
    cr_expect_eq(ug_method_bit("PUT", 3), UG_METHOD_PUT);
    cr_expect_eq(ug_method_bit("PATCH", 5), UG_METHOD_PATCH);
    cr_expect_eq(ug_method_bit("DELETE", 6), UG_METHOD_DELETE);
    cr_expect_eq(ug_method_bit("OPTIONS", 7), UG_METHOD_OPTIONS);
    cr_expect_eq(ug_method_bit("POSTX", 4), UG_METHOD_POST, "only len bytes are compared");
    cr_expect_eq(ug_method_bit("post", 4), 0);
    cr_expect_eq(ug_method_bit("POS", 3), 0);
    cr_expect_eq(ug_method_bit("POST", 3), 0);
    cr_expect_eq(ug_method_bit("CONNECT", 7), 0);
    cr_expect_eq(ug_method_bit("", 0), 0);
    cr_expect_eq(ug_method_bit(NULL, 0), 0);
}

/* ---- route matching ------------------------------------------------------------------------------------ */

Test(routes, matching_table)
{
    ug_config_t *c = load_ok(BASE "routes:\n"
                                  "  - path: /upload\n"      /* 0 */
                                  "  - path: /files/*\n"     /* 1 */
                                  "  - path: /files/big/*\n" /* 2 */
                                  "  - path: /files/exact\n" /* 3 */
                                  "  - path: /files/\n"      /* 4: exact, beats the prefix of the same text */
                                  "  - path: /Case\n");      /* 5 */
    static const struct {
        const char *path;
        int route; /* index, -1 for none */
    } cases[] = {
        {"/upload", 0},
        {"/upload?x=1", 0},
        {"/upload?", 0},
        {"/upload/", -1},
        {"/uploads", -1},
        {"/uploa", -1},
        {"/UPLOAD", -1},
        {"/files", -1},
        {"/filesx", -1},
        {"/files/", 4},
        {"/files/?q", 4},
        {"/files/a", 1},
        {"/files/a/b", 1},
        {"/files/a?x=/files/big/", 1},
        {"/files/big", 1},
        {"/files/big/", 2},
        {"/files/big/x/y", 2},
        {"/files/exact", 3},
        {"/files/exact/", 1},
        {"/files/exactly", 1},
        {"/Case", 5},
        {"/case", -1},
        {"", -1},
        {"?/upload", -1},
        {"/", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const ug_route_t *r = ug_config_match_route(c, cases[i].path, strlen(cases[i].path));
        if (cases[i].route < 0)
            cr_expect_null(r, "\"%s\" matched %s", cases[i].path, r != NULL ? r->path : "");
        else
            cr_expect_eq(r, &c->routes[cases[i].route], "\"%s\" matched %s, expected %s", cases[i].path,
                         r != NULL ? r->path : "(none)", c->routes[cases[i].route].path);
    }
    /* the length bounds the path: bytes after it are not looked at */
    cr_expect_eq(ug_config_match_route(c, "/uploadXYZ", 7), &c->routes[0]);
    cr_expect_null(ug_config_match_route(NULL, "/upload", 7));
    ug_config_free(c);
}

Test(routes, loose_matching_and_resemblance)
{
    ug_config_t *c = load_ok(BASE "routes:\n"
                                  "  - path: /upload\n"      /* 0 */
                                  "  - path: /files/*\n"     /* 1 */
                                  "  - path: /files/big/*\n" /* 2 */
                                  "  - path: /files/exact\n" /* 3 */
                                  "  - path: /files/\n"      /* 4 */
                                  "  - path: /Case\n");      /* 5 */
    static const struct {
        const char *path;
        int loose;     /* ug_config_match_route_loose: index, -1 for none */
        int resembles; /* ug_config_resembled_route: index, -1 for none (the exact match agrees) */
    } cases[] = {
        {"/upload", 0, -1},
        {"/upload?x=/UPLOAD", 0, -1},
        {"/UPLOAD", 0, 0},
        {"/Upload?x", 0, 0},
        {"/upload/", 0, 0},
        {"/upload//", 0, 0},
        {"//upload", 0, 0},
        {"/uploads", -1, -1},
        {"/files", 4, 4}, /* the exact "/files/" wins over the prefix "/files/ *" */
        {"/files/", 4, -1},
        {"/files/a", 1, -1},
        {"/files//a", 1, -1}, /* the prefix matches exactly as well */
        {"/FILES/a", 1, 1},
        {"/files/big", 2, 2}, /* exactly it is "/files/ *", loosely the longer "/files/big/ *" */
        {"/files/Big/x", 2, 2},
        {"/files/big/x", 2, -1},
        {"/files/bigger", 1, -1}, /* a prefix covers whole segments only */
        {"/files/EXACT", 3, 3},
        {"/files/exact/", 3, 3},
        {"/files/exactly", 1, -1},
        {"/Case", 5, -1},
        {"/case", 5, 5},
        {"/", -1, -1},
        {"", -1, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].path);
        const ug_route_t *loose = ug_config_match_route_loose(c, cases[i].path, len);
        const ug_route_t *like = ug_config_resembled_route(c, cases[i].path, len);
        cr_expect_eq(loose, cases[i].loose < 0 ? NULL : &c->routes[cases[i].loose], "\"%s\" loosely matched %s", cases[i].path,
                     loose != NULL ? loose->path : "(none)");
        cr_expect_eq(like, cases[i].resembles < 0 ? NULL : &c->routes[cases[i].resembles], "\"%s\" resembles %s", cases[i].path,
                     like != NULL ? like->path : "(none)");
    }
    char msg[UG_ROUTE_MESSAGE_MAX];
    ug_config_resemblance_message(&c->routes[1], msg, sizeof(msg));
    cr_expect(strstr(msg, "resembles the route /files/*") != NULL, "%s", msg);
    ug_config_free(c);

    c = load_ok(BASE "routes:\n  - path: /*\n");
    cr_expect_eq(ug_config_match_route_loose(c, "/ANY//where/", 12), &c->routes[0]);
    cr_expect_null(ug_config_resembled_route(c, "/ANY//where/", 12), "a catch-all matches every path exactly");
    ug_config_free(c);
}

Test(config_errors, routes_that_differ_only_in_case_or_slashes)
{
    expect_error(BASE "routes:\n  - path: /upload\n  - path: /Upload\n",
                 "t.yaml:5:11: route path \"/Upload\" differs from \"/upload\" (line 4) only in letter case or slashes: "
                 "requests for one would be refused as resembling the other");
    expect_error(BASE "routes:\n  - path: /a/b\n  - path: /a//b/\n",
                 "t.yaml:5:11: route path \"/a//b/\" differs from \"/a/b\" (line 4) only in letter case or slashes: "
                 "requests for one would be refused as resembling the other");
    expect_error(BASE "routes:\n  - path: /f/*\n  - path: /F/*\n",
                 "t.yaml:5:11: route path \"/F/*\" differs from \"/f/*\" (line 4) only in letter case or slashes: "
                 "requests for one would be refused as resembling the other");
    ug_config_free(load_ok(BASE "routes:\n  - path: /upload\n  - path: /upload/*\n")); /* an exact and a prefix route */
}

Test(routes, catch_all_prefix_and_order_independence)
{
    /* the longest prefix wins regardless of the order routes are written in */
    ug_config_t *c = load_ok(BASE "routes:\n  - path: /*\n  - path: /a/b/*\n  - path: /a/*\n");
    cr_expect_eq(ug_config_match_route(c, "/", 1), &c->routes[0]);
    cr_expect_eq(ug_config_match_route(c, "/x", 2), &c->routes[0]);
    cr_expect_eq(ug_config_match_route(c, "/a/x", 4), &c->routes[2]);
    cr_expect_eq(ug_config_match_route(c, "/a/b/x", 6), &c->routes[1]);
    cr_expect_eq(ug_config_match_route(c, "/a/b", 4), &c->routes[2]);
    cr_expect_null(ug_config_match_route(c, "", 0));
    ug_config_free(c);

    c = load_ok(BASE);
    cr_expect_null(ug_config_match_route(c, "/upload", 7), "no routes: everything is passed through");
    ug_config_free(c);
}

Test(config, route_allow_value_lists_methods_in_order)
{
    ug_route_t r = {.methods = UG_METHOD_PUT | UG_METHOD_GET | UG_METHOD_OPTIONS};
    char allow[UG_ALLOW_VALUE_MAX];
    ug_route_allow_value(&r, allow, sizeof(allow));
    cr_assert_str_eq(allow, "GET, PUT, OPTIONS");
    r.methods = ~0u;
    ug_route_allow_value(&r, allow, sizeof(allow));
    cr_assert_str_eq(allow, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    ug_route_allow_value(&r, allow, 12); /* "GET, HEAD" fits, ", POST" does not: no partial name */
    cr_assert_str_eq(allow, "GET, HEAD");
    r.methods = 0;
    ug_route_allow_value(&r, allow, sizeof(allow));
    cr_assert_str_eq(allow, "");
}

Test(config, route_allows_only_its_methods)
{
    ug_route_t r = {.methods = UG_METHOD_POST};
    cr_assert(ug_route_allows(&r, "POST", 4));
    cr_assert(!ug_route_allows(&r, "PUT", 3));
    cr_assert(!ug_route_allows(&r, "post", 4)); /* methods are case-sensitive (RFC 9110 9.1) */
    cr_assert(!ug_route_allows(&r, "TRACE", 5));
}
