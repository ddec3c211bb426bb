/* SPDX-License-Identifier: MIT */
/*
 * test_plan_upgrade.c - the planner's rolling pool upgrade (src/plan/upgrade.c, docs/upgrade.md):
 * master first and alone then one supporter at a time, migrations only from hosts still on the
 * old version to hosts on the same or a newer one at that moment (xapi's rule during a rolling
 * upgrade), hosts already upgraded skipped (re-running resumes), VMs that cannot move suspended
 * (CD ejected first) or shut down on a standalone host and restored on it, the prechecks (URL,
 * master first, maintenance, HA, memory, PV guests, licence), the guest-tools list, and random
 * pools replayed step by step with a printed seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/str.h"
#include "plan/plan.h"
#include "plan/views.h"
#include "test_plan_fixture.h"

static void upgrade_opts(struct plan_opts *o, const char *to)
{
    plan_opts_init(o);
    o->mode = PLAN_MODE_UPGRADE;
    o->policy = PLAN_POLICY_MINIMAL;
    o->upgrade_to = to;
    o->upgrade_url = "http://media.example/xs84/";
}

static const struct plan_check *check_of(const struct plan *p, const char *id, const char *vm)
{
    for (size_t i = 0; i < p->n_checks; i++)
        if (str_eq(p->checks[i].id, id) && (!vm || str_eq(p->checks[i].vm_ref, vm)))
            return &p->checks[i];
    return NULL;
}

/* The severity / fix kind of a check, -1 when there is none. */
static int sev_of(const struct plan *p, const char *id, const char *vm)
{
    const struct plan_check *k = check_of(p, id, vm);
    return k ? (int)k->severity : -1;
}

static int fix_of(const struct plan *p, const char *id, const char *vm)
{
    const struct plan_check *k = check_of(p, id, vm);
    return k ? (int)k->fix.kind : -1;
}

static const struct plan_action *action_of(const struct plan_host *h, enum plan_action_kind k)
{
    for (size_t i = 0; i < h->n_actions; i++)
        if (h->actions[i].kind == k)
            return &h->actions[i];
    return NULL;
}

/* A 4-host pool on 8.2.1 with a shared SR and two VMs per host. */
static struct inv_pool *pool4(void)
{
    struct inv_pool *p = fx_pool("prod");
    char ref[32];
    for (int h = 0; h < 4; h++) {
        snprintf(ref, sizeof ref, "h%d", h);
        fx_host(p, ref, 48 * GIB, "8.2.1", "b58");
    }
    fx_sr(p, "nfs", true, NULL, 1000 * GIB, 0);
    for (int v = 0; v < 8; v++) {
        char vm[32];
        snprintf(vm, sizeof vm, "vm%d", v);
        snprintf(ref, sizeof ref, "h%d", v / 2);
        size_t i = fx_vm(p, vm, ref, 4 * GIB, "nfs");
        p->vms[i].tools_version = xstrdup("8.2.1");
    }
    return p;
}

