/* SPDX-License-Identifier: MIT */
/*
 * engine_queue.c - the engine's request queue: requests other threads post and wait for (with a
 * timeout, and withdrawn unrun when the engine did not start them in time), the handler table
 * that maps each request kind to its handler, and the engine thread's loop that takes the queued
 * requests, ticks the executor, writes the turn's events and sleeps in the XAPI loop.
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
#include "engine/exec.h"
#include "xapi/client.h"

#define LOG_MOD "engine"
/* The longest an idle engine thread sleeps: requests and stop wake it (xapi_loop_wakeup),
 * timers and I/O end the wait earlier; this only bounds the cost of a missed wakeup. */
#define LOOP_IDLE_WAIT_MS 60000

/* ------------------------------------------------------------------ small helpers */

/* Caller's thread: append the file item it ({uuid, url?, path, size?}) as typed fields. */
void engine_files_push(struct eng_files *f, const json_t *it)
{
    f->v = vec_grow_implied(f->v, f->n, sizeof(*f->v));
    f->v[f->n++] = (struct eng_file_ref){.uuid = xstrdup(jsonx_str(it, "uuid", "")),
                                         .url = xstrdup(jsonx_str(it, "url", NULL)),
                                         .path = xstrdup(jsonx_str(it, "path", "")),
                                         .size = jsonx_int(it, "size", 0)};
}

/* Free the file refs f holds and empty it.  Any thread. */
void engine_files_cleanup(struct eng_files *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].uuid);
        free(f->v[i].url);
        free(f->v[i].path);
    }
    free(f->v);
    *f = (struct eng_files){0};
}

