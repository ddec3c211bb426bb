/* SPDX-License-Identifier: MIT */
/*
 * task.c - the task calls of the simulator as ocaml/xapi/xapi_task.ml answers them: task.create
 * (the creator drives the task: cancel only asks, by the task's current_operations), cancel of
 * the simulator's own long operations (migrations and evacuations stop and release the VMs'
 * current_operations at once), destroy (a pending task is only marked), set_status /
 * set_progress / set_result / set_error_info, and subtasks.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "sim/internal.h"

void sim_task_progress(struct world *w, struct obj *task, double p)
{
    const struct xapi_value *cur = sim_fget(task, "progress");
    if (!sim_task_pending(task) || (cur && cur->type == XAPI_DOUBLE && cur->u.d >= p))
        return;
    sim_fset_double(w, task, "progress", p);
}

struct obj *sim_subtask_new(struct world *w, struct obj *parent, const char *name)
{
    struct obj *host = sim_obj_get_cls(w, sim_fstr(parent, "resident_on"), CL_HOST);
    struct obj *t = sim_task_new(w, name, host, true);
    sim_fset_str(w, t, "subtask_of", parent->ref);
    sim_fset_add(w, parent, "subtasks", t->ref);
    return t;
}

static int h_task_create(struct ctx *c)
{
    struct obj *t = sim_task_new(c->w, sim_arg_str(c, 1), c->host, true);
    ((struct taskx *)t->x)->by_client = true;
    sim_fset_str(c->w, t, "name_description", sim_arg_str(c, 2));
    sim_rok(c, xapi_value_new_string(t->ref));
    return R_DONE;
}

/* Drop the operations a cancelled task holds on VMs and hosts (xapi's cancel unwinds them). */
static void drop_task_ops(struct world *w, const char *task_ref)
{
    for (struct obj *vm = w->chead[CL_VM]; vm; vm = vm->cnext) {
        if (sim_fmap_del(w, vm, "current_operations", task_ref))
            sim_vm_refresh_ops(w, vm);
    }
    for (struct obj *h = w->chead[CL_HOST]; h; h = h->cnext) {
        if (sim_fmap_del(w, h, "current_operations", task_ref))
            sim_host_refresh_ops(w, h);
    }
}

static void task_cancelled(struct world *w, struct obj *t)
{
    sim_fset_str(w, t, "status", "cancelling");
    sim_fset_str(w, t, "status", "cancelled");
    sim_fset_dt(w, t, "finished", sim_now(w->s));
    sim_fset(w, t, "allowed_operations", xapi_value_new_array());
    sim_fset(w, t, "current_operations", xapi_value_new_struct());
    drop_task_ops(w, t->ref);
    const struct xapi_value *subs = sim_fget(t, "subtasks");
    for (size_t i = 0; i < xapi_array_len(subs); i++) {
        struct obj *st = sim_obj_get_cls(w, xapi_value_str(xapi_array_get(subs, i)), CL_TASK);
        if (sim_task_pending(st))
            task_cancelled(w, st);
    }
}

static int h_task_cancel(struct ctx *c)
{
    struct obj *t = sim_arg_obj(c, 1, CL_TASK);
    if (!t)
        return R_DONE;
    struct taskx *tx = t->x;
    if (!sim_task_pending(t) || !tx->cancellable) {
        sim_rerr(c, "OPERATION_NOT_ALLOWED", 1,
                 sim_task_pending(t) ? "This task cannot be cancelled" : "The task is not pending");
        return R_DONE;
    }
    if (tx->by_client) {
        /* xapi_task.ml: cancel records [(caller's task, cancel)] in current_operations; the
         * creator sees it and finishes the task itself. */
        char key[REF_LEN + 16], u[UUID_STR_LEN];
        uuid_from_rng(&c->s->rng, u);
        snprintf(key, sizeof(key), "OpaqueRef:%s", u); /* the cancel call's own task */
        struct xapi_value *co = xapi_value_new_struct();
        xapi_struct_set_string(co, key, "cancel");
        sim_fset(c->w, t, "current_operations", co);
    } else {
        /* the simulated operation stops at once and gives its VMs back */
        task_cancelled(c->w, t);
    }
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

/* xapi_task.ml destroy: a completed task goes; a pending one is marked for its owner. */
static int h_task_destroy(struct ctx *c)
{
    struct obj *t = sim_arg_obj(c, 1, CL_TASK);
    if (!t)
        return R_DONE;
    if (sim_task_pending(t))
        sim_fmap_put(c->w, t, "current_operations", "task", "destroy");
    else
        sim_obj_destroy(c->w, t);
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

static int h_task_set_status(struct ctx *c)
{
    static const char *const states[] = {"pending", "success", "failure", "cancelling",
                                         "cancelled"};
    struct obj *t = sim_arg_obj(c, 1, CL_TASK);
    if (!t)
        return R_DONE;
    const char *v = sim_arg_str(c, 2);
    bool known = false;
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        known = known || strcmp(states[i], v) == 0;
    if (!known) {
        sim_rerr(c, "INTERNAL_ERROR", 1, "Rpc.Runtime_error(\"enum task_status_type\", value)");
        return R_DONE;
    }
    sim_fset_str(c->w, t, "status", v);
    if (strcmp(v, "pending") != 0 && strcmp(v, "cancelling") != 0) {
        sim_fset_dt(c->w, t, "finished", sim_now(c->s));
        sim_fset(c->w, t, "allowed_operations", xapi_value_new_array());
    }
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

static int h_task_set_progress(struct ctx *c)
{
    struct obj *t = sim_arg_obj(c, 1, CL_TASK);
    double p = 0;
    if (!t)
        return R_DONE;
    xapi_value_as_double(xapi_array_get(c->p, 2), &p);
    sim_fset_double(c->w, t, "progress", isfinite(p) ? p : 0.0);
    sim_rok(c, xapi_value_new_void());
    return R_DONE;
}

static int h_task_set_result(struct ctx *c)
{
    struct obj *t = sim_arg_obj(c, 1, CL_TASK);
    if (t) {
        sim_fset_str(c->w, t, "result", sim_arg_str(c, 2));
        sim_rok(c, xapi_value_new_void());
    }
    return R_DONE;
}

static int h_task_set_error_info(struct ctx *c)
{
    struct obj *t = sim_arg_obj(c, 1, CL_TASK);
    if (t) {
        sim_fset(c->w, t, "error_info", xapi_value_dup(xapi_array_get(c->p, 2)));
        sim_rok(c, xapi_value_new_void());
    }
    return R_DONE;
}

const struct handler sim_task_handlers[] = {
    {"task.create", h_task_create, 0},
    {"task.cancel", h_task_cancel, 0},
    {"task.destroy", h_task_destroy, 0},
    {"task.set_status", h_task_set_status, 0},
    {"task.set_progress", h_task_set_progress, 0},
    {"task.set_result", h_task_set_result, 0},
    {"task.set_error_info", h_task_set_error_info, 0},
    {NULL, NULL, 0},
};
