/*
 * server.c - see server.h.
 */
#include "server/server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <h2o.h>

#include "server/conn_share.h"
#include "exchange/exchange.h"
#include "front/h1.h"
#include "loop/loop.h"
#include "server/handler.h"

struct worker {
    ug_server_t *server;
    size_t index;
    pthread_t tid;
    int started;
    int ready; /* its receiver registered and its listeners reading: only then may it be woken (under ready_lock) */
    h2o_context_t ctx;
    ug_loop_t *loop; /* what every transport of ctx shares (loop/loop.h); NULL when out of memory */
    h2o_accept_ctx_t *accept; /* one per listener */
    h2o_socket_t **listeners;
    int *fds; /* listening fds of this worker, one per listener */
    h2o_multithread_receiver_t wake;
    size_t open_conns;
};

struct ug_server {
    const ug_config_t *config; /* the start-up configuration's: listeners, threads, timeouts, backend (restart-only) */
    ug_runtime_t *boot;        /* its runtime, kept for the server's life (h2o's configuration points into it) */
    ug_runtime_slot_t *runtime;
    ug_metrics_t *metrics;
    ug_s3_client_t *s3; /* storage.s3's client (routes with store: s3), NULL without; every loop's s3 */
    h2o_globalconf_t gconf;
    SSL_CTX **ssl; /* per listener; NULL for cleartext */
    size_t nthreads;
    struct worker *workers;
    atomic_int stopping;
    uint64_t grace_deadline_ms; /* absolute, h2o_now() clock, set when stopping */
    uint64_t grace_ms;
    atomic_size_t connections; /* open client connections, all threads */
    ug_conn_share_t *share;    /* open client connections per client address, all threads (max_connections_per_client) */
    pthread_mutex_t ready_lock;
    pthread_cond_t ready_cond;
};

static void set_err(char *errbuf, size_t errlen, const char *fmt, const char *a, const char *b)
{
    snprintf(errbuf, errlen, fmt, a, b);
}

static SSL_CTX *make_ssl_ctx(const ug_listen_t *l, char *errbuf, size_t errlen)
{
    SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());
    if (ssl == NULL)
        goto Error;
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* TLS 1.2 only: OpenSSL's TLS 1.3 suites (SSL_CTX_set_ciphersuites) are all forward-secret AEAD and stay. A list
     * that selects nothing fails here, so a typo stops start-up instead of leaving TLS 1.2 without suites. */
    if (SSL_CTX_set_cipher_list(ssl, l->tls_ciphers != NULL ? l->tls_ciphers : UG_TLS12_CIPHERS) != 1)
        goto Error;
    if (SSL_CTX_use_certificate_chain_file(ssl, l->tls_certificate) != 1)
        goto Error;
    if (SSL_CTX_use_PrivateKey_file(ssl, l->tls_key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ssl) != 1)
        goto Error;
    /* h2 first, then http/1.1: ALPN picks HTTP/2 whenever the client offers it. */
    h2o_ssl_register_alpn_protocols(ssl, h2o_alpn_protocols);
    return ssl;
Error : {
    char why[256];
    ERR_error_string_n(ERR_get_error(), why, sizeof(why));
    snprintf(errbuf, errlen, "listen %s: cannot set up TLS with %s / %s: %s", l->address, l->tls_certificate, l->tls_key, why);
    SSL_CTX_free(ssl);
    return NULL;
}
}

/* A socket for `l`, bound, and listening when `do_listen`; -1 with "listen ADDRESS: reason" in errbuf and errno set. */
static int bind_socket(const ug_listen_t *l, int reuseport, int do_listen, char *errbuf, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8];
    int fd = -1, on = 1, why = 0;
    snprintf(port, sizeof(port), "%u", (unsigned)l->port);
    int gai = getaddrinfo(l->host, port, &hints, &res);
    if (gai != 0) {
        set_err(errbuf, errlen, "listen %s: %s", l->address, gai_strerror(gai));
        return -1;
    }
    if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) ||
        (res->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || (do_listen && listen(fd, SOMAXCONN) != 0)) {
        why = errno;
        set_err(errbuf, errlen, "listen %s: %s", l->address, strerror(why));
        if (fd != -1)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    errno = why; /* for the caller: the failing call's, not close's */
    return fd;
}

