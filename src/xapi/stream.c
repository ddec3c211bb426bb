/* SPDX-License-Identifier: MIT */
/*
 * stream.c - the pool's event stream: one event.from long-poll per pool feeds the object cache
 * (the caller's classes) and every task wait (class "task" in the same request), so a pool
 * holds one long-poll however many tasks are waited on and whatever the cache watches, and one
 * batch brings a migration's task outcome and the VM's new residence together.  Async tasks
 * (xapi_task_async), waits on existing tasks (xapi_task_wait) and cache waits
 * (xapi_cache_wait) are decided here.  See docs/xapi-client.md, "Async tasks" and "The object
 * cache".  Single-threaded (the loop's).
 *
 * A task whose events went by before its ref was known is found in the cache; a snapshot taken
 * after the ref was known that lacks it means the task was destroyed.  Without a cache the
 * stream carries "task" alone and runs while tasks are waited on.
 *
 * Object waits: a migration (VM.pool_migrate) is not waited through its task's events - the
 * task reports its progress many times, each an event.from turn that decides nothing - but
 * through its VM in the cache: xapi lists the running operation in the VM's current_operations
 * under the task's ref (message_forwarding.ml with_vm_operation: add_to_current_operations
 * ~key:task_id, removed in a finally when the operation ends).  The operation gone and the VM
 * resident on the destination is a success; anything else reads the task once
 * (task.get_record) and waits through its events from then on.  The stream carries "task"
 * only while some operation needs task events (st_task_need), so a pool that only migrates
 * sees only its VMs and hosts change.  See docs/xapi-client.md, "Async tasks".
 */
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "xapi/cache_int.h"
#include "xapi/client_int.h"

#define LOGM "xapi"
/* Snapshots (token "") in flight at once over every pool of a loop: a bench-16 pool's answer is
 * ~1.4 MB of JSON and a tree several times that while it is decoded; 100 pools connecting at
 * once (a daemon's start, a fleet's masters back) held them all together.  The others wait. */
#define MAX_SNAPSHOTS    4
#define SNAPSHOT_WAIT_MS 50
#define SNAPSHOT_HOLD_MS 5000 /* a slot held longer (master lost, slow pool) is given up */
/* An object wait whose object never showed the operation running reads the task this long
 * (plus the stream's own delays) after its ref was known: an operation xapi refused at once
 * never touches the object. */
#define OBJ_PROBE_MS 1000

/* Operations waited through their object: method, the object's class, the parameter holding
 * its ref, the field that holds the parameter want_param's value once it succeeded (member: the
 * field is a set that then contains it), and whether the object lists the running operation in
 * its current_operations (marker).
 *
 * pool_update.apply(update, host) lists nothing anywhere while it runs: xapi forwards it to the
 * host's "pool_update.apply" extension (ocaml/idl/datamodel.ml, forward_to:(HostExtension
 * "pool_update.apply"); python3/extensions/pool_update.apply), not through message_forwarding's
 * with_*_operation.  Its success is the host's updates set gaining the update (the extension's
 * last step is pool_update.resync_host, ocaml/xapi/xapi_pool_update.ml: Db.Host.set_updates).
 * Such a marker-less wait decides success from the cache and reads its task only when its probe
 * fires (a failure shows on no object): see ow_probe_delay. */
static const struct obj_task {
    const char *method, *cls;
    size_t obj_param;
    const char *field;
    size_t want_param;
    bool member, marker;
} obj_tasks[] = {
    {"VM.pool_migrate", "vm", 0, "resident_on", 1, false, true},
    {"pool_update.apply", "host", 1, "updates", 0, true, false},
};
#define N_OBJ_TASKS (sizeof(obj_tasks) / sizeof(obj_tasks[0]))
_Static_assert(N_OBJ_TASKS == sizeof(((struct xapi_client *)0)->ow_longest_ms) / sizeof(int64_t),
               "one longest wait per obj_tasks row");
/* A marker-less wait's probe: at least this long after its ref was known, or twice the longest
 * such wait seen to succeed on this pool, at most OW_PROBE_MAX_MS. */
#define OW_PROBE_MIN_MS 5000
#define OW_PROBE_MAX_MS (10 * 60 * 1000)

/* ---- tasks ---- */

static void task_destroy_ref(struct xapi_client *c, const char *ref)
{
    struct xapi_value *p = xapi_value_new_array();
    xapi_array_append_string(p, ref);
    xapi__call_start(c, "task.destroy", p, NULL, NULL, NULL);
}

/* op succeeded: when it began as a marker-less object wait, its duration is the pool's longest
 * such wait if longer (ow_probe_delay). */
static void ow_timed_success(struct xapi_op *op)
{
    struct xapi_client *c = op->c;
    if (!op->ow_timed)
        return;
    int64_t took = xapi__loop_now(c->loop) - op->ow_t0;
    if (took > c->ow_longest_ms[op->ow_kind])
        c->ow_longest_ms[op->ow_kind] = took;
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
                xapi__op_finish(op, e.code, NULL, &e);
                goto destroy;
            }
        }
        if (op->progress && op->last_progress < 1.0)
            op->progress(op->ctx, 1.0);
        ow_timed_success(op);
        xapi__op_finish(op, 0, v, NULL);
    } else if (strcmp(status, "failure") == 0) {
        const struct xapi_value *ei = xapi_struct_get(snap, "error_info");
        if (xapi_err_from_description(ei, &e) != PP_EXAPI)
            err_set(&e, PP_EXAPI, "task %s failed without error_info", ref);
        xapi__op_finish(op, PP_EXAPI, NULL, &e);
    } else {
        err_set(&e, PP_ECANCELLED, "task %s was cancelled", ref);
        xapi__op_finish(op, PP_ECANCELLED, NULL, &e);
    }
destroy:
    if (!op->c->o.leave_done_tasks || strcmp(status, "success") != 0)
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

static void tw_check(struct xapi_op *op, bool snapshot_seq_ok)
{
    struct xapi_client *c = op->c;
    const struct xapi_value *rec =
        c->cache ? xapi__cache_get(c->cache, "task", op->task_ref) : NULL;
    if (rec) {
        op->tw_seen = true;
        task_apply_snapshot(op, rec);
    } else if (op->tw_seen || snapshot_seq_ok) {
        xapi__op_fail(op, PP_ENOTFOUND, "task %s was destroyed before it finished", op->task_ref);
    }
}

