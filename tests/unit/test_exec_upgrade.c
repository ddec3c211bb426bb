/* SPDX-License-Identifier: MIT */
/*
 * test_exec_upgrade.c - the rolling pool upgrade's HA handling end to end against the simulator
 * linked in-process on its virtual clock (tests/unit/exec_env.c): an HA pool whose supporter h3
 * comes back on its old version is left out; the final undo's pool.enable_ha is refused
 * (NOT_SUPPORTED_DURING_UPGRADE) and deferred by exec_upgrade_ha_defer (rollout done, HA off,
 * the item still pending); exec_upgrade_ha_after_forget while h3 is still in the pool leaves it
 * pending (xapi refuses again); then either
 *   - h3 upgraded by a second upgrade rollout: when that pool ends done with no mixed versions
 *     the deferred restore is replayed (HA on, item marked), or
 *   - h3 cut off and forgotten (host.destroy): exec_upgrade_ha_after_forget turns HA back on.
 * Deterministic: virtual time, fixed seeds, no sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "exec_env.h"
#include "engine/exec_drv.h"

#define URL "http://media.example/xs84/"

static const char scenario_text[] =
    "{\"seed\": 15, \"base_address\": \"127.0.0.10\","
    " \"credentials\": {\"username\": \"root\", \"password\": \"xenroot\"},"
    " \"timings\": {\"reboot_s\": 180, \"toolstack_restart_s\": 30, \"apply_s\": 60,"
    "   \"precheck_s\": 5, \"migration_mib_per_s\": 512, \"migration_overhead_s\": 2,"
    "   \"parallel_migrations\": 3, \"upload_mib_per_s\": 100, \"install_s\": 900,"
    "   \"emergency_after_s\": 60},"
    " \"releases\": [{\"name\": \"XenServer 8\", \"product_version\": \"8.4.0\","
    "   \"platform_version\": \"3.4.0\", \"build_number\": \"release/nile/master/112\","
    "   \"xapi\": \"24.39\", \"url\": \"" URL "\"}],"
    " \"pools\": [{\"name\": \"p1\", \"ha_enabled\": true,"
    "  \"version\": {\"product_version\": \"8.2.1\", \"platform_version\": \"3.2.1\","
    "     \"build_number\": \"release/yangtze/master/58\", \"xapi\": \"1.249\"},"
    "  \"default_sr\": \"nfs\","
    "  \"hosts\": [{\"name\": \"h1\", \"memory_gib\": 64, \"master\": true},"
    "             {\"name\": \"h2\", \"memory_gib\": 64}, {\"name\": \"h3\", \"memory_gib\": 64}],"
    "  \"srs\": [{\"name\": \"nfs\", \"type\": \"nfs\", \"shared\": true, \"size_gib\": 2048,"
    "            \"used_gib\": 300}],"
    "  \"vms\": [{\"name\": \"web-1\", \"memory_gib\": 4, \"host\": \"h1\","
    "             \"disks\": [{\"sr\": \"nfs\", \"size_gib\": 20}]},"
    "           {\"name\": \"db-1\", \"memory_gib\": 8, \"host\": \"h3\","
    "             \"disks\": [{\"sr\": \"nfs\", \"size_gib\": 20}]}]"
    " }]}";

static const char catalog_text[] = "<?xml version=\"1.0\"?>\n<patchdata><patches/></patchdata>";

struct world {
    struct tenv *t;
    char *id;
};

static void world_new(struct world *w)
{
    struct err e = {0};
    json_t *sc = json_loads(scenario_text, 0, NULL);
    assert_non_null(sc);
    w->t = tenv_new(sc, catalog_text, &e);
    json_decref(sc);
    if (!w->t)
        fail_msg("tenv_new: %s", e.msg);
    w->t->quiet = true;
    if (tenv_start(w->t, &e) != 0)
        fail_msg("tenv_start: %s", e.msg);
    w->id = NULL;
}

static void world_free(struct world *w)
{
    free(w->id);
    tenv_free(w->t);
}

static void fault(struct world *w, const char *json)
{
    struct err e = {0};
    json_t *f = json_loads(json, 0, NULL);
    if (sim_fault_apply(w->t->sim, f, &e) != 0)
        fail_msg("fault: %s", e.msg);
    json_decref(f);
}

/* Start an upgrade of p1 to 8.4.0 from URL and run it to its end; the rollout's end state. */
static enum store_rollout_state upgrade(struct world *w)
{
    struct plan_opts o;
    plan_opts_init(&o);
    o.mode = PLAN_MODE_UPGRADE;
    o.policy = PLAN_POLICY_MINIMAL;
    o.upgrade_to = "8.4.0";
    o.upgrade_url = URL;
    struct exec_pool_req pr = {.pool = "p1", .opts = &o};
    struct exec_request req = {.pools = &pr, .n_pools = 1};
    struct err e = {0};
    free(w->id);
    w->id = NULL;
    if (exec_rollout_start(w->t->x, &req, &w->id, &e) != 0)
        fail_msg("exec_rollout_start: %s", e.msg);
    return tenv_run(w->t, w->id, 400000);
}

static json_t *sim_state(struct world *w)
{
    return sim_state_json(w->t->sim);
}

static bool ha_on(struct world *w)
{
    json_t *s = sim_state(w);
    bool on =
        json_is_true(json_object_get(json_array_get(json_object_get(s, "pools"), 0), "ha_enabled"));
    json_decref(s);
    return on;
}

