/*
 * exchange/exchange.c - one request of an upload route (see exchange/exchange.h): gate, method, the pipeline's checks,
 * forwarding, the app's answer relayed, with the response written by the transport (HTTP/1.1 connection, HTTP/2
 * stream, or h2o's request on the buffered path).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/clock.h"
#include "common/errors.h"
#include "exchange/exchange.h"
#include "exchange/manifest_request.h"
#include "exchange/observe.h"
#include "exchange/resumable.h"
#include "exchange/resumable_plain.h"

static int method_is(const ug_exchange_t *req, const char *m)
{
    size_t l = strlen(m);
    return req->h.method_len == l && memcmp(req->h.method, m, l) == 0;
}

/*
 * Give a complete response to the transport, which ends the exchange. Adds what h2o adds to its pipeline's responses:
 * Date and Server (h2o writes them on both protocols; the buffered transport leaves them to h2o), and the pathconf's
 * CORS rule (handler.c's filter, which leaves the exchange's requests alone): on a route with a CORS policy,
 * every response but a preflight's loses the app's Access-Control-* fields and gets the actual-response ones.
 * `fields` and `body` are copied by the transport.
 */
void ug_exchange_respond(ug_exchange_t *req, int status, const char *reason, size_t reason_len, const ug_header_t *fields,
                         size_t num_fields, const char *body, size_t body_len)
{
    h2o_context_t *ctx = req->loop->ctx;
    const ug_cors_config_t *cors = ug_config_cors_for(req->rt->config, req->route);
    ug_cors_headers_t actual = {.n = 0};
    char expose[UG_CORS_EXPOSE_MAX];
    ug_header_t *hs = malloc(sizeof(*hs) * (num_fields + UG_CORS_MAX_HEADERS));
    size_t n = 0;

    if (hs == NULL) {
        req->tp->fail(req);
        return;
    }
    if (method_is(req, "HEAD")) /* RFC 9110 9.3.2: a HEAD answer has no content, an error's neither */
        body_len = 0;
    int filter = cors != NULL && !req->is_preflight;
    for (size_t i = 0; i < num_fields; ++i) {
        if (filter && ug_cors_is_own_field(fields[i].name, fields[i].name_len))
            continue;
        hs[n++] = fields[i];
    }
    if (filter) {
        const ug_header_t *origin = ug_head_find(&req->h, "origin", NULL);
        /* a resumable upload's answers carry the fields of its protocols that a browser script must read */
        ug_cors_actual_exposing(cors, origin != NULL ? origin->value : NULL, origin != NULL ? origin->value_len : 0,
                                ug_resumable_expose(req), expose, sizeof(expose), &actual);
        for (size_t i = 0; i < actual.n; ++i)
            hs[n++] = (ug_header_t){actual.h[i].name, actual.h[i].name_len, actual.h[i].value, actual.h[i].value_len};
    }

    char date[H2O_TIMESTR_RFC1123_LEN + 1], server[128];
    struct tm gmt;
    time_t now = h2o_get_timestamp(ctx, NULL, NULL)->tv_sec;
    gmtime_r(&now, &gmt);
    h2o_time2str_rfc1123(date, &gmt);
    snprintf(server, sizeof(server), "%.*s", (int)ctx->globalconf->server_name.len, ctx->globalconf->server_name.base);
    ug_response_t r = {
        .status = status,
        .reason = reason,
        .reason_len = reason_len,
        .headers = hs,
        .num_headers = n,
        .body = body,
        .body_len = body_len,
        .date = date,
        .server = server[0] != '\0' ? server : NULL,
    };
    if (req->tus != NULL) /* whatever the answer, the bytes received so far are kept and counted first */
        ug_resumable_keep_received(req);
    req->status = status;
    req->bytes_out = body_len;
    req->responded = 1;
    req->tp->respond(req, &r);
    free(hs);
}

