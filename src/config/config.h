/*
 * config.h - uploadgate's configuration: YAML (libyaml) loaded into plain
 * structs, validated as a whole. Errors name the place: "file:line:col: message".
 *
 * Ownership: ug_config_load_* returns a config the caller frees with
 * ug_config_free(); every string in it is owned by the config. A loaded config
 * is immutable and may be shared read-only between threads.
 */
#ifndef UG_CONFIG_CONFIG_H
#define UG_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "common/errors.h"
#include "policy/auth.h"
#include "policy/cors.h"

/* HTTP methods as a bitmask (route `methods:`). */
enum {
    UG_METHOD_GET = 1u << 0,
    UG_METHOD_HEAD = 1u << 1,
    UG_METHOD_POST = 1u << 2,
    UG_METHOD_PUT = 1u << 3,
    UG_METHOD_PATCH = 1u << 4,
    UG_METHOD_DELETE = 1u << 5,
    UG_METHOD_OPTIONS = 1u << 6,
};

/* Bit of a method name (exact, upper-case as on the wire); 0 when unknown. */
unsigned ug_method_bit(const char *name, size_t len);

typedef struct ug_listen {
    char *address;     /* as written, e.g. "0.0.0.0:8080", "[::1]:8080" */
    char *host;        /* "0.0.0.0", "::1" (no brackets) */
    uint16_t port;
    char *tls_certificate; /* NULL: cleartext (HTTP/1.1 + h2c) */
    char *tls_key;
    char *tls_ciphers;     /* tls.ciphers: OpenSSL cipher list for TLS 1.2; NULL = UG_TLS12_CIPHERS (TLS 1.3 keeps OpenSSL's) */
} ug_listen_t;

/* The TLS 1.2 default: forward-secret AEAD suites only (ECDHE key exchange, AES-GCM or ChaCha20-Poly1305); static-RSA
 * and CBC suites (AES128-SHA, AES256-SHA256, ...) are refused at the handshake. */
#define UG_TLS12_CIPHERS                                                                                                      \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

typedef struct ug_limits {
    uint64_t max_body;       /* bytes of request body; default 1 GiB */
    uint64_t max_file;       /* bytes of one stored file; default = max_body */
    uint32_t max_files;      /* default 32 */
    uint32_t max_fields;     /* default 128 */
    uint64_t max_field_size; /* bytes of one non-file field value; default 64 KiB */
} ug_limits_t;

/* A route's `resumable:` block: tus 1.0 resumable uploads (exchange/resumable.c). */
typedef struct ug_resumable_config {
    int enabled;         /* the block is present: the route speaks tus (POST creates, HEAD/PATCH/DELETE /<prefix><id>) */
    uint64_t expires_ms; /* an unfinished upload untouched this long is removed; default 24h */
    uint64_t max_chunk;  /* bytes of one PATCH (or POST) body at most; default the route's max_file */
    int fsync;           /* default 1: an offset is recorded only once its bytes are fdatasync'ed (power-loss safe); 0: written
                          * but not flushed (safe across an uploadgate crash or restart, not a power loss or kernel crash) */
    unsigned protocols;  /* UG_RESUMABLE_TUS | UG_RESUMABLE_IETF bits (`protocols:`); default both */
} ug_resumable_config_t;

/* ug_resumable_config_t.protocols: tus 1.0.0, and the IETF "Resumable Uploads for HTTP" draft (-05). */
#define UG_RESUMABLE_TUS 1u
#define UG_RESUMABLE_IETF 2u

/* Where a route's uploaded files go (route `store:`). */
typedef enum ug_store_kind {
    UG_STORE_LOCAL, /* files under storage.dir (default) */
    UG_STORE_S3,    /* objects in storage.s3's bucket; requires storage.s3 */
} ug_store_kind_t;

typedef struct ug_route {
    char *path;          /* as configured: "/upload" or "/files/ *" (without the space) */
    char *match;         /* what is compared: "/upload" (exact) or "/files/" (prefix) */
    size_t match_len;
    int is_prefix;       /* path ended in "/ *" */
    unsigned methods;    /* UG_METHOD_* bits; default POST|PUT */
    char *forward_to;    /* backend path; NULL = the request's own path and query */
    ug_limits_t limits;
    int keep_on_error;   /* keep stored files when the app answers >= 400 or forwarding fails */
    int pass_through;    /* policy only (CORS, auth): the request is proxied untouched, nothing is stored */
    uint64_t max_pass_body; /* pass_through routes: their own body limit; UG_MAX_PASS_BODY_INHERIT = the top-level one */
    ug_cors_config_t *cors; /* this route's own CORS policy; NULL = the global one */
    ug_auth_config_t *auth; /* bearer authentication; NULL = open */
    ug_resumable_config_t resumable;
    ug_store_kind_t store; /* default UG_STORE_LOCAL; UG_STORE_S3 only with storage.s3, never with resumable */
} ug_route_t;

