/* SPDX-License-Identifier: MIT */
/*
 * engine_plans.c - plan and rollout requests on the engine thread: the request checked against
 * the registered pools and the catalogs, each selected pool planned from its live inventory
 * (plan_build; the REST shape is engine_plan_json.c's), rollouts started, retried and cancelled
 * through the executor, an upgrade's manual host actions and host forget (host.destroy).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/jparts.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"
#include "engine/engine_int.h"
#include "engine/engine_req.h"
#include <time.h>

#include "base/clock.h"
#include "engine/exec.h"
#include "plan/plan.h"
#include "xapi/client.h"

#define LOG_MOD "engine"

/* ------------------------------------------------------------------ plans */

bool engine_pool_selected(const struct plan_req_copy *pr, const char *name)
{
    if (pr->n_pools == 0)
        return true;
    for (size_t i = 0; i < pr->n_pools; i++)
        if (strcmp(pr->pools[i], name) == 0)
            return true;
    return false;
}

/* The plan options pr asks for; o borrows pr's strings.  Pure. */
void engine_plan_opts_from_req(const struct plan_req_copy *pr, struct plan_opts *o)
{
    plan_opts_init(o);
    o->policy = pr->policy == ENGINE_POLICY_RETURN ? PLAN_POLICY_RETURN : PLAN_POLICY_MINIMAL;
    o->max_parallel_hosts = pr->max_parallel;
    o->manual_post_tasks = pr->manual_post_tasks;
    if (!pr->automated && pr->n_updates > 0) {
        o->mode = PLAN_MODE_SELECTED;
        o->selected = (const char *const *)pr->updates;
        o->n_selected = pr->n_updates;
    } else {
        o->mode = pr->stay_on_release ? PLAN_MODE_STAY : PLAN_MODE_AUTOMATED;
    }
    if (pr->upgrade_to) {
        o->mode = PLAN_MODE_UPGRADE;
        o->upgrade_to = pr->upgrade_to;
        o->upgrade_url = pr->upgrade_url;
        o->upgrade_manual = pr->upgrade_manual;
        o->upgrade_apply_updates = pr->upgrade_apply_updates;
        o->upgrade_shutdown = (const char *const *)pr->shutdown;
        o->n_upgrade_shutdown = pr->n_shutdown;
    }
}

/* The options for one pool: a XenServer 8 pool updates one host at a time, because xapi
 * serializes host.apply_updates pool-wide (APPLY_UPDATES_IN_PROGRESS; xapi.md section 2), as
 * XenCenter and xen-api's powershell/Updates.ps1 go host by host. */
void engine_pool_plan_opts(const struct plan_opts *o, bool cdn, struct plan_opts *out)
{
    *out = *o;
    if (cdn)
        out->max_parallel_hosts = 1;
}

/* The uuid of an update given by uuid or name-label, or NULL when the catalog lacks it. */
const char *engine_resolve_update(const struct catalog *cat, const char *id)
{
    const struct cat_patch *p = cat ? catalog_find_patch(cat, id) : NULL;

    for (size_t i = 0; !p && cat && i < cat->n_patches; i++)
        if (str_eq(cat->patches[i].name_label, id))
            p = &cat->patches[i];
    return p ? p->uuid : NULL;
}

/* Check the request names only registered pools and known updates, and a catalog exists.
 * Update names are replaced by their uuids. */
