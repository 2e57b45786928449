/*
 * s3_sweep.c - the janitor's sweep: abort the incomplete multipart uploads under the prefix that are older than a
 * given age (see ug_s3_sweep in s3_client.h). Runs on the S3 thread, one request at a time: list a page, abort its
 * stale uploads one by one, list the next page. Uploads of objects this process is still writing are spared,
 * whatever their age (a long upload is not a crash's leftover).
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
} sweep_t;

static void list_page(sweep_t *s);

static void run_done(ug_s3_completion_t *comp)
{
    sweep_t *s = (sweep_t *)((char *)comp - offsetof(sweep_t, comp));
    s->on_done(s->arg, s->aborted, s->err);
    free(s);
}

static void finish(sweep_t *s, ug_err_t err)
{
    s->err = err;
    ug_metrics_s3_swept(atomic_load(&s->c->metrics), s->aborted);
    ug_s3_upload_list_free(&s->page);
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

static void next_upload(sweep_t *s)
{
    while (s->next < s->page.n) {
        const ug_s3_upload_t *u = &s->page.uploads[s->next++];
        time_t t = parse_initiated(u->initiated);
        if (t < 0 || t > s->cutoff || ug_s3_objects_own_upload(s->c, u->upload_id))
            continue;
        char *query = NULL;
        ug_s3_param_t p[] = {{"uploadId", u->upload_id}};
        ug_s3_req_t *r = ug_s3_canonical_query(p, 1, &query) == UG_S3_OK
                             ? ug_s3_req_new(s->c, "sweep_abort", "DELETE", u->key, query, abort_done, s)
                             : NULL;
        free(query);
        if (r == NULL)
            return finish(s, UG_ERR_NOMEM);
        ug_metrics_s3_abort(atomic_load(&s->c->metrics));
        return ug_s3_req_send(r);
    }
    if (!s->page.truncated)
        return finish(s, s->err);
    free(s->key_marker);
    free(s->id_marker);
    s->key_marker = strdup(s->page.next_key_marker);
    s->id_marker = strdup(s->page.next_upload_id_marker);
    ug_s3_upload_list_free(&s->page);
    memset(&s->page, 0, sizeof(s->page));
    if (s->key_marker == NULL || s->id_marker == NULL)
        return finish(s, UG_ERR_NOMEM);
    list_page(s);
}

static void list_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    sweep_t *s = r->arg;
    if (!ok || ug_s3_parse_list_uploads(a->body != NULL ? a->body : "", a->body_len, &s->page) != UG_S3_XML_OK)
        return finish(s, UG_ERR_STORE_FAILED);
    s->next = 0;
    next_upload(s);
}

static void list_page(sweep_t *s)
{
    ug_s3_param_t p[4] = {{"uploads", NULL}};
    size_t n = 1;
    char *query = NULL;
    if (s->c->cfg.prefix[0] != '\0')
        p[n++] = (ug_s3_param_t){"prefix", s->c->cfg.prefix};
    if (s->key_marker != NULL && s->key_marker[0] != '\0')
        p[n++] = (ug_s3_param_t){"key-marker", s->key_marker};
    if (s->id_marker != NULL && s->id_marker[0] != '\0')
        p[n++] = (ug_s3_param_t){"upload-id-marker", s->id_marker};
    ug_s3_req_t *r = ug_s3_canonical_query(p, n, &query) == UG_S3_OK
                         ? ug_s3_req_new(s->c, "list_uploads", "GET", NULL, query, list_done, s)
                         : NULL;
    free(query);
    if (r == NULL)
        return finish(s, UG_ERR_NOMEM);
    ug_s3_req_send(r);
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
