/* SPDX-License-Identifier: MIT */
/*
 * plan.h - the decisions of a rollout, as pure code: which updates each host needs and in what
 * order, what the after-apply guidance means for each host (reboot / toolstack restart /
 * nothing), where every VM of a host to evacuate goes, which SR receives the update image, and
 * the prechecks with their resolutions ("Resolve All") and exact undo steps.
 *
 * Data in, data out: no I/O, no clock reads (times and measured figures are passed in).  The
 * behaviour follows docs/reference/xencenter.md sections 2 and 3 (XenCenter's Updates.cs and
 * PatchingWizard), with the differences documented in docs/planner.md: uninstallable updates are
 * reported with a reason instead of dropped, hosts go down k at a time when capacity allows, and
 * the `minimal` placement policy leaves VMs on updated hosts.
 *
 * Ownership: a struct plan owns every string and array reachable from it (plan_free).  Input
 * structures are borrowed for the duration of a call only.  Thread: every function is reentrant;
 * a plan may be read from several threads once built.
 */
#ifndef PP_PLAN_PLAN_H
#define PP_PLAN_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "plan/inventory.h"

struct buf;
struct err;

/* ---------------------------------------------------------------- inputs */

enum plan_mode {
    PLAN_MODE_AUTOMATED = 0, /* minimal set, a cumulative update's version chained after it */
    PLAN_MODE_STAY,          /* "stay on the current release": hotfixes only, no CU */
    PLAN_MODE_SELECTED,      /* the updates named in plan_opts.selected (Install Update wizard) */
    PLAN_MODE_UPGRADE        /* rolling pool upgrade to plan_opts.upgrade_to (docs/upgrade.md) */
};

enum plan_policy {
    PLAN_POLICY_RETURN =
        0, /* VMs go back home once their host is updated (XenCenter), <= 2 moves */
    PLAN_POLICY_MINIMAL = 1 /* VMs stay on updated hosts, <= 1 move when capacity allows */
};

/* Live-patch outcome of pool_update.precheck for one host and update (xapi's livepatch_status). */
enum plan_livepatch {
    PLAN_LP_UNKNOWN =
        0,             /* no precheck result yet: a live patch in the update is assumed to apply */
    PLAN_LP_OK,        /* "ok": no live patch for this host, the guidance applies as written */
    PLAN_LP_COMPLETE,  /* "ok_livepatch_complete": no reboot needed */
    PLAN_LP_INCOMPLETE /* "ok_livepatch_incomplete": the live patch does not cover it, reboot */
};

/* Result of xapi's pool_update.precheck (or the XenServer 8 equivalent) for a host.  update_uuid
 * NULL or "" means every update of that host (XenServer 8 applies them together). */
struct plan_precheck_result {
    const char *host_ref;
    const char *update_uuid;
    enum plan_livepatch livepatch;
    const char *error_code;   /* xapi ErrorDescription[0] when the precheck failed, else NULL */
    const char *error_detail; /* the remaining parameters joined with ", ", or NULL */
};

/* Timing figures of a pool, measured or configured (seconds, bytes per second). */
struct plan_timing {
    double reboot_s;         /* reboot until the host is enabled again */
    double apply_s;          /* applying one update */
    double toolstack_s;      /* toolstack restart */
    double vm_restart_s;     /* restarting the VMs of one host */
    double migration_bw;     /* bytes/s of one live migration stream */
    int parallel_migrations; /* concurrent migrations per host */
    double upgrade_s;        /* upgrade: installer run and reboot until the host is back */
};

struct plan_opts {
    enum plan_mode mode;
    enum plan_policy policy;
    const char *const *selected; /* PLAN_MODE_SELECTED: update uuids (any order) */
    size_t n_selected;
    const char *const *hosts; /* hosts chosen by the user (refs); n_hosts == 0: all */
    size_t n_hosts;
    const struct plan_precheck_result *prechecks; /* may be NULL */
    size_t n_prechecks;
    struct plan_timing timing;
    int max_parallel_hosts; /* cap on hosts down at once; 0: as many as capacity allows */
    int64_t vm_overhead;    /* bytes added to each VM's memory when placing it */
    /* PLAN_MODE_UPGRADE: the product version to reach, the install URL (HTTP / NFS / FTP, given
     * to the host plugin prepare_host_upgrade) or manual mode (the operator boots each host from
     * media), and the VMs (refs or names) to shut down rather than suspend on a standalone
     * host. */
    const char *upgrade_to;
    const char *upgrade_url;
    bool upgrade_manual;
    /* then, in the same rollout, the new version's automated updates (XenCenter's "apply
     * updates to the new version"): planned from the pool's catalog once every host is on it */
    bool upgrade_apply_updates;
    const char *const *upgrade_shutdown;
    size_t n_upgrade_shutdown;
    /* XenCenter's "I will carry out the post-update tasks myself": reboots and toolstack
     * restarts are planned as `manual` (left to the user, not counted in the totals) and no
     * evacuation is planned for them (an update's own evacuate guidance still evacuates) */
    bool manual_post_tasks;
};

