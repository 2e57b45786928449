/*
 * handler.c - see handler.h. One request: route -> method -> upload pipeline
 * over req->entity -> manifest forwarded to the app -> app's answer relayed.
 */
#include "handler.h"

#include <stdio.h>
#include <string.h>

#include "forward.h"
#include "forward_head.h"
#include "upload.h"

struct ug_handler {
    h2o_handler_t super;
    const ug_config_t *config;
};

/* The state of one upload request between on_req and the app's answer; lives in req->pool. */
struct pending {
    h2o_req_t *req;
    const ug_route_t *route;
    ug_upload_t *upload;
    ug_forward_t *forward;
    char *head; /* request head sent to the app (malloc'd) */
};

void ug_handler_send_error(h2o_req_t *req, ug_err e, const char *message)
{
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

static void client_address(h2o_req_t *req, char *out /* NI_MAXHOST */)
{
    struct sockaddr_storage ss;
    socklen_t sslen = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (sslen == 0 || h2o_socket_getnumerichost((struct sockaddr *)&ss, sslen, out) == SIZE_MAX)
        strcpy(out, "unknown");
}

static void pending_dispose(void *p)
{
    struct pending *pd = p;
    /* The request ended before the app answered (client gone): nobody will ever act on the stored files. */
    if (pd->forward != NULL) {
        ug_forward_cancel(pd->forward);
        if (pd->route->keep_on_error)
            ug_upload_release(pd->upload);
        else
            ug_upload_abort(pd->upload);
        pd->upload = NULL;
    }
    free(pd->head);
}

static void relay_response(h2o_req_t *req, const ug_forward_response_t *res)
{
    req->res.status = res->status;
    req->res.reason = h2o_strdup(&req->pool, res->reason.base, res->reason.len).base;
    for (size_t i = 0; i != res->num_headers; ++i) {
        const h2o_header_t *h = &res->headers[i];
        if (ug_header_drop_for_client(h->name->base, h->name->len))
            continue;
        h2o_iovec_t name = h2o_strdup(&req->pool, h->name->base, h->name->len);
        h2o_iovec_t value = h2o_strdup(&req->pool, h->value.base, h->value.len);
        h2o_add_header_by_str(&req->pool, &req->res.headers, name.base, name.len, 1, NULL, value.base, value.len);
    }
    req->res.content_length = res->body.len;
    h2o_send_inline(req, res->body.base, res->body.len);
}

static void on_forward_done(void *data, const ug_forward_response_t *res)
{
    struct pending *pd = data;
    int failed = res->err != UG_OK || res->status >= 400;
    if (failed && !pd->route->keep_on_error)
        ug_upload_abort(pd->upload);
    else
        ug_upload_release(pd->upload);
    pd->upload = NULL;

    if (res->err != UG_OK) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s: %s", ug_err_message(res->err), res->detail != NULL ? res->detail : "");
        ug_handler_send_error(pd->req, res->err, msg);
        return;
    }
    relay_response(pd->req, res);
}

static void send_method_not_allowed(h2o_req_t *req, const ug_route_t *route)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    char allow[64] = "";
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); ++i) {
        if (route->methods & ug_method_bit(names[i], strlen(names[i]))) {
            if (allow[0] != '\0')
                strcat(allow, ", ");
            strcat(allow, names[i]);
        }
    }
    h2o_iovec_t v = h2o_strdup(&req->pool, allow, strlen(allow));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, v.base, v.len);
    ug_handler_send_error(req, UG_ERR_METHOD_NOT_ALLOWED, NULL);
}

/* The path and query the app receives: forward_to (with the client's query appended unless it has one), or the client's own. */
static h2o_iovec_t target_path(h2o_req_t *req, const ug_config_t *config, const ug_route_t *route)
{
    const char *base = config->backend.base_path;
    if (route->forward_to == NULL)
        return h2o_concat(&req->pool, h2o_iovec_init(base, strlen(base)), req->path);
    h2o_iovec_t query = h2o_iovec_init("", 0);
    if (req->query_at != SIZE_MAX && strchr(route->forward_to, '?') == NULL)
        query = h2o_iovec_init(req->path.base + req->query_at, req->path.len - req->query_at);
    return h2o_concat(&req->pool, h2o_iovec_init(base, strlen(base)), h2o_iovec_init(route->forward_to, strlen(route->forward_to)),
                      query);
}

