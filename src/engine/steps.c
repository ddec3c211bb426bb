/* SPDX-License-Identifier: MIT */
/*
 * steps.c - the executor's pure parts (see exec_int.h): plans to journal steps, views of XAPI
 * records (fix effects, host health), undo records of fixes, and explanations of error codes.
 * The per-kind resume rules live in the kind table (exec_kinds.c).
 */
#include <string.h>

#include "base/err.h"
#include "base/jsonx.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec_int.h"

/* ---------------------------------------------------------------- spec lists */

static char *own(struct spec_list *l, char *s)
{
    if (l->n_owned == l->cap_owned) {
        l->cap_owned = l->cap_owned ? 2 * l->cap_owned : 32;
        l->owned = xreallocarray(l->owned, l->cap_owned, sizeof(*l->owned));
    }
    l->owned[l->n_owned++] = s;
    return s;
}

/* Append a step; strings are copied (see exec_int.h). */
void exec_spec_list_add(struct spec_list *l, const char *pool, const char *host, const char *kind,
                        json_t *params_take)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 32;
        l->items = xreallocarray(l->items, l->cap, sizeof(*l->items));
    }
    struct store_step_spec *s = &l->items[l->n++];
    s->pool = own(l, xstrdup(pool));
    s->host = host && *host ? own(l, xstrdup(host)) : NULL;
    s->kind = own(l, xstrdup(kind));
    char *pj = NULL;
    if (params_take) {
        pj = json_dumps(params_take, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(params_take);
    }
    s->params_json = pj ? own(l, pj) : NULL;
}

/* Release everything the list owns. */
void exec_spec_list_cleanup(struct spec_list *l)
{
    for (size_t i = 0; i < l->n_owned; i++)
        free(l->owned[i]);
    free(l->owned);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/* ---------------------------------------------------------------- options */

static json_t *str_array(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Options to JSON (see exec_int.h). */
json_t *exec_opts_to_json(const struct plan_opts *o)
{
    json_t *j = json_pack("{s:i, s:i, s:o, s:o, s:i, s:I, s:b}", "mode", (int)o->mode, "policy",
                          (int)o->policy, "selected", str_array(o->selected, o->n_selected),
                          "hosts", str_array(o->hosts, o->n_hosts), "max_parallel_hosts",
                          o->max_parallel_hosts, "vm_overhead", (json_int_t)o->vm_overhead,
                          "manual_post_tasks", o->manual_post_tasks);
    if (o->mode == PLAN_MODE_UPGRADE)
        json_object_set_new(
            j, "upgrade",
            json_pack("{s:s, s:s, s:b, s:b, s:o}", "to", o->upgrade_to ? o->upgrade_to : "", "url",
                      o->upgrade_url ? o->upgrade_url : "", "manual", o->upgrade_manual,
                      "apply_updates", o->upgrade_apply_updates, "shutdown",
                      str_array(o->upgrade_shutdown, o->n_upgrade_shutdown)));
    return j;
}

static const char **str_array_from(const json_t *a, size_t *n)
{
    *n = json_array_size(a);
    const char **v = xcalloc(*n + 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s)
            v[k++] = s;
    }
    *n = k;
    return v;
}

/* Options from JSON (see exec_int.h). */
void exec_opts_from_json(const json_t *j, struct plan_opts *o, const char ***sel,
                         const char ***hosts)
{
    o->mode = (enum plan_mode)jsonx_int(j, "mode", o->mode);
    o->policy = (enum plan_policy)jsonx_int(j, "policy", o->policy);
    *sel = str_array_from(json_object_get(j, "selected"), &o->n_selected);
    o->selected = *sel;
    *hosts = str_array_from(json_object_get(j, "hosts"), &o->n_hosts);
    o->hosts = *hosts;
    o->max_parallel_hosts = (int)jsonx_int(j, "max_parallel_hosts", 0);
    o->vm_overhead = jsonx_int(j, "vm_overhead", 0);
    const json_t *up = json_object_get(j, "upgrade");
    if (up) { /* the VMs to shut down are resolved already: the re-plan needs no list */
        o->upgrade_to = jsonx_str(up, "to", NULL);
        o->upgrade_url = jsonx_str(up, "url", NULL);
        o->upgrade_manual = jsonx_bool(up, "manual", false);
        o->upgrade_apply_updates = jsonx_bool(up, "apply_updates", false);
    }
    o->manual_post_tasks = json_is_true(json_object_get(j, "manual_post_tasks"));
}

/* ---------------------------------------------------------------- plans to steps */

static bool in_list(const char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq_nocase(v[i], s))
            return true;
    return false;
}

