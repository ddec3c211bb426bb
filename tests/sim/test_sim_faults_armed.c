/* SPDX-License-Identifier: MIT */
/*
 * test_sim_faults_armed.c - the simulator's fault additions for the fault matrix (issue 12),
 * in-process on the virtual clock: a fault armed by an XAPI call does nothing before that call
 * and acts after it (GET /sim/state "faults_waiting" counts it until then); a partition of a
 * supporter makes it unreachable and not live for its coordinator (migrations off it fail) until
 * cleared; bad documents name the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "base/err.h"
#include "base/str.h"
#include "simtest.h"

static int add_fault(struct sim *s, const char *json, struct err *e)
{
    json_t *j = json_loads(json, 0, NULL);
    assert_non_null(j);
    int rc = sim_fault_apply(s, j, e);
    json_decref(j);
    return rc;
}

static long long waiting(struct sim *s)
{
    json_t *st = sim_state_json(s);
    long long n = json_integer_value(json_object_get(st, "faults_waiting"));
    json_decref(st);
    return n;
}

static const json_t *host_state(const json_t *st, const char *name)
{
    const json_t *hs = json_object_get(json_array_get(json_object_get(st, "pools"), 0), "hosts");
    for (size_t i = 0; i < json_array_size(hs); i++)
        if (str_eq(json_string_value(json_object_get(json_array_get(hs, i), "name")), name))
            return json_array_get(hs, i);
    return NULL;
}

/* An armed partition of the coordinator starts at the first pool_update.introduce. */
static void test_armed_by(void **state)
{
    (void)state;
    struct err e = {0};
    struct sim *s = st_load("small.json", 1);
    char addr[64];
    const char *sess = st_login(s, 0, addr, sizeof(addr));
    char sc[96];
    str_lcpy(sc, sess, sizeof(sc));
    assert_int_equal(waiting(s), 0);
    assert_int_equal(add_fault(s,
                               "{\"type\":\"partition\",\"pool\":\"small-pool\","
                               "\"armed_by\":\"Async.pool_update.introduce\"}",
                               &e),
                     0);
    assert_int_equal(waiting(s), 1);
    struct xapi_response r = st_call(s, addr, "pool.get_all", sc, NULL);
    assert_true(r.ok); /* not yet */
    xapi_response_cleanup(&r);
    r = st_call(s, addr, "pool_update.introduce", sc, "OpaqueRef:NULL", NULL);
    xapi_response_cleanup(&r); /* the call arms it (whatever its answer) */
    assert_int_equal(waiting(s), 0);
    r = st_call(s, addr, "pool.get_all", sc, NULL);
    assert_string_equal(st_code(&r), "TRANSPORT");
    xapi_response_cleanup(&r);
    assert_int_equal(add_fault(s, "{\"type\":\"clear\"}", &e), 0);
    r = st_call(s, addr, "pool.get_all", sc, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    /* a migration_fails armed by host.enable leaves migrations alone until then */
    assert_int_equal(
        add_fault(s, "{\"type\":\"migration_fails\",\"armed_by\":\"host.enable\"}", &e), 0);
    json_t *st = sim_state_json(s);
    assert_int_equal(json_integer_value(json_object_get(st, "faults")), 1);
    json_decref(st);
    assert_int_equal(waiting(s), 1);
    sim_free(s);
}

/* A supporter partition: not live and unreachable until cleared; a migration off it fails. */
static void test_supporter_partition(void **state)
{
    (void)state;
    struct err e = {0};
    struct sim *s = st_load("small.json", 1);
    char addr[64];
    const char *sess = st_login(s, 0, addr, sizeof(addr));
    char sc[96];
    str_lcpy(sc, sess, sizeof(sc));
    assert_int_equal(add_fault(s, "{\"type\":\"partition\",\"host\":\"small-2\"}", &e), 0);
    json_t *st = sim_state_json(s);
    const json_t *h2 = host_state(st, "small-2");
    assert_true(json_is_false(json_object_get(h2, "live")));
    assert_true(json_is_false(json_object_get(h2, "reachable")));
    assert_true(json_is_true(json_object_get(host_state(st, "small-1"), "live")));
    assert_true(json_is_false(
        json_object_get(json_array_get(json_object_get(st, "pools"), 0), "partitioned")));
    json_decref(st);
    struct xapi_response r =
        st_call(s, sim_host_address(s, 1), "session.login_with_password", "root", "xenroot", NULL);
    assert_string_equal(st_code(&r), "TRANSPORT");
    xapi_response_cleanup(&r);
    /* web-2 runs on small-2: its migration to small-3 fails */
    const char *vm = st_ref_by_name(s, addr, sc, "VM", "web-2", 0);
    const char *dst = st_ref_by_name(s, addr, sc, "host", "small-3", 1);
    struct xapi_value *p = st_params(sc, vm, dst, NULL);
    xapi_array_append_take(p, xapi_value_new_struct());
    r = st_callv(s, addr, "VM.pool_migrate", p);
    assert_false(r.ok);
    xapi_response_cleanup(&r);
    /* cleared: live and reachable again */
    assert_int_equal(add_fault(s, "{\"type\":\"clear\"}", &e), 0);
    st = sim_state_json(s);
    h2 = host_state(st, "small-2");
    assert_true(json_is_true(json_object_get(h2, "live")));
    assert_true(json_is_true(json_object_get(h2, "reachable")));
    json_decref(st);
    /* bad documents name the field */
    assert_int_equal(add_fault(s, "{\"type\":\"partition\",\"host\":\"nope\"}", &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "fault.host"));
    assert_int_equal(add_fault(s, "{\"type\":\"sr_full\",\"armed_by\":7}", &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "fault.armed_by"));
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_armed_by),
        cmocka_unit_test(test_supporter_partition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
