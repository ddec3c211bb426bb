/* SPDX-License-Identifier: MIT */
/*
 * bench_fleet_plan.c - the fleet plan and GET /pools in one process, no daemon (issue 17): a
 * simulator serving POOLS pools in bench-16's shape (16 hosts, 320 VMs each, as
 * bench/sim_fleet.py repeats it) over HTTP on a scaled clock, the demo scenario's vendor file
 * service for the catalog, and an engine watching every pool, as `poolpatch serve` does.  Once
 * every pool is connected and has been quiet for a while, it times what the REST server's threads
 * do for `POST /api/v1/plans` (engine_plan_parts: the default, summarised per host, then
 * `detail: full`; the whole answer read out of its parts) and for `GET /api/v1/pools`
 * (engine_pools, then its text), and a request the engine thread answers (the retry of an unknown
 * rollout) while GET /pools is read on other threads.  Prints each one's median and min over
 * ROUNDS, and one summary line.  Asserts nothing about time.
 *
 * Usage: bench_fleet_plan [POOLS] [ROUNDS]   (default 100 pools, 7 rounds)
 * BENCH_ONLY=summary|full|pools times that alone (under a profiler); "timing" is printed when the
 * timed part begins.  BENCH_THREADS=N: the plans use at most N threads (engine_plans.c).
 */
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/jparts.h"
#include "base/jsonx.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "sim/fileservice.h"
#include "sim/sim.h"
#include "sim/sim_http.h"

#ifndef PP_SOURCE_ROOT
#define PP_SOURCE_ROOT "."
#endif

#define MAX_ROUNDS 64

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* This process's VmRSS or VmHWM in MiB (key "VmRSS" / "VmHWM"), 0 when unreadable. */
static long status_mib(const char *key)
{
    char line[256];
    long kib = 0;
    size_t n = strlen(key);
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            kib = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return kib / 1024;
}

/* This thread's CPU time in ms: a plan's cost on a machine shared with others (one planning
 * thread, the caller's, by default: engine_plans.c). */
static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* name + "-pNNN" (a new string). */
static json_t *suffixed(const json_t *s, const char *suffix)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s", json_string_value(s), suffix);
    return json_string(buf);
}

/* bench-16's pool repeated n times, pool i's hosts on 127.0.(i+1).h (sim_fleet.py's fleet()),
 * with the demo scenario's vendor section (its catalog). */
static json_t *fleet_doc(int n, struct err *e)
{
    json_t *base = NULL, *demo = NULL;
    if (jsonx_load_file(PP_SOURCE_ROOT "/scenarios/bench-16.json", 16u << 20, 64, &base, e) != 0 ||
        jsonx_load_file(PP_SOURCE_ROOT "/scenarios/demo.json", 16u << 20, 64, &demo, e) != 0) {
        json_decref(base);
        return NULL;
    }
    json_t *doc = json_deep_copy(base), *pools = json_array();
    const json_t *p0 = json_array_get(json_object_get(base, "pools"), 0);
    json_object_set_new(doc, "base_address", json_string("127.0.1.1"));
    for (int i = 0; i < n; i++) {
        char suf[16];
        snprintf(suf, sizeof suf, "-p%03d", i);
        json_t *p = json_deep_copy(p0), *v;
        size_t k;
        json_object_set_new(p, "name", suffixed(json_object_get(p, "name"), suf));
        json_array_foreach(json_object_get(p, "hosts"), k, v)
        {
            char addr[64];
            snprintf(addr, sizeof addr, "127.0.%d.%zu", i + 1, k + 1);
            json_object_set_new(v, "name", suffixed(json_object_get(v, "name"), suf));
            json_object_set_new(v, "address", json_string(addr));
        }
        json_array_foreach(json_object_get(p, "vms"), k, v)
        {
            size_t d;
            json_t *disk;
            json_object_set_new(v, "name", suffixed(json_object_get(v, "name"), suf));
            json_object_set_new(v, "host", suffixed(json_object_get(v, "host"), suf));
            json_array_foreach(json_object_get(v, "disks"), d, disk)
                json_object_set_new(disk, "sr", suffixed(json_object_get(disk, "sr"), suf));
        }
        json_array_foreach(json_object_get(p, "srs"), k, v)
        {
            json_object_set_new(v, "name", suffixed(json_object_get(v, "name"), suf));
            if (json_object_get(v, "host"))
                json_object_set_new(v, "host", suffixed(json_object_get(v, "host"), suf));
        }
        if (json_object_get(p, "default_sr"))
            json_object_set_new(p, "default_sr", suffixed(json_object_get(p, "default_sr"), suf));
        json_array_append_new(pools, p);
    }
    json_object_set_new(doc, "pools", pools);
    json_object_set(doc, "vendor", json_object_get(demo, "vendor"));
    json_decref(base);
    json_decref(demo);
    return doc;
}

