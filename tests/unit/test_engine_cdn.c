/* SPDX-License-Identifier: MIT */
/*
 * test_engine_cdn.c - the engine with XenServer 8 repository pools: the real engine against the
 * simulator served over HTTP in this process (scenarios/demo.json on 127.0.41.x, port 0, time
 * scaled 1200x).  The demo's lab pool has a repository, prod does not; a small updates.xml
 * (file://) is the legacy catalog.  Checked: `updates check` marks lab as a repository pool and
 * prod not, By Update joins prod's legacy hotfix with lab's repository updates (each naming only
 * its pool), By Server lists lab's hosts' repository updates, plans use host.apply_updates for
 * lab and the legacy catalog for prod, a rollout of lab applies the updates and the views then
 * show lab up to date, lab needs no legacy catalog at all, and removing a pool while its
 * repository probe may be in flight is clean (run under ASan for leaks); a check right after a
 * restart waits for a pool whose objects are still being read.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/jsonx.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/engine.h"
#include "sim/sim.h"
#include "sim/sim_http.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

/* prod (8.2.1) gets XS82ECU1003 (its requirement XS82ECU1001 is applied there) */
static const char legacy_xml[] =
    "<?xml version=\"1.0\"?>\n<patchdata><patches>\n"
    "<patch uuid=\"c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03\" name-label=\"XS82ECU1003\" "
    "name-description=\"Kernel fixes\" version=\"1.0\" timestamp=\"2026-07-21T00:00:00Z\" "
    "after-apply-guidance=\"restartHost\" priority=\"1\"/>\n"
    "</patches><serverversions>\n"
    "<version value=\"8.2.1\" name=\"Citrix Hypervisor 8.2 CU1\" "
    "build-number=\"release/yangtze/master/58\" timestamp=\"2022-01-20T00:00:00Z\">"
    "<patch uuid=\"c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03\"/><minimalpatches>"
    "<patch uuid=\"c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03\"/></minimalpatches></version>\n"
    "<version value=\"8.4.0\" name=\"XenServer 8\" build-number=\"release/nile/master/112\" "
    "latest=\"true\" timestamp=\"2026-02-01T00:00:00Z\"/>\n"
    "</serverversions></patchdata>\n";

struct env {
    struct sim *s;
    struct sim_server *srv;
    struct engine *eng;
    char dir[64];
    char db[128];
    char xml[128];
};

static void master_url(struct env *v, size_t pool, char *out, size_t n)
{
    char a[64];
    sim_pool_master_address(v->s, pool, a, sizeof(a));
    snprintf(out, n, "http://%s:%u/", a, (unsigned)sim_server_port(v->srv));
}

