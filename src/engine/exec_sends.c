/* SPDX-License-Identifier: MIT */
/*
 * exec_sends.c - the sends of the host steps (disable, enable, reboot / toolstack restart, apply,
 * apply_cdn) and of introduce and precheck.
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

/* ---------------------------------------------------------------- introduce, precheck */

/* The ref of the step's update (params.uuid) in the pool, or NULL after failing the step. */
static const char *update_ref(struct exec_step *s, const struct xapi_records *v)
{
    const char *uref = NULL;
    if (!exec_xv_update_by_uuid(v, exec_pstr(s->params, "uuid"), &uref)) {
        exec_step_fail(s, "HANDLE_INVALID", "the update is not in the pool (introduce first)");
        return NULL;
    }
    return uref;
}

static char *upload_vdi(struct exec_pool *p, const char *uuid)
{
    struct store_step_list l = {0};
    struct err e = {0};
    char *vdi = NULL;
    if (store_steps_list(p->r->x->env.store, p->r->id, p->name, &l, &e) != 0)
        return NULL;
    for (size_t i = 0; i < l.n; i++) {
        if (exec_kind_by_name(l.items[i].kind)->kind != EXEC_K_UPLOAD ||
            l.items[i].state != STORE_STEP_DONE)
            continue;
        json_t *pj = json_loads(l.items[i].params_json, 0, NULL);
        json_t *rj = json_loads(l.items[i].result_json ? l.items[i].result_json : "{}", 0, NULL);
        if (str_eq(exec_pstr(pj, "uuid"), uuid) && *exec_pstr(rj, "vdi"))
            vdi = xstrdup(exec_pstr(rj, "vdi"));
        json_decref(pj);
        json_decref(rj);
    }
    store_step_list_cleanup(&l);
    return vdi;
}

static void precheck_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    if (rc != 0 && !(e && exec_code_in(s->def->benign, e->xapi_code))) {
        exec_step_fail_err(s, rc, e);
        return;
    }
    const char *lp = rc == 0 && xapi_value_str(res) ? xapi_value_str(res) : "ok";
    exec_step_done(s, json_pack("{s:s}", "livepatch", lp));
}

/* ---------------------------------------------------------------- host steps */

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

static char *resident_guests(const struct xapi_records *v, const char *host)
{
    struct guests_ctx g = {.host = host};
    buf_init(&g.b);
    v->foreach (v->ctx, "vm", guests_fn, &g);
    buf_puts(&g.b, "");
    return buf_take(&g.b);
}

/* disable: host.disable; undo: enable the host. */
void exec_send_disable(struct exec_step *s)
{
    json_t *undo = json_pack("{s:s, s:s}", "fix", "enable_host", "obj", s->host);
    int r = exec_intent(s, undo, false);
    json_decref(undo);
    if (r)
        return;
    exec_emit(s->p, exec_host_label(s), exec_step_name(s), 0, "disabling %s", exec_host_label(s));
    exec_send_call(s, "host.disable", exec_params_v(1, s->host), false, exec_call_then_wait);
}

/* enable: host.enable. */
void exec_send_enable(struct exec_step *s)
{
    if (exec_intent(s, NULL, false))
        return;
    exec_emit(s->p, exec_host_label(s), exec_step_name(s), 0, "enabling %s", exec_host_label(s));
    exec_send_call(s, "host.enable", exec_params_v(1, s->host), false, exec_call_then_wait);
}

static bool pred_reapplied(void *ctx, struct xapi_client *c)
{
    struct exec_step *s = ctx;
    struct xapi_records v;
    xapi_records_from_client(&v, c);
    return exec_xv_update_applied(&v, s->task, s->host);
}

static void reapplied(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    if (rc != 0) {
        exec_step_fail_err(s, rc, e);
        return;
    }
    exec_send_host_restart(s); /* the next lost update, or the reboot */
}

static void reapply_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    if (rc != 0 && !(e && str_eq(e->xapi_code, "UPDATE_ALREADY_APPLIED"))) {
        exec_step_fail_err(s, rc, e);
        return;
    }
    struct xapi_client *c = exec_pool_client(s->p);
    struct err we = {0};
    s->let_end = NULL;
    if (!c ||
        xapi_cache_wait(c, pred_reapplied, s, EXEC_EFFECT_WAIT_MS, reapplied, s, &s->op, &we) != 0)
        exec_step_fail(s, "TRANSPORT", c ? we.msg : "the pool is not connected");
}

/* Before a reboot: the updates it is for recorded once (params.updates, the host's
 * updates_requiring_reboot), and those the host lost — it came back on its old installation,
 * REBOOT_OLD_VERSION, and Retry sends the reboot again — applied again first.  True when an
 * apply was sent (the reboot follows from its completion). */
static bool reboot_reapply(struct exec_step *s, const struct xapi_records *v)
{
    if (!json_object_get(s->params, "updates")) {
        json_t *ups = json_array();
        const struct xapi_value *h = v->get(v->ctx, "host", s->host);
        const struct xapi_value *rr = h ? xapi_struct_get(h, "updates_requiring_reboot") : NULL;
        for (size_t i = 0; i < xapi_array_len(rr); i++) {
            const struct xapi_value *u =
                v->get(v->ctx, "pool_update", xapi_value_str(xapi_array_get(rr, i)));
            if (u && *xapi_struct_str(u, "uuid", ""))
                json_array_append_new(ups, json_string(xapi_struct_str(u, "uuid", "")));
        }
        json_object_set_new(s->params, "updates", ups);
    }
    const char *lost = exec_reboot_update_missing(v, s->host, s->params);
    const char *uref = NULL;
    if (!lost || !exec_xv_update_by_uuid(v, lost, &uref))
        return false;
    free(s->task);
    s->task = xstrdup(lost);
    exec_emit(s->p, exec_host_label(s), exec_step_name(s), -1,
              "%s came back without update %s (its old installation): applying it again before "
              "rebooting again",
              exec_host_label(s), lost);
    exec_send_call(s, "pool_update.apply", exec_params_v(2, uref, s->host), true, reapply_done);
    return true;
}