/* ---- the stream ---- */

static void stream_retry_fire(void *arg)
{
    struct xapi_client *c = arg;
    c->st_retry_t = NULL;
    xapi__stream_next(c);
}

static bool learn_host(void *ctx, const char *ref, const struct xapi_value *rec)
{
    (void)ref;
    xapi_client_add_address(ctx, xapi_struct_str(rec, "address", NULL));
    return true;
}

/* Give up c's snapshot slot, if it holds one. */
static void snapshot_slot_free(struct xapi_client *c)
{
    xapi__timer_cancel(c->loop, &c->st_snap_t);
    if (c->st_snapshot) {
        c->st_snapshot = false;
        c->loop->snapshots--;
    }
}

static void snapshot_hold_fire(void *arg)
{
    struct xapi_client *c = arg;
    c->st_snap_t = NULL;
    snapshot_slot_free(c);
}

/* The request in flight is over (answered or dropped): its snapshot slot is free. */
static void stream_sub_over(struct xapi_client *c)
{
    c->st_sub = NULL;
    snapshot_slot_free(c);
}

/* Drop the request in flight (c->st_sub, set): its answer is not wanted, its callback never
 * runs, and its snapshot slot is free; the caller sends the next one. */
static void stream_sub_drop(struct xapi_client *c)
{
    struct xapi_op *sub = c->st_sub;
    stream_sub_over(c);
    sub->done = NULL;
    xapi__op_cancel_inner(sub);
}

static void cache_eval_waiters(struct xapi_client *c);
static void tasks_read_deferred(struct xapi_client *c);

/* A batch asked without "task" is held (ow_hold): applied, it drops every cached task
 * (tasks_forget), so the cache's tasks tell nothing meanwhile. */
static bool held_without_task(const struct xapi_client *c)
{
    return c->st_held && !c->st_held_task;
}

/* Drop the request in flight (its answer would be for other classes) and ask for a snapshot. */
static void stream_restart(struct xapi_client *c)
{
    if (!c->cache)
        c->cache = xapi__cache_new();
    if (c->st_held) {
        xapi__batch_free(c->st_held); /* the snapshot supersedes it */
        c->st_held = NULL;
        tasks_read_deferred(c); /* the snapshot carries "task" for them */
    }
    if (c->st_sub)
        stream_sub_drop(c);
    xapi__cache_set_token(c->cache, "");
    xapi__stream_next(c);
}

/*
 * A new session (client_int.h).  Events may have been lost with the old one, so the stream
 * starts over from a snapshot (stream_done checks the session of every answer); a request from
 * before it - the long-poll that was queued for replay when the master went, or a retry - would
 * be answered from the old token only to be thrown away: one wasted event.from per pool and
 * master reboot.  Ask for the snapshot at once instead.  A batch held while tasks are read
 * goes first (its answer's token replaces the cache's); the session check restarts after it.
 */
void xapi__stream_new_session(struct xapi_client *c)
{
    if (!c->cache || c->st_held || *xapi__cache_token(c->cache) == '\0')
        return;
    if (c->st_sub)
        stream_restart(c);
    else
        xapi__cache_set_token(c->cache, "");
}

/* The stream cannot go on for now (rc, e): task waits fail; the cache retries (or waits for the
 * next login when retrying cannot help). */
static void stream_failed(struct xapi_client *c, int rc, const struct err *e)
{
    for (struct xapi_op *op = c->task_waiters, *next; op; op = next) {
        next = op->wnext;
        xapi__op_finish(op, rc, NULL, e);
    }
    if (!c->cache_on)
        return;
    if (e && (e->code == PP_ETLS || e->code == PP_ELIMIT ||
              strcmp(e->xapi_code, "SESSION_AUTHENTICATION_FAILED") == 0)) {
        /* Retrying cannot help (and would hammer a refused login): resume after the next
         * successful login (session.c restarts the stream). */
        log_warn(LOGM, "pool %s: event stream stopped: %s", c->hosts.items[0], e->msg);
        return;
    }
    int64_t d =
        xapi_backoff_delay(c->st_failures++, c->o.backoff_base_ms, c->o.backoff_max_ms, &c->rng);
    log_warn(LOGM, "pool %s: event stream: %s; retrying in %lld ms", c->hosts.items[0],
             e ? e->msg : err_code_name(rc), (long long)d);
    c->st_retry_t = xapi__timer_add(c->loop, d, stream_retry_fire, c);
}

static void ow_check(struct xapi_op *op, bool decide, bool fresh);

/* A batch of n events was applied (reset: it was a snapshot; had_task: its request carried
 * "task"): the cache's and the tasks' turn. */
static void stream_applied(struct xapi_client *c, size_t n, bool reset, bool had_task, unsigned gen,
                           unsigned seq)
{
    c->st_ready = true;
    c->st_applied_seq = seq;
    if (reset)
        c->st_session_gen = gen;
    if (reset && c->cache_on) {
        c->cache_gen++;
        c->cache_ready = true;
        xapi__changed();
    }
    if (c->cache_on) {
        /* an empty batch (a long-poll that timed out) changed no host's address */
        if (reset || n > 0)
            xapi__cache_foreach(c->cache, "host", learn_host, c);
        cache_eval_waiters(c);
    }
    for (struct xapi_op *op = c->task_waiters, *next; op; op = next) {
        next = op->wnext;
        if (op->ow_cls)
            ow_check(op, true, op->tw_seen || seq > op->tw_seq);
        else
            tw_check(op, reset && had_task && seq > op->tw_seq);
    }
}

/* True when event i of b only says that something is on its way: a task created, progressing
 * or destroyed while pending, or a VM changed while an operation holds it (its
 * current_operations: the operation's end is another event).  A batch of these decides
 * nothing.  The staged record holds the fields read here (xapi_cache_set_fields keeps them). */
static bool event_is_progress(const struct xapi_batch *b, size_t i)
{
    const char *cls, *ref;
    enum xapi_bop op;
    const struct xapi_value *snap;
    xapi__batch_event(b, i, &cls, &ref, &op, &snap);
    if (str_eq_nocase(cls, "task"))
        return op == XAPI_BOP_DEL ||
               (snap && str_eq(xapi_struct_str(snap, "status", ""), "pending"));
    if (str_eq_nocase(cls, "vm") && op == XAPI_BOP_MOD)
        return xapi_struct_len(xapi_struct_get(snap, "current_operations")) > 0;
    return false;
}

