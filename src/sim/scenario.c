/* SPDX-License-Identifier: MIT */
/*
 * scenario.c - builds the simulated pools from a scenario document (format in
 * docs/simulator.md).  Every error names the offending field by its JSON path, e.g.
 * "pools[0].vms[3].host: no host named \"h9\" in this pool".  Unknown fields are refused so
 * typos do not pass silently.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/jsonx.h"
#include "base/vec.h"
#include "sim/internal.h"

static int get_str(const json_t *o, const char *k, const char *path, bool required, const char *def,
                   const char **out, struct err *e)
{
    const json_t *v = json_object_get(o, k);
    *out = def;
    if (!v) {
        if (required)
            return err_set(e, PP_EINVAL, "%s.%s: missing (a string is required)", path, k);
        return 0;
    }
    if (!json_is_string(v))
        return err_set(e, PP_EINVAL, "%s.%s: expected a string", path, k);
    *out = json_string_value(v);
    return 0;
}

static int get_num(const json_t *o, const char *k, const char *path, double def, double min,
                   double *out, struct err *e)
{
    const json_t *v = json_object_get(o, k);
    *out = def;
    if (!v)
        return 0;
    if (!json_is_number(v))
        return err_set(e, PP_EINVAL, "%s.%s: expected a number", path, k);
    *out = json_number_value(v);
    if (*out < min)
        return err_set(e, PP_EINVAL, "%s.%s: must be at least %g", path, k, min);
    return 0;
}

static int get_bool(const json_t *o, const char *k, const char *path, bool def, bool *out,
                    struct err *e)
{
    const json_t *v = json_object_get(o, k);
    *out = def;
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return err_set(e, PP_EINVAL, "%s.%s: expected true or false", path, k);
    *out = json_is_true(v);
    return 0;
}

static int get_arr(const json_t *o, const char *k, const char *path, const json_t **out,
                   struct err *e)
{
    const json_t *v = json_object_get(o, k);
    *out = v;
    if (v && !json_is_array(v))
        return err_set(e, PP_EINVAL, "%s.%s: expected an array", path, k);
    return 0;
}

static int get_strmap(const json_t *o, const char *k, const char *path, struct xapi_value **out,
                      struct err *e)
{
    const json_t *v = json_object_get(o, k);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_object(v))
        return err_set(e, PP_EINVAL, "%s.%s: expected an object of strings", path, k);
    const char *kk;
    json_t *vv;
    json_object_foreach((json_t *)v, kk, vv)
    {
        if (!json_is_string(vv))
            return err_set(e, PP_EINVAL, "%s.%s.%s: expected a string", path, k, kk);
    }
    *out = xapi_value_from_json(v);
    return 0;
}

/* Memory from "<k>_gib" or "<k>_mib" (bytes), def when neither. */
static int get_mem(const json_t *o, const char *k, const char *path, int64_t def, int64_t *out,
                   struct err *e)
{
    char kg[64], km[64];
    double g, m;
    snprintf(kg, sizeof(kg), "%s_gib", k);
    snprintf(km, sizeof(km), "%s_mib", k);
    if (get_num(o, kg, path, -1, 0, &g, e) || get_num(o, km, path, -1, 0, &m, e))
        return e ? e->code : PP_EINVAL;
    *out = def;
    if (g >= 0)
        *out = (int64_t)(g * (double)GIB);
    else if (m >= 0)
        *out = (int64_t)(m * (double)MIB);
    return 0;
}

static const char *const version_keys[] = {
    "product_version", "platform_version", "build_number", "xapi", "xen",
    "product_brand",   "api_major",        "api_minor",    NULL};

/* software_version map from defaults, then pool's "version", then the host's. */
static int build_version(const json_t *pool_v, const json_t *host_v, const char *path,
                         struct xapi_value **sw, int64_t *api_major, int64_t *api_minor,
                         struct err *e)
{
    struct xapi_value *m = xapi_value_new_struct();
    xapi_struct_set_string(m, "product_version", "8.2.1");
    xapi_struct_set_string(m, "product_version_text", "8.2");
    xapi_struct_set_string(m, "product_version_text_short", "8.2 CU1");
    xapi_struct_set_string(m, "platform_name", "XCP");
    xapi_struct_set_string(m, "platform_version", "3.2.1");
    xapi_struct_set_string(m, "product_brand", "Citrix Hypervisor");
    xapi_struct_set_string(m, "build_number", "release/yangtze/master/58");
    xapi_struct_set_string(m, "date", "2022-03-04");
    xapi_struct_set_string(m, "hostname", "localhost");
    xapi_struct_set_string(m, "linux", "4.19.0+1");
    xapi_struct_set_string(m, "network_backend", "openvswitch");
    xapi_struct_set_string(m, "xapi", "1.249");
    xapi_struct_set_string(m, "xapi_build", "1.249.26");
    xapi_struct_set_string(m, "xen", "4.13.5-9.40");
    xapi_struct_set_string(m, "xencenter_min", "2.16");
    xapi_struct_set_string(m, "xencenter_max", "2.20");
    xapi_struct_set_string(m, "db_schema", "5.603");
    *api_major = 2;
    *api_minor = 20;
    const json_t *layers[2] = {pool_v, host_v};
    for (int l = 0; l < 2; l++) {
        const json_t *v = layers[l];
        if (!v)
            continue;
        char p[300];
        snprintf(p, sizeof(p), "%s%s", path, l == 0 ? ".version(pool)" : ".version");
        if (jsonx_check_keys(v, version_keys, p, e) != 0) {
            xapi_value_free(m);
            return e ? e->code : PP_EINVAL;
        }
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if (!strcmp(k, "api_major") || !strcmp(k, "api_minor")) {
                if (!json_is_integer(x)) {
                    xapi_value_free(m);
                    return err_set(e, PP_EINVAL, "%s.%s: expected an integer", p, k);
                }
                *(k[4] == 'j' ? api_major : api_minor) = json_integer_value(x);
                continue;
            }
            if (!json_is_string(x)) {
                xapi_value_free(m);
                return err_set(e, PP_EINVAL, "%s.%s: expected a string", p, k);
            }
            xapi_struct_set_string(m, k, json_string_value(x));
            if (!strcmp(k, "xapi")) {
                char b[80];
                snprintf(b, sizeof(b), "%s.0", json_string_value(x));
                xapi_struct_set_string(m, "xapi_build", b);
            }
        }
    }
    *sw = m;
    return 0;
}