static void test_pool_order_and_actions(void **state)
{
    (void)state;
    struct inv_pool *pool = pool4();
    struct plan_opts o;
    upgrade_opts(&o, "8.4.0");
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, NULL, &o, &p, NULL), 0); /* no catalog needed */
    assert_int_equal(p->mode, PLAN_MODE_UPGRADE);
    assert_string_equal(p->upgrade_to, "8.4.0");
    assert_true(plan_can_resolve(p));
    assert_int_equal(p->totals.hosts_updated, 4);
    assert_int_equal(p->totals.batches, 4); /* one host at a time */
    assert_true(p->hosts[0].is_master);
    assert_int_equal(p->hosts[0].batch, 0);
    for (size_t i = 0; i < 4; i++) {
        const struct plan_host *h = &p->hosts[i];
        assert_int_equal(h->order, (int)i);
        assert_int_equal(h->mode, PLAN_UM_UPGRADE);
        assert_non_null(action_of(h, PLAN_ACT_DISABLE));
        assert_non_null(action_of(h, PLAN_ACT_EVACUATE));
        assert_non_null(action_of(h, PLAN_ACT_UPGRADE));
        assert_non_null(action_of(h, PLAN_ACT_ENABLE));
        assert_null(action_of(h, PLAN_ACT_MIGRATE_BACK)); /* policy minimal: not back */
        assert_true(action_of(h, PLAN_ACT_EVACUATE) < action_of(h, PLAN_ACT_UPGRADE));
    }
    assert_int_equal(p->totals.reboots, 4);
    assert_true(p->totals.window_s >= 4 * 1200.0); /* the installer's run per host */
    assert_int_equal(p->n_tools_vms, 8);           /* every VM's tools are 8.2.1 */
    assert_non_null(check_of(p, "upgrade_url", NULL));
    assert_int_equal(sev_of(p, "upgrade_url", NULL), PLAN_SEV_INFO);
    json_t *j = plan_to_json(p);
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "upgrade");
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "upgrade"), "tools_vms")),
                     8);
    json_decref(j);
    plan_free(p);
    inv_pool_free(pool);
}

/* The guest-tools list holds only VMs whose PV drivers are older than the new release: not
 * those with newer or equal drivers, nor those without tools (nothing to upgrade). */
static void test_tools_list(void **state)
{
    (void)state;
    struct inv_pool *pool = pool4();
    static const char *const tv[8] = {"8.2.1", "7.1.0", "8.4.0", "9.4.0",
                                      "",      NULL,    "8.3.9", "10.0.0"};
    for (size_t i = 0; i < 8; i++) {
        free(pool->vms[i].tools_version);
        pool->vms[i].tools_version = tv[i] ? xstrdup(tv[i]) : NULL;
    }
    struct plan_opts o;
    upgrade_opts(&o, "8.4.0");
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, NULL, &o, &p, NULL), 0);
    assert_int_equal(p->n_tools_vms, 3);
    assert_string_equal(p->tools_vm_names[0], "vm0");
    assert_string_equal(p->tools_vm_names[1], "vm1");
    assert_string_equal(p->tools_vm_names[2], "vm6");
    assert_false(plan_tools_outdated(&pool->vms[2], "8.4.0"));
    assert_true(plan_tools_outdated(&pool->vms[2], "8.4.1"));
    assert_false(plan_tools_outdated(&pool->vms[5], "8.4.0"));
    assert_false(plan_tools_outdated(NULL, "8.4.0"));
    plan_free(p);
    inv_pool_free(pool);
}

/* The views' guest-tools list (view_tools_outdated): derived from the pool's state alone, a VM
 * is listed while its tools are older than the version of the host it runs on (else of its
 * affinity host, else of the coordinator), and drops out once its tools are upgraded. */
