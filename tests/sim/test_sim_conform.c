/* SPDX-License-Identifier: MIT */
/*
 * test_sim_conform.c - conformance of `poolpatch sim` with xapi over HTTP, each test in
 * XML-RPC, JSON-RPC v1 and v2 (issue "Simulator fidelity, round 2"): dispatch rules
 * (gen_server.ml, session_check.ml), records and sessions, events (xapi_event.ml), tasks
 * (xapi_task.ml, xapi_host.ml evacuate), storage (xapi_pbd.ml, xapi_vdi.ml), pending mandatory
 * guidance and RBAC (rbac.ml).  The xapi source each expectation comes from is named in
 * docs/simulator.md's fidelity table.
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
#include <unistd.h>

#include "base/buf.h"
#include "base/str.h"
#include "sim/spec.h"
#include "simtest.h"
#include "wire.h"
#include "wx.h"

/* Assert the call failed with code (NULL: succeeded); returns it for more checks. */
static struct xapi_response expect(struct xapi_response r, const char *code, const char *what)
{
    if (code && strcmp(st_code(&r), code) != 0)
        fail_msg("%s: expected %s, got %s %s", what, code, r.ok ? "success" : st_code(&r),
                 st_eparam(&r, 0));
    if (!code && !r.ok)
        fail_msg("%s: %s %s %s", what, st_code(&r), st_eparam(&r, 0), st_eparam(&r, 1));
    return r;
}

#define EXPECT(code, call, what)                                                                   \
    xapi_response_cleanup((struct xapi_response[]){expect(call, code, what)})

static char *login_as(struct wx *x, const char *url, const char *m, const char *u, const char *p)
{
    struct xapi_response r = expect(wx_call(x, url, m, u, p, NULL), NULL, u);
    char *s = strdup(st_str(&r));
    xapi_response_cleanup(&r);
    return s;
}

static bool array_has(const struct xapi_value *a, const char *s)
{
    for (size_t i = 0; i < xapi_array_len(a); i++) {
        const char *v = xapi_value_str(xapi_array_get(a, i));
        if (v && strcmp(v, s) == 0)
            return true;
    }
    return false;
}

/* ---- dispatch ---- */

static void test_dispatch_rules(void **state)
{
    struct wx *x = *state;
    const char *S = x->sess;
    struct xapi_response r = expect(wx_call(x, x->master, "VM.get_record", S, NULL),
                                    "MESSAGE_PARAMETER_COUNT_MISMATCH", "count");
    assert_string_equal(st_eparam(&r, 1), "1"); /* the session is not counted */
    assert_string_equal(st_eparam(&r, 2), "0");
    xapi_response_cleanup(&r);
    EXPECT(NULL, wx_call(x, x->master, "host.get_all", S, "extra", NULL), "trailing arg");
    EXPECT("SESSION_INVALID", wx_call(x, x->master, "VM.frobnicate", "OpaqueRef:bad", NULL),
           "unknown method, bad session");
    EXPECT("MESSAGE_METHOD_UNKNOWN", wx_call(x, x->master, "VM.frobnicate", S, NULL),
           "unknown method");
    EXPECT("NOT_IMPLEMENTED", wx_call(x, x->master, "network.get_all", S, NULL), "other class");
    struct xapi_value *p = st_params(S, NULL);
    struct xapi_value *five = xapi_value_new_int(5);
    five->i4 = true; /* XML-RPC: a real <i4>, not an int64 carried as a string */
    xapi_array_append_take(p, five);
    EXPECT("INTERNAL_ERROR", wx_callv(x, x->master, "host.get_record", p), "int as a ref");
    char *vm = wx_ref_by_name(x, "VM", "build-1");
    EXPECT("INTERNAL_ERROR", wx_call(x, x->master, "VM.start", S, vm, "no", "false", NULL),
           "\"no\" as a bool");
    r = expect(wx_call(x, x->master, "VM.hard_shutdown", S, vm, NULL), "VM_BAD_POWER_STATE",
               "hard_shutdown");
    assert_string_equal(st_eparam(&r, 1), "paused, suspended, running");
    xapi_response_cleanup(&r);
    /* a supporter: unknown session, pool session, local session (session_check.ml) */
    EXPECT("SESSION_INVALID", wx_call(x, x->slave, "VM.get_all", "OpaqueRef:bad", NULL), "bad");
    EXPECT("HOST_IS_SLAVE", wx_call(x, x->slave, "VM.get_all", S, NULL), "pool session");
    char *local =
        login_as(x, x->slave, "session.slave_local_login_with_password", "root", "xenroot");
    EXPECT(NULL, wx_call(x, x->slave, "VM.get_all", local, NULL), "local session");
    r = expect(wx_call(x, x->master, "system.listMethods", NULL), NULL, "listMethods");
    assert_true(array_has(r.value, "VM.pool_migrate") && array_has(r.value, "network.get_all"));
    assert_false(array_has(r.value, "Async.VM.pool_migrate"));
    xapi_response_cleanup(&r);
    if (x->proto == XAPI_PROTO_XMLRPC) { /* api_server.ml: the bare array */
        static const char call[] = "<?xml version=\"1.0\"?><methodCall><methodName>"
                                   "system.listMethods</methodName><params/></methodCall>";
        long st;
        struct buf b;
        buf_init(&b);
        assert_int_equal(wire_http("POST", x->master, call, sizeof(call) - 1, &st, &b), 0);
        assert_null(strstr(buf_str(&b), "Status"));
        assert_non_null(strstr(buf_str(&b), "VM.pool_migrate"));
        buf_cleanup(&b);
    }
    free(local);
    free(vm);
}

