/* SPDX-License-Identifier: MIT */
/*
 * client.c - the XAPI client's calls, above the transports: pools (clients) and their options,
 * operations and their delivery through the loop, the per-pool queue with its connection caps,
 * replay rules after a dropped connection, re-login on SESSION_INVALID, HOST_IS_SLAVE followed,
 * the blocking wrappers, cancel and close.  Sessions are session.c's, the event stream (object
 * cache, task waits) stream.c's.  See docs/xapi-client.md.
 *
 * Every completion goes through the loop's "finished" queue, so a callback never runs inside
 * the function that started the operation.  Single-threaded.
 */
#include "xapi/client.h"

#include <stdatomic.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "xapi/client_int.h"

#define LOGM                "xapi"
#define LONG_POLL_MARGIN_MS 30000
#define MAX_REPLAYS         8
#define MAX_REDIRECTS       4

static void op_free(struct xapi_op *op)
{
    free(op->method);
    xapi_value_free(op->params);
    xapi_value_free(op->result);
    free(op->task_ref);
    free(op->ow_obj);
    free(op->ow_want);
    xapi_value_free(op->ow_rec);
    buf_cleanup(&op->ev_body);
    free(op);
}

static void op_unlink(struct xapi_op *op)
{
    struct xapi_client *c = op->c;
    if (op->aprev)
        op->aprev->anext = op->anext;
    else if (c->ops == op)
        c->ops = op->anext;
    if (op->anext)
        op->anext->aprev = op->aprev;
    op->anext = op->aprev = NULL;
}

/* The client's calls still out that op started for itself (ctx op: a task wait's reads, its
 * Async call) lose their callbacks before op is freed.  xapi__op_finish does this for op->sub;
 * a call started on op after it finished (a bug: session 10's SIGSEGV, see xapi_task_wait) is
 * not op->sub, and its answer would reach freed memory or whatever was allocated there. */
static void subs_orphan(struct xapi_op *op)
{
    for (struct xapi_op *o = op->c->ops; o; o = o->anext) {
        if (o->ctx == op && o->done) {
            log_warn(LOGM, "%s: its answer has nobody to take it (%s ended first)",
                     o->method ? o->method : "call", op->method ? op->method : "a task wait");
            o->done = NULL;
        }
    }
}

static void deliver_one(struct xapi_loop *loop, struct xapi_op *op)
{
    op_unlink(op);
    loop->live_ops--;
    if (op->kind != OP_CALL)
        subs_orphan(op); /* before done: a callback may free the client (op->c) */
    if (op->done)
        op->done(op->ctx, op->rc, op->rc == 0 ? op->result : NULL, op->rc == 0 ? NULL : &op->err);
    op_free(op);
}

/*
 * Deliver what was finished when the turn began, popping one at a time from the live queue, so
 * a callback may free its client (xapi_client_free removes that client's queued completions).
 * See client_int.h.
 */
int xapi__ops_deliver(struct xapi_loop *loop)
{
    int n0 = 0;
    for (struct xapi_op *op = loop->fin_head; op; op = op->fnext)
        n0++;
    int n = 0;
    while (n < n0 && loop->fin_head) {
        struct xapi_op *op = loop->fin_head;
        loop->fin_head = op->fnext;
        if (!loop->fin_head)
            loop->fin_tail = NULL;
        deliver_one(loop, op);
        n++;
    }
    return n;
}

/* Deliver the finished operations of one client now (used while it is being freed). */
static void deliver_client(struct xapi_loop *loop, struct xapi_client *c)
{
    struct xapi_op **pp = &loop->fin_head, *prev = NULL;
    while (*pp) {
        struct xapi_op *op = *pp;
        if (op->c == c) {
            *pp = op->fnext;
            if (loop->fin_tail == op)
                loop->fin_tail = prev;
            deliver_one(loop, op);
        } else {
            prev = op;
            pp = &op->fnext;
        }
    }
}

/* ---- wire requests ---- */

