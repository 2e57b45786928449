/*
 * test_strbuf.c - the growable string: exact content and length after many
 * appends, NUL termination at every step, n == 0 with NULL, printf of text far
 * longer than the spare room, the sticky failure (reached through the size
 * overflow check, so no allocation has to fail), and take/free.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"

Test(strbuf, starts_empty_and_unallocated)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    cr_assert_null(b.p);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    cr_assert_eq(b.failed, 0);
    ug_strbuf_free(&b); /* freeing an unused buffer is fine */
    cr_assert_null(b.p);
}

Test(strbuf, put_zero_bytes_from_null_appends_nothing)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    ug_strbuf_put(&b, NULL, 0);
    cr_assert_null(b.p, "n == 0 must not allocate");
    cr_assert_eq(b.len, 0);
    ug_strbuf_puts(&b, "ab");
    ug_strbuf_put(&b, NULL, 0);
    ug_strbuf_puts(&b, "");
    cr_assert_eq(b.len, 2);
    cr_assert_str_eq(b.p, "ab");
    cr_assert_eq(b.failed, 0);
    ug_strbuf_free(&b);
}

Test(strbuf, put_copies_embedded_nul_bytes)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    ug_strbuf_put(&b, "a\0b", 3);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(memcmp(b.p, "a\0b\0", 4), 0);
    ug_strbuf_free(&b);
}

Test(strbuf, many_appends_grow_and_keep_every_byte)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    size_t reallocs = 0;
    char *last = NULL;
    size_t last_cap = 0;

    for (size_t i = 0; i < 100000; ++i) {
        char c = (char)('a' + i % 26);
        ug_strbuf_put(&b, &c, 1);
        cr_assert_eq(b.len, i + 1);
        cr_assert_lt(b.len, b.cap, "no room for the NUL at %zu", i);
        cr_assert_eq(b.p[b.len], '\0');
        if (b.cap != last_cap || b.p != last) {
            ++reallocs;
            last = b.p;
            last_cap = b.cap;
        }
    }
    for (size_t i = 0; i < 100000; ++i)
        cr_assert_eq(b.p[i], (char)('a' + i % 26), "byte %zu", i);
    /* Doubling: 64 -> 128 -> ... -> 131072 is 12 allocations, not one per append. */
    cr_assert_leq(reallocs, 12, "%zu allocations", reallocs);
    cr_assert_eq(strlen(b.p), 100000);
    ug_strbuf_free(&b);
}

Test(strbuf, mixed_appends_exact_text)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    ug_strbuf_puts(&b, "{");
    for (int i = 0; i < 1000; ++i)
        ug_strbuf_printf(&b, "%s\"k%d\":%d", i != 0 ? "," : "", i, -i);
    ug_strbuf_put(&b, "}xyz", 1);

    char *expected = malloc(20000), *q = expected;
    q += sprintf(q, "{");
    for (int i = 0; i < 1000; ++i)
        q += sprintf(q, "%s\"k%d\":%d", i != 0 ? "," : "", i, -i);
    q += sprintf(q, "}");
    cr_assert_eq(b.len, (size_t)(q - expected));
    cr_assert_str_eq(b.p, expected);
    free(expected);
    ug_strbuf_free(&b);
}

Test(strbuf, printf_longer_than_the_spare_room)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    char *big = malloc(10001);
    memset(big, 'x', 10000);
    big[10000] = '\0';

    ug_strbuf_puts(&b, "head:"); /* a first, small allocation: the printf below cannot fit in it */
    size_t cap_before = b.cap;
    ug_strbuf_printf(&b, "[%s|%d]", big, 42);
    cr_assert_gt(b.cap, cap_before);
    cr_assert_eq(b.len, 5 + 1 + 10000 + 4);
    cr_assert_eq(memcmp(b.p, "head:[", 6), 0);
    cr_assert_eq(strspn(b.p + 6, "x"), 10000);
    cr_assert_str_eq(b.p + 10006, "|42]");
    /* And once more where it does fit: no reallocation, exact text. */
    ug_strbuf_reserve(&b, 100);
    char *p = b.p;
    ug_strbuf_printf(&b, "%05u", 7u);
    cr_assert_eq(b.p, p);
    cr_assert_str_eq(b.p + 10010, "00007");
    cr_assert_eq(b.len, 10015);
    free(big);
    ug_strbuf_free(&b);
}

Test(strbuf, printf_first_append_and_empty_result)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    ug_strbuf_printf(&b, "%s", "");
    cr_assert_eq(b.len, 0);
    ug_strbuf_printf(&b, "%d-%s", 12, "ab");
    cr_assert_str_eq(b.p, "12-ab");
    cr_assert_eq(b.len, 5);
    ug_strbuf_free(&b);
}

Test(strbuf, reserve_sizes_up_front)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    cr_assert_eq(ug_strbuf_reserve(&b, 1000), 0);
    cr_assert_geq(b.cap, 1001);
    cr_assert_str_eq(b.p, "", "a fresh allocation reads as the empty string");
    char *p = b.p;
    for (int i = 0; i < 100; ++i)
        ug_strbuf_puts(&b, "0123456789");
    cr_assert_eq(b.p, p, "1000 reserved bytes took a reallocation");
    cr_assert_eq(b.len, 1000);
    ug_strbuf_free(&b);
}

Test(strbuf, overflow_fails_stickily_and_keeps_content)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    ug_strbuf_puts(&b, "kept");
    cr_assert_eq(ug_strbuf_reserve(&b, SIZE_MAX - 4), -1); /* 4 + (SIZE_MAX - 4) + 1 overflows */
    cr_assert_eq(b.failed, 1);
    cr_assert_str_eq(b.p, "kept");

    ug_strbuf_puts(&b, "more");
    ug_strbuf_printf(&b, "%d", 1);
    ug_strbuf_put(&b, "x", 1);
    cr_assert_eq(ug_strbuf_reserve(&b, 0), -1, "failure is sticky");
    cr_assert_eq(b.len, 4);
    cr_assert_str_eq(b.p, "kept");

    size_t len = 99;
    cr_assert_null(ug_strbuf_take(&b, &len));
    cr_assert_eq(len, 99, "len is untouched on failure");
    cr_assert_null(b.p);
    cr_assert_eq(b.failed, 0, "take leaves the buffer empty and reusable");
    ug_strbuf_puts(&b, "again");
    cr_assert_str_eq(b.p, "again");
    ug_strbuf_free(&b);
}

Test(strbuf, take_hands_over_the_string)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    size_t len = 0;
    ug_strbuf_puts(&b, "hello ");
    ug_strbuf_printf(&b, "%s", "world");
    char *s = ug_strbuf_take(&b, &len);
    cr_assert_str_eq(s, "hello world");
    cr_assert_eq(len, 11);
    cr_assert_null(b.p);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    free(s);

    s = ug_strbuf_take(&b, NULL); /* len may be NULL */
    cr_assert_not_null(s);
    cr_assert_str_eq(s, "", "nothing appended: an empty string, not NULL");
    free(s);
}

Test(strbuf, free_releases_and_resets)
{
    ug_strbuf_t b = UG_STRBUF_INIT;
    ug_strbuf_puts(&b, "abc");
    ug_strbuf_free(&b);
    cr_assert_null(b.p);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    ug_strbuf_free(&b); /* twice is fine */
}
