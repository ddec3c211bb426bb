/* SPDX-License-Identifier: MIT */
/*
 * cache.c - the per-pool object cache fed by event.from: class -> ref -> record.  Applying a
 * batch is pure (no I/O): an "add"/"mod" event stores its snapshot, "del" removes the object,
 * and a reset (the reply to token "") replaces everything, so objects deleted while the stream
 * was down disappear too.  Class names are compared case-insensitively (xapi writes them in
 * lower case in events: "vm", "host_metrics").
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "base/str.h"
#include "xapi/client_int.h"

struct centry {
    char *ref;
    struct xapi_value *rec;
    struct centry *next;
};

struct cclass {
    char *name;    /* lower case */
    char **fields; /* sorted; the fields kept of each record, NULL = all */
    size_t n_fields;
    struct centry **buckets;
    size_t nbuckets, count;
    struct cclass *next;
};

struct xapi_cache {
    struct cclass *classes;
    char *token;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

struct xapi_cache *xapi__cache_new(void)
{
    struct xapi_cache *k = xcalloc(1, sizeof(*k));
    k->token = xstrdup("");
    return k;
}

static void class_clear(struct cclass *c)
{
    for (size_t i = 0; i < c->nbuckets; i++) {
        struct centry *e = c->buckets[i];
        while (e) {
            struct centry *n = e->next;
            free(e->ref);
            xapi_value_free(e->rec);
            free(e);
            e = n;
        }
        c->buckets[i] = NULL;
    }
    c->count = 0;
}

void xapi__cache_free(struct xapi_cache *k)
{
    if (!k)
        return;
    struct cclass *c = k->classes;
    while (c) {
        struct cclass *n = c->next;
        class_clear(c);
        for (size_t i = 0; i < c->n_fields; i++)
            free(c->fields[i]);
        free(c->fields);
        free(c->buckets);
        free(c->name);
        free(c);
        c = n;
    }
    free(k->token);
    free(k);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The record to store: the snapshot, or only its fields the cache keeps. */
static struct xapi_value *record_of(const struct cclass *k, const struct xapi_value *snap)
{
    if (!k->fields)
        return xapi_value_dup(snap);
    struct xapi_value *r = xapi_value_new_struct();
    for (size_t i = 0; i < snap->u.st.n; i++) {
        const char *key = snap->u.st.keys[i];
        if (bsearch(&key, k->fields, k->n_fields, sizeof(char *), cmp_str))
            xapi_struct_set_take(r, key, xapi_value_dup(snap->u.st.vals[i]));
    }
    return r;
}

static struct cclass *class_find(const struct xapi_cache *k, const char *name)
{
    for (struct cclass *c = k->classes; c; c = c->next)
        if (strcasecmp(c->name, name) == 0)
            return c;
    return NULL;
}

static struct cclass *class_get(struct xapi_cache *k, const char *name)
{
    struct cclass *c = class_find(k, name);
    if (c)
        return c;
    c = xcalloc(1, sizeof(*c));
    c->name = xstrdup(name);
    for (char *p = c->name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    c->nbuckets = 64;
    c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
    c->next = k->classes;
    k->classes = c;
    return c;
}

static void class_grow(struct cclass *c)
{
    size_t nb = c->nbuckets * 2;
    struct centry **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < c->nbuckets; i++) {
        struct centry *e = c->buckets[i];
        while (e) {
            struct centry *n = e->next;
            size_t j = hash_str(e->ref) & (nb - 1);
            e->next = b[j];
            b[j] = e;
            e = n;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = nb;
}

static struct centry **slot_of(struct cclass *c, const char *ref)
{
    struct centry **pp = &c->buckets[hash_str(ref) & (c->nbuckets - 1)];
    while (*pp && strcmp((*pp)->ref, ref) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void class_put(struct cclass *c, const char *ref, struct xapi_value *rec)
{
    struct centry **pp = slot_of(c, ref);
    if (*pp) {
        xapi_value_free((*pp)->rec);
        (*pp)->rec = rec;
        return;
    }
    if (c->count + 1 > c->nbuckets) {
        class_grow(c);
        pp = slot_of(c, ref);
    }
    struct centry *e = xcalloc(1, sizeof(*e));
    e->ref = xstrdup(ref);
    e->rec = rec;
    *pp = e;
    c->count++;
}

static void class_del(struct cclass *c, const char *ref)
{
    struct centry **pp = slot_of(c, ref);
    if (!*pp)
        return;
    struct centry *e = *pp;
    *pp = e->next;
    free(e->ref);
    xapi_value_free(e->rec);
    free(e);
    c->count--;
}

/* Keep only fields of class cls's records stored from now on (see client_int.h). */
void xapi__cache_set_fields(struct xapi_cache *k, const char *cls, const char *const *fields)
{
    struct cclass *c = class_get(k, cls);
    size_t n = 0;
    while (fields && fields[n])
        n++;
    c->fields = xreallocarray(c->fields, c->n_fields + n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        c->fields[c->n_fields++] = xstrdup(fields[i]);
    qsort(c->fields, c->n_fields, sizeof(char *), cmp_str);
}

int xapi__cache_apply(struct xapi_cache *k, const struct xapi_value *result, bool reset,
                      struct err *e)
{
    if (!result || result->type != XAPI_STRUCT)
        return err_set(e, PP_EPARSE, "event.from: result is not a struct");
    const struct xapi_value *events = xapi_struct_get(result, "events");
    const char *token = xapi_struct_str(result, "token", NULL);
    if (!events || events->type != XAPI_ARRAY || !token)
        return err_set(e, PP_EPARSE, "event.from: result lacks events or token");
    /* Validate first so a bad batch leaves the cache as it was. */
    size_t n = xapi_array_len(events);
    for (size_t i = 0; i < n; i++) {
        const struct xapi_value *ev = xapi_array_get(events, i);
        const char *cls = xapi_struct_str(ev, "class", NULL);
        const char *op = xapi_struct_str(ev, "operation", NULL);
        const char *ref = xapi_struct_str(ev, "ref", NULL);
        if (!cls || !op || !ref || !*cls)
            return err_set(e, PP_EPARSE, "event.from: event %zu lacks class, operation or ref", i);
        if (strcmp(op, "del") != 0) {
            const struct xapi_value *snap = xapi_struct_get(ev, "snapshot");
            if (strcmp(op, "add") != 0 && strcmp(op, "mod") != 0)
                return err_set(e, PP_EPARSE, "event.from: unknown operation '%s'", op);
            if (!snap || snap->type != XAPI_STRUCT)
                return err_set(e, PP_EPARSE, "event.from: %s of %s %s has no snapshot", op, cls,
                               ref);
        }
    }
    if (reset)
        for (struct cclass *c = k->classes; c; c = c->next)
            class_clear(c);
    for (size_t i = 0; i < n; i++) {
        const struct xapi_value *ev = xapi_array_get(events, i);
        const char *cls = xapi_struct_str(ev, "class", NULL);
        const char *op = xapi_struct_str(ev, "operation", NULL);
        const char *ref = xapi_struct_str(ev, "ref", NULL);
        struct cclass *c = class_get(k, cls);
        if (strcmp(op, "del") == 0)
            class_del(c, ref);
        else
            class_put(c, ref, record_of(c, xapi_struct_get(ev, "snapshot")));
    }
    free(k->token);
    k->token = xstrdup(token);
    return 0;
}

const char *xapi__cache_token(const struct xapi_cache *k)
{
    return k->token;
}

void xapi__cache_set_token(struct xapi_cache *k, const char *token)
{
    free(k->token);
    k->token = xstrdup(token ? token : "");
}

const struct xapi_value *xapi__cache_get(const struct xapi_cache *k, const char *cls,
                                         const char *ref)
{
    struct cclass *c = class_find(k, cls);
    if (!c || !ref)
        return NULL;
    struct centry **pp = slot_of(c, ref);
    return *pp ? (*pp)->rec : NULL;
}

size_t xapi__cache_count(const struct xapi_cache *k, const char *cls)
{
    struct cclass *c = class_find(k, cls);
    return c ? c->count : 0;
}

void xapi__cache_foreach(const struct xapi_cache *k, const char *cls,
                         bool (*fn)(void *ctx, const char *ref, const struct xapi_value *rec),
                         void *ctx)
{
    struct cclass *c = class_find(k, cls);
    if (!c)
        return;
    for (size_t i = 0; i < c->nbuckets; i++)
        for (struct centry *e = c->buckets[i]; e; e = e->next)
            if (!fn(ctx, e->ref, e->rec))
                return;
}
