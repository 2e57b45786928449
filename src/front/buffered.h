/*
 * front/buffered.h - the exchange's third transport (exchange/exchange.h): an upload request h2o has read whole before
 * its handler runs (h2o's buffered path: a request the fronts leave to h2o's pipeline - HTTP/1.0 with Expect, no
 * Host field, a method the route does not allow, ...), its body in req->entity. The request is served by
 * exchange/exchange.c like those the fronts stream - gate, method, upload, manifest, the app's answer, CORS, access
 * record - and answered through h2o's h2o_req_t API; the buffered entity is fed to the upload in one go.
 *
 * Ownership: the exchange's state lives in the h2o request's pool and ends with the request (h2o_dispose_request):
 * a request whose manifest is at the app then goes on without its client, as on the fronts.
 */
#ifndef UG_FRONT_BUFFERED_H
#define UG_FRONT_BUFFERED_H

#include <h2o.h>

#include "config/config.h"
#include "exchange/head.h"
#include "config/runtime.h"

/* Serve `req`, a request of the upload route `route` of `rt` (a reference, taken over), through the exchange. Its
 * response is sent (now, or when the app answers) and reported by the exchange, not by the pathconf's CORS filter
 * and access logger (see ug_buffered_is_served). */
void ug_buffered_serve(h2o_req_t *req, ug_runtime_t *rt, const ug_route_t *route);

/* `req`'s head as the exchange reads it: every field (names lower-case, as h2o keeps them; the array in req->pool),
 * and the body the entity h2o read, of known length. Points into `req`. */
void ug_buffered_head(h2o_req_t *req, ug_head_t *out);

/* The numeric address of the client of `req` into out[NI_MAXHOST] ("unknown" when it has none). */
void ug_buffered_client_address(h2o_req_t *req, char *out);

/* Whether the exchange serves `req` (ug_buffered_serve): its CORS fields and access record are the exchange's. */
int ug_buffered_is_served(h2o_req_t *req);

#endif
