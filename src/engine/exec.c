/* SPDX-License-Identifier: MIT */
/*
 * exec.c - the rollout executor (exec.h): rollouts created, loaded from the journal, resumed,
 * retried, cancelled, and driven on each tick; a rollout's state from its pools'.  The pools'
 * steps are driven by exec_pump.c with the kind table of exec_kinds.c; exec_drv.h maps the files.
 * Progress lives in the journal; memory keeps only what is in flight.  docs/engine.md has the
 * rules.
 */
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec_drv.h"
#include "xapi/upload.h"

/* ---------------------------------------------------------------- rollouts */

void exec_pool_dirty(struct exec_pool *p)
{
    p->dirty = true;
}

void exec_run_update_state(struct exec_run *r)
{
    struct exec *x = r->x;
    size_t done = 0, halted = 0, cancelled = 0, cfailed = 0;
    struct buf left;
    buf_init(&left);
    for (size_t i = 0; i < r->n_pools; i++) {
        const struct exec_pool *p = &r->pools[i];
        done += p->st == EXEC_XP_DONE;
        halted += p->st == EXEC_XP_HALTED && !p->active && p->halt_verified;
        cancelled += p->st == EXEC_XP_CANCELLED;
        cfailed += p->st == EXEC_XP_CANCEL_FAILED;
        if (p->st == EXEC_XP_CANCEL_FAILED)
            buf_printf(&left, "%spool %s: %s", left.len ? "; " : "", p->name,
                       p->left ? p->left : "not verified");
    }
    enum store_rollout_state want = r->st;
    const char *err = NULL;
    char *cf_err = NULL;
    if (r->st == STORE_ROLLOUT_CANCELLING && cancelled + cfailed == r->n_pools) {
        want = cfailed ? STORE_ROLLOUT_CANCEL_FAILED : STORE_ROLLOUT_CANCELLED;
        if (cfailed)
            err = cf_err = xasprintf("the cancel could not restore everything (%s): deal with "
                                     "the cause, then retry the cancel",
                                     buf_str(&left));
    } else if (r->st == STORE_ROLLOUT_RUNNING && done == r->n_pools)
        want = STORE_ROLLOUT_DONE;
    else if (r->st == STORE_ROLLOUT_RUNNING && halted > 0 && done + halted == r->n_pools) {
        want = STORE_ROLLOUT_HALTED;
        err = "a pool halted at a failed step: Retry continues from it, Cancel reverts";
    }
    buf_cleanup(&left);
    if (want == r->st) {
        free(cf_err);
        return;
    }
    struct err e = {0};
    if (store_rollout_set_state(x->env.store, r->id, want, err, &e) != 0)
        log_error(LOGM, "%s: state: %s", r->id, e.msg);
    free(cf_err);
    r->st = want;
    if (x->env.emit)
        x->env.emit(x->env.ctx, r->id, NULL, NULL, "rollout", want == STORE_ROLLOUT_DONE ? 100 : -1,
                    store_rollout_state_name(want));
}

static struct exec_run *run_find(struct exec *x, const char *id)
{
    for (struct exec_run *r = x->runs; r; r = r->next)
        if (str_eq(r->id, id))
            return r;
    return NULL;
}

/* True when a step of the pool is failed. */
static bool pool_failed(const struct store_step_list *l, const char *pool)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].state == STORE_STEP_FAILED && str_eq(l->items[i].pool, pool))
            return true;
    return false;
}

