/* SPDX-License-Identifier: MIT */
/*
 * engine.c - the engine object: created (store, XAPI loop, executor and its environment: the
 * callbacks through which the executor reaches pools, catalogs, windows and gates), started (the
 * engine thread, the checker, webhooks, schedules), stopped and freed; the default policy
 * setting.  The rest of the engine lives in its own files: engine_queue.c (requests, the thread),
 * engine_pools.c, engine_catalog.c, engine_dismiss.c and engine_views.c, engine_plans.c,
 * engine_downloads.c.  See engine.h for the contract and docs/engine.md.
 *
 * Threads.  The engine thread owns the store connection, the XAPI loop, every client, the
 * catalog and the executor; nothing else touches them.  engine_* functions, called from other
 * threads (REST server, CLI, the periodic checker), post a request and wait for its answer.
 * Work that blocks on the network outside XAPI — fetching the catalog, downloading update files
 * — runs on the calling thread between two requests, so the engine thread never blocks.
 */
#include "engine/engine.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/engine_int.h"
#include "engine/engine_req.h"
#include "engine/engine_webhook.h"
#include "engine/engine_window.h"
#include "engine/exec.h"
#include "plan/plan.h"
#include "store/store.h"

#define LOG_MOD                    "engine"
#define DEFAULT_REQUEST_TIMEOUT_MS 30000

static struct xapi_client *env_client_for(void *ctx, const char *pool)
{
    struct eng_pool *p = engine_find_pool(ctx, pool);
    return p ? p->client : NULL;
}

static const struct catalog *env_catalog(void *ctx)
{
    return ((struct engine *)ctx)->catalog;
}

/* The pool's catalog: its repository updates for a XenServer 8 pool, else the legacy one. */
static const struct catalog *env_catalog_for(void *ctx, const char *pool)
{
    struct engine *eng = ctx;
    struct eng_pool *p = engine_find_pool(eng, pool);

    /* still learning whether it is a repository pool (its first connection's probe is in
     * flight): no catalog yet rather than the wrong one */
    if (p && p->cdn_state == ENG_CDN_UNKNOWN && p->cdn_job)
        return NULL;
    return engine_pool_catalog(eng, p);
}

/* exec_env's catalog_probe (see exec.h): the repository read of engine_cdn.c. */
static int env_catalog_probe(void *ctx, const char *pool, bool start)
{
    struct engine *eng = ctx;
    struct eng_pool *p = engine_find_pool(eng, pool);

    if (!p)
        return -1;
    if (start && !p->cdn_job)
        engine_cdn_refresh(eng, p, true, NULL); /* p->cdn_job set when it started */
    if (p->cdn_job)
        return 1;
    return start ? -1 : 0;
}

static struct inv_pool *env_inventory(void *ctx, const char *pool, struct err *e)
{
    struct engine *eng = ctx;
    struct eng_pool *p = engine_find_pool(eng, pool);

    if (!p) {
        err_set(e, PP_ENOTFOUND, "no pool named '%s' is registered", pool);
        return NULL;
    }
    return engine_pool_inventory(eng, p, e);
}

static bool env_window_gate(void *ctx, const char *pool, int64_t now_ms, int64_t need_ms,
                            int64_t *until_ms, char *why, size_t why_len)
{
    struct engine *eng = ctx;
    return !eng->wins ||
           engine_windows_gate(eng->wins, pool, now_ms, need_ms, until_ms, why, why_len);
}

static json_t *env_health_gate(void *ctx, const char *pool)
{
    return engine_gate_for_pool(ctx, pool);
}

/* The default policy at the start: the settings file's (cfg_policy) wins, else the stored one
 * (ENGINE_KEY_DEFAULT_POLICY), else return.  A value that is neither is PP_EPARSE. */
