/* SPDX-License-Identifier: MIT */
/*
 * test_client_sim.c - the XAPI client over HTTP against the real `poolpatch sim` (spawned here
 * on 127.0.0.x, port 0, a fast scaled clock, stopped at the end), with JSON-RPC and with XML-RPC:
 * login through a supporter address, XAPI errors verbatim, an Async migration waited on through
 * event.from with progress, cancel, the event cache equal to get_all_records through a burst of
 * changes, reconnect across a master reboot, a partition (POST /sim/fault) reported as emergency
 * mode, and `poolpatch xapi call` itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "xapi/client.h"
#include "xapi/client_int.h"
#include "xapi_testutil.h"

#define TIME_SCALE "100"

static const char *src_root(void)
{
    const char *r = getenv("SIM_SOURCE_ROOT");
    return r ? r : ".";
}

static const char *bin(void)
{
    const char *b = getenv("POOLPATCH_BIN");
    return b ? b : "./poolpatch";
}

struct simproc {
    pid_t pid;
    FILE *out;
    char master_url[128]; /* http://127.0.0.10:PORT/ */
    char base[64];        /* http://127.0.0.10:PORT */
    int port;
};

/* Simulators running now: a failed assertion leaves its test before sim_stop, so main() stops
 * those left over (else they would run on after the test, on 127.0.0.10-12). */
static pid_t live_sims[8];

static void live_set(pid_t old, pid_t now)
{
    for (size_t i = 0; i < sizeof live_sims / sizeof live_sims[0]; i++) {
        if (live_sims[i] == old) {
            live_sims[i] = now;
            return;
        }
    }
}

static struct simproc *sim_start(const char *scenario)
{
    struct simproc *p = xcalloc(1, sizeof(*p));
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/scenarios/%s", src_root(), scenario);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(bin(), bin(), "sim", "--scenario", path, "--port", "0", "--time-scale", TIME_SCALE,
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    live_set(0, p->pid);
    p->out = fdopen(fds[0], "r");
    char line[512];
    bool ready = false;
    while (fgets(line, sizeof(line), p->out)) {
        char name[128], url[256];
        if (sscanf(line, "pool %127s master %255s", name, url) == 2 && !p->master_url[0])
            str_lcpy(p->master_url, url, sizeof(p->master_url));
        if (strncmp(line, "ready", 5) == 0) {
            ready = true;
            break;
        }
    }
    if (!ready || !p->master_url[0])
        fail_msg("poolpatch sim did not become ready (binary %s)", bin());
    str_lcpy(p->base, p->master_url, sizeof(p->base));
    size_t n = strlen(p->base);
    if (n && p->base[n - 1] == '/')
        p->base[n - 1] = '\0';
    const char *colon = strrchr(p->base, ':');
    int64_t port = 0;
    if (!colon || str_to_int64(colon + 1, &port) != 0)
        fail_msg("no port in '%s'", p->master_url);
    p->port = (int)port;
    return p;
}

static void sim_stop(struct simproc *p)
{
    kill(p->pid, SIGTERM);
    int st;
    waitpid(p->pid, &st, 0);
    live_set(p->pid, 0);
    fclose(p->out);
    free(p);
}

/*
 * POST a JSON body to a simulator control endpoint at base_url (any host's "http://a:port/";
 * a partitioned master does not answer); returns the HTTP status.
 */
static long sim_post(const char *base_url, const char *path, const char *json)
{
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "%.*s%s", (int)strlen(base_url) - 1, base_url, path);
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    FILE *devnull = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_WRITEDATA, devnull);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    fclose(devnull);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return status;
}

struct cl {
    struct xapi_loop *loop;
    struct xapi_client *c;
    bool saw[8];
};

static void on_state(void *ctx, enum xapi_conn_state s, const struct err *e)
{
    struct cl *c = ctx;
    (void)e;
    c->saw[s] = true;
}