/* ---- records and sessions ---- */

static void test_records_and_sessions(void **state)
{
    struct wx *x = *state;
    const char *S = x->sess;
    struct xapi_response r = expect(wx_call(x, x->master, "host_metrics.get_all_records", S, NULL),
                                    NULL, "host_metrics");
    assert_non_null(xapi_struct_get(r.value->u.st.vals[0], "memory_free")); /* Removed, sent */
    xapi_response_cleanup(&r);
    r = expect(wx_call(x, x->master, "VBD.get_all_records", S, NULL), NULL, "VBDs");
    assert_non_null(xapi_struct_get(r.value->u.st.vals[0], "metrics"));
    xapi_response_cleanup(&r);
    char *h3 = wx_ref_by_name(x, "host", "small-3");
    r = expect(wx_call(x, x->master, "host.get_allowed_operations", S, h3, NULL), NULL, "ops");
    assert_true(array_has(r.value, "vm_start") && array_has(r.value, "apply_updates"));
    xapi_response_cleanup(&r);
    EXPECT(NULL, wx_call(x, x->master, "host.disable", S, h3, NULL), "disable");
    r = expect(wx_call(x, x->master, "host.get_allowed_operations", S, h3, NULL), NULL, "ops");
    assert_false(array_has(r.value, "vm_start"));
    assert_true(array_has(r.value, "enable") && array_has(r.value, "reboot"));
    xapi_response_cleanup(&r);
    r = expect(wx_call(x, x->master, "session.get_record", S, S, NULL), NULL, "session record");
    assert_true(xapi_struct_bool(r.value, "is_local_superuser", false));
    assert_string_equal(xapi_struct_str(r.value, "auth_user_name", ""), "root");
    char *master = wx_ref_by_name(x, "host", "small-1");
    assert_string_equal(xapi_struct_str(r.value, "this_host", ""), master);
    xapi_response_cleanup(&r);
    r = expect(wx_call(x, x->master, "session.get_this_host", S, S, NULL), NULL, "this_host");
    assert_string_equal(st_str(&r), master);
    xapi_response_cleanup(&r);
    /* legacy event.register / event.next */
    EXPECT("SESSION_NOT_REGISTERED", wx_call(x, x->master, "event.next", S, NULL), "next");
    struct xapi_value *p = st_params(S, NULL);
    struct xapi_value *cl = xapi_value_new_array();
    xapi_array_append_string(cl, "host");
    xapi_array_append_take(p, cl);
    EXPECT(NULL, wx_callv(x, x->master, "event.register", p), "register");
    EXPECT(NULL, wx_call(x, x->master, "host.set_name_label", S, h3, "renamed", NULL), "rename");
    r = expect(wx_call(x, x->master, "event.next", S, NULL), NULL, "next");
    bool seen = false;
    for (size_t i = 0; i < xapi_array_len(r.value); i++)
        seen = seen || strcmp(xapi_struct_str(xapi_array_get(r.value, i), "ref", ""), h3) == 0;
    assert_true(seen);
    xapi_response_cleanup(&r);
    free(master);
    free(h3);
}

/* ---- events ---- */

static struct xapi_response event_from(struct wx *x, const char *cls1, const char *cls2,
                                       const char *token, double timeout)
{
    struct xapi_value *p = st_params(x->sess, NULL);
    struct xapi_value *cl = xapi_value_new_array();
    xapi_array_append_string(cl, cls1);
    if (cls2)
        xapi_array_append_string(cl, cls2);
    xapi_array_append_take(p, cl);
    xapi_array_append_string(p, token);
    xapi_array_append_take(p, xapi_value_new_double(timeout));
    return expect(wx_callv(x, x->master, "event.from", p), NULL, "event.from");
}

