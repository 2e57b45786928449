/*
 * resumable/tus.c - tus 1.0.0 header syntax (see tus.h).
 */
#include "resumable/tus.h"

#include "policy/b64url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 18 digits stay below 2^63: no overflow check is needed, and nothing stored is that large anyway. */
#define TUS_UINT_DIGITS_MAX 18

ug_tus_parse_result_t ug_tus_parse_uint(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > TUS_UINT_DIGITS_MAX)
        return UG_TUS_PARSE_INVALID;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return UG_TUS_PARSE_INVALID;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return UG_TUS_PARSE_OK;
}

/* ---- base64 ---- */

/* Standard base64 is base64url with '+' and '/' for '-' and '_', and padding: the padding is checked here, the rest
 * (alphabet, unused bits zero) by the one strict decoder, ug_b64url_decode. */
int ug_tus_base64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len)
{
    size_t pad = 0;
    if (len % 4 != 0)
        return -1;
    while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
        ++pad;
    size_t n = len - pad;
    char *url = malloc(n != 0 ? n : 1);
    if (url == NULL)
        return -1;
    for (size_t i = 0; i < n; ++i) {
        char c = in[i];
        if (c == '-' || c == '_' || c == '=') { /* base64url's letters, or padding before the end */
            free(url);
            return -1;
        }
        url[i] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    int r = ug_b64url_decode(url, n, out, out_len);
    free(url);
    return r;
}

/* ---- Upload-Metadata ---- */

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static int is_key_char(char c)
{
    return c > 0x20 && c < 0x7f && c != ',';
}

/* One "key value" pair (trimmed) into m->pairs[m->n]. */
static ug_tus_parse_result_t parse_pair(const char *p, size_t len, ug_tus_metadata_t *m, const char **why)
{
    size_t k = 0;
    while (k < len && p[k] != ' ')
        ++k;
    const char *v = k < len ? p + k + 1 : p + len;
    size_t vlen = k < len ? len - k - 1 : 0;
    if (k == 0) {
        *why = "Upload-Metadata: a pair has an empty key";
        return UG_TUS_PARSE_INVALID;
    }
    for (size_t i = 0; i < k; ++i)
        if (!is_key_char(p[i])) {
            *why = "Upload-Metadata: a key must be printable ASCII without spaces or commas";
            return UG_TUS_PARSE_INVALID;
        }
    for (size_t i = 0; i < m->n; ++i)
        if (m->pairs[i].key_len == k && memcmp(m->pairs[i].key, p, k) == 0) {
            *why = "Upload-Metadata: a key appears twice";
            return UG_TUS_PARSE_INVALID;
        }
    unsigned char *decoded = malloc(UG_B64URL_DECODED_MAX(vlen) + 1);
    size_t dlen = 0;
    if (decoded == NULL || ug_tus_base64_decode(v, vlen, decoded, &dlen) != 0) {
        free(decoded);
        *why = decoded == NULL ? "out of memory" : "Upload-Metadata: a value is not valid base64";
        return UG_TUS_PARSE_INVALID;
    }
    decoded[dlen] = '\0';
    ug_tus_pair_t *pair = &m->pairs[m->n];
    if ((pair->key = strndup(p, k)) == NULL) { /* keys hold no NUL: they are printable */
        free(decoded);
        *why = "out of memory";
        return UG_TUS_PARSE_INVALID;
    }
    pair->key_len = k;
    pair->value = (char *)decoded;
    pair->value_len = dlen;
    ++m->n;
    return UG_TUS_PARSE_OK;
}

/* Whether s[0..len) is only spaces and tabs. */
static int blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; ++i)
        if (!is_space(s[i]))
            return 0;
    return 1;
}

