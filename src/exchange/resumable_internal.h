/*
 * exchange/resumable_internal.h - what the resumable requests of a route share inside the exchange: the request state,
 * and the steps of exchange/resumable.c (tus) that exchange/resumable_ietf.c (the IETF draft) and exchange/concat.c
 * (tus concatenation) reuse. Only those three files include it.
 *
 * Ownership: as exchange/resumable.h. ug_resumable_open leaves the upload locked in req->tus->store until the request
 * ends (ug_resumable_end).
 */
#ifndef UG_EXCHANGE_RESUMABLE_INTERNAL_H
#define UG_EXCHANGE_RESUMABLE_INTERNAL_H

#include <openssl/evp.h>

#include "exchange/concat.h"
#include "exchange/resumable.h"
#include "exchange/resumable_plain.h"
#include "resumable/store.h"

#define UG_TUS_ID_MAX (UG_UPLOAD_ID_LEN + 1)

struct ug_resumable_req {
    ug_rstore_t *store;          /* locked while the request lives (PATCH, POST with a body, DELETE) */
    char id[UG_TUS_ID_MAX];
    int created;                 /* a POST: answered with 201 and Location */
    uint64_t limit;              /* the most body bytes this request may bring */
    ug_err_t over;                 /* the error when they are exceeded */
    int has_checksum;
    ug_tus_checksum_t checksum;
    EVP_MD_CTX *chunk_md;        /* the digest of this request's body, for Upload-Checksum */
    int body_whole;              /* the body arrived to its end */
    int ietf;                    /* an IETF draft request (exchange/resumable_ietf.c), not a tus one */
    int complete;                /* IETF: Upload-Complete: ?1, the body ends the upload */
    char relay_offset[24];       /* IETF: the Upload-Offset value added to the app's answer (decimal) */
    ug_concat_t *concat;         /* a tus final upload's creation: its partial uploads (exchange/concat.c), else NULL */
    int plain;                   /* an ordinary upload route's upload (exchange/resumable_plain.c): its URL is under
                                  * resumable_path, its bytes a request body parsed by the route's pipeline at the end */
    ug_plain_parse_t *parse;     /* plain: the completed body being read back through the pipeline, else NULL */
};

/* Fields of an answer besides an error's own. */
#define UG_RESUMABLE_ANSWER_FIELDS 10

/* A set of response fields being built; values are copied into `buf`. */
typedef struct ug_resumable_answer {
    ug_header_t f[UG_RESUMABLE_ANSWER_FIELDS];
    size_t n;
    char buf[512];
    size_t used;
} ug_resumable_answer_t;

/* Add a field (the value is not copied: it must outlive the answer); a full answer takes no more. */
void ug_resumable_put(ug_resumable_answer_t *a, const char *name, const char *value, size_t len);
/* Add a decimal field (copied into a->buf). */
void ug_resumable_put_u64(ug_resumable_answer_t *a, const char *name, uint64_t v);
/* Respond with the answer's fields and no body. Ends the request. */
void ug_resumable_send_answer(ug_exchange_t *req, int status, const char *reason, const ug_resumable_answer_t *a);

/* Whether the request's method is `m`. */
int ug_resumable_method_is(const ug_exchange_t *req, const char *m);
/* The request's field `name` (lower-case), NULL when absent. */
const ug_header_t *ug_resumable_field(const ug_exchange_t *req, const char *name);
/* Whether field `f` is present with exactly the value `v`. */
int ug_resumable_field_is(const ug_header_t *f, const char *v);
/* Whether the request's Content-Type is `type` (compared without case, no parameters). */
int ug_resumable_content_type_is(const ug_exchange_t *req, const char *type);
/* Read an upload's info for this caller (HEAD: no lock); on failure (none, another's, expired) the error is sent and
 * 0 returned. On 1 the caller clears *info (ug_rstore_info_clear). */
int ug_resumable_peek(ug_exchange_t *req, const char *id, ug_rstore_info_t *info);
/* Lock and remove an upload this caller may write (DELETE); on failure the error is sent and 0 returned. */
int ug_resumable_cancel(ug_exchange_t *req, const char *id);

