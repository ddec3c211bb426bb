/* SPDX-License-Identifier: MIT */
/*
 * test_plan.c - unit tests of the planner's update decisions: minimal sets and ordering, guidance
 * merging into per-host actions, XenServer 8 plans, the upload SR, every precheck with its
 * resolution and undo, Resolve All, and the JSON / text renderings.  Catalogs and pools are built
 * as structs (test_plan_fixture.h); placement is covered in test_plan_place.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/str.h"
#include "plan/plan.h"
#include "test_plan_fixture.h"

/* ------------------------------------------------------------------ helpers */

static char *join_seq(char *const *v, size_t n)
{
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "%s%s", i ? "," : "", v[i]);
    buf_puts(&b, "");
    return buf_take(&b);
}

static char *join_skips(const struct plan_skip *s, size_t n)
{
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "%s%s", i ? "," : "", s[i].uuid);
    buf_puts(&b, "");
    return buf_take(&b);
}

/* Actions as "disable evacuate apply reboot! enable" ('!' = mandatory, '~' = manual). */
static char *join_actions(const struct plan_host *h)
{
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < h->n_actions; i++)
        buf_printf(&b, "%s%s%s%s", i ? " " : "", plan_action_name(h->actions[i].kind),
                   h->actions[i].mandatory ? "!" : "", h->actions[i].manual ? "~" : "");
    buf_puts(&b, "");
    return buf_take(&b);
}

static const struct plan_host *phost(const struct plan *p, const char *ref)
{
    for (size_t i = 0; i < p->n_hosts; i++)
        if (strcmp(p->hosts[i].ref, ref) == 0)
            return &p->hosts[i];
    fail_msg("no host %s in the plan", ref);
    abort();
}

static const struct plan_check *pcheck(const struct plan *p, const char *id, const char *host)
{
    for (size_t i = 0; i < p->n_checks; i++)
        if (strcmp(p->checks[i].id, id) == 0 && (!host || strcmp(p->checks[i].host_ref, host) == 0))
            return &p->checks[i];
    return NULL;
}

/* The check, which must exist. */
static const struct plan_check *mcheck(const struct plan *p, const char *id, const char *host)
{
    const struct plan_check *k = pcheck(p, id, host);
    if (!k) {
        fail_msg("no check %s", id);
        abort();
    }
    return k;
}

/* ------------------------------------------------------------------ sequences (table) */

struct seq_case {
    const char *name;
    const char *patches[8]; /* "uuid|required|conflicting" */
    const char *v1_minimal; /* version 8.0 (build b1); NULL: no minimalpatches */
    const char *v1_patches;
    const char *v2_patch_uuid; /* version 8.1 (build b2) installed by this CU, NULL: none */
    const char *v2_minimal;
    enum plan_mode mode;
    const char *selected;
    const char *applied;
    bool supported;
    const char *want;
    const char *want_skipped;
    const char *reason_has; /* substring of the first skip's reason */
};

static const struct seq_case seq_cases[] = {
    {"empty", {"A||"}, "", "A", NULL, NULL, PLAN_MODE_AUTOMATED, NULL, "", true, "", "", NULL},
    {"one", {"A||"}, "A", "A", NULL, NULL, PLAN_MODE_AUTOMATED, NULL, "", true, "A", "", NULL},
    {"up to date",
     {"A||"},
     "A",
     "A",
     NULL,
     NULL,
     PLAN_MODE_AUTOMATED,
     NULL,
     "a",
     true,
     "",
     "",
     NULL},
    {"no minimal list",
     {"A||"},
     NULL,
     "A",
     NULL,
     NULL,
     PLAN_MODE_AUTOMATED,
     NULL,
     "",
     false,
     "",
     "",
     NULL},
    {"CU chain",
     {"A||", "CU|A|", "B|CU|", "C|B|"},
     "A,CU",
     "A,CU",
     "CU",
     "B,C",
     PLAN_MODE_AUTOMATED,
     NULL,
     "",
     true,
     "A,CU,B,C",
     "",
     NULL},
    {"CU chain, CU applied",
     {"A||", "CU|A|", "B|CU|", "C|B|"},
     "A,CU",
     "A,CU",
     "CU",
     "B,C",
     PLAN_MODE_AUTOMATED,
     NULL,
     "A,CU",
     true,
     "B,C",
     "",
     NULL},
    {"stay on release drops the CU",
     {"A||", "CU|A|", "B|CU|"},
     "A,CU",
     "A,CU",
     "CU",
     "B",
     PLAN_MODE_STAY,
     NULL,
     "",
     true,
     "A",
     "",
     NULL},
    {"requirements out of catalog order",
     {"C|B|", "B|A|", "A||"},
     "C,B,A",
     "A,B,C",
     NULL,
     NULL,
     PLAN_MODE_AUTOMATED,
     NULL,
     "",
     true,
     "A,B,C",
     "",
     NULL},
    {"catalog order kept otherwise",
     {"D||", "B||", "C|D|", "A||"},
     "D,B,C,A",
     "A,B,C,D",
     NULL,
     NULL,
     PLAN_MODE_AUTOMATED,
     NULL,
     "",
     true,
     "D,B,C,A",
     "",
     NULL},
    {"requirement applied",
     {"B|A|", "A||"},
     "B",
     "A,B",
     NULL,
     NULL,
     PLAN_MODE_AUTOMATED,
     NULL,
     "A",
     true,
     "B",
     "",
     NULL},
    {"unmeetable: not in catalog",
     {"A|X|", "B||"},
     "A,B",
     "A,B",
     NULL,
     NULL,
     PLAN_MODE_AUTOMATED,
     NULL,
     "",
     true,
     "B",
     "A",
     "not in the update catalog"},
    {"unmeetable: not in the set",
     {"A|Z|", "Z||", "B||"},
     "A,B",
     "A,B,Z",
     NULL,
     NULL,
     PLAN_MODE_AUTOMATED,
     NULL,
     "",
     true,
     "B",
     "A",
     "neither applied nor in the update set"},
    {"unmeetable: chain",
     {"A|X|", "B|A|", "C||"},
     "A,B,C",
     "A,B,C",
     NULL,
     NULL,
     PLAN_MODE_AUTOMATED,
     NULL,
     "",
     true,
     "C",
     "A,B",
     "not in the update catalog"},
    {"requirement cycle",
     {"A|B|", "B|A|"},
     "A,B",
     "A,B",
     NULL,
     NULL,
     PLAN_MODE_AUTOMATED,
     NULL,
     "",
     true,
     "",
     "A,B",
     "cannot be installed"},
    {"conflict with applied",
     {"A||Z", "B||"},
     "A,B",
     "A,B",
     NULL,
     NULL,
     PLAN_MODE_AUTOMATED,
     NULL,
     "Z",
     true,
     "B",
     "A",
     "which is applied"},
    {"conflict declared by the applied update",
     {"Z||D", "D||", "B||"},
     "D,B",
     "D,B,Z",
     NULL,
     NULL,
     PLAN_MODE_AUTOMATED,
     NULL,
     "Z",
     true,
     "B",
     "D",
     "which is applied"},
    {"conflict with an earlier update",
     {"A||", "B||A"},
     "A,B",
     "A,B",
     NULL,
     NULL,
     PLAN_MODE_AUTOMATED,
     NULL,
     "",
     true,
     "A",
     "B",
     "planned before it"},
    {"conflict declared by an earlier update",
     {"A||B", "B||"},
     "A,B",
     "A,B",
     NULL,
     NULL,
     PLAN_MODE_AUTOMATED,
     NULL,
     "",
     true,
     "A",
     "B",
     "planned before it"},
    {"selected: catalog order, requirements",
     {"A||", "B|A|", "C||"},
     "C",
     "A,B,C",
     NULL,
     NULL,
     PLAN_MODE_SELECTED,
     "C,B,A",
     "",
     true,
     "A,B,C",
     "",
     NULL},
    {"selected: requirement not selected",
     {"A||", "B|A|"},
     "",
     "A,B",
     NULL,
     NULL,
     PLAN_MODE_SELECTED,
     "B",
     "",
     true,
     "",
     "B",
     "neither applied nor selected"},
    {"selected: other version, unknown",
     {"A||", "Q||"},
     "",
     "A",
     NULL,
     NULL,
     PLAN_MODE_SELECTED,
     "A,Q,NOPE",
     "",
     true,
     "A",
     "NOPE,Q",
     "not in the update catalog"},
};

