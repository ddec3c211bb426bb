/* SPDX-License-Identifier: MIT */
/*
 * plan_int.h - internals shared by the planner's files: a case-insensitive string index over the
 * catalog, growable arrays, and the per-pool build context.  Not part of the module's contract.
 */
#ifndef PP_PLAN_PLAN_INT_H
#define PP_PLAN_PLAN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/mem.h"
#include "plan/plan.h"

/* Append one element to a growable array (arr, n, cap are lvalues). */
#define PV_PUSH(arr, n, cap, val)                                                                  \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 8;                                                           \
            (arr) = xreallocarray((arr), (cap), sizeof(*(arr)));                                   \
        }                                                                                          \
        (arr)[(n)++] = (val);                                                                      \
    } while (0)

/* Case-insensitive string -> index map (open addressing).  Keys are borrowed. */
struct pidx {
    const char **keys;
    size_t *vals;
    size_t cap; /* power of two, 0 when empty */
    size_t n;
};
void pidx_init(struct pidx *m, size_t expected);
void pidx_cleanup(struct pidx *m);
/* Insert key -> val unless the key is present (the first one wins). */
void pidx_put(struct pidx *m, const char *key, size_t val);
/* Look key up; true and *val when present. */
bool pidx_get(const struct pidx *m, const char *key, size_t *val);

/* Look-ups over a catalog, built once per plan_build. */
struct catidx {
    const struct catalog *cat;
    struct pidx patches;    /* uuid -> index in cat->patches */
    struct pidx installers; /* patch uuid -> index of the version it installs */
};
void catidx_init(struct catidx *x, const struct catalog *cat);
void catidx_cleanup(struct catidx *x);
const struct cat_patch *catidx_patch(const struct catidx *x, const char *uuid);
/* The version whose patch_uuid is uuid (a CU's result), or NULL. */
const struct cat_version *catidx_installs(const struct catidx *x, const char *uuid);
/* The version a host runs (build number when the version has one, else product_version). */
const struct cat_version *catidx_match(const struct catidx *x, const char *product_version,
                                       const char *build_number);

/* Sequence with a prepared index (plan_host_sequence builds one itself). */
int plan_seq_build(const struct catidx *x, const struct inv_host *h, enum plan_mode mode,
                   const char *const *selected, size_t n_selected, struct plan_seq *s);

/* Precheck result for host/update (update NULL: the host-wide one), or NULL. */
const struct plan_precheck_result *plan_find_precheck(const struct plan_opts *o,
                                                      const char *host_ref, const char *uuid);

/* Guidance -> actions for one host (guidance.c).  Appends to ph->actions except the
 * migrations (placement fills EVACUATE / MIGRATE_BACK later).  `manual`: restarts are left to
 * the user.  out receives the summary. */
void plan_host_actions_legacy(const struct catidx *x, const struct plan_opts *o,
                              const struct inv_host *h, struct plan_host *ph, bool manual,
                              bool lp_off, struct plan_guidance_out *out);
void plan_host_actions_cdn(const struct catalog *cat, const struct plan_opts *o,
                           const struct inv_host *h, const struct cat_cdn_host *ch,
                           struct plan_host *ph, bool manual, bool lp_off,
                           struct plan_guidance_out *out);

/* Placement (place.c).  Input per pool host index: whether it is updated and must be
 * evacuated; VM exclusions (VMs resolved by suspend/shutdown, never migrated) and CD drops.
 * Output: per host batch/order, migrations out and back, unplaceable VMs. */
