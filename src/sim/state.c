/* SPDX-License-Identifier: MIT */
/*
 * state.c - fault injection (scenario "faults" entries and POST /sim/fault) and the GET
 * /sim/state document.  Runs under sim->mu (callers in sim.c take it).
 */
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/jsonx.h"
#include "base/vec.h"
#include "sim/internal.h"

static const char *const fault_types[] = {
    "reboot_never_returns",    "migration_fails", "apply_fails",
    "precheck_fails",          "sr_full",         "partition",
    "returns_old_version",     "livepatch_fails", "upgrade_fails",
    "install_url_unreachable", "prepare_fails",   "pbd_detached",
};

static bool name_match(const char *want, const struct obj *o)
{
    if (!want[0])
        return true;
    if (!o || !o->rec)
        return false;
    return strcmp(want, sim_fstr(o, "name_label")) == 0 || strcmp(want, o->uuid) == 0 ||
           strcmp(want, o->ref) == 0;
}

static bool fault_matches(const struct fault *f, struct world *w, const char *type,
                          const struct obj *host, const struct obj *vm, const struct obj *sr,
                          const struct obj *update)
{
    if (strcmp(f->type, type) != 0 || (f->w && f->w != w) || f->armed_by[0])
        return false;
    if (f->host[0] && (!host || !name_match(f->host, host)))
        return false;
    if (f->vm[0] && (!vm || !name_match(f->vm, vm)))
        return false;
    if (f->sr[0] && (!sr || !name_match(f->sr, sr)))
        return false;
    if (f->update[0] && (!update || !name_match(f->update, update)))
        return false;
    return true;
}

static void fault_remove(struct sim *s, size_t i)
{
    json_decref(s->faults[i].params);
    memmove(&s->faults[i], &s->faults[i + 1], (s->nfaults - i - 1) * sizeof(s->faults[0]));
    s->nfaults--;
}

bool sim_fault_peek(struct sim *s, struct world *w, const char *type, const struct obj *host,
                    const struct obj *vm, const struct obj *sr, const struct obj *update)
{
    for (size_t i = 0; i < s->nfaults; i++) {
        if (fault_matches(&s->faults[i], w, type, host, vm, sr, update))
            return true;
    }
    return false;
}

bool sim_fault_take(struct sim *s, struct world *w, const char *type, const struct obj *host,
                    const struct obj *vm, const struct obj *sr, const struct obj *update,
                    struct fault *out)
{
    for (size_t i = 0; i < s->nfaults; i++) {
        struct fault *f = &s->faults[i];
        if (!fault_matches(f, w, type, host, vm, sr, update))
            continue;
        if (out) {
            *out = *f;
            out->params = json_incref(f->params);
        }
        if (f->remaining > 0 && --f->remaining == 0)
            fault_remove(s, i);
        return true;
    }
    return false;
}

void sim_faults_free(struct sim *s)
{
    while (s->nfaults)
        fault_remove(s, s->nfaults - 1);
    free(s->faults);
    s->faults = NULL;
}

static struct world *world_by_name(struct sim *s, const char *name)
{
    for (size_t i = 0; i < s->nworlds; i++) {
        if (strcmp(s->worlds[i]->name, name) == 0)
            return s->worlds[i];
    }
    return NULL;
}

static struct hostx *host_by_name(struct sim *s, const char *name)
{
    for (size_t i = 0; i < s->nhosts; i++) {
        struct hostx *hx = s->hosts[i];
        if (hx->o && hx->o->rec &&
            (strcmp(sim_fstr(hx->o, "name_label"), name) == 0 || strcmp(hx->o->uuid, name) == 0))
            return hx;
    }
    return NULL;
}

static int copy_opt(const json_t *j, const char *k, char *out, size_t n, const char *where,
                    struct err *e)
{
    const json_t *v = json_object_get(j, k);
    out[0] = '\0';
    if (!v)
        return 0;
    if (!json_is_string(v))
        return err_set(e, PP_EINVAL, "%s.%s: expected a string", where, k);
    if (str_lcpy(out, json_string_value(v), n) >= n)
        return err_set(e, PP_EINVAL, "%s.%s: too long", where, k);
    return 0;
}

