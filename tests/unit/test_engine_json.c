/* SPDX-License-Identifier: MIT */
/*
 * test_engine_json.c - the engine service's reads: the one-pass rollout JSON (exec_json.c) on a
 * journal fixture — the figures the previous O(steps^2) builder gave for it (counters, pool
 * states, steps, percents) and the per-host record (truthful states, updates applied with names,
 * reboot pending from the recorded host facts, where the VMs went, the step log, the plan's
 * prediction) — read from a read-only connection while the writer holds an open transaction,
 * through an engine whose thread never ran (reads never wait for it), the request handler
 * table (every kind has one handler and a name), a snapshot keeping the catalog it holds alive
 * after the engine replaced it (freed by the snapshot, last), a plan summarised per host, and
 * the published GET /rollouts/{id} snapshots (engine_rsnap.c: which one a read may be answered
 * with; engine_reads.c: a commit by another connection is seen by the next read, an accepted
 * age serves the older text, a changed head never; readers racing a writer never go back), and
 * the incremental text (exec_json_rollout_text_inc): byte for byte the full build's after seeded
 * random sequences of step writes, appended steps, host facts and state changes, re-rendering
 * only the pools that changed, and a change it was not told about (a step written past the
 * journal's change version) shows as a difference: the comparison catches a stale fragment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/engine.h"
#include "catalog/catalog.h"
#include "engine/engine_int.h"
#include "engine/engine_rsnap.h"
#include "engine/exec_json.h"
#include "store/store.h"

struct fx {
    char dir[64];
    char path[128];
    struct store *w;
    char *id;
};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

#define H1 "OpaqueRef:h1"
#define H2 "OpaqueRef:h2"
#define H3 "OpaqueRef:h3"
#define HB "OpaqueRef:hb"

static const char plan_json[] =
    "{\"pools\":[{\"pool\":\"A\",\"totals\":{\"window_s\":900.0},\"hosts\":["
    "{\"ref\":\"" H1 "\",\"name\":\"a-1\",\"start_s\":0,\"end_s\":300,\"reboot\":false,"
    "\"toolstack\":false,\"livepatched\":true,\"updates\":[\"u1\"],"
    "\"actions\":[{\"kind\":\"apply\",\"update\":\"u1\",\"name\":\"XS82ECU1001\"},"
    "{\"kind\":\"evacuate\",\"migrations\":[{\"vm\":\"v1\"}]}]},"
    "{\"ref\":\"" H2 "\",\"name\":\"a-2\",\"start_s\":300,\"end_s\":600,\"reboot\":true,"
    "\"updates\":[\"u1\"],\"actions\":[]},"
    "{\"ref\":\"" H3 "\",\"name\":\"a-3\",\"start_s\":600,\"end_s\":900,\"reboot\":true,"
    "\"updates\":[\"u1\"],\"actions\":[]}]},"
    "{\"pool\":\"B\",\"totals\":{\"window_s\":600.0},\"hosts\":["
    "{\"ref\":\"" HB "\",\"name\":\"b-1\",\"start_s\":0,\"end_s\":600,\"reboot\":true,"
    "\"updates\":[\"u2\"],\"actions\":[{\"kind\":\"apply\",\"update\":\"u2\",\"name\":\"U-TWO\"}]}"
    "]}]}";

/* kind, pool, host, params, final state ('d' done, 'f' failed, 'p' pending) */
static const struct fstep {
    const char *kind, *pool, *host, *params;
    char state;
} fixture[] = {
    {"upload", "A", NULL, "{\"uuid\":\"u1\"}", 'd'},
    {"precheck", "A", H1, "{\"uuid\":\"u1\",\"host_name\":\"a-1\"}", 'd'},
    {"precheck", "A", H2, "{\"uuid\":\"u1\",\"host_name\":\"a-2\"}", 'd'},
    {"precheck", "A", H3, "{\"uuid\":\"u1\",\"host_name\":\"a-3\"}", 'd'},
    {"replan", "A", NULL, "{\"opts\":{\"mode\":0}}", 'd'},
    {"disable", "A", H1, "{\"host_name\":\"a-1\"}", 'd'},
    {"migrate", "A", H1, "{\"host_name\":\"a-1\",\"vm_name\":\"v1\",\"to\":\"" H2 "\"}", 'd'},
    {"apply", "A", H1, "{\"host_name\":\"a-1\",\"uuid\":\"u1\"}", 'd'},
    {"enable", "A", H1, "{\"host_name\":\"a-1\"}", 'd'},
    {"migrate", "A", H1,
     "{\"host_name\":\"a-1\",\"vm_name\":\"v1\",\"to\":\"" H1 "\",\"back\":true}", 'd'},
    {"disable", "A", H2, "{\"host_name\":\"a-2\"}", 'd'},
    {"migrate", "A", H2, "{\"host_name\":\"a-2\",\"vm_name\":\"v2\",\"to\":\"" H1 "\"}", 'f'},
    {"apply", "A", H2, "{\"host_name\":\"a-2\",\"uuid\":\"u1\"}", 'p'},
    {"reboot", "A", H2, "{\"host_name\":\"a-2\"}", 'p'},
    {"disable", "A", H3, "{\"host_name\":\"a-3\"}", 'p'},
    {"reboot", "A", H3, "{\"host_name\":\"a-3\"}", 'p'},
    {"clean", "A", NULL, "{\"uuid\":\"u1\"}", 'p'},
    {"precheck", "B", HB, "{\"uuid\":\"u2\",\"host_name\":\"b-1\"}", 'd'},
    {"replan", "B", NULL, "{\"opts\":{\"mode\":0}}", 'd'},
    {"apply", "B", HB, "{\"host_name\":\"b-1\",\"uuid\":\"u2\"}", 'd'},
    {"reboot", "B", HB, "{\"host_name\":\"b-1\"}", 'd'},
    {"restart_agent", "B", HB, "{\"host_name\":\"b-1\"}", 'd'},
};
#define N_FIXTURE (sizeof(fixture) / sizeof(fixture[0]))

