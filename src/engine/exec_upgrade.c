/* SPDX-License-Identifier: MIT */
/*
 * exec_upgrade.c - the executor's rolling pool upgrade steps (docs/upgrade.md):
 *
 *   upgrade  automatic: the host plugin prepare_host_upgrade.py (testUrl, getVersion — the
 *            media must be the version asked for —, main, which must answer "true"), then
 *            host.reboot into the installer; manual: the operator boots the host from media.
 *            Done when the host is live on the target version with its PBDs plugged and, for
 *            the master, every supporter is live again (the pool left emergency mode).
 *   restore  the VMs Resolve All suspended / shut down on a host, resumed / started on it once
 *            it is upgraded (seed steps 5 and 10), CDs inserted again; items of the pool's undo
 *            list, marked replayed so the final undo skips them.
 *
 * A supporter whose upgrade fails (or that comes back on its old version) is left out: the
 * step and the host's later steps are journaled skipped with the recovery the seed names
 * (host-forget, reinstall, pool-join) and the pool goes on; the master's failure halts the pool
 * with "restore the master" (never continue).  Engine thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "catalog/catalog.h"
#include "engine/exec_drv.h"

#define PLUGIN "prepare_host_upgrade.py"

static const char *pstr(const json_t *params, const char *key)
{
    const char *s = json_string_value(json_object_get(params, key));
    return s ? s : "";
}

static const char *host_version(const struct xapi_records *v, const char *host)
{
    const struct xapi_value *h = host ? v->get(v->ctx, "host", host) : NULL;
    return h ? xapi_struct_str(xapi_struct_get(h, "software_version"), "product_version", "") : "";
}

static bool on_target(const struct xapi_records *v, const char *host, const json_t *params)
{
    const char *to = pstr(params, "to");
    return *to && cat_version_cmp(host_version(v, host), to) >= 0;
}

struct rejoin_ctx {
    const struct xapi_records *v;
    const char *master;
    double since; /* the master's agent_start_time */
    bool all;
};

static bool rejoined_fn(void *c, const char *ref, const struct xapi_value *rec)
{
    (void)rec;
    struct rejoin_ctx *r = c;
    if (str_eq(ref, r->master))
        return true;
    r->all = exec_xv_host_live(r->v, ref) &&
             strtod(exec_xv_host_oc(r->v, ref, "agent_start_time"), NULL) >= r->since;
    return r->all;
}

/* Every supporter rejoined the master after its return (the pool left emergency mode): live,
 * and its xapi (re)started since the master's (a supporter in emergency mode restarts its xapi
 * until it joins, which rewrites other_config:agent_start_time; xapi marks a silent one not
 * live only after host_assumed_dead_interval, db_gc.ml). */
static bool supporters_rejoined(const struct xapi_records *v, const char *master)
{
    struct rejoin_ctx r = {v, master, strtod(exec_xv_host_oc(v, master, "agent_start_time"), NULL),
                           true};
    v->foreach (v->ctx, "host", rejoined_fn, &r);
    return r.all;
}

/* Back from a reboot (boot_time changed), live, and still on the old version. */
static bool back_old(const struct xapi_records *v, const char *host, const json_t *params)
{
    const char *before = pstr(params, "boot_before");
    return json_object_get(params, "boot_before") && exec_xv_host_live(v, host) &&
           !str_eq(exec_xv_host_oc(v, host, "boot_time"), before) && !on_target(v, host, params);
}

/* The upgrade's resume rule (exec_int.h's derive). */
enum derive exec_upgrade_derive(const struct xapi_records *v, const char *host,
                                const json_t *params, bool later)
{
    (void)later;
    if (on_target(v, host, params) && exec_xv_host_live(v, host)) {
        if (!exec_xv_host_pbds_plugged(v, host))
            return DERIVE_WAIT;
        /* the master is back: the supporters leave emergency mode by themselves */
        return json_is_true(json_object_get(params, "master")) && !supporters_rejoined(v, host)
                   ? DERIVE_WAIT
                   : DERIVE_DONE;
    }
    if (on_target(v, host, params))
        return DERIVE_WAIT; /* back on the new version, not live yet */
    if (!json_object_get(params, "boot_before"))
        return DERIVE_RESEND; /* never sent */
    if (!exec_xv_host_live(v, host) || back_old(v, host, params))
        return DERIVE_WAIT; /* in the installer; or back old, which the wait reports */
    /* live with the old boot_time: the reboot never took (the master marks a host not live at
     * once when it accepts one) — send it again; manual mode waits for the operator */
    return json_is_true(json_object_get(params, "manual")) ? DERIVE_WAIT : DERIVE_RESEND;
}