/* Wait until the pools list shows the pool's objects (its cache filled); fails after 30 s. */
static void wait_objects(struct env *v, const char *name)
{
    struct err e = {0};
    json_t *out = NULL;
    /* the engine answers as soon as the pool is registered; its object cache (the inventory the
     * views read) fills a moment later: wait for it (the pools list then names the pool) */
    for (int i = 0; i < 1500; i++) {
        bool ready = false;
        if (engine_pools(v->eng, &out, &e) == 0) {
            size_t k;
            json_t *p;
            json_array_foreach(json_object_get(out, "pools"), k, p) ready =
                ready || (str_eq(json_string_value(json_object_get(p, "name")), name) &&
                          json_object_get(p, "name_label"));
        }
        json_decref(out);
        if (ready)
            return;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("pool %s: its object cache never filled", name);
}

static void add_pool_url(struct env *v, const char *name, const char *url)
{
    struct err e = {0};
    json_t *out = NULL;
    struct engine_pool_spec ps = {
        .name = name, .url = url, .username = "root", .password = "xenroot"};
    if (engine_pool_add(v->eng, &ps, &out, &e) != 0)
        fail_msg("pool add %s: %s", name, e.msg);
    json_decref(out);
    wait_objects(v, name);
}

static void add_pool(struct env *v, const char *name, size_t idx)
{
    char url[128];
    struct err e = {0};
    json_t *out = NULL;
    master_url(v, idx, url, sizeof(url));
    struct engine_pool_spec ps = {
        .name = name, .url = url, .username = "root", .password = "xenroot"};
    if (engine_pool_add(v->eng, &ps, &out, &e) != 0)
        fail_msg("pool add %s: %s", name, e.msg);
    json_decref(out);
    wait_objects(v, name);
}

struct env_opts {
    bool with_legacy;       /* a legacy catalog at a file:// URL, else a URL that does not exist */
    int lab_hosts;          /* extra empty hosts added to lab (room to update several at once) */
    double time_scale;      /* the simulator's (0: 1200) */
    int request_timeout_ms; /* the engine's (0: its default) */
};

static void env_engine_start(struct env *v, int request_timeout_ms)
{
    char url[200];
    struct err e = {0};
    snprintf(url, sizeof(url), "file://%s", v->xml);
    struct engine_config cfg = {.db_path = v->db,
                                .catalog_url = url,
                                .check_interval_s = 0,
                                .request_timeout_ms = request_timeout_ms};
    if (engine_new(&cfg, &v->eng, &e) != 0 || engine_start(v->eng, &e) != 0)
        fail_msg("engine: %s", e.msg);
}

static struct env *env_new_opts(const struct env_opts *o)
{
    struct env *v = xcalloc(1, sizeof(*v));
    struct sim_options so = {.seed_set = true,
                             .seed = 7,
                             .time_scale = o->time_scale > 0 ? o->time_scale : 1200,
                             .base_address = "127.0.41.10"};
    bool with_legacy = o->with_legacy;
    int lab_hosts = o->lab_hosts;
    struct err e = {0};
    str_lcpy(v->dir, "/tmp/pp-engine-cdn.XXXXXX", sizeof(v->dir));
    assert_non_null(mkdtemp(v->dir));
    snprintf(v->db, sizeof(v->db), "%s/pp.db", v->dir);
    snprintf(v->xml, sizeof(v->xml), "%s/updates.xml", v->dir);
    if (with_legacy) {
        FILE *f = fopen(v->xml, "w");
        assert_non_null(f);
        fputs(legacy_xml, f);
        fclose(f);
    }
    json_t *scen = json_load_file(PP_SOURCE_ROOT "/scenarios/demo.json", 0, NULL);
    assert_non_null(scen);
    for (int i = 0; i < lab_hosts; i++) {
        char name[16];
        snprintf(name, sizeof(name), "lab-%d", 3 + i);
        json_array_append_new(
            json_object_get(json_array_get(json_object_get(scen, "pools"), 1), "hosts"),
            json_pack("{s:s, s:i}", "name", name, "memory_gib", 256));
    }
    if (sim_new_from_json(scen, &so, &v->s, &e) != 0)
        fail_msg("demo.json: %s", e.msg);
    json_decref(scen);
    if (sim_server_start(v->s, 0, &v->srv, &e) != 0)
        fail_msg("sim_server_start: %s", e.msg);
    env_engine_start(v, o->request_timeout_ms);
    return v;
}

/* Stop the engine and start a new one on the same database (a daemon restart). */
static void env_engine_restart(struct env *v, int request_timeout_ms)
{
    engine_free(v->eng);
    env_engine_start(v, request_timeout_ms);
}

static struct env *env_new_hosts(bool with_legacy, int lab_hosts)
{
    struct env_opts o = {.with_legacy = with_legacy, .lab_hosts = lab_hosts};
    return env_new_opts(&o);
}

static struct env *env_new(bool with_legacy)
{
    return env_new_hosts(with_legacy, 0);
}

static void env_free(struct env *v)
{
    char p[200];
    engine_free(v->eng);
    sim_server_stop(v->srv);
    sim_free(v->s);
    const char *files[] = {"pp.db", "pp.db-wal", "pp.db-shm", "updates.xml", "known_hosts"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", v->dir, files[i]);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/downloads", v->dir);
    rmdir(p);
    rmdir(v->dir);
    free(v);
}

static void nap(void)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static const json_t *row_by_id(const json_t *rows, const char *id)
{
    for (size_t i = 0; i < json_array_size(rows); i++) {
        const json_t *r = json_array_get(rows, i);
        if (str_eq(json_string_value(json_object_get(r, "id")), id))
            return r;
    }
    return NULL;
}

static const char *pools_of(const json_t *row, char *buf, size_t n)
{
    char *s = json_dumps(json_object_get(row, "pools"), JSON_COMPACT);
    str_lcpy(buf, s ? s : "", n);
    free(s);
    return buf;
}

static bool repository_of(const json_t *check, const char *pool)
{
    const json_t *a = json_object_get(check, "pools");
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *p = json_array_get(a, i);
        if (str_eq(json_string_value(json_object_get(p, "name")), pool))
            return json_is_true(json_object_get(p, "repository"));
    }
    fail_msg("no pool %s in the check result", pool);
    return false;
}

