/*
 * handler.c - see handler.h. The h2o side of a request on h2o's buffered path: what every request is refused for
 * (target, a path resembling a route, TRACE), upload routes handed to the exchange (front/buffered.h), the gate for
 * requests passed through, and the pathconf's CORS filter and access logger.
 */
#include "server/handler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "http/forward_head.h"
#include "front/buffered.h"
#include "loop/loop.h"
#include "exchange/head.h"
#include "exchange/gate.h"
#include "exchange/observe.h"

struct ug_handler {
    h2o_handler_t super;
    ug_runtime_slot_t *runtime; /* the current configuration; each request holds the one it started with */
    ug_metrics_t *metrics;
};

/* Adds the actual-response CORS headers to every response on the pathconf: ours, relayed and proxied alike. */
struct cors_filter {
    h2o_filter_t super;
    ug_runtime_slot_t *runtime;
};

/* Reports every request on the pathconf when h2o disposes of it (lib/core/request.c h2o_dispose_request). */
struct access_logger {
    h2o_logger_t super;
    ug_metrics_t *metrics;
};

/*
 * The state of one request from on_req to its disposal; lives in req->pool and is found again by the CORS filter
 * and the logger through req->env (see PENDING_ENV), the request-scoped slot h2o gives handlers and loggers.
 */
struct pending {
    ug_runtime_t *rt; /* a reference, released with the request */
    const ug_route_t *route;
    ug_gate_decision_t gate;
    /* for the access log */
    char request_id[UG_REQUEST_ID_MAX + 1];
    ug_err_t error; /* uploadgate's own error response, UG_OK if none */
};

#define PENDING_ENV "uploadgate.pending"

static struct pending *pending_of(h2o_req_t *req)
{
    h2o_iovec_t *v = h2o_req_getenv(req, H2O_STRLIT(PENDING_ENV), 0);
    return v != NULL && v->len == sizeof(struct pending) ? (struct pending *)v->base : NULL;
}

void ug_handler_send_error(h2o_req_t *req, ug_err_t e, const char *message)
{
    struct pending *pd = pending_of(req);
    if (pd != NULL)
        pd->error = e;
    size_t len = 0;
    char *json = ug_err_json(e, message, &len);
    req->res.status = ug_err_status(e);
    req->res.reason = ug_err_reason(e);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    if (json == NULL) { /* out of memory: still answer, with the status alone */
        req->res.content_length = 0;
        h2o_send_inline(req, "", 0);
        return;
    }
    req->res.content_length = len;
    h2o_send_inline(req, json, len); /* copies into req->pool */
    free(json);
}

static const char *protocol_name(const h2o_req_t *req)
{
    if (req->version >= 0x200)
        return "HTTP/2";
    return req->version == 0x100 ? "HTTP/1.0" : "HTTP/1.1";
}

static void pending_dispose(void *p)
{
    struct pending *pd = p;
    ug_runtime_release(pd->rt);
    ug_gate_decision_clear(&pd->gate);
}

/* X-Auth-Subject / X-Auth-Scopes for the app, rendered into req->pool; returns how many were written to `out`. */
static size_t auth_headers(h2o_req_t *req, const ug_gate_decision_t *gate, ug_header_t *out)
{
    size_t n = 0;
    if (!gate->authenticated)
        return 0;
    char *subject = ug_auth_subject_header(&gate->auth), *scopes = ug_auth_scopes_header(&gate->auth);
    if (subject != NULL) {
        h2o_iovec_t v = h2o_strdup(&req->pool, subject, strlen(subject));
        out[n++] = (ug_header_t){"X-Auth-Subject", 14, v.base, v.len};
    }
    if (scopes != NULL) {
        h2o_iovec_t v = h2o_strdup(&req->pool, scopes, strlen(scopes));
        out[n++] = (ug_header_t){"X-Auth-Scopes", 13, v.base, v.len};
    }
    free(subject);
    free(scopes);
    return n;
}