static void test_events(void **state)
{
    struct wx *x = *state;
    const char *S = x->sess;
    struct xapi_response r = event_from(x, "vm", "host", "", 0);
    const struct xapi_value *vrc = xapi_struct_get(r.value, "valid_ref_counts");
    assert_int_equal(vrc->u.st.n, 2); /* the requested classes only */
    assert_int_equal(xapi_struct_get(vrc, "vm")->type, XAPI_INT);
    assert_int_equal(xapi_struct_get(vrc, "host")->u.i, 3);
    xapi_response_cleanup(&r);
    /* event.inject's token shows the injected change */
    char *vm = wx_ref_by_name(x, "VM", "web-1");
    r = expect(wx_call(x, x->master, "event.inject", S, "VM", vm, NULL), NULL, "inject");
    char tok[64];
    str_lcpy(tok, st_str(&r), sizeof(tok));
    xapi_response_cleanup(&r);
    r = event_from(x, "vm", NULL, tok, 0);
    const struct xapi_value *evs = xapi_struct_get(r.value, "events");
    assert_int_equal(xapi_array_len(evs), 1);
    assert_string_equal(xapi_struct_str(xapi_array_get(evs, 0), "ref", ""), vm);
    str_lcpy(tok, xapi_struct_str(r.value, "token", ""), sizeof(tok));
    xapi_response_cleanup(&r);
    /* created and destroyed since the token: nothing at all */
    r = expect(wx_call(x, x->master, "task.create", S, "brief", "", NULL), NULL, "create");
    char task[96];
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    EXPECT(NULL, wx_call(x, x->master, "task.set_status", S, task, "success", NULL), "status");
    EXPECT(NULL, wx_call(x, x->master, "task.destroy", S, task, NULL), "destroy");
    r = event_from(x, "task", NULL, tok, 0.01);
    assert_int_equal(xapi_array_len(xapi_struct_get(r.value, "events")), 0);
    xapi_response_cleanup(&r);
    /* timestamps are the simulated clock's (GET /sim/state time_ms) */
    r = event_from(x, "vm", NULL, "", 0);
    double ts = atof(
        xapi_struct_str(xapi_array_get(xapi_struct_get(r.value, "events"), 0), "timestamp", "0"));
    xapi_response_cleanup(&r);
    char url[256];
    long st;
    struct buf b;
    buf_init(&b);
    snprintf(url, sizeof(url), "%ssim/state", x->master);
    assert_int_equal(wire_http("GET", url, NULL, 0, &st, &b), 0);
    const char *tm = strstr(buf_str(&b), "\"time_ms\":");
    assert_non_null(tm);
    double now = atof(tm + 10) / 1000.0;
    assert_true(ts > 0 && ts <= now + 1 && ts > now - 7200); /* sim seconds, not wall time */
    buf_cleanup(&b);
    free(vm);
}

/* ---- tasks ---- */

static int setup_slow(void **state)
{
    struct wx *x = calloc(1, sizeof(*x));
    x->proto = *(const enum xapi_proto *)*state;
    if (wire_start(&x->sim, "small.json", "20") != 0) {
        free(x);
        return -1;
    }
    str_lcpy(x->master, x->sim.pool_url[0], sizeof(x->master));
    wire_url(&x->sim, "127.0.0.11", x->slave, sizeof(x->slave));
    wx_login(x);
    *state = x;
    return 0;
}

static double task_progress(struct wx *x, const char *task)
{
    struct xapi_response r =
        expect(wx_call(x, x->master, "task.get_progress", x->sess, task, NULL), NULL, "progress");
    double d = r.value->type == XAPI_DOUBLE ? r.value->u.d : -1;
    xapi_response_cleanup(&r);
    return d;
}

static char *async_call(struct wx *x, const char *method, const char *a, const char *b)
{
    struct xapi_value *p = st_params(x->sess, a, b, NULL);
    if (strstr(method, "pool_migrate"))
        xapi_array_append_take(p, xapi_value_new_struct());
    struct xapi_response r = expect(wx_callv(x, x->master, method, p), NULL, method);
    char *t = strdup(st_str(&r));
    xapi_response_cleanup(&r);
    return t;
}