/* The upgrade's failure while waiting: the host is back on its old version. */
const char *exec_upgrade_wrong(const struct xapi_records *v, const char *host, const json_t *params)
{
    /* manual mode: the operator may boot the media again (reboot) or skip the host */
    if (json_is_true(json_object_get(params, "manual")))
        return NULL;
    return back_old(v, host, params) ? "UPGRADE_OLD_VERSION" : NULL;
}

/* ---------------------------------------------------------------- upgrade: sending */

static void plugin_call(struct exec_step *s, const char *fn, xapi_done_fn done)
{
    struct xapi_value *args = xapi_value_new_struct();
    xapi_struct_set_string(args, "url", pstr(s->params, "url"));
    struct xapi_value *pa = exec_params_v(3, s->host, PLUGIN, fn);
    xapi_array_append_take(pa, args);
    exec_send_call(s, "host.call_plugin", pa, false, done);
}

/* A plugin call's error: no answer -> read the pool and decide again; else the step fails. */
static bool plugin_failed(struct exec_step *s, int rc, const struct err *e)
{
    if (rc == 0)
        return false;
    str_lcpy(s->last_err, e && e->msg[0] ? e->msg : "plugin call failed", sizeof(s->last_err));
    if (rc == PP_ETRANSPORT || rc == PP_ETIMEOUT)
        exec_settle_wait(s, EXEC_SETTLE_READ);
    else
        exec_step_fail_err(s, rc, e);
    return true;
}

static void main_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s) || plugin_failed(s, rc, e))
        return;
    const char *ans = xapi_value_str(res);
    if (!ans || !str_eq(ans, "true")) {
        exec_step_fail(s, "UPGRADE_PREPARE_FAILED",
                       "prepare_host_upgrade main did not answer true");
        return;
    }
    exec_emit(s->p, exec_host_label(s), exec_step_name(s), 20,
              "%s prepared; rebooting it into the installer of %s", exec_host_label(s),
              pstr(s->params, "to"));
    exec_send_call(s, "host.reboot", exec_params_v(1, s->host), false, exec_call_then_wait);
}

static void version_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s) || plugin_failed(s, rc, e))
        return;
    json_t *j = json_loads(xapi_value_str(res) ? xapi_value_str(res) : "", 0, NULL);
    const char *pv = pstr(j, "product-version"), *to = pstr(s->params, "to");
    if (!*pv || cat_version_cmp(pv, to) != 0) {
        char m[256];
        snprintf(m, sizeof m, "the media at %s is version %s, not %s", pstr(s->params, "url"),
                 *pv ? pv : "(unknown)", to);
        json_decref(j);
        exec_step_fail(s, "UPGRADE_WRONG_VERSION", m);
        return;
    }
    json_decref(j);
    plugin_call(s, "main", main_done);
}

static void test_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s) || plugin_failed(s, rc, e))
        return;
    plugin_call(s, "getVersion", version_done);
}

