/* SPDX-License-Identifier: MIT */
/*
 * model.c - the simulator's object store: records with xapi's fields and defaults, generation
 * counting for event.from, tombstones for deletions, tasks, the scheduled-change heap and memory
 * accounting.  All functions run under sim->mu.
 */
#include "sim/internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "base/clock.h"
#include "base/mem.h"
#include "base/buf.h"
#include "base/str.h"

const char *const sim_cls_wire[CL_NCLS] = {
    "pool",        "host", "host_metrics",     "VM",         "VBD", "VDI", "SR", "PBD",
    "pool_update", "task", "VM_guest_metrics", "Certificate"};
const char *const sim_cls_lower[CL_NCLS] = {
    "pool",        "host", "host_metrics",     "vm",         "vbd", "vdi", "sr", "pbd",
    "pool_update", "task", "vm_guest_metrics", "certificate"};

/* Tombstones kept for event.from before the oldest are dropped (then EVENTS_LOST). */
#define MAX_TOMBS 4096

int sim_cls_by_name(const char *name)
{
    for (int i = 0; i < CL_NCLS; i++) {
        if (str_eq_nocase(sim_cls_wire[i], name))
            return i;
    }
    return -1;
}

int64_t sim_now(struct sim *s)
{
    return clock_now_ms(s->clock);
}

static void glist_unlink(struct world *w, struct obj *o)
{
    if (o->gprev)
        o->gprev->gnext = o->gnext;
    else
        w->ghead = o->gnext;
    if (o->gnext)
        o->gnext->gprev = o->gprev;
    else
        w->gtail = o->gprev;
    o->gprev = o->gnext = NULL;
}

static void glist_append(struct world *w, struct obj *o)
{
    o->gprev = w->gtail;
    o->gnext = NULL;
    if (w->gtail)
        w->gtail->gnext = o;
    else
        w->ghead = o;
    w->gtail = o;
}

void sim_obj_touch(struct world *w, struct obj *o)
{
    if (o->cls == CL_HOST && o->x)
        ((struct hostx *)o->x)->used_valid = false; /* cheap: recounted on the next query */
    o->gen = ++w->gen;
    o->mtime = sim_now(w->s);
    if (w->gtail != o) {
        glist_unlink(w, o);
        glist_append(w, o);
    }
}

struct xapi_value *sim_spec_defaults(const struct sim_class_spec *cs)
{
    struct xapi_value *t = xapi_value_new_struct();
    for (size_t i = 0; i < cs->nfields; i++) {
        const struct sim_field_spec *f = &cs->fields[i];
        struct xapi_value *v;
        if (f->kind == FK_DATETIME) {
            v = xapi_value_new_datetime("19700101T00:00:00Z");
        } else {
            json_error_t je;
            json_t *j = json_loads(f->def_json, JSON_DECODE_ANY, &je);
            v = j ? xapi_value_from_json(j) : xapi_value_new_string("");
            json_decref(j);
            if (f->kind == FK_FLOAT && v->type == XAPI_INT) {
                double d = (double)v->u.i;
                xapi_value_free(v);
                v = xapi_value_new_double(d);
            }
        }
        xapi_struct_set_take(t, f->name, v);
    }
    return t;
}

static struct xapi_value *template_for(struct sim *s, enum cls c)
{
    if (!s->templates[c])
        s->templates[c] = sim_spec_defaults(sim_spec_class(sim_cls_wire[c]));
    return s->templates[c];
}

struct obj *sim_obj_new_uuid(struct world *w, enum cls c, const char *uuid)
{
    struct sim *s = w->s;
    struct obj *o = xcalloc(1, sizeof(*o));
    char u[UUID_STR_LEN];
    o->cls = c;
    uuid_from_rng(&s->rng, u);
    snprintf(o->ref, sizeof(o->ref), "OpaqueRef:%s", u);
    if (uuid)
        str_lcpy(o->uuid, uuid, sizeof(o->uuid));
    else
        uuid_from_rng(&s->rng, o->uuid);
    o->rec = xapi_value_dup(template_for(s, c));
    xapi_struct_set_string(o->rec, "uuid", o->uuid);
    sim_hmap_put(&w->refs, o->ref, o);
    sim_hmap_put(&w->uuids, o->uuid, o);
    o->cprev = w->ctail[c];
    if (w->ctail[c])
        w->ctail[c]->cnext = o;
    else
        w->chead[c] = o;
    w->ctail[c] = o;
    w->ccount[c]++;
    glist_append(w, o);
    sim_obj_touch(w, o);
    o->created_gen = o->gen;
    return o;
}

