/* SPDX-License-Identifier: MIT */
/*
 * ops.c - the simulated behaviour of host, VM, VBD, pool and pool_update calls and the
 * scheduled state changes that complete them (reboots, toolstack restarts, live migrations,
 * evacuations, applies, uploads, power operations, new masters).  Error codes and parameters
 * follow ocaml/idl/datamodel_errors.ml; behaviour follows ocaml/xapi/xapi_host.ml,
 * xapi_vm_migrate.ml, xapi_pool_update.ml and xapi_pool.ml of xapi-project/xen-api as summarised
 * in docs/reference/xapi.md.  Runs under sim->mu.
 */
#include "sim/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"

/* ---- helpers ---- */

static void i64s(char *out, size_t n, int64_t v)
{
    snprintf(out, n, "%lld", (long long)v);
}

/* xapi writes boot_time / agent_start_time as OCaml floats of epoch seconds ("1767225600."). */
static void epoch_float(char *out, size_t n, int64_t t_ms)
{
    snprintf(out, n, "%lld.", (long long)(t_ms / 1000));
}

/* Compare dotted versions numerically ("3.10.0" > "3.2.1"); missing parts count as 0. */
int sim_version_cmp(const char *a, const char *b)
{
    while (*a || *b) {
        char *ea, *eb;
        unsigned long x = strtoul(a, &ea, 10), y = strtoul(b, &eb, 10);
        if (x != y)
            return x < y ? -1 : 1;
        a = *ea == '.' ? ea + 1 : ea;
        b = *eb == '.' ? eb + 1 : eb;
        if (ea == a && eb == b && (*a || *b)) /* non-numeric tails: compare as text */
            return strcmp(a, b);
    }
    return 0;
}

/* Helpers.Checks.Migration.host_versions_not_decreasing: platform_version, xapi_build, xen. */
static bool migration_versions_ok(struct obj *src, struct obj *dst)
{
    static const char *const keys[] = {"platform_version", "xapi_build", "xen"};
    const struct xapi_value *a = sim_fget(src, "software_version");
    const struct xapi_value *b = sim_fget(dst, "software_version");
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (sim_version_cmp(xapi_struct_str(b, keys[i], "0"), xapi_struct_str(a, keys[i], "0")) < 0)
            return false;
    }
    return true;
}

/* During a rolling upgrade VMs start only on the newest hosts (xapi_vm_helpers.ml
 * vm_can_run_on_host): is h older than some host? */
static bool rpu_too_old(struct world *w, struct obj *h)
{
    return sim_rpu_active(w) && !sim_rpu_host_highest(w, h);
}

static bool host_live(struct obj *h)
{
    struct hostx *hx = sim_hx(h);
    return hx->metrics && sim_fbool(hx->metrics, "live");
}

/*
 * host.allowed_operations as xapi_host_helpers.ml computes them: a live host offers evacuate,
 * shutdown, reboot and apply_updates; placing VMs (provision, vm_start, vm_resume, vm_migrate)
 * needs it enabled, and a disabled one offers enable; an operation in progress blocks the others;
 * a dead host offers power_on.
 */
void sim_host_refresh_ops(struct world *w, struct obj *h)
{
    struct xapi_value *a = xapi_value_new_array();
    const struct xapi_value *co = sim_fget(h, "current_operations");
    bool busy = co && co->type == XAPI_STRUCT && co->u.st.n > 0;
    if (!host_live(h)) {
        xapi_array_append_string(a, "power_on");
    } else if (!busy) {
        static const char *const ops[] = {"evacuate", "shutdown", "reboot", "apply_updates"};
        static const char *const placing[] = {"provision", "vm_start", "vm_resume", "vm_migrate"};
        bool on = sim_fbool(h, "enabled");
        for (size_t i = 0; on && i < sizeof(placing) / sizeof(placing[0]); i++)
            xapi_array_append_string(a, placing[i]);
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
            xapi_array_append_string(a, ops[i]);
        if (!on)
            xapi_array_append_string(a, "enable");
    }
    if (sim_rpu_active(w)) {
        /* xapi_host_helpers.ml (CA-18377): during a rolling upgrade only the operations
         * every release knows (host_operations_miami: evacuate, provision) are offered */
        struct xapi_value *k = xapi_value_new_array();
        for (size_t i = 0; i < xapi_array_len(a); i++) {
            const char *op = xapi_value_str(xapi_array_get(a, i));
            if (!strcmp(op, "evacuate") || !strcmp(op, "provision"))
                xapi_array_append_string(k, op);
        }
        xapi_value_free(a);
        a = k;
    }
    sim_fset(w, h, "allowed_operations", a);
}

/* Repository_helpers.assert_no_host_pending_mandatory_guidance (xapi): host.enable and
 * host.apply_updates refuse while the host's own mandatory guidance is pending. */
bool sim_host_guidance_pending(struct ctx *c, struct obj *h)
{
    if (sim_fset_has(h, "pending_guidances", "reboot_host") ||
        sim_fset_has(h, "pending_guidances", "restart_toolstack")) {
        sim_rerr(c, "HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY", 1, h->ref);
        return true;
    }
    return false;
}

void sim_vm_refresh_ops(struct world *w, struct obj *vm)
{
    static const char *const running[] = {"clean_shutdown", "hard_shutdown", "clean_reboot",
                                          "hard_reboot",    "suspend",       "pool_migrate",
                                          "migrate_send",   "snapshot",      "checkpoint"};
    static const char *const halted[] = {"start",  "start_on", "clone",   "copy",
                                         "export", "destroy",  "snapshot"};
    static const char *const suspended[] = {"resume", "resume_on", "hard_shutdown", "snapshot"};
    const char *ps = sim_fstr(vm, "power_state");
    const char *const *ops = halted;
    size_t n = sizeof(halted) / sizeof(halted[0]);
    if (strcmp(ps, "Running") == 0) {
        ops = running;
        n = sizeof(running) / sizeof(running[0]);
    } else if (strcmp(ps, "Suspended") == 0) {
        ops = suspended;
        n = sizeof(suspended) / sizeof(suspended[0]);
    }
    struct xapi_value *a = xapi_value_new_array();
    const struct xapi_value *co = sim_fget(vm, "current_operations");
    if (!sim_fbool(vm, "is_control_domain") &&
        (!co || co->type != XAPI_STRUCT || co->u.st.n == 0)) {
        bool rpu = sim_rpu_active(w);
        for (size_t i = 0; i < n; i++) {
            if (!rpu || sim_rpu_vm_op_allowed(ops[i]))
                xapi_array_append_string(a, ops[i]);
        }
    }
    sim_fset(w, vm, "allowed_operations", a);
}

static const char *lower_state(const char *ps)
{
    if (!strcmp(ps, "Running"))
        return "running";
    if (!strcmp(ps, "Halted"))
        return "halted";
    if (!strcmp(ps, "Suspended"))
        return "suspended";
    if (!strcmp(ps, "Paused"))
        return "paused";
    return ps;
}

static struct obj *ref_field(struct world *w, struct obj *o, const char *f, enum cls cl)
{
    return sim_obj_get_cls(w, sim_fstr(o, f), cl);
}

#define MAX_VM_SRS 8

/* The distinct SRs a VM's non-empty VBDs use (at most max). */
static size_t vm_srs(struct world *w, struct obj *vm, struct obj **srs, size_t max)
{
    size_t n = 0;
    const struct xapi_value *vbds = sim_fget(vm, "VBDs");
    for (size_t i = 0; i < xapi_array_len(vbds); i++) {
        struct obj *vbd = sim_obj_get_cls(w, xapi_value_str(xapi_array_get(vbds, i)), CL_VBD);
        if (!vbd || sim_fbool(vbd, "empty"))
            continue;
        struct obj *vdi = ref_field(w, vbd, "VDI", CL_VDI);
        struct obj *sr = vdi ? ref_field(w, vdi, "SR", CL_SR) : NULL;
        bool dup = false;
        for (size_t k = 0; k < n && sr; k++)
            dup = dup || srs[k] == sr;
        if (sr && !dup && n < max)
            srs[n++] = sr;
    }
    return n;
}

/* Does host have an attached PBD for sr?  Looks from the host's side (a few PBDs). */
static bool host_sees_sr(struct world *w, struct obj *host, struct obj *sr)
{
    const struct xapi_value *pbds = sim_fget(host, "PBDs");
    for (size_t k = 0; k < xapi_array_len(pbds); k++) {
        struct obj *pbd = sim_obj_get_cls(w, xapi_value_str(xapi_array_get(pbds, k)), CL_PBD);
        if (pbd && strcmp(sim_fstr(pbd, "SR"), sr->ref) == 0 &&
            sim_fbool(pbd, "currently_attached"))
            return true;
    }
    return false;
}

/* The first SR a VM needs that host cannot see (not shared, or no attached PBD there). */
static struct obj *vm_missing_sr(struct world *w, struct obj *vm, struct obj *host)
{
    struct obj *srs[MAX_VM_SRS];
    size_t n = vm_srs(w, vm, srs, MAX_VM_SRS);
    for (size_t i = 0; i < n; i++) {
        if (!host_sees_sr(w, host, srs[i]))
            return srs[i];
    }
    return NULL;
}