static void test_tasks(void **state)
{
    struct wx *x = *state;
    const char *S = x->sess;
    char *vm = wx_ref_by_name(x, "VM", "web-1"), *h2 = wx_ref_by_name(x, "host", "small-2");
    char *t = async_call(x, "Async.VM.pool_migrate", vm, h2);
    char *name = wx_get_str(x, "task", t, "name_label");
    assert_string_equal(name, "Async.VM.pool_migrate");
    char *sched_on = wx_get_str(x, "VM", vm, "scheduled_to_be_resident_on");
    assert_string_equal(sched_on, h2);
    bool mid = false;
    for (int i = 0; i < 400 && !mid; i++) { /* 10 s simulated = 0.5 s at 20x */
        double pr = task_progress(x, t);
        mid = pr > 0.0 && pr < 1.0;
        usleep(5000);
    }
    assert_true(mid); /* progress in steps, not 0 then 1 */
    char *status = wx_wait_task(x, t);
    assert_string_equal(status, "success");
    /* evacuation: one Async.VM.pool_migrate subtask per VM */
    EXPECT(NULL, wx_call(x, x->master, "host.disable", S, h2, NULL), "disable");
    char *ev = async_call(x, "Async.host.evacuate", h2, NULL);
    struct xapi_response r =
        expect(wx_call(x, x->master, "task.get_subtasks", S, ev, NULL), NULL, "subtasks");
    assert_int_equal(xapi_array_len(r.value), 2); /* web-1 (just arrived) and web-2 */
    char *sub = wx_get_str(x, "task", xapi_value_str(xapi_array_get(r.value, 0)), "name_label");
    assert_string_equal(sub, "Async.VM.pool_migrate");
    xapi_response_cleanup(&r);
    free(status);
    status = wx_wait_task(x, ev);
    assert_string_equal(status, "success");
    /* cancelling a migration frees the VM at once */
    char *db = wx_ref_by_name(x, "VM", "db-1"), *h3 = wx_ref_by_name(x, "host", "small-3");
    char *mt = async_call(x, "Async.VM.pool_migrate", db, h3);
    EXPECT(NULL, wx_call(x, x->master, "task.cancel", S, mt, NULL), "cancel");
    free(status);
    status = wx_get_str(x, "task", mt, "status");
    assert_string_equal(status, "cancelled");
    r = expect(wx_call(x, x->master, "VM.get_current_operations", S, db, NULL), NULL, "cur ops");
    assert_int_equal(r.value->u.st.n, 0);
    xapi_response_cleanup(&r);
    /* task.set_progress on a client's task */
    r = expect(wx_call(x, x->master, "task.create", S, "mine", "", NULL), NULL, "create");
    struct xapi_value *p = st_params(S, st_str(&r), NULL);
    xapi_array_append_take(p, xapi_value_new_double(0.25));
    EXPECT(NULL, wx_callv(x, x->master, "task.set_progress", p), "set_progress");
    assert_true(task_progress(x, st_str(&r)) == 0.25);
    xapi_response_cleanup(&r);
    free(mt), free(db), free(h3), free(sub), free(ev), free(status);
    free(sched_on), free(name), free(t), free(h2), free(vm);
}

/* ---- storage ---- */

static char *pbd_of(struct wx *x, const char *sr_name, const char *host)
{
    char *sr = wx_ref_by_name(x, "SR", sr_name);
    struct xapi_response r =
        expect(wx_call(x, x->master, "SR.get_PBDs", x->sess, sr, NULL), NULL, "PBDs");
    char *out = NULL;
    for (size_t i = 0; i < xapi_array_len(r.value) && !out; i++) {
        const char *pbd = xapi_value_str(xapi_array_get(r.value, i));
        char *h = wx_get_str(x, "PBD", pbd, "host");
        if (strcmp(h, host) == 0)
            out = strdup(pbd);
        free(h);
    }
    xapi_response_cleanup(&r);
    free(sr);
    assert_non_null(out);
    return out;
}

static void test_storage(void **state)
{
    struct wx *x = *state;
    const char *S = x->sess;
    char *h1 = wx_ref_by_name(x, "host", "small-1");
    char *shared = pbd_of(x, "nfs-shared", h1), *local = pbd_of(x, "local-small-1", h1);
    EXPECT("VDI_IN_USE", wx_call(x, x->master, "PBD.unplug", S, shared, NULL), "in use");
    EXPECT("OPERATION_NOT_ALLOWED", wx_call(x, x->master, "PBD.destroy", S, local, NULL),
           "attached");
    EXPECT(NULL, wx_call(x, x->master, "PBD.unplug", S, local, NULL), "unplug");
    EXPECT(NULL, wx_call(x, x->master, "PBD.destroy", S, local, NULL), "destroy");
    EXPECT("HANDLE_INVALID", wx_call(x, x->master, "PBD.get_record", S, local, NULL), "gone");
    char *sr = wx_ref_by_name(x, "SR", "nfs-shared");
    struct xapi_value *rec = xapi_value_new_struct();
    xapi_struct_set_string(rec, "SR", sr);
    xapi_struct_set_string(rec, "name_label", "scratch");
    xapi_struct_set_int(rec, "virtual_size", 1 << 20);
    xapi_struct_set_string(rec, "type", "user");
    struct xapi_value *p = st_params(S, NULL);
    xapi_array_append_take(p, rec);
    struct xapi_response r = expect(wx_callv(x, x->master, "VDI.create", p), NULL, "VDI.create");
    char *size = wx_get_str(x, "VDI", st_str(&r), "name_label");
    assert_string_equal(size, "scratch");
    EXPECT(NULL, wx_call(x, x->master, "VDI.destroy", S, st_str(&r), NULL), "VDI.destroy");
    xapi_response_cleanup(&r);
    free(size), free(sr), free(local), free(shared), free(h1);
}

