/*
 * jwt.c - JWS compact verification (RFC 7515), the algorithms of RFC 7518 /
 * RFC 8037 through OpenSSL EVP, and the registered claims of RFC 7519.
 */
#include "policy/jwt.h"

#include "policy/b64url.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

enum alg_family { FAM_HMAC, FAM_RSA_PKCS1, FAM_RSA_PSS, FAM_ECDSA, FAM_EDDSA };

static const struct alg_info {
    const char *name;
    enum alg_family family;
    const EVP_MD *(*md)(void); /* NULL for EdDSA, which hashes internally */
    size_t ec_half;            /* ECDSA: bytes of R and of S (RFC 7518 3.4) */
} algs[UG_JWT_ALG__COUNT] = {
    [UG_JWT_HS256] = {"HS256", FAM_HMAC, EVP_sha256, 0},
    [UG_JWT_HS384] = {"HS384", FAM_HMAC, EVP_sha384, 0},
    [UG_JWT_HS512] = {"HS512", FAM_HMAC, EVP_sha512, 0},
    [UG_JWT_RS256] = {"RS256", FAM_RSA_PKCS1, EVP_sha256, 0},
    [UG_JWT_RS384] = {"RS384", FAM_RSA_PKCS1, EVP_sha384, 0},
    [UG_JWT_RS512] = {"RS512", FAM_RSA_PKCS1, EVP_sha512, 0},
    [UG_JWT_PS256] = {"PS256", FAM_RSA_PSS, EVP_sha256, 0},
    [UG_JWT_ES256] = {"ES256", FAM_ECDSA, EVP_sha256, 32},
    [UG_JWT_ES384] = {"ES384", FAM_ECDSA, EVP_sha384, 48},
    [UG_JWT_EDDSA] = {"EdDSA", FAM_EDDSA, NULL, 0},
};

struct ug_jwt_key {
    unsigned algs;         /* UG_JWT_ALG_BIT()s this key may verify */
    char *kid;             /* NULL: the key has no id */
    EVP_PKEY *pkey;        /* public keys */
    unsigned char *secret; /* HMAC keys */
    size_t secret_len;
};

struct ug_jwt_keyset {
    struct ug_jwt_key *keys;
    size_t n, cap;
};

int ug_jwt_alg_from_name(const char *name, size_t len)
{
    for (int i = 0; i < UG_JWT_ALG__COUNT; i++) {
        if (strlen(algs[i].name) == len && memcmp(algs[i].name, name, len) == 0)
            return i;
    }
    return -1;
}

const char *ug_jwt_alg_name(ug_jwt_alg_t alg)
{
    return (unsigned)alg < UG_JWT_ALG__COUNT ? algs[alg].name : "?";
}

/* ---- keys ---- */

ug_jwt_keyset_t *ug_jwt_keyset_new(void)
{
    return calloc(1, sizeof(ug_jwt_keyset_t));
}

void ug_jwt_keyset_free(ug_jwt_keyset_t *ks)
{
    if (ks == NULL)
        return;
    for (size_t i = 0; i < ks->n; i++) {
        struct ug_jwt_key *k = &ks->keys[i];
        free(k->kid);
        EVP_PKEY_free(k->pkey);
        if (k->secret != NULL)
            OPENSSL_clear_free(k->secret, k->secret_len);
    }
    free(ks->keys);
    free(ks);
}

size_t ug_jwt_keyset_size(const ug_jwt_keyset_t *ks)
{
    return ks != NULL ? ks->n : 0;
}

/* Append `k` (its members now belong to the keyset). */
static int push_key(ug_jwt_keyset_t *ks, const struct ug_jwt_key *k)
{
    if (ks->n == ks->cap) {
        size_t cap = ks->cap != 0 ? ks->cap * 2 : 4;
        struct ug_jwt_key *keys = realloc(ks->keys, cap * sizeof(*keys));
        if (keys == NULL)
            return -1;
        ks->keys = keys;
        ks->cap = cap;
    }
    ks->keys[ks->n++] = *k;
    return 0;
}