static void build_seq_catalog(const struct seq_case *c, struct catalog *cat)
{
    for (size_t i = 0; i < 8 && c->patches[i]; i++) {
        char *spec = xstrdup(c->patches[i]);
        char *req = strchr(spec, '|');
        *req++ = '\0';
        char *conf = strchr(req, '|');
        *conf++ = '\0';
        fx_patch(cat, spec, CAT_G_RESTART_HOST, req, conf);
        free(spec);
    }
    fx_version(cat, "8.0", "b1", NULL, c->v1_patches, c->v1_minimal);
    if (c->v2_patch_uuid)
        fx_version(cat, "8.1", "b2", c->v2_patch_uuid, "", c->v2_minimal);
}

static void test_sequences(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(seq_cases) / sizeof(seq_cases[0]); i++) {
        const struct seq_case *c = &seq_cases[i];
        struct catalog *cat = fx_catalog();
        build_seq_catalog(c, cat);
        struct inv_pool *pool = fx_pool("p");
        size_t h = fx_host(pool, "h1", 64 * GIB, "8.0", "b1");
        fx_applied(&pool->hosts[h], c->applied);
        size_t nsel = 0;
        char **sel = fx_csv(c->selected, &nsel);
        struct plan_seq s;
        assert_int_equal(plan_host_sequence(cat, &pool->hosts[h], c->mode, (const char *const *)sel,
                                            nsel, &s, NULL),
                         0);
        char *got = join_seq(s.uuids, s.n);
        char *skipped = join_skips(s.skipped, s.n_skipped);
        if (s.supported != c->supported || strcmp(got, c->want) != 0 ||
            strcmp(skipped, c->want_skipped) != 0)
            fail_msg("case '%s': supported %d seq '%s' skipped '%s' (want %d '%s' '%s')", c->name,
                     s.supported, got, skipped, c->supported, c->want, c->want_skipped);
        if (c->reason_has) {
            assert_true(s.n_skipped > 0);
            if (!strstr(s.skipped[0].reason, c->reason_has))
                fail_msg("case '%s': reason '%s' lacks '%s'", c->name, s.skipped[0].reason,
                         c->reason_has);
        }
        free(got);
        free(skipped);
        plan_seq_cleanup(&s);
        for (size_t j = 0; j < nsel; j++)
            free(sel[j]);
        free(sel);
        inv_pool_free(pool);
        catalog_free(cat);
    }
}

/* xencenter.md section 7 (BatchUpdatesTests): 51 minimal patches with 10 applied give 41; a
 * build mismatch gives no sequence. */
static void test_51_minimal_10_applied(void **state)
{
    (void)state;
    struct catalog *cat = fx_catalog();
    struct buf all, applied;
    buf_init(&all);
    buf_init(&applied);
    for (int i = 0; i < 51; i++) {
        char u[16];
        snprintf(u, sizeof(u), "p%02d", i);
        fx_patch(cat, u, CAT_G_RESTART_HOST, i ? "p00" : "", "");
        buf_printf(&all, "%s%s", i ? "," : "", u);
        if (i % 5 == 0)
            buf_printf(&applied, "%s%s", applied.len ? "," : "", u);
    }
    fx_version(cat, "8.2.1", "b100", NULL, buf_str(&all), buf_str(&all));
    struct inv_pool *pool = fx_pool("p");
    size_t h = fx_host(pool, "h1", 64 * GIB, "8.2.1", "b100");
    fx_applied(&pool->hosts[h], buf_str(&applied));
    assert_int_equal(pool->hosts[h].n_updates, 11); /* p00 p05 ... p50 */
    /* drop one so exactly 10 are applied */
    free(pool->hosts[h].updates[10]);
    pool->hosts[h].n_updates = 10;
    struct plan_seq s;
    assert_int_equal(
        plan_host_sequence(cat, &pool->hosts[h], PLAN_MODE_AUTOMATED, NULL, 0, &s, NULL), 0);
    assert_true(s.supported);
    assert_int_equal(s.n, 41);
    assert_int_equal(s.n_skipped, 0);
    assert_string_equal(s.version, "8.2.1");
    plan_seq_cleanup(&s);

    fx_set(&pool->hosts[h].build_number, "b999");
    assert_int_equal(
        plan_host_sequence(cat, &pool->hosts[h], PLAN_MODE_AUTOMATED, NULL, 0, &s, NULL), 0);
    assert_false(s.supported);
    assert_int_equal(s.n, 0);
    plan_seq_cleanup(&s);
    buf_cleanup(&all);
    buf_cleanup(&applied);
    inv_pool_free(pool);
    catalog_free(cat);
}

/* ------------------------------------------------------------------ guidance (table) */

struct g_patch {
    const char *uuid;
    unsigned guidance;
    bool mandatory;
    bool livepatch;
    enum plan_livepatch status;
};

struct g_case {
    const char *name;
    struct g_patch p[4];
    const char *want;
    enum plan_update_mode mode;
    bool livepatched;
};

#define RH CAT_G_RESTART_HOST
#define RX CAT_G_RESTART_XAPI
static const struct g_case g_cases[] = {
    {"no guidance", {{"A", 0, false, false, 0}}, "disable apply enable", PLAN_UM_NONE, false},
    {"deferred reboots merged",
     {{"A", RH, 0, 0, 0}, {"B", RH, 0, 0, 0}},
     "disable evacuate apply apply reboot enable",
     PLAN_UM_REBOOT,
     false},
    {"mandatory reboot at once",
     {{"A", RH, true, 0, 0}, {"B", RH, 0, 0, 0}},
     "disable evacuate apply reboot! apply reboot enable",
     PLAN_UM_REBOOT,
     false},
    {"mandatory last: one reboot",
     {{"A", RH, 0, 0, 0}, {"B", RH, true, 0, 0}},
     "disable evacuate apply apply reboot! enable",
     PLAN_UM_REBOOT,
     false},
    {"toolstack only",
     {{"A", RX, 0, 0, 0}},
     "disable apply restart_toolstack enable",
     PLAN_UM_TOOLSTACK,
     false},
    {"toolstack dropped before reboot",
     {{"A", RX, 0, 0, 0}, {"B", RH, 0, 0, 0}},
     "disable evacuate apply apply reboot enable",
     PLAN_UM_REBOOT,
     false},
    {"mandatory toolstack while reboot pending",
     {{"A", RH, 0, 0, 0}, {"B", RX, true, 0, 0}},
     "disable evacuate apply apply reboot! enable",
     PLAN_UM_REBOOT,
     false},
    {"mandatory toolstack then reboot",
     {{"A", RX, true, 0, 0}, {"B", RH, 0, 0, 0}},
     "disable evacuate apply restart_toolstack! apply reboot enable",
     PLAN_UM_REBOOT,
     false},
    {"all live-patched",
     {{"A", RH, 0, true, PLAN_LP_COMPLETE}, {"B", RH, 0, true, PLAN_LP_COMPLETE}},
     "disable apply apply enable",
     PLAN_UM_NONE,
     true},
    {"live patch + toolstack",
     {{"A", RH | RX, 0, true, PLAN_LP_COMPLETE}},
     "disable apply restart_toolstack enable",
     PLAN_UM_TOOLSTACK,
     true},
    {"live patch failed",
     {{"A", RH, 0, true, PLAN_LP_INCOMPLETE}},
     "disable evacuate apply reboot enable",
     PLAN_UM_REBOOT,
     false},
    {"no live patch for this host",
     {{"A", RH, 0, true, PLAN_LP_OK}},
     "disable evacuate apply reboot enable",
     PLAN_UM_REBOOT,
     false},
    {"one update not live-patched",
     {{"A", RH, 0, true, PLAN_LP_COMPLETE}, {"B", RH, 0, false, PLAN_LP_OK}},
     "disable evacuate apply apply reboot enable",
     PLAN_UM_REBOOT,
     false},
    {"unconfirmed live patch",
     {{"A", RH, 0, true, PLAN_LP_UNKNOWN}},
     "disable apply enable",
     PLAN_UM_NONE,
     true},
    {"restartHVM",
     {{"A", CAT_G_RESTART_HVM, 0, 0, 0}},
     "disable apply enable restart_vms",
     PLAN_UM_RESTART_VMS,
     false},
    {"unknown guidance reboots",
     {{"A", CAT_G_UNKNOWN, 0, 0, 0}},
     "disable evacuate apply reboot enable",
     PLAN_UM_REBOOT,
     false},
};

