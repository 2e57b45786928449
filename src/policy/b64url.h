/*
 * b64url.h - base64url without padding, as JWS uses it (RFC 7515 section 2
 * and appendix C; alphabet of RFC 4648 section 5). Pure functions.
 */
#ifndef UG_POLICY_B64URL_H
#define UG_POLICY_B64URL_H

#include <stddef.h>

/* Bytes needed to decode `len` characters (an upper bound). */
#define UG_B64URL_DECODED_MAX(len) ((len) / 4 * 3 + 3)
/* Characters produced by encoding `len` bytes, without the NUL. */
#define UG_B64URL_ENCODED_LEN(len) ((len) / 3 * 4 + ((len) % 3 == 0 ? 0 : (len) % 3 + 1))

/*
 * Decode `len` characters into `out` (room for UG_B64URL_DECODED_MAX(len)
 * bytes). Strict: only the base64url alphabet, no padding, no whitespace, no
 * impossible length (len % 4 == 1) and no non-zero unused bits in the last
 * character, so every byte string has exactly one accepted encoding.
 * Returns 0 and the decoded length in *out_len, or -1.
 */
int ug_b64url_decode(const char *in, size_t len, unsigned char *out, size_t *out_len);

/*
 * Encode `len` bytes into `out` (room for UG_B64URL_ENCODED_LEN(len) + 1) and
 * NUL-terminate it. Returns the number of characters written.
 */
size_t ug_b64url_encode(const unsigned char *in, size_t len, char *out);

#endif
