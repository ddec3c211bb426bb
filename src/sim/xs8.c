/* SPDX-License-Identifier: MIT */
/*
 * xs8.c - XenServer 8 repository updates, minimal: a pool's scenario "repository" lists the
 * updates its (simulated) repository offers; pool.sync_updates answers a hash,
 * `GET /updates?session_id=S[&host_refs=R1;R2]` describes what each host needs (the JSON shape
 * XenCenter reads, xenserver/xenadmin XenModel/Actions/Updates/Cdn.cs), and
 * host.apply_updates(host, hash) applies them, setting pending_guidances, last_update_hash and
 * last_software_update as ocaml/xapi/xapi_host.ml does (summary in docs/reference/xapi.md
 * section 2).  Runs under sim->mu.
 */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/jsonx.h"
#include "sim/internal.h"

static const char *const guidance_names[] = {
    "RebootHost", "RestartToolstack", "RestartDeviceModel", "EvacuateHost", "RestartVM", NULL};

static int check_guidance(const json_t *a, const char *path, struct err *e)
{
    if (!a)
        return 0;
    if (!json_is_array(a))
        return err_set(e, PP_EINVAL, "%s: expected an array of guidance names", path);
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *g = json_string_value(json_array_get(a, i));
        bool ok = false;
        for (size_t k = 0; g && guidance_names[k]; k++)
            ok = ok || strcmp(g, guidance_names[k]) == 0;
        if (!ok)
            return err_set(e, PP_EINVAL,
                           "%s[%zu]: expected RebootHost, RestartToolstack, RestartDeviceModel, "
                           "EvacuateHost or RestartVM",
                           path, i);
    }
    return 0;
}

static int check_hosts(struct world *w, const json_t *a, const char *path, struct err *e)
{
    if (!a)
        return 0;
    if (!json_is_array(a))
        return err_set(e, PP_EINVAL, "%s: expected an array of host names", path);
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *n = json_string_value(json_array_get(a, i));
        if (!n || !sim_obj_by_name(w, CL_HOST, n))
            return err_set(e, PP_EINVAL, "%s[%zu]: no host named \"%s\"", path, i,
                           n ? n : "(not a string)");
    }
    return 0;
}

static bool name_in(const json_t *a, const char *name)
{
    for (size_t i = 0; i < json_array_size(a); i++) {
        if (str_eq(json_string_value(json_array_get(a, i)), name))
            return true;
    }
    return false;
}

int sim_xs8_load(struct world *w, const json_t *repo, const char *path, struct err *e)
{
    static const char *const keys[] = {"updates", "version", NULL};
    static const char *const ukeys[] = {"id",
                                        "title",
                                        "summary",
                                        "description",
                                        "type",
                                        "severity",
                                        "issued",
                                        "special_info",
                                        "url",
                                        "guidance",
                                        "livepatch_guidance",
                                        "livepatch_on",
                                        "hosts",
                                        "applied_on",
                                        NULL};
    if (jsonx_check_keys(repo, keys, path, e) != 0)
        return PP_EINVAL;
    const json_t *ups = json_object_get(repo, "updates"), *ver = json_object_get(repo, "version");
    if (ver && (!json_is_string(ver) || json_string_length(ver) >= sizeof(w->repo_version)))
        return err_set(e, PP_EINVAL, "%s.version: expected a product version string (\"8.4.0\")",
                       path);
    str_lcpy(w->repo_version, ver ? json_string_value(ver) : "", sizeof(w->repo_version));
    if (ups && !json_is_array(ups))
        return err_set(e, PP_EINVAL, "%s.updates: expected an array", path);
    for (size_t i = 0; ups && i < json_array_size(ups); i++) {
        char p[160];
        const json_t *u = json_array_get(ups, i);
        snprintf(p, sizeof(p), "%s.updates[%zu]", path, i);
        if (jsonx_check_keys(u, ukeys, p, e) != 0)
            return PP_EINVAL;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)u, k, v)
        {
            if (strcmp(k, "guidance") && strcmp(k, "livepatch_guidance") &&
                strcmp(k, "livepatch_on") && strcmp(k, "hosts") && strcmp(k, "applied_on") &&
                !json_is_string(v))
                return err_set(e, PP_EINVAL, "%s.%s: expected a string", p, k);
        }
        if (!json_string_value(json_object_get(u, "id")))
            return err_set(e, PP_EINVAL, "%s.id: missing (a string is required)", p);
        char gp[200];
        snprintf(gp, sizeof(gp), "%s.guidance", p);
        if (check_guidance(json_object_get(u, "guidance"), gp, e))
            return e->code;
        snprintf(gp, sizeof(gp), "%s.livepatch_guidance", p);
        if (check_guidance(json_object_get(u, "livepatch_guidance"), gp, e))
            return e->code;
        const char *lists[] = {"livepatch_on", "hosts", "applied_on"};
        for (size_t m = 0; m < 3; m++) {
            snprintf(gp, sizeof(gp), "%s.%s", p, lists[m]);
            if (check_hosts(w, json_object_get(u, lists[m]), gp, e))
                return e->code;
        }
    }
    w->repo = json_deep_copy(ups ? ups : json_array());
    /* What the scenario says is already applied. */
    for (size_t i = 0; i < json_array_size(w->repo); i++) {
        const json_t *u = json_array_get(w->repo, i);
        const json_t *ap = json_object_get(u, "applied_on");
        for (size_t k2 = 0; k2 < json_array_size(ap); k2++) {
            struct obj *h = sim_obj_by_name(w, CL_HOST, json_string_value(json_array_get(ap, k2)));
            struct hostx *hx = sim_hx(h);
            if (!hx->xs8_applied)
                hx->xs8_applied = json_array();
            json_array_append_new(hx->xs8_applied,
                                  json_string(json_string_value(json_object_get(u, "id"))));
        }
    }
    return 0;
}

