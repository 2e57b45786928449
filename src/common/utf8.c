/*
 * utf8.c - see utf8.h.
 */
#include "common/utf8.h"

size_t ug_utf8_sequence(const unsigned char *s, size_t len, size_t *bad)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t need, subpart;

    if (c < 0x80)
        return 1;
    /* Table 3-7: only the second byte's range depends on the lead byte; later ones are always 80..BF. */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* E0 below A0: overlong */
        hi = c == 0xED ? 0x9F : 0xBF; /* ED above 9F: UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : 0x80; /* F0 below 90: overlong */
        hi = c == 0xF4 ? 0x8F : 0xBF; /* F4 above 8F: beyond U+10FFFF */
    } else {
        subpart = 1; /* continuation byte, C0/C1 (always overlong), F5..FF */
        goto ill_formed;
    }
    for (size_t i = 1; i <= need; ++i) {
        if (i >= len || s[i] < lo || s[i] > hi) {
            subpart = i;
            goto ill_formed;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;

ill_formed:
    if (bad != NULL)
        *bad = subpart;
    return 0;
}
