/*
 * forward.c - see forward.h. The shape follows h2o 2.2.5's lib/core/proxy.c:
 * connect -> head -> body callbacks of h2o_http1client, each returning the next.
 */
#include "loop/forward.h"

#include <string.h>
#include <sys/un.h>

struct ug_forward {
    ug_forward_ctx_t *fc;
    ug_forward_t **slot;       /* the owner's pointer to us, cleared before the done callback */
    h2o_http1client_t *client; /* NULL once the client has freed itself */
    h2o_iovec_t reqbufs[2];
    ug_forward_done_cb done;
    void *data;
    h2o_mem_pool_t pool; /* response head copies */
    int status;
    h2o_iovec_t reason;
    h2o_header_t *headers;
    size_t num_headers;
    h2o_buffer_t *body;
};

void ug_forward_ctx_init(ug_forward_ctx_t *fc, h2o_context_t *ctx, const ug_backend_t *backend)
{
    memset(fc, 0, sizeof(*fc));
    fc->backend = backend;
    h2o_timeout_init(ctx->loop, &fc->io_timeout, backend->timeout_ms);
    fc->client_ctx.loop = ctx->loop;
    fc->client_ctx.getaddr_receiver = &ctx->receivers.hostinfo_getaddr;
    fc->client_ctx.io_timeout = &fc->io_timeout;
    if (backend->unix_path != NULL) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strncpy(sa.sun_path, backend->unix_path, sizeof(sa.sun_path) - 1);
        h2o_socketpool_init_by_address(&fc->pool, (struct sockaddr *)&sa, sizeof(sa), 0, SIZE_MAX);
    } else {
        h2o_socketpool_init_by_hostport(&fc->pool, h2o_iovec_init(backend->host, strlen(backend->host)), backend->port, 0,
                                        SIZE_MAX);
    }
    /* Idle upstream connections are dropped well before uvicorn's own 5 s keep-alive timeout, so that we never send a
     * manifest on a connection the app is closing at that moment. */
    h2o_socketpool_set_timeout(&fc->pool, ctx->loop, 2000);
}

void ug_forward_ctx_dispose(ug_forward_ctx_t *fc)
{
    h2o_socketpool_dispose(&fc->pool);
    h2o_timeout_dispose(fc->client_ctx.loop, &fc->io_timeout);
}

static void forward_free(ug_forward_t *f)
{
    h2o_buffer_dispose(&f->body);
    h2o_mem_clear_pool(&f->pool);
    free(f);
}

/* Timeouts of h2o 2.2.5's http1client come as these strings (lib/common/http1client.c). */
static ug_err_t classify(const char *errstr)
{
    if (strcmp(errstr, "I/O timeout") == 0 || strcmp(errstr, "connection timeout") == 0)
        return UG_ERR_GATEWAY_TIMEOUT;
    return UG_ERR_BAD_GATEWAY;
}

static void finish(ug_forward_t *f, ug_err_t err, const char *reason, const char *detail)
{
    ug_forward_response_t res = {.err = err, .reason_code = err == UG_ERR_GATEWAY_TIMEOUT ? "timeout" : reason, .detail = detail};
    f->client = NULL; /* every path here is one after which the client frees itself */
    *f->slot = NULL;
    if (err == UG_OK) {
        res.status = f->status;
        res.reason = f->reason;
        res.headers = f->headers;
        res.num_headers = f->num_headers;
        res.body = h2o_iovec_init(f->body->bytes, f->body->size);
    }
    f->done(f->data, &res);
    forward_free(f);
}

