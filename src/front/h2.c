/*
 * front/h2.c - see front/h2.h; the connection (nghttp2 session, reading,
 * writing, timeouts, shutdown) and the streams the front serves itself
 * (uploads: exchange/exchange.h). Streams served by h2o are front/h2_pass.c's.
 */
#include "front/h2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front/h2_conn.h"

/* Frames gathered from nghttp2 before one socket write: fewer writes than one per frame, and a bound on what a
 * connection holds while the client reads slowly. */
#define WRITE_BATCH (256 * 1024)
/* What a connection keeps of its write buffer between writes. */
#define WRITE_KEEP (64 * 1024)
/* Reads per readiness event on cleartext connections (epoll is level-triggered in h2o 2.2.5: what is left wakes us). */
#define READS_PER_EVENT 4
/* Flow-control windows advertised, as h2o 2.2.5's (lib/http2/connection.c H2O_HTTP2_SETTINGS_HOST): upload DATA is
 * consumed as it arrives, so the window only bounds what a pass-through stream buffers before h2o sees it. */
#define STREAM_WINDOW (16 * 1024 * 1024)
#define CONNECTION_WINDOW (16 * 1024 * 1024)

static void flush(ug_h2_conn_t *conn);
static void close_conn(ug_h2_conn_t *conn);
static void on_head_timeout(h2o_timeout_entry_t *entry);
static void set_idle(ug_h2_conn_t *conn, int idle);
static void on_body_timeout(h2o_timeout_entry_t *entry);
static void on_rate_timeout(h2o_timeout_entry_t *entry);

/* ---- streams ---- */

static ug_h2_stream_t *stream_of(ug_h2_conn_t *conn, int32_t id)
{
    return nghttp2_session_get_stream_user_data(conn->session, id);
}

static void free_stream(ug_h2_stream_t *s)
{
    h2o_linklist_unlink(&s->link);
    if (h2o_linklist_is_empty(&s->conn->streams) && s->conn->session != NULL)
        set_idle(s->conn, 1);
    if (h2o_timeout_is_linked(&s->head_timeout))
        h2o_timeout_unlink(&s->head_timeout);
    if (h2o_timeout_is_linked(&s->body_timeout))
        h2o_timeout_unlink(&s->body_timeout);
    if (h2o_timeout_is_linked(&s->rate_timeout))
        h2o_timeout_unlink(&s->rate_timeout);
    if (h2o_linklist_is_linked(&s->proceed_link))
        h2o_linklist_unlink(&s->proceed_link);
    if (s->pass != NULL)
        ug_h2_pass_free(s);
    ug_exchange_end(&s->req);
    free(s->body);
    h2o_mem_clear_pool(&s->pool);
    free(s);
}

/* A stream's body may pause at most timeouts.body_idle: re-armed by each of its DATA frames (on = 1), stopped at its
 * end (on = 0). Likewise a pass-through response holding bytes the client does not take (its flow-control window
 * closed): re-armed by each DATA payload nghttp2 takes (front/h2_pass.c). The other streams of the connection do not
 * keep a stalled one alive. */
void ug_h2_watch_stream(ug_h2_stream_t *s, int on)
{
    if (h2o_timeout_is_linked(&s->body_timeout))
        h2o_timeout_unlink(&s->body_timeout);
    if (on)
        h2o_timeout_link(s->conn->super.ctx->loop, &s->conn->loop->body_timeout, &s->body_timeout);
}

/* Measure the body's rate from now, window by window (on = 1), or stop (on = 0): see body_rate.h. */
static void watch_rate(ug_h2_stream_t *s, int on)
{
    if (h2o_timeout_is_linked(&s->rate_timeout))
        h2o_timeout_unlink(&s->rate_timeout);
    s->rate_bytes = 0;
    if (on && s->conn->loop->body_min_rate != 0)
        h2o_timeout_link(s->conn->super.ctx->loop, &s->conn->loop->rate_timeout, &s->rate_timeout);
}

static void reset_stream(ug_h2_stream_t *s, uint32_t error_code)
{
    ug_h2_watch_stream(s, 0);
    watch_rate(s, 0);
    s->reset = 1;
    nghttp2_submit_rst_stream(s->conn->session, NGHTTP2_FLAG_NONE, s->id, error_code);
    ug_h2_want_flush(s->conn);
}

/* ---- the exchange's transport for upload streams (exchange/exchange.h) ---- */

static ug_h2_stream_t *stream_of_req(ug_exchange_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(ug_h2_stream_t, req, req);
}