struct wreq *xapi__wreq_new(struct xapi_client *c, const char *host, const char *method,
                            struct xapi_value *params)
{
    struct wreq *w = xcalloc(1, sizeof(*w));
    w->c = c;
    w->host = xstrdup(host);
    w->method = xstrdup(method);
    w->params = params ? params : xapi_value_new_array();
    w->proto = c->proto == XAPI_PREF_XMLRPC ? XAPI_PREF_XMLRPC : XAPI_PREF_JSONRPC;
    buf_init(&w->out);
    buf_init(&w->in);
    return w;
}

void xapi__wreq_free(struct wreq *w)
{
    if (!w)
        return;
    xapi__wreq_cleanup(w);
    free(w);
}

/* See client_int.h. */
void xapi__wreq_send(struct xapi_client *c, struct wreq *w)
{
    if (log_get_level() <= LOG_LVL_DEBUG) {
        struct buf b;
        buf_init(&b);
        xapi_call_describe(&b, w->method, w->params);
        log_debug(LOGM, "%s <- %s", w->host, buf_str(&b));
        buf_cleanup(&b);
    }
    xapi__count(&c->counts, XAPI__COUNT_CALL, w->method);
    if (c->o.inproc)
        xapi__inproc_start(c->loop, w);
    else
        xapi__http_start(c->loop, w);
}

/* See client_int.h. */
void xapi__wreq_abort(struct xapi_client *c, struct wreq *w)
{
    if (c->o.inproc)
        xapi__inproc_abort(c->loop, w);
    else
        xapi__http_abort(c->loop, w);
    /* It may also sit in the loop's done queue already. */
    xapi__loop_done_remove(c->loop, w);
}

/* ---- client accessors for the transports ---- */

const struct xapi_client_opts *xapi__client_opts(const struct xapi_client *c)
{
    return &c->o;
}

struct xapi_loop *xapi__client_loop(const struct xapi_client *c)
{
    return c->loop;
}

const char *xapi__client_scheme(const struct xapi_client *c)
{
    return c->scheme;
}

int xapi__client_port(const struct xapi_client *c)
{
    return c->port;
}

struct xapi_pins *xapi__client_pins(struct xapi_client *c)
{
    return c->pins;
}

void xapi__client_set_proto(struct xapi_client *c, enum xapi_proto_pref p)
{
    c->proto = p;
}

enum xapi_proto_pref xapi__client_pref(const struct xapi_client *c)
{
    return c->o.proto;
}

/* See client_int.h. */
const struct xapi__counts *xapi__client_counts(const struct xapi_client *c)
{
    return &c->counts;
}

/* ---- client ---- */

const char *xapi_conn_state_name(enum xapi_conn_state s)
{
    switch (s) {
    case XAPI_CONN_IDLE:
        return "idle";
    case XAPI_CONN_CONNECTING:
        return "connecting";
    case XAPI_CONN_READY:
        return "ready";
    case XAPI_CONN_RECONNECTING:
        return "reconnecting";
    case XAPI_CONN_EMERGENCY:
        return "emergency";
    case XAPI_CONN_FAILED:
        return "failed";
    case XAPI_CONN_UNTRUSTED:
        return "certificate_unconfirmed";
    }
    return "?";
}

void xapi_client_opts_init(struct xapi_client_opts *o)
{
    memset(o, 0, sizeof(*o));
}

static bool host_known(struct xapi_client *c, const char *h)
{
    for (size_t i = 0; i < c->hosts.n; i++)
        if (strcmp(c->hosts.items[i], h) == 0)
            return true;
    return false;
}

void xapi_client_add_address(struct xapi_client *c, const char *host)
{
    if (!host || !*host || host_known(c, host))
        return;
    vec_push(&c->hosts, xstrdup(host));
}

