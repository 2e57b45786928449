/*
 * config_walk.c - the table-driven walk over a mapping and the generic value
 * handlers (strings, paths, sizes, durations, integers, booleans, nested
 * mappings) that key tables refer to. Schema-specific handlers live in config.c.
 */
#include "config/config.h"
#include "config/config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------------------------------- */

static const char *kind_name(const ug_ynode_t *n)
{
    if (ug_ynode_is_null(n))
        return "an empty value";
    return n->type == UG_YNODE_MAPPING ? "a mapping" : n->type == UG_YNODE_SEQUENCE ? "a sequence" : "a scalar";
}

int ug_cfg_expect(ug_cfg_errout_t *eo, const ug_ynode_t *n, ug_ynode_type_t type, const char *path)
{
    static const char *const names[] = {"a scalar", "a sequence", "a mapping"};
    if (n->type == type && !(type != UG_YNODE_SCALAR && ug_ynode_is_null(n)))
        return 0;
    if (*path == '\0')
        return ug_cfg_node_errorf(eo, n, "expected %s at the top level, got %s", names[type], kind_name(n));
    return ug_cfg_node_errorf(eo, n, "expected %s for %s, got %s", names[type], path, kind_name(n));
}

/* "in backend" / "at the top level" */
static const char *where(const char *path, char *buf, size_t len)
{
    if (*path == '\0')
        return "at the top level";
    snprintf(buf, len, "in %s", path);
    return buf;
}

const char *ug_cfg_join(char *buf, size_t len, const char *path, const char *name)
{
    snprintf(buf, len, "%s%s%s", path, *path != '\0' ? "." : "", name);
    return buf;
}

/* The value node of `name` in mapping `map`, or NULL. */
const ug_ynode_t *ug_cfg_map_get(const ug_ynode_t *map, const char *name)
{
    if (map == NULL || map->type != UG_YNODE_MAPPING)
        return NULL;
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        const ug_ynode_t *key = map->items[i];
        if (key->type == UG_YNODE_SCALAR && key->len == strlen(name) && memcmp(key->value, name, key->len) == 0)
            return map->items[i + 1];
    }
    return NULL;
}

const ug_ynode_t *ug_cfg_seen(const ug_cfg_key *keys, const ug_ynode_t **seen, const char *name)
{
    for (size_t i = 0; keys[i].name != NULL; i++)
        if (strcmp(keys[i].name, name) == 0)
            return seen[i];
    return NULL;
}

static int range_error(ug_cfg_errout_t *eo, const ug_ynode_t *n, const char *path, const ug_cfg_key *k,
                       void (*fmt)(uint64_t, char *, size_t))
{
    char lo[32], hi[32], q[96];
    fmt(k->min, lo, sizeof(lo));
    fmt(k->max, hi, sizeof(hi));
    if (k->max == UINT64_MAX && k->min == 1)
        return ug_cfg_node_errorf(eo, n, "%s must be greater than 0, got %s", path, Q(n, q));
    if (k->max == UINT64_MAX)
        return ug_cfg_node_errorf(eo, n, "%s must be at least %s, got %s", path, lo, Q(n, q));
    return ug_cfg_node_errorf(eo, n, "%s must be between %s and %s, got %s", path, lo, hi, Q(n, q));
}

