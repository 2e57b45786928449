/*
 * front/h2_pass.c - HTTP/2 streams the front does not serve itself run h2o's
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
 *
 * Bounded buffering. h2o 2.2.5's reverse proxy reads the backend's response as
 * fast as the backend sends it, whatever the client takes (lib/core/proxy.c
 * on_body appends to the backend socket's input buffer until proceed): a
 * client that keeps its flow-control window at 0 could pin whole responses in
 * memory. So while a stream holds bytes nghttp2 has not taken, the backend
 * socket is not read (its read callback is put aside and given back before
 * h2o_proceed_response), and that socket's receive buffer is capped
 * (UG_H2_PASS_UPSTREAM_RCVBUF) so one read brings a bounded amount. A
 * connection holding UG_H2_PASS_CONN_HELD gets nothing more from the backend
 * for any stream, and starts no new pass-through request, until the client
 * takes some (conn->held_back). A response that holds bytes and makes no
 * progress for timeouts.body_idle resets its stream, which stops h2o's
 * generator and cancels the backend request. While the backend is not read,
 * its own timeout (backend.timeout) still runs: a stream paused that long ends
 * in an error (RST_STREAM), as a stalled backend would.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "front/h2_conn.h"

struct ug_h2_pass {
    h2o_req_t req;
    h2o_ostream_t ostr;
    ug_h2_stream_t *s;
    h2o_buffer_t *body;
    H2O_VECTOR(h2o_iovec_t) bufs; /* given by the last do_send, in req.pool */
    size_t next_buf, buf_off;
    h2o_send_state_t state;
    int headers_sent;
    int started;                /* h2o_process_request was called (not held back at END_STREAM) */
    size_t held;                /* bytes of bufs nghttp2 has not taken, counted in conn->pass_held */
    h2o_socket_cb upstream_read; /* the backend socket's read callback while it is paused, NULL otherwise */
    int upstream_capped;        /* its receive buffer was capped */
};

/* The first fields of h2o 2.2.5's reverse-proxy generator (lib/core/proxy.c struct rp_generator_t), the only
 * generator in uploadgate's pipeline that streams. Trusted only when they point back at each other: the generator at
 * this request, its h2o_http1client's data at the generator. */
struct proxy_generator_head {
    h2o_generator_t super;
    h2o_req_t *src_req;
    h2o_http1client_t *client;
};

/* The backend socket feeding this request through h2o's proxy; NULL when there is none (any other generator, or the
 * backend's response already read whole). */
static h2o_socket_t *upstream_socket(ug_h2_pass_t *p)
{
    struct proxy_generator_head *g = (struct proxy_generator_head *)p->req._generator;
    if (g == NULL || g->src_req != &p->req || g->client == NULL || g->client->data != g)
        return NULL;
    return g->client->sock;
}

static void pause_upstream(ug_h2_pass_t *p)
{
    h2o_socket_t *sock = upstream_socket(p);
    if (sock == NULL || sock->_cb.read == NULL)
        return;
    if (!p->upstream_capped) { /* best effort: a socket that refuses keeps reading in larger steps */
        int size = UG_H2_PASS_UPSTREAM_RCVBUF;
        setsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        p->upstream_capped = 1;
    }
    p->upstream_read = sock->_cb.read;
    h2o_socket_read_stop(sock);
}

static void resume_upstream(ug_h2_pass_t *p)
{
    h2o_socket_cb cb = p->upstream_read;
    p->upstream_read = NULL;
    h2o_socket_t *sock = cb != NULL ? upstream_socket(p) : NULL;
    if (sock != NULL && sock->_cb.read == NULL)
        h2o_socket_read_start(sock, cb);
}

/* nghttp2 took n of the stream's held bytes. Below the connection's bound again, the held-back streams may go on. */
static void release_held(ug_h2_pass_t *p, size_t n)
{
    ug_h2_conn_t *conn = p->s->conn;
    p->held -= n;
    conn->pass_held -= n;
    if (conn->pass_held < UG_H2_PASS_CONN_HELD && !h2o_linklist_is_empty(&conn->held_back)) {
        while (!h2o_linklist_is_empty(&conn->held_back)) {
            h2o_linklist_t *l = conn->held_back.next;
            h2o_linklist_unlink(l);
            h2o_linklist_insert(&conn->to_proceed, l);
        }
        ug_h2_want_flush(conn);
    }
}

