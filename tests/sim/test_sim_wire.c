/* SPDX-License-Identifier: MIT */
/*
 * test_sim_wire.c - conformance of `poolpatch sim` over HTTP, in XML-RPC, JSON-RPC v1 and v2:
 * records, errors with parameters, HOST_IS_SLAVE, Async tasks and their lifecycle, event.from
 * tokens and long-polls, synchronous long calls, uploads, reboots (connections refused while
 * down), partitions and emergency mode, the control endpoints, malformed bodies, clean exit.
 * The simulator runs at 1000x, so simulated minutes pass in real fractions of a second.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/jsonx.h"
#include "base/str.h"
#include "simtest.h"
#include "wire.h"
#include "wx.h"

/* ---- per protocol ---- */

static void test_records(void **state)
{
    struct wx *x = *state;
    const char *classes[] = {"pool", "host", "host_metrics", "VM",         "VBD",
                             "VDI",  "SR",   "PBD",          "pool_update"};
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        char m[64];
        snprintf(m, sizeof(m), "%s.get_all_records", classes[i]);
        struct xapi_response r = wx_call(x, x->master, m, x->sess, NULL);
        if (!r.ok)
            fail_msg("%s: %s", m, st_code(&r));
        assert_int_equal(r.value->type, XAPI_STRUCT);
        assert_true(r.value->u.st.n > 0);
        /* get_record agrees with get_all_records */
        snprintf(m, sizeof(m), "%s.get_record", classes[i]);
        struct xapi_response one = wx_call(x, x->master, m, x->sess, r.value->u.st.keys[0], NULL);
        assert_true(one.ok);
        assert_string_equal(xapi_struct_str(one.value, "uuid", "a"),
                            xapi_struct_str(r.value->u.st.vals[0], "uuid", "b"));
        xapi_response_cleanup(&one);
        xapi_response_cleanup(&r);
    }
    struct xapi_response r = wx_call(x, x->master, "host.get_all_records", x->sess, NULL);
    bool found = false;
    for (size_t i = 0; i < r.value->u.st.n; i++) {
        const struct xapi_value *h = r.value->u.st.vals[i];
        int64_t amaj = 0;
        bool en = false;
        assert_int_equal(xapi_value_as_int(xapi_struct_get(h, "API_version_major"), &amaj), 0);
        assert_int_equal(amaj, 2);
        assert_int_equal(xapi_value_as_bool(xapi_struct_get(h, "enabled"), &en), 0);
        assert_true(en);
        char url[128];
        wire_url(&x->sim, xapi_struct_str(h, "address", ""), url, sizeof(url));
        found = found || strcmp(url, x->master) == 0;
        assert_string_equal(
            xapi_struct_str(xapi_struct_get(h, "software_version"), "product_version", ""),
            "8.2.1");
    }
    assert_true(found); /* the master's address is its URL's host */
    xapi_response_cleanup(&r);
}

static void test_errors(void **state)
{
    struct wx *x = *state;
    struct xapi_response r = wx_call(x, x->master, "host.get_record", x->sess, NULL);
    assert_string_equal(st_code(&r), "MESSAGE_PARAMETER_COUNT_MISMATCH");
    /* gen_server.ml counts the parameters after the session */
    assert_string_equal(st_eparam(&r, 0), "host.get_record");
    assert_string_equal(st_eparam(&r, 1), "1");
    assert_string_equal(st_eparam(&r, 2), "0");
    xapi_response_cleanup(&r);
    r = wx_call(x, x->master, "VM.no_such_call", x->sess, NULL);
    assert_string_equal(st_code(&r), "MESSAGE_METHOD_UNKNOWN");
    xapi_response_cleanup(&r);
    r = wx_call(x, x->master, "VM.get_all", "OpaqueRef:x", NULL);
    assert_string_equal(st_code(&r), "SESSION_INVALID");
    assert_string_equal(st_eparam(&r, 0), "OpaqueRef:x");
    xapi_response_cleanup(&r);
    r = wx_call(x, x->master, "host.get_record", x->sess, "OpaqueRef:y", NULL);
    assert_string_equal(st_code(&r), "HANDLE_INVALID");
    assert_string_equal(st_eparam(&r, 0), "host");
    xapi_response_cleanup(&r);
    r = wx_call(x, x->slave, "session.login_with_password", "root", "xenroot", NULL);
    assert_string_equal(st_code(&r), "HOST_IS_SLAVE");
    assert_string_equal(st_eparam(&r, 0), "127.0.0.10");
    xapi_response_cleanup(&r);
    r = wx_call(x, x->master, "session.login_with_password", "root", "bad", NULL);
    assert_string_equal(st_code(&r), "SESSION_AUTHENTICATION_FAILED");
    xapi_response_cleanup(&r);
    char *h = wx_ref_by_name(x, "host", "small-2");
    r = wx_call(x, x->master, "host.reboot", x->sess, h, NULL);
    assert_string_equal(st_code(&r), "HOST_NOT_DISABLED");
    xapi_response_cleanup(&r);
    free(h);
}