int ug_jwt_keyset_add_secret(ug_jwt_keyset_t *ks, const void *secret, size_t len, const char *kid, const char **why)
{
    struct ug_jwt_key k = {0};

    /* RFC 7518 3.2: "A key of the same size as the hash output ... or larger MUST be used". */
    if (len < 32) {
        *why = "HMAC secret shorter than 32 bytes (RFC 7518 3.2)";
        return -1;
    }
    k.algs = UG_JWT_ALG_BIT(UG_JWT_HS256) | (len >= 48 ? UG_JWT_ALG_BIT(UG_JWT_HS384) : 0) |
             (len >= 64 ? UG_JWT_ALG_BIT(UG_JWT_HS512) : 0);
    if ((k.secret = OPENSSL_memdup(secret, len)) == NULL || (kid != NULL && (k.kid = strdup(kid)) == NULL))
        goto nomem;
    k.secret_len = len;
    if (push_key(ks, &k) != 0)
        goto nomem;
    return 0;
nomem:
    OPENSSL_clear_free(k.secret, len);
    free(k.kid);
    *why = "out of memory";
    return -1;
}

/* Algorithms a public key may verify, from its type alone; 0 with *why when unusable. */
static unsigned pkey_algs(EVP_PKEY *pkey, const char **why)
{
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        if (EVP_PKEY_get_bits(pkey) < 2048) {
            *why = "RSA key shorter than 2048 bits (RFC 7518 3.3)";
            return 0;
        }
        return UG_JWT_ALG_BIT(UG_JWT_RS256) | UG_JWT_ALG_BIT(UG_JWT_RS384) | UG_JWT_ALG_BIT(UG_JWT_RS512) |
               UG_JWT_ALG_BIT(UG_JWT_PS256);
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64];
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) == 1) {
            if (strcmp(group, "prime256v1") == 0)
                return UG_JWT_ALG_BIT(UG_JWT_ES256);
            if (strcmp(group, "secp384r1") == 0)
                return UG_JWT_ALG_BIT(UG_JWT_ES384);
        }
        *why = "EC key not on P-256 or P-384";
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519"))
        return UG_JWT_ALG_BIT(UG_JWT_EDDSA);
    *why = "unsupported key type (need RSA, EC P-256/P-384 or Ed25519)";
    return 0;
}

int ug_jwt_keyset_add_pkey(ug_jwt_keyset_t *ks, EVP_PKEY *pkey, const char *kid, int alg, const char **why)
{
    struct ug_jwt_key k = {0};

    if ((k.algs = pkey_algs(pkey, why)) == 0)
        goto fail;
    if (alg >= 0) {
        if ((k.algs & UG_JWT_ALG_BIT(alg)) == 0) {
            *why = "key alg does not fit the key type";
            goto fail;
        }
        k.algs = UG_JWT_ALG_BIT(alg);
    }
    if (kid != NULL && (k.kid = strdup(kid)) == NULL)
        goto nomem;
    k.pkey = pkey;
    if (push_key(ks, &k) != 0)
        goto nomem;
    return 0;
nomem:
    *why = "out of memory";
fail:
    free(k.kid);
    EVP_PKEY_free(pkey);
    return -1;
}

int ug_jwt_keyset_add_pem(ug_jwt_keyset_t *ks, const char *pem, size_t len, const char **why)
{
    EVP_PKEY *pkey = NULL;
    BIO *bio = NULL;

    if (len > INT32_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
        *why = "cannot read the PEM text";
        goto done;
    }
    if ((pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
        /* Not a SubjectPublicKeyInfo: perhaps the issuer's certificate. */
        X509 *cert;
        (void)BIO_reset(bio);
        if ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            pkey = X509_get_pubkey(cert);
            X509_free(cert);
        }
    }
    ERR_clear_error();
    if (pkey == NULL) {
        *why = "no PUBLIC KEY or CERTIFICATE in the PEM text";
        goto done;
    }
    BIO_free(bio);
    return ug_jwt_keyset_add_pkey(ks, pkey, NULL, -1, why);
done:
    BIO_free(bio);
    return -1;
}

