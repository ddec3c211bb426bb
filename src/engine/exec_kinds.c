/* SPDX-License-Identifier: MIT */
/*
 * exec_kinds.c - the table of step kinds: one row per kind with its journal and public names,
 * how it is sent, its resume rule (done / wait / resend, read from XAPI records), the deadline
 * and outcome of the wait for its effect, the error codes that mean "already there", and flags.
 * The only place that compares kind names; the rest of the executor works on enum exec_kind.
 * docs/engine.md ("Step kinds", "Resume derivation") describes every row.
 */
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "engine/exec_drv.h"
#include "engine/exec_int.h"

static const char *pstr(const json_t *params, const char *key)
{
    const char *s = json_string_value(json_object_get(params, key));
    return s ? s : "";
}

/* ---------------------------------------------------------------- resume rules (pure) */

static enum derive d_resolve(const struct xapi_records *v, const char *host, const json_t *params,
                             bool later)
{
    (void)host, (void)later;
    return exec_fix_done(v, params) ? DERIVE_DONE : DERIVE_RESEND;
}

static enum derive d_update_present(const struct xapi_records *v, const char *host,
                                    const json_t *params, bool later)
{
    (void)host, (void)later;
    return exec_xv_update_by_uuid(v, pstr(params, "uuid"), NULL) ? DERIVE_DONE : DERIVE_RESEND;
}

static enum derive d_replan(const struct xapi_records *v, const char *host, const json_t *params,
                            bool later)
{
    (void)v, (void)host, (void)params;
    return later ? DERIVE_DONE : DERIVE_RESEND;
}

static enum derive host_enabled_is(const struct xapi_records *v, const char *host, bool want)
{
    const struct xapi_value *h = host ? v->get(v->ctx, "host", host) : NULL;
    return h && xapi_struct_bool(h, "enabled", !want) == want ? DERIVE_DONE : DERIVE_RESEND;
}

static enum derive d_disable(const struct xapi_records *v, const char *host, const json_t *params,
                             bool later)
{
    (void)params, (void)later;
    return host_enabled_is(v, host, false);
}

static enum derive d_enable(const struct xapi_records *v, const char *host, const json_t *params,
                            bool later)
{
    (void)params, (void)later;
    return host_enabled_is(v, host, true);
}

static enum derive d_migrate(const struct xapi_records *v, const char *host, const json_t *params,
                             bool later)
{
    (void)host, (void)later;
    const struct xapi_value *vm = v->get(v->ctx, "vm", pstr(params, "vm"));
    if (!vm)
        return DERIVE_DONE; /* the VM is gone: nothing left to move */
    const char *on = xapi_struct_str(vm, "resident_on", "");
    if (str_eq(on, pstr(params, "to")))
        return DERIVE_DONE;
    if (xapi_struct_len(xapi_struct_get(vm, "current_operations")) > 0)
        return DERIVE_WAIT; /* a migration (or another operation) is running */
    bool running = str_eq(xapi_struct_str(vm, "power_state", ""), "Running");
    if (str_eq(on, pstr(params, "from")))
        return running ? DERIVE_RESEND : DERIVE_DONE;
    /* a migration home (policy return) goes home from wherever the VM is: retargeted during
     * its evacuation, it sits on another host than the planned one */
    if (json_is_true(json_object_get(params, "back")) && running)
        return DERIVE_RESEND;
    return DERIVE_DONE; /* resident elsewhere: it left the host, never move it twice */
}

static enum derive d_apply(const struct xapi_records *v, const char *host, const json_t *params,
                           bool later)
{
    (void)later;
    return exec_xv_update_applied(v, pstr(params, "uuid"), host) ? DERIVE_DONE : DERIVE_RESEND;
}

static enum derive d_apply_cdn(const struct xapi_records *v, const char *host, const json_t *params,
                               bool later)
{
    (void)later;
    const struct xapi_value *h = host ? v->get(v->ctx, "host", host) : NULL;
    const char *hash = pstr(params, "hash");
    return h && *hash && str_eq(xapi_struct_str(h, "last_update_hash", ""), hash) ? DERIVE_DONE
                                                                                  : DERIVE_RESEND;
}

