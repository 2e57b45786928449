/*
 * config_s3.c - the `storage.s3` block (an S3-compatible object store) and a route's `store:` key.
 *
 * Only shapes are checked here; whether the credentials file can be read and the bucket reached is the S3 client's
 * business at start-up (store/s3_client.h), so `--check` stays an offline check.
 */
#include "config/config.h"
#include "config/config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* S3 keys are at most 1024 bytes; the prefix leaves room for "<upload-id>/<n>". */
#define UG_S3_MAX_PREFIX 512

uint64_t ug_s3_config_max_object(const ug_s3_config_t *s3)
{
    return s3->part_size * UG_S3_MAX_PARTS;
}

static int h_endpoint(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_s3_config_t *s3 = field;
    ug_hostport_t hp;
    char q[96];
    if (ug_cfg_string(eo, n, &s3->endpoint, k, path) != 0)
        return -1;
    const char *why = ug_cfg_parse_store_endpoint(n->value, n->len, &hp, &s3->https);
    if (why != NULL)
        return ug_cfg_node_errorf(eo, n, "invalid %s %s: %s", path, Q(n, q), why);
    size_t len = strlen(s3->endpoint);
    if (len > 0 && s3->endpoint[len - 1] == '/')
        s3->endpoint[len - 1] = '\0';
    return 0;
}

/* S3's bucket naming rules (the strict, DNS-compatible ones every S3-compatible store accepts). */
static const char *bucket_problem(const char *b, size_t len)
{
    if (len < 3 || len > 63)
        return "must be 3 to 63 characters long";
    for (size_t i = 0; i < len; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '.' || b[i] == '-'))
            return "may only contain lower-case letters, digits, '.' and '-'";
    if (b[0] == '.' || b[0] == '-' || b[len - 1] == '.' || b[len - 1] == '-')
        return "must begin and end with a letter or digit";
    return NULL;
}

static int h_bucket(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    char q[96];
    if (ug_cfg_string(eo, n, field, k, path) != 0)
        return -1;
    const char *why = bucket_problem(n->value, n->len);
    return why == NULL ? 0 : ug_cfg_node_errorf(eo, n, "invalid %s %s: a bucket name %s", path, Q(n, q), why);
}

static int h_region(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    char q[96];
    if (ug_cfg_string(eo, n, field, k, path) != 0)
        return -1;
    for (size_t i = 0; i < n->len; i++)
        if (!((n->value[i] >= 'a' && n->value[i] <= 'z') || (n->value[i] >= '0' && n->value[i] <= '9') || n->value[i] == '-'))
            return ug_cfg_node_errorf(eo, n, "invalid %s %s: expected a region name like us-east-1", path, Q(n, q));
    return 0;
}

/* The prefix is signed into every URL as is: a leading '/' would make a key start with an empty segment. */
static int h_prefix(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    char q[96];
    if (ug_cfg_string(eo, n, field, k, path) != 0)
        return -1;
    if (n->value[0] == '/')
        return ug_cfg_node_errorf(eo, n, "invalid %s %s: a key prefix must not begin with '/'", path, Q(n, q));
    if (n->len > UG_S3_MAX_PREFIX)
        return ug_cfg_node_errorf(eo, n, "%s is longer than %d bytes", path, UG_S3_MAX_PREFIX);
    return 0;
}

static const ug_cfg_key s3_keys[] = {
    {"endpoint", h_endpoint, WHOLE, REQUIRED},
    {"region", h_region, AT(ug_s3_config_t, region)},
    {"bucket", h_bucket, AT(ug_s3_config_t, bucket), REQUIRED},
    {"prefix", h_prefix, AT(ug_s3_config_t, prefix)},
    {"path_style", ug_cfg_bool, AT(ug_s3_config_t, path_style)},
    {"credentials_file", ug_cfg_abs_path, AT(ug_s3_config_t, credentials_file)},
    {"ca_file", ug_cfg_abs_path, AT(ug_s3_config_t, ca_file)},
    {"part_size", ug_cfg_size, AT(ug_s3_config_t, part_size), RANGE(UG_S3_MIN_PART_SIZE, UG_S3_MAX_PART_SIZE)},
    {"parts_in_flight", ug_cfg_u32, AT(ug_s3_config_t, parts_in_flight), RANGE(1, 64)},
    {.name = NULL},
};

