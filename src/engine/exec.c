/* SPDX-License-Identifier: MIT */
/*
 * exec.c - the rollout executor (exec.h): journaled steps driven per pool, pools in parallel,
 * on the engine thread.  Progress lives in the journal; this file keeps only what is in flight.
 *
 * A pool's steps run in seq order.  Host steps carry a batch number: the hosts of the batch at
 * the head of the pool's list run as parallel lanes (one step at a time per host, except
 * consecutive migrations), with at most EXEC_MAX_MIGRATIONS_POOL live migrations per pool and
 * the planner's parallel_migrations per evacuated host at once.  Before an action is sent its
 * intent is journaled; after its effect is visible in the pool's object cache it is journaled
 * done.  A step found in the intent state (after a crash) or failed (on Retry) is first
 * derived from the cache (exec_derive): done, under way (wait only) or resend.
 * docs/engine.md has the rules.
 */
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec.h"
#include "engine/exec_int.h"
#include "engine/zip.h"
#include "store/store.h"
#include "xapi/client.h"
#include "xapi/codec.h"
#include "xapi/upload.h"

#define LOGM "exec"
/* Live migrations at once: per evacuated host the planner's parallel_migrations (Xen
 * Orchestra's practice of 3, and what the planner's window assumes), which stays under what xapi
 * itself starts when it evacuates a host (10, ocaml/xapi/xapi_host.ml); per pool only a guard
 * against runaway task counts on the master.  Pool-wide caps of 10 and then 48 made the hosts
 * of a batch queue behind each other: 256-host bench, policy return, 3,472 s against 2,624 s. */
#define EXEC_MAX_MIGRATIONS_POOL     256
#define EXEC_DEFAULT_MIGRATIONS_HOST 3
#define EFFECT_WAIT_MS               (10 * 60 * 1000)
#define TASK_POLL_S                  30.0
#define UPLOAD_BLOCK                 65536

enum xp_state { XP_RUN = 0, XP_HALTED, XP_DONE, XP_CANCEL, XP_CANCELLED };

struct xrun;
struct xstep;

struct xpool {
    struct xrun *r;
    char *name;
    enum xp_state st;
    struct xstep *active;
    int n_migr;
    bool waiting_client; /* reported once */
    bool dirty;          /* pump on the next exec_tick */
    /* The pool's journal steps, cached: loaded once, each step refreshed from the store after
     * every journal write of it, reloaded after steps are appended or skipped in bulk. */
    struct store_step_list steps;
    int *batches; /* params.batch of each cached step (-1: none) */
    bool steps_ok;
    size_t hint; /* every step before it is done or skipped */
    bool cancel_started;
};

struct xrun {
    struct exec *x;
    char *id;
    enum store_rollout_state st;
    struct xpool *pools;
    size_t n_pools;
    struct xrun *next;
};

struct exec {
    struct exec_env env;
    struct xrun *runs;
};

/* An undo / cancel action list processed one by one. */
struct action {
    json_t *a;        /* {"fix":...} or {"op":"clean"|"destroy","uuid"} */
    int64_t undo_seq; /* step whose undo this is (0: none) */
};

struct xstep {
    struct xpool *p; /* NULL once orphaned (executor freed while in flight) */
    int64_t seq;     /* 0 for the cancel procedure */
    char *kind;
    char *host;
    json_t *params;
    struct xapi_op *op;
    struct xapi_upload *up;
    struct zimg *z;
    char *task;  /* upload: the task created for it */
    char *token; /* upload: event.from token */
    int64_t size;
    int last_pct;
    int retargets;  /* migrate: targets changed after HOST_NOT_ENOUGH_FREE_MEMORY */
    bool prev_task; /* upload: waiting for the task of an attempt before a restart */
    bool is_migr;
    struct action *acts;
    size_t n_acts, i_act;
    struct xstep *next;
};

static void pool_dirty(struct xpool *p);
static void pump_pool(struct xpool *p);
static void run_update_state(struct xrun *r);

/* ---------------------------------------------------------------- small helpers */

static struct xapi_client *pool_client(struct xpool *p)
{
    struct exec *x = p->r->x;
    return x->env.client_for ? x->env.client_for(x->env.ctx, p->name) : NULL;
}

static const struct xapi_value *cache_get(void *ctx, const char *cls, const char *ref)
{
    return ref ? xapi_cache_get(ctx, cls, ref) : NULL;
}

static void cache_foreach(void *ctx, const char *cls,
                          bool (*fn)(void *fctx, const char *ref, const struct xapi_value *rec),
                          void *fctx)
{
    xapi_cache_foreach(ctx, cls, fn, fctx);
}

static void view_of(struct xview *v, struct xapi_client *c)
{
    v->get = cache_get;
    v->foreach = cache_foreach;
    v->ctx = c;
}

static const char *pstr(const json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    return s ? s : "";
}

