/* SPDX-License-Identifier: MIT */
/*
 * torture_exec.c - a seeded random-kill torture of the rollout executor, in-process on the
 * simulator's virtual clock (tests/unit/exec_env.c): an automated rollout of a scenario's legacy
 * pools, the executor and its XAPI clients destroyed ("killed": nothing cancelled, only the
 * journal survives) at many random points, a new one resumed on the same journal and
 * simulator, until the rollout ends.  Then the invariants, read from the simulator (its state
 * summary and its XAPI records):
 *
 *   the rollout is done and never halted; every host has the updates of an uncrashed run, is
 *   enabled, live and not in emergency mode, and was rebooted no more often than in that run;
 *   every VM that ran runs exactly once, every VM keeps its power state; HA as before; every
 *   CD as before; no VDI more than before; no pool_update left un-applied.
 *
 *   torture_exec [--scenario FILE] [--policy minimal|return|both] [--kills N] [--seed S]
 *
 * Prints the seed (replay with --seed) and a summary line
 *   "torture: SCENARIO POLICY: R runs, K kills, H halts, V violations"
 * Exit status 0 only with zero halts and zero violations.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "exec_env.h"
#include "sim/fileservice.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

#define MAX_TURNS 20000000L

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic per seed */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

struct tcase {
    const json_t *scenario;
    const char *name;
    char *catalog;
    enum plan_policy policy;
};

/* What the world looks like, read from the simulator through a pool's XAPI records. */
struct snap {
    json_t *vm_power; /* vm uuid -> power_state */
    json_t *cd_empty; /* vbd uuid -> empty */
    long vdis;
    long updates_unapplied;
};

struct snap_ctx {
    struct snap *s;
    struct xapi_client *c;
};

static bool snap_vm(void *ctx, const char *ref, const struct xapi_value *rec)
{
    (void)ref;
    struct snap_ctx *k = ctx;
    if (xapi_struct_bool(rec, "is_control_domain", false) ||
        xapi_struct_bool(rec, "is_a_template", false) ||
        xapi_struct_bool(rec, "is_a_snapshot", false))
        return true;
    json_object_set_new(k->s->vm_power, xapi_struct_str(rec, "uuid", ref),
                        json_string(xapi_struct_str(rec, "power_state", "")));
    return true;
}

static bool snap_vbd(void *ctx, const char *ref, const struct xapi_value *rec)
{
    (void)ref;
    struct snap_ctx *k = ctx;
    if (str_eq(xapi_struct_str(rec, "type", ""), "CD"))
        json_object_set_new(k->s->cd_empty, xapi_struct_str(rec, "uuid", ref),
                            json_boolean(xapi_struct_bool(rec, "empty", true)));
    return true;
}

static bool snap_vdi(void *ctx, const char *ref, const struct xapi_value *rec)
{
    (void)ref, (void)rec;
    struct snap_ctx *k = ctx;
    k->s->vdis++;
    return true;
}

static bool snap_update(void *ctx, const char *ref, const struct xapi_value *rec)
{
    (void)ref;
    struct snap_ctx *k = ctx;
    if (xapi_array_len(xapi_struct_get(rec, "hosts")) == 0)
        k->s->updates_unapplied++;
    return true;
}

static void snap_take(struct tenv *t, struct snap *s)
{
    s->vm_power = json_object();
    s->cd_empty = json_object();
    s->vdis = 0;
    s->updates_unapplied = 0;
    for (size_t i = 0; i < t->n_pools; i++) {
        struct snap_ctx k = {s, t->clients[i]};
        xapi_cache_foreach(k.c, "vm", snap_vm, &k);
        xapi_cache_foreach(k.c, "vbd", snap_vbd, &k);
        xapi_cache_foreach(k.c, "vdi", snap_vdi, &k);
        xapi_cache_foreach(k.c, "pool_update", snap_update, &k);
    }
}

static void snap_free(struct snap *s)
{
    json_decref(s->vm_power);
    json_decref(s->cd_empty);
}

/* The legacy pools of the scenario (a XenServer 8 repository pool is planned with its own
 * catalog, which the in-process world does not serve: the HTTP torture covers it). */
static bool legacy_pool(const json_t *scenario, const char *name)
{
    const json_t *pools = json_object_get(scenario, "pools");
    for (size_t i = 0; i < json_array_size(pools); i++) {
        const json_t *p = json_array_get(pools, i);
        if (str_eq(json_string_value(json_object_get(p, "name")), name))
            return !json_object_get(p, "repository");
    }
    return false;
}

