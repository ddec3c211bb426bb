/* SPDX-License-Identifier: MIT */
/*
 * engine_cdn.c - XenServer 8 repository ("CDN") updates per pool, on the engine thread.  As
 * XenCenter does (docs/reference/xencenter.md section 1 "CDN JSON"; xenserver/xenadmin
 * XenModel/Actions/Updates/CheckForCdnUpdatesAction.cs) and xen-api's powershell/Updates.ps1:
 * pool.sync_updates(pool, force=false, token "", token_id "") makes the coordinator fetch the
 * repository metadata and answers its hash, then `GET /updates?session_id=S` describes what each
 * host needs.  A pool without an enabled repository answers NO_REPOSITORY_ENABLED (or, before
 * XenServer 8, MESSAGE_METHOD_UNKNOWN) and its /updates is a 404: such a pool is planned from the
 * legacy catalog (updates.xml).  The parsed answer is kept in struct eng_pool (engine_int.h).
 *
 * Every step is asynchronous on the pool's client; a pool removed while a read is in flight
 * detaches it (engine_cdn_pool_retire) and the read ends without touching the pool.
 */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"
#include "engine/engine_int.h"
#include "xapi/http_get.h"

#define LOG_MOD           "engine"
#define SYNC_TIMEOUT_MS   (10 * 60 * 1000) /* a repository sync downloads metadata: minutes */
#define UPDATES_MAX_BYTES (16u * 1024 * 1024)
/* A pool still logging in when a read begins is waited for this long at most (loop clock) */
#define LOGIN_WAIT_MS (15 * 1000)

struct cdn_job {
    struct engine *eng;
    struct eng_pool *p; /* NULL once the pool went away */
    bool sync;
    bool wait_ready;            /* waiting for the pool's login before the first request */
    struct xapi_timer *login_t; /* bounds that wait (LOGIN_WAIT_MS) */
    struct err sync_error;      /* a failed sync (code 0: none) */
    struct err lost;            /* the pool lost its master while a request was out (code 0: no) */
    struct xapi_op *op;
    struct xapi_http_get *get;
    void **waiters;
    size_t n_waiters;
};

static void job_end(struct cdn_job *j, int rc, const struct err *e)
{
    struct eng_pool *p = j->p;

    xapi_timer_cancel(j->eng->loop, &j->login_t);
    if (p) {
        p->cdn_job = NULL;
        if (rc == 0)
            p->cdn_error[0] = '\0';
        else
            str_lcpy(p->cdn_error, e && e->msg[0] ? e->msg : "reading repository updates failed",
                     sizeof(p->cdn_error));
        if (rc != 0)
            log_warn(LOG_MOD, "pool %s: repository updates: %s", p->name, p->cdn_error);
    }
    for (size_t i = 0; i < j->n_waiters; i++)
        engine_cdn_waiter_done(j->eng, j->waiters[i]);
    free(j->waiters);
    free(j);
}

/* Not a repository pool: the legacy catalog applies. */
static void no_repository(struct cdn_job *j, const char *why)
{
    struct eng_pool *p = j->p;

    if (p->cdn_state != ENG_CDN_NONE)
        log_info(LOG_MOD, "pool %s: no update repository (%s): legacy updates", p->name, why);
    p->cdn_state = ENG_CDN_NONE;
    engine_catalog_drop(p->eng, p->cdn);
    p->cdn = NULL;
    p->eng->pub_gen++; /* GET /pools shows whether it is a repository pool */
    p->cdn_checked_ms = clock_now_ms(j->eng->clock);
    job_end(j, 0, NULL);
}

static void on_updates(void *ctx, int rc, long status, const char *body, size_t len,
                       const struct err *e)
{
    struct cdn_job *j = ctx;
    struct catalog *cat = NULL;
    struct err pe = {0};

    (void)status;
    j->get = NULL;
    if (!j->p) {
        job_end(j, PP_ECANCELLED, e);
        return;
    }
    if (rc == PP_ENOTFOUND) {
        no_repository(j, "GET /updates: 404");
        return;
    }
    if (rc != 0) {
        job_end(j, rc, e);
        return;
    }
    if (catalog_parse_cdn_json(body, len, NULL, &cat, &pe) != 0) {
        err_prefix(&pe, "the pool's /updates answer was not accepted: ");
        job_end(j, pe.code ? pe.code : PP_EPARSE, &pe);
        return;
    }
    if (j->p->cdn_state != ENG_CDN_YES)
        log_info(LOG_MOD, "pool %s: XenServer 8 repository updates (%zu updates, %zu hosts)",
                 j->p->name, cat->n_patches, cat->n_cdn_hosts);
    engine_catalog_drop(j->p->eng, j->p->cdn); /* a snapshot may still hold it */
    j->p->cdn = cat;
    j->p->cdn_state = ENG_CDN_YES;
    j->p->eng->pub_gen++;
    j->p->cdn_checked_ms = clock_now_ms(j->eng->clock);
    job_end(j, j->sync_error.code, j->sync_error.code ? &j->sync_error : NULL);
}

