/*
 * jwks.c - JWK / JWK Set (RFC 7517) to EVP_PKEY through OSSL_PARAM_BLD and
 * EVP_PKEY_fromdata (the OpenSSL 3 way; the RSA_* / EC_KEY_* setters are
 * deprecated).
 */
#include "policy/jwks.h"

#include "policy/b64url.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

/* RSA moduli above 8192 bits make every verification needlessly slow; nobody issues them. */
#define MAX_RSA_BYTES 1024

/*
 * Decode the base64url member `name` of `jwk` into a malloc'd buffer
 * (*len bytes); NULL when absent, not a string or not base64url.
 */
static unsigned char *get_b64(const json_t *jwk, const char *name, size_t max, size_t *len)
{
    const json_t *v = json_object_get(jwk, name);
    unsigned char *buf;

    if (!json_is_string(v) || json_string_length(v) == 0 || UG_B64URL_DECODED_MAX(json_string_length(v)) > max + 3)
        return NULL;
    if ((buf = malloc(UG_B64URL_DECODED_MAX(json_string_length(v)))) == NULL)
        return NULL;
    if (ug_b64url_decode(json_string_value(v), json_string_length(v), buf, len) != 0 || *len == 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int member_is(const json_t *jwk, const char *name, const char *want)
{
    const json_t *v = json_object_get(jwk, name);
    return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

/* Build a public key of type `type` from `params`. */
static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;

    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/* RFC 7518 6.3.1: modulus n and exponent e, unsigned big-endian. */
static EVP_PKEY *rsa_from_jwk(const json_t *jwk, const char **why)
{
    size_t n_len = 0, e_len = 0;
    unsigned char *n = get_b64(jwk, "n", MAX_RSA_BYTES, &n_len), *e = get_b64(jwk, "e", 8, &e_len);
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;

    if (n == NULL || e == NULL) {
        *why = "RSA JWK n or e missing, too large or not base64url";
        goto done;
    }
    if ((bn_n = BN_bin2bn(n, (int)n_len, NULL)) == NULL || (bn_e = BN_bin2bn(e, (int)e_len, NULL)) == NULL ||
        (bld = OSSL_PARAM_BLD_new()) == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1 || (pkey = from_params("RSA", bld)) == NULL)
        *why = "RSA JWK rejected by OpenSSL";
done:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    free(n);
    free(e);
    return pkey;
}

/* RFC 7518 6.2.1: x and y are full-width coordinates of a point on the named curve. */
static EVP_PKEY *ec_from_jwk(const json_t *jwk, const char **why)
{
    const char *group = member_is(jwk, "crv", "P-256") ? "prime256v1" : member_is(jwk, "crv", "P-384") ? "secp384r1" : NULL;
    const size_t width = group != NULL && strcmp(group, "prime256v1") == 0 ? 32 : 48;
    unsigned char *x = NULL, *y = NULL, point[1 + 2 * 48];
    size_t x_len = 0, y_len = 0;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY_CTX *check = NULL;
    EVP_PKEY *pkey = NULL;

    if (group == NULL) {
        *why = "EC JWK crv is not P-256 or P-384";
        goto done;
    }
    if ((x = get_b64(jwk, "x", width, &x_len)) == NULL || (y = get_b64(jwk, "y", width, &y_len)) == NULL ||
        x_len != width || y_len != width) {
        *why = "EC JWK x or y missing or not of the curve size";
        goto done;
    }
    point[0] = 0x04; /* uncompressed point (SEC 1, 2.3.3) */
    memcpy(point + 1, x, width);
    memcpy(point + 1 + width, y, width);
    if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * width) != 1 ||
        (pkey = from_params("EC", bld)) == NULL) {
        *why = "EC JWK rejected by OpenSSL";
        goto done;
    }
    /* Invalid-curve attacks only matter for ECDH, but a point off the curve is a broken key all the same. */
    if ((check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL || EVP_PKEY_public_check(check) != 1) {
        *why = "EC JWK point is not on the curve";
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
done:
    EVP_PKEY_CTX_free(check);
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return pkey;
}

/* RFC 8037 2: crv Ed25519, x the 32-byte public key. */
static EVP_PKEY *okp_from_jwk(const json_t *jwk, const char **why)
{
    size_t x_len = 0;
    unsigned char *x = NULL;
    EVP_PKEY *pkey = NULL;

    if (!member_is(jwk, "crv", "Ed25519")) {
        *why = "OKP JWK crv is not Ed25519";
        goto done;
    }
    if ((x = get_b64(jwk, "x", 32, &x_len)) == NULL || x_len != 32) {
        *why = "OKP JWK x missing or not 32 bytes";
        goto done;
    }
    if ((pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, x_len)) == NULL)
        *why = "OKP JWK rejected by OpenSSL";
done:
    free(x);
    return pkey;
}

EVP_PKEY *ug_jwk_to_pkey(const json_t *jwk, const char **why)
{
    EVP_PKEY *pkey = NULL;

    if (!json_is_object(jwk))
        *why = "JWK is not an object";
    else if (member_is(jwk, "kty", "RSA"))
        pkey = rsa_from_jwk(jwk, why);
    else if (member_is(jwk, "kty", "EC"))
        pkey = ec_from_jwk(jwk, why);
    else if (member_is(jwk, "kty", "OKP"))
        pkey = okp_from_jwk(jwk, why);
    else
        *why = "JWK kty is not RSA, EC or OKP";
    ERR_clear_error();
    return pkey;
}

/* Whether the JWK is meant for verifying signatures (RFC 7517 4.2, 4.3); absent members do not restrict. */
static int usable_for_verify(const json_t *jwk)
{
    const json_t *use = json_object_get(jwk, "use"), *ops = json_object_get(jwk, "key_ops");
    size_t i;
    json_t *e;

    if (use != NULL && !member_is(jwk, "use", "sig"))
        return 0;
    if (ops == NULL)
        return 1;
    json_array_foreach (ops, i, e) {
        if (json_is_string(e) && strcmp(json_string_value(e), "verify") == 0)
            return 1;
    }
    return 0;
}

/* Add one JWK; -1 with *why when it is skipped. */
static int add_jwk(ug_jwt_keyset_t *ks, const json_t *jwk, const char **why)
{
    const json_t *kid = json_object_get(jwk, "kid"), *alg_v = json_object_get(jwk, "alg");
    EVP_PKEY *pkey;
    int alg = -1;

    if (!usable_for_verify(jwk)) {
        *why = "JWK is not a signature verification key";
        return -1;
    }
    if (kid != NULL && !json_is_string(kid)) {
        *why = "JWK kid is not a string";
        return -1;
    }
    if (alg_v != NULL &&
        (!json_is_string(alg_v) || (alg = ug_jwt_alg_from_name(json_string_value(alg_v), json_string_length(alg_v))) < 0)) {
        *why = "JWK alg is not supported";
        return -1;
    }
    if ((pkey = ug_jwk_to_pkey(jwk, why)) == NULL)
        return -1;
    /* add_pkey owns pkey from here and checks that alg fits the key type. */
    return ug_jwt_keyset_add_pkey(ks, pkey, kid != NULL ? json_string_value(kid) : NULL, alg, why);
}

int ug_jwt_keyset_add_jwks(ug_jwt_keyset_t *ks, const char *text, size_t len, const char **why)
{
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL), *keys, *jwk;
    const char *skipped = NULL;
    size_t i, added = 0;
    int ret = -1;

    if (doc == NULL || !json_is_array(keys = json_object_get(doc, "keys"))) {
        *why = "not a JWK Set (a JSON object with a keys array)";
        goto done;
    }
    json_array_foreach (keys, i, jwk) {
        if (add_jwk(ks, jwk, &skipped) == 0)
            added++;
    }
    if (added == 0) {
        /* The last reason is the most useful one when the set holds a single key. */
        *why = skipped != NULL ? skipped : "the JWK Set has no keys";
        goto done;
    }
    ret = 0;
done:
    json_decref(doc);
    return ret;
}
