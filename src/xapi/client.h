/* SPDX-License-Identifier: MIT */
/*
 * client.h - the XAPI client: one event loop drives many pools (curl multi, non-blocking), each
 * pool is a struct xapi_client with its own session, master address, protocol and connection cap.
 * The same code runs over HTTP(S) (real pools, `poolpatch sim`) and in-process (the simulator's
 * dispatcher through struct xapi_inproc_handler, on a virtual clock).  See docs/xapi-client.md.
 *
 * Threading: a loop and everything attached to it belong to one thread.  Callbacks run from
 * xapi_loop_run only, never from inside the function that started the operation.
 *
 * Errors: PP_EXAPI with err.xapi_code and the ErrorDescription verbatim in err.msg
 * ("CODE [param, param]"); PP_ETRANSPORT (refused, reset, DNS, HTTP status), PP_ETIMEOUT,
 * PP_ETLS (verification or pin mismatch), PP_ELIMIT (response too large), PP_ECANCELLED.
 * Passwords are never logged nor put into error messages.
 */
#ifndef PP_XAPI_CLIENT_H
#define PP_XAPI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xapi/inproc.h"
#include "xapi/value.h"

struct err;
struct pp_clock;

struct xapi_loop;
struct xapi_client;
struct xapi_op;
struct xapi_timer;

/* ---- loop ---- */

/*
 * Create a loop.  clock (borrowed, may be NULL = real monotonic time) times the client's timers
 * (backoff, waits, in-process long-polls); HTTP deadlines always use real time.  Returns NULL
 * and fills e when curl cannot be initialised.
 */
struct xapi_loop *xapi_loop_new(struct pp_clock *clock, struct err *e);
/* Free a loop whose clients were all freed; NULL is a no-op. */
void xapi_loop_free(struct xapi_loop *loop);
/*
 * Perform I/O, fire due timers and deliver completions, waiting at most timeout_ms (0 = do not
 * wait) for something to happen.  On a real or scaled clock the wait is one curl_multi_poll that
 * ends at socket activity, the next timer, timeout_ms or xapi_loop_wakeup, whichever comes first,
 * even when nothing at all is pending (an idle loop sleeps).  Returns the number of callbacks
 * delivered (>= 0), or -1 on a virtual clock when nothing can make time move.
 */
int xapi_loop_run(struct xapi_loop *loop, int timeout_ms);
/*
 * Make the loop's current or next wait return at once.  The only loop function that may be
 * called from any thread (e.g. after queueing work for the loop's thread, or to stop it).
 */
void xapi_loop_wakeup(struct xapi_loop *loop);
/* How many times the loop waited so far (benchmarks and tests count turns with it). */
uint64_t xapi_loop_wait_count(const struct xapi_loop *loop);
/* True while any operation of any client is pending (a blocking wrapper's loop condition). */
bool xapi_loop_busy(const struct xapi_loop *loop);
/*
 * Idle hook for virtual time: when only timers and in-process long-polls are pending, the loop
 * calls idle(ctx, next_ms) with its earliest deadline in the loop clock's timeline (INT64_MAX when
 * none).  The hook advances the simulation (e.g. sim_run_until(min(next_ms, sim_next_deadline)))
 * and returns 0, or a negative value when nothing can move (the loop then returns).
 */
void xapi_loop_set_idle(struct xapi_loop *loop, int (*idle)(void *ctx, int64_t next_ms), void *ctx);
/* Now in the loop clock's timeline (ms). */
int64_t xapi_loop_now(const struct xapi_loop *loop);
/*
 * A timer of the loop's user (the engine bounds a wait with it): fn(arg) runs once from
 * xapi_loop_run, delay_ms (<= 0: at once) from now on the loop clock.  The timer is freed before
 * fn runs: fn must first clear the caller's pointer to it (never cancel it).  Never NULL.  The
 * loop's thread.
 */
struct xapi_timer *xapi_timer_add(struct xapi_loop *loop, int64_t delay_ms, void (*fn)(void *arg),
                                  void *arg);
/* Cancel and free *tp unless NULL (not yet fired), and set *tp = NULL.  The loop's thread. */
void xapi_timer_cancel(struct xapi_loop *loop, struct xapi_timer **tp);

/* ---- pools ---- */

enum xapi_proto_pref { XAPI_PREF_AUTO = 0, XAPI_PREF_JSONRPC, XAPI_PREF_XMLRPC };

