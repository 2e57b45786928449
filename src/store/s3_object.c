/*
 * s3_object.c - one object's way into the store (see s3_client.h for the interface, s3_internal.h for threads).
 *
 * The loop thread appends bytes to the object's fill buffer (under the object's mutex) and kicks the S3 thread when
 * there is work: a full part with a byte beyond it, finish, abort. Only the S3 thread cuts parts off the fill buffer,
 * so parts are hashed (the object's running sha256, then each part's own for x-amz-content-sha256) in byte order.
 *
 *   FILLING --finish, nothing cut--> PUTTING --200--> DONE
 *   FILLING --first part cut--> CREATING --UploadId--> UPLOADING (parts_in_flight at once) --finish, all parts
 *       answered--> COMPLETING --200 without <Error>--> DONE
 *   COMPLETING --NoSuchUpload after a retry (the first attempt may have completed it)--> VERIFYING (HeadObject:
 *       the object exists with the expected size) --> DONE
 *   any --store failure after retries--> FAILED;  any --abort--> clean-up: the multipart upload aborted and/or the
 *       object deleted, each retried, once the request in flight that decides which (Create, Put, Complete) ended.
 *
 * Lifetime: a reference count. The loop's handle holds one until release/abort, the engine one while the object is
 * on its list, every queued command and completion one.
 */
#include "store/s3_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "store/s3_sign.h"
#include "store/s3_xml.h"


typedef enum obj_state {
    OBJ_FILLING,
    OBJ_PUTTING,
    OBJ_CREATING,
    OBJ_UPLOADING,
    OBJ_COMPLETING,
    OBJ_VERIFYING,
    OBJ_DONE,
    OBJ_FAILED,
} obj_state_t;

/* A part_size buffer: filled by the loop thread, then (cut) the part itself, sent without a copy. */
typedef struct part {
    struct ug_s3_object *o;
    unsigned number;
    char *buf;        /* part_buf_new(): cap (part_size) bytes, mapped */
    size_t len, cap;
    char sha256[65];  /* the part's own, for x-amz-content-sha256: computed when cut */
    ug_s3_req_t *req; /* NULL: cut, waiting for the UploadId */
    struct part *next;
} part_t;

struct ug_s3_object {
    ug_s3_client_t *c;
    ug_s3_inbox_t *inbox;
    _Atomic int refs;
    char *key, *content_type;
    void (*on_ready)(void *arg);
    void *ready_arg;
    pthread_mutex_t mu;
    /* [mu] */
    part_t *fill, *fill_tail; /* buffers being filled, in byte order; only the last one is not full */
    size_t fill_len;          /* bytes in them */
    uint64_t size;
    unsigned in_flight; /* parts cut and not yet answered */
    bool paused, finishing, aborted, failed, kicked;
    void (*on_done)(void *arg, const ug_s3_object_done_t *d);
    void *done_arg;
    ug_err_t err;
    char message[300];
    /* [s3] */
    obj_state_t state;
    bool listed, cleaning, put_sent, complete_sent, completed;
    EVP_MD_CTX *sha;
    char sha_hex[65];
    char *upload_id;
    unsigned cut; /* parts cut so far = the last part number */
    char **etags; /* by part number - 1 */
    size_t etags_cap;
    part_t *parts;
    ug_s3_req_t *single; /* the Create/Put/Complete/Head in flight */
    char etag[256];
    struct ug_s3_object *obj_next;
    ug_s3_marker_t *marker; /* the upload's pending marker (a reference), or NULL */
    bool cleanup_failed;    /* [s3] a clean-up request failed: the store may still hold a complete object (an
                             * incomplete upload is the sweep's to find anyway) */
};

/* ---- part buffers -------------------------------------------------------------------------------------
 *
 * Each part gets a part_size buffer of its own, mapped when its first byte arrives and unmapped as soon as the store
 * answered it: the loop thread writes the bytes into it, and the S3 thread sends that very buffer (no copy). So the
 * object holds exactly the bytes it has not sent yet, and freed memory goes back to the system at once. With malloc
 * it did not: one fill buffer grown by doubling (past part_size: 2 x part_size of capacity) plus a copy per part,
 * and glibc raising its mmap threshold after the first free of a part, so that later parts came from the S3 thread's
 * arena, which kept freed parts and grew with fragmentation (1.5-2 x the design bound in peak RSS).
 * MADV_HUGEPAGE: a fresh buffer is faulted in 2 MiB at a time instead of 4 KiB (where the system allows it).
 */
