/* SPDX-License-Identifier: MIT */
/*
 * verify.c - the executor's end-state verification, pure (exec_int.h): what a rollout must give
 * back, read from the pool when it starts (the "before" snapshot kept in its plan), and the
 * findings of comparing the pool's records with the rollout's claims when a pool's work ends
 * (done, halted, cancelled): VMs not running once, hosts left disabled or down, undo records
 * whose effect is not visible (HA, CDs, suspended / shut-down VMs), update images and updates
 * left behind.  Each finding is named (code), says what it is about by name, and what to do.
 */
#include <stdarg.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec_int.h"

static const char *js(const json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    return s ? s : "";
}

static const char *name_of(const struct xapi_records *v, const char *cls, const char *ref)
{
    const struct xapi_value *r = ref && *ref ? v->get(v->ctx, cls, ref) : NULL;
    const char *n = r ? xapi_struct_str(r, "name_label", "") : "";
    return *n ? n : ref ? ref : "";
}

/* ---------------------------------------------------------------- the snapshot */

static bool snap_vm(void *ctx, const char *ref, const struct xapi_value *rec)
{
    if (xapi_struct_bool(rec, "is_control_domain", false) ||
        xapi_struct_bool(rec, "is_a_template", false) ||
        xapi_struct_bool(rec, "is_a_snapshot", false) ||
        !str_eq(xapi_struct_str(rec, "power_state", ""), "Running"))
        return true;
    json_array_append_new(
        ctx, json_pack("{s:s, s:s}", "ref", ref, "name", xapi_struct_str(rec, "name_label", "")));
    return true;
}

struct snap_ctx {
    const struct xapi_records *v;
    json_t *hosts;
};

static bool snap_host(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct snap_ctx *c = ctx;
    json_array_append_new(c->hosts, json_pack("{s:s, s:s, s:b, s:b}", "ref", ref, "name",
                                              xapi_struct_str(rec, "name_label", ""), "enabled",
                                              xapi_struct_bool(rec, "enabled", false), "live",
                                              exec_xv_host_live(c->v, ref)));
    return true;
}

static bool snap_update(void *ctx, const char *ref, const struct xapi_value *rec)
{
    (void)ref;
    json_array_append_new(ctx, json_string(xapi_struct_str(rec, "uuid", "")));
    return true;
}

/* The "before" snapshot (see exec_int.h). */
json_t *exec_before_snapshot(const struct xapi_records *v)
{
    const char *pref = NULL;
    const struct xapi_value *pool = exec_xv_pool(v, &pref);
    json_t *vms = json_array(), *hosts = json_array(), *ups = json_array();
    v->foreach (v->ctx, "vm", snap_vm, vms);
    struct snap_ctx hc = {v, hosts};
    v->foreach (v->ctx, "host", snap_host, &hc);
    v->foreach (v->ctx, "pool_update", snap_update, ups);
    return json_pack("{s:s, s:s, s:b, s:o, s:o, s:o}", "pool", pref ? pref : "", "pool_name",
                     pool ? xapi_struct_str(pool, "name_label", "") : "", "ha",
                     pool && xapi_struct_bool(pool, "ha_enabled", false), "vms", vms, "hosts",
                     hosts, "updates", ups);
}

/* True when the update with that uuid was in the pool when the rollout started (NULL snapshot:
 * unknown, false). */
bool exec_before_has_update(const json_t *before, const char *uuid)
{
    json_t *ups = json_object_get(before, "updates");
    for (size_t i = 0; i < json_array_size(ups); i++)
        if (str_eq_nocase(json_string_value(json_array_get(ups, i)), uuid))
            return true;
    return false;
}

/* ---------------------------------------------------------------- findings */

struct vctx {
    const struct xapi_records *v;
    const struct exec_verify_in *in;
    json_t *out;
};

/* What to do, by when the verification ran: after a cancel the cancel can be retried once the
 * cause is dealt with; while halted the change is kept on purpose. */
static char *action_for(const struct vctx *c, const char *manual)
{
    switch (c->in->after) {
    case EXEC_VERIFY_HALTED:
        return xasprintf("kept while the rollout is halted: Retry continues (it is restored at "
                         "the end), Cancel restores it now; or by hand: %s",
                         manual);
    case EXEC_VERIFY_CANCEL:
        return xasprintf("%s; or deal with the cause, then retry the cancel (it restores what "
                         "is left)",
                         manual);
    default:
        return xstrdup(manual);
    }
}