/* How long to wait before the next event.from after batch b (0 = at once):
 * event_coalesce_ms after a batch with events, event_quiet_ms (when longer) after one that
 * only carried task progress. */
static int64_t stream_delay(const struct xapi_client *c, const struct xapi_batch *b)
{
    size_t n = xapi__batch_len(b);
    if (n == 0)
        return 0;
    bool progress = true;
    for (size_t i = 0; i < n && progress; i++)
        progress = event_is_progress(b, i);
    if (progress && c->o.event_quiet_ms > c->o.event_coalesce_ms)
        return c->o.event_quiet_ms;
    return c->o.event_coalesce_ms;
}

static bool task_ref_add(void *ctx, const char *ref, const struct xapi_value *rec)
{
    (void)rec;
    struct xapi_value *ev = xapi_value_new_struct();
    xapi_struct_set_string(ev, "class", "task");
    xapi_struct_set_string(ev, "operation", "del");
    xapi_struct_set_string(ev, "ref", ref);
    xapi_array_append_take(ctx, ev);
    return true;
}

/* A task read (task.get_record: rec) still pending while the stream carries "task" from before
 * the read: put it in the cache unless the stream already brought it there.  A pending task may
 * change no more until its end (pool_update.apply reports no progress), so without this the
 * next batch would find it missing and read it as destroyed. */
static void task_cache_add(struct xapi_client *c, const char *ref, const struct xapi_value *rec)
{
    if (!c->cache || xapi__cache_get(c->cache, "task", ref))
        return;
    struct xapi_value *ev = xapi_value_new_struct();
    xapi_struct_set_string(ev, "class", "task");
    xapi_struct_set_string(ev, "operation", "add");
    xapi_struct_set_string(ev, "ref", ref);
    xapi_struct_set_take(ev, "snapshot", xapi_value_dup(rec));
    struct xapi_value *evs = xapi_value_new_array();
    xapi_array_append_take(evs, ev);
    struct xapi_value *res = xapi_value_new_struct();
    xapi_struct_set_take(res, "events", evs);
    xapi_struct_set_string(res, "token", xapi__cache_token(c->cache));
    struct err e = {0};
    if (xapi__cache_apply(c->cache, res, false, &e) != 0)
        log_warn(LOGM, "pool %s: task %s: %s", c->hosts.items[0], ref, e.msg);
    xapi_value_free(res);
}

/* The stream stopped carrying "task": drop the cached tasks, whose end it would not see. */
static void tasks_forget(struct xapi_client *c)
{
    if (xapi__cache_count(c->cache, "task") == 0)
        return;
    struct xapi_value *evs = xapi_value_new_array();
    xapi__cache_foreach(c->cache, "task", task_ref_add, evs);
    struct xapi_value *res = xapi_value_new_struct();
    xapi_struct_set_take(res, "events", evs);
    xapi_struct_set_string(res, "token", xapi__cache_token(c->cache));
    struct err e = {0};
    xapi__cache_apply(c->cache, res, false, &e);
    xapi_value_free(res);
}

/* Apply an answered batch (staged by stream_done; taken) and ask again, at once or after the
 * stream's delay. */
static void stream_apply_batch(struct xapi_client *c, struct xapi_batch *b, unsigned gen,
                               unsigned seq, bool had_task)
{
    bool reset = xapi__batch_reset(b);
    size_t n = xapi__batch_len(b);
    int64_t delay = reset ? 0 : stream_delay(c, b); /* read before the records move */
    xapi__cache_commit(c->cache, b);
    xapi__batch_free(b);
    if (reset || !had_task)
        c->st_task_cont = had_task;
    if (!had_task && !reset)
        tasks_forget(c);
    stream_applied(c, n, reset, had_task, gen, seq);
    if (delay > 0 && !c->st_retry_t) {
        c->st_retry_t = xapi__timer_add(c->loop, delay, stream_retry_fire, c);
        return;
    }
    xapi__stream_next(c);
}

/* ---- object waits: a batch showing an operation gone is held while its task is read ---- */

static bool ow_reading_any(const struct xapi_client *c)
{
    for (const struct xapi_op *op = c->task_waiters; op; op = op->wnext)
        if (op->ow_reading)
            return true;
    return false;
}

/* Apply the held batch once no read of an object wait's task is in flight. */
static void ow_resume(struct xapi_client *c)
{
    if (!c->st_held || ow_reading_any(c))
        return;
    struct xapi_batch *b = c->st_held;
    c->st_held = NULL;
    stream_apply_batch(c, b, c->st_held_gen, c->st_held_seq, c->st_held_task);
    tasks_read_deferred(c);
}

static void ow_resume_fire(void *arg)
{
    struct xapi_client *c = arg;
    c->st_resume_t = NULL;
    ow_resume(c);
}

/* An object wait's read while the stream holds a batch (ow_hold) answered: its record is used
 * when the batch is applied (ow_check; the wait's probe leaves it alone meanwhile). */
static void ow_read_done(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct xapi_op *op = ctx;
    op->sub = NULL;
    op->ow_reading = false;
    if (rc == 0)
        op->ow_rec = xapi_value_dup(result);
    else if (e && strcmp(e->xapi_code, "HANDLE_INVALID") == 0)
        op->ow_gone = true;
    ow_resume(op->c);
}

/* True when the object record rec shows op's operation done: the field holds the wanted value
 * (or, for a set, contains it). */
static bool ow_succeeded(const struct xapi_op *op, const struct xapi_value *rec)
{
    const struct xapi_value *f = rec ? xapi_struct_get(rec, op->ow_field) : NULL;
    if (!f)
        return false;
    if (!obj_tasks[op->ow_kind].member)
        return str_eq(xapi_value_str(f), op->ow_want);
    for (size_t i = 0; i < xapi_array_len(f); i++)
        if (str_eq(xapi_value_str(xapi_array_get(f, i)), op->ow_want))
            return true;
    return false;
}

/* True when the batch's last event of op's object shows the operation gone without the wanted
 * value (failed, cancelled, or not listed yet): its task must be read.  Never for a marker-less
 * wait: its object does not show the operation going. */
