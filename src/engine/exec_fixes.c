/* SPDX-License-Identifier: MIT */
/*
 * exec_fixes.c - Resolve All fixes and their undo records sent as XAPI calls; the action lists of
 * the undo step and of Cancel (each item marked replayed, so a crash resumes where it stopped).
 */
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"
#include "engine/exec_drv.h"

/* ---------------------------------------------------------------- fixes (resolve, undo) */

/* The name_label of a pool / host / VM ref for messages (the ref when unknown; borrowed). */
const char *exec_obj_name(const struct xapi_records *v, const char *ref)
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
static int send_fix(struct exec_step *s, const json_t *fix, xapi_done_fn done)
{
    struct xapi_client *c = exec_pool_client(s->p);
    if (!c) {
        exec_step_fail(s, "TRANSPORT", "the pool is not connected");
        return -1;
    }
    struct xapi_records v;
    xapi_records_from_client(&v, c);
    const char *f = exec_pstr(fix, "fix"), *obj = exec_pstr(fix, "obj"),
               *arg = exec_pstr(fix, "arg");
    if (str_eq(f, "disable_ha"))
        return exec_send_call(s, "pool.disable_ha", NULL, true, done);
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
        return exec_send_call(s, "pool.enable_ha", pa, true, done);
    }
    if (str_eq(f, "enable_host"))
        return exec_send_call(s, "host.enable", exec_params_v(1, obj), false, done);
    if (str_eq(f, "disable_host"))
        return exec_send_call(s, "host.disable", exec_params_v(1, obj), false, done);
    if (str_eq(f, "plug_pbd")) {
        struct pbd_find {
            const char *host, *sr, *ref;
        } pf = {obj, arg, NULL};
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
        return exec_send_call(s, "PBD.plug", exec_params_v(1, pf.ref), true, done);
    }
    if (str_eq(f, "eject_cd") || str_eq(f, "insert_cd")) {
        const char *vbd = exec_pstr(fix, "vbd");
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
            return exec_send_call(s, "VBD.eject", exec_params_v(1, vbd), true, done);
        return exec_send_call(s, "VBD.insert", exec_params_v(2, vbd, exec_pstr(fix, "vdi")), true,
                              done);
    }
    if (str_eq(f, "suspend_vm"))
        return exec_send_call(s, "VM.suspend", exec_params_v(1, obj), true, done);
    if (str_eq(f, "shutdown_vm"))
        return exec_send_call(s, "VM.clean_shutdown", exec_params_v(1, obj), true, done);
    if (str_eq(f, "resume_vm") || str_eq(f, "start_vm")) {
        bool resume = str_eq(f, "resume_vm");
        struct xapi_value *pa = exec_params_v(1, obj);
        if (*arg)
            xapi_array_append_string(pa, arg);
        xapi_array_append_take(pa, xapi_value_new_bool(false));
        xapi_array_append_take(pa, xapi_value_new_bool(false));
        const char *m =
            resume ? (*arg ? "VM.resume_on" : "VM.resume") : (*arg ? "VM.start_on" : "VM.start");
        return exec_send_call(s, m, pa, true, done);
    }
    return 1;
}

/* ---------------------------------------------------------------- action lists (undo, cancel) */

static void act_waited(void *ctx, int rc, const struct xapi_value *res, const struct err *e);

/* The current item cannot be restored now.  Cancelling: one thing that cannot be put back must
 * not stop the others (HA, hosts, CDs, VMs): the item stays in the undo list, unmarked (a retry
 * of the cancel replays it), and the verification reports it.  Otherwise the step fails. */
