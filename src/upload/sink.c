/*
 * upload/sink.c - the sink's calls (see sink.h), and the local sink: storage.h's upload directory, a file per part,
 * each finished (and reported) before ug_sink_file_finish returns.
 */
#include "upload/sink.h"

#include <stdlib.h>

#include "upload/storage.h"

ug_err_t ug_sink_file_begin(ug_sink_t *s, const char *content_type, ug_sink_file_t **out, unsigned *index_out)
{
    return s->ops->file_begin(s, content_type, out, index_out);
}

ug_err_t ug_sink_file_write(ug_sink_file_t *f, const char *buf, size_t len, const char **message)
{
    *message = NULL;
    return f->sink->ops->file_write(f, buf, len, message);
}

uint64_t ug_sink_file_size(const ug_sink_file_t *f)
{
    return f->sink->ops->file_size(f);
}

void ug_sink_file_finish(ug_sink_file_t *f, ug_sink_stored_cb cb, void *arg)
{
    f->sink->ops->file_finish(f, cb, arg);
}

ug_err_t ug_sink_file_adopt(ug_sink_t *s, int from_dir_fd, const char *from_name, uint64_t size, unsigned *index_out)
{
    return s->ops->file_adopt(s, from_dir_fd, from_name, size, index_out);
}

void ug_sink_set_on_ready(ug_sink_t *s, void (*on_ready)(void *arg), void *arg)
{
    s->on_ready = on_ready;
    s->on_ready_arg = arg;
}

int ug_sink_blocked(const ug_sink_t *s)
{
    return s->ops->blocked(s);
}

void ug_sink_seal(ug_sink_t *s, ug_sink_sealed_cb cb, void *arg)
{
    s->ops->seal(s, cb, arg);
}

ug_err_t ug_sink_hand_off(ug_sink_t *s)
{
    return s->ops->hand_off(s);
}

void ug_sink_release(ug_sink_t *s)
{
    if (s != NULL)
        s->ops->release(s);
}

void ug_sink_abort(ug_sink_t *s)
{
    if (s != NULL)
        s->ops->abort(s);
}

/* ---- the local sink ---- */

typedef struct local_file {
    ug_sink_file_t super;
    ug_storage_file_t *file; /* the storage upload's; valid until it is freed */
    unsigned index;
    struct local_file *next; /* the wrappers, freed with the sink */
} local_file_t;

typedef struct local_sink {
    ug_sink_t super;
    ug_storage_upload_t *store;
    local_file_t *files;
} local_sink_t;

static void local_free(local_sink_t *ls)
{
    while (ls->files != NULL) {
        local_file_t *f = ls->files;
        ls->files = f->next;
        free(f);
    }
    free(ls);
}

static ug_err_t local_file_begin(ug_sink_t *s, const char *content_type, ug_sink_file_t **out, unsigned *index_out)
{
    local_sink_t *ls = (local_sink_t *)s;
    local_file_t *f = calloc(1, sizeof(*f));
    (void)content_type; /* the manifest carries it; a file has none */
    if (f == NULL)
        return UG_ERR_NOMEM;
    ug_err_t e = ug_storage_file_begin(ls->store, &f->file, &f->index);
    if (e != UG_OK) {
        free(f);
        return e;
    }
    f->super.sink = s;
    f->next = ls->files;
    ls->files = f;
    *index_out = f->index;
    *out = &f->super;
    return UG_OK;
}

static ug_err_t local_file_write(ug_sink_file_t *f, const char *buf, size_t len, const char **message)
{
    (void)message;
    return ug_storage_file_write(((local_file_t *)f)->file, buf, len);
}

static uint64_t local_file_size(const ug_sink_file_t *f)
{
    return ug_storage_file_size(((const local_file_t *)f)->file);
}

static void local_file_finish(ug_sink_file_t *f, ug_sink_stored_cb cb, void *arg)
{
    local_file_t *lf = (local_file_t *)f;
    char sha[UG_SHA256_HEX_LEN + 1];
    ug_sink_stored_t st = {.sha256_hex = sha};
    st.err = ug_storage_file_finish(lf->file, &st.size, sha);
    cb(arg, lf->index, &st);
}

static ug_err_t local_file_adopt(ug_sink_t *s, int from_dir_fd, const char *from_name, uint64_t size, unsigned *index_out)
{
    return ug_storage_file_adopt(((local_sink_t *)s)->store, from_dir_fd, from_name, size, index_out);
}

static int local_blocked(const ug_sink_t *s)
{
    (void)s; /* writes to the page cache never wait for a slot */
    return 0;
}

static void local_seal(ug_sink_t *s, ug_sink_sealed_cb cb, void *arg)
{
    (void)s; /* an upload directory is incoming until hand_off renames it: the janitor tells leftovers by age */
    cb(arg, UG_OK, NULL);
}

static ug_err_t local_hand_off(ug_sink_t *s)
{
    return ug_storage_upload_hand_off(((local_sink_t *)s)->store);
}

static void local_release(ug_sink_t *s)
{
    ug_storage_upload_release(((local_sink_t *)s)->store);
    local_free((local_sink_t *)s);
}

static void local_abort(ug_sink_t *s)
{
    ug_storage_upload_abort(((local_sink_t *)s)->store);
    local_free((local_sink_t *)s);
}

static const ug_sink_ops_t local_ops = {
    local_file_begin, local_file_write, local_file_size, local_file_finish, local_file_adopt,
    local_blocked,    local_seal,       local_hand_off,  local_release, local_abort,
};

ug_err_t ug_sink_begin_local(const char *root, ug_sink_t **out, char *id_out)
{
    local_sink_t *ls = calloc(1, sizeof(*ls));
    if (ls == NULL)
        return UG_ERR_NOMEM;
    ug_err_t e = ug_storage_upload_begin(root, &ls->store, id_out);
    if (e != UG_OK) {
        free(ls);
        return e;
    }
    ls->super.ops = &local_ops;
    *out = &ls->super;
    return UG_OK;
}
