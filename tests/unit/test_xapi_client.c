/* SPDX-License-Identifier: MIT */
/*
 * test_xapi_client.c - unit tests of the XAPI client: its pure decisions (backoff, error
 * translation, replay rules, addresses, credential masking, reply classification, cache apply,
 * fingerprints and pins), and its state machines driven through the in-process transport
 * against a small fake pool defined here, on a virtual clock: login through a supporter,
 * re-login on SESSION_INVALID, emergency mode, reconnect with backoff across a master outage,
 * Async tasks with progress / failure / cancel, the event cache with EVENTS_LOST, the per-pool
 * connection cap, cancellation and the rule that passwords never reach logs or errors.
 * (Tests over HTTP against `poolpatch sim` live in tests/sim/test_client_sim.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/str.h"
#include "xapi/client.h"
#include "xapi_testutil.h"
#include "xapi/client_int.h"
#include "xapi/codec.h"
#include "xapi/tls.h"

#define PASSWORD "s3cr3t-Pa55word"

/* ================= pure helpers ================= */

static void never_fires(void *arg)
{
    (void)arg;
    fail_msg("a timer fired after its loop was freed");
}

/* A user's timer (xapi_timer_add) still pending when its loop is freed: the loop frees it with
 * its wrapper (leaked the wrapper before: LeakSanitizer fails this test under the ASan build);
 * one cancelled before, and one that fired, are freed by then. */
static void test_loop_free_with_pending_user_timer(void **state)
{
    (void)state;
    struct err e = {0};
    struct pp_clock *clk = clock_virtual_new(1000);
    struct xapi_loop *loop = xapi_loop_new(clk, &e);
    assert_non_null(loop);
    struct xapi_timer *pending = xapi_timer_add(loop, 60000, never_fires, NULL);
    struct xapi_timer *cancelled = xapi_timer_add(loop, 30000, never_fires, NULL);
    assert_non_null(pending);
    xapi_timer_cancel(loop, &cancelled);
    assert_null(cancelled);
    xapi_loop_free(loop);
    clock_free(clk);
}

static void test_backoff_schedule(void **state)
{
    (void)state;
    struct rng r;
    rng_seed(&r, 42);
    int64_t prev_max = 0;
    for (unsigned a = 0; a < 12; a++) {
        int64_t d = xapi_backoff_delay(a, 100, 5000, &r);
        int64_t full = 100LL << (a > 6 ? 6 : a);
        if (full > 5000)
            full = 5000;
        assert_true(d >= full / 2);
        assert_true(d <= full);
        assert_true(full >= prev_max);
        prev_max = full;
    }
    /* Deterministic for a seed; jitter differs between draws. */
    struct rng r1, r2;
    rng_seed(&r1, 7);
    rng_seed(&r2, 7);
    bool differs = false;
    int64_t first = xapi_backoff_delay(10, 1000, 60000, &r1);
    assert_int_equal(first, xapi_backoff_delay(10, 1000, 60000, &r2));
    for (int i = 0; i < 20; i++)
        if (xapi_backoff_delay(10, 1000, 60000, &r1) != first)
            differs = true;
    assert_true(differs);
    assert_true(xapi_backoff_delay(1000, 1000, 60000, &r1) <= 60000);
    assert_true(xapi_backoff_delay(0, 0, 0, &r1) >= 1);
}

static void test_error_rules(void **state)
{
    (void)state;
    assert_true(xapi_is_emergency_code("HOST_STILL_BOOTING"));
    assert_true(xapi_is_emergency_code("HOST_MASTER_CANNOT_TALK_BACK"));
    assert_false(xapi_is_emergency_code("HOST_IS_SLAVE"));
    assert_false(xapi_is_emergency_code(NULL));
    assert_true(xapi_method_idempotent("VM.get_all_records"));
    assert_true(xapi_method_idempotent("event.from"));
    assert_true(xapi_method_idempotent("host.get_record"));
    assert_false(xapi_method_idempotent("host.reboot"));
    assert_false(xapi_method_idempotent("Async.host.get_servertime"));
    assert_false(xapi_method_idempotent("VM.pool_migrate"));
    assert_false(xapi_method_takes_session("session.login_with_password"));
    assert_false(xapi_method_takes_session("session.slave_local_login_with_password"));
    assert_true(xapi_method_takes_session("session.logout"));
    assert_true(xapi_method_is_long_poll("event.from"));
    assert_false(xapi_method_is_long_poll("event.inject"));

    struct xapi_value *d = xapi_value_new_array();
    xapi_array_append_string(d, "HOST_IS_SLAVE");
    xapi_array_append_string(d, "10.0.0.11");
    struct err e = {0};
    assert_int_equal(xapi_err_from_description(d, &e), PP_EXAPI);
    assert_string_equal(e.xapi_code, "HOST_IS_SLAVE");
    assert_string_equal(e.msg, "HOST_IS_SLAVE [10.0.0.11]");
    xapi_array_append_string(d, "x y");
    assert_int_equal(xapi_err_from_description(d, &e), PP_EXAPI);
    assert_string_equal(e.msg, "HOST_IS_SLAVE [10.0.0.11, x y]");
    xapi_value_free(d);
    d = xapi_value_new_array();
    assert_int_equal(xapi_err_from_description(d, &e), PP_EPARSE);
    xapi_value_free(d);
    d = xapi_value_new_string("SESSION_INVALID");
    assert_int_equal(xapi_err_from_description(d, &e), PP_EPARSE);
    xapi_value_free(d);
}

static void test_urls(void **state)
{
    (void)state;
    char *s, *h;
    int port;
    assert_int_equal(xapi_url_split("http://127.0.0.10:8080/", &s, &h, &port), 0);
    assert_string_equal(s, "http");
    assert_string_equal(h, "127.0.0.10");
    assert_int_equal(port, 8080);
    char *u = xapi_url_build(s, "127.0.0.11", port, "/jsonrpc");
    assert_string_equal(u, "http://127.0.0.11:8080/jsonrpc");
    free(u);
    free(s);
    free(h);
    assert_int_equal(xapi_url_split("10.0.0.1", &s, &h, &port), 0);
    assert_string_equal(s, "https");
    assert_string_equal(h, "10.0.0.1");
    assert_int_equal(port, 0);
    u = xapi_url_build(s, h, port, "/");
    assert_string_equal(u, "https://10.0.0.1/");
    free(u);
    free(s);
    free(h);
    assert_int_equal(xapi_url_split("https://[fe80::1]:443", &s, &h, &port), 0);
    assert_string_equal(h, "fe80::1");
    u = xapi_url_build(s, h, port, "/jsonrpc");
    assert_string_equal(u, "https://[fe80::1]:443/jsonrpc");
    free(u);
    free(s);
    free(h);
    /* a bare IPv6 host and port: https assumed */
    assert_int_equal(xapi_url_split("[::1]:8443", &s, &h, &port), 0);
    assert_string_equal(s, "https");
    assert_string_equal(h, "::1");
    assert_int_equal(port, 8443);
    free(s);
    free(h);
    assert_int_equal(xapi_url_split("ftp://x", &s, &h, &port), PP_EINVAL);
    assert_int_equal(xapi_url_split("http://h:0/", &s, &h, &port), PP_EINVAL);
    assert_int_equal(xapi_url_split("http://h h/", &s, &h, &port), PP_EINVAL);
    assert_int_equal(xapi_url_split("http://:80/", &s, &h, &port), PP_EINVAL);
    assert_int_equal(xapi_url_split("http://h:99999/", &s, &h, &port), PP_EINVAL);
    assert_int_equal(xapi_url_split("", &s, &h, &port), PP_EINVAL);
}