static int load_default_policy(struct engine *eng, const char *cfg_policy, struct err *e)
{
    char *v = NULL;

    if (cfg_policy)
        v = xstrdup(cfg_policy);
    else if (store_setting_get_str(eng->store, ENGINE_KEY_DEFAULT_POLICY, "return", &v, e) != 0)
        return e ? e->code : PP_EDB;
    int rc = 0;
    if (str_eq(v, "minimal"))
        eng->default_policy = ENGINE_POLICY_MINIMAL;
    else if (str_eq(v, "return"))
        eng->default_policy = ENGINE_POLICY_RETURN;
    else
        rc = err_set(e, PP_EPARSE, "setting %s: '%s' is not minimal or return",
                     ENGINE_KEY_DEFAULT_POLICY, v);
    free(v);
    return rc;
}
/* Create an engine (see engine.h). */
int engine_new(const struct engine_config *cfg, struct engine **out, struct err *e)
{
    struct engine *eng;
    struct store_opts so = {0};
    struct exec_env env = {0};
    char *dir;
    int rc;

    *out = NULL;
    if (!cfg || !cfg->db_path)
        return err_set(e, PP_EINVAL, "engine: no database path");
    eng = xcalloc(1, sizeof(*eng));
    pthread_mutex_init(&eng->qlock, NULL);
    pthread_cond_init(&eng->qdone, NULL);
    pthread_cond_init(&eng->checker_wake, NULL);
    pthread_mutex_init(&eng->sublock, NULL);
    pthread_mutex_init(&eng->catlock, NULL);
    pthread_mutex_init(&eng->publock, NULL);
    engine_readers_init(eng);
    eng->db_path = xstrdup(cfg->db_path);
    dir = xstrdup(cfg->db_path);
    eng->data_dir = xstrdup(dirname(dir));
    free(dir);
    eng->clock = cfg->clock;
    if (!eng->clock) {
        eng->clock = clock_real_new();
        eng->own_clock = true;
    }
    eng->request_timeout_ms =
        cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : DEFAULT_REQUEST_TIMEOUT_MS;
    eng->catalog_url = xstrdup(cfg->catalog_url);
    eng->vendor_origins = xstrdup(cfg->vendor_origins);
    eng->webhook_retry_base_s = cfg->webhook_retry_base_s;
    eng->file_max_bytes = cfg->file_max_bytes;
    eng->file_dir = cfg->file_dir && *cfg->file_dir ? xstrdup(cfg->file_dir) : NULL;
    so.clock = eng->clock;
    rc = store_open(cfg->db_path, &so, &eng->store, e);
    if (rc != 0)
        goto fail;
    if (cfg->check_interval_s >= 0) {
        eng->check_interval_s = cfg->check_interval_s;
    } else {
        int64_t iv = 0;
        bool on = true;
        if (store_get_auto_check(eng->store, &on, e) != 0 ||
            store_get_check_interval_s(eng->store, &iv, e) != 0) {
            rc = e ? e->code : PP_EDB;
            goto fail;
        }
        eng->check_interval_s = on ? (int)iv : 0;
    }
    if ((rc = load_default_policy(eng, cfg->default_policy, e)) != 0)
        goto fail;
    {
        char *dl = xasprintf("%s/downloads", eng->data_dir);
        if (mkdir(dl, 0700) != 0 && errno != EEXIST) {
            rc = err_set(e, PP_EIO, "creating %s: %s", dl, strerror(errno));
            free(dl);
            goto fail;
        }
        free(dl);
    }
    eng->loop = xapi_loop_new(eng->clock, e);
    if (!eng->loop) {
        rc = e && e->code ? e->code : PP_EIO;
        goto fail;
    }
    env.loop = eng->loop;
    env.store = eng->store;
    env.clock = eng->clock;
    env.ctx = eng;
    env.client_for = env_client_for;
    env.catalog = env_catalog;
    env.catalog_for = env_catalog_for;
    env.catalog_probe = env_catalog_probe;
    env.inventory = env_inventory;
    env.emit = engine_emit_event;
    env.window_gate = env_window_gate;
    env.health_gate = env_health_gate;
    {
        struct plan_opts po;
        plan_opts_init(&po);
        env.timing = po.timing;
    }
    env.host_return_timeout_ms = cfg->host_return_timeout_s > 0
                                     ? (int64_t)cfg->host_return_timeout_s * 1000
                                     : 20 * 60 * 1000;
    eng->exec = exec_new(&env, e);
    if (!eng->exec) {
        rc = e && e->code ? e->code : PP_EINVAL;
        goto fail;
    }
    engine_catalog_load_cached(eng);
    engine_pools_load(eng);
    *out = eng;
    return 0;
fail:
    engine_free(eng);
    return rc ? rc : PP_EINVAL;
}

/* Start the engine thread and the periodic checker (see engine.h). */
int engine_start(struct engine *eng, struct err *e)
{
    pthread_mutex_lock(&eng->qlock);
    if (eng->running) {
        pthread_mutex_unlock(&eng->qlock);
        return err_set(e, PP_ESTATE, "the engine is already running");
    }
    eng->running = true;
    pthread_mutex_unlock(&eng->qlock);
    {
        struct err we = {0};
        if (engine_windows_new(eng, eng->db_path, eng->clock, &eng->wins, &we) != 0)
            log_warn(LOG_MOD, "maintenance windows and schedules are off: %s", we.msg);
    }
    engine_pools_publish(eng); /* GET /pools from now on: the thread is not running yet */
    if (pthread_create(&eng->thread, NULL, engine_thread_main, eng) != 0) {
        eng->running = false;
        return err_set(e, PP_EIO, "cannot start the engine thread");
    }
    {
        struct engine_webhook_opts wo = {.retry_base_ms = eng->webhook_retry_base_s * 1000};
        struct err we = {0};
        if (engine_webhooks_new(eng, eng->db_path, eng->clock, &wo, &eng->hooks, &we) != 0)
            log_warn(LOG_MOD, "webhooks are off: %s", we.msg);
    }
    if (eng->wins) {
        struct err we = {0};
        if (engine_windows_start(eng->wins, &we) != 0)
            log_warn(LOG_MOD, "schedules are off: %s", we.msg);
    }
    /* always started: checks can be turned on later (engine_set_check_interval) */
    if (pthread_create(&eng->checker, NULL, engine_checker_main, eng) == 0)
        eng->checker_running = true;
    else
        log_warn(LOG_MOD, "cannot start the periodic update checker");
    return 0;
}

