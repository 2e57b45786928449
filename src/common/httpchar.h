/*
 * httpchar.h - character classes of the HTTP grammar (RFC 9110 5.6), shared by the parsers that read client bytes
 * (chunked.c, multipart_header.c, exchange/head.c). Pure, header-only.
 */
#ifndef UG_COMMON_HTTPCHAR_H
#define UG_COMMON_HTTPCHAR_H

#include <string.h>

/* tchar (RFC 9110 5.6.2): the characters of a token (field names, parameter and extension names) */
static inline int ug_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The value of a HEXDIG (either case), -1 for any other byte. */
static inline int ug_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
