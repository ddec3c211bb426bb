/* SPDX-License-Identifier: MIT */
/*
 * twin.c - a pool's records into a simulator scenario (twin.h).  Memory is written in MiB
 * (host_metrics.memory_total, the VMs' memory_static_max), sizes in GiB with fractions, names by
 * name_label.  Fields a scenario cannot express are left out (docs/simulator.md, "Rehearsal
 * twin").
 */
#include "sim/twin.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "xapi/value.h"

#define MIB (1024.0 * 1024.0)
#define GIB (1024.0 * 1024.0 * 1024.0)

const char *const sim_twin_classes[SIM_TWIN_NCLASSES] = {
    "pool", "host", "host_metrics", "VM",          "VBD",
    "VDI",  "SR",   "PBD",          "pool_update", "VM_guest_metrics"};

struct twin {
    const struct xapi_value *const *recs;
    json_t *names[SIM_TWIN_NCLASSES]; /* ref -> unique scenario name */
};

static const struct xapi_value *rec_of(const struct twin *t, int cls, const char *ref)
{
    return ref ? xapi_struct_get(t->recs[cls], ref) : NULL;
}

static const char *fstr(const struct xapi_value *r, const char *k)
{
    return xapi_struct_str(r, k, "");
}

/* Give every object of cls a unique name from its name_label (empty: "<cls>-N"). */
static void name_all(struct twin *t, int cls)
{
    const struct xapi_value *all = t->recs[cls];
    json_t *used = json_object();
    t->names[cls] = json_object();
    for (size_t i = 0; i < xapi_struct_len(all); i++) {
        const char *label = fstr(all->u.st.vals[i], "name_label");
        char base[256], name[280];
        snprintf(base, sizeof(base), "%s", *label ? label : sim_twin_classes[cls]);
        snprintf(name, sizeof(name), "%s", base);
        for (int n = 2; json_object_get(used, name); n++)
            snprintf(name, sizeof(name), "%s-%d", base, n);
        json_object_set_new(used, name, json_true());
        json_object_set_new(t->names[cls], all->u.st.keys[i], json_string(name));
    }
    json_decref(used);
}

static const char *name_of(const struct twin *t, int cls, const char *ref)
{
    return ref ? json_string_value(json_object_get(t->names[cls], ref)) : NULL;
}

static json_t *version_of(const struct xapi_value *host)
{
    static const char *const keys[] = {
        "product_version", "platform_version", "build_number", "xapi", "xen", "product_brand"};
    const struct xapi_value *sw = xapi_struct_get(host, "software_version");
    json_t *v = json_object();
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *s = xapi_struct_str(sw, keys[i], NULL);
        if (s)
            json_object_set_new(v, keys[i], json_string(s));
    }
    json_object_set_new(v, "api_major",
                        json_integer(xapi_struct_int(host, "API_version_major", 2)));
    json_object_set_new(v, "api_minor",
                        json_integer(xapi_struct_int(host, "API_version_minor", 0)));
    return v;
}

/* The memory of host's control domain (dom0), 0 when there is none. */
static int64_t dom0_memory(const struct twin *t, const char *host_ref)
{
    const struct xapi_value *all = t->recs[SIM_TWIN_VM];
    for (size_t i = 0; i < xapi_struct_len(all); i++) {
        const struct xapi_value *vm = all->u.st.vals[i];
        if (xapi_struct_bool(vm, "is_control_domain", false) &&
            strcmp(fstr(vm, "resident_on"), host_ref) == 0)
            return xapi_struct_int(vm, "memory_static_max", 0);
    }
    return 0;
}