static ssize_t read_response_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length, uint32_t *data_flags,
                                  nghttp2_data_source *source, void *user_data)
{
    ug_h2_stream_t *s = source->ptr;
    (void)session, (void)stream_id, (void)user_data;
    size_t n = s->body_len - s->body_off < length ? s->body_len - s->body_off : length;
    memcpy(buf, s->body + s->body_off, n);
    s->body_off += n;
    if (s->body_off == s->body_len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* An answer given before the request ended (a refusal at header time or mid-body) does not reset the stream: RFC 9113
 * 8.1 would allow RST_STREAM(NO_ERROR), but Debian 12's curl (7.88) then fails the transfer ("Stream error in the HTTP/2
 * framing layer") instead of showing the answer. The rest of the body is read and dropped (on_data_chunk feeds nothing
 * once the exchange has answered), its window reopened as it comes, under the stream's body_idle. */
static void give_back_held(ug_h2_stream_t *s);

static void tp_respond(ug_exchange_t *req, const ug_response_t *r)
{
    ug_h2_stream_t *s = stream_of_req(req);
    s->paused = 0; /* what still comes is dropped, and given back as it comes */
    give_back_held(s);
    nghttp2_nv *nva = malloc(sizeof(*nva) * (r->num_headers + 4));
    ug_h2_nva_bufs_t bufs;
    if (nva == NULL || (r->body_len != 0 && (s->body = malloc(r->body_len)) == NULL)) {
        free(nva);
        reset_stream(s, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    size_t n = ug_h2_response_nva(nva, &bufs, r->status, r->date, r->date != NULL ? strlen(r->date) : 0, r->server,
                                  r->server != NULL ? strlen(r->server) : 0, r->headers, r->num_headers, r->body_len);
    nghttp2_data_provider body = {.source.ptr = s, .read_callback = read_response_body};
    if (r->body_len != 0)
        memcpy(s->body, r->body, r->body_len);
    s->body_len = r->body_len;
    /* nghttp2 copies the header block; a body-less response ends the stream with its HEADERS */
    if (nghttp2_submit_response(s->conn->session, s->id, nva, n, r->body_len != 0 ? &body : NULL) != 0)
        reset_stream(s, NGHTTP2_INTERNAL_ERROR);
    free(nva);
    ug_h2_want_flush(s->conn);
}

/* The most fields of an interim response. */
#define UG_H2_INTERIM_FIELDS 16

/* 100 Continue, where the head asked for it: an interim HEADERS frame (RFC 9113 8.1). */
static void send_continue(ug_h2_stream_t *s, const ug_head_t *h)
{
    if (!h->expect_continue)
        return;
    nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)"100", 7, 3, NGHTTP2_NV_FLAG_NONE};
    nghttp2_submit_headers(s->conn->session, NGHTTP2_FLAG_NONE, s->id, NULL, &nv, 1, NULL);
    ug_h2_want_flush(s->conn);
}

static void tp_start_body(ug_exchange_t *req)
{
    send_continue(stream_of_req(req), &req->h);
    /* DATA frames are fed as nghttp2 delivers them (on_data_chunk); the flow-control windows pace the client */
}

static void tp_body_done(ug_exchange_t *req)
{
    (void)req; /* request_ended has already stopped the stream's body timeout */
}

static void tp_fail(ug_exchange_t *req)
{
    reset_stream(stream_of_req(req), NGHTTP2_INTERNAL_ERROR);
}

/* An interim HEADERS frame (RFC 9113 8.1) before the final one, as for 100 Continue; nghttp2 copies the block. */
static void tp_interim(ug_exchange_t *req, int status, const char *reason, const ug_header_t *fields, size_t num_fields)
{
    ug_h2_stream_t *s = stream_of_req(req);
    nghttp2_nv nva[UG_H2_INTERIM_FIELDS + 1];
    char code[4];
    size_t n = 0;
    (void)reason; /* HTTP/2 has no reason phrase */
    snprintf(code, sizeof(code), "%d", status);
    nva[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)code, 7, strlen(code), NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < num_fields && n < UG_H2_INTERIM_FIELDS + 1; ++i)
        nva[n++] = (nghttp2_nv){(uint8_t *)fields[i].name, (uint8_t *)fields[i].value, fields[i].name_len,
                                fields[i].value_len, NGHTTP2_NV_FLAG_NONE};
    nghttp2_submit_headers(s->conn->session, NGHTTP2_FLAG_NONE, s->id, NULL, nva, n, NULL);
    ug_h2_want_flush(s->conn);
}

/* DATA held back by a pause goes back to the stream's and the connection's windows: the client may send on. */
static void give_back_held(ug_h2_stream_t *s)
{
    if (s->held == 0)
        return;
    nghttp2_session_consume(s->conn->session, s->id, s->held);
    s->held = 0;
    ug_h2_want_flush(s->conn);
}

/* The exchange wants the body again: the held DATA is given back (WINDOW_UPDATE), and the body's idle and rate timers,
 * stopped while paused, run again from now. */
static void tp_resume_body(ug_exchange_t *req)
{
    ug_h2_stream_t *s = stream_of_req(req);
    s->paused = 0;
    give_back_held(s);
    if (!s->reset) {
        ug_h2_watch_stream(s, 1);
        watch_rate(s, 1);
    }
}

