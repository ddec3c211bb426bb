/* SPDX-License-Identifier: MIT */
/*
 * engine_catalog.c - the legacy update catalog (updates.xml): loaded from the store at start,
 * checked on request or periodically (its own checker thread) with a conditional GET on the
 * caller's thread, parsed there, stored and swapped in on the engine thread; the XenServer 8
 * pools' repository reads a check starts first (engine_cdn.c); the check interval setting.
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
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "base/clock.h"
#include "engine/engine_webhook.h"
#include "store/store.h"

#define LOG_MOD           "engine"
#define CATALOG_SOURCE    "updates.xml"
#define CATALOG_MAX_BYTES (64u * 1024 * 1024)

/* ------------------------------------------------------------------ catalog */

void engine_catalog_load_cached(struct engine *eng)
{
    struct store_catalog c = {0};
    struct err e = {0};
    struct catalog *cat = NULL;

    if (store_catalog_get(eng->store, CATALOG_SOURCE, &c, &e) != 0)
        return;
    if (catalog_parse_xml(c.body, c.body_len, NULL, &cat, &e) == 0) {
        engine_catalog_drop(eng, eng->catalog);
        eng->catalog = cat;
        eng->catalog_checked_ms = c.checked_at_ms;
    } else {
        log_warn(LOG_MOD, "the cached catalog no longer parses: %s", e.msg);
    }
    store_catalog_cleanup(&c);
}

static char *catalog_url(struct engine *eng, struct err *e)
{
    char *url = NULL;

    if (eng->catalog_url)
        return xstrdup(eng->catalog_url);
    if (store_get_catalog_url(eng->store, &url, e) != 0)
        return NULL;
    return url;
}

/* R_CATALOG_META: {url, etag, last_modified} for a conditional GET. */
void engine_handle_catalog_meta(struct engine *eng, struct eng_req *r)
{
    struct store_catalog c = {0};
    struct err e = {0};
    char *url = catalog_url(eng, &r->err);

    if (!url) {
        engine_req_finish(eng, r, r->err.code ? r->err.code : PP_EINVAL);
        return;
    }
    r->out = json_pack("{s:s}", "url", url);
    free(url);
    if (eng->catalog && store_catalog_get(eng->store, CATALOG_SOURCE, &c, &e) == 0) {
        if (c.etag)
            json_object_set_new(r->out, "etag", json_string(c.etag));
        if (c.last_modified)
            json_object_set_new(r->out, "last_modified", json_string(c.last_modified));
        store_catalog_cleanup(&c);
    }
    engine_req_finish(eng, r, 0);
}

static json_t *catalog_summary(struct engine *eng)
{
    json_t *o = json_object();
    char ts[20];

    json_object_set_new(o, "loaded", json_boolean(eng->catalog != NULL));
    json_object_set_new(o, "patches",
                        json_integer(eng->catalog ? (json_int_t)eng->catalog->n_patches : 0));
    json_object_set_new(o, "versions",
                        json_integer(eng->catalog ? (json_int_t)eng->catalog->n_versions : 0));
    if (eng->catalog_checked_ms > 0) {
        clock_format_xapi(eng->catalog_checked_ms, ts);
        json_object_set_new(o, "checked_at", json_string(ts));
    } else {
        json_object_set_new(o, "checked_at", json_null());
    }
    return o;
}

/* R_CATALOG_PUT: parse what the caller fetched; only a good catalog replaces the last one. */
void engine_handle_catalog_put(struct engine *eng, struct eng_req *r)
{
    struct req_catalog_put *a = ENG_REQ_AS(struct req_catalog_put, r);
    struct catalog *cat = NULL;

    if (a->fetch_rc != 0) {
        str_lcpy(eng->check_error, r->err.msg, sizeof(eng->check_error));
        engine_req_finish(eng, r, a->fetch_rc);
        return;
    }
    if (a->not_modified) {
        if (store_catalog_touch(eng->store, CATALOG_SOURCE, &r->err) != 0) {
            engine_req_finish(eng, r, r->err.code);
            return;
        }
    } else {
        cat = a->cat; /* parsed by the caller (engine_updates_check) */
        a->cat = NULL;
        if (store_catalog_put(eng->store, CATALOG_SOURCE, a->fetched.body, a->fetched.body_len,
                              a->fetched.etag, a->fetched.last_modified, &r->err) != 0) {
            catalog_free(cat);
            engine_req_finish(eng, r, r->err.code);
            return;
        }
        engine_catalog_drop(eng, eng->catalog); /* a snapshot may still hold it */
        eng->catalog = cat;
    }
    eng->catalog_checked_ms = clock_now_ms(eng->clock);
    eng->check_error[0] = '\0';
    r->out = json_object();
    {
        char ts[32];
        time_t t = (time_t)(eng->catalog_checked_ms / 1000);
        struct tm tm;
        json_t *pools = json_array();
        gmtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(r->out, "checked_at", json_string(ts));
        json_object_set_new(r->out, "catalog_changed", json_boolean(!a->not_modified));
        for (size_t i = 0; i < eng->n_pools; i++) {
            struct eng_pool *p = eng->pools[i];
            /* a pool that lost its master keeps a ready (stale) cache: say it is offline; one
             * logged in whose objects are still on their way says so */
            bool ok = engine_pool_usable(p);
            char why[400];
            json_array_append_new(
                pools, json_pack("{s:s,s:o,s:b,s:o}", "name", p->name, "error",
                                 ok ? json_null()
                                 : p->state == XAPI_CONN_READY
                                     ? json_string(engine_pool_unready(p, why, sizeof(why)))
                                     : json_string(p->error[0] ? p->error
                                                               : xapi_conn_state_name(p->state)),
                                 "repository", engine_pool_is_cdn(p), "repository_error",
                                 p->cdn_error[0] ? json_string(p->cdn_error) : json_null()));
        }
        json_object_set_new(r->out, "pools", pools);
        json_object_set_new(r->out, "catalog", catalog_summary(eng));
    }
    engine_req_finish(eng, r, 0);
}