int ug_server_open_socket(const ug_listen_t *l, int reuseport, char *errbuf, size_t errlen)
{
    return bind_socket(l, reuseport, 1, errbuf, errlen);
}

/*
 * Whether another process holds `l`'s address. The workers' sockets use SO_REUSEPORT, which lets any process of the
 * same user bind the same address too: a second uploadgate (or anything else with SO_REUSEPORT) would then start
 * without a word and the kernel would hand it part of the connections. A socket bound without SO_REUSEPORT conflicts
 * with every socket already bound there, so binding one (and closing it at once, before the workers bind theirs)
 * tells. SO_REUSEADDR keeps connections in TIME_WAIT from a previous run out of it. UG_OK, or UG_ERR_CONFIG with
 * the address named in errbuf.
 */
static ug_err_t check_address_free(const ug_listen_t *l, char *errbuf, size_t errlen)
{
    int fd = bind_socket(l, 0, 0, errbuf, errlen);
    if (fd == -1 && errno == EADDRINUSE) {
        set_err(errbuf, errlen, "listen %s: %s", l->address, "the address is in use by another process; not starting");
        return UG_ERR_CONFIG;
    }
    if (fd == -1)
        return UG_ERR_CONFIG;
    close(fd);
    return UG_OK;
}

/* The spool directory takes h2o's spilled request bodies: on the storage volume, never tmpfs /tmp
 * (docs/architecture.md, "The spool"). */