static const ug_exchange_transport_t transport = {tp_respond, tp_start_body, tp_body_done, tp_fail, tp_interim, tp_resume_body};

/* ---- nghttp2 callbacks ---- */

/* A stream whose head begins now; NULL when out of memory. */
static ug_h2_stream_t *new_stream(ug_h2_conn_t *conn, int32_t id)
{
    ug_h2_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->conn = conn;
    s->id = id;
    s->began_at = *h2o_get_timestamp(conn->super.ctx, NULL, NULL);
    h2o_mem_init_pool(&s->pool);
    s->req = (ug_exchange_t){
        .tp = &transport, .loop = conn->loop, .client_address = conn->client_address, .tls = conn->tls, .http2 = 1};
    /* the configuration current when this head began is the one it is decided by */
    s->req.rt = ug_runtime_slot_acquire(conn->loop->runtime);
    h2o_linklist_insert(&conn->streams, &s->link);
    s->head_timeout.cb = on_head_timeout;
    s->body_timeout.cb = on_body_timeout;
    s->rate_timeout.cb = on_rate_timeout;
    h2o_timeout_link(conn->super.ctx->loop, &conn->loop->header_timeout, &s->head_timeout);
    ++conn->requests;
    set_idle(conn, 0);
    return s;
}

/* RFC 9113 5.1.1: a new stream's identifier must be greater than every one the client opened before; a HEADERS frame
 * on a lower one that is no open stream is a connection error (PROTOCOL_ERROR). libnghttp2 1.52 cannot tell such an
 * identifier from a stream it closed and forgot, so it ignores the frame (a server may answer on the reused stream): the
 * check is the server's. Trailers (HEADERS on a stream still open) are not new streams. */