static char *dumps(const json_t *j)
{
    return j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

static void emit(struct xpool *p, const char *host, const char *step, int pct, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void emit(struct xpool *p, const char *host, const char *step, int pct, const char *fmt, ...)
{
    struct exec *x = p->r->x;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_info(LOGM, "%s %s: %s", p->r->id, p->name, msg);
    if (x->env.emit)
        x->env.emit(x->env.ctx, p->r->id, p->name, host, exec_public_step(step, NULL), pct, msg);
}

static const char *step_name(const struct xstep *s)
{
    return exec_public_step(s->kind, s->params);
}

static const char *host_label(struct xstep *s)
{
    const char *n = pstr(s->params, "host_name");
    return *n ? n : s->host;
}

static struct xapi_value *params_v(int n, ...)
{
    struct xapi_value *a = xapi_value_new_array();
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        xapi_array_append_string(a, va_arg(ap, const char *));
    va_end(ap);
    return a;
}

static void xstep_free(struct xstep *s)
{
    if (!s)
        return;
    if (s->up)
        xapi_upload_cancel(s->up);
    zimg_close(s->z);
    json_decref(s->params);
    for (size_t i = 0; i < s->n_acts; i++)
        json_decref(s->acts[i].a);
    free(s->acts);
    free(s->kind);
    free(s->host);
    free(s->task);
    free(s->token);
    free(s);
}

static void unlink_step(struct xstep *s)
{
    struct xpool *p = s->p;
    for (struct xstep **pp = &p->active; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    if (s->is_migr)
        p->n_migr--;
}

static int step_batch(const struct store_step *st);

/* Load the pool's steps into the cache when needed.  Returns 0 or -1 (logged). */
static int steps_load(struct xpool *p)
{
    if (p->steps_ok)
        return 0;
    struct err e = {0};
    store_step_list_cleanup(&p->steps);
    free(p->batches);
    p->batches = NULL;
    if (store_steps_list(p->r->x->env.store, p->r->id, p->name, &p->steps, &e) != 0) {
        log_error(LOGM, "%s: %s", p->r->id, e.msg);
        return -1;
    }
    p->batches = xcalloc(p->steps.n + 1, sizeof(*p->batches));
    for (size_t i = 0; i < p->steps.n; i++)
        p->batches[i] = step_batch(&p->steps.items[i]);
    p->hint = 0;
    p->steps_ok = true;
    return 0;
}

static void steps_drop(struct xpool *p)
{
    store_step_list_cleanup(&p->steps);
    free(p->batches);
    p->batches = NULL;
    p->steps_ok = false;
}

/* After a journal write of step seq: refresh its mutable fields in the cache (its pool, host
 * and kind strings stay, so pointers to them held by a running pump remain valid). */
static void steps_refresh(struct xpool *p, int64_t seq)
{
    if (!p->steps_ok)
        return;
    size_t lo = 0, hi = p->steps.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->steps.items[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    struct store_step tmp = {0};
    if (lo == p->steps.n || p->steps.items[lo].seq != seq ||
        store_step_get(p->r->x->env.store, p->r->id, seq, &tmp, NULL) != 0) {
        p->steps_ok = false; /* reloaded by the next pump */
        return;
    }
    struct store_step *c = &p->steps.items[lo];
    char *t;
    t = c->params_json, c->params_json = tmp.params_json, tmp.params_json = t;
    t = c->undo_json, c->undo_json = tmp.undo_json, tmp.undo_json = t;
    t = c->result_json, c->result_json = tmp.result_json, tmp.result_json = t;
    t = c->error, c->error = tmp.error, tmp.error = t;
    c->state = tmp.state;
    c->attempts = tmp.attempts;
    c->intent_at_ms = tmp.intent_at_ms;
    c->done_at_ms = tmp.done_at_ms;
    c->undone_at_ms = tmp.undone_at_ms;
    store_step_cleanup(&tmp);
}

/* A callback arrived for an orphaned step: drop it.  Returns true when orphaned. */
static bool orphan_check(struct xstep *s)
{
    if (s->p)
        return false;
    xstep_free(s);
    return true;
}

/* ---------------------------------------------------------------- step outcomes */

static void step_done(struct xstep *s, json_t *result_take)
{
    struct xpool *p = s->p;
    struct exec *x = p->r->x;
    struct err e = {0};
    char *res = dumps(result_take);
    json_decref(result_take);
    if (s->seq > 0 && store_journal_done(x->env.store, p->r->id, s->seq, res, &e) != 0)
        log_error(LOGM, "%s: journal done of step %lld: %s", p->r->id, (long long)s->seq, e.msg);
    if (s->seq > 0)
        steps_refresh(p, s->seq);
    free(res);
    if (s->seq > 0)
        emit(p, s->host ? host_label(s) : NULL, step_name(s), 100, "%s done", step_name(s));
    unlink_step(s);
    xstep_free(s);
    pool_dirty(p);
}

static void step_fail(struct xstep *s, const char *code, const char *msg)
{
    struct xpool *p = s->p;
    struct exec *x = p->r->x;
    struct err e = {0};
    json_t *ej = json_pack("{s:s, s:s, s:s}", "code", code ? code : "", "message", msg ? msg : "",
                           "explanation", exec_explain(code));
    char *txt = dumps(ej);
    json_decref(ej);
    if (s->seq > 0 && store_journal_fail(x->env.store, p->r->id, s->seq, txt, &e) != 0)
        log_error(LOGM, "%s: journal fail of step %lld: %s", p->r->id, (long long)s->seq, e.msg);
    if (s->seq > 0)
        steps_refresh(p, s->seq);
    free(txt);
    emit(p, s->host ? host_label(s) : NULL, step_name(s), -1, "%s failed: %s", step_name(s),
         msg ? msg : code);
    if (s->seq == 0) { /* the cancel procedure: report what could not be restored, finish */
        unlink_step(s);
        xstep_free(s);
        p->st = XP_CANCELLED;
        run_update_state(p->r);
        return;
    }
    if (p->st == XP_RUN)
        p->st = XP_HALTED;
    unlink_step(s);
    xstep_free(s);
    pool_dirty(p);
}

static const char *err_code_of(int rc, const struct err *e)
{
    if (e && e->xapi_code[0])
        return e->xapi_code;
    switch (rc) {
    case PP_ETIMEOUT:
        return "TIMEOUT";
    case PP_ETRANSPORT:
        return "TRANSPORT";
    case PP_ECANCELLED:
        return "CANCELLED";
    default:
        return err_code_name(rc);
    }
}

static void step_fail_err(struct xstep *s, int rc, const struct err *e)
{
    step_fail(s, err_code_of(rc, e), e && e->msg[0] ? e->msg : err_code_name(rc));
}

/* ---------------------------------------------------------------- waiting for an effect */

static bool pred_derived(void *ctx, struct xapi_client *c)
{
    struct xstep *s = ctx;
    struct xview v;
    view_of(&v, c);
    return exec_derive(&v, s->kind, s->host, s->params, false) == DERIVE_DONE;
}

static void wait_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    struct xstep *s = ctx;
    s->op = NULL;
    if (orphan_check(s))
        return;
    if (rc == 0) {
        step_done(s, NULL);
        return;
    }
    bool host_wait = str_eq(s->kind, SK_REBOOT) || str_eq(s->kind, SK_RESTART_AGENT);
    if (rc == PP_ETIMEOUT && host_wait) {
        char m[256];
        snprintf(m, sizeof(m), "host %s did not come back healthy within %lld s", host_label(s),
                 (long long)(s->p->r->x->env.host_return_timeout_ms / 1000));
        step_fail(s, "HOST_RETURN_TIMEOUT", m);
        return;
    }
    step_fail_err(s, rc, e);
}

/* Wait until the step's effect is visible in the cache, then journal it done. */
static void wait_effect(struct xstep *s)
{
    struct xapi_client *c = pool_client(s->p);
    struct err e = {0};
    int64_t t = EFFECT_WAIT_MS;
    if (str_eq(s->kind, SK_REBOOT) || str_eq(s->kind, SK_RESTART_AGENT))
        t = s->p->r->x->env.host_return_timeout_ms > 0 ? s->p->r->x->env.host_return_timeout_ms
                                                       : 20 * 60 * 1000;
    if (!c || xapi_cache_wait(c, pred_derived, s, t, wait_done, s, &s->op, &e) != 0)
        step_fail(s, "TRANSPORT", c ? e.msg : "the pool is not connected");
}

/* ---------------------------------------------------------------- migration targets */

struct mem_ctx {
    const char *host;
    int64_t used;
};

static bool mem_fn(void *c, const char *ref, const struct xapi_value *rec)
{
    (void)ref;
    struct mem_ctx *m = c;
    const char *ps = xapi_struct_str(rec, "power_state", "");
    if (str_eq(xapi_struct_str(rec, "resident_on", ""), m->host) &&
        (str_eq(ps, "Running") || str_eq(ps, "Paused")))
        m->used += xapi_struct_int(rec, "memory_dynamic_max", 0) +
                   xapi_struct_int(rec, "memory_overhead", 0);
    return true;
}

/* Free memory of a host as xapi counts it (host.compute_free_memory in essence): total minus
 * the host's overhead minus every resident running VM, control domain included, with its
 * overhead; minus what migrations of this pool now in flight will bring. */
static int64_t host_free(struct xpool *p, const struct xview *v, const char *host,
                         const struct xstep *except)
{
    const struct xapi_value *h = v->get(v->ctx, "host", host);
    const struct xapi_value *m =
        h ? v->get(v->ctx, "host_metrics", xapi_struct_str(h, "metrics", "")) : NULL;
    if (!m)
        return 0;
    struct mem_ctx mc = {host, xapi_struct_int(h, "memory_overhead", 0)};
    v->foreach (v->ctx, "vm", mem_fn, &mc);
    for (const struct xstep *o = p->active; o; o = o->next)
        if (o != except && o->is_migr && str_eq(pstr(o->params, "to"), host))
            mc.used += json_integer_value(json_object_get(o->params, "memory"));
    return xapi_struct_int(m, "memory_total", 0) - mc.used;
}

struct pick_ctx {
    struct xpool *p;
    const struct xview *v;
    const struct store_step_list *l;
    const char *from, *avoid;
    int64_t need;
    const char *best;
    int64_t best_free;
    const struct xstep *self;
};

static bool pick_fn(void *c, const char *ref, const struct xapi_value *rec)
{
    struct pick_ctx *k = c;
    if (str_eq(ref, k->from) || str_eq(ref, k->avoid) || !xapi_struct_bool(rec, "enabled", false) ||
        !xv_host_live(k->v, ref))
        return true;
    /* only hosts that are finished with this rollout (or not part of it): a VM moved onto a
     * host still to be updated would not be in that host's evacuation */
    for (size_t i = 0; i < k->l->n; i++) {
        const struct store_step *st = &k->l->items[i];
        if (str_eq(st->host, ref) && !str_eq(st->kind, SK_PRECHECK) &&
            st->state != STORE_STEP_DONE && st->state != STORE_STEP_SKIPPED)
            return true;
    }
    int64_t f = host_free(k->p, k->v, ref, k->self);
    if (f >= k->need && f > k->best_free) {
        k->best = ref;
        k->best_free = f;
    }
    return true;
}

static void migrate_send(struct xstep *s);

/* The planned target has no room after all (memory accounting differs, VMs grew): move the VM
 * to the finished host with the most free memory instead.  Returns true when resent. */
static bool retarget(struct xstep *s)
{
    struct xapi_client *c = pool_client(s->p);
    if (!c || s->retargets >= 3)
        return false;
    struct xview v;
    view_of(&v, c);
    const struct xapi_value *vm = v.get(v.ctx, "vm", pstr(s->params, "vm"));
    if (!vm)
        return false;
    struct store_step_list l = {0};
    if (store_steps_list(s->p->r->x->env.store, s->p->r->id, s->p->name, &l, NULL) != 0)
        return false;
    struct pick_ctx k = {.p = s->p,
                         .v = &v,
                         .l = &l,
                         .from = pstr(s->params, "from"),
                         .avoid = pstr(s->params, "to"),
                         .self = s,
                         .need = xapi_struct_int(vm, "memory_dynamic_max", 0) +
                                 xapi_struct_int(vm, "memory_overhead", 0)};
    xapi_cache_foreach(c, "host", pick_fn, &k);
    char *best = k.best ? xstrdup(k.best) : NULL;
    store_step_list_cleanup(&l);
    if (!best)
        return false;
    s->retargets++;
    const struct xapi_value *hb = v.get(v.ctx, "host", best);
    emit(s->p, host_label(s), step_name(s), -1,
         "%s does not fit its planned target; moving it "
         "to %s instead",
         pstr(s->params, "vm_name"), hb ? xapi_struct_str(hb, "name_label", "?") : best);
    json_object_set_new(s->params, "to", json_string(best));
    json_object_set_new(s->params, "retargeted", json_true());
    free(best);
    struct err e = {0};
    char *pj = dumps(s->params);
    int rc = store_journal_intent(s->p->r->x->env.store, s->p->r->id, s->seq, pj, NULL, &e);
    free(pj);
    steps_refresh(s->p, s->seq);
    if (rc != 0) {
        step_fail(s, "DB", e.msg);
        return true;
    }
    migrate_send(s);
    return true;
}

static void call_then_wait(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    struct xstep *s = ctx;
    s->op = NULL;
    if (orphan_check(s))
        return;
    if (rc != 0) {
        const char *code = e ? e->xapi_code : "";
        /* Effects already there: the step's goal is reached. */
        if (str_eq(code, "UPDATE_ALREADY_APPLIED") || str_eq(code, "UPDATE_ALREADY_EXISTS")) {
            wait_effect(s);
            return;
        }
        if (s->is_migr &&
            (str_eq(code, "HOST_NOT_ENOUGH_FREE_MEMORY") || str_eq(code, "HOST_DISABLED") ||
             str_eq(code, "HOST_OFFLINE")) &&
            retarget(s))
            return;
        step_fail_err(s, rc, e);
        return;
    }
    wait_effect(s);
}

static void task_progress(void *ctx, double pr)
{
    struct xstep *s = ctx;
    if (!s->p)
        return;
    int pct = (int)(pr * 100.0);
    if (pct >= s->last_pct + 25 && pct < 100) {
        s->last_pct = pct;
        emit(s->p, s->host ? host_label(s) : NULL, step_name(s), pct, "%s %d%%", step_name(s), pct);
    }
}

static int send_call(struct xstep *s, const char *method, struct xapi_value *params, bool task,
                     xapi_done_fn done)
{
    struct xapi_client *c = pool_client(s->p);
    struct err e = {0};
    if (!c) {
        xapi_value_free(params);
        step_fail(s, "TRANSPORT", "the pool is not connected");
        return -1;
    }
    int rc = task ? xapi_task_async(c, method, params, 0, task_progress, done, s, &s->op, &e)
                  : xapi_call_async(c, method, params, NULL, done, s, &s->op, &e);
    if (rc != 0) {
        step_fail_err(s, rc, &e);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- fixes (resolve, undo) */

/* The name_label of a pool / host / VM ref for messages (the ref when unknown; borrowed). */
static const char *obj_name(const struct xview *v, const char *ref)
{
    static const char *const classes[] = {"host", "vm", "pool", "sr"};
    for (size_t i = 0; i < 4; i++) {
        const struct xapi_value *r = v->get(v->ctx, classes[i], ref);
        if (r) {
            const char *n = xapi_struct_str(r, "name_label", "");
            return *n ? n : ref;
        }
    }
    return ref;
}

/* Send the XAPI call of a fix / undo record; done later.  Returns 0, or 1 when nothing is to
 * be sent (no-op fix), or -1 after failing the step. */
static int send_fix(struct xstep *s, const json_t *fix, xapi_done_fn done)
{
    struct xapi_client *c = pool_client(s->p);
    if (!c) {
        step_fail(s, "TRANSPORT", "the pool is not connected");
        return -1;
    }
    struct xview v;
    view_of(&v, c);
    const char *f = pstr(fix, "fix"), *obj = pstr(fix, "obj"), *arg = pstr(fix, "arg");
    if (str_eq(f, "disable_ha"))
        return send_call(s, "pool.disable_ha", NULL, true, done);
    if (str_eq(f, "enable_ha")) {
        struct xapi_value *pa = xapi_value_new_array();
        struct xapi_value *srs = xapi_value_new_array();
        json_t *js = json_object_get(fix, "heartbeat_srs");
        for (size_t i = 0; i < json_array_size(js); i++)
            xapi_array_append_string(srs, json_string_value(json_array_get(js, i)));
        xapi_array_append_take(pa, srs);
        json_t *cfg = json_object_get(fix, "configuration");
        struct xapi_value *cv = cfg ? xapi_value_from_json(cfg) : NULL;
        xapi_array_append_take(pa, cv ? cv : xapi_value_new_struct());
        return send_call(s, "pool.enable_ha", pa, true, done);
    }
    if (str_eq(f, "enable_host"))
        return send_call(s, "host.enable", params_v(1, obj), false, done);
    if (str_eq(f, "disable_host"))
        return send_call(s, "host.disable", params_v(1, obj), false, done);
    if (str_eq(f, "plug_pbd")) {
        struct pbd_find {
            const char *host, *sr, *ref;
        } pf = {obj, arg, NULL};
        const struct xapi_value *hrec = v.get(v.ctx, "host", obj);
        (void)hrec;
        struct xview *vp = &v;
        (void)vp;
        /* find the PBD of (host, SR) */
        const struct xapi_value *srr = v.get(v.ctx, "sr", arg);
        const struct xapi_value *pbds = srr ? xapi_struct_get(srr, "PBDs") : NULL;
        for (size_t i = 0; i < xapi_array_len(pbds); i++) {
            const char *ref = xapi_value_str(xapi_array_get(pbds, i));
            const struct xapi_value *pb = v.get(v.ctx, "pbd", ref);
            if (pb && str_eq(xapi_struct_str(pb, "host", ""), pf.host))
                pf.ref = ref;
        }
        if (!pf.ref)
            return 1;
        return send_call(s, "PBD.plug", params_v(1, pf.ref), true, done);
    }
    if (str_eq(f, "eject_cd") || str_eq(f, "insert_cd")) {
        const char *vbd = pstr(fix, "vbd");
        if (!*vbd) {
            const struct xapi_value *r = v.get(v.ctx, "vm", obj);
            const struct xapi_value *vbds = r ? xapi_struct_get(r, "VBDs") : NULL;
            for (size_t i = 0; i < xapi_array_len(vbds); i++) {
                const char *ref = xapi_value_str(xapi_array_get(vbds, i));
                const struct xapi_value *b = v.get(v.ctx, "vbd", ref);
                if (b && str_eq(xapi_struct_str(b, "type", ""), "CD"))
                    vbd = ref;
            }
        }
        if (!*vbd)
            return 1;
        if (str_eq(f, "eject_cd"))
            return send_call(s, "VBD.eject", params_v(1, vbd), true, done);
        return send_call(s, "VBD.insert", params_v(2, vbd, pstr(fix, "vdi")), true, done);
    }
    if (str_eq(f, "suspend_vm"))
        return send_call(s, "VM.suspend", params_v(1, obj), true, done);
    if (str_eq(f, "shutdown_vm"))
        return send_call(s, "VM.clean_shutdown", params_v(1, obj), true, done);
    if (str_eq(f, "resume_vm") || str_eq(f, "start_vm")) {
        bool resume = str_eq(f, "resume_vm");
        struct xapi_value *pa = params_v(1, obj);
        if (*arg)
            xapi_array_append_string(pa, arg);
        xapi_array_append_take(pa, xapi_value_new_bool(false));
        xapi_array_append_take(pa, xapi_value_new_bool(false));
        const char *m =
            resume ? (*arg ? "VM.resume_on" : "VM.resume") : (*arg ? "VM.start_on" : "VM.start");
        return send_call(s, m, pa, true, done);
    }
    return 1;
}

/* ---------------------------------------------------------------- action lists (undo, cancel) */

static void acts_next(struct xstep *s);

static void act_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    struct xstep *s = ctx;
    s->op = NULL;
    if (orphan_check(s))
        return;
    struct action *a = &s->acts[s->i_act];
    const char *what = pstr(a->a, "fix");
    if (!*what)
        what = pstr(a->a, "op");
    if (rc != 0) {
        const char *code = e ? e->xapi_code : "";
        /* Already restored / already gone / still applied somewhere: nothing left to do. */
        bool benign = str_eq(code, "HANDLE_INVALID") || str_eq(code, "UPDATE_IS_APPLIED") ||
                      str_eq(code, "VM_BAD_POWER_STATE") || str_eq(code, "VBD_NOT_EMPTY") ||
                      str_eq(code, "VBD_IS_EMPTY");
        if (!benign && s->seq == 0) {
            /* Cancelling: one thing that cannot be put back must not stop the others (HA,
             * hosts, CDs, VMs).  The item stays in the undo list, unmarked, and is reported. */
            emit(s->p, NULL, step_name(s), -1, "could not restore %s: %s; restoring the rest", what,
                 e ? e->msg : "");
            s->i_act++;
            acts_next(s);
            return;
        }
        if (!benign) {
            step_fail_err(s, rc, e);
            return;
        }
        emit(s->p, NULL, step_name(s), -1, "%s: %s (nothing to restore)", what, e ? e->msg : "");
    }
    struct exec *x = s->p->r->x;
    struct err se = {0};
    if (a->undo_seq > 0 && store_undo_mark_done(x->env.store, s->p->r->id, a->undo_seq, &se))
        log_error(LOGM, "%s: undo mark: %s", s->p->r->id, se.msg);
    s->i_act++;
    acts_next(s);
}

static bool pred_host_live(void *ctx, struct xapi_client *c)
{
    struct xview v;
    view_of(&v, c);
    return xv_host_live(&v, ctx);
}

/* The host an undo item waited for is back (or the wait failed): try the item again. */
static void act_waited(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    struct xstep *s = ctx;
    s->op = NULL;
    if (orphan_check(s))
        return;
    if (rc != 0) {
        step_fail_err(s, rc, e);
        return;
    }
    acts_next(s);
}

static void acts_finish(struct xstep *s)
{
    struct xpool *p = s->p;
    if (s->seq > 0) {
        step_done(s, NULL);
        return;
    }
    /* the cancel procedure */
    unlink_step(s);
    xstep_free(s);
    p->st = XP_CANCELLED;
    emit(p, NULL, "cancel", 100, "cancelled: fixes reverted, update files removed");
    run_update_state(p->r);
}

static void acts_next(struct xstep *s)
{
    struct xapi_client *c = pool_client(s->p);
    while (s->i_act < s->n_acts) {
        struct action *a = &s->acts[s->i_act];
        const char *op = pstr(a->a, "op");
        struct xview v;
        if (c)
            view_of(&v, c);
        int r;
        if (*op) {
            const char *uref = NULL;
            const struct xapi_value *u =
                c ? xv_update_by_uuid(&v, pstr(a->a, "uuid"), &uref) : NULL;
            if (!u) {
                r = 1;
            } else if (str_eq(op, "clean")) {
                emit(s->p, NULL, step_name(s), -1, "removing the update file of %s",
                     pstr(a->a, "uuid"));
                r = send_call(s, "pool_update.pool_clean", params_v(1, uref), false, act_done);
            } else {
                r = send_call(s, "pool_update.destroy", params_v(1, uref), false, act_done);
            }
        } else if (c && exec_derive(&v, SK_RESOLVE, NULL, a->a, false) == DERIVE_DONE) {
            r = 1; /* already as it should be */
        } else if (c &&
                   (str_eq(pstr(a->a, "fix"), "enable_host") ||
                    str_eq(pstr(a->a, "fix"), "disable_host")) &&
                   !xv_host_live(&v, pstr(a->a, "obj"))) {
            /* the host is rebooting (a cancelled rollout): wait for it before enabling it */
            struct err we = {0};
            emit(s->p, NULL, step_name(s), -1, "waiting for %s to come back before enabling it",
                 obj_name(&v, pstr(a->a, "obj")));
            int64_t t = s->p->r->x->env.host_return_timeout_ms;
            if (xapi_cache_wait(c, pred_host_live, (void *)pstr(a->a, "obj"),
                                t > 0 ? t : 20 * 60 * 1000, act_waited, s, &s->op, &we) != 0) {
                step_fail_err(s, we.code, &we);
            }
            return;
        } else {
            const char *f = pstr(a->a, "fix");
            emit(s->p, NULL, step_name(s), -1, "restoring: %s %s", f,
                 c ? obj_name(&v, pstr(a->a, "obj")) : pstr(a->a, "obj"));
            r = send_fix(s, a->a, act_done);
        }
        if (r < 0)
            return; /* step failed */
        if (r == 0)
            return; /* in flight */
        struct exec *x = s->p->r->x;
        struct err se = {0};
        if (a->undo_seq > 0 &&
            store_undo_mark_done(x->env.store, s->p->r->id, a->undo_seq, &se) != 0)
            log_error(LOGM, "%s: undo mark: %s", s->p->r->id, se.msg);
        s->i_act++;
    }
    acts_finish(s);
}

static void acts_add(struct xstep *s, json_t *a_take, int64_t undo_seq)
{
    s->acts = xreallocarray(s->acts, s->n_acts + 1, sizeof(*s->acts));
    s->acts[s->n_acts].a = a_take;
    s->acts[s->n_acts].undo_seq = undo_seq;
    s->n_acts++;
}

/* Load the pool's undo list into s's actions.  Returns 0 or -1 (step failed). */
static int acts_load_undo(struct xstep *s)
{
    struct exec *x = s->p->r->x;
    struct store_step_list ul = {0};
    struct err e = {0};
    if (store_undo_list(x->env.store, s->p->r->id, s->p->name, &ul, &e) != 0) {
        step_fail(s, "DB", e.msg);
        return -1;
    }
    for (size_t i = 0; i < ul.n; i++) {
        json_t *u = json_loads(ul.items[i].undo_json, 0, NULL);
        if (json_is_object(u))
            acts_add(s, u, ul.items[i].seq);
        else
            json_decref(u);
    }
    store_step_list_cleanup(&ul);
    return 0;
}

/* ---------------------------------------------------------------- upload */

static ssize_t up_read(void *ctx, void *buf, size_t n, struct err *e)
{
    struct xstep *s = ctx;
    return zimg_read(s->z, buf, n, e);
}

static void up_progress(void *ctx, int64_t sent, int64_t total)
{
    struct xstep *s = ctx;
    if (!s->p || total <= 0)
        return;
    int pct = (int)(sent * 100 / total);
    if (pct >= s->last_pct + 10 || (pct == 100 && s->last_pct < 100)) {
        s->last_pct = pct;
        emit(s->p, NULL, SK_UPLOAD, pct, "uploading %s: %d%%", zimg_name(s->z), pct);
    }
}

static void up_task_poll(struct xstep *s);
static int intent(struct xstep *s, const json_t *undo, bool new_params);

/* A task's error_info ([CODE, params...]) as an err: code kept, message "CODE [p, ...]". */
static int err_from_info(const struct xapi_value *ei, const char *status, struct err *e)
{
    size_t n = xapi_array_len(ei);
    if (n == 0)
        return err_set(e, PP_EXAPI, "upload task %s", status);
    struct buf b;
    buf_init(&b);
    const char *code = xapi_value_str(xapi_array_get(ei, 0));
    buf_puts(&b, code ? code : "");
    for (size_t i = 1; i < n; i++) {
        const char *p = xapi_value_str(xapi_array_get(ei, i));
        buf_printf(&b, "%s%s", i == 1 ? " [" : ", ", p ? p : "");
    }
    if (n > 1)
        buf_putc(&b, ']');
    int rc = err_set(e, PP_EXAPI, "%s", buf_str(&b));
    str_lcpy(e->xapi_code, code ? code : "", sizeof(e->xapi_code));
    buf_cleanup(&b);
    return rc;
}

static void start_upload_fresh(struct xstep *s);

static void up_task_final(struct xstep *s, const struct xapi_value *rec)
{
    const char *status = xapi_struct_str(rec, "status", "");
    struct xapi_client *c = pool_client(s->p);
    if (!str_eq(status, "success") && s->prev_task) {
        /* the upload of the attempt before the restart did not complete: upload again */
        s->prev_task = false;
        free(s->task);
        s->task = NULL;
        free(s->token);
        s->token = NULL;
        json_object_del(s->params, "task");
        start_upload_fresh(s);
        return;
    }
    if (!str_eq(status, "success")) {
        const struct xapi_value *ei = xapi_struct_get(rec, "error_info");
        struct err e = {0};
        int rc = err_from_info(ei, status, &e);
        step_fail_err(s, rc, &e);
    } else {
        const char *res = xapi_struct_str(rec, "result", "");
        struct xapi_value *v = NULL;
        struct xapi_limits lim;
        struct err e = {0};
        xapi_limits_response(&lim);
        const char *vdi = "";
        if (*res && xapi_xmlrpc_decode_value(res, strlen(res), &lim, &v, &e) == 0)
            vdi = xapi_value_str(v) ? xapi_value_str(v) : "";
        if (!*vdi) {
            xapi_value_free(v);
            step_fail(s, "INVALID_UPDATE", "the upload task returned no VDI");
            return;
        }
        json_t *r = json_pack("{s:s, s:I}", "vdi", vdi, "bytes", (json_int_t)s->size);
        xapi_value_free(v);
        if (c)
            xapi_call_async(c, "task.destroy", params_v(1, s->task), NULL, NULL, NULL, NULL, NULL);
        step_done(s, r);
    }
}

static void up_event_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct xstep *s = ctx;
    s->op = NULL;
    if (orphan_check(s))
        return;
    if (rc != 0) {
        step_fail_err(s, rc, e);
        return;
    }
    free(s->token);
    s->token = xstrdup(xapi_struct_str(res, "token", ""));
    const struct xapi_value *evs = xapi_struct_get(res, "events");
    for (size_t i = 0; i < xapi_array_len(evs); i++) {
        const struct xapi_value *ev = xapi_array_get(evs, i);
        const struct xapi_value *snap = xapi_struct_get(ev, "snapshot");
        if (snap && !str_eq(xapi_struct_str(snap, "status", "pending"), "pending")) {
            up_task_final(s, snap);
            return;
        }
    }
    up_task_poll(s);
}

static void up_task_poll(struct xstep *s)
{
    struct xapi_client *c = pool_client(s->p);
    if (!c) {
        step_fail(s, "TRANSPORT", "the pool is not connected");
        return;
    }
    struct xapi_value *pa = xapi_value_new_array();
    struct xapi_value *cl = xapi_value_new_array();
    char *cls = xasprintf("task/%s", s->task);
    xapi_array_append_string(cl, cls);
    free(cls);
    xapi_array_append_take(pa, cl);
    xapi_array_append_string(pa, s->token ? s->token : "");
    xapi_array_append_take(pa, xapi_value_new_double(TASK_POLL_S));
    struct err e = {0};
    if (xapi_call_async(c, "event.from", pa, NULL, up_event_done, s, &s->op, &e) != 0)
        step_fail_err(s, e.code, &e);
}

static void up_put_done(void *ctx, int rc, const struct err *e)
{
    struct xstep *s = ctx;
    s->up = NULL;
    if (orphan_check(s))
        return;
    zimg_close(s->z);
    s->z = NULL;
    if (rc != 0) {
        step_fail_err(s, rc, e);
        return;
    }
    up_task_poll(s);
}

static void up_task_created(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct xstep *s = ctx;
    s->op = NULL;
    if (orphan_check(s))
        return;
    if (rc != 0) {
        step_fail_err(s, rc, e);
        return;
    }
    s->task = xstrdup(xapi_value_str(res) ? xapi_value_str(res) : "");
    /* journal the task: after a restart its result (the VDI) spares a second upload */
    json_object_set_new(s->params, "task", json_string(s->task));
    if (intent(s, NULL, true) != 0)
        return;
    char *q = xasprintf("sr_id=%s&task_id=%s", pstr(s->params, "sr"), s->task);
    struct err ue = {0};
    struct xapi_client *c = pool_client(s->p);
    int r = c ? xapi_upload_start(c, "/import_raw_vdi", q, s->size, up_read, up_progress,
                                  up_put_done, s, &s->up, &ue)
              : err_set(&ue, PP_ETRANSPORT, "the pool is not connected");
    free(q);
    if (r != 0)
        step_fail_err(s, r, &ue);
}

static void up_prev_task(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)e;
    struct xstep *s = ctx;
    s->op = NULL;
    if (orphan_check(s))
        return;
    s->prev_task = true;
    s->task = xstrdup(pstr(s->params, "task"));
    if (rc != 0) { /* the task is gone (xapi restarted, or destroyed): upload again */
        struct xapi_value *gone = xapi_value_new_struct();
        xapi_struct_set_string(gone, "status", "failure");
        up_task_final(s, gone);
        xapi_value_free(gone);
        return;
    }
    if (str_eq(xapi_struct_str(res, "status", ""), "pending")) {
        emit(s->p, NULL, SK_UPLOAD, -1, "resumed: waiting for the upload task of the last run");
        up_task_poll(s);
        return;
    }
    if (str_eq(xapi_struct_str(res, "status", ""), "success"))
        emit(s->p, NULL, SK_UPLOAD, -1, "resumed: the last run's upload had completed");
    up_task_final(s, res);
}

/* Upload step: reuse the task of an attempt before a restart when it completed; else upload. */
static void start_upload(struct xstep *s)
{
    const char *task = pstr(s->params, "task");
    if (*task) {
        send_call(s, "task.get_record", params_v(1, task), false, up_prev_task);
        return;
    }
    start_upload_fresh(s);
}

static void start_upload_fresh(struct xstep *s)
{
    struct err e = {0};
    if (zimg_open(pstr(s->params, "path"), NULL, &s->z, &e) != 0) {
        step_fail(s, "INVALID_UPDATE_FILE", e.msg);
        return;
    }
    s->size = zimg_size(s->z);
    emit(s->p, NULL, SK_UPLOAD, 0, "uploading %s (%lld bytes)", zimg_name(s->z),
         (long long)s->size);
    char *label = xasprintf("poolpatch upload %s", pstr(s->params, "uuid"));
    send_call(s, "task.create", params_v(2, label, "update image upload"), false, up_task_created);
    free(label);
}

/* ---------------------------------------------------------------- introduce, precheck */

static char *upload_vdi(struct xpool *p, const char *uuid)
{
    struct store_step_list l = {0};
    struct err e = {0};
    char *vdi = NULL;
    if (store_steps_list(p->r->x->env.store, p->r->id, p->name, &l, &e) != 0)
        return NULL;
    for (size_t i = 0; i < l.n; i++) {
        if (!str_eq(l.items[i].kind, SK_UPLOAD) || l.items[i].state != STORE_STEP_DONE)
            continue;
        json_t *pj = json_loads(l.items[i].params_json, 0, NULL);
        json_t *rj = json_loads(l.items[i].result_json ? l.items[i].result_json : "{}", 0, NULL);
        if (str_eq(pstr(pj, "uuid"), uuid) && *pstr(rj, "vdi"))
            vdi = xstrdup(pstr(rj, "vdi"));
        json_decref(pj);
        json_decref(rj);
    }
    store_step_list_cleanup(&l);
    return vdi;
}

static void precheck_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct xstep *s = ctx;
    s->op = NULL;
    if (orphan_check(s))
        return;
    if (rc != 0 && !(e && str_eq(e->xapi_code, "UPDATE_ALREADY_APPLIED"))) {
        step_fail_err(s, rc, e);
        return;
    }
    const char *lp = rc == 0 && xapi_value_str(res) ? xapi_value_str(res) : "ok";
    step_done(s, json_pack("{s:s}", "livepatch", lp));
}

/* ---------------------------------------------------------------- replan */

static enum plan_livepatch lp_parse(const char *s)
{
    if (str_eq(s, "ok_livepatch_complete"))
        return PLAN_LP_COMPLETE;
    if (str_eq(s, "ok_livepatch_incomplete"))
        return PLAN_LP_INCOMPLETE;
    if (str_eq(s, "ok"))
        return PLAN_LP_OK;
    return PLAN_LP_UNKNOWN;
}

static void do_replan(struct xstep *s)
{
    struct xpool *p = s->p;
    struct exec *x = p->r->x;
    struct err e = {0};
    struct store_step_list l = {0};
    struct plan_precheck_result *pr = NULL;
    json_t **keep = NULL;
    size_t npr = 0, nup = 0;
    const char **uploads = NULL;
    struct inv_pool *inv = NULL;
    struct plan *pl = NULL;
    const char **sel = NULL, **hosts = NULL;
    if (store_steps_list(x->env.store, p->r->id, p->name, &l, &e) != 0) {
        step_fail(s, "DB", e.msg);
        return;
    }
    pr = xcalloc(l.n + 1, sizeof(*pr));
    keep = xcalloc(2 * l.n + 1, sizeof(*keep));
    uploads = xcalloc(l.n + 1, sizeof(*uploads));
    size_t nkeep = 0;
    for (size_t i = 0; i < l.n; i++) {
        struct store_step *st = &l.items[i];
        json_t *pj = json_loads(st->params_json, 0, NULL);
        keep[nkeep++] = pj;
        if (str_eq(st->kind, SK_UPLOAD))
            uploads[nup++] = pstr(pj, "uuid");
        if (str_eq(st->kind, SK_PRECHECK) && st->state == STORE_STEP_DONE) {
            json_t *rj = json_loads(st->result_json ? st->result_json : "{}", 0, NULL);
            keep[nkeep++] = rj;
            pr[npr].host_ref = st->host;
            pr[npr].update_uuid = pstr(pj, "uuid");
            pr[npr].livepatch = lp_parse(pstr(rj, "livepatch"));
            npr++;
        }
    }
    struct plan_opts o;
    plan_opts_init(&o);
    exec_opts_from_json(json_object_get(s->params, "opts"), &o, &sel, &hosts);
    o.timing = x->env.timing;
    o.prechecks = pr;
    o.n_prechecks = npr;
    const struct catalog *cat = x->env.catalog_for ? x->env.catalog_for(x->env.ctx, p->name)
                                : x->env.catalog   ? x->env.catalog(x->env.ctx)
                                                   : NULL;
    inv = x->env.inventory ? x->env.inventory(x->env.ctx, p->name, &e) : NULL;
    if (!inv || !cat) {
        step_fail(s, "TRANSPORT", inv ? "no update catalog" : e.msg);
        goto out;
    }
    if (plan_build(inv, cat, &o, &pl, &e) != 0) {
        step_fail(s, "PLAN", e.msg);
        goto out;
    }
    for (size_t i = 0; i < pl->n_checks; i++) {
        const struct plan_check *ck = &pl->checks[i];
        if (ck->severity != PLAN_SEV_BLOCKING)
            continue;
        if (!ck->fixable) {
            step_fail(s, ck->id, ck->message);
            goto out;
        }
        emit(p, NULL, SK_REPLAN, -1, "warning: %s", ck->message);
    }
    for (size_t h = 0; h < pl->n_hosts; h++) {
        const struct plan_host *ph = &pl->hosts[h];
        for (size_t u = 0; ph->order >= 0 && !pl->cdn && u < ph->n_updates; u++) {
            bool found = false;
            for (size_t k = 0; k < nup; k++)
                found = found || str_eq_nocase(uploads[k], ph->updates[u]);
            if (!found) {
                char m[300];
                snprintf(m, sizeof(m),
                         "host %s now needs update %s, which this rollout did "
                         "not upload; cancel and start a new rollout",
                         ph->name, ph->updates[u]);
                step_fail(s, "PLAN_CHANGED", m);
                goto out;
            }
        }
    }
    struct spec_list sl = {0};
    exec_steps_hosts(p->name, pl, uploads, nup, &sl);
    p->steps_ok = false; /* reloaded with the new steps by the next pump */
    if (store_steps_append(x->env.store, p->r->id, sl.items, sl.n, NULL, &e) != 0) {
        spec_list_cleanup(&sl);
        step_fail(s, "DB", e.msg);
        goto out;
    }
    spec_list_cleanup(&sl);
    emit(p, NULL, SK_REPLAN, 100,
         "plan after prechecks: %zu hosts, %zu migrations, %zu reboots, %zu live-patched",
         pl->totals.hosts_updated, pl->totals.migrations, pl->totals.reboots,
         pl->totals.livepatched_hosts);
    step_done(s, json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:f}", "hosts",
                           (json_int_t)pl->totals.hosts_updated, "migrations",
                           (json_int_t)pl->totals.migrations, "reboots",
                           (json_int_t)pl->totals.reboots, "livepatched",
                           (json_int_t)pl->totals.livepatched_hosts, "bound_migrations",
                           (json_int_t)pl->totals.bound_migrations, "bound_window_s",
                           pl->totals.bound_window_s, "batches", (json_int_t)pl->totals.batches,
                           "window_s", pl->totals.window_s));
