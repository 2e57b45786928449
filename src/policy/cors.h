/*
 * cors.h - the CORS policy (Fetch standard, "CORS protocol", section 3.2):
 * which origins may read uploadgate's responses, the answer to a CORS
 * preflight, and the headers added to actual responses.
 *
 * Pure: no h2o, no I/O. The per-request functions neither allocate nor write
 * anything but the caller's ug_cors_headers_t; a finalized config is
 * immutable and may be shared read-only between threads.
 *
 * Life of a config: the loader fills the lists and scalars below, calls
 * ug_cors_config_check() (and reports its message prefixed by file:line:col),
 * then ug_cors_config_finalize() once, which renders the header values so that
 * requests do not format anything. ug_cors_config_dispose() releases what
 * finalize rendered; the lists stay owned by whoever filled them.
 *
 * Decisions the standards leave open (each is tested in test_cors.c):
 *  - Origins are compared as RFC 6454 tuples: scheme and host
 *    case-insensitively, ports by number, and an absent port is the scheme's
 *    default (http 80, https 443), so "https://a.com" == "https://a.com:443".
 *    Other schemes have no default port. IPv6 literals compare as addresses.
 *  - An Origin that is not a serialized origin (user info, path, query,
 *    fragment, trailing slash, trailing dot, a port with leading zeros, several
 *    origins, spaces or non-ASCII bytes) never matches, nor does "null" (opaque
 *    origins: sandboxed iframes, file: URLs, cross-origin redirects all send
 *    it), not even under "*". Configs may not list "null".
 *  - "*" when allow_credentials is on matches nothing (the config check refuses
 *    the combination; should a config skip the check, fail closed rather than
 *    reflect every origin with credentials).
 *  - A wildcard host "*.suffix" (after "scheme://", optionally with ":port")
 *    needs a suffix of two or more labels whose last label is not numeric;
 *    "localhost" is the one single-label suffix accepted (RFC 6761:
 *    *.localhost is loopback). Public suffixes such as "*.co.uk" cannot be
 *    told apart without the PSL: do not write them.
 *  - Preflight methods are compared byte-exactly (Fetch: methods are
 *    case-sensitive; browsers upper-case only the standard ones). An empty
 *    allow_methods means the CORS-safelisted methods GET, HEAD, POST.
 *  - Every name in Access-Control-Request-Headers must be listed, safelisted or
 *    not: browsers leave out safelisted headers whose values are safelisted
 *    (Accept, Accept-Language, Content-Language, Content-Type of
 *    multipart/form-data, application/x-www-form-urlencoded or text/plain), so
 *    a name they do send - e.g. content-type for application/json - carries an
 *    unsafe value and needs allow_headers. "*" is not supported in
 *    allow_methods / allow_headers / expose_headers.
 *  - Every response of a CORS-configured route, refused preflights included,
 *    carries Vary (Fetch 3.2.5: a response that depends on Origin must say so
 *    to caches); Vary is the only header a refused preflight gets.
 */
#ifndef UG_POLICY_CORS_H
#define UG_POLICY_CORS_H

#include "common/errors.h"
#include <stddef.h>
#include <stdint.h>

typedef struct ug_cors_config {
    /* As configured. The strings are NUL-terminated and owned by whoever filled them (the config loader). */
    char **allow_origins; /* "https://a.com", "http://[::1]:9000", "*", or a host "*.a.org" after the scheme */
    size_t n_origins;
    char **allow_methods; /* "GET", "PUT"; none = GET, HEAD, POST */
    size_t n_methods;
    char **allow_headers; /* request header names, any case */
    size_t n_headers;
    char **expose_headers; /* response header names */
    size_t n_expose;
    int allow_credentials;
    int max_age_set; /* 0: no Access-Control-Max-Age (browsers default to 5 s) */
    uint64_t max_age_s;

    /* Rendered by ug_cors_config_finalize(), owned by this struct, released by ug_cors_config_dispose(). */
    struct {
        int ready;
        int any_origin;      /* "*" listed */
        char *allow_methods; /* "GET, POST, PUT" */
        size_t allow_methods_len;
        char *allow_headers; /* NULL when none listed */
        size_t allow_headers_len;
        char *expose_headers; /* NULL when none listed */
        size_t expose_headers_len;
        char max_age[24];
        size_t max_age_len;
    } rendered;
} ug_cors_config_t;

/* Which config entry a check message is about, so the loader can name its file:line:col. */
typedef enum ug_cors_field {
    UG_CORS_FIELD_NONE = 0,
    UG_CORS_FIELD_ALLOW_ORIGINS,
    UG_CORS_FIELD_ALLOW_METHODS,
    UG_CORS_FIELD_ALLOW_HEADERS,
    UG_CORS_FIELD_EXPOSE_HEADERS,
} ug_cors_field_t;