/* Connection state of a pool, reported to on_state. */
enum xapi_conn_state {
    XAPI_CONN_IDLE = 0,     /* no session yet */
    XAPI_CONN_CONNECTING,   /* logging in, following HOST_IS_SLAVE */
    XAPI_CONN_READY,        /* logged in to the master */
    XAPI_CONN_RECONNECTING, /* lost the master; backing off and retrying every known address */
    XAPI_CONN_EMERGENCY, /* the hosts answer, but only in emergency mode (HOST_STILL_BOOTING...) */
    XAPI_CONN_FAILED,    /* gave up (reconnect budget spent, or credentials refused) */
    /* the master (or every host that could be it) presents a TLS certificate that is not
     * confirmed: nothing is sent to it until xapi_client_trust (docs/security.md) */
    XAPI_CONN_UNTRUSTED
};
/* Static name of a state ("ready", "emergency", ...). */
const char *xapi_conn_state_name(enum xapi_conn_state s);

struct xapi_client_opts {
    /*
     * Addresses of the pool's hosts, first = the master as far as we know.  HTTP: URLs
     * ("https://10.0.0.1", "http://127.0.0.10:8080/") or bare hosts (https assumed); the scheme
     * and port of the first apply to addresses learned later (HOST_IS_SLAVE, host records).
     * In-process: the hosts' management addresses as the handler knows them.
     */
    const char *const *addresses;
    size_t n_addresses;
    const char *user;
    const char *password;   /* copied; never logged */
    const char *originator; /* NULL = "poolpatch" */
    enum xapi_proto_pref proto;
    /* In-process transport when set (borrowed; must outlive the client). */
    const struct xapi_inproc_handler *inproc;

    int max_conns;              /* concurrent short calls per pool; 0 = 4 */
    int max_long_polls;         /* concurrent event.from long-polls per pool; 0 = 8 */
    int64_t call_timeout_ms;    /* whole-call deadline; 0 = 120000 */
    int64_t connect_timeout_ms; /* TCP + TLS; 0 = 10000 */
    size_t max_response_bytes;  /* 0 = 256 MiB */

    /* Reconnect: bounded exponential backoff with jitter while every address fails. */
    int64_t backoff_base_ms;     /* 0 = 500 */
    int64_t backoff_max_ms;      /* 0 = 30000 */
    int64_t reconnect_budget_ms; /* give up after this long without a master; 0 = 20 min,
                                    negative = one round over the addresses, no backoff */
    uint64_t rng_seed;           /* jitter; 0 = a fixed default */
    /*
     * The event stream asks again this long (loop clock) after a batch that had events, so that
     * a burst (a migration's task progress, VMs moving) comes in fewer, larger batches: fewer
     * event.from calls for changes seen up to this much later.  0 = at once (xapi's own waiter).
     */
    int64_t event_coalesce_ms;
    /*
     * After a batch that only said tasks are on their way (pending tasks created, progressing,
     * destroyed: a migration reports its progress three or more times), the stream asks again
     * this long later instead (when longer than event_coalesce_ms): a task's end or any other
     * change that follows is seen up to this much later.  0 = event_coalesce_ms.  The daemon
     * leaves it 0: a later-seen end widens a race of the executor's cancel (docs/xapi-client.md).
     */
    int64_t event_quiet_ms;
    /*
     * A task that succeeded is left to xapi's own GC (completed tasks go after 65 min, or when
     * the pool holds more than 200: ocaml/xapi/db_gc_util.ml) instead of one task.destroy each;
     * failed and cancelled tasks are still destroyed.  The cache then keeps only the task fields
     * the waits read.  false = destroy every task (what xapi's own waiter does).
     */
    bool leave_done_tasks;

    /* TLS (https URLs).  Verification is always on: system CAs, or ca_file, or pins. */
    const char *ca_file;     /* PEM bundle trusted for this pool */
    const char *known_hosts; /* file of "host SHA256-fingerprint" pins; enables pinning */
    bool tofu;               /* record an unknown host's fingerprint on first connect */
    /* Called when a fingerprint is learned on first use (after it was saved to known_hosts). */
    void (*on_pin)(void *ctx, const char *host, const char *fingerprint);
    void *pin_ctx;

    /* Connection state changes (e may be NULL; borrowed for the call). */
    void (*on_state)(void *ctx, enum xapi_conn_state s, const struct err *e);
    void *state_ctx;
};

/* Fill o with defaults (all zero / NULL). */
void xapi_client_opts_init(struct xapi_client_opts *o);

/*
 * Create a client for one pool on loop.  Copies everything it needs from o.  Does no I/O: the
 * first call logs in.  Returns NULL and fills e on invalid options.
 */
