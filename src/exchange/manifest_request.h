/*
 * manifest_request.h - the request head that carries a manifest to the app,
 * built from what both ingest paths know about the client's request. This is
 * the h2o-free half of forwarding: the target path (route forward_to or the
 * request's own path, under the backend's base path), the client's end-to-end
 * headers minus the reserved ones, X-Auth-* for an authenticated caller,
 * X-Request-Id, X-Forwarded-*, and the manifest signature. The bytes are
 * rendered by ug_forward_head_build() (forward_head.h).
 *
 * Both ingest paths call it (exchange/exchange.c with the head it parsed,
 * handler.c with h2o's request), so the app gets exactly the same head either way.
 */
#ifndef UG_EXCHANGE_MANIFEST_REQUEST_H
#define UG_EXCHANGE_MANIFEST_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "http/forward_head.h"
#include "exchange/gate.h"

typedef struct ug_manifest_request {
    const ug_config_t *config;
    const ug_route_t *route;
    const unsigned char *sign_key; /* NULL: the manifest is not signed */
    size_t sign_key_len;
    const char *method;
    size_t method_len;
    const char *path; /* as sent, with its query */
    size_t path_len;
    const char *scheme;    /* "http" / "https" */
    const char *authority; /* the client's Host / :authority, NULL when none */
    size_t authority_len;
    const char *client_address; /* NUL-terminated */
    const ug_header_t *headers; /* the client's header fields; reserved ones (ug_gate_is_reserved_header) are skipped */
    size_t num_headers;
    const ug_gate_decision_t *gate; /* its auth result gives X-Auth-Subject / X-Auth-Scopes */
    const char *upload_id;          /* X-Request-Id when the client sent no acceptable one */
    const char *json;               /* the manifest */
    size_t json_len;
    int64_t now; /* Unix seconds, for the signature */
} ug_manifest_request_t;

/*
 * Render the head. Returns a malloc'd buffer (caller frees) and its length in
 * *len, or NULL when out of memory or the signature could not be computed.
 */
char *ug_manifest_request_head(const ug_manifest_request_t *f, size_t *len);

#endif
