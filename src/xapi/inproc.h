/* SPDX-License-Identifier: MIT */
/*
 * inproc.h - the contract between the XAPI client's in-process transport and whatever answers
 * calls in the same process (the simulator).  It lets the client talk to `sim` without sockets,
 * on the simulator's virtual clock, with exactly the code paths used over HTTP above the
 * transport.  The xapi module defines the contract; the sim module implements it; the glue is
 * done by the program (cli, benchmarks, tests), so xapi never includes sim.
 */
#ifndef PP_XAPI_INPROC_H
#define PP_XAPI_INPROC_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"

struct buf;

struct xapi_inproc_handler {
    void *ctx;
    /*
     * Answer one call addressed to the host with management address host_address (as the
     * network would route it).  Fills *out (ok + value, or error [CODE, params...]) and returns
     * 0; returns PP_ETRANSPORT with e set when the host cannot be reached at all (down,
     * rebooting, partitioned).  Must not block: a blocking call such as event.from answers with
     * what is available now.
     */
    int (*call)(void *ctx, const char *host_address, const char *method,
                const struct xapi_value *params, struct xapi_response *out, struct err *e);
    /*
     * Upload bytes as `PUT /import_raw_vdi?session_id&sr_id&task_id` would.  query is the
     * query string without '?'.  Returns 0 or a PP_E* code with e set.  May be NULL.
     */
    int (*put)(void *ctx, const char *host_address, const char *path_and_query, const void *body,
               size_t len, struct err *e);
    /*
     * Answer `GET <path_and_query>` (path with '?' and the query, session_id included) as the
     * host's HTTP server would: returns 0 with *status (200 with the document appended to body;
     * 404 when there is no such document, e.g. /updates without a repository; 401 for a bad
     * session; 500 otherwise, with a message in body), or PP_ETRANSPORT with e set when the host
     * cannot be reached at all.  May be NULL (no GET in-process).
     */
    int (*get)(void *ctx, const char *host_address, const char *path_and_query, struct buf *body,
               long *status, struct err *e);
    /*
     * Optional (may be NULL).  on = true: call wake(arg) from any thread whenever the handler's
     * world may have changed by itself (a timer of its own fired, another client over HTTP
     * changed it), so that the loop asks its parked long-polls again at once instead of polling;
     * on = false: forget that registration (one per true).  wake is thread-safe and cheap; the
     * handler may call it while holding its own locks.  Handlers without watch are asked again
     * every 20 ms while a long-poll is parked on a real or scaled clock.
     */
    void (*watch)(void *ctx, void (*wake)(void *arg), void *arg, bool on);
    /*
     * Optional (may be NULL): the earliest time (ms, in the loop clock's timeline) at which the
     * handler's world changes by itself, INT64_MAX when never.  On a real or scaled clock the loop
     * wakes then and asks its parked long-polls again.
     */
    int64_t (*next_deadline)(void *ctx);
    /*
     * Optional (may be NULL): the network's delay for the answer of this call, in ms on the loop
     * clock (<= 0: delivered in the loop turn that ran the call, as without it).  Called after
     * call() answered (not for a long-poll it parked).  Lets a test reorder answers as separate
     * HTTP connections can: a call sent later answered first.
     */
    int64_t (*latency_ms)(void *ctx, const char *method, const struct xapi_value *params);
    /*
     * Optional (may be NULL): how long (ms on the loop clock) the server waits before it reads
     * what a long-poll answers, 0 for at once (xapi batches event.from: 50 ms,
     * ocaml/xapi/xapi_globs.ml event_from_delay).  The transport asks such a call at once (an
     * error is answered then) but takes its events only once that delay has run.
     */
    int64_t (*read_delay_ms)(void *ctx, const char *method, const struct xapi_value *params);
};

#endif
