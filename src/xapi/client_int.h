/* SPDX-License-Identifier: MIT */
/*
 * client_int.h - internals of the XAPI client shared by client.c, client_util.c,
 * transport_http.c, transport_inproc.c, cache.c and tls.c.  Not for other modules: the public
 * surface is client.h.  The pure helpers declared here are unit-tested directly
 * (tests/unit/test_xapi_client.c).  Single-threaded like the loop that owns everything.
 */
#ifndef PP_XAPI_CLIENT_INT_H
#define PP_XAPI_CLIENT_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/rng.h"
#include "base/vec.h"
#include "xapi/client.h"
#include "xapi/codec.h"
#include "xapi/tls.h"

struct xapi_batch;
struct xapi_cache;
struct xapi__timer;
struct xapi_op;

/* ---- pure helpers (client_util.c) ---- */

/*
 * Backoff before retry number attempt (0-based): d = min(max, base * 2^attempt), result uniform
 * in [d/2, d] ("equal jitter") drawn from r.  Never below 1 ms.
 */
int64_t xapi_backoff_delay(unsigned attempt, int64_t base_ms, int64_t max_ms, struct rng *r);
/* True for the codes a supporter in emergency mode answers with (datamodel_errors.ml). */
bool xapi_is_emergency_code(const char *code);
/* True when a call may be replayed after a dropped connection (reads, event.*, session.*). */
bool xapi_method_idempotent(const char *method);
/* True unless the method is session.login* / session.slave_local_login* (they take no session). */
bool xapi_method_takes_session(const char *method);
/* True for event.from / event.next (server-side long polls). */
bool xapi_method_is_long_poll(const char *method);
/*
 * Fill e from an ErrorDescription ([CODE, params...]): PP_EXAPI, xapi_code = CODE and the message
 * "CODE [p1, p2]" verbatim.  A malformed description gives PP_EPARSE.  Returns the code.
 */
int xapi_err_from_description(const struct xapi_value *desc, struct err *e);
/*
 * Split an address ("https://h:443/x", "http://127.0.0.10:8080/", "h", "[::1]:80") into scheme
 * (default "https"), host (no brackets) and port (0 = scheme default).  Returns 0 or PP_EINVAL.
 * *scheme and *host are new strings.
 */
int xapi_url_split(const char *addr, char **scheme, char **host, int *port);
/* New string "scheme://host[:port]path" (IPv6 hosts bracketed). */
char *xapi_url_build(const char *scheme, const char *host, int port, const char *path);
/*
 * Append "method(p1, p2, ...)" for logs with credentials masked: the password (second parameter)
 * of session.login* / slave_local_login* / pool.join* is written as "***".
 */
void xapi_call_describe(struct buf *b, const char *method, const struct xapi_value *params);

/*
 * What an HTTP reply means.  JSON-RPC replies (proto != XMLRPC) that are 404 or not JSON give
 * XREPLY_FALLBACK (retry the call as XML-RPC at /).  Other HTTP statuses than 200 give
 * PP_ETRANSPORT; undecodable bodies PP_EPARSE / PP_ELIMIT.
 */
enum xreply { XREPLY_OK = 0, XREPLY_FALLBACK = 1 };
int xapi_classify_reply(enum xapi_proto_pref proto, long http_status, const char *content_type,
                        const char *body, size_t len, const struct xapi_limits *lim,
                        struct xapi_response *out, struct err *e);
/*
 * The same for an event.from answer that may skip the decoding (XAPI__CALL_EVENTS): a JSON-RPC
 * success whose whole body passes xapi__evjson_scan gives XREPLY_OK, out->ok with no value and
 * *raw set, its result being body[*off, *off + *rlen) (decoded later, straight into the cache);
 * anything else is xapi_classify_reply's (*raw false).
 */