static bool ow_needs_read(const struct xapi_op *op, const struct xapi_batch *b)
{
    if (!op->ow_marker)
        return false;
    const struct xapi_value *snap = NULL;
    enum xapi_bop last = XAPI_BOP_ADD;
    bool seen = false;
    for (size_t i = 0; i < xapi__batch_len(b); i++) {
        const char *cls, *ref;
        enum xapi_bop bop;
        const struct xapi_value *rec;
        xapi__batch_event(b, i, &cls, &ref, &bop, &rec);
        if (str_eq_nocase(cls, op->ow_cls) && str_eq(ref, op->ow_obj)) {
            seen = true;
            last = bop;
            snap = rec;
        }
    }
    if (!seen)
        return false;
    if (last == XAPI_BOP_DEL)
        return true;
    const struct xapi_value *co = xapi_struct_get(snap, "current_operations");
    if (co && xapi_struct_get(co, op->task_ref))
        return false;
    return !ow_succeeded(op, snap);
}

/* Before a batch is applied: the object waits it ends without success read their tasks first,
 * and the batch waits for the answers (held), so that every operation the batch ended is
 * delivered in the same turn, as when the tasks' own events told (a failure is not seen after
 * a sibling's success that the caller already acted on).  True when held (b taken). */
static bool ow_hold(struct xapi_client *c, struct xapi_batch *b, unsigned gen, unsigned seq,
                    bool had_task)
{
    bool held = false;
    for (struct xapi_op *op = c->task_waiters; op; op = op->wnext) {
        /* A request sent before the ref was known may have been answered before the operation
         * began (over HTTP the answer can come after the Async call's): the VM it shows is no
         * evidence of the operation's end unless the operation was seen running. */
        bool fresh = op->tw_seen || seq > op->tw_seq;
        if (!op->ow_cls || op->ow_reading || op->sub || op->finished || !fresh ||
            !ow_needs_read(op, b))
            continue;
        struct xapi_value *p = xapi_value_new_array();
        xapi_array_append_string(p, op->task_ref);
        op->ow_reading = true;
        op->sub = xapi__call_start(c, "task.get_record", p, NULL, ow_read_done, op);
        held = true;
    }
    if (held) {
        c->st_held = b; /* taken */
        c->st_held_gen = gen;
        c->st_held_seq = seq;
        c->st_held_task = had_task;
    }
    return held;
}

/* Stage the answer of event.from request sub (its result value, or over JSON-RPC its body's
 * bytes, decoded straight into the batch: evjson.c) in *out. */
static int stream_stage(struct xapi_client *c, const struct xapi_op *sub,
                        const struct xapi_value *result, bool reset, struct xapi_batch **out,
                        struct err *e)
{
    if (sub && sub->ev_raw) {
        struct xapi_limits lim;
        xapi_limits_response(&lim);
        c->st_straight++;
        return xapi__batch_from_json(c->cache, sub->ev_body.data + sub->ev_off, sub->ev_len,
                                     sub->ev_off, &lim, reset, out, e);
    }
    c->st_decoded++;
    return xapi__batch_from_value(c->cache, result, reset, out, e);
}

/* See client_int.h. */
void xapi__stream_routes(const struct xapi_client *c, uint64_t *straight, uint64_t *decoded)
{
    *straight = c->st_straight;
    *decoded = c->st_decoded;
}

static void stream_done(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct xapi_client *c = ctx;
    const struct xapi_op *sub = c->st_sub;
    unsigned gen = c->st_sub ? c->st_sub->session_gen_sent : 0;
    unsigned seq = c->st_inflight_seq;
    bool had_task = c->st_inflight_task;
    stream_sub_over(c);
    if (c->closing)
        return;
    if (rc != 0 && e &&
        (strcmp(e->xapi_code, "EVENTS_LOST") == 0 ||
         strcmp(e->xapi_code, "EVENT_FROM_TOKEN_PARSE_FAILURE") == 0)) {
        log_info(LOGM, "pool %s: %s; taking a fresh snapshot", c->hosts.items[0], e->xapi_code);
        stream_restart(c);
        return;
    }
    if (rc != 0) {
        stream_failed(c, rc, e);
        return;
    }
    c->st_failures = 0;
    bool reset = *xapi__cache_token(c->cache) == '\0';
    if (!reset && gen != c->st_session_gen) {
        /* A new session: events may have been lost with the old master; start over. */
        stream_restart(c);
        return;
    }
    struct xapi_batch *b = NULL;
    struct err pe = {0};
    if (stream_stage(c, sub, result, reset, &b, &pe) != 0) {
        /* a refused answer changed nothing in the cache */
        log_warn(LOGM, "pool %s: %s; taking a fresh snapshot", c->hosts.items[0], pe.msg);
        xapi__cache_set_token(c->cache, "");
        c->st_retry_t = xapi__timer_add(c->loop, c->o.backoff_base_ms, stream_retry_fire, c);
        return;
    }
    if (!reset && ow_hold(c, b, gen, seq, had_task))
        return;
    stream_apply_batch(c, b, gen, seq, had_task);
}

/*
 * The timeout of the stream's next long-poll, in seconds: 0 for a flush, else
 * XAPI__EVENT_WAIT_S lengthened by less than XAPI__EVENT_ALIGN_MS so that it ends on a multiple
 * of XAPI__EVENT_ALIGN_MS of the loop's clock.  Every pool of the loop then times out on the same
 * few instants (15 a 30 s): a fleet's quiet pools answer together and one wakeup of the loop
 * takes several answers, where they came one wakeup each at random phases (100 idle pools: ~100
 * wakeups a 30 s and most of the idle daemon's CPU; docs/performance.md, "Idle: long-polls that
 * end together").  Lengthened, never shortened: a pool is not asked more often than every
 * XAPI__EVENT_WAIT_S (shortening cost a rollout's calls: bench-16 +8 event.from); a silent
 * master is noticed at most XAPI__EVENT_ALIGN_MS later.  xapi takes any float timeout
 * (ocaml/xapi/xapi_event.ml, from).
 */
static double stream_wait_s(const struct xapi_client *c)
{
    if (c->st_flush)
        return 0.0;
    int64_t end = xapi__loop_now(c->loop) + (int64_t)(XAPI__EVENT_WAIT_S * 1000);
    int64_t past = end % XAPI__EVENT_ALIGN_MS;
    if (past < 0)
        past += XAPI__EVENT_ALIGN_MS;
    return XAPI__EVENT_WAIT_S + (double)(past ? XAPI__EVENT_ALIGN_MS - past : 0) / 1000.0;
}

