/*
 * exchange/resumable_plain.h - the IETF resumable-upload draft on ORDINARY upload routes (no `resumable:` block): a
 * POST or PUT carrying Upload-Draft-Interop-Version becomes a resumable upload with no change to the app. Its bytes
 * (the request content, multipart or raw) are stored as they arrive in the resumable store (resumable/store.h:
 * durable offsets, flock), its URL is <resumable_path><id> (a prefix uploadgate owns), and when the content is
 * complete it is read back through the route's pipeline (upload/upload.h) as if it had come in one request: the app
 * gets the manifest a one-request POST of the same body produces, and the completing request its answer.
 *
 * The request logic is exchange/resumable_ietf.c's, on req->tus with `plain` set; this file decides which requests
 * are such uploads, records the creating request, and parses the completed body.
 *
 * Ownership: the parse state (ug_plain_parse_t) lives in req->tus->parse and is freed by ug_plain_parse_free (which
 * ug_resumable_end calls).
 */
#ifndef UG_EXCHANGE_RESUMABLE_PLAIN_H
#define UG_EXCHANGE_RESUMABLE_PLAIN_H

#include "exchange/exchange.h"
#include "resumable/store.h"

typedef struct ug_plain_parse ug_plain_parse_t;

/* Whether `path` (normalised, without query) is under config->resumable_path; then *route is the route that created
 * the upload it names, or a stand-in (no auth, the global CORS policy) that answers 404 when it names none, or a
 * route that no longer exists or no longer takes resumable requests. */
int ug_plain_decide(const ug_config_t *config, const char *path, size_t path_len, const ug_route_t **route);

/* A request whose target is under resumable_path (its gate passed): HEAD, PATCH or DELETE of the upload. Returns 0,
 * having done nothing, for any other target. */
int ug_plain_serve_url(ug_exchange_t *req, int has_body);

/* A request of an ordinary upload route (gate and method passed): when it carries Upload-Draft-Interop-Version and
 * the route takes resumable requests, serve it as the creation of a resumable upload and return 1. On a route that
 * does not, refuse one with Upload-Complete: ?0 (400: an incomplete body) and return 1. Else 0: a one-request upload. */
int ug_plain_serve_creation(ug_exchange_t *req, int has_body);

/* Record the creating request (method, target, Content-Type: malloc'd copies) into an info about to be created; -1
 * when out of memory. ug_plain_record_clear frees those three only. */
int ug_plain_record(const ug_exchange_t *req, ug_rstore_info_t *info);
void ug_plain_record_clear(ug_rstore_info_t *info);

/* The upload (req->tus->store) holds its whole body: parse it through the route's pipeline in slices, one per turn of
 * the event loop, then forward the manifest. A body the pipeline refuses gets the pipeline's error and the upload is
 * removed, files and state. */
void ug_plain_complete(ug_exchange_t *req);
void ug_plain_parse_free(ug_plain_parse_t *p);

#endif
