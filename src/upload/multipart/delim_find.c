/*
 * Substring search for the multipart delimiter. memchr for the delimiter's CR, then memcmp, costs a call pair per
 * CR, and random file bytes hold a CR every 256 bytes: measured on 4 x 20 MiB uploads that was ~9 % of
 * uploadgate's CPU (docs/design-notes.md). Checking the first and the last byte of the needle together rejects
 * all but 1 in 65536 positions of random data before any comparison (W. Mula's "SIMD-friendly algorithms for
 * substring searching", the generic SSE2 variant). Where the CPU has AVX2 the same test runs 32 positions at a time
 * (64 MiB of random data in 256 KiB pieces: 14 -> 22 GB/s; in the server, where the scan is the first code to touch
 * the bytes after read, uploadgate's CPU for 4 x 20 MiB went 13.5 -> 12.8 ticks; docs/design-notes.md).
 */
#include "upload/multipart/delim_find.h"

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define UG_DELIM_AVX2 1

/* The same test 32 positions at a time, for CPUs with AVX2 (chosen at run time: the build targets baseline x86-64).
 * Returns the first match below `*i`'s end of the 32-wide blocks, or SIZE_MAX with *i at the first position left. */
__attribute__((target("avx2"))) static size_t find_avx2(const char *hay, size_t last, const char *needle, size_t nlen, size_t *i)
{
    const __m256i first = _mm256_set1_epi8(needle[0]), final = _mm256_set1_epi8(needle[nlen - 1]);
    for (; *i <= last && last - *i >= 31; *i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(hay + *i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(hay + *i + nlen - 1));
        unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(a, first), _mm256_cmpeq_epi8(b, final)));
        while (m != 0) {
            unsigned bit = (unsigned)__builtin_ctz(m);
            if (memcmp(hay + *i + bit + 1, needle + 1, nlen - 2) == 0)
                return *i + bit;
            m &= m - 1;
        }
    }
    return SIZE_MAX;
}
#endif

size_t ug_delim_find(const char *hay, size_t len, const char *needle, size_t nlen)
{
    if (nlen == 0 || len < nlen)
        return len;
    const size_t last = len - nlen; /* the last position where the whole needle fits */
    size_t i = 0;

#if defined(UG_DELIM_AVX2)
    if (nlen >= 2 && __builtin_cpu_supports("avx2")) {
        size_t at = find_avx2(hay, last, needle, nlen, &i);
        if (at != SIZE_MAX)
            return at;
    }
#endif
#if defined(__SSE2__)
    if (nlen >= 2) {
        const __m128i first = _mm_set1_epi8(needle[0]), final = _mm_set1_epi8(needle[nlen - 1]);
        /* Positions i..i+15 are tested at once; the second load reads up to hay[i + 15 + nlen - 1] <= hay[len - 1]. */
        for (; i <= last && last - i >= 15; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(hay + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(hay + i + nlen - 1));
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, final)));
            while (m != 0) {
                unsigned bit = (unsigned)__builtin_ctz(m);
                if (memcmp(hay + i + bit + 1, needle + 1, nlen - 2) == 0)
                    return i + bit;
                m &= m - 1;
            }
        }
    }
#endif
    /* The rest (fewer than 16 positions on x86-64; everything elsewhere): memchr for the first byte. */
    while (i <= last) {
        const char *c = memchr(hay + i, needle[0], last - i + 1);
        if (c == NULL)
            break;
        i = (size_t)(c - hay);
        if (memcmp(c + 1, needle + 1, nlen - 1) == 0)
            return i;
        ++i;
    }
    return len;
}
