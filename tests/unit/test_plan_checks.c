/* SPDX-License-Identifier: MIT */
/*
 * test_plan_checks.c - the prechecks table against a pinned record: 300 random pools (seeds 1..300,
 * printed on failure) mixing every input a check reads (HA, hosts not live or disabled, pending
 * reboots, dom0 space, xapi precheck failures and live-patch results, partly upgraded pools,
 * forbid-auto-restart, unplugged PBDs, PCI / local-disk / blocked VMs, local CDs, host subsets,
 * chosen updates) are planned, and each plan's checks (id, host, VM, update, severity, fix, undo,
 * message; the placement's evacuate_memory / evacuate_storage left out) are hashed and compared
 * with tests/data/plan/checks_golden.txt.  The record was written by the inline pool_checks before
 * it became a table of check functions, so the table is proven equivalent; a deliberate change
 * to a check rewrites it (PP_GOLDEN_WRITE=path).
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
#include "base/rng.h"
#include "plan/plan.h"
#include "test_plan_fixture.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

#define N_SEEDS 300
#define GOLDEN  PP_SOURCE_ROOT "/tests/data/plan/checks_golden.txt"

static struct catalog *checks_catalog(void)
{
    struct catalog *cat = fx_catalog();
    size_t a = fx_patch(cat, "A", CAT_G_RESTART_HOST, "", "");
    cat->patches[a].contains_livepatch = true;
    cat->patches[a].installation_size = 200 * 1024 * 1024;
    fx_patch(cat, "B", CAT_G_RESTART_XAPI, "A", "");
    fx_patch(cat, "C", 0, "MISSING", "");
    fx_patch(cat, "D", CAT_G_RESTART_HVM, "", "B");
    fx_patch(cat, "CU", CAT_G_RESTART_HOST, "A", "");
    fx_version(cat, "8.0", "b1", NULL, "A,B,C,D,CU", "A,B,C,D");
    fx_version(cat, "7.0", "b0", NULL, "A", NULL);
    fx_version(cat, "8.1", "b2", "CU", "", "");
    return cat;
}

static void random_vm(struct rng *r, struct inv_pool *pool, size_t h, size_t i)
{
    char ref[48], local[48];
    snprintf(ref, sizeof(ref), "vm%zu-%zu", h, i);
    snprintf(local, sizeof(local), "local-%s", pool->hosts[h].ref);
    size_t v = fx_vm(pool, ref, pool->hosts[h].ref, (int64_t)(1 + rng_below(r, 6)) * GIB, "nfs");
    struct inv_vm *vm = &pool->vms[v];
    uint64_t k = rng_below(r, 12);
    if (k == 0)
        vm->has_pci = true;
    else if (k == 1)
        fx_set(&vm->disk_srs[0], local);
    else if (k == 2)
        vm->migrate_blocked = true;
    if (rng_below(r, 5) == 0)
        vm->suspend_blocked = true;
    if (rng_below(r, 6) == 0)
        fx_set(&vm->cd_sr, rng_below(r, 2) ? "iso-local" : "iso-shared");
    if (rng_below(r, 15) == 0)
        vm->power_state = INV_HALTED;
}

static struct inv_pool *random_pool(struct rng *r)
{
    struct inv_pool *pool = fx_pool("chk");
    size_t nh = 2 + (size_t)rng_below(r, 5);
    char ref[48];
    for (size_t h = 0; h < nh; h++) {
        snprintf(ref, sizeof(ref), "h%zu", h);
        bool old = h > 0 && rng_below(r, 12) == 0;
        fx_host(pool, ref, (int64_t)(8 + 8 * rng_below(r, 4)) * GIB, old ? "7.0" : "8.0",
                old ? "b0" : "b1");
        struct inv_host *ih = &pool->hosts[h];
        ih->live = rng_below(r, 10) != 0;
        ih->enabled = rng_below(r, 6) != 0;
        if (rng_below(r, 4) == 0)
            fx_applied(ih, rng_below(r, 2) ? "A" : "A,B");
        if (rng_below(r, 8) == 0)
            ih->updates_requiring_reboot = fx_csv("A", &ih->n_updates_requiring_reboot);
        if (rng_below(r, 10) == 0)
            ih->pending_guidance = CAT_G_RESTART_XAPI;
        if (rng_below(r, 3) == 0)
            ih->dom0_free_bytes = (int64_t)rng_below(r, 400) * 1024 * 1024;
    }
    pool->ha_enabled = rng_below(r, 3) == 0;
    pool->forbid_auto_restart = rng_below(r, 10) == 0;
    fx_sr(pool, "nfs", true, NULL, 1000 * GIB, (int64_t)rng_below(r, 1001) * GIB);
    for (size_t h = 0; h < nh; h++)
        pool->srs[0].pbds[h].attached = rng_below(r, 8) != 0;
    fx_sr(pool, "iso-shared", true, NULL, 10 * GIB, 0);
    fx_sr(pool, "iso-local", false, pool->hosts[0].ref, 10 * GIB, 0);
    for (size_t h = 0; h < nh; h++) {
        snprintf(ref, sizeof(ref), "local-h%zu", h);
        fx_sr(pool, ref, false, pool->hosts[h].ref, 100 * GIB, 0);
    }
    if (rng_below(r, 2))
        fx_set(&pool->default_sr_ref, "nfs");
    for (size_t h = 0; h < nh; h++)
        for (size_t i = 0, n = rng_below(r, 5); i < n; i++)
            random_vm(r, pool, h, i);
    return pool;
}

static const char *const selected_updates[] = {"B", "D", "A"};

/* Options: mode, host subset, xapi precheck results (errors and live-patch outcomes). */
static void random_opts(struct rng *r, const struct inv_pool *pool, struct plan_opts *o,
                        const char **hosts, struct plan_precheck_result *pre, size_t *n_pre)
{
    plan_opts_init(o);
    o->mode = (enum plan_mode)rng_below(r, 3);
    if (o->mode == PLAN_MODE_SELECTED) {
        o->selected = selected_updates;
        o->n_selected = 1 + (size_t)rng_below(r, 3);
    }
    if (rng_below(r, 4) == 0) {
        for (size_t h = 0; h < pool->n_hosts; h++)
            if (rng_below(r, 2))
                hosts[o->n_hosts++] = pool->hosts[h].ref;
        o->hosts = hosts;
    }
    *n_pre = 0;
    for (size_t h = 0; h < pool->n_hosts; h++) {
        uint64_t k = rng_below(r, 5);
        if (k == 0)
            continue;
        struct plan_precheck_result *p = &pre[(*n_pre)++];
        memset(p, 0, sizeof(*p));
        p->host_ref = pool->hosts[h].ref;
        p->update_uuid = rng_below(r, 2) ? "A" : NULL;
        p->livepatch = (enum plan_livepatch)rng_below(r, 4);
        if (k == 1) {
            p->error_code = "PATCH_PRECHECK_FAILED_UNKNOWN_ERROR";
            p->error_detail = rng_below(r, 2) ? "disk full" : NULL;
        }
    }
    o->prechecks = pre;
    o->n_prechecks = *n_pre;
}