/* uploadgate's JSON error ({"error":{"code","message"}}), as server/handler.c ug_handler_send_error sends it. */
void ug_exchange_respond_error(ug_exchange_t *req, ug_err_t e, const char *message, const ug_header_t *extra, size_t num_extra)
{
    ug_header_t hs[UG_CORS_MAX_HEADERS + 3];
    char retry[16];
    size_t n = 0, len = 0;
    for (size_t i = 0; i < num_extra && n < UG_CORS_MAX_HEADERS + 1; ++i)
        hs[n++] = extra[i];
    hs[n++] = (ug_header_t){"content-type", 12, "application/json", 16};
    if (ug_err_retry_after(e) > 0) { /* when to try again (store_unavailable) */
        int rl = snprintf(retry, sizeof(retry), "%d", ug_err_retry_after(e));
        hs[n++] = (ug_header_t){"retry-after", 11, retry, (size_t)rl};
    }
    req->error = e;
    char *json = ug_err_json(e, message, &len);
    const char *reason = ug_err_reason(e);
    ug_exchange_respond(req, ug_err_status(e), reason, strlen(reason), hs, n, json != NULL ? json : "", json != NULL ? len : 0);
    free(json);
}

/* The path (no query) h2o routes a target on: h2o_req_t.path_normalized, which handler.c matches routes on. The same
 * bytes as sent for a plain path (no allocation); dot segments resolved and %XX decoded, in `pool`, otherwise. NULL
 * for a target that is not a path ("*", or none): nothing a route could name. */
static h2o_iovec_t normalized_path(h2o_mem_pool_t *pool, const ug_head_t *h)
{
    size_t query_at, *norm_indexes;
    if (h->target_len == 0 || h->target[0] != '/')
        return h2o_iovec_init(NULL, 0);
    return h2o_url_normalize_path(pool, h->target, h->target_len, &query_at, &norm_indexes);
}

ug_head_verdict_t ug_exchange_decide(const ug_config_t *config, const ug_head_t *h, const ug_route_t **route, char *why,
                                   size_t why_len)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_iovec_t path = normalized_path(&pool, h);
    /* resumable_path is uploadgate's: whatever is asked there is answered here, never by the app */
    if (h->target_error == NULL && ug_plain_decide(config, path.base, path.len, route)) {
        h2o_mem_clear_pool(&pool);
        return UG_HEAD_TAKE;
    }
    ug_head_verdict_t v = ug_head_classify(config, h, path.base, path.len, route);
    h2o_mem_clear_pool(&pool);
    if (v == UG_HEAD_REFUSE) {
        if (*route != NULL)
            ug_config_resemblance_message(*route, why, why_len);
        else
            snprintf(why, why_len, "%s", h->target_error);
        *route = NULL;
    }
    return v;
}

uint64_t ug_exchange_pass_limit(const ug_config_t *config, const ug_head_t *h)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_iovec_t path = normalized_path(&pool, h);
    const ug_route_t *route = path.base != NULL ? ug_config_match_route(config, path.base, path.len) : NULL;
    h2o_mem_clear_pool(&pool);
    return ug_config_pass_limit(config, route);
}

void ug_exchange_refuse(ug_exchange_t *req, ug_err_t e, const char *message)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_iovec_t path = normalized_path(&pool, &req->h);
    if (path.base != NULL) /* the route's CORS policy answers for it */
        req->route = ug_config_match_route(req->rt->config, path.base, path.len);
    h2o_mem_clear_pool(&pool);
    req->body_read = 0;
    ug_exchange_begin(req);
    ug_exchange_respond_error(req, e, message, NULL, 0);
}

/* A failed upload: its files go at once, then the error is sent (with the pipeline's message unless `why` is given). */
void ug_exchange_fail_upload(ug_exchange_t *req, ug_err_t e, const char *why)
{
    char message[256] = "";
    if (why != NULL)
        snprintf(message, sizeof(message), "%s", why);
    else if (req->upload != NULL)
        snprintf(message, sizeof(message), "%s", ug_upload_message(req->upload));
    ug_upload_abort(req->upload);
    req->upload = NULL;
    ug_exchange_respond_error(req, e, message[0] != '\0' ? message : NULL, NULL, 0);
}

static void end_without_client(ug_exchange_t *req);

/* The app answered (or could not be reached): the upload is settled as on the buffered path (observe.c), then the
 * answer is relayed - or, when the client has left, only recorded. */
