/*
 * metrics.c - see metrics.h.
 *
 * Two kinds of state: scalars (gauges and unlabelled counters), each one C11
 * atomic so the hot begin/set calls never lock; and labelled families, each a
 * sorted growable array of series behind the registry's one mutex. Keeping the
 * arrays sorted on insert (binary search + memmove, rare: a new label set) makes
 * lookups O(log n) and rendering a plain walk in a stable order.
 */
#include "common/metrics.h"

#include "common/strbuf.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 2
/* Bytes the /metrics text starts with: a fresh registry renders ~2 KiB, so a quiet server's page takes one allocation. */
#define RENDER_RESERVE 4096

/* ---- the families, in rendering order ---- */

enum scalar_id {
    S_READY,
    S_IN_FLIGHT,
    S_CONNECTIONS,
    S_STORAGE_FREE,
    S_JANITOR_DIRS,
    S_JANITOR_PARTS,
    S_RESUMABLE_EXPIRED,
    S_S3_UP, /* from here on: rendered only once object storage is enabled (ug_metrics_s3_enable) */
    S_S3_BYTES,
    S_S3_PARTS,
    S_S3_RETRIES,
    S_S3_ABORTS,
    S_S3_SWEPT,
    S__COUNT
};

struct scalar_def {
    const char *name, *help, *type;
};

static const struct scalar_def scalar_defs[S__COUNT] = {
    [S_READY] = {"uploadgate_ready", "Whether uploadgate accepts traffic (1) or not (0).", "gauge"},
    [S_IN_FLIGHT] = {"uploadgate_requests_in_flight", "Requests being served.", "gauge"},
    [S_CONNECTIONS] = {"uploadgate_connections", "Open client connections.", "gauge"},
    [S_STORAGE_FREE] = {"uploadgate_storage_free_bytes", "Bytes available to uploadgate on the storage filesystem.", "gauge"},
    [S_JANITOR_DIRS] = {"uploadgate_janitor_removed_dirs_total", "Abandoned upload directories removed by the janitor.", "counter"},
    [S_JANITOR_PARTS] = {"uploadgate_janitor_removed_parts_total", "Stale .part files removed by the janitor.", "counter"},
    [S_RESUMABLE_EXPIRED] = {"uploadgate_resumable_expired_total",
                             "Resumable uploads removed by the janitor after their expiry.", "counter"},
    [S_S3_UP] = {"uploadgate_s3_up", "Whether the object store answered its last probe (1) or not (0).", "gauge"},
    [S_S3_BYTES] = {"uploadgate_s3_sent_bytes_total", "Bytes the object store accepted (objects and parts).", "counter"},
    [S_S3_PARTS] = {"uploadgate_s3_sent_parts_total", "Multipart upload parts the object store accepted.", "counter"},
    [S_S3_RETRIES] = {"uploadgate_s3_retries_total", "Object store requests sent again after a transient failure.", "counter"},
    [S_S3_ABORTS] = {"uploadgate_s3_aborts_total",
                     "Objects removed after a failed or refused upload, and stale multipart uploads the sweep aborted.",
                     "counter"},
    [S_S3_SWEPT] = {"uploadgate_s3_swept_uploads_total", "Stale multipart uploads the janitor's sweep aborted.", "counter"},
};

enum family_id {
    F_REQUESTS,
    F_DURATION,
    F_UPLOAD_BYTES,
    F_UPLOAD_FILES,
    F_BACKEND_ERRORS,
    F_AUTH_FAILURES,
    F_RELOADS,
    F_S3_DURATION, /* rendered only once object storage is enabled */
    F__COUNT
};

struct family_def {
    const char *name, *help, *type;
    size_t nlabels;
    const char *labels[MAX_LABELS];
};

