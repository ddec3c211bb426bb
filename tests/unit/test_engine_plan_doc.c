/* SPDX-License-Identifier: MIT */
/*
 * test_engine_plan_doc.c - the fleet plan served in parts (issue 17): a document assembled from
 * each pool's text (base/jparts) is byte for byte the text of the one-tree document, read out in
 * any chunk size, with every pool exactly once and in order; and a pool's summary built without
 * its migration lists is the text of its full plan summarised.  Real plans of several pools
 * (plan_build over fixture inventories with VMs to move: migrations, prechecks, names).
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
#include "base/jparts.h"
#include "base/mem.h"
#include "engine/engine_int.h"
#include "plan/plan.h"
#include "test_plan_fixture.h"

#define N_POOLS 5

static struct catalog *catalog3(void)
{
    struct catalog *c = fx_catalog();
    fx_patch(c, "u1", CAT_G_RESTART_HOST, "", "");
    fx_patch(c, "u2", CAT_G_RESTART_XAPI, "u1", "");
    fx_patch(c, "u3", CAT_G_RESTART_HOST, "", "");
    fx_version(c, "8.2.1", "b1", NULL, "u1,u2,u3", "u1,u2,u3");
    return c;
}

/* Pool i: 3 + i hosts with VMs to evacuate, names with characters JSON escapes. */
static struct inv_pool *pool_i(int i)
{
    char name[64], ref[64];
    snprintf(name, sizeof name, "pool \"%d\" \\ é", i);
    struct inv_pool *p = fx_pool(name);
    for (int h = 0; h < 3 + i; h++) {
        snprintf(ref, sizeof ref, "OpaqueRef:p%d-h%d", i, h);
        fx_host(p, ref, 0, "8.2.1", "b1");
    }
    fx_sr(p, "OpaqueRef:nfs", true, NULL, 4096 * GIB, 100 * GIB);
    fx_set(&p->default_sr_ref, "OpaqueRef:nfs");
    for (size_t h = 0; h < p->n_hosts; h++) {
        for (int k = 0; k < 4; k++) {
            char vm[64];
            snprintf(vm, sizeof vm, "OpaqueRef:p%d-vm%zu-%d", i, h, k);
            fx_vm(p, vm, p->hosts[h].ref, (int64_t)(1 + k) * GIB, "OpaqueRef:nfs");
        }
        p->hosts[h].memory_free = p->hosts[h].memory_total - 10 * GIB;
    }
    return p;
}

static json_t *pool_plan(int i, const struct catalog *cat, bool summary)
{
    struct inv_pool *inv = pool_i(i);
    struct plan_opts o;
    struct plan *pl = NULL;
    struct err e = {0};
    char name[32];

    plan_opts_init(&o);
    o.policy = PLAN_POLICY_RETURN;
    assert_int_equal(plan_build(inv, cat, &o, &pl, &e), 0);
    snprintf(name, sizeof name, "pool-%d", i);
    json_t *j = summary ? engine_plan_pool_summary_json(pl, inv, cat, name)
                        : engine_plan_pool_json(pl, inv, cat, name);
    assert_true(pl->totals.migrations > 0);
    plan_free(pl);
    inv_pool_free(inv);
    return j;
}

/* The envelope the engine puts around the pools (engine_plans.c plan_json's keys and order). */
static json_t *envelope(json_t *pools)
{
    return json_pack("{s:s,s:b,s:b,s:i,s:s,s:{s:I,s:f},s:o,s:s,s:b,s:s,s:[s]}", "policy", "return",
                     "automated", 1, "stay_on_release", 0, "max_parallel", 0, "created",
                     "2026-12-06T05:00:00Z", "totals", "migrations", (json_int_t)12, "window_s",
                     1234.5678901, "pools", pools, "file", "x \"pools\":[] y", "manual_post_tasks",
                     0, "detail", "full", "hosts", "h");
}

static char *read_all(struct jparts *p, size_t chunk)
{
    struct buf b;
    char *tmp = xmalloc(chunk);
    size_t n;

    buf_init(&b);
    while ((n = jparts_read(p, tmp, chunk)) > 0)
        buf_append(&b, tmp, n);
    free(tmp);
    return buf_take(&b);
}