/* upgrade: record the boot time, then prepare and reboot (automatic) or wait (manual). */
void exec_send_upgrade(struct exec_step *s)
{
    struct xapi_records v;
    xapi_records_from_client(&v, exec_pool_client(s->p));
    json_object_set_new(s->params, "boot_before",
                        json_string(exec_xv_host_oc(&v, s->host, "boot_time")));
    if (exec_intent(s, NULL, true))
        return;
    const char *to = pstr(s->params, "to");
    if (json_is_true(json_object_get(s->params, "master")))
        exec_emit(s->p, exec_host_label(s), exec_step_name(s), 0,
                  "upgrading the master %s to %s: the other hosts are in emergency mode until "
                  "it is back (expected, not an error)",
                  exec_host_label(s), to);
    if (json_is_true(json_object_get(s->params, "manual"))) {
        exec_emit(s->p, exec_host_label(s), exec_step_name(s), 0,
                  "boot %s from the installation media of %s and choose the upgrade; waiting "
                  "for it to come back on %s (reboot again or skip: poolpatch upgrade-host)",
                  exec_host_label(s), to, to);
        exec_wait_effect(s);
        return;
    }
    exec_emit(s->p, exec_host_label(s), exec_step_name(s), 0,
              "preparing %s for the upgrade to %s from %s", exec_host_label(s), to,
              pstr(s->params, "url"));
    plugin_call(s, "testUrl", test_done);
}

/* ---------------------------------------------------------------- restore */

/* A VM Resolve All suspended / shut down on host (its undo resumes / starts it there), or NULL. */
static const char *restored_vm(const json_t *u, const char *host)
{
    const char *f = pstr(u, "fix");
    if ((str_eq(f, "resume_vm") || str_eq(f, "start_vm")) && str_eq(pstr(u, "arg"), host))
        return pstr(u, "obj");
    return NULL;
}

/* restore: the undo items of the VMs resolved on the host (resume / start, then their CDs),
 * replayed now; each marked replayed, so the final undo skips it. */
void exec_send_restore(struct exec_step *s)
{
    if (exec_intent(s, NULL, false))
        return;
    struct store_step_list ul = {0};
    struct err e = {0};
    struct exec *x = s->p->r->x;
    if (store_undo_list(x->env.store, s->p->r->id, s->p->name, &ul, &e) != 0) {
        exec_step_fail(s, "DB", e.msg);
        return;
    }
    json_t **items = xcalloc(ul.n + 1, sizeof(*items));
    json_t *vms = json_array();
    for (size_t i = 0; i < ul.n; i++) {
        items[i] = json_loads(ul.items[i].undo_json ? ul.items[i].undo_json : "", 0, NULL);
        const char *vm = json_is_object(items[i]) ? restored_vm(items[i], s->host) : NULL;
        if (vm)
            json_array_append_new(vms, json_string(vm));
    }
    for (size_t i = 0; i < ul.n; i++) {
        bool mine = false;
        size_t k;
        json_t *it;
        json_array_foreach(vms, k, it) mine =
            mine ||
            (json_is_object(items[i]) && str_eq(json_string_value(it), pstr(items[i], "obj")) &&
             (restored_vm(items[i], s->host) || str_eq(pstr(items[i], "fix"), "insert_cd")));
        if (mine)
            exec_acts_add(s, items[i], ul.items[i].seq);
        else
            json_decref(items[i]);
    }
    free(items);
    store_step_list_cleanup(&ul);
    if (json_array_size(vms))
        exec_emit(s->p, exec_host_label(s), exec_step_name(s), 0,
                  "resuming / starting %zu VM%s on %s", json_array_size(vms),
                  json_array_size(vms) == 1 ? "" : "s", exec_host_label(s));
    json_decref(vms);
    exec_acts_next(s);
}

/* The restore's resume rule: always run (each item is skipped when its effect is there). */
enum derive exec_restore_derive(const struct xapi_records *v, const char *host,
                                const json_t *params, bool later)
{
    (void)v, (void)host, (void)params, (void)later;
    return DERIVE_RESEND;
}

/* ---------------------------------------------------------------- failures */

/* See exec_drv.h. */
bool exec_plan_is_upgrade(const char *plan_json)
{
    json_t *j = plan_json ? json_loads(plan_json, 0, NULL) : NULL;
    const char *mode = pstr(json_array_get(json_object_get(j, "pools"), 0), "mode");
    bool up = str_eq(mode, "upgrade");
    json_decref(j);
    return up;
}

