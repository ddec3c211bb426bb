/* SPDX-License-Identifier: MIT */
/*
 * upgrade.c - the planner's rolling pool upgrade (PLAN_MODE_UPGRADE): per host the actions of
 * XenServer's documented rolling pool upgrade (disable, evacuate, upgrade
 * — the host plugin prepare_host_upgrade then a reboot into the installer, or the operator's boot
 * from media —, enable, VMs suspended / shut down for it resumed / started, VMs back home only
 * under policy return), hosts already on the target version left out (so running it again resumes),
 * the upgrade prechecks, and the VMs whose guest tools must be upgraded afterwards (seed step 12:
 * those whose PV drivers are older than the new release, plan_tools_outdated).
 *
 * The order and placement are plan.c / place.c's, one host at a time (XenCenter's Rolling Pool
 * Upgrade wizard, xencenter.md section 6): the master first and alone, then each supporter.
 * Migrations only ever go from a host on the old version to one on the same or a newer
 * version, as xapi requires during a rolling upgrade (ocaml/xapi: migration to hosts whose
 * platform version is >= the source's): the host being evacuated has not been upgraded yet, and
 * VMs brought home go to a host just upgraded.  Pure, like the rest of the planner.
 */
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "plan/plan_int.h"

/* See plan.h. */
bool plan_host_upgraded(const struct inv_host *h, const char *to)
{
    return h && to && *to && cat_version_cmp(h->product_version, to) >= 0;
}

static void push(struct plan_host *ph, size_t *cap, enum plan_action_kind k, bool manual)
{
    struct plan_action a = {0};
    a.kind = k;
    a.update_uuid = xstrdup("");
    a.label = xstrdup("");
    a.manual = manual;
    PV_PUSH(ph->actions, ph->n_actions, *cap, a);
}

/* The actions of host h in an upgrade (see plan_int.h). */
void plan_host_actions_upgrade(struct plan_ctx *c, size_t h)
{
    const struct inv_host *ih = &c->pool->hosts[h];
    struct plan_host *ph = &c->ph[h];
    struct plan_guidance_out *g = &c->g[h];
    free(ph->version);
    ph->version = xstrdup(ih->product_version ? ih->product_version : "");
    if (plan_host_upgraded(ih, c->o->upgrade_to)) {
        g->mode = PLAN_UM_UP_TO_DATE;
        return;
    }
    bool evac = c->nh > 1; /* a standalone host's VMs are suspended or shut down instead */
    size_t cap = 0;
    push(ph, &cap, PLAN_ACT_DISABLE, false);
    if (evac)
        push(ph, &cap, PLAN_ACT_EVACUATE, false);
    push(ph, &cap, PLAN_ACT_UPGRADE, c->o->upgrade_manual);
    push(ph, &cap, PLAN_ACT_ENABLE, false);
    push(ph, &cap, PLAN_ACT_RESTORE_VMS, false);
    if (evac)
        push(ph, &cap, PLAN_ACT_MIGRATE_BACK, false);
    g->mode = PLAN_UM_UPGRADE;
    g->evacuate = evac;
    g->reboot = true;
}

/* ------------------------------------------------------------------ prechecks */

static bool url_scheme_ok(const char *u)
{
    static const char *const schemes[] = {"http://", "https://", "ftp://", "nfs://"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strncasecmp(u, schemes[i], strlen(schemes[i])) == 0 && u[strlen(schemes[i])])
            return true;
    return false;
}

