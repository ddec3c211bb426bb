/* SPDX-License-Identifier: MIT */
/*
 * engine_dismiss.c - the Updates tab's requests: the views and CSV (a snapshot from the engine
 * thread, built by engine_views.c on the caller's thread), and dismissing / restoring updates
 * (engine thread), kept as XenCenter keeps them in each pool's other_config
 * (pool.remove_from_other_config then add_to_other_config), answered once each pool's object
 * cache shows the write.
 */
#include <stdlib.h>
#include <string.h>

#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"
#include "engine/engine_int.h"
#include "engine/engine_req.h"
#include "plan/alerts.h"
#include "xapi/client.h"

#define LOG_MOD "engine"

/* R_SNAPSHOT (engine thread): every pool and the catalogs, for a view built by the caller. */
void engine_handle_snapshot(struct engine *eng, struct eng_req *r)
{
    ENG_REQ_AS(struct req_snapshot, r)->snap = engine_snapshot_take(eng, NULL, NULL);
    engine_req_finish(eng, r, 0);
}

/* Caller's thread: a snapshot of every pool (engine_snapshot_free), or NULL with e filled. */
struct eng_snapshot *engine_snapshot_get(struct engine *eng, struct err *e)
{
    struct req_snapshot *r = ENG_REQ_NEW(struct req_snapshot, R_SNAPSHOT);
    struct eng_snapshot *s = NULL;

    if (engine_req_submit(eng, &r->h, e) == 0) {
        s = r->snap;
        r->snap = NULL;
    }
    engine_req_unref(eng, &r->h);
    return s;
}

/* The view's update ids (heap strings in *keys): dismiss all (engine thread). */
static int all_update_keys(struct engine *eng, char ***keys, size_t *n, struct err *e)
{
    struct eng_snapshot *s = engine_snapshot_take(eng, NULL, NULL);
    json_t *view = NULL, *row;
    size_t i;
    int rc = engine_views_json(s, ENGINE_VIEW_BY_UPDATE, ENGINE_SORT_DATE, &view, e);

    engine_snapshot_free(s);
    if (rc != 0)
        return rc;
    json_array_foreach(json_object_get(view, "updates"), i, row)
    {
        const char *k = jsonx_str(row, "id", NULL);
        if (k) {
            *keys = vec_grow_implied(*keys, *n, sizeof(char *));
            (*keys)[(*n)++] = xstrdup(k);
        }
    }
    json_decref(view);
    return 0;
}

/* One pool's other_config update: remove key, then add it with value (NULL: remove only). */
struct oc_job {
    struct eng_req *req; /* a struct req_dismiss */
    struct engine *eng;
    struct eng_pool *pool;
    char *pool_ref;
    char *key;
    char *value;
};

static void oc_job_free(struct oc_job *j)
{
    free(j->pool_ref);
    free(j->key);
    free(j->value);
    free(j);
}

static void oc_job_end(struct oc_job *j, int rc, const struct err *e)
{
    struct eng_req *r = j->req;
    struct req_dismiss *a = ENG_REQ_AS(struct req_dismiss, r);

    if (rc != 0 && r->rc == 0) {
        r->rc = rc;
        r->err = *e;
        if (str_eq(e->xapi_code, "RBAC_PERMISSION_DENIED"))
            err_prefix(&r->err,
                       "pool %s: the account may not change the pool's other_config "
                       "(dismissals are stored there, as XenCenter does; use an account "
                       "with the Pool Operator role or higher): ",
                       j->pool->name);
        else
            err_prefix(&r->err, "pool %s: ", j->pool->name);
    }
    if (--a->pending == 0)
        engine_req_finish(j->eng, r, r->rc);
    oc_job_free(j);
}

/* Does the pool's cached record show the job's write yet (key = value, or key gone)? */
static bool oc_job_visible(void *ctx, struct xapi_client *c)
{
    struct oc_job *j = ctx;
    const struct xapi_value *rec = xapi_cache_get(c, "pool", j->pool_ref);
    const char *v;

    if (!rec)
        return true; /* nothing cached to wait for */
    v = xapi_struct_str(xapi_struct_get(rec, "other_config"), j->key, NULL);
    return j->value ? v && strcmp(v, j->value) == 0 : v == NULL;
}

static void oc_job_seen(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct oc_job *j = ctx;

    (void)res;
    if (rc != 0)
        log_warn(LOG_MOD, "pool %s: %s written, but the views may show it late: %s", j->pool->name,
                 j->key, e ? e->msg : err_code_name(rc));
    oc_job_end(j, 0, NULL); /* the write itself succeeded */
}