/* Defaults: automated, policy return (VMs back home, as XenCenter's wizard), reboot 300 s, apply 60
 * s, toolstack 60 s, VM restarts 60 s, 1 GB/s per migration stream, 2 parallel migrations per host,
 * no cap. */
void plan_opts_init(struct plan_opts *o);

/* ---------------------------------------------------------------- output */

enum plan_severity { PLAN_SEV_INFO = 0, PLAN_SEV_WARNING, PLAN_SEV_BLOCKING };

/* One step of a resolution or of its undo. */
enum plan_fix_kind {
    PLAN_FIX_NONE = 0,
    PLAN_FIX_DISABLE_HA,   /* obj: pool */
    PLAN_FIX_ENABLE_HA,    /* obj: pool (the engine re-uses the heartbeat SRs it recorded) */
    PLAN_FIX_ENABLE_HOST,  /* obj: host */
    PLAN_FIX_DISABLE_HOST, /* obj: host */
    PLAN_FIX_PLUG_PBD,     /* obj: host, arg: SR (repair the SR on that host) */
    PLAN_FIX_EJECT_CD,     /* obj: VM, arg: SR of the ISO */
    PLAN_FIX_INSERT_CD,    /* obj: VM, arg: SR of the ISO (the engine journals the VDI it ejects) */
    PLAN_FIX_SUSPEND_VM,   /* obj: VM */
    PLAN_FIX_RESUME_VM,    /* obj: VM, arg: host to resume on */
    PLAN_FIX_SHUTDOWN_VM,  /* obj: VM (clean shutdown) */
    PLAN_FIX_START_VM      /* obj: VM, arg: host to start on */
};

struct plan_fix {
    enum plan_fix_kind kind;
    char *obj_ref;
    char *arg_ref; /* "" when unused */
};

struct plan_check {
    char *id;          /* stable identifier, e.g. "ha_enabled", "evacuate_memory" */
    char *host_ref;    /* "" for pool-wide checks */
    char *vm_ref;      /* "" unless about one VM */
    char *update_uuid; /* "" unless about one update */
    enum plan_severity severity;
    char *message; /* what is wrong and what the user can do */
    bool fixable;
    struct plan_fix fix;  /* kind NONE unless fixable */
    struct plan_fix undo; /* kind NONE when the fix needs no undo */
};

struct plan_migration {
    char *vm_ref;
    char *vm_name;
    char *from_ref;
    char *to_ref;
    int64_t memory;
};

enum plan_action_kind {
    PLAN_ACT_DISABLE = 0, /* host.disable */
    PLAN_ACT_EVACUATE,    /* the migrations listed, to the chosen targets */
    PLAN_ACT_APPLY,       /* pool_update.apply of update_uuid */
    PLAN_ACT_APPLY_CDN,   /* host.apply_updates with the catalog hash (XenServer 8) */
    PLAN_ACT_REBOOT,      /* host reboot (mandatory guidance: mid-sequence) */
    PLAN_ACT_RESTART_TOOLSTACK,
    PLAN_ACT_ENABLE,       /* host.enable */
    PLAN_ACT_MIGRATE_BACK, /* policy return: the migrations listed bring VMs home */
    PLAN_ACT_RESTART_VMS,  /* restart the VMs listed (guidance bits say which kind) */
    PLAN_ACT_UPGRADE,      /* upgrade: prepare (plugin) or wait for the operator, reboot into
                              the installer, wait for the host on the new version */
    PLAN_ACT_RESTORE_VMS   /* upgrade: resume / start the VMs listed (suspended or shut down by
                              Resolve All) on the upgraded host */
};

struct plan_action {
    enum plan_action_kind kind;
    char *update_uuid;                 /* APPLY; APPLY_CDN: the catalog hash; "" otherwise */
    char *label;                       /* APPLY: the update's name; "" otherwise */
    unsigned guidance;                 /* the cat_guidance bits that caused this action */
    bool mandatory;                    /* REBOOT / RESTART_*: mandatory guidance, run at once */
    bool manual;                       /* left to the user (the pool forbids automatic restarts) */
    struct plan_migration *migrations; /* EVACUATE, MIGRATE_BACK */
    size_t n_migrations;
    char **vms; /* RESTART_VMS: VM refs */
    size_t n_vms;
};

/* An update that can never be installed on a host, with the reason. */
struct plan_skip {
    char *uuid;
    char *reason;
    enum plan_severity severity; /* WARNING, or INFO for updates not meant for this host */
};

