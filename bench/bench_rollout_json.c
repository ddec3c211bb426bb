/* SPDX-License-Identifier: MIT */
/*
 * bench_rollout_json.c - how long GET /rollouts/{id} and GET /rollouts take for a fleet-sized
 * rollout: 100 pools x 16 hosts, 43,650 journaled steps (prechecks, disable, evacuations, apply,
 * reboot, enable, migrations back), two thirds of the hosts done, one failed, the plan JSON of
 * the fleet stored with it.  The JSON is built exactly as the REST server's thread builds it
 * (exec_json_rollout on a read-only connection: never on the engine thread).  Prints the
 * figures (first read with the plan parsed, then the median and worst of 20 warm reads, and the
 * list), in wall-clock time and in this thread's CPU time (a loaded machine inflates the first);
 * then the same read through the engine (engine_rollout_text, GET /rollouts/{id}'s path): the
 * first builds and publishes the snapshot, the next are served from it while nothing is
 * committed, one after a commit is built again (incrementally: the hosts whose steps or facts
 * changed); then a read after a commit of one step / one host's facts, the full build (before)
 * against the incremental one (now), and the incremental state's size; then a second rollout of
 * the same steps whose every pool is two thirds through (all moving), read after 1, 10 and 100 of
 * its pools advanced one step each (one host each: what the fleet bench's reads see); then a third
 * whose pools are through their prechecks, read after 8 pools' replans appended their 128 hosts'
 * steps at once (the fleet bench's re-plan bursts).  Asserts
 * nothing about time.
 *
 * Usage: bench_rollout_json [DIR]   (the database lives in a temporary folder under DIR or .)
 *        BENCH_ONLY=moving bench_rollout_json [DIR]   (the moving rollout's lines only)
 *        BENCH_ONLY=burst bench_rollout_json [DIR]    (the re-plan burst's lines only)
 */
#include <ftw.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/err.h"
#include "base/mem.h"
#include "engine/engine.h"
#include "engine/exec_json.h"
#include "store/store.h"

#define POOLS        100
#define HOSTS        16
#define VMS_PER_HOST 20
#define TARGET_STEPS 43650
#define WARM_READS   20

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static clockid_t bench_clock = CLOCK_MONOTONIC;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

struct steps {
    struct store_step_spec *v;
    size_t n, cap;
    char **owned;
    size_t n_owned, cap_owned;
};

static const char *own(struct steps *s, char *str)
{
    if (s->n_owned == s->cap_owned) {
        s->cap_owned = s->cap_owned ? 2 * s->cap_owned : 1024;
        s->owned = xreallocarray(s->owned, s->cap_owned, sizeof(*s->owned));
    }
    return s->owned[s->n_owned++] = str;
}

static void add(struct steps *s, const char *pool, const char *host, const char *kind, char *params)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 4096;
        s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
    }
    s->v[s->n++] = (struct store_step_spec){pool, host, kind, own(s, params)};
}

static void add_migrations(struct steps *s, const char *pool, const char *ref, const char *name,
                           int p, int h, int n, bool back)
{
    for (int v = 0; v < n; v++)
        add(s, pool, ref, "migrate",
            xasprintf("{\"batch\":%d,\"host_name\":\"%s\",\"vm\":\"OpaqueRef:vm-%d-%d-%d\","
                      "\"vm_name\":\"vm-%d-%d-%d\",\"from\":\"%s\",\"to\":\"OpaqueRef:h-%d-%d\","
                      "\"memory\":4294967296,\"back\":%s}",
                      h, name, p, h, v, p, h, v, ref, p, (h + 1) % HOSTS, back ? "true" : "false"));
}

/* Where each pool's steps start in the list, and its steps after its replan (what the replan
 * appends: the burst rollout's). */
static size_t pool_at[POOLS + 1], replan_at[POOLS];

