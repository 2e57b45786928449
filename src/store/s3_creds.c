/* S3 credentials from a file or the environment (see s3_creds.h). */
#include "store/s3_creds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const key_names[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"};

static char **key_field(ug_s3_keys_t *k, size_t i)
{
    return i == 0 ? &k->access_key : i == 1 ? &k->secret_key : &k->session_token;
}

static void trim(const char **s, const char **end)
{
    while (*s < *end && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*end > *s && ((*end)[-1] == ' ' || (*end)[-1] == '\t' || (*end)[-1] == '\r'))
        (*end)--;
}

void ug_s3_keys_clear(ug_s3_keys_t *k)
{
    if (k->secret_key != NULL) /* do not leave the secret in freed memory for the next malloc to hand out */
        memset(k->secret_key, 0, strlen(k->secret_key));
    free(k->access_key);
    free(k->secret_key);
    free(k->session_token);
    memset(k, 0, sizeof(*k));
}

/* One "KEY=VALUE" line into k. NULL, or why it is not one. */
static const char *parse_line(const char *s, const char *end, ug_s3_keys_t *k)
{
    const char *eq = memchr(s, '=', (size_t)(end - s));
    if (eq == NULL)
        return "expected KEY=VALUE";
    const char *ks = s, *ke = eq, *vs = eq + 1, *ve = end;
    trim(&ks, &ke);
    trim(&vs, &ve);
    if (ve - vs >= 2 && (*vs == '"' || *vs == '\'') && ve[-1] == *vs) {
        vs++;
        ve--;
    }
    for (const char *p = vs; p < ve; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return "the value contains a control character";
    for (size_t i = 0; i < 3; i++) {
        if ((size_t)(ke - ks) != strlen(key_names[i]) || memcmp(ks, key_names[i], (size_t)(ke - ks)) != 0)
            continue;
        char **f = key_field(k, i);
        if (*f != NULL)
            return "the key is given twice";
        if (ve == vs)
            return "the value is empty";
        return (*f = strndup(vs, (size_t)(ve - vs))) == NULL ? "out of memory" : NULL;
    }
    return "unknown key (expected AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN)";
}

int ug_s3_keys_parse(const char *text, size_t len, ug_s3_keys_t *out, char *why, size_t why_len)
{
    ug_s3_keys_t k = {0};
    const char *p = text, *end = text + len;
    for (unsigned line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl != NULL ? nl : end, *s = p, *e = le;
        p = nl != NULL ? nl + 1 : end;
        trim(&s, &e);
        if (s == e || *s == '#')
            continue;
        const char *bad = parse_line(s, e, &k);
        if (bad != NULL) {
            snprintf(why, why_len, "line %u: %s", line, bad);
            ug_s3_keys_clear(&k);
            return -1;
        }
    }
    if (k.access_key == NULL || k.secret_key == NULL) {
        snprintf(why, why_len, "%s is missing", k.access_key == NULL ? key_names[0] : key_names[1]);
        ug_s3_keys_clear(&k);
        return -1;
    }
    *out = k;
    return 0;
}

static int load_env(ug_s3_keys_t *out, char *why, size_t why_len)
{
    ug_s3_keys_t k = {0};
    for (size_t i = 0; i < 3; i++) {
        const char *v = getenv(key_names[i]);
        if (v == NULL || v[0] == '\0')
            continue;
        if ((*key_field(&k, i) = strdup(v)) == NULL) {
            snprintf(why, why_len, "out of memory");
            ug_s3_keys_clear(&k);
            return -1;
        }
    }
    if (k.access_key == NULL || k.secret_key == NULL) {
        snprintf(why, why_len, "no S3 credentials: set storage.s3.credentials_file, or AWS_ACCESS_KEY_ID and "
                               "AWS_SECRET_ACCESS_KEY in the environment");
        ug_s3_keys_clear(&k);
        return -1;
    }
    *out = k;
    return 0;
}

int ug_s3_keys_load(const char *path, ug_s3_keys_t *out, char *why, size_t why_len)
{
    char buf[UG_S3_CREDS_MAX + 1], reason[160];
    if (path == NULL)
        return load_env(out, why, why_len);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, why_len, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t len = fread(buf, 1, sizeof(buf), f);
    int failed = ferror(f);
    fclose(f);
    int rc = -1;
    if (failed)
        snprintf(why, why_len, "%s: cannot read", path);
    else if (len > UG_S3_CREDS_MAX)
        snprintf(why, why_len, "%s: larger than %d bytes; is this the credentials file?", path, UG_S3_CREDS_MAX);
    else if (ug_s3_keys_parse(buf, len, out, reason, sizeof(reason)) != 0)
        snprintf(why, why_len, "%s: %s", path, reason);
    else
        rc = 0;
    memset(buf, 0, sizeof(buf));
    return rc;
}
