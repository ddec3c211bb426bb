/* SPDX-License-Identifier: MIT */
/*
 * exec_replan.c - the replan step: plan the pool again with the xapi precheck results (a
 * live-patched host needs no evacuation and no reboot) and append the host steps, the cleans
 * and the final undo to the journal; and once more at a pool's end when a live patch did not
 * take (a host applied without a reboot shows the update in updates_requiring_reboot): the
 * fixes that reboot needs, the host's evacuation, reboot and return, the undo.
 */
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec_drv.h"

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

/* What re-planning reads from the pool's journal: the precheck answers and the uploads. */
struct replan_in {
    struct store_step_list l;
    struct plan_precheck_result *pr;
    size_t npr;
    const char **uploads;
    size_t nup;
    json_t **keep; /* parsed params / results the strings above point into */
    size_t nkeep;
};

static void replan_in_cleanup(struct replan_in *in)
{
    for (size_t i = 0; i < in->nkeep; i++)
        json_decref(in->keep[i]);
    free(in->keep);
    free(in->pr);
    free(in->uploads);
    store_step_list_cleanup(&in->l);
}

static int replan_read(struct exec_pool *p, struct replan_in *in, struct err *e)
{
    if (store_steps_list(p->r->x->env.store, p->r->id, p->name, &in->l, e) != 0)
        return -1;
    in->pr = xcalloc(in->l.n + 1, sizeof(*in->pr));
    in->keep = xcalloc(2 * in->l.n + 1, sizeof(*in->keep));
    in->uploads = xcalloc(in->l.n + 1, sizeof(*in->uploads));
    for (size_t i = 0; i < in->l.n; i++) {
        struct store_step *st = &in->l.items[i];
        enum exec_kind k = exec_kind_by_name(st->kind)->kind;
        json_t *pj = json_loads(st->params_json, 0, NULL);
        in->keep[in->nkeep++] = pj;
        if (k == EXEC_K_UPLOAD)
            in->uploads[in->nup++] = exec_pstr(pj, "uuid");
        if (k == EXEC_K_PRECHECK && st->state == STORE_STEP_DONE) {
            json_t *rj = json_loads(st->result_json ? st->result_json : "{}", 0, NULL);
            in->keep[in->nkeep++] = rj;
            in->pr[in->npr].host_ref = st->host;
            in->pr[in->npr].update_uuid = exec_pstr(pj, "uuid");
            in->pr[in->npr].livepatch = lp_parse(exec_pstr(rj, "livepatch"));
            in->npr++;
        }
    }
    return 0;
}

/* The new plan is usable: no blocking check without a fix (the rollout halts before acting,
 * naming the fix it cannot make), no host needing an update this rollout did not upload; the
 * fixes it needs (Resolve All, as at the start: HA off, unmovable VMs suspended or shut down,
 * CDs ejected) into *res.  Otherwise the step fails and false is returned. */
static bool replan_usable(struct exec_step *s, const struct plan *pl, const struct replan_in *in,
                          struct plan_resolution *res)
{
    for (size_t i = 0; i < pl->n_checks; i++) {
        const struct plan_check *ck = &pl->checks[i];
        if (ck->severity != PLAN_SEV_BLOCKING || ck->fixable)
            continue;
        char m[600];
        snprintf(m, sizeof(m),
                 "after the prechecks the plan changed and needs a fix that cannot be made "
                 "automatically (%s): %s; halted before acting on any host",
                 ck->id, ck->message);
        exec_step_fail(s, ck->id, m);
        return false;
    }
    struct err e = {0};
    if (plan_resolve_all(pl, res, &e) != 0) {
        exec_step_fail(s, "PLAN_CHANGED", e.msg);
        return false;
    }
    for (size_t h = 0; h < pl->n_hosts; h++) {
        const struct plan_host *ph = &pl->hosts[h];
        for (size_t u = 0; ph->order >= 0 && !pl->cdn && u < ph->n_updates; u++) {
            bool found = false;
            for (size_t k = 0; k < in->nup; k++)
                found = found || str_eq_nocase(in->uploads[k], ph->updates[u]);
            if (!found) {
                char m[300];
                snprintf(m, sizeof(m),
                         "host %s now needs update %s, which this rollout did not upload; "
                         "cancel and start a new rollout",
                         ph->name, ph->updates[u]);
                exec_step_fail(s, "PLAN_CHANGED", m);
                return false;
            }
        }
    }
    return true;
}