static json_t *hosts_of(struct twin *t, const char *master_ref, json_t *pool_version)
{
    const struct xapi_value *all = t->recs[SIM_TWIN_HOST];
    json_t *hosts = json_array();
    for (size_t i = 0; i < xapi_struct_len(all); i++) {
        const char *ref = all->u.st.keys[i];
        const struct xapi_value *h = all->u.st.vals[i];
        const struct xapi_value *m = rec_of(t, SIM_TWIN_HOST_METRICS, fstr(h, "metrics"));
        const struct xapi_value *cpu = xapi_struct_get(h, "cpu_info");
        json_t *jh = json_pack("{s:s, s:b}", "name", name_of(t, SIM_TWIN_HOST, ref), "enabled",
                               xapi_struct_bool(h, "enabled", true));
        if (m)
            json_object_set_new(jh, "memory_mib",
                                json_integer(xapi_struct_int(m, "memory_total", 0) / (int64_t)MIB));
        int64_t cpus = 0;
        if (str_to_int64(xapi_struct_str(cpu, "cpu_count", ""), &cpus) == 0 && cpus > 0)
            json_object_set_new(jh, "cpus", json_integer(cpus));
        int64_t dom0 = dom0_memory(t, ref);
        if (dom0 > 0)
            json_object_set_new(jh, "dom0_memory_mib", json_integer(dom0 / (int64_t)MIB));
        if (strcmp(ref, master_ref) == 0)
            json_object_set_new(jh, "master", json_true());
        json_t *v = version_of(h);
        if (!json_equal(v, pool_version))
            json_object_set_new(jh, "version", json_incref(v));
        json_decref(v);
        json_array_append_new(hosts, jh);
    }
    return hosts;
}

/* The SRs some host sees (a PBD); the others cannot be placed in a scenario. */
static json_t *srs_of(struct twin *t)
{
    const struct xapi_value *all = t->recs[SIM_TWIN_SR];
    json_t *srs = json_array();
    for (size_t i = 0; i < xapi_struct_len(all); i++) {
        const struct xapi_value *sr = all->u.st.vals[i];
        const struct xapi_value *pbds = xapi_struct_get(sr, "PBDs");
        const struct xapi_value *pbd =
            rec_of(t, SIM_TWIN_PBD, xapi_value_str(xapi_array_get(pbds, 0)));
        const char *host = pbd ? name_of(t, SIM_TWIN_HOST, fstr(pbd, "host")) : NULL;
        bool shared = xapi_struct_bool(sr, "shared", false);
        if (!host)
            continue;
        const char *ct = fstr(sr, "content_type");
        json_t *js = json_pack("{s:s, s:s, s:b, s:f, s:f}", "name",
                               name_of(t, SIM_TWIN_SR, all->u.st.keys[i]), "type", fstr(sr, "type"),
                               "shared", shared, "size_gib",
                               (double)xapi_struct_int(sr, "physical_size", 0) / GIB, "used_gib",
                               (double)xapi_struct_int(sr, "physical_utilisation", 0) / GIB);
        if (!shared)
            json_object_set_new(js, "host", json_string(host));
        if (*ct)
            json_object_set_new(js, "content_type", json_string(ct));
        if (strcmp(ct, "iso") == 0) {
            json_t *isos = json_array();
            const struct xapi_value *vdis = xapi_struct_get(sr, "VDIs");
            for (size_t k = 0; k < xapi_array_len(vdis); k++) {
                const struct xapi_value *vdi =
                    rec_of(t, SIM_TWIN_VDI, xapi_value_str(xapi_array_get(vdis, k)));
                if (vdi)
                    json_array_append_new(isos, json_string(fstr(vdi, "name_label")));
            }
            json_object_set_new(js, "isos", isos);
        }
        json_array_append_new(srs, js);
    }
    return srs;
}

/* A VM's disks and CD drive from its VBDs (only on SRs the twin has). */
static void vm_drives(struct twin *t, const struct xapi_value *vm, json_t *srs, json_t *jv)
{
    const struct xapi_value *vbds = xapi_struct_get(vm, "VBDs");
    json_t *disks = json_array();
    for (size_t k = 0; k < xapi_array_len(vbds); k++) {
        const struct xapi_value *vbd =
            rec_of(t, SIM_TWIN_VBD, xapi_value_str(xapi_array_get(vbds, k)));
        const struct xapi_value *vdi = vbd ? rec_of(t, SIM_TWIN_VDI, fstr(vbd, "VDI")) : NULL;
        const char *sr = vdi ? name_of(t, SIM_TWIN_SR, fstr(vdi, "SR")) : NULL;
        bool have_sr = false;
        for (size_t j = 0; sr && j < json_array_size(srs); j++)
            have_sr |=
                strcmp(json_string_value(json_object_get(json_array_get(srs, j), "name")), sr) == 0;
        if (vbd && strcmp(fstr(vbd, "type"), "CD") == 0 && !json_object_get(jv, "cd")) {
            if (xapi_struct_bool(vbd, "empty", true) || !have_sr)
                json_object_set_new(jv, "cd", json_string("empty"));
            else
                json_object_set_new(
                    jv, "cd", json_pack("{s:s, s:s}", "sr", sr, "iso", fstr(vdi, "name_label")));
        } else if (vbd && strcmp(fstr(vbd, "type"), "Disk") == 0 && have_sr) {
            json_array_append_new(disks,
                                  json_pack("{s:s, s:f}", "sr", sr, "size_gib",
                                            (double)xapi_struct_int(vdi, "virtual_size", 0) / GIB));
        }
    }
    json_object_set_new(jv, "disks", disks);
}