static void journal(struct fx *f)
{
    struct err e = {0};
    for (size_t i = 0; i < N_FIXTURE; i++) {
        const struct fstep *s = &fixture[i];
        int64_t seq = (int64_t)i + 1;
        if (s->state == 'p')
            continue;
        if (s->state == 'f') {
            assert_int_equal(store_journal_fail(f->w, f->id, seq,
                                                "{\"code\":\"VM_MIGRATE_FAILED\",\"message\":"
                                                "\"v2 did not move\"}",
                                                &e),
                             0);
            continue;
        }
        assert_int_equal(store_journal_intent(f->w, f->id, seq, NULL, NULL, &e), 0);
        const char *res = str_eq(s->kind, "precheck") && str_eq(s->host, H1)
                              ? "{\"status\":\"ok_livepatch_complete\"}"
                              : NULL;
        assert_int_equal(store_journal_done(f->w, f->id, seq, res, &e), 0);
    }
    assert_int_equal(store_rollout_set_state(f->w, f->id, STORE_ROLLOUT_RUNNING, NULL, &e), 0);
    assert_int_equal(store_rollout_set_state(f->w, f->id, STORE_ROLLOUT_HALTED, "halted", &e), 0);
    assert_int_equal(store_host_facts_set(f->w, f->id, "A", H1,
                                          "{\"reboot_pending\":false,\"requiring_reboot\":[]}", &e),
                     0);
    assert_int_equal(store_host_facts_set(f->w, f->id, "A", H2,
                                          "{\"reboot_pending\":true,\"requiring_reboot\":"
                                          "[\"XS82ECU1001\"]}",
                                          &e),
                     0);
}

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    struct err e = {0};
    str_lcpy(f->dir, "/tmp/pp-engine-json.XXXXXX", sizeof(f->dir));
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/pp.db", f->dir);
    assert_int_equal(store_open(f->path, NULL, &f->w, &e), 0);
    struct store_step_spec specs[N_FIXTURE];
    for (size_t i = 0; i < N_FIXTURE; i++)
        specs[i] = (struct store_step_spec){fixture[i].pool, fixture[i].host, fixture[i].kind,
                                            fixture[i].params};
    struct store_rollout_spec rs = {.id = "r-1", .plan_json = plan_json, .policy = "return"};
    assert_int_equal(store_rollout_create(f->w, &rs, specs, N_FIXTURE, &f->id, &e), 0);
    journal(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->w);
    free(f->id);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static json_t *pool_of(json_t *ro, const char *name)
{
    json_t *p;
    size_t i;
    json_array_foreach(json_object_get(ro, "pools"), i,
                       p) if (str_eq(json_string_value(json_object_get(p, "name")), name)) return p;
    fail_msg("no pool %s", name);
    return NULL;
}

static json_t *host_of(json_t *pool, const char *name)
{
    json_t *h;
    size_t i;
    json_array_foreach(json_object_get(pool, "hosts"), i,
                       h) if (str_eq(json_string_value(json_object_get(h, "name")), name)) return h;
    fail_msg("no host %s", name);
    return NULL;
}

static const char *sget(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "(null)";
}

static json_int_t iget(json_t *o, const char *k)
{
    assert_true(json_is_integer(json_object_get(o, k)));
    return json_integer_value(json_object_get(o, k));
}

/* The figures the O(steps^2) builder gave on this journal (counted by hand from the fixture). */
static void check_figures(json_t *ro)
{
    json_t *c = json_object_get(ro, "counters");
    assert_string_equal(sget(ro, "state"), "halted");
    assert_true(json_is_true(json_object_get(ro, "automated")));
    assert_int_equal(iget(c, "hosts_total"), 4);
    assert_int_equal(iget(c, "steps_total"), (json_int_t)N_FIXTURE);
    assert_int_equal(iget(c, "steps_done"), 16);
    assert_int_equal(iget(c, "steps_started"), 17);
    assert_int_equal(iget(c, "updates_applied"), 2);
    assert_int_equal(iget(c, "migrations"), 2);
    assert_int_equal(iget(c, "reboots"), 1);
    assert_int_equal(iget(c, "toolstack_restarts"), 1);
    assert_int_equal(iget(c, "live_patched"), 1);
    json_t *a = pool_of(ro, "A"), *b = pool_of(ro, "B");
    assert_string_equal(sget(a, "state"), "halted");
    assert_string_equal(sget(a, "step"), "hosts");
    assert_int_equal(iget(a, "percent"), 11 * 100 / 17);
    assert_string_equal(sget(b, "state"), "done");
    assert_int_equal(iget(b, "percent"), 100);
    assert_string_equal(sget(json_object_get(ro, "error"), "code"), "VM_MIGRATE_FAILED");
    assert_string_equal(sget(json_object_get(ro, "error"), "host"), "a-2");
    assert_string_equal(sget(json_object_get(ro, "error"), "step"), "evacuate");
    assert_int_equal(iget(host_of(a, "a-1"), "percent"), 100);
    assert_int_equal(iget(host_of(a, "a-2"), "percent"), 25);
    assert_string_equal(sget(host_of(a, "a-2"), "step"), "evacuate");
    assert_int_equal(iget(host_of(a, "a-3"), "percent"), 0);
}