static void test_guidance(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(g_cases) / sizeof(g_cases[0]); i++) {
        const struct g_case *c = &g_cases[i];
        struct catalog *cat = fx_catalog();
        struct buf min;
        buf_init(&min);
        struct plan_precheck_result pr[4];
        size_t npr = 0;
        for (size_t j = 0; j < 4 && c->p[j].uuid; j++) {
            size_t k = fx_patch(cat, c->p[j].uuid, c->p[j].guidance, "", "");
            cat->patches[k].guidance_mandatory = c->p[j].mandatory;
            cat->patches[k].contains_livepatch = c->p[j].livepatch;
            buf_printf(&min, "%s%s", j ? "," : "", c->p[j].uuid);
            if (c->p[j].status != PLAN_LP_UNKNOWN)
                pr[npr++] =
                    (struct plan_precheck_result){"h1", c->p[j].uuid, c->p[j].status, NULL, NULL};
        }
        fx_version(cat, "8.0", "b1", NULL, buf_str(&min), buf_str(&min));
        struct inv_pool *pool = fx_pool("p");
        fx_host(pool, "h1", 64 * GIB, "8.0", "b1");
        fx_sr(pool, "nfs", true, NULL, 100 * GIB, 0);
        fx_vm(pool, "g1", "h1", GIB, "nfs"); /* nowhere to go when evacuating: stays */
        struct plan_opts o;
        plan_opts_init(&o);
        o.prechecks = pr;
        o.n_prechecks = npr;
        struct plan *p = NULL;
        assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
        const struct plan_host *h = phost(p, "h1");
        char *got = join_actions(h);
        if (strcmp(got, c->want) != 0 || h->mode != c->mode || h->livepatched != c->livepatched)
            fail_msg("case '%s': '%s' mode %d lp %d (want '%s' %d %d)", c->name, got, h->mode,
                     h->livepatched, c->want, c->mode, c->livepatched);
        /* counters follow the actions */
        size_t reboots = 0;
        for (size_t j = 0; j < h->n_actions; j++)
            reboots += h->actions[j].kind == PLAN_ACT_REBOOT;
        assert_int_equal(p->totals.reboots, reboots);
        assert_true(reboots <= 2);
        if (strcmp(c->name, "restartHVM") == 0) {
            const struct plan_action *rv = &h->actions[h->n_actions - 1];
            assert_int_equal(rv->n_vms, 1);
            assert_string_equal(rv->vms[0], "g1");
            assert_true(rv->guidance & CAT_G_RESTART_HVM);
        }
        if (strcmp(c->name, "unconfirmed live patch") == 0)
            assert_non_null(pcheck(p, "livepatch_unconfirmed", "h1"));
        if (c->livepatched && strcmp(c->name, "all live-patched") == 0)
            assert_int_equal(p->totals.livepatched_hosts, 1);
        free(got);
        plan_free(p);
        buf_cleanup(&min);
        inv_pool_free(pool);
        catalog_free(cat);
    }
}

/* A live patch that did not take earlier: updates_requiring_reboot lists it -> warning + reboot
 * on a supporter, a blocking check on the master. */
static void test_livepatch_failed_earlier(void **state)
{
    (void)state;
    struct catalog *cat = fx_catalog();
    size_t k = fx_patch(cat, "L", RH, "", "");
    cat->patches[k].contains_livepatch = true;
    fx_patch(cat, "B", 0, "", "");
    fx_version(cat, "8.0", "b1", NULL, "L,B", "L,B");
    struct inv_pool *pool = fx_pool("p");
    fx_host(pool, "m", 64 * GIB, "8.0", "b1");
    size_t s = fx_host(pool, "s", 64 * GIB, "8.0", "b1");
    fx_applied(&pool->hosts[0], "L");
    fx_applied(&pool->hosts[s], "L");
    pool->hosts[s].updates_requiring_reboot =
        fx_csv("L", &pool->hosts[s].n_updates_requiring_reboot);
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, cat, NULL, &p, NULL), 0);
    const struct plan_host *hs = phost(p, "s");
    char *got = join_actions(hs);
    assert_string_equal(got, "disable evacuate apply reboot enable");
    free(got);
    assert_non_null(pcheck(p, "livepatch_failed", "s"));
    assert_null(pcheck(p, "master_restart_pending", NULL));
    plan_free(p);

    /* the same on the master blocks (XenCenter RestartHostOrToolstackPendingOnCoordinatorCheck) */
    pool->hosts[0].updates_requiring_reboot =
        fx_csv("L", &pool->hosts[0].n_updates_requiring_reboot);
    assert_int_equal(plan_build(pool, cat, NULL, &p, NULL), 0);
    const struct plan_check *k2 = mcheck(p, "master_restart_pending", "m");
    assert_non_null(k2);
    assert_int_equal(k2->severity, PLAN_SEV_BLOCKING);
    assert_false(k2->fixable);
    assert_false(plan_can_resolve(p));
    plan_free(p);
    inv_pool_free(pool);
    catalog_free(cat);
}

static struct catalog *cdn_catalog(void);

/* pool.live_patching_disabled: an update whose live patch would cover the host still needs its
 * reboot (Update Mode "Reboot", not "No action required"), on legacy and XenServer 8 pools, with
 * or without xapi's precheck saying the live patch is complete. */