static char *part_buf_new(size_t size)
{
    void *b = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(b, size, MADV_HUGEPAGE); /* a hint: without it the buffer works the same */
#endif
    return b;
}

/* The buffer's size is kept in the part: the last reference to an object may go after the client was stopped. */
static void part_free(part_t *p)
{
    if (p->buf != NULL)
        munmap(p->buf, p->cap);
    free(p);
}

static void part_list_free(part_t *p)
{
    while (p != NULL) {
        part_t *next = p->next;
        part_free(p);
        p = next;
    }
}

/* [mu held] Take the first fill buffer off the list (NULL: none). */
static part_t *pop_fill_locked(ug_s3_object_t *o)
{
    part_t *p = o->fill;
    if (p == NULL)
        return NULL;
    o->fill = p->next;
    if (o->fill == NULL)
        o->fill_tail = NULL;
    p->next = NULL;
    o->fill_len -= p->len;
    return p;
}

static void obj_unref(ug_s3_object_t *o)
{
    if (atomic_fetch_sub(&o->refs, 1) != 1)
        return;
    for (size_t i = 0; i < o->etags_cap; i++)
        free(o->etags[i]);
    free(o->etags);
    part_list_free(o->parts);
    part_list_free(o->fill);
    EVP_MD_CTX_free(o->sha);
    pthread_mutex_destroy(&o->mu);
    free(o->upload_id);
    free(o->key);
    free(o->content_type);
    ug_s3_marker_unref(o->marker);
    free(o);
}

/* ---- completions to the loop thread ------------------------------------------------------------------- */

typedef struct obj_comp {
    ug_s3_completion_t base;
    ug_s3_object_t *o;
    bool ready; /* on_ready, else on_done */
} obj_comp_t;

static void run_comp(ug_s3_completion_t *base, bool call)
{
    obj_comp_t *cp = (obj_comp_t *)base;
    ug_s3_object_t *o = cp->o;
    pthread_mutex_lock(&o->mu);
    bool aborted = o->aborted || !call; /* set by this very thread: no callback runs after an abort */
    void (*on_done)(void *, const ug_s3_object_done_t *) = o->on_done;
    pthread_mutex_unlock(&o->mu);
    if (!aborted && cp->ready && o->on_ready != NULL) {
        o->on_ready(o->ready_arg);
    } else if (!aborted && !cp->ready && on_done != NULL) {
        ug_s3_object_done_t d = {.err = o->err, .message = o->err != UG_OK ? o->message : NULL, .bucket = o->c->cfg.bucket,
                                 .key = o->key, .etag = o->etag, .size = o->size, .sha256_hex = o->sha_hex};
        on_done(o->done_arg, &d);
    }
    obj_unref(o);
    free(cp);
}

static void post(ug_s3_object_t *o, bool ready)
{
    obj_comp_t *cp = calloc(1, sizeof(*cp));
    if (cp == NULL)
        return; /* out of memory on the S3 thread: the caller's deadline (body timeout) ends the exchange */
    atomic_fetch_add(&o->refs, 1);
    cp->base.run = run_comp;
    cp->o = o;
    cp->ready = ready;
    ug_s3_inbox_post(o->inbox, &cp->base);
}

/* ---- the engine's list -------------------------------------------------------------------------------- */

static void list_add(ug_s3_object_t *o)
{
    if (o->listed)
        return;
    o->listed = true;
    atomic_fetch_add(&o->refs, 1);
    if (o->marker != NULL)
        ug_s3_marker_member_add(o->marker);
    o->obj_next = o->c->objects;
    o->c->objects = o;
}

