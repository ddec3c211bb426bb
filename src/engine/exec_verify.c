/* SPDX-License-Identifier: MIT */
/*
 * exec_verify.c - a pool's end-state verification, driven (exec_drv.h): when a pool's work ends
 * (every step done, halted, or its cancel ended) the pool's records are read again and checked
 * against the rollout's claims (verify.c); the findings are kept with the rollout, sent as
 * events, and decide whether a cancel ends cancelled or cancel_failed.  Done and cancel wait a
 * short while for the last effects to show (events follow a call's answer); halted does not.
 */
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec_drv.h"

/* How long done / cancel wait for the pool's records to show the claims (events after the
 * last call's answer) before reporting what differs. */
#define EXEC_VERIFY_WAIT_MS (15 * 1000)

/* The pool's "before" snapshot from the rollout's plan (borrowed, cached; NULL when the rollout
 * was planned by an older version). */
const json_t *exec_pool_before(struct exec_pool *p)
{
    if (p->before_loaded)
        return p->before;
    p->before_loaded = true;
    char *text = NULL;
    if (store_rollout_plan(p->r->x->env.store, p->r->id, &text, NULL) != 0)
        return NULL;
    json_t *doc = json_loads(text ? text : "", 0, NULL);
    free(text);
    json_t *pools = json_object_get(doc, "pools");
    for (size_t i = 0; i < json_array_size(pools); i++) {
        json_t *pj = json_array_get(pools, i);
        json_t *b = json_object_get(pj, "before");
        if (str_eq(exec_pstr(pj, "pool"), p->name) && json_is_object(b))
            p->before = json_incref(b);
    }
    json_decref(doc);
    return p->before;
}

/* True when this rollout introduced the update (it was not in the pool when it started; with
 * no snapshot, an older rollout: assumed). */
bool exec_pool_introduced(struct exec_pool *p, const char *uuid)
{
    const json_t *b = exec_pool_before(p);
    return !b || !exec_before_has_update(b, uuid);
}

/* The verification's inputs from the journal into s->params: {"undo":[...],"images":[...]};
 * *undo_left: an undo record was never replayed. */
static int gather(struct exec_step *s, bool *undo_left)
{
    struct exec_pool *p = s->p;
    struct store_step_list l = {0};
    struct err e = {0};
    *undo_left = false;
    if (store_steps_list(p->r->x->env.store, p->r->id, p->name, &l, &e) != 0) {
        log_error(LOGM, "%s: verify: %s", p->r->id, e.msg);
        return -1;
    }
    json_t *undo = json_array(), *images = json_array();
    for (size_t i = l.n; i-- > 0;) {
        const struct store_step *st = &l.items[i];
        json_t *u = st->undo_json && st->intent_at_ms ? json_loads(st->undo_json, 0, NULL) : NULL;
        if (json_is_object(u)) {
            *undo_left = *undo_left || st->undone_at_ms == 0;
            json_array_append(undo, u);
        }
        json_decref(u);
        if (exec_kind_by_name(st->kind)->kind != EXEC_K_UPLOAD)
            continue;
        json_t *pj = json_loads(st->params_json ? st->params_json : "{}", 0, NULL);
        json_t *rj = json_loads(st->result_json ? st->result_json : "{}", 0, NULL);
        const char *uuid = exec_pstr(pj, "uuid");
        json_array_append_new(images, json_pack("{s:s, s:s, s:b}", "uuid", uuid, "vdi",
                                                exec_pstr(rj, "vdi"), "ours",
                                                exec_pool_introduced(p, uuid)));
        json_decref(pj);
        json_decref(rj);
    }
    store_step_list_cleanup(&l);
    json_object_set_new(s->params, "undo", undo);
    json_object_set_new(s->params, "images", images);
    return 0;
}

static json_t *findings_now(struct exec_step *s, struct xapi_client *c)
{
    struct xapi_records v;
    xapi_records_from_client(&v, c);
    struct exec_verify_in in = {.after = (enum exec_verify_after)(s->verify - 1),
                                .before = exec_pool_before(s->p),
                                .undo = json_object_get(s->params, "undo"),
                                .images = json_object_get(s->params, "images")};
    return exec_verify(&v, &in);
}

static bool pred_verified(void *ctx, struct xapi_client *c)
{
    json_t *f = findings_now(ctx, c);
    bool ok = json_array_size(f) == 0;
    json_decref(f);
    return ok;
}

/* Keep the pool's findings with the rollout: {"pools":{name:{"after","at","findings"}}}. */
static void record(struct exec_pool *p, const char *after, json_t *findings)
{
    struct store *st = p->r->x->env.store;
    struct err e = {0};
    char *text = NULL;
    store_rollout_findings(st, p->r->id, &text, NULL);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_object();
    }
    json_t *pools = json_object_get(doc, "pools");
    if (!json_is_object(pools)) {
        pools = json_object();
        json_object_set_new(doc, "pools", pools);
    }
    json_object_set_new(pools, p->name,
                        json_pack("{s:s, s:I, s:O}", "after", after, "at",
                                  (json_int_t)clock_now_ms(p->r->x->env.clock), "findings",
                                  findings));
    char *out = exec_dumps(doc);
    json_decref(doc);
    if (store_rollout_set_findings(st, p->r->id, out, &e) != 0)
        log_error(LOGM, "%s: findings: %s", p->r->id, e.msg);
    free(out);
}

