/* SPDX-License-Identifier: MIT */
/*
 * explain.c - words for what the executor meets, pure (exec_int.h): the one table of error
 * codes (XAPI's and ours) with a plain-language explanation of each — docs/engine.md "Error
 * codes" lists the same codes, and a unit test holds the two together — and messages with the
 * pool's object references and uuids replaced by names.
 */
#include <ctype.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec_int.h"

/* A code ending in '*' is a prefix (a family of codes). */
static const struct {
    const char *code;
    const char *text;
} explain_tab[] = {
    /* ---- migrations and capacity */
    {"HOST_NOT_ENOUGH_FREE_MEMORY",
     "The target server does not have enough free memory for this VM. Free memory on the other "
     "servers (shut down or move VMs), then Retry."},
    {"VM_REQUIRES_SR",
     "The VM has a disk on storage the target server cannot reach. Attach that SR to the "
     "target server or move the disk to shared storage, then Retry."},
    {"VM_MIGRATE_FAILED",
     "The live migration failed part way; the VM keeps running on its server. Check the "
     "network between the servers, then Retry."},
    {"NO_HOSTS_AVAILABLE", "No other server can run this VM. Free capacity, then Retry."},
    {"VM_HAS_PCI_ATTACHED",
     "The VM uses a PCI device passed through to it: it can be neither migrated nor suspended. "
     "It is shut down cleanly (with your consent in the prechecks) and started again after."},
    {"VM_HAS_VGPU",
     "The VM has a virtual GPU without migration support: it is shut down cleanly (with your "
     "consent) and started again after."},
    {"VM_LACKS_FEATURE_SUSPEND",
     "The VM cannot be suspended (no guest tools or the feature is missing). Install the guest "
     "tools, or shut it down before the update."},
    {"VM_MISSING_PV_DRIVERS",
     "The VM has no guest tools, so it cannot be live-migrated. Install them or shut the VM "
     "down, then Retry."},
    {"VM_BAD_POWER_STATE",
     "The VM is not in the power state the operation needs (already running, suspended or "
     "halted); when restoring this means there is nothing to restore."},
    {"VDI_IN_USE", "A disk is in use by another operation. Wait for it to finish, then Retry."},
    /* ---- hosts */
    {"HOST_OFFLINE",
     "The server is not reachable by the pool. Check that it is powered on and on the "
     "management network, then Retry."},
    {"HOST_RETURN_TIMEOUT",
     "The server did not come back (live, toolstack started, storage attached) in time after "
     "its reboot or toolstack restart. Check its console, then Retry."},
    {"HOST_HAS_RESIDENT_VMS",
     "Running VMs are still on the server (the message names them): a reboot would stop them. "
     "Move or shut them down, then Retry."},
    {"CANNOT_CONTACT_HOST", "The pool master cannot reach this server. Check its network."},
    {"HOST_DISABLED", "The target server is disabled (in maintenance). Enable it or Retry."},
    {"HOST_NOT_DISABLED", "A server must be disabled (maintenance mode) before a reboot."},
    {"HOST_STILL_BOOTING",
     "The server is still starting (or in emergency mode, waiting for its master). Wait a "
     "minute, then Retry."},
    {"MASTER_LOST",
     "The pool master has not answered for longer than the host return timeout (down, or cut "
     "off from the network): nothing in the pool can be driven or read. Bring it back (power, "
     "network), then Retry: each step reads the pool first, so nothing is done twice."},
    {"REBOOT_OLD_VERSION",
     "The server came back from its reboot on its old version: the updates that needed the "
     "reboot are no longer applied on it (it booted its previous installation). Check its boot "
     "configuration, then Retry: they are applied again and the server rebooted again."},
    {"HOST_IS_SLAVE",
     "The address answered is not the pool master (the master moved). poolpatch follows the "
     "new master; if this stays, re-add the pool with the master's address."},
    {"NOT_SUPPORTED_DURING_UPGRADE",
     "XAPI refuses this while the pool runs mixed versions (rolling pool upgrade): it works "
     "again once every server is upgraded."},
    /* ---- HA */
    {"HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN",
     "Disabling this server would break the HA failover plan. Turn HA off or free capacity."},
    {"HA_IS_ENABLED", "High availability must be turned off for this operation."},
    /* ---- updates */
    {"UPDATE_PRECHECK_FAILED_UNKNOWN_ERROR",
     "The update's precheck failed on this server for an unknown reason. See the server's "
     "logs, then Retry."},
    {"UPDATE_PRECHECK_FAILED_PREREQUISITE_MISSING",
     "An update this one requires is not installed on the server. Install it first."},
    {"UPDATE_PRECHECK_FAILED_CONFLICT_PRESENT",
     "An installed update conflicts with this one. Remove the conflict first."},
    {"UPDATE_PRECHECK_FAILED_WRONG_SERVER_VERSION",
     "This update is for another version of the server software."},
    {"UPDATE_PRECHECK_FAILED_OUT_OF_SPACE",
     "The server's control domain lacks disk space for this update. Free space in dom0 "
     "(e.g. old logs or update files), then Retry."},
    {"UPDATE_PRECHECK_FAILED_GPGKEY_NOT_IMPORTED",
     "The key that signed this update is not installed on the server."},
    {"UPDATE_PRECHECK_FAILED_*",
     "The update's precheck failed on this server; the message has xapi's reason."},
    {"PATCH_PRECHECK_FAILED_VM_RUNNING",
     "VMs must be moved off or shut down on this server before the update."},
    {"UPDATE_APPLY_FAILED", "Applying the update failed on the server. See its logs."},
    {"UPDATE_POOL_APPLY_FAILED",
     "Applying the update failed on the server the message names. See its logs."},
    {"APPLY_UPDATES_FAILED",
     "Applying the updates from the repository failed on the server (XenServer 8). See its "
     "logs, then Retry."},
    {"APPLY_UPDATES_IN_PROGRESS",
     "The server is already applying updates; poolpatch waits for it to finish."},
    {"UPDATE_ALREADY_EXISTS", "The update is already uploaded to the pool."},
    {"UPDATE_ALREADY_APPLIED", "The update is already applied on this server: nothing to do."},
    {"UPDATE_IS_APPLIED",
     "The update is applied on a server, so it stays in the pool (only its file is removed)."},
    {"INVALID_UPDATE",
     "xapi refused the uploaded file: it is not a valid update for this pool (wrong file, "
     "damaged download, or a different product). Download it again."},
    {"INVALID_UPDATE_FILE",
     "The update file is not usable: it is not a valid update zip / image (the message says "
     "why). Download it again or pick the right file."},
    {"UPLOAD_TIMEOUT",
     "Sending the update file to the pool did not finish in time. Check the network and the "
     "SR, then Retry."},
    /* ---- storage */
    {"SR_BACKEND_FAILURE_44",
     "The storage repository is full: the update file does not fit. Free space on the SR (or "
     "choose another default SR), then Retry."},
    {"SR_BACKEND_FAILURE_*",
     "The storage repository (SR) reported an error; the message has its code and text. "
     "Check the SR (space, connectivity, its server's logs), then Retry."},
    {"OUT_OF_SPACE", "The SR chosen for the update file is full. Free space, then Retry."},
    /* ---- objects, sessions, permissions */
    {"OTHER_OPERATION_IN_PROGRESS",
     "Another operation is running on this object. Wait for it to finish, then Retry."},
    {"HANDLE_INVALID",
     "The object no longer exists (removed meanwhile); when restoring this means there is "
     "nothing to restore."},
    {"VBD_NOT_EMPTY", "The CD drive already holds a disc: nothing to re-insert."},
    {"VBD_IS_EMPTY", "The CD drive is already empty: nothing to eject."},
    {"SESSION_INVALID", "The session expired; poolpatch logs in again on Retry."},
    {"RBAC_PERMISSION_DENIED",
     "The pool's account may not do this: its XAPI role (for example read-only) lacks the "
     "permission. Rollouts need an account with the Pool Operator role or higher; change the "
     "pool's account, then Retry."},
    /* ---- poolpatch's own */
    {"PLAN_CHANGED",
     "After the prechecks the pool needs something this rollout did not prepare (an update it "
     "did not upload, or a fix that cannot be made). Cancel it and start a new rollout."},
    {"PLAN", "The pool could not be planned again after the prechecks; see the message."},
    {"NOT_DONE",
     "The operation was sent several times and the pool never showed it done. Check the "
     "object in the pool, then Retry."},
    {"TIMEOUT", "The operation took longer than allowed."},
    {"TRANSPORT", "The pool could not be reached over the network."},
    {"CANCELLED", "The operation was cancelled."},
    {"CANCEL_FAILED",
     "The cancel could not put everything back: the findings list what is left (a host "
     "disabled or down, HA off, a VM suspended, an update image on an SR) and what to do. Deal "
     "with the cause (for example power the host on), then retry the cancel."},
    {"DB", "poolpatch could not write its journal (disk full or database error). Fix it, then "
           "Retry."},
    {"UNKNOWN_STEP",
     "The journal holds a step this version of poolpatch does not know (a newer version wrote "
     "it). Run the newer version."},
    /* ---- upgrades (docs/upgrade.md) */
    {"UPGRADE_OLD_VERSION",
     "The server came back on its old version: the installer did not upgrade it."},
    {"UPGRADE_WRONG_VERSION",
     "The installation media at the URL is not the version asked for. Check the URL."},
    {"UPGRADE_PREPARE_FAILED",
     "The host plugin prepare_host_upgrade did not prepare the server for the installer."},
    {"XENAPI_PLUGIN_FAILURE",
     "The host plugin failed on the server (INVALID_URL: the installation URL cannot be read "
     "from it; ERROR_PREPARING_HOST: the installer could not be set up)."},
    {"HEALTH_CHECK_FAILED",
     "The server came back but the built-in health gate did not pass: a storage connection (PBD) "
     "is not attached, or a VM moved back to it is not running (the message names them). Fix it, "
     "then Retry: the gate runs again before the next server begins."},
    {"HEALTH_HOOK_FAILED",
     "Your health hook (the command or URL set with `poolpatch gate set`) failed after the server "
     "came back; its output is in the message. Fix the cause, then Retry: the hook runs again "
     "before the next server begins."},
    {NULL, NULL},
};

