/*
 * sink.c - the benchmark's "practical limit": a no-parse HTTP/1.1 upload sink.
 *
 *   sink PORT DIR
 *
 * Listens on 127.0.0.1:PORT, one thread per connection (blocking I/O), keep-alive.
 * For each request it reads the head, then exactly Content-Length body bytes,
 * writing them raw to DIR/<conn>-<n> with read(2)/write(2) through a 256 KiB
 * buffer, and answers 200 with that path as the body (so the benchmark can
 * find and hash the stored file). It parses nothing in the body, hashes
 * nothing, and does not fsync - like every server in the benchmark, the bytes
 * end in the page cache. "Expect: 100-continue" is honoured. Chunked bodies
 * are refused (411): the benchmark always sends Content-Length.
 *
 * It is a measuring instrument, not a server: no timeouts, no limits beyond
 * the head size. It stops on SIGTERM/SIGINT (default action).
 *
 * Built with -DUG_STREAM and linked with build/libugcore.a it becomes the
 * "streaming prototype": the same sockets and threads, but every chunk read
 * from the socket goes straight into uploadgate's own pipeline
 * (ug_upload_new/start/feed/finish: multipart parse, sha256, store as
 * DIR/<id>/<n>, manifest) with no spool, and the answer is the manifest JSON.
 * It does not forward the manifest to an app. It estimates what a streaming
 * HTTP/1.1 front (the planned front/h1.c) could reach with today's core.
 *
 * Built with -DUG_SINK_SHA256 (and -lcrypto) it is the sink plus SHA-256: the
 * same raw store, and every body byte also goes through OpenSSL's EVP
 * SHA-256 (as uploadgate's storage does) before it is written; the answer is
 * "<path> <hex digest>". It measures the floor that hashing sets: any server
 * whose manifest carries each file's sha256 does at least this much work.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef UG_SINK_SHA256
#include <openssl/evp.h>
#endif
#ifdef UG_STREAM
#include <time.h>
#include "config/config.h"
#include "upload/upload.h"
static ug_config_t *g_cfg;
#endif

#define HEAD_MAX (64 * 1024)
#define BUF_SIZE (256 * 1024)

static const char *g_dir;
static atomic_ulong g_conn_seq;

struct conn {
    int fd;
    unsigned long id;
};

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

#ifdef UG_SINK_SHA256
/* Hash, then store: the order uploadgate's storage uses for bytes it hashes inline. */
static int hash_write(EVP_MD_CTX *md, int fd, const char *p, size_t n)
{
    return EVP_DigestUpdate(md, p, n) == 1 ? write_all(fd, p, n) : -1;
}
#define STORE(md, fd, p, n) hash_write(md, fd, p, n)
#else
#define STORE(md, fd, p, n) write_all(fd, p, n)
#endif

