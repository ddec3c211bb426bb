/* SPDX-License-Identifier: MIT */
/*
 * place.c - migration placement and host batching.
 *
 * The master goes first and alone (the seed: "update all servers of a pool sequentially, always
 * starting with the pool master"; XenCenter's coordinator-first order, xencenter.md section 3):
 * batch 0 holds only the master, so it is evacuated, updated, rebooted and back before any
 * supporter is touched.  Then every host updated in place (they never go down), then the
 * supporters to evacuate in batches (DESIGN.md "Performance model": k hosts down at once).  k is
 * the most supporters to evacuate whose loads, smallest first, fit into the free memory of every
 * other usable host, capped by max_parallel_hosts (which caps every batch, the in-place ones too:
 * 1 is XenCenter's strictly sequential order); the supporters go down in as few batches of at most
 * k as that allows, evenly sized.  Each batch starts with the host holding the most parked VMs and
 * grows, in inventory order, while every VM of the batch still finds a target outside it.
 *
 * Placement is incremental: adding a host to a batch places only its VMs (and those tentatively
 * sent to it) on top of the batch's tentative placement.  Targets come from a heap ordered by
 * class (hosts that stay up for the rest of the rollout - updated already, updated in place, not
 * updated - before hosts still to be rebooted), then free memory (most first, spreading load),
 * then inventory order; a VM's affinity host wins within the best class.  A target must be up,
 * not in the batch, see all the VM's disk SRs (and its CD's SR unless the CD is ejected) and have
 * room for its memory plus the per-VM overhead.
 *
 * Policy `return`: VMs go back home when their batch is done (at most 2 migrations per VM).
 * Policy `minimal`: VMs stay where they land.  A VM is parked on a host still to be rebooted only
 * when no host that stays up has room for it, and a parked VM is never parked again: at most 2
 * migrations per VM.  When a host that stays up has one host's worth of free memory at the start
 * (the biggest load to evacuate), batches of several hosts park nothing, and every VM moves at
 * most once (a lone host parks only what no host that stays up can take).  Otherwise parking is
 * what lets k hosts go down at once: the master's VMs are parked, and the first supporters' batch
 * takes the fewest, lightest hosts that keep the number of batches.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "plan/plan_int.h"

enum hclass { H_SAFE = 0, H_PENDING = 1, H_UNUSABLE = 2 };

struct pstate {
    const struct place_in *in;
    size_t nh, nv;
    int64_t *free;
    size_t *loc; /* current host of each VM, SIZE_MAX when none */
    size_t *aff; /* affinity host index, SIZE_MAX when none */
    int64_t *mem;
    bool *moves;
    int *nmig;        /* migrations so far (policy minimal: a parked VM is never parked again) */
    bool *ok;         /* [v * nh + h]: VM v's SRs are attached on h */
    int *cls;         /* enum hclass, as of the last committed batch */
    bool *down;       /* [nh] in the batch being built */
    size_t *hv;       /* moving VMs grouped by host (hv_at[h] .. hv_at[h + 1]) */
    size_t *hv_at;    /* [nh + 1] */
    int64_t *load;    /* [nh] memory of the moving VMs on each host */
    int64_t *parked;  /* [nh] of which VMs already moved once */
    bool limit_parks; /* the destination limit may park a VM a host that stays up could take:
                         policy return (VMs go home anyway), or minimal when parking is what
                         lets k hosts go down (no host that stays up has a host's worth of room) */
};

/* True for VMs placement moves: running or paused, resident somewhere, not a control domain. */
bool place_vm_moves(const struct inv_vm *v)
{
    return !v->is_control_domain &&
           (v->power_state == INV_RUNNING || v->power_state == INV_PAUSED) && v->resident_on &&
           v->resident_on[0];
}