static const json_t *server_row(const json_t *view, const char *server)
{
    const json_t *a = json_object_get(view, "servers");
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *r = json_array_get(a, i);
        if (str_eq(json_string_value(json_object_get(r, "server")), server) &&
            !json_is_true(json_object_get(r, "is_pool")))
            return r;
    }
    return NULL;
}

static void check_and_views(struct env *v)
{
    struct err e = {0};
    json_t *out = NULL, *view = NULL;
    char b[200];
    assert_int_equal(engine_updates_check(v->eng, &out, &e), 0);
    assert_true(repository_of(out, "lab"));
    assert_false(repository_of(out, "prod"));
    json_decref(out);

    assert_int_equal(
        engine_updates_view(v->eng, ENGINE_VIEW_BY_UPDATE, ENGINE_SORT_DATE, &view, &e), 0);
    const json_t *rows = json_object_get(view, "updates");
    const json_t *r = row_by_id(rows, "XS8-2025-0041");
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "name")),
                        "Xen hypervisor security update");
    assert_string_equal(json_string_value(json_object_get(r, "source")), "repository");
    assert_true(json_is_true(json_object_get(r, "livepatch")));
    assert_string_equal(pools_of(r, b, sizeof(b)), "[\"lab\"]");
    r = row_by_id(rows, "XS8-2025-0042");
    assert_non_null(r);
    assert_false(json_is_true(json_object_get(r, "livepatch")));
    r = row_by_id(rows, "c2b8e8a4-5f61-4d0c-9a7e-1b3f4e5d6a03");
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "source")), "catalog");
    assert_string_equal(pools_of(r, b, sizeof(b)), "[\"prod\"]");
    /* the new-version alert (8.4.0) is for prod only: lab runs it */
    r = row_by_id(rows, "8.4.0");
    assert_non_null(r);
    assert_string_equal(pools_of(r, b, sizeof(b)), "[\"prod\"]");
    json_decref(view);

    assert_int_equal(
        engine_updates_view(v->eng, ENGINE_VIEW_BY_SERVER, ENGINE_SORT_DATE, &view, &e), 0);
    for (int h = 1; h <= 2; h++) {
        char name[16];
        snprintf(name, sizeof(name), "lab-%d", h);
        r = server_row(view, name);
        assert_non_null(r);
        assert_string_equal(json_string_value(json_object_get(r, "status")), "Out of date");
        char *req = json_dumps(json_object_get(r, "required"), JSON_COMPACT);
        assert_non_null(strstr(req, "\"id\":\"XS8-2025-0041\""));
        assert_non_null(strstr(req, "\"id\":\"XS8-2025-0042\""));
        free(req);
    }
    json_decref(view);
}

static const json_t *plan_pool(const json_t *plan, const char *name)
{
    const json_t *a = json_object_get(plan, "pools");
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *p = json_array_get(a, i);
        if (str_eq(json_string_value(json_object_get(p, "pool")), name))
            return p;
    }
    return NULL;
}

/* Roll lab out and wait for the end (a second or two at 1200x); fails unless it is done. */
static void roll_out_lab(struct env *v)
{
    struct err e = {0};
    const char *pools[] = {"lab"};
    struct engine_plan_req lr = {.pools = pools, .n_pools = 1, .automated = true};
    char *id = NULL;
    if (engine_rollout_start(v->eng, &lr, &id, &e) != 0)
        fail_msg("rollout: %s", e.msg);
    const char *st = "";
    json_t *ro = NULL;
    for (int i = 0; i < 3000; i++) {
        json_decref(ro);
        ro = NULL;
        assert_int_equal(engine_rollout_get(v->eng, id, &ro, &e), 0);
        st = json_string_value(json_object_get(ro, "state"));
        if (str_eq(st, "done") || str_eq(st, "halted") || str_eq(st, "failed"))
            break;
        nap();
    }
    if (!str_eq(st, "done")) {
        char *d = json_dumps(ro, JSON_COMPACT);
        fail_msg("rollout ended %s: %.3000s", st, d);
    }
    json_decref(ro);
    free(id);
}