int sim_fault_parse(struct sim *s, const json_t *j, const char *where, struct fault *f,
                    struct err *e)
{
    static const char *const keys[] = {"type", "pool",   "host",  "vm",       "sr", "update",
                                       "code", "params", "count", "armed_by", NULL};
    memset(f, 0, sizeof(*f));
    f->remaining = -1;
    if (jsonx_check_keys(j, keys, where, e) != 0)
        return e ? e->code : PP_EINVAL;
    if (copy_opt(j, "type", f->type, sizeof(f->type), where, e) != 0)
        return e ? e->code : PP_EINVAL;
    bool known = strcmp(f->type, "clear") == 0;
    for (size_t i = 0; i < sizeof(fault_types) / sizeof(fault_types[0]); i++)
        known = known || strcmp(f->type, fault_types[i]) == 0;
    if (!known)
        return err_set(e, PP_EINVAL, "%s.type: \"%s\" is not a fault type", where, f->type);
    char pool[128];
    if (copy_opt(j, "pool", pool, sizeof(pool), where, e) ||
        copy_opt(j, "host", f->host, sizeof(f->host), where, e) ||
        copy_opt(j, "vm", f->vm, sizeof(f->vm), where, e) ||
        copy_opt(j, "sr", f->sr, sizeof(f->sr), where, e) ||
        copy_opt(j, "update", f->update, sizeof(f->update), where, e) ||
        copy_opt(j, "code", f->code, sizeof(f->code), where, e) ||
        copy_opt(j, "armed_by", f->armed_by, sizeof(f->armed_by), where, e))
        return e ? e->code : PP_EINVAL;
    if (str_has_prefix(f->armed_by, "Async."))
        memmove(f->armed_by, f->armed_by + 6, strlen(f->armed_by + 6) + 1);
    if (pool[0] && !(f->w = world_by_name(s, pool)))
        return err_set(e, PP_EINVAL, "%s.pool: no pool named \"%s\"", where, pool);
    if (strcmp(f->type, "partition") == 0 && f->host[0]) {
        struct hostx *hx = host_by_name(s, f->host);
        if (!hx || (f->w && hx->w != f->w))
            return err_set(e, PP_EINVAL, "%s.host: no host named \"%s\"%s", where, f->host,
                           f->w ? " in that pool" : "");
        f->w = hx->w;
    }
    if (strcmp(f->type, "pbd_detached") == 0) {
        struct hostx *hx = f->host[0] ? host_by_name(s, f->host) : NULL;
        if (!hx || (f->w && hx->w != f->w))
            return err_set(e, PP_EINVAL, "%s.host: pbd_detached names a host (\"%s\" is none)",
                           where, f->host);
        f->w = hx->w;
    }
    if (strcmp(f->type, "partition") == 0 && !f->w) {
        if (s->nworlds == 1)
            f->w = s->worlds[0];
        else
            return err_set(e, PP_EINVAL, "%s.pool: a partition names its pool", where);
    }
    const json_t *p = json_object_get(j, "params");
    if (p) {
        if (!json_is_array(p))
            return err_set(e, PP_EINVAL, "%s.params: expected an array of strings", where);
        for (size_t i = 0; i < json_array_size(p); i++) {
            if (!json_is_string(json_array_get(p, i)))
                return err_set(e, PP_EINVAL, "%s.params[%zu]: expected a string", where, i);
        }
        f->params = json_incref((json_t *)p);
    }
    const json_t *cnt = json_object_get(j, "count");
    if (cnt) {
        if (!json_is_integer(cnt) || json_integer_value(cnt) < 1 ||
            json_integer_value(cnt) > 1000000) {
            json_decref(f->params);
            f->params = NULL;
            return err_set(e, PP_EINVAL, "%s.count: expected a positive integer", where);
        }
        f->remaining = (int)json_integer_value(cnt);
    }
    return 0;
}