/* See client_int.h. */
void xapi__stream_next(struct xapi_client *c)
{
    if (c->closing || c->st_sub || c->st_retry_t || c->st_held || !(c->cache_on || c->task_waiters))
        return;
    if (!c->cache)
        c->cache = xapi__cache_new();
    bool snapshot = *xapi__cache_token(c->cache) == '\0';
    if (snapshot && c->loop->snapshots >= MAX_SNAPSHOTS) {
        c->st_retry_t = xapi__timer_add(c->loop, SNAPSHOT_WAIT_MS, stream_retry_fire, c);
        return;
    }
    struct xapi_value *p = xapi_value_new_array();
    struct xapi_value *cls = xapi_value_new_array();
    for (char **k = c->cache_classes; k && *k; k++)
        xapi_array_append_string(cls, *k);
    c->st_inflight_task = !c->cache_on || c->st_task_need > 0;
    if (c->st_inflight_task)
        xapi_array_append_string(cls, "task");
    xapi_array_append_take(p, cls);
    xapi_array_append_string(p, xapi__cache_token(c->cache));
    xapi_array_append_take(p, xapi_value_new_double(stream_wait_s(c)));
    c->st_flush = false;
    /* over JSON-RPC the answer stays bytes until stream_done decodes it into the cache */
    struct xapi_call_opts o = {.flags = XAPI_CALL_IDEMPOTENT | XAPI__CALL_EVENTS, .timeout_ms = 0};
    c->st_inflight_seq = ++c->st_seq;
    if (snapshot) {
        c->st_snapshot = true;
        c->loop->snapshots++;
        c->st_snap_t = xapi__timer_add(c->loop, SNAPSHOT_HOLD_MS, snapshot_hold_fire, c);
    }
    c->st_sub = xapi__call_start(c, "event.from", p, &o, stream_done, c);
}

/* See client_int.h. */
void xapi__stream_stop(struct xapi_client *c)
{
    xapi__timer_cancel(c->loop, &c->st_retry_t);
    xapi__timer_cancel(c->loop, &c->st_resume_t);
    snapshot_slot_free(c); /* its operation is finished with the others */
}

/* See client_int.h. */
void xapi__stream_free(struct xapi_client *c)
{
    xapi__batch_free(c->st_held);
    c->st_held = NULL;
    if (c->cache_classes) {
        for (char **p = c->cache_classes; *p; p++)
            free(*p);
        free(c->cache_classes);
    }
    xapi__cache_free(c->cache);
}

/* ---- Async tasks and task waits ---- */

static void task_cancel_done(void *ctx, int rc, const struct xapi_value *result,
                             const struct err *e)
{
    (void)ctx;
    (void)result;
    if (rc != 0)
        log_info(LOGM, "task.cancel: %s", e ? e->msg : err_code_name(rc));
}

/* See client_int.h. */
void xapi__task_send_cancel(struct xapi_op *op)
{
    if (op->cancel_sent || !op->task_ref)
        return;
    op->cancel_sent = true;
    struct xapi_value *p = xapi_value_new_array();
    xapi_array_append_string(p, op->task_ref);
    xapi__call_start(op->c, "task.cancel", p, NULL, task_cancel_done, NULL);
}

/* op needs the task's events: from now on every event.from carries "task".  A request in flight
 * without it is dropped (its answer would advance the token past task events it did not carry)
 * and sent again from the same token. */
static void task_need(struct xapi_op *op)
{
    struct xapi_client *c = op->c;
    if (op->task_need || op->finished) /* finished: released already, nothing would release it */
        return;
    op->task_need = true;
    c->st_task_need++;
    if (c->st_sub && !c->st_inflight_task)
        stream_sub_drop(c);
    xapi__stream_next(c);
}

/* See client_int.h. */
void xapi__task_release(struct xapi_op *op)
{
    struct xapi_client *c = op->c;
    xapi__timer_cancel(c->loop, &op->ow_probe);
    if (op->ow_reading) {
        /* its read is cancelled with it: the held batch goes on without it (not when the
         * client is being freed: the stream's timers are cancelled by then, and one armed now
         * would fire with the freed client) */
        op->ow_reading = false;
        if (c->st_held && !c->st_resume_t && !c->closing)
            c->st_resume_t = xapi__timer_add(c->loop, 0, ow_resume_fire, c);
    }
    if (op->task_need) {
        op->task_need = false;
        c->st_task_need--;
    }
}

/* task.get_record's answer: a final status ends the wait, pending leaves it to the stream. */
static void task_read_done(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct xapi_op *op = ctx;
    op->sub = NULL;
    if (rc == 0) {
        op->tw_seen = true;
        struct xapi_client *c = op->c;
        char *ref = xstrdup(op->task_ref);
        if (!task_apply_snapshot(op, result) && op->task_need)
            task_cache_add(c, ref, result);
        free(ref);
    } else if (e && strcmp(e->xapi_code, "HANDLE_INVALID") == 0) {
        xapi__op_fail(op, PP_ENOTFOUND, "task %s was destroyed before it finished", op->task_ref);
    }
    /* other errors: the stream, which carries the task now, tells */
}

static void task_read_send(struct xapi_op *op)
{
    struct xapi_value *p = xapi_value_new_array();
    xapi_array_append_string(p, op->task_ref);
    op->sub = xapi__call_start(op->c, "task.get_record", p, NULL, task_read_done, op);
}

/* Read op's task once and wait through its events from now on (need first, so no event of
 * the task falls between the answer and the stream).  While a batch asked without "task" is
 * held (ow_hold: another wait's read is out), the read waits for it: applied, that batch
 * forgets every cached task (tasks_forget), the pending record this read would have put there
 * too, and the next batch would take the task for destroyed while xapi still runs it.  Sent
 * after it, the read comes after the token the stream goes on from. */
static void task_read(struct xapi_op *op)
{
    struct xapi_client *c = op->c;
    if (op->finished) /* its answer would come after op was delivered and freed */
        return;
    op->ow_cls = NULL;
    xapi__timer_cancel(c->loop, &op->ow_probe);
    op->tw_seq = c->st_seq;
    task_need(op);
    if (op->sub || op->tr_defer)
        return;
    if (held_without_task(c)) {
        op->tr_defer = true;
        return;
    }
    task_read_send(op);
}