/* Update images for every vendor patch (or the one of the default catalog). */
static int write_images(struct tenv *t, const json_t *scenario, struct exec_file *files, size_t *n)
{
    const json_t *patches = json_object_get(json_object_get(scenario, "vendor"), "patches");
    *n = 0;
    for (size_t i = 0; i < json_array_size(patches) && *n < 16; i++) {
        const json_t *p = json_array_get(patches, i);
        char guid[256] = "";
        const json_t *g = json_object_get(p, "after_apply_guidance");
        for (size_t k = 0; k < json_array_size(g); k++) {
            size_t l = strlen(guid);
            snprintf(guid + l, sizeof(guid) - l, "%s%s", k ? "," : "",
                     json_string_value(json_array_get(g, k)));
        }
        const char *uuid = json_string_value(json_object_get(p, "uuid"));
        char *img = tenv_image(uuid, json_string_value(json_object_get(p, "name_label")), guid,
                               json_is_true(json_object_get(p, "livepatch")));
        char fn[32];
        snprintf(fn, sizeof(fn), "u%zu.img", *n);
        const char *path = tenv_write(t, fn, img, strlen(img));
        free(img);
        if (!path)
            return -1;
        files[*n].uuid = uuid;
        files[*n].path = xstrdup(path);
        (*n)++;
    }
    return 0;
}

struct run_out {
    long kills;
    bool halted;
    bool done;
    char why[512];
    json_t *state; /* sim state at the end */
    struct snap end;
    long steps;           /* steps done at the end */
    int64_t t0_ms, t1_ms; /* simulated start and end */
};

static void note_halt(struct tenv *t, const char *id, struct run_out *o)
{
    json_t *j = NULL;
    exec_rollout_json(t->x, id, &j, NULL);
    json_t *err = json_object_get(j, "error");
    snprintf(o->why, sizeof(o->why), "%s at %s on %s: %s",
             json_string_value(json_object_get(err, "code")),
             json_string_value(json_object_get(err, "step")),
             json_string_value(json_object_get(err, "host")),
             json_string_value(json_object_get(err, "message")));
    json_decref(j);
}

static enum store_rollout_state rollout_state(struct tenv *t, const char *id)
{
    struct store_rollout ro = {0};
    store_rollout_get(t->store, id, &ro, NULL);
    enum store_rollout_state st = ro.state;
    store_rollout_cleanup(&ro);
    return st;
}

/* Kill and resume: a new executor and new clients on the same journal and simulator. */
static int kill_resume(struct tenv *t)
{
    struct err e = {0};
    tenv_crash(t);
    if (tenv_start(t, &e) != 0 || exec_resume_all(t->x, &e) != 0) {
        fprintf(stderr, "torture: resume: %s\n", e.msg);
        return -1;
    }
    return 0;
}

/* Steps of the rollout done or skipped (progress that a kill cannot undo). */
static long steps_done(struct tenv *t, const char *id)
{
    struct store_step_list l = {0};
    long n = 0;
    if (store_steps_list(t->store, id, NULL, &l, NULL) != 0)
        return -1;
    for (size_t i = 0; i < l.n; i++)
        n += l.items[i].state == STORE_STEP_DONE || l.items[i].state == STORE_STEP_SKIPPED;
    store_step_list_cleanup(&l);
    return n;
}

/* When the next kill comes: after about gap->steps more steps are done, or about gap->ms of
 * simulated time (a kill in the middle of a long operation), whichever is first. */
struct kill_gap {
    long steps;
    int64_t ms;
};

struct kill_at {
    long steps;
    int64_t t_ms;
};

static void kill_next(struct kill_at *k, const struct kill_gap *g, long done, int64_t now)
{
    k->steps = done + 1 + (long)(rnd() % (uint64_t)g->steps);
    k->t_ms = now + 1 + (int64_t)(rnd() % (uint64_t)g->ms);
}

static bool kill_due(const struct kill_at *k, struct tenv *t, const char *id)
{
    return steps_done(t, id) >= k->steps || clock_now_ms(t->clock) >= k->t_ms;
}

