/*
 * auth.c - Bearer extraction (RFC 6750 2.1), static tokens, the per-thread
 * checker with its file reloading, and the outcome as HTTP sees it (RFC 6750 3).
 */
#include "policy/auth.h"

#include "policy/jwks.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Ceiling on what is read from disk: a tokens file or JWK Set is never near this, a mistake might be. */
#define MAX_FILE_SIZE (1024 * 1024)

/* ---- config ---- */

void ug_auth_config_dispose(ug_auth_config_t *cfg)
{
    free(cfg->tokens_file);
    free(cfg->tokens_env);
    free(cfg->jwt.issuer);
    free(cfg->jwt.audience);
    for (size_t i = 0; i < cfg->jwt.n_required_scopes; i++)
        free(cfg->jwt.required_scopes[i]);
    free(cfg->jwt.required_scopes);
    free(cfg->jwt_secret_file);
    free(cfg->jwt_public_key_file);
    free(cfg->jwt_jwks_file);
    memset(cfg, 0, sizeof(*cfg));
}

int ug_auth_config_validate(const ug_auth_config_t *cfg, char *err, size_t errlen)
{
    const ug_jwt_policy_t *j = &cfg->jwt;
    const char *msg = NULL;

    if (cfg->tokens_file == NULL && cfg->tokens_env == NULL && j->algorithms == 0)
        msg = "auth needs tokens_file, tokens_env or jwt.algorithms";
    else if ((j->algorithms & ~UG_JWT_ALGS_ALL) != 0)
        msg = "auth.jwt.algorithms has an unknown algorithm";
    else if (j->algorithms == 0 && (cfg->jwt_secret_file != NULL || cfg->jwt_public_key_file != NULL ||
                                    cfg->jwt_jwks_file != NULL || j->issuer != NULL || j->audience != NULL ||
                                    j->n_required_scopes != 0))
        msg = "auth.jwt needs algorithms";
    else if (((j->algorithms & UG_JWT_ALGS_HMAC) != 0) != (cfg->jwt_secret_file != NULL))
        msg = "auth.jwt: HS* algorithms and secret_file go together";
    else if (((j->algorithms & UG_JWT_ALGS_PUBLIC) != 0) != (cfg->jwt_public_key_file != NULL || cfg->jwt_jwks_file != NULL))
        msg = "auth.jwt: RS*, PS256, ES* and EdDSA need public_key_file or jwks_file, and those need one of them";
    for (size_t i = 0; msg == NULL && i < j->n_required_scopes; i++) {
        const char *s = j->required_scopes[i];
        if (*s == '\0')
            msg = "auth.jwt.required_scopes has an empty scope";
        /* RFC 6749 3.3 scope-token = 1*NQCHAR; it is also echoed in scope="..." (RFC 6750 3). */
        for (; msg == NULL && *s != '\0'; s++) {
            if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '"' || *s == '\\')
                msg = "auth.jwt.required_scopes: a scope has a space, quote, backslash or non-ASCII character";
        }
    }
    if (msg == NULL)
        return 0;
    snprintf(err, errlen, "%s", msg);
    return -1;
}

/* ---- Bearer credentials ---- */

static int is_b64token_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '+' || c == '/';
}

int ug_auth_is_b64token(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len && is_b64token_char((unsigned char)s[i]))
        i++;
    if (i == 0)
        return 0;
    while (i < len && s[i] == '=')
        i++;
    return i == len;
}

ug_auth_status_t ug_auth_extract_bearer(const char *value, size_t len, const char **token, size_t *token_len)
{
    size_t scheme_len = 0;

    if (value == NULL)
        return UG_AUTH_MISSING;
    /* The field value excludes surrounding whitespace (RFC 9110 5.5); be tolerant if a caller kept it. */
    while (len > 0 && (value[0] == ' ' || value[0] == '\t'))
        value++, len--;
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    while (scheme_len < len && value[scheme_len] != ' ' && value[scheme_len] != '\t')
        scheme_len++;
    /* Another scheme (Basic, ...) is "no Bearer credentials", not a malformed one (RFC 6750 3.1). */
    if (scheme_len != 6 || strncasecmp(value, "Bearer", 6) != 0)
        return UG_AUTH_MISSING;
    while (scheme_len < len && (value[scheme_len] == ' ' || value[scheme_len] == '\t'))
        scheme_len++;
    if (!ug_auth_is_b64token(value + scheme_len, len - scheme_len))
        return UG_AUTH_INVALID_REQUEST;
    *token = value + scheme_len;
    *token_len = len - scheme_len;
    return UG_AUTH_OK;
}

