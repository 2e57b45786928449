/*
 * test_delim_find.c - ug_delim_find against a plain byte-by-byte search: needles of every delimiter length at every
 * offset modulo the 16-byte block, at the very start and end of the haystack, cut off by its end, near misses
 * (first and last byte right, middle wrong), several occurrences (the first wins), and random haystacks.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upload/multipart/delim_find.h"

static size_t naive(const char *h, size_t len, const char *n, size_t nlen)
{
    if (nlen == 0 || len < nlen)
        return len;
    for (size_t i = 0; i + nlen <= len; ++i)
        if (memcmp(h + i, n, nlen) == 0)
            return i;
    return len;
}

/* A small deterministic generator (xorshift), so a failure names a reproducible case. */
static uint32_t rng = 2463534242u;
static unsigned char rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return (unsigned char)rng;
}

/* "\r\n--" then boundary characters: what the multipart parser searches for. */
static void make_delim(char *d, size_t nlen)
{
    static const char bchars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'()+_,-./:=?";
    memcpy(d, "\r\n--", nlen < 4 ? nlen : 4);
    for (size_t i = 4; i < nlen; ++i)
        d[i] = bchars[rnd() % (sizeof(bchars) - 1)];
}

Test(delim_find, finds_a_needle_at_every_offset_and_length)
{
    char hay[300], d[80];
    for (size_t nlen = 2; nlen <= 74; nlen += (nlen < 20 ? 1 : 9)) {
        make_delim(d, nlen);
        for (size_t at = 0; at + nlen <= sizeof(hay); ++at) {
            memset(hay, 'x', sizeof(hay));
            memcpy(hay + at, d, nlen);
            size_t got = ug_delim_find(hay, sizeof(hay), d, nlen);
            cr_assert_eq(got, at, "needle of %zu bytes at %zu: found at %zu", nlen, at, got);
            /* the same haystack cut right after the needle: it still fits, exactly */
            cr_assert_eq(ug_delim_find(hay, at + nlen, d, nlen), at, "needle ending the haystack, %zu bytes at %zu", nlen, at);
            /* cut one byte short: a needle cut off by the end is not an occurrence */
            cr_assert_eq(ug_delim_find(hay, at + nlen - 1, d, nlen), at + nlen - 1, "cut-off needle of %zu bytes reported", nlen);
        }
    }
}

Test(delim_find, rejects_near_misses_and_reports_the_first_of_several)
{
    char hay[512], d[40];
    make_delim(d, sizeof(d));
    memset(hay, 'x', sizeof(hay));
    /* first and last byte right everywhere the vector test looks, one middle byte wrong */
    for (size_t at = 0; at + sizeof(d) <= 200; at += sizeof(d)) {
        memcpy(hay + at, d, sizeof(d));
        hay[at + 1 + at % (sizeof(d) - 2)] ^= 1;
    }
    cr_assert_eq(ug_delim_find(hay, sizeof(hay), d, sizeof(d)), sizeof(hay), "a near miss was reported as a match");
    memcpy(hay + 333, d, sizeof(d));
    memcpy(hay + 401, d, sizeof(d));
    cr_assert_eq(ug_delim_find(hay, sizeof(hay), d, sizeof(d)), 333);
    memcpy(hay + 250, d, sizeof(d));
    cr_assert_eq(ug_delim_find(hay, sizeof(hay), d, sizeof(d)), 250);
}

Test(delim_find, empty_and_short_inputs)
{
    cr_assert_eq(ug_delim_find("", 0, "\r\n--b", 5), 0);
    cr_assert_eq(ug_delim_find("\r\n--", 4, "\r\n--b", 5), 4);
    cr_assert_eq(ug_delim_find("abc", 3, "", 0), 3);
    cr_assert_eq(ug_delim_find("abc", 3, "c", 1), 2);
    cr_assert_eq(ug_delim_find("\r\n--b", 5, "\r\n--b", 5), 0);
}

Test(delim_find, agrees_with_a_plain_search_on_random_data)
{
    /* A small alphabet makes partial matches (and first+last byte hits) frequent. */
    static char hay[4096];
    char d[24];
    for (int round = 0; round < 400; ++round) {
        size_t nlen = 2 + rnd() % 22, len = rnd() * 16u + rnd() % 16u;
        for (size_t i = 0; i < nlen; ++i)
            d[i] = "\r\n-ab"[rnd() % 5];
        for (size_t i = 0; i < len; ++i)
            hay[i] = "\r\n-ab"[rnd() % 5];
        if (round % 3 == 0 && len >= nlen) /* make sure some rounds do contain it */
            memcpy(hay + rnd() % (len - nlen + 1), d, nlen);
        size_t want = naive(hay, len, d, nlen), got = ug_delim_find(hay, len, d, nlen);
        cr_assert_eq(got, want, "round %d: len %zu, needle %zu bytes: got %zu, want %zu", round, len, nlen, got, want);
    }
}
