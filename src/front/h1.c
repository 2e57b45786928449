/*
 * front/h1.c - see front/h1.h; the connection half of the front (front/h1_conn.h):
 * accept, reading heads and bodies, timeouts, refusals, hand-over to the HTTP/2 front, writing and closing.
 */
#include "front/h1.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o/http2.h>

#include "front/h1_conn.h"
#include "front/h2.h"
#include "http/response.h"

/*
 * The front reads the socket itself (H2O_SOCKET_FLAG_DONT_READ) in pieces of READ_SIZE, at most READS_PER_EVENT per
 * readiness event (epoll is level-triggered in h2o 2.2.5, so what is left wakes us again). h2o's own read loop
 * (evloop.c.h on_read_core) reads until the kernel queue is empty, doubling sock->input as it goes: with a fast
 * client that is megabytes per event, and past storage.spool_threshold the buffer becomes an mmapped spool file,
 * i.e. every body byte written to disk twice. Bounded reads keep sock->input under READ_SIZE + max_header_size.
 */
#define READ_SIZE (64 * 1024)
#define READS_PER_EVENT 4
/*
 * Content-Length bodies on cleartext connections skip sock->input: they are read straight into the thread's buffer
 * of BODY_READ_SIZE, never past the body's end, and fed to the upload before the next read, so nothing is left in
 * it between events and one buffer serves every connection of the loop. Reads of 16 x READ_SIZE cut the read and
 * write syscalls per MiB (4 x 20 MiB uploads: ~1340 reads + ~1280 writes at 64 KiB, ~340 + ~340 at 256 KiB, as many
 * as the raw sink, ~135 + ~130 at 1 MiB: the socket seldom holds more), and memory per connection does not grow.
 */
#define BODY_READ_SIZE UG_LOOP_BODY_READ_SIZE

static void on_head_read(h2o_socket_t *sock, const char *err);
static void on_body_read(h2o_socket_t *sock, const char *err);
static void on_pass_body_read(h2o_socket_t *sock, const char *err);
static ug_exchange_flow_t process_body(ug_h1_conn_t *conn);
static void start_head(ug_h1_conn_t *conn);

/* ---- idle connections and the server's shutdown ---- */

/*
 * h2o 2.2.5 tells HTTP/1 nothing when the server stops (H2O_HTTP1_CALLBACKS has no graceful_shutdown), and the server
 * waits for every connection to close. Connections idle between requests (or accepted and silent) are therefore
 * watched by the loop while they are idle, and closed once the server is stopping, as RFC 9112 9.6 allows for idle
 * connections; busy ones finish their request first.
 */
static void on_shutdown(ug_loop_watcher_t *w)
{
    ug_h1_close(H2O_STRUCT_FROM_MEMBER(ug_h1_conn_t, idle_watch, w));
}

static void set_idle(ug_h1_conn_t *conn, int idle)
{
    if (idle)
        ug_loop_watch(conn->loop, &conn->idle_watch);
    else
        ug_loop_unwatch(&conn->idle_watch);
}

/* ---- connection lifetime ---- */

void ug_h1_set_timeout(ug_h1_conn_t *conn, h2o_timeout_t *timeout)
{
    if (h2o_timeout_is_linked(&conn->timeout_entry))
        h2o_timeout_unlink(&conn->timeout_entry);
    conn->timeout = timeout;
    if (timeout != NULL)
        h2o_timeout_link(conn->loop->ctx->loop, timeout, &conn->timeout_entry);
}

/*
 * Append at most READ_SIZE bytes from the socket to sock->input. Returns how many were read, or a ug_read_result_t:
 * UG_READ_NONE when none are waiting (a spurious wake-up, or only part of a TLS record), UG_READ_GONE at end of stream
 * or on an error.
 *
 * On TLS connections h2o's socket layer has already read and decrypted what the kernel held when the callback runs
 * (evloop.c.h read_on_ready cannot be bounded), so the first call of an event reports sock->bytes_read and later
 * ones nothing. What one event brings is bounded by the socket's receive buffer, which the front caps for TLS
 * bodies (see cap_tls_receive_buffer) so that sock->input stays far below the spool threshold.
 */
static ssize_t read_input(ug_h1_conn_t *conn, const char *err, int nth)
{
    if (err != NULL)
        return UG_READ_GONE;
    if (conn->tls)
        return nth == 0 ? (ssize_t)conn->sock->bytes_read : UG_READ_NONE;
    h2o_iovec_t buf = h2o_buffer_reserve(&conn->sock->input, READ_SIZE);
    if (buf.base == NULL)
        return UG_READ_GONE;
    ssize_t r = ug_loop_read(conn->sock, buf.base, READ_SIZE);
    if (r > 0)
        conn->sock->input->size += (size_t)r;
    return r;
}

static void cap_tls_receive_buffer(ug_h1_conn_t *conn)
{
    if (conn->tls)
        ug_loop_cap_tls_receive_buffer(conn->sock);
}