out:
    plan_free(pl);
    inv_pool_free(inv);
    for (size_t i = 0; i < nkeep; i++)
        json_decref(keep[i]);
    free(keep);
    free(pr);
    free(uploads);
    free(sel);
    free(hosts);
    store_step_list_cleanup(&l);
}

/* ---------------------------------------------------------------- starting a step */

struct guests_ctx {
    const char *host;
    struct buf b;
};

static bool guests_fn(void *c, const char *ref, const struct xapi_value *rec)
{
    (void)ref;
    struct guests_ctx *g = c;
    if (str_eq(xapi_struct_str(rec, "resident_on", ""), g->host) &&
        !xapi_struct_bool(rec, "is_control_domain", false) &&
        str_eq(xapi_struct_str(rec, "power_state", ""), "Running"))
        buf_printf(&g->b, "%s%s", g->b.len ? ", " : "", xapi_struct_str(rec, "name_label", ref));
    return g->b.len < 300;
}

static char *resident_guests(const struct xview *v, const char *host)
{
    struct guests_ctx g = {.host = host};
    buf_init(&g.b);
    v->foreach (v->ctx, "vm", guests_fn, &g);
    buf_puts(&g.b, "");
    return buf_take(&g.b);
}

/* Journal the intent (params may be replaced, undo recorded).  Returns 0 or -1 (failed). */
static int intent(struct xstep *s, const json_t *undo, bool new_params)
{
    struct exec *x = s->p->r->x;
    struct err e = {0};
    char *pj = new_params ? dumps(s->params) : NULL;
    char *uj = dumps(undo);
    int rc = store_journal_intent(x->env.store, s->p->r->id, s->seq, pj, uj, &e);
    free(pj);
    free(uj);
    steps_refresh(s->p, s->seq);
    if (rc != 0) {
        log_error(LOGM, "%s: journal intent of step %lld: %s", s->p->r->id, (long long)s->seq,
                  e.msg);
        step_fail(s, "DB", e.msg);
        return -1;
    }
    return 0;
}