struct xapi_client *xapi_client_new(struct xapi_loop *loop, const struct xapi_client_opts *o,
                                    struct err *e)
{
    if (!o || o->n_addresses == 0 || !o->addresses || !o->user || !o->password) {
        err_set(e, PP_EINVAL, "a pool needs at least one address, a user and a password");
        return NULL;
    }
    struct xapi_client *c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->o = *o;
    c->o.addresses = NULL;
    c->o.n_addresses = 0;
    c->o.user = xstrdup(o->user);
    c->o.password = xstrdup(o->password);
    c->o.originator = xstrdup(o->originator ? o->originator : "poolpatch");
    c->o.ca_file = xstrdup(o->ca_file);
    c->o.known_hosts = xstrdup(o->known_hosts);
    if (c->o.max_conns <= 0)
        c->o.max_conns = 4;
    if (c->o.max_long_polls <= 0)
        c->o.max_long_polls = 8;
    if (c->o.call_timeout_ms <= 0)
        c->o.call_timeout_ms = 120000;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = 10000;
    if (c->o.max_response_bytes == 0)
        c->o.max_response_bytes = (size_t)256 << 20;
    if (c->o.backoff_base_ms <= 0)
        c->o.backoff_base_ms = 500;
    if (c->o.backoff_max_ms <= 0)
        c->o.backoff_max_ms = 30000;
    if (c->o.reconnect_budget_ms == 0)
        c->o.reconnect_budget_ms = 20 * 60 * 1000;
    rng_seed(&c->rng, o->rng_seed ? o->rng_seed : 0x706f6f6cULL);
    c->proto = o->proto == XAPI_PREF_XMLRPC ? XAPI_PREF_XMLRPC : XAPI_PREF_JSONRPC;
    for (size_t i = 0; i < o->n_addresses; i++) {
        char *scheme = NULL, *host = NULL;
        int port = 0;
        if (o->inproc) {
            host = xstrdup(o->addresses[i]);
            scheme = xstrdup("inproc");
        } else if (xapi_url_split(o->addresses[i], &scheme, &host, &port) != 0) {
            err_set(e, PP_EINVAL, "bad pool address '%s'", o->addresses[i]);
            xapi_client_free(c);
            return NULL;
        }
        if (i == 0) {
            c->scheme = scheme;
            c->port = port;
        } else {
            free(scheme);
        }
        xapi_client_add_address(c, host);
        free(host);
    }
    if (o->leave_done_tasks) { /* up to ~200 completed tasks stay in the pool: keep what waits read
                                */
        c->cache = xapi__cache_new();
        xapi__cache_set_fields(c->cache, "task",
                               (const char *const[]){"status", "progress", "result", "error_info",
                                                     "name_label", NULL});
    }
    if (o->inproc && o->inproc->watch) {
        o->inproc->watch(o->inproc->ctx, xapi__loop_wake_cb, loop, true);
        c->watching = true;
    }
    if (c->o.known_hosts || c->o.tofu) {
        c->pins = xapi_pins_new(c->o.known_hosts, e);
        if (!c->pins) {
            xapi_client_free(c);
            return NULL;
        }
    }
    return c;
}

enum xapi_conn_state xapi_client_state(const struct xapi_client *c)
{
    return c->state;
}

const char *xapi_client_master(const struct xapi_client *c)
{
    return c->master ? c->master : "";
}

const char *xapi_client_session(const struct xapi_client *c)
{
    return c->session;
}

enum xapi_proto_pref xapi_client_proto(const struct xapi_client *c)
{
    return c->proto;
}

unsigned xapi_client_login_count(const struct xapi_client *c)
{
    return c->logins;
}

/* ---- what readers of many clients may skip (xapi_change_count) ---- */

static _Atomic uint64_t change_count;

/* See client_int.h. */
void xapi__changed(void)
{
    atomic_fetch_add_explicit(&change_count, 1, memory_order_relaxed);
}

uint64_t xapi_change_count(void)
{
    return atomic_load_explicit(&change_count, memory_order_relaxed);
}

/* ---- operations ---- */

/* See client_int.h. */
struct xapi_op *xapi__op_new(struct xapi_client *c, enum xapi__op_kind kind, xapi_done_fn done,
                             void *ctx)
{
    struct xapi_op *op = xcalloc(1, sizeof(*op));
    op->c = c;
    op->kind = kind;
    op->done = done;
    op->ctx = ctx;
    op->anext = c->ops;
    if (c->ops)
        c->ops->aprev = op;
    c->ops = op;
    c->loop->live_ops++;
    return op;
}

