/* SPDX-License-Identifier: MIT */
/*
 * exec_int.h - the executor's pure parts, shared by exec.c and steps.c and unit-tested
 * directly (tests/unit/test_exec.c): plans to journal step specs, the resume derivation ("did
 * this step's effect happen?") over a read-only view of XAPI records, undo records, and the
 * plain-language table of XAPI error codes.  No I/O here.
 */
#ifndef PP_ENGINE_EXEC_INT_H
#define PP_ENGINE_EXEC_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan/plan.h"
#include "store/store.h"
#include "xapi/records.h"
#include "xapi/value.h"

/* Step kinds as journaled (store_step.kind).  Only the kind table (exec_kinds.c) compares
 * these names; everything else works on enum exec_kind. */
#define SK_RESOLVE       "resolve"   /* one Resolve All fix; undo recorded with the intent */
#define SK_UPLOAD        "upload"    /* PUT the image of one update to the upload SR */
#define SK_INTRODUCE     "introduce" /* pool_update.introduce of the uploaded VDI */
#define SK_PRECHECK      "precheck"  /* pool_update.precheck of one update on one host */
#define SK_REPLAN        "replan"    /* plan again with the precheck results; appends the rest */
#define SK_DISABLE       "disable"   /* host.disable */
#define SK_MIGRATE       "migrate"   /* VM.pool_migrate of one VM (evacuation or back home) */
#define SK_APPLY         "apply"     /* pool_update.apply of one update on one host */
#define SK_APPLY_CDN     "apply_cdn" /* host.apply_updates (XenServer 8) */
#define SK_REBOOT        "reboot"    /* host.reboot, then wait until healthy */
#define SK_RESTART_AGENT "restart_agent" /* host.restart_agent, then wait until healthy */
#define SK_ENABLE        "enable"        /* host.enable */
#define SK_CLEAN         "clean"         /* pool_update.pool_clean: the image leaves the SR */
#define SK_UNDO          "undo"          /* replay the pool's undo list */
#define SK_UPGRADE       "upgrade" /* prepare (plugin) / operator's boot, installer, new version */
#define SK_RESTORE       "restore_vms" /* resume / start a host's resolved VMs on it (upgrade) */
#define SK_GATE          "health_gate" /* after a host returned: built-in checks, the user's hook */

/* ---- the step-kind table (exec_kinds.c) ---- */

enum exec_kind {
    EXEC_K_UNKNOWN = 0,
    EXEC_K_RESOLVE,
    EXEC_K_UPLOAD,
    EXEC_K_INTRODUCE,
    EXEC_K_PRECHECK,
    EXEC_K_REPLAN,
    EXEC_K_DISABLE,
    EXEC_K_MIGRATE,
    EXEC_K_APPLY,
    EXEC_K_APPLY_CDN,
    EXEC_K_REBOOT,
    EXEC_K_RESTART_AGENT,
    EXEC_K_ENABLE,
    EXEC_K_CLEAN,
    EXEC_K_UNDO,
    EXEC_K_UPGRADE,
    EXEC_K_RESTORE,
    EXEC_K_GATE,   /* health gate (exec_gate.c, docs/health-gates.md) */
    EXEC_K_CANCEL, /* not journaled: the cancel procedure of a pool (undo list, update removal) */
    EXEC_K_COUNT
};

enum exec_kind_flag {
    /* A derived "done" still runs the step (read-only or idempotent: precheck, clean, undo). */
    EXEC_KF_RUN_ALWAYS = 1u << 0,
    /* The effect is a host coming back: wait deadline env.host_return_timeout_ms. */
    EXEC_KF_HOST_RETURN = 1u << 1,
    /* A live migration: several per lane at once, retargeted on the codes of `retarget`. */
    EXEC_KF_MIGRATION = 1u << 2,
    /* Public name "migrate_back" instead of public_name when params.back is true. */
    EXEC_KF_BACK_NAME = 1u << 3,
    /* Found done on resume: result {"already_introduced": true} (the update is in the pool). */
    EXEC_KF_DONE_INTRODUCED = 1u << 4,
    /* Needs no host (steps without a host run one at a time). */
    EXEC_KF_POOL = 1u << 5,
    /* Accepted without a visible sign (toolstack restart): a step found sent (intent with its
     * recorded times) but not done first waits a short while for its effect, and is sent
     * again only if it does not show. */
    EXEC_KF_MAYBE_SENT = 1u << 6,
};

