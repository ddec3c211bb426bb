/* SPDX-License-Identifier: MIT */
/*
 * plan.c - plan_build: a pool, a catalog and options in; the whole rollout plan out (per-host
 * sequences and actions, batches and migrations, upload SR, prechecks with resolutions, totals,
 * predicted window and DESIGN.md's lower bound).  Pure: no I/O, no clock.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "plan/plan_int.h"

#define MIB (1024.0 * 1024.0)
/* An upgrade's installer run and reboot when the timing does not say (XenCenter notes progress
 * every 20 minutes; an install from a network URL takes about that). */
#define PLAN_UPGRADE_S 1200.0

/* Documented defaults (plan.h). */
void plan_opts_init(struct plan_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->mode = PLAN_MODE_AUTOMATED;
    o->policy = PLAN_POLICY_RETURN;
    o->timing.reboot_s = 300;
    o->timing.apply_s = 60;
    o->timing.toolstack_s = 60;
    o->timing.vm_restart_s = 60;
    o->timing.migration_bw = 1e9;
    o->timing.parallel_migrations = 2;
}

/* ------------------------------------------------------------------ hosts */

static void copy_seq(struct plan_host *ph, struct plan_seq *s)
{
    free(ph->version);
    ph->version = s->version;
    s->version = NULL;
    ph->updates = s->uuids;
    ph->n_updates = s->n;
    ph->skipped = s->skipped;
    ph->n_skipped = s->n_skipped;
    s->uuids = NULL;
    s->skipped = NULL;
    s->n = s->n_skipped = 0;
}

static bool same_version(const struct inv_host *a, const struct inv_host *b);

/* Same version and the same applied updates in the same order: the same sequence. */
static bool same_host_state(const struct inv_host *a, const struct inv_host *b)
{
    if (!same_version(a, b) || a->n_updates != b->n_updates)
        return false;
    for (size_t i = 0; i < a->n_updates; i++)
        if (!str_eq(a->updates[i], b->updates[i]))
            return false;
    return true;
}

static void dup_seq(struct plan_host *dst, const struct plan_host *src)
{
    free(dst->version);
    dst->version = xstrdup(src->version);
    dst->n_updates = src->n_updates;
    dst->updates = src->n_updates ? xcalloc(src->n_updates, sizeof(*dst->updates)) : NULL;
    for (size_t i = 0; i < src->n_updates; i++)
        dst->updates[i] = xstrdup(src->updates[i]);
    dst->n_skipped = src->n_skipped;
    dst->skipped = src->n_skipped ? xcalloc(src->n_skipped, sizeof(*dst->skipped)) : NULL;
    for (size_t i = 0; i < src->n_skipped; i++) {
        dst->skipped[i].uuid = xstrdup(src->skipped[i].uuid);
        dst->skipped[i].reason = xstrdup(src->skipped[i].reason);
        dst->skipped[i].severity = src->skipped[i].severity;
    }
}

static const struct cat_cdn_host *cdn_host(const struct catalog *cat, const char *ref)
{
    for (size_t i = 0; i < cat->n_cdn_hosts; i++)
        if (str_eq(cat->cdn_hosts[i].ref, ref))
            return &cat->cdn_hosts[i];
    return NULL;
}

static bool same_version(const struct inv_host *a, const struct inv_host *b)
{
    return str_eq(a->product_version ? a->product_version : "",
                  b->product_version ? b->product_version : "") &&
           str_eq(a->build_number ? a->build_number : "", b->build_number ? b->build_number : "");
}