static void start_get(struct cdn_job *j)
{
    struct err e = {0};

    if (!j->p->client || xapi_http_get_start(j->p->client, "/updates", NULL, UPDATES_MAX_BYTES,
                                             on_updates, j, &j->get, &e) != 0) {
        if (!e.code)
            err_set(&e, PP_ESTATE, "the pool is not connected");
        job_end(j, e.code, &e);
    }
}

static void on_synced(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct cdn_job *j = ctx;

    (void)res;
    j->op = NULL;
    if (!j->p) {
        job_end(j, PP_ECANCELLED, e);
        return;
    }
    if (j->lost.code) {
        job_end(j, j->lost.code, &j->lost);
        return;
    }
    if (rc != 0 && e &&
        (str_eq(e->xapi_code, "NO_REPOSITORY_ENABLED") ||
         str_eq(e->xapi_code, "MESSAGE_METHOD_UNKNOWN"))) {
        no_repository(j, e->xapi_code);
        return;
    }
    if (rc != 0) {
        /* the sync failed (REPOSYNC_FAILED: no way to the repository, ...): the pool still
         * serves what it synced last, as XenCenter reads it; the error is reported */
        if (e)
            j->sync_error = *e;
        else
            err_set(&j->sync_error, rc, "pool.sync_updates failed");
        log_warn(LOG_MOD, "pool %s: pool.sync_updates: %s", j->p->name, j->sync_error.msg);
    }
    start_get(j);
}

static void on_pools(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct cdn_job *j = ctx;
    struct err ce = {0};
    struct xapi_value *params;
    struct xapi_call_opts o = {.timeout_ms = SYNC_TIMEOUT_MS};
    const char *ref = xapi_value_str(xapi_array_get(res, 0));

    j->op = NULL;
    if (!j->p) {
        job_end(j, PP_ECANCELLED, e);
        return;
    }
    if (j->lost.code) {
        job_end(j, j->lost.code, &j->lost);
        return;
    }
    if (rc != 0 || !ref || !*ref) {
        if (rc == 0)
            err_set(&ce, PP_EPARSE, "pool.get_all answered no pool");
        job_end(j, rc ? rc : ce.code, rc ? e : &ce);
        return;
    }
    /* xen-api ocaml/idl/datamodel_pool.ml: sync_updates(session, self, force, token, token_id) */
    params = xapi_value_new_array();
    xapi_array_append_string(params, ref);
    xapi_array_append_take(params, xapi_value_new_bool(false));
    xapi_array_append_string(params, "");
    xapi_array_append_string(params, "");
    if (xapi_call_async(j->p->client, "pool.sync_updates", params, &o, on_synced, j, &j->op, &ce) !=
        0)
        job_end(j, ce.code, &ce);
}

/* Send the job's first request; false (job not freed) when it could not be sent. */
static bool job_start(struct cdn_job *j, struct err *e)
{
    struct eng_pool *p = j->p;

    j->wait_ready = false;
    xapi_timer_cancel(j->eng->loop, &j->login_t);
    if (j->sync)
        return xapi_call_async(p->client, "pool.get_all", NULL, NULL, on_pools, j, &j->op, e) == 0;
    return xapi_http_get_start(p->client, "/updates", NULL, UPDATES_MAX_BYTES, on_updates, j,
                               &j->get, e) == 0;
}

/*
 * The pool's login did not end within LOGIN_WAIT_MS: the read ends with the pool not connected.
 * A login round that found no master ends the wait sooner (engine_cdn_pool_state); this bounds
 * a round that hangs (a master whose TCP connection opens but whose xapi never answers: the
 * login's own timeout is 120 s, then the next address is tried).
 */
static void login_wait_fire(void *arg)
{
    struct cdn_job *j = arg;
    struct err e = {0};

    j->login_t = NULL;
    err_set(&e, PP_ETIMEOUT, "the pool is not connected (no login within %d s: %s)",
            LOGIN_WAIT_MS / 1000, j->p->error[0] ? j->p->error : xapi_conn_state_name(j->p->state));
    job_end(j, e.code, &e);
}

/* Start (or join) a read of the pool's repository updates (see engine_int.h). */
bool engine_cdn_refresh(struct engine *eng, struct eng_pool *p, bool sync, void *waiter)
{
    struct cdn_job *j = p->cdn_job;
    struct err e = {0};

    if (!j) {
        /* a pool still logging in (just added, or the daemon just started) is waited for */
        bool connecting = p->state == XAPI_CONN_IDLE || p->state == XAPI_CONN_CONNECTING;
        if (!p->client || p->retired || (p->state != XAPI_CONN_READY && !connecting)) {
            str_lcpy(p->cdn_error, "the pool is not connected", sizeof(p->cdn_error));
            return false;
        }
        if (p->state == XAPI_CONN_CONNECTING && p->error[0]) {
            /* a login round of this attempt found no master already (the client reported it):
             * the pool is not reachable now; the next round may be 30 s away */
            static const char pre[] = "the pool is not connected: ";
            str_lcpy(p->cdn_error, pre, sizeof(p->cdn_error));
            str_lcpy(p->cdn_error + sizeof(pre) - 1, p->error,
                     sizeof(p->cdn_error) - sizeof(pre) + 1);
            return false;
        }
        j = xcalloc(1, sizeof(*j));
        j->eng = eng;
        j->p = p;
        j->sync = sync;
        j->wait_ready = p->state != XAPI_CONN_READY;
        if (!j->wait_ready && !job_start(j, &e)) {
            str_lcpy(p->cdn_error, e.msg, sizeof(p->cdn_error));
            free(j);
            return false;
        }
        if (j->wait_ready)
            j->login_t = xapi_timer_add(eng->loop, LOGIN_WAIT_MS, login_wait_fire, j);
        p->cdn_job = j;
    }
    if (waiter) {
        j->waiters = vec_grow_implied(j->waiters, j->n_waiters, sizeof(*j->waiters));
        j->waiters[j->n_waiters++] = waiter;
    }
    return waiter != NULL;
}

