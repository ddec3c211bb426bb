/* SPDX-License-Identifier: MIT */
/*
 * checks.c - the prechecks, as a table of check functions (XenCenter's Diagnostics/Checks are one
 * class per check; xencenter.md section 3): each row names a check and the function that adds its
 * findings to the plan, with the resolution and its exact undo when the problem is fixable.
 * Pool-wide rows run once, per-host rows for every selected host in pool order (a host that is
 * not live gets only host_not_live; hosts with nothing to apply skip the rows that need work).
 * The VM blockers (evacuate_*) run before placement; upload and placement checks are added by
 * plan.c where their facts are known.  Pure: no I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "plan/plan_int.h"

#define MIB (1024.0 * 1024.0)

/* See plan_int.h. */
const char *plan_host_name(const struct inv_host *h)
{
    return h->name_label && h->name_label[0] ? h->name_label : h->ref;
}

/* See plan_int.h. */
const char *plan_vm_name(const struct inv_vm *v)
{
    return v->name_label && v->name_label[0] ? v->name_label : v->ref;
}

/* See plan_int.h. */
const char *plan_upd_name(const struct plan_ctx *c, const char *uuid)
{
    const struct cat_patch *p = catidx_patch(&c->x, uuid);
    return p && p->name_label && p->name_label[0] ? p->name_label : uuid;
}

/* See plan_int.h. */
struct plan_check *plan_add_check(struct plan_ctx *c, const char *id, const char *host_ref,
                                  const char *vm_ref, const char *uuid, enum plan_severity sev,
                                  char *msg)
{
    struct plan_check k = {0};
    k.id = xstrdup(id);
    k.host_ref = xstrdup(host_ref ? host_ref : "");
    k.vm_ref = xstrdup(vm_ref ? vm_ref : "");
    k.update_uuid = xstrdup(uuid ? uuid : "");
    k.severity = sev;
    k.message = msg;
    k.fix.obj_ref = xstrdup("");
    k.fix.arg_ref = xstrdup("");
    k.undo.obj_ref = xstrdup("");
    k.undo.arg_ref = xstrdup("");
    PV_PUSH(c->p->checks, c->p->n_checks, c->cap_checks, k);
    return &c->p->checks[c->p->n_checks - 1];
}

static void set_fix(struct plan_fix *f, enum plan_fix_kind k, const char *obj, const char *arg)
{
    free(f->obj_ref);
    free(f->arg_ref);
    f->kind = k;
    f->obj_ref = xstrdup(obj ? obj : "");
    f->arg_ref = xstrdup(arg ? arg : "");
}

/* See plan_int.h. */
void plan_fixable(struct plan_check *k, enum plan_fix_kind fk, const char *fobj, const char *farg,
                  enum plan_fix_kind uk, const char *uobj, const char *uarg)
{
    k->fixable = true;
    set_fix(&k->fix, fk, fobj, farg);
    set_fix(&k->undo, uk, uobj, uarg);
}

/* ------------------------------------------------------------------ VM blockers */

static bool sr_shared(const struct inv_pool *pool, const char *ref)
{
    const struct inv_sr *sr = inv_pool_sr(pool, ref);
    return sr && sr->shared;
}

/*
 * A VM that cannot leave host h (XenCenter's way, xencenter.md section 3): suspended for the
 * update and resumed on h afterwards; a VM with PCI passthrough or vGPU (no migration support in
 * the inventory) or with suspend blocked is shut down cleanly and started again instead, both
 * only with the user's consent (Resolve All).  A VM to be suspended has its CD ejected first
 * and re-inserted after it is resumed (a suspended VM may not resume after an upgrade with a
 * CD attached; the undo list is the reverse of the fixes, so the resume comes before the insert).
 */