/* The held batch was applied or dropped: send the task reads that waited for it. */
static void tasks_read_deferred(struct xapi_client *c)
{
    for (struct xapi_op *op = c->task_waiters; op; op = op->wnext) {
        if (!op->tr_defer)
            continue;
        op->tr_defer = false;
        if (!op->finished && !op->sub)
            task_read_send(op);
    }
}

/* An object wait's turn (decide: a batch was applied, or the probe fired; false when the ref
 * just became known and the cache may predate the call): the operation still listed on its
 * object -> running; gone with the object showing the wanted value -> success (the result of
 * these operations is void); gone otherwise -> read the task (it failed, was cancelled, or
 * xapi has not listed it yet: the read tells) — only when fresh: the operation was seen running,
 * or the batch answered a request sent after its ref was known, or the probe fired.  A batch
 * answering an older request may have been composed before the operation began (xapi returns
 * an Async call's task ref before its thread lists the operation on the VM; over HTTP that
 * answer can arrive after the Async call's): it shows the VM as it was, not the end. */
static void ow_check(struct xapi_op *op, bool decide, bool fresh)
{
    struct xapi_client *c = op->c;
    const struct xapi_value *rec = xapi__cache_get(c->cache, op->ow_cls, op->ow_obj);
    const struct xapi_value *co = rec ? xapi_struct_get(rec, "current_operations") : NULL;
    if (op->ow_marker && co && xapi_struct_get(co, op->task_ref)) {
        op->tw_seen = true;
        return;
    }
    if (!decide)
        return;
    if (ow_succeeded(op, rec)) {
        ow_timed_success(op);
        char *ref = xstrdup(op->task_ref);
        if (op->progress && op->last_progress < 1.0)
            op->progress(op->ctx, 1.0);
        xapi__op_finish(op, 0, xapi_value_new_void(), NULL);
        if (!c->o.leave_done_tasks)
            task_destroy_ref(c, ref);
        free(ref);
        return;
    }
    /* marker-less: not done yet is all a batch can say; its probe reads the task (ow_probe_read) */
    if (!fresh || !op->ow_marker)
        return;
    if (op->ow_gone) {
        xapi__op_fail(op, PP_ENOTFOUND, "task %s was destroyed before it finished", op->task_ref);
        return;
    }
    if (op->ow_rec) {
        /* read while the batch was held: a final status ends the wait, pending follows the
         * task's events from now on (the read came after the batch's token) */
        struct xapi_value *task = op->ow_rec;
        op->ow_rec = NULL;
        op->tw_seen = true;
        bool ended = task_apply_snapshot(op, task);
        if (!ended) {
            op->ow_cls = NULL;
            xapi__timer_cancel(c->loop, &op->ow_probe);
            op->tw_seq = c->st_seq;
            task_need(op);
            task_cache_add(c, op->task_ref, task);
        }
        xapi_value_free(task);
        return;
    }
    task_read(op);
}

static void ow_probe_fire(void *arg);

/* A marker-less wait's probe read answered.  A final status ends the wait.  Pending: read again
 * after twice the last interval (at most OW_PROBE_MAX_MS); the task's events are never followed,
 * so the stream carries no "task" for these waits and no cached task can go stale.  The task gone
 * (HANDLE_INVALID): the object decides — a batch may not have brought the host's new updates yet,
 * so one more probe after the stream's delays, then "destroyed before it finished". */
static void ow_probe_read_done(void *ctx, int rc, const struct xapi_value *result,
                               const struct err *e)
{
    struct xapi_op *op = ctx;
    struct xapi_client *c = op->c;
    op->sub = NULL;
    if (rc == 0 && task_apply_snapshot(op, result))
        return;
    int64_t next = op->ow_interval * 2;
    if (rc != 0 && e && str_eq(e->xapi_code, "HANDLE_INVALID")) {
        if (op->ow_gone) {
            xapi__op_fail(op, PP_ENOTFOUND, "task %s was destroyed before it finished",
                          op->task_ref);
            return;
        }
        op->ow_gone = true;
        next = c->o.event_coalesce_ms + c->o.event_quiet_ms + OBJ_PROBE_MS;
    }
    /* other errors: the connection's own retries failed; read again at the next probe */
    op->ow_interval = next > OW_PROBE_MAX_MS ? OW_PROBE_MAX_MS : next;
    op->ow_probe = xapi__timer_add(c->loop, op->ow_interval, ow_probe_fire, op);
}

/* Read a marker-less wait's task (no task_need: see ow_probe_read_done). */
static void ow_probe_read(struct xapi_op *op)
{
    if (op->sub)
        return;
    struct xapi_value *p = xapi_value_new_array();
    xapi_array_append_string(p, op->task_ref);
    op->sub = xapi__call_start(op->c, "task.get_record", p, NULL, ow_probe_read_done, op);
}

static void ow_probe_fire(void *arg)
{
    struct xapi_op *op = arg;
    op->ow_probe = NULL;
    if (op->finished || !op->ow_cls)
        return;
    if (!op->ow_marker) {
        ow_probe_read(op);
        return;
    }
    /* A read of its task for a held batch is out, or answered while the batch still waits for
     * a sibling's read: the batch decides once applied (ow_check).  Taking the answer now put a
     * pending task in the cache that the batch, asked without "task", then forgot: the wait
     * failed as destroyed while xapi still ran it. */
    if (!op->tw_seen && !op->ow_reading && !op->ow_rec && !op->ow_gone)
        ow_check(op, true, true);
}

/* When op's probe reads its task, from the ref known: an operation its object shows running is
 * read only if the object never did (OBJ_PROBE_MS: xapi refused it at once); a marker-less one
 * (pool_update.apply) once it has run twice as long as the longest such wait seen to succeed on
 * this pool, at least OW_PROBE_MIN_MS: its failure shows on no object, and reading every one's
 * task (or carrying "task" from before its call, whose creation alone is then one more
 * event.from answer) cost the fleet bench ~1.8 calls a host (docs/performance.md, "Calls,
 * session 8").  Plus the stream's own delays. */