/*
 * The write succeeded; end the job once the object cache (fed by event.from on another
 * connection) shows it, so that a view read right after the request already has it.
 */
static void oc_job_written(struct oc_job *j)
{
    struct err e = {0};

    if (xapi_cache_wait(j->pool->client, oc_job_visible, j, 5000, oc_job_seen, j, NULL, &e) != 0)
        oc_job_end(j, 0, NULL);
}

static void oc_added(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)res;
    if (rc != 0)
        oc_job_end(ctx, rc, e);
    else
        oc_job_written(ctx);
}

static void oc_removed(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct oc_job *j = ctx;
    struct xapi_value *params;
    struct err e2 = {0};

    (void)res;
    if (rc != 0) {
        oc_job_end(j, rc, e);
        return;
    }
    if (!j->value) {
        oc_job_written(j);
        return;
    }
    params = xapi_value_new_array();
    xapi_array_append_string(params, j->pool_ref);
    xapi_array_append_string(params, j->key);
    xapi_array_append_string(params, j->value);
    if (xapi_call_async(j->pool->client, "pool.add_to_other_config", params, NULL, oc_added, j,
                        NULL, &e2) != 0)
        oc_job_end(j, e2.code ? e2.code : PP_ETRANSPORT, &e2);
}

/* Start setting (value) or removing (value NULL) key in the pool's other_config. */
static void oc_job_start(struct engine *eng, struct eng_req *r, struct eng_pool *p,
                         const char *pool_ref, const char *key, const char *value)
{
    struct req_dismiss *a = ENG_REQ_AS(struct req_dismiss, r);
    struct oc_job *j = xcalloc(1, sizeof(*j));
    struct xapi_value *params = xapi_value_new_array();
    struct err e = {0};

    j->req = r;
    j->eng = eng;
    j->pool = p;
    j->pool_ref = xstrdup(pool_ref);
    j->key = xstrdup(key);
    j->value = xstrdup(value);
    a->pending++;
    xapi_array_append_string(params, pool_ref);
    xapi_array_append_string(params, key);
    if (xapi_call_async(p->client, "pool.remove_from_other_config", params, NULL, oc_removed, j,
                        NULL, &e) != 0) {
        a->pending--;
        if (r->rc == 0) {
            r->rc = e.code ? e.code : PP_ETRANSPORT;
            r->err = e;
        }
        oc_job_free(j);
    }
}

/* Is key a server version value of the catalog (a version alert's key)? */
bool engine_is_version_key(const struct catalog *cat, const char *key)
{
    for (size_t i = 0; cat && i < cat->n_versions; i++)
        if (strcmp(cat->versions[i].value, key) == 0 && !catalog_find_patch(cat, key))
            return true;
    return false;
}

/* R_DISMISS (engine thread): the keys added to each connected pool's other_config. */
void engine_handle_dismiss(struct engine *eng, struct eng_req *r)
{
    struct req_dismiss *a = ENG_REQ_AS(struct req_dismiss, r);
    char **keys = a->ids;
    size_t n_keys = a->n_ids;
    char **all_keys = NULL;
    size_t n_all = 0;

    if (a->all) {
        if (all_update_keys(eng, &all_keys, &n_all, &r->err) != 0) {
            engine_strv_free(all_keys, n_all);
            engine_req_finish(eng, r, r->err.code);
            return;
        }
        keys = all_keys;
        n_keys = n_all;
    } else {
        /* uuids or name-labels of patches, or version values (new release rows); anything else
         * would be stored in other_config for nothing while the user is told it was dismissed */
        for (size_t i = 0; i < a->n_ids; i++) {
            const char *k = engine_is_version_key(eng->catalog, a->ids[i])
                                ? a->ids[i]
                                : engine_resolve_update(eng->catalog, a->ids[i]);
            /* a XenServer 8 pool's repository update (its id, or its title) */
            for (size_t p = 0; !k && p < eng->n_pools; p++)
                if (engine_pool_is_cdn(eng->pools[p]))
                    k = engine_resolve_update(eng->pools[p]->cdn, a->ids[i]);
            if (!k) {
                engine_strv_free(all_keys, n_all);
                engine_req_finish(
                    eng, r,
                    err_set(&r->err, PP_ENOTFOUND,
                            "no update '%s' in the catalog (ids are in 'poolpatch updates "
                            "--json')%s",
                            a->ids[i], eng->catalog ? "" : "; check for updates first"));
                return;
            }
            all_keys = vec_grow_implied(all_keys, n_all, sizeof(char *));
            all_keys[n_all++] = xstrdup(k);
        }
        keys = all_keys;
        n_keys = n_all;
    }
    r->rc = 0;
    for (size_t i = 0; i < eng->n_pools; i++) {
        struct eng_pool *p = eng->pools[i];
        struct err e = {0};
        struct inv_pool *inv = engine_pool_inventory(eng, p, &e);
        char *patches, *versions;

        if (!inv)
            continue; /* a disconnected pool keeps its dismissals; the view says it is offline */
        patches = xstrdup(inv->ignore_patches);
        versions = xstrdup(inv->last_seen_versions);
        for (size_t k = 0; k < n_keys; k++) {
            bool ver = engine_is_version_key(eng->catalog, keys[k]);
            char **target = ver ? &versions : &patches;
            char *nv = alerts_dismiss_value(*target, keys[k], !ver);
            free(*target);
            *target = nv;
        }
        if (strcmp(patches, inv->ignore_patches) != 0)
            oc_job_start(eng, r, p, inv->ref, ALERTS_IGNORE_PATCHES_KEY, patches);
        if (strcmp(versions, inv->last_seen_versions) != 0)
            oc_job_start(eng, r, p, inv->ref, ALERTS_LAST_SEEN_VERSION_KEY, versions);
        free(patches);
        free(versions);
        inv_pool_free(inv);
    }
    engine_strv_free(all_keys, n_all);
    if (a->pending == 0)
        engine_req_finish(eng, r, r->rc);
}

