/* SPDX-License-Identifier: MIT */
/*
 * exec_env.c - the in-process world of the executor's tests and benchmark (exec_env.h).
 */
#include "exec_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"

/* See exec_env.h. */
const char *const tenv_reboot_catalog =
    "<?xml version=\"1.0\"?>\n<patchdata><patches>"
    "<patch uuid=\"" TENV_U_REBOOT "\" name-label=\"XS82ECU1002\" name-description=\"kernel\" "
    "version=\"1.0\" url=\"u\" patch-url=\"p\" timestamp=\"2026-01-01T00:00:00Z\" "
    "after-apply-guidance=\"restartHost\" priority=\"1\" installation-size=\"1048576\"/>"
    "</patches><serverversions>"
    "<version value=\"8.2.1\" name=\"Citrix Hypervisor 8.2 CU1\" "
    "build-number=\"release/yangtze/master/58\" latest=\"true\" url=\"u\" "
    "timestamp=\"2022-01-01T00:00:00Z\"><patch uuid=\"" TENV_U_REBOOT "\"/>"
    "<minimalpatches><patch uuid=\"" TENV_U_REBOOT "\"/></minimalpatches></version>"
    "</serverversions></patchdata>\n";
#include "engine/inventory_xapi.h"
#include "sim/sim_http.h"

static const char *const cache_classes[] = {"pool", "host", "host_metrics", "vm",          "vbd",
                                            "vdi",  "sr",   "pbd",          "pool_update", NULL};

static int idle(void *ctx, int64_t next_ms)
{
    struct sim *s = ctx;
    int64_t d = sim_next_deadline(s);
    int64_t t = next_ms;
    if (d >= 0 && d < t)
        t = d;
    if (t == INT64_MAX)
        return -1;
    if (t < clock_now_ms(sim_clock(s)))
        t = clock_now_ms(sim_clock(s));
    sim_run_until(s, t);
    return 0;
}

static struct xapi_client *env_client_for(void *ctx, const char *pool)
{
    struct tenv *t = ctx;
    for (size_t i = 0; i < t->n_pools; i++)
        if (t->clients && str_eq(t->pool_names[i], pool))
            return t->clients[i];
    return NULL;
}

static const struct catalog *env_catalog(void *ctx)
{
    struct tenv *t = ctx;
    return t->cat;
}

static struct inv_pool *env_inventory(void *ctx, const char *pool, struct err *e)
{
    struct xapi_client *c = env_client_for(ctx, pool);
    if (!c) {
        err_set(e, PP_ENOTFOUND, "no pool %s", pool);
        return NULL;
    }
    struct xapi_records src;
    xapi_records_from_client(&src, c);
    return inv_from_xapi(&src, e);
}

static void env_emit(void *ctx, const char *rollout, const char *pool, const char *host,
                     const char *step, int percent, const char *message)
{
    struct tenv *t = ctx;
    t->emits++;
    if (!t->quiet && getenv("EXEC_TEST_VERBOSE"))
        fprintf(stderr, "[%8.1f] %.8s %s %s %s %d%% %s\n",
                (double)(clock_now_ms(sim_clock(t->sim)) % 100000000) / 1000.0, rollout,
                pool ? pool : "-", host ? host : "-", step ? step : "-", percent, message);
}

