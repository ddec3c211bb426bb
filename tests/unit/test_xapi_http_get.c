/* SPDX-License-Identifier: MIT */
/*
 * test_xapi_http_get.c - xapi_http_get_start against the simulator's XenServer 8 `GET /updates`
 * (scenarios/demo.json: the lab pool has a repository, prod has none), in-process (virtual
 * clock, the handler's get) and over HTTP (the simulator's HTTP server on 127.0.0.x, port 0):
 * the JSON document with the hash pool.sync_updates answered, 404 as PP_ENOTFOUND without a
 * repository, the body limit as PP_ELIMIT, an unknown path, and cancellation.
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

#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "sim/sim.h"
#include "sim/sim_http.h"
#include "xapi/client.h"
#include "xapi/http_get.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

#define POOL_PROD 0
#define POOL_LAB  1

struct env {
    struct sim *s;
    struct sim_server *srv;
    struct xapi_inproc_handler h;
    struct xapi_loop *loop;
    struct xapi_client *c;
};

struct got {
    bool done;
    int rc;
    long status;
    char *body;
    size_t len;
    char msg[ERR_MSG_MAX];
};

static int idle(void *ctx, int64_t next_ms)
{
    struct env *v = ctx;
    int64_t d = sim_next_deadline(v->s);
    int64_t t = next_ms;
    if (d >= 0 && d < t)
        t = d;
    if (t == INT64_MAX)
        return -1;
    if (t < clock_now_ms(sim_clock(v->s)))
        t = clock_now_ms(sim_clock(v->s));
    sim_run_until(v->s, t);
    return 0;
}

/* A client logged in to the master of pool `pool` of demo.json, in-process or over HTTP. */
static struct env *env_new(int pool, bool http)
{
    struct env *v = xcalloc(1, sizeof(*v));
    struct sim_options so = {.seed_set = true, .seed = 7, .time_scale = http ? 1.0 : 0};
    struct err e = {0};
    char master[64], url[128];
    if (sim_new_from_file(PP_SOURCE_ROOT "/scenarios/demo.json", &so, &v->s, &e) != 0)
        fail_msg("loading demo.json: %s", e.msg);
    sim_pool_master_address(v->s, pool, master, sizeof(master));
    v->loop = xapi_loop_new(http ? NULL : sim_clock(v->s), &e);
    assert_non_null(v->loop);
    struct xapi_client_opts o;
    xapi_client_opts_init(&o);
    if (http) {
        if (sim_server_start(v->s, 0, &v->srv, &e) != 0)
            fail_msg("sim_server_start: %s", e.msg);
        snprintf(url, sizeof(url), "http://%s:%u", master, (unsigned)sim_server_port(v->srv));
    } else {
        sim_inproc_handler(v->s, &v->h);
        xapi_loop_set_idle(v->loop, idle, v);
        str_lcpy(url, master, sizeof(url));
        o.inproc = &v->h;
    }
    const char *addrs[1] = {url};
    o.addresses = addrs;
    o.n_addresses = 1;
    o.user = "root";
    o.password = "xenroot";
    o.reconnect_budget_ms = -1;
    v->c = xapi_client_new(v->loop, &o, &e);
    assert_non_null(v->c);
    /* log in (any call does) */
    struct xapi_value *res = NULL;
    if (xapi_call_sync(v->c, "pool.get_all", NULL, NULL, &res, &e) != 0)
        fail_msg("pool.get_all: %s", e.msg);
    xapi_value_free(res);
    return v;
}

static void env_free(struct env *v)
{
    xapi_client_free(v->c);
    xapi_loop_free(v->loop);
    sim_server_stop(v->srv);
    sim_free(v->s);
    free(v);
}

static void on_got(void *ctx, int rc, long status, const char *body, size_t len,
                   const struct err *e)
{
    struct got *g = ctx;
    g->done = true;
    g->rc = rc;
    g->status = status;
    if (body) {
        g->body = xmalloc(len + 1);
        memcpy(g->body, body, len);
        g->body[len] = '\0';
        g->len = len;
    }
    if (e)
        str_lcpy(g->msg, e->msg, sizeof(g->msg));
}

static void run_get(struct env *v, const char *path, const char *query, size_t max, struct got *g)
{
    struct err e = {0};
    memset(g, 0, sizeof(*g));
    int rc = xapi_http_get_start(v->c, path, query, max, on_got, g, NULL, &e);
    if (rc != 0)
        fail_msg("xapi_http_get_start: %s", e.msg);
    assert_false(g->done); /* never from inside the start */
    for (int i = 0; i < 100000 && !g->done; i++)
        xapi_loop_run(v->loop, 100);
    assert_true(g->done);
}

