/*
 * fuzz_s3_creds.c - libFuzzer target for the S3 credentials file parser (src/store/s3_creds.c).
 *
 * Input: the whole input is the file's text, in an exact-size heap buffer without a terminating NUL, so ASan catches
 * a read past its length. Besides "never crash" (and never leak: the keys are cleared), the target checks (abort()
 * on violation): an accepted file yields a non-empty access key and secret, no value holds a control character, and
 * each value appears in the input; a rejected one leaves nothing behind and says why.
 *
 * Build: tests/fuzz/build.sh fuzz_s3_creds
 * Run:   build-fuzz/fuzz_s3_creds -max_total_time=60 tests/fuzz/corpus/s3_creds
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3_creds.h"

static void check_value(const char *v, const uint8_t *in, size_t len, int required)
{
    if (v == NULL) {
        if (required)
            abort();
        return;
    }
    size_t n = strlen(v);
    if (n == 0 || memmem(in, len, v, n) == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size > 0 ? size : 1);
    char why[200] = "";
    ug_s3_keys_t k = {0};
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    if (ug_s3_keys_parse(text, size, &k, why, sizeof(why)) == 0) {
        check_value(k.access_key, data, size, 1);
        check_value(k.secret_key, data, size, 1);
        check_value(k.session_token, data, size, 0);
        ug_s3_keys_clear(&k);
    } else if (why[0] == '\0' || k.access_key != NULL || k.secret_key != NULL || k.session_token != NULL) {
        abort();
    }
    free(text);
    return 0;
}