static struct cl *cl_new(const char *url, enum xapi_proto_pref proto, const char *password,
                         int64_t budget_ms)
{
    struct cl *c = xcalloc(1, sizeof(*c));
    struct err e = {0};
    c->loop = xapi_loop_new(NULL, &e);
    assert_non_null(c->loop);
    const char *addrs[1] = {url};
    struct xapi_client_opts o;
    xt_opts(&o, addrs, password, budget_ms, on_state, c);
    o.proto = proto;
    o.backoff_base_ms = 100;
    o.backoff_max_ms = 1000;
    o.call_timeout_ms = 30000;
    c->c = xapi_client_new(c->loop, &o, &e);
    assert_non_null(c->c);
    return c;
}

static void cl_free(struct cl *c)
{
    xapi_client_free(c->c);
    xapi_loop_free(c->loop);
    free(c);
}

/* URL of a supporter: same scheme and port as the master, another host's address. */
static void supporter_url(struct cl *c, const struct simproc *p, char *out, size_t n)
{
    struct xapi_value *all = NULL;
    struct err e = {0};
    assert_int_equal(xapi_call_sync(c->c, "host.get_all_records", NULL, NULL, &all, &e), 0);
    const char *addr = NULL;
    for (size_t i = 0; i < all->u.st.n; i++) {
        const char *a = xapi_struct_str(all->u.st.vals[i], "address", "");
        if (!strstr(p->master_url, a))
            addr = a;
    }
    assert_non_null(addr);
    snprintf(out, n, "http://%s:%d/", addr, p->port);
    xapi_value_free(all);
}

struct obs {
    bool done;
    int rc;
    struct err err;
    double prog[256];
    int nprog;
};

static void obs_done(void *ctx, int rc, const struct xapi_value *result, const struct err *e)
{
    struct obs *o = ctx;
    (void)result;
    o->done = true;
    o->rc = rc;
    if (e)
        o->err = *e;
}

static void obs_prog(void *ctx, double p)
{
    struct obs *o = ctx;
    if (o->nprog < 256)
        o->prog[o->nprog++] = p;
}

static void run_until(struct xapi_loop *loop, bool *flag, int64_t real_ms)
{
    int64_t end = clock_mono_ms() + real_ms;
    while (!*flag && clock_mono_ms() < end)
        xapi_loop_run(loop, 100);
    assert_true(*flag);
}

static const enum xapi_proto_pref protos[2] = {XAPI_PREF_JSONRPC, XAPI_PREF_XMLRPC};

