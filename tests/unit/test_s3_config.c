/*
 * The storage.s3 block and a route's store: key: defaults, every key's checks (file:line:col), the rules between
 * keys, and the route combinations store: s3 refuses.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "config/config.h"
#include "config_load.h"

#define BASE "backend: {url: http://127.0.0.1:8000}\n"
#define S3(extra) "storage:\n  dir: /tmp\n  s3:\n    endpoint: http://127.0.0.1:9000\n    bucket: uploads\n" extra
#define MiB (1024ull * 1024ull)
#define GiB (1024ull * MiB)

Test(s3_config, defaults)
{
    ug_config_t *c = load_ok(BASE S3("") "routes: [{path: /upload, store: s3}, {path: /local}]\n");
    const ug_s3_config_t *s3 = c->storage.s3;
    cr_assert_not_null(s3);
    cr_assert_str_eq(s3->endpoint, "http://127.0.0.1:9000");
    cr_assert_not(s3->https);
    cr_assert_str_eq(s3->region, "us-east-1");
    cr_assert_str_eq(s3->bucket, "uploads");
    cr_assert_str_eq(s3->prefix, "");
    cr_assert(s3->path_style, "path style by default: it works with every endpoint, IP addresses included");
    cr_assert_null(s3->credentials_file);
    cr_assert_null(s3->ca_file);
    cr_assert_eq(s3->part_size, 8 * MiB);
    cr_assert_eq(s3->parts_in_flight, 4);
    cr_assert_eq(ug_s3_config_max_object(s3), 80000 * MiB);
    cr_assert_eq(c->routes[0].store, UG_STORE_S3);
    cr_assert_eq(c->routes[1].store, UG_STORE_LOCAL, "routes store locally unless they say otherwise");
    ug_config_free(c);
}

Test(s3_config, no_block_no_s3)
{
    ug_config_t *c = load_ok(BASE "storage: {dir: /tmp}\nroutes: [{path: /upload, store: local}]\n");
    cr_assert_null(c->storage.s3);
    cr_assert_eq(c->routes[0].store, UG_STORE_LOCAL);
    ug_config_free(c);
}

Test(s3_config, every_key)
{
    ug_config_t *c = load_ok(BASE S3("    region: eu-west-3\n"
                                     "    prefix: incoming/\n"
                                     "    credentials_file: /etc/uploadgate/s3-credentials\n"
                                     "    part_size: 5MiB\n"
                                     "    parts_in_flight: 64\n"));
    const ug_s3_config_t *s3 = c->storage.s3;
    cr_assert_str_eq(s3->region, "eu-west-3");
    cr_assert_str_eq(s3->prefix, "incoming/");
    cr_assert_str_eq(s3->credentials_file, "/etc/uploadgate/s3-credentials");
    cr_assert_eq(s3->part_size, 5 * MiB);
    cr_assert_eq(s3->parts_in_flight, 64);
    ug_config_free(c);
    c = load_ok(BASE "storage:\n  dir: /tmp\n  s3: {endpoint: 'https://s3.example.com/', bucket: my.bucket-1, "
                     "path_style: false, ca_file: /etc/ca.pem, part_size: 5GiB}\n");
    cr_assert(c->storage.s3->https);
    cr_assert_str_eq(c->storage.s3->endpoint, "https://s3.example.com", "a trailing slash is dropped");
    cr_assert_not(c->storage.s3->path_style);
    cr_assert_str_eq(c->storage.s3->ca_file, "/etc/ca.pem");
    cr_assert_eq(c->storage.s3->part_size, 5 * GiB);
    ug_config_free(c);
}

Test(s3_config, required_keys)
{
    load_err(BASE "storage:\n  dir: /tmp\n  s3: {bucket: uploads}\n", "t.yaml:4:7: storage.s3.endpoint: required");
    load_err(BASE "storage:\n  dir: /tmp\n  s3: {endpoint: 'http://h'}\n", "t.yaml:4:7: storage.s3.bucket: required");
    load_err(BASE "storage:\n  dir: /tmp\n  s3: [1]\n", "t.yaml:4:7: expected a mapping for storage.s3, got a sequence");
    load_err(BASE S3("    acl: private\n"), "t.yaml:7:5: unknown key \"acl\" in storage.s3");
}

Test(s3_config, endpoint)
{
    load_err(BASE "storage:\n  dir: /tmp\n  s3: {endpoint: 'ftp://h', bucket: uploads}\n",
             "t.yaml:4:18: invalid storage.s3.endpoint \"ftp://h\": expected http://host[:port] or https://host[:port]");
    load_err(BASE "storage:\n  dir: /tmp\n  s3: {endpoint: 'http://h:9000/uploads', bucket: uploads}\n",
             "t.yaml:4:18: invalid storage.s3.endpoint \"http://h:9000/uploads\": a path is not allowed (the bucket goes "
             "in bucket:)");
    load_err(BASE "storage:\n  dir: /tmp\n  s3: {endpoint: 'http://k:s@h', bucket: uploads}\n",
             "t.yaml:4:18: invalid storage.s3.endpoint \"http://k:s@h\": user information (user@) is not allowed "
             "(credentials come from credentials_file or the environment)");
    load_err(BASE "storage:\n  dir: /tmp\n  s3: {endpoint: 'http://h:0', bucket: uploads}\n",
             "t.yaml:4:18: invalid storage.s3.endpoint \"http://h:0\": the port must be a number from 1 to 65535");
    load_err(BASE "storage:\n  dir: /tmp\n  s3: {endpoint: 'http://', bucket: uploads}\n",
             "t.yaml:4:18: invalid storage.s3.endpoint \"http://\": the host is missing");
    ug_config_t *c = load_ok(BASE "storage:\n  dir: /tmp\n  s3: {endpoint: 'http://[::1]:9000', bucket: uploads}\n");
    cr_assert_str_eq(c->storage.s3->endpoint, "http://[::1]:9000");
    ug_config_free(c);
}

Test(s3_config, bucket_region_prefix)
{
    load_err(BASE S3("") "    x: 1\n", "t.yaml:7:5: unknown key \"x\" in storage.s3");
    load_err(BASE "storage:\n  dir: /tmp\n  s3: {endpoint: 'http://h', bucket: Uploads}\n",
             "t.yaml:4:38: invalid storage.s3.bucket \"Uploads\": a bucket name may only contain lower-case letters, "
             "digits, '.' and '-'");
    load_err(BASE "storage:\n  dir: /tmp\n  s3: {endpoint: 'http://h', bucket: ab}\n",
             "t.yaml:4:38: invalid storage.s3.bucket \"ab\": a bucket name must be 3 to 63 characters long");
    load_err(BASE "storage:\n  dir: /tmp\n  s3: {endpoint: 'http://h', bucket: -abc}\n",
             "t.yaml:4:38: invalid storage.s3.bucket \"-abc\": a bucket name must begin and end with a letter or digit");
    load_err(BASE S3("    region: US East\n"),
             "t.yaml:7:13: invalid storage.s3.region \"US East\": expected a region name like us-east-1");
    load_err(BASE S3("    prefix: /incoming/\n"),
             "t.yaml:7:13: invalid storage.s3.prefix \"/incoming/\": a key prefix must not begin with '/'");
    load_err(BASE S3("    credentials_file: creds\n"),
             "t.yaml:7:23: storage.s3.credentials_file must be an absolute path, got \"creds\"");
}

Test(s3_config, part_size_and_parts_in_flight)
{
    load_err(BASE S3("    part_size: 4MiB\n"), "t.yaml:7:16: storage.s3.part_size must be between 5MiB and 5GiB, got \"4MiB\"");
    load_err(BASE S3("    part_size: 6GiB\n"), "t.yaml:7:16: storage.s3.part_size must be between 5MiB and 5GiB, got \"6GiB\"");
    load_err(BASE S3("    parts_in_flight: 0\n"), "t.yaml:7:22: storage.s3.parts_in_flight must be between 1 and 64, got \"0\"");
    load_err(BASE S3("    parts_in_flight: 65\n"), "t.yaml:7:22: storage.s3.parts_in_flight must be between 1 and 64, got \"65\"");
}

Test(s3_config, tls_and_addressing)
{
    load_err(BASE S3("    ca_file: /etc/ca.pem\n"), "t.yaml:7:14: storage.s3.ca_file applies only to an https endpoint");
    load_err(BASE S3("    path_style: false\n"),
             "t.yaml:7:17: storage.s3.path_style: false (virtual-hosted) needs an endpoint with a host name, not an IP address");
    load_err(BASE "storage:\n  dir: /tmp\n  s3: {endpoint: 'http://[::1]', bucket: uploads, path_style: false}\n",
             "t.yaml:4:63: storage.s3.path_style: false (virtual-hosted) needs an endpoint with a host name, not an IP "
             "address");
    load_err(BASE S3("    path_style: maybe\n"), "t.yaml:7:17: expected true or false for storage.s3.path_style, got \"maybe\"");
}

Test(s3_config, route_store)
{
    load_err(BASE "storage: {dir: /tmp}\nroutes: [{path: /upload, store: s3}]\n",
             "t.yaml:3:33: routes[0].store: s3 needs a storage.s3 block");
    load_err(BASE "storage: {dir: /tmp}\nroutes: [{path: /upload, store: S3}]\n",
             "t.yaml:3:33: routes[0].store must be local or s3, got \"S3\"");
    /* storage may come after the routes: the rule is checked over the whole file */
    ug_config_t *c = load_ok(BASE "routes: [{path: /upload, store: s3}]\n" S3(""));
    cr_assert_eq(c->routes[0].store, UG_STORE_S3);
    ug_config_free(c);
    load_err(BASE S3("") "routes: [{path: /a}, {path: /files/*, store: s3, resumable: {}}]\n",
             "t.yaml:7:46: routes[1].store: s3 cannot be combined with resumable (resumable uploads are stored locally)");
    load_err(BASE S3("") "routes: [{path: /api, store: s3, pass_through: true}]\n",
             "t.yaml:7:30: routes[0].store: s3 cannot be combined with pass_through (nothing is stored)");
}
