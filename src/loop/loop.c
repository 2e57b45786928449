/*
 * loop/loop.c - see loop/loop.h.
 */
#include "loop/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "loop/body_rate.h"
#include "common/log.h"

static pthread_mutex_t loop_key_mutex = PTHREAD_MUTEX_INITIALIZER;
static size_t loop_key = SIZE_MAX; /* slot in h2o_context_t.storage, the same in every context */

static void free_checkers(ug_loop_t *loop)
{
    if (loop->checkers_rt != NULL) {
        for (size_t i = 0; loop->checkers != NULL && i < loop->checkers_rt->config->route_count; ++i)
            ug_auth_checker_free(loop->checkers[i]);
        ug_runtime_release(loop->checkers_rt);
    }
    free(loop->checkers);
    loop->checkers_rt = NULL;
    loop->checkers = NULL;
}

/* From the S3 thread: wake the loop, unless a wake is in flight already (h2o's message may be linked only once). */
static void s3_wake(void *arg)
{
    ug_loop_t *loop = arg;
    if (atomic_exchange(&loop->s3_woken, 1) == 0)
        h2o_multithread_send_message(&loop->s3_receiver, &loop->s3_message);
}

/* On the loop's thread: the wake arrived. Cleared before the drain, so that a completion queued during it wakes again. */
static void on_s3_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    ug_loop_t *loop = H2O_STRUCT_FROM_MEMBER(ug_loop_t, s3_receiver, receiver);
    while (!h2o_linklist_is_empty(messages))
        h2o_linklist_unlink(messages->next);
    atomic_store(&loop->s3_woken, 0);
    ug_s3_inbox_drain(loop->s3_inbox);
}

static void loop_dispose(void *p)
{
    ug_loop_t *loop = p;
    if (loop == NULL)
        return;
    if (loop->s3_inbox != NULL) {
        h2o_multithread_unregister_receiver(loop->ctx->queue, &loop->s3_receiver);
        ug_s3_inbox_free(loop->s3_inbox);
    }
    if (h2o_timeout_is_linked(&loop->shutdown_poll))
        h2o_timeout_unlink(&loop->shutdown_poll);
    h2o_timeout_dispose(loop->ctx->loop, &loop->header_timeout);
    h2o_timeout_dispose(loop->ctx->loop, &loop->body_timeout);
    h2o_timeout_dispose(loop->ctx->loop, &loop->keepalive_timeout);
    h2o_timeout_dispose(loop->ctx->loop, &loop->linger_timeout);
    h2o_timeout_dispose(loop->ctx->loop, &loop->rate_timeout);
    ug_forward_ctx_dispose(&loop->forward);
    free_checkers(loop);
    free(loop->body_buf);
    free(loop);
}

static void **storage_slot(h2o_context_t *ctx)
{
    /* h2o_context_get_storage assigns the key on first use; every worker thread may get here first. */
    pthread_mutex_lock(&loop_key_mutex);
    void **slot = h2o_context_get_storage(ctx, &loop_key, loop_dispose);
    pthread_mutex_unlock(&loop_key_mutex);
    return slot;
}

/* Once the server stops, every watcher is told (and none is told again: the poll is not re-armed then, and a watcher
 * linked later arms it anew). A watcher may unlink or free itself, never another. */
static void on_shutdown_poll(h2o_timeout_entry_t *entry)
{
    ug_loop_t *loop = H2O_STRUCT_FROM_MEMBER(ug_loop_t, shutdown_poll, entry);
    if (!loop->ctx->shutdown_requested) {
        if (!h2o_linklist_is_empty(&loop->watchers))
            h2o_timeout_link(loop->ctx->loop, &loop->ctx->one_sec_timeout, &loop->shutdown_poll);
        return;
    }
    for (h2o_linklist_t *l = loop->watchers.next; l != &loop->watchers;) {
        ug_loop_watcher_t *w = H2O_STRUCT_FROM_MEMBER(ug_loop_watcher_t, link, l);
        l = l->next;
        w->on_shutdown(w);
    }
}