static int on_begin_frame(nghttp2_session *session, const nghttp2_frame_hd *hd, void *user_data)
{
    ug_h2_conn_t *conn = user_data;
    if (hd->type != NGHTTP2_HEADERS || hd->stream_id % 2 == 0) /* even ones are libnghttp2's to refuse */
        return 0;
    if (hd->stream_id > conn->max_client_stream_id)
        conn->max_client_stream_id = hd->stream_id;
    else if (hd->stream_id < conn->max_client_stream_id && nghttp2_session_find_stream(session, hd->stream_id) == NULL)
        nghttp2_session_terminate_session(session, NGHTTP2_PROTOCOL_ERROR); /* the frame is then ignored */
    return 0;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    ug_h2_conn_t *conn = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    ug_h2_stream_t *s = new_stream(conn, frame->hd.stream_id);
    if (s == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    nghttp2_session_set_stream_user_data(session, s->id, s);
    return 0;
}

/* One field of a stream's head, copied into its pool. */
static void add_field(ug_h2_stream_t *s, h2o_iovec_t name, h2o_iovec_t value)
{
    if (s->num_fields == s->cap_fields) {
        size_t cap = s->cap_fields != 0 ? s->cap_fields * 2 : 16;
        ug_header_t *fields = h2o_mem_alloc_pool(&s->pool, sizeof(*fields) * cap);
        if (s->num_fields != 0)
            memcpy(fields, s->fields, sizeof(*fields) * s->num_fields);
        s->fields = fields;
        s->cap_fields = cap;
    }
    s->fields[s->num_fields++] = (ug_header_t){name.base, name.len, value.base, value.len};
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
    ug_h2_conn_t *conn = user_data;
    ug_h2_stream_t *s = stream_of(conn, frame->hd.stream_id);
    (void)session, (void)flags;
    if (s == NULL || s->kind != UG_H2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers are not kept, as h2o 2.2.5 */
    /* the size of a field as SETTINGS_MAX_HEADER_LIST_SIZE counts it (RFC 9113 6.5.2) */
    s->head_bytes += namelen + valuelen + 32;
    if (s->head_too_large || s->head_bytes > s->req.rt->config->max_header_size) {
        s->head_too_large = 1;
        return 0;
    }
    h2o_iovec_t n = h2o_strdup(&s->pool, (const char *)name, namelen), v = h2o_strdup(&s->pool, (const char *)value, valuelen);
    if (namelen != 0 && name[0] == ':') { /* nghttp2 has checked the pseudo-fields (RFC 9113 8.3.1) */
        h2o_iovec_t *slot = h2o_memis(n.base, n.len, H2O_STRLIT(":method"))      ? &s->method
                            : h2o_memis(n.base, n.len, H2O_STRLIT(":path"))      ? &s->path
                            : h2o_memis(n.base, n.len, H2O_STRLIT(":authority")) ? &s->authority
                            : h2o_memis(n.base, n.len, H2O_STRLIT(":scheme"))    ? &s->scheme
                                                                                 : NULL;
        if (slot != NULL)
            *slot = v;
        return 0;
    }
    add_field(s, n, v);
    return 0;
}

/* A pass-through stream the front answers itself before h2o runs it (a body over max_pass_body, declared or as DATA
 * arrives): uploadgate's JSON error, as on HTTP/1.1; the rest of its body is read and dropped (see tp_respond). */
static void refuse_pass(ug_h2_stream_t *s, ug_err_t e, const char *message)
{
    if (s->pass != NULL)
        ug_h2_pass_free(s); /* h2o never ran it: nothing is logged twice */
    s->kind = UG_H2_UPLOAD; /* from here the exchange's: its answer, then DATA dropped */
    ug_exchange_refuse(&s->req, e, message);
}

/* The request head is complete: the front's (exchange/head.h, as for HTTP/1.1), or h2o's. */
static void head_complete(ug_h2_stream_t *s, int end_stream)
{
    ug_exchange_t *req = &s->req;
    h2o_timeout_unlink(&s->head_timeout);
    ug_h2_watch_stream(s, !end_stream);
    watch_rate(s, !end_stream);
    const ug_config_t *config = req->rt->config;
    if (s->head_too_large) {
        s->kind = UG_H2_UPLOAD;
        ug_exchange_refuse(req, UG_ERR_HEADER_TOO_LARGE, NULL);
        return;
    }
    ug_h2_request_head_t in = {
        .method = s->method.base,
        .method_len = s->method.len,
        .path = s->path.base,
        .path_len = s->path.len,
        .authority = s->authority.base,
        .authority_len = s->authority.len,
        .fields = s->fields,
        .num_fields = s->num_fields,
        .end_stream = end_stream,
    };
    ug_head_t h;
    ug_h2_head_scan(&in, &h);
    const ug_route_t *route = NULL;
    /* the request's head as the exchange sees it (and the access log, should the front answer a pass-through stream);
     * a head past UG_EXCHANGE_MAX_HEADERS keeps its first fields here, for the access line of its refusal */
    size_t kept = s->num_fields < UG_EXCHANGE_MAX_HEADERS ? s->num_fields : UG_EXCHANGE_MAX_HEADERS;
    if (kept != 0)
        memcpy(req->headers, s->fields, sizeof(*s->fields) * kept);
    req->h = h;
    req->h.headers = req->headers;
    req->h.num_headers = kept;
    if (s->num_fields > UG_EXCHANGE_MAX_HEADERS) { /* as on HTTP/1.1, whose parser takes no more: one limit for every head */
        s->kind = UG_H2_UPLOAD;
        ug_exchange_refuse(req, UG_ERR_BAD_REQUEST, UG_EXCHANGE_TOO_MANY_FIELDS);
        return;
    }
    if (h.host_error != NULL) { /* answered as on HTTP/1.1 (ug_head_refusal); the rest of its body is dropped */
        s->kind = UG_H2_UPLOAD;
        ug_exchange_refuse(req, UG_ERR_BAD_REQUEST, h.host_error);
        return;
    }
    char why[UG_ROUTE_MESSAGE_MAX];
    ug_head_verdict_t verdict = ug_exchange_decide(config, &h, &route, why, sizeof(why));
    if (verdict == UG_HEAD_REFUSE) { /* a refused target ("*" of OPTIONS included: RFC 9113 8.3.1), as on HTTP/1.1 */
        s->kind = UG_H2_UPLOAD;       /* the exchange answers; DATA is dropped */
        ug_exchange_refuse(req, UG_ERR_BAD_REQUEST, why);
        return;
    }
    if (verdict != UG_HEAD_TAKE) {
        s->kind = UG_H2_PASS;
        req->pass_limit = ug_exchange_pass_limit(config, &h);
        if (ug_h2_pass_begin(s) != 0)
            reset_stream(s, NGHTTP2_INTERNAL_ERROR);
        else if (h.framing == UG_HEAD_BODY_CONTENT_LENGTH && h.content_length > req->pass_limit)
            refuse_pass(s, UG_ERR_BODY_TOO_LARGE, UG_EXCHANGE_OVER_PASS_LIMIT);
        else if (end_stream)
            ug_h2_pass_end(s);
        else /* the body is taken at once (buffered for h2o's pipeline), so the expectation is met now */
            send_continue(s, &h);
        return;
    }
    s->kind = UG_H2_UPLOAD;
    req->route = route;
    ug_exchange_begin(req);
    ug_exchange_serve(req);
}

static void request_ended(ug_h2_stream_t *s)
{
    ug_h2_watch_stream(s, 0);
    watch_rate(s, 0);
    s->paused = 0; /* the body is whole: the connection's window must not stay short by what this stream held */
    give_back_held(s);
    if (s->reset)
        return;
    if (s->kind == UG_H2_PASS && s->pass != NULL)
        ug_h2_pass_end(s);
    else if (s->kind == UG_H2_UPLOAD && ug_exchange_reading_body(&s->req))
        ug_exchange_finish_body(&s->req);
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    ug_h2_conn_t *conn = user_data;
    (void)session;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    ug_h2_stream_t *s = stream_of(conn, frame->hd.stream_id);
    if (s == NULL)
        return 0;
    int end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS && s->kind == UG_H2_HEADERS) {
        head_complete(s, end_stream);
    } else if (end_stream) {
        request_ended(s);
    }
    return 0;
}

/* The exchange took the bytes but wants no more for now: neither body_idle nor body_min_rate runs (the store, not the
 * client, is the slow one), and the stream's DATA stops being given back to the windows (on_data_chunk). */
static void pause_stream(ug_h2_stream_t *s)
{
    s->paused = 1;
    ug_h2_watch_stream(s, 0);
    watch_rate(s, 0);
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data, size_t len,
                         void *user_data)
{
    ug_h2_conn_t *conn = user_data;
    ug_h2_stream_t *s = stream_of(conn, stream_id);
    (void)session, (void)flags;
    if (s == NULL || s->reset) {
        nghttp2_session_consume(session, stream_id, len); /* dropped: the windows stay open as before */
        return 0;
    }
    if (!s->paused)
        ug_h2_watch_stream(s, 1);
    s->rate_bytes += len;
    if (s->kind == UG_H2_PASS) {
        ug_h2_pass_data_result_t r = s->pass != NULL ? ug_h2_pass_data(s, data, len) : UG_H2_PASS_BUFFERED;
        if (r == UG_H2_PASS_OVER_LIMIT)
            refuse_pass(s, UG_ERR_BODY_TOO_LARGE, UG_EXCHANGE_OVER_PASS_LIMIT);
        else if (r == UG_H2_PASS_NOMEM)
            reset_stream(s, NGHTTP2_INTERNAL_ERROR);
    } else if (s->kind == UG_H2_UPLOAD && ug_exchange_reading_body(&s->req)) {
        /* a refusal is answered by the exchange */
        if (ug_exchange_feed(&s->req, (const char *)data, len) == UG_EXCHANGE_PAUSED && !s->paused)
            pause_stream(s);
    }
    /* The windows are given back as bytes are taken (the session does not do it itself: new_session), except a paused
     * stream's, held until it resumes: the client can then send at most what the windows still allow. */
    if (s->paused)
        s->held += len;
    else
        nghttp2_session_consume(session, stream_id, len);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
    ug_h2_conn_t *conn = user_data;
    (void)error_code;
    if (conn->session == NULL) /* being deleted by close_conn, which frees the streams itself */
        return 0;
    ug_h2_stream_t *s = stream_of(conn, stream_id);
    if (s != NULL) {
        nghttp2_session_set_stream_user_data(session, stream_id, NULL);
        if (s->held != 0) /* the stream's own window goes with it; the connection's must not stay short */
            nghttp2_session_consume_connection(session, s->held);
        free_stream(s);
    }
    return 0;
}

/* ---- the connection ---- */

static void set_timeout(ug_h2_conn_t *conn, h2o_timeout_t *timeout)
{
    if (h2o_timeout_is_linked(&conn->timeout_entry))
        h2o_timeout_unlink(&conn->timeout_entry);
    conn->timeout = timeout;
    if (timeout != NULL)
        h2o_timeout_link(conn->super.ctx->loop, timeout, &conn->timeout_entry);
}

/* After every read and write: a pending write may wait at most timeouts.body_idle for the client to read (re-armed
 * each time); bodies and held responses have their own timers (ug_h2_watch_stream), a connection without streams its deadline (set_idle). */
static void update_timeout(ug_h2_conn_t *conn)
{
    set_timeout(conn, conn->writing ? &conn->loop->body_timeout : NULL);
}

/* A connection with no stream open may stay timeouts.header after accept, timeouts.keepalive after its last stream:
 * deadlines, so that a client trickling frames (a preface, PINGs) cannot hold a connection that makes no request. */
static void set_idle(ug_h2_conn_t *conn, int idle)
{
    if (h2o_timeout_is_linked(&conn->idle_entry))
        h2o_timeout_unlink(&conn->idle_entry);
    if (idle)
        h2o_timeout_link(conn->super.ctx->loop, conn->requests == 0 ? &conn->loop->header_timeout : &conn->loop->keepalive_timeout,
                         &conn->idle_entry);
}

/* A request head (HEADERS and its CONTINUATIONs) must be complete within timeouts.header of its first frame, as on
 * the HTTP/1.1 front; a header block cannot be abandoned half-way, so the connection goes. */
static void on_head_timeout(h2o_timeout_entry_t *entry)
{
    close_conn(H2O_STRUCT_FROM_MEMBER(ug_h2_stream_t, head_timeout, entry)->conn);
}

/* A body silent, or a response not taken, for timeouts.body_idle: the stream is reset (CANCEL); its upload is removed,
 * or its backend request cancelled (h2o's generator stopped), when the stream closes. When it was the connection's only stream, the connection goes too (GOAWAY, then closed), as the
 * HTTP/1.1 front closes an idle one; other streams of a busy connection are not disturbed. */
static void on_body_timeout(h2o_timeout_entry_t *entry)
{
    ug_h2_stream_t *s = H2O_STRUCT_FROM_MEMBER(ug_h2_stream_t, body_timeout, entry);
    ug_h2_conn_t *conn = s->conn;
    int only = conn->streams.next == &s->link && s->link.next == &conn->streams;
    reset_stream(s, NGHTTP2_CANCEL);
    if (only)
        nghttp2_session_terminate_session(conn->session, NGHTTP2_NO_ERROR);
}

/* A window of a stream's body ended: on to the next, or 408 when it brought less than body_min_rate x window - the
 * upload aborted (its files removed) first, a pass-through body never given to h2o. What the client still sends is
 * dropped (tp_respond). */
static void on_rate_timeout(h2o_timeout_entry_t *entry)
{
    ug_h2_stream_t *s = H2O_STRUCT_FROM_MEMBER(ug_h2_stream_t, rate_timeout, entry);
    if (ug_loop_rate_ok(s->conn->loop, s->rate_bytes)) {
        watch_rate(s, 1);
        return;
    }
    s->rate_bytes = 0;
    if (s->kind == UG_H2_PASS)
        refuse_pass(s, UG_ERR_REQUEST_TIMEOUT, UG_BODY_RATE_MESSAGE);
    else if (s->kind == UG_H2_UPLOAD && ug_exchange_reading_body(&s->req))
        ug_exchange_fail_upload(&s->req, UG_ERR_REQUEST_TIMEOUT, UG_BODY_RATE_MESSAGE);
    ug_h2_want_flush(s->conn);
}

static void close_conn(ug_h2_conn_t *conn)
{
    set_timeout(conn, NULL);
    set_idle(conn, 0);
    if (h2o_timeout_is_linked(&conn->flush_entry))
        h2o_timeout_unlink(&conn->flush_entry);
    ug_loop_unwatch(&conn->shutdown_watch);
    nghttp2_session *session = conn->session;
    conn->session = NULL; /* on_stream_close ignores what session_del might report: the streams are freed below */
    nghttp2_session_del(session);
    while (!h2o_linklist_is_empty(&conn->streams))
        free_stream(H2O_STRUCT_FROM_MEMBER(ug_h2_stream_t, link, conn->streams.next));
    h2o_socket_close(conn->sock); /* runs sock->on_close; a write in flight is dropped without its callback */
    free(conn->wbuf);
    free(conn);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    close_conn(H2O_STRUCT_FROM_MEMBER(ug_h2_conn_t, timeout_entry, entry));
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    close_conn(H2O_STRUCT_FROM_MEMBER(ug_h2_conn_t, idle_entry, entry));
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    ug_h2_conn_t *conn = sock->data;
    conn->writing = 0;
    conn->wlen = 0;
    if (conn->wcap > WRITE_KEEP) { /* a burst's buffer is not kept by an idle connection */
        free(conn->wbuf);
        conn->wbuf = NULL;
        conn->wcap = 0;
    }
    if (err != NULL) {
        close_conn(conn);
        return;
    }
    flush(conn);
}

static int append_output(ug_h2_conn_t *conn, const uint8_t *data, size_t len)
{
    if (conn->wlen + len > conn->wcap) {
        size_t cap = conn->wcap != 0 ? conn->wcap : 16 * 1024;
        while (cap < conn->wlen + len)
            cap *= 2;
        char *p = realloc(conn->wbuf, cap);
        if (p == NULL)
            return -1;
        conn->wbuf = p;
        conn->wcap = cap;
    }
    memcpy(conn->wbuf + conn->wlen, data, len);
    conn->wlen += len;
    return 0;
}

/* Take nghttp2's frames (letting h2o produce more for streams whose data was taken) and write them; close when the
 * session has nothing more to read or write (GOAWAY exchanged, or a connection error). */
static void flush(ug_h2_conn_t *conn)
{
    if (conn->writing)
        return;
    for (;;) {
        while (conn->wlen < WRITE_BATCH) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(conn->session, &data);
            if (n < 0 || (n > 0 && append_output(conn, data, (size_t)n) != 0)) {
                close_conn(conn);
                return;
            }
            if (n == 0)
                break;
        }
        if (conn->wlen >= WRITE_BATCH || h2o_linklist_is_empty(&conn->to_proceed))
            break;
        /* h2o may send more from these now (or later, from its own callbacks, which ask for a flush) */
        while (!h2o_linklist_is_empty(&conn->to_proceed)) {
            ug_h2_stream_t *s = H2O_STRUCT_FROM_MEMBER(ug_h2_stream_t, proceed_link, conn->to_proceed.next);
            h2o_linklist_unlink(&s->proceed_link);
            ug_h2_pass_proceed(s);
        }
    }
    if (conn->wlen != 0) {
        h2o_iovec_t buf = h2o_iovec_init(conn->wbuf, conn->wlen);
        conn->writing = 1;
        h2o_socket_write(conn->sock, &buf, 1, on_written);
    } else if (!nghttp2_session_want_read(conn->session) && !nghttp2_session_want_write(conn->session)) {
        close_conn(conn);
        return;
    }
    update_timeout(conn);
}