/* The per-host record. */
static void check_hosts(json_t *ro)
{
    json_t *a = pool_of(ro, "A");
    json_t *h1 = host_of(a, "a-1"), *h2 = host_of(a, "a-2"), *h3 = host_of(a, "a-3");
    assert_string_equal(sget(h1, "state"), "done");
    assert_string_equal(sget(h2, "state"), "failed");
    assert_string_equal(sget(h2, "message"), "v2 did not move");
    assert_string_equal(sget(h3, "state"), "not_started"); /* halted: it will not start alone */
    json_t *ua = json_array_get(json_object_get(h1, "updates_applied"), 0);
    assert_string_equal(sget(ua, "uuid"), "u1");
    assert_string_equal(sget(ua, "name"), "XS82ECU1001");
    assert_true(json_is_false(json_object_get(h1, "reboot_pending")));
    assert_true(json_is_true(json_object_get(h2, "reboot_pending")));
    assert_true(json_is_null(json_object_get(h3, "reboot_pending"))); /* never read */
    json_t *vms = json_object_get(h1, "vms");
    assert_int_equal(json_array_size(vms), 2);
    assert_string_equal(sget(json_array_get(vms, 0), "vm"), "v1");
    assert_string_equal(sget(json_array_get(vms, 0), "to"), "a-2");
    assert_true(json_is_true(json_object_get(json_array_get(vms, 1), "back")));
    json_t *log = json_object_get(h1, "log");
    assert_int_equal(json_array_size(log), 5); /* disable, evacuate, apply, enable, back */
    assert_string_equal(sget(json_array_get(log, 1), "step"), "evacuate");
    assert_string_equal(sget(json_array_get(log, 1), "detail"), "1 VM moved");
    assert_string_equal(sget(json_array_get(log, 2), "detail"), "u1");
    assert_true(json_is_string(json_object_get(json_array_get(log, 0), "at")));
    json_t *pr = json_object_get(h2, "predicted");
    assert_int_equal(iget(pr, "end_s"), 600);
    assert_true(json_is_true(json_object_get(pr, "reboot")));
    assert_true(json_is_true(json_object_get(json_object_get(h1, "predicted"), "livepatched")));
    assert_true(json_real_value(json_object_get(ro, "predicted_s")) == 900.0);
    json_t *c = json_object_get(ro, "counters");
    assert_int_equal(iget(c, "hosts_done"), 2); /* a-1 and b-1, never a-3 */
    assert_int_equal(iget(c, "hosts_failed"), 1);
    assert_int_equal(iget(c, "hosts_not_started"), 1);
}

static void test_rollout_json(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    json_t *ro = NULL;
    struct exec_json_cache *c = exec_json_cache_new();
    for (int round = 0; round < 2; round++) { /* plan parsed, then from the cache */
        assert_int_equal(exec_json_rollout(f->w, c, f->id, 0, &ro, &e), 0);
        check_figures(ro);
        check_hosts(ro);
        json_decref(ro);
    }
    exec_json_cache_free(c);
    assert_int_equal(exec_json_rollout(f->w, NULL, "nope", 0, &ro, &e), PP_ENOTFOUND);
}

/* Cancelled: unfinished steps skipped; the hosts with skipped work are never done. */
static void test_cancelled(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    for (size_t i = 0; i < N_FIXTURE; i++)
        if (fixture[i].state != 'd')
            assert_int_equal(store_journal_skip(f->w, f->id, (int64_t)i + 1, "cancelled", &e), 0);
    assert_int_equal(store_rollout_set_state(f->w, f->id, STORE_ROLLOUT_CANCELLING, NULL, &e), 0);
    assert_int_equal(store_rollout_set_state(f->w, f->id, STORE_ROLLOUT_CANCELLED, NULL, &e), 0);
    json_t *ro = NULL;
    assert_int_equal(exec_json_rollout(f->w, NULL, f->id, 0, &ro, &e), 0);
    json_t *a = pool_of(ro, "A");
    assert_string_equal(sget(a, "state"), "cancelled");
    assert_string_equal(sget(host_of(a, "a-1"), "state"), "done");
    assert_string_equal(sget(host_of(a, "a-2"), "state"), "skipped");
    assert_string_equal(sget(host_of(a, "a-2"), "message"), "cancelled after 1 of 4 steps");
    assert_int_equal(iget(host_of(a, "a-2"), "percent"), 25);
    assert_string_equal(sget(host_of(a, "a-3"), "state"), "skipped");
    assert_int_equal(iget(json_object_get(ro, "counters"), "hosts_done"), 2);
    assert_int_equal(iget(json_object_get(ro, "counters"), "hosts_skipped"), 2);
    assert_true(json_is_null(json_object_get(ro, "error")));
    json_decref(ro);
}

/* A read-only connection reads the committed journal while the writer holds a transaction. */
static void test_readonly_while_writing(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct store *r = NULL;
    assert_int_equal(store_open_readonly(f->path, NULL, &r, &e), 0);
    assert_int_equal(store_tx_begin(f->w, &e), 0);
    struct store_event_spec ev = {.rollout_id = f->id, .percent = -1, .message = "x"};
    assert_int_equal(store_event_add(f->w, &ev, NULL, &e), 0);
    assert_int_equal(store_host_facts_set(f->w, f->id, "A", H3, "{\"reboot_pending\":true}", &e),
                     0);
    json_t *ro = NULL, *list = NULL;
    assert_int_equal(exec_json_rollout(r, NULL, f->id, 0, &ro, &e), 0);
    check_figures(ro);
    /* the uncommitted facts are not seen */
    assert_true(json_is_null(json_object_get(host_of(pool_of(ro, "A"), "a-3"), "reboot_pending")));
    assert_int_equal(exec_json_rollouts(r, NULL, 0, &list, &e), 0);
    json_t *s = json_array_get(json_object_get(list, "rollouts"), 0);
    assert_string_equal(sget(s, "id"), f->id);
    assert_int_equal(iget(json_object_get(s, "counters"), "hosts_done"), 2);
    assert_true(json_is_string(json_array_get(json_object_get(s, "pools"), 0)));
    json_decref(ro);
    json_decref(list);
    assert_int_equal(store_tx_commit(f->w, &e), 0);
    assert_int_equal(exec_json_rollout(r, NULL, f->id, 0, &ro, &e), 0);
    assert_true(json_is_true(json_object_get(host_of(pool_of(ro, "A"), "a-3"), "reboot_pending")));
    json_decref(ro);
    /* read-only: writes refused */
    assert_int_equal(store_host_facts_set(r, f->id, "A", H3, "{}", &e), PP_ESTATE);
    store_close(r);
}