static json_t *fix_json(const struct plan_fix *f)
{
    return json_pack("{s:s, s:s, s:s}", "fix", plan_fix_name(f->kind), "obj",
                     f->obj_ref ? f->obj_ref : "", "arg", f->arg_ref ? f->arg_ref : "");
}

/* One resolve step per fix of r (see exec_int.h). */
void exec_steps_resolve(const char *pool, const struct plan_resolution *r, struct spec_list *out)
{
    for (size_t i = 0; r && i < r->n_fixes; i++)
        exec_spec_list_add(out, pool, NULL, SK_RESOLVE, fix_json(&r->fixes[i]));
}

/* The first steps of a pool (see exec_int.h). */
int exec_steps_initial(const char *pool, const struct plan *p, const struct plan_resolution *r,
                       const char *(*file_for)(void *ctx, const char *uuid), void *ctx,
                       json_t *opts_json, struct spec_list *out, struct err *e)
{
    int rc = 0;
    exec_steps_resolve(pool, r, out);
    if (p->n_uploads > 0 && (!p->upload_sr_ref || !*p->upload_sr_ref)) {
        rc = err_set(e, PP_ESTATE,
                     "pool %s: no SR can hold the update image (%lld bytes): free space on "
                     "the default SR or attach a shared SR",
                     pool, (long long)p->upload_bytes);
        goto out;
    }
    for (size_t i = 0; i < p->n_uploads; i++) {
        const char *path = file_for ? file_for(ctx, p->uploads[i]) : NULL;
        if (!path) {
            rc = err_set(e, PP_EINVAL, "pool %s: no file for update %s (download it first)", pool,
                         p->uploads[i]);
            goto out;
        }
        exec_spec_list_add(out, pool, NULL, SK_UPLOAD,
                           json_pack("{s:s, s:s, s:s}", "uuid", p->uploads[i], "path", path, "sr",
                                     p->upload_sr_ref));
    }
    for (size_t i = 0; i < p->n_uploads; i++)
        exec_spec_list_add(out, pool, NULL, SK_INTRODUCE,
                           json_pack("{s:s}", "uuid", p->uploads[i]));
    for (size_t h = 0; h < p->n_hosts; h++) {
        const struct plan_host *ph = &p->hosts[h];
        if (ph->order < 0)
            continue;
        for (size_t u = 0; u < ph->n_updates; u++) {
            if (!in_list((const char *const *)p->uploads, p->n_uploads, ph->updates[u]))
                continue;
            /* prechecks of distinct hosts run at once: one lane per host (batch "all") */
            exec_spec_list_add(out, pool, ph->ref, SK_PRECHECK,
                               json_pack("{s:s, s:s, s:i}", "uuid", ph->updates[u], "host_name",
                                         ph->name, "batch", EXEC_BATCH_PRECHECK));
        }
    }
    exec_spec_list_add(out, pool, NULL, SK_REPLAN, json_pack("{s:O}", "opts", opts_json));
out:
    json_decref(opts_json);
    return rc;
}

static void add_migrations(struct spec_list *out, const char *pool, const struct plan_host *ph,
                           const struct plan_action *a, bool back)
{
    for (size_t m = 0; m < a->n_migrations; m++) {
        const struct plan_migration *mg = &a->migrations[m];
        exec_spec_list_add(out, pool, ph->ref, SK_MIGRATE,
                           json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:b}", "batch", ph->batch,
                                     "host_name", ph->name, "vm", mg->vm_ref, "vm_name",
                                     mg->vm_name ? mg->vm_name : "", "from", mg->from_ref, "to",
                                     mg->to_ref, "memory", (json_int_t)mg->memory, "back", back));
    }
}

static json_t *host_params(const struct plan_host *ph)
{
    return json_pack("{s:i, s:s}", "batch", ph->batch, "host_name", ph->name);
}