int xapi_classify_events_reply(enum xapi_proto_pref proto, long http_status,
                               const char *content_type, const char *body, size_t len,
                               const struct xapi_limits *lim, struct xapi_response *out, bool *raw,
                               size_t *off, size_t *rlen, struct err *e);

/* ---- the object cache (cache.c), pure ---- */

/* An empty cache (token ""); never NULL.  Free with xapi__cache_free (NULL is a no-op). */
struct xapi_cache *xapi__cache_new(void);
void xapi__cache_free(struct xapi_cache *k);
/*
 * Apply an event.from result ({events:[...], token}).  reset drops every object first (a snapshot
 * after token "").  Stores the returned token (see xapi__cache_token).  Returns 0, or PP_EPARSE /
 * PP_ELIMIT (cache_int.h's limits) with e; a refused batch leaves the cache as it was.
 */
int xapi__cache_apply(struct xapi_cache *k, const struct xapi_value *result, bool reset,
                      struct err *e);
/* Keep only these fields of class cls's records stored from now on (NULL-terminated, copied).
 * Without a call every field of the class is kept. */
void xapi__cache_set_fields(struct xapi_cache *k, const char *cls, const char *const *fields);
/* The event.from token to send next ("" = ask for a snapshot); setting "" forces one. */
const char *xapi__cache_token(const struct xapi_cache *k); /* "" before the first batch */
void xapi__cache_set_token(struct xapi_cache *k, const char *token);
/* Borrowed record of cls/ref (class names compared case-insensitively), or NULL; count; walk. */
const struct xapi_value *xapi__cache_get(const struct xapi_cache *k, const char *cls,
                                         const char *ref);
size_t xapi__cache_count(const struct xapi_cache *k, const char *cls);
/* Changes applied to class cls so far (see xapi_cache_changes); 0 for a class never seen; cls
 * NULL: to every class. */
uint64_t xapi__cache_changes(const struct xapi_cache *k, const char *cls);
void xapi__cache_foreach(const struct xapi_cache *k, const char *cls,
                         bool (*fn)(void *ctx, const char *ref, const struct xapi_value *rec),
                         void *ctx);
/* Heap bytes the cache holds (records, interned strings, tables), for benchmarks and tests. */
size_t xapi__cache_bytes(const struct xapi_cache *k);

/* ---- counts (stats.c) ---- */

struct xapi_method_count {
    char *method;
    uint64_t n;
};
struct xapi__counts {
    struct xapi_counts t;
    struct VEC(struct xapi_method_count) m;
};
enum xapi__count {
    XAPI__COUNT_CALL,
    XAPI__COUNT_XAPI_ERROR,
    XAPI__COUNT_TRANSPORT_ERROR,
    XAPI__COUNT_RECONNECT,
    XAPI__COUNT_LOGIN
};
/* Count one event (method: the call's, for XAPI__COUNT_CALL) in k and in the process' totals. */
void xapi__count(struct xapi__counts *k, enum xapi__count what, const char *method);
/* Free the method table of k. */
void xapi__counts_cleanup(struct xapi__counts *k);
/* The client's counts (borrowed). */
const struct xapi__counts *xapi__client_counts(const struct xapi_client *c);

/* ---- wire requests: one HTTP POST or one in-process call ---- */

struct wreq;
typedef void (*wreq_done_fn)(struct wreq *w);

struct wreq {
    struct xapi_client *c;
    struct xapi_op *op; /* owner, or NULL for the client's own (login, logout) */
    char *host;         /* host part (HTTP) or management address (in-process) */
    char *method;
    struct xapi_value *params;  /* complete, session included; owned */
    enum xapi_proto_pref proto; /* JSONRPC or XMLRPC as sent */
    bool long_poll;
    bool want_events; /* XAPI__CALL_EVENTS: a JSON-RPC success may stay bytes (ev_raw) */
    bool ev_raw;      /* it did: resp has no value; in holds the body, the result at ev_off */
    size_t ev_off, ev_len;
    bool fresh_connect; /* a mutation: never on a reused connection (see transport_http.c) */
    bool counted;       /* holds one of the pool's connection slots */
    int64_t timeout_ms;
    int64_t lp_deadline; /* in-process long-poll: loop clock deadline */
    int64_t
        lp_read_at; /* in-process long-poll: its events are taken from then on (read_delay_ms) */
    wreq_done_fn done;

