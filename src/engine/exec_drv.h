/* SPDX-License-Identifier: MIT */
/*
 * exec_drv.h - the executor's driving state, shared by its files (not by the engine, which
 * uses exec.h; not by the pure tests, which use exec_int.h):
 *
 *   exec.c         rollouts: create, load, resume, retry, cancel, tick, state
 *   exec_pump.c    the pool pump and its lanes, the step cache, starting a step (resume rule
 *                  first), outcomes, waits for effects, calls
 *   exec_kinds.c   the table of step kinds (names, send, resume rule, deadline, benign codes)
 *   exec_sends.c   sending the host steps, introduce, precheck
 *   exec_replan.c  re-planning after the prechecks
 *   exec_fixes.c   Resolve All fixes, undo / cancel action lists
 *   exec_migrate.c live migrations and their targets
 *   exec_upload.c  the update image upload and its task
 *   exec_verify.c  the end-state verification of a pool (done, halted, cancel)
 *
 * Everything runs on the engine thread.  A step in flight (struct exec_step) belongs to its
 * pool's active list; when the executor is freed while a call is in flight the step is
 * orphaned (p = NULL) and freed by its callback (exec_orphan_check).
 */
#ifndef PP_ENGINE_EXEC_DRV_H
#define PP_ENGINE_EXEC_DRV_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/exec.h"
#include "engine/exec_int.h"
#include "store/store.h"
#include "xapi/client.h"

#define LOGM "exec"
/* Live migrations at once: per evacuated host the planner's parallel_migrations (Xen
 * Orchestra's practice of 3, and what the planner's window assumes), which stays under what xapi
 * itself starts when it evacuates a host (10, ocaml/xapi/xapi_host.ml); per pool only a guard
 * against runaway task counts on the master.  Pool-wide caps of 10 and then 48 made the hosts
 * of a batch queue behind each other: 256-host bench, policy return, 3,472 s against 2,624 s. */
#define EXEC_MAX_MIGRATIONS_POOL     256
#define EXEC_DEFAULT_MIGRATIONS_HOST 3
/* How long an effect may take to show after its call returned (host effects: the env's host
 * return timeout), and how long an operation found running may still run. */
#define EXEC_EFFECT_WAIT_MS (10 * 60 * 1000)
/* How long an upgrading host may take to come back on the new version: the installer's run
 * (about 20 min from a network URL) and, in manual mode, the operator's boot from media. */
#define EXEC_UPGRADE_WAIT_MS ((int64_t)6 * 3600 * 1000)
/* How long the upload task of a run before a restart may stay pending (nobody sends its body
 * any more: xapi fails it when the connection drops; a stalled one is cancelled and the image
 * uploaded again). */
#define EXEC_UPLOAD_PREV_WAIT_MS (5 * 60 * 1000)
/* Sends of one step after reading the pool (operation found running, transport error) before
 * the step fails with what the pool shows. */
#define EXEC_MAX_TRIES 4

/* What a step waits for before reading the pool again (exec_settle_wait). */
enum exec_settle {
    EXEC_SETTLE_BUSY = 1, /* the operation running on its object ends (or the effect shows) */
    EXEC_SETTLE_EFFECT,   /* the effect shows (an operation xapi says runs, but does not show) */
    EXEC_SETTLE_READ,     /* a fresh reading of the pool after a transport error */
    EXEC_SETTLE_LIVE,     /* the step's host is live (back from a reboot, out of emergency mode) */
};

enum exec_xp_state {
    EXEC_XP_RUN = 0,
    EXEC_XP_HALTED,
    EXEC_XP_DONE,
    EXEC_XP_CANCEL,
    EXEC_XP_CANCELLED,
    EXEC_XP_CANCEL_FAILED /* the cancel ended with something left (findings); retry re-runs it */
};

struct exec_run;
struct exec_step;
struct exec_gate;