static void list_remove(ug_s3_object_t *o)
{
    if (!o->listed)
        return;
    for (ug_s3_object_t **p = &o->c->objects; *p != NULL; p = &(*p)->obj_next) {
        if (*p == o) {
            *p = o->obj_next;
            break;
        }
    }
    o->listed = false;
    if (o->marker != NULL) /* after a clean-up that failed, the marker stays for the janitor */
        ug_s3_marker_member_remove(o->marker, o->cleanup_failed);
    obj_unref(o);
}

bool ug_s3_objects_own_upload(ug_s3_client_t *c, const char *upload_id)
{
    for (ug_s3_object_t *o = c->objects; o != NULL; o = o->obj_next)
        if (o->upload_id != NULL && strcmp(o->upload_id, upload_id) == 0)
            return true;
    return false;
}

static void cancel_requests(ug_s3_object_t *o, bool single_too)
{
    for (part_t *p = o->parts; p != NULL; p = p->next) {
        if (p->req != NULL) {
            ug_s3_req_cancel(p->req);
            p->req = NULL;
        }
    }
    if (single_too && o->single != NULL) {
        ug_s3_req_cancel(o->single);
        o->single = NULL;
    }
}

void ug_s3_objects_drop_all(ug_s3_client_t *c)
{
    while (c->objects != NULL) {
        ug_s3_object_t *o = c->objects;
        cancel_requests(o, true);
        list_remove(o);
    }
}

/* ---- failure ------------------------------------------------------------------------------------------ */

static void fail(ug_s3_object_t *o, ug_err_t err, const char *message)
{
    cancel_requests(o, false); /* the other parts are wasted work now */
    o->state = OBJ_FAILED;
    pthread_mutex_lock(&o->mu);
    bool first = !o->failed, finishing = o->finishing, paused = o->paused;
    if (first) {
        o->failed = true;
        o->err = err;
        snprintf(o->message, sizeof(o->message), "%s", message);
    }
    o->paused = false;
    pthread_mutex_unlock(&o->mu);
    if (finishing)
        post(o, false);
    else if (paused)
        post(o, true); /* a paused writer learns of it from its next write (FAILED) */
}

static void fail_answer(ug_s3_object_t *o, const ug_s3_req_t *r, const ug_s3_answer_t *a)
{
    char why[256], msg[300];
    ug_s3_answer_describe(r, a, why, sizeof(why));
    snprintf(msg, sizeof(msg), "the object store failed: %s", why);
    fail(o, UG_ERR_STORE_FAILED, msg);
}

/* ---- requests of an object ---------------------------------------------------------------------------- */

static void advance(ug_s3_object_t *o);
static void cleanup(ug_s3_object_t *o);

static ug_s3_req_t *obj_req(ug_s3_object_t *o, const char *op, const char *method, const ug_s3_param_t *params, size_t n,
                            ug_s3_req_cb done, void *arg)
{
    char *query = NULL;
    if (n > 0 && ug_s3_canonical_query(params, n, &query) != UG_S3_OK)
        return NULL;
    ug_s3_req_t *r = ug_s3_req_new(o->c, op, method, o->key, query, done, arg);
    free(query);
    return r;
}

static void set_sha_hex(ug_s3_object_t *o)
{
    unsigned char md[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(o->sha, md, &len);
    ug_s3_sha256_hex(md, o->sha_hex);
}

static void succeed(ug_s3_object_t *o)
{
    o->completed = true;
    o->state = OBJ_DONE;
    post(o, false);
    list_remove(o); /* an abort (the app refused it) puts it back to delete it */
}

static void put_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    ug_s3_object_t *o = r->arg;
    o->single = NULL;
    if (o->cleaning) {
        cleanup(o);
        return;
    }
    if (!ok) {
        fail_answer(o, r, a);
        return;
    }
    snprintf(o->etag, sizeof(o->etag), "%s", a->etag);
    ug_metrics_s3_sent(atomic_load(&o->c->metrics), o->size, 0);
    succeed(o);
}