/* Whether `route` accepts `method` (its `methods:`). */
int ug_route_allows(const ug_route_t *route, const char *method, size_t len);
/* The route's methods as an Allow field value ("POST, PUT"), NUL-terminated in out[len]; UG_ALLOW_VALUE_MAX bytes hold
 * every method (a value that would not fit stops before the first method that does not). */
#define UG_ALLOW_VALUE_MAX 64
void ug_route_allow_value(const ug_route_t *route, char *out, size_t len);

/* ug_route_t.max_pass_body when the route does not set its own. */
#define UG_MAX_PASS_BODY_INHERIT UINT64_MAX

typedef struct ug_backend {
    char *url;           /* as written */
    char *host;          /* "127.0.0.1", a name, or NULL for a unix socket */
    uint16_t port;
    char *unix_path;     /* "/run/app.sock" when url is "unix:/run/app.sock"; else NULL */
    char *authority;     /* value for the Host header sent to the backend, e.g. "127.0.0.1:8000" or "localhost" */
    char *base_path;     /* path prefix from the url ("" when none); prepended to pass-through paths */
    uint64_t timeout_ms; /* connect + each read/write to the backend; default 60s */
    char *signing_key_file; /* HMAC-SHA256 key for X-Uploadgate-Signature on manifests; NULL = unsigned */
    char *health_path;   /* what /readyz asks the app (GET, expects 2xx); NULL = only that it accepts connections */
} ug_backend_t;

/* S3 limits: a multipart upload has parts of 5 MiB..5 GiB (the last may be smaller) and at most 10000 of them. */
#define UG_S3_MIN_PART_SIZE (5ull * 1024 * 1024)
#define UG_S3_MAX_PART_SIZE (5ull * 1024 * 1024 * 1024)
#define UG_S3_MAX_PARTS 10000u

/* storage.s3: an S3-compatible object store for routes with `store: s3`. Every string is owned by the config. */
typedef struct ug_s3_config {
    char *endpoint;          /* "http[s]://host[:port]" as written (a trailing '/' dropped); required */
    int https;               /* the endpoint's scheme is https */
    char *region;            /* SigV4 region; default "us-east-1" */
    char *bucket;            /* required; S3 bucket naming (3..63 of a-z 0-9 . -) */
    char *prefix;            /* prepended to every key: <prefix><upload-id>/<n>; default "" */
    int path_style;          /* default 1: endpoint/bucket/key; 0: bucket.endpoint/key (endpoint must be a host name) */
    char *credentials_file;  /* absolute; NULL = the environment (AWS_ACCESS_KEY_ID, ...) */
    char *ca_file;           /* absolute; https only; NULL = the system's CAs. Verification is always on */
    uint64_t part_size;      /* bytes; default 8 MiB; UG_S3_MIN_PART_SIZE..UG_S3_MAX_PART_SIZE */
    uint32_t parts_in_flight;/* parts of one object sent at once; default 4; 1..64 */
} ug_s3_config_t;

/* The largest object `s3` can hold: part_size x UG_S3_MAX_PARTS. */
uint64_t ug_s3_config_max_object(const ug_s3_config_t *s3);

typedef struct ug_storage_config {
    char *dir;               /* absolute; required */
    char *app_dir;           /* absolute or NULL: the same volume as the app sees it */
    uint64_t min_free;       /* bytes; default 1 GiB; below this uploads get 507 */
    uint64_t spool_threshold;/* bytes; h2o spills buffered bodies to <dir>/.spool above this; default 1 MiB */
    uint64_t retention_ms;   /* janitor: upload directories older than this are removed; 0 = never (default); with s3,
                                also incomplete multipart uploads under the prefix */
    ug_s3_config_t *s3;      /* storage.s3; NULL = none (every route stores locally) */
} ug_storage_config_t;