/* ---- RBAC ---- */

static void test_rbac(void **state)
{
    struct wx *x = *state;
    char *ro = login_as(x, x->master, "session.login_with_password", "viewer", "viewpass");
    char *op = login_as(x, x->master, "session.login_with_password", "operator", "oppass");
    char *h3 = wx_ref_by_name(x, "host", "small-3");
    EXPECT(NULL, wx_call(x, x->master, "VM.get_all_records", ro, NULL), "read");
    struct xapi_response r = expect(wx_call(x, x->master, "host.disable", ro, h3, NULL),
                                    "RBAC_PERMISSION_DENIED", "write as read-only");
    assert_string_equal(st_eparam(&r, 0), "host.disable");
    assert_non_null(strstr(st_eparam(&r, 1), "No permission in user session"));
    assert_non_null(strstr(st_eparam(&r, 1), "pool-operator"));
    xapi_response_cleanup(&r);
    EXPECT(NULL, wx_call(x, x->master, "host.disable", op, h3, NULL), "operator disables");
    EXPECT(NULL, wx_call(x, x->master, "host.enable", op, h3, NULL), "operator enables");
    r = expect(wx_call(x, x->master, "session.get_is_local_superuser", ro, ro, NULL), NULL, "su");
    assert_true(r.value->type == XAPI_BOOL && !r.value->u.b);
    xapi_response_cleanup(&r);
    EXPECT(
        "SESSION_AUTHENTICATION_FAILED",
        wx_call(x, x->slave, "session.slave_local_login_with_password", "viewer", "viewpass", NULL),
        "local login is for the superuser");
    free(h3), free(op), free(ro);
}

/* ---- guidance (demo.json's lab pool has a repository) ---- */

static void test_pending_guidance(void **state)
{
    struct wx *x = *state;
    const char *lab = x->sim.pool_url[1];
    char *s = login_as(x, lab, "session.login_with_password", "root", "xenroot");
    struct xapi_response r = expect(wx_call(x, lab, "pool.get_all", s, NULL), NULL, "pool");
    char pool[96];
    str_lcpy(pool, xapi_value_str(xapi_array_get(r.value, 0)), sizeof(pool));
    xapi_response_cleanup(&r);
    struct xapi_value *p = st_params(s, pool, NULL);
    xapi_array_append_take(p, xapi_value_new_bool(false));
    xapi_array_append_string(p, "");
    xapi_array_append_string(p, "");
    r = expect(wx_callv(x, lab, "pool.sync_updates", p), NULL, "sync");
    char hash[96];
    str_lcpy(hash, st_str(&r), sizeof(hash));
    xapi_response_cleanup(&r);
    r = expect(wx_call(x, lab, "host.get_by_name_label", s, "lab-2", NULL), NULL, "lab-2");
    char h[96];
    str_lcpy(h, xapi_value_str(xapi_array_get(r.value, 0)), sizeof(h));
    xapi_response_cleanup(&r);
    EXPECT(NULL, wx_call(x, lab, "host.apply_updates", s, h, hash, NULL), "apply_updates");
    EXPECT("HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY", wx_call(x, lab, "host.enable", s, h, NULL),
           "enable with restart_toolstack pending");
    EXPECT("HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY",
           wx_call(x, lab, "host.apply_updates", s, h, hash, NULL), "apply again");
    free(s);
}

/* ---- faults and live patching (issue "Trustworthy rollouts") ---- */

static void post_fault(struct wx *x, const char *doc)
{
    char url[256];
    long st;
    struct buf b;
    buf_init(&b);
    snprintf(url, sizeof(url), "%ssim/fault", x->master);
    assert_int_equal(wire_http("POST", url, doc, strlen(doc), &st, &b), 0);
    assert_int_equal(st, 200);
    buf_cleanup(&b);
}

/* small-3's "live" / "stuck" as GET /sim/state reports them. */
static bool host_state(struct wx *x, const char *key)
{
    char url[256];
    long st;
    struct buf b;
    buf_init(&b);
    snprintf(url, sizeof(url), "%ssim/state", x->master);
    assert_int_equal(wire_http("GET", url, NULL, 0, &st, &b), 0);
    const char *h = strstr(buf_str(&b), "\"name\": \"small-3\"");
    assert_non_null(h);
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\": true", key);
    const char *start = h, *end = strchr(h, '}'); /* the host's object (keys are sorted) */
    while (start > buf_str(&b) && *start != '{')
        start--;
    const char *k = strstr(start, pat);
    bool on = k && (!end || k < end);
    buf_cleanup(&b);
    return on;
}