/* Regroup the moving VMs by the host they are on, with each host's load (after every commit). */
static void st_group(struct pstate *s)
{
    memset(s->hv_at, 0, (s->nh + 1) * sizeof(*s->hv_at));
    memset(s->load, 0, s->nh * sizeof(*s->load));
    memset(s->parked, 0, s->nh * sizeof(*s->parked));
    for (size_t v = 0; v < s->nv; v++)
        if (s->moves[v]) {
            s->hv_at[s->loc[v] + 1]++;
            s->load[s->loc[v]] += s->mem[v];
            if (s->nmig[v])
                s->parked[s->loc[v]] += s->mem[v];
        }
    for (size_t h = 0; h < s->nh; h++)
        s->hv_at[h + 1] += s->hv_at[h];
    size_t *fill = xcalloc(s->nh + 1, sizeof(*fill));
    for (size_t v = 0; v < s->nv; v++)
        if (s->moves[v])
            s->hv[s->hv_at[s->loc[v]] + fill[s->loc[v]]++] = v;
    free(fill);
}

/* Which SR is attached on which host: [sr * nh + h]. */
static bool *st_attached(const struct inv_pool *p, const struct pidx *hosts, size_t nh)
{
    bool *att = xcalloc(p->n_srs * nh + 1, sizeof(*att));
    for (size_t i = 0; i < p->n_srs; i++)
        for (size_t j = 0; j < p->srs[i].n_pbds; j++) {
            size_t hi;
            if (p->srs[i].pbds[j].attached && pidx_get(hosts, p->srs[i].pbds[j].host_ref, &hi))
                att[i * nh + hi] = true;
        }
    return att;
}

/* s->ok for VM v: the hosts that see every SR it needs (an unknown SR is visible nowhere). */
static void st_vm_srs(struct pstate *s, size_t v, const struct pidx *srs, const bool *att,
                      size_t **need, size_t *cap_need)
{
    const struct inv_vm *vm = &s->in->pool->vms[v];
    size_t n_need = 0, si;
    for (size_t d = 0; d < vm->n_disk_srs; d++) {
        if (!pidx_get(srs, vm->disk_srs[d], &si))
            return;
        PV_PUSH(*need, n_need, *cap_need, si);
    }
    if (vm->cd_sr && vm->cd_sr[0] && !s->in->vm_no_cd[v]) {
        if (!pidx_get(srs, vm->cd_sr, &si))
            return;
        PV_PUSH(*need, n_need, *cap_need, si);
    }
    for (size_t h = 0; h < s->nh; h++) {
        bool ok = true;
        for (size_t k = 0; k < n_need && ok; k++)
            ok = att[(*need)[k] * s->nh + h];
        s->ok[v * s->nh + h] = ok;
    }
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
    s->down = xcalloc(s->nh + 1, sizeof(*s->down));
    s->load = xcalloc(s->nh + 1, sizeof(*s->load));
    s->parked = xcalloc(s->nh + 1, sizeof(*s->parked));
    s->hv_at = xcalloc(s->nh + 2, sizeof(*s->hv_at));
    s->hv = xcalloc(s->nv + 1, sizeof(*s->hv));
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
    bool *att = st_attached(p, &hosts, s->nh);
    size_t *need = NULL, cap_need = 0;
    for (size_t v = 0; v < s->nv; v++) {
        const struct inv_vm *vm = &p->vms[v];
        size_t hi;
        s->loc[v] = pidx_get(&hosts, vm->resident_on, &hi) ? hi : SIZE_MAX;
        s->aff[v] = pidx_get(&hosts, vm->affinity, &hi) ? hi : SIZE_MAX;
        s->mem[v] = vm->memory + (in->o ? in->o->vm_overhead : 0);
        s->moves[v] = place_vm_moves(vm) && !in->vm_skip[v] && s->loc[v] != SIZE_MAX;
        if (s->moves[v])
            st_vm_srs(s, v, &srs, att, &need, &cap_need);
    }
    free(need);
    free(att);
    pidx_cleanup(&hosts);
    pidx_cleanup(&srs);
    st_group(s);
}

