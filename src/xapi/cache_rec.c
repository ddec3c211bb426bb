/* SPDX-License-Identifier: MIT */
/*
 * cache_rec.c - the object cache's compact records and its string table (see cache_int.h).  A
 * record is copied from the decoded event in one pass into one block: the callers still read a
 * struct xapi_value tree, but without a heap chunk (and its header and rounding) per node, per
 * member name and per string, and with every member name, ref and short string stored once per
 * cache however many records carry it.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "xapi/cache_int.h"

struct xapi_istr {
    struct xapi_istr *next;
    uint64_t hash;
    size_t refs;
    char s[];
};

static uint64_t hash_mem(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static struct xapi_istr *istr_of(const char *s)
{
    return (struct xapi_istr *)(void *)(s - offsetof(struct xapi_istr, s));
}

static void itab_grow(struct xapi_itab *t)
{
    size_t nb = t->nbuckets ? t->nbuckets * 2 : 256;
    struct xapi_istr **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct xapi_istr *e = t->buckets[i], *n; e; e = n) {
            n = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    free(t->buckets);
    t->bytes += (nb - t->nbuckets) * sizeof(*b);
    t->buckets = b;
    t->nbuckets = nb;
}

/* See cache_int.h. */
const char *xapi__itab_get(struct xapi_itab *t, const char *s, size_t len)
{
    uint64_t h = hash_mem(s, len);
    if (t->nbuckets) {
        for (struct xapi_istr *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->next)
            if (e->hash == h && strncmp(e->s, s, len) == 0 && e->s[len] == '\0') {
                e->refs++;
                return e->s;
            }
    }
    if (t->count + 1 > t->nbuckets)
        itab_grow(t);
    struct xapi_istr *e = xmalloc(sizeof(*e) + len + 1);
    memcpy(e->s, s, len);
    e->s[len] = '\0';
    e->hash = h;
    e->refs = 1;
    e->next = t->buckets[h & (t->nbuckets - 1)];
    t->buckets[h & (t->nbuckets - 1)] = e;
    t->count++;
    t->bytes += sizeof(*e) + len + 1;
    return e->s;
}

