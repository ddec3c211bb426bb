/* SPDX-License-Identifier: MIT */
/*
 * wire.h - test helper: runs the real `poolpatch sim` binary (path in env POOLPATCH) on port 0,
 * reads its `pool NAME master URL` / `ready` lines, and talks to it with libcurl using the
 * project's codecs (XML-RPC or JSON-RPC v1 / v2), plus raw HTTP for the control endpoints.
 */
#ifndef PP_TESTS_WIRE_H
#define PP_TESTS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/buf.h"
#include "xapi/codec.h"

#define WIRE_MAX_POOLS 8

struct wire_sim {
    pid_t pid;
    int out_fd;
    size_t npools;
    char pool_name[WIRE_MAX_POOLS][64];
    char pool_url[WIRE_MAX_POOLS][128]; /* "http://127.0.0.10:PORT/" */
    unsigned port;
};

/* Start `poolpatch sim --scenario <src>/scenarios/<scenario> --port 0 --time-scale <scale>`;
 * waits (10 s at most) for `ready`.  Returns 0 or -1 (child stopped). */
int wire_start(struct wire_sim *w, const char *scenario, const char *time_scale);
/* SIGTERM, wait; returns the child's exit status (0 = clean exit) or -1. */
int wire_stop(struct wire_sim *w);
/* "http://<addr>:<port>/" for a host address. */
void wire_url(const struct wire_sim *w, const char *addr, char *out, size_t n);

/*
 * One XAPI call to url (a base URL ending in '/') in the given protocol.  Returns 0 with *out
 * filled (ok or XAPI error), or -1 on a transport failure or an HTTP status other than 200
 * (then *status holds it, 0 when the connection failed).  params borrowed.
 */
int wire_call(const char *url, enum xapi_proto proto, const char *method,
              const struct xapi_value *params, struct xapi_response *out, long *status);
/* Raw HTTP: method, full URL, optional body; fills *status (0 on connection failure) and body. */
int wire_http(const char *method, const char *url, const char *body, size_t len, long *status,
              struct buf *resp);

#endif
