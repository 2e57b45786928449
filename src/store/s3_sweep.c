/*
 * s3_sweep.c - the janitor's sweep: abort the incomplete multipart uploads under the prefix that are older than a
 * given age (see ug_s3_sweep in s3_client.h). Runs on the S3 thread, one request at a time: list a page, abort its
 * stale uploads one by one, list the next page. Uploads of objects this process is still writing, and its own
 * pending markers, are spared whatever their age (a long upload is not a crash's leftover).
 *
 * A stale pending marker (`<prefix><upload-id>/.pending`, s3_marker.c) is an upload whose app was never told of its
 * objects: every object under `<prefix><upload-id>/` is deleted first (ListObjects page by page, DeleteObject each),
 * and the marker aborted only when all of them went, so a sweep cut short leaves the marker for the next one.
 */
#include "store/s3_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/s3_sign.h"
#include "store/s3_xml.h"

typedef struct sweep {
    ug_s3_cmd_t base;
    ug_s3_completion_t comp;
    ug_s3_client_t *c;
    ug_s3_inbox_t *inbox;
    time_t cutoff; /* uploads initiated at or before this (wall clock) are stale */
    void (*on_done)(void *arg, size_t aborted, ug_err_t err);
    void *arg;
    ug_s3_upload_list_t page;
    size_t next; /* in page */
    char *key_marker, *id_marker;
    size_t aborted;
    ug_err_t err;
    /* a stale marker's objects */
    const ug_s3_upload_t *marker; /* in page */
    char *obj_prefix;             /* "<prefix><upload-id>/" */
    ug_s3_key_list_t objs;
    size_t next_obj;
    bool objs_failed; /* one could not be listed or deleted: the marker stays */
} sweep_t;

static void list_page(sweep_t *s);

static void run_done(ug_s3_completion_t *comp, bool call)
{
    sweep_t *s = (sweep_t *)((char *)comp - offsetof(sweep_t, comp));
    if (call)
        s->on_done(s->arg, s->aborted, s->err);
    free(s);
}

static void finish(sweep_t *s, ug_err_t err)
{
    s->err = err;
    ug_metrics_s3_swept(atomic_load(&s->c->metrics), s->aborted);
    ug_s3_upload_list_free(&s->page);
    ug_s3_key_list_free(&s->objs);
    free(s->obj_prefix);
    free(s->key_marker);
    free(s->id_marker);
    s->comp.run = run_done;
    ug_s3_inbox_post(s->inbox, &s->comp);
}

/* "2026-12-06T03:40:01.000Z" (S3's Initiated) to seconds since the epoch; -1 when it is not that. */
static time_t parse_initiated(const char *v)
{
    struct tm tm = {0};
    char z = 0;
    if (v == NULL || sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                            &tm.tm_sec) != 6)
        return -1;
    z = v[strlen(v) - 1];
    if (z != 'Z')
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

static void next_upload(sweep_t *s);

static void abort_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    sweep_t *s = r->arg;
    /* NoSuchUpload: someone else (another replica's sweep, the app) finished it first; fine */
    if (ok || (a->error_code != NULL && strcmp(a->error_code, "NoSuchUpload") == 0))
        s->aborted += ok ? 1 : 0;
    else
        s->err = UG_ERR_STORE_FAILED; /* go on with the others; the next sweep tries again */
    next_upload(s);
}

/* Send one of the sweep's requests (on key, NULL: the bucket, with the `n` query parameters `p`); false when out of
 * memory, nothing sent. */
static bool sweep_send(sweep_t *s, const char *op, const char *method, const char *key, const ug_s3_param_t *p,
                       size_t n, ug_s3_req_cb done)
{
    char *query = NULL;
    ug_s3_req_t *r = n == 0 || ug_s3_canonical_query(p, n, &query) == UG_S3_OK
                         ? ug_s3_req_new(s->c, op, method, key, query, done, s)
                         : NULL;
    free(query);
    if (r == NULL)
        return false;
    ug_s3_req_send(r);
    return true;
}

/* Send the abort of stale upload `u` (AbortMultipartUpload); false when out of memory. */
static bool send_abort(sweep_t *s, const ug_s3_upload_t *u)
{
    ug_s3_param_t p[] = {{"uploadId", u->upload_id}};
    if (!sweep_send(s, "sweep_abort", "DELETE", u->key, p, 1, abort_done))
        return false;
    ug_metrics_s3_abort(atomic_load(&s->c->metrics));
    return true;
}

/* A pending marker's key: "<prefix><32 hex>/.pending". Its length is that of the object prefix it stands for. */
static size_t marker_prefix_len(const char *prefix, const char *key)
{
    size_t plen = strlen(prefix), klen = strlen(key), mlen = sizeof(UG_S3_MARKER_NAME) - 1;
    if (klen != plen + 33 + mlen || strncmp(key, prefix, plen) != 0 || key[plen + 32] != '/' ||
        strcmp(key + plen + 33, UG_S3_MARKER_NAME) != 0)
        return 0;
    for (size_t i = plen; i < plen + 32; i++)
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
            return 0;
    return plen + 33;
}

static void list_objects(sweep_t *s, const char *after);

/* The stale marker's objects, one DeleteObject at a time; then the next page, or the marker itself. */
static void next_object(sweep_t *s);