/* The whole object in one PutObject: it ended before a part was full. */
static void send_put(ug_s3_object_t *o)
{
    ug_s3_req_t *r = obj_req(o, "put", "PUT", NULL, 0, put_done, o);
    if (r == NULL) {
        fail(o, UG_ERR_STORE_FAILED, "out of memory");
        return;
    }
    pthread_mutex_lock(&o->mu);
    part_t *p = pop_fill_locked(o); /* the loop writes no more: finish was called; the bytes fit in one buffer */
    pthread_mutex_unlock(&o->mu);
    if (p != NULL) { /* kept with the parts until the object is freed: the request sends from its buffer */
        p->next = o->parts;
        o->parts = p;
    }
    r->body = p != NULL ? p->buf : NULL;
    r->body_len = p != NULL ? p->len : 0;
    r->upload = true;
    r->content_type = o->content_type;
    EVP_DigestUpdate(o->sha, r->body != NULL ? r->body : "", r->body_len);
    set_sha_hex(o);
    memcpy(r->sha256, o->sha_hex, sizeof(r->sha256)); /* the object is the payload */
    o->state = OBJ_PUTTING;
    o->put_sent = true;
    o->single = r;
    ug_s3_req_send(r);
}

static int keep_etag(ug_s3_object_t *o, unsigned number, const char *etag)
{
    if (number > o->etags_cap) {
        size_t cap = o->etags_cap == 0 ? 16 : o->etags_cap;
        while (cap < number)
            cap *= 2;
        char **grown = realloc(o->etags, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        memset(grown + o->etags_cap, 0, (cap - o->etags_cap) * sizeof(*grown));
        o->etags = grown;
        o->etags_cap = cap;
    }
    free(o->etags[number - 1]);
    return (o->etags[number - 1] = strdup(etag)) == NULL ? -1 : 0;
}

static void part_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    part_t *p = r->arg;
    ug_s3_object_t *o = p->o;
    p->req = NULL;
    if (!ok) {
        fail_answer(o, r, a);
        return;
    }
    if (a->etag[0] == '\0') {
        fail(o, UG_ERR_STORE_FAILED, "the object store answered a part without an ETag");
        return;
    }
    if (keep_etag(o, p->number, a->etag) != 0) {
        fail(o, UG_ERR_STORE_FAILED, "out of memory");
        return;
    }
    ug_metrics_s3_sent(atomic_load(&o->c->metrics), p->len, 1);
    for (part_t **pp = &o->parts; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    part_free(p);
    pthread_mutex_lock(&o->mu);
    o->in_flight--;
    pthread_mutex_unlock(&o->mu);
    advance(o);
}

static void send_part(ug_s3_object_t *o, part_t *p)
{
    char num[16];
    snprintf(num, sizeof(num), "%u", p->number);
    ug_s3_param_t params[] = {{"partNumber", num}, {"uploadId", o->upload_id}};
    ug_s3_req_t *r = obj_req(o, "upload_part", "PUT", params, 2, part_done, p);
    if (r == NULL) {
        fail(o, UG_ERR_STORE_FAILED, "out of memory");
        return;
    }
    r->body = p->buf;
    r->body_len = p->len;
    r->upload = true;
    memcpy(r->sha256, p->sha256, sizeof(r->sha256));
    p->req = r;
    ug_s3_req_send(r);
}

static void create_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    ug_s3_object_t *o = r->arg;
    o->single = NULL;
    if (ok && ug_s3_parse_initiate(a->body != NULL ? a->body : "", a->body_len, &o->upload_id) != UG_S3_XML_OK)
        ok = false;
    if (o->cleaning) {
        cleanup(o);
        return;
    }
    if (o->state == OBJ_FAILED)
        return; /* the writer failed it meanwhile; the upload id is kept for the abort */
    if (!ok) {
        fail_answer(o, r, a);
        return;
    }
    o->state = OBJ_UPLOADING;
    for (part_t *p = o->parts; p != NULL && o->state == OBJ_UPLOADING; p = p->next)
        if (p->req == NULL)
            send_part(o, p);
    advance(o);
}

static void send_create(ug_s3_object_t *o)
{
    ug_s3_param_t params[] = {{"uploads", NULL}};
    ug_s3_req_t *r = obj_req(o, "create", "POST", params, 1, create_done, o);
    if (r == NULL) {
        fail(o, UG_ERR_STORE_FAILED, "out of memory");
        return;
    }
    r->content_type = o->content_type;
    o->state = OBJ_CREATING;
    o->single = r;
    ug_s3_req_send(r);
}

