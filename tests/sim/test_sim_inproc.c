/* SPDX-License-Identifier: MIT */
/*
 * test_sim_inproc.c - the simulator in-process on its virtual clock: records against xapi's
 * datamodel, errors with their parameters, timing of reboots / toolstack restarts / migrations /
 * applies, event.from tokens, faults, emergency mode, determinism and scenario errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/rng.h"
#include "base/str.h"
#include "simtest.h"

#define S60 60000

struct fx {
    struct sim *s;
    char addr[64];
    const char *sess;
};

static void fx_open(struct fx *f, const char *scen)
{
    f->s = st_load(scen, 0);
    f->sess = st_login(f->s, 0, f->addr, sizeof(f->addr));
}

static int64_t now_ms(struct sim *s)
{
    return clock_now_ms(sim_clock(s));
}

static bool fbool_of(struct fx *f, const char *cls, const char *ref, const char *field)
{
    struct xapi_value *v = st_field(f->s, f->addr, f->sess, cls, ref, field);
    bool b = false;
    assert_int_equal(xapi_value_as_bool(v, &b), 0);
    xapi_value_free(v);
    return b;
}

static char *fstr_of(struct fx *f, const char *cls, const char *ref, const char *field)
{
    struct xapi_value *v = st_field(f->s, f->addr, f->sess, cls, ref, field);
    assert_non_null(xapi_value_str(v));
    char *s = strdup(xapi_value_str(v));
    xapi_value_free(v);
    return s;
}

static char *other_config(struct fx *f, const char *cls, const char *ref, const char *key)
{
    struct xapi_value *v = st_field(f->s, f->addr, f->sess, cls, ref, "other_config");
    const char *x = xapi_struct_str(v, key, "");
    char *s = strdup(x);
    xapi_value_free(v);
    return s;
}

/* Wait for a task in virtual time: run scheduled changes until it is not pending. */
static char *run_task(struct fx *f, const char *task)
{
    for (int i = 0; i < 1000; i++) {
        char *st = fstr_of(f, "task", task, "status");
        if (strcmp(st, "pending") != 0)
            return st;
        free(st);
        int64_t d = sim_next_deadline(f->s);
        assert_true(d >= 0);
        sim_run_until(f->s, d);
    }
    fail_msg("task never finished");
    return NULL;
}

/* ---- records against the datamodel ---- */

static bool type_compatible(const char *t, const struct xapi_value *v)
{
    size_t n = strlen(t);
    if (n > 4 && strcmp(t + n - 4, " set") == 0)
        return v->type == XAPI_ARRAY;
    if (n > 4 && strcmp(t + n - 4, " map") == 0)
        return v->type == XAPI_STRUCT;
    if (strcmp(t, "int") == 0)
        return v->type == XAPI_INT;
    if (strcmp(t, "float") == 0)
        return v->type == XAPI_DOUBLE;
    if (strcmp(t, "bool") == 0)
        return v->type == XAPI_BOOL;
    if (strcmp(t, "datetime") == 0)
        return v->type == XAPI_DATETIME;
    if (n > 4 && strcmp(t + n - 4, " ref") == 0)
        return v->type == XAPI_STRING && (str_has_prefix(v->u.s, "OpaqueRef:"));
    return v->type == XAPI_STRING; /* string, enum */
}

static void test_records_match_spec(void **state)
{
    (void)state;
    const char *path = st_src("../shared/reference/xenapi-spec.json");
    if (access(path, R_OK) != 0) {
        print_message("SKIP: %s is absent; the datamodel check needs it\n", path);
        skip();
    }
    json_t *spec = NULL;
    struct err e;
    err_clear(&e);
    assert_int_equal(jsonx_load_file(path, 8u << 20, 64, &spec, &e), 0);
    struct fx f;
    fx_open(&f, "demo.json");
    /* Make one of every class exist: a task and a pool_update are in demo.json or created. */
    struct xapi_response t = st_call(f.s, f.addr, "task.create", f.sess, "probe", "d", NULL);
    assert_true(t.ok);
    xapi_response_cleanup(&t);
    const char *classes[] = {"host", "host_metrics", "pool", "VM",          "VBD",
                             "VDI",  "SR",           "PBD",  "pool_update", "task"};
    size_t checked = 0;
    for (size_t ci = 0; ci < sizeof(classes) / sizeof(classes[0]); ci++) {
        json_t *cls = NULL;
        size_t i;
        json_t *x;
        json_array_foreach(spec, i, x)
        {
            if (strcmp(json_string_value(json_object_get(x, "name")), classes[ci]) == 0)
                cls = x;
        }
        assert_non_null(cls);
        char m[64];
        snprintf(m, sizeof(m), "%s.get_all_records", classes[ci]);
        struct xapi_response r = st_call(f.s, f.addr, m, f.sess, NULL);
        assert_true(r.ok);
        assert_true(r.value->u.st.n > 0);
        for (size_t k = 0; k < r.value->u.st.n; k++) {
            const struct xapi_value *rec = r.value->u.st.vals[k];
            json_t *fields = json_object_get(cls, "fields");
            /* every spec field (not removed) is present with a compatible type */
            size_t fi;
            json_t *fd;
            size_t live = 0;
            json_array_foreach(fields, fi, fd)
            {
                /* fields marked Removed are still sent by xapi (host_metrics.memory_free) */
                live++;
                const char *fn = json_string_value(json_object_get(fd, "name"));
                const char *ft = json_string_value(json_object_get(fd, "type"));
                const struct xapi_value *v = xapi_struct_get(rec, fn);
                if (!v)
                    fail_msg("%s record lacks field %s", classes[ci], fn);
                if (!type_compatible(ft, v))
                    fail_msg("%s.%s: type %s does not fit %s", classes[ci], fn,
                             xapi_type_name(v->type), ft);
                checked++;
            }
            /* and no field outside the spec */
            assert_int_equal(rec->u.st.n, live);
        }
        xapi_response_cleanup(&r);
    }
    assert_true(checked > 1000);
    json_decref(spec);
    sim_free(f.s);
}

/* ---- dispatcher errors ---- */

