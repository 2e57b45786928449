/*
 * Bearer authentication end to end without h2o: Authorization parsing, static
 * tokens (file and environment, constant-time matching, reloading), JWTs
 * through the per-thread checker, and the WWW-Authenticate / X-Auth-* /
 * manifest renderings. Tokens are signed here with OpenSSL at test time.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/auth.h"
#include "test_jose.h"

#define NOW 1700000000
#define B(a) UG_JWT_ALG_BIT(UG_JWT_##a)

static const char SECRET[] = "this-is-a-test-secret-of-40-bytes-length";

static char dir[64];
static ug_auth_config_t cfg;

static void setup(void)
{
    strcpy(dir, "/tmp/ug-test-auth-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    memset(&cfg, 0, sizeof(cfg));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    ug_auth_config_dispose(&cfg);
}

TestSuite(auth, .init = setup, .fini = teardown);

/* Write `text` to dir/name and return the malloc'd path; the mtime is set to `mtime` so changes never hide in one tick. */
static char *put(const char *name, const char *text, time_t mtime)
{
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
    struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
    return path;
}

/* "Bearer " + a JWS signed with HS256 under `secret` or EdDSA under `ed`. */
static char *bearer_jwt(const char *secret, EVP_PKEY *ed, const char *kid, const char *payload)
{
    char header[96], input[4096], *out = malloc(8192);
    unsigned char sig[256];
    size_t sig_len = sizeof(sig);
    snprintf(header, sizeof(header), "{\"alg\":\"%s\"%s%s%s}", ed ? "EdDSA" : "HS256", kid ? ",\"kid\":\"" : "", kid ? kid : "",
             kid ? "\"" : "");
    char *h = b64u_str(header), *p = b64u_str(payload);
    snprintf(input, sizeof(input), "%s.%s", h, p);
    if (ed != NULL) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        cr_assert_eq(EVP_DigestSignInit(ctx, NULL, NULL, NULL, ed), 1);
        cr_assert_eq(EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)input, strlen(input)), 1);
        EVP_MD_CTX_free(ctx);
    } else {
        unsigned n = 0;
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)input, strlen(input), sig, &n);
        sig_len = n;
    }
    char *s = b64u(sig, sig_len);
    snprintf(out, 8192, "Bearer %s.%s", input, s);
    free(h), free(p), free(s);
    return out;
}

static ug_auth_checker_t *checker(void)
{
    char err[256] = "";
    ug_auth_checker_t *c = ug_auth_checker_new(&cfg, NOW, err, sizeof(err));
    cr_assert_not_null(c, "checker: %s", err);
    return c;
}

/* Check `authorization` (NULL: no header) and return the status; the result stays in *r. */
static ug_auth_status_t check(ug_auth_checker_t *c, const char *authorization, int64_t now, ug_auth_result_t *r)
{
    ug_auth_check(c, authorization, authorization ? strlen(authorization) : 0, now, r);
    return r->status;
}

#define expect_status(c, authz, now, want)                                                                             \
    do {                                                                                                               \
        ug_auth_result_t r_ = {0};                                                                                     \
        ug_auth_status_t st_ = check((c), (authz), (now), &r_);                                                        \
        cr_assert_eq(st_, (want), "%s: status %d (%s)", (authz) ? (authz) : "(none)", st_, r_.error_description);       \
        ug_auth_result_clear(&r_);                                                                                     \
    } while (0)

/* ---- Authorization header ---- */

