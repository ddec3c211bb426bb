/* SPDX-License-Identifier: MIT */
/*
 * exec_window.c - maintenance windows in the pool pump (docs/windows.md).  A pool's first step
 * starts only inside one of its windows, and a batch of hosts only when the plan's predicted
 * time of its slowest host fits in what is left of the window; otherwise the pool waits
 * ("waiting_window" before anything was done, "paused_window" after), journaled in the store's
 * rollout_windows, announced by a "window" progress event, and looked at again when the
 * engine's gate says the next window opens (a timer on the pool's client, on the engine's
 * clock: virtual in tests).  Steps already begun always finish: a window never interrupts a host.
 */
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec_drv.h"
#include "store/store_window.h"

#include <string.h>
#include <time.h>

struct exec_win_timer {
    struct exec_pool *p; /* NULL once orphaned */
    struct xapi_op *op;
};

static bool never(void *ctx, struct xapi_client *c)
{
    (void)ctx;
    (void)c;
    return false;
}

static void timer_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct exec_win_timer *t = ctx;
    (void)rc;
    (void)res;
    (void)e;
    if (t->p) {
        t->p->win_timer = NULL;
        exec_pool_dirty(t->p);
    }
    free(t);
}

/* Look at p again at until_ms (engine clock). */
static void arm_timer(struct exec_pool *p, int64_t until_ms)
{
    struct exec *x = p->r->x;
    struct xapi_client *c = exec_pool_client(p);
    if (p->win_timer || !c)
        return;
    int64_t delay = until_ms - clock_now_ms(x->env.clock);
    struct exec_win_timer *t = xcalloc(1, sizeof(*t));
    t->p = p;
    struct err e = {0};
    if (xapi_cache_wait(c, never, NULL, delay > 1 ? delay : 1, timer_done, t, &t->op, &e) != 0) {
        log_warn(LOGM, "%s %s: window timer: %s", p->r->id, p->name, e.msg);
        free(t);
        return;
    }
    p->win_timer = t;
}

void exec_window_orphan(struct exec_pool *p)
{
    if (!p->win_timer)
        return;
    p->win_timer->p = NULL;
    xapi_op_cancel(p->win_timer->op);
    p->win_timer = NULL;
}

/* The plan's predicted seconds per host of the rollout, {"pool\nref": seconds} (cached). */
static json_t *predictions(struct exec_run *r)
{
    if (r->pred)
        return r->pred;
    r->pred = json_object();
    char *text = NULL;
    if (store_rollout_plan(r->x->env.store, r->id, &text, NULL) != 0)
        return r->pred;
    json_t *plan = json_loads(text, 0, NULL), *pl, *h;
    free(text);
    size_t i, k;
    json_array_foreach(json_object_get(plan, "pools"), i, pl)
    {
        const char *pool = exec_pstr(pl, "pool");
        json_array_foreach(json_object_get(pl, "hosts"), k, h)
        {
            double d = json_number_value(json_object_get(h, "end_s")) -
                       json_number_value(json_object_get(h, "start_s"));
            char *key = xasprintf("%s\n%s", pool, exec_pstr(h, "ref"));
            json_object_set_new(r->pred, key, json_real(d > 0 ? d : 0));
            free(key);
        }
    }
    json_decref(plan);
    return r->pred;
}

/* Predicted ms of the batch starting at i0: its slowest host. */
static int64_t batch_need_ms(struct exec_pool *p, size_t i0)
{
    json_t *pred = predictions(p->r);
    double most = 0;
    for (size_t i = i0; i < p->steps.n && p->batches[i] == p->batches[i0]; i++) {
        char *key = xasprintf("%s\n%s", p->name, p->steps.items[i].host);
        double d = json_number_value(json_object_get(pred, key));
        free(key);
        most = d > most ? d : most;
    }
    return (int64_t)(most * 1000.0);
}

static void fmt_time(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The pool may begin again: forget the wait. */
static void window_clear(struct exec_pool *p)
{
    if (!p->win_state)
        return;
    struct err e = {0};
    if (store_rollout_window_set(p->r->x->env.store, p->r->id, p->name, NULL, -1, &e) != 0)
        log_error(LOGM, "%s %s: %s", p->r->id, p->name, e.msg);
    p->win_state = 0;
    exec_emit(p, NULL, "window", -1, "maintenance window open: pool %s continues", p->name);
}

bool exec_window_blocks(struct exec_pool *p, size_t i0)
{
    struct exec *x = p->r->x;
    const struct store_step *st = &p->steps.items[i0];
    bool batch = p->batches[i0] >= 0;
    /* only where something would begin: the pool's first step, or a batch none of whose steps
     * was begun */
    if (!x->env.window_gate || st->state != STORE_STEP_PENDING || p->active || (!batch && i0 > 0) ||
        (batch && i0 > 0 && p->batches[i0 - 1] == p->batches[i0]))
        return false;
    for (size_t i = i0; batch && i < p->steps.n && p->batches[i] == p->batches[i0]; i++)
        if (p->steps.items[i].state != STORE_STEP_PENDING)
            return false;
    int64_t now = clock_now_ms(x->env.clock), until = -1;
    int64_t need = batch ? batch_need_ms(p, i0) : 0;
    char why[256] = "";
    if (x->env.window_gate(x->env.ctx, p->name, now, need, &until, why, sizeof why)) {
        window_clear(p);
        return false;
    }
    int state = i0 == 0 ? EXEC_WIN_WAITING : EXEC_WIN_PAUSED;
    const char *name = state == EXEC_WIN_WAITING ? "waiting_window" : "paused_window";
    if (p->win_state != state || p->win_until != until) {
        struct err e = {0};
        if (store_rollout_window_set(x->env.store, p->r->id, p->name, name, until, &e) != 0)
            log_error(LOGM, "%s %s: %s", p->r->id, p->name, e.msg);
        char at[32] = "an unknown time";
        if (until >= 0)
            fmt_time(until, at, sizeof at);
        exec_emit(p, NULL, "window", -1, "%s: pool %s %s; the next window opens at %s", name,
                  p->name, why, at);
        p->win_state = state;
        p->win_until = until;
    }
    if (until >= 0)
        arm_timer(p, until);
    return true;
}
