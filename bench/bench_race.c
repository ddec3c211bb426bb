/* SPDX-License-Identifier: MIT */
/*
 * bench_race.c - the race of issue "Performance at fleet scale": poolpatch's plans (policies
 * return and minimal) against re-implementations of XenCenter's and Xen Orchestra's rolling
 * policies, on the same pools and the same timing model, in virtual time (no clock is read for
 * the figures; only the planner's own speed is measured with the monotonic clock).
 *
 * Pools: bench-16 (scenarios/bench-16.json: 16 hosts of 256 GiB, 320 VMs, ~70% memory; its
 * timings: reboot 300 s, apply 120 s, 1000 MiB/s x 3 streams), a 64-host pool of the same host
 * shape (XenServer's maximum pool size), and a fleet of 100 x bench-16 (pools run in parallel:
 * the fleet's window is its slowest pool's, the rest adds up).  One update needing a reboot.
 *
 * The timing model is the planner's (docs/planner.md section 4): a host's outgoing migrations go
 * at bandwidth x parallel streams, a VM migrated alone at one stream's bandwidth.
 *   - poolpatch: plan_build's predicted window (master first and alone, then k hosts at once).
 *   - XenCenter (xenserver/xenadmin: the PatchingWizard's plan per host, coordinator first, runs
 *     EvacuateHostAction - host.async_disable, the MAINTENANCE_MODE other_config key,
 *     host.async_evacuate -, the update's apply, the reboot, then BringBabiesBackAction -
 *     host.enable, then `foreach` VM of the host VM.async_live_migrate back, each task polled
 *     and destroyed before the next, and the evacuated-VMs key cleared): one host at a time;
 *     xapi's host.evacuate places the VMs (largest first, to the host with the most free memory:
 *     xen-api ocaml/xapi/xapi_host.ml compute_evacuation_plan) and moves them in parallel over
 *     the host's streams; they come back one at a time.  Every VM off and back: 2V.
 *   - Xen Orchestra rolling pool update (vatesfr/xen-orchestra packages/xo-server/src/xapi/
 *     mixins/patching.mjs rollingPoolUpdate and pool.mjs rollingPoolReboot;
 *     shared/reference/peers.md section 1, steps 5-8): legacy XenServer updates are prechecked
 *     on every host and applied pool-wide up front (pool_update.pool_apply, which xapi runs host
 *     after host: ocaml/xapi/xapi_pool_update.ml, so the applies take as long in total); then
 *     master first, one host at a time: get_vms_which_prevent_evacuation, assert_can_evacuate,
 *     host.disable, host.evacuate with a batch of 3 (xapi places the VMs as above; VMs parked on
 *     a host not yet updated move again), host.reboot, wait until it is enabled; when every host
 *     is done, every VM not on its recorded host migrates back, serially.  At least 2V.
 * DESIGN.md's lower bound (master first) is the planner's for policy minimal (V migrations).
 *
 * XAPI calls are the operation calls each policy sends (what it asks the pool to do or check),
 * counted from the sequences above; none of the four is charged for watching (poolpatch's
 * event.from stream, the task polling of XenCenter's PollToCompletion or XO's watchers).  The
 * executor's real count on bench-16, event.from included, is bench/bench_rollout.c's.
 *
 * Prints a table per scenario and one summary line per scenario; writes the SVG chart of the
 * windows to argv[1] (docs/performance-race.svg when run by `make bench`).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/mem.h"
#include "plan/plan.h"
#include "test_plan_fixture.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

#define MIB ((int64_t)1 << 20)
/* As the simulator counts them (src/sim/scenario.c): dom0's 4 GiB and the host's 600 MiB
 * overhead out of each host's memory; a VM takes its memory plus memory/128 + 1 MiB. */
#define DOM0        (4 * GIB + 600 * MIB)
#define FLEET_POOLS 100
#define N_POLICIES  4

struct model {
    double reboot_s, apply_s, bw; /* bw: bytes/s of one stream */
    int par;
};

struct result {
    double window_s, bytes;
    size_t migrations, reboots, calls;
};

static const char *const policy_names[N_POLICIES] = {"poolpatch return", "poolpatch minimal",
                                                     "XenCenter", "Xen Orchestra RPU"};