/* Every pool connected: GET /pools says so for n pools. */
static bool all_connected(struct engine *eng, int n)
{
    json_t *out = NULL;
    struct err e = {0};
    bool ok = engine_pools(eng, &out, &e) == 0;
    const json_t *arr = json_object_get(out, "pools");
    ok = ok && json_array_size(arr) == (size_t)n;
    for (size_t i = 0; ok && i < json_array_size(arr); i++)
        ok = json_is_true(json_object_get(json_array_get(arr, i), "connected")) &&
             json_object_get(json_array_get(arr, i), "hosts");
    json_decref(out);
    return ok;
}

/* One POST /plans as the REST thread serves it: the parts built, then read out; *bytes, and
 * *cpu the calling thread's CPU time for it. */
static double time_plan(struct engine *eng, enum engine_plan_detail d, size_t *bytes, double *cpu)
{
    struct engine_plan_req req = {.automated = true, .policy = ENGINE_POLICY_RETURN, .detail = d};
    struct jparts *parts = NULL;
    struct err e = {0};
    static char chunk[1 << 16];
    double t0 = now_ms(), c0 = thread_cpu_ms();
    if (engine_plan_parts(eng, &req, &parts, &e) != 0) {
        fprintf(stderr, "bench_fleet_plan: plan: %s\n", e.msg);
        exit(1);
    }
    size_t n, total = 0;
    while ((n = jparts_read(parts, chunk, sizeof chunk)) > 0)
        total += n;
    jparts_free(parts);
    *bytes = total;
    *cpu = thread_cpu_ms() - c0;
    return now_ms() - t0;
}

/* One GET /pools: the list, then its text; *bytes. */
static double time_pools(struct engine *eng, size_t *bytes)
{
    json_t *out = NULL;
    struct err e = {0};
    double t0 = now_ms();
    if (engine_pools(eng, &out, &e) != 0) {
        fprintf(stderr, "bench_fleet_plan: pools: %s\n", e.msg);
        exit(1);
    }
    char *s = json_dumps(out, JSON_COMPACT);
    *bytes = strlen(s);
    free(s);
    json_decref(out);
    return now_ms() - t0;
}

/* A plan's line: the rounds' wall and CPU medians and minimums; returns the wall median. */
static double plan_line(const char *what, int rounds, double *wall, double *cpu, size_t bytes)
{
    double w50 = median(wall, rounds), c50 = median(cpu, rounds);
    printf("POST /plans (%s): %d rounds, p50 %.1f ms, min %.1f ms, %zu bytes; the caller's CPU "
           "p50 %.1f ms, min %.1f ms\n",
           what, rounds, w50, wall[0], bytes, c50, cpu[0]);
    return w50;
}

struct reader {
    struct engine *eng;
    volatile int stop;
    int reads;
};