int engine_plan_req_check(struct engine *eng, struct plan_req_copy *pr, struct err *e)
{
    bool legacy = false;

    for (size_t i = 0; i < pr->n_pools; i++) {
        /* pools by registered name, name-label or uuid; from here on, the registered name */
        struct eng_pool *p = engine_resolve_pool(eng, pr->pools[i], e);
        if (!p)
            return e ? e->code : PP_ENOTFOUND;
        if (!str_eq(p->name, pr->pools[i])) {
            free(pr->pools[i]);
            pr->pools[i] = xstrdup(p->name);
        }
    }
    /* the legacy catalog is needed unless every selected pool takes repository updates */
    for (size_t i = 0; i < eng->n_pools; i++)
        legacy = legacy || (engine_pool_selected(pr, eng->pools[i]->name) &&
                            !engine_pool_is_cdn(eng->pools[i]));
    if (!eng->catalog && legacy && !pr->upgrade_to) /* an upgrade needs no catalog */
        return err_set(e, PP_ESTATE,
                       "no update catalog yet: check for updates first (poolpatch updates check)");
    if (eng->n_pools == 0)
        return err_set(e, PP_ESTATE, "no pools registered: add one with poolpatch pool add");
    if (pr->file && !pr->fc) {
        /* an update file: exactly the update it holds (its own update.xml), nothing else */
        if (pr->n_updates || pr->automated)
            return err_set(e, PP_EINVAL, "file: cannot be combined with updates or automated");
        if (engine_file_choose(eng, eng->catalog, pr->file, &pr->fc, e) != 0)
            return e ? e->code : PP_EINVAL;
        pr->updates = xcalloc(1, sizeof(*pr->updates));
        pr->updates[0] = xstrdup(pr->fc->uuid);
        pr->n_updates = 1;
    }
    for (size_t i = 0; i < pr->n_updates; i++) {
        const char *uuid = engine_resolve_update(eng->catalog, pr->updates[i]);
        /* a repository update id (XenServer 8 pools apply all their updates at once) */
        for (size_t k = 0; !uuid && k < eng->n_pools; k++)
            if (engine_pool_is_cdn(eng->pools[k]) && engine_pool_selected(pr, eng->pools[k]->name))
                uuid = engine_resolve_update(eng->pools[k]->cdn, pr->updates[i]);
        if (!uuid && engine_is_version_key(eng->catalog, pr->updates[i])) /* a new release row */
            return err_set(e, PP_EINVAL,
                           "'%s' is a new release, installed by a rolling pool upgrade: "
                           "poolpatch upgrade POOL... --to %s --url INSTALL_MEDIA_URL (or "
                           "--manual); REST POST /api/v1/upgrades",
                           pr->updates[i], pr->updates[i]);
        if (!uuid)
            return err_set(e, PP_ENOTFOUND,
                           "update '%s' is not in the catalog (give its uuid or name; "
                           "'poolpatch updates' lists them)",
                           pr->updates[i]);
        if (strcmp(uuid, pr->updates[i]) != 0) {
            free(pr->updates[i]);
            pr->updates[i] = xstrdup(uuid);
        }
    }
    return 0;
}

/* Where the pools' plans go: a JSON array (the tree), or each pool's text into a document in
 * parts (the streamed answer); the fleet totals are summed from totals[] either way. */
struct plan_sink {
    json_t *pools;        /* the tree's "pools", or NULL */
    struct jparts *parts; /* the document's items, or NULL */
    json_t *totals;       /* [{"totals": pool totals}...], for engine_plan_fleet_totals */
};

/* One pool's plan as the thread that built it left it. */
struct pool_out {
    int rc; /* 0, or err says why the pool could not be planned */
    struct err err;
    bool left_out;  /* a host selection chose none of its hosts */
    json_t *totals; /* the pool plan's totals (a reference) */
    json_t *pj;     /* a tree sink: the pool's plan */
    char *text;     /* a document in parts: the plan's compact text */
};

/* The pools of a snapshot planned by one or two threads, each taking the next pool not taken
 * (planning is pure: plan_build and the plan's JSON read the shared inventory and catalogs
 * only).  The answer is assembled in pool order afterwards, so it is the same text whoever
 * planned which pool; an error is the first failing pool's in that order. */
struct plan_work {
    struct eng_snapshot *s;
    struct plan_req_copy *pr;
    const struct plan_opts *o;
    bool text; /* the pools' texts wanted (a document in parts), else their trees */
    struct pool_out *outs;
    atomic_size_t next;   /* the next pool to take */
    atomic_size_t failed; /* the first pool known to have failed (n_pools: none) */
    bool *found2;         /* the helper thread's host matches */
};

/* Plan pool i of the snapshot into outs[i], then let go of its inventory (no longer needed: a
 * fleet's inventories are not all held while the plans' text grows).  With a host selection, a
 * pool with none of the chosen hosts is left out (found[] records the names matched).  A
 * planning thread. */