/* Start or end a partition of world w (its master unreachable). */
static void set_partition(struct sim *s, struct world *w, bool on)
{
    w->partitioned = on;
    w->cut = on ? w->master : NULL;
    if (on) {
        sim_sched(s, w, sim_now(s) + s->tm.emergency_after_ms, ACT_EMERGENCY, NULL, NULL, NULL, 0,
                  0);
    } else {
        for (struct obj *h = w->chead[CL_HOST]; h; h = h->cnext) {
            if (!sim_upgrade_blocks_join(w, h))
                sim_set_emergency(w, h, false);
        }
    }
}

/* A supporter partition: the host is cut off (calls to it fail, its master marks it not live at
 * once); its VMs keep running.  Undone when the fault is cleared. */
static void set_host_cut(struct world *w, struct hostx *hx, bool on)
{
    hx->up = !on;
    sim_fset_bool(w, hx->metrics, "live", !on);
    sim_host_refresh_ops(w, hx->o);
}

/* Start (on) or end a partition fault: a supporter named by host, else the pool's coordinator. */
static void partition_apply(struct sim *s, struct fault *f, bool on)
{
    struct hostx *hx = f->host[0] ? host_by_name(s, f->host) : NULL;
    if (on && hx && hx->o && hx->o != f->w->master) {
        f->host_cut = true;
        set_host_cut(f->w, hx, true);
    } else if (!on && f->host_cut) {
        if (hx && hx->o)
            set_host_cut(f->w, hx, false);
    } else {
        set_partition(s, f->w, on);
    }
}

/* Start (on) or end a pbd_detached fault: the host's PBDs (of the SR named by sr, else all)
 * detach; ending it plugs them again when the host is up. */
static void pbd_fault_apply(struct sim *s, struct fault *f, bool on)
{
    struct hostx *hx = host_by_name(s, f->host);
    if (!hx || !hx->o || (!on && !hx->up))
        return;
    const struct xapi_value *pbds = sim_fget(hx->o, "PBDs");
    for (size_t k = 0; k < xapi_array_len(pbds); k++) {
        struct obj *pbd = sim_obj_get_cls(hx->w, xapi_value_str(xapi_array_get(pbds, k)), CL_PBD);
        struct obj *sr = pbd ? sim_obj_get(hx->w, sim_fstr(pbd, "SR")) : NULL;
        if (pbd && (!f->sr[0] || name_match(f->sr, sr)))
            sim_fset_bool(hx->w, pbd, "currently_attached", !on);
    }
}

/* Arm the faults waiting for method (see internal.h). */
void sim_faults_arm(struct sim *s, struct world *w, const char *method)
{
    for (size_t i = 0; i < s->nfaults; i++) {
        struct fault *f = &s->faults[i];
        if (!f->armed_by[0] || strcmp(f->armed_by, method) != 0 || (f->w && f->w != w))
            continue;
        log_info("sim", "fault %s armed by %s", f->type, method);
        f->armed_by[0] = '\0';
        if (strcmp(f->type, "partition") == 0)
            partition_apply(s, f, true);
        if (strcmp(f->type, "pbd_detached") == 0)
            pbd_fault_apply(s, f, true);
    }
}

