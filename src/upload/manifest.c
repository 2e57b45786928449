/*
 * manifest.c - the JSON manifest sent to the app (see manifest.h and
 * config/manifest.schema.json).
 *
 * Every member is kept as a ready-made jansson value built from our own
 * UTF-8-sanitised copy of the input; ug_manifest_dump() assembles them in
 * document order. A later member (e.g. "auth") is one more pointer in struct
 * ug_manifest, a setter, and one row in dump's table - no other code moves.
 */
#include "upload/manifest.h"

#include "common/utf8.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHA256_HEX_LEN 64

struct ug_manifest {
    json_t *id;          /* string */
    json_t *route;       /* string */
    json_t *method;      /* string */
    json_t *path;        /* string */
    json_t *received_at; /* string, RFC 3339 */
    json_t *client;      /* {"address", "protocol"} */
    json_t *fields;      /* array of {"name", "value"}, in the order added */
    json_t *files;       /* array of file objects, in the order added */
    json_t *auth;        /* optional: {"method","subject","scopes","claims"} of the authenticated caller */
};

struct member {
    const char *key;
    json_t *value;
};

/* ---- strings ---- */

/* A JSON string holding exactly s[0..len) when it is valid UTF-8, with U+FFFD for each maximal ill-formed subpart
 * otherwise (the rule in utf8.h, which log.c follows too). */
static json_t *string_value(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, bad = 0;
    char *clean = NULL, *q;
    json_t *v;

    if (s == NULL)
        return len == 0 ? json_string("") : NULL;
    while (i < len) {
        size_t n = ug_utf8_sequence(p + i, len - i, NULL);
        if (n == 0)
            break;
        i += n;
    }
    if (i == len) /* the common case: valid, no copy of our own */
        return json_stringn(s, len);

    /* Worst case every byte becomes a 3-byte U+FFFD. */
    if (len > (SIZE_MAX - 1) / 3 || (clean = malloc(3 * len)) == NULL)
        return NULL;
    memcpy(clean, s, i);
    q = clean + i;
    while (i < len) {
        size_t n = ug_utf8_sequence(p + i, len - i, &bad);
        if (n != 0) {
            memcpy(q, p + i, n);
            q += n;
            i += n;
        } else {
            memcpy(q, UG_UTF8_REPLACEMENT, 3);
            q += 3;
            i += bad;
        }
    }
    v = json_stringn(clean, (size_t)(q - clean));
    free(clean);
    return v;
}

/* NUL-terminated input; NULL is a caller bug and yields NULL (treated as a failure). */
static json_t *cstring_value(const char *s)
{
    return s != NULL ? string_value(s, strlen(s)) : NULL;
}

/* JSON null for an absent (NULL) string. */
static json_t *optional_value(const char *s, size_t len)
{
    return s != NULL ? string_value(s, len) : json_null();
}

/*
 * An object of the given members in that order. Takes ownership of every
 * value (all are released on failure, including when one of them is NULL
 * because building it failed).
 */
static json_t *object_of(struct member *m, size_t n)
{
    json_t *o = json_object();
    size_t i = 0;

    for (size_t k = 0; k < n; ++k)
        if (m[k].value == NULL)
            goto fail;
    if (o == NULL)
        goto fail;
    for (; i < n; ++i)
        if (json_object_set_new(o, m[i].key, m[i].value) != 0) {
            ++i; /* json_object_set_new released this one */
            goto fail;
        }
    return o;

fail:
    for (; i < n; ++i)
        json_decref(m[i].value);
    json_decref(o);
    return NULL;
}

/* ---- time ---- */

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range of RFC 3339's four-digit years. */
#define TIME_MIN (-62167219200LL)
#define TIME_MAX 253402300799LL
#define NS_PER_S 1000000000LL

/* Exactly `width` decimal digits of v (zero-padded; the range is known), then `sep`. */
static char *put_digits(char *p, unsigned v, int width, char sep)
{
    for (int i = width - 1; i >= 0; --i) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    p[width] = sep;
    return p + width + 1;
}

/* Pin a time outside what the format can show to its first or last representable instant. */
static void clamp_time(long long *sec, long long *nsec)
{
    if (*sec < TIME_MIN) {
        *sec = TIME_MIN;
        *nsec = 0;
    } else if (*sec > TIME_MAX) {
        *sec = TIME_MAX;
        *nsec = NS_PER_S - 1;
    }
}

void ug_manifest_format_time(struct timespec t, char *out)
{
    long long sec = t.tv_sec, nsec = t.tv_nsec;
    struct tm tm;

    /* Clamp first so normalising a stray tv_nsec cannot overflow, then again after it. */
    clamp_time(&sec, &nsec);
    sec += nsec / NS_PER_S;
    nsec %= NS_PER_S;
    if (nsec < 0) {
        nsec += NS_PER_S;
        --sec;
    }
    clamp_time(&sec, &nsec);
    time_t tt = (time_t)sec;
    if (gmtime_r(&tt, &tm) == NULL) { /* only with a 32-bit time_t: say the epoch rather than garbage */
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = 70;
        tm.tm_mday = 1;
        nsec = 0;
    }
    /* Milliseconds truncate, never round up: a rounded time could name the next second (or year). */
    char *p = out;
    p = put_digits(p, (unsigned)(tm.tm_year + 1900), 4, '-');
    p = put_digits(p, (unsigned)(tm.tm_mon + 1), 2, '-');
    p = put_digits(p, (unsigned)tm.tm_mday, 2, 'T');
    p = put_digits(p, (unsigned)tm.tm_hour, 2, ':');
    p = put_digits(p, (unsigned)tm.tm_min, 2, ':');
    p = put_digits(p, (unsigned)tm.tm_sec, 2, '.');
    p = put_digits(p, (unsigned)(nsec / 1000000), 3, 'Z');
    *p = '\0';
}