static void on_flush(h2o_timeout_entry_t *entry)
{
    flush(H2O_STRUCT_FROM_MEMBER(ug_h2_conn_t, flush_entry, entry));
}

void ug_h2_want_flush(ug_h2_conn_t *conn)
{
    if (conn->session != NULL && !h2o_timeout_is_linked(&conn->flush_entry))
        h2o_timeout_link(conn->super.ctx->loop, &conn->super.ctx->zero_timeout, &conn->flush_entry);
}

/* Give bytes to nghttp2 (it keeps nothing pointing into them). Returns -1 when the connection was closed. */
static int feed(ug_h2_conn_t *conn, const char *bytes, size_t len)
{
    if (nghttp2_session_mem_recv(conn->session, (const uint8_t *)bytes, len) < 0) { /* bad preface, flood, no memory */
        close_conn(conn);
        return -1;
    }
    return 0;
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    ug_h2_conn_t *conn = sock->data;
    if (err != NULL) {
        close_conn(conn);
        return;
    }
    if (conn->tls) { /* h2o's socket layer has read and decrypted into sock->input */
        if (feed(conn, sock->input->bytes, sock->input->size) != 0)
            return;
        h2o_buffer_consume(&sock->input, sock->input->size);
    } else {
        char *buf = ug_loop_body_buf(conn->loop);
        if (buf == NULL) {
            close_conn(conn);
            return;
        }
        for (int i = 0; i < READS_PER_EVENT; ++i) {
            ssize_t r = ug_loop_read(sock, buf, UG_LOOP_BODY_READ_SIZE);
            if (r < 0) {
                close_conn(conn);
                return;
            }
            if (r == 0)
                break;
            if (feed(conn, buf, (size_t)r) != 0)
                return;
            if ((size_t)r < UG_LOOP_BODY_READ_SIZE)
                break;
        }
    }
    flush(conn);
}