struct exec_pool {
    struct exec_run *r;
    char *name;
    enum exec_xp_state st;
    struct exec_step *active;
    int n_migr;
    bool waiting_client; /* reported once */
    bool dirty;          /* pump on the next exec_tick */
    /* The pool's journal steps, cached: loaded once, each step refreshed from the store after
     * every journal write of it, reloaded after steps are appended or skipped in bulk. */
    struct store_step_list steps;
    int *batches;          /* params.batch of each cached step (-1: none) */
    enum exec_kind *kinds; /* the kind of each cached step, mapped once at load */
    char **dests;          /* params.to of each cached step (NULL: none): migration targets */
    bool steps_ok;
    size_t hint; /* every step before it is done or skipped */
    bool cancel_started;
    bool halt_verified; /* the end state of this halt was verified (reset by Retry) */
    json_t *before;     /* the plan's snapshot of the pool at start (exec_pool_before) */
    bool before_loaded;
    char *left; /* what the last verification found, one line (NULL: nothing) */
    /* the master lost (exec_watch_master): since when (engine clock, 0: connected), and the
     * message its steps in flight fail with once that lasted the host return timeout */
    int64_t lost_since;
    unsigned lost_gen; /* the cache generation when last looked: events arriving = not lost */
    char *lost_msg;
    /* maintenance windows (exec_window.c): waiting for one, and the timer to look again */
    int win_state; /* 0, EXEC_WIN_WAITING or EXEC_WIN_PAUSED */
    int64_t win_until;
    struct exec_win_timer *win_timer;
    /* an upgrade's new-version updates (exec_upgrade.c): the repository read asked once per
     * process, and in flight */
    bool probed, probing;
};

struct exec_run {
    struct exec *x;
    char *id;
    enum store_rollout_state st;
    struct exec_pool *pools;
    size_t n_pools;
    bool upgrade; /* a rolling pool upgrade: its pools are driven without an update catalog */
    json_t *pred; /* exec_window.c: the plan's predicted seconds per host, or NULL */
    struct exec_run *next;
};

struct exec {
    struct exec_env env;
    struct exec_run *runs;
};

/* An undo / cancel action list processed one by one. */
struct exec_action {
    json_t *a;        /* {"fix":...} or {"op":"clean"|"destroy","uuid"} */
    int64_t undo_seq; /* step whose undo this is (0: none) */
};

struct exec_step {
    struct exec_pool *p;             /* NULL once orphaned (executor freed while in flight) */
    int64_t seq;                     /* 0 for the cancel procedure */
    const struct exec_kind_def *def; /* the kind's row (exec_kinds.c) */
    char *host;
    json_t *params;
    struct xapi_op *op;
    /* the op in flight a cancel lets end instead of abandoning it (a plain call, which xapi
     * carries out whatever the client does; a wait for an effect on its way): reverting while
     * they still land would read a pool about to change.  NULL: none. */
    const struct xapi_op *let_end;
    struct xapi_upload *up;
    struct zimg *z;
    char *task; /* upload: the task created for it */
    int64_t size;
    int last_pct;
    int retargets;  /* migrate: targets changed after HOST_NOT_ENOUGH_FREE_MEMORY */
    bool prev_task; /* upload: waiting for the task of an attempt before a restart */
    bool retrying;  /* upload: the step had failed (Retry): its PUT was abandoned with it */
    int tries;      /* sends after reading the pool (in flight, transport error): bounded */
    int settle;     /* enum exec_settle of the wait in progress */
    unsigned gen0;  /* cache generation when a transport error was seen */
    unsigned evals; /* evaluations of the settle predicate since */
    char last_err[256];
    int64_t settle_ms;   /* EXEC_SETTLE_EFFECT: its deadline when not the default */
    int64_t deadline_ms; /* upload: when waiting for its task ends (engine clock) */
    struct exec_action *acts;
    size_t n_acts, i_act;
    int verify; /* the end-state verification: enum exec_verify_after + 1 (0: another step) */
    struct exec_gate *gate; /* health gate in progress (exec_gate.c), freed by its callback */
    struct exec_step *next;
};

/* ---- exec.c */
void exec_pool_dirty(struct exec_pool *p);
/* ---- exec_pump.c: the master lost for longer than the host return timeout while steps are in
 * flight (their calls queued in the client, waiting for a master): they fail MASTER_LOST, the
 * pool halts (a cancel ends cancel_failed); called on every tick. */
void exec_watch_master(struct exec_pool *p);
void exec_run_update_state(struct exec_run *r);