enum derive {
    DERIVE_RESEND = 0, /* the effect is not there: (re)send the action */
    DERIVE_DONE,       /* the effect is visible: journal done, send nothing */
    DERIVE_WAIT        /* the action is under way (host rebooting, VM migrating): only wait */
};
const char *exec_derive_name(enum derive d);

struct err;
struct exec_step;

/* One row per step kind: everything the executor does differently per kind. */
struct exec_kind_def {
    enum exec_kind kind;
    const char *name;        /* as journaled */
    const char *public_name; /* the REST API's (docs/rest-api.md) */
    /* Resume rule: is the effect of this step visible in v (done), under way (wait), or not
     * there (resend)?  later_steps: the journal has steps of the pool after this one.  Pure. */
    enum derive (*derive)(const struct xapi_records *v, const char *host, const json_t *params,
                          bool later_steps);
    /* Start the step (intent journaled by it); impure, exec_*.c.  NULL in the pure tests. */
    void (*send)(struct exec_step *s);
    /* In flight: an operation is running on the step's object (its current_operations), so
     * the step waits for it to end and reads the pool again instead of sending.  NULL when
     * xapi shows nothing (the wait is then for the effect itself).  Pure. */
    bool (*busy)(const struct xapi_records *v, const char *host, const json_t *params);
    int64_t wait_ms;           /* deadline of the wait for the effect (0: host return timeout) */
    const char *timeout_code;  /* the outcome when that deadline passes */
    const char *const *benign; /* NULL-terminated codes meaning "the effect is already there" */
    const char *const *in_progress; /* codes meaning "the same operation is already running" */
    const char *const *retarget;    /* migrations: codes that send the VM elsewhere */
    unsigned flags;                 /* enum exec_kind_flag */
    /* While waiting for the effect: a state that will never become the effect (an upgraded
     * host back on its old version), as the failure code; NULL when none.  Pure. */
    const char *(*wrong)(const struct xapi_records *v, const char *host, const json_t *params);
};

/* The upgrade kinds' rules (exec_upgrade.c; pure): the upgrade done on the target version (the
 * master: and every host live again), the restore done when its VMs run. */
enum derive exec_upgrade_derive(const struct xapi_records *v, const char *host,
                                const json_t *params, bool later_steps);
const char *exec_upgrade_wrong(const struct xapi_records *v, const char *host,
                               const json_t *params);
enum derive exec_restore_derive(const struct xapi_records *v, const char *host,
                                const json_t *params, bool later_steps);

/* The first update a reboot step is for (params.updates: uuids, recorded with its intent from the
 * host's updates_requiring_reboot) that is in the pool but not applied on the host — it came
 * back on its old installation — or NULL.  Pure. */
const char *exec_reboot_update_missing(const struct xapi_records *v, const char *host,
                                       const json_t *params);
/* The row of a kind name (the EXEC_K_UNKNOWN row for an unknown or NULL name); never NULL. */
const struct exec_kind_def *exec_kind_by_name(const char *name);
/* The row of a kind; never NULL. */
const struct exec_kind_def *exec_kind_def(enum exec_kind k);
/* True when an operation is running on the object of a fix / undo record (the VM, host or pool
 * it names: current_operations not empty).  Pure. */
bool exec_fix_busy(const struct xapi_records *v, const json_t *fix);
/* True when code is in the NULL-terminated list (NULL list: false). */
bool exec_code_in(const char *const *list, const char *code);