static enum derive host_restart(const struct xapi_records *v, const char *host,
                                const json_t *params, bool reboot)
{
    const char *key = reboot ? "boot_time" : "agent_start_time";
    const char *pkey = reboot ? "boot_before" : "agent_before";
    if (!json_object_get(params, pkey))
        return DERIVE_RESEND; /* intent without the recorded times: never sent */
    if (exec_host_healthy(v, host, params, reboot))
        return DERIVE_DONE;
    if (!exec_xv_host_live(v, host) || !str_eq(exec_xv_host_oc(v, host, key), pstr(params, pkey)))
        return DERIVE_WAIT; /* going down, or back up but not healthy yet */
    /* The master marks a host not live at once when it accepts a reboot (xapi.md §2): a live
     * host with the old boot_time never took it, so sending it is not a second one. */
    return DERIVE_RESEND;
}

/* The updates a reboot is for (params.updates, recorded with its intent from the host's
 * updates_requiring_reboot) that are in the pool but no longer applied on the host: it came back
 * on its old installation (see exec_int.h). */
const char *exec_reboot_update_missing(const struct xapi_records *v, const char *host,
                                       const json_t *params)
{
    const json_t *ups = json_object_get(params, "updates");
    for (size_t i = 0; i < json_array_size(ups); i++) {
        const char *u = json_string_value(json_array_get(ups, i));
        if (u && exec_xv_update_by_uuid(v, u, NULL) && !exec_xv_update_applied(v, u, host))
            return u;
    }
    return NULL;
}

static enum derive d_reboot(const struct xapi_records *v, const char *host, const json_t *params,
                            bool later)
{
    (void)later;
    enum derive d = host_restart(v, host, params, true);
    /* healthy but back without the updates it rebooted for: reboot again after applying them */
    return d == DERIVE_DONE && exec_reboot_update_missing(v, host, params) ? DERIVE_RESEND : d;
}

/* While waiting for the reboot: the host is back healthy on its old installation. */
static const char *w_reboot(const struct xapi_records *v, const char *host, const json_t *params)
{
    return host_restart(v, host, params, true) == DERIVE_DONE &&
                   exec_reboot_update_missing(v, host, params)
               ? "REBOOT_OLD_VERSION"
               : NULL;
}

static enum derive d_restart_agent(const struct xapi_records *v, const char *host,
                                   const json_t *params, bool later)
{
    (void)later;
    return host_restart(v, host, params, false);
}

/* precheck (read-only), clean (idempotent), undo (each item marked) */
static enum derive d_always(const struct xapi_records *v, const char *host, const json_t *params,
                            bool later)
{
    (void)v, (void)host, (void)params, (void)later;
    return DERIVE_RESEND;
}

/* ---------------------------------------------------------------- in flight (pure) */

static bool ops_running(const struct xapi_records *v, const char *cls, const char *ref)
{
    const struct xapi_value *r = ref && *ref ? v->get(v->ctx, cls, ref) : NULL;
    return r && xapi_struct_len(xapi_struct_get(r, "current_operations")) > 0;
}

/* An operation on a fix's object (see exec_int.h). */
bool exec_fix_busy(const struct xapi_records *v, const json_t *fix)
{
    const char *obj = pstr(fix, "obj");
    return ops_running(v, "vm", obj) || ops_running(v, "host", obj) || ops_running(v, "pool", obj);
}

static bool b_fix(const struct xapi_records *v, const char *host, const json_t *params)
{
    (void)host;
    return exec_fix_busy(v, params);
}

static bool b_vm(const struct xapi_records *v, const char *host, const json_t *params)
{
    (void)host;
    return ops_running(v, "vm", pstr(params, "vm"));
}

static bool b_host(const struct xapi_records *v, const char *host, const json_t *params)
{
    (void)params;
    return ops_running(v, "host", host);
}

/* ---------------------------------------------------------------- the table */

static const char *const benign_update[] = {"UPDATE_ALREADY_APPLIED", "UPDATE_ALREADY_EXISTS",
                                            NULL};
/* resolve: of its fixes only pool.disable_ha can raise HA_NOT_ENABLED, and xapi raises it when
 * HA is already off (xen-api ocaml/xapi/xapi_ha.ml disable: "if not ha_enabled then raise
 * ha_not_enabled"; xapi_pool_helpers.ml: ha_disable not allowed with HA_NOT_ENABLED): the fix's
 * goal holds (a disable_ha sent before the master was lost, resent on Retry). */
static const char *const benign_resolve[] = {"HA_NOT_ENABLED", NULL};
/* "the same operation is running": xapi's OTHER_OPERATION_IN_PROGRESS [class, ref, op, task],
 * XenServer 8's APPLY_UPDATES_IN_PROGRESS (host.apply_updates already running) */