/* ---- exec_pump.c: helpers */
struct xapi_client *exec_pool_client(struct exec_pool *p);
const char *exec_pstr(const json_t *j, const char *k); /* "" when absent; borrowed */
char *exec_dumps(const json_t *j);                     /* compact JSON or NULL; free */
void exec_emit(struct exec_pool *p, const char *host, const char *step, int pct, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));
const char *exec_step_name(const struct exec_step *s);
const char *exec_host_label(struct exec_step *s);
/* An XAPI array of n strings (new). */
struct xapi_value *exec_params_v(int n, ...);
void exec_step_free(struct exec_step *s);
/* Remove s from its pool's active list (not freed). */
void exec_unlink_step(struct exec_step *s);
/* Neither done nor skipped. */
bool exec_step_unfinished(const struct store_step *st);
int exec_steps_load(struct exec_pool *p);
void exec_steps_drop(struct exec_pool *p);
void exec_steps_refresh(struct exec_pool *p, int64_t seq);
bool exec_orphan_check(struct exec_step *s);
/* ---- exec_pump.c: outcomes, calls, waits */
void exec_step_done(struct exec_step *s, json_t *result_take);
void exec_step_fail(struct exec_step *s, const char *code, const char *msg);
void exec_step_fail_err(struct exec_step *s, int rc, const struct err *e);
/* Journal the intent (params replaced when new_params, undo recorded).  0, or -1 (failed). */
int exec_intent(struct exec_step *s, const json_t *undo, bool new_params);
/* Wait for the step's effect (the kind's rule says done) within the kind's deadline. */
void exec_wait_effect(struct exec_step *s);
/* Completion of a state-changing call: benign codes / retarget per the kind's row, then wait. */
void exec_call_then_wait(void *ctx, int rc, const struct xapi_value *res, const struct err *e);
/* Send a call (task: as Async.<method>).  params taken.  0, or -1 after failing the step. */
int exec_send_call(struct exec_step *s, const char *method, struct xapi_value *params, bool task,
                   xapi_done_fn done);
void exec_pump_pool(struct exec_pool *p);
/* Read the pool and act: effect there -> done; under way -> wait; operation running on the
 * object -> wait for it, then again; else send (at most EXEC_MAX_TRIES times). */
void exec_reconsider(struct exec_step *s);
/* Wait (deadline per mode, named outcome on expiry), then exec_reconsider. */
void exec_settle_wait(struct exec_step *s, enum exec_settle mode);

/* ---- exec_window.c */
enum { EXEC_WIN_WAITING = 1, EXEC_WIN_PAUSED = 2 };
/* Before the step at i0 begins (the pool's first, or a batch's): true when the pool must wait
 * for a window (journaled, announced, timer armed). */
bool exec_window_blocks(struct exec_pool *p, size_t i0);
/* The executor is freed: the pool's timer, if any, frees itself when it fires. */
void exec_window_orphan(struct exec_pool *p);

/* ---- exec_gate.c */
/* Each loop turn: a health gate whose hook ended has its wait cancelled (its callback then
 * journals the outcome). */
void exec_gate_tick(struct exec *x);

/* ---- exec_fixes.c */
const char *exec_obj_name(const struct xapi_records *v, const char *ref);
void exec_acts_add(struct exec_step *s, json_t *a_take, int64_t undo_seq);
void exec_acts_next(struct exec_step *s);
void exec_start_cancel(struct exec_pool *p);

/* ---- exec_verify.c */
/* Read the pool again and check the rollout's claims (verify.c); then the pool ends: done,
 * halted (verified), cancelled or cancel_failed; findings recorded and emitted. */
void exec_verify_start(struct exec_pool *p, enum exec_verify_after after);
/* The pool's snapshot at start from the plan (borrowed; NULL for older rollouts). */
const json_t *exec_pool_before(struct exec_pool *p);
/* True when the update was not in the pool when the rollout started (ours to clean / remove). */
bool exec_pool_introduced(struct exec_pool *p, const char *uuid);

/* ---- exec_migrate.c */
bool exec_retarget(struct exec_step *s);
void exec_migrate_send(struct exec_step *s);

/* ---- the sends of the kind table (intent journaled by each) */
void exec_send_resolve(struct exec_step *s); /* exec_fixes.c */
void exec_send_clean(struct exec_step *s);   /* exec_fixes.c */
void exec_send_undo(struct exec_step *s);    /* exec_fixes.c */
void exec_send_upload(struct exec_step *s);  /* exec_upload.c */
void exec_send_migrate(struct exec_step *s); /* exec_migrate.c */
void exec_send_replan(struct exec_step *s);  /* exec_replan.c */
/* exec_replan.c: at a pool's end (every step done), a host whose live patch did not take (its
 * update requires its reboot, no reboot followed the apply): a second replan step is appended
 * (once per pool), which plans that reboot with the fixes it needs.  True when appended. */
