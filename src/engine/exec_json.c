/* SPDX-License-Identifier: MIT */
/*
 * exec_json.c - rollouts as JSON, computed from the journal alone (so a resumed daemon shows the
 * same figures): state, pools with their current step, error and hosts, counters and window.
 * Shape (docs/engine.md, docs/rest-api.md):
 *   {id, state, policy, error, created, updated, started, finished, window_s,
 *    counters{migrations, reboots, toolstack_restarts, live_patched, updates_applied},
 *    steps_done, steps_total,
 *    pools[{name, state, step, percent, error{code,message,explanation}|null,
 *           hosts[{ref, name, step, percent, state}]}]}
 */
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec.h"
#include "engine/exec_int.h"
#include "store/store.h"

static bool fin(const struct store_step *st)
{
    return st->state == STORE_STEP_DONE || st->state == STORE_STEP_SKIPPED;
}

static json_t *ms_or_null(int64_t ms)
{
    return ms > 0 ? json_integer(ms) : json_null();
}

static json_t *error_json(const char *txt)
{
    json_t *j = txt ? json_loads(txt, 0, NULL) : NULL;
    if (json_is_object(j))
        return j;
    json_decref(j);
    if (!txt)
        return json_null();
    return json_pack("{s:s, s:s, s:s}", "code", "", "message", txt, "explanation",
                     exec_explain(NULL));
}

static const char *host_name_of(const struct store_step *st, json_t **keep)
{
    json_t *pj = json_loads(st->params_json ? st->params_json : "{}", 0, NULL);
    *keep = pj;
    const char *n = json_string_value(json_object_get(pj, "host_name"));
    return n && *n ? n : st->host;
}

static json_t *pool_json(const struct store_rollout *ro, const struct store_step_list *l,
                         const char *pool)
{
    size_t total = 0, done = 0;
    const struct store_step *cur = NULL, *failed = NULL;
    for (size_t i = 0; i < l->n; i++) {
        const struct store_step *st = &l->items[i];
        if (!str_eq(st->pool, pool))
            continue;
        total++;
        if (fin(st))
            done++;
        else if (!cur)
            cur = st;
        if (st->state == STORE_STEP_FAILED && !failed)
            failed = st;
    }
    if (failed)
        cur = failed; /* a halted pool shows the step it halted at (lanes run side by side) */
    const char *state;
    if (ro->state == STORE_ROLLOUT_CANCELLED || ro->state == STORE_ROLLOUT_CANCELLING)
        state = ro->state == STORE_ROLLOUT_CANCELLED ? "cancelled" : "cancelling";
    else if (!cur)
        state = "done";
    else if (cur->state == STORE_STEP_FAILED)
        state = "halted";
    else if (ro->state == STORE_ROLLOUT_RUNNING)
        state = "running";
    else
        state = store_rollout_state_name(ro->state);
    json_t *pj = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I}", "name", pool, "state", state,
                           "step", cur ? cur->kind : "done", "percent",
                           total ? (int)(done * 100 / total) : 100, "steps_done",
                           (json_int_t)done, "steps_total", (json_int_t)total);
    json_object_set_new(pj, "error",
                        cur && cur->state == STORE_STEP_FAILED ? error_json(cur->error)
                                                               : json_null());
    /* hosts, in the order their steps appear */
    json_t *hosts = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const struct store_step *st = &l->items[i];
        if (!str_eq(st->pool, pool) || !st->host)
            continue;
        bool seen = false;
        for (size_t k = 0; k < json_array_size(hosts); k++)
            seen = seen || str_eq(json_string_value(json_object_get(json_array_get(hosts, k),
                                                                    "ref")),
                                  st->host);
        if (seen)
            continue;
        size_t ht = 0, hd = 0, hs = 0;
        const struct store_step *hc = NULL;
        bool started = false, hfailed = false;
        for (size_t k = 0; k < l->n; k++) {
            const struct store_step *o = &l->items[k];
            if (!str_eq(o->pool, pool) || !str_eq(o->host, st->host))
                continue;
            if (str_eq(o->kind, SK_PRECHECK)) {
                hs++;
                continue; /* prechecks are before the host's own turn */
            }
            ht++;
            if (fin(o))
                hd++;
            else if (!hc)
                hc = o;
            started = started || o->state != STORE_STEP_PENDING;
            hfailed = hfailed || (o->state == STORE_STEP_FAILED && o == hc);
        }
        (void)hs;
        json_t *keep = NULL;
        const char *name = host_name_of(st, &keep);
        const char *hstate = hfailed            ? "failed"
                             : ht > 0 && hd == ht ? "done"
                             : started           ? "updating"
                                                 : "pending";
        json_array_append_new(hosts, json_pack("{s:s, s:s, s:s, s:i, s:s}", "ref", st->host,
                                               "name", name ? name : "", "step",
                                               hc ? hc->kind : (ht ? "done" : "precheck"),
                                               "percent", ht ? (int)(hd * 100 / ht) : 0,
                                               "state", hstate));
        json_decref(keep);
    }
    json_object_set_new(pj, "hosts", hosts);
    return pj;
}

