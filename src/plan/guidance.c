/* SPDX-License-Identifier: MIT */
/*
 * guidance.c - after-apply guidance -> the ordered actions of one host.
 *
 * Legacy updates (xencenter.md section 2, "Reboot planning"): mandatory guidance runs right
 * after its update; deferred guidance is merged into at most one reboot at the end; a deferred
 * toolstack restart is dropped when a reboot follows; restartHost covered by a complete live
 * patch needs no reboot; a mandatory restartXAPI while a reboot is pending becomes that reboot
 * (XenCenter PR #2334).  XenServer 8 (section 2, "CDN plan per host"): one apply_updates with
 * the catalog hash, the host's recommended guidance (its live-patch guidance when the live
 * patches apply), plus guidance already pending on the host.
 *
 * VM restarts (restartHVM / restartPV / RestartDeviceModel / RestartVM) are merged to the end of
 * the host's step, after the VMs are back: a VM that left for an already-updated host got a new
 * device model with the migration.
 */
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "plan/plan_int.h"

#define G_REBOOT (CAT_G_RESTART_HOST | CAT_G_UNKNOWN)
#define G_VMS    (CAT_G_RESTART_HVM | CAT_G_RESTART_PV | CAT_G_RESTART_DM | CAT_G_RESTART_VM)

/* The precheck result for host and update; update NULL finds the host-wide entry. */
const struct plan_precheck_result *plan_find_precheck(const struct plan_opts *o,
                                                      const char *host_ref, const char *uuid)
{
    if (!o || !o->prechecks)
        return NULL;
    const struct plan_precheck_result *wide = NULL;
    for (size_t i = 0; i < o->n_prechecks; i++) {
        const struct plan_precheck_result *r = &o->prechecks[i];
        if (!str_eq(r->host_ref, host_ref))
            continue;
        bool any = !r->update_uuid || !r->update_uuid[0];
        if (uuid && !any && str_eq_nocase(r->update_uuid, uuid))
            return r;
        if (any && !wide)
            wide = r;
    }
    return wide;
}

static void push_action(struct plan_host *ph, size_t *cap, enum plan_action_kind k,
                        const char *uuid, unsigned guidance, bool mandatory, bool manual)
{
    struct plan_action a = {0};
    a.kind = k;
    a.update_uuid = xstrdup(uuid ? uuid : "");
    a.label = xstrdup("");
    a.guidance = guidance;
    a.mandatory = mandatory;
    a.manual = manual;
    PV_PUSH(ph->actions, ph->n_actions, *cap, a);
}

/* Prepend DISABLE (+ EVACUATE) and close with ENABLE (+ MIGRATE_BACK, RESTART_VMS). */
static void frame(struct plan_host *ph, size_t body_from, size_t *cap, bool evac, bool manual,
                  unsigned vm_bits, struct plan_guidance_out *out)
{
    size_t n_pre = evac ? 2 : 1;
    size_t n_body = ph->n_actions - body_from;
    if (ph->n_actions + n_pre > *cap) {
        *cap = ph->n_actions + n_pre + 4;
        ph->actions = xreallocarray(ph->actions, *cap, sizeof(*ph->actions));
    }
    memmove(ph->actions + body_from + n_pre, ph->actions + body_from,
            n_body * sizeof(*ph->actions));
    ph->n_actions += n_pre;
    struct plan_action d = {0};
    d.kind = PLAN_ACT_DISABLE;
    d.update_uuid = xstrdup("");
    d.label = xstrdup("");
    ph->actions[body_from] = d;
    if (evac) {
        struct plan_action ev = {0};
        ev.kind = PLAN_ACT_EVACUATE;
        ev.update_uuid = xstrdup("");
        ev.label = xstrdup("");
        ph->actions[body_from + 1] = ev;
    }
    push_action(ph, cap, PLAN_ACT_ENABLE, NULL, 0, false, manual);
    if (evac)
        push_action(ph, cap, PLAN_ACT_MIGRATE_BACK, NULL, 0, false, false);
    if (vm_bits)
        push_action(ph, cap, PLAN_ACT_RESTART_VMS, NULL, vm_bits, false, manual);
    out->evacuate = evac;
}