static void test_host_returns_when_fault_cleared(void **state)
{
    struct wx *x = *state;
    post_fault(x, "{\"type\":\"reboot_never_returns\",\"host\":\"small-3\"}");
    char *h3 = wx_ref_by_name(x, "host", "small-3");
    EXPECT(NULL, wx_call(x, x->master, "host.disable", x->sess, h3, NULL), "disable");
    EXPECT(NULL, wx_call(x, x->master, "host.reboot", x->sess, h3, NULL), "reboot");
    usleep(400 * 1000); /* 400 simulated seconds: more than reboot_s */
    assert_true(host_state(x, "stuck"));
    assert_false(host_state(x, "live"));
    post_fault(x, "{\"type\":\"clear\",\"code\":\"reboot_never_returns\"}");
    bool live = false;
    for (int i = 0; i < 200 && !live; i++) {
        usleep(20 * 1000);
        live = host_state(x, "live");
    }
    assert_true(live); /* back one reboot after the clear */
    assert_false(host_state(x, "stuck"));
    free(h3);
}

/* Upload and introduce an update image with a live patch; its pool_update ref (new string). */
static char *introduce_livepatch(struct wx *x)
{
    struct xapi_response r = wx_call(x, x->master, "task.create", x->sess, "upload", "", NULL);
    char task[96];
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    char *sr = wx_ref_by_name(x, "SR", "nfs-shared");
    char url[512];
    snprintf(url, sizeof(url), "%simport_raw_vdi?session_id=%s&sr_id=%s&task_id=%s", x->master,
             x->sess, sr, task);
    static const char xml[] =
        "<update uuid=\"5d2b7c1e-3a4f-4b6c-9d8e-7f6a5b4c3d2e\" name-label=\"XS82ECU1077\" "
        "version=\"1.0\" installation-size=\"1048576\" after-apply-guidance=\"restartHost\" "
        "livepatch=\"true\"/>";
    long st;
    struct buf b;
    buf_init(&b);
    assert_int_equal(wire_http("PUT", url, xml, sizeof(xml), &st, &b), 0);
    buf_cleanup(&b);
    char *status = wx_wait_task(x, task);
    assert_string_equal(status, "success");
    char *res = wx_get_str(x, "task", task, "result");
    char vdi[96];
    str_lcpy(vdi, res + 7, sizeof(vdi)); /* <value>OpaqueRef:...</value> */
    vdi[strlen(vdi) - 8] = '\0';
    r = expect(wx_call(x, x->master, "pool_update.introduce", x->sess, vdi, NULL), NULL, "intro");
    char *upd = strdup(st_str(&r));
    xapi_response_cleanup(&r);
    free(res), free(status), free(sr);
    return upd;
}

/* pool.set_live_patching_disabled(session, pool, bool) as xapi's generated setter: refused for a
 * bad ref (HANDLE_INVALID), a value that is not a bool (xapi's unmarshalling failure,
 * INTERNAL_ERROR Rpc.Runtime_error("bool", ...)) and a read-only account (RBAC_PERMISSION_DENIED;
 * the datamodel gives it to pool-admin and pool-operator). */
static void set_lp(struct wx *x, const char *sess, const char *pool, struct xapi_value *v,
                   const char *code, const char *what)
{
    struct xapi_value *p = st_params(sess, pool, NULL);
    xapi_array_append_take(p, v);
    EXPECT(code, wx_callv(x, x->master, "pool.set_live_patching_disabled", p), what);
}

static bool get_lp(struct wx *x, const char *pool)
{
    struct xapi_response r = expect(
        wx_call(x, x->master, "pool.get_live_patching_disabled", x->sess, pool, NULL), NULL, "get");
    assert_int_equal(r.value->type, XAPI_BOOL);
    bool v = r.value->u.b;
    xapi_response_cleanup(&r);
    return v;
}