/* reboot / restart_agent: refused while running guests are resident (reboot); the host's
 * boot_time and agent_start_time journaled with the intent, then the call. */
void exec_send_host_restart(struct exec_step *s)
{
    struct xapi_records v;
    xapi_records_from_client(&v, exec_pool_client(s->p));
    bool reboot = s->def->kind == EXEC_K_REBOOT;
    if (!exec_xv_host_live(&v, s->host)) {
        /* still coming back, or a supporter in emergency mode (xapi: not live for the master
         * until it reconnects): a restart now would be lost or refused; wait until it is live,
         * then read the pool again (HOST_OFFLINE when it never is) */
        exec_emit(s->p, exec_host_label(s), exec_step_name(s), -1,
                  "%s is not live (returning, or in emergency mode): waiting for it",
                  exec_host_label(s));
        exec_settle_wait(s, EXEC_SETTLE_LIVE);
        return;
    }
    if (reboot) {
        char *left = resident_guests(&v, s->host);
        if (*left) {
            char m[400];
            snprintf(m, sizeof(m),
                     "running VMs are still on %s (%s): a reboot would stop them; move them, "
                     "then Retry",
                     exec_host_label(s), left);
            free(left);
            exec_step_fail(s, "HOST_HAS_RESIDENT_VMS", m);
            return;
        }
        free(left);
        if (reboot_reapply(s, &v))
            return;
    }
    json_object_set_new(s->params, "boot_before",
                        json_string(exec_xv_host_oc(&v, s->host, "boot_time")));
    json_object_set_new(s->params, "agent_before",
                        json_string(exec_xv_host_oc(&v, s->host, "agent_start_time")));
    if (exec_intent(s, NULL, true))
        return;
    exec_emit(s->p, exec_host_label(s), exec_step_name(s), 0, "%s %s",
              reboot ? "rebooting" : "restarting the toolstack of", exec_host_label(s));
    exec_send_call(s, reboot ? "host.reboot" : "host.restart_agent", exec_params_v(1, s->host),
                   false, exec_call_then_wait);
}

/* The update of s for messages: its name in the pool ("XS82ECU1003"), else its uuid
 * (borrowed). */
static const char *update_label(const struct exec_step *s, const struct xapi_records *v)
{
    const char *uuid = exec_pstr(s->params, "uuid"), *uref = NULL;
    const struct xapi_value *u = exec_xv_update_by_uuid(v, uuid, &uref);
    const char *n = u ? xapi_struct_str(u, "name_label", "") : "";
    return *n ? n : uuid;
}

/* apply: Async.pool_update.apply(update, host). */
void exec_send_apply(struct exec_step *s)
{
    if (exec_intent(s, NULL, false))
        return;
    struct xapi_records v;
    xapi_records_from_client(&v, exec_pool_client(s->p));
    const char *uref = update_ref(s, &v);
    if (!uref)
        return;
    exec_emit(s->p, exec_host_label(s), exec_step_name(s), 0, "applying %s on %s",
              update_label(s, &v), exec_host_label(s));
    exec_send_call(s, "pool_update.apply", exec_params_v(2, uref, s->host), true,
                   exec_call_then_wait);
}

/* apply_cdn: Async.host.apply_updates(host, hash) (XenServer 8). */
void exec_send_apply_cdn(struct exec_step *s)
{
    if (exec_intent(s, NULL, false))
        return;
    exec_emit(s->p, exec_host_label(s), exec_step_name(s), 0, "applying updates on %s",
              exec_host_label(s));
    exec_send_call(s, "host.apply_updates", exec_params_v(2, s->host, exec_pstr(s->params, "hash")),
                   true, exec_call_then_wait);
}

/* introduce: Async.pool_update.introduce of the VDI the upload step journaled. */
void exec_send_introduce(struct exec_step *s)
{
    if (exec_intent(s, NULL, false))
        return;
    char *vdi = upload_vdi(s->p, exec_pstr(s->params, "uuid"));
    if (!vdi) {
        exec_step_fail(s, "INVALID_UPDATE", "no uploaded image for this update");
        return;
    }
    exec_emit(s->p, NULL, exec_step_name(s), 0, "introducing %s", exec_pstr(s->params, "uuid"));
    exec_send_call(s, "pool_update.introduce", exec_params_v(1, vdi), true, exec_call_then_wait);
    free(vdi);
}

/* precheck: Async.pool_update.precheck(update, host); the answer (livepatch) journaled. */
void exec_send_precheck(struct exec_step *s)
{
    if (exec_intent(s, NULL, false))
        return;
    struct xapi_records v;
    xapi_records_from_client(&v, exec_pool_client(s->p));
    const char *uref = update_ref(s, &v);
    if (!uref)
        return;
    exec_emit(s->p, exec_host_label(s), exec_step_name(s), 0, "precheck of %s on %s",
              update_label(s, &v), exec_host_label(s));
    exec_send_call(s, "pool_update.precheck", exec_params_v(2, uref, s->host), true, precheck_done);
}
