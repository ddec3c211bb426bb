/* SPDX-License-Identifier: MIT */
/*
 * cache_rec.c - the object cache's compact records and its interned data (see cache_int.h).  A
 * record is copied from the decoded event in one pass: the callers still read a struct
 * xapi_value tree, but a member whose value holds no ref and no long string (a number, a
 * boolean, an enum, OpaqueRef:NULL, an empty map, a list of operations) points to one shared,
 * reference-counted copy of that value for the whole cache, its member names are one shared
 * array per distinct list of names (the fixed slots of a class: every VM record of a pool has
 * the same), and the rest (uuids, refs, long strings) sits in the record's own block.  Member
 * names, refs and short strings are interned once per cache.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "xapi/cache_int.h"

/* The head of every entry of the three tables: a chain link, the hash, the users. */
struct xapi_hent {
    struct xapi_hent *next;
    uint64_t hash;
    size_t refs;
};

struct xapi_istr {
    struct xapi_hent h;
    char s[];
};

/* A shared value: v's children (items, or keys and vals) follow it, then its string. */
struct ival {
    struct xapi_hent h;
    size_t size;
    struct xapi_value v;
};

/* A shared list of member names (interned strings, one reference each). */
struct shape {
    struct xapi_hent h;
    size_t n;
    char *keys[];
};

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME  1099511628211ULL

static uint64_t hash_mem(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= FNV_PRIME;
    }
    return h;
}

static void htab_grow(struct xapi_htab *t)
{
    size_t nb = t->nbuckets ? t->nbuckets * 2 : 256;
    struct xapi_hent **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct xapi_hent *e = t->buckets[i], *n; e; e = n) {
            n = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    free(t->buckets);
    t->bytes += (nb - t->nbuckets) * sizeof(*b);
    t->buckets = b;
    t->nbuckets = nb;
}

/* The chain of hash h (the table grown first when it is full). */
static struct xapi_hent **htab_chain(struct xapi_htab *t, uint64_t h)
{
    if (t->count + 1 > t->nbuckets)
        htab_grow(t);
    return &t->buckets[h & (t->nbuckets - 1)];
}

static void htab_link(struct xapi_htab *t, struct xapi_hent *e, size_t bytes)
{
    struct xapi_hent **c = htab_chain(t, e->hash);
    e->refs = 1;
    e->next = *c;
    *c = e;
    t->count++;
    t->bytes += bytes;
}