static void st_cleanup(struct pstate *s)
{
    free(s->free);
    free(s->cls);
    free(s->down);
    free(s->load);
    free(s->parked);
    free(s->hv_at);
    free(s->hv);
    free(s->loc);
    free(s->aff);
    free(s->mem);
    free(s->moves);
    free(s->nmig);
    free(s->ok);
}

/* ------------------------------------------------------------------ the target heap */

/* Usable hosts ordered by (class, free memory descending, index): the best target on top. */
struct theap {
    size_t *h;   /* heap of host indexes */
    size_t *pos; /* [nh] position in h, SIZE_MAX when absent */
    size_t n;
};

static bool heap_before(const struct pstate *s, const int64_t *fr, size_t a, size_t b)
{
    if (s->cls[a] != s->cls[b])
        return s->cls[a] < s->cls[b];
    if (fr[a] != fr[b]) /* most free first: parked VMs too, so no later host sends much more */
        return fr[a] > fr[b];
    return a < b;
}

static void heap_swap(struct theap *q, size_t i, size_t j)
{
    size_t a = q->h[i];
    q->h[i] = q->h[j];
    q->h[j] = a;
    q->pos[q->h[i]] = i;
    q->pos[q->h[j]] = j;
}

static void heap_up(struct theap *q, const struct pstate *s, const int64_t *fr, size_t i)
{
    while (i > 0 && heap_before(s, fr, q->h[i], q->h[(i - 1) / 2])) {
        heap_swap(q, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(struct theap *q, const struct pstate *s, const int64_t *fr, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->n && heap_before(s, fr, q->h[l], q->h[m]))
            m = l;
        if (r < q->n && heap_before(s, fr, q->h[r], q->h[m]))
            m = r;
        if (m == i)
            return;
        heap_swap(q, i, m);
        i = m;
    }
}

static void heap_push(struct theap *q, const struct pstate *s, const int64_t *fr, size_t host)
{
    q->h[q->n] = host;
    q->pos[host] = q->n++;
    heap_up(q, s, fr, q->n - 1);
}

static size_t heap_pop(struct theap *q, const struct pstate *s, const int64_t *fr)
{
    size_t top = q->h[0];
    heap_swap(q, 0, --q->n);
    q->pos[top] = SIZE_MAX;
    heap_down(q, s, fr, 0);
    return top;
}

/* ------------------------------------------------------------------ tentative placements */

struct tent {
    int64_t *free;
    int64_t *in;    /* [nh] memory this batch sends to each host */
    int64_t cap_in; /* the most one host of the batch sends: a target's inbound limit */
    struct theap q;
    struct place_mig *m;
    size_t n, cap;
    struct place_fail *fail;
    size_t n_fail, cap_fail;
    size_t *popped; /* scratch: hosts taken off the heap while looking for a target */
};

static void tent_init(struct tent *t, const struct pstate *s)
{
    memset(t, 0, sizeof(*t));
    t->free = xcalloc(s->nh + 1, sizeof(*t->free));
    t->in = xcalloc(s->nh + 1, sizeof(*t->in));
    t->q.h = xcalloc(s->nh + 1, sizeof(*t->q.h));
    t->q.pos = xcalloc(s->nh + 1, sizeof(*t->q.pos));
    t->popped = xcalloc(s->nh + 1, sizeof(*t->popped));
    memcpy(t->free, s->free, s->nh * sizeof(*t->free));
    for (size_t h = 0; h < s->nh; h++) {
        t->q.pos[h] = SIZE_MAX;
        if (s->cls[h] != H_UNUSABLE)
            heap_push(&t->q, s, t->free, h);
    }
}

static void tent_copy(struct tent *dst, const struct tent *src, const struct pstate *s)
{
    memcpy(dst->free, src->free, s->nh * sizeof(*dst->free));
    memcpy(dst->in, src->in, s->nh * sizeof(*dst->in));
    dst->cap_in = src->cap_in;
    memcpy(dst->q.h, src->q.h, s->nh * sizeof(*dst->q.h));
    memcpy(dst->q.pos, src->q.pos, s->nh * sizeof(*dst->q.pos));
    dst->q.n = src->q.n;
    dst->n = dst->n_fail = 0;
    for (size_t i = 0; i < src->n; i++)
        PV_PUSH(dst->m, dst->n, dst->cap, src->m[i]);
    for (size_t i = 0; i < src->n_fail; i++)
        PV_PUSH(dst->fail, dst->n_fail, dst->cap_fail, src->fail[i]);
}

static void tent_free(struct tent *t)
{
    free(t->free);
    free(t->in);
    free(t->q.h);
    free(t->q.pos);
    free(t->m);
    free(t->fail);
    free(t->popped);
    memset(t, 0, sizeof(*t));
}

/* True when host h can take VM v in tentative placement t: not going down, sees the VM's SRs,
 * has room, and (capped) receives no more in this batch than the batch's heaviest host sends. */
static bool target_ok(const struct pstate *s, const struct tent *t, size_t v, size_t h, bool capped)
{
    return !s->down[h] && s->ok[v * s->nh + h] && t->free[h] >= s->mem[v] &&
           (!capped || t->in[h] + s->mem[v] <= t->cap_in);
}

/* Hosts over their inbound limit the limited pass of pick_target passes over before it gives
 * up: the heap puts the hosts with the most free memory on top, and a host that received much
 * has less, so hosts over their limit are rarely many; bounding the look keeps placement
 * linear-ish (a 64-host pool in a few ms). */
#define CAPPED_SCAN 12

/* One pass of pick_target: the first eligible host off the heap, or SIZE_MAX. */
static size_t pick_pass(const struct pstate *s, struct tent *t, size_t v, bool park_ok, bool capped)
{
    size_t best = SIZE_MAX, np = 0, over = 0;
    while (t->q.n > 0 && over < CAPPED_SCAN) {
        size_t h = t->q.h[0];
        if (s->cls[h] == H_PENDING && !park_ok)
            break;
        t->popped[np++] = heap_pop(&t->q, s, t->free);
        if (target_ok(s, t, v, h, capped)) {
            best = h;
            break;
        }
        over += capped && target_ok(s, t, v, h, false);
    }
    for (size_t i = 0; i < np; i++)
        heap_push(&t->q, s, t->free, t->popped[i]);
    size_t a = s->aff[v];
    if (best != SIZE_MAX && a != SIZE_MAX && a != best && s->cls[a] == s->cls[best] &&
        t->q.pos[a] != SIZE_MAX && target_ok(s, t, v, a, capped))
        best = a;
    return best;
}

/* The best target for VM v, or SIZE_MAX: the first host off the heap that is eligible and has
 * room (the heap is ordered by class then free memory, so the first fit is the most free memory
 * of the best class), replaced by the VM's affinity host when that one is as good a class.
 * Hosts whose inbound would exceed the batch's heaviest outbound load come last: a host takes
 * in parallel_migrations streams as it sends them (the simulator and a host's network alike), so
 * a batch whose target receives more than any source sends lasts longer than its sources. */
static size_t pick_target(const struct pstate *s, struct tent *t, size_t v, bool allow_park)
{
    bool park_ok = allow_park && !s->nmig[v];
    size_t best = pick_pass(s, t, v, park_ok, true);
    if (best != SIZE_MAX && (s->cls[best] != H_PENDING || s->limit_parks))
        return best;
    /* nothing within the limits, or only by parking a VM a host that stays up could take
     * (minimal with room: a second migration later costs more than the busier receiver) */
    size_t over = pick_pass(s, t, v, park_ok, false);
    return over != SIZE_MAX ? over : best;
}

static void tent_take(const struct pstate *s, struct tent *t, size_t h, int64_t delta)
{
    t->free[h] += delta;
    t->in[h] -= delta;
    if (t->q.pos[h] == SIZE_MAX)
        return;
    heap_up(&t->q, s, t->free, t->q.pos[h]);
    heap_down(&t->q, s, t->free, t->q.pos[h]);
}

/* Placement order of VMs: those already moved once first (policy minimal: they may only go to
 * hosts that stay up, so they get that room before VMs that may still be parked), then by
 * memory, biggest first (first-fit decreasing packs best), then by index. */
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

/*
 * Add host h to the batch of tentative placement t (h already marked down): h's VMs, the VMs t
 * sent to h, and (without allow_park) the VMs t parked on hosts still to be rebooted are placed
 * on top of t.  Returns true when every one found a target; failures are recorded in t.
 */
static bool place_host(const struct pstate *s, struct tent *t, size_t h, bool allow_park)
{
    size_t *vms = NULL, nvm = 0, capv = 0, keep = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct place_mig m = t->m[i];
        if (m.to == h || (!allow_park && s->cls[m.to] == H_PENDING)) {
            tent_take(s, t, m.to, s->mem[m.vm]);
            PV_PUSH(vms, nvm, capv, m.vm);
        } else {
            t->m[keep++] = m;
        }
    }
    t->n = keep;
    if (s->load[h] > t->cap_in)
        t->cap_in = s->load[h];
    for (size_t i = s->hv_at[h]; i < s->hv_at[h + 1]; i++)
        PV_PUSH(vms, nvm, capv, s->hv[i]);
    sort_vms(vms, nvm, s);
    bool all = true;
    for (size_t i = 0; i < nvm; i++) {
        size_t v = vms[i], to = pick_target(s, t, v, allow_park);
        if (to == SIZE_MAX) {
            struct place_fail f = {v, s->loc[v]};
            PV_PUSH(t->fail, t->n_fail, t->cap_fail, f);
            all = false;
            continue;
        }
        tent_take(s, t, to, -s->mem[v]);
        struct place_mig m = {v, s->loc[v], to, 0, false};
        PV_PUSH(t->m, t->n, t->cap, m);
    }
    free(vms);
    return all;
}