static const struct family_def family_defs[F__COUNT] = {
    [F_REQUESTS] = {"uploadgate_requests_total", "Requests served, by route and HTTP status.", "counter", 2, {"route", "code"}},
    [F_DURATION] = {"uploadgate_request_duration_seconds",
                    "Time from the request's start to the end of its response, by route.",
                    "histogram",
                    1,
                    {"route"}},
    [F_UPLOAD_BYTES] =
        {"uploadgate_upload_bytes_total", "Bytes of stored files handed to the app, by route.", "counter", 1, {"route"}},
    [F_UPLOAD_FILES] = {"uploadgate_upload_files_total", "Stored files handed to the app, by route.", "counter", 1, {"route"}},
    [F_BACKEND_ERRORS] = {"uploadgate_backend_errors_total", "Failed exchanges with the app, by reason.", "counter", 1, {"reason"}},
    [F_AUTH_FAILURES] =
        {"uploadgate_auth_failures_total", "Requests refused for their credentials, by reason.", "counter", 1, {"reason"}},
    [F_RELOADS] = {"uploadgate_config_reloads_total", "Configuration reloads, by result.", "counter", 1, {"result"}},
    [F_S3_DURATION] = {"uploadgate_s3_request_duration_seconds",
                       "Time of each object store request (one attempt), by operation.",
                       "histogram",
                       1,
                       {"operation"}},
};

static const double bucket_bounds[UG_METRICS_BUCKET_COUNT] = {UG_METRICS_BUCKETS};
/* Written out rather than formatted, so `le` reads exactly as documented (e.g. "1", not "1.0"). */
static const char *const bucket_text[UG_METRICS_BUCKET_COUNT] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
                                                                 "2.5",   "5",    "10",    "30",   "60",  "120",  "300"};

/* ---- the registry ---- */

struct hist {
    uint64_t buckets[UG_METRICS_BUCKET_COUNT + 1]; /* per bucket, not cumulative; the last one is (300, +Inf) */
    uint64_t count;
    double sum;
};

struct series {
    char *values[MAX_LABELS]; /* owned copies; the family's nlabels are set */
    uint64_t value;           /* counters */
    struct hist *hist;        /* histogram families only */
};

struct family {
    struct series *v; /* sorted by values */
    size_t len, cap;
};

struct ug_metrics {
    _Atomic uint64_t scalars[S__COUNT]; /* S_IN_FLIGHT holds an int64_t in two's complement */
    _Atomic int s3;                     /* object storage is enabled: render its families */
    pthread_mutex_t lock;               /* guards families */
    struct family families[F__COUNT];
};

/* ---- series lookup (lock held) ---- */

static int compare_values(char *const *a, const char *const *b, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        int c = strcmp(a[i], b[i]);
        if (c != 0)
            return c;
    }
    return 0;
}

static void series_clear(struct series *s)
{
    for (size_t i = 0; i < MAX_LABELS; ++i)
        free(s->values[i]);
    free(s->hist);
}

/* A fresh series holding copies of values; 0 or -1 on OOM (s is then left clear). */
static int series_init(struct series *s, enum family_id id, const char *const *values)
{
    *s = (struct series){0};
    for (size_t i = 0; i < family_defs[id].nlabels; ++i) {
        if ((s->values[i] = strdup(values[i])) == NULL)
            goto fail;
    }
    if (strcmp(family_defs[id].type, "histogram") == 0 && (s->hist = calloc(1, sizeof(*s->hist))) == NULL)
        goto fail;
    return 0;
fail:
    series_clear(s);
    return -1;
}

