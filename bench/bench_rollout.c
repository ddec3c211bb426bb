/* SPDX-License-Identifier: MIT */
/*
 * bench_rollout.c - a whole automated rollout of scenarios/bench-16.json (16 hosts, 320 VMs)
 * through the real executor, journal and XAPI client against the simulator in-process on its
 * virtual clock, with both placement policies.  Prints per policy: the simulated window (first
 * intent to last done), migrations, reboots, live patches, the planner's prediction and
 * DESIGN.md's lower bound (V or 2V migrations, ceil(N/k)*(reboot+apply) + sum(VM memory)/bw),
 * and the real seconds and peak RSS of the run.  BENCH_UPDATES=N: N updates a host (the fleet
 * bench has 5).  Calls per host-update are per host done.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "exec_env.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

#define U_REBOOT TENV_U_REBOOT

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *replan_result(struct tenv *t, const char *id)
{
    struct store_step_list l = {0};
    json_t *r = NULL;
    if (store_steps_list(t->store, id, NULL, &l, NULL) != 0)
        return NULL;
    for (size_t i = 0; i < l.n; i++)
        if (str_eq(l.items[i].kind, "replan") && l.items[i].result_json)
            r = json_loads(l.items[i].result_json, 0, NULL);
    store_step_list_cleanup(&l);
    return r;
}

/* BENCH_STEPS=1: every non-migration step with its intent and done times (s from the first). */
static void print_steps(struct tenv *t, const char *id)
{
    struct store_step_list l = {0};
    if (!getenv("BENCH_STEPS") || store_steps_list(t->store, id, NULL, &l, NULL) != 0)
        return;
    int64_t t0 = 0;
    for (size_t i = 0; i < l.n; i++)
        if (l.items[i].intent_at_ms && (!t0 || l.items[i].intent_at_ms < t0))
            t0 = l.items[i].intent_at_ms;
    for (size_t i = 0; i < l.n; i++) {
        const struct store_step *s = &l.items[i];
        if (str_eq(s->kind, "migrate"))
            continue;
        printf("  step %-14s %-10s %8.1f %8.1f\n", s->kind, s->host ? s->host : "-",
               s->intent_at_ms ? (double)(s->intent_at_ms - t0) / 1000.0 : -1.0,
               s->done_at_ms ? (double)(s->done_at_ms - t0) / 1000.0 : -1.0);
    }
    store_step_list_cleanup(&l);
}

struct mcounts {
    char line[1024];
    size_t len;
};

static void method_fn(void *ctx, const char *method, uint64_t n)
{
    struct mcounts *m = ctx;
    if (m->len < sizeof(m->line))
        m->len += (size_t)snprintf(m->line + m->len, sizeof(m->line) - m->len, " %s %llu", method,
                                   (unsigned long long)n);
}

/* XAPI calls by method over the run (the pool's client: what the pool received). */
static void print_calls(struct tenv *t, long long hosts)
{
    struct xapi_counts k;
    struct mcounts m = {.len = 0};
    xapi_client_counts(t->clients[0], &k, method_fn, &m);
    printf("  XAPI calls       %8llu  (%.1f per host-update; %llu XAPI errors, %llu reconnects)\n",
           (unsigned long long)k.calls, hosts > 0 ? (double)k.calls / (double)hosts : 0.0,
           (unsigned long long)k.xapi_errors, (unsigned long long)k.reconnects);
    printf("  by method       %s\n", m.line);
}

#define MAX_UPDATES 9

/* BENCH_UPDATES=N (1..9, default 1): N updates a host, as the fleet bench's demo catalog has 5
 * (restartHost and restartXAPI in turn); uuids TENV_U_REBOOT with its last digit a, b, ... (one:
 * TENV_U_REBOOT itself, tenv_reboot_catalog). */
static int n_updates(void)
{
    const char *v = getenv("BENCH_UPDATES");
    int n = v && v[0] >= '1' && v[0] <= '9' && !v[1] ? v[0] - '0' : 1;
    return n;
}