static void push_mig(struct place_out *out, struct place_mig m)
{
    PV_PUSH(out->migs, out->n_migs, out->cap_migs, m);
}

static void move_vm(struct pstate *s, const struct place_mig *m)
{
    s->free[m->to] -= s->mem[m->vm];
    s->free[m->from] += s->mem[m->vm];
    s->loc[m->vm] = m->to;
}

/* Commit a tentative placement of batch B as batch number `batch`. */
static void commit(struct pstate *s, const size_t *B, size_t nb, struct tent *t, int batch,
                   struct place_out *out)
{
    for (size_t i = 0; i < t->n; i++) {
        struct place_mig m = t->m[i];
        m.batch = batch;
        move_vm(s, &m);
        s->nmig[m.vm]++;
        push_mig(out, m);
    }
    for (size_t i = 0; i < t->n_fail; i++)
        PV_PUSH(out->unplaced, out->n_unplaced, out->cap_unplaced, t->fail[i]);
    for (size_t i = 0; i < nb; i++) {
        s->cls[B[i]] = H_SAFE; /* updated: stays up from now on */
        s->down[B[i]] = false;
        out->batch[B[i]] = batch;
    }
    if (s->in->o && s->in->o->policy == PLAN_POLICY_RETURN) {
        for (size_t i = 0; i < t->n; i++) {
            struct place_mig m = {t->m[i].vm, t->m[i].to, t->m[i].from, batch, true};
            move_vm(s, &m);
            s->nmig[m.vm] = 0; /* home again: the next batch starts afresh */
            push_mig(out, m);
        }
    }
    st_group(s);
}

