/* SPDX-License-Identifier: MIT */
/*
 * test_engine_pub.c - what the engine thread publishes of its pools (engine_pub.c, issue 17):
 *
 *  - a pool's shared inventory is the one a fresh copy of the cache gives, through random
 *    seeded changes of the pool (VMs shut down and started, hosts disabled and enabled, names
 *    changed, other_config keys added): the plan built from it is text for text the plan built
 *    from a new inventory, it is made again exactly when the cache's records changed, and one a
 *    snapshot still holds stays readable after it was replaced (a client on the simulator's
 *    in-process transport, virtual clock: deterministic);
 *  - GET /pools never waits for the engine thread: with the engine thread held inside a request,
 *    engine_pools answers at once with the pool's fields (the old route, a request to that
 *    thread, timed out); and it follows the engine: the fields change with the pool, a removed
 *    pool is gone from the list as soon as the removal is answered (the real engine against the
 *    simulator over HTTP in this process, scenarios/small.json on 127.0.43.x).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/jparts.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/str.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "plan/plan.h"
#include "sim/sim.h"
#include "sim/sim_http.h"
#include "test_plan_fixture.h"
#include "xapi/client.h"
#include "xapi/codec.h"
#include "xapi_testutil.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

/* ------------------------------------------------------------------ shared inventories */

struct ienv {
    struct sim *s;
    struct xapi_inproc_handler h;
    struct xapi_loop *loop;
    struct xapi_client *c;
    char master[64];
};

static int idle(void *ctx, int64_t next_ms)
{
    struct ienv *v = ctx;
    int64_t d = sim_next_deadline(v->s), t = next_ms;
    if (d >= 0 && d < t)
        t = d;
    if (t == INT64_MAX)
        return -1;
    if (t < clock_now_ms(sim_clock(v->s)))
        t = clock_now_ms(sim_clock(v->s));
    sim_run_until(v->s, t);
    return 0;
}

static struct ienv *ienv_new(uint64_t seed)
{
    struct ienv *v = xcalloc(1, sizeof(*v));
    struct sim_options so = {.seed_set = true, .seed = seed};
    struct err e = {0};
    if (sim_new_from_file(PP_SOURCE_ROOT "/scenarios/small.json", &so, &v->s, &e) != 0)
        fail_msg("small.json: %s", e.msg);
    sim_inproc_handler(v->s, &v->h);
    sim_pool_master_address(v->s, 0, v->master, sizeof(v->master));
    v->loop = xapi_loop_new(sim_clock(v->s), &e);
    assert_non_null(v->loop);
    xapi_loop_set_idle(v->loop, idle, v);
    const char *addrs[1] = {v->master};
    struct xapi_client_opts o;
    xt_opts(&o, addrs, "xenroot", 60000, NULL, NULL);
    o.inproc = &v->h;
    o.rng_seed = 3;
    v->c = xapi_client_new(v->loop, &o, &e);
    assert_non_null(v->c);
    for (const char *const *cls = engine_cache_classes; *cls; cls++)
        if (engine_cache_fields(*cls))
            assert_int_equal(xapi_cache_set_fields(v->c, *cls, engine_cache_fields(*cls), &e), 0);
    assert_int_equal(xapi_cache_start(v->c, engine_cache_classes, &e), 0);
    for (int i = 0; i < 100000 && !xapi_cache_ready(v->c); i++)
        xapi_loop_run(v->loop, 0);
    assert_true(xapi_cache_ready(v->c));
    return v;
}

static void ienv_free(struct ienv *v)
{
    xapi_client_free(v->c);
    xapi_loop_free(v->loop);
    sim_free(v->s);
    free(v);
}

struct call {
    bool done;
    int rc;
};

static void call_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct call *k = ctx;
    (void)res;
    (void)e;
    k->rc = rc;
    k->done = true;
}

/* Call method(params) and run the loop until it is answered and, when the call succeeded, the
 * cache saw a change or 10 minutes of the virtual clock went by: a call that changes nothing
 * (host.enable of an enabled host) has no event to wait for, and a change's event comes at once
 * (the same loop turn); the bound was 100,000 loop turns, 17 days of virtual time, most of this
 * test's seconds.  Returns the call's rc. */