/* ---- signatures ---- */

/* JWS ECDSA signatures are R || S, fixed width (RFC 7518 3.4); OpenSSL wants DER. Returns a malloc'd DER. */
static unsigned char *ecdsa_raw_to_der(const unsigned char *sig, size_t half, size_t *der_len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)half, NULL), *s = BN_bin2bn(sig + half, (int)half, NULL);
    unsigned char *der = NULL;
    int n;

    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        goto done;
    }
    /* es owns r and s from here. */
    if ((n = i2d_ECDSA_SIG(es, &der)) <= 0) {
        der = NULL;
        goto done;
    }
    *der_len = (size_t)n;
done:
    ECDSA_SIG_free(es);
    return der;
}

/* Whether `sig` signs `input` under key `k` with `alg`: 1 yes, 0 no, -1 internal failure. */
static int verify_with(const struct ug_jwt_key *k, ug_jwt_alg_t alg, const unsigned char *input, size_t input_len,
                       const unsigned char *sig, size_t sig_len)
{
    const struct alg_info *a = &algs[alg];
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL;
    int ret = -1;

    if (a->family == FAM_HMAC) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned mac_len = 0;
        if (HMAC(a->md(), k->secret, (int)k->secret_len, input, input_len, mac, &mac_len) == NULL)
            goto done;
        /* The MAC length is public (fixed by alg); only its bytes need a constant-time comparison. */
        ret = sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
        goto done;
    }
    if (a->family == FAM_ECDSA) {
        if (sig_len != 2 * a->ec_half) {
            ret = 0;
            goto done;
        }
        if ((der = ecdsa_raw_to_der(sig, a->ec_half, &sig_len)) == NULL)
            goto done;
        sig = der;
    }
    if ((ctx = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestVerifyInit(ctx, &pctx, a->md != NULL ? a->md() : NULL, NULL, k->pkey) != 1)
        goto done;
    if (a->family == FAM_RSA_PKCS1 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
        goto done;
    /* RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash output. */
    if (a->family == FAM_RSA_PSS &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, a->md()) <= 0))
        goto done;
    /* A malformed signature is a bad token, not an internal failure. */
    ret = EVP_DigestVerify(ctx, sig, sig_len, input, input_len) == 1;
done:
    EVP_MD_CTX_free(ctx); /* frees pctx too */
    OPENSSL_free(der);
    ERR_clear_error();
    return ret;
}

/* Whether `k` may have signed a token with `alg` and `kid` (NULL: the token names none). */
static int is_candidate(const struct ug_jwt_key *k, ug_jwt_alg_t alg, const char *kid)
{
    return (k->algs & UG_JWT_ALG_BIT(alg)) != 0 && (kid == NULL || k->kid == NULL || strcmp(kid, k->kid) == 0);
}

/*
 * Try the candidate keys for `alg` / `kid` (see jwt.h), in configuration order, until one verifies. Returns the
 * status, *why set on failure.
 */