static void url_check(struct plan_ctx *c)
{
    const char *u = c->o->upgrade_url;
    if (c->o->upgrade_apply_updates) /* XenCenter's RollingUpgradeUpgradePage: once per pool */
        plan_add_check(c, "upgrade_updates", NULL, NULL, NULL, PLAN_SEV_INFO,
                       xasprintf("Then the automated updates of %s: once every host runs it, "
                                 "the pool is read again and its updates are planned and "
                                 "applied in this rollout (none when a host was left out).",
                                 c->o->upgrade_to ? c->o->upgrade_to : "the new version"));
    if (c->o->upgrade_manual) {
        plan_add_check(c, "upgrade_manual", NULL, NULL, NULL, PLAN_SEV_INFO,
                       xstrdup("Manual mode: boot each host from the installation media when "
                               "poolpatch asks for it, and choose the upgrade option."));
        return;
    }
    if (!u || !*u)
        plan_add_check(c, "upgrade_url", NULL, NULL, NULL, PLAN_SEV_BLOCKING,
                       xstrdup("No installation URL: give the HTTP, NFS or FTP address of the "
                               "installation media (--url), or choose manual mode (--manual)."));
    else if (!url_scheme_ok(u))
        plan_add_check(c, "upgrade_url", NULL, NULL, NULL, PLAN_SEV_BLOCKING,
                       xasprintf("The installation URL '%s' is not an http://, https://, ftp:// "
                                 "or nfs:// address.",
                                 u));
    else
        plan_add_check(c, "upgrade_url", NULL, NULL, NULL, PLAN_SEV_INFO,
                       xasprintf("Each host checks that it can reach %s (host plugin "
                                 "prepare_host_upgrade) before it is upgraded; a master that "
                                 "cannot reach it stops the upgrade before anything changes "
                                 "on it.",
                                 u));
}

/* The master must go first: a supporter on a newer version than the master is refused. */
static void order_check(struct plan_ctx *c)
{
    const struct inv_host *m = &c->pool->hosts[c->master];
    for (size_t h = 0; h < c->nh; h++) {
        const struct inv_host *ih = &c->pool->hosts[h];
        if (h == c->master || cat_version_cmp(ih->product_version, m->product_version) <= 0)
            continue;
        plan_add_check(c, "upgrade_master_first", ih->ref, NULL, NULL, PLAN_SEV_BLOCKING,
                       xasprintf("Host %s runs %s, newer than the master %s (%s): the master "
                                 "must be upgraded first. Restore the pool (designate the "
                                 "newest host as master), then plan again.",
                                 plan_host_name(ih), ih->product_version, plan_host_name(m),
                                 m->product_version));
    }
}

/* Hosts already on the target version, and a rolling upgrade already under way. */
static void progress_checks(struct plan_ctx *c)
{
    size_t left = 0;
    for (size_t h = 0; h < c->nh; h++) {
        const struct inv_host *ih = &c->pool->hosts[h];
        if (!c->selected[h])
            continue;
        if (!plan_host_upgraded(ih, c->o->upgrade_to)) {
            left++;
            continue;
        }
        plan_add_check(c, "already_upgraded", ih->ref, NULL, NULL, PLAN_SEV_INFO,
                       xasprintf("Host %s already runs %s: it is skipped.", plan_host_name(ih),
                                 ih->product_version));
    }
    if (c->p->partly_upgraded && left)
        plan_add_check(c, "upgrade_in_progress", NULL, NULL, NULL, PLAN_SEV_INFO,
                       xasprintf("The hosts of pool %s run different versions: a rolling "
                                 "upgrade is under way. It resumes with the %zu host%s left.",
                                 inv_pool_display_name(c->pool), left, left == 1 ? "" : "s"));
}

static bool wants_shutdown(const struct plan_opts *o, const struct inv_vm *vm)
{
    for (size_t i = 0; i < o->n_upgrade_shutdown; i++)
        if (str_eq(o->upgrade_shutdown[i], vm->ref) ||
            str_eq(o->upgrade_shutdown[i], vm->name_label) ||
            str_eq_nocase(o->upgrade_shutdown[i], vm->uuid))
            return true;
    return false;
}

/* A standalone host (seed 7.2.1): its running VMs are suspended (CD ejected first) or shut
 * down for the upgrade, and resumed / started on it afterwards. */
static void standalone_checks(struct plan_ctx *c)
{
    if (c->nh != 1 || c->g[0].mode != PLAN_UM_UPGRADE)
        return;
    for (size_t v = 0; v < c->nv; v++) {
        const struct inv_vm *vm = &c->pool->vms[v];
        if (!place_vm_moves(vm) || c->vm_host[v] != 0)
            continue;
        plan_unmovable_check(c, v, 0, "upgrade_standalone",
                             "runs on a host without a pool: it cannot move elsewhere",
                             wants_shutdown(c->o, vm));
    }
}