/* ---- static tokens ---- */

struct ug_auth_tokens {
    size_t n;
    unsigned char (*digests)[SHA256_DIGEST_LENGTH];
};

static int is_trim(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

ug_auth_tokens_t *ug_auth_tokens_parse(const char *text, size_t len, char sep, const char **why)
{
    ug_auth_tokens_t *set = calloc(1, sizeof(*set));
    size_t cap = 0;

    if (set == NULL)
        goto nomem;
    for (size_t pos = 0; pos < len;) {
        const char *start = text + pos, *end = memchr(start, sep, len - pos);
        if (end == NULL)
            end = text + len;
        pos = end - text + 1;
        while (start < end && is_trim(*start))
            start++;
        while (end > start && is_trim(end[-1]))
            end--;
        if (start == end || (sep == '\n' && *start == '#'))
            continue;
        if (!ug_auth_is_b64token(start, end - start)) {
            *why = "a token is not an RFC 6750 b64token";
            goto fail;
        }
        if (set->n == cap) {
            size_t ncap = cap != 0 ? cap * 2 : 8;
            void *d = realloc(set->digests, ncap * sizeof(*set->digests));
            if (d == NULL)
                goto nomem;
            set->digests = d;
            cap = ncap;
        }
        SHA256((const unsigned char *)start, end - start, set->digests[set->n++]);
    }
    return set;
nomem:
    *why = "out of memory";
fail:
    ug_auth_tokens_free(set);
    return NULL;
}

void ug_auth_tokens_free(ug_auth_tokens_t *set)
{
    if (set == NULL)
        return;
    free(set->digests);
    free(set);
}

size_t ug_auth_tokens_count(const ug_auth_tokens_t *set)
{
    return set != NULL ? set->n : 0;
}

int ug_auth_tokens_match(const ug_auth_tokens_t *set, const char *token, size_t len, size_t *compared)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    int hit = 0;
    size_t i = 0;

    /* Hashing first makes every comparison 32 bytes long, whatever the lengths of the tokens. */
    SHA256((const unsigned char *)token, len, d);
    for (; set != NULL && i < set->n; i++)
        hit |= CRYPTO_memcmp(d, set->digests[i], sizeof(d)) == 0;
    if (compared != NULL)
        *compared = i;
    return hit;
}

/* ---- files ---- */

/* What identifies a version of a file. err != 0: stat() failed with that errno. */
struct file_sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
    int err;
};

enum { F_TOKENS, F_SECRET, F_PEM, F_JWKS, F__COUNT };

struct watched {
    const char *path;    /* borrowed from the config; NULL: not configured */
    struct file_sig loaded, failed; /* what is in memory; the last version that failed to load */
    int has_failed;
};

struct ug_auth_checker {
    const ug_auth_config_t *cfg;
    ug_auth_tokens_t *file_tokens, *env_tokens;
    ug_jwt_keyset_t *keys[F__COUNT - 1]; /* from F_SECRET, F_PEM, F_JWKS */
    struct watched files[F__COUNT];
    int64_t last_refresh;
    char reload_error[256];
    int reload_error_new;
};

static const char *const file_names[F__COUNT] = {"tokens_file", "jwt.secret_file", "jwt.public_key_file", "jwt.jwks_file"};

static struct file_sig sig_of(const struct stat *st)
{
    struct file_sig s = {st->st_dev, st->st_ino, st->st_size, st->st_mtim, st->st_ctim, 0};
    return s;
}

