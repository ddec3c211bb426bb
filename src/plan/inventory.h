/* SPDX-License-Identifier: MIT */
/*
 * inventory.h - what a pool has, as plain data: the planner's and the views' input.  Filled by
 * the engine / cli from XAPI records (or by tests and benchmarks directly); never does I/O.
 *
 * Refs are XAPI OpaqueRefs ("OpaqueRef:..."), or any unique string in tests.  A struct inv_pool
 * owns everything reachable from it (heap strings, arrays); inv_pool_free releases it.  Plain
 * data: read concurrently, mutate from one thread.
 */
#ifndef PP_PLAN_INVENTORY_H
#define PP_PLAN_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum inv_power { INV_HALTED = 0, INV_PAUSED, INV_RUNNING, INV_SUSPENDED };

struct inv_pbd {
    char *host_ref;
    bool attached; /* PBD.currently_attached */
};

struct inv_sr {
    char *ref;
    char *uuid;
    char *name_label;
    char *type;         /* "nfs", "lvm", "iso", "udev", ... */
    char *content_type; /* "iso" for ISO libraries, "" otherwise */
    bool shared;
    int64_t physical_size;
    int64_t physical_utilisation;
    bool allows_vdi_create; /* false for ISO / udev SRs */
    struct inv_pbd *pbds;
    size_t n_pbds;
};

struct inv_vm {
    char *ref;
    char *uuid;
    char *name_label;
    enum inv_power power_state;
    char *resident_on; /* host ref, "" when not resident */
    char *affinity;    /* host ref, "" or OpaqueRef:NULL when none */
    int64_t memory;    /* bytes the VM needs on a host (memory_dynamic_max / static_max) */
    char **disk_srs;   /* SR refs of its non-CD VDIs */
    size_t n_disk_srs;
    char *cd_sr;          /* SR of an inserted CD, "" when none or empty drive */
    bool has_pci;         /* PCI passthrough or vGPU attached: cannot live-migrate */
    bool suspend_blocked; /* blocked_operations has suspend */
    bool migrate_blocked; /* blocked_operations has pool_migrate / migrate_send */
    bool ha_protected;    /* ha_restart_priority is "restart" */
    bool auto_poweron;    /* other_config auto_poweron=true */
    bool is_control_domain;
    /* Its PV drivers / guest agent: VM_guest_metrics.PV_drivers_version's major.minor.micro
     * ("8.2.1"), "" or NULL when no guest metrics report them (no tools installed). */
    char *tools_version;
    /* A PV guest: VM.domain_type "pv", or (domain_type "unspecified", before Jura) an empty
     * HVM_boot_policy — as XenCenter's VM.IsPvVm judges it. */
    bool pv_guest;
};

struct inv_host {
    char *ref;
    char *uuid;
    char *name_label;
    char *address; /* management IP */
    bool live;     /* host_metrics.live */
    bool enabled;
    char *product_version; /* software_version.product_version, e.g. "8.2.1" */
    char *platform_version;
    char *build_number; /* software_version.build_number */
    int64_t memory_total;
    int64_t memory_free; /* host.compute_free_memory */
    int64_t memory_overhead;
    int64_t dom0_free_bytes; /* free space for update files in dom0, -1 when unknown */
    char **updates;          /* uuids of pool_updates applied to this host */
    size_t n_updates;
    char **updates_requiring_reboot; /* uuids */
    size_t n_updates_requiring_reboot;
    unsigned pending_guidance; /* enum cat_guidance bits pending (XenServer 8) */
    int64_t boot_time;         /* other_config boot_time, epoch seconds */
    int64_t agent_start_time;  /* other_config agent_start_time, epoch seconds */
    char *edition;             /* host.edition ("free", "enterprise-per-socket", ...), "" */
    /* Not licensed for rolling pool upgrade (XenCenter's Host.RestrictRpu): license_params
     * restrict_rpu is "true", or the key is absent and the edition is "free". */
    bool rpu_restricted;
};

struct inv_pool {
    char *ref;
    char *uuid;
    char *name_label; /* a standalone host's pool has an empty name: show the host's */
    char *master_ref;
    char *default_sr_ref;
    bool ha_enabled;
    char *ignore_patches;     /* other_config XenCenter.IgnorePatches (comma list), "" */
    char *last_seen_versions; /* other_config XenCenter.LastSeenServerVersion, "" */
    bool forbid_auto_restart; /* other_config hci-forbid-update-auto-restart */
    bool
        live_patching_disabled; /* pool.live_patching_disabled: live patches never avoid a reboot */
    struct inv_host *hosts;
    size_t n_hosts;
    struct inv_vm *vms;
    size_t n_vms;
    struct inv_sr *srs;
    size_t n_srs;
};

/* Release a pool and everything in it; NULL is a no-op. */
void inv_pool_free(struct inv_pool *p);
/* Lookups by ref; borrowed pointers, NULL when absent. */
const struct inv_host *inv_pool_host(const struct inv_pool *p, const char *ref);
const struct inv_vm *inv_pool_vm(const struct inv_pool *p, const char *ref);
const struct inv_sr *inv_pool_sr(const struct inv_pool *p, const char *ref);
/* The master host, or NULL. */
const struct inv_host *inv_pool_master(const struct inv_pool *p);
/* True when host has update uuid applied (case-insensitive). */
bool inv_host_has_update(const struct inv_host *h, const char *uuid);
/* True when the SR has a currently attached PBD on host_ref. */
bool inv_sr_attached_on(const struct inv_sr *sr, const char *host_ref);
/* Display name of a pool: its name_label, or the master's name for a nameless (standalone)
 * pool. */
const char *inv_pool_display_name(const struct inv_pool *p);

#endif