static void plan_hosts(struct plan_ctx *c)
{
    const struct inv_pool *pool = c->pool;
    const struct plan_opts *o = c->o;
    struct plan *p = c->p;
    bool manual =
        o->manual_post_tasks || (pool->forbid_auto_restart && o->mode == PLAN_MODE_SELECTED);
    size_t memo = SIZE_MAX; /* last host whose (supported) sequence was computed */
    for (size_t h = 0; h < c->nh; h++) {
        const struct inv_host *ih = &pool->hosts[h];
        struct plan_host *ph = &c->ph[h];
        ph->ref = xstrdup(ih->ref);
        ph->name = xstrdup(plan_host_name(ih));
        ph->is_master = h == c->master;
        ph->selected = c->selected[h];
        ph->version = xstrdup("");
        ph->order = ph->batch = -1;
        if (!c->selected[h])
            continue;
        if (o->mode == PLAN_MODE_UPGRADE) {
            plan_host_actions_upgrade(c, h);
        } else if (p->cdn) {
            const struct cat_cdn_host *ch = cdn_host(c->cat, ih->ref);
            free(ph->version);
            ph->version = xstrdup(ih->product_version ? ih->product_version : "");
            if (ch && ch->n_updates) {
                ph->updates = xcalloc(ch->n_updates, sizeof(*ph->updates));
                for (size_t i = 0; i < ch->n_updates; i++)
                    ph->updates[i] = xstrdup(ch->updates[i]);
                ph->n_updates = ch->n_updates;
            }
            plan_host_actions_cdn(c->cat, o, ih, ch, ph, manual, pool->live_patching_disabled,
                                  &c->g[h]);
        } else {
            bool supported = true;
            if (memo != SIZE_MAX && same_host_state(&pool->hosts[memo], ih)) {
                dup_seq(ph, &c->ph[memo]); /* hosts of a pool usually share version and state */
            } else {
                struct plan_seq s;
                plan_seq_build(&c->x, ih, o->mode, o->selected, o->n_selected, &s);
                supported = s.supported;
                copy_seq(ph, &s);
                plan_seq_cleanup(&s);
                if (supported)
                    memo = h;
            }
            if (!supported) {
                p->automated_refused = true;
                plan_add_check(
                    c, "automated_unsupported", ih->ref, NULL, NULL, PLAN_SEV_BLOCKING,
                    ph->version[0]
                        ? xasprintf("The catalog has no minimal update list for version %s "
                                    "of %s: automated updates are not supported for it; "
                                    "install chosen updates instead",
                                    ph->version, plan_host_name(ih))
                        : xasprintf("The version of %s (%s, build %s) is not in the update "
                                    "catalog: automated updates are not possible; check "
                                    "for updates again or install chosen updates",
                                    plan_host_name(ih),
                                    ih->product_version ? ih->product_version : "?",
                                    ih->build_number ? ih->build_number : "?"));
                c->g[h].mode = PLAN_UM_UP_TO_DATE;
                continue;
            }
            plan_host_actions_legacy(&c->x, o, ih, ph, manual, pool->live_patching_disabled,
                                     &c->g[h]);
        }
        struct plan_guidance_out *g = &c->g[h];
        ph->mode = g->mode;
        ph->evacuate = g->evacuate;
        ph->reboot = g->reboot;
        ph->toolstack = g->toolstack;
        ph->livepatched = g->livepatched;
        c->update[h] = ih->live && g->mode != PLAN_UM_UP_TO_DATE;
        c->evac[h] = c->update[h] && g->evacuate;
    }
}

/* ------------------------------------------------------------------ placement -> actions */

static struct plan_action *find_action(struct plan_host *ph, enum plan_action_kind k)
{
    for (size_t i = 0; i < ph->n_actions; i++)
        if (ph->actions[i].kind == k)
            return &ph->actions[i];
    return NULL;
}

static void remove_action(struct plan_host *ph, struct plan_action *a)
{
    size_t i = (size_t)(a - ph->actions);
    free(a->update_uuid);
    free(a->label);
    free(a->migrations);
    free(a->vms);
    memmove(ph->actions + i, ph->actions + i + 1, (ph->n_actions - i - 1) * sizeof(*a));
    ph->n_actions--;
}

static void add_mig(struct plan_action *a, size_t *cap, const struct inv_pool *pool,
                    const struct place_mig *m)
{
    const struct inv_vm *vm = &pool->vms[m->vm];
    struct plan_migration pm = {xstrdup(vm->ref), xstrdup(plan_vm_name(vm)),
                                xstrdup(pool->hosts[m->from].ref), xstrdup(pool->hosts[m->to].ref),
                                vm->memory};
    PV_PUSH(a->migrations, a->n_migrations, *cap, pm);
}