struct obj *sim_obj_new(struct world *w, enum cls c)
{
    return sim_obj_new_uuid(w, c, NULL);
}

static void free_extras(struct obj *o)
{
    if (!o->x)
        return;
    if (o->cls == CL_HOST) {
        struct hostx *h = o->x; /* owned by sim->hosts, freed with the sim */
        h->o = NULL;
        o->x = NULL;
        return;
    } else if (o->cls == CL_TASK) {
        struct taskx *t = o->x;
        xapi_value_free(t->result);
    } else if (o->cls == CL_VDI) {
        struct vdix *d = o->x;
        free(d->head);
    } else if (o->cls == CL_POOL_UPDATE) {
        struct updx *u = o->x;
        xapi_value_free(u->new_sw);
        xapi_value_free(u->lp_hosts);
    }
    free(o->x);
    o->x = NULL;
}

static void drop_old_tombs(struct world *w)
{
    struct obj *o = w->ghead;
    while (o && w->ntomb > MAX_TOMBS / 2) {
        struct obj *next = o->gnext;
        if (o->deleted) {
            if (o->gen > w->lost_gen)
                w->lost_gen = o->gen;
            glist_unlink(w, o);
            free(o);
            w->ntomb--;
        }
        o = next;
    }
}

void sim_obj_destroy(struct world *w, struct obj *o)
{
    if (o->deleted)
        return;
    sim_hmap_del(&w->refs, o->ref);
    sim_hmap_del(&w->uuids, o->uuid);
    if (o->cprev)
        o->cprev->cnext = o->cnext;
    else
        w->chead[o->cls] = o->cnext;
    if (o->cnext)
        o->cnext->cprev = o->cprev;
    else
        w->ctail[o->cls] = o->cprev;
    w->ccount[o->cls]--;
    xapi_value_free(o->rec);
    o->rec = NULL;
    free_extras(o);
    o->deleted = true;
    sim_obj_touch(w, o);
    w->ntomb++;
    if (w->ntomb > MAX_TOMBS)
        drop_old_tombs(w);
}

void sim_world_free(struct world *w)
{
    if (!w)
        return;
    struct obj *o = w->ghead;
    while (o) {
        struct obj *n = o->gnext;
        xapi_value_free(o->rec);
        free_extras(o);
        free(o);
        o = n;
    }
    sim_sessions_clear(w);
    sim_hmap_cleanup(&w->refs);
    sim_hmap_cleanup(&w->uuids);
    sim_hmap_cleanup(&w->sessions);
    for (int c = 0; c < CL_NCLS; c++)
        sim_hmap_cleanup(&w->byname[c]);
    json_decref(w->repo);
    free(w->name);
    free(w);
}

struct obj *sim_obj_get(struct world *w, const char *ref)
{
    if (!ref)
        return NULL;
    return sim_hmap_get(&w->refs, ref);
}

struct obj *sim_obj_get_cls(struct world *w, const char *ref, enum cls c)
{
    struct obj *o = sim_obj_get(w, ref);
    return (o && o->cls == c) ? o : NULL;
}

struct obj *sim_obj_by_name(struct world *w, enum cls c, const char *name_label)
{
    if (w->byname[c].cap)
        return sim_hmap_get(&w->byname[c], name_label);
    for (struct obj *o = w->chead[c]; o; o = o->cnext) {
        if (str_eq(sim_fstr(o, "name_label"), name_label))
            return o;
    }
    return NULL;
}

/* ---- fields ---- */

/*
 * Every record of a class is a copy of the class template, whose members follow the spec
 * table's order, and members are only ever replaced in place: so a field's position is the
 * same in every record.  This index (field name -> position + 1, per class) turns look-ups
 * from a scan of ~90 names into one hash and one compare.
 */
