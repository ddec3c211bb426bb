/* SPDX-License-Identifier: MIT */
/*
 * engine_events.c - progress events (engine thread): the executor's emit callback turned into the
 * SSE event of docs/rest-api.md ("Events") — with the state of what it is about and, for a host,
 * the percent of the host's whole work — handed to every subscriber at once, and kept in memory
 * until the end of the loop turn, when engine_events_flush writes them (and the host facts read
 * with them) in one transaction: one fsync per turn, not one per event.
 *
 * Host facts: on a host's step outcome, what the pool says about the host (updates that still
 * need a reboot, pending guidances) is read from the client's cache and recorded with the rollout
 * (store_host_facts_set), so that the rollout's JSON, built off the engine thread, shows whether
 * a reboot is pending from the host's own fields.
 */
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"
#include "engine/engine_int.h"
#include "engine/exec_int.h"
#include "store/store.h"
#include "xapi/value.h"

#define LOG_MOD "engine"

/* ------------------------------------------------------------------ host facts */

struct host_find {
    const char *label;
    const char *ref;
    const struct xapi_value *rec;
};

static bool host_match(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct host_find *f = ctx;
    if (!str_eq(ref, f->label) && !str_eq(xapi_struct_str(rec, "name_label", ""), f->label))
        return true;
    f->ref = ref;
    f->rec = rec;
    return false;
}

/* {"reboot_pending", "requiring_reboot":[names], "pending_guidances":[...]} of a host record. */
static json_t *host_facts(struct xapi_client *c, const struct xapi_value *rec)
{
    const struct xapi_value *rr = xapi_struct_get(rec, "updates_requiring_reboot");
    const struct xapi_value *pg = xapi_struct_get(rec, "pending_guidances");
    json_t *names = json_array(), *guid = json_array();
    bool pending = false;
    for (size_t i = 0; i < xapi_array_len(rr); i++) {
        const char *ref = xapi_value_str(xapi_array_get(rr, i));
        const struct xapi_value *u = xapi_cache_get(c, "pool_update", ref ? ref : "");
        const char *n = u ? xapi_struct_str(u, "name_label", "") : "";
        json_array_append_new(names, json_string(*n ? n : ref ? ref : ""));
        pending = true;
    }
    for (size_t i = 0; i < xapi_array_len(pg); i++) {
        const char *g = xapi_value_str(xapi_array_get(pg, i));
        json_array_append_new(guid, json_string(g ? g : ""));
        pending = pending || (g && str_eq(g, "restart_host"));
    }
    return json_pack("{s:b, s:o, s:o}", "reboot_pending", pending, "requiring_reboot", names,
                     "pending_guidances", guid);
}

/* The host's ref (and record) in the pool's cache, by name-label or ref; NULL when unknown. */
static const char *host_lookup(struct engine *eng, const char *pool, const char *label,
                               const struct xapi_value **rec, struct xapi_client **client)
{
    struct eng_pool *p = pool ? engine_find_pool(eng, pool) : NULL;
    struct host_find f = {.label = label};
    if (!p || !p->client || !label || !xapi_cache_ready(p->client))
        return NULL;
    xapi_cache_foreach(p->client, "host", host_match, &f);
    *rec = f.rec;
    *client = p->client;
    return f.ref;
}

/* ------------------------------------------------------------------ event text */

/* state and whole-host percent of a host event (docs/rest-api.md, "Events"). */
static void host_progress(struct engine *eng, const char *rollout, const char *pool,
                          const char *ref, int step_pct, json_t *ev)
{
    struct store_step_counts c;
    struct err e = {0};
    if (store_steps_count(eng->store, rollout, pool, ref, SK_PRECHECK, &c, &e) != 0 || !c.total) {
        /* no host steps yet (its precheck runs before the re-plan appends them): waiting, 0 % */
        json_object_set_new(ev, "percent", json_integer(0));
        json_object_set_new(ev, "step_percent",
                            step_pct >= 0 ? json_integer(step_pct) : json_null());
        json_object_set_new(ev, "state", json_string("waiting"));
        json_object_set_new(ev, "host_ref", json_string(ref));
        return;
    }
    int64_t fin = c.done + c.skipped;
    int pct =
        (int)((c.done * 100 + (fin < c.total && step_pct > 0 && step_pct < 100 ? step_pct : 0)) /
              c.total);
    const char *st = c.failed            ? "failed"
                     : c.done == c.total ? "done"
                     : fin == c.total    ? "skipped"
                     : c.started         ? "running"
                                         : "waiting";
    json_object_set_new(ev, "percent", json_integer(pct));
    json_object_set_new(ev, "step_percent", step_pct >= 0 ? json_integer(step_pct) : json_null());
    json_object_set_new(ev, "state", json_string(st));
    json_object_set_new(ev, "host_ref", json_string(ref));
}