static void apply_placement(struct plan_ctx *c, const struct place_out *po)
{
    const struct inv_pool *pool = c->pool;
    size_t *caps = xcalloc(2 * c->nh + 1, sizeof(*caps));
    for (size_t i = 0; i < po->n_migs; i++) {
        const struct place_mig *m = &po->migs[i];
        size_t h = m->back ? m->to : m->from;
        struct plan_action *a =
            find_action(&c->ph[h], m->back ? PLAN_ACT_MIGRATE_BACK : PLAN_ACT_EVACUATE);
        if (!a)
            continue; /* cannot happen: only evacuated hosts lose VMs */
        add_mig(a, &caps[2 * h + (m->back ? 1 : 0)], pool, m);
    }
    free(caps);
    for (size_t h = 0; h < c->nh; h++) {
        c->ph[h].order = po->order[h];
        c->ph[h].batch = po->batch[h];
        struct plan_action *a = find_action(&c->ph[h], PLAN_ACT_MIGRATE_BACK);
        if (a && a->n_migrations == 0)
            remove_action(&c->ph[h], a);
    }
    /* VM restarts: the VMs on the host once its batch is done (migrations replayed) */
    size_t *loc = xcalloc(c->nv + 1, sizeof(*loc));
    for (size_t h = 0; h < c->nh; h++) {
        struct plan_action *a = find_action(&c->ph[h], PLAN_ACT_RESTART_VMS);
        if (!a)
            continue;
        memcpy(loc, c->vm_host, c->nv * sizeof(*loc));
        for (size_t i = 0; i < po->n_migs; i++)
            if (po->migs[i].batch <= po->batch[h])
                loc[po->migs[i].vm] = po->migs[i].to;
        size_t cap = 0;
        for (size_t v = 0; v < c->nv; v++)
            if (loc[v] == h && place_vm_moves(&pool->vms[v]) && !c->vm_skip[v])
                PV_PUSH(a->vms, a->n_vms, cap, xstrdup(pool->vms[v].ref));
        if (a->n_vms == 0) { /* its VMs live on updated hosts now: nothing to restart */
            remove_action(&c->ph[h], a);
            if (c->ph[h].mode == PLAN_UM_RESTART_VMS)
                c->ph[h].mode = PLAN_UM_NONE;
        }
    }
    free(loc);

    for (size_t i = 0; i < po->n_unplaced; i++) {
        const struct inv_vm *vm = &pool->vms[po->unplaced[i].vm];
        const struct inv_host *from = &pool->hosts[po->unplaced[i].host];
        bool storage = true;
        for (size_t h = 0; h < c->nh && storage; h++) {
            if (h == po->unplaced[i].host || !c->usable[h])
                continue;
            bool ok = true;
            for (size_t d = 0; d < vm->n_disk_srs && ok; d++)
                ok = inv_sr_attached_on(inv_pool_sr(pool, vm->disk_srs[d]), pool->hosts[h].ref);
            if (ok && vm->cd_sr && vm->cd_sr[0] && !c->vm_no_cd[po->unplaced[i].vm])
                ok = inv_sr_attached_on(inv_pool_sr(pool, vm->cd_sr), pool->hosts[h].ref);
            if (ok)
                storage = false;
        }
        if (storage)
            plan_add_check(
                c, "evacuate_storage", from->ref, vm->ref, NULL, PLAN_SEV_BLOCKING,
                xasprintf("VM %s cannot leave %s: no other host sees all of its storage. "
                          "Attach its SRs to another host, or shut the VM down.",
                          plan_vm_name(vm), plan_host_name(from)));
        else
            plan_add_check(
                c, "evacuate_memory", from->ref, vm->ref, NULL, PLAN_SEV_BLOCKING,
                xasprintf("Not enough free memory on the other hosts for VM %s (%.0f MiB) "
                          "while %s is updated. Shut down or move some VMs, or add "
                          "memory, and plan again.",
                          plan_vm_name(vm), (vm->memory + c->o->vm_overhead) / MIB,
                          plan_host_name(from)));
    }
}

/* ------------------------------------------------------------------ upload SR */

static int64_t sr_free(const struct inv_sr *sr)
{
    return sr->physical_size - sr->physical_utilisation;
}

static bool sr_can_take(const struct inv_sr *sr, const char *master, int64_t bytes)
{
    return sr->allows_vdi_create && !str_eq(sr->content_type, "iso") &&
           inv_sr_attached_on(sr, master) && sr_free(sr) >= bytes;
}

/* See plan.h.  Ties go to the first SR in inventory order. */
const struct inv_sr *plan_choose_upload_sr(const struct inv_pool *pool, int64_t bytes)
{
    if (!pool)
        return NULL;
    const struct inv_sr *d = inv_pool_sr(pool, pool->default_sr_ref);
    if (d && d->shared && sr_can_take(d, pool->master_ref, bytes))
        return d;
    const struct inv_sr *best = NULL;
    for (int pass = 0; pass < 2 && !best; pass++)
        for (size_t i = 0; i < pool->n_srs; i++) {
            const struct inv_sr *sr = &pool->srs[i];
            if (sr->shared != (pass == 0) || !sr_can_take(sr, pool->master_ref, bytes))
                continue;
            if (!best || sr_free(sr) > sr_free(best))
                best = sr;
        }
    return best;
}