static void migrate_send(struct xstep *s)
{
    struct xapi_value *pa = params_v(2, pstr(s->params, "vm"), pstr(s->params, "to"));
    struct xapi_value *opt = xapi_value_new_struct();
    xapi_struct_set_string(opt, "live", "true");
    xapi_array_append_take(pa, opt);
    send_call(s, "VM.pool_migrate", pa, true, call_then_wait);
}

/* Names of running guests still resident on host ("" when none); caller frees. */
static char *resident_guests(const struct xview *v, const char *host);

static void send_action(struct xstep *s)
{
    struct xapi_client *c = pool_client(s->p);
    struct xview v;
    view_of(&v, c);
    const char *k = s->kind;
    if (str_eq(k, SK_RESOLVE)) {
        json_t *undo = exec_undo_for_fix(&v, s->params);
        int r = intent(s, undo, false);
        json_decref(undo);
        if (r)
            return;
        emit(s->p, NULL, k, 0, "resolving: %s %s", pstr(s->params, "fix"),
             obj_name(&v, pstr(s->params, "obj")));
        r = send_fix(s, s->params, call_then_wait);
        if (r == 1)
            wait_effect(s);
        return;
    }
    if (str_eq(k, SK_DISABLE)) {
        json_t *undo = json_pack("{s:s, s:s}", "fix", "enable_host", "obj", s->host);
        int r = intent(s, undo, false);
        json_decref(undo);
        if (r == 0) {
            emit(s->p, host_label(s), k, 0, "disabling %s", host_label(s));
            send_call(s, "host.disable", params_v(1, s->host), false, call_then_wait);
        }
        return;
    }
    if (str_eq(k, SK_REBOOT) || str_eq(k, SK_RESTART_AGENT)) {
        bool reboot = str_eq(k, SK_REBOOT);
        if (reboot) {
            char *left = resident_guests(&v, s->host);
            if (*left) {
                char m[400];
                snprintf(m, sizeof(m),
                         "running VMs are still on %s (%s): a reboot would stop "
                         "them; move them, then Retry",
                         host_label(s), left);
                free(left);
                step_fail(s, "HOST_HAS_RESIDENT_VMS", m);
                return;
            }
            free(left);
        }
        json_object_set_new(s->params, "boot_before",
                            json_string(xv_host_oc(&v, s->host, "boot_time")));
        json_object_set_new(s->params, "agent_before",
                            json_string(xv_host_oc(&v, s->host, "agent_start_time")));
        if (intent(s, NULL, true))
            return;
        emit(s->p, host_label(s), k, 0, "%s %s",
             reboot ? "rebooting" : "restarting the toolstack of", host_label(s));
        send_call(s, reboot ? "host.reboot" : "host.restart_agent", params_v(1, s->host), false,
                  call_then_wait);
        return;
    }
    if (intent(s, NULL, false))
        return;
    if (str_eq(k, SK_ENABLE)) {
        emit(s->p, host_label(s), k, 0, "enabling %s", host_label(s));
        send_call(s, "host.enable", params_v(1, s->host), false, call_then_wait);
    } else if (str_eq(k, SK_MIGRATE)) {
        const struct xapi_value *to = v.get(v.ctx, "host", pstr(s->params, "to"));
        emit(s->p, host_label(s), step_name(s), -1, "migrating %s to %s",
             pstr(s->params, "vm_name"), to ? xapi_struct_str(to, "name_label", "?") : "?");
        migrate_send(s);
    } else if (str_eq(k, SK_APPLY)) {
        const char *uref = NULL;
        if (!xv_update_by_uuid(&v, pstr(s->params, "uuid"), &uref)) {
            step_fail(s, "HANDLE_INVALID", "the update is not in the pool (introduce first)");
            return;
        }
        emit(s->p, host_label(s), k, 0, "applying %s on %s", pstr(s->params, "uuid"),
             host_label(s));
        send_call(s, "pool_update.apply", params_v(2, uref, s->host), true, call_then_wait);
    } else if (str_eq(k, SK_APPLY_CDN)) {
        emit(s->p, host_label(s), k, 0, "applying updates on %s", host_label(s));
        send_call(s, "host.apply_updates", params_v(2, s->host, pstr(s->params, "hash")), true,
                  call_then_wait);
    } else if (str_eq(k, SK_UPLOAD)) {
        start_upload(s);
    } else if (str_eq(k, SK_INTRODUCE)) {
        char *vdi = upload_vdi(s->p, pstr(s->params, "uuid"));
        if (!vdi) {
            step_fail(s, "INVALID_UPDATE", "no uploaded image for this update");
            return;
        }
        emit(s->p, NULL, k, 0, "introducing %s", pstr(s->params, "uuid"));
        send_call(s, "pool_update.introduce", params_v(1, vdi), true, call_then_wait);
        free(vdi);
    } else if (str_eq(k, SK_PRECHECK)) {
        const char *uref = NULL;
        if (!xv_update_by_uuid(&v, pstr(s->params, "uuid"), &uref)) {
            step_fail(s, "HANDLE_INVALID", "the update is not in the pool (introduce first)");
            return;
        }
        emit(s->p, host_label(s), k, 0, "precheck of %s on %s", pstr(s->params, "uuid"),
             host_label(s));
        send_call(s, "pool_update.precheck", params_v(2, uref, s->host), true, precheck_done);
    } else if (str_eq(k, SK_REPLAN)) {
        do_replan(s);
    } else if (str_eq(k, SK_CLEAN)) {
        acts_add(s, json_pack("{s:s, s:s}", "op", "clean", "uuid", pstr(s->params, "uuid")), 0);
        acts_next(s);
    } else if (str_eq(k, SK_UNDO)) {
        if (acts_load_undo(s) == 0)
            acts_next(s);
    } else {
        step_fail(s, "UNKNOWN_STEP", k);
    }
}