/* Stop and free (see engine.h). */
void engine_free(struct engine *eng)
{
    if (!eng)
        return;
    engine_webhooks_free(eng->hooks); /* unsubscribes first: no callback into a freed sender */
    eng->hooks = NULL;
    engine_windows_stop(eng->wins); /* its scheduler may wait on the engine thread: first */
    pthread_mutex_lock(&eng->qlock);
    eng->stop = true;
    pthread_cond_broadcast(&eng->checker_wake);
    if (eng->loop)
        xapi_loop_wakeup(eng->loop);
    pthread_mutex_unlock(&eng->qlock);
    if (eng->checker_running)
        pthread_join(eng->checker, NULL);
    if (eng->running)
        pthread_join(eng->thread, NULL);
    engine_windows_free(eng->wins); /* the gate's caller is stopped */
    eng->wins = NULL;
    engine_events_flush(eng);
    exec_free(eng->exec);
    engine_events_flush(eng);
    for (size_t i = 0; i < eng->n_pools; i++)
        engine_pool_retire(eng, eng->pools[i]);
    engine_probes_retire(eng); /* a pool add's login still out: not in pools (it leaked) */
    free(eng->pools);
    /* Freeing the clients delivers their calls' last callbacks (PP_ECANCELLED): a request still
     * waiting on one (an update check on a pool that lost its master: engine_cdn.c) is finished
     * there and publishes the pools.  It finds none, never the freed array, and what it
     * publishes is released below. */
    eng->pools = NULL;
    eng->n_pools = 0;
    engine_graveyard_empty(eng);
    free(eng->graveyard);
    free(eng->probes);
    engine_pools_unpublish(eng);
    engine_events_flush(eng);
    xapi_loop_free(eng->loop);
    catalog_free(eng->catalog);
    store_close(eng->store);
    engine_readers_cleanup(eng);
    free(eng->pending_events);
    free(eng->pending_facts);
    if (eng->own_clock)
        clock_free(eng->clock);
    free(eng->subs);
    free(eng->db_path);
    free(eng->data_dir);
    free(eng->catalog_url);
    free(eng->vendor_origins);
    free(eng->file_dir);
    pthread_mutex_destroy(&eng->qlock);
    pthread_cond_destroy(&eng->qdone);
    pthread_cond_destroy(&eng->checker_wake);
    pthread_mutex_destroy(&eng->sublock);
    pthread_mutex_destroy(&eng->catlock);
    pthread_mutex_destroy(&eng->publock);
    free(eng->held); /* every snapshot was freed: the engine's callers have returned */
    free(eng);
}

/* R_SET_DEFAULT_POLICY: stored, then in force (engine thread). */
void engine_handle_set_default_policy(struct engine *eng, struct eng_req *r)
{
    struct req_default_policy *a = ENG_REQ_AS(struct req_default_policy, r);
    int rc = store_setting_set(eng->store, ENGINE_KEY_DEFAULT_POLICY,
                               a->policy == ENGINE_POLICY_MINIMAL ? "minimal" : "return", &r->err);
    if (rc == 0) {
        eng->default_policy = a->policy;
        log_info(LOG_MOD, "default policy: %s",
                 a->policy == ENGINE_POLICY_MINIMAL ? "minimal" : "return");
    }
    engine_req_finish(eng, r, rc);
}

/* Set the default policy (see engine.h). */
int engine_set_default_policy(struct engine *eng, enum engine_policy policy, struct err *e)
{
    if (policy != ENGINE_POLICY_RETURN && policy != ENGINE_POLICY_MINIMAL)
        return err_set(e, PP_EINVAL, "default_policy: not minimal or return");
    struct req_default_policy *r = ENG_REQ_NEW(struct req_default_policy, R_SET_DEFAULT_POLICY);
    r->policy = policy;
    return engine_req_run(eng, &r->h, NULL, e);
}

/* The default policy in force (see engine.h). */
enum engine_policy engine_default_policy(struct engine *eng)
{
    return eng->default_policy == ENGINE_POLICY_MINIMAL ? ENGINE_POLICY_MINIMAL
                                                        : ENGINE_POLICY_RETURN;
}