/* What h2o's own protocol layers record for the access logger (lib/http2/stream.c, lib/http1.c): when the response
 * began and ended; request_begin_at and request_body_begin_at are set as the request arrives. */
static void stamp(ug_h2_pass_t *p, struct timeval *field)
{
    if (h2o_timeval_is_null(field))
        *field = *h2o_get_timestamp(p->s->conn->super.ctx, NULL, NULL);
}

static socklen_t get_sockname(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getsockname(((ug_h2_conn_t *)conn)->sock, sa);
}

static socklen_t get_peername(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getpeername(((ug_h2_conn_t *)conn)->sock, sa);
}

static h2o_socket_t *get_socket(h2o_conn_t *conn)
{
    return ((ug_h2_conn_t *)conn)->sock;
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
    ug_h2_pass_t *p = source->ptr;
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
    if (n != 0) {
        release_held(p, n);
        ug_h2_watch_stream(p->s, p->held != 0); /* progress: body_idle counts from here while bytes remain */
    }
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

static void send_headers(ug_h2_pass_t *p, int no_body)
{
    h2o_req_t *req = &p->req;
    ug_h2_conn_t *conn = p->s->conn;
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
    ug_h2_pass_t *p = H2O_STRUCT_FROM_MEMBER(ug_h2_pass_t, ostr, self);
    ug_h2_conn_t *conn = p->s->conn;
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
    p->held += total;
    conn->pass_held += total;
    if (total != 0) {
        ug_h2_watch_stream(p->s, 1);
        if (state == H2O_SEND_STATE_IN_PROGRESS) /* nothing more from the backend until the client takes these */
            pause_upstream(p);
    }
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

int ug_h2_pass_begin(ug_h2_stream_t *s)
{
    ug_h2_pass_t *p = calloc(1, sizeof(*p));
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
        if (token == H2O_TOKEN_CONTENT_LENGTH || token == H2O_TOKEN_EXPECT) /* the front meets the expectation itself */
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

ug_h2_pass_data_result_t ug_h2_pass_data(ug_h2_stream_t *s, const uint8_t *data, size_t len)
{
    ug_h2_pass_t *p = s->pass;
    if (p->body->size + len > s->req.pass_limit)
        return UG_H2_PASS_OVER_LIMIT;
    stamp(p, &p->req.timestamps.request_body_begin_at);
    h2o_iovec_t buf = h2o_buffer_reserve(&p->body, len);
    if (buf.base == NULL)
        return UG_H2_PASS_NOMEM;
    memcpy(buf.base, data, len);
    p->body->size += len;
    return UG_H2_PASS_BUFFERED;
}

void ug_h2_pass_end(ug_h2_stream_t *s)
{
    ug_h2_pass_t *p = s->pass;
    if (p->body->size != 0)
        p->req.entity = h2o_iovec_init(p->body->bytes, p->body->size);
    if (s->conn->pass_held >= UG_H2_PASS_CONN_HELD) { /* started when the client has taken some (release_held) */
        h2o_linklist_insert(&s->conn->held_back, &s->proceed_link);
        return;
    }
    p->started = 1;
    h2o_process_request(&p->req);
}

void ug_h2_pass_proceed(ug_h2_stream_t *s)
{
    ug_h2_pass_t *p = s->pass;
    if (p == NULL)
        return;
    if (s->conn->pass_held >= UG_H2_PASS_CONN_HELD) {
        h2o_linklist_insert(&s->conn->held_back, &s->proceed_link);
        return;
    }
    if (!p->started) {
        p->started = 1;
        h2o_process_request(&p->req);
    } else if (p->state == H2O_SEND_STATE_IN_PROGRESS) {
        resume_upstream(p);
        h2o_proceed_response(&p->req);
    }
}

void ug_h2_pass_free(ug_h2_stream_t *s)
{
    ug_h2_pass_t *p = s->pass;
    s->conn->pass_held -= p->held;
    p->upstream_read = NULL; /* the generator's stop closes the backend socket */
    stamp(p, &p->req.timestamps.response_end_at); /* a stream reset before its response ended */
    h2o_dispose_request(&p->req);                 /* stops a generator still running; runs the access loggers */
    h2o_buffer_dispose(&p->body);
    free(p);
    s->pass = NULL;
}