static void test_views_plan_rollout(void **state)
{
    (void)state;
    struct env *v = env_new(true);
    struct err e = {0};
    add_pool(v, "prod", 0);
    add_pool(v, "lab", 1);
    check_and_views(v);

    /* every pool: prod from the legacy catalog, lab from its repository */
    struct engine_plan_req pr = {.automated = true};
    json_t *plan = NULL;
    assert_int_equal(engine_plan(v->eng, &pr, &plan, &e), 0);
    const json_t *lab = plan_pool(plan, "lab"), *prod = plan_pool(plan, "prod");
    assert_non_null(lab);
    assert_non_null(prod);
    assert_true(json_is_true(json_object_get(lab, "cdn")));
    assert_false(json_is_true(json_object_get(prod, "cdn")));
    char *lj = json_dumps(lab, JSON_COMPACT);
    assert_non_null(strstr(lj, "\"kind\":\"apply_updates\""));
    assert_null(strstr(lj, "\"kind\":\"apply\""));
    free(lj);
    json_decref(plan);

    roll_out_lab(v);

    /* the views follow once /updates was read again (the engine does it after the rollout) */
    bool up = false;
    for (int i = 0; i < 500 && !up; i++) {
        json_t *view = NULL;
        assert_int_equal(
            engine_updates_view(v->eng, ENGINE_VIEW_BY_SERVER, ENGINE_SORT_DATE, &view, &e), 0);
        const json_t *r1 = server_row(view, "lab-1"), *r2 = server_row(view, "lab-2");
        up = r1 && r2 && str_eq(json_string_value(json_object_get(r1, "status")), "Up to date") &&
             str_eq(json_string_value(json_object_get(r2, "status")), "Up to date");
        json_decref(view);
        if (!up)
            nap();
    }
    assert_true(up);
    env_free(v);
}

/* Without any legacy catalog, a repository pool is still viewed and planned; a legacy one not. */
static void test_no_legacy_catalog(void **state)
{
    (void)state;
    struct env *v = env_new(false);
    struct err e = {0};
    json_t *out = NULL;
    add_pool(v, "prod", 0);
    add_pool(v, "lab", 1);
    assert_int_not_equal(engine_updates_check(v->eng, &out, &e), 0); /* the legacy fetch */
    json_decref(out);
    out = NULL;
    /* the repository probe of lab's first connection may still be under way: wait for it */
    for (int i = 0; i < 500; i++) {
        json_decref(out);
        assert_int_equal(
            engine_updates_view(v->eng, ENGINE_VIEW_BY_UPDATE, ENGINE_SORT_DATE, &out, &e), 0);
        if (row_by_id(json_object_get(out, "updates"), "XS8-2025-0041"))
            break;
        nap();
    }
    assert_non_null(row_by_id(json_object_get(out, "updates"), "XS8-2025-0041"));
    assert_int_equal(json_array_size(json_object_get(out, "updates")), 2);
    json_decref(out);
    const char *lab[] = {"lab"}, *prod[] = {"prod"};
    struct engine_plan_req pr = {.pools = lab, .n_pools = 1, .automated = true};
    assert_int_equal(engine_plan(v->eng, &pr, &out, &e), 0);
    assert_true(json_is_true(json_object_get(plan_pool(out, "lab"), "cdn")));
    json_decref(out);
    pr.pools = prod;
    assert_int_equal(engine_plan(v->eng, &pr, &out, &e), PP_ESTATE);
    assert_non_null(strstr(e.msg, "no update catalog yet"));
    /* a repository update can be dismissed by id */
    const char *ids[] = {"XS8-2025-0042"};
    assert_int_equal(engine_updates_dismiss(v->eng, ids, 1, false, &e), 0);
    env_free(v);
}

/* A pool removed right after it was added (its repository probe in flight) leaves nothing. */
static void test_remove_during_probe(void **state)
{
    (void)state;
    struct env *v = env_new(true);
    struct err e = {0};
    for (int i = 0; i < 3; i++) {
        add_pool(v, "lab", 1);
        assert_int_equal(engine_pool_remove(v->eng, "lab", &e), 0);
    }
    add_pool(v, "lab", 1);
    json_t *out = NULL;
    assert_int_equal(engine_updates_check(v->eng, &out, &e), 0);
    assert_true(repository_of(out, "lab"));
    json_decref(out);
    env_free(v);
}

