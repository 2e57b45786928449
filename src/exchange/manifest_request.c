/*
 * manifest_request.c - see manifest_request.h.
 */
#include "exchange/manifest_request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/signature.h"

/* base_path + (forward_to, with the client's query appended unless it has its own) or the client's path and query. */
static char *target_path(const ug_manifest_request_t *f, size_t *len)
{
    const char *base = f->config->backend.base_path, *fwd = f->route->forward_to;
    const char *rest = f->path, *query = "";
    size_t rest_len = f->path_len, query_len = 0;
    if (fwd != NULL) {
        const char *q = memchr(f->path, '?', f->path_len);
        rest = fwd;
        rest_len = strlen(fwd);
        if (q != NULL && strchr(fwd, '?') == NULL) {
            query = q;
            query_len = f->path_len - (size_t)(q - f->path);
        }
    }
    size_t base_len = strlen(base);
    char *t = malloc(base_len + rest_len + query_len + 1);
    if (t == NULL)
        return NULL;
    memcpy(t, base, base_len);
    memcpy(t + base_len, rest, rest_len);
    memcpy(t + base_len + rest_len, query, query_len);
    *len = base_len + rest_len + query_len;
    t[*len] = '\0';
    return t;
}

char *ug_manifest_request_head(const ug_manifest_request_t *f, size_t *len)
{
    char *head = NULL, *target = NULL, *subject = NULL, *scopes = NULL;
    ug_header_t *hs = malloc(sizeof(*hs) * (f->num_headers + 1)), own[2];
    size_t nh = 0, num_own = 0, target_len = 0;
    char signature[UG_SIGNATURE_MAX];

    if (hs == NULL || (target = target_path(f, &target_len)) == NULL)
        goto Exit;
    const char *request_id = f->upload_id;
    size_t request_id_len = strlen(f->upload_id);
    int request_id_seen = 0;
    for (size_t i = 0; i < f->num_headers; ++i) {
        const ug_header_t *h = &f->headers[i];
        /* Headers only uploadgate may write never come from a client (handler.c strips them on its path too). */
        if (ug_gate_is_reserved_header(h->name, h->name_len))
            continue;
        hs[nh++] = *h;
        /* the exact spelling only: "X_Request_Id" is dropped (ug_header_drop_for_app), never taken as the id */
        if (!request_id_seen && h->name_len == 12 && strncasecmp(h->name, "x-request-id", 12) == 0) {
            request_id_seen = 1; /* the first one decides, as h2o_find_header_by_str finds it */
            if (ug_request_id_is_acceptable(h->value, h->value_len)) {
                request_id = h->value;
                request_id_len = h->value_len;
            }
        }
    }
    if (f->gate != NULL && f->gate->authenticated) {
        if ((subject = ug_auth_subject_header(&f->gate->auth)) != NULL)
            own[num_own++] = (ug_header_t){"X-Auth-Subject", 14, subject, strlen(subject)};
        if ((scopes = ug_auth_scopes_header(&f->gate->auth)) != NULL)
            own[num_own++] = (ug_header_t){"X-Auth-Scopes", 13, scopes, strlen(scopes)};
    }
    ug_forward_meta_t meta = {
        .method = f->method,
        .method_len = f->method_len,
        .target = target,
        .target_len = target_len,
        .backend_authority = f->config->backend.authority,
        .client_address = f->client_address,
        .scheme = f->scheme,
        .client_host = f->authority,
        .client_host_len = f->authority_len,
        .request_id = request_id,
        .request_id_len = request_id_len,
        .content_length = f->json_len,
        .own = own,
        .num_own = num_own,
    };
    if (f->sign_key != NULL) {
        if (ug_signature_render(f->sign_key, f->sign_key_len, f->now, f->json, f->json_len, signature) != 0)
            goto Exit;
        meta.signature = signature;
    }
    head = ug_forward_head_build(&meta, hs, nh, len);
Exit:
    free(subject);
    free(scopes);
    free(target);
    free(hs);
    return head;
}
