/*
 * errors: which uploadgate error a reverse-proxy failure becomes.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
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

Test(errors, store_errors)
{
    cr_assert_eq(ug_err_status(UG_ERR_STORE_UNAVAILABLE), 503);
    cr_assert_str_eq(ug_err_code(UG_ERR_STORE_UNAVAILABLE), "store_unavailable");
    cr_assert_eq(ug_err_retry_after(UG_ERR_STORE_UNAVAILABLE), 5, "clients are told when to come back");
    cr_assert_eq(ug_err_status(UG_ERR_STORE_FAILED), 502);
    cr_assert_str_eq(ug_err_code(UG_ERR_STORE_FAILED), "store_failed");
    cr_assert_eq(ug_err_retry_after(UG_ERR_STORE_FAILED), 0);
    cr_assert_eq(ug_err_retry_after(UG_ERR_SERVICE_UNAVAILABLE), 0);
    size_t len;
    char *json = ug_err_json(UG_ERR_STORE_UNAVAILABLE, NULL, &len);
    cr_assert_str_eq(json, "{\"error\":{\"code\":\"store_unavailable\",\"message\":\"the object store is unavailable; retry later\"}}");
    free(json);
}