/* See plan_int.h. */
void plan_unmovable_check(struct plan_ctx *c, size_t v, size_t h, const char *id, const char *why,
                          bool shutdown)
{
    const struct inv_vm *vm = &c->pool->vms[v];
    const struct inv_host *home = &c->pool->hosts[h];
    c->vm_skip[v] = true;
    bool suspend = !vm->has_pci && !vm->suspend_blocked && !shutdown;
    char *msg = xasprintf(
        "VM %s on %s %s. %s", plan_vm_name(vm), plan_host_name(home), why,
        suspend    ? "Resolve: suspend it for the update and resume it afterwards."
        : shutdown ? "Resolve: shut it down cleanly for the update and start it afterwards (as "
                     "asked)."
        : vm->suspend_blocked && !vm->has_pci
            ? "Suspend is blocked for it; resolve: shut it down cleanly for the update and start "
              "it afterwards."
            : "It cannot be suspended either. Resolve: shut it down cleanly for the update and "
              "start it afterwards.");
    struct plan_check *k = plan_add_check(c, id, home->ref, vm->ref, NULL, PLAN_SEV_BLOCKING, msg);
    if (!suspend) {
        plan_fixable(k, PLAN_FIX_SHUTDOWN_VM, vm->ref, NULL, PLAN_FIX_START_VM, vm->ref, home->ref);
        return;
    }
    plan_fixable(k, PLAN_FIX_SUSPEND_VM, vm->ref, NULL, PLAN_FIX_RESUME_VM, vm->ref, home->ref);
    if (!vm->cd_sr || !vm->cd_sr[0])
        return;
    c->vm_no_cd[v] = true;
    k = plan_add_check(c, "suspend_cd", home->ref, vm->ref, NULL, PLAN_SEV_BLOCKING,
                       xasprintf("VM %s on %s is to be suspended with a CD inserted, which may "
                                 "keep it from resuming after the update. Resolve: eject the CD "
                                 "before it is suspended and insert it again once it is resumed.",
                                 plan_vm_name(vm), plan_host_name(home)));
    plan_fixable(k, PLAN_FIX_EJECT_CD, vm->ref, vm->cd_sr, PLAN_FIX_INSERT_CD, vm->ref, vm->cd_sr);
}

/* VMs that cannot leave a host to evacuate (see plan_int.h). */
void plan_vm_checks(struct plan_ctx *c)
{
    const struct inv_pool *pool = c->pool;
    for (size_t v = 0; v < c->nv; v++) {
        const struct inv_vm *vm = &pool->vms[v];
        if (!place_vm_moves(vm))
            continue;
        if (c->vm_host[v] == SIZE_MAX)
            continue;
        size_t h = c->vm_host[v];
        const struct inv_host *home = &pool->hosts[h];
        if (!c->evac[h])
            continue;
        const char *why = NULL, *id = NULL;
        const char *local_sr = NULL;
        for (size_t d = 0; d < vm->n_disk_srs && !local_sr; d++)
            if (!sr_shared(pool, vm->disk_srs[d]))
                local_sr = vm->disk_srs[d];
        if (vm->has_pci) {
            id = "evacuate_pci";
            why = "has a PCI passthrough device or vGPU and cannot be live-migrated";
        } else if (local_sr) {
            id = "evacuate_local_disk";
            why = "has disks on local storage and cannot be live-migrated";
        } else if (vm->migrate_blocked) {
            id = "evacuate_blocked";
            why = "has migration blocked (blocked_operations)";
        }
        if (id) {
            plan_unmovable_check(c, v, h, id, why, false);
            continue;
        }
        if (vm->cd_sr && vm->cd_sr[0] && !sr_shared(pool, vm->cd_sr)) {
            c->vm_no_cd[v] = true;
            struct plan_check *k = plan_add_check(
                c, "evacuate_cd", home->ref, vm->ref, NULL, PLAN_SEV_BLOCKING,
                xasprintf("VM %s on %s has a CD from a local ISO library inserted, which other "
                          "hosts cannot see. Resolve: eject it for the update and insert it "
                          "again afterwards.",
                          plan_vm_name(vm), plan_host_name(home)));
            plan_fixable(k, PLAN_FIX_EJECT_CD, vm->ref, vm->cd_sr, PLAN_FIX_INSERT_CD, vm->ref,
                         vm->cd_sr);
        }
    }
}