static ug_jwt_status_t verify_signature(const ug_jwt_keyset_t *const *keysets, size_t n_keysets, ug_jwt_alg_t alg,
                                        const char *kid, const unsigned char *input, size_t input_len,
                                        const unsigned char *sig, size_t sig_len, const char **why)
{
    size_t candidates = 0;

    for (size_t s = 0; s < n_keysets; s++)
        for (size_t i = 0; keysets[s] != NULL && i < keysets[s]->n; i++)
            candidates += is_candidate(&keysets[s]->keys[i], alg, kid);
    if (candidates == 0) {
        *why = kid != NULL ? "no key matches the token kid and alg" : "no key for the token alg";
        return UG_JWT_INVALID;
    }
    /* Refused before any signature check: a token without a kid must not cost more than the bound in verifications. */
    if (kid == NULL && candidates > UG_JWT_MAX_KIDLESS_CANDIDATES) {
        *why = "the token has no kid and several keys fit its alg";
        return UG_JWT_INVALID;
    }
    for (size_t s = 0; s < n_keysets; s++) {
        for (size_t i = 0; keysets[s] != NULL && i < keysets[s]->n; i++) {
            const struct ug_jwt_key *k = &keysets[s]->keys[i];
            if (!is_candidate(k, alg, kid))
                continue;
            switch (verify_with(k, alg, input, input_len, sig, sig_len)) {
            case 1:
                return UG_JWT_OK;
            case 0:
                break;
            default:
                *why = "signature verification failed internally";
                return UG_JWT_INTERNAL;
            }
        }
    }
    *why = "signature verification failed";
    return UG_JWT_INVALID;
}

/* ---- claims ---- */

/* A NumericDate claim (RFC 7519 2): integer or fractional seconds. */
enum date_claim {
    DATE_PRESENT, /* stored in *out */
    DATE_ABSENT,
    DATE_NOT_A_NUMBER,
};

static enum date_claim get_date(const json_t *claims, const char *name, double *out)
{
    const json_t *v = json_object_get(claims, name);
    if (v == NULL)
        return DATE_ABSENT;
    if (!json_is_number(v))
        return DATE_NOT_A_NUMBER;
    *out = json_number_value(v);
    return DATE_PRESENT;
}

/* Append the space-separated scope-tokens of `s` (RFC 6749 3.3) to `scopes`, skipping repeats. */
static int add_scope_string(json_t *scopes, const char *s)
{
    while (*s != '\0') {
        size_t n = strcspn(s, " ");
        if (n != 0) {
            int seen = 0;
            size_t i;
            json_t *e;
            json_array_foreach (scopes, i, e) {
                if (json_string_length(e) == n && memcmp(json_string_value(e), s, n) == 0)
                    seen = 1;
            }
            if (!seen && json_array_append_new(scopes, json_stringn(s, n)) != 0)
                return -1;
        }
        s += n;
        s += strspn(s, " ");
    }
    return 0;
}

/*
 * Scopes from "scope" (a space-separated string, RFC 8693 4.2 / RFC 9068
 * 2.2.3) or, only when that is absent, "scp" (array of strings or a string, as
 * several issuers emit). UG_JWT_INVALID when a claim has the wrong type, UG_JWT_INTERNAL when out of memory.
 */
static ug_jwt_status_t collect_scopes(const json_t *claims, json_t *scopes)
{
    const json_t *scope = json_object_get(claims, "scope"), *scp = json_object_get(claims, "scp");
    size_t i;
    json_t *e;

    if (scope != NULL)
        return !json_is_string(scope)                                       ? UG_JWT_INVALID
               : add_scope_string(scopes, json_string_value(scope)) != 0 ? UG_JWT_INTERNAL
                                                                         : UG_JWT_OK;
    if (scp == NULL)
        return UG_JWT_OK;
    if (json_is_string(scp))
        return add_scope_string(scopes, json_string_value(scp)) != 0 ? UG_JWT_INTERNAL : UG_JWT_OK;
    if (!json_is_array(scp))
        return UG_JWT_INVALID;
    json_array_foreach (scp, i, e) {
        if (!json_is_string(e))
            return UG_JWT_INVALID;
        if (add_scope_string(scopes, json_string_value(e)) != 0)
            return UG_JWT_INTERNAL;
    }
    return UG_JWT_OK;
}

static int has_string(const json_t *v, const char *want)
{
    size_t i;
    json_t *e;

    if (json_is_string(v))
        return strcmp(json_string_value(v), want) == 0;
    json_array_foreach (v, i, e) {
        if (json_is_string(e) && strcmp(json_string_value(e), want) == 0)
            return 1;
    }
    return 0;
}