static void test_live_patching_disabled(void **state)
{
    (void)state;
    struct catalog *cat = fx_catalog();
    size_t k = fx_patch(cat, "L", RH, "", "");
    cat->patches[k].contains_livepatch = true;
    fx_version(cat, "8.0", "b1", NULL, "L", "L");
    struct inv_pool *pool = fx_pool("p");
    fx_host(pool, "m", 64 * GIB, "8.0", "b1");
    fx_host(pool, "s", 64 * GIB, "8.0", "b1");
    fx_sr(pool, "nfs", true, NULL, 100 * GIB, 0);
    fx_vm(pool, "vm", "s", GIB, "nfs");
    struct plan_precheck_result pr[] = {{"m", "L", PLAN_LP_COMPLETE, NULL, NULL},
                                        {"s", NULL, PLAN_LP_UNKNOWN, NULL, NULL}};
    struct plan_opts o;
    plan_opts_init(&o);
    o.prechecks = pr;
    o.n_prechecks = 2;
    for (int off = 0; off < 2; off++) {
        pool->live_patching_disabled = off;
        struct plan *p = NULL;
        assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
        for (int h = 0; h < 2; h++) {
            const struct plan_host *ph = phost(p, h ? "s" : "m");
            char *got = join_actions(ph);
            /* the VM of s leaves and comes back (policy return); m has none */
            assert_string_equal(got, !off ? "disable apply enable"
                                     : h  ? "disable evacuate apply reboot enable migrate_back"
                                          : "disable evacuate apply reboot enable");
            free(got);
            assert_int_equal(ph->mode, off ? PLAN_UM_REBOOT : PLAN_UM_NONE);
            assert_int_equal(ph->livepatched, !off);
            assert_string_equal(plan_update_mode_name(ph->mode),
                                off ? "Reboot" : "No action required");
            assert_int_equal(pcheck(p, "livepatch_disabled", ph->ref) != NULL, off);
        }
        assert_int_equal(p->totals.reboots, off ? 2 : 0);
        assert_int_equal(p->totals.livepatched_hosts, off ? 0 : 2);
        plan_free(p);
    }
    inv_pool_free(pool);
    catalog_free(cat);

    /* XenServer 8: the livepatch guidance is not used either */
    cat = cdn_catalog();
    pool = fx_pool("xs8");
    fx_host(pool, "m", 64 * GIB, "8.4.0", "");
    fx_host(pool, "s", 64 * GIB, "8.4.0", "");
    pool->live_patching_disabled = true;
    struct plan_precheck_result cp[] = {{"m", NULL, PLAN_LP_COMPLETE, NULL, NULL}};
    o.prechecks = cp;
    o.n_prechecks = 1;
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
    char *a = join_actions(phost(p, "m"));
    assert_string_equal(a, "disable evacuate apply_updates reboot enable");
    free(a);
    assert_false(phost(p, "m")->livepatched);
    assert_non_null(pcheck(p, "livepatch_disabled", "m"));
    plan_free(p);
    inv_pool_free(pool);
    catalog_free(cat);
}

/* ------------------------------------------------------------------ XenServer 8 */

static struct catalog *cdn_catalog(void)
{
    struct catalog *c = fx_catalog();
    c->source = CAT_SOURCE_CDN;
    fx_set(&c->cdn_hash, "hash-123");
    fx_patch(c, "XS8-1", RH, "", "");
    fx_patch(c, "XS8-2", RX, "", "");
    c->cdn_hosts = xcalloc(2, sizeof(*c->cdn_hosts));
    c->n_cdn_hosts = 2;
    c->cdn_hosts[0].ref = xstrdup("m");
    c->cdn_hosts[0].updates = fx_csv("XS8-1,XS8-2", &c->cdn_hosts[0].n_updates);
    c->cdn_hosts[0].recommended_guidance = RH | RX;
    c->cdn_hosts[0].livepatch_guidance = RX;
    c->cdn_hosts[0].n_livepatches = 1;
    c->cdn_hosts[1].ref = xstrdup("s");
    c->cdn_hosts[1].updates = fx_csv("XS8-2", &c->cdn_hosts[1].n_updates);
    c->cdn_hosts[1].recommended_guidance = RX;
    return c;
}

static void test_cdn(void **state)
{
    (void)state;
    struct catalog *cat = cdn_catalog();
    struct inv_pool *pool = fx_pool("xs8");
    fx_host(pool, "m", 64 * GIB, "8.4.0", "");
    fx_host(pool, "s", 64 * GIB, "8.4.0", "");
    fx_host(pool, "t", 64 * GIB, "8.4.0", ""); /* up to date: absent from /updates */
    struct plan_precheck_result pr[] = {{"m", NULL, PLAN_LP_INCOMPLETE, NULL, NULL}};
    struct plan_opts o;
    plan_opts_init(&o);
    o.prechecks = pr;
    o.n_prechecks = 1;
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
    assert_true(p->cdn);
    assert_string_equal(p->cdn_hash, "hash-123");
    char *a = join_actions(phost(p, "m"));
    assert_string_equal(a, "disable evacuate apply_updates reboot enable");
    free(a);
    assert_string_equal(phost(p, "m")->actions[2].update_uuid, "hash-123");
    a = join_actions(phost(p, "s"));
    assert_string_equal(a, "disable apply_updates restart_toolstack enable");
    free(a);
    assert_int_equal(phost(p, "t")->mode, PLAN_UM_UP_TO_DATE);
    assert_int_equal(phost(p, "t")->n_actions, 0);
    assert_string_equal(p->upload_sr_ref, ""); /* nothing to upload for XenServer 8 */
    plan_free(p);

    /* live patches apply: the livepatch guidance replaces the reboot */
    pr[0].livepatch = PLAN_LP_COMPLETE;
    assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
    a = join_actions(phost(p, "m"));
    assert_string_equal(a, "disable apply_updates restart_toolstack enable");
    free(a);
    assert_true(phost(p, "m")->livepatched);
    assert_int_equal(p->totals.reboots, 0);
    plan_free(p);

    /* a subset of hosts: XenServer 8 needs them all */
    const char *sel[] = {"m"};
    o.hosts = sel;
    o.n_hosts = 1;
    assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
    const struct plan_check *k = mcheck(p, "all_hosts_selected", "s");
    assert_non_null(k);
    assert_int_equal(k->severity, PLAN_SEV_BLOCKING);
    assert_non_null(pcheck(p, "all_hosts_selected", "t"));
    plan_free(p);

    /* a pending RebootHost on a host with nothing new still reboots it */
    o.hosts = NULL;
    o.n_hosts = 0;
    pool->hosts[2].pending_guidance = RH;
    assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
    a = join_actions(phost(p, "t"));
    assert_string_equal(a, "disable evacuate reboot enable");
    free(a);
    plan_free(p);
    inv_pool_free(pool);
    catalog_free(cat);
}

/* ------------------------------------------------------------------ pool-level refusals */

static struct catalog *simple_catalog(void)
{
    struct catalog *cat = fx_catalog();
    fx_patch(cat, "A", RH, "", "");
    fx_patch(cat, "B", 0, "", "");
    fx_version(cat, "8.0", "b1", NULL, "A,B", "A,B");
    fx_version(cat, "8.1", "b2", NULL, "B", "B");
    return cat;
}

static void test_partly_upgraded(void **state)
{
    (void)state;
    struct catalog *cat = simple_catalog();
    struct inv_pool *pool = fx_pool("p");
    fx_host(pool, "m", 64 * GIB, "8.1", "b2");
    fx_host(pool, "s", 64 * GIB, "8.0", "b1");
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, cat, NULL, &p, NULL), 0);
    assert_true(p->partly_upgraded);
    assert_true(p->automated_refused);
    const struct plan_check *k = mcheck(p, "partly_upgraded", NULL);
    assert_non_null(k);
    assert_int_equal(k->severity, PLAN_SEV_BLOCKING);
    assert_false(plan_can_resolve(p));
    struct plan_resolution r;
    struct err e = {0};
    assert_int_equal(plan_resolve_all(p, &r, &e), PP_ESTATE);
    assert_non_null(strstr(e.msg, "partly upgraded"));
    assert_int_equal(r.n_fixes, 0);
    plan_free(p);

    /* chosen updates: a warning, each host gets the updates of its version */
    struct plan_opts o;
    plan_opts_init(&o);
    o.mode = PLAN_MODE_SELECTED;
    const char *sel[] = {"A", "B"};
    o.selected = sel;
    o.n_selected = 2;
    assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
    assert_int_equal(mcheck(p, "partly_upgraded", NULL)->severity, PLAN_SEV_WARNING);
    assert_false(p->automated_refused);
    assert_int_equal(phost(p, "m")->n_updates, 1);
    assert_string_equal(phost(p, "m")->updates[0], "B");
    assert_int_equal(phost(p, "s")->n_updates, 2);
    const struct plan_check *info = mcheck(p, "update_uninstallable", "m");
    assert_non_null(info);
    assert_int_equal(info->severity, PLAN_SEV_INFO); /* A is not for 8.1 */
    plan_free(p);
    inv_pool_free(pool);
    catalog_free(cat);
}