Test(bearer, extraction_table)
{
    static const struct {
        const char *value;
        ug_auth_status_t want;
        const char *token;
    } cases[] = {
        {"Bearer abc", UG_AUTH_OK, "abc"},
        {"bearer abc", UG_AUTH_OK, "abc"},
        {"BEARER abc", UG_AUTH_OK, "abc"},
        {"Bearer    abc", UG_AUTH_OK, "abc"},
        {"  Bearer abc  ", UG_AUTH_OK, "abc"},
        {"Bearer a.b.c", UG_AUTH_OK, "a.b.c"},
        {"Bearer A-Z_a~z+0/9==", UG_AUTH_OK, "A-Z_a~z+0/9=="},
        {"Bearer\tabc", UG_AUTH_OK, "abc"},
        {"", UG_AUTH_MISSING, NULL},
        {"   ", UG_AUTH_MISSING, NULL},
        {"Basic dXNlcjpwYXNz", UG_AUTH_MISSING, NULL},
        {"Bearerabc", UG_AUTH_MISSING, NULL},
        {"Token abc", UG_AUTH_MISSING, NULL},
        {"Bearer", UG_AUTH_INVALID_REQUEST, NULL},
        {"Bearer ", UG_AUTH_INVALID_REQUEST, NULL},
        {"Bearer a b", UG_AUTH_INVALID_REQUEST, NULL},
        {"Bearer ab=c", UG_AUTH_INVALID_REQUEST, NULL},
        {"Bearer ===", UG_AUTH_INVALID_REQUEST, NULL},
        {"Bearer abc,def", UG_AUTH_INVALID_REQUEST, NULL},
        {"Bearer \"abc\"", UG_AUTH_INVALID_REQUEST, NULL},
        {"Bearer abc\r\n", UG_AUTH_INVALID_REQUEST, NULL},
        {"Bearer ab\xc3\xa9", UG_AUTH_INVALID_REQUEST, NULL},
        {"Bearer realm=x", UG_AUTH_INVALID_REQUEST, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *tok = NULL;
        size_t len = 0;
        ug_auth_status_t st = ug_auth_extract_bearer(cases[i].value, strlen(cases[i].value), &tok, &len);
        cr_assert_eq(st, cases[i].want, "'%s': %d", cases[i].value, st);
        if (cases[i].token != NULL) {
            cr_assert_eq(len, strlen(cases[i].token), "'%s'", cases[i].value);
            cr_assert_eq(memcmp(tok, cases[i].token, len), 0, "'%s'", cases[i].value);
        }
    }
    const char *tok;
    size_t len;
    cr_assert_eq(ug_auth_extract_bearer(NULL, 0, &tok, &len), UG_AUTH_MISSING);
    /* Only `len` bytes count. */
    cr_assert_eq(ug_auth_extract_bearer("Bearer abc def", 10, &tok, &len), UG_AUTH_OK);
    cr_assert_eq(len, 3);
}

/* ---- static tokens ---- */

Test(tokens, parse_lines_and_lists)
{
    const char *why = NULL;
    const char *text = "# deploy tokens\r\n\r\n  alpha-1  \r\nbeta.2\n\t\n#gamma\nomega==";
    ug_auth_tokens_t *set = ug_auth_tokens_parse(text, strlen(text), '\n', &why);
    cr_assert_not_null(set, "%s", why);
    cr_assert_eq(ug_auth_tokens_count(set), 3);
    cr_assert(ug_auth_tokens_match(set, "alpha-1", 7, NULL));
    cr_assert(ug_auth_tokens_match(set, "beta.2", 6, NULL));
    cr_assert(ug_auth_tokens_match(set, "omega==", 7, NULL));
    cr_assert_not(ug_auth_tokens_match(set, "#gamma", 6, NULL));
    cr_assert_not(ug_auth_tokens_match(set, "alpha-", 6, NULL));
    cr_assert_not(ug_auth_tokens_match(set, "alpha-1 ", 8, NULL));
    cr_assert_not(ug_auth_tokens_match(set, "", 0, NULL));
    ug_auth_tokens_free(set);

    set = ug_auth_tokens_parse(" a1 ,, b2,c3 ", 13, ',', &why);
    cr_assert_not_null(set, "%s", why);
    cr_assert_eq(ug_auth_tokens_count(set), 3);
    cr_assert(ug_auth_tokens_match(set, "b2", 2, NULL));
    cr_assert_not(ug_auth_tokens_match(set, "a1 ", 3, NULL));
    ug_auth_tokens_free(set);

    cr_assert_null(ug_auth_tokens_parse("good\nbad token\n", 16, '\n', &why));
    cr_assert_str_eq(why, "a token is not an RFC 6750 b64token");
    set = ug_auth_tokens_parse("", 0, '\n', &why);
    cr_assert_eq(ug_auth_tokens_count(set), 0);
    cr_assert_not(ug_auth_tokens_match(set, "x", 1, NULL));
    ug_auth_tokens_free(set);
}

Test(tokens, every_entry_is_compared)
{
    const char *why;
    ug_auth_tokens_t *set = ug_auth_tokens_parse("first\nsecond\nthird\nfourth\n", 26, '\n', &why);
    size_t compared = 0;
    /* A match on the first entry still walks the whole set: no early exit. */
    cr_assert(ug_auth_tokens_match(set, "first", 5, &compared));
    cr_assert_eq(compared, 4);
    cr_assert_not(ug_auth_tokens_match(set, "nope", 4, &compared));
    cr_assert_eq(compared, 4);
    cr_assert_not(ug_auth_tokens_match(NULL, "first", 5, &compared));
    cr_assert_eq(compared, 0);
    ug_auth_tokens_free(set);
}

Test(auth, tokens_file_accepts_and_rejects)
{
    cfg.tokens_file = put("tokens", "# comment\nsecret-token-1\r\nsecret-token-2\n", 1000);
    ug_auth_checker_t *c = checker();
    ug_auth_result_t r = {0};

    cr_assert_eq(check(c, "Bearer secret-token-2", NOW, &r), UG_AUTH_OK);
    cr_assert_eq(r.method, UG_AUTH_METHOD_TOKEN);
    unsigned char d[32];
    char want[32];
    SHA256((const unsigned char *)"secret-token-2", 14, d);
    snprintf(want, sizeof(want), "token:%02x%02x%02x%02x", d[0], d[1], d[2], d[3]);
    cr_assert_str_eq(r.subject, want);
    cr_assert_eq(json_array_size(r.scopes), 0);
    cr_assert_eq(json_object_size(r.claims), 0);
    cr_assert_str_eq(r.error_description, "");

    cr_assert_eq(check(c, "Bearer secret-token-3", NOW, &r), UG_AUTH_INVALID_TOKEN);
    cr_assert_str_eq(r.error_description, "the token is not valid");
    cr_assert_null(r.subject);
    cr_assert_null(r.scopes);
    cr_assert_eq(ug_auth_http_status(r.status), 401);
    char *www = ug_auth_www_authenticate(&r, NULL);
    cr_assert_str_eq(www, "Bearer realm=\"uploadgate\", error=\"invalid_token\", error_description=\"the token is not valid\"");
    free(www);

    expect_status(c, "Bearer secret-token-", NOW, UG_AUTH_INVALID_TOKEN);
    expect_status(c, "Bearer secret-token-22", NOW, UG_AUTH_INVALID_TOKEN);
    expect_status(c, "Bearer # comment", NOW, UG_AUTH_INVALID_REQUEST);
    expect_status(c, "bearer   secret-token-1", NOW, UG_AUTH_OK);

    cr_assert_eq(check(c, NULL, NOW, &r), UG_AUTH_MISSING);
    www = ug_auth_www_authenticate(&r, NULL);
    cr_assert_str_eq(www, "Bearer realm=\"uploadgate\"", "no error code without credentials (RFC 6750 3.1)");
    free(www);
    cr_assert_eq(ug_auth_http_status(r.status), 401);
    cr_assert_eq(check(c, "Basic dXNlcjpwYXNz", NOW, &r), UG_AUTH_MISSING);
    cr_assert_eq(check(c, "Bearer", NOW, &r), UG_AUTH_INVALID_REQUEST);
    cr_assert_eq(ug_auth_http_status(r.status), 400);
    www = ug_auth_www_authenticate(&r, NULL);
    cr_assert_str_eq(www, "Bearer realm=\"uploadgate\", error=\"invalid_request\", error_description=\"the Authorization header "
                          "is not valid Bearer credentials\"");
    free(www);
    ug_auth_result_clear(&r);
    ug_auth_checker_free(c);
}

Test(auth, tokens_file_reloads_when_it_changes)
{
    cfg.tokens_file = put("tokens", "old-token\n", 1000);
    ug_auth_checker_t *c = checker();
    char err[256];

    expect_status(c, "Bearer old-token", NOW, UG_AUTH_OK);
    free(put("tokens", "new-token\n", 2000));
    /* Same second: the file is not looked at again (at most one stat per second). */
    expect_status(c, "Bearer old-token", NOW, UG_AUTH_OK);
    expect_status(c, "Bearer new-token", NOW, UG_AUTH_INVALID_TOKEN);
    /* Next second: the change is seen. */
    expect_status(c, "Bearer new-token", NOW + 1, UG_AUTH_OK);
    expect_status(c, "Bearer old-token", NOW + 1, UG_AUTH_INVALID_TOKEN);
    cr_assert_eq(ug_auth_checker_reload_error(c, err, sizeof(err)), 0);

    /* Same size, same mtime, new content: the ctime / inode still tell (rename over it). */
    char *tmp = put("tokens.tmp", "nex-token\n", 2000);
    cr_assert_eq(rename(tmp, cfg.tokens_file), 0);
    free(tmp);
    expect_status(c, "Bearer nex-token", NOW + 2, UG_AUTH_OK);
    ug_auth_checker_free(c);
}

Test(auth, tokens_file_keeps_old_set_when_reload_fails)
{
    cfg.tokens_file = put("tokens", "kept-token\n", 1000);
    ug_auth_checker_t *c = checker();
    char err[256];

    /* Content that does not parse. */
    free(put("tokens", "kept token with spaces\n", 2000));
    expect_status(c, "Bearer kept-token", NOW + 1, UG_AUTH_OK);
    cr_assert_eq(ug_auth_checker_reload_error(c, err, sizeof(err)), 1);
    cr_assert(strstr(err, "tokens_file") != NULL && strstr(err, "not an RFC 6750 b64token") != NULL, "%s", err);
    /* Reported once, and not retried while the file stays the same. */
    expect_status(c, "Bearer kept-token", NOW + 2, UG_AUTH_OK);
    cr_assert_eq(ug_auth_checker_reload_error(c, err, sizeof(err)), 0);

    /* The file disappears (or becomes unreadable). */
    cr_assert_eq(unlink(cfg.tokens_file), 0);
    expect_status(c, "Bearer kept-token", NOW + 3, UG_AUTH_OK);
    cr_assert_eq(ug_auth_checker_reload_error(c, err, sizeof(err)), 1);
    cr_assert(strstr(err, "No such file") != NULL, "%s", err);

    /* A directory in its place. */
    cr_assert_eq(mkdir(cfg.tokens_file, 0700), 0);
    expect_status(c, "Bearer kept-token", NOW + 4, UG_AUTH_OK);
    cr_assert_eq(ug_auth_checker_reload_error(c, err, sizeof(err)), 1);
    cr_assert_eq(rmdir(cfg.tokens_file), 0);

    /* Fixed: loaded again. */
    free(put("tokens", "fresh-token\n", 3000));
    expect_status(c, "Bearer fresh-token", NOW + 5, UG_AUTH_OK);
    expect_status(c, "Bearer kept-token", NOW + 5, UG_AUTH_INVALID_TOKEN);
    ug_auth_checker_free(c);
}

Test(auth, tokens_file_behind_a_swapped_symlink)
{
    /* A Kubernetes secret volume: tokens -> ..data/tokens, ..data -> ..v1, swapped atomically to ..v2. */
    char path[128], target[128];
    snprintf(path, sizeof(path), "%s/..v1", dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/..v2", dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    free(put("..v1/tokens", "version-one\n", 1000));
    free(put("..v2/tokens", "version-two\n", 1000));
    snprintf(path, sizeof(path), "%s/..data", dir);
    cr_assert_eq(symlink("..v1", path), 0);
    snprintf(path, sizeof(path), "%s/tokens", dir);
    cr_assert_eq(symlink("..data/tokens", path), 0);
    cfg.tokens_file = strdup(path);

    ug_auth_checker_t *c = checker();
    expect_status(c, "Bearer version-one", NOW, UG_AUTH_OK);
    snprintf(path, sizeof(path), "%s/..data_tmp", dir);
    cr_assert_eq(symlink("..v2", path), 0);
    snprintf(target, sizeof(target), "%s/..data", dir);
    cr_assert_eq(rename(path, target), 0);
    expect_status(c, "Bearer version-two", NOW + 1, UG_AUTH_OK);
    expect_status(c, "Bearer version-one", NOW + 1, UG_AUTH_INVALID_TOKEN);
    ug_auth_checker_free(c);
}

Test(auth, env_tokens)
{
    cfg.tokens_env = strdup("UG_TEST_TOKENS");
    setenv("UG_TEST_TOKENS", "env-one, env-two ,,env-three", 1);
    ug_auth_checker_t *c = checker();
    expect_status(c, "Bearer env-one", NOW, UG_AUTH_OK);
    expect_status(c, "Bearer env-two", NOW, UG_AUTH_OK);
    expect_status(c, "Bearer env-three", NOW, UG_AUTH_OK);
    expect_status(c, "Bearer env-four", NOW, UG_AUTH_INVALID_TOKEN);
    ug_auth_checker_free(c);

    /* File and environment together: either set grants access. */
    cfg.tokens_file = put("tokens", "file-one\n", 1000);
    c = checker();
    expect_status(c, "Bearer env-two", NOW, UG_AUTH_OK);
    expect_status(c, "Bearer file-one", NOW, UG_AUTH_OK);
    ug_auth_checker_free(c);

    char err[128];
    unsetenv("UG_TEST_TOKENS");
    cr_assert_null(ug_auth_checker_new(&cfg, NOW, err, sizeof(err)));
    cr_assert_str_eq(err, "tokens_env UG_TEST_TOKENS is not set");
    setenv("UG_TEST_TOKENS", "ok,not ok", 1);
    cr_assert_null(ug_auth_checker_new(&cfg, NOW, err, sizeof(err)));
    cr_assert_str_eq(err, "tokens_env UG_TEST_TOKENS: a token is not an RFC 6750 b64token");
}

Test(auth, checker_fails_fast_on_unloadable_files)
{
    char err[256];
    char path[128];
    snprintf(path, sizeof(path), "%s/absent", dir);
    cfg.tokens_file = strdup(path);
    cr_assert_null(ug_auth_checker_new(&cfg, NOW, err, sizeof(err)));
    cr_assert(strstr(err, "tokens_file") && strstr(err, "No such file or directory"), "%s", err);
    free(cfg.tokens_file);
    cfg.tokens_file = NULL;

    cfg.jwt.algorithms = B(HS256);
    cfg.jwt_secret_file = put("short", "too-short\n", 1000);
    cr_assert_null(ug_auth_checker_new(&cfg, NOW, err, sizeof(err)));
    cr_assert(strstr(err, "jwt.secret_file") && strstr(err, "shorter than 32 bytes"), "%s", err);
}

/* ---- JWTs through the checker ---- */

static void hs_config(void)
{
    cfg.jwt.algorithms = B(HS256);
    /* The trailing newline is not part of the secret. */
    char text[128];
    snprintf(text, sizeof(text), "%s\n", SECRET);
    cfg.jwt_secret_file = put("jwt.secret", text, 1000);
    cfg.jwt.issuer = strdup("https://id.example.com");
    cfg.jwt.audience = strdup("uploads");
    cfg.jwt.required_scopes = calloc(1, sizeof(char *));
    cfg.jwt.required_scopes[0] = strdup("upload");
    cfg.jwt.n_required_scopes = 1;
    cfg.jwt.leeway_ms = 30000;
}

Test(auth, jwt_success_result)
{
    hs_config();
    ug_auth_checker_t *c = checker();
    ug_auth_result_t r = {0};
    char *authz =
        bearer_jwt(SECRET, NULL, NULL,
                   "{\"iss\":\"https://id.example.com\",\"aud\":[\"uploads\",\"x\"],\"sub\":\"user-42\",\"exp\":1700000100,"
                   "\"iat\":1699999999,\"scope\":\"read upload\",\"email\":\"a@example.com\",\"secret_stuff\":"
                   "\"do not relay\",\"client_id\":\"cli\"}");
    cr_assert_eq(check(c, authz, NOW, &r), UG_AUTH_OK, "%s", r.error_description);
    cr_assert_eq(r.method, UG_AUTH_METHOD_JWT);
    cr_assert_str_eq(r.subject, "user-42");
    char *scopes = ug_auth_scopes_header(&r), *subject = ug_auth_subject_header(&r);
    cr_assert_str_eq(scopes, "read upload");
    cr_assert_str_eq(subject, "user-42");
    free(scopes), free(subject);

    json_t *m = ug_auth_manifest_json(&r);
    char *text = json_dumps(m, JSON_SORT_KEYS | JSON_COMPACT);
    cr_assert_str_eq(text, "{\"claims\":{\"aud\":[\"uploads\",\"x\"],\"client_id\":\"cli\",\"email\":\"a@example.com\","
                           "\"exp\":1700000100,\"iat\":1699999999,\"iss\":\"https://id.example.com\",\"scope\":\"read upload\","
                           "\"sub\":\"user-42\"},\"method\":\"jwt\",\"scopes\":[\"read\",\"upload\"],\"subject\":\"user-42\"}");
    free(text);
    json_decref(m);
    free(authz);

    /* Expired beyond the leeway; no subject: null in the manifest, no X-Auth-Subject. */
    authz = bearer_jwt(SECRET, NULL, NULL,
                       "{\"iss\":\"https://id.example.com\",\"aud\":\"uploads\",\"exp\":1699999990,\"scp\":[\"upload\"]}");
    cr_assert_eq(check(c, authz, NOW, &r), UG_AUTH_OK, "within leeway: %s", r.error_description);
    cr_assert_null(r.subject);
    cr_assert_null(ug_auth_subject_header(&r));
    m = ug_auth_manifest_json(&r);
    cr_assert(json_is_null(json_object_get(m, "subject")));
    json_decref(m);
    cr_assert_eq(check(c, authz, NOW + 21, &r), UG_AUTH_INVALID_TOKEN);
    cr_assert_str_eq(r.error_description, "the token has expired");
    free(authz);
    ug_auth_result_clear(&r);
    ug_auth_checker_free(c);
}

Test(auth, jwt_insufficient_scope)
{
    hs_config();
    ug_auth_checker_t *c = checker();
    ug_auth_result_t r = {0};
    char *authz = bearer_jwt(
        SECRET, NULL, NULL,
        "{\"iss\":\"https://id.example.com\",\"aud\":\"uploads\",\"sub\":\"bob\",\"exp\":1700000100,\"scope\":\"read\"}");
    cr_assert_eq(check(c, authz, NOW, &r), UG_AUTH_INSUFFICIENT_SCOPE);
    cr_assert_eq(ug_auth_http_status(r.status), 403);
    cr_assert_eq(ug_auth_err(r.status), UG_ERR_FORBIDDEN);
    cr_assert_str_eq(r.subject, "bob");
    cr_assert_null(r.scopes);
    char *www = ug_auth_www_authenticate(&r, "files");
    cr_assert_str_eq(www, "Bearer realm=\"files\", error=\"insufficient_scope\", error_description=\"the token lacks a required "
                          "scope\", scope=\"upload\"");
    free(www);
    free(authz);
    ug_auth_result_clear(&r);
    ug_auth_checker_free(c);
}

Test(auth, jwt_rejections_through_the_checker)
{
    hs_config();
    ug_auth_checker_t *c = checker();
    ug_auth_result_t r = {0};
    const char *base = "\"iss\":\"https://id.example.com\",\"aud\":\"uploads\",\"exp\":1700000100,\"scope\":\"upload\"";
    char payload[512];

    snprintf(payload, sizeof(payload), "{%s}", base);
    char *good = bearer_jwt(SECRET, NULL, NULL, payload);
    cr_assert_eq(check(c, good, NOW, &r), UG_AUTH_OK, "%s", r.error_description);
    /* The secret with its newline is another key. */
    char nl[64];
    snprintf(nl, sizeof(nl), "%s\n", SECRET);
    char *bad = bearer_jwt(nl, NULL, NULL, payload);
    cr_assert_eq(check(c, bad, NOW, &r), UG_AUTH_INVALID_TOKEN);
    cr_assert_str_eq(r.error_description, "signature verification failed");
    free(bad);
    snprintf(payload, sizeof(payload), "{\"iss\":\"https://evil.example.com\",\"aud\":\"uploads\",\"exp\":1700000100}");
    bad = bearer_jwt(SECRET, NULL, NULL, payload);
    cr_assert_eq(check(c, bad, NOW, &r), UG_AUTH_INVALID_TOKEN, "%s", payload);
    cr_assert_str_eq(r.error_description, "the token has the wrong issuer");
    free(bad);
    /* Not JWS-shaped: plainly unknown. */
    cr_assert_eq(check(c, "Bearer abc.def", NOW, &r), UG_AUTH_INVALID_TOKEN);
    cr_assert_str_eq(r.error_description, "the token is not valid");
    cr_assert_eq(check(c, "Bearer abc.def.", NOW, &r), UG_AUTH_INVALID_TOKEN);
    cr_assert_str_eq(r.error_description, "the token header is not base64url JSON object");
    free(good);
    ug_auth_result_clear(&r);
    ug_auth_checker_free(c);
}

Test(auth, hs256_signed_with_the_public_key_pem_is_refused)
{
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    char *pem = pem_of(rsa);

    cfg.jwt.algorithms = B(RS256) | B(HS256);
    cfg.jwt_public_key_file = put("jwt.pem", pem, 1000);
    cfg.jwt_secret_file = put("jwt.secret", SECRET, 1000);
    ug_auth_checker_t *c = checker();
    ug_auth_result_t r = {0};
    char *authz = bearer_jwt(pem, NULL, NULL, "{\"exp\":1700000100}");
    cr_assert_eq(check(c, authz, NOW, &r), UG_AUTH_INVALID_TOKEN);
    cr_assert_str_eq(r.error_description, "signature verification failed");
    free(authz);
    /* With the trailing newline stripped, as a naive verifier would. */
    pem[strlen(pem) - 1] = '\0';
    authz = bearer_jwt(pem, NULL, NULL, "{\"exp\":1700000100}");
    cr_assert_eq(check(c, authz, NOW, &r), UG_AUTH_INVALID_TOKEN);
    free(authz);
    ug_auth_result_clear(&r);
    ug_auth_checker_free(c);
    free(pem);
    EVP_PKEY_free(rsa);
}

static char *ed_jwk(EVP_PKEY *k, const char *kid)
{
    unsigned char raw[32];
    size_t n = sizeof(raw);
    cr_assert_eq(EVP_PKEY_get_raw_public_key(k, raw, &n), 1);
    char *x = b64u(raw, n), *out = malloc(256);
    snprintf(out, 256, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"%s\",\"x\":\"%s\"}", kid, x);
    free(x);
    return out;
}

Test(auth, jwks_file_reloads_when_it_changes)
{
    EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), *k2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    char *j1 = ed_jwk(k1, "k1"), *j2 = ed_jwk(k2, "k2"), text[1024];
    snprintf(text, sizeof(text), "{\"keys\":[%s]}", j1);
    cfg.jwt.algorithms = B(EDDSA);
    cfg.jwt_jwks_file = put("jwks.json", text, 1000);
    ug_auth_checker_t *c = checker();
    ug_auth_result_t r = {0};
    char *t1 = bearer_jwt(NULL, k1, "k1", "{\"exp\":1700000100}"), *t2 = bearer_jwt(NULL, k2, "k2", "{\"exp\":1700000100}");

    cr_assert_eq(check(c, t1, NOW, &r), UG_AUTH_OK, "%s", r.error_description);
    cr_assert_eq(check(c, t2, NOW, &r), UG_AUTH_INVALID_TOKEN);
    cr_assert_str_eq(r.error_description, "no key matches the token kid and alg");
    /* Key rotation: k2 added. */
    snprintf(text, sizeof(text), "{\"keys\":[%s,%s]}", j1, j2);
    free(put("jwks.json", text, 2000));
    cr_assert_eq(check(c, t2, NOW + 1, &r), UG_AUTH_OK, "%s", r.error_description);
    cr_assert_eq(check(c, t1, NOW + 1, &r), UG_AUTH_OK, "%s", r.error_description);
    /* A broken JWK Set keeps the previous keys. */
    free(put("jwks.json", "{\"keys\": [", 3000));
    cr_assert_eq(check(c, t2, NOW + 2, &r), UG_AUTH_OK, "%s", r.error_description);
    char err[256];
    cr_assert_eq(ug_auth_checker_reload_error(c, err, sizeof(err)), 1);
    cr_assert(strstr(err, "jwt.jwks_file") != NULL, "%s", err);
    free(t1), free(t2), free(j1), free(j2);
    ug_auth_result_clear(&r);
    ug_auth_checker_free(c);
    EVP_PKEY_free(k1), EVP_PKEY_free(k2);
}

Test(auth, a_jwt_without_kid_is_checked_against_every_key_of_the_route)
{
    /* A JWK Set mid-rotation (old and new key, both Ed25519) and a token from an issuer that sets no kid. */
    EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), *k2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
             *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    char *j1 = ed_jwk(k1, "old"), *j2 = ed_jwk(k2, "new"), text[1024];
    snprintf(text, sizeof(text), "{\"keys\":[%s,%s]}", j1, j2);
    cfg.jwt.algorithms = B(EDDSA);
    cfg.jwt_jwks_file = put("jwks.json", text, 1000);
    ug_auth_checker_t *c = checker();
    ug_auth_result_t r = {0};
    char *t1 = bearer_jwt(NULL, k1, NULL, "{\"sub\":\"one\",\"exp\":1700000100}"),
         *t2 = bearer_jwt(NULL, k2, NULL, "{\"sub\":\"two\",\"exp\":1700000100}"),
         *t3 = bearer_jwt(NULL, other, NULL, "{\"sub\":\"three\",\"exp\":1700000100}");

    cr_assert_eq(check(c, t1, NOW, &r), UG_AUTH_OK, "%s", r.error_description);
    cr_assert_str_eq(r.subject, "one");
    cr_assert_eq(check(c, t2, NOW, &r), UG_AUTH_OK, "%s", r.error_description);
    cr_assert_str_eq(r.subject, "two");
    cr_assert_eq(check(c, t3, NOW, &r), UG_AUTH_INVALID_TOKEN);
    cr_assert_str_eq(r.error_description, "signature verification failed");
    free(t1), free(t2), free(t3), free(j1), free(j2);
    ug_auth_result_clear(&r);
    ug_auth_checker_free(c);
    EVP_PKEY_free(k1), EVP_PKEY_free(k2), EVP_PKEY_free(other);
}

