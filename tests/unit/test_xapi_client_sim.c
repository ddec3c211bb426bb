/* SPDX-License-Identifier: MIT */
/*
 * test_xapi_client_sim.c - the XAPI client against the real simulator linked in-process
 * (scenarios/small.json, virtual clock, the loop's idle hook driving sim_run_until): login
 * through a supporter, XAPI errors verbatim, an Async migration waited on through event.from
 * with progress, a cancelled migration, the event cache staying equal to get_all_records through
 * a burst of changes, fewer event.from turns for a migration with event_quiet_ms, an object
 * wait that takes no decision from a batch older than its call, task reads racing a batch held
 * for another read (answers reordered by the transport's latency hook; a probe after its own
 * read answered while a sibling's is out; the client freed while one is held), reconnect
 * across a master reboot (with a fresh cache snapshot; the master asked alone), a
 * partition that ends in emergency mode, reported as such, and recovery when it heals.
 * Deterministic: virtual time, fixed seeds, no sleeps.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "sim/sim.h"
#include "xapi/client.h"
#include "xapi/client_int.h" /* the loop's timers: none of a freed client's may be left */
#include "xapi_testutil.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

struct env {
    struct sim *s;
    struct xapi_inproc_handler h;
    struct xapi_loop *loop;
    struct xapi_client *c;
    char master[64];
    bool saw[8];
    int64_t heal_at; /* clear the partition fault at this virtual time (0 = never) */
    /* rename touch_vm straight through the simulator at these virtual times (0 = done) */
    int64_t touch_at[2];
    const char *touch_vm;
    char *touch_session;
    int64_t ready_at; /* virtual time of the last change to XAPI_CONN_READY */
};

static void touch_due(struct env *v);

static int fault(struct env *v, const char *json);
static int64_t quiet_ms; /* the next env's event_quiet_ms */
/* scenarios/small.json's reboot_s for the next env_new (0: as the file says) */
static int reboot_s;

/* the next env_new's pool: small.json's update and a second one, both applied on small-1 only */
static bool two_updates_on_small1;

static void updates_on_small1(json_t *scen)
{
    json_t *ups = json_object_get(json_array_get(json_object_get(scen, "pools"), 0), "updates");
    json_t *u1 = json_array_get(ups, 0);
    json_t *u2 = json_deep_copy(u1);
    json_object_set_new(u2, "uuid", json_string("9d1a7d9e-2b9b-4f0f-a3a4-6e1d5b0c4b12"));
    json_object_set_new(u2, "name_label", json_string("XS82ECU1002"));
    json_array_append_new(ups, u2);
    for (size_t i = 0; i < json_array_size(ups); i++)
        json_object_set_new(json_array_get(ups, i), "applied_on", json_pack("[s]", "small-1"));
}

/* The loop's idle hook: run the simulation to the next deadline (the loop's or the sim's). */
static int idle(void *ctx, int64_t next_ms)
{
    struct env *v = ctx;
    struct sim *s = v->s;
    int64_t d = sim_next_deadline(s);
    int64_t t = next_ms;
    if (d >= 0 && d < t)
        t = d;
    if (v->heal_at && v->heal_at < t)
        t = v->heal_at;
    for (size_t i = 0; i < 2; i++)
        if (v->touch_at[i] && v->touch_at[i] < t)
            t = v->touch_at[i];
    if (t == INT64_MAX)
        return -1;
    if (t < clock_now_ms(sim_clock(s)))
        t = clock_now_ms(sim_clock(s));
    sim_run_until(s, t);
    touch_due(v);
    if (v->heal_at && clock_now_ms(sim_clock(s)) >= v->heal_at) {
        v->heal_at = 0;
        fault(v, "{\"type\":\"clear\",\"code\":\"partition\"}");
    }
    return 0;
}

static void on_state(void *ctx, enum xapi_conn_state st, const struct err *e)
{
    struct env *v = ctx;
    (void)e;
    v->saw[st] = true;
    if (st == XAPI_CONN_READY)
        v->ready_at = clock_now_ms(sim_clock(v->s));
}

static struct env *env_new_scaled(const char *password, int64_t budget_ms, double scale)
{
    struct env *v = xcalloc(1, sizeof(*v));
    struct sim_options so = {.seed_set = true, .seed = 7, .time_scale = scale};
    struct err e = {0};
    json_error_t je;
    json_t *scen = json_load_file(PP_SOURCE_ROOT "/scenarios/small.json", 0, &je);
    assert_non_null(scen);
    if (reboot_s > 0)
        json_object_set_new(json_object_get(scen, "timings"), "reboot_s", json_integer(reboot_s));
    if (two_updates_on_small1)
        updates_on_small1(scen);
    int rc = sim_new_from_json(scen, &so, &v->s, &e);
    json_decref(scen);
    if (rc != 0)
        fail_msg("loading small.json: %s", e.msg);
    sim_inproc_handler(v->s, &v->h);
    sim_pool_master_address(v->s, 0, v->master, sizeof(v->master));
    v->loop = xapi_loop_new(sim_clock(v->s), &e);
    assert_non_null(v->loop);
    xapi_loop_set_idle(v->loop, idle, v);
    /* Start from a supporter: the client must follow HOST_IS_SLAVE to the master. */
    const char *supporter = NULL;
    for (size_t i = 0; i < sim_host_count(v->s); i++)
        if (strcmp(sim_host_address(v->s, i), v->master) != 0)
            supporter = sim_host_address(v->s, i);
    assert_non_null(supporter);
    const char *addrs[1] = {supporter};
    struct xapi_client_opts o;
    xt_opts(&o, addrs, password, budget_ms, on_state, v);
    o.inproc = &v->h;
    o.rng_seed = 3;
    o.event_quiet_ms = quiet_ms;
    v->c = xapi_client_new(v->loop, &o, &e);
    assert_non_null(v->c);
    return v;
}

static struct env *env_new(const char *password, int64_t budget_ms)
{
    return env_new_scaled(password, budget_ms, 0);
}

static void env_free(struct env *v)
{
    free(v->touch_session);
    xapi_client_free(v->c);
    xapi_loop_free(v->loop);
    sim_free(v->s);
    free(v);
}

/* A few loop turns, then the pool holds no task (ours were destroyed), read from the simulator. */
static void assert_no_tasks(struct env *v)
{
    for (int i = 0; i < 20; i++)
        xapi_loop_run(v->loop, 0);
    struct xapi_value *tasks = NULL;
    struct err e = {0};
    assert_int_equal(xapi_call_sync(v->c, "task.get_all", NULL, NULL, &tasks, &e), 0);
    assert_int_equal(xapi_array_len(tasks), 0);
    xapi_value_free(tasks);
}

static void test_login_via_supporter_and_errors(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    struct xapi_value *r = NULL;
    struct err e = {0};
    assert_int_equal(xapi_call_sync(v->c, "host.get_all_records", NULL, NULL, &r, &e), 0);
    assert_int_equal(r->type, XAPI_STRUCT);
    assert_int_equal(r->u.st.n, 3);
    xapi_value_free(r);
    assert_string_equal(xapi_client_master(v->c), v->master);
    assert_true(v->saw[XAPI_CONN_READY]);
    /* The session ends server-side: SESSION_INVALID, one re-login, the call replayed. */
    {
        unsigned logins = xapi_client_login_count(v->c);
        struct xapi_call_opts raw = {.flags = XAPI_CALL_RAW, .timeout_ms = 0};
        assert_int_equal(xapi_call_sync(v->c, "session.logout",
                                        xt_strs(xapi_client_session(v->c), NULL), &raw, NULL, &e),
                         0);
        assert_int_equal(xapi_call_sync(v->c, "pool.get_all", NULL, NULL, &r, &e), 0);
        assert_int_equal(xapi_array_len(r), 1);
        xapi_value_free(r);
        assert_int_equal(xapi_client_login_count(v->c), logins + 1);
    }
    /* A bad reference: HANDLE_INVALID with its parameters, verbatim. */
    assert_int_equal(
        xapi_call_sync(v->c, "VM.get_record", xt_strs("OpaqueRef:nope", NULL), NULL, &r, &e),
        PP_EXAPI);
    assert_string_equal(e.xapi_code, "HANDLE_INVALID");
    assert_true(str_has_prefix(e.msg, "HANDLE_INVALID ["));
    assert_non_null(strstr(e.msg, "OpaqueRef:nope"));
    assert_int_equal(xapi_call_sync(v->c, "VM.no_such_call", NULL, NULL, &r, &e), PP_EXAPI);
    assert_string_equal(e.xapi_code, "MESSAGE_METHOD_UNKNOWN");
    env_free(v);

    v = env_new("wrong password", 0);
    assert_int_equal(xapi_call_sync(v->c, "host.get_all_records", NULL, NULL, &r, &e), PP_EXAPI);
    assert_string_equal(e.xapi_code, "SESSION_AUTHENTICATION_FAILED");
    assert_null(strstr(e.msg, "wrong password"));
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_FAILED);
    env_free(v);
}

struct obs {
    bool done;
    int rc;
    struct err err;
    struct xapi_value *result;
    double prog[64];
    int nprog;
};

static void obs_done(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct obs *o = ctx;
    o->done = true;
    o->rc = rc;
    if (result)
        o->result = xapi_value_dup(result);
    if (e)
        o->err = *e;
}

static void obs_prog(void *ctx, double p)
{
    struct obs *o = ctx;
    if (o->nprog < 64)
        o->prog[o->nprog++] = p;
}

static void run_until(struct xapi_loop *loop, bool *flag)
{
    for (int i = 0; i < 200000 && !*flag; i++)
        if (xapi_loop_run(loop, 100) < 0)
            break;
    assert_true(*flag);
}

static struct xapi_value *migrate_params(const char *vm, const char *host)
{
    struct xapi_value *p = xt_strs(vm, host);
    struct xapi_value *opts = xapi_value_new_struct();
    xapi_struct_set_string(opts, "live", "true");
    xapi_array_append_take(p, opts);
    return p;
}