static void start_step(struct xpool *p, const struct store_step *st, bool later_steps)
{
    struct xstep *s = xcalloc(1, sizeof(*s));
    s->p = p;
    s->seq = st->seq;
    s->kind = xstrdup(st->kind);
    s->host = st->host ? xstrdup(st->host) : NULL;
    s->params = json_loads(st->params_json ? st->params_json : "{}", 0, NULL);
    if (!json_is_object(s->params)) {
        json_decref(s->params);
        s->params = json_object();
    }
    s->is_migr = str_eq(s->kind, SK_MIGRATE);
    s->next = p->active;
    p->active = s;
    if (s->is_migr)
        p->n_migr++;
    struct xapi_client *c = pool_client(p);
    struct xview v;
    view_of(&v, c);
    {
        enum derive d = exec_derive(&v, s->kind, s->host, s->params, later_steps);
        if (st->state == STORE_STEP_PENDING && d == DERIVE_WAIT)
            d = DERIVE_RESEND; /* someone else's operation: ours was never sent */
        log_info(LOGM, "%s %s: step %lld %s (%s, attempt %d): %s", p->r->id, p->name,
                 (long long)s->seq, s->kind, store_step_state_name(st->state), st->attempts,
                 derive_name(d));
        if (d == DERIVE_DONE && !str_eq(s->kind, SK_UNDO) && !str_eq(s->kind, SK_CLEAN) &&
            !str_eq(s->kind, SK_PRECHECK)) {
            if (st->state != STORE_STEP_INTENT && intent(s, NULL, false))
                return;
            json_t *res = NULL;
            if (str_eq(s->kind, SK_UPLOAD))
                res = json_pack("{s:b}", "already_introduced", 1);
            emit(p, s->host ? host_label(s) : NULL, step_name(s), -1,
                 "resumed: %s already took effect", s->kind);
            step_done(s, res);
            return;
        }
        if (d == DERIVE_WAIT) {
            if (st->state == STORE_STEP_FAILED && intent(s, NULL, false))
                return;
            emit(p, s->host ? host_label(s) : NULL, step_name(s), -1, "resumed: waiting for %s",
                 s->kind);
            wait_effect(s);
            return;
        }
    }
    send_action(s);
}