/* See plan_int.h.  Insertion sort by load: n is a pool's host count. */
size_t plan_capacity_k(int64_t *load, int64_t *fr, size_t n, int64_t free_total)
{
    if (n == 0)
        return 0;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && load[j - 1] > load[j]; j--) {
            int64_t a = load[j - 1], f = fr[j - 1];
            load[j - 1] = load[j];
            fr[j - 1] = fr[j];
            load[j] = a;
            fr[j] = f;
        }
    size_t k = 1;
    int64_t sum_load = load[0], sum_free = fr[0];
    for (size_t i = 1; i < n; i++) {
        if (sum_load + load[i] > free_total - sum_free - fr[i])
            break;
        sum_load += load[i];
        sum_free += fr[i];
        k = i + 1;
    }
    return k;
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
        load[i] = s->load[D[i]];
        fr[i] = s->cls[D[i]] != H_UNUSABLE ? s->free[D[i]] : 0;
    }
    size_t k = plan_capacity_k(load, fr, nd, free_total);
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

/* The batch being built and the rules it grows by. */
struct batcher {
    struct pstate *s;
    struct place_out *out;
    size_t *B, nb;
    int batch, order;
    size_t cap;   /* max_parallel_hosts, 0: none */
    bool park;    /* VMs that never moved may be parked on hosts still to be rebooted */
    bool minimal; /* policy minimal */
};

