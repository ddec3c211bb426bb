/* SPDX-License-Identifier: MIT */
/*
 * engine_pub.c - what the engine thread publishes of its pools for other threads (issue 17):
 *
 *  - each pool's inventory, made from its object cache when a snapshot asks for it and kept
 *    until the cache's records change (xapi_cache_changes), shared by every snapshot taken
 *    meanwhile: immutable, reference-counted, freed by its last holder on any thread.  A fleet
 *    plan of quiet pools copies no inventory;
 *  - the GET /pools answer: each pool's object as text, rebuilt when what it shows changed (its
 *    connection state, error, master, certificate wait, repository state, or the records of its
 *    pool, hosts and VMs), and the list of them in registration order, swapped in under a mutex
 *    at the end of every engine loop turn and before every request is answered.  engine_pools
 *    reads that list: it never waits for the engine thread.
 *
 * Thread: the engine thread makes and publishes; holders and readers are any thread.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/engine_int.h"
#include "engine/engine_req.h"

/* ------------------------------------------------------------------ shared inventories */

struct eng_inv {
    atomic_int refs;
    struct inv_pool *inv;
};

/* Whether c's records of classes are those seen when the cache's changes to every class were
 * *total and to these classes sum: the one counter first, then (other classes changed: tasks,
 * say) the classes' own, *total moved on when they are the same. */
static bool records_same(const struct xapi_client *c, const char *const *classes, uint64_t *total,
                         uint64_t sum)
{
    uint64_t all = xapi_cache_changes(c, NULL);

    if (all == *total)
        return true;
    if (xapi_cache_changes(c, classes) != sum)
        return false;
    *total = all;
    return true;
}

/* The pool's inventory, shared (see engine_int.h).  Engine thread. */
struct eng_inv *engine_pool_inv_get(struct engine *eng, struct eng_pool *p, struct err *e)
{
    struct inv_pool *inv;

    if (!p->client || !xapi_cache_ready(p->client)) {
        inv_pool_free(engine_pool_inventory(eng, p, e)); /* NULL, e says why: not connected */
        return NULL;
    }
    if (p->inv && records_same(p->client, engine_cache_classes, &p->inv_total, p->inv_changes)) {
        atomic_fetch_add(&p->inv->refs, 1);
        return p->inv;
    }
    inv = engine_pool_inventory(eng, p, e);
    if (!inv)
        return NULL;
    if (eng)
        atomic_fetch_add(&eng->inv_made, 1);
    engine_inv_release(p->inv);
    p->inv = xcalloc(1, sizeof(*p->inv));
    atomic_init(&p->inv->refs, 2); /* the pool's and the caller's */
    p->inv->inv = inv;
    p->inv_total = xapi_cache_changes(p->client, NULL);
    p->inv_changes = xapi_cache_changes(p->client, engine_cache_classes);
    return p->inv;
}

/* How long a pool's records must stay unchanged before its inventory is made ahead of any
 * request: a pool that moves (a rollout's batches every second) is left to the next snapshot. */
#define INV_QUIET_MS 2000

/* How long one loop turn may spend making inventories ahead (real time, whatever the engine's
 * clock): a bench-16 pool's takes ~1.5 ms, so after a (re)start the quiet pools' inventories are
 * all made within a few turns, yet an engine request waits at most about this long for a turn. */
#define INV_TURN_BUDGET_MS 10

/* Make ahead the inventories of pools quiet for INV_QUIET_MS whose inventory is out of date,
 * until INV_TURN_BUDGET_MS of this turn are used (see engine_int.h).  Engine thread. */
