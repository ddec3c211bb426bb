/* SPDX-License-Identifier: MIT */
/*
 * place.c - migration placement and host batching.
 *
 * Hosts are taken in batches (DESIGN.md "Performance model": k hosts down at once).  k is the
 * most hosts to evacuate whose loads, smallest first, fit into the free memory of every other
 * usable host (the bound's k, capped by max_parallel_hosts); the hosts to evacuate are split
 * into as few batches of at most k as that allows, evenly sized.  The master's batch comes first
 * (the coordinator is updated before its supporters finish), then every host updated in place
 * (they never go down), then the other batches, each started by the host holding the most
 * parked VMs and grown, in inventory order, while every VM of the batch still finds a target
 * outside it.  Every VM of a batch gets a target that is up, sees all its disk SRs (and its CD's
 * SR unless the CD is ejected) and has room for its memory plus the per-VM overhead.  Targets are
 * ranked: hosts that stay up for the rest of the rollout (already updated, updated in place, not
 * updated) before hosts still to be rebooted; then the VM's affinity host; then the most free
 * memory left (spreading load); then inventory order, so the result is deterministic.
 *
 * Policy `return`: VMs go back home when their batch is done (at most 2 migrations per VM).
 * Policy `minimal`: VMs stay where they land.  A VM is parked on a host still to be rebooted only
 * when no host that stays up has room for it, and a parked VM is never parked again: at most 2
 * migrations per VM.  When a host that stays up has one host's worth of free memory at the start
 * (the biggest load to evacuate), batches of several hosts park nothing, and every VM moves at
 * most once (a lone host parks only what no host that stays up can take).  Otherwise parking is
 * what lets k hosts go down from the first batch on (16 hosts at 70% memory: 4 batches, not 9).
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

/* Placement order of a batch's VMs: those already moved once first (policy minimal: they may
 * only go to hosts that stay up, so they get that room before VMs that may still be parked),
 * then by memory, biggest first (first-fit decreasing packs best), then by index.  Insertion
 * sort: a batch holds tens of VMs, and qsort has no context argument in C11. */
static bool placed_before(const struct pstate *s, size_t a, size_t b)
{
    bool ma = s->nmig[a] > 0, mb = s->nmig[b] > 0;
    if (ma != mb)
        return ma;
    if (s->mem[a] != s->mem[b])
        return s->mem[a] > s->mem[b];
    return a < b;
}

