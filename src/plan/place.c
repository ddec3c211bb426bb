/* SPDX-License-Identifier: MIT */
/*
 * place.c - migration placement and host batching.
 *
 * Hosts are taken in batches: the master alone first, then every host updated in place (no
 * evacuation: they never go down), then the hosts to evacuate in inventory order, as many at
 * once as the others' free memory can absorb (DESIGN.md "Performance model": k hosts down at
 * once).  Every VM of a batch gets a target that is up, sees all its disk SRs (and its CD's SR
 * unless the CD is ejected) and has room for its memory plus the per-VM overhead.  Targets are
 * ranked: hosts that stay up for the rest of the rollout (already updated, updated in place, not
 * updated) before hosts still to be rebooted; then the VM's affinity host; then the most free
 * memory left (spreading load); then inventory order, so the result is deterministic.
 *
 * Policy `return`: VMs go back home when their batch is done (at most 2 migrations per VM).
 * Policy `minimal`: VMs stay where they land.  A batch of several hosts is accepted only when
 * none of its VMs has to be parked on a host still to be rebooted, so a VM moves twice only when
 * a single host's VMs do not fit on the hosts that stay up (the master's, typically, when every
 * host needs a reboot): at most 2 migrations per VM, at most 1 for all VMs once one host's worth
 * of memory is free on hosts that stay up.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "plan/plan_int.h"

enum hclass { H_SAFE = 0, H_PENDING = 1, H_DOWN = 2, H_UNUSABLE = 3 };

struct pstate {
    const struct place_in *in;
    size_t nh, nv;
    int64_t *free;
    size_t *loc; /* current host of each VM, SIZE_MAX when none */
    size_t *aff; /* affinity host index, SIZE_MAX when none */
    int64_t *mem;
    bool *moves;
    int *nmig; /* migrations so far (policy minimal: a parked VM is never parked again) */
    bool *ok;  /* [v * nh + h]: VM v's SRs are attached on h */
    int *cls;
};

/* True for VMs placement moves: running or paused, resident somewhere, not a control domain. */
bool place_vm_moves(const struct inv_vm *v)
{
    return !v->is_control_domain &&
           (v->power_state == INV_RUNNING || v->power_state == INV_PAUSED) && v->resident_on &&
           v->resident_on[0];
}

static void st_init(struct pstate *s, const struct place_in *in)
{
    const struct inv_pool *p = in->pool;
    memset(s, 0, sizeof(*s));
    s->in = in;
    s->nh = p->n_hosts;
    s->nv = p->n_vms;
    s->free = xcalloc(s->nh + 1, sizeof(*s->free));
    s->cls = xcalloc(s->nh + 1, sizeof(*s->cls));
    s->loc = xcalloc(s->nv + 1, sizeof(*s->loc));
    s->aff = xcalloc(s->nv + 1, sizeof(*s->aff));
    s->mem = xcalloc(s->nv + 1, sizeof(*s->mem));
    s->moves = xcalloc(s->nv + 1, sizeof(*s->moves));
    s->nmig = xcalloc(s->nv + 1, sizeof(*s->nmig));
    s->ok = xcalloc(s->nv * s->nh + 1, sizeof(*s->ok));

    struct pidx hosts, srs;
    pidx_init(&hosts, s->nh);
    pidx_init(&srs, p->n_srs);
    for (size_t h = 0; h < s->nh; h++) {
        pidx_put(&hosts, p->hosts[h].ref, h);
        s->free[h] = p->hosts[h].memory_free;
        s->cls[h] = !in->usable[h] ? H_UNUSABLE : in->evac[h] ? H_PENDING : H_SAFE;
    }
    for (size_t i = 0; i < p->n_srs; i++)
        pidx_put(&srs, p->srs[i].ref, i);

    /* which SR is attached on which host, once */
    bool *att = xcalloc(p->n_srs * s->nh + 1, sizeof(*att));
    for (size_t i = 0; i < p->n_srs; i++)
        for (size_t j = 0; j < p->srs[i].n_pbds; j++) {
            size_t hi;
            if (p->srs[i].pbds[j].attached && pidx_get(&hosts, p->srs[i].pbds[j].host_ref, &hi))
                att[i * s->nh + hi] = true;
        }
    size_t *need = NULL, n_need = 0, cap_need = 0;
    for (size_t v = 0; v < s->nv; v++) {
        const struct inv_vm *vm = &p->vms[v];
        size_t hi;
        s->loc[v] = pidx_get(&hosts, vm->resident_on, &hi) ? hi : SIZE_MAX;
        s->aff[v] = pidx_get(&hosts, vm->affinity, &hi) ? hi : SIZE_MAX;
        s->mem[v] = vm->memory + (in->o ? in->o->vm_overhead : 0);
        s->moves[v] = place_vm_moves(vm) && !in->vm_skip[v] && s->loc[v] != SIZE_MAX;
        if (!s->moves[v])
            continue;
        /* the SRs it needs (an unknown SR is visible nowhere) */
        n_need = 0;
        bool unknown = false;
        for (size_t d = 0; d < vm->n_disk_srs; d++) {
            size_t si;
            if (pidx_get(&srs, vm->disk_srs[d], &si))
                PV_PUSH(need, n_need, cap_need, si);
            else
                unknown = true;
        }
        if (vm->cd_sr && vm->cd_sr[0] && !in->vm_no_cd[v]) {
            size_t si;
            if (pidx_get(&srs, vm->cd_sr, &si))
                PV_PUSH(need, n_need, cap_need, si);
            else
                unknown = true;
        }
        for (size_t h = 0; h < s->nh && !unknown; h++) {
            bool ok = true;
            for (size_t k = 0; k < n_need && ok; k++)
                ok = att[need[k] * s->nh + h];
            s->ok[v * s->nh + h] = ok;
        }
    }
    free(need);
    free(att);
    pidx_cleanup(&hosts);
    pidx_cleanup(&srs);
}