static void test_errors_with_params(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    struct xapi_response r;
    r = st_call(f.s, f.addr, "host.get_record", f.sess, NULL);
    assert_string_equal(st_code(&r), "MESSAGE_PARAMETER_COUNT_MISMATCH");
    /* gen_server.ml counts the parameters after the session */
    assert_string_equal(st_eparam(&r, 0), "host.get_record");
    assert_string_equal(st_eparam(&r, 1), "1");
    assert_string_equal(st_eparam(&r, 2), "0");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.frobnicate", f.sess, NULL);
    assert_string_equal(st_code(&r), "MESSAGE_METHOD_UNKNOWN");
    assert_string_equal(st_eparam(&r, 0), "host.frobnicate");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.get_all", "OpaqueRef:nope", NULL);
    assert_string_equal(st_code(&r), "SESSION_INVALID");
    assert_string_equal(st_eparam(&r, 0), "OpaqueRef:nope");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.get_record", f.sess, "OpaqueRef:bad", NULL);
    assert_string_equal(st_code(&r), "HANDLE_INVALID");
    assert_string_equal(st_eparam(&r, 0), "VM");
    assert_string_equal(st_eparam(&r, 1), "OpaqueRef:bad");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "session.login_with_password", "root", "wrong", NULL);
    assert_string_equal(st_code(&r), "SESSION_AUTHENTICATION_FAILED");
    assert_string_equal(st_eparam(&r, 0), "root");
    xapi_response_cleanup(&r);
    /* login takes 2 to 4 arguments; trailing extra ones are ignored as in xapi */
    r = st_call(f.s, f.addr, "session.login_with_password", "root", "xenroot", "1.0", "o", "x",
                NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "session.login_with_password", "root", NULL);
    assert_string_equal(st_code(&r), "MESSAGE_PARAMETER_COUNT_MISMATCH");
    assert_string_equal(st_eparam(&r, 1), "2");
    assert_string_equal(st_eparam(&r, 2), "1");
    xapi_response_cleanup(&r);
    const char *h3 = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-3", 0);
    r = st_call(f.s, f.addr, "host.disable", f.sess, h3, "true", NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.enable", f.sess, h3, "x", NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    /* class_method spelling and get_by_uuid's UUID_INVALID */
    r = st_call(f.s, f.addr, "host_get_all", f.sess, NULL);
    assert_true(r.ok);
    assert_int_equal(xapi_array_len(r.value), 3);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.get_by_uuid", f.sess, "00000000-0000-4000-8000-000000000000",
                NULL);
    assert_string_equal(st_code(&r), "UUID_INVALID");
    xapi_response_cleanup(&r);
    /* HOST_IS_SLAVE with the master's address */
    char slave[64];
    str_lcpy(slave, sim_host_address(f.s, 1), sizeof(slave));
    r = st_call(f.s, slave, "session.login_with_password", "root", "xenroot", NULL);
    assert_string_equal(st_code(&r), "HOST_IS_SLAVE");
    assert_string_equal(st_eparam(&r, 0), f.addr);
    xapi_response_cleanup(&r);
    /* unknown address: a transport failure, not an XAPI error */
    r = st_call(f.s, "127.0.0.99", "session.login_with_password", "root", "xenroot", NULL);
    assert_string_equal(st_code(&r), "TRANSPORT");
    xapi_response_cleanup(&r);
    /* system.listMethods */
    r = st_call(f.s, f.addr, "system.listMethods", NULL);
    assert_true(r.ok);
    bool has = false, has_async = false;
    for (size_t i = 0; i < xapi_array_len(r.value); i++) {
        const char *m = xapi_value_str(xapi_array_get(r.value, i));
        has = has || strcmp(m, "VM.pool_migrate") == 0;
        has_async = has_async || strcmp(m, "Async.host.evacuate") == 0;
    }
    assert_true(has && !has_async); /* gen_server.ml lists the synchronous names only */
    xapi_response_cleanup(&r);
    /* set_ / add_to_ / remove_from_ and MAP_DUPLICATE_KEY */
    const char *vm = st_ref_by_name(f.s, f.addr, f.sess, "VM", "web-1", 1);
    r = st_call(f.s, f.addr, "VM.add_to_other_config", f.sess, vm, "k", "v", NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.add_to_other_config", f.sess, vm, "k", "w", NULL);
    assert_string_equal(st_code(&r), "MAP_DUPLICATE_KEY");
    xapi_response_cleanup(&r);
    char *k = other_config(&f, "VM", vm, "k");
    assert_string_equal(k, "v");
    free(k);
    r = st_call(f.s, f.addr, "VM.remove_from_other_config", f.sess, vm, "k", NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.set_name_label", f.sess, vm, "web-one", NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    char *nl = fstr_of(&f, "VM", vm, "name_label");
    assert_string_equal(nl, "web-one");
    free(nl);
    /* read-only fields have no setter */
    r = st_call(f.s, f.addr, "VM.set_power_state", f.sess, vm, "Halted", NULL);
    assert_string_equal(st_code(&r), "MESSAGE_METHOD_UNKNOWN");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "session.logout", f.sess, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool.get_all", f.sess, NULL);
    assert_string_equal(st_code(&r), "SESSION_INVALID");
    xapi_response_cleanup(&r);
    sim_free(f.s);
}

/* ---- timing ---- */

static void test_reboot_timing(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    const char *h = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-3", 0);
    const char *vm = st_ref_by_name(f.s, f.addr, f.sess, "VM", "cache-1", 1);
    char *boot0 = other_config(&f, "host", h, "boot_time");
    struct xapi_response r = st_call(f.s, f.addr, "host.reboot", f.sess, h, NULL);
    assert_string_equal(st_code(&r), "HOST_NOT_DISABLED");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.disable", f.sess, h, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    int64_t t0 = now_ms(f.s);
    r = st_call(f.s, f.addr, "host.reboot", f.sess, h, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    char *metrics = fstr_of(&f, "host", h, "metrics");
    assert_false(fbool_of(&f, "host_metrics", metrics, "live"));
    /* the VM left on the host was stopped by the reboot */
    char *ps = fstr_of(&f, "VM", vm, "power_state");
    assert_string_equal(ps, "Halted");
    free(ps);
    /* unreachable while down */
    r = st_call(f.s, sim_host_address(f.s, 2), "session.login_with_password", "root", "xenroot",
                NULL);
    assert_string_equal(st_code(&r), "TRANSPORT");
    xapi_response_cleanup(&r);
    assert_true(sim_next_deadline(f.s) == t0 + 180000);
    sim_run_until(f.s, t0 + 179999);
    assert_false(fbool_of(&f, "host_metrics", metrics, "live"));
    sim_run_until(f.s, t0 + 180000);
    assert_true(fbool_of(&f, "host_metrics", metrics, "live"));
    assert_false(fbool_of(&f, "host", h, "enabled"));
    struct xapi_value *pbds = st_field(f.s, f.addr, f.sess, "host", h, "PBDs");
    assert_true(xapi_array_len(pbds) > 0);
    const char *pbd0 = xapi_value_str(xapi_array_get(pbds, 0));
    assert_true(fbool_of(&f, "PBD", pbd0, "currently_attached"));
    r = st_call(f.s, f.addr, "PBD.unplug", f.sess, pbd0, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    assert_false(fbool_of(&f, "PBD", pbd0, "currently_attached"));
    r = st_call(f.s, f.addr, "PBD.plug", f.sess, pbd0, NULL);
    xapi_response_cleanup(&r);
    xapi_value_free(pbds);
    char *boot1 = other_config(&f, "host", h, "boot_time");
    char *agent1 = other_config(&f, "host", h, "agent_start_time");
    char expect[32];
    snprintf(expect, sizeof(expect), "%lld.", (long long)((t0 + 180000) / 1000));
    assert_string_not_equal(boot0, boot1);
    assert_string_equal(boot1, expect);
    assert_string_equal(agent1, expect);
    r = st_call(f.s, f.addr, "host.enable", f.sess, h, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    /* toolstack restart: agent_start_time moves, boot_time does not */
    int64_t t1 = now_ms(f.s) + 5000;
    sim_run_until(f.s, t1);
    r = st_call(f.s, f.addr, "host.restart_agent", f.sess, h, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    assert_true(sim_next_deadline(f.s) == t1 + 30000);
    sim_run_until(f.s, t1 + 30000);
    char *agent2 = other_config(&f, "host", h, "agent_start_time");
    char *boot2 = other_config(&f, "host", h, "boot_time");
    snprintf(expect, sizeof(expect), "%lld.", (long long)((t1 + 30000) / 1000));
    assert_string_equal(agent2, expect);
    assert_string_equal(boot2, boot1);
    assert_true(fbool_of(&f, "host_metrics", metrics, "live"));
    json_t *st = sim_state_json(f.s);
    json_t *counters = json_object_get(st, "counters");
    assert_int_equal(json_integer_value(json_object_get(counters, "reboots")), 1);
    assert_int_equal(json_integer_value(json_object_get(counters, "toolstack_restarts")), 1);
    json_decref(st);
    free(boot0);
    free(boot1);
    free(boot2);
    free(agent1);
    free(agent2);
    free(metrics);
    sim_free(f.s);
}

static void test_master_restart_invalidates_sessions(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    const char *h = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-1", 0);
    struct xapi_response r = st_call(f.s, f.addr, "host.restart_agent", f.sess, h, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool.get_all", f.sess, NULL);
    assert_string_equal(st_code(&r), "TRANSPORT");
    xapi_response_cleanup(&r);
    sim_run_until(f.s, sim_next_deadline(f.s));
    r = st_call(f.s, f.addr, "pool.get_all", f.sess, NULL);
    assert_string_equal(st_code(&r), "SESSION_INVALID");
    xapi_response_cleanup(&r);
    sim_free(f.s);
}

static void test_migration_timing(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    const char *vm = st_ref_by_name(f.s, f.addr, f.sess, "VM", "db-1", 0);
    const char *dst = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-2", 1);
    struct xapi_value *opts = xapi_value_new_struct();
    xapi_struct_set_string(opts, "live", "true");
    struct xapi_value *p = st_params(f.sess, vm, dst, NULL);
    xapi_array_append_take(p, opts);
    int64_t t0 = now_ms(f.s);
    struct xapi_response r = st_callv(f.s, f.addr, "Async.VM.pool_migrate", p);
    assert_true(r.ok);
    char task[96];
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    char *st = fstr_of(&f, "task", task, "status");
    assert_string_equal(st, "pending");
    free(st);
    /* the VM shows the operation; a second migration is refused with its params */
    p = st_params(f.sess, vm, dst, NULL);
    xapi_array_append_take(p, xapi_value_new_struct());
    r = st_callv(f.s, f.addr, "VM.pool_migrate", p);
    assert_string_equal(st_code(&r), "OTHER_OPERATION_IN_PROGRESS");
    assert_string_equal(st_eparam(&r, 0), "VM");
    assert_string_equal(st_eparam(&r, 1), vm);
    assert_string_equal(st_eparam(&r, 2), "pool_migrate");
    assert_string_equal(st_eparam(&r, 3), task);
    xapi_response_cleanup(&r);
    /* 16 GiB at 512 MiB/s = 32 s, plus 2 s overhead; progress in quarters on the way */
    char *sched_on = fstr_of(&f, "VM", vm, "scheduled_to_be_resident_on");
    assert_string_equal(sched_on, dst);
    free(sched_on);
    sim_run_until(f.s, t0 + 17000);
    struct xapi_value *half = st_field(f.s, f.addr, f.sess, "task", task, "progress");
    assert_true(half->type == XAPI_DOUBLE && half->u.d == 0.5);
    xapi_value_free(half);
    sim_run_until(f.s, t0 + 33999);
    char *res = fstr_of(&f, "VM", vm, "resident_on");
    assert_string_not_equal(res, dst);
    free(res);
    sim_run_until(f.s, t0 + 34000);
    res = fstr_of(&f, "VM", vm, "resident_on");
    assert_string_equal(res, dst);
    free(res);
    st = fstr_of(&f, "task", task, "status");
    assert_string_equal(st, "success");
    free(st);
    char *result = fstr_of(&f, "task", task, "result");
    assert_string_equal(result, "<value></value>");
    free(result);
    struct xapi_value *prog = st_field(f.s, f.addr, f.sess, "task", task, "progress");
    assert_true(prog->type == XAPI_DOUBLE && prog->u.d == 1.0);
    xapi_value_free(prog);
    r = st_call(f.s, f.addr, "task.destroy", f.sess, task, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "task.get_status", f.sess, task, NULL);
    assert_string_equal(st_code(&r), "HANDLE_INVALID");
    xapi_response_cleanup(&r);
    /* the source reboots under a migration: the VM stops and the migration fails */
    const char *web1 = st_ref_by_name(f.s, f.addr, f.sess, "VM", "web-1", 2);
    const char *h1 = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-1", 3);
    p = st_params(f.sess, web1, dst, NULL);
    xapi_array_append_take(p, xapi_value_new_struct());
    r = st_callv(f.s, f.addr, "Async.VM.pool_migrate", p);
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.disable", f.sess, h1, NULL);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.reboot", f.sess, h1, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    sim_run_until(f.s, now_ms(f.s) + 600000);
    f.sess = st_login(f.s, 0, f.addr, sizeof(f.addr));
    st = fstr_of(&f, "task", task, "status");
    assert_string_equal(st, "failure");
    free(st);
    char *ps = fstr_of(&f, "VM", web1, "power_state");
    assert_string_equal(ps, "Halted");
    free(ps);
    /* errors: power state, memory */
    const char *halted = st_ref_by_name(f.s, f.addr, f.sess, "VM", "build-1", 2);
    p = st_params(f.sess, halted, dst, NULL);
    xapi_array_append_take(p, xapi_value_new_struct());
    r = st_callv(f.s, f.addr, "VM.pool_migrate", p);
    assert_string_equal(st_code(&r), "VM_BAD_POWER_STATE");
    assert_string_equal(st_eparam(&r, 0), halted);
    assert_string_equal(st_eparam(&r, 1), "running");
    assert_string_equal(st_eparam(&r, 2), "halted");
    xapi_response_cleanup(&r);
    sim_free(f.s);
}

static void test_parallel_migrations_queue(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "bench-16.json");
    /* 4 migrations off one host with 3 slots: the 4th starts when the first ends */
    char tasks[4][96];
    int64_t t0 = now_ms(f.s);
    const char *dst = st_ref_by_name(f.s, f.addr, f.sess, "host", "bench-02", 0);
    const char *names[4] = {"bench-vm-001", "bench-vm-017", "bench-vm-033", "bench-vm-049"};
    for (int i = 0; i < 4; i++) {
        const char *vm = st_ref_by_name(f.s, f.addr, f.sess, "VM", names[i], 1);
        struct xapi_value *p = st_params(f.sess, vm, dst, NULL);
        xapi_array_append_take(p, xapi_value_new_struct());
        struct xapi_response r = st_callv(f.s, f.addr, "Async.VM.pool_migrate", p);
        if (!r.ok)
            fail_msg("migrate %s: %s %s", names[i], st_code(&r), st_eparam(&r, 0));
        str_lcpy(tasks[i], st_str(&r), sizeof(tasks[i]));
        xapi_response_cleanup(&r);
    }
    /* 9216 MiB at 1000 MiB/s = 9.216 s + 2 s */
    int64_t one = 2000 + 9216;
    sim_run_until(f.s, t0 + one - 1);
    char *st0 = fstr_of(&f, "task", tasks[0], "status");
    assert_string_equal(st0, "pending");
    free(st0);
    sim_run_until(f.s, t0 + one);
    char *st = fstr_of(&f, "task", tasks[2], "status");
    assert_string_equal(st, "success");
    free(st);
    st = fstr_of(&f, "task", tasks[3], "status");
    assert_string_equal(st, "pending");
    free(st);
    sim_run_until(f.s, t0 + 2 * one);
    st = fstr_of(&f, "task", tasks[3], "status");
    assert_string_equal(st, "success");
    free(st);
    /* the 4th waited for its source's slots (the destination's were freed at the same time) */
    json_t *js = sim_state_json(f.s);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(js, "counters"),
                                                        "migrations_waited_destination")),
                     0);
    json_decref(js);
    sim_free(f.s);
}

/* 4 migrations from 4 hosts into one with 3 slots: the 4th waits for the destination and is
 * counted in /sim/state's migrations_waited_destination. */
static void test_migrations_wait_destination(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "bench-16.json");
    const char *dst = st_ref_by_name(f.s, f.addr, f.sess, "host", "bench-05", 0);
    const char *names[4] = {"bench-vm-001", "bench-vm-002", "bench-vm-003", "bench-vm-004"};
    char last[96] = "";
    int64_t t0 = now_ms(f.s);
    for (int i = 0; i < 4; i++) {
        const char *vm = st_ref_by_name(f.s, f.addr, f.sess, "VM", names[i], 1);
        struct xapi_value *p = st_params(f.sess, vm, dst, NULL);
        xapi_array_append_take(p, xapi_value_new_struct());
        struct xapi_response r = st_callv(f.s, f.addr, "Async.VM.pool_migrate", p);
        if (!r.ok)
            fail_msg("migrate %s: %s %s", names[i], st_code(&r), st_eparam(&r, 0));
        str_lcpy(last, st_str(&r), sizeof(last));
        xapi_response_cleanup(&r);
    }
    json_t *js = sim_state_json(f.s);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(js, "counters"),
                                                        "migrations_waited_destination")),
                     1);
    json_decref(js);
    sim_run_until(f.s, t0 + 2000 + 9216); /* the first three landed; the 4th only started */
    char *st = fstr_of(&f, "task", last, "status");
    assert_string_equal(st, "pending");
    free(st);
    sim_free(f.s);
}