/* A pool of nh hosts shaped like bench-16's: host i gets the VMs of bench host i mod 16. */
static struct inv_pool *make_pool(const json_t *sc, size_t nh, int idx)
{
    const json_t *p0 = json_array_get(json_object_get(sc, "pools"), 0);
    const json_t *hosts = json_object_get(p0, "hosts"), *vms = json_object_get(p0, "vms");
    size_t nsh = json_array_size(hosts);
    char name[16], ref[96];
    snprintf(name, sizeof(name), "race%d", idx % 1000);
    struct inv_pool *p = fx_pool(name);
    for (size_t h = 0; h < nh; h++) {
        snprintf(ref, sizeof(ref), "%s-h%02zu", name, h);
        size_t hi = fx_host(p, ref, 0, "8.2.1", "release/yangtze/master/58");
        p->hosts[hi].memory_total = (int64_t)json_integer_value(json_object_get(
                                        json_array_get(hosts, h % nsh), "memory_gib")) *
                                    GIB;
        p->hosts[hi].memory_free = p->hosts[hi].memory_total - DOM0;
    }
    fx_sr(p, "shared", true, NULL, 100000 * GIB, 0);
    fx_set(&p->default_sr_ref, "shared");
    for (size_t h = 0; h < nh; h++) {
        const char *bh = json_string_value(json_object_get(json_array_get(hosts, h % nsh), "name"));
        size_t i;
        const json_t *vm;
        json_array_foreach(vms, i, vm)
        {
            if (strcmp(json_string_value(json_object_get(vm, "host")), bh) != 0)
                continue;
            int64_t mem = json_integer_value(json_object_get(vm, "memory_mib")) * MIB;
            mem += mem / 128 + MIB;
            snprintf(ref, sizeof(ref), "%s-vm%zu-%zu", name, h, i);
            fx_vm(p, ref, p->hosts[h].ref, mem, "shared");
            p->hosts[h].memory_free -= mem;
        }
    }
    return p;
}

static size_t host_of(const struct inv_pool *p, const char *ref)
{
    for (size_t h = 0; h < p->n_hosts; h++)
        if (strcmp(p->hosts[h].ref, ref) == 0)
            return h;
    return SIZE_MAX;
}

/* xapi's evacuation target for a VM of `mem` bytes (VMs taken largest first): the other live host
 * with the most free memory that fits (xapi_host.ml compute_evacuation_plan, a biggest-fit
 * decreasing pass); SIZE_MAX when none. */
static size_t xapi_target(const int64_t *fr, size_t nh, size_t from, int64_t mem)
{
    size_t best = SIZE_MAX;
    for (size_t h = 0; h < nh; h++)
        if (h != from && fr[h] >= mem && (best == SIZE_MAX || fr[h] > fr[best]))
            best = h;
    return best;
}

static void move(struct result *r, int64_t *fr, size_t *loc, const struct inv_pool *p, size_t v,
                 size_t to)
{
    fr[loc[v]] += p->vms[v].memory;
    fr[to] -= p->vms[v].memory;
    loc[v] = to;
    r->migrations++;
    r->bytes += (double)p->vms[v].memory;
}

/* VM indexes by memory, largest first (xapi's evacuation plan takes the largest VM first). */
static size_t *by_size(const struct inv_pool *p)
{
    size_t nv = p->n_vms, *ix = xcalloc(nv + 1, sizeof(*ix));
    for (size_t v = 0; v < nv; v++) {
        size_t j = v;
        while (j > 0 && p->vms[ix[j - 1]].memory < p->vms[v].memory) {
            ix[j] = ix[j - 1];
            j--;
        }
        ix[j] = v;
    }
    return ix;
}

/* Operation calls of XenCenter / XO per pool and per host (see the file comment).  XenCenter:
 * login, the upload's task and introduce, pool_clean; per host precheck, async_disable, the
 * MAINTENANCE_MODE key removed and added, async_evacuate, apply, reboot, enable, the evacuated
 * VMs key cleared; per VM brought back its migration and task.destroy.  XO: login, the upload's
 * task and introduce, pool_apply; per host precheck, get_vms_which_prevent_evacuation,
 * assert_can_evacuate, disable, evacuate, reboot; per VM brought back its migration. */
#define XC_POOL_CALLS 4
#define XC_HOST_CALLS 9
#define XC_BACK_CALLS 2
#define XO_POOL_CALLS 4
#define XO_HOST_CALLS 6