/* Parse and install one fault (caller holds the lock). */
int sim_fault_add(struct sim *s, const json_t *j, const char *where, struct err *e)
{
    struct fault f;
    int rc = sim_fault_parse(s, j, where, &f, e);
    if (rc != 0)
        return rc;
    if (strcmp(f.type, "clear") == 0) {
        for (size_t i = s->nfaults; i > 0; i--) {
            struct fault *g = &s->faults[i - 1];
            if ((f.code[0] && strcmp(g->type, f.code) != 0) || (f.w && g->w != f.w))
                continue;
            if (strcmp(g->type, "partition") == 0 && g->w && !g->armed_by[0])
                partition_apply(s, g, false);
            if (strcmp(g->type, "pbd_detached") == 0 && !g->armed_by[0])
                pbd_fault_apply(s, g, false);
            fault_remove(s, i - 1);
        }
        /* A host held down by reboot_never_returns comes back a reboot later (issue
         * "Trustworthy rollouts": a host that returns when the fault is cleared). */
        bool unstick = !f.code[0] || !strcmp(f.code, "reboot_never_returns") ||
                       !strcmp(f.code, "upgrade_fails");
        for (size_t i = 0; unstick && i < s->nhosts; i++) {
            struct hostx *hx = s->hosts[i];
            if (hx->stuck && hx->o && (!f.w || hx->w == f.w)) {
                hx->stuck = false;
                sim_sched(s, hx->w, sim_now(s) + s->tm.reboot_ms, ACT_HOST_BOOTED, NULL, NULL, NULL,
                          (int64_t)i, 0);
            }
        }
        json_decref(f.params);
        return 0;
    }
    s->faults = vec_grow_implied(s->faults, s->nfaults, sizeof(*s->faults));
    s->faults[s->nfaults++] = f;
    if (strcmp(f.type, "partition") == 0 && !f.armed_by[0])
        partition_apply(s, &s->faults[s->nfaults - 1], true);
    if (strcmp(f.type, "pbd_detached") == 0 && !f.armed_by[0])
        pbd_fault_apply(s, &s->faults[s->nfaults - 1], true);
    return 0;
}

static json_t *ref_names(struct world *w, const struct obj *o, const char *field)
{
    json_t *a = json_array();
    const struct xapi_value *v = sim_fget(o, field);
    for (size_t i = 0; i < xapi_array_len(v); i++) {
        struct obj *x = sim_obj_get(w, xapi_value_str(xapi_array_get(v, i)));
        if (x && x->cls == CL_VM && sim_fbool(x, "is_control_domain"))
            continue;
        json_array_append_new(a, json_string(x ? sim_fstr(x, "name_label") : "?"));
    }
    return a;
}

