/*
 * front_h2_pass.c - HTTP/2 streams the front does not serve itself run h2o's
 * request pipeline (reverse proxy, upload handler, CORS filter, access log)
 * exactly as h2o 2.2.5's own HTTP/2 would run them (lib/http2/connection.c,
 * stream.c): the request built from the stream's head, its body buffered (in
 * an h2o buffer with the socket prototype, spilling past
 * storage.spool_threshold) and given as req->entity at END_STREAM, and the
 * response taken by a final output stream of ours that turns it into nghttp2
 * HEADERS and DATA.
 *
 * The output stream keeps h2o's contract: the buffers given to do_send stay
 * valid until h2o_proceed_response, which is called once nghttp2 has copied
 * them into frames (read_data), from the connection's flush.
 */
#include <stdlib.h>
#include <string.h>

#include "front_h2_conn.h"

struct ug_h2_pass {
    h2o_req_t req;
    h2o_ostream_t ostr;
    struct ug_h2_stream *s;
    h2o_buffer_t *body;
    H2O_VECTOR(h2o_iovec_t) bufs; /* given by the last do_send, in req.pool */
    size_t next_buf, buf_off;
    h2o_send_state_t state;
    int headers_sent;
};

/* What h2o's own protocol layers record for the access logger (lib/http2/stream.c, lib/http1.c): when the response
 * began and ended; request_begin_at and request_body_begin_at are set as the request arrives. */
static void stamp(struct ug_h2_pass *p, struct timeval *field)
{
    if (h2o_timeval_is_null(field))
        *field = *h2o_get_timestamp(p->s->conn->super.ctx, NULL, NULL);
}

static socklen_t get_sockname(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getsockname(((struct ug_h2_conn *)conn)->sock, sa);
}

static socklen_t get_peername(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getpeername(((struct ug_h2_conn *)conn)->sock, sa);
}

static h2o_socket_t *get_socket(h2o_conn_t *conn)
{
    return ((struct ug_h2_conn *)conn)->sock;
}

const h2o_conn_callbacks_t ug_h2_conn_callbacks = {
    .get_sockname = get_sockname,
    .get_peername = get_peername,
    .get_socket = get_socket,
};

/* nghttp2 wants the next DATA payload: copy from h2o's buffers. Once they are all taken, h2o may produce more. */
static ssize_t read_data(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length, uint32_t *data_flags,
                         nghttp2_data_source *source, void *user_data)
{
    struct ug_h2_pass *p = source->ptr;
    size_t n = 0;
    (void)session, (void)stream_id, (void)user_data;
    while (n < length && p->next_buf < p->bufs.size) {
        h2o_iovec_t *b = &p->bufs.entries[p->next_buf];
        size_t take = b->len - p->buf_off < length - n ? b->len - p->buf_off : length - n;
        memcpy(buf + n, b->base + p->buf_off, take);
        n += take;
        p->buf_off += take;
        if (p->buf_off == b->len) {
            ++p->next_buf;
            p->buf_off = 0;
        }
    }
    p->req.bytes_sent += n;
    if (p->next_buf < p->bufs.size)
        return (ssize_t)n;
    switch (p->state) {
    case H2O_SEND_STATE_FINAL:
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        stamp(p, &p->req.timestamps.response_end_at);
        return (ssize_t)n;
    case H2O_SEND_STATE_ERROR: /* the generator failed mid-response: the stream is reset once what it gave is sent */
        return n != 0 ? (ssize_t)n : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    default:
        if (!h2o_linklist_is_linked(&p->s->proceed_link))
            h2o_linklist_insert(&p->s->conn->to_proceed, &p->s->proceed_link);
        return n != 0 ? (ssize_t)n : NGHTTP2_ERR_DEFERRED;
    }
}

static void send_headers(struct ug_h2_pass *p, int no_body)
{
    h2o_req_t *req = &p->req;
    struct ug_h2_conn *conn = p->s->conn;
    size_t nf = req->res.headers.size;
    ug_header_t *fields = h2o_mem_alloc_pool(&req->pool, sizeof(*fields) * (nf + 1));
    nghttp2_nv *nva = h2o_mem_alloc_pool(&req->pool, sizeof(*nva) * (nf + 4));
    for (size_t i = 0; i != nf; ++i) {
        const h2o_header_t *h = &req->res.headers.entries[i];
        fields[i] = (ug_header_t){h->name->base, h->name->len, h->value.base, h->value.len};
    }
    h2o_timestamp_t ts;
    h2o_get_timestamp(conn->super.ctx, &req->pool, &ts);
    stamp(p, &req->timestamps.response_start_at);
    if (no_body)
        stamp(p, &req->timestamps.response_end_at);
    ug_h2_nva_bufs_t bufs;
    h2o_iovec_t server = conn->super.ctx->globalconf->server_name;
    size_t n = ug_h2_response_nva(nva, &bufs, req->res.status, ts.str->rfc1123, strlen(ts.str->rfc1123), server.base, server.len,
                                  fields, nf, req->res.content_length);
    nghttp2_data_provider prd = {.source.ptr = p, .read_callback = read_data};
    if (nghttp2_submit_response(conn->session, p->s->id, nva, n, no_body ? NULL : &prd) != 0 ||
        (no_body && p->state == H2O_SEND_STATE_ERROR))
        nghttp2_submit_rst_stream(conn->session, NGHTTP2_FLAG_NONE, p->s->id, NGHTTP2_INTERNAL_ERROR);
}

