/*
 * config_load.h - loading a configuration from a string in unit tests: it
 * must load (load_ok, the caller frees it), or fail with exactly `expected`
 * (load_err). Include after <criterion/criterion.h>.
 */
#ifndef UG_TEST_CONFIG_LOAD_H
#define UG_TEST_CONFIG_LOAD_H

#include <string.h>

#include "config/config.h"

static ug_config_t *load_ok(const char *yaml)
{
    ug_config_t *c = NULL;
    char err[512] = "";
    cr_assert_eq(ug_config_load_string("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), UG_OK, "%s", err);
    return c;
}

static void load_err(const char *yaml, const char *expected)
{
    ug_config_t *c = NULL;
    char err[512] = "";
    cr_assert_eq(ug_config_load_string("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), UG_ERR_CONFIG, "accepted:\n%s", yaml);
    cr_assert_null(c);
    cr_assert_str_eq(err, expected);
}

#endif