/* PV guests the new release does not run (XenCenter's PVGuestsCheck: a target of Yangtze (8.2)
 * or later is PoolHasPVGuestProblem, blocking; Quebec (8.1) PoolHasPVGuestWarningUrl, a
 * warning; neither offers a fix, only "more information").  XenCenter runs it only from a
 * release older than Yangtze; we run it from any, since a PV guest left in the pool would not
 * start on the new hosts.  The fix is the operator's: convert the guest to HVM, or remove it. */
static void pv_checks(struct plan_ctx *c)
{
    const char *to = c->o->upgrade_to;
    enum plan_severity sev = cat_version_cmp(to, "8.2.0") >= 0   ? PLAN_SEV_BLOCKING
                             : cat_version_cmp(to, "8.1.0") >= 0 ? PLAN_SEV_WARNING
                                                                 : PLAN_SEV_INFO;
    if (sev == PLAN_SEV_INFO)
        return;
    for (size_t v = 0; v < c->nv; v++) {
        const struct inv_vm *vm = &c->pool->vms[v];
        if (!vm->pv_guest || vm->is_control_domain)
            continue;
        plan_add_check(c, "upgrade_pv_guest", NULL, vm->ref, NULL, sev,
                       xasprintf("VM %s is a PV guest (domain_type pv): %s %s PV guests. "
                                 "Convert it to HVM (or remove it) before the upgrade.",
                                 plan_vm_name(vm), to,
                                 sev == PLAN_SEV_BLOCKING ? "does not run" : "no longer supports"));
    }
}

/* Licensing (XenCenter's Host.RestrictRpu, read by RollingUpgradeWizardSelectPool: a pool with a
 * host not licensed for rolling pool upgrade is left out, unless a rolling upgrade is already
 * under way).  No fix: license the pool (xe host-apply-edition), or upgrade each host alone. */
static void licence_checks(struct plan_ctx *c)
{
    for (size_t h = 0; h < c->nh; h++) {
        const struct inv_host *ih = &c->pool->hosts[h];
        if (!ih->rpu_restricted || !c->selected[h])
            continue;
        bool resume = c->p->partly_upgraded;
        plan_add_check(
            c, "upgrade_licence", ih->ref, NULL, NULL, resume ? PLAN_SEV_INFO : PLAN_SEV_BLOCKING,
            xasprintf("Host %s (edition %s) is not licensed for rolling pool upgrade "
                      "(license_params restrict_rpu). %s",
                      plan_host_name(ih), ih->edition && *ih->edition ? ih->edition : "?",
                      resume ? "The rolling upgrade already under way may finish."
                             : "License the pool (xe host-apply-edition) before "
                               "upgrading it."));
    }
}

/* The upgrade's prechecks (run from plan_pool_checks in upgrade mode). */
void plan_upgrade_checks(struct plan_ctx *c)
{
    if (c->o->mode != PLAN_MODE_UPGRADE)
        return;
    url_check(c);
    order_check(c);
    progress_checks(c);
    standalone_checks(c);
    pv_checks(c);
    licence_checks(c);
}

/* See plan.h. */
bool plan_tools_outdated(const struct inv_vm *vm, const char *to)
{
    return vm && !vm->is_control_domain && vm->tools_version && *vm->tools_version && to && *to &&
           cat_version_cmp(vm->tools_version, to) < 0;
}

/* ------------------------------------------------------------------ after placement */

/* The VMs resolved by suspend / shutdown on host ref (their undo resumes / starts them there). */
static void restore_list(struct plan_ctx *c, struct plan_action *a, const char *host_ref)
{
    size_t cap = 0;
    for (size_t i = 0; i < c->p->n_checks; i++) {
        const struct plan_check *k = &c->p->checks[i];
        if (!k->fixable ||
            (k->undo.kind != PLAN_FIX_RESUME_VM && k->undo.kind != PLAN_FIX_START_VM))
            continue;
        if (str_eq(k->undo.arg_ref, host_ref))
            PV_PUSH(a->vms, a->n_vms, cap, xstrdup(k->undo.obj_ref));
    }
}