/* ---- health gates (exec_gate.c, docs/health-gates.md) ---- */

/* The defaults and limits of a health gate's settings. */
#define EXEC_GATE_TIMEOUT_S     60
#define EXEC_GATE_TIMEOUT_MAX_S 3600
#define EXEC_GATE_OUTPUT_LIMIT  4096
#define EXEC_GATE_OUTPUT_MIN    256
#define EXEC_GATE_OUTPUT_MAX    65536
#define EXEC_GATE_WAIT_S        60
#define EXEC_GATE_COMMAND_MAX   4096

/*
 * Check a health gate's settings {"command" | "url", "timeout_s", "output_limit", "builtin",
 * "wait_s"} (every key optional; command and url exclusive) and fill in the defaults: *out a new
 * object.  PP_EINVAL names the key that is wrong.  Pure.
 */
int exec_gate_spec_check(const json_t *in, json_t **out, struct err *e);
/*
 * The built-in gate: the host is live, every PBD of it is currently_attached, and each VM of
 * back_vms (refs of the VMs migrated back to it) runs on it.  False with why (what is wrong,
 * objects named) otherwise.  Pure.
 */
bool exec_gate_builtin(const struct xapi_records *v, const char *host, const json_t *back_vms,
                       char *why, size_t why_len);
/* The hook's environment: base (NULL-terminated "K=V", may be NULL) without any POOLPATCH_*
 * entry, then POOLPATCH_<KEY>=value per string / integer member of facts (key upper-cased).
 * New NULL-terminated array of new strings (exec_gate_envp_free).  Pure. */
char **exec_gate_envp(const char *const *base, const json_t *facts);
void exec_gate_envp_free(char **envp);
/* Output as text a person can read in a report: well-formed UTF-8 kept, other bytes and
 * control characters except newline and tab as '?'; "... (N bytes in all, truncated)" appended
 * when total > len.  New string.  Pure. */
char *exec_gate_output_text(const char *data, size_t len, size_t total);

/* ---- plans to steps ---- */

/* The batch number of precheck steps (host lanes before any host goes down). */
#define EXEC_BATCH_PRECHECK 1000000

/* A growable list of step specs whose strings it owns. */
struct spec_list {
    struct store_step_spec *items;
    size_t n, cap;
    char **owned;
    size_t n_owned, cap_owned;
};
void exec_spec_list_cleanup(struct spec_list *l);
/* Append a step (copies the strings; params may be NULL = "{}"). */
void exec_spec_list_add(struct spec_list *l, const char *pool, const char *host, const char *kind,
                        json_t *params_take);

/* The options re-planning needs, kept in the replan step's params so a resumed rollout has
 * them: {"mode","policy","selected":[],"hosts":[],"max_parallel_hosts","vm_overhead"}. */
json_t *exec_opts_to_json(const struct plan_opts *o);
/* Fill o (plan_opts_init first) from j; strings borrowed from j.  Arrays allocated into
 * *sel / *hosts (free them). */
void exec_opts_from_json(const json_t *j, struct plan_opts *o, const char ***sel,
                         const char ***hosts);

/*
 * The first steps of a pool: one resolve per fix of r, upload + introduce per update of the
 * plan, precheck per (host to update, update), then replan (params: opts_json, taken).
 * files_path(uuid) gives the local file of an update (NULL when missing: PP_EINVAL).
 */
int exec_steps_initial(const char *pool, const struct plan *p, const struct plan_resolution *r,
                       const char *(*file_for)(void *ctx, const char *uuid), void *ctx,
                       json_t *opts_json, struct spec_list *out, struct err *e);