static int64_t ow_probe_delay(const struct xapi_client *c, const struct xapi_op *op)
{
    int64_t d = OBJ_PROBE_MS;
    if (!op->ow_marker) {
        d = 2 * c->ow_longest_ms[op->ow_kind];
        d = d < OW_PROBE_MIN_MS ? OW_PROBE_MIN_MS : d > OW_PROBE_MAX_MS ? OW_PROBE_MAX_MS : d;
    }
    return d + c->o.event_coalesce_ms + c->o.event_quiet_ms;
}

/* Wait for op's task (op->task_ref set) through the stream. */
static void task_watch(struct xapi_op *op)
{
    struct xapi_client *c = op->c;
    if (op->cancelled)
        xapi__task_send_cancel(op);
    op->tw_seq = c->st_seq; /* requests after this one were sent knowing the task */
    op->wnext = c->task_waiters;
    c->task_waiters = op;
    if (op->ow_cls) {
        op->ow_t0 = xapi__loop_now(c->loop);
        op->ow_timed = !op->ow_marker;
        op->ow_interval = ow_probe_delay(c, op);
        op->ow_probe = xapi__timer_add(c->loop, op->ow_interval, ow_probe_fire, op);
        if (c->st_ready)
            ow_check(op, false, false);
    } else if (c->st_ready && !held_without_task(c)) {
        tw_check(op, false); /* a task seen now, then dropped, would read as destroyed */
    }
    xapi__stream_next(c);
}

/* Set op up to be waited through its object when method is one of obj_tasks, the cache
 * watches the object's class and params name the object and the wanted value. */
static void ow_setup(struct xapi_op *op, const char *method, const struct xapi_value *params)
{
    struct xapi_client *c = op->c;
    for (size_t i = 0; c->cache_on && i < N_OBJ_TASKS; i++) {
        const struct obj_task *t = &obj_tasks[i];
        bool watched = false;
        for (char **k = c->cache_classes; k && *k && !watched; k++)
            watched = str_eq_nocase(*k, t->cls);
        const char *obj = xapi_value_str(xapi_array_get(params, t->obj_param));
        const char *want = xapi_value_str(xapi_array_get(params, t->want_param));
        if (!str_eq(method, t->method) || !watched || !obj || !want)
            continue;
        op->ow_cls = t->cls;
        op->ow_kind = (int)i;
        op->ow_marker = t->marker;
        op->ow_field = t->field;
        op->ow_obj = xstrdup(obj);
        op->ow_want = xstrdup(want);
        return;
    }
}

static void task_started(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct xapi_op *op = ctx;
    op->sub = NULL;
    if (rc != 0) {
        xapi__op_finish(op, rc, NULL, e);
        return;
    }
    const char *ref = xapi_value_str(result);
    if (!ref || !str_has_prefix(ref, "OpaqueRef:")) {
        xapi__op_fail(op, PP_EPARSE, "%s did not return a task reference", op->method);
        return;
    }
    op->task_ref = xstrdup(ref);
    task_watch(op);
}

static void task_deadline_fire(void *arg)
{
    struct xapi_op *op = arg;
    op->deadline = NULL;
    xapi__op_fail(op, PP_ETIMEOUT, "task %s: still running when the wait timed out",
                  op->task_ref ? op->task_ref : "(not started)");
}

static struct xapi_op *task_op_new(struct xapi_client *c, int64_t timeout_ms,
                                   xapi_progress_fn progress, xapi_done_fn done, void *ctx)
{
    struct xapi_op *op = xapi__op_new(c, OP_TASK, done, ctx);
    op->progress = progress;
    op->last_progress = -1;
    if (timeout_ms > 0)
        op->deadline = xapi__timer_add(c->loop, timeout_ms, task_deadline_fire, op);
    return op;
}

/* Run an Async call and wait for its task (see client.h). */
int xapi_task_async(struct xapi_client *c, const char *method, struct xapi_value *params,
                    int64_t timeout_ms, xapi_progress_fn progress, xapi_done_fn done, void *ctx,
                    struct xapi_op **op_out, struct err *e)
{
    if (!c || !method || str_has_prefix(method, "Async.") ||
        (params && params->type != XAPI_ARRAY)) {
        xapi_value_free(params);
        return err_set(e, PP_EINVAL, "xapi_task_async: give the method without 'Async.'");
    }
    struct xapi_op *op = task_op_new(c, timeout_ms, progress, done, ctx);
    op->method = xasprintf("Async.%s", method);
    ow_setup(op, method, params);
    if (!op->ow_cls)
        task_need(op); /* before the call: the task's events must not precede the stream's */
    struct xapi_call_opts o = {.flags = 0, .timeout_ms = 0};
    op->sub = xapi__call_start(c, op->method, params, &o, task_started, op);
    if (op_out)
        *op_out = op;
    return 0;
}

/* Wait for an existing task (see client.h). */
int xapi_task_wait(struct xapi_client *c, const char *task_ref, int64_t timeout_ms,
                   xapi_progress_fn progress, xapi_done_fn done, void *ctx, struct xapi_op **op_out,
                   struct err *e)
{
    if (!c || !task_ref || !str_has_prefix(task_ref, "OpaqueRef:"))
        return err_set(e, PP_EINVAL, "xapi_task_wait: '%s' is not a task reference",
                       task_ref ? task_ref : "(null)");
    if (c->closing)
        return err_set(e, PP_ESTATE, "client is closing");
    struct xapi_op *op = task_op_new(c, timeout_ms, progress, done, ctx);
    op->task_ref = xstrdup(task_ref);
    /* a held batch asked without "task" forgets the cached tasks when applied */
    bool known = (c->st_task_cont && !held_without_task(c)) || !c->cache_on;
    task_watch(op);
    /* The stream did not carry "task" all along: the cache may have missed its events.  When
     * the cache already held the task's end (task_watch finished op) both do nothing: a need
     * then was never released (every later event.from carried "task"), and a read's answer came
     * to op after its delivery freed it.  That answer was taken for the task of the operation
     * allocated in op's place: a pool_update.introduce ended as a success before its own call
     * was answered, whose answer then went to freed memory (the SIGSEGV of e2e-crash_resume,
     * session 10). */
    if (known)
        task_need(op);
    else
        task_read(op);
    if (op_out)
        *op_out = op;
    return 0;
}