static void test_supporter_login_errors_tasks(void **state)
{
    (void)state;
    for (int pi = 0; pi < 2; pi++) {
        struct simproc *p = sim_start("small.json");
        struct cl *m = cl_new(p->master_url, protos[pi], "xenroot", -1);
        char sup[128];
        supporter_url(m, p, sup, sizeof(sup));
        cl_free(m);

        struct cl *c = cl_new(sup, protos[pi], "xenroot", -1);
        struct xapi_value *r = NULL;
        struct err e = {0};
        assert_int_equal(xapi_call_sync(c->c, "pool.get_all", NULL, NULL, &r, &e), 0);
        assert_int_equal(xapi_array_len(r), 1);
        xapi_value_free(r);
        assert_true(strstr(p->master_url, xapi_client_master(c->c)) != NULL);
        assert_int_equal(xapi_client_proto(c->c), protos[pi]);
        /* The session ends server-side: SESSION_INVALID, one re-login, the call replayed. */
        {
            unsigned logins = xapi_client_login_count(c->c);
            struct xapi_call_opts raw = {.flags = XAPI_CALL_RAW, .timeout_ms = 0};
            assert_int_equal(xapi_call_sync(c->c, "session.logout",
                                            xt_strs(xapi_client_session(c->c), NULL), &raw, NULL,
                                            &e),
                             0);
            assert_int_equal(xapi_call_sync(c->c, "pool.get_all", NULL, NULL, &r, &e), 0);
            assert_int_equal(xapi_array_len(r), 1);
            xapi_value_free(r);
            assert_int_equal(xapi_client_login_count(c->c), logins + 1);
        }
        assert_int_equal(
            xapi_call_sync(c->c, "VM.get_record", xt_strs("OpaqueRef:nope", NULL), NULL, &r, &e),
            PP_EXAPI);
        assert_string_equal(e.xapi_code, "HANDLE_INVALID");
        assert_non_null(strstr(e.msg, "OpaqueRef:nope"));

        /* Async migration with progress, then a cancelled one. */
        char *vm = xt_ref_by_name(c->c, "VM", "web-1");
        char *dest = xt_ref_by_name(c->c, "host", "small-2");
        struct xapi_value *params = xt_strs(vm, dest);
        struct xapi_value *o = xapi_value_new_struct();
        xapi_struct_set_string(o, "live", "true");
        xapi_array_append_take(params, o);
        struct obs t = {0};
        assert_int_equal(xapi_task_async(c->c, "VM.pool_migrate", params, 60000, obs_prog, obs_done,
                                         &t, NULL, &e),
                         0);
        run_until(c->loop, &t.done, 60000);
        if (t.rc != 0)
            fail_msg("migration: %s", t.err.msg);
        assert_true(t.nprog >= 1 && t.prog[t.nprog - 1] == 1.0);
        assert_int_equal(
            xapi_call_sync(c->c, "VM.get_resident_on", xt_strs(vm, NULL), NULL, &r, &e), 0);
        assert_string_equal(xapi_value_str(r), dest);
        xapi_value_free(r);

        char *db = xt_ref_by_name(c->c, "VM", "db-1");
        params = xt_strs(db, dest);
        o = xapi_value_new_struct();
        xapi_struct_set_string(o, "live", "true");
        xapi_array_append_take(params, o);
        struct obs k = {0};
        struct xapi_op *op = NULL;
        assert_int_equal(
            xapi_task_async(c->c, "VM.pool_migrate", params, 60000, NULL, obs_done, &k, &op, &e),
            0);
        xapi_op_cancel(op);
        run_until(c->loop, &k.done, 60000);
        assert_int_equal(k.rc, PP_ECANCELLED);
        free(vm);
        free(dest);
        free(db);
        cl_free(c);

        c = cl_new(sup, protos[pi], "not the password", -1);
        assert_int_equal(xapi_call_sync(c->c, "pool.get_all", NULL, NULL, &r, &e), PP_EXAPI);
        assert_string_equal(e.xapi_code, "SESSION_AUTHENTICATION_FAILED");
        cl_free(c);
        sim_stop(p);
    }
}

struct cmp {
    const struct xapi_value *all;
    bool eq;
};

static bool cmp_one(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct cmp *x = ctx;
    if (!xapi_value_equal(xapi_struct_get(x->all, ref), rec))
        x->eq = false;
    return x->eq;
}

static bool pred_eq(void *ctx, struct xapi_client *c)
{
    struct cmp x = {ctx, true};
    if (xapi_cache_count(c, "vm") != x.all->u.st.n)
        return false;
    xapi_cache_foreach(c, "vm", cmp_one, &x);
    return x.eq;
}

static void cache_matches(struct cl *c)
{
    struct xapi_value *all = NULL;
    struct err e = {0};
    assert_int_equal(xapi_call_sync(c->c, "VM.get_all_records", NULL, NULL, &all, &e), 0);
    struct obs w = {0};
    assert_int_equal(xapi_cache_wait(c->c, pred_eq, all, 20000, obs_done, &w, NULL, &e), 0);
    run_until(c->loop, &w.done, 30000);
    assert_int_equal(w.rc, 0);
    xapi_value_free(all);
}