static void test_live_patching_setter(void **state)
{
    struct wx *x = *state;
    struct xapi_response r = expect(wx_call(x, x->master, "pool.get_all", x->sess, NULL), NULL, "");
    char *pool = strdup(xapi_value_str(xapi_array_get(r.value, 0)));
    xapi_response_cleanup(&r);
    assert_false(get_lp(x, pool)); /* the datamodel's default */
    r = event_from(x, "pool", NULL, "", 0);
    char tok[64];
    str_lcpy(tok, xapi_struct_str(r.value, "token", ""), sizeof(tok));
    xapi_response_cleanup(&r);
    set_lp(x, x->sess, "OpaqueRef:nope", xapi_value_new_bool(true), "HANDLE_INVALID", "bad ref");
    set_lp(x, x->sess, pool, xapi_value_new_string("maybe"), "INTERNAL_ERROR", "not a bool");
    char *ro = login_as(x, x->master, "session.login_with_password", "viewer", "viewpass");
    struct xapi_value *p = st_params(ro, pool, NULL);
    xapi_array_append_take(p, xapi_value_new_bool(true));
    r = expect(wx_callv(x, x->master, "pool.set_live_patching_disabled", p),
               "RBAC_PERMISSION_DENIED", "read-only");
    assert_string_equal(st_eparam(&r, 0), "pool.set_live_patching_disabled");
    assert_non_null(strstr(st_eparam(&r, 1), "pool-operator"));
    xapi_response_cleanup(&r);
    assert_false(get_lp(x, pool)); /* nothing refused took effect */
    char *op = login_as(x, x->master, "session.login_with_password", "operator", "oppass");
    set_lp(x, op, pool, xapi_value_new_bool(true), NULL, "as pool-operator");
    assert_true(get_lp(x, pool));
    /* event.from since the token: one mod of the pool, its snapshot has the new value */
    r = event_from(x, "pool", NULL, tok, 0);
    const struct xapi_value *evs = xapi_struct_get(r.value, "events");
    assert_int_equal(xapi_array_len(evs), 1);
    const struct xapi_value *ev = xapi_array_get(evs, 0);
    assert_string_equal(xapi_struct_str(ev, "ref", ""), pool);
    assert_string_equal(xapi_struct_str(ev, "operation", ""), "mod");
    assert_true(xapi_struct_bool(xapi_struct_get(ev, "snapshot"), "live_patching_disabled", false));
    xapi_response_cleanup(&r);
    set_lp(x, x->sess, pool, xapi_value_new_bool(false), NULL, "back on");
    assert_false(get_lp(x, pool));
    free(op), free(ro), free(pool);
}

static void test_live_patching_disabled(void **state)
{
    struct wx *x = *state;
    const char *S = x->sess;
    char *upd = introduce_livepatch(x);
    char *h3 = wx_ref_by_name(x, "host", "small-3");
    struct xapi_response r =
        expect(wx_call(x, x->master, "pool_update.precheck", S, upd, h3, NULL), NULL, "pre");
    assert_string_equal(st_str(&r), "ok_livepatch_complete");
    xapi_response_cleanup(&r);
    r = expect(wx_call(x, x->master, "pool.get_all", S, NULL), NULL, "pool");
    struct xapi_value *p = st_params(S, xapi_value_str(xapi_array_get(r.value, 0)), NULL);
    xapi_response_cleanup(&r);
    xapi_array_append_take(p, xapi_value_new_bool(true));
    EXPECT(NULL, wx_callv(x, x->master, "pool.set_live_patching_disabled", p), "switch off");
    r = expect(wx_call(x, x->master, "pool_update.precheck", S, upd, h3, NULL), NULL, "pre");
    assert_string_equal(st_str(&r), "ok"); /* no live patch: the reboot is needed */
    xapi_response_cleanup(&r);
    EXPECT(NULL, wx_call(x, x->master, "pool_update.apply", S, upd, h3, NULL), "apply");
    r = expect(wx_call(x, x->master, "host.get_updates_requiring_reboot", S, h3, NULL), NULL,
               "requiring reboot");
    assert_true(array_has(r.value, upd));
    xapi_response_cleanup(&r);
    free(h3), free(upd);
}

/* ---- upgrades (prepare_host_upgrade.py through host.call_plugin, VM_guest_metrics) ---- */

/* host.call_plugin(S, host, plugin, fn, {"url": url}) over the wire. */
static struct xapi_response call_plugin(struct wx *x, const char *host, const char *plugin,
                                        const char *fn, const char *url)
{
    struct xapi_value *p = st_params(x->sess, host, plugin, fn, NULL);
    struct xapi_value *args = xapi_value_new_struct();
    if (url)
        xapi_struct_set_string(args, "url", url);
    xapi_array_append_take(p, args);
    return wx_callv(x, x->master, "host.call_plugin", p);
}