/* One rollout; g non-NULL: kill at random points (see struct kill_gap). */
static int one_run(const struct tcase *tc, const struct kill_gap *g, struct run_out *o,
                   struct snap *before)
{
    struct err e = {0};
    memset(o, 0, sizeof(*o));
    struct tenv *t = tenv_new(tc->scenario, tc->catalog, &e);
    if (!t) {
        fprintf(stderr, "torture: %s\n", e.msg);
        return -1;
    }
    t->quiet = getenv("TORTURE_VERBOSE") == NULL;
    struct exec_file files[16];
    size_t nf = 0;
    int rc = -1;
    char *id = NULL;
    struct plan_opts po;
    plan_opts_init(&po);
    po.policy = tc->policy;
    struct exec_pool_req pr[8];
    size_t np = 0;
    if (write_images(t, tc->scenario, files, &nf) != 0 || tenv_start(t, &e) != 0)
        goto out;
    for (size_t i = 0; i < t->n_pools && np < 8; i++)
        if (legacy_pool(tc->scenario, t->pool_names[i]))
            pr[np++] = (struct exec_pool_req){.pool = t->pool_names[i], .opts = &po};
    if (before)
        snap_take(t, before);
    struct exec_request req = {.pools = pr, .n_pools = np, .files = files, .n_files = nf};
    if (exec_rollout_start(t->x, &req, &id, &e) != 0) {
        fprintf(stderr, "torture: start: %s\n", e.msg);
        goto out;
    }
    struct kill_at k = {0};
    o->t0_ms = clock_now_ms(t->clock);
    if (g)
        kill_next(&k, g, 0, o->t0_ms);
    enum store_rollout_state st = STORE_ROLLOUT_RUNNING;
    for (long turn = 0; turn < MAX_TURNS; turn++) {
        bool mid = rnd() % 2; /* kill between the executor's tick and the loop's turn */
        exec_tick(t->x);
        if (g && mid && kill_due(&k, t, id)) {
            if (kill_resume(t) != 0)
                goto out;
            o->kills++;
            kill_next(&k, g, steps_done(t, id), clock_now_ms(t->clock));
            continue;
        }
        int n = xapi_loop_run(t->loop, 0);
        if (g && kill_due(&k, t, id)) {
            if (kill_resume(t) != 0)
                goto out;
            o->kills++;
            kill_next(&k, g, steps_done(t, id), clock_now_ms(t->clock));
        }
        st = rollout_state(t, id);
        if (st == STORE_ROLLOUT_HALTED) {
            o->halted = true;
            note_halt(t, id, o);
            break;
        }
        if (st != STORE_ROLLOUT_RUNNING && st != STORE_ROLLOUT_PLANNED)
            break;
        if (n < 0 && sim_next_deadline(t->sim) < 0) {
            snprintf(o->why, sizeof(o->why), "stuck: nothing can move");
            break;
        }
    }
    o->done = st == STORE_ROLLOUT_DONE;
    if (!o->done && !o->halted && !o->why[0])
        snprintf(o->why, sizeof(o->why), "rollout %s", store_rollout_state_name(st));
    for (int i = 0; i < 50; i++) /* let the caches see the last events */
        xapi_loop_run(t->loop, 0);
    o->steps = steps_done(t, id);
    o->t1_ms = clock_now_ms(t->clock);
    o->state = sim_state_json(t->sim);
    snap_take(t, &o->end);
    rc = 0;
out:
    free(id);
    for (size_t i = 0; i < nf; i++)
        free((char *)files[i].path);
    tenv_free(t);
    return rc;
}