static void st_cleanup(struct pstate *s)
{
    free(s->free);
    free(s->cls);
    free(s->loc);
    free(s->aff);
    free(s->mem);
    free(s->moves);
    free(s->nmig);
    free(s->ok);
}

/* Sort VM indices by memory, biggest first, then by index (first-fit decreasing packs best);
 * insertion sort: a batch holds tens of VMs, and qsort has no context argument in C11. */
static void sort_by_mem(size_t *vms, size_t n, const int64_t *mem)
{
    for (size_t i = 1; i < n; i++) {
        size_t v = vms[i], j = i;
        while (j > 0 &&
               (mem[vms[j - 1]] < mem[v] || (mem[vms[j - 1]] == mem[v] && vms[j - 1] > v))) {
            vms[j] = vms[j - 1];
            j--;
        }
        vms[j] = v;
    }
}

struct tent {
    int64_t *free;
    struct place_mig *m;
    size_t n, cap;
    struct place_fail *fail;
    size_t n_fail, cap_fail;
};

/*
 * Place every moving VM on a host of batch B (hosts marked H_DOWN by the caller).  allow_park:
 * hosts still to be rebooted may receive VMs.  Returns true when every VM found a target.
 */
static bool try_place(const struct pstate *s, const size_t *B, size_t nb, bool allow_park,
                      struct tent *t)
{
    memcpy(t->free, s->free, s->nh * sizeof(*t->free));
    t->n = 0;
    t->n_fail = 0;
    size_t *vms = NULL, nvm = 0, capv = 0;
    for (size_t v = 0; v < s->nv; v++) {
        if (!s->moves[v])
            continue;
        for (size_t i = 0; i < nb; i++)
            if (s->loc[v] == B[i]) {
                PV_PUSH(vms, nvm, capv, v);
                break;
            }
    }
    sort_by_mem(vms, nvm, s->mem);
    bool all = true;
    for (size_t i = 0; i < nvm; i++) {
        size_t v = vms[i], best = SIZE_MAX;
        int best_cls = 0;
        bool best_aff = false;
        int64_t best_left = 0;
        for (size_t h = 0; h < s->nh; h++) {
            int c = s->cls[h];
            if (c == H_DOWN || c == H_UNUSABLE || (c == H_PENDING && (!allow_park || s->nmig[v])))
                continue;
            if (!s->ok[v * s->nh + h] || t->free[h] < s->mem[v])
                continue;
            bool aff = s->aff[v] == h;
            int64_t left = t->free[h] - s->mem[v];
            bool better = best == SIZE_MAX || c < best_cls || (c == best_cls && aff && !best_aff) ||
                          (c == best_cls && aff == best_aff && left > best_left);
            if (better) {
                best = h;
                best_cls = c;
                best_aff = aff;
                best_left = left;
            }
        }
        if (best == SIZE_MAX) {
            struct place_fail f = {v, s->loc[v]};
            PV_PUSH(t->fail, t->n_fail, t->cap_fail, f);
            all = false;
            continue;
        }
        t->free[best] -= s->mem[v];
        struct place_mig m = {v, s->loc[v], best, 0, false};
        PV_PUSH(t->m, t->n, t->cap, m);
    }
    free(vms);
    return all;
}

static void push_mig(struct place_out *out, struct place_mig m)
{
    PV_PUSH(out->migs, out->n_migs, out->cap_migs, m);
}

/* Commit a tentative placement of batch B as batch number `batch`. */
static void commit(struct pstate *s, const size_t *B, size_t nb, struct tent *t, int batch,
                   struct place_out *out)
{
    for (size_t i = 0; i < t->n; i++) {
        struct place_mig m = t->m[i];
        m.batch = batch;
        s->free[m.to] -= s->mem[m.vm];
        s->free[m.from] += s->mem[m.vm];
        s->loc[m.vm] = m.to;
        s->nmig[m.vm]++;
        push_mig(out, m);
    }
    for (size_t i = 0; i < t->n_fail; i++)
        PV_PUSH(out->unplaced, out->n_unplaced, out->cap_unplaced, t->fail[i]);
    for (size_t i = 0; i < nb; i++)
        s->cls[B[i]] = H_SAFE; /* updated: stays up from now on */
    if (s->in->o && s->in->o->policy == PLAN_POLICY_RETURN) {
        for (size_t i = 0; i < t->n; i++) {
            struct place_mig m = {t->m[i].vm, t->m[i].to, t->m[i].from, batch, true};
            s->free[m.to] -= s->mem[m.vm];
            s->free[m.from] += s->mem[m.vm];
            s->loc[m.vm] = m.to;
            s->nmig[m.vm] = 0; /* home again: the next batch starts afresh */
            push_mig(out, m);
        }
    }
}