static void test_views_tools(void **state)
{
    (void)state;
    struct inv_pool *pool = pool4(), *other = pool4();
    const struct inv_pool *pools[] = {other, pool};
    struct view_tools_vms t;
    view_tools_outdated(pools, 2, &t);
    assert_int_equal(t.n, 0); /* tools 8.2.1 on 8.2.1 hosts: nothing to upgrade */
    view_tools_vms_cleanup(&t);
    /* h1 (vm2, vm3) and then the master h0 (vm0, vm1) upgraded to 8.4.0 */
    fx_set(&pool->hosts[1].product_version, "8.4.0");
    fx_set(&pool->hosts[0].product_version, "8.4.0");
    /* vm4: halted, affinity h0 -> listed under h0; vm5: halted, affinity h3 (8.2.1) -> not;
     * vm6: suspended without affinity -> the coordinator's version; vm3: no tools; vm2: newer */
    pool->vms[4].power_state = INV_HALTED;
    fx_set(&pool->vms[4].resident_on, "OpaqueRef:NULL");
    fx_set(&pool->vms[4].affinity, "h0");
    pool->vms[5].power_state = INV_HALTED;
    fx_set(&pool->vms[5].affinity, "h3");
    pool->vms[6].power_state = INV_SUSPENDED;
    fx_set(&pool->vms[6].resident_on, "");
    fx_set(&pool->vms[6].affinity, "OpaqueRef:NULL");
    fx_set(&pool->vms[3].tools_version, "");
    fx_set(&pool->vms[2].tools_version, "8.4.1");
    pool->vms[7].is_control_domain = true; /* on h3, but never listed */
    fx_set(&pool->vms[7].resident_on, "h0");
    fx_set(&pool->vms[1].name_label, "vm10"); /* natural order: vm4 < vm6 < vm10 */
    view_tools_outdated(pools, 2, &t);
    assert_int_equal(t.n, 4);
    static const char *const want[] = {"vm0", "vm4", "vm6", "vm10"};
    for (size_t i = 0; i < t.n; i++) {
        assert_string_equal(t.v[i].vm->name_label, want[i]);
        assert_ptr_equal(t.v[i].pool, pool);
        assert_int_equal(t.v[i].pool_index, 1);
        assert_string_equal(t.v[i].host->ref, "h0"); /* all judged by the coordinator h0 */
    }
    view_tools_vms_cleanup(&t);
    /* their tools upgraded (a new PV_drivers_version): gone; vm2 moved to old h3: not listed */
    fx_set(&pool->vms[0].tools_version, "8.4.0");
    fx_set(&pool->vms[4].tools_version, "8.4.0");
    fx_set(&pool->vms[6].tools_version, "9.0.0");
    fx_set(&pool->vms[2].resident_on, "h3");
    fx_set(&pool->vms[2].tools_version, "8.2.1");
    view_tools_outdated(pools, 2, &t);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.v[0].vm->name_label, "vm10");
    view_tools_vms_cleanup(&t);
    /* a supporter's VM comes after the coordinator's */
    fx_set(&pool->vms[2].resident_on, "h1");
    view_tools_outdated(pools, 2, &t);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.v[0].host->ref, "h0");
    assert_string_equal(t.v[1].vm->name_label, "vm2");
    assert_string_equal(t.v[1].host->ref, "h1");
    view_tools_vms_cleanup(&t);
    view_tools_outdated(NULL, 0, &t);
    assert_int_equal(t.n, 0);
    view_tools_vms_cleanup(&t);
    inv_pool_free(pool);
    inv_pool_free(other);
}

/* --apply-updates with a legacy catalog: the updates the new version will need are predicted
 * by the same minimal-set rules as an automated rollout, on the pool as the upgrade leaves it
 * (every host on the new version and build, nothing applied), and the pool is given back
 * unchanged; nothing is predicted without apply_updates, for a version without a minimal list,
 * for a version the catalog does not have, or with a XenServer 8 catalog. */
