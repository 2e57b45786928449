/*
 * handler.h - the h2o handler for upload routes on h2o's buffered path
 * (HTTP/2, and HTTP/1.1 served by h2o): h2o has read the whole body into
 * req->entity (spilled to mmapped files on the storage volume above the spool
 * threshold) before on_req runs. Requests that match no upload route are
 * declined so that the next handler (the reverse proxy) passes them through.
 */
#ifndef UG_HANDLER_H
#define UG_HANDLER_H

#include <h2o.h>
#include "config.h"
#include "errors.h"

/*
 * Register the upload handler and the CORS response filter on `pathconf`.
 * `config` and `sign_key` (NULL: manifests are not signed) must outlive the h2o configuration.
 */
void ug_handler_register(h2o_pathconf_t *pathconf, const ug_config_t *config, const unsigned char *sign_key, size_t sign_key_len);

/* Load every route's tokens and keys once, so that a missing or bad file stops start-up with a message. 0 or -1. */
int ug_handler_check_auth(const ug_config_t *config, char *errbuf, size_t errlen);

/* Send uploadgate's JSON error response ({"error":{"code","message"}}) for `e`; message NULL = the default one. */
void ug_handler_send_error(h2o_req_t *req, ug_err e, const char *message);

/* ---- shared with the streaming HTTP/1.1 front (front_http1.c), which serves upload routes on the same threads ---- */

struct ug_forward_ctx;

typedef struct ug_handler_shared {
    const ug_config_t *config;
    const unsigned char *sign_key; /* NULL: manifests are not signed */
    size_t sign_key_len;
    struct ug_forward_ctx *forward;     /* this event loop's forwarder (keep-alive pool to the app) */
    ug_auth_checker_t *const *checkers; /* this event loop's checkers, indexed like config->routes (NULL: no auth) */
} ug_handler_shared_t;

/*
 * What the upload handler registered in ctx's configuration keeps for `ctx`
 * (borrowed: valid as long as the context). -1 when there is no upload
 * handler, or it was not initialised for this context.
 */
int ug_handler_shared(h2o_context_t *ctx, ug_handler_shared_t *out);

#endif