static void test_async_migration_progress_and_cancel(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    char *vm = xt_ref_by_name(v->c, "VM", "web-1");
    char *dest = xt_ref_by_name(v->c, "host", "small-2");
    int64_t t0 = clock_now_ms(sim_clock(v->s));
    struct obs o = {0};
    struct err e = {0};
    assert_int_equal(xapi_task_async(v->c, "VM.pool_migrate", migrate_params(vm, dest), 0, obs_prog,
                                     obs_done, &o, NULL, &e),
                     0);
    run_until(v->loop, &o.done);
    if (o.rc != 0)
        fail_msg("migration: %s", o.err.msg);
    assert_true(o.nprog >= 1);
    for (int i = 1; i < o.nprog; i++)
        assert_true(o.prog[i] >= o.prog[i - 1]);
    assert_true(o.prog[o.nprog - 1] == 1.0);
    xapi_value_free(o.result);
    /* It took simulated time (the sim models migration bandwidth), and it happened. */
    assert_true(clock_now_ms(sim_clock(v->s)) > t0);
    struct xapi_value *res = NULL;
    assert_int_equal(xapi_call_sync(v->c, "VM.get_resident_on", xt_strs(vm, NULL), NULL, &res, &e),
                     0);
    assert_string_equal(xapi_value_str(res), dest);
    xapi_value_free(res);

    /* A cancelled migration: PP_ECANCELLED, the VM stays where it was. */
    char *db = xt_ref_by_name(v->c, "VM", "db-1");
    struct xapi_value *before = NULL;
    assert_int_equal(
        xapi_call_sync(v->c, "VM.get_resident_on", xt_strs(db, NULL), NULL, &before, &e), 0);
    struct obs c = {0};
    struct xapi_op *op = NULL;
    assert_int_equal(xapi_task_async(v->c, "VM.pool_migrate", migrate_params(db, dest), 0, NULL,
                                     obs_done, &c, &op, &e),
                     0);
    xapi_op_cancel(op); /* before the task ref is known: sent as soon as it is */
    run_until(v->loop, &c.done);
    assert_int_equal(c.rc, PP_ECANCELLED);
    assert_int_equal(xapi_call_sync(v->c, "VM.get_resident_on", xt_strs(db, NULL), NULL, &res, &e),
                     0);
    assert_true(xapi_value_equal(res, before));
    xapi_value_free(res);
    xapi_value_free(before);
    /* Tasks were destroyed afterwards. */
    assert_no_tasks(v);
    free(vm);
    free(dest);
    free(db);
    env_free(v);
}

struct cmp {
    const struct xapi_value *all;
    bool eq;
};

static bool cmp_one(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct cmp *c = ctx;
    if (!xapi_value_equal(xapi_struct_get(c->all, ref), rec))
        c->eq = false;
    return c->eq;
}

static bool cache_equals(struct xapi_client *c, const char *cls, const struct xapi_value *all)
{
    struct cmp x = {all, true};
    if (xapi_cache_count(c, cls) != all->u.st.n)
        return false;
    xapi_cache_foreach(c, cls, cmp_one, &x);
    return x.eq;
}

struct eqp {
    struct xapi_value *vms, *hosts;
};

static bool pred_eq(void *ctx, struct xapi_client *c)
{
    struct eqp *p = ctx;
    return cache_equals(c, "vm", p->vms) && cache_equals(c, "host", p->hosts);
}

static void check_cache_matches(struct env *v)
{
    struct eqp p = {0};
    struct err e = {0};
    assert_int_equal(xapi_call_sync(v->c, "VM.get_all_records", NULL, NULL, &p.vms, &e), 0);
    assert_int_equal(xapi_call_sync(v->c, "host.get_all_records", NULL, NULL, &p.hosts, &e), 0);
    struct obs w = {0};
    assert_int_equal(xapi_cache_wait(v->c, pred_eq, &p, 120000, obs_done, &w, NULL, &e), 0);
    run_until(v->loop, &w.done);
    assert_int_equal(w.rc, 0);
    xapi_value_free(w.result);
    xapi_value_free(p.vms);
    xapi_value_free(p.hosts);
}

static void test_cache_equals_get_all_records_through_burst(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    const char *classes[] = {"vm", "host", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    check_cache_matches(v);
    /* A burst: many concurrent mutations of every VM, interleaved with the event stream. */
    struct xapi_value *all = NULL;
    assert_int_equal(xapi_call_sync(v->c, "VM.get_all_records", NULL, NULL, &all, &e), 0);
    int pending = 0, ok = 0;
    struct obs obs[400];
    memset(obs, 0, sizeof(obs));
    int k = 0;
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < all->u.st.n && k < 400; i++) {
            char desc[64];
            snprintf(desc, sizeof(desc), "burst round %d", round);
            assert_int_equal(xapi_call_async(v->c, "VM.set_name_description",
                                             xt_strs(all->u.st.keys[i], desc), NULL, obs_done,
                                             &obs[k++], NULL, &e),
                             0);
            pending++;
        }
        xapi_loop_run(v->loop, 0);
    }
    for (int i = 0; i < 100000; i++) {
        int done = 0;
        for (int j = 0; j < k; j++)
            done += obs[j].done;
        if (done == k)
            break;
        xapi_loop_run(v->loop, 100);
    }
    for (int j = 0; j < k; j++) {
        assert_true(obs[j].done);
        ok += obs[j].rc == 0;
        xapi_value_free(obs[j].result);
    }
    assert_int_equal(ok, pending);
    xapi_value_free(all);
    check_cache_matches(v);
    assert_int_equal(xapi_cache_generation(v->c), 1);
    env_free(v);
}

/* Evacuate, disable and reboot the master (our own host.reboot); the next call waits through
 * the reboot: backoff, retries, supporters' HOST_IS_SLAVE.  Returns the master's ref. */
struct mcount {
    uint64_t event_from, get_record, destroy;
};

static void count_methods(void *ctx, const char *method, uint64_t n)
{
    struct mcount *m = ctx;
    if (str_eq(method, "event.from"))
        m->event_from = n;
    else if (str_eq(method, "task.get_record"))
        m->get_record = n;
    else if (str_eq(method, "task.destroy"))
        m->destroy = n;
}

/* event.from calls counted just before reboot_master's host.reboot */
static uint64_t ef_before_reboot;

static char *reboot_master(struct env *v, struct xapi_counts *k0)
{
    char *master = xt_ref_by_name(v->c, "host", "small-1");
    struct xapi_value *r = NULL;
    struct err e = {0};
    assert_int_equal(xapi_call_sync(v->c, "host.disable", xt_strs(master, NULL), NULL, NULL, &e),
                     0);
    struct obs ev = {0};
    assert_int_equal(xapi_task_async(v->c, "host.evacuate", xt_strs(master, NULL), 0, NULL,
                                     obs_done, &ev, NULL, &e),
                     0);
    run_until(v->loop, &ev.done);
    if (ev.rc != 0)
        fail_msg("evacuate: %s", ev.err.msg);
    xapi_value_free(ev.result);
    unsigned logins = xapi_client_login_count(v->c);
    struct mcount m0 = {0};
    xapi_client_counts(v->c, k0, count_methods, &m0);
    ef_before_reboot = m0.event_from;
    int64_t t0 = clock_now_ms(sim_clock(v->s));
    assert_int_equal(xapi_call_sync(v->c, "host.reboot", xt_strs(master, NULL), NULL, NULL, &e), 0);
    assert_int_equal(xapi_call_sync(v->c, "host.get_record", xt_strs(master, NULL), NULL, &r, &e),
                     0);
    xapi_value_free(r);
    assert_true(clock_now_ms(sim_clock(v->s)) > t0);
    assert_true(v->saw[XAPI_CONN_RECONNECTING]);
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_READY);
    assert_true(xapi_client_login_count(v->c) > logins);
    assert_string_equal(xapi_client_master(v->c), v->master);
    return master;
}

static void test_reconnect_across_master_reboot(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    const char *classes[] = {"host", "vm", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    check_cache_matches(v);
    struct xapi_counts k0, k1;
    char *master = reboot_master(v, &k0);
    /* Our own reboot of the master: every round asked the master alone (its supporters would
     * only have named it: HOST_IS_SLAVE, two XAPI errors a round when every fourth round asked
     * them), and the first retry waited a few seconds (at most a handful of logins while the
     * master is down). */
    xapi_client_counts(v->c, &k1, NULL, NULL);
    uint64_t tried = k1.logins - k0.logins, slave = k1.xapi_errors - k0.xapi_errors;
    print_message("master reboot: %llu logins, %llu XAPI errors\n", (unsigned long long)tried,
                  (unsigned long long)slave);
    assert_true(tried >= 2);
    assert_int_equal(slave, 0);
    /* The cache resumed with a fresh snapshot and matches the pool again. */
    for (int i = 0; i < 100000 && xapi_cache_generation(v->c) < 2; i++)
        xapi_loop_run(v->loop, 100);
    assert_true(xapi_cache_generation(v->c) >= 2);
    check_cache_matches(v);
    /* The long-poll that was waiting when the master went was not replayed into the new
     * session (its answer, from the old token, would only have been thrown away for a
     * snapshot): since the reboot, the stream asked for the snapshot and the next batch. */
    struct mcount m1 = {0};
    xapi_client_counts(v->c, NULL, count_methods, &m1);
    print_message("event.from since the reboot: %llu\n",
                  (unsigned long long)(m1.event_from - ef_before_reboot));
    assert_true(m1.event_from - ef_before_reboot <= 2); /* 3 when the stale one was replayed */
    free(master);
    env_free(v);
}

/* The master came back from our reboot, then is cut off (a partition) soon after: that loss is
 * not the reboot's, so every round asks the supporters too (in emergency mode: two answers a
 * round, HOST_STILL_BOOTING), and when the budget ends the pool is reported in emergency mode.
 * Before, the rounds still asked the master alone three in four, and a budget ending in such a
 * round reported an unreachable master (seen as the sim-client test's flake). */
static void test_partition_soon_after_master_reboot(void **state)
{
    (void)state;
    reboot_s = 30; /* back well within the 120 s after host.reboot taken for that reboot */
    struct env *v = env_new("xenroot", 5 * 60 * 1000);
    reboot_s = 0;
    struct xapi_counts k0, k1, k2;
    free(reboot_master(v, &k0));
    xapi_client_counts(v->c, &k1, NULL, NULL);
    fault(v, "{\"type\":\"partition\"}");
    struct xapi_value *r = NULL;
    struct err e = {0};
    int rc = xapi_call_sync(v->c, "pool.get_all", NULL, NULL, &r, &e);
    xapi_client_counts(v->c, &k2, NULL, NULL);
    uint64_t tried = k2.logins - k1.logins, emergency = k2.xapi_errors - k1.xapi_errors;
    print_message("partition after the reboot: %llu logins, %llu XAPI errors: %s\n",
                  (unsigned long long)tried, (unsigned long long)emergency, e.msg);
    assert_int_equal(rc, PP_EXAPI);
    assert_string_equal(e.xapi_code, "HOST_STILL_BOOTING");
    assert_non_null(strstr(e.msg, "emergency mode"));
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_EMERGENCY);
    /* full rounds (the master, then two supporters in emergency mode) once emergency began */
    assert_true(tried >= 6);
    assert_true(2 * emergency + 4 >= tried);
    env_free(v);
}

/* Migrate web-1 to small-2 with the cache on for classes and the stream's event_quiet_ms =
 * quiet: the calls it took (*m, from the Async call to the wait's end); *elapsed_ms the
 * virtual time until the task was seen done; *nprog the progress reports. */