/* ---- evacuation ---- */

static void test_evacuate(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "demo.json");
    const char *h2 = st_ref_by_name(f.s, f.addr, f.sess, "host", "prod-2", 0);
    const char *local_vm = st_ref_by_name(f.s, f.addr, f.sess, "VM", "build-cache", 1);
    struct xapi_response r =
        st_call(f.s, f.addr, "host.get_vms_which_prevent_evacuation", f.sess, h2, NULL);
    assert_true(r.ok);
    assert_int_equal(r.value->u.st.n, 1);
    const struct xapi_value *why = xapi_struct_get(r.value, local_vm);
    assert_non_null(why);
    assert_string_equal(xapi_value_str(xapi_array_get(why, 0)), "VM_REQUIRES_SR");
    assert_string_equal(xapi_value_str(xapi_array_get(why, 1)), local_vm);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.assert_can_evacuate", f.sess, h2, NULL);
    assert_string_equal(st_code(&r), "CANNOT_EVACUATE_HOST");
    assert_true(str_has_prefix(st_eparam(&r, 0), "VM_REQUIRES_SR,"));
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.evacuate", f.sess, h2, NULL);
    assert_string_equal(st_code(&r), "VM_REQUIRES_SR");
    xapi_response_cleanup(&r);
    /* prod-1 evacuates: largest VM to the host with most free memory */
    const char *h1 = st_ref_by_name(f.s, f.addr, f.sess, "host", "prod-1", 2);
    r = st_call(f.s, f.addr, "host.assert_can_evacuate", f.sess, h1, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.disable", f.sess, h1, NULL);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "Async.host.evacuate", f.sess, h1, NULL);
    assert_true(r.ok);
    char task[96];
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.evacuate", f.sess, h1, NULL);
    assert_string_equal(st_code(&r), "OTHER_OPERATION_IN_PROGRESS");
    assert_string_equal(st_eparam(&r, 0), "host");
    assert_string_equal(st_eparam(&r, 2), "evacuate");
    assert_string_equal(st_eparam(&r, 3), task);
    xapi_response_cleanup(&r);
    char *st = run_task(&f, task);
    assert_string_equal(st, "success");
    free(st);
    struct xapi_value *rv = st_field(f.s, f.addr, f.sess, "host", h1, "resident_VMs");
    assert_int_equal(xapi_array_len(rv), 1); /* only the control domain */
    xapi_value_free(rv);
    const char *erp = st_ref_by_name(f.s, f.addr, f.sess, "VM", "erp-db", 3);
    char *res = fstr_of(&f, "VM", erp, "resident_on");
    /* prod-3 had the most free memory (20 GiB of guests vs 48 / 24 on prod-2 / prod-4) */
    char *name = fstr_of(&f, "host", res, "name_label");
    assert_string_equal(name, "prod-3");
    free(name);
    free(res);
    json_t *js = sim_state_json(f.s);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(js, "counters"), "migrations")), 2);
    json_decref(js);
    /* free memory is what compute_free_memory says */
    const char *h4 = st_ref_by_name(f.s, f.addr, f.sess, "host", "prod-4", 0);
    r = st_call(f.s, f.addr, "host.compute_free_memory", f.sess, h4, NULL);
    assert_true(r.ok && r.value->type == XAPI_INT && r.value->u.i > 0);
    xapi_response_cleanup(&r);
    sim_free(f.s);
}

/* ---- updates ---- */

static const char update_xml[] =
    "<?xml version=\"1.0\"?>\n<update uuid=\"6b1e1a2c-3f55-4b8e-9a7d-2c4b8e1f0a11\" "
    "name-label=\"XS82ECU1010\" name-description=\"security fix\" version=\"1.0\" "
    "installation-size=\"2097152\" after-apply-guidance=\"restartHost\" livepatch=\"%s\" "
    "build-number=\"release/yangtze/master/99\"/>";

static char *upload(struct fx *f, const char *xml, size_t pad)
{
    struct xapi_response r = st_call(f->s, f->addr, "task.create", f->sess, "upload", "", NULL);
    assert_true(r.ok);
    char task[96], q[512];
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    const char *sr = st_ref_by_name(f->s, f->addr, f->sess, "SR", "nfs-shared", 3);
    snprintf(q, sizeof(q), "/import_raw_vdi?session_id=%s&sr_id=%s&task_id=%s", f->sess, sr, task);
    size_t n = strlen(xml) + 1 + pad;
    char *body = calloc(1, n);
    memcpy(body, xml, strlen(xml));
    struct err e;
    err_clear(&e);
    int64_t t0 = now_ms(f->s);
    int rc = sim_put(f->s, f->addr, q, body, n, &e);
    free(body);
    if (rc != 0)
        fail_msg("put: %s", e.msg);
    /* 100 MiB/s: the task completes after bytes / bandwidth */
    int64_t expect = (int64_t)((double)n * 1000.0 / (100.0 * 1024 * 1024));
    if (expect > 0 && sim_next_deadline(f->s) != t0 + expect)
        fail_msg("upload deadline %lld, expected %lld", (long long)sim_next_deadline(f->s),
                 (long long)(t0 + expect));
    char *st = run_task(f, task);
    assert_string_equal(st, "success");
    free(st);
    char *res = fstr_of(f, "task", task, "result");
    assert_true(str_has_prefix(res, "<value>OpaqueRef:"));
    char *vdi = strndup(res + 7, strlen(res) - 7 - 8);
    free(res);
    return vdi;
}