/* Measure the body's rate from now, window by window (on = 1), or stop (on = 0). */
static void watch_rate(ug_h1_conn_t *conn, int on)
{
    if (h2o_timeout_is_linked(&conn->rate_entry))
        h2o_timeout_unlink(&conn->rate_entry);
    conn->rate_bytes = 0;
    if (on && conn->loop->body_min_rate != 0)
        h2o_timeout_link(conn->loop->ctx->loop, &conn->loop->rate_timeout, &conn->rate_entry);
}

static void reset_request(ug_h1_conn_t *conn)
{
    watch_rate(conn, 0);
    ug_exchange_end(&conn->req);
    free(conn->response);
    conn->response = NULL;
    conn->keep_alive = 0;
    conn->upgrading = 0;
    conn->interim_len = 0;
}

void ug_h1_close(ug_h1_conn_t *conn)
{
    ug_h1_set_timeout(conn, NULL);
    set_idle(conn, 0);
    ug_h1_pass_free(conn); /* while the socket is open: h2o's access loggers ask it for the peer's address */
    /* Closed before the request state goes: a response still being written points into conn->response. The socket is
     * disposed without calling our callbacks again (evloop.c.h do_dispose_socket). */
    h2o_socket_close(conn->sock); /* runs sock->on_close */
    reset_request(conn);
    free(conn);
}

static void refuse(ug_h1_conn_t *conn, ug_err_t e, const char *message);

/* A window of the body ended: on to the next one, or 408 when it brought less than body_min_rate x window. The upload
 * is aborted (its files removed) before the answer; the connection closes after it (the body is unread). */
static void on_rate_timeout(h2o_timeout_entry_t *entry)
{
    ug_h1_conn_t *conn = H2O_STRUCT_FROM_MEMBER(ug_h1_conn_t, rate_entry, entry);
    if (ug_loop_rate_ok(conn->loop, conn->rate_bytes)) {
        watch_rate(conn, 1);
        return;
    }
    if (conn->state == UG_H1_BODY) {
        h2o_socket_read_stop(conn->sock);
        ug_exchange_fail_upload(&conn->req, UG_ERR_REQUEST_TIMEOUT, UG_BODY_RATE_MESSAGE);
    } else if (conn->state == UG_H1_PASS_BODY) {
        refuse(conn, UG_ERR_REQUEST_TIMEOUT, UG_BODY_RATE_MESSAGE);
    }
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    /* header, keepalive, body_idle, a stalled response write, linger: each ends the connection without a word
     * (RFC 9112 9.5 allows closing an idle connection at any time; an aborted upload leaves nothing behind). */
    ug_h1_close(H2O_STRUCT_FROM_MEMBER(ug_h1_conn_t, timeout_entry, entry));
}

/* Give the connection to the HTTP/2 front (front/h2.h), with whatever sock->input already holds. */
static void hand_to_h2(ug_h1_conn_t *conn)
{
    h2o_accept_ctx_t *actx = conn->actx;
    h2o_socket_t *sock = conn->sock;
    ug_loop_t *loop = conn->loop;
    struct timeval connected_at = conn->connected_at;
    char client_address[NI_MAXHOST];
    memcpy(client_address, conn->client_address, sizeof(client_address));
    ug_h1_set_timeout(conn, NULL);
    set_idle(conn, 0);
    reset_request(conn);
    free(conn);
    sock->data = NULL;
    ug_h2_accept(loop, actx, sock, connected_at, client_address);
}

/* Whether the input can be the start of the HTTP/2 connection preface (RFC 9113 3.4). */
static int is_h2_preface(const h2o_buffer_t *in)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    size_t n = in->size < sizeof(preface) - 1 ? in->size : sizeof(preface) - 1;
    return n != 0 && memcmp(in->bytes, preface, n) == 0;
}

static void on_linger_read(h2o_socket_t *sock, const char *err)
{
    ug_h1_conn_t *conn = sock->data;
    for (int i = 0; i < READS_PER_EVENT; ++i) {
        ssize_t r = read_input(conn, err, i);
        if (r < 0) { /* the client closed too (or reset): done */
            ug_h1_close(conn);
            return;
        }
        h2o_buffer_consume(&sock->input, sock->input->size);
        if (r == 0)
            break;
    }
}

/* Half-close, then drop whatever still arrives until the client closes or LINGER_MS passes. */
static void linger_close(ug_h1_conn_t *conn)
{
    conn->state = UG_H1_LINGER;
    reset_request(conn);
    shutdown(h2o_socket_get_fd(conn->sock), SHUT_WR);
    h2o_buffer_consume(&conn->sock->input, conn->sock->input->size);
    ug_h1_set_timeout(conn, &conn->loop->linger_timeout);
    h2o_socket_read_start(conn->sock, on_linger_read);
}

/* ---- writing responses ---- */

static void on_response_written(h2o_socket_t *sock, const char *err)
{
    ug_h1_conn_t *conn = sock->data;
    free(conn->response);
    conn->response = NULL;
    if (err != NULL) {
        conn->req.client_left = 1;
        ug_h1_close(conn);
        return;
    }
    if (!conn->keep_alive) {
        linger_close(conn);
        return;
    }
    reset_request(conn);
    start_head(conn);
}

