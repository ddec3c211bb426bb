/* SPDX-License-Identifier: MIT */
/*
 * test_sim_twin.c - the pure parts of the simulator's network features, in-process:
 *  - the rehearsal twin (sim/twin.h): demo.json's pools read with get_all_records, turned into a
 *    scenario, loaded again; the twin's hosts, VMs and SRs carry the original's fields; the
 *    password never reaches the scenario; duplicate names are made unique;
 *  - host certificates (sim/tls.h): a generated certificate names its address (CN and IP SAN),
 *    its fingerprint is the client's (xapi/tls.h), rotation changes it, unknown hosts refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonx.h"
#include "sim/tls.h"
#include "sim/twin.h"
#include "simtest.h"
#include "xapi/tls.h"

/* get_all_records of every twin class from pool i's master. */
static void read_all(struct sim *s, size_t pool, struct xapi_value *recs[SIM_TWIN_NCLASSES])
{
    char addr[64];
    const char *sess = st_login(s, pool, addr, sizeof(addr));
    for (int c = 0; c < SIM_TWIN_NCLASSES; c++) {
        char m[64];
        snprintf(m, sizeof(m), "%s.get_all_records", sim_twin_classes[c]);
        struct xapi_response r = st_call(s, addr, m, sess, NULL);
        assert_true(r.ok);
        recs[c] = r.value;
        r.value = NULL;
        xapi_response_cleanup(&r);
    }
}

static void free_all(struct xapi_value *recs[SIM_TWIN_NCLASSES])
{
    for (int c = 0; c < SIM_TWIN_NCLASSES; c++)
        xapi_value_free(recs[c]);
}

/* The records of cls keyed by name_label, with the fields compared. */
static json_t *by_name(struct xapi_value *all, const char *const *fields)
{
    json_t *out = json_object();
    for (size_t i = 0; i < xapi_struct_len(all); i++) {
        const struct xapi_value *r = all->u.st.vals[i];
        if (xapi_struct_bool(r, "is_control_domain", false))
            continue;
        json_t *o = json_object();
        for (const char *const *f = fields; *f; f++)
            json_object_set_new(o, *f, xapi_value_to_json(xapi_struct_get(r, *f)));
        json_object_set_new(out, xapi_struct_str(r, "name_label", ""), o);
    }
    return out;
}

static void test_twin_round_trip(void **state)
{
    static const char *const vm_fields[] = {"power_state",        "memory_static_max",
                                            "VCPUs_max",          "ha_restart_priority",
                                            "blocked_operations", NULL};
    static const char *const sr_fields[] = {
        "type", "shared", "physical_size", "physical_utilisation", "content_type", NULL};
    (void)state;
    struct sim *s = st_load("demo.json", 1);
    for (size_t p = 0; p < sim_pool_count(s); p++) {
        struct xapi_value *orig[SIM_TWIN_NCLASSES], *twin[SIM_TWIN_NCLASSES];
        read_all(s, p, orig);
        json_t *doc = NULL;
        struct err e = {0};
        assert_int_equal(sim_twin_build((const struct xapi_value *const *)orig, &doc, &e), 0);
        char *text = json_dumps(doc, 0);
        assert_null(strstr(text, "\"users\"")); /* no account of the pool is copied */
        free(text);
        struct sim_options o = {0};
        struct sim *t = NULL;
        if (sim_new_from_json(doc, &o, &t, &e) != 0)
            fail_msg("the twin of pool %zu does not load: %s", p, e.msg);
        read_all(t, 0, twin);
        json_t *a = by_name(orig[SIM_TWIN_VM], vm_fields),
               *b = by_name(twin[SIM_TWIN_VM], vm_fields);
        assert_true(json_equal(a, b));
        json_decref(a);
        json_decref(b);
        a = by_name(orig[SIM_TWIN_SR], sr_fields);
        b = by_name(twin[SIM_TWIN_SR], sr_fields);
        assert_true(json_equal(a, b));
        json_decref(a);
        json_decref(b);
        assert_int_equal(xapi_struct_len(orig[SIM_TWIN_HOST]),
                         xapi_struct_len(twin[SIM_TWIN_HOST]));
        json_decref(doc);
        free_all(orig);
        free_all(twin);
        sim_free(t);
    }
    sim_free(s);
}