/* One resolve step per fix of r, in r's order (r may be NULL). */
void exec_steps_resolve(const char *pool, const struct plan_resolution *r, struct spec_list *out);
/*
 * The steps after re-planning: per batch, per host in plan order, the host's actions (disable,
 * one migrate per VM, apply..., reboot / restart_agent, enable, migrations back), every host
 * step with params.batch; then clean per uploaded update (uploads) and the final undo.
 */
void exec_steps_hosts(const char *pool, const struct plan *p, const char *const *uploads,
                      size_t n_uploads, struct spec_list *out);
/*
 * Siblings' long steps together: true when step i of the batch [i0, end) of l (kinds[k] the
 * kind of step k) is a long step (apply, reboot, toolstack restart) that should wait because
 * another host of the batch is still evacuating (an unfinished migration before its own first
 * long step) and has at least as many long steps left as i's host: started in the same turn as
 * that host's, the batch's applies, reboots and returns end together and are seen in one
 * event.from answer each, and the batch ends no later (its last host's chain decides it).
 */
bool exec_steps_align_wait(const struct store_step_list *l, const enum exec_kind *kinds, size_t i0,
                           size_t end, size_t i);

/* ---- a read-only view of XAPI records (the client cache, or a test's table) ---- */

/* struct xapi_records (xapi/records.h): the client cache's view, or a test's table. */

/* Small look-ups used by the driver and the derivation. */
const struct xapi_value *exec_xv_pool(const struct xapi_records *v, const char **ref);
/* The pool_update record (and its ref) with that uuid, or NULL. */
const struct xapi_value *exec_xv_update_by_uuid(const struct xapi_records *v, const char *uuid,
                                                const char **ref);
bool exec_xv_host_live(const struct xapi_records *v, const char *host);
/* other_config[key] of a host, "" when absent (borrowed). */
const char *exec_xv_host_oc(const struct xapi_records *v, const char *host, const char *key);
/* True when every PBD of the host is currently_attached. */
bool exec_xv_host_pbds_plugged(const struct xapi_records *v, const char *host);
bool exec_xv_update_applied(const struct xapi_records *v, const char *uuid, const char *host);
/* True when the effect of a fix / undo record ({"fix","obj","arg"}) is visible in v. */
bool exec_fix_done(const struct xapi_records *v, const json_t *fix);

/* ---- resume derivation ---- */

/*
 * Decide, for a step whose intent is on disk (or that failed, on Retry), whether its effect is
 * visible in v.  kind / host / params as journaled (params may be NULL).  later_steps: whether
 * the journal has steps of this pool after this one (replan).  Pure.
 */
enum derive exec_derive(const struct xapi_records *v, const char *kind, const char *host,
                        const json_t *params, bool later_steps);

/* Health after a reboot / toolstack restart: live, boot_time (reboot) or agent_start_time
 * changed from the values recorded in params ("boot_before" / "agent_before"), PBDs plugged. */
bool exec_host_healthy(const struct xapi_records *v, const char *host, const json_t *params,
                       bool reboot);

/* The undo record of a resolve fix, filled from the current records (e.g. disable_ha keeps the
 * heartbeat SRs and configuration, eject_cd the VDI, suspend/shutdown the VM's host).  New
 * reference or NULL when the fix needs no undo. */
json_t *exec_undo_for_fix(const struct xapi_records *v, const json_t *fix);

/* The executor's store (borrowed); exec_json.c reads the journal through it. */
struct exec;
struct store *exec_store(struct exec *x);

/* The REST API's name of a step kind (migrate -> evacuate / migrate_back, restart_agent ->
 * restart_toolstack, replan -> precheck, undo -> restore, ...); params may be NULL. */
const char *exec_public_step(const char *kind, const json_t *params);

/* ---- verified end states (verify.c) ---- */

/* What a rollout must give back, read from the pool when it starts and kept in its plan (the
 * pool's "before"): {"pool","pool_name","ha","vms":[{ref,name}] (running, not control domains,
 * templates or snapshots),"hosts":[{ref,name,enabled,live}],"updates":[uuid]}.  New reference. */