static bool on_version(struct obj *h, const char *version)
{
    const struct xapi_value *sw = sim_fget(h, "software_version");
    return !*version || sim_version_cmp(xapi_struct_str(sw, "product_version", "0"), version) >= 0;
}

/* The repository is enabled once the coordinator runs its release (a pool upgraded to XenServer
 * 8 gets its repository then; before, pool.sync_updates answers NO_REPOSITORY_ENABLED). */
static bool repo_on(struct world *w)
{
    return w->repo && w->master && on_version(w->master, w->repo_version);
}

/* An update of the repository applies to h: h is named (or none are) and runs its release. */
static bool applies_to(const json_t *u, struct obj *h)
{
    const json_t *hs = json_object_get(u, "hosts");
    return (!hs || name_in(hs, sim_fstr(h, "name_label"))) &&
           on_version(h, sim_hx(h)->w->repo_version);
}

static bool applied_on(struct obj *h, const char *id)
{
    return sim_hx(h)->xs8_applied && name_in(sim_hx(h)->xs8_applied, id);
}

static bool livepatch_here(const json_t *u, struct obj *h)
{
    /* pool.live_patching_disabled: no live patch applies, the update's own guidance stands */
    if (sim_fbool(sim_hx(h)->w->pool, "live_patching_disabled"))
        return false;
    const json_t *lp = json_object_get(u, "livepatch_on");
    return lp && name_in(lp, sim_fstr(h, "name_label"));
}

/* The guidance an update brings on h: its live-patch guidance when the live patch applies. */
static const json_t *guidance_on(const json_t *u, struct obj *h)
{
    if (livepatch_here(u, h))
        return json_object_get(u, "livepatch_guidance");
    return json_object_get(u, "guidance");
}

static void add_unique(json_t *a, const char *s)
{
    if (!name_in(a, s))
        json_array_append_new(a, json_string(s));
}

/* A deterministic stand-in for the SHA-256 of updateinfo.xml.gz: same updates, same hash. */
static void repo_hash(struct world *w, char out[65])
{
    uint64_t h1 = 1469598103934665603ULL, h2 = 0x9e3779b97f4a7c15ULL;
    char *dump = json_dumps(w->repo, JSON_SORT_KEYS | JSON_COMPACT);
    for (const char *p = dump ? dump : ""; *p; p++) {
        h1 = (h1 ^ (unsigned char)*p) * 1099511628211ULL;
        h2 = (h2 ^ (unsigned char)*p) * 0x100000001b3ULL + 0x51ULL;
    }
    free(dump);
    snprintf(out, 65, "%016llx%016llx%016llx%016llx", (unsigned long long)h1,
             (unsigned long long)h2, (unsigned long long)(h1 ^ h2),
             (unsigned long long)(h1 * 31 + h2));
}