static int take_input(ug_forward_t *f, h2o_socket_t *sock)
{
    if (sock->input->size == 0)
        return 0;
    if (f->body->size + sock->input->size > UG_FORWARD_MAX_RESPONSE)
        return -1;
    h2o_iovec_t dst = h2o_buffer_reserve(&f->body, sock->input->size);
    if (dst.base == NULL)
        return -1;
    memcpy(dst.base, sock->input->bytes, sock->input->size);
    f->body->size += sock->input->size;
    h2o_buffer_consume(&sock->input, sock->input->size);
    return 0;
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
    ug_forward_t *f = client->data;
    if (take_input(f, client->sock) != 0) {
        finish(f, UG_ERR_BAD_GATEWAY, "too_large", "the backend's response is too large");
        return -1;
    }
    if (errstr == h2o_http1client_error_is_eos)
        finish(f, UG_OK, NULL, NULL);
    else if (errstr != NULL)
        finish(f, classify(errstr), "bad_response", errstr);
    return 0;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr, int minor_version, int status,
                                       h2o_iovec_t msg, h2o_header_t *headers, size_t num_headers, int rlen)
{
    ug_forward_t *f = client->data;
    (void)minor_version;
    (void)rlen;
    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        finish(f, classify(errstr), "bad_response", errstr);
        return NULL;
    }
    /* The head points into the client's socket buffer, which is reused once we return: copy it. */
    f->status = status;
    f->reason = h2o_strdup(&f->pool, msg.base, msg.len);
    f->headers = h2o_mem_alloc_pool(&f->pool, sizeof(*f->headers) * (num_headers != 0 ? num_headers : 1));
    for (size_t i = 0; i != num_headers; ++i) {
        h2o_iovec_t *name = h2o_mem_alloc_pool(&f->pool, sizeof(*name));
        *name = h2o_strdup(&f->pool, headers[i].name->base, headers[i].name->len);
        f->headers[i].name = name;
        f->headers[i].orig_name = headers[i].orig_name != NULL ? h2o_strdup(&f->pool, headers[i].orig_name, name->len).base : NULL;
        f->headers[i].value = h2o_strdup(&f->pool, headers[i].value.base, headers[i].value.len);
    }
    f->num_headers = num_headers;
    if (errstr == h2o_http1client_error_is_eos) {
        finish(f, UG_OK, NULL, NULL);
        return NULL;
    }
    return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr, h2o_iovec_t **reqbufs, size_t *reqbufcnt,
                                          int *method_is_head)
{
    ug_forward_t *f = client->data;
    if (errstr != NULL) {
        finish(f, classify(errstr), "connect", errstr);
        return NULL;
    }
    *reqbufs = f->reqbufs;
    *reqbufcnt = 2;
    /*
     * The answer to HEAD has headers only, whatever its Content-Length says: h2o_http1client must not wait for a
     * body. Config refuses GET and HEAD on upload routes, so the manifest is never sent as HEAD today; this keeps
     * the forwarder right on its own rather than relying on that.
     */
    *method_is_head = f->reqbufs[0].len >= 5 && memcmp(f->reqbufs[0].base, "HEAD ", 5) == 0;
    return on_head;
}

int ug_forward_start(ug_forward_t **slot, ug_forward_ctx_t *fc, h2o_iovec_t head, h2o_iovec_t body, ug_forward_done_cb done,
                     void *data)
{
    ug_forward_t *f = calloc(1, sizeof(*f));
    if ((*slot = f) == NULL)
        return -1;
    f->slot = slot;
    f->fc = fc;
    f->reqbufs[0] = head;
    f->reqbufs[1] = body;
    f->done = done;
    f->data = data;
    h2o_mem_init_pool(&f->pool);
    h2o_buffer_init(&f->body, &h2o_socket_buffer_prototype);
    h2o_http1client_connect_with_pool(&f->client, f, &fc->client_ctx, &fc->pool, on_connect);
    return 0;
}

void ug_forward_cancel(ug_forward_t *f)
{
    if (f == NULL)
        return;
    if (f->client != NULL)
        h2o_http1client_cancel(f->client);
    *f->slot = NULL;
    forward_free(f);
}

void ug_forward_move(ug_forward_t *f, ug_forward_t **slot, void *data)
{
    f->slot = slot;
    *slot = f;
    f->data = data;
}
