/* SPDX-License-Identifier: MIT */
/*
 * engine_rsnap.c - the published snapshots of GET /rollouts/{id} (engine_rsnap.h): a few slots
 * under one mutex, each holding one reference to an immutable snapshot; readers take their own
 * reference under the mutex and use the text without it.  The reference count is atomic, so the
 * last holder frees the snapshot on whatever thread it is.
 */
#include "engine/engine_rsnap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"

struct rsnap_node {
    struct engine_rsnap pub; /* first: a struct engine_rsnap * is a struct rsnap_node * */
    atomic_size_t refs;
};

struct rsnap_slot {
    char *id;
    struct rsnap_node *snap;
    uint64_t used;
};

struct engine_rsnap_cache {
    pthread_mutex_t lock;
    struct rsnap_slot *slots;
    size_t n_slots;
    uint64_t tick;
};

/* New cache (see engine_rsnap.h). */
struct engine_rsnap_cache *engine_rsnap_cache_new(size_t slots)
{
    struct engine_rsnap_cache *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->n_slots = slots ? slots : 1;
    c->slots = xcalloc(c->n_slots, sizeof(*c->slots));
    return c;
}

/* Drop a reference (see engine_rsnap.h). */
void engine_rsnap_release(struct engine_rsnap *s)
{
    struct rsnap_node *n = (struct rsnap_node *)s;
    if (!n || atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(n->pub.text);
    free(n->pub.head);
    free(n);
}

/* Free the cache (see engine_rsnap.h). */
void engine_rsnap_cache_free(struct engine_rsnap_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_slots; i++) {
        free(c->slots[i].id);
        if (c->slots[i].snap)
            engine_rsnap_release(&c->slots[i].snap->pub);
    }
    free(c->slots);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static struct engine_rsnap *take_ref(struct rsnap_node *n)
{
    atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
    return &n->pub;
}

/* The slot of id, or NULL.  Under the lock. */
static struct rsnap_slot *slot_of(struct engine_rsnap_cache *c, const char *id)
{
    for (size_t i = 0; i < c->n_slots; i++)
        if (c->slots[i].id && str_eq(c->slots[i].id, id))
            return &c->slots[i];
    return NULL;
}

/* Whether s answers a read at gen / head, accepting max_age_ms (see engine_rsnap.h). */
static bool fits(const struct engine_rsnap *s, uint64_t gen, const char *head, int64_t clock_ms,
                 int64_t now_ms, int64_t max_age_ms)
{
    if (!str_eq(s->head, head))
        return false;
    if (s->gen == gen && clock_ms < s->until_ms)
        return true;
    return max_age_ms > 0 && now_ms - s->built_ms <= max_age_ms;
}

/* A snapshot to answer with (see engine_rsnap.h). */
struct engine_rsnap *engine_rsnap_find(struct engine_rsnap_cache *c, const char *id, uint64_t gen,
                                       const char *head, int64_t clock_ms, int64_t now_ms,
                                       int64_t max_age_ms)
{
    struct engine_rsnap *out = NULL;
    pthread_mutex_lock(&c->lock);
    struct rsnap_slot *sl = slot_of(c, id);
    if (sl && fits(&sl->snap->pub, gen, head, clock_ms, now_ms, max_age_ms)) {
        sl->used = ++c->tick;
        out = take_ref(sl->snap);
    }
    pthread_mutex_unlock(&c->lock);
    return out;
}

/* Publish a snapshot (see engine_rsnap.h). */
struct engine_rsnap *engine_rsnap_publish(struct engine_rsnap_cache *c, const char *id,
                                          uint64_t gen, const char *head, int64_t built_ms,
                                          int64_t until_ms, char *text, size_t len)
{
    struct rsnap_node *n = xcalloc(1, sizeof(*n));
    n->pub = (struct engine_rsnap){text, len, gen, built_ms, xstrdup(head ? head : ""), until_ms};
    atomic_init(&n->refs, 1); /* the caller's */
    pthread_mutex_lock(&c->lock);
    struct rsnap_slot *sl = slot_of(c, id);
    if (sl && (sl->snap->pub.gen > gen || sl->snap->pub.built_ms > built_ms)) {
        pthread_mutex_unlock(&c->lock); /* a newer one is kept: never go back in time */
        return &n->pub;
    }
    if (!sl) {
        sl = &c->slots[0];
        for (size_t i = 1; i < c->n_slots && sl->id; i++)
            if (!c->slots[i].id || c->slots[i].used < sl->used)
                sl = &c->slots[i];
        free(sl->id);
        sl->id = xstrdup(id);
    }
    struct rsnap_node *old = sl->snap;
    sl->snap = n;
    sl->used = ++c->tick;
    take_ref(n); /* the cache's */
    pthread_mutex_unlock(&c->lock);
    engine_rsnap_release(old ? &old->pub : NULL);
    return &n->pub;
}