/* The series of `values` in family `id`, created when new; NULL on OOM. Valid until the next insert into that family. */
static struct series *series_get(ug_metrics_t *m, enum family_id id, const char *const *values)
{
    struct family *f = &m->families[id];
    size_t lo = 0, hi = f->len, n = family_defs[id].nlabels;
    struct series fresh;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare_values(f->v[mid].values, values, n);
        if (c == 0)
            return &f->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (f->len == f->cap) {
        size_t cap = f->cap != 0 ? 2 * f->cap : 8;
        struct series *v = realloc(f->v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        f->v = v;
        f->cap = cap;
    }
    if (series_init(&fresh, id, values) != 0)
        return NULL;
    memmove(&f->v[lo + 1], &f->v[lo], (f->len - lo) * sizeof(*f->v));
    f->v[lo] = fresh;
    f->len++;
    return &f->v[lo];
}

/* counter{values} += n; dropped on OOM. Lock held. */
static void counter_add(ug_metrics_t *m, enum family_id id, const char *const *values, uint64_t n)
{
    struct series *s = series_get(m, id, values);
    if (s != NULL)
        s->value += n;
}

static void hist_observe(struct hist *h, double v)
{
    size_t i = 0;
    while (i < UG_METRICS_BUCKET_COUNT && v > bucket_bounds[i])
        ++i;
    h->buckets[i]++;
    h->count++;
    h->sum += v;
}

/* Labelled updates: lock, add, unlock. */
static void labelled_add(ug_metrics_t *m, enum family_id id, const char *value, uint64_t n)
{
    const char *values[MAX_LABELS] = {value != NULL ? value : ""};
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    counter_add(m, id, values, n);
    pthread_mutex_unlock(&m->lock);
}

/* ---- public updates ---- */

ug_metrics_t *ug_metrics_new(void)
{
    ug_metrics_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    for (size_t i = 0; i < S__COUNT; ++i)
        atomic_init(&m->scalars[i], 0);
    atomic_init(&m->s3, 0);
    /* The result set is closed and small: both series exist from the start, so rate() sees the first failure. */
    const char *const failure[] = {"failure"}, *const success[] = {"success"};
    if (series_get(m, F_RELOADS, failure) == NULL || series_get(m, F_RELOADS, success) == NULL) {
        ug_metrics_free(m);
        return NULL;
    }
    return m;
}

void ug_metrics_free(ug_metrics_t *m)
{
    if (m == NULL)
        return;
    for (size_t f = 0; f < F__COUNT; ++f) {
        for (size_t i = 0; i < m->families[f].len; ++i)
            series_clear(&m->families[f].v[i]);
        free(m->families[f].v);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void ug_metrics_request_begin(ug_metrics_t *m)
{
    if (m != NULL)
        atomic_fetch_add_explicit(&m->scalars[S_IN_FLIGHT], 1, memory_order_relaxed);
}

void ug_metrics_request_end(ug_metrics_t *m, const char *route, int status, double duration_s, int is_upload, uint64_t upload_bytes,
                            uint64_t files)
{
    char code[16];
    struct series *s;

    if (m == NULL)
        return;
    /* Unsigned wrap-around is the two's complement decrement the signed rendering expects. */
    atomic_fetch_sub_explicit(&m->scalars[S_IN_FLIGHT], 1, memory_order_relaxed);
    if (route == NULL)
        route = "";
    if (!(duration_s >= 0.0) || isinf(duration_s)) /* NaN, negative (clock stepped back), infinite */
        duration_s = 0.0;
    snprintf(code, sizeof(code), "%d", status);
    const char *const by_route_code[] = {route, code}, *const by_route[] = {route};

    pthread_mutex_lock(&m->lock);
    counter_add(m, F_REQUESTS, by_route_code, 1);
    if ((s = series_get(m, F_DURATION, by_route)) != NULL)
        hist_observe(s->hist, duration_s);
    if (is_upload) {
        counter_add(m, F_UPLOAD_BYTES, by_route, upload_bytes);
        counter_add(m, F_UPLOAD_FILES, by_route, files);
    }
    pthread_mutex_unlock(&m->lock);
}

void ug_metrics_backend_error(ug_metrics_t *m, const char *reason)
{
    labelled_add(m, F_BACKEND_ERRORS, reason, 1);
}

void ug_metrics_auth_failure(ug_metrics_t *m, const char *reason)
{
    labelled_add(m, F_AUTH_FAILURES, reason, 1);
}

void ug_metrics_reload(ug_metrics_t *m, int ok)
{
    labelled_add(m, F_RELOADS, ok ? "success" : "failure", 1);
}

void ug_metrics_janitor(ug_metrics_t *m, uint64_t dirs_removed, uint64_t parts_removed)
{
    if (m == NULL)
        return;
    atomic_fetch_add_explicit(&m->scalars[S_JANITOR_DIRS], dirs_removed, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->scalars[S_JANITOR_PARTS], parts_removed, memory_order_relaxed);
}

void ug_metrics_resumable_expired(ug_metrics_t *m, uint64_t removed)
{
    if (m != NULL)
        atomic_fetch_add_explicit(&m->scalars[S_RESUMABLE_EXPIRED], removed, memory_order_relaxed);
}

void ug_metrics_s3_enable(ug_metrics_t *m)
{
    if (m != NULL)
        atomic_store(&m->s3, 1);
}

static void scalar_add(ug_metrics_t *m, enum scalar_id id, uint64_t n)
{
    if (m != NULL)
        atomic_fetch_add_explicit(&m->scalars[id], n, memory_order_relaxed);
}

void ug_metrics_s3_sent(ug_metrics_t *m, uint64_t bytes, uint64_t parts)
{
    scalar_add(m, S_S3_BYTES, bytes);
    scalar_add(m, S_S3_PARTS, parts);
}

void ug_metrics_s3_retry(ug_metrics_t *m)
{
    scalar_add(m, S_S3_RETRIES, 1);
}

void ug_metrics_s3_abort(ug_metrics_t *m)
{
    scalar_add(m, S_S3_ABORTS, 1);
}

void ug_metrics_s3_swept(ug_metrics_t *m, uint64_t aborted)
{
    scalar_add(m, S_S3_SWEPT, aborted);
}

void ug_metrics_s3_request(ug_metrics_t *m, const char *operation, double duration_s)
{
    const char *const values[MAX_LABELS] = {operation != NULL ? operation : ""};
    struct series *s;
    if (m == NULL)
        return;
    if (!(duration_s >= 0.0) || isinf(duration_s))
        duration_s = 0.0;
    pthread_mutex_lock(&m->lock);
    if ((s = series_get(m, F_S3_DURATION, values)) != NULL)
        hist_observe(s->hist, duration_s);
    pthread_mutex_unlock(&m->lock);
}

static void scalar_set(ug_metrics_t *m, enum scalar_id id, uint64_t v)
{
    if (m != NULL)
        atomic_store_explicit(&m->scalars[id], v, memory_order_relaxed);
}

void ug_metrics_set_storage_free(ug_metrics_t *m, uint64_t bytes)
{
    scalar_set(m, S_STORAGE_FREE, bytes);
}

void ug_metrics_set_connections(ug_metrics_t *m, uint64_t n)
{
    scalar_set(m, S_CONNECTIONS, n);
}

void ug_metrics_set_s3_up(ug_metrics_t *m, int up)
{
    scalar_set(m, S_S3_UP, up != 0);
}

void ug_metrics_set_ready(ug_metrics_t *m, int ready)
{
    scalar_set(m, S_READY, ready != 0);
}

/* ---- text output ---- */

/* A label value as the exposition format wants it: \ " and newline escaped, every other byte as is. */
static void put_label_value(ug_strbuf_t *b, const char *s)
{
    for (; *s != '\0'; ++s) {
        if (*s == '\\')
            ug_strbuf_puts(b, "\\\\");
        else if (*s == '"')
            ug_strbuf_puts(b, "\\\"");
        else if (*s == '\n')
            ug_strbuf_puts(b, "\\n");
        else
            ug_strbuf_put(b, s, 1);
    }
}

/* Finite v has no fraction. Written without libm (trunc), which ugcore does not link. */
static int is_integral(double v)
{
    double magnitude = v < 0 ? -v : v;
    if (magnitude >= 9007199254740992.0) /* 2^53: from here on every double is an integer */
        return 1;
    return v == (double)(int64_t)v;
}

/* A float sample value: shortest %g that reads back to the same double; integral values in full, never 1e+20. */
static void put_double(ug_strbuf_t *b, double v)
{
    char tmp[400]; /* %.0f of DBL_MAX is 309 digits */
    if (isnan(v)) {
        ug_strbuf_puts(b, "NaN");
    } else if (isinf(v)) {
        ug_strbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
    } else if (is_integral(v)) {
        snprintf(tmp, sizeof(tmp), "%.0f", v);
        ug_strbuf_puts(b, tmp);
    } else {
        for (int prec = 15; prec <= 17; ++prec) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
        ug_strbuf_puts(b, tmp);
    }
}

static void put_family_header(ug_strbuf_t *b, const char *name, const char *help, const char *type)
{
    ug_strbuf_puts(b, "# HELP ");
    ug_strbuf_puts(b, name);
    ug_strbuf_puts(b, " ");
    ug_strbuf_puts(b, help);
    ug_strbuf_puts(b, "\n# TYPE ");
    ug_strbuf_puts(b, name);
    ug_strbuf_puts(b, " ");
    ug_strbuf_puts(b, type);
    ug_strbuf_puts(b, "\n");
}

/* `name[suffix]{labels[,le="..."]} ` - the sample line up to its value. */
static void put_sample_start(ug_strbuf_t *b, const struct family_def *d, const char *suffix, const struct series *s, const char *le)
{
    ug_strbuf_puts(b, d->name);
    ug_strbuf_puts(b, suffix);
    if (d->nlabels == 0 && le == NULL) {
        ug_strbuf_puts(b, " ");
        return;
    }
    ug_strbuf_puts(b, "{");
    for (size_t i = 0; i < d->nlabels; ++i) {
        ug_strbuf_puts(b, i != 0 ? "," : "");
        ug_strbuf_puts(b, d->labels[i]);
        ug_strbuf_puts(b, "=\"");
        put_label_value(b, s->values[i]);
        ug_strbuf_puts(b, "\"");
    }
    if (le != NULL) {
        ug_strbuf_puts(b, d->nlabels != 0 ? ",le=\"" : "le=\"");
        ug_strbuf_puts(b, le);
        ug_strbuf_puts(b, "\"");
    }
    ug_strbuf_puts(b, "} ");
}

static void put_u64_line(ug_strbuf_t *b, uint64_t v)
{
    ug_strbuf_printf(b, "%" PRIu64 "\n", v);
}

static void render_histogram_series(ug_strbuf_t *b, const struct family_def *d, const struct series *s)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i < UG_METRICS_BUCKET_COUNT; ++i) {
        cumulative += s->hist->buckets[i];
        put_sample_start(b, d, "_bucket", s, bucket_text[i]);
        put_u64_line(b, cumulative);
    }
    put_sample_start(b, d, "_bucket", s, "+Inf");
    put_u64_line(b, s->hist->count);
    put_sample_start(b, d, "_sum", s, NULL);
    put_double(b, s->hist->sum);
    ug_strbuf_puts(b, "\n");
    put_sample_start(b, d, "_count", s, NULL);
    put_u64_line(b, s->hist->count);
}

/* Lock held. */
static void render_family(ug_strbuf_t *b, const ug_metrics_t *m, enum family_id id)
{
    const struct family_def *d = &family_defs[id];
    const struct family *f = &m->families[id];
    put_family_header(b, d->name, d->help, d->type);
    for (size_t i = 0; i < f->len; ++i) {
        if (f->v[i].hist != NULL) {
            render_histogram_series(b, d, &f->v[i]);
        } else {
            put_sample_start(b, d, "", &f->v[i], NULL);
            put_u64_line(b, f->v[i].value);
        }
    }
}

static void render_scalar(ug_strbuf_t *b, ug_metrics_t *m, enum scalar_id id)
{
    const struct scalar_def *d = &scalar_defs[id];
    uint64_t v = atomic_load_explicit(&m->scalars[id], memory_order_relaxed);
    put_family_header(b, d->name, d->help, d->type);
    ug_strbuf_puts(b, d->name);
    if (id == S_IN_FLIGHT) /* signed, see ug_metrics_request_end */
        ug_strbuf_printf(b, " %" PRId64 "\n", (int64_t)v);
    else
        ug_strbuf_printf(b, " %" PRIu64 "\n", v);
}

char *ug_metrics_render(ug_metrics_t *m, const char *version, size_t *len)
{
    ug_strbuf_t b = UG_STRBUF_INIT;

    if (m == NULL)
        return NULL;
    ug_strbuf_reserve(&b, RENDER_RESERVE);
    put_family_header(&b, "uploadgate_build_info", "Build information; the value is always 1.", "gauge");
    ug_strbuf_puts(&b, "uploadgate_build_info{version=\"");
    put_label_value(&b, version != NULL ? version : "");
    ug_strbuf_puts(&b, "\"} 1\n");
    int s3 = atomic_load(&m->s3);
    for (size_t i = 0; i < (s3 ? S__COUNT : S_S3_UP); ++i)
        render_scalar(&b, m, (enum scalar_id)i);

    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < (s3 ? F__COUNT : F_S3_DURATION); ++i)
        render_family(&b, m, (enum family_id)i);
    pthread_mutex_unlock(&m->lock);

    return ug_strbuf_take(&b, len);
}