static void choose_upload(struct plan_ctx *c)
{
    struct plan *p = c->p;
    p->upload_sr_ref = xstrdup("");
    p->upload_sr_name = xstrdup("");
    if (p->cdn)
        return;
    struct pidx seen;
    pidx_init(&seen, 64);
    size_t cap = 0;
    for (size_t i = 0; i < p->n_hosts; i++) { /* execution order: the master's first */
        struct plan_host *ph = &p->hosts[i];
        if (ph->order < 0)
            continue;
        for (size_t j = 0; j < ph->n_updates; j++) {
            if (pidx_get(&seen, ph->updates[j], NULL))
                continue;
            pidx_put(&seen, ph->updates[j], 0);
            PV_PUSH(p->uploads, p->n_uploads, cap, xstrdup(ph->updates[j]));
            const struct cat_patch *cp = catidx_patch(&c->x, ph->updates[j]);
            if (cp)
                p->upload_bytes +=
                    cp->download_size > 0 ? cp->download_size : cp->installation_size;
        }
    }
    pidx_cleanup(&seen);
    if (p->n_uploads == 0)
        return;
    const struct inv_sr *sr = plan_choose_upload_sr(c->pool, p->upload_bytes);
    if (sr) {
        free(p->upload_sr_ref);
        free(p->upload_sr_name);
        free(p->upgrade_to);
        free(p->upgrade_url);
        for (size_t i = 0; i < p->n_tools_vms; i++)
            free(p->tools_vms[i]);
        free(p->tools_vms);
        p->upload_sr_ref = xstrdup(sr->ref);
        p->upload_sr_name = xstrdup(sr->name_label && sr->name_label[0] ? sr->name_label : sr->ref);
    } else {
        plan_add_check(
            c, "upload_sr_space", NULL, NULL, NULL, PLAN_SEV_BLOCKING,
            xasprintf("No SR visible from the master has %.0f MiB free for the update "
                      "images (default SR, other shared SRs and the master's local storage "
                      "were tried). Free space on the default SR and plan again.",
                      p->upload_bytes / MIB));
    }
}

/* ------------------------------------------------------------------ totals and timing */

static double mig_rate(const struct plan_timing *t)
{
    double bw = t->migration_bw > 0 ? t->migration_bw : 1e9;
    return bw * (t->parallel_migrations > 0 ? t->parallel_migrations : 1);
}

/* Seconds host h's own steps take (applies, reboots, restarts), counted into T. */
static double host_steps_s(const struct plan_ctx *c, size_t h, struct plan_totals *T)
{
    const struct plan_timing *t = &c->o->timing;
    const struct plan_host *ph = &c->ph[h];
    double len = 0;
    for (size_t i = 0; i < ph->n_actions; i++) {
        const struct plan_action *a = &ph->actions[i];
        if (a->kind == PLAN_ACT_APPLY || a->kind == PLAN_ACT_APPLY_CDN) {
            len += t->apply_s;
        } else if (a->manual && c->o->manual_post_tasks) {
            continue; /* the user's post-update task: not run, not counted */
        } else if (a->kind == PLAN_ACT_REBOOT) {
            T->reboots++;
            len += t->reboot_s;
        } else if (a->kind == PLAN_ACT_RESTART_TOOLSTACK) {
            T->toolstack_restarts++;
            len += t->toolstack_s;
        } else if ((a->kind == PLAN_ACT_RESTART_VMS || a->kind == PLAN_ACT_RESTORE_VMS) &&
                   a->n_vms) {
            len += t->vm_restart_s;
        } else if (a->kind == PLAN_ACT_UPGRADE) {
            T->reboots++;
            len += t->upgrade_s > 0 ? t->upgrade_s : PLAN_UPGRADE_S;
        }
    }
    return len;
}

/* The most memory one host receives during each batch's evacuation: max_in[b] (a host takes
 * in parallel_migrations streams as it sends them, so that is as long as its sources). */
static void batch_inbound(const struct plan_ctx *c, const struct place_out *po, double *max_in)
{
    double *in = xcalloc(c->nh + 1, sizeof(*in));
    int cur = -1;
    for (size_t i = 0; i < po->n_migs; i++) { /* in batch order */
        const struct place_mig *m = &po->migs[i];
        if (m->back)
            continue;
        if (m->batch != cur) {
            memset(in, 0, (c->nh + 1) * sizeof(*in));
            cur = m->batch;
        }
        in[m->to] += (double)c->pool->vms[m->vm].memory;
        if (m->batch >= 0 && in[m->to] > max_in[m->batch])
            max_in[m->batch] = in[m->to];
    }
    free(in);
}

/*
 * The predicted window of placement po (DESIGN.md's model: a host's time is its evacuation -
 * its outgoing migrations' bytes, or the most any host receives in its batch when that is more,
 * / (bandwidth x parallel) -, its own steps, its VMs coming back; a batch lasts as long as its
 * slowest host; batches run one after the other).  Fills T's counters and, when hlen / bstart
 * are given, each host's length and each batch's start.
 */