/*
 * A TCP relay in front of a pool's master that the test can make silent: while silent it reads
 * nothing and accepts nothing, but every connection stays open, as with a master whose xapi
 * stopped answering (a hung toolstack, a network that drops packets): a call out then runs to
 * its own timeout while the client stays ready.  One thread, poll() over every pair.
 */
struct relay {
    int lfd;
    char up_addr[64];
    unsigned up_port;
    char url[80];
    pthread_t th;
    atomic_bool silent, quit;
    atomic_bool hold_events; /* the master's answers to event.from wait until it is cleared */
    int fds[64];             /* pairs: fds[2k] the client's side, fds[2k + 1] the master's */
    bool ev[32];             /* pair k's last request bytes named event.from */
    int n;
};

static int write_all(int fd, const char *b, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static void relay_accept(struct relay *r)
{
    int c = accept(r->lfd, NULL, NULL);
    if (c < 0)
        return;
    int u = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->up_port)};
    inet_pton(AF_INET, r->up_addr, &sa.sin_addr);
    if (r->n + 2 > 64 || u < 0 || connect(u, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(c);
        if (u >= 0)
            close(u);
        return;
    }
    r->ev[r->n / 2] = false;
    r->fds[r->n++] = c;
    r->fds[r->n++] = u;
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    char b[16384];
    while (!atomic_load(&r->quit)) {
        struct pollfd pf[65];
        bool silent = atomic_load(&r->silent), hold = atomic_load(&r->hold_events);
        int np = r->n;
        pf[0] = (struct pollfd){.fd = silent ? -1 : r->lfd, .events = POLLIN};
        for (int i = 0; i < np; i++) {
            bool held = hold && (i & 1) && r->ev[i / 2];
            pf[i + 1] = (struct pollfd){.fd = silent || held ? -1 : r->fds[i], .events = POLLIN};
        }
        if (poll(pf, (nfds_t)np + 1, 20) <= 0)
            continue;
        if (pf[0].revents & POLLIN)
            relay_accept(r);
        for (int i = 0; i < np; i++) {
            if (r->fds[i] < 0 || !(pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int peer = r->fds[i ^ 1];
            ssize_t k = read(r->fds[i], b, sizeof(b));
            if (k > 0 && !(i & 1)) /* a request's bytes (the headers and body may come apart) */
                r->ev[i / 2] = memmem(b, (size_t)k, "event.from", 10) != NULL;
            if (k <= 0 || peer < 0 || write_all(peer, b, (size_t)k) != 0) {
                close(r->fds[i]);
                if (peer >= 0)
                    close(peer);
                r->fds[i] = r->fds[i ^ 1] = -1;
            }
        }
    }
    for (int i = 0; i < r->n; i++)
        if (r->fds[i] >= 0)
            close(r->fds[i]);
    close(r->lfd);
    return NULL;
}

/* A relay on 127.0.41.8 in front of pool idx's master. */
static struct relay *relay_start(struct env *v, size_t idx)
{
    struct relay *r = xcalloc(1, sizeof(*r));
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    sim_pool_master_address(v->s, idx, r->up_addr, sizeof(r->up_addr));
    r->up_port = (unsigned)sim_server_port(v->srv);
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->lfd >= 0);
    inet_pton(AF_INET, "127.0.41.8", &sa.sin_addr);
    assert_int_equal(bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(r->lfd, 16), 0);
    assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&sa, &len), 0);
    snprintf(r->url, sizeof(r->url), "http://127.0.41.8:%u/", (unsigned)ntohs(sa.sin_port));
    assert_int_equal(pthread_create(&r->th, NULL, relay_main, r), 0);
    return r;
}

static void relay_stop(struct relay *r)
{
    atomic_store(&r->quit, true);
    pthread_join(r->th, NULL);
    free(r);
}

static const char *pool_state(struct env *v, const char *name, char *buf, size_t n)
{
    json_t *out = NULL, *p;
    struct err e = {0};
    size_t i;
    str_lcpy(buf, "", n);
    assert_int_equal(engine_pools(v->eng, &out, &e), 0);
    json_array_foreach(json_object_get(out, "pools"), i, p)
    {
        if (str_eq(jsonx_str(p, "name", ""), name))
            str_lcpy(buf, jsonx_str(p, "state", ""), n);
    }
    json_decref(out);
    return buf;
}