/* state of a pool event: the pool's phase (docs/rest-api.md, "Events"). */
static void pool_progress(struct engine *eng, const char *rollout, const char *pool,
                          const char *step, int pct, json_t *ev)
{
    struct store_step_counts c;
    struct err e = {0};
    const char *st = "running";
    if (step && str_eq(step, "cancel"))
        st = pct == 100 ? "cancelled" : "cancelling";
    else if (step && str_eq(step, "cancel_failed"))
        st = "cancel_failed";
    else if (store_steps_count(eng->store, rollout, pool, NULL, NULL, &c, &e) == 0)
        st = c.failed ? "halted" : c.done + c.skipped == c.total ? "done" : "running";
    json_object_set_new(ev, "state", json_string(st));
}

static json_t *event_json(struct engine *eng, const struct eng_event *x, const char *ref)
{
    char ts[32];
    time_t t = (time_t)(clock_now_ms(eng->clock) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *ev =
        json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:s}", "rollout", x->rollout ? x->rollout : "",
                  "pool", x->pool ? json_string(x->pool) : json_null(), "host",
                  x->host ? json_string(x->host) : json_null(), "step",
                  x->step ? json_string(x->step) : json_null(), "percent",
                  x->percent >= 0 ? json_integer(x->percent) : json_null(), "message",
                  x->message ? x->message : "", "time", ts);
    /* The executor reports a rollout's state change as step "rollout" with the state's name as
     * the message (exec.c); clients stop following on a final state. */
    if (!x->pool && x->step && str_eq(x->step, "rollout"))
        json_object_set_new(ev, "state", json_string(x->message ? x->message : ""));
    else if (x->rollout && x->pool && x->host && ref)
        host_progress(eng, x->rollout, x->pool, ref, x->percent, ev);
    else if (x->rollout && x->pool && !x->host)
        pool_progress(eng, x->rollout, x->pool, x->step, x->percent, ev);
    if (!json_object_get(ev, "state")) /* a host whose ref is unknown: still say something true */
        json_object_set_new(ev, "state", json_string("running"));
    return ev;
}

/* ------------------------------------------------------------------ emit and flush */

static void refresh_cdn_after(struct engine *eng, const char *pool, const char *step)
{
    /* XenCenter reads /updates again after applying (xencenter.md section 2, CDN plan step 4):
     * once a repository pool is done, or a rollout ended, its catalog says what is left */
    if (!step || !(str_eq(step, "done") || (!pool && str_eq(step, "rollout"))))
        return;
    for (size_t i = 0; i < eng->n_pools; i++) {
        struct eng_pool *p = eng->pools[i];
        if (engine_pool_is_cdn(p) && (!pool || str_eq(pool, p->name)))
            engine_cdn_refresh(eng, p, false, NULL);
    }
}

/* Queue facts f (taken) of host (pool level: "") for the end of the turn. */
static void push_facts(struct engine *eng, const struct eng_event *x, const char *host, json_t *f)
{
    char *text = json_dumps(f, JSON_COMPACT);
    json_decref(f);
    eng->pending_facts =
        vec_grow_implied(eng->pending_facts, eng->n_pending_facts, sizeof(*eng->pending_facts));
    eng->pending_facts[eng->n_pending_facts++] =
        (struct eng_facts){xstrdup(x->rollout), xstrdup(x->pool), xstrdup(host), text};
}

static void record_facts(struct engine *eng, const struct eng_event *x, const char *ref,
                         struct xapi_client *c, const struct xapi_value *rec)
{
    if (!x->rollout || !ref || !rec || (x->percent != 100 && x->percent != -1))
        return;
    json_t *f = host_facts(c, rec);
    push_facts(eng, x, ref, f);
}

static void calls_fn(void *ctx, const char *method, uint64_t n)
{
    json_object_set_new(ctx, method, json_integer((json_int_t)n));
}

/* The client's XAPI calls by method, {method: n}. */
static json_t *calls_now(struct xapi_client *c)
{
    json_t *o = json_object();
    xapi_client_counts(c, NULL, calls_fn, o);
    return o;
}

/*
 * XAPI calls of a rollout on a pool: the client's counts when the rollout's first event for the
 * pool came, and on each host outcome the difference, recorded as the pool's facts (host "";
 * exec_json.c sums them into the rollout's counters).  Counts since this daemon (re)started the
 * rollout on the pool.
 */
static void record_calls(struct engine *eng, const struct eng_event *x)
{
    struct eng_pool *p = x->rollout && x->pool ? engine_find_pool(eng, x->pool) : NULL;
    if (!p || !p->client)
        return;
    if (!p->calls_rollout || !str_eq(p->calls_rollout, x->rollout)) {
        free(p->calls_rollout);
        json_decref(p->calls_base);
        p->calls_rollout = xstrdup(x->rollout);
        p->calls_base = calls_now(p->client);
        return;
    }
    if (x->percent != 100 && x->percent != -1)
        return; /* an outcome (a host's or the pool's) */
    json_t *now = calls_now(p->client), *d = json_object(), *v;
    const char *m;
    json_object_foreach(now, m, v)
    {
        json_int_t n =
            json_integer_value(v) - json_integer_value(json_object_get(p->calls_base, m));
        if (n > 0)
            json_object_set_new(d, m, json_integer(n));
    }
    json_decref(now);
    push_facts(eng, x, "", json_pack("{s:o}", "xapi_calls", d));
}