/* Drop one reference to e; true when it was the last (e is unlinked, the caller frees it). */
static bool htab_unref(struct xapi_htab *t, struct xapi_hent *e, size_t bytes)
{
    if (--e->refs > 0)
        return false;
    struct xapi_hent **pp = &t->buckets[e->hash & (t->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    t->count--;
    t->bytes -= bytes;
    return true;
}

static void htab_clear(struct xapi_htab *t)
{
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct xapi_hent *e = t->buckets[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}

/* ---- strings ---- */

static struct xapi_istr *istr_of(const char *s)
{
    return (struct xapi_istr *)(void *)(s - offsetof(struct xapi_istr, s));
}

/* See cache_int.h. */
const char *xapi__itab_get(struct xapi_itab *t, const char *s, size_t len)
{
    uint64_t h = hash_mem(FNV_OFFSET, s, len);
    for (struct xapi_hent *e = *htab_chain(&t->strs, h); e; e = e->next) {
        struct xapi_istr *is = (struct xapi_istr *)(void *)e;
        if (e->hash == h && strncmp(is->s, s, len) == 0 && is->s[len] == '\0') {
            e->refs++;
            return is->s;
        }
    }
    struct xapi_istr *e = xmalloc(sizeof(*e) + len + 1);
    memcpy(e->s, s, len);
    e->s[len] = '\0';
    e->h.hash = h;
    htab_link(&t->strs, &e->h, sizeof(*e) + len + 1);
    return e->s;
}

/* See cache_int.h. */
void xapi__itab_put(struct xapi_itab *t, const char *s)
{
    struct xapi_istr *e = istr_of(s);
    if (htab_unref(&t->strs, &e->h, sizeof(*e) + strlen(e->s) + 1))
        free(e);
}

/* See cache_int.h. */
size_t xapi__itab_count(const struct xapi_itab *t)
{
    return t->strs.count + t->vals.count + t->shapes.count;
}

/* See cache_int.h. */
size_t xapi__itab_bytes(const struct xapi_itab *t)
{
    return t->strs.bytes + t->vals.bytes + t->shapes.bytes;
}

/* See cache_int.h. */
void xapi__itab_clear(struct xapi_itab *t)
{
    htab_clear(&t->shapes);
    htab_clear(&t->vals);
    htab_clear(&t->strs);
}

/* ---- shared values ---- */

static bool interned(const char *s, size_t len)
{
    return len <= XAPI_INTERN_SHORT || str_has_prefix(s, "OpaqueRef:");
}

/* Whether v is stored as a shared value: nothing below it is a ref or a long string. */
static bool shareable(const struct xapi_value *v)
{
    switch (v->type) {
    case XAPI_STRING:
    case XAPI_DATETIME:
        return strlen(v->u.s) <= XAPI_INTERN_SHORT || strcmp(v->u.s, XAPI_NULL_REF) == 0;
    case XAPI_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++)
            if (!shareable(v->u.arr.items[i]))
                return false;
        return true;
    case XAPI_STRUCT:
        for (size_t i = 0; i < v->u.st.n; i++)
            if (!shareable(v->u.st.vals[i]))
                return false;
        return true;
    case XAPI_VOID:
    case XAPI_INT:
    case XAPI_DOUBLE:
    case XAPI_BOOL:
        break;
    }
    return true;
}

static struct ival *ival_of(const struct xapi_value *v)
{
    return (struct ival *)(void *)((char *)(uintptr_t)v - offsetof(struct ival, v));
}

/* The hash of a shared value's content; children are compared (and hashed) by address. */
static uint64_t ival_hash(const struct xapi_value *v)
{
    uint64_t h = hash_mem(FNV_OFFSET, &v->type, sizeof(v->type));
    h = hash_mem(h, &v->i4, sizeof(v->i4));
    switch (v->type) {
    case XAPI_STRING:
    case XAPI_DATETIME:
        return hash_mem(h, v->u.s, strlen(v->u.s));
    case XAPI_ARRAY:
        return hash_mem(h, v->u.arr.items, v->u.arr.n * sizeof(void *));
    case XAPI_STRUCT:
        h = hash_mem(h, v->u.st.keys, v->u.st.n * sizeof(void *));
        return hash_mem(h, v->u.st.vals, v->u.st.n * sizeof(void *));
    case XAPI_INT:
        return hash_mem(h, &v->u.i, sizeof(v->u.i));
    case XAPI_DOUBLE:
        return hash_mem(h, &v->u.d, sizeof(v->u.d));
    case XAPI_BOOL:
        return hash_mem(h, &v->u.b, sizeof(v->u.b));
    case XAPI_VOID:
        break;
    }
    return h;
}

/* Same content: type, i4, scalar or string, and the same children (addresses) in order. */
static bool ival_same(const struct xapi_value *a, const struct xapi_value *b)
{
    if (a->type != b->type || a->i4 != b->i4)
        return false;
    switch (a->type) {
    case XAPI_STRING:
    case XAPI_DATETIME:
        return strcmp(a->u.s, b->u.s) == 0;
    case XAPI_ARRAY:
        return a->u.arr.n == b->u.arr.n &&
               (a->u.arr.n == 0 ||
                memcmp(a->u.arr.items, b->u.arr.items, a->u.arr.n * sizeof(void *)) == 0);
    case XAPI_STRUCT:
        return a->u.st.n == b->u.st.n &&
               (a->u.st.n == 0 ||
                (memcmp(a->u.st.keys, b->u.st.keys, a->u.st.n * sizeof(void *)) == 0 &&
                 memcmp(a->u.st.vals, b->u.st.vals, a->u.st.n * sizeof(void *)) == 0));
    case XAPI_INT:
        return a->u.i == b->u.i;
    case XAPI_DOUBLE: { /* bit for bit: 0.0 and -0.0 are two values, a NaN equals itself */
        uint64_t x, y;
        memcpy(&x, &a->u.d, sizeof(x));
        memcpy(&y, &b->u.d, sizeof(y));
        return x == y;
    }
    case XAPI_BOOL:
        return a->u.b == b->u.b;
    case XAPI_VOID:
        break;
    }
    return true;
}

static void ival_put(struct xapi_itab *t, const struct xapi_value *v);

/* Give back what a shared value's block holds (its children, its names) and free it. */
static void ival_release(struct xapi_itab *t, struct ival *e)
{
    struct xapi_value *v = &e->v;
    if (v->type == XAPI_ARRAY)
        for (size_t i = 0; i < v->u.arr.n; i++)
            ival_put(t, v->u.arr.items[i]);
    if (v->type == XAPI_STRUCT)
        for (size_t i = 0; i < v->u.st.n; i++) {
            xapi__itab_put(t, v->u.st.keys[i]);
            ival_put(t, v->u.st.vals[i]);
        }
    free(e);
}

static void ival_put(struct xapi_itab *t, const struct xapi_value *v)
{
    struct ival *e = ival_of(v);
    if (htab_unref(&t->vals, &e->h, e->size))
        ival_release(t, e);
}

/*
 * The shared copy of src (shareable), with a new reference.  A candidate block is built first
 * (children shared and names interned on the way), then dropped for an equal one already held.
 */
static const struct xapi_value *ival_get(struct xapi_itab *t, const struct xapi_value *src)
{
    size_t n = src->type == XAPI_ARRAY    ? src->u.arr.n
               : src->type == XAPI_STRUCT ? 2 * (size_t)src->u.st.n
                                          : 0;
    size_t slen = src->type == XAPI_STRING || src->type == XAPI_DATETIME ? strlen(src->u.s) + 1 : 0;
    size_t size = sizeof(struct ival) + n * sizeof(void *) + slen;
    struct ival *e = xmalloc(size);
    e->size = size;
    struct xapi_value *v = &e->v;
    memset(v, 0, sizeof(*v));
    v->type = src->type;
    v->i4 = src->i4;
    void **kids = (void **)(e + 1);
    if (src->type == XAPI_ARRAY) {
        v->u.arr.items = (struct xapi_value **)kids;
        for (size_t i = 0; i < src->u.arr.n; i++)
            v->u.arr.items[i] = (struct xapi_value *)(uintptr_t)ival_get(t, src->u.arr.items[i]);
        v->u.arr.n = v->u.arr.cap = src->u.arr.n;
    } else if (src->type == XAPI_STRUCT) {
        size_t m = src->u.st.n;
        v->u.st.keys = (char **)kids;
        v->u.st.vals = (struct xapi_value **)(kids + m);
        for (size_t i = 0; i < m; i++) {
            const char *k = src->u.st.keys[i];
            v->u.st.keys[i] = (char *)(uintptr_t)xapi__itab_get(t, k, strlen(k));
            v->u.st.vals[i] = (struct xapi_value *)(uintptr_t)ival_get(t, src->u.st.vals[i]);
        }
        v->u.st.n = v->u.st.cap = (uint32_t)m;
    } else if (slen) {
        v->u.s = (char *)(kids + n);
        memcpy(v->u.s, src->u.s, slen);
    } else {
        v->u = src->u;
    }
    e->h.hash = ival_hash(v);
    for (struct xapi_hent *o = *htab_chain(&t->vals, e->h.hash); o; o = o->next) {
        struct ival *oe = (struct ival *)(void *)o;
        if (o->hash == e->h.hash && ival_same(&oe->v, v)) {
            o->refs++;
            ival_release(t, e);
            return &oe->v;
        }
    }
    htab_link(&t->vals, &e->h, size);
    return v;
}

/* ---- shared member names ---- */

/* The shared list of the n names in keys (interned; their references are taken). */
static char **shape_get(struct xapi_itab *t, char **keys, size_t n)
{
    uint64_t h = hash_mem(FNV_OFFSET, keys, n * sizeof(*keys));
    for (struct xapi_hent *o = *htab_chain(&t->shapes, h); o; o = o->next) {
        struct shape *s = (struct shape *)(void *)o;
        if (o->hash == h && s->n == n && memcmp(s->keys, keys, n * sizeof(*keys)) == 0) {
            o->refs++;
            for (size_t i = 0; i < n; i++)
                xapi__itab_put(t, keys[i]);
            return s->keys;
        }
    }
    struct shape *s = xmalloc(sizeof(*s) + n * sizeof(*keys));
    s->n = n;
    memcpy(s->keys, keys, n * sizeof(*keys));
    s->h.hash = h;
    htab_link(&t->shapes, &s->h, sizeof(*s) + n * sizeof(*keys));
    return s->keys;
}

static void shape_put(struct xapi_itab *t, char **keys)
{
    struct shape *s = (struct shape *)(void *)((char *)keys - offsetof(struct shape, keys));
    if (!htab_unref(&t->shapes, &s->h, sizeof(*s) + s->n * sizeof(*keys)))
        return;
    for (size_t i = 0; i < s->n; i++)
        xapi__itab_put(t, s->keys[i]);
    free(s);
}

/* ---- records ---- */

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

/* Copy src into the block at dst, whole (the record's own part). */
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
    case XAPI_STRUCT: {
        size_t n = src->u.st.n;
        dst->u.st.keys = take(c, n * sizeof(char *));
        dst->u.st.vals = take(c, n * sizeof(struct xapi_value *));
        struct xapi_value *nodes = take(c, n * sizeof(struct xapi_value));
        for (size_t i = 0; i < n; i++) {
            const char *k = src->u.st.keys[i];
            dst->u.st.keys[i] = (char *)(uintptr_t)xapi__itab_get(c->t, k, strlen(k));
            dst->u.st.vals[i] = &nodes[i];
            place(c, &nodes[i], src->u.st.vals[i]);
        }
        dst->u.st.n = dst->u.st.cap = n;
        break;
    }
    case XAPI_VOID:
    case XAPI_INT:
    case XAPI_DOUBLE:
    case XAPI_BOOL:
        dst->u = src->u;
        break;
    }
}

