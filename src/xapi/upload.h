/* SPDX-License-Identifier: MIT */
/*
 * upload.h - HTTP PUT of a file to a pool's master on the client's loop, as `xe update-upload`
 * does: `PUT /import_raw_vdi?session_id=S&<query>` with a Content-Length (xapi refuses chunked
 * bodies).  Over HTTP(S) a curl easy handle on the loop's multi (same TLS settings as the
 * client's calls); in-process, the handler's put().  The caller streams the body through read.
 *
 * Threading: the loop's thread.  done runs from xapi_loop_run, never from xapi_upload_start.
 * Errors: PP_ESTATE (no session yet), PP_ETRANSPORT (connection, HTTP status other than 200:
 * the message has the status and the start of the body), PP_ETIMEOUT (stalled), PP_EIO (read
 * failed: the read callback's error), PP_EINVAL.
 */
#ifndef PP_XAPI_UPLOAD_H
#define PP_XAPI_UPLOAD_H

#include <stdint.h>
#include <sys/types.h>

struct err;
struct xapi_client;
struct xapi_upload;

/* Fill buf with up to n bytes of the body; return the count (> 0), or a negative PP_E* code
 * with e set.  Called exactly until `length` bytes were given. */
typedef ssize_t (*xapi_upload_read_fn)(void *ctx, void *buf, size_t n, struct err *e);
/* Bytes sent so far of total. */
typedef void (*xapi_upload_progress_fn)(void *ctx, int64_t sent, int64_t total);
/* Completion: rc 0 or PP_E* (e borrowed for the call, NULL on success). */
typedef void (*xapi_upload_done_fn)(void *ctx, int rc, const struct err *e);

/*
 * Start `PUT <path>?session_id=<session>&<query>` of length bytes to the pool's master.  path
 * e.g. "/import_raw_vdi"; query without '?' (may be NULL).  Returns 0 (done runs later exactly
 * once unless cancelled) or a negative code with e filled (done never runs).  *out (may be NULL)
 * is valid until done ran.
 */
int xapi_upload_start(struct xapi_client *c, const char *path, const char *query, int64_t length,
                      xapi_upload_read_fn read, xapi_upload_progress_fn progress,
                      xapi_upload_done_fn done, void *ctx, struct xapi_upload **out, struct err *e);
/* Abort an upload in progress; done does not run.  The upload is freed. */
void xapi_upload_cancel(struct xapi_upload *u);

#endif