/* Name the fixes a changed plan needs in one progress event ("turning HA off on pool p1, ..."). */
static void replan_announce(struct exec_step *s, const struct plan_resolution *res)
{
    if (res->n_fixes == 0)
        return;
    struct xapi_records v;
    xapi_records_from_client(&v, exec_pool_client(s->p));
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < res->n_fixes; i++)
        buf_printf(&b, "%s%s %s", i ? ", " : "", plan_fix_name(res->fixes[i].kind),
                   exec_obj_name(&v, res->fixes[i].obj_ref ? res->fixes[i].obj_ref : ""));
    exec_emit(s->p, NULL, exec_step_name(s), -1,
              "the plan changed after the %s (a host needs its reboot after all): "
              "resolving first, undone at the end: %s",
              json_is_true(json_object_get(s->params, "after_apply")) ? "apply" : "prechecks",
              buf_str(&b));
    buf_cleanup(&b);
}

/* Append the fixes the new plan needs, the host steps of pl, and journal the replan done with
 * the plan's totals. */
static void replan_append(struct exec_step *s, const struct plan *pl, const struct replan_in *in,
                          const struct plan_resolution *res)
{
    struct exec_pool *p = s->p;
    struct err e = {0};
    struct spec_list sl = {0};
    replan_announce(s, res);
    exec_steps_resolve(p->name, res, &sl);
    exec_steps_hosts(p->name, pl, in->uploads, in->nup, &sl);
    exec_upgrade_then_updates(s, pl, &sl); /* then the new version's updates, if asked */
    p->steps_ok = false;                   /* reloaded with the new steps by the next pump */
    int rc = store_steps_append(p->r->x->env.store, p->r->id, sl.items, sl.n, NULL, &e);
    exec_spec_list_cleanup(&sl);
    if (rc != 0) {
        exec_step_fail(s, "DB", e.msg);
        return;
    }
    const struct plan_totals *t = &pl->totals;
    exec_emit(p, NULL, exec_step_name(s), 100,
              "plan after prechecks: %zu hosts, %zu migrations, %zu reboots, %zu live-patched",
              t->hosts_updated, t->migrations, t->reboots, t->livepatched_hosts);
    exec_step_done(s,
                   json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:f}", "hosts",
                             (json_int_t)t->hosts_updated, "migrations", (json_int_t)t->migrations,
                             "reboots", (json_int_t)t->reboots, "livepatched",
                             (json_int_t)t->livepatched_hosts, "bound_migrations",
                             (json_int_t)t->bound_migrations, "bound_window_s", t->bound_window_s,
                             "batches", (json_int_t)t->batches, "window_s", t->window_s));
}

/* replan: plan again from the pool's inventory with the precheck answers (see exec_drv.h). */
void exec_send_replan(struct exec_step *s)
{
    if (exec_intent(s, NULL, false) || exec_upgrade_updates_wait(s))
        return; /* (the new version's updates after an upgrade: not yet, or none) */
    struct exec_pool *p = s->p;
    struct exec *x = p->r->x;
    struct err e = {0};
    struct replan_in in = {0};
    struct plan_resolution res = {0};
    struct inv_pool *inv = NULL;
    struct plan *pl = NULL;
    const char **sel = NULL, **hosts = NULL;
    if (replan_read(p, &in, &e) != 0) {
        exec_step_fail(s, "DB", e.msg);
        goto out;
    }
    struct plan_opts o;
    plan_opts_init(&o);
    exec_opts_from_json(json_object_get(s->params, "opts"), &o, &sel, &hosts);
    o.timing = x->env.timing;
    o.prechecks = in.pr;
    o.n_prechecks = in.npr;
    const struct catalog *cat = x->env.catalog_for ? x->env.catalog_for(x->env.ctx, p->name)
                                : x->env.catalog   ? x->env.catalog(x->env.ctx)
                                                   : NULL;
    if (cat && cat->source == CAT_SOURCE_CDN)
        o.max_parallel_hosts = 1; /* xapi applies one host at a time (engine.c pool_plan_opts) */
    inv = x->env.inventory ? x->env.inventory(x->env.ctx, p->name, &e) : NULL;
    if (!inv || (!cat && o.mode != PLAN_MODE_UPGRADE)) /* an upgrade needs no catalog */
        exec_step_fail(s, "TRANSPORT", inv ? "no update catalog" : e.msg);
    else if (plan_build(inv, cat, &o, &pl, &e) != 0)
        exec_step_fail(s, "PLAN", e.msg);
    else if (!exec_upgrade_updates_skip(s, pl) && replan_usable(s, pl, &in, &res))
        replan_append(s, pl, &in, &res);
out:
    plan_resolution_cleanup(&res);
    plan_free(pl);
    inv_pool_free(inv);
    free(sel);
    free(hosts);
    replan_in_cleanup(&in);
}

/* ---------------------------------------------------------------- a live patch that did not take
 */

