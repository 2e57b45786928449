/*
 * jwt.h - verification of JWTs in JWS compact serialization (RFC 7515
 * section 7.1, RFC 7519) against a set of typed keys, with the registered
 * claims checked (RFC 7519 section 4.1) and OAuth scopes collected.
 *
 * Pure: no I/O (the caller reads key files and hands over their bytes), no
 * globals, no clock (the caller passes `now`). Objects are not locked: a
 * keyset is read-only during ug_jwt_verify() and may be used by one thread at
 * a time (OpenSSL 3 EVP_PKEY objects are reference-counted, not meant for
 * concurrent parameter access); auth.c keeps one per worker thread.
 *
 * Algorithms (RFC 7518 section 3, RFC 8037 section 3.1): HS256/384/512,
 * RS256/384/512, PS256, ES256, ES384 and EdDSA (Ed25519 only). "none" is
 * never accepted. Every key carries the set of algorithms it may be used
 * with, fixed by its type when it is loaded (an HMAC secret: HS* only; an
 * RSA key: RS* and PS256; EC P-256: ES256; P-384: ES384; Ed25519: EdDSA), so
 * a token can never make a public key serve as an HMAC secret.
 */
#ifndef UG_POLICY_JWT_H
#define UG_POLICY_JWT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ug_jwt_alg {
    UG_JWT_HS256,
    UG_JWT_HS384,
    UG_JWT_HS512,
    UG_JWT_RS256,
    UG_JWT_RS384,
    UG_JWT_RS512,
    UG_JWT_PS256,
    UG_JWT_ES256,
    UG_JWT_ES384,
    UG_JWT_EDDSA,
    UG_JWT_ALG__COUNT
} ug_jwt_alg_t;

#define UG_JWT_ALG_BIT(a) (1u << (a))
#define UG_JWT_ALGS_HMAC (UG_JWT_ALG_BIT(UG_JWT_HS256) | UG_JWT_ALG_BIT(UG_JWT_HS384) | UG_JWT_ALG_BIT(UG_JWT_HS512))
#define UG_JWT_ALGS_ALL ((1u << UG_JWT_ALG__COUNT) - 1)
#define UG_JWT_ALGS_PUBLIC (UG_JWT_ALGS_ALL & ~UG_JWT_ALGS_HMAC)

/* Longest token accepted, in bytes; anything larger is refused before decoding. */
#define UG_JWT_MAX_TOKEN 16384

/* Algorithm of a JWS "alg" name (case-sensitive, RFC 7515 4.1.1); -1 when unknown, unsupported or "none". */
int ug_jwt_alg_from_name(const char *name, size_t len);
/* The JWS name of an algorithm ("RS256"); "?" when out of range. Static string. */
const char *ug_jwt_alg_name(ug_jwt_alg_t alg);

/*
 * What a route demands of a token. Strings are borrowed (in ug_auth_config_t
 * they belong to the config); NULL or 0 turns a check off.
 */
typedef struct ug_jwt_policy {
    unsigned algorithms;     /* allow-list: UG_JWT_ALG_BIT()s; 0 disables JWT */
    char *issuer;            /* "iss" must equal it exactly (RFC 7519 4.1.1) */
    char *audience;          /* "aud" (string or array) must contain it (RFC 7519 4.1.3) */
    char **required_scopes;  /* every one must be granted, else insufficient_scope */
    size_t n_required_scopes;
    uint64_t leeway_ms;      /* clock skew tolerated on exp / nbf / iat */
} ug_jwt_policy_t;

/* ---- keys ---- */

typedef struct ug_jwt_keyset ug_jwt_keyset_t;

/* An empty keyset; NULL when out of memory. Free with ug_jwt_keyset_free(). */
ug_jwt_keyset_t *ug_jwt_keyset_new(void);
void ug_jwt_keyset_free(ug_jwt_keyset_t *ks);
size_t ug_jwt_keyset_size(const ug_jwt_keyset_t *ks);