static void test_then_updates(void **state)
{
    (void)state;
    struct inv_pool *pool = pool4();
    fx_applied(&pool->hosts[0], "u-old");
    fx_set(&pool->hosts[1].product_version, "8.4.0"); /* already upgraded, build b112 */
    fx_set(&pool->hosts[1].build_number, "b112");
    fx_applied(&pool->hosts[1], "u1");
    struct catalog *cat = fx_catalog();
    fx_patch(cat, "u-old", 0, "", "");
    fx_patch(cat, "u1", 1u << 0, "", "");
    fx_patch(cat, "u2", 1u << 0, "u1", "");
    fx_patch(cat, "u3", 0, "", ""); /* listed but not in the minimal set */
    fx_version(cat, "8.2.1", "b58", NULL, "u-old", "u-old");
    fx_version(cat, "8.4.0", "b112", NULL, "u1,u2,u3", "u2,u1");
    fx_version(cat, "8.5.0", "b200", NULL, "u3", NULL);
    struct plan_opts o;
    upgrade_opts(&o, "8.4.0");
    struct plan *p = NULL;
    assert_int_equal(plan_upgrade_then_updates(pool, cat, &o, &p, NULL), 0);
    assert_null(p); /* not asked */
    o.upgrade_apply_updates = true;
    assert_int_equal(plan_upgrade_then_updates(pool, cat, &o, &p, NULL), 0);
    assert_non_null(p);
    assert_int_equal(p->mode, PLAN_MODE_AUTOMATED);
    assert_int_equal(p->n_uploads, 2); /* the minimal set, u1 before u2 (u2 requires it) */
    assert_string_equal(p->uploads[0], "u1");
    assert_string_equal(p->uploads[1], "u2");
    assert_int_equal(p->totals.hosts_updated, 4); /* h1's u1 is gone with its upgrade too */
    for (size_t h = 0; h < p->n_hosts; h++) {
        assert_int_equal(p->hosts[h].n_updates, 2);
        assert_string_equal(p->hosts[h].updates[0], "u1");
    }
    plan_free(p);
    /* the pool is given back as it was */
    assert_string_equal(pool->hosts[0].product_version, "8.2.1");
    assert_string_equal(pool->hosts[0].build_number, "b58");
    assert_int_equal(pool->hosts[0].n_updates, 1);
    assert_string_equal(pool->hosts[0].updates[0], "u-old");
    assert_string_equal(pool->hosts[1].product_version, "8.4.0");
    assert_string_equal(pool->hosts[1].updates[0], "u1");
    upgrade_opts(&o, "8.5.0"); /* no minimal list: automated updates unsupported */
    o.upgrade_apply_updates = true;
    assert_int_equal(plan_upgrade_then_updates(pool, cat, &o, &p, NULL), 0);
    assert_null(p);
    upgrade_opts(&o, "9.0.0"); /* not in the catalog */
    o.upgrade_apply_updates = true;
    assert_int_equal(plan_upgrade_then_updates(pool, cat, &o, &p, NULL), 0);
    assert_null(p);
    upgrade_opts(&o, "8.4.0");
    o.upgrade_apply_updates = true;
    assert_int_equal(plan_upgrade_then_updates(pool, NULL, &o, &p, NULL), 0);
    assert_null(p);
    cat->source = CAT_SOURCE_CDN; /* XenServer 8: xapi's repository, nothing to download */
    assert_int_equal(plan_upgrade_then_updates(pool, cat, &o, &p, NULL), 0);
    assert_null(p);
    catalog_free(cat);
    inv_pool_free(pool);
}

/* PV guests (XenCenter's PVGuestsCheck): blocking for a target of 8.2 or later, a warning for
 * 8.1, nothing before; no fix.  Licensing (Host.RestrictRpu): a host not licensed for rolling
 * pool upgrade blocks it, unless a rolling upgrade is already under way. */
static void test_pv_and_licence(void **state)
{
    (void)state;
    struct inv_pool *pool = pool4();
    pool->vms[3].pv_guest = true;
    pool->hosts[2].rpu_restricted = true;
    fx_set(&pool->hosts[2].edition, "free");
    struct plan_opts o;
    static const struct {
        const char *to;
        int pv_sev;
    } cases[] = {{"8.4.0", PLAN_SEV_BLOCKING},
                 {"8.2.0", PLAN_SEV_BLOCKING},
                 {"8.1.0", PLAN_SEV_WARNING},
                 {"8.0.0", -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* hosts on 7.1.2 so that every target is an upgrade */
        for (size_t h = 0; h < pool->n_hosts; h++)
            fx_set(&pool->hosts[h].product_version, "7.1.2");
        upgrade_opts(&o, cases[i].to);
        struct plan *p = NULL;
        assert_int_equal(plan_build(pool, NULL, &o, &p, NULL), 0);
        assert_int_equal(sev_of(p, "upgrade_pv_guest", "vm3"), cases[i].pv_sev);
        assert_int_equal(sev_of(p, "upgrade_pv_guest", "vm2"), -1);
        if (cases[i].pv_sev >= 0)
            assert_int_equal(fix_of(p, "upgrade_pv_guest", "vm3"), PLAN_FIX_NONE);
        assert_int_equal(sev_of(p, "upgrade_licence", NULL), PLAN_SEV_BLOCKING);
        const struct plan_check *k = check_of(p, "upgrade_licence", NULL);
        assert_true(k && str_eq(k->host_ref, "h2") && strstr(k->message, "free"));
        assert_false(plan_can_resolve(p));
        plan_free(p);
    }
    /* a rolling upgrade under way (h0 already upgraded) may finish unlicensed */
    fx_set(&pool->hosts[0].product_version, "8.4.0");
    pool->vms[3].pv_guest = false;
    upgrade_opts(&o, "8.4.0");
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, NULL, &o, &p, NULL), 0);
    assert_int_equal(sev_of(p, "upgrade_licence", NULL), PLAN_SEV_INFO);
    assert_int_equal(sev_of(p, "upgrade_pv_guest", NULL), -1);
    plan_free(p);
    inv_pool_free(pool);
}

