/* SPDX-License-Identifier: MIT */
/*
 * engine_snapshot.c - what the Updates views and the plans are built from, taken on the engine
 * thread and handed to the caller's thread, which builds the view or plan while the engine goes
 * on (issue 10, issue 17: a fleet plan of 100 pools no longer stops every rollout's progress for
 * a second).  A snapshot holds, per pool, its registered name, its inventory (shared with the
 * pool and other snapshots while the pool's records do not change: engine_pub.c; the dismissals
 * are in it, as the pool's other_config), whether it is a repository pool; and the
 * catalogs, held rather than copied: a catalog the engine replaces meanwhile is freed by the
 * snapshot that held it last (engine_catalog_drop, engine_catalog_unhold).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/vec.h"
#include "engine/engine_int.h"

/* ------------------------------------------------------------------ held catalogs */

static struct eng_cat_hold *hold_find(struct engine *eng, const struct catalog *cat)
{
    for (size_t i = 0; i < eng->n_held; i++)
        if (eng->held[i].cat == cat)
            return &eng->held[i];
    return NULL;
}

/* Hold cat for a snapshot (engine thread; NULL is a no-op). */
static void catalog_hold(struct engine *eng, const struct catalog *cat)
{
    struct eng_cat_hold *h;

    if (!cat)
        return;
    pthread_mutex_lock(&eng->catlock);
    h = hold_find(eng, cat);
    if (!h) {
        eng->held = vec_grow_implied(eng->held, eng->n_held, sizeof(*eng->held));
        h = &eng->held[eng->n_held++];
        *h = (struct eng_cat_hold){.cat = cat};
    }
    h->refs++;
    pthread_mutex_unlock(&eng->catlock);
}

/* A snapshot lets go of cat (any thread); the last one frees a catalog the engine dropped. */
static void catalog_unhold(struct engine *eng, const struct catalog *cat)
{
    struct eng_cat_hold *h;
    struct catalog *gone = NULL;

    if (!cat)
        return;
    pthread_mutex_lock(&eng->catlock);
    h = hold_find(eng, cat);
    if (h && --h->refs == 0) {
        if (h->dropped)
            gone = (struct catalog *)h->cat;
        *h = eng->held[--eng->n_held];
    }
    pthread_mutex_unlock(&eng->catlock);
    catalog_free(gone);
}

/* The engine no longer uses cat (see engine_int.h). */
void engine_catalog_drop(struct engine *eng, struct catalog *cat)
{
    struct eng_cat_hold *h;

    if (!cat)
        return;
    pthread_mutex_lock(&eng->catlock);
    h = hold_find(eng, cat);
    if (h)
        h->dropped = true; /* the last snapshot holding it frees it */
    pthread_mutex_unlock(&eng->catlock);
    if (!h)
        catalog_free(cat);
}

/* ------------------------------------------------------------------ snapshots */

static void snap_pool(struct engine *eng, struct eng_pool *p, struct eng_snap_pool *sp)
{
    struct err e = {0};
    char why[400];

    sp->name = xstrdup(p->name);
    sp->connected = p->state == XAPI_CONN_READY;
    sp->held = engine_pool_inv_get(eng, p, &e); /* shared: no copy while the pool is quiet */
    sp->inv = engine_inv_pool(sp->held);
    if (!sp->connected)
        sp->error = xasprintf("pool %s is %s", p->name, engine_pool_unready(p, why, sizeof(why)));
    else if (!sp->inv)
        sp->error = xstrdup(e.msg);
    sp->error_code = sp->inv ? 0 : (e.code ? e.code : PP_ESTATE);
    sp->cdn = engine_pool_is_cdn(p);
    sp->cat = sp->cdn ? p->cdn : NULL;
    catalog_hold(eng, sp->cat);
}

/* Take a snapshot (see engine_int.h). */
struct eng_snapshot *engine_snapshot_take(struct engine *eng,
                                          bool (*want)(void *ctx, const char *pool), void *ctx)
{
    struct eng_snapshot *s = xcalloc(1, sizeof(*s));

    s->eng = eng;
    s->catalog = eng->catalog;
    catalog_hold(eng, s->catalog);
    s->pools = xcalloc(eng->n_pools ? eng->n_pools : 1, sizeof(*s->pools));
    for (size_t i = 0; i < eng->n_pools; i++)
        if (!want || want(ctx, eng->pools[i]->name))
            snap_pool(eng, eng->pools[i], &s->pools[s->n_pools++]);
    s->n_registered = eng->n_pools;
    s->check_interval_s = eng->check_interval_s;
    s->catalog_checked_ms = eng->catalog_checked_ms;
    str_lcpy(s->check_error, eng->check_error, sizeof(s->check_error));
    s->catalog_url = xstrdup(eng->catalog_url);
    s->now_ms = clock_now_ms(eng->clock);
    return s;
}

/* Free a snapshot (see engine_int.h). */
void engine_snapshot_free(struct eng_snapshot *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_pools; i++) {
        struct eng_snap_pool *sp = &s->pools[i];
        free(sp->name);
        free(sp->error);
        engine_inv_release(sp->held);
        catalog_unhold(s->eng, sp->cat);
    }
    catalog_unhold(s->eng, s->catalog);
    free(s->pools);
    free(s->catalog_url);
    free(s);
}

/* The registered name of the snapshot's pool whose inventory is inv, or NULL (see
 * engine_int.h). */
const char *engine_snapshot_pool_name(const struct eng_snapshot *s, const struct inv_pool *inv)
{
    for (size_t i = 0; s && i < s->n_pools; i++)
        if (s->pools[i].inv == inv)
            return s->pools[i].name;
    return NULL;
}