/* Reads through the engine never wait for its thread: here it never started. */
static void test_engine_reads_without_thread(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct engine *eng = NULL;
    store_close(f->w); /* the engine opens the writer itself */
    f->w = NULL;
    struct engine_config cfg = {
        .db_path = f->path, .check_interval_s = 0, .request_timeout_ms = 200};
    assert_int_equal(engine_new(&cfg, &eng, &e), 0);
    json_t *out = NULL;
    assert_int_equal(engine_pools(eng, &out, &e), PP_ESTATE); /* an engine-thread request */
    assert_int_equal(engine_rollouts(eng, &out, &e), 0);
    assert_int_equal(json_array_size(json_object_get(out, "rollouts")), 1);
    json_decref(out);
    assert_int_equal(engine_rollout_get(eng, f->id, &out, &e), 0);
    check_figures(out);
    json_decref(out);
    assert_int_equal(engine_rollout_get(eng, "missing", &out, &e), PP_ENOTFOUND);
    engine_free(eng);
    assert_int_equal(store_open(f->path, NULL, &f->w, &e), 0);
}

/* Every request kind has one handler and a name. */
static void test_handler_table(void **state)
{
    (void)state;
    assert_true(engine_n_req_kinds > 0);
    for (size_t i = 0; i < engine_n_req_kinds; i++) {
        assert_non_null(engine_req_kinds[i].name);
        assert_non_null(engine_req_kinds[i].handle);
        assert_int_equal(engine_req_kinds[i].kind, (int)i);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(engine_req_kinds[i].name, engine_req_kinds[k].name);
    }
}

/*
 * A snapshot holds the legacy catalog: the engine replacing it (engine_catalog_drop) leaves it to
 * the snapshot, which frees it when it goes (ASan: no use after free, no leak); a catalog no
 * snapshot holds is freed at once.
 */
static void test_snapshot_holds_catalog(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct engine *eng = NULL;
    store_close(f->w);
    f->w = NULL;
    struct engine_config cfg = {
        .db_path = f->path, .check_interval_s = 0, .request_timeout_ms = 200};
    assert_int_equal(engine_new(&cfg, &eng, &e), 0);
    struct catalog *old = xcalloc(1, sizeof(*old)), *other = xcalloc(1, sizeof(*other));
    old->cdn_hash = xstrdup("held");
    eng->catalog = old;
    struct eng_snapshot *s1 = engine_snapshot_take(eng, NULL, NULL);
    struct eng_snapshot *s2 = engine_snapshot_take(eng, NULL, NULL);
    assert_ptr_equal(s1->catalog, old);
    assert_int_equal(eng->n_held, 1);
    assert_int_equal(eng->held[0].refs, 2);
    eng->catalog = xcalloc(1, sizeof(*eng->catalog)); /* a check replaced it */
    engine_catalog_drop(eng, old);
    assert_int_equal(eng->n_held, 1); /* still held: not freed */
    assert_true(eng->held[0].dropped);
    assert_string_equal(s1->catalog->cdn_hash, "held"); /* still readable */
    engine_snapshot_free(s1);
    assert_int_equal(eng->n_held, 1);
    assert_string_equal(s2->catalog->cdn_hash, "held");
    engine_snapshot_free(s2); /* the last holder frees it */
    assert_int_equal(eng->n_held, 0);
    engine_catalog_drop(eng, other); /* held by none: freed now */
    assert_int_equal(eng->n_held, 0);
    engine_free(eng);
    assert_int_equal(store_open(f->path, NULL, &f->w, &e), 0);
}

/* ---------------------------------------------------------------- GET /rollouts/{id} snapshots */

/* The cache's rules: current (same gen, before until), accepted age, head changed, never back. */
static void test_rsnap_rules(void **state)
{
    (void)state;
    struct engine_rsnap_cache *c = engine_rsnap_cache_new(2);
    assert_null(engine_rsnap_find(c, "r1", 1, "h", 0, 1000, 0));
    struct engine_rsnap *s = engine_rsnap_publish(c, "r1", 5, "h", 1000, 50, xstrdup("A"), 1);
    assert_string_equal(s->text, "A");
    engine_rsnap_release(s);
    /* current: same generation, same head, the engine clock before until */
    s = engine_rsnap_find(c, "r1", 5, "h", 49, 99999, 0);
    assert_non_null(s);
    assert_string_equal(s->text, "A");
    engine_rsnap_release(s);
    assert_null(engine_rsnap_find(c, "r1", 5, "h", 50, 1000, 0)); /* elapsed_s moved on */
    assert_null(engine_rsnap_find(c, "r1", 6, "h", 0, 1000, 0));  /* a commit since */
    assert_null(engine_rsnap_find(c, "r1", 5, "h2", 0, 1000, 0)); /* the head changed */
    /* an accepted age: a later generation is answered while the data is young enough */
    s = engine_rsnap_find(c, "r1", 6, "h", 0, 1500, 500);
    assert_non_null(s);
    engine_rsnap_release(s);
    assert_null(engine_rsnap_find(c, "r1", 6, "h", 0, 1501, 500));
    assert_null(engine_rsnap_find(c, "r1", 6, "h2", 0, 1001, 500)); /* head: never stale */
    /* never back in time: an older build is returned to its caller, not published */
    s = engine_rsnap_publish(c, "r1", 4, "h", 900, INT64_MAX, xstrdup("old"), 3);
    assert_string_equal(s->text, "old");
    engine_rsnap_release(s);
    s = engine_rsnap_find(c, "r1", 5, "h", 0, 1000, 0);
    assert_string_equal(s->text, "A");
    /* a newer one replaces it; a reference held keeps the old text alive (ASan: no UAF) */
    engine_rsnap_release(engine_rsnap_publish(c, "r1", 7, "h", 2000, INT64_MAX, xstrdup("B"), 1));
    assert_string_equal(s->text, "A");
    engine_rsnap_release(s);
    s = engine_rsnap_find(c, "r1", 7, "h", 0, 2000, 0);
    assert_string_equal(s->text, "B");
    engine_rsnap_release(s);
    /* two slots: a third rollout evicts the least recently used (r2), r1 stays */
    engine_rsnap_release(engine_rsnap_publish(c, "r2", 7, "h", 2000, INT64_MAX, xstrdup("C"), 1));
    engine_rsnap_release(engine_rsnap_find(c, "r1", 7, "h", 0, 2000, 0));
    engine_rsnap_release(engine_rsnap_publish(c, "r3", 7, "h", 2000, INT64_MAX, xstrdup("D"), 1));
    assert_null(engine_rsnap_find(c, "r2", 7, "h", 0, 2000, 0));
    s = engine_rsnap_find(c, "r1", 7, "h", 0, 2000, 0);
    assert_non_null(s);
    engine_rsnap_cache_free(c); /* s outlives the cache */
    assert_string_equal(s->text, "B");
    engine_rsnap_release(s);
}