static void on_forward_done(void *data, const ug_forward_response_t *res)
{
    ug_exchange_t *req = data;
    ug_upload_outcome_t o;
    int accepted = res->err == UG_OK && res->status < 400;
    ug_observe_settle_upload(req->loop->metrics, req->upload, req->route->keep_on_error, res->err, res->status,
                             res->reason_code, &o);
    if (req->tus != NULL)
        ug_resumable_settled(req, accepted);
    req->upload = NULL;
    req->files = o.files;
    req->upload_bytes = o.stored_bytes;
    req->handed_over = o.handed_over;
    if (req->client_left) {
        req->status = res->err == UG_OK ? res->status : ug_err_status(res->err);
        req->error = res->err;
        end_without_client(req);
        return;
    }

    if (req->tus != NULL && accepted && !ug_resumable_relays_answer(req)) {
        ug_resumable_respond_accepted(req);
        return;
    }
    if (res->err != UG_OK) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s: %s", ug_err_message(res->err), res->detail != NULL ? res->detail : "");
        ug_exchange_respond_error(req, res->err, msg, NULL, 0);
        return;
    }
    ug_header_t *hs = malloc(sizeof(*hs) * (res->num_headers + UG_RESUMABLE_RELAY_FIELDS + 1));
    size_t n = 0;
    if (hs == NULL) {
        ug_exchange_respond_error(req, UG_ERR_NOMEM, NULL, NULL, 0);
        return;
    }
    for (size_t i = 0; i != res->num_headers; ++i) {
        const h2o_header_t *h = &res->headers[i];
        if (!ug_header_drop_for_client(h->name->base, h->name->len))
            hs[n++] = (ug_header_t){h->name->base, h->name->len, h->value.base, h->value.len};
    }
    if (accepted) /* a resumable upload's completion relayed: where it stands (nothing on other requests) */
        n += ug_resumable_relay_fields(req, hs + n);
    ug_exchange_respond(req, res->status, res->reason.base, res->reason.len, hs, n, res->body.base, res->body.len);
    free(hs);
}

/* The upload's files are stored (they completed after the body: an object store): its manifest goes to the app. */
static void on_upload_finished(void *arg, ug_err_t err, const char *json, size_t json_len)
{
    ug_exchange_t *req = arg;
    if (err != UG_OK) {
        ug_exchange_fail_upload(req, err, NULL);
        return;
    }
    ug_exchange_as_t as = {req->h.method, req->h.method_len, req->h.target, req->h.target_len};
    ug_exchange_forward_manifest(req, &as, json, json_len);
}

/* The upload's store can take bytes again (upload.h on_ready). */
static void on_upload_ready(void *arg)
{
    ug_exchange_resume_body(arg);
}

void ug_exchange_finish_body(ug_exchange_t *req)
{
    const char *json = NULL;
    size_t json_len = 0;

    req->body_read = 1;
    req->paused = 0; /* nothing more to read: a late on_ready resumes nothing */
    if (req->tus != NULL) {
        req->tp->body_done(req);
        ug_resumable_finish_body(req);
        return;
    }
    req->tp->body_done(req); /* the backend's own timeout runs now (forward.h) */

    ug_upload_result_t r = ug_upload_finish_async(req->upload, &json, &json_len);
    if (r == UG_UPLOAD_PENDING) /* on_upload_finished follows; a client that leaves meanwhile aborts the upload */
        return;
    if (r != UG_UPLOAD_OK) {
        ug_exchange_fail_upload(req, ug_upload_error(req->upload), NULL);
        return;
    }
    ug_exchange_as_t as = {req->h.method, req->h.method_len, req->h.target, req->h.target_len};
    ug_exchange_forward_manifest(req, &as, json, json_len);
}