static ug_jwt_status_t check_claims(const json_t *claims, const ug_jwt_policy_t *p, int64_t now, json_t *scopes,
                                    const char **why)
{
    const double t = (double)now, leeway = (double)p->leeway_ms / 1000.0;
    const json_t *iss = json_object_get(claims, "iss"), *aud = json_object_get(claims, "aud"),
                 *sub = json_object_get(claims, "sub");
    double exp, nbf, iat;
    enum date_claim date;

    /* exp is optional in RFC 7519 4.1.4; uploadgate requires it so that no token is valid forever. */
    if ((date = get_date(claims, "exp", &exp)) != DATE_PRESENT) {
        *why = date == DATE_ABSENT ? "the token has no exp claim" : "the exp claim is not a number";
        return UG_JWT_INVALID;
    }
    if (t >= exp + leeway) { /* "MUST NOT be accepted for processing" on or after exp */
        *why = "the token has expired";
        return UG_JWT_INVALID;
    }
    if ((date = get_date(claims, "nbf", &nbf)) == DATE_NOT_A_NUMBER || (date == DATE_PRESENT && t < nbf - leeway)) {
        *why = date == DATE_NOT_A_NUMBER ? "the nbf claim is not a number" : "the token is not valid yet";
        return UG_JWT_INVALID;
    }
    /* RFC 7519 4.1.6 sets no rule for iat; one from the future means a broken or hostile issuer. */
    if ((date = get_date(claims, "iat", &iat)) == DATE_NOT_A_NUMBER || (date == DATE_PRESENT && iat > t + leeway)) {
        *why = date == DATE_NOT_A_NUMBER ? "the iat claim is not a number" : "the token was issued in the future";
        return UG_JWT_INVALID;
    }
    if ((iss != NULL && !json_is_string(iss)) || (sub != NULL && !json_is_string(sub))) {
        *why = "the iss or sub claim is not a string";
        return UG_JWT_INVALID;
    }
    if (p->issuer != NULL && (iss == NULL || strcmp(json_string_value(iss), p->issuer) != 0)) {
        *why = "the token has the wrong issuer";
        return UG_JWT_INVALID;
    }
    /* RFC 7519 4.1.3: a recipient that does not find itself in a present aud MUST reject the token. */
    if (aud != NULL && !json_is_string(aud) && !json_is_array(aud)) {
        *why = "the aud claim is neither a string nor an array";
        return UG_JWT_INVALID;
    }
    if (p->audience != NULL ? aud == NULL || !has_string(aud, p->audience) : aud != NULL) {
        *why = p->audience != NULL ? "the token is not meant for this audience"
                                   : "the token has an audience and the route expects none";
        return UG_JWT_INVALID;
    }
    ug_jwt_status_t st = collect_scopes(claims, scopes);
    if (st != UG_JWT_OK) {
        *why = st == UG_JWT_INVALID ? "the scope or scp claim is malformed" : "out of memory";
        return st;
    }
    for (size_t i = 0; i < p->n_required_scopes; i++) {
        if (!has_string(scopes, p->required_scopes[i])) {
            *why = "the token lacks a required scope";
            return UG_JWT_INSUFFICIENT_SCOPE;
        }
    }
    return UG_JWT_OK;
}

/* ---- the token ---- */