static ug_err_t setup_spool(const ug_config_t *c, char *errbuf, size_t errlen)
{
    char dir[FILENAME_MAX];
    struct stat st;
    if (stat(c->storage.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        set_err(errbuf, errlen, "storage.dir %s: %s", c->storage.dir, errno != 0 ? strerror(errno) : "not a directory");
        return UG_ERR_CONFIG;
    }
    int n = snprintf(dir, sizeof(dir), "%s/.spool", c->storage.dir);
    if (n < 0 || (size_t)n + sizeof("/h2o.b.XXXXXX") > sizeof(h2o_socket_buffer_mmap_settings.fn_template)) {
        set_err(errbuf, errlen, "storage.dir %s: %s", c->storage.dir, "path too long");
        return UG_ERR_CONFIG;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        set_err(errbuf, errlen, "cannot create %s: %s", dir, strerror(errno));
        return UG_ERR_CONFIG;
    }
    /* length checked above */
    memcpy(h2o_socket_buffer_mmap_settings.fn_template, dir, (size_t)n);
    memcpy(h2o_socket_buffer_mmap_settings.fn_template + n, "/h2o.b.XXXXXX", sizeof("/h2o.b.XXXXXX"));
    h2o_socket_buffer_mmap_settings.threshold = c->storage.spool_threshold;
    return UG_OK;
}

static ug_err_t setup_h2o(ug_server_t *s, char *errbuf, size_t errlen)
{
    const ug_config_t *c = s->config;
    h2o_globalconf_t *g = &s->gconf;
    h2o_config_init(g);
    g->server_name = h2o_iovec_init(H2O_STRLIT("uploadgate/" UG_VERSION));

    /* h2o 2.2.5 checks its one global entity limit before any handler runs; past it HTTP/1 gets a bare 413 and
     * HTTP/2 a RST_STREAM. Routes enforce their own max_body and answer 413 in JSON; the global limit leaves them
     * room (twice the largest route limit) so that a body just over a route's limit gets that answer on HTTP/2 too.
     * Bodies passed through to the app are held to max_pass_body by the fronts, which buffer them for h2o. */
    uint64_t largest = ug_config_largest_max_body(c);
    uint64_t global = largest != 0 ? largest * 2 : (uint64_t)H2O_DEFAULT_MAX_REQUEST_ENTITY_SIZE;
    if (global < (uint64_t)H2O_DEFAULT_MAX_REQUEST_ENTITY_SIZE && largest == 0)
        global = H2O_DEFAULT_MAX_REQUEST_ENTITY_SIZE;
    g->max_request_entity_size = global > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)global;
    g->handshake_timeout = c->timeouts.header_ms;
    /* In 2.2.5 http1.req_timeout is one deadline for head and body together, armed once (lib/http1.c reqread_start). */
    g->http1.req_timeout = c->timeouts.request_ms;
    g->http2.idle_timeout = c->timeouts.body_idle_ms;
    g->http2.graceful_shutdown_timeout = 0; /* we keep our own deadline (shutdown grace) */
    g->proxy.io_timeout = c->backend.timeout_ms;

    h2o_hostconf_t *host = h2o_config_register_host(g, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    /* h2o would print its request errors (e.g. the proxy's "connection refused") as plain text on stderr; the access
     * logger (handler.c) writes them as JSON events instead, so every line uploadgate writes is JSON. */
    pc->error_log.emit_request_errors = 0;
    ug_handler_register(pc, s->runtime, s->metrics);

    /* Everything the upload handler declines is passed through, untouched, by h2o's reverse proxy. */
    char url[FILENAME_MAX + 64];
    if (c->backend.unix_path != NULL)
        snprintf(url, sizeof(url), "http://[unix:%s]%s/", c->backend.unix_path, c->backend.base_path);
    else
        snprintf(url, sizeof(url), "http://%s%s/", c->backend.authority, c->backend.base_path);
    h2o_url_t upstream;
    if (h2o_url_parse(url, strlen(url), &upstream) != 0) {
        set_err(errbuf, errlen, "backend.url %s: %s", c->backend.url, "not usable by the proxy");
        return UG_ERR_CONFIG;
    }
    h2o_proxy_config_vars_t pv = {0};
    pv.io_timeout = c->backend.timeout_ms;
    pv.keepalive_timeout = 2000;
    pv.preserve_host = 1;
    h2o_proxy_register_reverse_proxy(pc, &upstream, &pv);
    return UG_OK;
}

ug_err_t ug_server_new(ug_runtime_slot_t *runtime, ug_metrics_t *metrics, ug_server_t **out, char *errbuf, size_t errlen)
{
    ug_err_t e = UG_ERR_CONFIG;
    ug_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return UG_ERR_NOMEM;
    pthread_mutex_init(&s->ready_lock, NULL);
    pthread_cond_init(&s->ready_cond, NULL);
    s->runtime = runtime;
    s->metrics = metrics;
    s->boot = ug_runtime_slot_acquire(runtime);
    const ug_config_t *config = s->config = s->boot->config;
    s->nthreads = config->threads != 0 ? config->threads : (size_t)sysconf(_SC_NPROCESSORS_ONLN);
    if (s->nthreads == 0)
        s->nthreads = 1;
    if ((s->share = ug_conn_share_new((size_t)config->max_connections_per_client)) == NULL) {
        e = UG_ERR_NOMEM;
        goto Error;
    }

    if ((e = setup_spool(config, errbuf, errlen)) != UG_OK)
        goto Error;
    if (config->storage.s3 != NULL && (s->s3 = ug_s3_client_start(config->storage.s3, errbuf, errlen)) == NULL) {
        e = UG_ERR_CONFIG;
        goto Error;
    }
    e = UG_ERR_CONFIG;
    if ((s->ssl = calloc(config->listen_count, sizeof(*s->ssl))) == NULL ||
        (s->workers = calloc(s->nthreads, sizeof(*s->workers))) == NULL) {
        e = UG_ERR_NOMEM;
        goto Error;
    }
    for (size_t i = 0; i < config->listen_count; ++i)
        if (config->listen[i].tls_certificate != NULL && (s->ssl[i] = make_ssl_ctx(&config->listen[i], errbuf, errlen)) == NULL)
            goto Error;
    if ((e = setup_h2o(s, errbuf, errlen)) != UG_OK)
        goto Error;
    for (size_t i = 0; i < config->listen_count; ++i)
        if ((e = check_address_free(&config->listen[i], errbuf, errlen)) != UG_OK)
            goto Error;
    e = UG_ERR_CONFIG;
    for (size_t t = 0; t < s->nthreads; ++t) {
        struct worker *w = &s->workers[t];
        w->server = s;
        w->index = t;
        if ((w->fds = malloc(sizeof(*w->fds) * config->listen_count)) == NULL) {
            e = UG_ERR_NOMEM;
            goto Error;
        }
        for (size_t i = 0; i < config->listen_count; ++i)
            w->fds[i] = -1;
        for (size_t i = 0; i < config->listen_count; ++i)
            if ((w->fds[i] = ug_server_open_socket(&config->listen[i], 1, errbuf, errlen)) == -1)
                goto Error;
    }
    *out = s;
    return UG_OK;
Error:
    ug_server_free(s);
    return e;
}

/* What a client connection holds until it closes: its worker's count, the global count and its address's share. */
struct conn_slot {
    struct worker *w;
    int counted; /* its address has a share taken (not for a peer address outside IPv4/IPv6) */
    unsigned char key[UG_CONN_SHARE_KEY_LEN];
};

static void on_conn_close(void *data)
{
    struct conn_slot *slot = data;
    struct worker *w = slot->w;
    --w->open_conns;
    atomic_fetch_sub(&w->server->connections, 1);
    if (slot->counted)
        ug_conn_share_release(w->server->share, slot->key);
    free(slot);
}

/*
 * Count a new connection against max_connections and its address's max_connections_per_client. NULL when it must be
 * refused: over either limit, or out of memory (the edge fails closed). A refused connection is closed at accept, as
 * over max_connections: no answer is written (on TLS there is no channel before a handshake, and an HTTP/1.1 503
 * would cost a read and a write for a client that is already holding too much).
 */
static struct conn_slot *take_slot(struct worker *w, h2o_socket_t *sock)
{
    ug_server_t *s = w->server;
    struct sockaddr_storage ss;
    socklen_t len;
    struct conn_slot *slot = calloc(1, sizeof(*slot));
    if (slot == NULL)
        return NULL;
    slot->w = w;
    if (atomic_fetch_add(&s->connections, 1) >= s->config->max_connections)
        goto Refuse;
    if ((len = h2o_socket_getpeername(sock, (struct sockaddr *)&ss)) != 0 &&
        ug_conn_share_key((struct sockaddr *)&ss, len, slot->key) == 0) {
        if (ug_conn_share_acquire(s->share, slot->key) != UG_SHARE_TAKEN)
            goto Refuse;
        slot->counted = 1;
    }
    return slot;
Refuse:
    atomic_fetch_sub(&s->connections, 1);
    free(slot);
    return NULL;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_accept_ctx_t *actx = listener->data;
    struct worker *w = H2O_STRUCT_FROM_MEMBER(struct worker, ctx, actx->ctx);
    h2o_socket_t *sock;
    if (err != NULL)
        return;
    /* Drain the backlog: one readiness event may stand for many connections. */
    for (int i = 0; i < 64 && (sock = h2o_evloop_socket_accept(listener)) != NULL; ++i) {
        /* Over a limit: close at once. Leaving it in the backlog would only make the client wait for nothing. */
        struct conn_slot *slot = take_slot(w, sock);
        if (slot == NULL) {
            h2o_socket_close(sock);
            continue;
        }
        ++w->open_conns;
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = slot;
        ug_h1_accept(w->loop, actx, sock);
    }
}

static void close_listeners(struct worker *w)
{
    for (size_t i = 0; i < w->server->config->listen_count; ++i) {
        if (w->listeners[i] != NULL) {
            h2o_socket_read_stop(w->listeners[i]);
            h2o_socket_close(w->listeners[i]);
            w->listeners[i] = NULL;
            w->fds[i] = -1; /* closed with the socket */
        }
    }
}

static void on_wake(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    /* Only ever sent NULL messages, which just make h2o_evloop_run return so the loop sees the stop flag. */
    (void)rx;
    (void)messages;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    ug_server_t *s = w->server;
    size_t nl = s->config->listen_count;

    h2o_context_init(&w->ctx, h2o_evloop_create(), &s->gconf);
    h2o_multithread_register_receiver(w->ctx.queue, &w->wake, on_wake);
    w->loop = ug_loop_new(&w->ctx, s->runtime, s->metrics);
    if (w->loop != NULL)
        w->loop->s3 = s->s3;
    for (size_t i = 0; i < nl; ++i) {
        w->accept[i] = (h2o_accept_ctx_t){.ctx = &w->ctx, .hosts = s->gconf.hosts, .ssl_ctx = s->ssl[i]};
        w->listeners[i] = h2o_evloop_socket_create(w->ctx.loop, w->fds[i], H2O_SOCKET_FLAG_DONT_READ);
        w->listeners[i]->data = &w->accept[i];
        h2o_socket_read_start(w->listeners[i], on_accept);
    }
    pthread_mutex_lock(&s->ready_lock);
    w->ready = 1;
    pthread_cond_broadcast(&s->ready_cond);
    pthread_mutex_unlock(&s->ready_lock);
    /* h2o_evloop_run returns -1 on EINTR too (docs/architecture.md, "The event loop"); the stop flag, not the return
     * value, ends the loop. */
    while (!atomic_load(&s->stopping))
        h2o_evloop_run(w->ctx.loop, INT32_MAX);
    /* A NULL message only interrupts the loop (on_wake is not called for it), so the shutdown steps run here. */
    close_listeners(w);
    h2o_context_request_shutdown(&w->ctx);
    uint64_t deadline = h2o_now(w->ctx.loop) + s->grace_ms;
    /* Connections, and uploads whose client left while the app has their manifest: its answer decides their files. */
    while ((w->open_conns != 0 || ug_exchange_without_client() != 0) && h2o_now(w->ctx.loop) < deadline)
        h2o_evloop_run(w->ctx.loop, 100);
    return NULL;
}

/* Wait until every started worker serves. Its wake-up receiver is what ug_server_stop signals, and a SIGTERM that
 * arrives while a worker is still in h2o_context_init must not find it unregistered (seen under ASan, where a
 * worker's start takes milliseconds: a NULL dereference in h2o_multithread_send_message). */
static void wait_ready(ug_server_t *s)
{
    pthread_mutex_lock(&s->ready_lock);
    for (size_t t = 0; t < s->nthreads; ++t)
        while (s->workers[t].started && !s->workers[t].ready)
            pthread_cond_wait(&s->ready_cond, &s->ready_lock);
    pthread_mutex_unlock(&s->ready_lock);
}

ug_err_t ug_server_start(ug_server_t *s, char *errbuf, size_t errlen)
{
    size_t nl = s->config->listen_count;
    for (size_t t = 0; t < s->nthreads; ++t) {
        struct worker *w = &s->workers[t];
        if ((w->accept = calloc(nl, sizeof(*w->accept))) == NULL || (w->listeners = calloc(nl, sizeof(*w->listeners))) == NULL)
            return UG_ERR_NOMEM;
        int r = pthread_create(&w->tid, NULL, worker_main, w);
        if (r != 0) {
            set_err(errbuf, errlen, "%s%s", "cannot start a worker thread: ", strerror(r));
            return UG_ERR_INTERNAL;
        }
        w->started = 1;
    }
    wait_ready(s);
    return UG_OK;
}

size_t ug_server_connections(ug_server_t *s)
{
    return atomic_load(&s->connections);
}

size_t ug_server_stop(ug_server_t *s, uint64_t grace_ms)
{
    s->grace_ms = grace_ms;
    atomic_store(&s->stopping, 1);
    wait_ready(s); /* after a failed ug_server_start, too */
    for (size_t t = 0; t < s->nthreads; ++t)
        if (s->workers[t].started)
            h2o_multithread_send_message(&s->workers[t].wake, NULL);
    for (size_t t = 0; t < s->nthreads; ++t) {
        if (s->workers[t].started) {
            pthread_join(s->workers[t].tid, NULL);
            s->workers[t].started = 0;
        }
    }
    return atomic_load(&s->connections);
}

void ug_server_free(ug_server_t *s)
{
    if (s == NULL)
        return;
    /* Worker contexts are not disposed: connections cut off by the grace deadline may still reference them, and the
     * process is about to exit (h2o's own server does the same). Listening fds not yet handed to h2o are closed. */
    if (s->workers != NULL) {
        for (size_t t = 0; t < s->nthreads; ++t) {
            struct worker *w = &s->workers[t];
            if (w->fds != NULL && w->listeners == NULL)
                for (size_t i = 0; i < s->config->listen_count; ++i)
                    if (w->fds[i] != -1)
                        close(w->fds[i]);
            free(w->fds);
            free(w->accept);
            free(w->listeners);
        }
    }
    if (s->ssl != NULL)
        for (size_t i = 0; i < s->config->listen_count; ++i)
            SSL_CTX_free(s->ssl[i]);
    free(s->ssl);
    free(s->workers);
    ug_conn_share_free(s->share);
    if (s->s3 != NULL) /* the loops have stopped: the aborts they queued get a few seconds */
        ug_s3_client_stop(s->s3, 5000);
    ug_runtime_release(s->boot);
    pthread_cond_destroy(&s->ready_cond);
    pthread_mutex_destroy(&s->ready_lock);
    free(s);
}