static void test_describe_masks_password(void **state)
{
    (void)state;
    struct xapi_value *p = xapi_value_new_array();
    xapi_array_append_string(p, "root");
    xapi_array_append_string(p, PASSWORD);
    xapi_array_append_string(p, "1.0");
    struct buf b;
    buf_init(&b);
    xapi_call_describe(&b, "session.login_with_password", p);
    assert_null(strstr(buf_str(&b), PASSWORD));
    assert_non_null(strstr(buf_str(&b), "root"));
    assert_non_null(strstr(buf_str(&b), "***"));
    buf_reset(&b);
    xapi_call_describe(&b, "VM.get_record", p);
    assert_non_null(strstr(buf_str(&b), PASSWORD)); /* only credentials are masked */
    buf_reset(&b);
    struct xapi_value *j = xapi_value_new_array();
    xapi_array_append_string(j, "OpaqueRef:s");
    xapi_array_append_string(j, "10.0.0.1");
    xapi_array_append_string(j, "root");
    xapi_array_append_string(j, PASSWORD);
    xapi_call_describe(&b, "pool.join", j);
    assert_null(strstr(buf_str(&b), PASSWORD));
    xapi_value_free(j);
    xapi_value_free(p);
    buf_cleanup(&b);
}

static void test_classify_reply(void **state)
{
    (void)state;
    struct xapi_limits lim;
    xapi_limits_response(&lim);
    struct xapi_response r;
    struct err e = {0};
    const char *ok = "{\"jsonrpc\":\"2.0\",\"result\":\"OpaqueRef:abc\",\"id\":1}";
    assert_int_equal(xapi_classify_reply(XAPI_PREF_JSONRPC, 200, "application/json", ok, strlen(ok),
                                         &lim, &r, &e),
                     0);
    assert_true(r.ok);
    assert_string_equal(xapi_value_str(r.value), "OpaqueRef:abc");
    xapi_response_cleanup(&r);
    const char *er = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":\"SESSION_INVALID\","
                     "\"data\":[\"OpaqueRef:s\"]},\"id\":1}";
    assert_int_equal(
        xapi_classify_reply(XAPI_PREF_JSONRPC, 200, NULL, er, strlen(er), &lim, &r, &e), 0);
    assert_false(r.ok);
    assert_string_equal(xapi_value_str(xapi_array_get(r.error, 0)), "SESSION_INVALID");
    xapi_response_cleanup(&r);
    const char *pre = "{\"jsonrpc\":\"2.0\",\"error\":[\"HOST_STILL_BOOTING\"],\"id\":0}";
    assert_int_equal(xapi_classify_reply(XAPI_PREF_JSONRPC, 200, "application/json", pre,
                                         strlen(pre), &lim, &r, &e),
                     0);
    assert_false(r.ok);
    assert_string_equal(xapi_value_str(xapi_array_get(r.error, 0)), "HOST_STILL_BOOTING");
    xapi_response_cleanup(&r);
    /* No JSON-RPC here: 404, or an HTML / XML answer. */
    assert_int_equal(xapi_classify_reply(XAPI_PREF_AUTO, 404, "text/html", "nope", 4, &lim, &r, &e),
                     XREPLY_FALLBACK);
    assert_int_equal(
        xapi_classify_reply(XAPI_PREF_JSONRPC, 200, "text/html", "<html>", 6, &lim, &r, &e),
        XREPLY_FALLBACK);
    assert_int_equal(
        xapi_classify_reply(XAPI_PREF_JSONRPC, 500, "text/html", "<html>", 6, &lim, &r, &e),
        PP_ETRANSPORT);
    const char *x = "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>"
                    "<member><name>Status</name><value>Success</value></member><member>"
                    "<name>Value</name><value>OpaqueRef:x</value></member></struct></value>"
                    "</param></params></methodResponse>";
    assert_int_equal(
        xapi_classify_reply(XAPI_PREF_XMLRPC, 200, "text/xml", x, strlen(x), &lim, &r, &e), 0);
    assert_true(r.ok);
    assert_string_equal(xapi_value_str(r.value), "OpaqueRef:x");
    xapi_response_cleanup(&r);
    assert_true(xapi_classify_reply(XAPI_PREF_JSONRPC, 200, "application/json", "{\"x\":", 5, &lim,
                                    &r, &e) < 0);
}

static struct xapi_value *ev(const char *cls, const char *op, const char *ref, int val)
{
    struct xapi_value *e = xapi_value_new_struct();
    xapi_struct_set_string(e, "class", cls);
    xapi_struct_set_string(e, "operation", op);
    xapi_struct_set_string(e, "ref", ref);
    if (val >= 0) {
        struct xapi_value *s = xapi_value_new_struct();
        xapi_struct_set_int(s, "v", val);
        xapi_struct_set_take(e, "snapshot", s);
    }
    return e;
}

static struct xapi_value *batch(const char *token, int n, ...)
{
    struct xapi_value *r = xapi_value_new_struct();
    struct xapi_value *a = xapi_value_new_array();
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        xapi_array_append_take(a, va_arg(ap, struct xapi_value *));
    va_end(ap);
    xapi_struct_set_take(r, "events", a);
    xapi_struct_set_string(r, "token", token);
    return r;
}

static void test_cache_apply(void **state)
{
    (void)state;
    struct xapi_cache *k = xapi__cache_new();
    struct err e = {0};
    assert_string_equal(xapi__cache_token(k), "");
    struct xapi_value *b =
        batch("t1", 3, ev("vm", "add", "OpaqueRef:a", 1), ev("VM", "add", "OpaqueRef:b", 2),
              ev("host", "add", "OpaqueRef:h", 3));
    assert_int_equal(xapi__cache_apply(k, b, true, &e), 0);
    xapi_value_free(b);
    assert_string_equal(xapi__cache_token(k), "t1");
    assert_int_equal(xapi__cache_count(k, "vm"), 2);
    assert_int_equal(xapi__cache_count(k, "VM"), 2);
    assert_int_equal(xapi__cache_count(k, "host"), 1);
    b = batch("t2", 3, ev("vm", "mod", "OpaqueRef:a", 10), ev("vm", "del", "OpaqueRef:b", -1),
              ev("vm", "add", "OpaqueRef:c", 5));
    assert_int_equal(xapi__cache_apply(k, b, false, &e), 0);
    xapi_value_free(b);
    assert_int_equal(xapi_struct_int(xapi__cache_get(k, "vm", "OpaqueRef:a"), "v", 0), 10);
    assert_null(xapi__cache_get(k, "vm", "OpaqueRef:b"));
    assert_non_null(xapi__cache_get(k, "vm", "OpaqueRef:c"));
    /* A malformed batch changes nothing. */
    b = batch("t3", 2, ev("vm", "del", "OpaqueRef:a", -1), ev("vm", "mod", "OpaqueRef:c", -1));
    assert_int_equal(xapi__cache_apply(k, b, false, &e), PP_EPARSE);
    xapi_value_free(b);
    assert_non_null(xapi__cache_get(k, "vm", "OpaqueRef:a"));
    assert_string_equal(xapi__cache_token(k), "t2");
    /* A reset (fresh snapshot) drops what the snapshot does not contain. */
    b = batch("t9", 1, ev("vm", "add", "OpaqueRef:c", 6));
    assert_int_equal(xapi__cache_apply(k, b, true, &e), 0);
    xapi_value_free(b);
    assert_int_equal(xapi__cache_count(k, "vm"), 1);
    assert_int_equal(xapi__cache_count(k, "host"), 0);
    /* Many objects: the table grows. */
    for (int i = 0; i < 500; i++) {
        char ref[40];
        snprintf(ref, sizeof(ref), "OpaqueRef:%d", i);
        b = batch("t", 1, ev("vm", "add", ref, i));
        assert_int_equal(xapi__cache_apply(k, b, false, &e), 0);
        xapi_value_free(b);
    }
    assert_int_equal(xapi__cache_count(k, "vm"), 501);
    assert_int_equal(xapi_struct_int(xapi__cache_get(k, "vm", "OpaqueRef:377"), "v", 0), 377);
    xapi__cache_free(k);
}

