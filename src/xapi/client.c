/* SPDX-License-Identifier: MIT */
/*
 * client.c - the XAPI client's state machines, above the transports: the loop (timers, queued
 * completions, the idle hook for virtual time), per-pool sessions (login, HOST_IS_SLAVE,
 * re-login on SESSION_INVALID, logout), reconnect with bounded jittered backoff over every known
 * host address with emergency mode told apart, calls with replay rules, Async tasks waited on
 * through event.from, and the event-fed object cache with its waiters.  See docs/xapi-client.md.
 *
 * Every completion goes through the loop's "finished" queue, so a callback never runs inside
 * the function that started the operation.  Single-threaded.
 */
#include "xapi/client.h"

#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "xapi/client_int.h"

#define LOGM                "xapi"
#define EVENT_WAIT_S        30.0 /* event.from timeout for caches and tasks */
#define LONG_POLL_MARGIN_MS 30000
#define MAX_REPLAYS         8
#define MAX_REDIRECTS       4

/* ---- types ---- */

enum op_kind { OP_CALL, OP_TASK, OP_WAIT };

struct xapi_op {
    struct xapi_client *c;
    enum op_kind kind;
    xapi_done_fn done;
    void *ctx;
    int rc;
    struct xapi_value *result;
    struct err err;
    bool finished;
    bool cancelled;
    struct xapi_op *fnext;         /* loop's finished queue */
    struct xapi_op *anext, *aprev; /* client's live ops */

    /* OP_CALL */
    char *method;
    struct xapi_value *params;
    unsigned flags;
    int64_t timeout_ms;
    int relogins, redirects, replays;
    struct wreq *w;
    bool queued;
    struct xapi_op *qnext;
    bool lp;
    unsigned session_gen_sent;

    /* OP_TASK */
    char *task_ref;
    xapi_progress_fn progress;
    double last_progress;
    struct xapi_op *sub;
    bool cancel_sent;
    bool tw_seen;    /* the task stream has shown this task */
    unsigned tw_seq; /* the stream's request count when the ref was learned */
    struct xapi__timer *deadline;

    /* OP_WAIT */
    bool (*pred)(void *ctx, struct xapi_client *c);
    void *pred_ctx;
    struct xapi_op *wnext;
};

struct xapi_client {
    struct xapi_loop *loop;
    struct xapi_client_opts o; /* strings below are owned copies */
    char *scheme;
    int port;
    struct VEC(char *) hosts;
    char *master;
    char *session;
    unsigned session_gen;
    unsigned logins;
    enum xapi_proto_pref proto;
    enum xapi_conn_state state;
    struct xapi_op *q_head, *q_tail;
    int busy_calls, busy_lp;
    struct xapi_op *ops;

    /* connect cycle */
    struct wreq *login_w;
    struct VEC(char *) cands; /* this round's addresses to try, in order */
    size_t cand_i;
    unsigned attempt;
    int64_t cycle_start;
    bool cycling;
    struct xapi__timer *backoff_t;
    struct err last_err;
    bool saw_emergency;
    int redirects_in_round;
    struct rng rng;
    struct xapi_pins *pins;

    /* cache */
    struct xapi_cache *cache;
    char **cache_classes;
    bool cache_on, cache_ready;
    unsigned cache_gen, cache_session_gen;
    struct xapi_op *cache_sub;
    struct xapi__timer *cache_retry_t;
    unsigned cache_failures;
    struct xapi_op *waiters;

    /* task stream (one event.from on "task" for every task wait) */
    struct xapi_cache *tcache;
    struct xapi_op *task_waiters; /* OP_TASK with a ref, linked by wnext */
    struct xapi_op *tw_sub;
    struct xapi__timer *tw_retry_t;
    bool tw_ready;
    unsigned tw_session_gen, tw_seq, tw_inflight_seq;

    bool closing;
    bool watching; /* registered with the in-process handler's watch */
    struct xapi__counts counts;
};

static void client_pump(struct xapi_client *c);
static void client_connect(struct xapi_client *c, bool reconnect);
static void cache_next(struct xapi_client *c);
static void cache_eval_waiters(struct xapi_client *c);

static void op_free(struct xapi_op *op)
{
    free(op->method);
    xapi_value_free(op->params);
    xapi_value_free(op->result);
    free(op->task_ref);
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

static void deliver_one(struct xapi_loop *loop, struct xapi_op *op)
{
    op_unlink(op);
    loop->live_ops--;
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

static void wreq_send(struct xapi_client *c, struct wreq *w)
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

static void wreq_abort(struct xapi_client *c, struct wreq *w)
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
    }
    return "?";
}

void xapi_client_opts_init(struct xapi_client_opts *o)
{
    memset(o, 0, sizeof(*o));
}