static void head_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    ug_s3_object_t *o = r->arg;
    o->single = NULL;
    if (ok && a->content_length == o->size) { /* a Complete whose answer got lost did complete it */
        o->completed = true;
        snprintf(o->etag, sizeof(o->etag), "%s", a->etag);
    }
    if (o->cleaning) {
        cleanup(o);
        return;
    }
    if (!o->completed) {
        fail(o, UG_ERR_STORE_FAILED, "the object store lost the multipart upload while completing it");
        return;
    }
    succeed(o);
}

static void complete_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    ug_s3_object_t *o = r->arg;
    char *etag = NULL;
    o->single = NULL;
    if (ok && ug_s3_parse_complete(a->body != NULL ? a->body : "", a->body_len, &etag) != UG_S3_XML_OK)
        ok = false;
    if (ok) {
        o->completed = true;
        snprintf(o->etag, sizeof(o->etag), "%s", etag);
        free(etag);
    }
    if (o->cleaning) {
        cleanup(o);
        return;
    }
    if (!ok && r->attempt > 1 && a->error_code != NULL && strcmp(a->error_code, "NoSuchUpload") == 0) {
        ug_s3_req_t *h = obj_req(o, "head", "HEAD", NULL, 0, head_done, o);
        if (h == NULL) {
            fail(o, UG_ERR_STORE_FAILED, "out of memory");
            return;
        }
        o->state = OBJ_VERIFYING;
        o->single = h;
        ug_s3_req_send(h);
        return;
    }
    if (!ok) {
        fail_answer(o, r, a);
        return;
    }
    succeed(o);
}

static void send_complete(ug_s3_object_t *o)
{
    ug_s3_part_t *list = calloc(o->cut, sizeof(*list));
    char *body = NULL;
    size_t body_len = 0;
    ug_s3_param_t params[] = {{"uploadId", o->upload_id}};
    if (list == NULL) {
        fail(o, UG_ERR_STORE_FAILED, "out of memory");
        return;
    }
    for (unsigned i = 0; i < o->cut; i++)
        list[i] = (ug_s3_part_t){i + 1, o->etags[i]};
    ug_s3_xml_result_t xr = ug_s3_build_complete(list, o->cut, &body, &body_len);
    free(list);
    ug_s3_req_t *r = xr == UG_S3_XML_OK ? obj_req(o, "complete", "POST", params, 1, complete_done, o) : NULL;
    if (r == NULL) {
        free(body);
        fail(o, UG_ERR_STORE_FAILED, "out of memory");
        return;
    }
    r->owned_body = body;
    r->body = body;
    r->body_len = body_len;
    ug_s3_payload_sha256(body, body_len, r->sha256);
    o->state = OBJ_COMPLETING;
    o->complete_sent = true; /* from here on no part is ever sent again */
    o->single = r;
    ug_s3_req_send(r);
}

/* ---- cutting parts ------------------------------------------------------------------------------------ */

/* [mu held] The first fill buffer becomes part number o->cut + 1: a full one, or the last bytes at finish. */
static part_t *cut_locked(ug_s3_object_t *o)
{
    part_t *p = pop_fill_locked(o);
    p->number = ++o->cut;
    o->in_flight++;
    return p;
}

/* Parts a fill of `fill_len` bytes holds that may be sent: full ones with a byte after them (so the last part is
 * never empty and an object of exactly part_size is a single PUT). */
static size_t waiting_parts(size_t fill_len, uint64_t part_size)
{
    return fill_len > 0 ? (size_t)((fill_len - 1) / part_size) : 0;
}

#define MAX_CUT 65 /* parts_in_flight (64 at most) plus the last */

/* [mu held] Cut every part a free slot can take, and the last one once finish was called. A waiting part is a full
 * buffer with a byte after it, so it is the first buffer, and what is left after the full ones fits in one. */