    /* Outcome. */
    int rc;
    struct err err;
    struct xapi_response resp;
    bool maybe_delivered; /* the request may have reached the host */

    /* HTTP state. */
    void *easy;
    bool in_multi; /* easy was added to the loop's multi */
    struct buf out, in;
    void *hdrs;
    bool over_limit;
    struct tls_req tls;

    struct wreq *next; /* in-process queues */
    bool parked;
    struct xapi__timer *ip_delay; /* in-process: answered, delivered when this fires */
};

/* A new request to host (copied); params (an array, or NULL = none) is taken.  Never NULL. */
struct wreq *xapi__wreq_new(struct xapi_client *c, const char *host, const char *method,
                            struct xapi_value *params);
/* Free a request that is in no transport queue any more; NULL is a no-op. */
void xapi__wreq_free(struct wreq *w);

/* transport_http.c */
/* curl_global_init once per process (not thread-safe: the first loop is made on one thread). */
int xapi__http_global_init(struct err *e);
/* http_io.c: the loop's curl multi handle driven by socket events, and its wait. */
struct xapi__http;
/* A new multi (NULL on failure) and its release (NULL is a no-op). */
struct xapi__http *xapi__http_multi_new(void);
void xapi__http_multi_free(struct xapi__http *h);
/* The CURLM * (borrowed). */
void *xapi__http_curlm(struct xapi__http *h);
/* An easy handle for one transfer (CURL *, options at their defaults): a reset one kept from a
 * finished transfer, or a new one; NULL when curl cannot make one.  It goes back through
 * xapi__http_release (or xapi__http_add's failure). */
void *xapi__http_easy_take(struct xapi__http *h);
/* How many easy handles loop's transport has made (curl_easy_init) so far: tests. */
uint64_t xapi__http_handles_made(struct xapi_loop *loop);
/* Milliseconds until the next timeout curl asked loop's transport for (it may be past: <= 0),
 * or -1 when curl wants none: tests. */
int64_t xapi__http_next_timeout_ms(struct xapi_loop *loop);
/* Something xapi_change_count counts changed (see client.h).  Any thread. */
void xapi__changed(void);
/* Add w->easy (set up by the caller) to the multi; on failure gives back w->easy, frees w->hdrs
 * and returns PP_ETRANSPORT with e.  Shared by calls, uploads and GETs. */
int xapi__http_add(struct xapi_loop *loop, struct wreq *w, struct err *e);
/* Remove w->easy from the multi (if added), give it back for reuse (reset) and free w->hdrs; no
 * completion. */
void xapi__http_release(struct xapi_loop *loop, struct wreq *w);
/* Release w's transfer and take it out of the done queue: an abort without completion. */
void xapi__http_cancel(struct xapi_loop *loop, struct wreq *w);
/* A GET / PUT to c's master embedding w: fills w (method, master, done; XML-RPC so that no
 * protocol fallback ever re-sends it) and returns "path?session_id=S[&query]" (new string), or
 * NULL with PP_ESTATE in e before the first login.  Release w's contents with
 * xapi__wreq_cleanup. */
char *xapi__transfer_init(struct wreq *w, struct xapi_client *c, const char *method,
                          const char *path, const char *query, wreq_done_fn done, struct err *e);