/*
 * The engine stops while an update check's repository read is out on a pool whose master went
 * silent: freeing the pool's client ends the read (PP_ECANCELLED), which finishes the check's
 * request and publishes the pools then.  That must not read the engine's freed pools (it did: a
 * heap use after free under ASan, `poolpatch serve` exiting 139 on SIGTERM; fixed by 8b39b01).
 * The read stays out with the client ready: lab is reached through a relay made silent before
 * the check (connections open, nothing answered), so the check's pool.get_all waits for its own
 * timeout (120 s) and nothing tells the client the master is gone.  (Before, lab was
 * partitioned: the client queued the call for a reconnect; since 7c91bce a lost master ends the
 * read at once, so that no longer reached engine_free with the read out.)
 */
static void test_stop_during_check_of_lost_pool(void **state)
{
    (void)state;
    struct env_opts o = {.with_legacy = true, .request_timeout_ms = 300};
    struct env *v = env_new_opts(&o);
    struct relay *r = relay_start(v, 1);
    struct err e = {0};
    json_t *out = NULL;
    char st[32];
    add_pool_url(v, "lab", r->url);
    assert_int_equal(engine_updates_check(v->eng, &out, &e), 0);
    assert_true(repository_of(out, "lab"));
    json_decref(out);
    out = NULL;
    atomic_store(&r->silent, true);
    /* the caller stops waiting for the read after 300 ms + 1 s; the check goes on without it */
    engine_updates_check(v->eng, &out, &e);
    json_decref(out);
    /* the read is still out, and lab still ready: nothing answered, nothing failed */
    assert_string_equal(pool_state(v, "lab", st, sizeof(st)), "ready");
    env_free(v); /* the read ends inside engine_free */
    relay_stop(r);
}

static const json_t *check_pool(const json_t *check, const char *name)
{
    const json_t *pools = json_object_get(check, "pools");
    for (size_t i = 0; i < json_array_size(pools); i++)
        if (str_eq(jsonx_str(json_array_get(pools, i), "name", ""), name))
            return json_array_get(pools, i);
    return NULL;
}

/* True when GET /pools shows the pool's objects (its name_label). */
static bool pool_read(struct env *v, const char *name)
{
    json_t *out = NULL, *p;
    struct err e = {0};
    size_t i;
    bool read = false;
    assert_int_equal(engine_pools(v->eng, &out, &e), 0);
    json_array_foreach(json_object_get(out, "pools"), i, p)
    {
        if (str_eq(jsonx_str(p, "name", ""), name))
            read = json_object_get(p, "name_label") != NULL;
    }
    json_decref(out);
    return read;
}

static void *release_events(void *arg)
{
    struct relay *r = arg;
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    atomic_store(&r->hold_events, false);
    return NULL;
}

/*
 * An update check right after the daemon starts waits for a pool that is logged in but still
 * reading its objects (its first event.from snapshot): prod is reached through a relay that
 * holds the answers to event.from, so the restarted engine logs in (ready) while its snapshot is
 * held; a thread lets the answers through 1 s into the check.  The check names no error for
 * prod (before: "connected, but its objects are still being read: try again in a moment", which
 * a check from cron right after a restart of `poolpatch serve` reported for healthy pools).
 */
static void test_check_waits_for_objects_being_read(void **state)
{
    (void)state;
    struct env_opts o = {.with_legacy = true};
    struct env *v = env_new_opts(&o);
    struct relay *r = relay_start(v, 0);
    struct err e = {0};
    json_t *out = NULL;
    char st[32];
    pthread_t th;
    add_pool_url(v, "prod", r->url);
    atomic_store(&r->hold_events, true);
    env_engine_restart(v, 0);
    for (int i = 0; i < 500 && !str_eq(pool_state(v, "prod", st, sizeof(st)), "ready"); i++) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_string_equal(st, "ready");
    assert_false(pool_read(v, "prod")); /* its snapshot is held */
    assert_int_equal(pthread_create(&th, NULL, release_events, r), 0);
    assert_int_equal(engine_updates_check(v->eng, &out, &e), 0);
    pthread_join(th, NULL);
    const json_t *p = check_pool(out, "prod");
    assert_non_null(p);
    if (!json_is_null(json_object_get(p, "error")))
        fail_msg("prod: %s", jsonx_str(p, "error", "?"));
    json_decref(out);
    env_free(v);
    relay_stop(r);
}

/*
 * A pool that loses its master while the check reads it (the check's pool.get_all is the first
 * call to reach the partitioned coordinator, as above): its read ends at once with the pool's
 * error instead of waiting for a reconnect (the client queues the call for up to 20 min) - the
 * check answers, naming lab's error, and the caller's default 30 s are never reached (before: the
 * caller gave up after 151 s and the result did not say lab's read failed).
 */