/* See exec_drv.h. */
const char *exec_step_explain(const struct exec_step *s, const char *code)
{
    if (s->def->kind == EXEC_K_UPGRADE && json_is_true(json_object_get(s->params, "master")))
        return "The master's upgrade failed or was interrupted: do not continue the upgrade. "
               "Restore the master to a working version (reboot it; if it does not start, "
               "reinstall its old version and restore the pool database from a backup), then "
               "Retry, or Cancel to restore the VMs and settings.";
    return exec_explain(code);
}

/* ---------------------------------------------------------------- leaving a supporter out */

/* The recovery the seed names for a supporter whose upgrade failed. */
static char *recovery_text(const char *host)
{
    return xasprintf("Host %s is left out of the upgrade; the other hosts go on. To recover "
                     "it: forget it (poolpatch host forget POOL %s, xe host-forget), "
                     "reinstall the new version on it, then join it to the pool as a new host "
                     "(xe pool-join).",
                     host, host);
}

/* See exec_drv.h. */
bool exec_upgrade_leave_out(struct exec_step *s, const char *code, const char *msg)
{
    if (s->seq <= 0 || s->def->kind != EXEC_K_UPGRADE ||
        json_is_true(json_object_get(s->params, "master")))
        return false;
    struct exec_pool *p = s->p;
    struct store *st = p->r->x->env.store;
    struct err e = {0};
    char *rec = recovery_text(exec_host_label(s));
    if (json_is_true(json_object_get(s->params, "skip"))) {
        code = "UPGRADE_SKIPPED";
        msg = "skipped by the operator";
    }
    json_t *why =
        json_pack("{s:s, s:s, s:s, s:b, s:s}", "code", code ? code : "", "message", msg ? msg : "",
                  "explanation", exec_explain(code), "left_out", 1, "recovery", rec);
    char *txt = exec_dumps(why);
    json_decref(why);
    if (store_journal_skip(st, p->r->id, s->seq, txt, &e) != 0)
        log_error(LOGM, "%s: skip: %s", p->r->id, e.msg);
    exec_steps_refresh(p, s->seq);
    free(txt);
    struct store_step_list l = {0};
    if (store_steps_list(st, p->r->id, p->name, &l, &e) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            if (l.items[i].seq <= s->seq || !str_eq(l.items[i].host, s->host) ||
                !exec_step_unfinished(&l.items[i]))
                continue;
            if (store_journal_skip(st, p->r->id, l.items[i].seq, "host left out of the upgrade",
                                   &e) != 0)
                log_error(LOGM, "%s: skip: %s", p->r->id, e.msg);
            exec_steps_refresh(p, l.items[i].seq); /* in place: a pump may hold the cache */
        }
    }
    store_step_list_cleanup(&l);
    exec_emit(p, exec_host_label(s), exec_step_name(s), -1, "%s", rec);
    free(rec);
    return true;
}

/* ---------------------------------------------------------------- reboot again / skip */

static void reboot_sent(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)ctx, (void)res;
    if (rc != 0)
        log_warn(LOGM, "reboot again: %s", e ? e->msg : "failed");
}

static struct exec_step *upgrade_step(struct exec *x, const char *id, const char *host)
{
    for (struct exec_run *r = x->runs; r; r = r->next) {
        if (!str_eq(r->id, id))
            continue;
        for (size_t i = 0; i < r->n_pools; i++)
            for (struct exec_step *s = r->pools[i].active; s; s = s->next)
                if (s->def->kind == EXEC_K_UPGRADE &&
                    (str_eq(s->host, host) || str_eq(pstr(s->params, "host_name"), host)))
                    return s;
    }
    return NULL;
}