static size_t cut_parts_locked(ug_s3_object_t *o, part_t **cut)
{
    const ug_s3_config_t *cfg = &o->c->cfg;
    size_t ncut = 0;
    while (o->in_flight < cfg->parts_in_flight && waiting_parts(o->fill_len, cfg->part_size) > 0 && ncut < MAX_CUT - 1)
        cut[ncut++] = cut_locked(o);
    /* the last part: whatever is left once finish was called (multipart only: a PUT takes the fill itself) */
    if (o->finishing && o->cut > 0 && o->fill_len > 0 && o->in_flight < cfg->parts_in_flight)
        cut[ncut++] = cut_locked(o);
    return ncut;
}

/* [s3] Hash a part into the object's running sha256 and its own one pass (a slice at a time, so the second hash
 * reads it from the cache, not from memory again). */
#define HASH_SLICE (64 * 1024)
static void hash_part(ug_s3_object_t *o, part_t *p)
{
    EVP_MD_CTX *own = EVP_MD_CTX_new();
    bool ok = own != NULL && EVP_DigestInit_ex(own, EVP_sha256(), NULL) == 1;
    for (size_t off = 0; off < p->len; off += HASH_SLICE) {
        size_t n = p->len - off < HASH_SLICE ? p->len - off : HASH_SLICE;
        EVP_DigestUpdate(o->sha, p->buf + off, n);
        ok = ok && EVP_DigestUpdate(own, p->buf + off, n) == 1;
    }
    unsigned char md[32];
    unsigned len = 0;
    if (ok && EVP_DigestFinal_ex(own, md, &len) == 1)
        ug_s3_sha256_hex(md, p->sha256);
    else /* out of memory: one more pass, as any other payload */
        ug_s3_payload_sha256(p->buf, p->len, p->sha256);
    EVP_MD_CTX_free(own);
}

/* [s3] Hash the parts just cut (in order: only this thread cuts), keep them, send them once there is an UploadId. */
static void take_parts(ug_s3_object_t *o, part_t **cut, size_t ncut)
{
    part_t **tail = &o->parts;
    while (*tail != NULL)
        tail = &(*tail)->next;
    for (size_t i = 0; i < ncut; i++) {
        hash_part(o, cut[i]);
        *tail = cut[i];
        tail = &cut[i]->next;
        if (o->state == OBJ_UPLOADING)
            send_part(o, cut[i]);
    }
}

/* [s3] Cut what may be cut, send it, and take the next step. */
static void advance(ug_s3_object_t *o)
{
    const ug_s3_config_t *cfg = &o->c->cfg;
    part_t *cut[MAX_CUT];
    size_t ncut = 0;
    bool wake_writer = false;
    char message[sizeof(o->message)];
    if (o->cleaning || o->state == OBJ_FAILED || o->state == OBJ_DONE)
        return;
    pthread_mutex_lock(&o->mu);
    bool failed = o->failed, finishing = o->finishing;
    ug_err_t err = o->err;
    memcpy(message, o->message, sizeof(message));
    if (!failed) {
        ncut = cut_parts_locked(o, cut);
        if (o->paused && o->in_flight + waiting_parts(o->fill_len, cfg->part_size) <= cfg->parts_in_flight) {
            o->paused = false;
            wake_writer = true;
        }
    }
    size_t fill_len = o->fill_len;
    unsigned in_flight = o->in_flight;
    pthread_mutex_unlock(&o->mu);
    if (failed) { /* the writer found the object too big */
        fail(o, err, message);
        return;
    }
    take_parts(o, cut, ncut);
    if (wake_writer)
        post(o, true);
    if (o->state == OBJ_FILLING && o->cut > 0)
        send_create(o);
    else if (o->state == OBJ_FILLING && finishing)
        send_put(o);
    else if (o->state == OBJ_UPLOADING && finishing && fill_len == 0 && in_flight == 0) {
        set_sha_hex(o);
        send_complete(o);
    }
}

/* ---- abort: the clean-up --------------------------------------------------------------------------------- */

static void cleanup_done(ug_s3_req_t *r, bool ok, const ug_s3_answer_t *a)
{
    ug_s3_object_t *o = r->arg;
    /* retried already: what a failure leaves is the sweep's (under the marker) and the lifecycle rule's */
    o->single = NULL;
    if (!ok && !(a->curl == CURLE_OK && a->status == 404)) /* 404 NoSuchUpload: nothing left to abort */
        o->cleanup_failed = true;
    if (strcmp(r->op, "abort") == 0) {
        free(o->upload_id);
        o->upload_id = NULL;
    } else {
        o->completed = o->put_sent = o->complete_sent = false;
    }
    cleanup(o);
}