/* The server is stopping: GOAWAY, then the streams begun are served and the connection closes. */
static void on_shutdown(ug_loop_watcher_t *w)
{
    ug_h2_conn_t *conn = H2O_STRUCT_FROM_MEMBER(ug_h2_conn_t, shutdown_watch, w);
    if (conn->goaway)
        return;
    conn->goaway = 1;
    nghttp2_submit_goaway(conn->session, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(conn->session),
                          NGHTTP2_NO_ERROR, NULL, 0);
    flush(conn); /* may close conn */
}

static int new_session(ug_h2_conn_t *conn)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    int ret = -1;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return -1;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return -1;
    }
    nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    /* Windows are given back as the streams take their bytes (nghttp2_session_consume in on_data_chunk), so that a
     * paused upload stops its client (UG_EXCHANGE_PAUSED); nghttp2 still sends WINDOW_UPDATE once half a window is
     * consumed, as it does by itself, and consumes ignored DATA and padding itself. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    if (nghttp2_session_server_new2(&conn->session, cbs, conn, opt) == 0) {
        nghttp2_settings_entry settings[] = {
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
             (uint32_t)conn->super.ctx->globalconf->http2.max_concurrent_requests_per_connection},
            {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
            {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        };
        if (nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, settings, sizeof(settings) / sizeof(settings[0])) == 0 &&
            nghttp2_session_set_local_window_size(conn->session, NGHTTP2_FLAG_NONE, 0, CONNECTION_WINDOW) == 0)
            ret = 0;
    }
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    return ret;
}

/* A connection with its session, its server SETTINGS queued; NULL when it could not be set up (the socket is closed). */
static ug_h2_conn_t *open_conn(ug_loop_t *loop, h2o_accept_ctx_t *actx, h2o_socket_t *sock,
                                   struct timeval connected_at, const char *client_address)
{
    /* h2o_create_connection fills h2o's part (context, hosts, id, callbacks) and aborts when out of memory */
    ug_h2_conn_t *conn =
        (ug_h2_conn_t *)h2o_create_connection(sizeof(*conn), actx->ctx, actx->hosts, connected_at, &ug_h2_conn_callbacks);
    memset((char *)conn + sizeof(conn->super), 0, sizeof(*conn) - sizeof(conn->super));
    conn->sock = sock;
    conn->loop = loop;
    conn->tls = actx->ssl_ctx != NULL;
    snprintf(conn->client_address, sizeof(conn->client_address), "%s", client_address);
    h2o_linklist_init_anchor(&conn->streams);
    h2o_linklist_init_anchor(&conn->to_proceed);
    h2o_linklist_init_anchor(&conn->held_back);
    conn->timeout_entry.cb = on_timeout;
    conn->idle_entry.cb = on_idle_timeout;
    conn->flush_entry.cb = on_flush;
    sock->data = conn;
    conn->shutdown_watch.on_shutdown = on_shutdown;
    ug_loop_watch(loop, &conn->shutdown_watch);
    if (new_session(conn) != 0) {
        close_conn(conn);
        return NULL;
    }
    set_idle(conn, 1);
    if (conn->tls)
        ug_loop_cap_tls_receive_buffer(sock);
    return conn;
}