/* The upgrade step: target version, URL (automatic) or manual mode, master or supporter. */
static json_t *upgrade_params(const struct plan *p, const struct plan_host *ph)
{
    json_t *pj = host_params(ph);
    json_object_set_new(pj, "to", json_string(p->upgrade_to ? p->upgrade_to : ""));
    json_object_set_new(pj, "url", json_string(p->upgrade_url ? p->upgrade_url : ""));
    json_object_set_new(pj, "manual", json_boolean(p->upgrade_manual));
    json_object_set_new(pj, "master", json_boolean(ph->is_master));
    return pj;
}

/* The health gate (docs/health-gates.md) ends the lane of a host that went down and came back
 * (a reboot or a toolstack restart the executor sends; not an upgrade, which has its own wait):
 * before the next batch begins, its PBDs attached, the VMs moved back running, the user's hook. */
static void add_gate(struct spec_list *out, const char *pool, const struct plan_host *ph)
{
    const char *restarted = NULL;
    for (size_t k = 0; k < ph->n_actions; k++) {
        const struct plan_action *a = &ph->actions[k];
        if (a->kind == PLAN_ACT_UPGRADE)
            return;
        if ((a->kind == PLAN_ACT_REBOOT || a->kind == PLAN_ACT_RESTART_TOOLSTACK) && !a->manual)
            restarted = a->kind == PLAN_ACT_REBOOT ? "reboot" : "toolstack";
    }
    if (!restarted)
        return;
    json_t *pj = host_params(ph);
    json_object_set_new(pj, "restarted", json_string(restarted));
    exec_spec_list_add(out, pool, ph->ref, SK_GATE, pj);
}

static void add_host(struct spec_list *out, const char *pool, const struct plan *p,
                     const struct plan_host *ph)
{
    for (size_t k = 0; k < ph->n_actions; k++) {
        const struct plan_action *a = &ph->actions[k];
        json_t *pj;
        switch (a->kind) {
        case PLAN_ACT_DISABLE:
            exec_spec_list_add(out, pool, ph->ref, SK_DISABLE, host_params(ph));
            break;
        case PLAN_ACT_EVACUATE:
            add_migrations(out, pool, ph, a, false);
            break;
        case PLAN_ACT_MIGRATE_BACK:
            add_migrations(out, pool, ph, a, true);
            break;
        case PLAN_ACT_APPLY:
            pj = host_params(ph);
            json_object_set_new(pj, "uuid", json_string(a->update_uuid));
            exec_spec_list_add(out, pool, ph->ref, SK_APPLY, pj);
            break;
        case PLAN_ACT_APPLY_CDN:
            pj = host_params(ph);
            json_object_set_new(pj, "hash", json_string(a->update_uuid));
            exec_spec_list_add(out, pool, ph->ref, SK_APPLY_CDN, pj);
            break;
        case PLAN_ACT_REBOOT:
        case PLAN_ACT_RESTART_TOOLSTACK:
            if (a->manual)
                break; /* the pool forbids automatic restarts: left to the user */
            pj = host_params(ph);
            json_object_set_new(pj, "mandatory", json_boolean(a->mandatory));
            exec_spec_list_add(out, pool, ph->ref,
                               a->kind == PLAN_ACT_REBOOT ? SK_REBOOT : SK_RESTART_AGENT, pj);
            break;
        case PLAN_ACT_ENABLE:
            exec_spec_list_add(out, pool, ph->ref, SK_ENABLE, host_params(ph));
            break;
        case PLAN_ACT_RESTART_VMS:
            break; /* VM restarts are reported in the plan and left to the user */
        case PLAN_ACT_UPGRADE:
            exec_spec_list_add(out, pool, ph->ref, SK_UPGRADE, upgrade_params(p, ph));
            break;
        case PLAN_ACT_RESTORE_VMS: /* the VMs come from the journal's undo list */
            exec_spec_list_add(out, pool, ph->ref, SK_RESTORE, host_params(ph));
            break;
        }
    }
    add_gate(out, pool, ph);
}

/* The steps after re-planning (see exec_int.h). */
void exec_steps_hosts(const char *pool, const struct plan *p, const char *const *uploads,
                      size_t n_uploads, struct spec_list *out)
{
    bool *seen = xcalloc(p->n_hosts + 1, sizeof(*seen));
    for (size_t h = 0; h < p->n_hosts; h++) {
        if (p->hosts[h].order < 0 || seen[h])
            continue;
        int b = p->hosts[h].batch;
        for (size_t k = h; k < p->n_hosts; k++) {
            if (seen[k] || p->hosts[k].order < 0 || p->hosts[k].batch != b)
                continue;
            seen[k] = true;
            add_host(out, pool, p, &p->hosts[k]);
        }
    }
    free(seen);
    for (size_t i = 0; i < n_uploads; i++)
        exec_spec_list_add(out, pool, NULL, SK_CLEAN, json_pack("{s:s}", "uuid", uploads[i]));
    exec_spec_list_add(out, pool, NULL, SK_UNDO, NULL);
}