/* Write a complete response (`buf`, malloc'd, taken over), then keep the connection or close it as conn->keep_alive
 * says. The connection goes on from the write's completion. */
static void write_response(ug_h1_conn_t *conn, char *buf, size_t len)
{
    watch_rate(conn, 0);
    ug_h1_set_timeout(conn, NULL);
    h2o_socket_read_stop(conn->sock);
    free(conn->response);
    conn->response = buf;
    conn->state = UG_H1_RESPONSE;
    ug_h1_set_timeout(conn, &conn->loop->body_timeout); /* a client that does not read its answer is an idle one */
    h2o_iovec_t iov = h2o_iovec_init(buf, len);
    h2o_socket_write(conn->sock, &iov, 1, on_response_written);
}

/* ---- the exchange's transport (exchange/exchange.h) ---- */

static ug_h1_conn_t *conn_of(ug_exchange_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(ug_h1_conn_t, req, req);
}

static void tp_respond(ug_exchange_t *req, const ug_response_t *given)
{
    ug_h1_conn_t *conn = conn_of(req);
    /* the socket is not read while the app has the request (tp_body_done): its leaving is seen only now */
    if (conn->state == UG_H1_FORWARD && ug_loop_peer_gone(conn->sock)) {
        req->client_left = 1;
        ug_h1_close(conn);
        return;
    }
    ug_response_t r = *given;
    /* Persist only when the body was read to its end, the client allows it, and the server is not shutting down
     * (h2o 2.2.5 does the same on ctx->shutdown_requested, lib/http1.c fixup_request). */
    conn->keep_alive = req->body_read && req->h.keep_alive && !conn->loop->ctx->shutdown_requested;
    r.keep_alive = conn->keep_alive;
    size_t len;
    char *bytes = ug_response_render(&r, &len);
    if (bytes == NULL) {
        ug_h1_close(conn);
        return;
    }
    write_response(conn, bytes, len);
}

static void start_body(ug_h1_conn_t *conn);

static void tp_start_body(ug_exchange_t *req)
{
    start_body(conn_of(req));
}

static void tp_body_done(ug_exchange_t *req)
{
    ug_h1_conn_t *conn = conn_of(req);
    watch_rate(conn, 0);
    ug_h1_set_timeout(conn, NULL);
    h2o_socket_read_stop(conn->sock); /* pipelined bytes wait in the kernel and sock->input until the answer is sent */
    conn->state = UG_H1_FORWARD;
}

static void tp_fail(ug_exchange_t *req)
{
    ug_h1_close(conn_of(req));
}

/* Kept for send_continue, which writes it before the body is read; an HTTP/1.0 client gets no 1xx (RFC 9110 15.2). */
static void tp_interim(ug_exchange_t *req, int status, const char *reason, const ug_header_t *fields, size_t num_fields)
{
    ug_h1_conn_t *conn = conn_of(req);
    if (req->h.minor_version == 0)
        return;
    conn->interim_len = ug_response_render_interim(status, reason, fields, num_fields, conn->interim, sizeof(conn->interim));
}

static void tp_resume_body(ug_exchange_t *req);
static const ug_exchange_transport_t transport = {tp_respond, tp_start_body, tp_body_done, tp_fail, tp_interim, tp_resume_body};

/* ---- reading the body ---- */

static void read_body(ug_h1_conn_t *conn)
{
    cap_tls_receive_buffer(conn);
    conn->state = UG_H1_BODY;
    ug_h1_set_timeout(conn, &conn->loop->body_timeout);
    watch_rate(conn, 1);
    if (conn->sock->input->size != 0 && process_body(conn) != UG_EXCHANGE_MORE) /* sent along with the head, or before our 100 Continue */
        return;
    h2o_socket_read_start(conn->sock, on_body_read);
}

/* The exchange wants the body again after a pause: what sock->input kept first, then the socket, with the body's
 * timeouts re-armed from now. */
static void tp_resume_body(ug_exchange_t *req)
{
    ug_h1_conn_t *conn = conn_of(req);
    if (conn->state == UG_H1_BODY)
        read_body(conn);
}

static void read_pass_body(ug_h1_conn_t *conn);

static void on_continue_sent(h2o_socket_t *sock, const char *err)
{
    ug_h1_conn_t *conn = sock->data;
    if (err != NULL) {
        ug_h1_close(conn);
        return;
    }
    conn->interim_len = 0;
    if (conn->pass != NULL || conn->upgrading)
        read_pass_body(conn);
    else
        read_body(conn);
}

/* The body may come now (RFC 9110 10.1.1): the interim heads - 100 where asked, and any the exchange gave
 * (tp_interim) - then the body is read. The iovecs are local because the socket layer may advance them on a partial
 * write; what they point to (a literal, conn->interim) stays valid until on_continue_sent. */