/* XenCenter (xo = false) or Xen Orchestra (xo = true): see the file comment. */
static void rolling(const struct inv_pool *p, const struct model *m, bool xo, struct result *r)
{
    size_t nh = p->n_hosts, nv = p->n_vms, master = host_of(p, p->master_ref);
    int64_t *fr = xcalloc(nh, sizeof(*fr));
    size_t *loc = xcalloc(nv + 1, sizeof(*loc)), *home = xcalloc(nv + 1, sizeof(*home));
    size_t *big = by_size(p);
    for (size_t h = 0; h < nh; h++)
        fr[h] = p->hosts[h].memory_free;
    for (size_t v = 0; v < nv; v++)
        loc[v] = home[v] = host_of(p, p->vms[v].resident_on);
    memset(r, 0, sizeof(*r));
    r->calls = xo ? XO_POOL_CALLS : XC_POOL_CALLS;
    for (size_t i = 0; i < nh; i++) {
        size_t h = i == 0 ? master : (i <= master ? i - 1 : i);
        double out = 0;
        r->calls += xo ? XO_HOST_CALLS : XC_HOST_CALLS;
        for (size_t bi = 0; bi < nv; bi++) {
            size_t v = big[bi];
            if (loc[v] != h)
                continue;
            size_t to = xapi_target(fr, nh, h, p->vms[v].memory);
            if (to == SIZE_MAX)
                continue; /* does not happen on these pools: every host has room somewhere */
            out += (double)p->vms[v].memory;
            move(r, fr, loc, p, v, to);
        }
        r->window_s += out / (m->bw * m->par) + m->apply_s + m->reboot_s;
        r->reboots++;
        if (xo)
            continue;
        for (size_t v = 0; v < nv; v++) /* BringBabiesBackAction: one VM at a time */
            if (home[v] == h && loc[v] != h) {
                r->window_s += (double)p->vms[v].memory / m->bw;
                r->calls += XC_BACK_CALLS;
                move(r, fr, loc, p, v, h);
            }
    }
    for (size_t v = 0; xo && v < nv; v++) /* XO's final pass: back home, serially */
        if (loc[v] != home[v]) {
            r->window_s += (double)p->vms[v].memory / m->bw;
            r->calls++;
            move(r, fr, loc, p, v, home[v]);
        }
    free(big);
    free(fr);
    free(loc);
    free(home);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* poolpatch's plan for one pool; *bound receives DESIGN.md's master-first bound (minimal). */
static void poolpatch(const struct inv_pool *p, const struct catalog *cat, const struct model *m,
                      enum plan_policy pol, struct result *r, struct plan_totals *bound, double *ms)
{
    struct plan_opts o;
    plan_opts_init(&o);
    o.policy = pol;
    o.timing.reboot_s = m->reboot_s;
    o.timing.apply_s = m->apply_s;
    o.timing.migration_bw = m->bw;
    o.timing.parallel_migrations = m->par;
    struct plan *pl = NULL;
    *ms = 1e9;
    for (int rep = 0; rep < 3; rep++) { /* the fastest of 3: the machine is shared */
        plan_free(pl);
        double t0 = now_ms();
        if (plan_build(p, cat, &o, &pl, NULL) != 0) {
            fprintf(stderr, "bench_race: plan_build failed\n");
            exit(1);
        }
        double t = now_ms() - t0;
        *ms = t < *ms ? t : *ms;
    }
    r->window_s = pl->totals.window_s;
    /* as bench_rollout counts the executor's: login, the upload's task, introduce, pool_clean;
     * per host precheck, disable, apply, reboot, enable; one VM.pool_migrate per migration */
    r->calls = 4 + pl->totals.hosts_updated + pl->totals.updates + 3 * pl->totals.reboots +
               pl->totals.migrations;
    r->migrations = pl->totals.migrations;
    r->bytes = (double)pl->totals.migrated_bytes;
    r->reboots = pl->totals.reboots;
    if (pol == PLAN_POLICY_MINIMAL)
        *bound = pl->totals;
    if (plan_count_checks(pl, PLAN_SEV_BLOCKING) > 0)
        fprintf(stderr, "bench_race: warning: %s has blocking checks\n", pl->pool_name);
    plan_free(pl);
}

struct scenario {
    const char *name;
    size_t hosts, pools;
    struct result res[N_POLICIES];
    struct plan_totals bound;
    double plan_ms; /* planning one pool, both policies, the slowest */
};

/* Run every policy on one scenario: `pools` pools of `hosts` hosts (the fleet's pools are alike,
 * so each is planned, and the windows are the slowest pool's). */
static void run_scenario(const json_t *sc, const struct catalog *cat, const struct model *m,
                         struct scenario *s)
{
    memset(s->res, 0, sizeof(s->res));
    for (size_t i = 0; i < s->pools; i++) {
        struct inv_pool *p = make_pool(sc, s->hosts, (int)i);
        struct result r[N_POLICIES];
        double ms[2];
        poolpatch(p, cat, m, PLAN_POLICY_RETURN, &r[0], &s->bound, &ms[0]);
        poolpatch(p, cat, m, PLAN_POLICY_MINIMAL, &r[1], &s->bound, &ms[1]);
        rolling(p, m, false, &r[2]);
        rolling(p, m, true, &r[3]);
        for (int k = 0; k < 2; k++)
            s->plan_ms = ms[k] > s->plan_ms ? ms[k] : s->plan_ms;
        for (int k = 0; k < N_POLICIES; k++) {
            struct result *t = &s->res[k];
            t->window_s = r[k].window_s > t->window_s ? r[k].window_s : t->window_s;
            t->migrations += r[k].migrations;
            t->bytes += r[k].bytes;
            t->reboots += r[k].reboots;
            t->calls += r[k].calls;
        }
        inv_pool_free(p);
    }
}

static void print_scenario(const struct scenario *s)
{
    double b = s->bound.bound_window_s;
    printf("\n%s: %zu pool%s of %zu hosts, %zu VMs to move per pool; planned in %.2f ms per "
           "pool (slowest)\n",
           s->name, s->pools, s->pools == 1 ? "" : "s", s->hosts, s->bound.bound_vms, s->plan_ms);
    printf("  %-19s %10s %7s %11s %11s %8s %10s\n", "policy", "window", "x bound", "migrations",
           "GiB moved", "reboots", "XAPI calls");
    for (int k = 0; k < N_POLICIES; k++)
        printf("  %-19s %9.0fs %7.2f %11zu %11.0f %8zu %10zu\n", policy_names[k],
               s->res[k].window_s, s->res[k].window_s / b, s->res[k].migrations,
               s->res[k].bytes / (double)GIB, s->res[k].reboots, s->res[k].calls);
    printf("  %-19s %9.0fs %7.2f %11zu\n", "lower bound", b, 1.0,
           s->bound.bound_migrations * s->pools);
    double best = s->res[0].window_s < s->res[1].window_s ? s->res[0].window_s : s->res[1].window_s;
    printf("race %s: bound %.0f s / %zu migrations;", s->name, b,
           s->bound.bound_migrations * s->pools);
    for (int k = 0; k < N_POLICIES; k++) {
        printf(" %s %.0f s (%.2fx bound", policy_names[k], s->res[k].window_s,
               s->res[k].window_s / b);
        if (k >= 2)
            printf(", %.1fx poolpatch's best", s->res[k].window_s / best);
        printf(") %zu migrations %.0f GiB %zu reboots %zu calls;", s->res[k].migrations,
               s->res[k].bytes / (double)GIB, s->res[k].reboots, s->res[k].calls);
    }
    printf(" planned in %.2f ms\n", s->plan_ms);
}

/* Grouped bars: one group per scenario, one bar per policy, the bound as a line. */
static void write_svg(const char *path, const struct scenario *sc, size_t n)
{
    static const char *const colors[N_POLICIES] = {"#2b6cb0", "#63b3ed", "#c05621", "#d69e2e"};
    double maxw = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < N_POLICIES; k++)
            maxw = sc[i].res[k].window_s > maxw ? sc[i].res[k].window_s : maxw;
    struct buf b;
    buf_init(&b);
    const double W = 720, H = 360, left = 70, top = 40, plot_h = 240, group_w = 200;
    buf_printf(&b,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n"
               "<text x=\"%.0f\" y=\"22\" font-size=\"14\">Rollout window (virtual time, hours; "
               "generated by bench/bench_race.c)</text>\n",
               W, H, left);
    for (int t = 0; t <= 4; t++) {
        double y = top + plot_h - plot_h * t / 4.0;
        buf_printf(&b,
                   "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.1f h</text>\n",
                   left, W - 20, y, y, left - 6, y + 4, maxw * t / 4.0 / 3600.0);
    }
    for (size_t i = 0; i < n; i++) {
        double x0 = left + 20 + group_w * (double)i;
        for (int k = 0; k < N_POLICIES; k++) {
            double h = plot_h * sc[i].res[k].window_s / maxw;
            buf_printf(&b,
                       "<rect x=\"%.1f\" y=\"%.1f\" width=\"34\" height=\"%.1f\" fill=\"%s\">"
                       "<title>%s: %.0f s</title></rect>\n",
                       x0 + 38.0 * k, top + plot_h - h, h, colors[k], policy_names[k],
                       sc[i].res[k].window_s);
        }
        double yb = top + plot_h - plot_h * sc[i].bound.bound_window_s / maxw;
        buf_printf(&b,
                   "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#000\" "
                   "stroke-dasharray=\"4 3\"/>\n<text x=\"%.1f\" y=\"%.0f\" "
                   "text-anchor=\"middle\">%s</text>\n",
                   x0 - 4, x0 + 38.0 * N_POLICIES, yb, yb, x0 + 76, top + plot_h + 18, sc[i].name);
    }
    for (int k = 0; k < N_POLICIES; k++)
        buf_printf(&b,
                   "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                   "<text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
                   left + 160.0 * k, H - 40, colors[k], left + 160.0 * k + 16, H - 30,
                   policy_names[k]);
    buf_printf(&b,
               "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#000\" "
               "stroke-dasharray=\"4 3\"/><text x=\"%.0f\" y=\"%.0f\">DESIGN.md lower bound "
               "(master first, V migrations)</text>\n</svg>\n",
               left, left + 24, H - 12, H - 12, left + 30, H - 8);
    FILE *f = fopen(path, "w");
    if (!f || fputs(buf_str(&b), f) < 0 || fclose(f) != 0)
        fprintf(stderr, "bench_race: cannot write %s\n", path);
    else
        printf("\nchart written to %s\n", path);
    buf_cleanup(&b);
}