Test(auth, static_token_and_jwt_together)
{
    hs_config();
    cfg.tokens_file = put("tokens", "static-one\n", 1000);
    ug_auth_checker_t *c = checker();
    expect_status(c, "Bearer static-one", NOW, UG_AUTH_OK);
    char *authz = bearer_jwt(SECRET, NULL, NULL,
                             "{\"iss\":\"https://id.example.com\",\"aud\":\"uploads\",\"exp\":1700000100,\"scope\":\"upload\"}");
    expect_status(c, authz, NOW, UG_AUTH_OK);
    expect_status(c, "Bearer static-two", NOW, UG_AUTH_INVALID_TOKEN);
    free(authz);
    ug_auth_checker_free(c);
}

/* ---- renderings ---- */

Test(auth, descriptions_and_headers_are_header_safe)
{
    ug_auth_result_t r = {0};
    ug_auth_result_set_error(&r, UG_AUTH_INVALID_TOKEN, "bad \"quoted\" \\ thing\r\nX-Evil: 1");
    cr_assert_str_eq(r.error_description, "bad quoted  thingX-Evil: 1");
    char *www = ug_auth_www_authenticate(&r, "up\"load\\gate\n");
    cr_assert_str_eq(www, "Bearer realm=\"uploadgate\", error=\"invalid_token\", error_description=\"bad quoted  thingX-Evil: 1\"");
    free(www);
    cr_assert_null(ug_auth_manifest_json(&r), "no manifest member for a failure");
    ug_auth_result_set_error(&r, UG_AUTH_INTERNAL, "boom");
    www = ug_auth_www_authenticate(&r, NULL);
    cr_assert_str_eq(www, "Bearer realm=\"uploadgate\"");
    cr_assert_eq(ug_auth_http_status(r.status), 500);
    free(www);
    ug_auth_result_clear(&r);

    r.subject = strdup("eve\r\nX-Admin: yes");
    r.scopes = json_pack("[s,s]", "a\tb", "c");
    char *s = ug_auth_subject_header(&r), *sc = ug_auth_scopes_header(&r);
    cr_assert_str_eq(s, "eve??X-Admin: yes");
    cr_assert_str_eq(sc, "a?b c");
    free(s), free(sc);
    ug_auth_result_clear(&r);
    cr_assert_null(r.subject);

    /* Long descriptions are cut, never overflow. */
    char longd[400];
    memset(longd, 'x', sizeof(longd) - 1);
    longd[sizeof(longd) - 1] = '\0';
    ug_auth_result_set_error(&r, UG_AUTH_INVALID_TOKEN, longd);
    cr_assert_eq(strlen(r.error_description), UG_AUTH_DESCRIPTION_MAX - 1);
    cr_assert_str_eq(ug_auth_error_code(UG_AUTH_INVALID_TOKEN), "invalid_token");
    cr_assert_null(ug_auth_error_code(UG_AUTH_MISSING));
    cr_assert_eq(ug_auth_err(UG_AUTH_INVALID_REQUEST), UG_ERR_BAD_REQUEST);
    cr_assert_eq(ug_auth_err(UG_AUTH_OK), UG_OK);
}