#define UG_CORS_WHOLE_LIST ((size_t)-1)

typedef struct ug_cors_where {
    ug_cors_field_t field;
    size_t index; /* entry of that list, or UG_CORS_WHOLE_LIST */
} ug_cors_where_t;

/* Enough for every message ug_cors_config_check() writes (entries are quoted and cut at 80 bytes). */
#define UG_CORS_MSG_SIZE 320

/*
 * Validate a config. NULL when fine; otherwise writes a message starting with
 * "cors: " into buf (NUL-terminated, cut to buflen) and returns buf. `where`
 * (may be NULL) receives the offending entry.
 */
const char *ug_cors_config_check(const ug_cors_config_t *c, char *buf, size_t buflen, ug_cors_where_t *where);

/*
 * Render the header values, after the check. UG_OK, or UG_ERR_NOMEM (then
 * nothing is kept). `rendered` must start zeroed (a zero-initialized struct);
 * calling it again re-renders.
 */
ug_err_t ug_cors_config_finalize(ug_cors_config_t *c);

/* Free what finalize rendered; the lists are untouched. Safe on a config never finalized (zeroed). */
void ug_cors_config_dispose(ug_cors_config_t *c);

/*
 * Whether the Origin field value origin[0..len) may read responses (NULL = no
 * Origin field: 0). Works on a config that was not finalized. If a request
 * carries several Origin fields, treat that as malformed (pass len 0).
 */
int ug_cors_origin_allowed(const ug_cors_config_t *c, const char *origin, size_t len);

/* Headers to add to a response. Names are lower-case (as h2o's tokens are). */
typedef struct ug_cors_header {
    const char *name;
    size_t name_len;
    const char *value; /* points into the config's rendered values, a static string, or the request's Origin */
    size_t value_len;
} ug_cors_header_t;

/* Whether a response field is one CORS owns (Access-Control-*, any case): where uploadgate answers CORS for a route,
 * the app's own such fields would contradict uploadgate's and are dropped from every response but a preflight's. */
int ug_cors_is_own_field(const char *name, size_t len);

#define UG_CORS_MAX_HEADERS 8

typedef struct ug_cors_headers {
    ug_cors_header_t h[UG_CORS_MAX_HEADERS];
    size_t n;
} ug_cors_headers_t;

/* What the request head says; a NULL pointer means the field is absent. */
typedef struct ug_cors_request {
    const char *method;
    size_t method_len;
    const char *origin;
    size_t origin_len;
    const char *acr_method; /* Access-Control-Request-Method */
    size_t acr_method_len;
    const char *acr_headers; /* Access-Control-Request-Headers; several fields joined with "," (RFC 9110 5.3) */
    size_t acr_headers_len;
} ug_cors_request_t;

typedef enum ug_cors_preflight {
    UG_CORS_NOT_PREFLIGHT = 0, /* not OPTIONS + Origin + Access-Control-Request-Method: an actual request */
    UG_CORS_PREFLIGHT_OK,      /* answer 204 with *out */
    UG_CORS_PREFLIGHT_REFUSED, /* answer 403 with *out (Vary only, no Access-Control-*) */
} ug_cors_preflight_t;

/*
 * Decide a preflight. On OK, *out holds Access-Control-Allow-Origin,
 * -Allow-Credentials (when on), -Allow-Methods, -Allow-Headers (when any are
 * listed), -Max-Age (when set) and Vary. A config that was not finalized
 * refuses every preflight. On NOT_PREFLIGHT, out->n is 0.
 */
ug_cors_preflight_t ug_cors_preflight(const ug_cors_config_t *c, const ug_cors_request_t *req, ug_cors_headers_t *out);

/*
 * Headers for an actual response (relayed from the app or uploadgate's own):
 * Access-Control-Allow-Origin, -Allow-Credentials (when on), -Expose-Headers
 * (when any are listed) and Vary: Origin when the origin is allowed; Vary:
 * Origin alone otherwise (no Origin, disallowed origin, config not finalized).
 * The caller merges Vary with one the app may have sent.
 */
void ug_cors_actual(const ug_cors_config_t *c, const char *origin, size_t origin_len, ug_cors_headers_t *out);

/* Room for an Access-Control-Expose-Headers value that ug_cors_actual_exposing builds. */
#define UG_CORS_EXPOSE_MAX 4096
/*
 * ug_cors_actual, exposing `extra` (a comma-separated list of field names; NULL for none) besides the configured
 * expose_headers, when the origin is allowed: the joined value is written into buf (buflen bytes), which *out then
 * points into. A list that would not fit keeps the configured value alone.
 */
void ug_cors_actual_exposing(const ug_cors_config_t *c, const char *origin, size_t origin_len, const char *extra, char *buf,
                             size_t buflen, ug_cors_headers_t *out);

#endif