void ug_exchange_forward_manifest(ug_exchange_t *req, const ug_exchange_as_t *as, const char *json, size_t json_len)
{
    size_t head_len = 0;
    ug_manifest_request_t f = {
        .config = req->rt->config,
        .route = req->route,
        .sign_key = req->rt->sign_key,
        .sign_key_len = req->rt->sign_key_len,
        .method = as->method,
        .method_len = as->method_len,
        .path = as->path,
        .path_len = as->path_len,
        .scheme = req->tls ? "https" : "http",
        .authority = req->h.host,
        .authority_len = req->h.host_len,
        .client_address = req->client_address,
        .headers = req->h.headers,
        .num_headers = req->h.num_headers,
        .gate = &req->gate,
        .upload_id = ug_upload_id(req->upload),
        .json = json,
        .json_len = json_len,
        .now = ug_wall_seconds(),
    };
    if ((req->forward_head = ug_manifest_request_head(&f, &head_len)) == NULL) {
        ug_exchange_fail_upload(req, UG_ERR_NOMEM, NULL);
        return;
    }
    /* on_forward_done may run before this returns (a refused connect): nothing may follow this call. */
    if (ug_forward_start(&req->forward, &req->loop->forward, h2o_iovec_init(req->forward_head, head_len), h2o_iovec_init(json, json_len),
                         on_forward_done, req) != 0)
        ug_exchange_fail_upload(req, UG_ERR_NOMEM, NULL);
}

static void send_method_not_allowed(ug_exchange_t *req)
{
    char allow[UG_ALLOW_VALUE_MAX];
    ug_route_allow_value(req->route, allow, sizeof(allow));
    ug_header_t h = {"allow", 5, allow, strlen(allow)};
    ug_exchange_respond_error(req, UG_ERR_METHOD_NOT_ALLOWED, NULL, &h, 1);
}

static void send_gate_answer(ug_exchange_t *req)
{
    ug_gate_answer_t a;
    ug_gate_answer(&req->gate, &a);
    if (a.err == UG_OK)
        ug_exchange_respond(req, 204, "No Content", 10, a.fields, a.num_fields, "", 0);
    else
        ug_exchange_respond_error(req, a.err, a.message, a.fields, a.num_fields);
}

static void decide_gate(ug_exchange_t *req)
{
    ug_gate_request_t g;
    ug_head_gate_request(&req->h, &g, &req->acrh);
    req->is_preflight = method_is(req, "OPTIONS") && g.origin != NULL && g.acr_method != NULL;
    ug_auth_checker_t *checker = ug_loop_checker(req->loop, req->rt, req->route);
    ug_gate_decide(req->rt->config, req->route, checker, &g, ug_wall_seconds(), &req->gate);
    ug_observe_gate(req->loop->metrics, &req->gate);
}