static void delete_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    sweep_t *s = r->arg;
    (void)a;
    if (!ok)
        s->objs_failed = true;
    next_object(s);
}

static void next_object(sweep_t *s)
{
    if (!s->objs_failed && s->next_obj < s->objs.n) {
        if (!sweep_send(s, "sweep_delete", "DELETE", s->objs.keys[s->next_obj++], NULL, 0, delete_done))
            finish(s, UG_ERR_NOMEM);
        return;
    }
    if (!s->objs_failed && s->objs.truncated) {
        char *after = strdup(s->objs.keys[s->objs.n - 1]);
        ug_s3_key_list_free(&s->objs);
        if (after == NULL) {
            finish(s, UG_ERR_NOMEM);
            return;
        }
        list_objects(s, after);
        free(after);
        return;
    }
    const ug_s3_upload_t *m = s->marker;
    ug_s3_key_list_free(&s->objs);
    free(s->obj_prefix);
    s->obj_prefix = NULL;
    s->marker = NULL;
    if (s->objs_failed) { /* the marker stays: the next sweep tries again */
        s->err = UG_ERR_STORE_FAILED;
        next_upload(s);
    } else if (!send_abort(s, m)) {
        finish(s, UG_ERR_NOMEM);
    }
}

static void list_objects_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    sweep_t *s = r->arg;
    s->next_obj = 0;
    if (!ok || ug_s3_parse_list_objects(a->body != NULL ? a->body : "", a->body_len, &s->objs) != UG_S3_XML_OK)
        s->objs_failed = true;
    next_object(s);
}

/* ListObjects (V1) under the marker's object prefix, after key `after` (NULL: from the start). */
static void list_objects(sweep_t *s, const char *after)
{
    ug_s3_param_t p[2];
    size_t n = 0;
    if (after != NULL)
        p[n++] = (ug_s3_param_t){"marker", after};
    p[n++] = (ug_s3_param_t){"prefix", s->obj_prefix};
    if (!sweep_send(s, "list_objects", "GET", NULL, p, n, list_objects_done))
        finish(s, UG_ERR_NOMEM);
}

static void next_upload(sweep_t *s)
{
    while (s->next < s->page.n) {
        const ug_s3_upload_t *u = &s->page.uploads[s->next++];
        time_t t = parse_initiated(u->initiated);
        if (t < 0 || t > s->cutoff || ug_s3_objects_own_upload(s->c, u->upload_id) ||
            ug_s3_markers_own_upload(s->c, u->upload_id))
            continue;
        size_t prefix_len = marker_prefix_len(s->c->cfg.prefix, u->key);
        if (prefix_len > 0) {
            s->marker = u;
            s->objs_failed = false;
            if ((s->obj_prefix = strndup(u->key, prefix_len)) == NULL) {
                finish(s, UG_ERR_NOMEM);
                return;
            }
            list_objects(s, NULL);
            return;
        }
        if (!send_abort(s, u))
            finish(s, UG_ERR_NOMEM);
        return;
    }
    if (!s->page.truncated) {
        finish(s, s->err);
        return;
    }
    free(s->key_marker);
    free(s->id_marker);
    s->key_marker = strdup(s->page.next_key_marker);
    s->id_marker = strdup(s->page.next_upload_id_marker);
    ug_s3_upload_list_free(&s->page);
    memset(&s->page, 0, sizeof(s->page));
    if (s->key_marker == NULL || s->id_marker == NULL) {
        finish(s, UG_ERR_NOMEM);
        return;
    }
    list_page(s);
}

static void list_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    sweep_t *s = r->arg;
    if (!ok || ug_s3_parse_list_uploads(a->body != NULL ? a->body : "", a->body_len, &s->page) != UG_S3_XML_OK) {
        finish(s, UG_ERR_STORE_FAILED);
        return;
    }
    s->next = 0;
    next_upload(s);
}

static void list_page(sweep_t *s)
{
    ug_s3_param_t p[4] = {{"uploads", NULL}};
    size_t n = 1;
    if (s->c->cfg.prefix[0] != '\0')
        p[n++] = (ug_s3_param_t){"prefix", s->c->cfg.prefix};
    if (s->key_marker != NULL && s->key_marker[0] != '\0')
        p[n++] = (ug_s3_param_t){"key-marker", s->key_marker};
    if (s->id_marker != NULL && s->id_marker[0] != '\0')
        p[n++] = (ug_s3_param_t){"upload-id-marker", s->id_marker};
    if (!sweep_send(s, "list_uploads", "GET", NULL, p, n, list_done))
        finish(s, UG_ERR_NOMEM);
}

static void run_sweep(ug_s3_client_t *c, ug_s3_cmd_t *base)
{
    (void)c;
    list_page((sweep_t *)base);
}

void ug_s3_sweep(ug_s3_client_t *c, ug_s3_inbox_t *inbox, uint64_t older_than_ms,
                 void (*on_done)(void *arg, size_t aborted, ug_err_t err), void *arg)
{
    sweep_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        on_done(arg, 0, UG_ERR_NOMEM);
        return;
    }
    s->c = c;
    s->inbox = inbox;
    s->cutoff = time(NULL) - (time_t)(older_than_ms / 1000);
    s->on_done = on_done;
    s->arg = arg;
    s->base.run = run_sweep;
    ug_s3_client_post(c, &s->base);
}
