/* SPDX-License-Identifier: MIT */
/*
 * http_get.h - HTTP GET of a document from a pool's master on the client's loop, as XenCenter
 * reads XenServer 8's `GET /updates?session_id=S` (xenserver/xenadmin
 * XenModel/Actions/Updates/CheckForCdnUpdatesAction.cs).  Over HTTP(S) a curl easy handle on the
 * loop's multi with the client's TLS settings (CA file, pins); in-process, the handler's get().
 *
 * Threading: the loop's thread.  done runs from xapi_loop_run, never from xapi_http_get_start.
 * Errors: PP_ESTATE (no session yet), PP_ENOTFOUND (HTTP 404: for /updates, no repository is
 * enabled), PP_ETRANSPORT (connection, any other HTTP status than 200: the message has the status
 * and the start of the body), PP_ETIMEOUT, PP_ETLS, PP_ELIMIT (body larger than max_bytes),
 * PP_EINVAL.
 */
#ifndef PP_XAPI_HTTP_GET_H
#define PP_XAPI_HTTP_GET_H

#include <stddef.h>

struct err;
struct xapi_client;
struct xapi_http_get;

/* Default and hard cap of a GET body (bytes). */
#define XAPI_HTTP_GET_DEFAULT_MAX (16u * 1024 * 1024)

/*
 * Completion: rc 0 with the body (borrowed for the call, NUL-terminated after len bytes) and the
 * HTTP status (200), or a PP_E* code with e (borrowed for the call) and body NULL.  status is the
 * HTTP status when one was received (e.g. 404), else 0.
 */
typedef void (*xapi_http_get_done_fn)(void *ctx, int rc, long status, const char *body, size_t len,
                                      const struct err *e);

/*
 * Start `GET <path>?session_id=<session>[&<query>]` to the pool's master.  path e.g. "/updates";
 * query without '?' (may be NULL).  max_bytes caps the body (0 = XAPI_HTTP_GET_DEFAULT_MAX).
 * Returns 0 (done runs later exactly once unless cancelled) or a negative code with e filled
 * (done never runs).  *out (may be NULL) is valid until done ran.
 */
int xapi_http_get_start(struct xapi_client *c, const char *path, const char *query,
                        size_t max_bytes, xapi_http_get_done_fn done, void *ctx,
                        struct xapi_http_get **out, struct err *e);
/* Abort a GET in progress; done does not run.  The request is freed. */
void xapi_http_get_cancel(struct xapi_http_get *g);

#endif
