/*
 * auth.h - bearer-token authentication of a route (RFC 6750): static tokens
 * from a file and an environment variable, and JWTs (jwt.h). A token passes
 * when any configured method accepts it. No h2o; file I/O only to load the
 * tokens and keys.
 *
 * Thread safety: the ug_auth_config_t is immutable once loaded and shared by
 * every worker thread. Each thread creates its own ug_auth_checker_t from it
 * (ug_auth_checker_new); a checker owns the tokens and keys it loaded, reloads
 * them itself when the files change, and must only be used by one thread at a
 * time. No locks, no shared mutable state; the price is one copy of the keys
 * and one stat() per file per second per thread.
 */
#ifndef UG_POLICY_AUTH_H
#define UG_POLICY_AUTH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errors.h"
#include "policy/jwt.h"

/*
 * A route's `auth:` block. Filled by the config loader; every string and
 * array belongs to the config and is released by ug_auth_config_dispose().
 * NULL / 0 means "not configured".
 */
typedef struct ug_auth_config {
    char *tokens_file;         /* one token per line; '#' comments; re-read when it changes */
    char *tokens_env;          /* name of an environment variable: comma-separated tokens, read at checker creation */
    ug_jwt_policy_t jwt;       /* jwt.algorithms == 0: JWTs are not accepted */
    char *jwt_secret_file;     /* HS* secret: the file's bytes minus trailing CR/LF */
    char *jwt_public_key_file; /* PEM public key or certificate (RS*, PS256, ES*, EdDSA) */
    char *jwt_jwks_file;       /* JWK Set; keys chosen by kid */
} ug_auth_config_t;

/* Free the members of `cfg` (not `cfg` itself) and zero it. */
void ug_auth_config_dispose(ug_auth_config_t *cfg);

/*
 * Consistency of a config without touching the files: at least one method;
 * HS* allowed exactly when a secret_file is given; the other algorithms
 * exactly when a public_key_file or jwks_file is; issuer / audience / scopes
 * only with JWTs; scopes non-empty and free of spaces, quotes, backslashes and
 * control characters. Returns 0, or -1 with a message in err.
 */
int ug_auth_config_validate(const ug_auth_config_t *cfg, char *err, size_t errlen);

/* ---- outcome ---- */

typedef enum ug_auth_status {
    UG_AUTH_OK = 0,
    UG_AUTH_MISSING,            /* no Authorization header, or another scheme: 401, challenge without error (RFC 6750 3.1) */
    UG_AUTH_INVALID_REQUEST,    /* malformed Bearer credentials: 400 invalid_request */
    UG_AUTH_INVALID_TOKEN,      /* unknown, forged, expired, malformed token: 401 invalid_token */
    UG_AUTH_INSUFFICIENT_SCOPE, /* genuine token without a required scope: 403 insufficient_scope */
    UG_AUTH_INTERNAL,           /* OpenSSL / memory failure: 500 */
} ug_auth_status_t;

typedef enum ug_auth_method {
    UG_AUTH_METHOD_NONE = 0,
    UG_AUTH_METHOD_TOKEN, /* a static token */
    UG_AUTH_METHOD_JWT,
} ug_auth_method_t;

#define UG_AUTH_DESCRIPTION_MAX 128

/*
 * Start from a zeroed struct (or one passed to ug_auth_result_clear());
 * ug_auth_check() fills it and the caller releases it with
 * ug_auth_result_clear(). All pointers are owned by the result.
 */
typedef struct ug_auth_result {
    ug_auth_status_t status;
    ug_auth_method_t method;
    /* Why it failed, for error_description and logs; "" on success. Printable ASCII without '"' or '\'. */
    char error_description[UG_AUTH_DESCRIPTION_MAX];
    /* OK (and INSUFFICIENT_SCOPE, for logging): a JWT's "sub" (NULL when absent), or for a static
     * token "token:" + the first 8 hex digits of its SHA-256, an identifier that does not reveal it. */
    char *subject;
    json_t *scopes; /* OK: array of strings, empty for static tokens */
    json_t *claims; /* OK: object of selected JWT claims (see ug_auth_check), {} for static tokens */
    char *required_scope; /* INSUFFICIENT_SCOPE: the route's scopes, space-separated, for scope="" */
} ug_auth_result_t;

void ug_auth_result_clear(ug_auth_result_t *r);

/* Release `r` and record a failure (for decisions the handler makes, e.g. two Authorization headers → INVALID_REQUEST). */
void ug_auth_result_set_error(ug_auth_result_t *r, ug_auth_status_t status, const char *description);

int ug_auth_http_status(ug_auth_status_t status);         /* 200, 401, 400, 401, 403, 500 */
ug_err_t ug_auth_err(ug_auth_status_t status);              /* UG_OK, UG_ERR_UNAUTHORIZED, UG_ERR_BAD_REQUEST, ... */
const char *ug_auth_error_code(ug_auth_status_t status);  /* "invalid_token" etc.; NULL for OK, MISSING, INTERNAL */