static void send_continue(ug_h1_conn_t *conn, int with_100)
{
    h2o_iovec_t iov[2];
    size_t n = 0;
    if (with_100)
        iov[n++] = h2o_iovec_init(H2O_STRLIT(UG_RESPONSE_100_CONTINUE));
    if (conn->interim_len != 0)
        iov[n++] = h2o_iovec_init(conn->interim, conn->interim_len);
    conn->state = UG_H1_CONTINUE;
    ug_h1_set_timeout(conn, &conn->loop->body_timeout);
    h2o_socket_read_stop(conn->sock);
    h2o_socket_write(conn->sock, iov, n, on_continue_sent);
}

static void start_body(ug_h1_conn_t *conn)
{
    /* every check that needs no body has passed */
    if (conn->req.h.expect_continue || conn->interim_len != 0)
        send_continue(conn, conn->req.h.expect_continue);
    else
        read_body(conn);
}

/* The exchange took the bytes but wants no more for now (UG_EXCHANGE_PAUSED): the socket is not read (what the kernel
 * and sock->input hold waits there: TCP's window paces the client) and neither body_idle nor body_min_rate runs, as
 * the store, not the client, is the slow one; tp_resume_body undoes it. */
static void pause_body(ug_h1_conn_t *conn)
{
    h2o_socket_read_stop(conn->sock);
    ug_h1_set_timeout(conn, NULL);
    watch_rate(conn, 0);
}

/* After body bytes were fed (`fed`, ug_exchange_feed's answer): finish at the body's end, or pause. UG_EXCHANGE_ENDED when
 * the body ended or was refused: then conn may be gone (do not touch it); UG_EXCHANGE_PAUSED: read no more. */
static ug_exchange_flow_t body_fed(ug_h1_conn_t *conn, ug_exchange_flow_t fed, int done)
{
    if (fed == UG_EXCHANGE_ENDED)
        return UG_EXCHANGE_ENDED;
    if (done) { /* a body complete while paused finishes all the same: the upload waits for its store itself */
        ug_exchange_finish_body(&conn->req);
        return UG_EXCHANGE_ENDED;
    }
    if (fed == UG_EXCHANGE_PAUSED)
        pause_body(conn);
    return fed;
}

/*
 * Feed what sock->input holds to the upload and consume it: the socket buffer never holds more than one read.
 * Returns as body_fed.
 */
static ug_exchange_flow_t process_body(ug_h1_conn_t *conn)
{
    ug_exchange_t *req = &conn->req;
    h2o_buffer_t *in = conn->sock->input;
    ug_exchange_flow_t fed;

    if (req->h.framing == UG_HEAD_BODY_CONTENT_LENGTH) {
        size_t n = in->size < req->body_left ? in->size : (size_t)req->body_left;
        req->body_left -= n;
        fed = ug_exchange_feed(req, in->bytes, n);
        h2o_buffer_consume(&conn->sock->input, n);
        return body_fed(conn, fed, req->body_left == 0);
    }
    /* Decoded in place (chunked.h: strict RFC 9112 framing); max_body is enforced by ug_upload_feed as decoded bytes
     * pass. On a framing error nothing reaches the app: the upload is removed and the connection closes. */
    size_t size = in->size, rest;
    ug_chunked_result_t r = ug_chunked_decode(&req->decoder, in->bytes, &size, &rest);
    if (r == UG_CHUNKED_ERROR) {
        ug_exchange_fail_upload(req, UG_ERR_BAD_REQUEST, req->decoder.error);
        return UG_EXCHANGE_ENDED;
    }
    in->size = size + rest; /* the decoded data, then the bytes after the body */
    fed = ug_exchange_feed(req, in->bytes, size);
    h2o_buffer_consume(&conn->sock->input, size);
    return body_fed(conn, fed, r == UG_CHUNKED_DONE);
}

/* What one read of a body did: whether the loop reading it may go on. */
enum body_read {
    BODY_READ_CLOSED,  /* the client went away (or out of memory): the connection was closed (an upload in flight
                        * aborted: nothing reaches the app, nothing stays on disk) and is gone */
    BODY_READ_NOTHING, /* no bytes were waiting */
    BODY_READ_MORE,    /* bytes came; the body goes on */
    BODY_READ_ENDED,   /* bytes came and the body ended or was refused (body_fed): conn may be gone */
    BODY_READ_PAUSED,  /* bytes came and the exchange wants no more for now (pause_body) */
};

/* One read of a Content-Length body into the loop's buffer (see BODY_READ_SIZE), fed at once. */
static enum body_read read_body_direct(ug_h1_conn_t *conn)
{
    ug_exchange_t *req = &conn->req;
    ug_loop_t *loop = conn->loop;
    ssize_t r = UG_READ_GONE;
    if (ug_loop_body_buf(loop) != NULL) {
        size_t want = req->body_left < BODY_READ_SIZE ? (size_t)req->body_left : BODY_READ_SIZE;
        r = ug_loop_read(conn->sock, loop->body_buf, want);
    }
    if (r == UG_READ_GONE) {
        ug_h1_close(conn);
        return BODY_READ_CLOSED;
    }
    if (r == UG_READ_NONE)
        return BODY_READ_NOTHING;
    ug_h1_set_timeout(conn, &loop->body_timeout); /* idle time, so re-armed on every read */
    conn->rate_bytes += (uint64_t)r;
    req->body_left -= (uint64_t)r;
    ug_exchange_flow_t fed = body_fed(conn, ug_exchange_feed(req, loop->body_buf, (size_t)r), req->body_left == 0);
    return fed == UG_EXCHANGE_MORE ? BODY_READ_MORE : fed == UG_EXCHANGE_PAUSED ? BODY_READ_PAUSED : BODY_READ_ENDED;
}