static void migrate_counted(int64_t quiet, const char *const *classes, struct mcount *m,
                            int64_t *elapsed_ms, int *nprog)
{
    quiet_ms = quiet;
    struct env *v = env_new("xenroot", 0);
    quiet_ms = 0;
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    char *vm = xt_ref_by_name(v->c, "VM", "web-1");
    char *dest = xt_ref_by_name(v->c, "host", "small-2");
    struct mcount m0 = {0}, m1 = {0};
    xapi_client_counts(v->c, NULL, count_methods, &m0);
    int64_t t0 = clock_now_ms(sim_clock(v->s));
    struct obs o = {0};
    assert_int_equal(xapi_task_async(v->c, "VM.pool_migrate", migrate_params(vm, dest), 0, obs_prog,
                                     obs_done, &o, NULL, &e),
                     0);
    run_until(v->loop, &o.done);
    if (o.rc != 0)
        fail_msg("migration: %s", o.err.msg);
    *elapsed_ms = clock_now_ms(sim_clock(v->s)) - t0;
    *nprog = o.nprog;
    xapi_client_counts(v->c, NULL, count_methods, &m1);
    m->event_from = m1.event_from - m0.event_from;
    m->get_record = m1.get_record - m0.get_record;
    m->destroy = m1.destroy - m0.destroy;
    /* the outcome is the pool's: the VM runs on small-2 */
    struct xapi_value *res = NULL;
    assert_int_equal(xapi_call_sync(v->c, "VM.get_resident_on", xt_strs(vm, NULL), NULL, &res, &e),
                     0);
    assert_string_equal(xapi_value_str(res), dest);
    xapi_value_free(res);
    xapi_value_free(o.result);
    free(vm);
    free(dest);
    env_free(v);
}

/* A batch that only carries task progress makes the stream wait event_quiet_ms before asking
 * again: fewer event.from calls for one migration waited through its task (the cache does not
 * watch VMs), whose end is still seen, at most that much later. */
/* xapi_change_count (client.h) stays put through an idle pool's empty event.from answers (what
 * lets the engine skip looking at every pool on each of them) and moves when the cache's records
 * change.  Fails if an empty answer counted as a change, or a batch with events did not. */
static void test_change_count_ignores_empty_answers(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    const char *classes[] = {"vm", "host", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    for (int i = 0; i < 100000 && !xapi_cache_ready(v->c); i++)
        assert_true(xapi_loop_run(v->loop, 100) >= 0);
    assert_true(xapi_cache_ready(v->c));
    for (int i = 0; i < 50; i++) /* the snapshot's own turn is over */
        xapi_loop_run(v->loop, 0);
    uint64_t n0 = xapi_change_count(), k0 = xapi_cache_changes(v->c, NULL);
    struct mcount m0 = {0}, m1 = {0};
    xapi_client_counts(v->c, NULL, count_methods, &m0);
    int64_t t0 = clock_now_ms(sim_clock(v->s));
    while (clock_now_ms(sim_clock(v->s)) < t0 + 100000) /* three 30 s long-polls, on sim time */
        assert_true(xapi_loop_run(v->loop, 1000) >= 0);
    xapi_client_counts(v->c, NULL, count_methods, &m1);
    assert_true(m1.event_from >= m0.event_from + 3);
    assert_int_equal(xapi_cache_changes(v->c, NULL), k0); /* the pool was idle */
    assert_int_equal(xapi_change_count(), n0);
    struct xapi_value *vms = NULL;
    assert_int_equal(xapi_call_sync(v->c, "VM.get_all", NULL, NULL, &vms, &e), 0);
    assert_true(xapi_array_len(vms) > 0);
    assert_int_equal(xapi_call_sync(v->c, "VM.set_name_description",
                                    xt_strs(xapi_value_str(xapi_array_get(vms, 0)), "changed"),
                                    NULL, NULL, &e),
                     0);
    xapi_value_free(vms);
    for (int i = 0; i < 100000 && xapi_cache_changes(v->c, NULL) == k0; i++)
        assert_true(xapi_loop_run(v->loop, 100) >= 0);
    assert_true(xapi_cache_changes(v->c, NULL) > k0);
    assert_true(xapi_change_count() > n0);
    env_free(v);
}

static void test_quiet_stream_skips_progress_turns(void **state)
{
    (void)state;
    const char *classes[] = {"host", NULL};
    int64_t t_plain = 0, t_quiet = 0;
    struct mcount plain = {0}, quiet = {0};
    int np = 0, nq = 0;
    migrate_counted(0, classes, &plain, &t_plain, &np);
    migrate_counted(60000, classes, &quiet, &t_quiet, &nq);
    print_message("one migration: %llu event.from (%lld ms); quiet: %llu (%lld ms)\n",
                  (unsigned long long)plain.event_from, (long long)t_plain,
                  (unsigned long long)quiet.event_from, (long long)t_quiet);
    assert_true(quiet.event_from < plain.event_from);
    assert_true(t_quiet <= t_plain + 60000);
    assert_true(np > 1); /* the task's progress, seen through its events */
}

/* With the cache watching VMs a migration is waited through its VM (current_operations keyed
 * by the task, resident_on the destination): the stream carries no "task", so the task's
 * progress costs no event.from turn, and its end needs no task.get_record.  Fails if the
 * migration's task events (or a read of its task) come back. */
static void test_migration_waited_through_its_vm(void **state)
{
    (void)state;
    const char *by_task[] = {"host", NULL}, *by_vm[] = {"vm", "host", NULL};
    int64_t t_task = 0, t_vm = 0;
    struct mcount mt = {0}, mv = {0};
    int nt = 0, nv = 0;
    migrate_counted(0, by_task, &mt, &t_task, &nt);
    migrate_counted(0, by_vm, &mv, &t_vm, &nv);
    print_message("one migration: through its task %llu event.from, through its VM %llu "
                  "event.from, %llu task.get_record\n",
                  (unsigned long long)mt.event_from, (unsigned long long)mv.event_from,
                  (unsigned long long)mv.get_record);
    assert_int_equal(mv.get_record, 0);
    assert_true(mv.event_from <= 3); /* the VM taken, the VM moved (and the stream's next ask) */
    assert_true(mv.event_from < mt.event_from);
    assert_int_equal(mv.destroy, 1); /* leave_done_tasks off: destroyed as before */
    assert_true(t_vm <= t_task);     /* the end is seen no later */
    assert_int_equal(nv, 1);         /* no progress but the final 1.0 */
}
static int fault(struct env *v, const char *json)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    assert_non_null(j);
    struct err e = {0};
    int rc = sim_fault_apply(v->s, j, &e);
    json_decref(j);
    if (rc != 0)
        fail_msg("fault %s: %s", json, e.msg);
    return rc;
}

/* Migrate vm to dest with the VM cache on; the outcome in *o. */
static void migrate_vm_waited(struct env *v, const char *vm, const char *dest, bool cancel,
                              struct obs *o)
{
    struct err e = {0};
    struct xapi_op *op = NULL;
    assert_int_equal(xapi_task_async(v->c, "VM.pool_migrate", migrate_params(vm, dest), 0, NULL,
                                     obs_done, o, &op, &e),
                     0);
    if (cancel)
        xapi_op_cancel(op);
    run_until(v->loop, &o->done);
}

static void assert_resident(struct env *v, const char *vm, const char *host)
{
    struct xapi_value *res = NULL;
    struct err e = {0};
    assert_int_equal(xapi_call_sync(v->c, "VM.get_resident_on", xt_strs(vm, NULL), NULL, &res, &e),
                     0);
    assert_string_equal(xapi_value_str(res), host);
    xapi_value_free(res);
}

/* An event.from answer composed before a migration began and delivered after the Async call's
 * answer (two connections over HTTP; in-process the wrapper below replays it that way): when
 * armed, the migration's call first makes another change in the pool (another client renames
 * `touch`) and composes the parked long-poll's answer, which the long-poll gets when asked next. */
static struct {
    int (*inner)(void *ctx, const char *host, const char *method, const struct xapi_value *params,
                 struct xapi_response *out, struct err *e);
    struct xapi_value *last_ef; /* the stream's last event.from params */
    char held_tok[64];          /* the token whose answer is held */
    struct xapi_response held;  /* that answer as composed before the migration */
    const char *touch;          /* the VM another client changes */
    bool arm, have;
    int served;
} late;

static void late_touch(void *ctx, const char *host)
{
    struct xapi_value *p = xt_strs(xapi_value_str(xapi_array_get(late.last_ef, 0)), late.touch);
    xapi_array_append_string(p, "touched");
    struct xapi_response r = {0};
    struct err e = {0};
    assert_int_equal(late.inner(ctx, host, "VM.set_name_description", p, &r, &e), 0);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    xapi_value_free(p);
}

static int late_call(void *ctx, const char *host, const char *method,
                     const struct xapi_value *params, struct xapi_response *out, struct err *e)
{
    if (str_eq(method, "event.from")) {
        const char *tok = xapi_value_str(xapi_array_get(params, 2));
        if (late.have && tok && str_eq(tok, late.held_tok)) {
            *out = late.held;
            memset(&late.held, 0, sizeof(late.held));
            late.have = false;
            late.served++;
            return 0;
        }
        xapi_value_free(late.last_ef);
        late.last_ef = xapi_value_dup(params);
    } else if (str_eq(method, "Async.VM.pool_migrate") && late.arm && late.last_ef) {
        late.arm = false;
        late_touch(ctx, host);
        struct err e2 = {0};
        snprintf(late.held_tok, sizeof(late.held_tok), "%s",
                 xapi_value_str(xapi_array_get(late.last_ef, 2)));
        assert_int_equal(late.inner(ctx, host, "event.from", late.last_ef, &late.held, &e2), 0);
        assert_true(late.held.ok);
        late.have = true;
    }
    return late.inner(ctx, host, method, params, out, e);
}

/* A batch that answers a stream request sent before the migration's task ref was known (here it
 * carries another VM's change and shows the migrating VM as before the call) is no evidence of
 * the migration's end: the wait reads no task and the stream takes no "task" for it.  Fails if
 * the object wait decides from that batch (one task.get_record, as on the fleet bench). */