/* See exec.h. */
int exec_upgrade_host(struct exec *x, const char *id, const char *host, const char *action,
                      struct err *e)
{
    struct exec_step *s = upgrade_step(x, id, host);
    if (!s)
        return err_set(e, PP_ENOTFOUND, "rollout %s is not upgrading host %s now", id, host);
    if (str_eq(action, "reboot")) {
        exec_emit(s->p, exec_host_label(s), exec_step_name(s), -1,
                  "rebooting %s again, as asked: boot it from the installation media", host);
        return xapi_call_async(exec_pool_client(s->p), "host.reboot", exec_params_v(1, s->host),
                               NULL, reboot_sent, NULL, NULL, e);
    }
    if (!str_eq(action, "skip"))
        return err_set(e, PP_EINVAL, "action: '%s' is not reboot or skip", action);
    if (json_is_true(json_object_get(s->params, "master")))
        return err_set(e, PP_ESTATE,
                       "%s is the master: skipping it would leave the pool without it; restore "
                       "it, or cancel the upgrade",
                       host);
    if (!s->op)
        return err_set(e, PP_ESTATE, "host %s is between two calls: try again", host);
    json_object_set_new(s->params, "skip", json_true());
    xapi_op_cancel(s->op); /* the wait ends: the step fails, skipped, and the host is left out */
    return 0;
}

/* ---------------------------------------------------------------- HA while a host is left out */

struct mixed_ctx {
    const struct xapi_records *v;
    const char *pv; /* the master's platform_version */
    char names[256];
};

static bool mixed_fn(void *c, const char *ref, const struct xapi_value *rec)
{
    struct mixed_ctx *m = c;
    (void)ref;
    const struct xapi_value *sw = xapi_struct_get(rec, "software_version");
    if (str_eq(xapi_struct_str(sw, "platform_version", ""), m->pv))
        return true;
    size_t n = strlen(m->names);
    snprintf(m->names + n, sizeof m->names - n, "%s%s (%s)", n ? ", " : "",
             xapi_struct_str(rec, "name_label", ref), xapi_struct_str(sw, "product_version", "?"));
    return true;
}

/* The names (and versions) of the pool's hosts on another platform version than its master, in
 * m->names ("" when none). */
static void mixed_hosts(struct xapi_client *c, struct xapi_records *v, struct mixed_ctx *m)
{
    const char *pref = NULL;
    xapi_records_from_client(v, c);
    const struct xapi_value *pool = exec_xv_pool(v, &pref);
    const struct xapi_value *mh =
        pool ? v->get(v->ctx, "host", xapi_struct_str(pool, "master", "")) : NULL;
    m->v = v;
    m->pv =
        mh ? xapi_struct_str(xapi_struct_get(mh, "software_version"), "platform_version", "") : "";
    m->names[0] = '\0';
    v->foreach (v->ctx, "host", mixed_fn, m);
}

/* See exec_drv.h.  xapi_pool.ml enable_ha refuses NOT_SUPPORTED_DURING_UPGRADE while any host
 * of the pool's database runs another platform version than the master
 * (Helpers.pool_has_different_host_platform_versions): with a supporter left out on its old
 * version HA cannot come back until that host leaves the pool (host forget) or is upgraded. */
bool exec_upgrade_ha_defer(struct exec_step *s, const struct err *e)
{
    const struct exec_action *a = &s->acts[s->i_act];
    if (s->seq <= 0 || !e || !str_eq(e->xapi_code, "NOT_SUPPORTED_DURING_UPGRADE") ||
        !str_eq(pstr(a->a, "fix"), "enable_ha"))
        return false;
    struct xapi_records v;
    struct xapi_client *c = exec_pool_client(s->p);
    struct mixed_ctx m = {&v, "", ""};
    if (c)
        mixed_hosts(c, &v, &m);
    exec_emit(s->p, NULL, exec_step_name(s), -1,
              "HA stays off for now: xapi refuses pool.enable_ha while the pool's hosts run "
              "different versions (%s). poolpatch turns it back on when that host is forgotten "
              "(poolpatch host forget %s HOST) or upgraded (poolpatch upgrade %s again)",
              m.names[0] ? m.names : "a host left out", s->p->name, s->p->name);
    s->i_act++; /* the item stays in the undo list, not replayed */
    s->tries = 0;
    exec_acts_next(s);
    return true;
}

struct ha_job {
    struct exec *x;
    char *rollout, *pool;
    int64_t seq;
};