static int start_forward(struct ug_handler *self, h2o_req_t *req, struct pending *pd, const char *client_addr, const char *json,
                         size_t json_len)
{
    ug_header_t *hs = h2o_mem_alloc_pool(&req->pool, sizeof(*hs) * (req->headers.size + 1));
    for (size_t i = 0; i != req->headers.size; ++i) {
        const h2o_header_t *h = &req->headers.entries[i];
        hs[i] = (ug_header_t){h->name->base, h->name->len, h->value.base, h->value.len};
    }
    const char *id = ug_upload_id(pd->upload);
    h2o_iovec_t request_id = h2o_iovec_init(id, strlen(id));
    ssize_t ri = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (ri != -1 && ug_request_id_is_acceptable(req->headers.entries[ri].value.base, req->headers.entries[ri].value.len))
        request_id = req->headers.entries[ri].value;

    h2o_iovec_t target = target_path(req, self->config, pd->route);
    ug_forward_meta_t meta = {
        .method = req->method.base,
        .method_len = req->method.len,
        .target = target.base,
        .target_len = target.len,
        .backend_authority = self->config->backend.authority,
        .client_address = client_addr,
        .scheme = req->scheme == &H2O_URL_SCHEME_HTTPS ? "https" : "http",
        .client_host = req->authority.base,
        .client_host_len = req->authority.len,
        .request_id = request_id.base,
        .request_id_len = request_id.len,
        .content_length = json_len,
    };
    size_t head_len;
    if ((pd->head = ug_forward_head_build(&meta, hs, req->headers.size, &head_len)) == NULL)
        return -1;
    ug_forward_ctx_t *fc = h2o_context_get_handler_context(req->conn->ctx, &self->super);
    return ug_forward_start(&pd->forward, fc, h2o_iovec_init(pd->head, head_len), h2o_iovec_init(json, json_len), on_forward_done,
                            pd);
}

static int on_req(h2o_handler_t *_self, h2o_req_t *req)
{
    struct ug_handler *self = (void *)_self;
    /* Match on the normalised path, so "/./upload" or "/x/../upload" cannot slip past an upload route. */
    const ug_route_t *route = ug_config_match_route(self->config, req->path_normalized.base, req->path_normalized.len);
    if (route == NULL)
        return -1; /* not an upload: the reverse proxy behind us passes it through */

    if ((route->methods & ug_method_bit(req->method.base, req->method.len)) == 0) {
        send_method_not_allowed(req, route);
        return 0;
    }

    char client_addr[NI_MAXHOST];
    client_address(req, client_addr);
    ssize_t cti = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    ug_upload_request_t ur = {
        .config = self->config,
        .route = route,
        .method = req->method.base,
        .method_len = req->method.len,
        .path = req->path.base,
        .path_len = req->path.len,
        .content_type = cti != -1 ? req->headers.entries[cti].value.base : NULL,
        .content_type_len = cti != -1 ? req->headers.entries[cti].value.len : 0,
        .content_length = req->entity.base != NULL ? req->entity.len : 0,
        .received_at = {req->timestamps.request_begin_at.tv_sec, (long)req->timestamps.request_begin_at.tv_usec * 1000},
        .client_address = client_addr,
        .protocol = protocol_name(req),
    };

    struct pending *pd = h2o_mem_alloc_shared(&req->pool, sizeof(*pd), pending_dispose);
    *pd = (struct pending){.req = req, .route = route};
    if ((pd->upload = ug_upload_new(&ur)) == NULL) {
        ug_handler_send_error(req, UG_ERR_NOMEM, NULL);
        return 0;
    }

    const char *json = NULL;
    size_t json_len = 0;
    ug_err e = ug_upload_start(pd->upload);
    if (e == UG_OK && req->entity.base != NULL)
        e = ug_upload_feed(pd->upload, req->entity.base, req->entity.len);
    if (e == UG_OK)
        e = ug_upload_finish(pd->upload, &json, &json_len);
    if (e == UG_OK && start_forward(self, req, pd, client_addr, json, json_len) != 0)
        e = UG_ERR_NOMEM;
    if (e != UG_OK) {
        ug_handler_send_error(req, e, ug_upload_message(pd->upload)[0] != '\0' ? ug_upload_message(pd->upload) : NULL);
        ug_upload_abort(pd->upload);
        pd->upload = NULL;
    }
    return 0;
}

static void on_context_init(h2o_handler_t *_self, h2o_context_t *ctx)
{
    struct ug_handler *self = (void *)_self;
    ug_forward_ctx_t *fc = h2o_mem_alloc(sizeof(*fc));
    ug_forward_ctx_init(fc, ctx, &self->config->backend);
    h2o_context_set_handler_context(ctx, &self->super, fc);
}

static void on_context_dispose(h2o_handler_t *_self, h2o_context_t *ctx)
{
    struct ug_handler *self = (void *)_self;
    ug_forward_ctx_t *fc = h2o_context_get_handler_context(ctx, &self->super);
    ug_forward_ctx_dispose(fc);
    free(fc);
}

void ug_handler_register(h2o_pathconf_t *pathconf, const ug_config_t *config)
{
    struct ug_handler *self = (void *)h2o_create_handler(pathconf, sizeof(*self));
    self->super.on_req = on_req;
    self->super.on_context_init = on_context_init;
    self->super.on_context_dispose = on_context_dispose;
    self->config = config;
}
