/*
 * s3_client.c - the S3 client: its thread, the command queue, inboxes, requests with retries, the store probe and
 * the credentials (see s3_client.h, s3_internal.h).
 *
 * The S3 thread owns the curl multi handle and every easy handle; other threads only queue commands (under the
 * client's mutex) and wake it with curl_multi_wakeup. Retries wait in a list with their due time, which bounds the
 * curl_multi_poll timeout, as does the next probe.
 */
#include "store/s3_internal.h"

#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "store/s3_retry.h"
#include "store/s3_sign.h"
#include "store/s3_xml.h"

uint64_t ug_s3_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double now_s(void)
{
    return (double)ug_s3_now_ms() / 1000.0;
}

const char *ug_s3_store_state_name(ug_s3_store_state_t s)
{
    switch (s) {
    case UG_S3_STORE_UP:
        return "up";
    case UG_S3_STORE_DENIED:
        return "denied";
    case UG_S3_STORE_UNTRUSTED:
        return "untrusted";
    case UG_S3_STORE_UNREACHABLE:
        break;
    }
    return "unreachable";
}

ug_s3_store_state_t ug_s3_client_state(const ug_s3_client_t *c)
{
    return (ug_s3_store_state_t)atomic_load(&((ug_s3_client_t *)c)->state);
}

void ug_s3_client_set_metrics(ug_s3_client_t *c, ug_metrics_t *m)
{
    atomic_store(&c->metrics, m);
    ug_metrics_s3_enable(m);
    ug_metrics_set_s3_up(m, ug_s3_client_state(c) == UG_S3_STORE_UP);
}

static void set_state(ug_s3_client_t *c, ug_s3_store_state_t s)
{
    atomic_store(&c->state, (int)s);
    ug_metrics_set_s3_up(atomic_load(&c->metrics), s == UG_S3_STORE_UP);
}

/* ---- inboxes ------------------------------------------------------------------------------------------ */

ug_s3_inbox_t *ug_s3_inbox_new(void (*wake)(void *arg), void *arg)
{
    ug_s3_inbox_t *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return NULL;
    pthread_mutex_init(&in->mu, NULL);
    in->tail = &in->head;
    in->wake = wake;
    in->arg = arg;
    return in;
}

void ug_s3_inbox_post(ug_s3_inbox_t *in, ug_s3_completion_t *comp)
{
    comp->next = NULL;
    pthread_mutex_lock(&in->mu);
    *in->tail = comp;
    in->tail = &comp->next;
    pthread_mutex_unlock(&in->mu);
    in->wake(in->arg);
}

void ug_s3_inbox_drain(ug_s3_inbox_t *in)
{
    pthread_mutex_lock(&in->mu);
    ug_s3_completion_t *list = in->head;
    in->head = NULL;
    in->tail = &in->head;
    pthread_mutex_unlock(&in->mu);
    while (list != NULL) {
        ug_s3_completion_t *next = list->next;
        list->run(list, true);
        list = next;
    }
}

void ug_s3_inbox_free(ug_s3_inbox_t *in)
{
    if (in == NULL)
        return;
    for (ug_s3_completion_t *c = in->head, *next; c != NULL; c = next) { /* they hold references: release them */
        next = c->next;
        c->run(c, false);
    }
    pthread_mutex_destroy(&in->mu);
    free(in);
}

/* ---- commands ----------------------------------------------------------------------------------------- */

void ug_s3_client_post(ug_s3_client_t *c, ug_s3_cmd_t *cmd)
{
    cmd->next = NULL;
    pthread_mutex_lock(&c->mu);
    *c->cmds_tail = cmd;
    c->cmds_tail = &cmd->next;
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi);
}

static void run_commands(ug_s3_client_t *c)
{
    pthread_mutex_lock(&c->mu);
    ug_s3_cmd_t *list = c->cmds;
    c->cmds = NULL;
    c->cmds_tail = &c->cmds;
    pthread_mutex_unlock(&c->mu);
    while (list != NULL) {
        ug_s3_cmd_t *next = list->next;
        list->run(c, list);
        list = next;
    }
}

/* ---- requests ----------------------------------------------------------------------------------------- */