/* The parts give the tree's text, whatever the read size; every pool once, in order. */
static void test_parts_equal_tree(void **state)
{
    (void)state;
    struct catalog *cat = catalog3();
    static const size_t chunks[] = {1, 7, 4096, 1 << 20};
    json_t *pools = json_array();
    struct err e = {0};

    for (int i = 0; i < N_POOLS; i++)
        json_array_append_new(pools, pool_plan(i, cat, false));
    json_t *tree = envelope(json_incref(pools));
    char *want = json_dumps(tree, JSON_COMPACT);
    assert_non_null(want);
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        struct jparts *p = jparts_new();
        size_t i;
        json_t *it;
        json_array_foreach(pools, i, it) assert_int_equal(jparts_add(p, it, &e), 0);
        json_t *env = envelope(json_array());
        assert_int_equal(jparts_set_envelope(p, env, "pools", &e), 0);
        assert_int_equal(jparts_count(p), N_POOLS);
        assert_int_equal(jparts_size(p), strlen(want));
        char *got = read_all(p, chunks[c]);
        assert_string_equal(got, want);
        /* parsed back: pool-0 .. pool-4, each once and in order */
        json_t *doc = json_loads(got, 0, NULL);
        assert_non_null(doc);
        json_t *dp = json_object_get(doc, "pools");
        assert_int_equal(json_array_size(dp), N_POOLS);
        json_array_foreach(dp, i, it)
        {
            char name[32];
            snprintf(name, sizeof name, "pool-%zu", i);
            assert_string_equal(json_string_value(json_object_get(it, "name")), name);
        }
        json_decref(doc);
        json_decref(env);
        free(got);
        jparts_free(p);
    }
    free(want);
    json_decref(tree);
    json_decref(pools);
    catalog_free(cat);
}

/* A pool added twice or left out changes the text: the comparison above can fail. */
static void test_parts_missing_or_duplicated(void **state)
{
    (void)state;
    struct catalog *cat = catalog3();
    json_t *a = pool_plan(0, cat, false), *b = pool_plan(1, cat, false);
    json_t *tree = envelope(json_pack("[O,O]", a, b));
    char *want = json_dumps(tree, JSON_COMPACT);
    struct err e = {0};
    json_t *env = envelope(json_array());

    for (int variant = 0; variant < 2; variant++) {
        struct jparts *p = jparts_new();
        jparts_add(p, a, &e);
        jparts_add(p, variant == 0 ? a : b, &e); /* duplicated; then right */
        if (variant == 0)
            jparts_add(p, b, &e);
        assert_int_equal(jparts_set_envelope(p, env, "pools", &e), 0);
        char *got = read_all(p, 4096);
        if (variant == 0)
            assert_string_not_equal(got, want);
        else
            assert_string_equal(got, want);
        free(got);
        jparts_free(p);
    }
    {
        struct jparts *p = jparts_new(); /* b missing */
        jparts_add(p, a, &e);
        assert_int_equal(jparts_set_envelope(p, env, "pools", &e), 0);
        char *got = read_all(p, 4096);
        assert_string_not_equal(got, want);
        free(got);
        jparts_free(p);
    }
    free(want);
    json_decref(env);
    json_decref(tree);
    json_decref(a);
    json_decref(b);
    catalog_free(cat);
}

/* Envelopes the parts cannot split are refused with a reason; no key: the envelope alone. */
static void test_parts_envelope_errors(void **state)
{
    (void)state;
    struct err e = {0};
    struct jparts *p = jparts_new();
    json_t *env = json_pack("{s:[i]}", "pools", 1);

    assert_int_equal(jparts_set_envelope(p, env, "pools", &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "not an empty array"));
    assert_int_equal(jparts_set_envelope(p, env, "missing", &e), PP_EINVAL);
    assert_int_equal(jparts_set_envelope(p, env, NULL, &e), 0);
    char *got = read_all(p, 3);
    assert_string_equal(got, "{\"pools\":[1]}");
    free(got);
    jparts_add(p, env, &e);
    assert_int_equal(jparts_set_envelope(p, env, NULL, &e), PP_EINVAL);
    jparts_free(p);
    json_decref(env);
}

/* The summary built without migration lists is the full plan summarised, text for text. */
static void test_summary_equals_summarised_full(void **state)
{
    (void)state;
    struct catalog *cat = catalog3();

    for (int i = 0; i < N_POOLS; i++) {
        json_t *full = pool_plan(i, cat, false), *sum = pool_plan(i, cat, true);
        engine_plan_json_summarize(full);
        char *want = json_dumps(full, JSON_COMPACT), *got = json_dumps(sum, JSON_COMPACT);
        assert_string_equal(got, want);
        assert_null(strstr(got, "\"migrations\":["));
        assert_non_null(strstr(got, "\"migration_count\":"));
        free(want);
        free(got);
        json_decref(full);
        json_decref(sum);
    }
    catalog_free(cat);
}