static void q_remove(struct xapi_client *c, struct xapi_op *op)
{
    if (!op->queued)
        return;
    struct xapi_op **pp = &c->q_head, *prev = NULL;
    for (; *pp; prev = *pp, pp = &(*pp)->qnext) {
        if (*pp == op) {
            *pp = op->qnext;
            if (c->q_tail == op)
                c->q_tail = prev;
            break;
        }
    }
    op->qnext = NULL;
    op->queued = false;
}

static void q_push(struct xapi_client *c, struct xapi_op *op, bool front)
{
    op->queued = true;
    op->qnext = NULL;
    if (front) {
        op->qnext = c->q_head;
        c->q_head = op;
        if (!c->q_tail)
            c->q_tail = op;
    } else {
        if (c->q_tail)
            c->q_tail->qnext = op;
        else
            c->q_head = op;
        c->q_tail = op;
    }
}

static void release_slot(struct xapi_client *c, struct wreq *w)
{
    if (!w->counted)
        return;
    w->counted = false;
    if (w->long_poll)
        c->busy_lp--;
    else
        c->busy_calls--;
}

/* Finish op: result is taken; e may be NULL when rc == 0.  Idempotent. */
void xapi__op_finish(struct xapi_op *op, int rc, struct xapi_value *result, const struct err *e)
{
    struct xapi_client *c = op->c;
    if (op->finished) {
        xapi_value_free(result);
        return;
    }
    op->finished = true;
    op->rc = rc;
    op->result = rc == 0 ? (result ? result : xapi_value_new_void()) : NULL;
    if (rc != 0)
        xapi_value_free(result);
    if (rc != 0) {
        if (e && e->code)
            op->err = *e;
        else
            err_set(&op->err, rc, "%s", err_code_name(rc));
        op->err.code = rc;
    }
    xapi__timer_cancel(c->loop, &op->deadline);
    q_remove(c, op);
    if (op->w) {
        release_slot(c, op->w);
        xapi__wreq_abort(c, op->w);
        xapi__wreq_free(op->w);
        op->w = NULL;
    }
    if (op->sub) {
        struct xapi_op *sub = op->sub;
        op->sub = NULL;
        sub->done = NULL; /* its parent is gone */
        xapi__op_cancel_inner(sub);
    }
    if (op->kind == OP_TASK) {
        xapi__task_release(op);
        for (struct xapi_op **pp = &c->task_waiters; *pp; pp = &(*pp)->wnext) {
            if (*pp == op) {
                *pp = op->wnext;
                break;
            }
        }
    }
    if (op->kind == OP_WAIT) {
        for (struct xapi_op **pp = &c->waiters; *pp; pp = &(*pp)->wnext) {
            if (*pp == op) {
                *pp = op->wnext;
                break;
            }
        }
    }
    op->fnext = NULL;
    struct xapi_loop *loop = c->loop;
    if (loop->fin_tail)
        loop->fin_tail->fnext = op;
    else
        loop->fin_head = op;
    loop->fin_tail = op;
}

/* See client_int.h. */
void xapi__op_fail(struct xapi_op *op, int rc, const char *fmt, const char *arg)
{
    struct err e = {0};
    err_set(&e, rc, fmt, arg);
    xapi__op_finish(op, rc, NULL, &e);
}

/* See client_int.h. */
bool xapi__op_needs_session(const struct xapi_op *op)
{
    return !(op->flags & XAPI_CALL_RAW) && xapi_method_takes_session(op->method);
}

static double long_poll_seconds(const struct xapi_value *params)
{
    size_t n = xapi_array_len(params);
    double s = 0;
    if (n >= 1 && xapi_value_as_double(xapi_array_get(params, n - 1), &s) == 0 && s >= 0)
        return s;
    return XAPI__EVENT_WAIT_S;
}

static void op_wreq_done(struct wreq *w);