/* A class narrowed to some fields keeps only those of each record; other classes stay whole. */
static void test_cache_fields(void **state)
{
    (void)state;
    struct xapi_cache *k = xapi__cache_new();
    struct err e = {0};
    xapi__cache_set_fields(k, "VM", (const char *const[]){"name_label", "v", NULL});
    struct xapi_value *a = ev("vm", "add", "OpaqueRef:a", 1),
                      *h = ev("host", "add", "OpaqueRef:h", 2);
    struct xapi_value *snap = (struct xapi_value *)xapi_struct_get(a, "snapshot");
    xapi_struct_set_string(snap, "name_label", "web");
    xapi_struct_set_string(snap, "last_booted_record", "a large blob");
    snap = (struct xapi_value *)xapi_struct_get(h, "snapshot");
    xapi_struct_set_string(snap, "last_booted_record", "kept");
    struct xapi_value *b = batch("t1", 2, a, h);
    assert_int_equal(xapi__cache_apply(k, b, true, &e), 0);
    xapi_value_free(b);
    const struct xapi_value *r = xapi__cache_get(k, "vm", "OpaqueRef:a");
    assert_string_equal(xapi_struct_str(r, "name_label", ""), "web");
    assert_int_equal(xapi_struct_int(r, "v", 0), 1);
    assert_null(xapi_struct_get(r, "last_booted_record"));
    assert_null(xapi_struct_get(r, "ref"));
    r = xapi__cache_get(k, "host", "OpaqueRef:h");
    assert_string_equal(xapi_struct_str(r, "last_booted_record", ""), "kept");
    /* a mod is narrowed too, and a reset keeps the class's fields */
    b = batch("t2", 1, ev("vm", "add", "OpaqueRef:b", 7));
    assert_int_equal(xapi__cache_apply(k, b, true, &e), 0);
    xapi_value_free(b);
    assert_int_equal(xapi_struct_int(xapi__cache_get(k, "vm", "OpaqueRef:b"), "v", 0), 7);
    assert_null(xapi__cache_get(k, "vm", "OpaqueRef:a"));
    xapi__cache_free(k);
}

static void test_tls_fingerprints_and_pins(void **state)
{
    (void)state;
    char fp[XAPI_FP_LEN], n[XAPI_FP_LEN];
    xapi_tls_fp_of_der((const unsigned char *)"abc", 3, fp);
    assert_string_equal(fp, "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:"
                            "9C:B4:10:FF:61:F2:00:15:AD");
    assert_int_equal(xapi_tls_fp_normalise("sha256:ba7816bf8f01cfea414140de5dae2223b00361a3961"
                                           "77a9cb410ff61f20015ad",
                                           n),
                     0);
    assert_string_equal(n, fp);
    assert_int_equal(xapi_tls_fp_normalise("BA:78", n), PP_EINVAL);
    assert_int_equal(xapi_tls_fp_normalise("zz", n), PP_EINVAL);
    assert_int_equal(xapi_pin_decide(fp, fp, false), PIN_MATCH);
    assert_int_equal(xapi_pin_decide(fp, "AA", true), PIN_MISMATCH);
    assert_int_equal(xapi_pin_decide(NULL, fp, true), PIN_LEARN);
    assert_int_equal(xapi_pin_decide("", fp, false), PIN_UNKNOWN);

    char path[] = "/tmp/pp-pins-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    struct err e = {0};
    struct xapi_pins *p = xapi_pins_new(path, &e);
    assert_non_null(p);
    assert_null(xapi_pins_get(p, "10.0.0.1"));
    assert_int_equal(xapi_pins_set(p, "10.0.0.1", fp, &e), 0);
    xapi_pins_free(p);
    p = xapi_pins_new(path, &e);
    assert_non_null(p);
    assert_string_equal(xapi_pins_get(p, "10.0.0.1"), fp);
    xapi_pins_free(p);
    FILE *f = fopen(path, "w");
    fputs("10.0.0.1 not-a-fingerprint\n", f);
    fclose(f);
    assert_null(xapi_pins_new(path, &e));
    assert_int_equal(e.code, PP_EPARSE);
    unlink(path);
}

/* ================= a fake pool behind the in-process transport ================= */

#define FK_HOSTS  3
#define FK_MAX_EV 4096

struct fk_obj {
    char cls[16];
    char ref[64];
    struct xapi_value *rec; /* NULL once deleted */
};

struct fk_event {
    int64_t id;
    char cls[16];
    char ref[64];
    char op[4];
    struct xapi_value *snap;
};

struct fake {
    struct pp_clock *clock;
    char addr[FK_HOSTS][32];
    bool up[FK_HOSTS];
    bool emergency[FK_HOSTS];
    int master;
    int next_session;
    char sessions[64][48];
    int nsessions;
    struct fk_obj objs[256];
    int nobjs;
    struct fk_event evs[FK_MAX_EV];
    int nevs;
    int64_t next_id;
    int64_t lost_before; /* tokens older than this get EVENTS_LOST */
    int calls;
    int logins, logouts;
    int inflight_max;        /* not meaningful in-process; counted for the cap test via events */
    int64_t up_at[FK_HOSTS]; /* host comes back up at this time (0 = never scheduled) */
    int64_t task_step_ms;    /* progress step period of running tasks */
    int64_t next_task_step;
    bool fail_tasks;
    int cancels, destroys;
    int invalidate_next;  /* answer SESSION_INVALID to this many more calls */
    const char *password; /* NULL = PASSWORD */
    int event_froms;
    int64_t snap_at[16]; /* loop-clock times of the snapshots (token "") asked for */
    int nsnap;
};

static int fk_find(struct fake *f, const char *ref)
{
    for (int i = 0; i < f->nobjs; i++)
        if (strcmp(f->objs[i].ref, ref) == 0 && f->objs[i].rec)
            return i;
    return -1;
}

static void fk_event(struct fake *f, const char *cls, const char *op, const char *ref,
                     const struct xapi_value *snap)
{
    assert_true(f->nevs < FK_MAX_EV);
    struct fk_event *e = &f->evs[f->nevs++];
    e->id = ++f->next_id;
    str_lcpy(e->cls, cls, sizeof(e->cls));
    str_lcpy(e->ref, ref, sizeof(e->ref));
    str_lcpy(e->op, op, sizeof(e->op));
    e->snap = snap ? xapi_value_dup(snap) : NULL;
}

static const char *fk_add(struct fake *f, const char *cls, struct xapi_value *rec)
{
    struct fk_obj *o = &f->objs[f->nobjs];
    snprintf(o->ref, sizeof(o->ref), "OpaqueRef:%s-%d", cls, f->nobjs);
    str_lcpy(o->cls, cls, sizeof(o->cls));
    o->rec = rec;
    f->nobjs++;
    fk_event(f, cls, "add", o->ref, rec);
    return o->ref;
}

static void fk_mod(struct fake *f, const char *ref)
{
    int i = fk_find(f, ref);
    assert_true(i >= 0);
    fk_event(f, f->objs[i].cls, "mod", ref, f->objs[i].rec);
}

static void fk_del(struct fake *f, const char *ref)
{
    int i = fk_find(f, ref);
    assert_true(i >= 0);
    xapi_value_free(f->objs[i].rec);
    f->objs[i].rec = NULL;
    fk_event(f, f->objs[i].cls, "del", ref, NULL);
}

static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    f->clock = clock_virtual_new(1700000000000LL);
    for (int i = 0; i < FK_HOSTS; i++) {
        snprintf(f->addr[i], sizeof(f->addr[i]), "10.0.0.%d", i + 1);
        f->up[i] = true;
    }
    f->task_step_ms = 1000;
    for (int i = 0; i < FK_HOSTS; i++) {
        struct xapi_value *h = xapi_value_new_struct();
        xapi_struct_set_string(h, "address", f->addr[i]);
        xapi_struct_set_bool(h, "enabled", true);
        fk_add(f, "host", h);
    }
}

static void fake_cleanup(struct fake *f)
{
    for (int i = 0; i < f->nobjs; i++)
        xapi_value_free(f->objs[i].rec);
    for (int i = 0; i < f->nevs; i++)
        xapi_value_free(f->evs[i].snap);
    clock_free(f->clock);
}

static int fk_host(struct fake *f, const char *addr)
{
    for (int i = 0; i < FK_HOSTS; i++)
        if (strcmp(f->addr[i], addr) == 0)
            return i;
    return -1;
}

static void fk_err(struct xapi_response *out, const char *code, const char *p1)
{
    const char *ps[1] = {p1};
    xapi_response_set_error(out, code, ps, p1 ? 1 : 0);
}