/* ------------------------------------------------------------------ pool checks */

/* Updates that can never be installed, one check per update and reason, naming its hosts (one
 * host: that host's ref; several: "" and the list, or "every selected host"). */
static void uninstallable_checks(struct plan_ctx *c)
{
    size_t n_sel = 0;
    for (size_t h = 0; h < c->nh; h++)
        n_sel += c->selected[h] && c->pool->hosts[h].live;
    for (size_t h = 0; h < c->nh; h++) {
        if (!c->selected[h] || !c->pool->hosts[h].live)
            continue;
        for (size_t i = 0; i < c->ph[h].n_skipped; i++) {
            const struct plan_skip *k = &c->ph[h].skipped[i];
            bool earlier = false;
            for (size_t j = 0; j < h && !earlier; j++)
                for (size_t q = 0;
                     c->selected[j] && c->pool->hosts[j].live && q < c->ph[j].n_skipped && !earlier;
                     q++)
                    earlier = str_eq(c->ph[j].skipped[q].uuid, k->uuid) &&
                              str_eq(c->ph[j].skipped[q].reason, k->reason);
            if (earlier)
                continue;
            struct buf names;
            buf_init(&names);
            size_t count = 0;
            for (size_t j = h; j < c->nh; j++) {
                if (!c->selected[j] || !c->pool->hosts[j].live)
                    continue;
                for (size_t q = 0; q < c->ph[j].n_skipped; q++)
                    if (str_eq(c->ph[j].skipped[q].uuid, k->uuid) &&
                        str_eq(c->ph[j].skipped[q].reason, k->reason)) {
                        buf_printf(&names, "%s%s", count ? ", " : "", c->ph[j].name);
                        count++;
                        break;
                    }
            }
            char *msg = count == 1 ? xasprintf("%s: %s", buf_str(&names), k->reason)
                        : count == n_sel
                            ? xasprintf("every selected host (%zu): %s", count, k->reason)
                            : xasprintf("%s: %s", buf_str(&names), k->reason);
            plan_add_check(c, "update_uninstallable", count == 1 ? c->ph[h].ref : NULL, NULL,
                           k->uuid, k->severity, msg);
            buf_cleanup(&names);
        }
    }
}

static bool automated(const struct plan_ctx *c)
{
    return c->o->mode == PLAN_MODE_AUTOMATED || c->o->mode == PLAN_MODE_STAY;
}

static void partly_upgraded_check(struct plan_ctx *c)
{
    if (!c->p->partly_upgraded || c->o->mode == PLAN_MODE_UPGRADE)
        return; /* an upgrade resumes a partly upgraded pool (upgrade_in_progress) */
    bool a = automated(c);
    if (a)
        c->p->automated_refused = true;
    plan_add_check(c, "partly_upgraded", NULL, NULL, NULL, a ? PLAN_SEV_BLOCKING : PLAN_SEV_WARNING,
                   xasprintf("The hosts of pool %s run different versions (a partly upgraded "
                             "pool). %s",
                             inv_pool_display_name(c->pool),
                             a ? "Automated updates are refused until the rolling pool "
                                 "upgrade is finished; finish it first."
                               : "Each update goes only to the hosts of its version."));
}

static void forbid_auto_restart_check(struct plan_ctx *c)
{
    if (!c->pool->forbid_auto_restart || c->o->mode == PLAN_MODE_UPGRADE)
        return;
    bool a = automated(c);
    if (a)
        c->p->automated_refused = true;
    plan_add_check(c, "forbid_auto_restart", NULL, NULL, NULL,
                   a ? PLAN_SEV_BLOCKING : PLAN_SEV_WARNING,
                   xstrdup(a ? "The pool forbids automatic restarts (other_config "
                               "hci-forbid-update-auto-restart): automated updates are refused; "
                               "install chosen updates and restart the hosts yourself."
                             : "The pool forbids automatic restarts (other_config "
                               "hci-forbid-update-auto-restart): after the updates are applied, "
                               "the restarts listed are left to you."));
}

