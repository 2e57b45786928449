/*
 * front/h1_pass.c - HTTP/1.1 requests the front does not take itself (every
 * request but an upload or a preflight of an upload route) run h2o's request
 * pipeline - reverse proxy, upload handler, CORS filter, access log - on the
 * front's own connection, as h2o 2.2.5's lib/http1.c would run them: the
 * request built from the head (names lower-cased, their spelling as sent kept
 * for the proxy), its body buffered in sock->input and given as req->entity,
 * and the response written by a final output stream of ours.
 *
 * Why not hand the connection to h2o, as the front did before: h2o then serves
 * the rest of it, so a client that GETs a page and then uploads on the same
 * keep-alive connection had its upload buffered whole by h2o, and h2o's only
 * limit between requests is http1.req_timeout. Kept here, every request of
 * the connection is the front's to decide, under the front's timeouts.
 *
 * The output stream keeps h2o's contract: the buffers given to do_send stay
 * valid until h2o_proceed_response, which is called once the socket layer has
 * written them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front/h1_conn.h"

struct ug_h1_pass {
    h2o_req_t req;
    h2o_ostream_t ostr;
    ug_h1_conn_t *conn;
    size_t entity_len; /* bytes of sock->input the body takes, consumed when the request ends */
    int headers_sent;
};

static ug_h1_conn_t *front_conn(h2o_conn_t *conn)
{
    return H2O_STRUCT_FROM_MEMBER(ug_h1_conn_t, super, conn);
}

static socklen_t get_sockname(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getsockname(front_conn(conn)->sock, sa);
}

static socklen_t get_peername(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getpeername(front_conn(conn)->sock, sa);
}

static h2o_socket_t *get_socket(h2o_conn_t *conn)
{
    return front_conn(conn)->sock;
}

const h2o_conn_callbacks_t ug_h1_conn_callbacks = {
    .get_sockname = get_sockname,
    .get_peername = get_peername,
    .get_socket = get_socket,
};

static void stamp(ug_h1_pass_t *p, struct timeval *field)
{
    if (h2o_timeval_is_null(field))
        *field = *h2o_get_timestamp(p->conn->super.ctx, NULL, NULL);
}

/* ---- the response ---- */

/* The status line and fields, as h2o 2.2.5 writes them (lib/http1.c flatten_headers): Date, Connection and the
 * length first, Server, then the response's fields with the names as the app spelt them. */
static h2o_iovec_t flatten_headers(h2o_req_t *req)
{
    h2o_context_t *ctx = req->conn->ctx;
    const char *connection = req->http1_is_persistent ? "keep-alive" : "close";
    h2o_timestamp_t ts;
    h2o_get_timestamp(ctx, &req->pool, &ts);
    size_t cap = sizeof("HTTP/1.1 999 \r\nDate: \r\nConnection: keep-alive\r\nContent-Length: \r\nServer: \r\n\r\n") +
                 (req->res.reason != NULL ? strlen(req->res.reason) : 0) + H2O_TIMESTR_RFC1123_LEN + sizeof(H2O_UINT64_LONGEST_STR) +
                 ctx->globalconf->server_name.len;
    for (size_t i = 0; i != req->res.headers.size; ++i)
        cap += req->res.headers.entries[i].name->len + req->res.headers.entries[i].value.len + 4;
    char *buf = h2o_mem_alloc_pool(&req->pool, cap), *dst = buf;
    int status = req->res.status >= 100 && req->res.status <= 999 ? req->res.status : 500;
    const char *reason = req->res.reason != NULL ? req->res.reason : "";

    dst += sprintf(dst, "HTTP/1.1 %d %s\r\nDate: %s\r\nConnection: %s\r\n", status, reason, ts.str->rfc1123, connection);
    if (req->res.content_length != SIZE_MAX)
        dst += sprintf(dst, "Content-Length: %zu\r\n", req->res.content_length);
    if (ctx->globalconf->server_name.len != 0)
        dst += sprintf(dst, "Server: %.*s\r\n", (int)ctx->globalconf->server_name.len, ctx->globalconf->server_name.base);
    for (size_t i = 0; i != req->res.headers.size; ++i) {
        const h2o_header_t *h = &req->res.headers.entries[i];
        memcpy(dst, h->orig_name != NULL ? h->orig_name : h->name->base, h->name->len);
        dst += h->name->len;
        *dst++ = ':';
        *dst++ = ' ';
        memcpy(dst, h->value.base, h->value.len);
        dst += h->value.len;
        *dst++ = '\r';
        *dst++ = '\n';
    }
    *dst++ = '\r';
    *dst++ = '\n';
    return h2o_iovec_init(buf, (size_t)(dst - buf));
}