static int next_address(const char *base, size_t i, char *out, size_t n, struct err *e)
{
    struct in_addr a;
    if (inet_pton(AF_INET, base, &a) != 1)
        return err_set(e, PP_EINVAL, "base_address: \"%s\" is not an IPv4 address", base);
    uint32_t h = ntohl(a.s_addr) + (uint32_t)i;
    if ((h >> 24) != 127)
        return err_set(e, PP_EINVAL, "base_address: host %zu's address leaves 127.0.0.0/8", i);
    a.s_addr = htonl(h);
    if (!inet_ntop(AF_INET, &a, out, (socklen_t)n))
        return err_set(e, PP_EINVAL, "base_address: cannot format");
    return 0;
}

static void set_ref(struct obj *o, const char *f, const struct obj *to)
{
    xapi_struct_set_string(o->rec, f, to ? to->ref : XAPI_NULL_REF);
}

static void add_ref(struct obj *o, const char *f, const struct obj *to)
{
    xapi_array_append_string(xapi_struct_get_mut(o->rec, f), to->ref);
}

static void vm_memory(struct obj *vm, int64_t mem)
{
    xapi_struct_set_int(vm->rec, "memory_static_max", mem);
    xapi_struct_set_int(vm->rec, "memory_dynamic_max", mem);
    xapi_struct_set_int(vm->rec, "memory_dynamic_min", mem);
    xapi_struct_set_int(vm->rec, "memory_static_min", mem < 512 * MIB ? mem : 512 * MIB);
    xapi_struct_set_int(vm->rec, "memory_target", mem);
    /* A flat 1/128 of the VM's memory plus 1 MiB stands in for xapi's shadow / p2m overhead. */
    xapi_struct_set_int(vm->rec, "memory_overhead", mem / 128 + MIB);
}

static struct obj *make_host(struct sim *s, struct world *w, const json_t *jh, const char *path,
                             const json_t *pool_version, const char *addr, int64_t now,
                             struct err *e)
{
    static const char *const keys[] = {"name",
                                       "memory_gib",
                                       "memory_mib",
                                       "address",
                                       "version",
                                       "dom0_memory_gib",
                                       "dom0_memory_mib",
                                       "master",
                                       "enabled",
                                       "cpus",
                                       "edition",
                                       "license_params",
                                       NULL};
    const char *name, *edition;
    int64_t mem, dom0mem;
    double cpus;
    bool enabled;
    struct xapi_value *lic = NULL;
    if (jsonx_check_keys(jh, keys, path, e) || get_str(jh, "name", path, true, NULL, &name, e) ||
        get_mem(jh, "memory", path, 256 * GIB, &mem, e) ||
        get_mem(jh, "dom0_memory", path, 4 * GIB, &dom0mem, e) ||
        get_num(jh, "cpus", path, 32, 1, &cpus, e) ||
        get_bool(jh, "enabled", path, true, &enabled, e) ||
        get_str(jh, "edition", path, false, "", &edition, e) ||
        get_strmap(jh, "license_params", path, &lic, e))
        return NULL;
    struct xapi_value *sw = NULL;
    int64_t amaj = 2, amin = 20;
    if (sim_obj_by_name(w, CL_HOST, name))
        err_set(e, PP_EINVAL, "%s.name: \"%s\" is used twice", path, name);
    if (sim_obj_by_name(w, CL_HOST, name) ||
        build_version(pool_version, json_object_get(jh, "version"), path, &sw, &amaj, &amin, e)) {
        xapi_value_free(lic);
        return NULL;
    }
    struct obj *h = sim_obj_new(w, CL_HOST);
    struct hostx *hx = xcalloc(1, sizeof(*hx));
    hx->o = h;
    hx->w = w;
    hx->up = true;
    hx->mem_total = mem;
    str_lcpy(hx->address, addr, sizeof(hx->address));
    h->x = hx;
    hx->index = s->nhosts;
    s->hosts = vec_grow_implied(s->hosts, s->nhosts, sizeof(*s->hosts));
    s->hosts[s->nhosts++] = hx;
    sim_hmap_put(&s->addrs, hx->address, hx);