/* XenServer 8 applies a pool's repository state as a whole: every live host selected. */
static void cdn_subset_check(struct plan_ctx *c)
{
    if (!c->p->cdn || c->o->n_hosts == 0)
        return;
    for (size_t h = 0; h < c->nh; h++)
        if (!c->selected[h] && c->pool->hosts[h].live)
            plan_add_check(c, "all_hosts_selected", c->pool->hosts[h].ref, NULL, NULL,
                           PLAN_SEV_BLOCKING,
                           xasprintf("XenServer 8 updates apply to the whole pool: select every "
                                     "host (%s is not selected).",
                                     plan_host_name(&c->pool->hosts[h])));
}

static bool moves_version(const struct plan_ctx *c, const char *u)
{
    const struct cat_patch *cp = catidx_patch(&c->x, u);
    return catidx_installs(&c->x, u) ||
           (cp && (cp->kind == CAT_KIND_CU || cp->kind == CAT_KIND_NEW_RELEASE));
}

/* Legacy: an update that moves hosts to a new version (a CU) needs every host of a homogeneous
 * pool that lacks it selected (XenCenter ServerSelectionCheck). */
static void cu_subset_check(struct plan_ctx *c)
{
    if (c->p->cdn || c->o->n_hosts == 0 || c->p->partly_upgraded)
        return;
    struct pidx seen;
    pidx_init(&seen, 16);
    for (size_t h = 0; h < c->nh; h++)
        for (size_t i = 0; c->selected[h] && i < c->ph[h].n_updates; i++) {
            const char *u = c->ph[h].updates[i];
            if (!moves_version(c, u) || pidx_get(&seen, u, NULL))
                continue;
            pidx_put(&seen, u, 0);
            for (size_t k = 0; k < c->nh; k++) {
                const struct inv_host *ih = &c->pool->hosts[k];
                if (c->selected[k] || inv_host_has_update(ih, u))
                    continue;
                plan_add_check(c, "all_hosts_selected", ih->ref, NULL, u, PLAN_SEV_BLOCKING,
                               xasprintf("%s moves hosts to a new version: select every host of "
                                         "the pool (%s is not selected).",
                                         plan_upd_name(c, u), plan_host_name(ih)));
            }
        }
    pidx_cleanup(&seen);
}

static void cdn_selection_check(struct plan_ctx *c)
{
    if (c->p->cdn && c->o->mode == PLAN_MODE_SELECTED && c->o->n_selected > 0)
        plan_add_check(c, "cdn_selection", NULL, NULL, NULL, PLAN_SEV_INFO,
                       xstrdup("XenServer 8 applies every pending update of a host at once; the "
                               "selection of updates is ignored."));
}

/* XenCenter's RestartHostOrToolstackPendingOnCoordinatorCheck. */
static void master_restart_pending_check(struct plan_ctx *c)
{
    const struct inv_host *m = &c->pool->hosts[c->master];
    bool reboot = m->n_updates_requiring_reboot > 0 ||
                  (m->pending_guidance & (CAT_G_RESTART_HOST | CAT_G_UNKNOWN));
    if (reboot || (m->pending_guidance & CAT_G_RESTART_XAPI))
        plan_add_check(c, "master_restart_pending", m->ref, NULL, NULL, PLAN_SEV_BLOCKING,
                       xasprintf("The pool master %s has a pending %s from an earlier update. "
                                 "Restart it first, then plan again.",
                                 plan_host_name(m), reboot ? "reboot" : "toolstack restart"));
}

static void ha_check(struct plan_ctx *c)
{
    bool any_evac = false;
    for (size_t h = 0; h < c->nh; h++)
        any_evac |= c->evac[h];
    if (!c->pool->ha_enabled || !any_evac)
        return;
    struct plan_check *k = plan_add_check(
        c, "ha_enabled", NULL, NULL, NULL, PLAN_SEV_BLOCKING,
        xstrdup("High availability is on, and hosts will be rebooted. Resolve: turn HA off "
                "for the rollout; it is turned back on at the end."));
    plan_fixable(k, PLAN_FIX_DISABLE_HA, c->pool->ref, NULL, PLAN_FIX_ENABLE_HA, c->pool->ref,
                 NULL);
}