/*
 * The pool lost its master (or was refused) while the job's request was out.  The client keeps
 * a call it could not deliver queued until a master answers again, for up to its reconnect budget
 * (20 min: docs/xapi-client.md, "Losing the master"), and a call out on a connection that went
 * silent runs to its own timeout (pool.sync_updates: 10 min); a check must not wait for either
 * (a fleet's check from cron would hang on one lost pool), so the read ends now with the pool's
 * error, as it does when the pool was already lost when the check began (engine_cdn_refresh).
 * The next check reads the pool again.
 */
static void job_lost(struct cdn_job *j, enum xapi_conn_state s, const struct err *why)
{
    err_set(&j->lost, PP_ETRANSPORT,
            "the pool's master was lost while its updates were read (%s%s%s)",
            xapi_conn_state_name(s), why && why->msg[0] ? ": " : "", why ? why->msg : "");
    if (j->get) {
        xapi_http_get_cancel(j->get); /* no callback: ends here */
        j->get = NULL;
        job_end(j, j->lost.code, &j->lost);
    } else if (j->op) {
        xapi_op_cancel(j->op); /* its callback (PP_ECANCELLED) ends the job with j->lost */
    }
}

/* The pool's connection changed (see engine_int.h). */
void engine_cdn_pool_state(struct engine *eng, struct eng_pool *p, enum xapi_conn_state s,
                           const struct err *why)
{
    struct cdn_job *j = p->cdn_job;
    struct err e = {0};

    if (p->retired)
        return;
    /* IDLE is a re-login (SESSION_INVALID): the client sends the call again at once */
    if (j && !j->wait_ready && !j->lost.code &&
        (s == XAPI_CONN_RECONNECTING || s == XAPI_CONN_EMERGENCY || s == XAPI_CONN_FAILED ||
         s == XAPI_CONN_UNTRUSTED)) {
        job_lost(j, s, why);
        return;
    }
    if (j && j->wait_ready) {
        if (s == XAPI_CONN_READY) {
            if (!job_start(j, &e))
                job_end(j, e.code ? e.code : PP_ESTATE, &e);
        } else if (s == XAPI_CONN_CONNECTING && why) {
            /* a login round found no master (the client keeps trying for its budget, 20 min):
             * the pool is not reachable now, and a check does not wait for it */
            err_set(&e, PP_ETRANSPORT, "the pool is not connected: %s", why->msg);
            job_end(j, e.code, &e);
        } else if (s != XAPI_CONN_IDLE && s != XAPI_CONN_CONNECTING) {
            err_set(&e, PP_ETRANSPORT, "the pool is not connected (%s)", xapi_conn_state_name(s));
            job_end(j, e.code, &e);
        }
        return;
    }
    /* a registered pool (not pool add's probe) learns at its first connection whether it takes
     * repository updates; 'updates check' asks again */
    if (s == XAPI_CONN_READY && p->id > 0 && p->cdn_state == ENG_CDN_UNKNOWN && !j)
        engine_cdn_refresh(eng, p, true, NULL);
}

/* Detach the pool's read and free its catalog (see engine_int.h). */
void engine_cdn_pool_retire(struct eng_pool *p)
{
    struct cdn_job *j = p->cdn_job;

    if (j) {
        j->p = NULL;
        p->cdn_job = NULL;
        if (j->get) {
            /* a GET is not an operation of the client: it would outlive it */
            xapi_http_get_cancel(j->get);
            j->get = NULL;
            job_end(j, PP_ECANCELLED, NULL);
        } else if (!j->op) {
            job_end(j, PP_ECANCELLED, NULL); /* still waiting for the connection */
        }
        /* a call in flight ends with the client (PP_ECANCELLED) and frees the job then */
    }
    engine_catalog_drop(p->eng, p->cdn);
    p->cdn = NULL;
    p->eng->pub_gen++;
}

/* The catalog for p (see engine_int.h). */
const struct catalog *engine_pool_catalog(struct engine *eng, const struct eng_pool *p)
{
    if (p && engine_pool_is_cdn(p))
        return p->cdn;
    return eng->catalog;
}

/* A repository pool (see engine_int.h). */
bool engine_pool_is_cdn(const struct eng_pool *p)
{
    return p->cdn_state == ENG_CDN_YES && p->cdn != NULL;
}