static const char *const in_progress[] = {"OTHER_OPERATION_IN_PROGRESS",
                                          "APPLY_UPDATES_IN_PROGRESS", NULL};
static const char *const retarget_migrate[] = {"HOST_NOT_ENOUGH_FREE_MEMORY", "HOST_DISABLED",
                                               "HOST_OFFLINE", NULL};

#define EFFECT             EXEC_EFFECT_WAIT_MS
#define KF_POOL            EXEC_KF_POOL
#define KF_RUN_ALWAYS      EXEC_KF_RUN_ALWAYS
#define KF_HOST_RETURN     EXEC_KF_HOST_RETURN
#define KF_MIGRATION       EXEC_KF_MIGRATION
#define KF_BACK_NAME       EXEC_KF_BACK_NAME
#define KF_DONE_INTRODUCED EXEC_KF_DONE_INTRODUCED
#define KF_MAYBE_SENT      EXEC_KF_MAYBE_SENT

/* One row per kind: kind, journal name, public name, resume rule, send, in flight, wait
 * deadline (0: the env's host return timeout), its outcome, codes meaning "already there",
 * codes meaning "already running", codes that retarget a migration, flags. */
// clang-format off
static const struct exec_kind_def kinds[EXEC_K_COUNT] = {
    [EXEC_K_UNKNOWN] = {EXEC_K_UNKNOWN, NULL, NULL, d_always, NULL, NULL,
        EFFECT, "TIMEOUT", NULL, NULL, NULL, 0},
    [EXEC_K_RESOLVE] = {EXEC_K_RESOLVE, SK_RESOLVE, "resolve", d_resolve, exec_send_resolve, b_fix,
        EFFECT, "TIMEOUT", benign_resolve, in_progress, NULL, KF_POOL},
    [EXEC_K_UPLOAD] = {EXEC_K_UPLOAD, SK_UPLOAD, "upload", d_update_present, exec_send_upload, NULL,
        EFFECT, "UPLOAD_TIMEOUT", NULL, NULL, NULL, KF_POOL | KF_DONE_INTRODUCED},
    [EXEC_K_INTRODUCE] = {EXEC_K_INTRODUCE, SK_INTRODUCE, "introduce", d_update_present, exec_send_introduce, NULL,
        EFFECT, "TIMEOUT", benign_update, in_progress, NULL, KF_POOL},
    [EXEC_K_PRECHECK] = {EXEC_K_PRECHECK, SK_PRECHECK, "precheck", d_always, exec_send_precheck, NULL,
        EFFECT, "TIMEOUT", benign_update, NULL, NULL, KF_RUN_ALWAYS},
    [EXEC_K_REPLAN] = {EXEC_K_REPLAN, SK_REPLAN, "precheck", d_replan, exec_send_replan, NULL,
        EFFECT, "TIMEOUT", NULL, NULL, NULL, KF_POOL},
    [EXEC_K_DISABLE] = {EXEC_K_DISABLE, SK_DISABLE, "disable", d_disable, exec_send_disable, b_host,
        EFFECT, "TIMEOUT", NULL, in_progress, NULL, 0},
    [EXEC_K_MIGRATE] = {EXEC_K_MIGRATE, SK_MIGRATE, "evacuate", d_migrate, exec_send_migrate, b_vm,
        EFFECT, "TIMEOUT", NULL, in_progress, retarget_migrate, KF_MIGRATION | KF_BACK_NAME},
    [EXEC_K_APPLY] = {EXEC_K_APPLY, SK_APPLY, "apply", d_apply, exec_send_apply, b_host,
        EFFECT, "TIMEOUT", benign_update, in_progress, NULL, 0},
    [EXEC_K_APPLY_CDN] = {EXEC_K_APPLY_CDN, SK_APPLY_CDN, "apply", d_apply_cdn, exec_send_apply_cdn, b_host,
        EFFECT, "TIMEOUT", NULL, in_progress, NULL, 0},
    [EXEC_K_REBOOT] = {EXEC_K_REBOOT, SK_REBOOT, "reboot", d_reboot, exec_send_host_restart, b_host,
        0, "HOST_RETURN_TIMEOUT", NULL, in_progress, NULL, KF_HOST_RETURN, w_reboot},
    [EXEC_K_RESTART_AGENT] = {EXEC_K_RESTART_AGENT, SK_RESTART_AGENT, "restart_toolstack", d_restart_agent, exec_send_host_restart, b_host,
        0, "HOST_RETURN_TIMEOUT", NULL, in_progress, NULL, KF_HOST_RETURN | KF_MAYBE_SENT},
    [EXEC_K_ENABLE] = {EXEC_K_ENABLE, SK_ENABLE, "enable", d_enable, exec_send_enable, b_host,
        EFFECT, "TIMEOUT", NULL, in_progress, NULL, 0},
    [EXEC_K_CLEAN] = {EXEC_K_CLEAN, SK_CLEAN, "clean", d_always, exec_send_clean, NULL,
        EFFECT, "TIMEOUT", NULL, NULL, NULL, KF_POOL | KF_RUN_ALWAYS},
    [EXEC_K_UNDO] = {EXEC_K_UNDO, SK_UNDO, "restore", d_always, exec_send_undo, NULL,
        EFFECT, "TIMEOUT", NULL, NULL, NULL, KF_POOL | KF_RUN_ALWAYS},
    [EXEC_K_UPGRADE] = {EXEC_K_UPGRADE, SK_UPGRADE, "upgrade", exec_upgrade_derive, exec_send_upgrade, b_host,
        EXEC_UPGRADE_WAIT_MS, "HOST_RETURN_TIMEOUT", NULL, in_progress, NULL, KF_HOST_RETURN, exec_upgrade_wrong},
    [EXEC_K_RESTORE] = {EXEC_K_RESTORE, SK_RESTORE, "restore_vms", exec_restore_derive, exec_send_restore, NULL,
        EFFECT, "TIMEOUT", NULL, NULL, NULL, KF_RUN_ALWAYS, NULL},
    [EXEC_K_GATE] = {EXEC_K_GATE, SK_GATE, "health_gate", d_always, exec_send_gate, NULL,
        EFFECT, "TIMEOUT", NULL, NULL, NULL, KF_RUN_ALWAYS, NULL},
    [EXEC_K_CANCEL] = {EXEC_K_CANCEL, "cancel", "cancel", d_always, NULL, NULL,
        EFFECT, "TIMEOUT", NULL, NULL, NULL, KF_POOL},
};
// clang-format on