static void plan_one_pool(struct plan_work *w, size_t i, bool *found)
{
    struct eng_snap_pool *sp = &w->s->pools[i];
    struct pool_out *out = &w->outs[i];
    const struct catalog *cat = sp->cdn ? sp->cat : w->s->catalog;
    struct plan_req_copy *pr = w->pr;
    struct plan *pl = NULL;
    struct plan_opts po;
    char **refs = NULL;
    size_t n_refs = 0;

    if (!sp->inv) {
        out->rc = err_set(&out->err, sp->error_code ? sp->error_code : PP_ESTATE, "%s",
                          sp->error ? sp->error : "");
        return;
    }
    if (pr->n_hosts) {
        refs =
            engine_hosts_pick(sp->inv, (const char *const *)pr->hosts, pr->n_hosts, found, &n_refs);
        out->left_out = !n_refs;
    }
    engine_pool_plan_opts(w->o, sp->cdn, &po);
    po.hosts = (const char *const *)refs;
    po.n_hosts = n_refs;
    if (out->left_out) {
        /* nothing to plan */
    } else if (plan_build(sp->inv, cat, &po, &pl, &out->err) != 0) {
        err_prefix(&out->err, "pool %s: ", sp->name);
        out->rc = out->err.code ? out->err.code : PP_EINVAL;
    } else {
        json_t *pj = pr->detail == ENGINE_PLAN_DETAIL_SUMMARY
                         ? engine_plan_pool_summary_json(pl, sp->inv, cat, sp->name)
                         : engine_plan_pool_json(pl, sp->inv, cat, sp->name);
        if (pr->fc) /* one planning thread with a file (plan_threads) */
            engine_file_judge(pr->fc, sp->name, sp->cdn, pl);
        out->totals = json_incref(json_object_get(pj, "totals"));
        if (w->text) {
            out->text = json_dumps(pj, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!out->text)
                out->rc = err_set(&out->err, PP_EINVAL, "pool %s: its plan could not be encoded",
                                  sp->name);
            json_decref(pj);
        } else {
            out->pj = pj;
        }
    }
    plan_free(pl);
    engine_hosts_free(refs, n_refs);
    engine_inv_release(sp->held);
    sp->held = NULL;
    sp->inv = NULL;
}

/* Take pools until none is left (pools after one that failed are left: the answer is the
 * first failure's). */
static void plan_work_run(struct plan_work *w, bool *found)
{
    for (;;) {
        size_t i = atomic_fetch_add(&w->next, 1);
        if (i >= w->s->n_pools)
            return;
        if (i > atomic_load(&w->failed))
            continue;
        plan_one_pool(w, i, found);
        bool failed = w->outs[i].rc != 0;
        size_t f = atomic_load(&w->failed);
        while (failed && i < f && !atomic_compare_exchange_weak(&w->failed, &f, i))
            ;
    }
}

static void *plan_helper(void *arg)
{
    struct plan_work *w = arg;
    plan_work_run(w, w->found2);
    return NULL;
}

/* How many threads plan a snapshot: one by default; two (the caller's and a helper) when the
 * engine's plan_threads asks for it, on a machine with two cores or more, for more than one pool
 * and no update file (its verdict is gathered pool by pool).  Two are the default no more: on
 * the fleet bench's 2-core machine (100 bench-16 pools, the simulator beside the daemon) a
 * summary plan took 340-450 ms on two threads against 120-220 ms on one, the full plan 2.5-3.0 s
 * against 1.1-1.8 s (session 8, docs/performance.md). */
#define ENGINE_PLAN_THREADS 1
static size_t plan_threads(const struct eng_snapshot *s, const struct plan_req_copy *pr)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int most = s->eng->plan_threads > 0 ? s->eng->plan_threads : ENGINE_PLAN_THREADS;
    return s->n_pools < 2 || pr->fc || cpus < 2 || most < 2 ? 1 : 2;
}

/* The pools' plans into the sink in pool order; the first failure's error, the others freed. */
static int plan_collect(struct plan_work *w, struct plan_sink *k, struct err *e)
{
    int rc = 0;

    for (size_t i = 0; i < w->s->n_pools; i++) {
        struct pool_out *out = &w->outs[i];
        if (rc == 0 && out->rc) {
            rc = out->rc;
            if (e)
                *e = out->err;
        }
        if (rc == 0 && !out->left_out) {
            json_array_append_new(k->totals, json_pack("{s:o}", "totals", out->totals));
            out->totals = NULL;
            if (k->pools)
                json_array_append_new(k->pools, out->pj);
            else
                jparts_add_text(k->parts, out->text);
            out->pj = NULL;
            out->text = NULL;
        }
        json_decref(out->totals);
        json_decref(out->pj);
        free(out->text);
    }
    return rc;
}