/* Free what w owns (host, method, params, reply, buffers), not w: for embedded requests. */
void xapi__wreq_cleanup(struct wreq *w);
/* Parse a header callback's "HTTP/x.y NNN" status line into *status; false for other lines. */
bool xapi__http_status_line(const char *buf, size_t n, long *status);
/* Run curl's due timeouts (a new transfer starts through one). */
void xapi__http_act(struct xapi__http *h);
/* One poll() over curl's sockets and the wakeup eventfd, up to wait_ms (bounded by curl's next
 * timeout), then curl acts on the ready sockets and due timeouts. */
void xapi__http_wait(struct xapi__http *h, int wait_ms);
/* Start w; on failure completes w through the loop (never calls done re-entrantly). */
void xapi__http_start(struct xapi_loop *loop, struct wreq *w);
/* Abort an in-flight request without completing it. */
void xapi__http_abort(struct xapi_loop *loop, struct wreq *w);
/*
 * Perform and collect finished transfers; when none finished and wait_ms > 0, wait up to wait_ms
 * in curl_multi_poll (even with no transfer: xapi_loop_wakeup interrupts it), then collect again.
 */
void xapi__http_run(struct xapi_loop *loop, int wait_ms);
/* Interrupt the loop's wait from any thread (writes the eventfd). */
void xapi__http_wakeup(struct xapi__http *h);
/* True while transfers are in the multi. */
bool xapi__http_busy(const struct xapi_loop *loop);

/* transport_inproc.c */
/* Queue w for the handler; it runs from inproc_run, never here. */
void xapi__inproc_start(struct xapi_loop *loop, struct wreq *w);
/* Take w out of the queue or the parked list without completing it. */
void xapi__inproc_abort(struct xapi_loop *loop, struct wreq *w);
/* Process queued in-process calls; returns how many completed (parked ones do not count). */
int xapi__inproc_run(struct xapi_loop *loop);
/* Move parked long-polls back to the queue (state may have changed). */
void xapi__inproc_unpark(struct xapi_loop *loop);
/* Queue state, and the earliest parked long-poll deadline (loop clock; INT64_MAX = none). */
bool xapi__inproc_has_queued(const struct xapi_loop *loop);
bool xapi__inproc_has_parked(const struct xapi_loop *loop);
int64_t xapi__inproc_next_deadline(const struct xapi_loop *loop);
/* The earliest time a parked request's handler's world moves by itself (INT64_MAX = never or
 * not told). */
int64_t xapi__inproc_handler_deadline(const struct xapi_loop *loop);
/* True when a parked request's handler cannot wake the loop (no watch): it must be polled. */
bool xapi__inproc_has_unwatched_parked(const struct xapi_loop *loop);

/* loop.c: the loop internals the transports and the client use. */
struct xapi_loop_int {
    struct xapi__http *multi;
    int running;                    /* easy handles in the multi */
    struct wreq *ip_head, *ip_tail; /* in-process queue */
    struct wreq *parked;
    struct wreq *done_head, *done_tail; /* completed wire requests to process */
};

struct xapi_loop {
    struct xapi_loop_int li;
    struct pp_clock *clock;
    struct VEC(struct xapi__timer *) timers; /* min-heap on (when, seq) */
    uint64_t timer_seq;
    struct xapi_op *fin_head, *fin_tail; /* finished operations to deliver (client.c) */
    int (*idle)(void *ctx, int64_t next_ms);
    void *idle_ctx;
    int live_ops;      /* created and not yet delivered */
    int internal_w;    /* login / logout requests in flight */
    atomic_bool woken; /* xapi_loop_wakeup since the last wait */
    uint64_t polls;    /* waits (curl_multi_poll calls) so far */
    int snapshots;     /* event.from snapshots (token "") in flight, all pools (stream.c) */
};

