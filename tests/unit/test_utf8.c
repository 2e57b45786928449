/*
 * test_utf8.c - ug_utf8_sequence against Unicode table 3-7: every boundary of
 * the well-formed ranges, overlongs, surrogates, code points past U+10FFFF,
 * sequences cut short, and the maximal-subpart length that decides how many
 * bytes one U+FFFD replaces (the counts Python's decode("utf-8", "replace")
 * gives for the same bytes).
 */
#include <criterion/criterion.h>

#include <string.h>

#include "common/utf8.h"

/* ug_utf8_sequence over the whole of s; *bad starts at a sentinel so an untouched value shows. */
static size_t seq(const char *s, size_t len, size_t *bad)
{
    *bad = 99;
    return ug_utf8_sequence((const unsigned char *)s, len, bad);
}

static void assert_valid(const char *s, size_t len)
{
    size_t bad;
    cr_assert_eq(seq(s, len, &bad), len, "\\x%02X...: expected a %zu-byte sequence", (unsigned char)s[0], len);
    cr_assert_eq(bad, 99, "*bad written for a well-formed sequence");
}

/* Ill-formed, with a maximal subpart of `subpart` bytes. */
static void assert_invalid(const char *s, size_t len, size_t subpart)
{
    size_t bad;
    cr_assert_eq(seq(s, len, &bad), 0, "\\x%02X...: expected ill-formed", (unsigned char)s[0]);
    cr_assert_eq(bad, subpart, "\\x%02X...: maximal subpart %zu, expected %zu", (unsigned char)s[0], bad, subpart);
}

Test(utf8, ascii_is_one_byte_including_nul)
{
    assert_valid("a", 1);
    assert_valid("\x7F", 1);
    assert_valid("", 1); /* the NUL byte is U+0000 */
    size_t bad;
    cr_assert_eq(seq("ab\xFF", 3, &bad), 1, "only the first sequence is looked at");
}

Test(utf8, two_byte_boundaries)
{
    assert_valid("\xC2\x80", 2); /* U+0080 */
    assert_valid("\xC3\xA9", 2); /* é */
    assert_valid("\xDF\xBF", 2); /* U+07FF */
    assert_invalid("\xC2\x7F", 2, 1);
    assert_invalid("\xC2\xC0", 2, 1);
}

Test(utf8, three_byte_boundaries)
{
    assert_valid("\xE0\xA0\x80", 3); /* U+0800 */
    assert_valid("\xE2\x9C\x93", 3); /* ✓ */
    assert_valid("\xED\x9F\xBF", 3); /* U+D7FF, just below the surrogates */
    assert_valid("\xEE\x80\x80", 3); /* U+E000, just above them */
    assert_valid("\xEF\xBF\xBD", 3); /* U+FFFD */
    assert_valid("\xEF\xBF\xBF", 3); /* U+FFFF: a noncharacter, but well-formed */
    assert_invalid("\xE1\x80\x7F", 3, 2);
    assert_invalid("\xE1\xC0\x80", 3, 1);
}

Test(utf8, four_byte_boundaries)
{
    assert_valid("\xF0\x90\x80\x80", 4); /* U+10000 */
    assert_valid("\xF0\x9F\x98\x80", 4); /* 😀 */
    assert_valid("\xF3\xBF\xBF\xBF", 4); /* U+FFFFF */
    assert_valid("\xF4\x8F\xBF\xBF", 4); /* U+10FFFF, the last code point */
    assert_invalid("\xF1\x80\x80\x7F", 4, 3);
    assert_invalid("\xF1\x80\x7F\x80", 4, 2);
}

Test(utf8, overlong_forms)
{
    assert_invalid("\xC0\xAF", 2, 1);         /* '/' in two bytes */
    assert_invalid("\xC0\x80", 2, 1);         /* NUL in two bytes */
    assert_invalid("\xC1\xBF", 2, 1);         /* U+007F in two bytes */
    assert_invalid("\xE0\x80\xAF", 3, 1);     /* '/' in three */
    assert_invalid("\xE0\x9F\xBF", 3, 1);     /* U+07FF in three */
    assert_invalid("\xF0\x80\x80\xAF", 4, 1); /* '/' in four */
    assert_invalid("\xF0\x8F\xBF\xBF", 4, 1); /* U+FFFF in four */
}