static int h_pool_sync_updates(struct ctx *c)
{
    struct obj *p = sim_arg_obj(c, 1, CL_POOL);
    if (!p)
        return R_DONE;
    if (!repo_on(c->w)) {
        sim_rerr(c, "NO_REPOSITORY_ENABLED", 0);
        return R_DONE;
    }
    repo_hash(c->w, c->w->synced_hash);
    sim_fset_dt(c->w, p, "last_update_sync", sim_now(c->s));
    sim_rok(c, xapi_value_new_string(c->w->synced_hash));
    return R_DONE;
}

static const char *wire_guidance(const char *g)
{
    if (!strcmp(g, "RebootHost"))
        return "reboot_host";
    if (!strcmp(g, "RestartToolstack"))
        return "restart_toolstack";
    if (!strcmp(g, "RestartDeviceModel"))
        return "restart_device_model";
    if (!strcmp(g, "RestartVM"))
        return "restart_vm";
    return NULL; /* EvacuateHost is a precondition only */
}

static bool has_guests(struct world *w, struct obj *h)
{
    const struct xapi_value *rv = sim_fget(h, "resident_VMs");
    for (size_t i = 0; i < xapi_array_len(rv); i++) {
        struct obj *vm = sim_obj_get_cls(w, xapi_value_str(xapi_array_get(rv, i)), CL_VM);
        if (vm && !sim_fbool(vm, "is_control_domain"))
            return true;
    }
    return false;
}

static int h_host_apply_updates(struct ctx *c)
{
    struct obj *h = sim_arg_obj(c, 1, CL_HOST);
    if (!h)
        return R_DONE;
    const char *hash = sim_arg_str(c, 2);
    if (sim_fbool(c->w->pool, "ha_enabled")) {
        sim_rerr(c, "HA_IS_ENABLED", 0);
        return R_DONE;
    }
    if (!repo_on(c->w) || !c->w->synced_hash[0] || strcmp(hash, c->w->synced_hash) != 0) {
        sim_rerr(c, "UPDATEINFO_HASH_MISMATCH", 0);
        return R_DONE;
    }
    if (c->w->xs8_busy) {
        sim_rerr(c, "APPLY_UPDATES_IN_PROGRESS", 0);
        return R_DONE;
    }
    if (sim_host_guidance_pending(c, h))
        return R_DONE;
    for (size_t i = 0; i < json_array_size(c->w->repo); i++) {
        const json_t *u = json_array_get(c->w->repo, i);
        const char *id = json_string_value(json_object_get(u, "id"));
        if (!applies_to(u, h) || applied_on(h, id))
            continue;
        const json_t *g = guidance_on(u, h);
        if ((name_in(g, "RebootHost") || name_in(g, "EvacuateHost")) && has_guests(c->w, h)) {
            sim_rerr(c, "HOST_EVACUATION_IS_REQUIRED", 1, h->ref);
            return R_DONE;
        }
    }
    /* xapi disables the host for the duration; the client enables it after the guidance. */
    sim_fset_bool(c->w, h, "enabled", false);
    sim_host_refresh_ops(c->w, h);
    c->w->xs8_busy = true;
    str_lcpy(c->w->xs8_applying, hash, sizeof(c->w->xs8_applying));
    sim_sched(c->s, c->w, sim_now(c->s) + sim_dur(c, c->s->tm.apply_ms), ACT_XS8_APPLY_DONE,
              c->task->ref, h->ref, NULL, 0, 0);
    return R_PENDING;
}

void sim_xs8_apply_done(struct sim *s, struct action *a)
{
    struct world *w = a->w;
    struct obj *task = sim_obj_get_cls(w, a->a, CL_TASK);
    struct obj *h = sim_obj_get_cls(w, a->b, CL_HOST);
    w->xs8_busy = false;
    if (!sim_task_pending(task))
        return;
    struct fault f;
    memset(&f, 0, sizeof(f));
    if (!h || !sim_fbool(sim_hx(h)->metrics, "live") ||
        sim_fault_take(s, w, "apply_fails", h, NULL, NULL, NULL, &f)) {
        json_decref(f.params);
        sim_task_fail_code(w, task, "APPLY_UPDATES_FAILED", 1, a->b);
        return;
    }
    struct hostx *hx = sim_hx(h);
    if (!hx->xs8_applied)
        hx->xs8_applied = json_array();
    for (size_t i = 0; i < json_array_size(w->repo); i++) {
        const json_t *u = json_array_get(w->repo, i);
        const char *id = json_string_value(json_object_get(u, "id"));
        if (!applies_to(u, h) || applied_on(h, id))
            continue;
        const json_t *g = guidance_on(u, h);
        for (size_t k = 0; k < json_array_size(g); k++) {
            const char *wg = wire_guidance(json_string_value(json_array_get(g, k)));
            if (wg)
                sim_fset_add(w, h, "pending_guidances", wg);
        }
        json_array_append_new(hx->xs8_applied, json_string(id));
        s->n_applies++;
    }
    sim_fset_str(w, h, "last_update_hash", w->xs8_applying);
    sim_fset_dt(w, h, "last_software_update", sim_now(s));
    sim_fset_str(w, h, "latest_synced_updates_applied", "yes");
    sim_task_succeed(w, task, xapi_value_new_array()); /* no warnings */
}