static int sig_eq(const struct file_sig *a, const struct file_sig *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtim.tv_sec == b->mtim.tv_sec &&
           a->mtim.tv_nsec == b->mtim.tv_nsec && a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec &&
           a->err == b->err;
}

/* Read a whole regular file (at most `max` bytes) into a malloc'd, NUL-terminated buffer. Returns 0 or an errno. */
static int read_file(const char *path, size_t max, char **out, size_t *out_len, struct file_sig *sig)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int fd, err = 0;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
        return errno;
    if (fstat(fd, &st) != 0) {
        err = errno;
        goto done;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        err = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
        goto done;
    }
    /* The signature of the file actually read: the next stat() of the path is compared with it. */
    *sig = sig_of(&st);
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        err = ENOMEM;
        goto done;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : EIO; /* shrank under us: the next check sees the new version */
            goto done;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *out = buf;
    *out_len = got;
    buf = NULL;
done:
    if (buf != NULL)
        OPENSSL_clear_free(buf, (size_t)st.st_size + 1);
    close(fd);
    return err;
}

/* Build what file `f` holds from its text and swap it in. Returns 0, or -1 with *why. */
static int install(ug_auth_checker_t *c, int f, char *text, size_t len, const char **why)
{
    ug_jwt_keyset_t *ks;
    int r = -1;

    if (f == F_TOKENS) {
        ug_auth_tokens_t *set = ug_auth_tokens_parse(text, len, '\n', why);
        if (set == NULL)
            return -1;
        ug_auth_tokens_free(c->file_tokens);
        c->file_tokens = set;
        return 0;
    }
    if ((ks = ug_jwt_keyset_new()) == NULL) {
        *why = "out of memory";
        return -1;
    }
    if (f == F_SECRET) {
        /* Editors and `echo` end files with a newline that is not part of the secret. */
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            len--;
        r = ug_jwt_keyset_add_secret(ks, text, len, NULL, why);
    } else if (f == F_PEM) {
        r = ug_jwt_keyset_add_pem(ks, text, len, why);
    } else {
        r = ug_jwt_keyset_add_jwks(ks, text, len, why);
    }
    if (r != 0) {
        ug_jwt_keyset_free(ks);
        return -1;
    }
    ug_jwt_keyset_free(c->keys[f - 1]);
    c->keys[f - 1] = ks;
    return 0;
}

/* Load file `f`. Returns 0, or -1 with a message in err. */
static int load(ug_auth_checker_t *c, int f, char *err, size_t errlen)
{
    struct watched *w = &c->files[f];
    struct file_sig sig;
    const char *why = NULL;
    char *text = NULL;
    size_t len = 0;
    int e;

    if ((e = read_file(w->path, MAX_FILE_SIZE, &text, &len, &sig)) != 0) {
        errno = e; /* "%m": strerror() may return a buffer shared between threads */
        snprintf(err, errlen, "%s %s: %m", file_names[f], w->path);
        return -1;
    }
    if (install(c, f, text, len, &why) != 0) {
        snprintf(err, errlen, "%s %s: %s", file_names[f], w->path, why);
        e = -1;
    } else {
        w->loaded = sig;
        w->has_failed = 0;
    }
    OPENSSL_clear_free(text, len + 1); /* it held secrets */
    return e != 0 ? -1 : 0;
}

/* Reload the files that changed since they were loaded; see ug_auth_check(). */
static void refresh(ug_auth_checker_t *c, int64_t now)
{
    if (now == c->last_refresh)
        return;
    c->last_refresh = now;
    for (int f = 0; f < F__COUNT; f++) {
        struct watched *w = &c->files[f];
        struct file_sig cur;
        struct stat st;

        if (w->path == NULL)
            continue;
        /* stat() the path, not an open fd: a swapped symlink must lead to the new file. */
        if (stat(w->path, &st) == 0) {
            cur = sig_of(&st);
        } else {
            memset(&cur, 0, sizeof(cur));
            cur.err = errno;
        }
        if (sig_eq(&cur, &w->loaded) || (w->has_failed && sig_eq(&cur, &w->failed)))
            continue;
        if (cur.err != 0) {
            errno = cur.err;
            snprintf(c->reload_error, sizeof(c->reload_error), "%s %s: %m", file_names[f], w->path);
        }
        if (cur.err != 0 || load(c, f, c->reload_error, sizeof(c->reload_error)) != 0) {
            /* Keep serving with what was loaded; try again when the file changes. */
            w->failed = cur;
            w->has_failed = 1;
            c->reload_error_new = 1;
        }
    }
}

