/*
 * exchange/resumable_int.h - what exchange/resumable.c shares with exchange/concat.c (tus concatenation) and no one
 * else: the request state and the helpers both answer with.
 */
#ifndef UG_EXCHANGE_RESUMABLE_INT_H
#define UG_EXCHANGE_RESUMABLE_INT_H

#include "exchange/concat.h"
#include "exchange/resumable.h"
#include "resumable/store.h"

#define UG_TUS_ID_MAX (UG_UPLOAD_ID_LEN + 1)

/* What concat.c needs of a request's state (req->tus, made on first use). */
/* Adopt a newly created (final) upload, open and locked: answered with 201 and Location like any creation. 0, or -1
 * when out of memory (the store is then the caller's). */
int ug_resumable_adopt_created(ug_exchange_t *req, ug_rstore_t *store, const char *id);
/* The request's upload (NULL before one is opened) and concatenation state. */
ug_rstore_t *ug_resumable_store(const ug_exchange_t *req);
ug_concat_t **ug_resumable_concat(ug_exchange_t *req);

/* uploadgate's JSON error with Tus-Resumable; message NULL = the table's. Ends the exchange. */
void ug_resumable_send_error(ug_exchange_t *req, ug_err_t e, const char *message);
ug_err_t ug_resumable_of_store(ug_rstore_result_t r);
/* What an upload's info says to this request: UG_OK, or 404 (not this caller's), 410 (expired). */
ug_err_t ug_resumable_verdict(const ug_exchange_t *req, const ug_rstore_info_t *info);
/* The token's subject, "" on an open route. */
const char *ug_resumable_subject(const ug_exchange_t *req);
/* When an upload touched now expires (Unix seconds). */
int64_t ug_resumable_expiry(const ug_exchange_t *req);
/* The creation's Upload-Metadata, validated, as *stored (malloc'd; "" when absent). */
ug_err_t ug_resumable_metadata(ug_exchange_t *req, char **stored, const char **why);
/* req->tus->store reached its length: hand it to the app as one manifest. */
void ug_resumable_complete(ug_exchange_t *req);

#endif