ug_s3_req_t *ug_s3_req_new(ug_s3_client_t *c, const char *op, const char *method, const char *key, const char *query,
                           ug_s3_req_cb done, void *arg)
{
    ug_s3_req_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->client = c;
    r->op = op;
    r->method = method;
    r->done = done;
    r->arg = arg;
    r->attempt = 1;
    memcpy(r->sha256, UG_S3_EMPTY_SHA256, sizeof(r->sha256));
    if ((key != NULL && (r->key = strdup(key)) == NULL) || (query != NULL && (r->query = strdup(query)) == NULL)) {
        free(r->key);
        free(r);
        return NULL;
    }
    return r;
}

static void req_free(ug_s3_req_t *r)
{
    ug_s3_answer_clear(&r->answer);
    free(r->key);
    free(r->query);
    free(r->owned_body);
    free(r);
}

static size_t on_read(char *p, size_t s, size_t n, void *u)
{
    ug_s3_req_t *r = u;
    size_t k = s * n < r->body_len - r->read_pos ? s * n : r->body_len - r->read_pos;
    memcpy(p, r->body + r->read_pos, k);
    r->read_pos += k;
    return k;
}

/* A rewind when curl re-sends the body (a redirect or an auth retry on the same handle). */
static int on_seek(void *u, curl_off_t offset, int origin)
{
    ug_s3_req_t *r = u;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > r->body_len)
        return CURL_SEEKFUNC_FAIL;
    r->read_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static int setup_transfer(ug_s3_req_t *r)
{
    ug_s3_client_t *c = r->client;
    char *url = NULL;
    int rc = -1;
    if (ug_s3_object_url(c->cfg.endpoint, c->cfg.bucket, r->key, c->cfg.path_style ? UG_S3_PATH_STYLE : UG_S3_VIRTUAL_HOSTED,
                         r->query, &url) != UG_S3_OK || (r->easy = curl_easy_init()) == NULL) {
        free(url);
        return -1;
    }
    ug_s3_request_t req = {.method = r->method, .url = url, .payload_sha256 = r->sha256, .content_type = r->content_type};
    pthread_mutex_lock(&c->mu); /* a reload swaps the keys under it; curl copies the strings */
    ug_s3_credentials_t creds = {c->keys.access_key, c->keys.secret_key, c->keys.session_token, c->cfg.region};
    ug_s3_result_t sr = ug_s3_setup_easy(r->easy, &creds, &req, &r->headers);
    pthread_mutex_unlock(&c->mu);
    free(url);
    if (sr != UG_S3_OK)
        return -1;
    CURL *e = r->easy;
    int ok = curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers) == CURLE_OK;
    if (r->upload) {
        r->read_pos = 0;
        ok = ok && curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read) == CURLE_OK && curl_easy_setopt(e, CURLOPT_READDATA, r) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek) == CURLE_OK && curl_easy_setopt(e, CURLOPT_SEEKDATA, r) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len) == CURLE_OK;
    } else if (strcmp(r->method, "POST") == 0) {
        ok = ok && curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body != NULL ? r->body : "") == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len) == CURLE_OK;
    }
    ok = ok && curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ug_s3_answer_on_body) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_WRITEDATA, &r->answer) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, ug_s3_answer_on_header) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_HEADERDATA, &r->answer) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_PRIVATE, r) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)UG_S3_CONNECT_TIMEOUT_MS) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, UG_S3_LOW_SPEED) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, UG_S3_LOW_SPEED_TIME) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
         /* https: the certificate must chain to ca_file (or the system's CAs) and name the endpoint's host. These
          * are libcurl's defaults; set here so the store is never reached unverified whatever the defaults become. */
         curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK && curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    if (c->cfg.ca_file != NULL)
        ok = ok && curl_easy_setopt(e, CURLOPT_CAINFO, c->cfg.ca_file) == CURLE_OK;
    if (ok && curl_multi_add_handle(c->multi, e) == CURLM_OK)
        rc = 0;
    return rc;
}