ug_tus_parse_result_t ug_tus_metadata_parse(const char *s, size_t len, ug_tus_metadata_t *out, const char **why)
{
    size_t commas = 0;
    *out = (ug_tus_metadata_t){.pairs = NULL, .n = 0};
    if (blank(s, len)) /* a field with no pair at all is no metadata */
        return UG_TUS_PARSE_OK;
    for (size_t i = 0; i < len; ++i)
        commas += s[i] == ',';
    if ((out->pairs = calloc(commas + 1, sizeof(*out->pairs))) == NULL) {
        *why = "out of memory";
        return UG_TUS_PARSE_INVALID;
    }
    for (size_t start = 0; start <= len;) {
        size_t end = start;
        while (end < len && s[end] != ',')
            ++end;
        size_t a = start, b = end;
        while (a < b && is_space(s[a]))
            ++a;
        while (b > a && is_space(s[b - 1]))
            --b;
        if (a == b)
            *why = "Upload-Metadata: an empty pair";
        if (a == b || parse_pair(s + a, b - a, out, why) != UG_TUS_PARSE_OK) {
            ug_tus_metadata_free(out);
            return UG_TUS_PARSE_INVALID;
        }
        start = end + 1;
    }
    return UG_TUS_PARSE_OK;
}

const ug_tus_pair_t *ug_tus_metadata_get(const ug_tus_metadata_t *m, const char *key)
{
    size_t l = strlen(key);
    for (size_t i = 0; i < m->n; ++i)
        if (m->pairs[i].key_len == l && memcmp(m->pairs[i].key, key, l) == 0)
            return &m->pairs[i];
    return NULL;
}

void ug_tus_metadata_free(ug_tus_metadata_t *m)
{
    for (size_t i = 0; i < m->n; ++i) {
        free(m->pairs[i].key);
        free(m->pairs[i].value);
    }
    free(m->pairs);
    *m = (ug_tus_metadata_t){.pairs = NULL, .n = 0};
}

/* ---- Upload-Checksum ---- */

static const struct {
    const char *name;
    ug_tus_algorithm_t algorithm;
    size_t digest_len;
} algorithms[] = {
    {"sha1", UG_TUS_SHA1, 20},
    {"md5", UG_TUS_MD5, 16},
    {"sha256", UG_TUS_SHA256, 32},
};

ug_tus_parse_result_t ug_tus_checksum_parse(const char *s, size_t len, ug_tus_checksum_t *out, const char **why)
{
    const char *sp = memchr(s, ' ', len);
    if (sp == NULL || sp == s) {
        *why = "Upload-Checksum must be \"<algorithm> <base64 digest>\"";
        return UG_TUS_PARSE_INVALID;
    }
    size_t name_len = (size_t)(sp - s), b64_len = len - name_len - 1;
    for (size_t i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); ++i) {
        if (strlen(algorithms[i].name) != name_len || memcmp(algorithms[i].name, s, name_len) != 0)
            continue;
        unsigned char digest[UG_B64URL_DECODED_MAX(UG_TUS_DIGEST_MAX * 4 / 3 + 4)];
        size_t n;
        if (UG_B64URL_DECODED_MAX(b64_len) > sizeof(digest) || ug_tus_base64_decode(sp + 1, b64_len, digest, &n) != 0 ||
            n != algorithms[i].digest_len) {
            *why = "Upload-Checksum: the digest is not the base64 of a digest of that algorithm";
            return UG_TUS_PARSE_INVALID;
        }
        out->algorithm = algorithms[i].algorithm;
        memcpy(out->digest, digest, n);
        out->digest_len = n;
        return UG_TUS_PARSE_OK;
    }
    *why = "Upload-Checksum: unsupported algorithm (Tus-Checksum-Algorithm lists sha1, md5, sha256)";
    return UG_TUS_PARSE_UNSUPPORTED;
}

void ug_tus_format_date(int64_t t, char out[UG_TUS_DATE_SIZE])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm g;
    gmtime_r(&tt, &g);
    /* strftime's %a/%b follow the locale; the field is always English */
    char buf[64]; /* room for any int the compiler imagines */
    snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[g.tm_wday], g.tm_mday, months[g.tm_mon],
             g.tm_year + 1900, g.tm_hour, g.tm_min, g.tm_sec);
    snprintf(out, UG_TUS_DATE_SIZE, "%.*s", UG_TUS_DATE_SIZE - 1, buf);
}