/* ---- the manifest ---- */

ug_manifest_t *ug_manifest_new(const ug_manifest_client_request_t *req)
{
    char when[32];
    ug_manifest_t *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    ug_manifest_format_time(req->received_at, when);
    m->id = cstring_value(req->id);
    m->route = cstring_value(req->route);
    m->method = string_value(req->method, req->method_len);
    m->path = string_value(req->path, req->path_len);
    m->received_at = json_string(when);
    struct member client[] = {
        {"address", cstring_value(req->client_address)},
        {"protocol", cstring_value(req->protocol)},
    };
    m->client = object_of(client, sizeof(client) / sizeof(client[0]));
    m->fields = json_array();
    m->files = json_array();
    if (m->id == NULL || m->route == NULL || m->method == NULL || m->path == NULL || m->received_at == NULL ||
        m->client == NULL || m->fields == NULL || m->files == NULL) {
        ug_manifest_free(m);
        return NULL;
    }
    return m;
}

ug_err_t ug_manifest_add_field(ug_manifest_t *m, const char *name, size_t name_len, const char *value, size_t value_len)
{
    struct member field[] = {
        {"name", string_value(name, name_len)},
        {"value", string_value(value, value_len)},
    };
    json_t *o = object_of(field, sizeof(field) / sizeof(field[0]));

    if (o == NULL || json_array_append_new(m->fields, o) != 0)
        return UG_ERR_NOMEM; /* json_array_append_new released o */
    return UG_OK;
}

static int is_sha256_hex(const char *s)
{
    if (s == NULL)
        return 0;
    for (size_t i = 0; i < SHA256_HEX_LEN; ++i)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[SHA256_HEX_LEN] == '\0';
}

ug_err_t ug_manifest_add_file(ug_manifest_t *m, const ug_manifest_file_t *f)
{
    /* A document that breaks its own schema would be our bug: refuse it here rather than mislead the app. */
    int object = f->url != NULL;
    if ((f->path == NULL) != object || (object && (f->bucket == NULL || f->key == NULL || f->etag == NULL)) ||
        !is_sha256_hex(f->sha256_hex) || f->size > (uint64_t)INT64_MAX)
        return UG_ERR_INTERNAL;

    /* A local file has a path; an object has path null and where it is (url, bucket, key) with its ETag. */
    struct member file[] = {
        {"field", optional_value(f->field, f->field_len)},
        {"filename", optional_value(f->filename, f->filename_len)},
        {"content_type", optional_value(f->content_type, f->content_type_len)},
        {"path", object ? json_null() : cstring_value(f->path)},
        {"size", json_integer((json_int_t)f->size)},
        {"sha256", json_stringn(f->sha256_hex, SHA256_HEX_LEN)},
        {"url", object ? cstring_value(f->url) : NULL},
        {"bucket", object ? cstring_value(f->bucket) : NULL},
        {"key", object ? cstring_value(f->key) : NULL},
        {"etag", object ? cstring_value(f->etag) : NULL},
    };
    json_t *o = object_of(file, object ? 10 : 6);

    if (o == NULL || json_array_append_new(m->files, o) != 0)
        return UG_ERR_NOMEM;
    return UG_OK;
}

char *ug_manifest_dump(const ug_manifest_t *m, size_t *len)
{
    /* Document order. Optional members are NULL when unset and then left out. */
    struct member doc[] = {
        {"version", json_integer(UG_MANIFEST_VERSION)},
        {"id", json_incref(m->id)},
        {"route", json_incref(m->route)},
        {"method", json_incref(m->method)},
        {"path", json_incref(m->path)},
        {"received_at", json_incref(m->received_at)},
        {"client", json_incref(m->client)},
        {"auth", json_incref(m->auth)},
        {"fields", json_incref(m->fields)},
        {"files", json_incref(m->files)},
    };
    size_t ndoc = sizeof(doc) / sizeof(doc[0]);
    if (m->auth == NULL) { /* optional: drop the row, keeping document order */
        memmove(&doc[7], &doc[8], sizeof(doc[0]) * (ndoc - 8));
        --ndoc;
    }
    const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
    char *out = NULL;
    json_t *o = object_of(doc, ndoc);
    size_t n;

    if (o == NULL)
        goto done;
    /* Sized first, then written into our own malloc'd buffer: the caller frees with free(), whatever allocator
     * jansson was given. A serialised object is never empty, so 0 means failure. */
    if ((n = json_dumpb(o, NULL, 0, flags)) == 0 || (out = malloc(n + 1)) == NULL)
        goto done;
    if (json_dumpb(o, out, n, flags) != n) {
        free(out);
        out = NULL;
        goto done;
    }
    out[n] = '\0';
    if (len != NULL)
        *len = n;

done:
    json_decref(o);
    return out;
}

void ug_manifest_free(ug_manifest_t *m)
{
    if (m == NULL)
        return;
    json_decref(m->id);
    json_decref(m->route);
    json_decref(m->method);
    json_decref(m->path);
    json_decref(m->received_at);
    json_decref(m->client);
    json_decref(m->fields);
    json_decref(m->files);
    json_decref(m->auth);
    free(m);
}

void ug_manifest_set_auth(ug_manifest_t *m, json_t *auth)
{
    json_decref(m->auth);
    m->auth = auth;
}