static bool host_name_fn(void *ctx, const char *ref, const struct xapi_value *rec)
{
    const char *n = xapi_struct_str(rec, "name_label", "");
    json_array_append_new(ctx, json_string(*n ? n : ref));
    return true;
}

/* One event per host of the pool at the end of its work: the engine records each host's facts
 * (reboot pending, from its own fields) with a host's outcome, so a host that came back after
 * its last step (a cancel retried once it returned) is not reported with stale facts. */
static void hosts_facts_again(struct exec_pool *p)
{
    struct xapi_client *c = exec_pool_client(p);
    if (!c || !xapi_cache_ready(c))
        return;
    json_t *names = json_array();
    xapi_cache_foreach(c, "host", host_name_fn, names);
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n)
        exec_emit(p, json_string_value(n), "verify", -1, "%s: state read again at the end",
                  json_string_value(n));
    json_decref(names);
}

static void verify_finish(struct exec_step *s, json_t *findings, bool undo_left)
{
    struct exec_pool *p = s->p;
    enum exec_verify_after after = (enum exec_verify_after)(s->verify - 1);
    static const char *const names[] = {"done", "halted", "cancel"};
    exec_unlink_step(s);
    exec_step_free(s);
    hosts_facts_again(p);
    record(p, names[after], findings);
    for (size_t i = 0; i < json_array_size(findings); i++) {
        const json_t *f = json_array_get(findings, i);
        exec_emit(p, NULL, "verify", -1, "finding %s: %s. What to do: %s", exec_pstr(f, "code"),
                  exec_pstr(f, "message"), exec_pstr(f, "action"));
    }
    free(p->left);
    p->left = json_array_size(findings) ? exec_findings_summary(findings) : NULL;
    if (after == EXEC_VERIFY_DONE && p->st == EXEC_XP_RUN) {
        p->st = EXEC_XP_DONE;
        exec_emit(p, NULL, "done", 100, "pool %s is up to date%s%s", p->name,
                  p->left ? "; verification found: " : " (verified)", p->left ? p->left : "");
        if (p->r->upgrade)
            exec_upgrade_pool_done(p); /* HA an earlier upgrade had to leave off */
    } else if (after == EXEC_VERIFY_HALTED) {
        p->halt_verified = true;
    } else if (after == EXEC_VERIFY_CANCEL && p->st == EXEC_XP_CANCEL) {
        if (exec_cancel_complete(!undo_left, findings)) {
            p->st = EXEC_XP_CANCELLED;
            exec_emit(p, NULL, "cancel", 100,
                      "cancelled: fixes reverted, update files removed (verified)");
        } else {
            if (!p->left && undo_left)
                p->left = xstrdup("an undo item could not be replayed");
            p->st = EXEC_XP_CANCEL_FAILED;
            exec_emit(p, NULL, "cancel_failed", -1,
                      "the cancel could not restore everything: %s; retry the cancel once the "
                      "cause is dealt with",
                      p->left);
        }
    }
    json_decref(findings);
    exec_pool_dirty(p);
    exec_run_update_state(p->r);
}

static void verify_waited(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)rc, (void)res, (void)e;
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    struct xapi_client *c = exec_pool_client(s->p);
    json_t *f = c ? findings_now(s, c) : NULL;
    if (!f)
        f = json_pack("[{s:s, s:s, s:s, s:s, s:s}]", "code", "NOT_VERIFIED", "ref", "", "object",
                      s->p->name, "message", "the pool could not be read to verify its state",
                      "action", "check the connection to the pool, then look at it");
    verify_finish(s, f, json_is_true(json_object_get(s->params, "undo_left")));
}

/* Verify the pool's end state (see exec_drv.h). */
void exec_verify_start(struct exec_pool *p, enum exec_verify_after after)
{
    struct exec_step *s = xcalloc(1, sizeof(*s));
    s->p = p;
    s->def = exec_kind_def(EXEC_K_CANCEL);
    s->params = json_object();
    s->verify = (int)after + 1;
    s->next = p->active;
    p->active = s;
    bool undo_left = false;
    struct xapi_client *c = exec_pool_client(p);
    if (gather(s, &undo_left) != 0 || !c || !xapi_cache_ready(c)) {
        verify_waited(s, PP_ESTATE, NULL, NULL);
        return;
    }
    json_object_set_new(s->params, "undo_left", json_boolean(undo_left));
    struct err e = {0};
    if (after == EXEC_VERIFY_HALTED || pred_verified(s, c) ||
        xapi_cache_wait(c, pred_verified, s, EXEC_VERIFY_WAIT_MS, verify_waited, s, &s->op, &e) !=
            0)
        verify_waited(s, 0, NULL, NULL);
}
