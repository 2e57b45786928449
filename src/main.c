/*
 * main.c - command line, configuration, signals and the process lifecycle.
 * No HTTP here: that is server.c and the modules behind it.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "server.h"

#define DEFAULT_CONFIG "config/uploadgate.yaml"
#define SHUTDOWN_GRACE_MS 25000

static void usage(FILE *out)
{
    fprintf(out, "usage: uploadgate [-c FILE] [--check] [--version] [--help]\n"
                 "\n"
                 "  -c, --config FILE  configuration file (default: " DEFAULT_CONFIG ")\n"
                 "      --check        validate the configuration and exit (0 valid, 2 invalid)\n"
                 "  -v, --version      print the version and exit\n"
                 "  -h, --help         print this help and exit\n");
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

    /* Block the signals we wait for in every thread (workers inherit the mask); main collects them with sigwait. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit must fail the write (507), not kill the process */
    sigset_t wait_set;
    sigemptyset(&wait_set);
    sigaddset(&wait_set, SIGINT);
    sigaddset(&wait_set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &wait_set, NULL);

    ug_server_t *server = NULL;
    if (ug_server_new(config, &server, err, sizeof(err)) != UG_OK) {
        fprintf(stderr, "uploadgate: %s\n", err);
        ug_config_free(config);
        return 1;
    }
    if (ug_server_start(server, err, sizeof(err)) != UG_OK) {
        fprintf(stderr, "uploadgate: %s\n", err);
        ug_server_stop(server, 0);
        ug_server_free(server);
        ug_config_free(config);
        return 1;
    }
    for (size_t i = 0; i < config->listen_count; ++i)
        fprintf(stderr, "uploadgate: listening on %s (%s)\n", config->listen[i].address,
                config->listen[i].tls_certificate != NULL ? "TLS: h2, http/1.1" : "HTTP/1.1, h2c");
    fflush(stderr);

    int sig = 0;
    sigwait(&wait_set, &sig);
    fprintf(stderr, "uploadgate: %s received, finishing requests in flight\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    ug_server_stop(server, SHUTDOWN_GRACE_MS);
    ug_server_free(server);
    ug_config_free(config);
    return 0;
}
