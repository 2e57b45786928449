/*
 * exchange/concat.h - the tus concatenation extension inside a resumable route's request (exchange/resumable.c
 * calls these): a POST with "Upload-Concat: final;..." locks the named partial uploads, creates the final upload,
 * copies their bytes into it in bounded slices on the event loop (each slice a kernel copy and its hash, then the
 * loop runs again), and hands it to the app as one manifest. The partial uploads are removed once the app answered.
 *
 * Ownership: the ug_concat_t belongs to the request state (req->tus) and is freed by ug_concat_free.
 */
#ifndef UG_EXCHANGE_CONCAT_H
#define UG_EXCHANGE_CONCAT_H

#include "exchange/exchange.h"
#include "resumable/concat.h"

typedef struct ug_concat ug_concat_t;

/* A final upload's creation whose Upload-Concat `value` parsed as `c`. Answers the errors itself; on success the
 * request goes on to ug_exchange_finish_body and from there to ug_concat_assemble. */
void ug_concat_serve_final(ug_exchange_t *req, const ug_tus_concat_t *c, const char *value, size_t value_len, int has_body);
/* Start copying the partial uploads into the final one; completes it (ug_resumable_complete) at the end. */
void ug_concat_assemble(ug_exchange_t *req);
/* The app answered for the final upload: remove the partial uploads. NULL is a no-op. */
void ug_concat_settled(ug_concat_t *c);
/* Stop any slice still scheduled, unlock the partial uploads and free. 1 when the final upload was never handed to
 * the app (the caller removes it), else 0; NULL gives 0. */
int ug_concat_free(ug_concat_t *c);

#endif