/* What a host will need, the seed's "update mode" column. */
enum plan_update_mode {
    PLAN_UM_UP_TO_DATE = 0, /* nothing to apply */
    PLAN_UM_NONE,           /* updates, but "No action required" after applying them */
    PLAN_UM_RESTART_VMS,    /* VM restarts only */
    PLAN_UM_TOOLSTACK,      /* toolstack restart */
    PLAN_UM_REBOOT,         /* host reboot */
    PLAN_UM_UPGRADE         /* upgrade to a new release */
};

struct plan_host {
    char *ref;
    char *name;
    bool is_master;
    bool selected;  /* among the hosts to update */
    char *version;  /* matched catalog version value, "" when unmatched */
    char **updates; /* the ordered sequence to apply */
    size_t n_updates;
    struct plan_skip *skipped; /* never installable, with the reason */
    size_t n_skipped;
    struct plan_action *actions;
    size_t n_actions;
    enum plan_update_mode mode;
    bool evacuate;         /* VMs must leave before the first apply */
    bool reboot;           /* at least one host reboot */
    bool toolstack;        /* a toolstack restart (none when a reboot follows it) */
    bool livepatched;      /* a reboot was avoided thanks to a live patch */
    int order;             /* 0 = first; -1 when not updated */
    int batch;             /* hosts with the same batch go down together; -1 when not updated */
    double start_s, end_s; /* predicted, seconds after the rollout starts */
};

struct plan_totals {
    size_t hosts_updated;
    size_t updates;         /* update applications summed over hosts */
    size_t migrations;      /* every live migration, out and back */
    size_t migrations_back; /* of which bring VMs home (policy return) */
    size_t reboots;
    size_t toolstack_restarts;
    size_t livepatched_hosts;
    size_t batches;
    size_t max_batch; /* most hosts down at once */
    int64_t migrated_bytes;
    double window_s; /* predicted window */
    /* DESIGN.md's lower bound for comparison */
    size_t bound_vms;        /* V: running VMs on hosts that must be evacuated */
    size_t bound_migrations; /* V (minimal) or 2V (return) */
    size_t bound_k;          /* hosts spare capacity lets go down at once */
    double bound_window_s;
};

/* What the other placement policy would cost on the same pool (the choice made informed). */
struct plan_alt {
    enum plan_policy policy;
    size_t migrations;
    int64_t migrated_bytes;
    size_t batches;
    double window_s; /* predicted, with this plan's host steps */
    size_t unplaced; /* VMs that policy could not place */
};

struct plan {
    char *pool_ref;
    char *pool_name;
    enum plan_mode mode;
    enum plan_policy policy;
    bool cdn;               /* XenServer 8 repository updates */
    char *cdn_hash;         /* "" for legacy catalogs */
    bool partly_upgraded;   /* hosts on different versions */
    bool automated_refused; /* automated mode impossible for this pool (see checks) */
    char *upload_sr_ref;    /* "" when no upload (XenServer 8, nothing to do) or none fits */
    char *upload_sr_name;
    int64_t upload_bytes;
    char **uploads; /* update uuids uploaded once for the pool, in first-use order */
    size_t n_uploads;
    struct plan_check *checks;
    size_t n_checks;
    struct plan_host *hosts; /* in execution order (the master first), then hosts not updated */
    size_t n_hosts;
    struct plan_totals totals;
    struct plan_alt other; /* the other policy's cost */
    /* PLAN_MODE_UPGRADE: the target version, URL ("" in manual mode), manual mode, and the VMs
     * whose guest tools must be upgraded afterwards (seed step 12: PV drivers older than the
     * new release, plan_tools_outdated; refs). */
    char *upgrade_to;
    char *upgrade_url;
    bool upgrade_manual;
    bool upgrade_apply_updates; /* the new version's updates follow in the same rollout */
    char **tools_vms;
    char **tools_vm_names; /* their names, same order */
    size_t n_tools_vms;
};

/*
 * Plan a rollout of pool against cat with opts (NULL: plan_opts_init defaults).  Returns 0 and a
 * new plan in *out (free with plan_free) even when checks block it: a plan is always something to
 * show.  Errors: PP_EINVAL (NULL pool or catalog, no master, unknown selected host).
 */
int plan_build(const struct inv_pool *pool, const struct catalog *cat, const struct plan_opts *opts,
               struct plan **out, struct err *e);
/* Release; NULL is a no-op. */
void plan_free(struct plan *p);

/* True when no check is blocking, or every blocking one is fixable (Resolve All then works). */
bool plan_can_resolve(const struct plan *p);
/* Number of checks of severity sev. */
size_t plan_count_checks(const struct plan *p, enum plan_severity sev);

/* Resolve All: the fixes to apply, in order, and the undo steps the engine replays at the end
 * (on success, failure and cancel alike), in order.  Arrays owned by struct plan_resolution. */