/* The request's state, made on first use; NULL when out of memory. */
ug_resumable_req_t *ug_resumable_state(ug_exchange_t *req);
/* When an upload touched now expires (Unix seconds). */
int64_t ug_resumable_expiry(const ug_exchange_t *req);
/* The owner an upload is checked against: the token's subject, "" on an open route. */
const char *ug_resumable_subject(const ug_exchange_t *req);
/* UG_OK, or 404 (another route's or subject's upload), 410 (expired). */
ug_err_t ug_resumable_verdict(const ug_exchange_t *req, const ug_rstore_info_t *info);
/* The upload id the target names under the route (*id_len 0: the route itself); -1 when it names none. */
int ug_resumable_target_id(const ug_exchange_t *req, char *id, size_t *id_len);
/* The same under any prefix of `prefix_len` bytes the target starts with (resumable_path). */
int ug_resumable_id_under(const ug_exchange_t *req, size_t prefix_len, char *id, size_t *id_len);
/* The most bytes an upload of this request may have, and the error past it: a resumable route's max_file (413
 * file_too_large); for an ordinary route's upload, the whole body's max_body (413 body_too_large). */
uint64_t ug_resumable_max_size(const ug_exchange_t *req);
ug_err_t ug_resumable_too_large(const ug_exchange_t *req);
/* Lock an upload this caller may write into req->tus->store; on failure the error is sent and 0 returned. */
int ug_resumable_open(ug_exchange_t *req, const char *id);
/* Set the body limit, refuse a declared length over it, else let the body come (or finish an empty one). */
void ug_resumable_start_body(ug_exchange_t *req, int has_body);
/* A PATCH's Upload-Length: a deferred length made known, or the stored one repeated. *why on error. */
ug_err_t ug_resumable_patch_length(ug_exchange_t *req, const char **why);
/* Upload-Metadata validated and copied (malloc'd, "" when absent) into *stored. */
ug_err_t ug_resumable_creation_metadata(ug_exchange_t *req, char **stored, const char **why);
/* Create the upload `info` describes (its metadata: `metadata`, malloc'd, taken and freed) and lock it into
 * req->tus (id, created); on failure the error is sent and 0 returned. */
int ug_resumable_create(ug_exchange_t *req, ug_rstore_info_t *info, char *metadata);
/* The upload reached its length: hand its manifest to the app (a POST to the route). */
void ug_resumable_complete(ug_exchange_t *req);

/* For exchange/concat.c: adopt a newly created (final) upload, open and locked, answered with 201 and Location like
 * any creation (0, or -1 when out of memory: the store is then the caller's); the request's upload (NULL before one is
 * opened) and its concatenation state; uploadgate's JSON error with Tus-Resumable (message NULL = the table's; ends
 * the exchange); a store result as an error code. */
int ug_resumable_adopt_created(ug_exchange_t *req, ug_rstore_t *store, const char *id);
ug_rstore_t *ug_resumable_store(const ug_exchange_t *req);
ug_concat_t **ug_resumable_concat(ug_exchange_t *req);
void ug_resumable_send_error(ug_exchange_t *req, ug_err_t e, const char *message);
ug_err_t ug_resumable_of_store(ug_rstore_result_t r);

/* exchange/resumable_ietf.c: serve the request when it is the IETF draft's (or a protocol the route refuses) and
 * return 1; return 0 for a tus request. */
int ug_resumable_ietf_serve(ug_exchange_t *req, int has_body);
/* Check the interop version (400 interop_version_unsupported) and make req->tus an IETF request; 0 when the error
 * was sent. */
int ug_resumable_ietf_begin(ug_exchange_t *req, const ug_header_t *version);
/* Serve an IETF request that ug_resumable_ietf_begin accepted: `id` NULL for a creation (POST, or PUT on an ordinary
 * route), else the upload's HEAD, PATCH or DELETE. */
void ug_resumable_ietf_dispatch(ug_exchange_t *req, const char *id, int has_body);
/* The IETF request's body was committed: complete the upload (Upload-Complete: ?1) or answer the progress. */
void ug_resumable_ietf_committed(ug_exchange_t *req);

#endif