static void test_async_task_lifecycle(void **state)
{
    struct wx *x = *state;
    char *vm = wx_ref_by_name(x, "VM", "web-1");
    char *dst = wx_ref_by_name(x, "host", "small-3");
    struct xapi_value *p = st_params(x->sess, vm, dst, NULL);
    struct xapi_value *o = xapi_value_new_struct();
    xapi_struct_set_string(o, "live", "true");
    xapi_array_append_take(p, o);
    struct xapi_response r = wx_callv(x, x->master, "Async.VM.pool_migrate", p);
    assert_true(r.ok);
    char task[96];
    str_lcpy(task, st_str(&r), sizeof(task));
    assert_true(str_has_prefix(task, "OpaqueRef:"));
    xapi_response_cleanup(&r);
    char *status = wx_wait_task(x, task);
    assert_string_equal(status, "success");
    free(status);
    char *res = wx_get_str(x, "task", task, "result");
    assert_string_equal(res, "<value></value>");
    free(res);
    char *on = wx_get_str(x, "VM", vm, "resident_on");
    assert_string_equal(on, dst);
    free(on);
    r = wx_call(x, x->master, "task.destroy", x->sess, task, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = wx_call(x, x->master, "task.get_status", x->sess, task, NULL);
    assert_string_equal(st_code(&r), "HANDLE_INVALID");
    xapi_response_cleanup(&r);
    /* an Async call that fails: the task carries the error */
    r = wx_call(x, x->master, "Async.host.reboot", x->sess, dst, NULL);
    assert_true(r.ok);
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    status = wx_wait_task(x, task);
    assert_string_equal(status, "failure");
    free(status);
    r = wx_call(x, x->master, "task.get_error_info", x->sess, task, NULL);
    assert_true(r.ok);
    assert_string_equal(xapi_value_str(xapi_array_get(r.value, 0)), "HOST_NOT_DISABLED");
    xapi_response_cleanup(&r);
    /* a synchronous long call waits for its end */
    char *back = wx_ref_by_name(x, "host", "small-1");
    p = st_params(x->sess, vm, back, NULL);
    xapi_array_append_take(p, xapi_value_new_struct());
    r = wx_callv(x, x->master, "VM.pool_migrate", p);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    on = wx_get_str(x, "VM", vm, "resident_on");
    assert_string_equal(on, back);
    free(on);
    free(back);
    free(vm);
    free(dst);
}

struct blocked {
    struct wx *x;
    char token[64];
    struct xapi_response r;
    bool done;
    pthread_mutex_t mu;
};

static void *blocked_main(void *arg)
{
    struct blocked *b = arg;
    struct xapi_value *cl = xapi_value_new_array();
    xapi_array_append_string(cl, "vm");
    struct xapi_value *p = st_params(b->x->sess, NULL);
    xapi_array_append_take(p, cl);
    xapi_array_append_string(p, b->token);
    xapi_array_append_take(p, xapi_value_new_double(30000.0)); /* 30 s real at 1000x */
    struct xapi_response r = wx_callv(b->x, b->x->master, "event.from", p);
    pthread_mutex_lock(&b->mu);
    b->r = r;
    b->done = true;
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void test_event_from_tokens_and_blocking(void **state)
{
    struct wx *x = *state;
    struct xapi_value *cl = xapi_value_new_array();
    xapi_array_append_string(cl, "vm");
    struct xapi_value *p = st_params(x->sess, NULL);
    xapi_array_append_take(p, cl);
    xapi_array_append_string(p, "");
    xapi_array_append_take(p, xapi_value_new_double(1.0));
    struct xapi_response r = wx_callv(x, x->master, "event.from", p);
    assert_true(r.ok);
    const struct xapi_value *evs = xapi_struct_get(r.value, "events");
    assert_int_equal(xapi_array_len(evs), 8);
    assert_string_equal(xapi_struct_str(xapi_array_get(evs, 0), "operation", ""), "add");
    struct blocked b;
    memset(&b, 0, sizeof(b));
    pthread_mutex_init(&b.mu, NULL);
    b.x = x;
    str_lcpy(b.token, xapi_struct_str(r.value, "token", ""), sizeof(b.token));
    xapi_response_cleanup(&r);
    /* an empty batch when nothing happens before the timeout (1 s simulated = 1 ms) */
    cl = xapi_value_new_array();
    xapi_array_append_string(cl, "vm");
    p = st_params(x->sess, NULL);
    xapi_array_append_take(p, cl);
    xapi_array_append_string(p, b.token);
    xapi_array_append_take(p, xapi_value_new_double(1.0));
    r = wx_callv(x, x->master, "event.from", p);
    assert_true(r.ok);
    assert_int_equal(xapi_array_len(xapi_struct_get(r.value, "events")), 0);
    xapi_response_cleanup(&r);
    /* a long-poll is parked until a change arrives */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, blocked_main, &b), 0);
    usleep(300 * 1000);
    pthread_mutex_lock(&b.mu);
    bool early = b.done;
    pthread_mutex_unlock(&b.mu);
    assert_false(early);
    char *vm = wx_ref_by_name(x, "VM", "db-1");
    r = wx_call(x, x->master, "VM.add_to_other_config", x->sess, vm, "wake", "up", NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    pthread_join(t, NULL);
    assert_true(b.r.ok);
    evs = xapi_struct_get(b.r.value, "events");
    assert_int_equal(xapi_array_len(evs), 1);
    assert_string_equal(xapi_struct_str(xapi_array_get(evs, 0), "operation", ""), "mod");
    assert_string_equal(xapi_struct_str(xapi_array_get(evs, 0), "ref", ""), vm);
    xapi_response_cleanup(&b.r);
    free(vm);
    /* a malformed token */
    cl = xapi_value_new_array();
    xapi_array_append_string(cl, "*");
    p = st_params(x->sess, NULL);
    xapi_array_append_take(p, cl);
    xapi_array_append_string(p, "not-a-token");
    xapi_array_append_take(p, xapi_value_new_double(1.0));
    r = wx_callv(x, x->master, "event.from", p);
    assert_string_equal(st_code(&r), "EVENT_FROM_TOKEN_PARSE_FAILURE");
    xapi_response_cleanup(&r);
    pthread_mutex_destroy(&b.mu);
}

static json_t *state_doc(struct wx *x)
{
    char url[160];
    snprintf(url, sizeof(url), "%ssim/state", x->master);
    struct buf b;
    long st;
    buf_init(&b);
    assert_int_equal(wire_http("GET", url, NULL, 0, &st, &b), 0);
    assert_int_equal(st, 200);
    json_t *j = NULL;
    assert_int_equal(jsonx_load(b.data, b.len, 1 << 20, 32, "state", &j, NULL), 0);
    buf_cleanup(&b);
    return j;
}

static json_t *host_state(json_t *doc, size_t i)
{
    return json_array_get(
        json_object_get(json_array_get(json_object_get(doc, "pools"), 0), "hosts"), i);
}

static void test_reboot_over_the_wire(void **state)
{
    struct wx *x = *state;
    char *h = wx_ref_by_name(x, "host", "small-2");
    struct xapi_response r = wx_call(x, x->master, "host.disable", x->sess, h, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = wx_call(x, x->master, "host.reboot", x->sess, h, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    /* the rebooting host does not answer at all */
    r = wx_call(x, x->slave, "session.login_with_password", "root", "xenroot", NULL);
    assert_string_equal(st_code(&r), "HTTP");
    xapi_response_cleanup(&r);
    /* wait (180 s simulated) for it through event.from on host_metrics */
    for (int i = 0; i < 200; i++) {
        json_t *doc = state_doc(x);
        bool live = json_is_true(json_object_get(host_state(doc, 1), "live"));
        json_decref(doc);
        if (live)
            break;
        usleep(20 * 1000);
    }
    json_t *doc = state_doc(x);
    json_t *hs = host_state(doc, 1);
    assert_true(json_is_true(json_object_get(hs, "live")));
    assert_true(json_is_false(json_object_get(hs, "enabled")));
    assert_int_equal(json_integer_value(json_object_get(hs, "reboots")), 1);
    json_decref(doc);
    r = wx_call(x, x->slave, "session.login_with_password", "root", "xenroot", NULL);
    assert_string_equal(st_code(&r), "HOST_IS_SLAVE");
    xapi_response_cleanup(&r);
    free(h);
}

static void test_upload_and_update(void **state)
{
    struct wx *x = *state;
    struct xapi_response r = wx_call(x, x->master, "task.create", x->sess, "upload", "", NULL);
    char task[96];
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    char *sr = wx_ref_by_name(x, "SR", "nfs-shared");
    char url[512];
    snprintf(url, sizeof(url), "%simport_raw_vdi?session_id=%s&sr_id=%s&task_id=%s", x->master,
             x->sess, sr, task);
    static const char xml[] =
        "<update uuid=\"0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5\" name-label=\"XS82ECU1011\" "
        "version=\"1.0\" installation-size=\"1048576\" after-apply-guidance=\"restartXAPI\"/>";
    long st;
    struct buf b;
    buf_init(&b);
    assert_int_equal(wire_http("PUT", url, xml, sizeof(xml), &st, &b), 0);
    assert_int_equal(st, 200);
    buf_cleanup(&b);
    char *status = wx_wait_task(x, task);
    assert_string_equal(status, "success");
    free(status);
    char *res = wx_get_str(x, "task", task, "result");
    assert_true(str_has_prefix(res, "<value>OpaqueRef:"));
    char vdi[96];
    str_lcpy(vdi, res + 7, sizeof(vdi));
    vdi[strlen(vdi) - 8] = '\0';
    free(res);
    r = wx_call(x, x->master, "pool_update.introduce", x->sess, vdi, NULL);
    if (!r.ok)
        fail_msg("introduce: %s %s", st_code(&r), st_eparam(&r, 0));
    char upd[96];
    str_lcpy(upd, st_str(&r), sizeof(upd));
    xapi_response_cleanup(&r);
    char *h = wx_ref_by_name(x, "host", "small-3");
    r = wx_call(x, x->master, "pool_update.precheck", x->sess, upd, h, NULL);
    assert_true(r.ok);
    assert_string_equal(st_str(&r), "ok");
    xapi_response_cleanup(&r);
    r = wx_call(x, x->master, "pool_update.apply", x->sess, upd, h, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    r = wx_call(x, x->master, "pool_update.get_hosts", x->sess, upd, NULL);
    assert_int_equal(xapi_array_len(r.value), 1);
    xapi_response_cleanup(&r);
    /* uploads to a supporter are refused */
    wire_url(&x->sim, "127.0.0.11", url, sizeof(url));
    str_lcpy(url + strlen(url), "import_raw_vdi?session_id=x", sizeof(url) - strlen(url));
    buf_init(&b);
    assert_int_equal(wire_http("PUT", url, "x", 1, &st, &b), 0);
    assert_int_equal(st, 500);
    assert_non_null(strstr(buf_str(&b), "HOST_IS_SLAVE"));
    buf_cleanup(&b);
    free(h);
    free(sr);
}

/* Send a PUT's head and part of its body on a raw socket, then close it (a dropped upload). */
static void put_cut_short(const struct wx *x, const char *target, size_t sent, size_t declared)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)x->sim.port)};
    inet_pton(AF_INET, "127.0.0.10", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "PUT %s HTTP/1.1\r\nHost: 127.0.0.10\r\nContent-Length: %zu\r\n\r\n", target,
                     declared);
    assert_int_equal(write(fd, head, (size_t)n), n);
    char *body = calloc(1, sent);
    assert_int_equal(write(fd, body, sent), (ssize_t)sent);
    free(body);
    close(fd);
}