/* The loop's transport state (borrowed). */
struct xapi_loop_int *xapi__loop_int(struct xapi_loop *loop);
const struct xapi_loop_int *xapi__loop_int_c(const struct xapi_loop *loop);
/* Queue w's completion (processed on the loop, never re-entrantly). */
void xapi__loop_wreq_complete(struct xapi_loop *loop, struct wreq *w);
/* Run the completion of every queued wire request; returns how many ran. */
int xapi__loop_process_done(struct xapi_loop *loop);
/* Wait up to wait_ms for HTTP activity outside a turn; a consumed wakeup is re-armed. */
void xapi__loop_wait_nested(struct xapi_loop *loop, int wait_ms);
/* Take w out of the completion queue if it is there (an aborted request). */
void xapi__loop_done_remove(struct xapi_loop *loop, struct wreq *w);
/* Now on the loop's clock (ms). */
int64_t xapi__loop_now(const struct xapi_loop *loop);
/*
 * Run fn(arg) once, delay_ms (<= 0: at once) from now on the loop clock, from xapi_loop_run.  The
 * timer belongs to the loop; fn must first clear the caller's pointer to it.  Never NULL.
 */
struct xapi__timer *xapi__timer_add(struct xapi_loop *loop, int64_t delay_ms, void (*fn)(void *),
                                    void *arg);
/* Cancel and free *tp unless NULL, and set *tp = NULL. */
void xapi__timer_cancel(struct xapi_loop *loop, struct xapi__timer **tp);
/* The wake callback given to an in-process handler's watch (arg: the loop); any thread. */
void xapi__loop_wake_cb(void *loop);
/* client.c: deliver the operations finished so far; returns how many callbacks ran. */
int xapi__ops_deliver(struct xapi_loop *loop);

/* Client accessors for the transports (borrowed; valid while the client lives). */
const struct xapi_client_opts *xapi__client_opts(const struct xapi_client *c);
/* The loop the client belongs to (upload.c). */
struct xapi_loop *xapi__client_loop(const struct xapi_client *c);
/* "http", "https" or "inproc"; port 0 = the scheme's default; pins NULL = CA verification. */
const char *xapi__client_scheme(const struct xapi_client *c);
int xapi__client_port(const struct xapi_client *c);
struct xapi_pins *xapi__client_pins(struct xapi_client *c);
/* Protocol fallback: the host does not serve /jsonrpc. */
void xapi__client_set_proto(struct xapi_client *c, enum xapi_proto_pref p);
/* The protocol the caller asked for (XAPI_PREF_AUTO allows the fallback). */
enum xapi_proto_pref xapi__client_pref(const struct xapi_client *c);

/* ---- the client's state machines (client.c: calls; session.c: logins; stream.c: event.from) */

#define XAPI__EVENT_WAIT_S 30.0 /* event.from timeout of the pool's event stream */
/* The stream's long-polls end on multiples of this (ms, the loop's clock): stream.c. */
#define XAPI__EVENT_ALIGN_MS 2000
/* Call flag (beside client.h's): the event stream's event.from, whose JSON-RPC answer is kept
 * as bytes (op->ev_body) for stream.c to decode straight into the cache. */
#define XAPI__CALL_EVENTS (1u << 15)

enum xapi__op_kind { OP_CALL, OP_TASK, OP_WAIT };

struct xapi_op {
    struct xapi_client *c;
    enum xapi__op_kind kind;
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
    /* XAPI__CALL_EVENTS over HTTP JSON-RPC: the answer's body, its result at
     * [ev_off, ev_off + ev_len), undecoded (ev_raw; the op's result is then void) */
    bool ev_raw;
    struct buf ev_body;
    size_t ev_off, ev_len;