static void set_state(struct xapi_client *c, enum xapi_conn_state s, const struct err *e)
{
    if (c->state == s)
        return;
    log_info(LOGM, "pool %s: %s -> %s%s%s", c->hosts.items[0], xapi_conn_state_name(c->state),
             xapi_conn_state_name(s), e ? ": " : "", e ? e->msg : "");
    c->state = s;
    if (c->o.on_state && !c->closing)
        c->o.on_state(c->o.state_ctx, s, e);
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

/* ---- operations ---- */

static struct xapi_op *op_new(struct xapi_client *c, enum op_kind kind, xapi_done_fn done,
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

static void op_cancel_inner(struct xapi_op *op);

/* Finish op: result is taken; e may be NULL when rc == 0.  Idempotent. */
static void op_finish(struct xapi_op *op, int rc, struct xapi_value *result, const struct err *e)
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
        wreq_abort(c, op->w);
        xapi__wreq_free(op->w);
        op->w = NULL;
    }
    if (op->sub) {
        struct xapi_op *sub = op->sub;
        op->sub = NULL;
        sub->done = NULL; /* its parent is gone */
        op_cancel_inner(sub);
    }
    if (op->kind == OP_TASK) {
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

static void op_fail(struct xapi_op *op, int rc, const char *fmt, const char *arg)
{
    struct err e = {0};
    err_set(&e, rc, fmt, arg);
    op_finish(op, rc, NULL, &e);
}

static bool op_needs_session(const struct xapi_op *op)
{
    return !(op->flags & XAPI_CALL_RAW) && xapi_method_takes_session(op->method);
}

static double long_poll_seconds(const struct xapi_value *params)
{
    size_t n = xapi_array_len(params);
    double s = 0;
    if (n >= 1 && xapi_value_as_double(xapi_array_get(params, n - 1), &s) == 0 && s >= 0)
        return s;
    return EVENT_WAIT_S;
}

static void op_wreq_done(struct wreq *w);

static void op_send(struct xapi_client *c, struct xapi_op *op)
{
    struct xapi_value *params = xapi_value_new_array();
    if (op_needs_session(op))
        xapi_array_append_string(params, c->session);
    for (size_t i = 0; i < xapi_array_len(op->params); i++)
        xapi_array_append_take(params, xapi_value_dup(xapi_array_get(op->params, i)));
    const char *host = c->master ? c->master : c->hosts.items[0];
    struct wreq *w = xapi__wreq_new(c, host, op->method, params);
    w->op = op;
    w->done = op_wreq_done;
    w->long_poll = op->lp;
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
    wreq_send(c, w);
}

static void client_pump(struct xapi_client *c)
{
    if (c->closing)
        return;
    bool need_session = false;
    struct xapi_op *op = c->q_head;
    while (op) {
        struct xapi_op *next = op->qnext;
        bool ready = !op_needs_session(op) || (c->state == XAPI_CONN_READY && c->session);
        if (!ready) {
            need_session = true;
        } else if (op->lp ? c->busy_lp < c->o.max_long_polls : c->busy_calls < c->o.max_conns) {
            q_remove(c, op);
            op_send(c, op);
        }
        op = next;
    }
    if (need_session && c->state != XAPI_CONN_READY && !c->cycling)
        client_connect(c, c->logins > 0);
}

static bool op_replayable(const struct xapi_op *op, const struct wreq *w)
{
    if (op->replays >= MAX_REPLAYS)
        return false;
    return !w->maybe_delivered || (op->flags & XAPI_CALL_IDEMPOTENT) ||
           xapi_method_idempotent(op->method);
}

static void drop_session(struct xapi_client *c)
{
    free(c->session);
    c->session = NULL;
}

/* The master stopped answering (or answered as a non-master): find it again. */
static void client_lost(struct xapi_client *c, const char *host, const struct err *e)
{
    if (c->closing)
        return;
    if (c->state == XAPI_CONN_READY && c->master && strcmp(c->master, host) == 0) {
        log_warn(LOGM, "pool %s: lost master %s: %s", c->hosts.items[0], host, e ? e->msg : "");
        drop_session(c);
        c->last_err = e ? *e : c->last_err;
        set_state(c, XAPI_CONN_RECONNECTING, e);
        client_connect(c, true);
    }
}

static void op_wreq_done(struct wreq *w)
{
    struct xapi_op *op = w->op;
    struct xapi_client *c = op->c;
    release_slot(c, w);
    op->w = NULL;
    bool session_op = op_needs_session(op);
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
                client_lost(c, host, &w->err);
            } else {
                op_finish(op, w->rc, NULL, &w->err);
                client_lost(c, host, &w->err);
            }
            free(host);
        } else {
            op_finish(op, w->rc, NULL, &w->err);
        }
        xapi__wreq_free(w);
        client_pump(c);
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
                drop_session(c);
                set_state(c, XAPI_CONN_IDLE, &e);
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
                }
                drop_session(c);
                set_state(c, XAPI_CONN_RECONNECTING, &e);
            }
            q_push(c, op, true);
        } else if (session_op && xapi_is_emergency_code(e.xapi_code) && op->replays < MAX_REPLAYS) {
            op->replays++;
            q_push(c, op, true);
            client_lost(c, w->host, &e);
        } else {
            op_finish(op, PP_EXAPI, NULL, &e);
        }
        xapi__wreq_free(w);
        client_pump(c);
        return;
    }
    struct xapi_value *v = w->resp.value;
    w->resp.value = NULL;
    op_finish(op, 0, v, NULL);
    xapi__wreq_free(w);
    client_pump(c);
}