json_t *exec_before_snapshot(const struct xapi_records *v);
/* True when the update was in the pool when the rollout started (NULL snapshot: false). */
bool exec_before_has_update(const json_t *before, const char *uuid);

/* When the verification runs: the pool's work ended done, halted, or its cancel ended. */
enum exec_verify_after { EXEC_VERIFY_DONE = 0, EXEC_VERIFY_HALTED, EXEC_VERIFY_CANCEL };

struct exec_verify_in {
    enum exec_verify_after after;
    const json_t *before; /* exec_before_snapshot, or NULL (a rollout of an older version) */
    const json_t *undo;   /* array: every undo record of the pool's steps (replayed or not) */
    const json_t *images; /* array: per upload {"uuid","vdi" (the upload's, "" when none),
                             "ours" (the update was not in the pool before)} */
};

/*
 * The findings: the pool's records (v) against the rollout's claims.  A new array of
 * {"code","ref","object","message","action"}: undo records whose effect is not visible
 * (HA_OFF, HOST_DISABLED, HOST_ENABLED, CD_EJECTED, VM_SUSPENDED, VM_SHUT_DOWN), VMs that ran
 * before and do not run once on a live host (VM_GONE, VM_NOT_RUNNING, VM_HOST_NOT_LIVE), hosts
 * enabled / live before and not now (HOST_DISABLED, HOST_NOT_LIVE), HA on before and off now;
 * after done or cancel also images of updates this rollout introduced still on an SR
 * (IMAGE_LEFT) and, after a cancel, such updates applied nowhere (UPDATE_LEFT).  Messages name
 * objects by name_label; the action says what to do (while halted: kept on purpose).  Pure.
 */
json_t *exec_verify(const struct xapi_records *v, const struct exec_verify_in *in);
/* The findings' messages joined by "; " (new string). */
char *exec_findings_summary(const json_t *findings);
/* A cancel is complete (state cancelled) only when every undo item was replayed and the
 * verification found nothing; otherwise it is cancel_failed. */
bool exec_cancel_complete(bool every_undo_done, const json_t *findings);

/* ---- errors ---- */

/* A plain-language explanation of an XAPI (or our own) error code; never NULL.  The table
 * (explain.c) is the one list of codes docs/engine.md "Error codes" shows; a code ending in
 * '*' there stands for a family (SR_BACKEND_FAILURE_*, UPDATE_PRECHECK_FAILED_*). */
const char *exec_explain(const char *code);
/* The i-th code of that table, NULL past its end (for the docs test). */
const char *exec_explain_code(size_t i);
/* msg with every OpaqueRef and uuid of an object in v replaced by its name_label (kept when the
 * object is unknown or unnamed).  New string.  Pure. */
char *exec_name_refs(const struct xapi_records *v, const char *msg);

/* ---- the master-lost watchdog's decision (exec_pump.c; pure) */
struct exec_lost_in {
    bool driving;     /* the pool runs, cancels, or halts with steps still in flight */
    bool in_flight;   /* steps are in flight */
    bool own_wait;    /* one waits for a host's return (our reboot: its own deadline) or verifies */
    bool master_lost; /* the pool's client has no master (reconnecting, emergency, failed) */
    unsigned gen;     /* the client's cache generation: a new snapshot = the master answered */
    int64_t now_ms;   /* the engine clock */
    int64_t bound_ms; /* the host return timeout */
};
struct exec_lost_watch {
    int64_t since; /* when the count started (0: not counting) */
    unsigned gen;  /* the generation last seen */
};
/* One look (every tick): counts while in->driving, in->in_flight, in->master_lost and not
 * in->own_wait, restarting when the generation moves.  True when the master has been lost for
 * bound_ms: the steps in flight must fail MASTER_LOST (w restarts). */
bool exec_lost_look(struct exec_lost_watch *w, const struct exec_lost_in *in);

#endif