static const char *protocol_name(const ug_exchange_t *req)
{
    if (req->http2)
        return "HTTP/2";
    return req->h.minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

void ug_exchange_upload_request(const ug_exchange_t *req, ug_upload_request_t *ur)
{
    *ur = (ug_upload_request_t){
        .config = req->rt->config,
        .route = req->route,
        .method = req->h.method,
        .method_len = req->h.method_len,
        .path = req->h.target,
        .path_len = req->h.target_len,
        .content_type = req->h.content_type,
        .content_type_len = req->h.content_type_len,
        .content_length = req->h.framing == UG_HEAD_BODY_CONTENT_LENGTH ? req->h.content_length
                          : req->h.framing == UG_HEAD_BODY_NONE         ? 0
                                                                         : UINT64_MAX,
        .received_at = req->received_at,
        .client_address = req->client_address,
        .protocol = protocol_name(req),
        .s3 = req->loop->s3,
        .s3_inbox = req->loop->s3_inbox,
    };
}

/* Everything that needs no body byte, in this order: gate, method, then the pipeline's own checks (declared
 * size, free space, Content-Type). Only then may the client send the body (RFC 9110 10.1.1: 100 Continue). */
void ug_exchange_serve(ug_exchange_t *req)
{
    int has_body = req->h.framing == UG_HEAD_BODY_CHUNKED || req->h.framing == UG_HEAD_BODY_STREAM ||
                   (req->h.framing == UG_HEAD_BODY_CONTENT_LENGTH && req->h.content_length != 0);
    req->body_read = !has_body; /* until the body is read, any answer closes the connection */

    if (req->h.framing_error != NULL) {
        req->body_read = 0; /* RFC 9112 6.3: the end of this message is unknown; the connection cannot be reused */
        ug_exchange_respond_error(req, UG_ERR_BAD_REQUEST, req->h.framing_error, NULL, 0);
        return;
    }
    decide_gate(req);
    if (req->gate.action != UG_GATE_PROCEED) {
        send_gate_answer(req);
        return;
    }
    req->body_left = req->h.content_length;
    ug_chunked_init(&req->decoder);
    if (ug_plain_serve_url(req, has_body)) /* an ordinary route's resumable upload, under resumable_path */
        return;
    if (!ug_route_allows(req->route, req->h.method, req->h.method_len)) {
        send_method_not_allowed(req);
        return;
    }
    if (req->route->resumable.enabled) {
        ug_resumable_serve(req, has_body);
        return;
    }
    if (ug_plain_serve_creation(req, has_body))
        return;

    ug_upload_request_t ur;
    ug_exchange_upload_request(req, &ur);
    if ((req->upload = ug_upload_new(&ur)) == NULL) {
        ug_exchange_respond_error(req, UG_ERR_NOMEM, NULL, NULL, 0);
        return;
    }
    if (req->gate.authenticated)
        ug_upload_set_auth(req->upload, ug_auth_manifest_json(&req->gate.auth));
    ug_upload_events_t ev = {on_upload_ready, on_upload_finished, req};
    ug_upload_set_events(req->upload, &ev);
    ug_err_t e = ug_upload_start(req->upload);
    if (e == UG_OK && req->request_id[0] == '\0') /* the id the app is given (manifest_request.c) */
        memcpy(req->request_id, ug_upload_id(req->upload), strlen(ug_upload_id(req->upload)) + 1);
    if (e != UG_OK) {
        ug_exchange_fail_upload(req, e, NULL);
        return;
    }

    if (has_body)
        req->tp->start_body(req);
    else
        ug_exchange_finish_body(req);
}

int ug_exchange_reading_body(const ug_exchange_t *req)
{
    return (req->upload != NULL || req->tus != NULL) && !req->responded && !req->body_read;
}

ug_exchange_flow_t ug_exchange_feed(ug_exchange_t *req, const char *bytes, size_t len)
{
    if (req->tus != NULL)
        return ug_resumable_feed(req, bytes, len);
    ug_upload_result_t r = ug_upload_feed(req->upload, bytes, len);
    req->bytes_in += len;
    if (r == UG_UPLOAD_FAILED) { /* a limit crossed, a malformed body, the store failed: refuse now, while the client
                                  * may still be sending */
        ug_exchange_fail_upload(req, ug_upload_error(req->upload), NULL);
        return UG_EXCHANGE_ENDED;
    }
    if (r == UG_UPLOAD_PAUSE) { /* on_upload_ready resumes the transport */
        req->paused = 1;
        return UG_EXCHANGE_PAUSED;
    }
    return UG_EXCHANGE_MORE;
}

void ug_exchange_resume_body(ug_exchange_t *req)
{
    int was = req->paused;
    req->paused = 0;
    if (was && ug_exchange_reading_body(req) && req->tp->resume_body != NULL)
        req->tp->resume_body(req);
}

void ug_exchange_begin(ug_exchange_t *req)
{
    const ug_header_t *rid = ug_head_find(&req->h, "x-request-id", NULL); /* the client's id, if it is usable */
    if (rid != NULL && ug_request_id_is_acceptable(rid->value, rid->value_len))
        memcpy(req->request_id, rid->value, rid->value_len);
    const struct timeval *now = h2o_get_timestamp(req->loop->ctx, NULL, NULL);
    req->received_at = (struct timespec){now->tv_sec, (long)now->tv_usec * 1000};
    req->begun = 1;
    if (req->loop->metrics != NULL)
        ug_metrics_request_begin(req->loop->metrics);
}

static void report(ug_exchange_t *req)
{
    if (!req->begun)
        return;
    const struct timeval *now = h2o_get_timestamp(req->loop->ctx, NULL, NULL);
    double duration =
        (double)(now->tv_sec - req->received_at.tv_sec) + (double)(now->tv_usec * 1000 - req->received_at.tv_nsec) / 1e9;
    char *subject = req->gate.authenticated ? ug_auth_subject_header(&req->gate.auth) : NULL;
    ug_access_record_t r = {
        .time = req->received_at,
        .request_id = req->request_id[0] != '\0' ? req->request_id : NULL,
        .route = req->route != NULL ? req->route->path : NULL, /* NULL: a head too large to be read */
        .method = req->h.method != NULL ? req->h.method : "",
        .method_len = req->h.method_len,
        .path = req->h.target != NULL ? req->h.target : "",
        .path_len = req->h.target_len,
        .status = req->status != 0 ? req->status : UG_OBSERVE_CLIENT_CLOSED,
        .bytes_in = req->bytes_in,
        .bytes_out = req->bytes_out,
        .files = req->files,
        .duration_s = duration >= 0 ? duration : 0,
        .client = req->client_address,
        .protocol = protocol_name(req),
        .subject = subject,
        .error = req->error != UG_OK ? ug_err_code(req->error) : NULL,
        .client_left = req->client_left,
    };
    ug_observe_request(req->loop->metrics, &r, 1, req->handed_over, req->upload_bytes);
    free(subject);
    req->begun = 0;
}

/* A request whose client left while the app has its manifest, moved off the transport (which frees its own memory):
 * the request, with its head cut down to what the access line names (method and target, copied). */
struct orphan {
    ug_exchange_t req;
    char client_address[NI_MAXHOST];
    char *method_target; /* malloc'd: the method, then the target */
};

/*
 * The client left after the whole body was sent and the manifest forwarded. The app may already be storing the files'
 * paths, so its answer alone decides their fate: the forward goes on, owned by a heap copy of the request that ends
 * (settled, reported) when the app answers. `req` keeps only what its transport frees with it (head, acrh). Out of
 * memory, nothing moves.
 */
/* Each loop runs on its own thread: the count is the thread's. */
static _Thread_local size_t without_client;

size_t ug_exchange_without_client(void)
{
    return without_client;
}

static void go_on_without_client(ug_exchange_t *req)
{
    struct orphan *o = calloc(1, sizeof(*o));
    char *mt = malloc(req->h.method_len + req->h.target_len + 1);
    if (o == NULL || mt == NULL) {
        free(o);
        free(mt);
        return;
    }
    if (req->h.method_len != 0)
        memcpy(mt, req->h.method, req->h.method_len);
    if (req->h.target_len != 0)
        memcpy(mt + req->h.method_len, req->h.target, req->h.target_len);
    o->method_target = mt;
    o->req = *req;
    o->req.head = NULL;
    o->req.acrh = NULL;
    o->req.h = (ug_head_t){.method = mt,
                                 .method_len = req->h.method_len,
                                 .target = mt + req->h.method_len,
                                 .target_len = req->h.target_len,
                                 .minor_version = req->h.minor_version};
    snprintf(o->client_address, sizeof(o->client_address), "%s", req->client_address);
    o->req.client_address = o->client_address;
    o->req.client_left = 1;
    ug_forward_move(o->req.forward, &o->req.forward, &o->req);
    ++without_client;

    ug_exchange_t keep = {.tp = req->tp,
                                .loop = req->loop,
                                .client_address = req->client_address,
                                .tls = req->tls,
                                .http2 = req->http2,
                                .head = req->head,
                                .acrh = req->acrh};
    *req = keep;
}

/* The app answered a request whose client had left (on_forward_done settled its upload): report it and free it. */
static void end_without_client(ug_exchange_t *req)
{
    struct orphan *o = H2O_STRUCT_FROM_MEMBER(struct orphan, req, req);
    --without_client;
    ug_exchange_end(req);
    free(o->method_target);
    free(o);
}

void ug_exchange_end(ug_exchange_t *req)
{
    if (req->forward != NULL && !req->client_left)
        go_on_without_client(req); /* then only head and acrh are left here to free */
    report(req);
    /* Out of memory for going on without the client: the app will never be heard, so the upload goes (unless
     * keep_on_error). */
    if (req->forward != NULL) {
        ug_forward_cancel(req->forward);
        if (req->route->keep_on_error)
            ug_upload_release(req->upload);
        else
            ug_upload_abort(req->upload);
        req->upload = NULL;
    }
    ug_upload_abort(req->upload);
    ug_resumable_end(req);
    ug_gate_decision_clear(&req->gate);
    free(req->head);
    free(req->acrh);
    free(req->forward_head);
    ug_runtime_release(req->rt);
    ug_exchange_t keep = {
        .tp = req->tp, .loop = req->loop, .client_address = req->client_address, .tls = req->tls, .http2 = req->http2};
    *req = keep;
}