/* The steps of one pool, its plan JSON appended to plan. */
static void pool_steps(struct steps *s, int p, FILE *plan)
{
    const char *pool = own(s, xasprintf("pool-%03d", p));
    add(s, pool, NULL, "upload", xasprintf("{\"uuid\":\"u-1\",\"path\":\"/x\",\"sr\":\"sr\"}"));
    add(s, pool, NULL, "introduce", xasprintf("{\"uuid\":\"u-1\"}"));
    fprintf(plan, "%s{\"pool\":\"%s\",\"totals\":{\"window_s\":%d},\"hosts\":[", p ? "," : "", pool,
            2000 + p);
    for (int h = 0; h < HOSTS; h++) {
        const char *ref = own(s, xasprintf("OpaqueRef:h-%d-%d", p, h));
        add(s, pool, ref, "precheck",
            xasprintf("{\"uuid\":\"u-1\",\"host_name\":\"host-%d-%d\",\"batch\":1000000}", p, h));
        fprintf(plan,
                "%s{\"ref\":\"%s\",\"name\":\"host-%d-%d\",\"start_s\":%d,\"end_s\":%d,"
                "\"reboot\":true,\"toolstack\":false,\"livepatched\":false,\"updates\":[\"u-1\"],"
                "\"actions\":[{\"kind\":\"apply\",\"update\":\"u-1\",\"name\":\"XS82ECU1099\"},"
                "{\"kind\":\"evacuate\",\"migrations\":[",
                h ? "," : "", ref, p, h, h * 120, h * 120 + 600);
        for (int v = 0; v < VMS_PER_HOST; v++)
            fprintf(plan, "%s{\"vm\":\"OpaqueRef:vm-%d-%d-%d\",\"to\":\"h\",\"memory\":1}",
                    v ? "," : "", p, h, v);
        fprintf(plan, "]}]}");
    }
    fprintf(plan, "]}");
    add(s, pool, NULL, "replan", xasprintf("{\"opts\":{\"mode\":0}}"));
    replan_at[p] = s->n; /* what the pool's replan appends starts here */
    for (int h = 0; h < HOSTS; h++) {
        const char *ref = own(s, xasprintf("OpaqueRef:h-%d-%d", p, h));
        char *name = xasprintf("host-%d-%d", p, h);
        add(s, pool, ref, "disable", xasprintf("{\"batch\":%d,\"host_name\":\"%s\"}", h, name));
        add_migrations(s, pool, ref, name, p, h, VMS_PER_HOST, false);
        add(s, pool, ref, "apply",
            xasprintf("{\"batch\":%d,\"host_name\":\"%s\",\"uuid\":\"u-1\"}", h, name));
        add(s, pool, ref, "reboot", xasprintf("{\"batch\":%d,\"host_name\":\"%s\"}", h, name));
        add(s, pool, ref, "enable", xasprintf("{\"batch\":%d,\"host_name\":\"%s\"}", h, name));
        /* 40,500 steps without them: 1,550 hosts bring 2 VMs home, 50 one (43,650) */
        add_migrations(s, pool, ref, name, p, h, p * HOSTS + h < 1550 ? 2 : 1, true);
        free(name);
    }
    add(s, pool, NULL, "clean", xasprintf("{\"uuid\":\"u-1\"}"));
    add(s, pool, NULL, "undo", xasprintf("{}"));
}

/* Two thirds of the steps done (whole pools first), one failed: a rollout halted late. */
static int mark_progress(const char *path, const char *id, size_t n)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    char *sql = sqlite3_mprintf(
        "BEGIN; UPDATE steps SET state = 'done', intent_at = 1780000000000 + seq * 1000, "
        "done_at = 1780000000000 + seq * 1000 + 500 WHERE rollout_id = %Q AND seq <= %lld; "
        "UPDATE steps SET state = 'failed', intent_at = 1780000000000 + seq * 1000, "
        "done_at = 1780000000000 + seq * 1000 + 700, error = '{\"code\":\"HOST_OFFLINE\","
        "\"message\":\"host did not answer\"}' WHERE rollout_id = %Q AND seq = %lld; "
        "UPDATE rollouts SET state = 'halted' WHERE id = %Q; COMMIT;",
        id, (long long)(n * 2 / 3), id, (long long)(n * 2 / 3 + 1), id);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_free(sql);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* Every pool two thirds through its own steps (a fleet rollout whose pools all move), the rest
 * pending: a read after N pools advanced (moving_report). */