static void test_cache_burst_reboot_partition(void **state)
{
    (void)state;
    for (int pi = 0; pi < 2; pi++) {
        struct simproc *p = sim_start("small.json");
        /* The reconnect budget (the client gives up when it ends): 10 s leaves the loaded
         * simulator's supporters time to enter emergency mode after the partition; the rounds
         * that ask the rebooted master alone must not hide that mode when the budget ends. */
        struct cl *c = cl_new(p->master_url, protos[pi], "xenroot", 10000);
        const char *classes[] = {"vm", "host", NULL};
        struct err e = {0};
        assert_int_equal(xapi_cache_start(c->c, classes, &e), 0);
        cache_matches(c);
        /* A burst of concurrent changes. */
        struct xapi_value *all = NULL;
        assert_int_equal(xapi_call_sync(c->c, "VM.get_all_records", NULL, NULL, &all, &e), 0);
        struct obs obs[200];
        memset(obs, 0, sizeof(obs));
        int k = 0;
        for (int round = 0; round < 20; round++) {
            for (size_t i = 0; i < all->u.st.n && k < 200; i++) {
                char d[48];
                snprintf(d, sizeof(d), "burst %d", round);
                assert_int_equal(xapi_call_async(c->c, "VM.set_name_description",
                                                 xt_strs(all->u.st.keys[i], d), NULL, obs_done,
                                                 &obs[k++], NULL, &e),
                                 0);
            }
        }
        xapi_value_free(all);
        int64_t end = clock_mono_ms() + 30000;
        for (int j = 0; j < k; j++) {
            while (!obs[j].done && clock_mono_ms() < end)
                xapi_loop_run(c->loop, 100);
            assert_true(obs[j].done);
            assert_int_equal(obs[j].rc, 0);
        }
        cache_matches(c);

        /* Master reboot: evacuate, disable, reboot; the next call rides it out. */
        char *master = xt_ref_by_name(c->c, "host", "small-1");
        assert_int_equal(
            xapi_call_sync(c->c, "host.disable", xt_strs(master, NULL), NULL, NULL, &e), 0);
        struct obs ev = {0};
        assert_int_equal(xapi_task_async(c->c, "host.evacuate", xt_strs(master, NULL), 60000, NULL,
                                         obs_done, &ev, NULL, &e),
                         0);
        run_until(c->loop, &ev.done, 60000);
        assert_int_equal(ev.rc, 0);
        unsigned logins = xapi_client_login_count(c->c);
        unsigned gen = xapi_cache_generation(c->c);
        assert_int_equal(xapi_call_sync(c->c, "host.reboot", xt_strs(master, NULL), NULL, NULL, &e),
                         0);
        struct xapi_value *r = NULL;
        assert_int_equal(
            xapi_call_sync(c->c, "host.get_record", xt_strs(master, NULL), NULL, &r, &e), 0);
        xapi_value_free(r);
        assert_true(c->saw[XAPI_CONN_RECONNECTING]);
        assert_true(xapi_client_login_count(c->c) > logins);
        int64_t until = clock_mono_ms() + 20000;
        while (xapi_cache_generation(c->c) <= gen && clock_mono_ms() < until)
            xapi_loop_run(c->loop, 100);
        assert_true(xapi_cache_generation(c->c) > gen);
        cache_matches(c);

        /* Partition: the master is cut off; supporters fall into emergency mode. */
        char sup[128];
        supporter_url(c, p, sup, sizeof(sup));
        assert_int_equal(sim_post(sup, "/sim/fault", "{\"type\":\"partition\"}"), 200);
        int rc = xapi_call_sync(c->c, "pool.get_all", NULL, NULL, &r, &e);
        assert_int_equal(rc, PP_EXAPI);
        assert_true(str_eq(e.xapi_code, "HOST_STILL_BOOTING") ||
                    xapi_client_state(c->c) == XAPI_CONN_EMERGENCY);
        assert_true(c->saw[XAPI_CONN_EMERGENCY]);
        assert_int_equal(sim_post(sup, "/sim/fault", "{\"type\":\"clear\",\"code\":\"partition\"}"),
                         200);
        assert_int_equal(xapi_call_sync(c->c, "pool.get_all", NULL, NULL, &r, &e), 0);
        xapi_value_free(r);
        /* Over JSON-RPC every answer went straight from its bytes into the cache (evjson.c),
         * the caches above matching the pool's records; over XML-RPC the decoded way. */
        uint64_t straight = 0, decoded = 0;
        xapi__stream_routes(c->c, &straight, &decoded);
        if (protos[pi] == XAPI_PREF_JSONRPC) {
            assert_true(straight > 2);
            assert_int_equal(decoded, 0);
        } else {
            assert_int_equal(straight, 0);
            assert_true(decoded > 2);
        }
        free(master);
        cl_free(c);
        sim_stop(p);
    }
}