static bool fk_class_match(const struct xapi_value *classes, const struct fk_event *e)
{
    for (size_t i = 0; i < xapi_array_len(classes); i++) {
        const char *c = xapi_value_str(xapi_array_get(classes, i));
        if (strcmp(c, "*") == 0 || strcasecmp(c, e->cls) == 0)
            return true;
        if (str_has_prefix(c, e->cls) && c[strlen(e->cls)] == '/' &&
            strcmp(c + strlen(e->cls) + 1, e->ref) == 0)
            return true;
    }
    return false;
}

static bool fk_class_match_obj(const struct xapi_value *classes, const struct fk_obj *o)
{
    struct fk_event e;
    memset(&e, 0, sizeof(e));
    str_lcpy(e.cls, o->cls, sizeof(e.cls));
    str_lcpy(e.ref, o->ref, sizeof(e.ref));
    return fk_class_match(classes, &e);
}

static struct xapi_value *fk_event_value(const char *cls, const char *op, const char *ref,
                                         const struct xapi_value *snap)
{
    struct xapi_value *v = xapi_value_new_struct();
    xapi_struct_set_string(v, "class", cls);
    xapi_struct_set_string(v, "operation", op);
    xapi_struct_set_string(v, "ref", ref);
    if (snap)
        xapi_struct_set_take(v, "snapshot", xapi_value_dup(snap));
    return v;
}

static void fk_event_from(struct fake *f, const struct xapi_value *params,
                          struct xapi_response *out)
{
    const struct xapi_value *classes = xapi_array_get(params, 1);
    const char *token = xapi_value_str(xapi_array_get(params, 2));
    struct xapi_value *evs = xapi_value_new_array();
    char tok[32];
    if (!token || !*token) {
        if (f->nsnap < 16)
            f->snap_at[f->nsnap++] = clock_now_ms(f->clock);
        for (int i = 0; i < f->nobjs; i++)
            if (f->objs[i].rec && fk_class_match_obj(classes, &f->objs[i]))
                xapi_array_append_take(
                    evs, fk_event_value(f->objs[i].cls, "add", f->objs[i].ref, f->objs[i].rec));
    } else {
        int64_t since;
        if (str_to_int64(token, &since) != 0) {
            xapi_value_free(evs);
            fk_err(out, "EVENT_FROM_TOKEN_PARSE_FAILURE", token);
            return;
        }
        if (since < f->lost_before) {
            xapi_value_free(evs);
            fk_err(out, "EVENTS_LOST", NULL);
            return;
        }
        for (int i = 0; i < f->nevs; i++)
            if (f->evs[i].id > since && fk_class_match(classes, &f->evs[i]))
                xapi_array_append_take(evs, fk_event_value(f->evs[i].cls, f->evs[i].op,
                                                           f->evs[i].ref, f->evs[i].snap));
    }
    snprintf(tok, sizeof(tok), "%lld", (long long)f->next_id);
    struct xapi_value *r = xapi_value_new_struct();
    xapi_struct_set_take(r, "events", evs);
    xapi_struct_set_string(r, "token", tok);
    xapi_struct_set_take(r, "valid_ref_counts", xapi_value_new_struct());
    out->ok = true;
    out->value = r;
}

static bool fk_session_ok(struct fake *f, const char *s)
{
    for (int i = 0; s && i < f->nsessions; i++)
        if (strcmp(f->sessions[i], s) == 0)
            return true;
    return false;
}

static int fk_call(void *ctx, const char *host, const char *method, const struct xapi_value *params,
                   struct xapi_response *out, struct err *e)
{
    struct fake *f = ctx;
    int h = fk_host(f, host);
    f->calls++;
    memset(out, 0, sizeof(*out));
    if (h < 0 || !f->up[h])
        return err_set(e, PP_ETRANSPORT, "%s: connection refused", host);
    if (f->emergency[h]) {
        fk_err(out, "HOST_STILL_BOOTING", NULL);
        return 0;
    }
    if (strcmp(method, "session.login_with_password") == 0) {
        if (h != f->master) {
            fk_err(out, "HOST_IS_SLAVE", f->addr[f->master]);
            return 0;
        }
        const char *pw = xapi_value_str(xapi_array_get(params, 1));
        if (!pw || strcmp(pw, f->password ? f->password : PASSWORD) != 0) {
            const char *ps[2] = {xapi_value_str(xapi_array_get(params, 0)),
                                 "Authentication failure"};
            xapi_response_set_error(out, "SESSION_AUTHENTICATION_FAILED", ps, 2);
            return 0;
        }
        assert_true(f->nsessions < 64);
        snprintf(f->sessions[f->nsessions], sizeof(f->sessions[0]), "OpaqueRef:session-%d",
                 ++f->next_session);
        out->ok = true;
        out->value = xapi_value_new_string(f->sessions[f->nsessions++]);
        f->logins++;
        return 0;
    }
    if (h != f->master) {
        fk_err(out, "HOST_IS_SLAVE", f->addr[f->master]);
        return 0;
    }
    const char *s = xapi_value_str(xapi_array_get(params, 0));
    if (!fk_session_ok(f, s) || f->invalidate_next > 0) {
        if (f->invalidate_next > 0)
            f->invalidate_next--;
        fk_err(out, "SESSION_INVALID", s ? s : "");
        return 0;
    }
    out->ok = true;
    if (strcmp(method, "session.logout") == 0) {
        f->logouts++;
        for (int i = 0; i < f->nsessions; i++)
            if (strcmp(f->sessions[i], s) == 0)
                f->sessions[i][0] = '\0';
        out->value = xapi_value_new_void();
    } else if (strcmp(method, "test.echo") == 0) {
        out->value = xapi_value_dup(xapi_array_get(params, 1));
    } else if (strcmp(method, "event.from") == 0) {
        f->event_froms++;
        fk_event_from(f, params, out);
    } else if (strcmp(method, "VM.get_all_records") == 0) {
        struct xapi_value *r = xapi_value_new_struct();
        for (int i = 0; i < f->nobjs; i++)
            if (f->objs[i].rec && strcmp(f->objs[i].cls, "vm") == 0)
                xapi_struct_set_take(r, f->objs[i].ref, xapi_value_dup(f->objs[i].rec));
        out->value = r;
    } else if (strcmp(method, "Async.test.work") == 0) {
        struct xapi_value *t = xapi_value_new_struct();
        xapi_struct_set_string(t, "status", "pending");
        xapi_struct_set_take(t, "progress", xapi_value_new_double(0.0));
        xapi_struct_set_string(t, "result", "");
        xapi_struct_set_take(t, "error_info", xapi_value_new_array());
        out->value = xapi_value_new_string(fk_add(f, "task", t));
        f->next_task_step = clock_now_ms(f->clock) + f->task_step_ms;
    } else if (strcmp(method, "task.cancel") == 0) {
        int i = fk_find(f, xapi_value_str(xapi_array_get(params, 1)));
        f->cancels++;
        if (i < 0) {
            xapi_response_cleanup(out);
            fk_err(out, "HANDLE_INVALID", "task");
            return 0;
        }
        xapi_struct_set_string(f->objs[i].rec, "status", "cancelled");
        fk_mod(f, f->objs[i].ref);
        out->value = xapi_value_new_void();
    } else if (strcmp(method, "task.destroy") == 0) {
        int i = fk_find(f, xapi_value_str(xapi_array_get(params, 1)));
        f->destroys++;
        if (i >= 0)
            fk_del(f, f->objs[i].ref);
        out->value = xapi_value_new_void();
    } else if (strcmp(method, "task.get_record") == 0) {
        int i = fk_find(f, xapi_value_str(xapi_array_get(params, 1)));
        if (i < 0) {
            out->ok = false;
            fk_err(out, "HANDLE_INVALID", "task");
            return 0;
        }
        out->value = xapi_value_dup(f->objs[i].rec);
    } else {
        out->ok = false;
        fk_err(out, "MESSAGE_METHOD_UNKNOWN", method);
    }
    return 0;
}