/* The guest tools version of a VM's guest metrics ("8.2.1-150"), or NULL without PV drivers. */
static json_t *tools_of(const struct twin *t, const struct xapi_value *vm)
{
    const struct xapi_value *gm = rec_of(t, SIM_TWIN_VM_GUEST_METRICS, fstr(vm, "guest_metrics"));
    const struct xapi_value *v = gm ? xapi_struct_get(gm, "PV_drivers_version") : NULL;
    const char *maj = xapi_struct_str(v, "major", ""), *min = xapi_struct_str(v, "minor", "");
    const char *mic = xapi_struct_str(v, "micro", ""), *bld = xapi_struct_str(v, "build", "");
    if (!*maj || !*min || strspn(maj, "0123456789") != strlen(maj) ||
        strspn(min, "0123456789") != strlen(min))
        return NULL;
    bool has_mic = *mic && strspn(mic, "0123456789") == strlen(mic);
    bool has_bld = has_mic && *bld && strspn(bld, "0123456789") == strlen(bld);
    char out[96];
    snprintf(out, sizeof(out), "%.15s.%.15s%s%.15s%s%.15s", maj, min, has_mic ? "." : "",
             has_mic ? mic : "", has_bld ? "-" : "", has_bld ? bld : "");
    return json_string(out);
}

static json_t *vm_of(struct twin *t, const char *ref, const struct xapi_value *vm, json_t *srs)
{
    const char *ps = fstr(vm, "power_state");
    bool running = strcmp(ps, "Running") == 0 || strcmp(ps, "Paused") == 0;
    json_t *jv = json_pack(
        "{s:s, s:I, s:I, s:s}", "name", name_of(t, SIM_TWIN_VM, ref), "memory_mib",
        (json_int_t)(xapi_struct_int(vm, "memory_static_max", 0) / (int64_t)MIB), "vcpus",
        (json_int_t)xapi_struct_int(vm, "VCPUs_max", 1), "power_state", running ? "Running" : ps);
    const char *host = name_of(t, SIM_TWIN_HOST, fstr(vm, "resident_on"));
    if (running && host)
        json_object_set_new(jv, "host", json_string(host));
    const char *aff = name_of(t, SIM_TWIN_HOST, fstr(vm, "affinity"));
    if (aff)
        json_object_set_new(jv, "affinity", json_string(aff));
    const char *prio = fstr(vm, "ha_restart_priority");
    if (*prio)
        json_object_set_new(jv, "ha_restart_priority", json_string(prio));
    const char *pci = xapi_struct_str(xapi_struct_get(vm, "other_config"), "pci", "");
    if (*pci)
        json_object_set_new(jv, "pci", json_string(pci));
    const struct xapi_value *blocked = xapi_struct_get(vm, "blocked_operations");
    if (xapi_struct_len(blocked))
        json_object_set_new(jv, "blocked_operations", xapi_value_to_json(blocked));
    json_t *tools = tools_of(t, vm);
    if (tools)
        json_object_set_new(jv, "tools", tools);
    vm_drives(t, vm, srs, jv);
    return jv;
}

static json_t *vms_of(struct twin *t, json_t *srs)
{
    const struct xapi_value *all = t->recs[SIM_TWIN_VM];
    json_t *vms = json_array();
    for (size_t i = 0; i < xapi_struct_len(all); i++) {
        const struct xapi_value *vm = all->u.st.vals[i];
        if (xapi_struct_bool(vm, "is_control_domain", false) ||
            xapi_struct_bool(vm, "is_a_template", false) ||
            xapi_struct_bool(vm, "is_a_snapshot", false))
            continue;
        json_array_append_new(vms, vm_of(t, all->u.st.keys[i], vm, srs));
    }
    return vms;
}