/* ---- per host */

static bool host_live_check(struct plan_ctx *c, size_t h)
{
    const struct inv_host *ih = &c->pool->hosts[h];
    if (ih->live)
        return true;
    plan_add_check(c, "host_not_live", ih->ref, NULL, NULL, PLAN_SEV_BLOCKING,
                   xasprintf("Host %s is not live (unreachable or powered off). Power it on "
                             "or leave it out of the selection.",
                             plan_host_name(ih)));
    return false;
}

static bool host_disabled_check(struct plan_ctx *c, size_t h)
{
    const struct inv_host *ih = &c->pool->hosts[h];
    if (ih->enabled)
        return true;
    struct plan_check *k =
        plan_add_check(c, "host_disabled", ih->ref, NULL, NULL, PLAN_SEV_BLOCKING,
                       xasprintf("Host %s is disabled (maintenance mode). Resolve: enable it for "
                                 "the rollout; it is disabled again at the end.",
                                 plan_host_name(ih)));
    plan_fixable(k, PLAN_FIX_ENABLE_HOST, ih->ref, NULL, PLAN_FIX_DISABLE_HOST, ih->ref, NULL);
    return true;
}

/* Chosen updates already applied on the host. */
static bool already_applied_check(struct plan_ctx *c, size_t h)
{
    const struct inv_host *ih = &c->pool->hosts[h];
    if (c->o->mode != PLAN_MODE_SELECTED || c->p->cdn)
        return true;
    for (size_t i = 0; i < c->o->n_selected; i++)
        if (inv_host_has_update(ih, c->o->selected[i]))
            plan_add_check(c, "already_applied", ih->ref, NULL, c->o->selected[i], PLAN_SEV_INFO,
                           xasprintf("%s is already applied on %s; it is skipped there.",
                                     plan_upd_name(c, c->o->selected[i]), plan_host_name(ih)));
    return true;
}

/* dom0 space: the sum of the installation sizes. */
static bool dom0_space_check(struct plan_ctx *c, size_t h)
{
    const struct inv_host *ih = &c->pool->hosts[h];
    const struct plan_host *ph = &c->ph[h];
    if (c->p->cdn || ih->dom0_free_bytes < 0)
        return true;
    int64_t need = 0;
    for (size_t i = 0; i < ph->n_updates; i++) {
        const struct cat_patch *cp = catidx_patch(&c->x, ph->updates[i]);
        need += cp ? cp->installation_size : 0;
    }
    if (need > ih->dom0_free_bytes)
        plan_add_check(c, "dom0_space", ih->ref, NULL, NULL, PLAN_SEV_BLOCKING,
                       xasprintf("Host %s needs %.0f MiB free in dom0 for its updates but has "
                                 "%.0f MiB. Free space in dom0 (old logs, crash dumps, "
                                 "cleaned-up update files) and plan again.",
                                 plan_host_name(ih), need / MIB, ih->dom0_free_bytes / MIB));
    return true;
}

/* xapi's own precheck, passed through with its code. */
static bool xapi_precheck_check(struct plan_ctx *c, size_t h)
{
    const struct inv_host *ih = &c->pool->hosts[h];
    for (size_t i = 0; i < c->o->n_prechecks; i++) {
        const struct plan_precheck_result *r = &c->o->prechecks[i];
        if (!str_eq(r->host_ref, ih->ref) || !r->error_code || !r->error_code[0])
            continue;
        bool wide = !r->update_uuid || !r->update_uuid[0];
        bool detail = r->error_detail && r->error_detail[0];
        plan_add_check(c, "xapi_precheck", ih->ref, NULL, wide ? NULL : r->update_uuid,
                       PLAN_SEV_BLOCKING,
                       xasprintf("xapi's precheck%s%s on %s failed: %s%s%s%s", wide ? "" : " of ",
                                 wide ? "" : plan_upd_name(c, r->update_uuid), plan_host_name(ih),
                                 r->error_code, detail ? " (" : "",
                                 r->error_detail ? r->error_detail : "", detail ? ")" : ""));
    }
    return true;
}