static void window_of(const struct plan_ctx *c, const struct place_out *po, struct plan_totals *T,
                      double *hlen, double *bstart)
{
    double rate = mig_rate(&c->o->timing);
    size_t nb = po->n_batches;
    double *blen = xcalloc(nb + 1, sizeof(*blen)), *max_in = xcalloc(nb + 1, sizeof(*max_in));
    size_t *bsize = xcalloc(nb + 1, sizeof(*bsize));
    double *out = xcalloc(c->nh + 1, sizeof(*out)), *back = xcalloc(c->nh + 1, sizeof(*back));
    for (size_t i = 0; i < po->n_migs; i++) {
        const struct place_mig *m = &po->migs[i];
        T->migrations++;
        T->migrations_back += m->back;
        T->migrated_bytes += c->pool->vms[m->vm].memory;
        *(m->back ? &back[m->to] : &out[m->from]) += (double)c->pool->vms[m->vm].memory;
    }
    batch_inbound(c, po, max_in);
    for (size_t h = 0; h < c->nh; h++) {
        if (po->batch[h] < 0)
            continue;
        size_t b = (size_t)po->batch[h];
        double evac = out[h] > 0 && max_in[b] > out[h] ? max_in[b] : out[h];
        double len = (evac + back[h]) / rate + host_steps_s(c, h, T);
        bsize[b] += c->evac[h];
        blen[b] = len > blen[b] ? len : blen[b];
        if (hlen)
            hlen[h] = len;
    }
    double at = 0;
    for (size_t b = 0; b < nb; b++) {
        if (bstart)
            bstart[b] = at;
        at += blen[b];
        T->max_batch = bsize[b] > T->max_batch ? bsize[b] : T->max_batch;
    }
    T->batches = nb;
    T->window_s = at;
    free(blen);
    free(max_in);
    free(bsize);
    free(out);
    free(back);
}

/*
 * DESIGN.md's lower bound, master first: V migrations (2V when VMs return); a window of
 * (1 + ceil((N-1)/k)) x (reboot + apply x most updates on a host) + the VMs' memory moved at
 * one host's rate for the master (it goes alone) and k hosts' rate for the others (twice when
 * VMs return), k hosts down at once.
 */
static void lower_bound(const struct plan_ctx *c, struct plan_totals *T)
{
    const struct plan_timing *t = &c->o->timing;
    double rate = mig_rate(t), master_bytes = 0, other_bytes = 0;
    int64_t *load = xcalloc(c->nh + 1, sizeof(*load)), *fr = xcalloc(c->nh + 1, sizeof(*fr));
    int64_t free_total = 0;
    size_t n_down = 0, u_max = 0;
    for (size_t v = 0; v < c->nv; v++) {
        const struct inv_vm *vm = &c->pool->vms[v];
        size_t h = c->vm_host[v];
        if (h == SIZE_MAX || !place_vm_moves(vm) || c->vm_skip[v] || !c->evac[h])
            continue;
        T->bound_vms++;
        *(h == c->master ? &master_bytes : &other_bytes) += (double)vm->memory;
        load[h] += vm->memory + c->o->vm_overhead;
    }
    for (size_t h = 0; h < c->nh; h++) {
        if (c->ph[h].order >= 0 && c->ph[h].n_updates > u_max)
            u_max = c->ph[h].n_updates;
        if (c->usable[h])
            free_total += c->pool->hosts[h].memory_free;
        if (c->evac[h] && h != c->master) { /* compact the supporters going down (h >= n_down) */
            fr[n_down] = c->pool->hosts[h].memory_free;
            load[n_down++] = load[h];
        }
    }
    size_t k = plan_capacity_k(load, fr, n_down, free_total);
    if (c->o->max_parallel_hosts > 0 && k > (size_t)c->o->max_parallel_hosts)
        k = (size_t)c->o->max_parallel_hosts;
    bool ret = c->o->policy == PLAN_POLICY_RETURN, master_down = c->evac[c->master];
    T->bound_k = k ? k : master_down;
    T->bound_migrations = ret ? 2 * T->bound_vms : T->bound_vms;
    double batches = (master_down ? 1 : 0) + (k ? ceil((double)n_down / (double)k) : 0);
    double mem_s = master_bytes / rate + (k ? other_bytes / (rate * (double)k) : 0);
    T->bound_window_s =
        batches * (t->reboot_s + t->apply_s * (double)u_max) + (ret ? 2 : 1) * mem_s;
    free(load);
    free(fr);
}