/* Client-sent headers that only uploadgate may write never travel on, whatever path the request takes; nor do
 * hop-by-hop fields, those the client's Connection field names (RFC 9110 7.6.1), and underscore spellings of the
 * fields the pipeline writes itself (ug_header_drop_for_pass). Decided on the fields as received, before any goes:
 * removing Connection first would forget what it named. uploadgate's X-Auth-* are added after this. */
static void strip_client_headers(h2o_req_t *req)
{
    size_t n = req->headers.size;
    ug_header_t *hs = h2o_mem_alloc_pool(&req->pool, sizeof(*hs) * (n != 0 ? n : 1));
    char *drop = h2o_mem_alloc_pool(&req->pool, n != 0 ? n : 1);
    for (size_t i = 0; i != n; ++i) {
        const h2o_header_t *h = &req->headers.entries[i];
        hs[i] = (ug_header_t){h->name->base, h->name->len, h->value.base, h->value.len};
    }
    for (size_t i = 0; i != n; ++i)
        drop[i] = ug_gate_is_reserved_header(hs[i].name, hs[i].name_len) || ug_header_drop_for_pass(hs[i].name, hs[i].name_len, hs, n);
    for (size_t i = n; i-- != 0;) /* from the end: deleting shifts only the entries after it */
        if (drop[i])
            h2o_delete_header(&req->headers, (ssize_t)i);
}

static void find_by_name(h2o_req_t *req, const char *name, size_t name_len, const char **v, size_t *len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, name_len, -1);
    *v = i != -1 ? req->headers.entries[i].value.base : NULL;
    *len = i != -1 ? req->headers.entries[i].value.len : 0;
}

/* The gate's inputs, read from the head as the exchange reads it (ug_head_gate_request); a joined list of
 * Access-Control-Request-Headers lives in the request's pool. */
static void gate_request(h2o_req_t *req, ug_gate_request_t *g)
{
    ug_head_t h;
    char *joined;
    ug_buffered_head(req, &h);
    ug_head_gate_request(&h, g, &joined);
    if (joined != NULL) {
        g->acr_headers = h2o_strdup(&req->pool, joined, g->acr_headers_len).base;
        free(joined);
    }
}

/* The gate's answer (ug_gate_answer, as the exchange gives it): its fields, then 204 or the JSON error. */
static void send_gate_answer(h2o_req_t *req, const ug_gate_decision_t *d)
{
    ug_gate_answer_t a;
    ug_gate_answer(d, &a);
    for (size_t i = 0; i < a.num_fields; ++i) {
        h2o_iovec_t v = h2o_strdup(&req->pool, a.fields[i].value, a.fields[i].value_len);
        h2o_add_header_by_str(&req->pool, &req->res.headers, a.fields[i].name, a.fields[i].name_len, 1, NULL, v.base, v.len);
    }
    if (a.err != UG_OK) {
        ug_handler_send_error(req, a.err, a.message);
        return;
    }
    req->res.status = 204;
    req->res.reason = "No Content";
    req->res.content_length = 0;
    h2o_send_inline(req, "", 0);
}

static void note_request_id(h2o_req_t *req, struct pending *pd)
{
    ssize_t ri = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (ri != -1 && ug_request_id_is_acceptable(req->headers.entries[ri].value.base, req->headers.entries[ri].value.len))
        memcpy(pd->request_id, req->headers.entries[ri].value.base, req->headers.entries[ri].value.len);
}

/* What every request on the pathconf is refused for, whatever its route (UG_OK: nothing). The fronts refuse these at
 * the head; a request h2o's own protocol code read (a PROXY-line listener) gets the same answer here. The normalised
 * path is then the sent one with unreserved characters decoded (exchange/head.h). *route: the route the path names
 * (NULL for a refused target or a path that only resembles one); message[len]: the error's message, "" = default. */
