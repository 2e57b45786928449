/*
 * config_internal.h - shared by the pieces of the config loader only; the
 * program-wide contract is config.h.
 *
 *   config_yaml.c    YAML text -> a small node tree with positions, error helpers
 *   config_walk.c    table-driven walk over mappings, generic value handlers
 *   config_values.c  grammars: sizes, durations, methods, addresses, URLs
 *   config.c         the schema (key tables), defaults, public API
 *
 * The YAML text is first turned into a tree of nodes that remember where they
 * were written (1-based line and column), so that validation can point at the
 * offending node long after libyaml's events are gone.
 */
#ifndef UG_CONFIG_CONFIG_INTERNAL_H
#define UG_CONFIG_CONFIG_INTERNAL_H

#include "common/errors.h"
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ug_ynode_type {
    UG_YNODE_SCALAR,
    UG_YNODE_SEQUENCE,
    UG_YNODE_MAPPING,
} ug_ynode_type_t;

typedef struct ug_ynode {
    ug_ynode_type_t type;
    unsigned line, col; /* 1-based, of the node's first character */
    /* scalar */
    char *value; /* NUL-terminated copy; may also contain NULs ("\0" escape) */
    size_t len;
    int plain; /* unquoted: only plain scalars can be null */
    /* sequence: items[0..count); mapping: key, value, key, value, ... (count is even) */
    struct ug_ynode **items;
    size_t count;
} ug_ynode_t;

/* Where messages go: "source:line:col: message" into buf. */
typedef struct ug_cfg_errout {
    const char *source;
    char *buf;
    size_t len;
    ug_err_t err; /* UG_ERR_CONFIG or UG_ERR_NOMEM once an error was written */
} ug_cfg_errout_t;

/*
 * Parse one YAML document into a tree. Anchors and aliases are rejected, and
 * so is more than one document. An empty stream, or a document that is only
 * null, yields *root == NULL and 0. Returns -1 after writing an error.
 */
int ug_yaml_parse(const char *yaml, size_t len, ug_ynode_t **root, ug_cfg_errout_t *eo);
void ug_ynode_free(ug_ynode_t *n);

/* A plain scalar "", "~", "null", "Null" or "NULL" (YAML's null). */
int ug_ynode_is_null(const ug_ynode_t *n);