/* Legacy: actions for ph->updates on host h (see the file comment). */
void plan_host_actions_legacy(const struct catidx *x, const struct plan_opts *o,
                              const struct inv_host *h, struct plan_host *ph, bool manual,
                              bool lp_off, struct plan_guidance_out *out)
{
    memset(out, 0, sizeof(*out));
    size_t cap = ph->n_actions;
    size_t body_from = cap;
    unsigned deferred = 0, vm_bits = 0;
    bool covered = false, evac_guidance = false;

    /* a reboot already pending on the host (e.g. a live patch that did not take) */
    if (h->n_updates_requiring_reboot > 0)
        deferred |= CAT_G_RESTART_HOST;
    deferred |= h->pending_guidance & (G_REBOOT | CAT_G_RESTART_XAPI);
    vm_bits |= h->pending_guidance & G_VMS;
    if (h->pending_guidance & CAT_G_EVACUATE_HOST)
        evac_guidance = true;

    for (size_t i = 0; i < ph->n_updates; i++) {
        const char *u = ph->updates[i];
        const struct cat_patch *p = catidx_patch(x, u);
        unsigned g = p ? p->guidance : CAT_G_UNKNOWN;
        push_action(ph, &cap, PLAN_ACT_APPLY, u, g, false, false);
        if (g & CAT_G_RESTART_HOST) {
            const struct plan_precheck_result *r = plan_find_precheck(o, h->ref, u);
            enum plan_livepatch lp = r ? r->livepatch : PLAN_LP_UNKNOWN;
            if (p && p->contains_livepatch && !lp_off &&
                (lp == PLAN_LP_COMPLETE || lp == PLAN_LP_UNKNOWN)) {
                g &= ~(unsigned)CAT_G_RESTART_HOST;
                covered = true;
            }
        }
        if (g & CAT_G_EVACUATE_HOST)
            evac_guidance = true;
        vm_bits |= g & G_VMS;
        if (p && p->guidance_mandatory && (g & (G_REBOOT | CAT_G_RESTART_XAPI))) {
            if ((g & G_REBOOT) || (deferred & G_REBOOT)) {
                push_action(ph, &cap, PLAN_ACT_REBOOT, NULL, (g | deferred) & ~G_VMS, true, manual);
                deferred &= ~(unsigned)(G_REBOOT | CAT_G_RESTART_XAPI);
                out->reboot = true;
            } else {
                push_action(ph, &cap, PLAN_ACT_RESTART_TOOLSTACK, NULL, CAT_G_RESTART_XAPI, true,
                            manual);
                deferred &= ~(unsigned)CAT_G_RESTART_XAPI;
                out->toolstack = true;
            }
        } else {
            deferred |= g & (G_REBOOT | CAT_G_RESTART_XAPI);
        }
    }
    if (deferred & G_REBOOT) {
        push_action(ph, &cap, PLAN_ACT_REBOOT, NULL, deferred & ~G_VMS, false, manual);
        out->reboot = true;
    } else if (deferred & CAT_G_RESTART_XAPI) {
        push_action(ph, &cap, PLAN_ACT_RESTART_TOOLSTACK, NULL, CAT_G_RESTART_XAPI, false, manual);
        out->toolstack = true;
    }
    /* a mandatory toolstack restart before a (later) reboot stays: it was needed at once */
    if (ph->n_actions == body_from && !vm_bits && !evac_guidance) {
        out->mode = PLAN_UM_UP_TO_DATE;
        return;
    }
    frame(ph, body_from, &cap, (out->reboot && !o->manual_post_tasks) || evac_guidance, manual,
          vm_bits, out);
    out->vm_restart = vm_bits;
    out->livepatched = covered && !out->reboot;
    out->mode = out->reboot      ? PLAN_UM_REBOOT
                : out->toolstack ? PLAN_UM_TOOLSTACK
                : vm_bits        ? PLAN_UM_RESTART_VMS
                : ph->n_updates  ? PLAN_UM_NONE
                                 : PLAN_UM_UP_TO_DATE;
}

/* XenServer 8: one apply_updates, guidance from /updates (see the file comment). */
void plan_host_actions_cdn(const struct catalog *cat, const struct plan_opts *o,
                           const struct inv_host *h, const struct cat_cdn_host *ch,
                           struct plan_host *ph, bool manual, bool lp_off,
                           struct plan_guidance_out *out)
{
    memset(out, 0, sizeof(*out));
    size_t cap = ph->n_actions;
    size_t body_from = cap;
    unsigned g = ch ? ch->recommended_guidance : 0;
    bool covered = false;
    if (ch && !lp_off && (g & CAT_G_RESTART_HOST) && ch->n_livepatches > 0) {
        const struct plan_precheck_result *r = plan_find_precheck(o, h->ref, NULL);
        enum plan_livepatch lp = r ? r->livepatch : PLAN_LP_UNKNOWN;
        if (lp == PLAN_LP_COMPLETE || lp == PLAN_LP_UNKNOWN) {
            g = (g & ~(unsigned)(CAT_G_RESTART_HOST | CAT_G_EVACUATE_HOST)) |
                ch->livepatch_guidance;
            covered = !(g & CAT_G_RESTART_HOST);
        }
    }
    g |= h->pending_guidance;
    if (h->n_updates_requiring_reboot > 0)
        g |= CAT_G_RESTART_HOST;
    bool have = ch && ch->n_updates > 0;
    if (!have && !g) {
        out->mode = PLAN_UM_UP_TO_DATE;
        return;
    }
    if (have)
        push_action(ph, &cap, PLAN_ACT_APPLY_CDN, cat->cdn_hash ? cat->cdn_hash : "", g, false,
                    false);
    if (g & G_REBOOT) {
        push_action(ph, &cap, PLAN_ACT_REBOOT, NULL, g & ~G_VMS, false, manual);
        out->reboot = true;
    } else if (g & CAT_G_RESTART_XAPI) {
        push_action(ph, &cap, PLAN_ACT_RESTART_TOOLSTACK, NULL, CAT_G_RESTART_XAPI, false, manual);
        out->toolstack = true;
    }
    unsigned vm_bits = g & G_VMS;
    frame(ph, body_from, &cap,
          ((g & G_REBOOT) && !o->manual_post_tasks) || (g & CAT_G_EVACUATE_HOST) != 0, manual,
          vm_bits, out);
    out->vm_restart = vm_bits;
    out->livepatched = covered && !out->reboot;
    out->mode = out->reboot      ? PLAN_UM_REBOOT
                : out->toolstack ? PLAN_UM_TOOLSTACK
                : vm_bits        ? PLAN_UM_RESTART_VMS
                : have           ? PLAN_UM_NONE
                                 : PLAN_UM_UP_TO_DATE;
}