static void test_update_flow(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    char xml[1024];
    snprintf(xml, sizeof(xml), update_xml, "false");
    char *vdi = upload(&f, xml, 50u << 20);
    struct xapi_response r = st_call(f.s, f.addr, "pool_update.introduce", f.sess, vdi, NULL);
    assert_true(r.ok);
    char upd[96];
    str_lcpy(upd, st_str(&r), sizeof(upd));
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool_update.introduce", f.sess, vdi, NULL);
    assert_string_equal(st_code(&r), "UPDATE_ALREADY_EXISTS");
    assert_string_equal(st_eparam(&r, 0), "6b1e1a2c-3f55-4b8e-9a7d-2c4b8e1f0a11");
    xapi_response_cleanup(&r);
    struct xapi_value *rec = st_field(f.s, f.addr, f.sess, "pool_update", upd, "record");
    assert_string_equal(xapi_struct_str(rec, "name_label", ""), "XS82ECU1010");
    assert_string_equal(xapi_struct_str(rec, "uuid", ""), "6b1e1a2c-3f55-4b8e-9a7d-2c4b8e1f0a11");
    assert_int_equal(xapi_struct_int(rec, "installation_size", 0), 2097152);
    assert_string_equal(
        xapi_value_str(xapi_array_get(xapi_struct_get(rec, "after_apply_guidance"), 0)),
        "restartHost");
    assert_string_equal(xapi_struct_str(rec, "vdi", ""), vdi);
    xapi_value_free(rec);
    const char *h1 = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-1", 0);
    r = st_call(f.s, f.addr, "pool_update.precheck", f.sess, upd, h1, NULL);
    assert_true(r.ok);
    assert_string_equal(st_str(&r), "ok");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "Async.pool_update.apply", f.sess, upd, h1, NULL);
    assert_true(r.ok);
    char task[96];
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    int64_t t0 = now_ms(f.s);
    assert_true(sim_next_deadline(f.s) == t0 + 60000);
    char *st = run_task(&f, task);
    assert_string_equal(st, "success");
    free(st);
    struct xapi_value *urr = st_field(f.s, f.addr, f.sess, "host", h1, "updates_requiring_reboot");
    assert_int_equal(xapi_array_len(urr), 1);
    xapi_value_free(urr);
    r = st_call(f.s, f.addr, "pool_update.apply", f.sess, upd, h1, NULL);
    assert_string_equal(st_code(&r), "UPDATE_ALREADY_APPLIED");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool_update.precheck", f.sess, upd, h1, NULL);
    assert_string_equal(st_code(&r), "UPDATE_ALREADY_APPLIED");
    xapi_response_cleanup(&r);
    /* a reboot clears updates_requiring_reboot and takes the new build */
    r = st_call(f.s, f.addr, "host.disable", f.sess, h1, NULL);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.reboot", f.sess, h1, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    sim_run_until(f.s, now_ms(f.s) + 180000); /* the coordinator's reboot */
    f.sess = st_login(f.s, 0, f.addr, sizeof(f.addr));
    urr = st_field(f.s, f.addr, f.sess, "host", h1, "updates_requiring_reboot");
    assert_int_equal(xapi_array_len(urr), 0);
    xapi_value_free(urr);
    struct xapi_value *sw = st_field(f.s, f.addr, f.sess, "host", h1, "software_version");
    assert_string_equal(xapi_struct_str(sw, "build_number", ""), "release/yangtze/master/99");
    xapi_value_free(sw);
    /* pool_apply does the rest; destroy refuses while applied; pool_clean drops the VDI */
    r = st_call(f.s, f.addr, "pool_update.pool_apply", f.sess, upd, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    struct xapi_value *hosts = st_field(f.s, f.addr, f.sess, "pool_update", upd, "hosts");
    assert_int_equal(xapi_array_len(hosts), 3);
    xapi_value_free(hosts);
    r = st_call(f.s, f.addr, "pool_update.pool_apply", f.sess, upd, NULL);
    assert_string_equal(st_code(&r), "UPDATE_ALREADY_APPLIED_IN_POOL");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool_update.destroy", f.sess, upd, NULL);
    assert_string_equal(st_code(&r), "UPDATE_IS_APPLIED");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool_update.pool_clean", f.sess, upd, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VDI.get_record", f.sess, vdi, NULL);
    assert_string_equal(st_code(&r), "HANDLE_INVALID");
    xapi_response_cleanup(&r);
    free(vdi);
    /* a bad image */
    vdi = upload(&f, "<update name-label=\"x\"/>", 0);
    r = st_call(f.s, f.addr, "pool_update.introduce", f.sess, vdi, NULL);
    assert_string_equal(st_code(&r), "INVALID_UPDATE");
    assert_true(strstr(st_eparam(&r, 0), "uuid") != NULL);
    xapi_response_cleanup(&r);
    free(vdi);
    vdi = upload(&f, "<update uuid=", 0);
    r = st_call(f.s, f.addr, "pool_update.introduce", f.sess, vdi, NULL);
    assert_string_equal(st_code(&r), "INVALID_UPDATE");
    assert_true(strstr(st_eparam(&r, 0), "well-formed") != NULL);
    xapi_response_cleanup(&r);
    free(vdi);
    sim_free(f.s);
}

/* Mutated update images: introduce answers a result or INVALID_UPDATE, never crashes. */
static void test_update_images_untrusted(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    char xml[1024];
    snprintf(xml, sizeof(xml), update_xml, "true");
    struct rng r;
    rng_seed(&r, 99);
    const char *sr = st_ref_by_name(f.s, f.addr, f.sess, "SR", "nfs-shared", 3);
    char q[512];
    snprintf(q, sizeof(q), "/import_raw_vdi?session_id=%s&sr_id=%s", f.sess, sr);
    int ok = 0, invalid = 0;
    for (int i = 0; i < 300; i++) {
        char body[1100];
        size_t n = strlen(xml);
        memcpy(body, xml, n);
        for (int k = 0; k < 1 + (int)rng_below(&r, 4); k++)
            body[rng_below(&r, n)] = (char)rng_below(&r, 256);
        if (rng_below(&r, 4) == 0)
            n = rng_below(&r, n + 1);
        struct err e;
        err_clear(&e);
        assert_int_equal(sim_put(f.s, f.addr, q, body, n, &e), 0);
        /* the newest VDI of the SR is the one just uploaded */
        struct xapi_value *vdis = st_field(f.s, f.addr, f.sess, "SR", sr, "VDIs");
        const char *vdi = xapi_value_str(xapi_array_get(vdis, xapi_array_len(vdis) - 1));
        struct xapi_response resp =
            st_call(f.s, f.addr, "pool_update.introduce", f.sess, vdi, NULL);
        if (resp.ok) {
            ok++;
            struct xapi_response d =
                st_call(f.s, f.addr, "pool_update.destroy", f.sess, st_str(&resp), NULL);
            assert_true(d.ok);
            xapi_response_cleanup(&d);
        } else {
            assert_string_equal(st_code(&resp), "INVALID_UPDATE");
            assert_true(strlen(st_eparam(&resp, 0)) > 0);
            invalid++;
        }
        xapi_response_cleanup(&resp);
        xapi_value_free(vdis);
    }
    assert_true(invalid > 100);
    assert_true(ok > 0);
    sim_free(f.s);
}

static void test_livepatch(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    char xml[1024];
    snprintf(xml, sizeof(xml), update_xml, "true");
    char *vdi = upload(&f, xml, 0);
    struct xapi_response r = st_call(f.s, f.addr, "pool_update.introduce", f.sess, vdi, NULL);
    char upd[96];
    str_lcpy(upd, st_str(&r), sizeof(upd));
    xapi_response_cleanup(&r);
    json_t *fault = json_pack("{s:s,s:s}", "type", "livepatch_fails", "host", "small-2");
    struct err e;
    err_clear(&e);
    assert_int_equal(sim_fault_apply(f.s, fault, &e), 0);
    json_decref(fault);
    const char *h1 = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-1", 0);
    const char *h2 = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-2", 1);
    r = st_call(f.s, f.addr, "pool_update.precheck", f.sess, upd, h1, NULL);
    assert_string_equal(st_str(&r), "ok_livepatch_complete");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool_update.precheck", f.sess, upd, h2, NULL);
    assert_string_equal(st_str(&r), "ok");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool_update.apply", f.sess, upd, h1, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool_update.apply", f.sess, upd, h2, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    struct xapi_value *u1 = st_field(f.s, f.addr, f.sess, "host", h1, "updates_requiring_reboot");
    struct xapi_value *u2 = st_field(f.s, f.addr, f.sess, "host", h2, "updates_requiring_reboot");
    assert_int_equal(xapi_array_len(u1), 0);
    assert_int_equal(xapi_array_len(u2), 1);
    xapi_value_free(u1);
    xapi_value_free(u2);
    free(vdi);
    sim_free(f.s);
}

/* ---- faults ---- */

static void add_fault(struct sim *s, const char *json)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    assert_non_null(j);
    struct err e;
    err_clear(&e);
    int rc = sim_fault_apply(s, j, &e);
    if (rc)
        fail_msg("fault %s: %s", json, e.msg);
    json_decref(j);
}

