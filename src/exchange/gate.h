/*
 * gate.h - the edge decision for one request, made from its head alone:
 * CORS preflight, then bearer authentication, for the route the path matched
 * (or the global CORS policy when no route did). Pure: no h2o, no I/O beyond
 * the auth checker's key/token file reloads. Both ingest paths call it, so a
 * request is judged the same whichever path serves it.
 */
#ifndef UG_EXCHANGE_GATE_H
#define UG_EXCHANGE_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/errors.h"
#include "config/config.h"
#include "http/forward_head.h"
#include "policy/auth.h"
#include "policy/cors.h"

typedef struct ug_gate_request {
    const char *method;
    size_t method_len;
    const char *origin; /* NULL when absent */
    size_t origin_len;
    const char *acr_method; /* Access-Control-Request-Method; NULL when absent */
    size_t acr_method_len;
    const char *acr_headers; /* Access-Control-Request-Headers (several joined by ","); NULL when absent */
    size_t acr_headers_len;
    const char *authorization; /* NULL when absent */
    size_t authorization_len;
    unsigned authorization_count; /* more than one Authorization header is a malformed request (RFC 6750 2.1) */
} ug_gate_request_t;

typedef enum ug_gate_action {
    UG_GATE_PROCEED = 0,        /* serve it (upload, or pass through) */
    UG_GATE_PREFLIGHT_OK,       /* answer 204 with `cors` */
    UG_GATE_PREFLIGHT_REFUSED,  /* answer 403 with `cors` (only Vary: no Access-Control-* grant) */
    UG_GATE_DENY,               /* answer `err` with www_authenticate (and the actual-response CORS headers) */
} ug_gate_action_t;

typedef struct ug_gate_decision {
    ug_gate_action_t action;
    ug_err_t err;                /* DENY: UG_ERR_UNAUTHORIZED, UG_ERR_FORBIDDEN, UG_ERR_BAD_REQUEST, UG_ERR_INTERNAL */
    char message[192];         /* DENY: for the JSON error body */
    char *www_authenticate;    /* DENY by auth: the challenge (malloc'd) */
    ug_cors_headers_t cors;    /* PREFLIGHT_OK: the preflight headers; PREFLIGHT_REFUSED: Vary only */
    ug_auth_result_t auth;     /* PROCEED on an auth route: who the caller is (status UG_AUTH_OK) */
    int authenticated;
} ug_gate_decision_t;

/*
 * Decide. `checker` is this thread's checker for route->auth (NULL when the
 * route has no auth). `now` is Unix seconds. The decision must start zeroed
 * and be released with ug_gate_decision_clear(). Pointers in d->cors may point
 * into req's origin buffer.
 */
void ug_gate_decide(const ug_config_t *config, const ug_route_t *route, ug_auth_checker_t *checker, const ug_gate_request_t *req,
                    int64_t now, ug_gate_decision_t *d);

void ug_gate_decision_clear(ug_gate_decision_t *d);

/* The answer to a request the gate stopped (action != UG_GATE_PROCEED), the same for every transport: `err` UG_OK is
 * 204 No Content (a granted preflight), any other the JSON error `err` with `message` (NULL: the default). `fields`
 * go first, in this order: the preflight's CORS fields (a refusal keeps only Vary, as caches must key on the origin),
 * or a denial's WWW-Authenticate. Everything points into the decision, which must outlive the answer. */
typedef struct ug_gate_answer {
    ug_err_t err;
    const char *message;
    ug_header_t fields[UG_CORS_MAX_HEADERS];
    size_t num_fields;
} ug_gate_answer_t;

void ug_gate_answer(const ug_gate_decision_t *d, ug_gate_answer_t *a);

/* Whether a client request header is one uploadgate writes itself for the app and must never take from a client:
 * X-Auth-Subject, X-Auth-Scopes and every X-Uploadgate-*, in either spelling ("X_Auth_Subject" too: ug_header_name_is). */
int ug_gate_is_reserved_header(const char *name, size_t len);

/* Whether uploadgate refuses the method outright, on every route (405): TRACE, in any case. h2o's pipeline would pass
 * it to the app, whose echo of the request would hand a script the credentials and fields it cannot read itself
 * (cross-site tracing); methods are case-sensitive (RFC 9110 9.1), but an app framework may not be. */
int ug_gate_method_is_refused(const char *method, size_t len);

#endif