static void release_transfer(ug_s3_req_t *r)
{
    if (r->easy != NULL) {
        curl_multi_remove_handle(r->client->multi, r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    curl_slist_free_all(r->headers);
    r->headers = NULL;
}

static void unlive(ug_s3_req_t *r)
{
    ug_s3_client_t *c = r->client;
    if (r->live_prev != NULL)
        r->live_prev->live_next = r->live_next;
    else
        c->live = r->live_next;
    if (r->live_next != NULL)
        r->live_next->live_prev = r->live_prev;
    c->running--;
}

static void finish(ug_s3_req_t *r, bool ok)
{
    unlive(r);
    r->done(r, ok, &r->answer);
    req_free(r);
}

void ug_s3_req_send(ug_s3_req_t *r)
{
    ug_s3_client_t *c = r->client;
    if (!r->counted) {
        c->running++;
        r->live_next = c->live;
        if (c->live != NULL)
            c->live->live_prev = r;
        c->live = r;
    }
    r->counted = true;
    ug_s3_answer_clear(&r->answer);
    r->started = now_s();
    if (setup_transfer(r) != 0) {
        release_transfer(r);
        r->answer.curl = CURLE_FAILED_INIT;
        finish(r, false);
    }
}

void ug_s3_req_cancel(ug_s3_req_t *r)
{
    ug_s3_client_t *c = r->client;
    for (ug_s3_req_t **p = &c->retries; *p != NULL; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    release_transfer(r);
    unlive(r);
    req_free(r);
}

void ug_s3_answer_describe(const ug_s3_req_t *r, const ug_s3_answer_t *a, char *buf, size_t len)
{
    if (a->curl != CURLE_OK)
        snprintf(buf, len, "%s: %s", r->op, curl_easy_strerror(a->curl));
    else
        snprintf(buf, len, "%s: HTTP %ld%s%s%s%s", r->op, a->status, a->error_code != NULL ? " " : "",
                 a->error_code != NULL ? a->error_code : "", a->error_message != NULL && a->error_message[0] ? ": " : "",
                 a->error_message != NULL ? a->error_message : "");
}

/* What a failed request says about the store: the operator's fix differs for each (credentials, CA file, network). */
static ug_s3_store_state_t failure_state(const ug_s3_answer_t *a)
{
    if (a->curl == CURLE_OK)
        return a->status == 403 ? UG_S3_STORE_DENIED : UG_S3_STORE_UNREACHABLE;
    return a->curl == CURLE_PEER_FAILED_VERIFICATION || a->curl == CURLE_SSL_CACERT_BADFILE ? UG_S3_STORE_UNTRUSTED
                                                                                            : UG_S3_STORE_UNREACHABLE;
}

/* What a request's outcome says about the store: any S3 answer below 500 but 403 shows it up (a 404 for a key, say). */
static void note_outcome(ug_s3_client_t *c, const ug_s3_answer_t *a, bool ok)
{
    if (ok || (a->curl == CURLE_OK && a->status >= 200 && a->status < 500 && a->status != 403))
        set_state(c, UG_S3_STORE_UP);
    else
        set_state(c, failure_state(a));
}

static uint64_t random64(void)
{
    uint64_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = ug_s3_now_ms() * 6364136223846793005ull; /* jitter only: any spread will do */
    return v;
}

static void transfer_done(ug_s3_client_t *c, CURL *easy, CURLcode result)
{
    ug_s3_req_t *r = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    ug_s3_answer_t *a = &r->answer;
    a->curl = result;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &a->status);
    release_transfer(r);
    ug_metrics_t *m = atomic_load(&c->metrics);
    ug_metrics_s3_request(m, r->op, now_s() - r->started);
    if (result == CURLE_OK && a->body_len > 0) {
        ug_s3_error_t e = {0};
        if (ug_s3_parse_error(a->body, a->body_len, &e) == UG_S3_XML_OK) {
            a->error_code = e.code;
            a->error_message = e.message;
        }
    }
    ug_s3_verdict_t v = ug_s3_classify(result, a->status, a->error_code);
    /* an <Error> inside a 200 (CompleteMultipartUpload may send one after the headers went out) is no success */
    if (v == UG_S3_DONE && a->error_code != NULL)
        v = ug_s3_classify(result, 500, a->error_code) == UG_S3_RETRY ? UG_S3_RETRY : UG_S3_FAIL;
    if (v == UG_S3_RETRY && r->attempt < UG_S3_ATTEMPTS && !r->no_retry) {
        r->due_ms = ug_s3_now_ms() + ug_s3_backoff_ms(r->attempt, UG_S3_BACKOFF_BASE_MS, UG_S3_BACKOFF_CAP_MS, random64());
        r->attempt++;
        r->next = c->retries;
        c->retries = r;
        ug_metrics_s3_retry(m);
        return;
    }
    if (strcmp(r->op, "probe") != 0)
        note_outcome(c, a, v == UG_S3_DONE);
    finish(r, v == UG_S3_DONE);
}

static void start_due_retries(ug_s3_client_t *c, uint64_t now)
{
    ug_s3_req_t **p = &c->retries;
    while (*p != NULL) {
        ug_s3_req_t *r = *p;
        if (r->due_ms > now) {
            p = &r->next;
            continue;
        }
        *p = r->next;
        ug_s3_req_send(r);
    }
}

/* ---- the probe ---------------------------------------------------------------------------------------- */

/* HeadBucket: only a 2xx is a usable store; 403 is our credentials (or the bucket's policy); a missing bucket (404),
 * an error or no answer at all leave it unusable. */
static void probe_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    ug_s3_client_t *c = r->client;
    c->probing = false;
    c->next_probe_ms = ug_s3_now_ms() + UG_S3_PROBE_INTERVAL_MS;
    set_state(c, ok ? UG_S3_STORE_UP : failure_state(a));
    pthread_mutex_lock(&c->mu);
    c->probed = true;
    pthread_cond_broadcast(&c->probed_cond);
    pthread_mutex_unlock(&c->mu);
}

bool ug_s3_client_wait_probed(ug_s3_client_t *c, uint64_t timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(timeout_ms / 1000);
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&c->mu);
    while (!c->probed && pthread_cond_timedwait(&c->probed_cond, &c->mu, &until) == 0)
        ;
    bool probed = c->probed;
    pthread_mutex_unlock(&c->mu);
    return probed;
}

