/* Retry classification and backoff of S3 requests (src/store/s3_retry.c). */
#include <criterion/criterion.h>

#include "store/s3_retry.h"

Test(s3_retry, success_is_done)
{
    cr_expect_eq(ug_s3_classify(CURLE_OK, 200, NULL), UG_S3_DONE);
    cr_expect_eq(ug_s3_classify(CURLE_OK, 204, NULL), UG_S3_DONE);
}

Test(s3_retry, server_trouble_is_retried)
{
    cr_expect_eq(ug_s3_classify(CURLE_OK, 500, "InternalError"), UG_S3_RETRY);
    cr_expect_eq(ug_s3_classify(CURLE_OK, 503, "SlowDown"), UG_S3_RETRY);
    cr_expect_eq(ug_s3_classify(CURLE_OK, 502, NULL), UG_S3_RETRY);
    cr_expect_eq(ug_s3_classify(CURLE_OK, 429, NULL), UG_S3_RETRY);
    cr_expect_eq(ug_s3_classify(CURLE_OK, 408, NULL), UG_S3_RETRY);
    /* S3 sends RequestTimeout as 400 */
    cr_expect_eq(ug_s3_classify(CURLE_OK, 400, "RequestTimeout"), UG_S3_RETRY);
    cr_expect_eq(ug_s3_classify(CURLE_OK, 400, "SlowDown"), UG_S3_RETRY);
}

Test(s3_retry, transport_failures_are_retried)
{
    cr_expect_eq(ug_s3_classify(CURLE_RECV_ERROR, 0, NULL), UG_S3_RETRY); /* connection reset */
    cr_expect_eq(ug_s3_classify(CURLE_SEND_ERROR, 0, NULL), UG_S3_RETRY);
    cr_expect_eq(ug_s3_classify(CURLE_OPERATION_TIMEDOUT, 0, NULL), UG_S3_RETRY);
    cr_expect_eq(ug_s3_classify(CURLE_COULDNT_CONNECT, 0, NULL), UG_S3_RETRY);
    cr_expect_eq(ug_s3_classify(CURLE_GOT_NOTHING, 0, NULL), UG_S3_RETRY);
    /* the curl result decides even when a status was seen: the answer did not arrive whole */
    cr_expect_eq(ug_s3_classify(CURLE_PARTIAL_FILE, 200, NULL), UG_S3_RETRY);
}

Test(s3_retry, client_errors_fail)
{
    cr_expect_eq(ug_s3_classify(CURLE_OK, 403, "SignatureDoesNotMatch"), UG_S3_FAIL);
    cr_expect_eq(ug_s3_classify(CURLE_OK, 404, "NoSuchUpload"), UG_S3_FAIL);
    cr_expect_eq(ug_s3_classify(CURLE_OK, 400, "EntityTooSmall"), UG_S3_FAIL);
    cr_expect_eq(ug_s3_classify(CURLE_OK, 400, "BadDigest"), UG_S3_FAIL);
    cr_expect_eq(ug_s3_classify(CURLE_OK, 400, NULL), UG_S3_FAIL);
    cr_expect_eq(ug_s3_classify(CURLE_OK, 301, NULL), UG_S3_FAIL);
    cr_expect_eq(ug_s3_classify(CURLE_URL_MALFORMAT, 0, NULL), UG_S3_FAIL);
    cr_expect_eq(ug_s3_classify(CURLE_PEER_FAILED_VERIFICATION, 0, NULL), UG_S3_FAIL);
}

Test(s3_retry, backoff_full_jitter_doubles_then_caps)
{
    /* random % (ceiling + 1): the maximum draw shows the ceiling */
    cr_expect_eq(ug_s3_backoff_ms(1, 100, 20000, 100), 100);
    cr_expect_eq(ug_s3_backoff_ms(1, 100, 20000, 101), 0);
    cr_expect_eq(ug_s3_backoff_ms(2, 100, 20000, 200), 200);
    cr_expect_eq(ug_s3_backoff_ms(3, 100, 20000, 400), 400);
    cr_expect_eq(ug_s3_backoff_ms(8, 100, 20000, 12800), 12800);
    cr_expect_eq(ug_s3_backoff_ms(9, 100, 20000, 20000), 20000); /* 25600 capped */
    cr_expect_eq(ug_s3_backoff_ms(9, 100, 20000, 20001), 0);
    /* huge attempt numbers neither overflow nor pass the cap */
    for (unsigned a = 1; a < 200; a++)
        cr_expect_leq(ug_s3_backoff_ms(a, 100, 20000, UINT64_MAX - a), 20000);
    cr_expect_eq(ug_s3_backoff_ms(1000, 1, UINT64_MAX, 5), 5);
    /* attempt 0 is treated as the first retry */
    cr_expect_eq(ug_s3_backoff_ms(0, 100, 20000, 100), 100);
}