static int mark_moving(const char *path, const char *id)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    char *sql = sqlite3_mprintf(
        "UPDATE steps SET state = 'done', intent_at = 1780000000000 + seq * 1000, "
        "done_at = 1780000000000 + seq * 1000 + 500 WHERE rollout_id = %Q AND seq IN (SELECT seq "
        "FROM (SELECT seq, row_number() OVER (PARTITION BY pool ORDER BY seq) AS k, count(*) OVER "
        "(PARTITION BY pool) AS n FROM steps WHERE rollout_id = %Q) WHERE k <= n * 2 / 3); "
        "UPDATE rollouts SET state = 'running' WHERE id = %Q;",
        id, id, id);
    char *msg = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (msg)
        fprintf(stderr, "bench_rollout_json: %s\n", msg);
    sqlite3_free(msg);
    sqlite3_free(sql);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static int64_t timed_read(struct store *ro, struct exec_json_cache *c, const char *id,
                          size_t *bytes)
{
    json_t *j = NULL;
    struct err e = {0};
    int64_t t0 = now_us();
    int rc = exec_json_rollout(ro, c, id, 0, &j, &e);
    char *text = rc == 0 ? json_dumps(j, JSON_COMPACT) : NULL; /* the REST server sends text */
    int64_t dt = now_us() - t0;
    if (rc != 0)
        fprintf(stderr, "bench_rollout_json: read failed: %s\n", e.msg);
    *bytes = text ? strlen(text) : 0;
    free(text);
    json_decref(j);
    return rc == 0 ? dt : -1;
}

static void report(struct store *ro, const char *id, size_t n_steps)
{
    struct exec_json_cache *c = exec_json_cache_new();
    size_t bytes = 0;
    int64_t first = timed_read(ro, c, id, &bytes);
    int64_t warm[WARM_READS];
    for (int i = 0; i < WARM_READS; i++)
        warm[i] = timed_read(ro, c, id, &bytes);
    qsort(warm, WARM_READS, sizeof(warm[0]), cmp_i64);
    json_t *list = NULL;
    struct err e = {0};
    int64_t t0 = now_us();
    exec_json_rollouts(ro, c, 0, &list, &e);
    int64_t list_us = now_us() - t0;
    json_decref(list);
    printf("rollout JSON, %zu steps (%d pools x %d hosts), read-only connection, off the engine "
           "thread, %s time:\n",
           n_steps, POOLS, HOSTS, bench_clock == CLOCK_MONOTONIC ? "wall" : "CPU");
    printf("  GET /rollouts/{id}: first %.1f ms (plan parsed), warm median %.1f ms, worst %.1f "
           "ms, %zu bytes\n",
           first / 1000.0, warm[WARM_READS / 2] / 1000.0, warm[WARM_READS - 1] / 1000.0, bytes);
    printf("  GET /rollouts (summaries): %.1f ms\n", list_us / 1000.0);
    exec_json_cache_free(c);
}

static int64_t timed_text(struct engine *eng, const char *id, size_t *bytes)
{
    char *text = NULL;
    int64_t age = 0;
    struct err e = {0};
    int64_t t0 = now_us();
    int rc = engine_rollout_text(eng, id, 0, &text, bytes, &age, &e);
    int64_t dt = now_us() - t0;
    if (rc != 0)
        fprintf(stderr, "bench_rollout_json: engine read failed: %s\n", e.msg);
    free(text);
    return rc == 0 ? dt : -1;
}

/* GET /rollouts/{id} through the engine: built once, then from the published snapshot. */
static void engine_report(const char *path, struct store *w, const char *id)
{
    struct engine *eng = NULL;
    struct err e = {0};
    struct engine_config cfg = {.db_path = path, .check_interval_s = 0, .request_timeout_ms = 200};
    if (engine_new(&cfg, &eng, &e) != 0) {
        fprintf(stderr, "bench_rollout_json: engine: %s\n", e.msg);
        return;
    }
    size_t bytes = 0;
    int64_t first = timed_text(eng, id, &bytes);
    int64_t warm[WARM_READS];
    for (int i = 0; i < WARM_READS; i++)
        warm[i] = timed_text(eng, id, &bytes);
    qsort(warm, WARM_READS, sizeof(warm[0]), cmp_i64);
    store_host_facts_set(w, id, "pool-000", "", "{\"xapi_calls\":{\"bench\":1}}", &e);
    int64_t after = timed_text(eng, id, &bytes);
    store_host_facts_set(w, id, "pool-050", "OpaqueRef:h-50-1", "{\"reboot_pending\":true}", &e);
    int64_t after_host = timed_text(eng, id, &bytes);
    printf("  through the engine (GET /rollouts/{id}): first %.1f ms (built, published), "
           "from the snapshot median %.1f ms, worst %.1f ms; after a commit %.1f ms (the pools' "
           "calls: no host rendered), after a host's facts %.1f ms (that host rendered), %zu "
           "bytes\n",
           first / 1000.0, warm[WARM_READS / 2] / 1000.0, warm[WARM_READS - 1] / 1000.0,
           after / 1000.0, after_host / 1000.0, bytes);
    engine_free(eng);
}

