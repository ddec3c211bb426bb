/* SPDX-License-Identifier: MIT */
/*
 * engine_plan_json.c - a plan as the REST API shows it (docs/rest-api.md "Plan"): the planner's own
 * JSON (plan_to_json, refs and all) with names where people read them — prechecks with the host's
 * name and a resolution in words, hosts with their migrations as VM: from -> to by name, pool
 * totals — and the fleet-wide totals over every pool.  Pure: data in, JSON out.
 */
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "base/str.h"
#include "engine/engine_int.h"
#include "plan/plan.h"

static const char *host_name(const struct inv_pool *inv, const char *ref)
{
    const struct inv_host *h = ref && *ref ? inv_pool_host(inv, ref) : NULL;
    return h ? h->name_label : (ref ? ref : "");
}

static const char *vm_name(const struct inv_pool *inv, const char *ref)
{
    const struct inv_vm *v = ref && *ref ? inv_pool_vm(inv, ref) : NULL;
    return v ? v->name_label : (ref ? ref : "");
}

static const char *sr_name(const struct inv_pool *inv, const char *ref)
{
    const struct inv_sr *s = ref && *ref ? inv_pool_sr(inv, ref) : NULL;
    return s ? s->name_label : (ref ? ref : "");
}

/* A fix in words, or NULL for none. */
static char *fix_words(const struct inv_pool *inv, const struct plan_fix *f)
{
    switch (f->kind) {
    case PLAN_FIX_NONE:
        return NULL;
    case PLAN_FIX_DISABLE_HA:
        return xstrdup("Turn HA off for the update");
    case PLAN_FIX_ENABLE_HA:
        return xstrdup("Turn HA back on");
    case PLAN_FIX_ENABLE_HOST:
        return xasprintf("Enable host %s", host_name(inv, f->obj_ref));
    case PLAN_FIX_DISABLE_HOST:
        return xasprintf("Disable host %s", host_name(inv, f->obj_ref));
    case PLAN_FIX_PLUG_PBD:
        return xasprintf("Plug SR %s on host %s", sr_name(inv, f->arg_ref),
                         host_name(inv, f->obj_ref));
    case PLAN_FIX_EJECT_CD:
        return xasprintf("Eject the CD of VM %s", vm_name(inv, f->obj_ref));
    case PLAN_FIX_INSERT_CD:
        return xasprintf("Insert the CD of VM %s again", vm_name(inv, f->obj_ref));
    case PLAN_FIX_SUSPEND_VM:
        return xasprintf("Suspend VM %s", vm_name(inv, f->obj_ref));
    case PLAN_FIX_RESUME_VM:
        return xasprintf("Resume VM %s on %s", vm_name(inv, f->obj_ref),
                         host_name(inv, f->arg_ref));
    case PLAN_FIX_SHUTDOWN_VM:
        return xasprintf("Shut VM %s down", vm_name(inv, f->obj_ref));
    case PLAN_FIX_START_VM:
        return xasprintf("Start VM %s on %s", vm_name(inv, f->obj_ref), host_name(inv, f->arg_ref));
    }
    return NULL;
}

static json_t *words_or_null(char *s)
{
    json_t *j = s ? json_string(s) : json_null();
    free(s);
    return j;
}

static const char *rest_severity(enum plan_severity s)
{
    switch (s) {
    case PLAN_SEV_BLOCKING:
        return "error";
    case PLAN_SEV_WARNING:
        return "warning";
    case PLAN_SEV_INFO:
    default:
        return "info";
    }
}

static json_t *migration_json(const struct inv_pool *inv, const struct plan_migration *m)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "vm", m->vm_name, "vm_ref", m->vm_ref, "from",
                     host_name(inv, m->from_ref), "to", host_name(inv, m->to_ref), "from_ref",
                     m->from_ref, "to_ref", m->to_ref, "memory", (json_int_t)m->memory);
}

static const char *update_name(const struct catalog *cat, const char *uuid)
{
    const struct cat_patch *p = cat ? catalog_find_patch(cat, uuid) : NULL;
    return p ? p->name_label : uuid;
}

