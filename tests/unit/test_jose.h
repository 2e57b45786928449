/*
 * test_jose.h - helpers shared by the tests that mint JWTs (test_jwt.c,
 * test_auth.c). The base64url encoder here is deliberately independent of
 * src/policy/b64url.c (EVP_EncodeBlock + alphabet translation), so that a bug
 * there cannot cancel itself out in a round trip. static inline: a test that
 * uses only some of them still builds with -Werror.
 */
#ifndef UG_TEST_JOSE_H
#define UG_TEST_JOSE_H

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

/* base64url without padding (RFC 7515 2); caller frees. */
static inline char *b64u(const unsigned char *in, size_t len)
{
    char *out = malloc(len / 3 * 4 + 8);
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

static inline char *b64u_str(const char *s)
{
    return b64u((const unsigned char *)s, strlen(s));
}

/* The public half of `k` as a PEM SubjectPublicKeyInfo; caller frees. */
static inline char *pem_of(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_PUBKEY(b, k), 1);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = strndup(data, (size_t)n);
    BIO_free(b);
    return s;
}

#endif