static void do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    struct ug_h2_pass *p = H2O_STRUCT_FROM_MEMBER(struct ug_h2_pass, ostr, self);
    struct ug_h2_conn *conn = p->s->conn;
    size_t total = 0;
    if (bufcnt != 0) {
        h2o_vector_reserve(&req->pool, &p->bufs, bufcnt);
        memcpy(p->bufs.entries, bufs, sizeof(*bufs) * bufcnt);
    }
    p->bufs.size = bufcnt;
    p->next_buf = 0;
    p->buf_off = 0;
    p->state = state;
    for (size_t i = 0; i != bufcnt; ++i)
        total += bufs[i].len;
    if (!p->headers_sent) {
        p->headers_sent = 1;
        send_headers(p, state != H2O_SEND_STATE_IN_PROGRESS && total == 0);
    } else {
        nghttp2_session_resume_data(conn->session, p->s->id);
    }
    ug_h2_want_flush(conn);
}

static void stop(h2o_ostream_t *self, h2o_req_t *req)
{
    (void)self, (void)req; /* nothing of ours to stop: the stream's state goes with it (ug_h2_pass_free) */
}

int ug_h2_pass_begin(struct ug_h2_stream *s)
{
    struct ug_h2_pass *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    s->pass = p;
    p->s = s;
    h2o_req_t *req = &p->req;
    h2o_init_request(req, &s->conn->super, NULL);
    /* as h2o 2.2.5 lib/http2/hpack.c h2o_hpack_parse_headers: Host gives way to :authority, content-length is the
     * entity's, every other field is kept in order (cookies one by one) */
    req->input.method = s->method;
    req->input.path = s->path;
    req->input.authority = s->authority;
    req->input.scheme =
        h2o_memis(s->scheme.base, s->scheme.len, H2O_STRLIT("https")) ? &H2O_URL_SCHEME_HTTPS : &H2O_URL_SCHEME_HTTP;
    req->version = 0x200;
    req->timestamps.request_begin_at = s->began_at;
    for (size_t i = 0; i != s->num_fields; ++i) {
        const ug_header_t *f = &s->fields[i];
        const h2o_token_t *token = h2o_lookup_token(f->name, f->name_len);
        if (token == H2O_TOKEN_CONTENT_LENGTH)
            continue;
        if (token == H2O_TOKEN_HOST) {
            if (req->input.authority.base == NULL)
                req->input.authority = h2o_iovec_init(f->value, f->value_len);
            continue;
        }
        if (token != NULL)
            h2o_add_header(&req->pool, &req->headers, token, NULL, f->value, f->value_len);
        else
            h2o_add_header_by_str(&req->pool, &req->headers, f->name, f->name_len, 0, NULL, f->value, f->value_len);
    }
    p->ostr.do_send = do_send;
    p->ostr.stop = stop;
    req->_ostr_top = &p->ostr;
    h2o_buffer_init(&p->body, &h2o_socket_buffer_prototype);
    return 0;
}

int ug_h2_pass_data(struct ug_h2_stream *s, const uint8_t *data, size_t len)
{
    struct ug_h2_pass *p = s->pass;
    if (p->body->size + len > s->req.pass_limit)
        return -1;
    stamp(p, &p->req.timestamps.request_body_begin_at);
    h2o_iovec_t buf = h2o_buffer_reserve(&p->body, len);
    if (buf.base == NULL)
        return -2;
    memcpy(buf.base, data, len);
    p->body->size += len;
    return 0;
}

void ug_h2_pass_end(struct ug_h2_stream *s)
{
    struct ug_h2_pass *p = s->pass;
    if (p->body->size != 0)
        p->req.entity = h2o_iovec_init(p->body->bytes, p->body->size);
    h2o_process_request(&p->req);
}

void ug_h2_pass_proceed(struct ug_h2_stream *s)
{
    if (s->pass != NULL && s->pass->state == H2O_SEND_STATE_IN_PROGRESS)
        h2o_proceed_response(&s->pass->req);
}

void ug_h2_pass_free(struct ug_h2_stream *s)
{
    struct ug_h2_pass *p = s->pass;
    stamp(p, &p->req.timestamps.response_end_at); /* a stream reset before its response ended */
    h2o_dispose_request(&p->req);                 /* stops a generator still running; runs the access loggers */
    h2o_buffer_dispose(&p->body);
    free(p);
    s->pass = NULL;
}