/* Every pool of the snapshot planned into the sink (found[] the host names matched).  Caller's
 * thread, and a helper thread (plan_threads). */
static int plan_pools(struct eng_snapshot *s, struct plan_req_copy *pr, const struct plan_opts *o,
                      bool *found, struct plan_sink *k, struct err *e)
{
    struct plan_work w = {.s = s, .pr = pr, .o = o, .text = k->parts != NULL};
    pthread_t helper;
    bool helped = false;
    int rc;

    w.outs = xcalloc(s->n_pools ? s->n_pools : 1, sizeof(*w.outs));
    w.found2 = xcalloc(pr->n_hosts + 1, sizeof(bool));
    atomic_init(&w.next, 0);
    atomic_init(&w.failed, s->n_pools);
    if (plan_threads(s, pr) > 1)
        helped = pthread_create(&helper, NULL, plan_helper, &w) == 0;
    plan_work_run(&w, found);
    if (helped)
        pthread_join(helper, NULL);
    for (size_t i = 0; i < pr->n_hosts; i++)
        found[i] = found[i] || w.found2[i];
    rc = plan_collect(&w, k, e);
    free(w.found2);
    free(w.outs);
    return rc;
}

static bool want_selected(void *ctx, const char *pool)
{
    return engine_pool_selected(ctx, pool);
}

/* R_PLAN (engine thread): the request checked, then a snapshot of the pools it selects; the
 * caller plans them (engine_plan). */
void engine_handle_plan(struct engine *eng, struct eng_req *r)
{
    struct req_plan *a = ENG_REQ_AS(struct req_plan, r);
    int rc = engine_plan_req_check(eng, &a->pr, &r->err);

    if (rc == 0)
        a->snap = engine_snapshot_take(eng, want_selected, &a->pr);
    engine_req_finish(eng, r, rc);
}

/* The plan's JSON around its pools (new reference). */
static json_t *plan_json(const struct eng_snapshot *s, const struct plan_req_copy *pr,
                         const struct plan_opts *o, json_t *totals, json_t *pools)
{
    char ts[32];
    time_t t = (time_t)(s->now_ms / 1000);
    struct tm tm;
    json_t *out;

    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    out = json_pack("{s:s,s:b,s:b,s:i,s:s,s:o,s:o}", "policy",
                    pr->policy == ENGINE_POLICY_RETURN ? "return" : "minimal", "automated",
                    o->mode != PLAN_MODE_SELECTED, "stay_on_release", pr->stay_on_release,
                    "max_parallel", pr->max_parallel, "created", ts, "totals",
                    engine_plan_fleet_totals(totals), "pools", pools);
    if (pr->fc)
        json_object_set_new(out, "file",
                            json_pack("{s:s,s:s,s:s}", "id", pr->file, "name", pr->fc->name,
                                      "update", pr->fc->uuid));
    json_object_set_new(out, "manual_post_tasks", json_boolean(pr->manual_post_tasks));
    json_object_set_new(out, "detail",
                        json_string(pr->detail == ENGINE_PLAN_DETAIL_SUMMARY ? "summary" : "full"));
    if (pr->n_hosts) {
        json_t *hs = json_array();
        for (size_t i = 0; i < pr->n_hosts; i++)
            json_array_append_new(hs, json_string(pr->hosts[i]));
        json_object_set_new(out, "hosts", hs);
    }
    return out;
}

/* Caller's thread: every pool of the snapshot planned into the sink; *out the plan's envelope
 * (new), whose "pools" is the sink's array, or empty when the sink is a document in parts. */
