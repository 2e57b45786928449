/* What to do after an S3 request finished: done, try again (with backoff), or give up.
 * Pure functions, no state. */
#ifndef UG_S3_RETRY_H
#define UG_S3_RETRY_H

#include <stdint.h>

#include <curl/curl.h>

typedef enum {
    UG_S3_DONE,   /* 2xx: the request did what it asked */
    UG_S3_RETRY,  /* transient: 5xx, 408, 429, SlowDown/RequestTimeout/InternalError/..., connection or timeout */
    UG_S3_FAIL,   /* permanent: any other 4xx (bad signature, no such upload, too small), any other curl error */
} ug_s3_verdict_t;

/* Classify one finished request. status: the HTTP status (0 when there was no response); error_code: the
 * <Code> of an S3 error body, or NULL. A curl error decides first: a transfer that never got a whole answer
 * says nothing about the request. */
ug_s3_verdict_t ug_s3_classify(CURLcode curl_result, long status, const char *error_code);

/* The delay in milliseconds before retry `attempt` (1 = the first retry): "full jitter", a uniform draw in
 * [0, min(cap_ms, base_ms * 2^(attempt-1))]. `random` is a uniform 64-bit value supplied by the caller (tests
 * pin it; production passes fresh randomness), so the function stays pure. */
uint64_t ug_s3_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint64_t random);

#endif