    xapi_struct_set_string(h->rec, "name_label", name);
    sim_hmap_put(&w->byname[CL_HOST], sim_fstr(h, "name_label"), h);
    xapi_struct_set_string(h->rec, "hostname", name);
    xapi_struct_set_string(h->rec, "address", addr);
    xapi_struct_set_bool(h->rec, "enabled", enabled);
    /* licensing (host.edition, host.license_params: XenCenter's RestrictRpu reads them) */
    xapi_struct_set_string(h->rec, "edition", edition);
    if (lic)
        xapi_struct_set_take(h->rec, "license_params", lic);
    xapi_struct_set_int(h->rec, "API_version_major", amaj);
    xapi_struct_set_int(h->rec, "API_version_minor", amin);
    xapi_struct_set_string(h->rec, "API_version_vendor", "XenSource");
    xapi_struct_set_string(sw, "hostname", name);
    xapi_struct_set_take(h->rec, "software_version", sw);
    xapi_struct_set_int(h->rec, "memory_overhead", 600 * MIB);
    xapi_struct_set_string(h->rec, "sched_policy", "credit");
    struct xapi_value *cpu = xapi_value_new_struct();
    char nb[32];
    snprintf(nb, sizeof(nb), "%d", (int)cpus);
    xapi_struct_set_string(cpu, "cpu_count", nb);
    xapi_struct_set_string(cpu, "socket_count", "2");
    xapi_struct_set_string(cpu, "vendor", "GenuineIntel");
    xapi_struct_set_take(h->rec, "cpu_info", cpu);
    char t[32];
    snprintf(t, sizeof(t), "%lld.", (long long)(now / 1000 - 86400));
    struct xapi_value *oc = xapi_value_new_struct();
    xapi_struct_set_string(oc, "boot_time", t);
    snprintf(t, sizeof(t), "%lld.", (long long)(now / 1000 - 86340));
    xapi_struct_set_string(oc, "agent_start_time", t);
    xapi_struct_set_string(oc, "iscsi_iqn", "iqn.2026-01.com.example:sim");
    xapi_struct_set_take(h->rec, "other_config", oc);

    struct obj *m = sim_obj_new(w, CL_HOST_METRICS);
    xapi_struct_set_int(m->rec, "memory_total", mem);
    xapi_struct_set_bool(m->rec, "live", true);
    xapi_struct_set_take(m->rec, "last_updated", xapi_value_new_datetime_ms(now));
    hx->metrics = m;
    set_ref(h, "metrics", m);

    struct obj *d = sim_obj_new(w, CL_VM);
    char dn[300];
    snprintf(dn, sizeof(dn), "Control domain on host: %s", name);
    xapi_struct_set_string(d->rec, "name_label", dn);
    xapi_struct_set_bool(d->rec, "is_control_domain", true);
    xapi_struct_set_string(d->rec, "power_state", "Running");
    xapi_struct_set_int(d->rec, "domid", 0);
    vm_memory(d, dom0mem);
    xapi_struct_set_int(d->rec, "memory_overhead", 0);
    set_ref(d, "resident_on", h);
    hx->dom0 = d;
    set_ref(h, "control_domain", d);
    add_ref(h, "resident_VMs", d);
    return h;
}

static struct obj *find_named(struct world *w, enum cls c, const json_t *o, const char *k,
                              const char *path, bool required, struct err *e)
{
    const char *name;
    if (get_str(o, k, path, required, NULL, &name, e) != 0 || !name)
        return NULL;
    struct obj *x = sim_obj_by_name(w, c, name);
    if (!x)
        err_set(e, PP_EINVAL, "%s.%s: no %s named \"%s\" in this pool", path, k,
                c == CL_HOST ? "host"
                : c == CL_SR ? "SR"
                : c == CL_VM ? "VM"
                             : "object",
                name);
    return x;
}

static void add_pbd(struct world *w, struct obj *sr, struct obj *h)
{
    struct obj *p = sim_obj_new(w, CL_PBD);
    set_ref(p, "host", h);
    set_ref(p, "SR", sr);
    xapi_struct_set_bool(p->rec, "currently_attached", true);
    add_ref(sr, "PBDs", p);
    add_ref(h, "PBDs", p);
}

static int make_sr(struct world *w, const json_t *j, const char *path, struct err *e)
{
    static const char *const keys[] = {"name", "type",         "shared", "size_gib", "used_gib",
                                       "host", "content_type", "isos",   NULL};
    const char *name, *type, *ct;
    bool shared;
    double size, used;
    const json_t *isos;
    if (jsonx_check_keys(j, keys, path, e) || get_str(j, "name", path, true, NULL, &name, e) ||
        get_str(j, "type", path, false, "nfs", &type, e) ||
        get_str(j, "content_type", path, false, strcmp(type, "iso") ? "" : "iso", &ct, e) ||
        get_bool(j, "shared", path, false, &shared, e) ||
        get_num(j, "size_gib", path, 1024, 0, &size, e) ||
        get_num(j, "used_gib", path, 0, 0, &used, e) || get_arr(j, "isos", path, &isos, e))
        return e ? e->code : PP_EINVAL;
    if (sim_obj_by_name(w, CL_SR, name))
        return err_set(e, PP_EINVAL, "%s.name: \"%s\" is used twice", path, name);
    struct obj *h = NULL;
    if (!shared) {
        h = find_named(w, CL_HOST, j, "host", path, true, e);
        if (!h)
            return e ? e->code : PP_EINVAL;
    }
    struct obj *sr = sim_obj_new(w, CL_SR);
    xapi_struct_set_string(sr->rec, "name_label", name);
    sim_hmap_put(&w->byname[CL_SR], sim_fstr(sr, "name_label"), sr);
    xapi_struct_set_string(sr->rec, "type", type);
    xapi_struct_set_string(sr->rec, "content_type", ct);
    xapi_struct_set_bool(sr->rec, "shared", shared);
    xapi_struct_set_int(sr->rec, "physical_size", (int64_t)(size * (double)GIB));
    xapi_struct_set_int(sr->rec, "physical_utilisation", (int64_t)(used * (double)GIB));
    xapi_struct_set_int(sr->rec, "virtual_allocation", (int64_t)(used * (double)GIB));
    struct xapi_value *ops = xapi_value_new_array();
    xapi_array_append_string(ops, "vdi_create");
    xapi_array_append_string(ops, "vdi_destroy");
    xapi_array_append_string(ops, "scan");
    xapi_struct_set_take(sr->rec, "allowed_operations", ops);
    if (shared) {
        for (struct obj *x = w->chead[CL_HOST]; x; x = x->cnext)
            add_pbd(w, sr, x);
    } else {
        add_pbd(w, sr, h);
    }
    for (size_t i = 0; isos && i < json_array_size(isos); i++) {
        const json_t *n = json_array_get(isos, i);
        if (!json_is_string(n))
            return err_set(e, PP_EINVAL, "%s.isos[%zu]: expected a file name", path, i);
        struct obj *vdi = sim_obj_new(w, CL_VDI);
        xapi_struct_set_string(vdi->rec, "name_label", json_string_value(n));
        xapi_struct_set_string(vdi->rec, "location", json_string_value(n));
        xapi_struct_set_string(vdi->rec, "type", "user");
        xapi_struct_set_bool(vdi->rec, "read_only", true);
        xapi_struct_set_int(vdi->rec, "virtual_size", 50 * MIB);
        xapi_struct_set_int(vdi->rec, "physical_utilisation", 50 * MIB);
        set_ref(vdi, "SR", sr);
        add_ref(sr, "VDIs", vdi);
    }
    return 0;
}