/*
 * The WWW-Authenticate value for a failed result (RFC 6750 3):
 *   Bearer realm="uploadgate"                                  (MISSING, INTERNAL, OK)
 *   Bearer realm="uploadgate", error="invalid_token", error_description="..."
 *   ..., error="insufficient_scope", error_description="...", scope="upload"
 * `realm` NULL means "uploadgate"; characters not allowed in a quoted string
 * are dropped from it. Returns a malloc'd string the caller frees; NULL on OOM.
 */
char *ug_auth_www_authenticate(const ug_auth_result_t *r, const char *realm);

/*
 * Values for X-Auth-Subject (NULL when there is no subject) and X-Auth-Scopes
 * (scopes joined by one space, "" when none) sent to the app. Control
 * characters are replaced by '?', so a claim cannot split a header. malloc'd.
 */
char *ug_auth_subject_header(const ug_auth_result_t *r);
char *ug_auth_scopes_header(const ug_auth_result_t *r);

/*
 * {"method":"token"|"jwt","subject":string|null,"scopes":[...],"claims":{...}}
 * for the manifest's "auth" member. New reference; NULL on OOM or when the
 * result is not UG_AUTH_OK.
 */
json_t *ug_auth_manifest_json(const ug_auth_result_t *r);

/* ---- pieces ---- */

/*
 * The token of an Authorization value (RFC 6750 2.1):
 *   credentials = "Bearer" 1*SP b64token
 *   b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
 * The scheme is case-insensitive (RFC 9110 11.1); surrounding SP/HTAB is
 * ignored and HTAB is tolerated where SP is expected. value NULL, empty or
 * another scheme → UG_AUTH_MISSING; "Bearer" with no or a malformed token →
 * UG_AUTH_INVALID_REQUEST; else UG_AUTH_OK with *token pointing into `value`.
 */
ug_auth_status_t ug_auth_extract_bearer(const char *value, size_t len, const char **token, size_t *token_len);

/* Whether `s` is a b64token (above). */
int ug_auth_is_b64token(const char *s, size_t len);

/*
 * A set of static tokens, kept only as SHA-256 digests. `sep` '\n': one per
 * line, '#' starts a comment line; ',': a comma-separated list. Entries are
 * trimmed of SP/HTAB/CR; empty ones are ignored; one that is not a b64token
 * makes the whole text invalid (NULL with *why). Free with ug_auth_tokens_free().
 */
typedef struct ug_auth_tokens ug_auth_tokens_t;
ug_auth_tokens_t *ug_auth_tokens_parse(const char *text, size_t len, char sep, const char **why);
void ug_auth_tokens_free(ug_auth_tokens_t *set);
size_t ug_auth_tokens_count(const ug_auth_tokens_t *set);

/*
 * Whether `token` is in the set (a NULL set holds nothing). The token is
 * hashed and the digest compared with CRYPTO_memcmp against every entry
 * without stopping at a match, so neither the position of a match nor the
 * length of a token shows in the timing. *compared (may be NULL) receives the
 * number of comparisons made, always the size of the set.
 */
int ug_auth_tokens_match(const ug_auth_tokens_t *set, const char *token, size_t len, size_t *compared);

/* ---- the checker ---- */

typedef struct ug_auth_checker ug_auth_checker_t;

/*
 * A checker for one thread. `cfg` is borrowed and must outlive the checker.
 * Every configured file is loaded now and the environment variable read;
 * fails (NULL, message in err) when the config is invalid or a file cannot be
 * loaded, so a broken deployment stops at startup. Free with ug_auth_checker_free().
 */
ug_auth_checker_t *ug_auth_checker_new(const ug_auth_config_t *cfg, int64_t now, char *err, size_t errlen);
void ug_auth_checker_free(ug_auth_checker_t *c);

/*
 * Authenticate a request. `authorization` is the Authorization header value
 * (NULL when absent), `now` seconds since the epoch.
 *
 * When `now` differs from the previous call's, every configured file is
 * stat()ed by path (so a Kubernetes secret's symlink swap is seen) and one
 * whose device, inode, size, mtime or ctime changed is reloaded. A failed
 * reload keeps what was loaded before (and is reported once by
 * ug_auth_checker_reload_error()); the file is retried when it changes again.
 *
 * Static tokens are tried first, then the token as a JWT. On success with a
 * JWT, `claims` holds those of iss, sub, aud, exp, nbf, iat, jti, scope, scp,
 * client_id, azp, email and name that the token has, nothing else: enough to
 * tell who and why, without relaying arbitrary issuer data to the app.
 */
void ug_auth_check(ug_auth_checker_t *c, const char *authorization, size_t len, int64_t now, ug_auth_result_t *res);

/*
 * When a reload failed since the last call: 1 and the message ("tokens_file
 * /path: ...") in buf. 0 otherwise. For the server's log.
 */
int ug_auth_checker_reload_error(ug_auth_checker_t *c, char *buf, size_t len);

#endif