static ug_err_t refusal(h2o_req_t *req, const ug_config_t *config, const ug_route_t **route, char *message, size_t len)
{
    const char *why = ug_head_target_message(ug_head_target_check(req->path.base, req->path.len));
    *route = NULL;
    message[0] = '\0';
    if (why != NULL) {
        snprintf(message, len, "%s", why);
        return UG_ERR_BAD_REQUEST;
    }
    const ug_route_t *resembled = ug_config_resembled_route(config, req->path_normalized.base, req->path_normalized.len);
    if (resembled != NULL) {
        ug_config_resemblance_message(resembled, message, len);
        return UG_ERR_BAD_REQUEST;
    }
    *route = ug_config_match_route(config, req->path_normalized.base, req->path_normalized.len);
    if (ug_gate_method_is_refused(req->method.base, req->method.len)) {
        if (*route == NULL || (*route)->pass_through) /* what the app would allow is the app's to say */
            snprintf(message, len, "%s", "TRACE is not allowed");
        return UG_ERR_METHOD_NOT_ALLOWED;
    }
    return UG_OK;
}

/* Every request the exchange does not serve gets its state, for the access log and the metrics, holding the
 * configuration it started with (`rt`, taken over). */
static struct pending *begin_pending(struct ug_handler *self, h2o_req_t *req, ug_runtime_t *rt)
{
    struct pending *pd = h2o_mem_alloc_shared(&req->pool, sizeof(*pd), pending_dispose);
    *pd = (struct pending){.rt = rt};
    *h2o_req_getenv(req, H2O_STRLIT(PENDING_ENV), 1) = h2o_iovec_init(pd, sizeof(*pd));
    note_request_id(req, pd);
    if (self->metrics != NULL)
        ug_metrics_request_begin(self->metrics);
    return pd;
}

static int on_req(h2o_handler_t *_self, h2o_req_t *req)
{
    struct ug_handler *self = (void *)_self;
    strip_client_headers(req);

    ug_runtime_t *rt = ug_runtime_slot_acquire(self->runtime);
    const ug_config_t *config = rt->config;
    const ug_route_t *route;
    char message[UG_ROUTE_MESSAGE_MAX];
    ug_err_t refused = refusal(req, config, &route, message, sizeof(message));
    int upload_route = route != NULL && !route->pass_through;
    if (refused == UG_OK && upload_route) {
        ug_buffered_serve(req, rt, route); /* the exchange's, as on the fronts (exchange/exchange.h) */
        return 0;
    }
    struct pending *pd = begin_pending(self, req, rt);
    pd->route = route;
    if (refused != UG_OK) {
        if (refused == UG_ERR_METHOD_NOT_ALLOWED && upload_route) {
            char allow[UG_ALLOW_VALUE_MAX];
            ug_route_allow_value(route, allow, sizeof(allow));
            h2o_iovec_t v = h2o_strdup(&req->pool, allow, strlen(allow));
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, v.base, v.len);
        }
        ug_handler_send_error(req, refused, message[0] != '\0' ? message : NULL);
        return 0;
    }
    if (route == NULL && config->cors == NULL)
        return -1; /* nothing to decide: the reverse proxy behind us passes it through */

    /* A pass-through route, or none under the global CORS policy: the gate decides, the app answers. */
    ug_gate_request_t g;
    gate_request(req, &g);
    ug_auth_checker_t *checker = ug_loop_checker(ug_loop_of(req->conn->ctx), pd->rt, route);
    ug_gate_decide(config, route, checker, &g, ug_wall_seconds(), &pd->gate);
    ug_observe_gate(self->metrics, &pd->gate);

    if (pd->gate.action != UG_GATE_PROCEED) {
        send_gate_answer(req, &pd->gate);
        return 0;
    }
    ug_header_t hs[2];
    size_t n = auth_headers(req, &pd->gate, hs);
    for (size_t i = 0; i < n; ++i)
        h2o_add_header_by_str(&req->pool, &req->headers, hs[i].name, hs[i].name_len, 0, NULL, hs[i].value, hs[i].value_len);
    return -1;
}