struct plan_resolution {
    struct plan_fix *fixes;
    size_t n_fixes;
    struct plan_fix *undo;
    size_t n_undo;
};
/* Fill r (caller-owned, zeroed by the call).  PP_ESTATE when a blocking check has no fix (the
 * message names it); r is then empty. */
int plan_resolve_all(const struct plan *p, struct plan_resolution *r, struct err *e);
void plan_resolution_cleanup(struct plan_resolution *r);

/* True when the guest tools of vm must be upgraded after an upgrade to `to` (seed step 12): its
 * PV drivers (VM_guest_metrics.PV_drivers_version, major.minor.micro) are older than `to`, as
 * xapi judged PV_drivers_up_to_date before Dundee (drivers at least the host's product
 * version).  A VM without tools, or with newer ones, is not listed.  Pure. */
bool plan_tools_outdated(const struct inv_vm *vm, const char *to);
/* True when host h already runs version `to` or newer (upgrade: nothing to do there). */
bool plan_host_upgraded(const struct inv_host *h, const char *to);
/*
 * The new version's automated updates an upgrade with upgrade_apply_updates will chain (seed:
 * XenCenter applies the minimal set after installing a release), predicted before it starts so
 * that legacy (updates.xml) update files can be downloaded first: pool planned in
 * PLAN_MODE_AUTOMATED with the legacy catalog cat as it will be once upgraded — every host on
 * o->upgrade_to (the build of cat's version of that value) with no update applied (an upgrade
 * leaves none).  *out is that plan (plan_free it), or NULL when there is nothing to predict:
 * no apply_updates, no catalog, a XenServer 8 catalog, the version not in cat or without a
 * minimal list.  pool is modified during the call and restored before it returns.  Returns 0
 * or plan_build's error.  Pure.
 */
int plan_upgrade_then_updates(struct inv_pool *pool, const struct catalog *cat,
                              const struct plan_opts *o, struct plan **out, struct err *e);

/* ---------------------------------------------------------------- building blocks (also tested
 * on their own) */

/* The ordered update sequence of one host. */
struct plan_seq {
    bool supported; /* false: version unmatched, or no minimal list (automated unsupported) */
    char *version;  /* matched version value or "" */
    char **uuids;   /* ordered: every update follows the ones it requires */
    size_t n;
    struct plan_skip *skipped;
    size_t n_skipped;
};
/*
 * Sequence for host h: mode AUTOMATED / STAY take the matched version's minimal list (AUTOMATED
 * chains the minimal list of the version a trailing CU produces), SELECTED takes `selected`
 * restricted to the host's version.  Already-applied updates are left out; every update follows
 * its requirements, catalog order is kept otherwise; updates whose requirement can never be met,
 * or which conflict with an applied or earlier update, go to skipped with the reason.
 * Legacy catalogs only.  Returns 0 (s filled, release with plan_seq_cleanup).
 */
int plan_host_sequence(const struct catalog *cat, const struct inv_host *h, enum plan_mode mode,
                       const char *const *selected, size_t n_selected, struct plan_seq *s,
                       struct err *e);
void plan_seq_cleanup(struct plan_seq *s);

/* What guidance does to one host (computed from the catalog, the sequence and the prechecks). */
struct plan_guidance_out {
    bool evacuate;
    bool reboot; /* a reboot at the end (deferred) or mid-sequence (mandatory) */
    bool toolstack;
    bool livepatched;
    unsigned vm_restart; /* CAT_G_RESTART_HVM / PV / DM / VM bits */
    enum plan_update_mode mode;
};

/*
 * Choose the SR for update images of `bytes` total: the pool's default SR if shared, attached
 * on the master, allowing VDI creation and with room; else another such shared SR (most free
 * space first); else a local SR of the master with room.  Returns the SR (borrowed) or NULL.
 */
const struct inv_sr *plan_choose_upload_sr(const struct inv_pool *pool, int64_t bytes);

/* ---------------------------------------------------------------- rendering */

/* Names used in renderings and JSON ("reboot", "migrate_back", "blocking", ...). */
const char *plan_action_name(enum plan_action_kind k);
const char *plan_severity_name(enum plan_severity s);
const char *plan_fix_name(enum plan_fix_kind k);
const char *plan_update_mode_name(enum plan_update_mode m); /* "No action required", ... */
const char *plan_policy_name(enum plan_policy p);
const char *plan_mode_name(enum plan_mode m);

/* The plan as a new JSON object (caller json_decref); see docs/planner.md for the schema. */
json_t *plan_to_json(const struct plan *p);
/* Append a human-readable rendering (the CLI's dry run) to b. */
void plan_render_text(const struct plan *p, struct buf *b);

#endif