static void totals(struct plan_ctx *c, const struct place_out *po)
{
    struct plan_totals *T = &c->p->totals;
    double *hlen = xcalloc(c->nh + 1, sizeof(*hlen));
    double *bstart = xcalloc(po->n_batches + 1, sizeof(*bstart));
    window_of(c, po, T, hlen, bstart);
    for (size_t h = 0; h < c->nh; h++) {
        struct plan_host *ph = &c->ph[h];
        if (po->batch[h] < 0)
            continue;
        T->hosts_updated++;
        T->updates += ph->n_updates;
        T->livepatched_hosts += ph->livepatched;
        ph->start_s = bstart[po->batch[h]];
        ph->end_s = ph->start_s + hlen[h];
    }
    free(hlen);
    free(bstart);
    lower_bound(c, T);
}

/* What the other policy would cost on the same pool: its placement, timed with this plan's host
 * steps (so the comparison is of migrations and batches alone). */
static void other_policy(struct plan_ctx *c)
{
    struct plan_opts o = *c->o;
    o.policy = c->o->policy == PLAN_POLICY_RETURN ? PLAN_POLICY_MINIMAL : PLAN_POLICY_RETURN;
    struct place_in in = {c->pool, &o, c->update, c->evac, c->usable, c->vm_skip, c->vm_no_cd};
    struct place_out po;
    plan_place(&in, &po);
    struct plan_totals T = {0};
    window_of(c, &po, &T, NULL, NULL);
    struct plan_alt *alt = &c->p->other;
    alt->policy = o.policy;
    alt->migrations = T.migrations;
    alt->migrated_bytes = T.migrated_bytes;
    alt->batches = T.batches;
    alt->window_s = T.window_s;
    alt->unplaced = po.n_unplaced;
    place_out_cleanup(&po);
}

/* ------------------------------------------------------------------ build */

/* Execution order (the master first), then the hosts not updated in pool order; stable. */
static void sort_hosts(struct plan_host *hs, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct plan_host h = hs[i];
        long key = h.order < 0 ? 1L << 30 : h.order;
        size_t j = i;
        while (j > 0 && (hs[j - 1].order < 0 ? 1L << 30 : hs[j - 1].order) > key) {
            hs[j] = hs[j - 1];
            j--;
        }
        hs[j] = h;
    }
}

static void ctx_free(struct plan_ctx *c)
{
    catidx_cleanup(&c->x);
    free(c->selected);
    free(c->update);
    free(c->evac);
    free(c->usable);
    free(c->vm_skip);
    free(c->vm_no_cd);
    free(c->vm_host);
    free(c->g);
}

/* See plan.h. */
int plan_build(const struct inv_pool *pool, const struct catalog *cat, const struct plan_opts *opts,
               struct plan **out, struct err *e)
{
    struct plan_opts defaults;
    if (!out)
        return err_set(e, PP_EINVAL, "plan_build: no output");
    *out = NULL;
    static const struct catalog no_catalog; /* an upgrade needs none */
    if (opts && opts->mode == PLAN_MODE_UPGRADE && !cat)
        cat = &no_catalog;
    if (!pool || !cat)
        return err_set(e, PP_EINVAL, "plan_build: a pool and a catalog are required");
    if (!opts) {
        plan_opts_init(&defaults);
        opts = &defaults;
    }
    struct plan_opts up;
    if (opts->mode == PLAN_MODE_UPGRADE) {
        if (!opts->upgrade_to || !*opts->upgrade_to)
            return err_set(e, PP_EINVAL, "upgrade: no target version");
        up = *opts;
        up.max_parallel_hosts = 1; /* one host at a time, the master first (seed, XenCenter) */
        opts = &up;
    }
    const struct inv_host *m = inv_pool_master(pool);
    if (!m)
        return err_set(e, PP_EINVAL, "pool %s has no master in its inventory",
                       inv_pool_display_name(pool));
    for (size_t i = 0; i < opts->n_hosts; i++)
        if (!inv_pool_host(pool, opts->hosts[i]))
            return err_set(e, PP_EINVAL, "host %s is not in pool %s", opts->hosts[i],
                           inv_pool_display_name(pool));