static void sort_vms(size_t *vms, size_t n, const struct pstate *s)
{
    for (size_t i = 1; i < n; i++) {
        size_t v = vms[i], j = i;
        while (j > 0 && placed_before(s, v, vms[j - 1])) {
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
    sort_vms(vms, nvm, s);
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

/* Memory of the VMs on host h that placement moves (with the per-VM overhead). */
static int64_t host_load(const struct pstate *s, size_t h)
{
    int64_t load = 0;
    for (size_t v = 0; v < s->nv; v++)
        if (s->moves[v] && s->loc[v] == h)
            load += s->mem[v];
    return load;
}

/*
 * k: the most hosts of D (the hosts to evacuate) that can be down at once, DESIGN.md's way: their
 * loads, smallest first, must fit into the free memory of every other usable host.  At least 1
 * when D is not empty.
 */
static size_t capacity_k(const struct pstate *s, const size_t *D, size_t nd)
{
    if (nd == 0)
        return 0;
    int64_t *load = xcalloc(nd, sizeof(*load));
    int64_t *fr = xcalloc(nd, sizeof(*fr));
    int64_t free_total = 0;
    for (size_t h = 0; h < s->nh; h++)
        if (s->cls[h] != H_UNUSABLE)
            free_total += s->free[h];
    for (size_t i = 0; i < nd; i++) {
        load[i] = host_load(s, D[i]);
        fr[i] = s->cls[D[i]] != H_UNUSABLE ? s->free[D[i]] : 0;
    }
    for (size_t i = 1; i < nd; i++)
        for (size_t j = i; j > 0 && load[j - 1] > load[j]; j--) {
            int64_t a = load[j - 1], f = fr[j - 1];
            load[j - 1] = load[j];
            fr[j - 1] = fr[j];
            load[j] = a;
            fr[j] = f;
        }
    size_t k = 1;
    int64_t sum_load = load[0], sum_free = fr[0];
    for (size_t i = 1; i < nd; i++) {
        if (sum_load + load[i] > free_total - sum_free - fr[i])
            break;
        sum_load += load[i];
        sum_free += fr[i];
        k = i + 1;
    }
    free(load);
    free(fr);
    return k;
}

/* Batch size for the hosts left: as few batches of k as capacity allows, evenly sized
 * (16 hosts with k = 5 make 4 batches of 4, which leave more room than 5+5+5+1). */
static size_t batch_target(size_t left, size_t k)
{
    if (k == 0 || left == 0)
        return 1;
    size_t nbat = (left + k - 1) / k;
    return (left + nbat - 1) / nbat;
}

static void tent_free(struct tent *t)
{
    free(t->free);
    free(t->m);
    free(t->fail);
    memset(t, 0, sizeof(*t));
}

/* One batch of every host updated in place (they never go down), when there is any. */
static void inplace_batch(const struct place_in *in, size_t master, struct place_out *out,
                          int *batch, int *order)
{
    bool any = false;
    for (size_t h = 0; h < in->pool->n_hosts; h++)
        if (h != master && in->update[h] && !in->evac[h]) {
            out->batch[h] = *batch;
            out->order[h] = (*order)++;
            any = true;
        }
    if (any)
        (*batch)++;
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
    size_t *B = xcalloc(nh + 1, sizeof(*B));
    int batch = 0, order = 0;
    int cap = in->o ? in->o->max_parallel_hosts : 0;
    bool minimal = in->o && in->o->policy == PLAN_POLICY_MINIMAL;

    /* the hosts to evacuate: the master first when it is one of them */
    size_t *E = xcalloc(nh + 1, sizeof(*E));
    size_t ne = 0;
    bool master_evac = master != SIZE_MAX && in->update[master] && in->evac[master];
    if (master_evac)
        E[ne++] = master;
    for (size_t h = 0; h < nh; h++)
        if (h != master && in->update[h] && in->evac[h])
            E[ne++] = h;

    /* minimal: VMs may be parked on hosts still to be rebooted (each VM at most once) only when
     * no host that stays up has one host's worth of free memory; otherwise a batch holds only
     * what the hosts that stay up can take, and every VM moves at most once */
    int64_t max_load = 0, max_safe_free = 0;
    for (size_t i = 0; i < ne; i++) {
        int64_t l = host_load(&s, E[i]);
        if (l > max_load)
            max_load = l;
    }
    for (size_t h = 0; h < nh; h++)
        if (s.cls[h] == H_SAFE && s.free[h] > max_safe_free)
            max_safe_free = s.free[h];
    bool park = !minimal || max_safe_free < max_load;
    size_t k = capacity_k(&s, E, ne);
    if (cap > 0 && k > (size_t)cap)
        k = (size_t)cap;

    /* the master not evacuated: alone first (the coordinator is updated before its supporters;
     * nothing else to overlap with but an apply) */
    if (master != SIZE_MAX && in->update[master] && !master_evac) {
        out->batch[master] = batch++;
        out->order[master] = order++;
    }
    /* hosts updated in place, all together, right after the master's batch */
    bool inplace_pending = master_evac; /* then it follows the master's batch */
    if (!inplace_pending)
        inplace_batch(in, master, out, &batch, &order);

    /* hosts to evacuate, up to the target size at a time; the master's batch comes first */
    bool *taken = xcalloc(ne + 1, sizeof(*taken));
    size_t *cand = xcalloc(ne + 1, sizeof(*cand));
    int64_t *load0 = xcalloc(ne + 1, sizeof(*load0));
    for (size_t i = 0; i < ne; i++)
        load0[i] = host_load(&s, E[i]);
    int first_evac_batch = batch;
    for (size_t left = ne; left > 0;) {
        /* start with the master, else the host holding the most parked VMs (they must reach a
         * host that stays up, which has the most room now), else the first host left */
        size_t first = SIZE_MAX;
        int64_t most = 0;
        for (size_t i = 0; i < ne; i++) {
            if (taken[i])
                continue;
            if (first == SIZE_MAX)
                first = i;
            if (E[i] == master)
                break;
            int64_t parked = 0;
            for (size_t v = 0; v < s.nv; v++)
                if (s.moves[v] && s.nmig[v] && s.loc[v] == E[i])
                    parked += s.mem[v];
            if (parked > most) {
                most = parked;
                first = i;
            }
        }
        size_t target = batch_target(left, k);
        if (minimal && park && batch == first_evac_batch && k > 0) {
            /* the first batch's VMs are parked: as few hosts as keep the number of batches */
            size_t nbat = (left + k - 1) / k;
            target = left - (nbat - 1) * k;
        }
        size_t nb = 1;
        B[0] = E[first];
        taken[first] = true;
        s.cls[E[first]] = H_DOWN;
        t.free = xcalloc(nh + 1, sizeof(*t.free));
        try_place(&s, B, 1, true, &t);
        /* grow the batch while every VM still finds a target (minimal without a shortage of
         * room: only on hosts that stay up); a host that does not fit is skipped */
        /* minimal: the first batch's VMs are the ones parked (moved twice), so it grows with
         * the lightest hosts first; later batches in inventory order */
        for (size_t i = 0; i < ne; i++)
            cand[i] = i;
        if (minimal && park && batch == first_evac_batch)
            for (size_t i = 1; i < ne; i++)
                for (size_t j = i; j > 0 && load0[cand[j]] < load0[cand[j - 1]]; j--) {
                    size_t x = cand[j];
                    cand[j] = cand[j - 1];
                    cand[j - 1] = x;
                }
        for (size_t ci = 0; ci < ne && t.n_fail == 0 && nb < target; ci++) {
            size_t i = cand[ci];
            if (taken[i])
                continue;
            struct tent t2 = {0};
            t2.free = xcalloc(nh + 1, sizeof(*t2.free));
            size_t h = E[i];
            B[nb] = h;
            s.cls[h] = H_DOWN;
            if (try_place(&s, B, nb + 1, park, &t2)) {
                tent_free(&t);
                t = t2;
                taken[i] = true;
                nb++;
            } else {
                s.cls[h] = H_PENDING;
                tent_free(&t2);
            }
        }
        commit(&s, B, nb, &t, batch, out);
        tent_free(&t);
        for (size_t j = 0; j < nb; j++) {
            out->batch[B[j]] = batch;
            out->order[B[j]] = order++;
        }
        batch++;
        left -= nb;
        if (inplace_pending) {
            inplace_batch(in, master, out, &batch, &order);
            inplace_pending = false;
        }
    }
    if (inplace_pending)
        inplace_batch(in, master, out, &batch, &order);
    free(taken);
    free(cand);
    free(load0);
    out->n_batches = (size_t)batch;
    free(E);
    free(B);
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