/* Replay a plan's migrations host by host: every VM leaves a host before it is upgraded, goes
 * to a host whose version (at that moment) is >= its source's, never to a host going down in
 * the same batch, and never overcommits memory.  Returns the number of migrations checked. */
static size_t replay(const struct inv_pool *pool, const struct plan *p, const char *to)
{
    size_t nh = pool->n_hosts, n = 0;
    bool *up = xcalloc(nh, sizeof(*up));
    int64_t *fr = xcalloc(nh, sizeof(*fr));
    for (size_t h = 0; h < nh; h++) {
        up[h] = plan_host_upgraded(&pool->hosts[h], to);
        fr[h] = pool->hosts[h].memory_free;
    }
    for (size_t i = 0; i < p->n_hosts; i++) {
        const struct plan_host *ph = &p->hosts[i];
        if (ph->order < 0)
            continue;
        size_t me = (size_t)(inv_pool_host(pool, ph->ref) - pool->hosts);
        for (size_t a = 0; a < ph->n_actions; a++) {
            const struct plan_action *act = &ph->actions[a];
            for (size_t m = 0; m < act->n_migrations; m++) {
                const struct plan_migration *mg = &act->migrations[m];
                size_t from = (size_t)(inv_pool_host(pool, mg->from_ref) - pool->hosts);
                size_t dest = (size_t)(inv_pool_host(pool, mg->to_ref) - pool->hosts);
                assert_true(up[dest] || !up[from]); /* never from a new host to an old one */
                assert_true(dest != me || act->kind == PLAN_ACT_MIGRATE_BACK);
                fr[from] += mg->memory;
                fr[dest] -= mg->memory;
                assert_true(fr[dest] >= 0);
                n++;
            }
            if (act->kind == PLAN_ACT_UPGRADE)
                up[me] = true;
        }
    }
    free(up);
    free(fr);
    return n;
}

static void test_resume_skips_upgraded(void **state)
{
    (void)state;
    struct inv_pool *pool = pool4();
    fx_set(&pool->hosts[0].product_version, "8.4.0"); /* the master is done */
    fx_set(&pool->hosts[2].product_version, "8.4.0");
    struct plan_opts o;
    upgrade_opts(&o, "8.4.0");
    o.policy = PLAN_POLICY_RETURN;
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, NULL, &o, &p, NULL), 0);
    assert_true(plan_can_resolve(p)); /* a partly upgraded pool is what an upgrade resumes */
    assert_null(check_of(p, "partly_upgraded", NULL));
    assert_non_null(check_of(p, "upgrade_in_progress", NULL));
    assert_non_null(check_of(p, "already_upgraded", NULL));
    assert_int_equal(p->totals.hosts_updated, 2);
    for (size_t i = 0; i < p->n_hosts; i++) {
        const struct plan_host *h = &p->hosts[i];
        bool done = str_eq(h->ref, "h0") || str_eq(h->ref, "h2");
        assert_int_equal(h->order < 0, done);
    }
    assert_true(replay(pool, p, "8.4.0") > 0);
    plan_free(p);

    /* a supporter newer than the master: refused */
    fx_set(&pool->hosts[0].product_version, "8.2.1");
    assert_int_equal(plan_build(pool, NULL, &o, &p, NULL), 0);
    assert_non_null(check_of(p, "upgrade_master_first", NULL));
    assert_false(plan_can_resolve(p));
    plan_free(p);
    inv_pool_free(pool);
}

