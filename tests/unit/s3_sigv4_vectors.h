/*
 * Test vectors of AWS's SigV4 test suite ("aws-sig-v4-test-suite"), as published in the AWS SDK for
 * JavaScript v3: github.com/aws/aws-sdk-js-v3, packages/signature-v4/src/suite.fixture.ts, and, for
 * get-vanilla-with-session-token, in the AWS C auth library: github.com/awslabs/aws-c-auth,
 * tests/aws-signing-test-suite/v4/get-vanilla-with-session-token/ (both Copyright Amazon.com, Inc. or its
 * affiliates; Apache License 2.0). Only the data is copied: request method, path, query, headers, body,
 * session token and the expected Authorization header. Every vector signs with
 * access key AKIDEXAMPLE, the secret below, region us-east-1, service "service", at 20150830T123600Z.
 *
 * path is the URL path as sent (percent-encoded once); params go through ug_s3_canonical_query.
 */
#ifndef UG_TEST_S3_SIGV4_VECTORS_H
#define UG_TEST_S3_SIGV4_VECTORS_H

#include "store/s3_sign.h"

#define VEC_ACCESS_KEY "AKIDEXAMPLE"
#define VEC_SECRET_KEY "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define VEC_REGION "us-east-1"
#define VEC_SERVICE "service"
#define VEC_DATE "20150830T123600Z"
#define VEC_HOST "example.amazonaws.com"
#define VEC_CREDENTIAL "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "

typedef struct {
    const char *name;
    const char *method;
    const char *raw_path;       /* unencoded path: ug_s3_uri_encode(keep_slash) makes the URL path */
    ug_s3_param_t params[2];
    size_t n_params;
    const char *content_type;
    const char *body;
    const char *authorization;  /* the expected header value */
    const char *session_token;  /* NULL: none */
} sigv4_vector;

static const sigv4_vector SIGV4_VECTORS[] = {
    {"get-vanilla-with-session-token", "GET", "/", {{0}}, 0, NULL, "",
     VEC_CREDENTIAL "SignedHeaders=host;x-amz-date;x-amz-security-token, "
                    "Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
     "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"},
    {"get-vanilla", "GET", "/", {{0}}, 0, NULL, "",
     VEC_CREDENTIAL "SignedHeaders=host;x-amz-date, "
                    "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", NULL},
    {"get-vanilla-query-order-key-case", "GET", "/", {{"Param2", "value2"}, {"Param1", "value1"}}, 2, NULL, "",
     VEC_CREDENTIAL "SignedHeaders=host;x-amz-date, "
                    "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", NULL},
    {"get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", {{0}}, 0, NULL,
     "",
     VEC_CREDENTIAL "SignedHeaders=host;x-amz-date, "
                    "Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f", NULL},
    {"get-utf8", "GET", "/\xe1\x88\xb4", {{0}}, 0, NULL, "",
     VEC_CREDENTIAL "SignedHeaders=host;x-amz-date, "
                    "Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85", NULL},
    {"get-vanilla-query-unreserved", "GET", "/",
     {{"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}},
     1, NULL, "",
     VEC_CREDENTIAL "SignedHeaders=host;x-amz-date, "
                    "Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197", NULL},
    {"get-vanilla-utf8-query", "GET", "/", {{"\xe1\x88\xb4", "bar"}}, 1, NULL, "",
     VEC_CREDENTIAL "SignedHeaders=host;x-amz-date, "
                    "Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04", NULL},
    {"post-vanilla", "POST", "/", {{0}}, 0, NULL, "",
     VEC_CREDENTIAL "SignedHeaders=host;x-amz-date, "
                    "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b", NULL},
    {"post-vanilla-query", "POST", "/", {{"Param1", "value1"}}, 1, NULL, "",
     VEC_CREDENTIAL "SignedHeaders=host;x-amz-date, "
                    "Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11", NULL},
    {"post-vanilla-query-nonunreserved", "POST", "/", {{"@#$%^", ""}, {"+", "/,?><`\";:\\|][{}"}}, 2, NULL, "",
     VEC_CREDENTIAL "SignedHeaders=host;x-amz-date, "
                    "Signature=66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e", NULL},
    {"post-vanilla-query-space", "POST", "/", {{"p", NULL}}, 1, NULL, "",
     VEC_CREDENTIAL "SignedHeaders=host;x-amz-date, "
                    "Signature=e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b", NULL},
    {"post-x-www-form-urlencoded", "POST", "/", {{0}}, 0, "application/x-www-form-urlencoded", "Param1=value1",
     VEC_CREDENTIAL "SignedHeaders=content-type;host;x-amz-date, "
                    "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a", NULL},
    {"post-x-www-form-urlencoded-parameters", "POST", "/", {{0}}, 0,
     "application/x-www-form-urlencoded; charset=utf8", "Param1=value1",
     VEC_CREDENTIAL "SignedHeaders=content-type;host;x-amz-date, "
                    "Signature=1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe", NULL},
};

#endif
