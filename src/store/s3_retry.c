/* Retry classification and backoff for S3 requests (see s3_retry.h). */
#include "store/s3_retry.h"

#include <stdbool.h>
#include <string.h>

/* S3 error codes that mean "not now" even when the status is 4xx (RequestTimeout is 400, SlowDown 503 but
 * some servers send it with other statuses). */
static bool transient_code(const char *code)
{
    static const char *const codes[] = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
                                        "Throttling", "ThrottlingException"};
    if (code == NULL)
        return false;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

/* curl results where the request may never have reached the server, or its answer got lost on the way:
 * worth another try. Everything else (bad URL, TLS verification failure, ...) will not get better. */
static bool transient_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

ug_s3_verdict_t ug_s3_classify(CURLcode curl_result, long status, const char *error_code)
{
    if (curl_result != CURLE_OK)
        return transient_curl(curl_result) ? UG_S3_RETRY : UG_S3_FAIL;
    if (status >= 200 && status < 300)
        return UG_S3_DONE;
    if (status >= 500 || status == 408 || status == 429 || transient_code(error_code))
        return UG_S3_RETRY;
    return UG_S3_FAIL;
}

uint64_t ug_s3_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint64_t random)
{
    if (attempt == 0)
        attempt = 1;
    uint64_t ceiling = base_ms;
    /* double until the cap; stop early so the shift never overflows */
    for (unsigned i = 1; i < attempt && ceiling < cap_ms; i++)
        ceiling = ceiling > cap_ms / 2 ? cap_ms : ceiling * 2;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    return ceiling == UINT64_MAX ? random : random % (ceiling + 1);
}