static struct obj *make_vbd(struct world *w, struct obj *vm, struct obj *vdi, bool cd, int dev)
{
    struct obj *b = sim_obj_new(w, CL_VBD);
    char d[16];
    snprintf(d, sizeof(d), "%d", dev);
    set_ref(b, "VM", vm);
    set_ref(b, "VDI", vdi);
    xapi_struct_set_string(b->rec, "userdevice", d);
    xapi_struct_set_string(b->rec, "device", cd ? "xvdd" : "xvda");
    xapi_struct_set_string(b->rec, "type", cd ? "CD" : "Disk");
    xapi_struct_set_string(b->rec, "mode", cd ? "RO" : "RW");
    xapi_struct_set_bool(b->rec, "empty", vdi == NULL);
    xapi_struct_set_bool(b->rec, "bootable", !cd);
    xapi_struct_set_bool(b->rec, "currently_attached",
                         strcmp(sim_fstr(vm, "power_state"), "Running") == 0);
    add_ref(vm, "VBDs", b);
    if (vdi)
        add_ref(vdi, "VBDs", b);
    return b;
}

static int make_vm(struct world *w, const json_t *j, const char *path, struct err *e)
{
    static const char *const keys[] = {
        "name",  "memory_gib",          "memory_mib", "host",     "power_state",        "disks",
        "cd",    "ha_restart_priority", "pci",        "affinity", "blocked_operations", "vcpus",
        "tools", "domain_type",         NULL};
    const char *name, *ps, *prio, *pci, *tools, *dt;
    int64_t mem;
    double vcpus;
    const json_t *disks;
    struct xapi_value *blocked;
    if (jsonx_check_keys(j, keys, path, e) || get_str(j, "name", path, true, NULL, &name, e) ||
        get_mem(j, "memory", path, 4 * GIB, &mem, e) ||
        get_str(j, "power_state", path, false, "Running", &ps, e) ||
        get_str(j, "ha_restart_priority", path, false, "", &prio, e) ||
        get_str(j, "pci", path, false, "", &pci, e) || get_num(j, "vcpus", path, 2, 1, &vcpus, e) ||
        get_arr(j, "disks", path, &disks, e) || get_str(j, "tools", path, false, "", &tools, e) ||
        get_str(j, "domain_type", path, false, "hvm", &dt, e))
        return e ? e->code : PP_EINVAL;
    if (strcmp(dt, "hvm") && strcmp(dt, "pv") && strcmp(dt, "pvh") && strcmp(dt, "pv_in_pvh"))
        return err_set(e, PP_EINVAL, "%s.domain_type: \"%s\" is not hvm, pv, pvh or pv_in_pvh",
                       path, dt);
    if (strcmp(ps, "Running") && strcmp(ps, "Halted") && strcmp(ps, "Suspended"))
        return err_set(e, PP_EINVAL, "%s.power_state: \"%s\" is not Running, Halted or Suspended",
                       path, ps);
    if (sim_obj_by_name(w, CL_VM, name))
        return err_set(e, PP_EINVAL, "%s.name: \"%s\" is used twice", path, name);
    struct obj *host = NULL, *aff = NULL;
    if (!strcmp(ps, "Running")) {
        host = find_named(w, CL_HOST, j, "host", path, true, e);
        if (!host)
            return e ? e->code : PP_EINVAL;
    }
    if (json_object_get(j, "affinity") &&
        !(aff = find_named(w, CL_HOST, j, "affinity", path, true, e)))
        return e ? e->code : PP_EINVAL;
    if (get_strmap(j, "blocked_operations", path, &blocked, e))
        return e ? e->code : PP_EINVAL;
    struct obj *vm = sim_obj_new(w, CL_VM);
    xapi_struct_set_string(vm->rec, "name_label", name);
    sim_hmap_put(&w->byname[CL_VM], sim_fstr(vm, "name_label"), vm);
    xapi_struct_set_string(vm->rec, "power_state", ps);
    xapi_struct_set_string(vm->rec, "ha_restart_priority", prio);
    xapi_struct_set_int(vm->rec, "VCPUs_max", (int64_t)vcpus);
    xapi_struct_set_int(vm->rec, "VCPUs_at_startup", (int64_t)vcpus);
    xapi_struct_set_int(vm->rec, "domid", host ? (int64_t)(1 + w->ccount[CL_VM]) : -1);
    /* VM.domain_type; a PV guest boots with a bootloader and no HVM_boot_policy */
    xapi_struct_set_string(vm->rec, "domain_type", dt);
    xapi_struct_set_string(vm->rec, "HVM_boot_policy", strcmp(dt, "hvm") ? "" : "BIOS order");
    if (!strcmp(dt, "pv"))
        xapi_struct_set_string(vm->rec, "PV_bootloader", "pygrub");
    vm_memory(vm, mem);
    if (blocked)
        xapi_struct_set_take(vm->rec, "blocked_operations", blocked);
    if (pci[0]) {
        struct xapi_value *oc = xapi_value_new_struct();
        xapi_struct_set_string(oc, "pci", pci);
        xapi_struct_set_take(vm->rec, "other_config", oc);
    }
    set_ref(vm, "affinity", aff);
    set_ref(vm, "resident_on", host);
    if (tools[0] && sim_guest_metrics_new(w, vm, tools, path, e))
        return e ? e->code : PP_EINVAL;
    if (host)
        add_ref(host, "resident_VMs", vm);
    int dev = 0;
    for (size_t i = 0; disks && i < json_array_size(disks); i++) {
        char p[300];
        static const char *const dkeys[] = {"sr", "size_gib", NULL};
        const json_t *d = json_array_get(disks, i);
        double size;
        snprintf(p, sizeof(p), "%s.disks[%zu]", path, i);
        if (jsonx_check_keys(d, dkeys, p, e) || get_num(d, "size_gib", p, 20, 0, &size, e))
            return e ? e->code : PP_EINVAL;
        struct obj *sr = find_named(w, CL_SR, d, "sr", p, true, e);
        if (!sr)
            return e ? e->code : PP_EINVAL;
        struct obj *vdi = sim_obj_new(w, CL_VDI);
        char dn[300];
        snprintf(dn, sizeof(dn), "%s disk %zu", name, i);
        xapi_struct_set_string(vdi->rec, "name_label", dn);
        xapi_struct_set_string(vdi->rec, "type", "user");
        xapi_struct_set_int(vdi->rec, "virtual_size", (int64_t)(size * (double)GIB));
        xapi_struct_set_int(vdi->rec, "physical_utilisation", (int64_t)(size * (double)GIB));
        xapi_struct_set_bool(vdi->rec, "sharable", false);
        set_ref(vdi, "SR", sr);
        add_ref(sr, "VDIs", vdi);
        make_vbd(w, vm, vdi, false, dev++);
    }
    const json_t *cd = json_object_get(j, "cd");
    if (cd) {
        char p[300];
        snprintf(p, sizeof(p), "%s.cd", path);
        if (json_is_string(cd) && strcmp(json_string_value(cd), "empty") == 0) {
            make_vbd(w, vm, NULL, true, 3);
        } else {
            static const char *const ckeys[] = {"sr", "iso", NULL};
            const char *iso;
            if (jsonx_check_keys(cd, ckeys, p, e) || get_str(cd, "iso", p, true, NULL, &iso, e))
                return e ? e->code : PP_EINVAL;
            struct obj *sr = find_named(w, CL_SR, cd, "sr", p, true, e);
            if (!sr)
                return e ? e->code : PP_EINVAL;
            struct obj *vdi = NULL;
            const struct xapi_value *vdis = sim_fget(sr, "VDIs");
            for (size_t i = 0; i < xapi_array_len(vdis) && !vdi; i++) {
                struct obj *x = sim_obj_get(w, xapi_value_str(xapi_array_get(vdis, i)));
                if (x && !strcmp(sim_fstr(x, "name_label"), iso))
                    vdi = x;
            }
            if (!vdi)
                return err_set(e, PP_EINVAL, "%s.iso: SR has no ISO \"%s\" (list it in isos)", p,
                               iso);
            make_vbd(w, vm, vdi, true, 3);
        }
    }
    sim_vm_refresh_ops(w, vm);
    return 0;
}

