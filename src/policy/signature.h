/*
 * signature.h - X-Uploadgate-Signature: lets the app check that a manifest
 * came from uploadgate and was not replayed long after.
 *
 *   X-Uploadgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<exact body bytes>")>
 *
 * The scheme (timestamp inside the MAC, versioned field) follows common
 * webhook signing practice so apps can reuse verification code they know.
 */
#ifndef UG_POLICY_SIGNATURE_H
#define UG_POLICY_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

/* "t=" + 20 digits + ",v1=" + 64 hex + NUL */
#define UG_SIGNATURE_MAX 96

/*
 * Read the key file: its bytes with trailing CR/LF removed (a key written by
 * `echo` or a Kubernetes secret ends in a newline the operator did not mean).
 * An empty key is an error. On success *key is malloc'd (caller frees).
 * Returns 0, or -1 with a message in err.
 */
int ug_signature_load_key(const char *path, unsigned char **key, size_t *key_len, char *err, size_t errlen);

/* Render the header value into out (UG_SIGNATURE_MAX bytes). Returns 0, or -1 if OpenSSL fails. */
int ug_signature_render(const unsigned char *key, size_t key_len, int64_t t, const char *body, size_t body_len, char *out);

#endif
