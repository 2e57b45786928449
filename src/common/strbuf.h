/*
 * strbuf.h - a growable, NUL-terminated byte buffer for building text (log
 * lines, the /metrics page) with one error check at the end instead of one per
 * append. h2o-free.
 *
 * Sticky failure: when an allocation fails (or a size would overflow), `failed`
 * is set, the content is left as it was, and every later append is a no-op. The
 * caller builds the whole text and looks once, at ug_strbuf_take().
 *
 * Once anything has been allocated, p[len] is always '\0', so p can be read as a
 * C string; p may hold NUL bytes of its own (ug_strbuf_put copies bytes as is).
 * p is NULL until the first allocation.
 *
 * Ownership: the buffer owns p until ug_strbuf_take() hands it to the caller (who
 * frees it with free()) or ug_strbuf_free() releases it. Pointers into p stop
 * being valid at the next append, take or free. Not thread-safe: one buffer, one
 * thread at a time.
 */
#ifndef UG_COMMON_STRBUF_H
#define UG_COMMON_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct ug_strbuf {
    char *p;    /* NULL until the first allocation; then NUL-terminated at p[len] */
    size_t len; /* bytes of content, the NUL not counted */
    size_t cap; /* bytes allocated at p */
    int failed; /* set by the first failed allocation; sticky until take/free */
} ug_strbuf_t;

/* An empty buffer that has allocated nothing; a zeroed ug_strbuf_t is the same. */
#define UG_STRBUF_INIT {0}

/*
 * Room for `extra` more bytes (and the NUL) without another allocation; 0, or -1
 * with `failed` set. Also the way to size a buffer up front, e.g. to the usual
 * length of what it will hold, so that building it takes one allocation.
 */
int ug_strbuf_reserve(ug_strbuf_t *b, size_t extra);

/* Appends s[0..n). n == 0 appends nothing and allows s == NULL. */
void ug_strbuf_put(ug_strbuf_t *b, const char *s, size_t n);
/* Appends the NUL-terminated s (not NULL). */
void ug_strbuf_puts(ug_strbuf_t *b, const char *s);
/* Appends printf(fmt, ...), however long. An encoding error (vsnprintf < 0) appends nothing and does not fail b. */
void ug_strbuf_printf(ug_strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ug_strbuf_vprintf(ug_strbuf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/*
 * The content as a malloc'd NUL-terminated string the caller frees, its length
 * in *len (len may be NULL; untouched on failure); "" when nothing was appended.
 * NULL when b failed (or "" could not be allocated): the content is freed then.
 * Either way b is left empty (as UG_STRBUF_INIT) and may be reused.
 */
char *ug_strbuf_take(ug_strbuf_t *b, size_t *len);

/* Frees the content and leaves b empty (as UG_STRBUF_INIT), `failed` cleared. */
void ug_strbuf_free(ug_strbuf_t *b);

#endif