/* Read the connection from here; what sock->input holds already is the client's preface, or its start, as far as the
 * HTTP/1.1 front or the TLS handshake read it. */
static void run_conn(ug_h2_conn_t *conn)
{
    h2o_socket_t *sock = conn->sock;
    if (sock->input->size != 0) {
        if (feed(conn, sock->input->bytes, sock->input->size) != 0)
            return;
        h2o_buffer_consume(&sock->input, sock->input->size);
    }
    h2o_socket_read_start(sock, on_read);
    flush(conn);
}

void ug_h2_accept(ug_loop_t *loop, h2o_accept_ctx_t *actx, h2o_socket_t *sock, struct timeval connected_at,
                        const char *client_address)
{
    ug_h2_conn_t *conn = open_conn(loop, actx, sock, connected_at, client_address);
    if (conn != NULL)
        run_conn(conn);
}

/* Fields of an HTTP/1.1 head that are about its connection, not the request: not carried into HTTP/2 (RFC 9113
 * 8.2.2), those the Connection field names included (RFC 9110 7.6.1: once Connection is gone, nothing downstream
 * could tell). Host becomes :authority. */
static int connection_specific(const ug_head_t *h, const ug_header_t *f)
{
    return ug_header_name_is(f->name, f->name_len, "host") || ug_header_is_hop_by_hop(f->name, f->name_len) ||
           ug_header_listed_in_connection(f->name, f->name_len, h->headers, h->num_headers);
}

