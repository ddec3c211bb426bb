/* SPDX-License-Identifier: MIT */
/*
 * alerts.h - update notifications computed the way XenCenter does (docs/reference/xencenter.md
 * section 2; xenserver/xenadmin XenAdmin/Core/Updates.cs NewXenServerPatchAlerts,
 * PatchCanBeInstalledOnHost, NewXenServerVersionAlerts, and the alert classes in
 * XenAdmin/Alerts/Types/).
 *
 * Pure: a catalog and a set of pools in, a list of alerts out.  An alert_list borrows the catalog
 * and the pools (pointers into them): both must outlive it.  Alerts own their strings.  Plain
 * data: build in one thread, then read from any.
 */
#ifndef PP_PLAN_ALERTS_H
#define PP_PLAN_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "plan/inventory.h"

struct buf;
struct err;

/* Keys of the pool's other_config where XenCenter keeps dismissals (shared with it). */
#define ALERTS_IGNORE_PATCHES_KEY    "XenCenter.IgnorePatches"
#define ALERTS_LAST_SEEN_VERSION_KEY "XenCenter.LastSeenServerVersion"

enum alert_kind {
    ALERT_PATCH = 0, /* a patch (hotfix, or a CU / new release reachable as an update) */
    ALERT_VERSION    /* a newer server version (latest / latestcr) */
};

/* One host an alert names individually, with its pool. */
struct alert_host {
    const struct inv_pool *pool;
    const struct inv_host *host;
};

struct alert {
    enum alert_kind kind;
    const struct cat_patch *patch;     /* ALERT_PATCH; NULL for ALERT_VERSION */
    const struct cat_version *version; /* ALERT_VERSION: the new version; ALERT_PATCH: the version
                                        * the patch installs (CU / new release) or NULL */
    bool show_as_new_version;          /* ALERT_VERSION, or a patch installing a version without
                                        * present-as-update: listed as "<name> is now available" */
    char *key;            /* dismissal key: the patch uuid, or the version value ("8.2.1") */
    char *name;           /* patch name-label, or the version's name */
    char *title;          /* "New Update Available - XS82E001" / "Citrix Hypervisor 8.2 CU1 is now
                           * available" */
    char *description;    /* as XenCenter shows it (a patch's description plus its installation
                           * size on a new line; a version's download sentence) */
    char *web_page;       /* the KB article or download page URL */
    char *applies_to;     /* the named hosts, then the whole pools, joined with ", " */
    int priority;         /* 0 = unknown, 1 (most urgent) .. 5 */
    int64_t timestamp_ms; /* 0 when unknown */
    const struct inv_pool **pools; /* pools every host of which qualifies */
    size_t n_pools;
    struct alert_host *hosts; /* hosts named one by one (their pool only partly qualifies) */
    size_t n_hosts;
    bool dismissed; /* with include_dismissed: every pool it names has dismissed it */
};

struct alert_list {
    struct alert *v;
    size_t n;
    size_t n_dismissed; /* alerts left out only because every pool they name dismissed them */
};

struct alert_opts {
    bool patches;              /* compute patch alerts (default true) */
    bool versions;             /* compute version alerts (default true) */
    bool include_dismissed;    /* keep dismissed alerts (default false: dropped like XenCenter) */
    const char *product_brand; /* in version alert text (default "XenServer") */
};

/* Defaults as documented above. */
void alert_opts_init(struct alert_opts *o);

/*
 * Compute the alerts for n_pools pools against cat.  For an updates.xml catalog: patch alerts in
 * order of first appearance (pool order, then catalog order), then version alerts (latest, then
 * latestcr).  For a XenServer 8 /updates catalog: one alert per update some host needs (hosts
 * matched by ref to the answer's hosts; no version alerts).  Returns 0, or PP_EINVAL for bad
 * arguments.  out is overwritten (clean it up first if it held alerts).  To show legacy pools and
 * XenServer 8 pools together, compute each and join the lists with alert_list_append.
 */
int alerts_compute(const struct catalog *cat, const struct inv_pool *const *pools, size_t n_pools,
                   const struct alert_opts *opts, struct alert_list *out, struct err *e);
/* Release everything in l; l is empty afterwards.  NULL is a no-op. */
void alert_list_cleanup(struct alert_list *l);
/* Move every alert of src to the end of dst; src is empty afterwards (its catalog and pools must
 * still outlive dst). */
void alert_list_append(struct alert_list *dst, struct alert_list *src);

/*
 * XenCenter's PatchCanBeInstalledOnHost: patch is in the list of the host's catalog version,
 * not applied, every required patch applied, no conflicting patch applied (uuids compared
 * case-insensitively).
 */
bool alerts_patch_installable(const struct catalog *cat, const struct cat_patch *patch,
                              const struct inv_host *host);

/* True when pool has dismissed this alert (its key is in the pool's XenCenter.IgnorePatches or,
 * for a version alert, XenCenter.LastSeenServerVersion). */
bool alerts_is_dismissed(const struct alert *a, const struct inv_pool *pool);

/*
 * The other_config value after dismissing key: current (a comma list, may be NULL or "") plus key
 * unless already present (patch uuids compare case-insensitively, version values exactly).
 * Returns a new heap string.
 */
char *alerts_dismiss_value(const char *current, const char *key, bool case_insensitive);

/* .NET-style "12.3 MB" rendering of a byte count (XenCenter Util.DiskSizeString). */
void alerts_disk_size(struct buf *b, int64_t bytes);

/* XenCenter's StringUtility.NaturalCompare: case-insensitive, digit runs compared as numbers. */
int alerts_natural_cmp(const char *a, const char *b);

#endif
