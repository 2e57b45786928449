/*
 * fuzz_origin.c - libFuzzer target for the CORS policy (src/policy/cors.c).
 *
 * Input: one flags byte, then lines separated by '\n':
 *   line 0  Origin                          (absent when flags & 0x10)
 *   line 1  Access-Control-Request-Method   (absent when flags & 0x20)
 *   line 2  Access-Control-Request-Headers  (absent when flags & 0x40)
 *   line 3+ config entries: "M:GET" allow_methods, "H:x-a" allow_headers,
 *           "E:x-b" expose_headers, anything else an allow_origins entry
 * flags & 1 allow_credentials, & 2 max_age_set, & 4 skip finalize,
 * & 8 the request method is GET instead of OPTIONS.
 *
 * Request fields live in exact-size heap buffers without a terminating NUL,
 * so ASan catches any read past their length. Besides "never crash", the
 * target checks properties that must hold whatever the config (abort() on
 * violation): "*" never goes out with credentials, any other
 * Access-Control-Allow-Origin is the request's Origin byte for byte, refusals
 * carry no Access-Control-* field, matching ignores ASCII case, and an origin
 * the check accepts as a config entry matches itself.
 *
 * Build: tests/fuzz/build.sh fuzz_origin
 * Run:   build-fuzz/fuzz_origin -max_total_time=60 tests/fuzz/corpus/origin
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/cors.h"

#define MAX_ENTRIES 32

typedef struct list {
    char *v[MAX_ENTRIES];
    size_t n;
} list;

static char *dup_nul(const uint8_t *p, size_t len)
{
    char *s = malloc(len + 1);
    if (s == NULL)
        abort();
    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

/* Exact size, no NUL: the policy must honour lengths. malloc(0) may be NULL, so keep at least one byte allocated. */
static char *dup_exact(const uint8_t *p, size_t len)
{
    char *s = malloc(len != 0 ? len : 1);
    if (s == NULL)
        abort();
    if (len != 0)
        memcpy(s, p, len);
    return s;
}

static void push(list *l, const uint8_t *p, size_t len)
{
    if (l->n < MAX_ENTRIES)
        l->v[l->n++] = dup_nul(p, len);
}

static void free_list(list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
}

static int has_star(const ug_cors_config_t *c)
{
    for (size_t i = 0; i < c->n_origins; i++)
        if (strcmp(c->allow_origins[i], "*") == 0)
            return 1;
    return 0;
}

static int name_is(const ug_cors_header_t *h, const char *lit)
{
    return h->name_len == strlen(lit) && memcmp(h->name, lit, h->name_len) == 0;
}