static int plan_snapshot(struct eng_snapshot *s, struct plan_req_copy *pr, struct plan_sink *k,
                         json_t **out, struct err *e)
{
    struct plan_opts o;
    bool *found = xcalloc(pr->n_hosts + 1, sizeof(bool));
    int rc = 0;

    if (pr->detail == ENGINE_PLAN_DETAIL_AUTO) /* a fleet's plan: hosts summarised (issue 17) */
        pr->detail = s->n_pools > ENGINE_PLAN_FULL_MAX_POOLS ? ENGINE_PLAN_DETAIL_SUMMARY
                                                             : ENGINE_PLAN_DETAIL_FULL;
    engine_plan_opts_from_req(pr, &o);
    k->totals = json_array();
    rc = plan_pools(s, pr, &o, found, k, e);
    if (rc == 0)
        rc = engine_hosts_check((const char *const *)pr->hosts, pr->n_hosts, found, e);
    if (rc == 0 && pr->fc)
        rc = engine_file_verdict(pr->fc, e);
    free(found);
    if (rc == 0)
        *out = plan_json(s, pr, &o, k->totals, k->pools ? json_incref(k->pools) : json_array());
    json_decref(k->totals);
    return rc;
}

/* The pools of a rollout with their options; with a host selection each pool's chosen refs
 * (refs[i], n_refs[i]) and pools with none left out.  Returns how many, or -1 with r->err.
 * Engine thread. */
static int rollout_pools(struct engine *eng, struct req_rollout_start *a, const struct plan_opts *o,
                         struct exec_pool_req *pools, struct plan_opts *po, char ***refs,
                         size_t *n_refs)
{
    bool *found = xcalloc(a->pr.n_hosts + 1, sizeof(bool));
    int n = 0;

    for (size_t i = 0; i < eng->n_pools; i++) {
        if (!engine_pool_selected(&a->pr, eng->pools[i]->name))
            continue;
        engine_pool_plan_opts(o, engine_pool_is_cdn(eng->pools[i]), &po[n]);
        if (a->pr.n_hosts) {
            struct inv_pool *inv = engine_pool_inventory(eng, eng->pools[i], &a->h.err);
            if (!inv) {
                free(found);
                return -1;
            }
            refs[n] = engine_hosts_pick(inv, (const char *const *)a->pr.hosts, a->pr.n_hosts, found,
                                        &n_refs[n]);
            inv_pool_free(inv);
            if (!n_refs[n])
                continue;
            po[n].hosts = (const char *const *)refs[n];
            po[n].n_hosts = n_refs[n];
        }
        pools[n].pool = eng->pools[i]->name;
        pools[n].opts = &po[n];
        n++;
    }
    int rc = engine_hosts_check((const char *const *)a->pr.hosts, a->pr.n_hosts, found, &a->h.err);
    free(found);
    return rc ? -1 : n;
}

/* R_ROLLOUT_START (engine thread): the executor starts the rollout; r->str its id. */
void engine_handle_rollout_start(struct engine *eng, struct eng_req *r)
{
    struct req_rollout_start *a = ENG_REQ_AS(struct req_rollout_start, r);
    struct exec_pool_req *pools;
    struct plan_opts o, *po;
    struct exec_file *files;
    struct exec_request xr = {0};
    size_t np = eng->n_pools ? eng->n_pools : 1, nf = a->files.n;
    char *id = NULL, ***refs;
    size_t *n_refs;
    int rc, n;

    if (engine_plan_req_check(eng, &a->pr, &r->err) != 0) {
        engine_req_finish(eng, r, r->err.code);
        return;
    }
    engine_plan_opts_from_req(&a->pr, &o);
    pools = xcalloc(np, sizeof(*pools));
    po = xcalloc(np, sizeof(*po));
    refs = xcalloc(np, sizeof(*refs));
    n_refs = xcalloc(np, sizeof(*n_refs));
    n = rollout_pools(eng, a, &o, pools, po, refs, n_refs);
    files = xcalloc(nf ? nf : 1, sizeof(*files));
    for (size_t i = 0; i < nf; i++) {
        files[i].uuid = a->files.v[i].uuid;
        files[i].path = a->files.v[i].path;
    }
    xr.pools = pools;
    xr.n_pools = n > 0 ? (size_t)n : 0;
    xr.files = files;
    xr.n_files = nf;
    rc = n < 0 ? r->err.code : exec_rollout_start(eng->exec, &xr, &id, &r->err);
    for (size_t i = 0; i < np; i++)
        engine_hosts_free(refs[i], n_refs[i]);
    free(refs);
    free(n_refs);
    free(pools);
    free(po);
    free(files);
    if (rc == 0)
        a->id = id;
    engine_req_finish(eng, r, rc);
}

