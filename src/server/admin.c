/*
 * admin.c - see admin.h. Its own h2o configuration, context and event loop on
 * one thread; the handlers answer inline except /readyz, which waits for the
 * app's health answer through a forwarder (forward.h) of its own.
 */
#include "server/admin.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>
#include <jansson.h>

#include "loop/forward.h"
#include "server/server.h"
#include "common/log.h"
#include "upload/storage.h"

struct ug_admin {
    ug_runtime_slot_t *runtime;
    ug_metrics_t *metrics;
    ug_admin_hooks_t hooks;
    ug_backend_t health_backend; /* the start-up backend with the probe's own (short) timeout */
    h2o_globalconf_t gconf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    h2o_socket_t *listener;
    int fd;
    pthread_t tid;
    int started;
    h2o_multithread_receiver_t wake;
    atomic_int stop;
    atomic_int stopping; /* SIGTERM received: not ready */
    ug_forward_ctx_t health;
};

struct admin_handler {
    h2o_handler_t super;
    ug_admin_t *admin;
};

/* A /readyz request waiting for the app's health answer; lives in req->pool. */
struct ready_check {
    h2o_req_t *req;
    ug_admin_t *admin;
    ug_forward_t *forward;
    char *head;
};

static void send_json(h2o_req_t *req, int status, const char *reason, const char *json)
{
    req->res.status = status;
    req->res.reason = reason;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    size_t len = strlen(json);
    req->res.content_length = len;
    h2o_send_inline(req, json, len);
}

static void send_not_ready(h2o_req_t *req, const char *why)
{
    /* `why` may carry configured paths: jansson escapes it (and refuses invalid UTF-8, which the fallback covers). */
    json_t *doc = json_pack("{s:s,s:s}", "status", "not ready", "reason", why);
    char *body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    send_json(req, 503, "Service Unavailable", body != NULL ? body : "{\"status\":\"not ready\"}");
    free(body);
}

static void ready_check_dispose(void *p)
{
    struct ready_check *rc = p;
    ug_forward_cancel(rc->forward); /* the prober hung up before the app answered */
    free(rc->head);
}

static void on_health_answer(void *data, const ug_forward_response_t *res)
{
    struct ready_check *rc = data;
    char why[256];
    if (res->err != UG_OK) {
        snprintf(why, sizeof(why), "backend health check failed: %s", res->detail != NULL ? res->detail : ug_err_message(res->err));
        send_not_ready(rc->req, why);
    } else if (res->status < 200 || res->status > 299) {
        snprintf(why, sizeof(why), "backend health check answered %d", res->status);
        send_not_ready(rc->req, why);
    } else {
        send_json(rc->req, 200, "OK", "{\"status\":\"ready\",\"backend\":\"ok\",\"storage\":\"ok\"}");
    }
}

/* Storage: the directory is writable and has min_free left (uploads would get 507 otherwise). */
static int storage_ready(const ug_config_t *c, char *why, size_t len)
{
    uint64_t free_bytes = 0;
    if (access(c->storage.dir, W_OK | X_OK) != 0) {
        snprintf(why, len, "storage.dir %s is not writable: %s", c->storage.dir, strerror(errno));
        return 0;
    }
    if (ug_storage_free_bytes(c->storage.dir, &free_bytes) != UG_OK) {
        snprintf(why, len, "storage.dir %s: cannot read free space", c->storage.dir);
        return 0;
    }
    if (free_bytes < c->storage.min_free) {
        snprintf(why, len, "storage.dir has %llu bytes free, below storage.min_free (%llu)", (unsigned long long)free_bytes,
                 (unsigned long long)c->storage.min_free);
        return 0;
    }
    return 1;
}

/* The object store answered the S3 client's last probe (no store configured: nothing to check). */
static int store_ready(const ug_s3_client_t *s3, char *why, size_t len)
{
    ug_s3_store_state_t state = s3 != NULL ? ug_s3_client_state(s3) : UG_S3_STORE_UP;
    if (state == UG_S3_STORE_UP)
        return 1;
    snprintf(why, len, "%s",
             state == UG_S3_STORE_DENIED      ? "object store: access denied (check the S3 credentials)"
             : state == UG_S3_STORE_UNTRUSTED ? "object store: certificate not verified (check storage.s3.ca_file and the endpoint's name)"
                                              : "object store: unreachable");
    return 0;
}