static void test_faults(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    const char *h1 = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-1", 0);
    const char *h2 = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-2", 1);
    const char *h3 = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-3", 2);
    const char *vm = st_ref_by_name(f.s, f.addr, f.sess, "VM", "web-1", 3);
    /* migration fails once */
    add_fault(f.s, "{\"type\":\"migration_fails\",\"vm\":\"web-1\",\"count\":1}");
    struct xapi_value *p = st_params(f.sess, vm, h2, NULL);
    xapi_array_append_take(p, xapi_value_new_struct());
    struct xapi_response r = st_callv(f.s, f.addr, "VM.pool_migrate", p);
    assert_string_equal(st_code(&r), "VM_MIGRATE_FAILED");
    assert_string_equal(st_eparam(&r, 0), vm);
    assert_string_equal(st_eparam(&r, 1), h1);
    assert_string_equal(st_eparam(&r, 2), h2);
    xapi_response_cleanup(&r);
    p = st_params(f.sess, vm, h2, NULL);
    xapi_array_append_take(p, xapi_value_new_struct());
    r = st_callv(f.s, f.addr, "VM.pool_migrate", p);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    /* precheck fails with a given code and params */
    add_fault(f.s, "{\"type\":\"precheck_fails\",\"host\":\"small-3\",\"code\":"
                   "\"UPDATE_PRECHECK_FAILED_WRONG_SERVER_VERSION\",\"params\":[\"u\",\"8.2.0\","
                   "\"8.2.1\"]}");
    r = st_call(f.s, f.addr, "pool_update.get_all", f.sess, NULL);
    char upd[96];
    str_lcpy(upd, xapi_value_str(xapi_array_get(r.value, 0)), sizeof(upd));
    xapi_response_cleanup(&r);
    /* the scenario's update is applied everywhere: introduce a fresh one */
    char xml[1024];
    snprintf(xml, sizeof(xml), update_xml, "false");
    char *vdi = upload(&f, xml, 0);
    r = st_call(f.s, f.addr, "pool_update.introduce", f.sess, vdi, NULL);
    str_lcpy(upd, st_str(&r), sizeof(upd));
    xapi_response_cleanup(&r);
    free(vdi);
    r = st_call(f.s, f.addr, "pool_update.precheck", f.sess, upd, h3, NULL);
    assert_string_equal(st_code(&r), "UPDATE_PRECHECK_FAILED_WRONG_SERVER_VERSION");
    assert_string_equal(st_eparam(&r, 1), "8.2.0");
    assert_string_equal(st_eparam(&r, 2), "8.2.1");
    xapi_response_cleanup(&r);
    /* apply fails */
    add_fault(f.s, "{\"type\":\"apply_fails\",\"host\":\"small-2\",\"count\":1}");
    r = st_call(f.s, f.addr, "pool_update.apply", f.sess, upd, h2, NULL);
    assert_string_equal(st_code(&r), "UPDATE_APPLY_FAILED");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool_update.apply", f.sess, upd, h2, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    /* SR full refuses uploads */
    add_fault(f.s, "{\"type\":\"sr_full\",\"sr\":\"nfs-shared\"}");
    const char *sr = st_ref_by_name(f.s, f.addr, f.sess, "SR", "nfs-shared", 3);
    char q[512];
    snprintf(q, sizeof(q), "/import_raw_vdi?session_id=%s&sr_id=%s", f.sess, sr);
    struct err e;
    err_clear(&e);
    assert_int_equal(sim_put(f.s, f.addr, q, "x", 1, &e), PP_EXAPI);
    assert_string_equal(e.xapi_code, "SR_BACKEND_FAILURE_44");
    /* a host that returns on the old version, one that never returns */
    add_fault(f.s, "{\"type\":\"returns_old_version\",\"host\":\"small-2\"}");
    add_fault(f.s, "{\"type\":\"reboot_never_returns\",\"host\":\"small-3\"}");
    const char *hs[2] = {h2, h3};
    for (int i = 0; i < 2; i++) {
        r = st_call(f.s, f.addr, "host.disable", f.sess, hs[i], NULL);
        xapi_response_cleanup(&r);
        r = st_call(f.s, f.addr, "host.reboot", f.sess, hs[i], NULL);
        assert_true(r.ok);
        xapi_response_cleanup(&r);
    }
    sim_run_until(f.s, now_ms(f.s) + 24 * 3600 * 1000LL);
    struct xapi_value *sw = st_field(f.s, f.addr, f.sess, "host", h2, "software_version");
    assert_string_equal(xapi_struct_str(sw, "build_number", ""), "release/yangtze/master/58");
    xapi_value_free(sw);
    json_t *js = sim_state_json(f.s);
    json_t *hosts = json_object_get(json_array_get(json_object_get(js, "pools"), 0), "hosts");
    assert_true(json_is_true(json_object_get(json_array_get(hosts, 1), "live")));
    assert_true(json_is_false(json_object_get(json_array_get(hosts, 2), "live")));
    json_decref(js);
    /* the host that never came back can be forgotten */
    r = st_call(f.s, f.addr, "host.destroy", f.sess, h3, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.get_all", f.sess, NULL);
    assert_int_equal(xapi_array_len(r.value), 2);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "PBD.get_all_records", f.sess, NULL);
    for (size_t i = 0; i < r.value->u.st.n; i++)
        assert_string_not_equal(xapi_struct_str(r.value->u.st.vals[i], "host", ""), h3);
    xapi_response_cleanup(&r);
    r = st_call(f.s, sim_host_address(f.s, 2), "session.login_with_password", "root", "xenroot",
                NULL);
    assert_string_equal(st_code(&r), "TRANSPORT");
    xapi_response_cleanup(&r);
    /* clear removes faults; bad fault documents name the field */
    add_fault(f.s, "{\"type\":\"clear\"}");
    json_t *bad = json_pack("{s:s,s:s}", "type", "migration_fails", "hots", "x");
    err_clear(&e);
    assert_int_equal(sim_fault_apply(f.s, bad, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "hots"));
    json_decref(bad);
    sim_free(f.s);
}

static void test_partition_and_emergency(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    char slave[64];
    str_lcpy(slave, sim_host_address(f.s, 1), sizeof(slave));
    add_fault(f.s, "{\"type\":\"partition\",\"pool\":\"small-pool\"}");
    struct xapi_response r = st_call(f.s, f.addr, "pool.get_all", f.sess, NULL);
    assert_string_equal(st_code(&r), "TRANSPORT");
    xapi_response_cleanup(&r);
    /* before the supporters give up: HOST_IS_SLAVE */
    r = st_call(f.s, slave, "session.login_with_password", "root", "xenroot", NULL);
    assert_string_equal(st_code(&r), "HOST_IS_SLAVE");
    xapi_response_cleanup(&r);
    sim_run_until(f.s, now_ms(f.s) + S60);
    r = st_call(f.s, slave, "session.login_with_password", "root", "xenroot", NULL);
    assert_string_equal(st_code(&r), "HOST_STILL_BOOTING");
    xapi_response_cleanup(&r);
    /* emergency calls work: local login, transition to master, recover the others */
    r = st_call(f.s, slave, "session.slave_local_login_with_password", "root", "xenroot", NULL);
    assert_true(r.ok);
    char ls[96];
    str_lcpy(ls, st_str(&r), sizeof(ls));
    xapi_response_cleanup(&r);
    r = st_call(f.s, slave, "pool.emergency_transition_to_master", ls, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, slave, "session.login_with_password", "root", "xenroot", NULL);
    assert_true(r.ok);
    char s2[96];
    str_lcpy(s2, st_str(&r), sizeof(s2));
    xapi_response_cleanup(&r);
    r = st_call(f.s, slave, "pool.recover_slaves", s2, NULL);
    assert_true(r.ok);
    assert_int_equal(xapi_array_len(r.value), 1);
    xapi_response_cleanup(&r);
    r = st_call(f.s, sim_host_address(f.s, 2), "pool.get_all", s2, NULL);
    assert_string_equal(st_code(&r), "HOST_IS_SLAVE");
    assert_string_equal(st_eparam(&r, 0), slave);
    xapi_response_cleanup(&r);
    sim_free(f.s);
}

