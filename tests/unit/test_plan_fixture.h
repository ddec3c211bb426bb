/* SPDX-License-Identifier: MIT */
/*
 * test_plan_fixture.h - builders for the planner's tests and benchmark: catalogs and pool
 * inventories filled directly as structs (no parser), owned the normal way (catalog_free,
 * inv_pool_free).  Everything is addressed by index because arrays grow.
 */
#ifndef PP_TEST_PLAN_FIXTURE_H
#define PP_TEST_PLAN_FIXTURE_H

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "catalog/catalog.h"
#include "plan/inventory.h"

#define GIB ((int64_t)1 << 30)

/* Split a comma list ("a,b,c"; "" or NULL -> none) into a heap string vector. */
static inline char **fx_csv(const char *csv, size_t *n)
{
    *n = 0;
    if (!csv || !csv[0])
        return NULL;
    size_t cap = 1;
    for (const char *s = csv; *s; s++)
        cap += *s == ',';
    char **v = xcalloc(cap, sizeof(*v));
    const char *s = csv;
    for (;;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len)
            v[(*n)++] = xstrndup(s, len);
        if (!e)
            break;
        s = e + 1;
    }
    return v;
}

static inline struct catalog *fx_catalog(void)
{
    struct catalog *c = xcalloc(1, sizeof(*c));
    c->cdn_hash = xstrdup("");
    return c;
}

/* Add a patch; returns its index.  req / conf: comma lists. */
static inline size_t fx_patch(struct catalog *c, const char *uuid, unsigned guidance,
                              const char *req, const char *conf)
{
    c->patches = xreallocarray(c->patches, c->n_patches + 1, sizeof(*c->patches));
    struct cat_patch *p = &c->patches[c->n_patches];
    memset(p, 0, sizeof(*p));
    p->uuid = xstrdup(uuid);
    p->name_label = xasprintf("HF-%s", uuid);
    p->name_description = xstrdup("");
    p->version = xstrdup("1.0");
    p->url = xstrdup("");
    p->patch_url = xstrdup("");
    p->type = xstrdup("");
    p->severity = xstrdup("");
    p->guidance = guidance;
    p->priority = 2;
    p->installation_size = 10 * 1024 * 1024;
    p->download_size = 5 * 1024 * 1024;
    p->required = fx_csv(req, &p->n_required);
    p->conflicting = fx_csv(conf, &p->n_conflicting);
    return c->n_patches++;
}

/* Add a version; minimal NULL means "no minimalpatches element" (automated unsupported). */
static inline size_t fx_version(struct catalog *c, const char *value, const char *build,
                                const char *patch_uuid, const char *patches, const char *minimal)
{
    c->versions = xreallocarray(c->versions, c->n_versions + 1, sizeof(*c->versions));
    struct cat_version *v = &c->versions[c->n_versions];
    memset(v, 0, sizeof(*v));
    v->value = xstrdup(value);
    v->name = xasprintf("Version %s", value);
    v->build_number = xstrdup(build ? build : "");
    v->url = xstrdup("");
    v->patch_uuid = xstrdup(patch_uuid ? patch_uuid : "");
    v->minimum_xc_version = xstrdup("");
    v->patches = fx_csv(patches, &v->n_patches);
    v->minimal = fx_csv(minimal, &v->n_minimal);
    v->has_minimal = minimal != NULL;
    return c->n_versions++;
}

static inline struct inv_pool *fx_pool(const char *name)
{
    struct inv_pool *p = xcalloc(1, sizeof(*p));
    p->ref = xasprintf("OpaqueRef:pool-%s", name);
    p->uuid = xstrdup("pool-uuid");
    p->name_label = xstrdup(name);
    p->master_ref = xstrdup("");
    p->default_sr_ref = xstrdup("");
    p->ignore_patches = xstrdup("");
    p->last_seen_versions = xstrdup("");
    return p;
}

/* Add a live, enabled host (the first one becomes the master). */
static inline size_t fx_host(struct inv_pool *p, const char *ref, int64_t mem_free,
                             const char *version, const char *build)
{
    p->hosts = xreallocarray(p->hosts, p->n_hosts + 1, sizeof(*p->hosts));
    struct inv_host *h = &p->hosts[p->n_hosts];
    memset(h, 0, sizeof(*h));
    h->ref = xstrdup(ref);
    h->uuid = xasprintf("uuid-%s", ref);
    h->name_label = xstrdup(ref);
    h->address = xstrdup("10.0.0.1");
    h->live = true;
    h->enabled = true;
    h->product_version = xstrdup(version);
    h->platform_version = xstrdup("3.2.1");
    h->build_number = xstrdup(build ? build : "");
    h->memory_total = 256 * GIB;
    h->memory_free = mem_free;
    h->dom0_free_bytes = -1;
    if (p->n_hosts == 0) {
        free(p->master_ref);
        p->master_ref = xstrdup(ref);
    }
    return p->n_hosts++;
}

static inline void fx_applied(struct inv_host *h, const char *csv)
{
    for (size_t i = 0; i < h->n_updates; i++)
        free(h->updates[i]);
    free(h->updates);
    h->updates = fx_csv(csv, &h->n_updates);
}

/* Add an SR attached on every host present now (shared) or on host `local_to` only. */
static inline size_t fx_sr(struct inv_pool *p, const char *ref, bool shared, const char *local_to,
                           int64_t size, int64_t used)
{
    p->srs = xreallocarray(p->srs, p->n_srs + 1, sizeof(*p->srs));
    struct inv_sr *s = &p->srs[p->n_srs];
    memset(s, 0, sizeof(*s));
    s->ref = xstrdup(ref);
    s->uuid = xasprintf("uuid-%s", ref);
    s->name_label = xstrdup(ref);
    s->type = xstrdup(shared ? "nfs" : "lvm");
    s->content_type = xstrdup("");
    s->shared = shared;
    s->physical_size = size;
    s->physical_utilisation = used;
    s->allows_vdi_create = true;
    if (shared) {
        s->pbds = xcalloc(p->n_hosts + 1, sizeof(*s->pbds));
        for (size_t i = 0; i < p->n_hosts; i++) {
            s->pbds[i].host_ref = xstrdup(p->hosts[i].ref);
            s->pbds[i].attached = true;
        }
        s->n_pbds = p->n_hosts;
    } else {
        s->pbds = xcalloc(1, sizeof(*s->pbds));
        s->pbds[0].host_ref = xstrdup(local_to);
        s->pbds[0].attached = true;
        s->n_pbds = 1;
    }
    return p->n_srs++;
}

/* Add a running VM on host_ref with disks on the SRs of the comma list. */
static inline size_t fx_vm(struct inv_pool *p, const char *ref, const char *host_ref,
                           int64_t memory, const char *srs)
{
    p->vms = xreallocarray(p->vms, p->n_vms + 1, sizeof(*p->vms));
    struct inv_vm *v = &p->vms[p->n_vms];
    memset(v, 0, sizeof(*v));
    v->ref = xstrdup(ref);
    v->uuid = xasprintf("uuid-%s", ref);
    v->name_label = xstrdup(ref);
    v->power_state = INV_RUNNING;
    v->resident_on = xstrdup(host_ref);
    v->affinity = xstrdup("");
    v->memory = memory;
    v->disk_srs = fx_csv(srs, &v->n_disk_srs);
    v->cd_sr = xstrdup("");
    return p->n_vms++;
}

/* Replace a string field. */
static inline void fx_set(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

#endif