/* Compute batches and migrations (see the file comment).  out is filled; release it with
 * place_out_cleanup. */
void plan_place(const struct place_in *in, struct place_out *out)
{
    memset(out, 0, sizeof(*out));
    struct pstate s;
    st_init(&s, in);
    size_t nh = s.nh;
    out->batch = xcalloc(nh + 1, sizeof(*out->batch));
    out->order = xcalloc(nh + 1, sizeof(*out->order));
    for (size_t h = 0; h < nh; h++)
        out->batch[h] = out->order[h] = -1;

    size_t master = SIZE_MAX;
    for (size_t h = 0; h < nh; h++)
        if (str_eq(in->pool->hosts[h].ref, in->pool->master_ref))
            master = h;

    struct tent t = {0};
    t.free = xcalloc(nh + 1, sizeof(*t.free));
    size_t *B = xcalloc(nh + 1, sizeof(*B));
    int batch = 0, order = 0;
    int cap = in->o ? in->o->max_parallel_hosts : 0;

    /* the master alone */
    if (master != SIZE_MAX && in->update[master]) {
        B[0] = master;
        if (in->evac[master]) {
            s.cls[master] = H_DOWN;
            try_place(&s, B, 1, true, &t);
            commit(&s, B, 1, &t, batch, out);
        }
        out->batch[master] = batch++;
        out->order[master] = order++;
    }
    /* hosts updated in place, all together */
    bool any = false;
    for (size_t h = 0; h < nh; h++)
        if (h != master && in->update[h] && !in->evac[h]) {
            out->batch[h] = batch;
            out->order[h] = order++;
            any = true;
        }
    if (any)
        batch++;
    /* hosts to evacuate, k at a time */
    size_t *E = xcalloc(nh + 1, sizeof(*E));
    size_t ne = 0;
    for (size_t h = 0; h < nh; h++)
        if (h != master && in->update[h] && in->evac[h])
            E[ne++] = h;
    bool minimal = in->o && in->o->policy == PLAN_POLICY_MINIMAL;
    bool *taken = xcalloc(ne + 1, sizeof(*taken));
    for (size_t left = ne; left > 0;) {
        /* start with the host holding the most parked VMs (they move on at once), else the
         * first host left in inventory order */
        size_t first = SIZE_MAX;
        int64_t most = 0;
        for (size_t i = 0; i < ne; i++) {
            if (taken[i])
                continue;
            if (first == SIZE_MAX)
                first = i;
            int64_t parked = 0;
            for (size_t v = 0; v < s.nv; v++)
                if (s.moves[v] && s.nmig[v] && s.loc[v] == E[i])
                    parked += s.mem[v];
            if (parked > most) {
                most = parked;
                first = i;
            }
        }
        size_t nb = 1;
        B[0] = E[first];
        taken[first] = true;
        s.cls[E[first]] = H_DOWN;
        try_place(&s, B, 1, true, &t);
        /* grow the batch while everything still fits (minimal: without parking); a host that
         * does not fit is skipped, up to a few times */
        int misses = 0;
        for (size_t i = 0; i < ne && t.n_fail == 0 && misses < 4 && (cap <= 0 || nb < (size_t)cap);
             i++) {
            if (taken[i])
                continue;
            struct tent t2 = {0};
            t2.free = xcalloc(nh + 1, sizeof(*t2.free));
            size_t h = E[i];
            B[nb] = h;
            s.cls[h] = H_DOWN;
            if (try_place(&s, B, nb + 1, !minimal, &t2)) {
                free(t.free);
                free(t.m);
                free(t.fail);
                t = t2;
                taken[i] = true;
                nb++;
            } else {
                s.cls[h] = H_PENDING;
                free(t2.free);
                free(t2.m);
                free(t2.fail);
                misses++;
            }
        }
        commit(&s, B, nb, &t, batch, out);
        for (size_t j = 0; j < nb; j++) {
            out->batch[B[j]] = batch;
            out->order[B[j]] = order++;
        }
        batch++;
        left -= nb;
    }
    free(taken);
    out->n_batches = (size_t)batch;
    free(E);
    free(B);
    free(t.free);
    free(t.m);
    free(t.fail);
    st_cleanup(&s);
}

/* Release what plan_place allocated. */
void place_out_cleanup(struct place_out *out)
{
    free(out->batch);
    free(out->order);
    free(out->migs);
    free(out->unplaced);
    memset(out, 0, sizeof(*out));
}
