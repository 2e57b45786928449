/*
 * exchange/head.h - the HTTP/1.1 front's decisions about a parsed request head:
 * how its body is framed (RFC 9112 6), whether the connection persists
 * (RFC 9112 9.3), whether the front refuses it outright, serves it itself, or
 * runs h2o's request pipeline for it. Pure: no h2o, no I/O; byte ranges are
 * (pointer, length) and point into the caller's head buffer.
 *
 * The front takes only what it can serve exactly as h2o's buffered path would
 * (handler.c): requests of an upload route, with an upload method or as a CORS
 * preflight, the route matched on the path as h2o normalises it (an "Upgrade:
 * h2c" on such a request is ignored). Everything else - other routes,
 * pass-through routes - runs h2o's pipeline on the front's connection (after
 * switching to the HTTP/2 front when it asks for h2c: ug_head_h2c_upgrade);
 * heads no one should serve get ug_head_refusal's answer first.
 */
#ifndef UG_EXCHANGE_HEAD_H
#define UG_EXCHANGE_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "common/errors.h"
#include "http/forward_head.h"
#include "exchange/gate.h"

typedef enum ug_head_framing {
    UG_HEAD_BODY_NONE = 0,       /* neither Content-Length nor Transfer-Encoding: no body (RFC 9112 6.3 item 7) */
    UG_HEAD_BODY_CONTENT_LENGTH, /* content_length bytes follow the head */
    UG_HEAD_BODY_CHUNKED,        /* Transfer-Encoding: chunked */
    UG_HEAD_BODY_STREAM,         /* HTTP/2 without content-length: DATA frames until END_STREAM (set by front/h2.c) */
} ug_head_framing_t;

typedef struct ug_head {
    /* Filled by the caller from the parser. Header names may be any case. */
    const char *method;
    size_t method_len;
    const char *target; /* request-target as sent; ug_head_scan turns an absolute-form one into its path */
    size_t target_len;
    int minor_version; /* HTTP/1.<minor> */
    const ug_header_t *headers;
    size_t num_headers;

    /* Filled by ug_head_scan(). */
    ug_head_framing_t framing;
    uint64_t content_length;   /* BODY_CONTENT_LENGTH only */
    const char *framing_error; /* static message when the framing is invalid (then the request gets 400), else NULL */
    int keep_alive;            /* the client allows the connection to persist after this exchange */
    int expect_continue;       /* Expect: 100-continue */
    int expect_other;          /* any other Expect value */
    int malformed;             /* obs-fold, empty field name, ...: left to h2o */
    const char *host;          /* the Host field value (first one), NULL when absent; an absolute-form target's authority */
    size_t host_len;
    unsigned host_count;       /* Host fields */
    const char *host_error;    /* static message when a Host field (or the authority standing for it) is not
                                  ug_head_host_is_valid, else NULL */
    const char *target_error;  /* static message when the target is refused (ug_head_target_check, or a bad absolute URI), else NULL */
    const char *content_type; /* first Content-Type, NULL when absent */
    size_t content_type_len;
} ug_head_t;

/* Read the framing, persistence and special fields of a head (see the fields above). */
void ug_head_scan(ug_head_t *h);

/*
 * RFC 9112 3.2.2: an absolute-form target ("http://host:port/path?query", any
 * case of http or https) is served as its path, and its authority stands for
 * the Host field. Returns 1 and stores both (pointing into `target`; the path
 * "/" when the URI has none) for such a target, 0 for any other (origin-form
 * included), -1 for an http(s) URI that is not acceptable (no authority, user
 * info, a query without a path).
 */
int ug_head_absolute_target(const char *target, size_t len, const char **path, size_t *path_len, const char **authority,
                             size_t *authority_len);

/*
 * What is wrong with a request target (origin-form: path and query), if anything. A path that passes is routed on
 * h2o's normalised form (h2o_url_normalize_path) and forwarded as sent: once dot segments and encoded '/', '.', '\'
 * are refused, the two differ only in percent-encoded unreserved characters, which every backend decodes alike. A
 * path that fails could be routed on one path and served by the app as another (a dot segment resolved by one side
 * only, an encoded separator decoded by one side only, a backslash taken as '/'), so it is refused with 400.
 */
typedef enum ug_head_target_problem {
    UG_HEAD_TARGET_OK = 0,
    UG_HEAD_TARGET_NOT_A_PATH,        /* does not start with '/': "*", authority-form, empty */
    UG_HEAD_TARGET_FRAGMENT,          /* '#' anywhere: never sent in a request (RFC 9112 3.2) */
    UG_HEAD_TARGET_DOT_SEGMENT,       /* "." or ".." as a whole path segment (encoded dots are UG_HEAD_TARGET_ENCODED_DELIMITER) */
    UG_HEAD_TARGET_ENCODED_DELIMITER, /* %2F, %2E or %5C (any case) in the path */
    UG_HEAD_TARGET_BACKSLASH,         /* a raw '\' in the path */
    UG_HEAD_TARGET_NUL,               /* %00 (or a raw NUL) in the path */
} ug_head_target_problem_t;