void engine_pools_prepare(struct engine *eng)
{
    int64_t now = clock_now_ms(eng->clock);
    int64_t t0 = clock_mono_ms();
    uint64_t seen = eng->pub_gen + xapi_change_count();

    /* every inventory was up to date and no pool changed since: nothing to look at (as in
     * engine_pools_publish: an idle fleet's turns do not walk every pool) */
    if (!eng->prep_pending && seen == eng->prep_seen)
        return;
    eng->prep_seen = seen;
    eng->prep_pending = false;
    for (size_t i = 0; i < eng->n_pools; i++) {
        struct eng_pool *p = eng->pools[i];
        struct err e = {0};
        struct eng_inv *v;
        uint64_t all;
        if (!p->client || !xapi_cache_ready(p->client))
            continue;
        all = xapi_cache_changes(p->client, NULL);
        if (all != p->inv_seen) { /* it moved: wait until it is quiet */
            p->inv_seen = all;
            p->inv_seen_ms = now;
            eng->prep_pending = true;
            continue;
        }
        if (p->inv && records_same(p->client, engine_cache_classes, &p->inv_total, p->inv_changes))
            continue;
        if (now - p->inv_seen_ms < INV_QUIET_MS) {
            eng->prep_pending = true;
            continue;
        }
        v = engine_pool_inv_get(eng, p, &e);
        if (!v)
            eng->prep_pending = true; /* not read: again at the next turn, as before */
        engine_inv_release(v);
        if (clock_mono_ms() - t0 >= INV_TURN_BUDGET_MS) {
            eng->prep_pending = true;
            return; /* the rest at the next turns: a turn stays short */
        }
    }
}

/* The inventory a reference gives (see engine_int.h). */
const struct inv_pool *engine_inv_pool(const struct eng_inv *v)
{
    return v ? v->inv : NULL;
}

/* Let go of a reference (see engine_int.h).  Any thread. */
void engine_inv_release(struct eng_inv *v)
{
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
        return;
    inv_pool_free(v->inv);
    free(v);
}

/* ------------------------------------------------------------------ GET /pools */

/* One pool's object as published: its text, and what it was built from. */
struct eng_pool_pub {
    atomic_int refs; /* the pool's and the lists' holding it */
    char *text;      /* the pool object, compact JSON */
    size_t len;
    /* what the text shows: rebuilt when one of these differs */
    enum xapi_conn_state state;
    char *error;
    char *master;
    bool ready, cdn, untrusted;
    struct xapi_untrusted u;
    uint64_t changes; /* of the classes the glance reads */
};

/* A published list: the pools' objects in registration order.  Immutable. */
struct eng_plist {
    atomic_int refs;
    size_t n;
    struct eng_pool_pub **pools; /* each holds a reference */
};

static void pub_release(struct eng_pool_pub *pp)
{
    if (!pp || atomic_fetch_sub(&pp->refs, 1) != 1)
        return;
    free(pp->text);
    free(pp->error);
    free(pp->master);
    free(pp);
}

static void plist_release(struct eng_plist *l)
{
    if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    for (size_t i = 0; i < l->n; i++)
        pub_release(l->pools[i]);
    free(l->pools);
    free(l);
}

static const char *const glance_classes[] = {"pool", "host", "vm", NULL};

/* Whether pp still shows p as it is now.  Engine thread. */
static bool pub_current(const struct eng_pool_pub *pp, struct eng_pool *p)
{
    struct xapi_untrusted u;
    bool ready = p->client && xapi_cache_ready(p->client);
    bool untrusted = p->client && xapi_client_untrusted(p->client, &u);

    return pp && pp->state == p->state && str_eq(pp->error, p->error) && pp->ready == ready &&
           pp->cdn == engine_pool_is_cdn(p) &&
           str_eq(pp->master, p->client ? xapi_client_master(p->client) : "") &&
           pp->untrusted == untrusted && (!untrusted || memcmp(&pp->u, &u, sizeof(u)) == 0) &&
           (!ready || records_same(p->client, glance_classes, &p->pub_total, pp->changes));
}

/* p's object as it is now (a new reference).  Engine thread. */
static struct eng_pool_pub *pub_build(struct eng_pool *p)
{
    struct eng_pool_pub *pp = xcalloc(1, sizeof(*pp));
    json_t *j = engine_pool_json(p);

    atomic_init(&pp->refs, 1);
    pp->text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!pp->text)
        pp->text = xstrdup("{}"); /* not reached: the object holds strings and numbers */
    pp->len = strlen(pp->text);
    pp->state = p->state;
    pp->error = xstrdup(p->error);
    pp->master = xstrdup(p->client ? xapi_client_master(p->client) : "");
    pp->ready = p->client && xapi_cache_ready(p->client);
    pp->cdn = engine_pool_is_cdn(p);
    pp->untrusted = p->client && xapi_client_untrusted(p->client, &pp->u);
    pp->changes = pp->ready ? xapi_cache_changes(p->client, glance_classes) : 0;
    p->pub_total = pp->ready ? xapi_cache_changes(p->client, NULL) : 0;
    return pp;
}

