/*
 * server.h - h2o glue: global/host/path configuration, listeners (one socket
 * per listener per thread, SO_REUSEPORT), TLS with ALPN, one event loop and
 * h2o_context_t per worker thread, and graceful shutdown.
 *
 * Ownership: the server borrows the config, which must outlive it.
 */
#ifndef UG_SERVER_H
#define UG_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "errors.h"

typedef struct ug_server ug_server_t;

/* Build the h2o configuration and open every listening socket (so bind errors surface here). */
ug_err ug_server_new(const ug_config_t *config, ug_server_t **out, char *errbuf, size_t errlen);

/* Start the worker threads. Signals should be blocked by the caller first (threads inherit the mask). */
ug_err ug_server_start(ug_server_t *s, char *errbuf, size_t errlen);

/*
 * Stop accepting, let requests in flight finish for up to grace_ms, then return.
 * Joins the worker threads.
 */
void ug_server_stop(ug_server_t *s, uint64_t grace_ms);

void ug_server_free(ug_server_t *s);

#endif