static void fix_text(struct buf *b, const struct plan_fix *f)
{
    buf_printf(b, "%s %s %s|", plan_fix_name(f->kind), f->obj_ref, f->arg_ref);
}

/* The checks of a plan as text, placement checks left out. */
static void checks_text(const struct plan *p, struct buf *b)
{
    for (size_t i = 0; i < p->n_checks; i++) {
        const struct plan_check *k = &p->checks[i];
        if (strcmp(k->id, "evacuate_memory") == 0 || strcmp(k->id, "evacuate_storage") == 0)
            continue;
        buf_printf(b, "%s|%s|%s|%s|%s|%d|", k->id, k->host_ref, k->vm_ref, k->update_uuid,
                   plan_severity_name(k->severity), k->fixable);
        fix_text(b, &k->fix);
        fix_text(b, &k->undo);
        buf_printf(b, "%s\n", k->message);
    }
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The hash of seed's plan checks; *text receives the text (caller frees). */
static uint64_t seed_hash(uint64_t seed, struct catalog *cat, char **text)
{
    struct rng r;
    rng_seed(&r, seed);
    struct inv_pool *pool = random_pool(&r);
    struct plan_opts o;
    const char *hosts[16];
    struct plan_precheck_result pre[16];
    size_t n_pre;
    random_opts(&r, pool, &o, hosts, pre, &n_pre);
    /* the checks do not depend on the policy; pin both defaults the same way */
    o.policy = PLAN_POLICY_MINIMAL;
    struct plan *p = NULL;
    assert_int_equal(plan_build(pool, cat, &o, &p, NULL), 0);
    struct buf b;
    buf_init(&b);
    checks_text(p, &b);
    uint64_t h = fnv1a(buf_str(&b));
    *text = buf_take(&b);
    plan_free(p);
    inv_pool_free(pool);
    return h;
}

static void test_checks_match_record(void **state)
{
    (void)state;
    struct catalog *cat = checks_catalog();
    const char *out = getenv("PP_GOLDEN_WRITE");
    FILE *f = fopen(out ? out : GOLDEN, out ? "w" : "r");
    assert_non_null(f);
    size_t differ = 0, nonempty = 0;
    for (uint64_t seed = 1; seed <= N_SEEDS; seed++) {
        char *text = NULL;
        uint64_t h = seed_hash(seed, cat, &text);
        nonempty += text[0] != '\0';
        if (out) {
            fprintf(f, "%llu %016llx\n", (unsigned long long)seed, (unsigned long long)h);
        } else {
            unsigned long long s = 0, want = 0;
            assert_int_equal(fscanf(f, "%llu %llx", &s, &want), 2);
            assert_int_equal(s, seed);
            if (want != h) {
                printf("seed %llu: checks differ from the record:\n%s", s, text);
                differ++;
            }
        }
        free(text);
    }
    fclose(f);
    catalog_free(cat);
    printf("checks table: %d seeds, %zu with checks, %zu differ\n", N_SEEDS, nonempty, differ);
    assert_true(nonempty > N_SEEDS / 2);
    assert_int_equal(differ, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checks_match_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
