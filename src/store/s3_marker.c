/*
 * s3_marker.c - an upload's pending marker (see s3_client.h): an incomplete multipart upload at
 * `<prefix><upload-id>/.pending` that stands for the upload until the app is told of its objects.
 *
 *   begin --CreateMultipartUpload--> PLACED (on_placed) --clear: AbortMultipartUpload--> CLEARED (on_cleared)
 *   end without a clear: once every object joined to it is cleaned up (the engine no longer works on any), it is
 *   aborted; if a clean-up failed, it stays for the janitor, which removes what is under its prefix, then it.
 *
 * The marker is placed before any object of the upload is completed (the caller waits for on_placed), so at every
 * moment until the clear, an object the app was never told of has a marker above it: after a crash, the next
 * start's janitor finds them all (ListMultipartUploads). One request at a time; all decisions on the S3 thread.
 *
 * Lifetime: a reference count. The loop's handle holds one until ug_s3_marker_end, the engine's list one while it
 * works on the marker, each joined object one, each queued command and completion one.
 */
#include "store/s3_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3_sign.h"
#include "store/s3_xml.h"

struct ug_s3_marker {
    ug_s3_client_t *c;
    ug_s3_inbox_t *inbox;
    _Atomic int refs;
    char *key;
    pthread_mutex_t mu;
    /* [mu] */
    bool ended; /* the loop let go: no callback runs after that */
    ug_s3_marker_cb on_placed, on_cleared;
    void *placed_arg, *cleared_arg;
    /* [s3] */
    bool listed, clear_wanted, clear_reported, cleared, end_seen, member_failed, dropped;
    unsigned live;       /* joined objects the engine works on */
    char *upload_id;     /* NULL: not placed (yet), or aborted */
    ug_err_t place_err;  /* UG_OK once placed */
    char message[300];   /* why placing failed */
    ug_s3_req_t *single; /* the request in flight */
    struct ug_s3_marker *next;
};

void ug_s3_marker_ref(ug_s3_marker_t *m)
{
    atomic_fetch_add(&m->refs, 1);
}

void ug_s3_marker_unref(ug_s3_marker_t *m)
{
    if (m == NULL || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m->upload_id);
    free(m->key);
    free(m);
}

/* ---- completions to the loop thread ------------------------------------------------------------------- */

typedef struct marker_comp {
    ug_s3_completion_t base;
    ug_s3_marker_t *m;
    bool cleared; /* on_cleared, else on_placed */
    ug_err_t err;
    char message[300];
} marker_comp_t;

static void run_comp(ug_s3_completion_t *base, bool call)
{
    marker_comp_t *cp = (marker_comp_t *)base;
    ug_s3_marker_t *m = cp->m;
    pthread_mutex_lock(&m->mu);
    bool ended = m->ended || !call;
    ug_s3_marker_cb cb = cp->cleared ? m->on_cleared : m->on_placed;
    void *arg = cp->cleared ? m->cleared_arg : m->placed_arg;
    pthread_mutex_unlock(&m->mu);
    if (!ended && cb != NULL)
        cb(arg, cp->err, cp->err != UG_OK ? cp->message : NULL);
    ug_s3_marker_unref(m);
    free(cp);
}

static void report(ug_s3_marker_t *m, bool cleared, ug_err_t err, const char *message)
{
    marker_comp_t *cp = calloc(1, sizeof(*cp));
    if (cp == NULL)
        return; /* out of memory on the S3 thread: the caller's deadline (body or backend timeout) ends it */
    ug_s3_marker_ref(m);
    cp->base.run = run_comp;
    cp->m = m;
    cp->cleared = cleared;
    cp->err = err;
    snprintf(cp->message, sizeof(cp->message), "%s", message != NULL ? message : "");
    ug_s3_inbox_post(m->inbox, &cp->base);
}

/* ---- the engine's list -------------------------------------------------------------------------------- */

static void list_add(ug_s3_marker_t *m)
{
    if (m->listed)
        return;
    m->listed = true;
    ug_s3_marker_ref(m);
    m->next = m->c->markers;
    m->c->markers = m;
}

