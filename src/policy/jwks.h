/*
 * jwks.h - JSON Web Keys (RFC 7517) to OpenSSL public keys: kty "RSA" (n, e;
 * RFC 7518 6.3.1), "EC" with crv P-256 / P-384 (x, y; RFC 7518 6.2.1) and
 * "OKP" with crv Ed25519 (x; RFC 8037 2). Symmetric ("oct") keys are not
 * read from a JWK Set: HMAC secrets come from secret_file only.
 */
#ifndef UG_POLICY_JWKS_H
#define UG_POLICY_JWKS_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

#include "policy/jwt.h"

/* One JWK to a public key the caller frees; NULL with *why (static) when unusable. Private members are ignored. */
EVP_PKEY *ug_jwk_to_pkey(const json_t *jwk, const char **why);

/*
 * Add every usable signature key of a JWK Set ({"keys": [...]}) to `ks`, with
 * its "kid" and, when present, its "alg" as the only algorithm it may serve.
 * Keys meant for something else ("use" other than "sig", "key_ops" without
 * "verify") or that cannot be used (unknown kty or crv, an "alg" that does not
 * fit the key, RSA under 2048 bits) are skipped, so an issuer's set may hold
 * encryption keys too. Returns 0 when at least one key was added; -1 with
 * *why (static) when the text is not a JWK Set or no key was usable.
 */
int ug_jwt_keyset_add_jwks(ug_jwt_keyset_t *ks, const char *json, size_t len, const char **why);

#endif