/* One build of rollout id's text after a commit: the full build (before) or the incremental one
 * through inc (after).  Returns its time (bench_clock), -1 on an error. */
static int64_t timed_build(struct store *ro, struct exec_json_cache *c, struct exec_json_inc *inc,
                           const char *id, struct exec_json_inc_stats *st, size_t *bytes)
{
    struct store_rollout head = {0};
    struct err e = {0};
    char *text = NULL;
    int64_t until = 0;
    int64_t t0 = now_us();
    int rc = store_rollout_get_head(ro, id, &head, &e);
    if (rc == 0 && inc)
        rc = exec_json_rollout_text_inc(ro, c, inc, &head, 0, &text, bytes, &until, st, &e);
    else if (rc == 0)
        rc = exec_json_rollout_text(ro, c, &head, 0, &text, bytes, &until, &e);
    int64_t dt = now_us() - t0;
    if (rc != 0)
        fprintf(stderr, "bench_rollout_json: build failed: %s\n", e.msg);
    free(text);
    store_rollout_cleanup(&head);
    return rc == 0 ? dt : -1;
}

/* A commit that changes one step (its intent, then its done, alternately) or one host (its facts
 * record: its pool's hosts rendered again). */
static void commit_one(struct store *w, const char *id, int64_t seq, int k, bool host)
{
    struct err e = {0};
    if (host) {
        char facts[64];
        snprintf(facts, sizeof facts, "{\"reboot_pending\":%s}", k % 2 ? "true" : "false");
        store_host_facts_set(w, id, "pool-070", "OpaqueRef:h-70-3", facts, &e);
    } else if (k % 2 == 0) {
        store_journal_intent(w, id, seq + k / 2, NULL, NULL, &e);
    } else {
        store_journal_done(w, id, seq + k / 2, NULL, &e);
    }
}

/* A read after a commit of one step / one host: the full build (before) against the incremental
 * one (after), median and worst of WARM_READS each; the incremental state's size. */
static void commit_report(struct store *w, struct store *ro, const char *id, size_t n_steps)
{
    struct exec_json_cache *c = exec_json_cache_new();
    struct exec_json_inc *inc = exec_json_inc_new(1);
    struct exec_json_inc_stats st = {0};
    size_t bytes = 0;
    static int64_t runs; /* each run its own pending steps (after the failed one) */
    int64_t seq = (int64_t)(n_steps * 2 / 3) + 2 + 100 * runs++;
    timed_build(ro, c, NULL, id, NULL, &bytes); /* the plan parsed */
    int64_t first = timed_build(ro, c, inc, id, &st, &bytes);
    printf("  incremental text: first build %.1f ms (every pool), its state %zu bytes for %zu "
           "pools (%zu bytes of text)\n",
           first / 1000.0, st.bytes, st.pools, bytes);
    for (int host = 0; host < 2; host++) {
        int64_t full[WARM_READS], part[WARM_READS];
        size_t rendered = 0, hosts = 0;
        for (int k = 0; k < WARM_READS; k++) {
            commit_one(w, id, seq + host * 50, 2 * k, host);
            full[k] = timed_build(ro, c, NULL, id, NULL, &bytes);
            commit_one(w, id, seq + host * 50, 2 * k + 1, host);
            part[k] = timed_build(ro, c, inc, id, &st, &bytes);
            rendered += st.pools_rendered;
            hosts += st.hosts_rendered;
        }
        qsort(full, WARM_READS, sizeof(full[0]), cmp_i64);
        qsort(part, WARM_READS, sizeof(part[0]), cmp_i64);
        printf("  a read after a commit of one %s: full build (before) median %.1f ms, worst "
               "%.1f ms; incremental (now) median %.2f ms, worst %.2f ms (%.1f pools, %.1f hosts "
               "rendered a read)\n",
               host ? "host's facts" : "step", full[WARM_READS / 2] / 1000.0,
               full[WARM_READS - 1] / 1000.0, part[WARM_READS / 2] / 1000.0,
               part[WARM_READS - 1] / 1000.0, (double)rendered / WARM_READS,
               (double)hosts / WARM_READS);
    }
    exec_json_inc_free(inc);
    exec_json_cache_free(c);
}

/* Pool p's first unfinished step moved on one state (pending -> intent -> done): what the engine
 * writes as a pool moves. */