static struct tenv *tenv_make(const json_t *scenario, const char *catalog_xml, double scale,
                              struct err *e)
{
    struct tenv *t = xcalloc(1, sizeof(*t));
    struct sim_options so = {.seed_set = true, .seed = 11, .time_scale = scale};
    if (sim_new_from_json(scenario, &so, &t->sim, e) != 0)
        goto fail;
    t->clock = sim_clock(t->sim);
    sim_inproc_handler(t->sim, &t->h);
    if (scale > 0 && sim_server_start(t->sim, 0, &t->srv, e) != 0)
        goto fail;
    t->loop = xapi_loop_new(sim_clock(t->sim), e);
    if (!t->loop)
        goto fail;
    if (!t->srv)
        xapi_loop_set_idle(t->loop, idle, t->sim);
    snprintf(t->dir, sizeof(t->dir), "/tmp/pp-exec-XXXXXX");
    if (!mkdtemp(t->dir)) {
        err_set(e, PP_EIO, "mkdtemp failed");
        goto fail;
    }
    char db[400];
    snprintf(db, sizeof(db), "%s/state.db", t->dir);
    struct store_opts sto = {.clock = sim_clock(t->sim)};
    if (store_open(db, &sto, &t->store, e) != 0)
        goto fail;
    if (catalog_parse_xml(catalog_xml, strlen(catalog_xml), NULL, &t->cat, e) != 0)
        goto fail;
    t->n_pools = sim_pool_count(t->sim);
    t->pool_names = xcalloc(t->n_pools, sizeof(char *));
    for (size_t i = 0; i < t->n_pools; i++)
        t->pool_names[i] = xstrdup(sim_pool_name(t->sim, i));
    t->env.loop = t->loop;
    t->env.store = t->store;
    t->env.clock = sim_clock(t->sim);
    t->env.ctx = t;
    t->env.client_for = env_client_for;
    t->env.catalog = env_catalog;
    t->env.inventory = env_inventory;
    t->env.emit = env_emit;
    struct plan_opts po;
    plan_opts_init(&po);
    t->env.timing = po.timing;
    t->env.host_return_timeout_ms = 30 * 60 * 1000;
    return t;
fail:
    tenv_free(t);
    return NULL;
}

/* Build in-process (see exec_env.h). */
struct tenv *tenv_new(const json_t *scenario, const char *catalog_xml, struct err *e)
{
    return tenv_make(scenario, catalog_xml, 0, e);
}

/* Build over HTTP (see exec_env.h). */
struct tenv *tenv_new_http(const json_t *scenario, const char *catalog_xml, double time_scale,
                           struct err *e)
{
    return tenv_make(scenario, catalog_xml, time_scale, e);
}

/* Connect and create the executor (see exec_env.h). */
int tenv_start(struct tenv *t, struct err *e)
{
    t->clients = xcalloc(t->n_pools, sizeof(*t->clients));
    for (size_t i = 0; i < t->n_pools; i++) {
        char master[64], url[128];
        sim_pool_master_address(t->sim, i, master, sizeof(master));
        if (t->srv)
            snprintf(url, sizeof(url), "http://%s:%u/", master, sim_server_port(t->srv));
        const char *addrs[] = {t->srv ? url : master};
        struct xapi_client_opts o;
        xapi_client_opts_init(&o);
        o.addresses = addrs;
        o.n_addresses = 1;
        o.user = "root";
        o.password = "xenroot";
        o.inproc = t->srv ? NULL : &t->h;
        o.max_conns = 16;
        o.leave_done_tasks = getenv("PP_LEAVE_DONE_TASKS") != NULL;
        if (getenv("PP_EVENT_COALESCE_MS"))
            o.event_coalesce_ms = atoll(getenv("PP_EVENT_COALESCE_MS"));
        if (getenv("PP_EVENT_QUIET_MS"))
            o.event_quiet_ms = atoll(getenv("PP_EVENT_QUIET_MS"));
        t->clients[i] = xapi_client_new(t->loop, &o, e);
        if (!t->clients[i] || xapi_cache_start(t->clients[i], cache_classes, e) != 0)
            return e->code ? e->code : PP_EINVAL;
    }
    for (int turn = 0; turn < 10000; turn++) {
        bool ready = true;
        for (size_t i = 0; i < t->n_pools; i++)
            ready = ready && xapi_cache_ready(t->clients[i]);
        if (ready)
            break;
        xapi_loop_run(t->loop, t->srv ? 10 : 0);
    }
    t->x = exec_new(&t->env, e);
    return t->x ? 0 : PP_EINVAL;
}

/* Crash (see exec_env.h). */
void tenv_crash(struct tenv *t)
{
    exec_free(t->x);
    t->x = NULL;
    for (size_t i = 0; t->clients && i < t->n_pools; i++)
        xapi_client_free(t->clients[i]);
    free(t->clients);
    t->clients = NULL;
    /* deliver whatever the freed clients left in the loop */
    for (int i = 0; i < 10 && xapi_loop_run(t->loop, 0) > 0; i++)
        ;
}