/* A response with a body but neither a length nor chunked framing (h2o's chunked filter frames only HTTP/1.1 200s)
 * can only end with the connection (RFC 9112 6.3 item 8). h2o 2.2.5 still says keep-alive to an HTTP/1.0 client
 * that asked for it, which then waits for an end that never comes. */
static int ends_at_close(h2o_req_t *req)
{
    int status = req->res.status;
    if (req->res.content_length != SIZE_MAX || (status >= 100 && status <= 199) || status == 204 || status == 304 ||
        h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD")))
        return 0;
    return h2o_find_header(&req->res.headers, H2O_TOKEN_TRANSFER_ENCODING, -1) == -1;
}

static void on_written(h2o_socket_t *sock, const char *err, int final)
{
    ug_h1_conn_t *conn = sock->data;
    ug_h1_pass_t *p = conn->pass;
    if (err != NULL) {
        ug_h1_close(conn);
        return;
    }
    ug_h1_set_timeout(conn, NULL);
    if (!final) {
        h2o_proceed_response(&p->req);
        return;
    }
    stamp(p, &p->req.timestamps.response_end_at);
    ug_h1_pass_done(conn, p->req.http1_is_persistent);
}

static void on_written_more(h2o_socket_t *sock, const char *err)
{
    on_written(sock, err, 0);
}

static void on_written_final(h2o_socket_t *sock, const char *err)
{
    on_written(sock, err, 1);
}

static void do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *inbufs, size_t inbufcnt, h2o_send_state_t state)
{
    ug_h1_pass_t *p = H2O_STRUCT_FROM_MEMBER(ug_h1_pass_t, ostr, self);
    ug_h1_conn_t *conn = p->conn;
    h2o_iovec_t *bufs = h2o_mem_alloc_pool(&req->pool, sizeof(*bufs) * (inbufcnt + 1));
    size_t n = 0;

    if (!req->bytes_counted_by_ostream) /* the chunked encoder counts for itself */
        for (size_t i = 0; i != inbufcnt; ++i)
            req->bytes_sent += inbufs[i].len;
    if (state == H2O_SEND_STATE_ERROR) /* the generator failed mid-response: the client can only tell by the close */
        req->http1_is_persistent = 0;
    if (!p->headers_sent) {
        p->headers_sent = 1;
        stamp(p, &req->timestamps.response_start_at);
        if (ends_at_close(req))
            req->http1_is_persistent = 0;
        bufs[n++] = flatten_headers(req);
    }
    if (inbufcnt != 0)
        memcpy(bufs + n, inbufs, sizeof(*bufs) * inbufcnt);
    n += inbufcnt;

    int final = !h2o_send_state_is_in_progress(state);
    if (n == 0) { /* nothing to write: as if written (h2o does the same) */
        on_written(conn->sock, NULL, final);
        return;
    }
    /* a client that does not take its response is an idle one */
    ug_h1_set_timeout(conn, &conn->loop->body_timeout);
    h2o_socket_write(conn->sock, bufs, n, final ? on_written_final : on_written_more);
}

/* ---- the request ---- */

