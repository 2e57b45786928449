/*
 * main.c - command line, configuration, signals and the process lifecycle.
 * No HTTP here: that is server.c (and admin.c) and the modules behind them.
 *
 *   start-up   load and check the configuration (errors as file:line:col on
 *              stderr, exit 2), remove *.part files a crash left, start the
 *              object store client (storage.s3; unreadable credentials: exit 1),
 *              the workers, the admin listener and the janitor
 *   SIGHUP     reload: a valid configuration applies to requests that begin
 *              from now on; an invalid one (or one changing a restart-only
 *              setting) is logged and the running one stays. The object
 *              store's credentials are re-read either way
 *   SIGTERM    (and SIGINT) not ready at once, stop accepting, let requests in
 *              flight finish for up to shutdown_grace, remove the files of
 *              uploads the deadline cut off, exit 0
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin.h"
#include "config/config.h"
#include "server/housekeeping.h"
#include "server/log_stderr.h"
#include "common/log.h"
#include "common/metrics.h"
#include "config/runtime.h"
#include "server/server.h"
#include "store/s3_client.h"
#include "upload/storage.h"

#define DEFAULT_CONFIG "config/uploadgate.yaml"

static void usage(FILE *out)
{
    fprintf(out, "usage: uploadgate [-c FILE] [--check] [--version] [--help]\n"
                 "\n"
                 "  -c, --config FILE  configuration file (default: " DEFAULT_CONFIG ")\n"
                 "      --check        validate the configuration and exit (0 valid, 2 invalid)\n"
                 "  -v, --version      print the version and exit\n"
                 "  -h, --help         print this help and exit\n"
                 "\n"
                 "signals: SIGHUP reloads the configuration; SIGTERM and SIGINT stop gracefully (shutdown_grace).\n");
}

/* SIGHUP: the whole file again, applied only if it is valid and changes nothing that needs a restart. `boot` is the
 * start-up configuration: what needs a restart is what differs from it (the running one may have lowered a route's
 * max_body, and raising it back to the start-up value only needs h2o's entity limit, derived once from `boot`). */
static void reload(const char *path, const ug_config_t *boot, ug_runtime_slot_t *slot, ug_metrics_t *metrics)
{
    char err[1024];
    ug_config_t *next = NULL;
    ug_runtime_t *cur = ug_runtime_slot_acquire(slot), *rt = NULL;
    uint64_t generation = cur->generation + 1;
    const char *why = NULL;

    if (ug_config_load_file(path, &next, err, sizeof(err)) != UG_OK)
        why = err;
    else if ((why = ug_runtime_restart_needed(boot, next, err, sizeof(err))) != NULL)
        ug_config_free(next);
    else if (ug_runtime_new(next, generation, &rt, err, sizeof(err)) != UG_OK) /* takes `next` */
        why = err;
    ug_runtime_release(cur);
    if (why != NULL) {
        ug_log_event(UG_LOG_ERROR, "reload", "configuration not reloaded, the running one stays: %s", why);
        ug_metrics_reload(metrics, 0);
        return;
    }
    ug_log_set_level((ug_log_level_t)rt->config->log_level);
    ug_runtime_slot_replace(slot, rt);
    ug_metrics_reload(metrics, 1);
    ug_log_event(UG_LOG_INFO, "reload", "configuration %s reloaded (generation %llu): new requests use it", path,
                 (unsigned long long)generation);
}

/* SIGHUP: the store's credentials again (rotated keys, an expired session token). The old ones stay on failure. */
static void reload_store_credentials(ug_s3_client_t *s3)
{
    char why[512];
    if (s3 == NULL)
        return;
    if (ug_s3_client_reload_credentials(s3, why, sizeof(why)) != 0)
        ug_log_event(UG_LOG_ERROR, "reload", "S3 credentials not reloaded, the running ones stay: %s", why);
    else
        ug_log_event(UG_LOG_INFO, "reload", "S3 credentials reloaded");
}