/* A live patch that did not take: the host still needs its reboot. */
static bool livepatch_failed_check(struct plan_ctx *c, size_t h)
{
    const struct inv_host *ih = &c->pool->hosts[h];
    for (size_t i = 0; i < ih->n_updates_requiring_reboot; i++) {
        const struct cat_patch *cp = catidx_patch(&c->x, ih->updates_requiring_reboot[i]);
        if (cp && cp->contains_livepatch) {
            plan_add_check(c, "livepatch_failed", ih->ref, NULL, cp->uuid, PLAN_SEV_WARNING,
                           xasprintf("Live patching of %s failed on %s: the host still needs a "
                                     "reboot, which this plan includes.",
                                     plan_upd_name(c, cp->uuid), plan_host_name(ih)));
            break;
        }
    }
    return true;
}

static bool needs_reboot_check(struct plan_ctx *c, size_t h)
{
    const struct plan_host *ph = &c->ph[h];
    if (ph->reboot)
        plan_add_check(c, "host_needs_reboot", ph->ref, NULL, NULL, PLAN_SEV_INFO,
                       xasprintf("Host %s will be rebooted%s.", plan_host_name(&c->pool->hosts[h]),
                                 ph->evacuate ? " after its VMs are migrated away" : ""));
    return true;
}

/* True when the host's reboot was avoided by a live patch xapi's precheck has not confirmed. */
static bool livepatch_unconfirmed(const struct plan_ctx *c, size_t h)
{
    const struct plan_host *ph = &c->ph[h];
    if (c->p->cdn) {
        const struct plan_precheck_result *r = plan_find_precheck(c->o, ph->ref, NULL);
        return !r || r->livepatch == PLAN_LP_UNKNOWN;
    }
    for (size_t i = 0; i < ph->n_updates; i++) {
        const struct cat_patch *cp = catidx_patch(&c->x, ph->updates[i]);
        const struct plan_precheck_result *r = plan_find_precheck(c->o, ph->ref, ph->updates[i]);
        if (cp && cp->contains_livepatch && (cp->guidance & CAT_G_RESTART_HOST) &&
            (!r || r->livepatch == PLAN_LP_UNKNOWN))
            return true;
    }
    return false;
}

static bool livepatch_check(struct plan_ctx *c, size_t h)
{
    const struct inv_host *ih = &c->pool->hosts[h];
    if (!c->ph[h].livepatched)
        return true;
    bool unconfirmed = livepatch_unconfirmed(c, h);
    plan_add_check(c, unconfirmed ? "livepatch_unconfirmed" : "livepatch", ih->ref, NULL, NULL,
                   PLAN_SEV_INFO,
                   unconfirmed ? xasprintf("Host %s is planned without a reboot because its "
                                           "updates carry live patches; xapi's precheck will "
                                           "confirm it, otherwise the host is rebooted.",
                                           plan_host_name(ih))
                               : xasprintf("Host %s needs no reboot: its live patches apply.",
                                           plan_host_name(ih)));
    return true;
}

/* True when one of the host's updates carries a live patch that would cover its reboot. */
static bool has_livepatch(const struct plan_ctx *c, size_t h)
{
    const struct plan_host *ph = &c->ph[h];
    for (size_t i = 0; i < c->cat->n_cdn_hosts && c->p->cdn; i++)
        if (str_eq(c->cat->cdn_hosts[i].ref, ph->ref))
            return c->cat->cdn_hosts[i].n_livepatches > 0;
    for (size_t i = 0; i < ph->n_updates && !c->p->cdn; i++) {
        const struct cat_patch *cp = catidx_patch(&c->x, ph->updates[i]);
        if (cp && cp->contains_livepatch && (cp->guidance & CAT_G_RESTART_HOST))
            return true;
    }
    return false;
}

/* The pool's live-patching switch is off (pool.live_patching_disabled, XenCenter's pool
 * properties "Live patching"): a live patch that would cover the host does not, it reboots. */