/* R_RESTORE (engine thread): the dismissal keys removed from each connected pool. */
void engine_handle_restore(struct engine *eng, struct eng_req *r)
{
    struct req_dismiss *a = ENG_REQ_AS(struct req_dismiss, r);
    r->rc = 0;
    for (size_t i = 0; i < eng->n_pools; i++) {
        struct eng_pool *p = eng->pools[i];
        struct err e = {0};
        struct inv_pool *inv = engine_pool_inventory(eng, p, &e);

        if (!inv)
            continue;
        if (*inv->ignore_patches)
            oc_job_start(eng, r, p, inv->ref, ALERTS_IGNORE_PATCHES_KEY, NULL);
        if (*inv->last_seen_versions)
            oc_job_start(eng, r, p, inv->ref, ALERTS_LAST_SEEN_VERSION_KEY, NULL);
        inv_pool_free(inv);
    }
    if (a->pending == 0)
        engine_req_finish(eng, r, r->rc);
}

/* The Updates view (see engine.h).  Any thread but the engine's. */
int engine_updates_view(struct engine *eng, enum engine_view view, enum engine_sort sort,
                        json_t **out, struct err *e)
{
    struct eng_snapshot *s = engine_snapshot_get(eng, e);
    int rc;

    *out = NULL;
    if (!s)
        return e && e->code ? e->code : PP_ESTATE;
    rc = engine_views_json(s, view, sort, out, e); /* here, not on the engine thread */
    engine_snapshot_free(s);
    return rc;
}

/* A view as CSV (see engine.h).  *csv heap.  Any thread but the engine's. */
int engine_updates_csv(struct engine *eng, enum engine_view view, char **csv, struct err *e)
{
    struct eng_snapshot *s = engine_snapshot_get(eng, e);
    int rc;

    *csv = NULL;
    if (!s)
        return e && e->code ? e->code : PP_ESTATE;
    rc = engine_views_csv(s, view, csv, e);
    engine_snapshot_free(s);
    return rc;
}

/* Dismiss updates (see engine.h).  Any thread but the engine's. */
int engine_updates_dismiss(struct engine *eng, const char *const *ids, size_t n, bool all,
                           struct err *e)
{
    struct req_dismiss *r;

    if (!all && n == 0)
        return err_set(e, PP_EINVAL, "dismiss: name at least one update, or all");
    r = ENG_REQ_NEW(struct req_dismiss, R_DISMISS);
    r->ids = engine_strv_dup(ids, n);
    r->n_ids = n;
    r->all = all;
    return engine_req_run(eng, &r->h, NULL, e);
}

/* Restore dismissed updates, then re-check (see engine.h).  Any thread but the engine's. */
int engine_updates_restore(struct engine *eng, struct err *e)
{
    json_t *out = NULL;
    int rc = engine_req_run(eng, engine_req_new(R_RESTORE, sizeof(struct req_dismiss)), NULL, e);

    if (rc != 0)
        return rc;
    /* XenCenter re-checks after restoring; a failed fetch leaves the restore done */
    if (engine_updates_check(eng, &out, e) != 0)
        log_warn(LOG_MOD, "re-check after restoring dismissed updates: %s", e ? e->msg : "");
    json_decref(out);
    err_clear(e);
    return 0;
}