/* Check a target; the query (from the first '?') is only searched for '#'. */
ug_head_target_problem_t ug_head_target_check(const char *target, size_t len);
/* The 400 message for a problem (static), NULL for UG_HEAD_TARGET_OK. */
const char *ug_head_target_message(ug_head_target_problem_t p);

/*
 * Whether a Host field value, an absolute-form target's authority or an HTTP/2 :authority is RFC 3986
 * `host [ ":" port ]` (RFC 9110 7.2, without userinfo): host a non-empty reg-name (unreserved, pct-encoded and
 * sub-delims: an IPv4 address is one), or an IP-literal in brackets (an IPv6 address inet_pton reads, or
 * IPvFuture); port, when the ':' is there, 1 to 5 digits up to 65535. The app builds URLs from it: "a b",
 * "evil@good", "" or "host:x" must never reach it.
 */
int ug_head_host_is_valid(const char *v, size_t len);

typedef enum ug_head_verdict {
    UG_HEAD_PIPELINE = 0, /* h2o's request pipeline serves it, on the front's connection or stream */
    UG_HEAD_TAKE,         /* the front serves it: an upload, or a CORS preflight, of *route */
    UG_HEAD_REFUSE,       /* 400 bad_request, whoever would serve it: h->target_error, or the path resembles *route */
} ug_head_verdict_t;

/*
 * Decide who serves a scanned head. On UG_HEAD_TAKE *route is the matched
 * upload route; the caller still answers 400 when h->framing_error is set.
 * Routes are matched on the target's path when h2o would take it as sent
 * (ug_head_path_is_plain), else on `normalized`: the path h2o routes such a
 * target on (h2o_url_normalize_path, without the query), as handler.c does.
 * A head with neither goes to h2o's pipeline. A head whose target is refused
 * (h->target_error; *route NULL), or whose path only resembles a route
 * (ug_config_resembled_route; *route is that route), is UG_HEAD_REFUSE.
 */
ug_head_verdict_t ug_head_classify(const ug_config_t *config, const ug_head_t *h, const char *normalized,
                                     size_t normalized_len, const ug_route_t **route);

/*
 * Whether the front refuses a head outright, whoever would serve it: several
 * Host fields, or none in HTTP/1.1 (RFC 9112 3.2), an invalid Host (ug_head_host_is_valid), obsolete line folding
 * (5.2), invalid body framing (6.1-6.3: ambiguous framing is how requests are
 * smuggled past a proxy), a target that is neither a path nor an absolute
 * http(s) URI (CONNECT's authority-form, OPTIONS *: uploadgate is no forward
 * proxy, and h2o would pass them to the app as odd paths) or that breaks the
 * path rules (ug_head_target_check), an expectation other
 * than 100-continue (RFC 9110 10.1.1: 417). Returns the error (*message:
 * static, says which) or UG_OK.
 * The answer closes the connection: where the body ends is not known.
 */
ug_err_t ug_head_refusal(const ug_head_t *h, const char **message);

/*
 * Whether a head for h2o's pipeline asks to switch to h2c in a way the front honours
 * (RFC 7540 3.2; gone from RFC 9113, but curl --http2 and h2o 2.2.5 still
 * speak it): HTTP/1.1, Upgrade naming h2c, Connection naming Upgrade and
 * HTTP2-Settings, exactly one HTTP2-Settings field, whose value (base64url
 * SETTINGS payload) is stored in *settings. Any other upgrade request is
 * served as HTTP/1.1 with the upgrade ignored (RFC 9110 7.8), as are uploads
 * (ug_head_classify), whose bodies the front streams. TLS connections never
 * upgrade: the caller checks that.
 */
int ug_head_h2c_upgrade(const ug_head_t *h, const char **settings, size_t *settings_len);

/*
 * Whether h2o would match routes on this path as sent: it starts with '/' and
 * has no '%' and no "/." before the query (h2o 2.2.5 h2o_url_normalize_path
 * rewrites exactly those). The length of the path without its query is
 * stored in *path_len.
 */
int ug_head_path_is_plain(const char *target, size_t len, size_t *path_len);

/* Whether the token list `list` (e.g. a Connection value) contains `token`, case-insensitively (RFC 9110 5.6.1). */
int ug_head_has_token(const char *list, size_t len, const char *token);

/* The first field named `name` (lower-case) in h, NULL when absent; *count receives how many there are (may be NULL). */
const ug_header_t *ug_head_find(const ug_head_t *h, const char *name, unsigned *count);

/*
 * The gate's inputs from a head's fields (names lower-case), pointing into them. Several Access-Control-Request-Headers
 * fields form one list (RFC 9110 5.3): they are joined with "," into *joined (malloc'd, the caller frees it once the
 * gate's decision is no longer used), which g->acr_headers then points to; *joined is NULL when there is one field or
 * none, or when out of memory (then the first field stands for them all).
 */
void ug_head_gate_request(const ug_head_t *h, ug_gate_request_t *g, char **joined);

#endif