/* The state document (caller holds the lock). */
json_t *sim_state_json_locked(struct sim *s)
{
    json_t *root = json_object();
    json_object_set_new(root, "time_ms", json_integer(sim_now(s)));
    json_t *pools = json_array();
    for (size_t i = 0; i < s->nworlds; i++) {
        struct world *w = s->worlds[i];
        json_t *p = json_object();
        json_object_set_new(p, "name", json_string(w->name));
        json_object_set_new(p, "master",
                            json_string(w->master ? sim_fstr(w->master, "name_label") : ""));
        json_object_set_new(p, "master_address",
                            json_string(w->master ? sim_hx(w->master)->address : ""));
        json_object_set_new(p, "ha_enabled", json_boolean(sim_fbool(w->pool, "ha_enabled")));
        json_object_set_new(p, "live_patching_disabled",
                            json_boolean(sim_fbool(w->pool, "live_patching_disabled")));
        json_object_set_new(p, "partitioned", json_boolean(w->partitioned));
        json_object_set_new(p, "rolling_upgrade", json_boolean(sim_rpu_active(w)));
        json_t *hosts = json_array();
        for (struct obj *h = w->chead[CL_HOST]; h; h = h->cnext) {
            struct hostx *hx = sim_hx(h);
            json_t *jh = json_object();
            const struct xapi_value *sw = sim_fget(h, "software_version");
            json_object_set_new(jh, "name", json_string(sim_fstr(h, "name_label")));
            json_object_set_new(jh, "address", json_string(hx->address));
            json_object_set_new(jh, "master", json_boolean(w->master == h));
            json_object_set_new(jh, "enabled", json_boolean(sim_fbool(h, "enabled")));
            json_object_set_new(jh, "live", json_boolean(sim_fbool(hx->metrics, "live")));
            json_object_set_new(jh, "reachable", json_boolean(hx->up));
            json_object_set_new(jh, "emergency", json_boolean(hx->emergency));
            json_object_set_new(jh, "stuck", json_boolean(hx->stuck));
            json_object_set_new(jh, "product_version",
                                json_string(xapi_struct_str(sw, "product_version", "")));
            json_object_set_new(jh, "build_number",
                                json_string(xapi_struct_str(sw, "build_number", "")));
            json_object_set_new(jh, "platform_version",
                                json_string(xapi_struct_str(sw, "platform_version", "")));
            json_object_set_new(jh, "xapi", json_string(xapi_struct_str(sw, "xapi", "")));
            json_object_set_new(jh, "prepared",
                                json_string(hx->prepared
                                                ? xapi_struct_str(s->releases[hx->prepared - 1].sw,
                                                                  "product_version", "")
                                                : ""));
            json_object_set_new(jh, "installing", json_boolean(hx->installing != 0));
            json_object_set_new(jh, "updates", ref_names(w, h, "updates"));
            json_object_set_new(jh, "repository_updates",
                                hx->xs8_applied ? json_copy(hx->xs8_applied) : json_array());
            json_object_set_new(jh, "updates_requiring_reboot",
                                ref_names(w, h, "updates_requiring_reboot"));
            json_object_set_new(jh, "resident_vms", ref_names(w, h, "resident_VMs"));
            json_object_set_new(jh, "free_memory", json_integer(sim_host_free_memory(w, h)));
            json_object_set_new(jh, "reboots", json_integer(hx->reboots));
            json_object_set_new(jh, "logins", json_integer(hx->logins));
            json_object_set_new(jh, "toolstack_restarts", json_integer(hx->restarts));
            json_object_set_new(jh, "boot_time",
                                json_string(sim_fmap_get(h, "other_config", "boot_time") ?: ""));
            json_object_set_new(
                jh, "agent_start_time",
                json_string(sim_fmap_get(h, "other_config", "agent_start_time") ?: ""));
            json_array_append_new(hosts, jh);
        }
        json_object_set_new(p, "hosts", hosts);
        /* the legacy updates the pool knows, and the update images on its SRs */
        json_t *pu = json_array();
        for (struct obj *u = w->chead[CL_POOL_UPDATE]; u; u = u->cnext)
            json_array_append_new(pu, json_string(sim_fstr(u, "name_label")));
        json_object_set_new(p, "pool_updates", pu);
        int64_t images = 0;
        for (struct obj *v = w->chead[CL_VDI]; v; v = v->cnext)
            images += v->x && str_eq(sim_fstr(v, "name_label"), "update image");
        json_object_set_new(p, "update_images", json_integer(images));
        json_array_append_new(pools, p);
    }
    json_object_set_new(root, "pools", pools);
    json_object_set_new(root, "releases", sim_releases_json(s));
    json_t *cnt = json_object();
    json_object_set_new(cnt, "migrations", json_integer((json_int_t)s->n_migrations));
    json_object_set_new(cnt, "migrations_failed", json_integer((json_int_t)s->n_migrations_failed));
    json_object_set_new(cnt, "migrations_waited_destination",
                        json_integer((json_int_t)s->n_migrations_dst_wait));
    json_object_set_new(cnt, "reboots", json_integer((json_int_t)s->n_reboots));
    json_object_set_new(cnt, "toolstack_restarts", json_integer((json_int_t)s->n_restarts));
    json_object_set_new(cnt, "applies", json_integer((json_int_t)s->n_applies));
    json_object_set_new(cnt, "uploads", json_integer((json_int_t)s->n_uploads));
    json_object_set_new(cnt, "introduces", json_integer((json_int_t)s->n_introduces));
    json_object_set_new(cnt, "calls", json_integer((json_int_t)s->n_calls));
    json_object_set_new(root, "counters", cnt);
    json_object_set_new(root, "faults", json_integer((json_int_t)s->nfaults));
    json_int_t armed = 0; /* faults still waiting for their armed_by call */
    for (size_t i = 0; i < s->nfaults; i++)
        armed += s->faults[i].armed_by[0] != '\0';
    json_object_set_new(root, "faults_waiting", json_integer(armed));
    return root;
}