static json_t *updates_of(struct twin *t)
{
    const struct xapi_value *all = t->recs[SIM_TWIN_POOL_UPDATE];
    json_t *ups = json_array();
    for (size_t i = 0; all && i < xapi_struct_len(all); i++) {
        const struct xapi_value *u = all->u.st.vals[i];
        json_t *on = json_array();
        const struct xapi_value *hosts = xapi_struct_get(u, "hosts");
        for (size_t k = 0; k < xapi_array_len(hosts); k++) {
            const char *h = name_of(t, SIM_TWIN_HOST, xapi_value_str(xapi_array_get(hosts, k)));
            if (h)
                json_array_append_new(on, json_string(h));
        }
        json_array_append_new(
            ups,
            json_pack(
                "{s:s, s:s, s:s, s:s, s:I, s:o, s:o}", "uuid", fstr(u, "uuid"), "name_label",
                fstr(u, "name_label"), "name_description", fstr(u, "name_description"), "version",
                fstr(u, "version"), "installation_size",
                (json_int_t)xapi_struct_int(u, "installation_size", 0), "after_apply_guidance",
                xapi_value_to_json(xapi_struct_get(u, "after_apply_guidance")), "applied_on", on));
    }
    return ups;
}

int sim_twin_build(const struct xapi_value *const recs[SIM_TWIN_NCLASSES], json_t **out,
                   struct err *e)
{
    struct twin t = {.recs = recs};
    *out = NULL;
    const struct xapi_value *pools = recs[SIM_TWIN_POOL];
    if (xapi_struct_len(pools) != 1 || !xapi_struct_len(recs[SIM_TWIN_HOST]))
        return err_set(e, PP_EPARSE, "twin: the pool answered %zu pool and %zu host records",
                       xapi_struct_len(pools), xapi_struct_len(recs[SIM_TWIN_HOST]));
    for (int c = 0; c < SIM_TWIN_NCLASSES; c++) {
        if (recs[c])
            name_all(&t, c);
        else
            t.names[c] = json_object();
    }
    const struct xapi_value *pool = pools->u.st.vals[0];
    const char *master_ref = fstr(pool, "master");
    const struct xapi_value *master = rec_of(&t, SIM_TWIN_HOST, master_ref);
    if (!master)
        master = recs[SIM_TWIN_HOST]->u.st.vals[0];
    json_t *version = version_of(master);
    json_t *srs = srs_of(&t);
    const char *name = fstr(pool, "name_label");
    json_t *jp =
        json_pack("{s:s, s:o, s:b, s:b, s:o, s:O, s:o, s:o}", "name",
                  *name ? name : fstr(master, "name_label"), "version", version, "ha_enabled",
                  xapi_struct_bool(pool, "ha_enabled", false), "live_patching_disabled",
                  xapi_struct_bool(pool, "live_patching_disabled", false), "hosts",
                  hosts_of(&t, master_ref, version), "srs", srs, "vms", vms_of(&t, srs), "updates",
                  updates_of(&t));
    const char *dsr = name_of(&t, SIM_TWIN_SR, fstr(pool, "default_SR"));
    for (size_t j = 0; dsr && j < json_array_size(srs); j++) {
        if (strcmp(json_string_value(json_object_get(json_array_get(srs, j), "name")), dsr) == 0)
            json_object_set_new(jp, "default_sr", json_string(dsr));
    }
    json_decref(srs);
    for (int c = 0; c < SIM_TWIN_NCLASSES; c++)
        json_decref(t.names[c]);
    *out =
        json_pack("{s:s, s:i, s:{s:s, s:s}, s:[o]}", "description",
                  "rehearsal twin (poolpatch sim --from-pool); credentials are not copied", "seed",
                  1, "credentials", "username", "root", "password", "xenroot", "pools", jp);
    return *out ? 0 : err_set(e, PP_EPARSE, "twin: cannot build the scenario");
}