/*
 * The functions below return 0, or -1 with *why set to a static description.
 * `kid` (may be NULL) is copied.
 */

/*
 * An HMAC secret (copied; wiped when freed). RFC 7518 3.2: the key must be
 * at least as long as the hash, so a 32-byte secret serves HS256 only, a
 * 48-byte one HS256/HS384, 64 bytes and more all three; shorter is refused.
 */
int ug_jwt_keyset_add_secret(ug_jwt_keyset_t *ks, const void *secret, size_t len, const char *kid, const char **why);

/*
 * A public key. Takes ownership of `pkey` in every case (it is freed on
 * failure). `alg` >= 0 restricts the key to that one algorithm (a JWK "alg"
 * member, RFC 7517 4.4) and must fit the key type; -1 allows every algorithm
 * of the type. RSA keys must have at least 2048 bits (RFC 7518 3.3); EC keys
 * must be on P-256 or P-384; Ed448 is not supported.
 */
int ug_jwt_keyset_add_pkey(ug_jwt_keyset_t *ks, EVP_PKEY *pkey, const char *kid, int alg, const char **why);

/* The first public key of a PEM text: "PUBLIC KEY" (SubjectPublicKeyInfo) or "CERTIFICATE". No kid. */
int ug_jwt_keyset_add_pem(ug_jwt_keyset_t *ks, const char *pem, size_t len, const char **why);

/* ---- verification ---- */

typedef enum ug_jwt_status {
    UG_JWT_OK = 0,
    UG_JWT_INVALID,            /* malformed, bad signature, unacceptable claims: invalid_token */
    UG_JWT_INSUFFICIENT_SCOPE, /* authentic and current, but a required scope is missing */
    UG_JWT_INTERNAL,           /* OpenSSL or memory failure: not the token's fault */
} ug_jwt_status_t;

typedef struct ug_jwt_verified {
    ug_jwt_alg_t alg;
    json_t *claims; /* the whole JWT claims set (an object); owned */
    json_t *scopes; /* granted scopes, an array of distinct strings; owned */
} ug_jwt_verified_t;

/*
 * Keys tried for a token without a "kid": each costs one signature check (an
 * RSA-4096 verification is ~0.1 ms), so an unauthenticated token can make the
 * gate do at most this many. Enough for a key rotation's overlap across a few
 * issuers; a larger key set needs kids.
 */
#define UG_JWT_MAX_KIDLESS_CANDIDATES 8

/*
 * Verify `token` (len bytes, not necessarily NUL-terminated) against the keys
 * of `keysets` (NULL entries are skipped) under `policy` at time `now`
 * (seconds since the epoch).
 *
 * Key choice (RFC 7515 4.1.4): only keys whose type fits the token's "alg"
 * are candidates. With a "kid", keys with that kid and keys that have none
 * (a secret_file or PEM key) are tried. Without one ("kid" is optional),
 * every candidate is tried, in configuration order, up to
 * UG_JWT_MAX_KIDLESS_CANDIDATES of them: more is refused before any signature
 * check ("the token has no kid and several keys fit its alg"). The token
 * verifies if any candidate's signature check succeeds. Claims are parsed
 * only after the signature checks out.
 *
 * Returns UG_JWT_OK, or the failure with *why set to a static, printable
 * description free of quotes and backslashes. `out` is filled on UG_JWT_OK
 * and UG_JWT_INSUFFICIENT_SCOPE (release it with ug_jwt_verified_clear()),
 * zeroed otherwise.
 */
ug_jwt_status_t ug_jwt_verify(const char *token, size_t len, const ug_jwt_keyset_t *const *keysets, size_t n_keysets,
                              const ug_jwt_policy_t *policy, int64_t now, ug_jwt_verified_t *out, const char **why);

/* Release what `v` owns and zero it. */
void ug_jwt_verified_clear(ug_jwt_verified_t *v);

#endif