    /* OP_TASK */
    char *task_ref;
    xapi_progress_fn progress;
    double last_progress;
    struct xapi_op *sub;
    bool cancel_sent;
    bool tw_seen;    /* the event stream has shown this task (or its object running it) */
    unsigned tw_seq; /* the stream's request count when the ref was learned */
    struct xapi__timer *deadline;
    /* waited through its object (stream.c, "object waits"): ow_cls/ow_field are static,
     * ow_obj (the object's ref) and ow_want (the field's value on success) owned; NULL ow_cls =
     * through the task's own events */
    const char *ow_cls, *ow_field;
    char *ow_obj, *ow_want;
    int ow_kind;         /* its row in stream.c's obj_tasks */
    bool ow_marker;      /* the object lists the running operation (current_operations) */
    int64_t ow_interval; /* a marker-less wait: the time to its next probe read (doubles) */
    bool ow_timed;       /* began as a marker-less wait: its success is timed (ow_longest_ms) */
    int64_t ow_t0;       /* loop time the ref was learned (a marker-less wait's duration) */
    struct xapi__timer *ow_probe; /* reads the task when its object never showed it running */
    bool task_need;               /* counted in c->st_task_need: the stream carries "task" */
    bool ow_reading;              /* its task is being read while the stream holds a batch */
    bool ow_gone;                 /* that read found the task destroyed */
    struct xapi_value *ow_rec;    /* that read's task record (owned), used when applied */
    bool tr_defer; /* its task read waits for the held batch asked without "task" (stream.c) */

    /* OP_WAIT */
    bool (*pred)(void *ctx, struct xapi_client *c);
    void *pred_ctx;
    bool w_expired; /* its deadline passed: decided on a batch asked after it (stream.c) */
    unsigned w_seq; /* that batch's request (c->st_seq) */
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
    bool saw_emergency; /* a supporter answered in emergency mode this cycle's last full round */
    struct err emergency_err; /* that answer, named by its host */
    int redirects_in_round;
    int dead_ends_in_round; /* supporters that named a master already tried, or in emergency */
    int64_t reboot_sent_ms; /* loop time of our last host.reboot that xapi accepted; 0 = none */
    bool master_rebooting;  /* the master was lost soon after it: rounds ask it alone */
    struct rng rng;
    struct xapi_pins *pins;
    /* hosts refused this round for want of a confirmed certificate (session.c), the master a
     * supporter named (HOST_IS_SLAVE) this round, and the one reported in XAPI_CONN_UNTRUSTED */
    struct xapi_untrusted refused[4];
    size_t n_refused;
    char *named_master;
    struct xapi_untrusted untrusted;

    /* the event stream (stream.c): one event.from per pool serves the object cache and every
     * task wait */
    struct xapi_cache *cache; /* the streamed classes' objects, tasks included */
    char **cache_classes;     /* the cache's classes (NULL-terminated), NULL before cache start */
    bool cache_on, cache_ready;
    unsigned cache_gen;
    struct xapi_op *waiters;      /* OP_WAIT, linked by wnext */
    struct xapi_op *task_waiters; /* OP_TASK with a ref, linked by wnext */
    struct xapi_op *st_sub;       /* the event.from in flight */
    struct xapi__timer *st_retry_t;
    unsigned st_failures;
    unsigned st_session_gen;          /* the session of the last snapshot */
    unsigned st_seq, st_inflight_seq; /* requests sent; the one in flight */
    unsigned st_applied_seq;          /* the request of the last batch applied */
    bool st_flush;    /* the next request asks without waiting (a cache wait's deadline passed) */
    bool st_ready;    /* a batch was applied */
    bool st_snapshot; /* the request in flight holds a snapshot slot */
    int st_task_need; /* task operations that need the task's events: carry "task" */
    bool st_inflight_task; /* the request in flight carries "task" */
    bool st_task_cont;     /* every batch since the last snapshot carried "task" */
    /* the longest marker-less object wait (stream.c obj_tasks) seen to succeed, per row: its
     * probe waits twice that */
    int64_t ow_longest_ms[2];
    /* a batch held until object waits' task reads answer (stream.c), and how it was asked */
    struct xapi_batch *st_held;
    unsigned st_held_gen, st_held_seq;
    bool st_held_task;
    struct xapi__timer *st_resume_t;
    struct xapi__timer *st_snap_t;    /* gives the slot up when the answer is slow */
    uint64_t st_straight, st_decoded; /* answers staged from bytes (evjson.c) / values */