ug_loop_t *ug_loop_new(h2o_context_t *ctx, ug_runtime_slot_t *runtime, ug_metrics_t *metrics)
{
    void **slot = storage_slot(ctx);
    ug_loop_t *loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return NULL;
    ug_runtime_t *rt = ug_runtime_slot_acquire(runtime);
    const ug_config_t *c = rt->config; /* restart-only settings: any runtime has the start-up values */
    loop->ctx = ctx;
    loop->runtime = runtime;
    loop->metrics = metrics;
    ug_forward_ctx_init(&loop->forward, ctx, &c->backend);
    h2o_timeout_init(ctx->loop, &loop->header_timeout, c->timeouts.header_ms);
    h2o_timeout_init(ctx->loop, &loop->body_timeout, c->timeouts.body_idle_ms);
    h2o_timeout_init(ctx->loop, &loop->keepalive_timeout, c->timeouts.keepalive_ms);
    h2o_timeout_init(ctx->loop, &loop->linger_timeout, UG_LOOP_LINGER_MS);
    h2o_timeout_init(ctx->loop, &loop->rate_timeout, c->timeouts.body_rate_window_ms);
    loop->body_min_rate = c->timeouts.body_min_rate;
    h2o_linklist_init_anchor(&loop->watchers);
    loop->shutdown_poll.cb = on_shutdown_poll;
    if ((loop->s3_inbox = ug_s3_inbox_new(s3_wake, loop)) != NULL)
        h2o_multithread_register_receiver(ctx->queue, &loop->s3_receiver, on_s3_message);
    ug_runtime_release(rt);
    *slot = loop;
    return loop;
}

ug_loop_t *ug_loop_of(h2o_context_t *ctx)
{
    return *storage_slot(ctx);
}

void ug_loop_watch(ug_loop_t *loop, ug_loop_watcher_t *w)
{
    if (!h2o_linklist_is_linked(&w->link))
        h2o_linklist_insert(&loop->watchers, &w->link);
    if (!h2o_timeout_is_linked(&loop->shutdown_poll))
        h2o_timeout_link(loop->ctx->loop, &loop->ctx->one_sec_timeout, &loop->shutdown_poll);
}

void ug_loop_unwatch(ug_loop_watcher_t *w)
{
    if (h2o_linklist_is_linked(&w->link))
        h2o_linklist_unlink(&w->link);
}

/*
 * On TLS connections h2o's socket layer has already read and decrypted what the kernel held when the callback runs
 * (evloop.c.h read_on_ready cannot be bounded): the fronts read only cleartext sockets themselves.
 */
ssize_t ug_loop_read(h2o_socket_t *sock, char *buf, size_t len)
{
    ssize_t r;
    while ((r = read(h2o_socket_get_fd(sock), buf, len)) == -1 && errno == EINTR)
        ;
    if (r == -1)
        return errno == EAGAIN || errno == EWOULDBLOCK ? UG_READ_NONE : UG_READ_GONE;
    return r == 0 ? UG_READ_GONE : r;
}

int ug_loop_peer_gone(h2o_socket_t *sock)
{
    char c;
    ssize_t r = recv(h2o_socket_get_fd(sock), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

char *ug_loop_body_buf(ug_loop_t *loop)
{
    if (loop->body_buf == NULL)
        loop->body_buf = malloc(UG_LOOP_BODY_READ_SIZE);
    return loop->body_buf;
}

void ug_loop_cap_tls_receive_buffer(h2o_socket_t *sock)
{
    int size = UG_LOOP_TLS_RCVBUF;
    setsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

int ug_loop_rate_ok(const ug_loop_t *loop, uint64_t bytes)
{
    return ug_body_rate_ok(bytes, loop->rate_timeout.timeout, loop->body_min_rate);
}

/* The checkers for `rt`: remade when the configuration was reloaded since they were made (checkers reload their own
 * files; one set per loop, never shared between threads). */
static ug_auth_checker_t **checkers_for(ug_loop_t *loop, ug_runtime_t *rt)
{
    if (loop->checkers_rt == rt)
        return loop->checkers;
    free_checkers(loop);
    const ug_config_t *config = rt->config;
    loop->checkers_rt = ug_runtime_ref(rt);
    loop->checkers = calloc(config->route_count != 0 ? config->route_count : 1, sizeof(*loop->checkers));
    for (size_t i = 0; loop->checkers != NULL && i < config->route_count; ++i) {
        if (config->routes[i].auth == NULL)
            continue;
        char err[256];
        /* Loaded once already (ug_runtime_new); if a file vanished since, the route fails closed (gate.c). */
        loop->checkers[i] = ug_auth_checker_new(config->routes[i].auth, ug_wall_seconds(), err, sizeof(err));
        if (loop->checkers[i] == NULL)
            ug_log_event(UG_LOG_ERROR, "auth", "route %s: auth: %s", config->routes[i].path, err);
    }
    return loop->checkers;
}

ug_auth_checker_t *ug_loop_checker(ug_loop_t *loop, ug_runtime_t *rt, const ug_route_t *route)
{
    if (route == NULL || route->auth == NULL)
        return NULL;
    ug_auth_checker_t **checkers = checkers_for(loop, rt);
    return checkers != NULL ? checkers[route - rt->config->routes] : NULL;
}