/*
 * An upload whose connection drops mid-body fails its task as xapi's import_raw_vdi.ml does
 * (INTERNAL_ERROR), instead of leaving it pending forever; no VDI is created.
 */
static void test_upload_cut_short(void **state)
{
    struct wx *x = *state;
    struct xapi_response r = wx_call(x, x->master, "task.create", x->sess, "upload", "", NULL);
    char task[96];
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    char *sr = wx_ref_by_name(x, "SR", "nfs-shared");
    r = wx_call(x, x->master, "VDI.get_all", x->sess, NULL);
    size_t nvdis = xapi_array_len(r.value);
    xapi_response_cleanup(&r);
    char target[512];
    snprintf(target, sizeof(target), "/import_raw_vdi?session_id=%s&sr_id=%s&task_id=%s", x->sess,
             sr, task);
    put_cut_short(x, target, 4096, 1048576);
    char *status = wx_wait_task(x, task);
    assert_string_equal(status, "failure");
    free(status);
    r = wx_call(x, x->master, "task.get_error_info", x->sess, task, NULL);
    assert_true(r.ok);
    assert_string_equal(xapi_value_str(xapi_array_get(r.value, 0)), "INTERNAL_ERROR");
    xapi_response_cleanup(&r);
    r = wx_call(x, x->master, "VDI.get_all", x->sess, NULL);
    assert_int_equal(xapi_array_len(r.value), nvdis);
    xapi_response_cleanup(&r);
    free(sr);
}

