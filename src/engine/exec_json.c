/* SPDX-License-Identifier: MIT */
/*
 * exec_json.c - rollouts as JSON, computed from the journal alone (so a resumed daemon shows the
 * same figures), in the shapes of docs/rest-api.md ("Rollouts"):
 *
 *   detail:  {id, state, policy, automated, created, updated, started, finished, elapsed_s,
 *             window_s, pools[{name, state, step, percent, hosts[{name, ref, state, step,
 *             percent, message}]}], counters{hosts_total, hosts_done, steps_total,
 *             steps_started, steps_done, updates_applied, migrations, reboots, toolstack_restarts,
 *             live_patched}, error, plan}
 *   summary: {id, state, created, updated, pools[names], counters{hosts_total, hosts_done},
 *             error}
 *
 * error (when a pool halted): {code, message, explanation, pool, host, step}.  Times are ISO
 * 8601 UTC strings; window_s is the simulated / real seconds from the first intent to the last
 * done step.
 */
#include <string.h>
#include <time.h>

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

static json_t *iso(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char b[32];
    gmtime_r(&t, &tm);
    strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(b);
}

static json_t *params_of(const struct store_step *st)
{
    json_t *j = json_loads(st->params_json ? st->params_json : "{}", 0, NULL);
    return j ? j : json_object();
}

static bool host_step(const struct store_step *st)
{
    return st->host && !str_eq(st->kind, SK_PRECHECK);
}

/* The error object of a failed step. */
static json_t *error_json(const struct store_step *st)
{
    json_t *j = st->error ? json_loads(st->error, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_pack("{s:s, s:s, s:s}", "code", "", "message", st->error ? st->error : "",
                      "explanation", exec_explain(NULL));
    }
    json_t *pj = params_of(st);
    const char *hn = json_string_value(json_object_get(pj, "host_name"));
    json_object_set_new(j, "pool", json_string(st->pool));
    json_object_set_new(j, "host", st->host ? json_string(hn && *hn ? hn : st->host) : json_null());
    json_object_set_new(j, "step", json_string(exec_public_step(st->kind, pj)));
    json_decref(pj);
    return j;
}

static const struct store_step *first_failed(const struct store_step_list *l, const char *pool)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].state == STORE_STEP_FAILED && (!pool || str_eq(l->items[i].pool, pool)))
            return &l->items[i];
    return NULL;
}

static json_t *host_json(const struct store_step_list *l, const char *pool, const char *ref,
                         bool cancelled, size_t *done_out)
{
    size_t total = 0, done = 0, ev_total = 0, ev_done = 0;
    const struct store_step *cur = NULL;
    bool started = false, skipped_any = false;
    const char *name = ref;
    json_t *keep = NULL;
    for (size_t k = 0; k < l->n; k++) {
        const struct store_step *o = &l->items[k];
        if (!str_eq(o->pool, pool) || !str_eq(o->host, ref))
            continue;
        if (!keep) {
            keep = params_of(o);
            const char *hn = json_string_value(json_object_get(keep, "host_name"));
            if (hn && *hn)
                name = hn;
        }
        if (!host_step(o))
            continue;
        total++;
        done += fin(o);
        skipped_any = skipped_any || o->state == STORE_STEP_SKIPPED;
        started = started || o->state != STORE_STEP_PENDING;
        if (!fin(o) && (!cur || o->state == STORE_STEP_FAILED))
            cur = cur && cur->state == STORE_STEP_FAILED ? cur : o;
        if (str_eq(o->kind, SK_MIGRATE)) {
            json_t *pj = params_of(o);
            if (!json_is_true(json_object_get(pj, "back"))) {
                ev_total++;
                ev_done += o->state == STORE_STEP_DONE;
            }
            json_decref(pj);
        }
    }
    const char *state;
    if (cur && cur->state == STORE_STEP_FAILED)
        state = "halted";
    else if (total > 0 && done == total)
        state = skipped_any && cancelled ? "skipped" : "done";
    else if (started)
        state = "running";
    else
        state = "waiting";
    json_t *cp = cur ? params_of(cur) : NULL;
    json_t *h = json_pack("{s:s, s:s, s:s, s:i}", "name", name, "ref", ref, "state", state,
                          "percent", total ? (int)(done * 100 / total) : 0);
    json_object_set_new(h, "step",
                        cur ? json_string(exec_public_step(cur->kind, cp)) : json_null());
    if (cur && str_eq(cur->kind, SK_MIGRATE) && ev_total > 0 &&
        !json_is_true(json_object_get(cp, "back"))) {
        char m[64];
        snprintf(m, sizeof(m), "%zu of %zu VMs moved", ev_done, ev_total);
        json_object_set_new(h, "message", json_string(m));
    } else {
        json_object_set_new(h, "message", json_null());
    }
    json_decref(cp);
    json_decref(keep);
    if (done_out)
        *done_out = total > 0 && done == total;
    return h;
}