static void serve_ready(ug_admin_t *admin, h2o_req_t *req)
{
    char why[512];
    if (atomic_load(&admin->stopping)) {
        send_not_ready(req, "shutting down");
        return;
    }
    ug_runtime_t *rt = ug_runtime_slot_acquire(admin->runtime);
    const ug_config_t *c = rt->config;
    if (!storage_ready(c, why, sizeof(why)) || !store_ready(admin->hooks.s3, why, sizeof(why))) {
        ug_runtime_release(rt);
        send_not_ready(req, why);
        return;
    }
    if (c->backend.health_path == NULL) {
        ug_runtime_release(rt);
        send_json(req, 200, "OK", "{\"status\":\"ready\",\"backend\":\"not checked\",\"storage\":\"ok\"}");
        return;
    }
    struct ready_check *rc = h2o_mem_alloc_shared(&req->pool, sizeof(*rc), ready_check_dispose);
    *rc = (struct ready_check){.req = req, .admin = admin};
    int n = asprintf(&rc->head,
                     "GET %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: uploadgate-readyz\r\nConnection: close\r\n\r\n",
                     c->backend.base_path, c->backend.health_path, c->backend.authority);
    ug_runtime_release(rt);
    if (n < 0) {
        rc->head = NULL;
        send_not_ready(req, "out of memory");
        return;
    }
    if (ug_forward_start(&rc->forward, &admin->health, h2o_iovec_init(rc->head, (size_t)n), h2o_iovec_init("", 0), on_health_answer,
                         rc) != 0)
        send_not_ready(req, "out of memory");
}

static void serve_metrics(ug_admin_t *admin, h2o_req_t *req)
{
    ug_runtime_t *rt = ug_runtime_slot_acquire(admin->runtime);
    uint64_t free_bytes = 0;
    if (ug_storage_free_bytes(rt->config->storage.dir, &free_bytes) == UG_OK)
        ug_metrics_set_storage_free(admin->metrics, free_bytes);
    ug_runtime_release(rt);
    if (admin->hooks.connections != NULL)
        ug_metrics_set_connections(admin->metrics, admin->hooks.connections(admin->hooks.data));
    ug_metrics_set_ready(admin->metrics, !atomic_load(&admin->stopping));
    size_t len = 0;
    char *text = ug_metrics_render(admin->metrics, UG_VERSION, &len);
    if (text == NULL) {
        send_json(req, 500, "Internal Server Error", "{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}");
        return;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    req->res.content_length = len;
    h2o_send_inline(req, text, len); /* copies */
    free(text);
}

/*
 * RFC 9113 8.3.1: an empty :path makes a request malformed, a stream error of type PROTOCOL_ERROR (8.1.1). The admin
 * listener is served by h2o's own HTTP/2 layer, and h2o 2.2.5 checks only that :path is present, so the request
 * reaches this handler with an empty input path (HTTP/1.1 cannot send one). h2o's public API has no way for a handler
 * to reset its stream, so the connection is ended instead, which RFC 9113 5.4.1 allows for any stream error: both
 * directions of its socket are shut down (through the public conn->callbacks->get_socket), h2o reads the end of the
 * stream on its next event and closes the connection on its own path; nothing is answered on it. The request is given
 * a 400 for h2o's bookkeeping, which goes nowhere.
 */
static int end_malformed_h2(h2o_req_t *req)
{
    if (req->version < 0x200 || req->input.path.len != 0)
        return 0;
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
    if (sock != NULL)
        shutdown(h2o_socket_get_fd(sock), SHUT_RDWR);
    h2o_send_error_400(req, "Bad Request", "malformed request", 0);
    return 1;
}

static int on_req(h2o_handler_t *_self, h2o_req_t *req)
{
    ug_admin_t *admin = ((struct admin_handler *)_self)->admin;
    if (end_malformed_h2(req))
        return 0;
    const h2o_iovec_t p = req->path_normalized;
    int is_get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
                 h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    int known = h2o_memis(p.base, p.len, H2O_STRLIT("/healthz")) || h2o_memis(p.base, p.len, H2O_STRLIT("/readyz")) ||
                h2o_memis(p.base, p.len, H2O_STRLIT("/metrics"));
    if (!known) {
        send_json(req, 404, "Not Found", "{\"error\":{\"code\":\"not_found\",\"message\":\"admin endpoints: /healthz, /readyz, /metrics\"}}");
        return 0;
    }
    if (!is_get) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET, HEAD"));
        send_json(req, 405, "Method Not Allowed", "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"use GET\"}}");
        return 0;
    }
    if (h2o_memis(p.base, p.len, H2O_STRLIT("/healthz")))
        send_json(req, 200, "OK", "{\"status\":\"ok\"}");
    else if (h2o_memis(p.base, p.len, H2O_STRLIT("/readyz")))
        serve_ready(admin, req);
    else
        serve_metrics(admin, req);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    ug_admin_t *admin = listener->data;
    h2o_socket_t *sock;
    if (err != NULL)
        return;
    for (int i = 0; i < 16 && (sock = h2o_evloop_socket_accept(listener)) != NULL; ++i)
        h2o_accept(&admin->accept, sock);
}