    bool closing;
    bool watching; /* registered with the in-process handler's watch */
    struct xapi__counts counts;
};

/* client.c */
/* A new operation of c (linked in c's live operations); done(ctx, ...) runs when delivered. */
struct xapi_op *xapi__op_new(struct xapi_client *c, enum xapi__op_kind kind, xapi_done_fn done,
                             void *ctx);
/* Finish op: result is taken; e may be NULL when rc == 0.  Idempotent. */
void xapi__op_finish(struct xapi_op *op, int rc, struct xapi_value *result, const struct err *e);
/* Finish op with rc and the message fmt (one %s: arg). */
void xapi__op_fail(struct xapi_op *op, int rc, const char *fmt, const char *arg);
/* Cancel op (see xapi_op_cancel), also used for sub-operations. */
void xapi__op_cancel_inner(struct xapi_op *op);
/* Queue a call (params taken; o may be NULL) and return its operation (never NULL). */
struct xapi_op *xapi__call_start(struct xapi_client *c, const char *method,
                                 struct xapi_value *params, const struct xapi_call_opts *o,
                                 xapi_done_fn done, void *ctx);
/* Send what the queue and the caps allow; starts a login when a call needs a session. */
void xapi__client_pump(struct xapi_client *c);
/* Put w on the wire (logged, counted), and take it off again without completion. */
void xapi__wreq_send(struct xapi_client *c, struct wreq *w);
void xapi__wreq_abort(struct xapi_client *c, struct wreq *w);
/* True when op's method takes the session (not XAPI_CALL_RAW, not session.login*). */
bool xapi__op_needs_session(const struct xapi_op *op);

/* session.c */
/* Report a connection state change to on_state (no-op when unchanged). */
void xapi__client_set_state(struct xapi_client *c, enum xapi_conn_state s, const struct err *e);
/* Finish every queued operation that needs a session with e. */
void xapi__fail_waiting(struct xapi_client *c, const struct err *e);
/* Start a login cycle over every known address (reconnect: the master was lost). */
void xapi__client_connect(struct xapi_client *c, bool reconnect);
/* The master at host stopped answering (e: why): drop the session, find the master again. */
void xapi__client_lost(struct xapi_client *c, const char *host, const struct err *e);
/* Forget the session ref. */
void xapi__drop_session(struct xapi_client *c);
/* Closing: stop the login cycle (its timer, the login in flight). */
void xapi__session_stop(struct xapi_client *c);
/* Closing, once every operation finished: log out (bounded to ~2.5 s), free the cycle's state. */
void xapi__session_close(struct xapi_client *c);

/* stream.c */
/* op (a task operation) is finishing: it no longer needs the stream's task events or probes. */
void xapi__task_release(struct xapi_op *op);
/* Send the next event.from when the stream should run and none is in flight. */
void xapi__stream_next(struct xapi_client *c);
/* A login gave a new session: drop the stream's request from before it and ask for a snapshot
 * at once (stream.c).  The loop's thread. */
void xapi__stream_new_session(struct xapi_client *c);
/* The connection's state changed (session.c): when the client gave up, the cache waits whose
 * deadline passed fail now (stream.c). */
void xapi__stream_conn_changed(struct xapi_client *c);
/* Ask xapi to cancel a task operation's task (once its ref is known). */
void xapi__task_send_cancel(struct xapi_op *op);
/* Closing: cancel the stream's timer; then free its cache and classes. */
void xapi__stream_stop(struct xapi_client *c);
void xapi__stream_free(struct xapi_client *c);
/* How many event.from answers went straight from their JSON-RPC bytes into the cache, and how
 * many the old way (a decoded value: XML-RPC, in-process): tests and benchmarks. */
void xapi__stream_routes(const struct xapi_client *c, uint64_t *straight, uint64_t *decoded);

#endif