/* Heap copy of v[0..n) (NULL when n is 0); free with engine_strv_free.  Any thread. */
char **engine_strv_dup(const char *const *v, size_t n)
{
    char **out;

    if (!n)
        return NULL;
    out = xcalloc(n, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

/* Free a vector from engine_strv_dup; NULL is a no-op.  Any thread. */
void engine_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ------------------------------------------------------------------ each kind's cleanup */

static void free_secret(const char *s)
{
    if (s) {
        explicit_bzero((char *)s, strlen(s));
        free((char *)s);
    }
}

static void plan_req_cleanup(struct plan_req_copy *pr)
{
    engine_strv_free(pr->pools, pr->n_pools);
    engine_strv_free(pr->updates, pr->n_updates);
    engine_strv_free(pr->shutdown, pr->n_shutdown);
    free(pr->upgrade_to);
    free(pr->upgrade_url);
    engine_strv_free(pr->hosts, pr->n_hosts);
    free(pr->file);
    engine_file_choice_free(pr->fc);
}

static void cleanup_pool_add(struct eng_req *r)
{
    struct req_pool_add *a = ENG_REQ_AS(struct req_pool_add, r);
    free((char *)a->pool.name);
    free((char *)a->pool.url);
    free((char *)a->pool.username);
    free_secret(a->pool.password);
    free((char *)a->pool.ca_file);
    free((char *)a->pool.fingerprint);
}

static void cleanup_pool_trust(struct eng_req *r)
{
    struct req_pool_trust *a = ENG_REQ_AS(struct req_pool_trust, r);
    free(a->name);
    free(a->host);
    free(a->fingerprint);
}

static void cleanup_pool_set(struct eng_req *r)
{
    free(ENG_REQ_AS(struct req_pool_set, r)->name);
}

static void cleanup_id(struct eng_req *r)
{
    free(ENG_REQ_AS(struct req_id, r)->id);
}

static void cleanup_catalog_put(struct eng_req *r)
{
    struct req_catalog_put *a = ENG_REQ_AS(struct req_catalog_put, r);
    fetch_result_cleanup(&a->fetched);
    catalog_free(a->cat);
}

static void cleanup_snapshot(struct eng_req *r)
{
    engine_snapshot_free(ENG_REQ_AS(struct req_snapshot, r)->snap);
}

static void cleanup_dismiss(struct eng_req *r)
{
    struct req_dismiss *a = ENG_REQ_AS(struct req_dismiss, r);
    engine_strv_free(a->ids, a->n_ids);
}

static void cleanup_plan(struct eng_req *r)
{
    plan_req_cleanup(&ENG_REQ_AS(struct req_plan, r)->pr);
    engine_snapshot_free(ENG_REQ_AS(struct req_plan, r)->snap);
}

static void cleanup_rollout_start(struct eng_req *r)
{
    struct req_rollout_start *a = ENG_REQ_AS(struct req_rollout_start, r);
    plan_req_cleanup(&a->pr);
    engine_files_cleanup(&a->files);
    free(a->id);
}

static void cleanup_download_done(struct eng_req *r)
{
    struct req_download_done *a = ENG_REQ_AS(struct req_download_done, r);
    engine_files_cleanup(&a->files);
    free(a->token.token);
    free(a->token.session_id);
}

static void cleanup_download_needed(struct eng_req *r)
{
    struct req_download_needed *a = ENG_REQ_AS(struct req_download_needed, r);
    engine_strv_free(a->ids, a->n_ids);
}

static void cleanup_upgrade_host(struct eng_req *r)
{
    struct req_upgrade_host *a = ENG_REQ_AS(struct req_upgrade_host, r);
    free(a->rollout);
    free(a->host);
    free(a->action);
}

static void cleanup_host_forget(struct eng_req *r)
{
    struct req_host_forget *a = ENG_REQ_AS(struct req_host_forget, r);
    free(a->pool);
    free(a->host);
}

static void cleanup_client_id(struct eng_req *r)
{
    struct req_client_id *a = ENG_REQ_AS(struct req_client_id, r);
    free(a->username);
    free_secret(a->apikey);
}

/* ------------------------------------------------------------------ requests */

/* Free r with every argument and result it owns (its last reference went). */
void engine_req_free(struct eng_req *r)
{
    void (*cleanup)(struct eng_req *) = engine_req_kinds[r->kind].cleanup;

    if (cleanup)
        cleanup(r);
    json_decref(r->out);
    free(r);
}

/* A new request (engine_req.h): size bytes zeroed, two references.  Any thread. */
struct eng_req *engine_req_new(enum req_kind kind, size_t size)
{
    struct eng_req *r = xcalloc(1, size < sizeof(*r) ? sizeof(*r) : size);
    r->kind = kind;
    r->refs = 2;
    return r;
}

/* Drop one reference to r (under qlock); the last frees it.  Any thread. */
void engine_req_unref(struct engine *eng, struct eng_req *r)
{
    bool last;

    pthread_mutex_lock(&eng->qlock);
    last = --r->refs == 0;
    pthread_mutex_unlock(&eng->qlock);
    if (last)
        engine_req_free(r);
}

/* Engine thread: deliver the answer and drop the engine's reference. */
void engine_req_finish(struct engine *eng, struct eng_req *r, int rc)
{
    /* a GET /pools after this answer shows the pools as they are now at least (a pool added,
     * removed, its properties set) */
    engine_pools_publish(eng);
    r->rc = rc;
    if (rc == 0)
        err_clear(&r->err);
    pthread_mutex_lock(&eng->qlock);
    r->done = true;
    pthread_cond_broadcast(&eng->qdone);
    pthread_mutex_unlock(&eng->qlock);
    engine_req_unref(eng, r);
}

/*
 * Caller thread: post r and wait for the answer.  Returns r->rc, copying the error to e.  The
 * caller keeps its reference and must engine_req_unref after reading the results.
 */
int engine_req_submit(struct engine *eng, struct eng_req *r, struct err *e)
{
    struct timespec ts;
    int rc = 0;

    pthread_mutex_lock(&eng->qlock);
    if (!eng->running || eng->stop) {
        pthread_mutex_unlock(&eng->qlock);
        r->refs--; /* the engine will never see it */
        return err_set(e, PP_ESTATE, "the engine is not running");
    }
    if (eng->qtail)
        eng->qtail->next = r;
    else
        eng->qhead = r;
    eng->qtail = r;
    xapi_loop_wakeup(eng->loop); /* the engine thread may be asleep in the loop */
    ts = clock_deadline_ts(CLOCK_REALTIME, eng->request_timeout_ms);
    while (!r->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&eng->qdone, &eng->qlock, &ts);
    if (!r->done && !r->started) {
        /* withdrawn: the engine thread will drop it unrun (issue 12, no ghost requests) */
        r->withdrawn = true;
        pthread_mutex_unlock(&eng->qlock);
        return err_set(e, PP_ETIMEOUT,
                       "the engine did not take the request within %d ms; it was withdrawn "
                       "and not carried out",
                       eng->request_timeout_ms);
    }
    /* started: wait for its outcome, so that the answer says what happened */
    ts.tv_sec += 4 * (eng->request_timeout_ms / 1000) + 1;
    rc = 0;
    while (!r->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&eng->qdone, &eng->qlock, &ts);
    pthread_mutex_unlock(&eng->qlock);
    if (!r->done)
        return err_set(e, PP_ESTATE,
                       "the engine is still carrying out the request after %d ms; it may take "
                       "effect: check its state before repeating it",
                       5 * eng->request_timeout_ms);
    if (r->rc && e)
        *e = r->err;
    return r->rc;
}

/* Run a request with no special result handling: returns rc and hands *out over. */
int engine_req_run(struct engine *eng, struct eng_req *r, json_t **out, struct err *e)
{
    int rc = engine_req_submit(eng, r, e);

    if (out) {
        *out = NULL;
        if (rc == 0 && r->done) {
            *out = r->out;
            r->out = NULL;
        }
    }
    engine_req_unref(eng, r);
    return rc;
}

/* ------------------------------------------------------------------ holding the engine (tests) */

struct engine_hold {
    struct engine *eng;
    pthread_t poster; /* runs the R_HOLD request (its caller waits for the answer) */
    pthread_mutex_t m;
    pthread_cond_t c;
    bool inside, released;
};

struct req_hold {
    struct eng_req h;
    struct engine_hold *hold;
};

/* R_HOLD (engine thread): wait here until released. */
void engine_handle_hold(struct engine *eng, struct eng_req *r)
{
    struct engine_hold *h = ENG_REQ_AS(struct req_hold, r)->hold;

    pthread_mutex_lock(&h->m);
    h->inside = true;
    pthread_cond_broadcast(&h->c);
    while (!h->released)
        pthread_cond_wait(&h->c, &h->m);
    pthread_mutex_unlock(&h->m);
    engine_req_finish(eng, r, 0);
}

static void *hold_post(void *arg)
{
    struct engine_hold *h = arg;
    struct req_hold *r = ENG_REQ_NEW(struct req_hold, R_HOLD);
    struct err e = {0};

    r->hold = h;
    if (engine_req_run(h->eng, &r->h, NULL, &e) != 0 && !h->inside) {
        pthread_mutex_lock(&h->m); /* never taken: let engine_hold return */
        h->released = true;
        pthread_cond_broadcast(&h->c);
        pthread_mutex_unlock(&h->m);
    }
    return NULL;
}

/* Hold the engine thread (see engine_int.h).  Any thread but the engine's. */
struct engine_hold *engine_hold(struct engine *eng)
{
    struct engine_hold *h = xcalloc(1, sizeof(*h));

    h->eng = eng;
    pthread_mutex_init(&h->m, NULL);
    pthread_cond_init(&h->c, NULL);
    if (pthread_create(&h->poster, NULL, hold_post, h) != 0) {
        pthread_mutex_destroy(&h->m);
        pthread_cond_destroy(&h->c);
        free(h);
        return NULL;
    }
    pthread_mutex_lock(&h->m);
    while (!h->inside && !h->released)
        pthread_cond_wait(&h->c, &h->m);
    bool held = h->inside;
    pthread_mutex_unlock(&h->m);
    if (!held) {
        engine_hold_release(h);
        return NULL;
    }
    return h;
}

/* Let the engine thread go on (see engine_int.h).  NULL is a no-op. */
void engine_hold_release(struct engine_hold *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->m);
    h->released = true;
    pthread_cond_broadcast(&h->c);
    pthread_mutex_unlock(&h->m);
    pthread_join(h->poster, NULL);
    pthread_mutex_destroy(&h->m);
    pthread_cond_destroy(&h->c);
    free(h);
}

/* ------------------------------------------------------------------ the engine thread */

/* The request kinds: name, handler and the cleanup of the kind's own arguments and results,
 * indexed by kind (engine_int.h). */
const struct eng_req_kind engine_req_kinds[] = {
    [R_POOL_ADD] = {R_POOL_ADD, "pool_add", engine_handle_pool_add, cleanup_pool_add},
    [R_POOL_REMOVE] = {R_POOL_REMOVE, "pool_remove", engine_handle_pool_remove, cleanup_id},
    [R_POOL_TRUST] = {R_POOL_TRUST, "pool_trust", engine_handle_pool_trust, cleanup_pool_trust},
    [R_POOL_SET] = {R_POOL_SET, "pool_set", engine_handle_pool_set, cleanup_pool_set},
    [R_HOLD] = {R_HOLD, "hold", engine_handle_hold, NULL},
    [R_CATALOG_META] = {R_CATALOG_META, "catalog_meta", engine_handle_catalog_meta, NULL},
    [R_CATALOG_PUT] = {R_CATALOG_PUT, "catalog_put", engine_handle_catalog_put,
                       cleanup_catalog_put},
    [R_CDN_SYNC] = {R_CDN_SYNC, "cdn_sync", engine_handle_cdn_sync, NULL},
    [R_SNAPSHOT] = {R_SNAPSHOT, "snapshot", engine_handle_snapshot, cleanup_snapshot},
    [R_DISMISS] = {R_DISMISS, "dismiss", engine_handle_dismiss, cleanup_dismiss},
    [R_RESTORE] = {R_RESTORE, "restore", engine_handle_restore, cleanup_dismiss},
    [R_PLAN] = {R_PLAN, "plan", engine_handle_plan, cleanup_plan},
    [R_FILES_NEEDED] = {R_FILES_NEEDED, "files_needed", engine_handle_files_needed, cleanup_plan},
    [R_DOWNLOAD_DONE] = {R_DOWNLOAD_DONE, "download_done", engine_handle_download_done,
                         cleanup_download_done},
    [R_ROLLOUT_START] = {R_ROLLOUT_START, "rollout_start", engine_handle_rollout_start,
                         cleanup_rollout_start},
    [R_RETRY] = {R_RETRY, "retry", engine_handle_retry, cleanup_id},
    [R_CANCEL] = {R_CANCEL, "cancel", engine_handle_cancel, cleanup_id},
    [R_UPGRADE_HOST] = {R_UPGRADE_HOST, "upgrade_host", engine_handle_upgrade_host,
                        cleanup_upgrade_host},
    [R_HOST_FORGET] = {R_HOST_FORGET, "host_forget", engine_handle_host_forget,
                       cleanup_host_forget},
    [R_CLIENT_ID] = {R_CLIENT_ID, "client_id", engine_handle_client_id, cleanup_client_id},
    [R_DOWNLOAD_NEEDED] = {R_DOWNLOAD_NEEDED, "download_needed", engine_handle_download_needed,
                           cleanup_download_needed},
    [R_SET_CHECK_INTERVAL] = {R_SET_CHECK_INTERVAL, "set_check_interval",
                              engine_handle_set_check_interval, NULL},
    [R_SET_DEFAULT_POLICY] = {R_SET_DEFAULT_POLICY, "set_default_policy",
                              engine_handle_set_default_policy, NULL},
};
const size_t engine_n_req_kinds = sizeof(engine_req_kinds) / sizeof(engine_req_kinds[0]);

static void handle(struct engine *eng, struct eng_req *r)
{
    engine_req_kinds[r->kind].handle(eng, r);
}

/* The engine thread (engine_req.h): requests, executor ticks, events, the XAPI loop. */
void *engine_thread_main(void *arg)
{
    struct engine *eng = arg;
    struct err e = {0};

    if (exec_resume_all(eng->exec, &e) != 0)
        log_error(LOG_MOD, "resuming unfinished rollouts: %s", e.msg);
    for (;;) {
        struct eng_req *q;

        pthread_mutex_lock(&eng->qlock);
        if (eng->stop) {
            pthread_mutex_unlock(&eng->qlock);
            break;
        }
        q = eng->qhead;
        eng->qhead = eng->qtail = NULL;
        pthread_mutex_unlock(&eng->qlock);
        while (q) {
            struct eng_req *next = q->next;
            bool skip;
            q->next = NULL;
            pthread_mutex_lock(&eng->qlock);
            skip = q->withdrawn;
            q->started = !skip;
            pthread_mutex_unlock(&eng->qlock);
            if (skip) /* no ghost requests: its caller was told it did not happen */
                engine_req_unref(eng, q);
            else
                handle(eng, q);
            q = next;
        }
        exec_tick(eng->exec);
        engine_graveyard_empty(eng);
        engine_events_flush(eng);
        engine_pools_publish(eng); /* what GET /pools reads: this turn's changes */
        engine_pools_prepare(eng); /* quiet pools' inventories made ahead of the next plan */
        /* sleeps until I/O, the loop's next timer, or a wakeup (request, stop) */
        xapi_loop_run(eng->loop, LOOP_IDLE_WAIT_MS);
    }
    /* answer whatever is still queued */
    pthread_mutex_lock(&eng->qlock);
    {
        struct eng_req *q = eng->qhead;
        eng->qhead = eng->qtail = NULL;
        pthread_mutex_unlock(&eng->qlock);
        while (q) {
            struct eng_req *next = q->next;
            err_set(&q->err, PP_ECANCELLED, "the engine is stopping");
            engine_req_finish(eng, q, PP_ECANCELLED);
            q = next;
        }
    }
    return NULL;
}