static void act_give_up(struct exec_step *s, int rc, const struct err *e)
{
    if (s->seq > 0) {
        if (!exec_upgrade_ha_defer(s, e)) /* HA refused while a host is left out */
            exec_step_fail_err(s, rc, e);
        return;
    }
    const struct exec_action *a = &s->acts[s->i_act];
    const char *what = exec_pstr(a->a, "fix");
    /* names instead of OpaqueRefs, in the object and in XAPI's error parameters */
    struct xapi_client *c = exec_pool_client(s->p);
    struct xapi_records v;
    char *why = NULL;
    const char *obj = exec_pstr(a->a, "obj");
    if (c) {
        xapi_records_from_client(&v, c);
        obj = exec_obj_name(&v, obj);
        why = exec_name_refs(&v, e && e->msg[0] ? e->msg : err_code_name(rc));
    }
    exec_emit(s->p, NULL, exec_step_name(s), -1, "could not restore %s %s: %s; restoring the rest",
              *what ? what : exec_pstr(a->a, "op"), obj,
              why              ? why
              : e && e->msg[0] ? e->msg
                               : err_code_name(rc));
    free(why);
    s->i_act++;
    s->tries = 0;
    exec_acts_next(s);
}

/* The current item's fix is there, or (BUSY) the operation on its object ended, or (READ) the
 * pool was read again after a transport error. */
static bool pred_act_settled(void *ctx, struct xapi_client *c)
{
    struct exec_step *s = ctx;
    const json_t *a = s->acts[s->i_act].a;
    struct xapi_records v;
    xapi_records_from_client(&v, c);
    if (*exec_pstr(a, "fix") && exec_fix_done(&v, a))
        return true;
    if (s->settle == EXEC_SETTLE_BUSY)
        return !exec_fix_busy(&v, a);
    return xapi_cache_generation(c) != s->gen0 || ++s->evals > 1;
}

/* Wait before trying the current item again: an operation runs on its object (BUSY), or a
 * call got no answer (READ).  Bounded; the item is tried again afterwards (exec_acts_next reads
 * the pool first).  Returns false when the tries are used up (the caller fails). */
static bool act_settle(struct exec_step *s, enum exec_settle mode)
{
    struct xapi_client *c = exec_pool_client(s->p);
    struct err e = {0};
    if (!c || ++s->tries > 2 * EXEC_MAX_TRIES)
        return false;
    s->settle = (int)mode;
    s->evals = 0;
    s->gen0 = xapi_cache_generation(c);
    s->let_end = NULL;
    int64_t t = s->p->r->x->env.host_return_timeout_ms;
    if (xapi_cache_wait(c, pred_act_settled, s, t > 0 ? t : 20 * 60 * 1000, act_waited, s, &s->op,
                        &e) != 0)
        exec_step_fail_err(s, e.code, &e);
    return true;
}

/* The answer says the HA fix's goal already holds: pool.enable_ha raises HA_IS_ENABLED when HA
 * is on, pool.disable_ha HA_NOT_ENABLED when it is off (xen-api ocaml/xapi/xapi_ha.ml, enable
 * and disable check pool.ha_enabled first; xapi_pool_helpers.ml gives the same codes for the
 * ha_enable / ha_disable allowed operations).  Elsewhere HA_IS_ENABLED means "turn HA off
 * first" (host.destroy, PIF changes): only the HA fix itself takes it as done. */
static bool ha_goal_holds(const json_t *fix, const char *code)
{
    const char *f = exec_pstr(fix, "fix");
    return (str_eq(f, "enable_ha") && str_eq(code, "HA_IS_ENABLED")) ||
           (str_eq(f, "disable_ha") && str_eq(code, "HA_NOT_ENABLED"));
}