static int make_update(struct world *w, const json_t *j, const char *path, struct err *e)
{
    static const char *const keys[] = {"uuid",
                                       "name_label",
                                       "name_description",
                                       "version",
                                       "installation_size",
                                       "after_apply_guidance",
                                       "livepatch",
                                       "applied_on",
                                       "product_version",
                                       "build_number",
                                       "platform_version",
                                       "livepatch_on",
                                       NULL};
    const char *uuid, *nl, *nd, *ver, *pv, *bn, *plv;
    double isz;
    bool lp;
    const json_t *g, *applied, *lp_on;
    struct update_meta m;
    memset(&m, 0, sizeof(m));
    if (jsonx_check_keys(j, keys, path, e) || get_str(j, "uuid", path, true, NULL, &uuid, e) ||
        get_str(j, "name_label", path, true, NULL, &nl, e) ||
        get_str(j, "name_description", path, false, "", &nd, e) ||
        get_str(j, "version", path, false, "1.0", &ver, e) ||
        get_str(j, "product_version", path, false, "", &pv, e) ||
        get_str(j, "build_number", path, false, "", &bn, e) ||
        get_str(j, "platform_version", path, false, "", &plv, e) ||
        get_num(j, "installation_size", path, 0, 0, &isz, e) ||
        get_bool(j, "livepatch", path, false, &lp, e) ||
        get_arr(j, "after_apply_guidance", path, &g, e) ||
        get_arr(j, "applied_on", path, &applied, e) || get_arr(j, "livepatch_on", path, &lp_on, e))
        return e ? e->code : PP_EINVAL;
    if (!uuid_is_valid(uuid))
        return err_set(e, PP_EINVAL, "%s.uuid: \"%s\" is not a UUID", path, uuid);
    if (sim_hmap_get(&w->uuids, uuid))
        return err_set(e, PP_EINVAL, "%s.uuid: used twice", path);
    str_lcpy(m.uuid, uuid, sizeof(m.uuid));
    str_lcpy(m.name_label, nl, sizeof(m.name_label));
    str_lcpy(m.name_description, nd, sizeof(m.name_description));
    str_lcpy(m.version, ver, sizeof(m.version));
    str_lcpy(m.product_version, pv, sizeof(m.product_version));
    str_lcpy(m.build_number, bn, sizeof(m.build_number));
    str_lcpy(m.platform_version, plv, sizeof(m.platform_version));
    m.installation_size = (int64_t)isz;
    m.livepatch = lp;
    for (size_t i = 0; g && i < json_array_size(g); i++) {
        const char *x = json_string_value(json_array_get(g, i));
        if (!x || (strcmp(x, "restartHVM") && strcmp(x, "restartPV") && strcmp(x, "restartHost") &&
                   strcmp(x, "restartXAPI")))
            return err_set(e, PP_EINVAL,
                           "%s.after_apply_guidance[%zu]: expected restartHVM, restartPV, "
                           "restartHost or restartXAPI",
                           path, i);
        if (m.guidance[0])
            str_lcpy(m.guidance + strlen(m.guidance), ",", sizeof(m.guidance) - strlen(m.guidance));
        str_lcpy(m.guidance + strlen(m.guidance), x, sizeof(m.guidance) - strlen(m.guidance));
    }
    struct obj *u = sim_update_create(w, &m);
    for (size_t i = 0; applied && i < json_array_size(applied); i++) {
        const char *hn = json_string_value(json_array_get(applied, i));
        struct obj *h = hn ? sim_obj_by_name(w, CL_HOST, hn) : NULL;
        if (!h)
            return err_set(e, PP_EINVAL, "%s.applied_on[%zu]: no host named \"%s\"", path, i,
                           hn ? hn : "(not a string)");
        add_ref(u, "hosts", h);
        add_ref(h, "updates", u);
    }
    if (lp_on) {
        struct updx *ux = u->x;
        ux->lp_hosts = xapi_value_new_array();
        for (size_t i = 0; i < json_array_size(lp_on); i++) {
            const char *hn = json_string_value(json_array_get(lp_on, i));
            struct obj *h = hn ? sim_obj_by_name(w, CL_HOST, hn) : NULL;
            if (!h)
                return err_set(e, PP_EINVAL, "%s.livepatch_on[%zu]: no host named \"%s\"", path, i,
                               hn ? hn : "(not a string)");
            xapi_array_append_string(ux->lp_hosts, h->ref);
        }
    }
    return 0;
}