/* Advance running tasks one step: progress += 0.25, then success (or failure). */
static void fk_step_tasks(struct fake *f)
{
    for (int i = 0; i < f->nobjs; i++) {
        struct fk_obj *o = &f->objs[i];
        if (!o->rec || strcmp(o->cls, "task") != 0)
            continue;
        if (strcmp(xapi_struct_str(o->rec, "status", ""), "pending") != 0)
            continue;
        double p = 0;
        xapi_value_as_double(xapi_struct_get(o->rec, "progress"), &p);
        p += 0.25;
        if (p >= 1.0) {
            if (f->fail_tasks) {
                xapi_struct_set_string(o->rec, "status", "failure");
                struct xapi_value *ei = xapi_value_new_array();
                xapi_array_append_string(ei, "VM_MIGRATE_FAILED");
                xapi_array_append_string(ei, "OpaqueRef:vm");
                xapi_array_append_string(ei, "no space");
                xapi_struct_set_take(o->rec, "error_info", ei);
            } else {
                xapi_struct_set_string(o->rec, "status", "success");
                xapi_struct_set_string(o->rec, "result", "<value>OpaqueRef:result-vdi</value>");
            }
            p = 1.0;
        }
        xapi_struct_set_take(o->rec, "progress", xapi_value_new_double(p));
        fk_mod(f, o->ref);
    }
}

static int64_t fk_next_deadline(struct fake *f)
{
    int64_t t = INT64_MAX;
    for (int i = 0; i < FK_HOSTS; i++)
        if (f->up_at[i] && f->up_at[i] < t)
            t = f->up_at[i];
    bool running = false;
    for (int i = 0; i < f->nobjs; i++)
        if (f->objs[i].rec && strcmp(f->objs[i].cls, "task") == 0 &&
            strcmp(xapi_struct_str(f->objs[i].rec, "status", ""), "pending") == 0)
            running = true;
    if (running && f->next_task_step < t)
        t = f->next_task_step;
    return t;
}

/* The loop's idle hook: move virtual time to the next thing that happens. */
static int fk_idle(void *ctx, int64_t next_ms)
{
    struct fake *f = ctx;
    int64_t t = fk_next_deadline(f);
    if (next_ms < t)
        t = next_ms;
    if (t == INT64_MAX)
        return -1;
    if (t > clock_now_ms(f->clock))
        clock_set(f->clock, t);
    int64_t now = clock_now_ms(f->clock);
    for (int i = 0; i < FK_HOSTS; i++) {
        if (f->up_at[i] && f->up_at[i] <= now) {
            f->up[i] = true;
            f->up_at[i] = 0;
        }
    }
    while (f->next_task_step <= now && fk_next_deadline(f) <= now) {
        fk_step_tasks(f);
        f->next_task_step += f->task_step_ms;
    }
    return 0;
}

struct env {
    struct fake f;
    struct xapi_inproc_handler h;
    struct xapi_loop *loop;
    struct xapi_client *c;
    enum xapi_conn_state states[32];
    int nstates;
    int connecting_errs;      /* failed login rounds reported while connecting */
    char connecting_err[256]; /* the first one's message */
};

static void on_state(void *ctx, enum xapi_conn_state s, const struct err *e)
{
    struct env *v = ctx;
    if (v->nstates < 32)
        v->states[v->nstates++] = s;
    if (s == XAPI_CONN_CONNECTING && e && v->connecting_errs++ == 0)
        str_lcpy(v->connecting_err, e->msg, sizeof(v->connecting_err));
}

static bool saw_state(const struct env *v, enum xapi_conn_state s)
{
    for (int i = 0; i < v->nstates; i++)
        if (v->states[i] == s)
            return true;
    return false;
}

static struct env *env_new(int first_addr, const char *password, int64_t budget_ms)
{
    struct env *v = xcalloc(1, sizeof(*v));
    fake_init(&v->f);
    v->h.ctx = &v->f;
    v->h.call = fk_call;
    struct err e = {0};
    v->loop = xapi_loop_new(v->f.clock, &e);
    assert_non_null(v->loop);
    xapi_loop_set_idle(v->loop, fk_idle, &v->f);
    const char *addrs[1] = {v->f.addr[first_addr]};
    struct xapi_client_opts o;
    xt_opts(&o, addrs, password, budget_ms, on_state, v);
    o.inproc = &v->h;
    o.backoff_base_ms = 1000;
    o.backoff_max_ms = 8000;
    o.rng_seed = 1;
    v->c = xapi_client_new(v->loop, &o, &e);
    assert_non_null(v->c);
    return v;
}

static void env_free(struct env *v)
{
    xapi_client_free(v->c);
    xapi_loop_free(v->loop);
    fake_cleanup(&v->f);
    free(v);
}

static struct xapi_value *one_string(const char *s)
{
    struct xapi_value *p = xapi_value_new_array();
    xapi_array_append_string(p, s);
    return p;
}

static void test_login_via_supporter_and_echo(void **state)
{
    (void)state;
    struct env *v = env_new(2, PASSWORD, 0); /* 10.0.0.3 is a supporter */
    struct xapi_value *r = NULL;
    struct err e = {0};
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("hello"), NULL, &r, &e), 0);
    assert_string_equal(xapi_value_str(r), "hello");
    xapi_value_free(r);
    assert_string_equal(xapi_client_master(v->c), "10.0.0.1");
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_READY);
    assert_int_equal(v->f.logins, 1);
    assert_true(saw_state(v, XAPI_CONN_CONNECTING));
    /* Unknown method: the XAPI error verbatim. */
    assert_int_equal(xapi_call_sync(v->c, "nope.nothing", NULL, NULL, &r, &e), PP_EXAPI);
    assert_string_equal(e.xapi_code, "MESSAGE_METHOD_UNKNOWN");
    assert_string_equal(e.msg, "MESSAGE_METHOD_UNKNOWN [nope.nothing]");
    env_free(v);
}

static void test_logout_on_close(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("x"), NULL, NULL, NULL), 0);
    assert_int_equal(v->f.logouts, 0);
    xapi_client_free(v->c);
    v->c = NULL;
    assert_int_equal(v->f.logouts, 1);
    xapi_loop_free(v->loop);
    fake_cleanup(&v->f);
    free(v);
}

static void test_session_invalid_relogin_once(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    struct err e = {0};
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("a"), NULL, NULL, &e), 0);
    assert_int_equal(xapi_client_login_count(v->c), 1);
    /* The session expires server-side: one re-login, the call is replayed and succeeds. */
    v->f.sessions[0][0] = '\0';
    struct xapi_value *r = NULL;
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("b"), NULL, &r, &e), 0);
    assert_string_equal(xapi_value_str(r), "b");
    xapi_value_free(r);
    assert_int_equal(xapi_client_login_count(v->c), 2);
    /* Invalid again right after the re-login: reported, not looped on. */
    v->f.invalidate_next = 5;
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("c"), NULL, NULL, &e), PP_EXAPI);
    assert_string_equal(e.xapi_code, "SESSION_INVALID");
    assert_int_equal(xapi_client_login_count(v->c), 3);
    env_free(v);
}

static void test_bad_password_never_logged(void **state)
{
    (void)state;
    char logpath[] = "/tmp/pp-xapi-log-XXXXXX";
    int fd = mkstemp(logpath);
    assert_true(fd >= 0);
    close(fd);
    enum log_level old = log_get_level();
    log_set_level(LOG_LVL_DEBUG);
    assert_int_equal(log_set_file(logpath), 0);

    struct env *v = env_new(1, PASSWORD, 0);
    struct err e = {0};
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("x"), NULL, NULL, &e), 0);
    env_free(v);
    v = env_new(0, "wrong-" PASSWORD, 0);
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("x"), NULL, NULL, &e), PP_EXAPI);
    assert_string_equal(e.xapi_code, "SESSION_AUTHENTICATION_FAILED");
    assert_null(strstr(e.msg, PASSWORD));
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_FAILED);
    env_free(v);

    log_set_file(NULL);
    log_set_level(old);
    FILE *f = fopen(logpath, "r");
    assert_non_null(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(logpath);
    assert_true(n > 0);                                          /* debug logging did happen */
    assert_non_null(strstr(buf, "session.login_with_password")); /* logins were logged */
    assert_null(strstr(buf, PASSWORD));                          /* ...without the password */
}