/* R_RETRY (engine thread): retry a halted rollout. */
void engine_handle_retry(struct engine *eng, struct eng_req *r)
{
    struct req_id *a = ENG_REQ_AS(struct req_id, r);
    engine_req_finish(eng, r, exec_rollout_retry(eng->exec, a->id, &r->err));
}

/* R_CANCEL (engine thread): cancel a rollout. */
void engine_handle_cancel(struct engine *eng, struct eng_req *r)
{
    struct req_id *a = ENG_REQ_AS(struct req_id, r);
    engine_req_finish(eng, r, exec_rollout_cancel(eng->exec, a->id, &r->err));
}

/* R_UPGRADE_HOST (engine thread): an upgrade's manual host action. */
void engine_handle_upgrade_host(struct engine *eng, struct eng_req *r)
{
    struct req_upgrade_host *a = ENG_REQ_AS(struct req_upgrade_host, r);
    engine_req_finish(eng, r,
                      exec_upgrade_host(eng->exec, a->rollout, a->host, a->action, &r->err));
}

struct forget_job {
    struct engine *eng;
    struct eng_req *r;
    char *pool;
};

static void forget_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct forget_job *j = ctx;
    (void)res;
    struct err he = {0};
    if (rc != 0 && e)
        j->r->err = *e;
    /* the pool may have left rolling-upgrade mode: HA deferred by an upgrade comes back */
    if (rc == 0 && exec_upgrade_ha_after_forget(j->eng->exec, j->pool, &he) != 0)
        log_warn(LOG_MOD, "pool %s: turning HA back on: %s", j->pool, he.msg);
    engine_req_finish(j->eng, j->r, rc);
    free(j->pool);
    free(j);
}

/* host.destroy of a supporter named by name-label, uuid or ref (xapi refuses a live one). */
void engine_handle_host_forget(struct engine *eng, struct eng_req *r)
{
    struct req_host_forget *a = ENG_REQ_AS(struct req_host_forget, r);
    struct eng_pool *p = engine_resolve_pool(eng, a->pool, &r->err);
    struct inv_pool *inv = p ? engine_pool_inventory(eng, p, &r->err) : NULL;
    const struct inv_host *h = NULL;
    for (size_t i = 0; inv && i < inv->n_hosts && !h; i++)
        if (str_eq(inv->hosts[i].name_label, a->host) || str_eq(inv->hosts[i].uuid, a->host) ||
            str_eq(inv->hosts[i].ref, a->host))
            h = &inv->hosts[i];
    int rc = !inv ? (r->err.code ? r->err.code : PP_ENOTFOUND)
             : !h ? err_set(&r->err, PP_ENOTFOUND, "pool %s has no host %s", p->name, a->host)
             : str_eq(h->ref, inv->master_ref)
                 ? err_set(&r->err, PP_ESTATE, "%s is the pool's master: it cannot be forgotten",
                           a->host)
                 : 0;
    if (rc == 0) {
        struct forget_job *j = xcalloc(1, sizeof(*j));
        j->eng = eng;
        j->r = r;
        j->pool = xstrdup(p->name);
        struct xapi_value *params = xapi_value_new_array();
        xapi_array_append_string(params, h->ref);
        log_info(LOG_MOD, "pool %s: forgetting host %s (host.destroy)", p->name, a->host);
        rc =
            xapi_call_async(p->client, "host.destroy", params, NULL, forget_done, j, NULL, &r->err);
        if (rc != 0) {
            free(j->pool);
            free(j);
        }
    }
    inv_pool_free(inv);
    if (rc != 0)
        engine_req_finish(eng, r, rc);
}

/* ------------------------------------------------------------------ public requests */