static bool align_long(enum exec_kind k)
{
    return k == EXEC_K_APPLY || k == EXEC_K_APPLY_CDN || k == EXEC_K_REBOOT ||
           k == EXEC_K_RESTART_AGENT;
}

static bool align_unfinished(const struct store_step *st)
{
    return st->state != STORE_STEP_DONE && st->state != STORE_STEP_SKIPPED;
}

/* Unfinished long steps of host in [i0, end), and whether it is still evacuating (an
 * unfinished migration before its first long step). */
static int align_lane(const struct store_step_list *l, const enum exec_kind *kinds, size_t i0,
                      size_t end, const char *host, bool *evacuating)
{
    int left = 0;
    bool seen_long = false;
    *evacuating = false;
    for (size_t k = i0; k < end; k++) {
        const struct store_step *st = &l->items[k];
        if (!str_eq(st->host, host))
            continue;
        if (align_long(kinds[k])) {
            seen_long = true;
            left += align_unfinished(st);
        } else if (!seen_long && kinds[k] == EXEC_K_MIGRATE && align_unfinished(st)) {
            *evacuating = true;
        }
    }
    return left;
}

/* See exec_int.h. */
bool exec_steps_align_wait(const struct store_step_list *l, const enum exec_kind *kinds, size_t i0,
                           size_t end, size_t i)
{
    const char *me = l->items[i].host;
    if (!me || !align_long(kinds[i]))
        return false;
    bool evacuating;
    int mine = align_lane(l, kinds, i0, end, me, &evacuating);
    for (size_t k = i0; k < end; k++) {
        const char *h = l->items[k].host;
        /* each run of a host's steps once (a lane's steps are listed together): the answer for
         * a host does not change when asked again, so no search for its earlier steps (that
         * made a pump of a big batch quadratic in its steps for each lane) */
        if (!h || str_eq(h, me) || (k > i0 && str_eq(l->items[k - 1].host, h)))
            continue;
        int theirs = align_lane(l, kinds, i0, end, h, &evacuating);
        if (evacuating && theirs >= mine)
            return true;
    }
    return false;
}

/* ---------------------------------------------------------------- views */

struct find_ctx {
    const char *key, *want;
    const char *ref;
    const struct xapi_value *rec;
};

static bool find_fn(void *c, const char *ref, const struct xapi_value *rec)
{
    struct find_ctx *f = c;
    if (!f->key || str_eq_nocase(xapi_struct_str(rec, f->key, ""), f->want)) {
        f->ref = ref;
        f->rec = rec;
        return false;
    }
    return true;
}

/* The pool record (see exec_int.h). */
const struct xapi_value *exec_xv_pool(const struct xapi_records *v, const char **ref)
{
    struct find_ctx f = {0};
    v->foreach (v->ctx, "pool", find_fn, &f);
    if (ref)
        *ref = f.ref;
    return f.rec;
}

/* The pool_update with that uuid (see exec_int.h). */
const struct xapi_value *exec_xv_update_by_uuid(const struct xapi_records *v, const char *uuid,
                                                const char **ref)
{
    struct find_ctx f = {.key = "uuid", .want = uuid};
    v->foreach (v->ctx, "pool_update", find_fn, &f);
    if (ref)
        *ref = f.ref;
    return f.rec;
}

/* host_metrics.live of a host (see exec_int.h). */
bool exec_xv_host_live(const struct xapi_records *v, const char *host)
{
    const struct xapi_value *h = v->get(v->ctx, "host", host);
    if (!h)
        return false;
    const struct xapi_value *m = v->get(v->ctx, "host_metrics", xapi_struct_str(h, "metrics", ""));
    return m && xapi_struct_bool(m, "live", false);
}

