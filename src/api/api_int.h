/* SPDX-License-Identifier: MIT */
/*
 * api_int.h - what api_server.c (libmicrohttpd, connections, workers, SSE) and api_routes.c
 * (the route table and its handlers) share.  One struct api_call per request in flight.
 */
#ifndef PP_API_API_INT_H
#define PP_API_API_INT_H

#include "api/api.h"
#include "base/buf.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct store;

struct api_query {
    const char *view, *sort, *limit, *raw, *webhook, *name; /* borrowed from MHD while the
                                                             * connection lives */
};

/* A request: read on the MHD thread, handled on a worker, answered on the MHD thread. */
struct api_call {
    struct api_server *srv;
    struct MHD_Connection *conn;
    struct api_call *next; /* worker queue */
    const char *method;    /* borrowed from MHD */
    char *path;
    struct api_match m;
    struct api_query q;
    struct buf body;
    bool too_large;
    struct engine_upload *upload; /* POST /files: the update file being streamed in */
    bool streaming;               /* the body goes to upload, not to body */
    int upload_rc;                /* a failed write (PP_E*), 0 */
    char upload_msg[256];
    bool queued;   /* suspended, waiting for a worker */
    bool answered; /* status / resp are ready */
    enum api_role role;
    char token_id[17]; /* names the token in the audit log */
    char client[64];
    int64_t deadline_ms; /* monotonic; 0 = none (X-Request-Timeout) */
    int64_t max_age_ms;  /* Cache-Control: max-age=N of a GET: the age of data accepted; 0 */
    /* the answer */
    unsigned status;
    struct MHD_Response *resp;
    const char *outcome;     /* audit: done / refused / failed / withdrawn / unknown */
    const char *fingerprint; /* an error answer carries it ("fingerprint"): POST /pools */
    char detail[256];
};

/* Handlers (api_routes.c), run on a worker thread. */
typedef void (*api_handler_fn)(struct api_call *x);
struct api_handler {
    enum api_route_id route;
    const char *method; /* "GET" (also HEAD), "POST", "DELETE" */
    api_handler_fn fn;
    bool write; /* admin token only; recorded in the audit log */
};
/* The handler for a matched route and method, or NULL. */
const struct api_handler *api_handler_find(enum api_route_id route, const char *method);
/* The query parameters a route accepts (NULL-terminated). */
const char *const *api_route_query_args(enum api_route_id route);

/* Body helpers (api_routes.c) for handlers in other files: the request body as a JSON object
 * (new reference, NULL with e set), and typed fields with the error naming the field. */
json_t *api_body(struct api_call *x, bool allow_empty, struct err *e);
int api_want_string(const char *field, json_t *v, bool required, const char **out, struct err *e);
int api_want_bool(const char *field, json_t *v, bool def, bool *out, struct err *e);
/* A new array of pointers borrowed from v (caller frees the array). */
int api_want_strings(const char *field, json_t *v, const char ***out, size_t *n, struct err *e);
int api_unpack_failed(const json_error_t *je, struct err *e);

/* The upgrade handlers (api_upgrade.c). */
void api_h_upgrades(struct api_call *x);     /* POST /upgrades */
void api_h_upgrade_host(struct api_call *x); /* POST /rollouts/{id}/upgrade-host */
void api_h_host_forget(struct api_call *x);  /* POST /pools/{name}/forget-host */
void api_h_pool_trust(struct api_call *x);   /* POST /pools/{name}/trust (api_tls.c) */
void api_h_pool_set(struct api_call *x);     /* PATCH /pools/{name} (api_pools.c) */
struct engine_pool_settings;
/*
 * The body of PATCH /pools/{name}: {"live_patching_disabled": true|false}, nothing else; s
 * gets 1 / 0 (-1 when absent).  PP_EINVAL with e naming the field (unknown field, not a bool,
 * nothing given).  Pure; body borrowed.
 */
int api_pool_settings_parse(const json_t *body, struct engine_pool_settings *s, struct err *e);

/* ---- answers (any thread: they build an MHD_Response, queued later) ---- */
void api_answer_json(struct api_call *x, unsigned status, json_t *v);
/* The same with the JSON already as text (taken: malloc'd, len bytes); age_s >= 0 adds an Age
 * header (RFC 9111: how old the answer's data is, in seconds). */
void api_answer_json_text(struct api_call *x, unsigned status, char *text, size_t len,
                          long long age_s);
/* The same with the JSON as a document in parts (taken), read out into the connection as it is
 * sent (base/jparts.h): a large answer is never copied whole. */
struct jparts;
void api_answer_json_parts(struct api_call *x, unsigned status, struct jparts *parts);
/*
 * The API's JSON error body for one of libmicrohttpd's own HTML error pages (api_mhd_errors.c),
 * or NULL when page is not one.  Pure; the result is malloc'd (the caller frees it).
 */
char *api_mhd_error_json(const char *page, size_t len);
void api_answer_empty(struct api_call *x, unsigned status);
void api_answer_error(struct api_call *x, unsigned status, const char *msg);
/* An engine failure: status from the PP code, took_effect for mutating requests. */
void api_answer_err(struct api_call *x, int rc, const struct err *e);
/* Standard security and cache headers on r. */
void api_common_headers(struct MHD_Response *r);

/* The server's parts the handlers use. */
struct engine *api_server_engine(struct api_server *srv);
size_t api_server_max_body(struct api_server *srv);
/* ---- TLS to pools (api_tls.c), worker thread ---- */
/* The SHA-256 fingerprint of the certificate url presents (verified with ca_file when given). */
int api_tls_probe(const char *url, const char *ca_file, char fp[96], struct err *e);
/*
 * May POST /pools send the password to url?  http: only loopback unless insecure_http.  https:
 * the certificate's fingerprint in fp; without a CA file it must equal confirmed (PP_ESTATE
 * naming the fingerprint when nothing was confirmed, PP_ETLS when it differs).
 */
int api_pool_trust(const char *url, const char *ca_file, const char *confirmed, bool insecure_http,
                   char fp[96], struct err *e);
/* Record a pool's fingerprint in the store (after the engine registered it).  Best effort. */
void api_server_pool_fingerprint_set(struct api_server *srv, const char *pool, const char *fp);
/* Add "tls_fingerprint" to each pool of a GET /pools answer from the store. */
void api_server_pool_fingerprints(struct api_server *srv, json_t *pools_answer);
/* The audit list (GET /audit) under the audit lock.  PP_ESTATE when there is no audit log. */
int api_server_audit_list(struct api_server *srv, int limit, json_t **out, struct err *e);

#endif