static void act_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    struct exec_action *a = &s->acts[s->i_act];
    const char *what = exec_pstr(a->a, "fix");
    if (!*what)
        what = exec_pstr(a->a, "op");
    if (rc != 0) {
        const char *code = e ? e->xapi_code : "";
        /* Already running (sent before a restart) or no answer: read the pool, then again. */
        if ((str_eq(code, "OTHER_OPERATION_IN_PROGRESS") && act_settle(s, EXEC_SETTLE_BUSY)) ||
            ((rc == PP_ETRANSPORT || rc == PP_ETIMEOUT) && act_settle(s, EXEC_SETTLE_READ)))
            return;
        /* Already restored / already gone / still applied somewhere: nothing left to do. */
        bool benign = str_eq(code, "HANDLE_INVALID") || str_eq(code, "UPDATE_IS_APPLIED") ||
                      str_eq(code, "VM_BAD_POWER_STATE") || str_eq(code, "VBD_NOT_EMPTY") ||
                      str_eq(code, "VBD_IS_EMPTY") || ha_goal_holds(a->a, code);
        if (!benign) {
            act_give_up(s, rc, e);
            return;
        }
        exec_emit(s->p, NULL, exec_step_name(s), -1, "%s: %s (nothing to restore)", what,
                  e ? e->msg : "");
    }
    struct exec *x = s->p->r->x;
    struct err se = {0};
    if (a->undo_seq > 0 && store_undo_mark_done(x->env.store, s->p->r->id, a->undo_seq, &se))
        log_error(LOGM, "%s: undo mark: %s", s->p->r->id, se.msg);
    s->i_act++;
    exec_acts_next(s);
}

static bool pred_host_live(void *ctx, struct xapi_client *c)
{
    struct xapi_records v;
    xapi_records_from_client(&v, c);
    return exec_xv_host_live(&v, ctx);
}

/* The host an undo item waited for is back (or the wait failed): try the item again. */
static void act_waited(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    if (rc != 0) {
        act_give_up(s, rc, e);
        return;
    }
    exec_acts_next(s);
}

static void acts_finish(struct exec_step *s)
{
    struct exec_pool *p = s->p;
    if (s->seq > 0) {
        exec_step_done(s, NULL);
        return;
    }
    /* the cancel procedure: then read the pool again, which decides cancelled or not */
    exec_unlink_step(s);
    exec_step_free(s);
    exec_verify_start(p, EXEC_VERIFY_CANCEL);
}