/* One read of a body into sock->input (not fed: BODY_READ_MORE when bytes came), its idle timeout re-armed. */
static enum body_read read_body_input(ug_h1_conn_t *conn, const char *err, int nth)
{
    ssize_t r = read_input(conn, err, nth);
    if (r == UG_READ_GONE) {
        ug_h1_close(conn);
        return BODY_READ_CLOSED;
    }
    if (r == UG_READ_NONE)
        return BODY_READ_NOTHING;
    ug_h1_set_timeout(conn, &conn->loop->body_timeout); /* idle time, so re-armed on every read */
    conn->rate_bytes += (uint64_t)r;
    return BODY_READ_MORE;
}

static void on_body_read(h2o_socket_t *sock, const char *err)
{
    ug_h1_conn_t *conn = sock->data;
    for (int i = 0; i < READS_PER_EVENT; ++i) {
        if (err == NULL && !conn->tls && conn->req.h.framing == UG_HEAD_BODY_CONTENT_LENGTH && sock->input->size == 0) {
            if (read_body_direct(conn) != BODY_READ_MORE)
                return;
            continue;
        }
        if (read_body_input(conn, err, i) != BODY_READ_MORE || process_body(conn) != UG_EXCHANGE_MORE)
            return;
    }
}

/* ---- the request head ---- */

/* Keep a copy of the complete head (sock->input is consumed and reused for the body) and parse the copy into `ph`
 * (names as sent). Returns 0, or -1 when out of memory. */
static int copy_head(ug_h1_conn_t *conn, size_t head_len, struct phr_header *ph, size_t *nh)
{
    ug_exchange_t *req = &conn->req;
    if ((req->head = malloc(head_len)) == NULL)
        return -1;
    memcpy(req->head, conn->sock->input->bytes, head_len);
    h2o_buffer_consume(&conn->sock->input, head_len);
    *nh = UG_EXCHANGE_MAX_HEADERS;
    /* Parsing the copy again gives pointers into it; the result cannot differ from the first parse. */
    int r = phr_parse_request(req->head, head_len, &req->h.method, &req->h.method_len, &req->h.target, &req->h.target_len,
                              &req->h.minor_version, ph, nh, 0);
    return r == (int)head_len ? 0 : -1;
}

/* Index the copied head in req->h, its field names lower-cased in place: h2o does that (lib/http1.c init_headers),
 * and the app must see the same head whichever path a request takes. */
static void index_head(ug_exchange_t *req, const struct phr_header *ph, size_t nh)
{
    for (size_t i = 0; i < nh; ++i) {
        h2o_strtolower((char *)ph[i].name, ph[i].name_len);
        req->headers[i] = (ug_header_t){ph[i].name, ph[i].name_len, ph[i].value, ph[i].value_len};
    }
    req->h.headers = req->headers;
    req->h.num_headers = nh;
    ug_head_scan(&req->h);
}

/* copy_head, then index_head. Returns 0, or -1 when out of memory: then the connection is closed (gone). */
static int own_head(ug_h1_conn_t *conn, size_t head_len)
{
    struct phr_header ph[UG_EXCHANGE_MAX_HEADERS];
    size_t nh;
    if (copy_head(conn, head_len, ph, &nh) != 0) {
        ug_h1_close(conn);
        return -1;
    }
    index_head(&conn->req, ph, nh);
    return 0;
}

/* The head is complete and ours: serve it (exchange/exchange.c). */
static void take(ug_h1_conn_t *conn, size_t head_len)
{
    if (own_head(conn, head_len) != 0)
        return;
    ug_exchange_begin(&conn->req);
    ug_exchange_serve(&conn->req);
}

/* ---- requests served by h2o's pipeline on this connection (front/h1_pass.c) ---- */

static void refuse(ug_h1_conn_t *conn, ug_err_t e, const char *message);

/* A head no one should serve (ug_head_refusal, ug_exchange_decide): answered with its request line and fields in the
 * access log. */
static void refuse_head(ug_h1_conn_t *conn, size_t head_len, ug_err_t e, const char *why)
{
    if (own_head(conn, head_len) == 0)
        refuse(conn, e, why); /* `why` is static or the caller's, never in the head own_head moves */
}

void ug_h1_pass_done(ug_h1_conn_t *conn, int keep_alive)
{
    ug_h1_pass_free(conn); /* consumes the body: what follows in sock->input is the next request */
    reset_request(conn);
    if (!keep_alive) {
        linger_close(conn);
        return;
    }
    start_head(conn);
}