static json_t *totals_json(const struct plan *p)
{
    const struct plan_totals *t = &p->totals;
    const struct plan_alt *a = &p->other;
    return json_pack(
        "{s:I,s:I,s:I,s:I,s:f,s:f,s:I,s:I,s:I,s:{s:s,s:I,s:I,s:f}}", "migrations",
        (json_int_t)t->migrations, "reboots", (json_int_t)t->reboots, "toolstack_restarts",
        (json_int_t)t->toolstack_restarts, "live_patched", (json_int_t)t->livepatched_hosts,
        "window_s", t->window_s, "lower_bound_s", t->bound_window_s, "migrations_lower_bound",
        (json_int_t)t->bound_migrations, "hosts_updated", (json_int_t)t->hosts_updated, "batches",
        (json_int_t)t->batches, "other_policy", "policy", plan_policy_name(a->policy), "migrations",
        (json_int_t)a->migrations, "batches", (json_int_t)a->batches, "window_s", a->window_s);
}

/* Each host's updates once, with their names (the pool's "updates"). */
static json_t *updates_json(const struct plan *p, const struct catalog *cat)
{
    json_t *updates = json_array();

    for (size_t i = 0; i < p->n_hosts; i++) {
        const struct plan_host *h = &p->hosts[i];
        for (size_t u = 0; u < h->n_updates; u++) {
            bool seen = false;
            size_t k;
            json_t *it;
            json_array_foreach(updates, k, it) seen =
                seen || str_eq(json_string_value(json_object_get(it, "id")), h->updates[u]);
            if (!seen)
                json_array_append_new(updates, json_pack("{s:s,s:s}", "id", h->updates[u], "name",
                                                         update_name(cat, h->updates[u])));
        }
    }
    return updates;
}

static json_t *prechecks_json(const struct plan *p, const struct inv_pool *inv)
{
    json_t *pre = json_array();

    for (size_t i = 0; i < p->n_checks; i++) {
        const struct plan_check *k = &p->checks[i];
        json_t *c = json_pack("{s:s,s:o,s:s,s:s}", "id", k->id, "host",
                              *k->host_ref ? json_string(host_name(inv, k->host_ref)) : json_null(),
                              "severity", rest_severity(k->severity), "message", k->message);
        if (k->fixable && k->fix.kind != PLAN_FIX_NONE)
            json_object_set_new(c, "resolution",
                                json_pack("{s:o,s:o}", "action",
                                          words_or_null(fix_words(inv, &k->fix)), "undo",
                                          words_or_null(fix_words(inv, &k->undo))));
        else
            json_object_set_new(c, "resolution", json_null());
        json_array_append_new(pre, c);
    }
    return pre;
}

/* One host's actions and migrations: full, each migration by name twice (in its action and in
 * the host's list); summary, counts where the lists would be, in the key order summarising the
 * full JSON gives (engine_plan_json_summarize), never building the lists. */
static void host_json(const struct plan_host *h, const struct inv_pool *inv, bool summary,
                      json_t *hj)
{
    json_t *acts = json_object_get(hj, "actions"), *migs = summary ? NULL : json_array();
    size_t n_host = 0;

    json_object_set_new(hj, "toolstack_restart", json_boolean(h->toolstack));
    json_object_set_new(hj, "live_patch", json_boolean(h->livepatched));
    for (size_t a = 0; a < h->n_actions && a < json_array_size(acts); a++) {
        const struct plan_action *act = &h->actions[a];
        json_t *aj = json_array_get(acts, a), *am = summary ? NULL : json_array();

        n_host += act->n_migrations;
        for (size_t m = 0; !summary && m < act->n_migrations; m++) {
            json_array_append_new(am, migration_json(inv, &act->migrations[m]));
            json_array_append_new(migs, migration_json(inv, &act->migrations[m]));
        }
        if (act->n_migrations && !summary)
            json_object_set(aj, "migrations", am);
        if (act->n_migrations)
            json_object_set_new(
                aj, "description",
                json_string(act->kind == PLAN_ACT_EVACUATE
                                ? (act->n_migrations == 1 ? "evacuate 1 VM" : "evacuate the VMs")
                                : "bring the VMs back"));
        if (summary && json_object_get(aj, "migrations")) {
            json_object_set_new(aj, "migration_count", json_integer((json_int_t)act->n_migrations));
            json_object_del(aj, "migrations");
        }
        json_decref(am);
    }
    if (summary)
        json_object_set_new(hj, "migration_count", json_integer((json_int_t)n_host));
    else
        json_object_set_new(hj, "migrations", migs);
}