/* Close the current batch: commit its placement, give its hosts their order. */
static void close_batch(struct batcher *b, struct tent *t)
{
    commit(b->s, b->B, b->nb, t, b->batch, b->out);
    for (size_t j = 0; j < b->nb; j++)
        b->out->order[b->B[j]] = b->order++;
    b->batch++;
    b->nb = 0;
}

/* Hosts updated in place (they never go down), together, in batches of at most cap. */
static void inplace_batches(struct batcher *b, size_t master)
{
    const struct place_in *in = b->s->in;
    struct tent t = {0};
    for (size_t h = 0; h < b->s->nh; h++) {
        if (h == master || !in->update[h] || in->evac[h])
            continue;
        b->B[b->nb++] = h;
        if (b->cap > 0 && b->nb == b->cap)
            close_batch(b, &t);
    }
    if (b->nb > 0)
        close_batch(b, &t);
}

/* Grow one batch of the supporters to evacuate E from host `first` up to `target` hosts,
 * trying candidates in the order cand; a host whose VMs do not fit is skipped. */
static void grow_batch(struct batcher *b, const size_t *E, size_t ne, const size_t *cand,
                       bool *taken, size_t first, size_t target)
{
    struct pstate *s = b->s;
    struct tent t, t2;
    tent_init(&t, s);
    tent_init(&t2, s);
    b->B[b->nb++] = E[first];
    taken[first] = true;
    s->down[E[first]] = true;
    place_host(s, &t, E[first], true);
    for (size_t ci = 0; ci < ne && t.n_fail == 0 && b->nb < target; ci++) {
        size_t i = cand[ci];
        if (taken[i])
            continue;
        tent_copy(&t2, &t, s);
        s->down[E[i]] = true;
        if (place_host(s, &t2, E[i], b->park)) {
            struct tent x = t;
            t = t2;
            t2 = x;
            taken[i] = true;
            b->B[b->nb++] = E[i];
        } else {
            s->down[E[i]] = false;
        }
    }
    close_batch(b, &t);
    tent_free(&t);
    tent_free(&t2);
}

/* Candidates for the next batch: inventory order; with parking (policy minimal, no host that
 * stays up has a host's worth of room), the hosts holding the least parked memory first, so
 * the VMs parked on a host wait until the hosts already updated have room for them. */