/* Write "source:line:col: <fmt>" and set eo->err = UG_ERR_CONFIG. Always returns -1. */
int ug_cfg_errorf(ug_cfg_errout_t *eo, unsigned line, unsigned col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same pointing at a node. */
int ug_cfg_node_errorf(ug_cfg_errout_t *eo, const ug_ynode_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "source: out of memory", eo->err = UG_ERR_NOMEM. Always returns -1. */
int ug_cfg_nomem(ug_cfg_errout_t *eo);

/*
 * Quote a value for a message: "..." with non-printable bytes as \xNN, cut to
 * about 60 bytes with "..." so a stray binary blob cannot flood the log.
 */
const char *ug_cfg_quote(const char *s, size_t len, char *buf, size_t buflen);

#define Q(n, qbuf) ug_cfg_quote((n)->value, (n)->len, qbuf, sizeof(qbuf))

#define KiB (1024ull)
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

/* ---- config_walk.c ---------------------------------------------------------------------------------- */

/* Upper bound of keys in one table: ug_cfg_walk_map() remembers the node of each. */
#define UG_CFG_MAX_KEYS 32

typedef struct ug_cfg_key ug_cfg_key;
/*
 * Parse node `n` (never null) into `field` (the struct the table describes
 * plus the key's offset); `path` names the value in messages
 * ("routes[0].methods"). 0, or -1 after writing an error.
 */
typedef int (*ug_cfg_handler)(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path);

struct ug_cfg_key {
    const char *name;
    ug_cfg_handler parse;
    size_t offset;         /* of the field in the struct the table describes */
    uint64_t min, max;     /* range of numbers, sizes and durations */
    const ug_cfg_key *sub; /* keys of a nested mapping (ug_cfg_map) */
    int required;
};

/* Table entry helpers: AT() is the field the value lands in; WHOLE hands the handler the whole struct. */
#define AT(type, field) .offset = offsetof(type, field)
#define WHOLE .offset = 0
#define RANGE(lo, hi) .min = (lo), .max = (hi)
#define REQUIRED .required = 1

/*
 * Apply `keys` (terminated by a NULL name) to mapping `n`, filling `base`.
 * Every key must be known and appear once; a null value counts as absent,
 * except that a required key cannot be null. `seen`, when not NULL, is an
 * array of UG_CFG_MAX_KEYS that gets the value node of each key by table index.
 */
int ug_cfg_walk_map(ug_cfg_errout_t *eo, const ug_ynode_t *n, const ug_cfg_key *keys, void *base, const char *path,
                    const ug_ynode_t **seen);
/* The value node ug_cfg_walk_map() saw for key `name`, or NULL. */
const ug_ynode_t *ug_cfg_seen(const ug_cfg_key *keys, const ug_ynode_t **seen, const char *name);

/* Generic handlers. string: char *, non-empty, no control characters; abs_path: the same, absolute,
 * trailing slashes dropped; size/duration: uint64_t in [min, max]; u32: uint32_t in [min, max];
 * bool: int; map: nested table k->sub on the field. */
int ug_cfg_string(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path);
int ug_cfg_abs_path(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path);
int ug_cfg_size(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path);
int ug_cfg_duration(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path);
int ug_cfg_u32(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path);
int ug_cfg_bool(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path);
int ug_cfg_map(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path);

/* "expected a mapping for backend, got a sequence" unless `n` has `type` (a null only passes as a scalar). */
int ug_cfg_expect(ug_cfg_errout_t *eo, const ug_ynode_t *n, ug_ynode_type_t type, const char *path);
/* "path.name" (or "name" at the top level) into buf. */
const char *ug_cfg_join(char *buf, size_t len, const char *path, const char *name);
/* The value node of key `name` in mapping `map`, or NULL. */
const ug_ynode_t *ug_cfg_map_get(const ug_ynode_t *map, const char *name);

/* ---- config_policy.c: the cors: and auth: blocks (handlers allocate the struct into a pointer field) ---- */

typedef struct ug_cors_config ug_cors_config_t;
typedef struct ug_auth_config ug_auth_config_t;
int ug_cfg_cors(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path);
int ug_cfg_auth(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path);
void ug_cfg_cors_free(ug_cors_config_t *c);
void ug_cfg_auth_free(ug_auth_config_t *a);

/* ---- config_s3.c: the storage.s3 block (allocated into a ug_s3_config_t * field) and a route's store: key ---- */

typedef struct ug_s3_config ug_s3_config_t;
int ug_cfg_s3(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path);
int ug_cfg_route_store(ug_cfg_errout_t *eo, const ug_ynode_t *n, void *field, const ug_cfg_key *k, const char *path);
void ug_cfg_s3_free(ug_s3_config_t *s3);
typedef struct ug_config ug_config_t;
/* Routes with store: s3 against the whole configuration (storage.s3 present, not resumable nor pass_through). */
int ug_cfg_check_route_stores(ug_cfg_errout_t *eo, const ug_ynode_t *root, const ug_config_t *c);

/* ---- config_values.c -------------------------------------------------------------------------------- */

/* The shape checks of addresses and URLs, without allocation. */
typedef struct ug_hostport {
    const char *host; /* points into the input, without brackets */
    size_t host_len;
    int is_ipv6; /* was written in brackets */
    uint16_t port;
} ug_hostport_t;

/*
 * "host:port", "[v6]:port", "*:port" (host "0.0.0.0") for a listener: the host
 * must be an IP literal. Returns NULL or the reason it is invalid.
 */
const char *ug_cfg_parse_listen_address(const char *s, size_t len, ug_hostport_t *hp);

typedef struct ug_url_parts {
    ug_hostport_t hp;      /* http: host and port (default 80) */
    const char *unix_path; /* unix: the absolute socket path; NULL for http */
    size_t unix_path_len;
    const char *base; /* http: path without trailing slashes; len 0 when none */
    size_t base_len;
} ug_url_parts_t;

/* "http://host[:port][/base]" or "unix:/path.sock". Returns NULL or the reason it is invalid. */
const char *ug_cfg_parse_backend_url(const char *s, size_t len, ug_url_parts_t *u);

/* An object store endpoint: "http[s]://host[:port]" with at most a trailing '/', no path, user or query. *https
 * says which scheme. Returns NULL or the reason it is invalid. */
const char *ug_cfg_parse_store_endpoint(const char *s, size_t len, ug_hostport_t *hp, int *https);

/* "1GiB", "500ms" renderings of a number for range messages. */
void ug_cfg_format_size(uint64_t v, char *buf, size_t len);
void ug_cfg_format_duration(uint64_t ms, char *buf, size_t len);

#endif
