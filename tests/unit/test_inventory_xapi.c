/* SPDX-License-Identifier: MIT */
/*
 * test_inventory_xapi.c - XAPI records -> planner inventory: the field names xapi uses, the
 * int64-as-string quirk of XML-RPC, templates / snapshots / dom0 left out, CD and disk SRs,
 * blocked operations, PCI, HA, dismissal keys, free memory computed from resident VMs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonx.h"
#include "engine/inventory_xapi.h"
#include "xapi/value.h"

/* The records: {class: {ref: record}} decoded as JSON-RPC would. */
static const char *records_json =
    "{\"pool\":{\"OpaqueRef:p\":{\"uuid\":\"pu\",\"name_label\":\"prod\",\"master\":\"OpaqueRef:"
    "h1\","
    "  \"default_SR\":\"OpaqueRef:nfs\",\"ha_enabled\":true,\"live_patching_disabled\":true,"
    "  "
    "\"other_config\":{\"XenCenter.IgnorePatches\":\"a,b\",\"hci-forbid-update-auto-restart\":"
    "\"1\"}}},"
    " \"host\":{"
    "  "
    "\"OpaqueRef:h1\":{\"uuid\":\"u1\",\"name_label\":\"h1\",\"address\":\"10.0.0.1\",\"enabled\":"
    "true,"
    "   \"metrics\":\"OpaqueRef:m1\",\"memory_overhead\":\"1000\","
    "   "
    "\"software_version\":{\"product_version\":\"8.2.1\",\"build_number\":\"b58\",\"platform_"
    "version\":\"3.2.1\"},"
    "   \"updates\":[\"OpaqueRef:u1\"],\"updates_requiring_reboot\":[\"OpaqueRef:u1\"],"
    "   \"pending_guidances\":[\"restart_toolstack\"],"
    "   \"other_config\":{\"boot_time\":\"1700000000.0\",\"agent_start_time\":\"1700000100\"}},"
    "  "
    "\"OpaqueRef:h2\":{\"uuid\":\"u2\",\"name_label\":\"h2\",\"address\":\"10.0.0.2\",\"enabled\":"
    "false,"
    "   \"metrics\":\"OpaqueRef:m2\",\"memory_overhead\":0,\"software_version\":{},\"updates\":[],"
    "   \"other_config\":{}}},"
    " \"host_metrics\":{\"OpaqueRef:m1\":{\"live\":true,\"memory_total\":\"100000\"},"
    "                  \"OpaqueRef:m2\":{\"live\":false,\"memory_total\":50000}},"
    " \"pool_update\":{\"OpaqueRef:u1\":{\"uuid\":\"ABCDEF00-0000-4000-8000-000000000001\"}},"
    " \"vm\":{"
    "  \"OpaqueRef:v1\":{\"uuid\":\"vu1\",\"name_label\":\"db\",\"power_state\":\"Running\","
    "   "
    "\"resident_on\":\"OpaqueRef:h1\",\"affinity\":\"OpaqueRef:NULL\",\"memory_dynamic_max\":"
    "\"30000\",\"memory_overhead\":\"500\","
    "   "
    "\"memory_static_max\":\"40000\",\"VBDs\":[\"OpaqueRef:b1\",\"OpaqueRef:b2\",\"OpaqueRef:b3\"],"
    "   \"blocked_operations\":{\"suspend\":\"no\"},\"ha_restart_priority\":\"restart\","
    "   \"attached_PCIs\":[],\"VGPUs\":[],\"other_config\":{\"auto_poweron\":\"true\"},"
    "   \"is_a_template\":false,\"is_a_snapshot\":false,\"is_control_domain\":false},"
    "  \"OpaqueRef:v2\":{\"uuid\":\"vu2\",\"name_label\":\"gpu\",\"power_state\":\"Halted\","
    "   \"resident_on\":\"OpaqueRef:NULL\",\"affinity\":\"OpaqueRef:h2\",\"memory_dynamic_max\":0,"
    "   \"memory_static_max\":8000,\"VBDs\":[],\"attached_PCIs\":[\"OpaqueRef:pci\"],"
    "   "
    "\"blocked_operations\":{\"pool_migrate\":\"x\"},\"is_a_template\":false,\"is_a_snapshot\":"
    "false,"
    "   \"is_control_domain\":false},"
    "  \"OpaqueRef:t\":{\"name_label\":\"tmpl\",\"is_a_template\":true,\"power_state\":\"Halted\"},"
    "  "
    "\"OpaqueRef:d0\":{\"name_label\":\"dom0\",\"is_control_domain\":true,\"power_state\":"
    "\"Running\","
    "   \"resident_on\":\"OpaqueRef:h1\",\"memory_dynamic_max\":5000}},"
    " \"vbd\":{\"OpaqueRef:b1\":{\"type\":\"Disk\",\"empty\":false,\"VDI\":\"OpaqueRef:d1\"},"
    "         \"OpaqueRef:b2\":{\"type\":\"CD\",\"empty\":false,\"VDI\":\"OpaqueRef:iso1\"},"
    "         \"OpaqueRef:b3\":{\"type\":\"Disk\",\"empty\":false,\"VDI\":\"OpaqueRef:d2\"}},"
    " \"vdi\":{\"OpaqueRef:d1\":{\"SR\":\"OpaqueRef:nfs\"},\"OpaqueRef:d2\":{\"SR\":\"OpaqueRef:"
    "nfs\"},"
    "         \"OpaqueRef:iso1\":{\"SR\":\"OpaqueRef:iso\"}},"
    " \"sr\":{\"OpaqueRef:nfs\":{\"uuid\":\"s1\",\"name_label\":\"nfs\",\"type\":\"nfs\",\"content_"
    "type\":\"user\","
    "   \"shared\":true,\"physical_size\":\"1000\",\"physical_utilisation\":\"10\","
    "   "
    "\"allowed_operations\":[\"vdi_create\",\"scan\"],\"PBDs\":[\"OpaqueRef:pb1\",\"OpaqueRef:"
    "pb2\"]},"
    "  "
    "\"OpaqueRef:iso\":{\"uuid\":\"s2\",\"name_label\":\"iso\",\"type\":\"iso\",\"content_type\":"
    "\"iso\","
    "   \"shared\":false,\"allowed_operations\":[],\"PBDs\":[\"OpaqueRef:pb3\"]}},"
    " \"pbd\":{\"OpaqueRef:pb1\":{\"host\":\"OpaqueRef:h1\",\"SR\":\"OpaqueRef:nfs\",\"currently_"
    "attached\":true},"
    "         "
    "\"OpaqueRef:pb2\":{\"host\":\"OpaqueRef:h2\",\"SR\":\"OpaqueRef:nfs\",\"currently_attached\":"
    "false},"
    "         "
    "\"OpaqueRef:pb3\":{\"host\":\"OpaqueRef:h1\",\"SR\":\"OpaqueRef:iso\",\"currently_attached\":"
    "true}}}";