/* Case-insensitive search for a header line "name:" in the head; returns the value start or NULL. */
static const char *find_header(const char *head, size_t head_len, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = memchr(head, '\n', head_len); /* skip the request line */
    const char *end = head + head_len;
    while (p != NULL && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            break;
        if ((size_t)(eol - line) > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                ++v;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                --ve;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

#ifndef UG_STREAM
static void sink_md_free(void *md)
{
#ifdef UG_SINK_SHA256
    EVP_MD_CTX_free(md);
#else
    (void)md;
#endif
}

/* "<path>\n", or with UG_SINK_SHA256 "<path> <sha256 hex>\n" (md finished and freed). 0, or -1 on an error. */
static int sink_md_line(void *md, const char *path, char *line, size_t size)
{
#ifdef UG_SINK_SHA256
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dn = 0;
    int ok = EVP_DigestFinal_ex(md, d, &dn) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        return -1;
    size_t at = (size_t)snprintf(line, size, "%s ", path);
    for (unsigned i = 0; i < dn && at + 3 < size; ++i)
        at += (size_t)snprintf(line + at, size - at, "%02x", d[i]);
    snprintf(line + at, size - at, "\n");
    return 0;
#else
    (void)md;
    snprintf(line, size, "%s\n", path);
    return 0;
#endif
}
#endif

static void *serve(void *arg)
{
    struct conn *c = arg;
    char *buf = malloc(BUF_SIZE);
    size_t have = 0; /* bytes in buf (head and whatever followed it) */
    unsigned long nreq = 0;

    if (buf == NULL)
        goto done;
    for (;;) {
        /* read a head */
        char *eoh = NULL;
        for (;;) {
            if (have >= 4 && (eoh = memmem(buf, have, "\r\n\r\n", 4)) != NULL)
                break;
            if (have >= HEAD_MAX)
                goto done;
            ssize_t r = read(c->fd, buf + have, HEAD_MAX - have);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                goto done;
            have += (size_t)r;
        }
        size_t head_len = (size_t)(eoh + 4 - buf);
        size_t vlen = 0;
        const char *v;
        unsigned long long clen = 0;
        int close_after = 0;
        if ((v = find_header(buf, head_len, "content-length", &vlen)) != NULL) {
            clen = strtoull(v, NULL, 10);
        } else if (find_header(buf, head_len, "transfer-encoding", &vlen) != NULL) {
            static const char r411[] = "HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            write_all(c->fd, r411, sizeof(r411) - 1);
            goto done;
        }
        if ((v = find_header(buf, head_len, "connection", &vlen)) != NULL && vlen == 5 && strncasecmp(v, "close", 5) == 0)
            close_after = 1;
        if ((v = find_header(buf, head_len, "expect", &vlen)) != NULL && vlen == 12 && strncasecmp(v, "100-continue", 12) == 0) {
            static const char r100[] = "HTTP/1.1 100 Continue\r\n\r\n";
            if (write_all(c->fd, r100, sizeof(r100) - 1) != 0)
                goto done;
        }

#ifdef UG_STREAM
        /* the pipeline of src/upload/upload.h, fed with each chunk as it arrives */
        size_t ctl = 0;
        const char *ct = find_header(buf, head_len, "content-type", &ctl);
        const char *sp = memchr(buf, ' ', head_len);
        const char *sp2 = sp != NULL ? memchr(sp + 1, ' ', head_len - (size_t)(sp + 1 - buf)) : NULL;
        ug_upload_request_t ur = {
            .config = g_cfg,
            .route = &g_cfg->routes[0],
            .method = buf,
            .method_len = sp != NULL ? (size_t)(sp - buf) : 0,
            .path = sp != NULL ? sp + 1 : "/",
            .path_len = sp2 != NULL ? (size_t)(sp2 - sp - 1) : 1,
            .content_type = ct,
            .content_type_len = ctl,
            .content_length = clen,
            .client_address = "127.0.0.1",
            .protocol = "HTTP/1.1",
        };
        clock_gettime(CLOCK_REALTIME, &ur.received_at);
        ug_upload_t *up = ug_upload_new(&ur);
        if (up == NULL || ug_upload_start(up) != UG_OK) {
            if (up != NULL)
                ug_upload_abort(up);
            goto done;
        }
        size_t extra = have - head_len;
        size_t take = extra < clen ? extra : (size_t)clen;
        ug_err_t ue = take > 0 && ug_upload_feed(up, buf + head_len, take) == UG_UPLOAD_FAILED ? ug_upload_error(up) : UG_OK;
        unsigned long long left = clen - take;
        memmove(buf, buf + head_len + take, extra - take);
        have = extra - take;
        while (left > 0 && ue == UG_OK) {
            size_t want = left < BUF_SIZE ? (size_t)left : BUF_SIZE;
            ssize_t r = read(c->fd, buf, want);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                ug_upload_abort(up);
                goto done;
            }
            ue = ug_upload_feed(up, buf, (size_t)r) == UG_UPLOAD_FAILED ? ug_upload_error(up) : UG_OK;
            left -= (unsigned long long)r;
        }
        const char *json = NULL;
        size_t json_len = 0;
        if (ue == UG_OK)
            ue = ug_upload_finish(up, &json, &json_len);
        if (ue != UG_OK) {
            static const char r400[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            write_all(c->fd, r400, sizeof(r400) - 1);
            ug_upload_abort(up);
            goto done;
        }
        char rh[256];
        int hn = snprintf(rh, sizeof(rh), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
                          json_len, close_after ? "Connection: close\r\n" : "");
        int werr = write_all(c->fd, rh, (size_t)hn) != 0 || write_all(c->fd, json, json_len) != 0;
        ug_upload_release(up); /* the files stay, as when the app accepted them */
        (void)nreq;
        if (werr || close_after)
            goto done;
        continue;
#else
        char path[4096];
        snprintf(path, sizeof(path), "%s/%lu-%lu", g_dir, c->id, nreq++);
        int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0)
            goto done;
        void *md = NULL;
#ifdef UG_SINK_SHA256
        if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
            EVP_MD_CTX_free(md);
            close(out);
            goto done;
        }
#endif
        /* body bytes already read behind the head */
        size_t extra = have - head_len;
        size_t take = extra < clen ? extra : (size_t)clen;
        if (take > 0 && STORE(md, out, buf + head_len, take) != 0) {
            sink_md_free(md);
            close(out);
            goto done;
        }
        unsigned long long left = clen - take;
        /* keep pipelined bytes after this body (rare: the benchmark's clients do not pipeline) */
        memmove(buf, buf + head_len + take, extra - take);
        have = extra - take;
        /* when body bytes are still missing, everything read so far belonged to it (have == 0 here) */
        while (left > 0) {
            size_t want = left < BUF_SIZE ? (size_t)left : BUF_SIZE;
            ssize_t r = read(c->fd, buf, want);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0 || STORE(md, out, buf, (size_t)r) != 0) {
                sink_md_free(md);
                close(out);
                goto done;
            }
            left -= (unsigned long long)r;
        }
        close(out);

        char line[4096 + 80]; /* the answer's body: the path, and with UG_SINK_SHA256 the digest */
        if (sink_md_line(md, path, line, sizeof(line)) != 0)
            goto done;
        char res[sizeof(line) + 256];
        int n = snprintf(res, sizeof(res), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n%s",
                         strlen(line), close_after ? "Connection: close\r\n" : "", line);
        if (write_all(c->fd, res, (size_t)n) != 0 || close_after)
            goto done;
#endif
    }
done:
    free(buf);
    close(c->fd);
    free(c);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT DIR\n", argv[0]);
        return 2;
    }
    g_dir = argv[2];
    signal(SIGPIPE, SIG_IGN);