/* pool.sync_updates's hash for the pool. */
static char *sync_hash(struct env *v)
{
    struct err e = {0};
    struct xapi_value *pools = NULL, *res = NULL;
    if (xapi_call_sync(v->c, "pool.get_all", NULL, NULL, &pools, &e) != 0)
        fail_msg("pool.get_all: %s", e.msg);
    struct xapi_value *p = xapi_value_new_array();
    xapi_array_append_take(p, xapi_value_new_string(xapi_value_str(xapi_array_get(pools, 0))));
    xapi_array_append_take(p, xapi_value_new_bool(false));
    xapi_array_append_take(p, xapi_value_new_string(""));
    xapi_array_append_take(p, xapi_value_new_string(""));
    if (xapi_call_sync(v->c, "pool.sync_updates", p, NULL, &res, &e) != 0)
        fail_msg("pool.sync_updates: %s", e.msg);
    char *h = xstrdup(xapi_value_str(res));
    xapi_value_free(res);
    xapi_value_free(pools);
    return h;
}

static void check_updates_doc(struct env *v)
{
    struct got g;
    char *hash = sync_hash(v);
    run_get(v, "/updates", NULL, 0, &g);
    assert_int_equal(g.rc, 0);
    assert_int_equal(g.status, 200);
    json_t *doc = json_loadb(g.body, g.len, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "hash")), hash);
    json_t *ups = json_object_get(doc, "updates");
    assert_int_equal(json_array_size(ups), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ups, 0), "id")),
                        "XS8-2025-0041");
    assert_int_equal(json_array_size(json_object_get(doc, "hosts")), 2);
    json_decref(doc);
    free(g.body);
    free(hash);

    /* the body limit */
    run_get(v, "/updates", NULL, 16, &g);
    assert_int_equal(g.rc, PP_ELIMIT);
    assert_null(g.body);
    assert_non_null(strstr(g.msg, "larger than 16 bytes"));
    /* the session id never appears in messages */
    assert_null(strstr(g.msg, "session_id"));

    /* a path nobody serves */
    run_get(v, "/nothing-here", NULL, 0, &g);
    assert_int_equal(g.rc, PP_ENOTFOUND);
    assert_int_equal(g.status, 404);
}

static void check_no_repository(struct env *v)
{
    struct got g;
    run_get(v, "/updates", "host_refs=x", 0, &g);
    assert_int_equal(g.rc, PP_ENOTFOUND);
    assert_int_equal(g.status, 404);
    assert_null(g.body);
    assert_non_null(strstr(g.msg, "404"));
}

static void test_inproc_updates(void **state)
{
    (void)state;
    struct env *v = env_new(POOL_LAB, false);
    check_updates_doc(v);
    env_free(v);
}

static void test_inproc_no_repository(void **state)
{
    (void)state;
    struct env *v = env_new(POOL_PROD, false);
    check_no_repository(v);
    env_free(v);
}

static void test_http_updates(void **state)
{
    (void)state;
    struct env *v = env_new(POOL_LAB, true);
    check_updates_doc(v);
    env_free(v);
}

static void test_http_no_repository(void **state)
{
    (void)state;
    struct env *v = env_new(POOL_PROD, true);
    check_no_repository(v);
    env_free(v);
}

static void never(void *ctx, int rc, long status, const char *body, size_t len, const struct err *e)
{
    (void)rc, (void)status, (void)body, (void)len, (void)e;
    *(bool *)ctx = true;
}

/* A cancelled GET never completes, in-process (queued) and over HTTP (in flight). */
static void test_cancel(void **state)
{
    (void)state;
    for (int http = 0; http < 2; http++) {
        struct env *v = env_new(POOL_LAB, http != 0);
        struct xapi_http_get *g = NULL;
        bool called = false;
        struct err e = {0};
        assert_int_equal(xapi_http_get_start(v->c, "/updates", NULL, 0, never, &called, &g, &e), 0);
        assert_non_null(g);
        xapi_http_get_cancel(g);
        for (int i = 0; i < 5; i++)
            xapi_loop_run(v->loop, 10);
        assert_false(called);
        env_free(v);
    }
}

static void test_bad_args(void **state)
{
    (void)state;
    struct env *v = env_new(POOL_LAB, false);
    struct err e = {0};
    bool called = false;
    assert_int_equal(xapi_http_get_start(v->c, "updates", NULL, 0, never, &called, NULL, &e),
                     PP_EINVAL);
    assert_int_equal(xapi_http_get_start(NULL, "/updates", NULL, 0, never, &called, NULL, &e),
                     PP_EINVAL);
    assert_false(called);
    env_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inproc_updates), cmocka_unit_test(test_inproc_no_repository),
        cmocka_unit_test(test_http_updates),   cmocka_unit_test(test_http_no_repository),
        cmocka_unit_test(test_cancel),         cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