    struct plan_ctx c = {0};
    c.pool = pool;
    c.cat = cat;
    c.o = opts;
    c.nh = pool->n_hosts;
    c.nv = pool->n_vms;
    c.master = (size_t)(m - pool->hosts);
    catidx_init(&c.x, cat);
    c.selected = xcalloc(c.nh + 1, sizeof(bool));
    c.update = xcalloc(c.nh + 1, sizeof(bool));
    c.evac = xcalloc(c.nh + 1, sizeof(bool));
    c.usable = xcalloc(c.nh + 1, sizeof(bool));
    c.vm_skip = xcalloc(c.nv + 1, sizeof(bool));
    c.vm_no_cd = xcalloc(c.nv + 1, sizeof(bool));
    c.g = xcalloc(c.nh + 1, sizeof(*c.g));
    c.vm_host = xcalloc(c.nv + 1, sizeof(*c.vm_host));
    {
        struct pidx hosts;
        pidx_init(&hosts, c.nh);
        for (size_t h = 0; h < c.nh; h++)
            pidx_put(&hosts, pool->hosts[h].ref, h);
        for (size_t v = 0; v < c.nv; v++)
            if (!pidx_get(&hosts, pool->vms[v].resident_on, &c.vm_host[v]))
                c.vm_host[v] = SIZE_MAX;
        pidx_cleanup(&hosts);
    }

    struct plan *p = xcalloc(1, sizeof(*p));
    c.p = p;
    p->pool_ref = xstrdup(pool->ref ? pool->ref : "");
    p->pool_name = xstrdup(inv_pool_display_name(pool));
    p->mode = opts->mode;
    p->policy = opts->policy;
    p->cdn = cat->source == CAT_SOURCE_CDN;
    p->cdn_hash = xstrdup(p->cdn && cat->cdn_hash ? cat->cdn_hash : "");
    p->n_hosts = c.nh;
    p->hosts = xcalloc(c.nh + 1, sizeof(*p->hosts));
    c.ph = p->hosts;

    for (size_t h = 0; h < c.nh; h++) {
        bool sel = opts->n_hosts == 0;
        for (size_t i = 0; i < opts->n_hosts && !sel; i++)
            sel = str_eq(opts->hosts[i], pool->hosts[h].ref);
        c.selected[h] = sel;
        c.usable[h] = pool->hosts[h].live && (pool->hosts[h].enabled || sel);
        if (!same_version(&pool->hosts[h], m))
            p->partly_upgraded = true;
    }

    plan_hosts(&c);
    for (size_t h = 0; h < c.nh; h++)
        for (size_t i = 0; i < c.ph[h].n_actions; i++) {
            struct plan_action *a = &c.ph[h].actions[i];
            if (a->kind == PLAN_ACT_APPLY) {
                free(a->label);
                a->label = xstrdup(plan_upd_name(&c, a->update_uuid));
            } else if (a->kind == PLAN_ACT_APPLY_CDN) {
                free(a->label);
                a->label =
                    xasprintf("%zu update%s", c.ph[h].n_updates, c.ph[h].n_updates == 1 ? "" : "s");
            }
        }
    plan_vm_checks(&c);
    plan_pool_checks(&c);

    struct place_in in = {pool, opts, c.update, c.evac, c.usable, c.vm_skip, c.vm_no_cd};
    struct place_out po;
    plan_place(&in, &po);
    apply_placement(&c, &po);
    if (opts->mode == PLAN_MODE_UPGRADE)
        plan_upgrade_finish(&c);
    totals(&c, &po);
    place_out_cleanup(&po);
    other_policy(&c);

    sort_hosts(p->hosts, p->n_hosts);
    choose_upload(&c);
    ctx_free(&c);
    *out = p;
    return 0;
}

/* ------------------------------------------------------------------ queries and release */

/* True when Resolve All can clear every blocking check. */
bool plan_can_resolve(const struct plan *p)
{
    if (!p)
        return false;
    for (size_t i = 0; i < p->n_checks; i++)
        if (p->checks[i].severity == PLAN_SEV_BLOCKING && !p->checks[i].fixable)
            return false;
    return true;
}

/* Count checks of one severity. */
size_t plan_count_checks(const struct plan *p, enum plan_severity sev)
{
    size_t n = 0;
    for (size_t i = 0; p && i < p->n_checks; i++)
        n += p->checks[i].severity == sev;
    return n;
}

static int fix_rank(enum plan_fix_kind k)
{
    switch (k) {
    case PLAN_FIX_DISABLE_HA:
        return 0;
    case PLAN_FIX_ENABLE_HOST:
        return 1;
    case PLAN_FIX_PLUG_PBD:
        return 2;
    case PLAN_FIX_EJECT_CD:
        return 3;
    case PLAN_FIX_SUSPEND_VM:
        return 4;
    case PLAN_FIX_SHUTDOWN_VM:
        return 5;
    default:
        return 6;
    }
}

static struct plan_fix fix_dup(const struct plan_fix *f)
{
    struct plan_fix d = {f->kind, xstrdup(f->obj_ref ? f->obj_ref : ""),
                         xstrdup(f->arg_ref ? f->arg_ref : "")};
    return d;
}