static json_t *text_read(struct engine *eng, const char *id, int64_t max_age_ms, int64_t *age_ms)
{
    char *text = NULL;
    size_t len = 0;
    struct err e = {0};
    int64_t age = -1;
    assert_int_equal(engine_rollout_text(eng, id, max_age_ms, &text, &len, &age, &e), 0);
    assert_int_equal(strlen(text), len);
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    free(text);
    if (age_ms)
        *age_ms = age;
    return j;
}

static json_t *rp_of(json_t *ro)
{
    return json_object_get(host_of(pool_of(ro, "A"), "a-3"), "reboot_pending");
}

/* A commit by another connection is seen by the next read; an accepted age answers with the older
 * text (and says how old); a changed head (the rollout's state) is never answered stale. */
static void test_rollout_text_fresh(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct engine *eng = NULL;
    struct engine_config cfg = {
        .db_path = f->path, .check_interval_s = 0, .request_timeout_ms = 200};
    assert_int_equal(engine_new(&cfg, &eng, &e), 0); /* f->w stays: "another connection" */
    int64_t age = -1;
    json_t *r1 = text_read(eng, f->id, 0, &age);
    check_figures(r1);
    assert_true(json_is_null(rp_of(r1)));
    assert_int_equal(age, 0);
    json_t *r2 = text_read(eng, f->id, 0, &age); /* nothing committed: the same answer */
    assert_true(json_equal(r1, r2));
    json_decref(r2);
    assert_int_equal(store_host_facts_set(f->w, f->id, "A", H3, "{\"reboot_pending\":true}", &e),
                     0);
    r2 = text_read(eng, f->id, 60000, &age); /* an hour-old answer is fine: the snapshot */
    assert_true(json_equal(r1, r2));
    assert_true(age > 0);
    json_decref(r2);
    r2 = text_read(eng, f->id, 0, &age); /* current: sees the commit */
    assert_true(json_is_true(rp_of(r2)));
    assert_int_equal(age, 0);
    json_decref(r2);
    r2 = text_read(eng, f->id, 60000, &age); /* the newest snapshot now */
    assert_true(json_is_true(rp_of(r2)));
    assert_int_equal(age, 0);
    json_decref(r2);
    assert_int_equal(store_rollout_set_state(f->w, f->id, STORE_ROLLOUT_RUNNING, NULL, &e), 0);
    r2 = text_read(eng, f->id, 60000, &age); /* the head changed: built again */
    assert_string_equal(sget(r2, "state"), "running");
    assert_int_equal(age, 0);
    json_decref(r2);
    assert_int_equal(store_rollout_set_state(f->w, f->id, STORE_ROLLOUT_DONE, NULL, &e), 0);
    json_decref(text_read(eng, f->id, 60000, &age)); /* the snapshot of the finished rollout */
    assert_int_equal(store_host_facts_set(f->w, f->id, "A", "", "{\"xapi_calls\":{\"x\":7}}", &e),
                     0);
    r2 = text_read(eng, f->id, 60000, &age); /* finished: read current whatever the age */
    assert_int_equal(iget(json_object_get(r2, "counters"), "xapi_calls_total"), 7);
    assert_int_equal(age, 0);
    json_decref(r2);
    json_decref(r1);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(engine_rollout_text(eng, "missing", 0, &text, &len, &age, &e), PP_ENOTFOUND);
    assert_null(text);
    engine_free(eng);
}

/* engine_rollout_warm publishes the text: after a commit, a read that accepts older data is
 * answered from it (an age, no build); without it there would be no snapshot to answer from. */
static void test_rollout_warm(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct engine *eng = NULL;
    struct engine_config cfg = {
        .db_path = f->path, .check_interval_s = 0, .request_timeout_ms = 200};
    assert_int_equal(engine_new(&cfg, &eng, &e), 0);
    engine_rollout_warm(eng, "missing"); /* logged, nothing published */
    engine_rollout_warm(eng, f->id);
    assert_int_equal(store_host_facts_set(f->w, f->id, "A", H3, "{\"reboot_pending\":true}", &e),
                     0);
    int64_t age = -1;
    json_t *r = text_read(eng, f->id, 60000, &age);
    assert_true(age > 0); /* the warm text, from before the commit */
    assert_true(json_is_null(rp_of(r)));
    json_decref(r);
    r = text_read(eng, f->id, 0, &age);
    assert_int_equal(age, 0);
    assert_true(json_is_true(rp_of(r)));
    json_decref(r);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(engine_rollout_text(eng, "missing", 0, &text, &len, &age, &e), PP_ENOTFOUND);
    engine_free(eng);
}

struct racer {
    struct engine *eng;
    const char *id;
    int64_t max_age_ms;
    json_int_t last;
    int reads, back; /* back: answers older than one seen before */
    int *stop;
};

static void *race_reader(void *arg)
{
    struct racer *r = arg;
    while (!__atomic_load_n(r->stop, __ATOMIC_SEQ_CST) || r->reads < 3) {
        json_t *j = text_read(r->eng, r->id, r->max_age_ms, NULL);
        json_int_t n = iget(json_object_get(j, "counters"), "xapi_calls_total");
        r->back += n < r->last;
        r->last = n > r->last ? n : r->last;
        r->reads++;
        json_decref(j);
    }
    return NULL;
}

/* Readers (current and age-accepting) racing a writer that counts calls up: no answer goes back
 * in time, and once the writer stopped a current read shows its last count (TSan: no race). */