/* other_config[key] of a host (see exec_int.h). */
const char *exec_xv_host_oc(const struct xapi_records *v, const char *host, const char *key)
{
    const struct xapi_value *h = v->get(v->ctx, "host", host);
    const struct xapi_value *oc = h ? xapi_struct_get(h, "other_config") : NULL;
    return oc ? xapi_struct_str(oc, key, "") : "";
}

struct pbd_ctx {
    const char *host;
    bool ok;
};

static bool pbd_fn(void *c, const char *ref, const struct xapi_value *rec)
{
    (void)ref;
    struct pbd_ctx *p = c;
    if (str_eq(xapi_struct_str(rec, "host", ""), p->host) &&
        !xapi_struct_bool(rec, "currently_attached", false)) {
        p->ok = false;
        return false;
    }
    return true;
}

/* Every PBD of the host attached (see exec_int.h). */
bool exec_xv_host_pbds_plugged(const struct xapi_records *v, const char *host)
{
    struct pbd_ctx p = {.host = host, .ok = true};
    v->foreach (v->ctx, "pbd", pbd_fn, &p);
    return p.ok;
}

static bool set_has(const struct xapi_value *set, const char *s)
{
    for (size_t i = 0; i < xapi_array_len(set); i++)
        if (str_eq(xapi_value_str(xapi_array_get(set, i)), s))
            return true;
    return false;
}

/* Update applied on host (see exec_int.h). */
bool exec_xv_update_applied(const struct xapi_records *v, const char *uuid, const char *host)
{
    const char *uref = NULL;
    const struct xapi_value *u = exec_xv_update_by_uuid(v, uuid, &uref);
    if (!u)
        return false;
    if (set_has(xapi_struct_get(u, "hosts"), host))
        return true;
    const struct xapi_value *h = v->get(v->ctx, "host", host);
    return h && set_has(xapi_struct_get(h, "updates"), uref);
}

/* ---------------------------------------------------------------- derivation */

static const char *pstr(const json_t *params, const char *key)
{
    const char *s = json_string_value(json_object_get(params, key));
    return s ? s : "";
}

static enum plan_fix_kind fix_kind(const char *name)
{
    for (int k = PLAN_FIX_NONE; k <= PLAN_FIX_START_VM; k++)
        if (str_eq(plan_fix_name((enum plan_fix_kind)k), name))
            return (enum plan_fix_kind)k;
    return PLAN_FIX_NONE;
}

static const struct xapi_value *vm_cd_vbd(const struct xapi_records *v, const char *vm,
                                          const char **vbd_ref)
{
    const struct xapi_value *r = v->get(v->ctx, "vm", vm);
    const struct xapi_value *vbds = r ? xapi_struct_get(r, "VBDs") : NULL;
    for (size_t i = 0; i < xapi_array_len(vbds); i++) {
        const char *ref = xapi_value_str(xapi_array_get(vbds, i));
        const struct xapi_value *b = v->get(v->ctx, "vbd", ref);
        if (b && str_eq(xapi_struct_str(b, "type", ""), "CD")) {
            if (vbd_ref)
                *vbd_ref = ref;
            return b;
        }
    }
    return NULL;
}

static bool fix_visible(const struct xapi_records *v, enum plan_fix_kind k, const char *obj,
                        const char *arg)
{
    const struct xapi_value *r;
    switch (k) {
    case PLAN_FIX_DISABLE_HA:
    case PLAN_FIX_ENABLE_HA:
        r = exec_xv_pool(v, NULL);
        return r && xapi_struct_bool(r, "ha_enabled", false) == (k == PLAN_FIX_ENABLE_HA);
    case PLAN_FIX_ENABLE_HOST:
    case PLAN_FIX_DISABLE_HOST:
        r = v->get(v->ctx, "host", obj);
        return r && xapi_struct_bool(r, "enabled", true) == (k == PLAN_FIX_ENABLE_HOST);
    case PLAN_FIX_PLUG_PBD:
        return exec_xv_host_pbds_plugged(v, obj);
    case PLAN_FIX_EJECT_CD:
    case PLAN_FIX_INSERT_CD:
        r = vm_cd_vbd(v, obj, NULL);
        return !r || xapi_struct_bool(r, "empty", true) == (k == PLAN_FIX_EJECT_CD);
    case PLAN_FIX_SUSPEND_VM:
    case PLAN_FIX_RESUME_VM:
    case PLAN_FIX_SHUTDOWN_VM:
    case PLAN_FIX_START_VM: {
        r = v->get(v->ctx, "vm", obj);
        const char *ps = r ? xapi_struct_str(r, "power_state", "") : "";
        const char *want = k == PLAN_FIX_SUSPEND_VM    ? "Suspended"
                           : k == PLAN_FIX_SHUTDOWN_VM ? "Halted"
                                                       : "Running";
        (void)arg;
        return str_eq_nocase(ps, want);
    }
    case PLAN_FIX_NONE:
        return true;
    }
    return false;
}

