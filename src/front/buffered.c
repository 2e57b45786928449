/*
 * front/buffered.c - see front/buffered.h.
 */
#include "front/buffered.h"

#include <string.h>

#include "common/errors.h"
#include "exchange/exchange.h"

#define SERVED_ENV "uploadgate.exchange"

/* One request of h2o's buffered path, in its pool. */
struct buffered {
    ug_exchange_t req;
    h2o_req_t *h2o;
    char client_address[NI_MAXHOST];
};

static struct buffered *of(ug_exchange_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(struct buffered, req, req);
}

/* Status, reason and fields as the exchange made them; h2o adds Date and Server, and frames the body itself. */
static void tp_respond(ug_exchange_t *req, const ug_response_t *r)
{
    h2o_req_t *h = of(req)->h2o;
    /* The app's answer to a client that left while it had the manifest (an HTTP/1.x connection is not read meanwhile:
     * its leaving is seen only now). The answer is still given to h2o, which finds the connection gone. */
    h2o_socket_t *sock = h->conn->callbacks->get_socket != NULL ? h->conn->callbacks->get_socket(h->conn) : NULL;
    if (req->body_read && h->version < 0x200 && sock != NULL && ug_loop_peer_gone(sock))
        req->client_left = 1;
    h->res.status = r->status;
    h->res.reason = h2o_strdup(&h->pool, r->reason, r->reason_len).base;
    for (size_t i = 0; i < r->num_headers; ++i) {
        const ug_header_t *f = &r->headers[i];
        h2o_iovec_t name = h2o_strdup(&h->pool, f->name, f->name_len);
        h2o_strtolower(name.base, name.len);
        h2o_iovec_t value = h2o_strdup(&h->pool, f->value, f->value_len);
        h2o_add_header_by_str(&h->pool, &h->res.headers, name.base, name.len, 1, NULL, value.base, value.len);
    }
    h->res.content_length = r->body_len;
    h2o_send_inline(h, r->body, r->body_len); /* copies the body */
}

/* h2o has the whole body: it goes to the upload in one go, then the manifest to the app. */
static void tp_start_body(ug_exchange_t *req)
{
    h2o_iovec_t entity = of(req)->h2o->entity;
    if (ug_exchange_feed(req, entity.base, entity.len) == UG_EXCHANGE_ENDED)
        return;
    ug_exchange_finish_body(req);
}

/* No reading or timeout of ours runs: h2o read the body before the handler ran. */
static void tp_body_done(ug_exchange_t *req)
{
    (void)req;
}

/* Out of memory: the status alone, as h2o's own out-of-memory answers. */
static void tp_fail(ug_exchange_t *req)
{
    h2o_req_t *h = of(req)->h2o;
    h->res.status = ug_err_status(UG_ERR_NOMEM);
    h->res.reason = ug_err_reason(UG_ERR_NOMEM);
    h->res.content_length = 0;
    h2o_send_inline(h, "", 0);
}

/* No interim: h2o 2.2.5's h2o_req_t sends no 1xx but its own 100 Continue (h2o.h has no informational-response
 * call before 2.3), so a buffered request cannot be told 104. */
/* h2o read the body whole before the handler ran (its memory, h2o's): it is fed at once, a pause answered or not, and
 * there is nothing to resume. */
static const ug_exchange_transport_t transport = {tp_respond, tp_start_body, tp_body_done, tp_fail, NULL, NULL};

/* h2o disposes of the request (answered, or its client gone): the exchange ends it, and a request whose manifest is
 * at the app goes on without the client (ug_exchange_end). */
static void on_dispose(void *p)
{
    struct buffered *b = p;
    ug_exchange_end(&b->req);
}

void ug_buffered_client_address(h2o_req_t *req, char *out)
{
    struct sockaddr_storage ss;
    socklen_t sslen = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (sslen == 0 || h2o_socket_getnumerichost((struct sockaddr *)&ss, sslen, out) == SIZE_MAX)
        strcpy(out, "unknown");
}

void ug_buffered_head(h2o_req_t *h, ug_head_t *fh)
{
    size_t n = h->headers.size;
    ug_header_t *fields = h2o_mem_alloc_pool(&h->pool, sizeof(*fields) * (n != 0 ? n : 1));
    for (size_t i = 0; i != n; ++i) {
        const h2o_header_t *f = &h->headers.entries[i];
        fields[i] = (ug_header_t){f->name->base, f->name->len, f->value.base, f->value.len};
    }
    *fh = (ug_head_t){
        .method = h->method.base,
        .method_len = h->method.len,
        .target = h->path.base,
        .target_len = h->path.len,
        .minor_version = h->version & 0xff,
        .headers = fields,
        .num_headers = n,
        .framing = UG_HEAD_BODY_CONTENT_LENGTH,
        .content_length = h->entity.base != NULL ? h->entity.len : 0,
        .host = h->authority.base,
        .host_len = h->authority.len,
        .host_count = 1,
    };
    const ug_header_t *ct = ug_head_find(fh, "content-type", NULL);
    if (ct != NULL) {
        fh->content_type = ct->value;
        fh->content_type_len = ct->value_len;
    }
}

void ug_buffered_serve(h2o_req_t *req, ug_runtime_t *rt, const ug_route_t *route)
{
    struct buffered *b = h2o_mem_alloc_shared(&req->pool, sizeof(*b), on_dispose);
    memset(b, 0, sizeof(*b));
    b->h2o = req;
    ug_buffered_client_address(req, b->client_address);
    b->req = (ug_exchange_t){.tp = &transport,
                                   .loop = ug_loop_of(req->conn->ctx),
                                   .client_address = b->client_address,
                                   .tls = req->scheme == &H2O_URL_SCHEME_HTTPS,
                                   .http2 = req->version >= 0x200,
                                   .rt = rt,
                                   .route = route};
    *h2o_req_getenv(req, H2O_STRLIT(SERVED_ENV), 1) = h2o_iovec_init(b, sizeof(*b));
    ug_buffered_head(req, &b->req.h);
    ug_exchange_begin(&b->req);
    b->req.received_at = (struct timespec){req->timestamps.request_begin_at.tv_sec,
                                           (long)req->timestamps.request_begin_at.tv_usec * 1000};
    ug_exchange_serve(&b->req);
}

int ug_buffered_is_served(h2o_req_t *req)
{
    h2o_iovec_t *v = h2o_req_getenv(req, H2O_STRLIT(SERVED_ENV), 0);
    return v != NULL && v->len == sizeof(struct buffered);
}