static void test_rollout_text_race(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct engine *eng = NULL;
    struct engine_config cfg = {
        .db_path = f->path, .check_interval_s = 0, .request_timeout_ms = 200};
    assert_int_equal(engine_new(&cfg, &eng, &e), 0);
    int stop = 0;
    struct racer rs[3] = {{eng, f->id, 0, 0, 0, 0, &stop},
                          {eng, f->id, 0, 0, 0, 0, &stop},
                          {eng, f->id, 1000, 0, 0, 0, &stop}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_reader, &rs[i]), 0);
    const int writes = 60;
    for (int k = 1; k <= writes; k++) {
        char facts[64];
        snprintf(facts, sizeof facts, "{\"xapi_calls\":{\"event.from\":%d}}", k);
        assert_int_equal(store_host_facts_set(f->w, f->id, "A", "", facts, &e), 0);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(rs[i].back, 0);
        assert_true(rs[i].reads >= 3);
    }
    json_t *j = text_read(eng, f->id, 0, NULL);
    assert_int_equal(iget(json_object_get(j, "counters"), "xapi_calls_total"), writes);
    json_decref(j);
    engine_free(eng);
}

/* detail=summary: each host's and action's migrations become a count; the rest stays. */
static void test_plan_summary(void **state)
{
    (void)state;
    json_error_t je;
    json_t *p = json_loads(
        "{\"name\":\"lab\",\"hosts\":["
        "{\"name\":\"h1\",\"migrations\":[{\"vm\":\"a\"},{\"vm\":\"b\"},{\"vm\":\"c\"}],"
        "\"actions\":[{\"kind\":\"evacuate\",\"migrations\":[{\"vm\":\"a\"},{\"vm\":\"b\"}]},"
        "{\"kind\":\"apply\"},{\"kind\":\"return\",\"migrations\":[{\"vm\":\"c\"}]}]},"
        "{\"name\":\"h2\",\"migrations\":[],\"actions\":[{\"kind\":\"apply\"}]}],"
        "\"totals\":{\"migrations\":3}}",
        0, &je);
    assert_non_null(p);
    engine_plan_json_summarize(p);
    json_t *h1 = json_array_get(json_object_get(p, "hosts"), 0);
    json_t *h2 = json_array_get(json_object_get(p, "hosts"), 1);
    assert_null(json_object_get(h1, "migrations"));
    assert_int_equal(json_integer_value(json_object_get(h1, "migration_count")), 3);
    json_t *acts = json_object_get(h1, "actions");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(acts, 0), "migration_count")), 2);
    assert_null(json_object_get(json_array_get(acts, 0), "migrations"));
    assert_null(json_object_get(json_array_get(acts, 1), "migration_count"));
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(acts, 2), "migration_count")), 1);
    assert_int_equal(json_integer_value(json_object_get(h2, "migration_count")), 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(acts, 1), "kind")),
                        "apply");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(p, "totals"), "migrations")), 3);
    json_decref(p);
}

/* The full build's text and the incremental one's of rollout id, read through reader r. */
static void texts(struct store *r, struct exec_json_cache *cache, struct exec_json_inc *inc,
                  const char *id, char **full, char **part, struct exec_json_inc_stats *st)
{
    struct err e = {0};
    struct store_rollout head = {0};
    size_t len = 0, len2 = 0;
    int64_t until = 0, until2 = 0;
    assert_int_equal(store_rollout_get_head(r, id, &head, &e), 0);
    assert_int_equal(
        exec_json_rollout_text_inc(r, cache, inc, &head, 5000, part, &len2, &until2, st, &e), 0);
    assert_int_equal(exec_json_rollout_text(r, cache, &head, 5000, full, &len, &until, &e), 0);
    assert_int_equal(strlen(*part), len2);
    assert_int_equal(until, until2);
    store_rollout_cleanup(&head);
}

/* Where two texts first differ, for the failure message (-1: equal). */
static long first_diff(const char *a, const char *b)
{
    long i = 0;
    while (a[i] && a[i] == b[i])
        i++;
    return a[i] == b[i] ? -1 : i;
}

#define RP_POOLS 4
#define RP_HOSTS 3
static const char *const rp_pools[RP_POOLS] = {"A", "B", "C", "D"};

/* A random journal write, facts record, appended step or state change on rollout id. */
static void random_op(struct store *w, const char *id, unsigned *seed, int64_t *n_steps)
{
    struct err e = {0};
    int op = rand_r(seed) % 100;
    int64_t seq = 1 + rand_r(seed) % *n_steps;
    const char *pool = rp_pools[rand_r(seed) % RP_POOLS];
    char host[32], facts[96];
    snprintf(host, sizeof host, "OpaqueRef:%s%d", pool, rand_r(seed) % RP_HOSTS);
    if (op < 30) {
        store_journal_intent(w, id, seq, NULL, NULL, &e);
    } else if (op < 55) {
        store_journal_done(w, id, seq, NULL, &e);
    } else if (op < 63) {
        store_journal_fail(w, id, seq, "{\"code\":\"TRANSPORT\",\"message\":\"lost\"}", &e);
    } else if (op < 70) {
        store_journal_skip(w, id, seq, "{\"code\":\"CANCELLED\"}", &e);
    } else if (op < 82) {
        snprintf(facts, sizeof facts, "{\"reboot_pending\":%s}",
                 rand_r(seed) % 2 ? "true" : "false");
        store_host_facts_set(w, id, pool, host, facts, &e);
    } else if (op < 87) {
        snprintf(facts, sizeof facts, "{\"xapi_calls\":{\"event.from\":%d}}", rand_r(seed) % 50);
        store_host_facts_set(w, id, pool, "", facts, &e);
    } else if (op < 90) {
        char doc[256]; /* a pool's verification: a host found reboot-pending, or another code */
        snprintf(doc, sizeof doc,
                 "{\"pools\":{\"%s\":{\"after\":\"done\",\"at\":%d,\"findings\":[{\"code\":"
                 "\"%s\",\"ref\":\"%s\"}]}}}",
                 pool, rand_r(seed) % 9, op % 2 ? "REBOOT_PENDING" : "UPDATE_LEFT",
                 rand_r(seed) % 2 ? host : H2);
        store_rollout_set_findings(w, id, doc, &e);
    } else if (op < 92) {
        /* a pool's own step (no host): the pool's fields change, no host's record */
        struct store_step_spec sp = {pool, NULL, op % 2 ? "clean" : "replan",
                                     op % 2 ? "{\"uuid\":\"u1\"}" : "{\"opts\":{\"mode\":1}}"};
        if (store_steps_append(w, id, &sp, 1, NULL, &e) == 0)
            (*n_steps)++;
    } else if (op < 96) {
        static const char *const kinds[] = {"migrate", "apply", "reboot", "enable"};
        char params[128];
        snprintf(params, sizeof params,
                 "{\"host_name\":\"%s\",\"vm_name\":\"vm%d\",\"uuid\":\"u1\"}", host,
                 rand_r(seed) % 9);
        struct store_step_spec sp = {pool, host, kinds[rand_r(seed) % 4], params};
        if (store_steps_append(w, id, &sp, 1, NULL, &e) == 0)
            (*n_steps)++;
    } else {
        /* a state the rollout can leave (the final ones: at the end of the test): a state change
         * renders the hosts whose record reads otherwise in it (inc_mark_ro_dep), the full
         * build says what they should read */
        static const enum store_rollout_state sts[] = {STORE_ROLLOUT_RUNNING, STORE_ROLLOUT_HALTED,
                                                       STORE_ROLLOUT_CANCELLING,
                                                       STORE_ROLLOUT_CANCEL_FAILED};
        store_rollout_set_state(w, id, sts[rand_r(seed) % 4], NULL, &e);
    }
}