static struct xapi_op *call_start(struct xapi_client *c, const char *method,
                                  struct xapi_value *params, const struct xapi_call_opts *o,
                                  xapi_done_fn done, void *ctx)
{
    struct xapi_op *op = op_new(c, OP_CALL, done, ctx);
    op->method = xstrdup(method);
    op->params = params ? params : xapi_value_new_array();
    op->flags = o ? o->flags : 0;
    op->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : c->o.call_timeout_ms;
    op->lp = xapi_method_is_long_poll(method);
    q_push(c, op, false);
    client_pump(c);
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
    struct xapi_op *op = call_start(c, method, params, o, done, ctx);
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

/* ---- connect cycle ---- */

static void cands_free(struct xapi_client *c)
{
    for (size_t i = 0; i < c->cands.n; i++)
        free(c->cands.items[i]);
    vec_free(&c->cands);
    c->cand_i = 0;
}

static void cands_add(struct xapi_client *c, const char *h, size_t at)
{
    for (size_t i = 0; i < c->cands.n; i++) {
        if (strcmp(c->cands.items[i], h) == 0) {
            if (i <= at && i < c->cand_i + 1)
                return; /* already tried in this round */
            free(c->cands.items[i]);
            vec_remove(&c->cands, i);
            break;
        }
    }
    if (at > c->cands.n)
        at = c->cands.n;
    vec_reserve(&c->cands, c->cands.n + 1);
    memmove(&c->cands.items[at + 1], &c->cands.items[at], (c->cands.n - at) * sizeof(char *));
    c->cands.items[at] = xstrdup(h);
    c->cands.n++;
}

static void round_start(struct xapi_client *c)
{
    cands_free(c);
    if (c->master)
        cands_add(c, c->master, c->cands.n);
    for (size_t i = 0; i < c->hosts.n; i++)
        cands_add(c, c->hosts.items[i], c->cands.n);
    c->cand_i = 0;
    c->saw_emergency = false;
    c->redirects_in_round = 0;
}

static void login_next(struct xapi_client *c);

static void fail_waiting(struct xapi_client *c, const struct err *e)
{
    struct xapi_op *op = c->q_head;
    while (op) {
        struct xapi_op *next = op->qnext;
        if (op_needs_session(op))
            op_finish(op, e->code ? e->code : PP_ETRANSPORT, NULL, e);
        op = next;
    }
}

static void cycle_end(struct xapi_client *c)
{
    c->cycling = false;
    c->attempt = 0;
    xapi__timer_cancel(c->loop, &c->backoff_t);
    cands_free(c);
}

static void backoff_fire(void *arg)
{
    struct xapi_client *c = arg;
    c->backoff_t = NULL;
    round_start(c);
    login_next(c);
}

static void round_failed(struct xapi_client *c)
{
    struct err e = c->last_err;
    if (c->saw_emergency) {
        err_prefix(&e, "pool in emergency mode (no host acts as master): ");
        set_state(c, XAPI_CONN_EMERGENCY, &e);
    }
    int64_t now = xapi__loop_now(c->loop);
    int64_t spent = now - c->cycle_start;
    if (c->o.reconnect_budget_ms < 0 || spent >= c->o.reconnect_budget_ms) {
        if (e.code == 0)
            err_set(&e, PP_ETRANSPORT, "no address of the pool answered");
        if (!c->saw_emergency)
            err_prefix(&e, "cannot reach the pool's master: ");
        log_warn(LOGM, "pool %s: giving up: %s", c->hosts.items[0], e.msg);
        cycle_end(c);
        set_state(c, c->saw_emergency ? XAPI_CONN_EMERGENCY : XAPI_CONN_FAILED, &e);
        fail_waiting(c, &e);
        return;
    }
    int64_t d =
        xapi_backoff_delay(c->attempt++, c->o.backoff_base_ms, c->o.backoff_max_ms, &c->rng);
    if (d > c->o.reconnect_budget_ms - spent)
        d = c->o.reconnect_budget_ms - spent;
    log_info(LOGM, "pool %s: no master yet (%s); retrying in %lld ms", c->hosts.items[0], e.msg,
             (long long)d);
    c->backoff_t = xapi__timer_add(c->loop, d, backoff_fire, c);
}

static void login_done(struct wreq *w);

static void login_next(struct xapi_client *c)
{
    if (c->cand_i >= c->cands.n) {
        round_failed(c);
        return;
    }
    const char *host = c->cands.items[c->cand_i];
    struct xapi_value *p = xapi_value_new_array();
    xapi_array_append_string(p, c->o.user);
    xapi_array_append_string(p, c->o.password);
    /* The version argument is the client's API version; xapi ignores it (ocaml/xapi/
     * xapi_session.ml binds it as ~version:_).  XenAPI.py sends "1.0"; so do we. */
    xapi_array_append_string(p, "1.0");
    xapi_array_append_string(p, c->o.originator);
    xapi__count(&c->counts, XAPI__COUNT_LOGIN, NULL);
    struct wreq *w = xapi__wreq_new(c, host, "session.login_with_password", p);
    w->done = login_done;
    w->timeout_ms = c->o.call_timeout_ms;
    c->login_w = w;
    c->loop->internal_w++;
    wreq_send(c, w);
}

static void client_connect(struct xapi_client *c, bool reconnect)
{
    if (c->cycling || c->closing)
        return;
    c->cycling = true;
    c->cycle_start = xapi__loop_now(c->loop);
    c->attempt = 0;
    if (reconnect)
        xapi__count(&c->counts, XAPI__COUNT_RECONNECT, NULL);
    err_clear(&c->last_err);
    set_state(c, reconnect ? XAPI_CONN_RECONNECTING : XAPI_CONN_CONNECTING, NULL);
    round_start(c);
    login_next(c);
}

static void login_done(struct wreq *w)
{
    struct xapi_client *c = w->c;
    c->login_w = NULL;
    c->loop->internal_w--;
    if (c->closing) {
        xapi__wreq_free(w);
        return;
    }
    if (w->rc != 0) {
        xapi__count(&c->counts, XAPI__COUNT_TRANSPORT_ERROR, NULL);
        c->last_err = w->err;
        if (w->rc == PP_ETLS || w->rc == PP_ELIMIT) {
            struct err e = w->err;
            cycle_end(c);
            set_state(c, XAPI_CONN_FAILED, &e);
            fail_waiting(c, &e);
        } else {
            c->cand_i++;
            login_next(c);
        }
        xapi__wreq_free(w);
        return;
    }
    if (!w->resp.ok) {
        struct err e = {0};
        xapi_err_from_description(w->resp.error, &e);
        xapi__count(&c->counts, XAPI__COUNT_XAPI_ERROR, NULL);
        if (strcmp(e.xapi_code, "HOST_IS_SLAVE") == 0) {
            const char *m = xapi_value_str(xapi_array_get(w->resp.error, 1));
            log_info(LOGM, "pool %s: %s is a supporter; master is %s", c->hosts.items[0], w->host,
                     m ? m : "?");
            c->last_err = e;
            if (m && *m && c->redirects_in_round < MAX_REDIRECTS) {
                c->redirects_in_round++;
                xapi_client_add_address(c, m);
                cands_add(c, m, c->cand_i + 1);
            }
            c->cand_i++;
            login_next(c);
        } else if (xapi_is_emergency_code(e.xapi_code)) {
            c->saw_emergency = true;
            c->last_err = e;
            err_prefix(&c->last_err, "%s: ", w->host);
            c->cand_i++;
            login_next(c);
        } else {
            /* Refused credentials and the like do not fix themselves: report at once. */
            cycle_end(c);
            set_state(c, XAPI_CONN_FAILED, &e);
            fail_waiting(c, &e);
        }
        xapi__wreq_free(w);
        return;
    }
    const char *s = xapi_value_str(w->resp.value);
    if (!s || !*s) {
        c->last_err.code = 0;
        err_set(&c->last_err, PP_EPARSE, "%s: login returned no session", w->host);
        c->cand_i++;
        login_next(c);
        xapi__wreq_free(w);
        return;
    }
    free(c->session);
    c->session = xstrdup(s);
    free(c->master);
    c->master = xstrdup(w->host);
    c->session_gen++;
    c->logins++;
    cycle_end(c);
    log_info(LOGM, "pool %s: logged in to master %s (%s)", c->hosts.items[0], c->master,
             c->proto == XAPI_PREF_XMLRPC ? "XML-RPC" : "JSON-RPC");
    set_state(c, XAPI_CONN_READY, NULL);
    xapi__wreq_free(w);
    client_pump(c);
    if (c->cache_on && !c->cache_sub && !c->cache_retry_t)
        cache_next(c);
}

/* ---- cancel and close ---- */

static void task_send_cancel(struct xapi_op *op);

static void op_cancel_inner(struct xapi_op *op)
{
    if (op->finished)
        return;
    if (op->kind == OP_TASK && op->task_ref) {
        op->cancelled = true;
        task_send_cancel(op);
        return;
    }
    if (op->kind == OP_TASK) {
        op->cancelled = true; /* cancel once the task ref is known */
        return;
    }
    struct err e = {0};
    err_set(&e, PP_ECANCELLED, "%s: cancelled", op->method ? op->method : "wait");
    op_finish(op, PP_ECANCELLED, NULL, &e);
}

void xapi_op_cancel(struct xapi_op *op)
{
    if (op)
        op_cancel_inner(op);
}

static void logout_done(struct wreq *w)
{
    w->c->loop->internal_w--;
    w->c->login_w = NULL;
    xapi__wreq_free(w);
}

void xapi_client_free(struct xapi_client *c)
{
    if (!c)
        return;
    struct xapi_loop *loop = c->loop;
    c->closing = true;
    xapi__timer_cancel(loop, &c->backoff_t);
    xapi__timer_cancel(loop, &c->cache_retry_t);
    xapi__timer_cancel(loop, &c->tw_retry_t);
    if (c->login_w) {
        wreq_abort(c, c->login_w);
        xapi__wreq_free(c->login_w);
        c->login_w = NULL;
        loop->internal_w--;
    }
    /* Finish everything: parents first, so their sub-operations lose their callbacks. */
    for (struct xapi_op *op = c->ops; op; op = op->anext)
        if (op->kind != OP_CALL && !op->finished)
            op_fail(op, PP_ECANCELLED, "%s", "client closed");
    for (struct xapi_op *op = c->ops; op; op = op->anext)
        if (!op->finished)
            op_fail(op, PP_ECANCELLED, "%s", "client closed");
    deliver_client(loop, c);
    if (c->session && c->master) {
        struct xapi_value *p = xapi_value_new_array();
        xapi_array_append_string(p, c->session);
        struct wreq *w = xapi__wreq_new(c, c->master, "session.logout", p);
        w->done = logout_done;
        w->timeout_ms = 2000;
        c->login_w = w;
        loop->internal_w++;
        wreq_send(c, w);
        int64_t until = clock_mono_ms() + 2500;
        while (c->login_w && clock_mono_ms() < until) {
            if (c->o.inproc)
                xapi__inproc_run(loop);
            else
                xapi__loop_wait_nested(loop, 100);
            xapi__loop_process_done(loop);
        }
        if (c->login_w) {
            wreq_abort(c, c->login_w);
            xapi__wreq_free(c->login_w);
            c->login_w = NULL;
            loop->internal_w--;
        }
    }
    if (c->watching)
        c->o.inproc->watch(c->o.inproc->ctx, xapi__loop_wake_cb, loop, false);
    cands_free(c);
    for (size_t i = 0; i < c->hosts.n; i++)
        free(c->hosts.items[i]);
    vec_free(&c->hosts);
    if (c->cache_classes) {
        for (char **p = c->cache_classes; *p; p++)
            free(*p);
        free(c->cache_classes);
    }
    xapi__cache_free(c->cache);
    xapi__cache_free(c->tcache);
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

/* ---- Async tasks ---- */

static struct xapi_op *sub_call(struct xapi_op *parent, const char *method,
                                struct xapi_value *params, unsigned flags, xapi_done_fn done)
{
    struct xapi_call_opts o = {.flags = flags, .timeout_ms = 0};
    struct xapi_op *sub = call_start(parent->c, method, params, &o, done, parent);
    return sub;
}

static void task_destroy_ref(struct xapi_client *c, const char *ref)
{
    struct xapi_value *p = xapi_value_new_array();
    xapi_array_append_string(p, ref);
    call_start(c, "task.destroy", p, NULL, NULL, NULL);
}

static void task_final(struct xapi_op *op, const struct xapi_value *snap, const char *status)
{
    struct err e = {0};
    char *ref = xstrdup(op->task_ref);
    if (strcmp(status, "success") == 0) {
        const char *res = xapi_struct_str(snap, "result", "");
        struct xapi_value *v = NULL;
        if (!*res) {
            v = xapi_value_new_void();
        } else {
            struct xapi_limits lim;
            xapi_limits_response(&lim);
            if (xapi_xmlrpc_decode_value(res, strlen(res), &lim, &v, &e) != 0) {
                err_prefix(&e, "task %s result: ", ref);
                op_finish(op, e.code, NULL, &e);
                goto destroy;
            }
        }
        if (op->progress && op->last_progress < 1.0)
            op->progress(op->ctx, 1.0);
        op_finish(op, 0, v, NULL);
    } else if (strcmp(status, "failure") == 0) {
        const struct xapi_value *ei = xapi_struct_get(snap, "error_info");
        if (xapi_err_from_description(ei, &e) != PP_EXAPI)
            err_set(&e, PP_EXAPI, "task %s failed without error_info", ref);
        op_finish(op, PP_EXAPI, NULL, &e);
    } else {
        err_set(&e, PP_ECANCELLED, "task %s was cancelled", ref);
        op_finish(op, PP_ECANCELLED, NULL, &e);
    }
destroy:
    task_destroy_ref(op->c, ref);
    free(ref);
}

static bool task_apply_snapshot(struct xapi_op *op, const struct xapi_value *snap)
{
    double p;
    if (xapi_value_as_double(xapi_struct_get(snap, "progress"), &p) == 0 &&
        p != op->last_progress) {
        op->last_progress = p;
        if (op->progress)
            op->progress(op->ctx, p);
    }
    const char *status = xapi_struct_str(snap, "status", "pending");
    if (strcmp(status, "success") == 0 || strcmp(status, "failure") == 0 ||
        strcmp(status, "cancelled") == 0) {
        task_final(op, snap, status);
        return true;
    }
    return false;
}

/*
 * The pool's task stream: one event.from on class "task" serves every task wait of the pool
 * (DESIGN.md: many operations, few idle connections), feeding a small cache of the pool's tasks
 * (xapi keeps at most a few hundred).  A task whose ref is learned after its events went by is
 * found in that cache.  It runs while tasks are waited on.
 */
static void tw_next(struct xapi_client *c);

static void tw_check(struct xapi_op *op, bool snapshot_seq_ok)
{
    struct xapi_client *c = op->c;
    const struct xapi_value *rec = xapi__cache_get(c->tcache, "task", op->task_ref);
    if (rec) {
        op->tw_seen = true;
        task_apply_snapshot(op, rec);
    } else if (op->tw_seen || snapshot_seq_ok) {
        op_fail(op, PP_ENOTFOUND, "task %s was destroyed before it finished", op->task_ref);
    }
}

static void tw_retry_fire(void *arg)
{
    struct xapi_client *c = arg;
    c->tw_retry_t = NULL;
    tw_next(c);
}

static void tw_done(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct xapi_client *c = ctx;
    unsigned gen = c->tw_sub ? c->tw_sub->session_gen_sent : 0;
    unsigned seq = c->tw_inflight_seq;
    c->tw_sub = NULL;
    if (c->closing)
        return;
    if (rc != 0) {
        if (e && (strcmp(e->xapi_code, "EVENTS_LOST") == 0 ||
                  strcmp(e->xapi_code, "EVENT_FROM_TOKEN_PARSE_FAILURE") == 0)) {
            xapi__cache_set_token(c->tcache, "");
            tw_next(c);
            return;
        }
        /* The stream cannot go on (pool unreachable past the budget, refused login...). */
        for (struct xapi_op *op = c->task_waiters, *next; op; op = next) {
            next = op->wnext;
            op_finish(op, rc, NULL, e);
        }
        return;
    }
    bool reset = *xapi__cache_token(c->tcache) == '\0';
    if (!reset && gen != c->tw_session_gen) {
        xapi__cache_set_token(c->tcache, ""); /* a new session: start over from a snapshot */
        tw_next(c);
        return;
    }
    struct err pe = {0};
    if (xapi__cache_apply(c->tcache, result, reset, &pe) != 0) {
        log_warn(LOGM, "pool %s: task stream: %s", c->hosts.items[0], pe.msg);
        xapi__cache_set_token(c->tcache, "");
        c->tw_retry_t = xapi__timer_add(c->loop, c->o.backoff_base_ms, tw_retry_fire, c);
        return;
    }
    if (reset)
        c->tw_session_gen = gen;
    c->tw_ready = true;
    for (struct xapi_op *op = c->task_waiters, *next; op; op = next) {
        next = op->wnext;
        tw_check(op, reset && seq > op->tw_seq);
    }
    tw_next(c);
}

static void tw_next(struct xapi_client *c)
{
    if (c->closing || c->tw_sub || c->tw_retry_t || !c->task_waiters)
        return;
    struct xapi_value *p = xapi_value_new_array();
    struct xapi_value *cls = xapi_value_new_array();
    xapi_array_append_string(cls, "task");
    xapi_array_append_take(p, cls);
    xapi_array_append_string(p, xapi__cache_token(c->tcache));
    xapi_array_append_take(p, xapi_value_new_double(EVENT_WAIT_S));
    struct xapi_call_opts o = {.flags = XAPI_CALL_IDEMPOTENT, .timeout_ms = 0};
    c->tw_inflight_seq = ++c->tw_seq;
    c->tw_sub = call_start(c, "event.from", p, &o, tw_done, c);
}

static void task_cancel_done(void *ctx, int rc, const struct xapi_value *result,
                             const struct err *e)
{
    (void)ctx;
    (void)result;
    if (rc != 0)
        log_info(LOGM, "task.cancel: %s", e ? e->msg : err_code_name(rc));
}

static void task_send_cancel(struct xapi_op *op)
{
    if (op->cancel_sent || !op->task_ref)
        return;
    op->cancel_sent = true;
    struct xapi_value *p = xapi_value_new_array();
    xapi_array_append_string(p, op->task_ref);
    call_start(op->c, "task.cancel", p, NULL, task_cancel_done, NULL);
}

static void task_started(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct xapi_op *op = ctx;
    op->sub = NULL;
    if (rc != 0) {
        op_finish(op, rc, NULL, e);
        return;
    }
    const char *ref = xapi_value_str(result);
    if (!ref || !str_has_prefix(ref, "OpaqueRef:")) {
        op_fail(op, PP_EPARSE, "%s did not return a task reference", op->method);
        return;
    }
    op->task_ref = xstrdup(ref);
    if (op->cancelled)
        task_send_cancel(op);
    struct xapi_client *c = op->c;
    if (!c->tcache)
        c->tcache = xapi__cache_new();
    op->tw_seq = c->tw_seq; /* requests after this one were sent knowing the task */
    op->wnext = c->task_waiters;
    c->task_waiters = op;
    if (c->tw_ready)
        tw_check(op, false);
    tw_next(c);
}

static void task_deadline_fire(void *arg)
{
    struct xapi_op *op = arg;
    op->deadline = NULL;
    op_fail(op, PP_ETIMEOUT, "task %s: still running when the wait timed out",
            op->task_ref ? op->task_ref : "(not started)");
}

int xapi_task_async(struct xapi_client *c, const char *method, struct xapi_value *params,
                    int64_t timeout_ms, xapi_progress_fn progress, xapi_done_fn done, void *ctx,
                    struct xapi_op **op_out, struct err *e)
{
    if (!c || !method || str_has_prefix(method, "Async.") ||
        (params && params->type != XAPI_ARRAY)) {
        xapi_value_free(params);
        return err_set(e, PP_EINVAL, "xapi_task_async: give the method without 'Async.'");
    }
    struct xapi_op *op = op_new(c, OP_TASK, done, ctx);
    op->method = xasprintf("Async.%s", method);
    op->progress = progress;
    op->last_progress = -1;
    if (timeout_ms > 0)
        op->deadline = xapi__timer_add(c->loop, timeout_ms, task_deadline_fire, op);
    op->sub = sub_call(op, op->method, params, 0, task_started);
    if (op_out)
        *op_out = op;
    return 0;
}

const char *xapi_op_task_ref(const struct xapi_op *op)
{
    return op ? op->task_ref : NULL;
}

/* ---- object cache ---- */

static void cache_retry_fire(void *arg)
{
    struct xapi_client *c = arg;
    c->cache_retry_t = NULL;
    cache_next(c);
}

static bool learn_host(void *ctx, const char *ref, const struct xapi_value *rec)
{
    (void)ref;
    xapi_client_add_address(ctx, xapi_struct_str(rec, "address", NULL));
    return true;
}

static void cache_event_done(void *ctx, int rc, const struct xapi_value *result,
                             const struct err *e)
{
    struct xapi_client *c = ctx;
    unsigned gen = c->cache_sub ? c->cache_sub->session_gen_sent : 0;
    c->cache_sub = NULL;
    if (c->closing || !c->cache_on)
        return;
    if (rc != 0) {
        if (e && (strcmp(e->xapi_code, "EVENTS_LOST") == 0 ||
                  strcmp(e->xapi_code, "EVENT_FROM_TOKEN_PARSE_FAILURE") == 0)) {
            log_info(LOGM, "pool %s: %s; taking a fresh snapshot", c->hosts.items[0], e->xapi_code);
            xapi__cache_set_token(c->cache, "");
            cache_next(c);
            return;
        }
        if (e && (e->code == PP_ETLS || e->code == PP_ELIMIT ||
                  strcmp(e->xapi_code, "SESSION_AUTHENTICATION_FAILED") == 0)) {
            /* Retrying cannot help (and would hammer a refused login): resume after the next
             * successful login (login_done restarts the stream). */
            log_warn(LOGM, "pool %s: event stream stopped: %s", c->hosts.items[0], e->msg);
            return;
        }
        int64_t d = xapi_backoff_delay(c->cache_failures++, c->o.backoff_base_ms,
                                       c->o.backoff_max_ms, &c->rng);
        log_warn(LOGM, "pool %s: event stream: %s; retrying in %lld ms", c->hosts.items[0],
                 e ? e->msg : err_code_name(rc), (long long)d);
        c->cache_retry_t = xapi__timer_add(c->loop, d, cache_retry_fire, c);
        return;
    }
    c->cache_failures = 0;
    bool reset = *xapi__cache_token(c->cache) == '\0';
    if (!reset && gen != c->cache_session_gen) {
        /* A new session: events may have been lost with the old master; start over. */
        xapi__cache_set_token(c->cache, "");
        cache_next(c);
        return;
    }
    struct err pe = {0};
    if (xapi__cache_apply(c->cache, result, reset, &pe) != 0) {
        log_warn(LOGM, "pool %s: %s; taking a fresh snapshot", c->hosts.items[0], pe.msg);
        xapi__cache_set_token(c->cache, "");
        c->cache_retry_t = xapi__timer_add(c->loop, c->o.backoff_base_ms, cache_retry_fire, c);
        return;
    }
    if (reset) {
        c->cache_gen++;
        c->cache_session_gen = gen;
        c->cache_ready = true;
    }
    xapi__cache_foreach(c->cache, "host", learn_host, c);
    cache_eval_waiters(c);
    cache_next(c);
}

static void cache_next(struct xapi_client *c)
{
    if (!c->cache_on || c->closing || c->cache_sub || c->cache_retry_t)
        return;
    struct xapi_value *p = xapi_value_new_array();
    struct xapi_value *cls = xapi_value_new_array();
    for (char **k = c->cache_classes; *k; k++)
        xapi_array_append_string(cls, *k);
    xapi_array_append_take(p, cls);
    xapi_array_append_string(p, xapi__cache_token(c->cache));
    xapi_array_append_take(p, xapi_value_new_double(EVENT_WAIT_S));
    struct xapi_call_opts o = {.flags = XAPI_CALL_IDEMPOTENT, .timeout_ms = 0};
    c->cache_sub = call_start(c, "event.from", p, &o, cache_event_done, c);
}

int xapi_cache_start(struct xapi_client *c, const char *const *classes, struct err *e)
{
    if (c->cache_on)
        return err_set(e, PP_ESTATE, "the cache is already running");
    if (!classes || !classes[0])
        return err_set(e, PP_EINVAL, "the cache needs at least one class");
    size_t n = 0;
    while (classes[n])
        n++;
    c->cache_classes = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        c->cache_classes[i] = xstrdup(classes[i]);
    c->cache = xapi__cache_new();
    c->cache_on = true;
    cache_next(c);
    return 0;
}

bool xapi_cache_ready(const struct xapi_client *c)
{
    return c->cache_ready;
}

unsigned xapi_cache_generation(const struct xapi_client *c)
{
    return c->cache_gen;
}

const struct xapi_value *xapi_cache_get(const struct xapi_client *c, const char *cls,
                                        const char *ref)
{
    return c->cache ? xapi__cache_get(c->cache, cls, ref) : NULL;
}

size_t xapi_cache_count(const struct xapi_client *c, const char *cls)
{
    return c->cache ? xapi__cache_count(c->cache, cls) : 0;
}

void xapi_cache_foreach(const struct xapi_client *c, const char *cls,
                        bool (*fn)(void *ctx, const char *ref, const struct xapi_value *rec),
                        void *ctx)
{
    if (c->cache)
        xapi__cache_foreach(c->cache, cls, fn, ctx);
}

static void cache_eval_waiters(struct xapi_client *c)
{
    if (!c->cache_ready)
        return;
    struct xapi_op *op = c->waiters;
    while (op) {
        struct xapi_op *next = op->wnext;
        if (!op->finished && op->pred(op->pred_ctx, c))
            op_finish(op, 0, NULL, NULL);
        op = next;
    }
}

static void wait_deadline_fire(void *arg)
{
    struct xapi_op *op = arg;
    op->deadline = NULL;
    struct err e = {0};
    err_set(&e, PP_ETIMEOUT, "condition not met within the wait's timeout");
    if (op->c->cache_sub == NULL && op->c->state != XAPI_CONN_READY && op->c->last_err.code)
        err_prefix(&e, "%s; last error: ", op->c->last_err.msg);
    op_finish(op, PP_ETIMEOUT, NULL, &e);
}

int xapi_cache_wait(struct xapi_client *c, bool (*pred)(void *ctx, struct xapi_client *c),
                    void *pred_ctx, int64_t timeout_ms, xapi_done_fn done, void *ctx,
                    struct xapi_op **op_out, struct err *e)
{
    if (!c->cache_on)
        return err_set(e, PP_ESTATE, "start the cache before waiting on it");
    struct xapi_op *op = op_new(c, OP_WAIT, done, ctx);
    op->pred = pred;
    op->pred_ctx = pred_ctx;
    op->wnext = c->waiters;
    c->waiters = op;
    if (timeout_ms > 0)
        op->deadline = xapi__timer_add(c->loop, timeout_ms, wait_deadline_fire, op);
    if (op_out)
        *op_out = op;
    if (c->cache_ready && pred(pred_ctx, c))
        op_finish(op, 0, NULL, NULL);
    return 0;
}