/* ---------------------------------------------------------------- the pool pump */

static bool step_active(const struct xpool *p, int64_t seq)
{
    for (const struct xstep *s = p->active; s; s = s->next)
        if (s->seq == seq)
            return true;
    return false;
}

static int lane_migr(const struct xpool *p, const char *host)
{
    int n = 0;
    for (const struct xstep *s = p->active; s; s = s->next)
        n += s->is_migr && str_eq(s->host, host);
    return n;
}

static int step_batch(const struct store_step *st)
{
    if (!st->host)
        return -1;
    json_t *pj = json_loads(st->params_json ? st->params_json : "{}", 0, NULL);
    int b = (int)jsonx_int(pj, "batch", -1);
    json_decref(pj);
    return b;
}

static bool unfinished(const struct store_step *st)
{
    return st->state != STORE_STEP_DONE && st->state != STORE_STEP_SKIPPED;
}

static void start_cancel(struct xpool *p);

static void pump_pool(struct xpool *p)
{
    struct exec *x = p->r->x;
    if (p->st == XP_CANCEL) {
        struct xapi_client *cc = pool_client(p);
        if (!cc || !xapi_cache_ready(cc)) {
            p->waiting_client = true;
            return;
        }
        p->waiting_client = false;
        if (!p->active && !p->cancel_started)
            start_cancel(p);
        return;
    }
    if (p->st != XP_RUN)
        return;
    struct xapi_client *c = pool_client(p);
    struct exec *xx = p->r->x;
    /* also wait while the engine is still learning which catalog applies to the pool (its
     * repository probe after a restart): re-planning now would fail for no reason */
    if (!c || !xapi_cache_ready(c) ||
        (xx->env.catalog_for && !xx->env.catalog_for(xx->env.ctx, p->name))) {
        if (!p->waiting_client)
            emit(p, NULL, "connect", -1,
                 c && xapi_cache_ready(c) ? "waiting for the update catalog of pool %s"
                                          : "waiting for the connection to pool %s",
                 p->name);
        p->waiting_client = true;
        return;
    }
    p->waiting_client = false;
    if (steps_load(p) != 0)
        return;
    const struct store_step_list *lp = &p->steps;
    size_t i0 = lp->n;
    for (size_t i = p->hint; i < lp->n; i++)
        if (unfinished(&lp->items[i])) {
            i0 = i;
            break;
        }
    p->hint = i0;
    if (i0 == lp->n) {
        if (!p->active) {
            p->st = XP_DONE;
            emit(p, NULL, "done", 100, "pool %s is up to date", p->name);
            run_update_state(p->r);
        }
        return;
    }
    int b = p->batches[i0];
    if (b < 0) {
        /* start_step may invalidate the cache (replan): nothing of it is used afterwards */
        if (!p->active)
            start_step(p, &lp->items[i0], i0 + 1 < lp->n);
        return;
    }
    /* A batch: one lane per host.  Steps started here may complete at once (effect already
     * there): their cache entries are refreshed in place, never reallocated, meanwhile. */
    size_t end = i0;
    while (end < lp->n && p->batches[end] == b)
        end++;
    const char **lanes_busy = xcalloc(end - i0 + 1, sizeof(char *));
    size_t nl = 0;
    int per_host = x->env.timing.parallel_migrations > 0 ? x->env.timing.parallel_migrations
                                                         : EXEC_DEFAULT_MIGRATIONS_HOST;
    for (size_t i = i0; i < end && p->st == XP_RUN && p->steps_ok; i++) {
        const struct store_step *st = &lp->items[i];
        if (!unfinished(st))
            continue;
        bool blocked = false;
        for (size_t k = 0; k < nl && !blocked; k++)
            blocked = str_eq(lanes_busy[k], st->host);
        if (blocked)
            continue;
        bool migr = str_eq(st->kind, SK_MIGRATE);
        if (step_active(p, st->seq)) {
            if (!migr)
                lanes_busy[nl++] = st->host;
            continue;
        }
        if (migr) {
            /* migrations of a lane run together, up to the limits; the lane's next
             * non-migration waits for them (marked busy below). */
            if (p->n_migr >= EXEC_MAX_MIGRATIONS_POOL || lane_migr(p, st->host) >= per_host)
                continue;
            start_step(p, st, true);
            continue;
        }
        /* A non-migration step: only when none of the lane's earlier steps is unfinished. */
        bool earlier = false;
        for (size_t k = i0; k < i && !earlier; k++)
            earlier = str_eq(lp->items[k].host, st->host) && unfinished(&lp->items[k]);
        lanes_busy[nl++] = st->host;
        if (!earlier)
            start_step(p, st, true);
    }
    free(lanes_busy);
}