/* The incremental text of rollout id equals the full build's, not a full build itself, and
 * rendered `hosts` hosts and `pools` pools again (-1: not checked). */
static void inc_check(struct store *r, struct exec_json_cache *cache, struct exec_json_inc *inc,
                      const char *id, int hosts, int pools)
{
    char *full = NULL, *part = NULL;
    struct exec_json_inc_stats st = {0};
    texts(r, cache, inc, id, &full, &part, &st);
    assert_string_equal(full, part);
    assert_false(st.full);
    if (hosts >= 0)
        assert_int_equal(st.hosts_rendered, hosts);
    if (pools >= 0)
        assert_int_equal(st.pools_rendered, pools);
    free(full);
    free(part);
}

/* After the random rounds: what each kind of write renders again. */
static void inc_per_host(struct fx *f, struct store *r, struct exec_json_cache *cache,
                         struct exec_json_inc *inc)
{
    struct err e = {0};
    /* one host's step appended, then written: that host alone rendered again; its facts: the
     * same */
    int64_t seq1 = 0;
    assert_int_equal(
        store_steps_append(f->w, f->id,
                           &(struct store_step_spec){"A", H1, "enable", "{\"host_name\":\"a-1\"}"},
                           1, &seq1, &e),
        0);
    inc_check(r, cache, inc, f->id, 1, 1);
    assert_int_equal(store_journal_intent(f->w, f->id, seq1, NULL, NULL, &e), 0);
    inc_check(r, cache, inc, f->id, 1, 1);
    assert_int_equal(store_host_facts_set(f->w, f->id, "B", HB, "{\"reboot_pending\":true}", &e),
                     0);
    inc_check(r, cache, inc, f->id, 1, 1);
    /* a pool's own step: its fields combined again, no host rendered */
    assert_int_equal(store_steps_append(f->w, f->id,
                                        &(struct store_step_spec){"D", NULL, "clean", "{}"}, 1,
                                        NULL, &e),
                     0);
    inc_check(r, cache, inc, f->id, 0, 1);
    /* a host new to its pool: added after the others, the rest kept */
    assert_int_equal(
        store_steps_append(f->w, f->id,
                           &(struct store_step_spec){"D", "OpaqueRef:D-new", "apply",
                                                     "{\"host_name\":\"d-new\",\"uuid\":\"u2\"}"},
                           1, NULL, &e),
        0);
    inc_check(r, cache, inc, f->id, 1, 1);
    /* the verification's findings: a host they name reboot-pending alone rendered again */
    assert_int_equal(store_rollout_set_findings(f->w, f->id, "{}", &e), 0);
    inc_check(r, cache, inc, f->id, -1, -1);
    assert_int_equal(
        store_rollout_set_findings(f->w, f->id,
                                   "{\"pools\":{\"C\":{\"after\":\"done\",\"at\":1,\"findings\":"
                                   "[{\"code\":\"REBOOT_PENDING\",\"ref\":\"OpaqueRef:C1\"}]}}}",
                                   &e),
        0);
    inc_check(r, cache, inc, f->id, 1, 1);
    /* a step appended to pool C and C's own facts (its calls): pool C alone rendered again */
    assert_int_equal(store_host_facts_set(f->w, f->id, "C", "", "{\"x\":1}", &e), 0);
    assert_int_equal(
        store_steps_append(f->w, f->id,
                           &(struct store_step_spec){"C", "OpaqueRef:C1", "enable", "{}"}, 1, NULL,
                           &e),
        0);
    inc_check(r, cache, inc, f->id, 1, 1);
    inc_check(r, cache, inc, f->id, 0, 0); /* nothing changed: nothing rendered */
}

/* The incremental text equals the full build's after seeded random writes (the seed printed; set
 * PP_TEST_SEED to replay one): step writes, appended steps of hosts old and new and of the pools
 * themselves (no host), facts, the verification's findings, state changes; and it re-renders only
 * what changed: one host's step or facts written, or a finding naming it reboot-pending, that
 * host alone rendered; a pool's own step, no host. */