static void test_master_reboot_emergency_and_reconnect(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    const char *h1 = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-1", 0);
    const char *h2 = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-2", 1);
    struct xapi_response r = st_call(f.s, f.addr, "host.restart_agent", f.sess, h2, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.disable", f.sess, h1, NULL);
    xapi_response_cleanup(&r);
    int64_t t0 = now_ms(f.s);
    r = st_call(f.s, f.addr, "host.reboot", f.sess, h1, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    /* small-2's toolstack comes back while its coordinator is down: emergency mode */
    sim_run_until(f.s, t0 + 30000);
    char slave[64];
    str_lcpy(slave, sim_host_address(f.s, 1), sizeof(slave));
    r = st_call(f.s, slave, "session.login_with_password", "root", "xenroot", NULL);
    assert_string_equal(st_code(&r), "HOST_STILL_BOOTING");
    xapi_response_cleanup(&r);
    /* small-3 never restarted: it still points at the coordinator... */
    r = st_call(f.s, sim_host_address(f.s, 2), "session.login_with_password", "root", "xenroot",
                NULL);
    assert_string_equal(st_code(&r), "HOST_IS_SLAVE");
    xapi_response_cleanup(&r);
    /* ...until its connection to it times out (a minute) and its xapi restarts */
    sim_run_until(f.s, t0 + S60);
    r = st_call(f.s, sim_host_address(f.s, 2), "session.login_with_password", "root", "xenroot",
                NULL);
    assert_string_equal(st_code(&r), "HOST_STILL_BOOTING");
    xapi_response_cleanup(&r);
    /* the coordinator returns; a minute later small-2 has reconnected */
    sim_run_until(f.s, t0 + 180000);
    r = st_call(f.s, slave, "session.login_with_password", "root", "xenroot", NULL);
    assert_string_equal(st_code(&r), "HOST_STILL_BOOTING");
    xapi_response_cleanup(&r);
    sim_run_until(f.s, t0 + 180000 + S60);
    r = st_call(f.s, slave, "session.login_with_password", "root", "xenroot", NULL);
    assert_string_equal(st_code(&r), "HOST_IS_SLAVE");
    xapi_response_cleanup(&r);
    sim_free(f.s);
}

/* The supporter's emergency flag as GET /sim/state reports it. */
static bool host_in_emergency(struct sim *s, const char *name)
{
    json_t *st = sim_state_json(s);
    json_t *hosts = json_object_get(json_array_get(json_object_get(st, "pools"), 0), "hosts");
    bool em = false;
    for (size_t i = 0; i < json_array_size(hosts); i++) {
        json_t *h = json_array_get(hosts, i);
        if (strcmp(json_string_value(json_object_get(h, "name")), name) == 0)
            em = json_is_true(json_object_get(h, "emergency"));
    }
    json_decref(st);
    return em;
}

/*
 * Issue "resume that holds": reboot the coordinator, wait until it is back, then reboot a
 * supporter that has not reconnected yet (still in emergency mode).  The supporter's xapi finds
 * its coordinator as it starts and must not stay in emergency mode.
 */
static void test_supporter_reboot_before_reconnect(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    char h1[96], h2[96];
    str_lcpy(h1, st_ref_by_name(f.s, f.addr, f.sess, "host", "small-1", 0), sizeof(h1));
    str_lcpy(h2, st_ref_by_name(f.s, f.addr, f.sess, "host", "small-2", 1), sizeof(h2));
    struct xapi_response r = st_call(f.s, f.addr, "host.disable", f.sess, h1, NULL);
    xapi_response_cleanup(&r);
    int64_t t0 = now_ms(f.s);
    r = st_call(f.s, f.addr, "host.reboot", f.sess, h1, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    sim_run_until(f.s, t0 + 180000 + 1000); /* coordinator back (reboot_s 180), no reconnect yet */
    assert_true(host_in_emergency(f.s, "small-2"));
    f.sess = st_login(f.s, 0, f.addr, sizeof(f.addr));
    r = st_call(f.s, f.addr, "host.disable", f.sess, h2, NULL);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.reboot", f.sess, h2, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    sim_run_until(f.s, now_ms(f.s) + 180000 + 1000); /* small-2 rebooted */
    assert_false(host_in_emergency(f.s, "small-2"));
    r = st_call(f.s, sim_host_address(f.s, 1), "session.login_with_password", "root", "xenroot",
                NULL);
    assert_string_equal(st_code(&r), "HOST_IS_SLAVE");
    xapi_response_cleanup(&r);
    /* the other supporter reconnected on its own a minute after the coordinator returned */
    assert_false(host_in_emergency(f.s, "small-3"));
    /* a supporter that boots while its coordinator is down starts in emergency mode */
    r = st_call(f.s, f.addr, "host.disable", f.sess, h1, NULL);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.reboot", f.sess, h1, NULL);
    xapi_response_cleanup(&r);
    sim_run_until(f.s, now_ms(f.s) + S60 + 1000);
    assert_true(host_in_emergency(f.s, "small-2"));
    sim_run_until(f.s, now_ms(f.s) + 180000 + S60);
    assert_false(host_in_emergency(f.s, "small-2"));
    sim_free(f.s);
}

static void test_rolling_upgrade_detected(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    static const char xml[] = "<update uuid=\"5d0b1c55-1111-4222-8333-944455556666\" "
                              "name-label=\"XS83\" platform-version=\"3.3.0\" "
                              "product-version=\"8.3.0\" after-apply-guidance=\"restartHost\"/>";
    char *vdi = upload(&f, xml, 0);
    struct xapi_response r = st_call(f.s, f.addr, "pool_update.introduce", f.sess, vdi, NULL);
    char upd[96];
    str_lcpy(upd, st_str(&r), sizeof(upd));
    xapi_response_cleanup(&r);
    const char *h3 = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-3", 0);
    r = st_call(f.s, f.addr, "pool_update.apply", f.sess, upd, h3, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    const char *pool = NULL;
    r = st_call(f.s, f.addr, "pool.get_all", f.sess, NULL);
    pool = xapi_value_str(xapi_array_get(r.value, 0));
    char pref[96];
    str_lcpy(pref, pool, sizeof(pref));
    xapi_response_cleanup(&r);
    char *rpu = other_config(&f, "pool", pref, "rolling_upgrade_in_progress");
    assert_string_equal(rpu, "");
    free(rpu);
    r = st_call(f.s, f.addr, "host.disable", f.sess, h3, NULL);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.reboot", f.sess, h3, NULL);
    xapi_response_cleanup(&r);
    sim_run_until(f.s, sim_next_deadline(f.s));
    struct xapi_value *sw = st_field(f.s, f.addr, f.sess, "host", h3, "software_version");
    assert_string_equal(xapi_struct_str(sw, "product_version", ""), "8.3.0");
    xapi_value_free(sw);
    rpu = other_config(&f, "pool", pref, "rolling_upgrade_in_progress");
    assert_string_equal(rpu, "true");
    free(rpu);
    r = st_call(f.s, f.addr, "host.enable", f.sess, h3, NULL);
    xapi_response_cleanup(&r);
    /* no migration onto an older host; VMs start only on the newest */
    const char *h1 = st_ref_by_name(f.s, f.addr, f.sess, "host", "small-1", 1);
    const char *vm = st_ref_by_name(f.s, f.addr, f.sess, "VM", "web-1", 2);
    struct xapi_value *p = st_params(f.sess, vm, h3, NULL);
    xapi_array_append_take(p, xapi_value_new_struct());
    r = st_callv(f.s, f.addr, "VM.pool_migrate", p);
    assert_true(r.ok); /* 3.2.1 -> 3.3.0: allowed */
    xapi_response_cleanup(&r);
    p = st_params(f.sess, vm, h1, NULL);
    xapi_array_append_take(p, xapi_value_new_struct());
    r = st_callv(f.s, f.addr, "VM.pool_migrate", p);
    /* message_forwarding.ml VM.pool_migrate / start_on during a rolling upgrade */
    assert_string_equal(st_code(&r), "NOT_SUPPORTED_DURING_UPGRADE");
    xapi_response_cleanup(&r);
    const char *halted = st_ref_by_name(f.s, f.addr, f.sess, "VM", "build-1", 3);
    r = st_call(f.s, f.addr, "VM.start_on", f.sess, halted, h1, "false", "false", NULL);
    assert_string_equal(st_code(&r), "NOT_SUPPORTED_DURING_UPGRADE");
    xapi_response_cleanup(&r);
    /* xapi_vm.ml assert_can_boot_here: versions must equal the coordinator's */
    r = st_call(f.s, f.addr, "VM.assert_can_boot_here", f.sess, halted, h3, NULL);
    assert_string_equal(st_code(&r), "VM_HOST_INCOMPATIBLE_VERSION");
    assert_string_equal(st_eparam(&r, 0), h3);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.start", f.sess, halted, "false", "false", NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    char *on = fstr_of(&f, "VM", halted, "resident_on");
    assert_string_equal(on, h3);
    free(on);
    free(vdi);
    sim_free(f.s);
}

/* XenServer 8 repository updates on demo.json's lab pool. */
static void test_xs8_repository_updates(void **state)
{
    (void)state;
    struct fx f;
    f.s = st_load("demo.json", 0);
    f.sess = st_login(f.s, 1, f.addr, sizeof(f.addr)); /* lab */
    char q[256];
    snprintf(q, sizeof(q), "session_id=%s", f.sess);
    json_t *doc = NULL;
    struct err e;
    err_clear(&e);
    assert_int_equal(sim_get_updates(f.s, f.addr, q, &doc, &e), 0);
    json_t *hosts = json_object_get(doc, "hosts");
    assert_int_equal(json_array_size(hosts), 2);
    assert_int_equal(json_array_size(json_object_get(json_array_get(hosts, 0), "updates")), 2);
    assert_int_equal(json_array_size(json_object_get(doc, "updates")), 2);
    char hash[80];
    str_lcpy(hash, json_string_value(json_object_get(doc, "hash")), sizeof(hash));
    assert_int_equal(strlen(hash), 64);
    json_decref(doc);
    assert_int_equal(sim_get_updates(f.s, f.addr, "session_id=OpaqueRef:x", &doc, &e), PP_EXAPI);
    assert_string_equal(e.xapi_code, "SESSION_INVALID");
    const char *h1 = st_ref_by_name(f.s, f.addr, f.sess, "host", "lab-1", 0);
    const char *pool = NULL;
    struct xapi_response r = st_call(f.s, f.addr, "pool.get_all", f.sess, NULL);
    char pref[96];
    pool = xapi_value_str(xapi_array_get(r.value, 0));
    str_lcpy(pref, pool, sizeof(pref));
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.apply_updates", f.sess, h1, hash, NULL);
    assert_string_equal(st_code(&r), "UPDATEINFO_HASH_MISMATCH"); /* not synced yet */
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool.sync_updates", f.sess, pref, "false", "", "", NULL);
    assert_true(r.ok);
    assert_string_equal(st_str(&r), hash);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.apply_updates", f.sess, h1, hash, NULL);
    assert_string_equal(st_code(&r), "HOST_EVACUATION_IS_REQUIRED");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.disable", f.sess, h1, NULL);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.evacuate", f.sess, h1, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "Async.host.apply_updates", f.sess, h1, hash, NULL);
    assert_true(r.ok);
    char task[96];
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    char *st = run_task(&f, task);
    assert_string_equal(st, "success");
    free(st);
    struct xapi_value *pg = st_field(f.s, f.addr, f.sess, "host", h1, "pending_guidances");
    assert_int_equal(xapi_array_len(pg), 2);
    assert_string_equal(xapi_value_str(xapi_array_get(pg, 0)), "reboot_host");
    assert_string_equal(xapi_value_str(xapi_array_get(pg, 1)), "restart_toolstack");
    xapi_value_free(pg);
    char *lh = fstr_of(&f, "host", h1, "last_update_hash");
    assert_string_equal(lh, hash);
    free(lh);
    assert_int_equal(sim_get_updates(f.s, f.addr, q, &doc, &e), 0);
    assert_int_equal(json_array_size(json_object_get(
                         json_array_get(json_object_get(doc, "hosts"), 0), "updates")),
                     0);
    json_decref(doc);
    /* lab-2 has the live patch: only the toolstack restart is left to do */
    const char *h2 = st_ref_by_name(f.s, f.addr, f.sess, "host", "lab-2", 1);
    r = st_call(f.s, f.addr, "host.apply_updates", f.sess, h2, hash, NULL);
    assert_true(r.ok); /* guests may stay: no RebootHost there */
    xapi_response_cleanup(&r);
    pg = st_field(f.s, f.addr, f.sess, "host", h2, "pending_guidances");
    assert_int_equal(xapi_array_len(pg), 1);
    assert_string_equal(xapi_value_str(xapi_array_get(pg, 0)), "restart_toolstack");
    xapi_value_free(pg);
    r = st_call(f.s, f.addr, "host.restart_agent", f.sess, h2, NULL);
    xapi_response_cleanup(&r);
    sim_run_until(f.s, now_ms(f.s) + 60000);
    pg = st_field(f.s, f.addr, f.sess, "host", h2, "pending_guidances");
    assert_int_equal(xapi_array_len(pg), 0);
    xapi_value_free(pg);
    sim_free(f.s);
}

static void test_designate_new_master_and_ha(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "demo.json");
    const char *h2 = st_ref_by_name(f.s, f.addr, f.sess, "host", "prod-2", 0);
    struct xapi_response r = st_call(f.s, f.addr, "pool.designate_new_master", f.sess, h2, NULL);
    assert_string_equal(st_code(&r), "HA_IS_ENABLED");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool.disable_ha", f.sess, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool.disable_ha", f.sess, NULL);
    assert_string_equal(st_code(&r), "HA_NOT_ENABLED");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool.designate_new_master", f.sess, h2, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    char maddr[64];
    sim_pool_master_address(f.s, 0, maddr, sizeof(maddr));
    assert_string_equal(maddr, sim_host_address(f.s, 1));
    r = st_call(f.s, f.addr, "pool.get_all", f.sess, NULL);
    assert_string_equal(st_code(&r), "HOST_IS_SLAVE");
    xapi_response_cleanup(&r);
    struct xapi_value *srs = xapi_value_new_array();
    struct xapi_value *p = st_params(f.sess, NULL);
    xapi_array_append_take(p, srs);
    xapi_array_append_take(p, xapi_value_new_struct());
    r = st_callv(f.s, maddr, "pool.enable_ha", p);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    sim_free(f.s);
}

static void test_vm_power_and_cd(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "demo.json");
    const char *vm = st_ref_by_name(f.s, f.addr, f.sess, "VM", "old-crm", 0);
    struct xapi_response r =
        st_call(f.s, f.addr, "Async.VM.start", f.sess, vm, "false", "false", NULL);
    assert_true(r.ok);
    char task[96];
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    char *st = run_task(&f, task);
    assert_string_equal(st, "success");
    free(st);
    char *ps = fstr_of(&f, "VM", vm, "power_state");
    assert_string_equal(ps, "Running");
    free(ps);
    r = st_call(f.s, f.addr, "VM.suspend", f.sess, vm, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.assert_operation_valid", f.sess, vm, "start", NULL);
    assert_string_equal(st_code(&r), "VM_BAD_POWER_STATE");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.resume", f.sess, vm, "false", "false", NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.clean_shutdown", f.sess, vm, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.clean_shutdown", f.sess, vm, NULL);
    assert_string_equal(st_code(&r), "VM_BAD_POWER_STATE");
    xapi_response_cleanup(&r);
    /* start_on / resume_on: on the host given */
    const char *h3 = st_ref_by_name(f.s, f.addr, f.sess, "host", "prod-3", 3);
    r = st_call(f.s, f.addr, "VM.start_on", f.sess, vm, h3, "false", "false", NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    char *on = fstr_of(&f, "VM", vm, "resident_on");
    assert_string_equal(on, h3);
    free(on);
    r = st_call(f.s, f.addr, "VM.suspend", f.sess, vm, NULL);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.start_on", f.sess, vm, h3, "false", "false", NULL);
    assert_string_equal(st_code(&r), "VM_BAD_POWER_STATE");
    assert_string_equal(st_eparam(&r, 1), "halted");
    assert_string_equal(st_eparam(&r, 2), "suspended");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.resume_on", f.sess, vm, h3, "false", "false", NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.disable", f.sess, h3, NULL);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.hard_shutdown", f.sess, vm, NULL);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.start_on", f.sess, vm, h3, "false", "false", NULL);
    assert_string_equal(st_code(&r), "HOST_DISABLED");
    assert_string_equal(st_eparam(&r, 0), h3);
    xapi_response_cleanup(&r);
    /* the CD of win-jump comes from a local ISO SR: it pins the VM until ejected */
    const char *wj = st_ref_by_name(f.s, f.addr, f.sess, "VM", "win-jump", 1);
    const char *h1 = st_ref_by_name(f.s, f.addr, f.sess, "host", "prod-1", 2);
    r = st_call(f.s, f.addr, "VM.assert_can_boot_here", f.sess, wj, h1, NULL);
    assert_string_equal(st_code(&r), "VM_REQUIRES_SR");
    xapi_response_cleanup(&r);
    struct xapi_value *vbds = st_field(f.s, f.addr, f.sess, "VM", wj, "VBDs");
    char cd[96] = "";
    for (size_t i = 0; i < xapi_array_len(vbds); i++) {
        const char *b = xapi_value_str(xapi_array_get(vbds, i));
        char *type = fstr_of(&f, "VBD", b, "type");
        if (strcmp(type, "CD") == 0)
            str_lcpy(cd, b, sizeof(cd));
        free(type);
    }
    xapi_value_free(vbds);
    assert_true(cd[0] != '\0');
    char *iso = fstr_of(&f, "VBD", cd, "VDI");
    r = st_call(f.s, f.addr, "VBD.eject", f.sess, cd, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VBD.eject", f.sess, cd, NULL);
    assert_string_equal(st_code(&r), "VBD_IS_EMPTY");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VM.assert_can_boot_here", f.sess, wj, h1, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VBD.insert", f.sess, cd, iso, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "VBD.insert", f.sess, cd, iso, NULL);
    assert_string_equal(st_code(&r), "VBD_NOT_EMPTY");
    xapi_response_cleanup(&r);
    free(iso);
    sim_free(f.s);
}