static void test_forbid_auto_restart(void **state)
{
    (void)state;
    struct catalog *cat = simple_catalog();
    struct inv_pool *pool = fx_pool("p");
    fx_host(pool, "m", 64 * GIB, "8.0", "b1");
    pool->forbid_auto_restart = true;
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, cat, NULL, &p, NULL), 0);
    assert_true(p->automated_refused);
    assert_int_equal(mcheck(p, "forbid_auto_restart", NULL)->severity, PLAN_SEV_BLOCKING);
    plan_free(p);

    struct plan_opts o;
    plan_opts_init(&o);
    o.mode = PLAN_MODE_SELECTED;
    const char *sel[] = {"A"};
    o.selected = sel;
    o.n_selected = 1;
    assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
    assert_int_equal(mcheck(p, "forbid_auto_restart", NULL)->severity, PLAN_SEV_WARNING);
    char *a = join_actions(phost(p, "m"));
    assert_string_equal(a, "disable evacuate apply reboot~ enable~");
    free(a);
    plan_free(p);
    inv_pool_free(pool);
    catalog_free(cat);
}

/* A CU moves hosts to a new version: in a homogeneous pool every host lacking it must be
 * selected (XenCenter ServerSelectionCheck); plain hotfixes may go to a subset. */
static void test_cu_needs_all_hosts(void **state)
{
    (void)state;
    struct catalog *cat = fx_catalog();
    fx_patch(cat, "H", 0, "", "");
    fx_patch(cat, "CU", RH, "", "");
    fx_version(cat, "8.0", "b1", NULL, "H,CU", "H,CU");
    fx_version(cat, "8.1", "b2", "CU", "", "");
    struct inv_pool *pool = fx_pool("p");
    fx_host(pool, "m", 64 * GIB, "8.0", "b1");
    fx_host(pool, "s", 64 * GIB, "8.0", "b1");
    fx_host(pool, "t", 64 * GIB, "8.0", "b1");
    fx_applied(&pool->hosts[2], "H,CU");
    struct plan_opts o;
    plan_opts_init(&o);
    const char *hosts[] = {"m"};
    o.hosts = hosts;
    o.n_hosts = 1;
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
    const struct plan_check *k = mcheck(p, "all_hosts_selected", "s");
    assert_int_equal(k->severity, PLAN_SEV_BLOCKING);
    assert_string_equal(k->update_uuid, "CU");
    assert_null(pcheck(p, "all_hosts_selected", "t")); /* t has it already */
    assert_int_equal(phost(p, "s")->order, -1);
    plan_free(p);

    /* a hotfix alone may go to a subset */
    o.mode = PLAN_MODE_SELECTED;
    const char *sel[] = {"H"};
    o.selected = sel;
    o.n_selected = 1;
    assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
    assert_null(pcheck(p, "all_hosts_selected", NULL));
    assert_int_equal(phost(p, "m")->n_updates, 1);
    plan_free(p);
    inv_pool_free(pool);
    catalog_free(cat);
}

/* The same uninstallable update on several hosts is one check naming them. */
static void test_uninstallable_grouped(void **state)
{
    (void)state;
    struct catalog *cat = fx_catalog();
    fx_patch(cat, "A", 0, "X", "");
    fx_patch(cat, "B", 0, "", "");
    fx_version(cat, "8.0", "b1", NULL, "A,B", "A,B");
    struct inv_pool *pool = fx_pool("p");
    fx_host(pool, "m", 64 * GIB, "8.0", "b1");
    fx_host(pool, "s", 64 * GIB, "8.0", "b1");
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, cat, NULL, &p, NULL), 0);
    size_t n = 0;
    for (size_t i = 0; i < p->n_checks; i++)
        n += strcmp(p->checks[i].id, "update_uninstallable") == 0;
    assert_int_equal(n, 1);
    const struct plan_check *k = mcheck(p, "update_uninstallable", "");
    assert_non_null(strstr(k->message, "every selected host (2)"));
    assert_string_equal(k->update_uuid, "A");
    assert_int_equal(k->severity, PLAN_SEV_WARNING);
    assert_int_equal(phost(p, "s")->n_skipped, 1);
    plan_free(p);
    inv_pool_free(pool);
    catalog_free(cat);
}

static void test_unsupported_version(void **state)
{
    (void)state;
    struct catalog *cat = simple_catalog();
    struct inv_pool *pool = fx_pool("p");
    fx_host(pool, "m", 64 * GIB, "7.0", "b0");
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, cat, NULL, &p, NULL), 0);
    const struct plan_check *k = mcheck(p, "automated_unsupported", "m");
    assert_non_null(k);
    assert_int_equal(k->severity, PLAN_SEV_BLOCKING);
    assert_non_null(strstr(k->message, "not in the update catalog"));
    assert_true(p->automated_refused);
    assert_int_equal(p->totals.hosts_updated, 0);
    plan_free(p);
    inv_pool_free(pool);
    catalog_free(cat);
}

/* ------------------------------------------------------------------ prechecks and undo */

struct pc_case {
    const char *name;
    const char *id;
    const char *host;
    enum plan_severity sev;
    enum plan_fix_kind fix;
    const char *fix_obj;
    const char *fix_arg;
    enum plan_fix_kind undo;
    const char *undo_obj;
    const char *undo_arg;
};

/* A pool: master m, supporter s; shared SR "nfs" (default), local SRs; patch A needs a reboot. */
static struct inv_pool *pc_pool(void)
{
    struct inv_pool *pool = fx_pool("p");
    fx_host(pool, "m", 64 * GIB, "8.0", "b1");
    fx_host(pool, "s", 64 * GIB, "8.0", "b1");
    fx_sr(pool, "nfs", true, NULL, 1000 * GIB, 10 * GIB);
    fx_sr(pool, "local-m", false, "m", 100 * GIB, 0);
    fx_sr(pool, "local-s", false, "s", 100 * GIB, 0);
    fx_set(&pool->default_sr_ref, "nfs");
    return pool;
}