/* A host's PBDs detach when it goes down and plug again when it boots. */
static void host_pbds_attached(struct world *w, struct obj *h, bool on)
{
    const struct xapi_value *pbds = sim_fget(h, "PBDs");
    for (size_t k = 0; k < xapi_array_len(pbds); k++) {
        struct obj *pbd = sim_obj_get_cls(w, xapi_value_str(xapi_array_get(pbds, k)), CL_PBD);
        if (pbd)
            sim_fset_bool(w, pbd, "currently_attached", on);
    }
}

static bool vm_has_pci(struct obj *vm)
{
    const char *p = sim_fmap_get(vm, "other_config", "pci");
    return p && *p;
}

static void vm_set_current_op(struct world *w, struct obj *vm, const char *task, const char *op)
{
    if (op)
        sim_fmap_put(w, vm, "current_operations", task, op);
    else
        sim_fmap_del(w, vm, "current_operations", task);
    sim_vm_refresh_ops(w, vm);
}

static bool vm_busy(struct ctx *c, struct obj *vm)
{
    const struct xapi_value *co = sim_fget(vm, "current_operations");
    if (co && co->type == XAPI_STRUCT && co->u.st.n > 0) {
        sim_rerr(c, "OTHER_OPERATION_IN_PROGRESS", 4, "VM", vm->ref,
                 xapi_value_str(co->u.st.vals[0]), co->u.st.keys[0]);
        return true;
    }
    return false;
}

static bool vm_blocked(struct ctx *c, struct obj *vm, const char *op)
{
    const char *why = sim_fmap_get(vm, "blocked_operations", op);
    if (why) {
        sim_rerr(c, "OPERATION_BLOCKED", 2, vm->ref, why);
        return true;
    }
    return false;
}

static void resident_add(struct world *w, struct obj *vm, struct obj *host)
{
    sim_fset_str(w, vm, "resident_on", host ? host->ref : XAPI_NULL_REF);
    if (host)
        sim_fset_add(w, host, "resident_VMs", vm->ref);
}

static void resident_remove(struct world *w, struct obj *vm)
{
    struct obj *h = ref_field(w, vm, "resident_on", CL_HOST);
    if (h)
        sim_fset_del(w, h, "resident_VMs", vm->ref);
    sim_fset_str(w, vm, "resident_on", XAPI_NULL_REF);
}

/* Reserve a migration slot on src and dst: returns the end time of a transfer of bytes. */
static int64_t migration_window(struct ctx *c, struct obj *src, struct obj *dst, int64_t bytes)
{
    struct sim *s = c->s;
    int64_t now = sim_now(s);
    int64_t d = s->tm.migrate_overhead_ms +
                (int64_t)((double)bytes * 1000.0 / (s->tm.migrate_bps > 0 ? s->tm.migrate_bps : 1));
    if (c->instant)
        return now;
    int k = s->tm.parallel_migrations;
    if (k < 1)
        k = 1;
    if (k > MAX_SLOTS)
        k = MAX_SLOTS;
    struct hostx *a = src ? sim_hx(src) : NULL, *b = sim_hx(dst);
    int ia = 0, ib = 0;
    for (int i = 1; i < k; i++) {
        if (a && a->slot_free[i] < a->slot_free[ia])
            ia = i;
        if (b->slot_free[i] < b->slot_free[ib])
            ib = i;
    }
    int64_t start = now;
    if (a && a->slot_free[ia] > start)
        start = a->slot_free[ia];
    if (b->slot_free[ib] > start) { /* the destination's streams are all busy: it queues */
        start = b->slot_free[ib];
        s->n_migrations_dst_wait++;
    }
    int64_t end = start + d;
    if (a)
        a->slot_free[ia] = end;
    b->slot_free[ib] = end;
    return end;
}

/* Progress of a migration task in steps (xapi reports the memory copy's progress), between
 * the start and the end of its transfer. */
static void sched_progress(struct ctx *c, struct obj *task, int64_t end, int64_t bytes)
{
    int64_t d =
        c->s->tm.migrate_overhead_ms +
        (int64_t)((double)bytes * 1000.0 / (c->s->tm.migrate_bps > 0 ? c->s->tm.migrate_bps : 1));
    if (c->instant || d <= 0)
        return;
    for (int k = 1; k <= 3; k++)
        sim_sched(c->s, c->w, end - d + d * k / 4, ACT_TASK_PROGRESS, task->ref, NULL, NULL,
                  250 * k, 0);
}

/* Start moving vm to dst under task (flag 1: one VM of an evacuation). */
static void migration_start(struct ctx *c, struct obj *task, struct obj *vm, struct obj *src,
                            struct obj *dst, int64_t need, int flag)
{
    int64_t bytes = sim_fint(vm, "memory_dynamic_max");
    int64_t end = migration_window(c, src, dst, bytes);
    sim_hx(dst)->reserved += need;
    vm_set_current_op(c->w, vm, task->ref, "pool_migrate");
    /* xapi reserves the destination through scheduled_to_be_resident_on (xapi_vm_helpers.ml) */
    sim_fset_str(c->w, vm, "scheduled_to_be_resident_on", dst->ref);
    sched_progress(c, task, end, bytes);
    sim_sched(c->s, c->w, end, ACT_MIGRATE_DONE, task->ref, vm->ref, dst->ref, need, flag);
}

static struct obj *arg_host_live(struct ctx *c, size_t i)
{
    struct obj *h = sim_arg_obj(c, i, CL_HOST);
    if (h && !host_live(h)) {
        sim_rerr(c, "HOST_OFFLINE", 1, h->ref);
        return NULL;
    }
    return h;
}

/* ---- evacuation planning (xapi_host.ml compute_evacuation_plan: largest VM first, to the
 * host with the most free memory) ---- */

struct plan_item {
    struct obj *srs[MAX_VM_SRS];
    size_t nsrs;
    struct obj *vm;
    struct obj *dst;
    int64_t need;
    struct xapi_value *error; /* [CODE, params...] when the VM cannot move */
};

static int cmp_plan(const void *a, const void *b)
{
    const struct plan_item *x = a, *y = b;
    if (x->need != y->need)
        return x->need > y->need ? -1 : 1;
    return strcmp(sim_fstr(x->vm, "name_label"), sim_fstr(y->vm, "name_label"));
}

static struct xapi_value *errv(const char *code, size_t n, const char *p1, const char *p2)
{
    struct xapi_value *e = xapi_value_new_array();
    xapi_array_append_string(e, code);
    if (n > 0)
        xapi_array_append_string(e, p1);
    if (n > 1)
        xapi_array_append_string(e, p2);
    return e;
}

static size_t evac_plan(struct world *w, struct obj *h, struct plan_item **out)
{
    const struct xapi_value *rv = sim_fget(h, "resident_VMs");
    size_t n = 0, cap = xapi_array_len(rv);
    struct plan_item *items = xcalloc(cap ? cap : 1, sizeof(*items));
    for (size_t i = 0; i < cap; i++) {
        struct obj *vm = sim_obj_get_cls(w, xapi_value_str(xapi_array_get(rv, i)), CL_VM);
        if (!vm || sim_fbool(vm, "is_control_domain"))
            continue;
        items[n].vm = vm;
        items[n].need = sim_vm_footprint(vm);
        n++;
    }
    qsort(items, n, sizeof(*items), cmp_plan);
    /* The distinct SRs the VMs need, and which of them each target sees (a bit mask), so
     * the VM x target loop below does no look-ups. */
    struct obj *need[64];
    size_t nneed = 0;
    for (size_t i = 0; i < n; i++) {
        items[i].nsrs = vm_srs(w, items[i].vm, items[i].srs, MAX_VM_SRS);
        for (size_t k = 0; k < items[i].nsrs; k++) {
            bool dup = false;
            for (size_t j = 0; j < nneed; j++)
                dup = dup || need[j] == items[i].srs[k];
            if (!dup && nneed < 64)
                need[nneed++] = items[i].srs[k];
        }
    }
    size_t nt = 0;
    struct obj **targets = xcalloc(w->ccount[CL_HOST] + 1, sizeof(*targets));
    int64_t *free_mem = xcalloc(w->ccount[CL_HOST] + 1, sizeof(*free_mem));
    uint64_t *sees = xcalloc(w->ccount[CL_HOST] + 1, sizeof(*sees));
    for (struct obj *t = w->chead[CL_HOST]; t; t = t->cnext) {
        if (t == h || !host_live(t) || !sim_fbool(t, "enabled") || !sim_hx(t)->up ||
            !migration_versions_ok(h, t))
            continue;
        targets[nt] = t;
        free_mem[nt] = sim_host_free_memory(w, t);
        for (size_t j = 0; j < nneed; j++) {
            if (host_sees_sr(w, t, need[j]))
                sees[nt] |= 1ULL << j;
        }
        nt++;
    }
    for (size_t i = 0; i < n; i++) {
        struct plan_item *it = &items[i];
        if (vm_has_pci(it->vm)) {
            it->error = errv("VM_HAS_PCI_ATTACHED", 1, it->vm->ref, NULL);
            continue;
        }
        if (nt == 0) {
            it->error = errv("NO_HOSTS_AVAILABLE", 1, it->vm->ref, NULL);
            continue;
        }
        int best = -1;
        struct obj *missing = NULL;
        uint64_t mask = 0;
        for (size_t s = 0; s < it->nsrs; s++) {
            for (size_t j = 0; j < nneed; j++) {
                if (need[j] == it->srs[s])
                    mask |= 1ULL << j;
            }
        }
        for (size_t k = 0; k < nt; k++) {
            if ((mask & ~sees[k]) != 0) {
                for (size_t s = 0; s < it->nsrs && !missing; s++) {
                    for (size_t j = 0; j < nneed; j++) {
                        if (need[j] == it->srs[s] && !(sees[k] & (1ULL << j)))
                            missing = it->srs[s];
                    }
                }
                continue;
            }
            if (free_mem[k] >= it->need && (best < 0 || free_mem[k] > free_mem[best]))
                best = (int)k;
        }
        if (best < 0) {
            if (missing) {
                it->error = errv("VM_REQUIRES_SR", 2, it->vm->ref, missing->ref);
            } else {
                int64_t mx = 0;
                for (size_t k = 0; k < nt; k++)
                    mx = free_mem[k] > mx ? free_mem[k] : mx;
                char a[32], b[32];
                i64s(a, sizeof(a), it->need);
                i64s(b, sizeof(b), mx);
                it->error = errv("HOST_NOT_ENOUGH_FREE_MEMORY", 2, a, b);
            }
            continue;
        }
        it->dst = targets[best];
        free_mem[best] -= it->need;
    }
    free(targets);
    free(free_mem);
    free(sees);
    *out = items;
    return n;
}