/* See cache_int.h. */
void xapi__itab_put(struct xapi_itab *t, const char *s)
{
    struct xapi_istr *e = istr_of(s);
    if (--e->refs > 0)
        return;
    struct xapi_istr **pp = &t->buckets[e->hash & (t->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    t->count--;
    t->bytes -= sizeof(*e) + strlen(e->s) + 1;
    free(e);
}

/* See cache_int.h. */
size_t xapi__itab_count(const struct xapi_itab *t)
{
    return t->count;
}

/* See cache_int.h. */
void xapi__itab_clear(struct xapi_itab *t)
{
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct xapi_istr *e = t->buckets[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}

/* ---- records ---- */

static bool interned(const char *s, size_t len)
{
    return len <= XAPI_INTERN_SHORT || str_has_prefix(s, "OpaqueRef:");
}

/* Bytes below v (not v's own node): member arrays and nodes, and inline strings. */
static void measure(const struct xapi_value *v, size_t *nodes, size_t *strs)
{
    switch (v->type) {
    case XAPI_STRING:
    case XAPI_DATETIME: {
        size_t len = strlen(v->u.s);
        if (!interned(v->u.s, len))
            *strs += len + 1;
        break;
    }
    case XAPI_ARRAY:
        *nodes += v->u.arr.n * (sizeof(void *) + sizeof(struct xapi_value));
        for (size_t i = 0; i < v->u.arr.n; i++)
            measure(v->u.arr.items[i], nodes, strs);
        break;
    case XAPI_STRUCT:
        *nodes += v->u.st.n * (2 * sizeof(void *) + sizeof(struct xapi_value));
        for (size_t i = 0; i < v->u.st.n; i++)
            measure(v->u.st.vals[i], nodes, strs);
        break;
    case XAPI_VOID:
    case XAPI_INT:
    case XAPI_DOUBLE:
    case XAPI_BOOL:
        break;
    }
}

struct cur {
    struct xapi_itab *t;
    char *n; /* next node / member array */
    char *s; /* next inline string */
};

static void *take(struct cur *c, size_t bytes)
{
    void *p = c->n;
    c->n += bytes;
    return p;
}

static char *put_str(struct cur *c, const char *s)
{
    size_t len = strlen(s);
    if (interned(s, len)) /* the tree's strings are char *: callers only read them */
        return (char *)(uintptr_t)xapi__itab_get(c->t, s, len);
    char *r = c->s;
    memcpy(r, s, len + 1);
    c->s += len + 1;
    return r;
}

static void place(struct cur *c, struct xapi_value *dst, const struct xapi_value *src);

/* Members i of src for which keep says yes, as dst's (n of them: counted by the caller). */
static void place_struct(struct cur *c, struct xapi_value *dst, const struct xapi_value *src,
                         size_t n, xapi_crec_keep_fn keep, const void *kctx)
{
    dst->u.st.keys = take(c, n * sizeof(char *));
    dst->u.st.vals = take(c, n * sizeof(struct xapi_value *));
    struct xapi_value *nodes = take(c, n * sizeof(struct xapi_value));
    size_t j = 0;
    for (size_t i = 0; i < src->u.st.n; i++) {
        const char *k = src->u.st.keys[i];
        if (keep && !keep(kctx, k))
            continue;
        dst->u.st.keys[j] = (char *)(uintptr_t)xapi__itab_get(c->t, k, strlen(k));
        dst->u.st.vals[j] = &nodes[j];
        place(c, &nodes[j], src->u.st.vals[i]);
        j++;
    }
    dst->u.st.n = dst->u.st.cap = n;
}

static void place(struct cur *c, struct xapi_value *dst, const struct xapi_value *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->type = src->type;
    dst->i4 = src->i4;
    switch (src->type) {
    case XAPI_STRING:
    case XAPI_DATETIME:
        dst->u.s = put_str(c, src->u.s);
        break;
    case XAPI_ARRAY: {
        size_t n = src->u.arr.n;
        dst->u.arr.items = take(c, n * sizeof(struct xapi_value *));
        struct xapi_value *nodes = take(c, n * sizeof(struct xapi_value));
        for (size_t i = 0; i < n; i++) {
            dst->u.arr.items[i] = &nodes[i];
            place(c, &nodes[i], src->u.arr.items[i]);
        }
        dst->u.arr.n = dst->u.arr.cap = n;
        break;
    }
    case XAPI_STRUCT:
        place_struct(c, dst, src, src->u.st.n, NULL, NULL);
        break;
    case XAPI_VOID:
    case XAPI_INT:
    case XAPI_DOUBLE:
    case XAPI_BOOL:
        dst->u = src->u;
        break;
    }
}

static size_t rec_size(const struct xapi_value *snap, xapi_crec_keep_fn keep, const void *kctx,
                       size_t *n_kept, size_t *nodes_out)
{
    size_t n = 0, nodes = 0, strs = 0;
    for (size_t i = 0; i < snap->u.st.n; i++) {
        if (keep && !keep(kctx, snap->u.st.keys[i]))
            continue;
        n++;
        measure(snap->u.st.vals[i], &nodes, &strs);
    }
    nodes += n * (2 * sizeof(void *) + sizeof(struct xapi_value));
    *n_kept = n;
    *nodes_out = nodes;
    return sizeof(struct xapi_crec) + nodes + strs;
}

/* See cache_int.h. */
size_t xapi__crec_size(const struct xapi_value *snap, xapi_crec_keep_fn keep, const void *keep_ctx)
{
    size_t n, nodes;
    return rec_size(snap, keep, keep_ctx, &n, &nodes);
}

/* See cache_int.h. */
struct xapi_crec *xapi__crec_new(struct xapi_itab *t, const char *ref,
                                 const struct xapi_value *snap, xapi_crec_keep_fn keep,
                                 const void *keep_ctx, struct err *e)
{
    size_t n, nodes;
    size_t size = rec_size(snap, keep, keep_ctx, &n, &nodes);
    if (size > XAPI_CACHE_MAX_REC_BYTES) {
        err_set(e, PP_ELIMIT, "event.from: the record of %.80s takes %zu bytes (at most %u)", ref,
                size, XAPI_CACHE_MAX_REC_BYTES);
        return NULL;
    }
    struct xapi_crec *r = xmalloc(size);
    r->next = NULL;
    r->size = size;
    r->ref = xapi__itab_get(t, ref, strlen(ref));
    struct cur c = {.t = t, .n = (char *)(r + 1), .s = (char *)(r + 1) + nodes};
    memset(&r->rec, 0, sizeof(r->rec));
    r->rec.type = XAPI_STRUCT;
    place_struct(&c, &r->rec, snap, n, keep, keep_ctx);
    return r;
}

/* Give back the interned strings below v (those outside r's block). */
static void unref(struct xapi_itab *t, const struct xapi_crec *r, const struct xapi_value *v)
{
    uintptr_t lo = (uintptr_t)r, hi = lo + r->size;
    switch (v->type) {
    case XAPI_STRING:
    case XAPI_DATETIME:
        if ((uintptr_t)v->u.s < lo || (uintptr_t)v->u.s >= hi)
            xapi__itab_put(t, v->u.s);
        break;
    case XAPI_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++)
            unref(t, r, v->u.arr.items[i]);
        break;
    case XAPI_STRUCT:
        for (size_t i = 0; i < v->u.st.n; i++) {
            xapi__itab_put(t, v->u.st.keys[i]);
            unref(t, r, v->u.st.vals[i]);
        }
        break;
    case XAPI_VOID:
    case XAPI_INT:
    case XAPI_DOUBLE:
    case XAPI_BOOL:
        break;
    }
}

/* See cache_int.h. */
void xapi__crec_free(struct xapi_itab *t, struct xapi_crec *r)
{
    if (!r)
        return;
    unref(t, r, &r->rec);
    xapi__itab_put(t, r->ref);
    free(r);
}
