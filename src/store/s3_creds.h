/* S3 credentials: from a credentials file (KEY=VALUE lines) or from the environment.
 *
 * The file's format is the environment's names as lines: AWS_ACCESS_KEY_ID=..., AWS_SECRET_ACCESS_KEY=...,
 * optionally AWS_SESSION_TOKEN=...; blank lines and lines starting with '#' (after optional spaces) are ignored;
 * spaces around the key and the value are trimmed; a value may be wrapped in one pair of double or single quotes
 * (shell style, no escapes). Any other key, a line without '=', a key given twice, or a missing required key is an
 * error naming the line. A value may contain '=' and ':' (Swift's tempauth keys look like "test:tester").
 *
 * Ownership: a filled ug_s3_keys_t owns its strings; ug_s3_keys_clear() frees them (and wipes the secret). */
#ifndef UG_STORE_S3_CREDS_H
#define UG_STORE_S3_CREDS_H

#include <stddef.h>

typedef struct ug_s3_keys {
    char *access_key;
    char *secret_key;
    char *session_token; /* NULL: none */
} ug_s3_keys_t;

/* The largest credentials file read: a few lines; a bigger file is the wrong file. */
#define UG_S3_CREDS_MAX 16384

/* Parse `len` bytes of file text. 0 with *out filled, or -1 with "line N: reason" in why (nothing to free). */
int ug_s3_keys_parse(const char *text, size_t len, ug_s3_keys_t *out, char *why, size_t why_len);
/* Read `path` (NULL: the environment). 0, or -1 with a reason naming the file or the variables in why. */
int ug_s3_keys_load(const char *path, ug_s3_keys_t *out, char *why, size_t why_len);
void ug_s3_keys_clear(ug_s3_keys_t *k);

#endif