/* Explanation of an error code (see exec_int.h): exact codes first, then families. */
const char *exec_explain(const char *code)
{
    if (!code || !*code)
        return "The operation failed; see the message.";
    for (size_t i = 0; explain_tab[i].code; i++)
        if (str_eq(explain_tab[i].code, code))
            return explain_tab[i].text;
    for (size_t i = 0; explain_tab[i].code; i++) {
        size_t n = strlen(explain_tab[i].code);
        if (explain_tab[i].code[n - 1] == '*' && strncmp(code, explain_tab[i].code, n - 1) == 0)
            return explain_tab[i].text;
    }
    return "XAPI refused the operation; see the message for the code and its parameters.";
}

/* The i-th code of the table (see exec_int.h). */
const char *exec_explain_code(size_t i)
{
    return i < sizeof(explain_tab) / sizeof(explain_tab[0]) ? explain_tab[i].code : NULL;
}

/* ---------------------------------------------------------------- names instead of refs */

static const char *const name_classes[] = {"vm",  "host", "sr",  "pool", "pool_update",
                                           "vdi", "pbd",  "vbd", NULL};

struct by_uuid {
    const char *uuid;
    const char *name;
};

static bool uuid_fn(void *ctx, const char *ref, const struct xapi_value *rec)
{
    (void)ref;
    struct by_uuid *b = ctx;
    if (!str_eq_nocase(xapi_struct_str(rec, "uuid", ""), b->uuid))
        return true;
    b->name = xapi_struct_str(rec, "name_label", "");
    return false;
}