/* A request the front will not serve or read on (a head ug_head_refusal refuses; a pass-through body over its
 * limit, max_pass_body, or with broken chunked framing): uploadgate's JSON error, logged as the front's own, then the
 * connection closes (what follows is unread, and where this request ends may be unknown). */
static void refuse(ug_h1_conn_t *conn, ug_err_t e, const char *message)
{
    watch_rate(conn, 0);
    ug_h1_pass_free(conn);
    h2o_socket_read_stop(conn->sock);
    ug_h1_set_timeout(conn, NULL);
    ug_exchange_refuse(&conn->req, e, message);
}

/* The 101 is out: the HTTP/2 front serves the connection from here, the request as its stream 1. */
static void on_switching_sent(h2o_socket_t *sock, const char *err)
{
    ug_h1_conn_t *conn = sock->data;
    if (err != NULL) {
        ug_h1_close(conn);
        return;
    }
    const ug_header_t *settings = ug_head_find(&conn->req.h, "http2-settings", NULL);
    ug_h2_upgrade_t up = {.settings = settings->value,
                          .settings_len = settings->value_len,
                          .head = &conn->req.h,
                          .body = sock->input->bytes,
                          .body_len = conn->upgrade_body_len};
    ug_h1_set_timeout(conn, NULL);
    set_idle(conn, 0);
    sock->data = NULL;
    ug_h2_accept_upgrade(conn->loop, conn->actx, sock, conn->connected_at, conn->client_address, &up); /* copies `up` */
    reset_request(conn);
    free(conn);
}

/* The body of a request asking for h2c is complete (RFC 7540 3.2: it is read before the switch): say yes. */
static void switch_to_h2(ug_h1_conn_t *conn, size_t body_len)
{
    h2o_iovec_t res = {H2O_STRLIT("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")};
    conn->upgrade_body_len = body_len;
    ug_h1_set_timeout(conn, &conn->loop->body_timeout); /* a client that does not read is an idle one */
    h2o_socket_write(conn->sock, &res, 1, on_switching_sent);
}

/* What sock->input holds of the body: run the request once it is complete. UG_EXCHANGE_MORE while more is needed,
 * UG_EXCHANGE_ENDED when the request was run or refused (then conn may be gone). Chunked bodies are decoded in place (chunked.h), as lib/http1.c
 * does with picohttpparser's lenient decoder; a framing error is a 400 and the connection closes. */
static ug_exchange_flow_t pass_body_progress(ug_h1_conn_t *conn)
{
    ug_exchange_t *req = &conn->req;
    h2o_buffer_t *in = conn->sock->input;
    size_t len;

    if (req->h.framing == UG_HEAD_BODY_NONE) {
        len = 0;
    } else if (req->h.framing == UG_HEAD_BODY_CONTENT_LENGTH) {
        if (in->size < req->h.content_length)
            return UG_EXCHANGE_MORE;
        len = (size_t)req->h.content_length;
    } else {
        size_t size = in->size - req->body_left, rest; /* body_left: the decoded prefix so far */
        ug_chunked_result_t r = ug_chunked_decode(&req->decoder, in->bytes + req->body_left, &size, &rest);
        in->size = (size_t)req->body_left + size;
        req->body_left = in->size;
        if (r != UG_CHUNKED_ERROR && in->size > req->pass_limit) { /* as soon as the decoded body crosses it */
            refuse(conn, UG_ERR_BODY_TOO_LARGE, UG_EXCHANGE_OVER_PASS_LIMIT);
            return UG_EXCHANGE_ENDED;
        }
        if (r == UG_CHUNKED_ERROR) {
            refuse(conn, UG_ERR_BAD_REQUEST, req->decoder.error); /* a static message */
            return UG_EXCHANGE_ENDED;
        }
        if (r == UG_CHUNKED_INCOMPLETE)
            return UG_EXCHANGE_MORE;
        len = in->size;
        in->size += rest; /* the bytes after the body: the next request */
    }
    h2o_socket_read_stop(conn->sock); /* pipelined bytes wait until the response is written */
    ug_h1_set_timeout(conn, NULL); /* none while the app works */
    watch_rate(conn, 0);
    conn->state = UG_H1_PASS;
    if (conn->upgrading)
        switch_to_h2(conn, len);
    else
        ug_h1_pass_run(conn, len);
    return UG_EXCHANGE_ENDED;
}

static void read_pass_body(ug_h1_conn_t *conn)
{
    cap_tls_receive_buffer(conn);
    conn->state = UG_H1_PASS_BODY;
    ug_h1_set_timeout(conn, &conn->loop->body_timeout);
    watch_rate(conn, 1);
    if (pass_body_progress(conn) == UG_EXCHANGE_ENDED)
        return;
    h2o_socket_read_start(conn->sock, on_pass_body_read);
}

static void on_pass_body_read(h2o_socket_t *sock, const char *err)
{
    ug_h1_conn_t *conn = sock->data;
    for (int i = 0; i < READS_PER_EVENT; ++i)
        if (read_body_input(conn, err, i) != BODY_READ_MORE || pass_body_progress(conn) == UG_EXCHANGE_ENDED)
            return;
}