Test(auth, config_validation)
{
    char err[256];
    cr_assert_eq(ug_auth_config_validate(&cfg, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "auth needs tokens_file, tokens_env or jwt.algorithms");
    cfg.jwt.algorithms = B(HS256) | B(RS256);
    cfg.jwt_secret_file = strdup("/x");
    cr_assert_eq(ug_auth_config_validate(&cfg, err, sizeof(err)), -1);
    cr_assert(strstr(err, "public_key_file or jwks_file") != NULL, "%s", err);
    cfg.jwt_jwks_file = strdup("/y");
    cr_assert_eq(ug_auth_config_validate(&cfg, err, sizeof(err)), 0, "%s", err);
    cfg.jwt.algorithms = B(RS256);
    cr_assert_eq(ug_auth_config_validate(&cfg, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "auth.jwt: HS* algorithms and secret_file go together");
    cfg.jwt.algorithms = B(RS256) | B(HS512);
    cfg.jwt.required_scopes = calloc(2, sizeof(char *));
    cfg.jwt.required_scopes[0] = strdup("upload");
    cfg.jwt.required_scopes[1] = strdup("a\"b");
    cfg.jwt.n_required_scopes = 2;
    cr_assert_eq(ug_auth_config_validate(&cfg, err, sizeof(err)), -1);
    cr_assert(strstr(err, "required_scopes") != NULL, "%s", err);
    cfg.jwt.n_required_scopes = 1;
    cr_assert_eq(ug_auth_config_validate(&cfg, err, sizeof(err)), 0, "%s", err);
    cfg.jwt.n_required_scopes = 2; /* so that dispose frees both */
    cfg.jwt.algorithms = 0;
    cfg.tokens_env = strdup("X");
    cr_assert_eq(ug_auth_config_validate(&cfg, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "auth.jwt needs algorithms");
}