static void update_uuid(char *out, size_t len, int i)
{
    snprintf(out, len, "%s", U_REBOOT);
    if (n_updates() > 1) /* one: tenv_reboot_catalog's */
        out[strlen(out) - 1] = (char)('a' + i);
}

static const char *update_guidance(int i)
{
    return i % 2 == 0 ? "restartHost" : "restartXAPI";
}

/* The catalog of n_updates() updates for 8.2.1 (caller frees), every one in the minimal set. */
static char *catalog(void)
{
    int n = n_updates();
    if (n == 1)
        return xstrdup(tenv_reboot_catalog);
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<?xml version=\"1.0\"?>\n<patchdata><patches>");
    char u[64];
    for (int i = 0; i < n; i++) {
        update_uuid(u, sizeof(u), i);
        buf_printf(&b,
                   "<patch uuid=\"%s\" name-label=\"XS82ECU10%02d\" name-description=\"u\" "
                   "version=\"1.0\" url=\"u\" patch-url=\"p\" "
                   "timestamp=\"2026-01-01T00:00:00Z\" after-apply-guidance=\"%s\" "
                   "priority=\"1\" installation-size=\"1048576\"/>",
                   u, i + 2, update_guidance(i));
    }
    buf_puts(&b, "</patches><serverversions><version value=\"8.2.1\" name=\"Citrix Hypervisor "
                 "8.2 CU1\" build-number=\"release/yangtze/master/58\" latest=\"true\" "
                 "url=\"u\" timestamp=\"2022-01-01T00:00:00Z\">");
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            buf_puts(&b, "<minimalpatches>");
        for (int i = 0; i < n; i++) {
            update_uuid(u, sizeof(u), i);
            buf_printf(&b, "<patch uuid=\"%s\"/>", u);
        }
    }
    buf_puts(&b, "</minimalpatches></version></serverversions></patchdata>\n");
    return buf_take(&b);
}