/* Decode one base64url segment and parse it as a JSON object (NULL when it is not one). */
static json_t *decode_json(const char *seg, size_t len)
{
    unsigned char *buf = malloc(UG_B64URL_DECODED_MAX(len));
    size_t n;
    json_t *v = NULL;

    /* RFC 7515 4 / RFC 7519 7.2: member names must be unique, so duplicates are refused outright. */
    if (buf != NULL && ug_b64url_decode(seg, len, buf, &n) == 0)
        v = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

ug_jwt_status_t ug_jwt_verify(const char *token, size_t len, const ug_jwt_keyset_t *const *keysets, size_t n_keysets,
                              const ug_jwt_policy_t *policy, int64_t now, ug_jwt_verified_t *out, const char **why)
{
    ug_jwt_status_t st = UG_JWT_INVALID;
    json_t *header = NULL, *claims = NULL, *scopes = NULL;
    unsigned char *sig = NULL;
    const char *d1, *d2, *kid = NULL;
    const json_t *alg_v, *kid_v;
    size_t sig_len = 0;
    int alg = -1;

    memset(out, 0, sizeof(*out));
    if (len > UG_JWT_MAX_TOKEN) {
        *why = "the token is too large";
        goto done;
    }
    /* Compact serialization: three base64url parts separated by exactly two dots (RFC 7515 7.1). */
    if ((d1 = memchr(token, '.', len)) == NULL || (d2 = memchr(d1 + 1, '.', token + len - d1 - 1)) == NULL ||
        memchr(d2 + 1, '.', token + len - d2 - 1) != NULL || d1 == token || d2 == d1 + 1) {
        *why = "the token is not a JWS in compact serialization";
        goto done;
    }
    if ((header = decode_json(token, d1 - token)) == NULL) {
        *why = "the token header is not base64url JSON object";
        goto done;
    }
    if ((alg_v = json_object_get(header, "alg")) == NULL || !json_is_string(alg_v)) {
        *why = "the token header has no alg";
        goto done;
    }
    /* Unsecured JWS (RFC 7518 3.6) proves nothing; "none" is not even in the table. */
    if (strcmp(json_string_value(alg_v), "none") == 0) {
        *why = "the token alg none is refused";
        goto done;
    }
    if ((alg = ug_jwt_alg_from_name(json_string_value(alg_v), json_string_length(alg_v))) < 0) {
        *why = "the token alg is not supported";
        goto done;
    }
    if ((policy->algorithms & UG_JWT_ALG_BIT(alg)) == 0) {
        *why = "the token alg is not allowed";
        goto done;
    }
    /* RFC 7515 4.1.11: extensions listed in crit must be understood; we understand none. */
    if (json_object_get(header, "crit") != NULL) {
        *why = "the token header has a crit member";
        goto done;
    }
    /* jku, jwk, x5u, x5c are ignored on purpose: keys come from configuration only. */
    if ((kid_v = json_object_get(header, "kid")) != NULL) {
        if (!json_is_string(kid_v)) {
            *why = "the token kid is not a string";
            goto done;
        }
        kid = json_string_value(kid_v);
    }
    if (len - (d2 + 1 - token) == 0 || (sig = malloc(UG_B64URL_DECODED_MAX(len))) == NULL ||
        ug_b64url_decode(d2 + 1, len - (d2 + 1 - token), sig, &sig_len) != 0) {
        *why = "the token signature is missing or not base64url";
        goto done;
    }
    if ((st = verify_signature(keysets, n_keysets, (ug_jwt_alg_t)alg, kid, (const unsigned char *)token, d2 - token, sig,
                               sig_len, why)) != UG_JWT_OK)
        goto done;
    st = UG_JWT_INVALID;
    if ((claims = decode_json(d1 + 1, d2 - d1 - 1)) == NULL) {
        *why = "the token claims are not a base64url JSON object";
        goto done;
    }
    if ((scopes = json_array()) == NULL) {
        st = UG_JWT_INTERNAL;
        *why = "out of memory";
        goto done;
    }
    if ((st = check_claims(claims, policy, now, scopes, why)) == UG_JWT_OK || st == UG_JWT_INSUFFICIENT_SCOPE) {
        out->alg = (ug_jwt_alg_t)alg;
        out->claims = claims;
        out->scopes = scopes;
        claims = scopes = NULL;
    }
done:
    json_decref(header);
    json_decref(claims);
    json_decref(scopes);
    free(sig);
    return st;
}

void ug_jwt_verified_clear(ug_jwt_verified_t *v)
{
    json_decref(v->claims);
    json_decref(v->scopes);
    memset(v, 0, sizeof(*v));
}