/* res.updates: how many updates the By Update view now lists (built here, off the engine
 * thread; left out when the engine gives no snapshot). */
static void add_update_count(struct engine *eng, json_t *res)
{
    struct err e = {0};
    struct eng_snapshot *s = engine_snapshot_get(eng, &e);
    json_t *view = NULL;

    if (s && engine_views_json(s, ENGINE_VIEW_BY_UPDATE, ENGINE_SORT_DATE, &view, &e) == 0)
        json_object_set_new(
            res, "updates",
            json_integer((json_int_t)json_array_size(json_object_get(view, "updates"))));
    json_decref(view);
    engine_snapshot_free(s);
}

/* How long a check waits for pools still logging in or reading their objects (a fleet's
 * restarted daemon has them all read in ~11 s: docs/performance.md). */
#define CHECK_POOLS_WAIT_MS 15000

/* Check for updates now (see engine.h): the fetch runs on the calling thread. */
int engine_updates_check(struct engine *eng, json_t **out, struct err *e)
{
    struct eng_req *r = engine_req_new(R_CATALOG_META, sizeof(struct eng_req));
    struct req_catalog_put *put;
    json_t *meta = NULL, *res = NULL;
    struct fetch_result fr = {0};
    int rc;

    if (out)
        *out = NULL;
    {
        /* XenServer 8 pools first: pool.sync_updates + GET /updates on every connected pool
         * (engine_cdn.c); a failure there is reported per pool, not for the whole check */
        struct err ce = {0};
        if (engine_req_run(eng, engine_req_new(R_CDN_SYNC, sizeof(struct req_cdn_sync)), NULL,
                           &ce) != 0)
            log_warn(LOG_MOD, "reading repository updates: %s", ce.msg);
    }
    rc = engine_req_run(eng, r, &meta, e);
    if (rc != 0)
        return rc;
    rc = fetch_url(jsonx_str(meta, "url", ""), json_string_value(json_object_get(meta, "etag")),
                   json_string_value(json_object_get(meta, "last_modified")), CATALOG_MAX_BYTES,
                   &fr, e);
    if (rc != 0) {
        struct err fe = {0};
        err_prefix(e, "checking for updates at %s: ", jsonx_str(meta, "url", ""));
        json_decref(meta);
        put = ENG_REQ_NEW(struct req_catalog_put, R_CATALOG_PUT); /* the failure, for views */
        put->fetch_rc = rc;
        if (e)
            put->h.err = *e;
        else
            err_set(&put->h.err, rc, "checking for updates failed");
        engine_req_run(eng, &put->h, NULL, &fe);
        return rc;
    }
    /* a pool still logging in or reading its objects (the daemon just started, or the pool was
     * just added) is waited for, so that the check does not report a healthy pool "still being
     * read"; a pool whose master is down (a failed login round) is not */
    json_decref(engine_pools_wait_read(eng, NULL, true, CHECK_POOLS_WAIT_MS));
    put = ENG_REQ_NEW(struct req_catalog_put, R_CATALOG_PUT);
    put->fetched = fr;
    put->not_modified = fr.status == 304;
    if (!put->not_modified) {
        /* parsed here, on the caller's thread (up to 64 MiB of XML): the engine thread only
         * stores it and swaps it in */
        int prc = catalog_parse_xml(fr.body, fr.body_len, NULL, &put->cat, &put->h.err);
        if (prc != 0) {
            err_prefix(&put->h.err,
                       "the update catalog was not accepted (the last good one is kept): ");
            put->fetch_rc = prc;
        }
    }
    rc = engine_req_run(eng, &put->h, &res, e);
    if (rc != 0) { /* a catalog that does not parse: say where it came from, as fetch errors do */
        err_prefix(e, "checking for updates at %s: ", jsonx_str(meta, "url", ""));
    } else {
        add_update_count(eng, res);
        engine_webhooks_after_check(eng);
    }
    if (out)
        *out = res;
    else
        json_decref(res);
    json_decref(meta);
    return rc;
}