static void test_rollout_text_inc_random(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    unsigned seed = (unsigned)time(NULL);
    if (getenv("PP_TEST_SEED"))
        seed = (unsigned)strtoul(getenv("PP_TEST_SEED"), NULL, 10);
    printf("test_rollout_text_inc_random: seed %u\n", seed);
    fflush(stdout);
    int64_t n_steps = (int64_t)N_FIXTURE;
    for (int p = 2; p < RP_POOLS; p++) /* pools C and D after the fixture's A and B */
        for (int h = 0; h < RP_HOSTS; h++) {
            char host[32];
            snprintf(host, sizeof host, "OpaqueRef:%s%d", rp_pools[p], h);
            struct store_step_spec sp[3] = {{rp_pools[p], host, "disable", "{}"},
                                            {rp_pools[p], host, "apply", "{\"uuid\":\"u2\"}"},
                                            {rp_pools[p], host, "reboot", "{}"}};
            assert_int_equal(store_steps_append(f->w, f->id, sp, 3, NULL, &e), 0);
            n_steps += 3;
        }
    struct store *r = NULL;
    assert_int_equal(store_open_readonly(f->path, NULL, &r, &e), 0);
    struct exec_json_cache *cache = exec_json_cache_new();
    struct exec_json_inc *inc = exec_json_inc_new(2);
    struct exec_json_inc_stats st = {0};
    char *full = NULL, *part = NULL;
    for (int round = 0; round < 300; round++) {
        int ops = 1 + rand_r(&seed) % 3;
        for (int k = 0; round > 0 && k < ops; k++)
            random_op(f->w, f->id, &seed, &n_steps);
        texts(r, cache, inc, f->id, &full, &part, &st);
        if (first_diff(full, part) >= 0)
            fail_msg("round %d: the incremental text differs from the full build at byte %ld "
                     "(seed printed above)",
                     round, first_diff(full, part));
        assert_int_equal(st.pools, RP_POOLS);
        free(full);
        free(part);
    }
    inc_per_host(f, r, cache, inc);
    /* its end: a final state, the same text as the full build's, not a full build */
    assert_int_equal(store_rollout_set_state(f->w, f->id, STORE_ROLLOUT_DONE, NULL, &e), 0);
    inc_check(r, cache, inc, f->id, -1, -1);
    exec_json_inc_free(inc);
    exec_json_cache_free(cache);
    store_close(r);
}

/* A step changed behind the journal's back (its change version not moved: what a writer that
 * forgot it would do) leaves its host's record stale, and the comparison with the full build
 * catches it; a write of another host of the same pool does not render it (the state is per
 * host), the next journal write of that host does. */
static void test_rollout_text_inc_stale(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct store *r = NULL;
    assert_int_equal(store_open_readonly(f->path, NULL, &r, &e), 0);
    struct exec_json_inc *inc = exec_json_inc_new(1);
    struct exec_json_inc_stats st = {0};
    char *full = NULL, *part = NULL;
    texts(r, NULL, inc, f->id, &full, &part, &st);
    assert_true(st.full);
    assert_string_equal(full, part);
    free(full);
    free(part);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE steps SET state = 'intent', intent_at = 1000 "
                                  "WHERE rollout_id = 'r-1' AND seq = 15",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    texts(r, NULL, inc, f->id, &full, &part, &st);
    assert_int_equal(st.pools_rendered, 0);
    assert_true(first_diff(full, part) >= 0); /* a-3's disable: started in full, not in part */
    free(full);
    free(part);
    /* a write of another host of pool A (a-2's apply) renders a-2 alone: a-3 stays stale */
    assert_int_equal(store_journal_intent(f->w, f->id, 13, NULL, NULL, &e), 0);
    texts(r, NULL, inc, f->id, &full, &part, &st);
    assert_int_equal(st.hosts_rendered, 1);
    assert_true(first_diff(full, part) >= 0);
    free(full);
    free(part);
    assert_int_equal(store_journal_intent(f->w, f->id, 16, NULL, NULL, &e), 0); /* a-3 */
    texts(r, NULL, inc, f->id, &full, &part, &st);
    assert_int_equal(st.pools_rendered, 1);
    assert_int_equal(st.hosts_rendered, 1);
    assert_string_equal(full, part);
    free(full);
    free(part);
    exec_json_inc_free(inc);
    store_close(r);
}

/* A change of the rollout's state renders again only the hosts whose record reads otherwise in
 * it: the fixture's a-3 (not started: "not_started" while halted, "waiting" while running);
 * a-1 and b-1 (done) and a-2 (failed) are kept; the text is the full build's all along. */
static void test_rollout_text_inc_state(void **state)
{
    struct fx *f = *state;
    struct err e = {0};
    struct store *r = NULL;
    assert_int_equal(store_open_readonly(f->path, NULL, &r, &e), 0);
    struct exec_json_inc *inc = exec_json_inc_new(1);
    struct exec_json_inc_stats st = {0};
    char *full = NULL, *part = NULL;
    texts(r, NULL, inc, f->id, &full, &part, &st);
    assert_true(st.full);
    assert_string_equal(full, part);
    free(full);
    free(part);
    static const enum store_rollout_state seq[] = {
        STORE_ROLLOUT_RUNNING, STORE_ROLLOUT_CANCELLING, STORE_ROLLOUT_CANCEL_FAILED,
        STORE_ROLLOUT_HALTED,  STORE_ROLLOUT_RUNNING,    STORE_ROLLOUT_DONE};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        assert_int_equal(store_rollout_set_state(f->w, f->id, seq[i], NULL, &e), 0);
        inc_check(r, NULL, inc, f->id, 1, 1);
        json_t *ro = NULL;
        assert_int_equal(exec_json_rollout(r, NULL, f->id, 5000, &ro, &e), 0);
        json_t *a = json_array_get(json_object_get(ro, "pools"), 0);
        assert_string_equal(sget(host_of(a, "a-1"), "state"), "done");
        if (seq[i] == STORE_ROLLOUT_RUNNING)
            assert_string_equal(sget(host_of(a, "a-3"), "state"), "waiting");
        json_decref(ro);
    }
    exec_json_inc_free(inc);
    store_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rollout_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancelled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_while_writing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_reads_without_thread, setup, teardown),
        cmocka_unit_test(test_handler_table),
        cmocka_unit_test_setup_teardown(test_snapshot_holds_catalog, setup, teardown),
        cmocka_unit_test(test_plan_summary),
        cmocka_unit_test(test_rsnap_rules),
        cmocka_unit_test_setup_teardown(test_rollout_text_fresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollout_text_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollout_warm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollout_text_inc_random, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollout_text_inc_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollout_text_inc_state, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
