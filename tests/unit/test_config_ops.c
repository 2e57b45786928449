/*
 * test_config_ops.c - the operations keys (admin, shutdown_grace, log,
 * backend.health_path, storage.retention) and what a reload may change
 * (ug_runtime_restart_needed).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/runtime.h"

static char errbuf[512];

#define BASE "backend: {url: http://127.0.0.1:8000}\nstorage: {dir: /tmp}\n"

static ug_config_t *load_ok(const char *yaml)
{
    ug_config_t *c = NULL;
    ug_err_t err = ug_config_load_string("t.yaml", yaml, strlen(yaml), &c, errbuf, sizeof(errbuf));
    cr_assert_eq(err, UG_OK, "unexpected error: %s\n--- yaml:\n%s", errbuf, yaml);
    return c;
}

static void expect_error(const char *yaml, const char *message)
{
    ug_config_t *c = NULL;
    ug_err_t err = ug_config_load_string("t.yaml", yaml, strlen(yaml), &c, errbuf, sizeof(errbuf));
    cr_assert_eq(err, UG_ERR_CONFIG, "expected an error for:\n%s", yaml);
    cr_assert_null(c);
    cr_assert_str_eq(errbuf, message, "got:      %s\nexpected: %s", errbuf, message);
}

Test(config_ops, defaults)
{
    ug_config_t *c = load_ok(BASE);
    cr_assert_null(c->admin.address);
    cr_assert_eq(c->shutdown_grace_ms, 25000);
    cr_assert_eq(c->log_level, 1);
    cr_assert_null(c->backend.health_path);
    cr_assert_eq(c->storage.retention_ms, 0);
    ug_config_free(c);
}

Test(config_ops, every_key)
{
    ug_config_t *c = load_ok("admin: {address: 127.0.0.1:9901}\n"
                             "shutdown_grace: 40s\n"
                             "log: {level: warn}\n"
                             "backend: {url: http://127.0.0.1:8000, health_path: /health}\n"
                             "storage: {dir: /tmp, retention: 24h}\n");
    cr_assert_str_eq(c->admin.address, "127.0.0.1:9901");
    cr_assert_str_eq(c->admin.host, "127.0.0.1");
    cr_assert_eq(c->admin.port, 9901);
    cr_assert_eq(c->shutdown_grace_ms, 40000);
    cr_assert_eq(c->log_level, 2);
    cr_assert_str_eq(c->backend.health_path, "/health");
    cr_assert_eq(c->storage.retention_ms, 24ull * 3600 * 1000);
    ug_config_free(c);

    c = load_ok(BASE "shutdown_grace: 0s\nlog: {level: debug}\n");
    cr_assert_eq(c->shutdown_grace_ms, 0);
    cr_assert_eq(c->log_level, 0);
    ug_config_free(c);
}

Test(config_ops, errors)
{
    expect_error(BASE "log: {level: INFO}\n", "t.yaml:3:14: log.level must be debug, info, warn or error, got \"INFO\"");
    expect_error(BASE "log: {verbose: true}\n", "t.yaml:3:7: unknown key \"verbose\" in log");
    expect_error("backend: {url: http://127.0.0.1:8000}\nstorage: {dir: /tmp, retention: 30s}\n",
                 "t.yaml:2:33: storage.retention must be at least 1m, got \"30s\"");
    expect_error("backend: {url: http://127.0.0.1:8000, health_path: health}\nstorage: {dir: /tmp}\n",
                 "t.yaml:1:52: backend.health_path must start with '/', got \"health\"");
    expect_error(BASE "listen: [{address: 127.0.0.1:8080}]\nadmin: {address: 127.0.0.1:8080}\n",
                 "t.yaml:4:18: admin.address \"127.0.0.1:8080\" must not share a port with listen 127.0.0.1:8080");
    expect_error(BASE "listen: [{address: \"*:8080\"}]\nadmin: {address: 127.0.0.1:8080}\n",
                 "t.yaml:4:18: admin.address \"127.0.0.1:8080\" must not share a port with listen *:8080");
    expect_error(BASE "admin: {}\n", "t.yaml:3:8: admin.address: required");
}

static const char *restart_needed(const char *a, const char *b)
{
    static char buf[256];
    ug_config_t *ca = load_ok(a), *cb = load_ok(b);
    const char *r = ug_runtime_restart_needed(ca, cb, buf, sizeof(buf));
    ug_config_free(ca);
    ug_config_free(cb);
    return r;
}

#define ROUTE(body) "routes: [{path: /upload, limits: {max_body: " body "}}]\n"

Test(runtime, what_a_reload_may_change)
{
    /* routes, limits (not above the largest max_body started with), CORS, auth, log level, grace, retention: yes */
    cr_assert_null(restart_needed(BASE ROUTE("1GiB"), BASE ROUTE("10MiB") "log: {level: error}\nshutdown_grace: 5s\n"
                                                                  "cors: {allow_origins: [\"https://a.example\"]}\n"));
    cr_assert_null(restart_needed(BASE ROUTE("1GiB"), "backend: {url: http://127.0.0.1:8000, health_path: /h}\n"
                                                      "storage: {dir: /tmp, retention: 1h}\n" ROUTE("1GiB")));
    cr_assert_str_eq(restart_needed(BASE, BASE "listen: [{address: 127.0.0.1:9999}]\n"),
                     "listen changed: it takes effect only after a restart");
    cr_assert_str_eq(restart_needed(BASE, BASE "threads: 3\n"), "threads changed: it takes effect only after a restart");
    cr_assert_str_eq(restart_needed(BASE, "backend: {url: http://127.0.0.1:8001}\nstorage: {dir: /tmp}\n"),
                     "backend.url or backend.timeout changed: it takes effect only after a restart");
    cr_assert_str_eq(restart_needed(BASE, "backend: {url: http://127.0.0.1:8000}\nstorage: {dir: /var/tmp}\n"),
                     "storage.dir or storage.spool_threshold changed: it takes effect only after a restart");
    cr_assert_str_eq(restart_needed(BASE, BASE "timeouts: {header: 3s}\n"), "timeouts changed: it takes effect only after a restart");
    cr_assert_str_eq(restart_needed(BASE, BASE "admin: {address: 127.0.0.1:9901}\n"),
                     "admin.address changed: it takes effect only after a restart");
    cr_assert_str_eq(restart_needed(BASE ROUTE("1GiB"), BASE ROUTE("2GiB")),
                     "a route max_body larger than the largest one started with changed: it takes effect only after a restart");
    /* measured against the start-up configuration: back up to its largest max_body is fine after a lower reload */
    cr_assert_null(restart_needed(BASE ROUTE("1GiB"), BASE ROUTE("1GiB")));
    /* the S3 client is started once: its block is restart-only (SIGHUP re-reads only its credentials file) */