struct rsize {
    size_t n;     /* members kept */
    size_t full;  /* the whole record as one block of its own (the limit's measure) */
    size_t block; /* the record's block: header, member values, its own nodes */
    size_t nodes; /* of block: header, member values and nodes (strings follow) */
};

static void rec_size(const struct xapi_value *snap, xapi_crec_keep_fn keep, const void *kctx,
                     struct rsize *z)
{
    size_t n = 0, nodes = 0, strs = 0, own_nodes = 0, own_strs = 0;
    for (size_t i = 0; i < snap->u.st.n; i++) {
        if (keep && !keep(kctx, snap->u.st.keys[i]))
            continue;
        n++;
        const struct xapi_value *v = snap->u.st.vals[i];
        size_t vn = 0, vs = 0;
        measure(v, &vn, &vs);
        nodes += vn;
        strs += vs;
        if (!shareable(v)) {
            own_nodes += sizeof(struct xapi_value) + vn;
            own_strs += vs;
        }
    }
    z->n = n;
    z->full = sizeof(struct xapi_crec) + nodes + strs +
              n * (2 * sizeof(void *) + sizeof(struct xapi_value));
    z->nodes = sizeof(struct xapi_crec) + n * sizeof(void *) + own_nodes;
    z->block = z->nodes + own_strs;
}

