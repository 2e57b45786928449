/*
 * forward_head.h - the HTTP/1.1 request head uploadgate sends to the app in
 * place of an upload, and the header filters for both directions (RFC 9110
 * 7.6.1: hop-by-hop fields, and those listed in Connection, are not forwarded).
 * Pure functions over byte ranges: no h2o, no I/O.
 */
#ifndef UG_HTTP_FORWARD_HEAD_H
#define UG_HTTP_FORWARD_HEAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct ug_header {
    const char *name; /* any case */
    size_t name_len;
    const char *value;
    size_t value_len;
} ug_header_t;

/*
 * Whether a client's field name is the field `lc` (lower-case, spelt with '-') for every decision to drop or strip
 * a field: case-insensitive, and '_' in `name` counts as '-'. WSGI/CGI servers turn both "X-Auth-Subject" and
 * "X_Auth_Subject" into HTTP_X_AUTH_SUBJECT, so a field uploadgate reserves, writes or strips must be recognised in
 * either spelling. Only drop decisions use it: an underscore spelling is never taken for the field itself (not as
 * the request id, not merged into X-Forwarded-For), it is dropped.
 */
int ug_header_name_is(const char *name, size_t len, const char *lc);
/* The same comparison for a prefix ("x-uploadgate-"). */
int ug_header_name_has_prefix(const char *name, size_t len, const char *lc);

/* Hop-by-hop fields: Connection, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade, HTTP2-Settings (in
 * either spelling, ug_header_name_is). */
int ug_header_is_hop_by_hop(const char *name, size_t len);

/* Whether `name` is one of the tokens of a Connection field among all[0..n) (RFC 9110 7.6.1), compared as
 * ug_header_name_is does. */
int ug_header_listed_in_connection(const char *name, size_t len, const ug_header_t *all, size_t n);

/*
 * Whether a client request header must not reach the app with the manifest:
 * hop-by-hop fields, fields named in the request's Connection header(s), the
 * body's own fields (Content-Length, Content-Type, Content-Encoding, Expect),
 * Host, the X-Forwarded-* set uploadgate writes itself, X-Request-Id (written too) and X-Uploadgate-*; every name
 * compared as ug_header_name_is does.
 */
int ug_header_drop_for_app(const char *name, size_t len, const ug_header_t *all, size_t n);

/*
 * Whether a client request header must not reach the app on a pass-through request (h2o's reverse proxy): hop-by-hop
 * fields and those named in Connection in any spelling, and the underscore spelling of every other name
 * ug_header_drop_for_app drops. The exact spellings of those others are the pipeline's: the proxy frames the body,
 * sets Host, merges X-Forwarded-For and replaces X-Forwarded-Proto. The caller strips the reserved names
 * (ug_gate_is_reserved_header) as well, before it adds the X-Auth-* fields of its own.
 */
int ug_header_drop_for_pass(const char *name, size_t len, const ug_header_t *all, size_t n);

/* Whether an app response header must not be relayed to the client: hop-by-hop fields, and Content-Length, Date and
 * Server, which uploadgate writes itself (Date may appear only once, RFC 9110 6.6.1); h2o's reverse proxy drops the
 * same from the responses it passes through, so an answer reads alike on every path. */
int ug_header_drop_for_client(const char *name, size_t len);

typedef struct ug_forward_meta {
    const char *method;
    size_t method_len;
    const char *target; /* path and query sent to the app */
    size_t target_len;
    const char *backend_authority; /* Host header for the app */
    const char *client_address;    /* appended to X-Forwarded-For */
    const char *scheme;            /* X-Forwarded-Proto: "http" / "https" */
    const char *client_host;       /* X-Forwarded-Host: the authority the client asked for (may be NULL) */
    size_t client_host_len;
    const char *request_id; /* X-Request-Id */
    size_t request_id_len;
    uint64_t content_length; /* of the manifest */
    const char *signature;   /* X-Uploadgate-Signature value, or NULL when manifests are not signed */
    const ug_header_t *own;  /* fields uploadgate adds for the app (X-Auth-*): names NUL-terminated, never filtered */
    size_t num_own;
} ug_forward_meta_t;

/*
 * Render "METHOD target HTTP/1.1\r\n" + headers + "\r\n". Client headers are
 * copied in order unless ug_header_drop_for_app() says no; X-Forwarded-For
 * values already present are kept and the client address appended.
 * Returns a malloc'd buffer (caller frees) and its length; NULL when out of memory.
 */
char *ug_forward_head_build(const ug_forward_meta_t *m, const ug_header_t *headers, size_t n, size_t *len);

/*
 * A client-supplied X-Request-Id is kept only when it is 1..200 visible ASCII
 * characters; anything else is replaced by a generated id.
 */
#define UG_REQUEST_ID_MAX 200 /* longest client X-Request-Id passed on */
int ug_request_id_is_acceptable(const char *v, size_t len);

#endif