static void *pools_reader(void *arg)
{
    struct reader *r = arg;
    size_t b;
    while (!r->stop) {
        time_pools(r->eng, &b);
        r->reads++;
    }
    return NULL;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int main(int argc, char **argv)
{
    int pools = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 100;
    int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 7;
    struct err e = {0};
    char dir[] = "/tmp/pp-bench-fleet-plan.XXXXXX", db[128], url[256];

    if (pools < 1 || pools > 250 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: bench_fleet_plan [POOLS 1-250] [ROUNDS 1-%d]\n", MAX_ROUNDS);
        return 2;
    }
    json_t *doc = fleet_doc(pools, &e);
    struct sim *sim = NULL;
    struct sim_server *srv = NULL;
    struct sim_fileservice *fs = NULL;
    struct sim_options so = {.time_scale = 60};
    if (!doc || sim_new_from_json(doc, &so, &sim, &e) != 0 ||
        sim_server_start(sim, 0, &srv, &e) != 0 ||
        sim_fileservice_new(json_object_get(doc, "vendor"), "127.0.0.2", 0, &fs, &e) != 0 ||
        !mkdtemp(dir)) {
        fprintf(stderr, "bench_fleet_plan: %s\n", e.msg);
        return 1;
    }
    snprintf(db, sizeof db, "%s/pp.db", dir);
    snprintf(url, sizeof url, "%s/updates.xml", sim_fileservice_url(fs));
    struct engine_config cfg = {.db_path = db,
                                .catalog_url = url,
                                .vendor_origins = sim_fileservice_url(fs),
                                .check_interval_s = 0};
    struct engine *eng = NULL;
    json_t *out = NULL;
    if (engine_new(&cfg, &eng, &e) != 0 || engine_start(eng, &e) != 0 ||
        engine_updates_check(eng, &out, &e) != 0) {
        fprintf(stderr, "bench_fleet_plan: engine: %s\n", e.msg);
        return 1;
    }
    json_decref(out);
    double t0 = now_ms();
    for (int i = 0; i < pools; i++) {
        char master[64], purl[128];
        sim_pool_master_address(sim, (size_t)i, master, sizeof master);
        snprintf(purl, sizeof purl, "http://%s:%u/", master, (unsigned)sim_server_port(srv));
        struct engine_pool_spec sp = {.name = sim_pool_name(sim, (size_t)i),
                                      .url = purl,
                                      .username = "root",
                                      .password = "xenroot"};
        out = NULL;
        if (engine_pool_add(eng, &sp, &out, &e) != 0) {
            fprintf(stderr, "bench_fleet_plan: pool add %s: %s\n", purl, e.msg);
            return 1;
        }
        json_decref(out);
    }
    for (int i = 0; i < 6000 && !all_connected(eng, pools); i++)
        nap_ms(100);
    if (!all_connected(eng, pools)) {
        fprintf(stderr, "bench_fleet_plan: the pools did not connect\n");
        return 1;
    }
    printf("%d pools x 16 hosts connected in %.1f s; settling 5 s\n", pools, (now_ms() - t0) / 1e3);
    fflush(stdout);
    nap_ms(5000);
    long rss_before = status_mib("VmRSS");

    double sum[MAX_ROUNDS] = {0}, full[MAX_ROUNDS] = {0}, gp[MAX_ROUNDS] = {0},
           eng_req[MAX_ROUNDS] = {0}, sum_cpu[MAX_ROUNDS] = {0}, full_cpu[MAX_ROUNDS] = {0};
    size_t sum_b = 0, full_b = 0, gp_b = 0;
    const char *only = getenv("BENCH_ONLY");
    if (getenv("BENCH_THREADS"))
        eng->plan_threads = (int)strtol(getenv("BENCH_THREADS"), NULL, 10);
    printf("timing\n");
    fflush(stdout);
    for (int r = 0; r < rounds && (!only || !strcmp(only, "summary")); r++)
        sum[r] = time_plan(eng, ENGINE_PLAN_DETAIL_AUTO, &sum_b, &sum_cpu[r]);
    for (int r = 0; r < rounds && (!only || !strcmp(only, "full")); r++)
        full[r] = time_plan(eng, ENGINE_PLAN_DETAIL_FULL, &full_b, &full_cpu[r]);
    for (int r = 0; r < rounds && (!only || !strcmp(only, "pools")); r++)
        gp[r] = time_pools(eng, &gp_b);
    printf("timed\n");
    fflush(stdout);
    long rss_after = status_mib("VmRSS");
    /* an engine request while two threads read GET /pools without pause */
    struct reader rd = {.eng = eng};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, pools_reader, &rd);
    for (int r = 0; r < rounds && !only; r++) {
        struct err re = {0};
        double t = now_ms();
        engine_rollout_retry(eng, "no-such-rollout", &re); /* 404 from the engine thread */
        eng_req[r] = now_ms() - t;
        nap_ms(20);
    }
    rd.stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);

    double s50 = plan_line("summary", rounds, sum, sum_cpu, sum_b),
           f50 = plan_line("detail full", rounds, full, full_cpu, full_b), g50 = median(gp, rounds),
           q50 = median(eng_req, rounds);
    printf("GET /pools: %d rounds, p50 %.2f ms, min %.2f ms, %zu bytes\n", rounds, g50, gp[0],
           gp_b);
    printf("an engine request while GET /pools is read on 2 threads (%d reads): p50 %.2f ms, max "
           "%.2f ms\n",
           rd.reads, q50, eng_req[rounds - 1]);
    printf("process RSS (simulator and engine): %ld MiB before the plans, %ld MiB after\n",
           rss_before, rss_after);
    printf("bench-fleet-plan: %d pools x 16 hosts, plan %.0f ms (summary), full plan %.0f ms, GET "
           "pools p50 %.2f ms\n",
           pools, s50, f50, g50);

    engine_free(eng);
    sim_server_stop(srv);
    sim_fileservice_free(fs);
    sim_free(sim);
    json_decref(doc);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}