void sim_xs8_on_start(struct world *w, struct obj *h, bool reboot)
{
    /* restart_toolstack clears on any xapi start; reboot_host only on a real boot. */
    sim_fset_del(w, h, "pending_guidances", "restart_toolstack");
    if (reboot)
        sim_fset_del(w, h, "pending_guidances", "reboot_host");
}

json_t *sim_xs8_updates_json(struct world *w, const char *host_refs)
{
    if (!repo_on(w))
        return NULL;
    json_t *root = json_object(), *hosts = json_array(), *ups = json_array();
    json_t *used = json_array();
    for (struct obj *h = w->chead[CL_HOST]; h; h = h->cnext) {
        if (host_refs && *host_refs) {
            const char *p = strstr(host_refs, h->ref);
            size_t n = strlen(h->ref);
            if (!p || (p[n] && p[n] != ';'))
                continue;
        }
        json_t *jh = json_object(), *ids = json_array(), *rec = json_array(), *abs = json_array(),
               *lps = json_array();
        for (size_t i = 0; i < json_array_size(w->repo); i++) {
            const json_t *u = json_array_get(w->repo, i);
            const char *id = json_string_value(json_object_get(u, "id"));
            if (!applies_to(u, h) || applied_on(h, id))
                continue;
            json_array_append_new(ids, json_string(id));
            add_unique(used, id);
            const json_t *g = guidance_on(u, h);
            for (size_t k = 0; k < json_array_size(g); k++)
                add_unique(rec, json_string_value(json_array_get(g, k)));
            if (livepatch_here(u, h))
                json_array_append_new(lps, json_pack("{s:s}", "update", id));
        }
        json_object_set_new(jh, "ref", json_string(h->ref));
        json_object_set_new(jh, "recommended-guidance", rec);
        json_object_set_new(jh, "absolute-guidance", abs);
        json_object_set_new(jh, "RPMS", json_array());
        json_object_set_new(jh, "updates", ids);
        json_object_set_new(jh, "livepatches", lps);
        json_array_append_new(hosts, jh);
    }
    for (size_t i = 0; i < json_array_size(w->repo); i++) {
        const json_t *u = json_array_get(w->repo, i);
        const char *id = json_string_value(json_object_get(u, "id"));
        if (!name_in(used, id))
            continue;
        const json_t *g = json_object_get(u, "guidance");
        const json_t *lg = json_object_get(u, "livepatch_guidance");
        json_t *ju = json_object();
        json_object_set_new(ju, "id", json_string(id));
        static const char *const txt[][2] = {{"title", "title"},
                                             {"summary", "summary"},
                                             {"description", "description"},
                                             {"special_info", "special-info"},
                                             {"url", "URL"},
                                             {"type", "type"},
                                             {"issued", "issued"},
                                             {"severity", "severity"}};
        for (size_t k = 0; k < sizeof(txt) / sizeof(txt[0]); k++) {
            const char *v = json_string_value(json_object_get(u, txt[k][0]));
            json_object_set_new(ju, txt[k][1], json_string(v ? v : ""));
        }
        json_object_set_new(ju, "recommended-guidance", g ? json_deep_copy(g) : json_array());
        json_object_set_new(ju, "absolute-guidance", json_array());
        json_object_set_new(ju, "livepatch-guidance", lg ? json_deep_copy(lg) : json_array());
        json_object_set_new(ju, "livepatches", json_array());
        json_array_append_new(ups, ju);
    }
    json_decref(used);
    char hash[65];
    repo_hash(w, hash);
    json_object_set_new(root, "hosts", hosts);
    json_object_set_new(root, "updates", ups);
    json_object_set_new(root, "hash", json_string(hash));
    return root;
}

const struct handler sim_xs8_handlers[] = {
    {"pool.sync_updates", h_pool_sync_updates, 0},
    {"host.apply_updates", h_host_apply_updates, H_LONG},
    {NULL, NULL, 0},
};
