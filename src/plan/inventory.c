/* SPDX-License-Identifier: MIT */
/*
 * inventory.c - release and look-ups over the plain-data pool inventory (inventory.h).  Pure: no
 * I/O.  Look-ups are linear scans; callers needing many look-ups over large pools index first.
 */
#include "plan/inventory.h"

#include <stdlib.h>
#include <string.h>

#include "base/str.h"

static void free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void host_cleanup(struct inv_host *h)
{
    free(h->ref);
    free(h->uuid);
    free(h->name_label);
    free(h->address);
    free(h->product_version);
    free(h->platform_version);
    free(h->build_number);
    free(h->edition);
    free_strv(h->updates, h->n_updates);
    free_strv(h->updates_requiring_reboot, h->n_updates_requiring_reboot);
}

static void vm_cleanup(struct inv_vm *v)
{
    free(v->ref);
    free(v->uuid);
    free(v->name_label);
    free(v->resident_on);
    free(v->affinity);
    free_strv(v->disk_srs, v->n_disk_srs);
    free(v->cd_sr);
    free(v->tools_version);
}

static void sr_cleanup(struct inv_sr *s)
{
    free(s->ref);
    free(s->uuid);
    free(s->name_label);
    free(s->type);
    free(s->content_type);
    for (size_t i = 0; i < s->n_pbds; i++)
        free(s->pbds[i].host_ref);
    free(s->pbds);
}

/* Free p and everything it owns; NULL is a no-op.  Thread: the owner's. */
void inv_pool_free(struct inv_pool *p)
{
    if (!p)
        return;
    free(p->ref);
    free(p->uuid);
    free(p->name_label);
    free(p->master_ref);
    free(p->default_sr_ref);
    free(p->ignore_patches);
    free(p->last_seen_versions);
    for (size_t i = 0; i < p->n_hosts; i++)
        host_cleanup(&p->hosts[i]);
    free(p->hosts);
    for (size_t i = 0; i < p->n_vms; i++)
        vm_cleanup(&p->vms[i]);
    free(p->vms);
    for (size_t i = 0; i < p->n_srs; i++)
        sr_cleanup(&p->srs[i]);
    free(p->srs);
    free(p);
}

/* Host by ref (borrowed) or NULL.  p and ref may be NULL. */
const struct inv_host *inv_pool_host(const struct inv_pool *p, const char *ref)
{
    if (!p || !ref)
        return NULL;
    for (size_t i = 0; i < p->n_hosts; i++)
        if (p->hosts[i].ref && strcmp(p->hosts[i].ref, ref) == 0)
            return &p->hosts[i];
    return NULL;
}

/* VM by ref (borrowed) or NULL. */
const struct inv_vm *inv_pool_vm(const struct inv_pool *p, const char *ref)
{
    if (!p || !ref)
        return NULL;
    for (size_t i = 0; i < p->n_vms; i++)
        if (p->vms[i].ref && strcmp(p->vms[i].ref, ref) == 0)
            return &p->vms[i];
    return NULL;
}

/* SR by ref (borrowed) or NULL. */
const struct inv_sr *inv_pool_sr(const struct inv_pool *p, const char *ref)
{
    if (!p || !ref)
        return NULL;
    for (size_t i = 0; i < p->n_srs; i++)
        if (p->srs[i].ref && strcmp(p->srs[i].ref, ref) == 0)
            return &p->srs[i];
    return NULL;
}

/* The master (borrowed) or NULL when master_ref is unset or unknown. */
const struct inv_host *inv_pool_master(const struct inv_pool *p)
{
    return p ? inv_pool_host(p, p->master_ref) : NULL;
}

/* True when uuid is among h->updates (ASCII case-insensitive). */
bool inv_host_has_update(const struct inv_host *h, const char *uuid)
{
    if (!h || !uuid)
        return false;
    for (size_t i = 0; i < h->n_updates; i++)
        if (str_eq_nocase(h->updates[i], uuid))
            return true;
    return false;
}

/* True when sr has a PBD on host_ref with currently_attached set. */
bool inv_sr_attached_on(const struct inv_sr *sr, const char *host_ref)
{
    if (!sr || !host_ref)
        return false;
    for (size_t i = 0; i < sr->n_pbds; i++)
        if (sr->pbds[i].attached && sr->pbds[i].host_ref &&
            strcmp(sr->pbds[i].host_ref, host_ref) == 0)
            return true;
    return false;
}

/* The pool's name_label, or the master's name_label for a nameless pool; never NULL. */
const char *inv_pool_display_name(const struct inv_pool *p)
{
    if (!p)
        return "";
    if (p->name_label && p->name_label[0])
        return p->name_label;
    const struct inv_host *m = inv_pool_master(p);
    if (m && m->name_label && m->name_label[0])
        return m->name_label;
    if (p->n_hosts > 0 && p->hosts[0].name_label)
        return p->hosts[0].name_label;
    return "";
}