/* [s3] Remove what the store holds of the object, one request at a time, then forget it. */
static void cleanup(ug_s3_object_t *o)
{
    o->cleaning = true;
    cancel_requests(o, false);
    if (o->single != NULL)
        return; /* a Create, Put or Complete decides what there is to remove: wait for its answer */
    const char *op = NULL;
    ug_s3_param_t params[] = {{"uploadId", o->upload_id}};
    size_t n = 0;
    if (o->upload_id != NULL && !o->completed) {
        op = "abort";
        n = 1;
    } else if (o->completed || o->put_sent || o->complete_sent) {
        op = "delete"; /* also when the answer was lost: S3 answers 204 for an absent key */
    }
    if (op != NULL) {
        ug_s3_req_t *r = obj_req(o, op, "DELETE", params, n, cleanup_done, o);
        if (r != NULL) {
            o->single = r;
            ug_s3_req_send(r);
            return;
        }
        o->cleanup_failed = true; /* out of memory */
    }
    list_remove(o);
}

/* ---- commands from the loop thread ----------------------------------------------------------------------- */

typedef struct obj_cmd {
    ug_s3_cmd_t base;
    ug_s3_object_t *o;
} obj_cmd_t;

static void run_kick(ug_s3_client_t *c, ug_s3_cmd_t *base)
{
    obj_cmd_t *cmd = (obj_cmd_t *)base;
    ug_s3_object_t *o = cmd->o;
    free(cmd);
    pthread_mutex_lock(&o->mu);
    o->kicked = false;
    bool aborted = o->aborted;
    pthread_mutex_unlock(&o->mu);
    if (aborted && !o->cleaning) {
        list_add(o);
        ug_metrics_s3_abort(atomic_load(&c->metrics));
        cleanup(o);
    } else if (!aborted && o->state != OBJ_DONE && o->state != OBJ_FAILED) {
        list_add(o);
        advance(o);
    }
    obj_unref(o);
}

/* Queue a kick unless one is pending; `force` for finish and abort, which must always get through. */
static void kick(ug_s3_object_t *o, bool force)
{
    pthread_mutex_lock(&o->mu);
    bool send = force || !o->kicked;
    o->kicked = true;
    pthread_mutex_unlock(&o->mu);
    if (!send)
        return;
    obj_cmd_t *cmd = calloc(1, sizeof(*cmd));
    if (cmd == NULL)
        return; /* out of memory: the object stays as it is until the caller's deadline aborts it */
    atomic_fetch_add(&o->refs, 1);
    cmd->base.run = run_kick;
    cmd->o = o;
    ug_s3_client_post(o->c, &cmd->base);
}

ug_s3_object_t *ug_s3_object_begin(ug_s3_client_t *c, ug_s3_inbox_t *inbox, ug_s3_marker_t *marker, const char *key,
                                   const char *content_type, void (*on_ready)(void *arg), void *arg)
{
    ug_s3_object_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    atomic_init(&o->refs, 1);
    ug_s3_object_join(o, marker);
    o->c = c;
    o->inbox = inbox;
    o->on_ready = on_ready;
    o->ready_arg = arg;
    pthread_mutex_init(&o->mu, NULL);
    o->key = strdup(key);
    o->content_type = content_type != NULL ? strdup(content_type) : NULL;
    o->sha = EVP_MD_CTX_new();
    if (o->key == NULL || (content_type != NULL && o->content_type == NULL) || o->sha == NULL ||
        EVP_DigestInit_ex(o->sha, EVP_sha256(), NULL) != 1) {
        obj_unref(o);
        return NULL;
    }
    return o;
}

void ug_s3_object_join(ug_s3_object_t *o, ug_s3_marker_t *marker)
{
    /* before any kick: the S3 thread reads o->marker only after taking a command, which the queue's mutex orders */
    if (marker == NULL || o->marker != NULL)
        return;
    ug_s3_marker_ref(marker);
    o->marker = marker;
}

