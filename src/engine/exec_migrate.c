/* SPDX-License-Identifier: MIT */
/*
 * exec_migrate.c - live migrations: sending them, and retargeting a VM whose planned target turns
 * out to lack memory (the finished host with the most free memory as xapi counts it).
 */
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec_drv.h"

/* ---------------------------------------------------------------- migration targets */

struct mem_ctx {
    const char *host;
    int64_t used;
};

static bool mem_fn(void *c, const char *ref, const struct xapi_value *rec)
{
    (void)ref;
    struct mem_ctx *m = c;
    const char *ps = xapi_struct_str(rec, "power_state", "");
    if (str_eq(xapi_struct_str(rec, "resident_on", ""), m->host) &&
        (str_eq(ps, "Running") || str_eq(ps, "Paused")))
        m->used += xapi_struct_int(rec, "memory_dynamic_max", 0) +
                   xapi_struct_int(rec, "memory_overhead", 0);
    return true;
}

/* Free memory of a host as xapi counts it (host.compute_free_memory in essence): total minus
 * the host's overhead minus every resident running VM, control domain included, with its
 * overhead; minus what migrations of this pool now in flight will bring. */
static int64_t host_free(struct exec_pool *p, const struct xapi_records *v, const char *host,
                         const struct exec_step *except)
{
    const struct xapi_value *h = v->get(v->ctx, "host", host);
    const struct xapi_value *m =
        h ? v->get(v->ctx, "host_metrics", xapi_struct_str(h, "metrics", "")) : NULL;
    if (!m)
        return 0;
    struct mem_ctx mc = {host, xapi_struct_int(h, "memory_overhead", 0)};
    v->foreach (v->ctx, "vm", mem_fn, &mc);
    for (const struct exec_step *o = p->active; o; o = o->next)
        if (o != except && (o->def->flags & EXEC_KF_MIGRATION) &&
            str_eq(exec_pstr(o->params, "to"), host))
            mc.used += json_integer_value(json_object_get(o->params, "memory"));
    return xapi_struct_int(m, "memory_total", 0) - mc.used;
}

struct pick_ctx {
    struct exec_pool *p;
    const struct xapi_records *v;
    const struct store_step_list *l;
    const char *from, *avoid;
    int64_t need;
    const char *best;
    int64_t best_free;
    const struct exec_step *self;
};

static bool pick_fn(void *c, const char *ref, const struct xapi_value *rec)
{
    struct pick_ctx *k = c;
    if (str_eq(ref, k->from) || str_eq(ref, k->avoid) || !xapi_struct_bool(rec, "enabled", false) ||
        !exec_xv_host_live(k->v, ref))
        return true;
    /* only hosts that are finished with this rollout (or not part of it): a VM moved onto a
     * host still to be updated would not be in that host's evacuation */
    for (size_t i = 0; i < k->l->n; i++) {
        const struct store_step *st = &k->l->items[i];
        if (str_eq(st->host, ref) && exec_kind_by_name(st->kind)->kind != EXEC_K_PRECHECK &&
            st->state != STORE_STEP_DONE && st->state != STORE_STEP_SKIPPED)
            return true;
    }
    int64_t f = host_free(k->p, k->v, ref, k->self);
    if (f >= k->need && f > k->best_free) {
        k->best = ref;
        k->best_free = f;
    }
    return true;
}

/* The planned target has no room after all (memory accounting differs, VMs grew): move the VM
 * to the finished host with the most free memory instead.  Returns true when resent. */
bool exec_retarget(struct exec_step *s)
{
    struct xapi_client *c = exec_pool_client(s->p);
    if (!c || s->retargets >= 3)
        return false;
    struct xapi_records v;
    xapi_records_from_client(&v, c);
    const struct xapi_value *vm = v.get(v.ctx, "vm", exec_pstr(s->params, "vm"));
    if (!vm)
        return false;
    struct store_step_list l = {0};
    if (store_steps_list(s->p->r->x->env.store, s->p->r->id, s->p->name, &l, NULL) != 0)
        return false;
    struct pick_ctx k = {.p = s->p,
                         .v = &v,
                         .l = &l,
                         .from = exec_pstr(s->params, "from"),
                         .avoid = exec_pstr(s->params, "to"),
                         .self = s,
                         .need = xapi_struct_int(vm, "memory_dynamic_max", 0) +
                                 xapi_struct_int(vm, "memory_overhead", 0)};
    xapi_cache_foreach(c, "host", pick_fn, &k);
    char *best = k.best ? xstrdup(k.best) : NULL;
    store_step_list_cleanup(&l);
    if (!best)
        return false;
    s->retargets++;
    const struct xapi_value *hb = v.get(v.ctx, "host", best);
    exec_emit(s->p, exec_host_label(s), exec_step_name(s), -1,
              "%s does not fit its planned target; moving it "
              "to %s instead",
              exec_pstr(s->params, "vm_name"), hb ? xapi_struct_str(hb, "name_label", "?") : best);
    json_object_set_new(s->params, "to", json_string(best));
    json_object_set_new(s->params, "retargeted", json_true());
    free(best);
    struct err e = {0};
    char *pj = exec_dumps(s->params);
    int rc = store_journal_intent(s->p->r->x->env.store, s->p->r->id, s->seq, pj, NULL, &e);
    free(pj);
    exec_steps_refresh(s->p, s->seq);
    if (rc != 0) {
        exec_step_fail(s, "DB", e.msg);
        return true;
    }
    exec_migrate_send(s);
    return true;
}
void exec_migrate_send(struct exec_step *s)
{
    struct xapi_value *pa =
        exec_params_v(2, exec_pstr(s->params, "vm"), exec_pstr(s->params, "to"));
    struct xapi_value *opt = xapi_value_new_struct();
    xapi_struct_set_string(opt, "live", "true");
    xapi_array_append_take(pa, opt);
    exec_send_call(s, "VM.pool_migrate", pa, true, exec_call_then_wait);
}

/* migrate: VM.pool_migrate of one VM to its planned target. */
void exec_send_migrate(struct exec_step *s)
{
    if (exec_intent(s, NULL, false))
        return;
    struct xapi_records v;
    xapi_records_from_client(&v, exec_pool_client(s->p));
    const struct xapi_value *to = v.get(v.ctx, "host", exec_pstr(s->params, "to"));
    exec_emit(s->p, exec_host_label(s), exec_step_name(s), -1, "migrating %s to %s",
              exec_pstr(s->params, "vm_name"), to ? xapi_struct_str(to, "name_label", "?") : "?");
    exec_migrate_send(s);
}