/* Keep only fields in the cache (see client.h). */
int xapi_cache_set_fields(struct xapi_client *c, const char *cls, const char *const *fields,
                          struct err *e)
{
    if (c->cache_on)
        return err_set(e, PP_ESTATE, "set the cache's fields before starting it");
    if (!cls || !*cls || str_eq_nocase(cls, "task"))
        return err_set(e, PP_EINVAL, "xapi_cache_set_fields: class '%s' cannot be narrowed",
                       cls ? cls : "(null)");
    if (!c->cache)
        c->cache = xapi__cache_new();
    xapi__cache_set_fields(c->cache, cls, fields);
    /* the stream reads these of the staged records (event_is_progress, ow_needs_read) */
    for (size_t i = 0; i < sizeof(obj_tasks) / sizeof(obj_tasks[0]); i++)
        if (str_eq_nocase(cls, obj_tasks[i].cls)) {
            const char *own[] = {"current_operations", obj_tasks[i].field, NULL};
            xapi__cache_set_fields(c->cache, cls, own);
        }
    return 0;
}

/* See client.h. */
const char *xapi_op_task_ref(const struct xapi_op *op)
{
    return op ? op->task_ref : NULL;
}

/* ---- the object cache ---- */

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
    c->cache_on = true;
    /* A stream of tasks alone may be in flight: start over with every class, from a snapshot. */
    stream_restart(c);
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

uint64_t xapi_cache_changes(const struct xapi_client *c, const char *const *classes)
{
    uint64_t n = 0;
    if (!classes)
        return c->cache ? xapi__cache_changes(c->cache, NULL) : 0;
    for (const char *const *cls = classes; c->cache && *cls; cls++)
        n += xapi__cache_changes(c->cache, *cls);
    return n;
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

/* True while the cache lags the pool for want of a connection: the client is finding its
 * master again (a reconnect round under way, backing off between rounds included), or has a new
 * session whose snapshot has not been applied yet. */
static bool cache_lagging(const struct xapi_client *c)
{
    return c->cycling || (c->state == XAPI_CONN_READY && c->st_session_gen != c->session_gen);
}

static void wait_timed_out(struct xapi_op *op)
{
    struct err e = {0};
    err_set(&e, PP_ETIMEOUT, "condition not met within the wait's timeout");
    if (op->c->st_sub == NULL && op->c->state != XAPI_CONN_READY && op->c->last_err.code)
        err_prefix(&e, "%s; last error: ", op->c->last_err.msg);
    xapi__op_finish(op, PP_ETIMEOUT, NULL, &e);
}

static void cache_eval_waiters(struct xapi_client *c)
{
    if (!c->cache_ready)
        return;
    struct xapi_op *op = c->waiters;
    while (op) {
        struct xapi_op *next = op->wnext;
        if (!op->finished && op->pred(op->pred_ctx, c))
            xapi__op_finish(op, 0, NULL, NULL);
        else if (!op->finished && op->w_expired && !cache_lagging(c) &&
                 (int)(c->st_applied_seq - op->w_seq) >= 0)
            wait_timed_out(op);
        op = next;
    }
}

/* See client_int.h. */
void xapi__stream_conn_changed(struct xapi_client *c)
{
    bool gave_up =
        !c->cycling && (c->state == XAPI_CONN_FAILED || c->state == XAPI_CONN_EMERGENCY ||
                        c->state == XAPI_CONN_UNTRUSTED);
    if (!gave_up)
        return;
    for (struct xapi_op *op = c->waiters, *next; op; op = next) {
        next = op->wnext;
        if (!op->finished && op->w_expired)
            wait_timed_out(op);
    }
}

/* Ask the pool for what changed since the cache's token without waiting (event.from with
 * timeout 0): a request in flight, which may wait up to XAPI__EVENT_WAIT_S on a quiet pool, is
 * dropped and sent again so. */
static void stream_refresh(struct xapi_client *c)
{
    c->st_flush = true;
    if (c->st_sub && !c->st_snapshot)
        stream_sub_drop(c);
    xapi__stream_next(c);
}

/*
 * A cache wait's deadline.  The cache may not show the pool as it is now: the process itself
 * may have stalled past the deadline (a loaded machine, a daemon's VM paused) with the stream's
 * answer unread, or the client may be finding its master again (backing off between login
 * rounds while the host is back already; a new session's snapshot not in yet).  So the wait
 * times out only on a batch asked after its deadline, once the cache is current
 * (cache_lagging), or when the client gives up; the condition met by then ends it with
 * success.  The stream is asked at once (stream_refresh); at most the reconnect budget more.
 * Before, such a wait failed on what the cache showed before: unit-exec_sim
 * test_automated_over_http halted at "host h1 did not come back healthy within 1800 s" when
 * the test stalled 1.5 s at 2000x during a reboot (session 9).
 */
static void wait_deadline_fire(void *arg)
{
    struct xapi_op *op = arg;
    struct xapi_client *c = op->c;
    op->deadline = NULL;
    if (op->w_expired) {
        wait_timed_out(op);
        return;
    }
    op->w_expired = true;
    int64_t grace = c->o.reconnect_budget_ms > 0 ? c->o.reconnect_budget_ms : c->o.backoff_max_ms;
    op->deadline = xapi__timer_add(c->loop, grace, wait_deadline_fire, op);
    op->w_seq = c->st_seq + 1; /* the next request is asked after the deadline */
    stream_refresh(c);
}

int xapi_cache_wait(struct xapi_client *c, bool (*pred)(void *ctx, struct xapi_client *c),
                    void *pred_ctx, int64_t timeout_ms, xapi_done_fn done, void *ctx,
                    struct xapi_op **op_out, struct err *e)
{
    if (!c->cache_on)
        return err_set(e, PP_ESTATE, "start the cache before waiting on it");
    struct xapi_op *op = xapi__op_new(c, OP_WAIT, done, ctx);
    op->pred = pred;
    op->pred_ctx = pred_ctx;
    op->wnext = c->waiters;
    c->waiters = op;
    if (timeout_ms > 0)
        op->deadline = xapi__timer_add(c->loop, timeout_ms, wait_deadline_fire, op);
    if (op_out)
        *op_out = op;
    if (c->cache_ready && pred(pred_ctx, c))
        xapi__op_finish(op, 0, NULL, NULL);
    return 0;
}