/* [mu held] The object fails: too big, out of memory. */
static void fail_write_locked(ug_s3_object_t *o, const char *message)
{
    o->failed = true;
    o->err = UG_ERR_STORE_FAILED;
    snprintf(o->message, sizeof(o->message), "%s", message);
}

/* [mu held] Append `len` bytes to the fill buffers, mapping a new part_size one whenever the last is full (the S3
 * thread only takes full buffers off the front while the loop writes: the last one is the writer's). */
static void append_locked(ug_s3_object_t *o, const char *buf, size_t len)
{
    const ug_s3_config_t *cfg = &o->c->cfg;
    if (o->size + len > ug_s3_config_max_object(cfg)) {
        char message[sizeof(o->message)];
        snprintf(message, sizeof(message), "the file exceeds the largest object the store takes: %u parts of %llu bytes",
                 (unsigned)cfg->max_parts, (unsigned long long)cfg->part_size);
        fail_write_locked(o, message);
        return;
    }
    while (len > 0) {
        part_t *t = o->fill_tail;
        if (t == NULL || t->len == t->cap) {
            if ((t = calloc(1, sizeof(*t))) == NULL || (t->buf = part_buf_new(cfg->part_size)) == NULL) {
                free(t);
                fail_write_locked(o, "out of memory");
                return;
            }
            t->o = o;
            t->cap = cfg->part_size;
            if (o->fill_tail != NULL)
                o->fill_tail->next = t;
            else
                o->fill = t;
            o->fill_tail = t;
        }
        size_t n = t->cap - t->len < len ? t->cap - t->len : len;
        memcpy(t->buf + t->len, buf, n);
        t->len += n;
        o->fill_len += n;
        o->size += n;
        buf += n;
        len -= n;
    }
}

ug_s3_write_result_t ug_s3_object_write(ug_s3_object_t *o, const char *buf, size_t len)
{
    const ug_s3_config_t *cfg = &o->c->cfg;
    pthread_mutex_lock(&o->mu);
    if (!o->failed)
        append_locked(o, buf, len);
    if (o->failed) {
        pthread_mutex_unlock(&o->mu);
        kick(o, false); /* the engine cancels what is in flight */
        return UG_S3_WRITE_FAILED;
    }
    size_t waiting = waiting_parts(o->fill_len, cfg->part_size);
    bool pause = o->in_flight + waiting > cfg->parts_in_flight;
    if (pause)
        o->paused = true;
    pthread_mutex_unlock(&o->mu);
    if (waiting > 0)
        kick(o, false);
    return pause ? UG_S3_WRITE_PAUSE : UG_S3_WRITE_MORE;
}

uint64_t ug_s3_object_size(const ug_s3_object_t *o)
{
    ug_s3_object_t *m = (ug_s3_object_t *)o;
    pthread_mutex_lock(&m->mu);
    uint64_t size = m->size;
    pthread_mutex_unlock(&m->mu);
    return size;
}

ug_err_t ug_s3_object_error(const ug_s3_object_t *o, const char **message)
{
    ug_s3_object_t *m = (ug_s3_object_t *)o;
    pthread_mutex_lock(&m->mu);
    ug_err_t err = m->failed ? m->err : UG_OK;
    pthread_mutex_unlock(&m->mu);
    if (message != NULL)
        *message = err != UG_OK ? m->message : NULL; /* written once, before failed was set */
    return err;
}

void ug_s3_object_finish(ug_s3_object_t *o, void (*on_done)(void *arg, const ug_s3_object_done_t *d), void *arg)
{
    pthread_mutex_lock(&o->mu);
    o->on_done = on_done;
    o->done_arg = arg;
    o->finishing = true;
    pthread_mutex_unlock(&o->mu);
    kick(o, true);
}

void ug_s3_object_release(ug_s3_object_t *o)
{
    if (o != NULL)
        obj_unref(o);
}

void ug_s3_object_abort(ug_s3_object_t *o)
{
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->mu);
    o->aborted = true;
    pthread_mutex_unlock(&o->mu);
    kick(o, true);
    obj_unref(o); /* the kick holds its own reference until the engine has taken the object */
}