bool exec_replan_after_apply(struct exec_pool *p);
void exec_send_introduce(struct exec_step *s);    /* exec_sends.c */
void exec_send_precheck(struct exec_step *s);     /* exec_sends.c */
void exec_send_disable(struct exec_step *s);      /* exec_sends.c */
void exec_send_enable(struct exec_step *s);       /* exec_sends.c */
void exec_send_apply(struct exec_step *s);        /* exec_sends.c */
void exec_send_apply_cdn(struct exec_step *s);    /* exec_sends.c */
void exec_send_host_restart(struct exec_step *s); /* exec_sends.c: reboot, restart_agent */
void exec_send_upgrade(struct exec_step *s);      /* exec_upgrade.c */
void exec_send_restore(struct exec_step *s);      /* exec_upgrade.c */
void exec_send_gate(struct exec_step *s);         /* exec_gate.c */
/* exec_upgrade.c: a supporter's failed upgrade step (already journaled failed) is left out:
 * it and the host's later steps are journaled skipped with the recovery text; true when so
 * (the pool goes on), false when the failure halts the pool as usual. */
bool exec_upgrade_leave_out(struct exec_step *s, const char *code, const char *msg);
/* exec_upgrade.c: the current undo item of step s (not a cancel's) is enable_ha and xapi refused
 * it with NOT_SUPPORTED_DURING_UPGRADE (a host left out on its old version): say so, leave the
 * item in the undo list (exec_upgrade_ha_after_forget replays it) and go on with the next one;
 * true when so, false when e is another failure. */
bool exec_upgrade_ha_defer(struct exec_step *s, const struct err *e);
/* exec_upgrade.c: true when a rollout's plan text is an upgrade's (pools planned in mode
 * "upgrade"). */
bool exec_plan_is_upgrade(const char *plan_json);
/* exec_upgrade.c: an upgrade planned with apply_updates gets, after its last step (the final
 * undo), a replan step {"after_upgrade": true, "to", "opts" (automated mode)} appended to sl:
 * the new version's automated updates, planned from the pool read again. */
void exec_upgrade_then_updates(struct exec_step *s, const struct plan *pl, struct spec_list *sl);
/* exec_upgrade.c, from the replan step's send (intent journaled): for the after-upgrade replan,
 * true when the step was handled here: done with no update (a host left out, no catalog), or
 * given back to the pool (freed) while the pool's repository is read again (the pump waits,
 * exec_upgrade_probing); false: plan it (any other replan, or the catalog is fresh). */
bool exec_upgrade_updates_wait(struct exec_step *s);
/* exec_upgrade.c: the after-upgrade plan pl is handled here, true when so: a blocking check
 * without a fix (e.g. no update list for the new version), or update files to upload whose
 * files the rollout did not download before it started: the step ends done with no update,
 * saying why (the upgrade itself succeeded; never a halt).  Legacy updates whose files it has
 * (opts.upgrade_files, exec_upgrade_files): their upload, introduce and precheck steps and a
 * replan are appended, as a rollout's first steps, and the step ends done. */
bool exec_upgrade_updates_skip(struct exec_step *s, const struct plan *pl);
/* exec_upgrade.c, at an upgrade's start: when it chains the new version's automated updates and
 * those are legacy updates (plan_upgrade_then_updates), record in opts_json "upgrade_files"
 * {uuid: path} (path from file_for, the files downloaded before the start) so the after-upgrade
 * replan can upload them.  inv is modified during the call and restored. */
void exec_upgrade_files(json_t *opts_json, struct inv_pool *inv, const struct catalog *cat,
                        const struct plan_opts *o,
                        const char *(*file_for)(void *ctx, const char *uuid), void *ctx);
/* exec_upgrade.c, from the pump: true while pool p waits for its repository read (see above);
 * the pool is pumped again on the next turn. */
bool exec_upgrade_probing(struct exec_pool *p);
/* exec_upgrade.c: an upgrade's pool ended done (verified): when every host of the pool now runs
 * the master's platform version (a host an earlier upgrade left out was upgraded by this one),
 * the HA restore that earlier rollout deferred is sent (exec_upgrade_ha_after_forget). */
void exec_upgrade_pool_done(struct exec_pool *p);
/* exec_upgrade.c: the explanation journaled with a failed step: exec_explain's, except for the
 * master's upgrade ("restore the master, never continue"). */
const char *exec_step_explain(const struct exec_step *s, const char *code);

#endif