/* ---------------------------------------------------------------- cancel */

static void start_cancel(struct xpool *p)
{
    struct exec *x = p->r->x;
    struct store_step_list l = {0};
    struct err e = {0};
    p->cancel_started = true;
    if (store_steps_list(x->env.store, p->r->id, p->name, &l, &e) != 0) {
        log_error(LOGM, "%s: %s", p->r->id, e.msg);
        return;
    }
    struct xstep *s = xcalloc(1, sizeof(*s));
    s->p = p;
    s->kind = xstrdup("cancel");
    s->params = json_object();
    s->next = p->active;
    p->active = s;
    for (size_t i = 0; i < l.n; i++) {
        if (unfinished(&l.items[i]) &&
            store_journal_skip(x->env.store, p->r->id, l.items[i].seq, "cancelled", &e) != 0)
            log_error(LOGM, "%s: skip: %s", p->r->id, e.msg);
    }
    p->steps_ok = false;
    emit(p, NULL, "cancel", 0, "cancelling: reverting fixes, removing update files");
    if (acts_load_undo(s) != 0) {
        store_step_list_cleanup(&l);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        if (!str_eq(l.items[i].kind, SK_UPLOAD))
            continue;
        json_t *pj = json_loads(l.items[i].params_json, 0, NULL);
        acts_add(s, json_pack("{s:s, s:s}", "op", "clean", "uuid", pstr(pj, "uuid")), 0);
        acts_add(s, json_pack("{s:s, s:s}", "op", "destroy", "uuid", pstr(pj, "uuid")), 0);
        json_decref(pj);
    }
    store_step_list_cleanup(&l);
    acts_next(s);
}

/* ---------------------------------------------------------------- rollouts */

static void pool_dirty(struct xpool *p)
{
    p->dirty = true;
}

static void run_update_state(struct xrun *r)
{
    struct exec *x = r->x;
    size_t done = 0, halted = 0, cancelled = 0;
    for (size_t i = 0; i < r->n_pools; i++) {
        done += r->pools[i].st == XP_DONE;
        halted += r->pools[i].st == XP_HALTED && !r->pools[i].active;
        cancelled += r->pools[i].st == XP_CANCELLED;
    }
    enum store_rollout_state want = r->st;
    const char *err = NULL;
    if (r->st == STORE_ROLLOUT_CANCELLING && cancelled == r->n_pools)
        want = STORE_ROLLOUT_CANCELLED;
    else if (r->st == STORE_ROLLOUT_RUNNING && done == r->n_pools)
        want = STORE_ROLLOUT_DONE;
    else if (r->st == STORE_ROLLOUT_RUNNING && halted > 0 && done + halted == r->n_pools) {
        want = STORE_ROLLOUT_HALTED;
        err = "a pool halted at a failed step: Retry continues from it, Cancel reverts";
    }
    if (want == r->st)
        return;
    struct err e = {0};
    if (store_rollout_set_state(x->env.store, r->id, want, err, &e) != 0)
        log_error(LOGM, "%s: state: %s", r->id, e.msg);
    r->st = want;
    if (x->env.emit)
        x->env.emit(x->env.ctx, r->id, NULL, NULL, "rollout", want == STORE_ROLLOUT_DONE ? 100 : -1,
                    store_rollout_state_name(want));
}

static struct xrun *run_find(struct exec *x, const char *id)
{
    for (struct xrun *r = x->runs; r; r = r->next)
        if (str_eq(r->id, id))
            return r;
    return NULL;
}

/* Load a rollout from the journal into memory (pools from its steps). */
static struct xrun *run_load(struct exec *x, const char *id, struct err *e)
{
    struct xrun *r = run_find(x, id);
    if (r)
        return r;
    struct store_rollout ro = {0};
    if (store_rollout_get(x->env.store, id, &ro, e) != 0)
        return NULL;
    struct store_step_list l = {0};
    if (store_steps_list(x->env.store, id, NULL, &l, e) != 0) {
        store_rollout_cleanup(&ro);
        return NULL;
    }
    r = xcalloc(1, sizeof(*r));
    r->x = x;
    r->id = xstrdup(id);
    r->st = ro.state;
    r->pools = xcalloc(l.n + 1, sizeof(*r->pools));
    for (size_t i = 0; i < l.n; i++) {
        bool known = false;
        for (size_t k = 0; k < r->n_pools; k++)
            known = known || str_eq(r->pools[k].name, l.items[i].pool);
        if (known)
            continue;
        struct xpool *p = &r->pools[r->n_pools++];
        p->r = r;
        p->dirty = true;
        p->name = xstrdup(l.items[i].pool);
    }
    for (size_t k = 0; k < r->n_pools; k++) {
        struct xpool *p = &r->pools[k];
        struct store_step first = {0};
        int fr = store_step_first_unfinished(x->env.store, id, p->name, &first, NULL);
        switch (ro.state) {
        case STORE_ROLLOUT_CANCELLING:
            p->st = XP_CANCEL;
            break;
        case STORE_ROLLOUT_CANCELLED:
            p->st = XP_CANCELLED;
            break;
        case STORE_ROLLOUT_DONE:
        case STORE_ROLLOUT_FAILED:
            p->st = XP_DONE;
            break;
        default:
            p->st = fr == PP_ENOTFOUND                              ? XP_DONE
                    : (fr == 0 && first.state == STORE_STEP_FAILED) ? XP_HALTED
                                                                    : XP_RUN;
        }
        store_step_cleanup(&first);
    }
    store_step_list_cleanup(&l);
    store_rollout_cleanup(&ro);
    r->next = x->runs;
    x->runs = r;
    return r;
}

/* Create an executor (see exec.h). */
struct exec *exec_new(const struct exec_env *env, struct err *e)
{
    if (!env || !env->store || !env->loop) {
        err_set(e, PP_EINVAL, "exec: store and loop are required");
        return NULL;
    }
    struct exec *x = xcalloc(1, sizeof(*x));
    x->env = *env;
    return x;
}

/* Free (see exec.h): in-flight steps are orphaned (their callbacks free them), never
 * cancelled — the journal, not this process, is the truth. */
void exec_free(struct exec *x)
{
    if (!x)
        return;
    while (x->runs) {
        struct xrun *r = x->runs;
        x->runs = r->next;
        for (size_t i = 0; i < r->n_pools; i++) {
            struct xpool *p = &r->pools[i];
            while (p->active) {
                struct xstep *s = p->active;
                p->active = s->next;
                s->p = NULL;
                if (s->up) {
                    xapi_upload_cancel(s->up);
                    s->up = NULL;
                }
                if (!s->op)
                    xstep_free(s);
            }
            steps_drop(p);
            free(p->name);
        }
        free(r->pools);
        free(r->id);
        free(r);
    }
    free(x);
}

struct files_ctx {
    const struct exec_request *req;
};

static const char *file_for(void *ctx, const char *uuid)
{
    struct files_ctx *f = ctx;
    for (size_t i = 0; i < f->req->n_files; i++)
        if (str_eq_nocase(f->req->files[i].uuid, uuid))
            return f->req->files[i].path;
    return NULL;
}

/* The id of an unfinished rollout (running, halted, cancelling) holding pool, or NULL. */
static const char *pool_busy(struct exec *x, const char *pool)
{
    for (struct xrun *r = x->runs; r; r = r->next) {
        if (r->st != STORE_ROLLOUT_RUNNING && r->st != STORE_ROLLOUT_HALTED &&
            r->st != STORE_ROLLOUT_CANCELLING && r->st != STORE_ROLLOUT_PLANNED)
            continue;
        for (size_t i = 0; i < r->n_pools; i++)
            if (str_eq(r->pools[i].name, pool))
                return r->id;
    }
    return NULL;
}