static int run_capture(const char *cmd, char *out, size_t n)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t got = fread(out, 1, n - 1, f);
    out[got] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_xapi_call(void **state)
{
    (void)state;
    struct simproc *p = sim_start("small.json");
    char pw[] = "/tmp/pp-xapi-pw-XXXXXX";
    int fd = mkstemp(pw);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "xenroot\n", 8), 8);
    close(fd);
    char cmd[1024], out[65536];
    snprintf(cmd, sizeof(cmd), "%s xapi call --url %s --password-file %s pool.get_all 2>&1", bin(),
             p->master_url, pw);
    assert_int_equal(run_capture(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "OpaqueRef:"));
    snprintf(cmd, sizeof(cmd),
             "%s xapi call --xml --url %s --password-file %s VM.get_by_name_label web-1 2>&1",
             bin(), p->master_url, pw);
    assert_int_equal(run_capture(cmd, out, sizeof(out)), 0);
    assert_true(out[0] == '[');
    snprintf(cmd, sizeof(cmd),
             "%s xapi call --url %s --password-file %s VM.get_record OpaqueRef:nope 2>&1", bin(),
             p->master_url, pw);
    assert_int_equal(run_capture(cmd, out, sizeof(out)), 1);
    assert_true(str_has_prefix(out, "HANDLE_INVALID"));
    /* --wait on an Async call: the task is waited on, its (void) result printed. */
    char vm[128] = "", host[128] = "";
    snprintf(cmd, sizeof(cmd),
             "%s xapi call --url %s --password-file %s VM.get_by_name_label "
             "web-2 2>&1",
             bin(), p->master_url, pw);
    assert_int_equal(run_capture(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "OpaqueRef:"));
    assert_int_equal(sscanf(strstr(out, "OpaqueRef:"), "%127[A-Za-z0-9:-]", vm), 1);
    snprintf(cmd, sizeof(cmd),
             "%s xapi call --url %s --password-file %s host.get_by_name_label "
             "small-3 2>&1",
             bin(), p->master_url, pw);
    assert_int_equal(run_capture(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "OpaqueRef:"));
    assert_int_equal(sscanf(strstr(out, "OpaqueRef:"), "%127[A-Za-z0-9:-]", host), 1);
    snprintf(cmd, sizeof(cmd),
             "%s xapi call --url %s --password-file %s --wait "
             "Async.VM.pool_migrate %s %s '{\"live\":\"true\"}' 2>&1",
             bin(), p->master_url, pw, vm, host);
    assert_int_equal(run_capture(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "progress 100%"));
    snprintf(cmd, sizeof(cmd),
             "%s xapi call --url %s --password-file %s VM.get_resident_on %s "
             "2>&1",
             bin(), p->master_url, pw, vm);
    assert_int_equal(run_capture(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, host));
    snprintf(cmd, sizeof(cmd),
             "%s xapi call --url %s session.login_with_password root xenroot "
             "2>&1",
             bin(), p->master_url);
    assert_int_equal(run_capture(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "\"OpaqueRef:"));
    unlink(pw);
    sim_stop(p);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (getenv("XT_DEBUG")) /* the client's rounds and calls on stderr */
        log_set_level(LOG_LVL_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_supporter_login_errors_tasks),
        cmocka_unit_test(test_cache_burst_reboot_partition),
        cmocka_unit_test(test_cli_xapi_call),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (size_t i = 0; i < sizeof live_sims / sizeof live_sims[0]; i++) {
        if (live_sims[i] > 0) {
            kill(live_sims[i], SIGKILL);
            waitpid(live_sims[i], NULL, 0);
        }
    }
    curl_global_cleanup();
    return rc;
}
