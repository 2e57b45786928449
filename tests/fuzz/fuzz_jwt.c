/*
 * fuzz_jwt.c - libFuzzer target for bearer authentication: arbitrary bytes as
 * a JWS, as an Authorization value through the whole checker, as a JWK Set,
 * as static-token text, and as header / claims JSON that the harness signs
 * itself so the claim checks past the signature are reached too.
 *
 * The first input byte picks the mode (see LLVMFuzzerTestOneInput). The keys
 * are fixed: an HS256/384/512 secret, plus an Ed25519 and a P-256 JWK.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I src tests/fuzz/fuzz_jwt.c \
 *       src/policy/auth.c src/policy/jwt.c src/policy/jwks.c src/policy/b64url.c src/common/errors.c \
 *       -lcrypto -ljansson -o /tmp/fuzz_jwt
 *   /tmp/fuzz_jwt -max_total_time=60 tests/fuzz/corpus/jwt
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/auth.h"
#include "policy/b64url.h"
#include "policy/jwks.h"

#define NOW 1700000000

static const char SECRET[] = "fuzz-secret-0123456789abcdef0123456789abcdef0123456789abcdef0123";
static const char JWKS[] =
    "{\"keys\":["
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\",\"x\":\"Uw4ASUjrShr_j9JvJ8MDChRNvOq3H2xBNjy497WEr-o\"},"
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec\",\"alg\":\"ES256\","
    "\"x\":\"vgLNYJsR_Dr63j0HlXUtYhz97tsSZfL7fPAEFLzuJL4\",\"y\":\"rWeNZmOPl9ra4r1Wn34KtN4KQ5qdZ5C5AL7ufP1wQg4\"}]}";

static ug_auth_config_t cfg;
static ug_auth_checker_t *checker;
static const ug_jwt_keyset_t *keysets[2];

static char *write_temp(const char *dir, const char *name, const char *text)
{
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
    return path;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dir[] = "/tmp/ug-fuzz-jwt-XXXXXX", err[256];
    const char *why;
    ug_jwt_keyset_t *secret = ug_jwt_keyset_new(), *jwks = ug_jwt_keyset_new();
    (void)argc, (void)argv;

    if (mkdtemp(dir) == NULL)
        abort();
    setenv("UG_FUZZ_TOKENS", "static-token-1,static-token-2", 1);
    cfg.tokens_env = strdup("UG_FUZZ_TOKENS");
    cfg.jwt.algorithms = UG_JWT_ALGS_HMAC | UG_JWT_ALG_BIT(UG_JWT_EDDSA) | UG_JWT_ALG_BIT(UG_JWT_ES256);
    cfg.jwt.issuer = strdup("https://id.example.com");
    cfg.jwt.audience = strdup("uploads");
    cfg.jwt.required_scopes = calloc(1, sizeof(char *));
    cfg.jwt.required_scopes[0] = strdup("upload");
    cfg.jwt.n_required_scopes = 1;
    cfg.jwt.leeway_ms = 30000;
    cfg.jwt_secret_file = write_temp(dir, "secret", SECRET);
    cfg.jwt_jwks_file = write_temp(dir, "jwks.json", JWKS);
    /* `now` never changes below, so the checker never looks at its files again. */
    if ((checker = ug_auth_checker_new(&cfg, NOW, err, sizeof(err))) == NULL) {
        fprintf(stderr, "checker: %s\n", err);
        abort();
    }
    unlink(cfg.jwt_secret_file);
    unlink(cfg.jwt_jwks_file);
    rmdir(dir);
    if (ug_jwt_keyset_add_secret(secret, SECRET, strlen(SECRET), NULL, &why) != 0 ||
        ug_jwt_keyset_add_jwks(jwks, JWKS, strlen(JWKS), &why) != 0)
        abort();
    keysets[0] = secret;
    keysets[1] = jwks;
    return 0;
}

static void check_header(const uint8_t *data, size_t size)
{
    ug_auth_result_t r = {0};
    ug_auth_check(checker, (const char *)data, size, NOW, &r);
    free(ug_auth_www_authenticate(&r, NULL));
    free(ug_auth_subject_header(&r));
    free(ug_auth_scopes_header(&r));
    if (r.status == UG_AUTH_OK)
        json_decref(ug_auth_manifest_json(&r));
    ug_auth_result_clear(&r);
}

static void verify(const char *token, size_t len)
{
    ug_jwt_verified_t v;
    const char *why = NULL;
    ug_jwt_status_t st = ug_jwt_verify(token, len, keysets, 2, &cfg.jwt, NOW, &v, &why);
    if (st != UG_JWT_OK && (why == NULL || strchr(why, '"') != NULL))
        abort(); /* every failure is explained, in a header-safe way */
    ug_jwt_verified_clear(&v);
}

/* header JSON \0 claims JSON: encode, sign with the secret and verify, so the claim checks run. */
static void sign_and_verify(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t hlen = nul != NULL ? (size_t)(nul - data) : size, plen = nul != NULL ? size - hlen - 1 : 0;
    char *tok = malloc(UG_B64URL_ENCODED_LEN(hlen) + UG_B64URL_ENCODED_LEN(plen) + 100);
    size_t o = ug_b64url_encode(data, hlen, tok);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;

    tok[o++] = '.';
    o += ug_b64url_encode(nul != NULL ? nul + 1 : data, plen, tok + o);
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)tok, o, mac, &mac_len);
    tok[o++] = '.';
    o += ug_b64url_encode(mac, mac_len, tok + o);
    verify(tok, o);
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t mode = data[0] % 5;
    data++, size--;
    switch (mode) {
    case 0: /* a raw JWS */
        verify((const char *)data, size);
        break;
    case 1: /* an Authorization value through the checker */
        check_header(data, size);
        break;
    case 2: { /* a JWK Set */
        ug_jwt_keyset_t *ks = ug_jwt_keyset_new();
        const char *why;
        (void)ug_jwt_keyset_add_jwks(ks, (const char *)data, size, &why);
        ug_jwt_keyset_free(ks);
        break;
    }
    case 3: { /* static-token text, base64url */
        const char *why;
        ug_auth_tokens_t *set = ug_auth_tokens_parse((const char *)data, size, size % 2 ? ',' : '\n', &why);
        (void)ug_auth_tokens_match(set, (const char *)data, size, NULL);
        ug_auth_tokens_free(set);
        unsigned char *buf = malloc(UG_B64URL_DECODED_MAX(size));
        size_t n;
        if (ug_b64url_decode((const char *)data, size, buf, &n) == 0) {
            /* Strict decoding means exactly one encoding per byte string. */
            char *enc = malloc(UG_B64URL_ENCODED_LEN(n) + 1);
            if (ug_b64url_encode(buf, n, enc) != size || memcmp(enc, data, size) != 0)
                abort();
            free(enc);
        }
        free(buf);
        break;
    }
    default:
        sign_and_verify(data, size);
        break;
    }
    return 0;
}