static void test_upgrade_plugin(void **state)
{
    struct wx *x = *state;
    const char *S = x->sess;
    char url[160];
    snprintf(url, sizeof(url), "%ssim/state", x->master);
    struct buf b;
    buf_init(&b);
    long st = 0;
    assert_int_equal(wire_http("GET", url, NULL, 0, &st, &b), 0);
    json_error_t je;
    json_t *doc = json_loadb(b.data, b.len, 0, &je);
    assert_non_null(doc);
    char media[256];
    str_lcpy(media,
             json_string_value(
                 json_object_get(json_array_get(json_object_get(doc, "releases"), 0), "url")),
             sizeof(media));
    json_decref(doc);
    buf_cleanup(&b);
    char *h = wx_ref_by_name(x, "host", "rpu-2");
    /* the parameter count as gen_server.ml checks it (the session not counted) */
    struct xapi_response r =
        expect(wx_call(x, x->master, "host.call_plugin", S, h, "prepare_host_upgrade.py", NULL),
               "MESSAGE_PARAMETER_COUNT_MISMATCH", "call_plugin arity");
    assert_string_equal(st_eparam(&r, 0), "host.call_plugin");
    assert_string_equal(st_eparam(&r, 1), "4");
    xapi_response_cleanup(&r);
    r = expect(call_plugin(x, h, "prepare_host_upgrade.py", "testUrl", media), NULL, "testUrl");
    assert_string_equal(st_str(&r), "true");
    xapi_response_cleanup(&r);
    r = expect(call_plugin(x, h, "prepare_host_upgrade.py", "main", "ftp://nowhere/xs/"),
               "XENAPI_PLUGIN_FAILURE", "main of an unknown repository");
    assert_string_equal(st_eparam(&r, 0), "main");
    assert_string_equal(st_eparam(&r, 1), "Exception");
    assert_string_equal(st_eparam(&r, 2), "INVALID_URL");
    xapi_response_cleanup(&r);
    EXPECT("UNKNOWN_XENAPI_PLUGIN_FUNCTION",
           call_plugin(x, h, "prepare_host_upgrade.py", "nope", media), "unknown function");
    EXPECT("XENAPI_MISSING_PLUGIN", call_plugin(x, h, "nope.py", "main", media), "unknown plugin");
    /* Async: the task's result is the string */
    struct xapi_value *p = st_params(S, h, "prepare_host_upgrade.py", "main", NULL);
    struct xapi_value *args = xapi_value_new_struct();
    xapi_struct_set_string(args, "url", media);
    xapi_array_append_take(p, args);
    r = expect(wx_callv(x, x->master, "Async.host.call_plugin", p), NULL, "Async main");
    char *task = strdup(st_str(&r));
    xapi_response_cleanup(&r);
    char *status = wx_wait_task(x, task);
    assert_string_equal(status, "success");
    char *result = wx_get_str(x, "task", task, "result");
    assert_non_null(strstr(result, "true"));
    free(status), free(result), free(task), free(h);
}

/* VM_guest_metrics records carry every datamodel field with its type. */
static void test_guest_metrics_record(void **state)
{
    struct wx *x = *state;
    struct xapi_response r = expect(
        wx_call(x, x->master, "VM_guest_metrics.get_all_records", x->sess, NULL), NULL, "gm");
    assert_true(xapi_struct_len(r.value) == 5);
    const struct sim_class_spec *cs = sim_spec_class("VM_guest_metrics");
    assert_non_null(cs);
    for (size_t i = 0; i < xapi_struct_len(r.value); i++) {
        const struct xapi_value *rec = r.value->u.st.vals[i];
        assert_int_equal(xapi_struct_len(rec), cs->nfields);
        for (size_t k = 0; k < cs->nfields; k++) {
            const struct xapi_value *v = xapi_struct_get(rec, cs->fields[k].name);
            if (!v)
                fail_msg("VM_guest_metrics.%s missing", cs->fields[k].name);
            if (cs->fields[k].kind == FK_MAP)
                assert_int_equal(v->type, XAPI_STRUCT);
            if (cs->fields[k].kind == FK_BOOL)
                assert_int_equal(v->type, XAPI_BOOL);
        }
        assert_true(xapi_struct_bool(rec, "PV_drivers_detected", false));
    }
    xapi_response_cleanup(&r);
}

#define PER_PROTO_WITH(fn, su)                                                                     \
    cmocka_unit_test_prestate_setup_teardown(fn, su, wx_teardown, (void *)&wx_protos[0]),          \
        cmocka_unit_test_prestate_setup_teardown(fn, su, wx_teardown, (void *)&wx_protos[1]),      \
        cmocka_unit_test_prestate_setup_teardown(fn, su, wx_teardown, (void *)&wx_protos[2])

int main(void)
{
    const struct CMUnitTest tests[] = {
        WX_PER_PROTO(test_dispatch_rules),
        WX_PER_PROTO(test_records_and_sessions),
        WX_PER_PROTO(test_events),
        PER_PROTO_WITH(test_tasks, setup_slow),
        WX_PER_PROTO(test_storage),
        WX_PER_PROTO(test_rbac),
        PER_PROTO_WITH(test_pending_guidance, wx_setup_demo),
        WX_PER_PROTO(test_host_returns_when_fault_cleared),
        WX_PER_PROTO(test_live_patching_disabled),
        WX_PER_PROTO(test_live_patching_setter),
        PER_PROTO_WITH(test_upgrade_plugin, wx_setup_upgrade),
        PER_PROTO_WITH(test_guest_metrics_record, wx_setup_upgrade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