#define S3BLOCK(extra) "backend: {url: http://127.0.0.1:8000}\nstorage: {dir: /tmp, s3: {endpoint: 'http://h', bucket: b1b" extra "}}\n"
    cr_assert_null(restart_needed(S3BLOCK(""), S3BLOCK(", region: us-east-1, path_style: true")));
    cr_assert_str_eq(restart_needed(BASE, S3BLOCK("")),
                     "storage.s3 (SIGHUP re-reads its credentials file only) changed: it takes effect only after a restart");
    cr_assert_str_eq(restart_needed(S3BLOCK(""), BASE),
                     "storage.s3 (SIGHUP re-reads its credentials file only) changed: it takes effect only after a restart");
    cr_assert_str_eq(restart_needed(S3BLOCK(""), S3BLOCK(", parts_in_flight: 5")),
                     "storage.s3 (SIGHUP re-reads its credentials file only) changed: it takes effect only after a restart");
    cr_assert_str_eq(restart_needed(S3BLOCK(""), S3BLOCK(", prefix: p/")),
                     "storage.s3 (SIGHUP re-reads its credentials file only) changed: it takes effect only after a restart");
    cr_assert_str_eq(restart_needed(BASE "listen: [{address: 127.0.0.1:8443, tls: {certificate: c, key: k}}]\n",
                                    BASE "listen: [{address: 127.0.0.1:8443, tls: {certificate: c, key: k, ciphers: "
                                         "ECDHE-RSA-AES128-GCM-SHA256}}]\n"),
                     "listen changed: it takes effect only after a restart");
}

Test(runtime, references_and_slot)
{
    ug_config_t *c = load_ok(BASE);
    ug_runtime_t *rt = NULL;
    cr_assert_eq(ug_runtime_new(c, 1, &rt, errbuf, sizeof(errbuf)), UG_OK, "%s", errbuf);
    ug_runtime_slot_t slot;
    ug_runtime_slot_init(&slot, rt);
    ug_runtime_t *held = ug_runtime_slot_acquire(&slot); /* a request in flight */
    cr_assert_eq(held, rt);

    ug_runtime_t *next = NULL;
    cr_assert_eq(ug_runtime_new(load_ok(BASE "log: {level: error}\n"), 2, &next, errbuf, sizeof(errbuf)), UG_OK);
    ug_runtime_slot_replace(&slot, next);
    ug_runtime_t *now = ug_runtime_slot_acquire(&slot);
    cr_assert_eq(now->generation, 2);
    cr_assert_eq(now->config->log_level, 3);
    cr_assert_eq(held->config->log_level, 1, "the request in flight keeps its configuration");
    ug_runtime_release(held); /* the old runtime goes now (ASan checks it is freed exactly once) */
    ug_runtime_release(now);
    ug_runtime_slot_dispose(&slot);
}

Test(runtime, missing_key_files_are_refused)
{
    ug_config_t *c = load_ok(BASE "routes: [{path: /u, auth: {tokens_file: /nonexistent/tokens}}]\n");
    ug_runtime_t *rt = (ug_runtime_t *)1;
    cr_assert_eq(ug_runtime_new(c, 1, &rt, errbuf, sizeof(errbuf)), UG_ERR_CONFIG);
    cr_assert_null(rt);
    cr_assert(strstr(errbuf, "route /u: auth:") == errbuf, "%s", errbuf);
    cr_assert(strstr(errbuf, "/nonexistent/tokens") != NULL, "%s", errbuf);

    c = load_ok("backend: {url: http://127.0.0.1:8000, signing_key_file: /nonexistent/key}\nstorage: {dir: /tmp}\n");
    cr_assert_eq(ug_runtime_new(c, 1, &rt, errbuf, sizeof(errbuf)), UG_ERR_CONFIG);
    cr_assert(strstr(errbuf, "/nonexistent/key") != NULL, "%s", errbuf);
}