/* The name_label of the object with that ref or uuid, or NULL. */
static const char *name_for(const struct xapi_records *v, const char *id, bool is_ref)
{
    for (size_t i = 0; name_classes[i]; i++) {
        const char *n = NULL;
        if (is_ref) {
            const struct xapi_value *r = v->get(v->ctx, name_classes[i], id);
            n = r ? xapi_struct_str(r, "name_label", "") : NULL;
        } else {
            struct by_uuid b = {id, NULL};
            v->foreach (v->ctx, name_classes[i], uuid_fn, &b);
            n = b.name;
        }
        if (n)
            return *n ? n : NULL;
    }
    return NULL;
}

/* Length of a uuid (8-4-4-4-12 hex) at p, or 0. */
static size_t uuid_at(const char *p)
{
    static const int groups[] = {8, 4, 4, 4, 12};
    size_t k = 0;
    for (size_t g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i++, k++)
            if (!isxdigit((unsigned char)p[k]))
                return 0;
        if (g < 4 && p[k++] != '-')
            return 0;
    }
    return isxdigit((unsigned char)p[k]) || p[k] == '-' ? 0 : k;
}

/* Names instead of refs and uuids (see exec_int.h). */
char *exec_name_refs(const struct xapi_records *v, const char *msg)
{
    struct buf b;
    buf_init(&b);
    for (const char *p = msg ? msg : ""; *p;) {
        size_t n = 0;
        bool is_ref = str_has_prefix(p, "OpaqueRef:");
        if (is_ref) {
            n = strlen("OpaqueRef:");
            while (isxdigit((unsigned char)p[n]) || p[n] == '-')
                n++;
        } else if (p == msg || !isalnum((unsigned char)p[-1])) {
            n = uuid_at(p);
        }
        if (n == 0) {
            buf_putc(&b, *p++);
            continue;
        }
        char *id = xstrndup(p, n);
        const char *name = name_for(v, id, is_ref);
        buf_puts(&b, name ? name : id);
        free(id);
        p += n;
    }
    return buf_take(&b);
}