static void list_remove(ug_s3_marker_t *m)
{
    if (!m->listed)
        return;
    for (ug_s3_marker_t **p = &m->c->markers; *p != NULL; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            break;
        }
    }
    m->listed = false;
    ug_s3_marker_unref(m);
}

bool ug_s3_markers_own_upload(ug_s3_client_t *c, const char *upload_id)
{
    for (ug_s3_marker_t *m = c->markers; m != NULL; m = m->next)
        if (m->upload_id != NULL && strcmp(m->upload_id, upload_id) == 0)
            return true;
    return false;
}

void ug_s3_markers_drop_all(ug_s3_client_t *c)
{
    while (c->markers != NULL) {
        ug_s3_marker_t *m = c->markers;
        m->dropped = true; /* what joined objects report from now on changes nothing: the process is ending */
        if (m->single != NULL) {
            ug_s3_req_cancel(m->single);
            m->single = NULL;
        }
        list_remove(m);
    }
}

/* ---- requests ----------------------------------------------------------------------------------------- */

static void step(ug_s3_marker_t *m);

static void send_req(ug_s3_marker_t *m, const char *op, const char *method, const ug_s3_param_t *p, ug_s3_req_cb done)
{
    char *query = NULL;
    ug_s3_req_t *r = ug_s3_canonical_query(p, 1, &query) == UG_S3_OK
                         ? ug_s3_req_new(m->c, op, method, m->key, query, done, m)
                         : NULL;
    free(query);
    if (r == NULL) { /* out of memory: as a request that failed */
        ug_s3_answer_t none = {.curl = CURLE_OUT_OF_MEMORY};
        ug_s3_req_t fake = {.client = m->c, .op = op, .arg = m};
        done(&fake, false, &none);
        return;
    }
    m->single = r;
    ug_s3_req_send(r);
}

static void create_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    ug_s3_marker_t *m = r->arg;
    m->single = NULL;
    if (ok && ug_s3_parse_initiate(a->body != NULL ? a->body : "", a->body_len, &m->upload_id) != UG_S3_XML_OK)
        ok = false;
    if (!ok) {
        char why[256];
        ug_s3_answer_describe(r, a, why, sizeof(why));
        m->place_err = UG_ERR_STORE_FAILED;
        snprintf(m->message, sizeof(m->message), "the object store failed: %s", why);
    }
    report(m, false, m->place_err, m->message);
    step(m);
}

static void clear_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    ug_s3_marker_t *m = r->arg;
    char why[256], message[300] = "";
    m->single = NULL;
    m->clear_reported = true;
    if (ok) {
        free(m->upload_id);
        m->upload_id = NULL;
        m->cleared = true;
    } else { /* NoSuchUpload too: a janitor took it (a retention shorter than the upload), and with it the objects */
        ug_s3_answer_describe(r, a, why, sizeof(why));
        snprintf(message, sizeof(message), "the object store failed: %s", why);
    }
    report(m, true, ok ? UG_OK : UG_ERR_STORE_FAILED, message);
    step(m);
}

static void remove_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    ug_s3_marker_t *m = r->arg;
    (void)ok;
    (void)a; /* retried already; a marker still there is the janitor's, which then removes what is under it */
    m->single = NULL;
    free(m->upload_id);
    m->upload_id = NULL;
    step(m);
}

/* [s3] The next thing to do, if any; done with the marker once nothing is left to do. */
static void step(ug_s3_marker_t *m)
{
    if (m->dropped || m->single != NULL)
        return;
    if (m->clear_wanted && !m->clear_reported) {
        if (m->upload_id == NULL) { /* never placed: the clear fails as the placing did */
            m->clear_reported = true;
            report(m, true, UG_ERR_STORE_FAILED, m->message[0] ? m->message : "the upload's pending marker is not in place");
        } else {
            ug_s3_param_t p[] = {{"uploadId", m->upload_id}};
            send_req(m, "marker_clear", "DELETE", p, clear_done);
            return;
        }
    }
    if (!m->end_seen || m->live != 0)
        return; /* the loop still uses it, or joined objects are still being written or cleaned up */
    if (m->upload_id != NULL && !m->member_failed) {
        ug_s3_param_t p[] = {{"uploadId", m->upload_id}};
        send_req(m, "abort", "DELETE", p, remove_done);
        return;
    }
    list_remove(m); /* cleared, removed, never placed, or kept for the janitor (a clean-up failed) */
}

