/* SPDX-License-Identifier: MIT */
/* hmap.c - open addressing (linear probing, FNV-1a) string-keyed map; see hmap.h. */
#include "sim/hmap.h"

#include <stdint.h>
#include <string.h>

#include "base/mem.h"

static const char hmap_tomb_key[] = "";
#define HMAP_TOMB hmap_tomb_key

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void sim_hmap_init(struct hmap *m)
{
    memset(m, 0, sizeof(*m));
}

void sim_hmap_cleanup(struct hmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static void rehash(struct hmap *m, size_t ncap)
{
    struct hmap_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = xcalloc(ncap, sizeof(*m->slots));
    m->cap = ncap;
    m->n = 0;
    m->used = 0;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].key && old[i].key != HMAP_TOMB)
            sim_hmap_put(m, old[i].key, old[i].val);
    }
    free(old);
}

void sim_hmap_put(struct hmap *m, const char *key, void *val)
{
    if ((m->used + 1) * 4 >= m->cap * 3)
        rehash(m, m->cap ? (m->n * 2 >= m->cap ? m->cap * 2 : m->cap) : 16);
    size_t mask = m->cap - 1;
    size_t i = hash_str(key) & mask;
    struct hmap_slot *tomb = NULL;
    for (;;) {
        struct hmap_slot *s = &m->slots[i];
        if (!s->key) {
            if (tomb) {
                s = tomb;
            } else {
                m->used++;
            }
            s->key = key;
            s->val = val;
            m->n++;
            return;
        }
        if (s->key == HMAP_TOMB) {
            if (!tomb)
                tomb = s;
        } else if (strcmp(s->key, key) == 0) {
            s->key = key;
            s->val = val;
            return;
        }
        i = (i + 1) & mask;
    }
}

static struct hmap_slot *find(const struct hmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = hash_str(key) & mask;
    for (;;) {
        struct hmap_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != HMAP_TOMB && strcmp(s->key, key) == 0)
            return s;
        i = (i + 1) & mask;
    }
}

void *sim_hmap_get(const struct hmap *m, const char *key)
{
    struct hmap_slot *s = find(m, key);
    return s ? s->val : NULL;
}

void *sim_hmap_del(struct hmap *m, const char *key)
{
    struct hmap_slot *s = find(m, key);
    if (!s)
        return NULL;
    void *v = s->val;
    s->key = HMAP_TOMB;
    s->val = NULL;
    m->n--;
    return v;
}