static void test_object_wait_ignores_a_batch_older_than_the_call(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    memset(&late, 0, sizeof(late));
    late.inner = v->h.call;
    v->h.call = late_call;
    const char *classes[] = {"vm", "host", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    char *vm = xt_ref_by_name(v->c, "VM", "web-1");
    char *other = xt_ref_by_name(v->c, "VM", "db-1");
    char *dest = xt_ref_by_name(v->c, "host", "small-2");
    for (int i = 0; i < 20; i++) /* the stream parked on a long-poll */
        xapi_loop_run(v->loop, 0);
    assert_non_null(late.last_ef);
    late.touch = other;
    late.arm = true;
    struct mcount m0 = {0}, m1 = {0};
    xapi_client_counts(v->c, NULL, count_methods, &m0);
    struct obs o = {0};
    migrate_vm_waited(v, vm, dest, false, &o);
    xapi_client_counts(v->c, NULL, count_methods, &m1);
    print_message("late batch served %d time(s); task.get_record %llu\n", late.served,
                  (unsigned long long)(m1.get_record - m0.get_record));
    assert_int_equal(late.served, 1); /* the race happened */
    assert_int_equal(o.rc, 0);
    assert_resident(v, vm, dest);
    assert_int_equal(m1.get_record - m0.get_record, 0);
    v->h.call = late.inner;
    xapi_value_free(late.last_ef);
    xapi_response_cleanup(&late.held);
    xapi_value_free(o.result);
    free(vm);
    free(other);
    free(dest);
    env_free(v);
}

/* The stream's requests as the pool received them: how many, and how many named the class
 * "task" (or one task, "task/<ref>"). */
static struct {
    int (*inner)(void *ctx, const char *host, const char *method, const struct xapi_value *params,
                 struct xapi_response *out, struct err *e);
    int event_from, with_task;
} tap;

static int tap_call(void *ctx, const char *host, const char *method,
                    const struct xapi_value *params, struct xapi_response *out, struct err *e)
{
    if (str_eq(method, "event.from")) {
        const struct xapi_value *cls = xapi_array_get(params, 1);
        bool task = false;
        for (size_t i = 0; i < xapi_array_len(cls); i++)
            task = task || str_has_prefix(xapi_value_str(xapi_array_get(cls, i)), "task");
        tap.event_from++;
        tap.with_task += task;
    }
    return tap.inner(ctx, host, method, params, out, e);
}

/* Apply update on host through xapi_task_async (touch: a host changed meanwhile); the outcome
 * in *o, the virtual time it took in
 * *took_ms, the task reads and stream requests with "task" in *reads and *with_task. */
static void apply_counted(struct env *v, const char *update, const char *host, const char *touch,
                          struct obs *o, int64_t *took_ms, uint64_t *reads, int *with_task)
{
    struct mcount m0 = {0}, m1 = {0};
    xapi_client_counts(v->c, NULL, count_methods, &m0);
    tap.with_task = 0;
    int64_t t0 = clock_now_ms(sim_clock(v->s));
    struct err e = {0};
    assert_int_equal(xapi_task_async(v->c, "pool_update.apply", xt_strs(update, host), 0, NULL,
                                     obs_done, o, NULL, &e),
                     0);
    if (touch) {
        /* another change in the pool while the apply runs: the stream's token passes the
         * task's creation before its probe reads it */
        struct xapi_value *p = xt_strs(touch, "touched"), *r = NULL;
        assert_int_equal(xapi_call_sync(v->c, "host.set_name_description", p, NULL, &r, &e), 0);
        xapi_value_free(r);
        for (int i = 0; i < 5 && !o->done; i++) /* the stream's answer with the change */
            xapi_loop_run(v->loop, 0);
    }
    run_until(v->loop, &o->done);
    *took_ms = clock_now_ms(sim_clock(v->s)) - t0;
    xapi_client_counts(v->c, NULL, count_methods, &m1);
    *reads = m1.get_record - m0.get_record;
    *with_task = tap.with_task;
}

/* True when the simulator lists update among host's updates (host.get_updates). */
static bool host_has_update(struct env *v, const char *host, const char *update)
{
    struct xapi_value *res = NULL;
    struct err e = {0};
    assert_int_equal(xapi_call_sync(v->c, "host.get_updates", xt_strs(host, NULL), NULL, &res, &e),
                     0);
    bool has = false;
    for (size_t i = 0; i < xapi_array_len(res); i++)
        has = has || str_eq(xapi_value_str(xapi_array_get(res, i)), update);
    xapi_value_free(res);
    return has;
}

/*
 * pool_update.apply with the cache watching hosts is waited through the host (its updates gain
 * the update; xapi lists the apply on no object while it runs): the stream carries no "task",
 * so the task's creation costs no event.from answer.  Its failure shows on no object, so the
 * task is read once the wait has run twice as long as the pool's longest apply (5 s at first):
 *  - the first apply (60 s) outlasts that: its task read at the probe, pending, then read again
 *    at doubling intervals (never followed through the task's events, so no event.from carries
 *    "task" and no cached task can go stale while a batch without "task" is applied - another
 *    host changes meanwhile); its end decided by the host's updates;
 *  - the second, with the probe at twice the first one's time, no read and no "task" at all
 *    (fails if applies are waited through their task again);
 *  - a failing apply is read by the probe and reports xapi's error; the host lacks the update.
 */
static void test_apply_waited_through_its_host(void **state)
{
    (void)state;
    two_updates_on_small1 = true;
    struct env *v = env_new("xenroot", 0);
    two_updates_on_small1 = false;
    const char *classes[] = {"host", "pool_update", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    char *u1 = xt_ref_by_name(v->c, "pool_update", "XS82ECU1001");
    char *u2 = xt_ref_by_name(v->c, "pool_update", "XS82ECU1002");
    char *h2 = xt_ref_by_name(v->c, "host", "small-2");
    char *h3 = xt_ref_by_name(v->c, "host", "small-3");
    memset(&tap, 0, sizeof(tap));
    tap.inner = v->h.call;
    v->h.call = tap_call;

    struct obs a = {0}, b = {0}, c = {0};
    int64_t ta = 0, tb = 0, tc = 0;
    uint64_t ra = 0, rb = 0, rc = 0;
    int wa = 0, wb = 0, wc = 0;
    apply_counted(v, u1, h2, h3, &a, &ta, &ra, &wa);
    if (a.rc != 0)
        fail_msg("first apply: %s", a.err.msg);
    /* the probe's reads at ~5.7, ~17 and ~40 s: still pending; none with "task" in event.from */
    assert_in_range(ra, 1, 4);
    assert_int_equal(wa, 0);
    assert_true(host_has_update(v, h2, u1));

    apply_counted(v, u2, h2, NULL, &b, &tb, &rb, &wb);
    print_message("apply: first %lld ms (%llu read, %d event.from with task), second %lld ms "
                  "(%llu read, %d with task)\n",
                  (long long)ta, (unsigned long long)ra, wa, (long long)tb, (unsigned long long)rb,
                  wb);
    assert_int_equal(b.rc, 0);
    assert_int_equal(rb, 0);
    assert_int_equal(wb, 0);
    assert_true(host_has_update(v, h2, u2));

    fault(v, "{\"type\": \"apply_fails\", \"host\": \"small-3\", \"count\": 1}");
    apply_counted(v, u1, h3, NULL, &c, &tc, &rc, &wc);
    assert_int_equal(c.rc, PP_EXAPI);
    assert_string_equal(c.err.xapi_code, "UPDATE_APPLY_FAILED");
    assert_int_equal(rc, 1);
    assert_true(tc <= 2 * ta + 10000); /* the probe: twice the longest, plus the stream's delays */
    assert_false(host_has_update(v, h3, u1));

    v->h.call = tap.inner;
    xapi_value_free(a.result);
    xapi_value_free(b.result);
    free(u1);
    free(u2);
    free(h2);
    free(h3);
    env_free(v);
}

static void touch_vm(struct env *v, const char *vm, const char *text);

/* The stream's long-polls as the pool received them: when each came (the pool's clock) and the
 * timeout it asked for.  A long-poll parked by the in-process transport is asked again (same
 * params) until it has an answer: those calls are one request. */
static struct {
    int (*inner)(void *ctx, const char *host, const char *method, const struct xapi_value *params,
                 struct xapi_response *out, struct err *e);
    struct pp_clock *clock;
    const struct xapi_value *params; /* the request still waiting, NULL when none */
    int n;
    int64_t sent[64];
    double timeout[64];
} lp;

static int lp_call(void *ctx, const char *host, const char *method, const struct xapi_value *params,
                   struct xapi_response *out, struct err *e)
{
    if (!str_eq(method, "event.from"))
        return lp.inner(ctx, host, method, params, out, e);
    int64_t now = clock_now_ms(lp.clock);
    if (params != lp.params && lp.n < 64) {
        lp.sent[lp.n] = now;
        lp.timeout[lp.n] = -1;
        xapi_value_as_double(xapi_array_get(params, 3), &lp.timeout[lp.n]);
        lp.n++;
    }
    int rc = lp.inner(ctx, host, method, params, out, e);
    const struct xapi_value *evs =
        rc == 0 && out->ok ? xapi_struct_get(out->value, "events") : NULL;
    int64_t end = lp.sent[lp.n - 1] + (int64_t)llround(lp.timeout[lp.n - 1] * 1000.0);
    bool parked = evs && xapi_array_len(evs) == 0 && now < end;
    lp.params = parked ? params : NULL;
    return rc;
}

/* Run v's loop until its pool's clock reaches t_ms. */
static void run_to(struct env *v, int64_t t_ms)
{
    for (int i = 0; i < 200000 && clock_now_ms(sim_clock(v->s)) < t_ms; i++)
        if (xapi_loop_run(v->loop, 100) < 0)
            break;
}

/*
 * A quiet pool's long-polls end on the 2 s grid of the loop's clock, so that a fleet's idle
 * pools answer together (one wakeup for many answers): every long-poll asks for at least 30 s
 * and less than 32 s, and ends on a multiple of 2 s; once aligned, a quiet pool's long-polls
 * ask for 30 s.  The clock starts 1.234 s off the grid, and a change made 0.7 s off it wakes
 * the stream: with a plain 30 s each long-poll would end off the grid (fails so).
 */
static void test_long_polls_end_on_a_shared_grid(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    struct pp_clock *clk = sim_clock(v->s);
    clock_advance(clk, 2000 - clock_now_ms(clk) % 2000 + 1234);
    memset(&lp, 0, sizeof(lp));
    lp.clock = clk;
    lp.inner = v->h.call;
    v->h.call = lp_call;
    v->h.read_delay_ms = NULL; /* each long-poll reaches the pool when it is sent */
    const char *classes[] = {"vm", "host", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    char *db = xt_ref_by_name(v->c, "VM", "db-1");
    int64_t t0 = clock_now_ms(clk);
    run_to(v, t0 + 100000);
    clock_advance(clk, 8700 - clock_now_ms(clk) % 2000); /* in the middle of a long-poll */
    int before = lp.n;
    touch_vm(v, db, "moved");
    run_to(v, clock_now_ms(clk) + 100000);
    int whole = 0;
    for (int i = 0; i < lp.n; i++) {
        if (lp.timeout[i] == 0)
            continue; /* the snapshot's first read, or a flush */
        int64_t end = lp.sent[i] + (int64_t)llround(lp.timeout[i] * 1000.0);
        print_message("long-poll %d: sent at %lld ms, timeout %.3f s, ends at %lld\n", i,
                      (long long)(lp.sent[i] - t0), lp.timeout[i], (long long)(end - t0));
        assert_true(lp.timeout[i] >= 30.0 && lp.timeout[i] < 32.0);
        assert_int_equal(end % 2000, 0);
        whole += lp.timeout[i] == 30.0;
    }
    assert_true(before >= 3);
    assert_true(lp.n >= before + 3);
    assert_true(whole >= 4); /* the quiet stretches, once aligned */
    v->h.call = lp.inner;
    free(db);
    env_free(v);
}

/* Reads of a migration's task while the stream holds a batch.  The in-process transport
 * delivers answers in the order the calls were sent; over HTTP each call has its connection and
 * a read sent later can be answered first.  The wrapper below gives the first task.get_record
 * after arming a latency (xapi_inproc_handler.latency_ms), so a read sent while that one is out
 * is answered before it. */
static struct {
    int (*inner)(void *ctx, const char *host, const char *method, const struct xapi_value *params,
                 struct xapi_response *out, struct err *e);
    bool arm;           /* delay the next task.get_record */
    bool slow_read;     /* it was asked */
    int64_t latency_ms; /* by this much */
    int64_t slow_at;    /* the virtual time it was asked */
    int reads;          /* task.get_record calls the pool answered */
    struct sim *s;
    /* run when the slow read is asked, in the same virtual instant (a loop turn that finds
     * nothing else to do moves virtual time on to the next deadline) */
    void (*on_slow)(void);
} hr;

static int hr_call(void *ctx, const char *host, const char *method, const struct xapi_value *params,
                   struct xapi_response *out, struct err *e)
{
    if (str_eq(method, "task.get_record"))
        hr.reads++;
    return hr.inner(ctx, host, method, params, out, e);
}

static int64_t hr_latency(void *ctx, const char *method, const struct xapi_value *params)
{
    (void)ctx;
    (void)params;
    if (!hr.arm || !str_eq(method, "task.get_record"))
        return 0;
    hr.arm = false;
    hr.slow_read = true;
    hr.slow_at = clock_now_ms(sim_clock(hr.s));
    if (hr.on_slow)
        hr.on_slow();
    return hr.latency_ms;
}

static void hr_install(struct env *v, int64_t latency_ms)
{
    memset(&hr, 0, sizeof(hr));
    hr.inner = v->h.call;
    hr.s = v->s;
    hr.latency_ms = latency_ms;
    hr.arm = true;
    v->h.call = hr_call;
    v->h.latency_ms = hr_latency;
}

static void hr_remove(struct env *v)
{
    v->h.call = hr.inner;
    v->h.latency_ms = NULL;
}

static void touch_vm(struct env *v, const char *vm, const char *text)
{
    struct xapi_value *r = NULL;
    struct err e = {0};
    assert_int_equal(
        xapi_call_sync(v->c, "VM.set_name_description", xt_strs(vm, text), NULL, &r, &e), 0);
    xapi_value_free(r);
}

/*
 * Migration B fails; the batch showing its VM released is asked without "task" and held while
 * B's task is read (slowly, 3 s).  Meanwhile migration A starts; the stream being held, its VM
 * is never seen running, so its probe (1 s) reads A's task, answered first: pending.  Before the
 * fix that read put A's task in the cache, the held batch then applied forgot every cached task
 * (asked without "task"), and A failed as "destroyed before it finished" while the pool still
 * migrated its VM.  A must succeed and its VM land where asked (the simulator's word).
 */
static struct {
    struct env *v;
    const char *vm, *dest;
    struct obs o;
    int64_t t;
} mig_a;

/* Start migration A (mig_a) from the pool's answer to the slow read, before it is delivered. */
static void start_mig_a(void)
{
    struct err e = {0};
    mig_a.t = clock_now_ms(sim_clock(mig_a.v->s));
    assert_int_equal(xapi_task_async(mig_a.v->c, "VM.pool_migrate",
                                     migrate_params(mig_a.vm, mig_a.dest), 120000, NULL, obs_done,
                                     &mig_a.o, NULL, &e),
                     0);
}

static void test_task_read_while_a_batch_is_held(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    const char *classes[] = {"vm", "host", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    char *web = xt_ref_by_name(v->c, "VM", "web-1");
    char *db = xt_ref_by_name(v->c, "VM", "db-1");
    char *src = xt_ref_by_name(v->c, "host", "small-1");
    char *h2 = xt_ref_by_name(v->c, "host", "small-2");
    char *h3 = xt_ref_by_name(v->c, "host", "small-3");
    fault(v, "{\"type\": \"migration_fails\", \"vm\": \"web-1\", \"count\": 1}");
    hr_install(v, 3000);
    memset(&mig_a, 0, sizeof(mig_a));
    mig_a.v = v;
    mig_a.vm = db;
    mig_a.dest = h3;
    hr.on_slow = start_mig_a; /* B failed: its read is out, the batch held */

    struct obs b = {0};
    assert_int_equal(xapi_task_async(v->c, "VM.pool_migrate", migrate_params(web, h2), 60000, NULL,
                                     obs_done, &b, NULL, &e),
                     0);
    run_until(v->loop, &b.done);
    struct obs a = mig_a.o;
    int64_t t_a = mig_a.t;
    run_until(v->loop, &mig_a.o.done);
    a = mig_a.o;
    print_message("B read at %lld ms (+%lld), A started at %lld: A rc %d (%s), %d reads\n",
                  (long long)hr.slow_at, (long long)hr.latency_ms, (long long)t_a, a.rc,
                  a.rc ? a.err.msg : "ok", hr.reads);
    assert_true(t_a + 1000 <
                hr.slow_at + hr.latency_ms); /* A's probe fired while B's read was out */
    assert_int_equal(b.rc, PP_EXAPI);
    assert_string_equal(b.err.xapi_code, "VM_MIGRATE_FAILED");
    assert_resident(v, web, src);
    if (a.rc != 0)
        fail_msg("migration A: %s", a.err.msg);
    assert_resident(v, db, h3);
    hr_remove(v);
    xapi_value_free(a.result);
    free(web);
    free(db);
    free(src);
    free(h2);
    free(h3);
    env_free(v);
}

/*
 * A migration xapi refuses at once (a halted VM) is never seen running.  Its VM changes twice
 * (another client's edits): the second batch, asked after the task's ref was known, shows it
 * without the operation, so the batch is held while the task is read (slowly, 5 s), and the
 * wait's own probe (1 s) fires meanwhile.  Before the fix the probe switched the wait to the
 * task's events, the held read's answer (the task's failure) was then ignored, and no event
 * would tell it again: the wait hung until its deadline (PP_ETIMEOUT) instead of xapi's error.
 */
static void test_probe_while_its_read_is_out(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    const char *classes[] = {"vm", "host", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    char *halted = xt_ref_by_name(v->c, "VM", "build-1");
    char *h2 = xt_ref_by_name(v->c, "host", "small-2");
    for (int i = 0; i < 20; i++) /* the stream parked on a long-poll */
        xapi_loop_run(v->loop, 0);
    hr_install(v, 5000);
    struct obs o = {0};
    struct xapi_op *op = NULL;
    assert_int_equal(xapi_task_async(v->c, "VM.pool_migrate", migrate_params(halted, h2), 60000,
                                     NULL, obs_done, &o, &op, &e),
                     0);
    for (int i = 0; i < 1000 && !xapi_op_task_ref(op); i++)
        xapi_loop_run(v->loop, 0);
    assert_non_null(xapi_op_task_ref(op));
    int64_t t0 = clock_now_ms(sim_clock(v->s));
    touch_vm(v, halted, "one"); /* its batch answers a request older than the ref */
    /* event.from reads 50 ms after the call (xapi's batching: test_event_from_batches_like_xapi):
     * past that, the older request has answered and a newer one is out */
    while (clock_now_ms(sim_clock(v->s)) < t0 + 60)
        xapi_loop_run(v->loop, 100);
    touch_vm(v, halted, "two"); /* this one's a newer request's */
    run_until(v->loop, &hr.slow_read);
    assert_true(hr.slow_at < t0 + 1000); /* the read is out when the probe fires */
    run_until(v->loop, &o.done);
    print_message("refused migration: rc %d (%s) after %lld ms\n", o.rc, o.err.msg,
                  (long long)(clock_now_ms(sim_clock(v->s)) - t0));
    assert_int_equal(o.rc, PP_EXAPI);
    assert_string_equal(o.err.xapi_code, "VM_BAD_POWER_STATE");
    hr_remove(v);
    free(halted);
    free(h2);
    env_free(v);
}

static struct {
    struct env *v;
    const char *task;
    struct obs o;
} tw2;

/* Wait for task tw2.task from the pool's answer to the slow read, before it is delivered. */
static void start_task_wait(void)
{
    struct err e = {0};
    assert_int_equal(xapi_task_wait(tw2.v->c, tw2.task, 120000, NULL, obs_done, &tw2.o, NULL, &e),
                     0);
}

/*
 * xapi_task_wait on an existing task (an upload's) while a batch asked without "task" is held:
 * the stream carried "task" up to the last applied batch (an earlier wait on the same task,
 * timed out), so the cache held the task and the wait took it as known, without a read.  The
 * held batch applied then forgot the cached tasks and the wait failed as "destroyed before it
 * finished" while the task ran.  It must end with the task (a migration of db-1, here).
 */
static void test_task_wait_while_a_batch_is_held(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    const char *classes[] = {"vm", "host", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    char *web = xt_ref_by_name(v->c, "VM", "web-1");
    char *db = xt_ref_by_name(v->c, "VM", "db-1");
    char *h2 = xt_ref_by_name(v->c, "host", "small-2");
    char *h3 = xt_ref_by_name(v->c, "host", "small-3");
    fault(v, "{\"type\": \"migration_fails\", \"vm\": \"web-1\", \"count\": 1}");
    /* the task to wait on, started by a raw Async call (34 s) */
    struct xapi_value *task = NULL;
    assert_int_equal(
        xapi_call_sync(v->c, "Async.VM.pool_migrate", migrate_params(db, h3), NULL, &task, &e), 0);
    /* a first wait that gives up after 1 s: the stream carried "task" meanwhile */
    struct obs first = {0};
    assert_int_equal(
        xapi_task_wait(v->c, xapi_value_str(task), 1000, NULL, obs_done, &first, NULL, &e), 0);
    run_until(v->loop, &first.done);
    assert_int_equal(first.rc, PP_ETIMEOUT);

    hr_install(v, 3000);
    memset(&tw2, 0, sizeof(tw2));
    tw2.v = v;
    tw2.task = xapi_value_str(task);
    hr.on_slow = start_task_wait; /* B failed: its read is out, the batch held */
    struct obs b = {0};
    assert_int_equal(xapi_task_async(v->c, "VM.pool_migrate", migrate_params(web, h2), 60000, NULL,
                                     obs_done, &b, NULL, &e),
                     0);
    run_until(v->loop, &b.done);
    assert_true(hr.slow_read);
    run_until(v->loop, &tw2.o.done);
    print_message("task wait during the hold: rc %d (%s)\n", tw2.o.rc,
                  tw2.o.rc ? tw2.o.err.msg : "ok");
    assert_int_equal(b.rc, PP_EXAPI);
    if (tw2.o.rc != 0)
        fail_msg("task wait: %s", tw2.o.err.msg);
    assert_resident(v, db, h3);
    hr_remove(v);
    xapi_value_free(tw2.o.result);
    xapi_value_free(task);
    free(web);
    free(db);
    free(h2);
    free(h3);
    env_free(v);
}

/* A second wait on task_ref, started from the first one's callback (the cache holds the
 * task's end by then, as it held an upload's task whose PUT was answered after xapi ended it). */
static struct {
    struct env *v;
    const char *task;
    struct obs first, second;
} ended;

static void wait_again(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    obs_done(ctx, rc, result, e);
    struct err e2 = {0};
    assert_int_equal(
        xapi_task_wait(ended.v->c, ended.task, 120000, NULL, obs_done, &ended.second, NULL, &e2),
        0);
}

/*
 * xapi_task_wait on a task whose end the cache already holds: the wait ends at once (in
 * task_watch) and must start nothing more.  It went on to ask for the task's events (a need
 * nobody released: every later event.from carried "task") or to read the task, whose answer
 * came to the wait after its delivery had freed it - taken for the task of whatever operation
 * was allocated in its place (session 10: a pool_update.introduce ended as a success before
 * its own call was answered, and that answer crashed the daemon in e2e-crash_resume).
 */
static void test_task_wait_on_an_ended_task(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    const char *classes[] = {"vm", "host", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    char *db = xt_ref_by_name(v->c, "VM", "db-1");
    char *h3 = xt_ref_by_name(v->c, "host", "small-3");
    struct xapi_value *task = NULL;
    assert_int_equal(
        xapi_call_sync(v->c, "Async.VM.pool_migrate", migrate_params(db, h3), NULL, &task, &e), 0);
    memset(&ended, 0, sizeof(ended));
    ended.v = v;
    ended.task = xapi_value_str(task);
    tap.inner = v->h.call;
    v->h.call = tap_call;
    assert_int_equal(
        xapi_task_wait(v->c, ended.task, 120000, NULL, wait_again, &ended.first, NULL, &e), 0);
    run_until(v->loop, &ended.first.done);
    run_until(v->loop, &ended.second.done);
    assert_int_equal(ended.first.rc, 0);
    assert_int_equal(ended.second.rc, 0);
    /* nothing waits on a task now: the stream's next requests leave "task" out */
    tap.event_from = tap.with_task = 0;
    for (int i = 0; i < 4; i++) {
        int n = tap.event_from;
        touch_vm(v, db, i % 2 ? "a" : "b");
        for (int k = 0; k < 50 && tap.event_from == n; k++)
            xapi_loop_run(v->loop, 0);
    }
    print_message("after both waits: %d event.from, %d with \"task\"\n", tap.event_from,
                  tap.with_task);
    assert_true(tap.event_from >= 2);
    assert_true(tap.with_task <= 1); /* the one in flight when the waits ended */
    v->h.call = tap.inner;
    xapi_value_free(ended.first.result);
    xapi_value_free(ended.second.result);
    xapi_value_free(task);
    free(db);
    free(h3);
    env_free(v);
}

/* The stream's answers with one VM's current_operations emptied while armed: xapi lists a
 * migration on its VM only inside the thread that runs the call, after the Async call returned
 * the task's ref (server_helpers.ml do_dispatch), so a batch composed meanwhile shows the VM
 * changed (another client's edit) without the operation. */
static struct {
    int (*inner)(void *ctx, const char *host, const char *method, const struct xapi_value *params,
                 struct xapi_response *out, struct err *e);
    const char *vm;
    bool arm;
    char session[128]; /* the stream's session, for changes made as another client */
} unl;

static int unl_call(void *ctx, const char *host, const char *method,
                    const struct xapi_value *params, struct xapi_response *out, struct err *e)
{
    if (str_eq(method, "event.from"))
        snprintf(unl.session, sizeof(unl.session), "%s", xapi_value_str(xapi_array_get(params, 0)));
    int rc = hr_call(ctx, host, method, params, out, e);
    if (rc != 0 || !unl.arm || !str_eq(method, "event.from") || !out->ok)
        return rc;
    const struct xapi_value *evs = xapi_struct_get(out->value, "events");
    for (size_t i = 0; i < xapi_array_len(evs); i++) {
        struct xapi_value *ev = (struct xapi_value *)xapi_array_get(evs, i);
        struct xapi_value *snap = xapi_struct_get_mut(ev, "snapshot");
        if (snap && str_eq_nocase(xapi_struct_str(ev, "class", ""), "vm") &&
            str_eq(xapi_struct_str(ev, "ref", ""), unl.vm))
            xapi_struct_set_take(snap, "current_operations", xapi_value_new_struct());
    }
    return rc;
}

/* Change vm's description as another client would: straight to the pool, not through the
 * client (so that two changes land before the stream's parked long-poll is asked again). */
static void touch_vm_direct(struct env *v, const char *vm, const char *text)
{
    struct xapi_value *p = xt_strs(unl.session, vm);
    xapi_array_append_string(p, text);
    struct xapi_response r = {0};
    struct err e = {0};
    assert_int_equal(unl.inner(v->h.ctx, v->master, "VM.set_name_description", p, &r, &e), 0);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    xapi_value_free(p);
}

/*
 * Two migrations, A (db-1, 34 s) and B (a halted VM: xapi refuses it at once), neither seen
 * running.  One batch, answering a request sent after both refs were known, shows both VMs
 * changed without their operation (A's not listed yet): it is held while both tasks are read.
 * B's read is slow (3 s), A's is answered at once: pending.  A's probe (1 s) fires while the
 * batch is still held for B's read.  Before the fix the probe took A's record (ow_rec), switched
 * A to its task's events and put the pending record in the cache; the held batch, asked without
 * "task", then forgot every cached task when applied, and A failed as "destroyed before it
 * finished" while the pool migrated its VM.  A must succeed and its VM land where asked.
 */
static void test_probe_after_its_read_while_a_sibling_is_read(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    const char *classes[] = {"vm", "host", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    char *db = xt_ref_by_name(v->c, "VM", "db-1");
    char *web = xt_ref_by_name(v->c, "VM", "web-1");
    char *halted = xt_ref_by_name(v->c, "VM", "build-1");
    char *h2 = xt_ref_by_name(v->c, "host", "small-2");
    char *h3 = xt_ref_by_name(v->c, "host", "small-3");
    hr_install(v, 3000);
    hr.arm = false;
    memset(&unl, 0, sizeof(unl));
    unl.inner = hr.inner;
    unl.vm = db;
    unl.arm = true;
    v->h.call = unl_call;
    for (int i = 0; i < 20; i++) /* the stream parked on a long-poll */
        xapi_loop_run(v->loop, 0);
    assert_true(unl.session[0] != '\0');

    struct obs a = {0}, b = {0};
    struct xapi_op *op_a = NULL, *op_b = NULL;
    assert_int_equal(xapi_task_async(v->c, "VM.pool_migrate", migrate_params(db, h3), 120000, NULL,
                                     obs_done, &a, &op_a, &e),
                     0);
    assert_int_equal(xapi_task_async(v->c, "VM.pool_migrate", migrate_params(halted, h2), 60000,
                                     NULL, obs_done, &b, &op_b, &e),
                     0);
    for (int i = 0; i < 1000 && !(xapi_op_task_ref(op_a) && xapi_op_task_ref(op_b)); i++)
        xapi_loop_run(v->loop, 0);
    assert_non_null(xapi_op_task_ref(op_a));
    assert_non_null(xapi_op_task_ref(op_b));
    int64_t t0 = clock_now_ms(sim_clock(v->s));
    /* another VM's change: its batch answers a request older than the refs, the next is newer */
    touch_vm_direct(v, web, "one");
    for (int i = 0;
         i < 1000 &&
         !str_eq(xapi_struct_str(xapi_cache_get(v->c, "vm", web), "name_description", ""), "one");
         i++)
        xapi_loop_run(v->loop, 0);
    assert_int_equal(hr.reads, 0);
    hr.arm = true; /* the first read of the next batch (B's: the newer wait is asked first) */
    touch_vm_direct(v, halted, "two"); /* one newer request's batch shows both */
    touch_vm_direct(v, db, "two");
    run_until(v->loop, &b.done);
    print_message("B: rc %d (%s); slow read at %lld (t0 %lld), %d reads\n", b.rc, b.err.msg,
                  (long long)hr.slow_at, (long long)t0, hr.reads);
    assert_true(hr.slow_read);
    assert_true(hr.slow_at < t0 + 1000);                 /* the batch held before the probes */
    assert_true(t0 + 1000 < hr.slow_at + hr.latency_ms); /* A's probe fired while held */
    assert_int_equal(b.rc, PP_EXAPI);
    assert_string_equal(b.err.xapi_code, "VM_BAD_POWER_STATE");
    unl.arm = false;
    run_until(v->loop, &a.done);
    print_message("A: rc %d (%s)\n", a.rc, a.rc ? a.err.msg : "ok");
    if (a.rc != 0)
        fail_msg("migration A: %s", a.err.msg);
    assert_resident(v, db, h3);
    v->h.call = hr.inner;
    v->h.latency_ms = NULL;
    xapi_value_free(a.result);
    free(db);
    free(web);
    free(halted);
    free(h2);
    free(h3);
    env_free(v);
}

/*
 * A pool's client freed (the daemon forgets a pool, or stops) while the stream holds a batch for
 * a migration's task read: the wait, cancelled with the client, used to arm a timer to apply the
 * batch without its read (st_resume_t) after the stream's timers were cancelled, so the loop,
 * which serves the other pools, later called it with the freed client (a use after free: ASan
 * reports it when the loop runs on).  No timer of the freed client may be left.
 */
static void test_client_freed_while_a_batch_is_held(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    const char *classes[] = {"vm", "host", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    char *web = xt_ref_by_name(v->c, "VM", "web-1");
    char *halted = xt_ref_by_name(v->c, "VM", "build-1");
    char *h2 = xt_ref_by_name(v->c, "host", "small-2");
    hr_install(v, 5000);
    hr.arm = false;
    memset(&unl, 0, sizeof(unl));
    unl.inner = hr.inner;
    v->h.call = unl_call;
    for (int i = 0; i < 20; i++) /* the stream parked on a long-poll */
        xapi_loop_run(v->loop, 0);
    assert_true(unl.session[0] != '\0');
    struct obs o = {0};
    struct xapi_op *op = NULL;
    assert_int_equal(xapi_task_async(v->c, "VM.pool_migrate", migrate_params(halted, h2), 60000,
                                     NULL, obs_done, &o, &op, &e),
                     0);
    for (int i = 0; i < 1000 && !xapi_op_task_ref(op); i++)
        xapi_loop_run(v->loop, 0);
    assert_non_null(xapi_op_task_ref(op));
    /* another VM's change: its batch answers a request older than the ref, the next is newer */
    touch_vm_direct(v, web, "one");
    for (int i = 0;
         i < 1000 &&
         !str_eq(xapi_struct_str(xapi_cache_get(v->c, "vm", web), "name_description", ""), "one");
         i++)
        xapi_loop_run(v->loop, 0);
    hr.arm = true;
    touch_vm_direct(v, halted, "two"); /* the batch showing it is held while its task is read */
    run_until(v->loop, &hr.slow_read);
    assert_false(o.done);
    xapi_client_free(v->c);
    v->c = NULL;
    assert_true(o.done);
    assert_int_equal(o.rc, PP_ECANCELLED);
    print_message("timers left by the freed client: %zu\n", v->loop->timers.n);
    assert_int_equal(v->loop->timers.n, 0);
    for (int i = 0; i < 5; i++) /* the loop goes on (other pools) */
        xapi_loop_run(v->loop, 0);
    v->h.call = hr.inner;
    v->h.latency_ms = NULL;
    free(web);
    free(halted);
    free(h2);
    env_free(v);
}

/* The stream's next event.from answer delivered this much later (0: none), as from a process
 * that stalled with the answer unread. */
static struct {
    int64_t latency_ms;
    int delayed;
} efl;

static int64_t efl_latency(void *ctx, const char *method, const struct xapi_value *params)
{
    (void)ctx;
    (void)params;
    if (!efl.latency_ms || !str_eq(method, "event.from"))
        return 0;
    int64_t d = efl.latency_ms;
    efl.latency_ms = 0;
    efl.delayed++;
    return d;
}

static bool h2_described(void *ctx, struct xapi_client *c)
{
    const struct xapi_value *h = xapi_cache_get(c, "host", ctx);
    return h && str_eq(xapi_struct_str(h, "name_description", ""), "back");
}

/*
 * A cache wait whose deadline passes while the stream's answer showing its condition is still
 * on its way (here: delivered 20 s late; a process that stalled with the answer unread, as
 * unit-exec_sim's rollout at 2000x on a loaded machine) is decided on a batch asked after the
 * deadline: it succeeds.  Before, it timed out on the cache as it was (PP_ETIMEOUT at 15 s).
 * A condition that does not hold still times out, on a batch asked after the deadline.
 */
static void test_wait_deadline_decided_on_a_fresh_batch(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    const char *classes[] = {"host", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    char *h2 = xt_ref_by_name(v->c, "host", "small-2");
    for (int i = 0; i < 20; i++) /* the stream parked on a long-poll */
        xapi_loop_run(v->loop, 0);
    memset(&efl, 0, sizeof(efl));
    v->h.latency_ms = efl_latency;
    efl.latency_ms = 20000;
    int64_t t0 = clock_now_ms(sim_clock(v->s));
    struct obs o = {0};
    assert_int_equal(xapi_cache_wait(v->c, h2_described, h2, 15000, obs_done, &o, NULL, &e), 0);
    struct xapi_value *r = NULL;
    assert_int_equal(
        xapi_call_sync(v->c, "host.set_name_description", xt_strs(h2, "back"), NULL, &r, &e), 0);
    xapi_value_free(r);
    run_until(v->loop, &o.done);
    int64_t took = clock_now_ms(sim_clock(v->s)) - t0;
    print_message("wait with the answer 20 s late: rc %d after %lld ms (%d delayed)\n", o.rc,
                  (long long)took, efl.delayed);
    assert_int_equal(efl.delayed, 1);
    assert_int_equal(o.rc, 0);
    assert_true(took >= 15000 && took < 20000); /* at the deadline, not the late answer */

    /* a condition that does not hold: timed out, on a batch asked after the deadline */
    struct obs o2 = {0};
    t0 = clock_now_ms(sim_clock(v->s));
    assert_int_equal(xapi_cache_wait(v->c, h2_described, (void *)"OpaqueRef:none", 15000, obs_done,
                                     &o2, NULL, &e),
                     0);
    run_until(v->loop, &o2.done);
    took = clock_now_ms(sim_clock(v->s)) - t0;
    assert_int_equal(o2.rc, PP_ETIMEOUT);
    assert_true(took >= 15000 && took < 16000);
    v->h.latency_ms = NULL;
    xapi_value_free(o.result);
    xapi_value_free(o2.result);
    free(h2);
    env_free(v);
}

static bool boot_time_changed(void *ctx, struct xapi_client *c)
{
    const char *const *hb = ctx; /* the host's ref, its boot time before */
    const struct xapi_value *h = xapi_cache_get(c, "host", hb[0]);
    const char *bt = h ? xapi_struct_str(xapi_struct_get(h, "other_config"), "boot_time", "") : "";
    return *bt && !str_eq(bt, hb[1]);
}

/*
 * The master rebooted (180 s) and a cache wait for its return has its deadline 1 s after the
 * host is back, while the client still backs off before its next login round: the cache still
 * shows the pool as before the reboot.  The wait is decided once the new session's snapshot is
 * in: the host is back, success.  Before, it timed out (a rollout's reboot step halted with
 * "did not come back healthy" for a host that had).
 */
static void test_wait_deadline_while_reconnecting(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    const char *classes[] = {"host", "vm", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    char *master = xt_ref_by_name(v->c, "host", "small-1");
    assert_int_equal(xapi_call_sync(v->c, "host.disable", xt_strs(master, NULL), NULL, NULL, &e),
                     0);
    struct obs ev = {0};
    assert_int_equal(xapi_task_async(v->c, "host.evacuate", xt_strs(master, NULL), 0, NULL,
                                     obs_done, &ev, NULL, &e),
                     0);
    run_until(v->loop, &ev.done);
    assert_int_equal(ev.rc, 0);
    xapi_value_free(ev.result);
    for (int i = 0; i < 20; i++)
        xapi_loop_run(v->loop, 0);
    const struct xapi_value *h = xapi_cache_get(v->c, "host", master);
    assert_non_null(h);
    char *before = xstrdup(xapi_struct_str(xapi_struct_get(h, "other_config"), "boot_time", ""));
    const char *hb[2] = {master, before};
    int64_t t0 = clock_now_ms(sim_clock(v->s));
    assert_int_equal(xapi_call_sync(v->c, "host.reboot", xt_strs(master, NULL), NULL, NULL, &e), 0);
    int64_t deadline = 181000 - (clock_now_ms(sim_clock(v->s)) - t0);
    struct obs o = {0};
    assert_int_equal(xapi_cache_wait(v->c, boot_time_changed, hb, deadline, obs_done, &o, NULL, &e),
                     0);
    run_until(v->loop, &o.done);
    print_message("master back at ~180 s, wait's deadline at 181 s, logged in again at %lld ms: "
                  "rc %d\n",
                  (long long)(v->ready_at - t0), o.rc);
    if (o.rc != 0)
        fail_msg("wait: %s", o.err.msg);
    assert_true(v->ready_at > t0 + 181000); /* the deadline passed while reconnecting */
    xapi_value_free(o.result);
    free(before);
    free(master);
    env_free(v);
}

/* Waits through the VM end as the task did: a migration xapi refuses at once (the VM never
 * shows it running) reports the task's error, one failing at its end its error, a cancelled
 * one PP_ECANCELLED; the VMs stay where they were and the failed tasks are destroyed. */
static void test_object_wait_failures(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    const char *classes[] = {"vm", "host", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    char *halted = xt_ref_by_name(v->c, "VM", "build-1");
    char *web = xt_ref_by_name(v->c, "VM", "web-1");
    char *db = xt_ref_by_name(v->c, "VM", "db-1");
    char *src = xt_ref_by_name(v->c, "host", "small-1");
    char *dest = xt_ref_by_name(v->c, "host", "small-2");

    struct obs a = {0};
    migrate_vm_waited(v, halted, dest, false, &a);
    assert_int_equal(a.rc, PP_EXAPI);
    assert_string_equal(a.err.xapi_code, "VM_BAD_POWER_STATE");

    fault(v, "{\"type\": \"migration_fails\", \"vm\": \"web-1\", \"count\": 1}");
    struct obs b = {0};
    migrate_vm_waited(v, web, dest, false, &b);
    assert_int_equal(b.rc, PP_EXAPI);
    assert_string_equal(b.err.xapi_code, "VM_MIGRATE_FAILED");
    assert_resident(v, web, src);

    struct obs c = {0};
    migrate_vm_waited(v, db, dest, true, &c);
    assert_int_equal(c.rc, PP_ECANCELLED);
    assert_resident(v, db, src);

    assert_no_tasks(v);
    free(halted);
    free(web);
    free(db);
    free(src);
    free(dest);
    env_free(v);
}

static void test_partition_emergency_and_recovery(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 10 * 60 * 1000);
    struct err e = {0};
    struct xapi_value *r = NULL;
    assert_int_equal(xapi_call_sync(v->c, "pool.get_all", NULL, NULL, &r, &e), 0);
    xapi_value_free(r);
    fault(v, "{\"type\":\"partition\"}");
    /* Master unreachable; after a while the supporters fall into emergency mode. */
    int rc = xapi_call_sync(v->c, "pool.get_all", NULL, NULL, &r, &e);
    assert_int_equal(rc, PP_EXAPI);
    assert_string_equal(e.xapi_code, "HOST_STILL_BOOTING");
    assert_non_null(strstr(e.msg, "emergency mode"));
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_EMERGENCY);
    assert_true(v->saw[XAPI_CONN_EMERGENCY]);
    /* The partition heals: the next call connects again. */
    fault(v, "{\"type\":\"clear\",\"code\":\"partition\"}");
    assert_int_equal(xapi_call_sync(v->c, "pool.get_all", NULL, NULL, &r, &e), 0);
    xapi_value_free(r);
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_READY);
    env_free(v);
}

static void test_partition_heals_during_a_call(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 20 * 60 * 1000);
    struct err e = {0};
    struct xapi_value *r = NULL;
    assert_int_equal(xapi_call_sync(v->c, "pool.get_all", NULL, NULL, &r, &e), 0);
    xapi_value_free(r);
    int64_t t0 = clock_now_ms(sim_clock(v->s));
    fault(v, "{\"type\":\"partition\"}");
    v->heal_at = t0 + 5 * 60 * 1000; /* five minutes: long past emergency_after_s */
    /* The call rides out the partition: reconnecting, emergency reported, then served. */
    assert_int_equal(xapi_call_sync(v->c, "pool.get_all", NULL, NULL, &r, &e), 0);
    assert_int_equal(xapi_array_len(r), 1);
    xapi_value_free(r);
    assert_true(clock_now_ms(sim_clock(v->s)) >= t0 + 5 * 60 * 1000);
    assert_true(v->saw[XAPI_CONN_RECONNECTING]);
    assert_true(v->saw[XAPI_CONN_EMERGENCY]);
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_READY);
    assert_string_equal(xapi_client_master(v->c), v->master);
    env_free(v);
}

/*
 * A scaled clock (real time, 50x): the loop sleeps until the simulator's next scheduled change
 * (the handler's next_deadline) instead of polling every 20 ms, and the migration still ends.
 */
static void test_scaled_clock_sleeps_until_sim_deadlines(void **state)
{
    (void)state;
    struct env *v = env_new_scaled("xenroot", 0, 50);
    char *vm = xt_ref_by_name(v->c, "VM", "web-1");
    char *dest = xt_ref_by_name(v->c, "host", "small-2");
    int64_t t0 = clock_now_ms(sim_clock(v->s));
    uint64_t w0 = xapi_loop_wait_count(v->loop);
    struct obs o = {0};
    struct err e = {0};
    assert_int_equal(xapi_task_async(v->c, "VM.pool_migrate", migrate_params(vm, dest), 0, NULL,
                                     obs_done, &o, NULL, &e),
                     0);
    run_until(v->loop, &o.done);
    if (o.rc != 0)
        fail_msg("migration: %s", o.err.msg);
    xapi_value_free(o.result);
    int64_t took = clock_now_ms(sim_clock(v->s)) - t0;
    uint64_t waits = xapi_loop_wait_count(v->loop) - w0;
    printf("scaled migration: %lld ms of simulated time, %llu loop waits\n", (long long)took,
           (unsigned long long)waits);
    /* Polling every 20 ms real (1 s simulated) would take one wait per simulated second. */
    assert_true(took >= 8000);
    assert_true(waits < (uint64_t)took / 1000 / 2);
    struct xapi_value *res = NULL;
    assert_int_equal(xapi_call_sync(v->c, "VM.get_resident_on", xt_strs(vm, NULL), NULL, &res, &e),
                     0);
    assert_string_equal(xapi_value_str(res), dest);
    xapi_value_free(res);
    free(vm);
    free(dest);
    env_free(v);
}

struct renamer {
    struct sim *s;
    const char *master;
    const char *vm;
    atomic_bool go;
    int rc;
};

/* Another thread renames the VM straight through the simulator once told to. */
static void *renamer_main(void *arg)
{
    struct renamer *r = arg;
    while (!atomic_load(&r->go))
        sched_yield();
    struct xapi_response resp = {0};
    struct err e = {0};
    struct xapi_value *login = xt_strs("root", "xenroot");
    r->rc = sim_call(r->s, r->master, "session.login_with_password", login, &resp, &e);
    xapi_value_free(login); /* sim_call borrows its parameters */

    char *session = r->rc == 0 && resp.ok ? xstrdup(xapi_value_str(resp.value)) : NULL;
    xapi_response_cleanup(&resp);
    if (!session) {
        r->rc = -1;
        return NULL;
    }
    struct xapi_value *p = xt_strs(session, r->vm);
    xapi_array_append_string(p, "renamed-by-thread");
    r->rc = sim_call(r->s, r->master, "VM.set_name_label", p, &resp, &e);
    if (r->rc == 0 && !resp.ok)
        r->rc = -2;
    xapi_response_cleanup(&resp);
    xapi_value_free(p);
    free(session);
    return NULL;
}

static bool vm_renamed(void *ctx, struct xapi_client *c)
{
    const struct xapi_value *rec = xapi_cache_get(c, "vm", ctx);
    return rec && str_eq(xapi_struct_str(rec, "name_label", ""), "renamed-by-thread");
}

/*
 * A change made by another thread wakes the loop's parked event.from (the handler's watch): the
 * cache sees it before the poll's own 30 s timeout (the wait gives up at 25 s, simulated).
 */
static void test_other_thread_wakes_parked_event_poll(void **state)
{
    (void)state;
    struct env *v = env_new_scaled("xenroot", 0, 5);
    char *vm = xt_ref_by_name(v->c, "VM", "web-1");
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, (const char *[]){"vm", NULL}, &e), 0);
    for (int i = 0; i < 1000 && !xapi_cache_ready(v->c); i++)
        xapi_loop_run(v->loop, 100);
    assert_true(xapi_cache_ready(v->c));
    struct renamer r = {.s = v->s, .master = v->master, .vm = vm};
    atomic_init(&r.go, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, renamer_main, &r), 0);
    struct obs o = {0};
    assert_int_equal(xapi_cache_wait(v->c, vm_renamed, vm, 25000, obs_done, &o, NULL, &e), 0);
    xapi_loop_run(v->loop, 0); /* park the event.from */
    atomic_store(&r.go, true);
    run_until(v->loop, &o.done);
    pthread_join(th, NULL);
    assert_int_equal(r.rc, 0);
    if (o.rc != 0)
        fail_msg("waiting for the rename: %s", o.err.msg);
    xapi_value_free(o.result);
    free(vm);
    env_free(v);
}

/* The renames of env.touch_at that are due, each a modification of touch_vm at that time. */
static void touch_due(struct env *v)
{
    int64_t now = clock_now_ms(sim_clock(v->s));
    for (size_t i = 0; i < 2; i++) {
        if (!v->touch_at[i] || v->touch_at[i] > now)
            continue;
        v->touch_at[i] = 0;
        struct xapi_response resp = {0};
        struct err e = {0};
        struct xapi_value *p = xt_strs(v->touch_session, v->touch_vm);
        xapi_array_append_string(p, i == 0 ? "touched-1" : "touched-2");
        assert_int_equal(sim_call(v->s, v->master, "VM.set_name_label", p, &resp, &e), 0);
        assert_true(resp.ok);
        xapi_response_cleanup(&resp);
        xapi_value_free(p);
    }
}

/* One event.from(classes {cls}, tok, 30) through the client: the virtual time it was answered
 * at (*sent: when it was sent), its number of events, its token in *tok_out (caller frees). */
static int64_t ev_from(struct env *v, const char *cls, const char *tok, int64_t *sent, size_t *nev,
                       char **tok_out)
{
    struct xapi_value *p = xapi_value_new_array();
    struct xapi_value *classes = xapi_value_new_array();
    xapi_array_append_string(classes, cls);
    xapi_array_append_take(p, classes);
    xapi_array_append_string(p, tok);
    xapi_array_append_take(p, xapi_value_new_double(30.0));
    struct obs o = {0};
    struct err e = {0};
    *sent = clock_now_ms(sim_clock(v->s));
    assert_int_equal(xapi_call_async(v->c, "event.from", p, NULL, obs_done, &o, NULL, &e), 0);
    run_until(v->loop, &o.done);
    if (o.rc != 0)
        fail_msg("event.from: %s", o.err.msg);
    int64_t at = clock_now_ms(sim_clock(v->s));
    *nev = xapi_array_len(xapi_struct_get(o.result, "events"));
    *tok_out = xstrdup(xapi_struct_str(o.result, "token", ""));
    xapi_value_free(o.result);
    return at;
}

/*
 * xapi's event.from batching (ocaml/xapi/xapi_event.ml from, xapi_globs.ml event_from_delay,
 * throttle.ml Batching): a call reads 50 ms after it arrived, so two modifications 10 ms apart
 * after the call come in one answer, 50 ms after the call; 200 ms apart in two; a task-only
 * subscription reads at once.  In-process the delay runs on the virtual clock.
 */
static void test_event_from_batches_like_xapi(void **state)
{
    (void)state;
    struct env *v = env_new("xenroot", 0);
    char *vm = xt_ref_by_name(v->c, "VM", "web-1");
    struct xapi_response resp = {0};
    struct err e = {0};
    struct xapi_value *login = xt_strs("root", "xenroot");
    assert_int_equal(sim_call(v->s, v->master, "session.login_with_password", login, &resp, &e), 0);
    xapi_value_free(login);
    v->touch_session = xstrdup(xapi_value_str(resp.value));
    xapi_response_cleanup(&resp);
    v->touch_vm = vm;
    int64_t sent, at;
    size_t n;
    char *tok = NULL, *tok2 = NULL;
    at = ev_from(v, "vm", "", &sent, &n, &tok); /* the snapshot: after the delay too */
    assert_int_equal(at - sent, 50);
    assert_true(n > 0);

    /* 10 ms apart: one answer with both (one event: the VM's latest state), at +50 ms */
    int64_t t0 = clock_now_ms(sim_clock(v->s));
    v->touch_at[0] = t0 + 10;
    v->touch_at[1] = t0 + 20;
    at = ev_from(v, "vm", tok, &sent, &n, &tok2);
    assert_int_equal(at - sent, 50);
    assert_int_equal(n, 1);
    assert_int_equal(v->touch_at[1], 0); /* both renames were made before the answer */
    free(tok);
    tok = tok2;

    /* 200 ms apart: the first at +50 ms, the second in the next answer when it is made */
    t0 = clock_now_ms(sim_clock(v->s));
    v->touch_at[0] = t0 + 10;
    v->touch_at[1] = t0 + 210;
    at = ev_from(v, "vm", tok, &sent, &n, &tok2);
    assert_int_equal(at - t0, 50);
    assert_int_equal(n, 1);
    assert_int_not_equal(v->touch_at[1], 0);
    free(tok);
    tok = tok2;
    at = ev_from(v, "vm", tok, &sent, &n, &tok2);
    assert_int_equal(at - t0, 210); /* woken by the change: read at once */
    assert_int_equal(n, 1);
    free(tok);
    tok = tok2;

    /* task-only subscriptions have no delay_before (event_from_task_delay) */
    struct xapi_value *task = NULL;
    assert_int_equal(xapi_call_sync(v->c, "task.create", xt_strs("t", "d"), NULL, &task, &e), 0);
    xapi_value_free(task);
    at = ev_from(v, "task", "", &sent, &n, &tok2);
    assert_int_equal(at, sent);
    assert_int_equal(n, 1);
    free(tok2);
    free(tok);
    free(vm);
    env_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_via_supporter_and_errors),
        cmocka_unit_test(test_async_migration_progress_and_cancel),
        cmocka_unit_test(test_cache_equals_get_all_records_through_burst),
        cmocka_unit_test(test_quiet_stream_skips_progress_turns),
        cmocka_unit_test(test_change_count_ignores_empty_answers),
        cmocka_unit_test(test_migration_waited_through_its_vm),
        cmocka_unit_test(test_object_wait_failures),
        cmocka_unit_test(test_object_wait_ignores_a_batch_older_than_the_call),
        cmocka_unit_test(test_apply_waited_through_its_host),
        cmocka_unit_test(test_task_read_while_a_batch_is_held),
        cmocka_unit_test(test_probe_while_its_read_is_out),
        cmocka_unit_test(test_task_wait_while_a_batch_is_held),
        cmocka_unit_test(test_task_wait_on_an_ended_task),
        cmocka_unit_test(test_long_polls_end_on_a_shared_grid),
        cmocka_unit_test(test_probe_after_its_read_while_a_sibling_is_read),
        cmocka_unit_test(test_client_freed_while_a_batch_is_held),
        cmocka_unit_test(test_wait_deadline_decided_on_a_fresh_batch),
        cmocka_unit_test(test_wait_deadline_while_reconnecting),
        cmocka_unit_test(test_reconnect_across_master_reboot),
        cmocka_unit_test(test_partition_soon_after_master_reboot),
        cmocka_unit_test(test_partition_emergency_and_recovery),
        cmocka_unit_test(test_partition_heals_during_a_call),
        cmocka_unit_test(test_scaled_clock_sleeps_until_sim_deadlines),
        cmocka_unit_test(test_other_thread_wakes_parked_event_poll),
        cmocka_unit_test(test_event_from_batches_like_xapi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