ug_auth_checker_t *ug_auth_checker_new(const ug_auth_config_t *cfg, int64_t now, char *err, size_t errlen)
{
    ug_auth_checker_t *c = NULL;
    const char *why = NULL, *env;

    if (ug_auth_config_validate(cfg, err, errlen) != 0)
        return NULL;
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->cfg = cfg;
    c->last_refresh = now;
    c->files[F_TOKENS].path = cfg->tokens_file;
    c->files[F_SECRET].path = cfg->jwt_secret_file;
    c->files[F_PEM].path = cfg->jwt_public_key_file;
    c->files[F_JWKS].path = cfg->jwt_jwks_file;
    for (int f = 0; f < F__COUNT; f++) {
        if (c->files[f].path != NULL && load(c, f, err, errlen) != 0)
            goto fail;
    }
    if (cfg->tokens_env != NULL) {
        /* An unset variable is a deployment mistake: say so now rather than refuse every request. */
        if ((env = getenv(cfg->tokens_env)) == NULL) {
            snprintf(err, errlen, "tokens_env %s is not set", cfg->tokens_env);
            goto fail;
        }
        if ((c->env_tokens = ug_auth_tokens_parse(env, strlen(env), ',', &why)) == NULL) {
            snprintf(err, errlen, "tokens_env %s: %s", cfg->tokens_env, why);
            goto fail;
        }
    }
    return c;
fail:
    ug_auth_checker_free(c);
    return NULL;
}

void ug_auth_checker_free(ug_auth_checker_t *c)
{
    if (c == NULL)
        return;
    ug_auth_tokens_free(c->file_tokens);
    ug_auth_tokens_free(c->env_tokens);
    for (size_t i = 0; i < sizeof(c->keys) / sizeof(c->keys[0]); i++)
        ug_jwt_keyset_free(c->keys[i]);
    free(c);
}

int ug_auth_checker_reload_error(ug_auth_checker_t *c, char *buf, size_t len)
{
    if (!c->reload_error_new)
        return 0;
    c->reload_error_new = 0;
    snprintf(buf, len, "%s", c->reload_error);
    return 1;
}

/* ---- the decision ---- */

void ug_auth_result_clear(ug_auth_result_t *r)
{
    free(r->subject);
    json_decref(r->scopes);
    json_decref(r->claims);
    free(r->required_scope);
    memset(r, 0, sizeof(*r));
}

/*
 * Append to dst + *o (room for `size` bytes in all, NUL included) what of `s`
 * may stand in a quoted-string without escapes (RFC 6750 3: NQSCHAR).
 */
static void put_nqschar(char *dst, size_t size, size_t *o, const char *s)
{
    for (; s != NULL && *s != '\0' && *o + 1 < size; s++) {
        if (*s >= 0x20 && *s <= 0x7e && *s != '"' && *s != '\\')
            dst[(*o)++] = *s;
    }
    dst[*o] = '\0';
}

void ug_auth_result_set_error(ug_auth_result_t *r, ug_auth_status_t status, const char *description)
{
    size_t o = 0;

    ug_auth_result_clear(r);
    r->status = status;
    put_nqschar(r->error_description, sizeof(r->error_description), &o, description);
}

/* "token:" + 8 hex digits of SHA-256(token): stable per token, reveals nothing usable. */
static char *token_subject(const char *token, size_t len)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    char *s = malloc(sizeof("token:") + 8);

    SHA256((const unsigned char *)token, len, d);
    if (s != NULL)
        snprintf(s, sizeof("token:") + 8, "token:%02x%02x%02x%02x", d[0], d[1], d[2], d[3]);
    return s;
}

