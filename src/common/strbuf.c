/*
 * strbuf.c - see strbuf.h.
 */
#include "common/strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The smallest first allocation: a few short appends should not each realloc. */
#define MIN_CAP 64

int ug_strbuf_reserve(ug_strbuf_t *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->cap - b->len > extra) /* > keeps room for the NUL */
        return 0;
    if (extra >= SIZE_MAX - b->len) { /* len + extra + 1 would overflow */
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    /* Doubling keeps many small appends amortised O(1); `need` wins for one large append or an up-front reserve. */
    size_t cap = b->cap <= SIZE_MAX / 2 ? 2 * b->cap : SIZE_MAX;
    if (cap < MIN_CAP)
        cap = MIN_CAP;
    if (cap < need)
        cap = need;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    p[b->len] = '\0'; /* a first allocation must read as "" too */
    b->p = p;
    b->cap = cap;
    return 0;
}

void ug_strbuf_put(ug_strbuf_t *b, const char *s, size_t n)
{
    if (n == 0 || ug_strbuf_reserve(b, n) != 0) /* n == 0: s may be NULL, which memcpy must not see */
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ug_strbuf_puts(ug_strbuf_t *b, const char *s)
{
    ug_strbuf_put(b, s, strlen(s));
}

void ug_strbuf_vprintf(ug_strbuf_t *b, const char *fmt, va_list ap)
{
    va_list again;
    size_t room = b->cap - b->len; /* 0 while p is NULL: vsnprintf(NULL, 0) only measures */
    int n;

    if (b->failed)
        return;
    /* Format straight into the spare room; only when it is too small, grow and format a second time. */
    va_copy(again, ap);
    n = vsnprintf(room != 0 ? b->p + b->len : NULL, room, fmt, ap);
    if (n > 0 && (size_t)n >= room && ug_strbuf_reserve(b, (size_t)n) == 0)
        n = vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
    va_end(again);
    if (n > 0 && b->cap - b->len > (size_t)n) /* it fitted, in either attempt */
        b->len += (size_t)n;
    if (b->p != NULL) /* a failed attempt may have left a partial, terminated copy past len */
        b->p[b->len] = '\0';
}

void ug_strbuf_printf(ug_strbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ug_strbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *ug_strbuf_take(ug_strbuf_t *b, size_t *len)
{
    char *p = NULL;

    if (b->p == NULL)
        ug_strbuf_reserve(b, 0); /* nothing appended: still a string the caller can free */
    if (!b->failed) {
        p = b->p;
        b->p = NULL;
        if (len != NULL)
            *len = b->len;
    }
    ug_strbuf_free(b);
    return p;
}

void ug_strbuf_free(ug_strbuf_t *b)
{
    free(b->p);
    *b = (ug_strbuf_t)UG_STRBUF_INIT;
}
