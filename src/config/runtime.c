/*
 * runtime.c - see runtime.h.
 */
#include "config/runtime.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "policy/auth.h"
#include "policy/signature.h"

static int check_auth(const ug_config_t *config, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < config->route_count; ++i) {
        if (config->routes[i].auth == NULL)
            continue;
        char err[256];
        ug_auth_checker_t *c = ug_auth_checker_new(config->routes[i].auth, ug_wall_seconds(), err, sizeof(err));
        if (c == NULL) {
            snprintf(errbuf, errlen, "route %s: auth: %s", config->routes[i].path, err);
            return -1;
        }
        ug_auth_checker_free(c);
    }
    return 0;
}

ug_err_t ug_runtime_new(ug_config_t *config, uint64_t generation, ug_runtime_t **out, char *errbuf, size_t errlen)
{
    ug_runtime_t *rt = calloc(1, sizeof(*rt));
    *out = NULL;
    if (rt == NULL) {
        ug_config_free(config);
        snprintf(errbuf, errlen, "out of memory");
        return UG_ERR_NOMEM;
    }
    rt->config = config;
    rt->generation = generation;
    atomic_init(&rt->_refs, 1);
    if (check_auth(config, errbuf, errlen) != 0 ||
        (config->backend.signing_key_file != NULL &&
         ug_signature_load_key(config->backend.signing_key_file, &rt->sign_key, &rt->sign_key_len, errbuf, errlen) != 0)) {
        ug_runtime_release(rt);
        return UG_ERR_CONFIG;
    }
    *out = rt;
    return UG_OK;
}

ug_runtime_t *ug_runtime_ref(ug_runtime_t *rt)
{
    atomic_fetch_add_explicit(&rt->_refs, 1, memory_order_relaxed);
    return rt;
}

void ug_runtime_release(ug_runtime_t *rt)
{
    if (rt == NULL || atomic_fetch_sub_explicit(&rt->_refs, 1, memory_order_acq_rel) != 1)
        return;
    if (rt->sign_key != NULL)
        OPENSSL_cleanse(rt->sign_key, rt->sign_key_len);
    free(rt->sign_key);
    ug_config_free(rt->config);
    free(rt);
}

static int str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* The storage.s3 blocks differ in anything (the S3 client is started once, with the start-up block). */
static int s3_differs(const ug_s3_config_t *a, const ug_s3_config_t *b)
{
    if (a == NULL || b == NULL)
        return a != b;
    return str_differs(a->endpoint, b->endpoint) || str_differs(a->region, b->region) || str_differs(a->bucket, b->bucket) ||
           str_differs(a->prefix, b->prefix) || a->path_style != b->path_style ||
           str_differs(a->credentials_file, b->credentials_file) || str_differs(a->ca_file, b->ca_file) ||
           a->part_size != b->part_size || a->parts_in_flight != b->parts_in_flight;
}

const char *ug_runtime_restart_needed(const ug_config_t *boot, const ug_config_t *next, char *buf, size_t len)
{
    const char *what = NULL;
    if (boot->listen_count != next->listen_count)
        what = "listen";
    for (size_t i = 0; what == NULL && i < boot->listen_count; ++i)
        if (str_differs(boot->listen[i].address, next->listen[i].address) ||
            str_differs(boot->listen[i].tls_certificate, next->listen[i].tls_certificate) ||
            str_differs(boot->listen[i].tls_key, next->listen[i].tls_key) ||
            str_differs(boot->listen[i].tls_ciphers, next->listen[i].tls_ciphers))
            what = "listen";
    if (what == NULL && boot->threads != next->threads)
        what = "threads";
    else if (what == NULL && str_differs(boot->admin.address, next->admin.address))
        what = "admin.address";
    else if (what == NULL && (str_differs(boot->backend.url, next->backend.url) || boot->backend.timeout_ms != next->backend.timeout_ms))
        what = "backend.url or backend.timeout";
    else if (what == NULL && (str_differs(boot->storage.dir, next->storage.dir) ||
                              boot->storage.spool_threshold != next->storage.spool_threshold))
        what = "storage.dir or storage.spool_threshold";
    else if (what == NULL && s3_differs(boot->storage.s3, next->storage.s3))
        what = "storage.s3 (SIGHUP re-reads its credentials file only)";
    else if (what == NULL && memcmp(&boot->timeouts, &next->timeouts, sizeof(boot->timeouts)) != 0)
        what = "timeouts";
    else if (what == NULL && (boot->max_connections != next->max_connections ||
                              boot->max_connections_per_client != next->max_connections_per_client))
        what = "max_connections or max_connections_per_client";
    else if (what == NULL && ug_config_largest_max_body(next) > ug_config_largest_max_body(boot))
        /* h2o's global entity limit (server.c) is derived from it once, at start-up */
        what = "a route max_body larger than the largest one started with";
    if (what == NULL)
        return NULL;
    snprintf(buf, len, "%s changed: it takes effect only after a restart", what);
    return buf;
}

void ug_runtime_slot_init(ug_runtime_slot_t *slot, ug_runtime_t *rt)
{
    pthread_mutex_init(&slot->_lock, NULL);
    slot->_current = rt;
}

ug_runtime_t *ug_runtime_slot_acquire(ug_runtime_slot_t *slot)
{
    /* The lock makes "read the pointer, take a reference" one step: a reload cannot free the runtime in between. */
    pthread_mutex_lock(&slot->_lock);
    ug_runtime_t *rt = ug_runtime_ref(slot->_current);
    pthread_mutex_unlock(&slot->_lock);
    return rt;
}

void ug_runtime_slot_replace(ug_runtime_slot_t *slot, ug_runtime_t *rt)
{
    pthread_mutex_lock(&slot->_lock);
    ug_runtime_t *old = slot->_current;
    slot->_current = rt;
    pthread_mutex_unlock(&slot->_lock);
    ug_runtime_release(old);
}

void ug_runtime_slot_dispose(ug_runtime_slot_t *slot)
{
    ug_runtime_release(slot->_current);
    slot->_current = NULL;
    pthread_mutex_destroy(&slot->_lock);
}