static int call(struct ienv *v, const char *method, struct xapi_value *params)
{
    struct call k = {0};
    struct err e = {0};
    uint64_t before = xapi_cache_changes(v->c, engine_cache_classes);
    assert_int_equal(xapi_call_async(v->c, method, params, NULL, call_done, &k, NULL, &e), 0);
    for (int i = 0; i < 100000 && !k.done; i++)
        xapi_loop_run(v->loop, 0);
    assert_true(k.done);
    int64_t until = clock_now_ms(sim_clock(v->s)) + 10 * 60 * 1000;
    for (int i = 0; k.rc == 0 && i < 100000 && clock_now_ms(sim_clock(v->s)) < until &&
                    xapi_cache_changes(v->c, engine_cache_classes) == before;
         i++)
        xapi_loop_run(v->loop, 0);
    return k.rc;
}

struct pick {
    const char *cls;
    size_t want, seen;
    char ref[128];
};

static bool pick_fn(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct pick *k = ctx;
    if (xapi_struct_bool(rec, "is_control_domain", false) ||
        xapi_struct_bool(rec, "is_a_template", false))
        return true;
    if (k->seen++ == k->want) {
        str_lcpy(k->ref, ref, sizeof(k->ref));
        return false;
    }
    return true;
}

/* The ref of a random object of class cls (guest VMs only), "" when it has none. */
static void random_ref(struct ienv *v, struct rng *r, const char *cls, char *out, size_t n)
{
    struct pick k = {.cls = cls};
    xapi_cache_foreach(v->c, cls, pick_fn, &k); /* count */
    size_t count = k.seen;
    out[0] = '\0';
    if (!count)
        return;
    k = (struct pick){.cls = cls, .want = (size_t)(rng_next(r) % count)};
    xapi_cache_foreach(v->c, cls, pick_fn, &k);
    str_lcpy(out, k.ref, n);
}

/* One random change of the pool (a call the pool may refuse: then nothing changed). */
static void random_change(struct ienv *v, struct rng *r, int step)
{
    char vm[128], host[128], pool[128], name[64];
    random_ref(v, r, "vm", vm, sizeof vm);
    random_ref(v, r, "host", host, sizeof host);
    random_ref(v, r, "pool", pool, sizeof pool);
    snprintf(name, sizeof name, "renamed-%d", step);
    switch (rng_next(r) % 6) {
    case 0:
        call(v, "VM.hard_shutdown", xt_strs(vm, NULL));
        break;
    case 1: {
        struct xapi_value *p = xt_strs(vm, host);
        xapi_array_append_take(p, xapi_value_new_bool(false));
        xapi_array_append_take(p, xapi_value_new_bool(false));
        call(v, "VM.start_on", p);
        break;
    }
    case 2:
        call(v, "host.disable", xt_strs(host, NULL));
        break;
    case 3:
        call(v, "host.enable", xt_strs(host, NULL));
        break;
    case 4:
        call(v, "VM.set_name_label", xt_strs(vm, name));
        break;
    default: {
        struct xapi_value *p = xt_strs(pool, "XenCenter.IgnorePatches");
        xapi_array_append_string(p, name);
        call(v, "pool.add_to_other_config", p);
        break;
    }
    }
}

static struct catalog *catalog_821(void)
{
    struct catalog *c = fx_catalog();
    fx_patch(c, "u1", CAT_G_RESTART_HOST, "", "");
    fx_patch(c, "u2", CAT_G_RESTART_XAPI, "", "");
    fx_version(c, "8.2.1", "release/yangtze/master/58", NULL, "u1,u2", "u1,u2");
    return c;
}

/* The pool plan's text (return policy: every VM moves twice) from inv. */
static char *plan_text(const struct inv_pool *inv, const struct catalog *cat)
{
    struct plan_opts o;
    struct plan *pl = NULL;
    struct err e = {0};
    plan_opts_init(&o);
    o.policy = PLAN_POLICY_RETURN;
    assert_int_equal(plan_build(inv, cat, &o, &pl, &e), 0);
    json_t *j = engine_plan_pool_json(pl, inv, cat, "p");
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    plan_free(pl);
    return s;
}