/* ---- events ---- */

static struct xapi_response event_from(struct fx *f, const char *cls, const char *token)
{
    struct xapi_value *classes = xapi_value_new_array();
    xapi_array_append_string(classes, cls);
    struct xapi_value *p = st_params(f->sess, NULL);
    xapi_array_append_take(p, classes);
    xapi_array_append_string(p, token);
    xapi_array_append_take(p, xapi_value_new_double(5.0));
    return st_callv(f->s, f->addr, "event.from", p);
}

static void test_events(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    struct xapi_response r = event_from(&f, "vm", "");
    assert_true(r.ok);
    const struct xapi_value *evs = xapi_struct_get(r.value, "events");
    assert_int_equal(xapi_array_len(evs), 8); /* 5 VMs + 3 control domains */
    const struct xapi_value *ev = xapi_array_get(evs, 0);
    assert_string_equal(xapi_struct_str(ev, "operation", ""), "add");
    assert_string_equal(xapi_struct_str(ev, "class", ""), "vm");
    assert_non_null(xapi_struct_get(ev, "snapshot"));
    assert_int_equal(xapi_struct_int(xapi_struct_get(r.value, "valid_ref_counts"), "vm", -1), 8);
    char tok[64];
    str_lcpy(tok, xapi_struct_str(r.value, "token", ""), sizeof(tok));
    assert_int_equal(strlen(tok), 41);
    xapi_response_cleanup(&r);
    /* nothing new: an empty batch at once in-process */
    r = event_from(&f, "vm", tok);
    assert_int_equal(xapi_array_len(xapi_struct_get(r.value, "events")), 0);
    xapi_response_cleanup(&r);
    /* a change -> one mod */
    const char *vm = st_ref_by_name(f.s, f.addr, f.sess, "VM", "web-2", 0);
    r = st_call(f.s, f.addr, "VM.add_to_other_config", f.sess, vm, "a", "b", NULL);
    xapi_response_cleanup(&r);
    r = event_from(&f, "vm", tok);
    evs = xapi_struct_get(r.value, "events");
    assert_int_equal(xapi_array_len(evs), 1);
    assert_string_equal(xapi_struct_str(xapi_array_get(evs, 0), "operation", ""), "mod");
    assert_string_equal(xapi_struct_str(xapi_array_get(evs, 0), "ref", ""), vm);
    str_lcpy(tok, xapi_struct_str(r.value, "token", ""), sizeof(tok));
    xapi_response_cleanup(&r);
    /* task/<ref>: only that task; add, mod, del */
    r = st_call(f.s, f.addr, "task.create", f.sess, "t", "", NULL);
    char task[96], filt[128];
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    snprintf(filt, sizeof(filt), "task/%s", task);
    r = st_call(f.s, f.addr, "task.create", f.sess, "other", "", NULL);
    xapi_response_cleanup(&r);
    r = event_from(&f, filt, tok);
    evs = xapi_struct_get(r.value, "events");
    assert_int_equal(xapi_array_len(evs), 1);
    assert_string_equal(xapi_struct_str(xapi_array_get(evs, 0), "operation", ""), "add");
    str_lcpy(tok, xapi_struct_str(r.value, "token", ""), sizeof(tok));
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "task.cancel", f.sess, task, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    /* xapi_task.ml: a task.create task's creator finishes it; cancel only asks */
    char *cst = fstr_of(&f, "task", task, "status");
    assert_string_equal(cst, "pending");
    free(cst);
    struct xapi_value *cops = st_field(f.s, f.addr, f.sess, "task", task, "current_operations");
    assert_int_equal(cops->u.st.n, 1);
    assert_string_equal(xapi_value_str(cops->u.st.vals[0]), "cancel");
    xapi_value_free(cops);
    r = st_call(f.s, f.addr, "task.set_status", f.sess, task, "cancelled", NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "task.cancel", f.sess, task, NULL);
    assert_string_equal(st_code(&r), "OPERATION_NOT_ALLOWED");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "task.destroy", f.sess, task, NULL);
    xapi_response_cleanup(&r);
    r = event_from(&f, filt, tok);
    evs = xapi_struct_get(r.value, "events");
    assert_int_equal(xapi_array_len(evs), 1); /* one event per object: the latest, a del */
    assert_string_equal(xapi_struct_str(xapi_array_get(evs, 0), "operation", ""), "del");
    assert_null(xapi_struct_get(xapi_array_get(evs, 0), "snapshot"));
    xapi_response_cleanup(&r);
    /* a fresh token is a snapshot of what exists: no deletions */
    r = event_from(&f, "task", "");
    evs = xapi_struct_get(r.value, "events");
    assert_int_equal(xapi_array_len(evs), 1); /* only "other" */
    assert_string_equal(xapi_struct_str(xapi_array_get(evs, 0), "operation", ""), "add");
    xapi_response_cleanup(&r);
    /* event.inject and bad tokens */
    r = st_call(f.s, f.addr, "event.inject", f.sess, "VM", vm, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = event_from(&f, "vm", "garbage");
    assert_string_equal(st_code(&r), "EVENT_FROM_TOKEN_PARSE_FAILURE");
    assert_string_equal(st_eparam(&r, 0), "garbage");
    xapi_response_cleanup(&r);
    sim_free(f.s);
}

static void test_events_lost(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "small.json");
    struct xapi_response r = event_from(&f, "task", "");
    char tok[64];
    str_lcpy(tok, xapi_struct_str(r.value, "token", ""), sizeof(tok));
    xapi_response_cleanup(&r);
    /* more deletions than the simulator remembers */
    for (int i = 0; i < 5000; i++) {
        r = st_call(f.s, f.addr, "task.create", f.sess, "t", "", NULL);
        char t[96];
        str_lcpy(t, st_str(&r), sizeof(t));
        xapi_response_cleanup(&r);
        r = st_call(f.s, f.addr, "task.set_status", f.sess, t, "success", NULL);
        xapi_response_cleanup(&r);
        r = st_call(f.s, f.addr, "task.destroy", f.sess, t, NULL);
        assert_true(r.ok);
        xapi_response_cleanup(&r);
    }
    r = event_from(&f, "task", tok);
    assert_string_equal(st_code(&r), "EVENTS_LOST");
    xapi_response_cleanup(&r);
    /* a fresh snapshot works again */
    r = event_from(&f, "task", "");
    assert_true(r.ok);
    assert_int_equal(xapi_array_len(xapi_struct_get(r.value, "events")), 0);
    xapi_response_cleanup(&r);
    sim_free(f.s);
}

/* ---- determinism, performance, scenario errors ---- */

static char *event_trace(uint64_t seed)
{
    struct sim *s = st_load("small.json", seed);
    char addr[64];
    const char *sess = st_login(s, 0, addr, sizeof(addr));
    struct fx f = {s, "", sess};
    str_lcpy(f.addr, addr, sizeof(f.addr));
    const char *h = st_ref_by_name(s, addr, sess, "host", "small-1", 0);
    struct xapi_response r = st_call(s, addr, "host.disable", sess, h, NULL);
    xapi_response_cleanup(&r);
    r = st_call(s, addr, "Async.host.evacuate", sess, h, NULL);
    xapi_response_cleanup(&r);
    while (sim_next_deadline(s) >= 0)
        sim_run_until(s, sim_next_deadline(s));
    r = event_from(&f, "*", "");
    struct buf b;
    buf_init(&b);
    const struct xapi_value *evs = xapi_struct_get(r.value, "events");
    for (size_t i = 0; i < xapi_array_len(evs); i++) {
        const struct xapi_value *ev = xapi_array_get(evs, i);
        buf_printf(&b, "%s %s %s\n", xapi_struct_str(ev, "class", ""),
                   xapi_struct_str(ev, "ref", ""),
                   xapi_struct_str(xapi_struct_get(ev, "snapshot"), "resident_on", "-"));
    }
    xapi_response_cleanup(&r);
    sim_free(s);
    return buf_take(&b);
}