void engine_copy_plan_req(struct plan_req_copy *c, const struct engine_plan_req *r)
{
    c->pools = engine_strv_dup(r->pools, r->n_pools);
    c->n_pools = r->n_pools;
    c->automated = r->automated;
    c->updates = engine_strv_dup(r->updates, r->n_updates);
    c->n_updates = r->n_updates;
    c->file = xstrdup(r->file);
    c->policy = r->policy;
    c->stay_on_release = r->stay_on_release;
    c->max_parallel = r->max_parallel;
    c->upgrade_to = xstrdup(r->upgrade_to);
    c->upgrade_url = xstrdup(r->upgrade_url);
    c->upgrade_manual = r->upgrade_manual;
    c->upgrade_apply_updates = r->upgrade_apply_updates;
    c->shutdown = engine_strv_dup(r->shutdown, r->n_shutdown);
    c->n_shutdown = r->n_shutdown;
    c->hosts = engine_strv_dup(r->hosts, r->n_hosts);
    c->n_hosts = r->n_hosts;
    c->manual_post_tasks = r->manual_post_tasks;
    c->detail = r->detail;
}

/* Plan (see engine.h): checked and snapshotted on the engine thread, planned on this one.
 * *out new reference.  Any thread but the engine's. */
int engine_plan(struct engine *eng, const struct engine_plan_req *req, json_t **out, struct err *e)
{
    struct req_plan *r = ENG_REQ_NEW(struct req_plan, R_PLAN);
    struct plan_sink k = {.pools = json_array()};
    int rc;

    *out = NULL;
    engine_copy_plan_req(&r->pr, req);
    rc = engine_req_submit(eng, &r->h, e);
    if (rc == 0)
        rc = plan_snapshot(r->snap, &r->pr, &k, out, e);
    json_decref(k.pools);
    engine_req_unref(eng, &r->h);
    return rc;
}

/* The same plan as a document in parts (see engine.h): each pool's JSON built, serialised and
 * freed in turn, so that a fleet's plan never exists as one tree.  Any thread but the engine's. */
int engine_plan_parts(struct engine *eng, const struct engine_plan_req *req, struct jparts **out,
                      struct err *e)
{
    struct req_plan *r = ENG_REQ_NEW(struct req_plan, R_PLAN);
    struct plan_sink k = {.parts = jparts_new()};
    json_t *env = NULL;
    int rc;

    *out = NULL;
    engine_copy_plan_req(&r->pr, req);
    rc = engine_req_submit(eng, &r->h, e);
    if (rc == 0)
        rc = plan_snapshot(r->snap, &r->pr, &k, &env, e);
    if (rc == 0)
        rc = jparts_set_envelope(k.parts, env, "pools", e);
    json_decref(env);
    engine_req_unref(eng, &r->h);
    if (rc != 0) {
        jparts_free(k.parts);
        return rc;
    }
    *out = k.parts;
    return 0;
}

static int id_request(struct engine *eng, enum req_kind k, const char *id, struct err *e)
{
    struct req_id *r = ENG_REQ_NEW(struct req_id, k);
    r->id = xstrdup(id ? id : "");
    return engine_req_run(eng, &r->h, NULL, e);
}

/* Retry a rollout (see engine.h).  Any thread but the engine's. */
int engine_rollout_retry(struct engine *eng, const char *id, struct err *e)
{
    return id_request(eng, R_RETRY, id, e);
}

/* Cancel a rollout (see engine.h).  Any thread but the engine's. */
int engine_rollout_cancel(struct engine *eng, const char *id, struct err *e)
{
    return id_request(eng, R_CANCEL, id, e);
}

/* An upgrade's manual host action (see engine.h).  Any thread but the engine's. */
int engine_upgrade_host(struct engine *eng, const char *id, const char *host, const char *action,
                        struct err *e)
{
    struct req_upgrade_host *r = ENG_REQ_NEW(struct req_upgrade_host, R_UPGRADE_HOST);
    r->rollout = xstrdup(id ? id : "");
    r->host = xstrdup(host ? host : "");
    r->action = xstrdup(action ? action : "");
    return engine_req_run(eng, &r->h, NULL, e);
}

/* Forget a host left out of an upgrade (see engine.h).  Any thread but the engine's. */
int engine_host_forget(struct engine *eng, const char *pool, const char *host, struct err *e)
{
    struct req_host_forget *r = ENG_REQ_NEW(struct req_host_forget, R_HOST_FORGET);
    r->pool = xstrdup(pool ? pool : "");
    r->host = xstrdup(host ? host : "");
    return engine_req_run(eng, &r->h, NULL, e);
}
