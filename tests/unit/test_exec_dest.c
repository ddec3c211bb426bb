/* SPDX-License-Identifier: MIT */
/*
 * test_exec_dest.c - the executor's migration lanes respect the destination limit: a whole
 * automated rollout of scenarios/bench-16.json (16 hosts, 320 VMs, 3 migration streams a host)
 * through the real executor against the in-process simulator, both policies, and no migration
 * ever waits in the simulator for a free slot on its destination (GET /sim/state's
 * migrations_waited_destination, judged by the simulator, not by the executor).  Before the
 * executor limited destinations, several lanes sending to the master just updated queued there
 * while their own streams stood idle.  Also: the rollout ends done, every VM still runs, and the
 * simulator counted the migrations the policy allows (minimal: within V + one parked batch of
 * k = 4 hosts; return: 2V).  Virtual time; no clock is asserted.
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
#include "exec_env.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

#define U_REBOOT TENV_U_REBOOT

static json_int_t counter(json_t *st, const char *name)
{
    return json_integer_value(json_object_get(json_object_get(st, "counters"), name));
}

/* Guests resident on a host in the simulator's state (control domains are left out there),
 * each counted once: a name resident on two hosts fails the test. */
static size_t running_vms(json_t *st)
{
    json_t *seen = json_object();
    size_t i, j, k;
    json_t *p, *h, *vm;
    json_array_foreach(json_object_get(st, "pools"), i, p)
    {
        json_array_foreach(json_object_get(p, "hosts"), j, h)
        {
            json_array_foreach(json_object_get(h, "resident_vms"), k, vm)
            {
                if (json_object_get(seen, json_string_value(vm)))
                    fail_msg("%s resident on two hosts", json_string_value(vm));
                json_object_set_new(seen, json_string_value(vm), json_true());
            }
        }
    }
    size_t n = json_object_size(seen);
    json_decref(seen);
    return n;
}

static void rollout(enum plan_policy policy)
{
    json_error_t je;
    json_t *sc = json_load_file(PP_SOURCE_ROOT "/scenarios/bench-16.json", 0, &je);
    assert_non_null(sc);
    struct err e = {0};
    struct tenv *t = tenv_new(sc, tenv_reboot_catalog, &e);
    assert_non_null(t);
    t->quiet = true;
    const json_t *tm = json_object_get(sc, "timings");
    t->env.timing.reboot_s = json_number_value(json_object_get(tm, "reboot_s"));
    t->env.timing.apply_s = json_number_value(json_object_get(tm, "apply_s"));
    t->env.timing.migration_bw =
        json_number_value(json_object_get(tm, "migration_mib_per_s")) * 1024.0 * 1024.0;
    t->env.timing.parallel_migrations =
        (int)json_integer_value(json_object_get(tm, "parallel_migrations"));
    char *img = tenv_image(U_REBOOT, "XS82ECU1002", "restartHost", false);
    const char *path = tenv_write(t, "u0.img", img, strlen(img));
    free(img);
    assert_non_null(path);
    assert_int_equal(tenv_start(t, &e), 0);
    json_t *before = sim_state_json(t->sim);
    size_t vms = running_vms(before);
    json_decref(before);

    struct plan_opts o;
    plan_opts_init(&o);
    o.policy = policy;
    struct exec_pool_req pr = {.pool = t->pool_names[0], .opts = &o};
    struct exec_file f = {.uuid = U_REBOOT, .path = path};
    struct exec_request req = {.pools = &pr, .n_pools = 1, .files = &f, .n_files = 1};
    char *id = NULL;
    assert_int_equal(exec_rollout_start(t->x, &req, &id, &e), 0);
    assert_int_equal(tenv_run(t, id, 50000000L), STORE_ROLLOUT_DONE);

    json_t *st = sim_state_json(t->sim);
    json_int_t migr = counter(st, "migrations"),
               waited = counter(st, "migrations_waited_destination");
    printf("%s: %lld migrations, %lld waited for their destination, %zu of %zu VMs running\n",
           plan_policy_name(policy), (long long)migr, (long long)waited, running_vms(st), vms);
    assert_int_equal(waited, 0);
    assert_int_equal(counter(st, "reboots"), 16);
    assert_int_equal(running_vms(st), vms);
    if (policy == PLAN_POLICY_MINIMAL)
        assert_true(migr >= 320 && migr <= 320 + 4 * 20);
    else
        assert_int_equal(migr, 640);
    json_decref(st);
    free(id);
    tenv_free(t);
    json_decref(sc);
}

static void test_bench16_minimal_no_destination_wait(void **state)
{
    (void)state;
    rollout(PLAN_POLICY_MINIMAL);
}

static void test_bench16_return_no_destination_wait(void **state)
{
    (void)state;
    rollout(PLAN_POLICY_RETURN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench16_minimal_no_destination_wait),
        cmocka_unit_test(test_bench16_return_no_destination_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