static void maybe_probe(ug_s3_client_t *c, uint64_t now)
{
    if (c->probing || now < c->next_probe_ms || c->stopping)
        return;
    ug_s3_req_t *r = ug_s3_req_new(c, "probe", "HEAD", NULL, NULL, probe_done, NULL);
    if (r == NULL)
        return;
    r->no_retry = true;
    c->probing = true;
    ug_s3_req_send(r);
}

/* ---- the thread --------------------------------------------------------------------------------------- */

static int poll_timeout(ug_s3_client_t *c, uint64_t now)
{
    uint64_t wait = c->next_probe_ms > now ? c->next_probe_ms - now : 0;
    for (ug_s3_req_t *r = c->retries; r != NULL; r = r->next)
        wait = r->due_ms > now ? (r->due_ms - now < wait ? r->due_ms - now : wait) : 0;
    return wait > 1000 ? 1000 : (int)wait;
}

static bool stop_now(ug_s3_client_t *c, uint64_t now)
{
    pthread_mutex_lock(&c->mu);
    bool stopping = c->stopping, queued = c->cmds != NULL;
    uint64_t deadline = c->stop_deadline_ms;
    pthread_mutex_unlock(&c->mu);
    if (!stopping)
        return false;
    if (now >= deadline)
        return true;
    return !queued && c->running == (c->probing ? 1u : 0u);
}

static void *thread_main(void *arg)
{
    ug_s3_client_t *c = arg;
    for (;;) {
        run_commands(c);
        uint64_t now = ug_s3_now_ms();
        if (stop_now(c, now))
            break;
        start_due_retries(c, now);
        maybe_probe(c, now);
        int still;
        curl_multi_perform(c->multi, &still);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(c->multi, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE)
                transfer_done(c, msg->easy_handle, msg->data.result);
        curl_multi_poll(c->multi, NULL, 0, poll_timeout(c, ug_s3_now_ms()), NULL);
    }
    ug_s3_markers_drop_all(c); /* first: the objects' clean-ups must not act on them any more */
    ug_s3_objects_drop_all(c); /* the grace ran out, or nothing is left: cut off whatever still runs */
    while (c->live != NULL)     /* the probe, a sweep (its state is left behind: the process is ending) */
        ug_s3_req_cancel(c->live);
    return NULL;
}