static void test_inv_shared_equals_fresh(void **state)
{
    (void)state;
    struct catalog *cat = catalog_821();
    for (uint64_t seed = 1; seed <= 4; seed++) {
        struct ienv *v = ienv_new(seed);
        struct eng_pool p = {.name = "p", .client = v->c, .state = XAPI_CONN_READY};
        struct rng r;
        struct err e = {0};
        rng_seed(&r, seed);
        struct eng_inv *first = engine_pool_inv_get(NULL, &p, &e);
        assert_non_null(first);
        char *first_text = plan_text(engine_inv_pool(first), cat);
        struct eng_inv *prev = engine_pool_inv_get(NULL, &p, &e);
        assert_ptr_equal(prev, first); /* nothing changed: the same one, no copy */
        for (int step = 0; step < 12; step++) {
            uint64_t before = xapi_cache_changes(v->c, engine_cache_classes);
            random_change(v, &r, step);
            bool changed = xapi_cache_changes(v->c, engine_cache_classes) != before;
            struct eng_inv *now = engine_pool_inv_get(NULL, &p, &e);
            struct inv_pool *fresh = engine_pool_inventory(NULL, &p, &e);
            assert_non_null(now);
            assert_non_null(fresh);
            if (changed)
                assert_ptr_not_equal(now, prev);
            else
                assert_ptr_equal(now, prev);
            char *a = plan_text(engine_inv_pool(now), cat), *b = plan_text(fresh, cat);
            assert_string_equal(a, b);
            free(a);
            free(b);
            inv_pool_free(fresh);
            engine_inv_release(prev);
            prev = now;
        }
        /* the first one, held all along, is still what it was */
        char *again = plan_text(engine_inv_pool(first), cat);
        assert_string_equal(again, first_text);
        free(again);
        free(first_text);
        engine_inv_release(first);
        engine_inv_release(prev);
        engine_pool_pub_drop(&p);
        ienv_free(v);
    }
    catalog_free(cat);
}

/* ------------------------------------------------------------------ GET /pools */

struct eenv {
    struct sim *s;
    struct sim_server *srv;
    struct engine *eng;
    char dir[64], db[128];
};

static json_t *suffixed(const json_t *str, int i)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s-%d", json_string_value(str), i);
    return json_string(buf);
}

/* scenarios/small.json with its pool repeated n times (names suffixed). */
static json_t *small_fleet(int n)
{
    json_t *doc = json_load_file(PP_SOURCE_ROOT "/scenarios/small.json", 0, NULL), *v;
    assert_non_null(doc);
    json_t *p0 = json_incref(json_array_get(json_object_get(doc, "pools"), 0)),
           *pools = json_array();
    for (int i = 0; i < n; i++) {
        json_t *p = json_deep_copy(p0), *d;
        size_t k, j;
        if (i) /* the first keeps its name-label */
            json_object_set_new(p, "name", suffixed(json_object_get(p, "name"), i));
        json_array_foreach(json_object_get(p, "hosts"), k, v)
            json_object_set_new(v, "name", suffixed(json_object_get(v, "name"), i));
        json_array_foreach(json_object_get(p, "vms"), k, v)
        {
            json_object_set_new(v, "name", suffixed(json_object_get(v, "name"), i));
            json_object_set_new(v, "host", suffixed(json_object_get(v, "host"), i));
            json_array_foreach(json_object_get(v, "disks"), j, d)
                json_object_set_new(d, "sr", suffixed(json_object_get(d, "sr"), i));
        }
        json_array_foreach(json_object_get(p, "srs"), k, v)
        {
            json_object_set_new(v, "name", suffixed(json_object_get(v, "name"), i));
            if (json_object_get(v, "host"))
                json_object_set_new(v, "host", suffixed(json_object_get(v, "host"), i));
        }
        json_object_set_new(p, "default_sr", suffixed(json_object_get(p, "default_sr"), i));
        json_array_foreach(json_object_get(p, "updates"), k, v)
        {
            json_t *on = json_object_get(v, "applied_on");
            json_array_foreach(on, j, d) json_array_set_new(on, j, suffixed(d, i));
        }
        json_array_append_new(pools, p);
    }
    json_decref(p0);
    json_object_set_new(doc, "pools", pools);
    return doc;
}