static void op_send(struct xapi_client *c, struct xapi_op *op)
{
    struct xapi_value *params = xapi_value_new_array();
    if (xapi__op_needs_session(op))
        xapi_array_append_string(params, c->session);
    for (size_t i = 0; i < xapi_array_len(op->params); i++)
        xapi_array_append_take(params, xapi_value_dup(xapi_array_get(op->params, i)));
    const char *host = c->master ? c->master : c->hosts.items[0];
    struct wreq *w = xapi__wreq_new(c, host, op->method, params);
    w->op = op;
    w->done = op_wreq_done;
    w->long_poll = op->lp;
    w->want_events = (op->flags & XAPI__CALL_EVENTS) != 0;
    w->fresh_connect = !(op->flags & XAPI_CALL_IDEMPOTENT) && !xapi_method_idempotent(op->method);
    w->counted = true;
    if (op->lp) {
        double s = long_poll_seconds(op->params);
        w->timeout_ms = (int64_t)(s * 1000) + LONG_POLL_MARGIN_MS;
        w->lp_deadline = xapi__loop_now(c->loop) + (int64_t)(s * 1000);
        c->busy_lp++;
    } else {
        w->timeout_ms = op->timeout_ms;
        c->busy_calls++;
    }
    op->w = w;
    op->session_gen_sent = c->session_gen;
    xapi__wreq_send(c, w);
}

/* See client_int.h. */
void xapi__client_pump(struct xapi_client *c)
{
    if (c->closing)
        return;
    bool need_session = false;
    struct xapi_op *op = c->q_head;
    while (op) {
        struct xapi_op *next = op->qnext;
        bool ready = !xapi__op_needs_session(op) || (c->state == XAPI_CONN_READY && c->session);
        if (!ready) {
            need_session = true;
        } else if (op->lp ? c->busy_lp < c->o.max_long_polls : c->busy_calls < c->o.max_conns) {
            q_remove(c, op);
            op_send(c, op);
        }
        op = next;
    }
    /* waiting for a certificate's confirmation: nothing is tried until xapi_client_trust */
    if (need_session && c->state == XAPI_CONN_UNTRUSTED)
        xapi__fail_waiting(c, &c->last_err);
    else if (need_session && c->state != XAPI_CONN_READY && !c->cycling)
        xapi__client_connect(c, c->logins > 0);
}

static bool op_replayable(const struct xapi_op *op, const struct wreq *w)
{
    if (op->replays >= MAX_REPLAYS)
        return false;
    return !w->maybe_delivered || (op->flags & XAPI_CALL_IDEMPOTENT) ||
           xapi_method_idempotent(op->method);
}