static bool livepatch_disabled_check(struct plan_ctx *c, size_t h)
{
    if (!c->pool->live_patching_disabled || !c->ph[h].reboot || !has_livepatch(c, h))
        return true;
    plan_add_check(c, "livepatch_disabled", c->ph[h].ref, NULL, NULL, PLAN_SEV_INFO,
                   xasprintf("Live patching is disabled on pool %s, so %s is rebooted although "
                             "its updates carry a live patch. Enable live patching in the "
                             "pool's properties to avoid the reboot.",
                             inv_pool_display_name(c->pool), plan_host_name(&c->pool->hosts[h])));
    return true;
}

/* Per-host checks in order; false from a check skips the rest for that host. */
static const struct host_check {
    const char *id;
    bool (*run)(struct plan_ctx *c, size_t h);
    bool needs_work; /* only for hosts with updates to apply */
} host_checks[] = {
    {"host_not_live", host_live_check, false},
    {"host_disabled", host_disabled_check, false},
    {"already_applied", already_applied_check, false},
    {"dom0_space", dom0_space_check, true},
    {"xapi_precheck", xapi_precheck_check, true},
    {"livepatch_failed", livepatch_failed_check, true},
    {"host_needs_reboot", needs_reboot_check, true},
    {"livepatch", livepatch_check, true},
    {"livepatch_disabled", livepatch_disabled_check, true},
};

static void per_host_checks(struct plan_ctx *c)
{
    for (size_t h = 0; h < c->nh; h++) {
        if (!c->selected[h])
            continue;
        bool work = c->g[h].mode != PLAN_UM_UP_TO_DATE;
        for (size_t i = 0; i < sizeof(host_checks) / sizeof(host_checks[0]); i++)
            if ((work || !host_checks[i].needs_work) && !host_checks[i].run(c, h))
                break;
    }
}

/* Unplugged PBDs of shared SRs on live hosts. */
static void pbd_check(struct plan_ctx *c)
{
    bool any_update = false;
    for (size_t h = 0; h < c->nh; h++)
        any_update |= c->update[h];
    for (size_t i = 0; i < c->pool->n_srs && any_update; i++) {
        const struct inv_sr *sr = &c->pool->srs[i];
        for (size_t j = 0; sr->shared && j < sr->n_pbds; j++) {
            const struct inv_host *ih = inv_pool_host(c->pool, sr->pbds[j].host_ref);
            if (sr->pbds[j].attached || !ih || !ih->live)
                continue;
            struct plan_check *k = plan_add_check(
                c, "pbd_unplugged", ih->ref, NULL, NULL, PLAN_SEV_BLOCKING,
                xasprintf("Shared SR %s is not attached on %s, so VMs and the update image on it "
                          "are not visible there. Resolve: repair the SR (plug its PBD).",
                          sr->name_label && sr->name_label[0] ? sr->name_label : sr->ref,
                          plan_host_name(ih)));
            plan_fixable(k, PLAN_FIX_PLUG_PBD, ih->ref, sr->ref, PLAN_FIX_NONE, NULL, NULL);
        }
    }
}

/* The prechecks, in the order their findings are listed. */
static const struct pool_check {
    const char *id;
    void (*run)(struct plan_ctx *c);
} pool_checks[] = {
    {"update_uninstallable", uninstallable_checks},
    {"partly_upgraded", partly_upgraded_check},
    {"forbid_auto_restart", forbid_auto_restart_check},
    {"all_hosts_selected", cdn_subset_check},
    {"all_hosts_selected", cu_subset_check},
    {"cdn_selection", cdn_selection_check},
    {"master_restart_pending", master_restart_pending_check},
    {"ha_enabled", ha_check},
    {"host checks", per_host_checks},
    {"pbd_unplugged", pbd_check},
    {"upgrade", plan_upgrade_checks},
};

/* Run every precheck of the table (see the file comment). */
void plan_pool_checks(struct plan_ctx *c)
{
    for (size_t i = 0; i < sizeof(pool_checks) / sizeof(pool_checks[0]); i++)
        pool_checks[i].run(c);
}