/* small.json's 3-host pool repeated n times */
static const char catalog_xml[] =
    "<?xml version=\"1.0\"?>\n<patchdata><patches>\n"
    "<patch uuid=\"c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03\" name-label=\"XS82ECU1003\" "
    "name-description=\"Kernel fixes\" version=\"1.0\" timestamp=\"2026-07-21T00:00:00Z\" "
    "after-apply-guidance=\"restartHost\" priority=\"1\"/>\n"
    "</patches><serverversions>\n"
    "<version value=\"8.2.1\" name=\"Citrix Hypervisor 8.2 CU1\" "
    "build-number=\"release/yangtze/master/58\" timestamp=\"2022-01-20T00:00:00Z\" "
    "latest=\"true\"><patch uuid=\"c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03\"/><minimalpatches>"
    "<patch uuid=\"c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03\"/></minimalpatches></version>\n"
    "</serverversions></patchdata>\n";

static struct eenv *eenv_new_n(int n)
{
    struct eenv *v = xcalloc(1, sizeof(*v));
    struct sim_options so = {
        .seed_set = true, .seed = 5, .time_scale = 600, .base_address = "127.0.43.10"};
    struct err e = {0};
    char xml[160], url[200];
    str_lcpy(v->dir, "/tmp/pp-engine-pub.XXXXXX", sizeof(v->dir));
    assert_non_null(mkdtemp(v->dir));
    snprintf(v->db, sizeof(v->db), "%s/pp.db", v->dir);
    snprintf(xml, sizeof xml, "%s/updates.xml", v->dir);
    FILE *f = fopen(xml, "w");
    assert_non_null(f);
    fputs(catalog_xml, f);
    fclose(f);
    snprintf(url, sizeof url, "file://%s", xml);
    json_t *doc = small_fleet(n);
    if (sim_new_from_json(doc, &so, &v->s, &e) != 0)
        fail_msg("small fleet: %s", e.msg);
    json_decref(doc);
    if (sim_server_start(v->s, 0, &v->srv, &e) != 0)
        fail_msg("sim_server_start: %s", e.msg);
    /* a short request timeout: a read that went through the engine thread would fail fast */
    struct engine_config cfg = {
        .db_path = v->db, .catalog_url = url, .check_interval_s = 0, .request_timeout_ms = 300};
    json_t *out = NULL;
    if (engine_new(&cfg, &v->eng, &e) != 0 || engine_start(v->eng, &e) != 0 ||
        engine_updates_check(v->eng, &out, &e) != 0)
        fail_msg("engine: %s", e.msg);
    json_decref(out);
    for (int i = 0; i < n; i++) {
        char a[64], purl[128], name[32];
        sim_pool_master_address(v->s, (size_t)i, a, sizeof(a));
        snprintf(purl, sizeof(purl), "http://%s:%u/", a, (unsigned)sim_server_port(v->srv));
        snprintf(name, sizeof name, i ? "small-%d" : "small", i);
        struct engine_pool_spec ps = {
            .name = name, .url = purl, .username = "root", .password = "xenroot"};
        if (engine_pool_add(v->eng, &ps, &out, &e) != 0)
            fail_msg("pool add %s: %s", name, e.msg);
        json_decref(out);
    }
    return v;
}