static void on_wake(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    (void)rx;
    (void)messages;
}

static void *admin_main(void *arg)
{
    ug_admin_t *admin = arg;
    while (!atomic_load(&admin->stop))
        h2o_evloop_run(admin->ctx.loop, INT32_MAX);
    return NULL;
}

ug_err_t ug_admin_start(const ug_listen_t *address, ug_runtime_slot_t *runtime, const ug_backend_t *backend, ug_metrics_t *metrics,
                      ug_admin_hooks_t hooks, ug_admin_t **out, char *errbuf, size_t errlen)
{
    ug_admin_t *admin = calloc(1, sizeof(*admin));
    *out = NULL;
    if (admin == NULL)
        return UG_ERR_NOMEM;
    char why[512];
    if ((admin->fd = ug_server_open_socket(address, 0, why, sizeof(why))) == -1) {
        snprintf(errbuf, errlen, "admin: %s", why);
        free(admin);
        return UG_ERR_CONFIG;
    }
    admin->runtime = runtime;
    admin->metrics = metrics;
    admin->hooks = hooks;
    admin->health_backend = *backend;
    admin->health_backend.timeout_ms = UG_ADMIN_HEALTH_TIMEOUT_MS;

    h2o_config_init(&admin->gconf);
    admin->gconf.server_name = h2o_iovec_init(H2O_STRLIT("uploadgate/" UG_VERSION));
    h2o_hostconf_t *host = h2o_config_register_host(&admin->gconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    struct admin_handler *h = (void *)h2o_create_handler(pc, sizeof(*h));
    h->super.on_req = on_req;
    h->admin = admin;

    h2o_context_init(&admin->ctx, h2o_evloop_create(), &admin->gconf);
    h2o_multithread_register_receiver(admin->ctx.queue, &admin->wake, on_wake);
    ug_forward_ctx_init(&admin->health, &admin->ctx, &admin->health_backend);
    admin->accept = (h2o_accept_ctx_t){.ctx = &admin->ctx, .hosts = admin->gconf.hosts};
    admin->listener = h2o_evloop_socket_create(admin->ctx.loop, admin->fd, H2O_SOCKET_FLAG_DONT_READ);
    admin->listener->data = admin;
    h2o_socket_read_start(admin->listener, on_accept);

    int r = pthread_create(&admin->tid, NULL, admin_main, admin);
    if (r != 0) {
        snprintf(errbuf, errlen, "cannot start the admin thread: %s", strerror(r));
        ug_admin_stop(admin);
        return UG_ERR_INTERNAL;
    }
    admin->started = 1;
    *out = admin;
    return UG_OK;
}

void ug_admin_set_stopping(ug_admin_t *admin)
{
    if (admin != NULL)
        atomic_store(&admin->stopping, 1);
}

void ug_admin_stop(ug_admin_t *admin)
{
    if (admin == NULL)
        return;
    if (admin->started) {
        atomic_store(&admin->stop, 1);
        h2o_multithread_send_message(&admin->wake, NULL);
        pthread_join(admin->tid, NULL);
    }
    /* Like the workers' contexts, the admin context is not disposed: probe connections may still reference it and the
     * process is about to exit. The listening socket is closed so that the port is free at once. */
    h2o_socket_read_stop(admin->listener);
    h2o_socket_close(admin->listener);
}