/* True when the pool shows host (ref) still needing its reboot for update uuid. */
static bool reboot_needed_for(const struct xapi_records *v, const char *host, const char *uuid)
{
    const char *uref = NULL;
    const struct xapi_value *h = host ? v->get(v->ctx, "host", host) : NULL;
    if (!h || !exec_xv_update_by_uuid(v, uuid, &uref) || !uref)
        return false;
    const struct xapi_value *urr = xapi_struct_get(h, "updates_requiring_reboot");
    for (size_t i = 0; i < xapi_array_len(urr); i++)
        if (str_eq(xapi_value_str(xapi_array_get(urr, i)), uref))
            return true;
    return false;
}

/* The precheck of uuid on host answered ok_livepatch_complete: the plan counted on the live
 * patch (a reboot the plan left to the user, manual post-update tasks, is not this case). */
static bool lp_promised(const struct store_step_list *l, const char *host, const char *uuid)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct store_step *st = &l->items[i];
        if (st->state != STORE_STEP_DONE || !str_eq(st->kind, SK_PRECHECK) ||
            !str_eq(st->host, host))
            continue;
        json_t *pj = json_loads(st->params_json ? st->params_json : "{}", 0, NULL);
        json_t *rj = json_loads(st->result_json ? st->result_json : "{}", 0, NULL);
        bool yes = str_eq_nocase(exec_pstr(pj, "uuid"), uuid) &&
                   lp_parse(exec_pstr(rj, "livepatch")) == PLAN_LP_COMPLETE;
        json_decref(pj);
        json_decref(rj);
        if (yes)
            return true;
    }
    return false;
}

/* The host (ref, borrowed from l) of a done apply step that did not take as a live patch: the
 * pool shows its update requiring the host's reboot and no reboot of that host followed it in
 * this rollout.  NULL when none. */
static const char *live_patch_not_taken(const struct xapi_records *v,
                                        const struct store_step_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct store_step *st = &l->items[i];
        if (st->state != STORE_STEP_DONE || !str_eq(st->kind, SK_APPLY) || !st->host)
            continue;
        bool rebooted = false;
        for (size_t k = i + 1; k < l->n && !rebooted; k++)
            rebooted = str_eq(l->items[k].kind, SK_REBOOT) && str_eq(l->items[k].host, st->host);
        json_t *pj = json_loads(st->params_json ? st->params_json : "{}", 0, NULL);
        const char *uuid = exec_pstr(pj, "uuid");
        bool need =
            !rebooted && lp_promised(l, st->host, uuid) && reboot_needed_for(v, st->host, uuid);
        json_decref(pj);
        if (need)
            return st->host;
    }
    return NULL;
}

/* A live patch that did not take (see exec_drv.h). */
bool exec_replan_after_apply(struct exec_pool *p)
{
    if (p->r->upgrade || !p->steps_ok)
        return false;
    const struct store_step_list *l = &p->steps;
    json_t *opts = NULL;
    for (size_t i = 0; i < l->n; i++) {
        if (!str_eq(l->items[i].kind, SK_REPLAN))
            continue;
        json_t *pj = json_loads(l->items[i].params_json ? l->items[i].params_json : "{}", 0, NULL);
        bool again = json_is_true(json_object_get(pj, "after_apply"));
        if (!again && json_is_object(json_object_get(pj, "opts"))) {
            json_decref(opts);
            opts = json_incref(json_object_get(pj, "opts"));
        }
        json_decref(pj);
        if (again) { /* once per pool: a reboot still pending after it is a finding */
            json_decref(opts);
            return false;
        }
    }
    struct xapi_client *c = exec_pool_client(p);
    if (!opts || !c || !xapi_cache_ready(c)) {
        json_decref(opts);
        return false;
    }
    struct xapi_records v;
    xapi_records_from_client(&v, c);
    const char *host = live_patch_not_taken(&v, l);
    if (!host) {
        json_decref(opts);
        return false;
    }
    const char *name = exec_obj_name(&v, host);
    exec_emit(p, name, "apply", -1,
              "the live patch did not take on %s: it needs its reboot after all; planning it "
              "(the fixes the reboot needs first, undone at the end)",
              name);
    struct spec_list sl = {0};
    struct err e = {0};
    exec_spec_list_add(&sl, p->name, NULL, SK_REPLAN,
                       json_pack("{s:o, s:b}", "opts", opts, "after_apply", 1));
    p->steps_ok = false; /* reloaded with the new step by the next pump */
    if (store_steps_append(p->r->x->env.store, p->r->id, sl.items, sl.n, NULL, &e) != 0)
        log_error(LOGM, "%s: %s", p->r->id, e.msg);
    exec_spec_list_cleanup(&sl);
    exec_pool_dirty(p);
    return true;
}
