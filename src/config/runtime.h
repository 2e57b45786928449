/*
 * runtime.h - one loaded configuration and what is derived from it (the
 * manifest signing key), shared read-only by every thread and replaced as a
 * whole when SIGHUP brings a new one.
 *
 * A request takes a reference to the runtime that is current when its head
 * is decided and keeps it to its end, so a reload never changes the rules in
 * the middle of a request: routes, limits, CORS and auth of the old runtime
 * stay valid (and allocated) until its last request ends.
 *
 * What a running server cannot change without a restart (listeners, threads,
 * storage directory, timeouts, backend address, admin address - all baked into
 * h2o's configuration, sockets or per-thread state at start-up) is compared by
 * ug_runtime_restart_needed(); a reload that changes any of it is refused and
 * the old configuration stays.
 *
 * Thread safety: ug_runtime_ref/release and the slot functions may be called
 * from any thread. Everything reachable from a runtime is immutable.
 */
#ifndef UG_CONFIG_RUNTIME_H
#define UG_CONFIG_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "common/errors.h"

typedef struct ug_runtime {
    ug_config_t *config;    /* owned */
    unsigned char *sign_key; /* backend.signing_key_file's bytes (owned), or NULL: manifests are not signed */
    size_t sign_key_len;
    uint64_t generation;    /* 1 for the configuration started with, +1 per applied reload */
    atomic_size_t _refs;
} ug_runtime_t;

/*
 * Build a runtime from `config` (taken over, also on failure): load the signing
 * key and every route's tokens and keys once, so that a missing or bad file is
 * reported now (start-up stops, a reload is refused) rather than at the first
 * request. One reference is returned. UG_ERR_CONFIG with a message on failure.
 */
ug_err_t ug_runtime_new(ug_config_t *config, uint64_t generation, ug_runtime_t **out, char *errbuf, size_t errlen);

ug_runtime_t *ug_runtime_ref(ug_runtime_t *rt);
/* Drop a reference; the last one frees the runtime and its configuration. NULL is a no-op. */
void ug_runtime_release(ug_runtime_t *rt);

/*
 * NULL when `next` can replace the running configuration; else a message (in
 * `buf`) naming the first setting that needs a restart. `boot` is the
 * configuration the server started with, not the running one: a reload is
 * measured against what was baked in at start-up (h2o's entity limit comes
 * from its largest max_body), so a max_body lowered by one reload may be
 * raised back to the start-up value by the next.
 */
const char *ug_runtime_restart_needed(const ug_config_t *boot, const ug_config_t *next, char *buf, size_t len);

/* The current runtime, swapped atomically with respect to ug_runtime_slot_acquire. */
typedef struct ug_runtime_slot {
    pthread_mutex_t _lock;
    ug_runtime_t *_current;
} ug_runtime_slot_t;

void ug_runtime_slot_init(ug_runtime_slot_t *slot, ug_runtime_t *rt /* taken */);
/* A new reference to the current runtime (release it when done). */
ug_runtime_t *ug_runtime_slot_acquire(ug_runtime_slot_t *slot);
/* Make `rt` (taken) current; the slot's reference to the previous one is dropped. */
void ug_runtime_slot_replace(ug_runtime_slot_t *slot, ug_runtime_t *rt);
void ug_runtime_slot_dispose(ug_runtime_slot_t *slot);

#endif
