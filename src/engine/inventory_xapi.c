/* SPDX-License-Identifier: MIT */
/* inventory_xapi.c - XAPI records -> plan inventory (see inventory_xapi.h). */
#include "engine/inventory_xapi.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"
#include "catalog/catalog.h"
#include "xapi/client.h"

/* ---- helpers ---- */

static char *dup_field(const struct xapi_value *rec, const char *key)
{
    return xstrdup(xapi_struct_str(rec, key, ""));
}

static bool is_null_ref(const char *r)
{
    return !r || !*r || strcmp(r, XAPI_NULL_REF) == 0;
}

/* Map member (a struct of strings) value, or def. */
static const char *map_str(const struct xapi_value *rec, const char *map, const char *key,
                           const char *def)
{
    return xapi_struct_str(xapi_struct_get(rec, map), key, def);
}

static int64_t map_int(const struct xapi_value *rec, const char *map, const char *key, int64_t def)
{
    const char *s = map_str(rec, map, key, NULL);
    int64_t v;
    double d;

    if (!s)
        return def;
    if (str_to_int64(s, &v) == 0)
        return v;
    if (str_to_double(s, &d) == 0)
        return (int64_t)d;
    return def;
}

static bool set_contains(const struct xapi_value *set, const char *s)
{
    for (size_t i = 0; i < xapi_array_len(set); i++) {
        if (str_eq(xapi_value_str(xapi_array_get(set, i)), s))
            return true;
    }
    return false;
}