/* ------------------------------------------------------------------ views, dismissals */

/* R_CDN_SYNC: sync and read every connected pool's repository updates; answers once all
 * ended (r->pending counts them). */
void engine_handle_cdn_sync(struct engine *eng, struct eng_req *r)
{
    struct req_cdn_sync *a = ENG_REQ_AS(struct req_cdn_sync, r);
    a->pending = 1;
    for (size_t i = 0; i < eng->n_pools; i++)
        if (engine_cdn_refresh(eng, eng->pools[i], true, r))
            a->pending++;
    engine_cdn_waiter_done(eng, r);
}

/* A repository read a request waited on ended (see engine_int.h). */
void engine_cdn_waiter_done(struct engine *eng, void *waiter)
{
    struct eng_req *r = waiter;
    struct req_cdn_sync *a = ENG_REQ_AS(struct req_cdn_sync, r);

    if (--a->pending == 0)
        engine_req_finish(eng, r, 0);
}

/* Periodic update checks, on their own thread (they block on the network).  A change of the
 * interval (engine_set_check_interval bumps check_gen) ends the wait: the next check is then a
 * whole new interval away. */
void *engine_checker_main(void *arg)
{
    struct engine *eng = arg;
    bool due = true;

    pthread_mutex_lock(&eng->qlock);
    while (!eng->stop) {
        struct timespec ts;
        int interval = eng->check_interval_s;
        unsigned gen = eng->check_gen;

        pthread_mutex_unlock(&eng->qlock);
        if (due && interval > 0) {
            struct err e = {0};
            json_t *out = NULL;
            if (engine_updates_check(eng, &out, &e) != 0)
                log_warn(LOG_MOD, "periodic update check: %s", e.msg);
            json_decref(out);
        }
        pthread_mutex_lock(&eng->qlock);
        ts = clock_deadline_ts(CLOCK_REALTIME, (int64_t)(interval > 0 ? interval : 3600) * 1000);
        due = true;
        while (!eng->stop) {
            if (eng->check_gen != gen) {
                due = false;
                break;
            }
            if (pthread_cond_timedwait(&eng->checker_wake, &eng->qlock, &ts) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&eng->qlock);
    return NULL;
}

/* R_SET_CHECK_INTERVAL: stored, then the checker is told (engine thread). */
void engine_handle_set_check_interval(struct engine *eng, struct eng_req *r)
{
    struct req_check_interval *a = ENG_REQ_AS(struct req_check_interval, r);
    int rc = store_setting_set_bool(eng->store, STORE_KEY_AUTO_CHECK, a->seconds > 0, &r->err);
    if (rc == 0 && a->seconds > 0)
        rc = store_setting_set_int(eng->store, STORE_KEY_CHECK_INTERVAL, a->seconds, &r->err);
    if (rc == 0) {
        pthread_mutex_lock(&eng->qlock);
        eng->check_interval_s = a->seconds;
        eng->check_gen++;
        pthread_cond_broadcast(&eng->checker_wake);
        pthread_mutex_unlock(&eng->qlock);
        log_info(LOG_MOD, "automatic update checks: %s%d s", a->seconds > 0 ? "every " : "off, ",
                 a->seconds);
    }
    engine_req_finish(eng, r, rc);
}

/* Set the check interval (see engine.h). */
int engine_set_check_interval(struct engine *eng, int seconds, struct err *e)
{
    if (seconds < 0 || seconds > ENGINE_CHECK_INTERVAL_MAX_S)
        return err_set(e, PP_EINVAL,
                       "check_interval_s: %d is out of range (0 = off, or 1 to %d seconds)",
                       seconds, ENGINE_CHECK_INTERVAL_MAX_S);
    struct req_check_interval *r = ENG_REQ_NEW(struct req_check_interval, R_SET_CHECK_INTERVAL);
    r->seconds = seconds;
    return engine_req_run(eng, &r->h, NULL, e);
}

/* The interval in force (see engine.h). */
int engine_check_interval(struct engine *eng)
{
    return eng->check_interval_s;
}