/* Is this a CORS preflight that the gate answered itself (its headers are already set)? */
static int is_preflight(h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS")) &&
           h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1) != -1 &&
           h2o_find_header_by_str(&req->headers, H2O_STRLIT("access-control-request-method"), -1) != -1;
}

static void cors_on_setup_ostream(h2o_filter_t *_self, h2o_req_t *req, h2o_ostream_t **slot)
{
    struct cors_filter *self = (void *)_self;
    if (ug_buffered_is_served(req)) { /* the exchange wrote its CORS fields (exchange/exchange.c respond) */
        h2o_setup_next_ostream(req, slot);
        return;
    }
    /* The configuration the request started with; a request h2o answered before on_req gets the current one. */
    struct pending *pd = pending_of(req);
    ug_runtime_t *rt = pd != NULL ? ug_runtime_ref(pd->rt) : ug_runtime_slot_acquire(self->runtime);
    const ug_route_t *route = ug_config_match_route(rt->config, req->path_normalized.base, req->path_normalized.len);
    const ug_cors_config_t *cors = ug_config_cors_for(rt->config, route);
    if (cors != NULL && !is_preflight(req)) {
        /* Where uploadgate owns CORS, the app's own Access-Control-* fields would contradict ours: drop them. */
        for (ssize_t i = 0; i < (ssize_t)req->res.headers.size;) {
            const h2o_iovec_t *name = req->res.headers.entries[i].name;
            if (ug_cors_is_own_field(name->base, name->len))
                i = h2o_delete_header(&req->res.headers, i);
            else
                ++i;
        }
        const char *origin;
        size_t origin_len;
        find_by_name(req, H2O_STRLIT("origin"), &origin, &origin_len);
        ug_cors_headers_t h = {.n = 0};
        ug_cors_actual(cors, origin, origin_len, &h);
        for (size_t i = 0; i < h.n; ++i) {
            h2o_iovec_t v = h2o_strdup(&req->pool, h.h[i].value, h.h[i].value_len);
            h2o_add_header_by_str(&req->pool, &req->res.headers, h.h[i].name, h.h[i].name_len, 1, NULL, v.base, v.len);
        }
    }
    ug_runtime_release(rt);
    h2o_setup_next_ostream(req, slot);
}

/* ---- the reverse proxy's own failures, in uploadgate's JSON ---- */

/* h2o's reverse proxy answers a backend it cannot reach, or that does not send a response head within
 * backend.timeout, with h2o_send_error_502: text/plain "Gateway Error". It logs why first (h2o_req_log_error, module
 * "lib/core/proxy.c": lib/core/proxy.c on_connect and on_head in 2.2.5), which is what tells it from a 502 the app
 * itself sent: that one is relayed untouched. */
static const h2o_req_error_log_t *proxy_failure(h2o_req_t *req)
{
    if (req->res.status != 502)
        return NULL;
    for (size_t i = 0; i != req->error_logs.size; ++i)
        if (strcmp(req->error_logs.entries[i].module, "lib/core/proxy.c") == 0)
            return &req->error_logs.entries[i];
    return NULL;
}

struct json_error_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
};

/* h2o_send_inline gives its whole text body in one final send (none for HEAD): ours goes instead. */
static void json_error_do_send(h2o_ostream_t *_self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    struct json_error_ostream *self = (void *)_self;
    (void)bufs;
    h2o_ostream_send_next(&self->super, req, bufcnt != 0 ? &self->body : NULL, bufcnt != 0 ? 1 : 0, state);
}