static void eenv_free(struct eenv *v)
{
    char p[200];
    engine_free(v->eng);
    sim_server_stop(v->srv);
    sim_free(v->s);
    const char *files[] = {"pp.db", "pp.db-wal", "pp.db-shm", "known_hosts"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", v->dir, files[i]);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/updates.xml", v->dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/downloads", v->dir);
    rmdir(p);
    rmdir(v->dir);
    free(v);
}

/* method(session, the ref of VM vm_name) straight through the simulator, as another client of
 * the pool would call it. */
static void sim_rpc(struct eenv *v, const char *method, const char *vm_name)
{
    char master[64];
    struct xapi_response resp = {0};
    struct err e = {0};
    struct xapi_value *login = xt_strs("root", "xenroot");
    sim_pool_master_address(v->s, 0, master, sizeof master);
    assert_int_equal(sim_call(v->s, master, "session.login_with_password", login, &resp, &e), 0);
    xapi_value_free(login);
    assert_true(resp.ok);
    char *session = xstrdup(xapi_value_str(resp.value));
    xapi_response_cleanup(&resp);
    struct xapi_value *p = xt_strs(session, vm_name);
    assert_int_equal(sim_call(v->s, master, "VM.get_by_name_label", p, &resp, &e), 0);
    xapi_value_free(p);
    assert_true(resp.ok && xapi_array_len(resp.value) == 1);
    p = xt_strs(session, xapi_value_str(xapi_array_get(resp.value, 0)));
    xapi_response_cleanup(&resp);
    assert_int_equal(sim_call(v->s, master, method, p, &resp, &e), 0);
    assert_true(resp.ok);
    xapi_response_cleanup(&resp);
    xapi_value_free(p);
    free(session);
}

/* The pool object named name in GET /pools (a new reference), or NULL. */
static json_t *pools_get(struct engine *eng, const char *name, int *rc)
{
    json_t *out = NULL, *p, *hit = NULL;
    struct err e = {0};
    size_t i;
    *rc = engine_pools(eng, &out, &e);
    json_array_foreach(json_object_get(out, "pools"), i,
                       p) if (str_eq(json_string_value(json_object_get(p, "name")), name)) hit =
        json_incref(p);
    json_decref(out);
    return hit;
}

static void nap(void)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Wait until GET /pools shows pool name with the integer field at want. */
static void wait_field(struct engine *eng, const char *name, const char *field, json_int_t want)
{
    for (int i = 0; i < 1500; i++) {
        int rc;
        json_t *p = pools_get(eng, name, &rc);
        bool ok =
            p && json_integer_value(json_object_get(p, field)) == want && json_object_get(p, field);
        json_decref(p);
        if (ok)
            return;
        nap();
    }
    fail_msg("pool %s: %s never became %lld", name, field, (long long)want);
}

static void test_pools_never_wait(void **state)
{
    (void)state;
    struct eenv *v = eenv_new_n(1);
    struct err e = {0};
    int rc;
    /* registered: listed as soon as the add is answered */
    json_t *p = pools_get(v->eng, "small", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(p);
    json_decref(p);
    wait_field(v->eng, "small", "hosts", 3);

    /* the engine thread held: GET /pools answers anyway, with the pool's fields */
    struct engine_hold *h = engine_hold(v->eng);
    assert_non_null(h);
    for (int i = 0; i < 3; i++) {
        p = pools_get(v->eng, "small", &rc);
        assert_int_equal(rc, 0);
        assert_non_null(p);
        assert_true(json_is_true(json_object_get(p, "connected")));
        assert_string_equal(json_string_value(json_object_get(p, "name_label")), "small-pool");
        assert_int_equal(json_integer_value(json_object_get(p, "hosts")), 3);
        assert_int_equal(json_integer_value(json_object_get(p, "vms_running")), 4);
        json_decref(p);
    }
    /* a request to the engine thread does wait (and times out): the hold is real */
    assert_int_equal(engine_rollout_retry(v->eng, "none", &e), PP_ETIMEOUT);
    engine_hold_release(h);

    /* it follows the pool: a VM shut down on the pool (straight through the simulator) is one
     * running VM less */
    sim_rpc(v, "VM.hard_shutdown", "web-2-0");
    wait_field(v->eng, "small", "vms_running", 3);

    /* removed: gone from the list as soon as the removal is answered */
    assert_int_equal(engine_pool_remove(v->eng, "small", &e), 0);
    p = pools_get(v->eng, "small", &rc);
    assert_int_equal(rc, 0);
    assert_null(p);
    eenv_free(v);
}

/* The plan's text without its "created" time (two plans a second apart differ there alone). */
static char *plan_doc(struct engine *eng, enum engine_plan_detail d, const char *const *hosts,
                      size_t n_hosts, int *rc)
{
    struct engine_plan_req req = {.automated = true,
                                  .policy = ENGINE_POLICY_RETURN,
                                  .detail = d,
                                  .hosts = hosts,
                                  .n_hosts = n_hosts};
    struct jparts *parts = NULL;
    struct err e = {0};
    char buf[4096];
    size_t n;
    *rc = engine_plan_parts(eng, &req, &parts, &e);
    if (*rc != 0)
        return xstrdup(e.msg);
    struct buf_s {
        char *p;
        size_t len;
    } b = {xstrdup(""), 0};
    while ((n = jparts_read(parts, buf, sizeof buf)) > 0) {
        b.p = xrealloc(b.p, b.len + n + 1);
        memcpy(b.p + b.len, buf, n);
        b.len += n;
        b.p[b.len] = '\0';
    }
    jparts_free(parts);
    char *at = strstr(b.p, "\"created\":\"");
    assert_non_null(at);
    memset(at + 11, 'x', 20); /* "YYYY-MM-DDTHH:MM:SSZ" */
    return b.p;
}

/* A fleet's plan built by two threads is the text one thread builds (pools in order; a host
 * selection's matches from both threads; an error is the same), and the inventories the engine
 * made ahead of it (the pools quiet) are the ones it plans from: no copy for the plan. */
static void test_fleet_plan_threads(void **state)
{
    (void)state;
    struct eenv *v = eenv_new_n(5);
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, i ? "small-%d" : "small", i);
        wait_field(v->eng, name, "hosts", 3);
    }
    /* quiet pools: each one's inventory made ahead (engine_pools_prepare), at a turn of the
     * engine's loop once the pool has been quiet for 2 s; an idle loop turns on its next I/O or
     * timer (about 10 s here), so the test wakes it as a request would, every 20 ms */
    for (int i = 0; i < 1500 && atomic_load(&v->eng->inv_made) < 5; i++) {
        xapi_loop_wakeup(v->eng->loop);
        nap();
    }
    assert_int_equal(atomic_load(&v->eng->inv_made), 5);
    const enum engine_plan_detail details[] = {ENGINE_PLAN_DETAIL_FULL, ENGINE_PLAN_DETAIL_SUMMARY};
    /* every pool; one host of each (each thread's matches count); one name no pool has */
    const char *each[] = {"small-2-0", "small-2-1", "small-2-2", "small-2-3", "small-2-4"};
    const char *none[] = {"no-such-host"};
    const char *const *hosts[] = {NULL, each, none};
    const size_t n_hosts[] = {0, 5, 1};
    for (size_t d = 0; d < 2; d++)
        for (size_t h = 0; h < 3; h++) {
            int rc1, rc2;
            v->eng->plan_threads = 1;
            char *one = plan_doc(v->eng, details[d], hosts[h], n_hosts[h], &rc1);
            v->eng->plan_threads = 2;
            char *two = plan_doc(v->eng, details[d], hosts[h], n_hosts[h], &rc2);
            assert_int_equal(rc1, rc2);
            assert_int_equal(rc1, h == 2 ? PP_EINVAL : 0);
            assert_string_equal(one, two);
            for (int i = 0; h < 2 && i < 5; i++) { /* every pool, in order */
                char key[64];
                snprintf(key, sizeof key, i ? "\"name\":\"small-%d\"" : "\"name\":\"small\"", i);
                assert_non_null(strstr(one, key));
            }
            free(one);
            free(two);
        }
    /* twelve plans, no inventory made for them: the ones made ahead were shared */
    assert_int_equal(atomic_load(&v->eng->inv_made), 5);
    eenv_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inv_shared_equals_fresh),
        cmocka_unit_test(test_pools_never_wait),
        cmocka_unit_test(test_fleet_plan_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