/* Map each ref of set through the pool_update records to uuids. */
static char **update_uuids(const struct xapi_records *src, const struct xapi_value *set, size_t *n)
{
    size_t len = xapi_array_len(set), k = 0;
    char **out = len ? xcalloc(len, sizeof(*out)) : NULL;

    for (size_t i = 0; i < len; i++) {
        const char *ref = xapi_value_str(xapi_array_get(set, i));
        const struct xapi_value *u = ref ? src->get(src->ctx, "pool_update", ref) : NULL;
        const char *uuid = u ? xapi_struct_str(u, "uuid", NULL) : NULL;
        if (uuid && *uuid) {
            char *lc = xstrdup(uuid);
            for (char *p = lc; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            out[k++] = lc;
        }
    }
    *n = k;
    if (!k) {
        free(out);
        return NULL;
    }
    return out;
}

struct collect {
    const struct xapi_records *src;
    struct inv_pool *pool;
    const struct xapi_value *pool_rec;
    const char *pool_ref;
};

static bool find_pool(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct collect *c = ctx;
    c->pool_rec = rec;
    c->pool_ref = ref;
    return false;
}

static unsigned guidance_bits(const struct xapi_value *set)
{
    static const struct {
        const char *wire;
        unsigned bit;
    } map[] = {
        {"reboot_host", CAT_G_RESTART_HOST},
        {"reboot_host_on_livepatch_failure", CAT_G_RESTART_HOST},
        {"reboot_host_on_kernel_livepatch_failure", CAT_G_RESTART_HOST},
        {"reboot_host_on_xen_livepatch_failure", CAT_G_RESTART_HOST},
        {"restart_toolstack", CAT_G_RESTART_XAPI},
        {"restart_device_model", CAT_G_RESTART_DM},
        {"restart_vm", CAT_G_RESTART_VM},
    };
    unsigned bits = 0;

    for (size_t i = 0; i < xapi_array_len(set); i++) {
        const char *s = xapi_value_str(xapi_array_get(set, i));
        for (size_t j = 0; s && j < sizeof(map) / sizeof(map[0]); j++)
            if (strcmp(s, map[j].wire) == 0)
                bits |= map[j].bit;
    }
    return bits;
}

static bool add_host(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct collect *c = ctx;
    struct inv_pool *p = c->pool;
    struct inv_host *h;
    const char *mref = xapi_struct_str(rec, "metrics", "");
    const struct xapi_value *m =
        is_null_ref(mref) ? NULL : c->src->get(c->src->ctx, "host_metrics", mref);

    p->hosts = vec_grow_implied(p->hosts, p->n_hosts, sizeof(*p->hosts));
    h = &p->hosts[p->n_hosts++];
    memset(h, 0, sizeof(*h));
    h->ref = xstrdup(ref);
    h->uuid = dup_field(rec, "uuid");
    h->name_label = dup_field(rec, "name_label");
    h->address = dup_field(rec, "address");
    h->enabled = xapi_struct_bool(rec, "enabled", false);
    h->live = m ? xapi_struct_bool(m, "live", false) : false;
    h->memory_total = m ? xapi_struct_int(m, "memory_total", 0) : 0;
    h->memory_overhead = xapi_struct_int(rec, "memory_overhead", 0);
    h->product_version = xstrdup(map_str(rec, "software_version", "product_version", ""));
    h->platform_version = xstrdup(map_str(rec, "software_version", "platform_version", ""));
    h->build_number = xstrdup(map_str(rec, "software_version", "build_number", ""));
    h->updates = update_uuids(c->src, xapi_struct_get(rec, "updates"), &h->n_updates);
    h->updates_requiring_reboot = update_uuids(
        c->src, xapi_struct_get(rec, "updates_requiring_reboot"), &h->n_updates_requiring_reboot);
    h->pending_guidance = guidance_bits(xapi_struct_get(rec, "pending_guidances"));
    h->boot_time = map_int(rec, "other_config", "boot_time", 0);
    h->agent_start_time = map_int(rec, "other_config", "agent_start_time", 0);
    h->dom0_free_bytes = -1;
    h->edition = dup_field(rec, "edition");
    const char *rr = map_str(rec, "license_params", "restrict_rpu", NULL);
    h->rpu_restricted = rr ? str_eq_nocase(rr, "true") : str_eq_nocase(h->edition, "free");
    return true;
}

/* A VM's SRs: disks' SRs and an inserted CD's SR. */
static void vm_disks(const struct xapi_records *src, const struct xapi_value *rec, struct inv_vm *v)
{
    const struct xapi_value *vbds = xapi_struct_get(rec, "VBDs");
    size_t len = xapi_array_len(vbds);

    v->cd_sr = xstrdup("");
    for (size_t i = 0; i < len; i++) {
        const char *bref = xapi_value_str(xapi_array_get(vbds, i));
        const struct xapi_value *vbd = bref ? src->get(src->ctx, "vbd", bref) : NULL;
        const struct xapi_value *vdi;
        const char *sr;
        bool is_cd;

        if (!vbd)
            continue;
        is_cd = str_eq(xapi_struct_str(vbd, "type", ""), "CD");
        if (is_cd && xapi_struct_bool(vbd, "empty", true))
            continue;
        vdi = src->get(src->ctx, "vdi", xapi_struct_str(vbd, "VDI", ""));
        sr = vdi ? xapi_struct_str(vdi, "SR", "") : "";
        if (is_null_ref(sr))
            continue;
        if (is_cd) {
            free(v->cd_sr);
            v->cd_sr = xstrdup(sr);
            continue;
        }
        bool seen = false;
        for (size_t k = 0; k < v->n_disk_srs; k++)
            seen = seen || strcmp(v->disk_srs[k], sr) == 0;
        if (!seen) {
            v->disk_srs = vec_grow_implied(v->disk_srs, v->n_disk_srs, sizeof(char *));
            v->disk_srs[v->n_disk_srs++] = xstrdup(sr);
        }
    }
}

/* The VM's PV drivers version, major.minor.micro of VM_guest_metrics.PV_drivers_version (a
 * (string -> string) map, xenapi-spec.json; keys major / minor / micro / build as
 * xapi_pv_driver_version.ml writes them), or "" without guest metrics or drivers.
 * PV_drivers_up_to_date is not used: deprecated since Dundee, it only repeats
 * PV_drivers_detected and says nothing of the version. */
static char *tools_version(const struct xapi_records *src, const struct xapi_value *rec)
{
    const char *gref = xapi_struct_str(rec, "guest_metrics", "");
    const struct xapi_value *gm =
        is_null_ref(gref) ? NULL : src->get(src->ctx, "vm_guest_metrics", gref);
    const char *maj = gm ? map_str(gm, "PV_drivers_version", "major", "") : "";
    if (!*maj)
        return xstrdup("");
    return xasprintf("%s.%s.%s", maj, map_str(gm, "PV_drivers_version", "minor", "0"),
                     map_str(gm, "PV_drivers_version", "micro", "0"));
}

static enum inv_power parse_power(const char *s)
{
    if (str_eq(s, "Running"))
        return INV_RUNNING;
    if (str_eq(s, "Paused"))
        return INV_PAUSED;
    if (str_eq(s, "Suspended"))
        return INV_SUSPENDED;
    return INV_HALTED;
}

static bool add_vm(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct collect *c = ctx;
    struct inv_pool *p = c->pool;
    struct inv_vm *v;
    const struct xapi_value *blocked = xapi_struct_get(rec, "blocked_operations");
    int64_t mem;

    if (xapi_struct_bool(rec, "is_a_template", false) ||
        xapi_struct_bool(rec, "is_a_snapshot", false))
        return true;
    if (xapi_struct_bool(rec, "is_control_domain", false)) {
        /* dom0's memory is not available to guests: count it with its host's overhead, as
         * xapi's host.compute_free_memory does (xapi_host_helpers / memory_check.ml). */
        const char *on = xapi_struct_str(rec, "resident_on", "");
        for (size_t i = 0; i < p->n_hosts; i++)
            if (strcmp(p->hosts[i].ref, on) == 0)
                p->hosts[i].memory_overhead += xapi_struct_int(rec, "memory_dynamic_max", 0) +
                                               xapi_struct_int(rec, "memory_overhead", 0);
        return true;
    }
    p->vms = vec_grow_implied(p->vms, p->n_vms, sizeof(*p->vms));
    v = &p->vms[p->n_vms++];
    memset(v, 0, sizeof(*v));
    v->ref = xstrdup(ref);
    v->uuid = dup_field(rec, "uuid");
    v->name_label = dup_field(rec, "name_label");
    v->power_state = parse_power(xapi_struct_str(rec, "power_state", ""));
    v->resident_on = xstrdup(is_null_ref(xapi_struct_str(rec, "resident_on", ""))
                                 ? ""
                                 : xapi_struct_str(rec, "resident_on", ""));
    v->affinity = xstrdup(is_null_ref(xapi_struct_str(rec, "affinity", ""))
                              ? ""
                              : xapi_struct_str(rec, "affinity", ""));
    mem = xapi_struct_int(rec, "memory_dynamic_max", 0);
    if (mem <= 0)
        mem = xapi_struct_int(rec, "memory_static_max", 0);
    /* what the VM takes on a host: its memory plus xapi's per-VM overhead */
    v->memory = mem + xapi_struct_int(rec, "memory_overhead", 0);
    vm_disks(c->src, rec, v);
    /* PCI passthrough is configured by other_config:pci (xen-api ocaml/xapi/pciops.ml
     * other_pcidevs_of_vm), attached_PCIs lists what a running VM holds */
    v->has_pci = xapi_array_len(xapi_struct_get(rec, "attached_PCIs")) > 0 ||
                 xapi_array_len(xapi_struct_get(rec, "VGPUs")) > 0 ||
                 *map_str(rec, "other_config", "pci", "");
    v->suspend_blocked = xapi_struct_get(blocked, "suspend") != NULL;
    v->migrate_blocked = xapi_struct_get(blocked, "pool_migrate") != NULL ||
                         xapi_struct_get(blocked, "migrate_send") != NULL;
    v->ha_protected = str_eq(xapi_struct_str(rec, "ha_restart_priority", ""), "restart");
    v->auto_poweron = str_eq(map_str(rec, "other_config", "auto_poweron", ""), "true");
    v->tools_version = tools_version(c->src, rec);
    const char *dt = xapi_struct_str(rec, "domain_type", "unspecified");
    v->pv_guest = str_eq(dt, "pv") || ((str_eq(dt, "unspecified") || !*dt) &&
                                       !*xapi_struct_str(rec, "HVM_boot_policy", "x"));
    return true;
}

static bool add_sr(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct collect *c = ctx;
    struct inv_pool *p = c->pool;
    struct inv_sr *s;
    const struct xapi_value *pbds = xapi_struct_get(rec, "PBDs");

    p->srs = vec_grow_implied(p->srs, p->n_srs, sizeof(*p->srs));
    s = &p->srs[p->n_srs++];
    memset(s, 0, sizeof(*s));
    s->ref = xstrdup(ref);
    s->uuid = dup_field(rec, "uuid");
    s->name_label = dup_field(rec, "name_label");
    s->type = dup_field(rec, "type");
    s->content_type = dup_field(rec, "content_type");
    s->shared = xapi_struct_bool(rec, "shared", false);
    s->physical_size = xapi_struct_int(rec, "physical_size", 0);
    s->physical_utilisation = xapi_struct_int(rec, "physical_utilisation", 0);
    s->allows_vdi_create = set_contains(xapi_struct_get(rec, "allowed_operations"), "vdi_create");
    for (size_t i = 0; i < xapi_array_len(pbds); i++) {
        const char *pref = xapi_value_str(xapi_array_get(pbds, i));
        const struct xapi_value *pbd = pref ? c->src->get(c->src->ctx, "pbd", pref) : NULL;
        if (!pbd)
            continue;
        s->pbds = vec_grow_implied(s->pbds, s->n_pbds, sizeof(*s->pbds));
        s->pbds[s->n_pbds].host_ref = dup_field(pbd, "host");
        s->pbds[s->n_pbds].attached = xapi_struct_bool(pbd, "currently_attached", false);
        s->n_pbds++;
    }
    return true;
}

/* Free memory per host: total - overhead - resident running/paused VMs' memory. */
static void compute_free_memory(struct inv_pool *p)
{
    for (size_t i = 0; i < p->n_hosts; i++) {
        struct inv_host *h = &p->hosts[i];
        int64_t used = h->memory_overhead;
        for (size_t k = 0; k < p->n_vms; k++) {
            const struct inv_vm *v = &p->vms[k];
            if ((v->power_state == INV_RUNNING || v->power_state == INV_PAUSED) &&
                strcmp(v->resident_on, h->ref) == 0)
                used += v->memory;
        }
        h->memory_free = h->memory_total > used ? h->memory_total - used : 0;
    }
}

/* Deterministic order (the cache is a hash map): by name, then ref. */
static int cmp_names(const char *na, const char *ra, const char *nb, const char *rb)
{
    int c = strcmp(na, nb);
    return c ? c : strcmp(ra, rb);
}

static int host_cmp(const void *a, const void *b)
{
    const struct inv_host *x = a, *y = b;
    return cmp_names(x->name_label, x->ref, y->name_label, y->ref);
}

static int vm_cmp(const void *a, const void *b)
{
    const struct inv_vm *x = a, *y = b;
    return cmp_names(x->name_label, x->ref, y->name_label, y->ref);
}

static int sr_cmp(const void *a, const void *b)
{
    const struct inv_sr *x = a, *y = b;
    return cmp_names(x->name_label, x->ref, y->name_label, y->ref);
}

/* Convert the source's records into a new inventory (see inventory_xapi.h). */
struct inv_pool *inv_from_xapi(const struct xapi_records *src, struct err *e)
{
    struct collect c = {.src = src};
    struct inv_pool *p;
    const char *oc;

    src->foreach (src->ctx, "pool", find_pool, &c);
    if (!c.pool_rec) {
        err_set(e, PP_ENOTFOUND, "no pool record in the pool's object cache");
        return NULL;
    }
    p = xcalloc(1, sizeof(*p));
    c.pool = p;
    p->ref = xstrdup(c.pool_ref);
    p->uuid = dup_field(c.pool_rec, "uuid");
    p->name_label = dup_field(c.pool_rec, "name_label");
    p->master_ref = dup_field(c.pool_rec, "master");
    p->default_sr_ref = xstrdup(is_null_ref(xapi_struct_str(c.pool_rec, "default_SR", ""))
                                    ? ""
                                    : xapi_struct_str(c.pool_rec, "default_SR", ""));
    p->ha_enabled = xapi_struct_bool(c.pool_rec, "ha_enabled", false);
    p->live_patching_disabled = xapi_struct_bool(c.pool_rec, "live_patching_disabled", false);
    p->ignore_patches = xstrdup(map_str(c.pool_rec, "other_config", "XenCenter.IgnorePatches", ""));
    p->last_seen_versions =
        xstrdup(map_str(c.pool_rec, "other_config", "XenCenter.LastSeenServerVersion", ""));
    oc = map_str(c.pool_rec, "other_config", "hci-forbid-update-auto-restart", NULL);
    p->forbid_auto_restart = oc != NULL;
    src->foreach (src->ctx, "host", add_host, &c);
    src->foreach (src->ctx, "vm", add_vm, &c);
    src->foreach (src->ctx, "sr", add_sr, &c);
    if (p->n_hosts)
        qsort(p->hosts, p->n_hosts, sizeof(*p->hosts), host_cmp);
    if (p->n_vms)
        qsort(p->vms, p->n_vms, sizeof(*p->vms), vm_cmp);
    if (p->n_srs)
        qsort(p->srs, p->n_srs, sizeof(*p->srs), sr_cmp);
    compute_free_memory(p);
    return p;
}