struct place_in {
    const struct inv_pool *pool;
    const struct plan_opts *o;
    const bool *update;   /* [n_hosts] host gets updated */
    const bool *evac;     /* [n_hosts] host must be evacuated */
    const bool *usable;   /* [n_hosts] host may receive VMs (live, enabled or fixable) */
    const bool *vm_skip;  /* [n_vms] VM is not migrated (resolved, halted, control domain) */
    const bool *vm_no_cd; /* [n_vms] its CD is ejected before the rollout */
};
struct place_mig {
    size_t vm, from, to;
    int batch; /* batch during which it runs */
    bool back; /* bringing the VM home */
};
struct place_fail {
    size_t vm;
    size_t host; /* host being evacuated when no target had room */
};
struct place_out {
    int *batch; /* [n_hosts] -1 when not updated */
    int *order; /* [n_hosts] -1 when not updated */
    size_t n_batches;
    struct place_mig *migs; /* in execution order */
    size_t n_migs, cap_migs;
    struct place_fail *unplaced; /* VMs that fit nowhere */
    size_t n_unplaced, cap_unplaced;
};
void plan_place(const struct place_in *in, struct place_out *out);
/* DESIGN.md's k: the most of n hosts going down whose loads (smallest first) fit into the free
 * memory of every other usable host (free_total counts every usable host, fr[i] host i's own
 * free memory).  Sorts load / fr in place.  0 when n is 0, else at least 1. */
size_t plan_capacity_k(int64_t *load, int64_t *fr, size_t n, int64_t free_total);
void place_out_cleanup(struct place_out *out);
/* True when VM v is a live VM the placement moves (running or paused, not dom0, resident). */
bool place_vm_moves(const struct inv_vm *v);

/* The per-pool build context of plan_build, shared by plan.c and checks.c. */
struct plan_ctx {
    const struct inv_pool *pool;
    const struct catalog *cat;
    const struct plan_opts *o;
    struct catidx x;
    struct plan *p;
    size_t cap_checks;
    size_t nh, nv;
    size_t master;
    bool *selected, *update, *evac, *usable, *vm_skip, *vm_no_cd;
    size_t *vm_host;      /* [nv] index of the host a VM is resident on, SIZE_MAX when none */
    struct plan_host *ph; /* [nh], pool order */
    struct plan_guidance_out *g;
};

/* Display names: the name label, else the ref / uuid.  Borrowed from their input. */
const char *plan_host_name(const struct inv_host *h);
const char *plan_vm_name(const struct inv_vm *v);
const char *plan_upd_name(const struct plan_ctx *c, const char *uuid);
/* Append a check to c->p (msg is taken over); returns it for plan_fixable.  The pointer is valid
 * until the next plan_add_check. */
struct plan_check *plan_add_check(struct plan_ctx *c, const char *id, const char *host_ref,
                                  const char *vm_ref, const char *uuid, enum plan_severity sev,
                                  char *msg);
/* Mark k fixable by fix (fk, fobj, farg) with its undo (uk, uobj, uarg; NULL args mean ""). */
void plan_fixable(struct plan_check *k, enum plan_fix_kind fk, const char *fobj, const char *farg,
                  enum plan_fix_kind uk, const char *uobj, const char *uarg);
/* checks.c: the VM blockers of hosts to evacuate (marks c->vm_skip / vm_no_cd), run before
 * placement; then the table of prechecks. */
void plan_vm_checks(struct plan_ctx *c);
void plan_pool_checks(struct plan_ctx *c);
/* A VM that cannot leave host h: check `id` (blocking) with its Resolve All fix — suspend (a CD
 * ejected first, suspend_cd) and resume on h, or, when suspend is impossible or `shutdown` is
 * asked, a clean shutdown and a start on h.  Marks c->vm_skip (and vm_no_cd). */
void plan_unmovable_check(struct plan_ctx *c, size_t v, size_t h, const char *id, const char *why,
                          bool shutdown);

/* upgrade.c (PLAN_MODE_UPGRADE): the actions of host h (sets c->g[h]); the upgrade's prechecks
 * (run by plan_pool_checks); after placement, the restore lists and the guest-tools list. */
void plan_host_actions_upgrade(struct plan_ctx *c, size_t h);
void plan_upgrade_checks(struct plan_ctx *c);
void plan_upgrade_finish(struct plan_ctx *c);

#endif