/* Fill the restore actions (kept when empty: after Resolve All the re-plan no longer sees the
 * VMs it suspended; the executor's restore step reads them from the journal) and the
 * guest-tools list. */
void plan_upgrade_finish(struct plan_ctx *c)
{
    struct plan *p = c->p;
    p->upgrade_to = xstrdup(c->o->upgrade_to ? c->o->upgrade_to : "");
    p->upgrade_url = xstrdup(!c->o->upgrade_manual && c->o->upgrade_url ? c->o->upgrade_url : "");
    p->upgrade_manual = c->o->upgrade_manual;
    p->upgrade_apply_updates = c->o->upgrade_apply_updates;
    size_t n = 0;
    p->tools_vms = xcalloc(c->nv + 1, sizeof(*p->tools_vms));
    p->tools_vm_names = xcalloc(c->nv + 1, sizeof(*p->tools_vm_names));
    for (size_t v = 0; v < c->nv; v++) {
        const struct inv_vm *vm = &c->pool->vms[v];
        if (!plan_tools_outdated(vm, c->o->upgrade_to))
            continue;
        p->tools_vms[n] = xstrdup(vm->ref);
        p->tools_vm_names[n++] = xstrdup(plan_vm_name(vm));
    }
    p->n_tools_vms = n;
    for (size_t h = 0; h < c->nh; h++) {
        struct plan_host *ph = &c->ph[h];
        for (size_t i = 0; i < ph->n_actions; i++) {
            struct plan_action *a = &ph->actions[i];
            if (a->kind != PLAN_ACT_RESTORE_VMS)
                continue;
            restore_list(c, a, ph->ref);
        }
    }
}

/* ------------------------------------------------------------------ the new version's updates */

/* A host's fields an upgrade changes, swapped out while the prediction plans. */
struct host_swap {
    char *version, *build;
    char **updates, **urr;
    size_t n_updates, n_urr;
    unsigned guidance;
};

static void host_swap(struct inv_host *h, struct host_swap *s)
{
    struct host_swap t = {h->product_version, h->build_number,
                          h->updates,         h->updates_requiring_reboot,
                          h->n_updates,       h->n_updates_requiring_reboot,
                          h->pending_guidance};
    h->product_version = s->version;
    h->build_number = s->build;
    h->updates = s->updates;
    h->updates_requiring_reboot = s->urr;
    h->n_updates = s->n_updates;
    h->n_updates_requiring_reboot = s->n_urr;
    h->pending_guidance = s->guidance;
    *s = t;
}

/* See plan.h. */
int plan_upgrade_then_updates(struct inv_pool *pool, const struct catalog *cat,
                              const struct plan_opts *o, struct plan **out, struct err *e)
{
    *out = NULL;
    if (!o->upgrade_apply_updates || !o->upgrade_to || !cat || cat->source == CAT_SOURCE_CDN)
        return 0;
    const struct cat_version *v = NULL;
    for (size_t i = 0; i < cat->n_versions && !v; i++)
        if (str_eq(cat->versions[i].value, o->upgrade_to))
            v = &cat->versions[i];
    if (!v || !v->has_minimal || pool->n_hosts == 0)
        return 0;
    struct host_swap *sw = xcalloc(pool->n_hosts, sizeof(*sw));
    for (size_t h = 0; h < pool->n_hosts; h++) {
        sw[h].version = v->value;
        sw[h].build = v->build_number ? v->build_number : (char *)"";
        host_swap(&pool->hosts[h], &sw[h]);
    }
    struct plan_opts po = *o;
    po.mode = PLAN_MODE_AUTOMATED;
    po.upgrade_to = po.upgrade_url = NULL;
    po.upgrade_manual = po.upgrade_apply_updates = false;
    po.upgrade_shutdown = NULL;
    po.n_upgrade_shutdown = 0;
    po.selected = NULL;
    po.n_selected = 0;
    po.prechecks = NULL;
    po.n_prechecks = 0;
    int rc = plan_build(pool, cat, &po, out, e);
    for (size_t h = 0; h < pool->n_hosts; h++)
        host_swap(&pool->hosts[h], &sw[h]);
    free(sw);
    return rc;
}