int main(int argc, char **argv)
{
    const char *svg = argc > 1 ? argv[1] : NULL;
    json_error_t je;
    json_t *sc = json_load_file(PP_SOURCE_ROOT "/scenarios/bench-16.json", 0, &je);
    if (!sc) {
        fprintf(stderr, "bench_race: bench-16.json: %s\n", je.text);
        return 1;
    }
    const json_t *tm = json_object_get(sc, "timings");
    struct model m = {json_number_value(json_object_get(tm, "reboot_s")),
                      json_number_value(json_object_get(tm, "apply_s")),
                      json_number_value(json_object_get(tm, "migration_mib_per_s")) * (double)MIB,
                      (int)json_integer_value(json_object_get(tm, "parallel_migrations"))};
    struct catalog *cat = fx_catalog();
    fx_patch(cat, "U", CAT_G_RESTART_HOST, "", "");
    fx_version(cat, "8.2.1", "release/yangtze/master/58", NULL, "U", "U");
    struct scenario s[] = {{.name = "bench-16", .hosts = 16, .pools = 1},
                           {.name = "pool-64", .hosts = 64, .pools = 1},
                           {.name = "fleet-100x16", .hosts = 16, .pools = FLEET_POOLS}};
    printf("bench_race: virtual time, planner's timing model: reboot %.0f s, apply %.0f s, "
           "%.0f MiB/s x %d streams\n",
           m.reboot_s, m.apply_s, m.bw / (double)MIB, m.par);
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        run_scenario(sc, cat, &m, &s[i]);
        print_scenario(&s[i]);
    }
    for (size_t n = 256; n <= 1024; n *= 4) { /* how planning scales past XenServer's 64 */
        struct inv_pool *p = make_pool(sc, n, 0);
        struct result r;
        struct plan_totals t;
        double ms;
        poolpatch(p, cat, &m, PLAN_POLICY_MINIMAL, &r, &t, &ms);
        printf("plan scaling: %zu hosts, %zu VMs planned in %.1f ms (both placements)\n", n,
               p->n_vms, ms);
        inv_pool_free(p);
    }
    if (svg)
        write_svg(svg, s, sizeof(s) / sizeof(s[0]));
    catalog_free(cat);
    json_decref(sc);
    return 0;
}