static void pc_mutate(const char *name, struct inv_pool *pool, struct plan_opts *o)
{
    static const struct plan_precheck_result fail[] = {
        {"s", "A", PLAN_LP_OK, "UPDATE_PRECHECK_FAILED_GPGKEY_NOT_IMPORTED", "A, key"}};
    if (strcmp(name, "ha") == 0) {
        pool->ha_enabled = true;
        fx_vm(pool, "vm", "s", GIB, "nfs");
    } else if (strcmp(name, "disabled") == 0) {
        pool->hosts[1].enabled = false;
    } else if (strcmp(name, "not live") == 0) {
        pool->hosts[1].live = false;
    } else if (strcmp(name, "pbd") == 0) {
        pool->srs[0].pbds[1].attached = false;
    } else if (strcmp(name, "cd") == 0) {
        size_t v = fx_vm(pool, "vm", "s", GIB, "nfs");
        size_t i = fx_sr(pool, "iso-s", false, "s", GIB, GIB);
        fx_set(&pool->srs[i].content_type, "iso");
        fx_set(&pool->vms[v].cd_sr, "iso-s");
    } else if (strcmp(name, "local disk") == 0) {
        fx_vm(pool, "vm", "s", GIB, "nfs,local-s");
    } else if (strcmp(name, "suspend blocked") == 0) {
        size_t v = fx_vm(pool, "vm", "s", GIB, "local-s");
        pool->vms[v].suspend_blocked = true;
    } else if (strcmp(name, "pci") == 0) {
        size_t v = fx_vm(pool, "vm", "s", GIB, "nfs");
        pool->vms[v].has_pci = true;
    } else if (strcmp(name, "migrate blocked") == 0) {
        size_t v = fx_vm(pool, "vm", "s", GIB, "nfs");
        pool->vms[v].migrate_blocked = true;
    } else if (strcmp(name, "memory") == 0) {
        fx_vm(pool, "vm", "s", 65 * GIB, "nfs");
    } else if (strcmp(name, "storage") == 0) {
        pool->srs[0].pbds[0].attached = false; /* nfs not on m: also pbd_unplugged */
        fx_vm(pool, "vm", "s", GIB, "nfs");
    } else if (strcmp(name, "dom0") == 0) {
        pool->hosts[1].dom0_free_bytes = 1024;
    } else if (strcmp(name, "xapi precheck") == 0) {
        o->prechecks = fail;
        o->n_prechecks = 1;
    } else if (strcmp(name, "master pending toolstack") == 0) {
        pool->hosts[0].pending_guidance = CAT_G_RESTART_XAPI;
    } else if (strcmp(name, "upload space") == 0) {
        pool->srs[0].physical_utilisation = pool->srs[0].physical_size;
        pool->srs[1].physical_utilisation = pool->srs[1].physical_size;
    }
}

static const struct pc_case pc_cases[] = {
    {"ha", "ha_enabled", "", PLAN_SEV_BLOCKING, PLAN_FIX_DISABLE_HA, "OpaqueRef:pool-p", "",
     PLAN_FIX_ENABLE_HA, "OpaqueRef:pool-p", ""},
    {"disabled", "host_disabled", "s", PLAN_SEV_BLOCKING, PLAN_FIX_ENABLE_HOST, "s", "",
     PLAN_FIX_DISABLE_HOST, "s", ""},
    {"not live", "host_not_live", "s", PLAN_SEV_BLOCKING, PLAN_FIX_NONE, "", "", PLAN_FIX_NONE, "",
     ""},
    {"pbd", "pbd_unplugged", "s", PLAN_SEV_BLOCKING, PLAN_FIX_PLUG_PBD, "s", "nfs", PLAN_FIX_NONE,
     "", ""},
    {"cd", "evacuate_cd", "s", PLAN_SEV_BLOCKING, PLAN_FIX_EJECT_CD, "vm", "iso-s",
     PLAN_FIX_INSERT_CD, "vm", "iso-s"},
    {"local disk", "evacuate_local_disk", "s", PLAN_SEV_BLOCKING, PLAN_FIX_SUSPEND_VM, "vm", "",
     PLAN_FIX_RESUME_VM, "vm", "s"},
    {"suspend blocked", "evacuate_local_disk", "s", PLAN_SEV_BLOCKING, PLAN_FIX_SHUTDOWN_VM, "vm",
     "", PLAN_FIX_START_VM, "vm", "s"},
    {"pci", "evacuate_pci", "s", PLAN_SEV_BLOCKING, PLAN_FIX_SHUTDOWN_VM, "vm", "",
     PLAN_FIX_START_VM, "vm", "s"},
    {"migrate blocked", "evacuate_blocked", "s", PLAN_SEV_BLOCKING, PLAN_FIX_SUSPEND_VM, "vm", "",
     PLAN_FIX_RESUME_VM, "vm", "s"},
    {"memory", "evacuate_memory", "s", PLAN_SEV_BLOCKING, PLAN_FIX_NONE, "", "", PLAN_FIX_NONE, "",
     ""},
    {"storage", "evacuate_storage", "s", PLAN_SEV_BLOCKING, PLAN_FIX_NONE, "", "", PLAN_FIX_NONE,
     "", ""},
    {"dom0", "dom0_space", "s", PLAN_SEV_BLOCKING, PLAN_FIX_NONE, "", "", PLAN_FIX_NONE, "", ""},
    {"xapi precheck", "xapi_precheck", "s", PLAN_SEV_BLOCKING, PLAN_FIX_NONE, "", "", PLAN_FIX_NONE,
     "", ""},
    {"master pending toolstack", "master_restart_pending", "m", PLAN_SEV_BLOCKING, PLAN_FIX_NONE,
     "", "", PLAN_FIX_NONE, "", ""},
    {"upload space", "upload_sr_space", "", PLAN_SEV_BLOCKING, PLAN_FIX_NONE, "", "", PLAN_FIX_NONE,
     "", ""},
    {"baseline", "host_needs_reboot", "s", PLAN_SEV_INFO, PLAN_FIX_NONE, "", "", PLAN_FIX_NONE, "",
     ""},
};

static void test_prechecks(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(pc_cases) / sizeof(pc_cases[0]); i++) {
        const struct pc_case *c = &pc_cases[i];
        struct catalog *cat = fx_catalog();
        fx_patch(cat, "A", RH, "", "");
        fx_version(cat, "8.0", "b1", NULL, "A", "A");
        struct inv_pool *pool = pc_pool();
        struct plan_opts o;
        plan_opts_init(&o);
        pc_mutate(c->name, pool, &o);
        struct plan *p = NULL;
        assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
        const struct plan_check *k = NULL;
        for (size_t j = 0; j < p->n_checks && !k; j++)
            if (strcmp(p->checks[j].id, c->id) == 0 && strcmp(p->checks[j].host_ref, c->host) == 0)
                k = &p->checks[j];
        if (!k) {
            fail_msg("case '%s': no check %s on '%s'", c->name, c->id, c->host);
            return;
        }
        assert_int_equal(k->severity, c->sev);
        assert_true(strlen(k->message) > 20);
        assert_int_equal(k->fixable, c->fix != PLAN_FIX_NONE);
        assert_int_equal(k->fix.kind, c->fix);
        assert_string_equal(k->fix.obj_ref, c->fix_obj);
        assert_string_equal(k->fix.arg_ref, c->fix_arg);
        assert_int_equal(k->undo.kind, c->undo);
        assert_string_equal(k->undo.obj_ref, c->undo_obj);
        assert_string_equal(k->undo.arg_ref, c->undo_arg);
        if (strcmp(c->name, "xapi precheck") == 0) {
            assert_non_null(strstr(k->message, "UPDATE_PRECHECK_FAILED_GPGKEY_NOT_IMPORTED"));
            assert_string_equal(k->update_uuid, "A");
        }
        if (strcmp(c->name, "baseline") == 0) {
            /* a clean pool: nothing blocks; the default SR receives the image */
            assert_int_equal(plan_count_checks(p, PLAN_SEV_BLOCKING), 0);
            assert_string_equal(p->upload_sr_ref, "nfs");
        }
        if (c->fix != PLAN_FIX_NONE && strcmp(c->name, "storage") != 0) {
            /* the VM resolved away is not migrated */
            assert_true(plan_can_resolve(p));
            if (strcmp(c->id, "evacuate_local_disk") == 0 || strcmp(c->id, "evacuate_pci") == 0 ||
                strcmp(c->id, "evacuate_blocked") == 0)
                assert_int_equal(p->totals.migrations, 0);
        }
        if (strcmp(c->name, "cd") == 0)                /* ejected: the VM can move */
            assert_int_equal(p->totals.migrations, 2); /* return (the default): out and back */
        plan_free(p);
        inv_pool_free(pool);
        catalog_free(cat);
    }
}

