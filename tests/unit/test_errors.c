/*
 * errors: which uploadgate error a reverse-proxy failure becomes.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/errors.h"

static ug_err_t of(const char *why)
{
    return ug_err_of_proxy_failure(why, strlen(why));
}

Test(errors, proxy_failures_are_502_or_504)
{
    cr_assert_eq(of("connection refused"), UG_ERR_BAD_GATEWAY);
    cr_assert_eq(of("connection failed"), UG_ERR_BAD_GATEWAY);
    cr_assert_eq(of("I/O error"), UG_ERR_BAD_GATEWAY);
    cr_assert_eq(of("I/O timeout"), UG_ERR_GATEWAY_TIMEOUT);
    cr_assert_eq(of("connection timeout"), UG_ERR_GATEWAY_TIMEOUT);
    cr_assert_eq(ug_err_of_proxy_failure("I/O timeout", 8), UG_ERR_BAD_GATEWAY, "only the given length is read");
    cr_assert_eq(ug_err_of_proxy_failure(NULL, 0), UG_ERR_BAD_GATEWAY);
    cr_assert_eq(ug_err_status(of("I/O timeout")), 504);
    cr_assert_str_eq(ug_err_code(of("I/O timeout")), "gateway_timeout");
}