static json_t *pool_json(const struct store_rollout *ro, const struct store_step_list *l,
                         const char *pool, size_t *hosts_total, size_t *hosts_done)
{
    size_t total = 0, done = 0;
    const struct store_step *cur = NULL;
    for (size_t i = 0; i < l->n; i++) {
        const struct store_step *st = &l->items[i];
        if (!str_eq(st->pool, pool))
            continue;
        total++;
        if (fin(st))
            done++;
        else if (!cur)
            cur = st;
    }
    const struct store_step *failed = first_failed(l, pool);
    if (failed)
        cur = failed; /* a halted pool shows the step it halted at (lanes run side by side) */
    const char *state;
    if (ro->state == STORE_ROLLOUT_CANCELLED || ro->state == STORE_ROLLOUT_CANCELLING)
        state = ro->state == STORE_ROLLOUT_CANCELLED ? "cancelled" : "cancelling";
    else if (!cur)
        state = "done";
    else if (failed)
        state = "halted";
    else if (ro->state == STORE_ROLLOUT_RUNNING && cur->state != STORE_STEP_PENDING)
        state = "running";
    else if (ro->state == STORE_ROLLOUT_RUNNING)
        state = done > 0 ? "running" : "waiting";
    else
        state = store_rollout_state_name(ro->state);
    const char *step = NULL;
    if (cur)
        step = host_step(cur) ? "hosts" : exec_public_step(cur->kind, NULL);
    json_t *pj = json_pack("{s:s, s:s, s:i}", "name", pool, "state", state, "percent",
                           total ? (int)(done * 100 / total) : 100);
    json_object_set_new(pj, "step", step ? json_string(step) : json_null());
    json_t *hosts = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const struct store_step *st = &l->items[i];
        if (!str_eq(st->pool, pool) || !st->host)
            continue;
        bool seen = false;
        for (size_t k = 0; k < i; k++)
            seen = seen || (str_eq(l->items[k].pool, pool) && str_eq(l->items[k].host, st->host));
        if (seen)
            continue;
        size_t hd = 0;
        json_array_append_new(
            hosts, host_json(l, pool, st->host, ro->state == STORE_ROLLOUT_CANCELLED, &hd));
        (*hosts_total)++;
        *hosts_done += hd;
    }
    json_object_set_new(pj, "hosts", hosts);
    return pj;
}

/* Live-patched hosts: a precheck said ok_livepatch_complete and the host was not rebooted. */
static size_t live_patched(const struct store_step_list *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct store_step *st = &l->items[i];
        if (!str_eq(st->kind, SK_PRECHECK) || st->state != STORE_STEP_DONE || !st->result_json ||
            !strstr(st->result_json, "ok_livepatch_complete"))
            continue;
        bool dup = false, rebooted = false, applied = false;
        for (size_t k = 0; k < l->n; k++) {
            const struct store_step *o = &l->items[k];
            if (!str_eq(o->pool, st->pool) || !str_eq(o->host, st->host))
                continue;
            rebooted = rebooted || str_eq(o->kind, SK_REBOOT);
            applied = applied || (str_eq(o->kind, SK_APPLY) && o->state == STORE_STEP_DONE);
            dup = dup || (k < i && str_eq(o->kind, SK_PRECHECK) && o->result_json &&
                          strstr(o->result_json, "ok_livepatch_complete"));
        }
        n += !dup && !rebooted && applied;
    }
    return n;
}