Test(utf8, surrogates)
{
    assert_invalid("\xED\xA0\x80", 3, 1); /* U+D800 */
    assert_invalid("\xED\xAF\xBF", 3, 1); /* U+DBFF */
    assert_invalid("\xED\xB0\x80", 3, 1); /* U+DC00 */
    assert_invalid("\xED\xBF\xBF", 3, 1); /* U+DFFF */
}

Test(utf8, beyond_u10ffff)
{
    assert_invalid("\xF4\x90\x80\x80", 4, 1); /* U+110000 */
    assert_invalid("\xF4\xBF\xBF\xBF", 4, 1);
    assert_invalid("\xF5\x80\x80\x80", 4, 1); /* F5..FF never start a sequence */
    assert_invalid("\xF7\xBF\xBF\xBF", 4, 1);
    assert_invalid("\xF8\x88\x80\x80\x80", 5, 1); /* old 5-byte form */
    assert_invalid("\xFC\x84\x80\x80\x80\x80", 6, 1);
    assert_invalid("\xFE", 1, 1);
    assert_invalid("\xFF", 1, 1);
}

Test(utf8, lone_continuation_bytes)
{
    assert_invalid("\x80", 1, 1);
    assert_invalid("\xBF\x80", 2, 1);
}

Test(utf8, truncated_by_len)
{
    /* The bytes that would complete each sequence are there, but outside len. */
    assert_invalid("\xC3\xA9", 1, 1);
    assert_invalid("\xE2\x9C\x93", 1, 1);
    assert_invalid("\xE2\x9C\x93", 2, 2);
    assert_invalid("\xF0\x9F\x98\x80", 1, 1);
    assert_invalid("\xF0\x9F\x98\x80", 2, 2);
    assert_invalid("\xF0\x9F\x98\x80", 3, 3);
    assert_invalid("\xF4\x8F\xBF\xBF", 3, 3);
    /* Cut short by an ASCII byte: the subpart stops before it. */
    assert_invalid("\xE2\x9C"
                   "a",
                   3, 2);
    assert_invalid("\xF0\x9F\x98"
                   "a",
                   4, 3);
}

Test(utf8, bad_may_be_null)
{
    cr_assert_eq(ug_utf8_sequence((const unsigned char *)"\xF0\x9F", 2, NULL), 0);
    cr_assert_eq(ug_utf8_sequence((const unsigned char *)"\xF0\x9F\x98\x80", 4, NULL), 4);
}

/* Every lead byte against every second byte: the valid count must match table 3-7 exactly. */
Test(utf8, two_byte_prefixes_match_table_3_7)
{
    size_t well_formed = 0;
    for (unsigned c = 0x80; c <= 0xFF; ++c) {
        for (unsigned d = 0; d <= 0xFF; ++d) {
            unsigned char s[4] = {(unsigned char)c, (unsigned char)d, 0x80, 0x80};
            size_t bad = 0, n = ug_utf8_sequence(s, 4, &bad);
            int second_ok;
            if (c >= 0xC2 && c <= 0xDF)
                second_ok = d >= 0x80 && d <= 0xBF;
            else if (c == 0xE0)
                second_ok = d >= 0xA0 && d <= 0xBF;
            else if (c == 0xED)
                second_ok = d >= 0x80 && d <= 0x9F;
            else if ((c >= 0xE1 && c <= 0xEF) || (c >= 0xF1 && c <= 0xF3))
                second_ok = d >= 0x80 && d <= 0xBF;
            else if (c == 0xF0)
                second_ok = d >= 0x90 && d <= 0xBF;
            else if (c == 0xF4)
                second_ok = d >= 0x80 && d <= 0x8F;
            else
                second_ok = 0;
            size_t expected = !second_ok ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            cr_assert_eq(n, expected, "%02X %02X: %zu, expected %zu", c, d, n, expected);
            if (n == 0) /* the third and fourth bytes are fine, so only the lead or the second byte can end it */
                cr_assert_eq(bad, 1, "%02X %02X", c, d);
            well_formed += n != 0;
        }
    }
    /* 30 two-byte leads x 64 + (E0: 32, E1..EC,EE,EF: 14 x 64, ED: 32) + (F0: 48, F1..F3: 3 x 64, F4: 16) */
    cr_assert_eq(well_formed, 30 * 64 + 32 + 14 * 64 + 32 + 48 + 3 * 64 + 16);
}
