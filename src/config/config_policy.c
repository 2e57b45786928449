/*
 * config_policy.c - the edge-policy blocks of the configuration: `cors:`
 * (global, or per route) and a route's `auth:`. The policy modules own the
 * semantics (src/policy/cors.c, src/policy/auth.c); this file only turns YAML
 * nodes into their structs and points their validation messages at the node.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/config_internal.h"

/* A sequence of non-empty scalars into a NULL-terminated char ** (count in *n). */
static int string_list(ug_cfg_errout_t *eo, const ug_ynode_t *n, char ***out, size_t *count, const char *path)
{
    if (ug_cfg_expect(eo, n, UG_YNODE_SEQUENCE, path) != 0)
        return -1;
    char **list = calloc(n->count + 1, sizeof(*list));
    if (list == NULL)
        return ug_cfg_nomem(eo);
    for (size_t i = 0; i < n->count; i++) {
        char sub[96];
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (ug_cfg_string(eo, n->items[i], &list[i], NULL, sub) != 0) {
            for (size_t j = 0; j <= i; j++)
                free(list[j]);
            free(list);
            return -1;
        }
    }
    *out = list;
    *count = n->count;
    return 0;
}

static void free_list(char **list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* ---- cors ---- */

static int h_cors_origins(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_cors_config_t *c = field;
    (void)k;
    return string_list(eo, n, &c->allow_origins, &c->n_origins, path);
}

static int h_cors_methods(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_cors_config_t *c = field;
    (void)k;
    return string_list(eo, n, &c->allow_methods, &c->n_methods, path);
}

static int h_cors_headers(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_cors_config_t *c = field;
    (void)k;
    return string_list(eo, n, &c->allow_headers, &c->n_headers, path);
}

static int h_cors_expose(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_cors_config_t *c = field;
    (void)k;
    return string_list(eo, n, &c->expose_headers, &c->n_expose, path);
}

static int h_cors_max_age(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_cors_config_t *c = field;
    uint64_t ms;
    if (ug_cfg_duration(eo, n, &ms, k, path) != 0)
        return -1;
    c->max_age_s = ms / 1000;
    c->max_age_set = 1;
    return 0;
}

static const ug_cfg_key cors_keys[] = {
    {"allow_origins", h_cors_origins, WHOLE, REQUIRED},
    {"allow_methods", h_cors_methods, WHOLE},
    {"allow_headers", h_cors_headers, WHOLE},
    {"expose_headers", h_cors_expose, WHOLE},
    {"allow_credentials", ug_cfg_bool, AT(ug_cors_config_t, allow_credentials)},
    /* A max_age of 0 is a legitimate "do not cache preflights". */
    {"max_age", h_cors_max_age, WHOLE, RANGE(0, 86400ull * 1000)},
    {.name = NULL},
};

void ug_cfg_cors_free(ug_cors_config_t *c)
{
    if (c == NULL)
        return;
    free_list(c->allow_origins, c->n_origins);
    free_list(c->allow_methods, c->n_methods);
    free_list(c->allow_headers, c->n_headers);
    free_list(c->expose_headers, c->n_expose);
    ug_cors_config_dispose(c);
    free(c);
}

int ug_cfg_cors(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_cors_config_t **out = field;
    const ug_ynode_t *seen[UG_CFG_MAX_KEYS] = {0};
    char msg[UG_CORS_MSG_SIZE];
    ug_cors_where_t where = {0};
    (void)k;
    ug_cors_config_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ug_cfg_nomem(eo);
    ug_cfg_cors_free(*out);
    *out = c;
    if (ug_cfg_walk_map(eo, n, cors_keys, c, path, seen) != 0)
        return -1;
    if (ug_cors_config_check(c, msg, sizeof(msg), &where) != NULL) {
        static const char *const fields[] = {[UG_CORS_FIELD_ALLOW_ORIGINS] = "allow_origins",
                                             [UG_CORS_FIELD_ALLOW_METHODS] = "allow_methods",
                                             [UG_CORS_FIELD_ALLOW_HEADERS] = "allow_headers",
                                             [UG_CORS_FIELD_EXPOSE_HEADERS] = "expose_headers"};
        const ug_ynode_t *at = n;
        if (where.field != UG_CORS_FIELD_NONE && (size_t)where.field < sizeof(fields) / sizeof(fields[0])) {
            const ug_ynode_t *list = ug_cfg_seen(cors_keys, seen, fields[where.field]);
            if (list != NULL)
                at = where.index != UG_CORS_WHOLE_LIST && where.index < list->count ? list->items[where.index] : list;
        }
        return ug_cfg_node_errorf(eo, at, "%s", msg);
    }
    if (ug_cors_config_finalize(c) != UG_OK)
        return ug_cfg_nomem(eo);
    return 0;
}

/* ---- auth ---- */

static int h_jwt_algorithms(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    unsigned *bits = field;
    char q[96];
    (void)k;
    if (ug_cfg_expect(eo, n, UG_YNODE_SEQUENCE, path) != 0)
        return -1;
    if (n->count == 0)
        return ug_cfg_node_errorf(eo, n, "%s must list at least one algorithm", path);
    *bits = 0;
    for (size_t i = 0; i < n->count; i++) {
        const ug_ynode_t *a = n->items[i];
        int alg;
        if (ug_cfg_expect(eo, a, UG_YNODE_SCALAR, path) != 0)
            return -1;
        if ((alg = ug_jwt_alg_from_name(a->value, a->len)) < 0)
            return ug_cfg_node_errorf(eo, a,
                                      "unknown or unsupported JWT algorithm %s in %s (supported: HS256, HS384, HS512, RS256, RS384, "
                                      "RS512, PS256, ES256, ES384, EdDSA; \"none\" is never accepted)",
                                      Q(a, q), path);
        *bits |= UG_JWT_ALG_BIT(alg);
    }
    return 0;
}

static int h_jwt_scopes(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_jwt_policy_t *p = field;
    (void)k;
    return string_list(eo, n, &p->required_scopes, &p->n_required_scopes, path);
}

static const ug_cfg_key jwt_keys[] = {
    {"algorithms", h_jwt_algorithms, AT(ug_auth_config_t, jwt.algorithms), REQUIRED},
    {"secret_file", ug_cfg_abs_path, AT(ug_auth_config_t, jwt_secret_file)},
    {"public_key_file", ug_cfg_abs_path, AT(ug_auth_config_t, jwt_public_key_file)},
    {"jwks_file", ug_cfg_abs_path, AT(ug_auth_config_t, jwt_jwks_file)},
    {"issuer", ug_cfg_string, AT(ug_auth_config_t, jwt.issuer)},
    {"audience", ug_cfg_string, AT(ug_auth_config_t, jwt.audience)},
    {"required_scopes", h_jwt_scopes, AT(ug_auth_config_t, jwt)},
    {"leeway", ug_cfg_duration, AT(ug_auth_config_t, jwt.leeway_ms), RANGE(0, 3600ull * 1000)},
    {.name = NULL},
};

static const ug_cfg_key auth_keys[] = {
    {"tokens_file", ug_cfg_abs_path, AT(ug_auth_config_t, tokens_file)},
    {"tokens_env", ug_cfg_string, AT(ug_auth_config_t, tokens_env)},
    /* jwt keys land in the auth struct itself (the files live beside the policy) */
    {"jwt", ug_cfg_map, WHOLE, .sub = jwt_keys},
    {.name = NULL},
};

void ug_cfg_auth_free(ug_auth_config_t *a)
{
    if (a == NULL)
        return;
    ug_auth_config_dispose(a);
    free(a);
}

int ug_cfg_auth(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path)
{
    ug_auth_config_t **out = field;
    char msg[256];
    (void)k;
    ug_auth_config_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return ug_cfg_nomem(eo);
    ug_cfg_auth_free(*out);
    *out = a;
    if (ug_cfg_walk_map(eo, n, auth_keys, a, path, NULL) != 0)
        return -1;
    if (ug_auth_config_validate(a, msg, sizeof(msg)) != 0)
        return ug_cfg_node_errorf(eo, n, "%s: %s", path, msg);
    return 0;
}
