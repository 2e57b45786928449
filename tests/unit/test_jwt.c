/*
 * JWT verification: every algorithm with PEM and JWK keys, the registered
 * claims, key typing and selection, malformed input. Keys and tokens are made
 * here, at test time, with OpenSSL; base64url encoding for minting is the
 * independent one in test_jose.h (EVP_EncodeBlock + translation) so that a bug
 * in b64url.c cannot cancel itself out.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/b64url.h"
#include "policy/jwks.h"
#include "policy/jwt.h"
#include "test_jose.h"

#define NOW 1700000000
#define B(a) UG_JWT_ALG_BIT(UG_JWT_##a)

static const char SECRET64[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* ---- minting ---- */

static EVP_PKEY *gen(const char *what)
{
    EVP_PKEY *k = NULL;
    if (strcmp(what, "RSA") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    else if (strcmp(what, "RSA1024") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    else if (strcmp(what, "P-256") == 0 || strcmp(what, "P-384") == 0 || strcmp(what, "P-521") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", what);
    else
        k = EVP_PKEY_Q_keygen(NULL, NULL, what);
    cr_assert_not_null(k, "keygen %s", what);
    return k;
}

static const char *key_kind(ug_jwt_alg_t alg)
{
    switch (alg) {
    case UG_JWT_ES256:
        return "P-256";
    case UG_JWT_ES384:
        return "P-384";
    case UG_JWT_EDDSA:
        return "ED25519";
    default:
        return "RSA";
    }
}

static const EVP_MD *alg_md(ug_jwt_alg_t alg)
{
    switch (alg) {
    case UG_JWT_HS384:
    case UG_JWT_RS384:
    case UG_JWT_ES384:
        return EVP_sha384();
    case UG_JWT_HS512:
    case UG_JWT_RS512:
        return EVP_sha512();
    case UG_JWT_EDDSA:
        return NULL;
    default:
        return EVP_sha256();
    }
}

/* Sign `input` with `alg`: an HMAC with `secret`, or `pkey`. Returns the JWS signature bytes. */
static unsigned char *sign(ug_jwt_alg_t alg, EVP_PKEY *pkey, const void *secret, size_t secret_len, const char *input,
                           size_t *sig_len, int pss_salt)
{
    unsigned char *sig = malloc(1024);
    if (alg <= UG_JWT_HS512) {
        unsigned n = 0;
        cr_assert_not_null(HMAC(alg_md(alg), secret, (int)secret_len, (const unsigned char *)input, strlen(input), sig, &n));
        *sig_len = n;
        return sig;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    size_t n = 1024;
    cr_assert_eq(EVP_DigestSignInit(ctx, &pctx, alg_md(alg), NULL, pkey), 1);
    if (alg == UG_JWT_PS256) {
        cr_assert_eq(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        cr_assert_eq(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, pss_salt), 1);
        cr_assert_eq(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()), 1);
    }
    cr_assert_eq(EVP_DigestSign(ctx, sig, &n, (const unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    if (alg == UG_JWT_ES256 || alg == UG_JWT_ES384) {
        /* DER -> R || S, each the curve size (RFC 7518 3.4). */
        size_t half = alg == UG_JWT_ES256 ? 32 : 48;
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
        cr_assert_not_null(es);
        cr_assert_eq(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)half), (int)half);
        cr_assert_eq(BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, (int)half), (int)half);
        ECDSA_SIG_free(es);
        n = 2 * half;
    }
    *sig_len = n;
    return sig;
}

/* header.payload.signature from raw JSON texts. */
static char *mint_raw(ug_jwt_alg_t alg, EVP_PKEY *pkey, const void *secret, size_t secret_len, const char *header,
                      const char *payload)
{
    char *h = b64u_str(header), *p = b64u_str(payload);
    char *input = malloc(strlen(h) + strlen(p) + 2);
    sprintf(input, "%s.%s", h, p);
    size_t sig_len;
    unsigned char *sig = sign(alg, pkey, secret, secret_len, input, &sig_len, RSA_PSS_SALTLEN_DIGEST);
    char *s = b64u(sig, sig_len);
    char *tok = malloc(strlen(input) + strlen(s) + 2);
    sprintf(tok, "%s.%s", input, s);
    free(h), free(p), free(input), free(sig), free(s);
    return tok;
}

/* A token with {"alg":alg[,"kid":kid]} and `payload`. */
static char *mint(ug_jwt_alg_t alg, EVP_PKEY *pkey, const char *secret, const char *kid, const char *payload)
{
    char header[128];
    if (kid != NULL)
        snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", ug_jwt_alg_name(alg), kid);
    else
        snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", ug_jwt_alg_name(alg));
    return mint_raw(alg, pkey, secret, secret != NULL ? strlen(secret) : 0, header, payload);
}

static char *bn_b64u(EVP_PKEY *k, const char *param, int width)
{
    BIGNUM *bn = NULL;
    cr_assert_eq(EVP_PKEY_get_bn_param(k, param, &bn), 1);
    unsigned char buf[1024];
    int n = width > 0 ? BN_bn2binpad(bn, buf, width) : BN_bn2bin(bn, buf);
    BN_free(bn);
    return b64u(buf, (size_t)n);
}

/* A JWK object for the public half of `k`; `kid`, `alg`, `use` may be NULL. */
static json_t *jwk_of(EVP_PKEY *k, const char *kid, const char *alg, const char *use)
{
    json_t *j = json_object();
    if (EVP_PKEY_is_a(k, "RSA")) {
        char *n = bn_b64u(k, OSSL_PKEY_PARAM_RSA_N, 0), *e = bn_b64u(k, OSSL_PKEY_PARAM_RSA_E, 0);
        json_object_set_new(j, "kty", json_string("RSA"));
        json_object_set_new(j, "n", json_string(n));
        json_object_set_new(j, "e", json_string(e));
        free(n), free(e);
    } else if (EVP_PKEY_is_a(k, "EC")) {
        int w = EVP_PKEY_get_bits(k) == 256 ? 32 : 48;
        char *x = bn_b64u(k, OSSL_PKEY_PARAM_EC_PUB_X, w), *y = bn_b64u(k, OSSL_PKEY_PARAM_EC_PUB_Y, w);
        json_object_set_new(j, "kty", json_string("EC"));
        json_object_set_new(j, "crv", json_string(w == 32 ? "P-256" : "P-384"));
        json_object_set_new(j, "x", json_string(x));
        json_object_set_new(j, "y", json_string(y));
        free(x), free(y);
    } else {
        unsigned char raw[32];
        size_t n = sizeof(raw);
        cr_assert_eq(EVP_PKEY_get_raw_public_key(k, raw, &n), 1);
        char *x = b64u(raw, n);
        json_object_set_new(j, "kty", json_string("OKP"));
        json_object_set_new(j, "crv", json_string("Ed25519"));
        json_object_set_new(j, "x", json_string(x));
        free(x);
    }
    if (kid)
        json_object_set_new(j, "kid", json_string(kid));
    if (alg)
        json_object_set_new(j, "alg", json_string(alg));
    if (use)
        json_object_set_new(j, "use", json_string(use));
    return j;
}

/* A keyset from a JWK Set holding `jwks` (consumed). */
static ug_jwt_keyset_t *jwks_keyset(json_t *keys)
{
    json_t *set = json_pack("{s:o}", "keys", keys);
    char *text = json_dumps(set, 0);
    ug_jwt_keyset_t *ks = ug_jwt_keyset_new();
    const char *why = NULL;
    cr_assert_eq(ug_jwt_keyset_add_jwks(ks, text, strlen(text), &why), 0, "jwks: %s", why);
    free(text);
    json_decref(set);
    return ks;
}

static ug_jwt_keyset_t *pem_keyset(EVP_PKEY *k)
{
    char *pem = pem_of(k);
    ug_jwt_keyset_t *ks = ug_jwt_keyset_new();
    const char *why = NULL;
    cr_assert_eq(ug_jwt_keyset_add_pem(ks, pem, strlen(pem), &why), 0, "pem: %s", why);
    free(pem);
    return ks;
}

static ug_jwt_keyset_t *secret_keyset(const char *secret)
{
    ug_jwt_keyset_t *ks = ug_jwt_keyset_new();
    const char *why = NULL;
    cr_assert_eq(ug_jwt_keyset_add_secret(ks, secret, strlen(secret), NULL, &why), 0, "secret: %s", why);
    return ks;
}

static ug_jwt_policy_t policy;

static void reset_policy(void)
{
    memset(&policy, 0, sizeof(policy));
    policy.algorithms = UG_JWT_ALGS_ALL;
}

TestSuite(jwt, .init = reset_policy);

/* Verify `tok` against one keyset; returns the status, *why set. Frees tok. */
static ug_jwt_status_t run(char *tok, const ug_jwt_keyset_t *ks, const char **why, ug_jwt_verified_t *out)
{
    ug_jwt_verified_t local;
    const ug_jwt_keyset_t *sets[] = {ks};
    *why = "";
    ug_jwt_status_t st = ug_jwt_verify(tok, strlen(tok), sets, 1, &policy, NOW, out != NULL ? out : &local, why);
    if (out == NULL)
        ug_jwt_verified_clear(&local);
    free(tok);
    return st;
}

#define VALID_PAYLOAD "{\"sub\":\"alice\",\"exp\":1700000100,\"iat\":1699999990}"

#define expect_invalid(tok, ks, want)                                                                                  \
    do {                                                                                                               \
        const char *why_;                                                                                              \
        ug_jwt_status_t st_ = run((tok), (ks), &why_, NULL);                                                           \
        cr_assert_eq(st_, UG_JWT_INVALID, "status %d (%s)", st_, why_);                                                \
        cr_assert_str_eq(why_, (want));                                                                                \
    } while (0)

#define expect_ok(tok, ks)                                                                                             \
    do {                                                                                                               \
        const char *why_;                                                                                              \
        ug_jwt_status_t st_ = run((tok), (ks), &why_, NULL);                                                           \
        cr_assert_eq(st_, UG_JWT_OK, "status %d (%s)", st_, why_);                                                     \
    } while (0)

/* ---- base64url ---- */

Test(b64url, strict_decoding)
{
    unsigned char out[16];
    size_t n;
    cr_assert_eq(ug_b64url_decode("aGk", 3, out, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(out, "hi", 2), 0);
    cr_assert_eq(ug_b64url_decode("", 0, out, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(ug_b64url_decode("aGk=", 4, out, &n), -1, "padding");
    cr_assert_eq(ug_b64url_decode("aGl", 3, out, &n), -1, "non-zero unused bits");
    cr_assert_eq(ug_b64url_decode("aGkxa", 5, out, &n), -1, "length %% 4 == 1");
    cr_assert_eq(ug_b64url_decode("a+k", 3, out, &n), -1, "standard alphabet");
    cr_assert_eq(ug_b64url_decode("a k", 3, out, &n), -1, "whitespace");
    cr_assert_eq(ug_b64url_decode("-_8", 3, out, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0], 0xfb);
    cr_assert_eq(out[1], 0xff);
}

Test(b64url, round_trip_against_openssl)
{
    unsigned char in[64], out[64];
    char enc[100];
    for (size_t len = 0; len < sizeof(in); len++) {
        for (size_t i = 0; i < len; i++)
            in[i] = (unsigned char)(i * 37 + len * 11 + 0xf0);
        size_t n = ug_b64url_encode(in, len, enc), m;
        char *ref = b64u(in, len);
        cr_assert_str_eq(enc, ref, "len %zu", len);
        cr_assert_eq(n, UG_B64URL_ENCODED_LEN(len));
        cr_assert_eq(ug_b64url_decode(enc, n, out, &m), 0);
        cr_assert_eq(m, len);
        cr_assert_eq(memcmp(in, out, len), 0);
        free(ref);
    }
}

/* ---- every algorithm ---- */

static const ug_jwt_alg_t all_algs[] = {UG_JWT_HS256, UG_JWT_HS384, UG_JWT_HS512, UG_JWT_RS256, UG_JWT_RS384,
                                        UG_JWT_RS512, UG_JWT_PS256, UG_JWT_ES256, UG_JWT_ES384, UG_JWT_EDDSA};

/* A signing key for the public-key `alg`: the RSA algorithms share `rsa`, as a 2048-bit keygen per algorithm is slow;
 * the others get a fresh key. Release it with drop_alg_key(). */
static EVP_PKEY *alg_key(ug_jwt_alg_t alg, EVP_PKEY *rsa)
{
    return strcmp(key_kind(alg), "RSA") == 0 ? rsa : gen(key_kind(alg));
}

static void drop_alg_key(EVP_PKEY *k, EVP_PKEY *rsa)
{
    if (k != rsa)
        EVP_PKEY_free(k);
}

Test(jwt, alg_names)
{
    for (size_t i = 0; i < sizeof(all_algs) / sizeof(all_algs[0]); i++) {
        const char *name = ug_jwt_alg_name(all_algs[i]);
        cr_assert_eq(ug_jwt_alg_from_name(name, strlen(name)), (int)all_algs[i]);
    }
    cr_assert_eq(ug_jwt_alg_from_name("none", 4), -1);
    cr_assert_eq(ug_jwt_alg_from_name("hs256", 5), -1, "case-sensitive");
    cr_assert_eq(ug_jwt_alg_from_name("ES512", 5), -1);
    cr_assert_eq(ug_jwt_alg_from_name("HS2560", 5), (int)UG_JWT_HS256, "uses len");
}

Test(jwt, every_algorithm_with_pem_or_secret)
{
    EVP_PKEY *rsa = gen("RSA");
    for (size_t i = 0; i < sizeof(all_algs) / sizeof(all_algs[0]); i++) {
        ug_jwt_alg_t alg = all_algs[i];
        int hmac = alg <= UG_JWT_HS512;
        EVP_PKEY *k = hmac ? NULL : alg_key(alg, rsa);
        ug_jwt_keyset_t *ks = hmac ? secret_keyset(SECRET64) : pem_keyset(k);
        ug_jwt_verified_t v;
        const char *why;
        ug_jwt_status_t st = run(mint(alg, k, SECRET64, NULL, VALID_PAYLOAD), ks, &why, &v);
        cr_assert_eq(st, UG_JWT_OK, "%s: %s", ug_jwt_alg_name(alg), why);
        cr_assert_eq(v.alg, alg);
        cr_assert_str_eq(json_string_value(json_object_get(v.claims, "sub")), "alice");
        cr_assert_eq(json_array_size(v.scopes), 0);
        ug_jwt_verified_clear(&v);
        /* One flipped signature bit must fail. */
        char *tok = mint(alg, k, SECRET64, NULL, VALID_PAYLOAD);
        char *last = tok + strlen(tok) - 3;
        *last = *last == 'A' ? 'B' : 'A';
        expect_invalid(tok, ks, "signature verification failed");
        ug_jwt_keyset_free(ks);
        drop_alg_key(k, rsa);
    }
    EVP_PKEY_free(rsa);
}

Test(jwt, every_public_algorithm_with_jwks)
{
    EVP_PKEY *rsa = gen("RSA");
    for (size_t i = 3; i < sizeof(all_algs) / sizeof(all_algs[0]); i++) {
        ug_jwt_alg_t alg = all_algs[i];
        EVP_PKEY *k = alg_key(alg, rsa);
        /* With kid and alg members, and without either. */
        ug_jwt_keyset_t *ks = jwks_keyset(json_pack("[o]", jwk_of(k, "k1", ug_jwt_alg_name(alg), "sig")));
        expect_ok(mint(alg, k, NULL, "k1", VALID_PAYLOAD), ks);
        expect_ok(mint(alg, k, NULL, NULL, VALID_PAYLOAD), ks);
        ug_jwt_keyset_free(ks);
        ks = jwks_keyset(json_pack("[o]", jwk_of(k, NULL, NULL, NULL)));
        expect_ok(mint(alg, k, NULL, NULL, VALID_PAYLOAD), ks);
        expect_ok(mint(alg, k, NULL, "whatever", VALID_PAYLOAD), ks);
        ug_jwt_keyset_free(ks);
        drop_alg_key(k, rsa);
    }
    EVP_PKEY_free(rsa);
}

Test(jwt, pem_certificate)
{
    EVP_PKEY *k = gen("P-384");
    X509 *cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC, (const unsigned char *)"issuer", -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    cr_assert_eq(X509_set_pubkey(cert, k), 1);
    cr_assert(X509_sign(cert, k, EVP_sha384()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_X509(b, cert), 1);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    ug_jwt_keyset_t *ks = ug_jwt_keyset_new();
    const char *why = NULL;
    cr_assert_eq(ug_jwt_keyset_add_pem(ks, data, (size_t)n, &why), 0, "%s", why);
    expect_ok(mint(UG_JWT_ES384, k, NULL, NULL, VALID_PAYLOAD), ks);
    EVP_PKEY *p256 = gen("P-256");
    expect_invalid(mint(UG_JWT_ES256, p256, NULL, NULL, VALID_PAYLOAD), ks, "no key for the token alg");
    EVP_PKEY_free(p256);
    ug_jwt_keyset_free(ks);
    BIO_free(b);
    X509_free(cert);
    EVP_PKEY_free(k);
}

Test(jwt, pss_salt_must_be_hash_length)
{
    EVP_PKEY *k = gen("RSA");
    ug_jwt_keyset_t *ks = pem_keyset(k);
    char *h = b64u_str("{\"alg\":\"PS256\"}"), *p = b64u_str(VALID_PAYLOAD), input[512], tok[1024];
    snprintf(input, sizeof(input), "%s.%s", h, p);
    size_t n;
    unsigned char *sig = sign(UG_JWT_PS256, k, NULL, 0, input, &n, 0);
    char *s = b64u(sig, n);
    snprintf(tok, sizeof(tok), "%s.%s", input, s);
    expect_invalid(strdup(tok), ks, "signature verification failed");
    free(h), free(p), free(sig), free(s);
    ug_jwt_keyset_free(ks);
    EVP_PKEY_free(k);
}

/* ---- claims ---- */

static void claims_case(const char *payload, ug_jwt_status_t want, const char *why_want)
{
    ug_jwt_keyset_t *ks = secret_keyset(SECRET64);
    const char *why;
    ug_jwt_status_t st = run(mint(UG_JWT_HS256, NULL, SECRET64, NULL, payload), ks, &why, NULL);
    cr_assert_eq(st, want, "%s: status %d (%s)", payload, st, why);
    if (why_want != NULL)
        cr_assert_str_eq(why, why_want, "%s", payload);
    ug_jwt_keyset_free(ks);
}

Test(jwt, time_claims)
{
    claims_case("{\"exp\":1699999999}", UG_JWT_INVALID, "the token has expired");
    claims_case("{\"exp\":1700000000}", UG_JWT_INVALID, "the token has expired"); /* exp is exclusive */
    claims_case("{\"exp\":1700000001}", UG_JWT_OK, NULL);
    claims_case("{\"exp\":1700000000.5}", UG_JWT_OK, NULL);
    claims_case("{\"exp\":1699999999.5}", UG_JWT_INVALID, "the token has expired");
    claims_case("{\"sub\":\"x\"}", UG_JWT_INVALID, "the token has no exp claim");
    claims_case("{\"exp\":\"1700000100\"}", UG_JWT_INVALID, "the exp claim is not a number");
    claims_case("{\"exp\":1700000100,\"nbf\":1700000001}", UG_JWT_INVALID, "the token is not valid yet");
    claims_case("{\"exp\":1700000100,\"nbf\":1700000000}", UG_JWT_OK, NULL);
    claims_case("{\"exp\":1700000100,\"nbf\":null}", UG_JWT_INVALID, "the nbf claim is not a number");
    claims_case("{\"exp\":1700000100,\"iat\":1700000001}", UG_JWT_INVALID, "the token was issued in the future");
    claims_case("{\"exp\":1700000100,\"iat\":1700000000}", UG_JWT_OK, NULL);
    claims_case("{\"exp\":1e300}", UG_JWT_OK, NULL);
}

Test(jwt, leeway)
{
    policy.leeway_ms = 30000;
    claims_case("{\"exp\":1699999975}", UG_JWT_OK, NULL);
    claims_case("{\"exp\":1699999970}", UG_JWT_INVALID, "the token has expired");
    claims_case("{\"exp\":1700000100,\"nbf\":1700000030}", UG_JWT_OK, NULL);
    claims_case("{\"exp\":1700000100,\"nbf\":1700000031}", UG_JWT_INVALID, "the token is not valid yet");
    claims_case("{\"exp\":1700000100,\"iat\":1700000030}", UG_JWT_OK, NULL);
    claims_case("{\"exp\":1700000100,\"iat\":1700000031}", UG_JWT_INVALID, "the token was issued in the future");
}

Test(jwt, issuer)
{
    policy.issuer = "https://id.example.com";
    claims_case("{\"exp\":1700000100,\"iss\":\"https://id.example.com\"}", UG_JWT_OK, NULL);
    claims_case("{\"exp\":1700000100,\"iss\":\"https://id.example.com/\"}", UG_JWT_INVALID, "the token has the wrong issuer");
    claims_case("{\"exp\":1700000100,\"iss\":\"HTTPS://ID.EXAMPLE.COM\"}", UG_JWT_INVALID, "the token has the wrong issuer");
    claims_case("{\"exp\":1700000100}", UG_JWT_INVALID, "the token has the wrong issuer");
    claims_case("{\"exp\":1700000100,\"iss\":7}", UG_JWT_INVALID, "the iss or sub claim is not a string");
}

Test(jwt, audience)
{
    policy.audience = "uploads";
    claims_case("{\"exp\":1700000100,\"aud\":\"uploads\"}", UG_JWT_OK, NULL);
    claims_case("{\"exp\":1700000100,\"aud\":[\"other\",\"uploads\"]}", UG_JWT_OK, NULL);
    claims_case("{\"exp\":1700000100,\"aud\":\"downloads\"}", UG_JWT_INVALID, "the token is not meant for this audience");
    claims_case("{\"exp\":1700000100,\"aud\":[\"other\",\"uploadsx\"]}", UG_JWT_INVALID,
                "the token is not meant for this audience");
    claims_case("{\"exp\":1700000100,\"aud\":[]}", UG_JWT_INVALID, "the token is not meant for this audience");
    claims_case("{\"exp\":1700000100}", UG_JWT_INVALID, "the token is not meant for this audience");
    claims_case("{\"exp\":1700000100,\"aud\":{\"a\":1}}", UG_JWT_INVALID, "the aud claim is neither a string nor an array");
    /* RFC 7519 4.1.3: no audience configured, but the token names one → reject. */
    policy.audience = NULL;
    claims_case("{\"exp\":1700000100,\"aud\":\"uploads\"}", UG_JWT_INVALID,
                "the token has an audience and the route expects none");
}

static void scopes_case(const char *payload, const char *want_joined)
{
    ug_jwt_keyset_t *ks = secret_keyset(SECRET64);
    ug_jwt_verified_t v;
    const char *why;
    ug_jwt_status_t st = run(mint(UG_JWT_HS256, NULL, SECRET64, NULL, payload), ks, &why, &v);
    cr_assert_eq(st, UG_JWT_OK, "%s: %s", payload, why);
    char joined[256] = "";
    size_t i;
    json_t *e;
    json_array_foreach (v.scopes, i, e) {
        if (i)
            strcat(joined, ",");
        strcat(joined, json_string_value(e));
    }
    cr_assert_str_eq(joined, want_joined, "%s", payload);
    ug_jwt_verified_clear(&v);
    ug_jwt_keyset_free(ks);
}

Test(jwt, scopes)
{
    scopes_case("{\"exp\":1700000100,\"scope\":\"upload read\"}", "upload,read");
    scopes_case("{\"exp\":1700000100,\"scope\":\"  upload   upload read \"}", "upload,read");
    scopes_case("{\"exp\":1700000100,\"scp\":[\"upload\",\"read\"]}", "upload,read");
    scopes_case("{\"exp\":1700000100,\"scp\":\"upload read\"}", "upload,read");
    scopes_case("{\"exp\":1700000100,\"scope\":\"a\",\"scp\":[\"b\"]}", "a");
    scopes_case("{\"exp\":1700000100,\"scope\":\"\"}", "");
    claims_case("{\"exp\":1700000100,\"scope\":[\"upload\"]}", UG_JWT_INVALID, "the scope or scp claim is malformed");
    claims_case("{\"exp\":1700000100,\"scp\":[\"upload\",3]}", UG_JWT_INVALID, "the scope or scp claim is malformed");
}

Test(jwt, required_scopes)
{
    char *req[] = {"upload", "write"};
    policy.required_scopes = req;
    policy.n_required_scopes = 2;
    claims_case("{\"exp\":1700000100,\"scope\":\"write upload\"}", UG_JWT_OK, NULL);
    claims_case("{\"exp\":1700000100,\"scp\":[\"upload\",\"write\",\"x\"]}", UG_JWT_OK, NULL);
    claims_case("{\"exp\":1700000100,\"scope\":\"upload\"}", UG_JWT_INSUFFICIENT_SCOPE, "the token lacks a required scope");
    claims_case("{\"exp\":1700000100,\"scope\":\"uploadwrite\"}", UG_JWT_INSUFFICIENT_SCOPE, NULL);
    claims_case("{\"exp\":1700000100}", UG_JWT_INSUFFICIENT_SCOPE, NULL);
    /* An expired token is invalid before it is short of scopes. */
    claims_case("{\"exp\":1600000000}", UG_JWT_INVALID, "the token has expired");

    ug_jwt_keyset_t *ks = secret_keyset(SECRET64);
    ug_jwt_verified_t v;
    const char *why;
    cr_assert_eq(run(mint(UG_JWT_HS256, NULL, SECRET64, NULL, "{\"exp\":1700000100,\"sub\":\"bob\",\"scope\":\"read\"}"), ks,
                     &why, &v),
                 UG_JWT_INSUFFICIENT_SCOPE);
    cr_assert_str_eq(json_string_value(json_object_get(v.claims, "sub")), "bob", "claims kept for logging");
    ug_jwt_verified_clear(&v);
    ug_jwt_keyset_free(ks);
}

/* ---- algorithms and keys ---- */

Test(jwt, alg_none_refused)
{
    ug_jwt_keyset_t *ks = secret_keyset(SECRET64);
    char *h = b64u_str("{\"alg\":\"none\"}"), *p = b64u_str(VALID_PAYLOAD), tok[512];
    snprintf(tok, sizeof(tok), "%s.%s.", h, p);
    expect_invalid(strdup(tok), ks, "the token alg none is refused");
    snprintf(tok, sizeof(tok), "%s.%s.c2lnbmF0dXJl", h, p);
    expect_invalid(strdup(tok), ks, "the token alg none is refused");
    free(h);
    h = b64u_str("{\"alg\":\"None\"}");
    snprintf(tok, sizeof(tok), "%s.%s.", h, p);
    expect_invalid(strdup(tok), ks, "the token alg is not supported");
    free(h), free(p);
    ug_jwt_keyset_free(ks);
}

Test(jwt, alg_allow_list)
{
    ug_jwt_keyset_t *ks = secret_keyset(SECRET64);
    policy.algorithms = B(HS256) | B(RS256);
    expect_ok(mint(UG_JWT_HS256, NULL, SECRET64, NULL, VALID_PAYLOAD), ks);
    expect_invalid(mint(UG_JWT_HS384, NULL, SECRET64, NULL, VALID_PAYLOAD), ks, "the token alg is not allowed");
    expect_invalid(mint(UG_JWT_HS512, NULL, SECRET64, NULL, VALID_PAYLOAD), ks, "the token alg is not allowed");
    ug_jwt_keyset_free(ks);
}

Test(jwt, hs256_with_the_rsa_public_key_pem_fails)
{
    EVP_PKEY *k = gen("RSA");
    char *pem = pem_of(k);
    ug_jwt_keyset_t *pemks = pem_keyset(k), *secretks = secret_keyset(SECRET64);
    const ug_jwt_keyset_t *both[] = {secretks, pemks};
    policy.algorithms = B(HS256) | B(RS256);
    /* Only the PEM key: an RSA key never serves as an HMAC secret. */
    expect_invalid(mint(UG_JWT_HS256, NULL, pem, NULL, VALID_PAYLOAD), pemks, "no key for the token alg");
    /* PEM and a secret: the secret is used, and the signature does not match it. */
    char *tok = mint(UG_JWT_HS256, NULL, pem, NULL, VALID_PAYLOAD);
    ug_jwt_verified_t v;
    const char *why;
    cr_assert_eq(ug_jwt_verify(tok, strlen(tok), both, 2, &policy, NOW, &v, &why), UG_JWT_INVALID);
    cr_assert_str_eq(why, "signature verification failed");
    /* Even a JWK of the RSA key with alg HS256 is refused when loaded. */
    json_t *jwk = jwk_of(k, "r", "HS256", NULL);
    json_t *set = json_pack("{s:[o]}", "keys", jwk);
    char *text = json_dumps(set, 0);
    json_decref(set);
    ug_jwt_keyset_t *ks = ug_jwt_keyset_new();
    cr_assert_eq(ug_jwt_keyset_add_jwks(ks, text, strlen(text), &why), -1);
    cr_assert_str_eq(why, "key alg does not fit the key type");
    free(tok), free(pem), free(text);
    ug_jwt_keyset_free(ks), ug_jwt_keyset_free(pemks), ug_jwt_keyset_free(secretks);
    EVP_PKEY_free(k);
}

Test(jwt, wrong_key)
{
    EVP_PKEY *a = gen("RSA"), *b = gen("RSA"), *ea = gen("P-256"), *eb = gen("P-256");
    ug_jwt_keyset_t *ks = pem_keyset(b), *eks = pem_keyset(eb), *sks = secret_keyset(SECRET64);
    expect_invalid(mint(UG_JWT_RS256, a, NULL, NULL, VALID_PAYLOAD), ks, "signature verification failed");
    expect_invalid(mint(UG_JWT_ES256, ea, NULL, NULL, VALID_PAYLOAD), eks, "signature verification failed");
    expect_invalid(mint(UG_JWT_HS256, NULL, "another secret that is long enough!!", NULL, VALID_PAYLOAD), sks,
                   "signature verification failed");
    /* A P-256 key is no key for ES384, nor an RSA key for EdDSA. */
    EVP_PKEY *p384 = gen("P-384"), *ed = gen("ED25519");
    expect_invalid(mint(UG_JWT_ES384, p384, NULL, NULL, VALID_PAYLOAD), eks, "no key for the token alg");
    expect_invalid(mint(UG_JWT_EDDSA, ed, NULL, NULL, VALID_PAYLOAD), ks, "no key for the token alg");
    ug_jwt_keyset_free(ks), ug_jwt_keyset_free(eks), ug_jwt_keyset_free(sks);
    EVP_PKEY_free(a), EVP_PKEY_free(b), EVP_PKEY_free(ea), EVP_PKEY_free(eb), EVP_PKEY_free(p384), EVP_PKEY_free(ed);
}

Test(jwt, kid_selection)
{
    EVP_PKEY *k[3] = {gen("RSA"), gen("RSA"), gen("RSA")};
    ug_jwt_keyset_t *ks = jwks_keyset(
        json_pack("[o,o,o]", jwk_of(k[0], "a", NULL, NULL), jwk_of(k[1], "b", NULL, NULL), jwk_of(k[2], "c", NULL, NULL)));
    cr_assert_eq(ug_jwt_keyset_size(ks), 3);
    expect_ok(mint(UG_JWT_RS256, k[1], NULL, "b", VALID_PAYLOAD), ks);
    expect_ok(mint(UG_JWT_RS256, k[2], NULL, "c", VALID_PAYLOAD), ks);
    expect_invalid(mint(UG_JWT_RS256, k[1], NULL, "a", VALID_PAYLOAD), ks, "signature verification failed");
    expect_invalid(mint(UG_JWT_RS256, k[1], NULL, "zzz", VALID_PAYLOAD), ks, "no key matches the token kid and alg");
    /* No kid: every key that fits the alg is tried (RFC 7515 makes kid optional). */
    expect_ok(mint(UG_JWT_RS256, k[1], NULL, NULL, VALID_PAYLOAD), ks);
    ug_jwt_keyset_free(ks);
    for (int i = 0; i < 3; i++)
        EVP_PKEY_free(k[i]);
}

/* A JWK Set of `n` P-256 keys with kids "k0", "k1", ... */
static ug_jwt_keyset_t *ec_jwks(EVP_PKEY **k, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char kid[24]; /* "k" and any size_t */
        snprintf(kid, sizeof(kid), "k%zu", i);
        json_array_append_new(arr, jwk_of(k[i], kid, NULL, NULL));
    }
    return jwks_keyset(arr);
}

Test(jwt, a_token_without_kid_verifies_with_any_of_up_to_eight_candidate_keys)
{
    EVP_PKEY *k[UG_JWT_MAX_KIDLESS_CANDIDATES + 1], *stranger = gen("P-256"), *rsa = gen("RSA");
    for (size_t i = 0; i < UG_JWT_MAX_KIDLESS_CANDIDATES + 1; i++)
        k[i] = gen("P-256");
    ug_jwt_keyset_t *ks = ec_jwks(k, UG_JWT_MAX_KIDLESS_CANDIDATES);
    for (size_t i = 0; i < UG_JWT_MAX_KIDLESS_CANDIDATES; i++)
        expect_ok(mint(UG_JWT_ES256, k[i], NULL, NULL, VALID_PAYLOAD), ks);
    /* A signature that fits none of them is refused as before, whichever key was tried last. */
    expect_invalid(mint(UG_JWT_ES256, stranger, NULL, NULL, VALID_PAYLOAD), ks, "signature verification failed");
    expect_invalid(mint(UG_JWT_ES256, k[UG_JWT_MAX_KIDLESS_CANDIDATES], NULL, NULL, VALID_PAYLOAD), ks,
                   "signature verification failed");
    ug_jwt_keyset_free(ks);

    /* Candidates are counted over every key set of the route, and only those that fit the alg. */
    ug_jwt_keyset_t *one = ec_jwks(k, UG_JWT_MAX_KIDLESS_CANDIDATES - 1), *pem = pem_keyset(k[7]),
                    *rsa_ks = pem_keyset(rsa);
    const ug_jwt_keyset_t *sets[] = {rsa_ks, one, NULL, pem};
    for (size_t i = 0; i < UG_JWT_MAX_KIDLESS_CANDIDATES; i++) {
        char *tok = mint(UG_JWT_ES256, k[i], NULL, NULL, VALID_PAYLOAD);
        ug_jwt_verified_t v;
        const char *why = "";
        cr_assert_eq(ug_jwt_verify(tok, strlen(tok), sets, 4, &policy, NOW, &v, &why), UG_JWT_OK, "key %zu: %s", i, why);
        ug_jwt_verified_clear(&v);
        free(tok);
    }
    ug_jwt_keyset_free(one), ug_jwt_keyset_free(pem), ug_jwt_keyset_free(rsa_ks);
    for (size_t i = 0; i < UG_JWT_MAX_KIDLESS_CANDIDATES + 1; i++)
        EVP_PKEY_free(k[i]);
    EVP_PKEY_free(stranger), EVP_PKEY_free(rsa);
}

Test(jwt, a_token_without_kid_is_refused_when_more_than_eight_keys_fit)
{
    EVP_PKEY *k[UG_JWT_MAX_KIDLESS_CANDIDATES + 1];
    for (size_t i = 0; i < UG_JWT_MAX_KIDLESS_CANDIDATES + 1; i++)
        k[i] = gen("P-256");
    ug_jwt_keyset_t *ks = ec_jwks(k, UG_JWT_MAX_KIDLESS_CANDIDATES + 1);
    /* Even when the first key signed it: the bound is on candidates, checked before any signature. */
    expect_invalid(mint(UG_JWT_ES256, k[0], NULL, NULL, VALID_PAYLOAD), ks, "the token has no kid and several keys fit its alg");
    /* With a kid the bound does not apply: the kid picks the key. */
    expect_ok(mint(UG_JWT_ES256, k[UG_JWT_MAX_KIDLESS_CANDIDATES], NULL, "k8", VALID_PAYLOAD), ks);
    ug_jwt_keyset_free(ks);
    for (size_t i = 0; i < UG_JWT_MAX_KIDLESS_CANDIDATES + 1; i++)
        EVP_PKEY_free(k[i]);
}

Test(jwt, jwk_alg_member_must_equal_token_alg)
{
    EVP_PKEY *k = gen("RSA");
    ug_jwt_keyset_t *ks = jwks_keyset(json_pack("[o]", jwk_of(k, "a", "RS384", NULL)));
    expect_ok(mint(UG_JWT_RS384, k, NULL, "a", VALID_PAYLOAD), ks);
    expect_invalid(mint(UG_JWT_RS256, k, NULL, "a", VALID_PAYLOAD), ks, "no key matches the token kid and alg");
    expect_invalid(mint(UG_JWT_PS256, k, NULL, NULL, VALID_PAYLOAD), ks, "no key for the token alg");
    ug_jwt_keyset_free(ks);
    EVP_PKEY_free(k);
}

Test(jwt, key_loading_rules)
{
    const char *why = NULL;
    ug_jwt_keyset_t *ks = ug_jwt_keyset_new();
    cr_assert_eq(ug_jwt_keyset_add_secret(ks, "short", 5, NULL, &why), -1);
    cr_assert_str_eq(why, "HMAC secret shorter than 32 bytes (RFC 7518 3.2)");
    cr_assert_eq(ug_jwt_keyset_add_pkey(ks, gen("RSA1024"), NULL, -1, &why), -1);
    cr_assert_str_eq(why, "RSA key shorter than 2048 bits (RFC 7518 3.3)");
    cr_assert_eq(ug_jwt_keyset_add_pkey(ks, gen("P-521"), NULL, -1, &why), -1);
    cr_assert_str_eq(why, "EC key not on P-256 or P-384");
    cr_assert_eq(ug_jwt_keyset_add_pem(ks, "not a pem", 9, &why), -1);
    cr_assert_eq(ug_jwt_keyset_size(ks), 0);
    ug_jwt_keyset_free(ks);

    /* A 32-byte secret is too short for HS384 / HS512 (RFC 7518 3.2). */
    const char *s32 = "0123456789abcdef0123456789abcdef";
    ks = secret_keyset(s32);
    expect_ok(mint(UG_JWT_HS256, NULL, s32, NULL, VALID_PAYLOAD), ks);
    expect_invalid(mint(UG_JWT_HS512, NULL, s32, NULL, VALID_PAYLOAD), ks, "no key for the token alg");
    ug_jwt_keyset_free(ks);
}

Test(jwt, jwks_parsing)
{
    EVP_PKEY *k = gen("ED25519"), *e = gen("P-256");
    const char *why = NULL;
    ug_jwt_keyset_t *ks = ug_jwt_keyset_new();
    cr_assert_eq(ug_jwt_keyset_add_jwks(ks, "[]", 2, &why), -1);
    cr_assert_str_eq(why, "not a JWK Set (a JSON object with a keys array)");
    cr_assert_eq(ug_jwt_keyset_add_jwks(ks, "{\"keys\":[]}", 11, &why), -1);
    cr_assert_str_eq(why, "the JWK Set has no keys");
    const char *oct = "{\"keys\":[{\"kty\":\"oct\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}";
    cr_assert_eq(ug_jwt_keyset_add_jwks(ks, oct, strlen(oct), &why), -1, "no symmetric keys from a JWK Set");
    cr_assert_eq(ug_jwt_keyset_size(ks), 0);
    ug_jwt_keyset_free(ks);

    /* An encryption key and unusable keys are skipped, the rest is loaded. */
    json_t *bad_point = jwk_of(e, "p", NULL, NULL);
    json_object_set_new(bad_point, "y", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    json_t *ops = jwk_of(e, "ops", NULL, NULL);
    json_object_set_new(ops, "key_ops", json_pack("[s]", "encrypt"));
    ks = jwks_keyset(json_pack("[o,o,o,o,o]", jwk_of(e, "enc", NULL, "enc"), bad_point, ops,
                               json_pack("{s:s,s:s,s:s}", "kty", "OKP", "crv", "X25519", "x", "AAAA"),
                               jwk_of(k, "ed", NULL, "sig")));
    cr_assert_eq(ug_jwt_keyset_size(ks), 1);
    expect_ok(mint(UG_JWT_EDDSA, k, NULL, "ed", VALID_PAYLOAD), ks);
    expect_invalid(mint(UG_JWT_ES256, e, NULL, "enc", VALID_PAYLOAD), ks, "no key matches the token kid and alg");
    ug_jwt_keyset_free(ks);
    EVP_PKEY_free(k), EVP_PKEY_free(e);
}

/* ---- malformed tokens ---- */

Test(jwt, malformed)
{
    ug_jwt_keyset_t *ks = secret_keyset(SECRET64);
    char *good = mint(UG_JWT_HS256, NULL, SECRET64, NULL, VALID_PAYLOAD);
    char *dot2 = strrchr(good, '.'), buf[40000];

    snprintf(buf, sizeof(buf), "%.*s", (int)(dot2 - good), good);
    expect_invalid(strdup(buf), ks, "the token is not a JWS in compact serialization");
    snprintf(buf, sizeof(buf), "%s.AAAA", good);
    expect_invalid(strdup(buf), ks, "the token is not a JWS in compact serialization");
    expect_invalid(strdup(""), ks, "the token is not a JWS in compact serialization");
    expect_invalid(strdup(".."), ks, "the token is not a JWS in compact serialization");
    snprintf(buf, sizeof(buf), "%s", good);
    buf[2] = '*';
    expect_invalid(strdup(buf), ks, "the token header is not base64url JSON object");
    snprintf(buf, sizeof(buf), "%s", good);
    buf[strlen(buf) - 1] = '+';
    expect_invalid(strdup(buf), ks, "the token signature is missing or not base64url");
    snprintf(buf, sizeof(buf), "%.*s.", (int)(dot2 - good), good);
    expect_invalid(strdup(buf), ks, "the token signature is missing or not base64url");

    /* Header and claims that are not JSON objects, or are ambiguous JSON. */
    expect_invalid(mint_raw(UG_JWT_HS256, NULL, SECRET64, 64, "{\"alg\":\"HS256\"", VALID_PAYLOAD), ks,
                   "the token header is not base64url JSON object");
    expect_invalid(mint_raw(UG_JWT_HS256, NULL, SECRET64, 64, "[\"HS256\"]", VALID_PAYLOAD), ks,
                   "the token header is not base64url JSON object");
    expect_invalid(mint_raw(UG_JWT_HS256, NULL, SECRET64, 64, "{\"alg\":\"none\",\"alg\":\"HS256\"}", VALID_PAYLOAD), ks,
                   "the token header is not base64url JSON object");
    expect_invalid(mint_raw(UG_JWT_HS256, NULL, SECRET64, 64, "{\"typ\":\"JWT\"}", VALID_PAYLOAD), ks,
                   "the token header has no alg");
    expect_invalid(mint_raw(UG_JWT_HS256, NULL, SECRET64, 64, "{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}",
                            VALID_PAYLOAD),
                   ks, "the token header has a crit member");
    expect_invalid(mint_raw(UG_JWT_HS256, NULL, SECRET64, 64, "{\"alg\":\"HS256\",\"kid\":5}", VALID_PAYLOAD), ks,
                   "the token kid is not a string");
    expect_invalid(mint_raw(UG_JWT_HS256, NULL, SECRET64, 64, "{\"alg\":\"HS256\"}", "{\"exp\":1700000100"), ks,
                   "the token claims are not a base64url JSON object");
    expect_invalid(mint_raw(UG_JWT_HS256, NULL, SECRET64, 64, "{\"alg\":\"HS256\"}", "\"x\""), ks,
                   "the token claims are not a base64url JSON object");
    expect_invalid(mint_raw(UG_JWT_HS256, NULL, SECRET64, 64, "{\"alg\":\"HS256\"}", "{\"exp\":1,\"exp\":1700000100}"), ks,
                   "the token claims are not a base64url JSON object");

    /* A huge header is refused by size before any decoding. */
    char *huge = malloc(30000);
    strcpy(huge, "{\"alg\":\"HS256\",\"x\":\"");
    memset(huge + strlen(huge), 'a', 20000);
    strcpy(huge + 20020, "\"}");
    expect_invalid(mint_raw(UG_JWT_HS256, NULL, SECRET64, 64, huge, VALID_PAYLOAD), ks, "the token is too large");
    free(huge);
    free(good);
    ug_jwt_keyset_free(ks);
}

Test(jwt, ecdsa_signature_shapes)
{
    EVP_PKEY *k = gen("P-256");
    ug_jwt_keyset_t *ks = pem_keyset(k);
    char *tok = mint(UG_JWT_ES256, k, NULL, NULL, VALID_PAYLOAD), buf[1024];
    char *dot2 = strrchr(tok, '.');
    /* A DER signature where R || S is expected, and a truncated one. */
    char *input = strndup(tok, (size_t)(dot2 - tok));
    size_t n;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[128];
    n = sizeof(der);
    cr_assert_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k), 1);
    cr_assert_eq(EVP_DigestSign(ctx, der, &n, (unsigned char *)input, strlen(input)), 1);
    char *s = b64u(der, n);
    snprintf(buf, sizeof(buf), "%s.%s", input, s);
    expect_invalid(strdup(buf), ks, "signature verification failed");
    size_t raw_len;
    unsigned char *raw = sign(UG_JWT_ES256, k, NULL, 0, input, &raw_len, 0);
    cr_assert_eq(raw_len, 64);
    free(s);
    s = b64u(raw, 63);
    snprintf(buf, sizeof(buf), "%s.%s", input, s);
    expect_invalid(strdup(buf), ks, "signature verification failed");
    free(raw);
    /* R = S = 0 must not verify. */
    unsigned char zero[64] = {0};
    free(s);
    s = b64u(zero, 64);
    snprintf(buf, sizeof(buf), "%s.%s", input, s);
    expect_invalid(strdup(buf), ks, "signature verification failed");
    EVP_MD_CTX_free(ctx);
    free(s), free(input), free(tok);
    ug_jwt_keyset_free(ks);
    EVP_PKEY_free(k);
}