static void op_wreq_done(struct wreq *w)
{
    struct xapi_op *op = w->op;
    struct xapi_client *c = op->c;
    release_slot(c, w);
    op->w = NULL;
    bool session_op = xapi__op_needs_session(op);
    if (w->rc != 0) {
        xapi__count(&c->counts, XAPI__COUNT_TRANSPORT_ERROR, NULL);
        /* A long-poll that outlived its own timeout plus margin means a stuck master too. */
        bool dropped =
            w->rc == PP_ETRANSPORT || (w->rc == PP_ETIMEOUT && (!w->maybe_delivered || op->lp));
        if (dropped && session_op) {
            char *host = xstrdup(w->host);
            if (op_replayable(op, w)) {
                op->replays++;
                q_push(c, op, true);
                xapi__client_lost(c, host, &w->err);
            } else {
                xapi__op_finish(op, w->rc, NULL, &w->err);
                xapi__client_lost(c, host, &w->err);
            }
            free(host);
        } else {
            xapi__op_finish(op, w->rc, NULL, &w->err);
        }
        xapi__wreq_free(w);
        xapi__client_pump(c);
        return;
    }
    if (!w->resp.ok) {
        struct err e = {0};
        xapi_err_from_description(w->resp.error, &e);
        xapi__count(&c->counts, XAPI__COUNT_XAPI_ERROR, NULL);
        log_debug(LOGM, "%s -> %s: %s", w->host, w->method, e.msg);
        if (session_op && strcmp(e.xapi_code, "SESSION_INVALID") == 0 && op->relogins < 1) {
            op->relogins++;
            if (op->session_gen_sent == c->session_gen && c->state == XAPI_CONN_READY) {
                xapi__drop_session(c);
                xapi__client_set_state(c, XAPI_CONN_IDLE, &e);
            }
            q_push(c, op, true);
        } else if (session_op && strcmp(e.xapi_code, "HOST_IS_SLAVE") == 0 &&
                   op->redirects < MAX_REDIRECTS) {
            /* The master changed (designate_new_master, HA): follow it. */
            op->redirects++;
            const char *m = xapi_value_str(xapi_array_get(w->resp.error, 1));
            if (op->session_gen_sent == c->session_gen && c->state == XAPI_CONN_READY) {
                if (m && *m) {
                    xapi_client_add_address(c, m);
                    free(c->master);
                    c->master = xstrdup(m);
                    xapi__changed();
                }
                xapi__drop_session(c);
                xapi__client_set_state(c, XAPI_CONN_RECONNECTING, &e);
            }
            q_push(c, op, true);
        } else if (session_op && xapi_is_emergency_code(e.xapi_code) && op->replays < MAX_REPLAYS) {
            op->replays++;
            q_push(c, op, true);
            xapi__client_lost(c, w->host, &e);
        } else {
            xapi__op_finish(op, PP_EXAPI, NULL, &e);
        }
        xapi__wreq_free(w);
        xapi__client_pump(c);
        return;
    }
    struct xapi_value *v = w->resp.value;
    w->resp.value = NULL;
    if (w->ev_raw) { /* the body goes to the stream undecoded (stream.c decodes it) */
        buf_cleanup(&op->ev_body);
        op->ev_body = w->in;
        buf_init(&w->in);
        op->ev_raw = true;
        op->ev_off = w->ev_off;
        op->ev_len = w->ev_len;
    }
    /* session.c: the master may be going down.  Not when a login came in between (the master
     * is back already: over HTTP the reply can come after the loss it caused, or after the
     * host's return on a fast reboot; a later loss is then not this reboot's). */
    if (str_eq(op->method, "host.reboot") && op->session_gen_sent == c->session_gen)
        c->reboot_sent_ms = xapi__loop_now(c->loop);
    xapi__op_finish(op, 0, v, NULL);
    xapi__wreq_free(w);
    xapi__client_pump(c);
}

/* See client_int.h. */
struct xapi_op *xapi__call_start(struct xapi_client *c, const char *method,
                                 struct xapi_value *params, const struct xapi_call_opts *o,
                                 xapi_done_fn done, void *ctx)
{
    struct xapi_op *op = xapi__op_new(c, OP_CALL, done, ctx);
    op->method = xstrdup(method);
    op->params = params ? params : xapi_value_new_array();
    op->flags = o ? o->flags : 0;
    op->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : c->o.call_timeout_ms;
    op->lp = xapi_method_is_long_poll(method);
    q_push(c, op, false);
    xapi__client_pump(c);
    return op;
}

int xapi_call_async(struct xapi_client *c, const char *method, struct xapi_value *params,
                    const struct xapi_call_opts *o, xapi_done_fn done, void *ctx,
                    struct xapi_op **op_out, struct err *e)
{
    if (!c || !method || !*method || (params && params->type != XAPI_ARRAY)) {
        xapi_value_free(params);
        return err_set(e, PP_EINVAL, "xapi_call_async: bad method or parameters");
    }
    if (c->closing) {
        xapi_value_free(params);
        return err_set(e, PP_ESTATE, "client is closing");
    }
    struct xapi_op *op = xapi__call_start(c, method, params, o, done, ctx);
    if (op_out)
        *op_out = op;
    return 0;
}

struct sync_ctx {
    bool done;
    int rc;
    struct xapi_value *result;
    struct err err;
    xapi_progress_fn progress; /* the caller's, for xapi_task_sync */
    void *progress_ctx;
};

static void sync_done(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct sync_ctx *s = ctx;
    s->done = true;
    s->rc = rc;
    if (rc == 0)
        s->result = xapi_value_dup(result);
    else if (e)
        s->err = *e;
}

static void sync_progress(void *ctx, double p)
{
    struct sync_ctx *s = ctx;
    if (s->progress)
        s->progress(s->progress_ctx, p);
}