void exec_acts_next(struct exec_step *s)
{
    struct xapi_client *c = exec_pool_client(s->p);
    while (s->i_act < s->n_acts) {
        struct exec_action *a = &s->acts[s->i_act];
        const char *op = exec_pstr(a->a, "op");
        struct xapi_records v = {0};
        if (c)
            xapi_records_from_client(&v, c);
        int r;
        if (str_eq(op, "destroy_vdi")) {
            /* an image uploaded but never introduced (stopped in between): the VDI */
            const char *vdi = exec_pstr(a->a, "vdi");
            r = c && *vdi && v.get(v.ctx, "vdi", vdi)
                    ? exec_send_call(s, "VDI.destroy", exec_params_v(1, vdi), false, act_done)
                    : 1;
        } else if (*op) {
            const char *uref = NULL;
            const struct xapi_value *u =
                c ? exec_xv_update_by_uuid(&v, exec_pstr(a->a, "uuid"), &uref) : NULL;
            if (!u) {
                r = 1;
            } else if (str_eq(op, "clean")) {
                exec_emit(s->p, NULL, exec_step_name(s), -1, "removing the update file of %s",
                          xapi_struct_str(u, "name_label", exec_pstr(a->a, "uuid")));
                r = exec_send_call(s, "pool_update.pool_clean", exec_params_v(1, uref), false,
                                   act_done);
            } else {
                r = exec_send_call(s, "pool_update.destroy", exec_params_v(1, uref), false,
                                   act_done);
            }
        } else if (c && exec_fix_done(&v, a->a)) {
            r = 1; /* already as it should be */
        } else if (c &&
                   (str_eq(exec_pstr(a->a, "fix"), "enable_host") ||
                    str_eq(exec_pstr(a->a, "fix"), "disable_host")) &&
                   !exec_xv_host_live(&v, exec_pstr(a->a, "obj"))) {
            /* the host is rebooting (a cancelled rollout): wait for it before enabling it */
            struct err we = {0};
            exec_emit(s->p, NULL, exec_step_name(s), -1,
                      "waiting for %s to come back before enabling it",
                      exec_obj_name(&v, exec_pstr(a->a, "obj")));
            int64_t t = s->p->r->x->env.host_return_timeout_ms;
            s->let_end = NULL;
            if (xapi_cache_wait(c, pred_host_live, (void *)exec_pstr(a->a, "obj"),
                                t > 0 ? t : 20 * 60 * 1000, act_waited, s, &s->op, &we) != 0) {
                exec_step_fail_err(s, we.code, &we);
            }
            return;
        } else if (c && exec_fix_busy(&v, a->a)) {
            /* its operation is already running (sent before a restart): wait for it */
            if (!act_settle(s, EXEC_SETTLE_BUSY)) {
                struct err be = {0};
                err_set(&be, PP_ESTATE, "an operation kept running on the object to restore");
                str_lcpy(be.xapi_code, "OTHER_OPERATION_IN_PROGRESS", sizeof(be.xapi_code));
                act_give_up(s, PP_ESTATE, &be);
            }
            return;
        } else {
            const char *f = exec_pstr(a->a, "fix");
            exec_emit(s->p, NULL, exec_step_name(s), -1, "restoring: %s %s", f,
                      c ? exec_obj_name(&v, exec_pstr(a->a, "obj")) : exec_pstr(a->a, "obj"));
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

void exec_acts_add(struct exec_step *s, json_t *a_take, int64_t undo_seq)
{
    s->acts = vec_grow_implied(s->acts, s->n_acts, sizeof(*s->acts));
    s->acts[s->n_acts].a = a_take;
    s->acts[s->n_acts].undo_seq = undo_seq;
    s->n_acts++;
}

/* Load the pool's undo list into s's actions.  Returns 0 or -1 (step failed). */
static int acts_load_undo(struct exec_step *s)
{
    struct exec *x = s->p->r->x;
    struct store_step_list ul = {0};
    struct err e = {0};
    if (store_undo_list(x->env.store, s->p->r->id, s->p->name, &ul, &e) != 0) {
        exec_step_fail(s, "DB", e.msg);
        return -1;
    }
    for (size_t i = 0; i < ul.n; i++) {
        json_t *u = json_loads(ul.items[i].undo_json, 0, NULL);
        if (json_is_object(u))
            exec_acts_add(s, u, ul.items[i].seq);
        else
            json_decref(u);
    }
    store_step_list_cleanup(&ul);
    return 0;
}
/* ---------------------------------------------------------------- cancel */

static bool is_apply(enum exec_kind k)
{
    return k == EXEC_K_APPLY || k == EXEC_K_APPLY_CDN;
}

/* The apply kind's XAPI method as its Async task is named ("Async.pool_update.apply",
 * server_helpers.ml); NULL for other kinds. */
static const char *apply_method(enum exec_kind k)
{
    return k == EXEC_K_APPLY       ? "pool_update.apply"
           : k == EXEC_K_APPLY_CDN ? "host.apply_updates"
                                   : NULL;
}

/* True while an operation of the rollout's may still run in the pool: a step sent (intent, or
 * an apply failed without knowing) whose object is busy or whose effect is under way.  An
 * apply marks no object busy; with apply_tasks set, an apply not shown applied counts while
 * such a task is pending (cancel_tasks_read).  task.cancel is only a request
 * (ocaml/xapi/xapi_task.ml): the cancel reverts nothing until what was sent has ended, so that
 * the report can say what landed. */
static bool cancel_inflight(void *ctx, struct xapi_client *c)
{
    const struct exec_step *s = ctx;
    struct xapi_records v;
    xapi_records_from_client(&v, c);
    const json_t *sent = json_object_get(s->params, "inflight");
    size_t i;
    const json_t *it;
    json_array_foreach(sent, i, it)
    {
        const struct exec_kind_def *d = exec_kind_by_name(exec_pstr(it, "kind"));
        const char *host = *exec_pstr(it, "host") ? exec_pstr(it, "host") : NULL;
        const json_t *pj = json_object_get(it, "params");
        if (d->derive && d->derive(&v, host, pj, false) == DERIVE_DONE)
            continue;
        if (apply_method(d->kind)) {
            if (json_is_true(json_object_get(s->params, "apply_tasks")))
                return true;
            continue;
        }
        if ((d->busy && d->busy(&v, host, pj)) ||
            (d->derive && d->derive(&v, host, pj, false) == DERIVE_WAIT))
            return true;
    }
    return false;
}

/* The steps of l the cancel must let end first (see cancel_inflight) into s->params. */
static void cancel_gather_inflight(struct exec_step *s, const struct store_step_list *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const struct store_step *st = &l->items[i];
        enum exec_kind k = exec_kind_by_name(st->kind)->kind;
        bool sent = st->state == STORE_STEP_INTENT ||
                    (st->state == STORE_STEP_FAILED && is_apply(k) && st->intent_at_ms);
        json_t *pj = sent ? json_loads(st->params_json ? st->params_json : "{}", 0, NULL) : NULL;
        if (json_is_object(pj))
            json_array_append_new(a, json_pack("{s:s, s:s, s:o}", "kind", st->kind, "host",
                                               st->host ? st->host : "", "params", pj));
        else
            json_decref(pj);
    }
    json_object_set_new(s->params, "inflight", a);
}

/* An apply sent (intent, or failed without an answer, or cancelled while its effect was on the
 * way) that the pool shows applied on its host: journaled done, so that the cancelled
 * rollout's report lists the update on that host.  True when it was. */
static bool cancel_landed(struct exec_step *s, const struct store_step *st)
{
    struct exec_pool *p = s->p;
    struct exec *x = p->r->x;
    const struct exec_kind_def *d = exec_kind_by_name(st->kind);
    if (!is_apply(d->kind) || !st->intent_at_ms ||
        (st->state != STORE_STEP_INTENT && st->state != STORE_STEP_FAILED))
        return false;
    struct xapi_client *c = exec_pool_client(p);
    if (!c || !xapi_cache_ready(c))
        return false;
    struct xapi_records v;
    xapi_records_from_client(&v, c);
    json_t *pj = json_loads(st->params_json ? st->params_json : "{}", 0, NULL);
    bool landed = d->derive(&v, st->host, pj, false) == DERIVE_DONE;
    struct err e = {0};
    if (landed && st->state == STORE_STEP_FAILED &&
        store_journal_intent(x->env.store, p->r->id, st->seq, NULL, NULL, &e) != 0)
        landed = false;
    if (landed && store_journal_done(x->env.store, p->r->id, st->seq,
                                     "{\"landed_before_cancel\":true}", &e) != 0)
        landed = false;
    if (e.code)
        log_error(LOGM, "%s: apply %lld: %s", p->r->id, (long long)st->seq, e.msg);
    const char *uuid = exec_pstr(pj, "uuid"), *uref = NULL;
    const struct xapi_value *ur = *uuid ? exec_xv_update_by_uuid(&v, uuid, &uref) : NULL;
    if (landed)
        exec_emit(p, st->host ? exec_obj_name(&v, st->host) : NULL, "apply", -1,
                  "the pool shows %s applied on %s: it took effect before the cancel",
                  ur      ? xapi_struct_str(ur, "name_label", uuid)
                  : *uuid ? uuid
                          : "the updates",
                  st->host ? exec_obj_name(&v, st->host) : "the pool");
    json_decref(pj);
    return landed;
}

/* The cancel itself, once nothing it sent runs any more: unfinished steps skipped (an apply
 * that landed journaled done), then the undo list and the update files. */
static void cancel_proceed(struct exec_step *s)
{
    struct exec_pool *p = s->p;
    struct exec *x = p->r->x;
    struct store_step_list l = {0};
    struct err e = {0};
    if (store_steps_list(x->env.store, p->r->id, p->name, &l, &e) != 0) {
        exec_step_fail(s, "DB", e.msg);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        if (exec_step_unfinished(&l.items[i]) && !cancel_landed(s, &l.items[i]) &&
            store_journal_skip(x->env.store, p->r->id, l.items[i].seq, "cancelled", &e) != 0)
            log_error(LOGM, "%s: skip: %s", p->r->id, e.msg);
    }
    p->steps_ok = false;
    s->tries = 0; /* counted the task reads so far; from here the undo items' sends */
    exec_emit(p, NULL, "cancel", 0, "cancelling: reverting fixes, removing update files");
    if (acts_load_undo(s) != 0) {
        store_step_list_cleanup(&l);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        if (exec_kind_by_name(l.items[i].kind)->kind != EXEC_K_UPLOAD)
            continue;
        json_t *pj = json_loads(l.items[i].params_json, 0, NULL);
        json_t *rj = json_loads(l.items[i].result_json ? l.items[i].result_json : "{}", 0, NULL);
        const char *uuid = exec_pstr(pj, "uuid");
        /* only what this rollout introduced: an update that was in the pool before is left */
        if (exec_pool_introduced(p, uuid)) {
            exec_acts_add(s, json_pack("{s:s, s:s}", "op", "clean", "uuid", uuid), 0);
            exec_acts_add(s, json_pack("{s:s, s:s}", "op", "destroy", "uuid", uuid), 0);
        }
        /* the uploaded VDI itself, when it was never introduced (gone otherwise: skipped) */
        if (*exec_pstr(rj, "vdi"))
            exec_acts_add(
                s, json_pack("{s:s, s:s}", "op", "destroy_vdi", "vdi", exec_pstr(rj, "vdi")), 0);
        json_decref(pj);
        json_decref(rj);
    }
    store_step_list_cleanup(&l);
    exec_acts_next(s);
}

static bool pred_not_inflight(void *ctx, struct xapi_client *c)
{
    return !cancel_inflight(ctx, c);
}

static void cancel_waited(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)rc, (void)res, (void)e; /* a timeout: cancel anyway, the verification tells */
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    cancel_proceed(s);
}

/* Wait until nothing sent runs any more (at most EXEC_EFFECT_WAIT_MS), then cancel. */
static void cancel_when_quiet(struct exec_step *s)
{
    struct xapi_client *c = exec_pool_client(s->p);
    struct err e = {0};
    if (!c || !xapi_cache_ready(c) || !cancel_inflight(s, c)) {
        cancel_proceed(s);
        return;
    }
    exec_emit(s->p, NULL, "cancel", 0,
              "cancelling: waiting for the operations already sent to end before reverting "
              "anything");
    if (xapi_cache_wait(c, pred_not_inflight, s, EXEC_EFFECT_WAIT_MS, cancel_waited, s, &s->op,
                        &e) != 0)
        cancel_proceed(s);
}

/* How often the pool's pending apply tasks are read while the cancel waits for them (engine
 * clock), and how many times at most (EXEC_EFFECT_WAIT_MS in all). */
#define CANCEL_TASKS_EVERY_MS 5000
#define CANCEL_TASKS_READS    (EXEC_EFFECT_WAIT_MS / CANCEL_TASKS_EVERY_MS)

static void cancel_tasks_read(void *ctx, int rc, const struct xapi_value *res, const struct err *e);

/* True when an apply the journal says was sent is not shown applied (see cancel_inflight). */
static bool apply_unseen(struct exec_step *s)
{
    json_object_set_new(s->params, "apply_tasks", json_true());
    struct xapi_client *c = exec_pool_client(s->p);
    bool r = c && xapi_cache_ready(c) && cancel_inflight(s, c);
    json_object_set_new(s->params, "apply_tasks", json_false());
    return r;
}

/* Read the pool's tasks (the event stream carries them only while a wait needs them). */
static void cancel_tasks_send(struct exec_step *s)
{
    struct xapi_client *c = exec_pool_client(s->p);
    struct err e = {0};
    s->let_end = NULL;
    if (!c || ++s->tries > CANCEL_TASKS_READS ||
        xapi_call_async(c, "task.get_all_records", NULL, NULL, cancel_tasks_read, s, &s->op, &e) !=
            0)
        cancel_when_quiet(s);
}

static bool never(void *ctx, struct xapi_client *c)
{
    (void)ctx, (void)c;
    return false;
}

static void cancel_tasks_again(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)rc, (void)res, (void)e;
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    if (apply_unseen(s))
        cancel_tasks_send(s);
    else
        cancel_when_quiet(s);
}

