/*
 * housekeeping.c - see housekeeping.h.
 */
#include "server/housekeeping.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "resumable/store.h"

struct ug_housekeeping {
    ug_runtime_slot_t *runtime;
    ug_metrics_t *metrics;
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
};

void ug_housekeeping_recover(const char *dir, ug_metrics_t *metrics)
{
    ug_janitor_counts_t incoming = {0}, stale = {0};
    if (ug_janitor_remove_incoming(dir, &incoming) != 0 || ug_janitor_remove_stale_parts(dir, &stale) != 0)
        ug_log_event(UG_LOG_ERROR, "janitor", "cannot read storage.dir %s: %s", dir, strerror(errno));
    if (incoming.dirs_removed != 0 || incoming.errors != 0)
        ug_log_event(incoming.errors != 0 ? UG_LOG_ERROR : UG_LOG_WARN, "janitor",
                     "removed %llu upload directories an earlier run never handed to the application (%llu errors)",
                     (unsigned long long)incoming.dirs_removed, (unsigned long long)incoming.errors);
    if (stale.parts_removed != 0)
        ug_log_event(UG_LOG_WARN, "janitor", "removed %llu unfinished .part files left by an earlier run",
                     (unsigned long long)stale.parts_removed);
    if (metrics != NULL)
        ug_metrics_janitor(metrics, incoming.dirs_removed + stale.dirs_removed, stale.parts_removed);
}

/* Resumable uploads past their expiry (tus expiration), whatever storage.retention says: an unfinished one is
 * nobody's, and a completed one's info only answers a retried last PATCH. */
static void sweep_resumable(const char *dir, ug_metrics_t *metrics)
{
    size_t removed = ug_rstore_sweep_expired(dir, (int64_t)time(NULL));
    if (removed != 0)
        ug_log_event(UG_LOG_INFO, "janitor", "removed %zu expired resumable uploads", removed);
    ug_metrics_resumable_expired(metrics, removed);
}

void ug_housekeeping_pass(ug_runtime_slot_t *runtime, ug_metrics_t *metrics, ug_janitor_counts_t *counts)
{
    ug_runtime_t *rt = ug_runtime_slot_acquire(runtime);
    const ug_storage_config_t *st = &rt->config->storage;
    sweep_resumable(st->dir, metrics);
    if (st->retention_ms != 0) {
        ug_janitor_counts_t pass = {0};
        if (ug_janitor_sweep(st->dir, st->retention_ms / 1000, time(NULL), &pass) != 0)
            ug_log_event(UG_LOG_ERROR, "janitor", "cannot read storage.dir %s: %s", st->dir, strerror(errno));
        if (pass.dirs_removed != 0 || pass.errors != 0)
            ug_log_event(pass.errors != 0 ? UG_LOG_WARN : UG_LOG_INFO, "janitor",
                         "removed %llu upload directories older than storage.retention (%llu errors)",
                         (unsigned long long)pass.dirs_removed, (unsigned long long)pass.errors);
        if (metrics != NULL)
            ug_metrics_janitor(metrics, pass.dirs_removed, pass.parts_removed);
        counts->dirs_removed += pass.dirs_removed;
        counts->parts_removed += pass.parts_removed;
        counts->errors += pass.errors;
    }
    ug_runtime_release(rt);
}

static void *housekeeping_main(void *arg)
{
    ug_housekeeping_t *hk = arg;
    pthread_mutex_lock(&hk->lock);
    while (!hk->stop) {
        pthread_mutex_unlock(&hk->lock);
        ug_janitor_counts_t counts = {0};
        ug_housekeeping_pass(hk->runtime, hk->metrics, &counts);
        pthread_mutex_lock(&hk->lock);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += UG_HOUSEKEEPING_PERIOD_S;
        while (!hk->stop && pthread_cond_timedwait(&hk->wake, &hk->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&hk->lock);
    return NULL;
}

ug_housekeeping_t *ug_housekeeping_start(ug_runtime_slot_t *runtime, ug_metrics_t *metrics)
{
    ug_housekeeping_t *hk = calloc(1, sizeof(*hk));
    pthread_condattr_t attr;
    if (hk == NULL)
        return NULL;
    hk->runtime = runtime;
    hk->metrics = metrics;
    pthread_mutex_init(&hk->lock, NULL);
    /* CLOCK_MONOTONIC: a wall-clock step must not make the janitor run in a burst or stop for hours. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&hk->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&hk->tid, NULL, housekeeping_main, hk) != 0) {
        pthread_cond_destroy(&hk->wake);
        pthread_mutex_destroy(&hk->lock);
        free(hk);
        return NULL;
    }
    return hk;
}

void ug_housekeeping_stop(ug_housekeeping_t *hk)
{
    if (hk == NULL)
        return;
    pthread_mutex_lock(&hk->lock);
    hk->stop = 1;
    pthread_cond_signal(&hk->wake);
    pthread_mutex_unlock(&hk->lock);
    pthread_join(hk->tid, NULL);
    pthread_cond_destroy(&hk->wake);
    pthread_mutex_destroy(&hk->lock);
    free(hk);
}