/* bench-16's shape with 16 hosts (each about 70% full, VMs of 4-14 GiB, a local SR on some,
 * an affinity, a VM's resident_on in other letter case than its host's ref: the planner's
 * indexes are case-insensitive): what the fleet plan's pools look like. */
static struct inv_pool *pool16(int i)
{
    char name[64], ref[64], vm[64], sr[64];
    snprintf(name, sizeof name, "fleet-%d", i);
    struct inv_pool *p = fx_pool(name);
    for (int h = 0; h < 16; h++) {
        snprintf(ref, sizeof ref, "OpaqueRef:f%d-Host-%02d", i, h);
        fx_host(p, ref, 0, "8.2.1", "b1");
    }
    fx_sr(p, "OpaqueRef:nfs", true, NULL, 4096 * GIB, 100 * GIB);
    fx_set(&p->default_sr_ref, "OpaqueRef:nfs");
    for (int h = 0; h < 16; h++) {
        int64_t used = 0;
        snprintf(sr, sizeof sr, "OpaqueRef:f%d-local-%02d", i, h);
        if (h % 5 == 3)
            fx_sr(p, sr, false, p->hosts[h].ref, 500 * GIB, 10 * GIB);
        for (int k = 0; k < 20; k++) {
            int64_t mem = (int64_t)(4 + (h * 7 + k * 3 + i) % 11) * GIB;
            snprintf(vm, sizeof vm, "OpaqueRef:f%d-vm%02d-%02d", i, h, k);
            size_t v =
                fx_vm(p, vm, p->hosts[h].ref, mem, h % 5 == 3 && k == 0 ? sr : "OpaqueRef:nfs");
            used += mem;
            if (k == 1) /* the same host in other letters */
                for (char *c = p->vms[v].resident_on; *c; c++)
                    *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
            if (k == 2)
                fx_set(&p->vms[v].affinity, p->hosts[(h + 1) % 16].ref);
        }
        p->hosts[h].memory_free = p->hosts[h].memory_total * 3 / 10 - (used - 180 * GIB) / 4;
        if (p->hosts[h].memory_free < GIB)
            p->hosts[h].memory_free = GIB;
    }
    return p;
}

/* FNV-1a of a text. */
static uint64_t fnv64(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The plans' texts are the ones recorded (summary and full, both policies, small pools and
 * bench-16-shaped ones): the planner's and the plan JSON's speed-ups must not change a byte.
 * Recorded on main at f95d5d9 (session 11), before them; a change of what a plan says changes
 * these on purpose, and the new values are then printed here. */
static void test_plan_texts_recorded(void **state)
{
    (void)state;
    static const struct {
        int pool; /* < 0: pool16(-1 - pool), else pool_i(pool) */
        enum plan_policy policy;
        bool summary;
        size_t len;
        uint64_t hash;
    } want[] = {
#include "plan_texts_recorded.h"
    };
    struct catalog *cat = catalog3();
    int bad = 0;

    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        struct inv_pool *inv = want[w].pool < 0 ? pool16(-1 - want[w].pool) : pool_i(want[w].pool);
        struct plan_opts o;
        struct plan *pl = NULL;
        struct err e = {0};

        plan_opts_init(&o);
        o.policy = want[w].policy;
        assert_int_equal(plan_build(inv, cat, &o, &pl, &e), 0);
        assert_true(pl->totals.migrations > 0);
        json_t *j = want[w].summary ? engine_plan_pool_summary_json(pl, inv, cat, "pool")
                                    : engine_plan_pool_json(pl, inv, cat, "pool");
        char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_non_null(text);
        if (strlen(text) != want[w].len || fnv64(text) != want[w].hash) {
            bad++;
            printf("    {%d, %d, %s, %zu, 0x%016llxull},\n", want[w].pool, (int)want[w].policy,
                   want[w].summary ? "true" : "false", strlen(text),
                   (unsigned long long)fnv64(text));
        }
        free(text);
        json_decref(j);
        plan_free(pl);
        inv_pool_free(inv);
    }
    catalog_free(cat);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts_equal_tree),
        cmocka_unit_test(test_parts_missing_or_duplicated),
        cmocka_unit_test(test_parts_envelope_errors),
        cmocka_unit_test(test_summary_equals_summarised_full),
        cmocka_unit_test(test_plan_texts_recorded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