static pthread_once_t fidx_once = PTHREAD_ONCE_INIT;
static struct hmap fidx[CL_NCLS];

static void fidx_build(void)
{
    for (int c = 0; c < CL_NCLS; c++) {
        const struct sim_class_spec *cs = sim_spec_class(sim_cls_wire[c]);
        sim_hmap_init(&fidx[c]);
        for (size_t i = 0; i < cs->nfields; i++)
            sim_hmap_put(&fidx[c], cs->fields[i].name, (void *)(uintptr_t)(i + 1));
    }
}

static struct xapi_value **fslot(const struct obj *o, const char *f)
{
    if (!o->rec)
        return NULL;
    pthread_once(&fidx_once, fidx_build);
    uintptr_t i = (uintptr_t)sim_hmap_get(&fidx[o->cls], f);
    if (i && i - 1 < o->rec->u.st.n && strcmp(o->rec->u.st.keys[i - 1], f) == 0)
        return &o->rec->u.st.vals[i - 1];
    for (size_t k = 0; k < o->rec->u.st.n; k++) {
        if (strcmp(o->rec->u.st.keys[k], f) == 0)
            return &o->rec->u.st.vals[k];
    }
    return NULL;
}

static struct xapi_value *fget_mut(struct obj *o, const char *f)
{
    struct xapi_value **sl = fslot(o, f);
    return sl ? *sl : NULL;
}

const struct xapi_value *sim_fget(const struct obj *o, const char *f)
{
    struct xapi_value **sl = fslot(o, f);
    return sl ? *sl : NULL;
}

const char *sim_fstr(const struct obj *o, const char *f)
{
    const char *v = xapi_value_str(sim_fget(o, f));
    return v ? v : "";
}

int64_t sim_fint(const struct obj *o, const char *f)
{
    int64_t v = 0;
    if (xapi_value_as_int(sim_fget(o, f), &v) != 0)
        return 0;
    return v;
}

bool sim_fbool(const struct obj *o, const char *f)
{
    bool b = false;
    if (xapi_value_as_bool(sim_fget(o, f), &b) != 0)
        return false;
    return b;
}

void sim_fset(struct world *w, struct obj *o, const char *f, struct xapi_value *v)
{
    struct xapi_value **sl = fslot(o, f);
    if (sl && xapi_value_equal(*sl, v)) {
        xapi_value_free(v);
        return;
    }
    if (sl) {
        xapi_value_free(*sl);
        *sl = v;
    } else {
        xapi_struct_set_take(o->rec, f, v);
    }
    sim_obj_touch(w, o);
}

void sim_fset_str(struct world *w, struct obj *o, const char *f, const char *v)
{
    sim_fset(w, o, f, xapi_value_new_string(v));
}

void sim_fset_int(struct world *w, struct obj *o, const char *f, int64_t v)
{
    sim_fset(w, o, f, xapi_value_new_int(v));
}

void sim_fset_bool(struct world *w, struct obj *o, const char *f, bool v)
{
    sim_fset(w, o, f, xapi_value_new_bool(v));
}

void sim_fset_double(struct world *w, struct obj *o, const char *f, double v)
{
    sim_fset(w, o, f, xapi_value_new_double(v));
}

void sim_fset_dt(struct world *w, struct obj *o, const char *f, int64_t t_ms)
{
    sim_fset(w, o, f, xapi_value_new_datetime_ms(t_ms));
}

void sim_fmap_put(struct world *w, struct obj *o, const char *f, const char *k, const char *v)
{
    struct xapi_value *m = fget_mut(o, f);
    if (!m || m->type != XAPI_STRUCT)
        return;
    const char *old = xapi_value_str(xapi_struct_get(m, k));
    if (old && strcmp(old, v) == 0)
        return;
    xapi_struct_set_string(m, k, v);
    sim_obj_touch(w, o);
}

bool sim_fmap_del(struct world *w, struct obj *o, const char *f, const char *k)
{
    struct xapi_value *m = fget_mut(o, f);
    if (!m || m->type != XAPI_STRUCT || !xapi_struct_remove(m, k))
        return false;
    sim_obj_touch(w, o);
    return true;
}