static void advance_pool(struct store *w, const char *id, int p)
{
    char pool[16];
    struct store_step st = {0};
    struct err e = {0};
    snprintf(pool, sizeof pool, "pool-%03d", p);
    if (store_step_first_unfinished(w, id, pool, &st, &e) == 0) {
        if (st.state == STORE_STEP_PENDING)
            store_journal_intent(w, id, st.seq, NULL, NULL, &e);
        else
            store_journal_done(w, id, st.seq, NULL, &e);
    }
    store_step_cleanup(&st);
}

/* A rollout whose every pool moves: a read after N pools each advanced one step (one host each),
 * incremental, median and worst of WARM_READS; the full build's once for comparison. */
static void moving_report(struct store *w, struct store *ro, const char *id)
{
    static const int ns[] = {1, 10, 100};
    struct exec_json_cache *c = exec_json_cache_new();
    struct exec_json_inc *inc = exec_json_inc_new(1);
    struct exec_json_inc_stats st = {0};
    size_t bytes = 0;
    timed_build(ro, c, NULL, id, NULL, &bytes); /* the plan parsed */
    int64_t full = timed_build(ro, c, NULL, id, NULL, &bytes);
    int64_t first = timed_build(ro, c, inc, id, &st, &bytes);
    printf("  every pool moving (%zu bytes): full build %.1f ms, first incremental %.1f ms\n",
           bytes, full / 1000.0, first / 1000.0);
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        int64_t part[WARM_READS];
        size_t rendered = 0, hosts = 0;
        for (int r = 0; r < WARM_READS; r++) {
            for (int p = 0; p < ns[k]; p++)
                advance_pool(w, id, (r * 37 + p) % POOLS);
            part[r] = timed_build(ro, c, inc, id, &st, &bytes);
            rendered += st.pools_rendered;
            hosts += st.hosts_rendered;
        }
        qsort(part, WARM_READS, sizeof(part[0]), cmp_i64);
        printf("  a read after %3d pool%s moved one step: incremental median %.2f ms, worst "
               "%.2f ms (%.1f pools, %.1f hosts rendered a read)\n",
               ns[k], ns[k] == 1 ? " " : "s", part[WARM_READS / 2] / 1000.0,
               part[WARM_READS - 1] / 1000.0, (double)rendered / WARM_READS,
               (double)hosts / WARM_READS);
    }
    exec_json_inc_free(inc);
    exec_json_cache_free(c);
}

#define BURST_POOLS  8 /* 128 hosts: the fleet bench's bursts render 79-128 */
#define BURST_ROUNDS (POOLS / BURST_POOLS)

/* A rollout whose pools are all through their prechecks, read after BURST_POOLS pools' replans
 * appended their hosts' steps at once (the re-plan burst of the fleet bench: every host of those
 * pools rendered again), incremental, median and worst of BURST_ROUNDS. */
static void burst_report(const char *path, struct store *w, struct store *ro, const struct steps *s,
                         const char *plan_text)
{
    struct store_step_spec *pre = xcalloc(s->n, sizeof(*pre));
    size_t n_pre = 0;
    for (int p = 0; p < POOLS; p++)
        for (size_t i = pool_at[p]; i < replan_at[p]; i++)
            pre[n_pre++] = s->v[i];
    static int runs; /* each pass its own rollout */
    char *want = xasprintf("r-burst-%d", runs++);
    struct store_rollout_spec spec = {.id = want, .plan_json = plan_text, .policy = "minimal"};
    char *id = NULL;
    struct err e = {0};
    char *sql =
        sqlite3_mprintf("UPDATE steps SET state = 'done', intent_at = 1780000000000 + seq "
                        "* 1000, done_at = 1780000000000 + seq * 1000 + 500 WHERE "
                        "rollout_id = %Q; UPDATE rollouts SET state = 'running' WHERE id = %Q;",
                        want, want);
    sqlite3 *db = NULL;
    if (store_rollout_create(w, &spec, pre, n_pre, &id, &e) != 0 ||
        sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, sql, NULL, NULL, NULL) != 0) {
        fprintf(stderr, "bench_rollout_json: the burst rollout: %s\n", e.msg);
        sqlite3_close(db);
        sqlite3_free(sql);
        free(pre);
        free(id);
        free(want);
        return;
    }
    sqlite3_close(db);
    sqlite3_free(sql);
    struct exec_json_cache *c = exec_json_cache_new();
    struct exec_json_inc *inc = exec_json_inc_new(1);
    struct exec_json_inc_stats st = {0};
    size_t bytes = 0, hosts = 0;
    timed_build(ro, c, NULL, id, NULL, &bytes); /* the plan parsed */
    timed_build(ro, c, inc, id, &st, &bytes);
    int64_t part[BURST_ROUNDS];
    for (int r = 0; r < BURST_ROUNDS; r++) {
        for (int p = r * BURST_POOLS; p < (r + 1) * BURST_POOLS; p++)
            store_steps_append(w, id, &s->v[replan_at[p]], pool_at[p + 1] - replan_at[p], NULL, &e);
        part[r] = timed_build(ro, c, inc, id, &st, &bytes);
        hosts += st.hosts_rendered;
    }
    int64_t full = timed_build(ro, c, NULL, id, NULL, &bytes);
    qsort(part, BURST_ROUNDS, sizeof(part[0]), cmp_i64);
    printf("  a read after %d pools' replans appended their hosts' steps: incremental median "
           "%.2f ms, worst %.2f ms (%.1f hosts rendered a read); the full build then %.1f ms\n",
           BURST_POOLS, part[BURST_ROUNDS / 2] / 1000.0, part[BURST_ROUNDS - 1] / 1000.0,
           (double)hosts / BURST_ROUNDS, full / 1000.0);
    exec_json_inc_free(inc);
    exec_json_cache_free(c);
    free(want);
    free(id);
    free(pre);
}

