/*
 * Config error messages quote offending values; a long value is cut without
 * splitting a UTF-8 character (found by tests/fuzz/fuzz_config.c).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "config/config.h"

static int valid_utf8(const unsigned char *s)
{
    while (*s) {
        int n = *s < 0x80 ? 1 : (*s >> 5) == 6 ? 2 : (*s >> 4) == 14 ? 3 : (*s >> 3) == 30 ? 4 : 0;
        if (n == 0)
            return 0;
        for (int i = 1; i < n; ++i)
            if ((s[i] & 0xc0) != 0x80)
                return 0;
        s += n;
    }
    return 1;
}

Test(config_quote, long_multibyte_key_is_cut_on_a_character_boundary)
{
    for (int prefix = 0; prefix < 4; ++prefix) {
        char yaml[512];
        int n = snprintf(yaml, sizeof(yaml), "backend: {url: http://127.0.0.1:8000}\nstorage: {dir: /tmp}\n%.*s", prefix, "xxx");
        for (int i = 0; i < 40; ++i)
            n += snprintf(yaml + n, sizeof(yaml) - n, "\xc3\xa9"); /* é */
        n += snprintf(yaml + n, sizeof(yaml) - n, ": 1\n");
        ug_config_t *c = NULL;
        char err[512];
        cr_assert_eq(ug_config_load_string("q.yaml", yaml, (size_t)n, &c, err, sizeof(err)), UG_ERR_CONFIG);
        cr_assert(valid_utf8((const unsigned char *)err), "invalid UTF-8 in: %s", err);
        cr_assert_not_null(strstr(err, "...\""), "no ellipsis in: %s", err);
        cr_assert_eq(strncmp(err, "q.yaml:3:1: unknown key \"", 25), 0, "%s", err);
    }
}