static void ha_restored(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    struct ha_job *j = ctx;
    struct err se = {0};
    if (rc != 0)
        log_warn(LOGM, "pool %s: HA still off (rollout %s): %s", j->pool, j->rollout,
                 e && e->msg[0] ? e->msg : err_code_name(rc));
    else if (store_undo_mark_done(j->x->env.store, j->rollout, j->seq, &se) != 0)
        log_error(LOGM, "%s: undo mark: %s", j->rollout, se.msg);
    else
        log_info(LOGM, "pool %s: HA turned back on (rollout %s)", j->pool, j->rollout);
    free(j->rollout);
    free(j->pool);
    free(j);
}

/* The newest pending enable_ha undo item of pool's finished rollouts, sent.  0 when sent or
 * none is pending. */
static int ha_send_pending(struct exec *x, struct xapi_client *c, const char *pool,
                           const struct store_rollout_list *rl, struct err *e)
{
    int rc = 0;
    for (size_t i = 0; i < rl->n; i++) {
        struct store_step_list ul = {0};
        if (store_undo_list(x->env.store, rl->items[i].id, pool, &ul, e) != 0)
            return e->code;
        for (size_t k = 0; k < ul.n; k++) {
            json_t *u = json_loads(ul.items[k].undo_json ? ul.items[k].undo_json : "", 0, NULL);
            if (str_eq(pstr(u, "fix"), "enable_ha")) {
                struct ha_job *j = xcalloc(1, sizeof(*j));
                *j = (struct ha_job){x, xstrdup(rl->items[i].id), xstrdup(pool), ul.items[k].seq};
                struct xapi_value *pa = xapi_value_new_array(), *srs = xapi_value_new_array();
                json_t *js = json_object_get(u, "heartbeat_srs");
                for (size_t n = 0; n < json_array_size(js); n++)
                    xapi_array_append_string(srs, json_string_value(json_array_get(js, n)));
                xapi_array_append_take(pa, srs);
                json_t *cfg = json_object_get(u, "configuration");
                struct xapi_value *cv = cfg ? xapi_value_from_json(cfg) : NULL;
                xapi_array_append_take(pa, cv ? cv : xapi_value_new_struct());
                rc = xapi_call_async(c, "pool.enable_ha", pa, NULL, ha_restored, j, NULL, e);
                if (rc != 0)
                    ha_restored(j, rc, NULL, e);
                json_decref(u);
                store_step_list_cleanup(&ul);
                return rc;
            }
            json_decref(u);
        }
        store_step_list_cleanup(&ul);
    }
    return 0;
}

/* See exec_drv.h. */
void exec_upgrade_pool_done(struct exec_pool *p)
{
    struct exec *x = p->r->x;
    struct xapi_client *c = exec_pool_client(p);
    struct xapi_records v;
    struct mixed_ctx m = {0};
    struct err e = {0};
    if (!c)
        return;
    mixed_hosts(c, &v, &m);
    if (m.names[0]) /* still mixed: xapi would refuse it (NOT_SUPPORTED_DURING_UPGRADE) */
        return;
    if (exec_upgrade_ha_after_forget(x, p->name, &e) != 0)
        log_warn(LOGM, "pool %s: HA restore: %s", p->name, e.msg);
}

/* See exec.h. */
int exec_upgrade_ha_after_forget(struct exec *x, const char *pool, struct err *e)
{
    struct xapi_client *c = x->env.client_for(x->env.ctx, pool);
    struct store_rollout_list rl = {0};
    if (!c)
        return 0;
    if (store_rollout_list_heads(x->env.store, STORE_ROLLOUT_BIT(STORE_ROLLOUT_DONE), 50, &rl, e) !=
        0)
        return e->code;
    int rc = ha_send_pending(x, c, pool, &rl, e);
    store_rollout_list_cleanup(&rl);
    return rc;
}

/* ---------------------------------------------------------------- the new version's updates */

/* See exec_drv.h.  XenCenter's Rolling Pool Upgrade wizard does the same when "apply updates
 * to the new version" is ticked: the minimal updates of the new version, computed once per pool
 * (xenserver/xenadmin XenAdmin/Wizards/RollingUpgradeWizard/RollingUpgradeUpgradePage.cs,
 * DoAfterInitialPlanActions, Updates.GetMinimalPatches); poolpatch plans them once every host
 * runs the new version, the way an update rollout re-plans after its prechecks. */