void ug_s3_marker_member_add(ug_s3_marker_t *m)
{
    m->live++;
}

void ug_s3_marker_member_remove(ug_s3_marker_t *m, bool cleanup_failed)
{
    m->live--;
    m->member_failed = m->member_failed || cleanup_failed;
    step(m);
}

/* ---- commands from the loop thread ----------------------------------------------------------------------- */

typedef enum { CMD_PLACE, CMD_CLEAR, CMD_END } marker_cmd_kind_t;

typedef struct marker_cmd {
    ug_s3_cmd_t base;
    ug_s3_marker_t *m;
    marker_cmd_kind_t kind;
} marker_cmd_t;

static void run_cmd(ug_s3_client_t *c, ug_s3_cmd_t *base)
{
    marker_cmd_t *cmd = (marker_cmd_t *)base;
    ug_s3_marker_t *m = cmd->m;
    marker_cmd_kind_t kind = cmd->kind;
    (void)c;
    free(cmd);
    if (kind == CMD_PLACE) {
        list_add(m);
        ug_s3_param_t p[] = {{"uploads", NULL}};
        send_req(m, "marker_create", "POST", p, create_done);
    } else if (m->listed) {
        if (kind == CMD_CLEAR)
            m->clear_wanted = true;
        else
            m->end_seen = true;
        step(m);
    }
    ug_s3_marker_unref(m);
}

static int post_cmd(ug_s3_marker_t *m, marker_cmd_kind_t kind)
{
    marker_cmd_t *cmd = calloc(1, sizeof(*cmd));
    if (cmd == NULL)
        return -1;
    ug_s3_marker_ref(m);
    cmd->base.run = run_cmd;
    cmd->m = m;
    cmd->kind = kind;
    ug_s3_client_post(m->c, &cmd->base);
    return 0;
}

ug_s3_marker_t *ug_s3_marker_begin(ug_s3_client_t *c, ug_s3_inbox_t *inbox, const char *key_prefix,
                                   ug_s3_marker_cb on_placed, void *arg)
{
    ug_s3_marker_t *m = calloc(1, sizeof(*m));
    size_t len = strlen(key_prefix) + sizeof(UG_S3_MARKER_NAME);
    if (m == NULL || (m->key = malloc(len)) == NULL) {
        free(m);
        return NULL;
    }
    snprintf(m->key, len, "%s%s", key_prefix, UG_S3_MARKER_NAME);
    atomic_init(&m->refs, 1);
    m->c = c;
    m->inbox = inbox;
    m->on_placed = on_placed;
    m->placed_arg = arg;
    pthread_mutex_init(&m->mu, NULL);
    if (post_cmd(m, CMD_PLACE) != 0) {
        ug_s3_marker_unref(m);
        return NULL;
    }
    return m;
}

void ug_s3_marker_clear(ug_s3_marker_t *m, ug_s3_marker_cb on_cleared, void *arg)
{
    pthread_mutex_lock(&m->mu);
    m->on_cleared = on_cleared;
    m->cleared_arg = arg;
    pthread_mutex_unlock(&m->mu);
    if (post_cmd(m, CMD_CLEAR) != 0)
        on_cleared(arg, UG_ERR_NOMEM, NULL);
}

void ug_s3_marker_end(ug_s3_marker_t *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->ended = true;
    pthread_mutex_unlock(&m->mu);
    (void)post_cmd(m, CMD_END); /* out of memory: the marker stays in the store for the janitor */
    ug_s3_marker_unref(m);
}