static int make_pool(struct sim *s, const json_t *jp, size_t pi, const char *base, size_t *addr_i,
                     int64_t now, struct err *e)
{
    static const char *const keys[] = {"name",
                                       "version",
                                       "hosts",
                                       "srs",
                                       "vms",
                                       "updates",
                                       "ha_enabled",
                                       "default_sr",
                                       "other_config",
                                       "repository",
                                       "live_patching_disabled",
                                       NULL};
    char path[64];
    snprintf(path, sizeof(path), "pools[%zu]", pi);
    const char *name, *dsr;
    const json_t *hosts, *srs, *vms, *upds;
    bool ha, lp_off;
    struct xapi_value *oc;
    if (jsonx_check_keys(jp, keys, path, e) || get_str(jp, "name", path, true, NULL, &name, e) ||
        get_arr(jp, "hosts", path, &hosts, e) || get_arr(jp, "srs", path, &srs, e) ||
        get_arr(jp, "vms", path, &vms, e) || get_arr(jp, "updates", path, &upds, e) ||
        get_bool(jp, "ha_enabled", path, false, &ha, e) ||
        get_bool(jp, "live_patching_disabled", path, false, &lp_off, e) ||
        get_str(jp, "default_sr", path, false, NULL, &dsr, e))
        return e ? e->code : PP_EINVAL;
    if (!hosts || json_array_size(hosts) == 0)
        return err_set(e, PP_EINVAL, "%s.hosts: a pool needs at least one host", path);
    if (get_strmap(jp, "other_config", path, &oc, e))
        return e ? e->code : PP_EINVAL;
    struct world *w = xcalloc(1, sizeof(*w));
    w->s = s;
    w->idx = pi;
    w->name = xstrdup(name);
    s->worlds = vec_grow_implied(s->worlds, s->nworlds, sizeof(*s->worlds));
    s->worlds[s->nworlds++] = w;
    for (int c = 0; c < CL_NCLS; c++)
        sim_hmap_put(&w->byname[c], "", NULL); /* make the maps live for the load */
    w->pool = sim_obj_new(w, CL_POOL);
    xapi_struct_set_string(w->pool->rec, "name_label", name);
    xapi_struct_set_bool(w->pool->rec, "ha_enabled", ha);
    xapi_struct_set_bool(w->pool->rec, "live_patching_disabled", lp_off);
    if (oc)
        xapi_struct_set_take(w->pool->rec, "other_config", oc);
    const json_t *pv = json_object_get(jp, "version");
    for (size_t i = 0; i < json_array_size(hosts); i++) {
        char hp[96], addr[64];
        const json_t *jh = json_array_get(hosts, i);
        snprintf(hp, sizeof(hp), "%s.hosts[%zu]", path, i);
        const char *fixed = NULL;
        if (json_is_object(jh) && get_str(jh, "address", hp, false, NULL, &fixed, e))
            return e->code;
        if (fixed) {
            struct in_addr a;
            if (inet_pton(AF_INET, fixed, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
                return err_set(e, PP_EINVAL, "%s.address: \"%s\" is not in 127.0.0.0/8", hp, fixed);
            str_lcpy(addr, fixed, sizeof(addr));
        } else if (next_address(base, (*addr_i)++, addr, sizeof(addr), e)) {
            return e->code;
        }
        if (sim_hmap_get(&s->addrs, addr))
            return err_set(e, PP_EINVAL, "%s.address: %s is used twice", hp, addr);
        struct obj *h = make_host(s, w, jh, hp, pv, addr, now, e);
        if (!h)
            return e ? e->code : PP_EINVAL;
        bool m = false;
        get_bool(jh, "master", hp, false, &m, NULL);
        if (m || !w->master)
            w->master = h;
    }
    set_ref(w->pool, "master", w->master);
    for (size_t i = 0; srs && i < json_array_size(srs); i++) {
        char sp[96];
        snprintf(sp, sizeof(sp), "%s.srs[%zu]", path, i);
        if (make_sr(w, json_array_get(srs, i), sp, e))
            return e->code;
    }
    if (dsr) {
        struct obj *sr = find_named(w, CL_SR, jp, "default_sr", path, true, e);
        if (!sr)
            return e->code;
        set_ref(w->pool, "default_SR", sr);
        set_ref(w->pool, "suspend_image_SR", sr);
        set_ref(w->pool, "crash_dump_SR", sr);
    }
    for (size_t i = 0; vms && i < json_array_size(vms); i++) {
        char vp[96];
        snprintf(vp, sizeof(vp), "%s.vms[%zu]", path, i);
        if (make_vm(w, json_array_get(vms, i), vp, e))
            return e->code;
    }
    for (size_t i = 0; upds && i < json_array_size(upds); i++) {
        char up[96];
        snprintf(up, sizeof(up), "%s.updates[%zu]", path, i);
        if (make_update(w, json_array_get(upds, i), up, e))
            return e->code;
    }
    if (json_object_get(jp, "repository")) {
        char rp[96];
        snprintf(rp, sizeof(rp), "%s.repository", path);
        if (sim_xs8_load(w, json_object_get(jp, "repository"), rp, e))
            return e->code;
    }
    /* The name maps only serve the load: names may change afterwards (set_name_label). */
    for (int c = 0; c < CL_NCLS; c++) {
        sim_hmap_cleanup(&w->byname[c]);
        sim_hmap_init(&w->byname[c]);
    }
    /* Initial allowed operations, and one generation for everything built so far. */
    for (struct obj *h = w->chead[CL_HOST]; h; h = h->cnext)
        sim_host_refresh_ops(w, h);
    sim_rpu_detect(w);
    for (struct obj *o = w->ghead; o; o = o->gnext)
        o->mtime = now;
    return 0;
}

static int load_timings(struct sim *s, const json_t *t, struct err *e)
{
    static const char *const keys[] = {"reboot_s",
                                       "toolstack_restart_s",
                                       "apply_s",
                                       "precheck_s",
                                       "vm_start_s",
                                       "vm_shutdown_s",
                                       "migration_overhead_s",
                                       "migration_mib_per_s",
                                       "upload_mib_per_s",
                                       "parallel_migrations",
                                       "designate_master_s",
                                       "emergency_after_s",
                                       "install_s",
                                       NULL};
    double v[13];
    /* Defaults: docs/reference/xapi.md section 6 (estimates marked there). */
    struct timings *tm = &s->tm;
    if (t && jsonx_check_keys(t, keys, "timings", e))
        return e->code;
    const json_t *o = t ? t : json_object();
    int rc = get_num(o, "reboot_s", "timings", 300, 0, &v[0], e) ||
             get_num(o, "toolstack_restart_s", "timings", 30, 0, &v[1], e) ||
             get_num(o, "apply_s", "timings", 120, 0, &v[2], e) ||
             get_num(o, "precheck_s", "timings", 5, 0, &v[3], e) ||
             get_num(o, "vm_start_s", "timings", 20, 0, &v[4], e) ||
             get_num(o, "vm_shutdown_s", "timings", 10, 0, &v[5], e) ||
             get_num(o, "migration_overhead_s", "timings", 2, 0, &v[6], e) ||
             get_num(o, "migration_mib_per_s", "timings", 500, 1, &v[7], e) ||
             get_num(o, "upload_mib_per_s", "timings", 100, 1, &v[8], e) ||
             get_num(o, "parallel_migrations", "timings", 3, 1, &v[9], e) ||
             get_num(o, "designate_master_s", "timings", 60, 0, &v[10], e) ||
             get_num(o, "emergency_after_s", "timings", 60, 0, &v[11], e) ||
             get_num(o, "install_s", "timings", 1200, 0, &v[12], e);
    if (!t)
        json_decref((json_t *)o);
    if (rc)
        return e ? e->code : PP_EINVAL;
    tm->reboot_ms = (int64_t)(v[0] * 1000);
    tm->toolstack_ms = (int64_t)(v[1] * 1000);
    tm->apply_ms = (int64_t)(v[2] * 1000);
    tm->precheck_ms = (int64_t)(v[3] * 1000);
    tm->vm_start_ms = (int64_t)(v[4] * 1000);
    tm->vm_shutdown_ms = (int64_t)(v[5] * 1000);
    tm->migrate_overhead_ms = (int64_t)(v[6] * 1000);
    tm->migrate_bps = v[7] * (double)MIB;
    tm->upload_bps = v[8] * (double)MIB;
    tm->parallel_migrations = v[9] > MAX_SLOTS ? MAX_SLOTS : (int)v[9];
    tm->designate_ms = (int64_t)(v[10] * 1000);
    tm->emergency_after_ms = (int64_t)(v[11] * 1000);
    tm->install_ms = (int64_t)(v[12] * 1000);
    return 0;
}

/*
 * Scenario "users": [{"name", "password", "role"}] - accounts besides the superuser, each with
 * one of xapi's roles (pool-admin, pool-operator, vm-power-admin, vm-admin, vm-operator,
 * read-only).
 */
static int load_users(struct sim *s, const json_t *users, struct err *e)
{
    if (!users)
        return 0;
    if (!json_is_array(users))
        return err_set(e, PP_EINVAL, "users: expected an array");
    s->users = xcalloc(json_array_size(users) + 1, sizeof(*s->users));
    for (size_t i = 0; i < json_array_size(users); i++) {
        const char *name, *pass, *role;
        json_error_t je;
        if (json_unpack_ex(json_array_get(users, i), &je, 0, "{s:s s:s s:s !}", "name", &name,
                           "password", &pass, "role", &role) != 0)
            return err_set(e, PP_EINVAL, "users[%zu]: %s", i, je.text);
        int r = sim_role_by_name(role);
        if (r < 0 || r == SIM_ROLE_CLIENT_CERT)
            return err_set(e, PP_EINVAL,
                           "users[%zu].role: \"%s\" is not one of xapi's roles (pool-admin, "
                           "pool-operator, vm-power-admin, vm-admin, vm-operator, read-only)",
                           i, role);
        s->users[i] = (struct sim_user){xstrdup(name), xstrdup(pass), r};
        s->nusers = i + 1;
    }
    return 0;
}

int sim_scenario_load(struct sim *s, const json_t *root, const struct sim_options *o, struct err *e)
{
    static const char *const keys[] = {"seed",  "base_address", "credentials", "timings",
                                       "pools", "faults",       "description", "vendor",
                                       "users", "releases",     NULL};
    /* "vendor" belongs to the emulated vendor file service (fileservice.h). */
    if (jsonx_check_keys(root, keys, "scenario", e))
        return e->code;
    const json_t *seed = json_object_get(root, "seed");
    if (seed && !json_is_integer(seed))
        return err_set(e, PP_EINVAL, "seed: expected an integer");
    s->seed = o && o->seed_set ? o->seed : (seed ? (uint64_t)json_integer_value(seed) : 1);
    rng_seed(&s->rng, s->seed);
    const char *base;
    if (get_str(root, "base_address", "scenario", false, "127.0.0.10", &base, e))
        return e->code;
    if (o && o->base_address)
        base = o->base_address;
    const json_t *cred = json_object_get(root, "credentials");
    const char *user = "root", *pass = "xenroot";
    if (cred) {
        static const char *const ck[] = {"username", "password", NULL};
        if (jsonx_check_keys(cred, ck, "credentials", e) ||
            get_str(cred, "username", "credentials", false, "root", &user, e) ||
            get_str(cred, "password", "credentials", false, "xenroot", &pass, e))
            return e->code;
    }
    s->user = xstrdup(user);
    s->password = xstrdup(pass);
    if (load_users(s, json_object_get(root, "users"), e))
        return e->code;
    if (load_timings(s, json_object_get(root, "timings"), e) ||
        sim_releases_load(s, json_object_get(root, "releases"), e))
        return e->code;
    const json_t *pools;
    if (get_arr(root, "pools", "scenario", &pools, e))
        return e->code;
    if (!pools || json_array_size(pools) == 0)
        return err_set(e, PP_EINVAL, "pools: at least one pool is required");
    size_t addr_i = 0;
    int64_t now = sim_now(s);
    for (size_t i = 0; i < json_array_size(pools); i++) {
        const json_t *jp = json_array_get(pools, i);
        const char *nm = json_string_value(json_object_get(jp, "name"));
        for (size_t k = 0; nm && k < s->nworlds; k++) {
            if (strcmp(s->worlds[k]->name, nm) == 0)
                return err_set(e, PP_EINVAL, "pools[%zu].name: \"%s\" is used twice", i, nm);
        }
        if (make_pool(s, jp, i, base, &addr_i, now, e))
            return e->code;
    }
    const json_t *faults;
    if (get_arr(root, "faults", "scenario", &faults, e))
        return e->code;
    for (size_t i = 0; faults && i < json_array_size(faults); i++) {
        char fp[32];
        snprintf(fp, sizeof(fp), "faults[%zu]", i);
        if (sim_fault_add(s, json_array_get(faults, i), fp, e))
            return e->code;
    }
    return 0;
}
