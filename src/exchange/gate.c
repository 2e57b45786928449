/*
 * gate.c - see gate.h.
 */
#include "exchange/gate.h"

#include "http/forward_head.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int ug_gate_is_reserved_header(const char *name, size_t len)
{
    return ug_header_name_is(name, len, "x-auth-subject") || ug_header_name_is(name, len, "x-auth-scopes") ||
           ug_header_name_has_prefix(name, len, "x-uploadgate-");
}

int ug_gate_method_is_refused(const char *method, size_t len)
{
    return len == 5 && strncasecmp(method, "TRACE", 5) == 0;
}

static void deny(ug_gate_decision_t *d, ug_err_t err, const char *message)
{
    d->action = UG_GATE_DENY;
    d->err = err;
    snprintf(d->message, sizeof(d->message), "%s", message);
}

void ug_gate_decide(const ug_config_t *config, const ug_route_t *route, ug_auth_checker_t *checker, const ug_gate_request_t *req,
                    int64_t now, ug_gate_decision_t *d)
{
    const ug_cors_config_t *cors = ug_config_cors_for(config, route);

    /* A preflight carries no credentials (Fetch: CORS-preflight requests never include them), so it is decided
     * before auth; without a CORS policy it is an ordinary OPTIONS request for the app. */
    if (cors != NULL) {
        ug_cors_request_t cr = {
            .method = req->method,
            .method_len = req->method_len,
            .origin = req->origin,
            .origin_len = req->origin_len,
            .acr_method = req->acr_method,
            .acr_method_len = req->acr_method_len,
            .acr_headers = req->acr_headers,
            .acr_headers_len = req->acr_headers_len,
        };
        switch (ug_cors_preflight(cors, &cr, &d->cors)) {
        case UG_CORS_PREFLIGHT_OK:
            d->action = UG_GATE_PREFLIGHT_OK;
            return;
        case UG_CORS_PREFLIGHT_REFUSED:
            /* The CORS module leaves only Vary here: no grant, but caches must still key on the origin. */
            d->action = UG_GATE_PREFLIGHT_REFUSED;
            return;
        case UG_CORS_NOT_PREFLIGHT:
            d->cors.n = 0;
            break;
        }
    }

    if (route == NULL || route->auth == NULL) {
        d->action = UG_GATE_PROCEED;
        return;
    }
    if (checker == NULL) { /* its tokens or keys could not be loaded on this thread: fail closed */
        deny(d, UG_ERR_INTERNAL, "authentication is not available");
        return;
    }
    if (req->authorization_count > 1)
        ug_auth_result_set_error(&d->auth, UG_AUTH_INVALID_REQUEST, "more than one Authorization header");
    else
        ug_auth_check(checker, req->authorization, req->authorization_len, now, &d->auth);
    if (d->auth.status == UG_AUTH_OK) {
        d->action = UG_GATE_PROCEED;
        d->authenticated = 1;
        return;
    }
    d->www_authenticate = ug_auth_www_authenticate(&d->auth, NULL);
    const char *why = d->auth.error_description[0] != '\0' ? d->auth.error_description
                      : d->auth.status == UG_AUTH_MISSING ? "a bearer token is required"
                                                          : ug_err_message(ug_auth_err(d->auth.status));
    deny(d, ug_auth_err(d->auth.status), why);
}

void ug_gate_decision_clear(ug_gate_decision_t *d)
{
    free(d->www_authenticate);
    ug_auth_result_clear(&d->auth);
    memset(d, 0, sizeof(*d));
}

void ug_gate_answer(const ug_gate_decision_t *d, ug_gate_answer_t *a)
{
    a->num_fields = 0;
    if (d->action == UG_GATE_PREFLIGHT_OK || d->action == UG_GATE_PREFLIGHT_REFUSED) {
        for (size_t i = 0; i < d->cors.n && i < UG_CORS_MAX_HEADERS; ++i)
            a->fields[a->num_fields++] = (ug_header_t){d->cors.h[i].name, d->cors.h[i].name_len, d->cors.h[i].value, d->cors.h[i].value_len};
        a->err = d->action == UG_GATE_PREFLIGHT_OK ? UG_OK : UG_ERR_FORBIDDEN;
        a->message = d->action == UG_GATE_PREFLIGHT_OK ? NULL : "CORS preflight refused: origin, method or headers not allowed";
        return;
    }
    if (d->www_authenticate != NULL)
        a->fields[a->num_fields++] = (ug_header_t){"www-authenticate", 16, d->www_authenticate, strlen(d->www_authenticate)};
    a->err = d->err;
    a->message = d->message;
}