/* A fix's effect visible (see exec_int.h). */
bool exec_fix_done(const struct xapi_records *v, const json_t *fix)
{
    return fix_visible(v, fix_kind(pstr(fix, "fix")), pstr(fix, "obj"), pstr(fix, "arg"));
}

/* Health after the action (see exec_int.h). */
bool exec_host_healthy(const struct xapi_records *v, const char *host, const json_t *params,
                       bool reboot)
{
    if (!host || !exec_xv_host_live(v, host))
        return false;
    if (reboot) {
        if (str_eq(exec_xv_host_oc(v, host, "boot_time"), pstr(params, "boot_before")))
            return false;
    }
    if (str_eq(exec_xv_host_oc(v, host, "agent_start_time"), pstr(params, "agent_before")))
        return false;
    return exec_xv_host_pbds_plugged(v, host);
}

/* ---------------------------------------------------------------- undo records */

/* The undo record of a fix (see exec_int.h). */
json_t *exec_undo_for_fix(const struct xapi_records *v, const json_t *fix)
{
    const char *obj = pstr(fix, "obj");
    enum plan_fix_kind k = fix_kind(pstr(fix, "fix"));
    switch (k) {
    case PLAN_FIX_DISABLE_HA: {
        const char *pref = NULL;
        const struct xapi_value *p = exec_xv_pool(v, &pref);
        json_t *srs = json_array();
        const struct xapi_value *sf = p ? xapi_struct_get(p, "ha_statefiles") : NULL;
        for (size_t i = 0; i < xapi_array_len(sf); i++) {
            const struct xapi_value *vdi =
                v->get(v->ctx, "vdi", xapi_value_str(xapi_array_get(sf, i)));
            const char *sr = vdi ? xapi_struct_str(vdi, "SR", "") : "";
            if (*sr)
                json_array_append_new(srs, json_string(sr));
        }
        if (json_array_size(srs) == 0 && p && *xapi_struct_str(p, "default_SR", ""))
            json_array_append_new(srs, json_string(xapi_struct_str(p, "default_SR", "")));
        const struct xapi_value *cfg = p ? xapi_struct_get(p, "ha_configuration") : NULL;
        json_t *cj = cfg ? xapi_value_to_json(cfg) : NULL;
        if (!json_is_object(cj)) {
            json_decref(cj);
            cj = json_object();
        }
        return json_pack("{s:s, s:s, s:o, s:o}", "fix", "enable_ha", "obj", pref ? pref : obj,
                         "heartbeat_srs", srs, "configuration", cj);
    }
    case PLAN_FIX_DISABLE_HOST:
        return json_pack("{s:s, s:s}", "fix", "enable_host", "obj", obj);
    case PLAN_FIX_ENABLE_HOST:
        return json_pack("{s:s, s:s}", "fix", "disable_host", "obj", obj);
    case PLAN_FIX_EJECT_CD: {
        const char *vbd = "";
        const struct xapi_value *b = vm_cd_vbd(v, obj, &vbd);
        const char *vdi = b ? xapi_struct_str(b, "VDI", "") : "";
        if (!b || xapi_struct_bool(b, "empty", true) || !*vdi)
            return NULL;
        return json_pack("{s:s, s:s, s:s, s:s}", "fix", "insert_cd", "obj", obj, "vbd", vbd, "vdi",
                         vdi);
    }
    case PLAN_FIX_SUSPEND_VM:
    case PLAN_FIX_SHUTDOWN_VM: {
        const struct xapi_value *vm = v->get(v->ctx, "vm", obj);
        const char *on = vm ? xapi_struct_str(vm, "resident_on", "") : "";
        return json_pack("{s:s, s:s, s:s}", "fix",
                         k == PLAN_FIX_SUSPEND_VM ? "resume_vm" : "start_vm", "obj", obj, "arg",
                         on);
    }
    default:
        return NULL;
    }
}
