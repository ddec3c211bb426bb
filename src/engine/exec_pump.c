/* SPDX-License-Identifier: MIT */
/*
 * exec_pump.c - the pool pump: which steps of a pool start now (steps without a host one at a time;
 * the hosts of a batch as parallel lanes), starting a step (the kind's resume rule first, then its
 * send from the kind table), step outcomes journaled, waits for effects, and calls.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec_drv.h"
#include "engine/zip.h"
#include "xapi/upload.h"

/* ---------------------------------------------------------------- small helpers */

struct xapi_client *exec_pool_client(struct exec_pool *p)
{
    struct exec *x = p->r->x;
    return x->env.client_for ? x->env.client_for(x->env.ctx, p->name) : NULL;
}

const char *exec_pstr(const json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    return s ? s : "";
}

char *exec_dumps(const json_t *j)
{
    return j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

void exec_emit(struct exec_pool *p, const char *host, const char *step, int pct, const char *fmt,
               ...)
{
    struct exec *x = p->r->x;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_info(LOGM, "%s %s: %s", p->r->id, p->name, msg);
    if (x->env.emit)
        x->env.emit(x->env.ctx, p->r->id, p->name, host, exec_public_step(step, NULL), pct, msg);
}

const char *exec_step_name(const struct exec_step *s)
{
    return exec_public_step(s->def->name, s->params);
}

const char *exec_host_label(struct exec_step *s)
{
    const char *n = exec_pstr(s->params, "host_name");
    return *n ? n : s->host;
}

struct xapi_value *exec_params_v(int n, ...)
{
    struct xapi_value *a = xapi_value_new_array();
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        xapi_array_append_string(a, va_arg(ap, const char *));
    va_end(ap);
    return a;
}

void exec_step_free(struct exec_step *s)
{
    if (!s)
        return;
    if (s->up)
        xapi_upload_cancel(s->up);
    zimg_close(s->z);
    json_decref(s->params);
    for (size_t i = 0; i < s->n_acts; i++)
        json_decref(s->acts[i].a);
    free(s->acts);
    free(s->host);
    free(s->task);
    free(s);
}

void exec_unlink_step(struct exec_step *s)
{
    struct exec_pool *p = s->p;
    for (struct exec_step **pp = &p->active; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    if (s->def->flags & EXEC_KF_MIGRATION)
        p->n_migr--;
}

/* params.batch of a host's step (-1: none) and params.to (NULL: none, else a new string). */
static int step_batch(const struct store_step *st, char **dest)
{
    *dest = NULL;
    if (!st->host)
        return -1;
    json_t *pj = json_loads(st->params_json ? st->params_json : "{}", 0, NULL);
    int b = (int)jsonx_int(pj, "batch", -1);
    const char *to = json_string_value(json_object_get(pj, "to"));
    if (to)
        *dest = xstrdup(to);
    json_decref(pj);
    return b;
}

static void dests_free(struct exec_pool *p)
{
    for (size_t i = 0; p->dests && i < p->steps.n; i++)
        free(p->dests[i]);
    free(p->dests);
    p->dests = NULL;
}

/* Load the pool's steps into the cache when needed.  Returns 0 or -1 (logged). */
int exec_steps_load(struct exec_pool *p)
{
    if (p->steps_ok)
        return 0;
    struct err e = {0};
    dests_free(p);
    store_step_list_cleanup(&p->steps);
    free(p->batches);
    p->batches = NULL;
    free(p->kinds);
    p->kinds = NULL;
    if (store_steps_list(p->r->x->env.store, p->r->id, p->name, &p->steps, &e) != 0) {
        log_error(LOGM, "%s: %s", p->r->id, e.msg);
        return -1;
    }
    p->batches = xcalloc(p->steps.n + 1, sizeof(*p->batches));
    p->kinds = xcalloc(p->steps.n + 1, sizeof(*p->kinds));
    p->dests = xcalloc(p->steps.n + 1, sizeof(*p->dests));
    for (size_t i = 0; i < p->steps.n; i++) {
        p->batches[i] = step_batch(&p->steps.items[i], &p->dests[i]);
        p->kinds[i] = exec_kind_by_name(p->steps.items[i].kind)->kind;
    }
    p->hint = 0;
    p->steps_ok = true;
    return 0;
}

void exec_steps_drop(struct exec_pool *p)
{
    dests_free(p);
    store_step_list_cleanup(&p->steps);
    free(p->batches);
    p->batches = NULL;
    free(p->kinds);
    p->kinds = NULL;
    p->steps_ok = false;
}

/* After a journal write of step seq: refresh its mutable fields in the cache (its pool, host
 * and kind strings stay, so pointers to them held by a running pump remain valid). */
void exec_steps_refresh(struct exec_pool *p, int64_t seq)
{
    if (!p->steps_ok)
        return;
    size_t lo = 0, hi = p->steps.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->steps.items[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    struct store_step tmp = {0};
    if (lo == p->steps.n || p->steps.items[lo].seq != seq ||
        store_step_get(p->r->x->env.store, p->r->id, seq, &tmp, NULL) != 0) {
        p->steps_ok = false; /* reloaded by the next pump */
        return;
    }
    struct store_step *c = &p->steps.items[lo];
    char *t;
    t = c->params_json, c->params_json = tmp.params_json, tmp.params_json = t;
    t = c->undo_json, c->undo_json = tmp.undo_json, tmp.undo_json = t;
    t = c->result_json, c->result_json = tmp.result_json, tmp.result_json = t;
    t = c->error, c->error = tmp.error, tmp.error = t;
    c->state = tmp.state;
    c->attempts = tmp.attempts;
    c->intent_at_ms = tmp.intent_at_ms;
    c->done_at_ms = tmp.done_at_ms;
    c->undone_at_ms = tmp.undone_at_ms;
    store_step_cleanup(&tmp);
}

/* A callback arrived for an orphaned step: drop it.  Returns true when orphaned. */
bool exec_orphan_check(struct exec_step *s)
{
    if (s->p)
        return false;
    exec_step_free(s);
    return true;
}

/* ---------------------------------------------------------------- step outcomes */

void exec_step_done(struct exec_step *s, json_t *result_take)
{
    struct exec_pool *p = s->p;
    struct exec *x = p->r->x;
    struct err e = {0};
    char *res = exec_dumps(result_take);
    json_decref(result_take);
    if (s->seq > 0 && store_journal_done(x->env.store, p->r->id, s->seq, res, &e) != 0)
        log_error(LOGM, "%s: journal done of step %lld: %s", p->r->id, (long long)s->seq, e.msg);
    if (s->seq > 0)
        exec_steps_refresh(p, s->seq);
    free(res);
    if (s->seq > 0)
        exec_emit(p, s->host ? exec_host_label(s) : NULL, exec_step_name(s), 100, "%s done",
                  exec_step_name(s));
    exec_unlink_step(s);
    exec_step_free(s);
    exec_pool_dirty(p);
}

/* exec_step_fail with extra fields in the journaled error (extra: an object, taken; NULL). */
static void step_fail_with(struct exec_step *s, const char *code, const char *msg, json_t *extra);

void exec_step_fail(struct exec_step *s, const char *code, const char *msg)
{
    step_fail_with(s, code, msg, NULL);
}

static void step_fail_with(struct exec_step *s, const char *code, const char *msg, json_t *extra)
{
    struct exec_pool *p = s->p;
    struct exec *x = p->r->x;
    struct err e = {0};
    /* names instead of OpaqueRefs and uuids (XAPI's parameters); the code stays verbatim */
    struct xapi_client *c = exec_pool_client(p);
    char *named = NULL;
    if (c && msg) {
        struct xapi_records v;
        xapi_records_from_client(&v, c);
        msg = named = exec_name_refs(&v, msg);
    }
    json_t *ej = json_pack("{s:s, s:s, s:s}", "code", code ? code : "", "message", msg ? msg : "",
                           "explanation", exec_step_explain(s, code));
    if (extra)
        json_object_update(ej, extra);
    json_decref(extra);
    char *txt = exec_dumps(ej);
    json_decref(ej);
    if (s->seq > 0 && store_journal_fail(x->env.store, p->r->id, s->seq, txt, &e) != 0)
        log_error(LOGM, "%s: journal fail of step %lld: %s", p->r->id, (long long)s->seq, e.msg);
    if (s->seq > 0)
        exec_steps_refresh(p, s->seq);
    free(txt);
    exec_emit(p, s->host ? exec_host_label(s) : NULL, exec_step_name(s), -1, "%s failed: %s",
              exec_step_name(s), msg ? msg : code);
    if (s->seq == 0) { /* the cancel procedure: verify what is left, then finish */
        free(named);
        exec_unlink_step(s);
        exec_step_free(s);
        exec_verify_start(p, EXEC_VERIFY_CANCEL);
        return;
    }
    /* msg may be named: freed only after the upgrade's leave-out has journaled it */
    if (p->st == EXEC_XP_RUN && !exec_upgrade_leave_out(s, code, msg))
        p->st = EXEC_XP_HALTED;
    free(named);
    exec_unlink_step(s);
    exec_step_free(s);
    exec_pool_dirty(p);
}

static const char *err_code_of(int rc, const struct err *e)
{
    if (e && e->xapi_code[0])
        return e->xapi_code;
    switch (rc) {
    case PP_ETIMEOUT:
        return "TIMEOUT";
    case PP_ETRANSPORT:
        return "TRANSPORT";
    case PP_ECANCELLED:
        return "CANCELLED";
    default:
        return err_code_name(rc);
    }
}

void exec_step_fail_err(struct exec_step *s, int rc, const struct err *e)
{
    exec_step_fail(s, err_code_of(rc, e), e && e->msg[0] ? e->msg : err_code_name(rc));
}

/* ---------------------------------------------------------------- waiting for an effect */

static bool pred_derived(void *ctx, struct xapi_client *c)
{
    struct exec_step *s = ctx;
    struct xapi_records v;
    xapi_records_from_client(&v, c);
    return s->def->derive(&v, s->host, s->params, false) == DERIVE_DONE ||
           (s->def->wrong && s->def->wrong(&v, s->host, s->params));
}

/* The deadline of the wait for a step's effect (the kind's row). */
static int64_t wait_deadline_ms(const struct exec_step *s)
{
    if (s->def->wait_ms > 0)
        return s->def->wait_ms;
    int64_t t = s->p->r->x->env.host_return_timeout_ms;
    return t > 0 ? t : 20 * 60 * 1000;
}

/* A host back from its reboot on its old installation: the updates it rebooted for are no
 * longer applied on it.  Failed REBOOT_OLD_VERSION naming them; the error lists their uuids
 * (updates_lost) so that the rollout's report does not show them applied. */
static void reboot_old_version(struct exec_step *s, const struct xapi_records *v)
{
    json_t *lost = json_array();
    struct buf b;
    buf_init(&b);
    const json_t *ups = json_object_get(s->params, "updates");
    for (size_t i = 0; i < json_array_size(ups); i++) {
        const char *u = json_string_value(json_array_get(ups, i));
        const char *uref = NULL;
        const struct xapi_value *ur = u ? exec_xv_update_by_uuid(v, u, &uref) : NULL;
        if (!ur || exec_xv_update_applied(v, u, s->host))
            continue;
        json_array_append_new(lost, json_string(u));
        buf_printf(&b, "%s%s", b.len ? ", " : "", xapi_struct_str(ur, "name_label", u));
    }
    char *m = xasprintf("host %s came back from its reboot on its old version: %s no longer "
                        "applied on it; Retry applies them again and reboots it again",
                        exec_host_label(s), buf_str(&b));
    buf_cleanup(&b);
    step_fail_with(s, "REBOOT_OLD_VERSION", m, json_pack("{s:o}", "updates_lost", lost));
    free(m);
}

static void wait_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    if (rc == 0) {
        struct xapi_records v;
        xapi_records_from_client(&v, exec_pool_client(s->p));
        const char *wrong = s->def->wrong ? s->def->wrong(&v, s->host, s->params) : NULL;
        if (wrong && str_eq(wrong, "REBOOT_OLD_VERSION"))
            reboot_old_version(s, &v);
        else if (wrong)
            exec_step_fail(s, wrong, exec_explain(wrong));
        else
            exec_step_done(s, NULL);
        return;
    }
    if (rc == PP_ECANCELLED && !(s->def->flags & EXEC_KF_RUN_ALWAYS)) {
        /* cancelled while its effect was on the way: what the pool shows decides, never the
         * cancel alone (the cancel's own start reads the pool again for the applies) */
        struct xapi_records v;
        xapi_records_from_client(&v, exec_pool_client(s->p));
        if (s->def->derive(&v, s->host, s->params, false) == DERIVE_DONE) {
            exec_step_done(s, NULL);
            return;
        }
    }
    if (rc == PP_ETIMEOUT) {
        char m[256];
        if (s->def->flags & EXEC_KF_HOST_RETURN)
            snprintf(m, sizeof(m), "host %s did not come back healthy within %lld s",
                     exec_host_label(s), (long long)(wait_deadline_ms(s) / 1000));
        else
            snprintf(m, sizeof(m), "the effect of %s did not show within %lld s", exec_step_name(s),
                     (long long)(wait_deadline_ms(s) / 1000));
        exec_step_fail(s, s->def->timeout_code, m);
        return;
    }
    exec_step_fail_err(s, rc, e);
}

/* Wait until the step's effect is visible in the cache, then journal it done. */
void exec_wait_effect(struct exec_step *s)
{
    struct xapi_client *c = exec_pool_client(s->p);
    struct err e = {0};
    s->let_end = NULL;
    if (!c ||
        xapi_cache_wait(c, pred_derived, s, wait_deadline_ms(s), wait_done, s, &s->op, &e) != 0) {
        exec_step_fail(s, "TRANSPORT", c ? e.msg : "the pool is not connected");
        return;
    }
    /* a host's return is not let end: the cancel waits for it in its undo (enable_host) */
    if (!(s->def->flags & EXEC_KF_HOST_RETURN))
        s->let_end = s->op;
}

/* ---------------------------------------------------------------- reading the pool again */

static bool pred_settled(void *ctx, struct xapi_client *c)
{
    struct exec_step *s = ctx;
    struct xapi_records v;
    xapi_records_from_client(&v, c);
    if (s->def->derive(&v, s->host, s->params, false) == DERIVE_DONE)
        return true;
    switch (s->settle) {
    case EXEC_SETTLE_BUSY:
        return !s->def->busy || !s->def->busy(&v, s->host, s->params);
    case EXEC_SETTLE_READ:
        /* the first evaluation reads the cache as it was when the error came: wait for a new
         * snapshot (the client logged in again) or for a batch of events applied since */
        return xapi_cache_generation(c) != s->gen0 || ++s->evals > 1;
    case EXEC_SETTLE_LIVE:
        return s->host && exec_xv_host_live(&v, s->host);
    default:
        return false;
    }
}

static void settled(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    int mode = s->settle;
    s->settle = 0;
    if (rc == 0 || (rc == PP_ETIMEOUT && mode == EXEC_SETTLE_EFFECT)) {
        exec_reconsider(s); /* EFFECT expired: the running operation ended without it */
        return;
    }
    if (rc != PP_ETIMEOUT) {
        exec_step_fail_err(s, rc, e);
        return;
    }
    char m[512];
    const char *code = "TIMEOUT";
    if (mode == EXEC_SETTLE_BUSY) {
        snprintf(m, sizeof(m), "an operation on the object of %s was still running after %lld s",
                 exec_step_name(s), (long long)(EXEC_EFFECT_WAIT_MS / 1000));
        code = "OTHER_OPERATION_IN_PROGRESS";
    } else if (mode == EXEC_SETTLE_READ) {
        snprintf(m, sizeof(m), "the pool did not answer again after: %s", s->last_err);
        code = "TRANSPORT";
    } else {
        snprintf(m, sizeof(m), "host %s did not become live (emergency mode or down)",
                 exec_host_label(s));
        code = "HOST_OFFLINE";
    }
    exec_step_fail(s, code, m);
}

/* Wait before reading the pool again (see exec_drv.h). */
void exec_settle_wait(struct exec_step *s, enum exec_settle mode)
{
    struct xapi_client *c = exec_pool_client(s->p);
    struct err e = {0};
    int64_t host_t = s->p->r->x->env.host_return_timeout_ms > 0
                         ? s->p->r->x->env.host_return_timeout_ms
                         : 20 * 60 * 1000;
    s->settle = (int)mode;
    s->evals = 0;
    s->let_end = NULL;
    s->gen0 = c ? xapi_cache_generation(c) : 0;
    int64_t t =
        mode == EXEC_SETTLE_BUSY || mode == EXEC_SETTLE_EFFECT ? EXEC_EFFECT_WAIT_MS : host_t;
    if (!c || xapi_cache_wait(c, pred_settled, s, t, settled, s, &s->op, &e) != 0)
        exec_step_fail(s, "TRANSPORT", c ? e.msg : "the pool is not connected");
}

/* Read the pool and act (see exec_drv.h). */
void exec_reconsider(struct exec_step *s)
{
    struct xapi_records v;
    xapi_records_from_client(&v, exec_pool_client(s->p));
    enum derive d = s->def->derive(&v, s->host, s->params, false);
    const char *host = s->host ? exec_host_label(s) : NULL;
    if (d == DERIVE_DONE && !(s->def->flags & EXEC_KF_RUN_ALWAYS)) {
        exec_emit(s->p, host, exec_step_name(s), -1, "%s: the pool shows it done",
                  exec_step_name(s));
        exec_step_done(s, (s->def->flags & EXEC_KF_DONE_INTRODUCED)
                              ? json_pack("{s:b}", "already_introduced", 1)
                              : NULL);
        return;
    }
    if (d == DERIVE_WAIT) {
        exec_wait_effect(s);
        return;
    }
    if (s->def->busy && s->def->busy(&v, s->host, s->params)) {
        exec_emit(s->p, host, exec_step_name(s), -1,
                  "%s: an operation is running on its object; waiting for it", exec_step_name(s));
        exec_settle_wait(s, EXEC_SETTLE_BUSY);
        return;
    }
    if (++s->tries > EXEC_MAX_TRIES) {
        char m[400];
        snprintf(m, sizeof(m), "sent %d times, the pool does not show it done; last: %s",
                 EXEC_MAX_TRIES, s->last_err[0] ? s->last_err : "-");
        exec_step_fail(s, "NOT_DONE", m);
        return;
    }
    s->def->send(s);
}

/* Completion of a state-changing call (see exec_drv.h): done or "already there" -> wait for
 * the effect; "already running" -> wait for that operation, then read the pool again; a
 * transport error (the call may or may not have happened) -> read the pool again once it
 * answers; a memory error of a migration -> another target. */
void exec_call_then_wait(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    const char *code = rc != 0 && e ? e->xapi_code : "";
    if (rc == 0 || exec_code_in(s->def->benign, code)) {
        exec_wait_effect(s);
        return;
    }
    if (rc != 0)
        str_lcpy(s->last_err, e && e->msg[0] ? e->msg : code, sizeof(s->last_err));
    if (exec_code_in(s->def->in_progress, code)) {
        struct xapi_records v;
        xapi_records_from_client(&v, exec_pool_client(s->p));
        bool busy = s->def->busy && s->def->busy(&v, s->host, s->params);
        exec_emit(s->p, s->host ? exec_host_label(s) : NULL, exec_step_name(s), -1,
                  "%s: already running (%s); waiting for it", exec_step_name(s), code);
        exec_settle_wait(s, busy ? EXEC_SETTLE_BUSY : EXEC_SETTLE_EFFECT);
        return;
    }
    if (exec_code_in(s->def->retarget, code) && exec_retarget(s))
        return;
    if (rc == PP_ETRANSPORT || rc == PP_ETIMEOUT) {
        exec_emit(s->p, s->host ? exec_host_label(s) : NULL, exec_step_name(s), -1,
                  "%s: no answer (%s); reading the pool to learn whether it happened",
                  exec_step_name(s), s->last_err);
        exec_settle_wait(s, EXEC_SETTLE_READ);
        return;
    }
    /* the pool already shows the effect (an apply that took while its answer was lost): done,
     * whatever the error said */
    struct xapi_records v;
    xapi_records_from_client(&v, exec_pool_client(s->p));
    if (!(s->def->flags & EXEC_KF_RUN_ALWAYS) &&
        s->def->derive(&v, s->host, s->params, false) == DERIVE_DONE) {
        exec_emit(s->p, s->host ? exec_host_label(s) : NULL, exec_step_name(s), -1,
                  "%s: %s, but the pool shows it done", exec_step_name(s), code);
        exec_step_done(s, NULL);
        return;
    }
    exec_step_fail_err(s, rc, e);
}

static void task_progress(void *ctx, double pr)
{
    struct exec_step *s = ctx;
    if (!s->p)
        return;
    int pct = (int)(pr * 100.0);
    if (pct >= s->last_pct + 25 && pct < 100) {
        s->last_pct = pct;
        exec_emit(s->p, s->host ? exec_host_label(s) : NULL, exec_step_name(s), pct, "%s %d%%",
                  exec_step_name(s), pct);
    }
}

int exec_send_call(struct exec_step *s, const char *method, struct xapi_value *params, bool task,
                   xapi_done_fn done)
{
    struct xapi_client *c = exec_pool_client(s->p);
    struct err e = {0};
    if (!c) {
        xapi_value_free(params);
        exec_step_fail(s, "TRANSPORT", "the pool is not connected");
        return -1;
    }
    int rc = task ? xapi_task_async(c, method, params, 0, task_progress, done, s, &s->op, &e)
                  : xapi_call_async(c, method, params, NULL, done, s, &s->op, &e);
    if (rc != 0) {
        exec_step_fail_err(s, rc, &e);
        return -1;
    }
    s->let_end = task ? NULL : s->op; /* a task is asked to stop (task.cancel) */
    return 0;
}
int exec_intent(struct exec_step *s, const json_t *undo, bool new_params)
{
    struct exec *x = s->p->r->x;
    struct err e = {0};
    char *pj = new_params ? exec_dumps(s->params) : NULL;
    char *uj = exec_dumps(undo);
    int rc = store_journal_intent(x->env.store, s->p->r->id, s->seq, pj, uj, &e);
    free(pj);
    free(uj);
    exec_steps_refresh(s->p, s->seq);
    if (rc != 0) {
        log_error(LOGM, "%s: journal intent of step %lld: %s", s->p->r->id, (long long)s->seq,
                  e.msg);
        exec_step_fail(s, "DB", e.msg);
        return -1;
    }
    return 0;
}
/* A step found by its kind's resume rule done (journaled done without an action) or under
 * way (only waited for).  Returns false when it must be sent. */
static bool resume_rule(struct exec_step *s, enum store_step_state state, int attempts,
                        bool later_steps)
{
    struct exec_pool *p = s->p;
    struct xapi_records v;
    xapi_records_from_client(&v, exec_pool_client(p));
    enum derive d = s->def->derive(&v, s->host, s->params, later_steps);
    if (state == STORE_STEP_PENDING && d == DERIVE_WAIT)
        d = DERIVE_RESEND; /* someone else's operation: ours was never sent */
    if (state == STORE_STEP_FAILED && d == DERIVE_WAIT && s->def->kind == EXEC_K_UPGRADE &&
        s->def->wrong(&v, s->host, s->params))
        d = DERIVE_RESEND; /* Retry of an upgrade whose host came back old (restored): anew */
    log_info(LOGM, "%s %s: step %lld %s (%s, attempt %d): %s", p->r->id, p->name, (long long)s->seq,
             s->def->name, store_step_state_name(state), attempts, exec_derive_name(d));
    const char *host = s->host ? exec_host_label(s) : NULL;
    if (d == DERIVE_DONE && !(s->def->flags & EXEC_KF_RUN_ALWAYS)) {
        if (state != STORE_STEP_INTENT && exec_intent(s, NULL, false))
            return true;
        json_t *res = NULL;
        if (s->def->flags & EXEC_KF_DONE_INTRODUCED)
            res = json_pack("{s:b}", "already_introduced", 1);
        exec_emit(p, host, exec_step_name(s), -1, "resumed: %s already took effect", s->def->name);
        exec_step_done(s, res);
        return true;
    }
    if (d == DERIVE_WAIT) {
        if (state == STORE_STEP_FAILED && exec_intent(s, NULL, false))
            return true;
        exec_emit(p, host, exec_step_name(s), -1, "resumed: waiting for %s", s->def->name);
        exec_wait_effect(s);
        return true;
    }
    if ((s->def->flags & EXEC_KF_MAYBE_SENT) && state == STORE_STEP_INTENT &&
        json_object_get(s->params, "agent_before")) {
        /* sent before the restart, perhaps: give its effect the time it takes, resend after */
        int64_t ts = (int64_t)(p->r->x->env.timing.toolstack_s * 4000.0);
        s->settle_ms = ts > 120000 ? ts : 120000;
        exec_emit(p, host, exec_step_name(s), -1,
                  "resumed: %s may have been sent; waiting up to %lld s before sending it again",
                  s->def->name, (long long)(s->settle_ms / 1000));
        exec_settle_wait(s, EXEC_SETTLE_EFFECT);
        return true;
    }
    if (s->def->busy && s->def->busy(&v, s->host, s->params)) {
        /* the operation sent before the restart (or someone else's) still runs: wait for it
         * to end, then read the pool again */
        if (state != STORE_STEP_INTENT && exec_intent(s, NULL, false))
            return true;
        exec_emit(p, host, exec_step_name(s), -1,
                  "resumed: an operation is running on the object of %s; waiting for it",
                  s->def->name);
        exec_settle_wait(s, EXEC_SETTLE_BUSY);
        return true;
    }
    return false;
}

static void start_step(struct exec_pool *p, const struct store_step *st, enum exec_kind k,
                       bool later_steps)
{
    struct exec_step *s = xcalloc(1, sizeof(*s));
    s->p = p;
    s->seq = st->seq;
    s->def = exec_kind_def(k);
    s->host = st->host ? xstrdup(st->host) : NULL;
    s->params = json_loads(st->params_json ? st->params_json : "{}", 0, NULL);
    if (!json_is_object(s->params)) {
        json_decref(s->params);
        s->params = json_object();
    }
    s->next = p->active;
    p->active = s;
    if (s->def->flags & EXEC_KF_MIGRATION)
        p->n_migr++;
    if (resume_rule(s, st->state, st->attempts, later_steps))
        return;
    if (!s->def->send)
        exec_step_fail(s, "UNKNOWN_STEP", st->kind);
    else
        s->def->send(s);
}

/* ---------------------------------------------------------------- the master lost */

/* The master's name from the pool's cache (its address as the client knows it otherwise). */
static const char *master_name(struct xapi_client *c)
{
    struct xapi_records v;
    xapi_records_from_client(&v, c);
    const char *pref = NULL;
    const struct xapi_value *pool = exec_xv_pool(&v, &pref);
    const char *m = pool ? xapi_struct_str(pool, "master", "") : "";
    const struct xapi_value *h = *m ? v.get(v.ctx, "host", m) : NULL;
    const char *n = h ? xapi_struct_str(h, "name_label", "") : "";
    return *n ? n : xapi_client_master(c);
}

/* Fail one step in flight with the pool's lost_msg.  Its call (queued for a master that does
 * not answer; a task's cancel cannot reach xapi either) is abandoned: the step is orphaned and
 * freed by that call's callback, a twin journals the failure. */
static void fail_in_flight(struct exec_step *s)
{
    struct exec_pool *p = s->p;
    if (s->up) {
        xapi_upload_cancel(s->up);
        s->up = NULL;
    }
    struct exec_step *t = s;
    if (s->op) {
        t = xcalloc(1, sizeof(*t));
        t->p = p;
        t->seq = s->seq;
        t->def = s->def;
        t->host = s->host ? xstrdup(s->host) : NULL;
        t->params = json_incref(s->params);
        exec_unlink_step(s);
        s->p = NULL;
        t->next = p->active;
        p->active = t;
        if (t->def->flags & EXEC_KF_MIGRATION)
            p->n_migr++;
        struct xapi_op *op = s->op;
        s->op = NULL;
        xapi_op_cancel(op); /* a plain call's callback frees s now, a task's when it ends */
    }
    exec_step_fail(t, "MASTER_LOST", p->lost_msg);
}

/* One look of the master-lost watchdog (see exec_int.h). */
bool exec_lost_look(struct exec_lost_watch *w, const struct exec_lost_in *in)
{
    if (!in->driving || !in->in_flight || in->own_wait || !in->master_lost) {
        w->since = 0;
        return false;
    }
    /* a new snapshot (the client logged in again, a supporter took over): the master answers */
    if (in->gen != w->gen) {
        w->gen = in->gen;
        w->since = 0;
        return false;
    }
    if (w->since == 0) {
        w->since = in->now_ms;
        return false;
    }
    if (in->now_ms - w->since < in->bound_ms)
        return false;
    w->since = 0;
    return true;
}

/* The master lost while steps are in flight (see exec_drv.h). */
void exec_watch_master(struct exec_pool *p)
{
    struct xapi_client *c = exec_pool_client(p);
    enum xapi_conn_state cs = c ? xapi_client_state(c) : XAPI_CONN_FAILED;
    struct exec_lost_in in = {
        /* a halting pool (a step failed) still waits for its steps in flight: they count too */
        .driving = p->st == EXEC_XP_RUN || p->st == EXEC_XP_CANCEL || p->st == EXEC_XP_HALTED,
        .in_flight = p->active != NULL,
        .master_lost =
            c && cs != XAPI_CONN_READY && cs != XAPI_CONN_IDLE && cs != XAPI_CONN_CONNECTING,
        .gen = c ? xapi_cache_generation(c) : 0,
        .now_ms = clock_now_ms(p->r->x->env.clock),
        .bound_ms = p->r->x->env.host_return_timeout_ms > 0 ? p->r->x->env.host_return_timeout_ms
                                                            : 20 * 60 * 1000};
    /* a host step waiting for a host's return has its own deadline */
    for (const struct exec_step *s = p->active; s; s = s->next)
        in.own_wait = in.own_wait || (s->def->flags & EXEC_KF_HOST_RETURN) || s->verify;
    struct exec_lost_watch w = {.since = p->lost_since, .gen = p->lost_gen};
    int64_t since = w.since;
    bool fire = exec_lost_look(&w, &in);
    p->lost_since = w.since;
    p->lost_gen = w.gen;
    if (!fire)
        return;
    free(p->lost_msg);
    p->lost_msg = xasprintf("the pool master %s has not answered for %lld s (connection %s): "
                            "what was in flight is unknown; Retry once it is back (each step "
                            "reads the pool first)",
                            master_name(c), (long long)((in.now_ms - since) / 1000),
                            xapi_conn_state_name(cs));
    exec_emit(p, NULL, "connect", -1, "%s", p->lost_msg);
    struct exec_step *next;
    for (struct exec_step *s = p->active; s; s = next) {
        next = s->next;
        fail_in_flight(s);
    }
}

/* ---------------------------------------------------------------- the pool pump */

static bool step_active(const struct exec_pool *p, int64_t seq)
{
    for (const struct exec_step *s = p->active; s; s = s->next)
        if (s->seq == seq)
            return true;
    return false;
}

static int lane_migr(const struct exec_pool *p, const char *host)
{
    int n = 0;
    for (const struct exec_step *s = p->active; s; s = s->next)
        n += (s->def->flags & EXEC_KF_MIGRATION) && str_eq(s->host, host);
    return n;
}

/* Migrations in flight towards host `to` (NULL: none counted). */
static int dest_migr(const struct exec_pool *p, const char *to)
{
    int n = 0;
    for (const struct exec_step *s = p->active; to && s; s = s->next)
        n += (s->def->flags & EXEC_KF_MIGRATION) && str_eq(exec_pstr(s->params, "to"), to);
    return n;
}

bool exec_step_unfinished(const struct store_step *st)
{
    return st->state != STORE_STEP_DONE && st->state != STORE_STEP_SKIPPED;
}

/* True (and reported once) while the pool cannot be driven: no connection, cache not ready,
 * or the engine still learning which catalog applies to it (its repository probe after a
 * restart: re-planning now would fail for no reason). */
static bool pump_waits_client(struct exec_pool *p, bool need_catalog)
{
    struct exec *x = p->r->x;
    struct xapi_client *c = exec_pool_client(p);
    bool ready = c && xapi_cache_ready(c);
    if (ready &&
        (!need_catalog || !x->env.catalog_for || x->env.catalog_for(x->env.ctx, p->name))) {
        p->waiting_client = false;
        return false;
    }
    if (!p->waiting_client && need_catalog)
        exec_emit(p, NULL, "connect", -1,
                  ready ? "waiting for the update catalog of pool %s"
                        : "waiting for the connection to pool %s",
                  p->name);
    p->waiting_client = true;
    return true;
}

/* The batch starting at i0: one lane per host, one step at a time per lane, except that
 * consecutive migrations of a lane run together up to the limits.  Steps started here may
 * complete at once (effect already there): their cache entries are refreshed in place, never
 * reallocated, meanwhile. */
static void pump_batch(struct exec_pool *p, size_t i0)
{
    const struct store_step_list *lp = &p->steps;
    int b = p->batches[i0];
    size_t end = i0;
    while (end < lp->n && p->batches[end] == b)
        end++;
    const char **lanes_busy = xcalloc(end - i0 + 1, sizeof(char *));
    size_t nl = 0;
    int per_host = p->r->x->env.timing.parallel_migrations > 0
                       ? p->r->x->env.timing.parallel_migrations
                       : EXEC_DEFAULT_MIGRATIONS_HOST;
    for (size_t i = i0; i < end && p->st == EXEC_XP_RUN && p->steps_ok; i++) {
        const struct store_step *st = &lp->items[i];
        if (!exec_step_unfinished(st))
            continue;
        bool blocked = false;
        for (size_t k = 0; k < nl && !blocked; k++)
            blocked = str_eq(lanes_busy[k], st->host);
        if (blocked)
            continue;
        enum exec_kind kind = p->kinds[i];
        bool migr = exec_kind_def(kind)->flags & EXEC_KF_MIGRATION;
        if (step_active(p, st->seq)) {
            if (!migr)
                lanes_busy[nl++] = st->host;
            continue;
        }
        if (migr) {
            /* the lane's next non-migration waits for them (marked busy below); a host
             * receives at most per_host at once too (xapi moves a host's memory through one
             * network: more streams into it only queue, holding their source meanwhile), so
             * the lane sends a later VM to a destination with room first */
            if (p->n_migr >= EXEC_MAX_MIGRATIONS_POOL || lane_migr(p, st->host) >= per_host ||
                dest_migr(p, p->dests[i]) >= per_host)
                continue;
            start_step(p, st, kind, true);
            continue;
        }
        /* A non-migration step: only when none of the lane's earlier steps is unfinished. */
        bool earlier = false;
        for (size_t k = i0; k < i && !earlier; k++)
            earlier = str_eq(lp->items[k].host, st->host) && exec_step_unfinished(&lp->items[k]);
        lanes_busy[nl++] = st->host;
        if (!earlier && !exec_steps_align_wait(lp, p->kinds, i0, end, i))
            start_step(p, st, kind, true);
    }
    free(lanes_busy);
}

/* Start what can start now in pool p (see exec_drv.h). */
void exec_pump_pool(struct exec_pool *p)
{
    if (p->st == EXEC_XP_CANCEL) {
        if (!pump_waits_client(p, false) && !p->active && !p->cancel_started)
            exec_start_cancel(p);
        return;
    }
    if (p->st == EXEC_XP_HALTED) {
        if (!p->active && !p->halt_verified && !pump_waits_client(p, false))
            exec_verify_start(p, EXEC_VERIFY_HALTED);
        return;
    }
    if (p->st != EXEC_XP_RUN || pump_waits_client(p, !p->r->upgrade) || exec_upgrade_probing(p) ||
        exec_steps_load(p) != 0)
        return;
    const struct store_step_list *lp = &p->steps;
    size_t i0 = lp->n;
    for (size_t i = p->hint; i < lp->n; i++)
        if (exec_step_unfinished(&lp->items[i])) {
            i0 = i;
            break;
        }
    p->hint = i0;
    if (i0 < lp->n && exec_window_blocks(p, i0))
        return;
    if (i0 == lp->n) {
        if (!p->active && !exec_replan_after_apply(p))
            exec_verify_start(p, EXEC_VERIFY_DONE); /* then done, with what it found */
        return;
    }
    if (p->batches[i0] >= 0) {
        pump_batch(p, i0);
        return;
    }
    /* start_step may invalidate the cache (replan): nothing of it is used afterwards */
    if (!p->active)
        start_step(p, &lp->items[i0], p->kinds[i0], i0 + 1 < lp->n);
}