static const struct xapi_value *tbl_get(void *ctx, const char *cls, const char *ref)
{
    return xapi_struct_get(xapi_struct_get(ctx, cls), ref);
}

static void tbl_foreach(void *ctx, const char *cls,
                        bool (*fn)(void *fctx, const char *ref, const struct xapi_value *rec),
                        void *fctx)
{
    const struct xapi_value *c = xapi_struct_get(ctx, cls);
    for (size_t i = 0; c && i < c->u.st.n; i++)
        if (!fn(fctx, c->u.st.keys[i], c->u.st.vals[i]))
            return;
}

static struct xapi_value *load(void)
{
    json_t *j = NULL;
    struct err e = {0};
    struct xapi_value *v;

    assert_int_equal(jsonx_load(records_json, strlen(records_json), 1 << 20, 16, "r", &j, &e), 0);
    v = xapi_value_from_json(j);
    json_decref(j);
    return v;
}

static void test_conversion(void **state)
{
    struct xapi_value *recs = load();
    struct xapi_records src = {.ctx = recs, .get = tbl_get, .foreach = tbl_foreach};
    struct err e = {0};
    struct inv_pool *p = inv_from_xapi(&src, &e);
    (void)state;

    assert_non_null(p);
    assert_string_equal(p->name_label, "prod");
    assert_string_equal(p->master_ref, "OpaqueRef:h1");
    assert_string_equal(p->default_sr_ref, "OpaqueRef:nfs");
    assert_true(p->ha_enabled);
    assert_string_equal(p->ignore_patches, "a,b");
    assert_string_equal(p->last_seen_versions, "");
    assert_true(p->forbid_auto_restart);
    assert_true(p->live_patching_disabled); /* pool.live_patching_disabled */

    assert_int_equal(p->n_hosts, 2);
    const struct inv_host *h1 = inv_pool_host(p, "OpaqueRef:h1");
    const struct inv_host *h2 = inv_pool_host(p, "OpaqueRef:h2");
    assert_non_null(h1);
    assert_true(h1->live && h1->enabled);
    assert_false(h2->live || h2->enabled);
    assert_string_equal(h1->product_version, "8.2.1");
    assert_string_equal(h1->build_number, "b58");
    assert_int_equal(h1->memory_total, 100000); /* an int64 sent as a string */
    assert_int_equal(h1->n_updates, 1);
    assert_string_equal(h1->updates[0], "abcdef00-0000-4000-8000-000000000001");
    assert_true(inv_host_has_update(h1, "ABCDEF00-0000-4000-8000-000000000001"));
    assert_int_equal(h1->n_updates_requiring_reboot, 1);
    assert_int_equal(h1->boot_time, 1700000000);
    assert_int_equal(h1->agent_start_time, 1700000100);
    assert_true(h1->pending_guidance != 0);
    /* free = total - host overhead - dom0 - running VMs with their overhead */
    assert_int_equal(h1->memory_free, 100000 - 1000 - 5000 - (30000 + 500));
    assert_int_equal(h1->memory_overhead, 1000 + 5000);
    assert_int_equal(h2->memory_free, 50000);

    assert_int_equal(p->n_vms, 2); /* template and control domain left out */
    const struct inv_vm *db = inv_pool_vm(p, "OpaqueRef:v1");
    const struct inv_vm *gpu = inv_pool_vm(p, "OpaqueRef:v2");
    assert_non_null(db);
    assert_int_equal(db->power_state, INV_RUNNING);
    assert_string_equal(db->resident_on, "OpaqueRef:h1");
    assert_string_equal(db->affinity, "");
    assert_int_equal(db->memory, 30500); /* dynamic_max + the VM's overhead */
    assert_int_equal(db->n_disk_srs, 1); /* two disks on one SR */
    assert_string_equal(db->disk_srs[0], "OpaqueRef:nfs");
    assert_string_equal(db->cd_sr, "OpaqueRef:iso");
    assert_true(db->suspend_blocked);
    assert_false(db->migrate_blocked);
    assert_true(db->ha_protected);
    assert_true(db->auto_poweron);
    assert_false(db->has_pci);
    assert_int_equal(gpu->power_state, INV_HALTED);
    assert_string_equal(gpu->resident_on, "");
    assert_string_equal(gpu->affinity, "OpaqueRef:h2");
    assert_int_equal(gpu->memory, 8000); /* static_max when dynamic_max is 0 */
    assert_true(gpu->has_pci);
    assert_true(gpu->migrate_blocked);

    assert_int_equal(p->n_srs, 2);
    const struct inv_sr *nfs = inv_pool_sr(p, "OpaqueRef:nfs");
    const struct inv_sr *iso = inv_pool_sr(p, "OpaqueRef:iso");
    assert_true(nfs->shared && nfs->allows_vdi_create);
    assert_false(iso->allows_vdi_create);
    assert_string_equal(iso->content_type, "iso");
    assert_true(inv_sr_attached_on(nfs, "OpaqueRef:h1"));
    assert_false(inv_sr_attached_on(nfs, "OpaqueRef:h2"));
    assert_int_equal(nfs->physical_size, 1000);

    inv_pool_free(p);
    xapi_value_free(recs);
}

static void test_no_pool_record(void **state)
{
    struct xapi_value *empty = xapi_value_new_struct();
    struct xapi_records src = {.ctx = empty, .get = tbl_get, .foreach = tbl_foreach};
    struct err e = {0};
    (void)state;

    assert_null(inv_from_xapi(&src, &e));
    assert_int_equal(e.code, PP_ENOTFOUND);
    assert_non_null(strstr(e.msg, "no pool record"));
    xapi_value_free(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversion),
        cmocka_unit_test(test_no_pool_record),
    };
    return cmocka_run_group_tests_name("inventory_xapi", tests, NULL, NULL);
}