struct xapi_client *xapi_client_new(struct xapi_loop *loop, const struct xapi_client_opts *o,
                                    struct err *e);
/*
 * Close: cancels pending operations (their callbacks run, with PP_ECANCELLED, before this
 * returns), logs out of the session (best effort, bounded), then frees.  NULL is a no-op.  Runs
 * the transport internally for at most ~2.5 s for the logout.  May be called from a callback of
 * one of this client's operations.
 */
void xapi_client_free(struct xapi_client *c);
/* The pool's connection state (see on_state). */
enum xapi_conn_state xapi_client_state(const struct xapi_client *c);
/* Borrowed: the master's host as last seen ("" before login), the session ref or NULL. */
const char *xapi_client_master(const struct xapi_client *c);
const char *xapi_client_session(const struct xapi_client *c);
/* Protocol in use (after fallback): XAPI_PREF_JSONRPC or XAPI_PREF_XMLRPC. */
enum xapi_proto_pref xapi_client_proto(const struct xapi_client *c);
/* How many logins the client made (tests observe re-logins with it). */
unsigned xapi_client_login_count(const struct xapi_client *c);
/* Add a host address (no-op when known); used to remember the pool's other hosts. */
void xapi_client_add_address(struct xapi_client *c, const char *host);

/* A host whose certificate the pool's connection refused for want of confirmation. */
struct xapi_untrusted {
    char host[256];     /* the address as the client uses it (pins are keyed by it) */
    char presented[96]; /* its SHA-256 fingerprint, "AB:CD:..." (XAPI_FP_LEN) */
    char pinned[96];    /* the fingerprint pinned for it before ("" = none: a new host) */
};
/* Pure: which of n refused hosts a pool waits on: the master a supporter named, else the
 * client's master, else the first.  n > 0. */
size_t xapi_untrusted_pick(const struct xapi_untrusted *v, size_t n, const char *named_master,
                           const char *master);
/*
 * Pure: may the user's confirmation (host, may be NULL or ""; fp as typed) be pinned, given what
 * the pool waits on (pending, NULL when nothing)?  Without host it confirms pending, whose
 * presented fingerprint must be fp; with host it pins that host ahead, but never against what
 * that host is seen presenting.  0 with host_out set, or PP_EINVAL / PP_ESTATE / PP_ETLS.
 */
int xapi_trust_check(const struct xapi_untrusted *pending, const char *host, const char *fp,
                     char host_out[256], struct err *e);
/*
 * Pure: a pool's host certificates from its Certificate records (certs: ref -> record, as
 * Certificate.get_all_records answers; type "host" is the certificate of the host's API port,
 * a record without type is one too (before xapi 1.294); "host_internal" and "ca" are not)
 * paired with the address of their host (hosts: ref -> host record).  Fills at most max entries
 * of out (host = address, presented = the normalised fingerprint); returns how many.
 */
size_t xapi_host_certificates(const struct xapi_value *certs, const struct xapi_value *hosts,
                              struct xapi_untrusted *out, size_t max);
/*
 * Pin the n host certificates v (xapi_host_certificates) read from the pool over its trusted
 * connection: a later master change to one of these hosts needs no confirmation.  Only hosts
 * without a pin are pinned (the pool never overrides a confirmed pin).  Returns how many pins
 * were added.  Loop's thread.
 */
size_t xapi_client_learn_pins(struct xapi_client *c, const struct xapi_untrusted *v, size_t n);
/*
 * In state XAPI_CONN_UNTRUSTED: fill *u with the host that needs confirmation (the master a
 * supporter named, else the first refused) and return true; false otherwise.  Loop's thread.
 */
bool xapi_client_untrusted(const struct xapi_client *c, struct xapi_untrusted *u);
/*
 * Confirm host's certificate (NULL = the pool's first address): pin host to fp (normalised;
 * written to known_hosts) and, when the pool waits for a confirmation, log in again.  0, PP_EINVAL
 * (not a fingerprint, no pin store) or PP_EIO.  Loop's thread.
 */
int xapi_client_trust(struct xapi_client *c, const char *host, const char *fp, struct err *e);

/* ---- counts of the XAPI traffic ---- */

/* Totals since the client (or the process) started.  A call is a request put on the wire:
 * logins, replays and event.from long-polls included, as the host counts them. */
struct xapi_counts {
    uint64_t calls;            /* requests sent */
    uint64_t xapi_errors;      /* answers that were an XAPI ErrorDescription */
    uint64_t transport_errors; /* refused, reset, timed out, TLS, over the size limit */
    uint64_t reconnects;       /* times the master was lost and searched for again */
    uint64_t logins;           /* session.login_with_password sent */
};
/*
 * The client's counts into *out (may be NULL), then fn(ctx, method, n) for each method sent so
 * far (fn may be NULL; method borrowed for the call).  The loop's thread.
 */
