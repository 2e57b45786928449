/*
 * signature.c - see signature.h. HMAC through OpenSSL 3's EVP_MAC, fed the
 * timestamp prefix and the body separately so the body is never copied.
 */
#include "policy/signature.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEY_FILE (64 * 1024)

int ug_signature_load_key(const char *path, unsigned char **key, size_t *key_len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t n = 0;
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if ((buf = malloc(MAX_KEY_FILE + 1)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto Error;
    }
    n = fread(buf, 1, MAX_KEY_FILE + 1, f);
    if (ferror(f) || n > MAX_KEY_FILE) {
        snprintf(err, errlen, "%s: %s", path, ferror(f) ? "cannot read" : "larger than 64 KiB; is this the key?");
        goto Error;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        --n;
    if (n == 0) {
        snprintf(err, errlen, "%s: the key is empty", path);
        goto Error;
    }
    fclose(f);
    *key = buf;
    *key_len = n;
    return 0;
Error:
    fclose(f);
    if (buf != NULL)
        OPENSSL_cleanse(buf, MAX_KEY_FILE + 1);
    free(buf);
    return -1;
}

int ug_signature_render(const unsigned char *key, size_t key_len, int64_t t, const char *body, size_t body_len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    char prefix[32];
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    int ok = 0;
    int plen = snprintf(prefix, sizeof(prefix), "%" PRId64 ".", t);

    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0), OSSL_PARAM_construct_end()};
    if (ctx != NULL && EVP_MAC_init(ctx, key, key_len, params) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)plen) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)body, body_len) == 1 && EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) == 1 &&
        mac_len == 32) {
        int n = snprintf(out, UG_SIGNATURE_MAX, "t=%" PRId64 ",v1=", t);
        for (size_t i = 0; i < mac_len; ++i) {
            out[n++] = hex[mac[i] >> 4];
            out[n++] = hex[mac[i] & 15];
        }
        out[n] = '\0';
        ok = 1;
    }
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
    return ok ? 0 : -1;
}