static void test_check_of_lost_pool_ends(void **state)
{
    (void)state;
    struct env_opts o = {.with_legacy = true, .time_scale = 1};
    struct env *v = env_new_opts(&o);
    struct err e = {0};
    json_t *out = NULL;
    add_pool(v, "lab", 1);
    assert_int_equal(engine_updates_check(v->eng, &out, &e), 0);
    assert_true(repository_of(out, "lab"));
    assert_true(json_is_null(json_object_get(check_pool(out, "lab"), "repository_error")));
    json_decref(out);
    json_t *fault = json_pack("{s:s, s:s}", "type", "partition", "pool", "lab");
    assert_int_equal(sim_fault_apply(v->s, fault, &e), 0);
    json_decref(fault);
    assert_int_equal(engine_updates_check(v->eng, &out, &e), 0);
    const json_t *lab = check_pool(out, "lab");
    assert_non_null(lab);
    assert_true(json_is_string(json_object_get(lab, "error")));
    const char *re = jsonx_str(lab, "repository_error", "");
    if (!strstr(re, "master was lost"))
        fail_msg("lab's repository_error: '%s'", re);
    json_decref(out);
    /* the next check does not wait either: lab is known lost */
    assert_int_equal(engine_updates_check(v->eng, &out, &e), 0);
    assert_true(json_is_string(json_object_get(check_pool(out, "lab"), "error")));
    json_decref(out);
    env_free(v);
}

/*
 * The daemon starts while lab's master is cut off (partitioned): lab stays connecting for its
 * client's reconnect budget (20 min), trying again and again.  A check then answers for prod and
 * reports lab's error in repository_error once lab's first login round found no master, as
 * XenCenter skips a server it is not connected to.  Before, the check's read waited for lab's
 * login: the caller gave up (here after 2 s + 9 s; the daemon's 30 s + 121 s) and the result did
 * not say that lab's read failed (repository_error null).
 */
static void test_check_of_pool_down_at_start(void **state)
{
    (void)state;
    struct env_opts o = {.with_legacy = true, .time_scale = 1};
    struct env *v = env_new_opts(&o);
    struct err e = {0};
    json_t *out = NULL;
    add_pool(v, "prod", 0);
    add_pool(v, "lab", 1);
    assert_int_equal(engine_updates_check(v->eng, &out, &e), 0);
    assert_true(repository_of(out, "lab"));
    json_decref(out);
    json_t *fault = json_pack("{s:s, s:s}", "type", "partition", "pool", "lab");
    assert_int_equal(sim_fault_apply(v->s, fault, &e), 0);
    json_decref(fault);
    env_engine_restart(v, 2000);
    wait_objects(v, "prod"); /* else prod's error says its objects are still being read */
    if (engine_updates_check(v->eng, &out, &e) != 0)
        fail_msg("check with lab's master down at start: %s", e.msg);
    const json_t *lab = check_pool(out, "lab"), *prod = check_pool(out, "prod");
    assert_non_null(lab);
    assert_non_null(prod);
    assert_true(json_is_string(json_object_get(lab, "error")));
    const char *re = jsonx_str(lab, "repository_error", "");
    if (!strstr(re, "not connected"))
        fail_msg("lab's repository_error: '%s'", re);
    assert_true(json_is_null(json_object_get(prod, "error")));
    assert_true(json_is_null(json_object_get(prod, "repository_error")));
    json_decref(out);
    /* lab is still connecting (its client keeps trying); the pools list says why */
    assert_int_equal(engine_pools(v->eng, &out, &e), 0);
    size_t i;
    json_t *p;
    bool said = false;
    json_array_foreach(json_object_get(out, "pools"), i, p)
    {
        if (str_eq(jsonx_str(p, "name", ""), "lab"))
            said = str_eq(jsonx_str(p, "state", ""), "connecting") &&
                   strstr(jsonx_str(p, "error", ""), "no master found yet");
    }
    if (!said) {
        char *d = json_dumps(out, JSON_COMPACT);
        fail_msg("pools list: %s", d);
    }
    json_decref(out);
    env_free(v);
}

/* A listener that never accepts: a connection to it opens (the kernel's backlog) and what is sent
 * there is never answered, as by a host whose xapi hangs. */