const char *sim_fmap_get(const struct obj *o, const char *f, const char *k)
{
    return xapi_value_str(xapi_struct_get(sim_fget(o, f), k));
}

bool sim_fset_has(const struct obj *o, const char *f, const char *v)
{
    const struct xapi_value *a = sim_fget(o, f);
    for (size_t i = 0; i < xapi_array_len(a); i++) {
        if (str_eq(xapi_value_str(xapi_array_get(a, i)), v))
            return true;
    }
    return false;
}

void sim_fset_add(struct world *w, struct obj *o, const char *f, const char *v)
{
    struct xapi_value *a = fget_mut(o, f);
    if (!a || a->type != XAPI_ARRAY || sim_fset_has(o, f, v))
        return;
    xapi_array_append_string(a, v);
    sim_obj_touch(w, o);
}

bool sim_fset_del(struct world *w, struct obj *o, const char *f, const char *v)
{
    struct xapi_value *a = fget_mut(o, f);
    if (!a || a->type != XAPI_ARRAY)
        return false;
    for (size_t i = 0; i < a->u.arr.n; i++) {
        if (str_eq(xapi_value_str(a->u.arr.items[i]), v)) {
            xapi_value_free(a->u.arr.items[i]);
            memmove(&a->u.arr.items[i], &a->u.arr.items[i + 1],
                    (a->u.arr.n - i - 1) * sizeof(a->u.arr.items[0]));
            a->u.arr.n--;
            sim_obj_touch(w, o);
            return true;
        }
    }
    return false;
}

/* ---- hosts and memory ---- */

struct hostx *sim_hx(struct obj *host)
{
    return host->x;
}

bool sim_host_is_master(struct world *w, struct obj *host)
{
    return w->master == host;
}

int64_t sim_vm_footprint(const struct obj *vm)
{
    return sim_fint(vm, "memory_dynamic_max") + sim_fint(vm, "memory_overhead");
}

int64_t sim_host_free_memory(struct world *w, struct obj *host)
{
    struct hostx *hx = sim_hx(host);
    if (!hx->used_valid) {
        int64_t used = sim_fint(host, "memory_overhead");
        const struct xapi_value *rv = sim_fget(host, "resident_VMs");
        for (size_t i = 0; i < xapi_array_len(rv); i++) {
            struct obj *vm = sim_obj_get_cls(w, xapi_value_str(xapi_array_get(rv, i)), CL_VM);
            if (vm)
                used += sim_vm_footprint(vm);
        }
        hx->used = used;
        hx->used_valid = true;
    }
    int64_t free_mem = hx->mem_total - hx->used - hx->reserved;
    return free_mem > 0 ? free_mem : 0;
}

/* ---- tasks ---- */

/*
 * xapi keeps at most 200 tasks: beyond that its database GC destroys completed ones, oldest
 * first, never pending ones (ocaml/xapi/db_gc_util.ml timeout_tasks, Xapi_globs.max_tasks).
 * Here at creation and by creation order; xapi's 65-minute timeout of completed tasks is not
 * modelled.  A client that leaves its completed tasks to xapi (poolpatch's daemon does) relies
 * on it.
 */
#define SIM_MAX_TASKS 200

static void tasks_gc(struct world *w)
{
    struct obj *t = w->chead[CL_TASK];
    while (w->ccount[CL_TASK] >= SIM_MAX_TASKS && t) {
        struct obj *next = t->cnext;
        if (!sim_task_pending(t))
            sim_obj_destroy(w, t);
        t = next;
    }
}

struct obj *sim_task_new(struct world *w, const char *name, struct obj *host, bool cancellable)
{
    tasks_gc(w);
    struct obj *t = sim_obj_new(w, CL_TASK);
    struct taskx *tx = xcalloc(1, sizeof(*tx));
    tx->cancellable = cancellable;
    t->x = tx;
    xapi_struct_set_string(t->rec, "name_label", name);
    xapi_struct_set_string(t->rec, "status", "pending");
    xapi_struct_set_take(t->rec, "created", xapi_value_new_datetime_ms(sim_now(w->s)));
    xapi_struct_set_string(t->rec, "resident_on", host ? host->ref : XAPI_NULL_REF);
    xapi_struct_set_take(t->rec, "progress", xapi_value_new_double(0.0));
    xapi_struct_set_string(t->rec, "type", "<none/>");
    xapi_struct_set_string(t->rec, "result", "");
    struct xapi_value *ops = xapi_value_new_array();
    if (cancellable)
        xapi_array_append_string(ops, "cancel");
    xapi_struct_set_take(t->rec, "allowed_operations", ops);
    return t;
}