/* ---- start, stop, credentials ------------------------------------------------------------------------- */

static void config_clear(ug_s3_config_t *s)
{
    free(s->endpoint);
    free(s->region);
    free(s->bucket);
    free(s->prefix);
    free(s->credentials_file);
    free(s->ca_file);
}

static int config_copy(ug_s3_config_t *d, const ug_s3_config_t *s)
{
    *d = *s;
    d->endpoint = strdup(s->endpoint);
    d->region = strdup(s->region != NULL ? s->region : "us-east-1");
    d->bucket = strdup(s->bucket);
    d->prefix = strdup(s->prefix != NULL ? s->prefix : "");
    d->credentials_file = s->credentials_file != NULL ? strdup(s->credentials_file) : NULL;
    d->ca_file = s->ca_file != NULL ? strdup(s->ca_file) : NULL;
    return d->endpoint != NULL && d->region != NULL && d->bucket != NULL && d->prefix != NULL &&
                   (s->credentials_file == NULL || d->credentials_file != NULL) && (s->ca_file == NULL || d->ca_file != NULL)
               ? 0
               : -1;
}

static void client_free(ug_s3_client_t *c)
{
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    ug_s3_keys_clear(&c->keys);
    config_clear(&c->cfg);
    pthread_cond_destroy(&c->probed_cond);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

ug_s3_client_t *ug_s3_client_start(const ug_s3_config_t *cfg, char *why, size_t why_len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ug_s3_xml_init);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) { /* reference counted: once per client is right */
        snprintf(why, why_len, "libcurl failed to initialise");
        return NULL;
    }
    ug_s3_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t attr; /* monotonic: a wall-clock step must not stretch the wait */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->probed_cond, &attr);
    pthread_condattr_destroy(&attr);
    c->cmds_tail = &c->cmds;
    atomic_init(&c->state, UG_S3_STORE_UNREACHABLE);
    atomic_init(&c->metrics, NULL);
    if (config_copy(&c->cfg, cfg) != 0) {
        snprintf(why, why_len, "out of memory");
        client_free(c);
        return NULL;
    }
    if (ug_s3_keys_load(c->cfg.credentials_file, &c->keys, why, why_len) != 0) {
        client_free(c);
        return NULL;
    }
    if ((c->multi = curl_multi_init()) == NULL || pthread_create(&c->thread, NULL, thread_main, c) != 0) {
        snprintf(why, why_len, "the S3 client could not start (out of memory or threads)");
        client_free(c);
        return NULL;
    }
    return c;
}

static void probe_now(ug_s3_client_t *c, ug_s3_cmd_t *cmd)
{
    c->next_probe_ms = 0;
    free(cmd);
}

int ug_s3_client_reload_credentials(ug_s3_client_t *c, char *why, size_t why_len)
{
    ug_s3_keys_t fresh;
    if (ug_s3_keys_load(c->cfg.credentials_file, &fresh, why, why_len) != 0)
        return -1;
    pthread_mutex_lock(&c->mu);
    ug_s3_keys_t old = c->keys;
    c->keys = fresh;
    pthread_mutex_unlock(&c->mu);
    ug_s3_keys_clear(&old);
    ug_s3_cmd_t *cmd = calloc(1, sizeof(*cmd)); /* tell readiness soon, not in up to UG_S3_PROBE_INTERVAL_MS */
    if (cmd != NULL) {
        cmd->run = probe_now;
        ug_s3_client_post(c, cmd);
    }
    return 0;
}

void ug_s3_client_stop(ug_s3_client_t *c, uint64_t grace_ms)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    c->stop_deadline_ms = ug_s3_now_ms() + grace_ms;
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi);
    pthread_join(c->thread, NULL);
    for (ug_s3_cmd_t *cmd = c->cmds, *next; cmd != NULL; cmd = next) { /* queued too late (none should be) */
        next = cmd->next;
        free(cmd);
    }
    for (ug_s3_req_t *r = c->retries, *next; r != NULL; r = next) {
        next = r->next;
        req_free(r);
    }
    client_free(c);
    curl_global_cleanup();
}