static void test_emergency_mode_reported(void **state)
{
    (void)state;
    struct env *v = env_new(1, PASSWORD, 5000);
    /* The master is gone; the supporters are in emergency mode. */
    v->f.up[0] = false;
    v->f.emergency[1] = v->f.emergency[2] = true;
    xapi_client_add_address(v->c, "10.0.0.3");
    struct err e = {0};
    int64_t t0 = clock_now_ms(v->f.clock);
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("x"), NULL, NULL, &e), PP_EXAPI);
    assert_string_equal(e.xapi_code, "HOST_STILL_BOOTING");
    assert_non_null(strstr(e.msg, "emergency mode"));
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_EMERGENCY);
    assert_true(saw_state(v, XAPI_CONN_EMERGENCY));
    /* It backed off and retried until the budget was spent (virtual time). */
    assert_true(clock_now_ms(v->f.clock) - t0 >= 5000);
    env_free(v);
}

static void test_unreachable_is_transport_error(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, -1); /* one round, no backoff */
    for (int i = 0; i < FK_HOSTS; i++)
        v->f.up[i] = false;
    struct err e = {0};
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("x"), NULL, NULL, &e),
                     PP_ETRANSPORT);
    assert_string_equal(e.xapi_code, "");
    assert_non_null(strstr(e.msg, "connection refused"));
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_FAILED);
    /* The pool comes back: the next call connects again. */
    v->f.up[0] = true;
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("x"), NULL, NULL, &e), 0);
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_READY);
    env_free(v);
}

/*
 * A client that never logged in and whose first round found no master stays connecting (it keeps
 * trying for its budget) but reports each failed round to on_state with its error: its user (the
 * engine: an update check, GET /pools) learns that the pool is not reachable now instead of
 * waiting for the budget (20 min).
 */
static void test_connecting_reports_failed_rounds(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    struct err e = {0};
    int64_t t0 = clock_now_ms(v->f.clock);
    v->f.up[0] = false;
    v->f.up_at[0] = t0 + 20000;
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("a"), NULL, NULL, &e), 0);
    assert_true(clock_now_ms(v->f.clock) >= t0 + 20000);
    assert_true(v->connecting_errs >= 2);
    if (!strstr(v->connecting_err, "no master found yet") ||
        !strstr(v->connecting_err, "connection refused"))
        fail_msg("first failed round: '%s'", v->connecting_err);
    assert_false(saw_state(v, XAPI_CONN_RECONNECTING));
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_READY);
    /* a lost master (reconnecting) is not reported that way */
    int before = v->connecting_errs;
    v->f.up[0] = false;
    v->f.up_at[0] = clock_now_ms(v->f.clock) + 5000;
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("b"), NULL, NULL, &e), 0);
    assert_true(saw_state(v, XAPI_CONN_RECONNECTING));
    assert_int_equal(v->connecting_errs, before);
    env_free(v);
}

static void test_reconnect_across_master_reboot(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    struct err e = {0};
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("a"), NULL, NULL, &e), 0);
    xapi_client_add_address(v->c, "10.0.0.2");
    /* The master reboots: down for 20 s; supporters keep pointing at it. */
    int64_t t0 = clock_now_ms(v->f.clock);
    v->f.up[0] = false;
    v->f.up_at[0] = t0 + 20000;
    struct xapi_value *r = NULL;
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("after"), NULL, &r, &e), 0);
    assert_string_equal(xapi_value_str(r), "after");
    xapi_value_free(r);
    assert_true(clock_now_ms(v->f.clock) >= t0 + 20000);
    assert_true(saw_state(v, XAPI_CONN_RECONNECTING));
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_READY);
    assert_int_equal(xapi_client_login_count(v->c), 2);
    /* A new master (the old one became a supporter): HOST_IS_SLAVE is followed. */
    v->f.master = 1;
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("moved"), NULL, &r, &e), 0);
    assert_string_equal(xapi_value_str(r), "moved");
    xapi_value_free(r);
    assert_string_equal(xapi_client_master(v->c), "10.0.0.2");
    env_free(v);
}

struct task_obs {
    double progress[16];
    int nprog;
    bool done;
    int rc;
    struct err err;
    struct xapi_value *result;
};

static void obs_progress(void *ctx, double p)
{
    struct task_obs *o = ctx;
    if (o->nprog < 16)
        o->progress[o->nprog++] = p;
}

static void obs_done(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct task_obs *o = ctx;
    o->done = true;
    o->rc = rc;
    if (result)
        o->result = xapi_value_dup(result);
    if (e)
        o->err = *e;
}

static void run_until_done(struct xapi_loop *loop, bool *done)
{
    for (int i = 0; i < 100000 && !*done; i++)
        if (xapi_loop_run(loop, 100) < 0)
            break;
    assert_true(*done);
}

static void test_task_progress_and_result(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    struct task_obs o = {0};
    struct err e = {0};
    int calls_before = v->f.calls;
    assert_int_equal(
        xapi_task_async(v->c, "test.work", NULL, 0, obs_progress, obs_done, &o, NULL, &e), 0);
    assert_false(o.done); /* never completed re-entrantly */
    run_until_done(v->loop, &o.done);
    assert_int_equal(o.rc, 0);
    assert_string_equal(xapi_value_str(o.result), "OpaqueRef:result-vdi");
    xapi_value_free(o.result);
    /* Progress reported in order, ending at 1. */
    assert_true(o.nprog >= 3);
    for (int i = 1; i < o.nprog; i++)
        assert_true(o.progress[i] > o.progress[i - 1]);
    assert_true(o.progress[o.nprog - 1] == 1.0);
    /* Waited through event.from, not by polling: few calls for 4 progress steps. */
    assert_true(v->f.calls - calls_before <= 12);
    /* Destroyed afterwards. */
    for (int i = 0; i < 10; i++)
        xapi_loop_run(v->loop, 0);
    assert_int_equal(v->f.destroys, 1);
    env_free(v);
}

static void test_many_tasks_share_one_stream(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    struct task_obs o[20];
    memset(o, 0, sizeof(o));
    for (int i = 0; i < 20; i++)
        assert_int_equal(
            xapi_task_async(v->c, "test.work", NULL, 0, obs_progress, obs_done, &o[i], NULL, NULL),
            0);
    for (int i = 0; i < 20; i++) {
        run_until_done(v->loop, &o[i].done);
        assert_int_equal(o[i].rc, 0);
        assert_string_equal(xapi_value_str(o[i].result), "OpaqueRef:result-vdi");
        xapi_value_free(o[i].result);
        assert_true(o[i].progress[o[i].nprog - 1] == 1.0);
    }
    /* Four progress steps of twenty tasks: a stream per task would take ~100 event.from calls;
     * the pool's one task stream takes a handful per step. */
    assert_true(v->f.event_froms <= 16);
    for (int i = 0; i < 20; i++)
        xapi_loop_run(v->loop, 0);
    assert_int_equal(v->f.destroys, 20);
    env_free(v);
}

static void test_task_destroyed_by_someone_else(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    struct task_obs o = {0};
    struct xapi_op *op = NULL;
    assert_int_equal(
        xapi_task_async(v->c, "test.work", NULL, 0, obs_progress, obs_done, &o, &op, NULL), 0);
    for (int i = 0; i < 1000 && o.nprog == 0; i++)
        xapi_loop_run(v->loop, 100);
    assert_false(o.done);
    fk_del(&v->f, xapi_op_task_ref(op)); /* another client destroys it */
    run_until_done(v->loop, &o.done);
    assert_int_equal(o.rc, PP_ENOTFOUND);
    env_free(v);
}