static int silent_listener(char *url, size_t n)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.41.9", &sa.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(url, n, "http://127.0.41.9:%u/", (unsigned)ntohs(sa.sin_port));
    return fd;
}

/*
 * The engine stops while a pool add's probe login is out (the host answers nothing; the caller
 * gave up after its 300 ms + 1 s): the probe is in no list the engine frees (not a registered
 * pool yet), so its client, its pool and the add's request leaked.  engine_free now retires it:
 * freeing its client ends the add (PP_ECANCELLED).  Only the ASan build (make asan) can fail
 * here: LeakSanitizer named the probe's client, pool and request before the fix.
 */
static void test_stop_during_pool_add_probe(void **state)
{
    (void)state;
    struct env_opts o = {.with_legacy = true, .request_timeout_ms = 300};
    struct env *v = env_new_opts(&o);
    char url[64];
    int lfd = silent_listener(url, sizeof(url));
    struct engine_pool_spec ps = {
        .name = "hung", .url = url, .username = "root", .password = "xenroot"};
    json_t *out = NULL;
    struct err e = {0};
    assert_int_not_equal(engine_pool_add(v->eng, &ps, &out, &e), 0);
    if (!strstr(e.msg, "still carrying out"))
        fail_msg("pool add to a host that answers nothing: %s", e.msg);
    json_decref(out);
    env_free(v);
    close(lfd);
}

/*
 * With room to take several hosts down at once, a repository pool still goes one host at a time:
 * xapi refuses a second host.apply_updates while one runs (APPLY_UPDATES_IN_PROGRESS).
 */
static void test_one_host_at_a_time(void **state)
{
    (void)state;
    struct env *v = env_new_hosts(true, 2);
    struct err e = {0};
    json_t *out = NULL;
    add_pool(v, "lab", 1);
    assert_int_equal(engine_updates_check(v->eng, &out, &e), 0);
    json_decref(out);
    const char *pools[] = {"lab"};
    struct engine_plan_req pr = {.pools = pools, .n_pools = 1, .automated = true};
    assert_int_equal(engine_plan(v->eng, &pr, &out, &e), 0);
    const json_t *hosts = json_object_get(plan_pool(out, "lab"), "hosts");
    assert_int_equal(json_array_size(hosts), 4);
    for (size_t i = 0; i < json_array_size(hosts); i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(hosts, i), "batch")),
                         (json_int_t)i);
    json_decref(out);
    roll_out_lab(v);
    env_free(v);
}

/*
 * Pool add answers once the pool's objects are read (the first snapshot after the registered
 * pool's login), so that a plan right after it finds the pool usable, as a script doing add,
 * check, apply expects.  Before, the answer came at registration, without the objects, and a plan
 * a moment later could answer 409.
 */
static void test_pool_add_answers_with_objects(void **state)
{
    (void)state;
    struct env *v = env_new(true);
    struct err e = {0};
    json_t *out = NULL;
    char url[128];
    master_url(v, 0, url, sizeof(url));
    struct engine_pool_spec ps = {
        .name = "prod", .url = url, .username = "root", .password = "xenroot"};
    assert_int_equal(engine_pool_add(v->eng, &ps, &out, &e), 0);
    assert_non_null(json_object_get(out, "name_label"));
    assert_true(json_integer_value(json_object_get(out, "hosts")) > 0);
    json_decref(out);
    assert_int_equal(engine_updates_check(v->eng, &out, &e), 0);
    json_decref(out);
    const char *pools[] = {"prod"};
    struct engine_plan_req pr = {.pools = pools, .n_pools = 1, .automated = true};
    if (engine_plan(v->eng, &pr, &out, &e) != 0)
        fail_msg("plan right after pool add and a check: %s", e.msg);
    json_decref(out);
    env_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_views_plan_rollout),
        cmocka_unit_test(test_no_legacy_catalog),
        cmocka_unit_test(test_remove_during_probe),
        cmocka_unit_test(test_one_host_at_a_time),
        cmocka_unit_test(test_pool_add_answers_with_objects),
        cmocka_unit_test(test_stop_during_check_of_lost_pool),
        cmocka_unit_test(test_check_of_lost_pool_ends),
        cmocka_unit_test(test_check_of_pool_down_at_start),
        cmocka_unit_test(test_stop_during_pool_add_probe),
        cmocka_unit_test(test_check_waits_for_objects_being_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