/* The guest tools versions travel to the twin (upgrades list the VMs whose tools are old). */
static void test_twin_guest_tools(void **state)
{
    (void)state;
    struct sim *s = st_load("upgrade.json", 1);
    struct xapi_value *orig[SIM_TWIN_NCLASSES];
    read_all(s, 0, orig);
    json_t *doc = NULL;
    struct err e = {0};
    assert_int_equal(sim_twin_build((const struct xapi_value *const *)orig, &doc, &e), 0);
    json_t *vms = json_object_get(json_array_get(json_object_get(doc, "pools"), 0), "vms");
    size_t i, with = 0;
    json_t *v;
    json_array_foreach(vms, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *tools = json_string_value(json_object_get(v, "tools"));
        if (!strcmp(name, "app-1"))
            assert_string_equal(tools, "8.2.1-150");
        if (!strcmp(name, "db-1"))
            assert_string_equal(tools, "7.1.0");
        if (!strcmp(name, "legacy-1"))
            assert_null(tools);
        with += tools != NULL;
    }
    assert_int_equal(with, 5);
    struct sim *t = NULL;
    struct sim_options o = {0};
    if (sim_new_from_json(doc, &o, &t, &e) != 0)
        fail_msg("the twin does not load: %s", e.msg);
    json_decref(doc);
    free_all(orig);
    sim_free(t);
    sim_free(s);
}

static void test_twin_unique_names_and_errors(void **state)
{
    (void)state;
    struct sim *s = st_load("small.json", 1);
    struct xapi_value *recs[SIM_TWIN_NCLASSES];
    read_all(s, 0, recs);
    /* VMs named alike in the pool: the twin keeps them all, as "same", "same-2", ... */
    struct xapi_value *vms = recs[SIM_TWIN_VM];
    for (size_t i = 0; i < xapi_struct_len(vms); i++)
        xapi_struct_set_string(vms->u.st.vals[i], "name_label", "same");
    json_t *doc = NULL;
    struct err e = {0};
    assert_int_equal(sim_twin_build((const struct xapi_value *const *)recs, &doc, &e), 0);
    json_t *jvms = json_object_get(json_array_get(json_object_get(doc, "pools"), 0), "vms");
    assert_true(json_array_size(jvms) >= 2);
    json_t *seen = json_object();
    for (size_t i = 0; i < json_array_size(jvms); i++) {
        const char *n = json_string_value(json_object_get(json_array_get(jvms, i), "name"));
        assert_true(strncmp(n, "same", 4) == 0);
        json_object_set_new(seen, n, json_true());
    }
    assert_int_equal(json_object_size(seen), json_array_size(jvms));
    json_decref(seen);
    json_decref(doc);
    /* No host records: refused with a message. */
    xapi_value_free(recs[SIM_TWIN_HOST]);
    recs[SIM_TWIN_HOST] = xapi_value_new_struct();
    assert_int_equal(sim_twin_build((const struct xapi_value *const *)recs, &doc, &e), PP_EPARSE);
    assert_non_null(strstr(e.msg, "0 host records"));
    free_all(recs);
    sim_free(s);
}

static void test_tls_certificates(void **state)
{
    (void)state;
    struct sim_tls_pem pem = {0};
    struct err e = {0};
    assert_int_equal(sim_tls_pem_generate("127.0.0.42", &pem, &e), 0);
    assert_non_null(strstr(pem.cert, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(pem.key, "PRIVATE KEY"));
    char fp[XAPI_FP_LEN];
    assert_int_equal(sim_tls_pem_fingerprint(pem.cert, fp, sizeof(fp), &e), 0);
    /* The client's own reading of the same certificate gives the same fingerprint. */
    char path[] = "/tmp/pp-simtls-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(pem.cert, f);
    fclose(f);
    char fp2[XAPI_FP_LEN];
    assert_int_equal(xapi_tls_fp_of_pem_file(path, fp2, &e), 0);
    remove(path);
    assert_string_equal(fp, fp2);
    assert_int_equal(sim_tls_pem_fingerprint("not a certificate", fp2, sizeof(fp2), &e), PP_EPARSE);

    const char *addrs[2] = {"127.0.0.42", "127.0.0.43"};
    struct sim_tls *t = NULL;
    assert_int_equal(sim_tls_new(addrs, 2, NULL, &t, &e), 0);
    json_t *j = sim_tls_json(t);
    const char *f42 = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "hosts"), 0), "fingerprint"));
    const char *f43 = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "hosts"), 1), "fingerprint"));
    assert_string_not_equal(f42, f43);
    /* Rotation with a given certificate: the host then presents exactly that one. */
    assert_int_equal(sim_tls_rotate(t, "127.0.0.42", &pem, &e), 0);
    json_t *j2 = sim_tls_json(t);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j2, "hosts"), 0), "fingerprint")),
                        fp);
    assert_int_equal(sim_tls_rotate(t, "127.0.0.99", NULL, &e), PP_ENOTFOUND);
    void *pc, *pk;
    assert_int_equal(sim_tls_lookup(t, "127.0.0.43", &pc, &pk), 0);
    assert_int_equal(sim_tls_lookup(t, "127.0.0.99", &pc, &pk), PP_ENOTFOUND);
    json_decref(j);
    json_decref(j2);
    sim_tls_free(t);
    sim_tls_pem_cleanup(&pem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_twin_round_trip),
        cmocka_unit_test(test_twin_guest_tools),
        cmocka_unit_test(test_twin_unique_names_and_errors),
        cmocka_unit_test(test_tls_certificates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