#ifdef UG_STREAM
    char yaml[4096], err[512];
    snprintf(yaml, sizeof(yaml),
             "backend: {url: http://127.0.0.1:9}\n"
             "storage: {dir: %s, min_free: 1MiB}\n"
             "routes:\n"
             "  - path: /upload\n"
             "    limits: {max_body: 2GiB, max_file: 2GiB, max_files: 64, max_fields: 128, max_field_size: 64KiB}\n",
             g_dir);
    if (ug_config_load_string("stream-prototype.yaml", yaml, strlen(yaml), &g_cfg, err, sizeof(err)) != UG_OK) {
        fprintf(stderr, "sink: %s\n", err);
        return 1;
    }
#endif
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 1024) != 0) {
        perror("sink: listen");
        return 1;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 2 * 1024 * 1024); /* OpenSSL RAND and the upload pipeline want more than a minimal stack */
    fprintf(stderr, "sink: listening on 127.0.0.1:%s, storing into %s\n", argv[1], g_dir);
    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
                continue;
            perror("sink: accept");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        struct conn *c = malloc(sizeof(*c));
        pthread_t t;
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->id = atomic_fetch_add(&g_conn_seq, 1);
        if (pthread_create(&t, &attr, serve, c) != 0) {
            close(fd);
            free(c);
        }
    }
}