static void test_standalone(void **state)
{
    (void)state;
    struct inv_pool *pool = fx_pool("");
    fx_host(pool, "edge", 16 * GIB, "8.2.1", "b58");
    fx_sr(pool, "local", false, "edge", 100 * GIB, 0);
    fx_sr(pool, "iso", false, "edge", 10 * GIB, 0);
    fx_vm(pool, "cam", "edge", GIB, "local");
    size_t r = fx_vm(pool, "router", "edge", GIB, "local");
    fx_set(&pool->vms[r].cd_sr, "iso");
    size_t d = fx_vm(pool, "db", "edge", GIB, "local");
    struct plan_opts o;
    upgrade_opts(&o, "8.4.0");
    const char *sd[] = {pool->vms[d].name_label};
    o.upgrade_shutdown = sd;
    o.n_upgrade_shutdown = 1;
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, NULL, &o, &p, NULL), 0);
    assert_int_equal(p->totals.migrations, 0);
    assert_null(action_of(&p->hosts[0], PLAN_ACT_EVACUATE));
    const struct plan_check *k = check_of(p, "upgrade_standalone", "cam");
    assert_true(k && k->fix.kind == PLAN_FIX_SUSPEND_VM && k->undo.kind == PLAN_FIX_RESUME_VM &&
                str_eq(k->undo.arg_ref, "edge"));
    assert_int_equal(fix_of(p, "upgrade_standalone", "db"), PLAN_FIX_SHUTDOWN_VM);
    /* seed 7.2.1: the CD of a VM to be suspended is ejected first */
    assert_non_null(check_of(p, "suspend_cd", "router"));
    assert_true(plan_can_resolve(p));
    struct plan_resolution res;
    assert_int_equal(plan_resolve_all(p, &res, NULL), 0);
    size_t eject = SIZE_MAX, suspend = SIZE_MAX;
    for (size_t i = 0; i < res.n_fixes; i++) {
        if (res.fixes[i].kind == PLAN_FIX_EJECT_CD)
            eject = i;
        if (res.fixes[i].kind == PLAN_FIX_SUSPEND_VM && str_eq(res.fixes[i].obj_ref, "router"))
            suspend = i;
    }
    assert_true(eject < suspend && suspend != SIZE_MAX);
    plan_resolution_cleanup(&res);
    const struct plan_action *rest = action_of(&p->hosts[0], PLAN_ACT_RESTORE_VMS);
    assert_true(rest && rest->n_vms == 3);
    plan_free(p);
    inv_pool_free(pool);
}