void exec_upgrade_then_updates(struct exec_step *s, const struct plan *pl, struct spec_list *sl)
{
    if (pl->mode != PLAN_MODE_UPGRADE || !pl->upgrade_apply_updates)
        return;
    json_t *o = json_deep_copy(json_object_get(s->params, "opts"));
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    json_object_set_new(o, "mode", json_integer(PLAN_MODE_AUTOMATED));
    json_object_del(o, "upgrade");
    json_object_set_new(o, "selected", json_array());
    exec_spec_list_add(sl, s->p->name, NULL, SK_REPLAN,
                       json_pack("{s:o, s:b, s:s}", "opts", o, "after_upgrade", 1, "to",
                                 pl->upgrade_to ? pl->upgrade_to : ""));
}

struct behind_ctx {
    const struct xapi_records *v;
    const json_t *params;
    char names[256];
};

static bool behind_fn(void *c, const char *ref, const struct xapi_value *rec)
{
    struct behind_ctx *b = c;
    if (on_target(b->v, ref, b->params))
        return true;
    size_t n = strlen(b->names);
    snprintf(b->names + n, sizeof b->names - n, "%s%s", n ? ", " : "",
             xapi_struct_str(rec, "name_label", ref));
    return true;
}

/* The step ends with no update applied, saying why (journaled as its result). */
static void updates_none(struct exec_step *s, const char *why)
{
    exec_emit(s->p, NULL, exec_step_name(s), 100, "the updates of %s are not applied: %s",
              pstr(s->params, "to"), why);
    exec_step_done(s, json_pack("{s:b, s:s}", "skipped", 1, "reason", why));
}

/* See exec_drv.h. */
bool exec_upgrade_updates_wait(struct exec_step *s)
{
    if (!json_is_true(json_object_get(s->params, "after_upgrade")))
        return false;
    struct exec_pool *p = s->p;
    struct exec *x = p->r->x;
    struct xapi_records v;
    xapi_records_from_client(&v, exec_pool_client(p));
    struct behind_ctx b = {&v, s->params, ""};
    v.foreach (v.ctx, "host", behind_fn, &b);
    if (b.names[0]) { /* rolling-upgrade mode: xapi refuses updates in a mixed pool */
        char m[400];
        snprintf(m, sizeof m,
                 "%s did not reach %s (left out of the upgrade): the pool is still in "
                 "rolling-upgrade mode; apply them once every host runs %s (poolpatch apply %s)",
                 b.names, pstr(s->params, "to"), pstr(s->params, "to"), p->name);
        updates_none(s, m);
        return true;
    }
    if (!p->probed && x->env.catalog_probe) {
        /* a pool upgraded to XenServer 8 has a repository now: read it before planning */
        p->probed = true;
        p->probing = x->env.catalog_probe(x->env.ctx, p->name, true) == 1;
        exec_emit(p, NULL, exec_step_name(s), -1,
                  "every host runs %s: reading the pool's updates for it", pstr(s->params, "to"));
        if (p->probing) { /* given back: started again by the pump once the read ended */
            exec_unlink_step(s);
            exec_step_free(s);
            p->waiting_client = true;
            return true;
        }
    }
    const struct catalog *cat = x->env.catalog_for ? x->env.catalog_for(x->env.ctx, p->name)
                                : x->env.catalog   ? x->env.catalog(x->env.ctx)
                                                   : NULL;
    if (!cat) {
        updates_none(s, "no update catalog for the pool (check for updates, then poolpatch apply)");
        return true;
    }
    return false;
}

static void chain_legacy(struct exec_step *s, const struct plan *pl, const json_t *files);

