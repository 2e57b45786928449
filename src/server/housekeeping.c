/*
 * housekeeping.c - see housekeeping.h.
 */
#include "server/housekeeping.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"
#include "resumable/store.h"

struct ug_housekeeping {
    ug_runtime_slot_t *runtime;
    ug_metrics_t *metrics;
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    ug_s3_client_t *s3;     /* NULL: no object storage */
    ug_s3_inbox_t *inbox;   /* the sweeps' results */
    int inbox_pending;      /* under lock: the S3 thread posted to the inbox */
    int sweeping;           /* a sweep is running (this thread only) */
    uint64_t next_sweep_ms; /* monotonic; 0 = the start-up sweep; UINT64_MAX = no more */
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

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Called on the S3 thread: cheap, as the inbox asks. */
static void inbox_wake(void *arg)
{
    ug_housekeeping_t *hk = arg;
    pthread_mutex_lock(&hk->lock);
    hk->inbox_pending = 1;
    pthread_cond_signal(&hk->wake);
    pthread_mutex_unlock(&hk->lock);
}

static void swept(void *arg, size_t aborted, ug_err_t err)
{
    ug_housekeeping_t *hk = arg;
    hk->sweeping = 0;
    if (err != UG_OK)
        ug_log_event(UG_LOG_WARN, "janitor", "the object store sweep stopped early (%s); %zu stale multipart uploads aborted",
                     ug_err_code(err), aborted);
    else if (aborted != 0)
        ug_log_event(UG_LOG_INFO, "janitor", "aborted %zu stale multipart uploads under storage.s3.prefix", aborted);
}

/* The store's sweep when due: at start-up, then every retention period (without a retention, the start-up one only,
 * for what a crash left: uploads of a process that died mid-body, older than a day). */
static void maybe_sweep_store(ug_housekeeping_t *hk)
{
    uint64_t now = monotonic_ms();
    if (hk->s3 == NULL || hk->sweeping || now < hk->next_sweep_ms)
        return;
    ug_runtime_t *rt = ug_runtime_slot_acquire(hk->runtime);
    uint64_t retention = rt->config->storage.retention_ms;
    ug_runtime_release(rt);
    uint64_t age = retention != 0 ? retention : UG_HOUSEKEEPING_S3_CRASH_AGE_MS;
    hk->next_sweep_ms = retention != 0 ? now + retention : UINT64_MAX;
    hk->sweeping = 1;
    ug_s3_sweep(hk->s3, hk->inbox, age, swept, hk);
}

static void *housekeeping_main(void *arg)
{
    ug_housekeeping_t *hk = arg;
    uint64_t next_pass = 0;
    pthread_mutex_lock(&hk->lock);
    while (!hk->stop) {
        int pending = hk->inbox_pending;
        hk->inbox_pending = 0;
        pthread_mutex_unlock(&hk->lock);
        if (pending)
            ug_s3_inbox_drain(hk->inbox);
        if (monotonic_ms() >= next_pass) {
            ug_janitor_counts_t counts = {0};
            ug_housekeeping_pass(hk->runtime, hk->metrics, &counts);
            next_pass = monotonic_ms() + UG_HOUSEKEEPING_PERIOD_S * 1000u;
        }
        maybe_sweep_store(hk);
        pthread_mutex_lock(&hk->lock);
        uint64_t due = hk->s3 != NULL && !hk->sweeping && hk->next_sweep_ms < next_pass ? hk->next_sweep_ms : next_pass;
        struct timespec until = {.tv_sec = (time_t)(due / 1000), .tv_nsec = (long)(due % 1000) * 1000000};
        while (!hk->stop && !hk->inbox_pending && pthread_cond_timedwait(&hk->wake, &hk->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&hk->lock);
    return NULL;
}

ug_housekeeping_t *ug_housekeeping_start(ug_runtime_slot_t *runtime, ug_metrics_t *metrics, ug_s3_client_t *s3)
{
    ug_housekeeping_t *hk = calloc(1, sizeof(*hk));
    pthread_condattr_t attr;
    if (hk == NULL)
        return NULL;
    hk->runtime = runtime;
    hk->metrics = metrics;
    hk->s3 = s3;
    if (s3 != NULL && (hk->inbox = ug_s3_inbox_new(inbox_wake, hk)) == NULL) {
        free(hk);
        return NULL;
    }
    pthread_mutex_init(&hk->lock, NULL);
    /* CLOCK_MONOTONIC: a wall-clock step must not make the janitor run in a burst or stop for hours. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&hk->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&hk->tid, NULL, housekeeping_main, hk) != 0) {
        pthread_cond_destroy(&hk->wake);
        pthread_mutex_destroy(&hk->lock);
        ug_s3_inbox_free(hk->inbox);
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
    ug_s3_inbox_free(hk->inbox); /* the client stopped first: nothing posts any more */
    pthread_cond_destroy(&hk->wake);
    pthread_mutex_destroy(&hk->lock);
    free(hk);
}
