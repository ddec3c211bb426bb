/* SPDX-License-Identifier: MIT */
/*
 * exec.h - the rollout executor: turns plans into journaled steps and drives them on the pools,
 * pools in parallel, from the engine thread.  Internal to the engine module; engine.c owns the
 * thread, the request queue, the pool registry, the catalog, downloads and inventory, and calls
 * into this executor.
 *
 * Journal before acting: every mutation (resolution, disable, migrate, apply, reboot, enable,
 * ...) is recorded with store_journal_intent (with what must be restored) BEFORE it is sent,
 * and store_journal_done after its effect is seen.  On start, unfinished rollouts resume from the
 * first step whose effect is not visible in XAPI state; a done step is never repeated.
 *
 * Threading: everything here runs on the engine thread (the one that runs the xapi_loop).
 */
#ifndef PP_ENGINE_EXEC_H
#define PP_ENGINE_EXEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "plan/plan.h"

struct err;
struct exec;
struct pp_clock;
struct store;
struct xapi_client;
struct xapi_loop;

/* What the executor needs from the engine (all callbacks run on the engine thread). */
struct exec_env {
    struct xapi_loop *loop; /* borrowed */
    struct store *store;    /* borrowed; the journal */
    struct pp_clock *clock; /* borrowed; timestamps, health-wait deadlines */
    void *ctx;              /* passed to every callback */
    /* The connected client of a registered pool (cache started on the classes listed in
     * engine.c), or NULL when the pool is unknown / not connected yet. */
    struct xapi_client *(*client_for)(void *ctx, const char *pool);
    /* The current catalog (borrowed; may change between calls, never during one). */
    const struct catalog *(*catalog)(void *ctx);
    /* The catalog to plan pool with (borrowed, NULL when none): a XenServer 8 pool's own
     * repository catalog (GET /updates), else the legacy one.  May be NULL: catalog is used. */
    const struct catalog *(*catalog_for)(void *ctx, const char *pool);
    /* Build the pool's inventory from the client's cache (new; inv_pool_free). NULL on error. */
    struct inv_pool *(*inventory)(void *ctx, const char *pool, struct err *e);
    /* A progress event: fields rollout, pool, host, step, percent, message (borrowed). */
    void (*emit)(void *ctx, const char *rollout, const char *pool, const char *host,
                 const char *step, int percent, const char *message);
    /* Maintenance windows (docs/windows.md), or NULL (always open): may pool begin something
     * that takes need_ms at now_ms?  Returns true, or false with *until_ms set to when to ask
     * again (-1: no window ahead) and why (a short reason, e.g. "is outside its windows"). */
    bool (*window_gate)(void *ctx, const char *pool, int64_t now_ms, int64_t need_ms,
                        int64_t *until_ms, char *why, size_t why_len);
    /* Health gates (docs/health-gates.md), or NULL (the built-in gate only, defaults): the
     * pool's gate settings (exec_gate_spec_check's shape), a new reference, or NULL. */
    json_t *(*health_gate)(void *ctx, const char *pool);
    /* Read the pool's update repository again (a pool upgraded to XenServer 8 has one now), or
     * NULL: with start, begin a read (joining one in flight); without, ask about it.  1 while
     * the read runs, 0 once it ended (catalog_for answers what it found), -1 when it cannot
     * start (unknown or unconnected pool). */
    int (*catalog_probe)(void *ctx, const char *pool, bool start);
    /* Timing figures for re-planning after prechecks and for health-wait deadlines. */
    struct plan_timing timing;
    int64_t host_return_timeout_ms; /* how long a rebooted host may take to come back */
};

/* One pool of a rollout request. */
struct exec_pool_req {
    const char *pool;             /* registered pool name */
    const struct plan_opts *opts; /* the options the plan was built with (re-planned after the
                                     xapi prechecks with their livepatch results) */
};

/* An update image the rollout uploads: the update uuid and a local file (zip holding an .iso or
 * .xsupdate, or the image itself). */
struct exec_file {
    const char *uuid;
    const char *path;
};

struct exec_request {
    const struct exec_pool_req *pools;
    size_t n_pools;
    const struct exec_file *files;
    size_t n_files;
};

/* Create an executor.  Returns NULL with e set on failure. */
struct exec *exec_new(const struct exec_env *env, struct err *e);
/* Stop driving (rollouts stay journaled) and free; NULL is a no-op. */
void exec_free(struct exec *x);

/* Create a rollout from req: plans each pool now, journals the rollout and its steps, starts it.
 * *id is a new string (free).  Errors: PP_ESTATE when a plan has unresolvable blocking checks
 * (message names them), PP_ENOTFOUND for an unknown pool, PP_EDB. */
int exec_rollout_start(struct exec *x, const struct exec_request *req, char **id, struct err *e);
/* Resume every unfinished rollout of the journal (called once at engine start, after pools
 * connected or while they connect: a rollout waits for its pools). */
int exec_resume_all(struct exec *x, struct err *e);
/* Retry a halted rollout from its failed step. */
int exec_rollout_retry(struct exec *x, const char *id, struct err *e);
/* Cancel: stop, replay the undo list (HA back, CDs re-inserted, VMs resumed/started, hosts
 * enabled), remove uploaded update files (pool_update.pool_clean + destroy). */
int exec_rollout_cancel(struct exec *x, const char *id, struct err *e);
/* Reboot again / skip the host of an upgrade step in progress (see engine_upgrade_host). */
int exec_upgrade_host(struct exec *x, const char *id, const char *host, const char *action,
                      struct err *e);
/* After a host of pool was forgotten (host.destroy done): send pool.enable_ha for the newest
 * finished rollout of pool whose HA restore was deferred while a host was left out of an upgrade
 * (exec_upgrade.c); the undo item is marked replayed once xapi accepts it (a refusal is logged
 * and the item stays pending).  0, or an error from the store / the call's sending. */
int exec_upgrade_ha_after_forget(struct exec *x, const char *pool, struct err *e);
/* Advance time-based work (health waits, retries); called on every engine loop turn. */
void exec_tick(struct exec *x);
/* True while any rollout is running (not halted / final). */
bool exec_busy(const struct exec *x);
/* JSON of one rollout (docs/rest-api.md shape) or of all, newest first.  New references. */
int exec_rollout_json(struct exec *x, const char *id, json_t **out, struct err *e);
int exec_rollouts_json(struct exec *x, json_t **out, struct err *e);

#endif