static bool has_finding(const json_t *out, const char *code, const char *ref)
{
    for (size_t i = 0; i < json_array_size(out); i++) {
        const json_t *f = json_array_get(out, i);
        if (str_eq(js(f, "code"), code) && str_eq(js(f, "ref"), ref))
            return true;
    }
    return false;
}

static void add(struct vctx *c, const char *code, const char *ref, const char *object,
                const char *message, const char *manual)
{
    if (has_finding(c->out, code, ref))
        return;
    char *act = action_for(c, manual);
    json_array_append_new(c->out, json_pack("{s:s, s:s, s:s, s:s, s:s}", "code", code, "ref", ref,
                                            "object", object, "message", message, "action", act));
    free(act);
}

static void addf(struct vctx *c, const char *code, const char *ref, const char *object,
                 const char *manual, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void addf(struct vctx *c, const char *code, const char *ref, const char *object,
                 const char *manual, const char *fmt, ...)
{
    struct buf b;
    buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    add(c, code, ref, object, buf_str(&b), manual);
    buf_cleanup(&b);
}

/* What to do about HA left off: xapi refuses pool.enable_ha while the pool's hosts run different
 * versions (a host left out of an upgrade; exec_upgrade.c turns it back on after host forget). */
static const char *ha_action(const struct xapi_value *pool)
{
    return xapi_struct_get(xapi_struct_get(pool, "other_config"), "rolling_upgrade_in_progress")
               ? "xapi refuses HA while the pool's hosts run different versions: poolpatch turns "
                 "it back on once the host left out is forgotten (poolpatch host forget POOL HOST) "
                 "or upgraded (poolpatch upgrade POOL again)"
               : "turn HA back on (xe pool-ha-enable)";
}

/* One undo record whose effect is not visible. */
static void undo_finding(struct vctx *c, const json_t *u)
{
    const struct xapi_records *v = c->v;
    const char *f = js(u, "fix"), *obj = js(u, "obj");
    const struct xapi_value *vm = v->get(v->ctx, "vm", obj);
    if (str_eq(f, "enable_ha")) {
        const char *pn = name_of(v, "pool", obj);
        addf(c, "HA_OFF", obj, pn, ha_action(v->get(v->ctx, "pool", obj)),
             "HA is off on pool %s (the rollout turned it off)", pn);
    } else if (str_eq(f, "enable_host")) {
        const char *hn = name_of(v, "host", obj);
        addf(c, "HOST_DISABLED", obj, hn, "enable it once it is healthy (xe host-enable)",
             "host %s is disabled (the rollout disabled it)%s", hn,
             exec_xv_host_live(v, obj) ? "" : " and not live");
    } else if (str_eq(f, "disable_host")) {
        const char *hn = name_of(v, "host", obj);
        addf(c, "HOST_ENABLED", obj, hn, "disable it again (xe host-disable)",
             "host %s is enabled (it was disabled before the rollout enabled it)", hn);
    } else if (str_eq(f, "insert_cd")) {
        const char *vn = name_of(v, "vm", obj);
        const char *dn = name_of(v, "vdi", js(u, "vdi"));
        addf(c, "CD_EJECTED", obj, vn, "insert it again (xe vm-cd-insert)",
             "the CD %s of VM %s is not inserted (the rollout ejected it)", dn, vn);
    } else if (str_eq(f, "resume_vm") || str_eq(f, "start_vm")) {
        const char *vn = name_of(v, "vm", obj);
        bool resume = str_eq(f, "resume_vm");
        const char *ps = vm ? xapi_struct_str(vm, "power_state", "") : "gone";
        addf(c, resume ? "VM_SUSPENDED" : "VM_SHUT_DOWN", obj, vn,
             resume ? "resume it (xe vm-resume)" : "start it (xe vm-start)",
             "VM %s is %s (the rollout %s it)", vn, ps, resume ? "suspended" : "shut down");
    } else {
        addf(c, "NOT_RESTORED", obj, name_of(v, "vm", obj), "restore it by hand",
             "%s of %s is not restored", f, obj);
    }
}

static bool vm_has_undo(const struct vctx *c, const char *ref)
{
    for (size_t i = 0; i < json_array_size(c->in->undo); i++)
        if (str_eq(js(json_array_get(c->in->undo, i), "obj"), ref))
            return true;
    return false;
}

/* Every VM that ran when the rollout started runs, resident on one live host. */
static void vms_finding(struct vctx *c)
{
    const struct xapi_records *v = c->v;
    json_t *vms = json_object_get(c->in->before, "vms");
    for (size_t i = 0; i < json_array_size(vms); i++) {
        const json_t *b = json_array_get(vms, i);
        const char *ref = js(b, "ref"), *vn = js(b, "name");
        const struct xapi_value *vm = v->get(v->ctx, "vm", ref);
        if (!vm) {
            addf(c, "VM_GONE", ref, vn, "find out who removed it",
                 "VM %s ran when the rollout started and no longer exists", vn);
            continue;
        }
        const char *ps = xapi_struct_str(vm, "power_state", "");
        if (!str_eq(ps, "Running")) {
            if (vm_has_undo(c, ref) && c->in->after == EXEC_VERIFY_HALTED)
                continue; /* a Resolve All fix kept while halted: reported with the undo list */
            addf(c, str_eq(ps, "Suspended") ? "VM_SUSPENDED" : "VM_NOT_RUNNING", ref, vn,
                 "start or resume it (xe vm-start / xe vm-resume)",
                 "VM %s is %s; it was running when the rollout started", vn, ps);
            continue;
        }
        const char *on = xapi_struct_str(vm, "resident_on", "");
        if (!v->get(v->ctx, "host", on) || !exec_xv_host_live(v, on))
            addf(c, "VM_HOST_NOT_LIVE", ref, vn, "check the host and the VM's console",
                 "VM %s is shown running on host %s, which is not live", vn,
                 name_of(v, "host", on));
    }
}

/* Hosts disabled or down that were enabled and live when the rollout started. */
static void hosts_finding(struct vctx *c)
{
    const struct xapi_records *v = c->v;
    json_t *hs = json_object_get(c->in->before, "hosts");
    for (size_t i = 0; i < json_array_size(hs); i++) {
        const json_t *b = json_array_get(hs, i);
        const char *ref = js(b, "ref"), *hn = js(b, "name");
        const struct xapi_value *h = v->get(v->ctx, "host", ref);
        if (!h)
            continue;
        if (json_is_true(json_object_get(b, "live")) && !exec_xv_host_live(v, ref))
            addf(c, "HOST_NOT_LIVE", ref, hn,
                 "check its console and power; it is enabled again once it is back",
                 "host %s is not live (down or unreachable); it was live when the rollout "
                 "started",
                 hn);
        if (json_is_true(json_object_get(b, "enabled")) && !xapi_struct_bool(h, "enabled", true))
            addf(c, "HOST_DISABLED", ref, hn, "enable it once it is healthy (xe host-enable)",
                 "host %s is disabled; it was enabled when the rollout started", hn);
    }
    const char *pref = NULL;
    const struct xapi_value *pool = exec_xv_pool(v, &pref);
    if (json_is_true(json_object_get(c->in->before, "ha")) && pool &&
        !xapi_struct_bool(pool, "ha_enabled", false))
        addf(c, "HA_OFF", pref ? pref : "", js(c->in->before, "pool_name"), ha_action(pool),
             "HA is off on pool %s; it was on", js(c->in->before, "pool_name"));
}

/* A host that still needs its reboot when the pool's work is done (a live patch that did not
 * take, or a reboot left to the user): its updates_requiring_reboot, or a restart_host pending
 * guidance (XenServer 8), as xapi lists them. */
static void reboot_finding(struct vctx *c, const char *ref, const struct xapi_value *h)
{
    const struct xapi_records *v = c->v;
    const struct xapi_value *rr = xapi_struct_get(h, "updates_requiring_reboot");
    const struct xapi_value *pg = xapi_struct_get(h, "pending_guidances");
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < xapi_array_len(rr); i++)
        buf_printf(&b, "%s%s", b.len ? ", " : "",
                   name_of(v, "pool_update", xapi_value_str(xapi_array_get(rr, i))));
    for (size_t i = 0; i < xapi_array_len(pg); i++)
        if (str_eq(xapi_value_str(xapi_array_get(pg, i)), "restart_host"))
            buf_printf(&b, "%sguidance restart_host", b.len ? ", " : "");
    if (b.len) {
        const char *hn = name_of(v, "host", ref);
        addf(c, "REBOOT_PENDING", ref, hn,
             "reboot it after moving its VMs off (xe host-evacuate, xe host-reboot), or start a "
             "new rollout of the pool: it plans the reboot",
             "host %s still needs its reboot (%s): the updates are applied but not running "
             "until it reboots (a live patch that did not take, or a reboot left to you)",
             hn, buf_str(&b));
    }
    buf_cleanup(&b);
}

