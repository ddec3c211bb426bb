/* SPDX-License-Identifier: MIT */
/*
 * views.h - the two views of XenCenter's Updates tab (docs/reference/xencenter.md section 4;
 * xenserver/xenadmin XenAdmin/TabPages/ManageUpdatesPage.cs):
 *   - By Update: one row per alert, the servers and pools it applies to; cumulative updates and
 *     new releases on top, then sorted by date (newest first) or by pool (applies-to);
 *   - By Server: per pool a pool row then its host rows (coordinator first): version, status
 *     (Up to date / Out of date), required updates, installed updates.
 *
 * Pure.  Rows borrow the alerts, catalog and pools they were built from; those must outlive them.
 * Row strings are owned by the rows.
 */
#ifndef PP_PLAN_VIEWS_H
#define PP_PLAN_VIEWS_H

#include <stdbool.h>
#include <stddef.h>

#include "catalog/catalog.h"
#include "plan/alerts.h"
#include "plan/inventory.h"

enum view_sort {
    VIEW_SORT_DATE = 0, /* XenCenter's default: new versions first, then newest first */
    VIEW_SORT_POOL      /* new versions first, then by applies-to (pool / server names) */
};

struct view_update_row {
    const struct alert *alert; /* borrowed */
    bool on_top;               /* a new version, CU or new release: listed first */
    char *pools;               /* the distinct pools it touches (display names, natural order),
                                * joined with ", " */
};

struct view_update_rows {
    struct view_update_row *v;
    size_t n;
};

/* By Update rows for every alert in l (dismissed ones were already dropped by alerts_compute).
 * out is overwritten. */
void view_by_update(const struct alert_list *l, enum view_sort sort, struct view_update_rows *out);
void view_update_rows_cleanup(struct view_update_rows *r);

/* An update named in a By Server row: its uuid / id and its display name. */
struct view_ref {
    char *id;
    char *name;
};

struct view_server_row {
    bool is_pool;                   /* a pool row (no host) or a host row */
    const struct inv_pool *pool;    /* borrowed */
    const struct inv_host *host;    /* borrowed; NULL for a pool row */
    char *pool_name;                /* the pool's name; "" for a standalone host */
    char *server;                   /* host name (pool rows: the pool's display name) */
    char *version;                  /* product version (pool rows: the coordinator's) */
    bool version_known;             /* the catalog has the host's (all hosts') version */
    bool out_of_date;               /* some required update is missing */
    char *status;                   /* "Up to date" / "Out of date"; "" when the version is unknown.
                                     * Host rows carry it as XenCenter's CSV export does (its grid
                                     * shows it on the pool row only) */
    char *required;                 /* required update names joined with ", " ("" when unknown) */
    char *installed;                /* installed update names, natural order, joined with ", " */
    struct view_ref *required_list; /* the same lists, structured (host rows; NULL otherwise) */
    size_t n_required;
    struct view_ref *installed_list;
    size_t n_installed;
};

struct view_server_rows {
    struct view_server_row *v;
    size_t n;
};

/*
 * By Server rows for n_pools pools (sorted by display name, natural order; hosts coordinator
 * first, then by name).  Required updates follow XenCenter's RequiredUpdatesForHost: the host
 * version's minimal list minus what is applied, or - for a version without a minimal list - the
 * names of the alerts in l that name the host.  Installed updates are the catalog names of the
 * host's applied updates (the uuid when the catalog does not know it).  l may be NULL.
 */
void view_by_server(const struct catalog *cat, const struct inv_pool *const *pools, size_t n_pools,
                    const struct alert_list *l, struct view_server_rows *out);
/*
 * As view_by_server with one catalog per pool: cats[i] serves pools[i] (NULL entries, or cats
 * NULL, fall back to cat).  For a XenServer 8 /updates catalog a host's required updates are the
 * names of the updates its entry lists (hosts matched by ref); a host the answer does not cover
 * has an unknown status.
 */
void view_by_server_multi(const struct catalog *const *cats, const struct catalog *cat,
                          const struct inv_pool *const *pools, size_t n_pools,
                          const struct alert_list *l, struct view_server_rows *out);
void view_server_rows_cleanup(struct view_server_rows *r);

/*
 * VMs whose guest tools must be upgraded (the seed's rolling pool upgrade step 12: older tools on
 * a newer XenServer are unsupported except during the upgrade), read from the pools' own state so
 * that the views show them after any upgrade, across restarts, until the tools are upgraded.
 * A VM is listed when plan_tools_outdated(vm, host's product_version) holds for the host it is
 * judged by: the one it runs on (resident_on, running or paused), else its affinity host, else
 * the coordinator (where it would start).  Control domains and VMs without tools are not listed.
 */
struct view_tools_vm {
    const struct inv_pool *pool; /* borrowed */
    const struct inv_host *host; /* borrowed: the host whose version it is judged by */
    const struct inv_vm *vm;     /* borrowed */
    size_t pool_index;           /* index of pool in the pools given */
};

struct view_tools_vms {
    struct view_tools_vm *v;
    size_t n;
};

/* The VMs of n_pools pools with outdated tools, in the pools' order, then by host (coordinator
 * first, then host name) and VM name (natural order).  out is overwritten. */
void view_tools_outdated(const struct inv_pool *const *pools, size_t n_pools,
                         struct view_tools_vms *out);
void view_tools_vms_cleanup(struct view_tools_vms *r);

#endif