static void order_candidates(const struct batcher *b, const size_t *E, size_t ne, size_t *cand)
{
    for (size_t i = 0; i < ne; i++)
        cand[i] = i;
    if (!(b->minimal && b->park))
        return;
    const int64_t *pk = b->s->parked;
    for (size_t i = 1; i < ne; i++)
        for (size_t j = i; j > 0 && pk[E[cand[j]]] < pk[E[cand[j - 1]]]; j--) {
            size_t x = cand[j];
            cand[j] = cand[j - 1];
            cand[j - 1] = x;
        }
}

/* Supporters to evacuate, in batches of up to k (see the file comment). */
static void evac_batches(struct batcher *b, const size_t *E, size_t ne, size_t k)
{
    bool *taken = xcalloc(ne + 1, sizeof(*taken));
    size_t *cand = xcalloc(ne + 1, sizeof(*cand));
    for (size_t left = ne; left > 0; left--) {
        order_candidates(b, E, ne, cand);
        size_t first = SIZE_MAX;
        for (size_t ci = 0; first == SIZE_MAX && ci < ne; ci++)
            if (!taken[cand[ci]])
                first = cand[ci];
        size_t nb0 = b->order;
        grow_batch(b, E, ne, cand, taken, first, batch_target(left, k));
        left -= (size_t)b->order - nb0 - 1;
    }
    free(taken);
    free(cand);
}

/* Compute batches and migrations (see the file comment).  out is filled; release it with
 * place_out_cleanup. */
void plan_place(const struct place_in *in, struct place_out *out)
{
    memset(out, 0, sizeof(*out));
    struct pstate s;
    st_init(&s, in);
    size_t nh = s.nh, master = SIZE_MAX;
    out->batch = xcalloc(nh + 1, sizeof(*out->batch));
    out->order = xcalloc(nh + 1, sizeof(*out->order));
    for (size_t h = 0; h < nh; h++) {
        out->batch[h] = out->order[h] = -1;
        if (str_eq(in->pool->hosts[h].ref, in->pool->master_ref))
            master = h;
    }
    struct batcher b = {&s, out, xcalloc(nh + 1, sizeof(size_t)), 0, 0, 0, 0, false, false};
    int cap = in->o ? in->o->max_parallel_hosts : 0;
    b.cap = cap > 0 ? (size_t)cap : 0;
    b.minimal = in->o && in->o->policy == PLAN_POLICY_MINIMAL;

    /* the supporters to evacuate */
    size_t *E = xcalloc(nh + 1, sizeof(*E)), ne = 0;
    int64_t max_load = 0, max_safe_free = 0;
    for (size_t h = 0; h < nh; h++) {
        if (h != master && in->update[h] && in->evac[h]) {
            E[ne++] = h;
            max_load = s.load[h] > max_load ? s.load[h] : max_load;
        }
        if (s.cls[h] == H_SAFE && s.free[h] > max_safe_free)
            max_safe_free = s.free[h];
    }
    bool master_evac = master != SIZE_MAX && in->update[master] && in->evac[master];
    if (master_evac && s.load[master] > max_load)
        max_load = s.load[master];
    /* minimal: VMs may be parked on hosts still to be rebooted (each VM at most once) only when
     * no host that stays up has one host's worth of free memory */
    b.park = !b.minimal || max_safe_free < max_load;
    s.limit_parks = b.park;
    size_t k = capacity_k(&s, E, ne);
    if (b.cap > 0 && k > b.cap)
        k = b.cap;

    /* the master first and alone: evacuated (its VMs may be parked), updated, rebooted */
    if (master != SIZE_MAX && in->update[master]) {
        struct tent t;
        tent_init(&t, &s);
        b.B[b.nb++] = master;
        s.down[master] = true;
        if (master_evac)
            place_host(&s, &t, master, true);
        close_batch(&b, &t);
        tent_free(&t);
    }
    inplace_batches(&b, master);
    evac_batches(&b, E, ne, k);
    out->n_batches = (size_t)b.batch;
    free(E);
    free(b.B);
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