/* Start a rollout (see exec.h). */
int exec_rollout_start(struct exec *x, const struct exec_request *req, char **id, struct err *e)
{
    *id = NULL;
    if (!req || req->n_pools == 0)
        return err_set(e, PP_EINVAL, "no pool to update");
    const struct catalog *cat0 = x->env.catalog ? x->env.catalog(x->env.ctx) : NULL;
    if (!cat0 && !x->env.catalog_for)
        return err_set(e, PP_ESTATE, "no update catalog yet: check for updates first");
    struct spec_list sl = {0};
    json_t *plans = json_array();
    int rc = 0;
    struct files_ctx fc = {req};
    const char *policy = "minimal";
    for (size_t i = 0; i < req->n_pools && rc == 0; i++) {
        const char *pn = req->pools[i].pool;
        const char *busy = pool_busy(x, pn);
        if (busy) {
            rc = err_set(e, PP_ESTATE,
                         "pool %s is in rollout %s, which is not finished: let it finish, or "
                         "cancel it, first",
                         pn, busy);
            break;
        }
        if (!x->env.client_for || !x->env.client_for(x->env.ctx, pn)) {
            rc = err_set(e, PP_ENOTFOUND, "pool %s is not registered or not connected", pn);
            break;
        }
        struct inv_pool *inv = x->env.inventory(x->env.ctx, pn, e);
        if (!inv) {
            rc = e && e->code ? e->code : PP_ENOTFOUND;
            break;
        }
        struct plan_opts o;
        if (req->pools[i].opts)
            o = *req->pools[i].opts;
        else
            plan_opts_init(&o);
        o.timing = x->env.timing;
        o.prechecks = NULL;
        o.n_prechecks = 0;
        policy = plan_policy_name(o.policy);
        struct plan *pl = NULL;
        /* a XenServer 8 pool is planned with its own repository catalog */
        const struct catalog *cat = x->env.catalog_for ? x->env.catalog_for(x->env.ctx, pn) : cat0;
        rc = cat ? plan_build(inv, cat, &o, &pl, e)
                 : err_set(e, PP_ESTATE, "no update catalog yet: check for updates first");
        if (rc == 0 && !plan_can_resolve(pl)) {
            struct buf b;
            buf_init(&b);
            for (size_t k = 0; k < pl->n_checks; k++)
                if (pl->checks[k].severity == PLAN_SEV_BLOCKING && !pl->checks[k].fixable)
                    buf_printf(&b, "%s%s", b.len ? "; " : "", pl->checks[k].message);
            rc = err_set(e, PP_ESTATE, "pool %s cannot be updated: %s", pn, buf_str(&b));
            buf_cleanup(&b);
        }
        struct plan_resolution res = {0};
        if (rc == 0)
            rc = plan_resolve_all(pl, &res, e);
        if (rc == 0 && pl->totals.hosts_updated == 0 && pl->n_uploads == 0)
            log_info(LOGM, "pool %s: nothing to update", pn);
        if (rc == 0)
            rc = exec_steps_initial(pn, pl, &res, file_for, &fc, exec_opts_to_json(&o), &sl, e);
        if (rc == 0) {
            json_t *pj = plan_to_json(pl);
            json_object_set_new(pj, "pool", json_string(pn));
            json_array_append_new(plans, pj);
        }
        plan_resolution_cleanup(&res);
        plan_free(pl);
        inv_pool_free(inv);
    }
    if (rc == 0) {
        json_t *doc = json_pack("{s:o}", "pools", json_incref(plans));
        char *pj = dumps(doc);
        json_decref(doc);
        struct store_rollout_spec rs = {.plan_json = pj, .policy = policy};
        rc = store_rollout_create(x->env.store, &rs, sl.items, sl.n, id, e);
        free(pj);
    }
    json_decref(plans);
    spec_list_cleanup(&sl);
    if (rc != 0)
        return rc;
    rc = store_rollout_set_state(x->env.store, *id, STORE_ROLLOUT_RUNNING, NULL, e);
    if (rc != 0)
        return rc;
    struct xrun *r = run_load(x, *id, e);
    if (!r)
        return e && e->code ? e->code : PP_EDB;
    if (x->env.emit)
        x->env.emit(x->env.ctx, r->id, NULL, NULL, "rollout", 0, "started");
    return 0;
}

/* Resume unfinished rollouts (see exec.h). */
int exec_resume_all(struct exec *x, struct err *e)
{
    struct store_rollout_list l = {0};
    /* planned: created, then the process died before it was marked running: start it now */
    int rc =
        store_rollout_list(x->env.store,
                           STORE_ROLLOUT_MASK_RESUME | STORE_ROLLOUT_BIT(STORE_ROLLOUT_HALTED) |
                               STORE_ROLLOUT_BIT(STORE_ROLLOUT_PLANNED),
                           0, &l, e);
    if (rc)
        return rc;
    for (size_t i = 0; i < l.n; i++) {
        struct xrun *r = run_load(x, l.items[i].id, e);
        if (!r) {
            rc = e && e->code ? e->code : PP_EDB;
            continue;
        }
        if (r->st == STORE_ROLLOUT_PLANNED &&
            store_rollout_set_state(x->env.store, r->id, STORE_ROLLOUT_RUNNING, NULL, e) == 0)
            r->st = STORE_ROLLOUT_RUNNING;
        log_info(LOGM, "resuming rollout %s (%s)", r->id, store_rollout_state_name(r->st));
        if (r->st == STORE_ROLLOUT_RUNNING)
            run_update_state(r);
    }
    store_rollout_list_cleanup(&l);
    return rc;
}

/* Retry (see exec.h). */
int exec_rollout_retry(struct exec *x, const char *id, struct err *e)
{
    struct xrun *r = run_load(x, id, e);
    if (!r)
        return e && e->code ? e->code : PP_ENOTFOUND;
    if (r->st != STORE_ROLLOUT_HALTED && r->st != STORE_ROLLOUT_RUNNING)
        return err_set(e, PP_ESTATE, "rollout %s is %s: only a halted rollout can be retried", id,
                       store_rollout_state_name(r->st));
    bool any = false;
    for (size_t i = 0; i < r->n_pools; i++) {
        if (r->pools[i].st == XP_HALTED && !r->pools[i].active) {
            r->pools[i].st = XP_RUN;
            r->pools[i].dirty = true;
            any = true;
        }
    }
    if (!any && r->st == STORE_ROLLOUT_RUNNING)
        return err_set(e, PP_ESTATE, "rollout %s has no halted pool", id);
    if (r->st != STORE_ROLLOUT_RUNNING) {
        int rc = store_rollout_set_state(x->env.store, id, STORE_ROLLOUT_RUNNING, NULL, e);
        if (rc)
            return rc;
        r->st = STORE_ROLLOUT_RUNNING;
    }
    if (x->env.emit)
        x->env.emit(x->env.ctx, id, NULL, NULL, "rollout", -1, "retrying");
    return 0;
}

/* Cancel (see exec.h). */
int exec_rollout_cancel(struct exec *x, const char *id, struct err *e)
{
    struct xrun *r = run_load(x, id, e);
    if (!r)
        return e && e->code ? e->code : PP_ENOTFOUND;
    if (r->st == STORE_ROLLOUT_CANCELLING)
        return 0;
    if (r->st != STORE_ROLLOUT_RUNNING && r->st != STORE_ROLLOUT_HALTED &&
        r->st != STORE_ROLLOUT_PLANNED)
        return err_set(e, PP_ESTATE, "rollout %s is %s: it cannot be cancelled", id,
                       store_rollout_state_name(r->st));
    int rc = store_rollout_set_state(x->env.store, id, STORE_ROLLOUT_CANCELLING, NULL, e);
    if (rc)
        return rc;
    r->st = STORE_ROLLOUT_CANCELLING;
    for (size_t i = 0; i < r->n_pools; i++) {
        struct xpool *p = &r->pools[i];
        p->st = XP_CANCEL;
        p->dirty = true;
        struct xstep *next;
        for (struct xstep *s = p->active; s; s = next) {
            next = s->next;
            if (s->up) {
                xapi_upload_cancel(s->up);
                s->up = NULL;
                step_fail(s, "CANCELLED", "cancelled");
            } else if (s->op && s->seq > 0) {
                xapi_op_cancel(s->op);
            }
        }
    }
    if (x->env.emit)
        x->env.emit(x->env.ctx, id, NULL, NULL, "rollout", -1, "cancelling");
    return 0;
}

/* Drive (see exec.h). */
void exec_tick(struct exec *x)
{
    /* Synchronous progress (effects found already there) makes pools dirty again: keep
     * pumping until nothing moves, so no turn of the loop (nor virtual time) is wasted. */
    for (int round = 0; round < 1000; round++) {
        bool any = false;
        for (struct xrun *r = x->runs; r; r = r->next) {
            for (size_t i = 0; i < r->n_pools; i++) {
                struct xpool *p = &r->pools[i];
                if (!p->dirty && !p->waiting_client)
                    continue;
                p->dirty = false;
                pump_pool(p);
                any = any || p->dirty;
            }
            run_update_state(r);
        }
        if (!any)
            break;
    }
}

/* Busy (see exec.h). */
bool exec_busy(const struct exec *x)
{
    for (const struct xrun *r = x->runs; r; r = r->next)
        if (r->st == STORE_ROLLOUT_RUNNING || r->st == STORE_ROLLOUT_CANCELLING)
            return true;
    return false;
}

/* The executor's store (exec_int.h); borrowed. */
struct store *exec_store(struct exec *x)
{
    return x->env.store;
}