static void test_determinism(void **state)
{
    (void)state;
    char *a = event_trace(42), *b = event_trace(42), *c = event_trace(43);
    assert_true(strlen(a) > 1000);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    free(a);
    free(b);
    free(c);
}

static void test_bench16_loads(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "bench-16.json");
    struct xapi_response r = st_call(f.s, f.addr, "VM.get_all_records", f.sess, NULL);
    assert_true(r.ok);
    assert_int_equal(r.value->u.st.n, 336); /* 320 guests + 16 control domains */
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "host.get_all_records", f.sess, NULL);
    assert_int_equal(r.value->u.st.n, 16);
    xapi_response_cleanup(&r);
    sim_free(f.s);
}

/* A rolling reboot of a 100-host pool in virtual time: memory is never overcommitted, every VM
 * keeps running exactly once, every host rebooted once. */
static void test_large_rolling_reboot(void **state)
{
    (void)state;
    json_t *hosts = json_array(), *vms = json_array();
    for (int i = 0; i < 100; i++)
        json_array_append_new(hosts, json_pack("{s:s#,s:i}", "name", "h", 1, "memory_gib", 64));
    for (int i = 0; i < 100; i++) {
        char n[16];
        snprintf(n, sizeof(n), "h%03d", i);
        json_object_set_new(json_array_get(hosts, (size_t)i), "name", json_string(n));
    }
    for (int i = 0; i < 1000; i++) {
        char n[16], h[16];
        snprintf(n, sizeof(n), "vm%04d", i);
        snprintf(h, sizeof(h), "h%03d", i % 100);
        json_array_append_new(vms, json_pack("{s:s,s:i,s:s,s:[{s:s}]}", "name", n, "memory_gib",
                                             1 + i % 6, "host", h, "disks", "sr", "shared"));
    }
    json_t *doc = json_pack("{s:i,s:[{s:s,s:o,s:[{s:s,s:b,s:i}],s:o}]}", "seed", 5, "pools", "name",
                            "big", "hosts", hosts, "srs", "name", "shared", "shared", 1, "size_gib",
                            100000, "vms", vms);
    struct fx f;
    struct err e;
    err_clear(&e);
    assert_int_equal(sim_new_from_json(doc, NULL, &f.s, &e), 0);
    json_decref(doc);
    f.sess = st_login(f.s, 0, f.addr, sizeof(f.addr));
    struct xapi_response r = st_call(f.s, f.addr, "host.get_all", f.sess, NULL);
    struct xapi_value *all = r.value;
    r.value = NULL;
    xapi_response_cleanup(&r);
    for (size_t i = 1; i < xapi_array_len(all); i++) { /* the coordinator stays up */
        const char *h = xapi_value_str(xapi_array_get(all, i));
        r = st_call(f.s, f.addr, "host.disable", f.sess, h, NULL);
        xapi_response_cleanup(&r);
        r = st_call(f.s, f.addr, "Async.host.evacuate", f.sess, h, NULL);
        assert_true(r.ok);
        xapi_response_cleanup(&r);
        while (sim_next_deadline(f.s) >= 0) {
            sim_run_until(f.s, sim_next_deadline(f.s));
            /* never overcommitted, on any host */
            for (size_t k = 0; k < xapi_array_len(all); k += 7) {
                r = st_call(f.s, f.addr, "host.compute_free_memory", f.sess,
                            xapi_value_str(xapi_array_get(all, k)), NULL);
                assert_true(r.ok && r.value->u.i >= 0);
                xapi_response_cleanup(&r);
            }
            if (sim_next_deadline(f.s) > now_ms(f.s) + 3600000)
                break; /* only the supporters' emergency checks remain */
        }
        r = st_call(f.s, f.addr, "host.get_resident_VMs", f.sess, h, NULL);
        assert_int_equal(xapi_array_len(r.value), 1);
        xapi_response_cleanup(&r);
        r = st_call(f.s, f.addr, "host.reboot", f.sess, h, NULL);
        assert_true(r.ok);
        xapi_response_cleanup(&r);
        sim_run_until(f.s, now_ms(f.s) + 300000); /* the default reboot_s */
        r = st_call(f.s, f.addr, "host.enable", f.sess, h, NULL);
        if (!r.ok)
            fail_msg("enable %s: %s", h, st_code(&r));
        xapi_response_cleanup(&r);
    }
    xapi_value_free(all);
    json_t *st = sim_state_json(f.s);
    json_t *c = json_object_get(st, "counters");
    assert_int_equal(json_integer_value(json_object_get(c, "reboots")), 99);
    assert_int_equal(json_integer_value(json_object_get(c, "migrations_failed")), 0);
    size_t running = 0;
    json_t *hs = json_object_get(json_array_get(json_object_get(st, "pools"), 0), "hosts");
    for (size_t i = 0; i < json_array_size(hs); i++) {
        json_t *h = json_array_get(hs, i);
        running += json_array_size(json_object_get(h, "resident_vms"));
        assert_true(json_is_true(json_object_get(h, "enabled")));
        assert_int_equal(json_integer_value(json_object_get(h, "reboots")), i == 0 ? 0 : 1);
    }
    assert_int_equal(running, 1000);
    json_decref(st);
    r = st_call(f.s, f.addr, "VM.get_all_records", f.sess, NULL);
    size_t halted = 0;
    for (size_t i = 0; i < r.value->u.st.n; i++)
        halted += strcmp(xapi_struct_str(r.value->u.st.vals[i], "power_state", ""), "Running") != 0;
    assert_int_equal(halted, 0);
    xapi_response_cleanup(&r);
    sim_free(f.s);
}

static void expect_bad(const char *json, const char *needle)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    assert_non_null(j);
    struct sim *s = NULL;
    struct err e;
    err_clear(&e);
    assert_int_not_equal(sim_new_from_json(j, NULL, &s, &e), 0);
    assert_null(s);
    if (!strstr(e.msg, needle))
        fail_msg("error \"%s\" does not name \"%s\"", e.msg, needle);
    json_decref(j);
}

static void test_scenario_livepatch_on(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"pools\":[{\"name\":\"p\",\"hosts\":[{\"name\":\"a\"},{\"name\":\"b\"}],"
        "\"updates\":[{\"uuid\":\"11111111-2222-4333-8444-555555555555\",\"name_label\":"
        "\"LP1\",\"livepatch\":true,\"livepatch_on\":[\"a\"],"
        "\"after_apply_guidance\":[\"restartHost\"]}]}]}";
    json_error_t je;
    json_t *j = json_loads(doc, 0, &je);
    assert_non_null(j);
    struct fx f;
    struct err e;
    err_clear(&e);
    assert_int_equal(sim_new_from_json(j, NULL, &f.s, &e), 0);
    json_decref(j);
    f.sess = st_login(f.s, 0, f.addr, sizeof(f.addr));
    const char *upd = st_ref_by_name(f.s, f.addr, f.sess, "pool_update", "LP1", 0);
    const char *a = st_ref_by_name(f.s, f.addr, f.sess, "host", "a", 1);
    const char *b = st_ref_by_name(f.s, f.addr, f.sess, "host", "b", 2);
    struct xapi_response r = st_call(f.s, f.addr, "pool_update.precheck", f.sess, upd, a, NULL);
    assert_string_equal(st_str(&r), "ok_livepatch_complete");
    xapi_response_cleanup(&r);
    r = st_call(f.s, f.addr, "pool_update.precheck", f.sess, upd, b, NULL);
    assert_string_equal(st_str(&r), "ok");
    xapi_response_cleanup(&r);
    sim_free(f.s);
}

static void test_scenario_errors(void **state)
{
    (void)state;
    expect_bad("{\"pools\":[]}", "pools");
    expect_bad("{\"pools\":[{\"name\":\"p\",\"hosts\":[{\"name\":\"h\",\"memory_gib\":\"x\"}]}]}",
               "pools[0].hosts[0].memory_gib");
    expect_bad("{\"pools\":[{\"name\":\"p\",\"hosts\":[{\"name\":\"h\"}],"
               "\"vms\":[{\"name\":\"v\",\"host\":\"nope\"}]}]}",
               "pools[0].vms[0].host");
    expect_bad("{\"pools\":[{\"name\":\"p\",\"hosts\":[{\"name\":\"h\",\"colour\":1}]}]}",
               "pools[0].hosts[0].colour");
    expect_bad("{\"timings\":{\"reboot_s\":-1},\"pools\":[{\"name\":\"p\",\"hosts\":[{\"name\":"
               "\"h\"}]}]}",
               "timings.reboot_s");
    expect_bad("{\"pools\":[{\"name\":\"p\",\"hosts\":[{\"name\":\"h\"}]}],\"faults\":[{\"type\":"
               "\"meteor\"}]}",
               "faults[0].type");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_match_spec),
        cmocka_unit_test(test_errors_with_params),
        cmocka_unit_test(test_reboot_timing),
        cmocka_unit_test(test_master_restart_invalidates_sessions),
        cmocka_unit_test(test_migration_timing),
        cmocka_unit_test(test_parallel_migrations_queue),
        cmocka_unit_test(test_migrations_wait_destination),
        cmocka_unit_test(test_evacuate),
        cmocka_unit_test(test_update_flow),
        cmocka_unit_test(test_update_images_untrusted),
        cmocka_unit_test(test_livepatch),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_partition_and_emergency),
        cmocka_unit_test(test_master_reboot_emergency_and_reconnect),
        cmocka_unit_test(test_supporter_reboot_before_reconnect),
        cmocka_unit_test(test_rolling_upgrade_detected),
        cmocka_unit_test(test_xs8_repository_updates),
        cmocka_unit_test(test_designate_new_master_and_ha),
        cmocka_unit_test(test_vm_power_and_cd),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_events_lost),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_bench16_loads),
        cmocka_unit_test(test_large_rolling_reboot),
        cmocka_unit_test(test_scenario_livepatch_on),
        cmocka_unit_test(test_scenario_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