static void test_task_failure_and_cancel(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    v->f.fail_tasks = true;
    struct task_obs o = {0};
    struct err e = {0};
    assert_int_equal(xapi_task_async(v->c, "test.work", NULL, 0, NULL, obs_done, &o, NULL, &e), 0);
    run_until_done(v->loop, &o.done);
    assert_int_equal(o.rc, PP_EXAPI);
    assert_string_equal(o.err.xapi_code, "VM_MIGRATE_FAILED");
    assert_string_equal(o.err.msg, "VM_MIGRATE_FAILED [OpaqueRef:vm, no space]");

    v->f.fail_tasks = false;
    struct task_obs c = {0};
    struct xapi_op *op = NULL;
    assert_int_equal(
        xapi_task_async(v->c, "test.work", NULL, 0, obs_progress, obs_done, &c, &op, &e), 0);
    /* Cancel as soon as it reported progress once (it is then running). */
    for (int i = 0; i < 1000 && c.nprog == 0 && !c.done; i++)
        xapi_loop_run(v->loop, 100);
    assert_false(c.done);
    assert_non_null(xapi_op_task_ref(op));
    xapi_op_cancel(op);
    run_until_done(v->loop, &c.done);
    assert_int_equal(c.rc, PP_ECANCELLED);
    assert_int_equal(v->f.cancels, 1);
    for (int i = 0; i < 10; i++)
        xapi_loop_run(v->loop, 0);
    assert_int_equal(v->f.destroys, 2);
    env_free(v);
}

static void test_task_timeout(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    v->f.task_step_ms = 60000; /* each step takes a minute */
    struct task_obs o = {0};
    assert_int_equal(
        xapi_task_async(v->c, "test.work", NULL, 10000, NULL, obs_done, &o, NULL, NULL), 0);
    run_until_done(v->loop, &o.done);
    assert_int_equal(o.rc, PP_ETIMEOUT);
    env_free(v);
}

struct cmp_ctx {
    const struct xapi_value *all;
    struct xapi_client *c;
    bool equal;
};

static bool cmp_one(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct cmp_ctx *x = ctx;
    if (!xapi_value_equal(xapi_struct_get(x->all, ref), rec))
        x->equal = false;
    return x->equal;
}

static bool cache_equals(struct xapi_client *c, const struct xapi_value *all)
{
    struct cmp_ctx x = {all, c, true};
    if (xapi_cache_count(c, "vm") != all->u.st.n)
        return false;
    xapi_cache_foreach(c, "vm", cmp_one, &x);
    return x.equal;
}

struct eq_pred {
    struct fake *f;
    const struct xapi_value *all;
};

static bool pred_equal(void *ctx, struct xapi_client *c)
{
    struct eq_pred *p = ctx;
    return cache_equals(c, p->all);
}

/* Six pools of one loop start their caches at once: four snapshots go, the others wait. */
static void test_cache_snapshots_bounded(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    struct xapi_client *more[5];
    const char *classes[] = {"vm", "host", NULL};
    struct err e = {0};
    for (int i = 0; i < 5; i++) {
        const char *addrs[1] = {v->f.addr[0]};
        struct xapi_client_opts o;
        xt_opts(&o, addrs, PASSWORD, 0, NULL, NULL);
        o.inproc = &v->h;
        more[i] = xapi_client_new(v->loop, &o, &e);
        assert_non_null(more[i]);
        assert_int_equal(xapi_cache_start(more[i], classes, &e), 0);
    }
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    bool all = false;
    for (int t = 0; t < 1000 && !all; t++) {
        xapi_loop_run(v->loop, 100);
        all = xapi_cache_ready(v->c);
        for (int i = 0; i < 5; i++)
            all = all && xapi_cache_ready(more[i]);
    }
    assert_true(all);
    assert_int_equal(v->f.nsnap, 6);
    int at_first = 0;
    for (int i = 0; i < v->f.nsnap; i++)
        at_first += v->f.snap_at[i] == v->f.snap_at[0];
    assert_int_equal(at_first, 4);
    assert_true(v->f.snap_at[5] >= v->f.snap_at[0] + 50);
    for (int i = 0; i < 5; i++)
        xapi_client_free(more[i]);
    env_free(v);
}

static void test_cache_follows_burst_and_events_lost(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    struct fake *f = &v->f;
    const char *vms[40];
    for (int i = 0; i < 20; i++) {
        struct xapi_value *r = xapi_value_new_struct();
        xapi_struct_set_int(r, "n", i);
        xapi_struct_set_string(r, "power_state", "Running");
        vms[i] = fk_add(f, "vm", r);
    }
    const char *classes[] = {"vm", "host", NULL};
    struct err e = {0};
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    assert_int_equal(xapi_cache_start(v->c, classes, &e), PP_ESTATE);
    for (int i = 0; i < 1000 && !xapi_cache_ready(v->c); i++)
        xapi_loop_run(v->loop, 100);
    assert_true(xapi_cache_ready(v->c));
    assert_int_equal(xapi_cache_count(v->c, "vm"), 20);
    assert_int_equal(xapi_cache_count(v->c, "host"), 3);
    /* A burst of changes: modifications, deletions, additions, interleaved with loop turns. */
    struct rng r;
    rng_seed(&r, 99);
    int nvms = 20;
    for (int step = 0; step < 200; step++) {
        int i = (int)rng_below(&r, (uint64_t)nvms);
        int what = (int)rng_below(&r, 4);
        if (what == 0 && fk_find(f, vms[i]) >= 0) {
            fk_del(f, vms[i]);
        } else if (what == 1 && nvms < 40) {
            struct xapi_value *rec = xapi_value_new_struct();
            xapi_struct_set_int(rec, "n", 1000 + step);
            vms[nvms++] = fk_add(f, "vm", rec);
        } else if (fk_find(f, vms[i]) >= 0) {
            xapi_struct_set_int(f->objs[fk_find(f, vms[i])].rec, "n", step);
            fk_mod(f, vms[i]);
        }
        if (step % 7 == 0)
            xapi_loop_run(v->loop, 0);
    }
    struct xapi_value *all = NULL;
    assert_int_equal(xapi_call_sync(v->c, "VM.get_all_records", NULL, NULL, &all, &e), 0);
    struct eq_pred p = {f, all};
    struct task_obs w = {0};
    assert_int_equal(xapi_cache_wait(v->c, pred_equal, &p, 60000, obs_done, &w, NULL, &e), 0);
    run_until_done(v->loop, &w.done);
    assert_int_equal(w.rc, 0);
    xapi_value_free(w.result);
    assert_true(cache_equals(v->c, all));
    xapi_value_free(all);
    assert_int_equal(xapi_cache_generation(v->c), 1);

    /* The server forgets old events: EVENTS_LOST -> a fresh snapshot, still equal. */
    f->lost_before = f->next_id + 1;
    int victim = fk_find(f, vms[nvms - 1]) >= 0 ? nvms - 1 : 0;
    while (fk_find(f, vms[victim]) < 0)
        victim++;
    fk_del(f, vms[victim]);
    f->lost_before = f->next_id + 1; /* the deletion event itself is lost too */
    for (int i = 0; i < 1000 && xapi_cache_generation(v->c) < 2; i++)
        xapi_loop_run(v->loop, 100);
    assert_int_equal(xapi_cache_generation(v->c), 2);
    assert_null(xapi_cache_get(v->c, "vm", vms[victim]));
    assert_int_equal(xapi_call_sync(v->c, "VM.get_all_records", NULL, NULL, &all, &e), 0);
    assert_true(cache_equals(v->c, all));
    xapi_value_free(all);
    env_free(v);
}

struct host_pred {
    const char *ref;
};

static bool pred_host_disabled(void *ctx, struct xapi_client *c)
{
    struct host_pred *p = ctx;
    const struct xapi_value *h = xapi_cache_get(c, "host", p->ref);
    return h && !xapi_struct_bool(h, "enabled", true);
}