typedef struct ug_timeouts {
    uint64_t header_ms;    /* default 10s */
    uint64_t body_idle_ms; /* default 30s; also HTTP/2 idle timeout */
    uint64_t keepalive_ms; /* default 60s */
    uint64_t request_ms;   /* default 1h; total deadline of an HTTP/1 request served by h2o's own HTTP/1 code */
    uint64_t body_min_rate;  /* bytes/s a body must average over each body_rate_window (body_rate.h); default 1 KiB; 0 = off */
    uint64_t body_rate_window_ms; /* default 10s */
} ug_timeouts_t;

typedef struct ug_config {
    char *source;          /* file name used in messages */
    ug_listen_t *listen;
    size_t listen_count;   /* >= 1; default one cleartext listener on 127.0.0.1:8080 */
    unsigned threads;      /* 0 = auto (number of online CPUs) */
    ug_backend_t backend;  /* required */
    ug_storage_config_t storage;
    ug_timeouts_t timeouts;
    uint64_t max_header_size; /* bytes of a request head, default 16 KiB (also bounds a part's header block) */
    uint64_t max_connections; /* open client connections, all listeners and threads together; default 10000 */
    uint64_t max_connections_per_client; /* of those, from one client IP address; 0 = no limit; default max_connections / 8 */
    uint64_t max_pass_body;   /* bytes of a body passed through to the app (not an upload); default 1 MiB */
    ug_cors_config_t *cors;   /* global CORS policy; NULL = no CORS headers, preflights are passed through */
    ug_listen_t admin;        /* admin.address: probes and metrics; address NULL = no admin listener (tls fields unused) */
    uint64_t shutdown_grace_ms; /* SIGTERM/SIGINT: how long requests in flight may take to finish; default 25s */
    unsigned log_level;       /* log.level as ug_log_level_t (log.h): 0 debug, 1 info (default), 2 warn, 3 error */
    ug_route_t *routes;
    size_t route_count;
} ug_config_t;

/*
 * Load and validate. On failure returns UG_ERR_CONFIG (or UG_ERR_NOMEM) and
 * writes "file:line:col: message" (NUL-terminated) into errbuf.
 */
ug_err_t ug_config_load_file(const char *path, ug_config_t **out, char *errbuf, size_t errlen);
/* The same from memory; `name` stands for the file name in messages. */
ug_err_t ug_config_load_string(const char *name, const char *yaml, size_t len, ug_config_t **out, char *errbuf, size_t errlen);
void ug_config_free(ug_config_t *c);

/*
 * The route for a request path (bytes up to '?' are compared; the query is
 * ignored). Exact routes win over prefix routes; among prefixes the longest
 * wins. NULL when no route matches (the request is passed through).
 */
const ug_route_t *ug_config_match_route(const ug_config_t *c, const char *path, size_t len);

/*
 * The route a request path matches loosely: as ug_config_match_route, but with
 * ASCII letters compared case-insensitively, each run of '/' taken as one and
 * trailing '/' ignored (so "/files" and "/FILES/x" fall under "/files/ *").
 * Exact routes win over prefix routes, the longest prefix wins. NULL when none.
 */
const ug_route_t *ug_config_match_route_loose(const ug_config_t *c, const char *path, size_t len);

/*
 * The route `path` only resembles: the loose match (above) when it differs
 * from the exact one, NULL when both agree. A request that resembles a route
 * is refused: a backend that folds case or ignores slashes would serve it as
 * that route without that route's policy having been applied.
 */
const ug_route_t *ug_config_resembled_route(const ug_config_t *c, const char *path, size_t len);

/* The 400 message for a path that resembles `like` (NUL-terminated, truncated to `len`). */
#define UG_ROUTE_MESSAGE_MAX 400
void ug_config_resemblance_message(const ug_route_t *like, char *buf, size_t len);

/* The largest max_body over all routes (0 without routes). */
uint64_t ug_config_largest_max_body(const ug_config_t *c);

/* The body limit of a request passed through to the app on `route` (may be NULL: no route matched, or an upload
 * route's method that is not offloaded): a pass_through route's own max_pass_body, else the top-level one. */
uint64_t ug_config_pass_limit(const ug_config_t *c, const ug_route_t *route);

/* The CORS policy that applies to a request on `route` (may be NULL): the route's own, else the global; NULL = none. */
const ug_cors_config_t *ug_config_cors_for(const ug_config_t *c, const ug_route_t *route);

/* Parse "64KiB", "2GiB", "1MB", "512" into bytes; "10s", "500ms", "1m", "24h" into ms. 0 on success, -1 on error. */
int ug_parse_size(const char *s, size_t len, uint64_t *out);
int ug_parse_duration(const char *s, size_t len, uint64_t *out_ms);

#endif
