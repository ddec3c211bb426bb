/* SPDX-License-Identifier: MIT */
/*
 * tools.c - the VMs whose guest tools must be upgraded, as the Updates views list them (see
 * views.h view_tools_outdated; seed step 12, docs/upgrade.md "Guest tools").
 */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "plan/alerts.h"
#include "plan/plan.h"
#include "plan/views.h"

static bool is_null_ref(const char *r)
{
    return !r || !*r || str_eq(r, "OpaqueRef:NULL");
}

/* The host vm is judged by (see views.h), or NULL for a pool without any host record. */
static const struct inv_host *judged_by(const struct inv_pool *p, const struct inv_vm *vm)
{
    const struct inv_host *h = NULL;
    if ((vm->power_state == INV_RUNNING || vm->power_state == INV_PAUSED) &&
        !is_null_ref(vm->resident_on))
        h = inv_pool_host(p, vm->resident_on);
    if (!h && !is_null_ref(vm->affinity))
        h = inv_pool_host(p, vm->affinity);
    return h ? h : inv_pool_master(p);
}

static int cmp_tools(const void *x, const void *y)
{
    const struct view_tools_vm *a = x, *b = y;
    if (a->pool_index != b->pool_index)
        return a->pool_index < b->pool_index ? -1 : 1;
    if (a->host != b->host) {
        bool am = str_eq(a->host->ref, a->pool->master_ref),
             bm = str_eq(b->host->ref, b->pool->master_ref);
        if (am != bm)
            return am ? -1 : 1;
        int r = alerts_natural_cmp(a->host->name_label, b->host->name_label);
        if (r)
            return r;
        r = strcmp(a->host->ref, b->host->ref);
        if (r)
            return r;
    }
    int r = alerts_natural_cmp(a->vm->name_label, b->vm->name_label);
    return r ? r : strcmp(a->vm->ref, b->vm->ref);
}

/* See views.h. */
void view_tools_outdated(const struct inv_pool *const *pools, size_t n_pools,
                         struct view_tools_vms *out)
{
    size_t cap = 0;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n_pools; i++) {
        const struct inv_pool *p = pools[i];
        for (size_t v = 0; p && v < p->n_vms; v++) {
            const struct inv_vm *vm = &p->vms[v];
            const struct inv_host *h = judged_by(p, vm);
            if (!h || !plan_tools_outdated(vm, h->product_version))
                continue;
            if (out->n == cap) {
                cap = cap ? 2 * cap : 8;
                out->v = xrealloc(out->v, cap * sizeof(*out->v));
            }
            out->v[out->n++] = (struct view_tools_vm){p, h, vm, i};
        }
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), cmp_tools);
}

/* See views.h. */
void view_tools_vms_cleanup(struct view_tools_vms *r)
{
    free(r->v);
    memset(r, 0, sizeof(*r));
}