/* A head that is not the front's to take: build h2o's request (or, when it asks for h2c, switch to the HTTP/2
 * front once its body is read), read its body as h2o would, then run it. */
static void pass(ug_h1_conn_t *conn, size_t head_len, int upgrade)
{
    ug_exchange_t *req = &conn->req;
    struct phr_header ph[UG_EXCHANGE_MAX_HEADERS];
    size_t nh;
    conn->upgrading = upgrade;
    if (copy_head(conn, head_len, ph, &nh) != 0 || (!upgrade && ug_h1_pass_begin(conn, ph, nh) != 0)) {
        ug_h1_close(conn);
        return;
    }
    index_head(req, ph, nh);
    req->pass_limit = ug_exchange_pass_limit(req->rt->config, &req->h);
    switch (req->h.framing) {
    case UG_HEAD_BODY_CONTENT_LENGTH:
        if (req->h.content_length > req->pass_limit) { /* at the head: not a byte of the body is read */
            refuse(conn, UG_ERR_BODY_TOO_LARGE, UG_EXCHANGE_OVER_PASS_LIMIT);
            return;
        }
        break;
    case UG_HEAD_BODY_CHUNKED:
        ug_chunked_init(&req->decoder);
        req->body_left = 0;
        break;
    default:
        pass_body_progress(conn); /* none: runs it */
        return;
    }
    /* As h2o: a 100 once the body is known to be acceptable. HTTP/1.0 clients cannot ask for one (RFC 9110 10.1.1). */
    if (req->h.expect_continue && req->h.minor_version >= 1 && conn->sock->input->size == 0)
        send_continue(conn, 1);
    else
        read_pass_body(conn);
}

/* A head asking for h2c that the front will switch (ug_head_h2c_upgrade) with a SETTINGS payload nghttp2 can take:
 * base64url of 6-byte entries (RFC 7540 3.2.1). Any other is answered as HTTP/1.1. */
static int wants_h2c(const ug_head_t *h)
{
    const char *settings;
    size_t len;
    if (!ug_head_h2c_upgrade(h, &settings, &len))
        return 0;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_iovec_t payload = h2o_decode_base64url(&pool, settings, len);
    int ok = payload.base != NULL && payload.len % 6 == 0;
    h2o_mem_clear_pool(&pool);
    return ok;
}

static void parse_head(ug_h1_conn_t *conn)
{
    if (conn->req.rt == NULL) /* the configuration current when this head began is the one it is decided by */
        conn->req.rt = ug_runtime_slot_acquire(conn->loop->runtime);
    const ug_config_t *config = conn->req.rt->config;
    h2o_buffer_t *in = conn->sock->input;
    size_t len = in->size < config->max_header_size ? in->size : (size_t)config->max_header_size;
    struct phr_header ph[UG_EXCHANGE_MAX_HEADERS];
    ug_header_t hs[UG_EXCHANGE_MAX_HEADERS];
    size_t nh = UG_EXCHANGE_MAX_HEADERS;
    ug_head_t h = {.num_headers = 0};

    int r = phr_parse_request(in->bytes, len, &h.method, &h.method_len, &h.target, &h.target_len, &h.minor_version, ph, &nh,
                              conn->head_parsed);
    conn->head_parsed = len;
    if (r == -2) {
        if (len >= config->max_header_size)
            ug_exchange_refuse(&conn->req, UG_ERR_HEADER_TOO_LARGE, NULL);
        return;
    }
    if (r == -1) { /* not HTTP/1.x: "PRI * HTTP/2.0" (h2c prior knowledge) for the HTTP/2 front, or garbage */
        if (is_h2_preface(in)) {
            hand_to_h2(conn);
            return;
        }
        ug_h1_set_timeout(conn, NULL);
        h2o_socket_read_stop(conn->sock);
        ++conn->requests;
        refuse(conn, UG_ERR_BAD_REQUEST, "the request head is not valid HTTP/1.x (or has more than 100 fields)");
        return;
    }
    for (size_t i = 0; i < nh; ++i)
        hs[i] = (ug_header_t){ph[i].name, ph[i].name_len, ph[i].value, ph[i].value_len};
    h.headers = hs;
    h.num_headers = nh;
    ug_head_scan(&h);
    const ug_route_t *route;
    const char *why;
    char path_why[UG_ROUTE_MESSAGE_MAX];
    ug_err_t refusal = ug_head_refusal(&h, &why);
    ug_head_verdict_t verdict = UG_HEAD_PIPELINE;
    if (refusal == UG_OK && (verdict = ug_exchange_decide(config, &h, &route, path_why, sizeof(path_why))) == UG_HEAD_REFUSE) {
        refusal = UG_ERR_BAD_REQUEST;
        why = path_why;
    }
    ug_h1_set_timeout(conn, NULL);
    h2o_socket_read_stop(conn->sock);
    ++conn->requests;
    if (refusal != UG_OK) {
        refuse_head(conn, (size_t)r, refusal, why);
        return;
    }
    if (verdict != UG_HEAD_TAKE) {
        pass(conn, (size_t)r, !conn->tls && wants_h2c(&h));
        return;
    }
    conn->req.route = route;
    take(conn, (size_t)r);
}