static void test_already_applied(void **state)
{
    (void)state;
    struct catalog *cat = simple_catalog();
    struct inv_pool *pool = fx_pool("p");
    fx_host(pool, "m", 64 * GIB, "8.0", "b1");
    fx_host(pool, "s", 64 * GIB, "8.0", "b1");
    fx_applied(&pool->hosts[1], "A");
    struct plan_opts o;
    plan_opts_init(&o);
    o.mode = PLAN_MODE_SELECTED;
    const char *sel[] = {"A"};
    o.selected = sel;
    o.n_selected = 1;
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
    const struct plan_check *k = mcheck(p, "already_applied", "s");
    assert_non_null(k);
    assert_int_equal(k->severity, PLAN_SEV_INFO);
    assert_null(pcheck(p, "already_applied", "m"));
    assert_int_equal(phost(p, "s")->mode, PLAN_UM_UP_TO_DATE);
    assert_int_equal(phost(p, "s")->order, -1);
    assert_int_equal(phost(p, "m")->n_updates, 1);
    assert_int_equal(p->totals.hosts_updated, 1);
    plan_free(p);
    inv_pool_free(pool);
    catalog_free(cat);
}

/* Resolve All: fixes in a fixed order, undo in exact reverse (HA back last). */
static void test_resolve_all(void **state)
{
    (void)state;
    struct catalog *cat = fx_catalog();
    fx_patch(cat, "A", RH, "", "");
    fx_version(cat, "8.0", "b1", NULL, "A", "A");
    struct inv_pool *pool = pc_pool();
    pool->ha_enabled = true;
    pool->hosts[1].enabled = false;
    size_t v1 = fx_vm(pool, "cdvm", "s", GIB, "nfs");
    size_t iso = fx_sr(pool, "iso-s", false, "s", GIB, GIB);
    fx_set(&pool->vms[v1].cd_sr, "iso-s");
    fx_set(&pool->srs[iso].content_type, "iso");
    fx_vm(pool, "localvm", "s", GIB, "local-s");
    size_t v3 = fx_vm(pool, "pcivm", "m", GIB, "nfs");
    pool->vms[v3].has_pci = true;
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, cat, NULL, &p, NULL), 0);
    assert_true(plan_can_resolve(p));
    struct plan_resolution r;
    assert_int_equal(plan_resolve_all(p, &r, NULL), 0);
    const char *want_fix[] = {"disable_ha", "enable_host", "eject_cd", "suspend_vm", "shutdown_vm"};
    const char *want_undo[] = {"start_vm", "resume_vm", "insert_cd", "disable_host", "enable_ha"};
    assert_int_equal(r.n_fixes, 5);
    assert_int_equal(r.n_undo, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(plan_fix_name(r.fixes[i].kind), want_fix[i]);
        assert_string_equal(plan_fix_name(r.undo[i].kind), want_undo[i]);
    }
    assert_string_equal(r.undo[0].obj_ref, "pcivm");
    assert_string_equal(r.undo[0].arg_ref, "m");
    plan_resolution_cleanup(&r);
    assert_int_equal(r.n_fixes, 0);
    plan_free(p);

    /* a VM to be suspended has its CD ejected first and inserted again after it is resumed; a
     * PCI / vGPU VM with a CD is shut down (never suspended) and keeps its CD */
    size_t lv = 1;
    fx_set(&pool->vms[lv].cd_sr, "iso-s");
    fx_set(&pool->vms[v3].cd_sr, "nfs");
    assert_int_equal(plan_build(pool, cat, NULL, &p, NULL), 0);
    assert_non_null(mcheck(p, "suspend_cd", "s"));
    assert_int_equal(plan_resolve_all(p, &r, NULL), 0);
    const char *fix2[] = {"disable_ha", "enable_host", "eject_cd",
                          "eject_cd",   "suspend_vm",  "shutdown_vm"};
    const char *undo2[] = {"start_vm",  "resume_vm",    "insert_cd",
                           "insert_cd", "disable_host", "enable_ha"};
    assert_int_equal(r.n_fixes, 6);
    assert_int_equal(r.n_undo, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(plan_fix_name(r.fixes[i].kind), fix2[i]);
        assert_string_equal(plan_fix_name(r.undo[i].kind), undo2[i]);
        assert_true(strcmp(r.fixes[i].obj_ref, "pcivm") != 0 ||
                    r.fixes[i].kind == PLAN_FIX_SHUTDOWN_VM);
    }
    assert_string_equal(r.fixes[4].obj_ref, "localvm");
    assert_string_equal(r.undo[1].obj_ref, "localvm"); /* resumed ... */
    bool local_cd_back = false;
    for (size_t i = 2; i < 4; i++)
        local_cd_back |= strcmp(r.undo[i].obj_ref, "localvm") == 0; /* ... then its CD back */
    assert_true(local_cd_back);
    plan_resolution_cleanup(&r);
    plan_free(p);
    inv_pool_free(pool);
    catalog_free(cat);
}

/* ------------------------------------------------------------------ upload SR (table) */

struct sr_case {
    const char *name;
    bool default_shared;
    int64_t default_free, other_shared_free, other2_shared_free, local_free;
    bool iso_big;
    const char *want; /* NULL: none */
};

static const struct sr_case sr_cases[] = {
    {"default shared with room", true, 10 * GIB, 50 * GIB, 0, 50 * GIB, false, "def"},
    {"default full: most free shared", true, 0, 5 * GIB, 9 * GIB, 50 * GIB, false, "sh2"},
    {"default local: shared first", false, 50 * GIB, 5 * GIB, 0, 50 * GIB, false, "sh1"},
    {"no shared room: master local", true, 0, 0, 0, 5 * GIB, true, "loc"},
    {"default local only", false, 5 * GIB, 0, 0, 0, false, "def"},
    {"nothing fits (ISO ignored)", true, 0, 0, 0, 0, true, NULL},
};

static void test_upload_sr(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(sr_cases) / sizeof(sr_cases[0]); i++) {
        const struct sr_case *c = &sr_cases[i];
        struct inv_pool *pool = fx_pool("p");
        fx_host(pool, "m", 64 * GIB, "8.0", "b1");
        fx_host(pool, "s", 64 * GIB, "8.0", "b1");
        const int64_t size = 100 * GIB;
        fx_sr(pool, "iso", true, NULL, size, c->iso_big ? 0 : size);
        fx_set(&pool->srs[0].content_type, "iso");
        pool->srs[0].allows_vdi_create = false;
        if (c->default_shared)
            fx_sr(pool, "def", true, NULL, size, size - c->default_free);
        else
            fx_sr(pool, "def", false, "m", size, size - c->default_free);
        fx_sr(pool, "sh1", true, NULL, size, size - c->other_shared_free);
        fx_sr(pool, "sh2", true, NULL, size, size - c->other2_shared_free);
        fx_sr(pool, "loc", false, "m", size, size - c->local_free);
        fx_sr(pool, "loc-s", false, "s", size, 0); /* not on the master: never chosen */
        fx_set(&pool->default_sr_ref, "def");
        const struct inv_sr *sr = plan_choose_upload_sr(pool, GIB);
        if (c->want == NULL ? sr != NULL : (!sr || strcmp(sr->ref, c->want) != 0))
            fail_msg("case '%s': got %s, want %s", c->name, sr ? sr->ref : "none",
                     c->want ? c->want : "none");
        inv_pool_free(pool);
    }
}