static int run(const json_t *scenario, enum plan_policy policy)
{
    struct err e = {0};
    char *cat = catalog();
    struct tenv *t = tenv_new(scenario, cat, &e);
    free(cat);
    if (!t) {
        fprintf(stderr, "bench_rollout: %s\n", e.msg);
        return 1;
    }
    t->quiet = getenv("BENCH_DEBUG") == NULL;
    /* the planner's timing figures from the scenario's (what a measured pool would give) */
    const json_t *tm = json_object_get(scenario, "timings");
    t->env.timing.reboot_s = json_number_value(json_object_get(tm, "reboot_s"));
    t->env.timing.apply_s = json_number_value(json_object_get(tm, "apply_s"));
    t->env.timing.toolstack_s = json_number_value(json_object_get(tm, "toolstack_restart_s"));
    t->env.timing.migration_bw =
        json_number_value(json_object_get(tm, "migration_mib_per_s")) * 1024.0 * 1024.0;
    t->env.timing.parallel_migrations =
        (int)json_integer_value(json_object_get(tm, "parallel_migrations"));
    int nu = n_updates();
    char uuids[MAX_UPDATES][64], paths[MAX_UPDATES][512];
    struct exec_file files[MAX_UPDATES];
    bool written = true;
    for (int i = 0; i < nu; i++) {
        char name[32], fname[32];
        update_uuid(uuids[i], sizeof(uuids[i]), i);
        snprintf(name, sizeof(name), "XS82ECU10%02d", i + 2);
        snprintf(fname, sizeof(fname), "u%d.img", i);
        char *img = tenv_image(uuids[i], name, update_guidance(i), false);
        const char *path = tenv_write(t, fname, img, strlen(img)); /* rotated 4 ways: copied */
        snprintf(paths[i], sizeof(paths[i]), "%s", path ? path : "");
        files[i] = (struct exec_file){.uuid = uuids[i], .path = paths[i]};
        written = written && path;
        free(img);
    }
    if (!written || tenv_start(t, &e) != 0) {
        fprintf(stderr, "bench_rollout: start: %s\n", e.msg);
        tenv_free(t);
        return 1;
    }
    struct plan_opts o;
    plan_opts_init(&o);
    o.policy = policy;
    struct exec_pool_req pr = {.pool = t->pool_names[0], .opts = &o};
    struct exec_request req = {.pools = &pr, .n_pools = 1, .files = files, .n_files = (size_t)nu};
    char *id = NULL;
    double t0 = now_s();
    if (exec_rollout_start(t->x, &req, &id, &e) != 0) {
        fprintf(stderr, "bench_rollout: %s\n", e.msg);
        tenv_free(t);
        return 1;
    }
    enum store_rollout_state st = tenv_run(t, id, 50000000L);
    double real = now_s() - t0;
    json_t *j = NULL;
    exec_rollout_json(t->x, id, &j, &e);
    json_t *c = json_object_get(j, "counters");
    json_t *rp = replan_result(t, id);
    json_t *sst = sim_state_json(t->sim);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("policy %-7s  state %s\n", plan_policy_name(policy), store_rollout_state_name(st));
    json_t *perr = json_object_get(j, "error");
    if (getenv("BENCH_DEBUG")) {
        json_t *p0 = json_deep_copy(json_array_get(json_object_get(j, "pools"), 0));
        json_object_del(p0, "hosts");
        char *d = json_dumps(p0, 0);
        printf("%s\n", d);
        free(d);
        json_decref(p0);
    }
    if (json_is_object(perr))
        printf("  halted at %s: %s\n", json_string_value(json_object_get(perr, "step")),
               json_string_value(json_object_get(perr, "message")));
    printf("  window           %8.0f s simulated (%.2f h)  planner predicted %.0f s\n",
           json_real_value(json_object_get(j, "window_s")),
           json_real_value(json_object_get(j, "window_s")) / 3600.0,
           json_number_value(json_object_get(rp, "window_s")));
    printf("  lower bound      %8.0f s  (%lld migrations)\n",
           json_number_value(json_object_get(rp, "bound_window_s")),
           (long long)json_integer_value(json_object_get(rp, "bound_migrations")));
    printf("  migrations       %8lld  (sim counted %lld)\n",
           (long long)json_integer_value(json_object_get(c, "migrations")),
           (long long)json_integer_value(
               json_object_get(json_object_get(sst, "counters"), "migrations")));
    printf("  reboots          %8lld\n",
           (long long)json_integer_value(json_object_get(c, "reboots")));
    printf("  live patches     %8lld\n",
           (long long)json_integer_value(json_object_get(c, "live_patched")));
    printf("  updates applied  %8lld  batches %lld\n",
           (long long)json_integer_value(json_object_get(c, "updates_applied")),
           (long long)json_integer_value(json_object_get(rp, "batches")));
    print_calls(t, (long long)json_integer_value(json_object_get(c, "hosts_done")));
    print_steps(t, id);
    printf("  real             %8.2f s   peak RSS %ld MiB\n", real, ru.ru_maxrss / 1024);
    int rc = st == STORE_ROLLOUT_DONE ? 0 : 1;
    json_decref(sst);
    json_decref(rp);
    json_decref(j);
    free(id);
    tenv_free(t);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : PP_SOURCE_ROOT "/scenarios/bench-16.json";
    json_error_t je;
    json_t *sc = json_load_file(path, 0, &je);
    if (!sc) {
        fprintf(stderr, "bench_rollout: %s: %s\n", path, je.text);
        return 1;
    }
    /* the daemon's stream settings (src/engine/engine_pools.c) unless the environment says
     * otherwise (tests/unit/exec_env.c reads them); BENCH_PLAIN=1 runs the client's defaults */
    if (!getenv("BENCH_PLAIN")) {
        setenv("PP_LEAVE_DONE_TASKS", "1", 0);
        setenv("PP_EVENT_COALESCE_MS", "500", 0);
        setenv("PP_EVENT_QUIET_MS", "1000", 0);
    }
    printf("bench_rollout: %s, automated rollout, in-process simulator, virtual clock (%s)\n", path,
           getenv("BENCH_PLAIN") ? "client defaults" : "the daemon's stream settings");
    int rc = run(sc, PLAN_POLICY_MINIMAL);
    rc |= run(sc, PLAN_POLICY_RETURN);
    json_decref(sc);
    return rc;
}
