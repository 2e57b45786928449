/*
 * utf8.h - UTF-8 well-formedness, one sequence at a time, for the places that
 * pass client bytes on as JSON text (manifest.c, log.c). h2o-free, no state,
 * thread-safe.
 *
 * Both repair text the same way, so a path reads the same in the log as in the
 * manifest: each maximal subpart of an ill-formed sequence becomes one U+FFFD.
 * That is Unicode's recommended practice (chapter 3, "U+FFFD Substitution of
 * Maximal Subparts") and what WHATWG and Python's decode("utf-8", "replace") do,
 * so the app sees the same text it would get by decoding the raw bytes itself.
 */
#ifndef UG_COMMON_UTF8_H
#define UG_COMMON_UTF8_H

#include <stddef.h>

/* U+FFFD REPLACEMENT CHARACTER in UTF-8 (3 bytes). */
#define UG_UTF8_REPLACEMENT "\xEF\xBF\xBD"

/*
 * The length (1..4) of the well-formed UTF-8 sequence that starts at s[0] (of
 * s[0..len), len >= 1), by Unicode table 3-7; 0 when it is ill-formed, with
 * *bad (when bad is not NULL) = the length (1..3) of its maximal subpart: the
 * longest prefix that could still have begun a well-formed sequence, which is
 * how many bytes one U+FFFD replaces. A sequence cut short by len is ill-formed.
 * Reads s only; bytes past the sequence are not looked at.
 */
size_t ug_utf8_sequence(const unsigned char *s, size_t len, size_t *bad);

#endif