/* One turn (see exec_env.h). */
int tenv_turn(struct tenv *t)
{
    exec_tick(t->x);
    return xapi_loop_run(t->loop, t->srv ? 5 : 0);
}

/* Run (see exec_env.h). */
enum store_rollout_state tenv_run(struct tenv *t, const char *id, long max_turns)
{
    struct store_rollout ro = {0};
    enum store_rollout_state st = STORE_ROLLOUT_RUNNING;
    int idle_turns = 0;
    for (long turn = 0; turn < max_turns; turn++) {
        int n = tenv_turn(t);
        store_rollout_get(t->store, id, &ro, NULL);
        st = ro.state;
        store_rollout_cleanup(&ro);
        if (st != STORE_ROLLOUT_RUNNING && st != STORE_ROLLOUT_CANCELLING &&
            st != STORE_ROLLOUT_PLANNED)
            break;
        idle_turns = n < 0 ? idle_turns + 1 : 0;
        if (idle_turns > 1000 && !t->srv)
            break; /* nothing can move */
    }
    return st;
}

/* Journal writes (see exec_env.h). */
long tenv_journal_writes(struct tenv *t, const char *id)
{
    struct store_step_list l = {0};
    long n = 0;
    if (store_steps_list(t->store, id, NULL, &l, NULL) != 0)
        return -1;
    for (size_t i = 0; i < l.n; i++)
        n += l.items[i].attempts +
             (l.items[i].state != STORE_STEP_PENDING && l.items[i].state != STORE_STEP_INTENT);
    store_step_list_cleanup(&l);
    return n;
}

/* Write a file (see exec_env.h). */
const char *tenv_write(struct tenv *t, const char *name, const void *data, size_t len)
{
    static char paths[4][512];
    static int k;
    char *p = paths[k++ % 4];
    snprintf(p, 512, "%s/%s", t->dir, name);
    FILE *f = fopen(p, "wb");
    if (!f)
        return NULL;
    fwrite(data, 1, len, f);
    fclose(f);
    return p;
}

/* An update image (see exec_env.h); caller frees. */
char *tenv_image(const char *uuid, const char *name, const char *guidance, bool livepatch)
{
    return xasprintf("<?xml version=\"1.0\"?>\n<update uuid=\"%s\" name-label=\"%s\" "
                     "name-description=\"test update\" version=\"1.0\" "
                     "installation-size=\"1048576\" after-apply-guidance=\"%s\" "
                     "livepatch=\"%s\"/>\n",
                     uuid, name, guidance, livepatch ? "true" : "false");
}

/* A host of the sim state by name (see exec_env.h). */
const json_t *tenv_sim_host(const json_t *state, const char *name)
{
    const json_t *pools = json_object_get(state, "pools");
    for (size_t i = 0; i < json_array_size(pools); i++) {
        const json_t *hosts = json_object_get(json_array_get(pools, i), "hosts");
        for (size_t k = 0; k < json_array_size(hosts); k++) {
            const json_t *h = json_array_get(hosts, k);
            if (str_eq(json_string_value(json_object_get(h, "name")), name))
                return h;
        }
    }
    return NULL;
}

static void rm_dir(const char *dir)
{
    const char *names[] = {"state.db", "state.db-wal", "state.db-shm", NULL};
    char p[600];
    for (size_t i = 0; names[i]; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
}

/* Free (see exec_env.h). */
void tenv_free(struct tenv *t)
{
    if (!t)
        return;
    if (t->x || t->clients)
        tenv_crash(t);
    store_close(t->store);
    catalog_free(t->cat);
    xapi_loop_free(t->loop);
    sim_server_stop(t->srv);
    sim_free(t->sim);
    for (size_t i = 0; t->pool_names && i < t->n_pools; i++)
        free(t->pool_names[i]);
    free(t->pool_names);
    if (t->dir[0]) {
        rm_dir(t->dir);
        /* the images written by tests */
        char p[600];
        for (int i = 0; i < 16; i++) {
            snprintf(p, sizeof(p), "%s/u%d.img", t->dir, i);
            unlink(p);
            snprintf(p, sizeof(p), "%s/u%d.zip", t->dir, i);
            unlink(p);
        }
        rmdir(t->dir);
    }
    free(t);
}