/* Load a rollout from the journal into memory (pools from its steps). */
static struct exec_run *run_load(struct exec *x, const char *id, struct err *e)
{
    struct exec_run *r = run_find(x, id);
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
    r->upgrade = exec_plan_is_upgrade(ro.plan_json);
    r->pools = xcalloc(l.n + 1, sizeof(*r->pools));
    for (size_t i = 0; i < l.n; i++) {
        bool known = false;
        for (size_t k = 0; k < r->n_pools; k++)
            known = known || str_eq(r->pools[k].name, l.items[i].pool);
        if (known)
            continue;
        struct exec_pool *p = &r->pools[r->n_pools++];
        p->r = r;
        p->dirty = true;
        p->name = xstrdup(l.items[i].pool);
    }
    for (size_t k = 0; k < r->n_pools; k++) {
        struct exec_pool *p = &r->pools[k];
        struct store_step first = {0};
        int fr = store_step_first_unfinished(x->env.store, id, p->name, &first, NULL);
        switch (ro.state) {
        case STORE_ROLLOUT_CANCELLING:
            p->st = EXEC_XP_CANCEL;
            break;
        case STORE_ROLLOUT_CANCELLED:
            p->st = EXEC_XP_CANCELLED;
            break;
        case STORE_ROLLOUT_CANCEL_FAILED:
            p->st = EXEC_XP_CANCEL_FAILED;
            break;
        case STORE_ROLLOUT_DONE:
        case STORE_ROLLOUT_FAILED:
            p->st = EXEC_XP_DONE;
            break;
        default:
            /* a failed step anywhere keeps the pool halted, also behind a lane that was still
             * running at the restart: only Retry sends it again */
            p->st = fr == PP_ENOTFOUND         ? EXEC_XP_DONE
                    : pool_failed(&l, p->name) ? EXEC_XP_HALTED
                                               : EXEC_XP_RUN;
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
        struct exec_run *r = x->runs;
        x->runs = r->next;
        for (size_t i = 0; i < r->n_pools; i++) {
            struct exec_pool *p = &r->pools[i];
            while (p->active) {
                struct exec_step *s = p->active;
                p->active = s->next;
                s->p = NULL;
                if (s->up) {
                    xapi_upload_cancel(s->up);
                    s->up = NULL;
                }
                if (!s->op)
                    exec_step_free(s);
            }
            exec_window_orphan(p);
            exec_steps_drop(p);
            json_decref(p->before);
            free(p->left);
            free(p->lost_msg);
            free(p->name);
        }
        json_decref(r->pred);
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
    for (struct exec_run *r = x->runs; r; r = r->next) {
        if (r->st != STORE_ROLLOUT_RUNNING && r->st != STORE_ROLLOUT_HALTED &&
            r->st != STORE_ROLLOUT_CANCELLING && r->st != STORE_ROLLOUT_PLANNED &&
            r->st != STORE_ROLLOUT_CANCEL_FAILED)
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
    bool upgrade = req->pools[0].opts && req->pools[0].opts->mode == PLAN_MODE_UPGRADE;
    if (!cat0 && !x->env.catalog_for && !upgrade)
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
        rc = cat || upgrade
                 ? plan_build(inv, cat, &o, &pl, e) /* an upgrade needs none */
                 : err_set(e, PP_ESTATE, "no update catalog yet: check for updates first");
        if (rc == 0 && !plan_can_resolve(pl)) {
            struct buf b;
            buf_init(&b);
            for (size_t k = 0; k < pl->n_checks; k++)
                if (pl->checks[k].severity == PLAN_SEV_BLOCKING && !pl->checks[k].fixable)
                    buf_printf(&b, "%s%s", b.len ? "; " : "", pl->checks[k].message);
            rc = err_set(e, PP_ESTATE, "pool %s cannot be %s: %s", pn,
                         upgrade ? "upgraded" : "updated", buf_str(&b));
            buf_cleanup(&b);
        }
        struct plan_resolution res = {0};
        if (rc == 0)
            rc = plan_resolve_all(pl, &res, e);
        if (rc == 0 && pl->totals.hosts_updated == 0 && pl->n_uploads == 0)
            log_info(LOGM, "pool %s: nothing to update", pn);
        if (rc == 0) {
            json_t *oj = exec_opts_to_json(&o);
            if (upgrade) /* the files of the new version's legacy updates, if chained */
                exec_upgrade_files(oj, inv, cat ? cat : cat0, &o, file_for, &fc);
            rc = exec_steps_initial(pn, pl, &res, file_for, &fc, oj, &sl, e);
        }
        if (rc == 0) {
            json_t *pj = plan_to_json(pl);
            json_object_set_new(pj, "pool", json_string(pn));
            /* what the rollout must give back, checked when the pool's work ends */
            struct xapi_records v;
            xapi_records_from_client(&v, x->env.client_for(x->env.ctx, pn));
            json_object_set_new(pj, "before", exec_before_snapshot(&v));
            json_array_append_new(plans, pj);
        }
        plan_resolution_cleanup(&res);
        plan_free(pl);
        inv_pool_free(inv);
    }
    if (rc == 0) {
        json_t *doc = json_pack("{s:o}", "pools", json_incref(plans));
        char *pj = exec_dumps(doc);
        json_decref(doc);
        struct store_rollout_spec rs = {.plan_json = pj, .policy = policy};
        rc = store_rollout_create(x->env.store, &rs, sl.items, sl.n, id, e);
        free(pj);
    }
    json_decref(plans);
    exec_spec_list_cleanup(&sl);
    if (rc != 0)
        return rc;
    rc = store_rollout_set_state(x->env.store, *id, STORE_ROLLOUT_RUNNING, NULL, e);
    if (rc != 0)
        return rc;
    struct exec_run *r = run_load(x, *id, e);
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
                               STORE_ROLLOUT_BIT(STORE_ROLLOUT_PLANNED) |
                               STORE_ROLLOUT_BIT(STORE_ROLLOUT_CANCEL_FAILED),
                           0, &l, e);
    if (rc)
        return rc;
    for (size_t i = 0; i < l.n; i++) {
        struct exec_run *r = run_load(x, l.items[i].id, e);
        if (!r) {
            rc = e && e->code ? e->code : PP_EDB;
            continue;
        }
        if (r->st == STORE_ROLLOUT_PLANNED &&
            store_rollout_set_state(x->env.store, r->id, STORE_ROLLOUT_RUNNING, NULL, e) == 0)
            r->st = STORE_ROLLOUT_RUNNING;
        log_info(LOGM, "resuming rollout %s (%s)", r->id, store_rollout_state_name(r->st));
        if (r->st == STORE_ROLLOUT_RUNNING)
            exec_run_update_state(r);
    }
    store_rollout_list_cleanup(&l);
    return rc;
}

/* Retry (see exec.h). */
int exec_rollout_retry(struct exec *x, const char *id, struct err *e)
{
    struct exec_run *r = run_load(x, id, e);
    if (!r)
        return e && e->code ? e->code : PP_ENOTFOUND;
    if (r->st == STORE_ROLLOUT_CANCEL_FAILED)
        return exec_rollout_cancel(x, id, e); /* Retry of the cancel */
    if (r->st != STORE_ROLLOUT_HALTED && r->st != STORE_ROLLOUT_RUNNING)
        return err_set(e, PP_ESTATE,
                       "rollout %s is %s: only a halted rollout (or one whose cancel failed) "
                       "can be retried",
                       id, store_rollout_state_name(r->st));
    bool any = false;
    for (size_t i = 0; i < r->n_pools; i++) {
        if (r->pools[i].st == EXEC_XP_HALTED && !r->pools[i].active) {
            r->pools[i].st = EXEC_XP_RUN;
            r->pools[i].dirty = true;
            r->pools[i].halt_verified = false;
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
    struct exec_run *r = run_load(x, id, e);
    if (!r)
        return e && e->code ? e->code : PP_ENOTFOUND;
    if (r->st == STORE_ROLLOUT_CANCELLING)
        return 0;
    bool again = r->st == STORE_ROLLOUT_CANCEL_FAILED;
    if (r->st != STORE_ROLLOUT_RUNNING && r->st != STORE_ROLLOUT_HALTED &&
        r->st != STORE_ROLLOUT_PLANNED && !again)
        return err_set(e, PP_ESTATE, "rollout %s is %s: it cannot be cancelled", id,
                       store_rollout_state_name(r->st));
    int rc = store_rollout_set_state(x->env.store, id, STORE_ROLLOUT_CANCELLING, NULL, e);
    if (rc)
        return rc;
    r->st = STORE_ROLLOUT_CANCELLING;
    for (size_t i = 0; i < r->n_pools; i++) {
        struct exec_pool *p = &r->pools[i];
        if (again && p->st == EXEC_XP_CANCELLED)
            continue; /* Retry of the cancel: only the pools where something is left */
        p->st = EXEC_XP_CANCEL;
        p->cancel_started = false;
        p->dirty = true;
        struct exec_step *next;
        for (struct exec_step *s = p->active; s; s = next) {
            next = s->next;
            if (s->up) {
                xapi_upload_cancel(s->up);
                s->up = NULL;
                exec_step_fail(s, "CANCELLED", "cancelled");
            } else if (s->op && s->seq > 0 && s->op != s->let_end) {
                xapi_op_cancel(s->op); /* what is let end finishes by itself (exec_drv.h) */
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
    exec_gate_tick(x); /* health gates whose hook ended */
    /* Synchronous progress (effects found already there) makes pools dirty again: keep
     * pumping until nothing moves, so no turn of the loop (nor virtual time) is wasted. */
    for (int round = 0; round < 1000; round++) {
        bool any = false;
        for (struct exec_run *r = x->runs; r; r = r->next) {
            for (size_t i = 0; i < r->n_pools; i++) {
                struct exec_pool *p = &r->pools[i];
                if (round == 0)
                    exec_watch_master(p);
                if (!p->dirty && !p->waiting_client)
                    continue;
                p->dirty = false;
                exec_pump_pool(p);
                any = any || p->dirty;
            }
            exec_run_update_state(r);
        }
        if (!any)
            break;
    }
}

/* Busy (see exec.h). */
bool exec_busy(const struct exec *x)
{
    for (const struct exec_run *r = x->runs; r; r = r->next)
        if (r->st == STORE_ROLLOUT_RUNNING || r->st == STORE_ROLLOUT_CANCELLING)
            return true;
    return false;
}

/* The executor's store (exec_int.h); borrowed. */
struct store *exec_store(struct exec *x)
{
    return x->env.store;
}