void xapi_client_counts(const struct xapi_client *c, struct xapi_counts *out,
                        void (*fn)(void *ctx, const char *method, uint64_t n), void *ctx);
/* The same over every client of the process, freed ones included.  Any thread; fn runs under
 * the counters' lock (it must not call back into the client). */
void xapi_process_counts(struct xapi_counts *out,
                         void (*fn)(void *ctx, const char *method, uint64_t n), void *ctx);

/* ---- calls ---- */

/*
 * Completion of an operation.  rc is 0 or a PP_E* code; result (borrowed, NULL on failure) and e
 * (borrowed, NULL on success) are valid during the callback only.
 */
typedef void (*xapi_done_fn)(void *ctx, int rc, const struct xapi_value *result,
                             const struct err *e);

enum {
    XAPI_CALL_RAW = 1 << 0,        /* no session inserted, no login (session.* calls) */
    XAPI_CALL_IDEMPOTENT = 1 << 1, /* may be replayed after a dropped connection */
};

struct xapi_call_opts {
    unsigned flags;
    int64_t timeout_ms; /* 0 = the client's call_timeout_ms */
};

/*
 * Start a call.  The session ref is inserted as the first parameter unless XAPI_CALL_RAW or the
 * method is session.login* / session.slave_local_login*.  params (an XAPI_ARRAY or NULL) is taken.
 * Calls named *.get_* / *.get_all* / event.* are replayed after a dropped connection; others only
 * when the request never reached the host.  o may be NULL.  *op_out (may be NULL) receives a
 * handle valid until the callback ran.  Returns 0 (done runs later, exactly once) or a negative
 * code with e filled (done never runs).
 */
int xapi_call_async(struct xapi_client *c, const char *method, struct xapi_value *params,
                    const struct xapi_call_opts *o, xapi_done_fn done, void *ctx,
                    struct xapi_op **op_out, struct err *e);

/*
 * Blocking convenience (CLI, tests): runs the loop until the call completes.  *result receives a
 * new value on success (caller frees; result may be NULL to discard).  Returns 0 or PP_E*.
 */
int xapi_call_sync(struct xapi_client *c, const char *method, struct xapi_value *params,
                   const struct xapi_call_opts *o, struct xapi_value **result, struct err *e);

/*
 * Cancel an operation.  A plain call is abandoned (done gets PP_ECANCELLED); a task is asked to
 * stop with task.cancel and completes when xapi says so (PP_ECANCELLED, or success when it was
 * too late).  No-op after completion was delivered.
 */
void xapi_op_cancel(struct xapi_op *op);

/* ---- Async tasks ---- */

/* Task progress 0..1, called when it changes. */
typedef void (*xapi_progress_fn)(void *ctx, double progress);

/*
 * Run method as "Async.<method>", wait for the task through the pool's task stream (one
 * event.from on class "task" shared by every task wait of the pool; no polling), report progress,
 * decode task.result (an XML-RPC fragment on both protocols) and destroy the task.  done gets the
 * decoded result, or PP_EXAPI with the task's error_info, PP_ECANCELLED, or PP_ENOTFOUND when
 * someone else destroyed the task.  timeout_ms (0 = none) bounds the whole wait.  A
 * VM.pool_migrate whose VM class the object cache watches is waited through the VM instead (its
 * current_operations, resident_on; the task read only when it did not succeed): progress is then
 * reported only as the final 1.0 (docs/xapi-client.md, "Object waits").
 */
int xapi_task_async(struct xapi_client *c, const char *method, struct xapi_value *params,
                    int64_t timeout_ms, xapi_progress_fn progress, xapi_done_fn done, void *ctx,
                    struct xapi_op **op_out, struct err *e);
/*
 * Blocking convenience (CLI, tests): xapi_task_async, then runs the loop until the task ended.
 * progress (may be NULL) gets progress_ctx.  *result receives a new value on success (caller
 * frees; result may be NULL to discard).  Returns 0 or PP_E* (e filled).
 */
int xapi_task_sync(struct xapi_client *c, const char *method, struct xapi_value *params,
                   int64_t timeout_ms, xapi_progress_fn progress, void *progress_ctx,
                   struct xapi_value **result, struct err *e);