static void on_head_read(h2o_socket_t *sock, const char *err)
{
    ug_h1_conn_t *conn = sock->data;
    ssize_t r = read_input(conn, err, 0);
    if (r < 0) {
        ug_h1_close(conn);
        return;
    }
    if (r == 0)
        return;
    set_idle(conn, 0);
    /* The keep-alive wait ends with the first byte of the next head; from there the header timeout runs, armed once so
     * that a client trickling its head (slow loris) is cut off however often it sends. */
    if (conn->timeout == &conn->loop->keepalive_timeout && sock->input->size != 0)
        ug_h1_set_timeout(conn, &conn->loop->header_timeout);
    parse_head(conn);
}

/* Wait for (or parse, when pipelined bytes are already buffered) the next request head. */
static void start_head(ug_h1_conn_t *conn)
{
    h2o_context_t *ctx = conn->actx->ctx;
    conn->state = UG_H1_HEAD;
    conn->head_parsed = 0;
    if (conn->requests != 0 && ctx->shutdown_requested) { /* between requests while shutting down: no new request */
        ug_h1_close(conn);
        return;
    }
    /* A new connection gets header: from accept to a complete head. Between requests, keepalive until a byte comes. */
    int idle = conn->requests != 0 && conn->sock->input->size == 0;
    ug_h1_set_timeout(conn, idle ? &conn->loop->keepalive_timeout : &conn->loop->header_timeout);
    set_idle(conn, conn->sock->input->size == 0);
    h2o_socket_read_start(conn->sock, on_head_read);
    if (conn->sock->input->size != 0)
        parse_head(conn);
}

/* ALPN chose: h2 goes to the HTTP/2 front; http/1.1, or no ALPN at all, stays here. */
static void on_handshake(h2o_socket_t *sock, const char *err)
{
    ug_h1_conn_t *conn = sock->data;
    if (err != NULL) {
        ug_h1_close(conn);
        return;
    }
    h2o_iovec_t proto = h2o_socket_ssl_get_selected_protocol(sock);
    for (const h2o_iovec_t *id = h2o_http2_alpn_protocols; id->len != 0; ++id) {
        if (h2o_memis(proto.base, proto.len, id->base, id->len)) {
            hand_to_h2(conn);
            return;
        }
    }
    start_head(conn);
}

void ug_h1_accept(ug_loop_t *loop, h2o_accept_ctx_t *actx, h2o_socket_t *sock)
{
    ug_h1_conn_t *conn;
    if (actx->expect_proxy_line) { /* never configured: uploadgate speaks no PROXY protocol */
        h2o_accept(actx, sock);
        return;
    }
    if (loop == NULL || (conn = calloc(1, sizeof(*conn))) == NULL) {
        /* Out of memory: closed rather than served by h2o's own HTTP/1, whose chunked decoder (picohttpparser) is
         * lenient about chunk sizes (chunked.h) and which would stream no upload. */
        h2o_socket_close(sock);
        return;
    }
    conn->sock = sock;
    conn->actx = actx;
    conn->loop = loop;
    conn->tls = actx->ssl_ctx != NULL;
    conn->connected_at = *h2o_get_timestamp(actx->ctx, NULL, NULL); /* as h2o_accept does */
    /* h2o's part, as h2o_create_connection fills it (which cannot be used: it aborts when out of memory) */
    conn->super = (h2o_conn_t){.ctx = actx->ctx,
                               .hosts = actx->hosts,
                               .connected_at = conn->connected_at,
                               .id = __sync_add_and_fetch(&h2o_connection_id, 1),
                               .callbacks = &ug_h1_conn_callbacks};
    conn->timeout_entry.cb = on_timeout;
    conn->rate_entry.cb = on_rate_timeout;
    conn->idle_watch.on_shutdown = on_shutdown;
    conn->req = (ug_exchange_t){.tp = &transport, .loop = loop, .client_address = conn->client_address, .tls = conn->tls};
    sock->data = conn;

    struct sockaddr_storage ss;
    socklen_t sslen = h2o_socket_getpeername(sock, (struct sockaddr *)&ss);
    if (sslen == 0 || h2o_socket_getnumerichost((struct sockaddr *)&ss, sslen, conn->client_address) == SIZE_MAX)
        strcpy(conn->client_address, "unknown");
    if (conn->tls) {
        /* The handshake counts against the header timeout, as h2o's own accept counts it against handshake_timeout
         * (set to the same value in server.c); h2o reads for the handshake, and for the TLS records after it. */
        ug_h1_set_timeout(conn, &loop->header_timeout);
        set_idle(conn, 1);
        h2o_socket_ssl_handshake(sock, actx->ssl_ctx, NULL, on_handshake);
        return;
    }
    h2o_socket_dont_read(sock, 1); /* see READ_SIZE */
    start_head(conn);
}
