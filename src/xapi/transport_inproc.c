/* SPDX-License-Identifier: MIT */
/*
 * transport_inproc.c - XAPI calls handed straight to an in-process handler (the simulator's
 * dispatcher, struct xapi_inproc_handler).  Requests are queued and run from the loop, so
 * completions are never delivered re-entrantly, exactly as over HTTP.  The handler never blocks:
 * an event.from that finds nothing is "parked" and asked again whenever the simulated world may
 * have changed (another call ran, or the loop's idle hook advanced virtual time), until its own
 * timeout passes on the loop clock; then it returns the empty batch as xapi would.  A handler
 * with read_delay_ms (xapi's event.from batching) has its long-poll's answer taken only once that
 * delay has run from the call: an earlier answer without error is dropped and the call parked.
 */
#include <string.h>

#include "base/log.h"
#include "xapi/client_int.h"

static void q_append(struct wreq **head, struct wreq **tail, struct wreq *w)
{
    w->next = NULL;
    if (*tail)
        (*tail)->next = w;
    else
        *head = w;
    *tail = w;
}

void xapi__inproc_start(struct xapi_loop *loop, struct wreq *w)
{
    struct xapi_loop_int *li = xapi__loop_int(loop);
    const struct xapi_inproc_handler *h = xapi__client_opts(w->c)->inproc;
    w->parked = false;
    w->lp_read_at = INT64_MIN;
    if (w->long_poll && h->read_delay_ms)
        w->lp_read_at = xapi__loop_now(loop) + h->read_delay_ms(h->ctx, w->method, w->params);
    q_append(&li->ip_head, &li->ip_tail, w);
}

void xapi__inproc_abort(struct xapi_loop *loop, struct wreq *w)
{
    struct xapi_loop_int *li = xapi__loop_int(loop);
    xapi__timer_cancel(loop, &w->ip_delay);
    struct wreq **pp = &li->ip_head, *prev = NULL;
    for (; *pp; prev = *pp, pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            if (li->ip_tail == w)
                li->ip_tail = prev;
            w->next = NULL;
            return;
        }
    }
    for (pp = &li->parked; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            w->next = NULL;
            w->parked = false;
            return;
        }
    }
}

static bool empty_batch(const struct xapi_response *r)
{
    const struct xapi_value *ev = xapi_struct_get(r->value, "events");
    return ev && xapi_array_len(ev) == 0;
}

static void inproc_delivered(void *arg)
{
    struct wreq *w = arg;
    w->ip_delay = NULL;
    xapi__loop_wreq_complete(xapi__client_loop(w->c), w);
}

/* Deliver w's answer now, or after the handler's latency for it (xapi_inproc_handler). */
static void inproc_complete(struct xapi_loop *loop, const struct xapi_inproc_handler *h,
                            struct wreq *w)
{
    int64_t d = h->latency_ms ? h->latency_ms(h->ctx, w->method, w->params) : 0;
    if (d > 0)
        w->ip_delay = xapi__timer_add(loop, d, inproc_delivered, w);
    else
        xapi__loop_wreq_complete(loop, w);
}

int xapi__inproc_run(struct xapi_loop *loop)
{
    struct xapi_loop_int *li = xapi__loop_int(loop);
    struct wreq *w = li->ip_head;
    li->ip_head = li->ip_tail = NULL;
    int ran = 0;
    while (w) {
        struct wreq *next = w->next;
        w->next = NULL;
        const struct xapi_inproc_handler *h = xapi__client_opts(w->c)->inproc;
        xapi_response_cleanup(&w->resp);
        memset(&w->resp, 0, sizeof(w->resp));
        err_clear(&w->err);
        if (w->lp_read_at <= xapi__loop_now(loop))
            w->lp_read_at = INT64_MIN; /* the delay has run: the events are taken from now on */
        int rc = h->call(h->ctx, w->host, w->method, w->params, &w->resp, &w->err);
        ran++;
        if (rc != 0) {
            if (w->err.code == 0)
                err_set(&w->err, rc, "in-process call to %s failed", w->host);
            w->rc = rc;
            w->maybe_delivered = false;
            inproc_complete(loop, h, w);
        } else if (w->long_poll && w->resp.ok &&
                   (w->lp_read_at != INT64_MIN ||
                    (empty_batch(&w->resp) && xapi__loop_now(loop) < w->lp_deadline))) {
            xapi_response_cleanup(&w->resp);
            memset(&w->resp, 0, sizeof(w->resp));
            ran--; /* nothing changed: not a reason to ask the parked ones again */
            w->parked = true;
            w->next = li->parked;
            li->parked = w;
        } else {
            w->rc = 0;
            w->maybe_delivered = true;
            inproc_complete(loop, h, w);
        }
        w = next;
    }
    return ran;
}

void xapi__inproc_unpark(struct xapi_loop *loop)
{
    struct xapi_loop_int *li = xapi__loop_int(loop);
    struct wreq *w = li->parked;
    li->parked = NULL;
    while (w) {
        struct wreq *next = w->next;
        w->parked = false;
        q_append(&li->ip_head, &li->ip_tail, w);
        w = next;
    }
}

bool xapi__inproc_has_queued(const struct xapi_loop *loop)
{
    return xapi__loop_int_c(loop)->ip_head != NULL;
}

bool xapi__inproc_has_parked(const struct xapi_loop *loop)
{
    return xapi__loop_int_c(loop)->parked != NULL;
}

int64_t xapi__inproc_next_deadline(const struct xapi_loop *loop)
{
    int64_t t = INT64_MAX;
    for (const struct wreq *w = xapi__loop_int_c(loop)->parked; w; w = w->next) {
        /* not before its read delay has run, even when its own timeout is shorter (0: the
         * stream's refresh) - else the loop's clock never reaches it */
        int64_t due = w->lp_read_at != INT64_MIN ? w->lp_read_at : w->lp_deadline;
        if (due < t)
            t = due;
    }
    return t;
}

/* Earliest self-change of a parked request's handler (see client_int.h). */
int64_t xapi__inproc_handler_deadline(const struct xapi_loop *loop)
{
    int64_t t = INT64_MAX;
    for (const struct wreq *w = xapi__loop_int_c(loop)->parked; w; w = w->next) {
        const struct xapi_inproc_handler *h = xapi__client_opts(w->c)->inproc;
        int64_t d = h->next_deadline ? h->next_deadline(h->ctx) : INT64_MAX;
        if (d < t)
            t = d;
    }
    return t;
}

/* A parked request whose handler cannot wake the loop (see client_int.h). */
bool xapi__inproc_has_unwatched_parked(const struct xapi_loop *loop)
{
    for (const struct wreq *w = xapi__loop_int_c(loop)->parked; w; w = w->next)
        if (!xapi__client_opts(w->c)->inproc->watch)
            return true;
    return false;
}