static void check_headers(const ug_cors_config_t *c, const ug_cors_headers_t *out, const char *origin, size_t origin_len,
                          int may_allow)
{
    if (out->n > UG_CORS_MAX_HEADERS)
        abort();
    for (size_t i = 0; i < out->n; i++) {
        const ug_cors_header_t *h = &out->h[i];
        if (h->name == NULL || h->value == NULL || h->name_len == 0)
            abort();
        if (!may_allow && h->name_len > 15 && memcmp(h->name, "access-control-", 15) == 0)
            abort();
        if (name_is(h, "access-control-allow-origin")) {
            if (h->value_len == 1 && h->value[0] == '*') {
                if (c->allow_credentials || !has_star(c))
                    abort();
            } else if (origin == NULL || h->value != origin || h->value_len != origin_len) {
                abort();
            }
            if (!ug_cors_origin_allowed(c, origin, origin_len))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t flags = data[0];
    const uint8_t *p = data + 1, *end = data + size;
    const uint8_t *field[3] = {NULL, NULL, NULL};
    size_t field_len[3] = {0, 0, 0};
    list origins = {.n = 0}, methods = {.n = 0}, headers = {.n = 0}, expose = {.n = 0};

    for (size_t line = 0; p <= end; line++) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *e = nl != NULL ? nl : end;
        size_t len = (size_t)(e - p);
        if (line < 3) {
            field[line] = p;
            field_len[line] = len;
        } else if (len >= 2 && p[0] == 'M' && p[1] == ':') {
            push(&methods, p + 2, len - 2);
        } else if (len >= 2 && p[0] == 'H' && p[1] == ':') {
            push(&headers, p + 2, len - 2);
        } else if (len >= 2 && p[0] == 'E' && p[1] == ':') {
            push(&expose, p + 2, len - 2);
        } else {
            push(&origins, p, len);
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }

    ug_cors_config_t c = {
        .allow_origins = origins.v,
        .n_origins = origins.n,
        .allow_methods = methods.v,
        .n_methods = methods.n,
        .allow_headers = headers.v,
        .n_headers = headers.n,
        .expose_headers = expose.v,
        .n_expose = expose.n,
        .allow_credentials = flags & 1,
        .max_age_set = (flags >> 1) & 1,
        .max_age_s = (uint64_t)size * 0x9e3779b97f4a7c15u,
    };

    char msg[UG_CORS_MSG_SIZE], tiny[7];
    ug_cors_where_t where;
    const char *err = ug_cors_config_check(&c, msg, sizeof(msg), &where);
    if (err != NULL && (err != msg || strncmp(msg, "cors: ", 6) != 0 || memchr(msg, '\0', sizeof(msg)) == NULL))
        abort();
    if ((ug_cors_config_check(&c, tiny, sizeof(tiny), NULL) != NULL) != (err != NULL))
        abort();
    if (!(flags & 4) && ug_cors_config_finalize(&c) != UG_OK)
        abort();

    char *origin = field[0] != NULL && !(flags & 0x10) ? dup_exact(field[0], field_len[0]) : NULL;
    char *acrm = field[1] != NULL && !(flags & 0x20) ? dup_exact(field[1], field_len[1]) : NULL;
    char *acrh = field[2] != NULL && !(flags & 0x40) ? dup_exact(field[2], field_len[2]) : NULL;
    size_t origin_len = origin != NULL ? field_len[0] : 0;

    int allowed = ug_cors_origin_allowed(&c, origin, origin_len);

    /* Scheme, host (IPv6 hex included) and "null"/malformedness are all ASCII case-blind. */
    if (origin != NULL) {
        char *up = dup_exact((const uint8_t *)origin, origin_len);
        for (size_t i = 0; i < origin_len; i++)
            if (up[i] >= 'a' && up[i] <= 'z')
                up[i] = (char)(up[i] - 'a' + 'A');
        if (ug_cors_origin_allowed(&c, up, origin_len) != allowed)
            abort();
        free(up);

        /* An origin accepted as a config entry of its own must match itself. */
        if (memchr(origin, '\0', origin_len) == NULL && memchr(origin, '*', origin_len) == NULL) {
            char *self = dup_nul((const uint8_t *)origin, origin_len);
            ug_cors_config_t one = {.allow_origins = &self, .n_origins = 1, .allow_credentials = flags & 1};
            if (ug_cors_config_check(&one, msg, sizeof(msg), NULL) == NULL && !ug_cors_origin_allowed(&one, origin, origin_len))
                abort();
            free(self);
        }
    }

    ug_cors_request_t req = {
        .method = flags & 8 ? "GET" : "OPTIONS",
        .method_len = flags & 8 ? 3 : 7,
        .origin = origin,
        .origin_len = origin_len,
        .acr_method = acrm,
        .acr_method_len = acrm != NULL ? field_len[1] : 0,
        .acr_headers = acrh,
        .acr_headers_len = acrh != NULL ? field_len[2] : 0,
    };
    ug_cors_headers_t out;
    ug_cors_preflight_t pf = ug_cors_preflight(&c, &req, &out);
    if (pf == UG_CORS_PREFLIGHT_OK && !allowed)
        abort();
    if (pf == UG_CORS_NOT_PREFLIGHT && out.n != 0)
        abort();
    check_headers(&c, &out, origin, origin_len, pf == UG_CORS_PREFLIGHT_OK);

    ug_cors_actual(&c, origin, origin_len, &out);
    check_headers(&c, &out, origin, origin_len, allowed);
    if (out.n == 0 || !name_is(&out.h[out.n - 1], "vary"))
        abort();

    free(origin);
    free(acrm);
    free(acrh);
    ug_cors_config_dispose(&c);
    free_list(&origins);
    free_list(&methods);
    free_list(&headers);
    free_list(&expose);
    return 0;
}