/* Publish the pools' objects (see engine_int.h).  Engine thread. */
void engine_pools_publish(struct engine *eng)
{
    struct eng_plist *old = eng->plist, *l;
    bool same = old && old->n == eng->n_pools;
    /* nothing pub_current reads changed since the last look: every pool is current.  An idle
     * fleet's turns (an empty event.from answer each) no longer look at every pool, which made
     * the idle cost grow with the square of the pools (docs/performance.md, "Idle at fleet scale
     * (session 10)") */
    uint64_t seen = eng->pub_gen + xapi_change_count();

    if (same && seen == eng->pub_seen)
        return;
    eng->pub_seen = seen;
    for (size_t i = 0; i < eng->n_pools; i++) {
        struct eng_pool *p = eng->pools[i];
        if (!pub_current(p->pub, p)) {
            pub_release(p->pub);
            p->pub = pub_build(p);
        }
        same = same && old->pools[i] == p->pub;
    }
    if (same)
        return;
    l = xcalloc(1, sizeof(*l));
    atomic_init(&l->refs, 1);
    l->n = eng->n_pools;
    l->pools = xcalloc(l->n ? l->n : 1, sizeof(*l->pools));
    for (size_t i = 0; i < l->n; i++) {
        l->pools[i] = eng->pools[i]->pub;
        atomic_fetch_add(&l->pools[i]->refs, 1);
    }
    pthread_mutex_lock(&eng->publock);
    eng->plist = l;
    pthread_mutex_unlock(&eng->publock);
    plist_release(old);
}

/* A retired pool lets go of what it published (see engine_int.h).  Engine thread. */
void engine_pool_pub_drop(struct eng_pool *p)
{
    engine_inv_release(p->inv);
    p->inv = NULL;
    pub_release(p->pub);
    p->pub = NULL;
}

/* The engine stops: the last list goes (see engine_int.h). */
void engine_pools_unpublish(struct engine *eng)
{
    pthread_mutex_lock(&eng->publock);
    struct eng_plist *l = eng->plist;
    eng->plist = NULL;
    pthread_mutex_unlock(&eng->publock);
    plist_release(l);
}

/* {"pools":[...]} from the pools' texts (*len bytes, NUL-terminated, heap).  Pure. */
static char *plist_text(const char *const *texts, const size_t *lens, size_t n, size_t *len)
{
    struct buf b;

    buf_init(&b);
    buf_puts(&b, "{\"pools\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(&b, ',');
        buf_append(&b, texts[i], lens[i]);
    }
    buf_puts(&b, "]}");
    *len = b.len;
    return buf_take(&b);
}

/* The registered pools (see engine.h): the list last published, never the engine thread's
 * work.  Any thread. */
int engine_pools(struct engine *eng, json_t **out, struct err *e)
{
    struct eng_plist *l;
    const char **texts;
    size_t *lens, len;
    char *text;

    *out = NULL;
    pthread_mutex_lock(&eng->publock);
    l = eng->plist;
    if (l)
        atomic_fetch_add(&l->refs, 1);
    pthread_mutex_unlock(&eng->publock);
    if (!l)
        return err_set(e, PP_ESTATE, "the engine is not running");
    texts = xcalloc(l->n ? l->n : 1, sizeof(*texts));
    lens = xcalloc(l->n ? l->n : 1, sizeof(*lens));
    for (size_t i = 0; i < l->n; i++) {
        texts[i] = l->pools[i]->text;
        lens[i] = l->pools[i]->len;
    }
    text = plist_text(texts, lens, l->n, &len);
    free(texts);
    free(lens);
    plist_release(l);
    *out = json_loadb(text, len, 0, NULL);
    free(text);
    if (!*out) /* not reached: the texts are json_dumps's */
        return err_set(e, PP_EINVAL, "the pools' published text is not JSON");
    return 0;
}