int ug_h1_pass_begin(ug_h1_conn_t *conn, struct phr_header *ph, size_t nh)
{ /* conn->req.h has the request line only: the fields are scanned after this (front/h1.c index_head) */
    ug_h1_pass_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    const ug_head_t *h = &conn->req.h;
    h2o_req_t *req = &p->req;
    h2o_iovec_t connection = {NULL, 0}, upgrade = {NULL, 0};
    conn->pass = p;
    p->conn = conn;
    h2o_init_request(req, &conn->super, NULL);
    req->timestamps.request_begin_at = *h2o_get_timestamp(conn->super.ctx, NULL, NULL);
    /* an absolute-form target is served as its path, its authority standing for Host (RFC 9112 3.2.2) */
    const char *path = h->target, *authority = NULL;
    size_t path_len = h->target_len, authority_len = 0;
    int absolute = ug_head_absolute_target(h->target, h->target_len, &path, &path_len, &authority, &authority_len) > 0;
    req->input.method = h2o_iovec_init(h->method, h->method_len);
    req->input.path = h2o_iovec_init(path, path_len);
    req->input.scheme = conn->tls ? &H2O_URL_SCHEME_HTTPS : &H2O_URL_SCHEME_HTTP;
    req->version = 0x100 | (h->minor_version != 0);

    /* as lib/http1.c init_headers: Host becomes the authority; Content-Length, Transfer-Encoding and Expect are the
     * front's to act on and do not go on; Upgrade only when Connection names it. Every other field is kept in order,
     * its name lower-cased and its spelling as sent kept (the proxy sends that). Values point into the head copy. */
    for (size_t i = 0; i != nh; ++i) {
        char *name = (char *)ph[i].name;
        h2o_iovec_t orig = h2o_strdup(&req->pool, name, ph[i].name_len);
        h2o_strtolower(name, ph[i].name_len);
        const h2o_token_t *token = h2o_lookup_token(name, ph[i].name_len);
        if (token == H2O_TOKEN_HOST) {
            if (!absolute)
                req->input.authority = h2o_iovec_init(ph[i].value, ph[i].value_len);
        } else if (token == H2O_TOKEN_UPGRADE) {
            upgrade = h2o_iovec_init(ph[i].value, ph[i].value_len);
        } else if (token != H2O_TOKEN_CONTENT_LENGTH && token != H2O_TOKEN_TRANSFER_ENCODING && token != H2O_TOKEN_EXPECT) {
            if (token != NULL)
                h2o_add_header(&req->pool, &req->headers, token, orig.base, ph[i].value, ph[i].value_len);
            else
                h2o_add_header_by_str(&req->pool, &req->headers, name, ph[i].name_len, 0, orig.base, ph[i].value,
                                      ph[i].value_len);
            if (token == H2O_TOKEN_CONNECTION)
                connection = h2o_iovec_init(ph[i].value, ph[i].value_len);
        }
    }
    if (absolute)
        req->input.authority = h2o_iovec_init(authority, authority_len);
    if (upgrade.base != NULL && connection.base != NULL && ug_head_has_token(connection.base, connection.len, "upgrade"))
        req->upgrade = upgrade;
    p->ostr.do_send = do_send;
    req->_ostr_top = &p->ostr;
    return 0;
}

void ug_h1_pass_run(ug_h1_conn_t *conn, size_t len)
{
    ug_h1_pass_t *p = conn->pass;
    p->entity_len = len;
    /* RFC 9112 9.3, as the front decides for its own requests (h2o 2.2.5 would close an HTTP/1.1 connection whose
     * Connection field names anything but keep-alive); never while the server is stopping */
    p->req.http1_is_persistent = conn->req.h.keep_alive && !conn->super.ctx->shutdown_requested;
    if (conn->req.h.framing != UG_HEAD_BODY_NONE) {
        p->req.timestamps.request_body_begin_at = p->req.timestamps.request_begin_at;
        p->req.entity = h2o_iovec_init(len != 0 ? conn->sock->input->bytes : "", len);
    }
    h2o_process_request(&p->req);
}

void ug_h1_pass_free(ug_h1_conn_t *conn)
{
    ug_h1_pass_t *p = conn->pass;
    if (p == NULL)
        return;
    stamp(p, &p->req.timestamps.response_end_at); /* a response cut short */
    h2o_dispose_request(&p->req);                 /* stops a generator still running; runs the access loggers */
    h2o_buffer_consume(&conn->sock->input, p->entity_len);
    free(p);
    conn->pass = NULL;
}