static int violation(const char *what, ...) __attribute__((format(printf, 1, 2)));
static int violation(const char *what, ...)
{
    va_list ap;
    va_start(ap, what);
    fprintf(stderr, "torture: VIOLATION: ");
    vfprintf(stderr, what, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

static const json_t *host_of(const json_t *state, const char *pool, const char *name)
{
    const json_t *pools = json_object_get(state, "pools");
    for (size_t i = 0; i < json_array_size(pools); i++) {
        const json_t *p = json_array_get(pools, i);
        if (!str_eq(json_string_value(json_object_get(p, "name")), pool))
            continue;
        const json_t *hs = json_object_get(p, "hosts");
        for (size_t k = 0; k < json_array_size(hs); k++)
            if (str_eq(json_string_value(json_object_get(json_array_get(hs, k), "name")), name))
                return json_array_get(hs, k);
    }
    return NULL;
}

/* Invariants of a run against the uncrashed run (base) and the world before (before). */
static int check(const struct run_out *o, const struct run_out *base, const struct snap *before,
                 const json_t *init_state)
{
    int v = 0;
    const json_t *pools = json_object_get(o->state, "pools");
    for (size_t i = 0; i < json_array_size(pools); i++) {
        const json_t *p = json_array_get(pools, i);
        const char *pn = json_string_value(json_object_get(p, "name"));
        const json_t *ip = json_array_get(json_object_get(init_state, "pools"), i);
        if (!json_equal(json_object_get(p, "ha_enabled"), json_object_get(ip, "ha_enabled")))
            v += violation("pool %s: HA not as before", pn);
        json_t *seen = json_object();
        const json_t *hs = json_object_get(p, "hosts");
        for (size_t k = 0; k < json_array_size(hs); k++) {
            const json_t *h = json_array_get(hs, k);
            const char *hn = json_string_value(json_object_get(h, "name"));
            const json_t *bh = host_of(base->state, pn, hn);
            if (!json_is_true(json_object_get(h, "enabled")) ||
                !json_is_true(json_object_get(h, "live")) ||
                json_is_true(json_object_get(h, "emergency")))
                v += violation("host %s: enabled %d live %d emergency %d", hn,
                               json_is_true(json_object_get(h, "enabled")),
                               json_is_true(json_object_get(h, "live")),
                               json_is_true(json_object_get(h, "emergency")));
            if (!json_equal(json_object_get(h, "updates"), json_object_get(bh, "updates")))
                v += violation("host %s: updates differ from the uncrashed run", hn);
            if (json_integer_value(json_object_get(h, "reboots")) >
                json_integer_value(json_object_get(bh, "reboots")))
                v += violation("host %s: %lld reboots, the plan has %lld", hn,
                               (long long)json_integer_value(json_object_get(h, "reboots")),
                               (long long)json_integer_value(json_object_get(bh, "reboots")));
            const json_t *rv = json_object_get(h, "resident_vms");
            for (size_t m = 0; m < json_array_size(rv); m++) {
                const char *vm = json_string_value(json_array_get(rv, m));
                json_object_set_new(
                    seen, vm, json_integer(json_integer_value(json_object_get(seen, vm)) + 1));
            }
        }
        const char *vm;
        json_t *cnt;
        json_object_foreach(seen, vm, cnt) if (json_integer_value(cnt) != 1) v +=
            violation("VM %s resident %lld times", vm, (long long)json_integer_value(cnt));
        json_decref(seen);
    }
    if (!json_equal(o->end.vm_power, before->vm_power))
        v += violation("VM power states differ from before the rollout");
    if (!json_equal(o->end.cd_empty, before->cd_empty))
        v += violation("CD drives differ from before the rollout");
    if (o->end.vdis > before->vdis)
        v += violation("%ld VDIs, %ld before", o->end.vdis, before->vdis);
    if (o->end.updates_unapplied > 0)
        v += violation("%ld pool_update(s) left un-applied", o->end.updates_unapplied);
    return v;
}

static int run_case(const struct tcase *tc, long kills_wanted)
{
    struct run_out base;
    struct snap before = {0};
    if (one_run(tc, NULL, &base, &before) != 0)
        return 1;
    json_t *init = NULL;
    {
        /* the simulator's state before the rollout: a fresh world */
        struct err e = {0};
        struct tenv *t0 = tenv_new(tc->scenario, tc->catalog, &e);
        init = t0 ? sim_state_json(t0->sim) : json_object();
        tenv_free(t0);
    }
    long runs = 0, kills = 0, halts = 0, viol = 0;
    if (!base.done) {
        fprintf(stderr, "torture: %s %s: the uncrashed run did not complete: %s\n", tc->name,
                plan_policy_name(tc->policy), base.why);
        halts++;
    }
    viol += check(&base, &base, &before, init);
    /* about 40 kills per rollout */
    struct kill_gap g = {
        .steps = base.steps / 20 > 1 ? base.steps / 20 : 2,
        .ms = (base.t1_ms - base.t0_ms) / 20 > 1000 ? (base.t1_ms - base.t0_ms) / 20 : 1000};
    while (base.done && kills < kills_wanted) {
        struct run_out o;
        if (one_run(tc, &g, &o, NULL) != 0)
            return 1;
        runs++;
        kills += o.kills;
        if (!o.done) {
            halts++;
            fprintf(stderr, "torture: %s %s run %ld: not done after %ld kills: %s\n", tc->name,
                    plan_policy_name(tc->policy), runs, o.kills, o.why);
        } else {
            viol += check(&o, &base, &before, init);
        }
        json_decref(o.state);
        snap_free(&o.end);
    }
    printf("torture: %s %s: %ld runs, %ld kills, %ld halts, %ld violations\n", tc->name,
           plan_policy_name(tc->policy), runs, kills, halts, viol);
    fflush(stdout);
    json_decref(init);
    json_decref(base.state);
    snap_free(&base.end);
    snap_free(&before);
    return halts + viol > 0;
}

/* A scenario without a vendor section (bench-16) gets bench_rollout's one reboot update for
 * 8.2.1 pools. */
#define U_REBOOT "5b0e8f9e-1d2c-4b7a-9a61-2f1e3d4c5b01"
static const char *default_catalog =
    "<?xml version=\"1.0\"?>\n<patchdata><patches>"
    "<patch uuid=\"" U_REBOOT "\" name-label=\"XS82ECU1002\" name-description=\"kernel\" "
    "version=\"1.0\" url=\"u\" patch-url=\"p\" timestamp=\"2026-01-01T00:00:00Z\" "
    "after-apply-guidance=\"restartHost\" priority=\"1\" installation-size=\"1048576\"/>"
    "</patches><serverversions>"
    "<version value=\"8.2.1\" name=\"Citrix Hypervisor 8.2 CU1\" "
    "build-number=\"release/yangtze/master/58\" latest=\"true\" url=\"u\" "
    "timestamp=\"2022-01-01T00:00:00Z\"><patch uuid=\"" U_REBOOT "\"/>"
    "<minimalpatches><patch uuid=\"" U_REBOOT "\"/></minimalpatches></version>"
    "</serverversions></patchdata>\n";

static char *catalog_of(json_t *scenario)
{
    struct sim_fileservice *fs = NULL;
    struct err e = {0};
    const json_t *vendor = json_object_get(scenario, "vendor");
    if (!vendor) {
        json_object_set_new(scenario, "vendor",
                            json_pack("{s:[{s:s, s:s, s:[s]}]}", "patches", "uuid", U_REBOOT,
                                      "name_label", "XS82ECU1002", "after_apply_guidance",
                                      "restartHost"));
        return xstrdup(default_catalog);
    }
    if (sim_fileservice_new(vendor, "127.0.0.1", 0, &fs, &e) != 0) {
        fprintf(stderr, "torture: the scenario's vendor section: %s\n", e.msg);
        return NULL;
    }
    size_t n = 0;
    const char *xml = sim_fileservice_catalog(fs, &n);
    char *c = xstrndup(xml, n);
    sim_fileservice_free(fs);
    return c;
}

int main(int argc, char **argv)
{
    const char *path = PP_SOURCE_ROOT "/scenarios/demo.json";
    const char *pol = "both";
    long kills = 40;
    uint64_t seed = (uint64_t)time(NULL);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (str_eq(argv[i], "--scenario"))
            path = argv[i + 1];
        else if (str_eq(argv[i], "--policy"))
            pol = argv[i + 1];
        else if (str_eq(argv[i], "--kills"))
            kills = strtol(argv[i + 1], NULL, 10);
        else if (str_eq(argv[i], "--seed"))
            seed = strtoull(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "torture_exec: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("torture: seed %llu (replay: --seed %llu), scenario %s\n", (unsigned long long)seed,
           (unsigned long long)seed, path);
    rng_state = seed ? seed : 1;
    json_error_t je;
    json_t *sc = json_load_file(path, 0, &je);
    if (!sc) {
        fprintf(stderr, "torture_exec: %s: %s\n", path, je.text);
        return 2;
    }
    char *cat = catalog_of(sc);
    if (!cat)
        return 2;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        enum plan_policy p = k == 0 ? PLAN_POLICY_MINIMAL : PLAN_POLICY_RETURN;
        if (!str_eq(pol, "both") && !str_eq(pol, plan_policy_name(p)))
            continue;
        struct tcase tc = {sc, base, cat, p};
        rc |= run_case(&tc, kills);
    }
    free(cat);
    json_decref(sc);
    return rc;
}