static void test_partition_emergency_and_control(void **state)
{
    struct wx *x = *state;
    char url[160];
    struct buf b;
    long st;
    /* bad fault documents: 400 with the field named */
    snprintf(url, sizeof(url), "%ssim/fault", x->master);
    buf_init(&b);
    const char *bad = "{\"type\":\"partition\",\"pool\":\"nope\"}";
    assert_int_equal(wire_http("POST", url, bad, strlen(bad), &st, &b), 0);
    assert_int_equal(st, 400);
    assert_non_null(strstr(buf_str(&b), "pool"));
    buf_reset(&b);
    const char *notjson = "{";
    assert_int_equal(wire_http("POST", url, notjson, 1, &st, &b), 0);
    assert_int_equal(st, 400);
    buf_reset(&b);
    const char *f = "{\"type\":\"partition\",\"pool\":\"small-pool\",\"code\":"
                    "\"HOST_HAS_NO_MANAGEMENT_IP\"}";
    assert_int_equal(wire_http("POST", url, f, strlen(f), &st, &b), 0);
    assert_int_equal(st, 200);
    buf_cleanup(&b);
    /* the master is cut off; after a simulated minute the supporters are in emergency mode */
    struct xapi_response r = wx_call(x, x->master, "pool.get_all", x->sess, NULL);
    assert_string_equal(st_code(&r), "HTTP");
    xapi_response_cleanup(&r);
    /* the control endpoints still answer on the cut-off address */
    json_t *doc = state_doc(x);
    assert_true(json_is_true(
        json_object_get(json_array_get(json_object_get(doc, "pools"), 0), "partitioned")));
    json_decref(doc);
    bool emergency = false;
    for (int i = 0; i < 200 && !emergency; i++) {
        r = wx_call(x, x->slave, "pool.get_all", "OpaqueRef:x", NULL);
        emergency = strcmp(st_code(&r), "HOST_HAS_NO_MANAGEMENT_IP") == 0;
        xapi_response_cleanup(&r);
        if (!emergency)
            usleep(10 * 1000);
    }
    assert_true(emergency);
    if (x->proto != XAPI_PROTO_XMLRPC) {
        /* JSON-RPC: xapi's pre-dispatch form, an array and id 0 */
        char jurl[160];
        snprintf(jurl, sizeof(jurl), "%sjsonrpc", x->slave);
        const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"pool.get_all\","
                          "\"params\":[\"OpaqueRef:x\"],\"id\":5}";
        buf_init(&b);
        assert_int_equal(wire_http("POST", jurl, req, strlen(req), &st, &b), 0);
        json_t *j = NULL;
        assert_int_equal(jsonx_load(b.data, b.len, 1 << 16, 8, "reply", &j, NULL), 0);
        json_t *err = json_object_get(j, "error");
        assert_true(json_is_array(err));
        assert_string_equal(json_string_value(json_array_get(err, 0)), "HOST_HAS_NO_MANAGEMENT_IP");
        assert_int_equal(json_integer_value(json_object_get(j, "id")), 0);
        json_decref(j);
        buf_cleanup(&b);
    }
    r = wx_call(x, x->slave, "session.slave_local_login_with_password", "root", "xenroot", NULL);
    assert_true(r.ok);
    char ls[96];
    str_lcpy(ls, st_str(&r), sizeof(ls));
    xapi_response_cleanup(&r);
    r = wx_call(x, x->slave, "pool.emergency_transition_to_master", ls, NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    /* the new master serves normal logins; the old one stays cut off */
    r = wx_call(x, x->slave, "session.login_with_password", "root", "xenroot", NULL);
    assert_true(r.ok);
    xapi_response_cleanup(&r);
    /* clearing the partition makes the old coordinator reachable again (as a supporter) */
    char surl[160];
    snprintf(surl, sizeof(surl), "%ssim/fault", x->slave);
    buf_init(&b);
    const char *clr = "{\"type\":\"clear\"}";
    assert_int_equal(wire_http("POST", surl, clr, strlen(clr), &st, &b), 0);
    assert_int_equal(st, 200);
    buf_cleanup(&b);
    r = wx_call(x, x->master, "session.login_with_password", "root", "xenroot", NULL);
    assert_string_equal(st_code(&r), "HOST_IS_SLAVE");
    assert_string_equal(st_eparam(&r, 0), "127.0.0.11");
    xapi_response_cleanup(&r);
}

static void test_malformed_bodies(void **state)
{
    struct wx *x = *state;
    long st;
    struct buf b;
    buf_init(&b);
    assert_int_equal(wire_http("POST", x->master, "<methodCall>", 12, &st, &b), 0);
    assert_int_equal(st, 500);
    buf_reset(&b);
    char url[160];
    snprintf(url, sizeof(url), "%sjsonrpc", x->master);
    assert_int_equal(wire_http("POST", url, "{\"method\":1}", 12, &st, &b), 0);
    assert_int_equal(st, 500);
    buf_reset(&b);
    snprintf(url, sizeof(url), "%snowhere", x->master);
    assert_int_equal(wire_http("GET", url, NULL, 0, &st, &b), 0);
    assert_int_equal(st, 404);
    buf_cleanup(&b);
}

/* Expect success (code NULL) or the given error code; returns the response for more checks. */
static struct xapi_response expect(struct wx *x, const char *code, struct xapi_response r,
                                   const char *what)
{
    if (code ? strcmp(st_code(&r), code) != 0 : !r.ok)
        fail_msg("%s: got %s %s, expected %s", what, r.ok ? "success" : st_code(&r),
                 st_eparam(&r, 0), code ? code : "success");
    (void)x;
    return r;
}

#define EXPECT(code, call)                                                                         \
    do {                                                                                           \
        struct xapi_response r_ = expect(x, code, call, #call);                                    \
        xapi_response_cleanup(&r_);                                                                \
    } while (0)

/* Every call of the issue over the wire, in order, on demo.json. */
/* VBD.eject / insert on a VM's CD drive (win-jump has one with an ISO). */
static void check_cd_drive(struct wx *x, const char *wj)
{
    const char *S = x->sess;
    struct xapi_response r;
    r = wx_call(x, x->master, "VM.get_VBDs", S, wj, NULL);
    char cd[96] = "";
    for (size_t i = 0; i < xapi_array_len(r.value); i++) {
        const char *b = xapi_value_str(xapi_array_get(r.value, i));
        char *t = wx_get_str(x, "VBD", b, "type");
        if (strcmp(t, "CD") == 0)
            str_lcpy(cd, b, sizeof(cd));
        free(t);
    }
    xapi_response_cleanup(&r);
    char *iso = wx_get_str(x, "VBD", cd, "VDI");
    EXPECT(NULL, wx_call(x, x->master, "VBD.eject", S, cd, NULL));
    EXPECT("VBD_IS_EMPTY", wx_call(x, x->master, "VBD.eject", S, cd, NULL));
    EXPECT(NULL, wx_call(x, x->master, "VBD.insert", S, cd, iso, NULL));
    EXPECT("VBD_NOT_EMPTY", wx_call(x, x->master, "VBD.insert", S, cd, iso, NULL));
    free(iso);
}

/* pool_update on the scenario's partly applied update. */
static void check_pool_update(struct wx *x)
{
    const char *S = x->sess;
    struct xapi_response r;
    r = wx_call(x, x->master, "pool_update.get_by_name_label", S, "XS82ECU1002", NULL);
    char upd[96];
    str_lcpy(upd, xapi_value_str(xapi_array_get(r.value, 0)), sizeof(upd));
    xapi_response_cleanup(&r);
    EXPECT("UPDATE_IS_APPLIED", wx_call(x, x->master, "pool_update.destroy", S, upd, NULL));
    EXPECT(NULL, wx_call(x, x->master, "pool_update.pool_apply", S, upd, NULL));
    EXPECT("UPDATE_ALREADY_APPLIED_IN_POOL",
           wx_call(x, x->master, "pool_update.pool_apply", S, upd, NULL));
    EXPECT(NULL, wx_call(x, x->master, "pool_update.pool_clean", S, upd, NULL));
}

/* XenServer 8: GET /updates on the lab pool; prod has no repository (404). */
static void check_repository_updates(struct wx *x)
{
    const char *S = x->sess;
    {
        const char *lab = x->sim.pool_url[1];
        struct xapi_response lr =
            expect(x, NULL, wx_call(x, lab, "session.login_with_password", "root", "xenroot", NULL),
                   "lab");
        char url[256];
        long hst;
        struct buf b;
        buf_init(&b);
        snprintf(url, sizeof(url), "%supdates?session_id=%s", lab, st_str(&lr));
        assert_int_equal(wire_http("GET", url, NULL, 0, &hst, &b), 0);
        assert_int_equal(hst, 200);
        json_t *doc = NULL;
        assert_int_equal(jsonx_load(b.data, b.len, 1 << 20, 16, "updates", &doc, NULL), 0);
        assert_int_equal(json_array_size(json_object_get(doc, "updates")), 2);
        assert_int_equal(strlen(json_string_value(json_object_get(doc, "hash"))), 64);
        json_decref(doc);
        buf_reset(&b);
        snprintf(url, sizeof(url), "%supdates?session_id=OpaqueRef:nope", lab);
        assert_int_equal(wire_http("GET", url, NULL, 0, &hst, &b), 0);
        assert_int_equal(hst, 401);
        buf_reset(&b);
        snprintf(url, sizeof(url), "%supdates?session_id=%s", x->master, S);
        assert_int_equal(wire_http("GET", url, NULL, 0, &hst, &b), 0);
        assert_int_equal(hst, 404);
        buf_cleanup(&b);
        xapi_response_cleanup(&lr);
    }
}

static void test_every_call(void **state)
{
    struct wx *x = *state;
    const char *S = x->sess;
    char *h1 = wx_ref_by_name(x, "host", "prod-1"), *h2 = wx_ref_by_name(x, "host", "prod-2");
    char *h4 = wx_ref_by_name(x, "host", "prod-4");
    char *crm = wx_ref_by_name(x, "VM", "old-crm"), *wj = wx_ref_by_name(x, "VM", "win-jump");
    char *mon = wx_ref_by_name(x, "VM", "monitoring");
    char *uuid = wx_get_str(x, "VM", crm, "uuid");
    /* generic field calls */
    struct xapi_response r =
        expect(x, NULL, wx_call(x, x->master, "VM.get_by_uuid", S, uuid, NULL), "get_by_uuid");
    assert_string_equal(st_str(&r), crm);
    xapi_response_cleanup(&r);
    EXPECT(NULL, wx_call(x, x->master, "VM.set_name_label", S, crm, "crm-old", NULL));
    EXPECT(NULL, wx_call(x, x->master, "host.add_to_other_config", S, h4, "k", "v", NULL));
    EXPECT("MAP_DUPLICATE_KEY",
           wx_call(x, x->master, "host.add_to_other_config", S, h4, "k", "v", NULL));
    EXPECT(NULL, wx_call(x, x->master, "host.remove_from_other_config", S, h4, "k", NULL));
    const char *classes[] = {"pool", "host", "host_metrics", "VM",          "VBD",
                             "VDI",  "SR",   "PBD",          "pool_update", "task"};
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        char m[64];
        snprintf(m, sizeof(m), "%s.get_all", classes[i]);
        EXPECT(NULL, wx_call(x, x->master, m, S, NULL));
    }
    r = expect(x, NULL, wx_call(x, x->master, "system.listMethods", NULL), "listMethods");
    assert_true(xapi_array_len(r.value) > 100);
    xapi_response_cleanup(&r);
    /* host */
    r = expect(x, NULL, wx_call(x, x->master, "host.compute_free_memory", S, h4, NULL), "cfm");
    int64_t fm = 0;
    assert_int_equal(xapi_value_as_int(r.value, &fm), 0);
    assert_true(fm > 0);
    xapi_response_cleanup(&r);
    r = expect(x, NULL, wx_call(x, x->master, "host.get_vms_which_prevent_evacuation", S, h2, NULL),
               "vms preventing");
    assert_int_equal(r.value->u.st.n, 1);
    xapi_response_cleanup(&r);
    EXPECT("CANNOT_EVACUATE_HOST", wx_call(x, x->master, "host.assert_can_evacuate", S, h2, NULL));
    EXPECT(NULL, wx_call(x, x->master, "host.assert_can_evacuate", S, h4, NULL));
    EXPECT(NULL, wx_call(x, x->master, "host.disable", S, h4, NULL));
    EXPECT(NULL, wx_call(x, x->master, "host.evacuate", S, h4, NULL));
    r = wx_call(x, x->master, "host.get_resident_VMs", S, h4, NULL);
    assert_int_equal(xapi_array_len(r.value), 1);
    xapi_response_cleanup(&r);
    EXPECT(NULL, wx_call(x, x->master, "host.enable", S, h4, NULL));
    EXPECT(NULL, wx_call(x, x->master, "host.restart_agent", S, h4, NULL));
    EXPECT("HOST_IS_LIVE", wx_call(x, x->master, "host.destroy", S, h4, NULL));
    /* VM power and checks */
    EXPECT("VM_BAD_POWER_STATE", wx_call(x, x->master, "VM.clean_shutdown", S, crm, NULL));
    EXPECT(NULL, wx_call(x, x->master, "VM.assert_operation_valid", S, crm, "start", NULL));
    EXPECT(NULL, wx_call(x, x->master, "VM.start", S, crm, "false", "false", NULL));
    EXPECT(NULL, wx_call(x, x->master, "VM.suspend", S, crm, NULL));
    EXPECT(NULL, wx_call(x, x->master, "VM.resume", S, crm, "false", "false", NULL));
    EXPECT(NULL, wx_call(x, x->master, "VM.hard_shutdown", S, crm, NULL));
    EXPECT("VM_REQUIRES_SR", wx_call(x, x->master, "VM.assert_can_boot_here", S, wj, h1, NULL));
    EXPECT(NULL, wx_call(x, x->master, "VM.assert_can_boot_here", S, mon, h1, NULL));
    check_cd_drive(x, wj);
    /* tasks and events */
    r = wx_call(x, x->master, "task.create", S, "mine", "desc", NULL);
    char task[96];
    str_lcpy(task, st_str(&r), sizeof(task));
    xapi_response_cleanup(&r);
    EXPECT(NULL, wx_call(x, x->master, "task.cancel", S, task, NULL));
    char *st = wx_get_str(x, "task", task, "status");
    assert_string_equal(st, "pending"); /* its creator finishes it (xapi_task.ml) */
    free(st);
    EXPECT(NULL, wx_call(x, x->master, "task.set_status", S, task, "cancelled", NULL));
    st = wx_get_str(x, "task", task, "status");
    assert_string_equal(st, "cancelled");
    free(st);
    EXPECT(NULL, wx_call(x, x->master, "task.destroy", S, task, NULL));
    EXPECT(NULL, wx_call(x, x->master, "event.inject", S, "VM", crm, NULL));
    /* pool: HA, new master, recover */
    EXPECT("HA_IS_ENABLED", wx_call(x, x->master, "pool.designate_new_master", S, h2, NULL));
    EXPECT(NULL, wx_call(x, x->master, "pool.disable_ha", S, NULL));
    {
        struct xapi_value *p = st_params(S, NULL);
        xapi_array_append_take(p, xapi_value_new_array());
        xapi_array_append_take(p, xapi_value_new_struct());
        EXPECT(NULL, wx_callv(x, x->master, "pool.enable_ha", p));
    }
    EXPECT(NULL, wx_call(x, x->master, "pool.disable_ha", S, NULL));
    r = expect(x, NULL, wx_call(x, x->master, "pool.recover_slaves", S, NULL), "recover");
    assert_int_equal(xapi_array_len(r.value), 0);
    xapi_response_cleanup(&r);
    check_pool_update(x);
    check_repository_updates(x);
    /* designate a new master; the old one answers HOST_IS_SLAVE with the new address */
    EXPECT(NULL, wx_call(x, x->master, "pool.designate_new_master", S, h2, NULL));
    r = wx_call(x, x->master, "pool.get_all", S, NULL);
    assert_string_equal(st_code(&r), "HOST_IS_SLAVE");
    assert_string_equal(st_eparam(&r, 0), "127.0.0.11");
    xapi_response_cleanup(&r);
    EXPECT(NULL, wx_call(x, x->slave, "session.logout", S, NULL));
    EXPECT("SESSION_INVALID", wx_call(x, x->slave, "pool.get_all", S, NULL));
    free(h1);
    free(h2);
    free(h4);
    free(crm);
    free(wj);
    free(mon);
    free(uuid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        WX_PER_PROTO(test_records),
        WX_PER_PROTO(test_errors),
        WX_PER_PROTO(test_async_task_lifecycle),
        WX_PER_PROTO(test_event_from_tokens_and_blocking),
        WX_PER_PROTO(test_reboot_over_the_wire),
        WX_PER_PROTO(test_upload_and_update),
        WX_PER_PROTO(test_upload_cut_short),
        WX_PER_PROTO(test_partition_emergency_and_control),
        cmocka_unit_test_prestate_setup_teardown(test_every_call, wx_setup_demo, wx_teardown,
                                                 (void *)&wx_protos[0]),
        cmocka_unit_test_prestate_setup_teardown(test_every_call, wx_setup_demo, wx_teardown,
                                                 (void *)&wx_protos[1]),
        cmocka_unit_test_prestate_setup_teardown(test_every_call, wx_setup_demo, wx_teardown,
                                                 (void *)&wx_protos[2]),
        cmocka_unit_test_prestate_setup_teardown(test_malformed_bodies, wx_setup, wx_teardown,
                                                 (void *)&wx_protos[0]),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