static json_t *rollout_json(const struct store_rollout *ro, const struct store_step_list *l)
{
    size_t migr = 0, reboots = 0, tool = 0, applied = 0, lp = 0, done = 0;
    int64_t first = 0, last = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct store_step *st = &l->items[i];
        if (fin(st))
            done++;
        if (st->intent_at_ms > 0 && (first == 0 || st->intent_at_ms < first))
            first = st->intent_at_ms;
        if (st->state == STORE_STEP_DONE && st->done_at_ms > last)
            last = st->done_at_ms;
        if (st->state != STORE_STEP_DONE)
            continue;
        if (str_eq(st->kind, SK_MIGRATE))
            migr++;
        else if (str_eq(st->kind, SK_REBOOT))
            reboots++;
        else if (str_eq(st->kind, SK_RESTART_AGENT))
            tool++;
        else if (str_eq(st->kind, SK_APPLY) || str_eq(st->kind, SK_APPLY_CDN))
            applied++;
        else if (str_eq(st->kind, SK_PRECHECK) && st->result_json &&
                 strstr(st->result_json, "ok_livepatch_complete")) {
            /* a live-patched host: counted once, and only when no reboot was needed */
            bool dup = false, rebooted = false;
            for (size_t k = 0; k < l->n; k++) {
                const struct store_step *o = &l->items[k];
                if (!str_eq(o->pool, st->pool) || !str_eq(o->host, st->host))
                    continue;
                if (str_eq(o->kind, SK_REBOOT))
                    rebooted = true;
                if (k < i && str_eq(o->kind, SK_PRECHECK) && o->result_json &&
                    strstr(o->result_json, "ok_livepatch_complete"))
                    dup = true;
            }
            lp += !dup && !rebooted;
        }
    }
    bool final = ro->state == STORE_ROLLOUT_DONE || ro->state == STORE_ROLLOUT_CANCELLED ||
                 ro->state == STORE_ROLLOUT_FAILED;
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:f, s:I, s:I}", "id", ro->id,
                          "state", store_rollout_state_name(ro->state), "policy",
                          ro->policy ? ro->policy : "", "created", (json_int_t)ro->created_at_ms,
                          "updated", (json_int_t)ro->updated_at_ms, "started",
                          ms_or_null(first), "finished",
                          final ? json_integer(ro->updated_at_ms) : json_null(), "window_s",
                          first && last > first ? (double)(last - first) / 1000.0 : 0.0,
                          "steps_done", (json_int_t)done, "steps_total", (json_int_t)l->n);
    json_object_set_new(j, "error", ro->error ? json_string(ro->error) : json_null());
    json_object_set_new(j, "counters",
                        json_pack("{s:I, s:I, s:I, s:I, s:I}", "migrations", (json_int_t)migr,
                                  "reboots", (json_int_t)reboots, "toolstack_restarts",
                                  (json_int_t)tool, "live_patched", (json_int_t)lp,
                                  "updates_applied", (json_int_t)applied));
    json_t *pools = json_array();
    for (size_t i = 0; i < l->n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i; k++)
            seen = seen || str_eq(l->items[k].pool, l->items[i].pool);
        if (!seen)
            json_array_append_new(pools, pool_json(ro, l, l->items[i].pool));
    }
    json_object_set_new(j, "pools", pools);
    return j;
}

/* One rollout as JSON (see exec.h).  *out is a new reference. */
int exec_rollout_json(struct exec *x, const char *id, json_t **out, struct err *e)
{
    struct store *s = exec_store(x);
    struct store_rollout ro = {0};
    struct store_step_list l = {0};
    *out = NULL;
    int rc = store_rollout_get(s, id, &ro, e);
    if (rc == 0)
        rc = store_steps_list(s, id, NULL, &l, e);
    if (rc == 0)
        *out = rollout_json(&ro, &l);
    store_step_list_cleanup(&l);
    store_rollout_cleanup(&ro);
    return rc;
}

/* Every rollout, newest first: {"rollouts":[...]} (see exec.h). */
int exec_rollouts_json(struct exec *x, json_t **out, struct err *e)
{
    struct store *s = exec_store(x);
    struct store_rollout_list rl = {0};
    *out = NULL;
    int rc = store_rollout_list(s, STORE_ROLLOUT_MASK_ALL, 200, &rl, e);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; i < rl.n && rc == 0; i++) {
        struct store_step_list l = {0};
        rc = store_steps_list(s, rl.items[i].id, NULL, &l, e);
        if (rc == 0)
            json_array_append_new(arr, rollout_json(&rl.items[i], &l));
        store_step_list_cleanup(&l);
    }
    store_rollout_list_cleanup(&rl);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = json_pack("{s:o}", "rollouts", arr);
    return 0;
}