/* The claims relayed to the app; see ug_auth_check(). */
static json_t *select_claims(const json_t *all)
{
    static const char *const names[] = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
                                        "scope", "scp", "client_id", "azp", "email", "name"};
    json_t *sel = json_object();

    for (size_t i = 0; sel != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *v = json_object_get(all, names[i]);
        if (v != NULL && json_object_set(sel, names[i], v) != 0) {
            json_decref(sel);
            sel = NULL;
        }
    }
    return sel;
}

static char *join_scopes(char *const *scopes, size_t n)
{
    size_t len = 1;
    char *s;

    for (size_t i = 0; i < n; i++)
        len += strlen(scopes[i]) + 1;
    if ((s = malloc(len)) == NULL)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i != 0)
            strcat(s, " ");
        strcat(s, scopes[i]);
    }
    return s;
}

/* The outcome of a JWT verification in `res`; takes what `v` owns. */
static void jwt_outcome(ug_auth_checker_t *c, ug_jwt_status_t st, ug_jwt_verified_t *v, const char *why,
                        ug_auth_result_t *res)
{
    const json_t *sub = json_object_get(v->claims, "sub");

    if (st == UG_JWT_INVALID || st == UG_JWT_INTERNAL) {
        ug_auth_result_set_error(res, st == UG_JWT_INVALID ? UG_AUTH_INVALID_TOKEN : UG_AUTH_INTERNAL, why);
        goto done;
    }
    if (st == UG_JWT_INSUFFICIENT_SCOPE) {
        ug_auth_result_set_error(res, UG_AUTH_INSUFFICIENT_SCOPE, why);
        res->required_scope = join_scopes(c->cfg->jwt.required_scopes, c->cfg->jwt.n_required_scopes);
    } else {
        res->method = UG_AUTH_METHOD_JWT;
        res->scopes = v->scopes;
        v->scopes = NULL;
        if ((res->claims = select_claims(v->claims)) == NULL)
            goto nomem;
    }
    if (sub != NULL && (res->subject = strdup(json_string_value(sub))) == NULL)
        goto nomem;
    goto done;
nomem:
    ug_auth_result_set_error(res, UG_AUTH_INTERNAL, "out of memory");
done:
    ug_jwt_verified_clear(v);
}

void ug_auth_check(ug_auth_checker_t *c, const char *authorization, size_t len, int64_t now, ug_auth_result_t *res)
{
    const ug_jwt_keyset_t *keysets[F__COUNT - 1];
    ug_jwt_verified_t v;
    const char *token = NULL, *why = NULL;
    size_t token_len = 0, dots = 0;
    ug_auth_status_t st;
    ug_jwt_status_t jst;
    int hit;

    ug_auth_result_clear(res);
    refresh(c, now);
    if ((st = ug_auth_extract_bearer(authorization, len, &token, &token_len)) != UG_AUTH_OK) {
        ug_auth_result_set_error(res, st, st == UG_AUTH_MISSING ? "a bearer token is required"
                                                                 : "the Authorization header is not valid Bearer credentials");
        return;
    }
    /* Both sets are always searched ('|', not '||'), so timing does not tell where a token lives. */
    hit = ug_auth_tokens_match(c->file_tokens, token, token_len, NULL);
    hit |= ug_auth_tokens_match(c->env_tokens, token, token_len, NULL);
    if (hit) {
        res->method = UG_AUTH_METHOD_TOKEN;
        if ((res->subject = token_subject(token, token_len)) == NULL || (res->scopes = json_array()) == NULL ||
            (res->claims = json_object()) == NULL)
            ug_auth_result_set_error(res, UG_AUTH_INTERNAL, "out of memory");
        return;
    }
    for (size_t i = 0; i < token_len; i++)
        dots += token[i] == '.';
    /* Only a JWS-shaped token gets JWT diagnostics; anything else is simply unknown. */
    if (c->cfg->jwt.algorithms == 0 || dots != 2) {
        ug_auth_result_set_error(res, UG_AUTH_INVALID_TOKEN, "the token is not valid");
        return;
    }
    /* After refresh(): it may have replaced the keysets. */
    for (size_t i = 0; i < F__COUNT - 1; i++)
        keysets[i] = c->keys[i];
    jst = ug_jwt_verify(token, token_len, keysets, sizeof(keysets) / sizeof(keysets[0]), &c->cfg->jwt, now, &v, &why);
    jwt_outcome(c, jst, &v, why, res);
}