/* Run the loop until op (started with sync_done on s) completed; hand over its outcome. */
static int sync_wait(struct xapi_loop *loop, struct xapi_op *op, struct sync_ctx *s,
                     const char *what, struct xapi_value **result, struct err *e)
{
    while (!s->done) {
        if (xapi_loop_run(loop, 1000) < 0 && !s->done) {
            xapi_op_cancel(op);
            while (!s->done)
                xapi_loop_run(loop, 0);
            xapi_value_free(s->result);
            return err_set(e, PP_ESTATE,
                           "%s: nothing can make progress (virtual clock without an idle hook?)",
                           what);
        }
    }
    if (s->rc != 0) {
        if (e)
            *e = s->err;
        return s->rc;
    }
    if (result)
        *result = s->result;
    else
        xapi_value_free(s->result);
    return 0;
}

/* Blocking call (see client.h). */
int xapi_call_sync(struct xapi_client *c, const char *method, struct xapi_value *params,
                   const struct xapi_call_opts *o, struct xapi_value **result, struct err *e)
{
    struct sync_ctx s = {0};
    struct xapi_op *op = NULL;
    if (result)
        *result = NULL;
    int rc = xapi_call_async(c, method, params, o, sync_done, &s, &op, e);
    return rc != 0 ? rc : sync_wait(c->loop, op, &s, method, result, e);
}

/* Blocking Async task (see client.h). */
int xapi_task_sync(struct xapi_client *c, const char *method, struct xapi_value *params,
                   int64_t timeout_ms, xapi_progress_fn progress, void *progress_ctx,
                   struct xapi_value **result, struct err *e)
{
    struct sync_ctx s = {.progress = progress, .progress_ctx = progress_ctx};
    struct xapi_op *op = NULL;
    if (result)
        *result = NULL;
    int rc = xapi_task_async(c, method, params, timeout_ms, sync_progress, sync_done, &s, &op, e);
    return rc != 0 ? rc : sync_wait(c->loop, op, &s, method, result, e);
}

/* ---- cancel and close ---- */

/* See client_int.h. */
void xapi__op_cancel_inner(struct xapi_op *op)
{
    if (op->finished)
        return;
    if (op->kind == OP_TASK && op->task_ref) {
        op->cancelled = true;
        xapi__task_send_cancel(op);
        return;
    }
    if (op->kind == OP_TASK) {
        op->cancelled = true; /* cancel once the task ref is known */
        return;
    }
    struct err e = {0};
    err_set(&e, PP_ECANCELLED, "%s: cancelled", op->method ? op->method : "wait");
    xapi__op_finish(op, PP_ECANCELLED, NULL, &e);
}

void xapi_op_cancel(struct xapi_op *op)
{
    if (op)
        xapi__op_cancel_inner(op);
}

void xapi_client_free(struct xapi_client *c)
{
    if (!c)
        return;
    struct xapi_loop *loop = c->loop;
    c->closing = true;
    xapi__session_stop(c);
    xapi__stream_stop(c);
    /* Finish everything: parents first, so their sub-operations lose their callbacks. */
    for (struct xapi_op *op = c->ops; op; op = op->anext)
        if (op->kind != OP_CALL && !op->finished)
            xapi__op_fail(op, PP_ECANCELLED, "%s", "client closed");
    for (struct xapi_op *op = c->ops; op; op = op->anext)
        if (!op->finished)
            xapi__op_fail(op, PP_ECANCELLED, "%s", "client closed");
    deliver_client(loop, c);
    xapi__session_close(c);
    if (c->watching)
        c->o.inproc->watch(c->o.inproc->ctx, xapi__loop_wake_cb, loop, false);
    for (size_t i = 0; i < c->hosts.n; i++)
        free(c->hosts.items[i]);
    vec_free(&c->hosts);
    xapi__stream_free(c);
    xapi_pins_free(c->pins);
    free(c->master);
    free(c->session);
    free(c->scheme);
    free((char *)c->o.user);
    free((char *)c->o.password);
    free((char *)c->o.originator);
    free((char *)c->o.ca_file);
    free((char *)c->o.known_hosts);
    xapi__counts_cleanup(&c->counts);
    free(c);
}