/* The pool's tasks: while an apply task (Async.pool_update.apply / host.apply_updates) is
 * pending and a sent apply is not shown applied, look again a little later. */
static void cancel_tasks_read(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)e;
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    bool pending = false;
    for (size_t i = 0; rc == 0 && i < xapi_struct_len(res) && !pending; i++) {
        const struct xapi_value *t = res->u.st.vals[i];
        const char *n = xapi_struct_str(t, "name_label", "");
        pending = str_eq(xapi_struct_str(t, "status", ""), "pending") &&
                  (strstr(n, "pool_update.apply") || strstr(n, "host.apply_updates"));
    }
    struct xapi_client *c = exec_pool_client(s->p);
    struct err we = {0};
    if (!pending || !c) {
        cancel_when_quiet(s);
        return;
    }
    if (s->tries == 1)
        exec_emit(s->p, NULL, "cancel", 0,
                  "cancelling: waiting for the apply already sent to end (xapi cannot stop it) "
                  "before reverting anything");
    if (xapi_cache_wait(c, never, NULL, CANCEL_TASKS_EVERY_MS, cancel_tasks_again, s, &s->op,
                        &we) != 0)
        cancel_when_quiet(s);
}

void exec_start_cancel(struct exec_pool *p)
{
    struct exec *x = p->r->x;
    struct store_step_list l = {0};
    struct err e = {0};
    p->cancel_started = true;
    if (store_steps_list(x->env.store, p->r->id, p->name, &l, &e) != 0) {
        log_error(LOGM, "%s: %s", p->r->id, e.msg);
        return;
    }
    struct exec_step *s = xcalloc(1, sizeof(*s));
    s->p = p;
    s->def = exec_kind_def(EXEC_K_CANCEL);
    s->params = json_object();
    s->next = p->active;
    p->active = s;
    cancel_gather_inflight(s, &l);
    store_step_list_cleanup(&l);
    if (apply_unseen(s))
        cancel_tasks_send(s);
    else
        cancel_when_quiet(s);
}