static json_t *rollout_json(const struct store_rollout *ro, const struct store_step_list *l,
                            bool detail)
{
    size_t migr = 0, reboots = 0, tool = 0, applied = 0;
    int64_t first = 0, last = 0;
    bool automated = false;
    for (size_t i = 0; i < l->n; i++) {
        const struct store_step *st = &l->items[i];
        if (st->intent_at_ms > 0 && (first == 0 || st->intent_at_ms < first))
            first = st->intent_at_ms;
        if (st->state == STORE_STEP_DONE && st->done_at_ms > last)
            last = st->done_at_ms;
        if (str_eq(st->kind, SK_REPLAN)) {
            json_t *pj = params_of(st);
            automated = json_integer_value(json_object_get(json_object_get(pj, "opts"), "mode")) ==
                        PLAN_MODE_AUTOMATED;
            json_decref(pj);
        }
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
    }
    bool final = ro->state == STORE_ROLLOUT_DONE || ro->state == STORE_ROLLOUT_CANCELLED ||
                 ro->state == STORE_ROLLOUT_FAILED;
    const char *state =
        ro->state == STORE_ROLLOUT_PLANNED ? "pending" : store_rollout_state_name(ro->state);
    json_t *j = json_pack("{s:s, s:s, s:o, s:o}", "id", ro->id, "state", state, "created",
                          iso(ro->created_at_ms), "updated", iso(ro->updated_at_ms));
    size_t hosts_total = 0, hosts_done = 0;
    json_t *pools = json_array();
    for (size_t i = 0; i < l->n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i; k++)
            seen = seen || str_eq(l->items[k].pool, l->items[i].pool);
        if (seen)
            continue;
        json_t *pj = pool_json(ro, l, l->items[i].pool, &hosts_total, &hosts_done);
        if (detail) {
            json_array_append_new(pools, pj);
        } else {
            json_array_append_new(pools, json_string(l->items[i].pool));
            json_decref(pj);
        }
    }
    json_object_set_new(j, "pools", pools);
    const struct store_step *failed = first_failed(l, NULL);
    json_object_set_new(j, "error",
                        failed && ro->state != STORE_ROLLOUT_CANCELLED ? error_json(failed)
                                                                       : json_null());
    json_t *c = json_pack("{s:I, s:I}", "hosts_total", (json_int_t)hosts_total, "hosts_done",
                          (json_int_t)hosts_done);
    if (!detail) {
        json_object_set_new(j, "counters", c);
        return j;
    }
    size_t sdone = 0, sstarted = 0;
    for (size_t i = 0; i < l->n; i++) {
        sdone += fin(&l->items[i]);
        sstarted += l->items[i].state != STORE_STEP_PENDING;
    }
    json_object_set_new(c, "steps_started", json_integer((json_int_t)sstarted));
    json_object_set_new(c, "steps_done", json_integer((json_int_t)sdone));
    json_object_set_new(c, "steps_total", json_integer((json_int_t)l->n));
    json_object_set_new(c, "updates_applied", json_integer((json_int_t)applied));
    json_object_set_new(c, "migrations", json_integer((json_int_t)migr));
    json_object_set_new(c, "reboots", json_integer((json_int_t)reboots));
    json_object_set_new(c, "toolstack_restarts", json_integer((json_int_t)tool));
    json_object_set_new(c, "live_patched", json_integer((json_int_t)live_patched(l)));
    json_object_set_new(j, "counters", c);
    json_object_set_new(j, "policy", json_string(ro->policy ? ro->policy : ""));
    json_object_set_new(j, "automated", json_boolean(automated));
    json_object_set_new(j, "started", iso(first));
    json_object_set_new(j, "finished", final ? iso(ro->updated_at_ms) : json_null());
    int64_t end = final ? ro->updated_at_ms : (last > ro->updated_at_ms ? last : ro->updated_at_ms);
    json_object_set_new(j, "elapsed_s",
                        json_integer(first > 0 && end > first ? (end - first) / 1000 : 0));
    json_object_set_new(j, "window_s",
                        json_real(first && last > first ? (double)(last - first) / 1000.0 : 0.0));
    json_t *plan = ro->plan_json ? json_loads(ro->plan_json, 0, NULL) : NULL;
    json_object_set_new(j, "plan", plan ? plan : json_null());
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
        *out = rollout_json(&ro, &l, true);
    store_step_list_cleanup(&l);
    store_rollout_cleanup(&ro);
    return rc;
}

/* Every rollout, newest first, as summaries: {"rollouts":[...]} (see exec.h). */
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
            json_array_append_new(arr, rollout_json(&rl.items[i], &l, false));
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