/* See plan.h.  Fixes ordered: HA off, hosts enabled, PBDs plugged, CDs ejected, VMs suspended,
 * VMs shut down (each group in check order); the undo list is the exact reverse, so HA comes
 * back last, once every VM is running again. */
int plan_resolve_all(const struct plan *p, struct plan_resolution *r, struct err *e)
{
    if (!r)
        return err_set(e, PP_EINVAL, "plan_resolve_all: no output");
    memset(r, 0, sizeof(*r));
    if (!p)
        return err_set(e, PP_EINVAL, "plan_resolve_all: no plan");
    for (size_t i = 0; i < p->n_checks; i++)
        if (p->checks[i].severity == PLAN_SEV_BLOCKING && !p->checks[i].fixable)
            return err_set(e, PP_ESTATE, "cannot resolve every problem: %s (%s)",
                           p->checks[i].message, p->checks[i].id);
    size_t capf = 0, capu = 0;
    for (int rank = 0; rank <= 6; rank++)
        for (size_t i = 0; i < p->n_checks; i++) {
            const struct plan_check *k = &p->checks[i];
            if (!k->fixable || k->fix.kind == PLAN_FIX_NONE || fix_rank(k->fix.kind) != rank)
                continue;
            PV_PUSH(r->fixes, r->n_fixes, capf, fix_dup(&k->fix));
        }
    /* undo: reverse order of the fixes */
    for (size_t i = r->n_fixes; i-- > 0;) {
        for (size_t j = 0; j < p->n_checks; j++) {
            const struct plan_check *k = &p->checks[j];
            if (!k->fixable || k->fix.kind != r->fixes[i].kind ||
                !str_eq(k->fix.obj_ref, r->fixes[i].obj_ref) ||
                !str_eq(k->fix.arg_ref, r->fixes[i].arg_ref))
                continue;
            if (k->undo.kind != PLAN_FIX_NONE)
                PV_PUSH(r->undo, r->n_undo, capu, fix_dup(&k->undo));
            break;
        }
    }
    return 0;
}

static void fix_cleanup(struct plan_fix *f)
{
    free(f->obj_ref);
    free(f->arg_ref);
}

/* Release the arrays of a resolution. */
void plan_resolution_cleanup(struct plan_resolution *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_fixes; i++)
        fix_cleanup(&r->fixes[i]);
    for (size_t i = 0; i < r->n_undo; i++)
        fix_cleanup(&r->undo[i]);
    free(r->fixes);
    free(r->undo);
    memset(r, 0, sizeof(*r));
}

static void host_free(struct plan_host *h)
{
    free(h->ref);
    free(h->name);
    free(h->version);
    for (size_t i = 0; i < h->n_updates; i++)
        free(h->updates[i]);
    free(h->updates);
    for (size_t i = 0; i < h->n_skipped; i++) {
        free(h->skipped[i].uuid);
        free(h->skipped[i].reason);
    }
    free(h->skipped);
    for (size_t i = 0; i < h->n_actions; i++) {
        struct plan_action *a = &h->actions[i];
        free(a->update_uuid);
        free(a->label);
        for (size_t j = 0; j < a->n_migrations; j++) {
            free(a->migrations[j].vm_ref);
            free(a->migrations[j].vm_name);
            free(a->migrations[j].from_ref);
            free(a->migrations[j].to_ref);
        }
        free(a->migrations);
        for (size_t j = 0; j < a->n_vms; j++)
            free(a->vms[j]);
        free(a->vms);
    }
    free(h->actions);
}

/* Release a plan; NULL is a no-op. */
void plan_free(struct plan *p)
{
    if (!p)
        return;
    free(p->pool_ref);
    free(p->pool_name);
    free(p->cdn_hash);
    free(p->upload_sr_ref);
    free(p->upload_sr_name);
    free(p->upgrade_to);
    free(p->upgrade_url);
    for (size_t i = 0; i < p->n_tools_vms; i++) {
        free(p->tools_vms[i]);
        free(p->tools_vm_names[i]);
    }
    free(p->tools_vms);
    free(p->tools_vm_names);
    for (size_t i = 0; i < p->n_uploads; i++)
        free(p->uploads[i]);
    free(p->uploads);
    for (size_t i = 0; i < p->n_checks; i++) {
        struct plan_check *k = &p->checks[i];
        free(k->id);
        free(k->host_ref);
        free(k->vm_ref);
        free(k->update_uuid);
        free(k->message);
        fix_cleanup(&k->fix);
        fix_cleanup(&k->undo);
    }
    free(p->checks);
    for (size_t i = 0; i < p->n_hosts; i++)
        host_free(&p->hosts[i]);
    free(p->hosts);
    free(p);
}