static void test_prechecks(void **state)
{
    (void)state;
    struct inv_pool *pool = pool4();
    pool->ha_enabled = true;
    pool->hosts[3].enabled = false;
    struct plan_opts o;
    upgrade_opts(&o, "8.4.0");
    o.upgrade_url = NULL;
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, NULL, &o, &p, NULL), 0);
    assert_int_equal(sev_of(p, "upgrade_url", NULL), PLAN_SEV_BLOCKING);
    assert_int_equal(fix_of(p, "ha_enabled", NULL), PLAN_FIX_DISABLE_HA);
    assert_int_equal(fix_of(p, "host_disabled", NULL), PLAN_FIX_ENABLE_HOST);
    assert_false(plan_can_resolve(p));
    plan_free(p);
    o.upgrade_url = "smb://x/y";
    assert_int_equal(plan_build(pool, NULL, &o, &p, NULL), 0);
    assert_int_equal(sev_of(p, "upgrade_url", NULL), PLAN_SEV_BLOCKING);
    plan_free(p);
    o.upgrade_url = NULL;
    o.upgrade_manual = true;
    assert_int_equal(plan_build(pool, NULL, &o, &p, NULL), 0);
    assert_non_null(check_of(p, "upgrade_manual", NULL));
    const struct plan_action *ua = action_of(&p->hosts[0], PLAN_ACT_UPGRADE);
    assert_true(ua && ua->manual);
    assert_true(plan_can_resolve(p));
    plan_free(p);
    /* not enough memory anywhere: the VMs that cannot move are named */
    for (size_t h = 0; h < pool->n_hosts; h++)
        pool->hosts[h].memory_free = GIB;
    assert_int_equal(plan_build(pool, NULL, &o, &p, NULL), 0);
    assert_non_null(check_of(p, "evacuate_memory", NULL));
    assert_false(plan_can_resolve(p));
    plan_free(p);
    o.upgrade_to = NULL;
    struct err e = {0};
    assert_int_equal(plan_build(pool, NULL, &o, &p, &e), PP_EINVAL);
    inv_pool_free(pool);
}

/* Random pools: every plan replays without a migration to an older host or an overcommitted
 * one; the master is first; each VM runs somewhere at the end. */
static void test_random_pools(void **state)
{
    (void)state;
    uint64_t seed = 20261205;
    const char *env = getenv("PLAN_UPGRADE_SEED");
    if (env)
        seed = strtoull(env, NULL, 10);
    printf("test_random_pools seed %llu (PLAN_UPGRADE_SEED replays)\n", (unsigned long long)seed);
    struct rng rng;
    rng_seed(&rng, seed);
    for (int it = 0; it < 200; it++) {
        struct inv_pool *pool = fx_pool("r");
        size_t nh = 2 + rng_below(&rng, 7);
        char ref[32];
        for (size_t h = 0; h < nh; h++) {
            snprintf(ref, sizeof ref, "h%zu", h);
            fx_host(pool, ref, (int64_t)(8 + rng_below(&rng, 40)) * GIB,
                    h > 0 && rng_below(&rng, 4) == 0 ? "8.4.0" : "8.2.1", "b");
        }
        fx_set(&pool->hosts[0].product_version, rng_below(&rng, 5) == 0 ? "8.4.0" : "8.2.1");
        fx_sr(pool, "nfs", true, NULL, 1000 * GIB, 0);
        size_t nv = rng_below(&rng, 4 * nh);
        for (size_t v = 0; v < nv; v++) {
            char vm[32];
            snprintf(vm, sizeof vm, "vm%zu", v);
            snprintf(ref, sizeof ref, "h%zu", (size_t)rng_below(&rng, nh));
            fx_vm(pool, vm, ref, (int64_t)(1 + rng_below(&rng, 6)) * GIB, "nfs");
        }
        struct plan_opts o;
        upgrade_opts(&o, "8.4.0");
        o.policy = rng_below(&rng, 2) ? PLAN_POLICY_RETURN : PLAN_POLICY_MINIMAL;
        struct plan *p = NULL;
        assert_int_equal(plan_build(pool, NULL, &o, &p, NULL), 0);
        if (p->totals.hosts_updated && !plan_host_upgraded(&pool->hosts[0], "8.4.0"))
            assert_true(p->hosts[0].is_master && p->hosts[0].order == 0);
        if (plan_can_resolve(p))
            replay(pool, p, "8.4.0");
        plan_free(p);
        inv_pool_free(pool);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_order_and_actions),
        cmocka_unit_test(test_tools_list),
        cmocka_unit_test(test_views_tools),
        cmocka_unit_test(test_then_updates),
        cmocka_unit_test(test_pv_and_licence),
        cmocka_unit_test(test_resume_skips_upgraded),
        cmocka_unit_test(test_standalone),
        cmocka_unit_test(test_prechecks),
        cmocka_unit_test(test_random_pools),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