static size_t count_connections(void *data)
{
    return ug_server_connections(data);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check", no_argument, NULL, 'k'},
                                         {"version", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config_path = DEFAULT_CONFIG;
    int check_only = 0, c;
    while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'k':
            check_only = 1;
            break;
        case 'v':
            printf("uploadgate %s\n", UG_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    /* Configuration errors are the one message not in JSON: "file:line:col: message", for whoever edits the file. */
    char err[1024];
    ug_config_t *config = NULL;
    if (ug_config_load_file(config_path, &config, err, sizeof(err)) != UG_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (check_only) {
        printf("%s: configuration is valid\n", config_path);
        ug_config_free(config);
        return 0;
    }
    ug_log_set_level((ug_log_level_t)config->log_level);
    /* From here on every line is JSON: what libraries print on stderr (h2o's warnings) is converted too. */
    if (ug_log_stderr_install() != 0)
        ug_log_event(UG_LOG_WARN, "startup", "cannot convert the stderr stream: library messages stay plain text");

    ug_runtime_t *rt = NULL;
    if (ug_runtime_new(config, 1, &rt, err, sizeof(err)) != UG_OK) { /* takes `config` */
        ug_log_event(UG_LOG_ERROR, "startup", "%s", err);
        return 1;
    }
    ug_runtime_slot_t slot;
    ug_runtime_slot_init(&slot, rt);
    config = rt->config; /* the start-up configuration: listeners, admin, storage dir stay as they are until exit */
    ug_metrics_t *metrics = ug_metrics_new();
    if (metrics == NULL) {
        ug_log_event(UG_LOG_ERROR, "startup", "out of memory");
        return 1;
    }

    /* Block the signals we wait for in every thread (workers inherit the mask); main collects them with sigwait. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit must fail the write (507), not kill the process */
    sigset_t wait_set;
    sigemptyset(&wait_set);
    sigaddset(&wait_set, SIGINT);
    sigaddset(&wait_set, SIGTERM);
    sigaddset(&wait_set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &wait_set, NULL);

    ug_housekeeping_recover(config->storage.dir, metrics);

    int status = 1;
    ug_server_t *server = NULL;
    ug_admin_t *admin = NULL;
    ug_housekeeping_t *hk = NULL;
    ug_s3_client_t *s3 = NULL;
    /* One client for the process, before the loops that use it: a store that cannot be used (no credentials) stops
     * start-up here, with the reason, rather than failing every upload. The store being down is not fatal: readiness
     * says so until it answers. */
    if (config->storage.s3 != NULL) {
        if ((s3 = ug_s3_client_start(config->storage.s3, err, sizeof(err))) == NULL) {
            ug_log_event(UG_LOG_ERROR, "startup", "storage.s3: %s", err);
            goto Exit;
        }
        ug_s3_client_set_metrics(s3, metrics);
        /* bounded by the connect timeout: a store that is down delays start-up by that much at most, and then
         * readiness says so */
        if (!ug_s3_client_wait_probed(s3, UG_S3_START_PROBE_WAIT_MS))
            ug_log_event(UG_LOG_WARN, "startup", "the object store has not answered yet: store: s3 routes answer 503 until it does");
        else if (ug_s3_client_state(s3) != UG_S3_STORE_UP)
            ug_log_event(UG_LOG_WARN, "startup", "the object store is %s: store: s3 routes answer 503 until it is up",
                         ug_s3_store_state_name(ug_s3_client_state(s3)));
    }
    if (ug_server_new(&slot, metrics, &server, err, sizeof(err)) != UG_OK) {
        ug_log_event(UG_LOG_ERROR, "startup", "%s", err);
        goto Exit;
    }
    ug_server_set_s3(server, s3);
    if (ug_server_start(server, err, sizeof(err)) != UG_OK) {
        ug_log_event(UG_LOG_ERROR, "startup", "%s", err);
        ug_server_stop(server, 0);
        goto Exit;
    }
    if (config->admin.address != NULL &&
        ug_admin_start(&config->admin, &slot, &config->backend, metrics,
                       (ug_admin_hooks_t){.connections = count_connections, .data = server, .s3 = s3}, &admin, err, sizeof(err)) != UG_OK) {
        ug_log_event(UG_LOG_ERROR, "startup", "%s", err);
        ug_server_stop(server, 0);
        goto Exit;
    }
    if ((hk = ug_housekeeping_start(&slot, metrics, s3)) == NULL)
        ug_log_event(UG_LOG_WARN, "startup", "cannot start the janitor thread: storage.retention is not enforced");
    for (size_t i = 0; i < config->listen_count; ++i)
        ug_log_event(UG_LOG_INFO, "listening", "listening on %s (%s)", config->listen[i].address,
                     config->listen[i].tls_certificate != NULL ? "TLS: h2, http/1.1" : "HTTP/1.1, h2c");
    if (admin != NULL)
        ug_log_event(UG_LOG_INFO, "listening", "admin listening on %s (/healthz, /readyz, /metrics)", config->admin.address);

    int sig = 0;
    while (sigwait(&wait_set, &sig) == 0 && sig == SIGHUP) {
        reload(config_path, config, &slot, metrics);
        reload_store_credentials(s3);
    }

    ug_admin_set_stopping(admin);
    ug_runtime_t *now = ug_runtime_slot_acquire(&slot);
    uint64_t grace_ms = now->config->shutdown_grace_ms;
    ug_runtime_release(now);
    ug_log_event(UG_LOG_INFO, "shutdown", "%s received: no new connections, requests in flight have %llu ms to finish",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT", (unsigned long long)grace_ms);
    size_t left = ug_server_stop(server, grace_ms);
    if (left != 0) {
        /* Their threads have stopped: nobody will finish those uploads, and the app never heard of them. */
        size_t discarded = ug_storage_abort_in_flight();
        ug_log_event(UG_LOG_WARN, "shutdown", "shutdown_grace ran out: %zu connections cut off, %zu unfinished uploads removed", left,
                     discarded);
    }
    /* After the loops: the aborts of uploads they cut off are queued; let them reach the store within the grace */
    ug_s3_client_stop(s3, grace_ms);
    s3 = NULL;
    ug_log_event(UG_LOG_INFO, "shutdown", "stopped");
    status = 0;
Exit:
    ug_s3_client_stop(s3, 0); /* before the janitor: its sweep reports to the janitor's inbox */
    ug_housekeeping_stop(hk);
    ug_admin_stop(admin);
    ug_server_free(server);
    ug_runtime_slot_dispose(&slot);
    ug_metrics_free(metrics);
    return status;
}