/* See exec_drv.h. */
bool exec_upgrade_updates_skip(struct exec_step *s, const struct plan *pl)
{
    if (!json_is_true(json_object_get(s->params, "after_upgrade")))
        return false;
    for (size_t i = 0; i < pl->n_checks; i++) {
        /* e.g. automated_unsupported: no repository and no legacy list for the new version */
        const struct plan_check *ck = &pl->checks[i];
        if (ck->severity == PLAN_SEV_BLOCKING && !ck->fixable) {
            char m[600];
            snprintf(m, sizeof m, "%s (%s)", ck->message, ck->id);
            updates_none(s, m);
            return true;
        }
    }
    if (pl->n_uploads == 0)
        return false;
    /* legacy updates: their files were downloaded before the rollout started (engine_fetch.c,
     * exec_upgrade_files), unless the new version's plan differs from the predicted one */
    const json_t *files = json_object_get(json_object_get(s->params, "opts"), "upgrade_files");
    for (size_t i = 0; i < pl->n_uploads; i++)
        if (!json_is_string(json_object_get(files, pl->uploads[i]))) {
            char m[300];
            snprintf(m, sizeof m,
                     "update %s was not downloaded before the upgrade started: run poolpatch "
                     "apply %s",
                     pl->uploads[i], s->p->name);
            updates_none(s, m);
            return true;
        }
    chain_legacy(s, pl, files);
    return true;
}

static const char *upgrade_file_for(void *ctx, const char *uuid)
{
    return json_string_value(json_object_get(ctx, uuid));
}

/* Append the legacy updates' first steps (uploads, introduces, prechecks, then the replan that
 * plans their hosts, as at a rollout's start: exec_steps_initial) and end the step. */
static void chain_legacy(struct exec_step *s, const struct plan *pl, const json_t *files)
{
    struct exec_pool *p = s->p;
    struct plan_resolution res = {0};
    struct spec_list sl = {0};
    struct err e = {0};
    json_t *oj = json_deep_copy(json_object_get(s->params, "opts"));
    int rc = plan_resolve_all(pl, &res, &e);
    if (rc == 0)
        rc = exec_steps_initial(p->name, pl, &res, upgrade_file_for, (void *)files, oj, &sl, &e);
    else
        json_decref(oj);
    if (rc == 0)
        rc = store_steps_append(p->r->x->env.store, p->r->id, sl.items, sl.n, NULL, &e);
    exec_spec_list_cleanup(&sl);
    plan_resolution_cleanup(&res);
    if (rc != 0) {
        updates_none(s, e.msg);
        return;
    }
    p->steps_ok = false; /* reloaded with the new steps by the next pump */
    exec_emit(p, NULL, exec_step_name(s), 100,
              "every host runs %s: its updates follow (%zu to upload, %zu hosts)",
              pstr(s->params, "to"), pl->n_uploads, pl->totals.hosts_updated);
    exec_step_done(s, json_pack("{s:I, s:I}", "uploads", (json_int_t)pl->n_uploads, "hosts",
                                (json_int_t)pl->totals.hosts_updated));
}

/* See exec_drv.h. */
void exec_upgrade_files(json_t *opts_json, struct inv_pool *inv, const struct catalog *cat,
                        const struct plan_opts *o,
                        const char *(*file_for)(void *ctx, const char *uuid), void *ctx)
{
    struct plan *then = NULL;
    if (plan_upgrade_then_updates(inv, cat, o, &then, NULL) != 0 || !then) {
        plan_free(then);
        return;
    }
    json_t *files = json_object();
    for (size_t i = 0; i < then->n_uploads; i++) {
        const char *path = file_for ? file_for(ctx, then->uploads[i]) : NULL;
        if (path)
            json_object_set_new(files, then->uploads[i], json_string(path));
    }
    json_object_set_new(opts_json, "upgrade_files", files);
    plan_free(then);
}

/* See exec_drv.h. */
bool exec_upgrade_probing(struct exec_pool *p)
{
    struct exec *x = p->r->x;
    if (!p->probing)
        return false;
    if (x->env.catalog_probe && x->env.catalog_probe(x->env.ctx, p->name, false) == 1) {
        p->waiting_client = true; /* pumped again on the next turn */
        return true;
    }
    p->probing = false;
    return false;
}