static void test_cache_wait_timeout_and_success(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    const char *classes[] = {"host", NULL};
    struct err e = {0};
    struct task_obs w = {0};
    assert_int_equal(xapi_cache_wait(v->c, pred_host_disabled, NULL, 1000, obs_done, &w, NULL, &e),
                     PP_ESTATE);
    assert_int_equal(xapi_cache_start(v->c, classes, &e), 0);
    struct host_pred hp = {v->f.objs[1].ref};
    assert_int_equal(xapi_cache_wait(v->c, pred_host_disabled, &hp, 5000, obs_done, &w, NULL, &e),
                     0);
    run_until_done(v->loop, &w.done);
    assert_int_equal(w.rc, PP_ETIMEOUT);
    struct task_obs w2 = {0};
    assert_int_equal(
        xapi_cache_wait(v->c, pred_host_disabled, &hp, 3600000, obs_done, &w2, NULL, &e), 0);
    for (int i = 0; i < 5; i++) /* each idle turn moves virtual time by up to 30 s */
        xapi_loop_run(v->loop, 0);
    assert_false(w2.done);
    xapi_struct_set_bool(v->f.objs[1].rec, "enabled", false);
    fk_mod(&v->f, v->f.objs[1].ref);
    run_until_done(v->loop, &w2.done);
    assert_int_equal(w2.rc, 0);
    xapi_value_free(w2.result);
    env_free(v);
}

static void test_cache_resnapshots_after_new_session(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    const char *classes[] = {"host", NULL};
    assert_int_equal(xapi_cache_start(v->c, classes, NULL), 0);
    for (int i = 0; i < 1000 && !xapi_cache_ready(v->c); i++)
        xapi_loop_run(v->loop, 100);
    assert_int_equal(xapi_cache_generation(v->c), 1);
    /* The master restarts (sessions lost): re-login, and a fresh snapshot. */
    v->f.nsessions = 0;
    v->f.up[0] = false;
    v->f.up_at[0] = clock_now_ms(v->f.clock) + 3000;
    for (int i = 0; i < 10000 && xapi_cache_generation(v->c) < 2; i++)
        xapi_loop_run(v->loop, 100);
    assert_int_equal(xapi_cache_generation(v->c), 2);
    assert_true(xapi_client_login_count(v->c) >= 2);
    assert_int_equal(xapi_cache_count(v->c, "host"), 3);
    env_free(v);
}

struct count_ctx {
    int done;
    int ok;
};

static void count_done(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct count_ctx *c = ctx;
    (void)result;
    (void)e;
    c->done++;
    if (rc == 0)
        c->ok++;
}

static void test_cancel_queued_call_and_close_with_pending(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    struct count_ctx cc = {0};
    struct xapi_op *op = NULL;
    assert_int_equal(
        xapi_call_async(v->c, "test.echo", one_string("x"), NULL, count_done, &cc, &op, NULL), 0);
    xapi_op_cancel(op);
    assert_int_equal(cc.done, 0); /* delivered from the loop, not re-entrantly */
    xapi_loop_run(v->loop, 0);
    assert_int_equal(cc.done, 1);
    assert_int_equal(cc.ok, 0);
    /* Many calls at once all complete (the per-pool cap queues them). */
    for (int i = 0; i < 50; i++)
        assert_int_equal(
            xapi_call_async(v->c, "test.echo", one_string("y"), NULL, count_done, &cc, NULL, NULL),
            0);
    while (cc.done < 51)
        assert_true(xapi_loop_run(v->loop, 100) >= 0);
    assert_int_equal(cc.ok, 50);
    /* Close with calls pending: each gets PP_ECANCELLED exactly once. */
    struct task_obs t = {0};
    assert_int_equal(
        xapi_call_async(v->c, "test.echo", one_string("z"), NULL, obs_done, &t, NULL, NULL), 0);
    xapi_client_free(v->c);
    v->c = NULL;
    assert_true(t.done);
    assert_int_equal(t.rc, PP_ECANCELLED);
    xapi_loop_free(v->loop);
    fake_cleanup(&v->f);
    free(v);
}

struct free_ctx {
    struct env *v;
    int calls, cancelled;
};

static void free_in_callback(void *ctx, int rc, const struct xapi_value *result,
                             const struct err *e)
{
    struct free_ctx *f = ctx;
    (void)result;
    (void)e;
    f->calls++;
    if (rc == PP_ECANCELLED)
        f->cancelled++;
    if (f->v->c) {
        struct xapi_client *c = f->v->c;
        f->v->c = NULL;
        xapi_client_free(c); /* from inside a callback, with completions still queued */
    }
}

static bool never(void *ctx, struct xapi_client *c)
{
    (void)ctx;
    (void)c;
    return false;
}

static void test_free_client_from_callback(void **state)
{
    (void)state;
    struct env *v = env_new(0, PASSWORD, 0);
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("warm"), NULL, NULL, NULL), 0);
    const char *classes[] = {"host", NULL};
    assert_int_equal(xapi_cache_start(v->c, classes, NULL), 0);
    struct free_ctx f = {v, 0, 0};
    assert_int_equal(xapi_cache_wait(v->c, never, NULL, 0, free_in_callback, &f, NULL, NULL), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(xapi_call_async(v->c, "test.echo", one_string("x"), NULL, free_in_callback,
                                         &f, NULL, NULL),
                         0);
    for (int i = 0; i < 10 && f.calls < 4; i++)
        xapi_loop_run(v->loop, 0);
    assert_int_equal(f.calls, 4);     /* every callback exactly once */
    assert_int_equal(f.cancelled, 1); /* the endless wait was cancelled by the free */
    assert_int_equal(v->f.logouts, 1);
    assert_false(xapi_loop_busy(v->loop));
    xapi_loop_free(v->loop);
    fake_cleanup(&v->f);
    free(v);
}

static void test_cache_does_not_hammer_refused_login(void **state)
{
    (void)state;
    struct env *v = env_new(0, "bad-" PASSWORD, 0);
    const char *classes[] = {"host", NULL};
    assert_int_equal(xapi_cache_start(v->c, classes, NULL), 0);
    for (int i = 0; i < 200; i++)
        xapi_loop_run(v->loop, 100);
    assert_int_equal(xapi_client_state(v->c), XAPI_CONN_FAILED);
    assert_int_equal(v->f.calls, 1); /* one refused login, no retry loop */
    assert_false(xapi_cache_ready(v->c));
    /* The pool's password changes to what the client has: the next call logs in, and the
     * event stream resumes with it. */
    v->f.password = "bad-" PASSWORD;
    assert_int_equal(xapi_call_sync(v->c, "test.echo", one_string("x"), NULL, NULL, NULL), 0);
    for (int i = 0; i < 100 && !xapi_cache_ready(v->c); i++)
        xapi_loop_run(v->loop, 100);
    assert_true(xapi_cache_ready(v->c));
    assert_int_equal(xapi_cache_count(v->c, "host"), 3);
    env_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_loop_free_with_pending_user_timer),
        cmocka_unit_test(test_error_rules),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_describe_masks_password),
        cmocka_unit_test(test_classify_reply),
        cmocka_unit_test(test_cache_apply),
        cmocka_unit_test(test_cache_fields),
        cmocka_unit_test(test_tls_fingerprints_and_pins),
        cmocka_unit_test(test_login_via_supporter_and_echo),
        cmocka_unit_test(test_logout_on_close),
        cmocka_unit_test(test_session_invalid_relogin_once),
        cmocka_unit_test(test_bad_password_never_logged),
        cmocka_unit_test(test_emergency_mode_reported),
        cmocka_unit_test(test_unreachable_is_transport_error),
        cmocka_unit_test(test_connecting_reports_failed_rounds),
        cmocka_unit_test(test_reconnect_across_master_reboot),
        cmocka_unit_test(test_task_progress_and_result),
        cmocka_unit_test(test_many_tasks_share_one_stream),
        cmocka_unit_test(test_task_destroyed_by_someone_else),
        cmocka_unit_test(test_task_failure_and_cancel),
        cmocka_unit_test(test_task_timeout),
        cmocka_unit_test(test_cache_follows_burst_and_events_lost),
        cmocka_unit_test(test_cache_snapshots_bounded),
        cmocka_unit_test(test_cache_wait_timeout_and_success),
        cmocka_unit_test(test_cache_resnapshots_after_new_session),
        cmocka_unit_test(test_cancel_queued_call_and_close_with_pending),
        cmocka_unit_test(test_free_client_from_callback),
        cmocka_unit_test(test_cache_does_not_hammer_refused_login),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
