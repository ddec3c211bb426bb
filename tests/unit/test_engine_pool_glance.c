/* SPDX-License-Identifier: MIT */
/*
 * test_engine_pool_glance.c - GET /pools read straight from a pool's records (issue 17: no
 * inventory built on the engine thread): the glance gives what the inventory gives on the same
 * records (display name, master, its version, host count, running guest VMs: templates,
 * snapshots, control domains, halted / paused / suspended VMs not counted; HA; live patching),
 * for a named pool and an unnamed one (its master's name), and a source without a pool record is
 * PP_ENOTFOUND.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonx.h"
#include "engine/engine_int.h"
#include "engine/inventory_xapi.h"
#include "xapi/value.h"

#define VM(ref, name, state, extra)                                                                \
    "\"" ref "\":{\"uuid\":\"u-" ref "\",\"name_label\":\"" name "\",\"power_state\":\"" state     \
    "\",\"resident_on\":\"OpaqueRef:h1\",\"memory_dynamic_max\":\"1073741824\",\"VBDs\":[]" extra  \
    "}"

static const char *recs_fmt =
    "{\"pool\":{\"OpaqueRef:p\":{\"uuid\":\"pu\",\"name_label\":\"%s\",\"master\":"
    "\"OpaqueRef:h2\",\"ha_enabled\":true,\"live_patching_disabled\":true,\"other_config\":{}}},"
    "\"host\":{\"OpaqueRef:h1\":{\"uuid\":\"h1\",\"name_label\":\"zeta\",\"software_version\":"
    "{\"product_version\":\"8.2.0\"},\"enabled\":true,\"memory_total\":\"1099511627776\"},"
    "\"OpaqueRef:h2\":{\"uuid\":\"h2\",\"name_label\":\"alpha-master\",\"software_version\":"
    "{\"product_version\":\"8.2.1\"},\"enabled\":true,\"memory_total\":\"1099511627776\"},"
    "\"OpaqueRef:h3\":{\"uuid\":\"h3\",\"name_label\":\"mid\",\"software_version\":"
    "{\"product_version\":\"8.2.1\"},\"enabled\":true,\"memory_total\":\"1099511627776\"}},"
    "\"vm\":{" VM("OpaqueRef:v1", "web", "Running", "") "," VM("OpaqueRef:v2", "db", "Running", "") "," VM(
        "OpaqueRef:v3", "off", "Halted",
        "") "," VM("OpaqueRef:v4", "paused", "Paused",
                   "") "," VM("OpaqueRef:v5", "susp", "Suspended",
                              "") "," VM("OpaqueRef:t", "tpl", "Running",
                                         ",\"is_a_template\":true") "," VM("OpaqueRef:s", "snap",
                                                                           "Running",
                                                                           ",\"is_a_snapshot\":"
                                                                           "true") "," VM("OpaqueRe"
                                                                                          "f:d",
                                                                                          "Control "
                                                                                          "domain",
                                                                                          "Running",
                                                                                          ",\"is_"
                                                                                          "control_"
                                                                                          "domain\""
                                                                                          ":true") "}}";

static const struct xapi_value *get(void *ctx, const char *cls, const char *ref)
{
    return xapi_struct_get(xapi_struct_get(ctx, cls), ref);
}

static void each(void *ctx, const char *cls,
                 bool (*fn)(void *fctx, const char *ref, const struct xapi_value *rec), void *fctx)
{
    const struct xapi_value *c = xapi_struct_get(ctx, cls);
    size_t i = 0;

    while (c && i < c->u.st.n && fn(fctx, c->u.st.keys[i], c->u.st.vals[i]))
        i++;
}

static struct xapi_value *records(const char *pool_name)
{
    char text[8192];
    json_t *j = NULL;
    struct err e = {0};

    snprintf(text, sizeof text, recs_fmt, pool_name);
    assert_int_equal(jsonx_load(text, strlen(text), 1 << 20, 16, "r", &j, &e), 0);
    struct xapi_value *v = xapi_value_from_json(j);
    json_decref(j);
    return v;
}

/* The glance = the inventory, for a named pool and an unnamed one. */
static void test_glance_equals_inventory(void **state)
{
    (void)state;
    const char *names[] = {"prod", ""};

    for (size_t k = 0; k < 2; k++) {
        struct xapi_value *recs = records(names[k]);
        struct xapi_records src = {.ctx = recs, .get = get, .foreach = each};
        struct eng_pool_glance g;
        struct err e = {0};
        struct inv_pool *inv = inv_from_xapi(&src, &e);
        size_t running = 0;

        assert_non_null(inv);
        assert_int_equal(engine_pool_glance(&src, &g), 0);
        for (size_t i = 0; i < inv->n_vms; i++)
            running += inv->vms[i].power_state == INV_RUNNING;
        assert_string_equal(g.name_label, inv_pool_display_name(inv));
        assert_string_equal(g.master, inv_pool_master(inv)->name_label);
        assert_string_equal(g.version, inv_pool_master(inv)->product_version);
        assert_int_equal(g.hosts, inv->n_hosts);
        assert_int_equal(g.vms_running, running);
        assert_int_equal(g.ha_enabled, inv->ha_enabled);
        assert_int_equal(g.live_patching_disabled, inv->live_patching_disabled);
        /* and the values themselves: not two ways of being wrong alike */
        assert_string_equal(g.name_label, k == 0 ? "prod" : "alpha-master");
        assert_string_equal(g.master, "alpha-master");
        assert_string_equal(g.version, "8.2.1");
        assert_int_equal(g.hosts, 3);
        assert_int_equal(g.vms_running, 2);
        assert_true(g.ha_enabled && g.live_patching_disabled);
        inv_pool_free(inv);
        xapi_value_free(recs);
    }
}

static void test_glance_no_pool(void **state)
{
    (void)state;
    json_t *j = json_pack("{s:{}}", "host");
    struct xapi_value *recs = xapi_value_from_json(j);
    struct xapi_records src = {.ctx = recs, .get = get, .foreach = each};
    struct eng_pool_glance g;

    assert_int_equal(engine_pool_glance(&src, &g), PP_ENOTFOUND);
    assert_false(g.have_pool);
    json_decref(j);
    xapi_value_free(recs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glance_equals_inventory),
        cmocka_unit_test(test_glance_no_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