static bool reboot_fn(void *ctx, const char *ref, const struct xapi_value *rec)
{
    reboot_finding(ctx, ref, rec);
    return true;
}

/* An uploaded image (a VDI) still on its SR. */
static void image_left(struct vctx *c, const char *vdi, const char *uuid, const char *uname)
{
    const struct xapi_records *v = c->v;
    const struct xapi_value *d = *vdi ? v->get(v->ctx, "vdi", vdi) : NULL;
    if (!d)
        return;
    const char *sr = name_of(v, "sr", xapi_struct_str(d, "SR", ""));
    addf(c, "IMAGE_LEFT", vdi, sr,
         "remove it (xe update-pool-clean uuid=... , or xe vdi-destroy for an image never "
         "introduced)",
         "the image of update %s (VDI %s) is still on SR %s", *uname ? uname : uuid,
         name_of(v, "vdi", vdi), sr);
}

/* Images and updates this rollout introduced, left behind. */
static void images_finding(struct vctx *c)
{
    const struct xapi_records *v = c->v;
    for (size_t i = 0; i < json_array_size(c->in->images); i++) {
        const json_t *im = json_array_get(c->in->images, i);
        const char *uuid = js(im, "uuid");
        if (!json_is_true(json_object_get(im, "ours")))
            continue; /* introduced by someone else: never ours to judge or remove */
        const char *uref = NULL;
        const struct xapi_value *u = exec_xv_update_by_uuid(v, uuid, &uref);
        const char *un = u ? xapi_struct_str(u, "name_label", "") : "";
        image_left(c, js(im, "vdi"), uuid, un);
        if (u)
            image_left(c, xapi_struct_str(u, "vdi", ""), uuid, un);
        if (u && c->in->after == EXEC_VERIFY_CANCEL &&
            xapi_array_len(xapi_struct_get(u, "hosts")) == 0)
            addf(c, "UPDATE_LEFT", uref ? uref : uuid, *un ? un : uuid,
                 "remove it (xe update-destroy)",
                 "update %s, introduced by this rollout and applied nowhere, is still in the "
                 "pool",
                 *un ? un : uuid);
    }
}

/* The findings (see exec_int.h). */
json_t *exec_verify(const struct xapi_records *v, const struct exec_verify_in *in)
{
    struct vctx c = {v, in, json_array()};
    for (size_t i = 0; i < json_array_size(in->undo); i++) {
        const json_t *u = json_array_get(in->undo, i);
        if (!exec_fix_done(v, u))
            undo_finding(&c, u);
    }
    vms_finding(&c);
    hosts_finding(&c);
    if (in->after != EXEC_VERIFY_HALTED)
        images_finding(&c);
    if (in->after == EXEC_VERIFY_DONE)
        v->foreach (v->ctx, "host", reboot_fn, &c);
    return c.out;
}

/* One line naming what is left (see exec_int.h). */
char *exec_findings_summary(const json_t *findings)
{
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < json_array_size(findings); i++)
        buf_printf(&b, "%s%s", i ? "; " : "", js(json_array_get(findings, i), "message"));
    char *s = xstrdup(buf_str(&b));
    buf_cleanup(&b);
    return s;
}

/* The state a pool's cancel ends in (see exec_int.h). */
bool exec_cancel_complete(bool every_undo_done, const json_t *findings)
{
    return every_undo_done && json_array_size(findings) == 0;
}