int main(int argc, char **argv)
{
    const char *only = getenv("BENCH_ONLY");
    bool moving_only = only && strcmp(only, "moving") == 0;
    bool burst_only = only && strcmp(only, "burst") == 0;
    char *dir = xasprintf("%s/bench-rjson-XXXXXX", argc > 1 ? argv[1] : ".");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char *path = xasprintf("%s/pp.db", dir);
    struct steps s = {0};
    char *plan_text = NULL;
    size_t plan_len = 0;
    FILE *plan = open_memstream(&plan_text, &plan_len);
    fprintf(plan, "{\"pools\":[");
    for (int p = 0; p < POOLS; p++) {
        pool_at[p] = s.n;
        pool_steps(&s, p, plan);
    }
    pool_at[POOLS] = s.n;
    fprintf(plan, "]}");
    fclose(plan);
    struct store *w = NULL, *ro = NULL;
    struct err e = {0};
    char *id = NULL, *id2 = NULL;
    int ret = 1;
    struct store_rollout_spec spec = {.id = "r-bench", .plan_json = plan_text, .policy = "minimal"};
    if (store_open(path, NULL, &w, &e) != 0 ||
        store_rollout_create(w, &spec, s.v, s.n, &id, &e) != 0) {
        fprintf(stderr, "bench_rollout_json: %s\n", e.msg);
        goto out;
    }
    if (mark_progress(path, id, s.n) != 0 || store_open_readonly(path, NULL, &ro, &e) != 0) {
        fprintf(stderr, "bench_rollout_json: setting up the journal failed %s\n", e.msg);
        goto out;
    }
    struct store_rollout_spec spec2 = {
        .id = "r-moving", .plan_json = plan_text, .policy = "minimal"};
    if (store_rollout_create(w, &spec2, s.v, s.n, &id2, &e) != 0 || mark_moving(path, id2) != 0) {
        fprintf(stderr, "bench_rollout_json: the moving rollout: %s\n", e.msg);
        goto out;
    }
    if (s.n != TARGET_STEPS)
        fprintf(stderr, "bench_rollout_json: %zu steps, not %d\n", s.n, TARGET_STEPS);
    printf("plan JSON %zu bytes\n", plan_len);
    for (int pass = 0; pass < 2; pass++) {
        /* the second pass without the other processes' load */
        bench_clock = pass ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
        if (!moving_only && !burst_only) {
            report(ro, id, s.n);
            engine_report(path, w, id);
            commit_report(w, ro, id, s.n);
        }
        if (!burst_only)
            moving_report(w, ro, id2);
        if (!moving_only)
            burst_report(path, w, ro, &s, plan_text);
    }
    ret = 0;
out:
    store_close(ro);
    store_close(w);
    free(id);
    free(id2);
    free(plan_text);
    for (size_t i = 0; i < s.n_owned; i++)
        free(s.owned[i]);
    free(s.owned);
    free(s.v);
    if (getenv("KEEP"))
        printf("kept %s\n", path);
    else
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(dir);
    free(path);
    return ret;
}