/* ---- HTTP ---- */

static const struct {
    ug_err_t err;
    const char *code; /* RFC 6750 3.1 */
} outcomes[] = {
    [UG_AUTH_OK] = {UG_OK, NULL},
    [UG_AUTH_MISSING] = {UG_ERR_UNAUTHORIZED, NULL},
    [UG_AUTH_INVALID_REQUEST] = {UG_ERR_BAD_REQUEST, "invalid_request"},
    [UG_AUTH_INVALID_TOKEN] = {UG_ERR_UNAUTHORIZED, "invalid_token"},
    [UG_AUTH_INSUFFICIENT_SCOPE] = {UG_ERR_FORBIDDEN, "insufficient_scope"},
    [UG_AUTH_INTERNAL] = {UG_ERR_INTERNAL, NULL},
};

int ug_auth_http_status(ug_auth_status_t status)
{
    return ug_err_status(ug_auth_err(status));
}

ug_err_t ug_auth_err(ug_auth_status_t status)
{
    return (unsigned)status <= UG_AUTH_INTERNAL ? outcomes[status].err : UG_ERR_INTERNAL;
}

const char *ug_auth_error_code(ug_auth_status_t status)
{
    return (unsigned)status <= UG_AUTH_INTERNAL ? outcomes[status].code : NULL;
}

char *ug_auth_www_authenticate(const ug_auth_result_t *r, const char *realm)
{
    const char *code = ug_auth_error_code(r->status);
    const char *scope = r->status == UG_AUTH_INSUFFICIENT_SCOPE ? r->required_scope : NULL;
    size_t o = 0, cap;
    char *out;

    realm = realm != NULL ? realm : "uploadgate";
    /* Filtering only drops characters, so the unfiltered lengths bound the result. */
    cap = strlen(realm) + strlen(r->error_description) + (scope != NULL ? strlen(scope) : 0) + 96;
    if ((out = malloc(cap)) == NULL)
        return NULL;
    /* Re-filter even our own strings: a header must never be split or left unbalanced. */
    o = (size_t)sprintf(out, "Bearer realm=\"");
    put_nqschar(out, cap, &o, realm);
    if (code != NULL) {
        o += (size_t)sprintf(out + o, "\", error=\"%s\", error_description=\"", code);
        put_nqschar(out, cap, &o, r->error_description);
    }
    if (scope != NULL) {
        o += (size_t)sprintf(out + o, "\", scope=\"");
        put_nqschar(out, cap, &o, scope);
    }
    strcpy(out + o, "\"");
    return out;
}

/* Replace control characters of `s` (may be NULL) by '?' in place, so a claim cannot split a header. */
static char *header_safe(char *s)
{
    for (char *p = s; p != NULL && *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
    return s;
}

char *ug_auth_subject_header(const ug_auth_result_t *r)
{
    return r->subject != NULL ? header_safe(strdup(r->subject)) : NULL;
}

char *ug_auth_scopes_header(const ug_auth_result_t *r)
{
    size_t len = 1, o = 0, i;
    char *out;
    json_t *e;

    json_array_foreach (r->scopes, i, e)
        len += json_string_length(e) + 1;
    if ((out = malloc(len)) == NULL)
        return NULL;
    out[0] = '\0';
    json_array_foreach (r->scopes, i, e)
        o += (size_t)sprintf(out + o, i == 0 ? "%s" : " %s", json_string_value(e));
    return header_safe(out);
}

json_t *ug_auth_manifest_json(const ug_auth_result_t *r)
{
    if (r->status != UG_AUTH_OK)
        return NULL;
    return json_pack("{s:s, s:s?, s:O?, s:O?}", "method", r->method == UG_AUTH_METHOD_JWT ? "jwt" : "token", "subject",
                     r->subject, "scopes", r->scopes, "claims", r->claims);
}