/* plan_to_json of p without its migration lists: each action's "migrations" an empty array. */
static json_t *plan_json_no_migrations(const struct plan *p)
{
    struct plan q = *p;
    struct plan_host *hosts = xcalloc(p->n_hosts ? p->n_hosts : 1, sizeof(*hosts));
    json_t *o;

    for (size_t i = 0; i < p->n_hosts; i++) {
        hosts[i] = p->hosts[i];
        hosts[i].actions = xcalloc(p->hosts[i].n_actions + 1, sizeof(*hosts[i].actions));
        for (size_t a = 0; a < p->hosts[i].n_actions; a++) {
            hosts[i].actions[a] = p->hosts[i].actions[a];
            hosts[i].actions[a].n_migrations = 0;
        }
    }
    q.hosts = hosts;
    o = plan_to_json(&q);
    for (size_t i = 0; i < p->n_hosts; i++)
        free(hosts[i].actions);
    free(hosts);
    return o;
}

static json_t *pool_json(const struct plan *p, const struct inv_pool *inv,
                         const struct catalog *cat, const char *pool_name, bool summary)
{
    json_t *o = summary ? plan_json_no_migrations(p) : plan_to_json(p);
    json_t *hosts = json_object_get(o, "hosts");

    json_object_set_new(o, "name", json_string(pool_name));
    json_object_set_new(o, "pool", json_string(pool_name));
    json_object_set_new(o, "blocked", json_boolean(!plan_can_resolve(p)));
    json_object_set_new(o, "prechecks", prechecks_json(p, inv));
    for (size_t i = 0; i < p->n_hosts && i < json_array_size(hosts); i++)
        host_json(&p->hosts[i], inv, summary, json_array_get(hosts, i));
    json_object_set_new(o, "updates", updates_json(p, cat));
    json_object_set_new(o, "totals", totals_json(p));
    return o;
}

/* The pool's plan for the REST API (new reference). */
json_t *engine_plan_pool_json(const struct plan *p, const struct inv_pool *inv,
                              const struct catalog *cat, const char *pool_name)
{
    return pool_json(p, inv, cat, pool_name, false);
}

/* The pool's plan summarised per host (see engine_int.h; new reference). */
json_t *engine_plan_pool_summary_json(const struct plan *p, const struct inv_pool *inv,
                                      const struct catalog *cat, const char *pool_name)
{
    return pool_json(p, inv, cat, pool_name, true);
}

/* o.migrations (an array) becomes o.migration_count. */
static void count_migrations(json_t *o)
{
    json_t *m = json_object_get(o, "migrations");

    if (!json_is_array(m))
        return;
    json_object_set_new(o, "migration_count", json_integer((json_int_t)json_array_size(m)));
    json_object_del(o, "migrations");
}

/* The plan summarised per host (see engine_int.h). */
void engine_plan_json_summarize(json_t *pool_plan)
{
    size_t i, k;
    json_t *h, *a;

    json_array_foreach(json_object_get(pool_plan, "hosts"), i, h)
    {
        count_migrations(h);
        json_array_foreach(json_object_get(h, "actions"), k, a) count_migrations(a);
    }
}

/* Sum the pools' totals into the fleet's (window: pools run in parallel, so the longest). */
json_t *engine_plan_fleet_totals(json_t *pools)
{
    json_int_t mig = 0, reb = 0, ts = 0, lp = 0, lbm = 0, hu = 0;
    double win = 0, lb = 0;
    size_t i;
    json_t *p;

    json_array_foreach(pools, i, p)
    {
        json_t *t = json_object_get(p, "totals");
        mig += json_integer_value(json_object_get(t, "migrations"));
        reb += json_integer_value(json_object_get(t, "reboots"));
        ts += json_integer_value(json_object_get(t, "toolstack_restarts"));
        lp += json_integer_value(json_object_get(t, "live_patched"));
        lbm += json_integer_value(json_object_get(t, "migrations_lower_bound"));
        hu += json_integer_value(json_object_get(t, "hosts_updated"));
        if (json_number_value(json_object_get(t, "window_s")) > win)
            win = json_number_value(json_object_get(t, "window_s"));
        if (json_number_value(json_object_get(t, "lower_bound_s")) > lb)
            lb = json_number_value(json_object_get(t, "lower_bound_s"));
    }
    return json_pack("{s:I,s:I,s:I,s:I,s:f,s:f,s:I,s:I}", "migrations", mig, "reboots", reb,
                     "toolstack_restarts", ts, "live_patched", lp, "window_s", win, "lower_bound_s",
                     lb, "migrations_lower_bound", lbm, "hosts_updated", hu);
}