static void format_plain(uint64_t v, char *buf, size_t len)
{
    snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* ---- generic handlers ------------------------------------------------------------------------------- */

/* A non-empty string without control characters (and so without NULs from a "\0" escape). */
int ug_cfg_string(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    char **out = field;
    (void)k;
    if (ug_cfg_expect(eo, n, UG_YNODE_SCALAR, path) != 0)
        return -1;
    if (n->len == 0)
        return ug_cfg_node_errorf(eo, n, "%s must not be empty", path);
    for (size_t i = 0; i < n->len; i++)
        if ((unsigned char)n->value[i] < 0x20 || n->value[i] == 0x7f)
            return ug_cfg_node_errorf(eo, n, "%s must not contain control characters", path);
    free(*out); /* a field may have a default or be set twice via a nested table; never leak */
    if ((*out = strndup(n->value, n->len)) == NULL)
        return ug_cfg_nomem(eo);
    return 0;
}

/* An absolute directory; trailing slashes are dropped so that dir + "/" + name is clean. */
int ug_cfg_abs_path(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    char q[96];
    if (ug_cfg_string(eo, n, field, k, path) != 0)
        return -1;
    char *s = *(char **)field;
    if (s[0] != '/')
        return ug_cfg_node_errorf(eo, n, "%s must be an absolute path, got %s", path, Q(n, q));
    for (size_t len = strlen(s); len > 1 && s[len - 1] == '/'; len--)
        s[len - 1] = '\0';
    return 0;
}

int ug_cfg_size(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    uint64_t v;
    char q[96];
    if (ug_cfg_expect(eo, n, UG_YNODE_SCALAR, path) != 0)
        return -1;
    if (ug_parse_size(n->value, n->len, &v) != 0)
        return ug_cfg_node_errorf(eo, n, "invalid size %s for %s (expected e.g. 512, 64KiB, 10MB, 2GiB)", Q(n, q), path);
    if (v < k->min || v > k->max)
        return range_error(eo, n, path, k, ug_cfg_format_size);
    *(uint64_t *)field = v;
    return 0;
}

int ug_cfg_duration(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    uint64_t v;
    char q[96];
    if (ug_cfg_expect(eo, n, UG_YNODE_SCALAR, path) != 0)
        return -1;
    if (ug_parse_duration(n->value, n->len, &v) != 0)
        return ug_cfg_node_errorf(eo, n, "invalid duration %s for %s (expected e.g. 500ms, 30s, 5m, 1h, 1d)", Q(n, q), path);
    if (v < k->min || v > k->max)
        return range_error(eo, n, path, k, ug_cfg_format_duration);
    *(uint64_t *)field = v;
    return 0;
}

int ug_cfg_u32(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    uint64_t v;
    char q[96];
    if (ug_cfg_expect(eo, n, UG_YNODE_SCALAR, path) != 0)
        return -1;
    /* ug_parse_size without a unit is exactly "decimal digits, overflow checked" */
    if (n->len == 0 || n->value[n->len - 1] < '0' || n->value[n->len - 1] > '9' || ug_parse_size(n->value, n->len, &v) != 0)
        return ug_cfg_node_errorf(eo, n, "expected an integer for %s, got %s", path, Q(n, q));
    if (v < k->min || v > k->max)
        return range_error(eo, n, path, k, format_plain);
    *(uint32_t *)field = (uint32_t)v;
    return 0;
}

/*
 * Only true/false (any of YAML 1.2's three spellings): YAML 1.1's yes/no/on/off
 * read differently depending on the parser, so we refuse them outright.
 */
int ug_cfg_bool(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    static const char *const yes[] = {"true", "True", "TRUE"}, *const no[] = {"false", "False", "FALSE"};
    char q[96];
    (void)k;
    if (ug_cfg_expect(eo, n, UG_YNODE_SCALAR, path) != 0)
        return -1;
    for (size_t i = 0; i < 3; i++) {
        if (n->len == strlen(yes[i]) && memcmp(n->value, yes[i], n->len) == 0) {
            *(int *)field = 1;
            return 0;
        }
        if (n->len == strlen(no[i]) && memcmp(n->value, no[i], n->len) == 0) {
            *(int *)field = 0;
            return 0;
        }
    }
    return ug_cfg_node_errorf(eo, n, "expected true or false for %s, got %s", path, Q(n, q));
}

int ug_cfg_map(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    return ug_cfg_walk_map(eo, n, k->sub, field, path, NULL);
}

/* ---- the walk ---------------------------------------------------------------------------------------- */

/*
 * Apply `keys` to mapping `n`: every key must be known and appear once; a null
 * value counts as absent (so "routes:" with every entry commented out is no
 * routes), except that a required key cannot be null. `seen`, when given, gets
 * the value node of each key by table index.
 */
int ug_cfg_walk_map(ug_cfg_errout_t *eo, const ug_ynode_t *n, const ug_cfg_key *keys, void *base, const char *path,
                    const ug_ynode_t **seen)
{
    const ug_ynode_t *local[UG_CFG_MAX_KEYS] = {0};
    char sub[128], w[128], q[96];

    if (seen == NULL)
        seen = local;
    if (ug_cfg_expect(eo, n, UG_YNODE_MAPPING, path) != 0)
        return -1;
    for (size_t i = 0; i + 1 < n->count; i += 2) {
        const ug_ynode_t *key = n->items[i], *value = n->items[i + 1];
        if (key->type != UG_YNODE_SCALAR)
            return ug_cfg_node_errorf(eo, key, "expected a scalar key %s, got %s", where(path, w, sizeof(w)), kind_name(key));
        for (size_t j = 0; j < i; j += 2) {
            const ug_ynode_t *prev = n->items[j];
            if (prev->type == UG_YNODE_SCALAR && prev->len == key->len && memcmp(prev->value, key->value, key->len) == 0)
                return ug_cfg_node_errorf(eo, key, "duplicate key %s %s (first at line %u)", Q(key, q), where(path, w, sizeof(w)),
                                          prev->line);
        }
        size_t k = 0;
        while (keys[k].name != NULL && !(strlen(keys[k].name) == key->len && memcmp(keys[k].name, key->value, key->len) == 0))
            k++;
        if (keys[k].name == NULL)
            return ug_cfg_node_errorf(eo, key, "unknown key %s %s", Q(key, q), where(path, w, sizeof(w)));
        ug_cfg_join(sub, sizeof(sub), path, keys[k].name);
        if (ug_ynode_is_null(value)) {
            if (keys[k].required)
                return ug_cfg_node_errorf(eo, key, "%s: required", sub);
            continue;
        }
        if (keys[k].parse(eo, value, (char *)base + keys[k].offset, &keys[k], sub) != 0)
            return -1;
        if (k < UG_CFG_MAX_KEYS)
            seen[k] = value;
    }
    for (size_t k = 0; keys[k].name != NULL && k < UG_CFG_MAX_KEYS; k++) {
        if (keys[k].required && seen[k] == NULL) {
            ug_cfg_join(sub, sizeof(sub), path, keys[k].name);
            /* the top-level mapping starts at the first key, often after comments: 1:1 reads as "the file" */
            if (*path == '\0')
                return ug_cfg_errorf(eo, 1, 1, "%s: required", sub);
            return ug_cfg_node_errorf(eo, n, "%s: required", sub);
        }
    }
    return 0;
}