/* The executor's emit callback (exec.h's exec_env.emit).  Engine thread. */
void engine_emit_event(void *ctx, const char *rollout, const char *pool, const char *host,
                       const char *step, int percent, const char *message)
{
    struct engine *eng = ctx;
    struct eng_event x = {(char *)rollout, (char *)pool,    (char *)host,
                          (char *)step,    (char *)message, percent};
    const struct xapi_value *rec = NULL;
    struct xapi_client *c = NULL;
    const char *ref = host ? host_lookup(eng, pool, host, &rec, &c) : NULL;

    refresh_cdn_after(eng, pool, step);
    json_t *ev = event_json(eng, &x, ref);
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    record_facts(eng, &x, ref, c, rec);
    record_calls(eng, &x);
    if (rollout) {
        struct eng_event *q = vec_grow_implied(eng->pending_events, eng->n_pending_events,
                                               sizeof(*eng->pending_events));
        eng->pending_events = q;
        q[eng->n_pending_events++] = (struct eng_event){xstrdup(rollout),
                                                        xstrdup(pool),
                                                        xstrdup(host),
                                                        xstrdup(step),
                                                        xstrdup(message ? message : ""),
                                                        percent};
    }
    pthread_mutex_lock(&eng->sublock);
    for (size_t i = 0; i < eng->n_subs; i++)
        eng->subs[i].cb(eng->subs[i].ud, text);
    pthread_mutex_unlock(&eng->sublock);
    free(text);
}

static void event_free(struct eng_event *x)
{
    free(x->rollout);
    free(x->pool);
    free(x->host);
    free(x->step);
    free(x->message);
}

static int flush_one(struct engine *eng, size_t i, struct err *e)
{
    if (i < eng->n_pending_events) {
        const struct eng_event *x = &eng->pending_events[i];
        struct store_event_spec spec = {.rollout_id = x->rollout,
                                        .pool = x->pool,
                                        .host = x->host,
                                        .step = x->step,
                                        .percent = x->percent,
                                        .message = x->message};
        return store_event_add(eng->store, &spec, NULL, e);
    }
    const struct eng_facts *f = &eng->pending_facts[i - eng->n_pending_events];
    return store_host_facts_set(eng->store, f->rollout, f->pool, f->host, f->facts_json, e);
}

/* Write the turn's events and host facts in one transaction (see engine_int.h). */
void engine_events_flush(struct engine *eng)
{
    size_t n = eng->n_pending_events + eng->n_pending_facts;
    struct err e = {0};
    if (n == 0 || !eng->store)
        return;
    bool tx = store_tx_begin(eng->store, &e) == 0;
    for (size_t i = 0; i < n; i++) {
        if (flush_one(eng, i, &e) != 0)
            log_warn(LOG_MOD, "recording progress: %s", e.msg);
    }
    if (tx && store_tx_commit(eng->store, &e) != 0)
        log_warn(LOG_MOD, "recording progress: %s", e.msg);
    for (size_t i = 0; i < eng->n_pending_events; i++)
        event_free(&eng->pending_events[i]);
    for (size_t i = 0; i < eng->n_pending_facts; i++) {
        free(eng->pending_facts[i].rollout);
        free(eng->pending_facts[i].pool);
        free(eng->pending_facts[i].host);
        free(eng->pending_facts[i].facts_json);
    }
    eng->n_pending_events = eng->n_pending_facts = 0;
}

/* Subscribe to progress events (see engine.h).  Any thread. */
int engine_subscribe(struct engine *eng, void (*cb)(void *ud, const char *event_json), void *ud)
{
    int id;

    if (!eng || !cb)
        return PP_EINVAL;
    pthread_mutex_lock(&eng->sublock);
    eng->subs = vec_grow_implied(eng->subs, eng->n_subs, sizeof(*eng->subs));
    id = ++eng->next_sub_id;
    eng->subs[eng->n_subs++] = (struct eng_sub){.id = id, .cb = cb, .ud = ud};
    pthread_mutex_unlock(&eng->sublock);
    return id;
}

/* Remove a subscription; unknown ids are ignored.  Any thread. */
void engine_unsubscribe(struct engine *eng, int id)
{
    if (!eng)
        return;
    pthread_mutex_lock(&eng->sublock);
    for (size_t i = 0; i < eng->n_subs; i++) {
        if (eng->subs[i].id == id) {
            memmove(&eng->subs[i], &eng->subs[i + 1], (eng->n_subs - i - 1) * sizeof(*eng->subs));
            eng->n_subs--;
            break;
        }
    }
    pthread_mutex_unlock(&eng->sublock);
}
