/*
 * exchange/resumable.h - a request of a resumable route (tus 1.0.0; the IETF draft's requests go on to
 * exchange/resumable_ietf.c), inside the exchange: the gate and the method
 * check have passed (exchange/exchange.c), and this decides and answers OPTIONS, POST (creation, with or without a
 * first chunk), HEAD, PATCH and DELETE against the store (resumable/store.h). A PATCH (or POST) body goes to the store
 * instead of the multipart pipeline; the PATCH that reaches the upload's length moves the data file into an upload
 * (upload/upload.h) whose manifest the exchange forwards as for a one-request upload.
 *
 * Ownership: req->tus is made here and freed by ug_resumable_end (which ug_exchange_end calls); it holds the upload's
 * lock from the PATCH's head until the request ends (a completing PATCH: until the app answered).
 */
#ifndef UG_EXCHANGE_RESUMABLE_H
#define UG_EXCHANGE_RESUMABLE_H

#include "exchange/exchange.h"
#include "resumable/tus.h"

/* Serve a request whose gate and method passed; `has_body` as the head frames it. May end the request. */
void ug_resumable_serve(ug_exchange_t *req, int has_body);
/* Body bytes of a PATCH (or POST with a first chunk). UG_EXCHANGE_ENDED when refused (the error is sent). */
ug_exchange_flow_t ug_resumable_feed(ug_exchange_t *req, const char *bytes, size_t len);
/* The body is complete: verify the checksum, commit, answer or hand the complete upload to the app. */
void ug_resumable_finish_body(ug_exchange_t *req);
/* Before the final answer: make the bytes received so far count (fdatasync, then the offset), so that the answer -
 * and any HEAD after it - never reports more than is on disk, then release the upload's lock. A chunk with
 * Upload-Checksum that did not arrive whole cannot be verified and is dropped instead. */
void ug_resumable_keep_received(ug_exchange_t *req);
/* The app answered the manifest of a completed upload: accepted (< 400) records completion, refused removes it. */
void ug_resumable_settled(ug_exchange_t *req, int accepted);
/* The Access-Control-Expose-Headers the request's answers add (the fields of the resumable protocols it speaks), NULL
 * for a request that is no resumable one. */
const char *ug_resumable_expose(const ug_exchange_t *req);
/* Whether the app's answer to a completed upload is relayed to the client as it is (the IETF draft: "whatever the
 * initial request would have produced"), rather than answered by ug_resumable_respond_accepted (tus). */
int ug_resumable_relays_answer(const ug_exchange_t *req);
/* The most fields ug_resumable_relay_fields adds. */
#define UG_RESUMABLE_RELAY_FIELDS 3
/* The fields the draft's completing request adds to the app's accepted answer: Upload-Offset (the length),
 * Upload-Complete: ?1 and the interop version, so that a client reads where the upload stands from the answer as from
 * any other (tus-js-client requires Upload-Offset). Writes at most UG_RESUMABLE_RELAY_FIELDS into `out`, whose values
 * live in req->tus until the request ends; returns how many. */
size_t ug_resumable_relay_fields(ug_exchange_t *req, ug_header_t *out);
/* The answer to a completing PATCH the app accepted: 204 with Upload-Offset. Ends the exchange. */
void ug_resumable_respond_accepted(ug_exchange_t *req);
/* The request is over: keep what was received (a PATCH cut off), unlock, free req->tus. NULL req->tus is a no-op. */
void ug_resumable_end(ug_exchange_t *req);

#endif