static void plan_free(struct plan_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xapi_value_free(items[i].error);
    free(items);
}

/* ---- host calls ---- */

static int h_host_disable(struct ctx *c)
{
    struct obj *h = sim_arg_obj(c, 1, CL_HOST);
    if (!h)
        return R_DONE;
    sim_fset_bool(c->w, h, "enabled", false);
    sim_host_refresh_ops(c->w, h);
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

static int h_host_enable(struct ctx *c)
{
    struct obj *h = arg_host_live(c, 1);
    if (!h || (!sim_fbool(h, "enabled") && sim_host_guidance_pending(c, h)))
        return R_DONE;
    sim_fset_bool(c->w, h, "enabled", true);
    sim_host_refresh_ops(c->w, h);
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

static int h_host_compute_free_memory(struct ctx *c)
{
    struct obj *h = sim_arg_obj(c, 1, CL_HOST);
    if (h)
        sim_rok(c, xapi_value_new_int(sim_host_free_memory(c->w, h)));
    return R_DONE;
}

static int h_host_vms_preventing(struct ctx *c)
{
    struct obj *h = sim_arg_obj(c, 1, CL_HOST);
    if (!h)
        return R_DONE;
    struct plan_item *items;
    size_t n = evac_plan(c->w, h, &items);
    struct xapi_value *m = xapi_value_new_struct();
    for (size_t i = 0; i < n; i++) {
        if (items[i].error)
            xapi_struct_set_take(m, items[i].vm->ref, xapi_value_dup(items[i].error));
    }
    plan_free(items, n);
    sim_rok(c, m);
    return R_DONE;
}

static int h_host_assert_can_evacuate(struct ctx *c)
{
    struct obj *h = sim_arg_obj(c, 1, CL_HOST);
    if (!h)
        return R_DONE;
    struct plan_item *items;
    size_t n = evac_plan(c->w, h, &items);
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        const struct xapi_value *e = items[i].error;
        if (!e)
            continue;
        if (b.len)
            buf_putc(&b, '|');
        for (size_t k = 0; k < xapi_array_len(e); k++) {
            if (k)
                buf_putc(&b, ',');
            buf_puts(&b, xapi_value_str(xapi_array_get(e, k)));
        }
    }
    plan_free(items, n);
    if (b.len)
        sim_rerr(c, "CANNOT_EVACUATE_HOST", 1, buf_str(&b));
    else
        sim_rok(c, xapi_value_new_void());
    buf_cleanup(&b);
    return R_DONE;
}

static int h_host_evacuate(struct ctx *c)
{
    struct obj *h = sim_arg_obj(c, 1, CL_HOST);
    if (!h)
        return R_DONE;
    const struct xapi_value *co = sim_fget(h, "current_operations");
    if (co && co->type == XAPI_STRUCT && co->u.st.n > 0) {
        sim_rerr(c, "OTHER_OPERATION_IN_PROGRESS", 4, "host", h->ref,
                 xapi_value_str(co->u.st.vals[0]), co->u.st.keys[0]);
        return R_DONE;
    }
    struct plan_item *items;
    size_t n = evac_plan(c->w, h, &items);
    for (size_t i = 0; i < n; i++) {
        if (items[i].error) {
            xapi_response_cleanup(c->r);
            c->r->ok = false;
            c->r->error = xapi_value_dup(items[i].error);
            plan_free(items, n);
            return R_DONE;
        }
    }
    /* xapi_host.ml evacuate: one Async.VM.pool_migrate subtask per VM; the evacuation's
     * progress is the share of them done; it ends when the last one has. */
    for (size_t i = 0; i < n; i++) {
        struct obj *sub = sim_subtask_new(c->w, c->task, "Async.VM.pool_migrate");
        migration_start(c, sub, items[i].vm, h, items[i].dst, items[i].need, 1);
    }
    plan_free(items, n);
    sim_fmap_put(c->w, h, "current_operations", c->task->ref, "evacuate");
    sim_host_refresh_ops(c->w, h);
    if (n == 0)
        sim_sched(c->s, c->w, sim_now(c->s), ACT_EVACUATE_DONE, c->task->ref, h->ref, NULL, 0, 0);
    return R_PENDING;
}

/* Take a host down: reboot (domain restarts, VMs stop) or toolstack restart (xapi only). */
void sim_host_down(struct sim *s, struct world *w, struct obj *h, int kind)
{
    struct hostx *hx = sim_hx(h);
    int64_t now = sim_now(s);
    hx->up = false;
    if (sim_host_is_master(w, h)) {
        /* xapi's sessions do not survive the coordinator's restart. */
        sim_sessions_clear(w);
        sim_hmap_cleanup(&w->sessions);
        sim_hmap_init(&w->sessions);
    }
    if (sim_host_is_master(w, h)) {
        /* Supporters lose their coordinator: a while later their xapi restarts into emergency
         * mode (master_connection.ml restarts on a connection timeout). */
        sim_sched(s, w, now + s->tm.emergency_after_ms, ACT_EMERGENCY, NULL, NULL, NULL, 0, 0);
    }
    if (kind == DOWN_TOOLSTACK) {
        sim_sched(s, w, now + s->tm.toolstack_ms, ACT_AGENT_STARTED, NULL, NULL, NULL,
                  (int64_t)hx->index, 0);
        return;
    }
    sim_fset_bool(w, hx->metrics, "live", false);
    host_pbds_attached(w, h, false);
    sim_host_refresh_ops(w, h);
    /* Guests still resident are stopped by the reboot. */
    const struct xapi_value *rv = sim_fget(h, "resident_VMs");
    for (size_t i = xapi_array_len(rv); i > 0; i--) {
        struct obj *vm = sim_obj_get_cls(w, xapi_value_str(xapi_array_get(rv, i - 1)), CL_VM);
        if (!vm || sim_fbool(vm, "is_control_domain"))
            continue;
        resident_remove(w, vm);
        sim_fset_str(w, vm, "power_state", "Halted");
        sim_vm_refresh_ops(w, vm);
        rv = sim_fget(h, "resident_VMs");
    }
    int64_t away = sim_upgrade_on_down(s, w, h, s->tm.reboot_ms);
    if (away < 0 || sim_fault_take(s, w, "reboot_never_returns", h, NULL, NULL, NULL, NULL)) {
        /* stuck until the fault is cleared (sim_faults_cleared boots it then) */
        log_info("sim", "host %s will not come back (fault)", sim_fstr(h, "name_label"));
        hx->stuck = true;
        return;
    }
    sim_sched(s, w, now + away, ACT_HOST_BOOTED, NULL, NULL, NULL, (int64_t)hx->index, 0);
}

static void host_go_down(struct ctx *c, struct obj *h, int kind)
{
    if (sim_host_is_master(c->w, h))
        c->sess = NULL; /* freed with the coordinator's sessions */
    sim_host_down(c->s, c->w, h, kind);
}

static int h_host_reboot(struct ctx *c)
{
    struct obj *h = sim_arg_obj(c, 1, CL_HOST);
    if (!h)
        return R_DONE;
    if (sim_fbool(h, "enabled")) {
        sim_rerr(c, "HOST_NOT_DISABLED", 0);
        return R_DONE;
    }
    sim_rok(c, xapi_value_new_void());
    host_go_down(c, h, DOWN_REBOOT);
    return R_DONE;
}

static int h_host_restart_agent(struct ctx *c)
{
    struct obj *h = arg_host_live(c, 1);
    if (!h)
        return R_DONE;
    sim_rok(c, xapi_value_new_void());
    host_go_down(c, h, DOWN_TOOLSTACK);
    return R_DONE;
}

static int h_host_destroy(struct ctx *c)
{
    struct obj *h = sim_arg_obj(c, 1, CL_HOST);
    if (!h)
        return R_DONE;
    if (host_live(h)) {
        sim_rerr(c, "HOST_IS_LIVE", 1, h->ref);
        return R_DONE;
    }
    if (sim_fbool(c->w->pool, "ha_enabled")) {
        sim_rerr(c, "HA_IS_ENABLED", 0);
        return R_DONE;
    }
    const struct xapi_value *rv = sim_fget(h, "resident_VMs");
    for (size_t i = 0; i < xapi_array_len(rv); i++) {
        struct obj *vm = sim_obj_get_cls(c->w, xapi_value_str(xapi_array_get(rv, i)), CL_VM);
        if (vm && !sim_fbool(vm, "is_control_domain")) {
            sim_rerr(c, "HOST_HAS_RESIDENT_VMS", 1, h->ref);
            return R_DONE;
        }
    }
    struct hostx *hx = sim_hx(h);
    sim_hmap_del(&c->s->addrs, hx->address);
    for (struct obj *p = c->w->chead[CL_PBD]; p;) {
        struct obj *next = p->cnext;
        if (strcmp(sim_fstr(p, "host"), h->ref) == 0) {
            struct obj *sr = ref_field(c->w, p, "SR", CL_SR);
            if (sr)
                sim_fset_del(c->w, sr, "PBDs", p->ref);
            sim_obj_destroy(c->w, p);
        }
        p = next;
    }
    if (hx->dom0) {
        sim_obj_destroy(c->w, hx->dom0);
        hx->dom0 = NULL;
    }
    sim_obj_destroy(c->w, hx->metrics);
    hx->metrics = NULL;
    sim_obj_destroy(c->w, h);
    sim_rpu_detect(c->w); /* the forgotten host may have been the last one on another version */
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

/* ---- VM calls ---- */

static bool check_power(struct ctx *c, struct obj *vm, const char *want)
{
    const char *ps = sim_fstr(vm, "power_state");
    if (strcmp(ps, want) != 0) {
        char lw[32];
        str_lcpy(lw, lower_state(want), sizeof(lw));
        sim_rerr(c, "VM_BAD_POWER_STATE", 3, vm->ref, lw, lower_state(ps));
        return false;
    }
    return true;
}

/* Can vm run on host now?  Sets the xapi error and returns false when not. */
static bool can_boot_here(struct ctx *c, struct obj *vm, struct obj *host, bool migrating)
{
    if (!host_live(host) || !sim_hx(host)->up) {
        sim_rerr(c, "HOST_OFFLINE", 1, host->ref);
        return false;
    }
    if (!sim_fbool(host, "enabled")) {
        sim_rerr(c, "HOST_DISABLED", 1, host->ref);
        return false;
    }
    struct obj *sr = vm_missing_sr(c->w, vm, host);
    if (sr) {
        sim_rerr(c, "VM_REQUIRES_SR", 2, vm->ref, sr->ref);
        return false;
    }
    if (migrating && vm_has_pci(vm)) {
        sim_rerr(c, "VM_HAS_PCI_ATTACHED", 1, vm->ref);
        return false;
    }
    int64_t need = sim_vm_footprint(vm), avail = sim_host_free_memory(c->w, host);
    if (need > avail) {
        char a[32], b[32];
        i64s(a, sizeof(a), need);
        i64s(b, sizeof(b), avail);
        sim_rerr(c, "HOST_NOT_ENOUGH_FREE_MEMORY", 2, a, b);
        return false;
    }
    return true;
}

static int h_vm_pool_migrate(struct ctx *c)
{
    struct obj *vm = sim_arg_obj(c, 1, CL_VM);
    if (!vm)
        return R_DONE;
    struct obj *dst = sim_arg_obj(c, 2, CL_HOST);
    if (!dst)
        return R_DONE;
    if (sim_fbool(vm, "is_control_domain")) {
        sim_rerr(c, "OPERATION_NOT_ALLOWED", 1, "Cannot migrate a control domain");
        return R_DONE;
    }
    if (!check_power(c, vm, "Running") || vm_busy(c, vm) || vm_blocked(c, vm, "pool_migrate"))
        return R_DONE;
    struct obj *src = ref_field(c->w, vm, "resident_on", CL_HOST);
    if (src == dst) {
        sim_rok(c, xapi_value_new_void());
        return R_DONE;
    }
    /* message_forwarding.ml VM.pool_migrate: during a rolling upgrade never onto a host whose
     * platform_version, xapi_build or xen is lower (Helpers.Checks.Migration) */
    if (src && sim_rpu_active(c->w) && !migration_versions_ok(src, dst)) {
        sim_rerr(c, "NOT_SUPPORTED_DURING_UPGRADE", 0);
        return R_DONE;
    }
    if (!can_boot_here(c, vm, dst, true))
        return R_DONE;
    migration_start(c, c->task, vm, src, dst, sim_vm_footprint(vm), 0);
    return R_PENDING;
}

static struct obj *pick_start_host(struct ctx *c, struct obj *vm)
{
    struct obj *aff = ref_field(c->w, vm, "affinity", CL_HOST);
    if (aff && host_live(aff) && sim_hx(aff)->up && sim_fbool(aff, "enabled") &&
        !rpu_too_old(c->w, aff) && !vm_missing_sr(c->w, vm, aff) &&
        sim_host_free_memory(c->w, aff) >= sim_vm_footprint(vm))
        return aff;
    struct obj *best = NULL;
    int64_t bestfree = -1;
    for (struct obj *h = c->w->chead[CL_HOST]; h; h = h->cnext) {
        if (!host_live(h) || !sim_hx(h)->up || !sim_fbool(h, "enabled") ||
            vm_missing_sr(c->w, vm, h) || rpu_too_old(c->w, h))
            continue;
        int64_t f = sim_host_free_memory(c->w, h);
        if (f >= sim_vm_footprint(vm) && f > bestfree) {
            best = h;
            bestfree = f;
        }
    }
    return best;
}

static int vm_power(struct ctx *c, const char *want, const char *op, int target)
{
    struct obj *vm = sim_arg_obj(c, 1, CL_VM);
    if (!vm)
        return R_DONE;
    if (sim_fbool(vm, "is_control_domain")) {
        sim_rerr(c, "OPERATION_NOT_ALLOWED", 1,
                 "This operation is not allowed on a control domain");
        return R_DONE;
    }
    if (want && !check_power(c, vm, want))
        return R_DONE;
    if (!want && strcmp(sim_fstr(vm, "power_state"), "Halted") == 0) {
        /* xapi_vm_lifecycle.ml lists every state the operation allows */
        sim_rerr(c, "VM_BAD_POWER_STATE", 3, vm->ref, "paused, suspended, running", "halted");
        return R_DONE;
    }
    if (vm_busy(c, vm) || vm_blocked(c, vm, op))
        return R_DONE;
    struct obj *host = NULL;
    int64_t d = c->s->tm.vm_shutdown_ms;
    if (target == 1) {
        host = pick_start_host(c, vm);
        if (!host) {
            sim_rerr(c, "NO_HOSTS_AVAILABLE", 0);
            return R_DONE;
        }
        sim_hx(host)->reserved += sim_vm_footprint(vm);
        d = c->s->tm.vm_start_ms;
    }
    vm_set_current_op(c->w, vm, c->task->ref, op);
    sim_sched(c->s, c->w, sim_now(c->s) + sim_dur(c, d), ACT_VM_POWER_DONE, c->task->ref, vm->ref,
              host ? host->ref : NULL, target, 0);
    return R_PENDING;
}

/* VM.start_on / VM.resume_on (s, vm, host, start_paused, force): on the host given. */
static int vm_power_on(struct ctx *c, const char *want, const char *op)
{
    struct obj *vm = sim_arg_obj(c, 1, CL_VM);
    struct obj *host = vm ? sim_arg_obj(c, 2, CL_HOST) : NULL;
    if (!host)
        return R_DONE;
    if (rpu_too_old(c->w, host)) {
        /* message_forwarding.ml start_on / resume_on: assert_host_has_highest_version_in_pool */
        sim_rerr(c, "NOT_SUPPORTED_DURING_UPGRADE", 0);
        return R_DONE;
    }
    if (sim_fbool(vm, "is_control_domain")) {
        sim_rerr(c, "OPERATION_NOT_ALLOWED", 1,
                 "This operation is not allowed on a control domain");
        return R_DONE;
    }
    if (!check_power(c, vm, want) || vm_busy(c, vm) || vm_blocked(c, vm, op) ||
        !can_boot_here(c, vm, host, false))
        return R_DONE;
    sim_hx(host)->reserved += sim_vm_footprint(vm);
    vm_set_current_op(c->w, vm, c->task->ref, op);
    sim_sched(c->s, c->w, sim_now(c->s) + sim_dur(c, c->s->tm.vm_start_ms), ACT_VM_POWER_DONE,
              c->task->ref, vm->ref, host->ref, 1, 0);
    return R_PENDING;
}

static int h_vm_start_on(struct ctx *c)
{
    return vm_power_on(c, "Halted", "start_on");
}

static int h_vm_resume_on(struct ctx *c)
{
    return vm_power_on(c, "Suspended", "resume_on");
}

static int h_vm_start(struct ctx *c)
{
    return vm_power(c, "Halted", "start", 1);
}

static int h_vm_resume(struct ctx *c)
{
    return vm_power(c, "Suspended", "resume", 1);
}

static int h_vm_clean_shutdown(struct ctx *c)
{
    return vm_power(c, "Running", "clean_shutdown", 2);
}

static int h_vm_hard_shutdown(struct ctx *c)
{
    return vm_power(c, NULL, "hard_shutdown", 2);
}

static int h_vm_suspend(struct ctx *c)
{
    return vm_power(c, "Running", "suspend", 3);
}

static int h_vm_assert_can_boot_here(struct ctx *c)
{
    struct obj *vm = sim_arg_obj(c, 1, CL_VM);
    struct obj *h = vm ? sim_arg_obj(c, 2, CL_HOST) : NULL;
    if (vm && h && sim_rpu_active(c->w) && !sim_rpu_same_as_master(c->w, h)) {
        /* xapi_vm.ml assert_can_boot_here: assert_host_versions_are_same_on_master */
        sim_rerr(c, "VM_HOST_INCOMPATIBLE_VERSION", 2, h->ref, vm->ref);
        return R_DONE;
    }
    if (vm && h && can_boot_here(c, vm, h, false))
        sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

static int h_vm_assert_operation_valid(struct ctx *c)
{
    struct obj *vm = sim_arg_obj(c, 1, CL_VM);
    if (!vm)
        return R_DONE;
    const char *op = sim_arg_str(c, 2);
    if (vm_blocked(c, vm, op) || vm_busy(c, vm))
        return R_DONE;
    if (sim_rpu_active(c->w) && !sim_rpu_vm_op_allowed(op)) {
        /* xapi_vm_lifecycle.ml check_operation_error: rpu_allowed_vm_operations */
        sim_rerr(c, "NOT_SUPPORTED_DURING_UPGRADE", 0);
        return R_DONE;
    }
    if (!sim_fset_has(vm, "allowed_operations", op)) {
        const char *ps = sim_fstr(vm, "power_state");
        const char *want = "halted";
        if (!strcmp(op, "resume") || !strcmp(op, "resume_on"))
            want = "suspended";
        else if (strcmp(op, "start") && strcmp(op, "start_on") && strcmp(op, "clone") &&
                 strcmp(op, "copy") && strcmp(op, "export") && strcmp(op, "destroy"))
            want = "running";
        sim_rerr(c, "VM_BAD_POWER_STATE", 3, vm->ref, want, lower_state(ps));
        return R_DONE;
    }
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

/* ---- VBD ---- */

static int h_vbd_eject(struct ctx *c)
{
    struct obj *vbd = sim_arg_obj(c, 1, CL_VBD);
    if (!vbd)
        return R_DONE;
    if (strcmp(sim_fstr(vbd, "type"), "CD") != 0) {
        sim_rerr(c, "VBD_NOT_REMOVABLE_MEDIA", 1, vbd->ref);
        return R_DONE;
    }
    if (sim_fbool(vbd, "empty")) {
        sim_rerr(c, "VBD_IS_EMPTY", 1, vbd->ref);
        return R_DONE;
    }
    struct obj *vdi = ref_field(c->w, vbd, "VDI", CL_VDI);
    if (vdi)
        sim_fset_del(c->w, vdi, "VBDs", vbd->ref);
    sim_fset_str(c->w, vbd, "VDI", XAPI_NULL_REF);
    sim_fset_bool(c->w, vbd, "empty", true);
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

static int h_vbd_insert(struct ctx *c)
{
    struct obj *vbd = sim_arg_obj(c, 1, CL_VBD);
    struct obj *vdi = vbd ? sim_arg_obj(c, 2, CL_VDI) : NULL;
    if (!vdi)
        return R_DONE;
    if (strcmp(sim_fstr(vbd, "type"), "CD") != 0) {
        sim_rerr(c, "VBD_NOT_REMOVABLE_MEDIA", 1, vbd->ref);
        return R_DONE;
    }
    if (!sim_fbool(vbd, "empty")) {
        sim_rerr(c, "VBD_NOT_EMPTY", 1, vbd->ref);
        return R_DONE;
    }
    sim_fset_str(c->w, vbd, "VDI", vdi->ref);
    sim_fset_bool(c->w, vbd, "empty", false);
    sim_fset_add(c->w, vdi, "VBDs", vbd->ref);
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

/* ---- pool ---- */

static int h_pool_enable_ha(struct ctx *c)
{
    if (sim_rpu_active(c->w)) {
        /* xapi_pool.ml enable_ha: pool_has_different_host_platform_versions */
        sim_rerr(c, "NOT_SUPPORTED_DURING_UPGRADE", 0);
        return R_DONE;
    }
    if (sim_fbool(c->w->pool, "ha_enabled")) {
        sim_rerr(c, "HA_IS_ENABLED", 0);
        return R_DONE;
    }
    sim_fset_bool(c->w, c->w->pool, "ha_enabled", true);
    const struct xapi_value *srs = xapi_array_get(c->p, 1);
    struct xapi_value *sf = xapi_value_new_array();
    for (size_t i = 0; i < xapi_array_len(srs); i++)
        xapi_array_append_string(sf, xapi_value_str(xapi_array_get(srs, i)));
    sim_fset(c->w, c->w->pool, "ha_statefiles", sf);
    const struct xapi_value *cfg = xapi_array_get(c->p, 2);
    if (cfg && cfg->type == XAPI_STRUCT)
        sim_fset(c->w, c->w->pool, "ha_configuration", xapi_value_dup(cfg));
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

static int h_pool_disable_ha(struct ctx *c)
{
    if (!sim_fbool(c->w->pool, "ha_enabled")) {
        sim_rerr(c, "HA_NOT_ENABLED", 0);
        return R_DONE;
    }
    sim_fset_bool(c->w, c->w->pool, "ha_enabled", false);
    sim_fset(c->w, c->w->pool, "ha_statefiles", xapi_value_new_array());
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

static int h_pool_designate_new_master(struct ctx *c)
{
    struct obj *h = arg_host_live(c, 1);
    if (!h)
        return R_DONE;
    if (sim_fbool(c->w->pool, "ha_enabled")) {
        sim_rerr(c, "HA_IS_ENABLED", 0);
        return R_DONE;
    }
    if (h == c->w->master) {
        sim_rok(c, xapi_value_new_void());
        return R_DONE;
    }
    sim_sched(c->s, c->w, sim_now(c->s) + sim_dur(c, c->s->tm.designate_ms), ACT_NEW_MASTER,
              c->task->ref, h->ref, NULL, 0, 0);
    return R_PENDING;
}

static bool master_reachable(struct world *w)
{
    return w->master && sim_hx(w->master)->up && !(w->partitioned && w->cut == w->master);
}

/*
 * A supporter enters or leaves emergency mode.  Its xapi sends no heartbeats meanwhile; the
 * coordinator would mark it dead only host_assumed_dead_interval (10 min) after it last heard
 * from it (db_gc.ml check_host_liveness), which the simulated emergencies never last; a host the
 * coordinator saw reboot stays dead (live=false) until it has joined and sent its heartbeat.
 * Leaving emergency mode (reconnecting) makes it live.
 */
void sim_set_emergency(struct world *w, struct obj *h, bool on)
{
    struct hostx *hx = sim_hx(h);
    hx->emergency = on;
    if (!on && hx->up && hx->metrics && !sim_fbool(hx->metrics, "live")) {
        sim_fset_bool(w, hx->metrics, "live", true);
        sim_fset_dt(w, hx->metrics, "last_updated", sim_now(w->s));
        sim_host_refresh_ops(w, h);
    }
}

static void become_master(struct world *w, struct obj *h)
{
    w->master = h;
    sim_set_emergency(w, h, false);
    sim_fset_str(w, w->pool, "master", h->ref);
}

static int h_pool_emergency_transition_to_master(struct ctx *c)
{
    if (sim_fbool(c->w->pool, "ha_enabled")) {
        sim_rerr(c, "HA_IS_ENABLED", 0);
        return R_DONE;
    }
    if (!sim_host_is_master(c->w, c->host))
        become_master(c->w, c->host);
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

static int h_pool_emergency_reset_master(struct ctx *c)
{
    const char *addr = sim_arg_str(c, 1);
    struct hostx *hx = sim_hmap_get(&c->s->addrs, addr);
    if (!hx || !hx->o || hx->w != c->w) {
        sim_rerr(c, "HOST_IS_SLAVE", 1, addr);
        return R_DONE;
    }
    if (hx->o != c->w->master)
        become_master(c->w, hx->o);
    sim_set_emergency(c->w, c->host, false);
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

static int h_pool_recover_slaves(struct ctx *c)
{
    struct xapi_value *a = xapi_value_new_array();
    if (sim_fbool(c->w->pool, "ha_enabled")) {
        xapi_value_free(a);
        sim_rerr(c, "HA_IS_ENABLED", 0);
        return R_DONE;
    }
    for (struct obj *h = c->w->chead[CL_HOST]; h; h = h->cnext) {
        struct hostx *hx = sim_hx(h);
        if (h != c->w->master && hx->up && hx->emergency) {
            sim_set_emergency(c->w, h, false);
            xapi_array_append_string(a, h->ref);
        }
    }
    sim_rok(c, a);
    return R_DONE;
}

/* ---- pool_update ---- */

static struct xapi_value *guidance_set(const char *g)
{
    struct xapi_value *a = xapi_value_new_array();
    char buf[256];
    str_lcpy(buf, g, sizeof(buf));
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        xapi_array_append_string(a, t);
    return a;
}

struct obj *sim_update_create(struct world *w, const struct update_meta *m)
{
    struct obj *u = sim_obj_new_uuid(w, CL_POOL_UPDATE, m->uuid);
    struct updx *ux = xcalloc(1, sizeof(*ux));
    u->x = ux;
    ux->livepatch = m->livepatch;
    if (m->product_version[0] || m->build_number[0] || m->platform_version[0]) {
        ux->new_sw = xapi_value_new_struct();
        if (m->product_version[0])
            xapi_struct_set_string(ux->new_sw, "product_version", m->product_version);
        if (m->platform_version[0])
            xapi_struct_set_string(ux->new_sw, "platform_version", m->platform_version);
        if (m->build_number[0])
            xapi_struct_set_string(ux->new_sw, "build_number", m->build_number);
    }
    xapi_struct_set_string(u->rec, "name_label", m->name_label);
    xapi_struct_set_string(u->rec, "name_description", m->name_description);
    xapi_struct_set_string(u->rec, "version", m->version);
    xapi_struct_set_int(u->rec, "installation_size", m->installation_size);
    xapi_struct_set_string(u->rec, "key", "");
    xapi_struct_set_take(u->rec, "after_apply_guidance", guidance_set(m->guidance));
    sim_obj_touch(w, u);
    return u;
}

static int h_update_introduce(struct ctx *c)
{
    struct obj *vdi = sim_arg_obj(c, 1, CL_VDI);
    if (!vdi)
        return R_DONE;
    struct vdix *vx = vdi->x;
    struct update_meta m;
    struct err e;
    err_clear(&e);
    if (!vx || sim_update_xml_parse(vx->head, vx->head_len, &m, &e) != 0) {
        sim_rerr(c, "INVALID_UPDATE", 1, vx ? e.msg : "the VDI holds no update image");
        return R_DONE;
    }
    struct obj *old = sim_hmap_get(&c->w->uuids, m.uuid);
    if (old) {
        sim_rerr(c, "UPDATE_ALREADY_EXISTS", 1, m.uuid);
        return R_DONE;
    }
    struct obj *u = sim_update_create(c->w, &m);
    sim_fset_str(c->w, u, "vdi", vdi->ref);
    c->s->n_introduces++;
    sim_rok(c, xapi_value_new_string(u->ref));
    return R_DONE;
}

static bool precheck_errors(struct ctx *c, struct obj *u, struct obj *h)
{
    if (sim_fset_has(u, "hosts", h->ref)) {
        sim_rerr(c, "UPDATE_ALREADY_APPLIED", 1, u->ref);
        return true;
    }
    struct fault f;
    if (sim_fault_take(c->s, c->w, "precheck_fails", h, NULL, NULL, u, &f)) {
        const char *ps[6];
        size_t n = 0;
        for (size_t i = 0; f.params && i < json_array_size(f.params) && n < 6; i++) {
            const char *v = json_string_value(json_array_get(f.params, i));
            ps[n++] = v ? v : "";
        }
        xapi_response_cleanup(c->r);
        xapi_response_set_error(c->r, f.code[0] ? f.code : "UPDATE_PRECHECK_FAILED_UNKNOWN_ERROR",
                                ps, n);
        json_decref(f.params);
        return true;
    }
    return false;
}

static bool livepatch_ok(struct sim *s, struct world *w, struct obj *u, struct obj *h)
{
    struct updx *ux = u->x;
    /* With pool.live_patching_disabled xapi applies no live patch: precheck answers ok and the
     * update's restartHost guidance stands (xapi_pool_update.ml, livepatch status). */
    if (!ux || !ux->livepatch || sim_fbool(w->pool, "live_patching_disabled"))
        return false;
    if (ux->lp_hosts) {
        bool listed = false;
        for (size_t i = 0; i < xapi_array_len(ux->lp_hosts); i++)
            listed = listed || str_eq(xapi_value_str(xapi_array_get(ux->lp_hosts, i)), h->ref);
        if (!listed)
            return false;
    }
    return !sim_fault_peek(s, w, "livepatch_fails", h, NULL, NULL, u);
}

static int h_update_precheck(struct ctx *c)
{
    struct obj *u = sim_arg_obj(c, 1, CL_POOL_UPDATE);
    struct obj *h = u ? arg_host_live(c, 2) : NULL;
    if (!h)
        return R_DONE;
    if (precheck_errors(c, u, h))
        return R_DONE;
    sim_sched(c->s, c->w, sim_now(c->s) + sim_dur(c, c->s->tm.precheck_ms), ACT_TASK_DONE,
              c->task->ref, livepatch_ok(c->s, c->w, u, h) ? "ok_livepatch_complete" : "ok", NULL,
              0, 0);
    return R_PENDING;
}

static int h_update_apply(struct ctx *c)
{
    struct obj *u = sim_arg_obj(c, 1, CL_POOL_UPDATE);
    struct obj *h = u ? arg_host_live(c, 2) : NULL;
    if (!h)
        return R_DONE;
    if (sim_fset_has(u, "hosts", h->ref)) {
        sim_rerr(c, "UPDATE_ALREADY_APPLIED", 1, u->ref);
        return R_DONE;
    }
    sim_sched(c->s, c->w, sim_now(c->s) + sim_dur(c, c->s->tm.apply_ms), ACT_APPLY_DONE,
              c->task->ref, u->ref, h->ref, 0, 0);
    return R_PENDING;
}

static int h_update_pool_apply(struct ctx *c)
{
    struct obj *u = sim_arg_obj(c, 1, CL_POOL_UPDATE);
    if (!u)
        return R_DONE;
    int64_t t = sim_now(c->s);
    int todo = 0;
    /* Coordinator first, then the supporters, one at a time (xapi_pool_update.ml). */
    struct obj *order[2] = {c->w->master, NULL};
    for (int pass = 0; pass < 2; pass++) {
        for (struct obj *h = pass == 0 ? order[0] : c->w->chead[CL_HOST]; h;
             h = pass == 0 ? NULL : h->cnext) {
            if ((pass == 1 && h == c->w->master) || sim_fset_has(u, "hosts", h->ref))
                continue;
            t += sim_dur(c, c->s->tm.apply_ms);
            sim_sched(c->s, c->w, t, ACT_APPLY_DONE, c->task->ref, u->ref, h->ref, 0, 1);
            todo++;
        }
    }
    if (todo == 0) {
        sim_rerr(c, "UPDATE_ALREADY_APPLIED_IN_POOL", 0);
        return R_DONE;
    }
    sim_sched(c->s, c->w, t, ACT_TASK_DONE, c->task->ref, NULL, NULL, 0, 0);
    return R_PENDING;
}

static int h_update_pool_clean(struct ctx *c)
{
    struct obj *u = sim_arg_obj(c, 1, CL_POOL_UPDATE);
    if (!u)
        return R_DONE;
    struct obj *vdi = ref_field(c->w, u, "vdi", CL_VDI);
    if (vdi) {
        struct obj *sr = ref_field(c->w, vdi, "SR", CL_SR);
        if (sr) {
            sim_fset_del(c->w, sr, "VDIs", vdi->ref);
            sim_fset_int(c->w, sr, "physical_utilisation",
                         sim_fint(sr, "physical_utilisation") -
                             sim_fint(vdi, "physical_utilisation"));
            sim_fset_int(c->w, sr, "virtual_allocation",
                         sim_fint(sr, "virtual_allocation") - sim_fint(vdi, "virtual_size"));
        }
        sim_obj_destroy(c->w, vdi);
    }
    sim_fset_str(c->w, u, "vdi", XAPI_NULL_REF);
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

static int h_update_destroy(struct ctx *c)
{
    struct obj *u = sim_arg_obj(c, 1, CL_POOL_UPDATE);
    if (!u)
        return R_DONE;
    if (xapi_array_len(sim_fget(u, "hosts")) > 0) {
        sim_rerr(c, "UPDATE_IS_APPLIED", 0);
        return R_DONE;
    }
    h_update_pool_clean(c);
    sim_obj_destroy(c->w, u);
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

const struct handler sim_op_handlers[] = {
    {"host.disable", h_host_disable, 0},
    {"host.enable", h_host_enable, 0},
    {"host.evacuate", h_host_evacuate, H_LONG | H_CANCEL},
    {"host.get_vms_which_prevent_evacuation", h_host_vms_preventing, 0},
    {"host.assert_can_evacuate", h_host_assert_can_evacuate, 0},
    {"host.reboot", h_host_reboot, 0},
    {"host.restart_agent", h_host_restart_agent, 0},
    {"host.destroy", h_host_destroy, 0},
    {"host.compute_free_memory", h_host_compute_free_memory, 0},
    {"VM.pool_migrate", h_vm_pool_migrate, H_LONG | H_CANCEL},
    {"VM.start", h_vm_start, H_LONG},
    {"VM.clean_shutdown", h_vm_clean_shutdown, H_LONG},
    {"VM.hard_shutdown", h_vm_hard_shutdown, H_LONG},
    {"VM.suspend", h_vm_suspend, H_LONG},
    {"VM.resume", h_vm_resume, H_LONG},
    {"VM.start_on", h_vm_start_on, H_LONG},
    {"VM.resume_on", h_vm_resume_on, H_LONG},
    {"VM.assert_can_boot_here", h_vm_assert_can_boot_here, 0},
    {"VM.assert_operation_valid", h_vm_assert_operation_valid, 0},
    {"VBD.eject", h_vbd_eject, 0},
    {"VBD.insert", h_vbd_insert, 0},
    {"pool.enable_ha", h_pool_enable_ha, 0},
    {"pool.disable_ha", h_pool_disable_ha, 0},
    {"pool.designate_new_master", h_pool_designate_new_master, H_LONG},
    {"pool.emergency_transition_to_master", h_pool_emergency_transition_to_master, H_EMERGENCY},
    {"pool.emergency_reset_master", h_pool_emergency_reset_master, H_EMERGENCY},
    {"pool.recover_slaves", h_pool_recover_slaves, 0},
    {"pool_update.introduce", h_update_introduce, 0},
    {"pool_update.precheck", h_update_precheck, H_LONG},
    {"pool_update.apply", h_update_apply, H_LONG},
    {"pool_update.pool_apply", h_update_pool_apply, H_LONG},
    {"pool_update.pool_clean", h_update_pool_clean, 0},
    {"pool_update.destroy", h_update_destroy, 0},
    {NULL, NULL, 0},
};

/* ---- scheduled state changes ---- */

/*
 * Rolling pool upgrade detection (db_gc.ml detect_rolling_upgrade with helpers.ml
 * pool_has_different_host_platform_versions): while some host's platform_version or xapi
 * version differs from the coordinator's, the pool's other_config says
 * rolling_upgrade_in_progress=true.  When the mode changes, the allowed operations of hosts and
 * VMs are recomputed (db_gc.ml refreshes the VMs' on leaving it).
 */
void sim_rpu_detect(struct world *w)
{
    bool differ = false;
    for (struct obj *h = w->chead[CL_HOST]; h && w->master; h = h->cnext)
        differ = differ || !sim_rpu_same_as_master(w, h);
    if (differ == sim_rpu_active(w))
        return;
    if (differ)
        sim_fmap_put(w, w->pool, "other_config", "rolling_upgrade_in_progress", "true");
    else
        sim_fmap_del(w, w->pool, "other_config", "rolling_upgrade_in_progress");
    for (struct obj *h = w->chead[CL_HOST]; h; h = h->cnext)
        sim_host_refresh_ops(w, h);
    for (struct obj *vm = w->chead[CL_VM]; vm; vm = vm->cnext)
        sim_vm_refresh_ops(w, vm);
}

/* A reboot takes the software_version an applied update announced (unless old: the
 * returns_old_version fault). */
static void take_pending_version(struct world *w, struct obj *h, bool old)
{
    struct hostx *hx = sim_hx(h);
    if (hx->pending_sw && !old) {
        struct xapi_value *sw = xapi_value_dup(sim_fget(h, "software_version"));
        for (size_t i = 0; i < hx->pending_sw->u.st.n; i++)
            xapi_struct_set_take(sw, hx->pending_sw->u.st.keys[i],
                                 xapi_value_dup(hx->pending_sw->u.st.vals[i]));
        sim_fset(w, h, "software_version", sw);
    }
    xapi_value_free(hx->pending_sw);
    hx->pending_sw = NULL;
}

/* A host back on its old version (the returns_old_version fault) booted the installation it had
 * before the updates that needed this reboot: xapi rebuilds host.updates from what is installed
 * when it starts (xen-api ocaml/xapi/xapi_pool_update.ml resync_host reads
 * /var/update/applied), so those updates are no longer applied on it. */
static void drop_unbooted_updates(struct world *w, struct obj *h)
{
    struct xapi_value *rr = xapi_value_dup(sim_fget(h, "updates_requiring_reboot"));
    for (size_t i = 0; i < xapi_array_len(rr); i++) {
        const char *ref = xapi_value_str(xapi_array_get(rr, i));
        struct obj *u = ref ? sim_obj_get_cls(w, ref, CL_POOL_UPDATE) : NULL;
        if (u)
            sim_fset_del(w, u, "hosts", h->ref);
        if (ref)
            sim_fset_del(w, h, "updates", ref);
    }
    xapi_value_free(rr);
}

void sim_host_booted(struct sim *s, struct world *w, struct obj *h, bool reboot)
{
    struct hostx *hx = sim_hx(h);
    int64_t now = sim_now(s);
    char t[32];
    hx->up = true;
    epoch_float(t, sizeof(t), now);
    sim_fmap_put(w, h, "other_config", "agent_start_time", t);
    sim_xs8_on_start(w, h, reboot);
    if (reboot) {
        bool old = sim_fault_take(s, w, "returns_old_version", h, NULL, NULL, NULL, NULL);
        if (hx->installing) {
            sim_upgrade_on_boot(s, w, h, old);
        } else {
            take_pending_version(w, h, old);
            if (old)
                drop_unbooted_updates(w, h);
        }
    }
    /* A supporter's xapi connects to its coordinator as it starts (master_connection.ml): with
     * the coordinator reachable it leaves emergency mode however its reboot was timed; without,
     * it starts in emergency mode and reconnects when the coordinator returns (ACT_RECONNECT);
     * one whose xapi is newer than the coordinator's cannot join (xapi.ml). */
    bool emergency =
        !sim_host_is_master(w, h) && (!master_reachable(w) || sim_upgrade_blocks_join(w, h));
    if (sim_host_is_master(w, h)) {
        /* Supporters in emergency mode retry their coordinator and reconnect. */
        sim_sched(s, w, now + s->tm.emergency_after_ms, ACT_RECONNECT, NULL, NULL, NULL, 0, 0);
    }
    if (!reboot) {
        sim_set_emergency(w, h, emergency);
        hx->restarts++;
        s->n_restarts++;
        return;
    }
    hx->reboots++;
    s->n_reboots++;
    sim_fmap_put(w, h, "other_config", "boot_time", t);
    sim_fset_bool(w, h, "enabled", false);
    sim_fset_bool(w, hx->metrics, "live", !emergency);
    sim_fset_dt(w, hx->metrics, "last_updated", now);
    sim_set_emergency(w, h, emergency);
    host_pbds_attached(w, h, true);
    sim_fset(w, h, "updates_requiring_reboot", xapi_value_new_array());
    sim_host_refresh_ops(w, h);
    sim_rpu_detect(w);
}

/* An evacuation's subtask ended: its progress, and its end when the last one has (failed with
 * the first failure's error, as xapi_host.ml raises it after waiting for all). */
static void evacuation_step(struct world *w, struct obj *parent)
{
    if (!sim_task_pending(parent))
        return;
    const struct xapi_value *subs = sim_fget(parent, "subtasks");
    size_t n = xapi_array_len(subs), done = 0;
    struct obj *failed = NULL;
    for (size_t i = 0; i < n; i++) {
        struct obj *st = sim_obj_get_cls(w, xapi_value_str(xapi_array_get(subs, i)), CL_TASK);
        if (sim_task_pending(st))
            continue;
        done++;
        if (!failed && st && strcmp(sim_fstr(st, "status"), "failure") == 0)
            failed = st;
    }
    if (done < n) {
        sim_task_progress(w, parent, (double)done / (double)n);
        return;
    }
    for (struct obj *h = w->chead[CL_HOST]; h; h = h->cnext)
        if (sim_fmap_del(w, h, "current_operations", parent->ref))
            sim_host_refresh_ops(w, h);
    if (failed)
        sim_task_fail(w, parent, sim_fget(failed, "error_info"));
    else
        sim_task_succeed(w, parent, xapi_value_new_void());
}

static void migrate_done(struct sim *s, struct action *a)
{
    struct world *w = a->w;
    struct obj *task = sim_obj_get_cls(w, a->a, CL_TASK);
    struct obj *vm = sim_obj_get_cls(w, a->b, CL_VM);
    struct obj *dst = sim_obj_get_cls(w, a->c, CL_HOST);
    struct obj *parent =
        a->flag && task ? sim_obj_get_cls(w, sim_fstr(task, "subtask_of"), CL_TASK) : NULL;
    if (dst)
        sim_hx(dst)->reserved -= a->n;
    if (vm) {
        vm_set_current_op(w, vm, a->a, NULL);
        sim_fset_str(w, vm, "scheduled_to_be_resident_on", XAPI_NULL_REF);
    }
    if (!vm || !dst || !sim_task_pending(task)) {
        /* cancelled (task.cancel already released the VM) or forgotten */
        evacuation_step(w, parent);
        return;
    }
    struct obj *src = ref_field(w, vm, "resident_on", CL_HOST);
    if (strcmp(sim_fstr(vm, "power_state"), "Running") != 0) {
        /* The source went down under the migration: the VM stopped with it. */
        s->n_migrations_failed++;
        sim_task_fail_code(w, task, "VM_BAD_POWER_STATE", 3, vm->ref, "running",
                           lower_state(sim_fstr(vm, "power_state")));
    } else if (!host_live(dst) || !sim_hx(dst)->up || (src && !sim_hx(src)->up) ||
               sim_fault_take(s, w, "migration_fails", src, vm, NULL, NULL, NULL) ||
               (src != dst && sim_fault_take(s, w, "migration_fails", dst, vm, NULL, NULL, NULL))) {
        s->n_migrations_failed++;
        sim_task_fail_code(w, task, "VM_MIGRATE_FAILED", 4, vm->ref, src ? src->ref : "", dst->ref,
                           "simulated migration failure");
    } else {
        resident_remove(w, vm);
        resident_add(w, vm, dst);
        s->n_migrations++;
        sim_task_succeed(w, task, xapi_value_new_void());
    }
    evacuation_step(w, parent);
}

static void apply_done(struct sim *s, struct action *a)
{
    struct world *w = a->w;
    struct obj *task = sim_obj_get_cls(w, a->a, CL_TASK);
    struct obj *u = sim_obj_get_cls(w, a->b, CL_POOL_UPDATE);
    struct obj *h = sim_obj_get_cls(w, a->c, CL_HOST);
    if (!sim_task_pending(task))
        return;
    struct fault f;
    memset(&f, 0, sizeof(f));
    if (!u || !h || !host_live(h) || sim_fault_take(s, w, "apply_fails", h, NULL, NULL, u, &f)) {
        json_decref(f.params);
        if (a->flag) {
            sim_task_fail_code(w, task, "UPDATE_POOL_APPLY_FAILED", 1, h ? h->ref : "");
        } else {
            sim_task_fail_code(w, task, "UPDATE_APPLY_FAILED", 1,
                               f.code[0] ? f.code : "simulated apply failure");
        }
        return;
    }
    sim_fset_add(w, u, "hosts", h->ref);
    sim_fset_add(w, h, "updates", u->ref);
    s->n_applies++;
    struct updx *ux = u->x;
    bool lp = livepatch_ok(s, w, u, h);
    if (sim_fset_has(u, "after_apply_guidance", "restartHost") && !lp)
        sim_fset_add(w, h, "updates_requiring_reboot", u->ref);
    if (ux && ux->new_sw) {
        struct hostx *hx = sim_hx(h);
        if (!hx->pending_sw)
            hx->pending_sw = xapi_value_new_struct();
        for (size_t i = 0; i < ux->new_sw->u.st.n; i++)
            xapi_struct_set_take(hx->pending_sw, ux->new_sw->u.st.keys[i],
                                 xapi_value_dup(ux->new_sw->u.st.vals[i]));
    }
    if (!a->flag)
        sim_task_succeed(w, task, xapi_value_new_void());
}

static void power_done(struct sim *s, struct action *a)
{
    struct world *w = a->w;
    struct obj *task = sim_obj_get_cls(w, a->a, CL_TASK);
    struct obj *vm = sim_obj_get_cls(w, a->b, CL_VM);
    struct obj *h = sim_obj_get_cls(w, a->c, CL_HOST);
    (void)s;
    if (a->n == 1 && h)
        sim_hx(h)->reserved -= vm ? sim_vm_footprint(vm) : 0;
    if (!vm)
        return;
    sim_fmap_del(w, vm, "current_operations", a->a);
    if (a->n == 1 && (!h || !host_live(h))) {
        sim_vm_refresh_ops(w, vm);
        if (sim_task_pending(task))
            sim_task_fail_code(w, task, "HOST_OFFLINE", 1, a->c);
        return;
    }
    if (a->n == 1) {
        resident_add(w, vm, h);
        sim_fset_str(w, vm, "power_state", "Running");
    } else {
        resident_remove(w, vm);
        sim_fset_str(w, vm, "power_state", a->n == 3 ? "Suspended" : "Halted");
    }
    sim_vm_refresh_ops(w, vm);
    if (sim_task_pending(task))
        sim_task_succeed(w, task, xapi_value_new_void());
}

void sim_apply_action(struct sim *s, struct action *a)
{
    struct world *w = a->w;
    struct obj *task;
    switch (a->kind) {
    case ACT_HOST_BOOTED:
    case ACT_AGENT_STARTED:
        if ((size_t)a->n < s->nhosts && s->hosts[a->n]->o)
            sim_host_booted(s, w, s->hosts[a->n]->o, a->kind == ACT_HOST_BOOTED);
        break;
    case ACT_MIGRATE_DONE:
        migrate_done(s, a);
        break;
    case ACT_EVACUATE_DONE: {
        struct obj *eh = sim_obj_get_cls(w, a->b, CL_HOST);
        if (eh && sim_fmap_del(w, eh, "current_operations", a->a))
            sim_host_refresh_ops(w, eh);
        task = sim_obj_get_cls(w, a->a, CL_TASK);
        if (sim_task_pending(task))
            sim_task_succeed(w, task, xapi_value_new_void());
        break;
    }
    case ACT_APPLY_DONE:
        apply_done(s, a);
        break;
    case ACT_VM_POWER_DONE:
        power_done(s, a);
        break;
    case ACT_UPLOAD_DONE: {
        task = sim_obj_get_cls(w, a->a, CL_TASK);
        struct obj *vdi = sim_obj_get_cls(w, a->b, CL_VDI);
        if (sim_task_pending(task)) {
            if (vdi)
                sim_task_succeed(w, task, xapi_value_new_string(vdi->ref));
            else
                sim_task_fail_code(w, task, "HANDLE_INVALID", 2, "VDI", a->b);
        }
        break;
    }
    case ACT_NEW_MASTER: {
        task = sim_obj_get_cls(w, a->a, CL_TASK);
        struct obj *h = sim_obj_get_cls(w, a->b, CL_HOST);
        if (h && host_live(h)) {
            become_master(w, h);
            if (sim_task_pending(task))
                sim_task_succeed(w, task, xapi_value_new_void());
        } else if (sim_task_pending(task)) {
            sim_task_fail_code(w, task, "HOST_OFFLINE", 1, a->b);
        }
        break;
    }
    case ACT_EMERGENCY:
        if (!master_reachable(w)) {
            for (struct obj *h = w->chead[CL_HOST]; h; h = h->cnext) {
                if (h != w->master && sim_hx(h)->up)
                    sim_set_emergency(w, h, true);
            }
        }
        break;
    case ACT_XS8_APPLY_DONE:
        sim_xs8_apply_done(s, a);
        break;
    case ACT_RECONNECT:
        if (master_reachable(w)) {
            char t[32];
            epoch_float(t, sizeof(t), sim_now(s));
            for (struct obj *h = w->chead[CL_HOST]; h; h = h->cnext) {
                if (h != w->master && sim_hx(h)->up && sim_hx(h)->emergency &&
                    !sim_upgrade_blocks_join(w, h)) {
                    sim_set_emergency(w, h, false); /* its xapi restarted and found the master */
                    sim_fmap_put(w, h, "other_config", "agent_start_time", t);
                }
            }
        }
        break;
    case ACT_TASK_PROGRESS:
        task = sim_obj_get_cls(w, a->a, CL_TASK);
        if (task)
            sim_task_progress(w, task, (double)a->n / 1000.0);
        break;
    case ACT_TASK_DONE:
        task = sim_obj_get_cls(w, a->a, CL_TASK);
        if (sim_task_pending(task))
            sim_task_succeed(w, task,
                             a->b[0] ? xapi_value_new_string(a->b) : xapi_value_new_void());
        break;
    default:
        break;
    }
}