/* Rules between keys, once the block is read. */
static int check_s3(ug_cfg_errout_t *eo, const ug_ynode_t *n, const ug_s3_config_t *s3, const char *path)
{
    char key[96];
    const ug_ynode_t *ca = ug_cfg_map_get(n, "ca_file");
    if (s3->ca_file != NULL && !s3->https)
        return ug_cfg_node_errorf(eo, ca, "%s applies only to an https endpoint", ug_cfg_join(key, sizeof(key), path, "ca_file"));
    if (!s3->path_style) {
        ug_hostport_t hp;
        int https;
        ug_cfg_parse_store_endpoint(s3->endpoint, strlen(s3->endpoint), &hp, &https); /* valid: h_endpoint took it */
        /* virtual-hosted style puts the bucket in front of the host name: "bucket.127.0.0.1" names nothing */
        if (hp.is_ipv6 || strspn(hp.host, "0123456789.") >= hp.host_len)
            return ug_cfg_node_errorf(eo, ug_cfg_map_get(n, "path_style"),
                                      "%s: false (virtual-hosted) needs an endpoint with a host name, not an IP address",
                                      ug_cfg_join(key, sizeof(key), path, "path_style"));
    }
    return 0;
}

int ug_cfg_s3(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_s3_config_t **out = field, *s3;
    (void)k;
    if (ug_cfg_expect(eo, n, UG_YNODE_MAPPING, path) != 0)
        return -1;
    if ((s3 = calloc(1, sizeof(*s3))) == NULL)
        return ug_cfg_nomem(eo);
    *out = s3; /* owned by the config from here on, freed with it on any error */
    s3->path_style = 1;
    s3->part_size = 8 * MiB;
    s3->parts_in_flight = 4;
    if (ug_cfg_walk_map(eo, n, s3_keys, s3, path, NULL) != 0 || check_s3(eo, n, s3, path) != 0)
        return -1;
    if ((s3->region == NULL && (s3->region = strdup("us-east-1")) == NULL) ||
        (s3->prefix == NULL && (s3->prefix = strdup("")) == NULL))
        return ug_cfg_nomem(eo);
    return 0;
}

void ug_cfg_s3_free(ug_s3_config_t *s3)
{
    if (s3 == NULL)
        return;
    free(s3->endpoint);
    free(s3->region);
    free(s3->bucket);
    free(s3->prefix);
    free(s3->credentials_file);
    free(s3->ca_file);
    free(s3);
}

int ug_cfg_route_store(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    char q[96];
    (void)k;
    if (ug_cfg_expect(eo, n, UG_YNODE_SCALAR, path) != 0)
        return -1;
    if (n->len == 5 && memcmp(n->value, "local", 5) == 0)
        *(ug_store_kind_t *)field = UG_STORE_LOCAL;
    else if (n->len == 2 && memcmp(n->value, "s3", 2) == 0)
        *(ug_store_kind_t *)field = UG_STORE_S3;
    else
        return ug_cfg_node_errorf(eo, n, "%s must be local or s3, got %s", path, Q(n, q));
    return 0;
}

/* `store: s3` needs storage.s3 (which may be written after the routes, hence a check over the whole config), stores
 * one-request uploads only (resumable uploads keep their offsets and bytes on local disk), and is meaningless on a
 * route that stores nothing. */
int ug_cfg_check_route_stores(ug_cfg_errout_t *eo, const ug_ynode_t *root, const ug_config_t *c)
{
    const ug_ynode_t *routes = ug_cfg_map_get(root, "routes");
    for (size_t i = 0; i < c->route_count; i++) {
        const ug_route_t *r = &c->routes[i];
        if (r->store != UG_STORE_S3)
            continue;
        const ug_ynode_t *node = ug_cfg_map_get(routes->items[i], "store");
        if (c->storage.s3 == NULL)
            return ug_cfg_node_errorf(eo, node, "routes[%zu].store: s3 needs a storage.s3 block", i);
        if (r->resumable.enabled)
            return ug_cfg_node_errorf(eo, node,
                                      "routes[%zu].store: s3 cannot be combined with resumable (resumable uploads are "
                                      "stored locally)",
                                      i);
        if (r->pass_through)
            return ug_cfg_node_errorf(eo, node, "routes[%zu].store: s3 cannot be combined with pass_through (nothing is stored)",
                                      i);
    }
    return 0;
}