/* Stream 1 of an upgraded connection: the HTTP/1.1 request, complete and half-closed from the client's side (RFC 7540
 * 3.2), run by h2o's pipeline like any stream the front does not take. Returns 0, or -1 when the connection cannot
 * go on. */
static int upgrade_stream(ug_h2_conn_t *conn, const ug_h2_upgrade_t *up)
{
    const ug_head_t *h = up->head;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_iovec_t settings = h2o_decode_base64url(&pool, up->settings, up->settings_len);
    int is_head = h->method_len == 4 && memcmp(h->method, "HEAD", 4) == 0;
    ug_h2_stream_t *s = settings.base != NULL ? new_stream(conn, 1) : NULL;
    int ret = -1;
    if (s != NULL && nghttp2_session_upgrade2(conn->session, (const uint8_t *)settings.base, settings.len, is_head, s) == 0) {
        h2o_timeout_unlink(&s->head_timeout); /* the head is complete */
        s->method = h2o_strdup(&s->pool, h->method, h->method_len);
        s->path = h2o_strdup(&s->pool, h->target, h->target_len);
        if (h->host != NULL)
            s->authority = h2o_strdup(&s->pool, h->host, h->host_len);
        s->scheme = h2o_iovec_init(H2O_STRLIT("http"));
        for (size_t i = 0; i != h->num_headers; ++i) {
            const ug_header_t *f = &h->headers[i];
            if (!connection_specific(h, f))
                add_field(s, h2o_strdup(&s->pool, f->name, f->name_len), h2o_strdup(&s->pool, f->value, f->value_len));
        }
        s->kind = UG_H2_PASS;
        s->req.pass_limit = up->body_len; /* the HTTP/1.1 front held it to max_pass_body before the switch */
        if (ug_h2_pass_begin(s) == 0 && (up->body_len == 0 || ug_h2_pass_data(s, (const uint8_t *)up->body, up->body_len) == UG_H2_PASS_BUFFERED)) {
            ug_h2_pass_end(s);
            ret = 0;
        }
    } else if (s != NULL) {
        free_stream(s);
    }
    h2o_mem_clear_pool(&pool);
    return ret;
}

void ug_h2_accept_upgrade(ug_loop_t *loop, h2o_accept_ctx_t *actx, h2o_socket_t *sock, struct timeval connected_at,
                         const char *client_address, const ug_h2_upgrade_t *up)
{
    ug_h2_conn_t *conn = open_conn(loop, actx, sock, connected_at, client_address);
    if (conn == NULL)
        return;
    if (upgrade_stream(conn, up) != 0) {
        close_conn(conn);
        return;
    }
    h2o_buffer_consume(&sock->input, up->body_len);
    run_conn(conn);
}
