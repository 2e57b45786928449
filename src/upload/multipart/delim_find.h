#ifndef UG_UPLOAD_MULTIPART_DELIM_FIND_H
#define UG_UPLOAD_MULTIPART_DELIM_FIND_H

#include <stddef.h>

/*
 * Offset of the first whole occurrence of needle[0..nlen) in hay[0..len), or len when there is none (also when
 * len < nlen or nlen == 0). Only whole occurrences count: a needle cut off by the end of hay is the caller's
 * business (the multipart parser holds such a tail back for the next chunk).
 *
 * Built for the multipart delimiter ("\r\n--" boundary, 5..74 bytes) in part bodies, which are mostly file bytes:
 * on x86-64 it tests 16 positions at a time for the needle's first AND last byte (SSE2, part of the x86-64
 * baseline), so in random data a byte-by-byte comparison happens about once per 64 KiB instead of at every CR.
 */
size_t ug_delim_find(const char *hay, size_t len, const char *needle, size_t nlen);

#endif