/* The row of a kind (see exec_int.h). */
const struct exec_kind_def *exec_kind_def(enum exec_kind k)
{
    return (unsigned)k < EXEC_K_COUNT ? &kinds[k] : &kinds[EXEC_K_UNKNOWN];
}

/* The row of a kind name (see exec_int.h). */
const struct exec_kind_def *exec_kind_by_name(const char *name)
{
    for (int k = EXEC_K_UNKNOWN + 1; name && k < EXEC_K_COUNT; k++)
        if (str_eq(kinds[k].name, name))
            return &kinds[k];
    return &kinds[EXEC_K_UNKNOWN];
}

/* Code in a NULL-terminated list (see exec_int.h). */
bool exec_code_in(const char *const *list, const char *code)
{
    for (size_t i = 0; list && code && list[i]; i++)
        if (str_eq(list[i], code))
            return true;
    return false;
}

/* Name of a decision, for logs and tests. */
const char *exec_derive_name(enum derive d)
{
    switch (d) {
    case DERIVE_DONE:
        return "done";
    case DERIVE_WAIT:
        return "wait";
    default:
        return "resend";
    }
}

/* The resume decision (see exec_int.h): the kind's rule. */
enum derive exec_derive(const struct xapi_records *v, const char *kind, const char *host,
                        const json_t *params, bool later_steps)
{
    return exec_kind_by_name(kind)->derive(v, host, params, later_steps);
}

/* The step names of the REST API (docs/rest-api.md) for a journal kind (see exec_int.h). */
const char *exec_public_step(const char *kind, const json_t *params)
{
    const struct exec_kind_def *d = exec_kind_by_name(kind);
    if (d->kind == EXEC_K_UNKNOWN)
        return kind; /* not a step: "cancel", "connect", "done", "rollout" */
    if ((d->flags & EXEC_KF_BACK_NAME) && json_is_true(json_object_get(params, "back")))
        return "migrate_back";
    if (d->kind == EXEC_K_REPLAN && json_is_true(json_object_get(params, "after_upgrade")))
        return "new_version_updates"; /* an upgrade's chained updates (exec_upgrade.c) */
    return d->public_name;
}