bool sim_task_pending(const struct obj *task)
{
    return task && !task->deleted && strcmp(sim_fstr(task, "status"), "pending") == 0;
}

static void task_finish(struct world *w, struct obj *t, const char *status)
{
    sim_fset_str(w, t, "status", status);
    sim_fset_double(w, t, "progress", 1.0);
    sim_fset_dt(w, t, "finished", sim_now(w->s));
    sim_fset(w, t, "allowed_operations", xapi_value_new_array());
    sim_fset(w, t, "current_operations", xapi_value_new_struct());
}

void sim_task_succeed(struct world *w, struct obj *t, struct xapi_value *val)
{
    struct taskx *tx = t->x;
    struct buf b;
    buf_init(&b);
    xapi_xmlrpc_encode_value(&b, val);
    sim_fset_str(w, t, "result", buf_str(&b));
    buf_cleanup(&b);
    xapi_value_free(tx->result);
    tx->result = val;
    task_finish(w, t, "success");
}

void sim_task_fail(struct world *w, struct obj *t, const struct xapi_value *error)
{
    sim_fset(w, t, "error_info", xapi_value_dup(error));
    task_finish(w, t, "failure");
}

void sim_task_fail_code(struct world *w, struct obj *t, const char *code, size_t n, ...)
{
    struct xapi_value *e = xapi_value_new_array();
    va_list ap;
    xapi_array_append_string(e, code);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        xapi_array_append_string(e, va_arg(ap, const char *));
    va_end(ap);
    sim_task_fail(w, t, e);
    xapi_value_free(e);
}

/* ---- scheduling: a binary min-heap on (t, seq) ---- */

static bool act_less(const struct action *a, const struct action *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

void sim_sched(struct sim *s, struct world *w, int64_t t, int kind, const char *a, const char *b,
               const char *c, int64_t n, int flag)
{
    if (s->nheap == s->capheap) {
        s->capheap = s->capheap ? s->capheap * 2 : 64;
        s->heap = xreallocarray(s->heap, s->capheap, sizeof(*s->heap));
    }
    struct action act;
    memset(&act, 0, sizeof(act));
    act.t = t;
    act.seq = ++s->seq;
    act.kind = kind;
    act.w = w;
    str_lcpy(act.a, a ? a : "", sizeof(act.a));
    str_lcpy(act.b, b ? b : "", sizeof(act.b));
    str_lcpy(act.c, c ? c : "", sizeof(act.c));
    act.n = n;
    act.flag = flag;
    size_t i = s->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!act_less(&act, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = act;
    pthread_cond_broadcast(&s->cond);
    sim_wake_watchers(s);
}

static struct action heap_pop(struct sim *s)
{
    struct action top = s->heap[0];
    struct action last = s->heap[--s->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct action *cur = &last;
        if (l < s->nheap && act_less(&s->heap[l], cur)) {
            m = l;
            cur = &s->heap[l];
        }
        if (r < s->nheap && act_less(&s->heap[r], cur))
            m = r;
        if (m == i)
            break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (s->nheap)
        s->heap[i] = last;
    return top;
}

void sim_run_due(struct sim *s, int64_t t)
{
    bool any = false;
    while (s->nheap && s->heap[0].t <= t) {
        struct action a = heap_pop(s);
        if (s->virtual_clock && clock_now_ms(s->clock) < a.t)
            clock_set(s->clock, a.t);
        sim_apply_action(s, &a);
        any = true;
    }
    if (s->virtual_clock && clock_now_ms(s->clock) < t)
        clock_set(s->clock, t);
    if (any) {
        pthread_cond_broadcast(&s->cond);
        sim_wake_watchers(s);
    }
}