/* ---------------------------------------------------------------- the sends of the kind table */

/* resolve: one Resolve All fix, its undo record journaled with the intent. */
void exec_send_resolve(struct exec_step *s)
{
    struct xapi_records v;
    xapi_records_from_client(&v, exec_pool_client(s->p));
    json_t *undo = exec_undo_for_fix(&v, s->params);
    int r = exec_intent(s, undo, false);
    json_decref(undo);
    if (r)
        return;
    exec_emit(s->p, NULL, exec_step_name(s), 0, "resolving: %s %s", exec_pstr(s->params, "fix"),
              exec_obj_name(&v, exec_pstr(s->params, "obj")));
    r = send_fix(s, s->params, exec_call_then_wait);
    if (r == 1)
        exec_wait_effect(s);
}

/* clean: pool_update.pool_clean of one uploaded update. */
void exec_send_clean(struct exec_step *s)
{
    if (exec_intent(s, NULL, false))
        return;
    if (!exec_pool_introduced(s->p, exec_pstr(s->params, "uuid"))) {
        /* in the pool before this rollout (another tool's): its image is not ours to remove */
        exec_step_done(s, json_pack("{s:b}", "not_ours", 1));
        return;
    }
    exec_acts_add(s, json_pack("{s:s, s:s}", "op", "clean", "uuid", exec_pstr(s->params, "uuid")),
                  0);
    exec_acts_next(s);
}

/* undo: replay the pool's undo list. */
void exec_send_undo(struct exec_step *s)
{
    if (exec_intent(s, NULL, false) == 0 && acts_load_undo(s) == 0)
        exec_acts_next(s);
}