static void proxy_error_on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    const h2o_req_error_log_t *failure = proxy_failure(req);
    (void)self;
    if (failure != NULL) {
        ug_err_t e = ug_err_of_proxy_failure(failure->msg.base, failure->msg.len);
        size_t len = 0;
        char *json = ug_err_json(e, NULL, &len);
        struct pending *pd = pending_of(req);
        if (json != NULL) {
            struct json_error_ostream *o = (void *)h2o_add_ostream(req, sizeof(*o), slot);
            o->super.do_send = json_error_do_send;
            o->body = h2o_strdup(&req->pool, json, len);
            free(json);
            req->res.status = ug_err_status(e);
            req->res.reason = ug_err_reason(e);
            req->res.content_length = len;
            h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"), 1);
            slot = &o->super.next;
            if (pd != NULL)
                pd->error = e; /* the access log names it */
        }
    }
    h2o_setup_next_ostream(req, slot);
}

static double seconds_between(const struct timeval *a, const struct timeval *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_usec - a->tv_usec) / 1e6;
}

static void on_log_access(h2o_logger_t *_self, h2o_req_t *req)
{
    struct access_logger *self = (void *)_self;
    if (ug_buffered_is_served(req))
        return; /* the exchange reports it when it ends (exchange/exchange.c) */
    struct pending *pd = pending_of(req);
    char client[NI_MAXHOST];
    ug_buffered_client_address(req, client);
    struct timeval end = req->timestamps.response_end_at;
    if (h2o_timeval_is_null(&end))
        end = *h2o_get_timestamp(req->conn->ctx, NULL, NULL);
    char *subject = pd != NULL && pd->gate.authenticated ? ug_auth_subject_header(&pd->gate.auth) : NULL;
    ug_access_record_t r = {
        .time = {req->timestamps.request_begin_at.tv_sec, (long)req->timestamps.request_begin_at.tv_usec * 1000},
        .request_id = pd != NULL && pd->request_id[0] != '\0' ? pd->request_id : NULL,
        .route = pd != NULL && pd->route != NULL ? pd->route->path : NULL,
        .method = req->method.base,
        .method_len = req->method.len,
        .path = req->path.base,
        .path_len = req->path.len,
        .status = req->res.status != 0 ? req->res.status : UG_OBSERVE_CLIENT_CLOSED,
        .bytes_in = req->entity.base != NULL ? req->entity.len : 0,
        .bytes_out = req->bytes_sent,
        .duration_s = seconds_between(&req->timestamps.request_begin_at, &end),
        .client = client,
        .protocol = protocol_name(req),
        .subject = subject,
        .error = pd != NULL && pd->error != UG_OK ? ug_err_code(pd->error) : NULL,
    };
    ug_observe_request(self->metrics, &r, pd != NULL, 0, 0);
    for (size_t i = 0; i != req->error_logs.size; ++i) { /* h2o's own (e.g. the reverse proxy's), see server.c */
        const h2o_req_error_log_t *e = &req->error_logs.entries[i];
        ug_log_event(UG_LOG_WARN, "request", "%s: %.*s (request %s %.*s)", e->module, (int)e->msg.len, e->msg.base,
                     r.request_id != NULL ? r.request_id : "-", (int)(req->path.len < 200 ? req->path.len : 200), req->path.base);
    }
    free(subject);
}

void ug_handler_register(h2o_pathconf_t *pathconf, ug_runtime_slot_t *runtime, ug_metrics_t *metrics)
{
    struct ug_handler *self = (void *)h2o_create_handler(pathconf, sizeof(*self));
    self->super.on_req = on_req;
    self->runtime = runtime;
    self->metrics = metrics;

    /* before the CORS filter, so that the JSON error it makes gets the route's CORS fields too */
    h2o_filter_t *proxy_errors = h2o_create_filter(pathconf, sizeof(*proxy_errors));
    proxy_errors->on_setup_ostream = proxy_error_on_setup_ostream;

    struct cors_filter *filter = (void *)h2o_create_filter(pathconf, sizeof(*filter));
    filter->super.on_setup_ostream = cors_on_setup_ostream;
    filter->runtime = runtime;

    struct access_logger *logger = (void *)h2o_create_logger(pathconf, sizeof(*logger));
    logger->super.log_access = on_log_access;
    logger->metrics = metrics;
}
