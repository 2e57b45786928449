/*
 * observe.c - see observe.h.
 */
#include "exchange/observe.h"

void ug_observe_request(ug_metrics_t *m, const ug_access_record_t *r, int was_begun, int handed_over, uint64_t upload_bytes)
{
    ug_log_access(r);
    if (m == NULL)
        return;
    if (!was_begun) /* answered by h2o itself before our handler saw it: count it, but it never entered the gauge */
        ug_metrics_request_begin(m);
    ug_metrics_request_end(m, r->route != NULL ? r->route : UG_OBSERVE_NO_ROUTE, r->status, r->duration_s, handed_over,
                           handed_over ? upload_bytes : 0, handed_over ? r->files : 0);
}

void ug_observe_settle_upload(ug_metrics_t *m, ug_upload_t *upload, int keep_on_error, ug_err_t err, int status,
                              const char *reason_code, ug_upload_outcome_t *out)
{
    int failed = err != UG_OK || status >= 400;
    *out = (ug_upload_outcome_t){
        .files = ug_upload_file_count(upload), .stored_bytes = ug_upload_stored_bytes(upload), .handed_over = !failed};
    if (err != UG_OK && m != NULL)
        ug_metrics_backend_error(m, reason_code);
    if (failed && !keep_on_error)
        ug_upload_abort(upload);
    else
        ug_upload_release(upload);
}

void ug_observe_gate(ug_metrics_t *m, const ug_gate_decision_t *d)
{
    const char *reason = NULL;
    if (m == NULL || d->action != UG_GATE_DENY)
        return;
    switch (d->auth.status) {
    case UG_AUTH_MISSING:
        reason = "missing_token";
        break;
    case UG_AUTH_INVALID_REQUEST:
        reason = "invalid_request";
        break;
    case UG_AUTH_INVALID_TOKEN:
        reason = "invalid_token";
        break;
    case UG_AUTH_INSUFFICIENT_SCOPE:
        reason = "insufficient_scope";
        break;
    case UG_AUTH_INTERNAL:
        reason = "internal";
        break;
    default:
        return;
    }
    ug_metrics_auth_failure(m, reason);
}
