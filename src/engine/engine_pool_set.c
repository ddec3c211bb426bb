/* SPDX-License-Identifier: MIT */
/*
 * engine_pool_set.c - pool properties that live on the pool itself, set as XenCenter's pool
 * properties set them (engine thread): the live-patching switch, pool.set_live_patching_disabled
 * (xapi's datamodel: pool.live_patching_disabled is an RW field since release "ely", default
 * false; its setter is for the pool-admin and pool-operator roles).  The request is answered once
 * the pool's object cache (event.from) shows the write, with the pool object read from that
 * cache: a plan asked for right after the answer already plans with the new value.
 */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/engine_int.h"
#include "engine/engine_req.h"
#include "xapi/client.h"

#define LOG_MOD "engine"

/* How long the pool's event stream may take to show a write xapi accepted. */
#define POOL_SET_SEEN_MS 15000

/* One write in flight; the pool is looked up again by name in each callback (it may have been
 * removed meanwhile). */
struct pool_set_job {
    struct engine *eng;
    struct eng_req *r;
    char *pool;     /* registered name */
    char *pool_ref; /* the pool object */
    bool value;     /* live_patching_disabled as written */
};

static void job_end(struct pool_set_job *j, int rc)
{
    struct eng_pool *p = rc == 0 ? engine_find_pool(j->eng, j->pool) : NULL;

    if (rc == 0 && !p)
        rc = err_set(&j->r->err, PP_ENOTFOUND,
                     "pool %s was removed while its live-patching switch was written", j->pool);
    if (rc == 0)
        j->r->out = engine_pool_json(p);
    engine_req_finish(j->eng, j->r, rc);
    free(j->pool);
    free(j->pool_ref);
    free(j);
}

/* The pool's first (only) pool object: its ref and cached record. */
struct pool_obj {
    const char *ref;
    const struct xapi_value *rec;
};

static bool first_pool(void *ctx, const char *ref, const struct xapi_value *rec)
{
    struct pool_obj *o = ctx;
    o->ref = ref;
    o->rec = rec;
    return false;
}

/* Does the pool's cached record show the write yet? */
static bool write_seen(void *ctx, struct xapi_client *c)
{
    struct pool_set_job *j = ctx;
    const struct xapi_value *rec = xapi_cache_get(c, "pool", j->pool_ref);

    return !rec || xapi_struct_bool(rec, "live_patching_disabled", false) == j->value;
}

static void seen_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct pool_set_job *j = ctx;

    (void)res;
    if (rc != 0)
        rc = err_set(&j->r->err, PP_ESTATE,
                     "pool %s: xapi accepted pool.set_live_patching_disabled(%s), but the "
                     "pool's event stream did not show it within %d s (%s); it may take effect "
                     "in plans late: check GET /api/v1/pools",
                     j->pool, j->value ? "true" : "false", POOL_SET_SEEN_MS / 1000,
                     e && e->msg[0] ? e->msg : err_code_name(rc));
    job_end(j, rc);
}

static void written(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct pool_set_job *j = ctx;
    struct eng_pool *p = engine_find_pool(j->eng, j->pool);
    struct err we = {0};

    (void)res;
    if (rc != 0) {
        j->r->err = e ? *e : (struct err){.code = rc};
        if (e && str_eq(e->xapi_code, "RBAC_PERMISSION_DENIED"))
            err_prefix(&j->r->err,
                       "pool %s: the account may not change the pool's properties "
                       "(pool.set_live_patching_disabled needs the Pool Operator role or "
                       "higher): ",
                       j->pool);
        else
            err_prefix(&j->r->err, "pool %s: pool.set_live_patching_disabled: ", j->pool);
        job_end(j, rc);
        return;
    }
    log_info(LOG_MOD, "pool %s: live patching %s (pool.live_patching_disabled = %s)", j->pool,
             j->value ? "disabled" : "enabled", j->value ? "true" : "false");
    if (!p ||
        xapi_cache_wait(p->client, write_seen, j, POOL_SET_SEEN_MS, seen_done, j, NULL, &we) != 0)
        job_end(j, 0);
}

/* R_POOL_SET: write what differs from the pool's cached record (engine thread). */
void engine_handle_pool_set(struct engine *eng, struct eng_req *r)
{
    struct req_pool_set *a = ENG_REQ_AS(struct req_pool_set, r);
    struct eng_pool *p = engine_resolve_pool(eng, a->name, &r->err);
    struct pool_obj o = {0};

    if (!p) {
        engine_req_finish(eng, r, r->err.code ? r->err.code : PP_ENOTFOUND);
        return;
    }
    if (p->client && xapi_cache_ready(p->client))
        xapi_cache_foreach(p->client, "pool", first_pool, &o);
    if (!o.ref) {
        char why[400];
        engine_req_finish(eng, r,
                          err_set(&r->err, PP_ESTATE,
                                  "pool %s is %s: its properties cannot be changed now", p->name,
                                  engine_pool_unready(p, why, sizeof(why))));
        return;
    }
    bool want = a->set.live_patching_disabled > 0;
    if (xapi_struct_bool(o.rec, "live_patching_disabled", false) == want) {
        r->out = engine_pool_json(p); /* already so: nothing to send */
        engine_req_finish(eng, r, 0);
        return;
    }
    struct pool_set_job *j = xcalloc(1, sizeof(*j));
    j->eng = eng;
    j->r = r;
    j->pool = xstrdup(p->name);
    j->pool_ref = xstrdup(o.ref);
    j->value = want;
    struct xapi_value *params = xapi_value_new_array();
    xapi_array_append_string(params, o.ref);
    xapi_array_append_take(params, xapi_value_new_bool(want));
    log_info(LOG_MOD, "pool %s: turning live patching %s (pool.set_live_patching_disabled)",
             p->name, want ? "off" : "on");
    int rc = xapi_call_async(p->client, "pool.set_live_patching_disabled", params, NULL, written, j,
                             NULL, &r->err);
    if (rc != 0) {
        free(j->pool);
        free(j->pool_ref);
        free(j);
        err_prefix(&r->err, "pool %s: ", p->name);
        engine_req_finish(eng, r, rc);
    }
}

/* Set pool properties on the pool (see engine.h).  Any thread but the engine's. */
int engine_pool_set(struct engine *eng, const char *name, const struct engine_pool_settings *s,
                    json_t **out, struct err *e)
{
    if (!name || !*name)
        return err_set(e, PP_EINVAL, "pool: give the pool's name");
    if (!s || s->live_patching_disabled < 0)
        return err_set(e, PP_EINVAL, "pool %s: nothing to change (live_patching_disabled)", name);
    struct req_pool_set *r = ENG_REQ_NEW(struct req_pool_set, R_POOL_SET);
    r->name = xstrdup(name);
    r->set = *s;
    return engine_req_run(eng, &r->h, out, e);
}