/*
 * Wait for an existing task (one made with task.create, or found in a journal after a restart)
 * through the pool's event stream, as xapi_task_async waits after its call: progress, the
 * decoded result, PP_EXAPI with the task's error_info, PP_ECANCELLED, PP_ENOTFOUND when someone
 * destroyed it; the task is destroyed once it ended.  timeout_ms (0 = none) bounds the wait:
 * PP_ETIMEOUT leaves the task as it is.  xapi_op_cancel sends task.cancel.  Returns 0 (done runs
 * later, exactly once) or PP_EINVAL / PP_ESTATE with e filled.
 */
int xapi_task_wait(struct xapi_client *c, const char *task_ref, int64_t timeout_ms,
                   xapi_progress_fn progress, xapi_done_fn done, void *ctx, struct xapi_op **op_out,
                   struct err *e);
/* Task ref of a task operation once known, else NULL (borrowed). */
const char *xapi_op_task_ref(const struct xapi_op *op);

/* ---- object cache (event.from) ---- */

/*
 * Start the pool's object cache for classes (lowercase xapi class names, e.g. "host",
 * "host_metrics", "pool", "vm"; NULL-terminated; copied).  A snapshot (token "") fills it, then
 * add/mod/del events keep it current; EVENTS_LOST or a new session bring a fresh snapshot.
 * Returns 0 or PP_ESTATE when already started.
 */
int xapi_cache_start(struct xapi_client *c, const char *const *classes, struct err *e);
/*
 * Keep only these fields of class cls's cached records (lowercase class name; NULL-terminated
 * field names, copied), e.g. the ones a daemon reads: a VM record has ~90 fields, the engine
 * reads ~25.  Call before xapi_cache_start; returns 0, or PP_ESTATE once the cache runs (or
 * PP_EINVAL for class "task", whose fields the task waits read).  Without it every field of
 * the class is kept.
 */
int xapi_cache_set_fields(struct xapi_client *c, const char *cls, const char *const *fields,
                          struct err *e);
/* True once the first snapshot was applied. */
bool xapi_cache_ready(const struct xapi_client *c);
/* Number of snapshots applied (1 after start; +1 per EVENTS_LOST or re-login). */
unsigned xapi_cache_generation(const struct xapi_client *c);
/*
 * How many changes were applied to the records of classes (lowercase names, NULL-terminated): the
 * sum of each class's count of records stored (add, mod), removed (del) and resets (a snapshot).
 * It only grows, and grows with every such change, so two equal values mean the classes' records
 * are the ones they were (what a copy made from them may be reused on: docs/engine.md).  classes
 * NULL: every class the cache holds, tasks included (one counter: O(1)).
 */
uint64_t xapi_cache_changes(const struct xapi_client *c, const char *const *classes);

/*
 * A count of what any client of the process (any loop, any thread) showed change: its
 * connection state, its master, its untrusted certificate, its cache becoming ready, the records
 * of its cache (a batch with events or a snapshot).  It only grows, and grows with each such
 * change, so two equal values mean no client's state, master or records changed in between (an
 * empty event.from answer changes nothing).  Lets a reader of many pools skip looking at each
 * (the engine's GET /pools list: docs/performance.md, "Idle at fleet scale (session 10)").
 * Any thread.
 */
uint64_t xapi_change_count(void);
/* Borrowed record of class cls and ref, or NULL.  Valid until the next loop turn. */
const struct xapi_value *xapi_cache_get(const struct xapi_client *c, const char *cls,
                                        const char *ref);
/* Number of objects of class cls. */
size_t xapi_cache_count(const struct xapi_client *c, const char *cls);
/* Call fn(ctx, ref, record) for each object of cls (unordered); stop when fn returns false. */
void xapi_cache_foreach(const struct xapi_client *c, const char *cls,
                        bool (*fn)(void *ctx, const char *ref, const struct xapi_value *rec),
                        void *ctx);
/*
 * Wait until pred(ctx, c) is true, evaluated now (once ready) and after every applied batch.
 * done runs with 0, or PP_ETIMEOUT after timeout_ms (loop clock; 0 = no limit) - decided on a
 * batch asked after the deadline, once the cache is current (after a reconnect: the new
 * session's snapshot) or the client gave up, at most the reconnect budget later; or the cache's
 * fatal error.  Returns 0 or PP_ESTATE when the cache was not started.
 */
int xapi_cache_wait(struct xapi_client *c, bool (*pred)(void *ctx, struct xapi_client *c),
                    void *pred_ctx, int64_t timeout_ms, xapi_done_fn done, void *ctx,
                    struct xapi_op **op_out, struct err *e);

#endif