static const char *host_field(const json_t *s, const char *host, const char *k)
{
    return json_string_value(json_object_get(tenv_sim_host(s, host), k));
}

/* The pending (not replayed) enable_ha undo items of rollout id. */
static int pending_ha(struct world *w, const char *id)
{
    struct store_step_list ul = {0};
    struct err e = {0};
    int n = 0;
    if (store_undo_list(w->t->store, id, "p1", &ul, &e) != 0)
        fail_msg("undo list: %s", e.msg);
    for (size_t i = 0; i < ul.n; i++)
        n += ul.items[i].undo_json && strstr(ul.items[i].undo_json, "\"enable_ha\"") != NULL;
    store_step_list_cleanup(&ul);
    return n;
}

static void turns(struct world *w, int n)
{
    for (int i = 0; i < n; i++)
        tenv_turn(w->t);
}

/* The first upgrade: h3 back on 8.2.1, left out; HA deferred (done, HA off, item pending); a
 * restore asked while h3 is still in the pool is refused and stays pending.  Returns the id. */
static char *left_out_run(struct world *w)
{
    fault(w, "{\"type\": \"returns_old_version\", \"host\": \"h3\"}");
    assert_true(ha_on(w));
    enum store_rollout_state st = upgrade(w);
    if (st != STORE_ROLLOUT_DONE)
        fail_msg("the first upgrade ended %s", store_rollout_state_name(st));
    json_t *s = sim_state(w);
    assert_string_equal(host_field(s, "h1", "product_version"), "8.4.0");
    assert_string_equal(host_field(s, "h2", "product_version"), "8.4.0");
    assert_string_equal(host_field(s, "h3", "product_version"), "8.2.1");
    json_decref(s);
    assert_false(ha_on(w));                    /* xapi refused it: NOT_SUPPORTED_DURING_UPGRADE */
    assert_int_equal(pending_ha(w, w->id), 1); /* deferred, not dropped */
    struct err e = {0};
    assert_int_equal(exec_upgrade_ha_after_forget(w->t->x, "p1", &e), 0);
    turns(w, 2000);
    assert_false(ha_on(w)); /* h3 (8.2.1) still in the pool: refused again */
    assert_int_equal(pending_ha(w, w->id), 1);
    return xstrdup(w->id);
}

/* h3 upgraded by a later upgrade: the deferred HA restore is replayed when it ends. */
static void test_ha_back_after_left_out_host_upgraded(void **state)
{
    (void)state;
    struct world w;
    world_new(&w);
    char *first = left_out_run(&w);
    fault(&w, "{\"type\": \"clear\"}");
    enum store_rollout_state st = upgrade(&w);
    if (st != STORE_ROLLOUT_DONE)
        fail_msg("the second upgrade ended %s", store_rollout_state_name(st));
    json_t *s = sim_state(&w);
    assert_string_equal(host_field(s, "h3", "product_version"), "8.4.0");
    json_decref(s);
    turns(&w, 2000); /* the enable_ha call and its answer */
    assert_true(ha_on(&w));
    assert_int_equal(pending_ha(&w, first), 0); /* marked replayed */
    free(first);
    world_free(&w);
}

static void forgot(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    int *out = ctx;
    *out = rc == 0 ? 1 : -1;
    if (rc != 0)
        fprintf(stderr, "host.destroy: %s\n", e ? e->msg : "?");
}

static bool find_h3(void *c, const char *ref, const struct xapi_value *rec)
{
    if (str_eq(xapi_struct_str(rec, "name_label", ""), "h3")) {
        str_lcpy(c, ref, 128);
        return false;
    }
    return true;
}

/* h3 cut off and forgotten (xe host-forget): exec_upgrade_ha_after_forget turns HA back on. */
static void test_ha_back_after_forget(void **state)
{
    (void)state;
    struct world w;
    world_new(&w);
    char *first = left_out_run(&w);
    fault(&w, "{\"type\": \"partition\", \"host\": \"h3\"}");
    bool gone = false;
    for (int i = 0; i < 200000 && !gone; i++) {
        tenv_turn(w.t);
        json_t *s = sim_state(&w);
        gone = json_is_false(json_object_get(tenv_sim_host(s, "h3"), "live"));
        json_decref(s);
    }
    assert_true(gone);
    struct xapi_records v;
    char ref[128] = "";
    xapi_records_from_client(&v, w.t->clients[0]);
    v.foreach (v.ctx, "host", find_h3, ref);
    assert_true(ref[0]);
    int done = 0;
    struct err e = {0};
    struct xapi_value *pa = xapi_value_new_array();
    xapi_array_append_string(pa, ref);
    assert_int_equal(
        xapi_call_async(w.t->clients[0], "host.destroy", pa, NULL, forgot, &done, NULL, &e), 0);
    for (int i = 0; i < 100000 && !done; i++)
        tenv_turn(w.t);
    assert_int_equal(done, 1);
    assert_false(ha_on(&w));
    assert_int_equal(exec_upgrade_ha_after_forget(w.t->x, "p1", &e), 0);
    turns(&w, 2000);
    assert_true(ha_on(&w));
    assert_int_equal(pending_ha(&w, first), 0);
    free(first);
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ha_back_after_left_out_host_upgraded),
        cmocka_unit_test(test_ha_back_after_forget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