/* See cache_int.h. */
size_t xapi__crec_size(const struct xapi_value *snap, xapi_crec_keep_fn keep, const void *keep_ctx)
{
    struct rsize z;
    rec_size(snap, keep, keep_ctx, &z);
    return z.full;
}

/* The kept members of snap as r's (z->n of them), after r's header. */
static void place_members(struct cur *c, struct xapi_crec *r, const struct xapi_value *snap,
                          const struct rsize *z, xapi_crec_keep_fn keep, const void *kctx)
{
    size_t n = z->n;
    r->rec.u.st.vals = take(c, n * sizeof(struct xapi_value *));
    char **keys = n ? xmalloc(n * sizeof(char *)) : NULL;
    size_t j = 0;
    for (size_t i = 0; i < snap->u.st.n; i++) {
        const char *k = snap->u.st.keys[i];
        if (keep && !keep(kctx, k))
            continue;
        const struct xapi_value *v = snap->u.st.vals[i];
        keys[j] = (char *)(uintptr_t)xapi__itab_get(c->t, k, strlen(k));
        if (shareable(v)) {
            r->rec.u.st.vals[j] = (struct xapi_value *)(uintptr_t)ival_get(c->t, v);
        } else {
            struct xapi_value *node = take(c, sizeof(struct xapi_value));
            place(c, node, v);
            r->rec.u.st.vals[j] = node;
        }
        j++;
    }
    r->rec.u.st.keys = n ? shape_get(c->t, keys, n) : NULL;
    free(keys);
    r->rec.u.st.n = r->rec.u.st.cap = (uint32_t)n;
}

/* See cache_int.h. */
struct xapi_crec *xapi__crec_new(struct xapi_itab *t, const char *ref,
                                 const struct xapi_value *snap, xapi_crec_keep_fn keep,
                                 const void *keep_ctx, struct err *e)
{
    struct rsize z;
    rec_size(snap, keep, keep_ctx, &z);
    if (z.full > XAPI_CACHE_MAX_REC_BYTES) {
        err_set(e, PP_ELIMIT, "event.from: the record of %.80s takes %zu bytes (at most %u)", ref,
                z.full, XAPI_CACHE_MAX_REC_BYTES);
        return NULL;
    }
    struct xapi_crec *r = xmalloc(z.block);
    r->next = NULL;
    r->size = z.block;
    r->ref = xapi__itab_get(t, ref, strlen(ref));
    struct cur c = {.t = t, .n = (char *)(r + 1), .s = (char *)r + z.nodes};
    memset(&r->rec, 0, sizeof(r->rec));
    r->rec.type = XAPI_STRUCT;
    place_members(&c, r, snap, &z, keep, keep_ctx);
    return r;
}

/* Give back the interned strings below v, a node of r's block (those outside the block). */
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
    uintptr_t lo = (uintptr_t)r, hi = lo + r->size;
    for (size_t i = 0; i < r->rec.u.st.n; i++) {
        const struct xapi_value *v = r->rec.u.st.vals[i];
        if ((uintptr_t)v >= lo && (uintptr_t)v < hi)
            unref(t, r, v);
        else
            ival_put(t, v);
    }
    if (r->rec.u.st.n)
        shape_put(t, r->rec.u.st.keys);
    xapi__itab_put(t, r->ref);
    free(r);
}