/* ------------------------------------------------------------------ renderings */

static void test_render(void **state)
{
    (void)state;
    struct catalog *cat = fx_catalog();
    fx_patch(cat, "A", RH, "", "");
    fx_version(cat, "8.0", "b1", NULL, "A", "A");
    struct inv_pool *pool = pc_pool();
    fx_vm(pool, "vm1", "m", 4 * GIB, "nfs");
    fx_vm(pool, "vm2", "s", 4 * GIB, "nfs");
    pool->ha_enabled = true;
    struct plan_opts o;
    plan_opts_init(&o);
    o.policy = PLAN_POLICY_RETURN;
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
    assert_int_equal(p->totals.migrations, 4);
    assert_int_equal(p->totals.migrations_back, 2);

    json_t *j = plan_to_json(p);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "pool"), "name")),
                        "p");
    assert_string_equal(json_string_value(json_object_get(j, "policy")), "return");
    json_t *hosts = json_object_get(j, "hosts");
    assert_int_equal(json_array_size(hosts), 2);
    json_t *h0 = json_array_get(hosts, 0);
    assert_true(json_is_true(json_object_get(h0, "master")));
    assert_string_equal(json_string_value(json_object_get(h0, "update_mode")), "Reboot");
    json_t *acts = json_object_get(h0, "actions");
    json_t *ev = json_array_get(acts, 1);
    assert_string_equal(json_string_value(json_object_get(ev, "kind")), "evacuate");
    json_t *m0 = json_array_get(json_object_get(ev, "migrations"), 0);
    assert_string_equal(json_string_value(json_object_get(m0, "vm")), "vm1");
    assert_string_equal(json_string_value(json_object_get(m0, "to")), "s");
    json_t *checks = json_object_get(j, "checks");
    json_t *ha = json_array_get(checks, 0);
    assert_string_equal(json_string_value(json_object_get(ha, "id")), "ha_enabled");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ha, "undo"), "kind")),
                        "enable_ha");
    json_t *tot = json_object_get(j, "totals");
    assert_int_equal(json_integer_value(json_object_get(tot, "migrations")), 4);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(tot, "bound"), "migrations")), 4);
    struct buf b;
    buf_init(&b);
    jsonx_dump(&b, j, 0);
    assert_true(b.len > 200);
    buf_cleanup(&b);
    json_decref(j);

    buf_init(&b);
    plan_render_text(p, &b);
    const char *t = buf_str(&b);
    assert_non_null(strstr(t, "Plan for pool p"));
    assert_non_null(strstr(t, "[blocking] ha_enabled"));
    assert_non_null(strstr(t, "undone at the end by enable_ha"));
    assert_non_null(strstr(t, "1. m (master)"));
    assert_non_null(strstr(t, "vm1: m -> s"));
    assert_non_null(strstr(t, "vm2: s -> m"));
    assert_non_null(strstr(t, "4 migrations (2 back home), 2 reboots"));
    assert_non_null(strstr(t, "Predicted window: "));
    buf_cleanup(&b);
    plan_free(p);
    inv_pool_free(pool);
    catalog_free(cat);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct catalog *cat = simple_catalog();
    struct inv_pool *pool = fx_pool("p");
    struct plan *p = (struct plan *)1;
    struct err e = {0};
    assert_int_equal(plan_build(pool, cat, NULL, &p, &e), PP_EINVAL); /* no master */
    assert_null(p);
    fx_host(pool, "m", GIB, "8.0", "b1");
    struct plan_opts o;
    plan_opts_init(&o);
    const char *sel[] = {"ghost"};
    o.hosts = sel;
    o.n_hosts = 1;
    assert_int_equal(plan_build(pool, cat, &o, &p, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "ghost"));
    assert_int_equal(plan_build(NULL, cat, NULL, &p, NULL), PP_EINVAL);
    plan_free(NULL);
    inv_pool_free(pool);
    catalog_free(cat);
}

/* ------------------------------------------------------------------ the real test catalog */

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

static bool before(char *const *seq, size_t n, size_t pos, const char *uuid)
{
    for (size_t i = 0; i < pos && i < n; i++)
        if (str_eq_nocase(seq[i], uuid))
            return true;
    return false;
}

/* Every version of tests/data/catalog/updates.xml with a minimal list: each update follows its
 * requirements, appears once, conflicts with nothing before it; a CU is followed by the minimal
 * set of the version it installs; stay-on-release never contains a CU. */
static void test_real_catalog(void **state)
{
    (void)state;
    FILE *f = fopen(PP_SOURCE_ROOT "/tests/data/catalog/updates.xml", "rb");
    if (!f) {
        skip();
        return;
    }
    struct buf b;
    buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    struct catalog *cat = NULL;
    struct err e = {0};
    assert_int_equal(catalog_parse_xml(b.data, b.len, NULL, &cat, &e), 0);
    buf_cleanup(&b);
    size_t chained = 0, checked = 0;
    for (size_t vi = 0; vi < cat->n_versions; vi++) {
        const struct cat_version *v = &cat->versions[vi];
        if (!v->has_minimal)
            continue;
        struct inv_pool *pool = fx_pool("real");
        size_t h = fx_host(pool, "h", 64 * GIB, v->value, v->build_number);
        for (int mode = PLAN_MODE_AUTOMATED; mode <= PLAN_MODE_STAY; mode++) {
            struct plan_seq s;
            assert_int_equal(
                plan_host_sequence(cat, &pool->hosts[h], (enum plan_mode)mode, NULL, 0, &s, NULL),
                0);
            assert_true(s.supported);
            assert_string_equal(s.version, v->value);
            for (size_t i = 0; i < s.n; i++) {
                const struct cat_patch *p = catalog_find_patch(cat, s.uuids[i]);
                assert_non_null(p);
                assert_false(before(s.uuids, s.n, i, s.uuids[i]));
                for (size_t r = 0; r < p->n_required; r++)
                    assert_true(before(s.uuids, s.n, i, p->required[r]));
                for (size_t k = 0; k < p->n_conflicting; k++)
                    assert_false(before(s.uuids, s.n, i, p->conflicting[k]));
                const struct cat_version *nv = catalog_version_installed_by(cat, s.uuids[i]);
                if (mode == PLAN_MODE_STAY)
                    assert_null(nv);
                else if (nv && nv->n_minimal > 0 && i + 1 < s.n) {
                    /* the next update belongs to the new baseline */
                    bool in_next = false;
                    for (size_t q = 0; q < nv->n_minimal; q++)
                        in_next |= str_eq_nocase(nv->minimal[q], s.uuids[i + 1]);
                    assert_true(in_next);
                    chained++;
                }
            }
            checked += s.n;
            plan_seq_cleanup(&s);
        }
        inv_pool_free(pool);
    }
    assert_true(checked > 50);
    assert_true(chained > 0);
    catalog_free(cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_51_minimal_10_applied),
        cmocka_unit_test(test_guidance),
        cmocka_unit_test(test_livepatch_failed_earlier),
        cmocka_unit_test(test_live_patching_disabled),
        cmocka_unit_test(test_cdn),
        cmocka_unit_test(test_partly_upgraded),
        cmocka_unit_test(test_forbid_auto_restart),
        cmocka_unit_test(test_cu_needs_all_hosts),
        cmocka_unit_test(test_uninstallable_grouped),
        cmocka_unit_test(test_unsupported_version),
        cmocka_unit_test(test_prechecks),
        cmocka_unit_test(test_already_applied),
        cmocka_unit_test(test_resolve_all),
        cmocka_unit_test(test_upload_sr),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_real_catalog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
